/*
 * faultproxy — a TCP proxy on loopback that injects network faults between
 * devices and halld, for the reliability harness (bench/reliability).
 *
 *     client --> [ listen ] faultproxy [ connect ] --> halld
 *
 * Each accepted connection gets its own connection upstream; bytes are
 * forwarded both ways through two lanes (client->server, server->client).
 * TLS passes through as opaque bytes: the proxy never terminates it, as a
 * faulty network would not. The faults, each drawn from one seeded random
 * sequence (--seed) so a run can be repeated:
 *
 *   drop     P     per batch of bytes read: close both sides at once
 *   reset    P     per batch: close both sides with an RST (SO_LINGER 0)
 *   delay    P MS  per batch: hold it (and all that follows in that
 *                  direction, to keep the order) for MS milliseconds
 *   partial  P     per batch: forward it in chunks of 1..16 bytes, 1 ms apart
 *   dup      P     per frame, client->server only, with --frames: send the
 *                  whole frame twice in a row
 *
 * With --frames the client->server lane parses the 4-byte length framing
 * (frame_next) and forwards whole frames only, which is what duplication
 * needs; it therefore works only on plaintext links (halld --dev-plaintext).
 * A stream that is not valid framing is passed on raw for the rest of that
 * connection, for halld to refuse.
 *
 * Control: lines on standard input change the rates while it runs ("drop
 * 0.05", "delay 0.1 200", "stats", "help"); the answers go to standard
 * output. SIGTERM or SIGINT stop it, printing the count of every fault
 * injected as one line on standard error:
 *
 *   faultproxy: stopped: connections=N drop=N reset=N delay=N partial=N dup=N
 *               c2s_bytes=N s2c_bytes=N        (one line)
 *
 * Exit status: 0 after a stop by signal, 1 when it cannot start, 2 for bad
 * usage.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "clk.h"
#include "ev.h"
#include "frame.h"
#include "net.h"
#include "sig.h"

#define CHUNK_MAX      16 /* largest piece of a partial write */
#define CHUNK_GAP_MS   1
#define CONTROL_MAX    256
#define DELAY_MAX_MS   60000
#define IN_LIMIT       (FRAME_MAX + FRAME_HEADER)
#define LISTEN_BACKLOG 128

enum side { SIDE_CLIENT, SIDE_SERVER };

/* What a run injected. */
struct counts {
    uint64_t connections, drop, reset, delay, partial, dup, c2s_bytes, s2c_bytes;
};

/* The fault rates, as probabilities in [0, 1]. */
struct rates {
    double drop, reset, delay, partial, dup;
    int delay_ms;
};

typedef struct proxy proxy;
typedef struct pair pair;

/* Bytes from one side on their way to the other, in order. Bytes wait in
 * held while a delay runs or while a partial write sends them piecemeal;
 * otherwise they go straight through. */
struct lane {
    pair *lk;
    enum side from;     /* the side these bytes come from */
    buf held;           /* not yet handed to the other side */
    int64_t hold_until; /* monotonic ms; nothing is sent before */
    size_t chunked;     /* bytes at the head of held to send in small chunks */
    bool close_after;   /* the source has gone: close the other side once held is out */
    ev_timer timer;
};

/*
 * A pair is a client connection and its own connection upstream:
 *
 *   OPEN --one side closed [on_close]--> HALF --the other closed--> RELEASED
 *     |                                   |                           ^
 *     +--drop, reset [pair_kill]----------+--> DYING --both closed----+
 *
 * In HALF the side still open gets what the closed side had sent, then is
 * closed too; whatever it sends meanwhile has nowhere to go and is
 * discarded. A RELEASED pair is unlinked and freed at the end of the turn.
 */
enum pair_state { PAIR_OPEN, PAIR_HALF, PAIR_DYING, PAIR_RELEASED };

struct pair {
    proxy *px;
    net_conn *conn[2];
    int fd[2]; /* the sockets under conn[], for SO_LINGER */
    struct lane lane[2];
    enum pair_state state;
    bool raw; /* --frames gave up on this pair: forward as a stream */
    pair *prev, *next;
};

struct proxy {
    ev_loop *loop;
    int listen_fd;
    sig_watch *signals;
    bool control; /* standard input is watched */
    char up_host[256];
    int up_port;
    bool frames;
    struct rates r;
    uint64_t rng;
    struct counts n;
    pair *pairs;
    char ctl[CONTROL_MAX];
    size_t ctl_len;
};

/* ---- Random numbers ------------------------------------------------------- */

/* splitmix64: small, fast, and the same sequence for the same seed. */
static uint64_t rng_next(proxy *px)
{
    uint64_t z = (px->rng += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* True with probability p. */
static bool chance(proxy *px, double p)
{
    if (p <= 0.0)
        return false;
    return (double)(rng_next(px) >> 11) * 0x1.0p-53 < p;
}

/* ---- Pairs ------------------------------------------------------------------ */

static void pair_assert_state(const pair *lk)
{
    switch (lk->state) {
    case PAIR_OPEN:
        assert(lk->conn[SIDE_CLIENT] != NULL && lk->conn[SIDE_SERVER] != NULL);
        break;
    case PAIR_HALF:
        assert((lk->conn[SIDE_CLIENT] == NULL) != (lk->conn[SIDE_SERVER] == NULL));
        break;
    case PAIR_DYING:
        break;
    case PAIR_RELEASED:
        assert(lk->conn[SIDE_CLIENT] == NULL && lk->conn[SIDE_SERVER] == NULL);
        assert(!ev_timer_active(&lk->lane[0].timer) && !ev_timer_active(&lk->lane[1].timer));
        break;
    }
}

static void pair_free(void *obj)
{
    pair *lk = obj;

    buf_release(&lk->lane[0].held);
    buf_release(&lk->lane[1].held);
    free(lk);
}

/* Both sides are closed: unlink and free after this turn. */
static void pair_release(pair *lk)
{
    proxy *px = lk->px;

    if (lk->state == PAIR_RELEASED)
        return;
    lk->state = PAIR_RELEASED;
    ev_timer_stop(px->loop, &lk->lane[0].timer);
    ev_timer_stop(px->loop, &lk->lane[1].timer);
    pair_assert_state(lk);
    if (lk->prev)
        lk->prev->next = lk->next;
    else
        px->pairs = lk->next;
    if (lk->next)
        lk->next->prev = lk->prev;
    if (ev_defer_free(px->loop, pair_free, lk) < 0)
        fprintf(stderr, "faultproxy: out of memory; leaking a connection pair\n");
}

/* A drop or a reset: both sides go at once, whatever is held is lost. An
 * RST is what close() sends with SO_LINGER on and a zero timeout. */
static void pair_kill(pair *lk, bool reset, const char *why)
{
    static const struct linger rst = {.l_onoff = 1, .l_linger = 0};

    assert(lk->state == PAIR_OPEN || lk->state == PAIR_HALF || lk->state == PAIR_DYING);
    lk->state = PAIR_DYING;
    for (int s = SIDE_CLIENT; s <= SIDE_SERVER; s++) {
        if (lk->conn[s] == NULL)
            continue;
        if (reset)
            setsockopt(lk->fd[s], SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
        net_conn_close(lk->conn[s], false, why);
    }
}

/* Hand held bytes of p to the other side as the delay and the chunking
 * allow, and arm the timer for the rest. */
static void lane_pump(struct lane *p)
{
    pair *lk = p->lk;
    proxy *px = lk->px;
    net_conn *to = lk->conn[p->from == SIDE_CLIENT ? SIDE_SERVER : SIDE_CLIENT];
    size_t n;

    if (to == NULL)
        return;
    while (buf_rlen(&p->held) > 0) {
        int64_t now = clk_mono_ms();
        if (now < p->hold_until) {
            ev_timer_start(px->loop, &p->timer, p->hold_until - now);
            return;
        }
        n = buf_rlen(&p->held);
        if (p->chunked > 0) {
            size_t piece = 1 + (size_t)(rng_next(px) % CHUNK_MAX);
            if (piece > p->chunked)
                piece = p->chunked;
            n = piece < n ? piece : n;
            p->chunked -= n;
        }
        if (net_conn_write(to, buf_rdata(&p->held), n) < 0)
            return; /* closed: on_close has cleared this lane */
        buf_consume(&p->held, n);
        net_conn_flush(to);
        if (lk->conn[p->from == SIDE_CLIENT ? SIDE_SERVER : SIDE_CLIENT] == NULL)
            return;
        if (p->chunked > 0 && buf_rlen(&p->held) > 0) {
            ev_timer_start(px->loop, &p->timer, CHUNK_GAP_MS);
            return;
        }
    }
    p->chunked = 0;
    if (p->close_after)
        net_conn_close(to, true, "the other side closed");
}

static void lane_on_timer(ev_loop *loop, ev_timer *t, void *arg)
{
    (void)loop, (void)t;
    lane_pump(arg);
}

/* Queue bytes on p, duplicating whole frames when asked. */
static int lane_put(struct lane *p, const uint8_t *data, size_t len, bool frame)
{
    proxy *px = p->lk->px;

    if (buf_append(&p->held, data, len) < 0)
        return -1;
    if (frame && chance(px, px->r.dup)) {
        if (buf_append(&p->held, data, len) < 0)
            return -1;
        px->n.dup++;
    }
    return 0;
}

/* How many bytes at the start of data are whole frames (all of them once
 * the link has gone raw). A bad stream turns the link raw. */
static size_t whole_frames(pair *lk, const uint8_t *data, size_t len)
{
    size_t at = 0, used, plen;
    const uint8_t *payload;
    int rc;

    if (lk->raw)
        return len;
    while ((rc = frame_next(data + at, len - at, FRAME_MAX, &payload, &plen, &used)) == 1)
        at += used;
    if (rc < 0) {
        lk->raw = true;
        return len;
    }
    return at;
}

static void on_data(net_conn *c, buf *in, void *arg)
{
    struct lane *p = arg;
    pair *lk = p->lk;
    proxy *px = lk->px;
    const uint8_t *data = buf_rdata(in);
    bool framed = px->frames && p->from == SIDE_CLIENT;
    size_t len = framed ? whole_frames(lk, data, buf_rlen(in)) : buf_rlen(in);
    int rc = 0;

    (void)c;
    if (lk->state != PAIR_OPEN) {
        buf_clear(in);
        return;
    }
    if (len == 0)
        return; /* part of a frame: wait for the rest */
    if (chance(px, px->r.drop)) {
        px->n.drop++;
        pair_kill(lk, false, "dropped by faultproxy");
        return;
    }
    if (chance(px, px->r.reset)) {
        px->n.reset++;
        pair_kill(lk, true, "reset by faultproxy");
        return;
    }
    if (chance(px, px->r.delay)) {
        int64_t until = clk_mono_ms() + px->r.delay_ms;
        px->n.delay++;
        if (until > p->hold_until)
            p->hold_until = until;
    }
    if (chance(px, px->r.partial)) {
        px->n.partial++;
        p->chunked = buf_rlen(&p->held) + len;
    }
    if (p->from == SIDE_CLIENT)
        px->n.c2s_bytes += len;
    else
        px->n.s2c_bytes += len;
    if (framed && !lk->raw) {
        size_t at = 0, used, plen;
        const uint8_t *payload;
        while (rc == 0 && at < len &&
               frame_next(data + at, len - at, FRAME_MAX, &payload, &plen, &used) == 1) {
            rc = lane_put(p, data + at, used, true);
            at += used;
        }
    } else {
        rc = lane_put(p, data, len, false);
    }
    buf_consume(in, len);
    if (rc < 0) {
        pair_kill(lk, false, "faultproxy is out of memory");
        return;
    }
    lane_pump(p);
}

static void on_close(net_conn *c, const char *reason, void *arg)
{
    struct lane *p = arg;
    pair *lk = p->lk;
    proxy *px = lk->px;
    enum side side = p->from, other = side == SIDE_CLIENT ? SIDE_SERVER : SIDE_CLIENT;
    struct lane *toward = &lk->lane[other]; /* carries bytes to this side */

    (void)c, (void)reason;
    lk->conn[side] = NULL;
    ev_timer_stop(px->loop, &toward->timer);
    buf_clear(&toward->held);
    toward->chunked = 0;
    if (lk->conn[other] == NULL) {
        pair_release(lk);
        return;
    }
    if (lk->state == PAIR_DYING)
        return; /* pair_kill closes the other side */
    assert(lk->state == PAIR_OPEN);
    lk->state = PAIR_HALF;
    pair_assert_state(lk);
    /* What this side sent still reaches the other one, then it closes. */
    p->close_after = true;
    if (!ev_timer_active(&p->timer))
        lane_pump(p);
}

static const net_conn_handlers pair_handlers = {NULL, on_data, on_close};

static void accept_one(proxy *px, int fd)
{
    char err[NET_ERR_LEN];
    pair *lk = calloc(1, sizeof *lk);

    if (lk == NULL) {
        close(fd);
        return;
    }
    lk->px = px;
    for (int s = SIDE_CLIENT; s <= SIDE_SERVER; s++) {
        lk->lane[s].lk = lk;
        lk->lane[s].from = (enum side)s;
        buf_init(&lk->lane[s].held, 0);
        ev_timer_init(&lk->lane[s].timer, lane_on_timer, &lk->lane[s]);
    }
    int up = net_connect(px->up_host, px->up_port, err);
    if (up < 0) {
        fprintf(stderr, "faultproxy: %s\n", err);
        close(fd);
        free(lk);
        return;
    }
    lk->fd[SIDE_CLIENT] = fd;
    lk->fd[SIDE_SERVER] = up;
    lk->conn[SIDE_CLIENT] =
        net_conn_new(px->loop, fd, NULL, true, IN_LIMIT, 0, &pair_handlers, &lk->lane[SIDE_CLIENT]);
    lk->conn[SIDE_SERVER] = net_conn_new(px->loop, up, NULL, false, IN_LIMIT, 0, &pair_handlers,
                                         &lk->lane[SIDE_SERVER]);
    if (lk->conn[SIDE_CLIENT] == NULL || lk->conn[SIDE_SERVER] == NULL) {
        fprintf(stderr, "faultproxy: cannot set up a connection pair: %s\n", strerror(errno));
        /* Neither conn has run a callback yet: pair_kill closes the one
         * that exists, and its on_close releases the pair. */
        lk->state = PAIR_DYING;
        if (lk->conn[SIDE_CLIENT] == NULL && lk->conn[SIDE_SERVER] == NULL) {
            free(lk);
            return;
        }
    }
    lk->next = px->pairs;
    if (px->pairs)
        px->pairs->prev = lk;
    px->pairs = lk;
    px->n.connections++;
    if (lk->state == PAIR_DYING)
        pair_kill(lk, false, "cannot set up the connection pair");
}

static void on_accept(ev_loop *loop, int fd, int events, void *arg)
{
    proxy *px = arg;
    char err[NET_ERR_LEN];
    int cfd;

    (void)loop, (void)events;
    while ((cfd = net_accept(fd, NULL, 0, err)) >= 0)
        accept_one(px, cfd);
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        fprintf(stderr, "faultproxy: %s\n", err);
}

/* ---- Control and signals ---------------------------------------------------- */

static void print_counts(FILE *f, const char *what, const struct counts *n)
{
    fprintf(f,
            "faultproxy: %s: connections=%" PRIu64 " drop=%" PRIu64 " reset=%" PRIu64
            " delay=%" PRIu64 " partial=%" PRIu64 " dup=%" PRIu64 " c2s_bytes=%" PRIu64
            " s2c_bytes=%" PRIu64 "\n",
            what, n->connections, n->drop, n->reset, n->delay, n->partial, n->dup, n->c2s_bytes,
            n->s2c_bytes);
    fflush(f);
}

static void print_rates(FILE *f, const proxy *px)
{
    fprintf(f, "ok: drop=%g reset=%g delay=%g:%d partial=%g dup=%g\n", px->r.drop, px->r.reset,
            px->r.delay, px->r.delay_ms, px->r.partial, px->r.dup);
    fflush(f);
}

static bool parse_prob(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
        return false;
    *out = v;
    return true;
}

static bool parse_ms(const char *s, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > DELAY_MAX_MS)
        return false;
    *out = (int)v;
    return true;
}

/* One control line: "<fault> P", "delay P MS", "stats" or "help". The
 * answer is one line on standard output. */
static void control_line(proxy *px, char *line)
{
    char *words[4] = {NULL, NULL, NULL, NULL};
    char *save = NULL;
    int n = 0;
    double p;

    for (char *w = strtok_r(line, " \t\r", &save); w != NULL && n < 4;
         w = strtok_r(NULL, " \t\r", &save))
        words[n++] = w;
    if (n == 0)
        return;
    if (strcmp(words[0], "stats") == 0 && n == 1) {
        print_counts(stdout, "stats", &px->n);
        return;
    }
    if (strcmp(words[0], "help") == 0 && n == 1) {
        printf("commands: drop P | reset P | partial P | dup P | delay P MS | stats | help\n");
        fflush(stdout);
        return;
    }
    if (strcmp(words[0], "delay") == 0) {
        int ms;
        if (n != 3 || !parse_prob(words[1], &p) || !parse_ms(words[2], &ms)) {
            printf("error: delay wants a probability (0..1) and milliseconds (0..%d)\n",
                   DELAY_MAX_MS);
            fflush(stdout);
            return;
        }
        px->r.delay = p;
        px->r.delay_ms = ms;
        print_rates(stdout, px);
        return;
    }
    double *slot = strcmp(words[0], "drop") == 0      ? &px->r.drop
                   : strcmp(words[0], "reset") == 0   ? &px->r.reset
                   : strcmp(words[0], "partial") == 0 ? &px->r.partial
                   : strcmp(words[0], "dup") == 0     ? &px->r.dup
                                                      : NULL;
    if (slot == NULL || n != 2 || !parse_prob(words[1], &p)) {
        printf("error: unknown command or bad value (try: help)\n");
        fflush(stdout);
        return;
    }
    if (slot == &px->r.dup && p > 0.0 && !px->frames) {
        printf("error: dup needs --frames (plaintext links)\n");
        fflush(stdout);
        return;
    }
    *slot = p;
    print_rates(stdout, px);
}

static void on_control(ev_loop *loop, int fd, int events, void *arg)
{
    proxy *px = arg;
    ssize_t got;

    (void)events;
    got = read(fd, px->ctl + px->ctl_len, sizeof px->ctl - 1 - px->ctl_len);
    if (got <= 0) {
        if (got < 0 && errno == EINTR)
            return;
        ev_fd_del(loop, fd); /* end of the control stream: keep running */
        px->control = false;
        return;
    }
    px->ctl_len += (size_t)got;
    px->ctl[px->ctl_len] = '\0';
    char *start = px->ctl, *nl;
    while ((nl = strchr(start, '\n')) != NULL) {
        *nl = '\0';
        control_line(px, start);
        start = nl + 1;
    }
    size_t rest = px->ctl_len - (size_t)(start - px->ctl);
    if (rest == sizeof px->ctl - 1) { /* a line longer than any command */
        printf("error: control line too long\n");
        fflush(stdout);
        rest = 0;
    }
    memmove(px->ctl, start, rest);
    px->ctl_len = rest;
}

static void on_signal(ev_loop *loop, int signo, void *arg)
{
    (void)signo, (void)arg;
    ev_stop(loop);
}

/* ---- Start-up ---------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: faultproxy --upstream HOST:PORT [--listen HOST:PORT] [--seed N] [--frames]\n"
            "                  [--drop P] [--reset P] [--delay P:MS] [--partial P] [--dup P]\n"
            "  A TCP proxy on loopback that injects faults; P is a probability 0..1.\n"
            "  --listen HOST:PORT  where clients connect (default 127.0.0.1:0, a free port;\n"
            "                      the port is logged: \"listening on 127.0.0.1:PORT\")\n"
            "  --upstream HOST:PORT  the server (halld), on loopback\n"
            "  --seed N            the random sequence (default 1)\n"
            "  --drop P            per batch of bytes: close both sides\n"
            "  --reset P           per batch: close both sides with an RST\n"
            "  --delay P:MS        per batch: hold the bytes MS milliseconds\n"
            "  --partial P         per batch: forward in chunks of 1..%d bytes, %d ms apart\n"
            "  --dup P             per client frame: send it twice (needs --frames)\n"
            "  --frames            parse the 4-byte length framing client->server (plaintext\n"
            "                      links only) and forward whole frames\n"
            "  Standard input takes the same settings at run time, one per line: \"drop P\",\n"
            "  \"reset P\", \"delay P MS\", \"partial P\", \"dup P\", \"stats\", \"help\".\n"
            "  SIGTERM/SIGINT stop it and print the count of each fault injected.\n",
            CHUNK_MAX, CHUNK_GAP_MS);
}

/* "host:port" (the last colon splits, so "::1:7700" works). */
static bool parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(s, ':');
    char *end;
    long v;

    if (colon == NULL || (size_t)(colon - s) >= hostlen)
        return false;
    errno = 0;
    v = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || v < 0 || v > 65535)
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    *port = (int)v;
    return true;
}

static int parse_args(proxy *px, int argc, char **argv, char *listen_host, size_t hostlen,
                      int *listen_port)
{
    static const struct option options[] = {
        {"listen", required_argument, NULL, 'l'},
        {"upstream", required_argument, NULL, 'u'},
        {"seed", required_argument, NULL, 's'},
        {"frames", no_argument, NULL, 'f'},
        {"drop", required_argument, NULL, 'd'},
        {"reset", required_argument, NULL, 'r'},
        {"delay", required_argument, NULL, 'y'},
        {"partial", required_argument, NULL, 'p'},
        {"dup", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool have_upstream = false;
    char *end;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'l':
            ok = parse_hostport(optarg, listen_host, hostlen, listen_port);
            break;
        case 'u':
            ok = have_upstream =
                parse_hostport(optarg, px->up_host, sizeof px->up_host, &px->up_port) &&
                px->up_port > 0;
            break;
        case 's':
            errno = 0;
            px->rng = strtoull(optarg, &end, 10);
            ok = errno == 0 && end != optarg && *end == '\0';
            break;
        case 'f':
            px->frames = true;
            break;
        case 'd':
            ok = parse_prob(optarg, &px->r.drop);
            break;
        case 'r':
            ok = parse_prob(optarg, &px->r.reset);
            break;
        case 'p':
            ok = parse_prob(optarg, &px->r.partial);
            break;
        case 'D':
            ok = parse_prob(optarg, &px->r.dup);
            break;
        case 'y': {
            char copy[64], *colon;
            snprintf(copy, sizeof copy, "%s", optarg);
            colon = strchr(copy, ':');
            if (colon != NULL)
                *colon = '\0';
            ok = colon != NULL && parse_prob(copy, &px->r.delay) &&
                 parse_ms(colon + 1, &px->r.delay_ms);
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
        if (!ok) {
            const struct option *o = options;
            while (o->name != NULL && o->val != opt)
                o++;
            fprintf(stderr, "faultproxy: bad value for --%s: %s\n", o->name ? o->name : "?",
                    optarg);
            return -1;
        }
    }
    if (optind != argc || !have_upstream) {
        fprintf(stderr, "faultproxy: %s\n",
                optind != argc ? "unexpected argument" : "--upstream HOST:PORT is required");
        usage(stderr);
        return -1;
    }
    if (px->r.dup > 0.0 && !px->frames) {
        fprintf(stderr, "faultproxy: --dup needs --frames (plaintext links)\n");
        return -1;
    }
    /* Fault traffic stays on this machine. */
    if (!net_is_loopback(px->up_host) || !net_is_loopback(listen_host)) {
        fprintf(stderr, "faultproxy: --listen and --upstream must be loopback addresses\n");
        return -1;
    }
    return 0;
}

static int setup(proxy *px, const char *listen_host, int listen_port)
{
    static const int signals[] = {SIGTERM, SIGINT, 0};
    char err[NET_ERR_LEN];

    if ((px->loop = ev_new()) == NULL ||
        (px->signals = sig_watch_new(px->loop, signals, on_signal, px)) == NULL) {
        fprintf(stderr, "faultproxy: cannot set up the loop: %s\n", strerror(errno));
        return -1;
    }
    if ((px->listen_fd = net_listen(listen_host, listen_port, LISTEN_BACKLOG, err)) < 0 ||
        ev_fd_set(px->loop, px->listen_fd, EV_READ, on_accept, px) < 0) {
        fprintf(stderr, "faultproxy: %s\n", px->listen_fd < 0 ? err : strerror(errno));
        return -1;
    }
    /* epoll refuses regular files and /dev/null: no control then. */
    px->control = ev_fd_set(px->loop, STDIN_FILENO, EV_READ, on_control, px) == 0;
    fprintf(stderr,
            "faultproxy: listening on %s:%d, forwarding to %s:%d (seed %" PRIu64
            ", %s, control %s)\n",
            listen_host, net_local_port(px->listen_fd), px->up_host, px->up_port, px->rng,
            px->frames ? "frames" : "stream", px->control ? "on standard input" : "off");
    print_rates(stderr, px);
    return 0;
}

int main(int argc, char **argv)
{
    static proxy px = {.listen_fd = -1, .rng = 1};
    char listen_host[256] = "127.0.0.1";
    int listen_port = 0, rc = 0;

    if (parse_args(&px, argc, argv, listen_host, sizeof listen_host, &listen_port) < 0)
        return 2;
    if (setup(&px, listen_host, listen_port) < 0) {
        rc = 1;
    } else if (ev_run(px.loop) < 0) {
        fprintf(stderr, "faultproxy: event loop failed: %s\n", strerror(errno));
        rc = 1;
    }
    while (px.pairs != NULL) {
        pair *lk = px.pairs;
        pair_kill(lk, false, "faultproxy stopped");
        assert(px.pairs != lk); /* the last side's on_close released it */
    }
    print_counts(stderr, "stopped", &px.n);
    if (px.listen_fd >= 0)
        close(px.listen_fd);
    sig_watch_free(px.signals);
    ev_free(px.loop);
    return rc;
}
