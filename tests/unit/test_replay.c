/*
 * halld_replay — the kept answers for retried requests: found by (device,
 * request id) and nothing else, with the request's digest; replaced,
 * forgotten, pruned by age, intact through growth and deletions (checked
 * against a plain reference); bounded per device and in all, by count and
 * by bytes, the oldest answers dropped first (their ids and digests
 * staying), and a device told when it may not start another request.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

/* The store row each test keeps an answer with; on_drop checks it comes back. */
#define ROW_OF(id) ((uint64_t)(id) + 1000)

static const replay_limits roomy = {
    .device_answers = 1000000,
    .device_bytes = 1u << 30,
    .total_answers = 1000000,
    .total_bytes = 1u << 30,
    .device_entries = 1000000,
    .total_entries = 1000000,
};

static const uint8_t digest_a[REPLAY_DIGEST_LEN] = {1};
static const uint8_t digest_b[REPLAY_DIGEST_LEN] = {2};

/* The answer's bytes, NULL if there is none (dropped or unknown). */
static const uint8_t *answer(const replay *r, const char *device, uint64_t id, size_t *len)
{
    const uint8_t *reply = NULL;

    return replay_get(r, device, id, NULL, &reply, len) == REPLAY_ANSWER ? reply : NULL;
}

START_TEST(keyed_by_device_and_request)
{
    replay *r = replay_new(&roomy, NULL, NULL);
    const uint8_t *digest, *a;
    replay_stats st;
    size_t len;

    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(
        replay_put(r, "kiosk-01", 7, ROW_OF(7), 1000, digest_a, (const uint8_t *)"abc", 3), 0);
    ck_assert_int_eq(
        replay_put(r, "kiosk-02", 7, ROW_OF(7), 1000, NULL, (const uint8_t *)"xyz!", 4), 0);
    ck_assert_int_eq(replay_get(r, "kiosk-01", 7, &digest, &a, &len), REPLAY_ANSWER);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(a, "abc", 3) == 0);
    ck_assert_mem_eq(digest, digest_a, REPLAY_DIGEST_LEN);
    ck_assert_int_eq(replay_get(r, "kiosk-02", 7, &digest, &a, &len), REPLAY_ANSWER);
    ck_assert_uint_eq(len, 4);
    ck_assert_ptr_null(digest); /* none recorded */
    ck_assert_ptr_null(answer(r, "kiosk-01", 8, &len));
    ck_assert_ptr_null(answer(r, "kiosk-0", 7, &len));
    ck_assert_int_eq(replay_get(r, "kiosk-0", 7, NULL, &a, &len), REPLAY_NONE);
    /* Replacing keeps one entry. */
    ck_assert_int_eq(
        replay_put(r, "kiosk-01", 7, ROW_OF(7), 2000, digest_b, (const uint8_t *)"defg", 4), 0);
    replay_stats_of(r, NULL, &st);
    ck_assert_uint_eq(st.entries, 2);
    ck_assert_uint_eq(st.bytes, 8);
    a = answer(r, "kiosk-01", 7, &len);
    ck_assert(len == 4 && memcmp(a, "defg", 4) == 0);
    replay_forget(r, "kiosk-01", 7);
    ck_assert_ptr_null(answer(r, "kiosk-01", 7, &len));
    replay_stats_of(r, NULL, &st);
    ck_assert_uint_eq(st.entries, 1);
    replay_stats_of(r, "kiosk-01", &st);
    ck_assert_uint_eq(st.entries, 0);
    replay_free(r);
    replay_free(NULL);
}
END_TEST

/* Many entries, random forgets and prunes, against a reference array. */
START_TEST(growth_deletion_and_prune_match_reference)
{
    enum { N = 20000 };
    replay *r = replay_new(&roomy, NULL, NULL);
    static bool present[N];
    static int64_t at[N];
    char dev[32];
    size_t len;

    srand(42);
    for (int i = 0; i < N; i++) {
        snprintf(dev, sizeof dev, "dev-%d", i % 37);
        at[i] = rand() % 100000;
        uint8_t payload[8];
        memcpy(payload, &i, sizeof i);
        ck_assert_int_eq(replay_put(r, dev, (uint64_t)i, ROW_OF((uint64_t)i), at[i], NULL, payload,
                                    sizeof payload),
                         0);
        present[i] = true;
    }
    for (int k = 0; k < N / 3; k++) {
        int i = rand() % N;
        snprintf(dev, sizeof dev, "dev-%d", i % 37);
        replay_forget(r, dev, (uint64_t)i);
        present[i] = false;
    }
    size_t expect_dropped = 0;
    for (int i = 0; i < N; i++)
        if (present[i] && at[i] < 50000) {
            present[i] = false;
            expect_dropped++;
        }
    ck_assert_uint_eq(replay_prune(r, 50000), expect_dropped);
    size_t count = 0;
    for (int i = 0; i < N; i++) {
        snprintf(dev, sizeof dev, "dev-%d", i % 37);
        const uint8_t *a = answer(r, dev, (uint64_t)i, &len);
        ck_assert_msg((a != NULL) == present[i], "entry %d: %s", i, a ? "found" : "missing");
        if (a != NULL) {
            int v;
            memcpy(&v, a, sizeof v);
            ck_assert_int_eq(v, i);
            count++;
        }
    }
    replay_stats st;
    replay_stats_of(r, NULL, &st);
    ck_assert_uint_eq(st.entries, count);
    ck_assert_uint_eq(st.answers, count);
    ck_assert_uint_eq(st.bytes, count * 8);
    replay_free(r);
}
END_TEST

struct drops {
    char device[16][16];
    uint64_t id[16];
    int n;
};

static void on_drop(void *arg, const char *device, uint64_t request_id, uint64_t row)
{
    struct drops *d = arg;

    ck_assert_uint_eq(row, ROW_OF(request_id)); /* the row it was kept with */
    ck_assert_int_lt(d->n, 16);
    snprintf(d->device[d->n], sizeof d->device[0], "%s", device);
    d->id[d->n++] = request_id;
}

/* Past a device's answer count, its oldest answer goes (another device's
 * stay); the dropped entry keeps its digest; past the bytes, the same. */
START_TEST(device_caps_drop_oldest_answers)
{
    replay_limits lim = roomy;
    lim.device_answers = 3;
    lim.device_bytes = 100;
    struct drops d = {0};
    replay *r = replay_new(&lim, on_drop, &d);
    const uint8_t *digest, *reply;
    uint8_t ten[10] = {0}, big[85] = {0};
    replay_stats st;
    size_t len;

    ck_assert_int_eq(replay_put(r, "other", 1, ROW_OF(1), 9999, NULL, ten, sizeof ten), 0);
    for (uint64_t id = 1; id <= 3; id++)
        ck_assert_int_eq(replay_put(r, "kiosk", id, ROW_OF(id), 9999, digest_a, ten, sizeof ten),
                         0);
    ck_assert_int_eq(d.n, 0);
    ck_assert_int_eq(replay_put(r, "kiosk", 4, ROW_OF(4), 9999, digest_b, ten, sizeof ten), 0);
    ck_assert_int_eq(d.n, 1);
    ck_assert_str_eq(d.device[0], "kiosk");
    ck_assert_uint_eq(d.id[0], 1);
    ck_assert_int_eq(replay_get(r, "kiosk", 1, &digest, &reply, &len), REPLAY_DROPPED);
    ck_assert_mem_eq(digest, digest_a, REPLAY_DIGEST_LEN);
    ck_assert_int_eq(replay_get(r, "other", 1, NULL, &reply, &len), REPLAY_ANSWER);
    replay_stats_of(r, "kiosk", &st);
    ck_assert_uint_eq(st.entries, 4);
    ck_assert_uint_eq(st.answers, 3);
    ck_assert_uint_eq(st.bytes, 30);

    /* 85 bytes more pass 100: the two oldest answers (2, 3) go. */
    ck_assert_int_eq(replay_put(r, "kiosk", 5, ROW_OF(5), 9999, NULL, big, sizeof big), 0);
    ck_assert_int_eq(d.n, 3);
    ck_assert_uint_eq(d.id[1], 2);
    ck_assert_uint_eq(d.id[2], 3);
    replay_stats_of(r, "kiosk", &st);
    ck_assert_uint_eq(st.answers, 2);
    ck_assert_uint_eq(st.bytes, 95);
    /* One answer larger than the cap stays alone, never dropped itself. */
    uint8_t huge[200] = {0};
    ck_assert_int_eq(replay_put(r, "kiosk", 6, ROW_OF(6), 9999, NULL, huge, sizeof huge), 0);
    ck_assert_int_eq(replay_get(r, "kiosk", 6, NULL, &reply, &len), REPLAY_ANSWER);
    ck_assert_uint_eq(len, sizeof huge);
    replay_stats_of(r, "kiosk", &st);
    ck_assert_uint_eq(st.answers, 1);
    /* Dropped entries expire like answers. */
    ck_assert_uint_eq(replay_prune(r, 10000), 7);
    replay_stats_of(r, NULL, &st);
    ck_assert_uint_eq(st.entries, 0);
    ck_assert_uint_eq(st.bytes, 0);
    replay_free(r);
}
END_TEST

/* The totals drop the oldest answer of anyone; entries (answers and
 * dropped) are capped per device and in all, and a device past its cap is
 * told, while the others still have room. */
START_TEST(total_caps_and_room)
{
    replay_limits lim = roomy;
    lim.total_answers = 4;
    lim.device_entries = 6;
    lim.total_entries = 10;
    struct drops d = {0};
    replay *r = replay_new(&lim, on_drop, &d);
    uint8_t one = 1;
    replay_stats st;

    for (uint64_t id = 1; id <= 3; id++) {
        ck_assert_int_eq(replay_put(r, "a", id, ROW_OF(id), 9999, NULL, &one, 1), 0);
        ck_assert_int_eq(replay_put(r, "b", id, ROW_OF(id), 9999, NULL, &one, 1), 0);
    }
    /* Six answers past four: a1 and b1 dropped, oldest first. */
    ck_assert_int_eq(d.n, 2);
    ck_assert_str_eq(d.device[0], "a");
    ck_assert_str_eq(d.device[1], "b");
    replay_stats_of(r, NULL, &st);
    ck_assert_uint_eq(st.answers, 4);
    ck_assert_uint_eq(st.entries, 6);
    ck_assert(replay_has_room(r, "a"));
    for (uint64_t id = 4; id <= 6; id++)
        ck_assert_int_eq(replay_put(r, "a", id, ROW_OF(id), 9999, NULL, &one, 1), 0);
    ck_assert(!replay_has_room(r, "a")); /* 6 entries of a */
    ck_assert(replay_has_room(r, "b"));
    ck_assert(replay_has_room(r, "c"));
    ck_assert_int_eq(replay_put(r, "c", 1, ROW_OF(1), 9999, NULL, &one, 1), 0);
    ck_assert(!replay_has_room(r, "c")); /* 10 in all */
    ck_assert_uint_eq(replay_prune(r, 10000), 10);
    ck_assert(replay_has_room(r, "a"));

    /* Dropped entries loaded from the store count as entries. */
    ck_assert_int_eq(replay_put_dropped(r, "a", 99, 9999, digest_a), 0);
    const uint8_t *digest, *reply;
    size_t len;
    ck_assert_int_eq(replay_get(r, "a", 99, &digest, &reply, &len), REPLAY_DROPPED);
    ck_assert_mem_eq(digest, digest_a, REPLAY_DIGEST_LEN);
    replay_stats_of(r, "a", &st);
    ck_assert(st.entries == 1 && st.answers == 0);
    ck_assert_int_eq(replay_set_limits(r, &roomy), 0);
    replay_limits zero = roomy;
    zero.total_bytes = 0;
    ck_assert_int_eq(replay_set_limits(r, &zero), -1);
    ck_assert_ptr_null(replay_new(&zero, NULL, NULL));
    replay_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("halld_replay");
    TCase *tc = tcase_create("replay");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, keyed_by_device_and_request);
    tcase_add_test(tc, growth_deletion_and_prune_match_reference);
    tcase_add_test(tc, device_caps_drop_oldest_answers);
    tcase_add_test(tc, total_caps_and_room);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
