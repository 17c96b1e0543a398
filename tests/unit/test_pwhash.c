/*
 * test_pwhash — password hashes (common/pwhash): made and verified back, a
 * wrong password refused, two hashes of one password told apart by their
 * salt; a hash of RFC 7914's scrypt test vector (written by another
 * implementation) verifies; malformed and out-of-bounds strings refused
 * with EINVAL before any scrypt runs (cut, bad base64, non-canonical
 * base64, costs past their bounds, missing and extra fields); empty and
 * over-long passwords refused. Cheap hashes (ln 10) where speed matters,
 * the real cost once.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pwhash.h"

/* RFC 7914 section 12: scrypt("pleaseletmein", "SodiumChloride", N = 16384,
 * r = 8, p = 1, 64 bytes), as a PHC string (made with Python's hashlib). */
static const char rfc7914[] = "$scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU$"
                              "cCO9yzr9c0hGHAbNgf046/2o+7qQT44+qbVD9lRdofLVQylVYT8Pz2"
                              "LUlwUkKpr55h6F3A1lHkDfzwF7RVdYhw";

/* A good cheap hash to cut and change. */
#define CHEAP_SALT "c2FsdHNhbHRzYWx0c2FsdA" /* 16 bytes */

static void assert_malformed(const char *encoded)
{
    errno = 0;
    ck_assert_msg(pwhash_verify("password", encoded) == -1, "accepted: %s", encoded);
    ck_assert_msg(errno == EINVAL, "%s: errno %d", encoded, errno);
}

START_TEST(test_round_trip)
{
    char h[PWHASH_MAX];

    ck_assert_int_eq(pwhash_make_cost("correct horse", 10, h, sizeof h), 0);
    ck_assert_msg(strncmp(h, "$scrypt$ln=10,r=8,p=1$", 22) == 0, "%s", h);
    /* 16-byte salt (22 characters) and 32-byte key (43), no padding. */
    ck_assert_uint_eq(strlen(h), 22 + 22 + 1 + 43);
    ck_assert_ptr_null(strchr(h + 22, '='));
    ck_assert_int_eq(pwhash_verify("correct horse", h), 1);
    ck_assert_int_eq(pwhash_verify("correct horsf", h), 0);
    ck_assert_int_eq(pwhash_verify("correct horse ", h), 0);
    ck_assert_int_eq(pwhash_verify("Correct horse", h), 0);
    /* UTF-8 as typed, and the longest password. */
    char longest[PWHASH_PASSWORD_MAX + 1];
    memset(longest, 'x', PWHASH_PASSWORD_MAX);
    longest[PWHASH_PASSWORD_MAX] = '\0';
    ck_assert_int_eq(pwhash_make_cost(longest, 10, h, sizeof h), 0);
    ck_assert_int_eq(pwhash_verify(longest, h), 1);
    longest[PWHASH_PASSWORD_MAX - 1] = 'y';
    ck_assert_int_eq(pwhash_verify(longest, h), 0);
    ck_assert_int_eq(pwhash_make_cost("密码是一二三四", 10, h, sizeof h), 0);
    ck_assert_int_eq(pwhash_verify("密码是一二三四", h), 1);
    ck_assert_int_eq(pwhash_verify("密码是一二三五", h), 0);
}
END_TEST

START_TEST(test_real_cost)
{
    char h[PWHASH_MAX];

    ck_assert_int_eq(pwhash_make("s3cret-Passw0rd", h, sizeof h), 0);
    ck_assert_msg(strncmp(h, "$scrypt$ln=15,r=8,p=1$", 22) == 0, "%s", h);
    ck_assert_int_eq(pwhash_verify("s3cret-Passw0rd", h), 1);
    ck_assert_int_eq(pwhash_verify("s3cret-Passw0rD", h), 0);
}
END_TEST

START_TEST(test_salted)
{
    char a[PWHASH_MAX], b[PWHASH_MAX];

    ck_assert_int_eq(pwhash_make_cost("same password", 10, a, sizeof a), 0);
    ck_assert_int_eq(pwhash_make_cost("same password", 10, b, sizeof b), 0);
    ck_assert_str_ne(a, b);
    /* The salts differ, and so do the keys. */
    ck_assert(strncmp(a, b, 22 + 22) != 0);
    ck_assert_str_ne(strrchr(a, '$'), strrchr(b, '$'));
    ck_assert_int_eq(pwhash_verify("same password", a), 1);
    ck_assert_int_eq(pwhash_verify("same password", b), 1);
}
END_TEST

START_TEST(test_standard_vector)
{
    ck_assert_int_eq(pwhash_verify("pleaseletmein", rfc7914), 1);
    ck_assert_int_eq(pwhash_verify("pleaseletmeout", rfc7914), 0);
}
END_TEST

START_TEST(test_malformed)
{
    char h[PWHASH_MAX], cut[PWHASH_MAX];

    ck_assert_int_eq(pwhash_make_cost("password", 10, h, sizeof h), 0);
    ck_assert_int_eq(pwhash_verify("password", h), 1);
    /* Every cut of a good string is refused, but for the cuts of the key
     * that still decode to 16 bytes or more: scrypt's shorter output is
     * the start of its longer one, so such a cut is a hash of the same
     * password with a shorter key. */
    for (size_t n = 0; n < strlen(h); n++) {
        snprintf(cut, sizeof cut, "%.*s", (int)n, h);
        errno = 0;
        int rc = pwhash_verify("password", cut);
        if (n < strlen(h) - 21) /* the key is less than 16 bytes */
            ck_assert_msg(rc == -1 && errno == EINVAL, "cut at %zu accepted: %s", n, cut);
        else
            ck_assert_msg((rc == -1 && errno == EINVAL) || rc == 1, "cut at %zu: %d", n, rc);
    }

    const char *key = strrchr(h, '$') + 1;
    char bad[PWHASH_MAX * 2];
#define WITH(fmt, ...) (snprintf(bad, sizeof bad, fmt, __VA_ARGS__), bad)
    /* Trailing garbage, and fields missing or extra. */
    assert_malformed(WITH("%s$", h));
    assert_malformed(WITH("%s ", h));
    assert_malformed(WITH("%s\n", h));
    assert_malformed(WITH("%s$%s", h, key));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,r=8$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$r=8,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1,x=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$p=1,r=8,ln=10$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$" CHEAP_SALT "$%s", ""));
    assert_malformed(WITH(" %s", h));
    assert_malformed(WITH("$argon2id$v=19$m=65536,t=3,p=4$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$SCRYPT$ln=10,r=8,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed("");
    assert_malformed("$scrypt$");
    assert_malformed(NULL);
    /* Costs out of bounds, or spelled twice. */
    assert_malformed(WITH("$scrypt$ln=40,r=8,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=9,r=8,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=21,r=8,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,r=0,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,r=17,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=0$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=5$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=010,r=8,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=+10,r=8,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=-10,r=8,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=1e1,r=8,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=99999999999999999999,r=8,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln= 10,r=8,p=1$" CHEAP_SALT "$%s", key));
    assert_malformed(WITH("$scrypt$ln=,r=8,p=1$" CHEAP_SALT "$%s", key));
    /* Within each bound but 2 GiB together: more than ln 20 with r 8. */
    assert_malformed(WITH("$scrypt$ln=20,r=16,p=1$" CHEAP_SALT "$%s", key));
    /* Bad base64: another alphabet, padding, an impossible length, bits
     * left over (a second spelling of the same bytes), too short, too
     * long. */
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2Fsd-_$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$" CHEAP_SALT "==$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$" CHEAP_SALT "$%s=", key));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$" CHEAP_SALT "AAA$%s", key)); /* 4k + 1 */
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdB$%s", key));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$c2FsdHNhbA$%s", key)); /* 7 bytes */
    char big[100];
    memset(big, 'A', 88); /* 66 bytes */
    big[88] = '\0';
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$%s$%s", big, key));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$" CHEAP_SALT "$%s", big));
    assert_malformed(WITH("$scrypt$ln=10,r=8,p=1$" CHEAP_SALT "$%.20s", key)); /* 15 bytes */
    /* Longer than any hash. */
    char huge[4096];
    memset(huge, 'A', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    memcpy(huge, "$scrypt$ln=10,r=8,p=1$", 22);
    assert_malformed(huge);
    /* The limits themselves are accepted (well formed, no match). */
    ck_assert_int_eq(pwhash_verify("password", WITH("$scrypt$ln=10,r=16,p=4$c2FsdHNhbHQ$%s", key)),
                     0);
#undef WITH
}
END_TEST

START_TEST(test_refused)
{
    char h[PWHASH_MAX], over[PWHASH_PASSWORD_MAX + 2];

    memset(over, 'x', PWHASH_PASSWORD_MAX + 1);
    over[PWHASH_PASSWORD_MAX + 1] = '\0';
    errno = 0;
    ck_assert_int_eq(pwhash_make_cost("", 10, h, sizeof h), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pwhash_make_cost(over, 10, h, sizeof h), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pwhash_make(NULL, h, sizeof h), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pwhash_make_cost("password", 9, h, sizeof h), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pwhash_make_cost("password", 21, h, sizeof h), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* Too small a buffer: ENOSPC and "". */
    char small[88];
    errno = 0;
    ck_assert_int_eq(pwhash_make_cost("password", 10, small, sizeof small), -1);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_str_eq(small, "");
    char exact[89];
    ck_assert_int_eq(pwhash_make_cost("password", 10, exact, sizeof exact), 0);

    /* An empty or over-long password is never one. */
    ck_assert_int_eq(pwhash_make_cost("x", 10, h, sizeof h), 0);
    ck_assert_int_eq(pwhash_verify("", h), 0);
    ck_assert_int_eq(pwhash_verify(over, h), 0);
    ck_assert_int_eq(pwhash_verify(NULL, h), 0);
    ck_assert_int_eq(pwhash_verify("x", h), 1);
}
END_TEST

static Suite *pwhash_suite(void)
{
    Suite *s = suite_create("pwhash");
    TCase *tc = tcase_create("pwhash");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_real_cost);
    tcase_add_test(tc, test_salted);
    tcase_add_test(tc, test_standard_vector);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pwhash_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
