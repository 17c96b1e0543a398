/*
 * idcard — what a resident ID card says: the 256-byte UCS-2LE text block
 * of devices.md 4.5 decoded into UTF-8 fields, and checked, for the four
 * card types (resident card; Hong Kong/Macau/Taiwan residence permit;
 * foreigner's permanent residence card, 2017 and 2023 layouts). Pure: no
 * I/O, no allocation, no logging.
 *
 * A card is either fully decoded and valid, or refused with a result code
 * and a sentence: a bad ID number check digit (GB 11643-1999, ISO 7064 MOD
 * 11-2, computed by common/idnum.h), an impossible or inconsistent date,
 * an unknown code, or text that is not UCS-2 never comes back as an
 * identity. Sentences never quote the card's personal fields (see
 * idcard_privacy.h).
 *
 * The encoder (idcard_encode) is the inverse, for the simulators and the
 * tests: they build cards from fields with the code the driver decodes
 * with.
 *
 * The result codes are those of the whole driver (reader.h reports them).
 */
#ifndef ONEWINDOW_IDCARD_H
#define ONEWINDOW_IDCARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDCARD_RESULTS(X)                                                                          \
    X(IDCARD_OK, 0, "card read")                                                                   \
    X(IDCARD_NO_ANSWER, 1, "the card reader is not answering")                                     \
    X(IDCARD_GARBAGE, 2, "the card reader sent bytes that are not a frame")                        \
    X(IDCARD_TRUNCATED, 3, "the card reader's answer was cut short")                               \
    X(IDCARD_BAD_CHECKSUM, 4, "checksum error in the card reader's answer")                        \
    X(IDCARD_BAD_REPLY, 5, "the card reader's answer does not fit the command")                    \
    X(IDCARD_READER_STATUS, 6, "the card reader reported an error")                                \
    X(IDCARD_CARD_REMOVED, 7, "the card was removed during the read")                              \
    X(IDCARD_BAD_TEXT, 8, "the card's text is not valid")                                          \
    X(IDCARD_UNKNOWN_TYPE, 9, "unknown card type")                                                 \
    X(IDCARD_BAD_CODE, 10, "unknown sex or nation code on the card")                               \
    X(IDCARD_BAD_DATE, 11, "impossible or inconsistent date on the card")                          \
    X(IDCARD_BAD_CHECK_DIGIT, 12, "the ID number's check digit is wrong")                          \
    X(IDCARD_BAD_NUMBER, 13, "the ID number is malformed or does not match the card")              \
    X(IDCARD_EXPIRED, 14, "the card has expired")                                                  \
    X(IDCARD_NOT_YET_VALID, 15, "the card is not valid yet")                                       \
    X(IDCARD_IO, 16, "input/output error talking to the card reader")                              \
    X(IDCARD_NOMEM, 17, "out of memory")

typedef enum idcard_result {
#define IDCARD_ENUM_(name, n, text) name = (n),
    IDCARD_RESULTS(IDCARD_ENUM_)
#undef IDCARD_ENUM_
} idcard_result;

/* A readable sentence for r; "unknown ID card result" otherwise. */
const char *idcard_strerror(idcard_result r);

/* The card types, from the type flag at text offset 248. */
typedef enum idcard_type {
    IDCARD_RESIDENT,     /* 居民身份证: flag space or 0 */
    IDCARD_HKMT,         /* 港澳台居民居住证: 'J' */
    IDCARD_FOREIGN_2017, /* 外国人永久居留身份证 (2017): 'I' */
    IDCARD_FOREIGN_2023, /* 外国人永久居留身份证 (2023): 'Y' */
} idcard_type;

/* "resident", "hkmt", "foreign-2017", "foreign-2023"; "unknown" otherwise. */
const char *idcard_type_name(idcard_type t);

#define IDCARD_DATE_LEN 9 /* "YYYYMMDD" + NUL */

/* A decoded card. Text fields are UTF-8, NUL-terminated, trailing padding
 * removed; a field the card type does not have is "". Sizes hold the
 * longest UTF-8 a field's UCS-2 can give (3 bytes a character). */
typedef struct idcard_identity {
    idcard_type type;
    char name[48];                    /* Chinese name; the English name when a 2017
                                         foreigner card has no Chinese one */
    char name_en[192];                /* foreigner cards: English name (60 chars at most) */
    char sex_code;                    /* '0' '1' '2' '9' */
    const char *sex;                  /* 男 女 未知 未说明 (static string) */
    char nation_code[3];              /* resident card: GB 3304 code ("01") */
    const char *nation;               /* resident card: 汉 ...; "" otherwise (static) */
    char nationality[4];              /* ISO 3166 alpha-3: "CHN" for resident and hkmt */
    char birth[IDCARD_DATE_LEN];      /* YYYYMMDD */
    char address[224];                /* resident and hkmt; appended address follows */
    char id_number[20];               /* 18 characters (15 for foreign-2017) */
    char authority[48];               /* issuing authority (foreign-2017: its code) */
    char valid_from[IDCARD_DATE_LEN]; /* YYYYMMDD */
    char valid_to[IDCARD_DATE_LEN];   /* YYYYMMDD, "" when long_term */
    bool long_term;                   /* valid_to is 长期 */
    bool expired;                     /* valid_to is before the day given to decode */
    char pass_number[20];             /* hkmt: 通行证号码 */
    int issue_count;                  /* hkmt: 签发次数; foreign-2023: 换证次数; else 0 */

    /* Privacy products (idcard_privacy_apply). */
    char masked_number[20]; /* 3713**********1234 */
    char masked_name[48];   /* 张*, 欧阳* */

    /* The WLT photo, opaque: points into the reader's buffer during the
     * identity callback only, never copied into this struct. */
    const uint8_t *photo;
    size_t photo_len;
} idcard_identity;

/* Decode and check a text block (SAM_TEXT_LEN bytes) into *out. today is
 * the hall-local date as yyyymmdd; a card whose validity ended before it
 * is decoded with expired set (and is not an error here: the caller
 * chooses); today 0 skips every check against today. addr (may be NULL) is an appended address (30
 * 03 answer, SAM_ADDR_LEN bytes of UCS-2LE) joined to the address.
 *
 * Returns IDCARD_OK, or the reason the card is refused with a sentence in
 * why (whylen bytes; may be NULL) that names the field, never its value.
 * *out is wiped on refusal. */
idcard_result idcard_decode(const uint8_t *text, size_t len, const uint8_t *addr, size_t addrlen,
                            int32_t today, idcard_identity *out, char *why, size_t whylen);

/* Encode *in as a text block of its type into out (SAM_TEXT_LEN bytes).
 * The fields are written as given (no checks), so tests and simulators can
 * build bad cards too; a long_term card gets 长期 as its end date. 0, or -1
 * with errno EINVAL if a field is not UTF-8 within the BMP or too long for
 * its place. */
int idcard_encode(const idcard_identity *in, uint8_t *out, size_t outlen);

/* Encode an appended address (SAM_ADDR_LEN bytes of UCS-2LE). 0 or -1 as
 * idcard_encode. */
int idcard_encode_address(const char *utf8, uint8_t *out, size_t outlen);

/* True if s is "YYYYMMDD", a real calendar date from 1900 on. */
bool idcard_date_valid(const char *s);

/* The sex name for a GB/T 2261.1 code, NULL if unknown. */
const char *idcard_sex_name(char code);

/* The nation (民族) name for a GB 3304 code ("01" -> 汉), NULL if unknown. */
const char *idcard_nation_name(const char *code);

#endif
