/*
 * halld_replay — the kept answers for retried requests: found by (device,
 * request id) and nothing else, replaced, forgotten, pruned by age, intact
 * through growth and deletions (checked against a plain reference).
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

START_TEST(keyed_by_device_and_request)
{
    replay *r = replay_new();
    size_t len;

    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(replay_put(r, "kiosk-01", 7, 1000, (const uint8_t *)"abc", 3), 0);
    ck_assert_int_eq(replay_put(r, "kiosk-02", 7, 1000, (const uint8_t *)"xyz!", 4), 0);
    const uint8_t *a = replay_get(r, "kiosk-01", 7, &len);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(a, "abc", 3) == 0);
    a = replay_get(r, "kiosk-02", 7, &len);
    ck_assert_uint_eq(len, 4);
    ck_assert_ptr_null(replay_get(r, "kiosk-01", 8, &len));
    ck_assert_ptr_null(replay_get(r, "kiosk-0", 7, &len));
    /* Replacing keeps one entry. */
    ck_assert_int_eq(replay_put(r, "kiosk-01", 7, 2000, (const uint8_t *)"defg", 4), 0);
    ck_assert_uint_eq(replay_count(r), 2);
    a = replay_get(r, "kiosk-01", 7, &len);
    ck_assert(len == 4 && memcmp(a, "defg", 4) == 0);
    replay_forget(r, "kiosk-01", 7);
    ck_assert_ptr_null(replay_get(r, "kiosk-01", 7, &len));
    ck_assert_uint_eq(replay_count(r), 1);
    replay_free(r);
    replay_free(NULL);
}
END_TEST

/* Many entries, random forgets and prunes, against a reference array. */
START_TEST(growth_deletion_and_prune_match_reference)
{
    enum { N = 20000 };
    replay *r = replay_new();
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
        ck_assert_int_eq(replay_put(r, dev, (uint64_t)i, at[i], payload, sizeof payload), 0);
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
        const uint8_t *a = replay_get(r, dev, (uint64_t)i, &len);
        ck_assert_msg((a != NULL) == present[i], "entry %d: %s", i, a ? "found" : "missing");
        if (a != NULL) {
            int v;
            memcpy(&v, a, sizeof v);
            ck_assert_int_eq(v, i);
            count++;
        }
    }
    ck_assert_uint_eq(replay_count(r), count);
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
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
