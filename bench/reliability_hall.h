/*
 * reliability_hall — the hall the reliability harness runs against, and the
 * processes around it: a hall made by the real hallctl in a fresh
 * temporary directory, the real halld started, killed and stopped, the
 * fault proxy (tools/faultproxy) in front of it, and samples of halld's
 * memory and descriptors from /proc.
 *
 * Child processes write to logs in the hall directory (hallctl.log,
 * halld.log, faultproxy.log; appended, so a failed run keeps its whole
 * story). halld and faultproxy are started on a port they pick (port 0),
 * read back from their "listening on 127.0.0.1:PORT" log line. Children
 * are started with fork and exec only, so starting one while device
 * threads run is safe.
 *
 * Functions that can fail return -1 (or NULL) with a reason in the
 * caller's err buffer; none prints or exits.
 */
#ifndef ONEWINDOW_RELIABILITY_HALL_H
#define ONEWINDOW_RELIABILITY_HALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The programs the harness runs. */
typedef struct rhall_paths {
    const char *halld;
    const char *hallctl;
    const char *faultproxy;
    const char *catalog; /* the sample catalog, JSON */
} rhall_paths;

typedef struct rhall rhall;

/* A hall in a fresh directory under $TMPDIR (or /tmp): the sample
 * catalog, windows 1..windows (intake, every area at weight 1) each with a
 * clerk c-N and a window terminal win-N, kiosks kiosk-1..kiosks, halld on
 * 127.0.0.1 port 0. NULL with a reason in err (the directory is then
 * removed). */
rhall *rhall_new(const rhall_paths *paths, int kiosks, int windows, char *err, size_t errlen);
/* Stop what still runs (SIGKILL) and remove the directory unless keep. */
void rhall_free(rhall *h, bool keep);
const char *rhall_dir(const rhall *h);
/* The store's path (hall.db in the directory). */
const char *rhall_db(const rhall *h);

/* Run hallctl -c <config> with the arguments (NULL-terminated); its exit
 * status, or -1 if it could not run or was killed. */
int rhall_hallctl(rhall *h, ...) __attribute__((sentinel));

/* Start halld (plaintext: --dev-plaintext) and wait up to timeout_ms until
 * it listens. Returns its port, or -1 (halld is then not running). */
int rhall_start(rhall *h, bool plaintext, int timeout_ms, char *err, size_t errlen);
/* Start halld without waiting for it (to kill it while it starts up). */
int rhall_spawn(rhall *h, bool plaintext, char *err, size_t errlen);
/* Running halld's pid, 0 if none. */
pid_t rhall_pid(const rhall *h);
/* SIGKILL halld and reap it; nothing if none runs. */
void rhall_kill(rhall *h);
/* SIGTERM halld and wait up to timeout_ms: its wait status, or -1 if it
 * did not stop in time (it is then killed). */
int rhall_stop(rhall *h, int timeout_ms);

/* What faultproxy said it injected when it stopped. */
typedef struct rhall_faults {
    uint64_t connections, drop, reset, delay, partial, dup, c2s_bytes, s2c_bytes;
} rhall_faults;

/* Start faultproxy in front of 127.0.0.1:upstream_port with the given
 * options (NULL-terminated); its control channel (standard input) stays
 * open. Returns the port it listens on, or -1. One proxy at a time. */
int rhall_proxy_start(rhall *h, int upstream_port, int timeout_ms, char *err, size_t errlen, ...)
    __attribute__((sentinel));
/* Send one control line ("delay 0.1 400"); -1 if the proxy is gone. */
int rhall_proxy_control(rhall *h, const char *line);
/* SIGTERM the proxy, wait, and read its fault counts from its log. */
int rhall_proxy_stop(rhall *h, rhall_faults *out, char *err, size_t errlen);

/* A process's resident memory (VmRSS, KiB) and open descriptors. */
int rhall_sample(pid_t pid, long *rss_kib, int *fds);

#endif
