/*
 * staffing — see staffing.h.
 */
#include "staffing.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int bad(double v)
{
    return !isfinite(v) || v < 0;
}

/* Erlang C by the Erlang B recursion, which stays within [0, 1] for any
 * load (the textbook sum of a^k/k! overflows for large halls). */
static double erlang_c(int c, double a)
{
    double b = 1;

    for (int k = 1; k <= c; k++)
        b = a * b / (k + a * b);
    return c * b / (c - a * (1 - b));
}

int staffing_p90(double arrivals_per_h, double service_s, int windows, double *p90_s)
{
    if (bad(arrivals_per_h) || bad(service_s) || service_s == 0 || windows < 0) {
        errno = EINVAL;
        return -1;
    }
    double visit = service_s + STAFFING_CALL_S, a = arrivals_per_h * visit / 3600;
    if (arrivals_per_h == 0) {
        *p90_s = 0;
        return 0;
    }
    if (a >= windows) {
        *p90_s = INFINITY;
        return 0;
    }
    double c = erlang_c(windows, a);
    *p90_s = c <= 0.1 ? 0 : visit * log(10 * c) / (windows - a);
    return 0;
}

int staffing_windows(double arrivals_per_h, double service_s, double target_p90_s, int *windows)
{
    double p90;

    if (bad(target_p90_s) || target_p90_s == 0) {
        errno = EINVAL;
        return -1;
    }
    if (staffing_p90(arrivals_per_h, service_s, 0, &p90) < 0)
        return -1;
    /* Fewer windows than the offered load never keep up: start there. */
    double load = arrivals_per_h * (service_s + STAFFING_CALL_S) / 3600;
    for (int c = load < STAFFING_WINDOWS_MAX ? (int)load : STAFFING_WINDOWS_MAX + 1;
         c <= STAFFING_WINDOWS_MAX; c++) {
        staffing_p90(arrivals_per_h, service_s, c, &p90);
        if (p90 <= target_p90_s) {
            *windows = c;
            return 0;
        }
    }
    errno = ERANGE;
    return -1;
}

/* A refusal: what is wrong, after "area CODE: " when area is not NULL. */
static int refuse(char *err, size_t errlen, const char *area, const char *what)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s%s%s%s", area ? "area " : "", area ? area : "", area ? ": " : "",
                 what);
    errno = EINVAL;
    return -1;
}

int staffing_advise(const profile *p, double target_p90_s, staffing_advice *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (bad(target_p90_s) || target_p90_s == 0)
        return refuse(err, errlen, NULL, "the target p90 wait must be a positive number");
    if (p->nareas < 0 || p->nareas > PROFILE_AREAS_MAX || p->weeks < 0)
        return refuse(err, errlen, NULL, "a profile of 0 to 16 areas and weeks >= 0");
    out->target_p90_s = target_p90_s;
    out->weeks = p->weeks;
    out->nareas = p->nareas;
    for (int a = 0; a < p->nareas; a++) {
        const char *code = p->area[a];
        if (memchr(code, '\0', PROFILE_CODE_MAX) == NULL)
            return refuse(err, errlen, NULL, "an area code is too long");
        memcpy(out->area[a], code, PROFILE_CODE_MAX);
        double service = p->service_s[a];
        if (bad(service))
            return refuse(err, errlen, code, "the service time is negative or not a number");
        out->service_measured[a] = service > 0;
        if (service == 0)
            service = STAFFING_SERVICE_UNMEASURED_S;
        out->service_s[a] = service;
        for (int d = 0; d < 7; d++)
            for (int h = 0; h < 24; h++) {
                staffing_hour *x = &out->hour[a][d][h];
                double arr = p->arrivals[a][d][h], open = p->open_windows[a][d][h];
                if (bad(arr) || bad(open) || open > STAFFING_WINDOWS_MAX)
                    return refuse(err, errlen, code,
                                  "an arrival or window figure is negative or not a number");
                x->arrivals_per_h = arr;
                x->current = (int)lround(open);
                if (staffing_windows(arr, service, target_p90_s, &x->advised) < 0)
                    x->advised = STAFFING_WINDOWS_MAX;
                staffing_p90(arr, service, x->current, &x->current_p90_s);
                staffing_p90(arr, service, x->advised, &x->advised_p90_s);
                x->misses = x->current_p90_s > target_p90_s;
            }
    }
    return 0;
}

/* A p90 as JSON: seconds, rounded, or null for "never" (JSON has no
 * infinity). */
static json_t *p90_json(double s)
{
    return isfinite(s) ? json_integer((json_int_t)lround(s)) : json_null();
}

json_t *staffing_json(const staffing_advice *a, const char *const *names)
{
    json_t *root = json_pack("{s:I,s:i,s:[]}", "target_p90_s", (json_int_t)lround(a->target_p90_s),
                             "weeks", a->weeks, "areas");
    json_t *areas = root ? json_object_get(root, "areas") : NULL;

    for (int i = 0; areas != NULL && i < a->nareas; i++) {
        const char *name = names != NULL && names[i] != NULL ? names[i] : a->area[i];
        json_t *area = json_pack("{s:s,s:s,s:b,s:[]}", "area", a->area[i], "name", name,
                                 "service_measured", a->service_measured[i], "hours");
        json_t *hours = area != NULL ? json_object_get(area, "hours") : NULL;
        /* append_new takes the area even when it fails */
        if (area == NULL || json_array_append_new(areas, area) < 0) {
            json_decref(root);
            return NULL;
        }
        for (int d = 0; d < 7; d++)
            for (int h = 0; h < 24; h++) {
                const staffing_hour *x = &a->hour[i][d][h];
                if (x->arrivals_per_h == 0 && x->current == 0)
                    continue;
                json_t *o = json_pack("{s:i,s:i,s:f,s:f,s:i,s:i,s:o,s:o,s:b}", "dow", d, "hour", h,
                                      "arrivals_per_h", x->arrivals_per_h, "service_s",
                                      a->service_s[i], "current", x->current, "advised", x->advised,
                                      "current_p90_s", p90_json(x->current_p90_s), "advised_p90_s",
                                      p90_json(x->advised_p90_s), "misses", x->misses);
                if (o == NULL || json_array_append_new(hours, o) < 0) {
                    json_decref(root);
                    return NULL;
                }
            }
    }
    return root;
}
