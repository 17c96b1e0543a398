/*
 * seal — envelopes for a short secret (an ID number) that only the holder
 * of one private key can open: a kiosk seals with halld's public sealing
 * key, and the envelope waits in the kiosk's store until halld opens it.
 * Nothing on the sealing side can open what it sealed.
 *
 * ECIES with OpenSSL 3: a fresh X25519 key pair per envelope; X25519 of
 * its private half and the recipient's public key, through HKDF-SHA256
 * (salt: both public keys; info: "onewindow seal v1"), gives an
 * AES-256-GCM key and nonce used once. The header and a context string
 * chosen by the caller (kioskd and halld use the kiosk's device id) are
 * authenticated with the ciphertext, so an envelope moved to another
 * kiosk does not open. The plaintext is padded to a fixed size, so
 * envelopes of a 15- and an 18-character number look the same.
 *
 * The envelope, SEAL_LEN bytes:
 *
 *   offset  size
 *        0     1  version: 1
 *        1     8  key id: the first 8 bytes of SHA-256 of the recipient's
 *                 raw public key (which key opens it, after a rotation)
 *        9    32  the sender's one-time X25519 public key (raw)
 *       41    32  ciphertext of: plaintext length (1 byte), plaintext,
 *                 zeros up to 32 bytes
 *       73    16  GCM tag
 *
 * Keys are X25519 in PEM (PKCS#8 "PRIVATE KEY", SubjectPublicKeyInfo
 * "PUBLIC KEY"): a key pair of its own, never the TLS key. Nothing here
 * logs; errors are errno values with a sentence where a file is involved.
 */
#ifndef ONEWINDOW_SEAL_H
#define ONEWINDOW_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEAL_VERSION    1
#define SEAL_LEN        89 /* bytes of an envelope */
#define SEAL_PLAIN_MAX  31 /* bytes of plaintext an envelope carries at most */
#define SEAL_KEY_ID_LEN 8

typedef struct seal_key seal_key;

/* A new key pair. NULL with errno EIO (OpenSSL failed). */
seal_key *seal_key_new(void);

/* A key from PEM text pem[0..len): a private key (the key pair) when
 * private_part, else a public key, which must not be a private one (a
 * sealing side never holds the private key). NULL with errno EINVAL (not
 * such an X25519 key) and a sentence in err. */
seal_key *seal_key_from_pem(const char *pem, size_t len, bool private_part, char *err,
                            size_t errlen);
/* The same from the file at path (wiped from memory once read). NULL with
 * errno (the file's, e.g. ENOENT, or EINVAL) and a sentence in err naming
 * the file. */
seal_key *seal_key_read(const char *path, bool private_part, char *err, size_t errlen);

/* k as PEM text, NUL-terminated: its private key (k must hold one) or its
 * public key. Free with seal_pem_free(), which wipes it. NULL with errno
 * EINVAL or EIO. */
char *seal_key_pem(const seal_key *k, bool private_part);
void seal_pem_free(char *pem);

/* Whether k holds the private key (it can open). */
bool seal_key_is_private(const seal_key *k);
/* The key id envelopes sealed to k carry. */
void seal_key_id(const seal_key *k, uint8_t id[SEAL_KEY_ID_LEN]);

/* Wipes the private key. NULL is fine. */
void seal_key_free(seal_key *k);

/* Seal plain[0..len) (len <= SEAL_PLAIN_MAX) to the public key of to,
 * bound to context (a NUL-terminated string, "" allowed), into out. 0, or
 * -1 with errno EINVAL or EIO. */
int seal_wrap(const seal_key *to, const char *context, const void *plain, size_t len,
              uint8_t out[SEAL_LEN]);

/* Open an envelope with the private key k and the context it was sealed
 * with: the plaintext into plain (cap > SEAL_PLAIN_MAX: room for the
 * longest and a NUL after it). Returns the plaintext's length, or -1 with
 * errno:
 *   EINVAL   not an envelope: another length, an unknown version (or k
 *            holds no private key)
 *   ENOKEY   sealed to another key (its key id is not k's)
 *   EBADMSG  does not open: changed on the way, or another context
 *   EIO      OpenSSL failed
 * Intermediate secrets are wiped; plain is wiped on failure. */
int seal_open(const seal_key *k, const char *context, const uint8_t *sealed, size_t len,
              char *plain, size_t cap);

#endif
