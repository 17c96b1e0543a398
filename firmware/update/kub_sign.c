/*
 * kub_sign — Ed25519 and SHA-256 through the OpenSSL 3 EVP interface.
 * Ed25519 in OpenSSL is one-shot (no DigestVerifyUpdate), which is why the
 * signed region, header || manifest, is bounded to 64 KiB + 64 bytes.
 */
#include "kub_sign.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

struct kub_hash {
    EVP_MD_CTX *ctx;
};

void kub_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void kub_sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int olen = 32;
    EVP_Digest(data, len, out, &olen, EVP_sha256(), NULL);
}

kub_hash *kub_hash_new(void)
{
    kub_hash *h = calloc(1, sizeof *h);

    if (h == NULL)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        kub_hash_free(h);
        errno = ENOMEM;
        return NULL;
    }
    return h;
}

void kub_hash_update(kub_hash *h, const void *data, size_t len)
{
    EVP_DigestUpdate(h->ctx, data, len);
}

void kub_hash_final(kub_hash *h, uint8_t out[32])
{
    unsigned int olen = 32;
    EVP_DigestFinal_ex(h->ctx, out, &olen);
}

void kub_hash_reset(kub_hash *h)
{
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void kub_hash_free(kub_hash *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void kub_sign_keyid(const uint8_t pub[KUB_PUB_LEN], uint8_t id[KUB_KEYID_LEN])
{
    uint8_t d[32];

    kub_sha256(pub, KUB_PUB_LEN, d);
    memcpy(id, d, KUB_KEYID_LEN);
}

static int write_all(const char *path, mode_t mode, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    const uint8_t *p = data;

    if (fd < 0)
        return -1;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

int kub_sign_keygen(const char *base, uint8_t id[KUB_KEYID_LEN])
{
    char path[4096];
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    uint8_t pub[KUB_PUB_LEN];
    size_t plen = sizeof pub;
    FILE *f = NULL;
    int fd, rc = -1;

    if (k == NULL || EVP_PKEY_get_raw_public_key(k, pub, &plen) != 1 || plen != KUB_PUB_LEN) {
        errno = EIO;
        goto out;
    }
    if (snprintf(path, sizeof path, "%s.key", base) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        goto out;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        goto out;
    }
    if (PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1) {
        errno = EIO;
        goto out;
    }
    if (fflush(f) != 0 || fsync(fileno(f)) < 0)
        goto out;
    snprintf(path, sizeof path, "%s.pub", base);
    if (write_all(path, 0644, pub, sizeof pub) < 0)
        goto out;
    kub_sign_keyid(pub, id);
    rc = 0;
out:
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    EVP_PKEY_free(k);
    return rc;
}

int kub_sign_sign(const char *key_path, const uint8_t *msg, size_t len, uint8_t id[KUB_KEYID_LEN],
                  uint8_t sig[KUB_ED_SIG])
{
    FILE *f = fopen(key_path, "re");
    EVP_PKEY *k;
    EVP_MD_CTX *mc = NULL;
    uint8_t pub[KUB_PUB_LEN];
    size_t plen = sizeof pub, slen = KUB_ED_SIG;
    int rc = -1;

    if (f == NULL)
        return -1;
    k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (k == NULL || EVP_PKEY_get_id(k) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(k, pub, &plen) != 1) {
        errno = EINVAL;
        goto out;
    }
    mc = EVP_MD_CTX_new();
    if (mc == NULL || EVP_DigestSignInit(mc, NULL, NULL, NULL, k) != 1 ||
        EVP_DigestSign(mc, sig, &slen, msg, len) != 1 || slen != KUB_ED_SIG) {
        errno = EIO;
        goto out;
    }
    kub_sign_keyid(pub, id);
    rc = 0;
out:
    EVP_MD_CTX_free(mc);
    EVP_PKEY_free(k);
    return rc;
}

static int verify_one(const uint8_t pub[KUB_PUB_LEN], const uint8_t *msg, size_t len,
                      const uint8_t sig[KUB_ED_SIG])
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, KUB_PUB_LEN);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    int ok = pk != NULL && mc != NULL && EVP_DigestVerifyInit(mc, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestVerify(mc, sig, KUB_ED_SIG, msg, len) == 1;

    EVP_MD_CTX_free(mc);
    EVP_PKEY_free(pk);
    return ok;
}

/* Read a raw key file; 0 if it is exactly 32 bytes. */
static int read_pub(int dfd, const char *name, uint8_t pub[KUB_PUB_LEN])
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    uint8_t extra;
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, pub, KUB_PUB_LEN);
    if (n == KUB_PUB_LEN && read(fd, &extra, 1) == 0) {
        close(fd);
        return 0;
    }
    close(fd);
    return -1;
}

int kub_sign_verify(const char *keyring, const uint8_t *msg, size_t len, const uint8_t *sigs,
                    unsigned n, int *unknown_key)
{
    DIR *d = opendir(keyring);
    struct dirent *e;
    int ok = 0, known = 0;

    if (d == NULL)
        return -1;
    while (!ok && (e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        uint8_t pub[KUB_PUB_LEN], id[KUB_KEYID_LEN];

        if (nl < 5 || strcmp(e->d_name + nl - 4, ".pub") != 0)
            continue;
        if (read_pub(dirfd(d), e->d_name, pub) < 0)
            continue;
        kub_sign_keyid(pub, id);
        for (unsigned i = 0; i < n && !ok; i++) {
            const uint8_t *entry = sigs + (size_t)i * (KUB_KEYID_LEN + KUB_ED_SIG);
            if (memcmp(entry, id, KUB_KEYID_LEN) != 0)
                continue;
            known = 1;
            ok = verify_one(pub, msg, len, entry + KUB_KEYID_LEN);
        }
    }
    closedir(d);
    if (unknown_key != NULL)
        *unknown_key = !known;
    return ok;
}
