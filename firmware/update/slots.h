/*
 * slots — the on-disk state of the updater under one root directory (the
 * real "/" on a kiosk, a temporary directory in tests):
 *
 *   etc/kupd/compatible     this kiosk's model string
 *   etc/kupd/keys/NAME.pub  trusted public keys (raw Ed25519)
 *   etc/kupd/health.d/NAME  health checks run by mark-good
 *   boot/bootstate          the simulated bootloader's environment (bootsim)
 *   slots/a/ slots/b/       slot content: one <image>.img per bundle image
 *   state/slot-a.status     status=ok|pending|failed, version, security_version,
 *                           bundle sha256, images and their sha256
 *   state/journal           install journal (phase, target, bundle sha256)
 *   state/floor             anti-rollback floor (security_version)
 *   state/events.log        hash-chained audit log (audit.c)
 *   incoming/               bundle.part while copying, bundle.kub once complete
 *   run/booted              "a" or "b", written by the (simulated) bootloader
 *   run/progress            progress events as JSON lines, for the kiosk screen
 *   run/kupd.lock           one updater at a time
 *
 * All state files are "key=value" lines written atomically: a temporary file
 * in the same directory, fsync, rename, fsync of the directory. A reader thus
 * sees the old or the new file, never a mixture.
 */
#ifndef ONEWINDOW_SLOTS_H
#define ONEWINDOW_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#define SLOTS_KV_MAX 40

struct slots_kv {
    int n;
    char key[SLOTS_KV_MAX][48];
    char val[SLOTS_KV_MAX][200];
};

/* root + "/" + rel into buf. Returns buf, or NULL (ENAMETOOLONG). */
char *slots_path(char *buf, size_t cap, const char *root, const char *rel);

/* Create the directory tree above under root (existing parts are kept). */
int slots_init(const char *root);

/* Write data to path atomically (see above). Returns 0 or -1 with errno. */
int slots_write_atomic(const char *path, const void *data, size_t len);

/* Read a key=value file. Returns 0, or -1 with errno (ENOENT if missing,
 * EBADMSG if malformed). */
int slots_kv_read(const char *path, struct slots_kv *kv);
int slots_kv_write(const char *path, const struct slots_kv *kv);
/* The value of key or NULL. */
const char *slots_kv_get(const struct slots_kv *kv, const char *key);
/* Set (replace or add) a key; -1 with ENOSPC/ENAMETOOLONG if it does not fit. */
int slots_kv_set(struct slots_kv *kv, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Slot index of 'a'/'b' (0/1); the other slot's letter. */
int slots_index(char slot);
char slots_other(char slot);

/* The slot the bootloader started ('a' or 'b'), or 0 if none recorded. */
char slots_booted(const char *root);

struct slots_status {
    char status[16]; /* "ok", "pending", "failed" or "empty" if no file */
    char version[32];
    uint64_t security_version;
    char bundle[65]; /* SHA-256 of the bundle it came from */
    int n_images;
    char image[8][32];
    char sha256[8][65];
};

int slots_status_read(const char *root, char slot, struct slots_status *st);
int slots_status_write(const char *root, char slot, const struct slots_status *st);

/* The anti-rollback floor: 0 when never set. */
int slots_floor_read(const char *root, uint64_t *floor);
int slots_floor_write(const char *root, uint64_t floor);

/* Take run/kupd.lock (blocking). Returns the fd to close, or -1. */
int slots_lock(const char *root);

#endif
