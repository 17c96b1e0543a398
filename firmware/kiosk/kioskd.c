/*
 * kioskd — the kiosk daemon: reads its configuration, makes the kiosk
 * object (devices, flow, link to halld, store) and its touch page (kpage,
 * served to the kiosk's browser) on one event loop, and stops cleanly on SIGTERM or SIGINT: the
 * kiosk stops taking tickets, the print job in flight and the confirmations already sent get up to
 * SHUTDOWN_MS to finish, then everything is closed (what was not
 * confirmed stays in the store and is sent after the next start).
 *
 * Watchdog: under a manager that speaks the systemd notify protocol
 * (systemd with Type=notify and WatchdogSec=, or kioskwatch), kioskd says
 * READY=1 once the page is served and WATCHDOG=1 from its event loop at
 * half the interval the manager asked for: a loop that hangs stops the
 * keep-alives, and the manager restarts kioskd.
 *
 * Exit status: 0 after a clean stop, 1 when the kiosk cannot start, 2 for
 * a bad command line or configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "ev.h"
#include "kiosk.h"
#include "kiosk_conf.h"
#include "kpage.h"
#include "log.h"
#include "sdnotify.h"
#include "sig.h"

#define SHUTDOWN_MS 5000
#define DRAIN_MS    100

struct daemon {
    ev_loop *loop;
    kiosk *kiosk;
    kpage *page;
    ev_timer drain, watchdog;
    int64_t stop_by, watchdog_ms;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: kioskd [--config FILE] [--sim] [--print-config]\n"
               "  -c, --config FILE   configuration file (default /etc/onewindow/kioskd.ini)\n"
               "      --sim           in-process simulated printer and ID card reader\n"
               "      --print-config  print the configuration in effect (with --config), or\n"
               "                      a sample with every key, then exit\n"
               "  -h, --help          this text\n");
}

/* The hall clock's source, set before the kiosk reads the clock or starts
 * its device threads. A kiosk must never run on a simulated clock by
 * accident, so one that is not the system clock is a warning. */
static int apply_clock(const kiosk_conf *c)
{
    clk_zone *zone;
    char what[96];

    if (c->clock.system)
        return 0;
    if (clk_set_source(&c->clock) < 0) {
        log_error("[clock]: %s", strerror(errno));
        return -1;
    }
    zone = clk_zone_new(c->time_zone);
    clk_describe(zone, c->clock.rate, what, sizeof what);
    clk_zone_free(zone);
    log_warn("clock: NOT the system clock: %s ([clock] start = %s, rate = %s, anchor = %s); for "
             "simulations and tests only",
             what, c->clock_start, c->clock_rate,
             c->clock_anchor[0] != '\0' ? c->clock_anchor : "the start of kioskd");
    return 0;
}

static void on_drain(ev_loop *loop, ev_timer *t, void *arg)
{
    struct daemon *d = arg;

    if (kiosk_idle(d->kiosk) || ev_now(loop) >= d->stop_by) {
        if (!kiosk_idle(d->kiosk))
            log_warn("stopping with work in flight: it is kept in the store for the next start");
        ev_stop(loop);
        return;
    }
    ev_timer_start(loop, &d->drain, DRAIN_MS);
}

/* The page reads the kiosk's screen model and hands it the citizen's
 * actions; the kiosk tells the page when the model changed. */
static int page_state(void *arg, buf *out)
{
    return kiosk_state_json(arg, out);
}

static int page_action(void *arg, const char *name, const char *param, char *err, size_t errlen)
{
    return kiosk_action(arg, name, param, err, errlen);
}

static int page_ticket_qr(void *arg, buf *out)
{
    return kiosk_ticket_qr_svg(arg, out);
}

/* A keep-alive from the loop itself: sent only while the loop turns. */
static void on_watchdog(ev_loop *loop, ev_timer *t, void *arg)
{
    struct daemon *d = arg;

    if (sdnotify_send("WATCHDOG=1") < 0)
        log_warn("watchdog keep-alive: %s", strerror(errno));
    ev_timer_start(loop, &d->watchdog, d->watchdog_ms / 2 > 0 ? d->watchdog_ms / 2 : 1);
}

static void model_changed(void *arg)
{
    kpage_changed(arg);
}

static void on_signal(ev_loop *loop, int signo, void *arg)
{
    struct daemon *d = arg;

    if (ev_timer_active(&d->drain))
        return;
    log_info("%s: closing the kiosk", strsignal(signo));
    (void)sdnotify_send("STOPPING=1");
    kiosk_shutdown(d->kiosk);
    d->stop_by = ev_now(loop) + SHUTDOWN_MS;
    ev_timer_start(loop, &d->drain, 0);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"sim", no_argument, NULL, 's'},
        {"print-config", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool sim = false, print = false;
    int c;

    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 's':
            sim = true;
            break;
        case 'p':
            print = true;
            break;
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
    if (print && path == NULL) {
        kiosk_conf_write_sample(stdout);
        return 0;
    }
    if (path == NULL)
        path = "/etc/onewindow/kioskd.ini";

    kiosk_conf conf = {0};
    char err[512];
    if (kiosk_conf_load(&conf, path, sim, err, sizeof err) < 0) {
        fprintf(stderr, "kioskd: %s\n", err);
        return 2;
    }
    if (print) {
        kiosk_conf_print(&conf, stdout);
        kiosk_conf_release(&conf);
        return 0;
    }

    log_open("kioskd", (enum log_level)conf.log_level, LOG_TO_STDERR);
    if (conf.retired_reserve_margin[0] != '\0')
        log_warn("%s: [flow] reserve_margin is no longer used (a ticket halld answered is "
                 "always printed): remove the line",
                 path);
    if (conf.retired_hall_secret_file[0] != '\0')
        log_warn("%s: [idcard] hall_secret_file is no longer used: the kiosk does not hold the "
                 "hall secret any more (halld hashes ID numbers); remove the line, and delete "
                 "%s from the kiosk",
                 path, conf.retired_hall_secret_file);
    struct daemon d = {0};
    static const int signals[] = {SIGTERM, SIGINT, 0};
    sig_watch *sw = NULL;
    int status = 1;

    ev_timer_init(&d.drain, on_drain, &d);
    ev_timer_init(&d.watchdog, on_watchdog, &d);
    if (apply_clock(&conf) < 0)
        goto out;
    if ((d.loop = ev_new()) == NULL ||
        (sw = sig_watch_new(d.loop, signals, on_signal, &d)) == NULL) {
        log_error("cannot start the event loop: %s", strerror(errno));
        goto out;
    }
    if ((d.kiosk = kiosk_new(d.loop, &conf, err, sizeof err)) == NULL) {
        log_error("%s", err);
        goto out;
    }
    static const kpage_callbacks page_cb = {.state = page_state, .action = page_action};
    if ((d.page = kpage_new(d.loop, conf.page_address, (int)conf.page_port, &page_cb, d.kiosk, err,
                            sizeof err)) == NULL) {
        log_error("touch page: %s", err);
        goto out;
    }
    kpage_set_hold_ms(d.page, (int)conf.page_hold_ms);
    kpage_set_ticket_qr(d.page, page_ticket_qr);
    kiosk_set_change_hook(d.kiosk, model_changed, d.page);
    log_info("kiosk %s started (halld %s%s), touch page on http://%s:%d/", conf.id, conf.address,
             sim ? ", simulated printer and card reader" : "", conf.page_address,
             kpage_port(d.page));
    if (sdnotify_send("READY=1") < 0)
        log_warn("NOTIFY_SOCKET: %s", strerror(errno));
    if ((d.watchdog_ms = sdnotify_watchdog_ms()) > 0) {
        log_info("watchdog: a keep-alive every %lld ms", (long long)(d.watchdog_ms / 2));
        on_watchdog(d.loop, &d.watchdog, &d);
    }
    if (ev_run(d.loop) < 0)
        log_error("event loop: %s", strerror(errno));
    else
        status = 0;
    ev_timer_stop(d.loop, &d.drain);
    ev_timer_stop(d.loop, &d.watchdog);
    log_info("kiosk %s stopped", conf.id);
out:
    if (d.kiosk != NULL)
        kiosk_set_change_hook(d.kiosk, NULL, NULL);
    kpage_free(d.page);
    kiosk_free(d.kiosk);
    sig_watch_free(sw);
    ev_free(d.loop);
    kiosk_conf_release(&conf);
    log_close();
    return status;
}
