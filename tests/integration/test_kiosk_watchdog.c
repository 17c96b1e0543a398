/*
 * test_kiosk_watchdog — kiosk_watchdog: kioskd (simulated devices, the
 * page on a fixed port, [page] hold = 2s) under kioskwatch (watchdog 20 s,
 * kill timeout 2 s) against a real halld.
 *
 *   - kioskd says READY=1 and its page answers;
 *   - SIGKILL: kioskwatch starts a new kioskd, whose page answers;
 *   - SIGSTOP (a hung kioskd): the model request is not answered within
 *     hold_s + 3 s; the page in headless Chromium (kiosk_watchdog.mjs),
 *     opened before, shows the element #out-of-service while kioskd is
 *     still the stopped one (before the watchdog acts); the keep-alives
 *     stop, kioskwatch sends SIGABRT then SIGKILL and starts a new kioskd,
 *     whose page answers;
 *   - SIGTERM to kioskwatch stops kioskd and kioskwatch, status 0.
 * Without node, chromium or playwright-core the browser step is left out
 * (said on stderr); everything else still runs.
 */
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "browserfixture.h"
#include "clk.h"
#include "hallfixture.h"
#include "testsupport.h"

#define WAIT_MS 60000 /* generous: a loaded 2-core machine */
#define HOLD_S  2

struct wfix {
    hallfix hall;
    pid_t watch;
    int page_port;
    char log[1100], ini[1100], sock[1100];
};

/* A port free now, for the page: kioskd must come back on the same one. */
static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* The answer to GET /api/state (malloc'd, "" when none came within the
 * socket's timeout of timeout_s). */
static char *page_state(const struct wfix *x, int timeout_s)
{
    char req[160];
    size_t cap = 1 << 16, used = 0;
    char *out = calloc(1, cap);
    int fd = ts_connect(x->page_port, timeout_s);
    int len = snprintf(req, sizeof req,
                       "GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                       x->page_port);

    ck_assert_ptr_nonnull(out);
    if (fd < 0)
        return out;
    if (send(fd, req, (size_t)len, MSG_NOSIGNAL) == len)
        for (;;) {
            ssize_t n = recv(fd, out + used, cap - used - 1, 0);
            if (n <= 0 || (used += (size_t)n) == cap - 1)
                break;
        }
    close(fd);
    return out;
}

static bool page_answers(const struct wfix *x)
{
    int64_t until = clk_mono_ms() + WAIT_MS;

    while (clk_mono_ms() < until) {
        char *m = page_state(x, 5);
        bool ok = strstr(m, "\"hold_s\":2") != NULL;
        free(m);
        if (ok)
            return true;
        usleep(200 * 1000);
    }
    return false;
}

/* kioskwatch's child now, 0 none. */
static pid_t child_of(pid_t parent)
{
    char path[64], *text;
    long pid = 0;

    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", (long)parent, (long)parent);
    text = ts_slurp(path);
    if (text != NULL)
        pid = strtol(text, NULL, 10);
    free(text);
    return (pid_t)pid;
}

/* A kioskd other than old, that said READY=1 and whose page answers. */
static pid_t new_kioskd(const struct wfix *x, pid_t old)
{
    int64_t until = clk_mono_ms() + WAIT_MS;
    pid_t pid = 0;

    while (clk_mono_ms() < until && ((pid = child_of(x->watch)) == 0 || pid == old))
        usleep(100 * 1000);
    ck_assert_msg(pid != 0 && pid != old, "no new kioskd under kioskwatch");
    char ready[64];
    snprintf(ready, sizeof ready, "pid %ld is ready", (long)pid);
    ck_assert_msg(ts_file_contains(x->log, ready, WAIT_MS), "kioskd %ld sent no READY=1",
                  (long)pid);
    ck_assert_msg(page_answers(x), "the page of kioskd %ld does not answer", (long)pid);
    return pid;
}

START_TEST(test_watchdog)
{
    struct wfix x = {0};
    char text[2048], wd[32], node_log[1100] = "";
    pid_t node = 0;

    fix_init(&x.hall, 1, NULL);
    fix_start(&x.hall);
    x.page_port = free_port();
    snprintf(x.ini, sizeof x.ini, "%s/kioskd.ini", x.hall.dir);
    snprintf(x.log, sizeof x.log, "%s/kioskwatch.log", x.hall.dir);
    snprintf(x.sock, sizeof x.sock, "%s/kioskd.notify", x.hall.dir);
    snprintf(text, sizeof text,
             "[kiosk]\nid = kiosk-01\nlog_level = debug\n"
             "[halld]\naddress = 127.0.0.1:%d\nreconnect_max = 500ms\n"
             "cert = pki/devices/kiosk-01/kiosk-01.crt\nkey = pki/devices/kiosk-01/kiosk-01.key\n"
             "ca = pki/devices/kiosk-01/ca.crt\n"
             "[store]\npath = kiosk.db\n"
             "[idcard]\nsealing_key = pki/devices/kiosk-01/seal.pub\n"
             "[page]\nport = %d\nhold = %ds\n",
             x.hall.port, x.page_port, HOLD_S);
    ts_write_file(x.ini, text);
    snprintf(wd, sizeof wd, "20s");
    const char *argv[] = {KIOSKWATCH_PATH,  "--socket", x.sock,          "--watchdog", wd,
                          "--kill-timeout", "2s",       "--restart-min", "500ms",      "--",
                          KIOSKD_PATH,      "-c",       x.ini,           "--sim",      NULL};
    x.watch = ts_spawn(argv, x.log);
    pid_t k1 = new_kioskd(&x, 0);
    ck_assert_msg(ts_file_contains(x.log, "link to halld up", WAIT_MS), "no link to halld");

    /* Killed: started again. */
    ck_assert_int_eq(kill(k1, SIGKILL), 0);
    pid_t k2 = new_kioskd(&x, k1);

    /* The page, open on the live kiosk. */
    const char *missing = browser_missing();
    if (missing == NULL) {
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", x.page_port);
        snprintf(node_log, sizeof node_log, "%s/node.log", x.hall.dir);
        mkdir(KPAGE_SCREENS_DIR, 0755);
        const char *nargv[] = {NODE_PATH,
                               WATCHDOG_SCRIPT,
                               "--url",
                               url,
                               "--chromium",
                               CHROMIUM_PATH,
                               "--node-modules",
                               KPAGE_NODE_MODULES,
                               "--out",
                               KPAGE_SCREENS_DIR,
                               NULL};
        node = ts_spawn(nargv, node_log);
        ck_assert_msg(ts_file_contains(node_log, "loaded hold_s 2", WAIT_MS * 2), "%s",
                      ts_slurp(node_log));
    } else {
        fprintf(stderr, "kiosk_watchdog: the browser step is left out: %s\n", missing);
    }

    /* Hung: no model within hold_s + 3 s. */
    ck_assert_int_eq(kill(k2, SIGSTOP), 0);
    char *m = page_state(&x, HOLD_S + 3);
    ck_assert_msg(strstr(m, "\"seq\"") == NULL, "a stopped kioskd answered: %s", m);
    free(m);
    bool shown = false;
    if (node > 0) {
        /* Shown before the watchdog acted: kioskd is still the stopped one. */
        shown = ts_file_contains(node_log, "out-of-service", WAIT_MS);
        ck_assert_msg(!shown || child_of(x.watch) == k2,
                      "the page showed out-of-service only after kioskd was restarted");
    }
    ck_assert_msg(ts_file_contains(x.log, "no WATCHDOG=1", WAIT_MS), "the watchdog did not act");
    pid_t k3 = new_kioskd(&x, k2);
    ck_assert_int_ne(k3, k2);
    ck_assert_int_eq(kill(k2, 0), -1); /* the hung one is gone */

    /* Stopped cleanly. */
    ck_assert_int_eq(kill(x.watch, SIGTERM), 0);
    int status = ts_wait(x.watch, WAIT_MS);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "kioskwatch status %d", status);
    ck_assert_int_eq(kill(k3, 0), -1);
    x.watch = 0;

    if (node > 0) {
        status = ts_wait(node, WAIT_MS * 2);
        if (status == -1)
            ts_kill(node);
        char *log = ts_slurp(node_log);
        ck_assert_msg(shown && status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the page did not show #out-of-service for a hung kioskd:\n%s",
                      log ? log : "");
        free(log);
    }
    fix_free(&x.hall);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kiosk_watchdog");
    TCase *tc = tcase_create("watchdog");

    tcase_set_timeout(tc, 500);
    tcase_add_test(tc, test_watchdog);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
