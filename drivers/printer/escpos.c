/*
 * escpos — ticket to ESC/POS bytes.
 *
 * The builder holds the parsed template, one iconv descriptor (UTF-8 to
 * GB18030) and a scratch buffer. A build validates the ticket first, then
 * writes every byte into the scratch buffer and appends it to the caller's
 * buffer in one go, so the caller gets a whole ticket or nothing.
 *
 * Text goes through a line: characters are decoded from UTF-8 here (strict,
 * Unicode table 3-7, so a surrogate or an overlong form is refused the same
 * way by every libc), converted one by one with iconv, and added while they
 * fit the line's width in columns (one for a single-byte character, two for
 * a GB18030 two- or four-byte one, times the character width of GS !).
 * Control characters never reach the printer: in text they would be
 * commands.
 *
 * Command bytes follow Epson ESC/POS as the clones implement it: ESC @,
 * ESC a, FS &, GS !, ESC E, ESC d, GS ( k (QR), GS h / GS w / GS H / GS k
 * (barcode) and GS V 66 (feed to the cutter, partial cut).
 */
#include "escpos.h"

#include <assert.h>
#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ESC 0x1b
#define GS  0x1d
#define FS  0x1c
#define LF  0x0a

/* GS ! n: the width multiplier is bits 4-6 plus one, the height bits 0-2. */
#define SIZE_NORMAL 0x00
#define SIZE_DOUBLE 0x11
#define SIZE_NUMBER 0x33 /* the ticket number, four times wide and high */

#define QR_LEVEL_M        0x31
#define BARCODE_HEIGHT    80 /* dots */
#define BARCODE_WIDTH     2  /* module width, 2..6 */
#define BARCODE_HRI_BELOW 2
#define NUMBER_MAX        16
#define FEED_DEFAULT      3

enum kind {
    D_HALL,
    D_NUMBER,
    D_OFFLINE,
    D_AREA,
    D_MATTER,
    D_AHEAD,
    D_WAIT,
    D_TIME,
    D_NAME,
    D_QR,
    D_BARCODE,
    D_TEXT,
    D_TITLE,
    D_BLANK,
    D_RULE,
    D_FEED,
    D_CUT,
    D_MATERIALS, /* after D_CUT: directives[] is in this order */
    D_CHECK,
    D_MARK,
    D_WINDOWS,
    D_MISSED
};

enum arg { ARG_NONE, ARG_TEXT, ARG_COUNT };

/* The directives: name, argument, and whether a template may repeat it. */
static const struct {
    const char *name;
    enum kind kind;
    enum arg arg;
    bool repeat;
} directives[] = {
    {"hall", D_HALL, ARG_NONE, false},       {"number", D_NUMBER, ARG_NONE, false},
    {"offline", D_OFFLINE, ARG_NONE, false}, {"area", D_AREA, ARG_NONE, false},
    {"matter", D_MATTER, ARG_NONE, false},   {"ahead", D_AHEAD, ARG_NONE, false},
    {"wait", D_WAIT, ARG_NONE, false},       {"time", D_TIME, ARG_NONE, false},
    {"name", D_NAME, ARG_NONE, false},       {"qr", D_QR, ARG_NONE, false},
    {"barcode", D_BARCODE, ARG_NONE, false}, {"text", D_TEXT, ARG_TEXT, true},
    {"title", D_TITLE, ARG_TEXT, true},      {"blank", D_BLANK, ARG_NONE, true},
    {"rule", D_RULE, ARG_NONE, true},        {"feed", D_FEED, ARG_COUNT, true},
    {"cut", D_CUT, ARG_NONE, false},         {"materials", D_MATERIALS, ARG_NONE, false},
    {"check", D_CHECK, ARG_NONE, false},     {"mark", D_MARK, ARG_NONE, false},
    {"windows", D_WINDOWS, ARG_NONE, false}, {"missed", D_MISSED, ARG_NONE, false},
};

#define NKINDS (sizeof(directives) / sizeof(directives[0]))

struct directive {
    enum kind kind;
    const char *text; /* D_TEXT, D_TITLE: into the builder's template copy */
    int count;        /* D_FEED: lines */
};

/* The line being assembled, in GB18030. A line holds at most 48 columns
 * and a character of two columns takes at most four bytes. */
struct line {
    uint8_t bytes[2 * 48];
    size_t len;
    int cols, max_cols;
    bool full; /* a character did not fit: the rest of the line is dropped */
};

struct escpos_builder {
    iconv_t cd;
    int columns;
    int qr_module;
    bool font_four_byte;
    char *tmpl; /* copy, cut into directives */
    struct directive dir[ESCPOS_TEMPLATE_MAX];
    int ndir;
    buf scratch;
    struct line line;
    escpos_stats stats;
};

static const char *const error_text[] = {
#define ESCPOS_TEXT_(name, n, text) [n] = text,
    ESCPOS_ERRORS(ESCPOS_TEXT_)
#undef ESCPOS_TEXT_
};

const char *escpos_strerror(int err)
{
    if (err > ESCPOS_ENOBASE &&
        err - ESCPOS_ENOBASE < (int)(sizeof(error_text) / sizeof(error_text[0])))
        return error_text[err - ESCPOS_ENOBASE];
    return strerror(err);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Parse "N" as 0..255; -1 if it is not that. */
static int parse_count(const char *s)
{
    int v = 0;

    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v > 255)
            return -1;
    }
    return v;
}

static char *trim(char *s)
{
    char *end = s + strlen(s);

    while (*s == ' ' || *s == '\t')
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    return s;
}

/* Cut b->tmpl into directives and check the rules of docs/printer.md:
 * known names, arguments where (and only where) they belong, no repeated
 * field, number and offline present, cut present and last. */
static int parse_template(escpos_builder *b, char *err, size_t errlen)
{
    bool seen[NKINDS] = {false};
    char *p = b->tmpl;

    for (int i = 1;; i++) {
        char *bar = strchr(p, '|');
        char *name, *arg;
        size_t k;

        if (bar)
            *bar = '\0';
        name = trim(p);
        arg = strchr(name, ':');
        if (arg)
            *arg++ = '\0';
        if (*name == '\0') {
            set_err(err, errlen, "template: empty directive at position %d", i);
            return -1;
        }
        for (k = 0; k < NKINDS; k++)
            if (strcmp(directives[k].name, name) == 0)
                break;
        if (k == NKINDS) {
            set_err(err, errlen, "template: unknown directive \"%s\" at position %d", name, i);
            return -1;
        }
        if (b->ndir == ESCPOS_TEMPLATE_MAX) {
            set_err(err, errlen, "template: more than %d directives", ESCPOS_TEMPLATE_MAX);
            return -1;
        }
        if (seen[k] && !directives[k].repeat) {
            set_err(err, errlen, "template: \"%s\" repeated at position %d", name, i);
            return -1;
        }
        if (seen[D_CUT]) {
            set_err(err, errlen, "template: \"%s\" after cut at position %d", name, i);
            return -1;
        }
        seen[k] = true;
        struct directive *d = &b->dir[b->ndir++];
        d->kind = directives[k].kind;
        d->text = NULL;
        d->count = 0;
        switch (directives[k].arg) {
        case ARG_NONE:
            if (arg) {
                set_err(err, errlen, "template: \"%s\" takes no argument (position %d)", name, i);
                return -1;
            }
            break;
        case ARG_TEXT:
            if (!arg || *arg == '\0') {
                set_err(err, errlen, "template: \"%s\" needs text after ':' (position %d)", name,
                        i);
                return -1;
            }
            d->text = arg;
            break;
        case ARG_COUNT:
            d->count = arg ? parse_count(arg) : FEED_DEFAULT;
            if (d->count < 0) {
                set_err(err, errlen, "template: \"%s\" needs a line count 0..255 (position %d)",
                        name, i);
                return -1;
            }
            break;
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    if (!seen[D_NUMBER] || !seen[D_OFFLINE] || !seen[D_CUT]) {
        set_err(err, errlen, "template: %s missing (%d directives read)",
                !seen[D_NUMBER]    ? "\"number\""
                : !seen[D_OFFLINE] ? "\"offline\""
                                   : "\"cut\"",
                b->ndir);
        return -1;
    }
    return 0;
}

escpos_builder *escpos_new(const escpos_layout *layout, char *err, size_t errlen)
{
    escpos_builder *b;
    int saved;

    if (err && errlen > 0)
        err[0] = '\0';
    if (!layout) {
        errno = EINVAL;
        return NULL;
    }
    if ((layout->paper_mm != 58 && layout->paper_mm != 80) || layout->qr_module < 1 ||
        layout->qr_module > 16) {
        set_err(err, errlen, "layout: paper %d mm (58 or 80), QR module %d (1..16)",
                layout->paper_mm, layout->qr_module);
        errno = ESCPOS_ELAYOUT;
        return NULL;
    }
    b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->cd = (iconv_t)-1;
    buf_init(&b->scratch, 0);
    b->columns = layout->paper_mm == 58 ? 32 : 48;
    b->qr_module = layout->qr_module;
    b->font_four_byte = layout->font_four_byte;
    b->tmpl = strdup(layout->tmpl ? layout->tmpl : ESCPOS_TEMPLATE_DEFAULT);
    if (!b->tmpl)
        goto fail;
    if (parse_template(b, err, errlen) < 0) {
        errno = ESCPOS_ETEMPLATE;
        goto fail;
    }
    b->cd = iconv_open("GB18030", "UTF-8");
    if (b->cd == (iconv_t)-1)
        goto fail;
    return b;
fail:
    saved = errno;
    escpos_free(b);
    errno = saved;
    return NULL;
}

void escpos_free(escpos_builder *b)
{
    if (!b)
        return;
    if (b->cd != (iconv_t)-1)
        iconv_close(b->cd);
    buf_release(&b->scratch);
    free(b->tmpl);
    free(b);
}

int escpos_columns(const escpos_builder *b)
{
    return b->columns;
}

/* ---- bytes ---------------------------------------------------------- */

/* Writes go to the scratch buffer; the first failure sticks in *failed so a
 * build checks once at the end. */
static void put(escpos_builder *b, const void *p, size_t n, int *failed)
{
    if (*failed == 0 && buf_append(&b->scratch, p, n) < 0)
        *failed = errno;
}

static void put3(escpos_builder *b, uint8_t c0, uint8_t c1, uint8_t c2, int *failed)
{
    const uint8_t cmd[3] = {c0, c1, c2};

    put(b, cmd, 3, failed);
}

/* ---- text ----------------------------------------------------------- */

/* Decode one UTF-8 character at s[0..n) (n >= 1). Returns the bytes it
 * takes; *cp is the code point, or -1 for an ill-formed sequence, whose
 * length is then its maximal well-formed prefix (at least 1), as Unicode
 * recommends for replacement. */
static size_t utf8_next(const uint8_t *s, size_t n, long *cp)
{
    uint8_t c = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xbf;
    long v;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        v = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        *cp = -1;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *cp = -1;
            return i;
        }
        v = (v << 6) | (s[i] & 0x3f);
        lo = 0x80;
        hi = 0xbf;
    }
    *cp = v;
    return need + 1;
}

static void line_begin(escpos_builder *b, uint8_t size)
{
    b->line.len = 0;
    b->line.cols = 0;
    b->line.full = false;
    b->line.max_cols = b->columns / (((size >> 4) & 7) + 1);
}

/* Add one encoded character of cols columns if it fits. */
static void line_add(escpos_builder *b, const uint8_t *gb, size_t n, int cols)
{
    struct line *l = &b->line;

    if (l->full || l->cols + cols > l->max_cols || l->len + n > sizeof(l->bytes)) {
        l->full = true;
        return;
    }
    memcpy(l->bytes + l->len, gb, n);
    l->len += n;
    l->cols += cols;
}

/* Convert one code point; returns the GB18030 length, 0 if it cannot be
 * printed. */
static size_t encode(escpos_builder *b, const uint8_t *utf8, size_t n, long cp, uint8_t out[4])
{
    char in[4], o[8];
    char *ip = in, *op = o;
    size_t il = n, ol = sizeof(o), len;

    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
        return 0; /* C0, DEL, C1: would be printer commands */
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    memcpy(in, utf8, n);
    iconv(b->cd, NULL, NULL, NULL, NULL);
    if (iconv(b->cd, &ip, &il, &op, &ol) == (size_t)-1 || il != 0)
        return 0;
    len = sizeof(o) - ol;
    if (len != 2 && len != 4)
        return 0;
    if (len == 4 && !b->font_four_byte)
        return 0;
    memcpy(out, o, len);
    return len;
}

/* Append UTF-8 text to the line; stops at the first character that does
 * not fit (what is not printed is not counted). */
static void line_text(escpos_builder *b, const char *text)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t n = strlen(text);

    while (n > 0 && !b->line.full) {
        long cp;
        size_t used = utf8_next(s, n, &cp);
        uint8_t gb[4];
        size_t len = cp < 0 ? 0 : encode(b, s, used, cp, gb);

        if (len == 0) {
            line_add(b, (const uint8_t *)"?", 1, 1);
            if (!b->line.full) {
                if (cp < 0)
                    b->stats.invalid_utf8++;
                else
                    b->stats.unprintable++;
            }
        } else {
            line_add(b, gb, len, len == 1 ? 1 : 2);
        }
        s += used;
        n -= used;
    }
}

/* Emit the line: [GS ! size] [ESC E 1] text LF [ESC E 0] [GS ! 0]. A size
 * or bold is set only for its line and reset after it, so every line
 * starts from the state ESC @ left. */
static void line_end(escpos_builder *b, uint8_t size, bool bold, int *failed)
{
    if (size != SIZE_NORMAL)
        put3(b, GS, '!', size, failed);
    if (bold)
        put3(b, ESC, 'E', 1, failed);
    put(b, b->line.bytes, b->line.len, failed);
    put(b, "\n", 1, failed);
    if (bold)
        put3(b, ESC, 'E', 0, failed);
    if (size != SIZE_NORMAL)
        put3(b, GS, '!', SIZE_NORMAL, failed);
    if (b->line.full)
        b->stats.truncated++;
}

/* A line of up to three pieces (NULL pieces skipped). */
static void text_line(escpos_builder *b, uint8_t size, bool bold, const char *a, const char *m,
                      const char *z, int *failed)
{
    line_begin(b, size);
    line_text(b, a);
    if (m)
        line_text(b, m);
    if (z)
        line_text(b, z);
    line_end(b, size, bold, failed);
}

/* ---- QR and barcode ------------------------------------------------- */

/* GS ( k pL pH cn fn [m] data, cn = 0x31 (QR); pL + 256 pH counts cn, fn,
 * m and data (devices.md 1.3). */
static void qr_cmd(escpos_builder *b, uint8_t fn, const uint8_t *data, size_t n, int *failed)
{
    size_t plen = n + 2;
    const uint8_t head[7] = {GS, '(', 'k', (uint8_t)(plen & 0xff), (uint8_t)(plen >> 8), 0x31, fn};

    put(b, head, sizeof(head), failed);
    put(b, data, n, failed);
}

/* Store (fn 80): m = 0x30 comes before the data, so pL + 256 pH is the
 * data length + 3. check_ticket() keeps n <= ESCPOS_QR_MAX, far below the
 * 65535 the two length bytes can say. */
static void qr_store(escpos_builder *b, const char *payload, size_t n, int *failed)
{
    size_t plen = n + 3;
    const uint8_t head[8] = {GS,   '(',  'k', (uint8_t)(plen & 0xff), (uint8_t)(plen >> 8),
                             0x31, 0x50, 0x30};

    assert(n <= ESCPOS_QR_MAX);
    put(b, head, sizeof(head), failed);
    put(b, payload, n, failed);
}

static void qr(escpos_builder *b, const char *payload, int *failed)
{
    size_t n = strlen(payload);
    const uint8_t model[2] = {0x32, 0x00}; /* model 2 */
    const uint8_t size = (uint8_t)b->qr_module;
    const uint8_t level = QR_LEVEL_M;
    const uint8_t print = 0x30;

    qr_cmd(b, 0x41, model, 2, failed);
    qr_cmd(b, 0x43, &size, 1, failed);
    qr_cmd(b, 0x45, &level, 1, failed);
    qr_store(b, payload, n, failed);
    qr_cmd(b, 0x51, &print, 1, failed);
}

/* GS h, GS w, GS H, then GS k 73 n "{B" data (CODE128, code set B). */
static void barcode(escpos_builder *b, const char *payload, int *failed)
{
    size_t n = strlen(payload);
    const uint8_t head[6] = {GS, 'k', 0x49, (uint8_t)(n + 2), '{', 'B'};

    put3(b, GS, 'h', BARCODE_HEIGHT, failed);
    put3(b, GS, 'w', BARCODE_WIDTH, failed);
    put3(b, GS, 'H', BARCODE_HRI_BELOW, failed);
    put(b, head, sizeof(head), failed);
    put(b, payload, n, failed);
}

/* ---- the ticket ----------------------------------------------------- */

static bool has(const escpos_builder *b, enum kind k)
{
    for (int i = 0; i < b->ndir; i++)
        if (b->dir[i].kind == k)
            return true;
    return false;
}

static int check_ticket(const escpos_builder *b, const escpos_ticket *t)
{
    size_t n = strlen(t->number);

    if (n == 0 || n > NUMBER_MAX || (int)n > b->columns / (((SIZE_NUMBER >> 4) & 7) + 1))
        return ESCPOS_ENUMBER;
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)t->number[i] <= ' ' || (uint8_t)t->number[i] > '~')
            return ESCPOS_ENUMBER;
    if (t->qr && has(b, D_QR)) {
        n = strlen(t->qr);
        if (n == 0 || n > ESCPOS_QR_MAX)
            return ESCPOS_EQR;
        for (size_t i = 0; i < n; i++)
            if ((uint8_t)t->qr[i] < 0x20 || t->qr[i] == 0x7f)
                return ESCPOS_EQR;
    }
    if (t->barcode && has(b, D_BARCODE)) {
        n = strlen(t->barcode);
        if (n == 0 || n > ESCPOS_BARCODE_MAX)
            return ESCPOS_EBARCODE;
        for (size_t i = 0; i < n; i++)
            if ((uint8_t)t->barcode[i] < ' ' || (uint8_t)t->barcode[i] > '~' ||
                t->barcode[i] == '{')
                return ESCPOS_EBARCODE;
    }
    return 0;
}

/* A sentence longer than a line, as several lines cut at character
 * boundaries: an ASCII character takes a column, any other two (what the
 * printer's font gives a Chinese character). */
static void wrapped_lines(escpos_builder *b, const char *text, int *failed)
{
    char piece[2 * 48 * 2 + 1];
    const unsigned char *p = (const unsigned char *)text;

    while (*p != '\0') {
        size_t used = 0;
        int cols = 0;

        while (*p != '\0') {
            size_t n = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 1;
            int w = *p < 0x80 ? 1 : 2;
            if (cols + w > b->columns || used + n >= sizeof piece ||
                strnlen((const char *)p, n) < n)
                break;
            memcpy(piece + used, p, n);
            used += n;
            cols += w;
            p += n;
        }
        if (used == 0) { /* a broken sequence at the end: text_line shows it as '?' */
            text_line(b, SIZE_NORMAL, false, (const char *)p, NULL, NULL, failed);
            break;
        }
        piece[used] = '\0';
        text_line(b, SIZE_NORMAL, false, piece, NULL, NULL, failed);
    }
}

static void directive(escpos_builder *b, const struct directive *d, const escpos_ticket *t,
                      int *failed)
{
    char num[64];

    switch (d->kind) {
    case D_HALL:
        if (t->hall)
            text_line(b, SIZE_NORMAL, true, t->hall, NULL, NULL, failed);
        break;
    case D_NUMBER:
        text_line(b, SIZE_NUMBER, false, t->number, NULL, NULL, failed);
        break;
    case D_OFFLINE:
        if (t->offline)
            text_line(b, SIZE_DOUBLE, true, "离线取号", NULL, NULL, failed);
        break;
    case D_AREA:
        if (t->area)
            text_line(b, SIZE_DOUBLE, false, t->area, NULL, NULL, failed);
        break;
    case D_MATTER:
        if (t->matter)
            text_line(b, SIZE_NORMAL, false, t->matter, NULL, NULL, failed);
        break;
    case D_MATERIALS:
        if (t->nmaterials > 0)
            text_line(b, SIZE_NORMAL, true, "请备齐以下材料：", NULL, NULL, failed);
        for (size_t i = 0; i < t->nmaterials; i++)
            text_line(b, SIZE_NORMAL, false, "□ ", t->materials[i], NULL, failed);
        break;
    case D_CHECK:
        if (t->check)
            text_line(b, SIZE_NORMAL, false, "核验码 ", t->check, NULL, failed);
        break;
    case D_AHEAD:
        if (t->ahead >= 0) {
            snprintf(num, sizeof(num), "%d", t->ahead);
            text_line(b, SIZE_NORMAL, false, "前面等候 ", num, " 人", failed);
        }
        break;
    case D_WAIT:
        if (t->wait) {
            if (strcmp(t->wait, "即将叫号") == 0)
                text_line(b, SIZE_NORMAL, true, t->wait, NULL, NULL, failed);
            else
                text_line(b, SIZE_NORMAL, false, "预计等候 ", t->wait, NULL, failed);
        } else if (t->wait_min >= 0) {
            snprintf(num, sizeof(num), "%d", t->wait_min);
            text_line(b, SIZE_NORMAL, false, "预计等候 ", num, " 分钟", failed);
        }
        break;
    case D_TIME:
        if (t->time) {
            text_line(b, SIZE_NORMAL, false, "取号时间 ", t->time, NULL, failed);
        } else if (t->zone) {
            clk_civil c;

            clk_to_civil(t->zone, t->issued_ms, &c);
            snprintf(num, sizeof(num), "%04d-%02d-%02d %02d:%02d", c.year, c.month, c.day, c.hour,
                     c.minute);
            text_line(b, SIZE_NORMAL, false, "取号时间 ", num, NULL, failed);
        }
        break;
    case D_NAME:
        if (t->name)
            text_line(b, SIZE_NORMAL, false, "姓名：", t->name, NULL, failed);
        break;
    case D_QR:
        if (t->qr)
            qr(b, t->qr, failed);
        break;
    case D_BARCODE:
        if (t->barcode)
            barcode(b, t->barcode, failed);
        break;
    case D_TEXT:
        text_line(b, SIZE_NORMAL, false, d->text, NULL, NULL, failed);
        break;
    case D_TITLE:
        text_line(b, SIZE_DOUBLE, false, d->text, NULL, NULL, failed);
        break;
    case D_MARK:
        if (t->mark)
            text_line(b, SIZE_DOUBLE, true, t->mark, NULL, NULL, failed);
        if (t->note)
            wrapped_lines(b, t->note, failed);
        break;
    case D_WINDOWS:
        if (t->windows)
            text_line(b, SIZE_NORMAL, false, t->windows, NULL, NULL, failed);
        break;
    case D_MISSED:
        if (t->missed)
            wrapped_lines(b, t->missed, failed);
        break;
    case D_BLANK:
        put(b, "\n", 1, failed);
        break;
    case D_RULE:
        line_begin(b, SIZE_NORMAL);
        for (int i = 0; i < b->columns; i++)
            line_add(b, (const uint8_t *)"-", 1, 1);
        line_end(b, SIZE_NORMAL, false, failed);
        break;
    case D_FEED:
        put3(b, ESC, 'd', (uint8_t)d->count, failed);
        break;
    case D_CUT: {
        const uint8_t cut[4] = {GS, 'V', 0x42, 0x00}; /* feed to cutter, partial cut */
        put(b, cut, sizeof(cut), failed);
        break;
    }
    }
}

int escpos_build(escpos_builder *b, const escpos_ticket *t, buf *out, escpos_stats *stats)
{
    static const uint8_t preamble[] = {ESC, '@', ESC, 'a', 1, FS, '&'};
    int failed = 0, rc;

    if (!b || !t || !t->number || !out) {
        errno = EINVAL;
        return -1;
    }
    memset(&b->stats, 0, sizeof(b->stats));
    if (stats)
        *stats = b->stats;
    rc = check_ticket(b, t);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    buf_clear(&b->scratch);
    /* ESC @ first, then the modes (devices.md 1.2): centred, Chinese. */
    put(b, preamble, sizeof(preamble), &failed);
    for (int i = 0; i < b->ndir; i++)
        directive(b, &b->dir[i], t, &failed);
    if (failed == 0 && buf_append(out, buf_rdata(&b->scratch), buf_rlen(&b->scratch)) < 0)
        failed = errno;
    if (failed != 0) {
        errno = failed;
        return -1;
    }
    if (stats)
        *stats = b->stats;
    return 0;
}
