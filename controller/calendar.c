/*
 * calendar — the hall calendar (calendar.h). Small sorted arrays: a hall
 * has a few areas, seven weekdays and some tens of dated exceptions.
 */
#include "calendar.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hours_row {
    char area[CAL_AREA_MAX + 1];
    int wday;
    cal_hours h;
};

struct calendar {
    struct hours_row *hours; /* sorted by area, then weekday */
    size_t nhours;
    cal_date *dates; /* sorted by day */
    size_t ndates;
    cal_area *areas; /* sorted by area */
    size_t nareas;
};

static const char *const wday_zh[7] = {"日", "一", "二", "三", "四", "五", "六"};
static const char *const wday_en[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const month_en[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* ---- Dates ---------------------------------------------------------------- */

static bool real_date(int y, int m, int d)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1)
        return false;
    return d <= mdays[m - 1] && !(m == 2 && d == 29 && !leap);
}

int32_t calendar_parse_date(const char *s)
{
    int y, m, d, n = 0;

    if (s == NULL)
        return -1;
    if (strlen(s) == 8 && strspn(s, "0123456789") == 8) {
        long v = strtol(s, NULL, 10);
        y = (int)(v / 10000), m = (int)(v / 100 % 100), d = (int)(v % 100);
    } else if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
               strspn(s, "0123456789-") != 10) {
        return -1;
    }
    if (!real_date(y, m, d))
        return -1;
    return y * 10000 + m * 100 + d;
}

int calendar_parse_time(const char *s)
{
    if (s == NULL || strlen(s) != 5 || !isdigit((unsigned char)s[0]) ||
        !isdigit((unsigned char)s[1]) || s[2] != ':' || !isdigit((unsigned char)s[3]) ||
        !isdigit((unsigned char)s[4]))
        return -1;
    int h = (s[0] - '0') * 10 + s[1] - '0', m = (s[3] - '0') * 10 + s[4] - '0';
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    return h * 60 + m;
}

void calendar_format_time(int minutes, char out[6])
{
    if (minutes < 0 || minutes > CAL_DAY_MIN)
        minutes = 0;
    snprintf(out, 6, "%02d:%02d", minutes / 60 % 100, minutes % 60);
}

/* One weekday by name or digit; -1 if unknown. */
static int parse_wday(const char *s, size_t n)
{
    static const char *const names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

    if (n == 1 && s[0] >= '0' && s[0] <= '7')
        return (s[0] - '0') % 7;
    for (int i = 0; i < 7; i++)
        if (n == 3 && strncasecmp(s, names[i], 3) == 0)
            return i;
    return -1;
}

int calendar_parse_days(const char *s)
{
    int mask = 0;

    if (s == NULL || *s == '\0')
        return -1;
    while (*s != '\0') {
        size_t n = strcspn(s, ",");
        const char *dash = memchr(s, '-', n);
        int a, b;

        if (dash != NULL) {
            a = parse_wday(s, (size_t)(dash - s));
            b = parse_wday(dash + 1, n - (size_t)(dash - s) - 1);
            /* "1-7": Monday to Sunday. */
            if (b == 0 && dash[1] == '7')
                b = 7;
            if (a < 0 || b < 0 || b < a)
                return -1;
        } else if ((a = b = parse_wday(s, n)) < 0) {
            return -1;
        }
        for (int d = a; d <= b; d++)
            mask |= 1 << (d % 7);
        s += n;
        if (*s == ',' && *++s == '\0')
            return -1;
    }
    return mask;
}

/* ---- The model ------------------------------------------------------------- */

calendar *calendar_new(void)
{
    return calloc(1, sizeof(calendar));
}

void calendar_free(calendar *c)
{
    if (c == NULL)
        return;
    free(c->hours);
    free(c->dates);
    free(c->areas);
    free(c);
}

bool calendar_configured(const calendar *c)
{
    return c != NULL && c->nhours > 0;
}

bool calendar_hours_valid(const cal_hours *h, const char **en, const char **zh)
{
    const char *e = NULL, *z = NULL;

    if (h->open < 0 || h->open >= CAL_DAY_MIN)
        e = "open: a time from 00:00 to 23:59", z = "开始时间应在 00:00 至 23:59 之间";
    else if (h->close <= h->open || h->close > CAL_DAY_MIN)
        e = "close: after the opening time, at most 24:00",
        z = "结束时间应晚于开始时间，且不晚于 24:00";
    else if (h->last <= h->open || h->last > h->close)
        e = "last: after the opening time and no later than the closing time",
        z = "停止取号时间应晚于开始时间，且不晚于结束时间";
    else if (h->lunch_start > h->lunch_end ||
             (h->lunch_start != h->lunch_end &&
              (h->lunch_start <= h->open || h->lunch_end >= h->close)))
        e = "lunch: a break inside the opening hours, its start before its end",
        z = "午休时间应在办公时间之内，且开始早于结束";
    if (en != NULL)
        *en = e;
    if (zh != NULL)
        *zh = z;
    return e == NULL;
}

static int hours_cmp(const char *area_a, int wday_a, const struct hours_row *b)
{
    int r = strcmp(area_a, b->area);
    return r != 0 ? r : wday_a - b->wday;
}

int calendar_set_hours(calendar *c, const char *area, int wday, const cal_hours *h)
{
    size_t i = 0;

    if (area == NULL || strlen(area) > CAL_AREA_MAX || wday < 0 || wday > 6 ||
        (h != NULL && !calendar_hours_valid(h, NULL, NULL))) {
        errno = EINVAL;
        return -1;
    }
    while (i < c->nhours && hours_cmp(area, wday, &c->hours[i]) > 0)
        i++;
    bool found = i < c->nhours && hours_cmp(area, wday, &c->hours[i]) == 0;
    if (h == NULL) {
        if (found) {
            memmove(&c->hours[i], &c->hours[i + 1], (c->nhours - i - 1) * sizeof *c->hours);
            c->nhours--;
        }
        return 0;
    }
    if (!found) {
        struct hours_row *n = realloc(c->hours, (c->nhours + 1) * sizeof *n);
        if (n == NULL)
            return -1;
        c->hours = n;
        memmove(&c->hours[i + 1], &c->hours[i], (c->nhours - i) * sizeof *c->hours);
        c->nhours++;
        snprintf(c->hours[i].area, sizeof c->hours[i].area, "%s", area);
        c->hours[i].wday = wday;
    }
    c->hours[i].h = *h;
    return 0;
}

const cal_hours *calendar_hours_of(const calendar *c, const char *area, int wday)
{
    for (size_t i = 0; i < c->nhours; i++)
        if (hours_cmp(area, wday, &c->hours[i]) == 0)
            return &c->hours[i].h;
    return NULL;
}

const char *calendar_hours_area_at(const calendar *c, size_t i)
{
    size_t k = 0;

    for (size_t r = 0; r < c->nhours; r++) {
        if (r > 0 && strcmp(c->hours[r].area, c->hours[r - 1].area) == 0)
            continue;
        if (k++ == i)
            return c->hours[r].area;
    }
    return NULL;
}

static bool has_own_hours(const calendar *c, const char *area)
{
    for (size_t i = 0; i < c->nhours; i++)
        if (strcmp(c->hours[i].area, area) == 0)
            return true;
    return false;
}

int calendar_set_date(calendar *c, const cal_date *d)
{
    size_t i = 0;
    char text[12];

    snprintf(text, sizeof text, "%08d", (int)d->day);
    if (d->day < 0 || calendar_parse_date(text) != d->day ||
        (d->kind != CAL_HOLIDAY && d->kind != CAL_WORKDAY) ||
        (d->kind == CAL_WORKDAY && (d->as_wday < 0 || d->as_wday > 6)) ||
        strlen(d->name) > CAL_NAME_MAX) {
        errno = EINVAL;
        return -1;
    }
    while (i < c->ndates && c->dates[i].day < d->day)
        i++;
    if (i == c->ndates || c->dates[i].day != d->day) {
        cal_date *n = realloc(c->dates, (c->ndates + 1) * sizeof *n);
        if (n == NULL)
            return -1;
        c->dates = n;
        memmove(&c->dates[i + 1], &c->dates[i], (c->ndates - i) * sizeof *c->dates);
        c->ndates++;
    }
    c->dates[i] = *d;
    if (d->kind == CAL_HOLIDAY)
        c->dates[i].as_wday = 0;
    return 0;
}

int calendar_remove_date(calendar *c, int32_t day)
{
    for (size_t i = 0; i < c->ndates; i++)
        if (c->dates[i].day == day) {
            memmove(&c->dates[i], &c->dates[i + 1], (c->ndates - i - 1) * sizeof *c->dates);
            c->ndates--;
            return 1;
        }
    return 0;
}

const cal_date *calendar_date_at(const calendar *c, size_t i)
{
    return i < c->ndates ? &c->dates[i] : NULL;
}

static const cal_date *date_of(const calendar *c, int32_t day)
{
    for (size_t i = 0; i < c->ndates; i++)
        if (c->dates[i].day == day)
            return &c->dates[i];
    return NULL;
}

int calendar_set_area(calendar *c, const cal_area *a)
{
    size_t i = 0;

    if (a->area[0] == '\0' || strlen(a->area) > CAL_AREA_MAX || a->unstaffed > CAL_UNSTAFFED_NO) {
        errno = EINVAL;
        return -1;
    }
    while (i < c->nareas && strcmp(c->areas[i].area, a->area) < 0)
        i++;
    bool found = i < c->nareas && strcmp(c->areas[i].area, a->area) == 0;
    if (!a->always_open && a->unstaffed == CAL_UNSTAFFED_DEFAULT) {
        if (found) {
            memmove(&c->areas[i], &c->areas[i + 1], (c->nareas - i - 1) * sizeof *c->areas);
            c->nareas--;
        }
        return 0;
    }
    if (!found) {
        cal_area *n = realloc(c->areas, (c->nareas + 1) * sizeof *n);
        if (n == NULL)
            return -1;
        c->areas = n;
        memmove(&c->areas[i + 1], &c->areas[i], (c->nareas - i) * sizeof *c->areas);
        c->nareas++;
    }
    c->areas[i] = *a;
    return 0;
}

cal_area calendar_area(const calendar *c, const char *area)
{
    cal_area a = {.unstaffed = CAL_UNSTAFFED_DEFAULT};

    for (size_t i = 0; c != NULL && i < c->nareas; i++)
        if (strcmp(c->areas[i].area, area) == 0)
            return c->areas[i];
    snprintf(a.area, sizeof a.area, "%s", area);
    return a;
}

const cal_area *calendar_area_at(const calendar *c, size_t i)
{
    return i < c->nareas ? &c->areas[i] : NULL;
}

bool calendar_issue_unstaffed(const calendar *c, const char *area, bool hall_default)
{
    cal_area a = calendar_area(c, area);

    if (a.always_open)
        return true;
    if (a.unstaffed == CAL_UNSTAFFED_DEFAULT)
        return hall_default;
    return a.unstaffed == CAL_UNSTAFFED_YES;
}

/* ---- What an area does ---------------------------------------------------- */

/* The hours that apply to area on the date days (since 1970), or NULL:
 * a holiday, a swapped working day's weekday, or the weekday's own. */
static const cal_hours *hours_on(const calendar *c, const char *area, bool own, int64_t days)
{
    const cal_date *ex = date_of(c, clk_date_key(clk_days_date(days)));
    int wday = clk_days_weekday(days);
    if (ex != NULL && ex->kind == CAL_HOLIDAY)
        return NULL;
    if (ex != NULL)
        wday = ex->as_wday;
    return calendar_hours_of(c, own ? area : "", wday);
}

static bool issuing_at(const cal_hours *h, int minute)
{
    return h != NULL && minute >= h->open && minute < h->last &&
           !(minute >= h->lunch_start && minute < h->lunch_end);
}

static void opening_sentence(cal_state *out, int64_t ahead, int64_t days, int minute)
{
    char hm[6];
    clk_date date = clk_days_date(days);
    int m = date.month, d = date.day;

    calendar_format_time(minute, hm);
    if (ahead == 0) {
        snprintf(out->opens_zh, sizeof out->opens_zh, "今天 %s 开始取号", hm);
        snprintf(out->opens_en, sizeof out->opens_en, "Numbers from %s today", hm);
    } else if (ahead == 1) {
        snprintf(out->opens_zh, sizeof out->opens_zh, "明天 %s 开始取号", hm);
        snprintf(out->opens_en, sizeof out->opens_en, "Numbers from %s tomorrow", hm);
    } else {
        int w = clk_days_weekday(days);
        snprintf(out->opens_zh, sizeof out->opens_zh, "%d月%d日（周%s）%s 开始取号", m, d,
                 wday_zh[w], hm);
        snprintf(out->opens_en, sizeof out->opens_en, "Numbers from %s on %s %d %s", hm, wday_en[w],
                 d, month_en[m - 1]);
    }
}

void calendar_state(const calendar *c, const char *area, const clk_civil *now, cal_state *out)
{
    int64_t today = clk_date_days((clk_date){now->year, now->month, now->day});
    int minute = now->hour * 60 + now->minute;
    cal_area a = calendar_area(c, area);

    memset(out, 0, sizeof *out);
    out->next_change_s = (int64_t)(CAL_DAY_MIN - minute) * 60 - now->second;
    if (!calendar_configured(c) || a.always_open) {
        out->issuing = out->checkin = true;
        out->next_change_s = INT64_MAX / 2;
        return;
    }
    bool own = has_own_hours(c, area);
    const cal_hours *h = hours_on(c, area, own, today);
    if (h != NULL) {
        const int bounds[5] = {h->open, h->lunch_start, h->lunch_end, h->last, h->close};
        int next = CAL_DAY_MIN;
        for (int i = 0; i < 5; i++)
            if (bounds[i] > minute && bounds[i] < next)
                next = bounds[i];
        out->next_change_s = (int64_t)(next - minute) * 60 - now->second;
        out->issuing = issuing_at(h, minute);
        out->checkin = minute >= h->open && minute < h->close;
    }
    if (out->next_change_s < 1)
        out->next_change_s = 1;
    if (out->issuing)
        return;
    /* Today still: before opening, or in the lunch break. */
    if (h != NULL && minute < h->open) {
        opening_sentence(out, 0, today, h->open);
        return;
    }
    if (h != NULL && minute < h->lunch_end && h->lunch_end < h->last && minute >= h->lunch_start) {
        opening_sentence(out, 0, today, h->lunch_end);
        return;
    }
    for (int64_t ahead = 1; ahead <= CAL_LOOKAHEAD; ahead++) {
        const cal_hours *n = hours_on(c, area, own, today + ahead);
        if (n != NULL) {
            opening_sentence(out, ahead, today + ahead, n->open);
            return;
        }
    }
    snprintf(out->opens_zh, sizeof out->opens_zh, "近期不取号");
    snprintf(out->opens_en, sizeof out->opens_en, "No numbers in the coming weeks");
}
