/*
 * The touch page of a real kioskd process under abuse: the real halld
 * (hallfixture), kioskd with the net printer backend at tools/printersim,
 * and a client that is not the kiosk's own page.
 *
 *   test_kiosk_page_abuse flood   (kiosk_page_flood) 1,000 connections to
 *                                 the page from 50 loopback addresses,
 *                                 silent, with half a request, long polls
 *                                 and actions whose bodies never come,
 *                                 held until the page closes a silent one
 *                                 itself, then dropped (half of them with
 *                                 a reset): the page answers GET / and the
 *                                 model afterwards and a ticket is taken
 *                                 and printed.
 *   test_kiosk_page_abuse origin  (kiosk_page_origin) actions from another
 *                                 origin, through another name for the
 *                                 kiosk's address (DNS rebinding), as
 *                                 text/plain and as forms, and CORS
 *                                 preflights: all refused without
 *                                 Access-Control-Allow-*, no ticket in
 *                                 halld, nothing printed. Then in headless
 *                                 Chromium (kiosk_origin.mjs): another
 *                                 site's page and a rebound name try the
 *                                 same and are refused, and the kiosk's own
 *                                 page takes exactly one ticket, which
 *                                 prints. Without node, chromium or
 *                                 playwright-core the browser part is
 *                                 skipped and so is the test (77), after
 *                                 the socket part has run.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "browserfixture.h"
#include "clk.h"
#include "hallfixture.h"
#include "psimfixture.h"
#include "testsupport.h"

#define WAIT_MS 60000 /* generous: a loaded 2-core machine */
#define FLOOD   1000
#define SOURCES 50
#define TAKE    "{\"name\":\"take\",\"param\":\"\"}"

/* Whether the browser part of the origin test runs (main decides). */
static bool with_browser;

typedef struct kx {
    hallfix hall;
    psim printer;
    pid_t kioskd;
    char ini[1100], kiosk_log[1100];
    int page_port;
} kx;

/* Tickets the printer simulator cut, i.e. printed. */
static int printed(const kx *x)
{
    char *out = ts_slurp(x->printer.out);
    int n = 0;

    for (const char *at = out; at != NULL && (at = strstr(at, "---- cut ----")) != NULL; at++)
        n++;
    free(out);
    return n;
}

/* ---- plain HTTP ----------------------------------------------------------- */

/* Send request as it is and read the answer until the page closes (the
 * requests say Connection: close). The answer, malloc'd; "" when the page
 * closed without one. */
static char *exchange(int port, const char *request)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 30};
    size_t cap = 1 << 17, used = 0, len = strlen(request);
    char *out = calloc(1, cap);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_ptr_nonnull(out);
    ck_assert_int_ge(fd, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, request + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* a page that refuses early may close first */
        off += (size_t)n;
    }
    for (;;) {
        ssize_t n = recv(fd, out + used, cap - used - 1, 0);
        if (n <= 0 || (used += (size_t)n) == cap - 1)
            break;
    }
    close(fd);
    return out;
}

static int status_of(const char *answer)
{
    return strncmp(answer, "HTTP/1.", 7) == 0 && strlen(answer) > 12 ? atoi(answer + 9) : 0;
}

static const char *body_of(const char *answer)
{
    const char *sep = strstr(answer, "\r\n\r\n");
    return sep != NULL ? sep + 4 : "";
}

/* A request the kiosk's own page would make: its Host, JSON. */
static char *own(kx *x, const char *method, const char *path, const char *body)
{
    char req[1024];

    snprintf(req, sizeof req,
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             method, path, x->page_port, body != NULL ? strlen(body) : 0, body != NULL ? body : "");
    return exchange(x->page_port, req);
}

/* Wait until the model contains every one of the NULL-terminated needles;
 * the last model (malloc'd). Fails the test after WAIT_MS. */
static char *wait_model(kx *x, const char *needle, ...)
{
    int64_t until = clk_mono_ms() + WAIT_MS;

    for (;;) {
        char *a = own(x, "GET", "/api/state", NULL);
        bool all = status_of(a) == 200;
        va_list ap;

        va_start(ap, needle);
        for (const char *n = needle; n != NULL && all; n = va_arg(ap, const char *))
            all = strstr(body_of(a), n) != NULL;
        va_end(ap);
        if (all)
            return a;
        ck_assert_msg(clk_mono_ms() < until, "the model never had %s: %s", needle, a);
        free(a);
        usleep(200 * 1000);
    }
}

/* ---- the hall, the printer, kioskd ----------------------------------------- */

static void all_up(kx *x)
{
    char text[4096];

    memset(x, 0, sizeof *x);
    fix_init(&x->hall, 1, NULL);
    fix_start(&x->hall);
    psim_start(&x->printer, NULL);
    snprintf(x->ini, sizeof x->ini, "%s/kioskd.ini", x->hall.dir);
    snprintf(text, sizeof text,
             "[kiosk]\nid = kiosk-01\nlog_level = debug\n"
             "[halld]\naddress = 127.0.0.1:%d\nreconnect_max = 500ms\n"
             "cert = pki/devices/kiosk-01/kiosk-01.crt\nkey = pki/devices/kiosk-01/kiosk-01.key\n"
             "ca = pki/devices/kiosk-01/ca.crt\n"
             "[store]\npath = kiosk.db\n"
             "[flow]\nrequest_timeout = 30s\n"
             "[printer]\nbackend = net\naddress = 127.0.0.1:%d\npoll = 200ms\n"
             "[idcard]\nbackend = sim\nhall_secret_file = pki/devices/kiosk-01/secret.key\n"
             "[page]\nport = 0\n",
             x->hall.port, x->printer.port);
    ts_write_file(x->ini, text);
    snprintf(x->kiosk_log, sizeof x->kiosk_log, "%s/kioskd.log", x->hall.dir);
    const char *argv[] = {KIOSKD_PATH, "-c", x->ini, NULL};
    x->kioskd = ts_spawn(argv, x->kiosk_log);
    ck_assert_msg(ts_file_contains(x->kiosk_log, "touch page on http://", WAIT_MS),
                  "kioskd did not start");
    x->page_port = ts_log_port(x->kiosk_log, "touch page on http://127.0.0.1:");
    ck_assert_int_gt(x->page_port, 0);
    ck_assert_msg(ts_file_contains(x->kiosk_log, "link to halld up", WAIT_MS),
                  "kioskd did not reach halld");
    /* Online, with the hall's areas and a printer: a take asks halld. */
    free(wait_model(x, "\"link\":\"online\"", "\"printer\":\"ok\"", "\"code\":", NULL));
}

static void all_down(kx *x)
{
    if (x->kioskd > 0) {
        kill(x->kioskd, SIGTERM);
        int status = ts_wait(x->kioskd, WAIT_MS);
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "kioskd did not stop cleanly (status %d)", status);
    }
    psim_stop(&x->printer);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&x->hall)), 0);
    fix_free(&x->hall);
}

/* 一键取号 as the kiosk's own page sends it; the number the ticket screen
 * shows, which must come out of the printer. */
static void take_ticket(kx *x, char *number, size_t cap)
{
    char *a = own(x, "POST", "/api/action", TAKE), *m;
    const char *at;

    ck_assert_msg(status_of(a) == 200 && strstr(body_of(a), "\"ok\":true") != NULL,
                  "the take was refused: %s", a);
    free(a);
    m = wait_model(x, "\"screen\":\"ticket\"", NULL);
    at = strstr(body_of(m), "\"number\":\"");
    ck_assert_msg(at != NULL, "no number on the ticket screen: %s", m);
    at += strlen("\"number\":\"");
    size_t n = strcspn(at, "\"");
    ck_assert_uint_lt(n, cap);
    memcpy(number, at, n);
    number[n] = '\0';
    free(m);
    psim_wait_out(&x->printer, number);
}

/* ---- kiosk_page_flood ------------------------------------------------------- */

/* A non-blocking connection to the page from 127.0.0.(10 + i % SOURCES). */
static int open_from(int port, int i)
{
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    ck_assert_int_ge(fd, 0);
    from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 9 + (uint32_t)(i % SOURCES));
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&from, sizeof from), 0);
    to.sin_port = htons((uint16_t)port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(connect(fd, (struct sockaddr *)&to, sizeof to) == 0 || errno == EINPROGRESS);
    return fd;
}

enum flood_kind { SILENT, HALF_REQUEST, LONG_POLL, BODY_NEVER_COMES, KINDS };

/* What each kind of connection says once it is connected. */
static int flood_request(char *out, size_t cap, enum flood_kind kind, int port, const char *seq)
{
    switch (kind) {
    case SILENT:
        return 0;
    case HALF_REQUEST:
        return snprintf(out, cap, "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: sl", port);
    case LONG_POLL:
        return snprintf(out, cap, "GET /api/state?after=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                        seq, port);
    case BODY_NEVER_COMES:
    case KINDS:
        break;
    }
    return snprintf(out, cap,
                    "POST /api/action HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                    "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":",
                    port);
}

/* Whether the page closed fd (EOF or a reset), reading what it sent. */
static bool closed_by_page(int fd)
{
    char b[4096];

    for (;;) {
        ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (n > 0)
            continue;
        return n == 0 || errno != EAGAIN;
    }
}

START_TEST(flood)
{
    static int fd[FLOOD];
    static bool said[FLOOD];
    char seq[32], req[512], number[32];
    bool silent_closed = false;
    int64_t until;
    kx x;

    all_up(&x);
    char *m = own(&x, "GET", "/api/state", NULL);
    const char *at = strstr(body_of(m), "\"seq\":");
    ck_assert_ptr_nonnull(at);
    snprintf(seq, sizeof seq, "%lld", atoll(at + 6));
    free(m);

    /* Open. The page takes what it may; the rest waits in the kernel's
     * queue or is closed at once. */
    for (int i = 0; i < FLOOD; i++) {
        fd[i] = open_from(x.page_port, i);
        said[i] = false;
    }
    /* Hold: say each connection's piece once it is connected, and keep
     * them all until the page closes a silent one itself (its idle
     * timeout), which needs the page to go on serving while it is full;
     * at most for a while longer than that timeout. */
    until = clk_mono_ms() + 40000;
    while (!silent_closed && clk_mono_ms() < until) {
        struct pollfd p[FLOOD];
        for (int i = 0; i < FLOOD; i++)
            p[i] = (struct pollfd){.fd = fd[i], .events = said[i] ? POLLIN : POLLOUT};
        ck_assert_int_ge(poll(p, FLOOD, 200), 0);
        for (int i = 0; i < FLOOD; i++) {
            enum flood_kind kind = (enum flood_kind)(i % KINDS);
            if (!said[i] && (p[i].revents & POLLOUT)) {
                int n = flood_request(req, sizeof req, kind, x.page_port, seq);
                said[i] = n == 0 || send(fd[i], req, (size_t)n, MSG_NOSIGNAL) == n;
            } else if (said[i] && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
                       closed_by_page(fd[i]) && kind == SILENT) {
                silent_closed = true;
            }
        }
    }
    /* Drop: half of them closed, half reset. */
    for (int i = 0; i < FLOOD; i++) {
        if (i % 2 == 1) {
            struct linger reset = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd[i], SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        }
        close(fd[i]);
    }

    /* The page answers again: the page, the model, an action. */
    until = clk_mono_ms() + WAIT_MS;
    for (;;) {
        char *a = own(&x, "GET", "/", NULL);
        int status = status_of(a);
        bool page = status == 200 && strstr(body_of(a), "<script src=\"/page.js\"") != NULL;
        free(a);
        if (page)
            break;
        ck_assert_msg(clk_mono_ms() < until, "the page does not answer after the flood (%d)",
                      status);
        usleep(200 * 1000);
    }
    free(wait_model(&x, "\"screen\":\"idle\"", "\"link\":\"online\"", NULL));
    ck_assert_int_eq(printed(&x), 0);
    take_ticket(&x, number, sizeof number);
    ck_assert_int_eq(printed(&x), 1);
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT count(*) FROM tickets"), 1);
    /* The connections it took and that said nothing were closed by the
     * page itself, [page] limits' idle timeout. */
    ck_assert_msg(silent_closed, "no silent connection was closed by the page");
    all_down(&x);
}
END_TEST

/* ---- kiosk_page_origin -------------------------------------------------------- */

typedef struct attack {
    const char *what;
    const char *method, *path;
    const char *host; /* the name in Host; NULL: 127.0.0.1 */
    int port;         /* the port in Host: 0 the page's, -1 none */
    const char *headers;
    const char *body;
    int status;
} attack;

/* Send a and check it was refused as the page refuses: its status, a JSON
 * sentence, no CORS grant, and no model leaked. */
static void refused(kx *x, const attack *a)
{
    char host[128], req[2048], *answer;

    if (a->port < 0)
        snprintf(host, sizeof host, "%s", a->host != NULL ? a->host : "127.0.0.1");
    else
        snprintf(host, sizeof host, "%s:%d", a->host != NULL ? a->host : "127.0.0.1",
                 a->port != 0 ? a->port : x->page_port);
    snprintf(req, sizeof req,
             "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s",
             a->method, a->path, host, a->headers, a->body != NULL ? strlen(a->body) : 0,
             a->body != NULL ? a->body : "");
    answer = exchange(x->page_port, req);
    ck_assert_msg(status_of(answer) == a->status, "%s: wanted %d, got: %s", a->what, a->status,
                  answer);
    ck_assert_msg(strstr(answer, "Content-Type: application/json") != NULL &&
                      strstr(body_of(answer), "\"ok\":false,\"error\":\"") != NULL,
                  "%s: no JSON sentence: %s", a->what, answer);
    ck_assert_msg(strstr(answer, "Access-Control-Allow") == NULL, "%s: CORS granted: %s", a->what,
                  answer);
    ck_assert_msg(strstr(body_of(answer), "\"seq\"") == NULL, "%s: the model leaked", a->what);
    free(answer);
}

START_TEST(origin)
{
    static const attack attacks[] = {
        {"another site's JSON action", "POST", "/api/action", NULL, 0,
         "Origin: http://evil.example\r\nContent-Type: application/json\r\n", TAKE, 403},
        {"another site's text/plain action (a no-cors fetch)", "POST", "/api/action", NULL, 0,
         "Origin: http://evil.example\r\nContent-Type: text/plain;charset=UTF-8\r\n", TAKE, 403},
        {"another site's form", "POST", "/api/action", NULL, 0,
         "Origin: http://evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\n",
         "name=take&param=", 403},
        {"a sandboxed page (Origin: null)", "POST", "/api/action", NULL, 0,
         "Origin: null\r\nContent-Type: application/json\r\n", TAKE, 403},
        {"another port of this machine", "POST", "/api/action", NULL, 0,
         "Origin: http://127.0.0.1:1\r\nContent-Type: application/json\r\n", TAKE, 403},
        {"a CORS preflight", "OPTIONS", "/api/action", NULL, 0,
         "Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n"
         "Access-Control-Request-Headers: content-type\r\n",
         NULL, 403},
        {"text/plain without an Origin", "POST", "/api/action", NULL, 0,
         "Content-Type: text/plain\r\n", TAKE, 415},
        {"a form without an Origin", "POST", "/api/action", NULL, 0,
         "Content-Type: application/x-www-form-urlencoded\r\n", "name=take&param=", 415},
        {"a multipart form", "POST", "/api/action", NULL, 0,
         "Content-Type: multipart/form-data; boundary=b\r\n",
         "--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ntake\r\n--b--\r\n", 415},
        {"an action without a type", "POST", "/api/action", NULL, 0, "", TAKE, 415},
        {"DNS rebinding: an action", "POST", "/api/action", "evil.example", 0,
         "Origin: http://evil.example:1\r\nContent-Type: application/json\r\n", TAKE, 403},
        {"DNS rebinding: same-origin to the rebound name", "POST", "/api/action", "evil.example", 0,
         "Content-Type: application/json\r\n", TAKE, 403},
        {"DNS rebinding: the model", "GET", "/api/state", "evil.example", 0, "", NULL, 403},
        {"DNS rebinding: the page", "GET", "/", "evil.example", 0, "", NULL, 403},
        {"the kiosk's address on another port", "GET", "/api/state", NULL, 1, "", NULL, 403},
        {"the kiosk's address without the port", "GET", "/api/state", NULL, -1, "", NULL, 403},
    };
    char number[32];
    kx x;

    all_up(&x);
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++)
        refused(&x, &attacks[i]);
    /* Nothing happened: the kiosk waits at its start, halld issued
     * nothing, the printer printed nothing. */
    free(wait_model(&x, "\"screen\":\"idle\"", NULL));
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT count(*) FROM tickets"), 0);
    ck_assert_int_eq(printed(&x), 0);

    if (with_browser) {
        /* Another site, a rebound name, then the kiosk's own page: one
         * ticket, the one its page showed, printed once. */
        browser_ticket(ORIGIN_SCRIPT, x.page_port, x.hall.dir, number, sizeof number);
        ck_assert_int_eq(fix_db_int(&x.hall, "SELECT count(*) FROM tickets"), 1);
        psim_wait_out(&x.printer, number);
        ck_assert_int_eq(printed(&x), 1);
    } else {
        /* The kiosk's own way in still works. */
        take_ticket(&x, number, sizeof number);
        ck_assert_int_eq(printed(&x), 1);
    }
    all_down(&x);
}
END_TEST

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    bool is_flood = strcmp(which, "flood") == 0;

    if (!is_flood && strcmp(which, "origin") != 0) {
        fprintf(stderr, "usage: %s flood|origin\n", argv[0]);
        return 2;
    }
    with_browser = !is_flood && browser_missing() == NULL;
    Suite *s = suite_create(which);
    TCase *tc = tcase_create("kiosk page abuse");

    signal(SIGPIPE, SIG_IGN);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, is_flood ? flood : origin);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed == 0 && !is_flood && !with_browser) {
        printf("kiosk_page_origin: the socket part passed; the browser part skipped: %s\n",
               browser_missing());
        return 77;
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
