/*
 * kub — the .kub firmware bundle format: parsing and building, no I/O and
 * no cryptography (kub_sign does that), so the parser can be fuzzed alone.
 *
 * Layout (all integers big-endian, the byte order of the whole project):
 *
 *   off 0   header, 64 bytes:
 *             magic "KIOSKUB1" | u32 hdr_len = 64 | u32 manifest_len |
 *             u32 sig_count | u32 flags = 0 | u64 payload_off (4096-aligned) |
 *             u64 total_len | 24 zero bytes
 *   off 64  manifest: strict "key=value\n" lines, at most 64 KiB
 *           sig_count x { u8 key_id[8] | u8 ed25519_sig[64] }
 *           zero padding up to payload_off
 *   payload blobs, each 4096-aligned, found only through manifest offsets:
 *           per image its bytes and its chunk table (SHA-256 of each
 *           chunk_size piece, 32 bytes each, in order)
 *
 * The signature covers header || manifest, and the manifest holds the
 * SHA-256 of every image and of every chunk table, so it covers every byte.
 */
#ifndef ONEWINDOW_KUB_H
#define ONEWINDOW_KUB_H

#include <stddef.h>
#include <stdint.h>

#define KUB_MAGIC        "KIOSKUB1"
#define KUB_HDR_LEN      64
#define KUB_ALIGN        4096
#define KUB_MANIFEST_MAX 65536
#define KUB_SIG_LEN      72 /* key id (8) + Ed25519 signature (64) */
#define KUB_SIG_MAX      8
#define KUB_IMAGES_MAX   8
#define KUB_CHUNK_MIN    4096
#define KUB_CHUNK_MAX    (16u * 1024 * 1024)
#define KUB_FORMAT       1
#define KUB_UPDATER      1 /* this updater's level, checked against min_updater */

struct kub_header {
    uint32_t manifest_len;
    uint32_t sig_count;
    uint64_t payload_off;
    uint64_t total_len;
};

struct kub_image {
    char name[32];          /* [a-z0-9_-]{1,31}; written to <slot>/<name>.img */
    uint64_t offset;        /* of the image bytes in the bundle */
    uint64_t size;          /* image bytes */
    uint64_t chunk_size;    /* multiple of 4096, 4 KiB .. 16 MiB */
    uint64_t chunks_offset; /* of the chunk table */
    uint64_t chunks_size;   /* 32 x ceil(size / chunk_size) */
    uint8_t sha256[32];     /* of the image bytes */
    uint8_t chunks_sha256[32];
};

struct kub_manifest {
    unsigned format;
    char compatible[128]; /* must equal the kiosk's model string */
    char version[32];     /* display version, [0-9A-Za-z.+-] */
    uint64_t security_version;
    unsigned min_updater;
    char build[128]; /* informational only */
    unsigned n_images;
    struct kub_image image[KUB_IMAGES_MAX];
};

/* Parse the 64-byte header at buf (len bytes available). Returns 0, or -1
 * with errno EBADMSG and *why set to one sentence. */
int kub_parse_header(const uint8_t *buf, size_t len, struct kub_header *h, const char **why);

/* Parse a manifest against its header: every key known and present once,
 * every value within its limits, every blob 4096-aligned inside
 * [payload_off, total_len) with no two blobs overlapping. Returns 0, or -1
 * with errno EBADMSG and *why set. */
int kub_parse_manifest(const char *text, size_t len, const struct kub_header *h,
                       struct kub_manifest *m, const char **why);

/* The bytes from offset 0 to the end of the signature block. */
size_t kub_prefix_len(const struct kub_header *h);

/* Encode a header into 64 bytes. */
void kub_format_header(const struct kub_header *h, uint8_t out[KUB_HDR_LEN]);

/* Write the manifest text for m into buf (at most cap bytes, NUL added).
 * Returns its length, or -1 with errno ENOSPC. */
long kub_format_manifest(const struct kub_manifest *m, char *buf, size_t cap);

/* The end of the manifest's last blob. A bundle is exactly this long: its
 * header's total_len must be this value (checked by the installer, since
 * the parser alone accepts a manifest against any header that holds it). */
uint64_t kub_payload_end(const struct kub_manifest *m);

/* Number of chunks of an image. */
uint64_t kub_chunk_count(const struct kub_image *img);

/* Compare two display versions numerically part by part ("2.10" > "2.9");
 * <0, 0, >0 like strcmp. */
int kub_version_cmp(const char *a, const char *b);

#endif
