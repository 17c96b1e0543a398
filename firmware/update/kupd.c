/*
 * kupd — the kiosk firmware updater's command line.
 *
 * Release side: keygen, bundle create, bundle verify. Kiosk side: install
 * (a bundle file, or a directory where a USB stick is mounted), recover,
 * mark-good, mark-bad, status, log, watch (the stick service's loop), and
 * boot, which performs one simulated boot as the bootloader would. Every
 * kiosk-side command works under --root (default $KUPD_ROOT, else "/"),
 * takes the updater lock and resolves an interrupted install first.
 *
 * Exit status: 0 done, 1 refused or failed (one sentence on stderr),
 * 2 usage, 3 no bootable slot.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "boot.h"
#include "bootgrub.h"
#include "bootsim.h"
#include "health.h"
#include "install.h"
#include "kub_build.h"
#include "kub_sign.h"
#include "slots.h"
#include "stick.h"

#define HEALTH_DEADLINE_S 600

struct opts {
    const char *root;
    const char *grubenv;
    const char *out;
    const char *compatible;
    const char *version;
    const char *build;
    const char *trust[KUB_SIG_MAX];
    unsigned n_trust;
    const char *keys[KUB_SIG_MAX];
    unsigned n_keys;
    uint64_t security_version;
    uint64_t chunk_size;
    int have_secver;
    int force, allow_downgrade, once, show_progress;
    int deadline_s;
};

static void usage(FILE *f)
{
    fputs("usage: kupd <command> [options]\n"
          "release side:\n"
          "  keygen BASE                      make BASE.key (private) and BASE.pub\n"
          "  bundle create -o OUT -k KEY [-k KEY...] --compatible C --version V\n"
          "         --security-version N [--build TEXT] [--chunk-size N] NAME=FILE...\n"
          "  bundle verify FILE               check a bundle against --root's keys\n"
          "kiosk side (all take --root DIR, default $KUPD_ROOT or /, and --grubenv FILE):\n"
          "  init --compatible C [--trust KEY.pub...]  create the directory layout\n"
          "  install [--force] [--allow-downgrade] [--progress] BUNDLE|STICK-DIR\n"
          "  recover | boot | mark-good [--deadline S] | mark-bad [REASON]\n"
          "  status | log | watch [--once] DIR | crash-points\n",
          f);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    fputs("kupd: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* ---- progress: a bar on the terminal and JSON lines for the kiosk screen - */

struct progress {
    FILE *events; /* run/progress */
    int bar;
    char last_phase[16];
};

static void on_progress(void *arg, const char *phase, int pct, const char *msg)
{
    struct progress *p = arg;
    char esc[400];
    size_t o = 0;

    for (const char *s = msg; *s != '\0' && o + 2 < sizeof esc; s++) {
        if (*s == '"' || *s == '\\')
            esc[o++] = '\\';
        esc[o++] = (unsigned char)*s < 0x20 ? ' ' : *s;
    }
    esc[o] = '\0';
    if (p->events != NULL && (strcmp(p->last_phase, phase) != 0 || pct % 5 == 0)) {
        fprintf(p->events, "{\"phase\":\"%s\",\"percent\":%d,\"message\":\"%s\"}\n", phase, pct,
                esc);
        fflush(p->events);
    }
    if (p->bar) {
        int fill = pct * 30 / 100;
        fprintf(stderr, "\r%-9s [%.*s%*s] %3d%%  %-50.50s", phase, fill,
                "##############################", 30 - fill, "", pct, msg);
        if (pct >= 100 || strcmp(phase, "copied") == 0)
            fputc('\n', stderr);
    }
    snprintf(p->last_phase, sizeof p->last_phase, "%s", phase);
}

static void progress_event(struct progress *p, const char *phase, const char *msg)
{
    if (p->events != NULL) {
        fprintf(p->events, "{\"phase\":\"%s\",\"percent\":100,\"message\":\"%s\"}\n", phase, msg);
        fflush(p->events);
    }
    fprintf(stderr, "%s\n", msg);
}

/* ---- kiosk side ------------------------------------------------------------ */

static boot *open_boot(const struct opts *o)
{
    return o->grubenv != NULL ? bootgrub_new(o->grubenv) : bootsim_new(o->root);
}

/* Lock, then resolve an interrupted install; prints what recovery did. */
static int begin(const struct opts *o, boot *b)
{
    char msg[512];
    int fd = slots_lock(o->root), r;

    if (fd < 0) {
        fail("cannot take the updater lock under %s: %s", o->root, strerror(errno));
        return -1;
    }
    r = install_recover(o->root, b, msg, sizeof msg);
    if (r < 0)
        fail("recovery failed: %s", strerror(errno));
    else if (r > 0)
        fprintf(stderr, "kupd: %s\n", msg);
    return fd;
}

/* What one install from a stick has to tell: progress for the screen, and
 * the entries it skipped, for the receipt. */
struct run {
    struct progress pr;
    const char *root;
    const char *label;
    char skipped[STICK_RECEIPT_MAX / 2]; /* "skipped=NAME: REASON\n" lines, escaped */
    size_t used;
    unsigned more; /* skipped lines that did not fit */
};

static void run_progress(void *arg, const char *phase, int pct, const char *msg)
{
    on_progress(&((struct run *)arg)->pr, phase, pct, msg);
}

/* An entry that is not installed, and why: on stderr, in the audit log and
 * in the receipt, its name always escaped. */
static void run_skipped(void *arg, const char *name, const char *reason)
{
    struct run *run = arg;
    char esc[STICK_ESC_MAX], why[4 * 320 + 1], detail[sizeof esc + sizeof why + 64];
    size_t room = sizeof run->skipped - run->used;
    int n;

    stick_escape(name, esc, sizeof esc);
    stick_escape(reason, why, sizeof why);
    fprintf(stderr, "kupd: skipped %s: %s\n", esc, why);
    snprintf(detail, sizeof detail, "%s%s: %s", run->label, esc, why);
    audit_append(run->root, "refused", NULL, NULL, detail);
    n = snprintf(run->skipped + run->used, room, "skipped=%s: %s\n", esc, why);
    if (n < 0 || (size_t)n >= room) {
        run->skipped[run->used] = '\0';
        run->more++;
    } else {
        run->used += (size_t)n;
    }
}

/* The receipt: one key=value per line, every value escaped so nothing
 * from the stick can add a line. */
static void receipt(struct run *run, stick *s, const struct install_result *r, int ok)
{
    char host[64] = "kiosk", when[32], e_host[4 * sizeof host], e_name[STICK_ESC_MAX];
    char e_msg[4 * sizeof r->message], *text = malloc(STICK_RECEIPT_MAX + 1);
    time_t now = time(NULL);
    struct tm tm;
    int n;

    if (text == NULL)
        return;
    gethostname(host, sizeof host - 1);
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    stick_escape(host, e_host, sizeof e_host);
    stick_escape(r->name, e_name, sizeof e_name);
    stick_escape(r->message, e_msg, sizeof e_msg);
    n = snprintf(text, STICK_RECEIPT_MAX + 1,
                 "kiosk=%s\ntime=%s\nbundle=%s\nsha256=%s\nversion=%s\nslot=%c\nresult=%s\n"
                 "message=%s\nbytes_read=%" PRIu64 "\n%s",
                 e_host, when, e_name, r->bundle, r->version, r->slot ? r->slot : '-',
                 ok ? "installed" : "refused", e_msg, r->bytes_read, run->skipped);
    if (n > 0 && run->more > 0 && (size_t)n < STICK_RECEIPT_MAX)
        snprintf(text + n, STICK_RECEIPT_MAX + 1 - (size_t)n, "skipped_more=%u\n", run->more);
    if (stick_write_receipt(s, text) < 0) {
        fprintf(stderr, "kupd: the receipt could not be written to the stick (%s)\n",
                strerror(errno));
        audit_append(run->root, "receipt-failed", NULL, NULL, strerror(errno));
    }
    free(text);
}

/* Install from a stick mounted at src (is_stick) or the bundle file src. */
static int install_from(const struct opts *o, const char *src, int is_stick)
{
    struct install_opts io = {.root = o->root};
    struct install_result r;
    struct run *run = calloc(1, sizeof *run);
    struct stick_entry *entries = calloc(STICK_ENTRIES_MAX, sizeof *entries);
    const char *names[STICK_ENTRIES_MAX], *slash = strrchr(src, '/');
    char why[320], dir[4096], esc[4 * sizeof dir], label[sizeof esc + 16], p[4096];
    stick *s = NULL;
    int fd = -1, rc = 1, n = 0;
    boot *b = open_boot(o);

    if (run == NULL || entries == NULL || b == NULL) {
        rc = fail("kupd cannot start the install: %s", strerror(errno));
        goto out;
    }
    fd = begin(o, b);
    if (fd < 0)
        goto out;
    if (is_stick) {
        snprintf(label, sizeof label, "usb: %s/", STICK_DIR);
        s = stick_open(src, STICK_DIR, why, sizeof why);
    } else {
        /* A bundle named on the command line is read under the same rules
         * from the folder it is in. */
        if (slash == NULL)
            snprintf(dir, sizeof dir, ".");
        else
            snprintf(dir, sizeof dir, "%.*s", slash == src ? 1 : (int)(slash - src), src);
        stick_escape(dir, esc, sizeof esc);
        snprintf(label, sizeof label, "cli: %s/", esc);
        names[n++] = slash != NULL ? slash + 1 : src;
        s = stick_open(dir, NULL, why, sizeof why);
    }
    if (s == NULL) {
        if (is_stick && errno == ENOENT) {
            rc =
                fail("No update bundle was found on the USB stick (expected %s/*.kub).", STICK_DIR);
            goto out;
        }
        snprintf(p, sizeof p, "%.*s: %s", (int)strlen(label) - 1, label, why);
        audit_append(o->root, "refused", NULL, NULL, p);
        rc = fail("%s", why);
        goto out;
    }
    run->root = o->root;
    run->label = label;
    if (is_stick) {
        int found = stick_scan(s, entries, STICK_ENTRIES_MAX, why, sizeof why);
        if (found < 0) {
            snprintf(p, sizeof p, "%.*s: %s", (int)strlen(label) - 1, label, why);
            audit_append(o->root, "refused", NULL, NULL, p);
            memset(&r, 0, sizeof r);
            snprintf(r.message, sizeof r.message, "%s", why);
            if (stick_alive(s))
                receipt(run, s, &r, 0);
            rc = fail("%s", why);
            goto out;
        }
        if (found == 0) {
            rc =
                fail("No update bundle was found on the USB stick (expected %s/*.kub).", STICK_DIR);
            goto out;
        }
        for (int i = 0; i < found; i++) {
            const char *no = stick_refusal(entries[i].name, entries[i].type);
            if (no != NULL)
                run_skipped(run, entries[i].name, no);
            else
                names[n++] = entries[i].name;
        }
    }
    if (slots_path(p, sizeof p, o->root, "run/progress") != NULL)
        run->pr.events = fopen(p, "we");
    run->pr.bar = o->show_progress || isatty(STDERR_FILENO);
    io.stick = s;
    io.names = names;
    io.n_names = (unsigned)n;
    io.label = label;
    io.force = o->force;
    io.allow_downgrade = o->allow_downgrade;
    io.boot = b;
    io.progress = run_progress;
    io.skipped = run_skipped;
    io.arg = run;
    rc = install_run(&io, &r);
    if (n > 1 && r.name[0] != '\0') {
        stick_escape(r.name, esc, sizeof esc);
        fprintf(stderr, "kupd: %d bundles on the stick; used %s\n", n, esc);
    }
    if (is_stick) {
        receipt(run, s, &r, rc == 0);
        progress_event(&run->pr, "remove-stick", "You may remove the USB stick now.");
    }
    if (run->pr.events != NULL)
        fclose(run->pr.events);
    if (rc < 0) {
        stick_escape(r.name, esc, sizeof esc);
        rc = r.name[0] != '\0' ? fail("%s: %s", esc, r.message) : fail("%s", r.message);
    } else {
        printf("%s\n", r.message);
    }
out:
    stick_free(s);
    if (fd >= 0)
        close(fd);
    boot_free(b);
    free(entries);
    free(run);
    return rc;
}

static int cmd_install(const struct opts *o, const char *src)
{
    struct stat sb;

    return install_from(o, src, stat(src, &sb) == 0 && S_ISDIR(sb.st_mode));
}

static int cmd_boot(const struct opts *o)
{
    char note[256];
    boot *b = open_boot(o);
    int fd, s;

    if (b == NULL)
        return fail("the boot state backend cannot be opened: %s", strerror(errno));
    fd = slots_lock(o->root);
    s = boot_step(b, o->root, note, sizeof note);
    if (note[0] != '\0') {
        fprintf(stderr, "kupd: %s\n", note);
        audit_append(o->root, "fallback", NULL, NULL, note);
    }
    if (fd >= 0)
        close(fd);
    boot_free(b);
    if (s < 0) {
        if (errno == ENOENT) {
            fprintf(stderr, "kupd: No bootable slot: the kiosk would start its recovery "
                            "system.\n");
            return 3;
        }
        return fail("the boot state cannot be used: %s", strerror(errno));
    }
    printf("booted=%c\n", s);
    return 0;
}

/* Mark the running trial slot bad: the next boot returns to the other. */
static int mark_bad(const struct opts *o, boot *b, const char *reason)
{
    struct boot_state st;
    struct slots_status ss;
    char running = slots_booted(o->root);
    struct boot_slot *s;

    if (running == 0 || boot_load(b, &st) < 0)
        return fail("No booted slot is known (run/booted).");
    if (st.trial != running)
        return fail("Slot %c is not on trial; it is not marked bad.", running);
    s = &st.slot[slots_index(running)];
    s->bootable = s->good = s->tries = 0;
    st.trial = 0;
    if (boot_store(b, &st) < 0)
        return fail("the boot state cannot be written: %s", strerror(errno));
    if (slots_status_read(o->root, running, &ss) == 0) {
        strcpy(ss.status, "failed");
        slots_status_write(o->root, running, &ss);
    }
    audit_append(o->root, "rollback", (char[]){running, 0}, ss.version, reason);
    fprintf(stderr, "kupd: %s Slot %c is marked bad; the next boot returns to slot %c.\n", reason,
            running, slots_other(running));
    return 1;
}

static int confirm(const struct opts *o, boot *b)
{
    struct boot_state st;
    struct slots_status ss, other;
    char running = slots_booted(o->root), hdir[4096], why[320] = "";
    uint64_t floor, prev;
    struct boot_slot *s, *os;
    int n;

    if (running == 0 || boot_load(b, &st) < 0)
        return fail("No booted slot is known (run/booted).");
    s = &st.slot[slots_index(running)];
    if (st.trial != running) {
        if (s->good) {
            printf("Slot %c is already confirmed.\n", running);
            return 0;
        }
        return fail("Slot %c is not on trial.", running);
    }
    if (slots_path(hdir, sizeof hdir, o->root, "etc/kupd/health.d") == NULL)
        return 1;
    n = health_run(hdir, o->deadline_s, why, sizeof why);
    if (n < 0)
        return mark_bad(o, b, why[0] != '\0' ? why : "The health checks could not be run.");
    if (slots_status_read(o->root, running, &ss) < 0 || slots_floor_read(o->root, &floor) < 0)
        return fail("the status of slot %c or the floor cannot be read", running);
    /* The floor rises only now, after the new slot proved itself; a
     * fallback may not bring back a hole the new floor closes. Both go
     * into one boot-state store, and a cut before the floor write is
     * repaired by recover. */
    if (ss.security_version > floor)
        floor = ss.security_version;
    os = &st.slot[slots_index(slots_other(running))];
    if (os->bootable && slots_status_read(o->root, slots_other(running), &other) == 0 &&
        other.security_version < floor)
        os->bootable = os->good = 0;
    s->good = 1;
    s->tries = 0;
    st.trial = 0;
    if (boot_store(b, &st) < 0)
        return fail("the boot state cannot be written: %s", strerror(errno));
    audit_append(o->root, "mark-good", (char[]){running, 0}, ss.version, "health checks passed");
    install_crash_point(INSTALL_CRASH_CONFIRMED);
    if (ss.security_version == floor && slots_floor_read(o->root, &prev) == 0 && prev < floor) {
        if (slots_floor_write(o->root, floor) < 0)
            return fail("the anti-rollback floor cannot be written");
        audit_append(o->root, "floor-bump", (char[]){running, 0}, ss.version, NULL);
    }
    printf("Slot %c (version %s) is confirmed after %d health checks; security floor %" PRIu64
           ".\n",
           running, ss.version, n, floor);
    return 0;
}

static int cmd_locked(const struct opts *o, const char *cmd, const char *arg)
{
    boot *b = open_boot(o);
    int fd, rc = 0;

    if (b == NULL)
        return fail("the boot state backend cannot be opened: %s", strerror(errno));
    fd = begin(o, b);
    if (fd < 0) {
        boot_free(b);
        return 1;
    }
    if (strcmp(cmd, "mark-good") == 0)
        rc = confirm(o, b);
    else if (strcmp(cmd, "mark-bad") == 0)
        rc = mark_bad(o, b, arg != NULL ? arg : "Marked bad by hand.");
    close(fd);
    boot_free(b);
    return rc;
}

static int cmd_status(const struct opts *o)
{
    struct boot_state st;
    struct slots_status ss;
    struct slots_kv j;
    uint64_t floor = 0;
    char p[4096], running = slots_booted(o->root);
    boot *b = open_boot(o);

    if (b == NULL || boot_load(b, &st) < 0) {
        boot_free(b);
        return fail("the boot state cannot be read: %s", strerror(errno));
    }
    slots_floor_read(o->root, &floor);
    printf("booted=%c\nboot=%s\norder=%c %c\ntrial=%c\nfloor=%" PRIu64 "\n",
           running ? running : '-', boot_name(b), st.order[0], st.order[1],
           st.trial ? st.trial : '-', floor);
    for (int i = 0; i < 2; i++) {
        char c = (char)('a' + i);
        if (slots_status_read(o->root, c, &ss) < 0)
            strcpy(ss.status, "unreadable");
        printf("%c.status=%s\n%c.version=%s\n%c.security_version=%" PRIu64
               "\n%c.bootable=%d\n%c.good=%d\n%c.tries=%d\n",
               c, ss.status, c, ss.version, c, ss.security_version, c, st.slot[i].bootable, c,
               st.slot[i].good, c, st.slot[i].tries);
    }
    if (slots_path(p, sizeof p, o->root, "state/journal") != NULL && slots_kv_read(p, &j) == 0)
        printf("journal=%s\n", slots_kv_get(&j, "phase") ? slots_kv_get(&j, "phase") : "?");
    else
        printf("journal=none\n");
    boot_free(b);
    return 0;
}

static int cmd_log(const struct opts *o)
{
    long bad = 0, n = audit_verify(o->root, stdout, &bad);

    if (n < 0) {
        if (errno == EBADMSG)
            return fail("The audit log is broken at line %ld: it was edited or damaged.", bad);
        return fail("The audit log cannot be read: %s", strerror(errno));
    }
    fprintf(stderr, "kupd: audit chain intact, %ld entries\n", n);
    return 0;
}

/* Is a stick with an update folder mounted at dir? A folder kupd refuses
 * (a link, a stick that does not answer) counts: the install says why. */
static int stick_present(const char *dir)
{
    char why[320];
    stick *s = stick_open(dir, STICK_DIR, why, sizeof why);

    if (s == NULL)
        return errno != ENOENT;
    stick_free(s);
    return 1;
}

/* The stick service: wait for a stick with an update folder under dir,
 * install from it, then wait for it to go before looking again. */
static int cmd_watch(const struct opts *o, const char *dir)
{
    struct timespec nap = {0, 200 * 1000 * 1000};

    for (;;) {
        int rc;
        while (!stick_present(dir))
            nanosleep(&nap, NULL);
        fprintf(stderr, "kupd: update stick detected under %s\n", dir);
        rc = install_from(o, dir, 1);
        if (o->once)
            return rc;
        while (stick_present(dir))
            nanosleep(&nap, NULL);
    }
}

static int cmd_init(const struct opts *o)
{
    char p[4096];

    if (o->compatible == NULL)
        return fail("init needs --compatible");
    if (slots_init(o->root) < 0)
        return fail("cannot create the layout under %s: %s", o->root, strerror(errno));
    if (slots_path(p, sizeof p, o->root, "etc/kupd/compatible") == NULL)
        return 1;
    {
        char line[200];
        snprintf(line, sizeof line, "%s\n", o->compatible);
        if (slots_write_atomic(p, line, strlen(line)) < 0)
            return fail("cannot write %s: %s", p, strerror(errno));
    }
    for (unsigned i = 0; i < o->n_trust; i++) {
        uint8_t pub[KUB_PUB_LEN + 1], id[KUB_KEYID_LEN];
        char hexid[17], rel[64];
        FILE *f = fopen(o->trust[i], "re");
        size_t n = f != NULL ? fread(pub, 1, sizeof pub, f) : 0;
        if (f != NULL)
            fclose(f);
        if (n != KUB_PUB_LEN)
            return fail("%s is not a 32-byte Ed25519 public key", o->trust[i]);
        kub_sign_keyid(pub, id);
        kub_hex(id, sizeof id, hexid);
        snprintf(rel, sizeof rel, "etc/kupd/keys/%s.pub", hexid);
        if (slots_path(p, sizeof p, o->root, rel) == NULL ||
            slots_write_atomic(p, pub, KUB_PUB_LEN) < 0)
            return fail("cannot write %s: %s", p, strerror(errno));
    }
    return 0;
}

/* ---- release side ---------------------------------------------------------- */

static int cmd_bundle_create(const struct opts *o, int argc, char **argv)
{
    struct kub_build_spec s = {0};
    char err[512];

    if (o->out == NULL || o->n_keys == 0 || o->compatible == NULL || o->version == NULL ||
        !o->have_secver || argc == 0) {
        usage(stderr);
        return 2;
    }
    s.out = o->out;
    s.n_keys = o->n_keys;
    for (unsigned i = 0; i < o->n_keys; i++)
        s.keys[i] = o->keys[i];
    s.compatible = o->compatible;
    s.version = o->version;
    s.build = o->build;
    s.security_version = o->security_version;
    s.chunk_size = o->chunk_size;
    if (argc > KUB_IMAGES_MAX)
        return fail("at most %d images", KUB_IMAGES_MAX);
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL)
            return fail("image %s: expected NAME=FILE", argv[i]);
        *eq = '\0';
        s.name[i] = argv[i];
        s.path[i] = eq + 1;
    }
    s.n_images = (unsigned)argc;
    if (kub_build(&s, err, sizeof err) < 0)
        return fail("%s", err);
    printf("%s\n", o->out);
    return 0;
}

static int cmd_bundle_verify(const struct opts *o, const char *path)
{
    struct kub_manifest m;
    char msg[320];

    if (install_verify_file(o->root, path, &m, msg, sizeof msg) < 0)
        return fail("%s", msg);
    printf("compatible=%s\nversion=%s\nsecurity_version=%" PRIu64 "\nimages=%u\nresult=valid\n",
           m.compatible, m.version, m.security_version, m.n_images);
    return 0;
}

static int cmd_keygen(const char *base)
{
    uint8_t id[KUB_KEYID_LEN];
    char hexid[17];

    if (kub_sign_keygen(base, id) < 0)
        return fail("cannot make the key pair %s.key/.pub: %s", base, strerror(errno));
    kub_hex(id, sizeof id, hexid);
    printf("key id %s\n", hexid);
    return 0;
}

static int number(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' || s[0] == '-' ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"root", required_argument, NULL, 'r'},
                                             {"grubenv", required_argument, NULL, 'g'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"key", required_argument, NULL, 'k'},
                                             {"trust", required_argument, NULL, 't'},
                                             {"compatible", required_argument, NULL, 'c'},
                                             {"version", required_argument, NULL, 'V'},
                                             {"security-version", required_argument, NULL, 's'},
                                             {"build", required_argument, NULL, 'b'},
                                             {"chunk-size", required_argument, NULL, 'C'},
                                             {"deadline", required_argument, NULL, 'd'},
                                             {"force", no_argument, NULL, 'f'},
                                             {"allow-downgrade", no_argument, NULL, 'D'},
                                             {"once", no_argument, NULL, '1'},
                                             {"progress", no_argument, NULL, 'p'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct opts o = {.deadline_s = HEALTH_DEADLINE_S};
    const char *cmd, *sub = NULL;
    uint64_t v;
    int c;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    o.root = getenv("KUPD_ROOT") != NULL ? getenv("KUPD_ROOT") : "/";
    if (install_crash_env_ok() < 0) {
        fprintf(stderr, "kupd: KUPD_CRASH_AT names no crash point (see kupd crash-points)\n");
        return 2;
    }
    if (stick_fault_env_ok() < 0) {
        fprintf(stderr, "kupd: KUPD_STICK_FAULT must be eio@BYTES or hang@BYTES\n");
        return 2;
    }
    argc--;
    argv++;
    if (strcmp(cmd, "bundle") == 0) {
        if (argc < 2) {
            usage(stderr);
            return 2;
        }
        sub = argv[1];
        argc--;
        argv++;
    }
    while ((c = getopt_long(argc, argv, "r:o:k:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            o.root = optarg;
            break;
        case 'g':
            o.grubenv = optarg;
            break;
        case 'o':
            o.out = optarg;
            break;
        case 'k':
        case 't':
            if ((c == 'k' ? o.n_keys : o.n_trust) == KUB_SIG_MAX)
                return fail("at most %d keys", KUB_SIG_MAX);
            if (c == 'k')
                o.keys[o.n_keys++] = optarg;
            else
                o.trust[o.n_trust++] = optarg;
            break;
        case 'c':
            o.compatible = optarg;
            break;
        case 'V':
            o.version = optarg;
            break;
        case 'b':
            o.build = optarg;
            break;
        case 's':
            if (number(optarg, &o.security_version) < 0)
                return fail("--security-version needs a number");
            o.have_secver = 1;
            break;
        case 'C':
            if (number(optarg, &o.chunk_size) < 0)
                return fail("--chunk-size needs a number");
            break;
        case 'd':
            if (number(optarg, &v) < 0 || v == 0 || v > 86400)
                return fail("--deadline needs seconds (1-86400)");
            o.deadline_s = (int)v;
            break;
        case 'f':
            o.force = 1;
            break;
        case 'D':
            o.allow_downgrade = 1;
            break;
        case '1':
            o.once = 1;
            break;
        case 'p':
            o.show_progress = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    argc -= optind;
    argv += optind;

    if (sub != NULL && strcmp(sub, "create") == 0)
        return cmd_bundle_create(&o, argc, argv);
    if (sub != NULL && strcmp(sub, "verify") == 0 && argc == 1)
        return cmd_bundle_verify(&o, argv[0]);
    if (strcmp(cmd, "keygen") == 0 && argc == 1)
        return cmd_keygen(argv[0]);
    if (strcmp(cmd, "init") == 0 && argc == 0)
        return cmd_init(&o);
    if (strcmp(cmd, "install") == 0 && argc == 1)
        return cmd_install(&o, argv[0]);
    if (strcmp(cmd, "boot") == 0 && argc == 0)
        return cmd_boot(&o);
    if ((strcmp(cmd, "recover") == 0 || strcmp(cmd, "mark-good") == 0) && argc == 0)
        return cmd_locked(&o, cmd, NULL);
    if (strcmp(cmd, "mark-bad") == 0 && argc <= 1)
        return cmd_locked(&o, cmd, argc == 1 ? argv[0] : NULL);
    if (strcmp(cmd, "status") == 0 && argc == 0)
        return cmd_status(&o);
    if (strcmp(cmd, "log") == 0 && argc == 0)
        return cmd_log(&o);
    if (strcmp(cmd, "watch") == 0 && argc == 1)
        return cmd_watch(&o, argv[0]);
    if (strcmp(cmd, "crash-points") == 0 && argc == 0) {
        for (const char *const *p = install_crash_points(); *p != NULL; p++)
            printf("%s\n", *p);
        return 0;
    }
    usage(stderr);
    return 2;
}
