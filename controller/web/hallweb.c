/*
 * hallweb — the hall's web layer as a daemon: libmicrohttpd, the link to
 * halld, the read-only store and the change feed's subscription around
 * wapi.h, which decides every request. People sign in, and their requests
 * reach halld as the requests of a web gateway device made on their behalf
 * (Envelope.on_behalf_of), through the same handler, authorization table,
 * group commit, kept answers and audit as a device's. A process of its own
 * (docs/architecture.md says why): a bug here can stop a page, never the
 * queue.
 *
 * Threads: libmicrohttpd's pool of [web] threads answers requests. Each
 * thread has its own link to halld (a devlink, opened when first needed
 * and again after it broke) and its own read-only connection to the hall's
 * database (STORE_READER): halld's loop never runs a web read. One more
 * thread is the gateway's subscriber to halld's display pushes, the
 * change feed's source.
 *
 * Layout: settings and the per-thread context; libmicrohttpd's side of a
 * request; the change feed's subscriber; main.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "clk.h"
#include "anchor.h"
#include "devlink.h"
#include "hadmin.h"
#include "halld_conf.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "store.h"
#include "wapi.h"
#include "wpage.h"

#define HALLD_WAIT_MS  10000 /* an answer from halld */
#define LINK_WAIT_MS   5000  /* a new link to halld */
#define CONN_TIMEOUT_S 30    /* an idle HTTP connection */
#define PER_IP_MAX     64    /* HTTP connections from one address */

_Static_assert(WAPI_ERR_LEN >= DEVLINK_ERR_LEN, "wapi's reasons hold devlink's");

static struct web {
    struct halld_conf conf;
    char halld_host[256];
    int halld_port;
    bool plain; /* halld --dev-plaintext: no TLS on the link */
    char link_cert[PATH_MAX], link_key[PATH_MAX], link_ca[PATH_MAX];
    pthread_key_t thread_key;
    bool tls;  /* HTTPS */
    bool stop; /* the subscriber ends */
    /* The administrator's connection (admin pages): one writer at a time. */
    pthread_mutex_t admin_lock;
    store *admin;
    char anchors[PATH_MAX];
} web = {.admin_lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- Per-thread context ------------------------------------------------------ */

struct thread_ctx {
    devlink *link;
    store *rd;
};

static void thread_ctx_free(void *p)
{
    struct thread_ctx *t = p;

    if (t == NULL)
        return;
    devlink_close(t->link);
    store_close(t->rd);
    free(t);
}

static struct thread_ctx *thread_ctx(void)
{
    struct thread_ctx *t = pthread_getspecific(web.thread_key);

    if (t == NULL && (t = calloc(1, sizeof *t)) != NULL)
        pthread_setspecific(web.thread_key, t);
    return t;
}

/* The thread's read-only connection to the hall's database; NULL with a
 * reason in err. */
static store *reader(char *err, size_t errlen)
{
    struct thread_ctx *t = thread_ctx();

    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (t->rd == NULL)
        t->rd = store_open(web.conf.store_path, web.conf.hall_id, STORE_READER, err, errlen);
    return t->rd;
}

/* The administrator's connection, held by the caller until admin_end();
 * NULL with a reason in err. It stays open between changes. */
static store *admin_begin(char *err, size_t errlen)
{
    pthread_mutex_lock(&web.admin_lock);
    if (web.admin == NULL)
        web.admin = store_open(web.conf.store_path, web.conf.hall_id, STORE_ADMIN, err, errlen);
    if (web.admin == NULL)
        pthread_mutex_unlock(&web.admin_lock);
    return web.admin;
}

/* After an administrator's change: anchor it as hallctl does, and have
 * halld reload what it holds in memory. Failures are the log's: the
 * change is made. */
static void admin_end(int changed)
{
    char err[512];
    long pid;

    if (changed != WAPI_UNCHANGED && hadmin_anchor(web.admin, web.conf.hall_id, web.conf.audit_key,
                                                   web.anchors, ANCHOR_WRITE, err, sizeof err) < 0)
        log_warn("a change of the admin pages is not anchored: %s", err);
    if (changed == WAPI_RELOAD) {
        if (hadmin_notify(web.conf.store_path, &pid) < 0)
            log_warn("halld (pid %ld) could not be told to reload (%s): send it SIGHUP to "
                     "apply the change",
                     pid, strerror(errno));
        else if (pid > 0)
            log_info("told halld (pid %ld) to reload", pid);
        else
            log_warn("halld is not running: the change takes effect at its next start");
    }
    pthread_mutex_unlock(&web.admin_lock);
}

/* The thread's link to halld, said HELLO on; NULL with a reason in err. */
static devlink *link_to_halld(char *err)
{
    struct thread_ctx *t = thread_ctx();
    Hall__Envelope *r;

    if (t == NULL) {
        snprintf(err, DEVLINK_ERR_LEN, "out of memory");
        return NULL;
    }
    if (t->link != NULL && devlink_closed(t->link, 0, NULL)) {
        devlink_close(t->link);
        t->link = NULL;
    }
    if (t->link != NULL)
        return t->link;
    t->link = devlink_open(web.halld_host, web.halld_port, web.plain ? NULL : web.link_cert,
                           web.plain ? NULL : web.link_key, web.plain ? NULL : web.link_ca,
                           LINK_WAIT_MS, err);
    if (t->link == NULL)
        return NULL;
    r = devlink_hello(t->link, web.conf.web_device, HALL__DEVICE_TYPE__DEVICE_WEB, 0, LINK_WAIT_MS,
                      err);
    if (r == NULL || r->body_case != HALL__ENVELOPE__BODY_HELLO_REPLY) {
        if (r != NULL)
            snprintf(err, DEVLINK_ERR_LEN, "halld refused the web gateway %s: %s",
                     web.conf.web_device,
                     r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
        proto_free(r);
        devlink_close(t->link);
        t->link = NULL;
        return NULL;
    }
    proto_free(r);
    return t->link;
}

/* Send req to halld and wait for its answer; once more on a new link if
 * the link broke (the same request id: halld answers a retry from what it
 * kept). NULL with a reason in err. */
static Hall__Envelope *ask_halld(Hall__Envelope *req, char *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        devlink *l = link_to_halld(err);
        Hall__Envelope *a;

        if (l == NULL)
            return NULL;
        if ((a = devlink_call(l, req, HALLD_WAIT_MS, err)) != NULL)
            return a;
        struct thread_ctx *t = thread_ctx();
        devlink_close(t->link);
        t->link = NULL;
    }
    return NULL;
}

/* ---- libmicrohttpd's side of a request -------------------------------------------- */

static const char *mhd_lookup(void *conn, enum wapi_kind kind, const char *name)
{
    static const enum MHD_ValueKind kinds[] = {
        [WAPI_HEADER] = MHD_HEADER_KIND,
        [WAPI_COOKIE] = MHD_COOKIE_KIND,
        [WAPI_QUERY] = MHD_GET_ARGUMENT_KIND,
    };
    return MHD_lookup_connection_value(conn, kinds[kind], name);
}

static void mhd_suspend(void *conn)
{
    MHD_suspend_connection(conn);
}

static void mhd_resume(void *conn)
{
    MHD_resume_connection(conn);
}

static void log_line(enum log_level level, const char *line)
{
    log_msg(level, "%s", line);
}

static const wapi_ops mhd_ops = {
    .lookup = mhd_lookup,
    .ask_halld = ask_halld,
    .reader = reader,
    .admin_begin = admin_begin,
    .admin_end = admin_end,
    .suspend = mhd_suspend,
    .resume = mhd_resume,
    .log = log_line,
};

/* Queue r's answer: one of the pages, its text (a CSV download), or its
 * JSON. */
static enum MHD_Result send_answer(wapi_request *r)
{
    if (r->page != NULL)
        return wpage_queue(r->conn, r->page, web.tls) == MHD_YES ? MHD_YES : MHD_NO;
    char empty[] = "{}";
    char *text = r->text == NULL && r->json ? json_dumps(r->json, JSON_COMPACT) : NULL;
    char *body = r->text ? r->text : text ? text : empty;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    free(text);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->text ? r->text_type : "application/json; charset=utf-8");
    if (r->text != NULL && r->filename[0] != '\0') {
        char disposition[128];
        snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", r->filename);
        MHD_add_response_header(resp, "Content-Disposition", disposition);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'");
    if (web.tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
    if (r->cookie[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->cookie);
    rc = MHD_queue_response(r->conn, r->status ? r->status : MHD_HTTP_INTERNAL_SERVER_ERROR, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **con_cls)
{
    wapi_request *r = *con_cls;
    enum MHD_Result rc;

    (void)cls;
    (void)version;
    if (r == NULL) {
        if ((r = calloc(1, sizeof *r)) == NULL)
            return MHD_NO;
        r->conn = conn;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci == NULL || ci->client_addr == NULL ||
            getnameinfo(ci->client_addr,
                        ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                               : sizeof(struct sockaddr_in),
                        r->addr, sizeof r->addr, NULL, 0, NI_NUMERICHOST) != 0)
            snprintf(r->addr, sizeof r->addr, "?");
        wapi_request_start(r, method, url);
        *con_cls = r;
        return MHD_YES;
    }
    if (*data_len > 0) {
        wapi_body_add(r, data, *data_len);
        *data_len = 0;
        return MHD_YES;
    }
    r->method = method;
    r->url = url;
    if (r->held && !r->resumed)
        return MHD_YES; /* still held (a spurious call) */
    wapi_route(r);
    if (r->held && !r->resumed)
        return MHD_YES; /* suspended: answered when resumed */
    rc = send_answer(r);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    wapi_request *r = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (r == NULL)
        return;
    wapi_request_done(r);
    free(r);
    *con_cls = NULL;
}

/* ---- The change feed's subscriber ----------------------------------------------------
 *
 * One link of the gateway's own, SUBSCRIBE, then every DISPLAY_PUSH tells
 * wapi that the hall changed; once a second at least, held polls past
 * their time are answered. Reconnects while halld is away. */

static void *feed_main(void *arg)
{
    char err[DEVLINK_ERR_LEN];

    (void)arg;
    while (!__atomic_load_n(&web.stop, __ATOMIC_ACQUIRE)) {
        devlink *l = devlink_open(web.halld_host, web.halld_port, web.plain ? NULL : web.link_cert,
                                  web.plain ? NULL : web.link_key, web.plain ? NULL : web.link_ca,
                                  LINK_WAIT_MS, err);
        Hall__Envelope *a = NULL;
        if (l != NULL)
            a = devlink_hello(l, web.conf.web_device, HALL__DEVICE_TYPE__DEVICE_WEB, 0,
                              LINK_WAIT_MS, err);
        if (a != NULL && a->body_case == HALL__ENVELOPE__BODY_HELLO_REPLY) {
            Hall__Envelope sub = HALL__ENVELOPE__INIT;
            Hall__Subscribe s = HALL__SUBSCRIBE__INIT;
            sub.body_case = HALL__ENVELOPE__BODY_SUBSCRIBE;
            sub.subscribe = &s;
            proto_free(a);
            a = devlink_call(l, &sub, HALLD_WAIT_MS, err);
        }
        if (a != NULL && a->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH) {
            wapi_feed_estimates(a->display_push);
            wapi_feed_changed(); /* what happened while it was away */
            while (!__atomic_load_n(&web.stop, __ATOMIC_ACQUIRE) && !devlink_closed(l, 0, NULL)) {
                Hall__Envelope *push = devlink_next(l, 1000);
                if (push != NULL && push->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH) {
                    wapi_feed_estimates(push->display_push);
                    wapi_feed_changed();
                }
                proto_free(push);
                wapi_feed_tick(clk_utc_ms());
            }
        } else if (a != NULL) {
            log_warn("the change feed: halld refused %s: %s", web.conf.web_device,
                     a->body_case == HALL__ENVELOPE__BODY_ERROR ? a->error->message : "?");
        }
        proto_free(a);
        devlink_close(l);
        /* halld is away: held requests are answered at their time. */
        for (int i = 0; i < 10 && !__atomic_load_n(&web.stop, __ATOMIC_ACQUIRE); i++) {
            wapi_feed_tick(clk_utc_ms());
            usleep(100 * 1000);
        }
    }
    return NULL;
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs(
        "usage: hallweb [-c halld.ini] [--port N] [--halld-port N] [--dev-plaintext]\n"
        "\n"
        "The hall's web layer: sign-in, sessions and the JSON API under /api/v1/ (docs/web.md,\n"
        "docs/api.md). Reads [web], [store], [listen] and [tls] of halld's configuration.\n"
        "\n"
        "  -c, --config FILE   halld's configuration (default /etc/onewindow/halld.ini)\n"
        "  --port N            the web layer's port instead of [web] port (0: a free one)\n"
        "  --halld-port N      halld's port, when [listen] port is 0 (tests)\n"
        "  --dev-plaintext     reach halld over plain TCP (halld --dev-plaintext; loopback only)\n"
        "  -h, --help          this text\n",
        f);
}

/* Read a whole small file (a PEM) into memory; NULL with errno. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    char *text = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < 1 << 20 &&
        fseek(f, 0, SEEK_SET) == 0 && (text = calloc(1, (size_t)n + 1)) != NULL &&
        fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
        errno = EIO;
    }
    fclose(f);
    return text;
}

/* Where the gateway's bundle is: devices/<id>/ next to the hall CA, as
 * hallctl device add writes it. */
static int bundle_paths(void)
{
    const char *ca = web.conf.tls_ca, *slash = strrchr(ca, '/');
    int dirlen = slash ? (int)(slash - ca) : 1;
    const char *dir = slash ? ca : ".";
    const char *id = web.conf.web_device;

    return (size_t)snprintf(web.link_cert, sizeof web.link_cert, "%.*s/devices/%s/%s.crt", dirlen,
                            dir, id, id) >= sizeof web.link_cert ||
                   (size_t)snprintf(web.link_key, sizeof web.link_key, "%.*s/devices/%s/%s.key",
                                    dirlen, dir, id, id) >= sizeof web.link_key ||
                   (size_t)snprintf(web.link_ca, sizeof web.link_ca, "%.*s/devices/%s/ca.crt",
                                    dirlen, dir, id) >= sizeof web.link_ca
               ? -1
               : 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"halld-port", required_argument, NULL, 'p'},
        {"port", required_argument, NULL, 'w'},   {"dev-plaintext", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config = "/etc/onewindow/halld.ini";
    char err[512], *cert = NULL, *key = NULL;
    int c, port_override = -1, web_port = -1, rc = 1, signo;
    struct MHD_Daemon *d = NULL;
    bool feed_started = false, wapi_ready = false;
    pthread_t feed_thread;
    sigset_t stop;

    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1)
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'p':
            port_override = atoi(optarg);
            if (port_override <= 0 || port_override > 65535) {
                fprintf(stderr, "hallweb: --halld-port %s: use 1..65535\n", optarg);
                return 2;
            }
            break;
        case 'P':
            web.plain = true;
            break;
        case 'w':
            web_port = atoi(optarg);
            if (web_port < 0 || web_port > 65535 || (web_port == 0 && strcmp(optarg, "0") != 0)) {
                fprintf(stderr, "hallweb: --port %s: use 0..65535\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_open("hallweb", LOG_LEVEL_INFO, LOG_TO_STDERR);
    if (halld_conf_load(&web.conf, config, err, sizeof err) < 0) {
        log_error("%s", err);
        return 1;
    }
    log_set_level((enum log_level)web.conf.log_level);
    if (anchor_path(web.conf.store_path, web.anchors, sizeof web.anchors) < 0) {
        log_error("%s: [store] path is too long", config);
        store_close(web.admin);
        halld_conf_release(&web.conf);
        return 1;
    }
    if (web_port >= 0)
        web.conf.web_port = web_port;
    web.tls = web.conf.web_tls_cert[0] != '\0';
    if (!web.tls && !net_is_loopback(web.conf.web_address)) {
        log_error("[web] address is %s, but without tls_cert and tls_key the web layer serves "
                  "plain HTTP, on loopback only: passwords and session cookies never cross the LAN "
                  "in clear (docs/web.md says how to turn HTTPS on)",
                  web.conf.web_address);
        goto out;
    }
    if (web.plain && !net_is_loopback(web.conf.listen_address) &&
        strcmp(web.conf.listen_address, "0.0.0.0") != 0) {
        log_error("--dev-plaintext reaches halld on loopback only, but [listen] address is %s",
                  web.conf.listen_address);
        goto out;
    }
    halld_contact hc;
    if (halld_conf_contact(&web.conf, web.conf.web_device, &hc, err, sizeof err) < 0 ||
        bundle_paths() < 0) {
        log_error("%s", err[0] ? err : "the paths of the web gateway's bundle are too long");
        goto out;
    }
    snprintf(web.halld_host, sizeof web.halld_host, "%s", hc.host);
    web.halld_port = port_override > 0 ? port_override : hc.port;
    if (web.halld_port == 0) {
        log_error("[listen] port is 0 (halld picks its port): give it with --halld-port");
        goto out;
    }
    if (!web.plain && (access(web.link_cert, R_OK) < 0 || access(web.link_key, R_OK) < 0)) {
        log_error("the web gateway's bundle %s is missing or unreadable (%s): add the device with "
                  "`hallctl device add --id %s --type web`",
                  web.link_cert, strerror(errno), web.conf.web_device);
        goto out;
    }
    if (pthread_key_create(&web.thread_key, thread_ctx_free) != 0) {
        log_error("cannot start: %s", strerror(errno));
        goto out;
    }
    if (wapi_init(&web.conf, web.tls, &mhd_ops, err, sizeof err) < 0) {
        log_error("%s", err);
        goto out;
    }
    wapi_ready = true;
    if (web.tls && ((cert = read_file(web.conf.web_tls_cert)) == NULL ||
                    (key = read_file(web.conf.web_tls_key)) == NULL)) {
        log_error("cannot read [web] %s %s: %s", cert ? "tls_key" : "tls_cert",
                  cert ? web.conf.web_tls_key : web.conf.web_tls_cert, strerror(errno));
        goto out;
    }
    if (web.tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        log_error("this libmicrohttpd has no TLS: HTTPS needs a reverse proxy (docs/web.md)");
        goto out;
    }

    struct sockaddr_storage sa;
    socklen_t salen;
    memset(&sa, 0, sizeof sa);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&sa;
    if (inet_pton(AF_INET, web.conf.web_address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)web.conf.web_port);
        salen = sizeof *v4;
    } else if (inet_pton(AF_INET6, web.conf.web_address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)web.conf.web_port);
        salen = sizeof *v6;
    } else {
        log_error("[web] address = %s: give a numeric IPv4 or IPv6 address", web.conf.web_address);
        goto out;
    }
    (void)salen;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME | (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
                     (web.tls ? MHD_USE_TLS : 0);
    /* SIGTERM and SIGINT are waited for below: every thread blocks them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)web.conf.web_threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)web.conf.web_max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)PER_IP_MAX, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, web.tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
        MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    if (d == NULL) {
        log_error("cannot listen on %s port %lld: %s", web.conf.web_address,
                  (long long)web.conf.web_port, strerror(errno ? errno : EADDRINUSE));
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (pthread_create(&feed_thread, NULL, feed_main, NULL) != 0) {
        log_error("cannot start the change feed's thread");
        goto out;
    }
    feed_started = true;
    log_info("listening on %s://%s:%u/ for hall %s; halld at %s:%d as %s",
             web.tls ? "https" : "http", web.conf.web_address, di ? (unsigned)di->port : 0u,
             web.conf.hall_id, web.halld_host, web.halld_port, web.conf.web_device);
    while (sigwait(&stop, &signo) != 0)
        ;
    log_info("stopping (%s)", strsignal(signo));
    rc = 0;
out:
    if (feed_started) {
        __atomic_store_n(&web.stop, true, __ATOMIC_RELEASE);
        pthread_join(feed_thread, NULL);
    }
    if (wapi_ready)
        wapi_shutdown(); /* held polls go out before the daemon stops */
    if (d != NULL)
        MHD_stop_daemon(d);
    if (key != NULL)
        OPENSSL_cleanse(key, strlen(key));
    free(key);
    free(cert);
    halld_conf_release(&web.conf);
    log_close();
    return rc;
}
