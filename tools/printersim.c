/*
 * printersim — an ESC/POS network ticket printer on loopback, the way
 * 9100-port ("raw socket") printers work, for testing the printer driver
 * and the kiosk without hardware.
 *
 * It accepts one job connection at a time (the others wait in the listen
 * backlog, as on a real printer), decodes what arrives into readable text
 * and answers DLE EOT real-time status queries at once, in the middle of a
 * job too. Its state (paper, cover, silent) is set by flags at start, by
 * signals (SIGUSR1 toggles paper out, SIGUSR2 toggles the cover) and by a
 * line protocol on a second loopback port (--control-port). docs/printer.md
 * ("Printer simulator") describes the output format and the protocol.
 *
 * The file is laid out as: the simulator state and its status bytes; the
 * readable output (lines and markup); the incremental ESC/POS decoder; the
 * job connection; the control connections; signals and main.
 *
 * Exit status: 0 after SIGTERM or SIGINT, 1 when it cannot start, 2 for bad
 * usage.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <iconv.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ctlport.h"
#include "ev.h"
#include "log.h"
#include "net.h"
#include "sig.h"

#define HOST       "127.0.0.1"
#define BACKLOG    8
#define READ_CHUNK 4096
#define CMD_MAX    (5 + 65535) /* GS ( k with the largest pL pH */
#define IN_LIMIT   (CMD_MAX + READ_CHUNK)
#define LINE_CAP   1024 /* a printed line with its markup */
#define QR_MAX     7089 /* QR model 2, version 40, numeric */
#define SILENT_MS  1000 /* how long a silent printer still reads */
#define SHOW_MAX   8    /* bytes shown in an [unknown ...] report */

/* ------------------------------------------------------------------------
 * Simulator state and status bytes
 */

/* Print modes that show as markup. align: 0 left, 1 centre, 2 right. */
struct modes {
    int align;
    int width, height; /* 1..8 */
    bool bold, underline;
};

/*
 * A job is one connection. Whether it prints:
 *
 *     PRINTING --paper out / cover open / silent [job_stop]--> STOPPED
 *
 * A stopped job never prints again: the rest of it is decoded only to
 * answer DLE EOT, and the next job prints once the printer is ready.
 * Whether it reads:
 *
 *     READ_ON --silent on [job_go_silent]--> READ_SILENT --SILENT_MS--> READ_OFF
 *        ^                                       |                        |
 *        +----------- silent off [job_wake] -----+------------------------+
 *
 * READ_SILENT reads and discards; READ_OFF does not read, so the sender's
 * socket buffers fill and its writes block or time out.
 */
enum job_print { JOB_PRINTING, JOB_STOPPED };
enum job_read { READ_ON, READ_SILENT, READ_OFF };

struct sim;

struct job {
    struct sim *sim;
    int fd;
    char peer[64];
    unsigned number;
    size_t bytes;         /* received, silent ones included */
    enum job_print print; /* see the diagram above */
    enum job_read read;
    const char *stop_why; /* set when STOPPED */
    ev_timer silent_timer;
    buf in;             /* received, not yet decoded */
    bool chinese;       /* FS & in effect */
    struct modes mode;  /* current modes */
    struct modes shown; /* modes the markup of this line reflects */
    char line[LINE_CAP];
    size_t line_len;
    bool line_open; /* some text or markup is in line */
    uint8_t qr[QR_MAX];
    size_t qr_len;
    bool qr_stored;
    iconv_t gb; /* GB18030 -> UTF-8 */
};

struct sim {
    ev_loop *loop;
    int listen_fd;
    ctlport *control;
    sig_watch *signals;
    FILE *out;
    bool paper_out, near_end, cover_open, silent;
    long paper_left; /* job bytes the roll still takes before it runs out; -1: no end */
    unsigned jobs;   /* jobs accepted so far */
    struct job *job; /* the current job, NULL when idle */
};

static const struct modes default_modes = {0, 1, 1, false, false};

static void job_assert_state(const struct job *j)
{
    assert(j->fd >= 0);
    assert(j->print == JOB_PRINTING || j->stop_why != NULL);
    assert(j->read != READ_SILENT || ev_timer_active(&j->silent_timer));
    assert(j->read == READ_SILENT || !ev_timer_active(&j->silent_timer));
    assert(j->line_len < LINE_CAP);
    (void)j;
}

static bool sim_offline(const struct sim *s)
{
    return s->paper_out || s->cover_open;
}

/* The answer to DLE EOT n (n = 1..4), per devices.md 1.5: bits 1 and 4 are
 * always 1, bits 0 and 7 always 0, so (b & 0x93) == 0x12. */
static uint8_t sim_status(const struct sim *s, int n)
{
    uint8_t b = 0x12;

    switch (n) {
    case 1: /* printer: bit3 offline */
        if (sim_offline(s))
            b |= 0x08;
        break;
    case 2: /* offline cause: bit2 cover open, bit5 stopped by paper end */
        if (s->cover_open)
            b |= 0x04;
        if (s->paper_out)
            b |= 0x20;
        break;
    case 3: /* error cause: the simulator has no cutter or head errors */
        break;
    default: /* 4, paper sensor: 0x0C near end, 0x60 paper end */
        if (s->paper_out)
            b |= 0x60;
        else if (s->near_end)
            b |= 0x0C;
        break;
    }
    return b;
}

static void sim_describe(const struct sim *s, char *out, size_t len)
{
    snprintf(out, len, "paper=%s cover=%s silent=%s job=%s jobs=%u",
             s->paper_out  ? "out"
             : s->near_end ? "near-end"
                           : "ok",
             s->cover_open ? "open" : "closed", s->silent ? "on" : "off",
             s->job != NULL ? "busy" : "idle", s->jobs);
}

/* ------------------------------------------------------------------------
 * Readable output: one text line per printed line, markup for the modes
 */

static void out_line(struct job *j, const char *text)
{
    fprintf(j->sim->out, "%s\n", text);
    fflush(j->sim->out);
}

/* Stop printing this job for good (PRINTING -> STOPPED), saying why once. */
static void job_stop(struct job *j, const char *why)
{
    char note[96];

    if (j->print == JOB_STOPPED)
        return;
    snprintf(note, sizeof note, "[%s: printing stopped]", why);
    out_line(j, note);
    j->print = JOB_STOPPED;
    j->stop_why = why;
    j->line_len = 0;
    j->line_open = false;
    log_info("job %u: %s, the rest of the job is not printed", j->number, why);
}

/* Append to the current line; a line longer than LINE_CAP wraps, as paper
 * does. */
static void line_put(struct job *j, const char *text, size_t len)
{
    if (j->print == JOB_STOPPED)
        return;
    while (len > 0) {
        size_t room = LINE_CAP - 1 - j->line_len;
        size_t n = len < room ? len : room;

        memcpy(j->line + j->line_len, text, n);
        j->line_len += n;
        j->line_open = true;
        text += n;
        len -= n;
        if (len > 0) {
            j->line[j->line_len] = '\0';
            out_line(j, j->line);
            j->line_len = 0;
        }
    }
}

static void line_puts(struct job *j, const char *text)
{
    line_put(j, text, strlen(text));
}

static void put_size(struct job *j, int w, int h)
{
    char m[16];

    if (w == h)
        snprintf(m, sizeof m, "[x%d]", w);
    else
        snprintf(m, sizeof m, "[w%dh%d]", w, h);
    line_puts(j, m);
}

/* Bring the markup of the line up to the current modes before text is
 * added: at the start of a line everything that is not the default, then
 * only what changed. Alignment applies to whole lines, so it is shown once,
 * at the start. */
static void line_sync_markup(struct job *j)
{
    static const char *const align[] = {"", "[center]", "[right]"};

    if (!j->line_open) {
        j->shown = default_modes;
        j->shown.align = j->mode.align;
        line_puts(j, align[j->mode.align]);
    }
    if (j->mode.width != j->shown.width || j->mode.height != j->shown.height)
        put_size(j, j->mode.width, j->mode.height);
    if (j->mode.bold != j->shown.bold)
        line_puts(j, j->mode.bold ? "[bold]" : "[/bold]");
    if (j->mode.underline != j->shown.underline)
        line_puts(j, j->mode.underline ? "[underline]" : "[/underline]");
    j->shown.width = j->mode.width;
    j->shown.height = j->mode.height;
    j->shown.bold = j->mode.bold;
    j->shown.underline = j->mode.underline;
    j->line_open = true;
}

static void text_put(struct job *j, const char *text, size_t len)
{
    if (j->print == JOB_STOPPED)
        return;
    line_sync_markup(j);
    line_put(j, text, len);
}

/* LF: print the line buffer (an empty line too). */
static void line_end(struct job *j)
{
    if (j->print == JOB_STOPPED)
        return;
    j->line[j->line_len] = '\0';
    out_line(j, j->line);
    j->line_len = 0;
    j->line_open = false;
}

/* A line of its own (QR code, barcode, feed, cut): pending text is printed
 * first. with_align prefixes the alignment. */
static void block_put(struct job *j, const char *text, bool with_align)
{
    if (j->print == JOB_STOPPED)
        return;
    if (j->line_open)
        line_end(j);
    if (with_align && j->mode.align != 0)
        line_puts(j, j->mode.align == 1 ? "[center]" : "[right]");
    line_puts(j, text);
    line_end(j);
}

/* "[tag] data" with bytes outside printable ASCII as \xNN. */
static void block_data(struct job *j, const char *tag, const uint8_t *p, size_t n)
{
    char text[LINE_CAP];
    size_t k = (size_t)snprintf(text, sizeof text, "%s ", tag);

    for (size_t i = 0; i < n && k + 5 < sizeof text; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            text[k++] = (char)p[i];
        else
            k += (size_t)snprintf(text + k, sizeof text - k, "\\x%02x", p[i]);
    }
    text[k] = '\0';
    block_put(j, text, true);
}

/* "[what 1d 99 ...]": bytes the decoder does not understand. */
static void report_bytes(struct job *j, const char *what, const uint8_t *p, size_t n)
{
    char text[96];
    size_t k = (size_t)snprintf(text, sizeof text, "[%s", what);

    for (size_t i = 0; i < n && i < SHOW_MAX; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, " %02x", p[i]);
    snprintf(text + k, sizeof text - k, "%s]", n > SHOW_MAX ? " …" : "");
    if (j->print == JOB_STOPPED)
        return;
    line_sync_markup(j);
    line_puts(j, text);
}

/* ------------------------------------------------------------------------
 * The decoder: one command at a time from the front of the input. Each
 * decode_* function looks at p[0..n) only and returns the length of the
 * complete command it handled, or 0 when the command needs more bytes than
 * n (it is then retried when more arrive). Command bytes per devices.md 1.1
 * and 1.3.
 */

static void answer_status(struct job *j, int n)
{
    uint8_t b = sim_status(j->sim, n);

    /* One byte on a socket whose buffer was empty: it either goes or the
     * peer has stopped reading, and then an answer is pointless. */
    if (write(j->fd, &b, 1) != 1)
        log_warn("job %u: DLE EOT %d answer not sent: %s", j->number, n, strerror(errno));
    else
        log_debug("job %u: DLE EOT %d -> %02x", j->number, n, b);
}

static size_t decode_dle(struct job *j, const uint8_t *p, size_t n)
{
    if (n < 2)
        return 0;
    if (p[1] != 0x04) {
        report_bytes(j, "unknown", p, 2);
        return 2;
    }
    if (n < 3)
        return 0;
    if (p[2] >= 1 && p[2] <= 4)
        answer_status(j, p[2]);
    else
        report_bytes(j, "unknown", p, 3);
    return 3;
}

static size_t decode_esc(struct job *j, const uint8_t *p, size_t n)
{
    char text[32];

    if (n < 2)
        return 0;
    if (p[1] == '@') {
        j->line_len = 0;
        j->line_open = false;
        j->mode = default_modes;
        j->qr_stored = false;
        block_put(j, "[init]", false);
        return 2;
    }
    if (strchr("aE-d!t", p[1]) == NULL || p[1] == '\0') {
        report_bytes(j, "unknown", p, 2);
        return 2;
    }
    if (n < 3)
        return 0;
    switch (p[1]) {
    case 'a':
        if (p[2] <= 2 || (p[2] >= 0x30 && p[2] <= 0x32))
            j->mode.align = p[2] & 0x0f;
        else
            report_bytes(j, "unknown", p, 3);
        break;
    case 'E':
        j->mode.bold = (p[2] & 1) != 0;
        break;
    case '-':
        j->mode.underline = (p[2] & 3) != 0;
        break;
    case '!': /* bit3 emphasized, bit4 double height, bit5 double width, bit7 underline */
        j->mode.bold = (p[2] & 0x08) != 0;
        j->mode.height = (p[2] & 0x10) ? 2 : 1;
        j->mode.width = (p[2] & 0x20) ? 2 : 1;
        j->mode.underline = (p[2] & 0x80) != 0;
        break;
    case 'd':
        snprintf(text, sizeof text, "[feed %u]", p[2]);
        block_put(j, text, false);
        break;
    default: /* 't': code page; bytes >= 0x80 outside Chinese mode are shown as hex anyway */
        break;
    }
    return 3;
}

static size_t decode_fs(struct job *j, const uint8_t *p, size_t n)
{
    if (n < 2)
        return 0;
    switch (p[1]) {
    case '&':
        j->chinese = true;
        return 2;
    case '.':
        j->chinese = false;
        return 2;
    case '!': /* Chinese print mode and code system: no effect on the text */
    case 'C':
        return n < 3 ? 0 : 3;
    default:
        report_bytes(j, "unknown", p, 2);
        return 2;
    }
}

static const char *barcode_name(uint8_t m)
{
    static const char *const names[] = {"UPC-A", "UPC-E",   "EAN13",  "EAN8",   "CODE39",
                                        "ITF",   "CODABAR", "CODE93", "CODE128"};

    if (m <= 6)
        return names[m];
    if (m >= 65 && m <= 73)
        return names[m - 65];
    return NULL;
}

/* GS k m: function A (m 0..6) ends with NUL, function B (m 65..73) has a
 * length byte. */
static size_t decode_barcode(struct job *j, const uint8_t *p, size_t n)
{
    const char *name;
    char tag[32];
    size_t len;

    if (n < 3)
        return 0;
    if ((name = barcode_name(p[2])) == NULL) {
        report_bytes(j, "unknown", p, 3);
        return 3;
    }
    snprintf(tag, sizeof tag, "[barcode %s]", name);
    if (p[2] >= 65) {
        if (n < 4)
            return 0;
        len = p[3];
        if (n < 4 + len)
            return 0;
        block_data(j, tag, p + 4, len);
        return 4 + len;
    }
    for (len = 0; 3 + len < n && len < 256; len++) {
        if (p[3 + len] == 0) {
            block_data(j, tag, p + 3, len);
            return 4 + len;
        }
    }
    if (len < 256)
        return 0;
    report_bytes(j, "unknown", p, 3);
    return 3;
}

/* GS ( k pL pH cn fn [m] data: the QR code functions (cn 0x31). The model,
 * size and error level do not show on the readable output. */
static void decode_qr(struct job *j, const uint8_t *p, size_t total)
{
    const uint8_t *body = p + 5;
    size_t len = total - 5;

    if (len < 2 || body[0] != 0x31) {
        report_bytes(j, "unknown", p, total);
        return;
    }
    switch (body[1]) {
    case 0x41:
    case 0x43:
    case 0x45:
        return;
    case 0x50:
        if (len < 3 || len - 3 > QR_MAX) {
            report_bytes(j, "unknown", p, total);
            return;
        }
        memcpy(j->qr, body + 3, len - 3);
        j->qr_len = len - 3;
        j->qr_stored = true;
        return;
    case 0x51:
        if (j->qr_stored)
            block_data(j, "[qr]", j->qr, j->qr_len);
        else
            block_put(j, "[qr] (no data stored)", true);
        return;
    default:
        report_bytes(j, "unknown", p, total);
        return;
    }
}

static size_t decode_gs(struct job *j, const uint8_t *p, size_t n)
{
    char text[32];
    size_t total;

    if (n < 2)
        return 0;
    switch (p[1]) {
    case '(': /* GS ( fn pL pH ...: every function of this form has a length */
        if (n < 5)
            return 0;
        total = 5 + (size_t)p[3] + 256 * (size_t)p[4];
        if (n < total)
            return 0;
        if (p[2] == 'k')
            decode_qr(j, p, total);
        else
            report_bytes(j, "unknown", p, total);
        return total;
    case 'k':
        return decode_barcode(j, p, n);
    case '!':
    case 'V':
    case 'h':
    case 'w':
    case 'H':
    case 'a':
        break;
    default:
        report_bytes(j, "unknown", p, 2);
        return 2;
    }
    if (n < 3)
        return 0;
    switch (p[1]) {
    case '!':
        if ((p[2] >> 4) > 7 || (p[2] & 0x0f) > 7) {
            report_bytes(j, "unknown", p, 3);
            return 3;
        }
        j->mode.width = (p[2] >> 4) + 1;
        j->mode.height = (p[2] & 0x0f) + 1;
        return 3;
    case 'V':
        if (p[2] == 0x41 || p[2] == 0x42) {
            if (n < 4)
                return 0;
            snprintf(text, sizeof text, "---- cut ----%s", p[2] == 0x42 ? " [partial]" : "");
            block_put(j, text, false);
            return 4;
        }
        if (p[2] == 0x00 || p[2] == 0x30)
            block_put(j, "---- cut ----", false);
        else if (p[2] == 0x01 || p[2] == 0x31)
            block_put(j, "---- cut ---- [partial]", false);
        else
            report_bytes(j, "unknown", p, 3);
        return 3;
    default: /* barcode height, width, HRI; ASB (the simulator sends no ASB) */
        return 3;
    }
}

/* A GB18030 character in Chinese mode: 2 bytes (lead 0x81-0xFE, trail
 * 0x40-0x7E or 0x80-0xFE) or 4 (0x81-0xFE, 0x30-0x39, 0x81-0xFE, 0x30-0x39). */
static size_t decode_gb(struct job *j, const uint8_t *p, size_t n)
{
    char utf8[8], *in = (char *)(uintptr_t)p, *outp = utf8;
    size_t len, inleft, outleft = sizeof utf8;

    if (p[0] < 0x81 || p[0] == 0xff) {
        report_bytes(j, "bad gb18030", p, 1);
        return 1;
    }
    if (n < 2)
        return 0;
    if (p[1] >= 0x30 && p[1] <= 0x39) {
        if (n < 4)
            return 0;
        len = 4;
    } else if ((p[1] >= 0x40 && p[1] <= 0x7e) || (p[1] >= 0x80 && p[1] <= 0xfe)) {
        len = 2;
    } else {
        report_bytes(j, "bad gb18030", p, 2);
        return 2;
    }
    inleft = len;
    iconv(j->gb, NULL, NULL, NULL, NULL);
    if (iconv(j->gb, &in, &inleft, &outp, &outleft) == (size_t)-1 || inleft != 0)
        report_bytes(j, "bad gb18030", p, len);
    else
        text_put(j, utf8, sizeof utf8 - outleft);
    return len;
}

static size_t decode_one(struct job *j, const uint8_t *p, size_t n)
{
    char hex[16];

    switch (p[0]) {
    case 0x10:
        return decode_dle(j, p, n);
    case 0x1b:
        return decode_esc(j, p, n);
    case 0x1c:
        return decode_fs(j, p, n);
    case 0x1d:
        return decode_gs(j, p, n);
    case 0x0a:
        line_end(j);
        return 1;
    case 0x0d:
        return 1;
    default:
        break;
    }
    if (p[0] >= 0x80) {
        if (j->chinese)
            return decode_gb(j, p, n);
        snprintf(hex, sizeof hex, "[byte %02x]", p[0]);
        text_put(j, hex, strlen(hex));
        return 1;
    }
    if (p[0] < 0x20 && p[0] != '\t') {
        report_bytes(j, "unknown", p, 1);
        return 1;
    }
    text_put(j, (const char *)p, 1);
    return 1;
}

/* Decode every complete command in the input. At the end of the job the
 * bytes of a command that never completed are reported as truncated. */
static void sim_set_paper_out(struct sim *s, bool out);

/* The roll ends after paper_left more bytes of printed job data: the
 * command that crosses the mark is the last one printed. */
static void job_use_paper(struct job *j, size_t used)
{
    struct sim *s = j->sim;

    if (s->paper_left < 0 || j->print != JOB_PRINTING)
        return;
    s->paper_left -= (long)used;
    if (s->paper_left <= 0)
        sim_set_paper_out(s, true);
}

static void job_decode(struct job *j, bool at_end)
{
    size_t used;

    while (buf_rlen(&j->in) > 0) {
        used = decode_one(j, buf_rdata(&j->in), buf_rlen(&j->in));
        if (used == 0)
            break;
        assert(used <= buf_rlen(&j->in));
        buf_consume(&j->in, used);
        job_use_paper(j, used);
    }
    if (at_end && buf_rlen(&j->in) > 0) {
        report_bytes(j, "truncated", buf_rdata(&j->in), buf_rlen(&j->in));
        buf_clear(&j->in);
    }
}

/* ------------------------------------------------------------------------
 * The job connection. It is a plain socket watched by the loop directly
 * (not a net_conn), because a silent printer must be able to stop reading.
 */

static void on_job_readable(ev_loop *loop, int fd, int events, void *arg);

static void job_free(void *obj)
{
    struct job *j = obj;

    if (j == NULL)
        return;
    buf_release(&j->in);
    if (j->gb != (iconv_t)-1)
        iconv_close(j->gb);
    free(j);
}

static void on_silent_timer(ev_loop *loop, ev_timer *t, void *arg)
{
    struct job *j = arg;

    (void)t;
    assert(j->read == READ_SILENT);
    ev_fd_del(loop, j->fd);
    j->read = READ_OFF;
    log_info("job %u: silent, stopped reading", j->number);
    job_assert_state(j);
}

/* READ_ON -> READ_SILENT: what arrives from now on is discarded, and after
 * SILENT_MS nothing is read at all. */
static void job_go_silent(struct job *j)
{
    if (j->read != READ_ON)
        return;
    job_stop(j, "silent");
    if (ev_timer_start(j->sim->loop, &j->silent_timer, SILENT_MS) < 0) {
        ev_fd_del(j->sim->loop, j->fd);
        j->read = READ_OFF;
        return;
    }
    j->read = READ_SILENT;
    job_assert_state(j);
}

/* READ_SILENT or READ_OFF -> READ_ON. What was discarded is gone, so the
 * decoder starts again at a command boundary; the job stays STOPPED. */
static void job_wake(struct job *j)
{
    if (j->read == READ_ON)
        return;
    ev_timer_stop(j->sim->loop, &j->silent_timer);
    buf_clear(&j->in);
    if (ev_fd_set(j->sim->loop, j->fd, EV_READ, on_job_readable, j) < 0)
        log_error("job %u: cannot watch the socket: %s", j->number, strerror(errno));
    j->read = READ_ON;
    job_assert_state(j);
}

static void sim_listen_again(struct sim *s);

/* The job is over (peer closed, error, or the simulator stops). */
static void job_end(struct job *j, const char *why)
{
    struct sim *s = j->sim;
    char text[160];

    job_decode(j, true);
    if (j->print == JOB_PRINTING && j->line_open)
        line_end(j);
    snprintf(text, sizeof text, "==== end of job %u (%zu bytes%s%s; %s) ====", j->number, j->bytes,
             j->print == JOB_STOPPED ? ", stopped: " : "",
             j->print == JOB_STOPPED ? j->stop_why : "", why);
    out_line(j, text);
    log_info("job %u from %s ended: %s", j->number, j->peer, why);
    ev_timer_stop(s->loop, &j->silent_timer);
    ev_fd_del(s->loop, j->fd);
    close(j->fd);
    j->fd = -1;
    s->job = NULL;
    if (ev_defer_free(s->loop, job_free, j) < 0)
        log_error("job %u: cannot free: %s", j->number, strerror(errno));
    sim_listen_again(s);
}

static void on_job_readable(ev_loop *loop, int fd, int events, void *arg)
{
    struct job *j = arg;
    size_t room = IN_LIMIT - buf_rlen(&j->in);
    uint8_t scratch[READ_CHUNK], *p;
    ssize_t r;

    (void)loop;
    (void)events;
    job_assert_state(j);
    if (room > READ_CHUNK)
        room = READ_CHUNK;
    /* The decoder consumes every complete command and none is longer than
     * CMD_MAX, so the input never fills; discarded bytes go to scratch. */
    assert(room > 0);
    p = j->read == READ_ON ? buf_reserve(&j->in, room) : scratch;
    if (p == NULL) {
        job_end(j, strerror(errno));
        return;
    }
    r = read(fd, p, room);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        job_end(j, r == 0 ? "peer closed the connection" : strerror(errno));
        return;
    }
    j->bytes += (size_t)r;
    if (j->read != READ_ON)
        return;
    buf_commit(&j->in, (size_t)r);
    job_decode(j, false);
}

static struct job *job_new(struct sim *s, int fd, const char *peer)
{
    struct job *j = calloc(1, sizeof *j);

    if (j == NULL)
        return NULL;
    j->sim = s;
    j->fd = fd;
    snprintf(j->peer, sizeof j->peer, "%s", peer);
    j->number = ++s->jobs;
    j->mode = default_modes;
    buf_init(&j->in, IN_LIMIT);
    ev_timer_init(&j->silent_timer, on_silent_timer, j);
    if ((j->gb = iconv_open("UTF-8", "GB18030")) == (iconv_t)-1 ||
        ev_fd_set(s->loop, fd, EV_READ, on_job_readable, j) < 0) {
        job_free(j);
        return NULL;
    }
    return j;
}

static void on_accept(ev_loop *loop, int fd, int events, void *arg)
{
    struct sim *s = arg;
    char peer[64], err[NET_ERR_LEN], text[128];
    int cfd;

    (void)loop;
    (void)events;
    assert(s->job == NULL);
    if ((cfd = net_accept(fd, peer, sizeof peer, err)) < 0) {
        if (errno != EAGAIN)
            log_warn("accept: %s", err);
        return;
    }
    if ((s->job = job_new(s, cfd, peer)) == NULL) {
        log_error("cannot start a job: %s", strerror(errno));
        close(cfd);
        return;
    }
    /* One job at a time: the next connection waits in the backlog. */
    ev_fd_del(s->loop, s->listen_fd);
    log_info("job %u from %s", s->job->number, peer);
    snprintf(text, sizeof text, "==== job %u from %s ====", s->job->number, peer);
    out_line(s->job, text);
    if (sim_offline(s))
        job_stop(s->job, s->paper_out ? "paper out" : "cover open");
    if (s->silent)
        job_go_silent(s->job);
}

static void sim_listen_again(struct sim *s)
{
    if (ev_fd_set(s->loop, s->listen_fd, EV_READ, on_accept, s) < 0)
        log_error("cannot watch the listening socket: %s", strerror(errno));
}

/* ------------------------------------------------------------------------
 * State changes, from flags, signals and the control port
 */

static void sim_set_paper_out(struct sim *s, bool out)
{
    s->paper_out = out;
    s->paper_left = -1;
    log_info("paper %s", out ? "out" : "restored");
    if (out && s->job != NULL)
        job_stop(s->job, "paper out");
}

static void sim_set_cover_open(struct sim *s, bool open)
{
    s->cover_open = open;
    log_info("cover %s", open ? "open" : "closed");
    if (open && s->job != NULL)
        job_stop(s->job, "cover open");
}

static void sim_set_silent(struct sim *s, bool silent)
{
    s->silent = silent;
    log_info("silent %s", silent ? "on" : "off");
    if (s->job == NULL)
        return;
    if (silent)
        job_go_silent(s->job);
    else
        job_wake(s->job);
}

/* One control line; false if it is not a command. */
static bool control_apply(struct sim *s, const char *line)
{
    if (strcmp(line, "paper out") == 0)
        sim_set_paper_out(s, true);
    else if (strcmp(line, "paper ok") == 0) {
        s->near_end = false;
        sim_set_paper_out(s, false);
    } else if (strcmp(line, "paper near-end") == 0) {
        s->near_end = true;
        sim_set_paper_out(s, false);
    } else if (strncmp(line, "paper out-after ", 16) == 0) {
        char *end;
        long n;

        errno = 0;
        n = strtol(line + 16, &end, 10);
        if (errno != 0 || end == line + 16 || *end != '\0' || n < 1)
            return false;
        s->near_end = false;
        sim_set_paper_out(s, false);
        s->paper_left = n;
    } else if (strcmp(line, "cover open") == 0)
        sim_set_cover_open(s, true);
    else if (strcmp(line, "cover closed") == 0)
        sim_set_cover_open(s, false);
    else if (strcmp(line, "silent on") == 0)
        sim_set_silent(s, true);
    else if (strcmp(line, "silent off") == 0)
        sim_set_silent(s, false);
    else if (strcmp(line, "status") != 0)
        return false;
    return true;
}

/* One control line: the answer says the state after the change. */
static void control_line(void *arg, const char *line, FILE *out)
{
    struct sim *s = arg;
    char state[128];

    if (control_apply(s, line)) {
        sim_describe(s, state, sizeof state);
        fprintf(out, "ok %s\n", state);
    } else {
        fprintf(out, "error unknown command: %s\n", line);
    }
}

/* ------------------------------------------------------------------------
 * Signals and main
 */

static void on_signal(ev_loop *loop, int signo, void *arg)
{
    struct sim *s = arg;

    if (signo == SIGUSR1) {
        sim_set_paper_out(s, !s->paper_out);
    } else if (signo == SIGUSR2) {
        sim_set_cover_open(s, !s->cover_open);
    } else {
        log_info("%s: stopping", strsignal(signo));
        ev_stop(loop);
    }
}

static int setup_signals(struct sim *s)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2, 0};

    if ((s->signals = sig_watch_new(s->loop, signals, on_signal, s)) == NULL) {
        log_error("cannot set up signal handling: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: printersim [--port N] [--control-port N] [--out FILE]\n"
            "                  [--paper-out] [--paper-out-after BYTES] [--near-end]\n"
            "                  [--cover-open] [--silent]\n"
            "                  [--log-level error|warn|info|debug]\n"
            "An ESC/POS network ticket printer on %s. Port 0 picks a free port.\n"
            "Control lines on --control-port: paper out | paper out-after BYTES |\n"
            "paper ok | paper near-end | cover open | cover closed | silent on |\n"
            "silent off | status.\n"
            "Signals: SIGUSR1 toggles paper out, SIGUSR2 toggles the cover,\n"
            "SIGTERM/SIGINT stop.\n",
            HOST);
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

static int sim_start(struct sim *s, int port, int control_port)
{
    char err[NET_ERR_LEN];

    if ((s->loop = ev_new()) == NULL) {
        log_error("cannot create the event loop: %s", strerror(errno));
        return -1;
    }
    if (setup_signals(s) < 0)
        return -1;
    if ((s->listen_fd = net_listen(HOST, port, BACKLOG, err)) < 0) {
        log_error("listen on %s:%d: %s", HOST, port, err);
        return -1;
    }
    sim_listen_again(s);
    if (control_port >= 0) {
        if ((s->control = ctlport_new(s->loop, HOST, control_port, control_line, s, err)) == NULL) {
            log_error("control port %s:%d: %s", HOST, control_port, err);
            return -1;
        }
        printf("printersim: control on %s:%d\n", HOST, ctlport_port(s->control));
    }
    printf("printersim: listening on %s:%d\n", HOST, net_local_port(s->listen_fd));
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {{"port", required_argument, NULL, 'p'},
                                            {"control-port", required_argument, NULL, 'c'},
                                            {"out", required_argument, NULL, 'o'},
                                            {"paper-out", no_argument, NULL, 'P'},
                                            {"paper-out-after", required_argument, NULL, 'A'},
                                            {"near-end", no_argument, NULL, 'N'},
                                            {"cover-open", no_argument, NULL, 'C'},
                                            {"silent", no_argument, NULL, 'S'},
                                            {"log-level", required_argument, NULL, 'l'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    struct sim s = {.listen_fd = -1, .out = stdout, .paper_left = -1};
    const char *out_path = NULL;
    int opt, port = 9100, control_port = -1, level = LOG_LEVEL_INFO, rc = 1;

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'p':
        case 'c':
            if (parse_port(optarg, opt == 'p' ? &port : &control_port) < 0) {
                fprintf(stderr, "printersim: bad port: %s\n", optarg);
                return 2;
            }
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'P':
            s.paper_out = true;
            break;
        case 'A': {
            char *end;

            errno = 0;
            s.paper_left = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || s.paper_left < 1) {
                fprintf(stderr, "printersim: bad byte count for --paper-out-after: %s\n", optarg);
                return 2;
            }
            break;
        }
        case 'N':
            s.near_end = true;
            break;
        case 'C':
            s.cover_open = true;
            break;
        case 'S':
            s.silent = true;
            break;
        case 'l':
            if ((level = log_level_parse(optarg)) < 0) {
                fprintf(stderr, "printersim: bad log level: %s\n", optarg);
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
    log_open("printersim", (enum log_level)level, LOG_TO_STDERR);
    if (out_path != NULL && (s.out = fopen(out_path, "a")) == NULL) {
        log_error("%s: %s", out_path, strerror(errno));
        return 1;
    }
    if (sim_start(&s, port, control_port) == 0) {
        char state[128];

        sim_describe(&s, state, sizeof state);
        log_info("ready: %s", state);
        rc = ev_run(s.loop) < 0 ? 1 : 0;
        if (s.job != NULL)
            job_end(s.job, "simulator stopped");
    }
    ctlport_free(s.control);
    sig_watch_free(s.signals);
    /* Frees the last job and any control connections (deferred frees). */
    ev_free(s.loop);
    if (s.listen_fd >= 0)
        close(s.listen_fd);
    if (s.out != stdout)
        fclose(s.out);
    log_close();
    return rc;
}
