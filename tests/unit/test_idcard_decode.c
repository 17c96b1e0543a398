/*
 * test_idcard_decode — the text block of every card type through the
 * encoder and back, the code tables, a number with a wrong GB 11643 check
 * digit refused (the digit itself: common_idnum), impossible dates, expiry against
 * the day given, and text that is not UCS-2: a card either decodes whole
 * and checked or is refused with the right result, and a refusal leaves
 * nothing of the card in the output.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idcard.h"
#include "idnum.h"
#include "sam.h"
#include "samdev.h"

#define TODAY 20260115

static idcard_result roundtrip(samdev_card c, idcard_identity *out, int32_t today)
{
    idcard_identity in;
    uint8_t text[SAM_TEXT_LEN];
    char why[128];

    ck_assert_int_eq(samdev_card_identity(c, &in), 0);
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), 0);
    return idcard_decode(text, sizeof text, NULL, 0, today, out, why, sizeof why);
}

static void assert_wiped(const idcard_identity *id)
{
    static const idcard_identity zero;

    ck_assert(memcmp(id, &zero, sizeof zero) == 0);
}

START_TEST(resident_card)
{
    idcard_identity id;

    ck_assert_int_eq(roundtrip(SAMDEV_VALID, &id, TODAY), IDCARD_OK);
    ck_assert_int_eq(id.type, IDCARD_RESIDENT);
    ck_assert_str_eq(id.name, "张三");
    ck_assert_str_eq(id.sex, "男");
    ck_assert_str_eq(id.nation_code, "01");
    ck_assert_str_eq(id.nation, "汉");
    ck_assert_str_eq(id.nationality, "CHN");
    ck_assert_str_eq(id.birth, "19900307");
    ck_assert_str_eq(id.address, "北京市东城区示例路1号");
    ck_assert_str_eq(id.id_number, "110101199003071233");
    ck_assert_str_eq(id.authority, "北京市公安局东城分局");
    ck_assert_str_eq(id.valid_from, "20200101");
    ck_assert_str_eq(id.valid_to, "20400101");
    ck_assert(!id.long_term);
    ck_assert(!id.expired);
}
END_TEST

/* The field offsets of devices.md 4.5, checked on the bytes. */
START_TEST(resident_layout_bytes)
{
    idcard_identity in;
    uint8_t text[SAM_TEXT_LEN];

    ck_assert_int_eq(samdev_card_identity(SAMDEV_VALID, &in), 0);
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), 0);
    ck_assert(memcmp(text, "\x20\x5f\x09\x4e\x20\x00", 6) == 0); /* 张 三 pad */
    ck_assert(memcmp(text + 30, "1\0", 2) == 0);
    ck_assert(memcmp(text + 32,
                     "0\0"
                     "1\0",
                     4) == 0);
    ck_assert(memcmp(text + 36,
                     "1\0"
                     "9\0"
                     "9\0"
                     "0\0",
                     8) == 0);
    ck_assert(memcmp(text + 122,
                     "1\0"
                     "1\0",
                     4) == 0);
    ck_assert(memcmp(text + 188,
                     "2\0"
                     "0\0"
                     "2\0"
                     "0\0",
                     8) == 0);
    ck_assert(memcmp(text + 204,
                     "2\0"
                     "0\0"
                     "4\0"
                     "0\0",
                     8) == 0);
    ck_assert(memcmp(text + 248, "\x20\x00", 2) == 0);
    ck_assert(memcmp(text + 254, "\x20\x00", 2) == 0);
}
END_TEST

START_TEST(other_types)
{
    idcard_identity id;

    ck_assert_int_eq(roundtrip(SAMDEV_HKMT, &id, TODAY), IDCARD_OK);
    ck_assert_int_eq(id.type, IDCARD_HKMT);
    ck_assert_str_eq(id.name, "陈大文");
    ck_assert_str_eq(id.pass_number, "H12345678");
    ck_assert_int_eq(id.issue_count, 1);
    ck_assert_str_eq(id.nation, "");
    ck_assert_str_eq(id.nationality, "CHN");
    ck_assert_str_eq(id.id_number, "810000198808080312");

    ck_assert_int_eq(roundtrip(SAMDEV_PERMANENT, &id, TODAY), IDCARD_OK);
    ck_assert_int_eq(id.type, IDCARD_FOREIGN_2023);
    ck_assert_str_eq(id.name, "玛丽");
    ck_assert_str_eq(id.name_en, "SMITH MARY ANN ELIZABETH CATHERINE JOHNSON"); /* 42 > 35 */
    ck_assert_str_eq(id.nationality, "USA");
    ck_assert_str_eq(id.sex, "女");
    ck_assert_str_eq(id.id_number, "91184019850615002X");
    ck_assert_str_eq(id.address, "");

    ck_assert_int_eq(roundtrip(SAMDEV_PERMANENT_2017, &id, TODAY), IDCARD_OK);
    ck_assert_int_eq(id.type, IDCARD_FOREIGN_2017);
    ck_assert_str_eq(id.name_en, "DOE JOHN");
    ck_assert_str_eq(id.name, "约翰");
    ck_assert_str_eq(id.id_number, "USA110085061501");
    ck_assert_str_eq(id.birth, "19850615");
    ck_assert_str_eq(id.authority, "1100");

    /* A 2017 card without a Chinese name is named by its English name, and
     * is written back with the Chinese name empty: an English name longer
     * than the Chinese name's field survives the round trip. */
    idcard_identity in, again;
    uint8_t text[SAM_TEXT_LEN];
    char why[128];
    ck_assert_int_eq(samdev_card_identity(SAMDEV_PERMANENT_2017, &in), 0);
    snprintf(in.name, sizeof in.name, "%s", "");
    snprintf(in.name_en, sizeof in.name_en, "%s", "DOE JOHN ALEXANDER WILLIAM");
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), 0);
    ck_assert_int_eq(idcard_decode(text, sizeof text, NULL, 0, TODAY, &id, why, sizeof why),
                     IDCARD_OK);
    ck_assert_str_eq(id.name, "DOE JOHN ALEXANDER WILLIAM");
    ck_assert_int_eq(idcard_encode(&id, text, sizeof text), 0);
    ck_assert_int_eq(idcard_decode(text, sizeof text, NULL, 0, TODAY, &again, why, sizeof why),
                     IDCARD_OK);
    ck_assert_str_eq(again.name, id.name);
    ck_assert_str_eq(again.name_en, id.name_en);
}
END_TEST

START_TEST(type_flag)
{
    idcard_identity in, id;
    uint8_t text[SAM_TEXT_LEN];
    char why[128];

    ck_assert_int_eq(samdev_card_identity(SAMDEV_VALID, &in), 0);
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), 0);
    text[248] = 0; /* a NUL flag is a resident card too */
    ck_assert_int_eq(idcard_decode(text, sizeof text, NULL, 0, TODAY, &id, why, sizeof why),
                     IDCARD_OK);
    text[248] = 'Q';
    ck_assert_int_eq(idcard_decode(text, sizeof text, NULL, 0, TODAY, &id, why, sizeof why),
                     IDCARD_UNKNOWN_TYPE);
    assert_wiped(&id);
    ck_assert_int_eq(idcard_decode(text, 255, NULL, 0, TODAY, &id, why, sizeof why),
                     IDCARD_BAD_TEXT);
}
END_TEST

START_TEST(code_tables)
{
    ck_assert_str_eq(idcard_sex_name('0'), "未知");
    ck_assert_str_eq(idcard_sex_name('1'), "男");
    ck_assert_str_eq(idcard_sex_name('2'), "女");
    ck_assert_str_eq(idcard_sex_name('9'), "未说明");
    ck_assert_ptr_null(idcard_sex_name('3'));
    ck_assert_str_eq(idcard_nation_name("01"), "汉");
    ck_assert_str_eq(idcard_nation_name("05"), "维吾尔");
    ck_assert_str_eq(idcard_nation_name("29"), "柯尔克孜");
    ck_assert_str_eq(idcard_nation_name("46"), "德昂");
    ck_assert_str_eq(idcard_nation_name("56"), "基诺");
    ck_assert_str_eq(idcard_nation_name("97"), "其他");
    ck_assert_str_eq(idcard_nation_name("98"), "外国血统中国籍人士");
    ck_assert_ptr_null(idcard_nation_name("00"));
    ck_assert_ptr_null(idcard_nation_name("57"));
    ck_assert_ptr_null(idcard_nation_name("99"));
    ck_assert_ptr_null(idcard_nation_name("1"));
    ck_assert_ptr_null(idcard_nation_name("1a"));
}
END_TEST

/* A resident card with one field changed; the result of decoding it. */
static idcard_result with_field(void (*change)(idcard_identity *), int32_t today,
                                idcard_identity *out)
{
    idcard_identity in;
    uint8_t text[SAM_TEXT_LEN];
    char why[128] = "";
    idcard_result r;

    ck_assert_int_eq(samdev_card_identity(SAMDEV_VALID, &in), 0);
    change(&in);
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), 0);
    r = idcard_decode(text, sizeof text, NULL, 0, today, out, why, sizeof why);
    if (r != IDCARD_OK) {
        ck_assert_str_ne(why, "");
        /* The sentence never quotes the number or the name. */
        ck_assert_ptr_null(strstr(why, in.id_number));
        if (in.name[0] != '\0')
            ck_assert_ptr_null(strstr(why, in.name));
        assert_wiped(out);
    }
    return r;
}

static void nation_99(idcard_identity *id)
{
    strcpy(id->nation_code, "99");
}
static void sex_5(idcard_identity *id)
{
    id->sex_code = '5';
}
static void sex_female(idcard_identity *id)
{
    id->sex_code = '2'; /* the number says male */
}
static void birth_feb30(idcard_identity *id)
{
    strcpy(id->birth, "19900230");
    memcpy(id->id_number + 6, "19900230", 8);
    id->id_number[17] = idnum_check_digit(id->id_number);
}
static void birth_other(idcard_identity *id)
{
    strcpy(id->birth, "19900308"); /* the number says 0307 */
}
static void to_before_from(idcard_identity *id)
{
    strcpy(id->valid_to, "20191231");
}
static void to_month13(idcard_identity *id)
{
    strcpy(id->valid_to, "20401301");
}
static void long_term(idcard_identity *id)
{
    id->long_term = true;
}
static void number_letter(idcard_identity *id)
{
    id->id_number[3] = 'A';
}
static void number_short(idcard_identity *id)
{
    id->id_number[16] = '\0';
}
static void no_name(idcard_identity *id)
{
    id->name[0] = '\0';
}
static void born_future(idcard_identity *id)
{
    strcpy(id->birth, "20300101");
    memcpy(id->id_number + 6, "20300101", 8);
    id->id_number[17] = idnum_check_digit(id->id_number);
    strcpy(id->valid_from, "20300102");
    strcpy(id->valid_to, "20400101");
}
static void unchanged(idcard_identity *id)
{
    (void)id;
}

START_TEST(bad_fields)
{
    idcard_identity id;

    ck_assert_int_eq(with_field(nation_99, TODAY, &id), IDCARD_BAD_CODE);
    ck_assert_int_eq(with_field(sex_5, TODAY, &id), IDCARD_BAD_CODE);
    ck_assert_int_eq(with_field(sex_female, TODAY, &id), IDCARD_BAD_NUMBER);
    ck_assert_int_eq(with_field(birth_feb30, TODAY, &id), IDCARD_BAD_DATE);
    ck_assert_int_eq(with_field(birth_other, TODAY, &id), IDCARD_BAD_NUMBER);
    ck_assert_int_eq(with_field(to_before_from, TODAY, &id), IDCARD_BAD_DATE);
    ck_assert_int_eq(with_field(to_month13, TODAY, &id), IDCARD_BAD_DATE);
    ck_assert_int_eq(with_field(number_letter, TODAY, &id), IDCARD_BAD_NUMBER);
    ck_assert_int_eq(with_field(number_short, TODAY, &id), IDCARD_BAD_NUMBER);
    ck_assert_int_eq(with_field(no_name, TODAY, &id), IDCARD_BAD_TEXT);
    ck_assert_int_eq(with_field(born_future, TODAY, &id), IDCARD_BAD_DATE);
    ck_assert_int_eq(with_field(long_term, TODAY, &id), IDCARD_OK);
    ck_assert(id.long_term);
    ck_assert_str_eq(id.valid_to, "");
    ck_assert(!id.expired);
    /* Not valid yet on the day before its start. */
    ck_assert_int_eq(with_field(unchanged, 20191231, &id), IDCARD_NOT_YET_VALID);
}
END_TEST

START_TEST(sim_cards_refused)
{
    idcard_identity id;

    ck_assert_int_eq(roundtrip(SAMDEV_BAD_CHECK, &id, TODAY), IDCARD_BAD_CHECK_DIGIT);
    assert_wiped(&id);
    ck_assert_int_eq(roundtrip(SAMDEV_BAD_DATE, &id, TODAY), IDCARD_BAD_DATE);
    assert_wiped(&id);
}
END_TEST

START_TEST(dates)
{
    ck_assert(idcard_date_valid("20240229"));
    ck_assert(!idcard_date_valid("20230229"));
    ck_assert(idcard_date_valid("20000229"));
    ck_assert(!idcard_date_valid("19000229"));
    ck_assert(!idcard_date_valid("20230431"));
    ck_assert(!idcard_date_valid("20231301"));
    ck_assert(!idcard_date_valid("20230100"));
    ck_assert(!idcard_date_valid("18991231"));
    ck_assert(!idcard_date_valid("2023010"));
    ck_assert(!idcard_date_valid("2023O101"));
    ck_assert(!idcard_date_valid(NULL));
}
END_TEST

START_TEST(expiry)
{
    idcard_identity id;

    ck_assert_int_eq(roundtrip(SAMDEV_EXPIRED, &id, TODAY), IDCARD_OK);
    ck_assert(id.expired);
    ck_assert_str_eq(id.valid_to, "20200101");
    /* Valid on its last day, expired the day after. */
    ck_assert_int_eq(roundtrip(SAMDEV_EXPIRED, &id, 20200101), IDCARD_OK);
    ck_assert(!id.expired);
    ck_assert_int_eq(roundtrip(SAMDEV_EXPIRED, &id, 20200102), IDCARD_OK);
    ck_assert(id.expired);
    ck_assert_int_eq(roundtrip(SAMDEV_VALID, &id, 20400102), IDCARD_OK);
    ck_assert(id.expired);
}
END_TEST

START_TEST(bad_ucs2)
{
    idcard_identity in, id;
    uint8_t text[SAM_TEXT_LEN];
    char why[128];

    ck_assert_int_eq(samdev_card_identity(SAMDEV_VALID, &in), 0);
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), 0);
    text[2] = 0x00; /* a lone surrogate as the second character of the name */
    text[3] = 0xD8;
    ck_assert_int_eq(idcard_decode(text, sizeof text, NULL, 0, TODAY, &id, why, sizeof why),
                     IDCARD_BAD_TEXT);
    ck_assert_ptr_nonnull(strstr(why, "name"));
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), 0);
    text[54] = 0x07; /* a control character in the address */
    text[55] = 0x00;
    ck_assert_int_eq(idcard_decode(text, sizeof text, NULL, 0, TODAY, &id, why, sizeof why),
                     IDCARD_BAD_TEXT);
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), 0);
    text[0] = 0; /* a NUL before the rest of the name */
    text[1] = 0;
    ck_assert_int_eq(idcard_decode(text, sizeof text, NULL, 0, TODAY, &id, why, sizeof why),
                     IDCARD_BAD_TEXT);
    /* All spaces: a blank card is refused (its empty sex code comes first). */
    for (size_t i = 0; i < sizeof text; i += 2) {
        text[i] = 0x20;
        text[i + 1] = 0;
    }
    ck_assert_int_eq(idcard_decode(text, sizeof text, NULL, 0, TODAY, &id, why, sizeof why),
                     IDCARD_BAD_CODE);
    assert_wiped(&id);
}
END_TEST

START_TEST(appended_address)
{
    idcard_identity in, id;
    uint8_t text[SAM_TEXT_LEN], addr[SAM_ADDR_LEN];
    char why[128];

    ck_assert_int_eq(samdev_card_identity(SAMDEV_VALID, &in), 0);
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), 0);
    ck_assert_int_eq(idcard_encode_address("（迁入）示例路2号", addr, sizeof addr), 0);
    ck_assert_int_eq(
        idcard_decode(text, sizeof text, addr, sizeof addr, TODAY, &id, why, sizeof why),
        IDCARD_OK);
    ck_assert_str_eq(id.address, "北京市东城区示例路1号（迁入）示例路2号");
    addr[0] = 1; /* control character */
    addr[1] = 0;
    ck_assert_int_eq(
        idcard_decode(text, sizeof text, addr, sizeof addr, TODAY, &id, why, sizeof why),
        IDCARD_BAD_TEXT);
}
END_TEST

START_TEST(encoder_refuses)
{
    idcard_identity in;
    uint8_t text[SAM_TEXT_LEN];

    ck_assert_int_eq(samdev_card_identity(SAMDEV_VALID, &in), 0);
    strcpy(in.name, "一二三四五六七八九十一二三四五六"); /* 16 characters: 15 fit */
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), -1);
    ck_assert_int_eq(samdev_card_identity(SAMDEV_VALID, &in), 0);
    strcpy(in.name, "\xF0\x9F\x98\x80"); /* outside the BMP */
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), -1);
    strcpy(in.name, "\xC3"); /* cut short */
    ck_assert_int_eq(idcard_encode(&in, text, sizeof text), -1);
    ck_assert_int_eq(idcard_encode(&in, text, 255), -1);
    ck_assert_int_eq(samdev_card_identity(SAMDEV_NONE, &in), -1);
}
END_TEST

START_TEST(result_sentences)
{
    for (int r = IDCARD_OK; r <= IDCARD_NOMEM; r++)
        ck_assert_str_ne(idcard_strerror((idcard_result)r), "unknown ID card result");
    ck_assert_str_eq(idcard_strerror((idcard_result)99), "unknown ID card result");
    ck_assert_str_eq(idcard_type_name(IDCARD_HKMT), "hkmt");
}
END_TEST

static Suite *decode_suite(void)
{
    Suite *s = suite_create("idcard_decode");
    TCase *tc = tcase_create("decode");

    tcase_add_test(tc, resident_card);
    tcase_add_test(tc, resident_layout_bytes);
    tcase_add_test(tc, other_types);
    tcase_add_test(tc, type_flag);
    tcase_add_test(tc, code_tables);
    tcase_add_test(tc, bad_fields);
    tcase_add_test(tc, sim_cards_refused);
    tcase_add_test(tc, dates);
    tcase_add_test(tc, expiry);
    tcase_add_test(tc, bad_ucs2);
    tcase_add_test(tc, appended_address);
    tcase_add_test(tc, encoder_refuses);
    tcase_add_test(tc, result_sentences);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(decode_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
