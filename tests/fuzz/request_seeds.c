/*
 * request_seeds — writes the seed corpus of fuzz_request (the files in
 * tests/fuzz/corpus-request) into the directory named on the command
 * line:
 *
 *   build/tests/fuzz/fuzz_request_seeds tests/fuzz/corpus-request
 *
 * Each seed is a short session in the scratch hall of fuzz_request.h, one
 * for every request halld runs, with what that request needs first (a
 * clerk signed in, a ticket issued and printed, called...), plus a few
 * sessions of refusals, retries and timers. Ticket ids are aliases (1:
 * the ticket answered last), so the seeds mean the same in any state of
 * the shared hall.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_request.h"
#include "proto.h"
#include "seal.h"

#define SEED_MAX (64 * 1024)

static uint8_t seed[SEED_MAX];
static size_t seed_len;
static uint64_t next_request_id;

/* protobuf-c's structs hold char *; the strings are only read (packed). */
static char *S(const char *s)
{
    union {
        const char *in;
        char *out;
    } u = {s};
    return u.out;
}

/* Append env as one record from device (with ctl's other bits). */
static void rec(unsigned ctl, Hall__Envelope *env)
{
    size_t size;

    if (env->request_id == 0)
        env->request_id = ++next_request_id;
    size = hall__envelope__get_packed_size(env);
    if (size > 0xffff || seed_len + FR_RECORD_HEADER + size > SEED_MAX) {
        fprintf(stderr, "request_seeds: a seed grew too large\n");
        exit(EXIT_FAILURE);
    }
    seed[seed_len++] = (uint8_t)ctl;
    seed[seed_len++] = (uint8_t)(size >> 8);
    seed[seed_len++] = (uint8_t)size;
    hall__envelope__pack(env, seed + seed_len);
    seed_len += size;
}

static void save(const char *dir, const char *name)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(seed, 1, seed_len, f) != seed_len || fclose(f) != 0) {
        fprintf(stderr, "request_seeds: %s: %s\n", path, strerror(errno));
        exit(EXIT_FAILURE);
    }
    seed_len = 0;
    next_request_id = 0;
}

/* ---- One record per request ------------------------------------------------ */

#define ENVELOPE(field, kind, msg)                                                                 \
    Hall__Envelope env = HALL__ENVELOPE__INIT;                                                     \
    env.body_case = HALL__ENVELOPE__BODY_##kind;                                                   \
    env.field = &(msg)

static void heartbeat(unsigned ctl)
{
    Hall__Heartbeat m = HALL__HEARTBEAT__INIT;
    ENVELOPE(heartbeat, HEARTBEAT, m);

    m.device_time_ms = 1700000000000;
    rec(ctl, &env);
}

static void subscribe(unsigned ctl)
{
    Hall__Subscribe m = HALL__SUBSCRIBE__INIT;
    ENVELOPE(subscribe, SUBSCRIBE, m);

    rec(ctl, &env);
}

/* A fictitious citizen: a number with its right check digit. */
#define CITIZEN_ID "110101199003071233"

static void issue(unsigned ctl, const char *area, Hall__Priority priority, const char *appointment)
{
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;
    ENVELOPE(issue, ISSUE, m);

    m.area = S(area);
    m.priority = priority;
    m.appointment_code = S(appointment);
    if (priority == HALL__PRIORITY__PRIORITY_GREEN) {
        m.matter = S("B-1");
        m.citizen_id = S(CITIZEN_ID);
        m.masked_name = S("张*");
    }
    rec(ctl, &env);
}

/* An ISSUE by card as kiosks send it (citizen_id), and the ones halld
 * refuses: a kiosk's own hash, both, a wrong check digit, not a number. */
static void issue_by_card(unsigned ctl, const char *number, bool with_hash)
{
    static uint8_t hash[32] = {0x5a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;
    ENVELOPE(issue, ISSUE, m);

    m.area = S("A");
    m.appointment_code = S("");
    m.citizen_id = S(number);
    m.masked_name = S("张*");
    if (with_hash) {
        m.citizen_hash.data = hash;
        m.citizen_hash.len = sizeof hash;
    }
    rec(ctl, &env);
}

/* number sealed by kiosk-1 to the scratch hall's sealing key. */
static void seal_for_hall(const char *number, uint8_t out[SEAL_LEN])
{
    char err[256];
    seal_key *k =
        seal_key_from_pem(FR_SEALING_KEY, sizeof FR_SEALING_KEY - 1, true, err, sizeof err);

    if (k == NULL || seal_wrap(k, "kiosk-1", number, strlen(number), out) < 0) {
        fprintf(stderr, "request_seeds: cannot seal: %s\n", k == NULL ? err : strerror(errno));
        exit(EXIT_FAILURE);
    }
    seal_key_free(k);
}

static void printed(unsigned ctl, uint64_t ticket)
{
    Hall__Printed m = HALL__PRINTED__INIT;
    ENVELOPE(printed, PRINTED, m);

    m.ticket_id = ticket;
    rec(ctl, &env);
}

static void void_ticket(unsigned ctl, uint64_t ticket)
{
    Hall__VoidTicket m = HALL__VOID_TICKET__INIT;
    ENVELOPE(void_ticket, VOID_TICKET, m);

    m.ticket_id = ticket;
    m.reason = S("paper out");
    rec(ctl, &env);
}

static void rejoin(unsigned ctl, uint64_t ticket)
{
    Hall__Rejoin m = HALL__REJOIN__INIT;
    ENVELOPE(rejoin, REJOIN, m);

    m.ticket_id = ticket;
    rec(ctl, &env);
}

/* The citizen's own ticket at a kiosk: by id (the QR code) or by today's
 * number (typed), with the ticket's check or without. */
static void ticket_query(unsigned ctl, uint64_t ticket, const char *number, const char *check)
{
    Hall__TicketQuery m = HALL__TICKET_QUERY__INIT;
    ENVELOPE(ticket_query, TICKET_QUERY, m);

    m.ticket_id = ticket;
    m.number = S(number);
    m.check = S(check);
    rec(ctl, &env);
}

static void rejoin_number(unsigned ctl, const char *number)
{
    Hall__Rejoin m = HALL__REJOIN__INIT;
    ENVELOPE(rejoin, REJOIN, m);

    m.number = S(number);
    rec(ctl, &env);
}

static void call_next(unsigned ctl, uint32_t window)
{
    Hall__CallNext m = HALL__CALL_NEXT__INIT;
    ENVELOPE(call_next, CALL_NEXT, m);

    m.window_no = window;
    rec(ctl, &env);
}

/* The window operations that name a ticket (0: the window's current). */
#define WINDOW_OP(name, type, lower, kind)                                                         \
    static void name(unsigned ctl, uint32_t window, uint64_t ticket)                               \
    {                                                                                              \
        type m = HALL__##kind##__INIT;                                                             \
        Hall__Envelope env = HALL__ENVELOPE__INIT;                                                 \
        env.body_case = HALL__ENVELOPE__BODY_##kind;                                               \
        env.lower = &m;                                                                            \
        m.window_no = window;                                                                      \
        m.ticket_id = ticket;                                                                      \
        rec(ctl, &env);                                                                            \
    }

WINDOW_OP(recall, Hall__Recall, recall, RECALL)
WINDOW_OP(no_show, Hall__NoShow, no_show, NO_SHOW)
WINDOW_OP(start, Hall__Start, start, START)
WINDOW_OP(finish, Hall__Finish, finish, FINISH)

static void transfer(unsigned ctl, uint32_t window, const char *area, uint32_t to_window)
{
    Hall__Transfer m = HALL__TRANSFER__INIT;
    ENVELOPE(transfer, TRANSFER, m);

    m.window_no = window;
    m.to_area = S(area);
    m.to_window = to_window;
    rec(ctl, &env);
}

static void hold(unsigned ctl, uint32_t window, uint64_t ticket, bool release)
{
    Hall__Hold m = HALL__HOLD__INIT;
    ENVELOPE(hold, HOLD, m);

    m.window_no = window;
    m.ticket_id = ticket;
    m.release = release;
    rec(ctl, &env);
}

static void cancel(unsigned ctl, uint32_t window, uint64_t ticket)
{
    Hall__CancelTicket m = HALL__CANCEL_TICKET__INIT;
    ENVELOPE(cancel, CANCEL, m);

    m.window_no = window;
    m.ticket_id = ticket;
    m.reason = S("材料不全");
    rec(ctl, &env);
}

static void pause_window(unsigned ctl, uint32_t window)
{
    Hall__PauseWindow m = HALL__PAUSE_WINDOW__INIT;
    ENVELOPE(pause, PAUSE, m);

    m.window_no = window;
    m.reason = S("午休");
    rec(ctl, &env);
}

static void resume_window(unsigned ctl, uint32_t window)
{
    Hall__ResumeWindow m = HALL__RESUME_WINDOW__INIT;
    ENVELOPE(resume, RESUME, m);

    m.window_no = window;
    rec(ctl, &env);
}

static void sign_in(unsigned ctl, uint32_t window, const char *clerk)
{
    Hall__SignIn m = HALL__SIGN_IN__INIT;
    ENVELOPE(sign_in, SIGN_IN, m);

    m.window_no = window;
    m.clerk_id = S(clerk);
    rec(ctl, &env);
}

static void sign_out(unsigned ctl, uint32_t window)
{
    Hall__SignOut m = HALL__SIGN_OUT__INIT;
    ENVELOPE(sign_out, SIGN_OUT, m);

    m.window_no = window;
    rec(ctl, &env);
}

static void lease_request(unsigned ctl, const char *area)
{
    Hall__LeaseRequest m = HALL__LEASE_REQUEST__INIT;
    ENVELOPE(lease_request, LEASE_REQUEST, m);

    m.area = S(area);
    m.wanted = 20;
    rec(ctl, &env);
}

/* Two offline tickets, the second taken by card (its number sealed; with
 * tamper, one bit of the envelope flipped: that ticket is refused). */
static void offline_upload(unsigned ctl, bool tamper)
{
    Hall__OfflineTicket t[2] = {HALL__OFFLINE_TICKET__INIT, HALL__OFFLINE_TICKET__INIT};
    Hall__OfflineTicket *tickets[2] = {&t[0], &t[1]};
    Hall__OfflineUpload m = HALL__OFFLINE_UPLOAD__INIT;
    static uint8_t sealed[SEAL_LEN];
    ENVELOPE(offline_upload, OFFLINE_UPLOAD, m);

    t[0].area = S("A");
    t[0].number = S("A0900");
    t[0].seq = 1;
    t[0].issued_at_ms = 60000; /* a minute ago (fuzz_request.h) */
    t[1].area = S("A");
    t[1].number = S("A0901");
    t[1].seq = 2;
    t[1].issued_at_ms = 30000;
    t[1].priority = HALL__PRIORITY__PRIORITY_GREEN;
    t[1].masked_name = S("李*");
    seal_for_hall(CITIZEN_ID, sealed);
    if (tamper)
        sealed[SEAL_LEN / 2] ^= 0x10;
    t[1].sealed_id.data = sealed;
    t[1].sealed_id.len = sizeof sealed;
    m.n_tickets = 2;
    m.tickets = tickets;
    rec(ctl, &env);
}

static void rating(unsigned ctl, uint32_t window, uint64_t ticket, uint32_t level)
{
    Hall__Rating m = HALL__RATING__INIT;
    ENVELOPE(rating, RATING, m);

    m.window_no = window;
    m.ticket_id = ticket;
    m.level = level;
    m.comment = S("办得很快");
    rec(ctl, &env);
}

static void device_status(unsigned ctl, bool paper)
{
    Hall__ComponentStatus c[2] = {HALL__COMPONENT_STATUS__INIT, HALL__COMPONENT_STATUS__INIT};
    Hall__ComponentStatus *components[2] = {&c[0], &c[1]};
    Hall__DeviceStatus m = HALL__DEVICE_STATUS__INIT;
    ENVELOPE(device_status, DEVICE_STATUS, m);

    c[0].name = S("printer");
    c[0].state = S(paper ? "ok" : "paper_out");
    c[0].detail = S(paper ? "" : "打印纸用完");
    c[1].name = S("reader");
    c[1].state = S("ok");
    m.n_components = 2;
    m.components = components;
    m.can_issue = paper;
    rec(ctl, &env);
}

static void alert_action(unsigned ctl, const char *id, Hall__AlertAction__Action action)
{
    Hall__AlertAction m = HALL__ALERT_ACTION__INIT;
    ENVELOPE(alert_action, ALERT_ACTION, m);

    m.alert_id = S(id);
    m.action = action;
    m.note = S("已回访群众");
    rec(ctl, &env);
}

static void hello(unsigned ctl)
{
    Hall__Hello m = HALL__HELLO__INIT;
    ENVELOPE(hello, HELLO, m);

    m.device_id = S("kiosk-1");
    m.type = HALL__DEVICE_TYPE__DEVICE_KIOSK;
    m.protocol_version = PROTO_VERSION;
    rec(ctl, &env);
}

/* ---- Sessions ---------------------------------------------------------------- */

#define K  (FR_DEV_KIOSK | FR_COMMIT)
#define W1 (FR_DEV_WINDOW1 | FR_COMMIT)

/* A clerk at window 1 and a printed ticket in area A. */
static void ticket_waiting(void)
{
    sign_in(W1, 1, "c1");
    issue(K, "A", HALL__PRIORITY__PRIORITY_NORMAL, "");
    printed(K, 1);
}

/* ... and called to window 1. */
static void ticket_called(void)
{
    ticket_waiting();
    call_next(W1, 1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];

    heartbeat(FR_DEV_TOOL | FR_COMMIT);
    save(dir, "heartbeat");

    subscribe(FR_DEV_DISPLAY | FR_COMMIT);
    issue(K, "", HALL__PRIORITY__PRIORITY_NORMAL, "");
    save(dir, "subscribe");

    issue(K, "A", HALL__PRIORITY__PRIORITY_NORMAL, "");
    save(dir, "issue");
    issue(K, "B", HALL__PRIORITY__PRIORITY_GREEN, "");
    save(dir, "issue_green");
    issue(K, "", HALL__PRIORITY__PRIORITY_APPOINTMENT, "appt-a");
    save(dir, "issue_appointment");

    issue(K, "A", HALL__PRIORITY__PRIORITY_NORMAL, "");
    printed(K, 1);
    save(dir, "printed");

    issue(K, "C", HALL__PRIORITY__PRIORITY_NORMAL, "");
    void_ticket(K, 1);
    save(dir, "void_ticket");

    sign_in(W1, 1, "c1");
    save(dir, "sign_in");

    ticket_called();
    save(dir, "call_next");

    ticket_called();
    recall(W1, 1, 0);
    save(dir, "recall");

    ticket_called();
    no_show(W1, 1, 0);
    save(dir, "no_show");

    ticket_called();
    no_show(W1, 1, 0);
    rejoin(K, 1);
    save(dir, "rejoin");

    ticket_called();
    no_show(W1, 1, 0);
    rejoin_number(K, "a001");
    save(dir, "rejoin_number");

    ticket_called();
    ticket_query(K, 1, "", "0000");
    ticket_query(K, 0, "A001", "");
    save(dir, "ticket_query");

    ticket_called();
    start(W1, 1, 0);
    save(dir, "start");

    ticket_called();
    start(W1, 1, 0);
    finish(W1, 1, 0);
    save(dir, "finish");

    ticket_called();
    start(W1, 1, 0);
    transfer(W1, 1, "B", 0);
    save(dir, "transfer");

    ticket_called();
    hold(W1, 1, 0, false);
    hold(W1, 1, 1, true);
    save(dir, "hold");

    ticket_called();
    cancel(W1, 1, 0);
    save(dir, "cancel");

    sign_in(W1, 1, "c1");
    pause_window(W1, 1);
    save(dir, "pause");

    sign_in(W1, 1, "c1");
    pause_window(W1, 1);
    resume_window(W1, 1);
    save(dir, "resume");

    sign_in(W1, 1, "c1");
    sign_out(W1, 1);
    save(dir, "sign_out");

    lease_request(K, "A");
    save(dir, "lease_request");

    lease_request(K, "A");
    offline_upload(K, false);
    save(dir, "offline_upload");

    /* ID numbers: taken, refused, and a sealed one that does not open. */
    issue_by_card(K, CITIZEN_ID, false);
    issue_by_card(K, CITIZEN_ID, true);
    issue_by_card(K, "", true);
    issue_by_card(K, "110101199003071234", false);
    issue_by_card(K, "11010119900307123", false);
    lease_request(K, "A");
    offline_upload(K, true);
    save(dir, "citizen_id");

    ticket_called();
    start(W1, 1, 0);
    finish(W1, 1, 0);
    rating(W1, 1, 1, 5);
    save(dir, "rating");

    device_status(FR_DEV_KIOSK | FR_COMMIT, false);
    device_status(FR_DEV_KIOSK | FR_COMMIT, true);
    save(dir, "device_status");

    /* A rating of 不满意 raises an alert (rating_bad); the tool
     * acknowledges and resolves it, and acknowledges it once more. */
    ticket_called();
    start(W1, 1, 0);
    finish(W1, 1, 0);
    rating(W1, 1, 1, 2);
    alert_action(FR_DEV_TOOL | FR_COMMIT, "fuzz-hall-1", HALL__ALERT_ACTION__ACTION__ACK);
    alert_action(FR_DEV_TOOL | FR_COMMIT, "fuzz-hall-1", HALL__ALERT_ACTION__ACTION__RESOLVE);
    alert_action(FR_DEV_TOOL | FR_COMMIT, "fuzz-hall-1", HALL__ALERT_ACTION__ACTION__ACK);
    save(dir, "alert_action");

    /* The same ISSUE twice under one request id: one ticket. */
    issue(K, "A", HALL__PRIORITY__PRIORITY_NORMAL, "");
    next_request_id--;
    issue(K, "A", HALL__PRIORITY__PRIORITY_NORMAL, "");
    save(dir, "retry");

    /* Requests from devices that may not send them. */
    issue(FR_DEV_DISPLAY | FR_COMMIT, "A", HALL__PRIORITY__PRIORITY_NORMAL, "");
    call_next(FR_DEV_WINDOW2 | FR_COMMIT, 1);
    sign_in(FR_DEV_WINDOW9 | FR_COMMIT, 9, "c2");
    call_next(K, 1);
    sign_in(FR_DEV_WINDOW3 | FR_COMMIT, 3, "c3");
    save(dir, "forbidden");

    /* HELLO is the server's, not a request. */
    hello(K);
    save(dir, "hello");

    /* Several requests in one turn, the timers between them. */
    sign_in(FR_DEV_WINDOW2, 2, "c2");
    issue(FR_DEV_KIOSK | FR_TICK, "A", HALL__PRIORITY__PRIORITY_NORMAL, "");
    issue(FR_DEV_KIOSK2, "A", HALL__PRIORITY__PRIORITY_GREEN, "");
    printed(FR_DEV_KIOSK2, 1);
    printed(FR_DEV_KIOSK | FR_TICK, 2);
    call_next(FR_DEV_WINDOW2 | FR_COMMIT, 2);
    subscribe(FR_DEV_DISPLAY | FR_COMMIT);
    call_next(FR_DEV_TOOL | FR_TICK | FR_COMMIT, 2);
    save(dir, "turn");
    return 0;
}
