/*
 * halld_turn_isolation — one request can never fail a turn. In process, as
 * server.c drives the hall in one loop turn (several hall_request() calls,
 * then one hall_commit()), on the crash VFS (tests/support/crashvfs.h) so a
 * write or a COMMIT can be made to fail:
 *
 *  - an offline upload with bad tickets among good ones: each good ticket
 *    joins, each bad one is refused on its own, a retry changes nothing;
 *  - refusals in the same turn as other devices' requests: nothing refused
 *    changes anything, every answer is kept, everything else commits;
 *  - a request whose store write fails (a number another writer took):
 *    only it is undone and answered "unavailable"; the rest of its turn
 *    commits, and its retry succeeds;
 *  - a COMMIT that fails (disk full): the turn is lost, answers kept in
 *    it are forgotten — only they would cost their links — answers kept in
 *    earlier turns (refusals too) stay, and a retry once the disk has room
 *    succeeds.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clk.h"
#include "crashvfs.h"
#include "hall.h"
#include "log.h"
#include "testsupport.h"

static struct halld_conf conf;
static char dir[512], db[600];
static store *st;
static hall *h;

enum { KIOSK1, KIOSK2, WIN1, WIN2, BOARD, NDEV };
static hall_device dev[NDEV];

/* protobuf-c holds char * in messages that are only packed. */
static char *wire_str(const char *s)
{
    union {
        const char *in;
        char *out;
    } u = {s};
    return u.out;
}

static void setup(void)
{
    char err[512], ini[700], *d = ts_tmpdir("turn");

    ck_assert_int_eq(crashvfs_register(), 0);
    snprintf(dir, sizeof dir, "%s", d);
    free(d);
    snprintf(db, sizeof db, "%s/hall.db", dir);
    snprintf(ini, sizeof ini, "%s/halld.ini", dir);
    ts_write_file(ini, "[hall]\nid = turn-hall\ntime_zone = UTC\n[store]\npath = hall.db\n"
                       "[queue]\nreserve_timeout = 30m\n");
    /* The hall secret ([privacy] secret's default place), as hallctl init writes it. */
    ts_write_file(ts_path(dir, "secret.key"),
                  "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    ck_assert_msg(halld_conf_load(&conf, ini, err, sizeof err) == 0, "%s", err);
    log_open("halld_turn_isolation", LOG_LEVEL_ERROR, 0);

    st = store_open(db, "turn-hall", STORE_DAEMON, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    q_area areas[] = {
        {.code = "intake", .name = "综合受理", .prefix = "A", .general = true},
        {.code = "fund", .name = "公积金", .prefix = "G"},
    };
    ck_assert_int_eq(store_replace_catalog(st, areas, 2, NULL, 0, 0), 0);
    for (uint32_t no = 1; no <= 2; no++) {
        q_window w = {.no = no, .type = QW_INTAKE, .nareas = 2, .weights = {1, 1}};
        store_clerk c = {.active = true};
        snprintf(w.name, sizeof w.name, "%u号窗口", no);
        snprintf(w.areas[0], sizeof w.areas[0], "intake");
        snprintf(w.areas[1], sizeof w.areas[1], "fund");
        ck_assert_int_eq(store_save_window(st, &w), 0);
        snprintf(c.id, sizeof c.id, "c-%u", no);
        snprintf(c.name, sizeof c.name, "办事员%u", no);
        ck_assert_int_eq(store_save_clerk(st, &c), 0);
    }
    const char *ids[NDEV] = {"kiosk-1", "kiosk-2", "win-1", "win-2", "board"};
    const Hall__DeviceType types[NDEV] = {
        HALL__DEVICE_TYPE__DEVICE_KIOSK, HALL__DEVICE_TYPE__DEVICE_KIOSK,
        HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL,
        HALL__DEVICE_TYPE__DEVICE_DISPLAY};
    for (int i = 0; i < NDEV; i++) {
        snprintf(dev[i].id, sizeof dev[i].id, "%s", ids[i]);
        dev[i].type = types[i];
        dev[i].window_no = i == WIN1 ? 1 : i == WIN2 ? 2 : 0;
    }
    h = hall_new(&conf, st, err, sizeof err);
    ck_assert_msg(h != NULL, "%s", err);
}

static void teardown(void)
{
    hall_free(h);
    store_close(st);
    halld_conf_release(&conf);
    ts_rmtree(dir);
}

/* ---- Requests of one turn ---------------------------------------------------- */

struct answer {
    int flags;
    Hall__Envelope *env;
    uint8_t bytes[8192];
    size_t len;
};

static uint64_t next_id = 1;

/* Run req as device d in the current turn; its one answer into *a. */
static void run(int d, Hall__Envelope *req, struct answer *a)
{
    const uint8_t *payload;
    size_t used;
    buf out;

    if (req->request_id == 0)
        req->request_id = next_id++;
    buf_init(&out, 1 << 20);
    a->flags = hall_request(h, &dev[d], req, &out);
    ck_assert_int_eq(
        frame_next(buf_rdata(&out), buf_rlen(&out), FRAME_MAX, &payload, &a->len, &used), 1);
    ck_assert_uint_eq(used, buf_rlen(&out));
    ck_assert_uint_le(a->len, sizeof a->bytes);
    memcpy(a->bytes, payload, a->len);
    buf_release(&out);
    a->env = proto_unpack(a->bytes, a->len);
    ck_assert_ptr_nonnull(a->env);
    ck_assert_uint_eq(a->env->request_id, req->request_id);
}

static void done(struct answer *a)
{
    proto_free(a->env);
    a->env = NULL;
}

static Hall__ErrorCode refused(const struct answer *a)
{
    return a->env->body_case == HALL__ENVELOPE__BODY_ERROR ? a->env->error->code
                                                           : HALL__ERROR_CODE__ERR_NONE;
}

struct req {
    Hall__Envelope env;
    union {
        Hall__IssueRequest issue;
        Hall__Printed printed;
        Hall__SignIn sign_in;
        Hall__CallNext call_next;
        Hall__LeaseRequest lease;
        Hall__Heartbeat heartbeat;
        Hall__DeviceStatus status;
    } m;
};

static Hall__Envelope *issue(struct req *r, const char *area)
{
    hall__envelope__init(&r->env);
    hall__issue_request__init(&r->m.issue);
    r->m.issue.area = wire_str(area);
    r->env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    r->env.issue = &r->m.issue;
    return &r->env;
}

static Hall__Envelope *printed(struct req *r, uint64_t id)
{
    hall__envelope__init(&r->env);
    hall__printed__init(&r->m.printed);
    r->m.printed.ticket_id = id;
    r->env.body_case = HALL__ENVELOPE__BODY_PRINTED;
    r->env.printed = &r->m.printed;
    return &r->env;
}

static Hall__Envelope *sign_in(struct req *r, uint32_t no)
{
    static char clerk[2][8] = {"c-1", "c-2"};

    hall__envelope__init(&r->env);
    hall__sign_in__init(&r->m.sign_in);
    r->m.sign_in.window_no = no;
    r->m.sign_in.clerk_id = clerk[no - 1];
    r->env.body_case = HALL__ENVELOPE__BODY_SIGN_IN;
    r->env.sign_in = &r->m.sign_in;
    return &r->env;
}

static Hall__Envelope *call_next(struct req *r, uint32_t no)
{
    hall__envelope__init(&r->env);
    hall__call_next__init(&r->m.call_next);
    r->m.call_next.window_no = no;
    r->env.body_case = HALL__ENVELOPE__BODY_CALL_NEXT;
    r->env.call_next = &r->m.call_next;
    return &r->env;
}

static Hall__Envelope *heartbeat(struct req *r)
{
    hall__envelope__init(&r->env);
    hall__heartbeat__init(&r->m.heartbeat);
    r->env.body_case = HALL__ENVELOPE__BODY_HEARTBEAT;
    r->env.heartbeat = &r->m.heartbeat;
    return &r->env;
}

static long long sql_number(const char *sql)
{
    sqlite3 *s;
    sqlite3_stmt *q;
    long long v;

    ck_assert_int_eq(sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(s, sql, -1, &q, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(s));
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(s);
    return v;
}

/* ---- An upload with bad tickets among good ones ------------------------------------- */

START_TEST(upload_refuses_only_the_bad_tickets)
{
    struct req r;
    struct answer a;

    hall__envelope__init(&r.env);
    hall__lease_request__init(&r.m.lease);
    r.m.lease.area = wire_str("intake");
    r.env.body_case = HALL__ENVELOPE__BODY_LEASE_REQUEST;
    r.env.lease_request = &r.m.lease;
    run(KIOSK1, &r.env, &a);
    ck_assert_int_eq(a.env->body_case, HALL__ENVELOPE__BODY_LEASE_GRANT);
    uint32_t first = a.env->lease_grant->first;
    int64_t granted = clk_utc_ms();
    done(&a);
    ck_assert_int_eq(hall_commit(h), 0);

    /* Five tickets: good, outside the lease, good, backdated, good. */
    char numbers[5][16];
    int64_t times[5];
    Hall__OfflineTicket t[5], *tp[5];
    for (int i = 0; i < 5; i++) {
        snprintf(numbers[i], sizeof numbers[i], "A%03u", first + (uint32_t)i + (i == 1 ? 500 : 0));
        times[i] = granted + 1000 * i - (i == 3 ? 10 * 60 * 1000 : 0);
        hall__offline_ticket__init(&t[i]);
        t[i].area = wire_str("intake");
        t[i].number = numbers[i];
        t[i].issued_at_ms = times[i];
        tp[i] = &t[i];
    }
    Hall__Envelope up = HALL__ENVELOPE__INIT;
    Hall__OfflineUpload m = HALL__OFFLINE_UPLOAD__INIT;
    m.n_tickets = 5;
    m.tickets = tp;
    up.body_case = HALL__ENVELOPE__BODY_OFFLINE_UPLOAD;
    up.offline_upload = &m;
    run(KIOSK1, &up, &a);
    ck_assert(a.flags & HALL_KEPT);
    const Hall__OfflineUploadReply *rep = a.env->offline_upload_reply;
    ck_assert_int_eq(a.env->body_case, HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY);
    ck_assert_uint_eq(rep->n_results, 5);
    ck_assert_uint_eq(rep->n_tickets, 3);
    for (int i = 0; i < 5; i++) {
        bool bad = i == 1 || i == 3;
        ck_assert_str_eq(rep->results[i]->number, numbers[i]);
        ck_assert_msg((rep->results[i]->code != 0) == bad, "ticket %d: code %d", i,
                      rep->results[i]->code);
        ck_assert_msg((rep->results[i]->ticket_id != 0) == !bad, "ticket %d", i);
    }
    ck_assert_int_eq(rep->results[1]->code, HALL__ERROR_CODE__ERR_FORBIDDEN);
    ck_assert_int_eq(rep->results[3]->code, HALL__ERROR_CODE__ERR_BAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(rep->results[3]->message, "before its lease was granted"));
    uint8_t first_bytes[8192];
    size_t first_len = a.len;
    memcpy(first_bytes, a.bytes, a.len);
    done(&a);
    ck_assert_int_eq(hall_commit(h), 0);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM tickets WHERE offline = 1"), 3);

    /* The same request again: the same answer; the same tickets anew: the
     * good ones found, the bad ones refused again; nothing more joins. */
    run(KIOSK1, &up, &a);
    ck_assert(a.len == first_len && memcmp(a.bytes, first_bytes, a.len) == 0);
    done(&a);
    up.request_id = 0;
    run(KIOSK1, &up, &a);
    ck_assert_uint_eq(a.env->offline_upload_reply->n_tickets, 3);
    ck_assert_int_eq(a.env->offline_upload_reply->results[1]->code,
                     HALL__ERROR_CODE__ERR_FORBIDDEN);
    done(&a);
    ck_assert_int_eq(hall_commit(h), 0);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM tickets WHERE offline = 1"), 3);
}
END_TEST

/* ---- Refusals among other devices' requests ---------------------------------------- */

START_TEST(refusals_cost_the_turn_nothing)
{
    struct req r;
    struct answer a[5];

    /* Turn 1: a ticket, printed by its kiosk. */
    run(KIOSK1, issue(&r, "intake"), &a[0]);
    uint64_t id = a[0].env->issue_reply->ticket->id;
    done(&a[0]);
    ck_assert_int_eq(hall_commit(h), 0);

    /* Turn 2: a good request, three refusals from other devices, a good
     * request. */
    run(KIOSK2, printed(&r, id), &a[0]); /* not its ticket */
    run(WIN1, call_next(&r, 1), &a[1]);  /* window closed */
    run(WIN2, sign_in(&r, 2), &a[2]);
    run(WIN1, call_next(&r, 2), &a[3]); /* another window's */
    run(KIOSK1, printed(&r, id), &a[4]);
    ck_assert_int_eq(refused(&a[0]), HALL__ERROR_CODE__ERR_FORBIDDEN);
    ck_assert_int_eq(refused(&a[1]), HALL__ERROR_CODE__ERR_WINDOW_CLOSED);
    ck_assert_int_eq(refused(&a[2]), 0);
    ck_assert_int_eq(refused(&a[3]), HALL__ERROR_CODE__ERR_FORBIDDEN);
    ck_assert_int_eq(refused(&a[4]), 0);
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(a[i].flags & HALL_KEPT, "answer %d not kept", i);
        done(&a[i]);
    }
    ck_assert_int_eq(hall_commit(h), 0);
    ck_assert_int_eq(sql_number("SELECT state FROM tickets"), Q_WAITING);
    ck_assert_int_eq(sql_number("SELECT state FROM windows WHERE no = 2"), QW_OPEN);
    ck_assert_int_eq(sql_number("SELECT state FROM windows WHERE no = 1"), QW_CLOSED);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM requests"), 6);
    /* Heartbeats keep nothing and need no turn. */
    run(BOARD, heartbeat(&r), &a[0]);
    ck_assert_int_eq(a[0].flags, 0);
    done(&a[0]);
    ck_assert_int_eq(hall_commit(h), 0);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM requests"), 6);
}
END_TEST

/* ---- A request whose write fails ---------------------------------------------------- */

START_TEST(failed_write_undoes_only_its_request)
{
    struct req r;
    struct answer a[3];
    sqlite3 *other;

    /* Another writer takes G002 under the hall's feet (a bug, a hand). */
    ck_assert_int_eq(sqlite3_open(db, &other), SQLITE_OK);
    clk_zone *utc = clk_zone_new("UTC");
    int today = (int)clk_date_key(clk_business_day(utc, clk_utc_ms(), (int)conf.rollover_hour));
    clk_zone_free(utc);
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO tickets(id, number, day, seq, area, matter, state, priority, issued_ms, "
             "state_ms, reserved_until_ms, appointment_ms, window_no, target_window, recalls, "
             "offline, kiosk, masked_name) VALUES(999, 'G002', %d, 2, 'fund', '', 5, 0, 0, 0, 0, "
             "0, 0, 0, 0, 0, '', '')",
             today);
    ck_assert_msg(sqlite3_exec(other, sql, NULL, NULL, NULL) == SQLITE_OK, "%s",
                  sqlite3_errmsg(other));
    sqlite3_close(other);

    struct req r2;
    Hall__Envelope *second = issue(&r2, "fund");
    run(KIOSK1, issue(&r, "fund"), &a[0]); /* G001 */
    run(KIOSK2, second, &a[1]);            /* G002: taken */
    run(WIN1, sign_in(&r, 1), &a[2]);
    ck_assert_int_eq(a[0].env->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    ck_assert_str_eq(a[0].env->issue_reply->ticket->number, "G001");
    ck_assert_int_eq(refused(&a[1]), HALL__ERROR_CODE__ERR_UNAVAILABLE);
    ck_assert(!(a[1].flags & HALL_KEPT));
    ck_assert_int_eq(refused(&a[2]), 0);
    ck_assert(!hall_broken(h));
    for (int i = 0; i < 3; i++)
        done(&a[i]);
    ck_assert_int_eq(hall_commit(h), 0);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM tickets WHERE number = 'G001'"), 1);
    ck_assert_int_eq(sql_number("SELECT state FROM windows WHERE no = 1"), QW_OPEN);

    /* The retry, same id: the engine now knows G002, and numbers on. */
    run(KIOSK2, second, &a[1]);
    ck_assert_int_eq(a[1].env->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    ck_assert_str_eq(a[1].env->issue_reply->ticket->number, "G003");
    done(&a[1]);
    ck_assert_int_eq(hall_commit(h), 0);
}
END_TEST

/* ---- A COMMIT that fails ----------------------------------------------------------------- */

START_TEST(failed_commit_loses_only_its_turn)
{
    struct req r, keep_req;
    struct answer a[3];

    /* An earlier turn: a refusal and a success, kept. */
    Hall__Envelope *refusal = call_next(&keep_req, 1);
    run(WIN1, refusal, &a[0]);
    ck_assert_int_eq(refused(&a[0]), HALL__ERROR_CODE__ERR_WINDOW_CLOSED);
    uint8_t kept_bytes[512];
    size_t kept_len = a[0].len;
    memcpy(kept_bytes, a[0].bytes, a[0].len);
    done(&a[0]);
    ck_assert_int_eq(hall_commit(h), 0);

    /* The disk fills up during the next turn's commit. */
    struct req r2;
    Hall__Envelope *lost = issue(&r2, "intake");
    run(KIOSK1, lost, &a[0]);
    run(BOARD, heartbeat(&r), &a[1]);
    run(WIN2, sign_in(&r, 2), &a[2]);
    ck_assert(a[0].flags & HALL_KEPT);
    ck_assert(!(a[1].flags & HALL_KEPT)); /* its link stays */
    ck_assert(a[2].flags & HALL_KEPT);
    for (int i = 0; i < 3; i++)
        done(&a[i]);
    crashvfs_fail(CRASHVFS_WRITE_FULL, 1000000);
    ck_assert_int_eq(hall_commit(h), -1);
    ck_assert(!hall_broken(h));
    crashvfs_fail(CRASHVFS_WRITE_FULL, 0);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM tickets"), 0);
    ck_assert_int_eq(sql_number("SELECT state FROM windows WHERE no = 2"), QW_CLOSED);

    /* The disk has room again: the retries succeed, the earlier refusal
     * is still the answer to its id. */
    run(KIOSK1, lost, &a[0]);
    ck_assert_int_eq(a[0].env->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    run(WIN2, sign_in(&r, 2), &a[1]);
    ck_assert_int_eq(refused(&a[1]), 0);
    run(WIN1, refusal, &a[2]);
    ck_assert(a[2].len == kept_len && memcmp(a[2].bytes, kept_bytes, kept_len) == 0);
    for (int i = 0; i < 3; i++)
        done(&a[i]);
    ck_assert_int_eq(hall_commit(h), 0);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM tickets"), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("halld_turn_isolation");
    TCase *tc = tcase_create("turn");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, upload_refuses_only_the_bad_tickets);
    tcase_add_test(tc, refusals_cost_the_turn_nothing);
    tcase_add_test(tc, failed_write_undoes_only_its_request);
    tcase_add_test(tc, failed_commit_loses_only_its_turn);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
