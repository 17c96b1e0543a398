/*
 * browserfixture — see browserfixture.h. The paths of node, chromium, the
 * node modules and the screenshot directory come from CMake.
 */
#include "browserfixture.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testsupport.h"

const char *browser_missing(void)
{
    static char why[512];

    if (NODE_PATH[0] == '\0' || access(NODE_PATH, X_OK) != 0)
        return "node is not installed (Debian package nodejs)";
    if (CHROMIUM_PATH[0] == '\0' || access(CHROMIUM_PATH, X_OK) != 0)
        return "chromium is not installed (Debian package chromium)";
    if (access(KPAGE_NODE_MODULES "/playwright-core/package.json", R_OK) != 0) {
        snprintf(why, sizeof why,
                 "playwright-core is not installed in %s (run tools/install-page-deps on the "
                 "build directory)",
                 KPAGE_NODE_MODULES);
        return why;
    }
    return NULL;
}

void browser_ticket(const char *script, int page_port, const char *log_dir, char *number,
                    size_t cap)
{
    char url[64], out[1100];
    const char *name = strrchr(script, '/') != NULL ? strrchr(script, '/') + 1 : script;

    snprintf(url, sizeof url, "http://127.0.0.1:%d/", page_port);
    snprintf(out, sizeof out, "%s/node.log", log_dir);
    mkdir(KPAGE_SCREENS_DIR, 0755);
    const char *argv[] = {NODE_PATH,
                          script,
                          "--url",
                          url,
                          "--chromium",
                          CHROMIUM_PATH,
                          "--node-modules",
                          KPAGE_NODE_MODULES,
                          "--out",
                          KPAGE_SCREENS_DIR,
                          NULL};
    pid_t pid = ts_spawn(argv, out);
    int status = ts_wait(pid, 240000);
    char *log = ts_slurp(out);
    if (status == -1)
        ts_kill(pid);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "%s failed (status %d):\n%s", name, status, log ? log : "");
    const char *at = log != NULL ? strstr(log, "ticket ") : NULL;
    ck_assert_msg(at != NULL, "%s printed no ticket:\n%s", name, log ? log : "");
    size_t n = strcspn(at + 7, "\r\n");
    ck_assert_uint_lt(n, cap);
    memcpy(number, at + 7, n);
    number[n] = '\0';
    free(log);
}

int browser_test_main(const char *name, const TTest *test, int timeout_s)
{
    const char *why = browser_missing();

    if (why != NULL) {
        printf("%s skipped: %s\n", name, why);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("chromium");
    tcase_set_timeout(tc, timeout_s);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
