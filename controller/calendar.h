/*
 * calendar — the hall calendar: when each area gives numbers. Pure: no
 * I/O, no clock; the caller passes hall-local civil time (clk.h).
 *
 * The model (docs/calendar.md):
 *
 *  - weekly hours, per weekday (0 = Sunday .. 6 = Saturday), for the hall
 *    (area "") or for one area. A weekday without hours is no business
 *    day. An area with hours of its own follows only them; every other
 *    area follows the hall's. Hours are minutes after local midnight:
 *
 *        open <= lunch_start <= lunch_end <= close,  open < last <= close
 *
 *    numbers are given from open to last (the last time to take a
 *    number), except in the lunch break [lunch_start, lunch_end) (none
 *    when they are equal); appointments are checked in from open to close,
 *    lunch break and after last included (the slot was booked);
 *  - dated exceptions: a holiday (closed all day) or a swapped working day
 *    (调休: open with the hours of the weekday it names);
 *  - per area: always open (the 24-hour self-service area), and whether it
 *    issues while no window serving it is open (the hall's default, yes or
 *    no).
 *
 * A calendar with no hours at all is "not configured": every area is open
 * at all hours, as a hall without a calendar always was.
 */
#ifndef ONEWINDOW_CALENDAR_H
#define ONEWINDOW_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clk.h"

#define CAL_AREA_MAX     15  /* an area code (queue.h's Q_CODE_MAX - 1) */
#define CAL_NAME_MAX     63  /* bytes of a dated exception's name ("国庆节") */
#define CAL_SENTENCE_MAX 128 /* bytes of an opening sentence */
#define CAL_LOOKAHEAD    62  /* days searched for the next opening */
#define CAL_DAY_MIN      (24 * 60)

typedef struct calendar calendar;

/* One weekday's hours, in minutes after local midnight. */
typedef struct cal_hours {
    int open, lunch_start, lunch_end, close, last;
} cal_hours;

enum cal_date_kind { CAL_HOLIDAY = 1, CAL_WORKDAY = 2 };

/* A dated exception. */
typedef struct cal_date {
    int32_t day; /* yyyymmdd */
    enum cal_date_kind kind;
    int as_wday; /* CAL_WORKDAY: whose hours (0..6) */
    char name[CAL_NAME_MAX + 1];
} cal_date;

/* Whether an area issues while no window serving it is open. */
enum cal_unstaffed { CAL_UNSTAFFED_DEFAULT = 0, CAL_UNSTAFFED_YES, CAL_UNSTAFFED_NO };

/* An area's own settings. */
typedef struct cal_area {
    char area[CAL_AREA_MAX + 1];
    bool always_open;
    enum cal_unstaffed unstaffed;
} cal_area;

/* What an area does at a moment. */
typedef struct cal_state {
    bool issuing; /* numbers are given now */
    bool checkin; /* appointments are checked in now */
    /* When numbers are next given, if !issuing: "今天 14:00 开始取号",
     * "Numbers from 14:00 today"; "" while issuing. */
    char opens_zh[CAL_SENTENCE_MAX], opens_en[CAL_SENTENCE_MAX];
    /* Seconds until the state may change (a boundary of today's hours, or
     * midnight); at least 1. */
    int64_t next_change_s;
} cal_state;

calendar *calendar_new(void);
void calendar_free(calendar *c);
/* True once any hours are set. */
bool calendar_configured(const calendar *c);

/* Check hours: each field 0..1440, the order above. NULL or a sentence
 * naming the field at fault, in English (en) and Chinese (zh). */
bool calendar_hours_valid(const cal_hours *h, const char **en, const char **zh);

/* Set (h non-NULL) or clear (NULL) the hours of area ("" the hall) on
 * weekday wday (0..6). -1 with errno EINVAL (invalid hours or weekday,
 * an area code too long) or ENOMEM. */
int calendar_set_hours(calendar *c, const char *area, int wday, const cal_hours *h);
/* The hours area ("" the hall) has of its own on wday, or NULL. */
const cal_hours *calendar_hours_of(const calendar *c, const char *area, int wday);
/* The areas with hours of their own, i = 0.. until NULL; "" the hall's. */
const char *calendar_hours_area_at(const calendar *c, size_t i);

/* Add or replace a dated exception (d->day a real date; a workday's
 * as_wday 0..6). Remove one: 1 removed, 0 there was none. -1 EINVAL. */
int calendar_set_date(calendar *c, const cal_date *d);
int calendar_remove_date(calendar *c, int32_t day);
/* The exceptions in date order, i = 0.. until NULL. */
const cal_date *calendar_date_at(const calendar *c, size_t i);

/* An area's own settings (a ca with always_open false and unstaffed
 * default removes them). -1 EINVAL/ENOMEM. */
int calendar_set_area(calendar *c, const cal_area *a);
/* Its settings: those set, or the defaults. */
cal_area calendar_area(const calendar *c, const char *area);
/* Areas with settings of their own, i = 0.. until NULL. */
const cal_area *calendar_area_at(const calendar *c, size_t i);

/* What area does at civil time now (its date and clock; wday is
 * recomputed from the date). */
void calendar_state(const calendar *c, const char *area, const clk_civil *now, cal_state *out);
/* Whether area issues while none of its windows is open, given the
 * hall's default. An always-open area (self-service) always does. */
bool calendar_issue_unstaffed(const calendar *c, const char *area, bool hall_default);

/* Text forms. "08:30" <-> 510 (-1 if not HH:MM, 00:00..24:00);
 * "2026-10-01" or "20261001" -> 20261001 (-1 if not a real date);
 * weekday names: "1-5", "sat", "mon,wed", "0-6" -> a bit mask (bit d =
 * weekday d; 0 Sunday, 7 also Sunday), -1 if not understood. */
int calendar_parse_time(const char *s);
void calendar_format_time(int minutes, char out[6]);
int32_t calendar_parse_date(const char *s);
int calendar_parse_days(const char *s);

#endif
