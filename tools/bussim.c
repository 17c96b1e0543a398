/*
 * bussim — the hall's RS-485 bus without hardware: many Modbus slaves
 * (window displays, hall boards, call-pads, rating pads, the register map
 * of drivers/bus/busmap.h) on one RTU pseudo-terminal and on Modbus TCP,
 * for tests and the demo.
 *
 * The simulator reads and answers frames itself instead of running
 * libmodbus's modbus_receive()/modbus_reply(): an RTU server of libmodbus
 * 3.1.6 that sees a request for another slave id discards the next frame
 * as that slave's "reply", which swallows real requests on a multi-slave
 * bus. Answering at the byte level also lets it inject faults: a device
 * that goes silent, answers every request with an exception, sends bad
 * CRCs, drops a number of replies after acting, or ignores
 * acknowledgements.
 *
 * Every change of what a display shows goes to the change log (--out,
 * default stdout) as one line "<monotonic ms> addr=<a> <view>"; --view
 * also redraws the whole terminal view. Commands come in lines on the
 * control port (--control-port) and, with --stdin, on standard input;
 * docs/bus.md ("The simulator") lists them.
 *
 * The file is laid out as: the slaves and their registers; events and
 * views; the PDU handler (shared by RTU and TCP); RTU framing on the pty;
 * Modbus TCP; commands; main.
 *
 * Exit status: 0 after SIGTERM or SIGINT, 1 when it cannot start, 2 for bad
 * usage.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "busmap.h"
#include "clk.h"
#include "ctlport.h"
#include "ev.h"
#include "log.h"
#include "net.h"
#include "sig.h"

#define HOST        "127.0.0.1"
#define SLAVES_MAX  64
#define CONNS       8
#define ADU_MAX     256 /* RTU ADU */
#define RTU_GAP_MS  50  /* an incomplete frame older than this is dropped */
#define TICK_MS     100
#define TCP_MBAP    7
#define EXC_ILL_FN  0x01
#define EXC_ILL_ADR 0x02
#define EXC_ILL_VAL 0x03
#define EXC_FAILURE 0x04

/* ------------------------------------------------------------------------
 * Slaves
 */

/* A rating pad's prompt:
 *
 *     IDLE --prompt id != 0 written--> SHOWN --rate--> RATED
 *                                        |  --timeout--> TIMED_OUT
 *     any --prompt id 0 written--> IDLE;  RATED/TIMED_OUT --new id--> SHOWN
 */
struct slave {
    bus_device conf;
    uint16_t hr[BUSMAP_HR_END];
    uint16_t boot_id;
    bus_event fifo[BUSMAP_FIFO_MAX];
    size_t nfifo;
    uint16_t next_seq;
    bool silent, exception, badcrc, ignoreack;
    int drop;            /* replies still to drop (after acting) */
    int64_t blink_until; /* window: monotonic ms */
    bool blinking;       /* window: as last shown */
    bus_prompt_state prompt;
    uint16_t prompt_id;
    int64_t prompt_deadline;
    busmap_entry entry; /* call-pad: the sign-in typed, seq 0 for none */
};

struct sim {
    ev_loop *loop;
    sig_watch *signals;
    struct slave slave[SLAVES_MAX];
    size_t nslaves;
    FILE *out;
    bool view;
    uint16_t boot_counter;
    ev_timer tick;
    /* RTU */
    int pty_master, pty_slave;
    char link[PATH_MAX];
    buf rtu_in;
    ev_timer rtu_gap;
    unsigned long rtu_garbage;
    /* TCP */
    int tcp_fd;
    net_conn *tcp[CONNS];
    /* commands */
    ctlport *control;
    bool use_stdin;
    buf stdin_in;
};

static struct slave *slave_at(struct sim *s, int addr)
{
    for (size_t i = 0; i < s->nslaves; i++)
        if (s->slave[i].conf.addr == addr)
            return &s->slave[i];
    return NULL;
}

/* A power-up: blank registers, empty FIFO, a new boot id, sequences from 1. */
static void slave_boot(struct sim *s, struct slave *sl)
{
    memset(sl->hr, 0, sizeof sl->hr);
    sl->nfifo = 0;
    sl->next_seq = 1;
    if (++s->boot_counter == 0)
        s->boot_counter = 1;
    sl->boot_id = (uint16_t)(((unsigned)getpid() * 131u + s->boot_counter * 7919u) | 1u);
    sl->blink_until = 0;
    sl->blinking = false;
    sl->prompt = BUS_PROMPT_IDLE;
    sl->prompt_id = 0;
    sl->entry = (busmap_entry){0};
}

/* ------------------------------------------------------------------------
 * Events and views
 */

/* Append an event; -1 if the FIFO is full (the press is refused, as a
 * real pad beeps an error). */
static int slave_push(struct slave *sl, uint16_t code, uint16_t arg, uint16_t *seq)
{
    if (sl->nfifo == BUSMAP_FIFO_MAX)
        return -1;
    sl->fifo[sl->nfifo++] = (bus_event){sl->next_seq, code, arg};
    *seq = sl->next_seq++;
    return 0;
}

static void slave_ack(struct slave *sl, uint16_t ack)
{
    size_t keep = 0;

    if (sl->ignoreack)
        return;
    for (size_t i = 0; i < sl->nfifo; i++)
        if (busmap_seq_after(sl->fifo[i].seq, ack))
            sl->fifo[keep++] = sl->fifo[i];
    sl->nfifo = keep;
    /* The sign-in was taken: its digits go. */
    if (sl->entry.seq != 0 && !busmap_seq_after(sl->entry.seq, ack))
        sl->entry = (busmap_entry){0};
}

static void gb_text(const uint8_t *gb, size_t len, char *out, size_t cap)
{
    if (busmap_utf8(gb, len, out, cap) < 0)
        snprintf(out, cap, "?");
}

/* What the device shows now, on one line. */
static void slave_view(const struct slave *sl, int64_t now, char *out, size_t cap)
{
    char text[512];
    size_t used;

    switch (sl->conf.kind) {
    case BUS_KIND_WINDOW: {
        busmap_window w;

        if (busmap_window_decode(sl->hr + BUSMAP_HR_WINDOW, BUSMAP_WINDOW_REGS, &w) < 0 ||
            (w.number[0] == '\0' && w.text_len == 0)) {
            snprintf(out, cap, "window %d: (blank)", sl->conf.window);
            return;
        }
        gb_text(w.text, w.text_len, text, sizeof text);
        snprintf(out, cap, "window %d: %s \"%s\" %s", sl->conf.window, w.number[0] ? w.number : "-",
                 text, sl->blink_until > now ? "blinking" : "steady");
        return;
    }
    case BUS_KIND_BOARD: {
        busmap_board b;
        busmap_notice n;

        used = (size_t)snprintf(out, cap, "board rows:");
        if (busmap_board_decode(sl->hr + BUSMAP_HR_BOARD, BUSMAP_BOARD_REGS, &b) == 0) {
            for (size_t i = 0; i < b.rows && used < cap; i++) {
                gb_text(b.row[i].name, b.row[i].name_len, text, sizeof text);
                used +=
                    (size_t)snprintf(out + used, cap - used, " %s@%u%s%s%s", b.row[i].number,
                                     b.row[i].window, text[0] ? "(" : "", text, text[0] ? ")" : "");
            }
        }
        /* An empty notice line shows nothing. */
        if (used < cap &&
            busmap_notice_decode(sl->hr + BUSMAP_HR_NOTICE, BUSMAP_NOTICE_REGS, &n) == 0 &&
            n.text_len > 0) {
            gb_text(n.text, n.text_len, text, sizeof text);
            snprintf(out + used, cap - used, " | notice: \"%s\"", text);
        }
        return;
    }
    case BUS_KIND_CALLPAD: {
        busmap_callpad c;

        if (busmap_callpad_decode(sl->hr + BUSMAP_HR_CALLPAD, BUSMAP_CALLPAD_REGS, &c) < 0)
            c = (busmap_callpad){0};
        gb_text(c.text, c.text_len, text, sizeof text);
        snprintf(out, cap,
                 "callpad %d: ticket %s waiting %u%s%s%s text \"%s\" | fifo %zu/%d next seq %u",
                 sl->conf.window, c.number[0] ? c.number : "-", c.waiting,
                 c.flags & BUSMAP_PAD_APPOINTMENT ? " 预约" : "",
                 c.flags & BUSMAP_PAD_GREEN ? " 绿色通道" : "",
                 c.flags & BUSMAP_PAD_TRANSFERRED ? " 转办" : "", text, sl->nfifo, BUSMAP_FIFO_MAX,
                 sl->next_seq);
        return;
    }
    case BUS_KIND_RATING: {
        busmap_prompt p;
        static const char *const states[] = {"idle", "prompt", "rated", "timed out"};

        if (busmap_prompt_decode(sl->hr + BUSMAP_HR_PROMPT, BUSMAP_PROMPT_REGS, &p) < 0)
            p = (busmap_prompt){0};
        if (sl->prompt == BUS_PROMPT_SHOWN)
            snprintf(out, cap, "rating %d: prompt %u for %s (%lld s left)", sl->conf.window,
                     sl->prompt_id, p.number,
                     (long long)((sl->prompt_deadline - now + 999) / 1000));
        else
            snprintf(out, cap, "rating %d: %s (prompt %u)", sl->conf.window, states[sl->prompt],
                     sl->prompt_id);
        return;
    }
    case BUS_KIND_NONE:
        break;
    }
    snprintf(out, cap, "?");
}

static void view_redraw(struct sim *s)
{
    char line[1024];
    int64_t now = clk_mono_ms();

    printf("\033[H\033[J");
    for (size_t i = 0; i < s->nslaves; i++) {
        slave_view(&s->slave[i], now, line, sizeof line);
        printf("[%3d] %s\n", s->slave[i].conf.addr, line);
    }
    fflush(stdout);
}

/* Log what sl shows now. */
static void changed(struct sim *s, struct slave *sl)
{
    char line[1024];
    int64_t now = clk_mono_ms();

    slave_view(sl, now, line, sizeof line);
    fprintf(s->out, "%lld addr=%d %s\n", (long long)now, sl->conf.addr, line);
    fflush(s->out);
    if (s->view)
        view_redraw(s);
}

/* Time passes: blinks end, prompts time out (the pad posts a timeout
 * event with the prompt's id). */
static void on_tick(ev_loop *loop, ev_timer *t, void *arg)
{
    struct sim *s = arg;
    int64_t now = clk_mono_ms();

    for (size_t i = 0; i < s->nslaves; i++) {
        struct slave *sl = &s->slave[i];
        uint16_t seq;

        if (sl->blinking && sl->blink_until <= now) {
            sl->blinking = false;
            changed(s, sl);
        }
        if (sl->prompt == BUS_PROMPT_SHOWN && sl->prompt_deadline <= now &&
            slave_push(sl, BUS_RATING_TIMEOUT, sl->prompt_id, &seq) == 0) {
            sl->prompt = BUS_PROMPT_TIMED_OUT;
            changed(s, sl);
        }
    }
    ev_timer_start(loop, t, TICK_MS);
}

/* ------------------------------------------------------------------------
 * The PDU handler
 */

/* The holding registers a kind accepts writes to: [reg, reg + n) must lie
 * within one of its blocks. */
static bool write_allowed(bus_kind kind, unsigned reg, unsigned n)
{
    static const struct {
        unsigned reg, n;
        unsigned kinds; /* bit per bus_kind */
    } blocks[] = {
        {BUSMAP_HR_ACK_BOOT, BUSMAP_ACK_REGS, 1u << BUS_KIND_CALLPAD | 1u << BUS_KIND_RATING},
        {BUSMAP_HR_BRIGHTNESS, 1, 0x1e},
        {BUSMAP_HR_WINDOW, BUSMAP_WINDOW_REGS, 1u << BUS_KIND_WINDOW},
        {BUSMAP_HR_BOARD, BUSMAP_BOARD_REGS, 1u << BUS_KIND_BOARD},
        {BUSMAP_HR_NOTICE, BUSMAP_NOTICE_REGS, 1u << BUS_KIND_BOARD},
        {BUSMAP_HR_CALLPAD, BUSMAP_CALLPAD_REGS, 1u << BUS_KIND_CALLPAD},
        {BUSMAP_HR_PROMPT, BUSMAP_PROMPT_REGS, 1u << BUS_KIND_RATING},
    };

    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        if ((blocks[i].kinds & 1u << kind) && reg >= blocks[i].reg &&
            reg + n <= blocks[i].reg + blocks[i].n)
            return true;
    return false;
}

static bool overlaps(unsigned reg, unsigned n, unsigned block, unsigned bn)
{
    return reg < block + bn && block < reg + n;
}

/* Registers reg..reg+n-1 were written: act on what they mean. */
static void slave_written(struct sim *s, struct slave *sl, unsigned reg, unsigned n,
                          uint16_t old_gen)
{
    int64_t now = clk_mono_ms();

    /* An acknowledgement counts only for this boot: one read before a
     * restart must not drop the events that came after it. */
    if (overlaps(reg, n, BUSMAP_HR_ACK_SEQ, 1) && sl->hr[BUSMAP_HR_ACK_BOOT] == sl->boot_id)
        slave_ack(sl, sl->hr[BUSMAP_HR_ACK_SEQ]);
    if (overlaps(reg, n, BUSMAP_HR_WINDOW, BUSMAP_WINDOW_REGS)) {
        /* A new generation is a new call (or a recall): blink again. */
        if (sl->hr[BUSMAP_HR_WINDOW] != old_gen) {
            sl->blink_until = now + sl->hr[BUSMAP_HR_WINDOW + 2];
            sl->blinking = sl->hr[BUSMAP_HR_WINDOW + 2] > 0;
        }
        changed(s, sl);
    }
    if (overlaps(reg, n, BUSMAP_HR_BOARD, BUSMAP_BOARD_REGS + BUSMAP_NOTICE_REGS) ||
        overlaps(reg, n, BUSMAP_HR_CALLPAD, BUSMAP_CALLPAD_REGS))
        changed(s, sl);
    if (overlaps(reg, n, BUSMAP_HR_PROMPT, BUSMAP_PROMPT_REGS)) {
        uint16_t id = sl->hr[BUSMAP_HR_PROMPT];

        if (id == 0) {
            sl->prompt = BUS_PROMPT_IDLE;
        } else if (id != sl->prompt_id || sl->prompt == BUS_PROMPT_IDLE) {
            sl->prompt = BUS_PROMPT_SHOWN;
            sl->prompt_id = id;
            sl->prompt_deadline = now + (int64_t)sl->hr[BUSMAP_HR_PROMPT + 1] * 1000;
        }
        changed(s, sl);
    }
}

static uint16_t input_reg(const struct slave *sl, unsigned reg)
{
    switch (reg) {
    case BUSMAP_IR_MAP_VERSION:
        return BUSMAP_VERSION;
    case BUSMAP_IR_KIND:
        return (uint16_t)sl->conf.kind;
    case BUSMAP_IR_FIRMWARE:
        return 0x0100;
    case BUSMAP_IR_BOOT_ID:
        return sl->boot_id;
    case BUSMAP_IR_STATUS:
        return (uint16_t)(BUSMAP_ST_OK | (sl->nfifo == BUSMAP_FIFO_MAX ? BUSMAP_ST_FIFO_FULL : 0));
    case BUSMAP_IR_EV_COUNT:
        return (uint16_t)sl->nfifo;
    case BUSMAP_IR_PROMPT_STATE:
        return (uint16_t)sl->prompt;
    case BUSMAP_IR_PROMPT_ID:
        return sl->prompt_id;
    default: {
        if (reg >= BUSMAP_IR_ENTRY && reg < BUSMAP_IR_ENTRY + BUSMAP_ENTRY_REGS) {
            uint16_t regs[BUSMAP_ENTRY_REGS];

            busmap_entry_encode(&sl->entry, regs);
            return regs[reg - BUSMAP_IR_ENTRY];
        }
        unsigned i = (reg - BUSMAP_IR_EV_FIRST) / BUSMAP_EV_REGS;
        unsigned f = (reg - BUSMAP_IR_EV_FIRST) % BUSMAP_EV_REGS;

        if (i >= sl->nfifo)
            return 0;
        return f == 0 ? sl->fifo[i].seq : f == 1 ? sl->fifo[i].code : sl->fifo[i].arg;
    }
    }
}

static size_t exception(uint8_t fc, uint8_t code, uint8_t *rsp)
{
    rsp[0] = (uint8_t)(fc | 0x80);
    rsp[1] = code;
    return 2;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Apply one request PDU (function code first) to sl and write the reply
 * PDU into rsp (ADU_MAX bytes). The reply's length. */
static size_t slave_pdu(struct sim *s, struct slave *sl, const uint8_t *pdu, size_t len,
                        uint8_t *rsp)
{
    uint8_t fc = pdu[0];
    unsigned reg, n;

    if (sl->exception)
        return exception(fc, EXC_FAILURE, rsp);
    if (fc == 0x03 || fc == 0x04) {
        if (len != 5)
            return exception(fc, EXC_ILL_VAL, rsp);
        reg = get16(pdu + 1);
        n = get16(pdu + 3);
        if (n < 1 || n > 125)
            return exception(fc, EXC_ILL_VAL, rsp);
        if (fc == 0x03 ? reg + n > BUSMAP_HR_END
                       : reg < BUSMAP_IR_MAP_VERSION || reg + n > BUSMAP_IR_END)
            return exception(fc, EXC_ILL_ADR, rsp);
        rsp[0] = fc;
        rsp[1] = (uint8_t)(2 * n);
        for (unsigned i = 0; i < n; i++) {
            uint16_t v = fc == 0x03 ? sl->hr[reg + i] : input_reg(sl, reg + i);

            rsp[2 + 2 * i] = (uint8_t)(v >> 8);
            rsp[3 + 2 * i] = (uint8_t)v;
        }
        return 2 + 2 * n;
    }
    if (fc == 0x06 || fc == 0x10) {
        uint16_t old_gen = sl->hr[BUSMAP_HR_WINDOW];

        if (fc == 0x06 && len != 5)
            return exception(fc, EXC_ILL_VAL, rsp);
        reg = get16(pdu + 1);
        n = fc == 0x06 ? 1 : get16(pdu + 3);
        if (fc == 0x10 && (len < 6 || n < 1 || n > 123 || pdu[5] != 2 * n || len != 6 + 2 * n))
            return exception(fc, EXC_ILL_VAL, rsp);
        if (!write_allowed(sl->conf.kind, reg, n))
            return exception(fc, EXC_ILL_ADR, rsp);
        for (unsigned i = 0; i < n; i++)
            sl->hr[reg + i] = fc == 0x06 ? get16(pdu + 3) : get16(pdu + 6 + 2 * i);
        slave_written(s, sl, reg, n, old_gen);
        memcpy(rsp, pdu, 5);
        return 5;
    }
    return exception(fc, EXC_ILL_FN, rsp);
}

/* A request for unit: its reply PDU in rsp and its length, or 0 for no
 * reply (a broadcast, an unknown or silent slave, a dropped reply). *bad
 * says to corrupt the reply (bad CRC). */
static size_t handle_request(struct sim *s, int unit, const uint8_t *pdu, size_t len, uint8_t *rsp,
                             bool *bad)
{
    struct slave *sl;
    size_t r;

    *bad = false;
    if (len < 1)
        return 0;
    if (unit == 0) {
        /* Broadcast: writes only, every slave acts, nobody answers. */
        for (size_t i = 0; i < s->nslaves; i++)
            if (!s->slave[i].silent && (pdu[0] == 0x06 || pdu[0] == 0x10))
                slave_pdu(s, &s->slave[i], pdu, len, rsp);
        return 0;
    }
    if ((sl = slave_at(s, unit)) == NULL || sl->silent)
        return 0;
    r = slave_pdu(s, sl, pdu, len, rsp);
    if (sl->drop > 0) {
        sl->drop--;
        return 0;
    }
    *bad = sl->badcrc;
    return r;
}

/* ------------------------------------------------------------------------
 * RTU on the pty
 */

/* The length of the request frame at the start of p (n bytes known), 0 if
 * more bytes are needed to tell, -1 if no request starts here. */
static int rtu_frame_len(const uint8_t *p, size_t n)
{
    if (n < 2)
        return 0;
    switch (p[1]) {
    case 0x03:
    case 0x04:
    case 0x06:
        return 8;
    case 0x10:
        return n < 7 ? 0 : 9 + p[6];
    default:
        return -1;
    }
}

static void rtu_process(struct sim *s)
{
    uint8_t rsp[ADU_MAX + 2];

    for (;;) {
        const uint8_t *p = buf_rdata(&s->rtu_in);
        size_t n = buf_rlen(&s->rtu_in);
        int flen = rtu_frame_len(p, n);
        bool bad;
        size_t r;

        if (flen == 0 || (flen > 0 && (size_t)flen > n))
            return;
        if (flen < 0 ||
            busmap_crc16(p, (size_t)flen - 2) != (uint16_t)(p[flen - 2] | p[flen - 1] << 8)) {
            /* Not a frame (noise, a broken frame): hunt byte by byte. */
            s->rtu_garbage++;
            buf_consume(&s->rtu_in, 1);
            continue;
        }
        r = handle_request(s, p[0], p + 1, (size_t)flen - 3, rsp + 1, &bad);
        if (r > 0) {
            uint16_t crc;

            rsp[0] = p[0];
            crc = busmap_crc16(rsp, r + 1);
            if (bad)
                crc ^= 0x5a5a;
            rsp[r + 1] = (uint8_t)crc;
            rsp[r + 2] = (uint8_t)(crc >> 8);
            if (write(s->pty_master, rsp, r + 3) != (ssize_t)(r + 3))
                log_warn("rtu: short write of a reply: %s", strerror(errno));
        }
        buf_consume(&s->rtu_in, (size_t)flen);
    }
}

static void on_rtu_gap(ev_loop *loop, ev_timer *t, void *arg)
{
    struct sim *s = arg;

    (void)loop;
    (void)t;
    if (buf_rlen(&s->rtu_in) > 0) {
        log_debug("rtu: dropped %zu bytes of an incomplete frame", buf_rlen(&s->rtu_in));
        s->rtu_garbage += buf_rlen(&s->rtu_in);
        buf_clear(&s->rtu_in);
    }
}

static void on_rtu_readable(ev_loop *loop, int fd, int events, void *arg)
{
    struct sim *s = arg;
    uint8_t *w;
    ssize_t got;

    (void)events;
    if ((w = buf_reserve(&s->rtu_in, 512)) == NULL) {
        buf_clear(&s->rtu_in);
        return;
    }
    got = read(fd, w, 512);
    if (got <= 0) {
        if (got < 0 && errno != EAGAIN && errno != EINTR && errno != EIO)
            log_warn("rtu: read: %s", strerror(errno));
        return;
    }
    buf_commit(&s->rtu_in, (size_t)got);
    rtu_process(s);
    ev_timer_start(loop, &s->rtu_gap, RTU_GAP_MS);
}

static int rtu_start(struct sim *s, const char *link_path)
{
    struct termios raw;
    char name[PATH_MAX];
    int flags;

    memset(&raw, 0, sizeof raw);
    cfmakeraw(&raw);
    if (openpty(&s->pty_master, &s->pty_slave, name, &raw, NULL) < 0) {
        log_error("openpty: %s", strerror(errno));
        return -1;
    }
    flags = fcntl(s->pty_master, F_GETFL);
    fcntl(s->pty_master, F_SETFL, flags | O_NONBLOCK);
    fcntl(s->pty_master, F_SETFD, FD_CLOEXEC);
    fcntl(s->pty_slave, F_SETFD, FD_CLOEXEC);
    unlink(link_path);
    if (symlink(name, link_path) < 0) {
        log_error("symlink %s -> %s: %s", link_path, name, strerror(errno));
        return -1;
    }
    snprintf(s->link, sizeof s->link, "%s", link_path);
    buf_init(&s->rtu_in, 4096);
    ev_timer_init(&s->rtu_gap, on_rtu_gap, s);
    if (ev_fd_set(s->loop, s->pty_master, EV_READ, on_rtu_readable, s) < 0)
        return -1;
    printf("bussim: rtu on %s (%s)\n", link_path, name);
    return 0;
}

/* ------------------------------------------------------------------------
 * Modbus TCP
 */

static void on_tcp_data(net_conn *c, buf *in, void *arg)
{
    struct sim *s = arg;

    while (buf_rlen(in) >= TCP_MBAP) {
        const uint8_t *p = buf_rdata(in);
        uint16_t len = get16(p + 4);
        uint8_t rsp[TCP_MBAP + ADU_MAX];
        bool bad;
        size_t r;

        if (get16(p + 2) != 0 || len < 2 || len > 254) {
            net_conn_close(c, false, "not Modbus TCP (bad MBAP header)");
            return;
        }
        if (buf_rlen(in) < (size_t)(6 + len))
            return;
        r = handle_request(s, p[6], p + TCP_MBAP, (size_t)len - 1, rsp + TCP_MBAP, &bad);
        if (r > 0) {
            memcpy(rsp, p, 4);
            /* TCP has no CRC: a corrupt reply carries a wrong transaction id. */
            if (bad)
                rsp[1] ^= 0x5a;
            rsp[4] = (uint8_t)((r + 1) >> 8);
            rsp[5] = (uint8_t)(r + 1);
            rsp[6] = p[6];
            if (net_conn_write(c, rsp, TCP_MBAP + r) < 0)
                return;
            net_conn_flush(c);
        }
        buf_consume(in, (size_t)(6 + len));
    }
}

static void drop_conn(net_conn **list, net_conn *c)
{
    for (size_t i = 0; i < CONNS; i++)
        if (list[i] == c)
            list[i] = NULL;
}

static void on_tcp_close(net_conn *c, const char *reason, void *arg)
{
    struct sim *s = arg;

    drop_conn(s->tcp, c);
    log_info("tcp %s closed: %s", net_conn_peer_addr(c), reason);
}

static const net_conn_handlers tcp_handlers = {NULL, on_tcp_data, on_tcp_close};

static void accept_into(struct sim *s, int fd, net_conn **list, const net_conn_handlers *h,
                        const char *what)
{
    char err[NET_ERR_LEN];
    size_t i;
    int cfd;

    if ((cfd = net_accept(fd, NULL, 0, err)) < 0) {
        if (errno != EAGAIN)
            log_warn("%s accept: %s", what, err);
        return;
    }
    for (i = 0; i < CONNS && list[i] != NULL; i++)
        ;
    if (i == CONNS) {
        log_warn("%s connection refused: %d already open", what, CONNS);
        close(cfd);
        return;
    }
    if ((list[i] = net_conn_new(s->loop, cfd, NULL, true, 64 * 1024, 256 * 1024, h, s)) == NULL)
        log_warn("%s connection: %s", what, strerror(errno));
}

static void on_tcp_accept(ev_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    accept_into(arg, fd, ((struct sim *)arg)->tcp, &tcp_handlers, "tcp");
}

/* ------------------------------------------------------------------------
 * Commands
 */

static int parse_int(const char *arg, long lo, long hi, long *out)
{
    char *end;
    long v;

    if (arg == NULL)
        return -1;
    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Run one command line; the reply (lines, the last "ok ..." or
 * "error ...") goes to out. */
static void command(struct sim *s, char *line, FILE *out)
{
    char *save = NULL, *argv[6] = {NULL};
    int argc = 0;
    struct slave *sl = NULL;
    long addr = 0, v = 0;
    bool on = false;
    uint16_t seq;

    for (char *t = strtok_r(line, " \t", &save); t != NULL && argc < 6;
         t = strtok_r(NULL, " \t", &save))
        argv[argc++] = t;
    if (argc == 0)
        return;
    if (strcmp(argv[0], "show") == 0) {
        char view[1024];
        int64_t now = clk_mono_ms();

        for (size_t i = 0; i < s->nslaves; i++) {
            slave_view(&s->slave[i], now, view, sizeof view);
            fprintf(out, "[%3d] %s\n", s->slave[i].conf.addr, view);
        }
        fprintf(out, "ok %zu devices, %lu garbage bytes on rtu\n", s->nslaves, s->rtu_garbage);
        return;
    }
    if (argc < 2 || parse_int(argv[1], 1, 247, &addr) < 0 ||
        (sl = slave_at(s, (int)addr)) == NULL) {
        fprintf(out, "error unknown command or device: %s\n", argv[0]);
        return;
    }
    if (argc == 3 && (strcmp(argv[2], "on") == 0 || strcmp(argv[2], "off") == 0))
        on = strcmp(argv[2], "on") == 0;
    if (strcmp(argv[0], "press") == 0) {
        int key = argc >= 3 ? busmap_key_parse(argv[2]) : 0;
        busmap_entry entry = {0};
        uint16_t probe[BUSMAP_ENTRY_REGS];

        if (key == BUS_KEY_SIGNIN && argc == 5) {
            snprintf(entry.clerk, sizeof entry.clerk, "%s", argv[3]);
            snprintf(entry.pin, sizeof entry.pin, "%s", argv[4]);
        }
        if (sl->conf.kind != BUS_KIND_CALLPAD || key == 0 ||
            (key == BUS_KEY_TRANSFER && (argc < 4 || parse_int(argv[3], 1, 9999, &v) < 0)) ||
            (key == BUS_KEY_SIGNIN &&
             (argc != 5 || strlen(argv[3]) > BUSMAP_CLERK_MAX || strlen(argv[4]) > BUSMAP_PIN_MAX ||
              busmap_entry_encode(&entry, probe) < 0))) {
            fprintf(out, "error usage: press ADDR(callpad) KEY [TARGET | CLERK PIN] "
                         "(next recall noshow start finish transfer pause resume signin "
                         "signout)\n");
            return;
        }
        /* One sign-in at a time: its digits wait in the entry registers
         * until the master took it. */
        if (key == BUS_KEY_SIGNIN && sl->entry.seq != 0) {
            fprintf(out, "error a sign-in is still pending: press refused\n");
            return;
        }
        if (slave_push(sl, (uint16_t)key, (uint16_t)v, &seq) < 0) {
            fprintf(out, "error fifo full: press refused\n");
            return;
        }
        if (key == BUS_KEY_SIGNIN) {
            entry.seq = seq;
            sl->entry = entry;
        }
        changed(s, sl);
        fprintf(out, "ok seq %u\n", seq);
    } else if (strcmp(argv[0], "rate") == 0) {
        if (sl->conf.kind != BUS_KIND_RATING || parse_int(argv[2], 1, 5, &v) < 0) {
            fprintf(out, "error usage: rate ADDR(rating) LEVEL(1..5)\n");
            return;
        }
        if (sl->prompt != BUS_PROMPT_SHOWN) {
            fprintf(out, "error no prompt is shown\n");
            return;
        }
        if (slave_push(sl, (uint16_t)v, sl->prompt_id, &seq) < 0) {
            fprintf(out, "error fifo full: rating refused\n");
            return;
        }
        sl->prompt = BUS_PROMPT_RATED;
        changed(s, sl);
        fprintf(out, "ok seq %u\n", seq);
    } else if (argc == 3 && strcmp(argv[2], "on") != 0 && strcmp(argv[2], "off") != 0 &&
               (strcmp(argv[0], "silent") == 0 || strcmp(argv[0], "exception") == 0 ||
                strcmp(argv[0], "badcrc") == 0 || strcmp(argv[0], "ignoreack") == 0)) {
        fprintf(out, "error usage: %s ADDR on|off\n", argv[0]);
    } else if (argc == 3 && strcmp(argv[0], "silent") == 0) {
        sl->silent = on;
        fprintf(out, "ok\n");
    } else if (argc == 3 && strcmp(argv[0], "exception") == 0) {
        sl->exception = on;
        fprintf(out, "ok\n");
    } else if (argc == 3 && strcmp(argv[0], "badcrc") == 0) {
        sl->badcrc = on;
        fprintf(out, "ok\n");
    } else if (argc == 3 && strcmp(argv[0], "ignoreack") == 0) {
        sl->ignoreack = on;
        fprintf(out, "ok\n");
    } else if (argc == 3 && strcmp(argv[0], "drop") == 0 && parse_int(argv[2], 0, 1000, &v) == 0) {
        sl->drop = (int)v;
        fprintf(out, "ok\n");
    } else if (argc == 3 && strcmp(argv[0], "seq") == 0 && parse_int(argv[2], 0, 65535, &v) == 0) {
        sl->next_seq = (uint16_t)v;
        fprintf(out, "ok\n");
    } else if (argc == 2 && strcmp(argv[0], "reboot") == 0) {
        slave_boot(s, sl);
        changed(s, sl);
        fprintf(out, "ok boot id %u\n", sl->boot_id);
    } else {
        fprintf(out, "error unknown command: %s\n", argv[0]);
    }
}

/* A command line from the control port or stdin (command() cuts it into
 * words in place, so it works on a copy). */
static void control_line(void *arg, const char *line, FILE *out)
{
    char words[CTLPORT_LINE_MAX + 1];

    snprintf(words, sizeof words, "%s", line);
    command(arg, words, out);
}

static void on_stdin(ev_loop *loop, int fd, int events, void *arg)
{
    struct sim *s = arg;
    uint8_t *w = buf_reserve(&s->stdin_in, 512);
    ssize_t got;

    (void)events;
    got = w != NULL ? read(fd, w, 512) : -1;
    if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        ev_fd_del(loop, fd);
        return;
    }
    buf_commit(&s->stdin_in, (size_t)got);
    if (!ctlport_run_lines(&s->stdin_in, control_line, s, stdout)) {
        fprintf(stdout, "error line too long\n");
        buf_clear(&s->stdin_in);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------
 * Signals and main
 */

static void on_signal(ev_loop *loop, int signo, void *arg)
{
    (void)arg;
    log_info("%s: stopping", strsignal(signo));
    ev_stop(loop);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bussim --devices LIST [--rtu-link PATH] [--tcp PORT] [--control-port N]\n"
            "              [--stdin] [--view] [--out FILE] [--log-level LEVEL]\n"
            "Simulates the hall's RS-485 Modbus devices on a pty (RTU, linked at PATH)\n"
            "and/or Modbus TCP on %s (port 0 picks one). LIST is ADDR:KIND[:WINDOW],...\n"
            "with KIND window, board, callpad or rating, e.g.\n"
            "  1:board,11:window:1,41:callpad:1,71:rating:1\n"
            "Commands (control port, --stdin): show |\n"
            "press ADDR KEY [TARGET | CLERK PIN] |\n"
            "rate ADDR LEVEL | silent|exception|badcrc|ignoreack ADDR on|off |\n"
            "drop ADDR N | seq ADDR N | reboot ADDR. See docs/bus.md.\n",
            HOST);
}

static int listen_on(struct sim *s, int port, int *fd, ev_fd_fn *fn, const char *what)
{
    char err[NET_ERR_LEN];

    if ((*fd = net_listen(HOST, port, 8, err)) < 0 || ev_fd_set(s->loop, *fd, EV_READ, fn, s) < 0) {
        log_error("%s on %s:%d: %s", what, HOST, port, *fd < 0 ? err : strerror(errno));
        return -1;
    }
    printf("bussim: %s on %s:%d\n", what, HOST, net_local_port(*fd));
    return 0;
}

static int control_start(struct sim *s, int port)
{
    char err[NET_ERR_LEN];

    if ((s->control = ctlport_new(s->loop, HOST, port, control_line, s, err)) == NULL) {
        log_error("control on %s:%d: %s", HOST, port, err);
        return -1;
    }
    printf("bussim: control on %s:%d\n", HOST, ctlport_port(s->control));
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"devices", required_argument, NULL, 'd'}, {"rtu-link", required_argument, NULL, 'r'},
        {"tcp", required_argument, NULL, 't'},     {"control-port", required_argument, NULL, 'c'},
        {"stdin", no_argument, NULL, 's'},         {"view", no_argument, NULL, 'v'},
        {"out", required_argument, NULL, 'o'},     {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    static const int signals[] = {SIGTERM, SIGINT, 0};
    struct sim s = {.pty_master = -1, .pty_slave = -1, .tcp_fd = -1};
    bus_device devs[SLAVES_MAX];
    const char *spec = NULL, *link_path = NULL, *out_path = NULL;
    long tcp_port = -1, control_port = -1;
    int opt, level = LOG_LEVEL_INFO, rc = 1, n;
    char err[256];

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            spec = optarg;
            break;
        case 'r':
            link_path = optarg;
            break;
        case 't':
        case 'c':
            if (parse_int(optarg, 0, 65535, opt == 't' ? &tcp_port : &control_port) < 0) {
                fprintf(stderr, "bussim: bad port: %s\n", optarg);
                return 2;
            }
            break;
        case 's':
            s.use_stdin = true;
            break;
        case 'v':
            s.view = true;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'l':
            if ((level = log_level_parse(optarg)) < 0) {
                fprintf(stderr, "bussim: bad log level: %s\n", optarg);
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
    if (optind != argc || spec == NULL || (link_path == NULL && tcp_port < 0)) {
        usage(stderr);
        return 2;
    }
    if ((n = busmap_parse_devices(spec, devs, SLAVES_MAX, err, sizeof err)) <= 0) {
        fprintf(stderr, "bussim: %s\n", n == 0 ? "no devices" : err);
        return 2;
    }
    log_open("bussim", (enum log_level)level, LOG_TO_STDERR);
    s.out = stdout;
    if (out_path != NULL && (s.out = fopen(out_path, "a")) == NULL) {
        log_error("%s: %s", out_path, strerror(errno));
        return 1;
    }
    s.nslaves = (size_t)n;
    for (size_t i = 0; i < s.nslaves; i++) {
        s.slave[i].conf = devs[i];
        slave_boot(&s, &s.slave[i]);
    }
    buf_init(&s.stdin_in, 4096);
    if ((s.loop = ev_new()) == NULL ||
        (s.signals = sig_watch_new(s.loop, signals, on_signal, &s)) == NULL) {
        log_error("cannot start the event loop: %s", strerror(errno));
        goto out;
    }
    ev_timer_init(&s.tick, on_tick, &s);
    if (ev_timer_start(s.loop, &s.tick, TICK_MS) < 0 ||
        (link_path != NULL && rtu_start(&s, link_path) < 0) ||
        (tcp_port >= 0 && listen_on(&s, (int)tcp_port, &s.tcp_fd, on_tcp_accept, "tcp") < 0) ||
        (control_port >= 0 && control_start(&s, (int)control_port) < 0))
        goto out;
    if (s.use_stdin && ev_fd_set(s.loop, STDIN_FILENO, EV_READ, on_stdin, &s) < 0) {
        log_error("stdin: %s", strerror(errno));
        goto out;
    }
    printf("bussim: ready, %zu devices\n", s.nslaves);
    fflush(stdout);
    if (s.view)
        view_redraw(&s);
    rc = ev_run(s.loop) < 0 ? 1 : 0;
    for (size_t i = 0; i < CONNS; i++)
        if (s.tcp[i] != NULL)
            net_conn_close(s.tcp[i], false, "simulator stopped");
out:
    ctlport_free(s.control);
    sig_watch_free(s.signals);
    ev_free(s.loop);
    if (s.pty_master >= 0)
        close(s.pty_master);
    if (s.pty_slave >= 0)
        close(s.pty_slave);
    if (s.link[0] != '\0')
        unlink(s.link);
    if (s.tcp_fd >= 0)
        close(s.tcp_fd);
    buf_release(&s.rtu_in);
    buf_release(&s.stdin_in);
    if (s.out != stdout)
        fclose(s.out);
    log_close();
    return rc;
}
