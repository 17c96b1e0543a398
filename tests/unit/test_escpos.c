/*
 * test_escpos — the ESC/POS ticket builder.
 *
 * The sample ticket (Chinese text, QR code, barcode) must give exactly the
 * bytes of the golden files tests/data/ticket-80mm.bin and
 * ticket-58mm.bin, and those files must equal the same ticket assembled
 * here by hand, command by command, from devices.md 1.1-1.3 (the GB18030
 * bytes were taken from an independent encoder, Python's gb18030 codec).
 * The example ticket of devices.md 1.4 is reproduced byte for byte.
 * Then the bad inputs: unencodable characters and ill-formed UTF-8
 * (replaced and counted), control characters (never passed to the
 * printer, even from random bytes), over-long lines, QR payloads,
 * barcodes, ticket numbers and templates.
 *
 * ONEWINDOW_UPDATE_GOLDEN=1 makes the golden tests write the files from
 * the builder instead of comparing (then check them with git diff and the
 * hand-assembled expectation, which still runs).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clk.h"
#include "escpos.h"

/* A command segment: bytes given as a string literal, NULs included. */
struct seg {
    const char *bytes;
    size_t len;
};
#define SEG(lit)                                                                                   \
    {                                                                                              \
        (lit), sizeof(lit) - 1                                                                     \
    }

/* GB18030 of the sample's text (Python: s.encode("gb18030")). */
#define GB_HALL "\xCA\xBE\xB7\xB6\xC7\xF8\xD5\xFE\xCE\xF1\xB7\xFE\xCE\xF1\xD6\xD0\xD0\xC4"
#define GB_AREA "\xB2\xBB\xB6\xAF\xB2\xFA\xB5\xC7\xBC\xC7"
/* 国有建设用地使用权及房屋所 (13 characters, 26 columns) ... */
#define GB_MATTER_HEAD                                                                             \
    "\xB9\xFA\xD3\xD0\xBD\xA8\xC9\xE8\xD3\xC3\xB5\xD8\xCA\xB9\xD3\xC3\xC8\xA8\xBC\xB0\xB7\xBF"     \
    "\xCE\xDD\xCB\xF9"
/* ... 有权首 (3 more: 32 columns, the whole 58 mm line) ... */
#define GB_MATTER_MID "\xD3\xD0\xC8\xA8\xCA\xD7"
/* ... 次登记 (38 columns in all, fits 48). */
#define GB_MATTER_TAIL "\xB4\xCE\xB5\xC7\xBC\xC7"
#define GB_AHEAD       "\xC7\xB0\xC3\xE6\xB5\xC8\xBA\xF2 3 \xC8\xCB"
#define GB_WAIT        "\xD4\xA4\xBC\xC6\xB5\xC8\xBA\xF2 15 \xB7\xD6\xD6\xD3"
#define GB_TIME        "\xC8\xA1\xBA\xC5\xCA\xB1\xBC\xE4 2026-11-27 09:30"
#define GB_NAME        "\xD0\xD5\xC3\xFB\xA3\xBA\xD5\xC5*"

#define QR_URL "https://hall.example.gov.cn/t/A001?d=20261127" /* 45 bytes */

static const char *golden_dir(void)
{
    return TEST_DATA_DIR;
}

static void sample(escpos_ticket *t, const clk_zone *zone)
{
    memset(t, 0, sizeof(*t));
    t->hall = "示范区政务服务中心";
    t->number = "A001";
    t->area = "不动产登记";
    t->matter = "国有建设用地使用权及房屋所有权首次登记";
    t->ahead = 3;
    t->wait_min = 15;
    t->issued_ms = 1795743005000; /* 2026-11-27T01:30:05Z = 09:30:05 in Shanghai */
    t->zone = zone;
    t->name = "张*";
    t->qr = QR_URL;
    t->barcode = "A001-20261127";
}

/* The sample ticket assembled by hand, in the order of the default
 * template "hall|number|offline|area|matter|ahead|wait|time|name|qr|
 * barcode|feed:3|cut". */
static void expected_sample(buf *out, int paper_mm)
{
    const struct seg common_head[] = {
        SEG("\x1B\x40"),                                /* ESC @ initialise */
        SEG("\x1B\x61\x01"),                            /* ESC a 1 centre */
        SEG("\x1C\x26"),                                /* FS & Chinese mode */
        SEG("\x1B\x45\x01" GB_HALL "\x0A\x1B\x45\x00"), /* hall: ESC E 1, text, LF, ESC E 0 */
        SEG("\x1D\x21\x33"
            "A001"
            "\x0A\x1D\x21\x00"),                        /* number: GS ! 0x33, LF, GS ! 0 */
        SEG("\x1D\x21\x11" GB_AREA "\x0A\x1D\x21\x00"), /* area: GS ! 0x11 double */
    };
    const struct seg matter80 = SEG(GB_MATTER_HEAD GB_MATTER_MID GB_MATTER_TAIL "\x0A");
    const struct seg matter58 = SEG(GB_MATTER_HEAD GB_MATTER_MID "\x0A"); /* cut at 32 */
    const struct seg common_tail[] = {
        SEG(GB_AHEAD "\x0A"),                        /* people ahead */
        SEG(GB_WAIT "\x0A"),                         /* estimated wait */
        SEG(GB_TIME "\x0A"),                         /* issue time, local */
        SEG(GB_NAME "\x0A"),                         /* masked name */
        SEG("\x1D\x28\x6B\x04\x00\x31\x41\x32\x00"), /* QR fn 65: model 2 */
    };
    const struct seg qr_size80 = SEG("\x1D\x28\x6B\x03\x00\x31\x43\x06"); /* fn 67: 6 dots */
    const struct seg qr_size58 = SEG("\x1D\x28\x6B\x03\x00\x31\x43\x04"); /* fn 67: 4 dots */
    const struct seg rest[] = {
        SEG("\x1D\x28\x6B\x03\x00\x31\x45\x31"),        /* fn 69: error level M */
        SEG("\x1D\x28\x6B\x30\x00\x31\x50\x30" QR_URL), /* fn 80: store, 45 + 3 = 0x30 */
        SEG("\x1D\x28\x6B\x03\x00\x31\x51\x30"),        /* fn 81: print */
        SEG("\x1D\x68\x50"),                            /* GS h 80 dots high */
        SEG("\x1D\x77\x02"),                            /* GS w module 2 */
        SEG("\x1D\x48\x02"),                            /* GS H HRI below */
        SEG("\x1D\x6B\x49\x0F{BA001-20261127"),         /* GS k CODE128, n = 13 + 2 */
        SEG("\x1B\x64\x03"),                            /* ESC d 3 feed */
        SEG("\x1D\x56\x42\x00"),                        /* GS V 66 0: feed, partial cut */
    };
    const struct seg *m = paper_mm == 58 ? &matter58 : &matter80;
    const struct seg *q = paper_mm == 58 ? &qr_size58 : &qr_size80;

    for (size_t i = 0; i < sizeof(common_head) / sizeof(common_head[0]); i++)
        ck_assert_int_eq(buf_append(out, common_head[i].bytes, common_head[i].len), 0);
    ck_assert_int_eq(buf_append(out, m->bytes, m->len), 0);
    for (size_t i = 0; i < sizeof(common_tail) / sizeof(common_tail[0]); i++)
        ck_assert_int_eq(buf_append(out, common_tail[i].bytes, common_tail[i].len), 0);
    ck_assert_int_eq(buf_append(out, q->bytes, q->len), 0);
    for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
        ck_assert_int_eq(buf_append(out, rest[i].bytes, rest[i].len), 0);
}

static void expect_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
    size_t n = got_len < want_len ? got_len : want_len;

    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            ck_abort_msg("byte %zu: got %02x, want %02x", i, got[i], want[i]);
    ck_assert_uint_eq(got_len, want_len);
}

static void read_file(const char *path, buf *out)
{
    FILE *f = fopen(path, "rb");
    uint8_t chunk[4096];
    size_t n;

    ck_assert_msg(f != NULL, "%s: %s (ONEWINDOW_UPDATE_GOLDEN=1 writes it)", path, strerror(errno));
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ck_assert_int_eq(buf_append(out, chunk, n), 0);
    fclose(f);
}

static void write_file(const char *path, const buf *b)
{
    FILE *f = fopen(path, "wb");

    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(buf_rdata(b), 1, buf_rlen(b), f), buf_rlen(b));
    ck_assert_int_eq(fclose(f), 0);
}

static escpos_builder *builder(int paper_mm, int qr_module, const char *tmpl)
{
    escpos_layout l = {paper_mm, qr_module, false, tmpl};
    char err[160];
    escpos_builder *b = escpos_new(&l, err, sizeof(err));

    ck_assert_msg(b != NULL, "escpos_new: %s (%s)", err, escpos_strerror(errno));
    return b;
}

static void golden(int paper_mm, int qr_module, unsigned truncated)
{
    clk_zone *zone = clk_zone_new("Asia/Shanghai");
    escpos_builder *b = builder(paper_mm, qr_module, NULL);
    escpos_ticket t;
    escpos_stats st;
    buf got, want, file;
    char path[512];
    const char *update = getenv("ONEWINDOW_UPDATE_GOLDEN");

    ck_assert_ptr_nonnull(zone);
    buf_init(&got, 0);
    buf_init(&want, 0);
    buf_init(&file, 0);
    sample(&t, zone);
    ck_assert_int_eq(escpos_build(b, &t, &got, &st), 0);
    ck_assert_uint_eq(st.invalid_utf8, 0);
    ck_assert_uint_eq(st.unprintable, 0);
    ck_assert_uint_eq(st.truncated, truncated);

    expected_sample(&want, paper_mm);
    expect_bytes(buf_rdata(&got), buf_rlen(&got), buf_rdata(&want), buf_rlen(&want));

    snprintf(path, sizeof(path), "%s/ticket-%dmm.bin", golden_dir(), paper_mm);
    if (update && strcmp(update, "1") == 0)
        write_file(path, &got);
    read_file(path, &file);
    expect_bytes(buf_rdata(&got), buf_rlen(&got), buf_rdata(&file), buf_rlen(&file));

    buf_release(&got);
    buf_release(&want);
    buf_release(&file);
    escpos_free(b);
    clk_zone_free(zone);
}

START_TEST(golden_80mm)
{
    golden(80, 6, 0);
}
END_TEST

START_TEST(golden_58mm)
{
    golden(58, 4, 1); /* the matter line is cut at 32 columns */
}
END_TEST

/* devices.md 1.4, byte for byte: a title line, the number, one line of
 * text, a QR code of 12 bytes, feed 3 and cut. */
START_TEST(example_ticket_1_4)
{
    static const uint8_t want[] = {
        0x1B, 0x40,                                                 /* ESC @ */
        0x1B, 0x61, 0x01,                                           /* centre */
        0x1C, 0x26,                                                 /* Chinese mode */
        0x1D, 0x21, 0x11, 0xC7, 0xEB, 0xC8, 0xA1, 0xBA, 0xC5, 0x0A, /* 请取号 double */
        0x1D, 0x21, 0x00,                                           /* */
        0x1D, 0x21, 0x33, 0x41, 0x30, 0x31, 0x32, 0x0A,             /* "A012" x4 */
        0x1D, 0x21, 0x00, 0xC7, 0xEB, 0xC1, 0xF4, 0xD2, 0xE2, 0xBD, 0xD0, 0xBA,
        0xC5, 0x0A, 0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00, /* model 2 */
        0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x06,                   /* size 6 */
        0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x31,                   /* level M */
        0x1D, 0x28, 0x6B, 0x0F, 0x00, 0x31, 0x50, 0x30,                   /* store 12 + 3 */
        'h',  't',  't',  'p',  's',  ':',  '/',  '/',  't',  '.',  'c',  'n',
        0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30, /* print */
        0x1B, 0x64, 0x03,                               /* feed 3 */
        0x1D, 0x56, 0x42, 0x00,                         /* feed to cutter + partial cut */
    };
    escpos_builder *b = builder(80, 6, "title:请取号|number|offline|matter|qr|feed:3|cut");
    escpos_ticket t = {.number = "A012", .matter = "请留意叫号", .qr = "https://t.cn"};
    buf out;

    t.ahead = t.wait_min = -1;
    buf_init(&out, 0);
    ck_assert_int_eq(escpos_build(b, &t, &out, NULL), 0);
    expect_bytes(buf_rdata(&out), buf_rlen(&out), want, sizeof(want));
    buf_release(&out);
    escpos_free(b);
}
END_TEST

/* The number line of ticket "A1" and the cut that end every body(). */
#define TAIL_A1                                                                                    \
    "\x1D\x21\x33"                                                                                 \
    "A1"                                                                                           \
    "\x0A\x1D\x21\x00"                                                                             \
    "\x1D\x56\x42\x00"

/* Build t (number "A1") on 58 mm with the template fields + "|number|cut"
 * and return the bytes the fields gave: those between the preamble (ESC @,
 * ESC a 1, FS &) and the number line. */
static size_t body(const char *fields, const escpos_ticket *t, bool four_byte, uint8_t *out,
                   size_t cap, escpos_stats *st)
{
    char tmpl[256];
    escpos_layout l = {58, 4, four_byte, tmpl};
    escpos_builder *b;
    buf bytes;
    size_t n, tail = sizeof(TAIL_A1) - 1;

    snprintf(tmpl, sizeof(tmpl), "%s|number|cut", fields);
    b = escpos_new(&l, NULL, 0);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(t->number, "A1");
    buf_init(&bytes, 0);
    ck_assert_int_eq(escpos_build(b, t, &bytes, st), 0);
    ck_assert_uint_ge(buf_rlen(&bytes), 7 + tail);
    ck_assert_int_eq(memcmp(buf_rdata(&bytes), "\x1B\x40\x1B\x61\x01\x1C\x26", 7), 0);
    ck_assert_int_eq(memcmp(buf_rdata(&bytes) + buf_rlen(&bytes) - tail, TAIL_A1, tail), 0);
    n = buf_rlen(&bytes) - 7 - tail;
    ck_assert_uint_le(n, cap);
    memcpy(out, buf_rdata(&bytes) + 7, n);
    buf_release(&bytes);
    escpos_free(b);
    return n;
}

/* devices.md 1.2: 请A012号到3号窗口办理 in GB18030. */
START_TEST(gb18030_example)
{
    static const uint8_t want[] = {0xC7, 0xEB, 0x41, 0x30, 0x31, 0x32, 0xBA, 0xC5,
                                   0xB5, 0xBD, 0x33, 0xBA, 0xC5, 0xB4, 0xB0, 0xBF,
                                   0xDA, 0xB0, 0xEC, 0xC0, 0xED, 0x0A};
    escpos_ticket t = {.number = "A1"};
    escpos_stats st;
    uint8_t got[256];
    size_t n = body("text:请A012号到3号窗口办理|offline", &t, false, got, sizeof(got), &st);

    expect_bytes(got, n, want, sizeof(want));
    ck_assert_uint_eq(st.invalid_utf8 + st.unprintable + st.truncated, 0);
}
END_TEST

struct replace_case {
    const char *text;      /* UTF-8 in */
    const char *want;      /* GB18030 out, without LF */
    bool four_byte;        /* the font has four-byte characters */
    unsigned invalid_utf8; /* expected counts */
    unsigned unprintable;
};

static const struct replace_case replace_cases[] = {
    /* emoji: GB18030 four-byte, missing from the font */
    {"A\xF0\x9F\x98\x80"
     "B",
     "A?B", false, 0, 1},
    /* the same with a font that has it */
    {"A\xF0\x9F\x98\x80"
     "B",
     "A\x94\x39\xFC\x36"
     "B",
     true, 0, 0},
    /* a lone surrogate (U+D800 as CESU): three ill-formed bytes */
    {"A\xED\xA0\x80"
     "B",
     "A???B", false, 3, 0},
    /* a truncated three-byte character is one ill-formed sequence */
    {"\xE4\xB8"
     "A",
     "?A", false, 1, 0},
    {"\xE4\xB8", "?", false, 1, 0},
    /* stray continuation, 0xFF, an overlong '/' */
    {"\x80\xFF\xC0\xAF", "????", false, 4, 0},
    /* beyond U+10FFFF */
    {"\xF4\x90\x80\x80", "????", false, 4, 0},
    /* control characters would be printer commands: ESC @, GS V, DLE EOT */
    {"\x1B@\x1DV\x10\x04", "?@?V??", false, 0, 4},
    /* C1 control (U+0085) and DEL */
    {"\xC2\x85\x7F", "??", false, 0, 2},
    /* a mix: valid Chinese survives around the replacements */
    {"张\xFF三\xF0\x9F\x98\x80", "\xD5\xC5?\xC8\xFD?", false, 1, 1},
};

START_TEST(replaced_and_counted)
{
    const struct replace_case *c = &replace_cases[_i];
    escpos_ticket t = {.number = "A1", .matter = c->text, .ahead = -1, .wait_min = -1};
    escpos_stats st;
    uint8_t got[256];
    size_t n = body("matter|offline", &t, c->four_byte, got, sizeof(got), &st);
    size_t want_len = strlen(c->want);

    ck_assert_uint_eq(n, want_len + 1);
    ck_assert_int_eq(got[want_len], '\n');
    ck_assert_uint_eq(st.invalid_utf8, c->invalid_utf8);
    ck_assert_uint_eq(st.unprintable, c->unprintable);
    ck_assert_uint_eq(st.truncated, 0);
    expect_bytes(got, want_len, (const uint8_t *)c->want, want_len);
}
END_TEST

START_TEST(truncated_at_character_boundary)
{
    /* 31 ASCII columns and a two-column character on a 32-column line: the
     * character does not fit and is not split. */
    escpos_ticket t = {.number = "A1", .ahead = -1, .wait_min = -1};
    escpos_stats st;
    uint8_t got[256];
    size_t n;

    t.matter = "0123456789012345678901234567890张三";
    n = body("matter|offline", &t, false, got, sizeof(got), &st);
    ck_assert_uint_eq(n, 32);
    ck_assert_int_eq(memcmp(got, "0123456789012345678901234567890\x0A", 32), 0);
    ck_assert_uint_eq(st.truncated, 1);

    /* exactly 32 columns: not truncated */
    t.matter = "012345678901234567890123456789张";
    n = body("matter|offline", &t, false, got, sizeof(got), &st);
    ck_assert_uint_eq(n, 33);
    ck_assert_int_eq(memcmp(got, "012345678901234567890123456789\xD5\xC5\x0A", 33), 0);
    ck_assert_uint_eq(st.truncated, 0);

    /* the area is double width: 16 columns; 不动产登记不动产登记 has 20 */
    t.matter = NULL;
    t.area = "不动产登记不动产登记";
    n = body("area|offline", &t, false, got, sizeof(got), &st);
    ck_assert_uint_eq(n, 3 + 16 + 1 + 3);
    ck_assert_int_eq(
        memcmp(got, "\x1D\x21\x11" GB_AREA "\xB2\xBB\xB6\xAF\xB2\xFA\x0A\x1D\x21\x00", n), 0);
    ck_assert_uint_eq(st.truncated, 1);

    /* a rule fills the line exactly */
    n = body("rule|offline", &t, false, got, sizeof(got), &st);
    ck_assert_uint_eq(n, 33);
    ck_assert_int_eq(got[31], '-');
    ck_assert_int_eq(got[32], '\n');
    ck_assert_uint_eq(st.truncated, 0);
}
END_TEST

/* Random bytes as text: the builder never crashes, every line stays within
 * the paper, and no control byte other than the builder's own reaches the
 * output between the preamble and the number line. */
START_TEST(random_text_is_safe)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    escpos_ticket t = {.number = "A1", .ahead = -1, .wait_min = -1};
    char text[64];
    uint8_t got[256];

    for (int round = 0; round < 2000; round++) {
        escpos_stats st;
        size_t n, len = (size_t)(round % 63);

        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text[i] = (char)(x & 0xff);
            if (text[i] == '\0')
                text[i] = '\x01';
        }
        text[len] = '\0';
        t.matter = text;
        n = body("matter|offline", &t, round & 1, got, sizeof(got), &st);
        ck_assert_uint_ge(n, 1);
        ck_assert_int_eq(got[n - 1], '\n');
        ck_assert_uint_le(n - 1, 2 * 32);
        for (size_t i = 0; i + 1 < n; i++)
            ck_assert_msg(got[i] >= 0x20 && got[i] != 0x7f, "round %d: byte %zu is %02x", round, i,
                          got[i]);
    }
}
END_TEST

START_TEST(offline_line)
{
    escpos_ticket t = {.number = "A1", .ahead = -1, .wait_min = -1, .offline = true};
    uint8_t got[256];
    size_t n = body("offline", &t, false, got, sizeof(got), NULL);
    static const char want[] = "\x1D\x21\x11\x1B\x45\x01"
                               "\xC0\xEB\xCF\xDF\xC8\xA1\xBA\xC5" /* 离线取号 */
                               "\x0A\x1B\x45\x00\x1D\x21\x00";

    expect_bytes(got, n, (const uint8_t *)want, sizeof(want) - 1);

    t.offline = false;
    n = body("offline", &t, false, got, sizeof(got), NULL);
    ck_assert_uint_eq(n, 0);
}
END_TEST

/* The kiosk's lines: the appointment or green mark (double, bold), the
 * windows serving the area, the wait in the screen's words, and the
 * missed-call rule wrapped at a character boundary on 58 mm (32 columns)
 * instead of cut. */
START_TEST(kiosk_lines)
{
    escpos_ticket t = {.number = "A1",
                       .ahead = 3,
                       .wait_min = 12,
                       .wait = "约 12 分钟",
                       .mark = "预约",
                       .windows = "办理窗口：1、2、5号",
                       .missed = "叫号3次未到即为过号；过号请在10分钟内回到取号机重新排队"};
    uint8_t got[512];
    escpos_stats st;
    size_t n = body("offline|mark|windows|wait|missed", &t, false, got, sizeof(got), &st);
    static const char want[] =
        "\x1D\x21\x11\x1B\x45\x01"
        "\xD4\xA4\xD4\xBC"
        "\x0A\x1B\x45\x00\x1D\x21\x00"
        "\xB0\xEC\xC0\xED\xB4\xB0\xBF\xDA\xA3\xBA\x31\xA1\xA2\x32\xA1\xA2\x35\xBA\xC5"
        "\x0A"
        "\xD4\xA4\xBC\xC6\xB5\xC8\xBA\xF2\x20\xD4\xBC\x20\x31\x32\x20\xB7\xD6\xD6\xD3"
        "\x0A"
        "\xBD\xD0\xBA\xC5\x33\xB4\xCE\xCE\xB4\xB5\xBD\xBC\xB4\xCE\xAA\xB9\xFD\xBA\xC5\xA3\xBB\xB9"
        "\xFD\xBA\xC5\xC7\xEB\xD4\xDA\x31\x30"
        "\x0A"
        "\xB7\xD6\xD6\xD3\xC4\xDA\xBB\xD8\xB5\xBD\xC8\xA1\xBA\xC5\xBB\xFA\xD6\xD8\xD0\xC2\xC5\xC5"
        "\xB6\xD3"
        "\x0A";

    expect_bytes(got, n, (const uint8_t *)want, sizeof(want) - 1);
    ck_assert_uint_eq(st.truncated, 0);

    /* Nobody ahead: "即将叫号", never "预计等候 0 分钟"; no mark, windows or
     * rule known: no line. */
    t.wait = "即将叫号";
    t.mark = t.windows = t.missed = NULL;
    n = body("offline|mark|windows|wait|missed", &t, false, got, sizeof(got), NULL);
    ck_assert_ptr_nonnull(memmem(got, n, "\xBC\xB4\xBD\xAB\xBD\xD0\xBA\xC5", 8));
    ck_assert_ptr_null(memmem(got, n, "\xD4\xA4\xBC\xC6\xB5\xC8\xBA\xF2", 8));
}
END_TEST

START_TEST(time_preformatted_or_zone)
{
    clk_zone *utc = clk_zone_new("UTC");
    escpos_ticket t = {.number = "A1", .ahead = -1, .wait_min = -1};
    uint8_t got[256];
    size_t n;

    ck_assert_ptr_nonnull(utc);
    /* neither: no line */
    n = body("time|offline", &t, false, got, sizeof(got), NULL);
    ck_assert_uint_eq(n, 0);
    t.zone = utc;
    t.issued_ms = 1795743005000;
    n = body("time|offline", &t, false, got, sizeof(got), NULL);
    ck_assert_uint_eq(n, 26);
    ck_assert_int_eq(memcmp(got, "\xC8\xA1\xBA\xC5\xCA\xB1\xBC\xE4 2026-11-27 01:30\x0A", 26), 0);
    t.time = "周五 09:30";
    n = body("time|offline", &t, false, got, sizeof(got), NULL);
    ck_assert_uint_eq(n, 20);
    ck_assert_int_eq(memcmp(got, "\xC8\xA1\xBA\xC5\xCA\xB1\xBC\xE4 \xD6\xDC\xCE\xE5 09:30\x0A", 20),
                     0);
    clk_zone_free(utc);
}
END_TEST

/* A refused build leaves the output buffer as it was. */
static void expect_refused(escpos_builder *b, const escpos_ticket *t, int err)
{
    buf out;

    buf_init(&out, 0);
    ck_assert_int_eq(buf_append(&out, "xy", 2), 0);
    errno = 0;
    ck_assert_int_eq(escpos_build(b, t, &out, NULL), -1);
    ck_assert_msg(errno == err, "errno %d (%s), want %d", errno, escpos_strerror(errno), err);
    ck_assert_uint_eq(buf_rlen(&out), 2);
    buf_release(&out);
}

START_TEST(qr_payload_bounds)
{
    escpos_builder *b = builder(80, 6, NULL);
    escpos_ticket t = {.number = "A1", .ahead = -1, .wait_min = -1};
    char *big = malloc(ESCPOS_QR_MAX + 2);
    buf out;
    const uint8_t *p;
    size_t i;

    ck_assert_ptr_nonnull(big);
    memset(big, 'x', ESCPOS_QR_MAX + 1);
    big[ESCPOS_QR_MAX + 1] = '\0';
    t.qr = big;
    expect_refused(b, &t, ESCPOS_EQR); /* 2332 bytes */

    big[ESCPOS_QR_MAX] = '\0'; /* 2331: the most, pL pH = 2334 = 0x091E */
    buf_init(&out, 0);
    ck_assert_int_eq(escpos_build(b, &t, &out, NULL), 0);
    p = buf_rdata(&out);
    for (i = 0; i + 8 <= buf_rlen(&out); i++)
        if (memcmp(p + i, "\x1D\x28\x6B\x1E\x09\x31\x50\x30", 8) == 0)
            break;
    ck_assert_uint_le(i + 8 + ESCPOS_QR_MAX, buf_rlen(&out));
    ck_assert_int_eq(p[i + 8], 'x');
    ck_assert_int_eq(p[i + 8 + ESCPOS_QR_MAX - 1], 'x');
    ck_assert_int_eq(memcmp(p + i + 8 + ESCPOS_QR_MAX, "\x1D\x28\x6B\x03\x00\x31\x51\x30", 8), 0);
    buf_release(&out);

    t.qr = "";
    expect_refused(b, &t, ESCPOS_EQR);
    t.qr = "https://x/\x10\x04\x01"; /* DLE EOT inside data runs on the printer */
    expect_refused(b, &t, ESCPOS_EQR);
    free(big);
    escpos_free(b);
}
END_TEST

START_TEST(barcode_and_number_refused)
{
    escpos_builder *b58 = builder(58, 4, NULL);
    escpos_builder *b80 = builder(80, 6, NULL);
    escpos_builder *nobar = builder(80, 6, "number|offline|cut");
    escpos_ticket t = {.number = "A1", .ahead = -1, .wait_min = -1};
    char longbar[ESCPOS_BARCODE_MAX + 2];
    buf out;

    memset(longbar, '7', sizeof(longbar) - 1);
    longbar[sizeof(longbar) - 1] = '\0';
    t.barcode = longbar;
    expect_refused(b80, &t, ESCPOS_EBARCODE);
    /* a template without "barcode" ignores it */
    buf_init(&out, 0);
    ck_assert_int_eq(escpos_build(nobar, &t, &out, NULL), 0);
    buf_release(&out);
    longbar[ESCPOS_BARCODE_MAX] = '\0';
    buf_init(&out, 0);
    ck_assert_int_eq(escpos_build(b80, &t, &out, NULL), 0);
    buf_release(&out);
    t.barcode = "A{1";
    expect_refused(b80, &t, ESCPOS_EBARCODE);
    t.barcode = "A\x01";
    expect_refused(b80, &t, ESCPOS_EBARCODE);
    t.barcode = "取号";
    expect_refused(b80, &t, ESCPOS_EBARCODE);
    t.barcode = NULL;

    /* x4 number: 8 characters on 58 mm, 12 on 80 mm */
    t.number = "ABCD1234";
    buf_init(&out, 0);
    ck_assert_int_eq(escpos_build(b58, &t, &out, NULL), 0);
    buf_release(&out);
    t.number = "ABCD12345";
    expect_refused(b58, &t, ESCPOS_ENUMBER);
    buf_init(&out, 0);
    ck_assert_int_eq(escpos_build(b80, &t, &out, NULL), 0);
    buf_release(&out);
    t.number = "";
    expect_refused(b80, &t, ESCPOS_ENUMBER);
    t.number = "A 1";
    expect_refused(b80, &t, ESCPOS_ENUMBER);
    t.number = "A\x1B";
    expect_refused(b80, &t, ESCPOS_ENUMBER);
    t.number = NULL;
    expect_refused(b80, &t, EINVAL);

    escpos_free(b58);
    escpos_free(b80);
    escpos_free(nobar);
}
END_TEST

START_TEST(output_limit_all_or_nothing)
{
    clk_zone *zone = clk_zone_new("Asia/Shanghai");
    escpos_builder *b = builder(80, 6, NULL);
    escpos_ticket t;
    buf out;

    sample(&t, zone);
    buf_init(&out, 64); /* far less than the ticket */
    ck_assert_int_eq(buf_append(&out, "xy", 2), 0);
    ck_assert_int_eq(escpos_build(b, &t, &out, NULL), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    ck_assert_uint_eq(buf_rlen(&out), 2);
    ck_assert_int_eq(memcmp(buf_rdata(&out), "xy", 2), 0);
    buf_release(&out);
    escpos_free(b);
    clk_zone_free(zone);
}
END_TEST

struct template_case {
    const char *tmpl;
    const char *message; /* part of the error sentence */
};

static const struct template_case bad_templates[] = {
    {"", "empty directive at position 1"},
    {"number|offline||cut", "empty directive at position 3"},
    {"number|offline|logo|cut", "unknown directive \"logo\" at position 3"},
    {"number|offline|number|cut", "\"number\" repeated at position 3"},
    {"number|offline|cut|blank", "\"blank\" after cut at position 4"},
    {"number|offline", "\"cut\" missing"},
    {"offline|cut", "\"number\" missing"},
    {"number|cut", "\"offline\" missing"},
    {"number:2|offline|cut", "\"number\" takes no argument"},
    {"text|number|offline|cut", "\"text\" needs text after ':'"},
    {"title:|number|offline|cut", "\"title\" needs text after ':'"},
    {"feed:256|number|offline|cut", "\"feed\" needs a line count 0..255"},
    {"feed:x|number|offline|cut", "\"feed\" needs a line count 0..255"},
    {"feed:|number|offline|cut", "\"feed\" needs a line count 0..255"},
    {"Number|offline|cut", "unknown directive \"Number\""},
    {"blank|blank|blank|blank|blank|blank|blank|blank|blank|blank|blank|blank|blank|blank|"
     "blank|blank|blank|blank|blank|blank|blank|blank|blank|blank|blank|blank|blank|blank|"
     "blank|blank|number|offline|cut",
     "more than 32 directives"},
};

START_TEST(template_errors)
{
    const struct template_case *c = &bad_templates[_i];
    escpos_layout l = {80, 6, false, c->tmpl};
    char err[160];

    errno = 0;
    ck_assert_ptr_null(escpos_new(&l, err, sizeof(err)));
    ck_assert_int_eq(errno, ESCPOS_ETEMPLATE);
    ck_assert_msg(strstr(err, c->message) != NULL, "\"%s\": got \"%s\"", c->tmpl, err);
    /* no err buffer is fine too */
    ck_assert_ptr_null(escpos_new(&l, NULL, 0));
}
END_TEST

START_TEST(template_good_and_layout_errors)
{
    escpos_layout l = {80, 6, false, " number | offline |text:a b |feed|feed:0| cut "};
    escpos_builder *b = escpos_new(&l, NULL, 0);
    escpos_ticket t = {.number = "A1", .ahead = -1, .wait_min = -1};
    buf out;

    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(escpos_columns(b), 48);
    buf_init(&out, 0);
    ck_assert_int_eq(escpos_build(b, &t, &out, NULL), 0);
    /* spaces around directives trimmed; feed without count is 3 */
    ck_assert_uint_eq(buf_rlen(&out), 7 + 9 + 4 + 3 + 3 + 4);
    ck_assert_int_eq(memcmp(buf_rdata(&out) + 16, "a b\n\x1B\x64\x03\x1B\x64\x00", 10), 0);
    buf_release(&out);
    escpos_free(b);
    escpos_free(NULL);

    l.tmpl = NULL;
    l.paper_mm = 58;
    b = escpos_new(&l, NULL, 0);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(escpos_columns(b), 32);
    escpos_free(b);

    l.paper_mm = 76;
    ck_assert_ptr_null(escpos_new(&l, NULL, 0));
    ck_assert_int_eq(errno, ESCPOS_ELAYOUT);
    l.paper_mm = 80;
    l.qr_module = 0;
    ck_assert_ptr_null(escpos_new(&l, NULL, 0));
    ck_assert_int_eq(errno, ESCPOS_ELAYOUT);
    l.qr_module = 17;
    ck_assert_ptr_null(escpos_new(&l, NULL, 0));
    ck_assert_int_eq(errno, ESCPOS_ELAYOUT);
    ck_assert_ptr_null(escpos_new(NULL, NULL, 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_str_eq(escpos_strerror(ESCPOS_EQR), "QR payload is empty, too long for a model 2 "
                                                  "QR code or has control bytes");
    ck_assert_str_eq(escpos_strerror(ENOMEM), strerror(ENOMEM));
}
END_TEST

static Suite *escpos_suite(void)
{
    Suite *s = suite_create("escpos");
    TCase *tc = tcase_create("escpos");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, golden_80mm);
    tcase_add_test(tc, golden_58mm);
    tcase_add_test(tc, example_ticket_1_4);
    tcase_add_test(tc, gb18030_example);
    tcase_add_loop_test(tc, replaced_and_counted, 0,
                        sizeof(replace_cases) / sizeof(replace_cases[0]));
    tcase_add_test(tc, truncated_at_character_boundary);
    tcase_add_test(tc, random_text_is_safe);
    tcase_add_test(tc, offline_line);
    tcase_add_test(tc, kiosk_lines);
    tcase_add_test(tc, time_preformatted_or_zone);
    tcase_add_test(tc, qr_payload_bounds);
    tcase_add_test(tc, barcode_and_number_refused);
    tcase_add_test(tc, output_limit_all_or_nothing);
    tcase_add_loop_test(tc, template_errors, 0, sizeof(bad_templates) / sizeof(bad_templates[0]));
    tcase_add_test(tc, template_good_and_layout_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(escpos_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
