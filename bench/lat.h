/*
 * lat — a latency recorder for hallbench: a log-linear histogram (the idea
 * of HdrHistogram) of durations in nanoseconds, read back as percentiles in
 * microseconds.
 *
 * Values below 128 ns have a bucket each; above, every power of two is cut
 * into 64 buckets, so a percentile is within 1/128 (0.8 %) of the true
 * value, whatever the magnitude. The memory is fixed (about 21 KiB per
 * recorder) however many samples are recorded: a long run cannot grow it.
 * The exact minimum and maximum are kept beside the buckets.
 *
 * A recorder is not shared between threads: each thread records into its
 * own, and the owner merges them at the end (lat_merge).
 */
#ifndef ONEWINDOW_LAT_H
#define ONEWINDOW_LAT_H

#include <stdint.h>

typedef struct lat lat;

/* An empty recorder; NULL with errno ENOMEM. */
lat *lat_new(void);
void lat_free(lat *l);

/* The monotonic clock (CLOCK_MONOTONIC) in nanoseconds: take one reading
 * before and one after the operation, and record the difference. */
int64_t lat_now_ns(void);

/* Record one duration; negative ones count as 0, durations past about 19
 * hours as 19 hours. */
void lat_record(lat *l, int64_t ns);
/* Add every sample of from into into. */
void lat_merge(lat *into, const lat *from);

uint64_t lat_count(const lat *l);
/* The p-th percentile (0 < p <= 100) in microseconds: the smallest
 * recorded value that at least p % of the samples do not exceed, as the
 * middle of its bucket (the exact maximum for p = 100). 0 when empty. */
double lat_percentile_us(const lat *l, double p);
double lat_max_us(const lat *l);
double lat_mean_us(const lat *l);

#endif
