/*
 * pwhash — scrypt password hashes in PHC form. See pwhash.h for the format
 * and its bounds.
 *
 * Layout: base64 without padding both ways (strict: a decoder that
 * accepted two spellings of one salt would make two strings verify
 * alike); scrypt through EVP_KDF; the parser of an encoded string, which
 * checks every bound before anything is allocated; the three functions.
 */
#include "pwhash.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define SALT_LEN   16 /* pwhash_make's */
#define KEY_LEN    32 /* pwhash_make's */
#define R          8
#define P          1
#define SALT_MIN   8
#define KEY_MIN    16
#define BYTES_MAX  64 /* salt and key read at most */
#define R_MAX      16
#define P_MAX      4
#define MEM_MAX    (1ull << 30) /* 128 * r * N: ln 20 with r 8 */
#define PREFIX     "$scrypt$"
#define B64_LEN(n) (((n)*4 + 2) / 3) /* characters of n bytes, unpadded */
#define LONGEST    (sizeof PREFIX - 1 + sizeof "ln=20,r=16,p=4" - 1 + 1 + 2 * B64_LEN(BYTES_MAX) + 1)

_Static_assert(LONGEST + 1 <= PWHASH_MAX, "PWHASH_MAX holds every string pwhash_verify accepts");

/* ---- base64, standard alphabet, no padding ---------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* in[0..len) as base64 into out (room for B64_LEN(len) + 1); returns the
 * characters written. */
static size_t b64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t n = len - i < 3 ? len - i : 3;
        if (n > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (n > 2)
            v |= in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        if (n > 1)
            out[o++] = b64[(v >> 6) & 63];
        if (n > 2)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64_value(char c)
{
    const char *p = c != '\0' ? strchr(b64, c) : NULL;

    return p != NULL ? (int)(p - b64) : -1;
}

/* Decode the len characters at in into out (cap bytes); the byte count,
 * or -1 if they are not canonical unpadded base64 of at most cap bytes: a
 * character outside the alphabet, a length no byte count has (4k + 1), or
 * bits left over that are not zero. */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    size_t n = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    if (len % 4 == 1 || n > cap)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return acc == 0 ? (int)o : -1;
}

/* ---- scrypt ------------------------------------------------------------------- */

/* scrypt(password, salt) with N = 2^ln into key[0..keylen). 0, or -1 with
 * errno EIO. The caller has checked the bounds. */
static int scrypt(const char *password, size_t pwlen, const uint8_t *salt, size_t saltlen, int ln,
                  uint32_t r, uint32_t p, uint8_t *key, size_t keylen)
{
    uint64_t n = (uint64_t)1 << ln;
    /* What OpenSSL allocates: 128 r (N + 2) for V, 128 r p for B. */
    uint64_t maxmem = 128 * (uint64_t)r * (n + 2 + p);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)(uintptr_t)password,
                                          pwlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(uintptr_t)salt, saltlen),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    int ok = ctx != NULL && EVP_KDF_derive(ctx, key, keylen, params) == 1;

    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    if (!ok) {
        OPENSSL_cleanse(key, keylen);
        errno = EIO;
        return -1;
    }
    return 0;
}

static bool password_ok(const char *password, size_t *len)
{
    *len = password != NULL ? strnlen(password, PWHASH_PASSWORD_MAX + 1) : 0;
    return *len > 0 && *len <= PWHASH_PASSWORD_MAX;
}

/* ---- the encoded string ----------------------------------------------------------- */

struct parsed {
    int ln;
    uint32_t r, p;
    uint8_t salt[BYTES_MAX], key[BYTES_MAX];
    size_t saltlen, keylen;
};

/* "<name>=<decimal>" at *s, the number in min..max, spelled once (no sign,
 * no leading zero), followed by end; *s moves past end. */
static bool param(const char **s, const char *name, char end, long min, long max, long *out)
{
    size_t n = strlen(name);
    const char *p = *s;
    long v = 0;

    if (strncmp(p, name, n) != 0 || p[n] != '=')
        return false;
    p += n + 1;
    if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > max)
            return false;
    }
    if (*p != end || v < min)
        return false;
    *out = v;
    *s = p + 1;
    return true;
}

/* The base64 field at *s up to end ('$' or '\0') into out, min..BYTES_MAX
 * bytes; *s moves past it. */
static bool field(const char **s, char end, uint8_t *out, size_t min, size_t *len)
{
    const char *stop = strchr(*s, end);

    if (stop == NULL)
        return false;
    int n = b64_decode(*s, (size_t)(stop - *s), out, BYTES_MAX);
    if (n < 0 || (size_t)n < min)
        return false;
    *len = (size_t)n;
    *s = stop + (end != '\0');
    return true;
}

static bool parse(const char *encoded, struct parsed *h)
{
    const char *s = encoded;
    long ln, r, p;

    if (encoded == NULL || strnlen(encoded, PWHASH_MAX) >= PWHASH_MAX ||
        strncmp(s, PREFIX, sizeof PREFIX - 1) != 0)
        return false;
    s += sizeof PREFIX - 1;
    if (!param(&s, "ln", ',', PWHASH_LN_MIN, PWHASH_LN_MAX, &ln) ||
        !param(&s, "r", ',', 1, R_MAX, &r) || !param(&s, "p", '$', 1, P_MAX, &p))
        return false;
    if (128 * (uint64_t)r * ((uint64_t)1 << ln) > MEM_MAX)
        return false;
    if (!field(&s, '$', h->salt, SALT_MIN, &h->saltlen) ||
        !field(&s, '\0', h->key, KEY_MIN, &h->keylen))
        return false;
    h->ln = (int)ln;
    h->r = (uint32_t)r;
    h->p = (uint32_t)p;
    return true;
}

/* ---- The API ------------------------------------------------------------------------ */

int pwhash_make_cost(const char *password, int ln, char *out, size_t outlen)
{
    uint8_t salt[SALT_LEN], key[KEY_LEN];
    char text[PWHASH_MAX], salt64[B64_LEN(SALT_LEN) + 1], key64[B64_LEN(KEY_LEN) + 1];
    size_t pwlen;

    if (outlen > 0)
        out[0] = '\0';
    if (!password_ok(password, &pwlen) || ln < PWHASH_LN_MIN || ln > PWHASH_LN_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (RAND_bytes(salt, sizeof salt) != 1) {
        errno = EIO;
        return -1;
    }
    if (scrypt(password, pwlen, salt, sizeof salt, ln, R, P, key, sizeof key) < 0)
        return -1;
    b64_encode(salt, sizeof salt, salt64);
    b64_encode(key, sizeof key, key64);
    OPENSSL_cleanse(key, sizeof key);
    int n = snprintf(text, sizeof text, PREFIX "ln=%d,r=%d,p=%d$%s$%s", ln, R, P, salt64, key64);
    OPENSSL_cleanse(key64, sizeof key64);
    if (n < 0 || (size_t)n >= outlen) {
        OPENSSL_cleanse(text, sizeof text);
        errno = ENOSPC;
        return -1;
    }
    memcpy(out, text, (size_t)n + 1);
    OPENSSL_cleanse(text, sizeof text);
    return 0;
}

int pwhash_make(const char *password, char *out, size_t outlen)
{
    return pwhash_make_cost(password, PWHASH_LN, out, outlen);
}

int pwhash_verify(const char *password, const char *encoded)
{
    struct parsed h;
    uint8_t key[BYTES_MAX];
    size_t pwlen;
    int rc;

    if (!parse(encoded, &h)) {
        OPENSSL_cleanse(&h, sizeof h);
        errno = EINVAL;
        return -1;
    }
    if (!password_ok(password, &pwlen))
        rc = 0;
    else if (scrypt(password, pwlen, h.salt, h.saltlen, h.ln, h.r, h.p, key, h.keylen) < 0)
        rc = -1;
    else
        rc = CRYPTO_memcmp(key, h.key, h.keylen) == 0;
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(&h, sizeof h);
    return rc;
}
