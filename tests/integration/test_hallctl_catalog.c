/*
 * hallctl_catalog_import — the real hallctl binary on a hall it creates in
 * a scratch directory: init; the sample catalog imported from JSON and
 * from CSV (same content); bad catalogs refused with their line or key and
 * column, leaving the imported catalog as it was; windows, clerks, devices
 * (bundles whose certificates verify against the hall CA; a kiosk's with
 * the public sealing key, never the hall secret) and appointments added
 * and listed; the sealing key made for a hall without one and rotated; a
 * running controller told to reload; and the audit chain verified, then
 * found broken after an event row is edited by someone who dropped the
 * protecting trigger.
 *
 * Each test has its own hall. The store is read back through hallcore
 * (STORE_ADMIN) to check what hallctl wrote; the tampering uses SQLite
 * directly, as an intruder with the file would.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "store.h"
#include "testsupport.h"

#define HALL_ID "test-hall"

static char *dir;       /* scratch directory */
static char hall[2048]; /* the hall directory inside it */
static char config[PATH_MAX];
static char db[PATH_MAX];
static char out_path[PATH_MAX];
static char out[65536]; /* what the last hallctl run printed, both streams */

/* Run hallctl with args (shell words); returns its exit status and keeps
 * its output in out. */
static int hallctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int hallctl(const char *fmt, ...)
{
    char args[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int rc = ts_system("%s %s >%s 2>&1", HALLCTL_PATH, args, out_path);
    FILE *f = fopen(out_path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    return rc;
}

/* hallctl VERB ... -c CONFIG */
#define ADMIN(fmt, ...) hallctl(fmt " -c '%s'", __VA_ARGS__, config)

static void assert_out(const char *needle)
{
    ck_assert_msg(strstr(out, needle) != NULL, "expected \"%s\" in:\n%s", needle, out);
}

static void setup(void)
{
    dir = ts_tmpdir("hallctl");
    snprintf(hall, sizeof hall, "%s/hall", dir);
    snprintf(config, sizeof config, "%s/halld.ini", hall);
    snprintf(db, sizeof db, "%s/hall.db", hall);
    snprintf(out_path, sizeof out_path, "%s/out.txt", dir);
    ck_assert_msg(hallctl("init --dir '%s' --hall-id " HALL_ID " --name 测试大厅", hall) == 0, "%s",
                  out);
}

static void teardown(void)
{
    ts_rmtree(dir);
    free(dir);
}

static store *open_store(void)
{
    char err[512];
    store *s = store_open(db, HALL_ID, STORE_ADMIN, err, sizeof err);

    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

static int count_area(void *arg, const q_area *a)
{
    (void)a;
    ++*(size_t *)arg;
    return 0;
}

static void assert_counts(size_t areas, size_t matters)
{
    store *s = open_store();
    size_t na = 0, nm = 0;

    ck_assert_int_eq(store_load_areas(s, count_area, &na), 0);
    ck_assert_int_eq(store_count_matters(s, NULL, &nm), 0);
    ck_assert_uint_eq(na, areas);
    ck_assert_uint_eq(nm, matters);
    store_close(s);
}

/* The matters as one string, to compare two imports. */
static int append_matter(void *arg, const store_matter *m)
{
    char *acc = arg;
    size_t len = strlen(acc);

    snprintf(acc + len, 65536 - len, "%s|%s|%s|%s|%s|%s|%s|%d|%d\n", m->code, m->area, m->name,
             m->conditions, m->materials, m->sample, m->review_points, m->in_one_window,
             m->online_doable);
    return 0;
}

static void matters_text(char *acc)
{
    store *s = open_store();

    acc[0] = '\0';
    ck_assert_int_eq(store_load_matters(s, append_matter, acc), 0);
    store_close(s);
}

static long file_mode(const char *path)
{
    struct stat st;

    ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
    return (long)(st.st_mode & 0777);
}

/* ---- init ------------------------------------------------------------------ */

START_TEST(test_init)
{
    /* setup() made the hall; check what it holds. */
    ck_assert_int_eq(file_mode(ts_path(hall, "secret.key")), 0600);
    ck_assert_int_eq(file_mode(ts_path(hall, "hall.db")), 0600);
    ck_assert_int_eq(file_mode(ts_path(hall, "audit.key")), 0600);
    ck_assert_int_eq(file_mode(ts_path(hall, "audit.anchors")), 0600);
    ck_assert_int_eq(file_mode(ts_path(hall, "private")), 0700);
    ck_assert_int_eq(file_mode(ts_path(hall, "private/ca.key")), 0600);
    ck_assert_int_eq(access(ts_path(hall, "pki/ca.key"), F_OK), -1); /* halld reads pki/ */
    ck_assert_int_eq(file_mode(ts_path(hall, "seal.key")), 0600);
    ck_assert_int_eq(file_mode(ts_path(hall, "seal.pub")), 0644);
    ck_assert_int_eq(file_mode(ts_path(hall, "pki/hallctl.key")), 0600);
    FILE *f = fopen(ts_path(hall, "secret.key"), "r");
    char secret[128] = "";
    ck_assert_ptr_nonnull(fgets(secret, sizeof secret, f));
    fclose(f);
    ck_assert_uint_eq(strlen(secret), 65); /* 64 hex digits and a newline */
    ck_assert_uint_eq(strspn(secret, "0123456789abcdef"), 64);

    store *s = open_store();
    store_device d;
    ck_assert_int_eq(store_get_device(s, "hallctl", &d), 1);
    ck_assert_int_eq(d.type, 4);
    ck_assert(!d.revoked);
    store_close(s);

    /* A second init refuses to touch the hall. */
    ck_assert_int_eq(hallctl("init --dir '%s' --hall-id other", hall), 1);
    assert_out("already holds a hall");
    /* The configuration it wrote loads (the catalog list reads it). */
    ck_assert_int_eq(ADMIN("catalog list%s", ""), 0);
    assert_out("0 areas, 0 matters");
    /* Bad ids and zones. */
    ck_assert_int_eq(hallctl("init --dir '%s/x' --hall-id 'no spaces'", dir), 1);
    assert_out("--hall-id");
    ck_assert_int_eq(hallctl("init --dir '%s/x' --hall-id x --zone Mars/Base", dir), 1);
    assert_out("no such time zone");
}
END_TEST

START_TEST(test_usage)
{
    static const char *const verbs[] = {
        "init",          "catalog import", "catalog list",    "window add",
        "window list",   "clerk add",      "clerk list",      "device add",
        "device revoke", "device list",    "appointment add", "appointment list",
        "audit verify",  "audit key",      "ca init",         "cert issue",
        "ping",
    };
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        ck_assert_msg(hallctl("%s --help", verbs[i]) == 0, "%s --help: %s", verbs[i], out);
        assert_out("usage: hallctl ");
    }
    ck_assert_int_eq(hallctl("help"), 0);
    assert_out("catalog import");
    ck_assert_int_eq(hallctl("catalog"), 2);
    ck_assert_int_eq(hallctl("catalog frobnicate"), 2);
    ck_assert_int_eq(hallctl("frobnicate"), 2);
    ck_assert_int_eq(ADMIN("catalog import%s", ""), 2); /* no file */
    ck_assert_int_eq(ADMIN("window add --no 1%s", ""), 2);
    ck_assert_int_eq(hallctl("catalog list -c '%s/missing.ini'", dir), 1);
}
END_TEST

/* ---- Catalog ------------------------------------------------------------------ */

START_TEST(test_import_samples)
{
    static char from_json[65536], from_csv[65536];

    ck_assert_msg(ADMIN("catalog import '%s'", SAMPLE_DIR "/sample-catalog.json") == 0, "%s", out);
    assert_out("imported 6 areas and 27 matters");
    assert_out("halld is not running: the change takes effect at its next start");
    ck_assert_int_eq(ADMIN("catalog list%s", ""), 0);
    assert_out("6 areas, 27 matters");
    assert_out("不动产转移登记");
    assert_counts(6, 27);
    matters_text(from_json);

    ck_assert_msg(ADMIN("catalog import '%s'", SAMPLE_DIR "/sample-catalog.csv") == 0, "%s", out);
    assert_out("imported 6 areas and 27 matters");
    ck_assert_int_eq(ADMIN("catalog list%s", ""), 0);
    assert_out("6 areas, 27 matters");
    assert_counts(6, 27);
    matters_text(from_csv);
    ck_assert_str_eq(from_csv, from_json);

    /* The format comes from the name, or --format. */
    ck_assert_int_eq(ts_system("cp '%s' '%s/catalog.txt'", SAMPLE_DIR "/sample-catalog.csv", dir),
                     0);
    ck_assert_int_eq(ADMIN("catalog import '%s/catalog.txt'", dir), 1);
    assert_out("cannot tell the format");
    ck_assert_int_eq(ADMIN("catalog import --format csv '%s/catalog.txt'", dir), 0);
    ck_assert_int_eq(ADMIN("catalog import --format xml '%s/catalog.txt'", dir), 1);
}
END_TEST

#define HEADER                                                                                     \
    "kind,code,name,prefix,general,area,conditions,materials,sample,review_points,"                \
    "in_one_window,online_doable\n"
#define AREAS                                                                                      \
    "area,intake,综合受理,A,true,,,,,,,\n"                                                     \
    "area,tax,税务服务,T,false,,,,,,,\n"
#define MATTER "matter,T-1,发票领用,,,tax,已登记,身份证；UKey,样表,核对,true,true\n"

/* A bad file is refused with the place and reason, and nothing changes. */
static void refused(const char *name, const char *text, const char *want)
{
    static char before[65536], after[65536];
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    ts_write_file(path, text);
    matters_text(before);
    ck_assert_int_eq(ADMIN("catalog import '%s'", path), 1);
    assert_out(want);
    assert_out("nothing was imported");
    assert_counts(6, 27);
    matters_text(after);
    ck_assert_str_eq(after, before);
}

START_TEST(test_import_refused)
{
    ck_assert_int_eq(ADMIN("catalog import '%s'", SAMPLE_DIR "/sample-catalog.json"), 0);

    refused("area.csv",
            HEADER AREAS MATTER "matter,T-2,完税证明,,,tax,\"两行\n条件\",,,,true,true\n"
                                "matter,T-3,未知,,,nowhere,,,,,true,true\n",
            "area.csv:7: column area: no area 'nowhere' in this catalog");
    refused("bool.csv", HEADER AREAS "matter,T-1,发票领用,,,tax,,,,,maybe,true\n",
            "bool.csv:4: column in_one_window: 'maybe': expected true or false");
    refused("prefix.csv", HEADER AREAS "area,fund,公积金,T,false,,,,,,,\n",
            "prefix.csv:4: column prefix: prefix 'T' is already used by area tax (line 3)");
    refused("quote.csv", HEADER AREAS "matter,T-1,发票领用,,,tax,\"已登记,,,,true,true\n",
            "quote.csv:4: column conditions: quoted field is never closed");
    refused("general.csv", HEADER "area,tax,税务服务,T,false,,,,,,,\n",
            "general.csv: no area is marked general");
    refused("bad.json",
            "{\"areas\": [{\"code\": \"intake\", \"name\": \"综合受理\", \"prefix\": \"A\","
            " \"general\": true}], \"matters\": [{\"code\": \"A-1\", \"area\": \"intake\","
            " \"name\": \"咨询\", \"in_one_window\": true, \"online_doable\": false},"
            " {\"code\": \"A-2\", \"area\": \"tax\", \"name\": \"x\", \"in_one_window\": true,"
            " \"online_doable\": false}]}",
            "bad.json: matters[1].area: no area 'tax' in this catalog");
    refused("type.json",
            "{\"areas\": [{\"code\": \"intake\", \"name\": \"综合受理\", \"prefix\": \"A\","
            " \"general\": \"yes\"}]}",
            "type.json: areas[0].general: expected true or false");
    refused("syntax.json", "{\"areas\": [", "syntax.json: line 1");
}
END_TEST

/* ---- Registry -------------------------------------------------------------------- */

/* cert verifies against ca and matches key. */
static void assert_cert(const char *ca_path, const char *cert_path, const char *key_path,
                        const char *cn)
{
    FILE *f;
    X509 *ca, *cert;
    EVP_PKEY *key;

    ck_assert_ptr_nonnull(f = fopen(ca_path, "r"));
    ck_assert_ptr_nonnull(ca = PEM_read_X509(f, NULL, NULL, NULL));
    fclose(f);
    ck_assert_ptr_nonnull(f = fopen(cert_path, "r"));
    ck_assert_ptr_nonnull(cert = PEM_read_X509(f, NULL, NULL, NULL));
    fclose(f);
    ck_assert_ptr_nonnull(f = fopen(key_path, "r"));
    ck_assert_ptr_nonnull(key = PEM_read_PrivateKey(f, NULL, NULL, NULL));
    fclose(f);

    X509_STORE *trust = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    ck_assert_int_eq(X509_STORE_add_cert(trust, ca), 1);
    ck_assert_int_eq(X509_STORE_CTX_init(ctx, trust, cert, NULL), 1);
    ck_assert_msg(X509_verify_cert(ctx) == 1, "%s does not verify: %s", cert_path,
                  X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    ck_assert_int_eq(X509_check_private_key(cert, key), 1);
    char name[128];
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof name);
    ck_assert_str_eq(name, cn);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(trust);
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static bool same_file(const char *a, const char *b)
{
    return ts_system("cmp -s '%s' '%s'", a, b) == 0;
}

START_TEST(test_registry)
{
    char bundle[PATH_MAX], path[PATH_MAX], ca[PATH_MAX];

    ck_assert_int_eq(ADMIN("catalog import '%s'", SAMPLE_DIR "/sample-catalog.json"), 0);
    snprintf(ca, sizeof ca, "%s/pki/ca.crt", hall);

    /* Windows. */
    ck_assert_msg(ADMIN("window add --no 1 --name 综合受理1号窗 --type intake "
                        "--areas intake:2,realestate,tax:3%s",
                        "") == 0,
                  "%s", out);
    ck_assert_int_eq(ADMIN("window add --no 2 --name 出件窗 --type issuance --areas intake%s", ""),
                     0);
    ck_assert_int_eq(ADMIN("window add --no 3 --name x --type intake --areas nowhere%s", ""), 1);
    assert_out("no area 'nowhere' in the catalog");
    ck_assert_int_eq(ADMIN("window add --no 3 --name x --type lounge --areas tax%s", ""), 1);
    assert_out("--type lounge");
    ck_assert_int_eq(ADMIN("window add --no 3 --name x --type intake --areas tax:0%s", ""), 1);
    ck_assert_int_eq(ADMIN("window list%s", ""), 0);
    assert_out("intake:2,realestate:1,tax:3");
    assert_out("综合受理1号窗");
    assert_out("issuance");

    /* A catalog that drops a served area retires it: the window keeps
     * serving it; it is offered again once the catalog names it. */
    snprintf(path, sizeof path, "%s/small.csv", dir);
    ts_write_file(path, HEADER AREAS);
    ck_assert_int_eq(ADMIN("catalog import '%s'", path), 0);
    assert_out("area realestate");
    assert_out("retired");
    ck_assert_int_eq(ADMIN("catalog list%s", ""), 0);
    assert_out("retired");
    ck_assert_int_eq(ADMIN("window list%s", ""), 0);
    assert_out("intake:2,realestate:1,tax:3");
    ck_assert_int_eq(ADMIN("catalog import '%s'", SAMPLE_DIR "/sample-catalog.json"), 0);
    ck_assert_int_eq(ADMIN("catalog list%s", ""), 0);
    ck_assert_ptr_null(strstr(out, "retired"));

    /* Clerks. */
    ck_assert_int_eq(ADMIN("clerk add --id c001 --name 王芳%s", ""), 0);
    ck_assert_int_eq(ADMIN("clerk add --id 'bad id' --name x%s", ""), 1);
    ck_assert_int_eq(ADMIN("clerk list%s", ""), 0);
    assert_out("c001");
    assert_out("王芳");

    /* Devices: a kiosk gets the public sealing key, never the hall secret
     * nor a private key of halld's; a window terminal gets neither. */
    ck_assert_msg(ADMIN("device add --id kiosk-01 --type kiosk%s", "") == 0, "%s", out);
    snprintf(bundle, sizeof bundle, "%s/pki/devices/kiosk-01", hall);
    assert_cert(ca, ts_path(bundle, "kiosk-01.crt"), ts_path(bundle, "kiosk-01.key"), "kiosk-01");
    ck_assert(same_file(ts_path(bundle, "ca.crt"), ca));
    ck_assert(same_file(ts_path(bundle, "seal.pub"), ts_path(hall, "seal.pub")));
    ck_assert_int_eq(file_mode(ts_path(bundle, "kiosk-01.key")), 0600);
    ck_assert_int_eq(access(ts_path(bundle, "secret.key"), F_OK), -1);
    char *pub = ts_slurp(ts_path(bundle, "seal.pub"));
    ck_assert_ptr_nonnull(strstr(pub, "-----BEGIN PUBLIC KEY-----"));
    ck_assert_ptr_null(strstr(pub, "PRIVATE"));
    free(pub);

    snprintf(bundle, sizeof bundle, "%s/bundle-w1", dir);
    ck_assert_int_eq(ADMIN("device add --id win-1 --type window --window 1 --out '%s'", bundle), 0);
    assert_cert(ca, ts_path(bundle, "win-1.crt"), ts_path(bundle, "win-1.key"), "win-1");
    ck_assert_int_eq(access(ts_path(bundle, "secret.key"), F_OK), -1);
    ck_assert_int_eq(access(ts_path(bundle, "seal.pub"), F_OK), -1);
    ck_assert_int_eq(ADMIN("device add --id win-2 --type window%s", ""), 1);
    assert_out("a window terminal needs its window");
    ck_assert_int_eq(ADMIN("device add --id win-2 --type window --window 9%s", ""), 1);
    assert_out("no such window");
    ck_assert_int_eq(ADMIN("device add --id kiosk-01 --type kiosk%s", ""), 1);
    assert_out("already registered");
    ck_assert_int_eq(ADMIN("device add --id board --type display%s", ""), 0);

    ck_assert_int_eq(ADMIN("device revoke --id win-1%s", ""), 0);
    ck_assert_int_eq(ADMIN("device revoke --id nobody%s", ""), 1);
    ck_assert_int_eq(ADMIN("device add --id win-1 --type window --window 1 --out '%s/again'", dir),
                     1);
    assert_out("was revoked");
    ck_assert_int_eq(ADMIN("device list%s", ""), 0);
    assert_out("kiosk-01");
    assert_out("revoked");
    store *s = open_store();
    store_device d;
    ck_assert_int_eq(store_get_device(s, "win-1", &d), 1);
    ck_assert(d.revoked);
    ck_assert_int_eq(d.type, 2);
    ck_assert_uint_eq(d.window_no, 1);
    ck_assert_int_eq(store_get_device(s, "board", &d), 1);
    ck_assert_int_eq(d.type, 3);
    store_close(s);

    /* Appointments, in hall-local time. */
    ck_assert_msg(ADMIN("appointment add --code YY0001 --area realestate --at '2099-06-01 "
                        "09:30'%s",
                        "") == 0,
                  "%s", out);
    assert_out("2099-06-01T09:30:00.000+08:00");
    ck_assert_int_eq(
        ADMIN("appointment add --code YY0001 --area tax --at '2099-06-01 10:00'%s", ""), 1);
    ck_assert_int_eq(
        ADMIN("appointment add --code YY0002 --area tax --at '2099-02-30 10:00'%s", ""), 1);
    ck_assert_int_eq(
        ADMIN("appointment add --code YY0002 --area moon --at '2099-06-01 10:00'%s", ""), 1);
    ck_assert_int_eq(
        ADMIN("appointment add --code YY0002 --area tax --at '2000-06-01 10:00'%s", ""), 1);
    assert_out("has passed");
    /* Only codes the kiosk's keypad can type: no I or O, no '-', 4 to 12. */
    ck_assert_int_eq(
        ADMIN("appointment add --code YY-0003 --area tax --at '2099-06-01 10:00'%s", ""), 1);
    assert_out("keypad");
    ck_assert_int_eq(
        ADMIN("appointment add --code YYIO03 --area tax --at '2099-06-01 10:00'%s", ""), 1);
    assert_out("keypad");
    ck_assert_int_eq(ADMIN("appointment add --code Y03 --area tax --at '2099-06-01 10:00'%s", ""),
                     1);
    assert_out("keypad");
    ck_assert_int_eq(ADMIN("appointment list%s", ""), 0);
    assert_out("YY0001");
    s = open_store();
    store_appointment a;
    ck_assert_int_eq(store_get_appointment(s, "YY0001", &a), 1);
    ck_assert_int_eq(a.slot_ms, 4083960600000); /* 2099-06-01 01:30 UTC */
    ck_assert_int_eq(store_get_appointment(s, "YY0002", &a), 0);
    store_close(s);
}
END_TEST

/* ---- The sealing key ---------------------------------------------------------------- */

START_TEST(test_sealing_key)
{
    char bundle[PATH_MAX];

    ck_assert_int_eq(ADMIN("catalog import '%s'", SAMPLE_DIR "/sample-catalog.json"), 0);
    /* A hall has its key from init: making one again is refused. */
    ck_assert_int_eq(ADMIN("privacy keys%s", ""), 1);
    assert_out("privacy rotate");
    /* A hall made before sealing: no key, so no kiosk bundle, until made. */
    ck_assert_int_eq(unlink(ts_path(hall, "seal.key")), 0);
    ck_assert_int_eq(unlink(ts_path(hall, "seal.pub")), 0);
    ck_assert_int_eq(ADMIN("device add --id kiosk-01 --type kiosk%s", ""), 1);
    assert_out("hallctl privacy keys");
    ck_assert_msg(ADMIN("privacy keys%s", "") == 0, "%s", out);
    assert_out("key id ");
    ck_assert_int_eq(file_mode(ts_path(hall, "seal.key")), 0600);
    ck_assert_int_eq(file_mode(ts_path(hall, "seal.pub")), 0644);
    ck_assert_msg(ADMIN("device add --id kiosk-01 --type kiosk%s", "") == 0, "%s", out);
    snprintf(bundle, sizeof bundle, "%s/pki/devices/kiosk-01", hall);
    ck_assert(same_file(ts_path(bundle, "seal.pub"), ts_path(hall, "seal.pub")));

    /* Rotation: the current key becomes the previous one, a new pair
     * takes its place; new bundles carry the new public key. */
    char *was = ts_slurp(ts_path(hall, "seal.key")), *was_pub = ts_slurp(ts_path(hall, "seal.pub"));
    ck_assert_msg(ADMIN("privacy rotate%s", "") == 0, "%s", out);
    assert_out("copy ");
    char *previous = ts_slurp(ts_path(hall, "seal-previous.key"));
    char *now = ts_slurp(ts_path(hall, "seal.key")), *now_pub = ts_slurp(ts_path(hall, "seal.pub"));
    ck_assert_str_eq(previous, was);
    ck_assert_str_ne(now, was);
    ck_assert_str_ne(now_pub, was_pub);
    ck_assert_int_eq(file_mode(ts_path(hall, "seal-previous.key")), 0600);
    ck_assert_int_eq(file_mode(ts_path(hall, "seal.key")), 0600);
    ck_assert_msg(ADMIN("device add --id kiosk-02 --type kiosk%s", "") == 0, "%s", out);
    snprintf(bundle, sizeof bundle, "%s/pki/devices/kiosk-02", hall);
    ck_assert(same_file(ts_path(bundle, "seal.pub"), ts_path(hall, "seal.pub")));
    free(was);
    free(was_pub);
    free(previous);
    free(now);
    free(now_pub);
    /* Both changes are in the audit chain. */
    ck_assert_int_eq(ADMIN("audit verify%s", ""), 0);
    sqlite3 *conn;
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_open_v2(db, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_prepare_v2(conn,
                           "SELECT COUNT(*) FROM events WHERE detail LIKE "
                           "'sealing key made:%' OR detail LIKE 'sealing key rotated:%'",
                           -1, &st, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    sqlite3_close(conn);
}
END_TEST

/* ---- A running controller is told to reload ------------------------------------------ */

static volatile sig_atomic_t hups;

static void on_hup(int sig)
{
    (void)sig;
    hups++;
}

START_TEST(test_reload_signal)
{
    /* This process plays halld: it holds the store's controller lock. */
    store *s;
    char err[512], want[64];
    s = store_open(db, HALL_ID, STORE_DAEMON, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    struct sigaction sa = {.sa_handler = on_hup};
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGHUP, &sa, NULL), 0);

    ck_assert_int_eq(ADMIN("clerk add --id c002 --name 李明%s", ""), 0);
    snprintf(want, sizeof want, "told halld (pid %ld) to reload", (long)getpid());
    assert_out(want);
    for (int i = 0; i < 500 && hups == 0; i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    ck_assert_int_eq(hups, 1);

    ck_assert_int_eq(ADMIN("catalog import '%s'", SAMPLE_DIR "/sample-catalog.csv"), 0);
    assert_out(want);
    /* halld reads appointments when they are checked in: no reload. */
    ck_assert_int_eq(ADMIN("appointment add --code A001 --area tax --at '2099-01-01 09:00'%s", ""),
                     0);
    ck_assert_ptr_null(strstr(out, "reload"));

    /* The controller's own events chain after hallctl's. */
    q_event e = {.kind = QE_ISSUED,
                 .at_ms = clk_utc_ms(),
                 .day = 20990101,
                 .ticket_id = 1,
                 .clerk = "",
                 .detail = ""};
    ck_assert_int_eq(store_append_event(s, &e, "kiosk-01"), 0);
    store_close(s);
    ck_assert_int_eq(ADMIN("audit verify%s", ""), 0);
    assert_out("5 events, chain intact"); /* created, clerk, catalog, appointment, issued */
}
END_TEST

/* ---- Audit ------------------------------------------------------------------------- */

START_TEST(test_audit)
{
    ck_assert_int_eq(ADMIN("catalog import '%s'", SAMPLE_DIR "/sample-catalog.json"), 0);
    ck_assert_int_eq(ADMIN("clerk add --id c001 --name 王芳%s", ""), 0);
    ck_assert_int_eq(ADMIN("device add --id kiosk-01 --type kiosk%s", ""), 0);
    store *s = open_store();
    for (uint64_t id = 1; id <= 3; id++) {
        q_event e = {.kind = QE_ISSUED,
                     .at_ms = 1700000000000 + (int64_t)id,
                     .day = 20260301,
                     .ticket_id = id,
                     .clerk = "",
                     .detail = "一键取号"};
        ck_assert_int_eq(store_append_event(s, &e, "kiosk-01"), 0);
    }
    store_close(s);
    ck_assert_msg(ADMIN("audit verify%s", "") == 0, "%s", out);
    assert_out("7 events, chain intact; head: event 7, hash ");

    /* Someone with SQL access drops the trigger and rewrites who added the
     * kiosk. */
    sqlite3 *conn;
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_open(db, &conn), SQLITE_OK);
    int rc = sqlite3_exec(conn,
                          "DROP TRIGGER events_no_update;"
                          "UPDATE events SET clerk = 'nobody' WHERE seq = 4",
                          NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s", msg ? msg : "");
    sqlite3_close(conn);

    ck_assert_int_eq(ADMIN("audit verify%s", ""), 1);
    assert_out("event 4: its fields do not match its hash");
}
END_TEST

static Suite *hallctl_suite(void)
{
    Suite *s = suite_create("hallctl");
    TCase *tc = tcase_create("admin");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_usage);
    tcase_add_test(tc, test_import_samples);
    tcase_add_test(tc, test_import_refused);
    tcase_add_test(tc, test_registry);
    tcase_add_test(tc, test_sealing_key);
    tcase_add_test(tc, test_reload_signal);
    tcase_add_test(tc, test_audit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hallctl_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
