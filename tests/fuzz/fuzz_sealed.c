/*
 * fuzz_sealed — libFuzzer target for the envelopes that carry ID numbers
 * from kiosks to halld (common/seal.c), as halld receives them in an
 * offline ticket's sealed_id, and for the sealing key files.
 *
 * The input is used three ways:
 *   - as an envelope: seal_open() with this harness's key (a test key,
 *     the one of tests/unit/test_seal.c) and the context "kiosk-01"
 *     either opens it, giving at most SEAL_PLAIN_MAX bytes and a NUL
 *     after them, or refuses it with EINVAL (not SEAL_LEN bytes, another
 *     version), ENOKEY (another key id) or EBADMSG (does not open), and
 *     the output holds nothing (zeros) after EBADMSG;
 *   - as a plaintext: its first bytes (up to SEAL_PLAIN_MAX) sealed to the
 *     key open again to exactly those bytes, and never once one bit of the
 *     envelope (its place chosen by the input) is flipped, nor under
 *     another context;
 *   - as a PEM key, private and public: seal_key_from_pem() refuses it with
 *     EINVAL and a sentence, or gives an X25519 key whose own PEM reads
 *     back as the same key (the same key id), and a public key is never
 *     taken from a file holding a private one.
 * Any broken promise aborts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzsupport.h"
#include "seal.h"

static const char key_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MC4CAQAwBQYDK2VuBCIEIGA5LJWMfYxtsWB9DSjYuu1SOwfMYphGGiET1CE+J3hB\n"
                              "-----END PRIVATE KEY-----\n";
static seal_key *key;

static void as_envelope(const uint8_t *data, size_t size)
{
    char plain[SEAL_PLAIN_MAX + 1];
    int n;

    memset(plain, 'z', sizeof plain);
    errno = 0;
    n = seal_open(key, "kiosk-01", data, size, plain, sizeof plain);
    if (n >= 0) {
        FZ_CHECK(size == SEAL_LEN && n <= SEAL_PLAIN_MAX && plain[n] == '\0');
        return;
    }
    FZ_CHECK(errno == EINVAL || errno == ENOKEY || errno == EBADMSG);
    FZ_CHECK(errno != EINVAL || size != SEAL_LEN || data[0] != SEAL_VERSION);
    if (errno == EBADMSG)
        for (size_t i = 0; i < sizeof plain; i++)
            FZ_CHECK(plain[i] == 0);
}

static void as_plaintext(const uint8_t *data, size_t size)
{
    size_t len = size < SEAL_PLAIN_MAX ? size : SEAL_PLAIN_MAX;
    uint8_t env[SEAL_LEN];
    char plain[SEAL_PLAIN_MAX + 1];
    size_t bit = size > 0 ? (data[0] * 131u + size) % (8 * SEAL_LEN) : 0;

    FZ_CHECK(seal_wrap(key, "kiosk-01", data, len, env) == 0);
    FZ_CHECK(seal_open(key, "kiosk-01", env, sizeof env, plain, sizeof plain) == (int)len);
    FZ_CHECK(memcmp(plain, data, len) == 0 && plain[len] == '\0');
    FZ_CHECK(seal_open(key, "kiosk-02", env, sizeof env, plain, sizeof plain) == -1);
    env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    FZ_CHECK(seal_open(key, "kiosk-01", env, sizeof env, plain, sizeof plain) == -1);
}

static void as_pem(const uint8_t *data, size_t size, bool private_part)
{
    char err[256] = "";
    uint8_t id[SEAL_KEY_ID_LEN], again_id[SEAL_KEY_ID_LEN];
    seal_key *k, *again;
    char *pem;

    errno = 0;
    k = seal_key_from_pem((const char *)data, size, private_part, err, sizeof err);
    if (k == NULL) {
        FZ_CHECK(errno == EINVAL && err[0] != '\0');
        return;
    }
    FZ_CHECK(seal_key_is_private(k) == private_part);
    FZ_CHECK(private_part || memmem(data, size, "PRIVATE KEY-----", 16) == NULL);
    pem = seal_key_pem(k, private_part);
    FZ_CHECK(pem != NULL);
    again = seal_key_from_pem(pem, strlen(pem), private_part, err, sizeof err);
    FZ_CHECK(again != NULL);
    seal_key_id(k, id);
    seal_key_id(again, again_id);
    FZ_CHECK(memcmp(id, again_id, sizeof id) == 0);
    seal_pem_free(pem);
    seal_key_free(again);
    seal_key_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (key == NULL) {
        char err[256];
        if ((key = seal_key_from_pem(key_pem, sizeof key_pem - 1, true, err, sizeof err)) == NULL) {
            fprintf(stderr, "fuzz_sealed: the harness's key: %s\n", err);
            abort();
        }
    }
    as_envelope(data, size);
    as_plaintext(data, size);
    as_pem(data, size, true);
    as_pem(data, size, false);
    return 0;
}
