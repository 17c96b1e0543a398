/*
 * kub_sign — Ed25519 keys and signatures for .kub bundles through OpenSSL 3,
 * and the SHA-256 helpers the installer uses.
 *
 * A private key is a PEM file (the format of `openssl genpkey -algorithm
 * ed25519`); a public key is its raw 32 bytes in a ".pub" file. A key id is
 * the first 8 bytes of SHA-256(public key). A keyring is a directory of
 * ".pub" files; a bundle is trusted when any of its signatures verifies
 * with a keyring key of the same id, so keys can rotate by shipping a new
 * key next to the old one first.
 */
#ifndef ONEWINDOW_KUB_SIGN_H
#define ONEWINDOW_KUB_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define KUB_KEYID_LEN 8
#define KUB_PUB_LEN   32
#define KUB_ED_SIG    64

/* Make a key pair: <base>.key (PEM, mode 0600) and <base>.pub (raw).
 * Returns 0 and fills id, or -1 with errno. */
int kub_sign_keygen(const char *base, uint8_t id[KUB_KEYID_LEN]);

/* Sign msg with the PEM private key at path; writes the key id and the
 * 64-byte signature. Returns 0 or -1 with errno (EINVAL: not an Ed25519 key). */
int kub_sign_sign(const char *key_path, const uint8_t *msg, size_t len, uint8_t id[KUB_KEYID_LEN],
                  uint8_t sig[KUB_ED_SIG]);

/* Verify a signature block (n entries of id || sig) over msg against the
 * keyring directory. Returns 1 if a trusted key verified an entry, 0 if
 * none did (*unknown_key set when no entry's id is in the keyring), -1 with
 * errno when the keyring cannot be read. */
int kub_sign_verify(const char *keyring, const uint8_t *msg, size_t len, const uint8_t *sigs,
                    unsigned n, int *unknown_key);

/* The key id of a raw public key. */
void kub_sign_keyid(const uint8_t pub[KUB_PUB_LEN], uint8_t id[KUB_KEYID_LEN]);

/* One-shot SHA-256. */
void kub_sha256(const void *data, size_t len, uint8_t out[32]);

/* Streaming SHA-256 for files larger than memory. */
typedef struct kub_hash kub_hash;
kub_hash *kub_hash_new(void);
void kub_hash_update(kub_hash *h, const void *data, size_t len);
/* Finish into out; the hash may be reused after kub_hash_reset(). */
void kub_hash_final(kub_hash *h, uint8_t out[32]);
void kub_hash_reset(kub_hash *h);
void kub_hash_free(kub_hash *h);

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void kub_hex(const uint8_t *in, size_t n, char *out);

#endif
