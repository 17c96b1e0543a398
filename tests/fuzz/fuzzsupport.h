/*
 * fuzzsupport — what the fuzz harnesses share: a failed check that aborts
 * with its place (libFuzzer, or replay.c in builds without it, reports the
 * abort), and a scratch directory for harnesses whose code under test
 * reads or writes files.
 */
#ifndef ONEWINDOW_FUZZSUPPORT_H
#define ONEWINDOW_FUZZSUPPORT_H

#include <stdint.h>
#include <stdlib.h>

/* libFuzzer's entry point, defined by each harness. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Print where and what, remove the scratch directory, then abort. */
__attribute__((noreturn)) void fz_fail(const char *file, int line, const char *what);

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(__FILE__, __LINE__, #cond);                                                    \
    } while (0)

/* A fresh directory, made once per process and removed with everything in
 * it when the process exits normally: under /dev/shm when that is a
 * writable directory (a store's fsync is then nearly free, which keeps
 * millions of commits fast), else under $TMPDIR or /tmp. A failed check
 * removes it too; a crash leaves it. Aborts if it cannot be made. */
const char *fz_scratch_dir(void);

/* Remove path and everything under it (nothing if it does not exist). */
void fz_remove_tree(const char *path);

/* dir + "/" + name, malloc'd; aborts when out of memory. */
char *fz_path(const char *dir, const char *name);

/* Write len bytes to path, replacing the file; aborts on failure. */
void fz_write_file(const char *path, const void *data, size_t len);

#endif
