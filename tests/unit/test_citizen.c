/*
 * test_citizen — halld's custody of ID numbers (controller/citizen): the
 * [privacy] key files (a missing or malformed hall secret refused with the
 * key named; sealing keys optional, a broken one refused); the citizen
 * hash of a number (an HMAC-SHA256 vector computed with the openssl
 * command line, x and X alike, a wrong check digit and a malformed number
 * refused without the number in the sentence); a sealed number opened
 * with the current and with the previous sealing key, refused when
 * changed, sealed by another kiosk or to an unknown key, and "not yet"
 * while halld holds no sealing key; the keyed request digest.
 */
#include <check.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "citizen.h"
#include "seal.h"
#include "testsupport.h"

#define NUMBER "110101199003071233"
/* The hall secret: the 32 ASCII bytes 0123456789abcdef0123456789abcdef. */
#define SECRET_HEX "3031323334353637383961626364656630313233343536373839616263646566\n"
/* HMAC-SHA256 of NUMBER under it: echo -n NUMBER | openssl dgst -sha256 -hmac KEY */
#define NUMBER_HMAC "aa30213d03b1696acd1b0da0b2677fb579e027837a92e89e077b45207e6606cf"

static char *dir;

static void setup(void)
{
    dir = ts_tmpdir("citizen");
    ts_write_file(ts_path(dir, "secret.key"), SECRET_HEX);
}

static void teardown(void)
{
    ts_rmtree(dir);
    free(dir);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* A new sealing key pair written to dir/name; its public half returned. */
static seal_key *sealing_key(const char *name)
{
    seal_key *k = seal_key_new();
    char *pem = seal_key_pem(k, true), *pub_pem = seal_key_pem(k, false), err[256];
    seal_key *pub = seal_key_from_pem(pub_pem, strlen(pub_pem), false, err, sizeof err);

    ts_write_file(ts_path(dir, name), pem);
    seal_pem_free(pem);
    seal_pem_free(pub_pem);
    seal_key_free(k);
    ck_assert_ptr_nonnull(pub);
    return pub;
}

static citizen_keys *load(const char *seal, const char *previous)
{
    char err[512];
    citizen_keys *k = citizen_keys_load(ts_path(dir, "secret.key"), ts_path(dir, seal),
                                        ts_path(dir, previous), err, sizeof err);

    ck_assert_msg(k != NULL, "%s", err);
    return k;
}

START_TEST(key_files)
{
    char err[512];
    citizen_keys *k;

    /* No sealing key files: fine, none held. */
    k = load("seal.key", "seal-previous.key");
    ck_assert_int_eq(citizen_sealing_keys(k), 0);
    citizen_keys_free(k);
    seal_key_free(sealing_key("seal-previous.key"));
    k = load("seal.key", "seal-previous.key");
    ck_assert_int_eq(citizen_sealing_keys(k), 1);
    citizen_keys_free(k);
    seal_key_free(sealing_key("seal.key"));
    k = load("seal.key", "seal-previous.key");
    ck_assert_int_eq(citizen_sealing_keys(k), 2);
    citizen_keys_free(k);
    citizen_keys_free(NULL);

    /* A broken sealing key is an error, named. */
    ts_write_file(ts_path(dir, "bad.key"), "-----BEGIN PRIVATE KEY-----\nAAAA\n");
    ck_assert_ptr_null(citizen_keys_load(ts_path(dir, "secret.key"), ts_path(dir, "bad.key"), "",
                                         err, sizeof err));
    ck_assert_msg(strstr(err, "[privacy] sealing_key") != NULL, "%s", err);
    /* The hall secret: missing, not hex, too short, too long. */
    static const char *const bad[] = {"0011zz\n", "00112233445566778899aabbccddee\n",
                                      "00112233445566778899aabbccddeeff00112233445566778899aabbc"
                                      "cddeeff00112233445566778899aabbccddeeff00112233445566778"
                                      "899aabbccddeeff00\n"};
    ck_assert_ptr_null(citizen_keys_load(ts_path(dir, "none.key"), "", "", err, sizeof err));
    ck_assert_msg(strstr(err, "[privacy] secret") && strstr(err, "none.key"), "%s", err);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ts_write_file(ts_path(dir, "s.key"), bad[i]);
        ck_assert_ptr_null(citizen_keys_load(ts_path(dir, "s.key"), "", "", err, sizeof err));
        ck_assert_msg(strstr(err, "not a hall secret") != NULL, "%s", err);
    }
}
END_TEST

START_TEST(hash_of_a_number)
{
    citizen_keys *k = load("seal.key", "seal-previous.key");
    uint8_t a[Q_HASH_LEN], b[Q_HASH_LEN];
    char text[2 * Q_HASH_LEN + 1], why[300];

    ck_assert_int_eq(citizen_from_number(k, NUMBER, a, why, sizeof why), 0);
    hex(a, sizeof a, text);
    ck_assert_str_eq(text, NUMBER_HMAC);
    /* x and X are the same number; another number, another hash. */
    ck_assert_int_eq(citizen_from_number(k, "11010519491231002x", a, why, sizeof why), 0);
    ck_assert_int_eq(citizen_from_number(k, "11010519491231002X", b, why, sizeof why), 0);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert_int_eq(citizen_from_number(k, "USA110085061501", b, why, sizeof why), 0);
    ck_assert(memcmp(a, b, sizeof a) != 0);
    /* A wrong check digit: refused, the number masked in the sentence. */
    ck_assert_int_eq(citizen_from_number(k, "110101199003071234", a, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "1101**********1234") && strstr(why, "check digit"), "%s", why);
    /* Not a number: refused, and the sentence does not quote it. */
    ck_assert_int_eq(citizen_from_number(k, "11010119900307123", a, why, sizeof why), -1);
    ck_assert_ptr_null(strstr(why, "1101011990"));
    ck_assert_int_eq(citizen_from_number(k, "", a, why, sizeof why), -1);
    citizen_keys_free(k);
}
END_TEST

START_TEST(sealed_numbers)
{
    seal_key *previous = sealing_key("seal-previous.key"), *current = sealing_key("seal.key");
    seal_key *stranger = seal_key_new();
    citizen_keys *k = load("seal.key", "seal-previous.key");
    uint8_t env[SEAL_LEN], want[Q_HASH_LEN], got[Q_HASH_LEN];
    char why[300];

    ck_assert_int_eq(citizen_from_number(k, NUMBER, want, why, sizeof why), 0);
    /* Sealed to the current key, and to the one before the rotation. */
    ck_assert_int_eq(seal_wrap(current, "kiosk-01", NUMBER, strlen(NUMBER), env), 0);
    ck_assert_int_eq(citizen_from_sealed(k, "kiosk-01", env, sizeof env, got, why, sizeof why), 0);
    ck_assert_mem_eq(got, want, sizeof got);
    ck_assert_int_eq(seal_wrap(previous, "kiosk-01", NUMBER, strlen(NUMBER), env), 0);
    ck_assert_int_eq(citizen_from_sealed(k, "kiosk-01", env, sizeof env, got, why, sizeof why), 0);
    ck_assert_mem_eq(got, want, sizeof got);
    /* Sealed by another kiosk; changed on the way; cut short. */
    errno = 0;
    ck_assert_int_eq(citizen_from_sealed(k, "kiosk-02", env, sizeof env, got, why, sizeof why), -1);
    ck_assert_int_eq(errno, EBADMSG);
    ck_assert_msg(strstr(why, "does not open") != NULL, "%s", why);
    env[50] ^= 1;
    ck_assert_int_eq(citizen_from_sealed(k, "kiosk-01", env, sizeof env, got, why, sizeof why), -1);
    ck_assert_int_eq(errno, EBADMSG);
    ck_assert_int_eq(citizen_from_sealed(k, "kiosk-01", env, 40, got, why, sizeof why), -1);
    ck_assert_int_eq(errno, EBADMSG);
    ck_assert_msg(strstr(why, "not a sealed envelope") != NULL, "%s", why);
    /* Sealed to a key halld does not hold (rotated away twice). */
    ck_assert_int_eq(seal_wrap(stranger, "kiosk-01", NUMBER, strlen(NUMBER), env), 0);
    ck_assert_int_eq(citizen_from_sealed(k, "kiosk-01", env, sizeof env, got, why, sizeof why), -1);
    ck_assert_int_eq(errno, EBADMSG);
    ck_assert_msg(strstr(why, "does not hold") != NULL, "%s", why);
    /* Opens, but holds no ID number. */
    ck_assert_int_eq(seal_wrap(current, "kiosk-01", "hello", 5, env), 0);
    ck_assert_int_eq(citizen_from_sealed(k, "kiosk-01", env, sizeof env, got, why, sizeof why), -1);
    ck_assert_int_eq(errno, EBADMSG);
    ck_assert_int_eq(seal_wrap(current, "kiosk-01", NUMBER "\0", 19, env), 0);
    ck_assert_int_eq(citizen_from_sealed(k, "kiosk-01", env, sizeof env, got, why, sizeof why), -1);
    citizen_keys_free(k);

    /* No sealing key at all: not yet, rather than never. */
    k = load("none.key", "none-previous.key");
    ck_assert_int_eq(seal_wrap(current, "kiosk-01", NUMBER, strlen(NUMBER), env), 0);
    ck_assert_int_eq(citizen_from_sealed(k, "kiosk-01", env, sizeof env, got, why, sizeof why), -1);
    ck_assert_int_eq(errno, EAGAIN);
    citizen_keys_free(k);
    seal_key_free(stranger);
    seal_key_free(current);
    seal_key_free(previous);
}
END_TEST

START_TEST(keyed_digest)
{
    citizen_keys *k = load("seal.key", "seal-previous.key");
    uint8_t got[CITIZEN_DIGEST_LEN], plain[32];
    unsigned char want[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const char data[] = "a request with " NUMBER;

    ck_assert_int_eq(citizen_digest(k, data, strlen(data), got), 0);
    HMAC(EVP_sha256(), "0123456789abcdef0123456789abcdef", 32, (const unsigned char *)data,
         strlen(data), want, &len);
    ck_assert_uint_eq(len, sizeof got);
    ck_assert_mem_eq(got, want, sizeof got);
    /* Not the plain hash that anyone could test numbers against. */
    ck_assert(EVP_Digest(data, strlen(data), plain, NULL, EVP_sha256(), NULL));
    ck_assert(memcmp(got, plain, sizeof got) != 0);
    citizen_keys_free(k);
}
END_TEST

/* A ticket's check: 4 digits, the HMAC under the hall secret of a label
 * and the id (big-endian), the same every time, another for another id. */
START_TEST(ticket_check)
{
    citizen_keys *k = load("seal.key", "seal-previous.key");
    char c1[CITIZEN_CHECK_LEN + 1], c2[CITIZEN_CHECK_LEN + 1], again[CITIZEN_CHECK_LEN + 1];
    uint8_t msg[] = "onewindow ticket check\0\0\0\0\0\0\0\0\x2a";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char want[8];

    ck_assert_int_eq(citizen_ticket_check(k, 42, c1), 0);
    ck_assert_int_eq(citizen_ticket_check(k, 42, again), 0);
    ck_assert_int_eq(citizen_ticket_check(k, 43, c2), 0);
    ck_assert_uint_eq(strlen(c1), 4);
    ck_assert_str_eq(c1, again);
    HMAC(EVP_sha256(), "0123456789abcdef0123456789abcdef", 32, msg, sizeof msg - 1, mac, &len);
    snprintf(want, sizeof want, "%04u",
             (unsigned)(((uint32_t)mac[0] << 24 | (uint32_t)mac[1] << 16 | (uint32_t)mac[2] << 8 |
                         mac[3]) %
                        10000));
    ck_assert_str_eq(c1, want);
    /* Ids 43..142: not all one check (it depends on the id). */
    bool differs = strcmp(c1, c2) != 0;
    for (uint64_t id = 44; id < 143 && !differs; id++) {
        ck_assert_int_eq(citizen_ticket_check(k, id, c2), 0);
        differs = strcmp(c1, c2) != 0;
    }
    ck_assert(differs);
    citizen_keys_free(k);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("citizen");
    TCase *tc = tcase_create("citizen");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, key_files);
    tcase_add_test(tc, hash_of_a_number);
    tcase_add_test(tc, sealed_numbers);
    tcase_add_test(tc, keyed_digest);
    tcase_add_test(tc, ticket_check);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
