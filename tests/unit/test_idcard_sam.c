/*
 * test_idcard_sam — the SAM frames of devices.md 4.1-4.4: every command
 * frame byte for byte, the documented answers parsed, checksum and length
 * errors, resynchronisation after garbage and over frames split at every
 * byte, the shape check that tells a late answer from the right one, the
 * read-answer lengths, and a sentence for every status code.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sam.h"

/* hex string (spaces allowed) -> bytes; returns the count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;

    while (*hex != '\0') {
        unsigned v;

        if (*hex == ' ') {
            hex++;
            continue;
        }
        ck_assert_int_eq(sscanf(hex, "%2x", &v), 1);
        ck_assert_uint_lt(n, cap);
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

static void assert_command(enum sam_cmd cmd, const uint8_t *data, size_t dlen, const char *hex)
{
    uint8_t want[32], got[32];
    size_t wn = unhex(hex, want, sizeof want);
    size_t gn = sam_command(cmd, data, dlen, got, sizeof got);

    ck_assert_msg(gn == wn && memcmp(got, want, wn) == 0, "frame of %s differs from %s",
                  sam_cmd_name(cmd), hex);
}

START_TEST(golden_commands)
{
    static const uint8_t rf = 0x50;

    assert_command(SAM_CMD_RESET, NULL, 0, "AA AA AA 96 69 00 03 10 FF EC");
    assert_command(SAM_CMD_STATUS, NULL, 0, "AA AA AA 96 69 00 03 11 FF ED");
    assert_command(SAM_CMD_SAM_ID, NULL, 0, "AA AA AA 96 69 00 03 12 FF EE");
    assert_command(SAM_CMD_FIND, NULL, 0, "AA AA AA 96 69 00 03 20 01 22");
    assert_command(SAM_CMD_SELECT, NULL, 0, "AA AA AA 96 69 00 03 20 02 21");
    assert_command(SAM_CMD_READ, NULL, 0, "AA AA AA 96 69 00 03 30 01 32");
    assert_command(SAM_CMD_READ_FP, NULL, 0, "AA AA AA 96 69 00 03 30 10 23");
    assert_command(SAM_CMD_READ_ADDR, NULL, 0, "AA AA AA 96 69 00 03 30 03 30");
    assert_command(SAM_CMD_SET_RF, &rf, 1, "AA AA AA 96 69 00 04 61 FF 50 CA");
}
END_TEST

START_TEST(command_errors)
{
    uint8_t out[32], one = 1;

    errno = 0;
    ck_assert_uint_eq(sam_command(SAM_CMD_FIND, &one, 1, out, sizeof out), 0);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_uint_eq(sam_command(SAM_CMD_SET_RF, NULL, 0, out, sizeof out), 0);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_uint_eq(sam_command(SAM_CMD_FIND, NULL, 0, out, 9), 0);
    ck_assert_int_eq(errno, ENOBUFS);
    ck_assert_uint_eq(sam_frame(out, sizeof out, out, 0), 0);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* The answers of devices.md 4.4 (and the captured frames of 4 intro). */
START_TEST(golden_answers)
{
    static const struct {
        const char *hex;
        uint8_t sw3;
        size_t datalen;
    } answers[] = {
        {"AA AA AA 96 69 00 04 00 00 90 94", 0x90, 0},
        {"AA AA AA 96 69 00 04 00 00 60 64", 0x60, 0},
        {"AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97", 0x9F, 4},
        {"AA AA AA 96 69 00 04 00 00 80 84", 0x80, 0},
        {"AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C", 0x90, 8},
        {"AA AA AA 96 69 00 04 00 00 81 85", 0x81, 0},
        {"AA AA AA 96 69 00 04 00 00 41 45", 0x41, 0},
    };

    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        uint8_t buf[64], built[64];
        size_t n = unhex(answers[i].hex, buf, sizeof buf), used = 0, plen = 0, bn;
        const uint8_t *p = NULL;
        sam_reply r;

        ck_assert_int_eq(sam_scan(buf, n, &p, &plen, &used, NULL), SAM_SCAN_FRAME);
        ck_assert_uint_eq(used, n);
        ck_assert_int_eq(sam_reply_parse(p, plen, &r), 0);
        ck_assert_uint_eq(r.sw1, 0);
        ck_assert_uint_eq(r.sw2, 0);
        ck_assert_uint_eq(r.sw3, answers[i].sw3);
        ck_assert_uint_eq(r.datalen, answers[i].datalen);
        /* The builder gives the same bytes back. */
        bn = sam_response(r.sw3, r.data, r.datalen, built, sizeof built);
        ck_assert(bn == n && memcmp(built, buf, n) == 0);
    }
}
END_TEST

START_TEST(bad_checksum_and_length)
{
    uint8_t buf[64];
    size_t n = unhex("AA AA AA 96 69 00 04 00 00 90 95", buf, sizeof buf), used, skipped, plen;
    const uint8_t *p;

    ck_assert_int_eq(sam_scan(buf, n, &p, &plen, &used, &skipped), SAM_SCAN_BADCHK);
    ck_assert_uint_eq(used, 1);
    ck_assert_uint_eq(skipped, 0);
    /* Len 0 and Len over SAM_LEN_MAX. */
    n = unhex("AA AA AA 96 69 00 00 00", buf, sizeof buf);
    ck_assert_int_eq(sam_scan(buf, n, &p, &plen, &used, NULL), SAM_SCAN_BADLEN);
    ck_assert_uint_eq(used, 1);
    n = unhex("AA AA AA 96 69 FF FF 00", buf, sizeof buf);
    ck_assert_int_eq(sam_scan(buf, n, &p, &plen, &used, NULL), SAM_SCAN_BADLEN);
    /* A payload shorter than SW1 SW2 SW3 is not an answer. */
    n = unhex("AA AA AA 96 69 00 03 00 00 03", buf, sizeof buf);
    ck_assert_int_eq(sam_scan(buf, n, &p, &plen, &used, NULL), SAM_SCAN_FRAME);
    ck_assert_int_eq(sam_reply_parse(p, plen, &(sam_reply){0}), -1);
    ck_assert_int_eq(errno, EBADMSG);
}
END_TEST

/* Scan a stream to the end as the driver does; returns the frames found
 * and counts the checksum errors. */
static int scan_all(const uint8_t *in, size_t n, uint8_t sw3s[], int *badchk)
{
    uint8_t buf[512];
    size_t len = 0;
    int frames = 0;

    *badchk = 0;
    for (size_t i = 0; i < n; i++) {
        buf[len++] = in[i];
        for (;;) {
            const uint8_t *p;
            size_t plen, used;
            enum sam_scan sc = sam_scan(buf, len, &p, &plen, &used, NULL);
            sam_reply r;

            if (sc == SAM_SCAN_FRAME) {
                ck_assert_int_eq(sam_reply_parse(p, plen, &r), 0);
                sw3s[frames++] = r.sw3;
            } else if (sc == SAM_SCAN_BADCHK) {
                (*badchk)++;
            }
            memmove(buf, buf + used, len - used);
            len -= used;
            if (sc == SAM_SCAN_MORE)
                break;
        }
        ck_assert_uint_lt(len, sizeof buf);
    }
    return frames;
}

/* Garbage (with broken preambles in it) before, between and after two
 * answers, fed one byte at a time: both answers are found, in order. */
START_TEST(resync_after_garbage)
{
    uint8_t in[256], sw3s[8];
    size_t n = 0;
    int badchk;

    n += unhex("00 FF AA AA 12 AA AA AA 96 00 AA", in + n, sizeof in - n);
    n += unhex("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97", in + n, sizeof in - n);
    n += unhex("69 96 AA AA AA 96 69 00 04 00 00 90 95", in + n, sizeof in - n); /* bad CHK */
    n += unhex("AA AA AA 96 69 00 04 00 00 80 84", in + n, sizeof in - n);
    n += unhex("AA AA AA", in + n, sizeof in - n); /* a preamble cut short */
    ck_assert_int_eq(scan_all(in, n, sw3s, &badchk), 2);
    ck_assert_uint_eq(sw3s[0], 0x9F);
    ck_assert_uint_eq(sw3s[1], 0x80);
    ck_assert_int_eq(badchk, 1);
}
END_TEST

/* A frame split at every possible point is MORE until its last byte. */
START_TEST(partial_frames)
{
    uint8_t f[32];
    size_t n = unhex("AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C", f, sizeof f);

    for (size_t cut = 0; cut < n; cut++) {
        const uint8_t *p;
        size_t plen, used, skipped;

        ck_assert_int_eq(sam_scan(f, cut, &p, &plen, &used, &skipped), SAM_SCAN_MORE);
        ck_assert_uint_eq(used, 0);
        ck_assert_uint_eq(skipped, 0);
    }
}
END_TEST

START_TEST(reply_fits)
{
    static const uint8_t zeros[16];
    sam_reply r = {0, 0, SAM_SW_FOUND, zeros, 4};

    ck_assert(sam_reply_fits(SAM_CMD_FIND, &r));
    ck_assert(!sam_reply_fits(SAM_CMD_SELECT, &r)); /* a late find answer */
    r = (sam_reply){0, 0, SAM_SW_OK, zeros, 8};
    ck_assert(sam_reply_fits(SAM_CMD_SELECT, &r));
    ck_assert(!sam_reply_fits(SAM_CMD_FIND, &r));
    ck_assert(!sam_reply_fits(SAM_CMD_STATUS, &r));
    r = (sam_reply){0, 0, SAM_SW_NO_CARD, NULL, 0};
    ck_assert(sam_reply_fits(SAM_CMD_FIND, &r));
    ck_assert(!sam_reply_fits(SAM_CMD_READ, &r));
    r = (sam_reply){0, 0, SAM_SW_READ_FAILED, NULL, 0};
    ck_assert(sam_reply_fits(SAM_CMD_READ, &r));
    r = (sam_reply){0, 0, SAM_SW_OK, zeros, 3};
    ck_assert(!sam_reply_fits(SAM_CMD_READ, &r));
    r = (sam_reply){0, 0, SAM_SW_OK, zeros, 4};
    ck_assert(sam_reply_fits(SAM_CMD_READ, &r));
    ck_assert(!sam_reply_fits(SAM_CMD_READ_FP, &r));
}
END_TEST

/* The 1295-byte read answer of devices.md 4.4 and its split. */
START_TEST(read_answer)
{
    static uint8_t text[SAM_TEXT_LEN], photo[SAM_PHOTO_LEN], fp[SAM_FP_LEN];
    static uint8_t data[4096], frame[SAM_FRAME_MAX];
    sam_card_data in = {text, photo, fp, sizeof text, sizeof photo, sizeof fp}, out;
    size_t dn, fn, used, plen;
    const uint8_t *p;
    sam_reply r;

    memset(text, 0x20, sizeof text);
    memset(photo, 0x77, sizeof photo);
    memset(fp, 0x33, sizeof fp);
    dn = sam_card_data_build(&in, false, data, sizeof data);
    ck_assert_uint_eq(dn, 4 + 256 + 1024);
    fn = sam_response(SAM_SW_OK, data, dn, frame, sizeof frame);
    ck_assert_uint_eq(fn, 1295);
    ck_assert_uint_eq(frame[5], 0x05);
    ck_assert_uint_eq(frame[6], 0x08);
    ck_assert_uint_eq(frame[10], 0x01);
    ck_assert_uint_eq(frame[11], 0x00);
    ck_assert_uint_eq(frame[12], 0x04);
    ck_assert_uint_eq(frame[13], 0x00);
    ck_assert_int_eq(sam_scan(frame, fn, &p, &plen, &used, NULL), SAM_SCAN_FRAME);
    ck_assert_int_eq(sam_reply_parse(p, plen, &r), 0);
    ck_assert_int_eq(sam_card_data_parse(&r, false, &out), 0);
    ck_assert_ptr_eq(out.text, frame + 14);
    ck_assert_ptr_eq(out.photo, frame + 270);
    ck_assert_uint_eq(out.photolen, 1024);

    /* With fingerprints: Len 0x090A, text at 16. */
    dn = sam_card_data_build(&in, true, data, sizeof data);
    fn = sam_response(SAM_SW_OK, data, dn, frame, sizeof frame);
    ck_assert_uint_eq(fn, 2321);
    ck_assert_uint_eq(frame[5], 0x09);
    ck_assert_uint_eq(frame[6], 0x0A);
    ck_assert_int_eq(sam_scan(frame, fn, &p, &plen, &used, NULL), SAM_SCAN_FRAME);
    ck_assert_int_eq(sam_reply_parse(p, plen, &r), 0);
    ck_assert_int_eq(sam_card_data_parse(&r, true, &out), 0);
    ck_assert_ptr_eq(out.text, frame + 16);
    ck_assert_ptr_eq(out.fp, frame + 16 + 256 + 1024);

    /* Lengths that do not add up are refused, never read past. */
    r.datalen -= 1;
    ck_assert_int_eq(sam_card_data_parse(&r, true, &out), -1);
    ck_assert_int_eq(errno, EBADMSG);
    r.datalen = 5;
    ck_assert_int_eq(sam_card_data_parse(&r, true, &out), -1);
}
END_TEST

START_TEST(status_sentences)
{
    static const uint8_t codes[] = {0x90, 0x91, 0x9F, 0x10, 0x11, 0x21, 0x23, 0x24, 0x31, 0x32,
                                    0x33, 0x37, 0x3F, 0x40, 0x41, 0x47, 0x60, 0x66, 0x80, 0x81};

    for (size_t i = 0; i < sizeof codes; i++) {
        const char *s = sam_status_str(codes[i]);

        ck_assert_str_ne(s, "unknown status");
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(s, sam_status_str(codes[j]));
    }
    ck_assert_str_eq(sam_status_str(0x01), "unknown status");
    ck_assert_int_eq(sam_timeout_ms(SAM_CMD_READ), 3500);
    ck_assert_int_eq(sam_timeout_ms(SAM_CMD_FIND), 500);
}
END_TEST

static Suite *sam_suite(void)
{
    Suite *s = suite_create("idcard_sam");
    TCase *tc = tcase_create("frames");

    tcase_add_test(tc, golden_commands);
    tcase_add_test(tc, command_errors);
    tcase_add_test(tc, golden_answers);
    tcase_add_test(tc, bad_checksum_and_length);
    tcase_add_test(tc, resync_after_garbage);
    tcase_add_test(tc, partial_frames);
    tcase_add_test(tc, reply_fits);
    tcase_add_test(tc, read_answer);
    tcase_add_test(tc, status_sentences);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sam_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
