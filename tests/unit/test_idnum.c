/*
 * test_idnum — ID numbers as text (common/idnum): the GB 11643 check digit
 * (the devices.md vectors, every wrong final digit), what halld accepts
 * from a kiosk (both forms, x for X) and what it refuses (a wrong check
 * digit apart from a malformed number), and the mask.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "idnum.h"

START_TEST(check_digit)
{
    ck_assert_int_eq(idnum_check_digit("11010519491231002"), 'X');
    ck_assert_int_eq(idnum_check_digit("44052418800101001"), '4');
    ck_assert(idnum_gb11643_valid("11010519491231002X"));
    ck_assert(idnum_gb11643_valid("11010519491231002x"));
    ck_assert(idnum_gb11643_valid("440524188001010014"));
    ck_assert(!idnum_gb11643_valid("440524188001010015"));
    ck_assert(!idnum_gb11643_valid("110105194912310020"));
    ck_assert(!idnum_gb11643_valid("44052418800101001"));
    ck_assert(!idnum_gb11643_valid("4405241880010100144"));
    ck_assert(!idnum_gb11643_valid("44052418800101A014"));
    ck_assert(!idnum_gb11643_valid(NULL));
    ck_assert_int_eq(idnum_check_digit("4405241880010100A"), 0);
    /* Every wrong final digit of a good number is caught. */
    for (const char *d = "0123456789X"; *d != '\0'; d++) {
        char n[19] = "440524188001010014";

        n[17] = *d;
        ck_assert(idnum_gb11643_valid(n) == (*d == '4'));
    }
}
END_TEST

START_TEST(verdicts)
{
    static const struct {
        const char *number;
        idnum_verdict want;
    } cases[] = {
        {"110101199003071233", IDNUM_OK},
        {"11010519491231002X", IDNUM_OK},
        {"11010519491231002x", IDNUM_OK},
        {"810000198808080312", IDNUM_OK}, /* a residence permit: the same form */
        {"USA110085061501", IDNUM_OK},    /* a permanent residence card of 2017 */
        {"110101199003071234", IDNUM_BAD_CHECK_DIGIT},
        {"110105194912310020", IDNUM_BAD_CHECK_DIGIT},
        {"11010119900307123", IDNUM_MALFORMED},   /* 17 characters */
        {"1101011990030712333", IDNUM_MALFORMED}, /* 19 */
        {"11010119900307123Y", IDNUM_MALFORMED},
        {"1101011990030A1233", IDNUM_MALFORMED},
        {"usa110085061501", IDNUM_MALFORMED},
        {"US1110085061501", IDNUM_MALFORMED},
        {"USA11008506150A", IDNUM_MALFORMED},
        {"", IDNUM_MALFORMED},
        {" 110101199003071233", IDNUM_MALFORMED},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(idnum_check(cases[i].number) == cases[i].want, "%s: %d, not %d",
                      cases[i].number, idnum_check(cases[i].number), cases[i].want);
    ck_assert_int_eq(idnum_check(NULL), IDNUM_MALFORMED);
}
END_TEST

START_TEST(mask)
{
    char out[64];

    ck_assert_int_eq(idnum_mask("371301199003071234", out, sizeof out), 0);
    ck_assert_str_eq(out, "3713**********1234");
    ck_assert_int_eq(idnum_mask("USA110085061501", out, sizeof out), 0);
    ck_assert_str_eq(out, "USA1*******1501");
    ck_assert_int_eq(idnum_mask("12345678", out, sizeof out), 0);
    ck_assert_str_eq(out, "********");
    ck_assert_int_eq(idnum_mask("", out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    errno = 0;
    ck_assert_int_eq(idnum_mask("371301199003071234", out, 18), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    ck_assert_int_eq(idnum_mask(NULL, out, sizeof out), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("idnum");
    TCase *tc = tcase_create("idnum");

    tcase_add_test(tc, check_digit);
    tcase_add_test(tc, verdicts);
    tcase_add_test(tc, mask);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
