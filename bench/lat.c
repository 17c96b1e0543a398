/*
 * lat — see lat.h.
 *
 * Bucket layout, for a value v in nanoseconds:
 *
 *   v < 128:  bucket v (exact);
 *   v >= 128: with m the index of v's highest set bit (7..45) and the six
 *             bits below it s (0..63), bucket 128 + (m - 7) * 64 + s. The
 *             bucket covers [(64 + s) << (m - 6), (65 + s) << (m - 6)).
 */
#include "lat.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define LAT_EXACT   128 /* values with a bucket of their own */
#define LAT_SUB     64  /* buckets per power of two above */
#define LAT_TOP_BIT 45  /* highest bit a value may have */
#define LAT_CAP     ((INT64_C(1) << (LAT_TOP_BIT + 1)) - 1)
#define LAT_BUCKETS (LAT_EXACT + (LAT_TOP_BIT - 6) * LAT_SUB)

struct lat {
    uint64_t count;
    int64_t max;
    double sum; /* ns, for the mean */
    uint64_t buckets[LAT_BUCKETS];
};

lat *lat_new(void)
{
    lat *l = calloc(1, sizeof *l);

    if (l == NULL)
        errno = ENOMEM;
    return l;
}

void lat_free(lat *l)
{
    free(l);
}

int64_t lat_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t bucket_of(int64_t v)
{
    if (v < LAT_EXACT)
        return (size_t)v;
    int m = 63 - __builtin_clzll((unsigned long long)v);
    size_t s = (size_t)(v >> (m - 6)) - LAT_SUB;
    return LAT_EXACT + (size_t)(m - 7) * LAT_SUB + s;
}

/* The middle of bucket b, in ns. */
static double bucket_mid(size_t b)
{
    if (b < LAT_EXACT)
        return (double)b;
    size_t k = b - LAT_EXACT;
    int shift = (int)(k / LAT_SUB) + 1; /* m - 6 */
    int64_t low = (int64_t)(k % LAT_SUB + LAT_SUB) << shift;
    return (double)low + (double)(INT64_C(1) << shift) / 2.0;
}

void lat_record(lat *l, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    if (ns > LAT_CAP)
        ns = LAT_CAP;
    l->buckets[bucket_of(ns)]++;
    l->count++;
    l->sum += (double)ns;
    if (ns > l->max)
        l->max = ns;
}

void lat_merge(lat *into, const lat *from)
{
    for (size_t b = 0; b < LAT_BUCKETS; b++)
        into->buckets[b] += from->buckets[b];
    into->count += from->count;
    into->sum += from->sum;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t lat_count(const lat *l)
{
    return l->count;
}

double lat_percentile_us(const lat *l, double p)
{
    if (l->count == 0)
        return 0.0;
    if (p >= 100.0)
        return lat_max_us(l);
    /* The rank of the sample wanted, 1-based: ceil(p% of count). */
    double want = p / 100.0 * (double)l->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want || rank == 0)
        rank++;
    uint64_t seen = 0;
    for (size_t b = 0; b < LAT_BUCKETS; b++) {
        seen += l->buckets[b];
        if (seen >= rank) {
            double mid = bucket_mid(b);
            return (mid > (double)l->max ? (double)l->max : mid) / 1000.0;
        }
    }
    return lat_max_us(l);
}

double lat_max_us(const lat *l)
{
    return (double)l->max / 1000.0;
}

double lat_mean_us(const lat *l)
{
    return l->count ? l->sum / (double)l->count / 1000.0 : 0.0;
}
