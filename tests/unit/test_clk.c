/*
 * test_clk — clocks, TZif zones, POSIX TZ rules and business days.
 *
 * glibc's localtime_r() is the oracle for civil time: the real zones of the
 * system's tzdata (a declared dependency, so a missing zone fails the test)
 * and hand-built TZif files whose footer rules glibc also understands as a
 * TZ value. Instants are drawn from a fixed-seed generator so a failure
 * reproduces, and every transition between 1970 and 2100 is visited.
 * Corrupt and hostile files must be refused with EILSEQ, never crash.
 * The hall clock's injected source: its textual form (good and bad times
 * and rates, every cut of a good time), its rate against the monotonic
 * clock, its anchor, and refused sources.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clk.h"
#include "testsupport.h"

#define Y1970 INT64_C(0)
#define Y2100 INT64_C(4102444800000) /* 2100-01-01T00:00:00Z in ms */

static const char *const real_zones[] = {
    "Asia/Shanghai",       "UTC",          "America/New_York", "Europe/Berlin",
    "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham",  "America/Sao_Paulo",
};

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int64_t rng_between(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo));
}

static clk_zone *zone(const char *name)
{
    clk_zone *z = clk_zone_new(name);

    ck_assert_msg(z != NULL, "clk_zone_new(%s): %s (tzdata is required)", name, strerror(errno));
    return z;
}

/* UTC ms of a UTC civil time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};

    return (int64_t)timegm(&tm) * 1000;
}

static void set_tz(const char *tz)
{
    ck_assert_int_eq(setenv("TZ", tz, 1), 0);
    tzset();
}

static time_t to_time_t(int64_t ms)
{
    return (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
}

static long glibc_offset(int64_t ms)
{
    time_t t = to_time_t(ms);
    struct tm tm;

    localtime_r(&t, &tm);
    return tm.tm_gmtoff;
}

/* Compares clk_to_civil with localtime_r under the current TZ. Plain if +
 * ck_abort_msg: a passing ck_assert costs an IPC message in fork mode. */
static void same_as_glibc(const clk_zone *z, const char *what, int64_t ms)
{
    time_t t = to_time_t(ms);
    struct tm tm;
    clk_civil c;

    if (localtime_r(&t, &tm) == NULL)
        ck_abort_msg("localtime_r failed at %lld", (long long)ms);
    clk_to_civil(z, ms, &c);
    if (c.year != tm.tm_year + 1900 || c.month != tm.tm_mon + 1 || c.day != tm.tm_mday ||
        c.hour != tm.tm_hour || c.minute != tm.tm_min || c.second != tm.tm_sec ||
        c.wday != tm.tm_wday || c.utc_offset_s != tm.tm_gmtoff || c.ms != (int)(ms - t * 1000))
        ck_abort_msg("%s at %lld ms: clk %04d-%02d-%02d %02d:%02d:%02d.%03d wd%d %+d, "
                     "glibc %04d-%02d-%02d %02d:%02d:%02d wd%d %+ld",
                     what, (long long)ms, c.year, c.month, c.day, c.hour, c.minute, c.second, c.ms,
                     c.wday, (int)c.utc_offset_s, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_wday, tm.tm_gmtoff);
}

/* Random instants, a grid over 1970..2100, and the neighbourhood of every
 * offset change glibc reports on that grid (found to the second by
 * bisection). TZ must already name the same zone for glibc. Returns the
 * number of changes seen, so callers can check the zone has DST. */
static int compare_zone(const clk_zone *z, const char *what)
{
    const int64_t step = (6 * 3600 + 7 * 60 + 13) * INT64_C(1000);
    int changes = 0;

    for (int i = 0; i < 20000; i++)
        same_as_glibc(z, what, rng_between(Y1970, Y2100));
    for (int64_t ms = Y1970; ms < Y2100; ms += step) {
        same_as_glibc(z, what, ms);
        if (glibc_offset(ms) != glibc_offset(ms + step)) {
            int64_t lo = ms, hi = ms + step; /* offset(lo) != offset(hi) */
            static const int64_t around[] = {-3600000, -1001, -1000, -1, 0, 1, 999, 1000, 3600000};

            while (hi - lo > 1000) {
                int64_t mid = lo + (hi - lo) / 2000 * 1000;
                if (glibc_offset(mid) == glibc_offset(lo))
                    lo = mid;
                else
                    hi = mid;
            }
            for (size_t k = 0; k < sizeof around / sizeof around[0]; k++)
                same_as_glibc(z, what, hi + around[k]);
            changes++;
        }
    }
    return changes;
}

START_TEST(real_zones_match_glibc)
{
    const char *name = real_zones[_i];
    clk_zone *z = zone(name);
    char tz[64];
    int changes;

    snprintf(tz, sizeof tz, ":%s", name);
    set_tz(tz);
    ck_assert_str_eq(clk_zone_name(z), name);
    changes = compare_zone(z, name);
    /* Zones with DST after 1970 must have shown their transitions. */
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Asia/Kolkata") == 0)
        ck_assert_int_eq(changes, 0);
    else
        ck_assert_int_gt(changes, 10);
    clk_zone_free(z);
}
END_TEST

/* ---- Hand-built TZif files ------------------------------------------- */

struct tzif_spec {
    char version; /* 0 or '2' */
    int ntrans;
    const int64_t *trans;
    const uint8_t *idx;
    int ntypes;
    const int32_t *utoff;
    const uint8_t *isdst;
    uint32_t leapcnt; /* leap records are written as zeros */
    const char *footer;
};

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    return put32(put32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

static uint8_t *put_block(uint8_t *p, const struct tzif_spec *s, int tsize)
{
    memcpy(p, "TZif", 4);
    p[4] = (uint8_t)s->version;
    memset(p + 5, 0, 15);
    p += 20;
    p = put32(p, 0);                   /* isutcnt */
    p = put32(p, 0);                   /* isstdcnt */
    p = put32(p, s->leapcnt);          /* leapcnt */
    p = put32(p, (uint32_t)s->ntrans); /* timecnt */
    p = put32(p, (uint32_t)s->ntypes); /* typecnt */
    p = put32(p, 4);                   /* charcnt: "ABC\0" */
    for (int i = 0; i < s->ntrans; i++)
        p = tsize == 8 ? put64(p, (uint64_t)s->trans[i]) : put32(p, (uint32_t)s->trans[i]);
    for (int i = 0; i < s->ntrans; i++)
        *p++ = s->idx[i];
    for (int i = 0; i < s->ntypes; i++) {
        p = put32(p, (uint32_t)s->utoff[i]);
        *p++ = s->isdst != NULL ? s->isdst[i] : 0;
        *p++ = 0;
    }
    memcpy(p, "ABC", 4);
    p += 4;
    memset(p, 0, s->leapcnt * (tsize + 4u));
    return p + s->leapcnt * (tsize + 4u);
}

static size_t tzif_build(uint8_t *out, const struct tzif_spec *s)
{
    uint8_t *p = put_block(out, s, 4);

    if (s->version != 0) {
        p = put_block(p, s, 8);
        p += sprintf((char *)p, "\n%s\n", s->footer);
    }
    return (size_t)(p - out);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static char *tzdir;

static void tzdir_setup(void)
{
    tzdir = ts_tmpdir("clk");
    ck_assert_int_eq(setenv("TZDIR", tzdir, 1), 0);
}

static void tzdir_teardown(void)
{
    unsetenv("TZDIR");
    unsetenv("TZ");
    ts_rmtree(tzdir);
    free(tzdir);
    tzdir = NULL;
}

/* A zone with no transitions whose footer is `rule`, loaded as "Rule". */
static clk_zone *rule_zone(const char *rule, int32_t std_off)
{
    uint8_t file[512];
    struct tzif_spec s = {.version = '2', .ntypes = 1, .utoff = &std_off, .footer = rule};

    write_bytes(ts_path(tzdir, "Rule"), file, tzif_build(file, &s));
    return clk_zone_new("Rule");
}

/* Footer rules glibc evaluates the same way when given them as TZ. */
static const struct {
    const char *rule;
    int32_t std_off;
    bool dst;
} rules[] = {
    {"CST-8", 8 * 3600, false},
    {"<+08>-8", 8 * 3600, false},
    {"<-0330>3:30", -(3 * 3600 + 1800), false},
    {"EST5EDT,M3.2.0,M11.1.0", -5 * 3600, true},
    {"CET-1CEST,M3.5.0,M10.5.0/3", 3600, true},
    {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 10 * 3600 + 1800, true},
    {"<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", 12 * 3600 + 2700, true},
    {"IST-2IDT,M3.4.4/26,M10.5.0", 2 * 3600, true},
    {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", -2 * 3600, true},
    {"AAA3BBB,J60/2,J300/2", -3 * 3600, true},
    {"AAA3BBB,59/2,299/2", -3 * 3600, true},
    {"AAA-3BBB-4:30:15,J2/0,J200/30", 3 * 3600, true},
    {"AAA5BBB", -5 * 3600, true}, /* no rule: the US one, as glibc */
    {"AAA-1BBB,M2.5.6/0:30,M11.5.3/23:59:59", 3600, true},
};

START_TEST(footer_rules_match_glibc)
{
    clk_zone *z = rule_zone(rules[_i].rule, rules[_i].std_off);
    int changes;

    ck_assert_msg(z != NULL, "%s: %s", rules[_i].rule, strerror(errno));
    set_tz(rules[_i].rule); /* TZDIR has no such file: glibc parses it */
    changes = compare_zone(z, rules[_i].rule);
    if (rules[_i].dst)
        ck_assert_int_ge(changes, 2 * 129);
    else
        ck_assert_int_eq(changes, 0);
    clk_zone_free(z);
}
END_TEST

/* zic writes year-round DST as a start and an end at the same instant; it
 * is DST everywhere, also in the first hours of each UTC year. */
START_TEST(footer_all_year_dst)
{
    clk_zone *z = rule_zone("EST5EDT,0/0,J365/25", -5 * 3600);
    clk_civil c;

    ck_assert_ptr_nonnull(z);
    for (int y = 1971; y < 2100; y++) {
        const int64_t at[] = {utc(y, 1, 1, 0, 0, 0), utc(y, 1, 1, 4, 59, 59), utc(y, 1, 1, 5, 0, 0),
                              utc(y, 7, 1, 0, 0, 0), utc(y, 12, 31, 23, 59, 59)};
        for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
            clk_to_civil(z, at[i], &c);
            ck_assert_msg(c.utc_offset_s == -4 * 3600, "%d: offset %d at %lld", y,
                          (int)c.utc_offset_s, (long long)at[i]);
        }
    }
    clk_zone_free(z);
}
END_TEST

START_TEST(footer_bad_rules)
{
    static const char *const bad[] = {
        "CST",
        "CS-8",
        "CST-8X",
        "<+08-8",
        "<+08>",
        "CST-25",
        "CST-8:60",
        "CST-8:30:60",
        "EST5EDT,M13.1.0,M11.1.0",
        "EST5EDT,M3.2.0",
        "EST5EDT,M3.6.0,M11.1.0",
        "EST5EDT,M3.2.7,M11.1.0",
        "EST5EDT,M0.2.0,M11.1.0",
        "EST5EDT,J0,J100",
        "EST5EDT,366,1",
        "EST5EDT,M3.2.0/168,M11.1.0",
        "EST5EDT,M3.2.0/,M11.1.0",
        "EST5EDT,M3.2.0,M11.1.0,",
        "EST5EDT,M3.2.0,M11.1.0 ",
        "EST5ED",
        "EST5EDT4X",
        "EST\0015",
        "EST5EDT,M3.2.0,M11.1.0/2:00:00:00",
        "EST5EDT,M3..0,M11.1.0",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        ck_assert_msg(rule_zone(bad[i], 0) == NULL, "accepted footer \"%s\"", bad[i]);
        ck_assert_msg(errno == EILSEQ, "footer \"%s\": errno %d", bad[i], errno);
    }
}
END_TEST

static int32_t offset_at(const clk_zone *z, int64_t s)
{
    clk_civil c;

    clk_to_civil(z, s * 1000, &c);
    return c.utc_offset_s;
}

/* RFC 8536 3.2: type 0 before the first transition (even a DST type), the
 * last type after the last one when there is no footer rule. */
START_TEST(tzif_v1_and_edges)
{
    static const int64_t trans[] = {1000000000, 1100000000};
    static const uint8_t idx[] = {1, 2};
    static const int32_t utoff[] = {7200, 3600, -1800};
    static const uint8_t isdst[] = {1, 0, 0};
    struct tzif_spec s = {.version = 0,
                          .ntrans = 2,
                          .trans = trans,
                          .idx = idx,
                          .ntypes = 3,
                          .utoff = utoff,
                          .isdst = isdst,
                          .footer = ""};
    uint8_t file[512];
    clk_zone *z;

    for (int v = 0; v < 2; v++) {
        s.version = v == 0 ? 0 : '2';
        write_bytes(ts_path(tzdir, "Edge"), file, tzif_build(file, &s));
        z = zone("Edge");
        ck_assert_int_eq(offset_at(z, -2000000000), 7200);
        ck_assert_int_eq(offset_at(z, 999999999), 7200);
        ck_assert_int_eq(offset_at(z, 1000000000), 3600);
        ck_assert_int_eq(offset_at(z, 1099999999), 3600);
        ck_assert_int_eq(offset_at(z, 1100000000), -1800);
        ck_assert_int_eq(offset_at(z, INT64_C(5000000000)), -1800);
        clk_zone_free(z);
    }
    /* With a footer, it governs from the last transition on. */
    s.footer = "<-01>1";
    write_bytes(ts_path(tzdir, "Edge"), file, tzif_build(file, &s));
    z = zone("Edge");
    ck_assert_int_eq(offset_at(z, 1100000000), -3600);
    clk_zone_free(z);
}
END_TEST

static void expect_eilseq(const char *name, const char *why)
{
    clk_zone *z;

    errno = 0;
    z = clk_zone_new(name);
    if (z != NULL) {
        clk_zone_free(z);
        ck_abort_msg("%s: accepted", why);
    }
    ck_assert_msg(errno == EILSEQ, "%s: errno %d (%s)", why, errno, strerror(errno));
}

static size_t read_real(const char *name, uint8_t *out, size_t cap)
{
    const char *dir = getenv("TZDIR_REAL");
    char path[512];
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s (tzdata is required)", path, strerror(errno));
    n = fread(out, 1, cap, f);
    fclose(f);
    ck_assert_uint_lt(n, cap);
    return n;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A real file, truncated at every length, with each header count of
 * either header made absurd, and with random bytes flipped. */
START_TEST(tzif_corrupt)
{
    uint8_t orig[8192], buf[8192];
    size_t len = read_real("Asia/Shanghai", orig, sizeof orig), v2;
    const char *path = ts_path(tzdir, "Bad");
    clk_zone *z;

    write_bytes(path, orig, len);
    z = zone("Bad");
    clk_zone_free(z);

    for (size_t n = 0; n < len; n++) {
        write_bytes(path, orig, n);
        expect_eilseq("Bad", "truncated");
    }
    /* Header counts at 20 + 4k: isut, isstd, leap, time, type, char. */
    v2 = 44 + get32(orig + 32) * 5 + get32(orig + 36) * 6 + get32(orig + 40) +
         get32(orig + 28) * 8 + get32(orig + 24) + get32(orig + 20);
    ck_assert_int_eq(memcmp(orig + v2, "TZif", 4), 0);
    for (int h = 0; h < 2; h++) {
        for (int k = 0; k < 6; k++) {
            static const uint32_t values[] = {0xffffffffu, 0x7fffffffu, 257, 1000};
            for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
                memcpy(buf, orig, len);
                put32(buf + (h ? v2 : 0) + 20 + 4 * k, values[v]);
                write_bytes(path, buf, len);
                expect_eilseq("Bad", "count");
            }
        }
    }
    memcpy(buf, orig, len);
    buf[1] = 'X';
    write_bytes(path, buf, len);
    expect_eilseq("Bad", "magic");
    memcpy(buf, orig, len);
    buf[v2 + 4] = '1';
    write_bytes(path, buf, len);
    expect_eilseq("Bad", "version");
    memcpy(buf, orig, len);
    buf[len - 1] = 'x';
    write_bytes(path, buf, len);
    expect_eilseq("Bad", "footer end");

    /* Random damage: accepted or EILSEQ, and an accepted zone answers. */
    for (int i = 0; i < 3000; i++) {
        memcpy(buf, orig, len);
        for (int k = 0; k < 1 + i % 4; k++)
            buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
        write_bytes(path, buf, len);
        errno = 0;
        z = clk_zone_new("Bad");
        if (z == NULL) {
            ck_assert_msg(errno == EILSEQ, "errno %d", errno);
        } else {
            clk_civil c;
            clk_to_civil(z, rng_between(-Y2100, 2 * Y2100), &c);
            clk_next_rollover(z, rng_between(Y1970, Y2100), 3);
            clk_zone_free(z);
        }
    }
}
END_TEST

START_TEST(tzif_hostile_structure)
{
    static const int64_t desc[] = {2000, 1000}, equal[] = {1000, 1000}, asc[] = {1000, 2000};
    static const uint8_t idx_ok[] = {0, 0}, idx_bad[] = {0, 1};
    static const int32_t one[] = {0}, huge[] = {26 * 3600}, min[] = {INT32_MIN};
    static const uint8_t dst2[] = {2};
    uint8_t file[512];
    const struct {
        const char *why;
        struct tzif_spec s;
    } cases[] = {
        {"descending", {'2', 2, desc, idx_ok, 1, one, NULL, 0, ""}},
        {"equal times", {'2', 2, equal, idx_ok, 1, one, NULL, 0, ""}},
        {"type index", {'2', 2, asc, idx_bad, 1, one, NULL, 0, ""}},
        {"no types", {'2', 0, NULL, NULL, 0, one, NULL, 0, ""}},
        {"offset 26h", {'2', 0, NULL, NULL, 1, huge, NULL, 0, ""}},
        {"offset INT32_MIN", {'2', 0, NULL, NULL, 1, min, NULL, 0, ""}},
        {"isdst 2", {'2', 0, NULL, NULL, 1, one, dst2, 0, ""}},
        {"leap seconds", {'2', 0, NULL, NULL, 1, one, NULL, 1, ""}},
        {"version 1", {'1', 0, NULL, NULL, 1, one, NULL, 0, ""}},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_bytes(ts_path(tzdir, "Bad"), file, tzif_build(file, &cases[i].s));
        expect_eilseq("Bad", cases[i].why);
    }
    /* An abbreviation index past the abbreviations (the byte before the
     * 4 abbreviation bytes and the empty footer's "\n\n"). */
    {
        struct tzif_spec s = {.version = '2', .ntypes = 1, .utoff = one, .footer = ""};
        size_t len = tzif_build(file, &s);

        file[len - 7] = 4;
        write_bytes(ts_path(tzdir, "Bad"), file, len);
        expect_eilseq("Bad", "designation index");
    }
    /* Not TZif at all; and a file of the system's zoneinfo that is no zone. */
    write_bytes(ts_path(tzdir, "Bad"), "hello, world\n", 13);
    expect_eilseq("Bad", "text");
    ck_assert_int_eq(setenv("TZDIR", getenv("TZDIR_REAL"), 1), 0);
    expect_eilseq("zone1970.tab", "zone1970.tab");
}
END_TEST

START_TEST(bad_names)
{
    static const struct {
        const char *name;
        int err;
    } cases[] = {
        {"../etc/passwd", EINVAL}, {"/etc/passwd", EINVAL},    {"", EINVAL},
        {"Asia/../UTC", EINVAL},   {"Asia/..", EINVAL},        {"No/Such_Zone", ENOENT},
        {"Asia", ENOENT},          {"UTC/Impossible", ENOENT},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        ck_assert_msg(clk_zone_new(cases[i].name) == NULL, "accepted \"%s\"", cases[i].name);
        ck_assert_msg(errno == cases[i].err, "\"%s\": errno %d, want %d", cases[i].name, errno,
                      cases[i].err);
    }
    errno = 0;
    ck_assert_ptr_null(clk_zone_new(NULL));
    ck_assert_int_eq(errno, EINVAL);
    clk_zone_free(NULL);
}
END_TEST

static void expect_day(const clk_zone *z, int64_t ms, int rollover, int32_t key)
{
    int32_t got = clk_date_key(clk_business_day(z, ms, rollover));

    ck_assert_msg(got == key, "at %lld rollover %d: %d, want %d", (long long)ms, rollover, got,
                  key);
}

START_TEST(business_day_shanghai)
{
    clk_zone *z = zone("Asia/Shanghai");
    const int64_t h8 = 8 * 3600000; /* local = UTC + 8 h */
    int64_t midnight = utc(2026, 11, 27, 0, 0, 0) - h8, three = midnight + 3 * 3600000;

    ck_assert_int_eq(clk_date_key((clk_date){2026, 11, 27}), 20261127);
    expect_day(z, midnight - 1, 0, 20261126);
    expect_day(z, midnight, 0, 20261127);
    expect_day(z, three - 1, 0, 20261127);
    expect_day(z, midnight - 1, 3, 20261126);
    expect_day(z, midnight, 3, 20261126);
    expect_day(z, three - 1, 3, 20261126);
    expect_day(z, three, 3, 20261127);
    expect_day(z, three + 20 * 3600000, 3, 20261127);
    expect_day(z, three + 24 * 3600000 - 1, 3, 20261127);
    expect_day(z, three + 24 * 3600000, 3, 20261128);
    /* Across a year and a leap day. */
    expect_day(z, utc(2027, 1, 1, 2, 0, 0) - h8, 3, 20261231);
    expect_day(z, utc(2028, 3, 1, 1, 0, 0) - h8, 3, 20280229);
    expect_day(z, utc(2028, 3, 1, 3, 0, 0) - h8, 3, 20280301);
    expect_day(z, utc(2028, 3, 1, 3, 0, 0) - h8, 23, 20280229);
    clk_zone_free(z);
}
END_TEST

static void expect_rollover(const clk_zone *z, int64_t from, int hour, int64_t want)
{
    int64_t got = clk_next_rollover(z, from, hour);

    ck_assert_msg(got == want, "%s from %lld hour %d: %lld, want %lld", clk_zone_name(z),
                  (long long)from, hour, (long long)got, (long long)want);
}

START_TEST(next_rollover_fixed)
{
    clk_zone *sh = zone("Asia/Shanghai"), *ny = zone("America/New_York"),
             *lh = zone("Australia/Lord_Howe");
    int64_t three = utc(2026, 11, 26, 19, 0, 0); /* 2026-11-27 03:00 +08 */

    expect_rollover(sh, three - 3600000, 3, three);
    expect_rollover(sh, three - 1, 3, three);
    expect_rollover(sh, three, 3, three + 86400000); /* strictly after */
    expect_rollover(sh, three + 1, 3, three + 86400000);
    expect_rollover(sh, three, 0, three + 21 * 3600000);

    /* New York springs forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z):
     * 02:00 does not exist, the day starts when the gap ends. */
    expect_rollover(ny, utc(2026, 3, 8, 5, 30, 0), 2, utc(2026, 3, 8, 7, 0, 0));
    expect_rollover(ny, utc(2026, 3, 8, 5, 30, 0), 3, utc(2026, 3, 8, 7, 0, 0));
    expect_rollover(ny, utc(2026, 3, 8, 5, 30, 0), 0, utc(2026, 3, 9, 4, 0, 0));
    expect_rollover(ny, utc(2026, 3, 8, 7, 0, 0), 2, utc(2026, 3, 9, 6, 0, 0));
    /* ... and falls back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z): the
     * second 01:00 starts no new day. */
    expect_rollover(ny, utc(2026, 11, 1, 4, 30, 0), 1, utc(2026, 11, 1, 5, 0, 0));
    expect_rollover(ny, utc(2026, 11, 1, 5, 0, 0), 1, utc(2026, 11, 2, 6, 0, 0));
    expect_rollover(ny, utc(2026, 11, 1, 5, 30, 0), 1, utc(2026, 11, 2, 6, 0, 0));
    expect_rollover(ny, utc(2026, 11, 1, 5, 30, 0), 2, utc(2026, 11, 1, 7, 0, 0));
    expect_day(ny, utc(2026, 11, 1, 6, 30, 0), 1, 20261101); /* 01:30 EST */
    expect_day(ny, utc(2026, 11, 1, 6, 30, 0), 2, 20261031);

    /* Lord Howe: 2026-10-04 02:00 +1030 -> 02:30 +11 (2026-10-03 15:30Z). */
    expect_rollover(lh, utc(2026, 10, 3, 14, 0, 0), 2, utc(2026, 10, 3, 15, 30, 0));
    clk_zone_free(sh);
    clk_zone_free(ny);
    clk_zone_free(lh);
}
END_TEST

/* For random instants u and hours h in zones whose days never run
 * backwards, r = next rollover satisfies: r > u, nothing rolls over in
 * [u, r), the business day changes at r, and r is h:00 local or the end
 * of a gap. */
START_TEST(next_rollover_properties)
{
    static const char *const names[] = {
        "Asia/Shanghai",       "UTC",          "America/New_York", "Europe/Berlin",
        "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham"};

    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        clk_zone *z = zone(names[n]);

        for (int i = 0; i < 5000; i++) {
            int64_t u = rng_between(Y1970, Y2100), r;
            int h = (int)(rng() % 24);
            int32_t day_u, day_r;
            clk_civil c, before;

            r = clk_next_rollover(z, u, h);
            day_u = clk_date_key(clk_business_day(z, u, h));
            day_r = clk_date_key(clk_business_day(z, r, h));
            clk_to_civil(z, r, &c);
            clk_to_civil(z, r - 1, &before);
            if (r <= u || r - u > 3 * 86400000 || day_r <= day_u ||
                clk_date_key(clk_business_day(z, r - 1, h)) != day_u ||
                (!(c.hour == h && c.minute == 0 && c.second == 0 && c.ms == 0) &&
                 c.utc_offset_s == before.utc_offset_s))
                ck_abort_msg("%s u=%lld h=%d: r=%lld (%02d:%02d:%02d) days %d -> %d", names[n],
                             (long long)u, h, (long long)r, c.hour, c.minute, c.second, day_u,
                             day_r);
        }
        clk_zone_free(z);
    }
}
END_TEST

START_TEST(format_iso)
{
    static const struct {
        const char *zone;
        int64_t ms;
        const char *want;
    } cases[] = {
        {"Asia/Shanghai", INT64_C(1795743005123), "2026-11-27T09:30:05.123+08:00"},
        {"America/New_York", INT64_C(1795743005123), "2026-11-26T20:30:05.123-05:00"},
        {"Asia/Kolkata", INT64_C(1795743005123), "2026-11-27T07:00:05.123+05:30"},
        {"Pacific/Chatham", INT64_C(1795743005123), "2026-11-27T15:15:05.123+13:45"},
        {"UTC", -1, "1969-12-31T23:59:59.999+00:00"},
        {"UTC", 0, "1970-01-01T00:00:00.000+00:00"},
    };
    char out[64];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clk_zone *z = zone(cases[i].zone);
        int n = clk_format_iso(z, cases[i].ms, out, 30);

        ck_assert_str_eq(out, cases[i].want);
        ck_assert_int_eq(n, (int)strlen(cases[i].want));
        errno = 0;
        ck_assert_int_eq(clk_format_iso(z, cases[i].ms, out, 29), -1);
        ck_assert_int_eq(errno, ERANGE);
        ck_assert_int_eq(clk_format_iso(z, cases[i].ms, NULL, 0), -1);
        clk_zone_free(z);
    }
}
END_TEST

START_TEST(date_arithmetic)
{
    ck_assert_int_eq(clk_date_days((clk_date){1970, 1, 1}), 0);
    ck_assert_int_eq(clk_days_weekday(0), 4); /* a Thursday */
    ck_assert_int_eq(clk_days_weekday(-1), 3);
    int64_t d = clk_date_days((clk_date){2026, 12, 7});
    ck_assert_int_eq(clk_days_weekday(d), 1); /* a Monday */
    ck_assert_int_eq(clk_date_days((clk_date){2024, 3, 1}) - clk_date_days((clk_date){2024, 2, 28}),
                     2); /* a leap year */
    ck_assert_int_eq(clk_date_days((clk_date){2100, 3, 1}) - clk_date_days((clk_date){2100, 2, 28}),
                     1); /* not one */
    /* Every day from 1900 to 2200 goes there and back. */
    for (int64_t n = clk_date_days((clk_date){1900, 1, 1});
         n < clk_date_days((clk_date){2200, 1, 1}); n++) {
        clk_date back = clk_days_date(n);
        ck_assert_int_eq(clk_date_days(back), n);
        ck_assert(back.month >= 1 && back.month <= 12 && back.day >= 1 && back.day <= 31);
    }
    /* A date that is not real lands on the real one it counts to. */
    clk_date feb30 = clk_days_date(clk_date_days((clk_date){2026, 2, 30}));
    ck_assert(feb30.month == 3 && feb30.day == 2);
}
END_TEST

START_TEST(clocks)
{
    int64_t prev = clk_mono_ms(), start = prev, wall = clk_utc_ms();

    for (int i = 0; i < 200000; i++) {
        int64_t now = clk_mono_ms();
        if (now < prev)
            ck_abort_msg("monotonic clock went back: %lld -> %lld", (long long)prev,
                         (long long)now);
        prev = now;
    }
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    ck_assert_int_ge(clk_mono_ms() - start, 20);
    ck_assert_int_lt(llabs(wall - (int64_t)time(NULL) * 1000), 2000);
}
END_TEST

/* ---- The hall clock's source ---------------------------------------------- */

#define SOURCE_MAX INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

START_TEST(source_times)
{
    static const struct {
        const char *text;
        int y, mo, d, h, mi, s, ms;
    } good[] = {
        {"2026-02-16T02:50:00+08:00", 2026, 2, 15, 18, 50, 0, 0},
        {"2026-02-16T02:50+08:00", 2026, 2, 15, 18, 50, 0, 0},
        {"2026-03-02T00:55Z", 2026, 3, 2, 0, 55, 0, 0},
        {"2026-03-02T08:55:00.250+08:00", 2026, 3, 2, 0, 55, 0, 250},
        {"2026-03-02T08:55:07.1+08:00", 2026, 3, 2, 0, 55, 7, 100},
        {"2026-03-02T08:55:07.123456789+08:00", 2026, 3, 2, 0, 55, 7, 123},
        {"2024-02-29T23:59:59-05:30", 2024, 3, 1, 5, 29, 59, 0},
        {"2026-12-31T23:30+13:45", 2026, 12, 31, 9, 45, 0, 0},
        {"2026-01-01T00:00-00:00", 2026, 1, 1, 0, 0, 0, 0},
        {"1970-01-01T00:00:00Z", 1970, 1, 1, 0, 0, 0, 0},
        {"1970-01-01T08:00+08:00", 1970, 1, 1, 0, 0, 0, 0},
        {"9999-12-31T23:59:59.999Z", 9999, 12, 31, 23, 59, 59, 999},
    };
    static const char *const bad[] = {
        "2026-02-30T00:00+08:00",
        "2025-02-29T00:00Z",
        "2100-02-29T00:00Z",
        "2026-00-10T00:00Z",
        "2026-13-10T00:00Z",
        "2026-01-00T00:00Z",
        "2026-01-32T00:00Z",
        "2026-02-16T24:00Z",
        "2026-02-16T23:60Z",
        "2026-02-16T23:59:60Z",
        "2026-02-16T02:50:00",
        "2026-02-16 02:50:00+08:00",
        "2026-2-16T02:50+08:00",
        "2026-02-16T2:50+08:00",
        "2026-02-16T02:50+8:00",
        "2026-02-16T02:50+0800",
        "2026-02-16T02:50+08",
        "2026-02-16T02:50+24:00",
        "2026-02-16T02:50+08:60",
        "2026-02-16T02:50:00.Z",
        "2026-02-16T02:50:00.1234567890Z",
        "2026-02-16T02:50Zjunk",
        "2026-02-16T02:50z",
        "2026-02-16t02:50Z",
        "2026-02-16T02:50.5Z",
        "2026-02-16T02:50:5Z",
        "+2026-02-16T02:50Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T07:59+08:00",
        "10000-01-01T00:00Z",
        "9999-12-31T23:59-00:01",
        "2026-02-16T02:50:00+08:00 ",
        " 2026-02-16T02:50:00+08:00",
        "Now",
        " now",
        "now ",
        "yesterday",
        "2026-02-16",
        "2026",
        "-",
    };
    clk_source src;
    char why[300];

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t want =
            utc(good[i].y, good[i].mo, good[i].d, good[i].h, good[i].mi, good[i].s) + good[i].ms;
        ck_assert_msg(clk_source_parse(good[i].text, "", "", &src, why, sizeof why) == 0, "%s: %s",
                      good[i].text, why);
        ck_assert(!src.system);
        ck_assert_msg(src.start_utc_ms == want, "%s: %lld, not %lld", good[i].text,
                      (long long)src.start_utc_ms, (long long)want);
        ck_assert_int_eq(clk_source_parse("now", "1", good[i].text, &src, why, sizeof why), 0);
        ck_assert_int_eq(src.anchor_utc_ms, want);
    }
    ck_assert_int_eq(clk_source_parse("9999-12-31T23:59:59.999Z", "", "", &src, why, sizeof why),
                     0);
    ck_assert_int_eq(src.start_utc_ms, SOURCE_MAX);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        ck_assert_msg(clk_source_parse(bad[i], "", "", &src, why, sizeof why) == -1,
                      "'%s' taken as a start", bad[i]);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_msg(strncmp(why, "start = ", 8) == 0, "%s", why);
        ck_assert_msg(clk_source_parse("now", "", bad[i], &src, why, sizeof why) == -1,
                      "'%s' taken as an anchor", bad[i]);
        ck_assert_msg(strncmp(why, "anchor = ", 9) == 0, "%s", why);
    }
    /* Every cut of a good time is refused, from a buffer of exactly its
     * size: under ASan an overread fails the test. */
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t n = strlen(good[i].text);
        for (size_t cut = 0; cut < n; cut++) {
            char *text = malloc(cut + 1);
            ck_assert_ptr_nonnull(text);
            memcpy(text, good[i].text, cut);
            text[cut] = '\0';
            if (cut > 0)
                ck_assert_msg(clk_source_parse(text, "", "", &src, why, sizeof why) == -1,
                              "'%s' taken as a start", text);
            free(text);
        }
    }
}
END_TEST

START_TEST(source_rates)
{
    static const struct {
        const char *text;
        double rate;
    } good[] = {
        {"1", 1},    {"60", 60},   {"0.1", 0.1},       {"3600", 3600},    {"2.5", 2.5},
        {".5", 0.5}, {"0060", 60}, {"3600.000", 3600}, {"0.100000", 0.1}, {"", 1},
    };
    static const char *const bad[] = {
        "0",
        "0.09",
        "3600.5",
        "-1",
        "+1",
        "1e3",
        "inf",
        "nan",
        "0x10",
        "1.",
        ".",
        "1 ",
        " 1",
        "1,5",
        "abc",
        "1..2",
        "99999999999999999999",
    };
    clk_source src;
    char why[300];

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(
            clk_source_parse("2026-03-02T00:55Z", good[i].text, "", &src, why, sizeof why) == 0,
            "%s: %s", good[i].text, why);
        ck_assert_msg(src.rate == good[i].rate, "%s: %g", good[i].text, src.rate);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        ck_assert_msg(clk_source_parse("2026-03-02T00:55Z", bad[i], "", &src, why, sizeof why) ==
                          -1,
                      "rate '%s' taken", bad[i]);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_msg(strncmp(why, "rate = ", 7) == 0, "%s", why);
    }
    snprintf(why, sizeof why, "?");
    ck_assert_int_eq(clk_source_parse("2026-03-02T00:55Z", "0", "", &src, why, sizeof why), -1);
    ck_assert_str_eq(why, "rate = 0: expected a number from 0.1 to 3600");
}
END_TEST

START_TEST(source_system_and_now)
{
    clk_source src;
    char why[300];
    int64_t before, after;

    /* No start: the system clock, and nothing else may be set. */
    ck_assert_int_eq(clk_source_parse("", "", "", &src, why, sizeof why), 0);
    ck_assert(src.system);
    ck_assert_int_eq(clk_source_parse(NULL, NULL, NULL, &src, why, sizeof why), 0);
    ck_assert(src.system);
    ck_assert_int_eq(clk_source_parse("", "1.0", "", &src, why, sizeof why), 0);
    ck_assert(src.system);
    ck_assert_int_eq(clk_source_parse("", "60", "", &src, why, sizeof why), -1);
    ck_assert_str_eq(why, "rate = 60 needs a start: the system clock runs at rate 1");
    ck_assert_int_eq(clk_source_parse("", "", "now", &src, why, sizeof why), -1);
    ck_assert_str_eq(why, "anchor = now needs a start");

    /* "now", and the anchor left out, read the system clock. */
    before = clk_system_utc_ms();
    ck_assert_int_eq(clk_source_parse("now", "60", "", &src, why, sizeof why), 0);
    after = clk_system_utc_ms();
    ck_assert(!src.system);
    ck_assert_int_ge(src.start_utc_ms, before);
    ck_assert_int_le(src.start_utc_ms, after);
    ck_assert_int_ge(src.anchor_utc_ms, before);
    ck_assert_int_le(src.anchor_utc_ms, after);
    ck_assert(src.rate == 60);
    ck_assert_int_eq(clk_source_parse("2026-03-02T00:55Z", "2", "now", &src, why, sizeof why), 0);
    ck_assert_int_ge(src.anchor_utc_ms, after);
    ck_assert_int_le(src.anchor_utc_ms, clk_system_utc_ms());
}
END_TEST

/* Hall time against the monotonic time measured around two readings:
 * it advanced by rate x the elapsed time, within a millisecond of each
 * reading's granularity. */
START_TEST(source_runs_at_rate)
{
    clk_source src;
    char why[300];
    int64_t hall, prev;

    ck_assert_int_eq(clk_source_parse("2026-02-16T02:50:00+08:00", "60", "", &src, why, sizeof why),
                     0);
    ck_assert_int_eq(clk_set_source(&src), 0);
    hall = clk_utc_ms();
    ck_assert_int_ge(hall, src.start_utc_ms);
    /* From the anchor (read by the parse, before mono_before) to now. */
    ck_assert_int_le(hall - src.start_utc_ms, (clk_system_utc_ms() - src.anchor_utc_ms + 2) * 60);

    for (int round = 0; round < 3; round++) {
        int64_t m1b = clk_mono_ms(), h1 = clk_utc_ms(), m1a = clk_mono_ms();
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        int64_t m2b = clk_mono_ms(), h2 = clk_utc_ms(), m2a = clk_mono_ms();
        ck_assert_msg(h2 - h1 >= (m2b - m1a - 2) * 60 && h2 - h1 <= (m2a - m1b + 2) * 60,
                      "hall time advanced %lld ms in %lld..%lld ms of monotonic time at rate 60",
                      (long long)(h2 - h1), (long long)(m2b - m1a), (long long)(m2a - m1b));
    }
    /* It never steps back, and the system clock is left alone. */
    prev = clk_utc_ms();
    for (int i = 0; i < 200000; i++) {
        int64_t now = clk_utc_ms();
        if (now < prev)
            ck_abort_msg("hall clock went back: %lld -> %lld", (long long)prev, (long long)now);
        prev = now;
    }
    ck_assert_int_lt(llabs(clk_system_utc_ms() - (int64_t)time(NULL) * 1000), 2000);
}
END_TEST

/* Hall time counts from the anchor, so a process that sets the same
 * source later reads the same clock as one that set it earlier. */
START_TEST(source_anchor)
{
    const int64_t start = utc(2026, 2, 15, 18, 30, 0);
    int64_t sys_before = clk_system_utc_ms();
    clk_source src = {.start_utc_ms = start, .anchor_utc_ms = sys_before - 10000, .rate = 60};

    ck_assert_int_eq(clk_set_source(&src), 0);
    int64_t hall = clk_utc_ms(), sys_after = clk_system_utc_ms();
    /* 10 s (and the moments of this test) of real time at 60: 10 min. */
    ck_assert_int_ge(hall - start, (sys_before - src.anchor_utc_ms) * 60 - 60);
    ck_assert_int_le(hall - start, (2 * sys_after - sys_before - src.anchor_utc_ms + 2) * 60);

    /* "Another process" starting later on the same source: no jump back
     * to start, the same clock (the two system clock readings may differ
     * from the monotonic time between them by a millisecond or two). */
    nanosleep(&(struct timespec){0, 30 * 1000 * 1000}, NULL);
    int64_t before_again = clk_utc_ms();
    ck_assert_int_eq(clk_set_source(&src), 0);
    int64_t again = clk_utc_ms();
    ck_assert_int_ge(again, before_again - 3 * 60);
    ck_assert_int_le(again - before_again, 1000 * 60);

    /* An anchor in the future: the hall clock reads start only then. */
    src.anchor_utc_ms = clk_system_utc_ms() + 60000;
    ck_assert_int_eq(clk_set_source(&src), 0);
    ck_assert_int_lt(clk_utc_ms(), start - 59 * 60000);

    /* Back to the system clock. */
    ck_assert_int_eq(clk_set_source(&(clk_source){.system = true}), 0);
    ck_assert_int_lt(llabs(clk_utc_ms() - clk_system_utc_ms()), 1000);
}
END_TEST

/* The sentence a daemon warns with: the hall time in the hall's zone (UTC
 * without one) and the rate. */
START_TEST(source_described)
{
    clk_source src = {.start_utc_ms = utc(2026, 2, 15, 18, 30, 0),
                      .anchor_utc_ms = clk_system_utc_ms(),
                      .rate = 60};
    clk_zone *sh = clk_zone_new("Asia/Shanghai");
    char text[96];

    ck_assert_ptr_nonnull(sh);
    ck_assert_int_eq(clk_set_source(&src), 0);
    clk_describe(sh, src.rate, text, sizeof text);
    ck_assert_msg(strncmp(text, "hall time 2026-02-16T02:30:", 27) == 0, "%s", text);
    ck_assert_msg(strstr(text, "+08:00, 60 times as fast as real time") != NULL, "%s", text);
    clk_describe(NULL, src.rate, text, sizeof text);
    ck_assert_msg(strncmp(text, "hall time 2026-02-15T18:30:", 27) == 0, "%s", text);
    clk_describe(sh, 0.5, text, 20); /* cut, terminated */
    ck_assert_uint_eq(strlen(text), 19);
    clk_zone_free(sh);
    ck_assert_int_eq(clk_set_source(&(clk_source){.system = true}), 0);
}
END_TEST

START_TEST(source_refused)
{
    const int64_t start = utc(2026, 2, 15, 18, 30, 0), now = clk_system_utc_ms();
    const clk_source bad[] = {
        {.start_utc_ms = start, .anchor_utc_ms = now, .rate = 0},
        {.start_utc_ms = start, .anchor_utc_ms = now, .rate = 0.099},
        {.start_utc_ms = start, .anchor_utc_ms = now, .rate = 3600.5},
        {.start_utc_ms = start, .anchor_utc_ms = now, .rate = -60},
        {.start_utc_ms = start, .anchor_utc_ms = now, .rate = NAN},
        {.start_utc_ms = start, .anchor_utc_ms = now, .rate = INFINITY},
        {.start_utc_ms = -1, .anchor_utc_ms = now, .rate = 1},
        {.start_utc_ms = SOURCE_MAX + 1, .anchor_utc_ms = now, .rate = 1},
        {.start_utc_ms = start, .anchor_utc_ms = -1, .rate = 1},
        {.start_utc_ms = start, .anchor_utc_ms = INT64_MAX, .rate = 1},
    };

    /* A refused source leaves the clock as it was: here the system's. */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        ck_assert_int_eq(clk_set_source(&bad[i]), -1);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_int_lt(llabs(clk_utc_ms() - clk_system_utc_ms()), 1000);
    }
}
END_TEST

static Suite *clk_suite(void)
{
    Suite *s = suite_create("clk");
    TCase *tc = tcase_create("zones");

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, real_zones_match_glibc, 0,
                        (int)(sizeof real_zones / sizeof real_zones[0]));
    tcase_add_test(tc, bad_names);
    tcase_add_test(tc, business_day_shanghai);
    tcase_add_test(tc, next_rollover_fixed);
    tcase_add_test(tc, next_rollover_properties);
    tcase_add_test(tc, format_iso);
    tcase_add_test(tc, date_arithmetic);
    tcase_add_test(tc, clocks);
    tcase_add_test(tc, source_times);
    tcase_add_test(tc, source_rates);
    tcase_add_test(tc, source_system_and_now);
    tcase_add_test(tc, source_runs_at_rate);
    tcase_add_test(tc, source_anchor);
    tcase_add_test(tc, source_described);
    tcase_add_test(tc, source_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, tzdir_setup, tzdir_teardown);
    tcase_add_loop_test(tc, footer_rules_match_glibc, 0, (int)(sizeof rules / sizeof rules[0]));
    tcase_add_test(tc, footer_all_year_dst);
    tcase_add_test(tc, footer_bad_rules);
    tcase_add_test(tc, tzif_v1_and_edges);
    tcase_add_test(tc, tzif_corrupt);
    tcase_add_test(tc, tzif_hostile_structure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *dir = getenv("TZDIR");
    SRunner *sr = srunner_create(clk_suite());
    int failed;

    /* The "files" cases point TZDIR at scratch directories; remember where
     * the real database is. */
    setenv("TZDIR_REAL", dir != NULL && *dir != '\0' ? dir : "/usr/share/zoneinfo", 1);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
