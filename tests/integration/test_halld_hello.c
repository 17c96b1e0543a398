/*
 * halld_hello — the real halld, started from its binary with a config in a
 * temporary directory and certificates made by the real hallctl; a device
 * talks to it over TLS on loopback: HELLO, heartbeats, refusals, reload,
 * and a clean stop on SIGTERM.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clk.h"
#include "ev.h"
#include "net.h"
#include "proto.h"
#include "testsupport.h"

#define WAIT_MS 10000

/* ---- A hall: directory, certificates, config, running halld -------------- */

struct hall {
    char *dir;
    char config[1024];
    char log[1024];
    pid_t pid;
    int port;
};

static void hall_write_config(struct hall *h, const char *address, const char *extra)
{
    char text[4096];

    snprintf(text, sizeof text,
             "[hall]\nid = test-hall\nname = 测试大厅\n"
             "[listen]\naddress = %s\nport = 0\n"
             "[tls]\ncert = pki/halld.crt\nkey = pki/halld.key\nca = pki/ca.crt\n"
             "%s",
             address, extra ? extra : "");
    ts_write_file(h->config, text);
}

/* A hall directory with its CA, halld's certificate, and device certificates
 * for kiosk-01 (registered in the hall's database) and, from a different
 * CA, intruder. */
static void hall_init(struct hall *h, const char *extra)
{
    memset(h, 0, sizeof *h);
    h->dir = ts_tmpdir("halld");
    snprintf(h->config, sizeof h->config, "%s/halld.ini", h->dir);
    snprintf(h->log, sizeof h->log, "%s/halld.log", h->dir);
    ck_assert_int_eq(
        ts_system(HALLCTL_PATH " init --dir %s --hall-id test-hall >/dev/null", h->dir), 0);
    hall_write_config(h, "127.0.0.1", NULL);
    ck_assert_int_eq(
        ts_system(HALLCTL_PATH " cert issue --dir %s/pki --id kiosk-01 >/dev/null", h->dir), 0);
    ck_assert_int_eq(ts_system(HALLCTL_PATH " -c %s device add --id kiosk-01 --type kiosk "
                                            ">/dev/null",
                               h->config),
                     0);
    ck_assert_int_eq(
        ts_system(HALLCTL_PATH " ca init --dir %s/other --hall-id other >/dev/null", h->dir), 0);
    ck_assert_int_eq(
        ts_system(HALLCTL_PATH " cert issue --dir %s/other --id intruder >/dev/null", h->dir), 0);
    hall_write_config(h, "127.0.0.1", extra);
}

/* Start halld and wait for it to log its port. */
static void hall_start(struct hall *h, bool dev_plaintext)
{
    const char *argv[] = {HALLD_PATH, "-c", h->config, dev_plaintext ? "--dev-plaintext" : NULL,
                          NULL};

    h->pid = ts_spawn(argv, h->log);
    ck_assert_msg(ts_file_contains(h->log, "listening on", WAIT_MS), "halld did not start");
    FILE *f = fopen(h->log, "r");
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL) {
        const char *at = strstr(line, "listening on 127.0.0.1:");
        if (at != NULL)
            h->port = atoi(at + strlen("listening on 127.0.0.1:"));
    }
    fclose(f);
    ck_assert_int_gt(h->port, 0);
}

/* SIGTERM; returns halld's wait status. */
static int hall_stop(struct hall *h)
{
    ck_assert_int_eq(kill(h->pid, SIGTERM), 0);
    int status = ts_wait(h->pid, WAIT_MS);
    if (status == -1)
        ts_kill(h->pid);
    h->pid = 0;
    return status;
}

static void hall_free(struct hall *h)
{
    if (h->pid > 0)
        ts_kill(h->pid);
    ts_rmtree(h->dir);
    free(h->dir);
}

/* ---- A device: one connection, replies collected in order ------------------ */

#define MAX_REPLIES 16

struct device {
    ev_loop *loop;
    net_conn *conn;
    bool open, closed;
    char close_reason[256];
    Hall__Envelope *replies[MAX_REPLIES];
    int nreplies, taken;
    bool bad_stream;
};

static void dev_on_open(net_conn *c, void *arg)
{
    ((struct device *)arg)->open = true;
}

static void dev_on_data(net_conn *c, buf *in, void *arg)
{
    struct device *d = arg;
    const uint8_t *payload;
    size_t len, used;
    int rc;

    while ((rc = frame_next(buf_rdata(in), buf_rlen(in), FRAME_MAX, &payload, &len, &used)) == 1) {
        Hall__Envelope *env = proto_unpack(payload, len);
        buf_consume(in, used);
        if (env == NULL || d->nreplies == MAX_REPLIES) {
            d->bad_stream = true;
            proto_free(env);
            continue;
        }
        d->replies[d->nreplies++] = env;
    }
    if (rc < 0)
        d->bad_stream = true;
}

static void dev_on_close(net_conn *c, const char *reason, void *arg)
{
    struct device *d = arg;

    d->closed = true;
    d->conn = NULL;
    snprintf(d->close_reason, sizeof d->close_reason, "%s", reason);
}

static const net_conn_handlers dev_handlers = {dev_on_open, dev_on_data, dev_on_close};

/* Connect to the hall as the holder of pki dir/name.crt (NULL: plain TCP). */
static void dev_connect(struct device *d, const struct hall *h, const char *pkidir,
                        const char *name)
{
    char err[NET_ERR_LEN], cert[1100], key[1100], ca[1100];
    net_tls *tls = NULL;

    memset(d, 0, sizeof *d);
    d->loop = ev_new();
    ck_assert_ptr_nonnull(d->loop);
    if (name != NULL) {
        snprintf(cert, sizeof cert, "%s/%s/%s.crt", h->dir, pkidir, name);
        snprintf(key, sizeof key, "%s/%s/%s.key", h->dir, pkidir, name);
        snprintf(ca, sizeof ca, "%s/pki/ca.crt", h->dir);
        tls = net_tls_new_client(cert, key, ca, err);
        ck_assert_msg(tls != NULL, "client TLS: %s", err);
    }
    int fd = net_connect("127.0.0.1", h->port, err);
    ck_assert_msg(fd >= 0, "connect: %s", err);
    d->conn = net_conn_new(d->loop, fd, tls, false, 0, 0, &dev_handlers, d);
    net_tls_free(tls);
    ck_assert_ptr_nonnull(d->conn);
}

static void dev_send(struct device *d, Hall__Envelope *env)
{
    uint8_t frame[4096];
    long n = proto_pack_frame(env, FRAME_MAX, frame, sizeof frame);

    ck_assert_int_gt(n, 0);
    ck_assert_ptr_nonnull(d->conn);
    ck_assert_int_eq(net_conn_write(d->conn, frame, (size_t)n), 0);
    net_conn_flush(d->conn);
}

static void dev_send_raw(struct device *d, const void *bytes, size_t len)
{
    ck_assert_int_eq(net_conn_write(d->conn, bytes, len), 0);
    net_conn_flush(d->conn);
}

/* The next reply, waiting for it; NULL if none came (or the link closed). */
static Hall__Envelope *dev_reply(struct device *d)
{
    int64_t until = clk_mono_ms() + WAIT_MS;

    while (d->taken == d->nreplies && !d->closed && clk_mono_ms() < until)
        ev_run_once(d->loop, 50);
    return d->taken < d->nreplies ? d->replies[d->taken++] : NULL;
}

static bool dev_wait_closed(struct device *d, int timeout_ms)
{
    return ts_run_until(d->loop, &d->closed, timeout_ms);
}

static void dev_free(struct device *d)
{
    if (d->conn != NULL)
        net_conn_close(d->conn, false, "test done");
    ev_run_once(d->loop, 0);
    for (int i = 0; i < d->nreplies; i++)
        proto_free(d->replies[i]);
    ev_free(d->loop);
}

static void send_hello(struct device *d, const char *device_id, uint64_t request_id)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Hello hello = HALL__HELLO__INIT;
    char id[65], fw[] = "test 1.0";

    snprintf(id, sizeof id, "%s", device_id);
    hello.device_id = id;
    hello.type = HALL__DEVICE_TYPE__DEVICE_KIOSK;
    hello.firmware_version = fw;
    hello.protocol_version = PROTO_VERSION;
    env.request_id = request_id;
    env.body_case = HALL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    dev_send(d, &env);
}

static void send_heartbeat(struct device *d, uint64_t request_id, int64_t device_time)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Heartbeat hb = HALL__HEARTBEAT__INIT;

    hb.device_time_ms = device_time;
    env.request_id = request_id;
    env.body_case = HALL__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    dev_send(d, &env);
}

/* HELLO as kiosk-01 and check the answer. */
static void hello_ok(struct device *d)
{
    send_hello(d, "kiosk-01", 1);
    Hall__Envelope *r = dev_reply(d);
    ck_assert_msg(r != NULL, "no reply to HELLO (closed: %s)", d->close_reason);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_HELLO_REPLY);
    ck_assert_uint_eq(r->request_id, 1);
    ck_assert_str_eq(r->hello_reply->hall_id, "test-hall");
    ck_assert_str_eq(r->hello_reply->hall_name, "测试大厅");
    ck_assert_str_eq(r->hello_reply->time_zone, "Asia/Shanghai");
    ck_assert_uint_eq(r->hello_reply->protocol_version, PROTO_VERSION);
    ck_assert_uint_gt(r->hello_reply->session_id, 0);
}

static void expect_error(struct device *d, Hall__ErrorCode code)
{
    Hall__Envelope *r = dev_reply(d);
    ck_assert_msg(r != NULL, "no ERROR came (closed: %s)", d->close_reason);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_ERROR);
    ck_assert_int_eq(r->error->code, code);
    ck_assert(r->error->message[0] != '\0');
}

/* ---- Tests ---------------------------------------------------------------- */

START_TEST(hello_heartbeat_sigterm)
{
    struct hall h;
    struct device d;

    hall_init(&h, NULL);
    hall_start(&h, false);
    dev_connect(&d, &h, "pki", "kiosk-01");
    hello_ok(&d);
    ck_assert(net_conn_is_tls(d.conn));
    ck_assert_str_eq(net_conn_protocol(d.conn), "TLSv1.3");
    ck_assert_str_eq(net_conn_peer_name(d.conn), "halld");

    int64_t before = clk_utc_ms();
    send_heartbeat(&d, 2, 123456789);
    Hall__Envelope *r = dev_reply(&d);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_HEARTBEAT_REPLY);
    ck_assert_uint_eq(r->request_id, 2);
    ck_assert_int_eq(r->heartbeat_reply->device_time_ms, 123456789);
    ck_assert_int_ge(r->heartbeat_reply->server_time_ms, before - 1000);
    ck_assert(ts_file_contains(h.log, "kiosk-01: kiosk, firmware test 1.0", WAIT_MS));

    int status = hall_stop(&h);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "halld exit status %d", status);
    ck_assert(dev_wait_closed(&d, WAIT_MS));
    ck_assert(ts_file_contains(h.log, "stopped", 0));
    dev_free(&d);
    hall_free(&h);
}
END_TEST

START_TEST(request_before_hello_refused)
{
    struct hall h;
    struct device d;

    hall_init(&h, NULL);
    hall_start(&h, false);
    dev_connect(&d, &h, "pki", "kiosk-01");
    send_heartbeat(&d, 7, 1);
    expect_error(&d, HALL__ERROR_CODE__ERR_HELLO_REQUIRED);
    ck_assert(dev_wait_closed(&d, WAIT_MS));
    dev_free(&d);
    hall_free(&h);
}
END_TEST

START_TEST(hello_must_match_certificate)
{
    struct hall h;
    struct device d;

    hall_init(&h, NULL);
    hall_start(&h, false);
    dev_connect(&d, &h, "pki", "kiosk-01");
    send_hello(&d, "kiosk-02", 1);
    expect_error(&d, HALL__ERROR_CODE__ERR_IDENTITY);
    ck_assert(dev_wait_closed(&d, WAIT_MS));
    ck_assert(ts_file_contains(h.log, "certificate names 'kiosk-01'", WAIT_MS));
    dev_free(&d);
    hall_free(&h);
}
END_TEST

START_TEST(foreign_certificate_and_plaintext_refused)
{
    struct hall h;
    struct device good, intruder, plain;

    hall_init(&h, NULL);
    hall_start(&h, false);
    dev_connect(&good, &h, "pki", "kiosk-01");
    hello_ok(&good);

    dev_connect(&intruder, &h, "other", "intruder");
    ck_assert(dev_wait_closed(&intruder, WAIT_MS));
    ck_assert(!intruder.open || intruder.nreplies == 0);

    dev_connect(&plain, &h, NULL, NULL);
    dev_send_raw(&plain, "GET / HTTP/1.0\r\n\r\n", 18);
    ck_assert(dev_wait_closed(&plain, WAIT_MS));
    ck_assert_int_eq(plain.nreplies, 0);

    /* The device already connected did not notice. */
    send_heartbeat(&good, 2, 5);
    Hall__Envelope *r = dev_reply(&good);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_HEARTBEAT_REPLY);
    dev_free(&good);
    dev_free(&intruder);
    dev_free(&plain);
    hall_free(&h);
}
END_TEST

START_TEST(bad_frames_close_only_their_link)
{
    struct hall h;
    struct device a, b, c;

    hall_init(&h, NULL);
    hall_start(&h, false);
    dev_connect(&a, &h, "pki", "kiosk-01");
    dev_connect(&b, &h, "pki", "kiosk-01");
    dev_connect(&c, &h, "pki", "kiosk-01");
    hello_ok(&a);
    hello_ok(&b);
    hello_ok(&c);

    /* Oversize length prefix. */
    dev_send_raw(&a, "\x7f\xff\xff\xff", 4);
    expect_error(&a, HALL__ERROR_CODE__ERR_BAD_FRAME);
    ck_assert(dev_wait_closed(&a, WAIT_MS));

    /* A frame whose payload is not protobuf. */
    dev_send_raw(&b, "\x00\x00\x00\x03\xff\xff\xff", 7);
    expect_error(&b, HALL__ERROR_CODE__ERR_MALFORMED);
    ck_assert(dev_wait_closed(&b, WAIT_MS));

    /* A message that is not a request: refused, link stays. */
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__HelloReply reply = HALL__HELLO_REPLY__INIT;
    env.request_id = 9;
    env.body_case = HALL__ENVELOPE__BODY_HELLO_REPLY;
    env.hello_reply = &reply;
    dev_send(&c, &env);
    expect_error(&c, HALL__ERROR_CODE__ERR_UNKNOWN_MESSAGE);
    send_heartbeat(&c, 10, 1);
    Hall__Envelope *r = dev_reply(&c);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_HEARTBEAT_REPLY);
    ck_assert_uint_eq(r->request_id, 10);
    ck_assert(!c.closed);
    dev_free(&a);
    dev_free(&b);
    dev_free(&c);
    hall_free(&h);
}
END_TEST

START_TEST(idle_device_dropped)
{
    struct hall h;
    struct device d;

    hall_init(&h, "[session]\nheartbeat_interval = 1s\nidle_timeout = 2s\n");
    hall_start(&h, false);
    dev_connect(&d, &h, "pki", "kiosk-01");
    hello_ok(&d);
    int64_t start = clk_mono_ms();
    ck_assert(dev_wait_closed(&d, WAIT_MS));
    ck_assert_int_ge(clk_mono_ms() - start, 1900);
    ck_assert(ts_file_contains(h.log, "idle timeout", WAIT_MS));
    dev_free(&d);
    hall_free(&h);
}
END_TEST

START_TEST(dev_plaintext_only_on_loopback)
{
    struct hall h;
    struct device d;

    hall_init(&h, NULL);
    hall_start(&h, true);
    dev_connect(&d, &h, NULL, NULL);
    hello_ok(&d);
    ck_assert(!net_conn_is_tls(d.conn));
    ck_assert(ts_file_contains(h.log, "development mode", WAIT_MS));
    ck_assert_int_eq(WEXITSTATUS(hall_stop(&h)), 0);
    dev_free(&d);

    hall_write_config(&h, "0.0.0.0", NULL);
    const char *argv[] = {HALLD_PATH, "-c", h.config, "--dev-plaintext", NULL};
    pid_t pid = ts_spawn(argv, h.log);
    int status = ts_wait(pid, WAIT_MS);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
    ck_assert(ts_file_contains(h.log, "--dev-plaintext binds only a loopback address", 0));
    hall_free(&h);
}
END_TEST

START_TEST(bad_config_refused_with_reason)
{
    struct hall h;

    hall_init(&h, "[session]\nidle_timeout = forever\n");
    const char *argv[] = {HALLD_PATH, "-c", h.config, NULL};
    pid_t pid = ts_spawn(argv, h.log);
    int status = ts_wait(pid, WAIT_MS);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
    ck_assert(ts_file_contains(h.log, "halld.ini:", 0));
    ck_assert(ts_file_contains(h.log, "idle_timeout", 0));

    /* A certificate that is not there is named. */
    hall_write_config(&h, "127.0.0.1", NULL);
    ts_system("rm -f %s/pki/halld.crt", h.dir);
    pid = ts_spawn(argv, h.log);
    status = ts_wait(pid, WAIT_MS);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
    ck_assert(ts_file_contains(h.log, "halld.crt", 0));
    hall_free(&h);
}
END_TEST

START_TEST(sighup_reloads_all_or_nothing)
{
    struct hall h;
    struct device d;

    hall_init(&h, NULL);
    hall_start(&h, false);

    hall_write_config(&h, "127.0.0.1", "[log]\nlevel = debug\n");
    kill(h.pid, SIGHUP);
    ck_assert(ts_file_contains(h.log, "reloaded", WAIT_MS));
    ck_assert(ts_file_contains(h.log, "log level debug", WAIT_MS));

    hall_write_config(&h, "127.0.0.1", "[log]\nlevel = loud\n");
    kill(h.pid, SIGHUP);
    ck_assert(ts_file_contains(h.log, "reload failed, keeping the running configuration", WAIT_MS));

    /* Still serving, still at debug level. */
    dev_connect(&d, &h, "pki", "kiosk-01");
    hello_ok(&d);
    ck_assert(ts_file_contains(h.log, "HELLO request 1", WAIT_MS));
    dev_free(&d);
    ck_assert_int_eq(WEXITSTATUS(hall_stop(&h)), 0);
    hall_free(&h);
}
END_TEST

START_TEST(one_halld_per_database)
{
    struct hall h;

    hall_init(&h, NULL);
    hall_start(&h, false);
    char log2[1100];
    snprintf(log2, sizeof log2, "%s/second.log", h.dir);
    const char *argv[] = {HALLD_PATH, "-c", h.config, NULL};
    pid_t pid = ts_spawn(argv, log2);
    int status = ts_wait(pid, WAIT_MS);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
    ck_assert(ts_file_contains(log2, "in use by another halld", 0));
    ck_assert_int_eq(WEXITSTATUS(hall_stop(&h)), 0);

    /* The database is kept, and belongs to its hall. */
    hall_write_config(&h, "127.0.0.1", NULL);
    ts_system("sed -i 's/^id = test-hall/id = other-hall/' %s", h.config);
    pid = ts_spawn(argv, log2);
    status = ts_wait(pid, WAIT_MS);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
    ck_assert(ts_file_contains(log2, "belongs to hall 'test-hall'", 0));
    hall_free(&h);
}
END_TEST

static Suite *halld_hello_suite(void)
{
    Suite *s = suite_create("halld_hello");
    TCase *tc = tcase_create("device link");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hello_heartbeat_sigterm);
    tcase_add_test(tc, request_before_hello_refused);
    tcase_add_test(tc, hello_must_match_certificate);
    tcase_add_test(tc, foreign_certificate_and_plaintext_refused);
    tcase_add_test(tc, bad_frames_close_only_their_link);
    tcase_add_test(tc, idle_device_dropped);
    tcase_add_test(tc, dev_plaintext_only_on_loopback);
    tcase_add_test(tc, bad_config_refused_with_reason);
    tcase_add_test(tc, sighup_reloads_all_or_nothing);
    tcase_add_test(tc, one_halld_per_database);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(halld_hello_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
