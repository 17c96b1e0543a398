/*
 * clk — time as onewindow uses it.
 *
 *  - monotonic milliseconds for timers and durations (never jumps);
 *  - wall time as UTC milliseconds since the Unix epoch, the only form that
 *    is stored or sent: the hall clock, clk_utc_ms(), which is the system
 *    clock unless a simulator or a test injects another source (a start
 *    date and time and a rate, clk_set_source()), and the system clock
 *    itself, clk_system_utc_ms(), for what must follow real time whatever
 *    the hall's clock says;
 *  - the hall-local calendar: a time zone loaded from the system's TZif
 *    database (/usr/share/zoneinfo, or $TZDIR) into an object, so a daemon
 *    can hold its hall's zone without touching the process-wide TZ, and the
 *    hall's business day, which starts at a configured rollover hour (a
 *    ticket issued at 02:30 with rollover 03:00 belongs to the day before).
 */
#ifndef ONEWINDOW_CLK_H
#define ONEWINDOW_CLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

int64_t clk_mono_ms(void);
/* CLOCK_MONOTONIC now + ms, as a deadline for pthread_cond_timedwait() on
 * a condition variable made with pthread_condattr_setclock(MONOTONIC). */
struct timespec clk_mono_after(int64_t ms);

/* ---- The hall clock ------------------------------------------------------
 * Everything a daemon dates (tickets, business days, reservations, leases,
 * events, card expiry) reads clk_utc_ms(). By default it is the system
 * clock. An injected source makes it
 *
 *     hall time = start + (real time - anchor) x rate
 *
 * where real time is the system clock read once by clk_set_source() and
 * carried on by the monotonic clock: the hall clock then never steps back,
 * even if the system clock is set, and two processes given the same source
 * (the same start, rate and anchor) read the same hall time. Monotonic time
 * (timers, timeouts, heartbeats) is never scaled.
 *
 * A daemon sets its source once at start-up, before it starts any thread;
 * clk_utc_ms() reads it without locking from any thread afterwards. */

#define CLK_RATE_MIN 0.1    /* the slowest hall clock: 1 s of hall time per 10 s */
#define CLK_RATE_MAX 3600.0 /* the fastest: an hour of hall time per second */

typedef struct clk_source {
    bool system;           /* the system clock: the fields below are unused */
    int64_t start_utc_ms;  /* the hall time when the system clock shows anchor */
    int64_t anchor_utc_ms; /* a reading of the system clock */
    double rate;           /* hall milliseconds per real millisecond */
} clk_source;

/* The hall clock: the injected source, or the system clock. */
int64_t clk_utc_ms(void);
/* The system clock (CLOCK_REALTIME), whatever the hall clock is: for log
 * lines and for values that must differ from every earlier run's, such as
 * the first request id of a device. */
int64_t clk_system_utc_ms(void);

/* Make s the hall clock's source (s->system: the system clock again). Call
 * before any thread that may read the clock exists. -1 with errno EINVAL
 * for a rate outside CLK_RATE_MIN..CLK_RATE_MAX or a start or anchor
 * outside the years 1970..9999. */
int clk_set_source(const clk_source *s);

/* A source from its textual form, as configuration files write it:
 *
 *   start   ""  the system clock (then rate must be 1 and anchor "");
 *           "now", or ISO 8601 local time with its UTC offset, seconds
 *           and fraction optional: "2026-03-02T08:55:00+08:00",
 *           "2026-03-02T00:55Z", "2026-03-02T08:55:00.250+08:00";
 *   rate    a decimal number from CLK_RATE_MIN to CLK_RATE_MAX ("60",
 *           "0.5"); "" is 1;
 *   anchor  when the hall clock shows start, as a time like start ("" or
 *           "now": the moment of this call; in the past for processes
 *           that must agree with one started earlier).
 *
 * NULL is "". "now" reads the system clock. 0, or -1 with errno EINVAL and
 * a sentence naming the field in why ("rate = 0: expected a number from
 * 0.1 to 3600"). Years 1970..9999. */
int clk_source_parse(const char *start, const char *rate, const char *anchor, clk_source *out,
                     char *why, size_t whylen);

typedef struct clk_zone clk_zone;

/* What the hall clock is, for the warning a daemon logs when it is not the
 * system clock: "hall time 2026-02-16T02:30:00.000+08:00, 60 times as fast
 * as real time" (the time as zone shows it now; NULL: UTC). */
void clk_describe(const clk_zone *zone, double rate, char *out, size_t len);

/* Local civil time, as struct tm but with milliseconds and the offset. */
typedef struct clk_civil {
    int year;  /* e.g. 2026 */
    int month; /* 1..12 */
    int day;   /* 1..31 */
    int hour, minute, second, ms;
    int wday;             /* 0 = Sunday */
    int32_t utc_offset_s; /* local = UTC + offset */
} clk_civil;

/* A calendar date; also the hall's business day. */
typedef struct clk_date {
    int year, month, day;
} clk_date;

/* Load an IANA zone by name ("Asia/Shanghai", "UTC"). NULL with errno:
 * EINVAL for a name that is empty, absolute or contains "..", ENOENT for an
 * unknown zone, EILSEQ for a file that is not valid TZif. */
clk_zone *clk_zone_new(const char *name);
void clk_zone_free(clk_zone *z);
const char *clk_zone_name(const clk_zone *z);

/* UTC ms -> local civil time in zone z. */
void clk_to_civil(const clk_zone *z, int64_t utc_ms, clk_civil *out);

/* The business day that utc_ms falls in, for a day that starts at
 * rollover_hour (0..23) local time. */
clk_date clk_business_day(const clk_zone *z, int64_t utc_ms, int rollover_hour);

/* The business day as a sortable integer, yyyymmdd. */
int32_t clk_date_key(clk_date d);

/* Date arithmetic on the proleptic Gregorian calendar: the days since
 * 1970-01-01 of a date (no check that it is a real one), the date of such a
 * day number, and its weekday (0 = Sunday, as the hall calendar counts). */
int64_t clk_date_days(clk_date d);
clk_date clk_days_date(int64_t days);
int clk_days_weekday(int64_t days);

/* UTC ms of the next business-day start (the next local rollover_hour:00)
 * strictly after utc_ms. */
int64_t clk_next_rollover(const clk_zone *z, int64_t utc_ms, int rollover_hour);

/* ISO 8601 local time with offset, "2026-11-27T09:30:05.123+08:00";
 * returns the length written (out needs 30 bytes). */
int clk_format_iso(const clk_zone *z, int64_t utc_ms, char *out, int outlen);

#endif
