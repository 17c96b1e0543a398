/*
 * busmap — the register map: names, the device list parser, CRC-16,
 * text (UTF-8 <-> GB18030 <-> registers), the holding-register blocks and
 * the event FIFO with its sequence numbers. busmap.h has the contract and
 * docs/bus.md the map.
 *
 * Every decoder checks the length of what it is given and the range of
 * every count and length field before it uses them: these registers come
 * from devices on a shared wire.
 */
#include "busmap.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
    [BUS_KIND_WINDOW] = "window",
    [BUS_KIND_BOARD] = "board",
    [BUS_KIND_CALLPAD] = "callpad",
    [BUS_KIND_RATING] = "rating",
};

static const char *const key_names[] = {
    [BUS_KEY_NEXT] = "next",       [BUS_KEY_RECALL] = "recall", [BUS_KEY_NOSHOW] = "noshow",
    [BUS_KEY_START] = "start",     [BUS_KEY_FINISH] = "finish", [BUS_KEY_TRANSFER] = "transfer",
    [BUS_KEY_PAUSE] = "pause",     [BUS_KEY_RESUME] = "resume", [BUS_KEY_SIGNIN] = "signin",
    [BUS_KEY_SIGNOUT] = "signout",
};

const char *busmap_kind_name(bus_kind k)
{
    if ((int)k <= 0 || (size_t)k >= sizeof kind_names / sizeof kind_names[0])
        return NULL;
    return kind_names[k];
}

bus_kind busmap_kind_parse(const char *name)
{
    for (size_t k = 1; name != NULL && k < sizeof kind_names / sizeof kind_names[0]; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return (bus_kind)k;
    return BUS_KIND_NONE;
}

const char *busmap_key_name(int key)
{
    if (key <= 0 || key > BUS_KEY_MAX)
        return NULL;
    return key_names[key];
}

int busmap_key_parse(const char *name)
{
    for (int k = 1; name != NULL && k <= BUS_KEY_MAX; k++)
        if (strcmp(name, key_names[k]) == 0)
            return k;
    return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int busmap_parse_devices(const char *spec, bus_device *out, size_t max, char *err, size_t errlen)
{
    char *copy, *save = NULL, *entry;
    size_t n = 0;

    if (spec == NULL || out == NULL) {
        errno = EINVAL;
        return -1;
    }
    if ((copy = strdup(spec)) == NULL)
        return -1;
    for (entry = strtok_r(copy, ",", &save); entry != NULL; entry = strtok_r(NULL, ",", &save)) {
        char *f[4] = {NULL}, *fsave = NULL, shown[64];
        int nf = 0;
        long addr, window = 0;
        bus_kind kind;

        snprintf(shown, sizeof shown, "%s", entry);
        for (char *t = strtok_r(entry, ":", &fsave); t != NULL && nf < 4;
             t = strtok_r(NULL, ":", &fsave))
            f[nf++] = t;
        if (nf < 2 || nf > 3 || parse_long(f[0], 1, 247, &addr) < 0 ||
            (kind = busmap_kind_parse(f[1])) == BUS_KIND_NONE ||
            (nf == 3 && parse_long(f[2], 0, 9999, &window) < 0) ||
            (kind != BUS_KIND_BOARD && window < 1)) {
            if (err != NULL)
                snprintf(err, errlen,
                         "bad device '%s' (want ADDR:KIND[:WINDOW], ADDR 1..247, KIND window, "
                         "board, callpad or rating, WINDOW 1..9999 except for a board)",
                         shown);
            goto bad;
        }
        for (size_t i = 0; i < n; i++) {
            if (out[i].addr == addr) {
                if (err != NULL)
                    snprintf(err, errlen, "address %ld is used twice", addr);
                goto bad;
            }
        }
        if (n == max) {
            if (err != NULL)
                snprintf(err, errlen, "more than %zu devices", max);
            goto bad;
        }
        out[n++] = (bus_device){(int)addr, kind, (int)window};
    }
    free(copy);
    return (int)n;
bad:
    free(copy);
    errno = EINVAL;
    return -1;
}

uint16_t busmap_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xffff;

    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xa001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

/* ---- text ---- */

/* Length of the valid UTF-8 character at s (strict: no overlong forms, no
 * surrogates, nothing over U+10FFFF), 0 if there is none. */
static size_t utf8_char(const unsigned char *s)
{
    unsigned char c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

int busmap_gb18030(const char *utf8, uint8_t *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)utf8;
    iconv_t cd;
    size_t used = 0;

    if (utf8 == NULL || (out == NULL && cap > 0)) {
        errno = EINVAL;
        return -1;
    }
    if ((cd = iconv_open("GB18030", "UTF-8")) == (iconv_t)-1)
        return -1;
    while (*s != '\0') {
        size_t n = utf8_char(s);
        char one[8], *in = (char *)one, *o;
        size_t inleft = n, outleft;
        uint8_t enc[8];

        if (n == 0 || (n == 1 && (*s < 0x20 || *s == 0x7f))) {
            enc[0] = '?';
            outleft = sizeof enc - 1;
            s += n == 0 ? 1 : n;
        } else {
            memcpy(one, s, n);
            o = (char *)enc;
            outleft = sizeof enc;
            if (iconv(cd, &in, &inleft, &o, &outleft) == (size_t)-1) {
                enc[0] = '?';
                outleft = sizeof enc - 1;
                iconv(cd, NULL, NULL, NULL, NULL);
            }
            s += n;
        }
        if (used + (sizeof enc - outleft) > cap)
            break;
        memcpy(out + used, enc, sizeof enc - outleft);
        used += sizeof enc - outleft;
    }
    iconv_close(cd);
    return (int)used;
}

int busmap_utf8(const uint8_t *gb, size_t len, char *out, size_t cap)
{
    iconv_t cd;
    size_t used = 0, i = 0;

    if (out == NULL || cap == 0 || (gb == NULL && len > 0)) {
        errno = EINVAL;
        return -1;
    }
    if ((cd = iconv_open("UTF-8", "GB18030")) == (iconv_t)-1)
        return -1;
    while (i < len) {
        /* GB18030 characters are 1, 2 or 4 bytes: try the shortest first. */
        char u[8];
        size_t ulen = 0, took = 0;

        for (size_t n = 1; n <= 4 && i + n <= len && took == 0; n++) {
            char one[4], *in = one, *o = u;
            size_t inleft = n, outleft = sizeof u;

            memcpy(one, gb + i, n);
            if (iconv(cd, &in, &inleft, &o, &outleft) != (size_t)-1 && inleft == 0) {
                took = n;
                ulen = sizeof u - outleft;
            } else {
                iconv(cd, NULL, NULL, NULL, NULL);
            }
        }
        if (took == 0 || (ulen == 1 && ((unsigned char)u[0] < 0x20 || u[0] == 0x7f))) {
            u[0] = '?';
            ulen = 1;
            took = took == 0 ? 1 : took;
        }
        if (used + ulen + 1 > cap)
            break;
        memcpy(out + used, u, ulen);
        used += ulen;
        i += took;
    }
    iconv_close(cd);
    out[used] = '\0';
    return (int)used;
}

void busmap_mask_name(const char *utf8, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)utf8;
    size_t starts[64], nchar = 0, len, first, last_at, last_len, need;

    if (out == NULL || cap == 0)
        return;
    out[0] = '\0';
    if (utf8 == NULL)
        return;
    len = strlen(utf8);
    for (size_t i = 0; i < len && nchar < 64;) {
        size_t n = utf8_char(s + i);

        starts[nchar++] = i;
        i += n == 0 ? 1 : n;
    }
    if (nchar == 0)
        return;
    first = nchar > 1 ? starts[1] : len;
    if (nchar == 1) {
        need = first;
        if (need < cap) {
            memcpy(out, utf8, need);
            out[need] = '\0';
        }
        return;
    }
    last_at = nchar >= 3 ? starts[nchar - 1] : len;
    last_len = len - last_at;
    need = first + 1 + last_len;
    if (need >= cap)
        return;
    memcpy(out, utf8, first);
    out[first] = '*';
    memcpy(out + first + 1, utf8 + last_at, last_len);
    out[need] = '\0';
}

int busmap_text_to_regs(const uint8_t *bytes, size_t len, uint16_t *regs, size_t nregs)
{
    if ((bytes == NULL && len > 0) || (regs == NULL && nregs > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (len > 2 * nregs) {
        errno = ENOSPC;
        return -1;
    }
    for (size_t r = 0; r < nregs; r++) {
        uint8_t hi = 2 * r < len ? bytes[2 * r] : 0, lo = 2 * r + 1 < len ? bytes[2 * r + 1] : 0;

        regs[r] = (uint16_t)(hi << 8 | lo);
    }
    return 0;
}

int busmap_regs_to_text(const uint16_t *regs, size_t nregs, size_t len, uint8_t *out)
{
    if ((regs == NULL && nregs > 0) || (out == NULL && len > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (len > 2 * nregs) {
        errno = EBADMSG;
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(i % 2 == 0 ? regs[i / 2] >> 8 : regs[i / 2] & 0xff);
    return 0;
}

/* ---- blocks ---- */

static bool number_ok(const char *number)
{
    size_t len = strnlen(number, BUSMAP_NUMBER_MAX + 1);

    if (len > BUSMAP_NUMBER_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (number[i] < 0x20 || number[i] > 0x7e)
            return false;
    return true;
}

static void number_put(const char *number, uint16_t *regs)
{
    busmap_text_to_regs((const uint8_t *)number, strlen(number), regs, BUSMAP_NUMBER_MAX / 2);
}

/* The number in 4 registers: ASCII up to the first 0x00. */
static int number_get(const uint16_t *regs, char *number)
{
    uint8_t raw[BUSMAP_NUMBER_MAX];
    size_t len;

    busmap_regs_to_text(regs, BUSMAP_NUMBER_MAX / 2, BUSMAP_NUMBER_MAX, raw);
    for (len = 0; len < BUSMAP_NUMBER_MAX && raw[len] != 0; len++)
        if (raw[len] < 0x20 || raw[len] > 0x7e)
            return -1;
    for (size_t i = len; i < BUSMAP_NUMBER_MAX; i++)
        if (raw[i] != 0)
            return -1;
    memcpy(number, raw, len);
    number[len] = '\0';
    return 0;
}

static int bad(int e)
{
    errno = e;
    return -1;
}

int busmap_window_encode(const busmap_window *w, uint16_t *regs)
{
    if (w == NULL || regs == NULL || !number_ok(w->number) || w->text_len > BUSMAP_WINDOW_TEXT_MAX)
        return bad(EINVAL);
    regs[0] = w->gen;
    regs[1] = w->window;
    regs[2] = w->blink_ms;
    number_put(w->number, regs + 3);
    regs[7] = (uint16_t)w->text_len;
    busmap_text_to_regs(w->text, w->text_len, regs + 8, BUSMAP_WINDOW_TEXT_MAX / 2);
    return BUSMAP_WINDOW_REGS;
}

int busmap_window_decode(const uint16_t *regs, size_t nregs, busmap_window *w)
{
    if (regs == NULL || w == NULL || nregs < BUSMAP_WINDOW_REGS)
        return bad(EINVAL);
    if (regs[7] > BUSMAP_WINDOW_TEXT_MAX || number_get(regs + 3, w->number) < 0)
        return bad(EBADMSG);
    w->gen = regs[0];
    w->window = regs[1];
    w->blink_ms = regs[2];
    w->text_len = regs[7];
    busmap_regs_to_text(regs + 8, BUSMAP_WINDOW_TEXT_MAX / 2, w->text_len, w->text);
    return 0;
}

int busmap_board_encode(const busmap_board *b, uint16_t *regs)
{
    if (b == NULL || regs == NULL || b->rows > BUSMAP_BOARD_ROWS)
        return bad(EINVAL);
    for (size_t i = 0; i < b->rows; i++)
        if (!number_ok(b->row[i].number) || b->row[i].name_len > BUSMAP_NAME_MAX)
            return bad(EINVAL);
    memset(regs, 0, BUSMAP_BOARD_REGS * sizeof *regs);
    regs[0] = b->gen;
    regs[1] = b->rows;
    for (size_t i = 0; i < b->rows; i++) {
        uint16_t *r = regs + 2 + i * BUSMAP_ROW_REGS;

        r[0] = b->row[i].window;
        number_put(b->row[i].number, r + 1);
        r[5] = (uint16_t)b->row[i].name_len;
        busmap_text_to_regs(b->row[i].name, b->row[i].name_len, r + 6, BUSMAP_NAME_MAX / 2);
    }
    return BUSMAP_BOARD_REGS;
}

int busmap_board_decode(const uint16_t *regs, size_t nregs, busmap_board *b)
{
    if (regs == NULL || b == NULL || nregs < BUSMAP_BOARD_REGS)
        return bad(EINVAL);
    if (regs[1] > BUSMAP_BOARD_ROWS)
        return bad(EBADMSG);
    b->gen = regs[0];
    b->rows = regs[1];
    for (size_t i = 0; i < b->rows; i++) {
        const uint16_t *r = regs + 2 + i * BUSMAP_ROW_REGS;

        if (r[5] > BUSMAP_NAME_MAX || number_get(r + 1, b->row[i].number) < 0)
            return bad(EBADMSG);
        b->row[i].window = r[0];
        b->row[i].name_len = r[5];
        busmap_regs_to_text(r + 6, BUSMAP_NAME_MAX / 2, r[5], b->row[i].name);
    }
    return 0;
}

int busmap_notice_encode(const busmap_notice *n, uint16_t *regs)
{
    if (n == NULL || regs == NULL || n->text_len > BUSMAP_NOTICE_MAX)
        return bad(EINVAL);
    regs[0] = n->gen;
    regs[1] = n->scroll_ms;
    regs[2] = (uint16_t)n->text_len;
    busmap_text_to_regs(n->text, n->text_len, regs + 3, BUSMAP_NOTICE_MAX / 2);
    return BUSMAP_NOTICE_REGS;
}

int busmap_notice_decode(const uint16_t *regs, size_t nregs, busmap_notice *n)
{
    if (regs == NULL || n == NULL || nregs < BUSMAP_NOTICE_REGS)
        return bad(EINVAL);
    if (regs[2] > BUSMAP_NOTICE_MAX)
        return bad(EBADMSG);
    n->gen = regs[0];
    n->scroll_ms = regs[1];
    n->text_len = regs[2];
    busmap_regs_to_text(regs + 3, BUSMAP_NOTICE_MAX / 2, n->text_len, n->text);
    return 0;
}

int busmap_callpad_encode(const busmap_callpad *c, uint16_t *regs)
{
    if (c == NULL || regs == NULL || !number_ok(c->number) || c->text_len > BUSMAP_PAD_TEXT_MAX ||
        (c->flags & ~BUSMAP_PAD_FLAGS) != 0)
        return bad(EINVAL);
    regs[0] = c->gen;
    regs[1] = c->waiting;
    number_put(c->number, regs + 2);
    regs[6] = c->flags;
    regs[7] = (uint16_t)c->text_len;
    busmap_text_to_regs(c->text, c->text_len, regs + 8, BUSMAP_PAD_TEXT_MAX / 2);
    return BUSMAP_CALLPAD_REGS;
}

int busmap_callpad_decode(const uint16_t *regs, size_t nregs, busmap_callpad *c)
{
    if (regs == NULL || c == NULL || nregs < BUSMAP_CALLPAD_REGS)
        return bad(EINVAL);
    if (number_get(regs + 2, c->number) < 0 || (regs[6] & ~BUSMAP_PAD_FLAGS) != 0 ||
        regs[7] > BUSMAP_PAD_TEXT_MAX)
        return bad(EBADMSG);
    c->gen = regs[0];
    c->waiting = regs[1];
    c->flags = regs[6];
    c->text_len = regs[7];
    busmap_regs_to_text(regs + 8, BUSMAP_PAD_TEXT_MAX / 2, c->text_len, c->text);
    return 0;
}

/* Whether s is 0..max ASCII digits. */
static bool digits_ok(const char *s, size_t max)
{
    size_t len = strnlen(s, max + 1);

    if (len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Digits from a length register and its text registers; -1 if the length
 * is out of range or a byte is not a digit. */
static int digits_get(uint16_t len, const uint16_t *regs, size_t max, char *out)
{
    uint8_t raw[BUSMAP_CLERK_MAX];

    if (len > max)
        return -1;
    busmap_regs_to_text(regs, max / 2, len, raw);
    for (size_t i = 0; i < len; i++)
        if (raw[i] < '0' || raw[i] > '9')
            return -1;
    memcpy(out, raw, len);
    out[len] = '\0';
    return 0;
}

int busmap_entry_encode(const busmap_entry *e, uint16_t *regs)
{
    if (e == NULL || regs == NULL || !digits_ok(e->clerk, BUSMAP_CLERK_MAX) ||
        !digits_ok(e->pin, BUSMAP_PIN_MAX))
        return bad(EINVAL);
    regs[0] = e->seq;
    regs[1] = (uint16_t)strlen(e->clerk);
    busmap_text_to_regs((const uint8_t *)e->clerk, regs[1], regs + 2, BUSMAP_CLERK_MAX / 2);
    regs[2 + BUSMAP_CLERK_MAX / 2] = (uint16_t)strlen(e->pin);
    busmap_text_to_regs((const uint8_t *)e->pin, regs[2 + BUSMAP_CLERK_MAX / 2],
                        regs + 3 + BUSMAP_CLERK_MAX / 2, BUSMAP_PIN_MAX / 2);
    return BUSMAP_ENTRY_REGS;
}

int busmap_entry_decode(const uint16_t *regs, size_t nregs, busmap_entry *e)
{
    if (regs == NULL || e == NULL || nregs < BUSMAP_ENTRY_REGS)
        return bad(EINVAL);
    if (digits_get(regs[1], regs + 2, BUSMAP_CLERK_MAX, e->clerk) < 0 ||
        digits_get(regs[2 + BUSMAP_CLERK_MAX / 2], regs + 3 + BUSMAP_CLERK_MAX / 2, BUSMAP_PIN_MAX,
                   e->pin) < 0)
        return bad(EBADMSG);
    e->seq = regs[0];
    return 0;
}

int busmap_prompt_encode(const busmap_prompt *p, uint16_t *regs)
{
    if (p == NULL || regs == NULL || !number_ok(p->number))
        return bad(EINVAL);
    regs[0] = p->id;
    regs[1] = p->timeout_s;
    number_put(p->number, regs + 2);
    return BUSMAP_PROMPT_REGS;
}

int busmap_prompt_decode(const uint16_t *regs, size_t nregs, busmap_prompt *p)
{
    if (regs == NULL || p == NULL || nregs < BUSMAP_PROMPT_REGS)
        return bad(EINVAL);
    if (number_get(regs + 2, p->number) < 0)
        return bad(EBADMSG);
    p->id = regs[0];
    p->timeout_s = regs[1];
    return 0;
}

/* ---- events ---- */

bool busmap_seq_after(uint16_t a, uint16_t b)
{
    return (int16_t)(uint16_t)(a - b) > 0;
}

int busmap_poll_decode(const uint16_t *regs, size_t nregs, busmap_poll *out)
{
    if (regs == NULL || out == NULL || nregs < 3)
        return bad(EINVAL);
    if (regs[0] == 0 || regs[2] > BUSMAP_FIFO_MAX)
        return bad(EBADMSG);
    out->boot_id = regs[0];
    out->status = regs[1];
    out->count = regs[2];
    return 0;
}

int busmap_fifo_decode(const uint16_t *regs, size_t nregs, size_t count, bus_event *out)
{
    if ((regs == NULL && count > 0) || (out == NULL && count > 0) || count > BUSMAP_FIFO_MAX ||
        nregs < count * BUSMAP_EV_REGS)
        return bad(EINVAL);
    for (size_t i = 0; i < count; i++) {
        const uint16_t *r = regs + i * BUSMAP_EV_REGS;

        if (r[1] == 0 || (i > 0 && !busmap_seq_after(r[0], out[i - 1].seq)))
            return bad(EBADMSG);
        out[i] = (bus_event){r[0], r[1], r[2]};
    }
    return 0;
}

size_t busmap_seq_accept(busmap_seq *s, uint16_t boot_id, const bus_event *ev, size_t n,
                         bus_event *fresh)
{
    size_t k = 0;

    if (s->boot_id != boot_id) {
        s->boot_id = boot_id;
        s->known = false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s->known && !busmap_seq_after(ev[i].seq, s->last))
            continue;
        fresh[k++] = ev[i];
        s->last = ev[i].seq;
        s->known = true;
    }
    return k;
}
