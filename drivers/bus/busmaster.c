/*
 * busmaster — the bus master: one worker thread that owns the libmodbus
 * context and makes every transaction, and the semantics on the loop's
 * thread (window displays, the hall board schedule, rating prompts).
 * busmaster.h has the contract, docs/bus.md the reasons.
 *
 * The file is laid out as: configuration; the shared state (display
 * blocks, outbox, requests) and its messages; the worker (link, polls,
 * writes, broadcast, scan, the schedule); delivery on the loop's thread;
 * the semantics; the public functions.
 *
 * Threads. The loop's thread owns the master. Display blocks are mailboxes:
 * the loop puts the newest register image in a block and bumps its wanted
 * generation; the worker writes the newest image it finds and records the
 * generation it wrote. The worker reports through the outbox, drained on
 * the loop's thread in order (common/outbox.h). The blocks, the request
 * queue and the flags next to them are guarded by the mutex. Fields marked "worker" are touched
 * only by the worker, fields marked "loop" only on the loop's thread.
 *
 * A device's health, as the worker keeps it (dev_assert_health):
 *
 *     UNKNOWN --good reply [dev_good]--> ONLINE
 *     UNKNOWN --offline_after misses [dev_miss]--> OFFLINE
 *     ONLINE  --offline_after misses in a row [dev_miss]--> OFFLINE
 *     OFFLINE --good reply [dev_good]--> ONLINE (every block is written again)
 *
 * Only the transitions into ONLINE and OFFLINE are reported.
 */
#include "busmaster.h"

#include <assert.h>
#include <errno.h>
#include <modbus/modbus.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "outbox.h"

#define TEXT_MAX      256
#define BOARD_PENDING 256 /* calls waiting for a board row */
#define WRITE_MAX     123 /* FC16 registers (MODBUS_MAX_WRITE_REGISTERS) */

/* libmodbus 3.1 timeouts are (seconds, microseconds below 1000000). */
#define SEC(ms)  ((uint32_t)(ms) / 1000)
#define USEC(ms) ((uint32_t)(ms) % 1000 * 1000)

/* ------------------------------------------------------------------------
 * Configuration
 */

static const char *const transport_names[BUSMASTER_TRANSPORT_COUNT] = {
    [BUSMASTER_RTU] = "rtu",
    [BUSMASTER_TCP] = "tcp",
};

void busmaster_conf_init(busmaster_conf *conf)
{
    *conf = (busmaster_conf){
        .transport = BUSMASTER_RTU,
        .rtu =
            {.device = "/dev/ttyUSB0", .baud = 9600, .parity = 'N', .data_bits = 8, .stop_bits = 1},
        .tcp = {.host = "127.0.0.1", .port = 502},
        .response_timeout_ms = 200,
        .byte_timeout_ms = 50,
        .offline_after = 3,
        .poll_ms = 100,
        .check_ms = 1000,
        .probe_ms = 1000,
        .broadcast_wait_ms = 50,
        .blink_ms = 5000,
        .board_min_ms = 5000,
        .board_rows = BUSMAP_BOARD_ROWS,
        .notice_scroll_ms = 200,
        .rating_grace_ms = 2000,
    };
}

const char *busmaster_transport_name(busmaster_transport t)
{
    if ((int)t < 0 || t >= BUSMASTER_TRANSPORT_COUNT)
        return NULL;
    return transport_names[t];
}

static const char *transport_name_at(int t)
{
    return transport_names[t];
}

int busmaster_conf_transport(busmaster_conf *conf, const char *name, char *err, size_t errlen)
{
    int t;

    if (conf == NULL || name == NULL) {
        errno = EINVAL;
        return -1;
    }
    t = conf_pick(transport_name_at, BUSMASTER_TRANSPORT_COUNT, name, "bus transport", err, errlen);
    if (t < 0)
        return -1;
    conf->transport = (busmaster_transport)t;
    return 0;
}

int busmaster_conf_devices(busmaster_conf *conf, const char *spec, char *err, size_t errlen)
{
    int n;

    if (conf == NULL) {
        errno = EINVAL;
        return -1;
    }
    n = busmap_parse_devices(spec, conf->devices, BUSMASTER_DEVICES_MAX, err, errlen);
    if (n < 0)
        return -1;
    conf->ndevices = (size_t)n;
    return 0;
}

static bool conf_ok(const busmaster_conf *c)
{
    if ((int)c->transport < 0 || c->transport >= BUSMASTER_TRANSPORT_COUNT ||
        c->response_timeout_ms < 1 || c->byte_timeout_ms < 1 || c->offline_after < 1 ||
        c->poll_ms < 1 || c->check_ms < 1 || c->probe_ms < 1 || c->broadcast_wait_ms < 1 ||
        c->blink_ms < 0 || c->blink_ms > 65535 || c->board_min_ms < 0 || c->board_rows < 1 ||
        c->board_rows > BUSMAP_BOARD_ROWS || c->notice_scroll_ms < 0 ||
        c->notice_scroll_ms > 65535 || c->rating_grace_ms < 0 || c->ndevices == 0 ||
        c->ndevices > BUSMASTER_DEVICES_MAX)
        return false;
    /* libmodbus would print its complaint about these; refuse them first. */
    if (c->transport == BUSMASTER_RTU &&
        (c->rtu.baud < 1 || strchr("NEO", c->rtu.parity) == NULL || c->rtu.parity == '\0' ||
         c->rtu.data_bits < 5 || c->rtu.data_bits > 8 || c->rtu.stop_bits < 1 ||
         c->rtu.stop_bits > 2))
        return false;
    for (size_t i = 0; i < c->ndevices; i++) {
        if (c->devices[i].addr < 1 || c->devices[i].addr > 247 ||
            busmap_kind_name(c->devices[i].kind) == NULL)
            return false;
        for (size_t j = 0; j < i; j++)
            if (c->devices[j].addr == c->devices[i].addr)
                return false;
    }
    return true;
}

/* ------------------------------------------------------------------------
 * Shared state and messages
 */

enum blk { BLK_WINDOW, BLK_BOARD, BLK_NOTICE, BLK_CALLPAD, BLK_PROMPT, BLK_COUNT };

static const struct {
    uint16_t reg;
    size_t nregs;
    const char *what;
} blk_info[BLK_COUNT] = {
    [BLK_WINDOW] = {BUSMAP_HR_WINDOW, BUSMAP_WINDOW_REGS, "window display"},
    [BLK_BOARD] = {BUSMAP_HR_BOARD, BUSMAP_BOARD_REGS, "hall board calls"},
    [BLK_NOTICE] = {BUSMAP_HR_NOTICE, BUSMAP_NOTICE_REGS, "hall board notice"},
    [BLK_CALLPAD] = {BUSMAP_HR_CALLPAD, BUSMAP_CALLPAD_REGS, "call-pad display"},
    [BLK_PROMPT] = {BUSMAP_HR_PROMPT, BUSMAP_PROMPT_REGS, "rating prompt"},
};

/* A display block of one device (guarded). want counts the images the
 * loop put here (0: never set); done is the one the worker wrote last,
 * failed the one it reported as failed last. */
struct block {
    uint16_t regs[BUSMAP_BLOCK_MAX];
    uint32_t want, done, failed;
};

/* The health state machine drawn in the file comment; dev_assert_health
 * checks it, dev_good and dev_miss are its only transitions. */
enum health { H_UNKNOWN, H_ONLINE, H_OFFLINE };

struct dev {
    bus_device conf;
    struct block blk[BLK_COUNT]; /* guarded */

    /* worker */
    enum health health;
    int misses;        /* in a row */
    int64_t next_poll; /* monotonic ms */
    int64_t write_at;  /* no write before this (after a failed one) */
    busmap_seq seq;    /* events delivered */
    uint16_t boot_id;  /* last seen, 0 = none yet */
    char last_error[TEXT_MAX];

    /* loop */
    bool online;
    uint16_t board_seen; /* board: the board generation it confirmed */
    bool board_seen_any;
    /* rating: IDLE --busmaster_prompt_rating--> OPEN --prompt_end (rated,
     * timed out, cancelled)--> IDLE; prompt_end asserts OPEN, so each
     * prompt ends once. */
    bool prompt_open;
    uint16_t prompt_id;
    ev_timer prompt_timer;
    uint16_t gen; /* window, callpad: the gen register of the next image */
    busmaster *bm;
};

enum msg_kind {
    MSG_EVENTS,
    MSG_HEALTH,
    MSG_WRITTEN,
    MSG_WRITE_FAILED,
    MSG_NOTICE,
    MSG_RESTARTED,
    MSG_REQ
};

struct msg {
    outbox_msg link; /* first: the outbox carries &msg->link */
    enum msg_kind kind;
    int dev; /* index, -1 for none */
    bus_event ev[BUSMAP_FIFO_MAX];
    size_t nev;
    bool online;
    enum blk blk;
    uint16_t gen; /* MSG_WRITTEN: register 0 of the image written; MSG_RESTARTED: the boot id */
    char text[TEXT_MAX];
    /* MSG_EVENTS of a call-pad with a sign-in: the entry read with them
     * (entry.seq 0 when none was read, or it was not that event's). */
    busmap_entry entry;
};

enum req_kind { REQ_BROADCAST, REQ_SCAN };

/* A one-shot request. Its life: queued -> the worker runs it to the end
 * -> its own message is in the outbox -> its callback ran -> freed; or
 * queued -> busmaster_free -> callback (failed) -> freed. Nothing else
 * frees it, so its callback runs exactly once. */
struct req {
    struct msg msg; /* first: the outbox holds &req->msg (MSG_REQ) */
    enum req_kind kind;
    uint16_t reg;
    uint16_t values[WRITE_MAX];
    size_t n;
    busmaster_done_fn *done;
    busmaster_scan_fn *scan_done;
    void *arg;
    int next_addr, last_addr;
    busmaster_found found[247];
    size_t nfound;
    bool ok;
    char detail[TEXT_MAX];
    struct req *next;
};

/* A call on or waiting for the board. */
struct board_call {
    busmap_row row;
    uint16_t gen_added; /* the board generation that first showed it */
    int64_t shown_at;   /* monotonic ms its write was confirmed, -1 before */
};

struct busmaster {
    ev_loop *loop;
    busmaster_conf conf;
    busmaster_callbacks cb;
    void *arg;
    size_t ndev;
    struct dev *dev;
    modbus_t *ctx;
    pthread_t worker;

    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct req *q_head, *q_tail; /* guarded */
    bool stopping;               /* guarded */
    outbox *out;                 /* what the worker learnt, for the loop */

    /* worker */
    bool connected;
    int64_t reconnect_at;
    bool told_link_down;
    bool prefer_write; /* the last action was a poll */
    int gap_us;        /* RTU: t3.5 between frames */

    /* loop */
    bool in_callback, closing;
    uint16_t prompt_seq;
    uint16_t notice_gen;
    struct {
        struct board_call row[BUSMAP_BOARD_ROWS]; /* [0] newest */
        int nrows;
        struct board_call wait[BOARD_PENDING]; /* ring, oldest at head */
        size_t head, count;
        uint16_t gen;
        ev_timer timer;
    } board;
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec mono_at(int64_t ms)
{
    return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
}

static void dev_assert_health(const busmaster *bm, const struct dev *d)
{
    assert(d->health == H_UNKNOWN || d->health == H_ONLINE || d->health == H_OFFLINE);
    assert(d->health != H_ONLINE || d->misses < bm->conf.offline_after);
    assert(d->misses >= 0);
    (void)bm;
    (void)d;
}

static struct msg *msg_new(enum msg_kind kind, int dev)
{
    struct msg *m = calloc(1, sizeof *m);

    if (m != NULL) {
        m->kind = kind;
        m->dev = dev;
    }
    return m;
}

__attribute__((format(printf, 3, 4))) static void post_text(busmaster *bm, struct msg *m,
                                                            const char *fmt, ...)
{
    va_list ap;

    if (m == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(m->text, sizeof m->text, fmt, ap);
    va_end(ap);
    outbox_push(bm->out, &m->link);
}

/* ------------------------------------------------------------------------
 * Worker: the link
 */

/* Errors that mean the link itself is broken (not just one device): the
 * context is closed and opened again. */
static bool link_broken(int e)
{
    return e != ETIMEDOUT && e < MODBUS_ENOBASE && e != EINVAL && e != EMBMDATA;
}

static void link_close(busmaster *bm, const char *why)
{
    modbus_close(bm->ctx);
    bm->connected = false;
    bm->reconnect_at = mono_ms() + bm->conf.probe_ms;
    if (!bm->told_link_down) {
        bm->told_link_down = true;
        post_text(bm, msg_new(MSG_NOTICE, -1), "bus link lost (%s): reconnecting every %d ms", why,
                  bm->conf.probe_ms);
    }
}

/* Open the port or connect. RS-485 mode is asked for when configured; a
 * port that refuses it (a pty, most USB adapters: ENOTTY) works without
 * it, which the notice says. */
static int link_open(busmaster *bm, char *err, size_t errlen)
{
    if (modbus_connect(bm->ctx) < 0) {
        if (err != NULL)
            snprintf(err, errlen, "cannot open the bus (%s %s): %s",
                     transport_names[bm->conf.transport],
                     bm->conf.transport == BUSMASTER_RTU ? bm->conf.rtu.device : bm->conf.tcp.host,
                     modbus_strerror(errno));
        return -1;
    }
    if (bm->conf.transport == BUSMASTER_RTU && bm->conf.rtu.rs485 &&
        modbus_rtu_set_serial_mode(bm->ctx, MODBUS_RTU_RS485) < 0)
        post_text(bm, msg_new(MSG_NOTICE, -1),
                  "%s: RS-485 mode not supported by the port (%s); continuing without it "
                  "(the adapter must switch the driver itself)",
                  bm->conf.rtu.device, modbus_strerror(errno));
    bm->connected = true;
    if (bm->told_link_down) {
        bm->told_link_down = false;
        post_text(bm, msg_new(MSG_NOTICE, -1), "bus link up again");
    }
    return 0;
}

/* After every transaction: RTU needs t3.5 of silence between frames, and
 * a failed one may leave bytes of a late or broken reply behind. */
static void after_xact(busmaster *bm, bool ok)
{
    if (bm->conf.transport != BUSMASTER_RTU)
        return;
    if (!ok)
        modbus_flush(bm->ctx);
    usleep((useconds_t)bm->gap_us);
}

static int read_input(busmaster *bm, int addr, uint16_t reg, int n, uint16_t *dst)
{
    int rc;

    modbus_set_slave(bm->ctx, addr);
    rc = modbus_read_input_registers(bm->ctx, reg, n, dst);
    if (rc >= 0 && rc != n) {
        rc = -1;
        errno = EMBBADDATA;
    }
    after_xact(bm, rc >= 0);
    return rc < 0 ? -1 : 0;
}

static int write_regs(busmaster *bm, int addr, uint16_t reg, int n, const uint16_t *src)
{
    int rc;

    modbus_set_slave(bm->ctx, addr);
    rc = n == 1 ? modbus_write_register(bm->ctx, reg, src[0])
                : modbus_write_registers(bm->ctx, reg, n, src);
    after_xact(bm, rc >= 0);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * Worker: health
 */

/* A good reply from d [UNKNOWN|OFFLINE -> ONLINE]. */
static void dev_good(busmaster *bm, struct dev *d, size_t idx)
{
    struct msg *m;

    dev_assert_health(bm, d);
    d->misses = 0;
    if (d->health == H_ONLINE)
        return;
    d->health = H_ONLINE;
    /* The device may have lost its state while it was away: write every
     * block again, and let each failure be reported anew. */
    pthread_mutex_lock(&bm->lock);
    for (int b = 0; b < BLK_COUNT; b++)
        d->blk[b].done = d->blk[b].failed = 0;
    pthread_mutex_unlock(&bm->lock);
    if ((m = msg_new(MSG_HEALTH, (int)idx)) != NULL) {
        m->online = true;
        post_text(bm, m, "answers");
    }
}

/* A missed or unusable reply [-> OFFLINE after offline_after in a row]. */
static void dev_miss(busmaster *bm, struct dev *d, size_t idx, int e)
{
    struct msg *m;

    dev_assert_health(bm, d);
    snprintf(d->last_error, sizeof d->last_error, "%s", modbus_strerror(e));
    if (bm->connected && link_broken(e))
        link_close(bm, modbus_strerror(e));
    if (d->health == H_OFFLINE || ++d->misses < bm->conf.offline_after)
        return;
    d->health = H_OFFLINE;
    d->misses = 0;
    if ((m = msg_new(MSG_HEALTH, (int)idx)) != NULL) {
        m->online = false;
        post_text(bm, m, "%d missed replies in a row (last: %s)", bm->conf.offline_after,
                  d->last_error);
    }
}

/* A boot id seen in a poll: a new one after an old one means the device
 * restarted, with blank displays. */
static void dev_boot(busmaster *bm, struct dev *d, size_t idx, uint16_t boot_id)
{
    if (d->boot_id != 0 && d->boot_id != boot_id) {
        pthread_mutex_lock(&bm->lock);
        for (int b = 0; b < BLK_COUNT; b++)
            d->blk[b].done = d->blk[b].failed = 0;
        pthread_mutex_unlock(&bm->lock);
        struct msg *m = msg_new(MSG_RESTARTED, (int)idx);
        if (m != NULL)
            m->gen = boot_id;
        post_text(bm, m, "device %d restarted: rewriting its state", d->conf.addr);
    }
    d->boot_id = boot_id;
}

/* ------------------------------------------------------------------------
 * Worker: polls and writes
 */

static bool has_events(const struct dev *d)
{
    return d->conf.kind == BUS_KIND_CALLPAD || d->conf.kind == BUS_KIND_RATING;
}

/* One poll of d: the header (and for pads the FIFO), new events to the
 * outbox, then the acknowledgement. An event is delivered at most once
 * (busmap_seq) and acknowledged only after that, so a lost reply at any
 * step costs a poll, never an event. */
static void poll_dev(busmaster *bm, size_t idx)
{
    struct dev *d = &bm->dev[idx];
    uint16_t regs[3 + BUSMAP_FIFO_MAX * BUSMAP_EV_REGS], ack[BUSMAP_ACK_REGS];
    bus_event ev[BUSMAP_FIFO_MAX];
    busmap_poll hdr;
    struct msg *m;
    int n = has_events(d) ? BUSMAP_POLL_REGS : 3;

    if (read_input(bm, d->conf.addr, BUSMAP_IR_BOOT_ID, n, regs) < 0) {
        dev_miss(bm, d, idx, errno);
        return;
    }
    if (busmap_poll_decode(regs, (size_t)n, &hdr) < 0) {
        post_text(bm, msg_new(MSG_NOTICE, (int)idx),
                  "device %d sent a bad poll header (boot id %u, event count %u)", d->conf.addr,
                  regs[0], regs[2]);
        dev_miss(bm, d, idx, EMBBADDATA);
        return;
    }
    if (!has_events(d) || hdr.count == 0) {
        dev_good(bm, d, idx);
        dev_boot(bm, d, idx, hdr.boot_id);
        return;
    }
    if (hdr.count > 1 &&
        read_input(bm, d->conf.addr, BUSMAP_IR_EV_FIRST + BUSMAP_EV_REGS,
                   (hdr.count - 1) * BUSMAP_EV_REGS, regs + BUSMAP_POLL_REGS) < 0) {
        dev_miss(bm, d, idx, errno);
        return;
    }
    if (busmap_fifo_decode(regs + 3, (size_t)hdr.count * BUSMAP_EV_REGS, hdr.count, ev) < 0) {
        post_text(bm, msg_new(MSG_NOTICE, (int)idx),
                  "device %d sent a bad event FIFO (sequences out of order or code 0): ignored",
                  d->conf.addr);
        dev_miss(bm, d, idx, EMBBADDATA);
        return;
    }
    /* A sign-in's digits are in the entry registers until its event is
     * acknowledged: read them before taking the event, so a lost reply
     * costs a poll and never the digits. */
    bool signin = false;
    for (size_t i = 0; i < hdr.count; i++)
        signin = signin || ev[i].code == BUS_KEY_SIGNIN;
    uint16_t eregs[BUSMAP_ENTRY_REGS];
    busmap_entry entry = {0};
    if (signin) {
        if (read_input(bm, d->conf.addr, BUSMAP_IR_ENTRY, BUSMAP_ENTRY_REGS, eregs) < 0) {
            dev_miss(bm, d, idx, errno);
            return;
        }
        if (busmap_entry_decode(eregs, BUSMAP_ENTRY_REGS, &entry) < 0) {
            post_text(bm, msg_new(MSG_NOTICE, (int)idx),
                      "call-pad %d sent a bad sign-in entry: the sign-in is refused", d->conf.addr);
            entry.seq = 0;
        }
        explicit_bzero(eregs, sizeof eregs);
    }
    dev_good(bm, d, idx);
    dev_boot(bm, d, idx, hdr.boot_id);
    /* Without memory for the message nothing is taken: the events stay on
     * the device and come again with the next poll. */
    if ((m = msg_new(MSG_EVENTS, (int)idx)) == NULL) {
        explicit_bzero(&entry, sizeof entry);
        return;
    }
    m->entry = entry;
    explicit_bzero(&entry, sizeof entry);
    m->nev = busmap_seq_accept(&d->seq, hdr.boot_id, ev, hdr.count, m->ev);
    if (m->nev > 0) {
        outbox_push(bm->out, &m->link);
    } else {
        explicit_bzero(&m->entry, sizeof m->entry);
        free(m);
    }
    /* The boot id goes with the sequence: if the device restarted since the
     * poll, the acknowledgement is not for its new events. */
    ack[0] = hdr.boot_id;
    ack[1] = d->seq.last;
    if (write_regs(bm, d->conf.addr, BUSMAP_HR_ACK_BOOT, BUSMAP_ACK_REGS, ack) < 0)
        dev_miss(bm, d, idx, errno);
}

static void write_block(busmaster *bm, size_t idx, enum blk b)
{
    struct dev *d = &bm->dev[idx];
    uint16_t regs[BUSMAP_BLOCK_MAX];
    uint32_t gen;
    struct msg *m;
    int rc, e;

    pthread_mutex_lock(&bm->lock);
    gen = d->blk[b].want;
    memcpy(regs, d->blk[b].regs, blk_info[b].nregs * sizeof regs[0]);
    pthread_mutex_unlock(&bm->lock);

    rc = write_regs(bm, d->conf.addr, blk_info[b].reg, (int)blk_info[b].nregs, regs);
    e = errno;
    if (rc == 0) {
        dev_good(bm, d, idx);
        pthread_mutex_lock(&bm->lock);
        d->blk[b].done = gen;
        pthread_mutex_unlock(&bm->lock);
        if ((m = msg_new(MSG_WRITTEN, (int)idx)) != NULL) {
            m->blk = b;
            m->gen = regs[0];
            outbox_push(bm->out, &m->link);
        }
        return;
    }
    d->write_at = mono_ms() + bm->conf.poll_ms;
    dev_miss(bm, d, idx, e);
    pthread_mutex_lock(&bm->lock);
    if (d->blk[b].failed == gen) {
        pthread_mutex_unlock(&bm->lock);
        return;
    }
    d->blk[b].failed = gen;
    pthread_mutex_unlock(&bm->lock);
    if ((m = msg_new(MSG_WRITE_FAILED, (int)idx)) != NULL) {
        m->blk = b;
        post_text(bm, m, "%s (retried)", modbus_strerror(e));
    }
}

/* ------------------------------------------------------------------------
 * Worker: broadcast and scan
 */

/* Run one step of req; true when it is finished. */
static bool req_step(busmaster *bm, struct req *r)
{
    if (r->kind == REQ_BROADCAST) {
        int rc;

        /* Slaves never answer address 0 and libmodbus waits for an answer
         * anyway: a timeout after a short wait is the success case. */
        modbus_set_response_timeout(bm->ctx, SEC(bm->conf.broadcast_wait_ms),
                                    USEC(bm->conf.broadcast_wait_ms));
        rc = write_regs(bm, MODBUS_BROADCAST_ADDRESS, r->reg, (int)r->n, r->values);
        r->ok = rc == 0 || errno == ETIMEDOUT;
        snprintf(r->detail, sizeof r->detail, "%s",
                 r->ok ? "broadcast sent" : modbus_strerror(errno));
        if (!r->ok && bm->connected && link_broken(errno))
            link_close(bm, modbus_strerror(errno));
        modbus_set_response_timeout(bm->ctx, SEC(bm->conf.response_timeout_ms),
                                    USEC(bm->conf.response_timeout_ms));
        return true;
    }
    if (r->next_addr <= r->last_addr) {
        uint16_t id[BUSMAP_IDENT_REGS];

        if (read_input(bm, r->next_addr, BUSMAP_IR_MAP_VERSION, BUSMAP_IDENT_REGS, id) == 0)
            r->found[r->nfound++] = (busmaster_found){r->next_addr, id[0], id[1], id[2]};
        else if (bm->connected && link_broken(errno))
            link_close(bm, modbus_strerror(errno));
        r->next_addr++;
    }
    if (r->next_addr > r->last_addr) {
        r->ok = true;
        snprintf(r->detail, sizeof r->detail, "%zu devices answered", r->nfound);
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------------
 * Worker: the schedule
 */

static int64_t poll_period(const busmaster *bm, const struct dev *d)
{
    if (d->health == H_OFFLINE)
        return bm->conf.probe_ms;
    return has_events(d) ? bm->conf.poll_ms : bm->conf.check_ms;
}

/* With the lock held: a block of d that needs writing, or -1. A device
 * known offline gets no writes; each new image for it is reported failed
 * once instead, and written when the device answers again. */
static int dirty_block(busmaster *bm, size_t idx, int64_t now, bool *report_offline)
{
    struct dev *d = &bm->dev[idx];

    *report_offline = false;
    for (int b = 0; b < BLK_COUNT; b++) {
        struct block *k = &d->blk[b];

        if (k->want == 0 || k->want == k->done)
            continue;
        if (d->health == H_OFFLINE) {
            if (k->failed != k->want) {
                k->failed = k->want;
                *report_offline = true;
                return b;
            }
            continue;
        }
        if (now >= d->write_at)
            return b;
    }
    return -1;
}

/* With the lock held: r (the queue's head) is finished; its result goes
 * to the outbox in its own message. */
static void req_done_locked(busmaster *bm, struct req *r)
{
    assert(bm->q_head == r);
    bm->q_head = r->next;
    if (bm->q_head == NULL)
        bm->q_tail = NULL;
    r->msg.kind = MSG_REQ;
    r->msg.dev = -1;
    outbox_push(bm->out, &r->msg.link);
}

static void *worker_main(void *arg)
{
    busmaster *bm = arg;

    pthread_mutex_lock(&bm->lock);
    while (!bm->stopping) {
        int64_t now = mono_ms(), wake = now + 1000;
        size_t best = bm->ndev;
        int blk = -1;
        bool offline_report = false;
        size_t widx = 0;

        /* A drain that could not be posted (ENOMEM) is posted now. */
        outbox_retry(bm->out);
        if (!bm->connected && now >= bm->reconnect_at) {
            pthread_mutex_unlock(&bm->lock);
            if (link_open(bm, NULL, 0) < 0)
                link_close(bm, modbus_strerror(errno));
            pthread_mutex_lock(&bm->lock);
            now = mono_ms();
        }
        for (size_t i = 0; i < bm->ndev; i++) {
            if (bm->dev[i].next_poll <= now &&
                (best == bm->ndev || bm->dev[i].next_poll < bm->dev[best].next_poll))
                best = i;
            if (bm->dev[i].next_poll < wake)
                wake = bm->dev[i].next_poll;
        }
        if (!bm->connected) {
            /* No link: every poll due is a miss (devices go offline as
             * their polls go unanswered), requests fail, writes wait. */
            if (best < bm->ndev) {
                struct dev *d = &bm->dev[best];

                pthread_mutex_unlock(&bm->lock);
                dev_miss(bm, d, best, ENOTCONN);
                d->next_poll = now + poll_period(bm, d);
                pthread_mutex_lock(&bm->lock);
            } else if (bm->q_head != NULL) {
                struct req *r = bm->q_head;

                r->ok = false;
                snprintf(r->detail, sizeof r->detail, "the bus link is down");
                req_done_locked(bm, r);
            } else {
                struct timespec ts = mono_at(bm->reconnect_at < wake ? bm->reconnect_at : wake);

                pthread_cond_timedwait(&bm->wake, &bm->lock, &ts);
            }
            continue;
        }
        for (size_t i = 0; i < bm->ndev && blk < 0; i++) {
            blk = dirty_block(bm, i, now, &offline_report);
            widx = i;
        }
        if (blk >= 0 && offline_report) {
            struct msg *m = msg_new(MSG_WRITE_FAILED, (int)widx);

            pthread_mutex_unlock(&bm->lock);
            if (m != NULL) {
                m->blk = (enum blk)blk;
                post_text(bm, m, "device offline: written when it answers again");
            }
            pthread_mutex_lock(&bm->lock);
            continue;
        }
        if (best < bm->ndev && (blk < 0 || !bm->prefer_write)) {
            struct dev *d = &bm->dev[best];

            pthread_mutex_unlock(&bm->lock);
            poll_dev(bm, best);
            d->next_poll = now + poll_period(bm, d);
            bm->prefer_write = true;
            pthread_mutex_lock(&bm->lock);
            continue;
        }
        if (blk >= 0) {
            pthread_mutex_unlock(&bm->lock);
            write_block(bm, widx, (enum blk)blk);
            bm->prefer_write = false;
            pthread_mutex_lock(&bm->lock);
            continue;
        }
        bm->prefer_write = false;
        if (bm->q_head != NULL) {
            struct req *r = bm->q_head;
            bool finished;

            pthread_mutex_unlock(&bm->lock);
            finished = req_step(bm, r);
            pthread_mutex_lock(&bm->lock);
            if (finished)
                req_done_locked(bm, r);
            continue;
        }
        /* Nothing due: sleep until the next poll, a failed write's retry
         * or a wake-up from the loop. */
        for (size_t i = 0; i < bm->ndev; i++)
            for (int b = 0; b < BLK_COUNT; b++)
                if (bm->dev[i].blk[b].want != bm->dev[i].blk[b].done &&
                    bm->dev[i].health != H_OFFLINE && bm->dev[i].write_at < wake)
                    wake = bm->dev[i].write_at;
        if (wake > now) {
            struct timespec ts = mono_at(wake);
            pthread_cond_timedwait(&bm->wake, &bm->lock, &ts);
        }
    }
    pthread_mutex_unlock(&bm->lock);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Loop thread: the semantics
 */

static void set_block(busmaster *bm, struct dev *d, enum blk b, const uint16_t *regs)
{
    pthread_mutex_lock(&bm->lock);
    memcpy(d->blk[b].regs, regs, blk_info[b].nregs * sizeof regs[0]);
    d->blk[b].want++;
    pthread_cond_signal(&bm->wake);
    pthread_mutex_unlock(&bm->lock);
}

/* A prompt's end [OPEN -> IDLE], reported once. */
static void prompt_end(busmaster *bm, struct dev *d, busmaster_rating_end end, int level)
{
    busmap_prompt idle = {.id = 0};
    uint16_t regs[BUSMAP_PROMPT_REGS];
    uint16_t id = d->prompt_id;

    assert(d->prompt_open);
    d->prompt_open = false;
    ev_timer_stop(bm->loop, &d->prompt_timer);
    /* The pad's block must not hold the ended prompt: a pad that restarts
     * gets its block again and would ask once more. */
    busmap_prompt_encode(&idle, regs);
    set_block(bm, d, BLK_PROMPT, regs);
    if (bm->cb.rating != NULL) {
        bm->in_callback = true;
        bm->cb.rating(bm, &d->conf, id, end, level, bm->arg);
        bm->in_callback = false;
    }
}

static void on_prompt_timer(ev_loop *loop, ev_timer *t, void *arg)
{
    struct dev *d = arg;

    (void)loop;
    (void)t;
    if (d->prompt_open)
        prompt_end(d->bm, d, BUSMASTER_TIMED_OUT, 0);
}

static void notice(busmaster *bm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void notice(busmaster *bm, const char *fmt, ...)
{
    char text[TEXT_MAX];
    va_list ap;

    if (bm->cb.notice == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    bm->in_callback = true;
    bm->cb.notice(bm, text, bm->arg);
    bm->in_callback = false;
}

static void rating_event(busmaster *bm, struct dev *d, const bus_event *e)
{
    bool level_ok = e->code >= 1 && e->code <= 5;

    if (d->prompt_open && e->arg == d->prompt_id && (level_ok || e->code == BUS_RATING_TIMEOUT)) {
        prompt_end(bm, d, level_ok ? BUSMASTER_RATED : BUSMASTER_TIMED_OUT, level_ok ? e->code : 0);
        return;
    }
    notice(bm, "rating pad %d: event %u for prompt %u ignored (%s)", d->conf.addr, e->code, e->arg,
           d->prompt_open ? "another prompt is open" : "no prompt is open");
}

static void key_event(busmaster *bm, struct dev *d, const bus_event *e, const busmap_entry *entry)
{
    if (e->code < 1 || e->code > BUS_KEY_MAX) {
        notice(bm, "call-pad %d: unknown key code %u (seq %u) ignored", d->conf.addr, e->code,
               e->seq);
        return;
    }
    if (e->code == BUS_KEY_SIGNIN) {
        /* The entry belongs to this press only if the pad says so. */
        bool mine = entry->seq == e->seq;
        if (!mine)
            notice(bm, "call-pad %d: sign-in (seq %u) without its entry: refused", d->conf.addr,
                   e->seq);
        if (bm->cb.signin != NULL) {
            bm->in_callback = true;
            bm->cb.signin(bm, &d->conf, mine ? entry->clerk : "", mine ? entry->pin : "", e->seq,
                          bm->arg);
            bm->in_callback = false;
        }
        return;
    }
    if (bm->cb.key != NULL) {
        bm->in_callback = true;
        bm->cb.key(bm, &d->conf, (bus_key)e->code, e->code == BUS_KEY_TRANSFER ? e->arg : 0, e->seq,
                   bm->arg);
        bm->in_callback = false;
    }
}

static void board_pump(busmaster *bm);

/* The board image now: rows newest first, to every board. */
static void board_publish(busmaster *bm)
{
    busmap_board b = {.gen = ++bm->board.gen, .rows = (uint16_t)bm->board.nrows};
    uint16_t regs[BUSMAP_BOARD_REGS];

    for (int i = 0; i < bm->board.nrows; i++)
        b.row[i] = bm->board.row[i].row;
    if (busmap_board_encode(&b, regs) < 0)
        return;
    for (size_t i = 0; i < bm->ndev; i++)
        if (bm->dev[i].conf.kind == BUS_KIND_BOARD)
            set_block(bm, &bm->dev[i], BLK_BOARD, regs);
}

/* The newest board generation every online board confirmed; false if no
 * board is online or one has confirmed nothing yet. */
static bool board_confirmed(const busmaster *bm, uint16_t *gen)
{
    bool any = false;

    *gen = 0;
    for (size_t i = 0; i < bm->ndev; i++) {
        const struct dev *d = &bm->dev[i];

        if (d->conf.kind != BUS_KIND_BOARD || !d->online)
            continue;
        if (!d->board_seen_any)
            return false;
        if (!any || busmap_seq_after(*gen, d->board_seen))
            *gen = d->board_seen;
        any = true;
    }
    return any;
}

static void board_mark_shown(busmaster *bm)
{
    uint16_t gen = 0;
    int64_t now = mono_ms();

    if (!board_confirmed(bm, &gen))
        return;
    for (int i = 0; i < bm->board.nrows; i++) {
        struct board_call *c = &bm->board.row[i];

        if (c->shown_at < 0 && !busmap_seq_after(c->gen_added, gen))
            c->shown_at = now;
    }
}

static void on_board_timer(ev_loop *loop, ev_timer *t, void *arg)
{
    (void)loop;
    (void)t;
    board_pump(arg);
}

/* Move waiting calls onto the board while a row may go: a free row, or a
 * bottom row (the oldest) shown for board_min_ms. Otherwise wait for the
 * bottom row's time (a timer) or for its write to be confirmed. */
static void board_pump(busmaster *bm)
{
    bool changed = false;
    int64_t now = mono_ms();

    while (bm->board.count > 0) {
        struct board_call *c = &bm->board.wait[bm->board.head];
        int n = bm->board.nrows, dup = -1;

        /* A call already on the board (a recall) moves to the top: no row
         * leaves, so it need not wait for the bottom row's time. */
        for (int i = 0; i < n && dup < 0; i++)
            if (bm->board.row[i].row.window == c->row.window &&
                strcmp(bm->board.row[i].row.number, c->row.number) == 0)
                dup = i;
        if (dup >= 0) {
            memmove(&bm->board.row[dup], &bm->board.row[dup + 1],
                    (size_t)(n - dup - 1) * sizeof bm->board.row[0]);
            n--;
        } else if (n == bm->conf.board_rows) {
            const struct board_call *last = &bm->board.row[n - 1];

            if (last->shown_at < 0)
                break;
            if (now - last->shown_at < bm->conf.board_min_ms) {
                ev_timer_start(bm->loop, &bm->board.timer,
                               last->shown_at + bm->conf.board_min_ms - now);
                break;
            }
            n--;
        }
        memmove(&bm->board.row[1], &bm->board.row[0], (size_t)n * sizeof bm->board.row[0]);
        bm->board.row[0] = *c;
        bm->board.row[0].gen_added = (uint16_t)(bm->board.gen + 1);
        bm->board.row[0].shown_at = -1;
        bm->board.nrows = n + 1;
        bm->board.head = (bm->board.head + 1) % BOARD_PENDING;
        bm->board.count--;
        changed = true;
        /* Calls that arrive together go up together, in one write. */
    }
    if (changed)
        board_publish(bm);
}

/* ------------------------------------------------------------------------
 * Loop thread: delivering the outbox
 */

static void req_finish(busmaster *bm, struct req *r)
{
    bm->in_callback = true;
    if (r->kind == REQ_BROADCAST && r->done != NULL)
        r->done(bm, r->ok, r->detail, r->arg);
    else if (r->kind == REQ_SCAN && r->scan_done != NULL)
        r->scan_done(bm, r->found, r->nfound, r->arg);
    bm->in_callback = false;
    free(r);
}

static void deliver(busmaster *bm, outbox_msg *list)
{
    while (list != NULL) {
        struct msg *m = (struct msg *)list;
        struct dev *d = m->dev >= 0 ? &bm->dev[m->dev] : NULL;

        list = list->next;
        switch (m->kind) {
        case MSG_EVENTS:
            for (size_t i = 0; i < m->nev; i++) {
                if (d->conf.kind == BUS_KIND_RATING)
                    rating_event(bm, d, &m->ev[i]);
                else
                    key_event(bm, d, &m->ev[i], &m->entry);
            }
            explicit_bzero(&m->entry, sizeof m->entry);
            break;
        case MSG_HEALTH:
            d->online = m->online;
            if (bm->cb.health != NULL) {
                bm->in_callback = true;
                bm->cb.health(bm, &d->conf, m->online, m->text, bm->arg);
                bm->in_callback = false;
            }
            if (d->conf.kind == BUS_KIND_BOARD) {
                board_mark_shown(bm);
                board_pump(bm);
            }
            break;
        case MSG_WRITTEN:
            if (m->blk == BLK_BOARD) {
                d->board_seen = m->gen;
                d->board_seen_any = true;
                board_mark_shown(bm);
                board_pump(bm);
            }
            break;
        case MSG_WRITE_FAILED:
            if (bm->cb.write_failed != NULL) {
                bm->in_callback = true;
                bm->cb.write_failed(bm, &d->conf, blk_info[m->blk].what, m->text, bm->arg);
                bm->in_callback = false;
            }
            break;
        case MSG_NOTICE:
            notice(bm, "%s", m->text);
            break;
        case MSG_RESTARTED:
            notice(bm, "%s", m->text);
            if (bm->cb.restarted != NULL) {
                bm->in_callback = true;
                bm->cb.restarted(bm, &d->conf, m->gen, bm->arg);
                bm->in_callback = false;
            }
            break;
        case MSG_REQ:
            req_finish(bm, (struct req *)m);
            continue;
        }
        free(m);
    }
}

static void deliver_outbox(void *arg, outbox_msg *list)
{
    deliver(arg, list);
}

/* Free messages that will never be delivered. */
static void drop_msgs(outbox_msg *list)
{
    while (list != NULL) {
        outbox_msg *m = list;
        struct msg *e = (struct msg *)m; /* kind is read first: every message starts so */

        list = list->next;
        if (e->kind == MSG_EVENTS) /* a sign-in's digits */
            explicit_bzero(&e->entry, sizeof e->entry);
        free(m);
    }
}

/* ------------------------------------------------------------------------
 * Loop thread: the public functions
 */

busmaster *busmaster_new(ev_loop *loop, const busmaster_conf *conf, const busmaster_callbacks *cb,
                         void *arg, char *err, size_t errlen)
{
    busmaster *bm;
    pthread_condattr_t attr;
    int rc = 0;

    if (loop == NULL || conf == NULL || cb == NULL || !conf_ok(conf)) {
        if (err != NULL)
            snprintf(err, errlen, "bus: invalid arguments or configuration");
        errno = EINVAL;
        return NULL;
    }
    if ((bm = calloc(1, sizeof *bm)) == NULL ||
        (bm->dev = calloc(conf->ndevices, sizeof *bm->dev)) == NULL) {
        free(bm);
        if (err != NULL)
            snprintf(err, errlen, "bus: out of memory");
        errno = ENOMEM;
        return NULL;
    }
    if ((bm->out = outbox_new(loop, deliver_outbox, bm)) == NULL) {
        free(bm->dev);
        free(bm);
        if (err != NULL)
            snprintf(err, errlen, "bus: out of memory");
        errno = ENOMEM;
        return NULL;
    }
    bm->loop = loop;
    bm->conf = *conf;
    bm->cb = *cb;
    bm->arg = arg;
    bm->ndev = conf->ndevices;
    for (size_t i = 0; i < bm->ndev; i++) {
        bm->dev[i].conf = conf->devices[i];
        bm->dev[i].bm = bm;
        ev_timer_init(&bm->dev[i].prompt_timer, on_prompt_timer, &bm->dev[i]);
    }
    ev_timer_init(&bm->board.timer, on_board_timer, bm);
    if (conf->transport == BUSMASTER_RTU) {
        /* t3.5: 3.5 characters of 11 bits, fixed at 1750 us above 19200
         * baud (Modbus over serial line 2.5.1.1). */
        bm->gap_us = conf->rtu.baud > 19200 ? 1750 : (int)(38500000LL / (conf->rtu.baud + 1)) + 1;
        bm->ctx = modbus_new_rtu(conf->rtu.device, conf->rtu.baud, conf->rtu.parity,
                                 conf->rtu.data_bits, conf->rtu.stop_bits);
    } else {
        bm->ctx = modbus_new_tcp(conf->tcp.host, conf->tcp.port);
    }
    if (bm->ctx == NULL) {
        int e = errno;

        if (err != NULL)
            snprintf(err, errlen, "bus: bad transport settings: %s", modbus_strerror(e));
        outbox_close(bm->out);
        free(bm->dev);
        free(bm);
        errno = e;
        return NULL;
    }
    modbus_set_response_timeout(bm->ctx, SEC(conf->response_timeout_ms),
                                USEC(conf->response_timeout_ms));
    modbus_set_byte_timeout(bm->ctx, SEC(conf->byte_timeout_ms), USEC(conf->byte_timeout_ms));
    /* RTU opens the port now, so a wrong path is an error at start; TCP
     * connects from the worker and keeps trying (the gateway may come
     * later). */
    if (conf->transport == BUSMASTER_RTU && link_open(bm, err, errlen) < 0) {
        int e = errno;

        modbus_free(bm->ctx);
        drop_msgs(outbox_close(bm->out));
        free(bm->dev);
        free(bm);
        errno = e;
        return NULL;
    }
    if ((rc = pthread_mutex_init(&bm->lock, NULL)) != 0)
        goto fail_ctx;
    if ((rc = pthread_condattr_init(&attr)) != 0)
        goto fail_mutex;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&bm->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        goto fail_mutex;
    if ((rc = pthread_create(&bm->worker, NULL, worker_main, bm)) != 0)
        goto fail_cond;
    return bm;

fail_cond:
    pthread_cond_destroy(&bm->wake);
fail_mutex:
    pthread_mutex_destroy(&bm->lock);
fail_ctx:
    /* Notices the RTU open may have queued are never delivered. */
    drop_msgs(outbox_close(bm->out));
    modbus_close(bm->ctx);
    modbus_free(bm->ctx);
    free(bm->dev);
    free(bm);
    if (err != NULL)
        snprintf(err, errlen, "bus: cannot start the worker: %s", strerror(rc));
    errno = rc;
    return NULL;
}

void busmaster_free(busmaster *bm)
{
    outbox_msg *list;
    struct req *queued;

    if (bm == NULL)
        return;
    assert(!bm->in_callback && "busmaster_free from one of the master's own callbacks");
    assert(!bm->closing);
    bm->closing = true;

    pthread_mutex_lock(&bm->lock);
    bm->stopping = true;
    pthread_cond_signal(&bm->wake);
    pthread_mutex_unlock(&bm->lock);
    pthread_join(bm->worker, NULL);

    list = outbox_close(bm->out);
    queued = bm->q_head;
    bm->q_head = bm->q_tail = NULL;
    deliver(bm, list);
    while (queued != NULL) {
        struct req *r = queued;

        queued = r->next;
        r->ok = false;
        snprintf(r->detail, sizeof r->detail, "bus master closed before the request ran");
        req_finish(bm, r);
    }
    for (size_t i = 0; i < bm->ndev; i++)
        if (bm->dev[i].prompt_open)
            prompt_end(bm, &bm->dev[i], BUSMASTER_CANCELLED, 0);
    for (size_t i = 0; i < bm->ndev; i++)
        ev_timer_stop(bm->loop, &bm->dev[i].prompt_timer);
    ev_timer_stop(bm->loop, &bm->board.timer);

    modbus_close(bm->ctx);
    modbus_free(bm->ctx);
    pthread_cond_destroy(&bm->wake);
    pthread_mutex_destroy(&bm->lock);
    free(bm->dev);
    free(bm);
}

static bool number_ok(const char *number)
{
    busmap_callpad probe = {0};
    uint16_t regs[BUSMAP_CALLPAD_REGS];

    if (number == NULL || strlen(number) > BUSMAP_NUMBER_MAX)
        return false;
    memcpy(probe.number, number, strlen(number) + 1);
    return busmap_callpad_encode(&probe, regs) >= 0;
}

/* Write one image to every window display of window. */
static int window_image(busmaster *bm, int window, const char *number, const char *line,
                        int blink_ms)
{
    bool any = false;

    for (size_t i = 0; i < bm->ndev; i++) {
        struct dev *d = &bm->dev[i];
        busmap_window w = {.window = (uint16_t)window, .blink_ms = (uint16_t)blink_ms};
        uint16_t regs[BUSMAP_WINDOW_REGS];
        int len;

        if (d->conf.kind != BUS_KIND_WINDOW || d->conf.window != window)
            continue;
        w.gen = ++d->gen;
        memcpy(w.number, number, strlen(number) + 1);
        if ((len = busmap_gb18030(line, w.text, sizeof w.text)) < 0)
            return -1;
        w.text_len = (size_t)len;
        busmap_window_encode(&w, regs);
        set_block(bm, d, BLK_WINDOW, regs);
        any = true;
    }
    if (!any) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

int busmaster_show_call(busmaster *bm, int window, const char *number, const char *name,
                        int blink_ms)
{
    char masked[64] = "", line[160];

    if (bm == NULL || !number_ok(number) || blink_ms > 65535 || bm->closing) {
        errno = EINVAL;
        return -1;
    }
    busmap_mask_name(name, masked, sizeof masked);
    if (masked[0] != '\0')
        snprintf(line, sizeof line, "请%s号 %s 到%d号窗口", number, masked, window);
    else
        snprintf(line, sizeof line, "请%s号到%d号窗口", number, window);
    return window_image(bm, window, number, line, blink_ms < 0 ? bm->conf.blink_ms : blink_ms);
}

int busmaster_show_window(busmaster *bm, int window, const char *number, const char *text)
{
    if (bm == NULL || !number_ok(number) || text == NULL || bm->closing) {
        errno = EINVAL;
        return -1;
    }
    return window_image(bm, window, number, text, 0);
}

static bool has_kind(const busmaster *bm, bus_kind kind)
{
    for (size_t i = 0; i < bm->ndev; i++)
        if (bm->dev[i].conf.kind == kind)
            return true;
    return false;
}

int busmaster_board_post(busmaster *bm, int window, const char *number, const char *name)
{
    struct board_call *c;
    char masked[64];
    int len;

    if (bm == NULL || !number_ok(number) || window < 0 || window > 65535 || bm->closing) {
        errno = EINVAL;
        return -1;
    }
    if (!has_kind(bm, BUS_KIND_BOARD)) {
        errno = ENOENT;
        return -1;
    }
    if (bm->board.count == BOARD_PENDING) {
        errno = ENOBUFS;
        return -1;
    }
    c = &bm->board.wait[(bm->board.head + bm->board.count) % BOARD_PENDING];
    memset(c, 0, sizeof *c);
    c->row.window = (uint16_t)window;
    memcpy(c->row.number, number, strlen(number) + 1);
    busmap_mask_name(name, masked, sizeof masked);
    if ((len = busmap_gb18030(masked, c->row.name, sizeof c->row.name)) < 0)
        return -1;
    c->row.name_len = (size_t)len;
    c->shown_at = -1;
    bm->board.count++;
    board_pump(bm);
    return 0;
}

int busmaster_set_notice(busmaster *bm, const char *text)
{
    busmap_notice n = {.scroll_ms = 0};
    uint16_t regs[BUSMAP_NOTICE_REGS];
    int len;

    if (bm == NULL || text == NULL || bm->closing) {
        errno = EINVAL;
        return -1;
    }
    if (!has_kind(bm, BUS_KIND_BOARD)) {
        errno = ENOENT;
        return -1;
    }
    if ((len = busmap_gb18030(text, n.text, sizeof n.text)) < 0)
        return -1;
    n.text_len = (size_t)len;
    n.gen = ++bm->notice_gen;
    n.scroll_ms = (uint16_t)bm->conf.notice_scroll_ms;
    busmap_notice_encode(&n, regs);
    for (size_t i = 0; i < bm->ndev; i++)
        if (bm->dev[i].conf.kind == BUS_KIND_BOARD)
            set_block(bm, &bm->dev[i], BLK_NOTICE, regs);
    return 0;
}

int busmaster_set_callpad(busmaster *bm, int window, const char *number, int waiting,
                          uint16_t flags, const char *text)
{
    bool any = false;
    busmap_callpad c = {.waiting = (uint16_t)waiting, .flags = flags};
    int len;

    if (bm == NULL || !number_ok(number) || waiting < 0 || waiting > 65535 ||
        (flags & ~BUSMAP_PAD_FLAGS) != 0 || bm->closing) {
        errno = EINVAL;
        return -1;
    }
    if ((len = busmap_gb18030(text != NULL ? text : "", c.text, sizeof c.text)) < 0)
        return -1;
    c.text_len = (size_t)len;
    memcpy(c.number, number, strlen(number) + 1);
    for (size_t i = 0; i < bm->ndev; i++) {
        struct dev *d = &bm->dev[i];
        uint16_t regs[BUSMAP_CALLPAD_REGS];

        if (d->conf.kind != BUS_KIND_CALLPAD || d->conf.window != window)
            continue;
        c.gen = ++d->gen;
        busmap_callpad_encode(&c, regs);
        set_block(bm, d, BLK_CALLPAD, regs);
        any = true;
    }
    if (!any) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

int busmaster_prompt_rating(busmaster *bm, int window, const char *number, int timeout_s,
                            uint16_t *prompt)
{
    busmap_prompt p = {.timeout_s = (uint16_t)timeout_s};
    uint16_t regs[BUSMAP_PROMPT_REGS];
    struct dev *d = NULL;

    if (bm == NULL || !number_ok(number) || timeout_s < 1 || timeout_s > 3600 || bm->closing) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < bm->ndev && d == NULL; i++)
        if (bm->dev[i].conf.kind == BUS_KIND_RATING && bm->dev[i].conf.window == window)
            d = &bm->dev[i];
    if (d == NULL) {
        errno = ENOENT;
        return -1;
    }
    if (d->prompt_open)
        prompt_end(bm, d, BUSMASTER_CANCELLED, 0);
    if (++bm->prompt_seq == 0)
        bm->prompt_seq = 1;
    p.id = bm->prompt_seq;
    memcpy(p.number, number, strlen(number) + 1);
    busmap_prompt_encode(&p, regs);
    if (ev_timer_start(bm->loop, &d->prompt_timer,
                       (int64_t)timeout_s * 1000 + bm->conf.rating_grace_ms) < 0)
        return -1;
    set_block(bm, d, BLK_PROMPT, regs);
    d->prompt_open = true;
    d->prompt_id = p.id;
    if (prompt != NULL)
        *prompt = p.id;
    return 0;
}

static int enqueue(busmaster *bm, struct req *r)
{
    pthread_mutex_lock(&bm->lock);
    if (bm->q_tail != NULL)
        bm->q_tail->next = r;
    else
        bm->q_head = r;
    bm->q_tail = r;
    pthread_cond_signal(&bm->wake);
    pthread_mutex_unlock(&bm->lock);
    return 0;
}

int busmaster_broadcast(busmaster *bm, uint16_t reg, const uint16_t *values, size_t n,
                        busmaster_done_fn *done, void *arg)
{
    struct req *r;

    if (bm == NULL || values == NULL || n < 1 || n > WRITE_MAX || bm->closing) {
        errno = EINVAL;
        return -1;
    }
    if ((r = calloc(1, sizeof *r)) == NULL)
        return -1;
    r->kind = REQ_BROADCAST;
    r->reg = reg;
    memcpy(r->values, values, n * sizeof values[0]);
    r->n = n;
    r->done = done;
    r->arg = arg;
    return enqueue(bm, r);
}

int busmaster_scan(busmaster *bm, int first, int last, busmaster_scan_fn *done, void *arg)
{
    struct req *r;

    if (bm == NULL || first < 1 || last > 247 || first > last || bm->closing) {
        errno = EINVAL;
        return -1;
    }
    if ((r = calloc(1, sizeof *r)) == NULL)
        return -1;
    r->kind = REQ_SCAN;
    r->next_addr = first;
    r->last_addr = last;
    r->scan_done = done;
    r->arg = arg;
    return enqueue(bm, r);
}

bool busmaster_online(const busmaster *bm, int addr)
{
    for (size_t i = 0; bm != NULL && i < bm->ndev; i++)
        if (bm->dev[i].conf.addr == addr)
            return bm->dev[i].online;
    return false;
}
