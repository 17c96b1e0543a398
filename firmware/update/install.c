/*
 * install — the install state machine, its journal and its recovery (the
 * diagram is in install.h). Divisions: crash points; bundle reading and
 * verification; the steps; recovery.
 *
 * Nothing is written to a slot before the whole bundle has been copied to
 * local storage and verified (signature, policy, every image and chunk
 * hash); each chunk is checked again against the signed table as it is
 * written, and the written slot is re-read before it is sealed.
 */
#include "install.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "audit.h"
#include "kub_sign.h"
#include "slots.h"

#define COPY_BUF   (64 * 1024)
#define CHUNKS_MAX (8u * 1024 * 1024) /* largest chunk table accepted */

/* ---- crash points (test hook) ---------------------------------------------- */

static const char *const crash_points[] = {"fetch",
                                           "fetched",
                                           "verified",
                                           "prepare-journal",
                                           "prepare-boot",
                                           "prepare-status",
                                           "write-chunk",
                                           "written",
                                           "checked",
                                           "sealed-status",
                                           "sealed-journal",
                                           "activated-boot",
                                           "activated-journal",
                                           NULL};

const char *const *install_crash_points(void)
{
    return crash_points;
}

int install_crash_env_ok(void)
{
    const char *want = getenv("KUPD_CRASH_AT");

    if (want == NULL || *want == '\0' || strcmp(want, INSTALL_CRASH_CONFIRMED) == 0)
        return 0;
    for (int i = 0; crash_points[i] != NULL; i++)
        if (strcmp(crash_points[i], want) == 0)
            return 0;
    errno = EINVAL;
    return -1;
}

/* Die here if the test hook names this point: _exit skips every cleanup,
 * as a power cut would (the page cache survives, see docs/update.md). */
void install_crash_point(const char *name)
{
    const char *want = getenv("KUPD_CRASH_AT");

    if (want != NULL && strcmp(want, name) == 0)
        _exit(99);
}

/* ---- helpers --------------------------------------------------------------- */

static void say(struct install_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(struct install_result *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

static void progress(const struct install_opts *o, const char *phase, int pct, const char *msg)
{
    if (o->progress != NULL)
        o->progress(o->arg, phase, pct, msg);
}

/* Read exactly len bytes at off. 0, or -1 (errno; EBADMSG on a short file). */
static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EBADMSG;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_text(const char *root, const char *rel, char *buf, size_t cap)
{
    char p[4096];
    FILE *f;
    size_t n;

    if (slots_path(p, sizeof p, root, rel) == NULL || (f = fopen(p, "re")) == NULL)
        return -1;
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return 0;
}

static const char *const phase_names[] = {"", "prepare", "write", "check", "sealed", "activated"};

/* Record the next phase. The journal only moves forward one phase at a
 * time, as install.h draws it: *cur is the phase on disk. */
static int journal_write(const char *root, enum install_phase *cur, enum install_phase next,
                         char target, const char *bundle, const char *version)
{
    struct slots_kv kv = {0};
    char p[4096];

    assert(next == *cur + 1);
    assert(target == 'a' || target == 'b');
    if (slots_kv_set(&kv, "phase", "%s", phase_names[next]) < 0 ||
        slots_kv_set(&kv, "target", "%c", target) < 0 ||
        slots_kv_set(&kv, "bundle", "%s", bundle) < 0 ||
        slots_kv_set(&kv, "version", "%s", version) < 0 ||
        slots_path(p, sizeof p, root, "state/journal") == NULL || slots_kv_write(p, &kv) < 0)
        return -1;
    *cur = next;
    return 0;
}

static int journal_remove(const char *root)
{
    char p[4096];

    if (slots_path(p, sizeof p, root, "state/journal") == NULL)
        return -1;
    if (unlink(p) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

static char *slot_file(char *buf, size_t cap, const char *root, char slot, const char *image)
{
    char rel[96];

    snprintf(rel, sizeof rel, "slots/%c/%s.img", slot, image);
    return slots_path(buf, cap, root, rel);
}

/* Remove every file of a slot directory, so no image of an older bundle
 * outlives the new one. */
static int slot_clear(const char *root, char slot)
{
    char p[4096], rel[16];
    DIR *d;
    struct dirent *e;

    snprintf(rel, sizeof rel, "slots/%c", slot);
    if (slots_path(p, sizeof p, root, rel) == NULL)
        return -1;
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return -1;
    d = opendir(p);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    return 0;
}

/* SHA-256 of a whole file; 0 or -1. */
static int hash_file(const char *path, uint8_t out[32])
{
    uint8_t *buf = malloc(COPY_BUF);
    kub_hash *h = kub_hash_new();
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
    ssize_t n;

    if (buf == NULL || h == NULL || fd < 0)
        goto out;
    while ((n = read(fd, buf, COPY_BUF)) > 0)
        kub_hash_update(h, buf, (size_t)n);
    if (n == 0) {
        kub_hash_final(h, out);
        rc = 0;
    }
out:
    if (fd >= 0)
        close(fd);
    kub_hash_free(h);
    free(buf);
    return rc;
}

/* Does every image of a sealed slot still match its recorded hash? */
static int slot_matches(const char *root, char slot, const struct slots_status *st)
{
    char p[4096], hexd[65];
    uint8_t d[32];

    if (strcmp(st->status, "ok") != 0 || st->n_images == 0)
        return 0;
    for (int i = 0; i < st->n_images; i++) {
        if (slot_file(p, sizeof p, root, slot, st->image[i]) == NULL || hash_file(p, d) < 0)
            return 0;
        kub_hex(d, 32, hexd);
        if (strcmp(hexd, st->sha256[i]) != 0)
            return 0;
    }
    return 1;
}

/* ---- the verified bundle -------------------------------------------------- */

struct bundle {
    int fd;
    struct kub_header h;
    struct kub_manifest m;
};

/* Read the chunk table of image i and check it against the manifest.
 * Returns a malloc'd table or NULL (errno EBADMSG on a mismatch). */
static uint8_t *load_chunks(const struct bundle *b, unsigned i)
{
    const struct kub_image *img = &b->m.image[i];
    uint8_t d[32], *t;

    if (img->chunks_size > CHUNKS_MAX) {
        errno = EFBIG;
        return NULL;
    }
    t = calloc(1, img->chunks_size);
    if (t == NULL)
        return NULL;
    if (pread_all(b->fd, t, img->chunks_size, img->chunks_offset) < 0)
        goto fail;
    kub_sha256(t, img->chunks_size, d);
    if (memcmp(d, img->chunks_sha256, 32) != 0) {
        errno = EBADMSG;
        goto fail;
    }
    return t;
fail:
    free(t);
    return NULL;
}

/* The signed prefix of a bundle (header, manifest, signatures; the header
 * already parsed into h) and the size of its file: signature, manifest,
 * lengths, model, updater level and floor. Nothing beyond the prefix is
 * needed, so a bundle is judged before its payload is read. */
static int check_prefix(const char *root, const uint8_t *prefix, const struct kub_header *h,
                        uint64_t file_size, struct kub_manifest *m, char *msg, size_t n)
{
    char keyring[4096], compat[160];
    const char *why = NULL;
    uint64_t floor, end;
    int unknown = 0, ok;

    if (slots_path(keyring, sizeof keyring, root, "etc/kupd/keys") == NULL)
        return -1;
    ok = kub_sign_verify(keyring, prefix, KUB_HDR_LEN + h->manifest_len,
                         prefix + KUB_HDR_LEN + h->manifest_len, h->sig_count, &unknown);
    if (ok < 0) {
        snprintf(msg, n, "The kiosk's trusted keys could not be read.");
        return -1;
    }
    if (!ok) {
        snprintf(msg, n,
                 unknown ? "The bundle is signed by a key this kiosk does not trust."
                         : "The bundle's signature does not match its contents "
                           "(tampered manifest or signature).");
        return -1;
    }
    /* Only signed bytes are parsed beyond the header. */
    if (kub_parse_manifest((const char *)prefix + KUB_HDR_LEN, h->manifest_len, h, m, &why) < 0) {
        snprintf(msg, n, "%s", why);
        return -1;
    }
    end = kub_payload_end(m);
    if (end != h->total_len) {
        snprintf(msg, n,
                 "The bundle's header claims %" PRIu64 " bytes, but its manifest describes %" PRIu64
                 "; nothing was changed.",
                 h->total_len, end);
        return -1;
    }
    if (file_size < h->total_len) {
        snprintf(msg, n,
                 "The bundle holds %" PRIu64 " of its %" PRIu64
                 " bytes: the USB stick was removed or the file is incomplete; nothing was "
                 "changed.",
                 file_size, h->total_len);
        return -1;
    }
    if (file_size > h->total_len) {
        snprintf(msg, n, "The bundle is longer than its header says; nothing was changed.");
        return -1;
    }
    if (read_text(root, "etc/kupd/compatible", compat, sizeof compat) < 0) {
        snprintf(msg, n, "This kiosk has no model string (etc/kupd/compatible).");
        return -1;
    }
    if (strcmp(compat, m->compatible) != 0) {
        snprintf(msg, n, "The bundle is for \"%s\", but this kiosk is \"%s\".", m->compatible,
                 compat);
        return -1;
    }
    if (m->min_updater > KUB_UPDATER) {
        snprintf(msg, n, "The bundle needs a newer updater (level %u).", m->min_updater);
        return -1;
    }
    if (slots_floor_read(root, &floor) < 0) {
        snprintf(msg, n, "The anti-rollback floor could not be read.");
        return -1;
    }
    if (m->security_version < floor) {
        snprintf(msg, n,
                 "The bundle's security version %" PRIu64 " is below this kiosk's floor %" PRIu64
                 ": downgrades past a security fix are refused.",
                 m->security_version, floor);
        return -1;
    }
    return 0;
}

/* Header, signature, manifest and policy of the local bundle on b->fd. */
static int check_file(const char *root, struct bundle *b, uint64_t file_size, char *msg, size_t n)
{
    uint8_t hdr[KUB_HDR_LEN], *prefix;
    const char *why = NULL;
    size_t plen;
    int rc;

    if (pread_all(b->fd, hdr, sizeof hdr, 0) < 0) {
        snprintf(msg, n, "The bundle is truncated: it is shorter than its header.");
        return -1;
    }
    if (kub_parse_header(hdr, sizeof hdr, &b->h, &why) < 0) {
        snprintf(msg, n, "%s", why);
        return -1;
    }
    plen = kub_prefix_len(&b->h);
    prefix = malloc(plen);
    if (prefix == NULL || pread_all(b->fd, prefix, plen, 0) < 0) {
        free(prefix);
        snprintf(msg, n, "The bundle could not be read.");
        return -1;
    }
    rc = check_prefix(root, prefix, &b->h, file_size, &b->m, msg, n);
    free(prefix);
    return rc;
}

/* Every image byte against the signed chunk table and image hash. */
static int check_payload(const struct install_opts *o, struct bundle *b, char *msg, size_t n)
{
    uint8_t *buf = NULL;
    kub_hash *whole = kub_hash_new();
    uint64_t total = 0, done = 0;
    int rc = -1;

    for (unsigned i = 0; i < b->m.n_images; i++)
        total += b->m.image[i].size;
    for (unsigned i = 0; whole != NULL && i < b->m.n_images; i++) {
        const struct kub_image *img = &b->m.image[i];
        uint8_t *table = load_chunks(b, i), d[32];
        uint8_t *nbuf = realloc(buf, img->chunk_size);

        if (nbuf != NULL)
            buf = nbuf;
        if (table == NULL || nbuf == NULL) {
            free(table);
            snprintf(msg, n, "The chunk table of image %s is damaged (tampered payload).",
                     img->name);
            goto out;
        }
        kub_hash_reset(whole);
        for (uint64_t c = 0; c < kub_chunk_count(img); c++) {
            uint64_t off = c * img->chunk_size;
            size_t len =
                (size_t)(img->size - off < img->chunk_size ? img->size - off : img->chunk_size);
            if (pread_all(b->fd, buf, len, img->offset + off) < 0) {
                free(table);
                snprintf(msg, n, "The bundle could not be read.");
                goto out;
            }
            kub_sha256(buf, len, d);
            kub_hash_update(whole, buf, len);
            if (memcmp(d, table + c * 32, 32) != 0) {
                free(table);
                snprintf(msg, n,
                         "Image %s does not match its signed hash at chunk %" PRIu64
                         " (tampered payload).",
                         img->name, c);
                goto out;
            }
            done += len;
            progress(o, "verify", (int)(20 + 20 * done / total), "Checking the update");
        }
        free(table);
        kub_hash_final(whole, d);
        if (memcmp(d, img->sha256, 32) != 0) {
            snprintf(msg, n, "Image %s does not match its signed hash (tampered payload).",
                     img->name);
            goto out;
        }
    }
    rc = whole != NULL ? 0 : -1;
    if (rc < 0)
        snprintf(msg, n, "Out of memory while checking the bundle.");
out:
    kub_hash_free(whole);
    free(buf);
    return rc;
}

int install_verify_file(const char *root, const char *path, struct kub_manifest *m, char *msg,
                        size_t msg_len)
{
    struct install_opts o = {.root = root};
    struct bundle b = {.fd = open(path, O_RDONLY | O_CLOEXEC)};
    struct stat sb;
    int rc = -1;

    if (b.fd < 0 || fstat(b.fd, &sb) < 0) {
        snprintf(msg, msg_len, "The bundle cannot be opened.");
        goto out;
    }
    if (check_file(root, &b, (uint64_t)sb.st_size, msg, msg_len) < 0 ||
        check_payload(&o, &b, msg, msg_len) < 0)
        goto out;
    *m = b.m;
    rc = 0;
out:
    if (b.fd >= 0)
        close(b.fd);
    return rc;
}

/* ---- the steps ------------------------------------------------------------- */

/* A bundle on the stick as INSPECT judged it: the signed prefix exactly as
 * verified (FETCH writes these bytes, not a second reading of them). */
struct candidate {
    uint8_t *prefix;
    size_t prefix_len;
    struct kub_header h;
    struct kub_manifest m;
    uint64_t size; /* of the file on the stick */
};

/* Why a read from the stick failed (errno from stick_read). */
static void stick_failed(char *msg, size_t n)
{
    if (errno == ETIMEDOUT)
        snprintf(msg, n,
                 "The USB stick did not answer within %d seconds: it is failing or was pulled; "
                 "nothing was changed.",
                 STICK_DEADLINE_MS / 1000);
    else
        snprintf(msg, n,
                 "Reading the bundle failed (%s): the USB stick was removed or is damaged; "
                 "nothing was changed.",
                 strerror(errno));
}

/* The version policy against the running slot. */
static int check_version(const struct install_opts *o, const struct kub_manifest *m, char running,
                         char *msg, size_t n)
{
    struct slots_status cur;
    int c;

    if (running == 0 || slots_status_read(o->root, running, &cur) < 0 ||
        strcmp(cur.status, "ok") != 0)
        return 0;
    c = kub_version_cmp(m->version, cur.version);
    if (c == 0 && !o->force) {
        snprintf(msg, n, "Version %s is already running; use --force to install it again.",
                 cur.version);
        return -1;
    }
    if (c < 0 && !o->allow_downgrade) {
        snprintf(msg, n,
                 "Version %s is older than the running %s; use --allow-downgrade to install it.",
                 m->version, cur.version);
        return -1;
    }
    return 0;
}

/* INSPECT: the header and the signed prefix of one bundle on the stick,
 * then signature, manifest, lengths and policy. At most the prefix (about
 * 64 KiB) is read. Returns 0 with c filled, or -1 with msg. */
static int inspect(const struct install_opts *o, const char *name, char running,
                   struct candidate *c, char *msg, size_t n)
{
    uint8_t hdr[KUB_HDR_LEN];
    const char *why = NULL;
    ssize_t got;

    free(c->prefix);
    memset(c, 0, sizeof *c);
    if (stick_open_file(o->stick, name, &c->size, msg, n) < 0)
        return -1;
    got = stick_read(o->stick, hdr, sizeof hdr, 0);
    if (got >= 0 && got < KUB_HDR_LEN) {
        snprintf(msg, n,
                 "The bundle ended after %zd bytes: the USB stick was removed or the file is "
                 "incomplete; nothing was changed.",
                 got);
        return -1;
    }
    if (got < 0) {
        stick_failed(msg, n);
        return -1;
    }
    if (kub_parse_header(hdr, sizeof hdr, &c->h, &why) < 0) {
        snprintf(msg, n, "%s", why);
        return -1;
    }
    c->prefix_len = kub_prefix_len(&c->h);
    c->prefix = malloc(c->prefix_len);
    if (c->prefix == NULL) {
        snprintf(msg, n, "Out of memory.");
        return -1;
    }
    memcpy(c->prefix, hdr, KUB_HDR_LEN);
    got = stick_read(o->stick, c->prefix + KUB_HDR_LEN, c->prefix_len - KUB_HDR_LEN, KUB_HDR_LEN);
    if (got < 0) {
        stick_failed(msg, n);
        return -1;
    }
    if ((size_t)got < c->prefix_len - KUB_HDR_LEN) {
        snprintf(msg, n,
                 "The bundle ended after %zu bytes: the USB stick was removed or the file is "
                 "incomplete; nothing was changed.",
                 KUB_HDR_LEN + (size_t)got);
        return -1;
    }
    if (check_prefix(o->root, c->prefix, &c->h, c->size, &c->m, msg, n) < 0)
        return -1;
    return check_version(o, &c->m, running, msg, n);
}

/* The bundle to install: the candidates from the last in name order, the
 * first that passes INSPECT (see install.h). */
static int choose(const struct install_opts *o, char running, struct candidate *c,
                  struct install_result *r)
{
    char why[sizeof r->message];

    if (o->n_names == 0) {
        say(r, "No bundle file that kupd may read was found; nothing was changed.");
        return -1;
    }
    for (unsigned i = o->n_names; i-- > 0;) {
        snprintf(r->name, sizeof r->name, "%s", o->names[i]);
        if (inspect(o, o->names[i], running, c, why, sizeof why) == 0)
            return 0;
        if (o->n_names == 1 || !stick_alive(o->stick)) {
            say(r, "%s", why);
            return -1;
        }
        if (o->skipped != NULL)
            o->skipped(o->arg, o->names[i], why);
    }
    r->name[0] = '\0';
    say(r, "None of the %u bundles on the USB stick may be installed; nothing was changed.",
        o->n_names);
    return -1;
}

/* Is there room for the copy? Judged before a byte of payload is read. */
static int check_space(const struct install_opts *o, const struct candidate *c,
                       struct install_result *r)
{
    struct statvfs sv;
    char p[4096];
    uint64_t avail;

    if (slots_path(p, sizeof p, o->root, "incoming") == NULL || statvfs(p, &sv) < 0) {
        say(r, "The kiosk's incoming folder cannot be examined (%s).", strerror(errno));
        return -1;
    }
    avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    if (avail < c->h.total_len) {
        say(r,
            "There is not enough free space on the kiosk to copy the bundle (%" PRIu64
            " MiB needed, %" PRIu64 " MiB free); nothing was changed.",
            c->h.total_len >> 20, avail >> 20);
        return -1;
    }
    return 0;
}

/* Write copied bytes to local storage; a full disk is said as such. */
static int keep(int fd, const void *data, size_t len, struct install_result *r)
{
    if (write_all(fd, data, len) == 0)
        return 0;
    say(r,
        errno == ENOSPC || errno == EFBIG || errno == EDQUOT
            ? "There is not enough free space on the kiosk to copy the bundle; "
              "nothing was changed."
            : "Copying the bundle failed (%s); nothing was changed.",
        strerror(errno));
    return -1;
}

/* FETCH: the verified prefix, then the rest of the bundle from the stick,
 * into incoming/bundle.part, hashing it; then renamed to bundle.kub. Every
 * read has the stick's deadline; a source that ends early was pulled. */
static int fetch(const struct install_opts *o, const struct candidate *c, struct install_result *r,
                 char *dst, size_t dcap)
{
    char part[4096];
    uint8_t *buf = malloc(COPY_BUF), d[32];
    kub_hash *h = kub_hash_new();
    uint64_t got = c->prefix_len;
    ssize_t n;
    int out = -1, rc = -1;

    if (buf == NULL || h == NULL ||
        slots_path(part, sizeof part, o->root, "incoming/bundle.part") == NULL ||
        slots_path(dst, dcap, o->root, "incoming/bundle.kub") == NULL) {
        say(r, "Out of memory.");
        goto out;
    }
    out = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        say(r, "The bundle cannot be copied to local storage: %s.", strerror(errno));
        goto out;
    }
    progress(o, "copy", 0, "Copying - keep the USB stick inserted");
    kub_hash_update(h, c->prefix, c->prefix_len);
    if (keep(out, c->prefix, c->prefix_len, r) < 0)
        goto out;
    while (got < c->h.total_len) {
        uint64_t left = c->h.total_len - got;

        n = stick_read(o->stick, buf, left < COPY_BUF ? (size_t)left : COPY_BUF, got);
        if (n < 0) {
            stick_failed(r->message, sizeof r->message);
            goto out;
        }
        if (n == 0) {
            say(r,
                "The bundle ended after %" PRIu64 " bytes: the USB stick was removed or the "
                "file is incomplete; nothing was changed.",
                got);
            goto out;
        }
        if (keep(out, buf, (size_t)n, r) < 0)
            goto out;
        kub_hash_update(h, buf, (size_t)n);
        got += (uint64_t)n;
        progress(o, "copy", (int)(20 * got / c->h.total_len),
                 "Copying - keep the USB stick inserted");
        install_crash_point("fetch");
    }
    n = stick_read(o->stick, buf, 1, got);
    if (n != 0) {
        if (n < 0)
            stick_failed(r->message, sizeof r->message);
        else
            say(r, "The bundle is longer than its header says; nothing was changed.");
        goto out;
    }
    if (fsync(out) < 0) {
        say(r, "Copying the bundle failed (%s); nothing was changed.", strerror(errno));
        goto out;
    }
    close(out);
    out = -1;
    if (rename(part, dst) < 0) {
        say(r, "The copied bundle could not be kept: %s.", strerror(errno));
        goto out;
    }
    kub_hash_final(h, d);
    kub_hex(d, 32, r->bundle);
    install_crash_point("fetched");
    progress(o, "copied", 20, "Copy finished: the USB stick is no longer read");
    rc = 0;
out:
    if (out >= 0)
        close(out);
    if (rc < 0)
        unlink(part);
    kub_hash_free(h);
    free(buf);
    return rc;
}

/* WRITE: each chunk is hashed and compared with the signed table right
 * before it is written, so bytes changed on disk since VERIFY never land. */
static int write_images(const struct install_opts *o, const struct bundle *b, char target,
                        struct install_result *r)
{
    uint64_t total = 0, done = 0;
    uint8_t *buf = NULL, d[32];
    char p[4096];
    int first = 1;

    for (unsigned i = 0; i < b->m.n_images; i++)
        total += b->m.image[i].size;
    for (unsigned i = 0; i < b->m.n_images; i++) {
        const struct kub_image *img = &b->m.image[i];
        uint8_t *table = load_chunks(b, i), *nbuf = realloc(buf, img->chunk_size);
        int fd;

        if (nbuf != NULL)
            buf = nbuf;
        if (table == NULL || nbuf == NULL ||
            slot_file(p, sizeof p, o->root, target, img->name) == NULL ||
            (fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
            free(table);
            free(buf);
            say(r, "Slot %c could not be written (%s).", target, strerror(errno));
            return -1;
        }
        for (uint64_t c = 0; c < kub_chunk_count(img); c++) {
            uint64_t off = c * img->chunk_size;
            size_t len =
                (size_t)(img->size - off < img->chunk_size ? img->size - off : img->chunk_size);
            if (pread_all(b->fd, buf, len, img->offset + off) < 0) {
                say(r, "The local copy of the bundle could not be read.");
                goto fail;
            }
            kub_sha256(buf, len, d);
            if (memcmp(d, table + c * 32, 32) != 0) {
                say(r, "Image %s changed on disk after it was checked (chunk %" PRIu64 ").",
                    img->name, c);
                goto fail;
            }
            if (write_all(fd, buf, len) < 0) {
                say(r,
                    errno == ENOSPC ? "There is not enough free space in slot %c."
                                    : "Writing slot %c failed.",
                    target);
                goto fail;
            }
            if (first) {
                first = 0;
                install_crash_point("write-chunk");
            }
            done += len;
            progress(o, "write", (int)(40 + 40 * done / total), "Installing the update");
            continue;
        fail:
            close(fd);
            free(table);
            free(buf);
            return -1;
        }
        free(table);
        if (fsync(fd) < 0 || close(fd) < 0) {
            free(buf);
            say(r, "Writing slot %c failed (%s).", target, strerror(errno));
            return -1;
        }
    }
    free(buf);
    return 0;
}

/* CHECK: re-read what was written and compare the whole-image hashes. */
static int check_images(const struct install_opts *o, const struct bundle *b, char target,
                        struct slots_status *st, struct install_result *r)
{
    char p[4096];
    uint8_t d[32];

    st->n_images = (int)b->m.n_images;
    for (unsigned i = 0; i < b->m.n_images; i++) {
        const struct kub_image *img = &b->m.image[i];
        if (slot_file(p, sizeof p, o->root, target, img->name) == NULL || hash_file(p, d) < 0 ||
            memcmp(d, img->sha256, 32) != 0) {
            say(r, "Slot %c does not read back what was written (image %s).", target, img->name);
            return -1;
        }
        snprintf(st->image[i], sizeof st->image[i], "%s", img->name);
        kub_hex(d, 32, st->sha256[i]);
    }
    progress(o, "check", 90, "Checking the installed update");
    return 0;
}

/* ACTIVATE: the commit point, one atomic store of the boot state. */
static int activate(const char *root, boot *bt, enum install_phase *ph, char target,
                    const char *bundle, const char *version)
{
    struct boot_state st;
    struct boot_slot *t;

    if (boot_load(bt, &st) < 0)
        return -1;
    t = &st.slot[slots_index(target)];
    st.order[0] = target;
    st.order[1] = slots_other(target);
    t->bootable = 1;
    t->good = 0;
    t->tries = BOOT_TRIES;
    st.trial = target;
    if (boot_store(bt, &st) < 0)
        return -1;
    install_crash_point("activated-boot");
    if (journal_write(root, ph, INSTALL_ACTIVATED, target, bundle, version) < 0)
        return -1;
    install_crash_point("activated-journal");
    return journal_remove(root);
}

/* PREPARE: the target is made unbootable before any byte is written. */
static int prepare(const char *root, boot *bt, enum install_phase *ph, char target,
                   const struct install_result *r, const char *version)
{
    struct boot_state st;
    struct slots_status ss = {.status = "pending"};
    struct boot_slot *t;

    if (journal_write(root, ph, INSTALL_PREPARE, target, r->bundle, version) < 0)
        return -1;
    install_crash_point("prepare-journal");
    if (boot_load(bt, &st) < 0)
        return -1;
    t = &st.slot[slots_index(target)];
    t->bootable = t->good = t->tries = 0;
    if (st.trial == target)
        st.trial = 0;
    if (boot_store(bt, &st) < 0)
        return -1;
    install_crash_point("prepare-boot");
    snprintf(ss.version, sizeof ss.version, "%s", version);
    if (slots_status_write(root, target, &ss) < 0)
        return -1;
    install_crash_point("prepare-status");
    return slot_clear(root, target);
}

/* label + the escaped name of the bundle r is about + ": " + text. */
static void audit_detail(const struct install_opts *o, const struct install_result *r,
                         const char *text, char *out, size_t cap)
{
    char esc[STICK_ESC_MAX];

    stick_escape(r->name, esc, sizeof esc);
    snprintf(out, cap, "%s%s%s%s", o->label != NULL ? o->label : "", esc, text != NULL ? ": " : "",
             text != NULL ? text : "");
}

int install_run(const struct install_opts *o, struct install_result *r)
{
    struct bundle b = {.fd = -1};
    struct candidate c = {0};
    struct boot_state st;
    struct slots_status ss;
    char local[4096], running = slots_booted(o->root), target;
    char detail[STICK_ESC_MAX + 600];
    struct stat sb;
    enum install_phase ph = INSTALL_NONE;
    int rc = -1;

    memset(r, 0, sizeof *r);
    if (boot_load(o->boot, &st) < 0) {
        say(r, "The boot state cannot be read (%s).", strerror(errno));
        return -1;
    }
    if (running != 0 && st.trial == running) {
        say(r,
            "The running firmware in slot %c is still on trial; confirm it with "
            "'kupd mark-good' before installing another update.",
            running);
        return -1;
    }
    target = running != 0 ? slots_other(running) : st.slot[0].good ? 'b' : 'a';
    r->slot = target;

    progress(o, "copy", 0, "Checking the bundle - keep the USB stick inserted");
    if (choose(o, running, &c, r) < 0)
        goto refused;
    audit_detail(o, r, NULL, detail, sizeof detail);
    audit_append(o->root, "install-start", (char[]){target, 0}, NULL, detail);
    if (check_space(o, &c, r) < 0 || fetch(o, &c, r, local, sizeof local) < 0)
        goto refused;
    b.fd = open(local, O_RDONLY | O_CLOEXEC);
    if (b.fd < 0 || fstat(b.fd, &sb) < 0) {
        say(r, "The copied bundle cannot be opened.");
        goto refused;
    }
    progress(o, "verify", 20, "Checking the update");
    /* The copy is judged again as a whole: its prefix is the one verified
     * on the stick, and now every chunk and image hash is checked. */
    if (check_file(o->root, &b, (uint64_t)sb.st_size, r->message, sizeof r->message) < 0 ||
        check_payload(o, &b, r->message, sizeof r->message) < 0)
        goto refused;
    snprintf(r->version, sizeof r->version, "%s", b.m.version);
    r->security_version = b.m.security_version;
    install_crash_point("verified");

    if (prepare(o->root, o->boot, &ph, target, r, b.m.version) < 0) {
        say(r, "Preparing slot %c failed (%s).", target, strerror(errno));
        goto failed;
    }
    if (journal_write(o->root, &ph, INSTALL_WRITE, target, r->bundle, b.m.version) < 0) {
        say(r, "The install journal cannot be written (%s).", strerror(errno));
        goto failed;
    }
    if (write_images(o, &b, target, r) < 0)
        goto failed;
    install_crash_point("written");
    memset(&ss, 0, sizeof ss);
    if (journal_write(o->root, &ph, INSTALL_CHECK, target, r->bundle, b.m.version) < 0 ||
        check_images(o, &b, target, &ss, r) < 0)
        goto failed;
    install_crash_point("checked");

    strcpy(ss.status, "ok");
    snprintf(ss.version, sizeof ss.version, "%s", b.m.version);
    ss.security_version = b.m.security_version;
    snprintf(ss.bundle, sizeof ss.bundle, "%s", r->bundle);
    if (slots_status_write(o->root, target, &ss) < 0) {
        say(r, "The status of slot %c cannot be written (%s).", target, strerror(errno));
        goto failed;
    }
    install_crash_point("sealed-status");
    if (journal_write(o->root, &ph, INSTALL_SEALED, target, r->bundle, b.m.version) < 0) {
        say(r, "The install journal cannot be written (%s).", strerror(errno));
        goto failed;
    }
    install_crash_point("sealed-journal");
    audit_append(o->root, "slot-written", (char[]){target, 0}, b.m.version, r->bundle);

    progress(o, "activate", 99, "Activating the update");
    if (activate(o->root, o->boot, &ph, target, r->bundle, b.m.version) < 0) {
        say(r, "Activating slot %c failed (%s).", target, strerror(errno));
        goto failed;
    }
    audit_append(o->root, "activated", (char[]){target, 0}, b.m.version,
                 "on trial for the next boot");
    say(r, "Version %s is installed in slot %c and starts on trial at the next boot.", b.m.version,
        target);
    progress(o, "done", 100, r->message);
    rc = 0;
    goto out;

failed:
    /* The target may hold part of the new images: leave it unbootable. */
    {
        char msg[256];
        install_recover(o->root, o->boot, msg, sizeof msg);
    }
refused:
    r->bytes_read = stick_bytes_read(o->stick);
    {
        char text[sizeof r->message + 64];
        snprintf(text, sizeof text, "%s (%" PRIu64 " bytes read from the stick)", r->message,
                 r->bytes_read);
        audit_detail(o, r, text, detail, sizeof detail);
    }
    audit_append(o->root, "refused", (char[]){target, 0}, r->version, detail);
    progress(o, "failed", 100, r->message);
out:
    r->bytes_read = stick_bytes_read(o->stick);
    free(c.prefix);
    if (b.fd >= 0)
        close(b.fd);
    if (slots_path(local, sizeof local, o->root, "incoming/bundle.kub") != NULL)
        unlink(local);
    return rc;
}

/* ---- recovery -------------------------------------------------------------- */

static enum install_phase phase_of(const char *s)
{
    for (int i = 1; i < (int)(sizeof phase_names / sizeof phase_names[0]); i++)
        if (strcmp(s, phase_names[i]) == 0)
            return (enum install_phase)i;
    return INSTALL_NONE;
}

/* Leave the target unbootable and failed; the journal goes last so a
 * crash here repeats the same work. */
static int abandon(const char *root, boot *bt, char target)
{
    struct boot_state st;
    struct slots_status ss;
    struct boot_slot *t;

    if (boot_load(bt, &st) < 0)
        return -1;
    t = &st.slot[slots_index(target)];
    if (t->bootable || t->good || st.trial == target) {
        t->bootable = t->good = t->tries = 0;
        if (st.trial == target)
            st.trial = 0;
        if (boot_store(bt, &st) < 0)
            return -1;
    }
    if (slots_status_read(root, target, &ss) < 0)
        memset(&ss, 0, sizeof ss);
    strcpy(ss.status, "failed");
    if (slots_status_write(root, target, &ss) < 0)
        return -1;
    return journal_remove(root);
}

/* The floor follows a confirmed slot even if mark-good was cut between
 * its boot-state write and its floor write. */
static int repair_floor(const char *root, boot *bt, char *msg, size_t n)
{
    struct boot_state st;
    struct slots_status ss;
    uint64_t floor;
    char running = slots_booted(root);

    if (running == 0 || boot_load(bt, &st) < 0 || !st.slot[slots_index(running)].good ||
        slots_status_read(root, running, &ss) < 0 || strcmp(ss.status, "ok") != 0 ||
        slots_floor_read(root, &floor) < 0 || ss.security_version <= floor)
        return 0;
    if (slots_floor_write(root, ss.security_version) < 0)
        return -1;
    snprintf(msg, n, "The security floor was raised to %" PRIu64 " for the confirmed slot %c.",
             ss.security_version, running);
    audit_append(root, "floor-bump", (char[]){running, 0}, ss.version, "repaired by recovery");
    return 1;
}

int install_recover(const char *root, boot *bt, char *msg, size_t n)
{
    struct slots_kv kv;
    struct slots_status ss;
    char p[4096], target;
    const char *v;
    enum install_phase ph;
    int did = 0;

    msg[0] = '\0';
    if (slots_path(p, sizeof p, root, "incoming/bundle.part") != NULL && unlink(p) == 0) {
        snprintf(msg, n, "An interrupted copy was discarded.");
        audit_append(root, "interrupted", NULL, NULL, "copy of a bundle was cut short");
        did = 1;
    }
    if (slots_path(p, sizeof p, root, "incoming/bundle.kub") != NULL)
        unlink(p);
    if (slots_path(p, sizeof p, root, "state/journal") == NULL)
        return -1;
    if (slots_kv_read(p, &kv) < 0) {
        if (errno != ENOENT && errno != EBADMSG)
            return -1;
        if (errno == EBADMSG)
            unlink(p);
        int f = repair_floor(root, bt, msg, n);
        return f < 0 ? -1 : (did || f);
    }
    v = slots_kv_get(&kv, "target");
    ph = phase_of(slots_kv_get(&kv, "phase") ? slots_kv_get(&kv, "phase") : "");
    if (v == NULL || (v[0] != 'a' && v[0] != 'b') || v[1] != '\0' || ph == INSTALL_NONE) {
        unlink(p);
        return 1;
    }
    target = v[0];
    if (ph == INSTALL_SEALED && slots_status_read(root, target, &ss) == 0 &&
        slot_matches(root, target, &ss)) {
        if (activate(root, bt, &ph, target, ss.bundle, ss.version) < 0)
            return -1;
        snprintf(msg, n,
                 "An interrupted install of %s into slot %c was completed; it starts on "
                 "trial at the next boot.",
                 ss.version, target);
        audit_append(root, "activated", (char[]){target, 0}, ss.version,
                     "finished by recovery after an interruption");
    } else if (ph == INSTALL_ACTIVATED) {
        if (journal_remove(root) < 0)
            return -1;
        snprintf(msg, n, "An install had already reached its commit point.");
    } else {
        if (abandon(root, bt, target) < 0)
            return -1;
        snprintf(msg, n,
                 "An interrupted install into slot %c was abandoned; the running "
                 "firmware was not touched.",
                 target);
        audit_append(root, "interrupted", (char[]){target, 0}, slots_kv_get(&kv, "version"),
                     "install cut short; slot left unbootable");
    }
    assert(ph != INSTALL_NONE);
    return repair_floor(root, bt, msg + strlen(msg), n - strlen(msg)) < 0 ? -1 : 1;
}
