/*
 * hallctl — the hall administrator's command line.
 *
 * Every verb is a row of a table (hallctl_verb): the device verbs below
 * (ca init, cert issue, ping, which talk TLS or make certificates), and the
 * administrative verbs of hallctl_admin.c (init, catalog, window, clerk,
 * device, appointment, audit), which work on the hall's files. `hallctl
 * help` lists them all; each verb has its own --help. Exit status: 0 done,
 * 1 failed (the reason is printed on stderr), 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clk.h"
#include "ev.h"
#include "hallctl_admin.h"
#include "net.h"
#include "pki.h"
#include "proto.h"

#define PING_TIMEOUT_MS 10000

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    fputs("hallctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static const char *join(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
    return out;
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return fail("cannot create %s: %s", dir, strerror(errno));
    return 0;
}

/* ---- ca init ------------------------------------------------------------- */

static int ca_init(int argc, char **argv)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},  {"hall-id", required_argument, NULL, 'i'},
        {"days", required_argument, NULL, 'n'}, {"dns", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *hall_id = "hall", *dns = NULL;
    int days = 3650, opt;
    char ca_crt[PATH_MAX], ca_key[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], err[PKI_ERR_LEN];

    while ((opt = getopt_long(argc, argv, "d:i:n:s:h", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            hall_id = optarg;
            break;
        case 'n':
            days = atoi(optarg);
            break;
        case 's':
            dns = optarg;
            break;
        case 'h':
            printf("usage: hallctl ca init --dir DIR [--hall-id ID] [--days N] [--dns NAME]\n"
                   "Create the hall CA (DIR/ca.crt, DIR/ca.key) and the controller's\n"
                   "certificate (DIR/halld.crt, DIR/halld.key, valid for localhost,\n"
                   "127.0.0.1 and NAME). An existing CA is never overwritten.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (dir == NULL || optind != argc)
        return fprintf(stderr, "usage: hallctl ca init --dir DIR (see --help)\n"), 2;
    if (days < 1 || days > 36500)
        return fail("--days must be 1..36500");
    if (make_dir(dir) != 0)
        return 1;
    join(ca_key, sizeof ca_key, dir, "ca.key");
    if (access(ca_key, F_OK) == 0)
        return fail("%s exists: refusing to replace the hall CA (every device would have to "
                    "be re-enrolled)",
                    ca_key);
    char cn[128];
    snprintf(cn, sizeof cn, "onewindow hall CA %s", hall_id);
    if (pki_make_ca(cn, days, join(ca_crt, sizeof ca_crt, dir, "ca.crt"), ca_key, err) < 0 ||
        pki_issue(ca_crt, ca_key, "halld", dns, PKI_SERVER, days,
                  join(crt, sizeof crt, dir, "halld.crt"), join(key, sizeof key, dir, "halld.key"),
                  err) < 0)
        return fail("%s", err);
    printf("hall CA: %s\ncontroller certificate: %s\n", ca_crt, crt);
    return 0;
}

/* ---- cert issue ---------------------------------------------------------- */

static int cert_issue(int argc, char **argv)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'}, {"id", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'}, {"days", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *id = NULL, *out = NULL;
    int days = 825, opt;
    char ca_crt[PATH_MAX], ca_key[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], name[128];
    char err[PKI_ERR_LEN];

    while ((opt = getopt_long(argc, argv, "d:i:o:n:h", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'n':
            days = atoi(optarg);
            break;
        case 'h':
            printf("usage: hallctl cert issue --dir CADIR --id DEVICE [--out DIR] [--days N]\n"
                   "Issue a client certificate for DEVICE (its id is the certificate's CN)\n"
                   "signed by the hall CA in CADIR; writes DIR/DEVICE.crt and DIR/DEVICE.key\n"
                   "(DIR defaults to CADIR).\n");
            return 0;
        default:
            return 2;
        }
    }
    if (dir == NULL || id == NULL || optind != argc)
        return fprintf(stderr, "usage: hallctl cert issue --dir CADIR --id DEVICE (see --help)\n"),
               2;
    if (days < 1 || days > 36500)
        return fail("--days must be 1..36500");
    if (out == NULL)
        out = dir;
    if (make_dir(out) != 0)
        return 1;
    snprintf(name, sizeof name, "%s.crt", id);
    join(crt, sizeof crt, out, name);
    snprintf(name, sizeof name, "%s.key", id);
    join(key, sizeof key, out, name);
    if (pki_issue(join(ca_crt, sizeof ca_crt, dir, "ca.crt"),
                  join(ca_key, sizeof ca_key, dir, "ca.key"), id, NULL, PKI_CLIENT, days, crt, key,
                  err) < 0)
        return fail("%s", err);
    printf("device %s: %s, %s\n", id, crt, key);
    return 0;
}

/* ---- ping ---------------------------------------------------------------- */

struct ping {
    char id[65];
    Hall__DeviceType type;
    int count;    /* heartbeats to send */
    int answered; /* heartbeats answered */
    uint64_t next_request;
    int64_t sent_at; /* monotonic ms of the request in flight */
    net_conn *conn;
    bool done;
    int status;
};

static void ping_send(struct ping *p, Hall__Envelope *env)
{
    uint8_t frame[1024];
    long n = proto_pack_frame(env, FRAME_DEFAULT, frame, sizeof frame);

    if (n < 0 || net_conn_write(p->conn, frame, (size_t)n) < 0) {
        fprintf(stderr, "hallctl: cannot send: %s\n", proto_strerror(errno));
        p->status = 1;
        p->done = true;
        return;
    }
    p->sent_at = clk_mono_ms();
    net_conn_flush(p->conn);
}

static void ping_heartbeat(struct ping *p)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Heartbeat hb = HALL__HEARTBEAT__INIT;

    hb.device_time_ms = clk_utc_ms();
    env.body_case = HALL__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    env.request_id = ++p->next_request;
    ping_send(p, &env);
}

static void ping_on_open(net_conn *c, void *arg)
{
    struct ping *p = arg;
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Hello hello;

    /* The function, not HALL__HELLO__INIT: the macro casts a const empty
     * string to char *, which clang's -Wcast-qual reports. */
    hall__hello__init(&hello);
    printf("connected to %s over %s\n", net_conn_peer_addr(c), net_conn_protocol(c));
    static char firmware[] = "hallctl " ONEWINDOW_VERSION;

    hello.device_id = p->id;
    hello.type = p->type;
    hello.firmware_version = firmware;
    hello.protocol_version = PROTO_VERSION;
    env.body_case = HALL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    env.request_id = ++p->next_request;
    ping_send(p, &env);
}

static void ping_reply(struct ping *p, const Hall__Envelope *env)
{
    int64_t rtt = clk_mono_ms() - p->sent_at;

    switch (env->body_case) {
    case HALL__ENVELOPE__BODY_HELLO_REPLY: {
        const Hall__HelloReply *r = env->hello_reply;
        printf("HELLO accepted by hall %s (%s), protocol %u, zone %s, heartbeat every %u ms, "
               "%lld ms\n",
               r->hall_id, r->hall_name, r->protocol_version, r->time_zone,
               r->heartbeat_interval_ms, (long long)rtt);
        break;
    }
    case HALL__ENVELOPE__BODY_HEARTBEAT_REPLY:
        p->answered++;
        printf("heartbeat %d: %lld ms, clock offset %lld ms\n", p->answered, (long long)rtt,
               (long long)(env->heartbeat_reply->server_time_ms -
                           env->heartbeat_reply->device_time_ms - rtt / 2));
        break;
    case HALL__ENVELOPE__BODY_ERROR:
        fprintf(stderr, "hallctl: halld refused: %s\n", env->error->message);
        p->status = 1;
        p->done = true;
        return;
    default:
        fprintf(stderr, "hallctl: unexpected %s\n", proto_body_name(env->body_case));
        p->status = 1;
        p->done = true;
        return;
    }
    if (p->answered == p->count) {
        p->done = true;
        net_conn_close(p->conn, true, "done");
    } else {
        ping_heartbeat(p);
    }
}

static void ping_on_data(net_conn *c, buf *in, void *arg)
{
    struct ping *p = arg;
    const uint8_t *payload;
    size_t len, used;
    int rc;

    while (!p->done && (rc = frame_next(buf_rdata(in), buf_rlen(in), FRAME_DEFAULT, &payload, &len,
                                        &used)) != 0) {
        if (rc < 0) {
            fprintf(stderr, "hallctl: bad frame from halld: %s\n", frame_strerror(errno));
            p->status = 1;
            p->done = true;
            return;
        }
        Hall__Envelope *env = proto_unpack(payload, len);
        buf_consume(in, used);
        if (env == NULL) {
            fprintf(stderr, "hallctl: bad message from halld: %s\n", proto_strerror(errno));
            p->status = 1;
            p->done = true;
            return;
        }
        ping_reply(p, env);
        proto_free(env);
    }
}

static void ping_on_close(net_conn *c, const char *reason, void *arg)
{
    struct ping *p = arg;

    if (!p->done) {
        fprintf(stderr, "hallctl: connection closed: %s\n", reason);
        p->status = 1;
        p->done = true;
    }
    p->conn = NULL;
}

static const net_conn_handlers ping_handlers = {ping_on_open, ping_on_data, ping_on_close};

static int parse_host_port(const char *arg, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(arg, ':');
    char *end;

    if (colon == NULL || (size_t)(colon - arg) >= hostlen)
        return -1;
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    long v = strtol(colon + 1, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static int ping(int argc, char **argv)
{
    static const struct option options[] = {
        {"server", required_argument, NULL, 's'},
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"ca", required_argument, NULL, 'a'},
        {"id", required_argument, NULL, 'i'},
        {"count", required_argument, NULL, 'n'},
        {"plain", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *server = NULL, *cert = NULL, *key = NULL, *ca = NULL;
    struct ping p = {.id = "hallctl", .type = HALL__DEVICE_TYPE__DEVICE_TOOL, .count = 3};
    bool plain = false;
    char host[256], err[NET_ERR_LEN];
    int port, opt;

    while ((opt = getopt_long(argc, argv, "s:c:k:a:i:n:ph", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            server = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'a':
            ca = optarg;
            break;
        case 'i':
            if (strlen(optarg) >= sizeof p.id)
                return fail("--id is longer than %zu characters", sizeof p.id - 1);
            strcpy(p.id, optarg);
            break;
        case 'n':
            p.count = atoi(optarg);
            break;
        case 'p':
            plain = true;
            break;
        case 'h':
            printf("usage: hallctl ping --server HOST:PORT --cert F --key F --ca F [--id DEVICE]\n"
                   "                    [--count N] [--plain]\n"
                   "Connect to halld as device DEVICE (default: hallctl, the CN of --cert),\n"
                   "say HELLO and send N heartbeats (default 3), printing round-trip times.\n"
                   "--plain talks plain TCP to a halld started with --dev-plaintext.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (server == NULL || optind != argc || (!plain && (cert == NULL || key == NULL || ca == NULL)))
        return fprintf(stderr, "usage: hallctl ping --server HOST:PORT --cert F --key F --ca F "
                               "(see --help)\n"),
               2;
    if (parse_host_port(server, host, sizeof host, &port) < 0)
        return fail("--server %s: expected HOST:PORT", server);
    if (p.count < 0 || p.count > 1000000)
        return fail("--count must be 0..1000000");

    signal(SIGPIPE, SIG_IGN);
    net_tls *tls = NULL;
    if (!plain && (tls = net_tls_new_client(cert, key, ca, err)) == NULL)
        return fail("%s", err);
    ev_loop *loop = ev_new();
    int fd = net_connect(host, port, err);
    if (loop == NULL || fd < 0) {
        net_tls_free(tls);
        ev_free(loop);
        return fail("cannot connect to %s: %s", server, loop ? err : strerror(errno));
    }
    p.conn = net_conn_new(loop, fd, tls, false, FRAME_MAX + FRAME_HEADER, 0, &ping_handlers, &p);
    net_tls_free(tls);
    if (p.conn == NULL) {
        ev_free(loop);
        return fail("cannot start the connection: %s", strerror(errno));
    }
    int64_t until = clk_mono_ms() + PING_TIMEOUT_MS;
    while (!p.done && clk_mono_ms() < until)
        ev_run_once(loop, 100);
    if (!p.done) {
        fprintf(stderr, "hallctl: no answer from %s within %d ms\n", server, PING_TIMEOUT_MS);
        p.status = 1;
    }
    if (p.conn != NULL)
        net_conn_close(p.conn, false, "done");
    ev_run_once(loop, 0);
    ev_free(loop);
    return p.status;
}

static int version(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("hallctl %s\n", ONEWINDOW_VERSION);
    return 0;
}

static const hallctl_verb device_verbs[] = {
    {"ca", "init", ca_init, "create the hall CA and the controller's certificate"},
    {"cert", "issue", cert_issue, "issue a device certificate signed by the hall CA"},
    {"ping", NULL, ping, "connect to halld as a device: TLS, HELLO, heartbeats"},
    {"version", NULL, version, "print the version"},
    {NULL, NULL, NULL, NULL},
};

/* Every table of verbs, in the order the usage lists them. */
static const hallctl_verb *const verb_tables[] = {hallctl_admin_verbs, device_verbs};
#define NTABLES (sizeof verb_tables / sizeof verb_tables[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: hallctl <verb> [options]     (hallctl <verb> --help for each)\n");
    for (size_t t = 0; t < NTABLES; t++) {
        for (const hallctl_verb *v = verb_tables[t]; v->noun != NULL; v++) {
            char words[64];
            snprintf(words, sizeof words, "%s%s%s", v->noun, v->verb ? " " : "",
                     v->verb ? v->verb : "");
            fprintf(f, "  %-20s %s\n", words, v->summary);
        }
    }
}

static int dispatch(int argc, char **argv);

int main(int argc, char **argv)
{
    /* "hallctl -c FILE <verb> ..." is "hallctl <verb> ... -c FILE": the
     * verbs parse -c themselves, anywhere among their options. */
    char **args = NULL;
    if (argc >= 3 && (strcmp(argv[1], "-c") == 0 || strcmp(argv[1], "--config") == 0)) {
        if ((args = calloc((size_t)argc + 1, sizeof *args)) == NULL)
            return 1;
        args[0] = argv[0];
        for (int i = 3; i < argc; i++)
            args[i - 2] = argv[i];
        args[argc - 2] = argv[1];
        args[argc - 1] = argv[2];
        argv = args;
    }
    int rc = dispatch(argc, argv);
    free(args);
    return rc;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *noun = argv[1];
    if (strcmp(noun, "-h") == 0 || strcmp(noun, "--help") == 0 || strcmp(noun, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(noun, "--version") == 0)
        return version(argc, argv);
    bool known_noun = false;
    for (size_t t = 0; t < NTABLES; t++) {
        for (const hallctl_verb *v = verb_tables[t]; v->noun != NULL; v++) {
            if (strcmp(v->noun, noun) != 0)
                continue;
            known_noun = true;
            if (v->verb == NULL)
                return v->run(argc - 1, argv + 1);
            if (argc >= 3 && strcmp(v->verb, argv[2]) == 0)
                return v->run(argc - 2, argv + 2);
        }
    }
    if (known_noun && argc >= 3)
        fprintf(stderr, "hallctl: unknown verb '%s %s'\n", noun, argv[2]);
    else if (known_noun)
        fprintf(stderr, "hallctl: '%s' needs a verb (see below)\n", noun);
    else
        fprintf(stderr, "hallctl: unknown verb '%s'\n", noun);
    usage(stderr);
    return 2;
}
