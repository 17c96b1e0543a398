/*
 * devlink — a device link for tools and tests. See devlink.h.
 */
#include "devlink.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "ev.h"
#include "net.h"

struct devlink {
    ev_loop *loop;
    net_conn *conn;
    bool open, closed;
    char reason[DEVLINK_ERR_LEN - 40]; /* leaves room for a prefix in err */
    uint64_t next_id;
    /* Decoded messages not yet taken, in arrival order (a ring). */
    Hall__Envelope *inbox[DEVLINK_INBOX];
    size_t head, count;
};

static void on_open(net_conn *c, void *arg)
{
    ((devlink *)arg)->open = true;
}

static void on_data(net_conn *c, buf *in, void *arg)
{
    devlink *l = arg;
    const uint8_t *payload;
    size_t len, used;
    int rc;

    while ((rc = frame_next(buf_rdata(in), buf_rlen(in), FRAME_MAX, &payload, &len, &used)) == 1) {
        Hall__Envelope *env = proto_unpack(payload, len);
        buf_consume(in, used);
        if (env == NULL || l->count == DEVLINK_INBOX) {
            snprintf(l->reason, sizeof l->reason, "%s",
                     env ? "too many unread messages" : proto_strerror(errno));
            proto_free(env);
            net_conn_close(c, false, l->reason);
            return;
        }
        l->inbox[(l->head + l->count++) % DEVLINK_INBOX] = env;
    }
    if (rc < 0)
        net_conn_close(c, false, frame_strerror(errno));
}

static void on_close(net_conn *c, const char *reason, void *arg)
{
    devlink *l = arg;

    l->closed = true;
    l->conn = NULL;
    if (l->reason[0] == '\0')
        snprintf(l->reason, sizeof l->reason, "%s", reason);
}

static const net_conn_handlers handlers = {on_open, on_data, on_close};

devlink *devlink_open(const char *host, int port, const char *cert, const char *key, const char *ca,
                      int timeout_ms, char *err)
{
    devlink *l = calloc(1, sizeof *l);
    net_tls *tls = NULL;
    int fd;

    if (l == NULL || (l->loop = ev_new()) == NULL) {
        snprintf(err, DEVLINK_ERR_LEN, "out of memory");
        goto fail;
    }
    l->next_id = 1;
    if (ca != NULL && (tls = net_tls_new_client(cert, key, ca, err)) == NULL)
        goto fail;
    if ((fd = net_connect(host, port, err)) < 0) {
        net_tls_free(tls);
        goto fail;
    }
    l->conn = net_conn_new(l->loop, fd, tls, false, FRAME_MAX + FRAME_HEADER, 0, &handlers, l);
    net_tls_free(tls);
    if (l->conn == NULL) {
        snprintf(err, DEVLINK_ERR_LEN, "%s", strerror(errno));
        goto fail;
    }
    int64_t until = clk_mono_ms() + timeout_ms;
    while (!l->open && !l->closed && clk_mono_ms() < until)
        ev_run_once(l->loop, 20);
    if (!l->open) {
        snprintf(err, DEVLINK_ERR_LEN, "%s",
                 l->closed ? l->reason : "no connection within the time allowed");
        goto fail;
    }
    return l;
fail:
    devlink_close(l);
    return NULL;
}

void devlink_close(devlink *l)
{
    if (l == NULL)
        return;
    if (l->conn != NULL)
        net_conn_close(l->conn, false, "closed by the tool");
    if (l->loop != NULL)
        ev_run_once(l->loop, 0);
    while (l->count > 0) {
        proto_free(l->inbox[l->head]);
        l->head = (l->head + 1) % DEVLINK_INBOX;
        l->count--;
    }
    ev_free(l->loop);
    free(l);
}

/* Take the first inboxed message matching request_id (any push when
 * want_push), keeping the order of the others. */
static Hall__Envelope *take(devlink *l, uint64_t request_id, bool want_push)
{
    for (size_t i = 0; i < l->count; i++) {
        size_t at = (l->head + i) % DEVLINK_INBOX;
        Hall__Envelope *env = l->inbox[at];
        bool push = env->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH && env->request_id == 0;
        if (want_push ? !push : (push || env->request_id != request_id))
            continue;
        for (size_t j = i; j > 0; j--)
            l->inbox[(l->head + j) % DEVLINK_INBOX] = l->inbox[(l->head + j - 1) % DEVLINK_INBOX];
        l->head = (l->head + 1) % DEVLINK_INBOX;
        l->count--;
        return env;
    }
    return NULL;
}

int devlink_send(devlink *l, Hall__Envelope *req, char *err)
{
    uint8_t stack[4096], *frame = stack;
    size_t size;

    if (req->request_id == 0)
        req->request_id = l->next_id++;
    size = proto_frame_size(req);
    if (size > sizeof stack && (frame = malloc(size)) == NULL) {
        snprintf(err, DEVLINK_ERR_LEN, "out of memory");
        return -1;
    }
    long n = proto_pack_frame(req, FRAME_MAX, frame, size);
    int sent = n < 0 || l->conn == NULL ? -1 : net_conn_write(l->conn, frame, (size_t)n);
    if (frame != stack)
        free(frame);
    if (sent < 0) {
        snprintf(err, DEVLINK_ERR_LEN, "cannot send: %s",
                 l->closed ? l->reason : proto_strerror(errno));
        return -1;
    }
    net_conn_flush(l->conn);
    return 0;
}

Hall__Envelope *devlink_wait(devlink *l, uint64_t request_id, int timeout_ms, char *err)
{
    int64_t until = clk_mono_ms() + timeout_ms;

    for (;;) {
        Hall__Envelope *answer = take(l, request_id, false);
        if (answer != NULL)
            return answer;
        if (l->closed) {
            snprintf(err, DEVLINK_ERR_LEN, "link closed: %s", l->reason);
            return NULL;
        }
        int64_t left = until - clk_mono_ms();
        if (left <= 0) {
            snprintf(err, DEVLINK_ERR_LEN, "no answer within %d ms", timeout_ms);
            return NULL;
        }
        ev_run_once(l->loop, left > 50 ? 50 : (int)left);
    }
}

Hall__Envelope *devlink_call(devlink *l, Hall__Envelope *req, int timeout_ms, char *err)
{
    if (devlink_send(l, req, err) < 0)
        return NULL;
    return devlink_wait(l, req->request_id, timeout_ms, err);
}

Hall__Envelope *devlink_hello(devlink *l, const char *device_id, Hall__DeviceType type,
                              uint32_t window_no, int timeout_ms, char *err)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Hello hello;
    char id[72];
    static char firmware[] = "devlink " ONEWINDOW_VERSION;

    /* The function, not HALL__HELLO__INIT: clang's -Wcast-qual sees the
     * macro's cast of a const empty string. */
    hall__hello__init(&hello);
    snprintf(id, sizeof id, "%s", device_id);
    hello.device_id = id;
    hello.type = type;
    hello.window_no = window_no;
    hello.protocol_version = PROTO_VERSION;
    hello.firmware_version = firmware;
    env.body_case = HALL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    return devlink_call(l, &env, timeout_ms, err);
}

Hall__Envelope *devlink_next(devlink *l, int timeout_ms)
{
    int64_t until = clk_mono_ms() + timeout_ms;

    for (;;) {
        Hall__Envelope *env = take(l, 0, true);
        if (env != NULL || l->closed)
            return env;
        int64_t left = until - clk_mono_ms();
        if (left <= 0)
            return NULL;
        ev_run_once(l->loop, left > 50 ? 50 : (int)left);
    }
}

int devlink_send_raw(devlink *l, const void *bytes, size_t len)
{
    if (l->conn == NULL || net_conn_write(l->conn, bytes, len) < 0)
        return -1;
    net_conn_flush(l->conn);
    return 0;
}

int devlink_closed(devlink *l, int timeout_ms, const char **reason)
{
    int64_t until = clk_mono_ms() + timeout_ms;

    while (!l->closed && clk_mono_ms() < until)
        ev_run_once(l->loop, 20);
    if (reason != NULL)
        *reason = l->reason;
    return l->closed;
}

uint64_t devlink_next_id(const devlink *l)
{
    return l->next_id;
}

void devlink_set_next_id(devlink *l, uint64_t id)
{
    l->next_id = id;
}
