/*
 * kub_build — making a signed .kub bundle on the release side (kupd bundle
 * create): hashes every image and chunk, lays the blobs out 4096-aligned,
 * writes the manifest and signs header || manifest with each given key.
 */
#ifndef ONEWINDOW_KUB_BUILD_H
#define ONEWINDOW_KUB_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "kub.h"

struct kub_build_spec {
    const char *out;               /* bundle path, written atomically */
    const char *keys[KUB_SIG_MAX]; /* PEM private keys, one signature each */
    unsigned n_keys;
    const char *compatible;
    const char *version;
    const char *build; /* informational; may be NULL */
    uint64_t security_version;
    uint64_t chunk_size; /* 0: 64 KiB */
    unsigned n_images;
    const char *name[KUB_IMAGES_MAX]; /* image names */
    const char *path[KUB_IMAGES_MAX]; /* image files */
};

/* Build the bundle. Returns 0, or -1 with err set to a sentence. */
int kub_build(const struct kub_build_spec *s, char *err, size_t err_len);

#endif
