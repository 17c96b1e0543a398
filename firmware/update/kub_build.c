/*
 * kub_build — writing a bundle (see kub_build.h and kub.h for the layout).
 * The manifest holds the payload offsets and the payload starts after the
 * manifest, so the layout is computed until the payload offset stops
 * moving.
 */
#include "kub_build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kub_sign.h"

#define BUF (64 * 1024)

static uint64_t align(uint64_t x)
{
    return (x + KUB_ALIGN - 1) / KUB_ALIGN * KUB_ALIGN;
}

/* Hash one image file: whole-image hash and chunk table. */
static uint8_t *hash_image(const char *path, struct kub_image *img)
{
    uint8_t *chunk = malloc(img->chunk_size), *table = NULL;
    kub_hash *h = kub_hash_new();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    uint64_t n, c;

    if (chunk == NULL || h == NULL || fd < 0 || fstat(fd, &sb) < 0 || sb.st_size <= 0)
        goto out;
    img->size = (uint64_t)sb.st_size;
    n = kub_chunk_count(img);
    img->chunks_size = n * 32;
    table = malloc(img->chunks_size);
    if (table == NULL)
        goto out;
    for (c = 0; c < n; c++) {
        size_t want = (size_t)(img->size - c * img->chunk_size < img->chunk_size
                                   ? img->size - c * img->chunk_size
                                   : img->chunk_size),
               got = 0;
        while (got < want) {
            ssize_t r = read(fd, chunk + got, want - got);
            if (r <= 0)
                goto fail;
            got += (size_t)r;
        }
        kub_sha256(chunk, want, table + c * 32);
        kub_hash_update(h, chunk, want);
    }
    kub_hash_final(h, img->sha256);
    kub_sha256(table, img->chunks_size, img->chunks_sha256);
    goto out;
fail:
    free(table);
    table = NULL;
out:
    if (fd >= 0)
        close(fd);
    kub_hash_free(h);
    free(chunk);
    return table;
}

static int put(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;

    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int pad_to(int fd, uint64_t *pos, uint64_t to)
{
    static const uint8_t zero[KUB_ALIGN];

    while (*pos < to) {
        size_t n = to - *pos < sizeof zero ? (size_t)(to - *pos) : sizeof zero;
        if (put(fd, zero, n) < 0)
            return -1;
        *pos += n;
    }
    return 0;
}

static int copy_file(int out, const char *path, uint64_t *pos)
{
    uint8_t buf[BUF];
    int in = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (in < 0)
        return -1;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (put(out, buf, (size_t)n) < 0) {
            close(in);
            return -1;
        }
        *pos += (uint64_t)n;
    }
    close(in);
    return n < 0 ? -1 : 0;
}

/* Place the blobs after payload_off; returns the total length. */
static uint64_t layout(struct kub_manifest *m, uint64_t payload_off)
{
    uint64_t cur = payload_off, end = payload_off;

    for (unsigned i = 0; i < m->n_images; i++) {
        struct kub_image *img = &m->image[i];
        img->offset = align(cur);
        img->chunks_offset = align(img->offset + img->size);
        end = img->chunks_offset + img->chunks_size;
        cur = end;
    }
    return end;
}

int kub_build(const struct kub_build_spec *s, char *err, size_t n)
{
    struct kub_manifest m;
    uint8_t *tables[KUB_IMAGES_MAX] = {0}, hdr[KUB_HDR_LEN], *signed_buf = NULL;
    char *text = malloc(KUB_MANIFEST_MAX + 1), tmp[4096] = "";
    struct kub_header h = {0};
    uint64_t pos = 0;
    long mlen = 0;
    int fd = -1, rc = -1;

    memset(&m, 0, sizeof m);
    if (text == NULL) {
        snprintf(err, n, "Out of memory.");
        goto out;
    }
    if (s->n_keys == 0 || s->n_keys > KUB_SIG_MAX || s->n_images == 0 ||
        s->n_images > KUB_IMAGES_MAX) {
        snprintf(err, n, "A bundle needs 1-%d keys and 1-%d images.", KUB_SIG_MAX, KUB_IMAGES_MAX);
        goto out;
    }
    m.format = KUB_FORMAT;
    m.min_updater = KUB_UPDATER;
    m.security_version = s->security_version;
    m.n_images = s->n_images;
    snprintf(m.compatible, sizeof m.compatible, "%s", s->compatible);
    snprintf(m.version, sizeof m.version, "%s", s->version);
    snprintf(m.build, sizeof m.build, "%s", s->build != NULL ? s->build : "unspecified");
    for (unsigned i = 0; i < s->n_images; i++) {
        struct kub_image *img = &m.image[i];
        snprintf(img->name, sizeof img->name, "%s", s->name[i]);
        img->chunk_size = s->chunk_size != 0 ? s->chunk_size : 65536;
        tables[i] = hash_image(s->path[i], img);
        if (tables[i] == NULL) {
            snprintf(err, n, "Image %s (%s) cannot be read or is empty.", s->name[i], s->path[i]);
            goto out;
        }
    }
    h.sig_count = s->n_keys;
    for (h.payload_off = KUB_ALIGN;; h.payload_off += KUB_ALIGN) {
        h.total_len = layout(&m, h.payload_off);
        mlen = kub_format_manifest(&m, text, KUB_MANIFEST_MAX + 1);
        if (mlen < 0 || mlen > KUB_MANIFEST_MAX) {
            snprintf(err, n, "The manifest is too large.");
            goto out;
        }
        h.manifest_len = (uint32_t)mlen;
        if (kub_prefix_len(&h) <= h.payload_off)
            break;
    }
    /* The builder's own output must pass the device's parser. */
    {
        struct kub_manifest check;
        const char *why;
        if (kub_parse_manifest(text, (size_t)mlen, &h, &check, &why) < 0) {
            snprintf(err, n, "The bundle would be invalid: %s", why);
            goto out;
        }
    }
    kub_format_header(&h, hdr);
    signed_buf = malloc(KUB_HDR_LEN + (size_t)mlen);
    if (signed_buf == NULL) {
        snprintf(err, n, "Out of memory.");
        goto out;
    }
    memcpy(signed_buf, hdr, KUB_HDR_LEN);
    memcpy(signed_buf + KUB_HDR_LEN, text, (size_t)mlen);
    if (snprintf(tmp, sizeof tmp, "%s.tmp", s->out) >= (int)sizeof tmp ||
        (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        snprintf(err, n, "%s cannot be written: %s.", s->out, strerror(errno));
        goto out;
    }
    if (put(fd, signed_buf, KUB_HDR_LEN + (size_t)mlen) < 0)
        goto io;
    pos = KUB_HDR_LEN + (uint64_t)mlen;
    for (unsigned k = 0; k < s->n_keys; k++) {
        uint8_t id[KUB_KEYID_LEN], sig[KUB_ED_SIG];
        if (kub_sign_sign(s->keys[k], signed_buf, KUB_HDR_LEN + (size_t)mlen, id, sig) < 0) {
            snprintf(err, n, "Signing with %s failed: it is not a readable Ed25519 private key.",
                     s->keys[k]);
            goto out;
        }
        if (put(fd, id, sizeof id) < 0 || put(fd, sig, sizeof sig) < 0)
            goto io;
        pos += KUB_SIG_LEN;
    }
    for (unsigned i = 0; i < m.n_images; i++) {
        if (pad_to(fd, &pos, m.image[i].offset) < 0 || copy_file(fd, s->path[i], &pos) < 0 ||
            pos != m.image[i].offset + m.image[i].size ||
            pad_to(fd, &pos, m.image[i].chunks_offset) < 0 ||
            put(fd, tables[i], m.image[i].chunks_size) < 0)
            goto io;
        pos += m.image[i].chunks_size;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        goto io;
    }
    fd = -1;
    if (rename(tmp, s->out) < 0)
        goto io;
    rc = 0;
    goto out;
io:
    snprintf(err, n, "Writing %s failed (%s); an image may have changed while it was read.", s->out,
             strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && tmp[0] != '\0')
        unlink(tmp);
    for (unsigned i = 0; i < KUB_IMAGES_MAX; i++)
        free(tables[i]);
    free(signed_buf);
    free(text);
    return rc;
}
