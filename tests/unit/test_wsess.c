/*
 * web_sessions — wsess.h: sessions (begin, find, idle and absolute
 * expiry, end, end every session of a user, the table full) and the
 * sign-in throttle (an account locked after failures in a row and opened
 * again, an address blocked, a success forgetting the failures, the
 * tables bounded), on explicit clocks.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "wsess.h"

static const wsess_limits limits = {
    .max_sessions = 4,
    .idle_ms = 1000,
    .max_ms = 5000,
    .account_failures = 3,
    .address_failures = 5,
    .lockout_ms = 10000,
};

START_TEST(sessions)
{
    wsess *w = wsess_new(&limits);
    char t1[WSESS_TOKEN_LEN + 1], t2[WSESS_TOKEN_LEN + 1];
    wsess_info a, b;

    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(wsess_begin(w, "alice", 7, 100, t1, &a), 0);
    ck_assert_int_eq(wsess_begin(w, "alice", 7, 100, t2, &b), 0);
    ck_assert_int_eq((int)strlen(t1), WSESS_TOKEN_LEN);
    ck_assert_str_ne(t1, t2);
    ck_assert_str_ne(a.csrf, b.csrf);
    ck_assert_str_ne(a.csrf, t1);
    ck_assert_int_eq(wsess_find(w, t1, 900, &a), WSESS_LIVE);
    ck_assert_str_eq(a.user, "alice");
    ck_assert_int_eq((int)a.epoch, 7);
    /* Touched at 900: still live at 1800, idle at 2900. */
    ck_assert_int_eq(wsess_find(w, t1, 1800, &a), WSESS_LIVE);
    ck_assert_int_eq(wsess_find(w, t2, 1800, &b), WSESS_IDLE);
    ck_assert_int_eq(wsess_find(w, t2, 1800, &b), WSESS_NONE); /* it ended */
    /* Busy all along, it still ends max_ms after its start. */
    for (int64_t t = 2500; t < 5100; t += 500)
        ck_assert_int_eq(wsess_find(w, t1, t, &a), WSESS_LIVE);
    ck_assert_int_eq(wsess_find(w, t1, 5100, &a), WSESS_EXPIRED);
    /* Wrong tokens: another length, one character off. */
    ck_assert_int_eq(wsess_begin(w, "bob", 0, 6000, t1, &a), 0);
    ck_assert_int_eq(wsess_find(w, "short", 6000, &a), WSESS_NONE);
    memcpy(t2, t1, sizeof t2);
    t2[10] = t2[10] == 'x' ? 'y' : 'x';
    ck_assert_int_eq(wsess_find(w, t2, 6000, &a), WSESS_NONE);
    ck_assert(wsess_end(w, t1));
    ck_assert(!wsess_end(w, t1));
    ck_assert_int_eq(wsess_find(w, t1, 6000, &a), WSESS_NONE);
    wsess_free(w);
    wsess_free(NULL);
}
END_TEST

START_TEST(end_user_and_full_table)
{
    wsess *w = wsess_new(&limits);
    char t[5][WSESS_TOKEN_LEN + 1];
    wsess_info i;

    ck_assert_int_eq(wsess_begin(w, "alice", 0, 100, t[0], &i), 0);
    ck_assert_int_eq(wsess_begin(w, "bob", 0, 200, t[1], &i), 0);
    ck_assert_int_eq(wsess_begin(w, "alice", 0, 300, t[2], &i), 0);
    ck_assert_int_eq(wsess_begin(w, "alice", 0, -1000, t[3], &i), 0); /* idle by 400 */
    ck_assert_int_eq(wsess_end_user(w, "alice", 400), 2);
    ck_assert_int_eq(wsess_find(w, t[3], 400, &i), WSESS_NONE);
    ck_assert_int_eq(wsess_find(w, t[0], 400, &i), WSESS_NONE);
    ck_assert_int_eq(wsess_find(w, t[1], 400, &i), WSESS_LIVE);
    ck_assert_int_eq((int)wsess_count(w), 1);
    /* Four places: a fifth session takes the place of the one idle longest. */
    ck_assert_int_eq(wsess_begin(w, "c", 0, 500, t[0], &i), 0);
    ck_assert_int_eq(wsess_begin(w, "d", 0, 600, t[2], &i), 0);
    ck_assert_int_eq(wsess_begin(w, "e", 0, 700, t[3], &i), 0);
    ck_assert_int_eq((int)wsess_count(w), 4);
    ck_assert_int_eq(wsess_begin(w, "f", 0, 800, t[4], &i), 0);
    ck_assert_int_eq((int)wsess_count(w), 4);
    ck_assert_int_eq(wsess_find(w, t[1], 800, &i), WSESS_NONE); /* bob, used at 400 */
    ck_assert_int_eq(wsess_find(w, t[0], 800, &i), WSESS_LIVE);
    ck_assert_int_eq(wsess_find(w, t[4], 800, &i), WSESS_LIVE);
    wsess_free(w);
}
END_TEST

START_TEST(throttle)
{
    wsess *w = wsess_new(&limits);
    int64_t until = 0;

    ck_assert_int_eq(wsess_gate_of(w, "alice", "10.0.0.1", 0, &until), WSESS_OPEN);
    ck_assert_int_eq(wsess_failed(w, "alice", "10.0.0.1", 0, &until), WSESS_OPEN);
    ck_assert_int_eq(wsess_failed(w, "alice", "10.0.0.1", 10, &until), WSESS_OPEN);
    /* A success forgets the failures in a row. */
    wsess_succeeded(w, "alice");
    ck_assert_int_eq(wsess_failed(w, "alice", "10.0.0.2", 20, &until), WSESS_OPEN);
    ck_assert_int_eq(wsess_failed(w, "alice", "10.0.0.2", 30, &until), WSESS_OPEN);
    ck_assert_int_eq(wsess_failed(w, "alice", "10.0.0.2", 40, &until), WSESS_ACCOUNT_LOCKED);
    ck_assert_int_eq((int)until, 10040);
    /* Locked from any address, and a success cannot unlock it. */
    wsess_succeeded(w, "alice");
    ck_assert_int_eq(wsess_gate_of(w, "alice", "10.0.0.9", 5000, &until), WSESS_ACCOUNT_LOCKED);
    ck_assert_int_eq(wsess_gate_of(w, "bob", "10.0.0.9", 5000, &until), WSESS_OPEN);
    ck_assert_int_eq(wsess_gate_of(w, "alice", "10.0.0.9", 10040, &until), WSESS_OPEN);
    /* Open again with its count started over. */
    ck_assert_int_eq(wsess_failed(w, "alice", "10.0.0.3", 10050, &until), WSESS_OPEN);

    /* An address: five failures within lockout_ms, whatever the names. */
    for (int i = 0; i < 4; i++) {
        char name[8] = {'u', (char)('0' + i), '\0'};
        ck_assert_int_eq(wsess_failed(w, name, "10.0.0.7", 20000 + i, &until), WSESS_OPEN);
    }
    ck_assert_int_eq(wsess_failed(w, "u9", "10.0.0.7", 20010, &until), WSESS_ADDRESS_BLOCKED);
    ck_assert_int_eq(wsess_gate_of(w, "nobody", "10.0.0.7", 25000, &until), WSESS_ADDRESS_BLOCKED);
    ck_assert_int_eq(wsess_gate_of(w, "nobody", "10.0.0.8", 25000, &until), WSESS_OPEN);
    /* Failures spread over more than lockout_ms block no address (the
     * name is another each time, so no account locks either). */
    for (int i = 0; i < 10; i++) {
        char other[8] = {'v', (char)('0' + i), '\0'};
        ck_assert_int_eq(wsess_failed(w, other, "10.0.1.1", 40000 + (int64_t)i * 3000, &until),
                         WSESS_OPEN);
    }
    wsess_free(w);
}
END_TEST

START_TEST(throttle_bounded)
{
    wsess *w = wsess_new(&limits);
    int64_t until = 0;
    char name[32], addr[32];

    /* Lock one account, then flood both tables with fresh names. */
    for (int i = 0; i < 3; i++)
        wsess_failed(w, "victim", "10.9.9.9", i, &until);
    ck_assert_int_eq(wsess_gate_of(w, "victim", "10.0.0.1", 10, &until), WSESS_ACCOUNT_LOCKED);
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof name, "n%d", i);
        snprintf(addr, sizeof addr, "10.%d.%d.1", i / 256, i % 256);
        wsess_failed(w, name, addr, 100 + i, &until);
    }
    /* The locked entry went last: it is still locked. */
    ck_assert_int_eq(wsess_gate_of(w, "victim", "10.0.0.1", 200, &until), WSESS_ACCOUNT_LOCKED);
    wsess_free(w);
}
END_TEST

START_TEST(bad_limits)
{
    wsess_limits l = limits;

    l.max_sessions = 0;
    ck_assert_ptr_null(wsess_new(&l));
    l = limits;
    l.lockout_ms = 0;
    ck_assert_ptr_null(wsess_new(&l));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("wsess");
    TCase *tc = tcase_create("wsess");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, sessions);
    tcase_add_test(tc, end_user_and_full_table);
    tcase_add_test(tc, throttle);
    tcase_add_test(tc, throttle_bounded);
    tcase_add_test(tc, bad_limits);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
