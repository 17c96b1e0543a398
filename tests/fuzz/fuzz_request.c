/*
 * fuzz_request — libFuzzer target for halld's request handling
 * (controller/hall.c) on a real store: any message, from any device,
 * in any order, turn by turn as the server runs them.
 *
 * The scratch hall (fuzz_request.h) is made once in a scratch directory —
 * store_open() as the daemon opens it, a small catalog, windows, clerks
 * and appointments, halld_conf_load() of a small INI file, the hall
 * secret and sealing key next to it, hall_new() —
 * and made again after REBUILD_REQUESTS requests, so that the database
 * and the answers kept for retries stay small over millions of inputs.
 * The input is a sequence of records (fuzz_request.h): each picks a
 * device and carries one payload, which proto_unpack() must accept before
 * hall_request() sees it (fuzz_frame covers the refusals); a record may
 * end the turn (hall_commit(), as the server's before-sleep hook does) or
 * run the timers first (hall_tick()).
 *
 * Promises checked:
 *   - hall_request() answers every request: exactly one well-formed frame
 *     whose payload proto_unpack() accepts, under the request's
 *     request_id, of the body that request is answered with or ERROR
 *     (with a code and a sentence); a SUBSCRIBE allowed for its device
 *     appends nothing and gets its snapshot after the commit;
 *   - a retry (the same request, same request_id, same device) gets the
 *     first answer byte for byte; the same request_id with a different
 *     request is refused with ERR_REQUEST_ID_REUSED (once the first answer
 *     was kept: every answer of a request that changes the hall is, but
 *     "unavailable");
 *   - a commit never fails: no request, refused or not, fails its turn,
 *     and the hall is never broken;
 *   - the display pushes: each commit's push is one frame of a delta with
 *     the next sequence number, and a snapshot shows the hall's three
 *     areas and three windows under the current one;
 *   - the queue engine's own invariants (assert_ticket, assert_window in
 *     controller/queue.c), which is why this file refuses to build with
 *     NDEBUG.
 * Any broken promise aborts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clk.h"
#include "fuzz_request.h"
#include "fuzzsupport.h"
#include "hall.h"
#include "halld_conf.h"
#include "log.h"
#include "proto.h"
#include "store.h"

#ifdef NDEBUG
#error "fuzz_request checks the queue engine's asserts: build it without NDEBUG"
#endif

/* Make the hall again after this many requests (at the next input). */
#define REBUILD_REQUESTS 10000
/* Requests of one input remembered for the retry and reuse checks. */
#define SEEN_MAX 64
#define NDEVICES (FR_DEV_MASK + 1)

static const hall_device devices[NDEVICES] = {
    [FR_DEV_KIOSK] = {"kiosk-1", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0},
    [FR_DEV_KIOSK2] = {"kiosk-2", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0},
    [FR_DEV_WINDOW1] = {"wt-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1},
    [FR_DEV_WINDOW2] = {"wt-2", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 2},
    [FR_DEV_WINDOW3] = {"wt-3", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 3},
    [FR_DEV_WINDOW9] = {"wt-9", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 9},
    [FR_DEV_DISPLAY] = {"display-1", HALL__DEVICE_TYPE__DEVICE_DISPLAY, 0},
    [FR_DEV_TOOL] = {"tool-1", HALL__DEVICE_TYPE__DEVICE_TOOL, 0},
};

static const char ini[] = "[hall]\n"
                          "id = fuzz-hall\n"
                          "[numbering]\n"
                          "digits = 4\n";

/* The scratch hall. */
static struct {
    char *dir;
    struct halld_conf conf;
    store *store;
    hall *hall;
    uint64_t push_seq; /* of the latest push */
    unsigned long requests;
} H;

/* A request of this input, for the retry and reuse checks. */
struct seen {
    int device;
    uint64_t request_id;
    uint8_t *request; /* packed, after the rewrites */
    size_t request_len;
    uint8_t *answer; /* the payload of its answer, if kept for retries */
    size_t answer_len;
};

/* One input's run. */
struct run {
    buf out; /* the turn's answers, as a session holds them */
    uint64_t id_base;
    uint64_t aliases[FR_ALIASES]; /* ticket ids answered, latest first */
    size_t naliases;
    bool want_snapshot[NDEVICES];
    uint64_t snapshot_request[NDEVICES];
    struct seen seen[SEEN_MAX];
    size_t nseen;
};

static void die(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_request: %s: %s\n", what, err);
    abort();
}

/* ---- The scratch hall ------------------------------------------------------ */

static Hall__Envelope *check_frame(const uint8_t *p, size_t n, uint64_t request_id);

static void build(void)
{
    static const q_area areas[] = {
        {.code = "A", .name = "综合受理", .prefix = "A", .general = true},
        {.code = "B", .name = "不动产登记", .prefix = "B"},
        {.code = "C", .name = "公积金", .prefix = "C"},
    };
    static const store_matter matters[] = {
        {.code = "A-1",
         .name = "政策咨询",
         .area = "A",
         .conditions = "",
         .materials = "",
         .sample = "",
         .review_points = "",
         .in_one_window = true},
        {.code = "B-1",
         .name = "转移登记",
         .area = "B",
         .conditions = "",
         .materials = "身份证",
         .sample = "",
         .review_points = "",
         .in_one_window = true,
         .online_doable = true},
    };
    static const q_window windows[] = {
        {.no = 1,
         .name = "1号窗口",
         .type = QW_INTAKE,
         .state = QW_CLOSED,
         .nareas = 2,
         .areas = {"A", "B"},
         .weights = {1, 2}},
        {.no = 2,
         .name = "2号窗口",
         .type = QW_INTAKE,
         .state = QW_CLOSED,
         .nareas = 1,
         .areas = {"A"},
         .weights = {1}},
        {.no = 3,
         .name = "3号窗口",
         .type = QW_CONSULT,
         .state = QW_CLOSED,
         .nareas = 2,
         .areas = {"B", "C"},
         .weights = {1, 1}},
    };
    static const store_clerk clerks[] = {{.id = "c1", .name = "张敏", .active = true},
                                         {.id = "c2", .name = "李强", .active = true},
                                         {.id = "c3", .name = "王芳", .active = false}};
    int64_t now = clk_utc_ms();
    const store_appointment appointments[] = {
        {.code = "appt-a", .area = "A", .slot_ms = now, .masked_name = "陈*"},
        {.code = "appt-b", .area = "B", .slot_ms = now + 3600000, .masked_name = "欧阳*"},
    };
    char err[512];
    char *ini_path;
    buf snapshot;
    Hall__Envelope *env;

    H.dir = fz_path(fz_scratch_dir(), "hall");
    if (mkdir(H.dir, 0700) < 0)
        die(H.dir, strerror(errno));
    ini_path = fz_path(H.dir, "halld.ini");
    fz_write_file(ini_path, ini, sizeof ini - 1);
    free(ini_path);
    /* The [privacy] keys, at their default paths next to halld.ini. */
    ini_path = fz_path(H.dir, "secret.key");
    fz_write_file(ini_path, FR_SECRET_HEX, sizeof FR_SECRET_HEX - 1);
    free(ini_path);
    ini_path = fz_path(H.dir, "seal.key");
    fz_write_file(ini_path, FR_SEALING_KEY, sizeof FR_SEALING_KEY - 1);
    free(ini_path);
    ini_path = fz_path(H.dir, "halld.ini");
    if (halld_conf_load(&H.conf, ini_path, err, sizeof err) < 0)
        die("configuration", err);
    free(ini_path);
    H.store = store_open(H.conf.store_path, H.conf.hall_id, STORE_DAEMON, err, sizeof err);
    if (H.store == NULL)
        die("store", err);
    if (store_replace_catalog(H.store, areas, sizeof areas / sizeof areas[0], matters,
                              sizeof matters / sizeof matters[0], 0) < 0)
        die("catalog", store_errmsg(H.store));
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++)
        if (store_save_window(H.store, &windows[i]) < 0)
            die("window", store_errmsg(H.store));
    for (size_t i = 0; i < sizeof clerks / sizeof clerks[0]; i++)
        if (store_save_clerk(H.store, &clerks[i]) < 0)
            die("clerk", store_errmsg(H.store));
    for (size_t i = 0; i < sizeof appointments / sizeof appointments[0]; i++)
        if (store_save_appointment(H.store, &appointments[i]) < 0)
            die("appointment", store_errmsg(H.store));
    H.hall = hall_new(&H.conf, H.store, err, sizeof err);
    if (H.hall == NULL)
        die("hall", err);
    H.requests = 0;

    /* The sequence number a display starts from. */
    buf_init(&snapshot, 0);
    hall_snapshot(H.hall, 0, &snapshot);
    env = check_frame(buf_rdata(&snapshot), buf_rlen(&snapshot), 0);
    FZ_CHECK(env->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH);
    H.push_seq = env->display_push->seq;
    proto_free(env);
    buf_release(&snapshot);
}

static void teardown(void)
{
    hall_free(H.hall);
    store_close(H.store);
    halld_conf_release(&H.conf);
    fz_remove_tree(H.dir);
    free(H.dir);
    H.hall = NULL;
    H.store = NULL;
    H.dir = NULL;
}

/* ---- Checks ------------------------------------------------------------------ */

/* The n bytes at p are exactly one frame, whose payload unpacks to an
 * Envelope under request_id. */
static Hall__Envelope *check_frame(const uint8_t *p, size_t n, uint64_t request_id)
{
    const uint8_t *payload;
    size_t len, used;
    Hall__Envelope *env;

    FZ_CHECK(n > 0);
    FZ_CHECK(frame_next(p, n, FRAME_MAX, &payload, &len, &used) == 1 && used == n);
    env = proto_unpack(payload, len);
    FZ_CHECK(env != NULL);
    FZ_CHECK(env->request_id == request_id);
    if (env->body_case == HALL__ENVELOPE__BODY_ERROR)
        FZ_CHECK(env->error->code != HALL__ERROR_CODE__ERR_NONE && env->error->message[0] != '\0');
    return env;
}

/* The body a request is answered with when it is not refused. */
static Hall__Envelope__BodyCase answer_body(Hall__Envelope__BodyCase request)
{
    switch (request) {
    case HALL__ENVELOPE__BODY_HEARTBEAT:
        return HALL__ENVELOPE__BODY_HEARTBEAT_REPLY;
    case HALL__ENVELOPE__BODY_ISSUE:
        return HALL__ENVELOPE__BODY_ISSUE_REPLY;
    case HALL__ENVELOPE__BODY_PRINTED:
    case HALL__ENVELOPE__BODY_VOID_TICKET:
    case HALL__ENVELOPE__BODY_REJOIN:
    case HALL__ENVELOPE__BODY_TICKET_QUERY:
        return HALL__ENVELOPE__BODY_TICKET_REPLY;
    case HALL__ENVELOPE__BODY_CALL_NEXT:
    case HALL__ENVELOPE__BODY_RECALL:
    case HALL__ENVELOPE__BODY_NO_SHOW:
    case HALL__ENVELOPE__BODY_START:
    case HALL__ENVELOPE__BODY_FINISH:
    case HALL__ENVELOPE__BODY_TRANSFER:
    case HALL__ENVELOPE__BODY_HOLD:
    case HALL__ENVELOPE__BODY_CANCEL:
    case HALL__ENVELOPE__BODY_PAUSE:
    case HALL__ENVELOPE__BODY_RESUME:
    case HALL__ENVELOPE__BODY_SIGN_IN:
    case HALL__ENVELOPE__BODY_SIGN_OUT:
        return HALL__ENVELOPE__BODY_WINDOW_REPLY;
    case HALL__ENVELOPE__BODY_LEASE_REQUEST:
        return HALL__ENVELOPE__BODY_LEASE_GRANT;
    case HALL__ENVELOPE__BODY_OFFLINE_UPLOAD:
        return HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY;
    case HALL__ENVELOPE__BODY_DEVICE_STATUS:
        return HALL__ENVELOPE__BODY_DEVICE_STATUS_REPLY;
    case HALL__ENVELOPE__BODY_RATING:
        return HALL__ENVELOPE__BODY_RATING_REPLY;
    case HALL__ENVELOPE__BODY_WEB_EVENT:
        return HALL__ENVELOPE__BODY_WEB_EVENT_REPLY;
    case HALL__ENVELOPE__BODY_ALERT_ACTION:
        return HALL__ENVELOPE__BODY_ALERT_REPLY;
    default:
        return HALL__ENVELOPE__BODY_ERROR; /* not a request halld runs */
    }
}

/* Requests that change the hall: their answers are kept for retries.
 * Heartbeats, SUBSCRIBE, DEVICE_STATUS and TICKET_QUERY keep nothing. */
static bool changes_hall(Hall__Envelope__BodyCase request)
{
    return request != HALL__ENVELOPE__BODY_HEARTBEAT &&
           request != HALL__ENVELOPE__BODY_DEVICE_STATUS &&
           request != HALL__ENVELOPE__BODY_TICKET_QUERY &&
           answer_body(request) != HALL__ENVELOPE__BODY_ERROR;
}

static void check_push(const uint8_t *p, size_t n, uint64_t request_id, bool snapshot)
{
    Hall__Envelope *env = check_frame(p, n, request_id);
    const Hall__DisplayPush *push = env->display_push;

    FZ_CHECK(env->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH);
    FZ_CHECK(push->snapshot == snapshot);
    if (snapshot) {
        FZ_CHECK(push->seq == H.push_seq);
        FZ_CHECK(push->n_areas == 3 && push->n_windows == 3);
    } else {
        FZ_CHECK(push->seq == H.push_seq + 1);
        H.push_seq = push->seq;
    }
    proto_free(env);
}

/* ---- One input -------------------------------------------------------------- */

static void alias_add(struct run *r, uint64_t id)
{
    if (id == 0 || (r->naliases > 0 && r->aliases[0] == id))
        return;
    memmove(&r->aliases[1], &r->aliases[0], (FR_ALIASES - 1) * sizeof r->aliases[0]);
    r->aliases[0] = id;
    if (r->naliases < FR_ALIASES)
        r->naliases++;
}

static void alias_take(struct run *r, const Hall__Envelope *answer)
{
    switch (answer->body_case) {
    case HALL__ENVELOPE__BODY_ISSUE_REPLY:
        if (answer->issue_reply->ticket != NULL)
            alias_add(r, answer->issue_reply->ticket->id);
        break;
    case HALL__ENVELOPE__BODY_TICKET_REPLY:
        if (answer->ticket_reply->ticket != NULL)
            alias_add(r, answer->ticket_reply->ticket->id);
        break;
    case HALL__ENVELOPE__BODY_WINDOW_REPLY:
        if (answer->window_reply->ticket != NULL)
            alias_add(r, answer->window_reply->ticket->id);
        break;
    case HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY:
        for (size_t i = 0; i < answer->offline_upload_reply->n_tickets; i++)
            alias_add(r, answer->offline_upload_reply->tickets[i]->id);
        break;
    case HALL__ENVELOPE__BODY_RATING_REPLY:
        alias_add(r, answer->rating_reply->ticket_id);
        break;
    default:
        break;
    }
}

static void alias_apply(const struct run *r, uint64_t *ticket_id)
{
    if (*ticket_id >= 1 && *ticket_id <= r->naliases)
        *ticket_id = r->aliases[*ticket_id - 1];
}

/* The rewrites of fuzz_request.h. */
static void rewrite(const struct run *r, Hall__Envelope *req)
{
    /* Each input has its own 2^24 request ids: an id the data carries
     * past that range would otherwise wrap onto another input's ids, and
     * halld would rightly answer it from what it kept for that input. */
    if (req->request_id != 0)
        req->request_id = r->id_base + (req->request_id & ((1u << 24) - 1));
    switch (req->body_case) {
    case HALL__ENVELOPE__BODY_PRINTED:
        alias_apply(r, &req->printed->ticket_id);
        break;
    case HALL__ENVELOPE__BODY_VOID_TICKET:
        alias_apply(r, &req->void_ticket->ticket_id);
        break;
    case HALL__ENVELOPE__BODY_REJOIN:
        alias_apply(r, &req->rejoin->ticket_id);
        break;
    case HALL__ENVELOPE__BODY_RECALL:
        alias_apply(r, &req->recall->ticket_id);
        break;
    case HALL__ENVELOPE__BODY_NO_SHOW:
        alias_apply(r, &req->no_show->ticket_id);
        break;
    case HALL__ENVELOPE__BODY_START:
        alias_apply(r, &req->start->ticket_id);
        break;
    case HALL__ENVELOPE__BODY_FINISH:
        alias_apply(r, &req->finish->ticket_id);
        break;
    case HALL__ENVELOPE__BODY_TRANSFER:
        alias_apply(r, &req->transfer->ticket_id);
        break;
    case HALL__ENVELOPE__BODY_HOLD:
        alias_apply(r, &req->hold->ticket_id);
        break;
    case HALL__ENVELOPE__BODY_CANCEL:
        alias_apply(r, &req->cancel->ticket_id);
        break;
    case HALL__ENVELOPE__BODY_RATING:
        alias_apply(r, &req->rating->ticket_id);
        break;
    case HALL__ENVELOPE__BODY_OFFLINE_UPLOAD:
        for (size_t i = 0; i < req->offline_upload->n_tickets; i++) {
            Hall__OfflineTicket *t = req->offline_upload->tickets[i];

            if (t->issued_at_ms >= 0 && t->issued_at_ms < FR_RELATIVE_MS)
                t->issued_at_ms = clk_utc_ms() - t->issued_at_ms;
        }
        break;
    default:
        break;
    }
}

static void forget_seen(struct run *r)
{
    for (size_t i = 0; i < r->nseen; i++) {
        free(r->seen[i].request);
        free(r->seen[i].answer);
    }
    r->nseen = 0;
}

/* The request this device sent earlier in this input under the same
 * request_id whose answer was kept, if any; *same says whether it is the
 * same request. */
static const struct seen *find_seen(const struct run *r, int device, const Hall__Envelope *req,
                                    const uint8_t *packed, size_t len, bool *same)
{
    *same = false;
    for (size_t i = 0; i < r->nseen; i++) {
        const struct seen *s = &r->seen[i];

        if (s->device != device || s->request_id != req->request_id || s->answer == NULL)
            continue;
        *same = s->request_len == len && memcmp(s->request, packed, len) == 0;
        return s;
    }
    return NULL;
}

static void remember(struct run *r, int device, const Hall__Envelope *req, uint8_t *packed,
                     size_t len, const Hall__Envelope *answer, const uint8_t *frame,
                     size_t frame_len)
{
    struct seen *s;
    bool kept = answer->body_case != HALL__ENVELOPE__BODY_ERROR ||
                answer->error->code != HALL__ERROR_CODE__ERR_UNAVAILABLE;

    if (r->nseen == SEEN_MAX) {
        free(packed);
        return;
    }
    s = &r->seen[r->nseen++];
    *s = (struct seen){device, req->request_id, packed, len, NULL, 0};
    if (kept) {
        s->answer_len = frame_len - FRAME_HEADER;
        s->answer = malloc(s->answer_len ? s->answer_len : 1);
        FZ_CHECK(s->answer != NULL);
        memcpy(s->answer, frame + FRAME_HEADER, s->answer_len);
    }
}

static void one_request(struct run *r, int device, const uint8_t *payload, size_t len)
{
    Hall__Envelope *req = proto_unpack(payload, len), *answer;
    const struct seen *first = NULL;
    bool same = false, track;
    uint8_t *packed = NULL;
    size_t packed_len = 0, before;
    int rc;

    if (req == NULL)
        return;
    rewrite(r, req);
    track = req->request_id != 0 && changes_hall(req->body_case);
    if (track) {
        packed_len = hall__envelope__get_packed_size(req);
        packed = malloc(packed_len ? packed_len : 1);
        FZ_CHECK(packed != NULL);
        hall__envelope__pack(req, packed);
        first = find_seen(r, device, req, packed, packed_len, &same);
    }
    before = buf_rlen(&r->out);
    rc = hall_request(H.hall, &devices[device], req, &r->out);
    H.requests++;
    if (rc == HALL_SUBSCRIBE) {
        FZ_CHECK(req->body_case == HALL__ENVELOPE__BODY_SUBSCRIBE);
        FZ_CHECK(buf_rlen(&r->out) == before);
        r->want_snapshot[device] = true;
        r->snapshot_request[device] = req->request_id;
        proto_free(req);
        return;
    }
    FZ_CHECK(rc == 0 || rc == HALL_KEPT);
    const uint8_t *frame = buf_rdata(&r->out) + before;
    size_t frame_len = buf_rlen(&r->out) - before;

    answer = check_frame(frame, frame_len, req->request_id);
    /* A retry gets the first answer byte for byte; a request_id used
     * before for another request is refused as such; anything else gets
     * its own answer or a refusal. */
    if (first != NULL && same)
        FZ_CHECK(frame_len - FRAME_HEADER == first->answer_len &&
                 memcmp(frame + FRAME_HEADER, first->answer, first->answer_len) == 0);
    else if (first != NULL)
        FZ_CHECK(answer->body_case == HALL__ENVELOPE__BODY_ERROR &&
                 answer->error->code == HALL__ERROR_CODE__ERR_REQUEST_ID_REUSED);
    else
        FZ_CHECK(answer->body_case == HALL__ENVELOPE__BODY_ERROR ||
                 answer->body_case == answer_body(req->body_case));
    /* Kept this turn: a new request that changes the hall, answered with
     * anything but "unavailable" (which asks for a retry). */
    FZ_CHECK((rc == HALL_KEPT) ==
             (track && first == NULL &&
              !(answer->body_case == HALL__ENVELOPE__BODY_ERROR &&
                (answer->error->code == HALL__ERROR_CODE__ERR_UNAVAILABLE ||
                 answer->error->code == HALL__ERROR_CODE__ERR_ANSWER_DROPPED ||
                 answer->error->code == HALL__ERROR_CODE__ERR_REQUEST_ID_REUSED))));
    alias_take(r, answer);
    if (track && first == NULL)
        remember(r, device, req, packed, packed_len, answer, frame, frame_len);
    else
        free(packed);
    proto_free(answer);
    proto_free(req);
}

/* The end of a loop turn, as the server's before-sleep hook runs it. */
static void end_turn(struct run *r)
{
    const uint8_t *push;
    size_t len;

    /* Nothing a device sends can fail a turn (the store is healthy). */
    FZ_CHECK(hall_commit(H.hall) == 0);
    FZ_CHECK(!hall_broken(H.hall));
    push = hall_push(H.hall, &len);
    if (push != NULL)
        check_push(push, len, 0, false);
    for (int d = 0; d < NDEVICES; d++) {
        buf snapshot;

        if (!r->want_snapshot[d])
            continue;
        buf_init(&snapshot, 0);
        hall_snapshot(H.hall, r->snapshot_request[d], &snapshot);
        check_push(buf_rdata(&snapshot), buf_rlen(&snapshot), r->snapshot_request[d], true);
        buf_release(&snapshot);
    }
    memset(r->want_snapshot, 0, sizeof r->want_snapshot);
    buf_clear(&r->out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    static uint64_t inputs;
    struct run r;
    size_t off = 0;

    if (!ready) {
        log_set_level(LOG_LEVEL_ERROR); /* every refusal is a warning */
        build();
        atexit(teardown);
        ready = true;
    } else if (H.requests >= REBUILD_REQUESTS) {
        teardown();
        build();
    }
    memset(&r, 0, sizeof r);
    buf_init(&r.out, 0);
    r.id_base = ++inputs << 24;
    while (size - off >= FR_RECORD_HEADER) {
        unsigned ctl = data[off];
        size_t len = (size_t)data[off + 1] << 8 | data[off + 2];

        off += FR_RECORD_HEADER;
        if (len > size - off)
            len = size - off;
        if (ctl & FR_TICK)
            FZ_CHECK(hall_tick(H.hall) == 0);
        one_request(&r, (int)(ctl & FR_DEV_MASK), data + off, len);
        off += len;
        if (ctl & FR_COMMIT)
            end_turn(&r);
    }
    end_turn(&r);
    forget_seen(&r);
    buf_release(&r.out);
    return 0;
}
