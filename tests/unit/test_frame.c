/*
 * Unit tests of proto/: the frame decoder (split, coalesced, oversize,
 * empty, truncated and random streams) and the Envelope helpers (a round
 * trip of every body type, UTF-8 checks, unknown bodies, pack limits).
 *
 * The round trip is driven by the Envelope descriptor: each member of the
 * oneof must have a case in build_body(), every field of the message it
 * builds must hold a non-default value, and the unpacked copy is compared
 * field by field with a descriptor walk. A message or field added to
 * hall.proto without a test case makes this suite fail.
 */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* ---- Building messages ------------------------------------------------ */

/* Messages under test live in a static arena, reset by each test. */
static alignas(max_align_t) unsigned char arena[64 * 1024];
static size_t arena_used;

static void *take(size_t size)
{
    void *p;

    size = (size + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    ck_assert_uint_le(size, sizeof arena - arena_used);
    p = arena + arena_used;
    arena_used += size;
    memset(p, 0, size);
    return p;
}

/* The generated structs hold `char *`: give them writable copies. */
static char *S(const char *s)
{
    return strcpy(take(strlen(s) + 1), s);
}

static ProtobufCBinaryData B(const char *s, size_t len)
{
    ProtobufCBinaryData b = {len, memcpy(take(len), s, len)};

    return b;
}

#define NEW(var, lower)                                                                            \
    do {                                                                                           \
        (var) = take(sizeof *(var));                                                               \
        hall__##lower##__init(var);                                                                \
    } while (0)

static Hall__Ticket *mk_ticket(uint64_t id, const char *number)
{
    Hall__Ticket *t;

    NEW(t, ticket);
    t->id = id;
    t->number = S(number);
    t->area = S("A");
    t->matter = S("M-017");
    t->state = HALL__TICKET_STATE__TICKET_WAITING;
    t->priority = HALL__PRIORITY__PRIORITY_GREEN;
    t->issued_at_ms = 1709251200123;
    t->people_ahead = 7;
    t->est_wait_s = 420;
    t->window_no = 3;
    t->recalls = 1;
    t->offline = 1;
    t->kiosk_id = S("kiosk-01");
    t->masked_name = S("张*");
    t->business_day = 20240301;
    t->check = S("4821");
    t->matter_name = S("发票领用");
    t->rejoin_until_ms = 1709251800000;
    return t;
}

static Hall__OfflineTicket *mk_offline(uint32_t seq, const char *number)
{
    Hall__OfflineTicket *t;

    NEW(t, offline_ticket);
    t->area = S("B");
    t->number = S(number);
    t->seq = seq;
    t->issued_at_ms = 1709251300456;
    t->priority = HALL__PRIORITY__PRIORITY_APPOINTMENT;
    t->citizen_hash = B("\x01\x00\xff\x7f", 4);
    t->masked_name = S("李*明");
    t->matter = S("M-003");
    t->sealed_id = B("\x01\x5e\xa1\x00\xed", 5);
    return t;
}

static Hall__Call *mk_call(const char *number, uint32_t window_no)
{
    Hall__Call *c;

    NEW(c, call);
    c->number = S(number);
    c->window_no = window_no;
    c->area = S("A");
    c->masked_name = S("王*");
    c->called_at_ms = 1709251400789;
    c->recalls = 2;
    return c;
}

/* A (window, ticket) pair, the shape of most window operations. */
#define WINDOW_OP(var, lower, field)                                                               \
    do {                                                                                           \
        NEW(var, lower);                                                                           \
        (var)->window_no = 4;                                                                      \
        (var)->ticket_id = 9001;                                                                   \
        env->field = (var);                                                                        \
    } while (0)

/* Fill env with a body of the given type, every field non-default.
 * Returns false for a body type that has no case here. */
static bool build_body(Hall__Envelope *env, Hall__Envelope__BodyCase body)
{
    env->request_id = 0x0123456789abcdefu;
    env->on_behalf_of = S("clerk1");
    env->body_case = body;
    switch (body) {
    case HALL__ENVELOPE__BODY_HELLO: {
        Hall__Hello *m;
        NEW(m, hello);
        m->device_id = S("kiosk-01");
        m->type = HALL__DEVICE_TYPE__DEVICE_KIOSK;
        m->firmware_version = S("0.1.0");
        m->protocol_version = PROTO_VERSION;
        m->window_no = 12;
        env->hello = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_HELLO_REPLY: {
        Hall__HelloReply *m;
        NEW(m, hello_reply);
        m->hall_id = S("hall-310104");
        m->hall_name = S("徐汇区行政服务中心");
        m->protocol_version = PROTO_VERSION;
        m->server_time_ms = 1709251200000;
        m->heartbeat_interval_ms = 5000;
        m->idle_timeout_ms = 15000;
        m->time_zone = S("Asia/Shanghai");
        m->session_id = 0xfedcba9876543210u;
        m->rejoin_s = 600;
        m->max_recalls = 2;
        m->citizen_limit = 1;
        env->hello_reply = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_HEARTBEAT: {
        Hall__Heartbeat *m;
        NEW(m, heartbeat);
        m->device_time_ms = 1709251200001;
        env->heartbeat = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_HEARTBEAT_REPLY: {
        Hall__HeartbeatReply *m;
        NEW(m, heartbeat_reply);
        m->device_time_ms = -1; /* a negative varint takes ten bytes */
        m->server_time_ms = INT64_MAX;
        env->heartbeat_reply = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_ERROR: {
        Hall__Error *m;
        NEW(m, error);
        m->code = HALL__ERROR_CODE__ERR_ILLEGAL_STATE;
        m->message = S("ticket A001 is not waiting");
        m->message_zh = S("号码 A001 不在等候中");
        env->error = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_ISSUE: {
        Hall__IssueRequest *m;
        NEW(m, issue_request);
        m->area = S("A");
        m->matter = S("M-017");
        m->priority = HALL__PRIORITY__PRIORITY_APPOINTMENT;
        m->appointment_code = S("APT-88");
        m->citizen_hash = B("\x9f\x00\x86\xd0\x81\x88\x4c\x7d", 8);
        m->masked_name = S("张*");
        m->masked_id = S("3101**********1234");
        m->citizen_id = S("310101199001011234");
        m->unstaffed_ok = true;
        m->check_in = true;
        env->issue = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_ISSUE_REPLY: {
        Hall__IssueReply *m;
        NEW(m, issue_reply);
        m->ticket = mk_ticket(101, "A001");
        m->reserve_expires_ms = 1709251260000;
        env->issue_reply = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_PRINTED: {
        Hall__Printed *m;
        NEW(m, printed);
        m->ticket_id = 101;
        env->printed = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_VOID_TICKET: {
        Hall__VoidTicket *m;
        NEW(m, void_ticket);
        m->ticket_id = 102;
        m->reason = S("paper out");
        env->void_ticket = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_TICKET_REPLY: {
        Hall__TicketReply *m;
        NEW(m, ticket_reply);
        m->ticket = mk_ticket(102, "A002");
        env->ticket_reply = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_CALL_NEXT: {
        Hall__CallNext *m;
        NEW(m, call_next);
        m->window_no = 4;
        env->call_next = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_RECALL: {
        Hall__Recall *m;
        WINDOW_OP(m, recall, recall);
        return true;
    }
    case HALL__ENVELOPE__BODY_NO_SHOW: {
        Hall__NoShow *m;
        WINDOW_OP(m, no_show, no_show);
        return true;
    }
    case HALL__ENVELOPE__BODY_START: {
        Hall__Start *m;
        WINDOW_OP(m, start, start);
        return true;
    }
    case HALL__ENVELOPE__BODY_FINISH: {
        Hall__Finish *m;
        WINDOW_OP(m, finish, finish);
        return true;
    }
    case HALL__ENVELOPE__BODY_TRANSFER: {
        Hall__Transfer *m;
        WINDOW_OP(m, transfer, transfer);
        m->to_area = S("C");
        m->to_window = 8;
        m->note = S("材料已核对");
        return true;
    }
    case HALL__ENVELOPE__BODY_HOLD: {
        Hall__Hold *m;
        WINDOW_OP(m, hold, hold);
        m->release = 1;
        return true;
    }
    case HALL__ENVELOPE__BODY_PAUSE: {
        Hall__PauseWindow *m;
        NEW(m, pause_window);
        m->window_no = 4;
        m->reason = S("lunch");
        env->pause = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_RESUME: {
        Hall__ResumeWindow *m;
        NEW(m, resume_window);
        m->window_no = 4;
        env->resume = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_WINDOW_REPLY: {
        Hall__WindowReply *m;
        NEW(m, window_reply);
        m->window_no = 4;
        m->state = HALL__WINDOW_STATE__WINDOW_OPEN;
        m->ticket = mk_ticket(103, "A003");
        m->pick_reason = S("green channel");
        m->waiting = 17;
        env->window_reply = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_SIGN_IN: {
        Hall__SignIn *m;
        NEW(m, sign_in);
        m->window_no = 4;
        m->clerk_id = S("c007");
        m->pin = S("2468");
        env->sign_in = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_SIGN_OUT: {
        Hall__SignOut *m;
        NEW(m, sign_out);
        m->window_no = 4;
        env->sign_out = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_CANCEL: {
        Hall__CancelTicket *m;
        NEW(m, cancel_ticket);
        m->window_no = 4;
        m->ticket_id = 105;
        m->reason = S("citizen left");
        m->check = S("4821");
        env->cancel = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_REJOIN: {
        Hall__Rejoin *m;
        NEW(m, rejoin);
        m->ticket_id = 106;
        m->number = S("A106");
        env->rejoin = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_TICKET_QUERY: {
        Hall__TicketQuery *m;
        NEW(m, ticket_query);
        m->ticket_id = 107;
        m->number = S("A107");
        m->check = S("1357");
        env->ticket_query = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_SUBSCRIBE: {
        Hall__Subscribe *m;
        NEW(m, subscribe);
        m->last_seq = 77;
        env->subscribe = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_DISPLAY_PUSH: {
        Hall__DisplayPush *m;
        NEW(m, display_push);
        m->seq = 78;
        m->snapshot = 1;
        m->n_calls = 2;
        m->calls = take(2 * sizeof *m->calls);
        m->calls[0] = mk_call("A003", 4);
        m->calls[1] = mk_call("B007", 5);
        m->n_windows = 2;
        m->windows = take(2 * sizeof *m->windows);
        for (size_t i = 0; i < 2; i++) {
            NEW(m->windows[i], window_status);
            m->windows[i]->window_no = 4 + (uint32_t)i;
            m->windows[i]->state = HALL__WINDOW_STATE__WINDOW_PAUSED;
            m->windows[i]->current_number = S(i ? "B007" : "A003");
            m->windows[i]->waiting = 9;
            m->windows[i]->current_priority = HALL__PRIORITY__PRIORITY_GREEN;
            m->windows[i]->current_transferred = true;
            m->windows[i]->clerk_id = S("c007");
            m->windows[i]->current_state = HALL__TICKET_STATE__TICKET_CALLED;
        }
        m->n_areas = 1;
        m->areas = take(sizeof *m->areas);
        NEW(m->areas[0], area_status);
        m->areas[0]->area = S("A");
        m->areas[0]->name = S("社保");
        m->areas[0]->waiting = 12;
        m->areas[0]->est_wait_s = 900;
        m->areas[0]->retired = true;
        m->areas[0]->prefix = S("S");
        m->areas[0]->name_en = S("Social Security");
        m->areas[0]->closed = true;
        m->areas[0]->opens_zh = S("今天 14:00 开始取号");
        m->areas[0]->opens_en = S("Numbers from 14:00 today");
        m->areas[0]->windows_open = 2;
        m->areas[0]->issue_unstaffed = true;
        m->areas[0]->unstaffed_rule = true;
        m->areas[0]->n_window_nos = 2;
        m->areas[0]->window_nos = take(2 * sizeof *m->areas[0]->window_nos);
        m->areas[0]->window_nos[0] = 4;
        m->areas[0]->window_nos[1] = 5;
        m->areas[0]->n_matters = 1;
        m->areas[0]->matters = take(sizeof *m->areas[0]->matters);
        NEW(m->areas[0]->matters[0], matter_info);
        m->areas[0]->matters[0]->code = S("S-SBK");
        m->areas[0]->matters[0]->name = S("社会保障卡申领");
        m->areas[0]->matters[0]->name_en = S("Social security card");
        m->areas[0]->matters[0]->n_materials = 2;
        m->areas[0]->matters[0]->materials = take(2 * sizeof(char *));
        m->areas[0]->matters[0]->materials[0] = S("身份证");
        m->areas[0]->matters[0]->materials[1] = S("照片");
        m->areas[0]->matters_sent = true;
        m->notice = S("请保管好您的号票");
        m->n_devices = 1;
        m->devices = take(sizeof *m->devices);
        NEW(m->devices[0], device_health);
        m->devices[0]->device_id = S("kiosk-01");
        m->devices[0]->can_issue = 1;
        m->devices[0]->since_ms = 1772000000000;
        m->devices[0]->n_components = 1;
        m->devices[0]->components = take(sizeof *m->devices[0]->components);
        NEW(m->devices[0]->components[0], component_status);
        m->devices[0]->components[0]->name = S("printer");
        m->devices[0]->components[0]->state = S("paper_out");
        m->devices[0]->components[0]->detail = S("打印纸用完");
        m->alerts_seq = 17;
        env->display_push = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_RATING: {
        Hall__Rating *m;
        NEW(m, rating);
        m->ticket_id = 103;
        m->level = 5;
        m->window_no = 4;
        m->comment = S("很好 👍");
        m->rated_at_ms = 1709251500000;
        env->rating = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_RATING_REPLY: {
        Hall__RatingReply *m;
        NEW(m, rating_reply);
        m->ticket_id = 103;
        env->rating_reply = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_LEASE_REQUEST: {
        Hall__LeaseRequest *m;
        NEW(m, lease_request);
        m->area = S("A");
        m->wanted = 50;
        env->lease_request = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_LEASE_GRANT: {
        Hall__LeaseGrant *m;
        NEW(m, lease_grant);
        m->area = S("A");
        m->prefix = S("K1A");
        m->first = 900;
        m->count = 50;
        m->business_day = 20240301;
        m->expires_ms = 1709294400000;
        env->lease_grant = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_OFFLINE_UPLOAD: {
        Hall__OfflineUpload *m;
        NEW(m, offline_upload);
        m->n_tickets = 2;
        m->tickets = take(2 * sizeof *m->tickets);
        m->tickets[0] = mk_offline(1, "K1A900");
        m->tickets[1] = mk_offline(2, "K1A901");
        env->offline_upload = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY: {
        Hall__OfflineUploadReply *m;
        NEW(m, offline_upload_reply);
        m->n_tickets = 2;
        m->tickets = take(2 * sizeof *m->tickets);
        m->tickets[0] = mk_ticket(104, "K1A900");
        m->tickets[1] = mk_ticket(105, "K1A901");
        /* Every field set in each: a refusal names the ticket the number
         * had joined as, when it had (a number another kiosk uploaded). */
        m->n_results = 2;
        m->results = take(2 * sizeof *m->results);
        for (size_t i = 0; i < 2; i++) {
            NEW(m->results[i], offline_result);
            m->results[i]->number = S(i ? "K1A901" : "K1A900");
            m->results[i]->ticket_id = 104 + i;
            m->results[i]->code = HALL__ERROR_CODE__ERR_FORBIDDEN;
            m->results[i]->message = S("uploaded by kiosk K2");
        }
        env->offline_upload_reply = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_DEVICE_STATUS: {
        Hall__DeviceStatus *m;
        NEW(m, device_status);
        m->can_issue = 1;
        m->n_components = 2;
        m->components = take(2 * sizeof *m->components);
        for (size_t i = 0; i < 2; i++) {
            NEW(m->components[i], component_status);
            m->components[i]->name = S(i ? "reader" : "printer");
            m->components[i]->state = S(i ? "offline" : "near_end");
            m->components[i]->detail = S(i ? "读卡器无应答" : "纸将用完");
        }
        env->device_status = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_DEVICE_STATUS_REPLY: {
        Hall__DeviceStatusReply *m;
        NEW(m, device_status_reply);
        env->device_status_reply = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_WEB_EVENT: {
        Hall__WebEvent *m;
        NEW(m, web_event);
        m->user = S("clerk1");
        m->what = S("signed in as clerk");
        m->address = S("192.0.2.7");
        env->web_event = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_WEB_EVENT_REPLY: {
        Hall__WebEventReply *m;
        NEW(m, web_event_reply);
        env->web_event_reply = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_ALERT_ACTION: {
        Hall__AlertAction *m;
        NEW(m, alert_action);
        m->alert_id = S("demo-7");
        m->action = HALL__ALERT_ACTION__ACTION__RESOLVE;
        m->note = S("已回访群众");
        env->alert_action = m;
        return true;
    }
    case HALL__ENVELOPE__BODY_ALERT_REPLY: {
        Hall__AlertReply *m;
        NEW(m, alert_reply);
        m->alert_id = S("demo-7");
        m->state = S("resolved");
        m->level = S("critical");
        env->alert_reply = m;
        return true;
    }
    default:
        return false;
    }
}

/* ---- Walking messages by descriptor ----------------------------------- */

static size_t value_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default: /* the 32-bit integers, enums and float */
        return 4;
    }
}

static const char *str_of(const void *v)
{
    const char *s = *(char *const *)v;

    return s != NULL ? s : "";
}

static const ProtobufCMessage *msg_of(const void *v)
{
    return *(ProtobufCMessage *const *)v;
}

static bool all_set(const ProtobufCMessage *m, char *why, size_t why_len);

/* Is the value at v (of field f) something other than its default? */
static bool value_set(const ProtobufCFieldDescriptor *f, const void *v, char *why, size_t why_len)
{
    static const unsigned char zero[8];

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return str_of(v)[0] != '\0';
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)v)->len > 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return msg_of(v) != NULL && all_set(msg_of(v), why, why_len);
    default:
        return memcmp(v, zero, value_size(f->type)) != 0;
    }
}

static size_t count_of(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return *(const size_t *)((const char *)m + f->quantifier_offset);
}

static uint32_t case_of(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return *(const uint32_t *)((const char *)m + f->quantifier_offset);
}

/* Every field of m (and of its sub-messages) holds a non-default value;
 * repeated fields hold at least one element; of a oneof, the chosen member
 * counts. On failure why names the first field found unset. */
static bool all_set(const ProtobufCMessage *m, char *why, size_t why_len)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *v = (const char *)m + f->offset;
        bool ok = true;

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            const char *array = *(char *const *)v;
            size_t n = count_of(m, f), size = value_size(f->type);

            ok = n > 0;
            for (size_t k = 0; ok && k < n; k++)
                ok = value_set(f, array + k * size, why, why_len);
        } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            ok = case_of(m, f) != f->id || value_set(f, v, why, why_len);
        } else {
            ok = value_set(f, v, why, why_len);
        }
        if (!ok) {
            if (why[0] == '\0')
                snprintf(why, why_len, "%s.%s", d->name, f->name);
            return false;
        }
    }
    return true;
}

static bool same_message(const ProtobufCMessage *a, const ProtobufCMessage *b, char *why,
                         size_t why_len);

static bool same_value(const ProtobufCFieldDescriptor *f, const void *a, const void *b, char *why,
                       size_t why_len)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return strcmp(str_of(a), str_of(b)) == 0;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *x = a, *y = b;
        return x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        if (msg_of(a) == NULL || msg_of(b) == NULL)
            return msg_of(a) == msg_of(b);
        return same_message(msg_of(a), msg_of(b), why, why_len);
    default:
        return memcmp(a, b, value_size(f->type)) == 0;
    }
}

/* a and b hold equal values in every field, at any depth. On failure why
 * names the first field that differs. */
static bool same_message(const ProtobufCMessage *a, const ProtobufCMessage *b, char *why,
                         size_t why_len)
{
    const ProtobufCMessageDescriptor *d = a->descriptor;

    if (b->descriptor != d) {
        snprintf(why, why_len, "%s vs %s", d->name, b->descriptor->name);
        return false;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *va = (const char *)a + f->offset, *vb = (const char *)b + f->offset;
        bool ok;

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            const char *xa = *(char *const *)va, *xb = *(char *const *)vb;
            size_t n = count_of(a, f), size = value_size(f->type);

            ok = n == count_of(b, f);
            for (size_t k = 0; ok && k < n; k++)
                ok = same_value(f, xa + k * size, xb + k * size, why, why_len);
        } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            ok = case_of(a, f) == case_of(b, f) &&
                 (case_of(a, f) != f->id || same_value(f, va, vb, why, why_len));
        } else {
            ok = same_value(f, va, vb, why, why_len);
        }
        if (!ok) {
            if (why[0] == '\0')
                snprintf(why, why_len, "%s.%s", d->name, f->name);
            return false;
        }
    }
    return true;
}

/* ---- Helpers ------------------------------------------------------------ */

/* Pack env into a malloc'ed frame; the test fails if packing does. */
static uint8_t *pack(const Hall__Envelope *env, size_t *len)
{
    size_t cap = proto_frame_size(env);
    uint8_t *out = malloc(cap);
    long n;

    ck_assert_ptr_nonnull(out);
    n = proto_pack_frame(env, FRAME_DEFAULT, out, cap);
    ck_assert_msg(n == (long)cap, "pack %s: %ld of %zu (%s)", proto_body_name(env->body_case), n,
                  cap, n < 0 ? proto_strerror(errno) : "");
    *len = cap;
    return out;
}

/* Unpack a payload that must be refused with the given errno. */
static void expect_refused(const uint8_t *p, size_t n, int err)
{
    Hall__Envelope *env;

    errno = 0;
    env = proto_unpack(p, n);
    ck_assert_msg(env == NULL, "accepted a payload that should fail with %s", proto_strerror(err));
    ck_assert_msg(errno == err, "errno %d (%s), want %s", errno, proto_strerror(errno),
                  proto_strerror(err));
}

/* The fate of any payload: refused with a proto error, or accepted with a
 * known body that packs and unpacks again to an equal message. Returns
 * whether it was accepted. */
static bool check_any_payload(const uint8_t *p, size_t n)
{
    Hall__Envelope *env, *again;
    uint8_t *frame;
    size_t len;
    char why[128] = "";

    errno = 0;
    env = proto_unpack(p, n);
    if (env == NULL) {
        ck_assert_msg(errno == PROTO_EMALFORMED || errno == PROTO_ENOBODY, "errno %d", errno);
        return false;
    }
    ck_assert_str_ne(proto_body_name(env->body_case), "UNKNOWN");
    frame = pack(env, &len);
    again = proto_unpack(frame + FRAME_HEADER, len - FRAME_HEADER);
    ck_assert_msg(again != NULL, "re-packed %s refused: %s", proto_body_name(env->body_case),
                  proto_strerror(errno));
    ck_assert_msg(same_message(&env->base, &again->base, why, sizeof why), "differs in %s", why);
    proto_free(again);
    proto_free(env);
    free(frame);
    return true;
}

static uint64_t rng_state;

/* xorshift64: a fixed seed makes every run the same run. */
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The body cases of the oneof, from the descriptor. */
static size_t body_cases(Hall__Envelope__BodyCase out[], size_t cap)
{
    size_t n = 0;

    for (unsigned i = 0; i < hall__envelope__descriptor.n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &hall__envelope__descriptor.fields[i];

        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            ck_assert_uint_lt(n, cap);
            out[n++] = (Hall__Envelope__BodyCase)f->id;
        }
    }
    return n;
}

/* A stream of one frame of every body type, back to back. */
static uint8_t *every_body_stream(size_t *len, size_t ends[], size_t *nframes)
{
    Hall__Envelope__BodyCase cases[64];
    size_t n = body_cases(cases, 64), total = 0;
    uint8_t *stream = NULL;

    for (size_t i = 0; i < n; i++) {
        Hall__Envelope env = HALL__ENVELOPE__INIT;
        uint8_t *frame, *grown;
        size_t flen;

        ck_assert(build_body(&env, cases[i]));
        frame = pack(&env, &flen);
        grown = realloc(stream, total + flen);
        ck_assert_ptr_nonnull(grown);
        stream = grown;
        memcpy(stream + total, frame, flen);
        total += flen;
        ends[i] = total;
        free(frame);
    }
    *len = total;
    *nframes = n;
    return stream;
}

/* ---- Frames --------------------------------------------------------- */

START_TEST(test_header_big_endian)
{
    uint8_t h[FRAME_HEADER];
    const uint8_t *p;
    size_t plen, used;
    static const uint8_t two[] = {0, 0, 0, 2, 0xaa, 0xbb};

    frame_put_header(h, 0x01020304u);
    ck_assert_mem_eq(h, "\x01\x02\x03\x04", 4);
    ck_assert_int_eq(frame_next(two, sizeof two, FRAME_DEFAULT, &p, &plen, &used), 1);
    ck_assert_ptr_eq(p, two + 4);
    ck_assert_uint_eq(plen, 2);
    ck_assert_uint_eq(used, 6);
}
END_TEST

START_TEST(test_need_more)
{
    static const uint8_t partial[] = {0, 0, 0, 5, 1, 2, 3, 4};
    const uint8_t *p = partial;
    size_t plen = 99, used = 99;

    ck_assert_int_eq(frame_next(NULL, 0, FRAME_DEFAULT, &p, &plen, &used), 0);
    ck_assert_uint_eq(used, 0);
    for (size_t n = 0; n <= sizeof partial; n++) {
        ck_assert_int_eq(frame_next(partial, n, FRAME_DEFAULT, &p, &plen, &used), 0);
        ck_assert_uint_eq(used, 0);
    }
}
END_TEST

/* Deliver the stream one byte at a time to a receive buffer, as the
 * slowest link would, and take frames out of it as they complete. */
START_TEST(test_split_byte_by_byte)
{
    size_t len, ends[64], nframes, have = 0, got = 0, start = 0;
    uint8_t *stream = every_body_stream(&len, ends, &nframes);
    uint8_t *buf = malloc(len);

    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < len; i++) {
        const uint8_t *p;
        size_t plen, used;
        int rc;

        buf[have++] = stream[i];
        while ((rc = frame_next(buf, have, FRAME_DEFAULT, &p, &plen, &used)) == 1) {
            ck_assert_uint_lt(got, nframes);
            ck_assert_uint_eq(start + used, ends[got]);
            ck_assert_uint_eq(i + 1, ends[got]); /* complete on its last byte, not later */
            ck_assert_mem_eq(p, stream + start + FRAME_HEADER, plen);
            ck_assert(check_any_payload(p, plen));
            memmove(buf, buf + used, have - used);
            have -= used;
            start += used;
            got++;
        }
        ck_assert_int_eq(rc, 0);
    }
    ck_assert_uint_eq(got, nframes);
    ck_assert_uint_eq(have, 0);
    ck_assert_int_eq(frame_at_eof(have), 0);
    free(buf);
    free(stream);
}
END_TEST

START_TEST(test_coalesced)
{
    size_t len, ends[64], nframes, off = 0, got = 0;
    uint8_t *stream = every_body_stream(&len, ends, &nframes);
    Hall__Envelope__BodyCase cases[64];
    const uint8_t *p;
    size_t plen, used;

    body_cases(cases, 64);
    while (frame_next(stream + off, len - off, FRAME_DEFAULT, &p, &plen, &used) == 1) {
        Hall__Envelope *env = proto_unpack(p, plen);

        ck_assert_ptr_nonnull(env);
        ck_assert_int_eq(env->body_case, cases[got]);
        proto_free(env);
        off += used;
        ck_assert_uint_eq(off, ends[got]);
        got++;
    }
    ck_assert_uint_eq(got, nframes);
    ck_assert_uint_eq(off, len);
    free(stream);
}
END_TEST

/* The length is judged from the header alone: no need to wait for (or
 * buffer) the payload of a frame that will be refused anyway. */
START_TEST(test_oversize)
{
    uint8_t h[FRAME_HEADER];
    const uint8_t *p;
    size_t plen, used;

    frame_put_header(h, 101);
    errno = 0;
    ck_assert_int_eq(frame_next(h, sizeof h, 100, &p, &plen, &used), -1);
    ck_assert_int_eq(errno, FRAME_ETOOBIG);
    ck_assert_uint_eq(used, 0);
    frame_put_header(h, 100);
    ck_assert_int_eq(frame_next(h, sizeof h, 100, &p, &plen, &used), 0);

    /* A link limit above FRAME_MAX is clamped to it. */
    frame_put_header(h, FRAME_MAX + 1);
    errno = 0;
    ck_assert_int_eq(frame_next(h, sizeof h, SIZE_MAX, &p, &plen, &used), -1);
    ck_assert_int_eq(errno, FRAME_ETOOBIG);
    frame_put_header(h, UINT32_MAX);
    errno = 0;
    ck_assert_int_eq(frame_next(h, sizeof h, SIZE_MAX, &p, &plen, &used), -1);
    ck_assert_int_eq(errno, FRAME_ETOOBIG);
    frame_put_header(h, FRAME_MAX);
    ck_assert_int_eq(frame_next(h, sizeof h, SIZE_MAX, &p, &plen, &used), 0);
    ck_assert_int_eq(frame_next(h, sizeof h, FRAME_DEFAULT, &p, &plen, &used), -1);
}
END_TEST

START_TEST(test_exact_limit)
{
    size_t n = FRAME_HEADER + 100;
    uint8_t *buf = calloc(1, n);
    const uint8_t *p;
    size_t plen, used;

    ck_assert_ptr_nonnull(buf);
    frame_put_header(buf, 100);
    ck_assert_int_eq(frame_next(buf, n, 100, &p, &plen, &used), 1);
    ck_assert_uint_eq(plen, 100);
    ck_assert_int_eq(frame_next(buf, n, 99, &p, &plen, &used), -1);
    free(buf);
}
END_TEST

START_TEST(test_zero_length)
{
    static const uint8_t empty[] = {0, 0, 0, 0, 0x08, 0x01};
    const uint8_t *p;
    size_t plen, used;

    for (size_t n = FRAME_HEADER; n <= sizeof empty; n++) {
        errno = 0;
        ck_assert_int_eq(frame_next(empty, n, FRAME_DEFAULT, &p, &plen, &used), -1);
        ck_assert_int_eq(errno, FRAME_EEMPTY);
        ck_assert_uint_eq(used, 0);
    }
}
END_TEST

START_TEST(test_truncated)
{
    size_t len, ends[64], nframes, off = 0;
    uint8_t *stream = every_body_stream(&len, ends, &nframes);
    const uint8_t *p;
    size_t plen, used;

    ck_assert_int_eq(frame_at_eof(0), 0);
    /* The stream ends inside the header, then inside the payload, of the
     * second frame: the first frame comes out, then the rest is refused. */
    for (size_t cut = ends[0] + 1; cut < ends[1]; cut += ends[1] - ends[0] - 2) {
        off = 0;
        ck_assert_int_eq(frame_next(stream, cut, FRAME_DEFAULT, &p, &plen, &used), 1);
        off += used;
        ck_assert_int_eq(frame_next(stream + off, cut - off, FRAME_DEFAULT, &p, &plen, &used), 0);
        errno = 0;
        ck_assert_int_eq(frame_at_eof(cut - off), -1);
        ck_assert_int_eq(errno, FRAME_ETRUNC);
    }
    free(stream);
}
END_TEST

START_TEST(test_strerror)
{
    ck_assert_str_eq(frame_strerror(FRAME_ETOOBIG), "frame length exceeds the limit");
    ck_assert_str_eq(frame_strerror(FRAME_EEMPTY), "frame of zero length");
    ck_assert_str_eq(frame_strerror(FRAME_ETRUNC), "stream ended inside a frame");
    ck_assert_str_eq(frame_strerror(ENOSPC), strerror(ENOSPC));
    ck_assert_str_eq(proto_strerror(PROTO_EMALFORMED), "payload is not a valid message");
    ck_assert_str_eq(proto_strerror(PROTO_ENOBODY),
                     "message has no body or a type this release does not know");
    ck_assert_str_eq(proto_strerror(PROTO_ETOOBIG), "message is larger than the frame limit");
    ck_assert_str_eq(proto_strerror(FRAME_ETRUNC), frame_strerror(FRAME_ETRUNC));
    ck_assert_str_eq(proto_strerror(EINVAL), strerror(EINVAL));
}
END_TEST

/* Random bytes as a stream, under the default and a small limit: frames
 * or clean errors, never a crash (the sanitizer build checks the reads). */
START_TEST(test_garbage_stream)
{
    static const size_t limits[] = {FRAME_DEFAULT, 16};
    uint8_t buf[512];
    size_t frames = 0, bad = 0;

    rng_state = 0x9e3779b97f4a7c15u;
    for (int round = 0; round < 3000; round++) {
        size_t len = rng() % sizeof buf, off = 0;

        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rng();
        /* Most random headers are oversize; make half of them plausible. */
        if (round % 2 && len >= FRAME_HEADER)
            frame_put_header(buf, (uint32_t)(rng() % (len - FRAME_HEADER + 1)));
        for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
            const uint8_t *p;
            size_t plen, used;
            int rc;

            off = 0;
            while ((rc = frame_next(buf + off, len - off, limits[l], &p, &plen, &used)) == 1) {
                ck_assert(p == buf + off + FRAME_HEADER && used == FRAME_HEADER + plen);
                ck_assert_uint_le(plen, limits[l]);
                check_any_payload(p, plen);
                off += used;
                frames++;
            }
            ck_assert_uint_le(off, len);
            if (rc < 0) {
                ck_assert(errno == FRAME_ETOOBIG || errno == FRAME_EEMPTY);
                bad++;
            } else {
                ck_assert_int_eq(frame_at_eof(len - off), off == len ? 0 : -1);
            }
        }
    }
    /* Both outcomes must occur, or the stream reached nothing. */
    ck_assert_uint_gt(frames, 1000);
    ck_assert_uint_gt(bad, 1000);
}
END_TEST

/* Valid frames of every type with one to four random bytes changed:
 * this reaches deep into the unpacker, where random bytes do not. */
START_TEST(test_garbage_mutations)
{
    size_t len, ends[64], nframes, accepted = 0, refused = 0;
    uint8_t *stream = every_body_stream(&len, ends, &nframes);

    rng_state = 0x2545f4914f6cdd1du;
    for (size_t f = 0; f < nframes; f++) {
        size_t start = f ? ends[f - 1] : 0, plen = ends[f] - start - FRAME_HEADER;
        uint8_t *payload = malloc(plen);

        ck_assert_ptr_nonnull(payload);
        for (int round = 0; round < 300; round++) {
            memcpy(payload, stream + start + FRAME_HEADER, plen);
            for (uint64_t k = rng() % 4 + 1; k > 0; k--)
                payload[rng() % plen] = (uint8_t)rng();
            if (check_any_payload(payload, plen))
                accepted++;
            else
                refused++;
        }
        free(payload);
    }
    /* Both outcomes must occur, or the mutation reached nothing. */
    ck_assert_uint_gt(accepted, 0);
    ck_assert_uint_gt(refused, 0);
    free(stream);
}
END_TEST

/* ---- Envelopes -------------------------------------------------------- */

/* One case per member of the oneof, found through the descriptor, so a new
 * member without a case in build_body() fails here. */
START_TEST(test_round_trip)
{
    const ProtobufCFieldDescriptor *f = &hall__envelope__descriptor.fields[_i];
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Envelope *got;
    const uint8_t *p;
    size_t len, plen, used;
    uint8_t *frame;
    char why[128] = "", want[64];

    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return;
    arena_used = 0;
    ck_assert_msg(build_body(&env, (Hall__Envelope__BodyCase)f->id),
                  "no round-trip case in build_body() for body '%s' (%u)", f->name, f->id);
    ck_assert_msg(all_set(&env.base, why, sizeof why), "%s: %s is not set by build_body()", f->name,
                  why);

    frame = pack(&env, &len);
    ck_assert_int_eq(frame_next(frame, len, FRAME_DEFAULT, &p, &plen, &used), 1);
    ck_assert_uint_eq(used, len);
    got = proto_unpack(p, plen);
    ck_assert_msg(got != NULL, "%s: %s", f->name, proto_strerror(errno));
    ck_assert_uint_eq(got->body_case, f->id);
    ck_assert_msg(same_message(&env.base, &got->base, why, sizeof why), "%s: %s differs", f->name,
                  why);

    /* Names are the field names in capitals; void_ticket is "VOID". */
    for (size_t i = 0; i < sizeof want; i++)
        if ((want[i] = (char)toupper((unsigned char)f->name[i])) == '\0')
            break;
    if (f->id == HALL__ENVELOPE__BODY_VOID_TICKET)
        strcpy(want, "VOID");
    ck_assert_str_eq(proto_body_name(got->body_case), want);

    proto_free(got);
    free(frame);
}
END_TEST

/* The comparison and the all-set check can tell a difference, so a
 * passing round trip means something. */
START_TEST(test_compare_detects_changes)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Envelope *got;
    uint8_t *frame;
    size_t len;
    char why[128] = "";

    arena_used = 0;
    ck_assert(build_body(&env, HALL__ENVELOPE__BODY_DISPLAY_PUSH));
    frame = pack(&env, &len);
    got = proto_unpack(frame + FRAME_HEADER, len - FRAME_HEADER);
    ck_assert_ptr_nonnull(got);
    ck_assert(same_message(&env.base, &got->base, why, sizeof why));

    got->display_push->calls[1]->area[0] = 'Z';
    ck_assert(!same_message(&env.base, &got->base, why, sizeof why));
    ck_assert_str_eq(why, "hall.Call.area");
    got->display_push->calls[1]->area[0] = 'A';
    got->display_push->n_areas = 0;
    why[0] = '\0';
    ck_assert(!same_message(&env.base, &got->base, why, sizeof why));
    ck_assert_str_eq(why, "hall.DisplayPush.areas");
    why[0] = '\0';
    ck_assert(!all_set(&got->base, why, sizeof why));
    ck_assert_str_eq(why, "hall.DisplayPush.areas");
    got->display_push->n_areas = 1;
    got->request_id++;
    why[0] = '\0';
    ck_assert(!same_message(&env.base, &got->base, why, sizeof why));
    ck_assert_str_eq(why, "hall.Envelope.request_id");

    env.display_push->windows[1]->state = HALL__WINDOW_STATE__WINDOW_UNKNOWN;
    why[0] = '\0';
    ck_assert(!all_set(&env.base, why, sizeof why));
    ck_assert_str_eq(why, "hall.WindowStatus.state");
    proto_free(got);
    free(frame);
}
END_TEST

START_TEST(test_body_names)
{
    ck_assert_str_eq(proto_body_name(HALL__ENVELOPE__BODY__NOT_SET), "UNKNOWN");
    ck_assert_str_eq(proto_body_name((Hall__Envelope__BodyCase)999), "UNKNOWN");
    ck_assert_str_eq(proto_body_name((Hall__Envelope__BodyCase)-1), "UNKNOWN");
    ck_assert_str_eq(proto_body_name((Hall__Envelope__BodyCase)15), "UNKNOWN");
    ck_assert_str_eq(proto_body_name(HALL__ENVELOPE__BODY_ISSUE), "ISSUE");
    ck_assert_str_eq(proto_body_name(HALL__ENVELOPE__BODY_PAUSE), "PAUSE");
    ck_assert_str_eq(proto_body_name(HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY),
                     "OFFLINE_UPLOAD_REPLY");
}
END_TEST

START_TEST(test_pack_limits)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    size_t size;
    uint8_t *buf;
    char *notice;

    arena_used = 0;
    ck_assert(build_body(&env, HALL__ENVELOPE__BODY_HELLO));
    size = proto_frame_size(&env);
    buf = malloc(size);
    ck_assert_ptr_nonnull(buf);

    errno = 0;
    ck_assert_int_eq(proto_pack_frame(&env, FRAME_DEFAULT, buf, size - 1), -1);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_int_eq(proto_pack_frame(&env, FRAME_DEFAULT, buf, 2), -1);
    ck_assert_int_eq(errno, ENOSPC);
    errno = 0;
    ck_assert_int_eq(proto_pack_frame(&env, size - FRAME_HEADER - 1, buf, size), -1);
    ck_assert_int_eq(errno, PROTO_ETOOBIG);
    ck_assert_int_eq(proto_pack_frame(&env, size - FRAME_HEADER, buf, size), (long)size);

    /* No body, or one this build does not know: refused, not sent. */
    env.body_case = HALL__ENVELOPE__BODY__NOT_SET;
    errno = 0;
    ck_assert_int_eq(proto_pack_frame(&env, FRAME_DEFAULT, buf, size), -1);
    ck_assert_int_eq(errno, PROTO_ENOBODY);
    env.body_case = (Hall__Envelope__BodyCase)999;
    errno = 0;
    ck_assert_int_eq(proto_pack_frame(&env, FRAME_DEFAULT, buf, size), -1);
    ck_assert_int_eq(errno, PROTO_ENOBODY);
    free(buf);

    /* A payload over FRAME_MAX is refused even when the link allows more. */
    ck_assert(build_body(&env, HALL__ENVELOPE__BODY_DISPLAY_PUSH));
    notice = malloc(FRAME_MAX + 1);
    ck_assert_ptr_nonnull(notice);
    memset(notice, 'x', FRAME_MAX);
    notice[FRAME_MAX] = '\0';
    env.display_push->notice = notice;
    size = proto_frame_size(&env);
    buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    errno = 0;
    ck_assert_int_eq(proto_pack_frame(&env, SIZE_MAX, buf, size), -1);
    ck_assert_int_eq(errno, PROTO_ETOOBIG);
    free(buf);
    free(notice);
}
END_TEST

/* Hand-encode Envelope{hello: Hello{device_id: s[0..n)}} into out, which
 * holds n + 4 bytes; returns the payload size. Encoded by hand because
 * the packer cannot put a NUL into a string. */
static size_t hello_with_id(uint8_t *out, const char *s, size_t n)
{
    ck_assert_uint_lt(n, 100);
    out[0] = 10 << 3 | 2; /* field 10 (hello), length-delimited */
    out[1] = (uint8_t)(n + 2);
    out[2] = 1 << 3 | 2; /* field 1 (device_id), length-delimited */
    out[3] = (uint8_t)n;
    memcpy(out + 4, s, n);
    return n + 4;
}

START_TEST(test_utf8)
{
    static const struct {
        const char *s;
        size_t n;
        bool ok;
    } cases[] = {
        {"kiosk-01", 8, true},
        {"张*", 4, true},
        {"\xf0\x9f\x91\x8d", 4, true}, /* U+1F44D */
        {"\xf4\x8f\xbf\xbf", 4, true}, /* U+10FFFF, the last code point */
        {"\xed\x9f\xbf", 3, true},     /* U+D7FF, just below the surrogates */
        {"", 0, true},
        {"a\0b", 3, false},             /* NUL inside */
        {"\0", 1, false},               /* NUL alone */
        {"\xc0\x80", 2, false},         /* overlong NUL */
        {"\xc1\xbf", 2, false},         /* overlong */
        {"\xe0\x9f\xbf", 3, false},     /* overlong three-byte */
        {"\xf0\x8f\xbf\xbf", 4, false}, /* overlong four-byte */
        {"\xed\xa0\x80", 3, false},     /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, false}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 4, false},
        {"\xff", 1, false},
        {"\x80", 1, false},     /* lone continuation */
        {"\xe5\xbc", 2, false}, /* cut short */
        {"ab\xe5", 3, false},   /* cut short at the end */
        {"\xc3\x28", 2, false}, /* lead without continuation */
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t payload[128];
        size_t n = hello_with_id(payload, cases[i].s, cases[i].n);
        Hall__Envelope *env;

        errno = 0;
        env = proto_unpack(payload, n);
        ck_assert_msg((env != NULL) == cases[i].ok, "case %zu: %s", i,
                      env ? "accepted" : proto_strerror(errno));
        if (env == NULL)
            ck_assert_int_eq(errno, PROTO_EMALFORMED);
        proto_free(env);
    }
}
END_TEST

/* A bad string deep inside repeated sub-messages is found too; a `bytes`
 * field may hold anything. */
START_TEST(test_utf8_nested)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Envelope *got;
    uint8_t *frame;
    size_t len;

    arena_used = 0;
    ck_assert(build_body(&env, HALL__ENVELOPE__BODY_DISPLAY_PUSH));
    env.display_push->calls[1]->masked_name = S("\xe7\x8e");
    frame = pack(&env, &len);
    expect_refused(frame + FRAME_HEADER, len - FRAME_HEADER, PROTO_EMALFORMED);
    free(frame);

    ck_assert(build_body(&env, HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY));
    env.offline_upload_reply->tickets[1]->kiosk_id = S("kiosk\xff");
    frame = pack(&env, &len);
    expect_refused(frame + FRAME_HEADER, len - FRAME_HEADER, PROTO_EMALFORMED);
    free(frame);

    ck_assert(build_body(&env, HALL__ENVELOPE__BODY_ISSUE));
    env.issue->citizen_hash = B("\xc0\x80\x00\xff", 4);
    frame = pack(&env, &len);
    got = proto_unpack(frame + FRAME_HEADER, len - FRAME_HEADER);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->issue->citizen_hash.len, 4);
    ck_assert_mem_eq(got->issue->citizen_hash.data, "\xc0\x80\x00\xff", 4);
    proto_free(got);
    free(frame);
}
END_TEST

START_TEST(test_unknown_body)
{
    /* request_id 5, then field 999 as a varint: a body from a newer release. */
    static const uint8_t newer[] = {0x08, 0x05, 0xb8, 0x3e, 0x01};
    /* request_id 5 and nothing else. */
    static const uint8_t bodiless[] = {0x08, 0x05};
    /* A known body carrying an unknown field: old readers skip it. */
    static const uint8_t extra[] = {0x52, 0x05, 0x10, 0x01, 0xb8, 0x3e, 0x07};
    Hall__Envelope *env;

    expect_refused(newer, sizeof newer, PROTO_ENOBODY);
    expect_refused(bodiless, sizeof bodiless, PROTO_ENOBODY);
    expect_refused(NULL, 0, PROTO_ENOBODY);
    env = proto_unpack(extra, sizeof extra);
    ck_assert_ptr_nonnull(env);
    ck_assert_int_eq(env->body_case, HALL__ENVELOPE__BODY_HELLO);
    ck_assert_int_eq(env->hello->type, HALL__DEVICE_TYPE__DEVICE_KIOSK);
    proto_free(env);
    proto_free(NULL);

    /* The request id of what cannot be unpacked, so its refusal names it:
     * after a body of a newer release, before it, the last one wins. */
    static const uint8_t after[] = {0xba, 0x3e, 0x02, 0x01, 0x02, 0x08, 0x2a};
    static const uint8_t twice[] = {0x08, 0x01, 0x0d, 1, 2, 3, 4, 0x08, 0x07};
    static const uint8_t cut[] = {0x08, 0x05, 0xba, 0x3e, 0x09, 0x01};
    static const uint8_t group[] = {0x0b, 0x08, 0x05};
    ck_assert_uint_eq(proto_request_id(newer, sizeof newer), 5);
    ck_assert_uint_eq(proto_request_id(bodiless, sizeof bodiless), 5);
    ck_assert_uint_eq(proto_request_id(after, sizeof after), 42);
    ck_assert_uint_eq(proto_request_id(twice, sizeof twice), 7);
    ck_assert_uint_eq(proto_request_id(cut, sizeof cut), 0); /* a field runs past the end */
    ck_assert_uint_eq(proto_request_id(group, sizeof group), 0);
    ck_assert_uint_eq(proto_request_id(NULL, 0), 0);
}
END_TEST

START_TEST(test_malformed)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t n;
    } cases[] = {
        {"varint cut short", "\x08\xff", 2},
        {"varint of eleven bytes", "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12},
        {"length past the end", "\x52\x05\x0a", 3},
        {"sub-message length past its parent", "\x52\x02\x0a\x05hello", 9},
        {"string as a varint", "\x52\x02\x08\x05", 4},
        {"group", "\x08\x01\xfb\x3e\xfc\x3e", 6},
        {"wire type 7", "\x0f", 1},
        {"field number 0", "\x00\x01", 2},
        {"field number 0 in two bytes", "\x52\x00\x82\x00\x00", 5},
        {"field number 2^29", "\x52\x00\x80\x80\x80\x80\x10\x00", 8},
        {"fixed64 cut short", "\x09\x01\x02", 3},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Hall__Envelope *env;

        errno = 0;
        env = proto_unpack((const uint8_t *)cases[i].bytes, cases[i].n);
        ck_assert_msg(env == NULL, "%s: accepted", cases[i].what);
        ck_assert_msg(errno == PROTO_EMALFORMED, "%s: %s", cases[i].what, proto_strerror(errno));
    }
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("proto_frame");
    TCase *frames = tcase_create("frame");
    TCase *envelopes = tcase_create("envelope");

    tcase_add_test(frames, test_header_big_endian);
    tcase_add_test(frames, test_need_more);
    tcase_add_test(frames, test_split_byte_by_byte);
    tcase_add_test(frames, test_coalesced);
    tcase_add_test(frames, test_oversize);
    tcase_add_test(frames, test_exact_limit);
    tcase_add_test(frames, test_zero_length);
    tcase_add_test(frames, test_truncated);
    tcase_add_test(frames, test_strerror);
    tcase_add_test(frames, test_garbage_stream);
    tcase_add_test(frames, test_garbage_mutations);
    tcase_set_timeout(frames, 60);
    suite_add_tcase(s, frames);

    tcase_add_loop_test(envelopes, test_round_trip, 0, (int)hall__envelope__descriptor.n_fields);
    tcase_add_test(envelopes, test_compare_detects_changes);
    tcase_add_test(envelopes, test_body_names);
    tcase_add_test(envelopes, test_pack_limits);
    tcase_add_test(envelopes, test_utf8);
    tcase_add_test(envelopes, test_utf8_nested);
    tcase_add_test(envelopes, test_unknown_body);
    tcase_add_test(envelopes, test_malformed);
    suite_add_tcase(s, envelopes);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
