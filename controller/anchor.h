/*
 * anchor — signed records of the event chain's head, kept outside the
 * database, so that a rewritten or shortened chain is found.
 *
 * The event chain (store.h) is hashed but not keyed: someone who can write
 * the database can edit a row and recompute every later hash, or delete
 * the newest rows, and the chain still verifies. An anchor is the head
 * (seq, hash) signed with the hall audit key, an Ed25519 key kept in a
 * file halld and hallctl read (never in the database), and appended as one
 * line to the anchors file next to the database (ANCHOR_FILE). halld
 * anchors every [audit] anchor_interval while the head moves and when it
 * stops; hallctl after each change it commits. `hallctl audit verify`
 * compares every anchor with the row of its seq: a different hash is a
 * rewrite, a missing row a truncation. Events after the last anchor are
 * covered by nothing yet: an anchor is a floor, never a ceiling, so one
 * lost to a crash between a commit and its anchor only lowers the floor.
 *
 * A line (at most ANCHOR_LINE_MAX bytes with its newline), fields in this
 * order, one space between them:
 *
 *   onewindow-anchor-v1 hall=ID seq=N hash=HEX64 at=MS by=WHO why=WHY
 *     key=HEX16 sig=HEX128
 *
 *   ID    the hall id, 1..64 of [A-Za-z0-9_-]
 *   N     the event's seq, 1..2^63-1, decimal without leading zeros
 *   HEX64 its chain hash, 64 lowercase hex digits
 *   MS    when the anchor was made, UTC ms on the hall clock, decimal
 *   WHO   halld or hallctl; WHY, with it: halld interval | halld stop |
 *         hallctl write | hallctl key
 *   HEX16 the key id: the first 8 bytes of SHA-256(raw public key)
 *   HEX128 the Ed25519 signature of every byte before " sig="
 *
 * Every field has one spelling, so a line is its own signed message. A
 * line that does not read exactly so is damaged; one whose signature does
 * not verify is forged (or edited); neither is trusted.
 *
 * Writers: a line is formatted whole, then written with one write() on a
 * descriptor opened O_APPEND (and O_NOFOLLOW), then fsync'd. On a local
 * file system appends of one short line by halld and hallctl at the same
 * time land whole, one after the other; their order in the file does not
 * matter (the reader takes the largest seq).
 *
 * Functions return -1 (NULL) with errno and a reason in err; none prints.
 */
#ifndef ONEWINDOW_ANCHOR_H
#define ONEWINDOW_ANCHOR_H

#include <stddef.h>
#include <stdint.h>

#define ANCHOR_FILE       "audit.anchors" /* next to the database */
#define ANCHOR_LINE_MAX   512             /* the longest line read, newline included */
#define ANCHOR_HALL_MAX   64
#define ANCHOR_HASH_LEN   32
#define ANCHOR_KEY_ID_LEN 8

typedef struct anchor_key anchor_key;

/* Who made an anchor, and why. */
typedef enum anchor_reason {
    ANCHOR_INTERVAL = 1, /* halld: the head moved within [audit] anchor_interval */
    ANCHOR_STOP,         /* halld: it stopped */
    ANCHOR_WRITE,        /* hallctl: after a change it committed */
    ANCHOR_NEW_KEY,      /* hallctl: the first anchor of a new audit key */
} anchor_reason;

typedef struct anchor {
    char hall_id[ANCHOR_HALL_MAX + 1];
    uint64_t seq;
    uint8_t hash[ANCHOR_HASH_LEN];
    int64_t at_ms;
    anchor_reason reason;
    uint8_t key_id[ANCHOR_KEY_ID_LEN]; /* set by anchor_format() */
} anchor;

/* What a line of the anchors file is. */
typedef enum anchor_verdict {
    ANCHOR_OK = 0,        /* well formed, signed by the key given */
    ANCHOR_DAMAGED,       /* not a line of the format above */
    ANCHOR_BAD_SIGNATURE, /* well formed, the key's id, a signature that does not verify */
    ANCHOR_OTHER_KEY,     /* well formed, the id of another key: cannot be checked */
} anchor_verdict;

/* Make a new audit key: an Ed25519 key written to path as PEM (PKCS#8),
 * mode 0600, with O_EXCL (an existing key is never replaced: EEXIST) and
 * synced. Returns the key, or NULL. */
anchor_key *anchor_key_create(const char *path, char *err, size_t errlen);
/* Read the audit key at path. Refused: a symbolic link (ELOOP), a file
 * that grants anything to group or others (EPERM: chmod 600 it), anything
 * but an unencrypted Ed25519 private key (EINVAL). ENOENT when there is
 * no file. */
anchor_key *anchor_key_load(const char *path, char *err, size_t errlen);
void anchor_key_free(anchor_key *k);
/* The key id in hex (16 digits), to show and compare. */
const char *anchor_key_id(const anchor_key *k);

/* path's directory + "/" ANCHOR_FILE. -1 (ENAMETOOLONG) if it does not
 * fit. */
int anchor_path(const char *store_path, char *out, size_t len);

/* The signed line for a (its key_id set from k), newline included, into
 * line. Returns its length, or -1 (EINVAL: a field out of range, ENOSPC:
 * cap too small, EIO: signing failed). */
int anchor_format(const anchor_key *k, anchor *a, char *line, size_t cap);
/* Read one line (len bytes, without its newline) into out and check it
 * with k. out is filled for every verdict but ANCHOR_DAMAGED. */
anchor_verdict anchor_parse(const anchor_key *k, const char *line, size_t len, anchor *out);

/* Sign a and append its line to the anchors file at path (created mode
 * 0600 if missing, its directory then synced). */
int anchor_write(const char *path, const anchor_key *k, anchor *a, char *err, size_t errlen);

/* Called for each line of the file, numbered from 1; a is NULL for a
 * damaged line. A non-zero return stops the reading. */
typedef int anchor_line_fn(void *arg, size_t line_no, anchor_verdict v, const anchor *a);
/* Read the anchors file at path (not a symbolic link, a regular file)
 * line by line, checking each with k. Returns 0 after the last line, the
 * callback's non-zero value, or -1 with errno (ENOENT: no file). */
int anchor_read(const char *path, const anchor_key *k, anchor_line_fn *fn, void *arg, char *err,
                size_t errlen);

/* "halld interval", "hallctl write"...; a verdict as a few words. */
const char *anchor_reason_name(anchor_reason r);
const char *anchor_verdict_name(anchor_verdict v);

#endif
