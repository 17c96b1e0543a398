/*
 * probe — measurements of the machine the benchmarks run on, which bound
 * what any durable server can do on it, and of a running server process.
 *
 *   fsync   the latency of making a 4 KiB write durable (pwrite +
 *           fdatasync) in a preallocated file: the floor of every commit;
 *   rtt     the loopback TCP round trip of 64 bytes, through an echo
 *           server on a thread of this process: the floor of every
 *           request and answer;
 *   process a process's resident memory and open file descriptors, from
 *           /proc.
 *
 * Functions return 0, or -1 with a reason in err.
 */
#ifndef ONEWINDOW_PROBE_H
#define ONEWINDOW_PROBE_H

#include <stddef.h>
#include <sys/types.h>

#include "lat.h"

/* count fdatasyncs of 4 KiB writes into a temporary file in dir (removed
 * afterwards), recorded into l. */
int probe_fsync(const char *dir, unsigned count, lat *l, char *err, size_t errlen);

/* count round trips of 64 bytes over loopback TCP, recorded into l. */
int probe_rtt(unsigned count, lat *l, char *err, size_t errlen);

/* VmRSS (KiB) of pid and the number of its open descriptors. */
int probe_process(pid_t pid, long *rss_kib, long *fds, char *err, size_t errlen);

#endif
