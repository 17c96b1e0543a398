/*
 * test_log — level names and filtering, the stderr line format, journald
 * priority prefixes, truncation, and whole lines from concurrent writers.
 *
 * Each test points stderr at a scratch file (the fixture), logs, and reads
 * the file back.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "log.h"
#include "testsupport.h"

static char *dir, *out_path;
static int saved_stderr = -1;

static void redirect_setup(void)
{
    int fd;

    dir = ts_tmpdir("log");
    out_path = strdup(ts_path(dir, "stderr"));
    fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    ck_assert_int_ge(fd, 0);
    saved_stderr = dup(STDERR_FILENO);
    ck_assert_int_ge(saved_stderr, 0);
    ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    unsetenv("JOURNAL_STREAM");
}

static void redirect_teardown(void)
{
    log_close();
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    unsetenv("JOURNAL_STREAM");
    ts_rmtree(dir);
    free(dir);
    free(out_path);
}

/* The whole captured stderr, NUL-terminated; the caller frees it. */
static char *captured(void)
{
    FILE *f = fopen(out_path, "rb");
    char *text;
    long n;

    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    text = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

static int count_lines(const char *text)
{
    int n = 0;

    for (; *text != '\0'; text++)
        n += *text == '\n';
    return n;
}

START_TEST(level_names)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(log_level_parse(names[i]), i);
        ck_assert_str_eq(log_level_name((enum log_level)i), names[i]);
    }
    ck_assert_int_eq(log_level_parse("warning"), -1);
    ck_assert_int_eq(log_level_parse("INFO"), -1);
    ck_assert_int_eq(log_level_parse("info "), -1);
    ck_assert_int_eq(log_level_parse(""), -1);
    ck_assert_int_eq(log_level_parse(NULL), -1);
    ck_assert_str_eq(log_level_name((enum log_level)7), "?");
    ck_assert_str_eq(log_level_name((enum log_level) - 1), "?");
}
END_TEST

static const char line_re[] = "^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
                              "\\.([0-9]{3})Z ([^[ ]+)\\[([0-9]+)\\] ([a-z]+): (.*)$";

/* Splits a stderr line; checks the timestamp lies in [lo, hi] (ms). */
static void parse_line(const char *line, int64_t lo, int64_t hi, const char *ident,
                       const char *level, const char *msg)
{
    regmatch_t m[12];
    regex_t re;
    char field[12][256];
    struct tm tm = {0};
    int64_t at;

    ck_assert_int_eq(regcomp(&re, line_re, REG_EXTENDED | REG_NEWLINE), 0);
    ck_assert_msg(regexec(&re, line, 12, m, 0) == 0, "bad line: %s", line);
    regfree(&re);
    for (int i = 1; i < 12; i++)
        snprintf(field[i], sizeof field[i], "%.*s", (int)(m[i].rm_eo - m[i].rm_so),
                 line + m[i].rm_so);
    tm.tm_year = atoi(field[1]) - 1900;
    tm.tm_mon = atoi(field[2]) - 1;
    tm.tm_mday = atoi(field[3]);
    tm.tm_hour = atoi(field[4]);
    tm.tm_min = atoi(field[5]);
    tm.tm_sec = atoi(field[6]);
    at = (int64_t)timegm(&tm) * 1000 + atoi(field[7]);
    ck_assert_msg(at >= lo && at <= hi, "time %lld not in [%lld, %lld]", (long long)at,
                  (long long)lo, (long long)hi);
    ck_assert_str_eq(field[8], ident);
    ck_assert_int_eq(atoi(field[9]), getpid());
    ck_assert_str_eq(field[10], level);
    ck_assert_str_eq(field[11], msg);
}

START_TEST(stderr_format_and_filter)
{
    int64_t before = clk_utc_ms(), after;
    char *text, *line;

    log_open("halld", LOG_LEVEL_INFO, LOG_TO_STDERR);
    ck_assert_int_eq(log_get_level(), LOG_LEVEL_INFO);
    log_info("hello %d", 42);
    log_debug("hidden");
    log_warn("careful");
    log_error("bad: %s", "x");
    log_set_level(LOG_LEVEL_ERROR);
    ck_assert_int_eq(log_get_level(), LOG_LEVEL_ERROR);
    log_warn("hidden");
    log_info("hidden");
    log_set_level(LOG_LEVEL_DEBUG);
    log_debug("shown");
    log_msg((enum log_level)9, "invalid level");
    after = clk_utc_ms();

    text = captured();
    ck_assert_int_eq(count_lines(text), 4);
    ck_assert_ptr_null(strstr(text, "hidden"));
    line = strtok(text, "\n");
    parse_line(line, before, after, "halld", "info", "hello 42");
    parse_line(strtok(NULL, "\n"), before, after, "halld", "warn", "careful");
    parse_line(strtok(NULL, "\n"), before, after, "halld", "error", "bad: x");
    parse_line(strtok(NULL, "\n"), before, after, "halld", "debug", "shown");
    free(text);
}
END_TEST

START_TEST(null_ident_and_errno)
{
    char *text, want[128];

    log_info("before open");
    log_open(NULL, LOG_LEVEL_INFO, LOG_TO_STDERR);
    errno = EAGAIN;
    log_info("failed: %m");
    ck_assert_int_eq(errno, EAGAIN);
    text = captured();
    snprintf(want, sizeof want, "%s[%d] info: failed: %s\n", program_invocation_short_name,
             (int)getpid(), strerror(EAGAIN));
    ck_assert_msg(strstr(text, want) != NULL, "got: %s", text);
    snprintf(want, sizeof want, "%s[%d] info: before open\n", program_invocation_short_name,
             (int)getpid());
    ck_assert_msg(strstr(text, want) != NULL, "got: %s", text);
    free(text);
}
END_TEST

static void set_journal_stream(int fd, long adjust)
{
    struct stat st;
    char value[64];

    ck_assert_int_eq(fstat(fd, &st), 0);
    snprintf(value, sizeof value, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + (unsigned long long)adjust);
    ck_assert_int_eq(setenv("JOURNAL_STREAM", value, 1), 0);
}

START_TEST(journal_prefixes)
{
    char *text;

    set_journal_stream(STDERR_FILENO, 0);
    log_open("halld", LOG_LEVEL_DEBUG, LOG_TO_STDERR);
    log_error("e %d", 1);
    log_warn("w");
    log_info("i");
    log_debug("d");
    text = captured();
    ck_assert_str_eq(text, "<3>e 1\n<4>w\n<6>i\n<7>d\n");
    free(text);
}
END_TEST

/* A JOURNAL_STREAM that names another file, or is malformed, means stderr
 * was redirected after systemd started us: plain lines. */
START_TEST(journal_stream_mismatch)
{
    static const char *const bogus[] = {"1:1", "abc", "", "12", "1:2:3"};
    char *text;

    set_journal_stream(STDERR_FILENO, 1);
    log_open("halld", LOG_LEVEL_INFO, LOG_TO_STDERR);
    log_info("first");
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        setenv("JOURNAL_STREAM", bogus[i], 1);
        log_open("halld", LOG_LEVEL_INFO, LOG_TO_STDERR);
        log_info("next");
    }
    text = captured();
    ck_assert_int_eq(count_lines(text), 6);
    ck_assert_ptr_null(strstr(text, "<6>"));
    parse_line(strtok(text, "\n"), 0, INT64_MAX, "halld", "info", "first");
    free(text);
}
END_TEST

START_TEST(long_and_multiline)
{
    char *big = malloc(10001), *text, *nl;

    memset(big, 'x', 10000);
    big[10000] = '\0';
    log_open("halld", LOG_LEVEL_INFO, LOG_TO_STDERR);
    log_info("%s", big);
    log_info("a\nb\r\nc");
    /* A device-supplied string with ESC sequences, a bell, DEL, a tab and
     * Chinese text: the control bytes escaped, the text as it is. */
    log_info("firmware %s", "\x1b[2J\x07v1\x7f\t大厅");
    text = captured();
    ck_assert_int_eq(count_lines(text), 3);
    ck_assert_msg(strstr(text, " info: firmware \\x1b[2J\\x07v1\\x7f\\x09大厅\n") != NULL,
                  "got: %s", text);
    ck_assert_ptr_null(strchr(text, 0x1b));
    nl = strchr(text, '\n');
    ck_assert_int_le(nl - text + 1, 2048);
    ck_assert_int_ge(nl - text + 1, 1000);
    ck_assert_int_eq(memcmp(nl - 3, "...", 3), 0);
    ck_assert_ptr_nonnull(strstr(text, " info: xxxxxxxx"));
    ck_assert_msg(strstr(nl + 1, " info: a b  c\n") != NULL, "got: %s", nl + 1);
    free(text);
    free(big);
}
END_TEST

/* Several processes share stderr (O_APPEND, as under a supervisor): every
 * line must arrive whole, so one write(2) per line. */
START_TEST(concurrent_writers_do_not_interleave)
{
    enum { CHILDREN = 4, LINES = 300 };
    char *text, *line, *save = NULL;
    int seen[CHILDREN] = {0};

    log_open("halld", LOG_LEVEL_INFO, LOG_TO_STDERR);
    for (int c = 0; c < CHILDREN; c++) {
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            char pad[600];
            memset(pad, 'a' + c, sizeof pad - 1);
            pad[sizeof pad - 1] = '\0';
            for (int i = 0; i < LINES; i++)
                log_info("child %d line %d %s end", c, i, pad);
            _exit(0);
        }
    }
    for (int c = 0; c < CHILDREN; c++) {
        int status;
        ck_assert_int_gt(wait(&status), 0);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    text = captured();
    ck_assert_int_eq(count_lines(text), CHILDREN * LINES);
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        int c, i, used = 0;
        const char *msg = strstr(line, " info: ");

        ck_assert_msg(msg != NULL, "mangled: %.80s", line);
        ck_assert_msg(sscanf(msg, " info: child %d line %d %n", &c, &i, &used) == 2 && c >= 0 &&
                          c < CHILDREN && i == seen[c],
                      "mangled: %.80s", line);
        seen[c]++;
        ck_assert_uint_eq(strspn(msg + used, (char[]){(char)('a' + c), '\0'}), 599);
        ck_assert_str_eq(msg + used + 599, " end");
    }
    free(text);
}
END_TEST

/* syslog alone writes nothing to stderr; both sinks and reopening work;
 * log_close() falls back to stderr. Whether a syslog daemon listens does
 * not matter. */
START_TEST(syslog_sink)
{
    char *text;

    log_open("test-log", LOG_LEVEL_INFO, LOG_TO_SYSLOG);
    log_info("to syslog only");
    log_open("test-log", LOG_LEVEL_INFO, LOG_TO_SYSLOG | LOG_TO_STDERR);
    log_info("to both");
    log_close();
    log_info("after close");
    text = captured();
    ck_assert_ptr_null(strstr(text, "syslog only"));
    ck_assert_ptr_nonnull(strstr(text, "info: to both\n"));
    ck_assert_ptr_nonnull(strstr(text, "info: after close\n"));
    free(text);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("names");

    tcase_add_test(tc, level_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("stderr");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, redirect_setup, redirect_teardown);
    tcase_add_test(tc, stderr_format_and_filter);
    tcase_add_test(tc, null_ident_and_errno);
    tcase_add_test(tc, journal_prefixes);
    tcase_add_test(tc, journal_stream_mismatch);
    tcase_add_test(tc, long_and_multiline);
    tcase_add_test(tc, concurrent_writers_do_not_interleave);
    tcase_add_test(tc, syslog_sink);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(log_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
