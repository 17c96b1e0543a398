/*
 * The bus register map (drivers/bus/busmap): CRC-16/MODBUS against the
 * frames of the Modbus specification, text into registers (GB18030, high
 * byte first, cut at whole characters), every block encoded and decoded,
 * the event FIFO and its sequence numbers (repeats, gaps, wrap-around,
 * restarts), the device list, and garbage register values fed to every
 * decoder.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busmap.h"

START_TEST(crc16_spec_frames)
{
    /* devices.md 5.2: an FC16 request and an exception reply, CRC low
     * byte first. */
    static const uint8_t fc16[] = {0x03, 0x10, 0x00, 0x10, 0x00, 0x04, 0x08, 0x41,
                                   0x30, 0x31, 0x32, 0x33, 0x00, 0x00, 0x00};
    static const uint8_t exc[] = {0x03, 0x83, 0x02};
    static const uint8_t read[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x01};

    ck_assert_uint_eq(busmap_crc16(fc16, sizeof fc16), 0xda32);
    ck_assert_uint_eq(busmap_crc16(exc, sizeof exc), 0x3161);
    ck_assert_uint_eq(busmap_crc16(read, sizeof read), 0x0a84);
    ck_assert_uint_eq(busmap_crc16(NULL, 0), 0xffff);
}
END_TEST

START_TEST(text_registers)
{
    uint16_t regs[4];
    uint8_t back[8];

    ck_assert_int_eq(busmap_text_to_regs((const uint8_t *)"A012", 4, regs, 4), 0);
    ck_assert_uint_eq(regs[0], 0x4130);
    ck_assert_uint_eq(regs[1], 0x3132);
    ck_assert_uint_eq(regs[2], 0);
    ck_assert_uint_eq(regs[3], 0);
    /* An odd length: the last byte high, 0x00 low. */
    ck_assert_int_eq(busmap_text_to_regs((const uint8_t *)"ABC", 3, regs, 4), 0);
    ck_assert_uint_eq(regs[1], 0x4300);
    ck_assert_int_eq(busmap_regs_to_text(regs, 4, 3, back), 0);
    ck_assert_mem_eq(back, "ABC", 3);
    ck_assert_int_eq(busmap_text_to_regs((const uint8_t *)"123456789", 9, regs, 4), -1);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_int_eq(busmap_regs_to_text(regs, 4, 9, back), -1);
    ck_assert_int_eq(errno, EBADMSG);
}
END_TEST

START_TEST(gb18030_text)
{
    uint8_t out[64];
    char back[128];

    /* devices.md 5.5: 21 bytes; 请 is C7 EB. */
    ck_assert_int_eq(busmap_gb18030("请A012号到3号窗口办理", out, sizeof out), 21);
    ck_assert_uint_eq(out[0], 0xc7);
    ck_assert_uint_eq(out[1], 0xeb);
    ck_assert_uint_eq(out[2], 'A');
    ck_assert_int_eq(busmap_utf8(out, 21, back, sizeof back), (int)strlen("请A012号到3号窗口办理"));
    ck_assert_str_eq(back, "请A012号到3号窗口办理");
    /* Cut at a whole character: 5 bytes of room hold two Hanzi, not 2.5. */
    ck_assert_int_eq(busmap_gb18030("请请请", out, 5), 4);
    ck_assert_int_eq(busmap_gb18030("请", out, 1), 0);
    /* A four-byte character (CJK Ext-B, rare in names). */
    ck_assert_int_eq(busmap_gb18030("\xf0\xa0\x80\x80", out, sizeof out), 4);
    ck_assert_mem_eq(out, "\x95\x32\x82\x36", 4);
    ck_assert_int_eq(busmap_utf8(out, 4, back, sizeof back), 4);
    ck_assert_str_eq(back, "\xf0\xa0\x80\x80");
    /* Invalid UTF-8, a surrogate, an overlong form, a control character:
     * one '?' per byte that is not part of a valid character. */
    ck_assert_int_eq(busmap_gb18030("a\xffz\xed\xa0\x80\xc0\xaf\n", out, sizeof out), 9);
    ck_assert_mem_eq(out, "a?z??????", 9);
    /* Invalid GB18030 and control bytes come back as '?'; output stops at
     * a whole character. */
    ck_assert_int_eq(busmap_utf8((const uint8_t *)"\xc7\x07x\x01", 4, back, sizeof back), 4);
    ck_assert_str_eq(back, "??x?");
    ck_assert_int_eq(busmap_utf8((const uint8_t *)"\xc7\xeb\xc7\xeb", 4, back, 4), 3);
    ck_assert_str_eq(back, "请");
}
END_TEST

START_TEST(mask_names)
{
    char out[64];

    busmap_mask_name("张三丰", out, sizeof out);
    ck_assert_str_eq(out, "张*丰");
    busmap_mask_name("张*丰", out, sizeof out);
    ck_assert_str_eq(out, "张*丰");
    busmap_mask_name("张三", out, sizeof out);
    ck_assert_str_eq(out, "张*");
    busmap_mask_name("欧阳娜娜", out, sizeof out);
    ck_assert_str_eq(out, "欧*娜");
    busmap_mask_name("张", out, sizeof out);
    ck_assert_str_eq(out, "张");
    busmap_mask_name("", out, sizeof out);
    ck_assert_str_eq(out, "");
    busmap_mask_name(NULL, out, sizeof out);
    ck_assert_str_eq(out, "");
    /* No room: nothing rather than half a name. */
    busmap_mask_name("张三丰", out, 5);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(window_block)
{
    busmap_window w = {.gen = 7, .window = 3, .blink_ms = 5000, .number = "A012"}, back;
    uint16_t regs[BUSMAP_WINDOW_REGS + 4];
    int len = busmap_gb18030("请A012号到3号窗口", w.text, sizeof w.text);

    ck_assert_int_gt(len, 0);
    w.text_len = (size_t)len;
    ck_assert_int_eq(busmap_window_encode(&w, regs), BUSMAP_WINDOW_REGS);
    ck_assert_uint_le(BUSMAP_WINDOW_REGS, 123);
    ck_assert_uint_eq(regs[0], 7);
    ck_assert_uint_eq(regs[3], 0x4130);
    ck_assert_int_eq(busmap_window_decode(regs, BUSMAP_WINDOW_REGS, &back), 0);
    ck_assert_str_eq(back.number, "A012");
    ck_assert_uint_eq(back.text_len, w.text_len);
    ck_assert_mem_eq(back.text, w.text, w.text_len);
    ck_assert_uint_eq(back.blink_ms, 5000);

    ck_assert_int_eq(busmap_window_decode(regs, BUSMAP_WINDOW_REGS - 1, &back), -1);
    ck_assert_int_eq(errno, EINVAL);
    regs[7] = BUSMAP_WINDOW_TEXT_MAX + 1;
    ck_assert_int_eq(busmap_window_decode(regs, BUSMAP_WINDOW_REGS, &back), -1);
    ck_assert_int_eq(errno, EBADMSG);
    regs[7] = 0;
    regs[4] = 0x31ff; /* not ASCII */
    ck_assert_int_eq(busmap_window_decode(regs, BUSMAP_WINDOW_REGS, &back), -1);
    regs[4] = 0x0031; /* a byte after the terminator */
    ck_assert_int_eq(busmap_window_decode(regs, BUSMAP_WINDOW_REGS, &back), -1);
    memcpy(w.number, "A\x01", 3);
    ck_assert_int_eq(busmap_window_encode(&w, regs), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(board_and_small_blocks)
{
    busmap_board b = {.gen = 2, .rows = BUSMAP_BOARD_ROWS}, bb;
    busmap_notice n = {.gen = 1, .scroll_ms = 200}, nn;
    busmap_callpad c = {.gen = 3, .waiting = 12, .number = "B007"}, cc;
    busmap_prompt p = {.id = 9, .timeout_s = 30, .number = "C100"}, pp;
    uint16_t regs[BUSMAP_BLOCK_MAX];
    int len;

    ck_assert_uint_le(BUSMAP_BOARD_REGS, 123);
    ck_assert_uint_le(BUSMAP_NOTICE_REGS, 123);
    for (int i = 0; i < BUSMAP_BOARD_ROWS; i++) {
        snprintf(b.row[i].number, sizeof b.row[i].number, "A%03d", i);
        b.row[i].window = (uint16_t)(i + 1);
        len = busmap_gb18030(i % 2 ? "张*丰" : "", b.row[i].name, BUSMAP_NAME_MAX);
        b.row[i].name_len = (size_t)len;
    }
    ck_assert_int_eq(busmap_board_encode(&b, regs), BUSMAP_BOARD_REGS);
    ck_assert_int_eq(busmap_board_decode(regs, BUSMAP_BOARD_REGS, &bb), 0);
    ck_assert_uint_eq(bb.rows, BUSMAP_BOARD_ROWS);
    for (int i = 0; i < BUSMAP_BOARD_ROWS; i++) {
        ck_assert_str_eq(bb.row[i].number, b.row[i].number);
        ck_assert_uint_eq(bb.row[i].window, b.row[i].window);
        ck_assert_uint_eq(bb.row[i].name_len, b.row[i].name_len);
        ck_assert_mem_eq(bb.row[i].name, b.row[i].name, b.row[i].name_len);
    }
    regs[1] = BUSMAP_BOARD_ROWS + 1;
    ck_assert_int_eq(busmap_board_decode(regs, BUSMAP_BOARD_REGS, &bb), -1);
    ck_assert_int_eq(errno, EBADMSG);
    regs[1] = 1;
    regs[2 + 5] = BUSMAP_NAME_MAX + 1;
    ck_assert_int_eq(busmap_board_decode(regs, BUSMAP_BOARD_REGS, &bb), -1);
    b.rows = BUSMAP_BOARD_ROWS + 1;
    ck_assert_int_eq(busmap_board_encode(&b, regs), -1);
    ck_assert_int_eq(errno, EINVAL);

    len = busmap_gb18030("今日业务办理至17:00，请留意窗口屏幕", n.text, sizeof n.text);
    n.text_len = (size_t)len;
    ck_assert_int_eq(busmap_notice_encode(&n, regs), BUSMAP_NOTICE_REGS);
    ck_assert_int_eq(busmap_notice_decode(regs, BUSMAP_NOTICE_REGS, &nn), 0);
    ck_assert_uint_eq(nn.text_len, n.text_len);
    ck_assert_mem_eq(nn.text, n.text, n.text_len);
    ck_assert_uint_eq(nn.scroll_ms, 200);
    regs[2] = BUSMAP_NOTICE_MAX + 1;
    ck_assert_int_eq(busmap_notice_decode(regs, BUSMAP_NOTICE_REGS, &nn), -1);

    ck_assert_int_eq(busmap_callpad_encode(&c, regs), BUSMAP_CALLPAD_REGS);
    ck_assert_int_eq(busmap_callpad_decode(regs, BUSMAP_CALLPAD_REGS, &cc), 0);
    ck_assert_str_eq(cc.number, "B007");
    ck_assert_uint_eq(cc.waiting, 12);
    ck_assert_int_eq(busmap_callpad_decode(regs, 2, &cc), -1);
    /* Marks and a Chinese line; bad marks and lengths refused both ways. */
    c.flags = BUSMAP_PAD_GREEN | BUSMAP_PAD_TRANSFERRED;
    len = busmap_gb18030("再按一次确认过号", c.text, sizeof c.text);
    ck_assert_int_eq(len, 16);
    c.text_len = (size_t)len;
    ck_assert_int_eq(busmap_callpad_encode(&c, regs), BUSMAP_CALLPAD_REGS);
    ck_assert_int_eq(busmap_callpad_decode(regs, BUSMAP_CALLPAD_REGS, &cc), 0);
    ck_assert_uint_eq(cc.flags, BUSMAP_PAD_GREEN | BUSMAP_PAD_TRANSFERRED);
    ck_assert_uint_eq(cc.text_len, 16);
    ck_assert_mem_eq(cc.text, c.text, 16);
    regs[6] = 0x0100;
    ck_assert_int_eq(busmap_callpad_decode(regs, BUSMAP_CALLPAD_REGS, &cc), -1);
    ck_assert_int_eq(errno, EBADMSG);
    regs[6] = 0;
    regs[7] = BUSMAP_PAD_TEXT_MAX + 1;
    ck_assert_int_eq(busmap_callpad_decode(regs, BUSMAP_CALLPAD_REGS, &cc), -1);
    c.flags = 0x8000;
    ck_assert_int_eq(busmap_callpad_encode(&c, regs), -1);
    c.flags = 0;
    c.text_len = BUSMAP_PAD_TEXT_MAX + 1;
    ck_assert_int_eq(busmap_callpad_encode(&c, regs), -1);

    /* The sign-in entry: digits only, within their lengths. */
    busmap_entry e = {.seq = 77, .clerk = "1001", .pin = "135790"}, ee;
    ck_assert_int_eq(busmap_entry_encode(&e, regs), BUSMAP_ENTRY_REGS);
    ck_assert_int_eq(busmap_entry_decode(regs, BUSMAP_ENTRY_REGS, &ee), 0);
    ck_assert_uint_eq(ee.seq, 77);
    ck_assert_str_eq(ee.clerk, "1001");
    ck_assert_str_eq(ee.pin, "135790");
    ck_assert_int_eq(busmap_entry_decode(regs, BUSMAP_ENTRY_REGS - 1, &ee), -1);
    ck_assert_int_eq(errno, EINVAL);
    regs[2] = ('1' << 8) | 'x';
    ck_assert_int_eq(busmap_entry_decode(regs, BUSMAP_ENTRY_REGS, &ee), -1);
    ck_assert_int_eq(errno, EBADMSG);
    ck_assert_int_eq(busmap_entry_encode(&e, regs), BUSMAP_ENTRY_REGS);
    regs[2 + BUSMAP_CLERK_MAX / 2] = BUSMAP_PIN_MAX + 1;
    ck_assert_int_eq(busmap_entry_decode(regs, BUSMAP_ENTRY_REGS, &ee), -1);
    busmap_entry bad = {.seq = 1, .clerk = "10a1", .pin = "1234"};
    ck_assert_int_eq(busmap_entry_encode(&bad, regs), -1);
    ck_assert_str_eq(busmap_key_name(BUS_KEY_SIGNIN), "signin");
    ck_assert_int_eq(busmap_key_parse("signout"), BUS_KEY_SIGNOUT);

    ck_assert_int_eq(busmap_prompt_encode(&p, regs), BUSMAP_PROMPT_REGS);
    ck_assert_int_eq(busmap_prompt_decode(regs, BUSMAP_PROMPT_REGS, &pp), 0);
    ck_assert_uint_eq(pp.id, 9);
    ck_assert_uint_eq(pp.timeout_s, 30);
    ck_assert_str_eq(pp.number, "C100");
}
END_TEST

START_TEST(sequence_compare)
{
    ck_assert(busmap_seq_after(2, 1));
    ck_assert(!busmap_seq_after(1, 2));
    ck_assert(!busmap_seq_after(5, 5));
    ck_assert(busmap_seq_after(0, 65535));
    ck_assert(busmap_seq_after(3, 65530));
    ck_assert(!busmap_seq_after(65530, 3));
    ck_assert(busmap_seq_after(32767, 0));
    ck_assert(!busmap_seq_after(32768, 0));
}
END_TEST

START_TEST(fifo_decode)
{
    uint16_t regs[] = {65534, 1, 0, 65535, 6, 4, 0, 2, 0, 1, 3, 0};
    bus_event ev[BUSMAP_FIFO_MAX];
    busmap_poll hdr;
    uint16_t head[] = {0x1234, BUSMAP_ST_OK, 4};

    ck_assert_int_eq(busmap_poll_decode(head, 3, &hdr), 0);
    ck_assert_uint_eq(hdr.count, 4);
    ck_assert_uint_eq(hdr.boot_id, 0x1234);
    /* Across the wrap, in order. */
    ck_assert_int_eq(busmap_fifo_decode(regs, 12, 4, ev), 0);
    ck_assert_uint_eq(ev[0].seq, 65534);
    ck_assert_uint_eq(ev[1].code, BUS_KEY_TRANSFER);
    ck_assert_uint_eq(ev[1].arg, 4);
    ck_assert_uint_eq(ev[3].seq, 1);
    /* Too few registers, too many events, out of order, a zero code. */
    ck_assert_int_eq(busmap_fifo_decode(regs, 11, 4, ev), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(busmap_fifo_decode(regs, 12, BUSMAP_FIFO_MAX + 1, ev), -1);
    regs[3] = 65534;
    ck_assert_int_eq(busmap_fifo_decode(regs, 12, 4, ev), -1);
    ck_assert_int_eq(errno, EBADMSG);
    regs[3] = 65535;
    regs[7] = 0;
    ck_assert_int_eq(busmap_fifo_decode(regs, 12, 4, ev), -1);
    ck_assert_int_eq(errno, EBADMSG);
    /* Headers: count over the FIFO, boot id 0 (never sent). */
    head[2] = BUSMAP_FIFO_MAX + 1;
    ck_assert_int_eq(busmap_poll_decode(head, 3, &hdr), -1);
    ck_assert_int_eq(errno, EBADMSG);
    head[2] = 0;
    head[0] = 0;
    ck_assert_int_eq(busmap_poll_decode(head, 3, &hdr), -1);
    ck_assert_int_eq(busmap_poll_decode(head, 2, &hdr), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(sequence_exactly_once)
{
    busmap_seq s = {0};
    bus_event a[] = {{10, 1, 0}, {11, 2, 0}, {12, 6, 3}}, fresh[BUSMAP_FIFO_MAX];
    bus_event b[] = {{12, 6, 3}, {13, 1, 0}};
    bus_event w[] = {{65535, 1, 0}, {0, 2, 0}, {1, 3, 0}};
    bus_event r[] = {{1, 5, 0}};

    /* First poll: everything the device holds is new. */
    ck_assert_uint_eq(busmap_seq_accept(&s, 77, a, 3, fresh), 3);
    ck_assert_uint_eq(fresh[2].seq, 12);
    /* The same poll again (the acknowledgement was lost): nothing. */
    ck_assert_uint_eq(busmap_seq_accept(&s, 77, a, 3, fresh), 0);
    /* Overlap: only the new one. */
    ck_assert_uint_eq(busmap_seq_accept(&s, 77, b, 2, fresh), 1);
    ck_assert_uint_eq(fresh[0].seq, 13);
    /* A gap (events acknowledged by an earlier master) is fine. */
    s.last = 65534;
    ck_assert_uint_eq(busmap_seq_accept(&s, 77, w, 3, fresh), 3);
    ck_assert_uint_eq(fresh[1].seq, 0);
    ck_assert_uint_eq(busmap_seq_accept(&s, 77, w + 1, 2, fresh), 0);
    ck_assert_uint_eq(s.last, 1);
    /* Seq 1 again after a restart (new boot id) is a new press. */
    ck_assert_uint_eq(busmap_seq_accept(&s, 77, r, 1, fresh), 0);
    ck_assert_uint_eq(busmap_seq_accept(&s, 78, r, 1, fresh), 1);
    ck_assert_uint_eq(busmap_seq_accept(&s, 78, r, 1, fresh), 0);
}
END_TEST

START_TEST(device_list)
{
    bus_device d[4];
    char err[256];

    ck_assert_int_eq(
        busmap_parse_devices("1:board,11:window:1,41:callpad:1,71:rating:1", d, 4, err, sizeof err),
        4);
    ck_assert_int_eq(d[0].kind, BUS_KIND_BOARD);
    ck_assert_int_eq(d[1].addr, 11);
    ck_assert_int_eq(d[1].window, 1);
    ck_assert_int_eq(d[3].kind, BUS_KIND_RATING);
    ck_assert_int_eq(busmap_parse_devices("", d, 4, err, sizeof err), 0);
    static const char *const bad[] = {"0:board",
                                      "248:board",
                                      "1:lamp",
                                      "1:window",
                                      "1:window:0",
                                      "1:window:x",
                                      "1:board,1:board",
                                      "1:window:1:2",
                                      "1",
                                      "1:board,2:board,3:board,4:board,5:board"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(busmap_parse_devices(bad[i], d, 4, err, sizeof err) == -1, "%s", bad[i]);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_msg(err[0] != '\0', "no reason for %s", bad[i]);
    }
    for (int k = 1; k <= BUS_KEY_MAX; k++)
        ck_assert_int_eq(busmap_key_parse(busmap_key_name(k)), k);
    ck_assert_int_eq(busmap_key_parse("jump"), 0);
    ck_assert_ptr_null(busmap_key_name(0));
    ck_assert_int_eq(busmap_kind_parse(busmap_kind_name(BUS_KIND_CALLPAD)), BUS_KIND_CALLPAD);
    ck_assert_ptr_null(busmap_kind_name(BUS_KIND_NONE));
}
END_TEST

/* Registers no device of the map would send: every decoder refuses them or
 * returns something within its bounds, and the FIFO never delivers an
 * event twice or out of order. Deterministic (a fixed LCG), so a failure
 * repeats. */
START_TEST(garbage_registers)
{
    uint32_t x = 12345;
    busmap_seq s = {0};

    for (int round = 0; round < 20000; round++) {
        uint16_t regs[BUSMAP_BLOCK_MAX];
        bus_event ev[BUSMAP_FIFO_MAX], fresh[BUSMAP_FIFO_MAX];
        busmap_window w;
        busmap_board b;
        busmap_notice n;
        busmap_poll h;
        busmap_callpad c;
        busmap_entry e;
        size_t count, k;
        uint16_t before = s.last;
        bool known = s.known;
        uint16_t boot = s.boot_id;
        char text[512];
        uint8_t bytes[2 * BUSMAP_BLOCK_MAX];

        for (size_t i = 0; i < BUSMAP_BLOCK_MAX; i++) {
            x = x * 1103515245u + 12345u;
            /* Mostly small values, so lengths and counts are sometimes valid. */
            regs[i] = (uint16_t)(round % 3 == 0 ? x >> 16 : (x >> 16) % 16);
        }
        if (busmap_window_decode(regs, BUSMAP_WINDOW_REGS, &w) == 0)
            ck_assert_uint_le(w.text_len, BUSMAP_WINDOW_TEXT_MAX);
        else
            ck_assert_int_eq(errno, EBADMSG);
        if (busmap_board_decode(regs, BUSMAP_BOARD_REGS, &b) == 0)
            ck_assert_uint_le(b.rows, BUSMAP_BOARD_ROWS);
        if (busmap_callpad_decode(regs, BUSMAP_CALLPAD_REGS, &c) == 0) {
            ck_assert_uint_le(c.text_len, BUSMAP_PAD_TEXT_MAX);
            ck_assert_uint_eq(c.flags & ~BUSMAP_PAD_FLAGS, 0);
        }
        if (busmap_entry_decode(regs, BUSMAP_ENTRY_REGS, &e) == 0) {
            ck_assert_uint_le(strlen(e.clerk), BUSMAP_CLERK_MAX);
            ck_assert_uint_le(strlen(e.pin), BUSMAP_PIN_MAX);
            for (const char *d = e.pin; *d; d++)
                ck_assert(*d >= '0' && *d <= '9');
        }
        if (busmap_notice_decode(regs, BUSMAP_NOTICE_REGS, &n) == 0) {
            ck_assert_uint_le(n.text_len, BUSMAP_NOTICE_MAX);
            ck_assert_int_ge(busmap_utf8(n.text, n.text_len, text, sizeof text), 0);
        }
        busmap_regs_to_text(regs, BUSMAP_BLOCK_MAX, sizeof bytes, bytes);
        ck_assert_int_ge(busmap_utf8(bytes, sizeof bytes, text, sizeof text), 0);
        ck_assert_uint_lt(strlen(text), sizeof text);
        if (busmap_poll_decode(regs, 3, &h) < 0)
            continue;
        count = h.count;
        if (busmap_fifo_decode(regs + 3, BUSMAP_BLOCK_MAX - 3, count, ev) < 0)
            continue;
        k = busmap_seq_accept(&s, h.boot_id, ev, count, fresh);
        for (size_t i = 0; i < k; i++) {
            if (i > 0)
                ck_assert(busmap_seq_after(fresh[i].seq, fresh[i - 1].seq));
            else if (known && boot == h.boot_id)
                ck_assert(busmap_seq_after(fresh[0].seq, before));
        }
    }
}
END_TEST

static Suite *busmap_suite(void)
{
    Suite *s = suite_create("busmap");
    TCase *tc = tcase_create("map");

    tcase_add_test(tc, crc16_spec_frames);
    tcase_add_test(tc, text_registers);
    tcase_add_test(tc, gb18030_text);
    tcase_add_test(tc, mask_names);
    tcase_add_test(tc, window_block);
    tcase_add_test(tc, board_and_small_blocks);
    tcase_add_test(tc, sequence_compare);
    tcase_add_test(tc, fifo_decode);
    tcase_add_test(tc, sequence_exactly_once);
    tcase_add_test(tc, device_list);
    tcase_add_test(tc, garbage_registers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(busmap_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
