/*
 * wpage — see wpage.h. The table of files, then the answer that serves one.
 *
 * embed.cmake gives each file two symbols, its bytes and their length; a
 * length is a variable of another translation unit, not a constant, so
 * the table's lengths are filled in once, on the first look-up
 * (pthread_once: hallweb answers on several threads).
 */
#include "wpage.h"

#include <microhttpd.h>
#include <pthread.h>
#include <string.h>

/* The pages, embedded at build time by embed.cmake (wpage_assets.c). */
extern const unsigned char wpage_asset_caller_html[];
extern const size_t wpage_asset_caller_html_len;
extern const unsigned char wpage_asset_caller_css[];
extern const size_t wpage_asset_caller_css_len;
extern const unsigned char wpage_asset_caller_js[];
extern const size_t wpage_asset_caller_js_len;
extern const unsigned char wpage_asset_caller_svg[];
extern const size_t wpage_asset_caller_svg_len;
extern const unsigned char wpage_asset_admin_html[];
extern const size_t wpage_asset_admin_html_len;
extern const unsigned char wpage_asset_admin_css[];
extern const size_t wpage_asset_admin_css_len;
extern const unsigned char wpage_asset_admin_js[];
extern const size_t wpage_asset_admin_js_len;
extern const unsigned char wpage_asset_web_js[];
extern const size_t wpage_asset_web_js_len;
extern const unsigned char wpage_asset_dashboard_html[];
extern const size_t wpage_asset_dashboard_html_len;
extern const unsigned char wpage_asset_dashboard_css[];
extern const size_t wpage_asset_dashboard_css_len;
extern const unsigned char wpage_asset_dashboard_js[];
extern const size_t wpage_asset_dashboard_js_len;
extern const unsigned char wpage_asset_screen_html[];
extern const size_t wpage_asset_screen_html_len;
extern const unsigned char wpage_asset_screen_css[];
extern const size_t wpage_asset_screen_css_len;
extern const unsigned char wpage_asset_screen_js[];
extern const size_t wpage_asset_screen_js_len;

static wpage_asset assets[] = {
    {"/", "text/html; charset=utf-8", wpage_asset_caller_html, 0},
    {"/caller.css", "text/css; charset=utf-8", wpage_asset_caller_css, 0},
    {"/caller.js", "text/javascript; charset=utf-8", wpage_asset_caller_js, 0},
    {"/caller.svg", "image/svg+xml", wpage_asset_caller_svg, 0},
    {"/admin", "text/html; charset=utf-8", wpage_asset_admin_html, 0},
    {"/admin.css", "text/css; charset=utf-8", wpage_asset_admin_css, 0},
    {"/admin.js", "text/javascript; charset=utf-8", wpage_asset_admin_js, 0},
    {"/web.js", "text/javascript; charset=utf-8", wpage_asset_web_js, 0},
    {"/dashboard", "text/html; charset=utf-8", wpage_asset_dashboard_html, 0},
    {"/dashboard.css", "text/css; charset=utf-8", wpage_asset_dashboard_css, 0},
    {"/dashboard.js", "text/javascript; charset=utf-8", wpage_asset_dashboard_js, 0},
    {"/screen", "text/html; charset=utf-8", wpage_asset_screen_html, 0},
    {"/screen.css", "text/css; charset=utf-8", wpage_asset_screen_css, 0},
    {"/screen.js", "text/javascript; charset=utf-8", wpage_asset_screen_js, 0},
};
#define NASSETS (sizeof assets / sizeof assets[0])

static pthread_once_t lengths_once = PTHREAD_ONCE_INIT;

static void fill_lengths(void)
{
    assets[0].len = wpage_asset_caller_html_len;
    assets[1].len = wpage_asset_caller_css_len;
    assets[2].len = wpage_asset_caller_js_len;
    assets[3].len = wpage_asset_caller_svg_len;
    assets[4].len = wpage_asset_admin_html_len;
    assets[5].len = wpage_asset_admin_css_len;
    assets[6].len = wpage_asset_admin_js_len;
    assets[7].len = wpage_asset_web_js_len;
    assets[8].len = wpage_asset_dashboard_html_len;
    assets[9].len = wpage_asset_dashboard_css_len;
    assets[10].len = wpage_asset_dashboard_js_len;
    assets[11].len = wpage_asset_screen_html_len;
    assets[12].len = wpage_asset_screen_css_len;
    assets[13].len = wpage_asset_screen_js_len;
}

const wpage_asset *wpage_find(const char *path)
{
    if (path == NULL)
        return NULL;
    pthread_once(&lengths_once, fill_lengths);
    for (size_t i = 0; i < NASSETS; i++)
        if (strcmp(assets[i].path, path) == 0)
            return &assets[i];
    return NULL;
}

/* MHD_create_response_from_buffer() takes a non-const pointer, but with
 * MHD_RESPMEM_PERSISTENT it only reads the bytes, which live as long as
 * the program. */
static void *unconst(const void *p)
{
    union {
        const void *c;
        void *m;
    } u = {.c = p};
    return u.m;
}

int wpage_queue(struct MHD_Connection *conn, const wpage_asset *a, bool https)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;

    if (conn == NULL || a == NULL)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(a->len, unconst(a->data), MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type) != MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
        MHD_add_response_header(resp, "X-Frame-Options", "DENY") != MHD_YES ||
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") != MHD_YES ||
        MHD_add_response_header(resp, "Content-Security-Policy", WPAGE_CSP) != MHD_YES ||
        (https && MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000") !=
                      MHD_YES)) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return rc;
}
