/*
 * browserfixture — the kiosk page's browser scripts (kiosk_*.mjs) as the
 * integration tests run them: node with playwright-core driving the
 * Debian chromium headless, screenshots kept in the build directory.
 */
#ifndef ONEWINDOW_BROWSERFIXTURE_H
#define ONEWINDOW_BROWSERFIXTURE_H

#include <stddef.h>

/* What running a script needs and this machine lacks, as a sentence for
 * the skip message; NULL when node, chromium and playwright-core are all
 * there. */
const char *browser_missing(void);

/* Run script against the page on 127.0.0.1:page_port, its output logged
 * to log_dir/node.log. The script must exit 0 and print "ticket NUMBER":
 * the number goes to number (cap bytes). Fails the test otherwise. */
void browser_ticket(const char *script, int page_port, const char *log_dir, char *number,
                    size_t cap);

#endif
