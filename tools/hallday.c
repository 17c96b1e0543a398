/*
 * hallday — a scripted day in the simulated hall, for the demo (tools/demo)
 * and its test. It plays the citizens and the clerks through the hall's
 * real interfaces only:
 *
 *   - citizens at the kiosks: the touch page's JSON API (POST /api/action,
 *     GET /api/state, plain HTTP/1.1 on loopback) and, for a card swipe,
 *     the ID card reader simulator's control port (place / remove);
 *   - clerks at the windows: the call-pads and rating pads of the bus
 *     simulator's control port (press ADDR next/start/finish, rate ADDR
 *     LEVEL) when --bus is given; otherwise halld itself through devlink,
 *     as the window terminals win-N of the hall (--hall). With --hall, a
 *     window an earlier run left paused or with a visit open is set right
 *     (resumed, the visit finished) before the day starts;
 *   - clerks on the web: the windows of --web-windows through hallweb's
 *     JSON API (--web), signed in as a web user, as the caller page does.
 *
 * The day is pseudo-random from --seed: citizens arrive as a Poisson
 * process of --rate an hour of hall time, shaped over the day by
 * --pattern (controller/scenario.h: flat, morning_peak, lunch_dip; the
 * simulation of the backtest plays the same ones); most take the one-tap number,
 * some swipe their ID card, a few choose an area. A clerk calls the next
 * ticket, serves it for a while, finishes and the citizen rates the visit.
 * With --incidents the day also has what the hall's supervision
 * (docs/supervision.md) is there to see: a clerk's break that runs long,
 * a clerk who leaves an open window without calling, a long visit now and
 * then, a web window's clerk who signs in late and later signs out for a
 * while, the printer of --printer running low on paper and then out, and
 * the kiosk of --hang (its process id) hanging for a minute of real time
 * (SIGSTOP, then SIGCONT); with a morning peak (--pattern morning_peak)
 * and the ratings' few 不满意, every rule fires at least once in a day.
 *
 * One line is printed per event, stamped with the hall time ("09:03 window
 * 2 calls A005"); a summary is printed at the end (--duration, SIGINT or
 * SIGTERM).
 *
 * Hall time is the hall clock of clk.h. When the hall of --hall runs on an
 * injected clock ([clock] in its halld.ini, as the demo sets it for halld
 * and the kiosks), hallday runs on the same one, so its lines, the tickets
 * and the board agree; otherwise on its own, from now at --speed.
 *
 * Whatever does not answer or refuses (a kiosk, a reader, halld) gives one
 * line and the day goes on. The file is laid out as: options and the
 * random source; line-protocol control ports; HTTP to the kiosks; the
 * citizens; the clerks (bus, devlink or the web API); the board view; main.
 *
 * Exit status: 0 at the end of the day, 1 when it cannot start, 2 for bad
 * usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "devlink.h"
#include "halld_conf.h"
#include "net.h"
#include "scenario.h"

#define KIOSKS_MAX    8
#define WINDOWS_MAX   16
#define IO_MS         5000  /* one request or control line */
#define TICKET_MS     20000 /* from the citizen's tap to the ticket screen */
#define BUS_WAIT_MS   5000  /* a press until the displays show its effect */
#define ANSWER_MAX    (1 << 20)
#define MINUTE_MS     60000
#define NAP_MAX_MS    200
#define LINK_WAIT_MS  10000
#define CARD_GAP_MS   1500 /* a card off the reader longer than its poll (500 ms) */
#define CARD_SHARE    0.20 /* of the citizens at a kiosk with a reader */
#define AREA_SHARE    0.10
#define BOARD_DEFAULT 10 /* seconds between two board lines */

static volatile sig_atomic_t stopping;

static void on_stop(int signo)
{
    (void)signo;
    stopping = 1;
}

/* ------------------------------------------------------------------------
 * Options and the random source
 */

/* A line-protocol control port (bussim, idreadersim): one command a line,
 * each reply ending with a line that starts "ok" or "error". The
 * connection is kept and made again after a failure. */
struct ctl {
    char host[256];
    int port;
    int fd;
};

struct kiosk {
    char name[16]; /* kiosk-1, ... in --kiosk order */
    char host[256];
    int port;
    struct ctl reader;
    bool has_reader;
    int64_t card_off_mono; /* when the last card left the reader */
};

/* A clerk at a window:
 *
 *     FREE --call-next answered with a ticket--> CALLED --start--> SERVING
 *       ^  --queue empty / window closed: try again later--> FREE    |
 *       +---------------------- finish, rating ---------------------+
 *
 * and, with --incidents, from FREE and back to it when due: BREAK (the
 * window paused), IDLE (open, not calling), AWAY (signed out; web
 * windows); a web window starts LATE (not signed in) instead of FREE.
 */
enum clerk {
    CLERK_FREE,
    CLERK_CALLED,
    CLERK_SERVING,
    CLERK_BREAK,
    CLERK_IDLE,
    CLERK_AWAY,
    CLERK_LATE
};

struct window {
    uint32_t no;
    enum clerk state;
    char number[32];
    uint64_t ticket_id; /* devlink only */
    int64_t due_ms;     /* hall time of the clerk's next step */
    devlink *link;      /* devlink only: the window terminal win-N */
    bool web;           /* through hallweb's API (--web-windows) */
    bool closed_said;
    /* --incidents: hall time (since the opening) of the clerk's break,
     * idle spell and time away; 0 once it happened or when none */
    int64_t break_at, idle_at, away_at;
};

/* --incidents on the printer of --printer: what its control port is told,
 * and when (hall minutes after the opening, drawn within these bounds). */
static const struct printer_incident {
    const char *line, *says;
    double from_min, to_min;
} printer_incidents[] = {
    {"paper near-end", "the printer of kiosk-1 runs low on paper", 45, 90},
    {"paper ok", "the printer of kiosk-1 has a new roll", 110, 130},
    {"paper out", "the printer of kiosk-1 is out of paper", 150, 240},
    {"paper ok", "the printer of kiosk-1 is given paper again", 250, 260},
};
#define PRINTER_INCIDENTS (sizeof printer_incidents / sizeof printer_incidents[0])
#define HANG_REAL_MS      75000 /* a hung kiosk: past critical at 6 missed 10 s heartbeats */

struct counts {
    unsigned arrived, issued, one_tap, card, area, offline, not_issued;
    unsigned called, finished, rated, rating_sum, errors;
};

struct day {
    uint64_t seed;
    scen_rng rng;
    const scen_pattern *pattern;
    double rate, speed;
    int duration_s, board_s;
    struct kiosk kiosk[KIOSKS_MAX];
    size_t nkiosks, nreaders;
    struct window window[WINDOWS_MAX];
    size_t nwindows;
    struct ctl bus;
    bool use_bus;
    bool use_halld;
    halld_contact halld; /* tool identity and address, from --hall */
    struct {
        char host[256];
        int port;
        char user[40], password[160];
        char session[64], csrf[64]; /* once signed in */
        uint64_t presses;           /* for the Idempotency-Key of each press */
    } web;
    char devices_dir[PATH_MAX];
    bool ratings_refused;
    int64_t mono0;     /* real time of the opening, for --duration and --board */
    int64_t opened_ms; /* hall time of the opening */
    clk_source clock;  /* the hall's clock, from --hall's [clock] */
    clk_zone *zone;    /* the hall's zone (--hall), else UTC */
    int64_t next_arrival_ms;
    int64_t next_board_mono;
    struct counts n;
    bool incidents;
    struct ctl printer; /* --printer: the control port of kiosk-1's printer simulator */
    int64_t printer_at[PRINTER_INCIDENTS];
    size_t printer_next;
    pid_t hang_pid;                 /* --hang */
    int64_t hang_at, hang_end_mono; /* hall time of the hang; real time of its end */
};

static uint64_t rng_next(struct day *d)
{
    return scen_next(&d->rng);
}

/* Uniform in [0, 1). */
static double rng_unit(struct day *d)
{
    return scen_unit(&d->rng);
}

/* Uniform in [lo, hi] minutes, in milliseconds. */
static int64_t rng_minutes(struct day *d, double lo, double hi)
{
    return (int64_t)((lo + (hi - lo) * rng_unit(d)) * MINUTE_MS);
}

/* Mostly 5 and 4, sometimes lower. */
static unsigned rating_level(struct day *d)
{
    double u = rng_unit(d);
    return u < 0.70 ? 5 : u < 0.90 ? 4 : u < 0.96 ? 3 : u < 0.99 ? 2 : 1;
}

/* Hall time since the opening, in milliseconds. */
static int64_t hall_ms(const struct day *d)
{
    return clk_utc_ms() - d->opened_ms;
}

/* "HH:MM" of a hall time, in the hall's zone. */
static void hall_clock(const struct day *d, int64_t utc_ms, char *out, size_t cap)
{
    clk_civil c;

    clk_to_civil(d->zone, utc_ms, &c);
    snprintf(out, cap, "%02d:%02d", c.hour, c.minute);
}

static void nap_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&t, NULL);
}

/* One event line, stamped with the hall time. */
static void say(const struct day *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct day *d, const char *fmt, ...)
{
    char when[16];
    va_list ap;

    hall_clock(d, clk_utc_ms(), when, sizeof when);
    printf("%s ", when);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* ------------------------------------------------------------------------
 * Sockets with deadlines
 */

/* A TCP connection to host:port, non-blocking, made within timeout_ms.
 * -1 with a reason in err. */
static int dial(const char *host, int port, int timeout_ms, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char service[16];
    int fd = -1, rc;

    snprintf(service, sizeof service, "%d", port);
    if ((rc = getaddrinfo(host, service, &hints, &ai)) != 0) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)) {
        snprintf(err, errlen, "%s:%d: %s", host, port, strerror(errno));
        goto fail;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int so = 0;
    socklen_t len = sizeof so;
    if ((rc = poll(&p, 1, timeout_ms)) <= 0) {
        snprintf(err, errlen, "%s:%d: %s", host, port, rc == 0 ? "no answer" : strerror(errno));
        goto fail;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len) < 0 || so != 0) {
        snprintf(err, errlen, "%s:%d: %s", host, port, strerror(so ? so : errno));
        goto fail;
    }
    freeaddrinfo(ai);
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return -1;
}

/* Wait until fd is ready for events or deadline (monotonic ms) passes; a
 * signal that stops the day ends the wait. */
static int wait_fd(int fd, short events, int64_t deadline, char *err, size_t errlen)
{
    for (;;) {
        int64_t left = deadline - clk_mono_ms();
        struct pollfd p = {.fd = fd, .events = events};

        if (stopping) {
            snprintf(err, errlen, "stopped");
            return -1;
        }
        if (left <= 0) {
            snprintf(err, errlen, "no answer in time");
            return -1;
        }
        int rc = poll(&p, 1, (int)(left > NAP_MAX_MS ? NAP_MAX_MS : left));
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR) {
            snprintf(err, errlen, "%s", strerror(errno));
            return -1;
        }
    }
}

static int send_all(int fd, const char *data, size_t len, int64_t deadline, char *err,
                    size_t errlen)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(err, errlen, "%s", strerror(errno));
            return -1;
        } else if (wait_fd(fd, POLLOUT, deadline, err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Control ports
 */

static void ctl_init(struct ctl *c)
{
    c->host[0] = '\0';
    c->port = 0;
    c->fd = -1;
}

static void ctl_close(struct ctl *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Send one command line and collect the reply into out (its lines, the
 * final ok/error line last). 0 for ok, 1 for error, -1 when the port does
 * not answer (reason in out; the connection is made again next time). */
static int ctl_cmd(struct ctl *c, const char *cmd, char *out, size_t cap)
{
    int64_t deadline = clk_mono_ms() + IO_MS;
    char line[1024];
    size_t used = 0, have = 0;

    out[0] = '\0';
    if (c->fd < 0 && (c->fd = dial(c->host, c->port, IO_MS, out, cap)) < 0)
        return -1;
    snprintf(line, sizeof line, "%s\n", cmd);
    if (send_all(c->fd, line, strlen(line), deadline, out, cap) < 0)
        goto broken;
    for (;;) {
        char *nl = memchr(line, '\n', have);
        if (nl != NULL) {
            size_t len = (size_t)(nl - line) + 1;
            bool last = strncmp(line, "ok", 2) == 0 || strncmp(line, "error", 5) == 0;
            if (used + len < cap) {
                memcpy(out + used, line, len);
                used += len;
                out[used] = '\0';
            }
            memmove(line, line + len, have - len);
            have -= len;
            if (last)
                return strncmp(out + used - len, "ok", 2) == 0 ? 0 : 1;
            continue;
        }
        if (have == sizeof line - 1) /* a line longer than any reply: drop it */
            have = 0;
        ssize_t n = recv(c->fd, line + have, sizeof line - 1 - have, 0);
        if (n > 0) {
            have += (size_t)n;
        } else if (n == 0) {
            snprintf(out, cap, "the control port closed the connection");
            goto broken;
        } else if (errno != EAGAIN && errno != EINTR) {
            snprintf(out, cap, "%s", strerror(errno));
            goto broken;
        } else if (wait_fd(c->fd, POLLIN, deadline, out, cap) < 0) {
            goto broken;
        }
    }
broken:
    ctl_close(c);
    return -1;
}

/* ------------------------------------------------------------------------
 * HTTP to the kiosks' touch pages
 */

/* One HTTP/1.1 exchange (Connection: close) with host:port, with more
 * header lines (each ending in CRLF, may be NULL). The body of the answer,
 * NUL-terminated, is the caller's (free()); the session cookie it set, if
 * any, in set_session (may be NULL); NULL with a reason in err when the
 * server does not answer or the answer is not HTTP. */
static char *http_to(const char *host, int port, const char *method, const char *path,
                     const char *headers, const char *body, int timeout_ms, int *status,
                     char *set_session, size_t setlen, char *err, size_t errlen)
{
    int64_t deadline = clk_mono_ms() + timeout_ms;
    size_t blen = body ? strlen(body) : 0, used = 0, cap = 4096;
    char head[1024];
    char *in = NULL;
    int fd = dial(host, port, IO_MS, err, errlen);

    if (fd < 0)
        return NULL;
    snprintf(head, sizeof head,
             "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n%s"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             method, path, host, port, headers ? headers : "", blen);
    if (send_all(fd, head, strlen(head), deadline, err, errlen) < 0 ||
        send_all(fd, body ? body : "", blen, deadline, err, errlen) < 0)
        goto fail;
    if ((in = malloc(cap)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (;;) {
        if (used + 1 == cap) {
            char *bigger = cap < ANSWER_MAX ? realloc(in, cap * 2) : NULL;
            if (bigger == NULL) {
                snprintf(err, errlen, "answer too large");
                goto fail;
            }
            in = bigger;
            cap *= 2;
        }
        ssize_t n = recv(fd, in + used, cap - 1 - used, 0);
        if (n > 0)
            used += (size_t)n;
        else if (n == 0)
            break;
        else if (errno != EAGAIN && errno != EINTR) {
            snprintf(err, errlen, "%s", strerror(errno));
            goto fail;
        } else if (wait_fd(fd, POLLIN, deadline, err, errlen) < 0) {
            goto fail;
        }
    }
    close(fd);
    in[used] = '\0';
    char *end = strstr(in, "\r\n\r\n");
    if (strncmp(in, "HTTP/1.", 7) != 0 || used < 12 || end == NULL) {
        snprintf(err, errlen, "not an HTTP answer");
        free(in);
        return NULL;
    }
    *status = atoi(in + 9);
    if (set_session != NULL) {
        const char *c = strcasestr(in, "\r\nSet-Cookie: ow_session=");
        *end = '\0';
        set_session[0] = '\0';
        if (c != NULL) {
            c += strlen("\r\nSet-Cookie: ow_session=");
            snprintf(set_session, setlen, "%.*s", (int)strcspn(c, ";\r\n"), c);
        }
    }
    memmove(in, end + 4, used - (size_t)(end + 4 - in) + 1);
    return in;
fail:
    free(in);
    close(fd);
    return NULL;
}

static char *http(const struct kiosk *k, const char *method, const char *path, const char *body,
                  int timeout_ms, int *status, char *err, size_t errlen)
{
    return http_to(k->host, k->port, method, path, NULL, body, timeout_ms, status, NULL, 0, err,
                   errlen);
}

/* The kiosk's screen model, once it is newer than after (0: at once).
 * NULL with a reason in err. */
static json_t *kiosk_state(const struct kiosk *k, json_int_t after, int timeout_ms, char *err,
                           size_t errlen)
{
    char path[64];
    int status = 0;
    json_error_t jerr;

    if (after > 0)
        snprintf(path, sizeof path, "/api/state?after=%" JSON_INTEGER_FORMAT, after);
    else
        snprintf(path, sizeof path, "/api/state");
    char *body = http(k, "GET", path, NULL, timeout_ms, &status, err, errlen);
    if (body == NULL)
        return NULL;
    json_t *m = status == 200 ? json_loads(body, 0, &jerr) : NULL;
    if (status != 200)
        snprintf(err, errlen, "GET %s answered %d", path, status);
    else if (m == NULL || !json_is_object(m))
        snprintf(err, errlen, "GET %s: not a JSON object", path);
    free(body);
    if (m != NULL && !json_is_object(m)) {
        json_decref(m);
        return NULL;
    }
    return m;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* A citizen's action on the page. 0 if taken; -1 with the kiosk's
 * sentence (or why it could not be asked) in err. */
static int kiosk_action(const struct kiosk *k, const char *name, const char *param, char *err,
                        size_t errlen)
{
    json_t *req = json_pack("{s:s,s:s}", "name", name, "param", param);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    int status = 0, rc = -1;
    json_error_t jerr;

    json_decref(req);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *body = http(k, "POST", "/api/action", text, IO_MS, &status, err, errlen);
    free(text);
    if (body == NULL)
        return -1;
    json_t *a = json_loads(body, 0, &jerr);
    if (json_is_true(json_object_get(a, "ok")))
        rc = 0;
    else if (json_string_value(json_object_get(a, "error")) != NULL)
        snprintf(err, errlen, "%s", jstr(a, "error"));
    else
        snprintf(err, errlen, "%s %s: answered %d", name, param, status);
    json_decref(a);
    free(body);
    return rc;
}

/* ------------------------------------------------------------------------
 * Citizens
 */

enum how { BY_TAP, BY_CARD, BY_AREA };

/* A code of a non-general area from the model, "" if there is none. */
static const char *pick_area(struct day *d, const json_t *model)
{
    const json_t *areas = json_object_get(model, "areas");
    size_t n = json_array_size(areas), choices = 0;

    for (size_t i = 0; i < n; i++)
        choices += !json_is_true(json_object_get(json_array_get(areas, i), "general"));
    if (choices == 0)
        return "";
    size_t want = (size_t)(rng_unit(d) * (double)choices);
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(areas, i);
        if (json_is_true(json_object_get(a, "general")))
            continue;
        if (want-- == 0)
            return jstr(a, "code");
    }
    return "";
}

/* Wait for the screen that ends the citizen's request: the ticket, an
 * error or the closed screen. The model is the caller's; NULL (reason in
 * err) when none came within TICKET_MS. */
static json_t *await_outcome(const struct kiosk *k, json_int_t seq, char *err, size_t errlen)
{
    int64_t deadline = clk_mono_ms() + TICKET_MS;

    while (clk_mono_ms() < deadline && !stopping) {
        json_t *m = kiosk_state(k, seq, (int)(deadline - clk_mono_ms()), err, errlen);
        if (m == NULL)
            return NULL;
        const char *screen = jstr(m, "screen");
        if (strcmp(screen, "ticket") == 0 || strcmp(screen, "error") == 0 ||
            strcmp(screen, "closed") == 0)
            return m;
        seq = json_integer_value(json_object_get(m, "seq"));
        json_decref(m);
    }
    snprintf(err, errlen, "no ticket within %d s", TICKET_MS / 1000);
    return NULL;
}

static void not_issued(struct day *d, const struct kiosk *k, const char *why)
{
    d->n.not_issued++;
    say(d, "%s no ticket: %s", k->name, why);
}

/* One citizen at a kiosk, from the first tap to taking the ticket. */
static void citizen(struct day *d)
{
    struct kiosk *k = &d->kiosk[rng_next(d) % d->nkiosks];
    double u = rng_unit(d);
    enum how how = k->has_reader && u < CARD_SHARE                  ? BY_CARD
                   : u >= CARD_SHARE && u < CARD_SHARE + AREA_SHARE ? BY_AREA
                                                                    : BY_TAP;
    char err[512], reply[1024];
    const char *area = "";
    json_t *m = NULL, *out = NULL;

    d->n.arrived++;
    if ((m = kiosk_state(k, 0, IO_MS, err, sizeof err)) == NULL) {
        d->n.errors++;
        say(d, "%s does not answer (%s); the citizen goes to the help desk", k->name, err);
        return;
    }
    const char *screen = jstr(m, "screen");
    if (strcmp(screen, "closed") == 0) {
        not_issued(d, k, *jstr(m, "message") ? jstr(m, "message") : "the kiosk is closed");
        goto done;
    }
    /* The previous citizen may have walked away from a screen. */
    if (strcmp(screen, "idle") != 0 &&
        kiosk_action(k, strcmp(screen, "ticket") == 0 ? "done" : "back", "", err, sizeof err) < 0)
        say(d, "%s: could not return to the start: %s", k->name, err);
    json_int_t seq = json_integer_value(json_object_get(m, "seq"));
    int rc;
    if (how == BY_CARD) {
        rc = kiosk_action(k, "card", "", err, sizeof err);
        /* The reader reports a card once per presentation: the previous
         * card must have been seen gone. */
        int64_t gap = k->card_off_mono + CARD_GAP_MS - clk_mono_ms();
        if (gap > 0)
            nap_ms((long)gap);
        if (rc == 0 && ctl_cmd(&k->reader, "place valid", reply, sizeof reply) != 0) {
            d->n.errors++;
            say(d, "%s: the card reader simulator does not take the card: %s", k->name, reply);
            kiosk_action(k, "back", "", err, sizeof err);
            goto done;
        }
    } else if (how == BY_AREA) {
        area = pick_area(d, m);
        rc = kiosk_action(k, "start", "", err, sizeof err);
        if (rc == 0)
            rc = kiosk_action(k, "take", area, err, sizeof err);
    } else {
        rc = kiosk_action(k, "take", "", err, sizeof err);
    }
    if (rc < 0) {
        not_issued(d, k, err);
        goto done;
    }
    if ((out = await_outcome(k, seq, err, sizeof err)) == NULL) {
        not_issued(d, k, err);
    } else if (strcmp(jstr(out, "screen"), "ticket") != 0) {
        not_issued(d, k, *jstr(out, "message") ? jstr(out, "message") : jstr(out, "screen"));
    } else {
        const json_t *t = json_object_get(out, "ticket");
        bool offline = json_is_true(json_object_get(t, "offline"));
        d->n.issued++;
        d->n.offline += offline;
        if (how == BY_CARD) {
            d->n.card++;
            say(d, "%s %s issued (card %s)%s", k->name, jstr(t, "number"), jstr(t, "masked_name"),
                offline ? ", offline" : "");
        } else if (how == BY_AREA) {
            d->n.area++;
            say(d, "%s %s issued (%s)%s", k->name, jstr(t, "number"),
                *jstr(t, "area_name") ? jstr(t, "area_name") : area, offline ? ", offline" : "");
        } else {
            d->n.one_tap++;
            say(d, "%s %s issued (一键取号)%s", k->name, jstr(t, "number"),
                offline ? ", offline" : "");
        }
        kiosk_action(k, "done", "", err, sizeof err);
    }
    if (out != NULL && strcmp(jstr(out, "screen"), "error") == 0)
        kiosk_action(k, "back", "", err, sizeof err);
    if (how == BY_CARD && ctl_cmd(&k->reader, "remove", reply, sizeof reply) != 0)
        say(d, "%s: the card reader simulator: %s", k->name, reply);
    if (how == BY_CARD)
        k->card_off_mono = clk_mono_ms();
done:
    json_decref(out);
    json_decref(m);
}

/* ------------------------------------------------------------------------
 * Clerks through the bus: call-pads 40+N, window displays 10+N, rating
 * pads 70+N (the device list the demo gives bussim and the bus master).
 */

/* What window N's devices show, from one `show` of the bus simulator. */
struct padview {
    char shown[32];   /* the window display's number, "(blank)" */
    char pad[32];     /* the call-pad's ticket: "-", "EMPTY" after a refused call */
    unsigned waiting; /* the call-pad's waiting count */
    bool prompt;      /* the rating pad asks for a rating */
};

static void token_after(const char *text, const char *prefix, char *out, size_t cap)
{
    const char *at = strstr(text, prefix);

    out[0] = '\0';
    if (at != NULL) {
        at += strlen(prefix);
        snprintf(out, cap, "%.*s", (int)strcspn(at, " \n"), at);
    }
}

static bool bus_view(struct day *d, uint32_t no, struct padview *v)
{
    char view[8192], prefix[48], waiting[16];

    if (ctl_cmd(&d->bus, "show", view, sizeof view) != 0)
        return false;
    snprintf(prefix, sizeof prefix, "window %u: ", no);
    token_after(view, prefix, v->shown, sizeof v->shown);
    snprintf(prefix, sizeof prefix, "callpad %u: ticket ", no);
    token_after(view, prefix, v->pad, sizeof v->pad);
    const char *line = strstr(view, prefix);
    token_after(line ? line : "", " waiting ", waiting, sizeof waiting);
    v->waiting = (unsigned)strtoul(waiting, NULL, 10);
    snprintf(prefix, sizeof prefix, "rating %u: prompt ", no);
    v->prompt = strstr(view, prefix) != NULL;
    return true;
}

static int bus_press(struct day *d, const struct window *w, const char *key)
{
    char cmd[64], reply[512];

    snprintf(cmd, sizeof cmd, "press %u %s", 40 + w->no, key);
    if (ctl_cmd(&d->bus, cmd, reply, sizeof reply) == 0)
        return 0;
    d->n.errors++;
    say(d, "window %u: the call-pad did not take %s: %s", w->no, key, strtok(reply, "\n"));
    return -1;
}

/* Press call-next when the call-pad says someone waits for the window,
 * and read the number the window display then shows. */
static bool bus_call(struct day *d, struct window *w)
{
    struct padview before, now;
    int64_t deadline = clk_mono_ms() + BUS_WAIT_MS;

    if (!bus_view(d, w->no, &before))
        return false;
    if (before.waiting == 0 || bus_press(d, w, "next") < 0)
        return false;
    while (clk_mono_ms() < deadline && !stopping) {
        nap_ms(100);
        if (!bus_view(d, w->no, &now))
            continue;
        if (strcmp(now.shown, before.shown) != 0 && strcmp(now.shown, "(blank)") != 0) {
            snprintf(w->number, sizeof w->number, "%s", now.shown);
            return true;
        }
        if (strcmp(now.pad, "EMPTY") == 0 && strcmp(before.pad, "EMPTY") != 0)
            return false; /* refused: the queue emptied meanwhile */
    }
    return false;
}

/* Press finish; the bus master then puts a prompt on the rating pad, which
 * the citizen answers. */
static void bus_finish(struct day *d, struct window *w, unsigned level)
{
    char cmd[64], reply[512];
    int64_t deadline = clk_mono_ms() + BUS_WAIT_MS;
    struct padview v;

    if (bus_press(d, w, "finish") < 0)
        return;
    d->n.finished++;
    while (clk_mono_ms() < deadline && !stopping) {
        nap_ms(100);
        if (!bus_view(d, w->no, &v) || !v.prompt)
            continue;
        snprintf(cmd, sizeof cmd, "rate %u %u", 70 + w->no, level);
        if (ctl_cmd(&d->bus, cmd, reply, sizeof reply) == 0) {
            d->n.rated++;
            d->n.rating_sum += level;
            say(d, "window %u finished %s, rated %u", w->no, w->number, level);
            return;
        }
    }
    say(d, "window %u finished %s (the rating pad showed no prompt)", w->no, w->number);
}

/* ------------------------------------------------------------------------
 * Clerks through halld: the window terminals win-N over devlink
 */

/* win-N's link, made (TLS with its bundle, HELLO) if there is none. */
static devlink *win_link(struct day *d, struct window *w)
{
    char id[16], cert[PATH_MAX + 96], key[PATH_MAX + 96], ca[PATH_MAX + 96];
    char err[DEVLINK_ERR_LEN];

    if (w->link != NULL)
        return w->link;
    snprintf(id, sizeof id, "win-%u", w->no);
    snprintf(cert, sizeof cert, "%s/%s/%s.crt", d->devices_dir, id, id);
    snprintf(key, sizeof key, "%s/%s/%s.key", d->devices_dir, id, id);
    snprintf(ca, sizeof ca, "%s/%s/ca.crt", d->devices_dir, id);
    devlink *l = devlink_open(d->halld.host, d->halld.port, cert, key, ca, LINK_WAIT_MS, err);
    if (l == NULL) {
        say(d, "window %u cannot reach halld: %s", w->no, err);
        return NULL;
    }
    Hall__Envelope *r =
        devlink_hello(l, id, HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, w->no, LINK_WAIT_MS, err);
    if (r == NULL || r->body_case != HALL__ENVELOPE__BODY_HELLO_REPLY) {
        say(d, "window %u: halld refused %s: %s", w->no, id,
            r == NULL ? err
                      : (r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?"));
        proto_free(r);
        devlink_close(l);
        return NULL;
    }
    proto_free(r);
    /* Request ids must not repeat for a device within a day. */
    devlink_set_next_id(l, (uint64_t)clk_system_utc_ms() * 1000);
    return w->link = l;
}

/* Send req as win-N; the answer, or NULL (the link is then made again at
 * the next request). */
static Hall__Envelope *win_ask(struct day *d, struct window *w, Hall__Envelope *req)
{
    char err[DEVLINK_ERR_LEN];
    devlink *l = win_link(d, w);

    if (l == NULL) {
        d->n.errors++;
        return NULL;
    }
    Hall__Envelope *r = devlink_call(l, req, LINK_WAIT_MS, err);
    if (r == NULL) {
        d->n.errors++;
        say(d, "window %u: no answer from halld: %s", w->no, err);
        devlink_close(w->link);
        w->link = NULL;
    }
    return r;
}

static const char *refusal(const Hall__Envelope *r)
{
    return r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message
                                                      : proto_body_name(r->body_case);
}

/* Open a paused window again; 0 if halld agreed. */
static int resume(struct day *d, struct window *w)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__ResumeWindow body = HALL__RESUME_WINDOW__INIT;

    body.window_no = w->no;
    env.body_case = HALL__ENVELOPE__BODY_RESUME;
    env.resume = &body;
    Hall__Envelope *r = win_ask(d, w, &env);
    int rc = r != NULL && r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY ? 0 : -1;
    proto_free(r);
    return rc;
}

static bool halld_call(struct day *d, struct window *w)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__CallNext call = HALL__CALL_NEXT__INIT;
    bool called = false;

    call.window_no = w->no;
    env.body_case = HALL__ENVELOPE__BODY_CALL_NEXT;
    env.call_next = &call;
    Hall__Envelope *r = win_ask(d, w, &env);
    if (r == NULL)
        return false;
    if (r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY && r->window_reply->ticket != NULL) {
        snprintf(w->number, sizeof w->number, "%s", r->window_reply->ticket->number);
        w->ticket_id = r->window_reply->ticket->id;
        w->closed_said = false;
        called = true;
    } else if (r->body_case == HALL__ENVELOPE__BODY_ERROR &&
               r->error->code == HALL__ERROR_CODE__ERR_WINDOW_CLOSED) {
        if (!w->closed_said)
            say(d, "window %u: %s; it will try again", w->no, r->error->message);
        w->closed_said = true;
    } else if (r->body_case != HALL__ENVELOPE__BODY_ERROR ||
               r->error->code != HALL__ERROR_CODE__ERR_QUEUE_EMPTY) {
        d->n.errors++;
        say(d, "window %u: halld refused call-next: %s", w->no, refusal(r));
    }
    proto_free(r);
    return called;
}

/* Start or finish the window's ticket; 0 if halld agreed. */
static int halld_step(struct day *d, struct window *w, Hall__Envelope__BodyCase op)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Start start = HALL__START__INIT;
    Hall__Finish finish = HALL__FINISH__INIT;
    int rc = -1;

    env.body_case = op;
    if (op == HALL__ENVELOPE__BODY_START) {
        start.window_no = w->no;
        start.ticket_id = w->ticket_id;
        env.start = &start;
    } else {
        finish.window_no = w->no;
        finish.ticket_id = w->ticket_id;
        env.finish = &finish;
    }
    Hall__Envelope *r = win_ask(d, w, &env);
    if (r == NULL)
        return -1;
    if (r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY) {
        rc = 0;
    } else {
        d->n.errors++;
        say(d, "window %u: halld refused %s of %s: %s", w->no,
            op == HALL__ENVELOPE__BODY_START ? "start" : "finish", w->number, refusal(r));
    }
    proto_free(r);
    return rc;
}

/* Before the day: a window an earlier run left paused opens again, and a
 * visit it left open is finished, so the clerk starts afresh (through the
 * call-pads too, whose bus master only knows the tickets it called). The
 * window's ticket is learnt from a pause and resume: every WINDOW_REPLY
 * carries it, and the pair changes nothing else. */
static void open_window(struct day *d, struct window *w)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__PauseWindow pause = HALL__PAUSE_WINDOW__INIT;

    resume(d, w); /* refused unless the window is paused */
    pause.window_no = w->no;
    env.body_case = HALL__ENVELOPE__BODY_PAUSE;
    env.pause = &pause;
    Hall__Envelope *r = win_ask(d, w, &env);
    if (r == NULL || r->body_case != HALL__ENVELOPE__BODY_WINDOW_REPLY) {
        if (r != NULL)
            say(d, "window %u: %s", w->no, refusal(r));
        proto_free(r);
        return;
    }
    const Hall__Ticket *t = r->window_reply->ticket;
    if (t != NULL) {
        snprintf(w->number, sizeof w->number, "%s", t->number);
        w->ticket_id = t->id;
    }
    bool open = t != NULL, called = open && t->state == HALL__TICKET_STATE__TICKET_CALLED;
    proto_free(r);
    if (resume(d, w) < 0) {
        d->n.errors++;
        say(d, "window %u: halld did not resume it", w->no);
        return;
    }
    if (open && (!called || halld_step(d, w, HALL__ENVELOPE__BODY_START) == 0) &&
        halld_step(d, w, HALL__ENVELOPE__BODY_FINISH) == 0)
        say(d, "window %u finishes %s, left open by an earlier run", w->no, w->number);
}

/* The citizen's rating, sent as the window's rating pad would. A halld
 * that does not take ratings is said once; the day goes on. */
static void halld_rate(struct day *d, struct window *w, unsigned level)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Rating rating = HALL__RATING__INIT;

    rating.ticket_id = w->ticket_id;
    rating.level = level;
    rating.window_no = w->no;
    rating.rated_at_ms = clk_utc_ms();
    env.body_case = HALL__ENVELOPE__BODY_RATING;
    env.rating = &rating;
    Hall__Envelope *r = win_ask(d, w, &env);
    if (r != NULL && r->body_case != HALL__ENVELOPE__BODY_RATING_REPLY && !d->ratings_refused) {
        d->ratings_refused = true;
        say(d, "halld does not record the ratings (%s); they are counted here only", refusal(r));
    }
    proto_free(r);
}

/* ------------------------------------------------------------------------
 * Clerks on the web: hallweb's JSON API (docs/api.md), as the caller page
 */

/* Sign in as --web-user; 0 when a session was given. */
static int web_sign_in(struct day *d)
{
    char err[256], body[400];
    int status = 0;
    json_t *j = json_pack("{s:s,s:s}", "user", d->web.user, "password", d->web.password);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    snprintf(body, sizeof body, "%s", text ? text : "{}");
    free(text);
    char *in = http_to(d->web.host, d->web.port, "POST", "/api/v1/session", NULL, body, IO_MS,
                       &status, d->web.session, sizeof d->web.session, err, sizeof err);
    json_t *a = in ? json_loads(in, 0, NULL) : NULL;
    const char *csrf = json_string_value(json_object_get(a, "csrf_token"));
    int rc = status == 200 && csrf != NULL && d->web.session[0] != '\0' ? 0 : -1;
    if (rc == 0)
        snprintf(d->web.csrf, sizeof d->web.csrf, "%s", csrf);
    else
        say(d, "the web layer refused %s's sign-in: %s", d->web.user, in ? in : err);
    json_decref(a);
    free(in);
    return rc;
}

/* POST /api/v1/windows/N/OP; its answer (200) or NULL after saying why
 * (a queue with nothing waiting is not worth a line). A session that
 * ended is signed in again once; the same press keeps its key. */
static json_t *web_post(struct day *d, struct window *w, const char *op, bool quiet_empty)
{
    char path[64], headers[400], err[256];
    int status = 0;

    if (d->web.session[0] == '\0' && web_sign_in(d) < 0) {
        d->n.errors++;
        return NULL;
    }
    snprintf(path, sizeof path, "/api/v1/windows/%u/%s", w->no, op);
    uint64_t press = ++d->web.presses;
    for (int attempt = 0; attempt < 2; attempt++) {
        snprintf(headers, sizeof headers,
                 "Cookie: ow_session=%s\r\nX-CSRF-Token: %s\r\n"
                 "Idempotency-Key: hallday-%" PRIu64 "-%" PRIu64 "\r\n",
                 d->web.session, d->web.csrf, d->seed, press);
        char *in = http_to(d->web.host, d->web.port, "POST", path, headers, "{}", IO_MS, &status,
                           NULL, 0, err, sizeof err);
        json_t *a = in ? json_loads(in, 0, NULL) : NULL;
        if (status == 200 && a != NULL) {
            free(in);
            return a;
        }
        const char *code = json_string_value(json_object_get(json_object_get(a, "error"), "code"));
        if (status == 401 && attempt == 0 && web_sign_in(d) == 0) {
            json_decref(a);
            free(in);
            continue;
        }
        if (!(quiet_empty && code != NULL && strcmp(code, "ERR_QUEUE_EMPTY") == 0)) {
            d->n.errors++;
            say(d, "window %u: the web layer refused %s: %s", w->no, op, in ? in : err);
        }
        json_decref(a);
        free(in);
        return NULL;
    }
    return NULL;
}

static bool web_call(struct day *d, struct window *w)
{
    json_t *a = web_post(d, w, "call-next", true);
    json_t *t = json_object_get(json_object_get(a, "window"), "ticket");
    bool called = json_is_object(t);

    if (called) {
        snprintf(w->number, sizeof w->number, "%s",
                 json_string_value(json_object_get(t, "number")));
        w->ticket_id = (uint64_t)json_integer_value(json_object_get(t, "id"));
    }
    json_decref(a);
    return called;
}

static int web_step(struct day *d, struct window *w, const char *op)
{
    json_t *a = web_post(d, w, op, false);
    int rc = a != NULL ? 0 : -1;

    json_decref(a);
    return rc;
}

/* Before the day: the clerk signs in at the window; a visit an earlier run
 * left open there is finished. */
static void web_open_window(struct day *d, struct window *w)
{
    json_t *a = web_post(d, w, "sign-in", false);
    json_t *t = json_object_get(json_object_get(a, "window"), "ticket");

    if (json_is_object(t)) {
        const char *state = json_string_value(json_object_get(t, "state"));
        snprintf(w->number, sizeof w->number, "%s",
                 json_string_value(json_object_get(t, "number")));
        if ((strcmp(state, "called") != 0 || web_step(d, w, "start") == 0) &&
            web_step(d, w, "finish") == 0)
            say(d, "window %u finishes %s, left open by an earlier run", w->no, w->number);
    }
    json_decref(a);
}

/* ------------------------------------------------------------------------
 * The clerk's next step
 */

/* Pause, resume or sign out the window as its clerk would (pause and
 * resume through any kind of window; sign-out on the web, where signing
 * in again needs no PIN); 0 if done. */
static int window_op(struct day *d, struct window *w, const char *op)
{
    if (w->web)
        return web_step(d, w, op);
    if (d->use_bus)
        return bus_press(d, w, op);
    if (strcmp(op, "resume") == 0)
        return resume(d, w);
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__PauseWindow pause = HALL__PAUSE_WINDOW__INIT;
    char reason[] = "休息";
    pause.window_no = w->no;
    pause.reason = reason;
    env.body_case = HALL__ENVELOPE__BODY_PAUSE;
    env.pause = &pause;
    Hall__Envelope *r = win_ask(d, w, &env);
    int rc = r != NULL && r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY ? 0 : -1;
    if (rc < 0 && r != NULL) {
        d->n.errors++;
        say(d, "window %u: halld refused the pause: %s", w->no, refusal(r));
    }
    proto_free(r);
    return rc;
}

/* A free clerk's incident whose time has come (--incidents): true when
 * the clerk is now on a break, idle or away. */
static bool clerk_incident(struct day *d, struct window *w, int64_t now)
{
    if (w->break_at > 0 && now >= w->break_at) {
        w->break_at = 0;
        if (window_op(d, w, "pause") == 0) {
            say(d, "window %u: the clerk takes a long break (paused)", w->no);
            w->state = CLERK_BREAK;
            w->due_ms = now + rng_minutes(d, 20, 35);
            return true;
        }
    }
    if (w->idle_at > 0 && now >= w->idle_at) {
        w->idle_at = 0;
        say(d, "window %u: the clerk leaves the desk without pausing the window", w->no);
        w->state = CLERK_IDLE;
        w->due_ms = now + rng_minutes(d, 8, 18);
        return true;
    }
    if (w->away_at > 0 && now >= w->away_at) {
        w->away_at = 0;
        if (window_op(d, w, "sign-out") == 0) {
            say(d, "window %u: the clerk signs out for a meeting", w->no);
            w->state = CLERK_AWAY;
            w->due_ms = now + rng_minutes(d, 12, 20);
            return true;
        }
    }
    return false;
}

/* The day's incidents for the clerks, drawn once at the opening. */
static void plan_incidents(struct day *d)
{
    for (size_t i = 0; i < d->nwindows; i++) {
        struct window *w = &d->window[i];
        w->break_at = rng_minutes(d, 60, 300);
        w->idle_at = rng_minutes(d, 30, 300);
        if (llabs(w->idle_at - w->break_at) < 40 * MINUTE_MS)
            w->idle_at = w->break_at + 60 * MINUTE_MS;
        if (w->web) {
            w->away_at = rng_minutes(d, 120, 330);
            w->state = CLERK_LATE;
            w->due_ms = rng_minutes(d, 8, 12);
        }
    }
    for (size_t i = 0; i < PRINTER_INCIDENTS; i++)
        d->printer_at[i] =
            rng_minutes(d, printer_incidents[i].from_min, printer_incidents[i].to_min);
    d->hang_at = rng_minutes(d, 90, 200);
}

/* The printer's and the hung kiosk's incidents due by now. */
static void device_incidents(struct day *d, int64_t now)
{
    char reply[256];

    while (d->printer.port > 0 && d->printer_next < PRINTER_INCIDENTS &&
           now >= d->printer_at[d->printer_next]) {
        const struct printer_incident *p = &printer_incidents[d->printer_next++];
        if (ctl_cmd(&d->printer, p->line, reply, sizeof reply) == 0)
            say(d, "%s", p->says);
        else
            say(d, "the printer simulator did not take \"%s\": %s", p->line, strtok(reply, "\n"));
    }
    if (d->hang_pid > 0 && d->hang_at > 0 && now >= d->hang_at) {
        d->hang_at = 0;
        if (kill(d->hang_pid, SIGSTOP) == 0) {
            say(d, "the kiosk of process %ld hangs", (long)d->hang_pid);
            d->hang_end_mono = clk_mono_ms() + HANG_REAL_MS;
        } else {
            say(d, "cannot stop process %ld: %s", (long)d->hang_pid, strerror(errno));
        }
    }
    if (d->hang_end_mono > 0 && clk_mono_ms() >= d->hang_end_mono) {
        d->hang_end_mono = 0;
        kill(d->hang_pid, SIGCONT);
        say(d, "the kiosk of process %ld runs again", (long)d->hang_pid);
    }
}

static void clerk_step(struct day *d, struct window *w)
{
    int64_t now = hall_ms(d);

    switch (w->state) {
    case CLERK_LATE:
        web_open_window(d, w);
        say(d, "window %u: the clerk signs in late", w->no);
        w->state = CLERK_FREE;
        return;
    case CLERK_BREAK:
        if (window_op(d, w, "resume") == 0)
            say(d, "window %u: the clerk is back from the break", w->no);
        w->state = CLERK_FREE;
        return;
    case CLERK_IDLE:
        say(d, "window %u: the clerk is back at the desk", w->no);
        w->state = CLERK_FREE;
        return;
    case CLERK_AWAY:
        if (web_step(d, w, "sign-in") == 0)
            say(d, "window %u: the clerk signs in again", w->no);
        w->state = CLERK_FREE;
        return;
    case CLERK_FREE:
        if (d->incidents && clerk_incident(d, w, now))
            return;
        if (w->web ? web_call(d, w) : d->use_bus ? bus_call(d, w) : halld_call(d, w)) {
            d->n.called++;
            say(d, "window %u calls %s", w->no, w->number);
            w->state = CLERK_CALLED;
            w->due_ms = now + rng_minutes(d, 0.5, 2); /* the citizen walks up */
        } else {
            w->due_ms = now + rng_minutes(d, 0.5, 1.5);
        }
        return;
    case CLERK_CALLED:
        if (w->web       ? web_step(d, w, "start")
            : d->use_bus ? bus_press(d, w, "start")
                         : halld_step(d, w, HALL__ENVELOPE__BODY_START)) {
            w->state = CLERK_FREE;
        } else {
            w->state = CLERK_SERVING;
            if (d->incidents && rng_unit(d) < 0.04) {
                say(d, "window %u: a long visit for %s", w->no, w->number);
                w->due_ms = now + rng_minutes(d, 25, 45);
            } else {
                w->due_ms = now + rng_minutes(d, 3, 15);
            }
        }
        return;
    case CLERK_SERVING: {
        unsigned level = rating_level(d);
        if (w->web) {
            /* No rating pad answers a web window here: the visit is not rated. */
            if (web_step(d, w, "finish") == 0) {
                d->n.finished++;
                say(d, "window %u finished %s (through the web layer)", w->no, w->number);
            }
        } else if (d->use_bus) {
            bus_finish(d, w, level);
        } else if (halld_step(d, w, HALL__ENVELOPE__BODY_FINISH) == 0) {
            halld_rate(d, w, level);
            d->n.finished++;
            d->n.rated++;
            d->n.rating_sum += level;
            say(d, "window %u finished %s, rated %u", w->no, w->number, level);
        }
        w->state = CLERK_FREE;
        w->due_ms = now + rng_minutes(d, 0.2, 1.5);
        return;
    }
    }
}

/* ------------------------------------------------------------------------
 * The board: what the hall board shows (bus), or halld's display picture
 */

static void board_from_bus(struct day *d)
{
    char view[8192];

    if (ctl_cmd(&d->bus, "show", view, sizeof view) != 0) {
        say(d, "board: the bus simulator does not answer: %s", view);
        return;
    }
    const char *at = strstr(view, "board rows:");
    if (at != NULL)
        say(d, "board:%.*s", (int)strcspn(at + 11, "\n"), at + 11);
}

static void board_from_halld(struct day *d)
{
    char err[DEVLINK_ERR_LEN], text[2048];
    size_t used = 0;
    devlink *l = devlink_open(d->halld.host, d->halld.port, d->halld.cert, d->halld.key,
                              d->halld.ca, LINK_WAIT_MS, err);
    Hall__Envelope *r = NULL;

    if (l != NULL)
        r = devlink_hello(l, "hallctl", HALL__DEVICE_TYPE__DEVICE_TOOL, 0, LINK_WAIT_MS, err);
    if (r != NULL && r->body_case == HALL__ENVELOPE__BODY_HELLO_REPLY) {
        Hall__Envelope env = HALL__ENVELOPE__INIT;
        Hall__Subscribe sub = HALL__SUBSCRIBE__INIT;
        env.body_case = HALL__ENVELOPE__BODY_SUBSCRIBE;
        env.subscribe = &sub;
        proto_free(r);
        devlink_set_next_id(l, (uint64_t)clk_system_utc_ms() * 1000);
        r = devlink_call(l, &env, LINK_WAIT_MS, err);
    }
    devlink_close(l);
    if (r == NULL || r->body_case != HALL__ENVELOPE__BODY_DISPLAY_PUSH) {
        say(d, "board: halld does not answer: %s", r ? refusal(r) : err);
        proto_free(r);
        return;
    }
    const Hall__DisplayPush *p = r->display_push;
    used = (size_t)snprintf(text, sizeof text, "board:");
    for (size_t i = 0; i < p->n_calls && i < 6 && used < sizeof text; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, " %s@%u", p->calls[i]->number,
                                 p->calls[i]->window_no);
    if (used < sizeof text)
        used += (size_t)snprintf(text + used, sizeof text - used, " | waiting:");
    for (size_t i = 0; i < p->n_areas && used < sizeof text; i++)
        if (p->areas[i]->waiting > 0)
            used += (size_t)snprintf(text + used, sizeof text - used, " %s %u (%u min)",
                                     p->areas[i]->name, p->areas[i]->waiting,
                                     (p->areas[i]->est_wait_s + 59) / 60);
    say(d, "%s", text);
    proto_free(r);
}

/* ------------------------------------------------------------------------
 * Main
 */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hallday --kiosk URL [--idreader HOST:PORT] ... [--bus HOST:PORT]\n"
            "               [--hall CONFIG [--halld HOST:PORT]] [--windows 1,2,3,4]\n"
            "               [--web URL --web-user NAME --web-password-file FILE\n"
            "                --web-windows 5,6]\n"
            "               [--seed N] [--rate N] [--pattern NAME] [--speed N] [--duration S]\n"
            "               [--board S] [--incidents [--printer HOST:PORT] [--hang PID]]\n"
            "A scripted day in the simulated hall: citizens at the kiosks' touch pages\n"
            "(--kiosk http://127.0.0.1:8080, repeatable; --idreader: the control port of\n"
            "that kiosk's card reader simulator, same order), clerks on the call-pads of\n"
            "the bus simulator (--bus: its control port) or, without a bus, as the\n"
            "window terminals win-N of the hall (--hall: its halld.ini; --halld: where\n"
            "halld listens when the configuration says port 0). The windows of\n"
            "--web-windows are worked through the web layer's API instead (--web: its\n"
            "address; signed in as --web-user, whose password is the first line of\n"
            "--web-password-file).\n"
            "  --seed N      the day's random seed (default: from the clock; printed)\n"
            "  --rate N      citizens an hour of hall time (default 60)\n"
            "  --pattern P   how they come over the day, from the opening (09:00 of the\n"
            "                pattern, whatever the clock says; again after 17:00): flat\n"
            "                (default), morning_peak, lunch_dip; --rate is the mean\n"
            "  --speed N     hall time runs N times faster than the clock (default 10;\n"
            "                with --hall, the rate of its [clock] when it sets one)\n"
            "  --duration S  stop after S seconds (default 0: until SIGINT or SIGTERM)\n"
            "  --board S     print the board every S seconds (default %d; 0: never)\n"
            "  --incidents   what supervision watches for: long breaks, a clerk away\n"
            "                from an open window, long visits, a web clerk late and\n"
            "                signed out a while; the printer simulator of --printer (its\n"
            "                control port) low on paper, then out; the kiosk of --hang\n"
            "                (its process id) hung for a minute of real time\n",
            BOARD_DEFAULT);
}

static int parse_double(const char *arg, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno != 0 || end == arg || *end != '\0' || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_windows(struct day *d, const char *arg)
{
    char copy[256], *save = NULL;

    if (strlen(arg) >= sizeof copy)
        return -1;
    snprintf(copy, sizeof copy, "%s", arg);
    d->nwindows = 0;
    for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        double no;
        if (d->nwindows == WINDOWS_MAX || parse_double(t, 1, 9, &no) < 0 || no != floor(no))
            return -1;
        d->window[d->nwindows++] = (struct window){.no = (uint32_t)no};
    }
    return 0;
}

/* http://HOST:PORT[/] or HOST:PORT. */
static int parse_kiosk(struct kiosk *k, const char *url)
{
    char hostport[300];

    if (strncmp(url, "http://", 7) == 0)
        url += 7;
    size_t len = strcspn(url, "/");
    if (len >= sizeof hostport || (url[len] == '/' && url[len + 1] != '\0'))
        return -1;
    snprintf(hostport, sizeof hostport, "%.*s", (int)len, url);
    return net_parse_hostport(hostport, k->host, sizeof k->host, &k->port) < 0 || k->port <= 0 ? -1
                                                                                               : 0;
}

/* Where halld is, the bundles of the window terminals, the hall's clock
 * and zone, from --hall. */
static int load_hall(struct day *d, const char *config, const char *halld_addr)
{
    struct halld_conf conf = {0};
    char err[512];

    if (halld_conf_load(&conf, config, err, sizeof err) < 0) {
        fprintf(stderr, "hallday: %s\n", err);
        return -1;
    }
    int rc = halld_conf_contact(&conf, "hallctl", &d->halld, err, sizeof err);
    d->clock = conf.clock;
    if (rc == 0 && (d->zone = clk_zone_new(conf.time_zone)) == NULL) {
        snprintf(err, sizeof err, "%s: [hall] time_zone = %s: %s", config, conf.time_zone,
                 strerror(errno));
        rc = -1;
    }
    halld_conf_release(&conf);
    if (rc < 0) {
        fprintf(stderr, "hallday: %s\n", err);
        return -1;
    }
    if (halld_addr != NULL &&
        net_parse_hostport(halld_addr, d->halld.host, sizeof d->halld.host, &d->halld.port) < 0) {
        fprintf(stderr, "hallday: --halld %s: expected HOST:PORT\n", halld_addr);
        return -1;
    }
    if (d->halld.port <= 0) {
        fprintf(stderr, "hallday: %s lets halld pick its port: give --halld HOST:PORT\n", config);
        return -1;
    }
    /* hallctl device add writes bundles under the CA's directory. */
    const char *slash = strrchr(d->halld.ca, '/');
    int dirlen = slash ? (int)(slash - d->halld.ca) : 1;
    snprintf(d->devices_dir, sizeof d->devices_dir, "%.*s/devices", dirlen,
             slash ? d->halld.ca : ".");
    return 0;
}

static void summary(const struct day *d)
{
    char from[16], to[16];

    hall_clock(d, d->opened_ms, from, sizeof from);
    hall_clock(d, clk_utc_ms(), to, sizeof to);
    printf("hallday: summary: %s-%s hall time (seed %" PRIu64 "), %u citizens: %u issued "
           "(%u one-tap, %u card, %u area, %u offline), %u not issued; called %u, "
           "finished %u, rated %u (average %.1f); %u errors\n",
           from, to, d->seed, d->n.arrived, d->n.issued, d->n.one_tap, d->n.card, d->n.area,
           d->n.offline, d->n.not_issued, d->n.called, d->n.finished, d->n.rated,
           d->n.rated ? (double)d->n.rating_sum / d->n.rated : 0.0, d->n.errors);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {{"kiosk", required_argument, NULL, 'k'},
                                            {"idreader", required_argument, NULL, 'i'},
                                            {"bus", required_argument, NULL, 'b'},
                                            {"hall", required_argument, NULL, 'H'},
                                            {"halld", required_argument, NULL, 'a'},
                                            {"windows", required_argument, NULL, 'w'},
                                            {"web", required_argument, NULL, 'W'},
                                            {"web-user", required_argument, NULL, 'U'},
                                            {"web-password-file", required_argument, NULL, 'P'},
                                            {"web-windows", required_argument, NULL, 'V'},
                                            {"seed", required_argument, NULL, 's'},
                                            {"rate", required_argument, NULL, 'r'},
                                            {"pattern", required_argument, NULL, 'p'},
                                            {"speed", required_argument, NULL, 'x'},
                                            {"duration", required_argument, NULL, 'd'},
                                            {"board", required_argument, NULL, 'B'},
                                            {"incidents", no_argument, NULL, 'I'},
                                            {"printer", required_argument, NULL, 'R'},
                                            {"hang", required_argument, NULL, 'G'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    static struct day d;
    const char *hall = NULL, *halld_addr = NULL, *web_windows = NULL, *password_file = NULL;
    bool speed_given = false;
    double v;
    int opt;

    d.seed = (uint64_t)clk_system_utc_ms();
    d.rate = 60;
    d.pattern = scen_pattern_find("flat");
    d.speed = 10;
    d.board_s = BOARD_DEFAULT;
    ctl_init(&d.bus);
    ctl_init(&d.printer);
    parse_windows(&d, "1,2,3,4");
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'k':
            if (d.nkiosks == KIOSKS_MAX || parse_kiosk(&d.kiosk[d.nkiosks], optarg) < 0) {
                fprintf(stderr, "hallday: --kiosk %s: expected http://HOST:PORT (at most %d)\n",
                        optarg, KIOSKS_MAX);
                return 2;
            }
            ctl_init(&d.kiosk[d.nkiosks].reader);
            snprintf(d.kiosk[d.nkiosks].name, sizeof d.kiosk[0].name, "kiosk-%zu", d.nkiosks + 1);
            d.nkiosks++;
            break;
        case 'i': {
            struct ctl *c = &d.kiosk[d.nreaders].reader;
            if (d.nreaders == KIOSKS_MAX ||
                net_parse_hostport(optarg, c->host, sizeof c->host, &c->port) < 0 || c->port <= 0) {
                fprintf(stderr, "hallday: --idreader %s: expected HOST:PORT\n", optarg);
                return 2;
            }
            d.kiosk[d.nreaders++].has_reader = true;
            break;
        }
        case 'I':
            d.incidents = true;
            break;
        case 'R':
            if (net_parse_hostport(optarg, d.printer.host, sizeof d.printer.host, &d.printer.port) <
                    0 ||
                d.printer.port <= 0) {
                fprintf(stderr, "hallday: --printer %s: expected HOST:PORT\n", optarg);
                return 2;
            }
            break;
        case 'G': {
            char *end;
            errno = 0;
            long pid = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || pid <= 1 || pid > INT_MAX) {
                fprintf(stderr, "hallday: --hang %s: expected a process id\n", optarg);
                return 2;
            }
            d.hang_pid = (pid_t)pid;
            break;
        }
        case 'b':
            if (net_parse_hostport(optarg, d.bus.host, sizeof d.bus.host, &d.bus.port) < 0 ||
                d.bus.port <= 0) {
                fprintf(stderr, "hallday: --bus %s: expected HOST:PORT\n", optarg);
                return 2;
            }
            d.use_bus = true;
            break;
        case 'H':
            hall = optarg;
            break;
        case 'a':
            halld_addr = optarg;
            break;
        case 'w':
            if (parse_windows(&d, optarg) < 0) {
                fprintf(stderr, "hallday: --windows %s: expected numbers 1..9, e.g. 1,2,3\n",
                        optarg);
                return 2;
            }
            break;
        case 'W': {
            struct kiosk at;
            if (parse_kiosk(&at, optarg) < 0) {
                fprintf(stderr, "hallday: --web %s: expected http://HOST:PORT\n", optarg);
                return 2;
            }
            snprintf(d.web.host, sizeof d.web.host, "%s", at.host);
            d.web.port = at.port;
            break;
        }
        case 'U':
            if (strlen(optarg) >= sizeof d.web.user) {
                fprintf(stderr, "hallday: --web-user %s: too long\n", optarg);
                return 2;
            }
            snprintf(d.web.user, sizeof d.web.user, "%s", optarg);
            break;
        case 'P':
            password_file = optarg;
            break;
        case 'V':
            web_windows = optarg;
            break;
        case 's': {
            char *end;
            errno = 0;
            d.seed = strtoull(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0') {
                fprintf(stderr, "hallday: --seed %s: expected a number\n", optarg);
                return 2;
            }
            break;
        }
        case 'r':
            if (parse_double(optarg, 0.1, 36000, &d.rate) < 0) {
                fprintf(stderr, "hallday: --rate %s: expected 0.1..36000 an hour\n", optarg);
                return 2;
            }
            break;
        case 'p':
            if ((d.pattern = scen_pattern_find(optarg)) == NULL) {
                fprintf(stderr, "hallday: --pattern %s: expected flat, morning_peak or lunch_dip\n",
                        optarg);
                return 2;
            }
            break;
        case 'x':
            if (parse_double(optarg, CLK_RATE_MIN, CLK_RATE_MAX, &d.speed) < 0) {
                fprintf(stderr, "hallday: --speed %s: expected 0.1..3600\n", optarg);
                return 2;
            }
            speed_given = true;
            break;
        case 'd':
        case 'B':
            if (parse_double(optarg, 0, 86400 * 365, &v) < 0 || v != floor(v)) {
                fprintf(stderr, "hallday: --%s %s: expected whole seconds\n",
                        opt == 'd' ? "duration" : "board", optarg);
                return 2;
            }
            *(opt == 'd' ? &d.duration_s : &d.board_s) = (int)v;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || d.nkiosks == 0 || d.nreaders > d.nkiosks) {
        usage(stderr);
        return 2;
    }
    if (hall != NULL) {
        if (load_hall(&d, hall, halld_addr) < 0)
            return 1;
        d.use_halld = true;
    }
    if (web_windows != NULL || d.web.port != 0) {
        struct day webs = {0};
        if (web_windows == NULL || d.web.port == 0 || d.web.user[0] == '\0' ||
            password_file == NULL) {
            fprintf(stderr, "hallday: --web, --web-user, --web-password-file and --web-windows "
                            "go together\n");
            return 2;
        }
        if (parse_windows(&webs, web_windows) < 0 || d.nwindows + webs.nwindows > WINDOWS_MAX) {
            fprintf(stderr, "hallday: --web-windows %s: expected numbers 1..9, e.g. 5,6\n",
                    web_windows);
            return 2;
        }
        FILE *pf = fopen(password_file, "re");
        if (pf == NULL || fgets(d.web.password, sizeof d.web.password, pf) == NULL) {
            fprintf(stderr, "hallday: --web-password-file %s: %s\n", password_file,
                    pf ? "empty" : strerror(errno));
            if (pf != NULL)
                fclose(pf);
            return 1;
        }
        fclose(pf);
        d.web.password[strcspn(d.web.password, "\r\n")] = '\0';
        for (size_t i = 0; i < webs.nwindows; i++) {
            for (size_t j = 0; j < d.nwindows; j++)
                if (d.window[j].no == webs.window[i].no) {
                    fprintf(stderr, "hallday: window %u is in --windows and --web-windows\n",
                            webs.window[i].no);
                    return 2;
                }
            d.window[d.nwindows] = webs.window[i];
            d.window[d.nwindows++].web = true;
        }
    }
    /* The hall's clock if it has its own, else one of hallday's from now. */
    if (hall == NULL || d.clock.system) {
        int64_t now = clk_system_utc_ms();
        d.clock = (clk_source){.start_utc_ms = now, .anchor_utc_ms = now, .rate = d.speed};
    } else if (speed_given && d.speed != d.clock.rate) {
        fprintf(stderr, "hallday: --speed %g: the hall's clock runs at %g ([clock] of %s)\n",
                d.speed, d.clock.rate, hall);
        return 2;
    }
    d.speed = d.clock.rate;
    if (d.zone == NULL && (d.zone = clk_zone_new("UTC")) == NULL) {
        fprintf(stderr, "hallday: time zone UTC: %s\n", strerror(errno));
        return 1;
    }
    if (clk_set_source(&d.clock) < 0) {
        fprintf(stderr, "hallday: the hall clock: %s\n", strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < d.nwindows; i++)
        if (!d.window[i].web && !d.use_bus && !d.use_halld) {
            fprintf(stderr, "hallday: the windows need --bus or --hall\n");
            return 2;
        }

    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    scen_seed(&d.rng, d.seed);
    d.mono0 = clk_mono_ms();
    d.opened_ms = clk_utc_ms();
    d.next_arrival_ms = scen_pattern_next(d.pattern, d.rate, &d.rng, 0);
    d.next_board_mono = d.mono0 + (int64_t)d.board_s * 1000;
    for (size_t i = 0; i < d.nwindows; i++)
        d.window[i].due_ms = rng_minutes(&d, 0, 2);
    printf("hallday: seed %" PRIu64 ", %.0f citizens an hour (%s), hall time x%g, %zu kiosks, "
           "windows through %s\n",
           d.seed, d.rate, d.pattern->name, d.speed, d.nkiosks,
           d.use_bus ? "the bus (call-pads, rating pads)" : "halld (window terminals)");
    fflush(stdout);
    if (d.incidents)
        plan_incidents(&d);
    for (size_t i = 0; i < d.nwindows && !stopping; i++)
        if (d.window[i].state == CLERK_LATE)
            continue; /* signs in when due */
        else if (d.window[i].web)
            web_open_window(&d, &d.window[i]);
        else if (d.use_halld)
            open_window(&d, &d.window[i]);

    while (!stopping) {
        int64_t mono = clk_mono_ms(), now = hall_ms(&d);
        if (d.duration_s > 0 && mono - d.mono0 >= (int64_t)d.duration_s * 1000)
            break;
        if (now >= d.next_arrival_ms) {
            citizen(&d);
            /* A kiosk slower than the arrivals makes no burst afterwards. */
            if (d.next_arrival_ms < now - 10 * MINUTE_MS)
                d.next_arrival_ms = now;
            d.next_arrival_ms = scen_pattern_next(d.pattern, d.rate, &d.rng, d.next_arrival_ms);
            continue;
        }
        for (size_t i = 0; i < d.nwindows && !stopping; i++)
            if (hall_ms(&d) >= d.window[i].due_ms)
                clerk_step(&d, &d.window[i]);
        if (d.incidents)
            device_incidents(&d, hall_ms(&d));
        if (d.board_s > 0 && clk_mono_ms() >= d.next_board_mono) {
            if (d.use_bus)
                board_from_bus(&d);
            else if (d.use_halld)
                board_from_halld(&d);
            d.next_board_mono = clk_mono_ms() + (int64_t)d.board_s * 1000;
        }
        nap_ms(50);
    }
    if (d.hang_end_mono > 0)
        kill(d.hang_pid, SIGCONT); /* never leave the kiosk stopped */
    summary(&d);
    ctl_close(&d.printer);
    for (size_t i = 0; i < d.nwindows; i++)
        devlink_close(d.window[i].link);
    for (size_t i = 0; i < d.nkiosks; i++)
        ctl_close(&d.kiosk[i].reader);
    ctl_close(&d.bus);
    clk_zone_free(d.zone);
    return 0;
}
