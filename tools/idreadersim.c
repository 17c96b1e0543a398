/*
 * idreadersim — a resident ID-card reader on a pseudo-terminal, for testing
 * the serial card reader driver and the kiosk without hardware.
 *
 * It opens a pty pair (openpty), prints "idreadersim: ready /dev/pts/N" on
 * stdout (and with --link makes a symbolic link to that name), and answers
 * the SAM frames written to the slave side with a software SAM (samdev in
 * drivers/idcard, which builds its cards with the driver's own encoder).
 * The card on the reader is chosen with --card and changed at run time on
 * a loopback control port (--control-port) by lines such as "place valid",
 * "remove", "fault garbage", "slow 800" or "silent on"; SIGUSR1 puts the
 * card back on or takes it away. docs/idcard.md ("The simulator") has the
 * protocol.
 *
 * Answers wait in a queue until they are due (the slow mode delays each),
 * then go to the master side; writes the pty cannot take at once wait for
 * it to drain. Nothing personal is logged: only command names, statuses and
 * card kinds.
 *
 * Exit status: 0 after SIGTERM or SIGINT, 1 when it cannot start, 2 for bad
 * usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "buf.h"
#include "clk.h"
#include "ctlport.h"
#include "ev.h"
#include "log.h"
#include "net.h"
#include "sam.h"
#include "samdev.h"
#include "sig.h"

#define HOST      "127.0.0.1"
#define BACKLOG   8
#define PENDING   16 /* answers waiting for their time */
#define SLOW_MAX  60000
#define OUT_LIMIT (PENDING * SAMDEV_REPLY_MAX)

/* An answer and the monotonic ms at which it goes out. */
struct pending {
    int64_t due;
    size_t len;
    uint8_t *bytes;
};

struct sim {
    ev_loop *loop;
    int master, slave;
    ctlport *control;
    char slave_name[128];
    const char *link;
    sig_watch *signals;
    samdev *dev;
    samdev_card last_card; /* what SIGUSR1 puts back */
    bool silent;
    int slow_ms;
    struct pending q[PENDING]; /* FIFO: head at q_first */
    size_t q_first, q_count;
    ev_timer due_timer;
    buf out; /* due answers the pty has not taken yet */
};

static void sim_describe(const struct sim *s, char *out, size_t len)
{
    snprintf(out, len, "card=%s slow=%d silent=%s commands=%lu",
             samdev_card_name(samdev_get_card(s->dev)), s->slow_ms, s->silent ? "on" : "off",
             samdev_commands(s->dev));
}

/* ------------------------------------------------------------------------
 * The pty side: answers out, commands in
 */

static void on_master(ev_loop *loop, int fd, int events, void *arg);

static void watch_master(struct sim *s)
{
    int mask = EV_READ | (buf_rlen(&s->out) > 0 ? EV_WRITE : 0);

    if (ev_fd_set(s->loop, s->master, mask, on_master, s) < 0)
        log_error("cannot watch the pty: %s", strerror(errno));
}

/* Write what the pty takes of the due answers. */
static void flush_out(struct sim *s)
{
    while (buf_rlen(&s->out) > 0) {
        ssize_t w = write(s->master, buf_rdata(&s->out), buf_rlen(&s->out));

        if (w <= 0) {
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                log_warn("pty write: %s", strerror(errno));
            break;
        }
        buf_consume(&s->out, (size_t)w);
    }
    watch_master(s);
}

static void arm_due_timer(struct sim *s)
{
    int64_t wait;

    if (s->q_count == 0) {
        ev_timer_stop(s->loop, &s->due_timer);
        return;
    }
    wait = s->q[s->q_first].due - clk_mono_ms();
    if (ev_timer_start(s->loop, &s->due_timer, wait > 0 ? wait : 0) < 0)
        log_error("cannot start a timer: %s", strerror(errno));
}

/* Move the answers that are due to the output. */
static void on_due(ev_loop *loop, ev_timer *t, void *arg)
{
    struct sim *s = arg;
    int64_t now = clk_mono_ms();

    (void)loop;
    (void)t;
    while (s->q_count > 0 && s->q[s->q_first].due <= now) {
        struct pending *p = &s->q[s->q_first];

        if (buf_append(&s->out, p->bytes, p->len) < 0)
            log_warn("output full: an answer of %zu bytes dropped", p->len);
        free(p->bytes);
        p->bytes = NULL;
        s->q_first = (s->q_first + 1) % PENDING;
        s->q_count--;
    }
    flush_out(s);
    arm_due_timer(s);
}

static void queue_answer(struct sim *s, const uint8_t *bytes, size_t len)
{
    struct pending *p;

    if (s->q_count == PENDING) {
        log_warn("too many answers waiting: one of %zu bytes dropped", len);
        return;
    }
    p = &s->q[(s->q_first + s->q_count) % PENDING];
    p->bytes = malloc(len);
    if (p->bytes == NULL) {
        log_warn("out of memory: an answer dropped");
        return;
    }
    memcpy(p->bytes, bytes, len);
    p->len = len;
    p->due = clk_mono_ms() + s->slow_ms;
    s->q_count++;
    arm_due_timer(s);
}

static void answer_commands(struct sim *s)
{
    static uint8_t reply[SAMDEV_REPLY_MAX];
    size_t n;

    while ((n = samdev_reply(s->dev, reply, sizeof reply)) > 0) {
        if (s->silent) {
            log_debug("silent: a command left unanswered");
            continue;
        }
        /* Byte 9 is SW3 in a complete answer; faults may cut it away. */
        if (n > SAM_HEADER_LEN + 2)
            log_debug("answer: SW3 %02X, %zu bytes", reply[SAM_HEADER_LEN + 2], n);
        queue_answer(s, reply, n);
    }
}

static void on_master(ev_loop *loop, int fd, int events, void *arg)
{
    struct sim *s = arg;
    uint8_t in[1024];

    (void)loop;
    if (events & EV_WRITE)
        flush_out(s);
    if (!(events & EV_READ))
        return;
    for (;;) {
        ssize_t n = read(fd, in, sizeof in);

        if (n > 0) {
            if (samdev_push(s->dev, in, (size_t)n) < 0)
                log_warn("input overrun: unanswered bytes dropped");
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            log_warn("pty read: %s", strerror(errno));
        break;
    }
    answer_commands(s);
}

/* ------------------------------------------------------------------------
 * Control: one command a line on the control port
 */

static void set_card(struct sim *s, samdev_card c)
{
    samdev_set_card(s->dev, c);
    if (c != SAMDEV_NONE)
        s->last_card = c;
    log_info("card %s", c == SAMDEV_NONE ? "removed" : samdev_card_name(c));
}

static int parse_ms(const char *arg, int *ms)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v < 0 || v > SLOW_MAX)
        return -1;
    *ms = (int)v;
    return 0;
}

/* One control line; a sentence in why and -1 if it is not a command.
 * line is cut into words in place. */
static int control_apply(struct sim *s, char *line, char *why, size_t whylen)
{
    char *verb = strtok(line, " "), *a1 = strtok(NULL, " "), *a2 = strtok(NULL, " ");
    samdev_card c;
    samdev_fault f;

    if (verb == NULL || strtok(NULL, " ") != NULL) {
        snprintf(why, whylen, "one command and at most two arguments");
        return -1;
    }
    if (strcmp(verb, "place") == 0 && a1 != NULL && a2 == NULL && samdev_card_parse(a1, &c) == 0) {
        set_card(s, c);
    } else if (strcmp(verb, "remove") == 0 && a1 == NULL) {
        set_card(s, SAMDEV_NONE);
    } else if (strcmp(verb, "fault") == 0 && a1 != NULL && samdev_fault_parse(a1, &f) == 0 &&
               (a2 == NULL || strcmp(a2, "any") == 0)) {
        samdev_set_fault(s->dev, f, a2 != NULL);
        log_info("fault %s armed for the next %s", a1, a2 != NULL ? "answer" : "read answer");
    } else if (strcmp(verb, "slow") == 0 && a1 != NULL && a2 == NULL &&
               parse_ms(a1, &s->slow_ms) == 0) {
        log_info("answers delayed by %d ms", s->slow_ms);
    } else if (strcmp(verb, "silent") == 0 && a1 != NULL && a2 == NULL &&
               (strcmp(a1, "on") == 0 || strcmp(a1, "off") == 0)) {
        s->silent = strcmp(a1, "on") == 0;
        log_info("silent %s", a1);
    } else if (strcmp(verb, "status") != 0 || a1 != NULL) {
        snprintf(why, whylen, "unknown command: %s", verb);
        return -1;
    }
    return 0;
}

/* One control line: "ok" and the state after the change, or "error" and
 * why. */
static void control_line(void *arg, const char *line, FILE *out)
{
    struct sim *s = arg;
    char words[CTLPORT_LINE_MAX + 1], state[128], why[CTLPORT_LINE_MAX + 32];

    snprintf(words, sizeof words, "%s", line);
    if (control_apply(s, words, why, sizeof why) == 0) {
        sim_describe(s, state, sizeof state);
        fprintf(out, "ok %s\n", state);
    } else {
        fprintf(out, "error %s\n", why);
    }
}

/* ------------------------------------------------------------------------
 * Signals and main
 */

static void on_signal(ev_loop *loop, int signo, void *arg)
{
    struct sim *s = arg;

    if (signo == SIGUSR1) {
        set_card(s, samdev_get_card(s->dev) == SAMDEV_NONE ? s->last_card : SAMDEV_NONE);
    } else {
        log_info("%s: stopping", strsignal(signo));
        ev_stop(loop);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: idreadersim [--card KIND] [--link PATH] [--control-port N]\n"
               "                   [--slow MS] [--silent] [--log-level error|warn|info|debug]\n"
               "A resident ID-card reader (SAM protocol) on a pseudo-terminal.\n"
               "KIND: none valid expired bad-check bad-date permanent permanent-2017 hkmt.\n"
               "Control lines on --control-port (127.0.0.1; 0 picks a free port):\n"
               "  place KIND | remove | fault garbage|noise|truncated|bad-checksum [any] |\n"
               "  slow MS | silent on|off | status\n"
               "Signals: SIGUSR1 takes the card away or puts it back, SIGTERM/SIGINT stop.\n");
}

static int parse_port(const char *arg, int *port)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v < 0 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static int open_pty(struct sim *s)
{
    struct termios raw;

    memset(&raw, 0, sizeof raw);
    cfmakeraw(&raw);
    cfsetispeed(&raw, B115200);
    cfsetospeed(&raw, B115200);
    if (openpty(&s->master, &s->slave, s->slave_name, &raw, NULL) < 0) {
        log_error("openpty: %s", strerror(errno));
        return -1;
    }
    /* The slave stays open here too, so the master never sees a hang-up
     * while the driver closes and reopens the device. */
    if (fcntl(s->master, F_SETFL, fcntl(s->master, F_GETFL) | O_NONBLOCK) < 0 ||
        fcntl(s->master, F_SETFD, FD_CLOEXEC) < 0 || fcntl(s->slave, F_SETFD, FD_CLOEXEC) < 0) {
        log_error("pty flags: %s", strerror(errno));
        return -1;
    }
    if (s->link != NULL) {
        unlink(s->link);
        if (symlink(s->slave_name, s->link) < 0) {
            log_error("link %s -> %s: %s", s->link, s->slave_name, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int sim_start(struct sim *s, int control_port)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGUSR1, 0};
    char err[NET_ERR_LEN];

    if ((s->loop = ev_new()) == NULL) {
        log_error("cannot create the event loop: %s", strerror(errno));
        return -1;
    }
    if ((s->signals = sig_watch_new(s->loop, signals, on_signal, s)) == NULL) {
        log_error("cannot set up signal handling: %s", strerror(errno));
        return -1;
    }
    ev_timer_init(&s->due_timer, on_due, s);
    buf_init(&s->out, OUT_LIMIT);
    if (open_pty(s) < 0)
        return -1;
    watch_master(s);
    if (control_port >= 0) {
        if ((s->control = ctlport_new(s->loop, HOST, control_port, control_line, s, err)) == NULL) {
            log_error("control port %s:%d: %s", HOST, control_port, err);
            return -1;
        }
        printf("idreadersim: control on %s:%d\n", HOST, ctlport_port(s->control));
    }
    printf("idreadersim: ready %s\n", s->slave_name);
    fflush(stdout);
    return 0;
}

static void sim_stop(struct sim *s)
{
    ctlport_free(s->control);
    while (s->q_count > 0) {
        free(s->q[s->q_first].bytes);
        s->q_first = (s->q_first + 1) % PENDING;
        s->q_count--;
    }
    if (s->loop != NULL) {
        ev_timer_stop(s->loop, &s->due_timer);
        if (s->master >= 0)
            ev_fd_del(s->loop, s->master);
    }
    sig_watch_free(s->signals);
    /* Frees the closed control connections (deferred frees). */
    ev_free(s->loop);
    buf_release(&s->out);
    if (s->link != NULL && s->slave_name[0] != '\0')
        unlink(s->link);
    if (s->master >= 0)
        close(s->master);
    if (s->slave >= 0)
        close(s->slave);
    samdev_free(s->dev);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {{"card", required_argument, NULL, 'c'},
                                            {"link", required_argument, NULL, 'L'},
                                            {"control-port", required_argument, NULL, 'p'},
                                            {"slow", required_argument, NULL, 's'},
                                            {"silent", no_argument, NULL, 'S'},
                                            {"log-level", required_argument, NULL, 'l'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    struct sim s = {.master = -1, .slave = -1, .last_card = SAMDEV_VALID};
    samdev_card card = SAMDEV_VALID;
    int opt, control_port = -1, level = LOG_LEVEL_INFO, rc = 1;

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            if (samdev_card_parse(optarg, &card) < 0) {
                fprintf(stderr, "idreadersim: unknown card: %s\n", optarg);
                return 2;
            }
            break;
        case 'L':
            s.link = optarg;
            break;
        case 'p':
            if (parse_port(optarg, &control_port) < 0) {
                fprintf(stderr, "idreadersim: bad port: %s\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (parse_ms(optarg, &s.slow_ms) < 0) {
                fprintf(stderr, "idreadersim: bad delay (0..%d ms): %s\n", SLOW_MAX, optarg);
                return 2;
            }
            break;
        case 'S':
            s.silent = true;
            break;
        case 'l':
            if ((level = log_level_parse(optarg)) < 0) {
                fprintf(stderr, "idreadersim: bad log level: %s\n", optarg);
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
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_open("idreadersim", (enum log_level)level, LOG_TO_STDERR);
    if ((s.dev = samdev_new(card)) == NULL) {
        log_error("cannot make the reader: %s", strerror(errno));
        return 1;
    }
    if (card != SAMDEV_NONE)
        s.last_card = card;
    if (sim_start(&s, control_port) == 0) {
        char state[128];

        sim_describe(&s, state, sizeof state);
        log_info("ready on %s: %s", s.slave_name, state);
        rc = ev_run(s.loop) < 0 ? 1 : 0;
    }
    sim_stop(&s);
    log_close();
    return rc;
}
