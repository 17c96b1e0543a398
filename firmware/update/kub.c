/*
 * kub — parsing and building .kub headers and manifests (see kub.h for the
 * layout). Everything here works on caller buffers; every read is checked
 * against the length it was given, and the manifest grammar is strict:
 * unknown, duplicate, missing or oversized keys are refused, so what the
 * signature covers is exactly what the installer acts on.
 */
#include "kub.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Big-endian helpers: the one place the byte order is decided. */
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static int fail(const char **why, const char *msg)
{
    if (why != NULL)
        *why = msg;
    errno = EBADMSG;
    return -1;
}

size_t kub_prefix_len(const struct kub_header *h)
{
    return KUB_HDR_LEN + (size_t)h->manifest_len + (size_t)h->sig_count * KUB_SIG_LEN;
}

int kub_parse_header(const uint8_t *buf, size_t len, struct kub_header *h, const char **why)
{
    size_t i;

    if (len < KUB_HDR_LEN)
        return fail(why, "The bundle is shorter than its header.");
    if (memcmp(buf, KUB_MAGIC, 8) != 0)
        return fail(why, "The file is not a kiosk update bundle (bad magic).");
    if (get32(buf + 8) != KUB_HDR_LEN)
        return fail(why, "The bundle header has an unknown length.");
    h->manifest_len = get32(buf + 12);
    h->sig_count = get32(buf + 16);
    if (get32(buf + 20) != 0)
        return fail(why, "The bundle header has unknown flags.");
    h->payload_off = get64(buf + 24);
    h->total_len = get64(buf + 32);
    for (i = 40; i < KUB_HDR_LEN; i++)
        if (buf[i] != 0)
            return fail(why, "The bundle header has non-zero reserved bytes.");
    if (h->manifest_len == 0 || h->manifest_len > KUB_MANIFEST_MAX)
        return fail(why, "The bundle manifest length is out of range.");
    if (h->sig_count == 0 || h->sig_count > KUB_SIG_MAX)
        return fail(why, "The bundle carries no signature or too many.");
    if (h->payload_off % KUB_ALIGN != 0 || h->payload_off < kub_prefix_len(h))
        return fail(why, "The bundle payload offset is invalid.");
    if (h->total_len < h->payload_off)
        return fail(why, "The bundle total length is invalid.");
    return 0;
}

void kub_format_header(const struct kub_header *h, uint8_t out[KUB_HDR_LEN])
{
    memset(out, 0, KUB_HDR_LEN);
    memcpy(out, KUB_MAGIC, 8);
    put32(out + 8, KUB_HDR_LEN);
    put32(out + 12, h->manifest_len);
    put32(out + 16, h->sig_count);
    put32(out + 20, 0);
    put64(out + 24, h->payload_off);
    put64(out + 32, h->total_len);
}

/* ---- manifest values ------------------------------------------------------ */

/* A decimal without sign or leading zeros, at most 19 digits. */
static int parse_u64(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    size_t i;

    if (n == 0 || n > 19 || (n > 1 && v[0] == '0'))
        return -1;
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 0;
}

static int parse_hex32(const char *v, size_t n, uint8_t out[32])
{
    size_t i;

    if (n != 64)
        return -1;
    for (i = 0; i < 64; i++) {
        char c = v[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(d << 4);
        else
            out[i / 2] |= (uint8_t)d;
    }
    return 0;
}

/* Copy a string value of allowed characters into dst (cap includes NUL). */
static int parse_str(const char *v, size_t n, char *dst, size_t cap, const char *extra,
                     int allow_space)
{
    size_t i;

    if (n == 0 || n >= cap)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (isalnum(c) || (c != '\0' && strchr(extra, c) != NULL) || (allow_space && c == ' '))
            continue;
        return -1;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

/* Top-level keys, each a bit in the "seen" mask. */
enum { K_FORMAT, K_COMPATIBLE, K_VERSION, K_SECVER, K_MINUPD, K_BUILD, K_COUNT };
static const char *const top_keys[K_COUNT] = {"format",           "compatible",  "version",
                                              "security_version", "min_updater", "build"};

/* Per-image keys after "image.<n>.". */
enum { I_NAME, I_TYPE, I_OFFSET, I_SIZE, I_SHA, I_CHUNK, I_COFF, I_CSIZE, I_CSHA, I_COUNT };
static const char *const img_keys[I_COUNT] = {"name",          "type",        "offset",
                                              "size",          "sha256",      "chunk_size",
                                              "chunks.offset", "chunks.size", "chunks.sha256"};

static int set_top(struct kub_manifest *m, int k, const char *v, size_t n)
{
    uint64_t x;

    switch (k) {
    case K_FORMAT:
        if (parse_u64(v, n, &x) < 0 || x != KUB_FORMAT)
            return -1;
        m->format = (unsigned)x;
        return 0;
    case K_COMPATIBLE:
        return parse_str(v, n, m->compatible, sizeof m->compatible, "-_./+:@", 0);
    case K_VERSION:
        return parse_str(v, n, m->version, sizeof m->version, ".+-", 0);
    case K_SECVER:
        return parse_u64(v, n, &m->security_version);
    case K_MINUPD:
        if (parse_u64(v, n, &x) < 0 || x > 1000000)
            return -1;
        m->min_updater = (unsigned)x;
        return 0;
    case K_BUILD:
        return parse_str(v, n, m->build, sizeof m->build, "-_./+:@#", 1);
    default:
        return -1;
    }
}

static int set_img(struct kub_image *img, int k, const char *v, size_t n)
{
    switch (k) {
    case I_NAME:
        if (parse_str(v, n, img->name, sizeof img->name, "-_", 0) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (isupper((unsigned char)v[i]))
                return -1;
        return 0;
    case I_TYPE:
        return n == 3 && memcmp(v, "raw", 3) == 0 ? 0 : -1;
    case I_OFFSET:
        return parse_u64(v, n, &img->offset);
    case I_SIZE:
        return parse_u64(v, n, &img->size);
    case I_SHA:
        return parse_hex32(v, n, img->sha256);
    case I_CHUNK:
        return parse_u64(v, n, &img->chunk_size);
    case I_COFF:
        return parse_u64(v, n, &img->chunks_offset);
    case I_CSIZE:
        return parse_u64(v, n, &img->chunks_size);
    case I_CSHA:
        return parse_hex32(v, n, img->chunks_sha256);
    default:
        return -1;
    }
}

uint64_t kub_chunk_count(const struct kub_image *img)
{
    return img->chunk_size == 0 ? 0 : (img->size + img->chunk_size - 1) / img->chunk_size;
}

uint64_t kub_payload_end(const struct kub_manifest *m)
{
    uint64_t end = 0;

    for (unsigned i = 0; i < m->n_images; i++) {
        const struct kub_image *img = &m->image[i];
        if (img->offset + img->size > end)
            end = img->offset + img->size;
        if (img->chunks_offset + img->chunks_size > end)
            end = img->chunks_offset + img->chunks_size;
    }
    return end;
}

struct blob {
    uint64_t off, len;
};

static int blob_cmp(const void *a, const void *b)
{
    const struct blob *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Every blob aligned, inside the payload, and no two overlapping. */
static int check_layout(const struct kub_manifest *m, const struct kub_header *h, const char **why)
{
    struct blob b[2 * KUB_IMAGES_MAX];
    unsigned i, n = 0;

    for (i = 0; i < m->n_images; i++) {
        const struct kub_image *img = &m->image[i];
        if (img->chunk_size < KUB_CHUNK_MIN || img->chunk_size > KUB_CHUNK_MAX ||
            img->chunk_size % KUB_ALIGN != 0)
            return fail(why, "The bundle manifest has an invalid chunk size.");
        if (img->size == 0 || img->chunks_size != kub_chunk_count(img) * 32)
            return fail(why, "The bundle manifest has an invalid chunk table size.");
        for (unsigned j = 0; j < i; j++)
            if (strcmp(m->image[j].name, img->name) == 0)
                return fail(why, "The bundle manifest names an image twice.");
        b[n++] = (struct blob){img->offset, img->size};
        b[n++] = (struct blob){img->chunks_offset, img->chunks_size};
    }
    for (i = 0; i < n; i++) {
        if (b[i].off % KUB_ALIGN != 0 || b[i].off < h->payload_off || b[i].off > h->total_len ||
            b[i].len > h->total_len - b[i].off)
            return fail(why, "The bundle manifest points outside the payload.");
    }
    qsort(b, n, sizeof b[0], blob_cmp);
    for (i = 1; i < n; i++)
        if (b[i - 1].off + b[i - 1].len > b[i].off)
            return fail(why, "The bundle manifest has overlapping images.");
    return 0;
}

int kub_parse_manifest(const char *text, size_t len, const struct kub_header *h,
                       struct kub_manifest *m, const char **why)
{
    unsigned seen_top = 0, seen_img[KUB_IMAGES_MAX] = {0};
    size_t pos = 0;
    unsigned i;

    memset(m, 0, sizeof *m);
    if (len == 0 || len > KUB_MANIFEST_MAX || text[len - 1] != '\n')
        return fail(why, "The bundle manifest is empty, too long or unterminated.");
    while (pos < len) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos), *eq;
        size_t llen = (size_t)(nl - line), klen, vlen;
        const char *val;
        int k = -1;

        pos += llen + 1;
        eq = memchr(line, '=', llen);
        if (eq == NULL)
            return fail(why, "The bundle manifest has a line without '='.");
        klen = (size_t)(eq - line);
        val = eq + 1;
        vlen = llen - klen - 1;
        if (klen > 6 && memcmp(line, "image.", 6) == 0) {
            const char *d = line + 6, *dot = memchr(d, '.', klen - 6);
            uint64_t idx;
            if (dot == NULL || parse_u64(d, (size_t)(dot - d), &idx) < 0 || idx >= KUB_IMAGES_MAX)
                return fail(why, "The bundle manifest has an invalid image key.");
            size_t rlen = klen - (size_t)(dot + 1 - line);
            for (i = 0; i < I_COUNT; i++)
                if (strlen(img_keys[i]) == rlen && memcmp(img_keys[i], dot + 1, rlen) == 0)
                    k = (int)i;
            if (k < 0)
                return fail(why, "The bundle manifest has an unknown key.");
            if (seen_img[idx] & (1u << k))
                return fail(why, "The bundle manifest repeats a key.");
            seen_img[idx] |= 1u << k;
            if (set_img(&m->image[idx], k, val, vlen) < 0)
                return fail(why, "The bundle manifest has an invalid image value.");
            continue;
        }
        for (i = 0; i < K_COUNT; i++)
            if (strlen(top_keys[i]) == klen && memcmp(top_keys[i], line, klen) == 0)
                k = (int)i;
        if (k < 0)
            return fail(why, "The bundle manifest has an unknown key.");
        if (seen_top & (1u << k))
            return fail(why, "The bundle manifest repeats a key.");
        seen_top |= 1u << k;
        if (set_top(m, k, val, vlen) < 0)
            return fail(why, "The bundle manifest has an invalid value.");
    }
    if (seen_top != (1u << K_COUNT) - 1)
        return fail(why, "The bundle manifest lacks a required key.");
    for (i = 0; i < KUB_IMAGES_MAX && seen_img[i] != 0; i++)
        if (seen_img[i] != (1u << I_COUNT) - 1)
            return fail(why, "The bundle manifest describes an image incompletely.");
    m->n_images = i;
    for (; i < KUB_IMAGES_MAX; i++)
        if (seen_img[i] != 0)
            return fail(why, "The bundle manifest numbers its images with a gap.");
    if (m->n_images == 0)
        return fail(why, "The bundle manifest lists no image.");
    return check_layout(m, h, why);
}

static void hex(const uint8_t *in, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[64] = '\0';
}

long kub_format_manifest(const struct kub_manifest *m, char *buf, size_t cap)
{
    size_t used;
    int n;

    n = snprintf(buf, cap,
                 "format=%u\ncompatible=%s\nversion=%s\nsecurity_version=%" PRIu64
                 "\nmin_updater=%u\nbuild=%s\n",
                 m->format, m->compatible, m->version, m->security_version, m->min_updater,
                 m->build);
    if (n < 0 || (size_t)n >= cap)
        goto full;
    used = (size_t)n;
    for (unsigned i = 0; i < m->n_images; i++) {
        const struct kub_image *img = &m->image[i];
        char sha[65], csha[65];
        hex(img->sha256, sha);
        hex(img->chunks_sha256, csha);
        n = snprintf(buf + used, cap - used,
                     "image.%u.name=%s\nimage.%u.type=raw\nimage.%u.offset=%" PRIu64
                     "\nimage.%u.size=%" PRIu64 "\nimage.%u.sha256=%s\nimage.%u.chunk_size=%" PRIu64
                     "\nimage.%u.chunks.offset=%" PRIu64 "\nimage.%u.chunks.size=%" PRIu64
                     "\nimage.%u.chunks.sha256=%s\n",
                     i, img->name, i, i, img->offset, i, img->size, i, sha, i, img->chunk_size, i,
                     img->chunks_offset, i, img->chunks_size, i, csha);
        if (n < 0 || (size_t)n >= cap - used)
            goto full;
        used += (size_t)n;
    }
    return (long)used;
full:
    errno = ENOSPC;
    return -1;
}

int kub_version_cmp(const char *a, const char *b)
{
    while (*a != '\0' || *b != '\0') {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            char *ea, *eb;
            unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
            if (x != y)
                return x < y ? -1 : 1;
            a = ea;
            b = eb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return 0;
}
