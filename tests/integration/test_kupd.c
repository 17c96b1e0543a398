/*
 * kupd — the real kupd binary on a kiosk root in a temporary directory:
 * release keys and bundles made with kupd itself, installs into the A/B
 * slots, simulated boots, health-gated mark-good, rollback, anti-rollback,
 * tampered and foreign bundles, installs cut at every named step and by
 * SIGKILL at random moments, the USB stick flow with its receipt, hostile
 * sticks (links, FIFOs, devices, forged names, a hung stick) and bundles
 * refused before their payload is read.
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
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kub_sign.h"
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

/* The longest any kupd run of the hostile-stick tests may take: far more
 * than it needs (a stick's deadline is 5 s), far less than a hang. */
#define BOUNDED_MS 20000

/* Run kupd (arguments up to a NULL) on root with KUPD_STICK_FAULT set to
 * fault (NULL: unset); its output goes to <dir>/log. A run that does not
 * end within BOUNDED_MS fails the test: that is the hang this guards
 * against. Returns the exit status. */
static int kupd_bounded(const char *root, const char *fault, const char *log, ...)
{
    char bin[] = KUPD_PATH, env[1100];
    const char *argv[16] = {bin};
    int n = 1, st;
    va_list ap;
    pid_t pid;

    va_start(ap, log);
    while (n < 15 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    unlink(p(log));
    snprintf(env, sizeof env, "%s/%s", dir, root);
    setenv("KUPD_ROOT", env, 1);
    if (fault != NULL)
        setenv("KUPD_STICK_FAULT", fault, 1);
    pid = ts_spawn(argv, p(log));
    unsetenv("KUPD_ROOT");
    unsetenv("KUPD_STICK_FAULT");
    st = ts_wait(pid, BOUNDED_MS);
    if (st == -1) {
        ts_kill(pid);
        ck_abort_msg("kupd %s %s did not finish within %d s", argv[1], argv[2] ? argv[2] : "",
                     BOUNDED_MS / 1000);
    }
    ck_assert_msg(WIFEXITED(st), "kupd %s died: %s", argv[1], ts_slurp(p(log)));
    return WEXITSTATUS(st);
}

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

/* The stick is pulled mid-copy: the reader fails with EIO half way
 * through the bundle (KUPD_STICK_FAULT), as a read from a vanished device
 * does. */
START_TEST(usb_pulled)
{
    unsigned char *b;
    size_t len;
    char fault[64], *r;

    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    ck_assert_int_eq(ts_system("mkdir -p %s/kiosk-update && cp %s %s/kiosk-update/", p("stick"),
                               p("v2.kub"), p("stick")),
                     0);
    b = read_all(p("v2.kub"), &len);
    free(b);
    snprintf(fault, sizeof fault, "eio@%zu", len / 2);
    ck_assert_int_eq(kupd_bounded("root", fault, "pulled.log", "install", p("stick"), NULL), 1);
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

/* ---- kupd_stick_hostile ----------------------------------------------------- */

/* A big-endian u32 or u64 of a bundle header. */
static uint64_t be(const unsigned char *b, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

static void put_be64(unsigned char *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (unsigned char)v;
}

/* The signed prefix of v2.kub (header, manifest, signatures), its length
 * in *plen; the caller frees it. */
static unsigned char *v2_prefix(size_t *plen)
{
    size_t len;
    unsigned char *b = read_all(p("v2.kub"), &len);

    ck_assert_ptr_nonnull(b);
    *plen = 64 + (size_t)be(b + 12, 4) + 72 * (size_t)be(b + 16, 4);
    ck_assert_uint_lt(*plen, len);
    return b;
}

/* Write a bundle whose header claims total bytes: v2.kub's prefix, the
 * header changed (so its signature no longer matches, unless resign), then
 * the file made file_size bytes long (sparse: nothing is really written). */
static void huge_bundle(const char *name, uint64_t total, int resign, off_t file_size)
{
    size_t plen;
    unsigned char *b = v2_prefix(&plen);
    int fd;

    put_be64(b + 32, total);
    if (resign) {
        size_t mlen = (size_t)be(b + 12, 4);
        uint8_t id[KUB_KEYID_LEN], sig[KUB_ED_SIG];
        ck_assert_int_eq(kub_sign_sign(p("rel.key"), b, 64 + mlen, id, sig), 0);
        memcpy(b + 64 + mlen, id, sizeof id);
        memcpy(b + 64 + mlen + sizeof id, sig, sizeof sig);
    }
    fd = open(p(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, b, plen), (ssize_t)plen);
    ck_assert_int_eq(ftruncate(fd, file_size), 0);
    close(fd);
    free(b);
}

/* The receipt's value of key ("" if absent; static buffer). */
static const char *receipt_value(const char *text, const char *key)
{
    static char val[256];
    size_t klen = strlen(key);

    val[0] = '\0';
    for (const char *line = text; *line != '\0';) {
        size_t len = strcspn(line, "\n");
        if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
            snprintf(val, sizeof val, "%.*s", (int)(len - klen - 1), line + klen + 1);
            break;
        }
        line += len + (line[len] == '\n');
    }
    return val;
}

/* Every line of a receipt is key=value with a known key, so nothing from
 * the stick added one, and it holds no control byte but newlines. */
static void ck_receipt_lines(const char *text)
{
    static const char *const keys[] = {"kiosk",      "time",    "bundle",      "sha256",
                                       "version",    "slot",    "result",      "message",
                                       "bytes_read", "skipped", "skipped_more"};
    int results = 0;

    for (const char *line = text; *line != '\0';) {
        size_t len = strcspn(line, "\n"), k;
        for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (strncmp(line, keys[k], strlen(keys[k])) == 0 && line[strlen(keys[k])] == '=')
                break;
        ck_assert_msg(k < sizeof keys / sizeof keys[0], "unexpected receipt line: %.*s", (int)len,
                      line);
        results += strncmp(line, "result=", 7) == 0;
        for (size_t i = 0; i < len; i++)
            ck_assert_msg((unsigned char)line[i] >= 0x20 && line[i] != 0x7f,
                          "control byte in receipt line: %.*s", (int)len, line);
        line += len + (line[len] == '\n');
    }
    ck_assert_int_eq(results, 1);
}

#define ck_has(text, needle)                                                                       \
    ck_assert_msg(strstr(text, needle) != NULL, "expected \"%s\" in:\n%s", needle, text)

/* One stick with every hostile entry at once next to a good bundle: the
 * good one installs, each other one is named (escaped) with its reason in
 * the receipt and the audit log, and nothing outside the stick's folder is
 * written. */
START_TEST(stick_hostile)
{
    const char *upd = "stick/kiosk-update";
    char path[1100], *r, *ev;
    int have_dev;
    struct stat st;

    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    ck_assert_int_eq(ts_system("mkdir -p %s/%s %s/outside && cp %s %s/%s/v2.kub", dir, upd, dir,
                               p("v2.kub"), dir, upd),
                     0);
    ts_write_file(p("outside/keep.txt"), "precious\n");
    ts_write_file(p("outside/keep2.txt"), "precious too\n");
    /* The receipt's temporary and final names as links out of the stick. */
    snprintf(path, sizeof path, "%s/%s/kupd-receipt.txt.tmp", dir, upd);
    ck_assert_int_eq(symlink(p("outside/keep.txt"), path), 0);
    snprintf(path, sizeof path, "%s/%s/kupd-receipt.txt", dir, upd);
    ck_assert_int_eq(symlink(p("outside/keep2.txt"), path), 0);
    /* A link to a good bundle outside, a FIFO nobody writes, a device. */
    snprintf(path, sizeof path, "%s/%s/w-link.kub", dir, upd);
    ck_assert_int_eq(symlink(p("v2.kub"), path), 0);
    snprintf(path, sizeof path, "%s/%s/x-fifo.kub", dir, upd);
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    snprintf(path, sizeof path, "%s/%s/x-zero.kub", dir, upd);
    have_dev = mknod(path, S_IFCHR | 0644, makedev(1, 5)) == 0;
    if (!have_dev)
        fprintf(stderr, "stick_hostile: no device node case (mknod: %s)\n", strerror(errno));
    /* Good bundles under names that would forge receipt lines or drive a
     * terminal. */
    snprintf(path, sizeof path, "%s/%s/y\nresult=installed\n.kub", dir, upd);
    ck_assert_int_eq(ts_system("cp %s '%s'", p("v2.kub"), path), 0);
    snprintf(path, sizeof path, "%s/%s/y\033[2Jesc.kub", dir, upd);
    ck_assert_int_eq(ts_system("cp %s '%s'", p("v2.kub"), path), 0);
    /* A header claiming 300 MB, last in name order: tried first. */
    huge_bundle("stick/kiosk-update/z-huge.kub", 300000000, 0, 300000000);

    ck_assert_int_eq(kupd_bounded("root", NULL, "hostile.log", "install", p("stick"), NULL), 0);

    /* Nothing outside the folder was written; the links are still links. */
    r = ts_slurp(p("outside/keep.txt"));
    ck_assert_str_eq(r, "precious\n");
    free(r);
    r = ts_slurp(p("outside/keep2.txt"));
    ck_assert_str_eq(r, "precious too\n");
    free(r);
    ck_assert_int_eq(ts_system("test $(ls %s | wc -l) -eq 2", p("outside")), 0);
    ck_assert_int_eq(ts_system("test \"$(ls -A %s)\" = kiosk-update", p("stick")), 0);
    snprintf(path, sizeof path, "%s/%s/w-link.kub", dir, upd);
    ck_assert(lstat(path, &st) == 0 && S_ISLNK(st.st_mode));
    snprintf(path, sizeof path, "%s/%s/x-fifo.kub", dir, upd);
    ck_assert(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
    snprintf(path, sizeof path, "%s/%s/kupd-receipt.txt", dir, upd);
    ck_assert(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
    snprintf(path, sizeof path, "%s/%s/kupd-receipt.txt.tmp", dir, upd);
    ck_assert(lstat(path, &st) < 0 && errno == ENOENT);

    /* The receipt: the good bundle, then every refusal with its reason. */
    r = ts_slurp(p("stick/kiosk-update/kupd-receipt.txt"));
    ck_receipt_lines(r);
    ck_assert_str_eq(receipt_value(r, "result"), "installed");
    ck_assert_str_eq(receipt_value(r, "bundle"), "v2.kub");
    ck_has(r, "skipped=w-link.kub: It is a symbolic link");
    ck_has(r, "skipped=x-fifo.kub: It is a FIFO");
    if (have_dev)
        ck_has(r, "skipped=x-zero.kub: It is a device node");
    ck_has(r, "skipped=y\\x0aresult=installed\\x0a.kub: The file name holds control characters");
    ck_has(r, "skipped=y\\x1b[2Jesc.kub: The file name holds control characters");
    ck_has(r, "skipped=z-huge.kub: The bundle's signature does not match");
    free(r);

    /* The audit log: the same refusals, escaped, and an intact chain. */
    ev = ts_slurp(p("root/state/events.log"));
    ck_has(ev, "\"event\":\"refused\"");
    ck_has(ev, "usb: kiosk-update/x-fifo.kub: It is a FIFO");
    ck_has(ev, "usb: kiosk-update/y\\\\x0aresult=installed\\\\x0a.kub: The file name");
    ck_has(ev, "usb: kiosk-update/y\\\\x1b[2Jesc.kub: The file name");
    ck_has(ev, "usb: kiosk-update/z-huge.kub: The bundle's signature does not match");
    ck_assert_ptr_null(strchr(ev, '\033'));
    free(ev);
    ck_kupd_ok("log");
    ck_out_has("audit chain intact");

    ck_kupd_ok("boot");
    ck_running("root", 'b', "img2");
}
END_TEST

/* The update folder itself is a link out of the stick, or not a folder at
 * all: refused without reading or writing through it. */
START_TEST(stick_folder_link)
{
    char path[1100], *ev;

    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    ck_assert_int_eq(ts_system("mkdir -p %s %s && cp %s %s/", p("stick"), p("elsewhere"),
                               p("v2.kub"), p("elsewhere")),
                     0);
    ck_assert_int_eq(symlink(p("elsewhere"), p("stick/kiosk-update")), 0);
    ck_assert_int_eq(kupd_bounded("root", NULL, "link.log", "install", p("stick"), NULL), 1);
    ck_assert(ts_file_contains(p("link.log"), "The update folder is a symbolic link", 1000));
    ck_assert_int_eq(ts_system("test \"$(ls %s)\" = v2.kub", p("elsewhere")), 0);
    ev = ts_slurp(p("root/state/events.log"));
    ck_has(ev, "usb: kiosk-update: The update folder is a symbolic link");
    free(ev);
    ck_assert_str_eq(status("root", "b.bootable"), "0");

    /* A FIFO named like the folder: refused by type, not opened. */
    ck_assert_int_eq(mkdir(p("stick2"), 0755), 0);
    snprintf(path, sizeof path, "%s", p("stick2/kiosk-update"));
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    ck_assert_int_eq(kupd_bounded("root", NULL, "fifo.log", "install", p("stick2"), NULL), 1);
    ck_assert(ts_file_contains(p("fifo.log"), "The update folder is not a folder", 1000));
    /* A bundle named on the command line follows the same rules. */
    ck_assert_int_eq(symlink(p("v2.kub"), p("link.kub")), 0);
    ck_assert_int_eq(kupd_bounded("root", NULL, "cli.log", "install", p("link.kub"), NULL), 1);
    ck_assert(ts_file_contains(p("cli.log"), "link.kub: It is a symbolic link", 1000));
    ck_kupd_ok("log");
    ck_out_has("audit chain intact");
}
END_TEST

/* A stick that stops answering mid-copy (KUPD_STICK_FAULT=hang): kupd gives
 * up after the stick's deadline, lets go of its lock, and says why. */
START_TEST(stick_hung)
{
    char *ev;

    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    ck_assert_int_eq(ts_system("mkdir -p %s/kiosk-update && cp %s %s/kiosk-update/", p("stick"),
                               p("v2.kub"), p("stick")),
                     0);
    ck_assert_int_eq(kupd_bounded("root", "hang@8192", "hung.log", "install", p("stick"), NULL), 1);
    ck_assert(
        ts_file_contains(p("hung.log"), "The USB stick did not answer within 5 seconds", 1000));
    ck_assert_int_ne(access(p("root/incoming/bundle.part"), F_OK), 0);
    /* The stick no longer answers: no receipt, and the log says so. */
    ck_assert_int_ne(access(p("stick/kiosk-update/kupd-receipt.txt"), F_OK), 0);
    ev = ts_slurp(p("root/state/events.log"));
    ck_has(ev, "usb: kiosk-update/v2.kub: The USB stick did not answer");
    ck_has(ev, "\"event\":\"receipt-failed\"");
    free(ev);
    /* The lock was let go: commands that take it finish. */
    ck_assert_int_eq(kupd_bounded("root", NULL, "after.log", "mark-good", NULL), 0);
    ck_assert_int_eq(kupd_bounded("root", NULL, "after.log", "recover", NULL), 0);
    ck_kupd_ok("boot");
    ck_running("root", 'a', "img1");
    /* A misspelt fault is refused rather than ignored. */
    ck_assert_int_eq(kupd_bounded("root", "stall@1", "after.log", "status", NULL), 2);
}
END_TEST

/* ---- kupd_verify_before_copy ------------------------------------------------ */

/* The bytes kupd read from the stick, from the receipt's bytes_read. */
static unsigned long long receipt_bytes_read(void)
{
    char *r = ts_slurp(p("stick/kiosk-update/kupd-receipt.txt"));
    unsigned long long n = strtoull(receipt_value(r, "bytes_read"), NULL, 10);

    ck_assert_msg(receipt_value(r, "bytes_read")[0] != '\0', "no bytes_read in:\n%s", r);
    free(r);
    return n;
}

/* Slot b as a fresh kiosk leaves it: no image, not bootable, no copy in
 * incoming/. */
static void ck_slot_b_untouched(void)
{
    ck_assert_int_ne(access(p("root/slots/b/rootfs.img"), F_OK), 0);
    ck_assert_str_eq(status("root", "b.bootable"), "0");
    ck_assert_str_eq(status("root", "trial"), "-");
    ck_assert_int_eq(ts_system("test -z \"$(ls -A %s)\"", p("root/incoming")), 0);
}

/* A 300 MB bundle whose header or signature does not hold is refused after
 * reading its signed prefix only: bytes_read (receipt) and the audit log
 * say exactly how much was read, and slot b is untouched. */
START_TEST(verify_before_copy)
{
    char want[128], *ev;
    size_t plen;

    release();
    kiosk("root");
    bundle("v2.kub", "-k rel.key", "2.0.0", 1, COMPAT, "img2");
    free(v2_prefix(&plen));
    ck_assert_int_eq(ts_system("mkdir -p %s/kiosk-update", p("stick")), 0);

    /* A bad signature over a header claiming 300 MB, in a 300 MB file. */
    huge_bundle("stick/kiosk-update/huge.kub", 300000000, 0, 300000000);
    ck_assert_int_eq(kupd_bounded("root", NULL, "huge.log", "install", p("stick"), NULL), 1);
    ck_assert(ts_file_contains(p("huge.log"), "signature does not match", 1000));
    ck_assert_uint_eq(receipt_bytes_read(), plen);
    ck_slot_b_untouched();

    /* Signed, but the manifest does not describe 300 MB. */
    huge_bundle("stick/kiosk-update/huge.kub", 300000000, 1, 300000000);
    ck_assert_int_eq(kupd_bounded("root", NULL, "huge.log", "install", p("stick"), NULL), 1);
    ck_assert(
        ts_file_contains(p("huge.log"), "header claims 300000000 bytes, but its manifest", 1000));
    ck_assert_uint_eq(receipt_bytes_read(), plen);
    ck_slot_b_untouched();

    /* The same from the command line: the audit log counts the bytes. */
    huge_bundle("cli-huge.kub", 300000000, 0, 300000000);
    ck_assert_int_eq(kupd_bounded("root", NULL, "huge.log", "install", p("cli-huge.kub"), NULL), 1);
    ck_assert(ts_file_contains(p("huge.log"), "cli-huge.kub: The bundle's signature does not match",
                               1000));
    snprintf(want, sizeof want, "(%zu bytes read from the stick)", plen);
    ev = ts_slurp(p("root/state/events.log"));
    ck_has(ev, want);
    free(ev);
    ck_slot_b_untouched();

    /* The good bundle still goes through, every byte of it read once. */
    ck_assert_int_eq(ts_system("rm %s/kiosk-update/huge.kub && cp %s %s/kiosk-update/", p("stick"),
                               p("v2.kub"), p("stick")),
                     0);
    ck_assert_int_eq(kupd_bounded("root", NULL, "good.log", "install", p("stick"), NULL), 0);
    {
        struct stat st;
        ck_assert_int_eq(stat(p("v2.kub"), &st), 0);
        ck_assert_uint_eq(receipt_bytes_read(), (unsigned long long)st.st_size);
    }
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
        {"stick_hostile", {stick_hostile, stick_folder_link, stick_hung}},
        {"verify_before_copy", {verify_before_copy}},
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
