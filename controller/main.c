/*
 * halld — the hall controller daemon.
 *
 * main() loads the configuration, opens the store, starts the device
 * server and runs the event loop until SIGTERM or SIGINT. Signals arrive
 * through a signalfd watched by the loop, so they are handled as ordinary
 * events between requests, never in the middle of one. SIGHUP reloads the
 * configuration: all or nothing, and a bad file leaves the running one in
 * place. SIGUSR1 logs a status line.
 *
 * The audit anchors (anchor.h) are made here too: a timer signs the
 * committed head of the event log into the anchors file every [audit]
 * anchor_interval when it has moved, and the stop signs it once more.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anchor.h"
#include "citizen.h"
#include "clk.h"
#include "ev.h"
#include "hall.h"
#include "halld_conf.h"
#include "log.h"
#include "net.h"
#include "server.h"
#include "webhook.h"
#include "sig.h"
#include "store.h"

#define DEFAULT_CONFIG "/etc/onewindow/halld.ini"

struct halld {
    const char *config_path;
    bool dev_plaintext;
    struct halld_conf conf;
    ev_loop *loop;
    store *store;
    hall *hall;
    server *server;
    webhook *webhook; /* [supervise] webhook deliveries */
    sig_watch *signals;
    int exit_code;
    /* The audit anchors; no key: the event log is not anchored. */
    anchor_key *audit_key;
    char anchors[PATH_MAX];
    ev_timer anchor_timer;
    uint64_t anchored_seq; /* the head this process anchored last */
    uint8_t anchored_hash[ANCHOR_HASH_LEN];
    bool anchor_failing; /* the last attempt failed, and that was logged */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: halld [options]\n"
               "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
               "      --dev-plaintext development only: accept plain TCP instead of TLS;\n"
               "                      refused unless [listen] address is a loopback address\n"
               "      --check-config  load and check the configuration, then exit\n"
               "      --print-config  print a sample configuration with every key, then exit\n"
               "  -V, --version       print the version and exit\n"
               "  -h, --help          this text\n"
               "Signals: SIGTERM/SIGINT stop, SIGHUP reloads the configuration, SIGUSR1\n"
               "logs one status line (links, requests remembered for retries).\n");
}

static void apply_logging(const struct halld_conf *c)
{
    log_open("halld", (enum log_level)c->log_level,
             LOG_TO_STDERR | (c->log_syslog ? LOG_TO_SYSLOG : 0));
}

/* The TLS context for a configuration, or NULL in development mode. */
static int make_tls(const struct halld *h, const struct halld_conf *c, net_tls **out)
{
    char err[NET_ERR_LEN];

    *out = NULL;
    if (h->dev_plaintext)
        return 0;
    *out = net_tls_new_server(c->tls_cert, c->tls_key, c->tls_ca, err);
    if (*out == NULL) {
        log_error("TLS: %s", err);
        return -1;
    }
    return 0;
}

/* Everything the configuration says that the event loop does not check. */
static int check_conf(const struct halld *h, const struct halld_conf *c)
{
    clk_zone *zone = clk_zone_new(c->time_zone);

    if (zone == NULL) {
        log_error("%s: [hall] time_zone = %s: %s", h->config_path, c->time_zone,
                  errno == ENOENT ? "no such zone in the time zone database" : strerror(errno));
        return -1;
    }
    clk_zone_free(zone);
    if (h->dev_plaintext && !net_is_loopback(c->listen_address)) {
        log_error("--dev-plaintext binds only a loopback address, but [listen] address is %s",
                  c->listen_address);
        return -1;
    }
    return 0;
}

/* The audit keys: the hall audit key of c into *audit (NULL when there is
 * no such file: the event log is then not anchored, and halld says so),
 * and a warning when the hall CA key lies among the certificates halld
 * reads (hallctl keeps it in private/, beside pki/). -1 when the audit key
 * is there but cannot be used. */
static int check_audit_keys(const struct halld_conf *c, anchor_key **audit)
{
    const char *slash = strrchr(c->tls_ca, '/');
    char ca_key[PATH_MAX], err[512];

    if ((size_t)snprintf(ca_key, sizeof ca_key, "%.*s%sca.key",
                         slash ? (int)(slash - c->tls_ca) : 0, c->tls_ca,
                         slash ? "/" : "") < sizeof ca_key &&
        access(ca_key, F_OK) == 0)
        log_warn("the hall CA key %s is in the directory of [tls] ca, which halld reads: only "
                 "hallctl needs it; move it to private/ca.key beside that directory (mode 0700)",
                 ca_key);
    if ((*audit = anchor_key_load(c->audit_key, err, sizeof err)) != NULL)
        return 0;
    if (errno != ENOENT) {
        log_error("[audit] key: %s", err);
        return -1;
    }
    log_warn("audit: no audit key %s: the event log is not anchored, so a rewrite or truncation "
             "of it cannot be detected (hallctl audit key makes one)",
             c->audit_key);
    return 0;
}

/* Sign the committed head of the event log into the anchors file: at the
 * interval unless this process anchored that head already, at the stop in
 * any case (the line also records a clean stop). A failure is logged
 * once, and again when anchoring works anew. */
static void anchor_head(struct halld *h, anchor_reason why)
{
    anchor a = {.reason = why};
    char err[512];

    if (h->audit_key == NULL || h->store == NULL)
        return;
    /* The turn last committed may still be syncing on the syncer thread:
     * an anchor must never name an event a power cut could take back (a
     * false "truncated" at the next verify), so everything committed is
     * synced first (a second fdatasync beside the syncer's is harmless). */
    if (store_sync(h->store) < 0) {
        snprintf(err, sizeof err, "cannot sync the store before anchoring: %s", strerror(errno));
    } else if (store_committed_head(h->store, &a.seq, a.hash) < 0) {
        snprintf(err, sizeof err, "%s", store_errmsg(h->store));
    } else if (a.seq == 0 || (why == ANCHOR_INTERVAL && a.seq == h->anchored_seq &&
                              memcmp(a.hash, h->anchored_hash, sizeof a.hash) == 0)) {
        return;
    } else {
        snprintf(a.hall_id, sizeof a.hall_id, "%s", h->conf.hall_id);
        a.at_ms = clk_utc_ms();
        if (anchor_write(h->anchors, h->audit_key, &a, err, sizeof err) == 0) {
            if (h->anchor_failing)
                log_info("audit: anchoring works again (event %llu anchored)",
                         (unsigned long long)a.seq);
            h->anchor_failing = false;
            h->anchored_seq = a.seq;
            memcpy(h->anchored_hash, a.hash, sizeof a.hash);
            if (why == ANCHOR_STOP)
                log_info("audit: event %llu anchored at the stop", (unsigned long long)a.seq);
            else
                log_debug("audit: event %llu anchored", (unsigned long long)a.seq);
            return;
        }
    }
    if (!h->anchor_failing || why == ANCHOR_STOP)
        log_error("audit: cannot anchor the event log: %s", err);
    h->anchor_failing = true;
}

static void on_anchor_timer(ev_loop *loop, ev_timer *t, void *arg)
{
    struct halld *h = arg;

    anchor_head(h, ANCHOR_INTERVAL);
    ev_timer_start(loop, t, h->conf.anchor_interval_ms);
}

/* The hall clock's source, set before anything reads the clock and before
 * any thread exists. A hall must never run on a simulated clock by
 * accident, so one that is not the system clock is a warning, with the
 * hall time it shows. */
static int apply_clock(const struct halld *h, const struct halld_conf *c)
{
    clk_zone *zone;
    char what[96];

    if (c->clock.system)
        return 0;
    if (clk_set_source(&c->clock) < 0) {
        log_error("%s: [clock]: %s", h->config_path, strerror(errno));
        return -1;
    }
    zone = clk_zone_new(c->time_zone);
    clk_describe(zone, c->clock.rate, what, sizeof what);
    clk_zone_free(zone);
    log_warn("clock: NOT the system clock: %s ([clock] start = %s, rate = %s, anchor = %s); for "
             "simulations and tests only",
             what, c->clock_start, c->clock_rate,
             c->clock_anchor[0] != '\0' ? c->clock_anchor : "the start of halld");
    return 0;
}

/* The [privacy] keys can be read (--check-config: hall_new() reads them
 * at start). */
static int check_privacy_keys(const struct halld_conf *c)
{
    char err[512];
    citizen_keys *k = citizen_keys_load(c->privacy_secret, c->sealing_key, c->previous_sealing_key,
                                        err, sizeof err);

    if (k == NULL) {
        log_error("%s", err);
        return -1;
    }
    if (citizen_sealing_keys(k) == 0)
        log_warn("[privacy] sealing_key %s: missing (offline tickets by card wait on their "
                 "kiosks until it is made: hallctl privacy keys)",
                 c->sealing_key);
    citizen_keys_free(k);
    return 0;
}

/* Without a sealing key, offline tickets taken by card cannot be opened:
 * they wait on their kiosks (sent again until halld can). */
static void check_sealing(const struct halld *h)
{
    if (hall_sealing_keys(h->hall) == 0)
        log_warn("[privacy] sealing_key %s: missing, so the ID numbers kiosks sealed offline "
                 "cannot be opened; those tickets wait on their kiosks until the key is made "
                 "(hallctl privacy keys) and halld reloaded",
                 h->conf.sealing_key);
}

static void reload(struct halld *h)
{
    struct halld_conf fresh = {0};
    char err[512];
    net_tls *tls;

    log_info("SIGHUP: reloading %s", h->config_path);
    if (halld_conf_load(&fresh, h->config_path, err, sizeof err) < 0) {
        log_error("reload failed, keeping the running configuration: %s", err);
        return;
    }
    if (check_conf(h, &fresh) < 0 || make_tls(h, &fresh, &tls) < 0) {
        log_error("reload failed, keeping the running configuration");
        halld_conf_release(&fresh);
        return;
    }
    /* What the running process cannot change under its feet. */
    struct {
        const char *key, *was, *now;
    } fixed[] = {
        {"[hall] id", h->conf.hall_id, fresh.hall_id},
        {"[hall] time_zone", h->conf.time_zone, fresh.time_zone},
        {"[store] path", h->conf.store_path, fresh.store_path},
        {"[audit] key", h->conf.audit_key, fresh.audit_key},
        {"[listen] address", h->conf.listen_address, fresh.listen_address},
        {"[clock] start", h->conf.clock_start, fresh.clock_start},
        {"[clock] rate", h->conf.clock_rate, fresh.clock_rate},
        {"[clock] anchor", h->conf.clock_anchor, fresh.clock_anchor},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(fixed[i].was, fixed[i].now) != 0)
            log_warn("reload: %s changed (%s -> %s): takes effect after a restart", fixed[i].key,
                     fixed[i].was, fixed[i].now);
    if (fresh.listen_port != h->conf.listen_port)
        log_warn("reload: [listen] port changed (%lld -> %lld): takes effect after a restart",
                 (long long)h->conf.listen_port, (long long)fresh.listen_port);
    if (fresh.rollover_hour != h->conf.rollover_hour)
        log_warn("reload: [hall] rollover_hour changed: takes effect after a restart");
    if (fresh.number_digits != h->conf.number_digits || fresh.lease_first != h->conf.lease_first ||
        fresh.lease_band != h->conf.lease_band || fresh.lease_block != h->conf.lease_block)
        log_warn("reload: [numbering] changed: takes effect at the next business day");

    if (hall_reload(h->hall, &fresh, err, sizeof err) < 0) {
        log_error("reload failed, keeping the running configuration: %s", err);
        net_tls_free(tls);
        halld_conf_release(&fresh);
        return;
    }
    apply_logging(&fresh);
    if (h->audit_key != NULL && fresh.anchor_interval_ms != h->conf.anchor_interval_ms)
        ev_timer_start(h->loop, &h->anchor_timer, fresh.anchor_interval_ms);
    server_reload(h->server, &fresh, tls);
    server_revalidate(h->server);
    halld_conf_release(&h->conf);
    h->conf = fresh;
    log_info("reloaded %s (log level %s%s, %d sealing key%s)", h->config_path,
             log_level_name((enum log_level)h->conf.log_level), tls ? ", certificates re-read" : "",
             hall_sealing_keys(h->hall), hall_sealing_keys(h->hall) == 1 ? "" : "s");
    check_sealing(h);
}

static void on_signal(ev_loop *loop, int signo, void *arg)
{
    struct halld *h = arg;

    if (signo == SIGHUP) {
        reload(h);
    } else if (signo == SIGUSR1) {
        size_t entries, answers, bytes;

        hall_kept_stats(h->hall, NULL, &entries, &answers, &bytes);
        log_info("status: %zu device links; retries: %zu requests remembered, %zu answers kept "
                 "(%zu bytes)",
                 server_sessions(h->server), entries, answers, bytes);
    } else {
        log_info("%s: stopping", strsignal(signo));
        ev_stop(loop);
    }
}

static int setup_signals(struct halld *h)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, 0};

    if ((h->signals = sig_watch_new(h->loop, signals, on_signal, h)) == NULL) {
        log_error("cannot set up signal handling: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int run(struct halld *h)
{
    char err[512];
    net_tls *tls;

    if (check_conf(h, &h->conf) < 0 || apply_clock(h, &h->conf) < 0 ||
        check_audit_keys(&h->conf, &h->audit_key) < 0 || make_tls(h, &h->conf, &tls) < 0)
        return 1;
    h->store = store_open(h->conf.store_path, h->conf.hall_id, STORE_DAEMON, err, sizeof err);
    if (h->store == NULL) {
        net_tls_free(tls);
        log_error("store: %s", err);
        return 1;
    }
    log_info("store %s open (schema version %d, WAL, synced at every turn)", h->conf.store_path,
             store_schema_version(h->store));
    if (*store_notice(h->store) != '\0')
        log_warn("store: %s", store_notice(h->store));
    if ((h->hall = hall_new(&h->conf, h->store, err, sizeof err)) == NULL) {
        net_tls_free(tls);
        log_error("%s", err);
        return 1;
    }
    check_sealing(h);
    if ((h->loop = ev_new()) == NULL) {
        net_tls_free(tls);
        log_error("cannot create the event loop: %s", strerror(errno));
        return 1;
    }
    ev_timer_init(&h->anchor_timer, on_anchor_timer, h);
    if (h->audit_key != NULL) {
        if (anchor_path(h->conf.store_path, h->anchors, sizeof h->anchors) < 0 ||
            ev_timer_start(h->loop, &h->anchor_timer, h->conf.anchor_interval_ms) < 0) {
            net_tls_free(tls);
            log_error("audit: cannot set up the anchors: %s", strerror(errno));
            return 1;
        }
        log_info("audit: anchoring the event log in %s every %lld s when it moves (key %s)",
                 h->anchors, (long long)(h->conf.anchor_interval_ms / 1000),
                 anchor_key_id(h->audit_key));
    }
    if (setup_signals(h) < 0) {
        net_tls_free(tls);
        return 1;
    }
    h->server = server_new(h->loop, &h->conf, tls, h->hall, err, sizeof err);
    if (h->server == NULL) {
        log_error("%s", err);
        return 1;
    }
    if ((h->webhook = webhook_new(h->loop, h->hall, err, sizeof err)) == NULL) {
        log_error("%s", err);
        return 1;
    }
    if (h->conf.webhook[0] != '\0')
        log_info("supervision: alert changes are posted to %s", h->conf.webhook);
    log_info("hall %s (%s): listening on %s:%d (%s)", h->conf.hall_id, h->conf.hall_name,
             h->conf.listen_address, server_port(h->server),
             h->dev_plaintext ? "plain TCP, development mode"
                              : "TLS 1.3, client certificates required");
    if (ev_run(h->loop) < 0) {
        log_error("event loop failed: %s", strerror(errno));
        return 1;
    }
    return server_fatal(h->server) ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"dev-plaintext", no_argument, NULL, 'P'},
        {"check-config", no_argument, NULL, 'C'},
        {"print-config", no_argument, NULL, 'p'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct halld h = {.config_path = DEFAULT_CONFIG};
    bool check_only = false;
    char err[512];
    int opt;

    while ((opt = getopt_long(argc, argv, "c:Vh", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            h.config_path = optarg;
            break;
        case 'P':
            h.dev_plaintext = true;
            break;
        case 'C':
            check_only = true;
            break;
        case 'p':
            conf_write_sample(halld_conf_options, stdout);
            return 0;
        case 'V':
            printf("halld %s\n", ONEWINDOW_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    log_open("halld", LOG_LEVEL_INFO, LOG_TO_STDERR);
    if (halld_conf_load(&h.conf, h.config_path, err, sizeof err) < 0) {
        log_error("%s", err);
        return 1;
    }
    apply_logging(&h.conf);
    if (check_only) {
        anchor_key *audit = NULL;
        int rc = check_conf(&h, &h.conf) < 0 || check_audit_keys(&h.conf, &audit) < 0 ? -1 : 0;
        anchor_key_free(audit);
        if (rc == 0 && !h.dev_plaintext) {
            net_tls *tls;
            rc = make_tls(&h, &h.conf, &tls);
            net_tls_free(tls);
        }
        if (rc == 0)
            rc = check_privacy_keys(&h.conf);
        if (rc == 0)
            printf("%s: configuration is valid\n", h.config_path);
        halld_conf_release(&h.conf);
        return rc == 0 ? 0 : 1;
    }

    log_info("halld %s starting with %s", ONEWINDOW_VERSION, h.config_path);
    h.exit_code = run(&h);
    webhook_free(h.webhook);
    server_free(h.server);
    /* The turn the stop interrupted is not committed: the committed head
     * is what is anchored. */
    anchor_head(&h, ANCHOR_STOP);
    if (h.loop != NULL)
        ev_timer_stop(h.loop, &h.anchor_timer);
    anchor_key_free(h.audit_key);
    sig_watch_free(h.signals);
    ev_free(h.loop);
    hall_free(h.hall);
    store_close(h.store);
    halld_conf_release(&h.conf);
    log_info(h.exit_code == 0 ? "stopped" : "stopped after an error");
    log_close();
    return h.exit_code;
}
