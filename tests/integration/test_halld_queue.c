/*
 * The controller's queue over real sockets: concurrent call-next from many
 * windows, idempotent retries, and device authorisation. Each test makes a
 * hall with the real hallctl and runs the real halld (hallfixture.h).
 *
 * One source, several CTest names (the first argument picks the suite):
 * halld_concurrent_call_next, halld_idempotent_retry,
 * halld_appointment_checkin, halld_disk_full, halld_device_auth,
 * halld_ratings, halld_device_status, halld_citizen_id.
 */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clk.h"
#include "hallfixture.h"
#include "seal.h"
#include "testsupport.h"

static uint64_t ticket_of(const Hall__Envelope *r)
{
    switch (r->body_case) {
    case HALL__ENVELOPE__BODY_ISSUE_REPLY:
        return r->issue_reply->ticket->id;
    case HALL__ENVELOPE__BODY_TICKET_REPLY:
        return r->ticket_reply->ticket->id;
    case HALL__ENVELOPE__BODY_WINDOW_REPLY:
        return r->window_reply->ticket ? r->window_reply->ticket->id : 0;
    default:
        return 0;
    }
}

static void expect_error(Hall__Envelope *r, Hall__ErrorCode code)
{
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ERROR, "expected ERROR %d, got %s", code,
                  proto_body_name(r->body_case));
    ck_assert_msg(r->error->code == code, "expected error %d, got %d: %s", code, r->error->code,
                  r->error->message);
    ck_assert(r->error->message[0] != '\0');
    proto_free(r);
}

/* Issue and print one ticket from kiosk; returns its id. */
static uint64_t issue_printed(devlink *kiosk, const char *area)
{
    Hall__Envelope *r = fix_issue(kiosk, area, HALL__PRIORITY__PRIORITY_NORMAL);
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY, "ISSUE: %s",
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    uint64_t id = ticket_of(r);
    proto_free(r);
    r = fix_printed(kiosk, id);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_TICKET_REPLY);
    ck_assert_int_eq(r->ticket_reply->ticket->state, HALL__TICKET_STATE__TICKET_WAITING);
    proto_free(r);
    return id;
}

/* ---- halld_concurrent_call_next ----------------------------------------- */

#define WINDOWS       32
#define PRESSES       10000
#define KIOSK_THREADS 8

struct kiosk_job {
    hallfix *f;
    int index, count;
};

static void *kiosk_worker(void *arg)
{
    struct kiosk_job *j = arg;
    char id[24];

    snprintf(id, sizeof id, "kiosk-%02d", j->index + 1);
    devlink *k = fix_device(j->f, id, HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    for (int i = 0; i < j->count; i++)
        issue_printed(k, "");
    devlink_close(k);
    return NULL;
}

struct window_job {
    hallfix *f;
    uint32_t window_no;
    int presses;
    uint64_t *called; /* ticket ids this window got, one per press */
    int ncalled;
};

static int next_press;
static pthread_mutex_t press_lock = PTHREAD_MUTEX_INITIALIZER;

static void *window_worker(void *arg)
{
    struct window_job *j = arg;
    char id[16], clerk[16];

    snprintf(id, sizeof id, "win-%u", j->window_no);
    snprintf(clerk, sizeof clerk, "c-%u", j->window_no);
    devlink *w = fix_device(j->f, id, HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, j->window_no);
    Hall__Envelope *r = fix_sign_in(w, j->window_no, clerk);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    proto_free(r);
    for (;;) {
        pthread_mutex_lock(&press_lock);
        bool more = next_press < PRESSES;
        next_press += more;
        pthread_mutex_unlock(&press_lock);
        if (!more)
            break;
        r = fix_window_op(w, HALL__ENVELOPE__BODY_CALL_NEXT, j->window_no, 0);
        ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY, "CALL_NEXT: %s",
                      r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
        uint64_t t = ticket_of(r);
        ck_assert_uint_gt(t, 0);
        ck_assert_int_eq(r->window_reply->ticket->state, HALL__TICKET_STATE__TICKET_CALLED);
        ck_assert_uint_eq(r->window_reply->ticket->recalls, 0);
        proto_free(r);
        j->called[j->ncalled++] = t;
        r = fix_window_op(w, HALL__ENVELOPE__BODY_START, j->window_no, t);
        ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
        proto_free(r);
        r = fix_window_op(w, HALL__ENVELOPE__BODY_FINISH, j->window_no, t);
        ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
        proto_free(r);
    }
    devlink_close(w);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(concurrent_call_next_never_calls_twice)
{
    hallfix f;
    pthread_t kt[KIOSK_THREADS], wt[WINDOWS];
    struct kiosk_job kj[KIOSK_THREADS];
    struct window_job wj[WINDOWS];

    fix_init(&f, WINDOWS, NULL);
    for (int i = 2; i <= KIOSK_THREADS; i++)
        ck_assert_int_eq(fix_hallctl(&f, "device add --id kiosk-%02d --type kiosk", i), 0);
    fix_start(&f);
    for (int i = 0; i < KIOSK_THREADS; i++) {
        kj[i] = (struct kiosk_job){&f, i, PRESSES / KIOSK_THREADS};
        ck_assert_int_eq(pthread_create(&kt[i], NULL, kiosk_worker, &kj[i]), 0);
    }
    for (int i = 0; i < KIOSK_THREADS; i++)
        pthread_join(kt[i], NULL);

    next_press = 0;
    for (int i = 0; i < WINDOWS; i++) {
        wj[i] = (struct window_job){&f, (uint32_t)i + 1, 0, calloc(PRESSES, sizeof(uint64_t)), 0};
        ck_assert_int_eq(pthread_create(&wt[i], NULL, window_worker, &wj[i]), 0);
    }
    for (int i = 0; i < WINDOWS; i++)
        pthread_join(wt[i], NULL);

    uint64_t *all = calloc(PRESSES, sizeof *all);
    int n = 0, busy = 0;
    for (int i = 0; i < WINDOWS; i++) {
        memcpy(all + n, wj[i].called, (size_t)wj[i].ncalled * sizeof *all);
        n += wj[i].ncalled;
        busy += wj[i].ncalled > 0;
        free(wj[i].called);
    }
    ck_assert_int_eq(n, PRESSES);
    ck_assert_msg(busy > WINDOWS / 2, "only %d windows got calls: not concurrent", busy);
    qsort(all, (size_t)n, sizeof *all, cmp_u64);
    for (int i = 1; i < n; i++)
        ck_assert_msg(all[i] != all[i - 1], "ticket %llu was called to two windows",
                      (unsigned long long)all[i]);
    free(all);

    /* The store agrees: one CALLED event per ticket, PRESSES in all. */
    ck_assert_int_eq(ts_system("test \"$(sqlite3 %s/hall.db \"SELECT count(*), "
                               "count(DISTINCT ticket_id) FROM events WHERE kind = %d\")\" = "
                               "'%d|%d'",
                               f.dir, 5 /* QE_CALLED */, PRESSES, PRESSES),
                     0);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* ---- halld_idempotent_retry ------------------------------------------------ */

START_TEST(retried_requests_get_the_first_answer)
{
    hallfix f;

    fix_init(&f, 2, NULL);
    fix_start(&f);

    /* ISSUE, then the same request id again on a new link. */
    devlink *k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink_set_next_id(k, 100);
    Hall__Envelope *first = fix_issue(k, "", HALL__PRIORITY__PRIORITY_NORMAL);
    ck_assert_int_eq(first->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    uint64_t ticket = ticket_of(first);
    char number[16];
    snprintf(number, sizeof number, "%s", first->issue_reply->ticket->number);
    proto_free(first);
    devlink_close(k);

    k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink_set_next_id(k, 100);
    Hall__Envelope *again = fix_issue(k, "", HALL__PRIORITY__PRIORITY_NORMAL);
    ck_assert_int_eq(again->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    ck_assert_uint_eq(ticket_of(again), ticket);
    ck_assert_str_eq(again->issue_reply->ticket->number, number);
    proto_free(again);
    /* A new request id is a new ticket. */
    Hall__Envelope *other = fix_issue(k, "", HALL__PRIORITY__PRIORITY_NORMAL);
    ck_assert_uint_ne(ticket_of(other), ticket);
    proto_free(other);
    Hall__Envelope *r = fix_printed(k, ticket);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_TICKET_REPLY);
    proto_free(r);

    /* A refusal is an answer too: the same request id, retried after the
     * situation changed, gets the same refusal and changes nothing (the
     * original may have been delayed on an old link while its retry was
     * refused; it must not run when it finally arrives). */
    devlink *w = fix_device(&f, "win-2", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 2);
    devlink_set_next_id(w, 42);
    expect_error(fix_window_op(w, HALL__ENVELOPE__BODY_CALL_NEXT, 2, 0),
                 HALL__ERROR_CODE__ERR_WINDOW_CLOSED);
    proto_free(fix_sign_in(w, 2, "c-2"));
    devlink_close(w);
    w = fix_device(&f, "win-2", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 2);
    devlink_set_next_id(w, 42);
    expect_error(fix_window_op(w, HALL__ENVELOPE__BODY_CALL_NEXT, 2, 0),
                 HALL__ERROR_CODE__ERR_WINDOW_CLOSED);
    devlink_close(w); /* and the waiting ticket is still there for window 1, below */

    /* CALL_NEXT retried: the same ticket, not a recall. */
    w = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    proto_free(fix_sign_in(w, 1, "c-1"));
    devlink_set_next_id(w, 200);
    Hall__Envelope *call = fix_window_op(w, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
    ck_assert_int_eq(call->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    ck_assert_uint_eq(ticket_of(call), ticket);
    proto_free(call);
    devlink_close(w);
    w = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    devlink_set_next_id(w, 200);
    call = fix_window_op(w, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
    ck_assert_uint_eq(ticket_of(call), ticket);
    ck_assert_uint_eq(call->window_reply->ticket->recalls, 0);
    proto_free(call);
    /* A new press is a recall of that ticket. */
    call = fix_window_op(w, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
    ck_assert_uint_eq(ticket_of(call), ticket);
    ck_assert_uint_eq(call->window_reply->ticket->recalls, 1);
    proto_free(call);
    devlink_close(w);
    devlink_close(k);

    /* The answers survive a restart. */
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_start(&f);
    k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink_set_next_id(k, 100);
    again = fix_issue(k, "", HALL__PRIORITY__PRIORITY_NORMAL);
    ck_assert_uint_eq(ticket_of(again), ticket);
    ck_assert_str_eq(again->issue_reply->ticket->number, number);
    proto_free(again);
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* Offline leases: a kiosk gets a block of numbers, issues from it while
 * the link is down, and uploads; the tickets join in issue-time order, and
 * a retried upload changes nothing. */
START_TEST(offline_upload_joins_once_in_issue_order)
{
    hallfix f;

    fix_init(&f, 1, NULL);
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__LeaseRequest lr = HALL__LEASE_REQUEST__INIT;
    char area[] = "intake";
    lr.area = area;
    lr.wanted = 5;
    env.body_case = HALL__ENVELOPE__BODY_LEASE_REQUEST;
    env.lease_request = &lr;
    Hall__Envelope *grant = fix_call(k, &env);
    ck_assert_msg(grant->body_case == HALL__ENVELOPE__BODY_LEASE_GRANT, "LEASE: %s",
                  grant->body_case == HALL__ENVELOPE__BODY_ERROR ? grant->error->message : "?");
    uint32_t first = grant->lease_grant->first;
    ck_assert_uint_ge(first, 900); /* the lease band, apart from online numbers */
    ck_assert_str_eq(grant->lease_grant->prefix, "A");

    /* An online ticket issued meanwhile, then two offline ones that were
     * issued earlier than it: they must be called first. */
    uint64_t online = issue_printed(k, "intake");
    int64_t now = clk_utc_ms();
    Hall__OfflineTicket ot[2], *otp[2];
    char numbers[2][16];
    for (int i = 0; i < 2; i++) {
        hall__offline_ticket__init(&ot[i]);
        snprintf(numbers[i], sizeof numbers[i], "A%03u", first + (uint32_t)i);
        ot[i].area = area;
        ot[i].number = numbers[i];
        ot[i].seq = (uint32_t)i;
        ot[i].issued_at_ms = now - 60000 + i * 1000; /* a minute ago */
        otp[i] = &ot[i];
    }
    Hall__OfflineUpload up = HALL__OFFLINE_UPLOAD__INIT;
    up.n_tickets = 2;
    up.tickets = otp;
    Hall__Envelope ue = HALL__ENVELOPE__INIT;
    ue.body_case = HALL__ENVELOPE__BODY_OFFLINE_UPLOAD;
    ue.offline_upload = &up;
    const uint64_t upload_id = devlink_next_id(k);
    Hall__Envelope *joined = fix_call(k, &ue);
    ck_assert_msg(joined->body_case == HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY, "UPLOAD: %s",
                  joined->body_case == HALL__ENVELOPE__BODY_ERROR ? joined->error->message : "?");
    ck_assert_uint_eq(joined->offline_upload_reply->n_tickets, 2);
    uint64_t off0 = joined->offline_upload_reply->tickets[0]->id;
    ck_assert(joined->offline_upload_reply->tickets[0]->offline);
    ck_assert_str_eq(joined->offline_upload_reply->tickets[0]->number, numbers[0]);

    /* The same upload again (a lost answer): the same tickets, nothing new. */
    ck_assert_uint_eq(ue.request_id, upload_id);
    Hall__Envelope *again = fix_call(k, &ue);
    ck_assert_int_eq(again->body_case, HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY);
    ck_assert_uint_eq(again->offline_upload_reply->tickets[0]->id, off0);
    proto_free(again);
    /* ...and as a new request: still no second ticket for the number. */
    ue.request_id = 0;
    again = fix_call(k, &ue);
    ck_assert_uint_ne(ue.request_id, upload_id);
    ck_assert_int_eq(again->body_case, HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY);
    ck_assert_uint_eq(again->offline_upload_reply->tickets[0]->id, off0);
    proto_free(again);

    /* A number outside this kiosk's lease is refused on its own. */
    snprintf(numbers[0], sizeof numbers[0], "A%03u", first + 50);
    up.n_tickets = 1;
    ue.request_id = 0;
    again = fix_call(k, &ue);
    ck_assert_int_eq(again->body_case, HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY);
    ck_assert_uint_eq(again->offline_upload_reply->n_tickets, 0);
    ck_assert_uint_eq(again->offline_upload_reply->n_results, 1);
    ck_assert_int_eq(again->offline_upload_reply->results[0]->code,
                     HALL__ERROR_CODE__ERR_FORBIDDEN);
    ck_assert_uint_eq(again->offline_upload_reply->results[0]->ticket_id, 0);
    proto_free(again);

    devlink *w = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    proto_free(fix_sign_in(w, 1, "c-1"));
    uint64_t order[3];
    for (int i = 0; i < 3; i++) {
        Hall__Envelope *c = fix_window_op(w, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
        ck_assert_int_eq(c->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
        order[i] = ticket_of(c);
        proto_free(c);
        proto_free(fix_window_op(w, HALL__ENVELOPE__BODY_START, 1, order[i]));
        proto_free(fix_window_op(w, HALL__ENVELOPE__BODY_FINISH, 1, order[i]));
    }
    ck_assert_uint_eq(order[0], off0);
    ck_assert_uint_eq(order[1], joined->offline_upload_reply->tickets[1]->id);
    ck_assert_uint_eq(order[2], online);
    proto_free(joined);
    proto_free(grant);
    devlink_close(w);
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* ---- halld_appointment_checkin --------------------------------------------- */

static Hall__Envelope *check_in(devlink *k, const char *code)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;
    char c[32];

    snprintf(c, sizeof c, "%s", code);
    m.appointment_code = c;
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    return fix_call(k, &env);
}

START_TEST(appointment_checked_in_once_and_called_when_due)
{
    hallfix f;
    clk_zone *zone = clk_zone_new("Asia/Shanghai");
    clk_civil slot;

    fix_init(&f, 1, NULL);
    /* A slot five minutes from now: due (within the 15 minutes early). */
    clk_to_civil(zone, clk_utc_ms() + 5 * 60000, &slot);
    clk_zone_free(zone);
    ck_assert_int_eq(fix_hallctl(&f,
                                 "appointment add --code APT1 --area realestate "
                                 "--at '%04d-%02d-%02d %02d:%02d'",
                                 slot.year, slot.month, slot.day, slot.hour, slot.minute),
                     0);
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    uint64_t walk_in = issue_printed(k, "realestate");

    Hall__Envelope *r = check_in(k, "APT1");
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY, "check-in: %s",
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    ck_assert_str_eq(r->issue_reply->ticket->area, "realestate");
    ck_assert_int_eq(r->issue_reply->ticket->priority, HALL__PRIORITY__PRIORITY_APPOINTMENT);
    uint64_t appt = ticket_of(r);
    proto_free(r);
    proto_free(fix_printed(k, appt));
    /* One check-in per booking; unknown codes are named. */
    expect_error(check_in(k, "APT1"), HALL__ERROR_CODE__ERR_ILLEGAL_STATE);
    expect_error(check_in(k, "NOPE"), HALL__ERROR_CODE__ERR_NOT_FOUND);

    devlink *w = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    proto_free(fix_sign_in(w, 1, "c-1"));
    Hall__Envelope *c = fix_window_op(w, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
    ck_assert_uint_eq(ticket_of(c), appt); /* before the walk-in who came first */
    ck_assert_msg(strstr(c->window_reply->pick_reason, "appointment") != NULL, "reason: %s",
                  c->window_reply->pick_reason);
    proto_free(c);
    proto_free(fix_window_op(w, HALL__ENVELOPE__BODY_START, 1, appt));
    proto_free(fix_window_op(w, HALL__ENVELOPE__BODY_FINISH, 1, appt));
    c = fix_window_op(w, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
    ck_assert_uint_eq(ticket_of(c), walk_in);
    proto_free(c);
    devlink_close(w);
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* ---- halld_disk_full ---------------------------------------------------------- */

/* The hall lives on a small tmpfs (mounted by the test: it needs root, and
 * is skipped with exit 77 where mounting is not allowed). The disk is
 * filled while a kiosk issues: the commits that fail lose only their own
 * unanswered turn, halld stays up, and after space is freed a retry with
 * the same request id gets a ticket. Nothing answered is lost. */
static char *full_mount;

START_TEST(disk_full_loses_only_unanswered_turns)
{
    hallfix f;
    char filler[1200], err[DEVLINK_ERR_LEN];
    uint64_t answered[400];
    int nanswered = 0, lost_links = 0;

    setenv("TMPDIR", full_mount, 1);
    fix_init(&f, 1, NULL);
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    /* A display that only sends heartbeats, in the same turns as the
     * kiosk's issues as far as timing allows: its link must never go. */
    devlink *board = fix_device(&f, "board-01", HALL__DEVICE_TYPE__DEVICE_DISPLAY, 0);
    uint64_t beats[300];
    int nbeats = 0;
    answered[nanswered++] = issue_printed(k, "");

    snprintf(filler, sizeof filler, "%s/filler", full_mount);
    ts_system("dd if=/dev/zero of=%s bs=64k >/dev/null 2>&1", filler);
    uint64_t failed_id = 0;
    for (int i = 0; i < 300 && nanswered < 400; i++) {
        Hall__Envelope env = HALL__ENVELOPE__INIT;
        Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;
        Hall__Envelope hb = HALL__ENVELOPE__INIT;
        Hall__Heartbeat beat = HALL__HEARTBEAT__INIT;
        hb.body_case = HALL__ENVELOPE__BODY_HEARTBEAT;
        hb.heartbeat = &beat;
        ck_assert_int_eq(devlink_send(board, &hb, err), 0);
        beats[nbeats++] = hb.request_id;
        env.body_case = HALL__ENVELOPE__BODY_ISSUE;
        env.issue = &m;
        uint64_t id = devlink_next_id(k);
        Hall__Envelope *r = devlink_call(k, &env, FIX_WAIT_MS, err);
        if (r == NULL) { /* the turn was lost: halld dropped the link */
            lost_links++;
            failed_id = id;
            devlink_close(k);
            k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
            devlink_set_next_id(k, id + 1);
            break;
        }
        if (r->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY)
            answered[nanswered++] = ticket_of(r);
        proto_free(r);
    }
    ck_assert_msg(lost_links > 0, "a full disk never failed a commit");
    ck_assert(ts_file_contains(f.log, "commit failed", FIX_WAIT_MS));
    ck_assert_int_eq(kill(f.pid, 0), 0); /* still running */
    for (int i = 0; i < nbeats; i++) {
        Hall__Envelope *a = devlink_wait(board, beats[i], FIX_WAIT_MS, err);
        ck_assert_msg(a != NULL, "the display lost heartbeat %d: %s", i, err);
        ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_HEARTBEAT_REPLY);
        proto_free(a);
    }
    devlink_close(board);

    unlink(filler);
    devlink_set_next_id(k, failed_id);
    Hall__Envelope *r = fix_issue(k, "", HALL__PRIORITY__PRIORITY_NORMAL);
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY,
                  "retry after the disk freed: %s",
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    answered[nanswered++] = ticket_of(r);
    proto_free(r);
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);

    /* Every answered ticket is in the store. */
    for (int i = 0; i < nanswered; i++)
        ck_assert_msg(ts_system("test \"$(sqlite3 %s/hall.db 'SELECT count(*) FROM tickets "
                                "WHERE id = %llu')\" = 1",
                                f.dir, (unsigned long long)answered[i]) == 0,
                      "answered ticket %llu lost", (unsigned long long)answered[i]);
    fix_free(&f);
}
END_TEST

/* Mount the small disk; false (with the reason printed) where not allowed. */
static bool mount_small_disk(void)
{
    full_mount = ts_tmpdir("full");
    if (ts_system("mount -t tmpfs -o size=3m onewindow-test %s 2>/dev/null", full_mount) != 0) {
        fprintf(stderr, "halld_disk_full: cannot mount a tmpfs here (needs root): skipped\n");
        ts_rmtree(full_mount);
        return false;
    }
    return true;
}

static void unmount_small_disk(void)
{
    ts_system("umount %s", full_mount);
    ts_rmtree(full_mount);
    free(full_mount);
}

/* ---- halld_device_auth ------------------------------------------------------- */

static Hall__Envelope *hello_as(hallfix *f, devlink *l, const char *id, Hall__DeviceType type,
                                uint32_t window_no)
{
    char err[DEVLINK_ERR_LEN];
    Hall__Envelope *r = devlink_hello(l, id, type, window_no, FIX_WAIT_MS, err);

    ck_assert_msg(r != NULL, "HELLO: %s", err);
    return r;
}

START_TEST(unknown_and_revoked_devices_refused)
{
    hallfix f;
    const char *why;

    fix_init(&f, 2, NULL);
    /* A certificate from the hall CA for a device never registered. */
    ck_assert_int_eq(ts_system("%s cert issue --dir %s/pki --id ghost --out %s/pki/devices/ghost "
                               ">/dev/null && cp %s/pki/ca.crt %s/pki/devices/ghost/",
                               HALLCTL_PATH, f.dir, f.dir, f.dir, f.dir),
                     0);
    ck_assert_int_eq(fix_hallctl(&f, "device add --id kiosk-02 --type kiosk"), 0);
    fix_start(&f);

    devlink *ghost = fix_connect(&f, "ghost");
    ck_assert_ptr_nonnull(ghost);
    expect_error(hello_as(&f, ghost, "ghost", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0),
                 HALL__ERROR_CODE__ERR_UNKNOWN_DEVICE);
    ck_assert(devlink_closed(ghost, FIX_WAIT_MS, &why));
    devlink_close(ghost);
    ck_assert(ts_file_contains(f.log, "ghost is not registered", FIX_WAIT_MS));

    /* Revoked while connected: dropped at once; and refused afterwards. */
    devlink *k2 = fix_device(&f, "kiosk-02", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    ck_assert_int_eq(fix_hallctl(&f, "device revoke --id kiosk-02"), 0);
    ck_assert_msg(devlink_closed(k2, FIX_WAIT_MS, &why), "revoked device still connected");
    devlink_close(k2);
    k2 = fix_connect(&f, "kiosk-02");
    ck_assert_ptr_nonnull(k2);
    expect_error(hello_as(&f, k2, "kiosk-02", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0),
                 HALL__ERROR_CODE__ERR_UNKNOWN_DEVICE);
    devlink_close(k2);

    /* A registered device claiming another type. */
    devlink *w1 = fix_connect(&f, "win-1");
    expect_error(hello_as(&f, w1, "win-1", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0),
                 HALL__ERROR_CODE__ERR_IDENTITY);
    devlink_close(w1);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

START_TEST(roles_and_windows_enforced)
{
    hallfix f;

    fix_init(&f, 2, NULL);
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    issue_printed(k, "");
    devlink *w1 = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    devlink *w2 = fix_device(&f, "win-2", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 2);
    devlink *board = fix_device(&f, "board-01", HALL__DEVICE_TYPE__DEVICE_DISPLAY, 0);
    proto_free(fix_sign_in(w2, 2, "c-2"));

    /* The terminal of window 1 acting for window 2. */
    expect_error(fix_window_op(w1, HALL__ENVELOPE__BODY_CALL_NEXT, 2, 0),
                 HALL__ERROR_CODE__ERR_FORBIDDEN);
    expect_error(fix_sign_in(w1, 2, "c-1"), HALL__ERROR_CODE__ERR_FORBIDDEN);
    /* Window 1 is closed (nobody signed in): call-next refused. */
    expect_error(fix_window_op(w1, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0),
                 HALL__ERROR_CODE__ERR_WINDOW_CLOSED);
    /* A display may only subscribe; a window may not issue; a kiosk may not call. */
    expect_error(fix_issue(board, "", HALL__PRIORITY__PRIORITY_NORMAL),
                 HALL__ERROR_CODE__ERR_FORBIDDEN);
    expect_error(fix_issue(w1, "", HALL__PRIORITY__PRIORITY_NORMAL),
                 HALL__ERROR_CODE__ERR_FORBIDDEN);
    expect_error(fix_window_op(k, HALL__ENVELOPE__BODY_CALL_NEXT, 2, 0),
                 HALL__ERROR_CODE__ERR_FORBIDDEN);
    /* Bad requests change nothing: finish a ticket not served, unknown area. */
    expect_error(fix_window_op(w2, HALL__ENVELOPE__BODY_FINISH, 2, 1),
                 HALL__ERROR_CODE__ERR_ILLEGAL_STATE);
    expect_error(fix_issue(k, "NOSUCH", HALL__PRIORITY__PRIORITY_NORMAL),
                 HALL__ERROR_CODE__ERR_NOT_FOUND);

    /* The display's subscription: a snapshot, then the call as a push. */
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Subscribe sub = HALL__SUBSCRIBE__INIT;
    env.body_case = HALL__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &sub;
    Hall__Envelope *snap = fix_call(board, &env);
    ck_assert_int_eq(snap->body_case, HALL__ENVELOPE__BODY_DISPLAY_PUSH);
    ck_assert(snap->display_push->snapshot);
    ck_assert_uint_ge(snap->display_push->n_windows, 2);
    uint64_t seq = snap->display_push->seq;
    proto_free(snap);
    Hall__Envelope *call = fix_window_op(w2, HALL__ENVELOPE__BODY_CALL_NEXT, 2, 0);
    ck_assert_int_eq(call->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    Hall__Envelope *push = devlink_next(board, FIX_WAIT_MS);
    ck_assert_ptr_nonnull(push);
    ck_assert(!push->display_push->snapshot);
    ck_assert_uint_eq(push->display_push->seq, seq + 1);
    ck_assert_uint_eq(push->display_push->n_calls, 1);
    ck_assert_str_eq(push->display_push->calls[0]->number, call->window_reply->ticket->number);
    ck_assert_uint_eq(push->display_push->calls[0]->window_no, 2);
    proto_free(push);
    proto_free(call);

    devlink_close(k);
    devlink_close(w1);
    devlink_close(w2);
    devlink_close(board);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* ---- halld_ratings -------------------------------------------------------- */

/* QE_RATED in controller/queue.h: the event kind of a rating. */
#define EVENT_RATED 23

static Hall__Envelope *rate(devlink *l, uint32_t window_no, uint64_t ticket_id, uint32_t level)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Rating m = HALL__RATING__INIT;

    m.window_no = window_no;
    m.ticket_id = ticket_id;
    m.level = level;
    env.body_case = HALL__ENVELOPE__BODY_RATING;
    env.rating = &m;
    return fix_call(l, &env);
}

static void expect_rated(Hall__Envelope *r, uint64_t ticket_id)
{
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_RATING_REPLY, "RATING: %s",
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message
                                                             : proto_body_name(r->body_case));
    ck_assert_uint_eq(r->rating_reply->ticket_id, ticket_id);
    proto_free(r);
}

/* One integer from the hall's database (read-only, beside a running halld). */
static long long db_int(hallfix *f, const char *sql, uint64_t arg)
{
    char path[1100];
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;

    snprintf(path, sizeof path, "%s/hall.db", f->dir);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)arg);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static long long rating_of(hallfix *f, uint64_t id)
{
    return db_int(f, "SELECT rating FROM tickets WHERE id = ?1", id);
}

static long long rating_events(hallfix *f, uint64_t id)
{
    char sql[128];

    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE ticket_id = ?1 AND kind = %d",
             EVENT_RATED);
    return db_int(f, sql, id);
}

START_TEST(ratings_stored_once_and_kept)
{
    hallfix f;

    fix_init(&f, 2, NULL);
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink *w1 = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    devlink *w2 = fix_device(&f, "win-2", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 2);
    proto_free(fix_sign_in(w1, 1, "c-1"));
    proto_free(fix_sign_in(w2, 2, "c-2"));
    uint64_t a = issue_printed(k, "");
    uint64_t b = issue_printed(k, "");

    /* Waiting, not served: nothing to rate. A kiosk may not rate. */
    expect_error(rate(w1, 1, a, 5), HALL__ERROR_CODE__ERR_ILLEGAL_STATE);
    expect_error(rate(k, 1, a, 5), HALL__ERROR_CODE__ERR_FORBIDDEN);

    Hall__Envelope *r = fix_window_op(w1, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
    ck_assert_uint_eq(ticket_of(r), a);
    proto_free(r);
    /* Called, not served yet. */
    expect_error(rate(w1, 1, a, 5), HALL__ERROR_CODE__ERR_ILLEGAL_STATE);
    proto_free(fix_window_op(w1, HALL__ENVELOPE__BODY_START, 1, a));
    proto_free(fix_window_op(w1, HALL__ENVELOPE__BODY_FINISH, 1, a));

    /* Bad levels, an unknown ticket, the wrong window. */
    expect_error(rate(w1, 1, a, 0), HALL__ERROR_CODE__ERR_BAD_REQUEST);
    expect_error(rate(w1, 1, a, 6), HALL__ERROR_CODE__ERR_BAD_REQUEST);
    expect_error(rate(w1, 1, 999999, 3), HALL__ERROR_CODE__ERR_NOT_FOUND);
    expect_error(rate(w2, 2, a, 4), HALL__ERROR_CODE__ERR_ILLEGAL_STATE);
    expect_error(rate(w2, 1, a, 4), HALL__ERROR_CODE__ERR_FORBIDDEN);
    ck_assert_int_eq(rating_of(&f, a), 0);
    ck_assert_int_eq(rating_events(&f, a), 0);

    /* Rated once; a second rating is answered as the first and changes nothing. */
    expect_rated(rate(w1, 1, a, 5), a);
    ck_assert_int_eq(rating_of(&f, a), 5);
    expect_rated(rate(w1, 1, a, 2), a);
    ck_assert_int_eq(rating_of(&f, a), 5);
    ck_assert_int_eq(rating_events(&f, a), 1);

    /* A ticket being served may be rated at its window. Ticket 0 names the
     * window's current ticket (a call-pad after a restart); a window with
     * none refuses it. */
    expect_error(fix_window_op(w2, HALL__ENVELOPE__BODY_START, 2, 0),
                 HALL__ERROR_CODE__ERR_ILLEGAL_STATE);
    r = fix_window_op(w2, HALL__ENVELOPE__BODY_CALL_NEXT, 2, 0);
    ck_assert_uint_eq(ticket_of(r), b);
    proto_free(r);
    r = fix_window_op(w2, HALL__ENVELOPE__BODY_START, 2, 0);
    ck_assert_uint_eq(ticket_of(r), b);
    proto_free(r);
    expect_error(rate(w1, 1, b, 3), HALL__ERROR_CODE__ERR_ILLEGAL_STATE);
    expect_rated(rate(w2, 2, b, 3), b);

    devlink_close(k);
    devlink_close(w1);
    devlink_close(w2);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    ck_assert_int_eq(fix_hallctl(&f, "audit verify"), 0);

    /* After a restart the ratings are still there: a new rating of a rated
     * ticket still changes nothing, and the served ticket finishes rated. */
    fix_start(&f);
    w1 = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    w2 = fix_device(&f, "win-2", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 2);
    /* Request ids are unique per device for the day, across links. */
    devlink_set_next_id(w1, 1000);
    devlink_set_next_id(w2, 1000);
    expect_rated(rate(w1, 1, a, 1), a);
    expect_rated(rate(w2, 2, b, 1), b);
    proto_free(fix_window_op(w2, HALL__ENVELOPE__BODY_FINISH, 2, b));
    ck_assert_int_eq(rating_of(&f, a), 5);
    ck_assert_int_eq(rating_of(&f, b), 3);
    ck_assert_int_eq(rating_events(&f, a), 1);
    ck_assert_int_eq(rating_events(&f, b), 1);
    devlink_close(w1);
    devlink_close(w2);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    ck_assert_int_eq(fix_hallctl(&f, "audit verify"), 0);
    fix_free(&f);
}
END_TEST

/* A DEVICE_STATUS of n components: "printer" in state printer, then
 * "reader" ok, ... (more than two: extra names c2, c3, ...). */
static Hall__Envelope *send_status(devlink *l, bool can_issue, const char *printer, size_t n)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__DeviceStatus st = HALL__DEVICE_STATUS__INIT;
    Hall__ComponentStatus c[12], *pc[12];
    char names[12][8], states[12][16], empty[1] = "";

    ck_assert_uint_le(n, 12);
    for (size_t i = 0; i < n; i++) {
        hall__component_status__init(&c[i]);
        snprintf(names[i], sizeof names[i], i == 0 ? "printer" : i == 1 ? "reader" : "c%zu", i);
        snprintf(states[i], sizeof states[i], "%s", i == 0 ? printer : "ok");
        c[i].name = names[i];
        c[i].state = states[i];
        c[i].detail = empty;
        pc[i] = &c[i];
    }
    st.n_components = n;
    st.components = pc;
    st.can_issue = can_issue;
    env.body_case = HALL__ENVELOPE__BODY_DEVICE_STATUS;
    env.device_status = &st;
    return fix_call(l, &env);
}

static const Hall__DeviceHealth *health_in(const Hall__DisplayPush *p, const char *device)
{
    for (size_t i = 0; i < p->n_devices; i++)
        if (strcmp(p->devices[i]->device_id, device) == 0)
            return p->devices[i];
    return NULL;
}

START_TEST(device_status_reaches_subscribers)
{
    hallfix f;
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Subscribe sub = HALL__SUBSCRIBE__INIT;
    const Hall__DeviceHealth *d;
    Hall__Envelope *r;

    fix_init(&f, 1, NULL);
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink *board = fix_device(&f, "board-01", HALL__DEVICE_TYPE__DEVICE_DISPLAY, 0);

    r = send_status(k, true, "ok", 2);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_DEVICE_STATUS_REPLY);
    proto_free(r);
    /* The snapshot holds what the kiosk reported. */
    env.body_case = HALL__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &sub;
    r = fix_call(board, &env);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_DISPLAY_PUSH);
    ck_assert_ptr_nonnull(d = health_in(r->display_push, "kiosk-01"));
    ck_assert(d->can_issue);
    ck_assert_uint_eq(d->n_components, 2);
    ck_assert_str_eq(d->components[0]->name, "printer");
    ck_assert_str_eq(d->components[0]->state, "ok");
    ck_assert_int_gt(d->since_ms, 0);
    proto_free(r);

    /* The same report again changes nothing; a change is pushed. */
    proto_free(send_status(k, true, "ok", 2));
    proto_free(send_status(k, false, "paper_out", 2));
    r = devlink_next(board, FIX_WAIT_MS);
    ck_assert_ptr_nonnull(r);
    ck_assert(!r->display_push->snapshot);
    ck_assert_ptr_nonnull(d = health_in(r->display_push, "kiosk-01"));
    ck_assert(!d->can_issue);
    ck_assert_str_eq(d->components[0]->state, "paper_out");
    proto_free(r);

    /* Bad reports are refused with a sentence and change nothing. */
    expect_error(send_status(k, true, "ok", 9), HALL__ERROR_CODE__ERR_BAD_REQUEST);
    expect_error(send_status(k, true, "", 1), HALL__ERROR_CODE__ERR_BAD_REQUEST);
    r = fix_call(board, &env);
    ck_assert_ptr_nonnull(d = health_in(r->display_push, "kiosk-01"));
    ck_assert_str_eq(d->components[0]->state, "paper_out");
    proto_free(r);

    devlink_close(k);
    devlink_close(board);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* ---- halld_citizen_id ---------------------------------------------------------- */

#define CITIZEN "110101199003071233" /* samdev's valid card */

/* An ISSUE by card, as a kiosk sends it (citizen_id), with or without a
 * citizen_hash of the kiosk's own. */
static Hall__Envelope *issue_card(devlink *k, const char *number, bool with_hash)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;
    char n[40], area[] = "intake", masked[] = "张*";
    uint8_t hash[32] = {0x5a};

    snprintf(n, sizeof n, "%s", number);
    m.area = area;
    m.citizen_id = n;
    m.masked_name = masked;
    if (with_hash) {
        m.citizen_hash.data = hash;
        m.citizen_hash.len = sizeof hash;
    }
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    return fix_call(k, &env);
}

/* The refusal r must be ERR_BAD_REQUEST saying `says`. */
static void expect_refusal(Hall__Envelope *r, const char *says)
{
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ERROR &&
                      r->error->code == HALL__ERROR_CODE__ERR_BAD_REQUEST,
                  "not refused: %s", proto_body_name(r->body_case));
    ck_assert_msg(strstr(r->error->message, says) != NULL, "'%s' does not say '%s'",
                  r->error->message, says);
    proto_free(r);
}

/* HMAC-SHA256 of data under the hall's secret.key. */
static void hall_hmac(hallfix *f, const void *data, size_t len, uint8_t out[32])
{
    char *hex = ts_slurp(ts_path(f->dir, "secret.key"));
    uint8_t secret[32];
    unsigned int n = 0;

    ck_assert_uint_eq(strlen(hex), 65);
    for (int i = 0; i < 32; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        secret[i] = (uint8_t)v;
    }
    free(hex);
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, 32, data, len, out, &n));
    ck_assert_uint_eq(n, 32);
}

/* One blob of hall.db (sql with ?1 = id), into out; its length, -1 for
 * no row, 0 for NULL. */
static int hall_blob(hallfix *f, const char *sql, int64_t id, uint8_t *out, size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = -1;

    ck_assert_int_eq(sqlite3_open_v2(ts_path(f->dir, "hall.db"), &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_bytes(st, 0);
        ck_assert_uint_le((size_t)n, cap);
        if (n > 0)
            memcpy(out, sqlite3_column_blob(st, 0), (size_t)n);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

#define TICKET_HASH "SELECT citizen_hash FROM tickets WHERE id = ?1"

/* An offline ticket of the lease, with its number sealed by `by` (NULL:
 * none) and optionally changed after sealing or carrying a hash. */
struct card_ticket {
    Hall__OfflineTicket t;
    char area[8], number[16], masked[8];
    uint8_t sealed[SEAL_LEN], hash[32];
};

static void card_ticket(struct card_ticket *c, const seal_key *hall_key, uint32_t number,
                        const char *by, bool changed, bool with_hash)
{
    hall__offline_ticket__init(&c->t);
    snprintf(c->area, sizeof c->area, "intake");
    snprintf(c->number, sizeof c->number, "A%03u", number);
    snprintf(c->masked, sizeof c->masked, "张*");
    c->t.area = c->area;
    c->t.number = c->number;
    c->t.masked_name = c->masked;
    c->t.issued_at_ms = clk_utc_ms() - 30000;
    if (by != NULL) {
        ck_assert_int_eq(seal_wrap(hall_key, by, CITIZEN, strlen(CITIZEN), c->sealed), 0);
        if (changed)
            c->sealed[60] ^= 0x80;
        c->t.sealed_id.data = c->sealed;
        c->t.sealed_id.len = sizeof c->sealed;
    }
    if (with_hash) {
        memset(c->hash, 0x5a, sizeof c->hash);
        c->t.citizen_hash.data = c->hash;
        c->t.citizen_hash.len = sizeof c->hash;
    }
}

static Hall__Envelope *upload(devlink *k, struct card_ticket *c, size_t n)
{
    Hall__OfflineTicket *tp[8];
    Hall__OfflineUpload up = HALL__OFFLINE_UPLOAD__INIT;
    Hall__Envelope env = HALL__ENVELOPE__INIT;

    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++)
        tp[i] = &c[i].t;
    up.n_tickets = n;
    up.tickets = tp;
    env.body_case = HALL__ENVELOPE__BODY_OFFLINE_UPLOAD;
    env.offline_upload = &up;
    Hall__Envelope *r = fix_call(k, &env);
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY, "UPLOAD: %s",
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    ck_assert_uint_eq(r->offline_upload_reply->n_results, n);
    return r;
}

/* halld reloads, and says so with this many sealing keys. */
static void reload(hallfix *f, const char *says)
{
    kill(f->pid, SIGHUP);
    ck_assert_msg(ts_file_contains(f->log, says, FIX_WAIT_MS), "halld did not log '%s'", says);
}

/* Kiosks send the ID number; halld alone hashes it, with the hall secret:
 * a ticket by card (and its retry), numbers refused, a kiosk's own hash
 * refused; offline, numbers sealed to halld's key open, a changed one or
 * one sealed by another kiosk is refused for that ticket only, and
 * without a sealing key the ticket is "not now" until the key is back. */
START_TEST(citizen_numbers_hashed_by_halld_only)
{
    hallfix f;
    uint8_t want[32], got[64];

    /* One citizen takes several tickets of one area here: no per-card
     * limit (kiosk_citizen_limit tests it). */
    fix_init(&f, 1, "[queue]\ncitizen_limit = 0\n");
    ck_assert_int_eq(ts_system("sed -i -e 's/^level *=.*/level = debug/' %s", f.config), 0);
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    hall_hmac(&f, CITIZEN, strlen(CITIZEN), want);

    /* A ticket by card: bound to HMAC-SHA256 of the number under the hall
     * secret; its retry gets the same ticket. */
    const uint64_t rid = devlink_next_id(k);
    Hall__Envelope *r = issue_card(k, CITIZEN, false);
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY, "ISSUE by card: %s",
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    ck_assert_str_eq(r->issue_reply->ticket->masked_name, "张*");
    uint64_t by_card = ticket_of(r);
    proto_free(r);
    ck_assert_int_eq(hall_blob(&f, TICKET_HASH, (int64_t)by_card, got, sizeof got), 32);
    ck_assert_mem_eq(got, want, 32);
    devlink_set_next_id(k, rid);
    r = issue_card(k, CITIZEN, false);
    ck_assert_uint_eq(ticket_of(r), by_card);
    proto_free(r);
    /* The kept answer's digest is keyed: not SHA-256 of the request,
     * which anyone with hall.db could test numbers against. */
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;
    char area[] = "intake", masked[] = "张*", number[] = CITIZEN;
    uint8_t packed[256], md[32], keyed[32];
    m.area = area;
    m.citizen_id = number;
    m.masked_name = masked;
    env.request_id = rid;
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    size_t plen = hall__envelope__pack(&env, packed);
    ck_assert(EVP_Digest(packed, plen, md, NULL, EVP_sha256(), NULL));
    hall_hmac(&f, packed, plen, keyed);
    ck_assert_int_eq(hall_blob(&f,
                               "SELECT digest FROM requests WHERE device = 'kiosk-01' AND "
                               "request_id = ?1",
                               (int64_t)rid, got, sizeof got),
                     16);
    ck_assert_mem_eq(got, keyed, 16);
    ck_assert(memcmp(got, md, 16) != 0);

    /* x and X: one number, one hash. */
    r = issue_card(k, "11010519491231002x", false);
    uint64_t lower = ticket_of(r);
    proto_free(r);
    r = issue_card(k, "11010519491231002X", false);
    uint64_t upper = ticket_of(r);
    proto_free(r);
    uint8_t other[64];
    ck_assert_int_eq(hall_blob(&f, TICKET_HASH, (int64_t)lower, got, sizeof got), 32);
    ck_assert_int_eq(hall_blob(&f, TICKET_HASH, (int64_t)upper, other, sizeof other), 32);
    ck_assert_mem_eq(got, other, 32);

    /* Refused: a kiosk's own hash, alone or with the number; a wrong check
     * digit (masked in the sentence); not a number. */
    expect_refusal(issue_card(k, "", true), "citizen_hash is no longer accepted");
    expect_refusal(issue_card(k, CITIZEN, true), "never both");
    expect_refusal(issue_card(k, "110101199003071234", false), "1101**********1234");
    expect_refusal(issue_card(k, "1101011990030712", false), "not an ID number");

    /* Offline, sealed to the key in the kiosk's bundle. */
    char err[300];
    seal_key *hall_key =
        seal_key_read(ts_path(f.dir, "pki/devices/kiosk-01/seal.pub"), false, err, sizeof err);
    ck_assert_msg(hall_key != NULL, "%s", err);
    Hall__Envelope lease = HALL__ENVELOPE__INIT;
    Hall__LeaseRequest lr = HALL__LEASE_REQUEST__INIT;
    lr.area = area;
    lr.wanted = 10;
    lease.body_case = HALL__ENVELOPE__BODY_LEASE_REQUEST;
    lease.lease_request = &lr;
    r = fix_call(k, &lease);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_LEASE_GRANT);
    uint32_t first = r->lease_grant->first;
    proto_free(r);
    struct card_ticket c[5];
    card_ticket(&c[0], hall_key, first, "kiosk-01", false, false);
    card_ticket(&c[1], hall_key, first + 1, "kiosk-01", true, false);
    card_ticket(&c[2], hall_key, first + 2, "kiosk-02", false, false);
    card_ticket(&c[3], hall_key, first + 3, NULL, false, true);
    card_ticket(&c[4], hall_key, first + 4, "kiosk-01", false, true);
    r = upload(k, c, 5);
    Hall__OfflineResult **res = r->offline_upload_reply->results;
    ck_assert_uint_ne(res[0]->ticket_id, 0);
    ck_assert_int_eq(hall_blob(&f, TICKET_HASH, (int64_t)res[0]->ticket_id, got, sizeof got), 32);
    ck_assert_mem_eq(got, want, 32);
    ck_assert_int_eq(res[1]->code, HALL__ERROR_CODE__ERR_BAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(res[1]->message, "does not open"));
    ck_assert_int_eq(res[2]->code, HALL__ERROR_CODE__ERR_BAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(res[2]->message, "does not open"));
    /* A kiosk from before sealing: its hash is not kept, the ticket joins. */
    ck_assert_uint_ne(res[3]->ticket_id, 0);
    ck_assert_int_eq(hall_blob(&f, TICKET_HASH, (int64_t)res[3]->ticket_id, got, sizeof got), 0);
    ck_assert_int_eq(res[4]->code, HALL__ERROR_CODE__ERR_BAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(res[4]->message, "never both"));
    proto_free(r);

    /* Without a sealing key (reloaded without it): not now, not never. */
    ck_assert_int_eq(rename(ts_path(f.dir, "seal.key"), ts_path(f.dir, "seal.key.away")), 0);
    reload(&f, "0 sealing keys)");
    ck_assert(ts_file_contains(f.log, "sealing_key", 0));
    card_ticket(&c[0], hall_key, first + 5, "kiosk-01", false, false);
    r = upload(k, c, 1);
    ck_assert_int_eq(r->offline_upload_reply->results[0]->code, HALL__ERROR_CODE__ERR_UNAVAILABLE);
    proto_free(r);
    ck_assert_int_eq(rename(ts_path(f.dir, "seal.key.away"), ts_path(f.dir, "seal.key")), 0);
    reload(&f, "1 sealing key)");
    r = upload(k, c, 1);
    ck_assert_uint_ne(r->offline_upload_reply->results[0]->ticket_id, 0);
    proto_free(r);

    seal_key_free(hall_key);
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    /* halld keeps no clear number, in its database nor in its log. */
    char *text = ts_slurp(f.log);
    ck_assert_ptr_null(strstr(text, "110101199003"));
    ck_assert_ptr_null(strstr(text, "110105194912"));
    free(text);
    ck_assert_int_eq(
        ts_system("grep -c -a -e 110101199003 -e 110105194912 %s/hall.db* >/dev/null", f.dir), 1);
    /* The hall secret is required: a configuration without it is refused,
     * with the key and the file named. */
    ck_assert_int_eq(unlink(ts_path(f.dir, "secret.key")), 0);
    ck_assert_int_ne(
        ts_system("%s --check-config -c %s >%s/check.log 2>&1", HALLD_PATH, f.config, f.dir), 0);
    ck_assert(ts_file_contains(ts_path(f.dir, "check.log"), "[privacy] secret", 0));
    fix_free(&f);
}
END_TEST

/* The fdatasync of a turn fails, as when the disk reports a write error
 * (an LD_PRELOAD library fails the WAL's syncs while a flag file exists):
 * halld answers nothing of that turn, says why and stops with an error.
 * Restarted, it has the turn or not; the kiosk's retry with the same
 * request id gets one answer, twice the same, never a second ticket. */
START_TEST(failed_sync_stops_without_answering)
{
    hallfix f;
    char flag[1200], err[DEVLINK_ERR_LEN];

    fix_init(&f, 1, NULL);
    snprintf(flag, sizeof flag, "%s/fail-sync", f.dir);
    setenv("LD_PRELOAD", FAILSYNC_PATH, 1);
    setenv("ONEWINDOW_FAIL_SYNC_FLAG", flag, 1);
    fix_start(&f);
    unsetenv("LD_PRELOAD");
    unsetenv("ONEWINDOW_FAIL_SYNC_FLAG");
    devlink *k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    uint64_t first = issue_printed(k, "");

    ts_write_file(flag, "");
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    uint64_t id = devlink_next_id(k);
    Hall__Envelope *r = devlink_call(k, &env, FIX_WAIT_MS, err);
    ck_assert_msg(r == NULL, "a turn whose sync failed was answered");
    int status = ts_wait(f.pid, FIX_WAIT_MS);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0,
                  "halld did not stop with an error after a failed sync");
    f.pid = 0;
    ck_assert(ts_file_contains(f.log, "cannot sync the store", 0));
    devlink_close(k);

    unlink(flag);
    fix_start(&f);
    k = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    uint64_t got[2];
    for (int i = 0; i < 2; i++) {
        devlink_set_next_id(k, id);
        r = fix_issue(k, "", HALL__PRIORITY__PRIORITY_NORMAL);
        ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY, "retry: %s",
                      r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
        got[i] = ticket_of(r);
        proto_free(r);
    }
    ck_assert_uint_eq(got[0], got[1]);
    ck_assert_uint_ne(got[0], first);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM tickets"), 2);
    devlink_close(k);
    fix_stop(&f);
    fix_free(&f);
}
END_TEST

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    Suite *s = suite_create(which);
    TCase *tc = tcase_create("queue over sockets");

    signal(SIGPIPE, SIG_IGN);
    tcase_set_timeout(tc, 600);
    if (strcmp(which, "concurrent") == 0)
        tcase_add_test(tc, concurrent_call_next_never_calls_twice);
    else if (strcmp(which, "retry") == 0) {
        tcase_add_test(tc, retried_requests_get_the_first_answer);
        tcase_add_test(tc, offline_upload_joins_once_in_issue_order);
    } else if (strcmp(which, "appointment") == 0) {
        tcase_add_test(tc, appointment_checked_in_once_and_called_when_due);
    } else if (strcmp(which, "diskfull") == 0) {
        if (!mount_small_disk())
            return 77;
        tcase_add_test(tc, disk_full_loses_only_unanswered_turns);
    } else if (strcmp(which, "auth") == 0) {
        tcase_add_test(tc, unknown_and_revoked_devices_refused);
        tcase_add_test(tc, roles_and_windows_enforced);
    } else if (strcmp(which, "ratings") == 0) {
        tcase_add_test(tc, ratings_stored_once_and_kept);
    } else if (strcmp(which, "status") == 0) {
        tcase_add_test(tc, device_status_reaches_subscribers);
    } else if (strcmp(which, "citizen") == 0) {
        tcase_add_test(tc, citizen_numbers_hashed_by_halld_only);
    } else if (strcmp(which, "syncfail") == 0) {
        tcase_add_test(tc, failed_sync_stops_without_answering);
    } else {
        fprintf(stderr,
                "usage: %s concurrent|retry|appointment|diskfull|auth|ratings|status|citizen|"
                "syncfail\n",
                argv[0]);
        return 2;
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (strcmp(which, "diskfull") == 0)
        unmount_small_disk();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
