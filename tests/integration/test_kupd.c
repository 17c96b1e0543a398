/*
 * kupd — the real kupd binary on a kiosk root in a temporary directory:
 * release keys and bundles made with kupd itself, installs into the A/B
 * slots, simulated boots, health-gated mark-good, rollback, anti-rollback,
 * tampered and foreign bundles, installs cut at every named step and by
 * SIGKILL at random moments, and the USB stick flow with its receipt.
 *
 * One executable; the first argument names the case (the CTest names are
 * kupd_<case>).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testsupport.h"

#define WAIT_MS 60000
#define COMPAT  "gov-hall-queue-kiosk/rev-b"

/* The scratch directory of the running test: keys, images, bundles, the
 * kiosk root "root" and the last command's output "out". */
static char *dir;

static const char *p(const char *name)
{
    return ts_path(dir, name);
}

/* Run kupd with root as its root; its output goes to <dir>/out. */
static int kupd_in(const char *root, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int kupd_in(const char *root, const char *fmt, ...)
{
    char *args;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    ck_assert_int_ge(vasprintf(&args, fmt, ap), 0);
    va_end(ap);
    rc = ts_system("cd %s && KUPD_ROOT=%s/%s %s %s >out 2>&1", dir, dir, root, KUPD_PATH, args);
    free(args);
    return rc;
}

#define kupd(...) kupd_in("root", __VA_ARGS__)

/* The last command's output (freed by the caller). */
static char *out(void)
{
    return ts_slurp(p("out"));
}

#define ck_out_has(needle)                                                                         \
    do {                                                                                           \
        char *o_ = out();                                                                          \
        ck_assert_msg(strstr(o_, needle) != NULL, "expected \"%s\" in output:\n%s", needle, o_);   \
        free(o_);                                                                                  \
    } while (0)

#define ck_kupd_ok(...)                                                                            \
    do {                                                                                           \
        int rc_ = kupd(__VA_ARGS__);                                                               \
        char *o_ = out();                                                                          \
        ck_assert_msg(rc_ == 0, "kupd %s: exit %d:\n%s", #__VA_ARGS__, rc_, o_);                   \
        free(o_);                                                                                  \
    } while (0)

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    unsigned char *x = read_all(a, &la), *y = read_all(b, &lb);
    int same = x != NULL && y != NULL && la == lb && memcmp(x, y, la) == 0;

    free(x);
    free(y);
    return same;
}

/* A value from `kupd status` (static buffer). */
static const char *status(const char *root, const char *key)
{
    static char val[128];
    char *o, *raw, *line, want[64];

    ck_assert_int_eq(kupd_in(root, "status"), 0);
    raw = out();
    ck_assert_int_ge(asprintf(&o, "\n%s", raw), 0);
    free(raw);
    snprintf(want, sizeof want, "\n%s=", key);
    line = strstr(o, want);
    ck_assert_msg(line != NULL, "no %s in status:\n%s", key, o);
    line += strlen(want);
    snprintf(val, sizeof val, "%.*s", (int)strcspn(line, "\n"), line);
    free(o);
    return val;
}

/* Release side: two key pairs and three images. */
static void release(void)
{
    dir = ts_tmpdir("kupd");
    ck_kupd_ok("keygen rel");
    ck_kupd_ok("keygen other");
    ck_assert_int_eq(
        ts_system("cd %s && head -c 300000 /dev/urandom >img1 && "
                  "head -c 300000 /dev/urandom >img2 && "
                  "head -c 200000 /dev/urandom >img3 && head -c 7000 /dev/urandom >app",
                  dir),
        0);
}

/* kupd bundle create with the given keys, version, security version,
 * compatible string and rootfs image (plus a small app image). */
static void bundle(const char *out_name, const char *keys, const char *version, int secver,
                   const char *compat, const char *img)
{
    ck_kupd_ok("bundle create -o %s %s --compatible %s --version %s --security-version %d "
               "--chunk-size 16384 --build 'test build' rootfs=%s app=app",
               out_name, keys, compat, version, secver, img);
}

/* A kiosk trusting rel.pub, with a passing health check, running 1.0.0
 * (security version 1) from slot a, confirmed. */
static void kiosk(const char *root)
{
    char check[1024];

    ck_assert_int_eq(kupd_in(root, "init --compatible %s --trust rel.pub", COMPAT), 0);
    snprintf(check, sizeof check, "%s/%s/etc/kupd/health.d/10-kioskd", dir, root);
    ts_write_file(check, "#!/bin/sh\necho ran >>\"$(dirname \"$0\")/../ran\"\nexit 0\n");
    chmod(check, 0755);
    if (access(p("v1.kub"), F_OK) != 0)
        bundle("v1.kub", "-k rel.key", "1.0.0", 1, COMPAT, "img1");
    ck_assert_int_eq(kupd_in(root, "install v1.kub"), 0);
    ck_assert_int_eq(kupd_in(root, "boot"), 0);
    ck_assert_int_eq(kupd_in(root, "mark-good"), 0);
    ck_assert_str_eq(status(root, "booted"), "a");
}

/* The running slot is the one it should be and holds exactly img. */
static void ck_running(const char *root, char slot, const char *img)
{
    char rel[64], want[2] = {slot, 0};

    ck_assert_str_eq(status(root, "booted"), want);
    snprintf(rel, sizeof rel, "%s/slots/%c/rootfs.img", root, slot);
    ck_assert_msg(same_file(p(rel), p(img)), "slot %c does not hold %s", slot, img);
    snprintf(rel, sizeof rel, "%c.status", slot);
    ck_assert_str_eq(status(root, rel), "ok");
}

/* A passing test leaves nothing behind; a failing one keeps its directory
 * for a look at the kiosk root. */
static void cleanup(void)
{
    if (dir != NULL)
        ts_rmtree(dir);
    free(dir);
    dir = NULL;
}

/* ---- kupd_install_boot ------------------------------------------------------ */

START_TEST(install_boot)
{
    release();
    kiosk("root");
    ck_assert_str_eq(status("root", "floor"), "1");
    bundle("v2.kub", "-k rel.key", "2.0.0", 2, COMPAT, "img2");
    ck_kupd_ok("bundle verify v2.kub");
    ck_out_has("result=valid");
    ck_kupd_ok("install v2.kub");
    ck_out_has("slot b");
    /* Nothing changes for the running slot until the next boot. */
    ck_assert_str_eq(status("root", "trial"), "b");
    ck_assert_str_eq(status("root", "booted"), "a");
    ck_kupd_ok("boot");
    ck_out_has("booted=b");
    ck_assert_str_eq(status("root", "b.tries"), "2");
    /* No second install while the running slot is still on trial. */
    bundle("v3.kub", "-k rel.key", "3.0.0", 2, COMPAT, "img3");
    ck_assert_int_eq(kupd("install v3.kub"), 1);
    ck_out_has("still on trial");
    ck_assert_str_eq(status("root", "a.good"), "1");
    /* The floor rises only at mark-good. */
    ck_assert_str_eq(status("root", "floor"), "1");
    ck_kupd_ok("mark-good");
    ck_assert_str_eq(status("root", "floor"), "2");
    ck_assert_str_eq(status("root", "trial"), "-");
    ck_assert_str_eq(status("root", "b.good"), "1");
    /* Slot a (security version 1) is now below the floor: no fallback. */
    ck_assert_str_eq(status("root", "a.bootable"), "0");
    ck_kupd_ok("boot");
    ck_running("root", 'b', "img2");
    {
        char *ran = ts_slurp(p("root/etc/kupd/ran"));
        ck_assert_msg(strcmp(ran, "ran\nran\n") == 0,
                      "the health check did not run once at each mark-good: %s", ran);
        free(ran);
    }
    ck_kupd_ok("log");
    ck_out_has("\"event\":\"floor-bump\"");
    ck_out_has("audit chain intact");
}
END_TEST

/* Key rotation: a bundle signed by the old and the new key installs on a
 * kiosk that trusts only the new one. */
START_TEST(install_rotated_key)
{
    release();
    ck_assert_int_eq(kupd("init --compatible %s --trust other.pub", COMPAT), 0);
    bundle("both.kub", "-k rel.key -k other.key", "1.0.0", 1, COMPAT, "img1");
    ck_kupd_ok("install both.kub");
    ck_kupd_ok("boot");
    ck_kupd_ok("mark-good");
    ck_running("root", 'a', "img1");
}
END_TEST

/* The GRUB environment backend: the same flow with the boot state in a
 * 1024-byte grubenv block, whose other variables survive. */
START_TEST(install_grubenv)
{
    char env[1025];
    size_t len;
    unsigned char *block;

    release();
    memset(env, '#', 1024);
    env[1024] = '\0';
    memcpy(env, "# GRUB Environment Block\nsaved_entry=0\n", 39);
    ts_write_file(p("grubenv"), env);
    ck_assert_int_eq(kupd("init --compatible %s --trust rel.pub", COMPAT), 0);
    bundle("v1.kub", "-k rel.key", "1.0.0", 1, COMPAT, "img1");
    ck_kupd_ok("install --grubenv grubenv v1.kub");
    ck_kupd_ok("boot --grubenv grubenv");
    ck_out_has("booted=a");
    ck_kupd_ok("mark-good --grubenv grubenv");
    ck_assert_int_ne(access(p("root/boot/bootstate"), F_OK), 0);
    block = read_all(p("grubenv"), &len);
    ck_assert_int_eq(len, 1024);
    block[1023] = '\0';
    ck_assert_ptr_nonnull(strstr((char *)block, "\nsaved_entry=0\n"));
    ck_assert_ptr_nonnull(strstr((char *)block, "\nkupd_a_good=1\n"));
    ck_assert_ptr_nonnull(strstr((char *)block, "\nkupd_trial=none\n"));
    free(block);
    /* A block without the GRUB signature is refused, not overwritten. */
    ts_write_file(p("grubenv"), "not a grub environment\n");
    ck_assert_int_eq(kupd("boot --grubenv grubenv"), 1);
}
END_TEST

/* ---- kupd_reject_tampered --------------------------------------------------- */

/* Copy v2.kub to name with one byte at off xor-ed (off < 0: from the end). */
static void tamper(const char *name, long off)
{
    size_t len;
    unsigned char *b = read_all(p("v2.kub"), &len);
    FILE *f;

    ck_assert_ptr_nonnull(b);
    b[off < 0 ? (long)len + off : off] ^= 0x40;
    f = fopen(p(name), "wb");
    fwrite(b, 1, len, f);
    fclose(f);
    free(b);
}

static void ck_refused(const char *bundle_name, const char *sentence)
{
    int rc = kupd("install %s", bundle_name);
    char *o = out();

    ck_assert_msg(rc == 1, "%s: exit %d, expected a refusal:\n%s", bundle_name, rc, o);
    ck_assert_msg(strstr(o, sentence) != NULL, "%s: expected \"%s\" in:\n%s", bundle_name, sentence,
                  o);
    free(o);
    ck_assert_str_eq(status("root", "a.good"), "1");
    ck_assert_str_eq(status("root", "b.bootable"), "0");
    ck_assert_str_eq(status("root", "trial"), "-");
    ck_assert_msg(same_file(p("root/slots/a/rootfs.img"), p("img1")), "slot a was touched");
    ck_kupd_ok("boot");
    ck_running("root", 'a', "img1");
}

START_TEST(reject_tampered)
{
    size_t len;
    unsigned char *b;

    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    b = read_all(p("v2.kub"), &len);
    ck_assert_ptr_nonnull(b);
    free(b);
    /* Manifest: a byte of "format=1" at offset 64 onwards. */
    tamper("manifest.kub", 70);
    ck_refused("manifest.kub", "signature does not match");
    /* Payload: the first byte of the first image at the payload offset. */
    tamper("payload.kub", 4096);
    ck_refused("payload.kub", "tampered payload");
    /* The chunk table of the last image: the final byte of the file. */
    tamper("table.kub", -1);
    ck_refused("table.kub", "tampered payload");
    /* Header: a reserved byte, then the magic. */
    tamper("header.kub", 50);
    ck_refused("header.kub", "reserved bytes");
    tamper("magic.kub", 0);
    ck_refused("magic.kub", "not a kiosk update bundle");
    /* Truncated: the last kilobyte missing. */
    ck_assert_int_eq(ts_system("head -c %zu %s >%s", len - 1024, p("v2.kub"), p("short.kub")), 0);
    ck_refused("short.kub", "USB stick was removed or the file is incomplete");
    /* An unknown key. */
    bundle("stranger.kub", "-k other.key", "2.0.0", 1, COMPAT, "img2");
    ck_refused("stranger.kub", "key this kiosk does not trust");
    /* Not a bundle at all. */
    ts_write_file(p("text.kub"), "hello\n");
    ck_refused("text.kub", "ended after 6 bytes");
    /* The signature block: flip a byte of the signature after the key id.
     * Its offset is 64 + manifest length; find it through the header. */
    b = read_all(p("v2.kub"), &len);
    {
        long mlen = (long)b[12] << 24 | (long)b[13] << 16 | (long)b[14] << 8 | b[15];
        free(b);
        tamper("sig.kub", 64 + mlen + 8 + 10);
    }
    ck_refused("sig.kub", "signature does not match");
    /* After all of that the good bundle still installs. */
    ck_kupd_ok("install v2.kub");
    ck_kupd_ok("log");
    ck_out_has("\"event\":\"refused\"");
}
END_TEST

/* ---- kupd_reject_downgrade -------------------------------------------------- */

START_TEST(reject_downgrade)
{
    release();
    kiosk("root");
    bundle("v3.kub", "-k rel.key", "3.0.0", 3, COMPAT, "img3");
    ck_kupd_ok("install v3.kub");
    ck_kupd_ok("boot");
    ck_kupd_ok("mark-good");
    ck_assert_str_eq(status("root", "floor"), "3");

    /* Below the floor: refused even with --allow-downgrade. */
    bundle("old.kub", "-k rel.key", "2.0.0", 2, COMPAT, "img2");
    ck_assert_int_eq(kupd("install --allow-downgrade old.kub"), 1);
    ck_out_has("below this kiosk's floor 3");
    /* An older version at the floor needs --allow-downgrade. */
    bundle("older.kub", "-k rel.key", "2.9.0", 3, COMPAT, "img2");
    ck_assert_int_eq(kupd("install older.kub"), 1);
    ck_out_has("older than the running 3.0.0");
    /* The same version needs --force. */
    ck_assert_int_eq(kupd("install v3.kub"), 1);
    ck_out_has("already running");
    /* Another model's bundle. */
    bundle("other.kub", "-k rel.key", "4.0.0", 4, "gov-hall-queue-kiosk/rev-c", "img2");
    ck_assert_int_eq(kupd("install other.kub"), 1);
    ck_out_has("is for \"gov-hall-queue-kiosk/rev-c\"");
    ck_assert_str_eq(status("root", "a.bootable"), "0");
    ck_assert_str_eq(status("root", "trial"), "-");
    ck_kupd_ok("boot");
    ck_running("root", 'b', "img3");
    /* The escape hatch for a downgrade that keeps the floor. */
    ck_kupd_ok("install --allow-downgrade older.kub");
}
END_TEST

/* ---- kupd_trial_rollback ---------------------------------------------------- */

START_TEST(trial_rollback)
{
    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    ck_kupd_ok("install v2.kub");
    ck_kupd_ok("boot");
    ck_out_has("booted=b");
    /* The new firmware cannot reach the printer. */
    ts_write_file(p("root/etc/kupd/health.d/20-printer"), "#!/bin/sh\nexit 3\n");
    chmod(p("root/etc/kupd/health.d/20-printer"), 0755);
    ck_assert_int_eq(kupd("mark-good"), 1);
    ck_out_has("Health check 20-printer failed");
    ck_out_has("next boot returns to slot a");
    ck_kupd_ok("boot");
    ck_running("root", 'a', "img1");
    ck_assert_str_eq(status("root", "b.status"), "failed");
    ck_assert_str_eq(status("root", "floor"), "1");
    ck_kupd_ok("log");
    ck_out_has("\"event\":\"rollback\"");
}
END_TEST

/* A trial that is never confirmed (a hang, a crash loop) runs out of tries. */
START_TEST(trial_tries_exhausted)
{
    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    ck_kupd_ok("install v2.kub");
    for (int i = 0; i < 3; i++) {
        ck_kupd_ok("boot");
        ck_out_has("booted=b");
    }
    ck_kupd_ok("boot");
    ck_out_has("not confirmed within 3 boots");
    ck_running("root", 'a', "img1");
    ck_assert_str_eq(status("root", "b.bootable"), "0");
    /* mark-good on the old slot has nothing to confirm. */
    ck_kupd_ok("mark-good");
    ck_out_has("already confirmed");
}
END_TEST

/* A health check that hangs past the deadline counts as a failure. */
START_TEST(trial_deadline)
{
    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    ck_kupd_ok("install v2.kub");
    ck_kupd_ok("boot");
    ts_write_file(p("root/etc/kupd/health.d/30-hang"), "#!/bin/sh\nexec sleep 60\n");
    chmod(p("root/etc/kupd/health.d/30-hang"), 0755);
    ck_assert_int_eq(kupd("mark-good --deadline 1"), 1);
    ck_out_has("did not finish within 1 s");
    ck_kupd_ok("boot");
    ck_running("root", 'a', "img1");
}
END_TEST

/* ---- kupd_crash_points ------------------------------------------------------ */

/* The kiosk the crash tests start from: 1.0.0 in slot a and 2.0.0 in slot
 * b, both confirmed (same security version), running b. The install they
 * cut writes 3.0.0 (img3) into slot a, the good fallback. */
static void two_slot_kiosk(void)
{
    kiosk("base");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    bundle("v3.kub", "-k rel.key", "3.0.0", 1, COMPAT, "img3");
    ck_assert_int_eq(kupd_in("base", "install v2.kub"), 0);
    ck_assert_int_eq(kupd_in("base", "boot"), 0);
    ck_assert_int_eq(kupd_in("base", "mark-good"), 0);
    ck_running("base", 'b', "img2");
    ck_assert_str_eq(status("base", "a.good"), "1");
}

/* A slot that is not sealed is never bootable; a bootable slot holds a
 * whole image it was given; the running one is sealed and intact. */
static void ck_invariants(const char *root, const char *what)
{
    const char *booted = status(root, "booted");
    char running = booted[0];

    ck_assert_msg(running == 'a' || running == 'b', "%s: nothing booted", what);
    for (char s = 'a'; s <= 'b'; s++) {
        char key[32], rel[64];
        snprintf(key, sizeof key, "%c.status", s);
        if (strcmp(status(root, key), "ok") != 0) {
            ck_assert_msg(s != running, "%s: running slot %c is not sealed", what, s);
            snprintf(key, sizeof key, "%c.bootable", s);
            ck_assert_msg(strcmp(status(root, key), "0") == 0, "%s: unsealed slot %c bootable",
                          what, s);
            continue;
        }
        snprintf(key, sizeof key, "%c.bootable", s);
        snprintf(rel, sizeof rel, "%s/slots/%c/rootfs.img", root, s);
        if (strcmp(status(root, key), "1") == 0 || s == running)
            ck_assert_msg(same_file(p(rel), p(s == 'a' ? "img1" : "img2")) ||
                              same_file(p(rel), p("img3")),
                          "%s: bootable slot %c holds a broken image", what, s);
    }
}

/* After an interruption: the board boots first, then kupd recovers and
 * the kiosk boots again; the invariants hold at each boot. Then the
 * update is finished (a retry if the old slot runs, mark-good if the new
 * one does). Ends with 3.0.0 confirmed in slot a. */
static void after_crash(const char *root, const char *what)
{
    char *o;

    ck_assert_msg(kupd_in(root, "boot") == 0, "%s: no bootable slot after the cut", what);
    ck_invariants(root, what);
    ck_assert_int_eq(kupd_in(root, "recover"), 0);
    ck_assert_msg(kupd_in(root, "boot") == 0, "%s: no bootable slot after recovery", what);
    ck_invariants(root, what);
    if (strcmp(status(root, "booted"), "b") == 0) {
        ck_running(root, 'b', "img2");
        ck_assert_msg(kupd_in(root, "install v3.kub") == 0, "%s: retry failed", what);
        ck_assert_int_eq(kupd_in(root, "boot"), 0);
    }
    ck_running(root, 'a', "img3");
    ck_assert_msg(kupd_in(root, "mark-good") == 0, "%s: mark-good failed", what);
    ck_assert_str_eq(status(root, "a.good"), "1");
    ck_assert_str_eq(status(root, "journal"), "none");
    ck_assert_int_eq(kupd_in(root, "log"), 0);
    o = ts_slurp(ts_path(dir, "out"));
    ck_assert_msg(strstr(o, "audit chain intact") != NULL, "%s: %s", what, o);
    free(o);
}

START_TEST(crash_points)
{
    char *list, *save = NULL, root[64];
    int n = 0;

    release();
    two_slot_kiosk();
    ck_assert_int_eq(kupd_in("base", "crash-points"), 0);
    list = out();
    /* A misspelt point is refused rather than ignored. */
    ck_assert_int_eq(ts_system("KUPD_CRASH_AT=no-such-step %s status >/dev/null 2>&1", KUPD_PATH),
                     2);
    for (char *pt = strtok_r(list, "\n", &save); pt != NULL; pt = strtok_r(NULL, "\n", &save)) {
        snprintf(root, sizeof root, "cut-%d", n++);
        ck_assert_int_eq(ts_system("cp -a %s %s", p("base"), p(root)), 0);
        ck_assert_msg(ts_system("cd %s && KUPD_CRASH_AT=%s KUPD_ROOT=%s/%s %s install v3.kub "
                                ">out 2>&1",
                                dir, pt, dir, root, KUPD_PATH) == 99,
                      "the install did not stop at %s", pt);
        after_crash(root, pt);
    }
    ck_assert_int_ge(n, 10);
    free(list);
}
END_TEST

/* mark-good cut between its boot-state write and its floor write: the
 * slot is confirmed, and recovery raises the floor it was owed. */
START_TEST(crash_confirm)
{
    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 2, COMPAT, "img2");
    ck_kupd_ok("install v2.kub");
    ck_kupd_ok("boot");
    ck_assert_int_eq(ts_system("cd %s && KUPD_CRASH_AT=confirmed KUPD_ROOT=%s/root %s mark-good "
                               ">out 2>&1",
                               dir, dir, KUPD_PATH),
                     99);
    ck_assert_str_eq(status("root", "b.good"), "1");
    ck_assert_str_eq(status("root", "floor"), "1");
    /* Slot a (security version 1) went with the same store. */
    ck_assert_str_eq(status("root", "a.bootable"), "0");
    ck_kupd_ok("boot");
    ck_kupd_ok("recover");
    ck_out_has("security floor was raised to 2");
    ck_assert_str_eq(status("root", "floor"), "2");
    bundle("v1b.kub", "-k rel.key", "1.5.0", 1, COMPAT, "img3");
    ck_assert_int_eq(kupd("install --allow-downgrade v1b.kub"), 1);
    ck_out_has("below this kiosk's floor 2");
}
END_TEST

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(crash_random)
{
    char root[64], env[1100], bin[] = KUPD_PATH, bundle_path[1100];
    unsigned seed = (unsigned)time(NULL);
    long t0, full;

    release();
    /* A larger image so a kill lands inside the copy and the writes too. */
    ck_assert_int_eq(ts_system("head -c 3000000 /dev/urandom >%s", p("img3")), 0);
    two_slot_kiosk();
    ck_assert_int_eq(ts_system("cp -a %s %s", p("base"), p("timed")), 0);
    t0 = now_ms();
    ck_assert_int_eq(kupd_in("timed", "install v3.kub"), 0);
    full = now_ms() - t0 + 1;
    fprintf(stderr, "crash_random: seed %u, a full install takes %ld ms\n", seed, full);
    srand(seed);
    snprintf(bundle_path, sizeof bundle_path, "%s", p("v3.kub"));
    for (int i = 0; i < 8; i++) {
        const char *argv[] = {bin, "install", bundle_path, NULL};
        pid_t pid;
        int st;

        snprintf(root, sizeof root, "kill-%d", i);
        ck_assert_int_eq(ts_system("cp -a %s %s", p("base"), p(root)), 0);
        snprintf(env, sizeof env, "%s/%s", dir, root);
        setenv("KUPD_ROOT", env, 1);
        pid = ts_spawn(argv, p("kill.log"));
        usleep((useconds_t)(rand() % full) * 1000);
        kill(pid, SIGKILL);
        st = ts_wait(pid, WAIT_MS);
        ck_assert_int_ne(st, -1);
        unsetenv("KUPD_ROOT");
        after_crash(root, "random SIGKILL");
    }
}
END_TEST

/* ---- kupd_usb_stick_flow ---------------------------------------------------- */

START_TEST(usb_stick)
{
    char *r, *ev;

    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    /* An empty stick. */
    ck_assert_int_eq(mkdir(p("stick"), 0755), 0);
    ck_assert_int_eq(kupd("install stick"), 1);
    ck_out_has("No update bundle was found on the USB stick");
    /* A stick with a bundle. */
    ck_assert_int_eq(ts_system("mkdir %s/kiosk-update && cp %s %s/kiosk-update/", p("stick"),
                               p("v2.kub"), p("stick")),
                     0);
    ck_kupd_ok("install stick");
    r = ts_slurp(p("stick/kiosk-update/kupd-receipt.txt"));
    ck_assert_msg(strstr(r, "result=installed\n") && strstr(r, "version=2.0.0\n") &&
                      strstr(r, "bundle=v2.kub\n") && strstr(r, "slot=b\n") && strstr(r, "time=20"),
                  "receipt:\n%s", r);
    free(r);
    ev = ts_slurp(p("root/run/progress"));
    ck_assert_msg(strstr(ev, "\"phase\":\"copy\"") && strstr(ev, "\"phase\":\"verify\"") &&
                      strstr(ev, "\"phase\":\"write\"") && strstr(ev, "\"phase\":\"done\"") &&
                      strstr(ev, "\"phase\":\"remove-stick\""),
                  "progress events:\n%s", ev);
    ck_assert(strstr(ev, "\"phase\":\"copy\"") < strstr(ev, "\"phase\":\"write\""));
    ck_assert(strstr(ev, "\"phase\":\"done\"") < strstr(ev, "\"phase\":\"remove-stick\""));
    free(ev);
    ck_out_has("You may remove the USB stick now.");
    ck_kupd_ok("log");
    ck_out_has("\"event\":\"install-start\",\"slot\":\"b\",\"version\":\"\",\"detail\":\"usb: ");
    ck_kupd_ok("boot");
    ck_running("root", 'b', "img2");
}
END_TEST

/* The stick service: kupd watch notices a stick that appears later. */
START_TEST(usb_watch)
{
    char bin[] = KUPD_PATH, stick[1024], *r;
    const char *argv[] = {bin, "watch", "--once", stick, NULL};
    pid_t pid;
    int st;

    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    snprintf(stick, sizeof stick, "%s", p("stick"));
    ck_assert_int_eq(mkdir(stick, 0755), 0);
    setenv("KUPD_ROOT", p("root"), 1);
    pid = ts_spawn(argv, p("watch.log"));
    unsetenv("KUPD_ROOT");
    usleep(300 * 1000);
    /* Mounting is atomic for the watcher: the bundle appears whole. */
    ck_assert_int_eq(ts_system("mkdir %s/tmp && cp %s %s/tmp/v2.kub && mv %s/tmp %s/kiosk-update",
                               stick, p("v2.kub"), stick, stick, stick),
                     0);
    st = ts_wait(pid, WAIT_MS);
    if (st == -1)
        ts_kill(pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "watch: %s", ts_slurp(p("watch.log")));
    ck_assert(ts_file_contains(p("watch.log"), "update stick detected", 1000));
    r = ts_slurp(p("stick/kiosk-update/kupd-receipt.txt"));
    ck_assert_msg(strstr(r, "result=installed\n") != NULL, "receipt:\n%s", r);
    free(r);
}
END_TEST

/* The stick is pulled mid-copy: a FIFO delivers part of the bundle and
 * then ends, as a read from a vanished device does. */
START_TEST(usb_pulled)
{
    char bin[] = KUPD_PATH, stick[1024];
    const char *argv[] = {bin, "install", stick, NULL};
    unsigned char *b;
    size_t len;
    pid_t pid;
    int fd, st;
    char *r;

    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    snprintf(stick, sizeof stick, "%s", p("stick"));
    ck_assert_int_eq(
        ts_system("mkdir -p %s/kiosk-update && mkfifo %s/kiosk-update/v2.kub", stick, stick), 0);
    setenv("KUPD_ROOT", p("root"), 1);
    pid = ts_spawn(argv, p("pulled.log"));
    unsetenv("KUPD_ROOT");
    b = read_all(p("v2.kub"), &len);
    fd = open(p("stick/kiosk-update/v2.kub"), O_WRONLY);
    ck_assert_int_ge(fd, 0);
    /* The header arrives in two pieces, as from a slow stick. */
    ck_assert_int_eq(write(fd, b, 10), 10);
    usleep(100 * 1000);
    ck_assert_int_eq(write(fd, b + 10, len / 2 - 10), (ssize_t)(len / 2 - 10));
    close(fd);
    free(b);
    st = ts_wait(pid, WAIT_MS);
    if (st == -1)
        ts_kill(pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s", ts_slurp(p("pulled.log")));
    ck_assert(ts_file_contains(p("pulled.log"), "the USB stick was removed", 1000));
    ck_assert_int_ne(access(p("root/incoming/bundle.part"), F_OK), 0);
    r = ts_slurp(p("stick/kiosk-update/kupd-receipt.txt"));
    ck_assert_msg(strstr(r, "result=refused\n") != NULL, "receipt:\n%s", r);
    free(r);
    ck_kupd_ok("boot");
    ck_running("root", 'a', "img1");
    ck_assert_str_eq(status("root", "b.bootable"), "0");
}
END_TEST

/* A full disk while copying: a file size limit stands in for it. */
START_TEST(usb_disk_full)
{
    pid_t pid;
    int st;

    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit rl = {100000, 100000};
        int fd = open(p("full.log"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        setenv("KUPD_ROOT", p("root"), 1);
        execl(KUPD_PATH, KUPD_PATH, "install", p("v2.kub"), (char *)NULL);
        _exit(127);
    }
    st = ts_wait(pid, WAIT_MS);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s", ts_slurp(p("full.log")));
    ck_assert(ts_file_contains(p("full.log"), "not enough free space", 1000));
    ck_kupd_ok("boot");
    ck_running("root", 'a', "img1");
}
END_TEST

int main(int argc, char **argv)
{
    const struct {
        const char *name;
        const TTest *tests[4];
    } cases[] = {
        {"install_boot", {install_boot, install_rotated_key, install_grubenv}},
        {"reject_tampered", {reject_tampered}},
        {"reject_downgrade", {reject_downgrade}},
        {"trial_rollback", {trial_rollback, trial_tries_exhausted, trial_deadline}},
        {"crash_points", {crash_points, crash_random, crash_confirm}},
        {"usb_stick_flow", {usb_stick, usb_watch, usb_pulled, usb_disk_full}},
    };
    Suite *s = suite_create("kupd");
    SRunner *sr;
    int failed, found = 0;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc;
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 600);
        tcase_add_checked_fixture(tc, NULL, cleanup);
        for (int j = 0; j < 4 && cases[i].tests[j] != NULL; j++)
            tcase_add_test(tc, cases[i].tests[j]);
        suite_add_tcase(s, tc);
        found = 1;
    }
    if (!found) {
        fprintf(stderr, "usage: %s [case]\n", argv[0]);
        return EXIT_FAILURE;
    }
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
