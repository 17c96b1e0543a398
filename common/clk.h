/*
 * clk — time as onewindow uses it.
 *
 *  - monotonic milliseconds for timers and durations (never jumps);
 *  - wall time as UTC milliseconds since the Unix epoch, the only form that
 *    is stored or sent;
 *  - the hall-local calendar: a time zone loaded from the system's TZif
 *    database (/usr/share/zoneinfo, or $TZDIR) into an object, so a daemon
 *    can hold its hall's zone without touching the process-wide TZ, and the
 *    hall's business day, which starts at a configured rollover hour (a
 *    ticket issued at 02:30 with rollover 03:00 belongs to the day before).
 */
#ifndef ONEWINDOW_CLK_H
#define ONEWINDOW_CLK_H

#include <stdint.h>
#include <time.h>

int64_t clk_mono_ms(void);
int64_t clk_utc_ms(void);
/* CLOCK_MONOTONIC now + ms, as a deadline for pthread_cond_timedwait() on
 * a condition variable made with pthread_condattr_setclock(MONOTONIC). */
struct timespec clk_mono_after(int64_t ms);

typedef struct clk_zone clk_zone;

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

/* UTC ms of the next business-day start (the next local rollover_hour:00)
 * strictly after utc_ms. */
int64_t clk_next_rollover(const clk_zone *z, int64_t utc_ms, int rollover_hour);

/* ISO 8601 local time with offset, "2026-11-27T09:30:05.123+08:00";
 * returns the length written (out needs 30 bytes). */
int clk_format_iso(const clk_zone *z, int64_t utc_ms, char *out, int outlen);

#endif
