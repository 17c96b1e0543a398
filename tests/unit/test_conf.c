/*
 * test_conf — the config loader (common/conf.c): every value type, every
 * kind of error with its exact one-line message, all-or-nothing loading,
 * path resolution, defaults, and conf_write_sample() round trips.
 *
 * Each test gets its own scratch directory holding "hall.ini"; error
 * messages are compared whole, so each check covers the file name, the
 * line number, the key and the allowed values at once.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "testsupport.h"

struct t_conf {
    int64_t port;
    bool tls;
    int64_t timeout_ms;
    char *name;
    int64_t offset;
    char *db;
    int level;
    char *cert;
    int untouched; /* in no table: conf_load must keep it */
};

static const char *const levels[] = {"error", "warn", "info", "debug", NULL};

/* Every key has a default; [listen] is split in two on purpose so the
 * sample must still list it once. */
#define T_OPTIONS                                                                                  \
    CONF_INT("listen", "port", struct t_conf, port, 1, 65535, "7700",                              \
             "TCP port for device links"),                                                         \
        CONF_BOOL("listen", "tls", struct t_conf, tls, "no", "Require TLS on device links"),       \
        CONF_STRING("hall", "name", struct t_conf, name, "Main hall", "Name shown on displays"),   \
        CONF_INT("hall", "offset", struct t_conf, offset, -100, 100, "0",                          \
                 "Ticket number offset\nused by the second counter"),                              \
        CONF_PATH("store", "path", struct t_conf, db, "hall.db", "SQLite database"),               \
        CONF_ENUM("log", "level", struct t_conf, level, levels, "info", "Log verbosity"),          \
        CONF_DURATION("listen", "timeout", struct t_conf, timeout_ms, 1000, 3600000, "30s",        \
                      "Idle link timeout")

static const conf_option table[] = {T_OPTIONS, CONF_END};

static const conf_option req_table[] = {
    T_OPTIONS, CONF_PATH("tls", "cert", struct t_conf, cert, NULL, "Server certificate"), CONF_END};

static char *dir;
static char path[PATH_MAX];
static char err[512];

static void setup(void)
{
    dir = ts_tmpdir("conf");
    snprintf(path, sizeof path, "%s", ts_path(dir, "hall.ini"));
    err[0] = '\0';
}

static void teardown(void)
{
    ts_rmtree(dir);
    free(dir);
}

/* Write text to hall.ini and load it into c with table t. */
static int load_text(const conf_option *t, const char *text, struct t_conf *c)
{
    ts_write_file(path, text);
    return conf_load(t, c, sizeof *c, path, err, sizeof err);
}

/* The file must fail to load with exactly "<path><rest>" and leave a zeroed
 * struct zeroed. */
static void expect_error(const conf_option *t, const char *text, const char *rest)
{
    struct t_conf c = {0}, zero = {0};
    char want[PATH_MAX + 512];

    snprintf(want, sizeof want, "%s%s", path, rest);
    errno = 0;
    ck_assert_int_eq(load_text(t, text, &c), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_str_eq(err, want);
    ck_assert_msg(memcmp(&c, &zero, sizeof c) == 0, "failed load changed the struct");
}

START_TEST(test_good_file)
{
    struct t_conf c = {.untouched = 42};
    char want_db[PATH_MAX];

    ck_assert_int_eq(load_text(table,
                               "# a comment\n"
                               "; another\n"
                               "[Listen]\n"
                               "    PORT = 8080 ; inline comment\n"
                               "\ttls = On\n"
                               "timeout: 5m\n"
                               "\n"
                               "[ hall ]\n"
                               "name =   Hall #2, \"east\"   \n"
                               "offset = -100\n"
                               "[store]\n"
                               "path = data/x.db\n"
                               "[log]\n"
                               "level = debug\n",
                               &c),
                     0);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(c.port, 8080);
    ck_assert(c.tls);
    ck_assert_int_eq(c.timeout_ms, 5 * 60 * 1000);
    ck_assert_str_eq(c.name, "Hall #2, \"east\"");
    ck_assert_int_eq(c.offset, -100);
    snprintf(want_db, sizeof want_db, "%s/data/x.db", dir);
    ck_assert_str_eq(c.db, want_db);
    ck_assert_int_eq(c.level, 3);
    ck_assert_int_eq(c.untouched, 42);
    conf_release(table, &c);
    ck_assert_ptr_null(c.name);
    ck_assert_ptr_null(c.db);
}
END_TEST

START_TEST(test_values_accepted)
{
    static const struct {
        const char *text;
        int64_t port, timeout_ms;
        bool tls;
    } rows[] = {
        {"port = 1\ntls = yes\ntimeout = 1s\n", 1, 1000, true},
        {"port = +65535\ntls = FALSE\ntimeout = 1500ms\n", 65535, 1500, false},
        {"port = 007\ntls = 1\ntimeout = 1h\n", 7, 3600000, true},
        {"port = 80\ntls = off\ntimeout = 60m\n", 80, 3600000, false},
        {"port = 80\ntls = 0\ntimeout = 3600s\n", 80, 3600000, false},
    };

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct t_conf c = {0};
        char text[256];

        snprintf(text, sizeof text, "[listen]\n%s", rows[i].text);
        ck_assert_msg(load_text(table, text, &c) == 0, "row %zu: %s", i, err);
        ck_assert_int_eq(c.port, rows[i].port);
        ck_assert_int_eq(c.timeout_ms, rows[i].timeout_ms);
        ck_assert(c.tls == rows[i].tls);
        conf_release(table, &c);
    }
}
END_TEST

/* One bad value each: section, key, value as written, reason. */
static const struct {
    const char *section, *key, *value, *reason;
} bad_values[] = {
    {"listen", "port", "12q", "not an integer (allowed 1..65535)"},
    {"listen", "port", "", "not an integer (allowed 1..65535)"},
    {"listen", "port", "0x1F", "not an integer (allowed 1..65535)"},
    {"listen", "port", "+", "not an integer (allowed 1..65535)"},
    {"listen", "port", "1 2", "not an integer (allowed 1..65535)"},
    {"listen", "port", "7700 # lan", "not an integer (allowed 1..65535)"},
    {"listen", "port", "99999", "out of range (allowed 1..65535)"},
    {"listen", "port", "0", "out of range (allowed 1..65535)"},
    {"listen", "port", "-5", "out of range (allowed 1..65535)"},
    {"listen", "port", "99999999999999999999", "out of range (allowed 1..65535)"},
    {"listen", "port", "-99999999999999999999", "out of range (allowed 1..65535)"},
    {"hall", "offset", "101", "out of range (allowed -100..100)"},
    {"hall", "offset", "-101", "out of range (allowed -100..100)"},
    {"listen", "tls", "maybe", "not a boolean (allowed true, false, yes, no, on, off, 1, 0)"},
    {"listen", "tls", "2", "not a boolean (allowed true, false, yes, no, on, off, 1, 0)"},
    {"listen", "tls", "", "not a boolean (allowed true, false, yes, no, on, off, 1, 0)"},
    {"log", "level", "loud", "not one of error, warn, info, debug"},
    {"log", "level", "INFO", "not one of error, warn, info, debug"},
    {"log", "level", "", "not one of error, warn, info, debug"},
    {"listen", "timeout", "30", "needs a unit: ms, s, m or h, e.g. 30s (allowed 1s..1h)"},
    {"listen", "timeout", "30x", "not a duration: a number and ms, s, m or h (allowed 1s..1h)"},
    {"listen", "timeout", "s", "not a duration: a number and ms, s, m or h (allowed 1s..1h)"},
    {"listen", "timeout", "1.5s", "not a duration: a number and ms, s, m or h (allowed 1s..1h)"},
    {"listen", "timeout", "-5s", "not a duration: a number and ms, s, m or h (allowed 1s..1h)"},
    {"listen", "timeout", "30 s", "not a duration: a number and ms, s, m or h (allowed 1s..1h)"},
    {"listen", "timeout", "30S", "not a duration: a number and ms, s, m or h (allowed 1s..1h)"},
    {"listen", "timeout", "", "not a duration: a number and ms, s, m or h (allowed 1s..1h)"},
    {"listen", "timeout", "999ms", "out of range (allowed 1s..1h)"},
    {"listen", "timeout", "61m", "out of range (allowed 1s..1h)"},
    {"listen", "timeout", "2h", "out of range (allowed 1s..1h)"},
    {"listen", "timeout", "99999999999999999999s", "out of range (allowed 1s..1h)"},
    {"listen", "timeout", "9999999999999999h", "out of range (allowed 1s..1h)"},
};

START_TEST(test_bad_value)
{
    char text[256], rest[512];

    /* Line 3, after a good key, so the line number is not trivially 1. */
    snprintf(text, sizeof text, "[%s]\n; the next line is wrong\n%s = %s\n", bad_values[_i].section,
             bad_values[_i].key, bad_values[_i].value);
    snprintf(rest, sizeof rest, ":3: [%s] %s = %s: %s", bad_values[_i].section, bad_values[_i].key,
             bad_values[_i].value, bad_values[_i].reason);
    expect_error(table, text, rest);
}
END_TEST

START_TEST(test_unknown_key)
{
    expect_error(table, "[listen]\nport = 1\nprot = 2\n", ":3: unknown key [listen] prot");
}
END_TEST

START_TEST(test_unknown_section)
{
    expect_error(table, "[listen]\nport = 1\n[lisen]\nport = 2\n", ":3: unknown section [lisen]");
    /* Reported even when no key follows it. */
    expect_error(table, "[listen]\n[lisen]\n", ":2: unknown section [lisen]");
    expect_error(table, "[]\nport = 2\n", ":1: unknown section []");
}
END_TEST

START_TEST(test_duplicate_key)
{
    /* Names ignore case, and reopening a section does not reset it. */
    expect_error(table, "[store]\npath = a.db\n\n[listen]\nport = 1\n[STORE]\nPath = b.db\n",
                 ":7: [store] path set twice (first on line 2)");
}
END_TEST

START_TEST(test_key_outside_section)
{
    expect_error(table, "\nport = 1\n[listen]\n", ":2: key port is outside any [section]");
}
END_TEST

START_TEST(test_syntax_error)
{
    expect_error(table, "[listen]\nport = 1\n\nno equals sign\n",
                 ":4: syntax error: expected key = value");
    expect_error(table, "[listen]\n= 5\n", ":2: syntax error: expected key = value");
    expect_error(table, "[listen\nport = 1\n",
                 ":1: syntax error: expected ']' after the section name");
    expect_error(table, "[listen ; ]\n", ":1: syntax error: expected ']' after the section name");
}
END_TEST

/* inih reports a line it cannot parse only at the end; that line still
 * wins over a later error found while parsing. */
START_TEST(test_first_error_wins)
{
    expect_error(table, "[listen]\nbogus\nport = 99999\n",
                 ":2: syntax error: expected key = value");
    expect_error(table, "[listen]\nport = 99999\nbogus\nprot = 1\n",
                 ":2: [listen] port = 99999: out of range (allowed 1..65535)");
}
END_TEST

START_TEST(test_long_line)
{
    struct t_conf c = {0};
    char text[1024], rest[PATH_MAX + 64];
    char value[400];

    memset(value, 'x', 150);
    value[150] = '\0';
    snprintf(text, sizeof text, "[hall]\nname = %s\n", value);
    ck_assert_msg(load_text(table, text, &c) == 0, "%s", err);
    ck_assert_str_eq(c.name, value);
    conf_release(table, &c);

    /* Too long for inih's buffer: an error, not a cut value. */
    memset(value, 'x', 300);
    value[300] = '\0';
    snprintf(text, sizeof text, "[hall]\nname = %s\n[listen]\nport = 1\n", value);
    ck_assert_int_eq(load_text(table, text, &c), -1);
    snprintf(rest, sizeof rest, "%s:2: line too long", path);
    ck_assert_msg(strncmp(err, rest, strlen(rest)) == 0, "got: %s", err);
}
END_TEST

START_TEST(test_nul_byte)
{
    static const char text[] = "[listen]\nport = 1\0 2\n";
    struct t_conf c = {0};
    char want[PATH_MAX + 64];
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(conf_load(table, &c, sizeof c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: line contains a NUL byte", path);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_bom_and_crlf)
{
    struct t_conf c = {0};

    ck_assert_int_eq(
        load_text(table, "\xEF\xBB\xBF[listen]\r\nport = 81\r\n[hall]\r\nname = A\r\n", &c), 0);
    ck_assert_int_eq(c.port, 81);
    ck_assert_str_eq(c.name, "A");
    conf_release(table, &c);
}
END_TEST

START_TEST(test_missing_file)
{
    struct t_conf c = {0}, zero = {0};
    char want[PATH_MAX + 64];

    errno = 0;
    ck_assert_int_eq(conf_load(table, &c, sizeof c, path, err, sizeof err), -1);
    ck_assert_int_eq(errno, ENOENT);
    snprintf(want, sizeof want, "cannot open %s: No such file or directory", path);
    ck_assert_str_eq(err, want);
    ck_assert(memcmp(&c, &zero, sizeof c) == 0);

    /* A directory opens but does not read. */
    ck_assert_int_eq(conf_load(table, &c, sizeof c, dir, err, sizeof err), -1);
    ck_assert_int_eq(errno, EISDIR);
    snprintf(want, sizeof want, "cannot read %s: Is a directory", dir);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_missing_required)
{
    struct t_conf c = {0};
    char want[PATH_MAX];

    expect_error(req_table, "[listen]\nport = 1\n", ": missing required key [tls] cert");

    ck_assert_int_eq(load_text(req_table, "[tls]\ncert = /etc/hall/cert.pem\n", &c), 0);
    ck_assert_str_eq(c.cert, "/etc/hall/cert.pem");
    snprintf(want, sizeof want, "%s/hall.db", dir);
    ck_assert_str_eq(c.db, want);
    conf_release(req_table, &c);
}
END_TEST

/* A failed reload leaves the loaded struct byte for byte as it was, string
 * pointers and their contents included. */
START_TEST(test_all_or_nothing)
{
    struct t_conf c = {.untouched = 7}, before;
    char *name, *db;

    ck_assert_int_eq(load_text(table, "[hall]\nname = First\n[listen]\nport = 100\n", &c), 0);
    memcpy(&before, &c, sizeof c);
    name = strdup(c.name);
    db = strdup(c.db);

    ck_assert_int_eq(load_text(table,
                               "[hall]\nname = Second\n[store]\npath = /other.db\n"
                               "[listen]\nport = 200\ntls = yes\ntimeout = 10s\n"
                               "[log]\nlevel = loud\n",
                               &c),
                     -1);
    ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "failed reload changed the struct");
    ck_assert_str_eq(c.name, name);
    ck_assert_str_eq(c.db, db);

    /* A good reload replaces everything (and frees the old strings). */
    ck_assert_int_eq(load_text(table, "[hall]\nname = Third\n", &c), 0);
    ck_assert_str_eq(c.name, "Third");
    ck_assert_int_eq(c.port, 7700);
    ck_assert_int_eq(c.untouched, 7);
    conf_release(table, &c);
    free(name);
    free(db);
}
END_TEST

START_TEST(test_path_resolution)
{
    struct t_conf c = {0};
    char sub[PATH_MAX], ini[PATH_MAX + 32], want[PATH_MAX + 32];

    snprintf(sub, sizeof sub, "%s/etc", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(ini, sizeof ini, "%s/hall.ini", sub);

    /* Relative value: against the file's directory. */
    ts_write_file(ini, "[store]\npath = data/q.db\n");
    ck_assert_int_eq(conf_load(table, &c, sizeof c, ini, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/data/q.db", sub);
    ck_assert_str_eq(c.db, want);

    /* Default: also against the file's directory. */
    ts_write_file(ini, "[listen]\nport = 1\n");
    ck_assert_int_eq(conf_load(table, &c, sizeof c, ini, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/hall.db", sub);
    ck_assert_str_eq(c.db, want);

    /* Absolute value and empty value: as written. */
    ts_write_file(ini, "[store]\npath = /var/lib/onewindow/q.db\n");
    ck_assert_int_eq(conf_load(table, &c, sizeof c, ini, err, sizeof err), 0);
    ck_assert_str_eq(c.db, "/var/lib/onewindow/q.db");
    ts_write_file(ini, "[store]\npath =\n");
    ck_assert_int_eq(conf_load(table, &c, sizeof c, ini, err, sizeof err), 0);
    ck_assert_str_eq(c.db, "");

    /* Repeated slashes before the file name collapse. */
    ts_write_file(ini, "[store]\npath = q.db\n");
    snprintf(ini, sizeof ini, "%s//hall.ini", sub);
    ck_assert_int_eq(conf_load(table, &c, sizeof c, ini, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/q.db", sub);
    ck_assert_str_eq(c.db, want);
    conf_release(table, &c);
}
END_TEST

/* A config path without a directory leaves relative paths relative. */
START_TEST(test_path_without_directory)
{
    struct t_conf c = {0};
    char cwd[PATH_MAX];

    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    ts_write_file("hall.ini", "[store]\npath = data/q.db\n");
    ck_assert_int_eq(conf_load(table, &c, sizeof c, "hall.ini", err, sizeof err), 0);
    ck_assert_str_eq(c.db, "data/q.db");

    ck_assert_int_eq(conf_load(table, &c, sizeof c, "nothere.ini", err, sizeof err), -1);
    ck_assert_str_eq(err, "cannot open nothere.ini: No such file or directory");
    ts_write_file("hall.ini", "[listen]\nport = 0\n");
    ck_assert_int_eq(conf_load(table, &c, sizeof c, "hall.ini", err, sizeof err), -1);
    ck_assert_str_eq(err, "hall.ini:2: [listen] port = 0: out of range (allowed 1..65535)");
    ck_assert_int_eq(chdir(cwd), 0);
    conf_release(table, &c);
}
END_TEST

START_TEST(test_defaults_only)
{
    struct t_conf c = {.untouched = 5};

    strcpy(err, "stale");
    ck_assert_int_eq(conf_defaults(table, &c, sizeof c, err, sizeof err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(c.port, 7700);
    ck_assert(!c.tls);
    ck_assert_int_eq(c.timeout_ms, 30000);
    ck_assert_str_eq(c.name, "Main hall");
    ck_assert_int_eq(c.offset, 0);
    ck_assert_str_eq(c.db, "hall.db");
    ck_assert_int_eq(c.level, 2);
    ck_assert_int_eq(c.untouched, 5);
    /* Again over itself: the old strings are released, not leaked. */
    ck_assert_int_eq(conf_defaults(table, &c, sizeof c, err, sizeof err), 0);
    conf_release(table, &c);
    conf_release(table, &c);
    ck_assert_ptr_null(c.name);
    conf_release(NULL, &c);
    conf_release(table, NULL);

    ck_assert_int_eq(conf_defaults(req_table, &c, sizeof c, err, sizeof err), -1);
    ck_assert_str_eq(err, "missing required key [tls] cert");
    ck_assert_ptr_null(c.name);
}
END_TEST

/* A wrong default is a programming error: reported, never a crash. */
START_TEST(test_bad_table)
{
    static const conf_option bad_default[] = {
        CONF_INT("listen", "port", struct t_conf, port, 1, 65535, "7700", NULL),
        CONF_DURATION("listen", "timeout", struct t_conf, timeout_ms, 1000, 60000, "90", NULL),
        CONF_END};
    static const conf_option no_choices[] = {
        CONF_ENUM("log", "level", struct t_conf, level, NULL, "info", NULL), CONF_END};
    static const conf_option twice[] = {
        CONF_INT("listen", "port", struct t_conf, port, 1, 65535, "1", NULL),
        CONF_INT("Listen", "Port", struct t_conf, offset, 1, 65535, "1", NULL), CONF_END};
    struct t_conf c = {0}, zero = {0};

    ck_assert_int_eq(conf_defaults(bad_default, &c, sizeof c, err, sizeof err), -1);
    ck_assert_str_eq(err, "default for [listen] timeout = 90: needs a unit: ms, s, m or h, e.g. "
                          "30s (allowed 1s..1m)");
    ts_write_file(path, "[listen]\nport = 1\n");
    ck_assert_int_eq(conf_load(bad_default, &c, sizeof c, path, err, sizeof err), -1);
    ck_assert_str_eq(err, "default for [listen] timeout = 90: needs a unit: ms, s, m or h, e.g. "
                          "30s (allowed 1s..1m)");

    ck_assert_int_eq(conf_defaults(no_choices, &c, sizeof c, err, sizeof err), -1);
    ck_assert_str_eq(err, "table entry [log] level is an enum without choices");
    ck_assert_int_eq(conf_defaults(twice, &c, sizeof c, err, sizeof err), -1);
    ck_assert_str_eq(err, "table lists [Listen] Port twice");
    ck_assert_int_eq(conf_defaults(table, &c, 4, err, sizeof err), -1);
    ck_assert_str_eq(err, "table entry [listen] port lies outside the struct");
    ck_assert_int_eq(conf_defaults(NULL, &c, sizeof c, err, sizeof err), -1);
    ck_assert_int_eq(conf_load(table, &c, sizeof c, NULL, err, sizeof err), -1);
    ck_assert(memcmp(&c, &zero, sizeof c) == 0);
}
END_TEST

START_TEST(test_null_err_buffer)
{
    struct t_conf c = {0};

    ts_write_file(path, "[listen]\nport = x\n");
    errno = 0;
    ck_assert_int_eq(conf_load(table, &c, sizeof c, path, NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* A short buffer gets a cut, terminated message. */
    ck_assert_int_eq(conf_load(table, &c, sizeof c, path, err, 6), -1);
    ck_assert_uint_eq(strlen(err), 5);
}
END_TEST

/* Write the sample for t into dir/name and return its text (caller frees). */
static char *write_sample(const conf_option *t, const char *name)
{
    FILE *f = fopen(ts_path(dir, name), "w+");
    char *text;
    long len;

    ck_assert_ptr_nonnull(f);
    conf_write_sample(t, f);
    ck_assert_int_eq(fflush(f), 0);
    len = ftell(f);
    ck_assert_int_gt(len, 0);
    text = calloc(1, (size_t)len + 1);
    ck_assert_ptr_nonnull(text);
    rewind(f);
    ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return text;
}

START_TEST(test_sample_round_trip)
{
    struct t_conf from_file = {0}, defaults = {0};
    char *text = write_sample(table, "sample.ini");
    char want_db[PATH_MAX];
    const char *first;

    ck_assert_int_eq(
        conf_load(table, &from_file, sizeof from_file, ts_path(dir, "sample.ini"), err, sizeof err),
        0);
    ck_assert_int_eq(conf_defaults(table, &defaults, sizeof defaults, err, sizeof err), 0);
    ck_assert_int_eq(from_file.port, defaults.port);
    ck_assert(from_file.tls == defaults.tls);
    ck_assert_int_eq(from_file.timeout_ms, defaults.timeout_ms);
    ck_assert_str_eq(from_file.name, defaults.name);
    ck_assert_int_eq(from_file.offset, defaults.offset);
    ck_assert_int_eq(from_file.level, defaults.level);
    snprintf(want_db, sizeof want_db, "%s/%s", dir, defaults.db);
    ck_assert_str_eq(from_file.db, want_db);

    ck_assert_ptr_nonnull(strstr(text, "# TCP port for device links\n# allowed: 1..65535\n"
                                       "port = 7700\n"));
    ck_assert_ptr_nonnull(strstr(text, "# one of: error, warn, info, debug\nlevel = info\n"));
    ck_assert_ptr_nonnull(strstr(text, "# Idle link timeout\n# duration, 1s..1h\ntimeout = 30s\n"));
    ck_assert_ptr_nonnull(strstr(text, "# Ticket number offset\n# used by the second counter\n"
                                       "# allowed: -100..100\noffset = 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "name = Main hall\n"));
    first = strstr(text, "[listen]");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(strstr(first + 1, "[listen]"));
    /* Both [listen] parts are in the one [listen] block, before [hall]. */
    ck_assert_ptr_nonnull(strstr(text, "[hall]"));
    ck_assert(strstr(text, "timeout = 30s") < strstr(text, "[hall]"));
    conf_release(table, &from_file);
    conf_release(table, &defaults);
    free(text);
}
END_TEST

START_TEST(test_sample_required)
{
    struct t_conf c = {0};
    char *text = write_sample(req_table, "sample.ini");
    char want[PATH_MAX + 64];

    ck_assert_ptr_nonnull(strstr(text, "[tls]\n\n# Server certificate\n"
                                       "# path, relative to the directory of this file\n"
                                       "# cert = (required)\n"));
    /* The commented-out required key is reported when the sample is used
     * as it is. */
    ck_assert_int_eq(
        conf_load(req_table, &c, sizeof c, ts_path(dir, "sample.ini"), err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: missing required key [tls] cert", ts_path(dir, "sample.ini"));
    ck_assert_str_eq(err, want);
    free(text);
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *load = tcase_create("load");
    TCase *errors = tcase_create("errors");
    TCase *sample = tcase_create("sample");

    tcase_add_checked_fixture(load, setup, teardown);
    tcase_add_test(load, test_good_file);
    tcase_add_test(load, test_values_accepted);
    tcase_add_test(load, test_long_line);
    tcase_add_test(load, test_bom_and_crlf);
    tcase_add_test(load, test_all_or_nothing);
    tcase_add_test(load, test_path_resolution);
    tcase_add_test(load, test_path_without_directory);
    tcase_add_test(load, test_defaults_only);
    suite_add_tcase(s, load);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_loop_test(errors, test_bad_value, 0, sizeof bad_values / sizeof bad_values[0]);
    tcase_add_test(errors, test_unknown_key);
    tcase_add_test(errors, test_unknown_section);
    tcase_add_test(errors, test_duplicate_key);
    tcase_add_test(errors, test_key_outside_section);
    tcase_add_test(errors, test_syntax_error);
    tcase_add_test(errors, test_first_error_wins);
    tcase_add_test(errors, test_nul_byte);
    tcase_add_test(errors, test_missing_file);
    tcase_add_test(errors, test_missing_required);
    tcase_add_test(errors, test_bad_table);
    tcase_add_test(errors, test_null_err_buffer);
    suite_add_tcase(s, errors);

    tcase_add_checked_fixture(sample, setup, teardown);
    tcase_add_test(sample, test_sample_round_trip);
    tcase_add_test(sample, test_sample_required);
    suite_add_tcase(s, sample);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conf_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
