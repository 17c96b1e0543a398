/*
 * citizen — ID numbers in, citizen hashes out. See citizen.h.
 *
 * The hash is OpenSSL's one-shot HMAC(); the number is copied only into a
 * stack buffer (for the x -> X normalisation, and from an opened
 * envelope), which is wiped on every path out.
 */
#include "citizen.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "idnum.h"
#include "seal.h"

#define SEALING_KEYS 2

_Static_assert(Q_HASH_LEN == CITIZEN_DIGEST_LEN, "a citizen hash is an HMAC-SHA256");

struct citizen_keys {
    uint8_t secret[CITIZEN_SECRET_MAX];
    size_t secret_len;
    seal_key *sealing[SEALING_KEYS]; /* current first; NULL: none */
};

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* The secret file: hex digits, whitespace around them allowed. */
static int read_secret(citizen_keys *k, const char *path, char *err, size_t errlen)
{
    char text[4 * CITIZEN_SECRET_MAX];
    FILE *f = fopen(path, "r");
    size_t n, len = 0;

    if (f == NULL) {
        snprintf(err, errlen, "[privacy] secret %s: %s", path, strerror(errno));
        return -1;
    }
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')
            continue;
        int hi = hexval(text[i]), lo = i + 1 < n ? hexval(text[i + 1]) : -1;
        if (hi < 0 || lo < 0 || len == CITIZEN_SECRET_MAX) {
            len = 0;
            break;
        }
        k->secret[len++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    OPENSSL_cleanse(text, sizeof text);
    if (len < CITIZEN_SECRET_MIN) {
        snprintf(err, errlen, "[privacy] secret %s: not a hall secret (%d to %d bytes in hex)",
                 path, CITIZEN_SECRET_MIN, CITIZEN_SECRET_MAX);
        return -1;
    }
    k->secret_len = len;
    return 0;
}

/* A private sealing key, or none when the file does not exist. */
static int read_sealing(seal_key **out, const char *key, const char *path, char *err, size_t errlen)
{
    char why[300];

    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return 0;
    if ((*out = seal_key_read(path, true, why, sizeof why)) != NULL || errno == ENOENT)
        return 0;
    snprintf(err, errlen, "[privacy] %s: %s", key, why);
    return -1;
}

citizen_keys *citizen_keys_load(const char *secret_path, const char *seal_path,
                                const char *previous_path, char *err, size_t errlen)
{
    citizen_keys *k = calloc(1, sizeof *k);

    if (k == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (read_secret(k, secret_path, err, errlen) < 0 ||
        read_sealing(&k->sealing[0], "sealing_key", seal_path, err, errlen) < 0 ||
        read_sealing(&k->sealing[1], "previous_sealing_key", previous_path, err, errlen) < 0) {
        citizen_keys_free(k);
        return NULL;
    }
    if (k->sealing[0] == NULL) { /* a previous key alone is the only one */
        k->sealing[0] = k->sealing[1];
        k->sealing[1] = NULL;
    }
    return k;
}

void citizen_keys_free(citizen_keys *k)
{
    if (k == NULL)
        return;
    for (int i = 0; i < SEALING_KEYS; i++)
        seal_key_free(k->sealing[i]);
    OPENSSL_cleanse(k, sizeof *k);
    free(k);
}

int citizen_sealing_keys(const citizen_keys *k)
{
    return (k->sealing[0] != NULL) + (k->sealing[1] != NULL);
}

int citizen_digest(const citizen_keys *k, const void *data, size_t len,
                   uint8_t out[CITIZEN_DIGEST_LEN])
{
    unsigned int maclen = 0;

    if (HMAC(EVP_sha256(), k->secret, (int)k->secret_len, data, len, out, &maclen) == NULL ||
        maclen != CITIZEN_DIGEST_LEN) {
        errno = EIO;
        return -1;
    }
    return 0;
}

int citizen_ticket_check(const citizen_keys *k, uint64_t ticket_id, char out[CITIZEN_CHECK_LEN + 1])
{
    static const char label[] = "onewindow ticket check";
    uint8_t msg[sizeof label + 8], mac[CITIZEN_DIGEST_LEN];
    uint32_t v;

    memcpy(msg, label, sizeof label);
    for (int i = 0; i < 8; i++)
        msg[sizeof label + (size_t)i] = (uint8_t)(ticket_id >> (56 - 8 * i));
    if (citizen_digest(k, msg, sizeof msg, mac) < 0)
        return -1;
    v = (uint32_t)mac[0] << 24 | (uint32_t)mac[1] << 16 | (uint32_t)mac[2] << 8 | mac[3];
    snprintf(out, CITIZEN_CHECK_LEN + 1, "%04u", (unsigned)(v % 10000));
    return 0;
}

int citizen_from_number(const citizen_keys *k, const char *number, uint8_t hash[Q_HASH_LEN],
                        char *why, size_t whylen)
{
    char norm[IDNUM_MAX + 1], masked[IDNUM_MAX + 1];
    size_t n = strlen(number);
    int rc = -1;

    switch (idnum_check(number)) {
    case IDNUM_OK:
        break;
    case IDNUM_BAD_CHECK_DIGIT:
        idnum_mask(number, masked, sizeof masked);
        snprintf(why, whylen, "the ID number %s has a wrong check digit (GB 11643 MOD 11-2)",
                 masked);
        return -1;
    case IDNUM_MALFORMED:
        snprintf(why, whylen,
                 "not an ID number (17 digits and a check digit, or a permanent residence "
                 "number of 3 letters and 12 digits)");
        return -1;
    }
    memcpy(norm, number, n + 1);
    if (norm[n - 1] == 'x')
        norm[n - 1] = 'X';
    if (citizen_digest(k, norm, n, hash) == 0)
        rc = 0;
    else
        snprintf(why, whylen, "cannot hash the ID number: OpenSSL failed");
    OPENSSL_cleanse(norm, sizeof norm);
    return rc;
}

int citizen_from_sealed(const citizen_keys *k, const char *context, const uint8_t *sealed,
                        size_t len, uint8_t hash[Q_HASH_LEN], char *why, size_t whylen)
{
    char number[SEAL_PLAIN_MAX + 1];
    int n = -1, e = EBADMSG;

    if (k->sealing[0] == NULL) {
        snprintf(why, whylen, "halld holds no sealing key to open the ID number with yet");
        errno = EAGAIN;
        return -1;
    }
    for (int i = 0; i < SEALING_KEYS && k->sealing[i] != NULL && n < 0; i++)
        if ((n = seal_open(k->sealing[i], context, sealed, len, number, sizeof number)) < 0)
            e = errno;
    if (n < 0) {
        snprintf(why, whylen, "the sealed ID number %s",
                 e == EINVAL   ? "is not a sealed envelope"
                 : e == ENOKEY ? "is sealed to a key halld does not hold"
                 : e == EIO    ? "could not be opened now: OpenSSL failed"
                               : "does not open (changed since it was sealed, or sealed by "
                                 "another kiosk)");
        errno = e == EIO ? EAGAIN : EBADMSG;
        return -1;
    }
    if ((size_t)n != strlen(number))
        number[0] = '\0'; /* a NUL inside: not an ID number */
    n = citizen_from_number(k, number, hash, why, whylen);
    OPENSSL_cleanse(number, sizeof number);
    if (n < 0)
        errno = EBADMSG;
    return n;
}
