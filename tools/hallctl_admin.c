/*
 * hallctl_admin — see hallctl_admin.h. Parts, in order:
 *
 *   - helpers: messages, files written atomically, the hall opened from its
 *     configuration (store, CA directory, zone), the audit event and the
 *     reload signal every change ends with, and the option parsing the
 *     verbs share (-c FILE, --help, options kept as given);
 *   - one function per verb, each with its own --help;
 *   - the verb table.
 *
 * A hall directory, as `hallctl init` makes it:
 *
 *   halld.ini      configuration ([store] path, [tls], [audit] key and
 *                  [privacy] files: relative to it)
 *   hall.db        the store, mode 0600
 *   audit.anchors  the signed heads of its event log (anchor.h)
 *   audit.key      the hall audit key that signs them, mode 0600
 *   secret.key     the hall secret: 32 random bytes in hex, mode 0600; the
 *                  HMAC key of ID numbers, which never leaves this machine
 *   seal.key       halld's private sealing key (X25519, mode 0600): opens
 *                  the ID numbers kiosks seal while offline
 *   seal.pub       its public half, copied into kiosk bundles
 *   pki/           the hall CA's certificate, halld's and hallctl's
 *                  certificates (what halld reads), and
 *   pki/devices/ID device bundles made by `hallctl device add`
 *   private/       mode 0700: the hall CA key, which only hallctl reads
 *
 * Verbs after init find the hall through its configuration (-c): the store
 * is [store] path, the CA directory the one holding [tls] ca, the CA key
 * private/ca.key beside that directory (or, in a hall made by an older
 * release, ca.key inside it), the keys of ID numbers [privacy] secret and
 * sealing_key (docs/privacy.md). Every change they commit is anchored
 * (anchor.h).
 */
#include "hallctl_admin.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "anchor.h"
#include "apptcode.h"
#include "catalog.h"
#include "citizen.h"
#include "clk.h"
#include "hadmin.h"
#include "halld_conf.h"
#include "pki.h"
#include "pwhash.h"
#include "queue.h"
#include "seal.h"
#include "store.h"

#define DEFAULT_CONFIG "/etc/onewindow/halld.ini"
#define TOOL_DEVICE    "hallctl"
#define SECRET_LEN     32
#define ROLLOVER_HOUR  3 /* halld.ini's default, for init's own event */
#define PRIVATE_DIR    "private"

static const char *const window_states[] = {NULL, "closed", "open", "paused"};

/* ==== Helpers ============================================================== */

static int usage_error(const char *usage)
{
    fprintf(stderr, "usage: %s (see --help)\n", usage);
    return 2;
}

/* dir/name into out; false if it does not fit. */
static bool join(char *out, size_t len, const char *dir, const char *name)
{
    return (size_t)snprintf(out, len, "%s/%s", dir, name) < len;
}

/* The directory part of path ("." for a bare name). */
static void dir_of(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(out, len, ".");
    else if (slash == path)
        snprintf(out, len, "/");
    else
        snprintf(out, len, "%.*s", (int)(slash - path), path);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* mkdir -p with mode for the directories it creates. */
static int make_dirs(const char *dir, mode_t mode)
{
    char path[PATH_MAX];

    if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path)
        return hallctl_fail("path too long: %s", dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(path, mode) < 0 && errno != EEXIST)
                return hallctl_fail("cannot create %s: %s", path, strerror(errno));
            *p = saved;
            if (saved == '\0')
                return 0;
        }
    }
}

/* Write a whole file through a temporary one in the same directory, so a
 * reader sees the old file or the new one, never half of one. With
 * no_clobber an existing file is an error (link() refuses to replace). */
static int write_file(const char *path, const void *data, size_t len, mode_t mode, bool no_clobber)
{
    char tmp[PATH_MAX];
    int fd, e;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= sizeof tmp)
        return hallctl_fail("path too long: %s", path);
    if ((fd = mkstemp(tmp)) < 0)
        return hallctl_fail("cannot create %s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto io_error;
        done += (size_t)n;
    }
    if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
        goto io_error;
    if (close(fd) < 0) {
        fd = -1;
        goto io_error;
    }
    fd = -1;
    if (no_clobber) {
        if (link(tmp, path) < 0)
            goto io_error;
        unlink(tmp);
    } else if (rename(tmp, path) < 0) {
        goto io_error;
    }
    return 0;
io_error:
    e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return hallctl_fail("cannot write %s: %s", path, strerror(e));
}

/* Read a small file whole (certificates, the secret). */
static int read_small(const char *path, char *out, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        return hallctl_fail("cannot read %s: %s", path, strerror(errno));
    *len = fread(out, 1, cap, f);
    bool too_big = *len == cap && fgetc(f) != EOF;
    int err = ferror(f);
    fclose(f);
    if (err || too_big)
        return hallctl_fail("cannot read %s: %s", path, err ? "read error" : "unexpectedly large");
    return 0;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
    char data[16384];
    size_t len = 0;

    if (read_small(from, data, sizeof data, &len) != 0)
        return 1;
    return write_file(to, data, len, mode, false);
}

/* Whole decimal number in [min, max]. */
static bool parse_num(const char *s, long min, long max, long *out)
{
    char *end;

    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* 1..max of [A-Za-z0-9_-], with dots also '.' but not first: hall ids and
 * booking codes without dots; device and clerk ids with them (an id is a
 * certificate CN and appears in logs and file names). */
static bool id_ok(const char *id, size_t max, bool dots)
{
    size_t n = strlen(id);

    return n > 0 && n <= max && id[0] != '.' && conf_word_ok(id, n, dots);
}

int hallctl_ca_key(const char *ca_dir, bool hall_layout, char *out, size_t len)
{
    char dir[PATH_MAX], parent[PATH_MAX], beside[PATH_MAX];
    size_t n = strlen(ca_dir);

    /* "pki/" is "pki": its parent is the hall directory. */
    while (n > 1 && ca_dir[n - 1] == '/')
        n--;
    if (n >= sizeof dir)
        return hallctl_fail("path too long: %s", ca_dir);
    memcpy(dir, ca_dir, n);
    dir[n] = '\0';
    dir_of(dir, parent, sizeof parent);
    if ((size_t)snprintf(beside, sizeof beside, "%s/" PRIVATE_DIR "/ca.key", parent) >=
            sizeof beside ||
        !join(out, len, dir, "ca.key"))
        return hallctl_fail("path too long: %s", dir);
    /* A key in the CA directory itself goes with its certificate, even
     * when that directory lies inside another hall's. */
    if (exists(out)) {
        if (hall_layout)
            fprintf(stderr,
                    "hallctl: warning: the hall CA key %s is in the directory halld reads; only "
                    "hallctl needs it: move it with\n  mkdir -m 700 %s/" PRIVATE_DIR
                    " && mv %s %s\n",
                    out, parent, out, beside);
        return 0;
    }
    if (!exists(beside))
        return hallctl_fail("no hall CA key in %s or %s (certificates are issued where the CA "
                            "key is kept)",
                            beside, out);
    if ((size_t)snprintf(out, len, "%s", beside) >= len)
        return hallctl_fail("path too long: %s", beside);
    return 0;
}

/* Who runs hallctl, for the audit trail. */
static void operator_name(char *out, size_t len)
{
    struct passwd *pw = getpwuid(geteuid());
    const char *sudo = getenv("SUDO_USER");

    if (pw == NULL)
        snprintf(out, len, "uid %ld", (long)geteuid());
    else if (sudo != NULL && *sudo != '\0' && strcmp(sudo, pw->pw_name) != 0)
        snprintf(out, len, "%s (sudo by %s)", pw->pw_name, sudo);
    else
        snprintf(out, len, "%s", pw->pw_name);
}

/* ---- The hall, opened from its configuration --------------------------------- */

struct hall {
    struct halld_conf conf;
    store *st;
    clk_zone *zone;
    char config_dir[PATH_MAX];
    char pki[PATH_MAX];     /* the directory of [tls] ca */
    char anchors[PATH_MAX]; /* the anchors file, next to the database */
};

static void hall_close(struct hall *h)
{
    store_close(h->st);
    clk_zone_free(h->zone);
    halld_conf_release(&h->conf);
}

static int hall_open(struct hall *h, const char *config)
{
    char err[512];

    memset(h, 0, sizeof *h);
    if (halld_conf_load(&h->conf, config, err, sizeof err) < 0)
        return hallctl_fail("%s", err);
    dir_of(config, h->config_dir, sizeof h->config_dir);
    dir_of(h->conf.tls_ca, h->pki, sizeof h->pki);
    if (anchor_path(h->conf.store_path, h->anchors, sizeof h->anchors) < 0) {
        hall_close(h);
        return hallctl_fail("%s: [store] path is too long", config);
    }
    if ((h->zone = clk_zone_new(h->conf.time_zone)) == NULL) {
        int e = errno;
        hall_close(h);
        return hallctl_fail("%s: [hall] time_zone %s: %s", config, h->conf.time_zone, strerror(e));
    }
    /* Opening creates a missing file: a mistyped path must not become an
     * empty hall. */
    if (!exists(h->conf.store_path)) {
        hallctl_fail("%s: no hall database at %s (create a hall with hallctl init)", config,
                     h->conf.store_path);
        hall_close(h);
        return 1;
    }
    if ((h->st = store_open(h->conf.store_path, h->conf.hall_id, STORE_ADMIN, err, sizeof err)) ==
        NULL) {
        hall_close(h);
        return hallctl_fail("%s", err);
    }
    if (*store_notice(h->st) != '\0')
        fprintf(stderr, "hallctl: warning: %s\n", store_notice(h->st));
    return 0;
}

/* Anchor the head after a change this run committed. The change is made
 * whatever happens here, so a failure is a warning. */
static void hall_anchor(struct hall *h)
{
    char err[512];

    if (hadmin_anchor(h->st, h->conf.hall_id, h->conf.audit_key, h->anchors, ANCHOR_WRITE, err,
                      sizeof err) == 0)
        return;
    if (errno == ENOENT && access(h->conf.audit_key, F_OK) < 0)
        fprintf(stderr,
                "hallctl: warning: no audit key %s: this change is not anchored (hallctl audit "
                "key makes one)\n",
                h->conf.audit_key);
    else
        fprintf(stderr, "hallctl: warning: this change is not anchored: %s\n", err);
}

/* Who hallctl's changes are made by, for their audit events; user is
 * the caller's buffer for the name. */
static hadmin_actor hall_actor(struct hall *h, char *user, size_t len)
{
    operator_name(user, len);
    return (hadmin_actor){TOOL_DEVICE, user, NULL, h->zone, (int)h->conf.rollover_hour};
}

/* Record an administrative change in the audit chain (inside the caller's
 * transaction, so the change and its record commit together). */
static int hall_event(struct hall *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int hall_event(struct hall *h, const char *fmt, ...)
{
    char what[512], user[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    hadmin_actor a = hall_actor(h, user, sizeof user);
    return hadmin_audit(h->st, &a, "%s", what);
}

/* Commit and anchor, or roll back and report. */
static int hall_commit(struct hall *h, int rc)
{
    if (rc == 0 && store_commit(h->st) == 0) {
        hall_anchor(h);
        return 0;
    }
    char reason[512];
    snprintf(reason, sizeof reason, "%s", store_errmsg(h->st));
    store_rollback(h->st);
    return hallctl_fail("%s (nothing was changed)", reason);
}

/* A running halld re-reads the catalog, windows, clerks and devices on
 * SIGHUP; without one, the change waits for the next start. */
static void hall_notify(struct hall *h)
{
    long pid;
    int rc = hadmin_notify(h->conf.store_path, &pid);

    if (rc == 0 && pid > 0)
        printf("told halld (pid %ld) to reload\n", pid);
    else if (pid > 0)
        printf("halld (pid %ld) is running but could not be signalled (%s): send it SIGHUP "
               "to apply the change\n",
               pid, strerror(errno));
    else if (pid < 0)
        printf("halld is running (pid unknown): send it SIGHUP to apply the change\n");
    else
        printf("halld is not running: the change takes effect at its next start\n");
}

/* The end of a change made in a transaction (rc 0 if every step of it
 * worked): commit it, or roll back and report; once committed, say what
 * changed (fmt) and have a running halld reload. */
static int hall_finish(struct hall *h, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int hall_finish(struct hall *h, int rc, const char *fmt, ...)
{
    va_list ap;

    if ((rc = hall_commit(h, rc)) != 0)
        return rc;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    hall_notify(h);
    return 0;
}

/* Report a change hadmin refused: "--field value: reason". */
static int admin_fail(const hadmin_error *e)
{
    char option[32];

    if (e->field == NULL)
        return hallctl_fail("%s", e->en);
    snprintf(option, sizeof option, "%s", e->field);
    for (char *c = option; *c != '\0'; c++)
        if (*c == '_')
            *c = '-';
    if (e->value[0] == '\0')
        return hallctl_fail("--%s: %s", option, e->en);
    return hallctl_fail("--%s %s: %s", option, e->value, e->en);
}

/* After a change hadmin committed: anchor it, say what changed (fmt) and,
 * if halld holds it in memory (reload), have a running halld reload. */
static int hall_changed(struct hall *h, bool reload, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int hall_changed(struct hall *h, bool reload, const char *fmt, ...)
{
    va_list ap;

    hall_anchor(h);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (reload)
        hall_notify(h);
    return 0;
}

/* Open the hall of config, run body on it and close it. body returns 0,
 * -1 for a store error (reported here) or 1 after reporting its own; the
 * result is the verb's exit status. */
static int on_hall(const char *config, int (*body)(struct hall *h, const void *arg),
                   const void *arg)
{
    struct hall h;

    if (hall_open(&h, config) != 0)
        return 1;
    int rc = body(&h, arg);
    if (rc < 0)
        hallctl_fail("%s", store_errmsg(h.st));
    hall_close(&h);
    return rc != 0;
}

/* ---- A verb's options ---------------------------------------------------------- */

/* The usual option set of a verb that works on an existing hall. */
#define CONFIG_OPTION                                                                              \
    {                                                                                              \
        "config", required_argument, NULL, 'c'                                                     \
    }
#define HELP_OPTION                                                                                \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }
#define CONFIG_HELP "  -c, --config FILE   the hall's halld.ini (default " DEFAULT_CONFIG ")\n"

#define GO_ON (-1) /* parse_verb(): the options are read, run the verb */

/* An option whose argument the verb keeps as given. */
struct str_option {
    int opt; /* as getopt_long returns it */
    const char **to;
};

/* What a verb on an existing hall takes besides -c FILE and --help. */
struct verb_options {
    const char *usage;
    const char *shortopts; /* NULL: "c:h" */
    const struct option *longopts;
    const struct str_option *strings; /* ends with {0, NULL}; NULL: none */
    /* The one option of the verb that is neither (NULL: none): GO_ON, or
     * the exit status after reporting a bad argument (optarg). */
    int (*other)(void *ctx);
    void *ctx;
};

/* Read a verb's options up to its operands (optind): -c into *config
 * (DEFAULT_CONFIG without it), the rest as v says. --help prints the
 * usage line and help (a printf format for the arguments after it), an
 * unknown option or a missing argument is 2 (getopt has said why).
 * Returns GO_ON, or the exit status the verb returns at once. */
static int parse_verb(const struct verb_options *v, int argc, char **argv, const char **config,
                      const char *help, ...) __attribute__((format(printf, 5, 6)));

static int parse_verb(const struct verb_options *v, int argc, char **argv, const char **config,
                      const char *help, ...)
{
    const char *shortopts = v->shortopts != NULL ? v->shortopts : "c:h";
    int opt;

    *config = DEFAULT_CONFIG;
    while ((opt = getopt_long(argc, argv, shortopts, v->longopts, NULL)) != -1) {
        const struct str_option *s = v->strings;
        while (s != NULL && s->to != NULL && s->opt != opt)
            s++;
        if (opt == 'c') {
            *config = optarg;
        } else if (s != NULL && s->to != NULL) {
            *s->to = optarg;
        } else if (opt == 'h') {
            va_list ap;
            printf("usage: %s\n", v->usage);
            va_start(ap, help);
            vprintf(help, ap);
            va_end(ap);
            return 0;
        } else if (opt == '?' || v->other == NULL) {
            return 2;
        } else {
            int rc = v->other(v->ctx);
            if (rc != GO_ON)
                return rc;
        }
    }
    return GO_ON;
}

/* A verb that takes -c FILE, --help and nothing else, run as body on the
 * hall (see on_hall()). */
static int config_only_verb(int argc, char **argv, const char *usage, const char *help,
                            int (*body)(struct hall *h, const void *arg))
{
    static const struct option options[] = {CONFIG_OPTION, HELP_OPTION, {NULL, 0, NULL, 0}};
    const struct verb_options v = {usage, NULL, options, NULL, NULL, NULL};
    const char *config;
    int rc = parse_verb(&v, argc, argv, &config, "%s", help);

    if (rc != GO_ON)
        return rc;
    if (optind != argc)
        return usage_error(usage);
    return on_hall(config, body, NULL);
}

/* ==== init ================================================================== */

static int write_config(const char *path, const char *id, const char *name, const char *zone)
{
    char text[4096];
    int n = snprintf(
        text, sizeof text,
        "; halld configuration of hall %s (%s), written by `hallctl init`.\n"
        "; Every key, its default and what it allows: `halld --print-config`.\n"
        "; Relative paths are relative to this file. Keep it, and the keys of\n"
        "; [privacy], readable by halld only.\n"
        "\n"
        "[hall]\n"
        "; Recorded in the database, which then refuses to serve another hall.\n"
        "id = %s\n"
        "name = %s\n"
        "time_zone = %s\n"
        "; Local hour at which the business day (and the ticket numbering) starts.\n"
        "rollover_hour = %d\n"
        "\n"
        "[store]\n"
        "path = hall.db\n"
        "\n"
        "[listen]\n"
        "; Device links: kiosks, window terminals and displays on the hall's LAN.\n"
        "address = 0.0.0.0\n"
        "port = 7700\n"
        "\n"
        "[tls]\n"
        "; Made by `hallctl init`; devices get theirs with `hallctl device add`.\n"
        "; The CA key is not here: it is in private/, which only hallctl reads.\n"
        "cert = pki/halld.crt\n"
        "key = pki/halld.key\n"
        "ca = pki/ca.crt\n"
        "\n"
        "[audit]\n"
        "; The hall audit key signs the head of the event log into audit.anchors\n"
        "; (next to the database): halld every anchor_interval (default 1m) and\n"
        "; when it stops, hallctl after each change. Mode 0600: halld and hallctl only.\n"
        "key = audit.key\n"
        "\n"
        "[privacy]\n"
        "; The hall secret that hashes ID numbers, and the key that opens the numbers\n"
        "; kiosks seal while they are offline: both stay on this machine, readable by halld\n"
        "; only (docs/privacy.md). Kiosks get seal.pub, the public half, and nothing else.\n"
        "secret = secret.key\n"
        "sealing_key = seal.key\n"
        "previous_sealing_key = seal-previous.key\n"
        "\n"
        "[log]\n"
        "level = info\n",
        id, name, id, name, zone, ROLLOVER_HOUR);
    if (n < 0 || (size_t)n >= sizeof text)
        return hallctl_fail("configuration text too long");
    return write_file(path, text, (size_t)n, 0640, true);
}

static int write_secret(const char *path)
{
    unsigned char key[SECRET_LEN];
    char hex[2 * SECRET_LEN + 2];

    if (RAND_bytes(key, sizeof key) != 1)
        return hallctl_fail("cannot make the hall secret: no randomness from OpenSSL");
    for (size_t i = 0; i < sizeof key; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    hex[2 * SECRET_LEN] = '\n';
    hex[2 * SECRET_LEN + 1] = '\0';
    int rc = write_file(path, hex, 2 * SECRET_LEN + 1, 0600, true);
    memset(key, 0, sizeof key);
    memset(hex, 0, sizeof hex);
    return rc;
}

/* The file of a sealing key's public half, next to the private one:
 * seal.key -> seal.pub. False if it does not fit. */
static bool public_path(const char *private_path, char *out, size_t len)
{
    size_t n = strlen(private_path);

    if (n > 4 && strcmp(private_path + n - 4, ".key") == 0)
        return (size_t)snprintf(out, len, "%.*s.pub", (int)(n - 4), private_path) < len;
    return (size_t)snprintf(out, len, "%s.pub", private_path) < len;
}

/* A sealing key's id in hex, as envelopes sealed to it carry it. */
static void key_id_hex(const seal_key *k, char out[2 * SEAL_KEY_ID_LEN + 1])
{
    uint8_t id[SEAL_KEY_ID_LEN];

    seal_key_id(k, id);
    for (int i = 0; i < SEAL_KEY_ID_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* Write k's private half to private_path (0600; no_clobber: an existing
 * file is an error) and its public half next to it (0644). */
static int write_sealing(const seal_key *k, const char *private_path, bool no_clobber)
{
    char pub_path[PATH_MAX];
    char *priv = seal_key_pem(k, true), *pub = seal_key_pem(k, false);
    int rc;

    if (!public_path(private_path, pub_path, sizeof pub_path))
        rc = hallctl_fail("%s: path too long", private_path);
    else if (priv == NULL || pub == NULL)
        rc = hallctl_fail("cannot write the sealing key: %s", strerror(errno));
    else
        rc = write_file(private_path, priv, strlen(priv), 0600, no_clobber) ||
             write_file(pub_path, pub, strlen(pub), 0644, false);
    seal_pem_free(priv);
    seal_pem_free(pub);
    return rc;
}

/* A new sealing key pair at private_path (and its .pub). */
static int make_sealing(const char *private_path, bool no_clobber, char id[2 * SEAL_KEY_ID_LEN + 1])
{
    seal_key *k = seal_key_new();
    int rc;

    if (k == NULL)
        return hallctl_fail("cannot make a sealing key: OpenSSL failed");
    rc = write_sealing(k, private_path, no_clobber);
    key_id_hex(k, id);
    seal_key_free(k);
    return rc;
}

/* The database, with hallctl registered as a tool device, and its first
 * anchor signed with the audit key at key. */
static int init_store(const char *path, const char *id, const clk_zone *zone, const char *key)
{
    char err[512], user[128], anchors[PATH_MAX];
    int64_t now = clk_utc_ms();
    store_device dev = {.type = HADMIN_DEV_TOOL, .added_ms = now};
    store *s = store_open(path, id, STORE_ADMIN, err, sizeof err);

    if (s == NULL)
        return hallctl_fail("%s", err);
    snprintf(dev.id, sizeof dev.id, "%s", TOOL_DEVICE);
    operator_name(user, sizeof user);
    int32_t day = clk_date_key(clk_business_day(zone, now, ROLLOVER_HOUR));
    int rc = store_begin(s) < 0 || store_save_device(s, &dev) < 0 ||
                     store_append_admin_event(s, now, day, TOOL_DEVICE, user, "hall created") < 0 ||
                     store_commit(s) < 0
                 ? hallctl_fail("%s: %s", path, store_errmsg(s))
                 : 0;
    if (*store_notice(s) != '\0')
        fprintf(stderr, "hallctl: warning: %s\n", store_notice(s));
    if (rc == 0 && anchor_path(path, anchors, sizeof anchors) < 0)
        rc = hallctl_fail("%s: path too long", path);
    else if (rc == 0 && hadmin_anchor(s, id, key, anchors, ANCHOR_WRITE, err, sizeof err) < 0)
        rc = hallctl_fail("cannot anchor the new hall's event log: %s", err);
    store_close(s);
    return rc;
}

static int init_hall(int argc, char **argv)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},
        {"hall-id", required_argument, NULL, 'i'},
        {"name", required_argument, NULL, 'n'},
        {"zone", required_argument, NULL, 'z'},
        {"dns", required_argument, NULL, 's'},
        HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    static const char usage[] =
        "hallctl init --dir DIR --hall-id ID [--name NAME] [--zone ZONE] [--dns HOST]";
    const char *dir = NULL, *id = NULL, *name = "政务服务大厅", *zone_name = "Asia/Shanghai";
    const char *dns = NULL;
    char config[PATH_MAX], db[PATH_MAX], secret[PATH_MAX], sealing[PATH_MAX], pki[PATH_MAX];
    char private_dir[PATH_MAX], ca_crt[PATH_MAX], ca_key[PATH_MAX], halld_crt[PATH_MAX];
    char halld_key[PATH_MAX], tool_crt[PATH_MAX], tool_key[PATH_MAX], audit_key[PATH_MAX];
    char anchors[PATH_MAX], old_ca_key[PATH_MAX], err[PKI_ERR_LEN];
    char key_id[2 * SEAL_KEY_ID_LEN + 1] = "";
    int opt;

    while ((opt = getopt_long(argc, argv, "d:i:n:z:s:h", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'z':
            zone_name = optarg;
            break;
        case 's':
            dns = optarg;
            break;
        case 'h':
            printf("usage: %s\n"
                   "Create a hall in DIR: halld.ini (its configuration), pki/ (the hall CA's\n"
                   "certificate, halld's certificate, and hallctl's own as device 'hallctl'),\n"
                   "private/ (mode 0700: the hall CA key, read by hallctl only), secret.key\n"
                   "(the hall secret that hashes ID numbers: 32 random bytes, mode 0600),\n"
                   "seal.key and seal.pub (the key pair kiosks seal ID numbers to while\n"
                   "offline; the private key mode 0600), audit.key (the hall audit key that\n"
                   "signs the anchors of the event log, mode 0600), hall.db (the database,\n"
                   "bound to ID, mode 0600) and audit.anchors (its first anchor). Refuses a\n"
                   "DIR that holds a hall.\n"
                   "  --dir DIR           the hall directory (created if missing)\n"
                   "  --hall-id ID        1 to 64 letters, digits, '-' or '_'\n"
                   "  --name NAME         shown on tickets and displays (default 政务服务大厅)\n"
                   "  --zone ZONE         IANA time zone of the hall (default Asia/Shanghai)\n"
                   "  --dns HOST          a host name for halld's certificate, besides localhost\n",
                   usage);
            return 0;
        default:
            return 2;
        }
    }
    if (dir == NULL || id == NULL || optind != argc)
        return usage_error(usage);
    if (!id_ok(id, 64, false))
        return hallctl_fail("--hall-id %s: use 1 to 64 letters, digits, '-' or '_'", id);
    if (!catalog_name_ok(name, 160) || strchr(name, ';') != NULL || strchr(name, '#') != NULL)
        return hallctl_fail(
            "--name: one line of UTF-8 text, at most 159 bytes, without ';' or '#'");
    clk_zone *zone = clk_zone_new(zone_name);
    if (zone == NULL)
        return hallctl_fail("--zone %s: %s", zone_name,
                            errno == ENOENT ? "no such time zone" : strerror(errno));
    if (!join(config, sizeof config, dir, "halld.ini") || !join(db, sizeof db, dir, "hall.db") ||
        !join(secret, sizeof secret, dir, "secret.key") ||
        !join(sealing, sizeof sealing, dir, "seal.key") || !join(pki, sizeof pki, dir, "pki") ||
        !join(private_dir, sizeof private_dir, dir, PRIVATE_DIR) ||
        !join(ca_key, sizeof ca_key, private_dir, "ca.key") ||
        !join(old_ca_key, sizeof old_ca_key, pki, "ca.key") ||
        !join(audit_key, sizeof audit_key, dir, "audit.key") ||
        !join(anchors, sizeof anchors, dir, ANCHOR_FILE) ||
        !join(ca_crt, sizeof ca_crt, pki, "ca.crt") ||
        !join(halld_crt, sizeof halld_crt, pki, "halld.crt") ||
        !join(halld_key, sizeof halld_key, pki, "halld.key") ||
        !join(tool_crt, sizeof tool_crt, pki, TOOL_DEVICE ".crt") ||
        !join(tool_key, sizeof tool_key, pki, TOOL_DEVICE ".key")) {
        clk_zone_free(zone);
        return hallctl_fail("--dir %s: path too long", dir);
    }
    const char *const taken[] = {config, db,         secret,    sealing,
                                 ca_key, old_ca_key, audit_key, anchors};
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        if (exists(taken[i])) {
            clk_zone_free(zone);
            return hallctl_fail("%s exists: %s already holds a hall (refusing to touch it)",
                                taken[i], dir);
        }
    }
    char cn[128];
    snprintf(cn, sizeof cn, "onewindow hall CA %s", id);
    int rc = make_dirs(dir, 0750) || make_dirs(pki, 0700) || make_dirs(private_dir, 0700);
    if (rc == 0 &&
        (pki_make_ca(cn, 3650, ca_crt, ca_key, err) < 0 ||
         pki_issue(ca_crt, ca_key, "halld", dns, PKI_SERVER, 3650, halld_crt, halld_key, err) < 0 ||
         pki_issue(ca_crt, ca_key, TOOL_DEVICE, NULL, PKI_CLIENT, 825, tool_crt, tool_key, err) <
             0))
        rc = hallctl_fail("%s", err);
    anchor_key *audit = NULL;
    if (rc == 0 && (audit = anchor_key_create(audit_key, err, sizeof err)) == NULL)
        rc = hallctl_fail("%s", err);
    if (rc == 0)
        rc = write_secret(secret) || make_sealing(sealing, true, key_id) ||
             init_store(db, id, zone, audit_key) || write_config(config, id, name, zone_name);
    clk_zone_free(zone);
    if (rc != 0) {
        anchor_key_free(audit);
        return hallctl_fail("%s is left incomplete: remove it and run init again", dir);
    }
    printf("hall %s (%s) created in %s\n"
           "  configuration  %s\n"
           "  database       %s\n"
           "  anchors        %s\n"
           "  audit key      %s (key %s)\n"
           "  hall secret    %s\n"
           "  sealing key    %s (key id %s; kiosks get seal.pub)\n"
           "  hall CA        %s (its key: %s, for hallctl only)\n"
           "  hallctl        %s (device '%s')\n"
           "next: hallctl catalog import FILE -c %s\n",
           id, name, dir, config, db, anchors, audit_key, anchor_key_id(audit), secret, sealing,
           key_id, ca_crt, ca_key, tool_crt, TOOL_DEVICE, config);
    anchor_key_free(audit);
    return 0;
}

/* ==== catalog import / list ==================================================== */

/* --format FMT into the catalog_format at ctx. */
static int format_option(void *ctx)
{
    int f = catalog_format_parse(optarg);

    if (f < 0)
        return hallctl_fail("--format %s: use csv or json", optarg);
    *(catalog_format *)ctx = (catalog_format)f;
    return GO_ON;
}

/* What a catalog import retired, for its report: the windows that still
 * call a retired area's live tickets. */
struct retired_report {
    char area[Q_CODE_MAX]; /* the area being listed */
    size_t nlive;
    q_window *windows;
    size_t nwindows;
};

static int keep_window(void *arg, const q_window *w)
{
    struct retired_report *r = arg;
    q_window *grown = realloc(r->windows, (r->nwindows + 1) * sizeof *grown);

    if (grown == NULL)
        return -1;
    r->windows = grown;
    r->windows[r->nwindows++] = *w;
    return 0;
}

/* "windows 1, 3" that serve area, or "" if none does. */
static void serving_windows(const struct retired_report *r, const char *area, char *out, size_t len)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < r->nwindows; i++)
        for (int k = 0; k < r->windows[i].nareas; k++)
            if (strcmp(r->windows[i].areas[k], area) == 0 && used < len) {
                int w = snprintf(out + used, len - used, "%s%u", used ? ", " : "window(s) ",
                                 r->windows[i].no);
                used += w > 0 ? (size_t)w : 0;
            }
}

static void end_area(struct retired_report *r)
{
    char windows[256];

    if (r->area[0] == '\0')
        return;
    serving_windows(r, r->area, windows, sizeof windows);
    if (windows[0] != '\0')
        printf("  area %s: %zu live ticket(s), still called by %s\n", r->area, r->nlive, windows);
    else
        fprintf(stderr,
                "hallctl: warning: area %s is retired with %zu live ticket(s) and no window "
                "serves it: add it to a window (hallctl window add) or they cannot be called\n",
                r->area, r->nlive);
}

static int list_live(void *arg, const store_live_ticket *t)
{
    struct retired_report *r = arg;

    if (strcmp(r->area, t->area) != 0) {
        end_area(r);
        snprintf(r->area, sizeof r->area, "%s", t->area);
        r->nlive = 0;
        printf("tickets of retired area %s:\n", t->area);
    }
    r->nlive++;
    printf("  %s %s (day %d)\n", t->number, queue_state_name(t->state), (int)t->day);
    return 0;
}

/* Name the areas the import retired, and list the live tickets of retired
 * areas with the windows that still call them (warning when none does).
 * The import is committed: a failure here is a warning. */
static void report_retired(struct hall *h, const hadmin_import *im)
{
    struct retired_report r = {0};

    for (size_t i = 0; i < im->nretired; i++)
        printf("area %s (%s) is not in the new catalog: retired (kept for its tickets and "
               "statistics, no longer offered at the kiosks)\n",
               im->retired[i].code, im->retired[i].name);
    if (store_load_windows(h->st, keep_window, &r) != 0 ||
        store_load_live_in_retired(h->st, list_live, &r) != 0)
        fprintf(stderr, "hallctl: warning: cannot list the tickets of retired areas: %s\n",
                store_errmsg(h->st));
    else
        end_area(&r);
    free(r.windows);
}

static int catalog_import(int argc, char **argv)
{
    static const struct option options[] = {
        CONFIG_OPTION,
        {"format", required_argument, NULL, 'f'},
        HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    catalog_format fmt = CATALOG_AUTO;
    const struct verb_options v = {
        "hallctl catalog import [-c FILE] [--format csv|json] CATALOG",
        "c:f:h",
        options,
        NULL,
        format_option,
        &fmt,
    };
    const char *config;
    char err[1024];
    int rc =
        parse_verb(&v, argc, argv, &config,
                   "Replace the hall's catalog (areas and matters) with CATALOG, a CSV or JSON\n"
                   "file (by its extension, or --format); docs/catalog.md has both formats.\n"
                   "The whole file is checked first: any error is reported with its line or\n"
                   "key and nothing is imported. An area or matter the new catalog lacks is\n"
                   "retired, not deleted: kept for history and statistics, no longer offered\n"
                   "at the kiosks, its live tickets still called by the windows that serve it\n"
                   "(they are listed). A new area may not take the prefix of a retired area\n"
                   "whose tickets of today or yesterday are still about.\n" CONFIG_HELP
                   "  -f, --format FMT    csv or json, whatever the file is called\n");

    if (rc != GO_ON)
        return rc;
    if (optind != argc - 1)
        return usage_error(v.usage);
    const char *path = argv[optind];
    catalog *c = catalog_load(path, fmt, err, sizeof err);
    if (c == NULL)
        return hallctl_fail("%s (nothing was imported)", err);
    struct hall h;
    if (hall_open(&h, config) != 0) {
        catalog_free(c);
        return 1;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char user[128];
    hadmin_actor a = hall_actor(&h, user, sizeof user);
    hadmin_import im;
    hadmin_error e;
    if (hadmin_catalog_import(h.st, &a, c, base, &im, &e) < 0) {
        rc = hallctl_fail("%s", e.en);
    } else {
        rc = hall_changed(&h, true, "imported %zu areas and %zu matters from %s\n", im.nareas,
                          im.nmatters, path);
        report_retired(&h, &im);
    }
    hadmin_import_release(&im);
    catalog_free(c);
    hall_close(&h);
    return rc;
}

static int list_area(void *arg, const q_area *a)
{
    struct hall *h = arg;
    size_t n;

    if (store_count_matters(h->st, a->code, &n) < 0)
        return -1;
    printf("  %-15s %-3s %-7s %3zu matters  %s%s%s\n", a->code, a->prefix,
           a->general   ? "general"
           : a->retired ? "retired"
                        : "",
           n, a->name, a->name_en[0] ? " / " : "", a->name_en);
    return 0;
}

static int list_matter(void *arg, const store_matter *m)
{
    (void)arg;
    printf("  %-15s %-15s %-10s %-6s  %s%s%s\n", m->code, m->area,
           m->in_one_window ? "one-window" : "", m->online_doable ? "online" : "", m->name,
           m->name_en[0] ? " / " : "", m->name_en);
    return 0;
}

static int count_area(void *arg, const q_area *a)
{
    if (!a->retired)
        ++*(size_t *)arg;
    return 0;
}

static int show_catalog(struct hall *h, const void *arg)
{
    size_t nareas = 0, nmatters = 0;

    (void)arg;
    if (store_load_areas(h->st, count_area, &nareas) != 0 ||
        store_count_matters(h->st, NULL, &nmatters) < 0)
        return -1;
    printf("%zu areas, %zu matters\nareas:\n", nareas, nmatters);
    if (store_load_areas(h->st, list_area, h) != 0)
        return -1;
    printf("matters:\n");
    return store_load_matters(h->st, list_matter, NULL) != 0 ? -1 : 0;
}

static int catalog_list(int argc, char **argv)
{
    return config_only_verb(
        argc, argv, "hallctl catalog list [-c FILE]",
        "Print the hall's catalog: a count line (\"N areas, M matters\", those\n"
        "offered), the areas (code, prefix, general or retired, matters, name;\n"
        "retired ones last) and the matters (code, area, one-window, online, name).\n" CONFIG_HELP,
        show_catalog);
}

/* ==== window add / list ======================================================== */

/* "A:1,B:2" (weight 1 when left out) into w's areas. */
static int parse_areas(const char *arg, q_window *w)
{
    char copy[1024], *save = NULL;
    hadmin_error e;

    if ((size_t)snprintf(copy, sizeof copy, "%s", arg) >= sizeof copy)
        return hallctl_fail("--areas is too long");
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        long weight = 1;
        if (colon != NULL) {
            *colon = '\0';
            if (!parse_num(colon + 1, 1, HADMIN_WEIGHT_MAX, &weight))
                return hallctl_fail("--areas %s: weight '%s' must be 1..%d", arg, colon + 1,
                                    HADMIN_WEIGHT_MAX);
        }
        if (hadmin_window_area(w, tok, weight, &e) < 0)
            return admin_fail(&e);
    }
    return 0;
}

static int window_add(int argc, char **argv)
{
    static const struct option options[] = {
        CONFIG_OPTION,
        {"no", required_argument, NULL, 'n'},
        {"name", required_argument, NULL, 'N'},
        {"type", required_argument, NULL, 't'},
        {"areas", required_argument, NULL, 'a'},
        HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    const char *config, *no = NULL, *name = NULL, *type = NULL, *areas = NULL;
    const struct str_option strings[] = {
        {'n', &no}, {'N', &name}, {'t', &type}, {'a', &areas}, {0, NULL}};
    const struct verb_options v = {
        "hallctl window add [-c FILE] --no N --name NAME --type TYPE --areas A[:W],B[:W]...",
        NULL,
        options,
        strings,
        NULL,
        NULL,
    };
    q_window w = {0};
    int rc = parse_verb(&v, argc, argv, &config,
                        "Add window N, or change it (name, type, areas; its state, clerk and\n"
                        "current ticket stay). Allocation picks the next ticket among the areas\n"
                        "served, each weighted (weight 1 when left out).\n" CONFIG_HELP
                        "  --no N              window number, 1..9999\n"
                        "  --name NAME         shown on displays, e.g. 综合受理1号窗\n"
                        "  --type TYPE         consult, intake, issuance, help or complaint\n"
                        "  --areas LIST        areas served with weights: realestate:2,tax (from "
                        "the catalog)\n");

    if (rc != GO_ON)
        return rc;
    if (no == NULL || name == NULL || type == NULL || areas == NULL || optind != argc)
        return usage_error(v.usage);
    long n;
    hadmin_error e;
    if (!parse_num(no, 1, HADMIN_WINDOW_MAX, &n))
        return hallctl_fail("--no %s: a window number is 1..%d", no, HADMIN_WINDOW_MAX);
    if (hadmin_window_build(&w, n, name, type, &e) < 0)
        return admin_fail(&e);
    if (parse_areas(areas, &w) != 0)
        return 1;
    struct hall h;
    if (hall_open(&h, config) != 0)
        return 1;
    char user[128];
    hadmin_actor a = hall_actor(&h, user, sizeof user);
    rc = hadmin_window_save(h.st, &a, &w, &e) < 0
             ? admin_fail(&e)
             : hall_changed(&h, true, "window %u saved: %s (%s), areas %s\n", w.no, w.name,
                            queue_window_type_name(w.type), areas);
    hall_close(&h);
    return rc;
}

static int list_window(void *arg, const q_window *w)
{
    char areas[Q_MAX_AREAS_PER_WINDOW * (Q_CODE_MAX + 8)] = "";
    size_t len = 0;

    (void)arg;
    for (int i = 0; i < w->nareas && len < sizeof areas; i++)
        len += (size_t)snprintf(areas + len, sizeof areas - len, "%s%s:%u", i ? "," : "",
                                w->areas[i], w->weights[i]);
    const char *state =
        w->state >= QW_CLOSED && w->state <= QW_PAUSED ? window_states[w->state] : "?";
    printf("  %4u  %-9s %-6s %-12s %s  %s\n", w->no, queue_window_type_name(w->type), state,
           *w->clerk ? w->clerk : "-", areas, w->name);
    return 0;
}

static int show_windows(struct hall *h, const void *arg)
{
    (void)arg;
    printf("    no  type      state  clerk        areas  name\n");
    return store_load_windows(h->st, list_window, NULL) != 0 ? -1 : 0;
}

static int window_list(int argc, char **argv)
{
    return config_only_verb(argc, argv, "hallctl window list [-c FILE]",
                            "Print the windows: number, type, state, signed-in clerk, areas with\n"
                            "weights, name.\n" CONFIG_HELP,
                            show_windows);
}

/* ==== clerk add / list ========================================================== */

static int clerk_add(int argc, char **argv)
{
    static const struct option options[] = {
        CONFIG_OPTION,
        {"id", required_argument, NULL, 'i'},
        {"name", required_argument, NULL, 'n'},
        HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    const char *config, *id = NULL, *name = NULL;
    const struct str_option strings[] = {{'i', &id}, {'n', &name}, {0, NULL}};
    const struct verb_options v = {
        "hallctl clerk add [-c FILE] --id ID --name NAME", NULL, options, strings, NULL, NULL,
    };
    store_clerk c = {.active = true};
    int rc =
        parse_verb(&v, argc, argv, &config,
                   "Add a clerk who may sign in at a window, or rename one.\n" CONFIG_HELP
                   "  --id ID             staff number, 1..%zu of letters, digits, '.', '-', '_'\n"
                   "  --name NAME         the clerk's name, as shown to citizens\n",
                   sizeof c.id - 1);

    if (rc != GO_ON)
        return rc;
    if (id == NULL || name == NULL || optind != argc)
        return usage_error(v.usage);
    hadmin_error e;
    if (hadmin_clerk_build(&c, id, name, &e) < 0)
        return admin_fail(&e);
    struct hall h;
    if (hall_open(&h, config) != 0)
        return 1;
    char user[128];
    hadmin_actor a = hall_actor(&h, user, sizeof user);
    rc = hadmin_clerk_save(h.st, &a, &c, &e) < 0
             ? admin_fail(&e)
             : hall_changed(&h, true, "clerk %s saved: %s\n", c.id, c.name);
    hall_close(&h);
    return rc;
}

static int list_clerk(void *arg, const store_clerk *c)
{
    (void)arg;
    printf("  %-31s %-8s %s\n", c->id, c->active ? "active" : "inactive", c->name);
    return 0;
}

static int show_clerks(struct hall *h, const void *arg)
{
    (void)arg;
    return store_load_clerks(h->st, list_clerk, NULL) != 0 ? -1 : 0;
}

static int clerk_list(int argc, char **argv)
{
    return config_only_verb(argc, argv, "hallctl clerk list [-c FILE]",
                            "Print the clerks: id, state, name.\n" CONFIG_HELP, show_clerks);
}

/* ==== user add / list / passwd / disable / enable / role / logout ================= */

/* The people who sign in to the hall's web pages (store.h). halld and
 * hallweb read a user from the database at each request made for it
 * (docs/web.md), so these verbs do not ask halld to reload. */

#define ROLES_HELP "admin, manager, clerk, reviewer, consult or auditor"

/* A user's new password and its hash. A password made here is printed
 * once, after the change is committed. */
struct password {
    char text[PWHASH_PASSWORD_MAX + 1];
    char hash[PWHASH_MAX];
    bool made;
};

static void password_wipe(struct password *pw)
{
    OPENSSL_cleanse(pw, sizeof *pw);
}

/* The first line of standard input, checked as the pages check one. */
static int read_password(struct password *pw)
{
    size_t n = 0;
    ssize_t got;
    char c = '\0';
    hadmin_error e;

    while ((got = read(STDIN_FILENO, &c, 1)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return hallctl_fail("--password-stdin: cannot read standard input: %s",
                                strerror(errno));
        if (c == '\n')
            break;
        if (c == '\0' || n == PWHASH_PASSWORD_MAX) {
            OPENSSL_cleanse(pw->text, sizeof pw->text);
            if (c == '\0')
                return hallctl_fail("--password-stdin: the password holds a NUL byte");
            return hallctl_fail("--password-stdin: a password is at most %d bytes",
                                PWHASH_PASSWORD_MAX);
        }
        pw->text[n++] = c;
    }
    if (got == 0 && n == 0)
        return hallctl_fail("--password-stdin: no password on standard input");
    if (n > 0 && pw->text[n - 1] == '\r') /* a line typed on Windows */
        n--;
    pw->text[n] = '\0';
    if (hadmin_password_check(pw->text, &e) < 0) {
        OPENSSL_cleanse(pw->text, sizeof pw->text);
        return hallctl_fail("--password-stdin: %s", e.en);
    }
    return 0;
}

/* The password (from standard input, or made here) and its hash. */
static int new_password(bool from_stdin, struct password *pw)
{
    memset(pw, 0, sizeof *pw);
    if (from_stdin && read_password(pw) != 0)
        return 1;
    if (!from_stdin && hadmin_password_make(pw->text, sizeof pw->text) < 0)
        return hallctl_fail("cannot make a password: no randomness from OpenSSL");
    pw->made = !from_stdin;
    if (pwhash_make(pw->text, pw->hash, sizeof pw->hash) < 0) {
        int e = errno;
        password_wipe(pw);
        return hallctl_fail("cannot hash the password: %s",
                            e == EIO ? "OpenSSL failed" : strerror(e));
    }
    return 0;
}

/* "password for NAME: XXXX\n" for a password made here, else "". */
static const char *password_line(const struct password *pw, const char *name, char *out, size_t len)
{
    out[0] = '\0';
    if (pw->made)
        snprintf(out, len, "password for %.32s: %.32s\n", name, pw->text);
    return out;
}

/* --password-stdin: set the bool at ctx. */
static int password_stdin_option(void *ctx)
{
    *(bool *)ctx = true;
    return GO_ON;
}

/* ==== clerk pin ================================================================== */

/* A PIN is checked by halld at every sign-in on its loop: a cheaper scrypt
 * than a password's (4 MiB, a few ms). Six digits are a million guesses
 * whatever the cost; halld's lock after wrong tries is what protects them. */
#define PIN_HASH_LN 12

/* The first line of standard input as a PIN (checked by the caller). */
static int read_pin(struct password *pw)
{
    if (fgets(pw->text, sizeof pw->text, stdin) == NULL)
        return hallctl_fail("--pin-stdin: no PIN on standard input");
    pw->text[strcspn(pw->text, "\r\n")] = '\0';
    return 0;
}

static int clerk_pin(int argc, char **argv)
{
    static const struct option options[] = {
        CONFIG_OPTION,
        {"id", required_argument, NULL, 'i'},
        {"pin-stdin", no_argument, NULL, 'p'},
        HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    const char *config, *id = NULL;
    bool from_stdin = false;
    const struct str_option strings[] = {{'i', &id}, {0, NULL}};
    const struct verb_options v = {
        "hallctl clerk pin [-c FILE] --id ID [--pin-stdin]",
        NULL,
        options,
        strings,
        password_stdin_option,
        &from_stdin,
    };
    struct password pw;
    hadmin_error e;
    int rc =
        parse_verb(&v, argc, argv, &config,
                   "Give a clerk a PIN for signing in at a window's call-pad (the clerk number\n"
                   "and the PIN are typed on the pad). Without --pin-stdin a random PIN of %d\n"
                   "digits is made and printed once. Five wrong PINs lock the clerk's sign-in\n"
                   "at pads for a while (halld).\n" CONFIG_HELP
                   "  --id ID             the clerk's staff number (digits only, at most 16)\n"
                   "  --pin-stdin         read the PIN (%d to %d digits) from the first line of\n"
                   "                      standard input\n",
                   HADMIN_PIN_MADE, HADMIN_PIN_MIN, HADMIN_PIN_MAX);

    if (rc != GO_ON)
        return rc;
    if (id == NULL || optind != argc)
        return usage_error(v.usage);
    memset(&pw, 0, sizeof pw);
    if (from_stdin && read_pin(&pw) != 0)
        return 1;
    if (!from_stdin && hadmin_pin_make(pw.text, sizeof pw.text) < 0)
        return hallctl_fail("cannot make a PIN: no randomness from OpenSSL");
    if (hadmin_pin_check(pw.text, &e) < 0) {
        password_wipe(&pw);
        return hallctl_fail("--pin-stdin: %s", e.en);
    }
    if (pwhash_make_cost(pw.text, PIN_HASH_LN, pw.hash, sizeof pw.hash) < 0) {
        password_wipe(&pw);
        return hallctl_fail("cannot hash the PIN: OpenSSL failed");
    }
    struct hall h;
    if (hall_open(&h, config) != 0) {
        password_wipe(&pw);
        return 1;
    }
    char user[128], line[64] = "";
    hadmin_actor a = hall_actor(&h, user, sizeof user);
    if (!from_stdin)
        snprintf(line, sizeof line, "PIN for clerk %.16s: %.8s\n", id, pw.text);
    rc = hadmin_clerk_set_pin(h.st, &a, id, pw.hash, &e) < 0
             ? admin_fail(&e)
             : hall_changed(&h, false, "clerk %s: call-pad PIN set\n%s", id, line);
    OPENSSL_cleanse(line, sizeof line);
    password_wipe(&pw);
    hall_close(&h);
    return rc;
}

/* "clerk (clerk c-1)", or the role alone. */
static const char *role_text(const char *role, const char *clerk, char *out, size_t len)
{
    if (clerk != NULL && *clerk != '\0')
        snprintf(out, len, "%s (clerk %s)", role, clerk);
    else
        snprintf(out, len, "%s", role);
    return out;
}

#define USER_NAME_HELP "  --name NAME         the user's sign-in name\n"
#define PASSWORD_HELP                                                                              \
    "  --password-stdin    read the password from the first line of standard input\n"              \
    "                      (at least %d characters); without it hallctl makes one of %d\n"         \
    "                      letters and digits and prints it, once\n"

static int user_add(int argc, char **argv)
{
    static const struct option options[] = {
        CONFIG_OPTION,
        {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'},
        {"clerk", required_argument, NULL, 'k'},
        {"display-name", required_argument, NULL, 'd'},
        {"password-stdin", no_argument, NULL, 'p'},
        HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    const char *config, *name = NULL, *role = NULL, *clerk = NULL, *display = NULL;
    bool from_stdin = false;
    const struct str_option strings[] = {
        {'n', &name}, {'r', &role}, {'k', &clerk}, {'d', &display}, {0, NULL}};
    const struct verb_options v = {
        "hallctl user add [-c FILE] --name NAME --role ROLE [--clerk CLERK_ID] "
        "[--display-name TEXT] [--password-stdin]",
        NULL,
        options,
        strings,
        password_stdin_option,
        &from_stdin,
    };
    store_user u;
    hadmin_error e;
    int rc = parse_verb(
        &v, argc, argv, &config,
        "Add a user of the hall's web pages, with one role. A user of role clerk acts\n"
        "as a clerk of hallctl clerk list. Only a hash of the password is kept (scrypt).\n"
        "Users are never removed: disable one who leaves (hallctl user disable).\n" CONFIG_HELP
        "  --name NAME         the sign-in name: 1..%d of a-z, 0-9, '.', '_', '-', starting\n"
        "                      with a letter\n"
        "  --role ROLE         " ROLES_HELP "\n"
        "  --clerk CLERK_ID    the clerk a user of role clerk is (required for that role)\n"
        "  --display-name TEXT the name shown on the pages (default: the clerk's name for\n"
        "                      role clerk, else NAME)\n" PASSWORD_HELP,
        STORE_USER_NAME_MAX, HADMIN_PASSWORD_MIN, HADMIN_PASSWORD_MADE);

    if (rc != GO_ON)
        return rc;
    if (name == NULL || role == NULL || optind != argc)
        return usage_error(v.usage);
    if (hadmin_user_build(&u, name, role, clerk, display, &e) < 0)
        return admin_fail(&e);
    struct password pw;
    if (new_password(from_stdin, &pw) != 0)
        return 1;
    struct hall h;
    if (hall_open(&h, config) != 0) {
        password_wipe(&pw);
        return 1;
    }
    char what[64], line[128], user[128];
    hadmin_actor a = hall_actor(&h, user, sizeof user);
    rc = hadmin_user_add(h.st, &a, &u, pw.hash, &e) < 0
             ? admin_fail(&e)
             : hall_changed(&h, false, "user %s added, role %s\n%s", u.name,
                            role_text(u.role, u.clerk_id, what, sizeof what),
                            password_line(&pw, u.name, line, sizeof line));
    OPENSSL_cleanse(line, sizeof line);
    OPENSSL_cleanse(&u, sizeof u);
    password_wipe(&pw);
    hall_close(&h);
    return rc;
}

static int list_user(void *arg, const store_user *u)
{
    (void)arg;
    printf("  %-32s %-8s %-12s %-8s %s\n", u->name, u->role, *u->clerk_id ? u->clerk_id : "-",
           u->disabled ? "disabled" : "active", u->display_name);
    return 0;
}

static int show_users(struct hall *h, const void *arg)
{
    (void)arg;
    printf("  %-32s %-8s %-12s %-8s %s\n", "name", "role", "clerk", "state", "display name");
    return store_load_users(h->st, list_user, NULL) != 0 ? -1 : 0;
}

static int user_list(int argc, char **argv)
{
    return config_only_verb(
        argc, argv, "hallctl user list [-c FILE]",
        "Print the users of the web pages: name, role, clerk, state (active\n"
        "or disabled), display name. Never their password hashes.\n" CONFIG_HELP,
        show_users);
}

/* A verb on one user, --name NAME and nothing else but what extra
 * describes: its parsed options and the change, run on the open hall. */
struct user_verb {
    const char *usage, *help;
    const struct option *extra; /* besides -c, --name, --help; NULL: none */
    const char **role, **clerk; /* where --role and --clerk go, if taken */
    bool *from_stdin;           /* --password-stdin, if taken */
    int (*change)(struct hall *h, const hadmin_actor *a, const char *name, void *ctx);
    void *ctx;
};

static int run_user_verb(int argc, char **argv, const struct user_verb *uv)
{
    struct option options[8] = {CONFIG_OPTION, {"name", required_argument, NULL, 'n'}, HELP_OPTION};
    const char *config, *name = NULL;
    size_t n = 3;
    for (const struct option *o = uv->extra; o != NULL && o->name != NULL; o++)
        options[n++] = *o;
    options[n] = (struct option){NULL, 0, NULL, 0};
    const struct str_option strings[] = {
        {'n', &name}, {'r', uv->role}, {'k', uv->clerk}, {0, NULL}};
    const struct verb_options v = {
        uv->usage,      NULL, options, strings, uv->from_stdin ? password_stdin_option : NULL,
        uv->from_stdin,
    };
    int rc = parse_verb(&v, argc, argv, &config, "%s", uv->help);

    if (rc != GO_ON)
        return rc;
    if (name == NULL || (uv->role != NULL && *uv->role == NULL) || optind != argc)
        return usage_error(v.usage);
    struct hall h;
    if (hall_open(&h, config) != 0)
        return 1;
    char user[128];
    hadmin_actor a = hall_actor(&h, user, sizeof user);
    rc = uv->change(&h, &a, name, uv->ctx);
    hall_close(&h);
    return rc;
}

static int change_password(struct hall *h, const hadmin_actor *a, const char *name, void *ctx)
{
    struct password pw;
    hadmin_error e;
    char line[128] = "";
    int rc;

    if (new_password(*(bool *)ctx, &pw) != 0)
        return 1;
    rc = hadmin_user_password(h->st, a, name, pw.hash, &e) < 0
             ? admin_fail(&e)
             : hall_changed(h, false, "user %s: password changed, its web sessions ended\n%s", name,
                            password_line(&pw, name, line, sizeof line));
    OPENSSL_cleanse(line, sizeof line);
    password_wipe(&pw);
    return rc;
}

static int user_passwd(int argc, char **argv)
{
    static const struct option extra[] = {{"password-stdin", no_argument, NULL, 'p'},
                                          {NULL, 0, NULL, 0}};
    char help[600];
    bool from_stdin = false;

    snprintf(help, sizeof help,
             "Give a user a new password. Every web session of the user ends: they\n"
             "sign in again with the new one.\n" CONFIG_HELP USER_NAME_HELP PASSWORD_HELP,
             HADMIN_PASSWORD_MIN, HADMIN_PASSWORD_MADE);
    const struct user_verb uv = {
        "hallctl user passwd [-c FILE] --name NAME [--password-stdin]",
        help,
        extra,
        NULL,
        NULL,
        &from_stdin,
        change_password,
        &from_stdin,
    };
    return run_user_verb(argc, argv, &uv);
}

static int change_disabled(struct hall *h, const hadmin_actor *a, const char *name, void *ctx)
{
    bool disable = *(bool *)ctx;
    const char *done = disable ? "disabled" : "enabled";
    hadmin_error e;
    int rc = hadmin_user_disable(h->st, a, name, disable, &e);

    if (rc < 0)
        return admin_fail(&e);
    if (rc == 0) {
        printf("user %s is %s already\n", name, done);
        return 0;
    }
    return hall_changed(h, false, "user %s %s%s\n", name, done,
                        disable ? ", every web session of the user ended" : "");
}

static int user_disable(int argc, char **argv)
{
    bool disable = true;
    const struct user_verb uv = {
        "hallctl user disable [-c FILE] --name NAME",
        "Disable a user: the user can no longer sign in, and every web session of the\n"
        "user ends. The user is kept (and can be enabled again).\n" CONFIG_HELP USER_NAME_HELP,
        NULL,
        NULL,
        NULL,
        NULL,
        change_disabled,
        &disable,
    };
    return run_user_verb(argc, argv, &uv);
}

static int user_enable(int argc, char **argv)
{
    bool disable = false;
    const struct user_verb uv = {
        "hallctl user enable [-c FILE] --name NAME",
        "Enable a disabled user again, with the same password and role.\n" CONFIG_HELP
            USER_NAME_HELP,
        NULL,
        NULL,
        NULL,
        NULL,
        change_disabled,
        &disable,
    };
    return run_user_verb(argc, argv, &uv);
}

struct role_change {
    const char *role, *clerk;
};

static int change_role(struct hall *h, const hadmin_actor *a, const char *name, void *ctx)
{
    const struct role_change *c = ctx;
    store_user u;
    hadmin_error e;
    char was[64] = "", now[64];

    if (store_get_user(h->st, name, &u) == 1)
        role_text(u.role, u.clerk_id, was, sizeof was);
    OPENSSL_cleanse(&u, sizeof u);
    role_text(c->role, c->clerk, now, sizeof now);
    int rc = hadmin_user_role(h->st, a, name, c->role, c->clerk, &e);
    if (rc < 0)
        return admin_fail(&e);
    if (rc == 0) {
        printf("user %s is %s already\n", name, now);
        return 0;
    }
    return hall_changed(h, false, "user %s: role %s -> %s, every web session of the user ended\n",
                        name, was, now);
}

static int user_role(int argc, char **argv)
{
    static const struct option extra[] = {{"role", required_argument, NULL, 'r'},
                                          {"clerk", required_argument, NULL, 'k'},
                                          {NULL, 0, NULL, 0}};
    struct role_change c = {NULL, NULL};
    const struct user_verb uv = {
        "hallctl user role [-c FILE] --name NAME --role ROLE [--clerk CLERK_ID]",
        "Give a user another role (or, for role clerk, another clerk). Every web\n"
        "session of the user ends.\n" CONFIG_HELP USER_NAME_HELP "  --role ROLE         " ROLES_HELP
        "\n"
        "  --clerk CLERK_ID    the clerk a user of role clerk is (required for that role)\n",
        extra,
        &c.role,
        &c.clerk,
        NULL,
        change_role,
        &c,
    };
    return run_user_verb(argc, argv, &uv);
}

static int end_sessions(struct hall *h, const hadmin_actor *a, const char *name, void *ctx)
{
    hadmin_error e;

    (void)ctx;
    return hadmin_user_logout(h->st, a, name, &e) < 0
               ? admin_fail(&e)
               : hall_changed(h, false, "user %s: every web session of the user ended\n", name);
}

static int user_logout(int argc, char **argv)
{
    const struct user_verb uv = {
        "hallctl user logout [-c FILE] --name NAME",
        "End every web session of a user, wherever signed in (a lost phone, a\n"
        "shared computer). The user may sign in again.\n" CONFIG_HELP USER_NAME_HELP,
        NULL,
        NULL,
        NULL,
        NULL,
        end_sessions,
        NULL,
    };
    return run_user_verb(argc, argv, &uv);
}

/* ==== device add / revoke / list ================================================= */

/* The files of a device bundle, removed again if registering fails. A
 * kiosk's has the public sealing key; never the hall secret nor a private
 * key of halld's (docs/privacy.md). */
struct bundle {
    char dir[PATH_MAX];
    char crt[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], sealing[PATH_MAX];
};

static void bundle_remove(const struct bundle *b)
{
    unlink(b->crt);
    unlink(b->key);
    unlink(b->sealing);
}

/* The public half of the hall's sealing key, into a kiosk's bundle. */
static int bundle_sealing(struct hall *h, const struct bundle *b)
{
    char err[300];
    seal_key *k = seal_key_read(h->conf.sealing_key, true, err, sizeof err);
    char *pem;
    int rc;

    if (k == NULL)
        return hallctl_fail("[privacy] sealing_key %s%s", err,
                            errno == ENOENT ? " (a kiosk's bundle carries its public half: make "
                                              "it with hallctl privacy keys)"
                                            : "");
    pem = seal_key_pem(k, false);
    rc = pem == NULL ? hallctl_fail("cannot write the sealing key: %s", strerror(errno))
                     : write_file(b->sealing, pem, strlen(pem), 0644, false);
    seal_pem_free(pem);
    seal_key_free(k);
    return rc;
}

static int bundle_write(struct hall *h, const store_device *d, int days, struct bundle *b)
{
    char ca_crt[PATH_MAX], ca_key[PATH_MAX], name[Q_DEVICE_MAX + 8];
    char err[PKI_ERR_LEN];

    if (!join(ca_crt, sizeof ca_crt, h->pki, "ca.crt") ||
        !join(b->ca, sizeof b->ca, b->dir, "ca.crt"))
        return hallctl_fail("path too long");
    snprintf(name, sizeof name, "%s.crt", d->id);
    if (!join(b->crt, sizeof b->crt, b->dir, name))
        return hallctl_fail("path too long");
    snprintf(name, sizeof name, "%s.key", d->id);
    if (!join(b->key, sizeof b->key, b->dir, name))
        return hallctl_fail("path too long");
    if (d->type == HADMIN_DEV_KIOSK && !join(b->sealing, sizeof b->sealing, b->dir, "seal.pub"))
        return hallctl_fail("path too long");
    if (exists(b->crt) || exists(b->key))
        return hallctl_fail("%s already holds a certificate for %s: choose another --out", b->dir,
                            d->id);
    if (hallctl_ca_key(h->pki, true, ca_key, sizeof ca_key) != 0)
        return 1;
    if (make_dirs(b->dir, 0700) != 0)
        return 1;
    if (pki_issue(ca_crt, ca_key, d->id, NULL, PKI_CLIENT, days, b->crt, b->key, err) < 0)
        return hallctl_fail("%s", err);
    if (copy_file(ca_crt, b->ca, 0644) != 0 ||
        (d->type == HADMIN_DEV_KIOSK && bundle_sealing(h, b) != 0)) {
        bundle_remove(b);
        return 1;
    }
    return 0;
}

/* --days N into the long at ctx. */
static int days_option(void *ctx)
{
    if (!parse_num(optarg, 1, 36500, ctx))
        return hallctl_fail("--days %s: 1..36500", optarg);
    return GO_ON;
}

static int device_add(int argc, char **argv)
{
    static const struct option options[] = {
        CONFIG_OPTION,
        {"id", required_argument, NULL, 'i'},
        {"type", required_argument, NULL, 't'},
        {"window", required_argument, NULL, 'w'},
        {"out", required_argument, NULL, 'o'},
        {"days", required_argument, NULL, 'n'},
        HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    const char *config, *id = NULL, *type = NULL, *window = NULL, *out = NULL;
    long days = 825, n;
    const struct str_option strings[] = {
        {'i', &id}, {'t', &type}, {'w', &window}, {'o', &out}, {0, NULL}};
    const struct verb_options v = {
        "hallctl device add [-c FILE] --id ID --type kiosk|window|display|tool [--window N] "
        "[--out DIR] [--days N]",
        NULL,
        options,
        strings,
        days_option,
        &days,
    };
    store_device d = {0};
    struct bundle b = {0};
    int rc =
        parse_verb(&v, argc, argv, &config,
                   "Register a device and write its bundle into DIR: ID.crt and ID.key (its\n"
                   "client certificate, CN = ID, signed by the hall CA), ca.crt, and for a\n"
                   "kiosk seal.pub (the public half of halld's sealing key). Copy the bundle\n"
                   "to the device; the key file is mode 0600. A revoked id is never\n"
                   "registered again.\n" CONFIG_HELP
                   "  --id ID             1..64 letters, digits, '.', '-', '_' (e.g. kiosk-01)\n"
                   "  --type TYPE         kiosk, window (a window terminal), display, tool or web\n"
                   "                      (a web gateway: hallweb, docs/web.md)\n"
                   "  --window N          the window of a window terminal (required) or display\n"
                   "  --out DIR           where to write the bundle (default PKI/devices/ID, PKI\n"
                   "                      being the directory of [tls] ca)\n"
                   "  --days N            certificate validity (default 825)\n");

    if (rc != GO_ON)
        return rc;
    if (id == NULL || type == NULL || optind != argc)
        return usage_error(v.usage);
    hadmin_error e;
    n = 0;
    if (window != NULL && !parse_num(window, 1, HADMIN_WINDOW_MAX, &n))
        return hallctl_fail("--window %s: a window number is 1..%d", window, HADMIN_WINDOW_MAX);
    if (hadmin_device_build(&d, id, type, n, &e) < 0)
        return admin_fail(&e);
    struct hall h;
    if (hall_open(&h, config) != 0)
        return 1;
    rc = hadmin_device_check_new(h.st, &d, &e) < 0 ? admin_fail(&e) : 0;
    if (rc == 0) {
        int len = out ? snprintf(b.dir, sizeof b.dir, "%s", out)
                      : snprintf(b.dir, sizeof b.dir, "%s/devices/%s", h.pki, d.id);
        rc = len < 0 || (size_t)len >= sizeof b.dir
                 ? hallctl_fail("bundle directory: path too long")
                 : bundle_write(&h, &d, (int)days, &b);
    }
    if (rc == 0) {
        d.added_ms = clk_utc_ms();
        rc = store_begin(h.st) < 0 || store_save_device(h.st, &d) < 0 ||
                     hall_event(&h, "device %s added: %s%s", d.id, hadmin_device_type_name(d.type),
                                d.window_no ? " of a window" : "") < 0
                 ? -1
                 : 0;
        rc = hall_finish(
            &h, rc, "device %s (%s) registered; bundle in %s:\n  %s\n  %s\n  %s\n%s%s%s", d.id,
            hadmin_device_type_name(d.type), b.dir, b.crt, b.key, b.ca,
            d.type == HADMIN_DEV_KIOSK ? "  " : "", d.type == HADMIN_DEV_KIOSK ? b.sealing : "",
            d.type == HADMIN_DEV_KIOSK ? "\n" : "");
        if (rc != 0)
            bundle_remove(&b);
    }
    hall_close(&h);
    return rc;
}

static int device_revoke(int argc, char **argv)
{
    static const struct option options[] = {
        CONFIG_OPTION,
        {"id", required_argument, NULL, 'i'},
        HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    const char *config, *id = NULL;
    const struct str_option strings[] = {{'i', &id}, {0, NULL}};
    const struct verb_options v = {
        "hallctl device revoke [-c FILE] --id ID", NULL, options, strings, NULL, NULL,
    };
    int rc = parse_verb(&v, argc, argv, &config,
                        "Revoke a device: halld refuses its HELLO from then on (a running halld\n"
                        "drops its link at the reload), whatever its certificate says. Final: the\n"
                        "id is never registered again.\n" CONFIG_HELP
                        "  --id ID             the device\n");

    if (rc != GO_ON)
        return rc;
    if (id == NULL || optind != argc)
        return usage_error(v.usage);
    struct hall h;
    if (hall_open(&h, config) != 0)
        return 1;
    char user[128];
    hadmin_actor a = hall_actor(&h, user, sizeof user);
    hadmin_error e;
    rc = hadmin_device_revoke(h.st, &a, id, &e);
    if (rc < 0)
        rc = admin_fail(&e);
    else if (rc == 0)
        printf("device %s was revoked already\n", id);
    else
        rc = hall_changed(&h, true, "device %s revoked\n", id);
    hall_close(&h);
    return rc;
}

static int list_device(void *arg, const store_device *d)
{
    struct hall *h = arg;
    char added[40], window[16] = "-";

    clk_format_iso(h->zone, d->added_ms, added, sizeof added);
    if (d->window_no != 0)
        snprintf(window, sizeof window, "%u", d->window_no);
    printf("  %-24s %-8s %-6s %-8s %s\n", d->id,
           d->type >= HADMIN_DEV_KIOSK && d->type <= HADMIN_DEV_WEB
               ? hadmin_device_type_name(d->type)
               : "?",
           window, d->revoked ? "revoked" : "active", added);
    return 0;
}

static int show_devices(struct hall *h, const void *arg)
{
    (void)arg;
    return store_load_devices(h->st, list_device, h) != 0 ? -1 : 0;
}

static int device_list(int argc, char **argv)
{
    return config_only_verb(argc, argv, "hallctl device list [-c FILE]",
                            "Print the devices: id, type, window, state (active or revoked), when\n"
                            "added (hall-local time).\n" CONFIG_HELP,
                            show_devices);
}

/* ==== screen add / list / revoke ================================================= */

/* A screen verb: -c FILE, --help and the screen's NAME as its operand. */
static int screen_verb(int argc, char **argv, const char *usage, const char *help,
                       const char **config, const char **name)
{
    static const struct option options[] = {CONFIG_OPTION, HELP_OPTION, {NULL, 0, NULL, 0}};
    const struct verb_options v = {usage, NULL, options, NULL, NULL, NULL};
    int rc = parse_verb(&v, argc, argv, config, "%s", help);

    if (rc != GO_ON)
        return rc;
    if (optind + 1 != argc)
        return usage_error(usage);
    *name = argv[optind];
    return GO_ON;
}

static int screen_add(int argc, char **argv)
{
    const char *config, *name;
    char token[HADMIN_SCREEN_TOKEN_LEN + 1], user[128];
    hadmin_error e;
    struct hall h;
    int rc = screen_verb(argc, argv, "hallctl screen add [-c FILE] NAME",
                         "Issue a token for the hall's big screen NAME (大屏: 1 to 32 of a-z,\n"
                         "0-9, '.', '_' or '-'), and print it once with the page's path: the\n"
                         "screen opens /screen?token=TOKEN on hallweb, without signing in. Only\n"
                         "the token's SHA-256 is kept. A live screen must be revoked before its\n"
                         "name gets a new token.\n" CONFIG_HELP,
                         &config, &name);

    if (rc != GO_ON)
        return rc;
    if (hall_open(&h, config) != 0)
        return 1;
    hadmin_actor a = hall_actor(&h, user, sizeof user);
    if (hadmin_screen_add(h.st, &a, name, token, &e) < 0) {
        rc = admin_fail(&e);
    } else {
        hall_anchor(&h);
        printf("screen %s: token %s\n", name, token);
        printf("path /screen?token=%s\n", token);
        printf("the token is shown only now; revoke it with hallctl screen revoke %s\n", name);
        rc = 0;
    }
    OPENSSL_cleanse(token, sizeof token);
    hall_close(&h);
    return rc;
}

static int list_screen(void *arg, const store_screen *sc)
{
    struct hall *h = arg;
    char issued[40], revoked[40] = "-";

    clk_format_iso(h->zone, sc->issued_ms, issued, sizeof issued);
    if (sc->revoked_ms != 0)
        clk_format_iso(h->zone, sc->revoked_ms, revoked, sizeof revoked);
    printf("  %-32s %-8s %-26s %-16s %-26s %s\n", sc->name, sc->revoked_ms ? "revoked" : "live",
           issued, sc->issued_by, revoked, sc->revoked_ms ? sc->revoked_by : "-");
    return 0;
}

static int show_screens(struct hall *h, const void *arg)
{
    (void)arg;
    printf("  %-32s %-8s %-26s %-16s %-26s %s\n", "name", "state", "issued", "by", "revoked", "by");
    return store_load_screens(h->st, list_screen, h) != 0 ? -1 : 0;
}

static int screen_list(int argc, char **argv)
{
    return config_only_verb(
        argc, argv, "hallctl screen list [-c FILE]",
        "Print the big screens: name, state (live or revoked), when and by\n"
        "whom issued and revoked (hall-local time). Never their tokens.\n" CONFIG_HELP,
        show_screens);
}

static int screen_revoke(int argc, char **argv)
{
    const char *config, *name;
    char user[128];
    hadmin_error e;
    struct hall h;
    int rc = screen_verb(argc, argv, "hallctl screen revoke [-c FILE] NAME",
                         "Revoke the token of the big screen NAME: its page is refused from its\n"
                         "next request on.\n" CONFIG_HELP,
                         &config, &name);

    if (rc != GO_ON)
        return rc;
    if (hall_open(&h, config) != 0)
        return 1;
    hadmin_actor a = hall_actor(&h, user, sizeof user);
    rc = hadmin_screen_revoke(h.st, &a, name, &e);
    if (rc < 0)
        rc = admin_fail(&e);
    else if (rc == 0)
        printf("screen %s was revoked already\n", name);
    else
        rc = hall_changed(&h, false, "screen %s revoked\n", name);
    hall_close(&h);
    return rc;
}

/* ==== appointment add / list ====================================================== */

/* "YYYY-MM-DD HH:MM" in zone z to UTC ms. The offset is found by asking
 * the zone about a first guess and correcting once; a local time that a
 * clock change skips does not convert back to itself and is refused. */
static int local_time(const clk_zone *z, const char *text, int64_t *out)
{
    int y, mo, d, hh, mm, used = 0;

    if (sscanf(text, "%4d-%2d-%2d %2d:%2d%n", &y, &mo, &d, &hh, &mm, &used) != 5 ||
        text[used] != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mm > 59 ||
        hh < 0 || mm < 0)
        return -1;
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = hh, .tm_min = mm};
    int64_t naive = (int64_t)timegm(&tm) * 1000;
    if (tm.tm_mday != d) /* 2026-02-30 rolled over into March */
        return -1;
    int64_t t = naive;
    clk_civil c;
    for (int i = 0; i < 2; i++) {
        clk_to_civil(z, t, &c);
        t = naive - (int64_t)c.utc_offset_s * 1000;
    }
    clk_to_civil(z, t, &c);
    if (c.year != y || c.month != mo || c.day != d || c.hour != hh || c.minute != mm)
        return -1;
    *out = t;
    return 0;
}

static int find_area(void *arg, const q_area *a)
{
    return strcmp(a->code, (const char *)arg) == 0;
}

/* The citizen hash of an appointment booked for an ID number (check-in by
 * card finds it), made with the hall secret as halld makes it. 0 or -1
 * (said). */
static int appointment_citizen(const struct hall *h, const char *number, store_appointment *a)
{
    char err[512], why[200], line[64] = "";
    citizen_keys *keys;
    int rc;

    /* "-": the number from standard input, kept out of the process list. */
    if (strcmp(number, "-") == 0) {
        if (fgets(line, sizeof line, stdin) == NULL)
            return hallctl_fail("--id-number -: no number on standard input");
        line[strcspn(line, "\r\n")] = '\0';
        number = line;
    }
    if ((keys = citizen_keys_load(h->conf.privacy_secret, NULL, NULL, err, sizeof err)) == NULL) {
        OPENSSL_cleanse(line, sizeof line);
        return hallctl_fail("%s", err);
    }
    rc = citizen_from_number(keys, number, a->citizen_hash, why, sizeof why);
    citizen_keys_free(keys);
    OPENSSL_cleanse(line, sizeof line);
    if (rc < 0)
        return hallctl_fail("--id-number: %s", why);
    a->has_citizen = true;
    return 0;
}

static int appointment_add(int argc, char **argv)
{
    static const struct option options[] = {
        CONFIG_OPTION,
        {"code", required_argument, NULL, 'k'},
        {"area", required_argument, NULL, 'a'},
        {"at", required_argument, NULL, 't'},
        {"id-number", required_argument, NULL, 'n'},
        HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    const char *config, *code = NULL, *area = NULL, *at = NULL, *number = NULL;
    const struct str_option strings[] = {
        {'k', &code}, {'a', &area}, {'t', &at}, {'n', &number}, {0, NULL}};
    const struct verb_options v = {
        "hallctl appointment add [-c FILE] --code CODE --area AREA --at \"YYYY-MM-DD HH:MM\" "
        "[--id-number N]",
        NULL,
        options,
        strings,
        NULL,
        NULL,
    };
    store_appointment a = {.state = STORE_APPT_BOOKED};
    int rc =
        parse_verb(&v, argc, argv, &config,
                   "Book an appointment (one made by phone or at the desk): the citizen checks\n"
                   "in at a kiosk with CODE, or with the ID card of --id-number, and is queued\n"
                   "by the appointment rule.\n" CONFIG_HELP
                   "  --code CODE         booking code: %d to %d of " APPTCODE_ALPHABET "\n"
                   "                      (the kiosk's keypad; no I or O)\n"
                   "  --area AREA         an area of the catalog\n"
                   "  --at TIME           the slot, hall-local time: \"2026-03-02 09:30\"\n"
                   "  --id-number N       the citizen's ID number, for check-in by ID card (kept\n"
                   "                      as the hall's hash of it, never in clear; - reads it\n"
                   "                      from standard input)\n",
                   APPTCODE_MIN, APPTCODE_MAX);

    if (rc != GO_ON)
        return rc;
    if (code == NULL || area == NULL || at == NULL || optind != argc)
        return usage_error(v.usage);
    if (!apptcode_valid(code))
        return hallctl_fail("--code %s: use %d to %d digits or capital letters without I and O "
                            "(what the kiosk's keypad can type)",
                            code, APPTCODE_MIN, APPTCODE_MAX);
    if (!catalog_code_ok(area))
        return hallctl_fail("--area %s: not an area code", area);
    snprintf(a.code, sizeof a.code, "%s", code);
    snprintf(a.area, sizeof a.area, "%s", area);
    struct hall h;
    if (hall_open(&h, config) != 0)
        return 1;
    char when[40];
    int known;
    store_appointment old;
    rc = 0;
    if (local_time(h.zone, at, &a.slot_ms) < 0)
        rc = hallctl_fail("--at %s: expected \"YYYY-MM-DD HH:MM\", a time that exists in %s", at,
                          h.conf.time_zone);
    else if (a.slot_ms < clk_utc_ms())
        rc = hallctl_fail("--at %s: that time has passed", at);
    else if ((known = store_load_areas(h.st, find_area, a.area)) <= 0)
        rc = hallctl_fail("%s",
                          known < 0 ? store_errmsg(h.st) : "--area: no such area in the catalog");
    else if ((known = store_get_appointment(h.st, a.code, &old)) != 0)
        rc = hallctl_fail("%s", known < 0 ? store_errmsg(h.st) : "--code: that appointment exists");
    else if (number != NULL)
        rc = appointment_citizen(&h, number, &a);
    if (rc == 0) {
        clk_format_iso(h.zone, a.slot_ms, when, sizeof when);
        rc = store_begin(h.st) < 0 || store_save_appointment(h.st, &a) < 0 ||
                     hall_event(&h, "appointment %s booked: %s at %s%s", a.code, a.area, when,
                                a.has_citizen ? " (by ID card too)" : "") < 0
                 ? -1
                 : 0;
        rc = hall_commit(&h, rc);
    }
    if (rc == 0)
        printf("appointment %s booked: %s at %s\n", a.code, a.area, when);
    hall_close(&h);
    return rc;
}

static int list_appointment(void *arg, const store_appointment *a)
{
    struct hall *h = arg;
    char when[40], ticket[32] = "";

    clk_format_iso(h->zone, a->slot_ms, when, sizeof when);
    if (a->state == STORE_APPT_USED)
        snprintf(ticket, sizeof ticket, "ticket %llu", (unsigned long long)a->ticket_id);
    printf("  %-31s %-15s %s  %-6s %s\n", a->code, a->area, when,
           a->state == STORE_APPT_USED ? "used" : "booked", ticket);
    return 0;
}

/* --all: set the bool at ctx. */
static int all_option(void *ctx)
{
    *(bool *)ctx = true;
    return GO_ON;
}

/* arg: the bool of --all. */
static int show_appointments(struct hall *h, const void *arg)
{
    int64_t since = *(const bool *)arg ? INT64_MIN : clk_utc_ms() - 24 * 3600 * 1000LL;

    return store_load_appointments(h->st, since, list_appointment, h) != 0 ? -1 : 0;
}

static int appointment_list(int argc, char **argv)
{
    static const struct option options[] = {
        CONFIG_OPTION, {"all", no_argument, NULL, 'a'}, HELP_OPTION, {NULL, 0, NULL, 0}};
    bool all = false;
    const struct verb_options v = {
        "hallctl appointment list [-c FILE] [--all]", NULL, options, NULL, all_option, &all,
    };
    const char *config;
    int rc = parse_verb(&v, argc, argv, &config,
                        "Print the appointments from 24 hours ago on (--all: every one): code,\n"
                        "area, slot (hall-local), state, ticket.\n" CONFIG_HELP
                        "  --all               include past appointments\n");

    if (rc != GO_ON)
        return rc;
    if (optind != argc)
        return usage_error(v.usage);
    return on_hall(config, show_appointments, &all);
}

/* ==== privacy keys / rotate =========================================================== */

/* A hall made before kiosks sealed ID numbers has no sealing key: make
 * one (an existing one is never replaced here). */
static int make_sealing_key(struct hall *h, const void *arg)
{
    char id[2 * SEAL_KEY_ID_LEN + 1], pub[PATH_MAX];

    (void)arg;
    if (exists(h->conf.sealing_key))
        return hallctl_fail("[privacy] sealing_key %s exists (a new one: hallctl privacy rotate)",
                            h->conf.sealing_key);
    if (!public_path(h->conf.sealing_key, pub, sizeof pub))
        return hallctl_fail("%s: path too long", h->conf.sealing_key);
    if (make_sealing(h->conf.sealing_key, true, id) != 0)
        return 1;
    if (store_begin(h->st) < 0)
        return -1;
    int rc = hall_event(h, "sealing key made: key id %s", id) < 0 ? -1 : 0;
    return hall_finish(h, rc,
                       "sealing key made (key id %s):\n  %s  private, halld's alone\n"
                       "  %s  public: copy it to every kiosk ([idcard] sealing_key)\n",
                       id, h->conf.sealing_key, pub) != 0;
}

static int privacy_keys(int argc, char **argv)
{
    return config_only_verb(
        argc, argv, "hallctl privacy keys [-c FILE]",
        "Make the hall's sealing key pair when it has none ([privacy] sealing_key, and\n"
        "its public half .pub next to it): kiosks seal the ID numbers of offline tickets\n"
        "to it, and only halld can open them. hallctl init makes it for a new hall.\n"
        "Copy the .pub file to every kiosk. A running halld is told to reload.\n" CONFIG_HELP,
        make_sealing_key);
}

/* A new sealing key; the current one becomes the previous one, which
 * halld keeps opening until the kiosks have uploaded what they sealed to
 * it. The previous one before is dropped. */
static int rotate_sealing_key(struct hall *h, const void *arg)
{
    char err[300], was[2 * SEAL_KEY_ID_LEN + 1], id[2 * SEAL_KEY_ID_LEN + 1], pub[PATH_MAX];
    seal_key *cur = seal_key_read(h->conf.sealing_key, true, err, sizeof err);
    char *pem;
    int rc;

    (void)arg;
    if (cur == NULL)
        return hallctl_fail("[privacy] sealing_key %s%s", err,
                            errno == ENOENT ? " (make it with hallctl privacy keys)" : "");
    if (!public_path(h->conf.sealing_key, pub, sizeof pub)) {
        seal_key_free(cur);
        return hallctl_fail("%s: path too long", h->conf.sealing_key);
    }
    key_id_hex(cur, was);
    pem = seal_key_pem(cur, true);
    seal_key_free(cur);
    if (pem == NULL)
        return hallctl_fail("cannot copy the sealing key: %s", strerror(errno));
    rc = write_file(h->conf.previous_sealing_key, pem, strlen(pem), 0600, false) != 0 ||
         make_sealing(h->conf.sealing_key, false, id) != 0;
    seal_pem_free(pem);
    if (rc != 0)
        return 1;
    if (store_begin(h->st) < 0)
        return -1;
    rc = hall_event(h, "sealing key rotated: key id %s replaced by %s", was, id) < 0 ? -1 : 0;
    return hall_finish(h, rc,
                       "sealing key rotated: key id %s is now %s (previous_sealing_key, still "
                       "opened by halld), the new key id %s is %s\n"
                       "copy %s to every kiosk ([idcard] sealing_key)\n",
                       was, h->conf.previous_sealing_key, id, h->conf.sealing_key, pub) != 0;
}

static int privacy_rotate(int argc, char **argv)
{
    return config_only_verb(
        argc, argv, "hallctl privacy rotate [-c FILE]",
        "Replace the sealing key pair: the current private key becomes\n"
        "[privacy] previous_sealing_key (halld still opens what kiosks sealed to it;\n"
        "the one before is dropped), a new pair takes its place. Copy the new .pub\n"
        "file to every kiosk; rotate again only after every kiosk has uploaded its\n"
        "offline tickets. The hall secret is not rotated (docs/privacy.md).\n" CONFIG_HELP,
        rotate_sealing_key);
}

/* ==== audit verify / audit key ====================================================== */

#define UNTRUSTED_SHOWN 20 /* untrusted anchor lines named one by one */

/* One anchor line, as audit verify tells of it. */
struct anchor_seen {
    uint64_t seq;
    size_t line;
    int64_t at_ms;
    anchor_reason reason;
};

/* What the anchors file says about the chain. */
struct anchor_check {
    struct hall *h;
    uint64_t head;             /* the chain's last seq */
    size_t trusted, untrusted; /* lines */
    bool top_known, bad_known, cut_known, store_failed;
    struct anchor_seen top; /* the highest seq anchored */
    uint64_t matched;       /* the highest anchored seq whose hash still matches */
    struct anchor_seen bad; /* the lowest anchored seq whose row differs */
    size_t nbad;
    struct anchor_seen cut; /* the highest anchored seq past the chain's end */
};

static void describe(const struct hall *h, const struct anchor_seen *a, char *out, size_t len)
{
    char when[48];

    clk_format_iso(h->zone, a->at_ms, when, sizeof when);
    snprintf(out, len, "at %s (%s, %s line %zu)", when, anchor_reason_name(a->reason), ANCHOR_FILE,
             a->line);
}

static int check_anchor(void *arg, size_t line, anchor_verdict v, const anchor *a)
{
    struct anchor_check *c = arg;
    struct anchor_seen seen = {.line = line};
    uint8_t hash[ANCHOR_HASH_LEN];

    if (v == ANCHOR_OK && strcmp(a->hall_id, c->h->conf.hall_id) != 0) {
        if (++c->untrusted <= UNTRUSTED_SHOWN)
            hallctl_fail("audit: %s line %zu: an anchor of hall '%s', not of this hall; not "
                         "trusted",
                         ANCHOR_FILE, line, a->hall_id);
        return 0;
    }
    if (v != ANCHOR_OK) {
        if (++c->untrusted <= UNTRUSTED_SHOWN)
            hallctl_fail("audit: %s line %zu: %s; not trusted", ANCHOR_FILE, line,
                         anchor_verdict_name(v));
        return 0;
    }
    c->trusted++;
    seen.seq = a->seq;
    seen.at_ms = a->at_ms;
    seen.reason = a->reason;
    if (!c->top_known || a->seq > c->top.seq)
        c->top = seen;
    c->top_known = true;
    if (a->seq > c->head) {
        if (!c->cut_known || a->seq > c->cut.seq)
            c->cut = seen;
        c->cut_known = true;
        return 0;
    }
    int found = store_event_hash(c->h->st, a->seq, hash);
    if (found < 0) {
        c->store_failed = true;
        return -1;
    }
    if (found == 1 && memcmp(hash, a->hash, sizeof hash) == 0) {
        if (a->seq > c->matched)
            c->matched = a->seq;
        return 0;
    }
    if (!c->bad_known || a->seq < c->bad.seq)
        c->bad = seen;
    c->bad_known = true;
    c->nbad++;
    return 0;
}

/* Check the chain against the anchors file; prints what is known and
 * reports each failure. Returns 0 if nothing failed. */
static int verify_anchors(struct hall *h, uint64_t head)
{
    struct anchor_check c = {.h = h, .head = head};
    char err[512], where[160];
    int rc = 0;
    anchor_key *key = anchor_key_load(h->conf.audit_key, err, sizeof err);

    if (key == NULL && errno == ENOENT && access(h->conf.audit_key, F_OK) < 0) {
        if (exists(h->anchors))
            return hallctl_fail("audit: no audit key %s, but %s holds anchors: they cannot be "
                                "checked",
                                h->conf.audit_key, h->anchors);
        printf("not anchored: no audit key %s (hallctl audit key makes one); a rewrite or a "
               "truncation of the log cannot be detected\n",
               h->conf.audit_key);
        return 0;
    }
    if (key == NULL)
        return hallctl_fail("audit: %s", err);
    int got = anchor_read(h->anchors, key, check_anchor, &c, err, sizeof err);
    if (got != 0) {
        bool missing = !c.store_failed && got < 0 && errno == ENOENT;
        anchor_key_free(key);
        if (missing)
            return hallctl_fail("audit: %s is missing: a hall with an audit key has anchors "
                                "from its first one on, so it was removed",
                                h->anchors);
        return hallctl_fail("audit: %s", c.store_failed ? store_errmsg(h->st) : err);
    }
    if (c.untrusted > UNTRUSTED_SHOWN)
        hallctl_fail("audit: %s: %zu more lines not trusted", ANCHOR_FILE,
                     c.untrusted - UNTRUSTED_SHOWN);
    printf("anchors: %zu in %s signed by the hall audit key %s%s\n", c.trusted, h->anchors,
           anchor_key_id(key), c.untrusted ? ", and lines that are not trusted (above)" : "");
    anchor_key_free(key);
    if (c.untrusted > 0)
        rc = 1;
    if (c.bad_known) {
        char after[64] = "";
        if (c.matched > 0 && c.matched < c.bad.seq)
            snprintf(after, sizeof after, " and after event %llu", (unsigned long long)c.matched);
        describe(h, &c.bad, where, sizeof where);
        rc = hallctl_fail("audit: rewritten: event %llu no longer has the hash anchored %s: the "
                          "log was changed at or before event %llu%s (%zu anchor(s) no longer "
                          "match)",
                          (unsigned long long)c.bad.seq, where, (unsigned long long)c.bad.seq,
                          after, c.nbad);
    }
    if (c.cut_known) {
        describe(h, &c.cut, where, sizeof where);
        rc = hallctl_fail("audit: truncated: the log ends at event %llu, but event %llu was "
                          "anchored %s: events %llu..%llu were removed",
                          (unsigned long long)head, (unsigned long long)c.cut.seq, where,
                          (unsigned long long)head + 1, (unsigned long long)c.cut.seq);
    }
    if (!c.top_known)
        return hallctl_fail("audit: no anchor can be trusted: a rewrite or a truncation of the "
                            "log cannot be detected");
    describe(h, &c.top, where, sizeof where);
    printf("anchored up to event %llu, %s\n", (unsigned long long)c.top.seq, where);
    if (head == c.top.seq + 1)
        printf("event %llu came after the last anchor: a change to it, or its removal, cannot "
               "be detected until it is anchored\n",
               (unsigned long long)head);
    else if (head > c.top.seq)
        printf("events %llu..%llu came after the last anchor: a change to them, or their "
               "removal, cannot be detected until they are anchored\n",
               (unsigned long long)c.top.seq + 1, (unsigned long long)head);
    return rc;
}

static int verify_events(struct hall *h, const void *arg)
{
    uint64_t count, seq;
    uint8_t hash[32];
    char hex[65];
    int rc = 0;

    (void)arg;
    if (store_event_head(h->st, &seq, hash) < 0)
        return hallctl_fail("audit: %s", store_errmsg(h->st));
    if (store_verify_events(h->st, &count) < 0) {
        rc = hallctl_fail("audit: %s", store_errmsg(h->st));
    } else {
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", hash[i]);
        printf("%llu events, chain intact; head: event %llu, hash %s\n", (unsigned long long)count,
               (unsigned long long)seq, hex);
    }
    return verify_anchors(h, seq) != 0 ? 1 : rc;
}

static int audit_verify(int argc, char **argv)
{
    return config_only_verb(
        argc, argv, "hallctl audit verify [-c FILE]",
        "Check the event log. Its SHA-256 chain is recomputed from the first event\n"
        "on; then every anchor in " ANCHOR_FILE " (next to the database) is checked:\n"
        "its line must be signed by the hall audit key ([audit] key), and the event\n"
        "it anchors must still have the hash it had. Prints the count, the head,\n"
        "and up to which event the log is anchored, and exits 0; names the first\n"
        "edited, missing or reordered row, a rewrite (an anchored hash no longer\n"
        "matches its row), a truncation (the log ends before an anchored event),\n"
        "and every anchor line that is damaged or not signed by the key, and\n"
        "exits 1. Events after the last anchor are covered by nothing yet.\n" CONFIG_HELP,
        verify_events);
}

static int make_audit_key(struct hall *h, const void *arg)
{
    char err[512];
    uint64_t count;

    (void)arg;
    if (store_verify_events(h->st, &count) < 0)
        return hallctl_fail("audit: %s: no key made (anchoring a broken log would vouch for "
                            "it)",
                            store_errmsg(h->st));
    anchor_key *k = anchor_key_create(h->conf.audit_key, err, sizeof err);
    if (k == NULL)
        return hallctl_fail("%s%s", err,
                            errno == EEXIST ? " (a key is never replaced: every anchor it signed "
                                              "would become unverifiable)"
                                            : "");
    printf("audit key %s made (key %s)\n", h->conf.audit_key, anchor_key_id(k));
    anchor_key_free(k);
    if (hadmin_anchor(h->st, h->conf.hall_id, h->conf.audit_key, h->anchors, ANCHOR_NEW_KEY, err,
                      sizeof err) < 0)
        return hallctl_fail("cannot anchor the event log: %s", err);
    printf("%llu events anchored in %s; restart halld so that it anchors too\n",
           (unsigned long long)count, h->anchors);
    return 0;
}

static int audit_key(int argc, char **argv)
{
    return config_only_verb(
        argc, argv, "hallctl audit key [-c FILE]",
        "Make the hall audit key ([audit] key, mode 0600) of a hall made before\n"
        "anchors existed, and anchor the head of its event log with it. The log is\n"
        "verified first: a broken one is not anchored. An existing key is never\n"
        "replaced. halld reads the key when it starts.\n" CONFIG_HELP,
        make_audit_key);
}

/* ==== The table ====================================================================== */

/* ==== calendar show / hours / clear / holiday / workday / remove / area / import ===== */

/* The hall calendar (docs/calendar.md). Changes go through hadmin and a
 * running halld reloads. */

#define CALENDAR_IMPORT_MAX (64 * 1024)

static int show_calendar(struct hall *h, const void *arg)
{
    static const char *const wdays[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    static const char *const unstaffed[] = {"default", "yes", "no"};
    const char *area;
    const cal_date *d;
    const cal_area *ca;
    calendar *c;

    (void)arg;
    if (store_load_calendar(h->st, &c) < 0)
        return -1;
    if (!calendar_configured(c))
        printf("no hours: every area is open at all hours\n");
    for (size_t i = 0; (area = calendar_hours_area_at(c, i)) != NULL; i++) {
        printf("hours of %s:\n", area[0] ? area : "the hall");
        for (int wd = 1; wd <= 7; wd++) {
            const cal_hours *x = calendar_hours_of(c, area, wd % 7);
            char o[6], cl[6], ls[6], le[6], la[6];

            if (x == NULL)
                continue;
            calendar_format_time(x->open, o);
            calendar_format_time(x->close, cl);
            calendar_format_time(x->lunch_start, ls);
            calendar_format_time(x->lunch_end, le);
            calendar_format_time(x->last, la);
            if (x->lunch_start != x->lunch_end)
                printf("  %s  %s-%s  lunch %s-%s  last number %s\n", wdays[wd % 7], o, cl, ls, le,
                       la);
            else
                printf("  %s  %s-%s  no lunch break  last number %s\n", wdays[wd % 7], o, cl, la);
        }
    }
    for (size_t i = 0; (d = calendar_date_at(c, i)) != NULL; i++)
        printf("%04d-%02d-%02d  %s%s%s  %s\n", (int)d->day / 10000, (int)d->day / 100 % 100,
               (int)d->day % 100, d->kind == CAL_HOLIDAY ? "holiday" : "workday, hours of ",
               d->kind == CAL_HOLIDAY ? "" : wdays[d->as_wday], "", d->name);
    for (size_t i = 0; (ca = calendar_area_at(c, i)) != NULL; i++)
        printf("area %s: always open %s, issue with no window open %s\n", ca->area,
               ca->always_open ? "yes" : "no", unstaffed[ca->unstaffed]);
    calendar_free(c);
    return 0;
}

static int calendar_show(int argc, char **argv)
{
    return config_only_verb(argc, argv, "hallctl calendar show [-c FILE]",
                            "Print the hall calendar: weekly hours, holidays and swapped working "
                            "days, areas' own settings.\n" CONFIG_HELP,
                            show_calendar);
}

/* The options every calendar change may take, kept as given. */
struct calendar_args {
    const char *area, *days, *open, *close, *lunch, *last, *date, *as, *name, *always_open,
        *unstaffed;
};

enum calendar_change {
    CAL_HOURS,
    CAL_CLEAR,
    CAL_HOLIDAY_DAY,
    CAL_WORKDAY_DAY,
    CAL_REMOVE,
    CAL_AREA
};

static int calendar_run(int argc, char **argv, enum calendar_change what, const char *usage,
                        const char *help)
{
    static const struct option options[] = {
        CONFIG_OPTION,
        {"area", required_argument, NULL, 'a'},
        {"days", required_argument, NULL, 'd'},
        {"open", required_argument, NULL, 'o'},
        {"close", required_argument, NULL, 'C'},
        {"lunch", required_argument, NULL, 'l'},
        {"last", required_argument, NULL, 'L'},
        {"date", required_argument, NULL, 'D'},
        {"as", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},
        {"always-open", required_argument, NULL, 'A'},
        {"unstaffed", required_argument, NULL, 'u'},
        HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    struct calendar_args x = {.area = "", .days = "1-5"};
    const struct str_option strings[] = {
        {'a', &x.area},  {'d', &x.days},        {'o', &x.open},      {'C', &x.close},
        {'l', &x.lunch}, {'L', &x.last},        {'D', &x.date},      {'s', &x.as},
        {'n', &x.name},  {'A', &x.always_open}, {'u', &x.unstaffed}, {0, NULL},
    };
    const struct verb_options v = {usage, NULL, options, strings, NULL, NULL};
    const char *config;
    int rc = parse_verb(&v, argc, argv, &config, "%s", help);

    if (rc != GO_ON)
        return rc;
    if (optind != argc || (what == CAL_HOURS && (x.open == NULL || x.close == NULL)) ||
        ((what == CAL_HOLIDAY_DAY || what == CAL_WORKDAY_DAY || what == CAL_REMOVE) &&
         x.date == NULL) ||
        (what == CAL_AREA && (x.area[0] == '\0' || (x.always_open == NULL && x.unstaffed == NULL))))
        return usage_error(usage);
    struct hall h;
    if (hall_open(&h, config) != 0)
        return 1;
    char user[128];
    hadmin_actor a = hall_actor(&h, user, sizeof user);
    hadmin_error e;
    const char *area = x.area[0] ? x.area : "the hall";
    switch (what) {
    case CAL_HOURS:
        rc = hadmin_calendar_hours(h.st, &a, x.area, x.days, x.open, x.close, x.lunch, x.last, &e);
        rc = rc < 0 ? admin_fail(&e)
                    : hall_changed(&h, true, "hours of %s on %s: %s-%s\n", area, x.days, x.open,
                                   x.close);
        break;
    case CAL_CLEAR:
        rc = hadmin_calendar_clear(h.st, &a, x.area, x.days, &e);
        rc = rc < 0    ? admin_fail(&e)
             : rc == 0 ? (printf("%s had no hours on %s\n", area, x.days), 0)
                       : hall_changed(&h, true, "no hours of %s on %s\n", area, x.days);
        break;
    case CAL_HOLIDAY_DAY:
    case CAL_WORKDAY_DAY: {
        const char *kind = what == CAL_HOLIDAY_DAY ? "holiday" : "workday";
        rc = hadmin_calendar_date(h.st, &a, x.date, kind, x.as, x.name, &e) < 0
                 ? admin_fail(&e)
                 : hall_changed(&h, true, "%s: %s\n", x.date, kind);
        break;
    }
    case CAL_REMOVE:
        rc = hadmin_calendar_undate(h.st, &a, x.date, &e);
        rc = rc < 0    ? admin_fail(&e)
             : rc == 0 ? (printf("%s was neither a holiday nor a working day\n", x.date), 0)
                       : hall_changed(&h, true, "%s removed\n", x.date);
        break;
    case CAL_AREA:
        rc = hadmin_calendar_area(h.st, &a, x.area, x.always_open, x.unstaffed, &e) < 0
                 ? admin_fail(&e)
                 : hall_changed(&h, true, "area %s saved\n", x.area);
        break;
    }
    hall_close(&h);
    return rc;
}

static int calendar_hours_verb(int argc, char **argv)
{
    return calendar_run(
        argc, argv, CAL_HOURS,
        "hallctl calendar hours [-c FILE] [--area AREA] [--days DAYS] --open HH:MM --close HH:MM "
        "[--lunch HH:MM-HH:MM] [--last HH:MM]",
        "Set the opening hours on some weekdays, for the hall or one area.\n" CONFIG_HELP
        "  --area AREA         an area with hours of its own (default: the hall's hours)\n"
        "  --days DAYS         weekdays: 1-5 (default), sat, mon,wed, 1-7 (0 or 7 is Sunday)\n"
        "  --open, --close     the opening hours\n"
        "  --lunch             the lunch break, no numbers then (default: none)\n"
        "  --last              the last time to take a number (default: --close)\n");
}

static int calendar_clear_verb(int argc, char **argv)
{
    return calendar_run(
        argc, argv, CAL_CLEAR, "hallctl calendar clear [-c FILE] [--area AREA] [--days DAYS]",
        "Remove the hours on some weekdays (the hall's: no business days).\n" CONFIG_HELP
        "  --area AREA         an area's own hours (default: the hall's)\n"
        "  --days DAYS         weekdays, as for hours (default 1-5)\n");
}

static int calendar_holiday_verb(int argc, char **argv)
{
    return calendar_run(argc, argv, CAL_HOLIDAY_DAY,
                        "hallctl calendar holiday [-c FILE] --date YYYY-MM-DD [--name NAME]",
                        "Close the hall on a date (a public holiday).\n" CONFIG_HELP
                        "  --date              the date\n"
                        "  --name              what it is, e.g. 国庆节\n");
}

static int calendar_workday_verb(int argc, char **argv)
{
    return calendar_run(
        argc, argv, CAL_WORKDAY_DAY,
        "hallctl calendar workday [-c FILE] --date YYYY-MM-DD [--as DAY] [--name NAME]",
        "Open the hall on a date with a weekday's hours (a swapped working day, "
        "调休).\n" CONFIG_HELP "  --date              the date, usually a Saturday or Sunday\n"
        "  --as DAY            whose hours: mon (default) .. sun\n"
        "  --name              what it is, e.g. 国庆节调休\n");
}

static int calendar_remove_verb(int argc, char **argv)
{
    return calendar_run(argc, argv, CAL_REMOVE,
                        "hallctl calendar remove [-c FILE] --date YYYY-MM-DD",
                        "Remove a holiday or a swapped working day.\n" CONFIG_HELP);
}

static int calendar_area_verb(int argc, char **argv)
{
    return calendar_run(
        argc, argv, CAL_AREA,
        "hallctl calendar area [-c FILE] --area AREA [--always-open yes|no] "
        "[--unstaffed default|yes|no]",
        "An area's own settings.\n" CONFIG_HELP "  --area AREA         the area\n"
        "  --always-open       yes: the 24-hour self-service area, numbers at any time\n"
        "  --unstaffed         whether it issues while none of its windows is open (default:\n"
        "                      [queue] issue_unstaffed of halld.ini)\n");
}

static int calendar_import_verb(int argc, char **argv)
{
    static const struct option options[] = {CONFIG_OPTION, HELP_OPTION, {NULL, 0, NULL, 0}};
    const char *usage = "hallctl calendar import [-c FILE] DATES.csv";
    const struct verb_options v = {usage, NULL, options, NULL, NULL, NULL};
    const char *config;
    int rc = parse_verb(&v, argc, argv, &config, "%s",
                        "Add a year's holidays and swapped working days from a CSV file, one a "
                        "line:\n  date,kind[,as[,name]]   2026-10-01,holiday,,国庆节\n"
                        "                          2026-10-10,workday,mon,国庆节调休\n"
                        "All or nothing: the first bad line is named.\n" CONFIG_HELP);

    if (rc != GO_ON)
        return rc;
    if (optind != argc - 1)
        return usage_error(usage);
    char *text = malloc(CALENDAR_IMPORT_MAX);
    size_t len, n;
    if (text == NULL)
        return hallctl_fail("out of memory");
    if (read_small(argv[optind], text, CALENDAR_IMPORT_MAX, &len) != 0) {
        free(text);
        return 1;
    }
    struct hall h;
    if (hall_open(&h, config) != 0) {
        free(text);
        return 1;
    }
    char user[128];
    hadmin_actor a = hall_actor(&h, user, sizeof user);
    hadmin_error e;
    rc = hadmin_calendar_import(h.st, &a, text, len, &n, &e) < 0
             ? hallctl_fail("%s: %s", argv[optind], e.en)
             : hall_changed(&h, true, "%zu dates imported from %s\n", n, argv[optind]);
    hall_close(&h);
    free(text);
    return rc;
}

const hallctl_verb hallctl_admin_verbs[] = {
    {"init", NULL, init_hall, "create a hall: configuration, CA, keys, database"},
    {"catalog", "import", catalog_import, "replace the catalog from a CSV or JSON file"},
    {"catalog", "list", catalog_list, "print the areas and matters"},
    {"window", "add", window_add, "add or change a window and the areas it serves"},
    {"window", "list", window_list, "print the windows"},
    {"clerk", "add", clerk_add, "add or rename a clerk"},
    {"clerk", "list", clerk_list, "print the clerks"},
    {"clerk", "pin", clerk_pin, "give a clerk a PIN for the call-pads"},
    {"user", "add", user_add, "add a user of the web pages, with a role"},
    {"user", "list", user_list, "print the users of the web pages"},
    {"user", "passwd", user_passwd, "give a user a new password"},
    {"user", "disable", user_disable, "disable a user (ends the user's web sessions)"},
    {"user", "enable", user_enable, "enable a disabled user"},
    {"user", "role", user_role, "give a user another role"},
    {"user", "logout", user_logout, "end every web session of a user"},
    {"device", "add", device_add, "register a device and write its certificate bundle"},
    {"device", "revoke", device_revoke, "revoke a device for good"},
    {"device", "list", device_list, "print the devices"},
    {"screen", "add", screen_add, "issue a token for a big screen of the hall (大屏)"},
    {"screen", "list", screen_list, "print the big screens"},
    {"screen", "revoke", screen_revoke, "revoke a big screen's token"},
    {"appointment", "add", appointment_add, "book an appointment"},
    {"appointment", "list", appointment_list, "print the appointments"},
    {"privacy", "keys", privacy_keys, "make the sealing key pair of a hall that has none"},
    {"privacy", "rotate", privacy_rotate, "replace the sealing key pair, keeping the previous"},
    {"calendar", "show", calendar_show, "print the hall calendar"},
    {"calendar", "hours", calendar_hours_verb, "set the opening hours of the hall or an area"},
    {"calendar", "clear", calendar_clear_verb, "remove the hours on some weekdays"},
    {"calendar", "holiday", calendar_holiday_verb, "close the hall on a date"},
    {"calendar", "workday", calendar_workday_verb, "open the hall on a date (调休)"},
    {"calendar", "remove", calendar_remove_verb, "remove a holiday or a swapped working day"},
    {"calendar", "area", calendar_area_verb, "an area's own settings (24-hour, unstaffed)"},
    {"calendar", "import", calendar_import_verb, "add holidays and working days from a CSV file"},
    {"audit", "verify", audit_verify, "check the event log's hash chain against its anchors"},
    {"audit", "key", audit_key, "make the audit key of a hall made before anchors existed"},
    {NULL, NULL, NULL, NULL},
};
