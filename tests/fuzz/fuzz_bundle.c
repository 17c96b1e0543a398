/*
 * fuzz_bundle — libFuzzer target for the .kub header and manifest parser
 * (firmware/update/kub.c): the input is the start of a bundle as a stick
 * might deliver it.
 *
 * The input is parsed as a header and, if that passes, the manifest that
 * follows; it is also parsed as a bare manifest against a fixed, valid
 * header, so the manifest grammar is explored even when the header is
 * broken. A refusal must set errno EBADMSG and a reason; an accepted
 * manifest must format to text that parses again and formats to the same
 * text. Any broken promise aborts, which libFuzzer (or replay.c, in builds
 * without libFuzzer) reports.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_bundle: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char text1[KUB_MANIFEST_MAX + 1], text2[KUB_MANIFEST_MAX + 1];

static void one_manifest(const char *text, size_t len, const struct kub_header *h)
{
    struct kub_manifest m, again;
    const char *why = NULL;
    long n1, n2;

    errno = 0;
    if (kub_parse_manifest(text, len, h, &m, &why) < 0) {
        CHECK(errno == EBADMSG && why != NULL && why[0] != '\0');
        return;
    }
    CHECK(m.n_images >= 1 && m.n_images <= KUB_IMAGES_MAX);
    for (unsigned i = 0; i < m.n_images; i++) {
        CHECK(m.image[i].offset % KUB_ALIGN == 0);
        CHECK(m.image[i].offset + m.image[i].size <= h->total_len);
        CHECK(m.image[i].chunks_size == kub_chunk_count(&m.image[i]) * 32);
    }
    CHECK(kub_version_cmp(m.version, m.version) == 0);
    n1 = kub_format_manifest(&m, text1, sizeof text1);
    if (n1 < 0 || (size_t)n1 > KUB_MANIFEST_MAX)
        return; /* a canonical form longer than the limit: nothing to compare */
    CHECK(kub_parse_manifest(text1, (size_t)n1, h, &again, &why) == 0);
    n2 = kub_format_manifest(&again, text2, sizeof text2);
    CHECK(n1 == n2 && memcmp(text1, text2, (size_t)n1) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kub_header h, fixed = {0, 1, 1u << 20, 1ull << 40};
    const char *why = NULL;

    errno = 0;
    if (kub_parse_header(data, size, &h, &why) == 0) {
        uint8_t again[KUB_HDR_LEN];
        CHECK(h.manifest_len >= 1 && h.manifest_len <= KUB_MANIFEST_MAX);
        CHECK(h.payload_off % KUB_ALIGN == 0 && h.payload_off >= kub_prefix_len(&h));
        kub_format_header(&h, again);
        CHECK(memcmp(again, data, KUB_HDR_LEN) == 0);
        if (size - KUB_HDR_LEN >= h.manifest_len)
            one_manifest((const char *)data + KUB_HDR_LEN, h.manifest_len, &h);
    } else {
        CHECK(errno == EBADMSG && why != NULL);
    }
    if (size <= KUB_MANIFEST_MAX) {
        fixed.manifest_len = (uint32_t)size;
        one_manifest((const char *)data, size, &fixed);
    }
    return 0;
}
