/*
 * test_buf — the growable buffer: append/consume, reserve/commit,
 * compaction of consumed space, the hard limit, and large growth checked
 * against a byte-stream model.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static uint64_t rng_state = 0x2545f4914f6cdd1du;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Byte i of an endless test stream. */
static uint8_t stream_byte(uint64_t i)
{
    return (uint8_t)(i * 131 + (i >> 8));
}

static void fill(uint8_t *p, uint64_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = stream_byte(from + i);
}

/* The unread bytes are exactly stream bytes [from, from + rlen). */
static void expect_stream(const buf *b, uint64_t from, size_t rlen)
{
    const uint8_t *p = buf_rdata(b);

    ck_assert_uint_eq(buf_rlen(b), rlen);
    for (size_t i = 0; i < rlen; i++)
        if (p[i] != stream_byte(from + i))
            ck_abort_msg("byte %zu of %zu (stream %llu) differs", i, rlen,
                         (unsigned long long)(from + i));
}

START_TEST(append_consume)
{
    buf b;

    buf_init(&b, 0);
    ck_assert_uint_eq(buf_rlen(&b), 0);
    ck_assert_int_eq(buf_append(&b, "hello", 5), 0);
    ck_assert_int_eq(buf_append(&b, ", world", 7), 0);
    ck_assert_int_eq(buf_append(&b, "ignored", 0), 0);
    ck_assert_uint_eq(buf_rlen(&b), 12);
    ck_assert_int_eq(memcmp(buf_rdata(&b), "hello, world", 12), 0);
    buf_consume(&b, 7);
    ck_assert_uint_eq(buf_rlen(&b), 5);
    ck_assert_int_eq(memcmp(buf_rdata(&b), "world", 5), 0);
    buf_consume(&b, 0);
    ck_assert_uint_eq(buf_rlen(&b), 5);
    buf_consume(&b, 5);
    ck_assert_uint_eq(buf_rlen(&b), 0);
    ck_assert_int_eq(buf_append(&b, "again", 5), 0);
    ck_assert_int_eq(memcmp(buf_rdata(&b), "again", 5), 0);
    buf_clear(&b);
    ck_assert_uint_eq(buf_rlen(&b), 0);
    buf_release(&b);
    ck_assert_uint_eq(buf_rlen(&b), 0);
    /* Reusable after release, and releasing twice is harmless. */
    ck_assert_int_eq(buf_append(&b, "x", 1), 0);
    ck_assert_uint_eq(buf_rlen(&b), 1);
    buf_release(&b);
    buf_release(&b);
}
END_TEST

START_TEST(reserve_commit)
{
    buf b;
    uint8_t *p;

    buf_init(&b, 0);
    p = buf_reserve(&b, 100);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_ge(buf_wspace(&b), 100);
    fill(p, 0, 100);
    buf_commit(&b, 40); /* fewer than reserved, as a short read() does */
    expect_stream(&b, 0, 40);
    p = buf_reserve(&b, 10);
    ck_assert_ptr_nonnull(p);
    fill(p, 40, 10);
    buf_commit(&b, 10);
    expect_stream(&b, 0, 50);
    buf_commit(&b, 0);
    expect_stream(&b, 0, 50);
    /* Reserving what is already there does not disturb the content. */
    ck_assert_ptr_nonnull(buf_reserve(&b, buf_wspace(&b)));
    expect_stream(&b, 0, 50);
    buf_release(&b);
}
END_TEST

/* Consumed space is reused by moving unread bytes down: the content
 * survives and the capacity does not grow when the unread bytes fit. */
START_TEST(compaction_keeps_bytes)
{
    buf b;
    size_t cap, half;
    uint64_t from = 0, to = 0;
    uint8_t *p;

    buf_init(&b, 0);
    ck_assert_ptr_nonnull(buf_reserve(&b, 1000));
    cap = b.cap;
    half = cap / 2;
    p = buf_reserve(&b, cap - 8);
    ck_assert_ptr_nonnull(p);
    fill(p, to, cap - 8);
    buf_commit(&b, cap - 8);
    to += cap - 8;
    buf_consume(&b, cap - 8 - half / 2);
    from += cap - 8 - half / 2;
    for (int round = 0; round < 20; round++) {
        size_t add = half;

        p = buf_reserve(&b, add);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(b.cap, cap);
        fill(p, to, add);
        buf_commit(&b, add);
        to += add;
        expect_stream(&b, from, (size_t)(to - from));
        buf_consume(&b, add);
        from += add;
        expect_stream(&b, from, (size_t)(to - from));
    }
    buf_release(&b);
}
END_TEST

START_TEST(limit_gives_enobufs)
{
    uint8_t data[200];
    buf b;

    fill(data, 0, sizeof data);
    buf_init(&b, 100);
    ck_assert_int_eq(buf_append(&b, data, 60), 0);
    errno = 0;
    ck_assert_int_eq(buf_append(&b, data + 60, 41), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    expect_stream(&b, 0, 60);
    ck_assert_int_eq(buf_append(&b, data + 60, 40), 0);
    expect_stream(&b, 0, 100);
    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, 1));
    ck_assert_int_eq(errno, ENOBUFS);
    errno = 0;
    ck_assert_int_eq(buf_append(&b, data, 1), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    expect_stream(&b, 0, 100);
    /* The limit is on unread bytes: consuming makes room again. */
    buf_consume(&b, 50);
    ck_assert_int_eq(buf_append(&b, data + 100, 50), 0);
    expect_stream(&b, 50, 100);
    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, SIZE_MAX));
    ck_assert_int_eq(errno, ENOBUFS);
    expect_stream(&b, 50, 100);
    buf_clear(&b);
    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, 101));
    ck_assert_int_eq(errno, ENOBUFS);
    ck_assert_ptr_nonnull(buf_reserve(&b, 100));
    buf_release(&b);
}
END_TEST

/* Without a limit an impossible request fails cleanly. */
START_TEST(huge_request_enomem)
{
    buf b;

    buf_init(&b, 0);
    ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, SIZE_MAX));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(buf_reserve(&b, SIZE_MAX / 2));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(buf_rlen(&b), 3);
    ck_assert_int_eq(memcmp(buf_rdata(&b), "abc", 3), 0);
    buf_release(&b);
}
END_TEST

START_TEST(large_growth)
{
    enum { BIG = 16 << 20 };
    uint8_t *src = malloc(BIG);
    uint64_t from = 0, to = 0;
    buf b;

    ck_assert_ptr_nonnull(src);
    fill(src, 0, BIG);
    buf_init(&b, 0);
    /* One byte at a time to 1 MiB, then one 16 MiB append. */
    for (; to < (1 << 20); to++)
        if (buf_append(&b, src + to, 1) != 0)
            ck_abort_msg("append byte %llu failed", (unsigned long long)to);
    expect_stream(&b, 0, 1 << 20);
    buf_clear(&b);
    ck_assert_int_eq(buf_append(&b, src, BIG), 0);
    expect_stream(&b, 0, BIG);
    buf_release(&b);

    /* Random appends, reserve/commit and consumes against the model. */
    buf_init(&b, 0);
    to = from = 0;
    for (int i = 0; i < 3000; i++) {
        size_t n = (size_t)(rng() % 70000);

        if (rng() % 2) {
            uint8_t *p = buf_reserve(&b, n);
            size_t used = n == 0 ? 0 : (size_t)(rng() % n);

            ck_assert_ptr_nonnull(p);
            ck_assert_uint_ge(buf_wspace(&b), n);
            fill(p, to, used);
            buf_commit(&b, used);
            to += used;
        } else {
            fill(src, to, n);
            ck_assert_int_eq(buf_append(&b, src, n), 0);
            to += n;
        }
        n = (size_t)(rng() % (to - from + 1));
        buf_consume(&b, n);
        from += n;
        if (i % 100 == 0)
            expect_stream(&b, from, (size_t)(to - from));
    }
    expect_stream(&b, from, (size_t)(to - from));
    buf_release(&b);
    free(src);
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buf");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, append_consume);
    tcase_add_test(tc, reserve_commit);
    tcase_add_test(tc, compaction_keeps_bytes);
    tcase_add_test(tc, limit_gives_enobufs);
    tcase_add_test(tc, huge_request_enomem);
    tcase_add_test(tc, large_growth);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(buf_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
