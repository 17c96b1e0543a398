/*
 * test_seal — envelopes for ID numbers (common/seal): sealed with a public
 * key and opened with its private key, bound to their context; every
 * single flipped bit refused with the reason of its place (version, key
 * id, the rest), another key refused, every truncation and an extension
 * refused; an envelope written by this format's first build (checked
 * against an independent implementation when it was made) still opens;
 * the key files: PEM both ways, a private key where only a public one
 * belongs, a key that is not X25519 (the TLS key), a missing file.
 */
#include <check.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seal.h"
#include "testsupport.h"

#define NUMBER "110101199003071233"

/* A key pair and an envelope sealed to it by kiosk-01, kept as they were
 * written: the format must keep opening them. */
static const char vector_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VuBCIEIGA5LJWMfYxtsWB9DSjYuu1SOwfMYphGGiET1CE+J3hB\n"
    "-----END PRIVATE KEY-----\n";
static const uint8_t vector_envelope[SEAL_LEN] =
    "\x01\x4f\xa0\xf6\x5a\xb4\x2b\x14\xce\xb4\x3a\xd1\x07\xf6\x9e\x55"
    "\xa6\x13\x5c\x18\x55\xab\xfa\x2a\xcb\x3d\x7b\xe2\x3b\xef\xf5\xed"
    "\xfc\xea\xf7\x1f\x25\x56\xca\x82\x60\x64\xed\x09\x22\xf6\xc0\x90"
    "\xa6\xa4\x6d\xfc\xde\x65\x15\x13\xa7\xd3\x21\x92\x12\x17\x71\x5b"
    "\x49\x5c\x9d\xd2\xf2\x80\x7e\xc2\x47\x4d\x52\xe9\xcf\x02\x77\xb0"
    "\x94\xa8\x8a\x0a\x65\x91\x6f\x28\xae";

static seal_key *private_key(void)
{
    seal_key *k = seal_key_new();

    ck_assert_ptr_nonnull(k);
    ck_assert(seal_key_is_private(k));
    return k;
}

/* The public half only, through its PEM, as a kiosk has it. */
static seal_key *public_of(const seal_key *k)
{
    char *pem = seal_key_pem(k, false), err[256];
    seal_key *pub;

    ck_assert_ptr_nonnull(pem);
    ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    pub = seal_key_from_pem(pem, strlen(pem), false, err, sizeof err);
    ck_assert_msg(pub != NULL, "%s", err);
    ck_assert(!seal_key_is_private(pub));
    seal_pem_free(pem);
    return pub;
}

START_TEST(round_trip)
{
    seal_key *k = private_key(), *pub = public_of(k);
    uint8_t env[SEAL_LEN], again[SEAL_LEN], id[SEAL_KEY_ID_LEN], pub_id[SEAL_KEY_ID_LEN];
    char plain[SEAL_PLAIN_MAX + 1];
    const char longest[] = "0123456789012345678901234567890";

    seal_key_id(k, id);
    seal_key_id(pub, pub_id);
    ck_assert_mem_eq(id, pub_id, SEAL_KEY_ID_LEN);
    ck_assert_int_eq(seal_wrap(pub, "kiosk-01", NUMBER, strlen(NUMBER), env), 0);
    ck_assert_int_eq(env[0], SEAL_VERSION);
    ck_assert_mem_eq(env + 1, id, SEAL_KEY_ID_LEN);
    ck_assert_ptr_null(memmem(env, sizeof env, NUMBER, 8));
    ck_assert_int_eq(seal_open(k, "kiosk-01", env, sizeof env, plain, sizeof plain), 18);
    ck_assert_str_eq(plain, NUMBER);
    /* A new one-time key each time: the same number never seals the same. */
    ck_assert_int_eq(seal_wrap(pub, "kiosk-01", NUMBER, strlen(NUMBER), again), 0);
    ck_assert(memcmp(env, again, sizeof env) != 0);
    /* The longest plaintext and the empty one. */
    ck_assert_int_eq(seal_wrap(pub, "", longest, SEAL_PLAIN_MAX, env), 0);
    ck_assert_int_eq(seal_open(k, "", env, sizeof env, plain, sizeof plain), SEAL_PLAIN_MAX);
    ck_assert_str_eq(plain, longest);
    ck_assert_int_eq(seal_wrap(pub, "", NULL, 0, env), 0);
    ck_assert_int_eq(seal_open(k, "", env, sizeof env, plain, sizeof plain), 0);
    ck_assert_str_eq(plain, "");
    /* Too long a plaintext, a missing context, a small output buffer. */
    errno = 0;
    ck_assert_int_eq(seal_wrap(pub, "", "01234567890123456789012345678901", 32, env), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(seal_wrap(pub, NULL, NUMBER, 18, env), -1);
    ck_assert_int_eq(seal_wrap(pub, "k", NUMBER, 18, env), 0);
    ck_assert_int_eq(seal_open(k, "k", env, sizeof env, plain, SEAL_PLAIN_MAX), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* The public half cannot open what it sealed. */
    ck_assert_int_eq(seal_open(pub, "k", env, sizeof env, plain, sizeof plain), -1);
    ck_assert_int_eq(errno, EINVAL);
    seal_key_free(pub);
    seal_key_free(k);
    seal_key_free(NULL);
}
END_TEST

START_TEST(every_flipped_bit_refused)
{
    seal_key *k = private_key();
    uint8_t env[SEAL_LEN], bad[SEAL_LEN];
    char plain[SEAL_PLAIN_MAX + 1];

    ck_assert_int_eq(seal_wrap(k, "kiosk-01", NUMBER, strlen(NUMBER), env), 0);
    for (size_t bit = 0; bit < 8 * SEAL_LEN; bit++) {
        size_t at = bit / 8;
        int want = at == 0 ? EINVAL : at <= SEAL_KEY_ID_LEN ? ENOKEY : EBADMSG;

        memcpy(bad, env, sizeof bad);
        bad[at] ^= (uint8_t)(1u << (bit % 8));
        memset(plain, 'z', sizeof plain);
        errno = 0;
        ck_assert_msg(seal_open(k, "kiosk-01", bad, sizeof bad, plain, sizeof plain) == -1,
                      "bit %zu flipped: opened", bit);
        ck_assert_msg(errno == want, "bit %zu flipped: errno %d, not %d", bit, errno, want);
        for (size_t i = 0; i < sizeof plain; i++)
            ck_assert_msg(plain[i] == (want == EBADMSG ? 0 : 'z'), "bit %zu: output left", bit);
    }
    /* Another context: another kiosk's envelope. */
    ck_assert_int_eq(seal_open(k, "kiosk-02", env, sizeof env, plain, sizeof plain), -1);
    ck_assert_int_eq(errno, EBADMSG);
    ck_assert_int_eq(seal_open(k, "kiosk-01", env, sizeof env, plain, sizeof plain), 18);
    seal_key_free(k);
}
END_TEST

START_TEST(wrong_key_refused)
{
    seal_key *k = private_key(), *other = private_key();
    uint8_t env[SEAL_LEN], id[SEAL_KEY_ID_LEN];
    char plain[SEAL_PLAIN_MAX + 1];

    ck_assert_int_eq(seal_wrap(k, "kiosk-01", NUMBER, strlen(NUMBER), env), 0);
    errno = 0;
    ck_assert_int_eq(seal_open(other, "kiosk-01", env, sizeof env, plain, sizeof plain), -1);
    ck_assert_int_eq(errno, ENOKEY);
    /* Even under the other key's id, it does not open with that key. */
    seal_key_id(other, id);
    memcpy(env + 1, id, SEAL_KEY_ID_LEN);
    ck_assert_int_eq(seal_open(other, "kiosk-01", env, sizeof env, plain, sizeof plain), -1);
    ck_assert_int_eq(errno, EBADMSG);
    seal_key_free(other);
    seal_key_free(k);
}
END_TEST

START_TEST(truncated_refused)
{
    seal_key *k = private_key();
    uint8_t env[SEAL_LEN + 1] = {0};
    char plain[SEAL_PLAIN_MAX + 1];

    ck_assert_int_eq(seal_wrap(k, "kiosk-01", NUMBER, strlen(NUMBER), env), 0);
    for (size_t len = 0; len < SEAL_LEN; len++) {
        errno = 0;
        ck_assert_int_eq(seal_open(k, "kiosk-01", env, len, plain, sizeof plain), -1);
        ck_assert_int_eq(errno, EINVAL);
    }
    ck_assert_int_eq(seal_open(k, "kiosk-01", env, SEAL_LEN + 1, plain, sizeof plain), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(seal_open(k, "kiosk-01", NULL, SEAL_LEN, plain, sizeof plain), -1);
    seal_key_free(k);
}
END_TEST

START_TEST(first_format_still_opens)
{
    char err[256], plain[SEAL_PLAIN_MAX + 1];
    seal_key *k = seal_key_from_pem(vector_key, sizeof vector_key - 1, true, err, sizeof err);

    ck_assert_msg(k != NULL, "%s", err);
    ck_assert_int_eq(seal_open(k, "kiosk-01", vector_envelope, SEAL_LEN, plain, sizeof plain), 18);
    ck_assert_str_eq(plain, NUMBER);
    seal_key_free(k);
}
END_TEST

START_TEST(key_files)
{
    char *dir = ts_tmpdir("seal");
    char err[512], *pem;
    seal_key *k = private_key(), *back;
    uint8_t id[SEAL_KEY_ID_LEN], back_id[SEAL_KEY_ID_LEN];

    /* The pair and its public half through files, as hallctl writes them. */
    pem = seal_key_pem(k, true);
    ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
    ts_write_file(ts_path(dir, "seal.key"), pem);
    seal_pem_free(pem);
    pem = seal_key_pem(k, false);
    ts_write_file(ts_path(dir, "seal.pub"), pem);
    seal_pem_free(pem);
    seal_key_id(k, id);
    back = seal_key_read(ts_path(dir, "seal.key"), true, err, sizeof err);
    ck_assert_msg(back != NULL, "%s", err);
    seal_key_id(back, back_id);
    ck_assert_mem_eq(id, back_id, SEAL_KEY_ID_LEN);
    seal_key_free(back);
    back = seal_key_read(ts_path(dir, "seal.pub"), false, err, sizeof err);
    ck_assert_msg(back != NULL, "%s", err);
    seal_key_id(back, back_id);
    ck_assert_mem_eq(id, back_id, SEAL_KEY_ID_LEN);
    seal_key_free(back);
    /* The public half has no private key to give. */
    ck_assert_ptr_null(
        seal_key_pem(back = seal_key_read(ts_path(dir, "seal.pub"), false, err, sizeof err), true));
    ck_assert_int_eq(errno, EINVAL);
    seal_key_free(back);

    /* A private key where a public one belongs: refused, said so. */
    errno = 0;
    ck_assert_ptr_null(seal_key_read(ts_path(dir, "seal.key"), false, err, sizeof err));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_msg(strstr(err, "private key") && strstr(err, "seal.key"), "%s", err);
    /* A public key where the pair is wanted. */
    ck_assert_ptr_null(seal_key_read(ts_path(dir, "seal.pub"), true, err, sizeof err));
    ck_assert_int_eq(errno, EINVAL);
    /* A P-256 key (what the TLS keys are): not a sealing key. */
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    FILE *f = fopen(ts_path(dir, "tls.key"), "w");
    ck_assert(ec != NULL && f != NULL);
    ck_assert(PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL));
    fclose(f);
    EVP_PKEY_free(ec);
    ck_assert_ptr_null(seal_key_read(ts_path(dir, "tls.key"), true, err, sizeof err));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_msg(strstr(err, "X25519") != NULL, "%s", err);
    /* Not a key at all; no file. */
    ts_write_file(ts_path(dir, "junk.key"), "hello\n");
    ck_assert_ptr_null(seal_key_read(ts_path(dir, "junk.key"), true, err, sizeof err));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(seal_key_read(ts_path(dir, "none.key"), true, err, sizeof err));
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "none.key"));
    seal_key_free(k);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("seal");
    TCase *tc = tcase_create("seal");

    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, every_flipped_bit_refused);
    tcase_add_test(tc, wrong_key_refused);
    tcase_add_test(tc, truncated_refused);
    tcase_add_test(tc, first_format_still_opens);
    tcase_add_test(tc, key_files);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
