/*
 * seal — ECIES envelopes with X25519, HKDF-SHA256 and AES-256-GCM. See
 * seal.h for the format and the promises.
 *
 * Layout: the key object (generation, PEM in and out, key id); the
 * pieces an envelope is made of (X25519 agreement, the HKDF step that
 * turns it into a key and a nonce, GCM both ways); seal_wrap and
 * seal_open. Every buffer that held a shared secret, a derived key or
 * the plaintext is wiped with OPENSSL_cleanse before it goes out of scope.
 */
#include "seal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "ossl.h"

#define RAW_LEN    32 /* an X25519 key, raw */
#define KEY_LEN    32 /* AES-256 */
#define NONCE_LEN  12
#define TAG_LEN    16
#define PADDED_LEN 32 /* length byte + SEAL_PLAIN_MAX */
#define HEADER_LEN (1 + SEAL_KEY_ID_LEN + RAW_LEN)
#define PEM_MAX    16384 /* larger files are not one key */

_Static_assert(HEADER_LEN + PADDED_LEN + TAG_LEN == SEAL_LEN, "the envelope's layout");
_Static_assert(PADDED_LEN == SEAL_PLAIN_MAX + 1, "the padded plaintext");

struct seal_key {
    EVP_PKEY *pkey;
    bool priv;
    uint8_t pub[RAW_LEN];
    uint8_t id[SEAL_KEY_ID_LEN];
};

/* ---- keys ----------------------------------------------------------------- */

/* Wrap pkey (taken over) in a seal_key, with its raw public key and id.
 * NULL with errno EINVAL (not X25519) or EIO; pkey is freed then. */
static seal_key *key_of(EVP_PKEY *pkey, bool priv)
{
    seal_key *k = calloc(1, sizeof *k);
    uint8_t md[SHA256_DIGEST_LENGTH];
    size_t len = RAW_LEN;

    if (k == NULL || !EVP_PKEY_is_a(pkey, "X25519")) {
        errno = k == NULL ? ENOMEM : EINVAL;
        goto fail;
    }
    if (!EVP_PKEY_get_raw_public_key(pkey, k->pub, &len) || len != RAW_LEN ||
        SHA256(k->pub, RAW_LEN, md) == NULL) {
        errno = EIO;
        goto fail;
    }
    memcpy(k->id, md, SEAL_KEY_ID_LEN);
    k->pkey = pkey;
    k->priv = priv;
    return k;
fail:
    free(k);
    EVP_PKEY_free(pkey);
    return NULL;
}

seal_key *seal_key_new(void)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");

    if (pkey == NULL) {
        errno = EIO;
        return NULL;
    }
    return key_of(pkey, true);
}

/* The file whole into text (cap bytes, NUL-terminated); its length or -1
 * with errno. */
static long read_text(const char *path, char *text, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    bool too_big;

    if (f == NULL)
        return -1;
    n = fread(text, 1, cap - 1, f);
    too_big = n == cap - 1 && fgetc(f) != EOF;
    if (ferror(f) || too_big) {
        fclose(f);
        OPENSSL_cleanse(text, cap);
        errno = too_big ? EFBIG : EIO;
        return -1;
    }
    fclose(f);
    text[n] = '\0';
    return (long)n;
}

seal_key *seal_key_from_pem(const char *pem, size_t len, bool private_part, char *err,
                            size_t errlen)
{
    char tmp[128];
    EVP_PKEY *pkey = NULL;
    BIO *bio;
    seal_key *k;
    int e;

    if (pem == NULL || len > INT_MAX) {
        snprintf(err, errlen, "no key");
        errno = EINVAL;
        return NULL;
    }
    if (!private_part && memmem(pem, len, "PRIVATE KEY-----", 16) != NULL) {
        snprintf(err, errlen,
                 "holds a private key, where only the public sealing key belongs (the private "
                 "key must stay with halld)");
        errno = EINVAL;
        return NULL;
    }
    if ((bio = BIO_new_mem_buf(pem, (int)len)) != NULL)
        pkey = private_part ? PEM_read_bio_PrivateKey(bio, NULL, ossl_no_password, NULL)
                            : PEM_read_bio_PUBKEY(bio, NULL, ossl_no_password, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        snprintf(err, errlen, "not a PEM %s key (%s)", private_part ? "private" : "public",
                 ossl_reason(tmp, sizeof tmp));
        errno = EINVAL;
        return NULL;
    }
    if ((k = key_of(pkey, private_part)) == NULL) {
        e = errno;
        snprintf(err, errlen, "%s",
                 e == EINVAL ? "not an X25519 key (the sealing key is a key pair of its own, "
                               "never the TLS key)"
                             : strerror(e));
        errno = e;
    }
    return k;
}

seal_key *seal_key_read(const char *path, bool private_part, char *err, size_t errlen)
{
    char text[PEM_MAX], why[256];
    long n = read_text(path, text, sizeof text);
    seal_key *k;
    int e;

    if (n < 0) {
        e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    k = seal_key_from_pem(text, (size_t)n, private_part, why, sizeof why);
    e = errno;
    OPENSSL_cleanse(text, sizeof text);
    if (k == NULL) {
        snprintf(err, errlen, "%s: %s", path, why);
        errno = e;
    }
    return k;
}

char *seal_key_pem(const seal_key *k, bool private_part)
{
    BIO *bio;
    BUF_MEM *mem = NULL;
    char *pem = NULL;
    int ok;

    if (k == NULL || (private_part && !k->priv)) {
        errno = EINVAL;
        return NULL;
    }
    if ((bio = BIO_new(BIO_s_secmem())) == NULL) {
        errno = EIO;
        return NULL;
    }
    ok = private_part ? PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL)
                      : PEM_write_bio_PUBKEY(bio, k->pkey);
    if (ok && BIO_get_mem_ptr(bio, &mem) > 0 && mem != NULL &&
        (pem = malloc(mem->length + 1)) != NULL) {
        memcpy(pem, mem->data, mem->length);
        pem[mem->length] = '\0';
    }
    BIO_free(bio);
    if (pem == NULL)
        errno = EIO;
    return pem;
}

void seal_pem_free(char *pem)
{
    if (pem != NULL) {
        OPENSSL_cleanse(pem, strlen(pem));
        free(pem);
    }
}

bool seal_key_is_private(const seal_key *k)
{
    return k != NULL && k->priv;
}

void seal_key_id(const seal_key *k, uint8_t id[SEAL_KEY_ID_LEN])
{
    memcpy(id, k->id, SEAL_KEY_ID_LEN);
}

void seal_key_free(seal_key *k)
{
    if (k != NULL) {
        EVP_PKEY_free(k->pkey); /* OpenSSL clears a freed private key */
        OPENSSL_cleanse(k, sizeof *k);
        free(k);
    }
}

/* ---- the pieces of an envelope ---------------------------------------------- */

/* X25519 of mine (a private key) and the raw public key peer. 0, or -1
 * (OpenSSL also refuses a peer key that gives the all-zero secret). */
static int agree(EVP_PKEY *mine, const uint8_t peer_raw[RAW_LEN], uint8_t shared[RAW_LEN])
{
    EVP_PKEY *peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer_raw, RAW_LEN);
    EVP_PKEY_CTX *ctx = peer != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL) : NULL;
    size_t len = RAW_LEN;
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) > 0 &&
             EVP_PKEY_derive_set_peer_ex(ctx, peer, 1) > 0 &&
             EVP_PKEY_derive(ctx, shared, &len) > 0 && len == RAW_LEN;

    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    return ok ? 0 : -1;
}

/* HKDF-SHA256 of the shared secret, salted with the sender's one-time and
 * the recipient's public keys: the GCM key and nonce. */
static int derive(uint8_t shared[RAW_LEN], const uint8_t eph[RAW_LEN],
                  const uint8_t recipient[RAW_LEN], uint8_t out[KEY_LEN + NONCE_LEN])
{
    char digest[] = "SHA256", info[] = "onewindow seal v1";
    uint8_t salt[2 * RAW_LEN];
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, RAW_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof salt),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info - 1),
        OSSL_PARAM_construct_end(),
    };
    int ok;

    memcpy(salt, eph, RAW_LEN);
    memcpy(salt + RAW_LEN, recipient, RAW_LEN);
    ok = ctx != NULL && EVP_KDF_derive(ctx, out, KEY_LEN + NONCE_LEN, params) > 0;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : -1;
}

/* AES-256-GCM over in[0..PADDED_LEN) with the additional data header and
 * context: encrypt (tag written) or decrypt (tag checked). 0 or -1. */
static int gcm(bool encrypt, const uint8_t km[KEY_LEN + NONCE_LEN], const uint8_t *header,
               const char *context, const uint8_t *in, uint8_t *out, uint8_t tag[TAG_LEN])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, ok;

    ok = ctx != NULL &&
         EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), km, km + KEY_LEN, encrypt ? 1 : 0, NULL) &&
         EVP_CipherUpdate(ctx, NULL, &len, header, HEADER_LEN) &&
         EVP_CipherUpdate(ctx, NULL, &len, (const unsigned char *)context, (int)strlen(context)) &&
         EVP_CipherUpdate(ctx, out, &len, in, PADDED_LEN) && len == PADDED_LEN &&
         (encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag)) &&
         EVP_CipherFinal_ex(ctx, out + len, &len) && len == 0 &&
         (!encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag));
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* ---- envelopes ---------------------------------------------------------------- */

int seal_wrap(const seal_key *to, const char *context, const void *plain, size_t len,
              uint8_t out[SEAL_LEN])
{
    uint8_t shared[RAW_LEN], km[KEY_LEN + NONCE_LEN], padded[PADDED_LEN] = {0};
    EVP_PKEY *eph = NULL;
    size_t publen = RAW_LEN;
    int rc = -1;

    if (to == NULL || context == NULL || (plain == NULL && len > 0) || len > SEAL_PLAIN_MAX ||
        out == NULL) {
        errno = EINVAL;
        return -1;
    }
    out[0] = SEAL_VERSION;
    memcpy(out + 1, to->id, SEAL_KEY_ID_LEN);
    padded[0] = (uint8_t)len;
    if (len > 0)
        memcpy(padded + 1, plain, len);
    if ((eph = EVP_PKEY_Q_keygen(NULL, NULL, "X25519")) != NULL &&
        EVP_PKEY_get_raw_public_key(eph, out + 1 + SEAL_KEY_ID_LEN, &publen) && publen == RAW_LEN &&
        agree(eph, to->pub, shared) == 0 &&
        derive(shared, out + 1 + SEAL_KEY_ID_LEN, to->pub, km) == 0 &&
        gcm(true, km, out, context, padded, out + HEADER_LEN, out + HEADER_LEN + PADDED_LEN) == 0)
        rc = 0;
    else
        errno = EIO;
    EVP_PKEY_free(eph);
    OPENSSL_cleanse(shared, sizeof shared);
    OPENSSL_cleanse(km, sizeof km);
    OPENSSL_cleanse(padded, sizeof padded);
    return rc;
}

int seal_open(const seal_key *k, const char *context, const uint8_t *sealed, size_t len,
              char *plain, size_t cap)
{
    uint8_t shared[RAW_LEN], km[KEY_LEN + NONCE_LEN], padded[PADDED_LEN], tag[TAG_LEN];
    const uint8_t *eph = sealed + 1 + SEAL_KEY_ID_LEN;
    int n = -1;

    if (k == NULL || !k->priv || context == NULL || sealed == NULL || plain == NULL ||
        cap <= SEAL_PLAIN_MAX || len != SEAL_LEN || sealed[0] != SEAL_VERSION) {
        errno = EINVAL;
        return -1;
    }
    if (CRYPTO_memcmp(sealed + 1, k->id, SEAL_KEY_ID_LEN) != 0) {
        errno = ENOKEY;
        return -1;
    }
    memcpy(tag, sealed + HEADER_LEN + PADDED_LEN, TAG_LEN);
    if (agree(k->pkey, eph, shared) == 0 && derive(shared, eph, k->pub, km) == 0 &&
        gcm(false, km, sealed, context, sealed + HEADER_LEN, padded, tag) == 0 &&
        padded[0] <= SEAL_PLAIN_MAX) {
        n = padded[0];
        for (size_t i = 1 + (size_t)n; i < PADDED_LEN && n >= 0; i++)
            if (padded[i] != 0)
                n = -1;
    }
    if (n >= 0) {
        memcpy(plain, padded + 1, (size_t)n);
        plain[n] = '\0';
    } else {
        OPENSSL_cleanse(plain, cap);
        errno = EBADMSG;
    }
    OPENSSL_cleanse(shared, sizeof shared);
    OPENSSL_cleanse(km, sizeof km);
    OPENSSL_cleanse(padded, sizeof padded);
    return n;
}
