/*
 * test_kiosk — the kiosk (firmware/kiosk, the library kioskd is made of)
 * in this process, with the in-process sim printer and card reader,
 * against a real halld and a hall made by hallctl (hallfixture). The
 * argument picks the case:
 *
 *   offline     kiosk_offline_lease: online tickets; halld stopped; tickets
 *               keep coming from the lease, marked offline on screen and on
 *               paper; halld back: they are uploaded once, in order; a
 *               second upload after a simulated crash adds nothing.
 *   paper_out   kiosk_paper_out_void: paper runs out in the middle of a
 *               ticket: it is VOID in halld, the screen says so and takes no
 *               ticket; paper back: the next ticket prints and is WAITING.
 *   restart     kiosk_halld_restart: halld killed (SIGKILL) and restarted
 *               while a stream of tickets is issued: every printed ticket is
 *               WAITING in halld exactly once, nothing else is.
 *   keypad      kiosk_keypad_timeout: with a 5 s inactivity timeout, a tap
 *               (touch) just inside it, again and again, keeps the keypad
 *               well past the timeout, and the code typed then checks in
 *               (a code with letters, as hallctl books it); without taps the
 *               keypad goes back to idle; a code the keypad cannot type is
 *               refused. Check-in by ID card: the card of the citizen
 *               booked issues the appointment's ticket; another card is
 *               refused with the Chinese sentence halld sends.
 *   cards       kiosk_card_messages: an expired card, a bad check digit, an
 *               unreadable card and a reader fault, each through the sim
 *               reader's real driver path: the error screen (error_kind
 *               "card") with its own sentence in Chinese and English, and no
 *               ticket; a good card afterwards gets its ticket.
 *   refused     kiosk_offline_refused_final: rows halld will never take,
 *               written into the kiosk's store (an offline ticket outside
 *               the kiosk's lease, one of two days ago, a PRINTED and a VOID
 *               for a ticket halld does not know): the refused offline
 *               tickets end REFUSED and are sent once, however often the
 *               link comes back; the offline tickets after them join; the
 *               refused ones show in the kiosk's device health, in
 *               `hallctl queues` too.
 *
 * halld's view is read from its database (read-only) and through a window
 * terminal calling the tickets.
 */
#include <check.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clk.h"
#include "hallfixture.h"
#include "kiosk.h"
#include "log.h"
#include "printer_sim.h"
#include "kqr.h"
#include "reader_sim.h"
#include "testsupport.h"

#define WAIT_MS 30000
#define MAX_TK  64

typedef struct kfix {
    hallfix hall;
    ev_loop *loop;
    kiosk_conf conf;
    kiosk *k;
    char ini[1200];
    const char *general_area; /* [flow] general_area, NULL: learnt from halld */
    const char *flow_extra;   /* more [flow] lines, NULL: none */
} kfix;

/* halld on a fixed port from its first start on, so a restarted halld is
 * where the kiosk's configuration says. */
static void hall_up(kfix *x)
{
    fix_init(&x->hall, 1, NULL);
    fix_start(&x->hall);
    ck_assert_int_eq(
        ts_system("sed -i -e 's/^port *=.*/port = %d/' %s", x->hall.port, x->hall.config), 0);
}

static void kiosk_up(kfix *x)
{
    char err[512], text[4096];
    const char *b = x->hall.dir;

    snprintf(x->ini, sizeof x->ini, "%s/kioskd.ini", b);
    snprintf(text, sizeof text,
             "[kiosk]\nid = kiosk-01\nlog_level = debug\n"
             "[halld]\naddress = 127.0.0.1:%d\nreconnect_max = 500ms\n"
             "cert = pki/devices/kiosk-01/kiosk-01.crt\nkey = pki/devices/kiosk-01/kiosk-01.key\n"
             "ca = pki/devices/kiosk-01/ca.crt\n"
             "[store]\npath = kiosk.db\n"
             "[flow]\nrequest_timeout = 20s\ngeneral_area = %s\n%s"
             "[idcard]\nsealing_key = pki/devices/kiosk-01/seal.pub\n",
             x->hall.port, x->general_area != NULL ? x->general_area : "",
             x->flow_extra != NULL ? x->flow_extra : "");
    ts_write_file(x->ini, text);
    memset(&x->conf, 0, sizeof x->conf);
    ck_assert_msg(kiosk_conf_load(&x->conf, x->ini, true, err, sizeof err) == 0, "%s", err);
    if (x->loop == NULL)
        x->loop = ev_new();
    ck_assert_ptr_nonnull(x->loop);
    x->k = kiosk_new(x->loop, &x->conf, err, sizeof err);
    ck_assert_msg(x->k != NULL, "kiosk_new: %s", err);
}

static void kiosk_down(kfix *x)
{
    kiosk_free(x->k);
    x->k = NULL;
    ev_run_once(x->loop, 0);
    kiosk_conf_release(&x->conf);
}

static void teardown(kfix *x)
{
    if (x->k != NULL)
        kiosk_down(x);
    ev_free(x->loop);
    fix_free(&x->hall);
}

/* Run the loop until pred holds (checked every turn). */
static bool run_until(kfix *x, bool (*pred)(kfix *x, const void *arg), const void *arg,
                      int timeout_ms)
{
    int64_t until = clk_mono_ms() + timeout_ms;

    while (!pred(x, arg)) {
        if (clk_mono_ms() > until)
            return false;
        ev_run_once(x->loop, 20);
    }
    return true;
}

static char *model(kfix *x)
{
    static char text[16384];
    buf b;

    buf_init(&b, 0);
    ck_assert_int_eq(kiosk_state_json(x->k, &b), 0);
    ck_assert_uint_lt(buf_rlen(&b), sizeof text);
    memcpy(text, buf_rdata(&b), buf_rlen(&b));
    text[buf_rlen(&b)] = '\0';
    buf_release(&b);
    return text;
}

static bool has(kfix *x, const void *needle)
{
    return strstr(model(x), needle) != NULL;
}

static bool online(kfix *x, const void *want)
{
    return kiosk_online(x->k) == (want != NULL);
}

static bool leases(kfix *x, const void *arg)
{
    return kiosk_online(x->k) &&
           kstore_lease_left(kiosk_store(x->k), "intake", clk_system_utc_ms()) >= x->conf.low_water;
}

static bool settled(kfix *x, const void *arg)
{
    return kiosk_idle(x->k) && kiosk_online(x->k) &&
           kstore_offline_count(kiosk_store(x->k), KSTORE_OFF_PRINTED) == 0 &&
           kstore_offline_count(kiosk_store(x->k), KSTORE_OFF_ISSUED) == 0;
}

/* The value of "key":"..." in the model. */
static void field(const char *json, const char *key, char *out, size_t len)
{
    char pat[64];
    const char *at;

    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    at = strstr(json, pat);
    ck_assert_msg(at != NULL, "no %s in %s", key, json);
    at += strlen(pat);
    size_t n = strcspn(at, "\"");
    ck_assert_uint_lt(n, len);
    memcpy(out, at, n);
    out[n] = '\0';
}

/* One tap on 一键取号 and the ticket the screen shows; "" if the flow
 * ended on the error screen instead. */
static void take(kfix *x, char *number, size_t len, bool *offline)
{
    char err[256];

    ck_assert_msg(kiosk_action(x->k, "take", "", err, sizeof err) == 0, "take: %s", err);
    /* A second tap while it is on its way changes nothing. */
    ck_assert_int_eq(kiosk_action(x->k, "take", "", err, sizeof err), 0);
    bool done = false;
    int64_t until = clk_mono_ms() + WAIT_MS;
    while (!done && clk_mono_ms() < until) {
        const char *m = model(x);
        done = strstr(m, "\"screen\":\"ticket\"") || strstr(m, "\"screen\":\"error\"");
        if (!done)
            ev_run_once(x->loop, 20);
    }
    ck_assert_msg(done, "no ticket: %s", model(x));
    const char *m = model(x);
    if (strstr(m, "\"screen\":\"error\"")) {
        number[0] = '\0';
    } else {
        field(m, "number", number, len);
        if (offline != NULL)
            *offline = strstr(m, "\"offline\":true") != NULL;
    }
    ck_assert_int_eq(kiosk_action(x->k, number[0] ? "done" : "back", "", err, sizeof err), 0);
}

/* The printed jobs that contain number. */
static int printed_count(kfix *x, const char *number)
{
    printer_sim *s = printer_sim_of(kiosk_printer(x->k));
    int n = 0;

    for (size_t i = 0; i < printer_sim_job_count(s); i++) {
        const uint8_t *data;
        size_t len;
        ck_assert(printer_sim_job(s, i, &data, &len));
        if (memmem(data, len, number, strlen(number)) != NULL)
            n++;
    }
    return n;
}

/* halld's tickets (number and state), in id order. */
static int hall_tickets(kfix *x, char numbers[][24], int *states, int max)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = 0;

    ck_assert_int_eq(
        sqlite3_open_v2(ts_path(x->hall.dir, "hall.db"), &db, SQLITE_OPEN_READONLY, NULL),
        SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT number, state FROM tickets ORDER BY id", -1, &st, NULL),
        SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW && n < max) {
        snprintf(numbers[n], 24, "%s", (const char *)sqlite3_column_text(st, 0));
        states[n++] = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* How many of halld's tickets have number, and how many of those are in
 * state. */
static void hall_count(kfix *x, const char *number, int state, int *all, int *in_state)
{
    char numbers[MAX_TK * 2][24];
    int states[MAX_TK * 2];
    int n = hall_tickets(x, numbers, states, MAX_TK * 2);

    *all = *in_state = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(numbers[i], number) == 0) {
            (*all)++;
            *in_state += states[i] == state;
        }
}

/* Whether halld shows, to a display that subscribes, this kiosk's
 * component name in state with a detail containing detail, and whether it
 * can issue. */
static bool hall_sees(kfix *x, const char *name, const char *state, const char *detail,
                      bool can_issue)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Subscribe sub = HALL__SUBSCRIBE__INIT;
    devlink *b = fix_device(&x->hall, "board-01", HALL__DEVICE_TYPE__DEVICE_DISPLAY, 0);
    bool seen = false;

    devlink_set_next_id(b, (uint64_t)clk_system_utc_ms() * 1000u);
    env.body_case = HALL__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &sub;
    Hall__Envelope *r = fix_call(b, &env);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_DISPLAY_PUSH);
    for (size_t i = 0; i < r->display_push->n_devices; i++) {
        const Hall__DeviceHealth *d = r->display_push->devices[i];

        if (strcmp(d->device_id, x->conf.id) != 0 || d->can_issue != can_issue)
            continue;
        for (size_t k = 0; k < d->n_components; k++)
            seen = seen || (strcmp(d->components[k]->name, name) == 0 &&
                            strcmp(d->components[k]->state, state) == 0 &&
                            strstr(d->components[k]->detail, detail) != NULL);
    }
    proto_free(r);
    devlink_close(b);
    return seen;
}

/* Run the kiosk until halld shows its component name in state (the kiosk
 * reports its health on its own link, asynchronously). */
static bool hall_learns(kfix *x, const char *name, const char *state, const char *detail,
                        bool can_issue)
{
    for (int i = 0; i < WAIT_MS / 200; i++) {
        if (hall_sees(x, name, state, detail, can_issue))
            return true;
        for (int64_t until = clk_mono_ms() + 200; clk_mono_ms() < until;)
            ev_run_once(x->loop, 20);
    }
    return false;
}

static bool hall_learns_printer(kfix *x, const char *state, bool can_issue)
{
    return hall_learns(x, "printer", state, "", can_issue);
}

/* Call every waiting ticket at window 1 (start, finish), in the order halld
 * calls them; returns how many. */
static int call_all(kfix *x, char numbers[][24], int max)
{
    devlink *w = fix_device(&x->hall, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    /* Fresh request ids: halld would answer reused ones from its memory. */
    devlink_set_next_id(w, (uint64_t)clk_system_utc_ms() * 1000u);
    Hall__Envelope *r = fix_sign_in(w, 1, "c-1");
    int n = 0;

    proto_free(r);
    for (;;) {
        r = fix_window_op(w, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
        if (r->body_case == HALL__ENVELOPE__BODY_ERROR) {
            ck_assert_int_eq(r->error->code, HALL__ERROR_CODE__ERR_QUEUE_EMPTY);
            proto_free(r);
            break;
        }
        ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
        ck_assert_ptr_nonnull(r->window_reply->ticket);
        uint64_t id = r->window_reply->ticket->id;
        ck_assert_int_lt(n, max);
        snprintf(numbers[n++], 24, "%s", r->window_reply->ticket->number);
        proto_free(r);
        r = fix_window_op(w, HALL__ENVELOPE__BODY_START, 1, id);
        ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
        proto_free(r);
        r = fix_window_op(w, HALL__ENVELOPE__BODY_FINISH, 1, id);
        ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
        proto_free(r);
    }
    devlink_close(w);
    return n;
}

/* ---- kiosk_offline_lease ------------------------------------------------- */

static void reset_uploaded(kfix *x)
{
    sqlite3 *db;

    ck_assert_int_eq(sqlite3_open(ts_path(x->hall.dir, "kiosk.db"), &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(db, "UPDATE offline SET state = 1 WHERE state = 3", NULL, NULL, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_changes(db), 3);
    sqlite3_close(db);
}

START_TEST(test_offline_lease)
{
    kfix x = {0};
    char num[8][24], called[16][24];
    bool off;

    hall_up(&x);
    kiosk_up(&x);
    ck_assert_msg(run_until(&x, leases, NULL, WAIT_MS), "no lease: %s", model(&x));
    for (int i = 0; i < 2; i++) {
        take(&x, num[i], sizeof num[i], &off);
        ck_assert_str_ne(num[i], "");
        ck_assert(!off);
    }
    ck_assert_str_eq(num[0], "A001");
    ck_assert_str_eq(num[1], "A002");

    /* halld goes away: the screen says offline, tickets still come. */
    ck_assert_int_eq(fix_stop(&x.hall), 0);
    ck_assert(run_until(&x, online, NULL, WAIT_MS));
    ck_assert_ptr_nonnull(strstr(model(&x), "\"link\":\"offline\""));
    ck_assert_ptr_nonnull(strstr(model(&x), "\"screen\":\"idle\""));
    for (int i = 2; i < 5; i++) {
        take(&x, num[i], sizeof num[i], &off);
        ck_assert_str_ne(num[i], "");
        ck_assert_msg(off, "ticket %s not marked offline", num[i]);
    }
    ck_assert_str_eq(num[2], "A900");
    ck_assert_str_eq(num[3], "A901");
    ck_assert_str_eq(num[4], "A902");
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(printed_count(&x, num[i]), 1);
    ck_assert_int_eq(kstore_offline_count(kiosk_store(x.k), KSTORE_OFF_PRINTED), 3);

    /* halld back: the three join the queue once, in order. */
    fix_start(&x.hall);
    ck_assert_msg(run_until(&x, settled, NULL, WAIT_MS), "not uploaded: %s", model(&x));
    ck_assert_int_eq(kstore_offline_count(kiosk_store(x.k), KSTORE_OFF_UPLOADED), 3);
    int n = call_all(&x, called, 16);
    ck_assert_int_eq(n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(called[i], num[i]);

    /* A crash after halld took the upload but before the kiosk noted it:
     * the upload comes again and adds nothing. */
    kiosk_down(&x);
    reset_uploaded(&x);
    kiosk_up(&x);
    ck_assert(run_until(&x, settled, NULL, WAIT_MS));
    ck_assert_int_eq(kstore_offline_count(kiosk_store(x.k), KSTORE_OFF_UPLOADED), 3);
    n = call_all(&x, called, 16);
    ck_assert_msg(n == 0, "%d called again, first %s", n, called[0]);
    for (int i = 0; i < 5; i++) {
        int all, done;
        hall_count(&x, num[i], 5 /* TICKET_DONE */, &all, &done);
        ck_assert_msg(all == 1 && done == 1, "%s: %d tickets, %d done", num[i], all, done);
    }
    teardown(&x);
}
END_TEST

/* ---- kiosk_paper_out_void ------------------------------------------------ */

START_TEST(test_paper_out_void)
{
    kfix x = {0};
    char a[24], b[24], c[24], err[256], called[8][24];
    int all, waiting, voided;

    hall_up(&x);
    kiosk_up(&x);
    ck_assert(run_until(&x, leases, NULL, WAIT_MS));
    take(&x, a, sizeof a, NULL);
    ck_assert_str_eq(a, "A001");

    printer_sim *sim = printer_sim_of(kiosk_printer(x.k));
    ck_assert_ptr_nonnull(sim);
    printer_sim_paper_out_mid_job(sim);
    take(&x, b, sizeof b, NULL);
    /* The ticket cut short is not the citizen's: the error screen. */
    ck_assert_str_eq(b, "");
    ck_assert(run_until(&x, has, "\"printer\":\"paper_out\"", WAIT_MS));
    ck_assert(run_until(&x, settled, NULL, WAIT_MS));
    ck_assert_ptr_nonnull(strstr(model(&x), "\"screen\":\"closed\""));
    ck_assert_ptr_nonnull(strstr(model(&x), "打印纸用完"));
    /* A kiosk without paper takes no ticket, and says why. */
    ck_assert_int_eq(kiosk_action(x.k, "take", "", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "打印纸用完"));
    ck_assert_int_eq(kiosk_action(x.k, "start", "", err, sizeof err), -1);
    ck_assert_int_eq(kiosk_action(x.k, "take", "intake", err, sizeof err), -1);
    ck_assert_int_eq(kiosk_action(x.k, "card", "", err, sizeof err), -1);
    /* halld was told: the hall manager sees the kiosk cannot issue. */
    ck_assert_msg(hall_learns_printer(&x, "paper_out", false), "halld did not learn paper out");

    /* halld: A001 waiting, A002 void, nothing else. */
    hall_count(&x, "A001", 2, &all, &waiting);
    ck_assert_int_eq(all, 1);
    ck_assert_int_eq(waiting, 1);
    hall_count(&x, "A002", 8, &all, &voided);
    ck_assert_int_eq(all, 1);
    ck_assert_int_eq(voided, 1);
    ck_assert_int_eq(printer_sim_job_count(sim), 2);

    /* Paper back: the next ticket prints and waits. */
    printer_sim_set(sim, 0);
    ck_assert(run_until(&x, has, "\"printer\":\"ok\"", WAIT_MS));
    ck_assert_ptr_nonnull(strstr(model(&x), "\"screen\":\"idle\""));
    ck_assert_msg(hall_learns_printer(&x, "ok", true), "halld did not learn the paper is back");
    take(&x, c, sizeof c, NULL);
    ck_assert_str_eq(c, "A003");
    ck_assert(run_until(&x, settled, NULL, WAIT_MS));
    hall_count(&x, "A003", 2, &all, &waiting);
    ck_assert_int_eq(waiting, 1);
    ck_assert_int_eq(printed_count(&x, "A003"), 1);
    ck_assert_int_eq(call_all(&x, called, 8), 2);
    ck_assert_str_eq(called[0], "A001");
    ck_assert_str_eq(called[1], "A003");
    teardown(&x);
}
END_TEST

/* ---- kiosk_halld_restart ------------------------------------------------- */

START_TEST(test_halld_restart)
{
    kfix x = {0};
    char num[MAX_TK][24], called[MAX_TK][24], err[256];
    int n = 0;

    hall_up(&x);
    kiosk_up(&x);
    ck_assert(run_until(&x, leases, NULL, WAIT_MS));
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++) {
            take(&x, num[n], sizeof num[n], NULL);
            ck_assert_str_ne(num[n], "");
            n++;
        }
        /* A ticket on its way when halld dies. */
        ck_assert_int_eq(kiosk_action(x.k, "take", "", err, sizeof err), 0);
        for (int i = 0; i < round * 3; i++)
            ev_run_once(x.loop, 1);
        fix_kill(&x.hall);
        bool done = false;
        int64_t until = clk_mono_ms() + WAIT_MS;
        while (!done && clk_mono_ms() < until) {
            done = strstr(model(&x), "\"screen\":\"ticket\"") != NULL;
            ev_run_once(x.loop, 20);
        }
        ck_assert_msg(done, "no ticket after the kill: %s", model(&x));
        field(model(&x), "number", num[n], sizeof num[n]);
        n++;
        ck_assert_int_eq(kiosk_action(x.k, "done", "", err, sizeof err), 0);
        fix_start(&x.hall);
        ck_assert_msg(run_until(&x, settled, NULL, WAIT_MS), "not settled: %s", model(&x));
    }
    ck_assert(run_until(&x, leases, NULL, WAIT_MS));
    for (int i = 0; i < 3; i++) {
        take(&x, num[n], sizeof num[n], NULL);
        n++;
    }
    /* A card swipe: a ticket with the masked name, one per presentation. */
    reader_sim *rs = reader_sim_of(kiosk_reader(x.k));
    ck_assert_ptr_nonnull(rs);
    reader_sim_set_card(rs, SAMDEV_VALID);
    ck_assert_msg(run_until(&x, has, "\"screen\":\"ticket\"", WAIT_MS), "%s", model(&x));
    char masked[64];
    field(model(&x), "number", num[n], sizeof num[n]);
    field(model(&x), "masked_name", masked, sizeof masked);
    ck_assert_str_ne(masked, "");
    n++;
    ck_assert_int_eq(kiosk_action(x.k, "done", "", err, sizeof err), 0);
    for (int i = 0; i < 50; i++)
        ev_run_once(x.loop, 20);
    ck_assert_ptr_nonnull(strstr(model(&x), "\"screen\":\"idle\""));
    reader_sim_set_card(rs, SAMDEV_NONE);
    ck_assert(run_until(&x, settled, NULL, WAIT_MS));

    /* Every ticket shown was printed once and waits in halld once. */
    for (int i = 0; i < n; i++) {
        int all, waiting;
        ck_assert_msg(printed_count(&x, num[i]) == 1, "%s printed %d times", num[i],
                      printed_count(&x, num[i]));
        hall_count(&x, num[i], 2, &all, &waiting);
        ck_assert_msg(all == 1 && waiting == 1, "%s: %d in halld, %d waiting", num[i], all,
                      waiting);
    }
    /* And nothing else waits: the queue is exactly the printed tickets. */
    int c = call_all(&x, called, MAX_TK);
    ck_assert_int_eq(c, n);
    for (int i = 0; i < c; i++) {
        int seen = 0;
        for (int j = 0; j < n; j++)
            seen += strcmp(called[i], num[j]) == 0;
        ck_assert_msg(seen == 1, "%s called but not printed", called[i]);
    }
    /* halld's other tickets (requests given up when it died) are void. */
    char numbers[MAX_TK * 2][24];
    int states[MAX_TK * 2];
    int total = hall_tickets(&x, numbers, states, MAX_TK * 2);
    for (int i = 0; i < total; i++)
        ck_assert_msg(states[i] == 5 || states[i] == 8, "%s left in state %d", numbers[i],
                      states[i]);
    teardown(&x);
}
END_TEST

/* ---- kiosk_offline_refused_final ----------------------------------------- */

/* SQL on the kiosk's store (the kiosk closed). */
static void kiosk_sql(kfix *x, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    ck_assert_int_eq(sqlite3_open(ts_path(x->hall.dir, "kiosk.db"), &db), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg);
    sqlite3_close(db);
}

/* The state of the kiosk's online ticket ticket_id, -1 if it has none. */
static int kiosk_ticket_state(kfix *x, uint64_t ticket_id)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int state = -1;

    ck_assert_int_eq(sqlite3_open(ts_path(x->hall.dir, "kiosk.db"), &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT state FROM tickets WHERE ticket_id = ?1", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)ticket_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        state = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return state;
}

/* How many of the answers halld kept for the kiosk's requests (every
 * request that changes the hall, refusals too) mention needle: upload
 * answers with a result for that number, errors whose sentence has it. */
static int kept_answers(kfix *x, const char *needle)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = 0;

    ck_assert_int_eq(
        sqlite3_open_v2(ts_path(x->hall.dir, "hall.db"), &db, SQLITE_OPEN_READONLY, NULL),
        SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT reply FROM requests WHERE device = 'kiosk-01'"
                                        " AND reply IS NOT NULL",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        Hall__Envelope *e =
            proto_unpack(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        ck_assert_ptr_nonnull(e);
        if (e->body_case == HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY) {
            for (size_t i = 0; i < e->offline_upload_reply->n_results; i++)
                n += strcmp(e->offline_upload_reply->results[i]->number, needle) == 0;
        } else if (e->body_case == HALL__ENVELOPE__BODY_ERROR) {
            n += strstr(e->error->message, needle) != NULL;
        }
        proto_free(e);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* The kiosk's refusals, as halld shows them. */
static bool hall_shows_refusals(kfix *x)
{
    return hall_learns(x, "offline", "refused", "2 offline tickets refused by halld: A980 A918",
                       true) &&
           hall_learns(x, "printed", "refused", "1 printed ticket refused by halld: A777", true);
}

START_TEST(test_offline_refused_final)
{
    kfix x = {0};
    char num[4][24], called[8][24], sql[1024];
    bool off;

    hall_up(&x);
    /* Restarted offline, the kiosk cannot learn the one-tap area. */
    x.general_area = "intake";
    kiosk_up(&x);
    ck_assert(run_until(&x, leases, NULL, WAIT_MS));
    take(&x, num[0], sizeof num[0], &off);
    ck_assert_str_eq(num[0], "A001");
    kiosk_down(&x);

    /* Rows halld will never take, as an intruder or a bug would leave
     * them: an offline ticket outside the kiosk's lease (A900..A919), one
     * of two days ago, a PRINTED and a VOID for tickets halld never
     * issued. They come first: the oldest rows. */
    int64_t now = clk_system_utc_ms();
    snprintf(
        sql, sizeof sql,
        "INSERT INTO offline(area, number, seq, issued_ms, priority, masked_name, state)"
        " VALUES('intake', 'A980', 81, %lld, 0, '', 1), ('intake', 'A918', 19, %lld, 0, '', 1);"
        "INSERT INTO tickets(ticket_id, number, state, reason, at)"
        " VALUES(987654, 'A777', 1, '', %lld), (987655, 'A778', 2, 'paper out', %lld);",
        (long long)now, (long long)(now - 2 * 86400000LL), (long long)now, (long long)now);
    kiosk_sql(&x, sql);

    /* halld away: two offline tickets after them. */
    ck_assert_int_eq(fix_stop(&x.hall), 0);
    kiosk_up(&x);
    for (int i = 1; i < 3; i++) {
        take(&x, num[i], sizeof num[i], &off);
        ck_assert_msg(off, "ticket %s not offline", num[i]);
    }
    ck_assert_str_eq(num[1], "A900");
    ck_assert_str_eq(num[2], "A901");

    /* halld back: the refused rows end for good, the others join. */
    fix_start(&x.hall);
    ck_assert_msg(run_until(&x, settled, NULL, WAIT_MS), "not settled: %s", model(&x));
    ck_assert_int_eq(kstore_offline_count(kiosk_store(x.k), KSTORE_OFF_REFUSED), 2);
    ck_assert_int_eq(kstore_offline_count(kiosk_store(x.k), KSTORE_OFF_UPLOADED), 2);
    ck_assert_int_eq(kiosk_ticket_state(&x, 987654), KSTORE_TK_REFUSED);
    ck_assert_int_eq(kiosk_ticket_state(&x, 987655), -1);
    ck_assert_msg(hall_shows_refusals(&x), "halld does not show the refusals");
    ck_assert_int_eq(call_all(&x, called, 8), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(called[i], num[i]);

    /* The link comes back twice: nothing refused is sent again. */
    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(fix_stop(&x.hall), 0);
        ck_assert(run_until(&x, online, NULL, WAIT_MS));
        fix_start(&x.hall);
        ck_assert(run_until(&x, online, "up", WAIT_MS));
        ck_assert_msg(hall_shows_refusals(&x), "halld does not show the refusals again");
        ck_assert(run_until(&x, settled, NULL, WAIT_MS));
    }
    ck_assert_int_eq(kept_answers(&x, "A980"), 1);
    ck_assert_int_eq(kept_answers(&x, "A918"), 1);
    ck_assert_int_eq(kept_answers(&x, "A900"), 1);
    ck_assert_int_eq(kept_answers(&x, "no ticket 987654"), 1);
    ck_assert_int_eq(kept_answers(&x, "no ticket 987655"), 1);

    /* What the hall manager sees. */
    ck_assert_int_eq(fix_hallctl(&x.hall, "queues"), 0);
    char *out = ts_slurp(ts_path(x.hall.dir, "hallctl.log"));
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(strstr(out, "offline  refused    2 offline tickets refused by halld: A980 A918"),
                  "hallctl queues:\n%s", out);
    ck_assert_msg(strstr(out, "printed  refused    1 printed ticket refused by halld: A777"),
                  "hallctl queues:\n%s", out);
    ck_assert_msg(strstr(out, "clock    ok"), "hallctl queues:\n%s", out);
    free(out);
    teardown(&x);
}
END_TEST

/* ---- kiosk_clock_skew ----------------------------------------------------- */

/* How far an offline ticket's stamp may be from halld's time when it was
 * taken: the offset is measured to a few milliseconds on loopback; this
 * only bounds the test, it is not a speed requirement. */
#define STAMP_SLACK_MS 5000

/* The kiosk's clock: the system clock plus skew_ms (0: the system clock).
 * Set while no thread of the kiosk runs (clk.h). */
static void set_kiosk_clock(int64_t skew_ms)
{
    int64_t now = clk_system_utc_ms();
    clk_source src = {
        .system = skew_ms == 0, .start_utc_ms = now + skew_ms, .anchor_utc_ms = now, .rate = 1.0};

    ck_assert_int_eq(clk_set_source(&src), 0);
}

/* One integer from the kiosk's store (or halld's database, hall) about
 * number: -1 if no row. */
static long long row_int(kfix *x, bool hall, const char *sql, const char *number)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;

    ck_assert_int_eq(sqlite3_open_v2(ts_path(x->hall.dir, hall ? "hall.db" : "kiosk.db"), &db,
                                     SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s", sql);
    sqlite3_bind_text(st, 1, number, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* An online ticket: printed once, waiting in halld once. */
static void take_online(kfix *x, char *number, size_t len)
{
    bool off = true;
    int all, waiting;

    take(x, number, len, &off);
    ck_assert_msg(number[0] != '\0', "no ticket: %s", model(x));
    ck_assert_msg(!off, "%s issued offline", number);
    ck_assert(run_until(x, settled, NULL, WAIT_MS));
    ck_assert_int_eq(printed_count(x, number), 1);
    hall_count(x, number, 2, &all, &waiting);
    ck_assert_msg(all == 1 && waiting == 1, "%s: %d in halld, %d waiting", number, all, waiting);
}

/* An offline ticket, stamped with halld's time as it was taken. */
static void take_offline(kfix *x, char *number, size_t len)
{
    int64_t before = clk_system_utc_ms();
    bool off = false;

    take(x, number, len, &off);
    int64_t after = clk_system_utc_ms();
    ck_assert_msg(number[0] != '\0', "no ticket: %s", model(x));
    ck_assert_msg(off, "%s not offline", number);
    long long at = row_int(x, false, "SELECT issued_ms FROM offline WHERE number = ?1", number);
    ck_assert_msg(at >= before - STAMP_SLACK_MS && at <= after + STAMP_SLACK_MS,
                  "%s stamped %lld ms from halld's time", number,
                  at < before ? at - before : at - after);
}

START_TEST(test_clock_skew)
{
    static const int64_t skews[] = {5 * 60000, -5 * 60000};
    kfix x = {0};
    char on[4][24], off[5][24], called[16][24], sentence[64];
    int non = 0, noff = 0;

    hall_up(&x);
    x.general_area = "intake";
    for (int r = 0; r < 2; r++) {
        set_kiosk_clock(skews[r]);
        kiosk_up(&x);
        ck_assert(run_until(&x, leases, NULL, WAIT_MS));
        snprintf(sentence, sizeof sentence, "kiosk clock 300 s %s halld",
                 skews[r] > 0 ? "ahead of" : "behind");
        ck_assert_msg(hall_learns(&x, "clock", "skewed", sentence, true), "halld does not show %s",
                      sentence);
        /* Online: printed (halld's reservation compared on halld's clock,
         * not voided), waiting. */
        take_online(&x, on[non], sizeof on[non]);
        non++;
        /* Offline: stamped with halld's time, joined with that time. */
        ck_assert_int_eq(fix_stop(&x.hall), 0);
        ck_assert(run_until(&x, online, NULL, WAIT_MS));
        for (int i = 0; i < 2; i++, noff++)
            take_offline(&x, off[noff], sizeof off[noff]);
        fix_start(&x.hall);
        ck_assert_msg(run_until(&x, settled, NULL, WAIT_MS), "not uploaded: %s", model(&x));
        for (int i = noff - 2; i < noff; i++) {
            long long kept =
                row_int(&x, false, "SELECT issued_ms FROM offline WHERE number = ?1", off[i]);
            ck_assert_int_eq(
                row_int(&x, false, "SELECT state FROM offline WHERE number = ?1", off[i]),
                KSTORE_OFF_UPLOADED);
            ck_assert_int_eq(row_int(&x, true,
                                     "SELECT issued_ms FROM tickets WHERE number = ?1"
                                     " AND offline = 1 AND state = 2",
                                     off[i]),
                             kept);
        }
        take_online(&x, on[non], sizeof on[non]);
        non++;
        kiosk_down(&x);
    }

    /* A wrong offset in the store (a store copied from another kiosk, a
     * bug), the kiosk restarted while halld is away: its offline ticket
     * claims a time ten minutes before its lease was granted. */
    set_kiosk_clock(0);
    ck_assert_int_eq(fix_stop(&x.hall), 0);
    kiosk_sql(&x, "UPDATE meta SET value = -600000 WHERE key = 'clock_offset_ms'");
    kiosk_up(&x);
    bool is_off = false;
    take(&x, off[noff], sizeof off[noff], &is_off);
    ck_assert_msg(is_off, "%s not offline", off[noff]);
    fix_start(&x.hall);
    ck_assert_msg(run_until(&x, settled, NULL, WAIT_MS), "not settled: %s", model(&x));
    /* halld refused it for good: it ends REFUSED on the kiosk, is shown,
     * and is not in the queue; the clock is right again. */
    ck_assert_int_eq(row_int(&x, false, "SELECT state FROM offline WHERE number = ?1", off[noff]),
                     KSTORE_OFF_REFUSED);
    ck_assert_int_eq(row_int(&x, true, "SELECT COUNT(*) FROM tickets WHERE number = ?1", off[noff]),
                     0);
    ck_assert(hall_learns(&x, "offline", "refused", off[noff], true));
    ck_assert(hall_learns(&x, "clock", "ok", "", true));

    /* Everything that joined is called in the order it was taken. */
    const char *order[] = {on[0], off[0], off[1], on[1], on[2], off[2], off[3], on[3]};
    ck_assert_int_eq(call_all(&x, called, 16), 8);
    for (int i = 0; i < 8; i++)
        ck_assert_str_eq(called[i], order[i]);
    teardown(&x);
}
END_TEST

/* ---- kiosk_retired_area_hidden ------------------------------------------ */

static bool lacks(kfix *x, const void *needle)
{
    return !has(x, needle);
}

/* An area the catalog no longer names leaves the kiosk's screen, whether
 * tickets still wait in it (halld shows it as retired) or not (halld no
 * longer lists it); the others stay. */
START_TEST(test_retired_area_hidden)
{
    kfix x = {0};

    hall_up(&x);
    kiosk_up(&x);
    ck_assert_msg(run_until(&x, has, "\"code\":\"tax\"", WAIT_MS), "%s", model(&x));
    ck_assert_int_eq(fix_hallctl(&x.hall, "issue --area tax --server 127.0.0.1:%d", x.hall.port),
                     0);
    ck_assert_int_eq(
        fix_hallctl(&x.hall, "catalog import %s/catalog-without-tax.json", TEST_DATA_DIR), 0);
    ck_assert_msg(run_until(&x, lacks, "\"code\":\"tax\"", WAIT_MS), "%s", model(&x));
    ck_assert(has(&x, "\"code\":\"intake\""));
    ck_assert(has(&x, "\"code\":\"fund\""));
    /* Back in the catalog: offered again. */
    ck_assert_int_eq(fix_hallctl(&x.hall, "catalog import %s/sample-catalog.json", SAMPLE_DIR), 0);
    ck_assert_msg(run_until(&x, has, "\"code\":\"tax\"", WAIT_MS), "%s", model(&x));
    teardown(&x);
}
END_TEST

static int act(kfix *x, const char *name, const char *param)
{
    char err[256];

    return kiosk_action(x->k, name, param, err, sizeof err);
}

/* Run the loop for ms. */
static void run_for(kfix *x, int ms)
{
    int64_t until = clk_mono_ms() + ms;

    while (clk_mono_ms() < until)
        ev_run_once(x->loop, 20);
}

#define SCREEN(name) "\"screen\":\"" name "\""

/* The ticket on screen and on paper say the same: the wait in words
 * (never "0 minutes"), halld's missed-call rule, the appointment mark; the
 * preview's QR code is an SVG of the URL the printed QR code carries. */
static void check_ticket(kfix *x)
{
    char url[256], qr[64], wait[64];
    const char *m = model(x);

    ck_assert_msg(
        strstr(m, "\"rule_zh\":\"叫号3次未到即为过号；过号请在10分钟内回到取号机重新排队\"") !=
            NULL,
        "%s", m);
    ck_assert_msg(strstr(m, "分钟内回到取号机") != NULL &&
                      strstr(m, "\"rule_en\":\"Not there") != NULL,
                  "%s", m);
    ck_assert_ptr_null(strstr(m, "0 分钟"));
    /* The fixture's window 1 serves every area. */
    ck_assert_msg(strstr(m, "\"windows\":[1]") != NULL, "%s", m);
    field(m, "wait_zh", wait, sizeof wait);
    ck_assert_msg(strcmp(wait, "即将叫号") == 0 || strncmp(wait, "约 ", 4) == 0, "%s", wait);
    field(m, "qr_text", url, sizeof url);
    ck_assert_msg(strncmp(url, "https://hall.example/q/", 23) == 0, "%s", url);
    field(m, "qr", qr, sizeof qr);
    ck_assert_msg(strncmp(qr, "/ticket-qr.svg?seq=", 19) == 0, "%s", qr);
    buf svg;
    char modules[32];
    buf_init(&svg, 0);
    ck_assert_int_eq(kiosk_ticket_qr_svg(x->k, &svg), 0);
    snprintf(modules, sizeof modules, "data-modules=\"%d\"", kqr_width(url));
    ck_assert_ptr_nonnull(memmem(buf_rdata(&svg), buf_rlen(&svg), modules, strlen(modules)));
    buf_release(&svg);
    /* The printed ticket: the same URL in its QR code, the mark and the
     * wait in the same words (GB18030). */
    printer_sim *ps = printer_sim_of(kiosk_printer(x->k));
    const uint8_t *data;
    size_t len, jobs = printer_sim_job_count(ps);
    ck_assert_uint_gt(jobs, 0);
    ck_assert(printer_sim_job(ps, jobs - 1, &data, &len));
    ck_assert_ptr_nonnull(memmem(data, len, url, strlen(url)));
    ck_assert_ptr_nonnull(memmem(data, len, "\xD4\xA4\xD4\xBC", 4)); /* 预约 */
    ck_assert_ptr_nonnull(memmem(data, len, "\xB9\xFD\xBA\xC5", 4)); /* 过号 */
    static const char windows[] =
        "\xB0\xEC\xC0\xED\xB4\xB0\xBF\xDA\xA3\xBA\x31\xBA\xC5"; /* 办理窗口：1号 */
    ck_assert_ptr_nonnull(memmem(data, len, windows, sizeof windows - 1));
    if (strcmp(wait, "即将叫号") == 0)
        ck_assert_ptr_nonnull(memmem(data, len, "\xBC\xB4\xBD\xAB\xBD\xD0\xBA\xC5", 8));
}

START_TEST(test_keypad_timeout)
{
    kfix x = {.flow_extra = "idle_timeout = 5s\n[printer]\nticket_url = https://hall.example/q/"
                            "{day}/{number}\n"};
    clk_zone *zone = clk_zone_new("Asia/Shanghai");
    clk_civil slot;
    idcard_identity id;

    hall_up(&x);
    ck_assert_int_eq(samdev_card_identity(SAMDEV_VALID, &id), 0);
    clk_to_civil(zone, clk_utc_ms() + 5 * 60000, &slot);
    clk_zone_free(zone);
    ck_assert_int_eq(fix_hallctl(&x.hall,
                                 "appointment add --code K7M2Q9 --area intake "
                                 "--at '%04d-%02d-%02d %02d:%02d'",
                                 slot.year, slot.month, slot.day, slot.hour, slot.minute),
                     0);
    /* Booked for the valid card's citizen, the number on standard input. */
    char idfile[1100], idline[40];
    snprintf(idfile, sizeof idfile, "%s/id-number", x.hall.dir);
    snprintf(idline, sizeof idline, "%s\n", id.id_number);
    ts_write_file(idfile, idline);
    ck_assert_int_eq(fix_hallctl(&x.hall,
                                 "appointment add --code CARD01 --area intake --id-number - "
                                 "--at '%04d-%02d-%02d %02d:%02d' <%s",
                                 slot.year, slot.month, slot.day, slot.hour, slot.minute, idfile),
                     0);
    /* A number with a wrong check digit is refused. */
    idline[17] = idline[17] == '1' ? '2' : '1';
    ts_write_file(idfile, idline);
    ck_assert_int_eq(fix_hallctl(&x.hall,
                                 "appointment add --code CARD02 --area intake --id-number - "
                                 "--at '%04d-%02d-%02d %02d:%02d' <%s",
                                 slot.year, slot.month, slot.day, slot.hour, slot.minute, idfile),
                     1);
    kiosk_up(&x);
    ck_assert(run_until(&x, online, "", WAIT_MS));
    /* The keypad types what hallctl books. */
    ck_assert_msg(has(&x, "\"keypad\":{\"alphabet\":\"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ\","
                          "\"min\":4,\"max\":12}"),
                  "%s", model(&x));

    /* A slow typist: a tap every 4 s, five times, 20 s on a 5 s timeout. */
    ck_assert_int_eq(act(&x, "appointment", ""), 0);
    ck_assert(has(&x, SCREEN("appointment")));
    for (int i = 0; i < 5; i++) {
        run_for(&x, 4000);
        ck_assert_msg(has(&x, SCREEN("appointment")), "tap %d: %s", i, model(&x));
        ck_assert_int_eq(act(&x, "touch", ""), 0);
    }
    /* A code the keypad cannot type (O) is refused; the screen stays. */
    ck_assert_int_eq(act(&x, "appointment", "K7M2O9"), -1);
    ck_assert(has(&x, SCREEN("appointment")));
    /* The code typed all along checks in. */
    ck_assert_int_eq(act(&x, "appointment", "K7M2Q9"), 0);
    ck_assert_msg(run_until(&x, has, SCREEN("ticket"), WAIT_MS), "%s", model(&x));
    ck_assert_msg(has(&x, "\"appointment\":true"), "%s", model(&x));
    check_ticket(&x);
    ck_assert_int_eq(act(&x, "done", ""), 0);

    /* Nobody tapping: the keypad goes back to idle by itself. */
    ck_assert_int_eq(act(&x, "appointment", ""), 0);
    ck_assert_msg(run_until(&x, has, SCREEN("idle"), WAIT_MS), "%s", model(&x));

    /* Check-in by ID card: the booked citizen's card. */
    reader_sim *rs = reader_sim_of(kiosk_reader(x.k));
    ck_assert_ptr_nonnull(rs);
    ck_assert(run_until(&x, has, "\"reader\":\"ok\"", WAIT_MS));
    ck_assert_int_eq(act(&x, "appointment_card", ""), 0);
    ck_assert_msg(has(&x, "\"card_check_in\":true"), "%s", model(&x));
    reader_sim_set_card(rs, SAMDEV_VALID);
    ck_assert_msg(run_until(&x, has, SCREEN("ticket"), WAIT_MS), "%s", model(&x));
    ck_assert_msg(has(&x, "\"appointment\":true"), "%s", model(&x));
    reader_sim_set_card(rs, SAMDEV_NONE);
    ck_assert_int_eq(act(&x, "done", ""), 0);
    /* Another citizen, with no appointment today: refused in Chinese. */
    run_for(&x, 1500);
    ck_assert_int_eq(act(&x, "appointment_card", ""), 0);
    reader_sim_set_card(rs, SAMDEV_HKMT);
    ck_assert_msg(run_until(&x, has, SCREEN("error"), WAIT_MS), "%s", model(&x));
    ck_assert_msg(has(&x, "没有找到您今天的预约"), "%s", model(&x));
    ck_assert_msg(has(&x, "\"error_kind\":\"refused\""), "%s", model(&x));
    reader_sim_set_card(rs, SAMDEV_NONE);
    teardown(&x);
}
END_TEST

/* Present card c (or arm the reader's trouble) and expect the card error
 * screen with both sentences; then the card goes and the screen is left. */
static void expect_card_error(kfix *x, const char *zh, const char *en)
{
    ck_assert_msg(run_until(x, has, "\"error_kind\":\"card\"", WAIT_MS), "%s", model(x));
    ck_assert_msg(has(x, SCREEN("error")), "%s", model(x));
    ck_assert_msg(has(x, zh), "want %s: %s", zh, model(x));
    ck_assert_msg(has(x, en), "want %s: %s", en, model(x));
}

START_TEST(test_card_messages)
{
    kfix x = {0};

    hall_up(&x);
    kiosk_up(&x);
    ck_assert(run_until(&x, online, "", WAIT_MS));
    reader_sim *rs = reader_sim_of(kiosk_reader(x.k));
    ck_assert_ptr_nonnull(rs);
    ck_assert(run_until(&x, has, "\"reader\":\"ok\"", WAIT_MS));

    /* Expired, swiped on the idle screen. */
    reader_sim_set_card(rs, SAMDEV_EXPIRED);
    expect_card_error(&x, "身份证已过期", "has expired");
    reader_sim_set_card(rs, SAMDEV_NONE);
    run_for(&x, 1500);
    ck_assert_int_eq(act(&x, "back", ""), 0);

    /* A bad check digit, on the card screen. */
    ck_assert_int_eq(act(&x, "card", ""), 0);
    reader_sim_set_card(rs, SAMDEV_BAD_CHECK);
    expect_card_error(&x, "号码校验不通过", "does not check out");
    reader_sim_set_card(rs, SAMDEV_NONE);
    run_for(&x, 1500);
    ck_assert_int_eq(act(&x, "back", ""), 0);

    /* Unreadable: the read's answer garbled. */
    ck_assert_int_eq(act(&x, "card", ""), 0);
    reader_sim_set_fault(rs, SAMDEV_FAULT_BAD_CHECKSUM, false);
    reader_sim_set_card(rs, SAMDEV_VALID);
    expect_card_error(&x, "没有读出身份证", "could not be read");
    reader_sim_set_card(rs, SAMDEV_NONE);
    run_for(&x, 1500);
    ck_assert_int_eq(act(&x, "back", ""), 0);

    /* The reader stops answering while the citizen is on the card screen. */
    ck_assert_int_eq(act(&x, "card", ""), 0);
    reader_sim_set_silent(rs, true);
    expect_card_error(&x, "读卡器故障", "card reader is not working");
    ck_assert_msg(run_until(&x, has, "\"reader\":\"offline\"", WAIT_MS), "%s", model(&x));
    ck_assert_int_eq(act(&x, "back", ""), 0);
    /* A citizen offered the card while the reader is down is told so. */
    ck_assert_int_eq(act(&x, "card", ""), -1);
    reader_sim_set_silent(rs, false);
    ck_assert(run_until(&x, has, "\"reader\":\"ok\"", WAIT_MS));

    /* None of them made a ticket in halld; a good card does. */
    char numbers[MAX_TK][24];
    int states[MAX_TK];
    ck_assert_int_eq(hall_tickets(&x, numbers, states, MAX_TK), 0);
    ck_assert_int_eq(act(&x, "card", ""), 0);
    reader_sim_set_card(rs, SAMDEV_VALID);
    ck_assert_msg(run_until(&x, has, SCREEN("ticket"), WAIT_MS), "%s", model(&x));
    ck_assert_msg(has(&x, "\"error_kind\":\"\""), "%s", model(&x));
    char number[32];
    field(model(&x), "number", number, sizeof number);
    ck_assert_int_eq(hall_tickets(&x, numbers, states, MAX_TK), 1);
    ck_assert_str_eq(numbers[0], number);
    reader_sim_set_card(rs, SAMDEV_NONE);
    teardown(&x);
}
END_TEST

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    Suite *s = suite_create("kiosk");
    TCase *tc = tcase_create(which);

    log_open("test_kiosk", LOG_LEVEL_INFO, LOG_TO_STDERR);
    tcase_set_timeout(tc, 300);
    if (strcmp(which, "offline") == 0)
        tcase_add_test(tc, test_offline_lease);
    else if (strcmp(which, "paper_out") == 0)
        tcase_add_test(tc, test_paper_out_void);
    else if (strcmp(which, "restart") == 0)
        tcase_add_test(tc, test_halld_restart);
    else if (strcmp(which, "refused") == 0)
        tcase_add_test(tc, test_offline_refused_final);
    else if (strcmp(which, "skew") == 0)
        tcase_add_test(tc, test_clock_skew);
    else if (strcmp(which, "retired") == 0)
        tcase_add_test(tc, test_retired_area_hidden);
    else if (strcmp(which, "keypad") == 0)
        tcase_add_test(tc, test_keypad_timeout);
    else if (strcmp(which, "cards") == 0)
        tcase_add_test(tc, test_card_messages);
    else {
        fprintf(stderr,
                "usage: test_kiosk offline|paper_out|restart|refused|skew|retired|keypad|cards\n");
        return EXIT_FAILURE;
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
