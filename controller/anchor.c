/*
 * anchor — see anchor.h. Parts: hex and the key (Ed25519 through OpenSSL
 * 3's one-shot EVP_DigestSign/Verify); the line, formatted and parsed
 * with a cursor that checks every byte against the one spelling of each
 * field; the file, appended and read with plain descriptors.
 */
#include "anchor.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ossl.h"

#define MAGIC     "onewindow-anchor-v1"
#define SIG_LEN   64 /* Ed25519 */
#define PUB_LEN   32
#define READ_SIZE 65536

struct anchor_key {
    EVP_PKEY *pkey;
    uint8_t id[ANCHOR_KEY_ID_LEN];
    char id_hex[2 * ANCHOR_KEY_ID_LEN + 1];
};

/* by= and why= of each reason, and both for people, in anchor_reason
 * order from 1. */
static const struct {
    const char *by, *why, *name;
} reasons[] = {
    [ANCHOR_INTERVAL] = {"halld", "interval", "halld interval"},
    [ANCHOR_STOP] = {"halld", "stop", "halld stop"},
    [ANCHOR_WRITE] = {"hallctl", "write", "hallctl write"},
    [ANCHOR_NEW_KEY] = {"hallctl", "key", "hallctl key"},
};
#define NREASONS (sizeof reasons / sizeof reasons[0])

static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    errno = e;
    return -1;
}

/* ==== Hex and the key ===================================================== */

static void to_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* One lowercase hex digit's value, -1 for anything else. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The key's id and its hex from its public half; -1 if it has none. */
static int set_id(anchor_key *k)
{
    uint8_t pub[PUB_LEN], digest[32];
    size_t plen = sizeof pub;
    unsigned int dlen = sizeof digest;

    if (EVP_PKEY_get_raw_public_key(k->pkey, pub, &plen) != 1 || plen != PUB_LEN ||
        EVP_Digest(pub, plen, digest, &dlen, EVP_sha256(), NULL) != 1)
        return -1;
    memcpy(k->id, digest, ANCHOR_KEY_ID_LEN);
    to_hex(k->id, ANCHOR_KEY_ID_LEN, k->id_hex);
    return 0;
}

static int sync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    int fd, rc;

    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if ((size_t)(slash - path) >= sizeof dir)
        return -1;
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

anchor_key *anchor_key_create(const char *path, char *err, size_t errlen)
{
    char why[128];
    anchor_key *k = calloc(1, sizeof *k);
    FILE *f = NULL;
    int fd = -1;

    if (k == NULL) {
        fail(err, errlen, ENOMEM, "out of memory");
        return NULL;
    }
    if ((k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL || set_id(k) < 0) {
        fail(err, errlen, EIO, "cannot make an Ed25519 key: %s", ossl_reason(why, sizeof why));
        goto fail;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail(err, errlen, errno, "cannot create audit key %s: %s", path, strerror(errno));
        goto fail;
    }
    if (fchmod(fd, 0600) < 0 || (f = fdopen(fd, "w")) == NULL) {
        fail(err, errlen, errno, "cannot write audit key %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        goto fail;
    }
    if (PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL) != 1 || fflush(f) != 0 ||
        fsync(fileno(f)) < 0) {
        int e = errno ? errno : EIO;
        fclose(f);
        unlink(path);
        fail(err, errlen, e, "cannot write audit key %s: %s", path, strerror(e));
        goto fail;
    }
    if (fclose(f) != 0 || sync_dir_of(path) < 0) {
        int e = errno;
        unlink(path);
        fail(err, errlen, e, "cannot write audit key %s: %s", path, strerror(e));
        goto fail;
    }
    return k;
fail:
    anchor_key_free(k);
    return NULL;
}

anchor_key *anchor_key_load(const char *path, char *err, size_t errlen)
{
    char why[128];
    struct stat st;
    anchor_key *k;
    FILE *f;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd < 0) {
        fail(err, errlen, errno, "cannot read audit key %s: %s", path,
             errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        fail(err, errlen, EINVAL, "audit key %s is not a regular file", path);
        return NULL;
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        fail(err, errlen, EPERM,
             "audit key %s is mode %04o: it must be readable by its owner only (chmod 600)", path,
             (unsigned)(st.st_mode & 07777));
        return NULL;
    }
    if ((f = fdopen(fd, "r")) == NULL) {
        int e = errno;
        close(fd);
        fail(err, errlen, e, "cannot read audit key %s: %s", path, strerror(e));
        return NULL;
    }
    if ((k = calloc(1, sizeof *k)) == NULL) {
        fclose(f);
        fail(err, errlen, ENOMEM, "out of memory");
        return NULL;
    }
    k->pkey = PEM_read_PrivateKey(f, NULL, ossl_no_password, NULL);
    fclose(f);
    if (k->pkey == NULL || EVP_PKEY_get_id(k->pkey) != EVP_PKEY_ED25519 || set_id(k) < 0) {
        fail(err, errlen, EINVAL, "audit key %s is not an unencrypted Ed25519 private key%s%s",
             path, k->pkey == NULL ? ": " : "",
             k->pkey == NULL ? ossl_reason(why, sizeof why) : "");
        anchor_key_free(k);
        return NULL;
    }
    return k;
}

void anchor_key_free(anchor_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

const char *anchor_key_id(const anchor_key *k)
{
    return k->id_hex;
}

int anchor_path(const char *store_path, char *out, size_t len)
{
    const char *slash = strrchr(store_path, '/');
    int n;

    if (slash == NULL)
        n = snprintf(out, len, "%s", ANCHOR_FILE);
    else
        n = snprintf(out, len, "%.*s/%s", (int)(slash - store_path), store_path, ANCHOR_FILE);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* ==== The line ============================================================ */

static bool hall_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static bool valid_hall(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > ANCHOR_HALL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!hall_char(id[i]))
            return false;
    return true;
}

int anchor_format(const anchor_key *k, anchor *a, char *line, size_t cap)
{
    char hash[2 * ANCHOR_HASH_LEN + 1], sig_hex[2 * SIG_LEN + 1];
    uint8_t sig[SIG_LEN];
    size_t sig_len = sizeof sig;

    if (!valid_hall(a->hall_id) || a->seq == 0 || a->seq > INT64_MAX || a->at_ms < 0 ||
        a->reason < ANCHOR_INTERVAL || (size_t)a->reason >= NREASONS) {
        errno = EINVAL;
        return -1;
    }
    memcpy(a->key_id, k->id, ANCHOR_KEY_ID_LEN);
    to_hex(a->hash, ANCHOR_HASH_LEN, hash);
    int n = snprintf(line, cap,
                     MAGIC " hall=%s seq=%" PRIu64 " hash=%s at=%" PRId64 " by=%s why=%s key=%s",
                     a->hall_id, a->seq, hash, a->at_ms, reasons[a->reason].by,
                     reasons[a->reason].why, k->id_hex);
    /* The signature, " sig=" and the newline must fit after it. */
    if (n < 0 || (size_t)n + 5 + 2 * SIG_LEN + 2 > cap) {
        errno = ENOSPC;
        return -1;
    }
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    bool ok = mc != NULL && EVP_DigestSignInit(mc, NULL, NULL, NULL, k->pkey) == 1 &&
              EVP_DigestSign(mc, sig, &sig_len, (const uint8_t *)line, (size_t)n) == 1 &&
              sig_len == SIG_LEN;
    EVP_MD_CTX_free(mc);
    if (!ok) {
        errno = EIO;
        return -1;
    }
    to_hex(sig, SIG_LEN, sig_hex);
    return n + snprintf(line + n, cap - (size_t)n, " sig=%s\n", sig_hex);
}

/* A cursor over a line: every reader takes exactly its field or fails. */
struct cursor {
    const char *p, *end;
};

static bool take(struct cursor *c, const char *text)
{
    size_t n = strlen(text);

    if ((size_t)(c->end - c->p) < n || memcmp(c->p, text, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* 1..max bytes up to the next space or the end, each passing ok. */
static bool take_word(struct cursor *c, bool (*ok)(char), size_t max, const char **word,
                      size_t *len)
{
    const char *start = c->p;

    while (c->p < c->end && *c->p != ' ') {
        if (!ok(*c->p) || (size_t)(c->p - start) == max)
            return false;
        c->p++;
    }
    *word = start;
    *len = (size_t)(c->p - start);
    return *len > 0;
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool lower_alpha(char c)
{
    return c >= 'a' && c <= 'z';
}

/* A decimal number up to max, without leading zeros. */
static bool take_number(struct cursor *c, uint64_t max, uint64_t *out)
{
    const char *w;
    size_t n;
    uint64_t v = 0;

    if (!take_word(c, digit, 20, &w, &n) || (n > 1 && w[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        uint64_t d = (uint64_t)(w[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Exactly 2 * n lowercase hex digits. */
static bool take_hex(struct cursor *c, uint8_t *out, size_t n)
{
    if ((size_t)(c->end - c->p) < 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(c->p[2 * i]), lo = hex_value(c->p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    c->p += 2 * n;
    return true;
}

/* by= and why=, as a reason; 0 if the pair is not one of them. */
static anchor_reason take_reason(struct cursor *c)
{
    const char *by, *why;
    size_t nby, nwhy;

    if (!take(c, " by=") || !take_word(c, lower_alpha, 16, &by, &nby) || !take(c, " why=") ||
        !take_word(c, lower_alpha, 16, &why, &nwhy))
        return 0;
    for (size_t r = ANCHOR_INTERVAL; r < NREASONS; r++)
        if (strlen(reasons[r].by) == nby && memcmp(reasons[r].by, by, nby) == 0 &&
            strlen(reasons[r].why) == nwhy && memcmp(reasons[r].why, why, nwhy) == 0)
            return (anchor_reason)r;
    return 0;
}

anchor_verdict anchor_parse(const anchor_key *k, const char *line, size_t len, anchor *out)
{
    struct cursor c = {line, line + len};
    uint8_t sig[SIG_LEN];
    uint64_t at;
    const char *hall;
    size_t hall_len;

    memset(out, 0, sizeof *out);
    if (len >= ANCHOR_LINE_MAX || !take(&c, MAGIC " hall=") ||
        !take_word(&c, hall_char, ANCHOR_HALL_MAX, &hall, &hall_len) || !take(&c, " seq=") ||
        !take_number(&c, INT64_MAX, &out->seq) || out->seq == 0 || !take(&c, " hash=") ||
        !take_hex(&c, out->hash, ANCHOR_HASH_LEN) || !take(&c, " at=") ||
        !take_number(&c, INT64_MAX, &at) || (out->reason = take_reason(&c)) == 0 ||
        !take(&c, " key=") || !take_hex(&c, out->key_id, ANCHOR_KEY_ID_LEN))
        return ANCHOR_DAMAGED;
    size_t signed_len = (size_t)(c.p - line);
    if (!take(&c, " sig=") || !take_hex(&c, sig, SIG_LEN) || c.p != c.end)
        return ANCHOR_DAMAGED;
    memcpy(out->hall_id, hall, hall_len);
    out->hall_id[hall_len] = '\0';
    out->at_ms = (int64_t)at;
    if (memcmp(out->key_id, k->id, ANCHOR_KEY_ID_LEN) != 0)
        return ANCHOR_OTHER_KEY;
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    bool ok = mc != NULL && EVP_DigestVerifyInit(mc, NULL, NULL, NULL, k->pkey) == 1 &&
              EVP_DigestVerify(mc, sig, SIG_LEN, (const uint8_t *)line, signed_len) == 1;
    EVP_MD_CTX_free(mc);
    return ok ? ANCHOR_OK : ANCHOR_BAD_SIGNATURE;
}

/* ==== The file ============================================================ */

/* The anchors file for appending: opened as it is, or created mode 0600
 * (*created set) when missing. */
static int open_for_append(const char *path, bool *created, char *err, size_t errlen)
{
    const int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    struct stat st;
    int fd;

    *created = false;
    for (;;) {
        if ((fd = open(path, flags)) >= 0 || errno != ENOENT)
            break;
        if ((fd = open(path, flags | O_CREAT | O_EXCL, 0600)) >= 0) {
            *created = true;
            break;
        }
        if (errno != EEXIST) /* EEXIST: another writer made it first */
            break;
    }
    if (fd < 0)
        return fail(err, errlen, errno, "cannot open %s: %s", path,
                    errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, EINVAL, "%s is not a regular file", path);
    }
    return fd;
}

int anchor_write(const char *path, const anchor_key *k, anchor *a, char *err, size_t errlen)
{
    char line[ANCHOR_LINE_MAX];
    bool created;
    int len = anchor_format(k, a, line, sizeof line);

    if (len < 0)
        return fail(err, errlen, errno, "cannot make the anchor of event %" PRIu64 ": %s", a->seq,
                    strerror(errno));
    int fd = open_for_append(path, &created, err, errlen);
    if (fd < 0)
        return -1;
    /* One write(): the line lands whole or, on a full disk, short. */
    ssize_t n = write(fd, line, (size_t)len);
    int e = n < 0 ? errno : ENOSPC;
    if (n != len) {
        close(fd);
        return fail(err, errlen, e, "cannot append to %s: %s", path, strerror(e));
    }
    if (fsync(fd) < 0 || (created && sync_dir_of(path) < 0)) {
        e = errno;
        close(fd);
        return fail(err, errlen, e, "cannot sync %s: %s", path, strerror(e));
    }
    if (close(fd) < 0)
        return fail(err, errlen, errno, "cannot append to %s: %s", path, strerror(errno));
    return 0;
}

/* One line read (len bytes, or too long), handed to fn. */
static int deliver(const anchor_key *k, const char *line, size_t len, bool too_long, size_t line_no,
                   anchor_line_fn *fn, void *arg)
{
    anchor a;
    anchor_verdict v = too_long ? ANCHOR_DAMAGED : anchor_parse(k, line, len, &a);

    return fn(arg, line_no, v, v == ANCHOR_DAMAGED ? NULL : &a);
}

int anchor_read(const char *path, const anchor_key *k, anchor_line_fn *fn, void *arg, char *err,
                size_t errlen)
{
    char *chunk = malloc(READ_SIZE);
    char line[ANCHOR_LINE_MAX];
    size_t len = 0, line_no = 0;
    bool too_long = false;
    struct stat st;
    int rc = 0;

    if (chunk == NULL)
        return fail(err, errlen, ENOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(chunk);
        return fail(err, errlen, e, "cannot read %s: %s", path,
                    e == ELOOP ? "it is a symbolic link" : strerror(e));
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        free(chunk);
        return fail(err, errlen, EINVAL, "%s is not a regular file", path);
    }
    for (;;) {
        ssize_t n = read(fd, chunk, READ_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fail(err, errlen, errno, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0) {
            /* A last line without its newline is read as it stands. */
            if (len > 0 || too_long)
                rc = deliver(k, line, len, too_long, ++line_no, fn, arg);
            break;
        }
        for (ssize_t i = 0; i < n && rc == 0; i++) {
            if (chunk[i] == '\n') {
                rc = deliver(k, line, len, too_long, ++line_no, fn, arg);
                len = 0;
                too_long = false;
            } else if (len < sizeof line) {
                line[len++] = chunk[i];
            } else {
                too_long = true;
            }
        }
        if (rc != 0)
            break;
    }
    close(fd);
    free(chunk);
    return rc;
}

const char *anchor_reason_name(anchor_reason r)
{
    return r >= ANCHOR_INTERVAL && (size_t)r < NREASONS ? reasons[r].name : "?";
}

const char *anchor_verdict_name(anchor_verdict v)
{
    switch (v) {
    case ANCHOR_OK:
        return "signed by the hall audit key";
    case ANCHOR_DAMAGED:
        return "damaged: not an anchor line";
    case ANCHOR_BAD_SIGNATURE:
        return "bad signature: forged, or changed after it was signed";
    case ANCHOR_OTHER_KEY:
        return "signed by another key: cannot be checked";
    }
    return "?";
}
