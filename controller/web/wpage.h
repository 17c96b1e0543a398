/*
 * wpage — the files of hallweb's pages (page/), embedded in the binary at
 * build time by firmware/kiosk/embed.cmake: the clerk's caller page
 * (docs/caller.md), the admin page (docs/admin.md), the dashboard and the
 * big screen (docs/dashboard.md). hallweb serves them by GET or HEAD at
 * the paths below, everything else under /api/v1/ being the JSON API.
 *
 *   /             caller.html, the caller page
 *   /caller.css   its style
 *   /caller.js    its script
 *   /caller.svg   its icon
 *   /admin        admin.html, the administrator's page (admin.css, admin.js)
 *   /dashboard    dashboard.html, the manager's dashboard (dashboard.css, .js)
 *   /screen       screen.html, the hall's big screen (screen.css, screen.js)
 *   /web.js       what the pages' scripts share
 *
 * The pages load nothing from another origin and have no inline script or
 * style, so they are answered with a Content-Security-Policy of
 * WPAGE_CSP; every answer is no-store (a page always matches its API).
 */
#ifndef ONEWINDOW_WPAGE_H
#define ONEWINDOW_WPAGE_H

#include <stdbool.h>
#include <stddef.h>

/* The policy of every page: its own files only, never in a frame. */
#define WPAGE_CSP "default-src 'self'; frame-ancestors 'none'"

typedef struct wpage_asset {
    const char *path;          /* as requested: "/", "/caller.css" */
    const char *type;          /* Content-Type, with the charset for text */
    const unsigned char *data; /* the file's bytes */
    size_t len;                /* their number */
} wpage_asset;

/* The file served at path (the path of the URL, without a query), or NULL
 * when there is none. Thread-safe; the asset lives as long as the program. */
const wpage_asset *wpage_find(const char *path);

struct MHD_Connection;

/* Answer a GET or HEAD of an asset on conn: 200 with its bytes (MHD sends
 * none for HEAD) and the headers of docs/caller.md: Content-Type,
 * Cache-Control: no-store, X-Content-Type-Options: nosniff,
 * X-Frame-Options: DENY, Referrer-Policy: no-referrer, WPAGE_CSP, and
 * Strict-Transport-Security when https. Returns libmicrohttpd's
 * MHD_Result (MHD_YES when the answer is queued); call it only from
 * libmicrohttpd's access handler, with no answer queued yet. */
int wpage_queue(struct MHD_Connection *conn, const wpage_asset *a, bool https);

#endif
