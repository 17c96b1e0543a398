/*
 * clk — clocks, IANA time zones and the hall's business day.
 *
 * The file has five parts: the clocks, the hall clock's source among
 * them; civil-date arithmetic (Howard Hinnant's days_from_civil /
 * civil_from_days, exact for any int64 day count); the textual form of a
 * source (ISO 8601 times, rates); the POSIX TZ rule evaluator used for
 * instants after a zone's last transition ("CET-1CEST,M3.5.0,M10.5.0/3");
 * and the TZif reader (RFC 8536) with the zone queries built on it.
 * Nothing here calls localtime() or mktime() or touches the process-wide
 * TZ.
 *
 * Zone arithmetic is done in whole seconds since the epoch (UTC), so the
 * 64-bit transition times of TZif (which reach back to -2^59) never
 * overflow. Offsets are local minus UTC in seconds and are bounded at load
 * time to RFC 8536's range, less than 26 hours either way; that bound is
 * what lets clk_next_rollover() search a fixed window.
 */
#include "clk.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* RFC 8536 3.2: utoff SHOULD be in [-89999, 93599]; we require it. */
#define OFFSET_MIN (-89999)
#define OFFSET_MAX 93599
#define DAY_S      86400

/* Real TZif files are a few KiB; anything this big is not one. */
#define TZIF_MAX_SIZE (1 << 20)
/* Longest footer TZ string we accept (zic's are under 60 bytes). */
#define TZ_STRING_MAX 127

/* ---- Clocks ------------------------------------------------------------ */

static int64_t ts_to_ms(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

int64_t clk_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts_to_ms(&ts);
}

struct timespec clk_mono_after(int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int64_t clk_system_utc_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts_to_ms(&ts);
}

/* The injected source of the hall clock. Written by clk_set_source()
 * before the process has other threads, only read afterwards. */
static struct {
    bool injected;
    int64_t start_ms;      /* hall time at the anchor */
    double rate;           /* hall ms per real ms */
    int64_t since_anchor;  /* real ms from the anchor to clk_set_source() */
    struct timespec mono0; /* CLOCK_MONOTONIC at clk_set_source() */
} g_source;

/* 1970-01-01 to 9999-12-31T23:59:59.999Z: what the textual form can say,
 * and small enough that (real - anchor) x CLK_RATE_MAX cannot overflow. */
#define SOURCE_TIME_MAX INT64_C(253402300799999)

int clk_set_source(const clk_source *s)
{
    struct timespec mono;
    int64_t real;

    if (s->system) {
        g_source.injected = false;
        return 0;
    }
    /* Written so that a NaN rate fails too. */
    if (!(s->rate >= CLK_RATE_MIN && s->rate <= CLK_RATE_MAX) || s->start_utc_ms < 0 ||
        s->start_utc_ms > SOURCE_TIME_MAX || s->anchor_utc_ms < 0 ||
        s->anchor_utc_ms > SOURCE_TIME_MAX) {
        errno = EINVAL;
        return -1;
    }
    real = clk_system_utc_ms();
    clock_gettime(CLOCK_MONOTONIC, &mono);
    g_source.start_ms = s->start_utc_ms;
    g_source.rate = s->rate;
    g_source.since_anchor = real - s->anchor_utc_ms;
    g_source.mono0 = mono;
    g_source.injected = true;
    return 0;
}

int64_t clk_utc_ms(void)
{
    struct timespec now;
    double real_ms;

    if (!g_source.injected)
        return clk_system_utc_ms();
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* Nanoseconds for the elapsed part, so that a fast hall clock moves in
     * steps of a millisecond, not of a millisecond times the rate. The
     * conversion truncates, which keeps the clock from stepping back. */
    real_ms = (double)g_source.since_anchor + (double)(now.tv_sec - g_source.mono0.tv_sec) * 1e3 +
              (double)(now.tv_nsec - g_source.mono0.tv_nsec) / 1e6;
    return g_source.start_ms + (int64_t)(real_ms * g_source.rate);
}

/* ---- Civil dates ----------------------------------------------------------
 * Days are counted from 1970-01-01 in the proleptic Gregorian calendar.
 * The two conversions are Howard Hinnant's "chrono-compatible low-level
 * date algorithms", which work in 400-year eras and need no tables. */

/* a / b rounded towards minus infinity, for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b < 0) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = floor_div(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int64_t days)
{
    int64_t w = (days + 4) % 7;

    return (int)(w < 0 ? w + 7 : w);
}

int64_t clk_date_days(clk_date d)
{
    return days_from_civil(d.year, d.month, d.day);
}

clk_date clk_days_date(int64_t days)
{
    clk_date out;
    int64_t y;

    civil_from_days(days, &y, &out.month, &out.day);
    out.year = (int)y;
    return out;
}

int clk_days_weekday(int64_t days)
{
    return weekday(days);
}

static bool is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int month_days(int64_t y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return len[m - 1] + (m == 2 && is_leap(y));
}

/* ---- The textual form of a source ----------------------------------------
 * A time is ISO 8601 (RFC 3339's profile, with seconds optional) with its
 * offset always written, so that a configuration file means the same
 * instant on every machine; a rate is plain decimal, without the signs,
 * exponents, "inf" or hexadecimal that strtod() would also take. */

/* Exactly n digits at *p, advancing *p past them. Reads no further than
 * the first byte that is not a digit, so a short string is never overrun. */
static bool take_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool take_char(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* "YYYY-MM-DDTHH:MM[:SS[.F...]](Z|+HH:MM|-HH:MM)", years 1970..9999. */
static int parse_iso(const char *p, int64_t *utc_ms)
{
    int y, mo, d, h, mi, sec = 0, ms = 0, oh = 0, om = 0, sign = 1;

    if (!take_digits(&p, 4, &y) || !take_char(&p, '-') || !take_digits(&p, 2, &mo) ||
        !take_char(&p, '-') || !take_digits(&p, 2, &d) || !take_char(&p, 'T') ||
        !take_digits(&p, 2, &h) || !take_char(&p, ':') || !take_digits(&p, 2, &mi))
        return -1;
    if (take_char(&p, ':')) {
        if (!take_digits(&p, 2, &sec))
            return -1;
        if (take_char(&p, '.')) {
            int digits = 0, unit = 100;
            /* Milliseconds are kept; further digits are allowed and cut. */
            for (; *p >= '0' && *p <= '9'; p++, digits++) {
                ms += (*p - '0') * unit;
                unit /= 10;
            }
            if (digits == 0 || digits > 9)
                return -1;
        }
    }
    if (!take_char(&p, 'Z')) {
        if (*p != '+' && *p != '-')
            return -1;
        sign = *p++ == '-' ? -1 : 1;
        if (!take_digits(&p, 2, &oh) || !take_char(&p, ':') || !take_digits(&p, 2, &om))
            return -1;
    }
    if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 ||
        mi > 59 || sec > 59 || oh > 23 || om > 59)
        return -1;
    int64_t s =
        days_from_civil(y, mo, d) * DAY_S + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
    if (s < 0 || s * 1000 + ms > SOURCE_TIME_MAX)
        return -1;
    *utc_ms = s * 1000 + ms;
    return 0;
}

/* "now" or an ISO 8601 time. */
static int parse_time(const char *text, int64_t *utc_ms)
{
    if (strcmp(text, "now") == 0) {
        *utc_ms = clk_system_utc_ms();
        return 0;
    }
    return parse_iso(text, utc_ms);
}

/* Digits with at most one '.', at least one digit, within the rate bounds. */
static int parse_rate(const char *text, double *rate)
{
    size_t whole = strspn(text, "0123456789"), frac = 0;
    const char *p = text + whole;

    if (*p == '.') {
        frac = strspn(p + 1, "0123456789");
        if (frac == 0)
            return -1;
        p += 1 + frac;
    }
    if (*p != '\0' || whole + frac == 0 || whole + frac > 15)
        return -1;
    *rate = strtod(text, NULL);
    return *rate >= CLK_RATE_MIN && *rate <= CLK_RATE_MAX ? 0 : -1;
}

void clk_describe(const clk_zone *zone, double rate, char *out, size_t len)
{
    char now[40];
    clk_zone *utc = zone == NULL ? clk_zone_new("UTC") : NULL;

    if (zone != NULL || utc != NULL)
        clk_format_iso(zone != NULL ? zone : utc, clk_utc_ms(), now, sizeof now);
    else
        snprintf(now, sizeof now, "%lld ms after 1970 (UTC)", (long long)clk_utc_ms());
    clk_zone_free(utc);
    snprintf(out, len, "hall time %s, %g times as fast as real time", now, rate);
}

int clk_source_parse(const char *start, const char *rate, const char *anchor, clk_source *out,
                     char *why, size_t whylen)
{
    clk_source s = {.rate = 1};

    start = start != NULL ? start : "";
    rate = rate != NULL ? rate : "";
    anchor = anchor != NULL ? anchor : "";
    errno = EINVAL;
    if (rate[0] != '\0' && parse_rate(rate, &s.rate) < 0) {
        snprintf(why, whylen, "rate = %s: expected a number from %g to %g", rate, CLK_RATE_MIN,
                 CLK_RATE_MAX);
        return -1;
    }
    if (start[0] == '\0') {
        if (s.rate != 1) {
            snprintf(why, whylen, "rate = %s needs a start: the system clock runs at rate 1", rate);
            return -1;
        }
        if (anchor[0] != '\0') {
            snprintf(why, whylen, "anchor = %s needs a start", anchor);
            return -1;
        }
        *out = (clk_source){.system = true, .rate = 1};
        return 0;
    }
    if (parse_time(start, &s.start_utc_ms) < 0) {
        snprintf(why, whylen,
                 "start = %s: expected now or a date and time with its UTC offset, such as "
                 "2026-03-02T08:55:00+08:00 (years 1970 to 9999)",
                 start);
        return -1;
    }
    if (anchor[0] == '\0') {
        s.anchor_utc_ms = clk_system_utc_ms();
    } else if (parse_time(anchor, &s.anchor_utc_ms) < 0) {
        snprintf(why, whylen,
                 "anchor = %s: expected now or a date and time with its UTC offset, such as "
                 "2026-03-02T08:55:00+08:00 (years 1970 to 9999)",
                 anchor);
        return -1;
    }
    *out = s;
    return 0;
}

/* ---- POSIX TZ rules -------------------------------------------------------
 * The footer of a TZif file describes local time after the last
 * transition in the syntax of POSIX TZ, as extended by RFC 8536 3.3.1:
 *
 *     std offset [dst [offset] [,start[/time],end[/time]]]
 *
 * Names are three or more letters or <quoted> ("<+0530>"); offsets are
 * [+-]hh[:mm[:ss]] *west* of Greenwich, so "CST-8" is UTC+8; a date is Jn
 * (1..365, February 29 never counted), n (0..365, counted) or Mm.w.d (day d
 * of week w of month m, week 5 = last); the time of a change is local wall
 * time in the rule then in effect, may be negative or past 24 h (up to 167
 * h) and defaults to 02:00. */

struct tz_date {
    char kind;    /* 'J', 'D' (plain n) or 'M' */
    int n;        /* day for 'J' and 'D' */
    int m, w, d;  /* month, week and weekday for 'M' */
    int32_t time; /* seconds after local midnight */
};

struct tz_rule {
    int32_t std_off, dst_off; /* local - UTC, seconds */
    bool has_dst;
    struct tz_date start, end; /* DST begins at start, ends at end */
};

/* Up to max_digits decimal digits; false if there are none. */
static bool tz_num(const char **p, int max_digits, int *v)
{
    const char *s = *p;
    int n = 0;

    while (s - *p < max_digits && *s >= '0' && *s <= '9')
        n = n * 10 + (*s++ - '0');
    if (s == *p)
        return false;
    *v = n;
    *p = s;
    return true;
}

static bool tz_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Skips a zone abbreviation; we keep none, clk_civil has no name. */
static bool tz_name(const char **p)
{
    const char *s = *p;
    size_t n = 0;

    if (*s == '<') {
        s++;
        while (tz_alpha(s[n]) || (s[n] >= '0' && s[n] <= '9') || s[n] == '+' || s[n] == '-')
            n++;
        if (s[n] != '>')
            return false;
        *p = s + n + 1;
    } else {
        while (tz_alpha(s[n]))
            n++;
        *p = s + n;
    }
    return n >= 3;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h, in seconds. */
static bool tz_time(const char **p, int max_h, int32_t *out)
{
    const char *s = *p;
    int sign = 1, h, m = 0, sec = 0;

    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!tz_num(&s, 3, &h) || h > max_h)
        return false;
    if (*s == ':') {
        s++;
        if (!tz_num(&s, 2, &m) || m > 59)
            return false;
        if (*s == ':') {
            s++;
            if (!tz_num(&s, 2, &sec) || sec > 59)
                return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    *p = s;
    return true;
}

static bool tz_offset(const char **p, int32_t *utoff)
{
    int32_t west;

    if (!tz_time(p, 24, &west))
        return false;
    *utoff = -west;
    return true;
}

static bool tz_date_parse(const char **p, struct tz_date *r)
{
    const char *s = *p;

    r->time = 2 * 3600;
    if (*s == 'M') {
        s++;
        r->kind = 'M';
        if (!tz_num(&s, 2, &r->m) || r->m < 1 || r->m > 12 || *s++ != '.' ||
            !tz_num(&s, 1, &r->w) || r->w < 1 || r->w > 5 || *s++ != '.' || !tz_num(&s, 1, &r->d) ||
            r->d > 6)
            return false;
    } else if (*s == 'J') {
        s++;
        r->kind = 'J';
        if (!tz_num(&s, 3, &r->n) || r->n < 1 || r->n > 365)
            return false;
    } else {
        r->kind = 'D';
        if (!tz_num(&s, 3, &r->n) || r->n > 365)
            return false;
    }
    if (*s == '/') {
        s++;
        if (!tz_time(&s, 167, &r->time))
            return false;
    }
    *p = s;
    return true;
}

static bool tz_rule_parse(const char *s, struct tz_rule *r)
{
    memset(r, 0, sizeof *r);
    if (!tz_name(&s) || !tz_offset(&s, &r->std_off))
        return false;
    if (*s == '\0')
        return true;
    if (!tz_name(&s))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0' && !tz_offset(&s, &r->dst_off))
        return false;
    if (*s == '\0') {
        /* POSIX leaves a missing rule to the implementation; glibc uses
         * the US rule, and so do we. */
        r->start = (struct tz_date){.kind = 'M', .m = 3, .w = 2, .d = 0, .time = 7200};
        r->end = (struct tz_date){.kind = 'M', .m = 11, .w = 1, .d = 0, .time = 7200};
        return true;
    }
    return *s++ == ',' && tz_date_parse(&s, &r->start) && *s++ == ',' &&
           tz_date_parse(&s, &r->end) && *s == '\0';
}

/* The UTC second at which date rule r fires in year y, its time being local
 * wall time at offset off. */
static int64_t tz_date_at(const struct tz_date *r, int64_t y, int32_t off)
{
    int64_t day;

    if (r->kind == 'J') {
        day = days_from_civil(y, 1, 1) + r->n - 1 + (is_leap(y) && r->n >= 60);
    } else if (r->kind == 'D') {
        day = days_from_civil(y, 1, 1) + r->n;
    } else {
        int64_t first = days_from_civil(y, r->m, 1);
        int mday = 1 + (r->d - weekday(first) + 7) % 7 + (r->w - 1) * 7;

        if (mday > month_days(y, r->m))
            mday -= 7;
        day = first + mday - 1;
    }
    return day * DAY_S + r->time - off;
}

/* The offset rule r gives at UTC second t; *next is the first change after
 * t. The changes of the five years around t's year are compared as
 * instants, so rules whose changes spill into a neighbouring year (times
 * up to 167 h, "J365/25") still work. A start and an end at the same
 * instant mean DST continues: zic writes year-round DST as "0/0,J365/25". */
static int32_t tz_rule_offset(const struct tz_rule *r, int64_t t, int64_t *next)
{
    int64_t y, last = INT64_MIN;
    int32_t off = r->std_off;
    int m, d;

    *next = INT64_MAX;
    if (!r->has_dst)
        return r->std_off;
    civil_from_days(floor_div(t, DAY_S), &y, &m, &d);
    for (int64_t yy = y - 2; yy <= y + 2; yy++) {
        int64_t on = tz_date_at(&r->start, yy, r->std_off);
        int64_t end = tz_date_at(&r->end, yy, r->dst_off);

        if (end <= t && end > last) {
            last = end;
            off = r->std_off;
        }
        if (on <= t && on >= last) {
            last = on;
            off = r->dst_off;
        }
        if (on > t && on < *next)
            *next = on;
        if (end > t && end < *next)
            *next = end;
    }
    return off;
}

/* ---- TZif ---------------------------------------------------------------
 * RFC 8536: a 44-byte header ("TZif", version, 15 reserved bytes, six
 * big-endian u32 counts), then a data block; version 2 and later repeat
 * header and block with 64-bit times and end with a footer, "\n" TZ "\n".
 * The data block is
 *
 *     timecnt times | timecnt type indices | typecnt x (i32 utoff, u8 isdst,
 *     u8 desigidx) | charcnt abbreviation bytes | leapcnt x (time, i32) |
 *     isstdcnt bytes | isutcnt bytes
 *
 * Every count is checked against the bytes left before anything is read. */

struct clk_zone {
    char *name;
    size_t ntrans, ntypes;
    int64_t *trans;      /* transition instants, UTC s, strictly ascending */
    int32_t *type_off;   /* utoff of each local time type */
    uint8_t *trans_type; /* type in effect from trans[i] on */
    bool has_rule;       /* footer TZ string present and not empty */
    struct tz_rule rule; /* local time on and after the last transition */
};

struct tzif_hdr {
    uint8_t version; /* 0, '2', '3', '4' */
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

/* A read cursor over the file. */
struct rd {
    const uint8_t *p;
    size_t left;
};

static const uint8_t *rd_take(struct rd *r, uint64_t n)
{
    const uint8_t *p = r->p;

    if (n > r->left)
        return NULL;
    r->p += n;
    r->left -= n;
    return p;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static bool tzif_header(struct rd *r, struct tzif_hdr *h)
{
    const uint8_t *p = rd_take(r, 44);

    if (p == NULL || memcmp(p, "TZif", 4) != 0)
        return false;
    h->version = p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    return h->version == 0 || h->version >= '2';
}

/* Bytes in the data block described by h; cannot overflow in 64 bits. */
static uint64_t tzif_block_size(const struct tzif_hdr *h, unsigned tsize)
{
    return (uint64_t)h->timecnt * (tsize + 1) + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Loads a data block with tsize-byte times into z; -1 with errno EILSEQ or
 * ENOMEM. */
static int tzif_block(clk_zone *z, struct rd *r, const struct tzif_hdr *h, unsigned tsize)
{
    const uint8_t *p, *idx, *types;

    /* Type indices are bytes, so at most 256 types. Files with leap
     * seconds ("right/" zones) count TAI-like seconds, not the POSIX
     * seconds onewindow stores, and are refused. */
    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 || h->leapcnt != 0 ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) ||
        (h->isutcnt != 0 && h->isutcnt != h->typecnt))
        goto bad;
    p = rd_take(r, tzif_block_size(h, tsize));
    if (p == NULL)
        goto bad;
    z->ntrans = h->timecnt;
    z->ntypes = h->typecnt;
    z->trans = malloc(z->ntrans * sizeof *z->trans + z->ntypes * sizeof *z->type_off + z->ntrans);
    if (z->trans == NULL)
        return -1;
    z->type_off = (int32_t *)(z->trans + z->ntrans);
    z->trans_type = (uint8_t *)(z->type_off + z->ntypes);

    idx = p + z->ntrans * tsize;
    types = idx + z->ntrans;
    for (size_t i = 0; i < z->ntrans; i++) {
        const uint8_t *t = p + i * tsize;

        z->trans[i] = tsize == 8 ? (int64_t)be64(t) : (int32_t)be32(t);
        z->trans_type[i] = idx[i];
        if ((i > 0 && z->trans[i] <= z->trans[i - 1]) || idx[i] >= z->ntypes)
            goto bad;
    }
    for (size_t i = 0; i < z->ntypes; i++) {
        const uint8_t *t = types + i * 6;

        z->type_off[i] = (int32_t)be32(t);
        if (z->type_off[i] < OFFSET_MIN || z->type_off[i] > OFFSET_MAX || t[4] > 1 ||
            t[5] >= h->charcnt)
            goto bad;
    }
    return 0;
bad:
    errno = EILSEQ;
    return -1;
}

/* The footer: "\n", a TZ string (possibly empty), "\n". */
static int tzif_footer(clk_zone *z, struct rd *r)
{
    char tz[TZ_STRING_MAX + 1];
    const uint8_t *p = rd_take(r, 1), *nl;
    size_t len;

    if (p == NULL || *p != '\n')
        goto bad;
    nl = memchr(r->p, '\n', r->left);
    if (nl == NULL)
        goto bad;
    len = (size_t)(nl - r->p);
    if (len == 0)
        return 0;
    if (len > TZ_STRING_MAX)
        goto bad;
    memcpy(tz, r->p, len);
    tz[len] = '\0';
    if (!tz_rule_parse(tz, &z->rule))
        goto bad;
    z->has_rule = true;
    return 0;
bad:
    errno = EILSEQ;
    return -1;
}

static int tzif_parse(clk_zone *z, const uint8_t *data, size_t len)
{
    struct rd r = {data, len};
    struct tzif_hdr h;

    if (!tzif_header(&r, &h))
        goto bad;
    if (h.version == 0)
        return tzif_block(z, &r, &h, 4);
    /* Skip the 32-bit block; the 64-bit one has everything. */
    if (rd_take(&r, tzif_block_size(&h, 4)) == NULL || !tzif_header(&r, &h) || h.version == 0)
        goto bad;
    if (tzif_block(z, &r, &h, 8) < 0)
        return -1;
    return tzif_footer(z, &r);
bad:
    errno = EILSEQ;
    return -1;
}

/* Reads $TZDIR/name (or the system's zoneinfo) into a malloc'd buffer. */
static uint8_t *read_zone_file(const char *name, size_t *len)
{
    const char *dir = getenv("TZDIR");
    char path[PATH_MAX];
    struct stat st;
    uint8_t *data = NULL;
    int n, fd, err;

    if (dir == NULL || *dir == '\0')
        dir = "/usr/share/zoneinfo";
    n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOTDIR)
            errno = ENOENT;
        return NULL;
    }
    if (fstat(fd, &st) < 0)
        goto fail;
    if (!S_ISREG(st.st_mode)) {
        errno = ENOENT; /* a directory such as "Asia" is no zone */
        goto fail;
    }
    if (st.st_size > TZIF_MAX_SIZE) {
        errno = EILSEQ;
        goto fail;
    }
    data = malloc((size_t)st.st_size + 1);
    if (data == NULL)
        goto fail;
    *len = 0;
    while (*len < (size_t)st.st_size) {
        ssize_t got = read(fd, data + *len, (size_t)st.st_size - *len);

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto fail;
        if (got == 0)
            break; /* shrank under us: the parser sees a short file */
        *len += (size_t)got;
    }
    close(fd);
    return data;
fail:
    err = errno;
    free(data);
    close(fd);
    errno = err;
    return NULL;
}

clk_zone *clk_zone_new(const char *name)
{
    clk_zone *z;
    uint8_t *data;
    size_t len;
    int err;

    if (name == NULL || name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL) {
        errno = EINVAL;
        return NULL;
    }
    data = read_zone_file(name, &len);
    if (data == NULL)
        return NULL;
    z = calloc(1, sizeof *z);
    if (z == NULL || (z->name = strdup(name)) == NULL || tzif_parse(z, data, len) < 0) {
        err = errno;
        clk_zone_free(z);
        free(data);
        errno = err;
        return NULL;
    }
    free(data);
    return z;
}

void clk_zone_free(clk_zone *z)
{
    if (z == NULL)
        return;
    free(z->trans);
    free(z->name);
    free(z);
}

const char *clk_zone_name(const clk_zone *z)
{
    return z->name;
}

/* The offset in effect at UTC second t; *next is the next instant at which
 * it may change (INT64_MAX if never). RFC 8536 3.2: type 0 before the first
 * transition; the footer rule on and after the last one, or the last
 * type when there is no rule; the rule alone when there are no
 * transitions. */
static int32_t zone_offset(const clk_zone *z, int64_t t, int64_t *next)
{
    size_t lo = 0, hi;

    if (z->ntrans == 0 || t >= z->trans[z->ntrans - 1]) {
        if (z->has_rule)
            return tz_rule_offset(&z->rule, t, next);
        *next = INT64_MAX;
        return z->type_off[z->ntrans == 0 ? 0 : z->trans_type[z->ntrans - 1]];
    }
    if (t < z->trans[0]) {
        *next = z->trans[0];
        return z->type_off[0];
    }
    hi = z->ntrans - 1; /* trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    *next = z->trans[hi];
    return z->type_off[z->trans_type[lo]];
}

void clk_to_civil(const clk_zone *z, int64_t utc_ms, clk_civil *out)
{
    int64_t s = floor_div(utc_ms, 1000), next, local, days, sod, y;
    int32_t off = zone_offset(z, s, &next);

    local = s + off;
    days = floor_div(local, DAY_S);
    sod = local - days * DAY_S;
    civil_from_days(days, &y, &out->month, &out->day);
    out->year = (int)y;
    out->hour = (int)(sod / 3600);
    out->minute = (int)(sod / 60 % 60);
    out->second = (int)(sod % 60);
    out->ms = (int)(utc_ms - s * 1000);
    out->wday = weekday(days);
    out->utc_offset_s = off;
}

clk_date clk_business_day(const clk_zone *z, int64_t utc_ms, int rollover_hour)
{
    clk_civil c;
    clk_date d;
    int64_t y;

    assert(rollover_hour >= 0 && rollover_hour <= 23);
    clk_to_civil(z, utc_ms, &c);
    civil_from_days(days_from_civil(c.year, c.month, c.day) - (c.hour < rollover_hour), &y,
                    &d.month, &d.day);
    d.year = (int)y;
    return d;
}

int32_t clk_date_key(clk_date d)
{
    return (int32_t)((int64_t)d.year * 10000 + d.month * 100 + d.day);
}

/* The first UTC second at which the local wall clock shows `local` (seconds
 * on the local time line) or later: when it shows it, or the end of the
 * gap when `local` is skipped by a spring-forward. Offsets are below 26 h,
 * so the search starts at a second whose local time is surely earlier and
 * walks the constant-offset segments from there. */
static int64_t first_reaching(const clk_zone *z, int64_t local)
{
    int64_t t = local - OFFSET_MAX - 1, next;

    for (;;) {
        int32_t off = zone_offset(z, t, &next);

        if (local - off < next)
            return local - off > t ? local - off : t;
        t = next;
    }
}

int64_t clk_next_rollover(const clk_zone *z, int64_t utc_ms, int rollover_hour)
{
    int64_t now_s = floor_div(utc_ms, 1000), day;
    clk_civil c;

    assert(rollover_hour >= 0 && rollover_hour <= 23);
    clk_to_civil(z, utc_ms, &c);
    /* The rollover of today is usually the answer, of tomorrow otherwise.
     * Local time can step back (a zone moving west over the date line),
     * but offsets bound that: the rollover four days on is always later
     * than now, so the loop ends. */
    for (day = days_from_civil(c.year, c.month, c.day);; day++) {
        int64_t t = first_reaching(z, day * DAY_S + rollover_hour * 3600);

        if (t > now_s)
            return t > INT64_MAX / 1000 ? INT64_MAX : t * 1000;
    }
}

int clk_format_iso(const clk_zone *z, int64_t utc_ms, char *out, int outlen)
{
    clk_civil c;
    int off, n;

    clk_to_civil(z, utc_ms, &c);
    /* The offset is given to the minute, as ISO 8601 allows; only local
     * mean times before standard time have seconds in theirs. */
    off = c.utc_offset_s < 0 ? -c.utc_offset_s : c.utc_offset_s;
    n = snprintf(out, outlen > 0 ? (size_t)outlen : 0,
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03d%c%02d:%02d", c.year, c.month, c.day, c.hour,
                 c.minute, c.second, c.ms, c.utc_offset_s < 0 ? '-' : '+', off / 3600,
                 off / 60 % 60);
    if (n < 0 || n >= outlen) {
        errno = ERANGE;
        return -1;
    }
    return n;
}
