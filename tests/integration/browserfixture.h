/*
 * browserfixture — the kiosk page's browser scripts (kiosk_*.mjs) as the
 * integration tests run them: node with playwright-core driving the
 * Debian chromium headless, screenshots kept in the build directory.
 */
#ifndef ONEWINDOW_BROWSERFIXTURE_H
#define ONEWINDOW_BROWSERFIXTURE_H

#include <check.h>
#include <stddef.h>

/* What running a script needs and this machine lacks, as a sentence for
 * the skip message; NULL when node, chromium and playwright-core are all
 * there. */
const char *browser_missing(void);

/* The main() of a test whose one Check test drives a page in the browser:
 * exit 77 (CTest's skip) with a line naming the test and what is missing
 * when browser_missing() says so; else run test (SIGPIPE ignored, at most
 * timeout_s) and exit 0 if it passed. */
int browser_test_main(const char *name, const TTest *test, int timeout_s);

/* Run script against the page on 127.0.0.1:page_port, its output logged
 * to log_dir/node.log. The script must exit 0 and print "ticket NUMBER":
 * the number goes to number (cap bytes). Fails the test otherwise. */
void browser_ticket(const char *script, int page_port, const char *log_dir, char *number,
                    size_t cap);

#endif
