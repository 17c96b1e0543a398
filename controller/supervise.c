/*
 * supervise — the supervision rules (supervise.h). Pure: every input
 * comes in the snapshot.
 */
#include "supervise.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MS      (60LL * 1000)
#define SV_OVER_MAX 1024 /* overrides at most */

enum unit { U_MS, U_COUNT, U_LEVEL, U_ONOFF };

static const struct rule_info {
    const char *name;
    enum unit unit;
    sv_limit def;
    const char *zh, *en; /* what the condition is */
} rules[SV_RULES] = {
    [SV_WAIT_LONG] = {"wait_long",
                      U_MS,
                      {20 * MIN_MS, 40 * MIN_MS},
                      "取号后等候时间过长",
                      "a ticket has waited too long"},
    [SV_SERVICE_LONG] = {"service_long",
                         U_MS,
                         {30 * MIN_MS, 60 * MIN_MS},
                         "办理时间过长",
                         "a service has lasted too long"},
    [SV_WINDOW_IDLE] = {"window_idle",
                        U_MS,
                        {5 * MIN_MS, 15 * MIN_MS},
                        "窗口空闲而有群众等候",
                        "a window is idle while its areas have waiting tickets"},
    [SV_WINDOW_PAUSED_LONG] = {"window_paused_long",
                               U_MS,
                               {15 * MIN_MS, 30 * MIN_MS},
                               "窗口暂停时间过长",
                               "a window has been paused too long"},
    [SV_WINDOW_CLOSED_QUEUE] = {"window_closed_queue",
                                U_MS,
                                {10 * MIN_MS, 30 * MIN_MS},
                                "办公时间窗口关闭而有群众等候",
                                "a window is closed in opening hours while its areas have a queue"},
    [SV_CLERK_ABSENT] = {"clerk_absent",
                         U_MS,
                         {5 * MIN_MS, 15 * MIN_MS},
                         "开门后窗口人员未签到",
                         "no clerk signed in at a window after opening"},
    [SV_QUEUE_PER_WINDOW] = {"queue_per_window",
                             U_COUNT,
                             {10, 20},
                             "每个开放窗口等候人数过多",
                             "too many waiting tickets per open window"},
    [SV_RATING_BAD] = {"rating_bad",
                       U_LEVEL,
                       {2, 1},
                       "群众评价为不满意",
                       "a citizen rated the service unsatisfactory"},
    [SV_DEVICE_FAULT] = {"device_fault", U_ONOFF, {1, 1}, "设备故障", "a device reports a fault"},
    [SV_DEVICE_SILENT] =
        {"device_silent", U_COUNT, {3, 6}, "设备失去联系", "a device has gone silent"},
};

bool sv_transition_ok(sv_state from, sv_state to)
{
    switch (from) {
    case SV_RAISED:
        return to == SV_RAISED || to == SV_ACKNOWLEDGED || to == SV_RESOLVED;
    case SV_ACKNOWLEDGED:
        return to == SV_ACKNOWLEDGED || to == SV_RESOLVED;
    case SV_RESOLVED:
        return false;
    }
    return false;
}

const char *sv_rule_name(sv_rule r)
{
    return (unsigned)r < SV_RULES ? rules[r].name : NULL;
}

int sv_rule_parse(const char *name)
{
    for (int i = 0; i < SV_RULES; i++)
        if (strcmp(rules[i].name, name) == 0)
            return i;
    return -1;
}

const char *sv_level_name(sv_level l)
{
    return l == SV_CRITICAL ? "critical" : l == SV_WARN ? "warn" : "none";
}

const char *sv_state_name(sv_state s)
{
    return s == SV_RAISED         ? "raised"
           : s == SV_ACKNOWLEDGED ? "acknowledged"
           : s == SV_RESOLVED     ? "resolved"
                                  : "unknown";
}

int sv_state_parse(const char *name)
{
    for (int s = SV_RAISED; s <= SV_RESOLVED; s++)
        if (strcmp(sv_state_name((sv_state)s), name) == 0)
            return s;
    return -1;
}

void sv_limits_default(sv_limits *l)
{
    memset(l, 0, sizeof *l);
    for (int i = 0; i < SV_RULES; i++)
        l->rule[i] = rules[i].def;
}

void sv_limits_release(sv_limits *l)
{
    free(l->over);
    l->over = NULL;
    l->nover = 0;
}

/* One threshold: a duration ("90s", "20m", "1h", "500ms") or a number;
 * "off" is 0. -1 if it is neither. */
static int parse_one(enum unit u, const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (strcmp(s, "off") == 0) {
        *out = 0;
        return 0;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || errno != 0 || v < 0 || v > 1000000000LL)
        return -1;
    if (u != U_MS) {
        if (*end != '\0')
            return -1;
        *out = v;
        return 0;
    }
    if (strcmp(end, "ms") == 0)
        *out = v;
    else if (strcmp(end, "s") == 0)
        *out = v * 1000;
    else if (strcmp(end, "m") == 0)
        *out = v * MIN_MS;
    else if (strcmp(end, "h") == 0)
        *out = v * 60 * MIN_MS;
    else
        return -1;
    return 0;
}

int sv_limit_parse(sv_rule r, const char *text, sv_limit *out, char *err, size_t errlen)
{
    char a[32] = "", b[32] = "", extra[2];
    int n = sscanf(text, " %31s %31s %1s", a, b, extra);
    enum unit u = rules[r].unit;
    sv_limit l;

    if (n == 1 && strcmp(a, "off") == 0) {
        *out = (sv_limit){0, 0};
        return 0;
    }
    if (n != 2 || parse_one(u, a, &l.warn) < 0 || parse_one(u, b, &l.critical) < 0)
        goto bad;
    if (u == U_LEVEL   ? (l.warn > 5 || l.critical > 5 || (l.warn && l.critical > l.warn))
        : u == U_ONOFF ? (l.warn > 1 || l.critical > 1)
                       : (l.warn && l.critical && l.critical < l.warn))
        goto bad;
    *out = l;
    return 0;
bad:
    snprintf(err, errlen, "%s = %s: give \"WARN CRITICAL\" (%s) or off", rules[r].name, text,
             u == U_MS      ? "durations such as 90s, 20m, 1h; critical not below warn"
             : u == U_COUNT ? "numbers; critical not below warn"
             : u == U_LEVEL ? "rating levels 1..5; critical not above warn"
                            : "1 or 0 each");
    return -1;
}

static void trim(char *s)
{
    size_t n = strlen(s), i = 0;

    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    while (isspace((unsigned char)s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

/* "rule@area:CODE = value" or "rule@window:N = value" into *o. */
static int parse_override(char *entry, sv_override *o, char *err, size_t errlen)
{
    char *eq = strchr(entry, '='), *at = strchr(entry, '@'), *colon;
    int rule;

    if (eq == NULL || at == NULL || at > eq) {
        snprintf(err, errlen,
                 "override \"%s\": write rule@area:CODE = WARN CRITICAL or "
                 "rule@window:N = WARN CRITICAL",
                 entry);
        return -1;
    }
    *eq = '\0';
    *at = '\0';
    trim(entry);
    memset(o, 0, sizeof *o);
    if ((rule = sv_rule_parse(entry)) < 0) {
        snprintf(err, errlen, "override: no rule named \"%s\"", entry);
        return -1;
    }
    o->rule = (sv_rule)rule;
    char *subject = at + 1;
    trim(subject);
    if ((colon = strchr(subject, ':')) == NULL) {
        snprintf(err, errlen, "override of %s: the subject is area:CODE or window:N, not \"%s\"",
                 entry, subject);
        return -1;
    }
    *colon = '\0';
    if (strcmp(subject, "area") == 0 && colon[1] != '\0' && strlen(colon + 1) < Q_CODE_MAX) {
        snprintf(o->area, sizeof o->area, "%s", colon + 1);
    } else if (strcmp(subject, "window") == 0) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end != '\0' || v < 1 || v > 9999) {
            snprintf(err, errlen, "override of %s: window \"%s\" is not a number 1..9999", entry,
                     colon + 1);
            return -1;
        }
        o->window_no = (uint32_t)v;
    } else {
        snprintf(err, errlen, "override of %s: the subject is area:CODE or window:N", entry);
        return -1;
    }
    return sv_limit_parse(o->rule, eq + 1, &o->limit, err, errlen);
}

int sv_overrides_parse(sv_limits *l, const char *text, char *err, size_t errlen)
{
    char *copy = strdup(text), *save = NULL;
    sv_override *v = NULL;
    size_t n = 0;

    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (char *e = strtok_r(copy, ";", &save); e != NULL; e = strtok_r(NULL, ";", &save)) {
        trim(e);
        if (e[0] == '\0')
            continue;
        if (n == SV_OVER_MAX) {
            snprintf(err, errlen, "more than %d overrides", SV_OVER_MAX);
            goto fail;
        }
        sv_override *grown = realloc(v, (n + 1) * sizeof *v);
        if (grown == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        v = grown;
        if (parse_override(e, &v[n], err, errlen) < 0)
            goto fail;
        n++;
    }
    free(copy);
    sv_limits_release(l);
    l->over = v;
    l->nover = n;
    return 0;
fail:
    free(copy);
    free(v);
    return -1;
}

sv_limit sv_limit_for(const sv_limits *l, sv_rule r, const char *area, uint32_t window_no)
{
    const sv_limit *by_area = NULL;

    for (size_t i = 0; i < l->nover; i++) {
        const sv_override *o = &l->over[i];
        if (o->rule != r)
            continue;
        if (window_no != 0 && o->window_no == window_no)
            return o->limit;
        if (area != NULL && area[0] != '\0' && strcmp(o->area, area) == 0)
            by_area = &o->limit;
    }
    return by_area ? *by_area : l->rule[r];
}

sv_level sv_level_of(const sv_limits *l, sv_rule r, const char *area, uint32_t window_no,
                     int64_t value)
{
    sv_limit lim = sv_limit_for(l, r, area, window_no);

    if (rules[r].unit == U_LEVEL) {
        if (lim.critical && value >= 1 && value <= lim.critical)
            return SV_CRITICAL;
        if (lim.warn && value >= 1 && value <= lim.warn)
            return SV_WARN;
        return SV_NONE;
    }
    if (lim.critical && value >= lim.critical)
        return SV_CRITICAL;
    if (lim.warn && value >= lim.warn)
        return SV_WARN;
    return SV_NONE;
}

/* ---- Evaluation -------------------------------------------------------------- */

struct out {
    sv_condition *v;
    size_t cap, n;
};

static void add(struct out *o, sv_rule r, sv_level level, const char *area, uint32_t window_no,
                uint64_t ticket, const char *device, int64_t value)
{
    if (level == SV_NONE)
        return;
    if (o->n < o->cap) {
        sv_condition *c = &o->v[o->n];
        memset(c, 0, sizeof *c);
        c->rule = r;
        c->level = level;
        snprintf(c->area, sizeof c->area, "%s", area ? area : "");
        c->window_no = window_no;
        c->ticket_id = ticket;
        snprintf(c->device, sizeof c->device, "%s", device ? device : "");
        c->value = value;
    }
    o->n++;
}

static const sv_area *area_of(const sv_hall *h, const char *code)
{
    for (size_t i = 0; i < h->nareas; i++)
        if (strcmp(h->areas[i].code, code) == 0)
            return &h->areas[i];
    return NULL;
}

/* What a window's areas say together: the oldest waiting ticket, any
 * area in opening hours and the earliest opening among them. */
struct window_areas {
    const char *first; /* the window's first area, for limits */
    size_t waiting;
    int64_t oldest_ms; /* 0: nothing waits */
    bool open_hours;
    int64_t opened_ms; /* 0: none seen opening */
};

static struct window_areas window_areas(const sv_hall *h, const sv_window *w)
{
    struct window_areas x = {.first = w->nareas > 0 ? w->areas[0] : ""};

    for (int k = 0; k < w->nareas; k++) {
        const sv_area *a = area_of(h, w->areas[k]);
        if (a == NULL)
            continue;
        x.waiting += a->waiting;
        if (a->waiting > 0 && a->oldest_ms != 0 && (x.oldest_ms == 0 || a->oldest_ms < x.oldest_ms))
            x.oldest_ms = a->oldest_ms;
        if (a->open_hours) {
            x.open_hours = true;
            if (a->opened_ms != 0 && (x.opened_ms == 0 || a->opened_ms < x.opened_ms))
                x.opened_ms = a->opened_ms;
        }
    }
    return x;
}

static int64_t since(int64_t now, int64_t a, int64_t b)
{
    int64_t from = a > b ? a : b;
    return now > from ? now - from : 0;
}

static void eval_window(const sv_hall *h, const sv_limits *l, const sv_window *w, struct out *o)
{
    struct window_areas x = window_areas(h, w);
    int64_t now = h->now;

    if (w->ticket != 0) {
        int64_t d = since(now, w->ticket_since_ms, 0);
        add(o, SV_SERVICE_LONG, sv_level_of(l, SV_SERVICE_LONG, x.first, w->no, d), x.first, w->no,
            w->ticket, NULL, d);
    }
    if (w->state == QW_OPEN && w->ticket == 0 && x.waiting > 0) {
        /* Idle since its last change, or since the oldest ticket came. */
        int64_t d = since(now, w->since_ms, x.oldest_ms);
        add(o, SV_WINDOW_IDLE, sv_level_of(l, SV_WINDOW_IDLE, x.first, w->no, d), x.first, w->no, 0,
            NULL, d);
    }
    if (w->state == QW_PAUSED) {
        int64_t d = since(now, w->since_ms, 0);
        add(o, SV_WINDOW_PAUSED_LONG, sv_level_of(l, SV_WINDOW_PAUSED_LONG, x.first, w->no, d),
            x.first, w->no, 0, NULL, d);
    }
    if (w->state == QW_CLOSED && x.open_hours && x.waiting > 0) {
        int64_t d = since(now, w->since_ms, x.oldest_ms);
        add(o, SV_WINDOW_CLOSED_QUEUE, sv_level_of(l, SV_WINDOW_CLOSED_QUEUE, x.first, w->no, d),
            x.first, w->no, 0, NULL, d);
    }
    /* At opening: nobody has signed in since (a clerk who signs out later
     * is window_closed_queue's matter). */
    if (!w->has_clerk && x.open_hours && x.opened_ms != 0 && w->since_ms <= x.opened_ms) {
        int64_t d = since(now, x.opened_ms, 0);
        add(o, SV_CLERK_ABSENT, sv_level_of(l, SV_CLERK_ABSENT, x.first, w->no, d), x.first, w->no,
            0, NULL, d);
    }
}

static void eval_device(const sv_limits *l, const sv_device *d, struct out *o)
{
    sv_limit on = sv_limit_for(l, SV_DEVICE_FAULT, "", 0);

    if (d->reported) {
        sv_level level = SV_NONE;
        if (on.warn && (d->paper_low || d->reader_fault || d->bus_fault))
            level = SV_WARN;
        if (on.critical && (d->paper_out || d->cover_open || d->printer_offline))
            level = SV_CRITICAL;
        add(o, SV_DEVICE_FAULT, level, "", 0, 0, d->id, level);
    }
    add(o, SV_DEVICE_SILENT, sv_level_of(l, SV_DEVICE_SILENT, "", 0, d->missed), "", 0, 0, d->id,
        d->missed);
}

size_t sv_evaluate(const sv_hall *h, const sv_limits *l, sv_condition *v, size_t cap)
{
    struct out o = {v, cap, 0};

    for (size_t i = 0; i < h->nareas; i++) {
        const sv_area *a = &h->areas[i];
        if (a->waiting == 0)
            continue;
        int64_t d = since(h->now, a->oldest_ms, 0);
        add(&o, SV_WAIT_LONG, sv_level_of(l, SV_WAIT_LONG, a->code, 0, d), a->code, 0,
            a->oldest_ticket, NULL, d);
        /* No window open counts as one: the queue is there all the same. */
        int64_t per = (int64_t)(a->waiting / (a->windows_open ? a->windows_open : 1));
        add(&o, SV_QUEUE_PER_WINDOW, sv_level_of(l, SV_QUEUE_PER_WINDOW, a->code, 0, per), a->code,
            0, 0, NULL, per);
    }
    for (size_t i = 0; i < h->nwindows; i++)
        eval_window(h, l, &h->windows[i], &o);
    for (size_t i = 0; i < h->ndevices; i++)
        eval_device(l, &h->devices[i], &o);
    return o.n;
}

bool sv_rating(const sv_limits *l, const char *area, uint32_t window_no, uint64_t ticket_id,
               int level, sv_condition *out)
{
    struct out o = {out, 1, 0};

    add(&o, SV_RATING_BAD, sv_level_of(l, SV_RATING_BAD, area, window_no, level), area, window_no,
        ticket_id, NULL, level);
    return o.n == 1;
}

void sv_subject_key(const sv_condition *c, char *out, size_t len)
{
    switch (c->rule) {
    case SV_WAIT_LONG:
    case SV_QUEUE_PER_WINDOW:
        snprintf(out, len, "area:%s", c->area);
        break;
    case SV_RATING_BAD:
        snprintf(out, len, "ticket:%llu", (unsigned long long)c->ticket_id);
        break;
    case SV_DEVICE_FAULT:
    case SV_DEVICE_SILENT:
        snprintf(out, len, "device:%s", c->device);
        break;
    default:
        snprintf(out, len, "window:%u", c->window_no);
        break;
    }
}

void sv_text(const sv_condition *c, char *zh, char *en, size_t len)
{
    const struct rule_info *r = &rules[c->rule];
    char szh[96], sen[96];

    switch (c->rule) {
    case SV_WAIT_LONG:
    case SV_QUEUE_PER_WINDOW:
        snprintf(szh, sizeof szh, "区域 %s", c->area);
        snprintf(sen, sizeof sen, "area %s", c->area);
        break;
    case SV_RATING_BAD:
        snprintf(szh, sizeof szh, "%u 号窗口，评价 %lld 级", c->window_no, (long long)c->value);
        snprintf(sen, sizeof sen, "window %u, rated %lld", c->window_no, (long long)c->value);
        break;
    case SV_DEVICE_FAULT:
    case SV_DEVICE_SILENT:
        snprintf(szh, sizeof szh, "设备 %s", c->device);
        snprintf(sen, sizeof sen, "device %s", c->device);
        break;
    default:
        snprintf(szh, sizeof szh, "%u 号窗口", c->window_no);
        snprintf(sen, sizeof sen, "window %u", c->window_no);
        break;
    }
    if (r->unit == U_MS && c->value < MIN_MS) {
        snprintf(zh, len, "%s：%s（%lld 秒）", szh, r->zh, (long long)(c->value / 1000));
        snprintf(en, len, "%s: %s (%lld s)", sen, r->en, (long long)(c->value / 1000));
    } else if (r->unit == U_MS) {
        snprintf(zh, len, "%s：%s（%lld 分钟）", szh, r->zh, (long long)(c->value / MIN_MS));
        snprintf(en, len, "%s: %s (%lld min)", sen, r->en, (long long)(c->value / MIN_MS));
    } else if (c->rule == SV_QUEUE_PER_WINDOW || c->rule == SV_DEVICE_SILENT) {
        snprintf(zh, len, "%s：%s（%lld）", szh, r->zh, (long long)c->value);
        snprintf(en, len, "%s: %s (%lld)", sen, r->en, (long long)c->value);
    } else {
        snprintf(zh, len, "%s：%s", szh, r->zh);
        snprintf(en, len, "%s: %s", sen, r->en);
    }
}
