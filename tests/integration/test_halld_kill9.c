/*
 * halld_kill9_durability — a crash at any moment loses nothing answered.
 *
 * Round after round, halld runs under a load of kiosks issuing and printing
 * and windows calling and finishing, and is killed with SIGKILL at a random
 * moment (at least 50 times), then restarted. The devices remember every
 * answer they got. At the end, the store must hold every answered ticket
 * in a state at least as far along as its last answer, no display number
 * twice in a day, no ticket both waiting and at a window, and an intact
 * event chain.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hallfixture.h"
#include "testsupport.h"

#define ROUNDS   55
#define WINDOWS  4
#define MAX_ACKS 200000

/* What a device was told. */
enum ack_kind { ACK_ISSUED, ACK_PRINTED, ACK_CALLED, ACK_FINISHED };

struct ack {
    enum ack_kind kind;
    uint64_t ticket;
    uint32_t window_no;
};

static struct ack acks[MAX_ACKS];
static int nacks;
static pthread_mutex_t ack_lock = PTHREAD_MUTEX_INITIALIZER;

static void remember(enum ack_kind kind, uint64_t ticket, uint32_t window_no)
{
    pthread_mutex_lock(&ack_lock);
    if (nacks < MAX_ACKS)
        acks[nacks++] = (struct ack){kind, ticket, window_no};
    pthread_mutex_unlock(&ack_lock);
}

struct worker {
    hallfix *f;
    int round;
    uint32_t window_no; /* 0: the kiosk */
    volatile bool *stop;
};

/* Device request ids must never repeat across rounds (they would be
 * answered from the kept answers): each round gets its own range. */
static uint64_t id_base(int round, uint32_t window_no)
{
    return ((uint64_t)round + 1) * 100000000ULL + (uint64_t)window_no * 1000000ULL;
}

static void *kiosk_load(void *arg)
{
    struct worker *w = arg;
    char err[DEVLINK_ERR_LEN];
    devlink *k = fix_connect(w->f, "kiosk-01");
    Hall__Envelope *r;

    if (k == NULL)
        return NULL;
    r = devlink_hello(k, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0, 2000, err);
    proto_free(r);
    devlink_set_next_id(k, id_base(w->round, 0));
    while (!*w->stop) {
        Hall__Envelope env = HALL__ENVELOPE__INIT;
        Hall__IssueRequest issue = HALL__ISSUE_REQUEST__INIT;
        env.body_case = HALL__ENVELOPE__BODY_ISSUE;
        env.issue = &issue;
        if ((r = devlink_call(k, &env, 2000, err)) == NULL)
            break; /* the controller died */
        if (r->body_case != HALL__ENVELOPE__BODY_ISSUE_REPLY) {
            proto_free(r);
            continue;
        }
        uint64_t id = r->issue_reply->ticket->id;
        proto_free(r);
        remember(ACK_ISSUED, id, 0);
        Hall__Envelope p = HALL__ENVELOPE__INIT;
        Hall__Printed printed = HALL__PRINTED__INIT;
        printed.ticket_id = id;
        p.body_case = HALL__ENVELOPE__BODY_PRINTED;
        p.printed = &printed;
        if ((r = devlink_call(k, &p, 2000, err)) == NULL)
            break;
        if (r->body_case == HALL__ENVELOPE__BODY_TICKET_REPLY)
            remember(ACK_PRINTED, id, 0);
        proto_free(r);
    }
    devlink_close(k);
    return NULL;
}

static Hall__Envelope *window_call(devlink *l, Hall__Envelope__BodyCase op, uint32_t no,
                                   uint64_t ticket)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__CallNext call = HALL__CALL_NEXT__INIT;
    Hall__Start start = HALL__START__INIT;
    Hall__Finish finish = HALL__FINISH__INIT;
    char err[DEVLINK_ERR_LEN];

    env.body_case = op;
    if (op == HALL__ENVELOPE__BODY_CALL_NEXT) {
        call.window_no = no;
        env.call_next = &call;
    } else if (op == HALL__ENVELOPE__BODY_START) {
        start.window_no = no;
        start.ticket_id = ticket;
        env.start = &start;
    } else {
        finish.window_no = no;
        finish.ticket_id = ticket;
        env.finish = &finish;
    }
    return devlink_call(l, &env, 2000, err);
}

/* The last ticket each window was told it called, across rounds: after a
 * crash the window may be serving it without having heard so. */
static uint64_t last_called[WINDOWS + 1];

static void *window_load(void *arg)
{
    struct worker *w = arg;
    char id[16], clerk[16], err[DEVLINK_ERR_LEN];
    Hall__Envelope *r;

    snprintf(id, sizeof id, "win-%u", w->window_no);
    snprintf(clerk, sizeof clerk, "c-%u", w->window_no);
    devlink *l = fix_connect(w->f, id);
    if (l == NULL)
        return NULL;
    r = devlink_hello(l, id, HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, w->window_no, 2000, err);
    proto_free(r);
    devlink_set_next_id(l, id_base(w->round, w->window_no));
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__SignIn in = HALL__SIGN_IN__INIT;
    in.window_no = w->window_no;
    in.clerk_id = clerk;
    env.body_case = HALL__ENVELOPE__BODY_SIGN_IN;
    env.sign_in = &in;
    proto_free(devlink_call(l, &env, 2000, err)); /* refused when already open: fine */
    while (!*w->stop) {
        if ((r = window_call(l, HALL__ENVELOPE__BODY_CALL_NEXT, w->window_no, 0)) == NULL)
            break;
        if (r->body_case == HALL__ENVELOPE__BODY_ERROR &&
            r->error->code == HALL__ERROR_CODE__ERR_ILLEGAL_STATE && last_called[w->window_no]) {
            /* Serving a ticket whose START answer the crash swallowed. */
            proto_free(r);
            if ((r = window_call(l, HALL__ENVELOPE__BODY_FINISH, w->window_no,
                                 last_called[w->window_no])) == NULL)
                break;
            if (r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY)
                remember(ACK_FINISHED, last_called[w->window_no], w->window_no);
            proto_free(r);
            continue;
        }
        if (r->body_case != HALL__ENVELOPE__BODY_WINDOW_REPLY || r->window_reply->ticket == NULL) {
            /* Queue empty: wait for the kiosk. */
            proto_free(r);
            nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
            continue;
        }
        uint64_t t = r->window_reply->ticket->id;
        Hall__TicketState st = r->window_reply->ticket->state;
        proto_free(r);
        remember(ACK_CALLED, t, w->window_no);
        last_called[w->window_no] = t;
        if (st == HALL__TICKET_STATE__TICKET_CALLED) {
            if ((r = window_call(l, HALL__ENVELOPE__BODY_START, w->window_no, t)) == NULL)
                break;
            proto_free(r);
        }
        if ((r = window_call(l, HALL__ENVELOPE__BODY_FINISH, w->window_no, t)) == NULL)
            break;
        if (r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY)
            remember(ACK_FINISHED, t, w->window_no);
        proto_free(r);
    }
    devlink_close(l);
    return NULL;
}

/* Ticket states as the store keeps them (queue.h's q_state numbers). */
enum { RESERVED = 1, WAITING, CALLED, SERVING, DONE, NO_SHOW, HOLD, VOID, CANCELLED };
static const char *const state_names[] = {"?",    "RESERVED", "WAITING", "CALLED", "SERVING",
                                          "DONE", "NO_SHOW",  "HOLD",    "VOID",   "CANCELLED"};

static int sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int v = -1;

    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

START_TEST(kill9_loses_nothing_answered)
{
    hallfix f;
    unsigned seed = (unsigned)time(NULL);

    fprintf(stderr, "kill9: seed %u\n", seed);
    srand(seed);
    fix_init(&f, WINDOWS, "[queue]\nreserve_timeout = 10s\n");
    for (int round = 0; round < ROUNDS; round++) {
        volatile bool stop = false;
        pthread_t th[WINDOWS + 1];
        struct worker w[WINDOWS + 1];

        fix_start(&f);
        for (int i = 0; i <= WINDOWS; i++) {
            w[i] = (struct worker){&f, round, (uint32_t)i, &stop};
            ck_assert_int_eq(pthread_create(&th[i], NULL, i == 0 ? kiosk_load : window_load, &w[i]),
                             0);
        }
        /* Let the load run, then kill at a random moment. */
        nanosleep(&(struct timespec){0, (30 + rand() % 220) * 1000L * 1000L}, NULL);
        fix_kill(&f);
        stop = true;
        for (int i = 0; i <= WINDOWS; i++)
            pthread_join(th[i], NULL);
    }
    fprintf(stderr, "kill9: %d rounds, %d answers remembered\n", ROUNDS, nacks);
    ck_assert_int_gt(nacks, ROUNDS);

    /* One clean start proves the store opens and rebuilds after all that. */
    fix_start(&f);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);

    char path[1200];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/hall.db", f.dir);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT state, window_no FROM tickets WHERE id = ?1", -1, &st, NULL),
        SQLITE_OK);
    for (int i = 0; i < nacks; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)acks[i].ticket);
        ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "answered ticket %llu is lost",
                      (unsigned long long)acks[i].ticket);
        int state = sqlite3_column_int(st, 0);
        ck_assert(state >= RESERVED && state <= CANCELLED);
        const char *name = state_names[state];
        switch (acks[i].kind) {
        case ACK_ISSUED:
            break; /* any state: unprinted reservations expire to VOID */
        case ACK_PRINTED:
            ck_assert_msg(state != RESERVED && state != VOID, "printed ticket %llu is %s",
                          (unsigned long long)acks[i].ticket, name);
            break;
        case ACK_CALLED:
            ck_assert_msg(state != RESERVED && state != WAITING && state != VOID,
                          "called ticket %llu is %s", (unsigned long long)acks[i].ticket, name);
            break;
        case ACK_FINISHED:
            ck_assert_msg(state == DONE, "finished ticket %llu is %s",
                          (unsigned long long)acks[i].ticket, name);
            break;
        }
    }
    sqlite3_finalize(st);

    /* No display number twice in a day. */
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM (SELECT day, number FROM tickets "
                                 "GROUP BY day, number HAVING count(*) > 1)"),
                     0);
    /* Every ticket at a window is that window's current one, and no
     * waiting ticket is at a window. */
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM tickets WHERE state = 2 AND window_no != 0"),
                     0);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM tickets t WHERE t.state IN (3, 4) AND NOT "
                                 "EXISTS (SELECT 1 FROM windows w "
                                 "WHERE w.no = t.window_no AND w.current_ticket = t.id)"),
                     0);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM windows w WHERE w.current_ticket != 0 AND "
                                 "NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id = "
                                 "w.current_ticket AND t.state IN (3, 4) AND "
                                 "t.window_no = w.no)"),
                     0);
    sqlite3_close(db);

    /* The event chain is intact. */
    ck_assert_int_eq(fix_hallctl(&f, "audit verify"), 0);
    fix_free(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("halld_kill9_durability");
    TCase *tc = tcase_create("kill -9 under load");
    SRunner *sr;
    int failed;

    signal(SIGPIPE, SIG_IGN);
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, kill9_loses_nothing_answered);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
