/*
 * test_printer_status — the ESC/POS status parser against devices.md 1.5
 * and 1.6: every documented bit of DLE EOT 1-4 (one table row each), the
 * typical answers, every byte with wrong fixed bits refused, ASB blocks,
 * merging the four answers, and the events between two states.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "escpos_status.h"

struct bit_case {
    int n;         /* DLE EOT n */
    uint8_t byte;  /* the answer */
    uint32_t want; /* flags that must hold */
};

/* One row per documented bit; 0x12 is the fixed part (bits 1 and 4). */
static const struct bit_case bits[] = {
    {1, 0x12, 0},
    {1, 0x12 | 0x04, ESCPOS_ST_DRAWER},
    {1, 0x12 | 0x08, ESCPOS_ST_OFFLINE},
    {1, 0x12 | 0x0c, ESCPOS_ST_DRAWER | ESCPOS_ST_OFFLINE},
    {2, 0x12, 0},
    {2, 0x12 | 0x04, ESCPOS_ST_COVER_OPEN},
    {2, 0x12 | 0x08, ESCPOS_ST_FEED_BUTTON},
    {2, 0x12 | 0x20, ESCPOS_ST_PAPER_STOP},
    {2, 0x12 | 0x40, ESCPOS_ST_ERROR},
    {2, 0x7e,
     ESCPOS_ST_COVER_OPEN | ESCPOS_ST_FEED_BUTTON | ESCPOS_ST_PAPER_STOP | ESCPOS_ST_ERROR},
    {3, 0x12, 0},
    {3, 0x12 | 0x04, ESCPOS_ST_RECOVERABLE},
    {3, 0x12 | 0x08, ESCPOS_ST_CUTTER},
    {3, 0x12 | 0x20, ESCPOS_ST_UNRECOVERABLE},
    {3, 0x12 | 0x40, ESCPOS_ST_AUTORECOVER},
    {4, 0x12, 0},
    {4, 0x12 | 0x04, ESCPOS_ST_PAPER_NEAR_END}, /* either sensor bit */
    {4, 0x12 | 0x08, ESCPOS_ST_PAPER_NEAR_END},
    {4, 0x1e, ESCPOS_ST_PAPER_NEAR_END}, /* python-escpos RT_MASK_LOWPAPER = 30 */
    {4, 0x12 | 0x20, ESCPOS_ST_PAPER_OUT},
    {4, 0x12 | 0x40, ESCPOS_ST_PAPER_OUT},
    {4, 0x72, ESCPOS_ST_PAPER_OUT}, /* RT_MASK_NOPAPER = 114 */
    {4, 0x7e, ESCPOS_ST_PAPER_NEAR_END | ESCPOS_ST_PAPER_OUT},
};

/* What each query reports, known after parsing whatever it answers. */
static uint32_t reported_by(int n)
{
    switch (n) {
    case 1:
        return ESCPOS_ST_DRAWER | ESCPOS_ST_OFFLINE;
    case 2:
        return ESCPOS_ST_COVER_OPEN | ESCPOS_ST_FEED_BUTTON | ESCPOS_ST_PAPER_STOP |
               ESCPOS_ST_ERROR;
    case 3:
        return ESCPOS_ST_RECOVERABLE | ESCPOS_ST_CUTTER | ESCPOS_ST_UNRECOVERABLE |
               ESCPOS_ST_AUTORECOVER;
    default:
        return ESCPOS_ST_PAPER_NEAR_END | ESCPOS_ST_PAPER_OUT;
    }
}

START_TEST(dle_eot_bits)
{
    const struct bit_case *c = &bits[_i];
    escpos_status s;

    ck_assert_int_eq(escpos_status_dle(c->n, c->byte, &s), 0);
    ck_assert_msg(s.flags == c->want, "n=%d byte %02x: flags %x, want %x", c->n, c->byte, s.flags,
                  c->want);
    ck_assert_uint_eq(s.known, reported_by(c->n));
}
END_TEST

/* Every byte whose fixed bits are wrong is refused, for every n; every
 * byte with the right ones is accepted. */
START_TEST(dle_eot_garbage)
{
    unsigned refused = 0;

    for (int n = 1; n <= 4; n++)
        for (int v = 0; v < 256; v++) {
            escpos_status s = {0xdead, 0xbeef};
            int rc = escpos_status_dle(n, (uint8_t)v, &s);

            if ((v & 0x93) == 0x12) {
                ck_assert_int_eq(rc, 0);
                ck_assert_uint_eq(s.flags & ~s.known, 0);
            } else {
                ck_assert_int_eq(rc, -1);
                ck_assert_int_eq(errno, ESCPOS_STATUS_EGARBAGE);
                ck_assert_uint_eq(s.known, 0xdead); /* untouched */
                refused++;
            }
        }
    ck_assert_uint_eq(refused, 4 * (256 - 16));
    /* the bytes a garbled link most likely gives */
    ck_assert_int_eq(escpos_status_dle(1, 0x00, &(escpos_status){0, 0}), -1);
    ck_assert_int_eq(escpos_status_dle(1, 0xff, &(escpos_status){0, 0}), -1);
    ck_assert_int_eq(escpos_status_dle(1, 0x11, &(escpos_status){0, 0}), -1); /* XON */
    ck_assert_int_eq(escpos_status_dle(1, 0x13, &(escpos_status){0, 0}), -1); /* XOFF */
    ck_assert_int_eq(escpos_status_dle(1, 0x10, &(escpos_status){0, 0}), -1); /* ASB byte 1 */
    ck_assert_int_eq(escpos_status_dle(0, 0x12, &(escpos_status){0, 0}), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(escpos_status_dle(5, 0x12, &(escpos_status){0, 0}), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(escpos_status_dle(1, 0x12, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_str_eq(escpos_status_strerror(ESCPOS_STATUS_EGARBAGE),
                     "status byte with wrong fixed bits");
}
END_TEST

struct asb_case {
    uint8_t b[4];
    uint32_t want;
};

static const struct asb_case asb_cases[] = {
    {{0x10, 0x00, 0x00, 0x00}, 0},
    {{0x18, 0x00, 0x00, 0x00}, ESCPOS_ST_OFFLINE},
    {{0x30, 0x00, 0x00, 0x00}, ESCPOS_ST_COVER_OPEN},
    {{0x50, 0x00, 0x00, 0x00}, ESCPOS_ST_FEED_BUTTON},
    {{0x10, 0x08, 0x00, 0x00}, ESCPOS_ST_CUTTER},
    {{0x10, 0x20, 0x00, 0x00}, ESCPOS_ST_UNRECOVERABLE},
    {{0x10, 0x40, 0x00, 0x00}, ESCPOS_ST_AUTORECOVER},
    {{0x10, 0x00, 0x01, 0x00}, ESCPOS_ST_PAPER_NEAR_END},
    {{0x10, 0x00, 0x03, 0x00}, ESCPOS_ST_PAPER_NEAR_END},
    {{0x10, 0x00, 0x04, 0x00}, ESCPOS_ST_PAPER_OUT},
    {{0x10, 0x00, 0x0f, 0x00}, ESCPOS_ST_PAPER_NEAR_END | ESCPOS_ST_PAPER_OUT},
    {{0x78, 0x68, 0x0f, 0x6f},
     ESCPOS_ST_OFFLINE | ESCPOS_ST_COVER_OPEN | ESCPOS_ST_FEED_BUTTON | ESCPOS_ST_CUTTER |
         ESCPOS_ST_UNRECOVERABLE | ESCPOS_ST_AUTORECOVER | ESCPOS_ST_PAPER_NEAR_END |
         ESCPOS_ST_PAPER_OUT},
};

START_TEST(asb_blocks)
{
    const struct asb_case *c = &asb_cases[_i];
    escpos_status s;

    ck_assert_int_eq(escpos_status_asb(c->b, 4, &s), 4);
    ck_assert_msg(s.flags == c->want, "flags %x, want %x", s.flags, c->want);
    ck_assert_uint_eq(s.flags & ~s.known, 0);
    ck_assert(escpos_status_ready(&s) == ((c->want & ESCPOS_ST_BLOCKING) == 0));
}
END_TEST

START_TEST(asb_garbage)
{
    const uint8_t ok[8] = {0x10, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff};
    escpos_status s;

    /* more bytes after the block are not read, fewer are refused */
    ck_assert_int_eq(escpos_status_asb(ok, sizeof(ok), &s), 4);
    for (size_t len = 0; len < 4; len++) {
        ck_assert_int_eq(escpos_status_asb(ok, len, &s), -1);
        ck_assert_int_eq(errno, ESCPOS_STATUS_ETRUNC);
    }
    for (int v = 0; v < 256; v++) {
        uint8_t b[4] = {(uint8_t)v, 0, 0, 0};
        int rc = escpos_status_asb(b, 4, &s);

        ck_assert_int_eq(rc, (v & 0x93) == 0x10 ? 4 : -1);
        for (int i = 1; i < 4; i++) {
            uint8_t c[4] = {0x10, 0, 0, 0};

            c[i] = (uint8_t)v;
            rc = escpos_status_asb(c, 4, &s);
            ck_assert_int_eq(rc, (v & 0x90) == 0 ? 4 : -1);
            if (rc < 0)
                ck_assert_int_eq(errno, ESCPOS_STATUS_EGARBAGE);
        }
    }
    /* a DLE EOT answer is not an ASB block */
    ck_assert_int_eq(escpos_status_asb((const uint8_t[]){0x12, 0, 0, 0}, 4, &s), -1);
    ck_assert_int_eq(escpos_status_asb(NULL, 4, &s), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* Parse and merge the four answers in order. */
static escpos_status poll4(uint8_t a1, uint8_t a2, uint8_t a3, uint8_t a4)
{
    const uint8_t ans[4] = {a1, a2, a3, a4};
    escpos_status all = {0, 0};

    for (int n = 1; n <= 4; n++) {
        escpos_status one;

        ck_assert_int_eq(escpos_status_dle(n, ans[n - 1], &one), 0);
        escpos_status_merge(&all, &one);
    }
    return all;
}

START_TEST(merge_four_answers)
{
    escpos_status s = poll4(0x12, 0x12, 0x12, 0x12), one;
    const uint32_t every = (1u << 12) - 1;

    ck_assert_uint_eq(s.known, every);
    ck_assert_uint_eq(s.flags, 0);
    ck_assert(escpos_status_ready(&s));

    s = poll4(0x1a, 0x56, 0x1a, 0x72); /* offline; cover, error; cutter; no paper */
    ck_assert_uint_eq(s.flags, ESCPOS_ST_OFFLINE | ESCPOS_ST_COVER_OPEN | ESCPOS_ST_ERROR |
                                   ESCPOS_ST_CUTTER | ESCPOS_ST_PAPER_OUT);
    ck_assert(!escpos_status_ready(&s));

    /* a newer answer replaces only what it reports */
    ck_assert_int_eq(escpos_status_dle(4, 0x12, &one), 0);
    escpos_status_merge(&s, &one);
    ck_assert_uint_eq(s.flags, ESCPOS_ST_OFFLINE | ESCPOS_ST_COVER_OPEN | ESCPOS_ST_ERROR |
                                   ESCPOS_ST_CUTTER);
    ck_assert_uint_eq(s.known, every);

    /* with only some answers in, the state is not ready even if all is well */
    s = (escpos_status){0, 0};
    ck_assert_int_eq(escpos_status_dle(1, 0x12, &one), 0);
    escpos_status_merge(&s, &one);
    ck_assert(!escpos_status_ready(&s));
    ck_assert_int_eq(escpos_status_dle(2, 0x12, &one), 0);
    escpos_status_merge(&s, &one);
    ck_assert(!escpos_status_ready(&s));
    ck_assert_int_eq(escpos_status_dle(4, 0x1e, &one), 0); /* near end does not block */
    escpos_status_merge(&s, &one);
    ck_assert(escpos_status_ready(&s));
}
END_TEST

struct event_case {
    uint8_t before[4], after[4];
    uint32_t events;
};

static const struct event_case events[] = {
    {{0x12, 0x12, 0x12, 0x12}, {0x12, 0x12, 0x12, 0x12}, 0},
    {{0x12, 0x12, 0x12, 0x12}, {0x1a, 0x12, 0x12, 0x12}, ESCPOS_EV_OFFLINE},
    {{0x1a, 0x12, 0x12, 0x12}, {0x12, 0x12, 0x12, 0x12}, ESCPOS_EV_ONLINE | ESCPOS_EV_RECOVERED},
    {{0x12, 0x12, 0x12, 0x12},
     {0x1a, 0x16, 0x12, 0x12},
     ESCPOS_EV_OFFLINE | ESCPOS_EV_COVER_OPENED},
    {{0x1a, 0x16, 0x12, 0x12},
     {0x12, 0x12, 0x12, 0x12},
     ESCPOS_EV_ONLINE | ESCPOS_EV_COVER_CLOSED | ESCPOS_EV_RECOVERED},
    {{0x12, 0x12, 0x12, 0x12}, {0x12, 0x12, 0x12, 0x1e}, ESCPOS_EV_PAPER_NEAR_END},
    /* near end going away is no event; staying is none either */
    {{0x12, 0x12, 0x12, 0x1e}, {0x12, 0x12, 0x12, 0x12}, 0},
    {{0x12, 0x12, 0x12, 0x1e}, {0x12, 0x12, 0x12, 0x1e}, 0},
    {{0x12, 0x12, 0x12, 0x1e}, {0x1a, 0x32, 0x12, 0x72}, ESCPOS_EV_OFFLINE | ESCPOS_EV_PAPER_OUT},
    /* printing stopped by paper end alone is paper out too */
    {{0x12, 0x12, 0x12, 0x12}, {0x12, 0x32, 0x12, 0x12}, ESCPOS_EV_PAPER_OUT},
    {{0x1a, 0x32, 0x12, 0x72},
     {0x12, 0x12, 0x12, 0x12},
     ESCPOS_EV_ONLINE | ESCPOS_EV_PAPER_LOADED | ESCPOS_EV_RECOVERED},
    /* paper loaded but the cover still open: not recovered */
    {{0x1a, 0x36, 0x12, 0x72}, {0x1a, 0x16, 0x12, 0x12}, ESCPOS_EV_PAPER_LOADED},
    {{0x12, 0x12, 0x12, 0x12}, {0x1a, 0x52, 0x1a, 0x12}, ESCPOS_EV_OFFLINE | ESCPOS_EV_ERROR},
    {{0x12, 0x12, 0x12, 0x12}, {0x12, 0x12, 0x32, 0x12}, ESCPOS_EV_ERROR},
    {{0x12, 0x12, 0x12, 0x12}, {0x12, 0x12, 0x52, 0x12}, ESCPOS_EV_ERROR},
    {{0x12, 0x12, 0x12, 0x12}, {0x12, 0x12, 0x16, 0x12}, ESCPOS_EV_ERROR},
    /* a second error while one holds is a new error */
    {{0x12, 0x12, 0x1a, 0x12}, {0x12, 0x12, 0x3a, 0x12}, ESCPOS_EV_ERROR},
    {{0x12, 0x12, 0x52, 0x12}, {0x12, 0x12, 0x12, 0x12}, ESCPOS_EV_RECOVERED},
    /* drawer and FEED button are not events */
    {{0x12, 0x12, 0x12, 0x12}, {0x16, 0x1a, 0x12, 0x12}, 0},
};

START_TEST(change_events)
{
    const struct event_case *c = &events[_i];
    escpos_status before = poll4(c->before[0], c->before[1], c->before[2], c->before[3]);
    escpos_status after = poll4(c->after[0], c->after[1], c->after[2], c->after[3]);
    uint32_t ev = escpos_status_events(&before, &after);

    ck_assert_msg(ev == c->events, "events %x, want %x", ev, c->events);
}
END_TEST

START_TEST(events_from_nothing)
{
    escpos_status none = {0, 0};
    escpos_status bad = poll4(0x1a, 0x12, 0x12, 0x72);
    escpos_status good = poll4(0x12, 0x12, 0x12, 0x12);

    /* the first poll: trouble shows as events, a healthy printer as none */
    ck_assert_uint_eq(escpos_status_events(&none, &bad), ESCPOS_EV_OFFLINE | ESCPOS_EV_PAPER_OUT);
    ck_assert_uint_eq(escpos_status_events(&none, &good), 0);
}
END_TEST

static Suite *status_suite(void)
{
    Suite *s = suite_create("escpos_status");
    TCase *tc = tcase_create("escpos_status");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, dle_eot_bits, 0, sizeof(bits) / sizeof(bits[0]));
    tcase_add_test(tc, dle_eot_garbage);
    tcase_add_loop_test(tc, asb_blocks, 0, sizeof(asb_cases) / sizeof(asb_cases[0]));
    tcase_add_test(tc, asb_garbage);
    tcase_add_test(tc, merge_four_answers);
    tcase_add_loop_test(tc, change_events, 0, sizeof(events) / sizeof(events[0]));
    tcase_add_test(tc, events_from_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(status_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
