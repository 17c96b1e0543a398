/*
 * Electronic supervision (电子监察, docs/supervision.md) with the real
 * halld, hallctl and hallweb:
 *
 *   test_supervision rules      supervision_rules: a scripted hall day on
 *                               the injected hall clock in which every rule
 *                               fires with its level (warn, then critical
 *                               where it escalates) and clears, by itself
 *                               or (rating_bad) by hand; a kiosk's link
 *                               dropped without a word: halld stops saying
 *                               it can issue, and device_silent fires
 *   test_supervision lifecycle  supervision_alert_lifecycle: raise, dedupe,
 *                               acknowledge (through hallweb), resolve
 *                               (hallctl), a restart, halld killed with
 *                               SIGKILL; a webhook receiver in the test,
 *                               down at first, then up: every alert
 *                               delivered at least once with its stable id;
 *                               a bad webhook URL refused at start and at
 *                               reload
 *
 * Waits are bounded (WAIT_MS) polls of the hall's database; nothing is
 * asserted on real time.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clk.h"
#include "testsupport.h"
#include "webfixture.h"

#define WAIT_MS 60000

/* ---- Reading the hall's database ---- */

/* One text the SQL selects, "" if no row. */
static void db_text(hallfix *f, char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void db_text(hallfix *f, char *out, size_t len, const char *fmt, ...)
{
    char path[1100], sql[600];
    sqlite3 *db;
    sqlite3_stmt *st;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    out[0] = '\0';
    snprintf(path, sizeof path, "%s/hall.db", f->dir);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Poll until the SQL's integer equals want; fails the test after WAIT_MS. */
static void wait_int(hallfix *f, long long want, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void wait_int(hallfix *f, long long want, const char *what, const char *fmt, ...)
{
    char sql[600];
    va_list ap;
    long long got = -2;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    for (int i = 0; i < WAIT_MS / 50; i++) {
        if ((got = fix_db_int(f, "%s", sql)) == want)
            return;
        usleep(50 * 1000);
    }
    ck_abort_msg("%s: waited for %lld, have %lld (%s)", what, want, got, sql);
}

/* The level (1 warn, 2 critical) of the open alert of rule and subject, 0 if none. */
static long long open_level(hallfix *f, const char *rule, const char *subject)
{
    long long v = fix_db_int(f,
                             "SELECT level FROM alerts WHERE rule = '%s' AND subject = '%s' AND "
                             "state IN (1, 2)",
                             rule, subject);
    return v < 0 ? 0 : v;
}

static void wait_level(hallfix *f, const char *rule, const char *subject, long long level)
{
    for (int i = 0; i < WAIT_MS / 50; i++) {
        if (open_level(f, rule, subject) == level)
            return;
        usleep(50 * 1000);
    }
    ck_abort_msg("%s on %s: waited for level %lld, have %lld", rule, subject, level,
                 open_level(f, rule, subject));
}

/* ---- Devices ---- */

static uint64_t take_ticket(devlink *kiosk)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;

    /* Numbers are given while no window is open ([queue] issue_unstaffed),
     * the citizen having confirmed. */
    char area[] = "intake";

    m.area = area;
    m.unstaffed_ok = true;
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    Hall__Envelope *r = fix_call(kiosk, &env);
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY, "ISSUE refused: %s",
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    uint64_t id = r->issue_reply->ticket->id;
    proto_free(r);
    r = fix_printed(kiosk, id);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_TICKET_REPLY);
    proto_free(r);
    return id;
}

static void window_ok(devlink *l, Hall__Envelope__BodyCase op, uint32_t no, uint64_t ticket)
{
    Hall__Envelope *r = fix_window_op(l, op, no, ticket);
    ck_assert_msg(r->body_case != HALL__ENVELOPE__BODY_ERROR, "%s refused: %s", proto_body_name(op),
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "");
    proto_free(r);
}

static void pause_window(devlink *w1, bool pause)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__PauseWindow p = HALL__PAUSE_WINDOW__INIT;
    Hall__ResumeWindow r = HALL__RESUME_WINDOW__INIT;
    char reason[] = "break";

    p.window_no = r.window_no = 1;
    p.reason = reason;
    env.body_case = pause ? HALL__ENVELOPE__BODY_PAUSE : HALL__ENVELOPE__BODY_RESUME;
    if (pause)
        env.pause = &p;
    else
        env.resume = &r;
    Hall__Envelope *a = fix_call(w1, &env);
    ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    proto_free(a);
}

/* Window 1 calls, starts and finishes its next ticket. */
static void serve_next(hallfix *f, devlink *w1)
{
    window_ok(w1, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
    uint64_t cur = (uint64_t)fix_db_int(f, "SELECT current_ticket FROM windows WHERE no = 1");
    window_ok(w1, HALL__ENVELOPE__BODY_START, 1, cur);
    window_ok(w1, HALL__ENVELOPE__BODY_FINISH, 1, cur);
}

/* A kiosk's health report. */
static void report(devlink *kiosk, bool can_issue, const char *printer)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__DeviceStatus st = HALL__DEVICE_STATUS__INIT;
    Hall__ComponentStatus c = HALL__COMPONENT_STATUS__INIT, *pc[1] = {&c};
    char name[] = "printer", state[32], detail[] = "";

    snprintf(state, sizeof state, "%s", printer);
    c.name = name;
    c.state = state;
    c.detail = detail;
    st.n_components = 1;
    st.components = pc;
    st.can_issue = can_issue;
    env.body_case = HALL__ENVELOPE__BODY_DEVICE_STATUS;
    env.device_status = &st;
    Hall__Envelope *r = fix_call(kiosk, &env);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_DEVICE_STATUS_REPLY);
    proto_free(r);
}

/* What a subscriber's snapshot says of a device: 1 can issue, 0 cannot, -1 absent. */
static int snapshot_can_issue(hallfix *f, const char *device)
{
    devlink *board = fix_device(f, "board-01", HALL__DEVICE_TYPE__DEVICE_DISPLAY, 0);
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Subscribe sub = HALL__SUBSCRIBE__INIT;
    int v = -1;

    env.body_case = HALL__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &sub;
    Hall__Envelope *r = fix_call(board, &env);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_DISPLAY_PUSH);
    for (size_t i = 0; i < r->display_push->n_devices; i++)
        if (strcmp(r->display_push->devices[i]->device_id, device) == 0)
            v = r->display_push->devices[i]->can_issue;
    proto_free(r);
    devlink_close(board);
    return v;
}

/* ---- supervision_rules ------------------------------------------------------------ */

/* Every time limit in hall minutes; the hall clock runs 60 times as fast
 * as real time, so a hall minute is a real second. Every rule but the one
 * a step looks at is set far enough not to fire by accident. */
#define RULES_CONF                                                                                 \
    "[session]\nheartbeat_interval = 2s\nidle_timeout = 1h\n"                                      \
    "[queue]\nissue_unstaffed = true\n"                                                            \
    "[supervise]\n"                                                                                \
    "wait_long = 6m 12m\n"                                                                         \
    "service_long = 5m 10m\n"                                                                      \
    "window_idle = 5m 10m\n"                                                                       \
    "window_paused_long = 5m 10m\n"                                                                \
    "window_closed_queue = 5m 10m\n"                                                               \
    "clerk_absent = 5m 10m\n"                                                                      \
    "queue_per_window = 3 5\n"                                                                     \
    "rating_bad = 2 1\n"                                                                           \
    "device_fault = 1 1\n"                                                                         \
    "device_silent = 3 6\n"                                                                        \
    "overrides = window_closed_queue@window:2 = off; clerk_absent@window:2 = off; "                \
    "window_idle@window:2 = off\n"

static void rate(devlink *pad, uint32_t window_no, uint64_t ticket, unsigned level)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Rating m = HALL__RATING__INIT;

    m.ticket_id = ticket;
    m.window_no = window_no;
    m.level = level;
    env.body_case = HALL__ENVELOPE__BODY_RATING;
    env.rating = &m;
    Hall__Envelope *r = fix_call(pad, &env);
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_RATING_REPLY, "RATING refused: %s",
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    proto_free(r);
}

START_TEST(rules)
{
    hallfix f;
    char id[128];

    /* The hall clock: 08:00 when the test starts (anchor), a restart of
     * halld goes on with it. */
    char anchor[64], conf[2048];
    clk_zone *utc = clk_zone_new("UTC");
    ck_assert_ptr_nonnull(utc);
    ck_assert_int_gt(clk_format_iso(utc, clk_system_utc_ms(), anchor, sizeof anchor), 0);
    clk_zone_free(utc);
    snprintf(conf, sizeof conf,
             "[clock]\nstart = 2026-03-02T08:00:00+08:00\nrate = 60\nanchor = %s\n%s", anchor,
             RULES_CONF);
    fix_init(&f, 2, conf);
    /* The hall opens at 08:30 by its calendar: clerk_absent counts from then. */
    ck_assert_int_eq(fix_hallctl(&f, "calendar hours --days 1-7 --open 08:30 --close 17:00"), 0);
    fix_start(&f);
    devlink *kiosk = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink *w1 = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    devlink *w2 = fix_device(&f, "win-2", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 2);

    /* ---- clerk_absent: nobody signs in at window 1 after 08:30. ---- */
    wait_level(&f, "clerk_absent", "window:1", 1);
    wait_level(&f, "clerk_absent", "window:1", 2);
    ck_assert_int_eq(open_level(&f, "clerk_absent", "window:2"), 0); /* its override: off */

    /* ---- wait_long, queue_per_window, window_closed_queue: four tickets,
     * no window open. ---- */
    for (int i = 0; i < 4; i++)
        take_ticket(kiosk);
    wait_level(&f, "queue_per_window", "area:intake", 1);
    wait_level(&f, "window_closed_queue", "window:1", 1);
    wait_level(&f, "wait_long", "area:intake", 1);
    wait_level(&f, "window_closed_queue", "window:1", 2);
    wait_level(&f, "wait_long", "area:intake", 2);
    ck_assert_int_eq(open_level(&f, "window_closed_queue", "window:2"), 0);
    /* One alert each, escalated in place. */
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM alerts WHERE rule = 'wait_long'"), 1);
    take_ticket(kiosk); /* a fifth: five per (no) open window */
    wait_level(&f, "queue_per_window", "area:intake", 2);

    /* ---- Window 1 signs in: clerk_absent and window_closed_queue clear;
     * it stays idle with a queue: window_idle. ---- */
    Hall__Envelope *r = fix_sign_in(w1, 1, "c-1");
    proto_free(r);
    wait_level(&f, "clerk_absent", "window:1", 0);
    wait_level(&f, "window_closed_queue", "window:1", 0);
    wait_level(&f, "window_idle", "window:1", 1);
    wait_level(&f, "window_idle", "window:1", 2);

    /* ---- Window 1 calls and starts: window_idle clears; the service runs
     * long: service_long. ---- */
    window_ok(w1, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
    wait_level(&f, "window_idle", "window:1", 0);
    uint64_t served = (uint64_t)fix_db_int(&f, "SELECT current_ticket FROM windows WHERE no = 1");
    window_ok(w1, HALL__ENVELOPE__BODY_START, 1, served);
    wait_level(&f, "service_long", "window:1", 1);
    wait_level(&f, "service_long", "window:1", 2);
    window_ok(w1, HALL__ENVELOPE__BODY_FINISH, 1, served);
    wait_level(&f, "service_long", "window:1", 0);

    /* ---- rating_bad: 不满意 (2) raises a warn, resolved only by hand. ---- */
    rate(w1, 1, served, 2);
    char subject[64];
    snprintf(subject, sizeof subject, "ticket:%llu", (unsigned long long)served);
    wait_level(&f, "rating_bad", subject, 1);
    db_text(&f, id, sizeof id,
            "SELECT id FROM alerts WHERE rule = 'rating_bad' AND state IN (1, 2)");
    ck_assert_int_eq(
        fix_hallctl(&f, "alerts resolve %s --note 已回访群众 --server 127.0.0.1:%d", id, f.port),
        0);
    wait_level(&f, "rating_bad", subject, 0);
    ck_assert_int_eq(fix_db_int(&f,
                                "SELECT count(*) FROM alerts WHERE id = '%s' AND state = 3 AND "
                                "resolved_by = 'hallctl' AND resolve_note = '已回访群众'",
                                id),
                     1);

    /* ---- The queue goes: wait_long and queue_per_window clear. ---- */
    for (int i = 0; i < 4; i++)
        serve_next(&f, w1);
    wait_level(&f, "wait_long", "area:intake", 0);
    wait_level(&f, "queue_per_window", "area:intake", 0);

    /* ---- window_paused_long. ---- */
    pause_window(w1, true);
    wait_level(&f, "window_paused_long", "window:1", 1);
    wait_level(&f, "window_paused_long", "window:1", 2);
    pause_window(w1, false);
    wait_level(&f, "window_paused_long", "window:1", 0);

    /* ---- device_fault: paper low (warn), then out (critical), then ok. ---- */
    report(kiosk, true, "near_end");
    wait_level(&f, "device_fault", "device:kiosk-01", 1);
    report(kiosk, false, "paper_out");
    wait_level(&f, "device_fault", "device:kiosk-01", 2);
    report(kiosk, true, "ok");
    wait_level(&f, "device_fault", "device:kiosk-01", 0);
    ck_assert_int_eq(snapshot_can_issue(&f, "kiosk-01"), 1);

    /* ---- device_silent: the kiosk's link is dropped without a word (as a
     * kill -9 leaves it). halld stops saying it can issue. ---- */
    devlink_close(kiosk);
    wait_level(&f, "device_silent", "device:kiosk-01", 1);
    ck_assert_int_eq(snapshot_can_issue(&f, "kiosk-01"), 0);
    wait_level(&f, "device_silent", "device:kiosk-01", 2);
    /* A restart of halld does not forget it: still silent, the same alert. */
    long long silent = fix_db_int(&f, "SELECT seq FROM alerts WHERE rule = 'device_silent'");
    devlink_close(w1);
    devlink_close(w2);
    ck_assert_int_eq(fix_stop(&f), 0);
    fix_start(&f);
    w1 = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    w2 = fix_device(&f, "win-2", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 2);
    ck_assert_int_eq(snapshot_can_issue(&f, "kiosk-01"), 0);
    usleep(1500 * 1000); /* evaluations after the restart */
    ck_assert_int_eq(open_level(&f, "device_silent", "device:kiosk-01"), 2);
    ck_assert_int_eq(fix_db_int(&f, "SELECT seq FROM alerts WHERE rule = 'device_silent' AND "
                                    "state IN (1, 2)"),
                     silent);
    /* Back: a kiosk reports its health after every (re)connect. */
    kiosk = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    report(kiosk, true, "ok");
    wait_level(&f, "device_silent", "device:kiosk-01", 0);
    ck_assert_int_eq(snapshot_can_issue(&f, "kiosk-01"), 1);

    /* Every change is in the audit chain, on the hall clock. */
    ck_assert_int_gt(fix_db_int(&f, "SELECT count(*) FROM events WHERE kind = 101"), 20);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE kind = 101 AND at_ms NOT "
                                    "BETWEEN 1772409600000 AND 1772409600000 + 86400000"),
                     0);
    ck_assert_int_eq(fix_hallctl(&f, "audit verify"), 0);

    devlink_close(kiosk);
    devlink_close(w1);
    devlink_close(w2);
    ck_assert_int_eq(fix_stop(&f), 0);
    fix_free(&f);
}
END_TEST

/* ---- supervision_alert_lifecycle --------------------------------------------------- */

/* A webhook receiver on loopback: one request per connection, counts
 * deliveries and distinct alert ids. */
#define RECV_MAX 256

struct receiver {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    bool stop;
    size_t deliveries;
    char ids[RECV_MAX][96]; /* distinct, as the Idempotency-Key's alert part */
    size_t nids;
    bool key_missing;
    /* The first delivery is held unanswered until the test releases it
     * (halld is killed meanwhile): held_key, and how often it came. */
    pthread_cond_t cv;
    bool held, release;
    char held_key[128];
    size_t held_seen;
};

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void serve_one(struct receiver *rv, int c)
{
    char req[65536];
    size_t used = 0;
    ssize_t n;
    const char *end = NULL;
    long length = -1;

    while (used < sizeof req - 1 && (n = read(c, req + used, sizeof req - 1 - used)) > 0) {
        used += (size_t)n;
        req[used] = '\0';
        if (end == NULL && (end = strstr(req, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(req, "Content-Length:");
            length = cl ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (end != NULL && (long)(used - (size_t)(end + 4 - req)) >= length)
            break;
    }
    if (end == NULL)
        return;
    const char *key = strcasestr(req, "Idempotency-Key: ");
    char id[96] = "", full[128] = "";
    if (key != NULL) {
        sscanf(key + 17, "%95[^/\r]", id);
        sscanf(key + 17, "%127[^\r]", full);
    }
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    pthread_mutex_lock(&rv->mu);
    if (!rv->held) {
        rv->held = true;
        snprintf(rv->held_key, sizeof rv->held_key, "%s", full);
        pthread_cond_broadcast(&rv->cv);
        while (!rv->release)
            pthread_cond_wait(&rv->cv, &rv->mu);
    }
    if (strcmp(full, rv->held_key) == 0)
        rv->held_seen++;
    rv->deliveries++;
    if (id[0] == '\0' || strstr(end, id) == NULL)
        rv->key_missing = true;
    size_t i;
    for (i = 0; i < rv->nids && strcmp(rv->ids[i], id) != 0; i++)
        ;
    if (i == rv->nids && rv->nids < RECV_MAX)
        snprintf(rv->ids[rv->nids++], sizeof rv->ids[0], "%s", id);
    pthread_mutex_unlock(&rv->mu);
    /* The held one's halld is gone: no SIGPIPE for its answer. */
    (void)!send(c, ok, strlen(ok), MSG_NOSIGNAL);
}

static void *receive(void *arg)
{
    struct receiver *rv = arg;

    for (;;) {
        int c = accept(rv->fd, NULL, NULL);
        if (c < 0)
            break;
        serve_one(rv, c);
        close(c);
    }
    return NULL;
}

static void receiver_up(struct receiver *rv)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)rv->port)};
    int one = 1;

    rv->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(rv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ck_assert_msg(bind(rv->fd, (struct sockaddr *)&a, sizeof a) == 0, "receiver cannot bind %d",
                  rv->port);
    ck_assert_int_eq(listen(rv->fd, 16), 0);
    pthread_mutex_init(&rv->mu, NULL);
    pthread_cond_init(&rv->cv, NULL);
    ck_assert_int_eq(pthread_create(&rv->thread, NULL, receive, rv), 0);
}

static void receiver_down(struct receiver *rv)
{
    shutdown(rv->fd, SHUT_RDWR);
    close(rv->fd);
    pthread_join(rv->thread, NULL);
}

#define LIFE_CONF                                                                                  \
    "[web]\nport = 0\n"                                                                            \
    "[supervise]\n"                                                                                \
    "wait_long = 1s 3s\nservice_long = off\nwindow_idle = off\nwindow_paused_long = off\n"         \
    "window_closed_queue = off\nclerk_absent = off\nqueue_per_window = off\n"                      \
    "device_fault = 0 0\ndevice_silent = off\n"

static void write_conf(hallfix *f, const char *base, const char *webhook)
{
    char *text = ts_slurp(ts_path(f->dir, "halld.ini.base"));
    FILE *c = fopen(f->config, "w");

    (void)base;
    ck_assert_ptr_nonnull(c);
    fprintf(c, "%s\nwebhook = %s\n", text, webhook);
    fclose(c);
    free(text);
}

START_TEST(lifecycle)
{
    struct receiver rv = {0};
    char url[128], id[128], id2[128], s[64], csrf[64], path[256];
    hallfix f;
    webfix w;

    fix_init(&f, 1, LIFE_CONF);
    ck_assert_int_eq(web_add_user(&f, "boss", "manager", NULL, "boss-pass-1"), 0);
    ck_assert_int_eq(web_add_user(&f, "eye", "auditor", NULL, "eye-pass-11"), 0);
    ck_assert_int_eq(web_add_user(&f, "clerk1", "clerk", "c-1", "clerk-pass-1"), 0);
    ck_assert_int_eq(ts_system("cp %s %s/halld.ini.base", f.config, f.dir), 0);

    /* ---- A bad webhook URL: halld does not start, and says why. ---- */
    write_conf(&f, NULL, "ftp://gateway.example/hook");
    const char *argv[] = {HALLD_PATH, "-c", f.config, NULL};
    pid_t bad = ts_spawn(argv, f.log);
    int status = ts_wait(bad, WAIT_MS);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0,
                  "halld started with a bad webhook URL");
    ck_assert_msg(ts_file_contains(f.log,
                                   "[supervise] webhook = ftp://gateway.example/hook: a "
                                   "webhook is an http:// or https:// URL",
                                   1000),
                  "halld does not say what is wrong with the webhook URL");

    /* ---- The receiver is down at first. ---- */
    rv.port = free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", rv.port);
    write_conf(&f, NULL, url);
    fix_start(&f);
    ck_assert(ts_file_contains(f.log, "alert changes are posted to", WAIT_MS));
    web_start(&w, &f);

    /* ---- Raise: a ticket waits past 1 s, then 3 s: one alert, escalated. ---- */
    devlink *kiosk = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    take_ticket(kiosk);
    wait_level(&f, "wait_long", "area:intake", 1);
    db_text(&f, id, sizeof id, "SELECT id FROM alerts WHERE rule = 'wait_long'");
    ck_assert_str_eq(id, "test-hall-1");
    /* The same condition again (a second ticket in the same area): still one alert. */
    take_ticket(kiosk);
    wait_level(&f, "wait_long", "area:intake", 2);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM alerts"), 1);
    db_text(&f, id2, sizeof id2, "SELECT id FROM alerts WHERE rule = 'wait_long'");
    ck_assert_str_eq(id2, id); /* escalated in place: the same id */

    /* ---- Acknowledge through hallweb, as the manager. ---- */
    web_sign_in(&w, "boss", "boss-pass-1", s, csrf);
    web_resp r = web_req(&w, "GET", "/api/v1/alerts", s, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *a0 = json_array_get(json_object_get(r.json, "alerts"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(a0, "id")), id);
    ck_assert_str_eq(json_string_value(json_object_get(a0, "level")), "critical");
    ck_assert_str_eq(json_string_value(json_object_get(a0, "state")), "raised");
    web_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/alerts/%s/ack", id);
    r = web_req(&w, "POST", path, s, csrf, NULL, "{\"note\":\"已安排增开窗口\"}");
    ck_assert_msg(r.status == 200, "ack: %d %s", r.status, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "alert"), "state")),
                     "acknowledged");
    web_resp_free(&r);
    ck_assert_int_eq(fix_db_int(&f,
                                "SELECT count(*) FROM alerts WHERE id = '%s' AND state = 2 "
                                "AND acked_by = 'boss' AND ack_note = '已安排增开窗口'",
                                id),
                     1);
    /* Twice is refused: it is acknowledged already. */
    r = web_req(&w, "POST", path, s, csrf, NULL, "{\"note\":\"again\"}");
    ck_assert_int_eq(r.status, 409);
    web_resp_free(&r);
    /* Without the CSRF token, nothing. */
    r = web_req(&w, "POST", path, s, NULL, NULL, "{\"note\":\"x\"}");
    ck_assert_int_eq(r.status, 403);
    web_resp_free(&r);
    /* An auditor reads the alerts but may not act on them; a clerk reads
     * nothing. */
    char s2[64], c2[64];
    web_sign_in(&w, "eye", "eye-pass-11", s2, c2);
    r = web_req(&w, "GET", "/api/v1/alerts?state=all", s2, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "alerts")), 1);
    web_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/alerts/%s/resolve", id);
    r = web_req(&w, "POST", path, s2, c2, NULL, "{\"note\":\"x\"}");
    ck_assert_msg(r.status == 403, "an auditor resolved an alert: %d %s", r.status, r.body);
    web_resp_free(&r);
    web_sign_in(&w, "clerk1", "clerk-pass-1", s2, c2);
    r = web_req(&w, "GET", "/api/v1/alerts", s2, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    web_resp_free(&r);
    web_stop(&w);

    /* ---- halld killed with SIGKILL, restarted: the alert stands, the same,
     * and no second one is raised for the same condition. ---- */
    devlink_close(kiosk);
    fix_kill(&f);
    fix_start(&f);
    usleep(1500 * 1000); /* a few evaluations after the restart */
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM alerts"), 1);
    ck_assert_int_eq(fix_db_int(&f, "SELECT state FROM alerts WHERE id = '%s'", id), 2);

    /* ---- Resolved by hand (hallctl); the condition still holds, so a new
     * alert with a new id is raised, and resolves by itself once the queue
     * is gone. ---- */
    ck_assert_int_eq(
        fix_hallctl(&f, "alerts resolve %s --note 已处理 --server 127.0.0.1:%d", id, f.port), 0);
    ck_assert_int_eq(fix_db_int(&f, "SELECT state FROM alerts WHERE id = '%s'", id), 3);
    wait_int(&f, 1, "a new alert after the manual resolve",
             "SELECT count(*) FROM alerts WHERE state IN (1, 2) AND id <> '%s'", id);
    devlink *w1 = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    proto_free(fix_sign_in(w1, 1, "c-1"));
    for (int i = 0; i < 2; i++)
        serve_next(&f, w1);
    wait_int(&f, 0, "every alert resolved", "SELECT count(*) FROM alerts WHERE state IN (1, 2)");
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM alerts WHERE resolved_by = 'halld'"), 1);
    devlink_close(w1);
    ck_assert_int_eq(fix_hallctl(&f, "alerts list --all"), 0);

    /* Every change is a delivery waiting for the receiver. */
    ck_assert_int_gt(fix_db_int(&f, "SELECT count(*) FROM webhook_deliveries"), 4);

    /* ---- A bad URL on reload is refused; the running one stays. ---- */
    write_conf(&f, NULL, "http://");
    kill(f.pid, SIGHUP);
    ck_assert(ts_file_contains(f.log, "the webhook URL names no host", WAIT_MS));
    write_conf(&f, NULL, url);

    /* ---- The receiver comes up. Its first delivery is held unanswered
     * while halld is killed with SIGKILL: after the restart it comes
     * again (at least once), and then everything is delivered. ---- */
    receiver_up(&rv);
    pthread_mutex_lock(&rv.mu);
    for (int i = 0; i < WAIT_MS / 50 && !rv.held; i++) {
        pthread_mutex_unlock(&rv.mu);
        usleep(50 * 1000);
        pthread_mutex_lock(&rv.mu);
    }
    ck_assert_msg(rv.held, "no delivery reached the receiver");
    pthread_mutex_unlock(&rv.mu);
    fix_kill(&f);
    pthread_mutex_lock(&rv.mu);
    rv.release = true;
    pthread_cond_broadcast(&rv.cv);
    pthread_mutex_unlock(&rv.mu);
    fix_start(&f);
    wait_int(&f, 0, "every delivery taken", "SELECT count(*) FROM webhook_deliveries");
    long long alerts = fix_db_int(&f, "SELECT count(*) FROM alerts");
    pthread_mutex_lock(&rv.mu);
    ck_assert_int_eq((long long)rv.nids, alerts);
    ck_assert(!rv.key_missing);
    ck_assert_uint_ge(rv.deliveries, (size_t)alerts);
    ck_assert_msg(rv.held_seen >= 2,
                  "delivery %s, unanswered when halld was killed, came %zu time(s)", rv.held_key,
                  rv.held_seen);
    for (size_t i = 0; i < rv.nids; i++)
        ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM alerts WHERE id = '%s'", rv.ids[i]),
                         1);
    pthread_mutex_unlock(&rv.mu);
    ck_assert_int_eq(fix_stop(&f), 0);
    receiver_down(&rv);
    fix_free(&f);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("supervision");
    TCase *tc = tcase_create("supervision");
    const char *which = argc > 1 ? argv[1] : "";

    tcase_set_timeout(tc, 600);
    if (strcmp(which, "lifecycle") != 0)
        tcase_add_test(tc, rules);
    if (strcmp(which, "rules") != 0)
        tcase_add_test(tc, lifecycle);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
