/*
 * test_demo — the README's main job, tools/demo, run the way a user runs it
 * but on this build's binaries, in a scratch hall, on free ports and for a
 * short day (demo_smoke): it must end by itself with status 0, the kiosks
 * must have printed tickets, halld must have called and finished some,
 * and nothing it started may be left running. Run twice on the same hall,
 * the second run reuses it. Both runs are on the demo's injected hall
 * clock, which never goes back for a hall. hallday_bad_input drives the day driver
 * against a kiosk that is not there and with bad options: a clear line per
 * failure, the day goes on, the summary counts the errors.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue.h"
#include "testsupport.h"

#define DEMO_MS (10 * 60 * 1000) /* generous: a loaded 2-core machine, sanitizers */

/* Occurrences of needle in text. */
static int count(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The number after "key " in hallday's summary line; -1 if absent. */
static int summary_field(const char *log, const char *key)
{
    const char *line = strstr(log, "hallday: summary:");
    char pattern[64];

    if (line == NULL)
        return -1;
    snprintf(pattern, sizeof pattern, "%s ", key);
    const char *at = strstr(line, pattern);
    return at ? atoi(at + strlen(pattern)) : -1;
}

/* The summary's "N issued" and "N not issued". */
static void summary_issued(const char *log, int *issued, int *not_issued)
{
    const char *line = strstr(log, "hallday: summary:");
    const char *at = line ? strstr(line, " citizens: ") : NULL;
    const char *no = line ? strstr(line, " not issued") : NULL;

    *issued = at ? atoi(at + strlen(" citizens: ")) : -1;
    *not_issued = -1;
    if (no != NULL) {
        while (no > line && no[-1] >= '0' && no[-1] <= '9')
            no--;
        *not_issued = atoi(no);
    }
}

/* Processes whose command line mentions path (the demo's hall): every
 * process the demo starts is given a path inside it. */
static int running_under(const char *path)
{
    DIR *proc = opendir("/proc");
    struct dirent *e;
    int found = 0;

    ck_assert_ptr_nonnull(proc);
    while ((e = readdir(proc)) != NULL) {
        char file[300], cmd[8192];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(file, sizeof file, "/proc/%s/cmdline", e->d_name);
        int fd = open(file, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, cmd, sizeof cmd - 1);
        close(fd);
        if (n <= 0)
            continue;
        for (ssize_t i = 0; i < n; i++)
            cmd[i] = cmd[i] == '\0' ? ' ' : cmd[i];
        cmd[n] = '\0';
        if (strstr(cmd, path) != NULL) {
            fprintf(stderr, "left running: pid %s: %s\n", e->d_name, cmd);
            found++;
        }
    }
    closedir(proc);
    return found;
}

/* One integer from halld's store (-1 without a row or for NULL). */
static long long db_value(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;

    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Tickets of halld's store that match where. */
static int tickets_in(const char *db_path, const char *where)
{
    char sql[256];

    snprintf(sql, sizeof sql, "SELECT count(*) FROM tickets WHERE %s", where);
    return (int)db_value(db_path, sql);
}

/* One run of the demo on hall; its output in log. */
static void run_demo(const char *hall, const char *log, const char *seed)
{
    const char *argv[] = {"/bin/bash",    DEMO_PATH,    "--no-install", "--no-build",
                          "--build-dir",  BUILD_DIR,    "--hall-dir",   hall,
                          "--free-ports", "--duration", "25",           "--speed",
                          "60",           "--seed",     seed,           NULL};
    pid_t pid = ts_spawn(argv, log);
    int status = ts_wait(pid, DEMO_MS);

    if (status == -1) {
        ts_kill(pid);
        ck_abort_msg("the demo did not stop by itself; see %s", log);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the demo ended with status %d; see %s", status, log);
}

/* What one run must leave: tickets printed, called and finished, every
 * process stopped. */
static void check_run(const char *hall, const char *log_path)
{
    char *log = ts_slurp(log_path);
    char *p1 = ts_slurp(ts_path(hall, "printer-1.txt"));
    char *p2 = ts_slurp(ts_path(hall, "printer-2.txt"));
    int issued, not_issued, cuts = count(p1, "---- cut ----") + count(p2, "---- cut ----");

    fputs(log, stderr);
    ck_assert_msg(strstr(log, "Ctrl-C stops everything") != NULL, "no start banner");
    summary_issued(log, &issued, &not_issued);
    ck_assert_msg(issued > 0, "no ticket issued");
    /* Every ticket the citizens saw was printed once; a request that gave
     * up waiting may have printed too. */
    ck_assert_msg(cuts >= issued && cuts <= issued + not_issued, "%d tickets printed, %d issued",
                  cuts, issued);
    ck_assert_int_gt(summary_field(log, "called"), 0);
    ck_assert_int_gt(summary_field(log, "finished"), 0);
    ck_assert_int_eq(running_under(hall), 0);
    /* halld and the kiosks ran on the demo's clock, and said so. */
    char *halld_log = ts_slurp(ts_path(hall, "logs/halld.log"));
    char *kiosk_log = ts_slurp(ts_path(hall, "logs/kiosk-1.log"));
    ck_assert_msg(strstr(halld_log, "clock: NOT the system clock") != NULL &&
                      strstr(kiosk_log, "clock: NOT the system clock") != NULL,
                  "halld or kiosk-1 not on the demo's clock");
    free(halld_log);
    free(kiosk_log);
    free(p1);
    free(p2);
    free(log);
}

START_TEST(test_demo_smoke)
{
    char *tmp = ts_tmpdir("demo");
    char hall[1024], log1[1100], log2[1100], where[128];

    snprintf(hall, sizeof hall, "%s/hall", tmp);
    snprintf(log1, sizeof log1, "%s/demo-1.log", tmp);
    snprintf(log2, sizeof log2, "%s/demo-2.log", tmp);

    run_demo(hall, log1, "11");
    check_run(hall, log1);
    char *first = ts_slurp(log1);
    ck_assert_msg(strstr(first, "making the demo hall") != NULL, "the first run made no hall");
    free(first);
    snprintf(where, sizeof where, "state = %d", Q_DONE);
    int done1 = tickets_in(ts_path(hall, "hall.db"), where);
    ck_assert_int_gt(done1, 0);
    snprintf(where, sizeof where, "state IN (%d, %d, %d)", Q_CALLED, Q_SERVING, Q_DONE);
    ck_assert_int_ge(tickets_in(ts_path(hall, "hall.db"), where), done1);
    /* Window 5's clerk signs in late (hallday --incidents) in a hall whose
     * calendar says it is open: supervision raised clerk_absent for it. */
    ck_assert_int_gt(db_value(ts_path(hall, "hall.db"),
                              "SELECT count(*) FROM alerts WHERE rule = 'clerk_absent' AND "
                              "window_no = 5"),
                     0);
    /* The manager's and the big screen's secrets were made once. */
    ck_assert_int_eq(access(ts_path(hall, "manager.password"), R_OK), 0);
    ck_assert_int_eq(access(ts_path(hall, "screen.token"), R_OK), 0);
    /* Window 5's clerk worked through the web layer: signed in there (an
     * audit event of the gateway), and its window events are the user's. */
    ck_assert_int_gt(db_value(ts_path(hall, "hall.db"),
                              "SELECT count(*) FROM events WHERE device = 'web-1' AND detail LIKE "
                              "'web: signed in as clerk%'"),
                     0);
    ck_assert_int_gt(db_value(ts_path(hall, "hall.db"),
                              "SELECT count(*) FROM events WHERE device = 'web:clerk5' AND "
                              "window_no = 5"),
                     0);
    long long last_id = db_value(ts_path(hall, "hall.db"), "SELECT max(id) FROM tickets");
    long long last_issued =
        db_value(ts_path(hall, "hall.db"), "SELECT max(issued_ms) FROM tickets");

    /* The same hall again: reused, not made anew, and the day goes on
     * from where the first one stopped. */
    ck_assert_int_eq(truncate(ts_path(hall, "printer-1.txt"), 0), 0);
    ck_assert_int_eq(truncate(ts_path(hall, "printer-2.txt"), 0), 0);
    run_demo(hall, log2, "12");
    check_run(hall, log2);
    char *second = ts_slurp(log2);
    ck_assert_msg(strstr(second, "making the demo hall") == NULL, "the second run made a hall");
    free(second);
    snprintf(where, sizeof where, "state = %d", Q_DONE);
    ck_assert_int_gt(tickets_in(ts_path(hall, "hall.db"), where), done1);
    /* The second day's tickets come after the first's on the hall clock. */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT min(issued_ms) FROM tickets WHERE id > %lld", last_id);
    long long first_issued = db_value(ts_path(hall, "hall.db"), sql);
    ck_assert_int_gt(first_issued, 0);
    ck_assert_msg(first_issued >= last_issued,
                  "the second run issued at %lld, before the first run's last ticket (%lld)",
                  first_issued, last_issued);

    ts_rmtree(tmp);
    free(tmp);
}
END_TEST

/* A loopback port nothing listens on (bound, never listening). */
static int dead_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;

    *fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(*fd, 0);
    ck_assert_int_eq(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static int run_hallday(const char *const argv[], const char *log)
{
    pid_t pid = ts_spawn(argv, log);
    int status = ts_wait(pid, 60000);

    if (status == -1) {
        ts_kill(pid);
        ck_abort_msg("hallday did not stop; see %s", log);
    }
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

START_TEST(test_hallday_bad_input)
{
    char *tmp = ts_tmpdir("hallday");
    char url[64], log[1100];
    int fd, port = dead_port(&fd);

    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/hallday.log", tmp);

    /* A kiosk that does not answer: one line per citizen, and the day
     * goes on to its end and its summary. */
    const char *dead[] = {
        HALLDAY_PATH, "--kiosk", url, "--windows",  "",  "--rate",    "600",          "--speed",
        "60",         "--seed",  "5", "--duration", "4", "--pattern", "morning_peak", NULL};
    ck_assert_int_eq(run_hallday(dead, log), 0);
    char *out = ts_slurp(log);
    fputs(out, stderr);
    ck_assert_msg(count(out, "kiosk-1 does not answer") >= 2, "no line for the dead kiosk");
    ck_assert_msg(strstr(out, "(morning_peak)") != NULL, "the pattern is not named");
    const char *sum = strstr(out, "hallday: summary:");
    ck_assert_msg(sum != NULL, "no summary");
    ck_assert_int_eq(summary_field(out, "finished"), 0);
    ck_assert_int_ge(atoi(strrchr(sum, ';') + 2), 2); /* "; N errors" */
    free(out);

    /* Bad usage: exit 2, and a sentence. */
    const char *none[] = {HALLDAY_PATH, "--windows", "", NULL};
    ck_assert_int_eq(run_hallday(none, log), 2);
    const char *bad_url[] = {HALLDAY_PATH, "--kiosk", "ftp://x", NULL};
    ck_assert_int_eq(run_hallday(bad_url, log), 2);
    const char *bad_speed[] = {HALLDAY_PATH, "--kiosk", url, "--windows", "", "--speed", "0", NULL};
    ck_assert_int_eq(run_hallday(bad_speed, log), 2);
    const char *bad_win[] = {HALLDAY_PATH, "--kiosk", url, "--windows", "1,x", NULL};
    ck_assert_int_eq(run_hallday(bad_win, log), 2);
    const char *bad_pattern[] = {HALLDAY_PATH, "--kiosk",   url,       "--windows",
                                 "",           "--pattern", "tuesday", NULL};
    ck_assert_int_eq(run_hallday(bad_pattern, log), 2);
    const char *bad_hang[] = {HALLDAY_PATH,  "--kiosk", url,       "--windows", "",
                              "--incidents", "--hang",  "kiosk-2", NULL};
    ck_assert_int_eq(run_hallday(bad_hang, log), 2);
    const char *bad_printer[] = {HALLDAY_PATH, "--kiosk",   url,           "--windows", "",
                                 "--printer",  "localhost", "--incidents", NULL};
    ck_assert_int_eq(run_hallday(bad_printer, log), 2);
    /* Windows need someone to drive them. */
    const char *no_clerks[] = {HALLDAY_PATH, "--kiosk", url, NULL};
    ck_assert_int_eq(run_hallday(no_clerks, log), 2);
    /* A hall configuration that does not exist cannot start the day. */
    const char *no_hall[] = {HALLDAY_PATH, "--kiosk", url, "--hall", "/nonexistent/halld.ini",
                             NULL};
    ck_assert_int_eq(run_hallday(no_hall, log), 1);
    out = ts_slurp(log);
    ck_assert_msg(strstr(out, "--speed 0") != NULL && strstr(out, "--windows 1,x") != NULL &&
                      strstr(out, "--hang kiosk-2: expected a process id") != NULL &&
                      strstr(out, "--printer localhost: expected HOST:PORT") != NULL,
                  "bad options are not named");
    free(out);

    /* The demo script refuses an unknown option. */
    const char *demo_bad[] = {"/bin/bash", DEMO_PATH, "--bogus", NULL};
    ck_assert_int_eq(run_hallday(demo_bad, log), 2);

    close(fd);
    ts_rmtree(tmp);
    free(tmp);
}
END_TEST

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    Suite *s = suite_create("demo");
    TCase *tc = tcase_create(which);

    tcase_set_timeout(tc, 2 * DEMO_MS / 1000 + 60);
    if (strcmp(which, "smoke") == 0)
        tcase_add_test(tc, test_demo_smoke);
    else if (strcmp(which, "hallday") == 0)
        tcase_add_test(tc, test_hallday_bad_input);
    else {
        fprintf(stderr, "usage: test_demo smoke|hallday\n");
        return EXIT_FAILURE;
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
