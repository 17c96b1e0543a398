/*
 * testsupport — helpers shared by the Check suites: scratch directories,
 * child processes, and running an ev_loop until a condition holds.
 */
#ifndef ONEWINDOW_TESTSUPPORT_H
#define ONEWINDOW_TESTSUPPORT_H

#include <stdbool.h>
#include <sys/types.h>

#include "ev.h"

/* A fresh directory under $TMPDIR (or /tmp); aborts the test on failure.
 * The caller frees the string; ts_rmtree() removes the directory. */
char *ts_tmpdir(const char *tag);
void ts_rmtree(const char *path);
/* dir + "/" + name in a static rotating buffer (good for a few calls). */
const char *ts_path(const char *dir, const char *name);
/* Write text to a file; aborts the test on failure. */
void ts_write_file(const char *path, const char *text);
/* The whole file as a NUL-terminated string the caller frees; "" if it
 * does not exist. */
char *ts_slurp(const char *path);
/* The number right after the first prefix in the log at path (a port a
 * daemon says it listens on); 0 if the log or the prefix is not there. */
int ts_log_port(const char *path, const char *prefix);

/* Start argv[0] with argv (NULL-terminated, at most 31 entries); stdout and
 * stderr go to log_path (appended) if not NULL. Returns the pid; aborts the
 * test on failure. */
pid_t ts_spawn(const char *const argv[], const char *log_path);
/* Wait up to timeout_ms for pid to exit; returns its wait status, or -1 on
 * timeout (the child is left running). */
int ts_wait(pid_t pid, int timeout_ms);
/* SIGKILL and reap, for cleanup paths. */
void ts_kill(pid_t pid);
/* Run a command line through the shell; returns its exit status. */
int ts_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A socket connected to 127.0.0.1:port, reads timing out after
 * recv_timeout_s; aborts the test on failure. */
int ts_connect(int port, int recv_timeout_s);

/* Run turns of loop until *flag is true or timeout_ms passes; returns *flag. */
bool ts_run_until(ev_loop *loop, const bool *flag, int timeout_ms);

/* Wait until the file exists and contains needle (a log line); true if so. */
bool ts_file_contains(const char *path, const char *needle, int timeout_ms);

#endif
