/*
 * idcard_key_custody — with a kiosk's whole disk and hall.db, no stored
 * citizen hash can be recomputed from a known ID number (docs/privacy.md).
 *
 * The real processes: halld (a hall made by hallctl, hallfixture), kioskd
 * with the sim printer and the serial card reader backend on a pty, and
 * idreadersim behind it, where the test places and takes away the card.
 * Everything kioskd reads or writes lives in one directory of its own, the
 * kiosk's disk: its configuration, its bundle from `hallctl device add`,
 * its store and its log; its configuration still names the hall secret
 * file of an earlier release (ignored, with a warning). First, kioskd
 * refuses to start with halld's private sealing key in place of the
 * public one. Then, with the same card:
 *
 *   - a ticket by card online;
 *   - halld stopped (the kiosk has a lease): two tickets by card offline;
 *     kioskd stopped, one bit of the second ticket's sealed ID number
 *     flipped in its store, kioskd started again;
 *   - halld back: the upload takes the first and refuses the second, for
 *     that ticket only, saying why.
 *
 * Then, everything stopped:
 *   - every key-like thing on the kiosk's disk (each file whole, each line,
 *     each word, hex and base64 decoded, every 16-, 32- and 64-byte window
 *     of every file) tried as an HMAC-SHA256 key on the known number
 *     matches no citizen hash in hall.db (and the same search over the
 *     hall's secret.key does find it: the search is not blind);
 *   - no file of the kiosk holds the clear number or any stored hash (raw
 *     or hex), hall.db holds no clear number, and neither halld's nor
 *     kioskd's log holds it; nor did the kiosk page's JSON on the ticket
 *     screen;
 *   - the hashes halld stored are HMAC-SHA256 of the number under the hall
 *     secret: still useful to the hall.
 */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clk.h"
#include "hallfixture.h"
#include "testsupport.h"

#define WAIT_MS  60000                /* generous: a loaded 2-core machine */
#define NUMBER   "110101199003071233" /* samdev's "valid" card */
#define HASH_LEN 32
#define MAX_HASH 16

typedef struct custody {
    hallfix hall;
    char *kiosk_dir; /* the kiosk's disk */
    char *sim_dir;   /* idreadersim's pty link and log */
    char tty[600], sim_log[600], kiosk_log[600], kiosk_db[600], ini[600];
    pid_t sim, kioskd;
    int control, page_port;
    /* hall.db's citizen hashes, once everything stopped */
    uint8_t hashes[MAX_HASH][HASH_LEN];
    int nhashes;
} custody;

/* ---- processes -------------------------------------------------------- */

/* One control line to idreadersim; its answer must be "ok ...". */
static void card(custody *x, const char *line)
{
    char reply[512];
    size_t n = 0;

    ck_assert_int_eq(write(x->control, line, strlen(line)), (ssize_t)strlen(line));
    ck_assert_int_eq(write(x->control, "\n", 1), 1);
    while (n < sizeof reply - 1) {
        ck_assert_int_eq(read(x->control, reply + n, 1), 1);
        if (reply[n] == '\n')
            break;
        n++;
    }
    reply[n] = '\0';
    ck_assert_msg(strncmp(reply, "ok ", 3) == 0, "idreadersim '%s': %s", line, reply);
}

static void sim_start(custody *x)
{
    const char *argv[] = {IDREADERSIM_PATH, "--card",         "none", "--link",
                          x->tty,           "--control-port", "0",    NULL};

    x->sim_dir = ts_tmpdir("custody-sim");
    snprintf(x->tty, sizeof x->tty, "%s/ttyID0", x->sim_dir);
    snprintf(x->sim_log, sizeof x->sim_log, "%s/idreadersim.log", x->sim_dir);
    x->sim = ts_spawn(argv, x->sim_log);
    ck_assert_msg(ts_file_contains(x->sim_log, "idreadersim: ready /dev/", WAIT_MS),
                  "idreadersim did not start");
    x->control = ts_connect(ts_log_port(x->sim_log, "control on 127.0.0.1:"), 30);
}

/* The kiosk's disk: its bundle as `hallctl device add` wrote it, its
 * configuration; kioskd writes its store and log there. */
static void kiosk_disk(custody *x)
{
    char text[2048];

    x->kiosk_dir = ts_tmpdir("custody-kiosk");
    ck_assert_int_eq(ts_system("cp %s/pki/devices/kiosk-01/* %s/", x->hall.dir, x->kiosk_dir), 0);
    snprintf(x->ini, sizeof x->ini, "%s/kioskd.ini", x->kiosk_dir);
    snprintf(x->kiosk_log, sizeof x->kiosk_log, "%s/kioskd.log", x->kiosk_dir);
    snprintf(x->kiosk_db, sizeof x->kiosk_db, "%s/kiosk.db", x->kiosk_dir);
    snprintf(text, sizeof text,
             "[kiosk]\nid = kiosk-01\nlog_level = debug\n"
             "[halld]\naddress = 127.0.0.1:%d\nreconnect_max = 500ms\n"
             "cert = kiosk-01.crt\nkey = kiosk-01.key\nca = ca.crt\n"
             "[store]\npath = kiosk.db\n"
             "[flow]\nrequest_timeout = 30s\nticket_show = 2s\ngeneral_area = intake\n"
             "[printer]\nbackend = sim\n"
             "[idcard]\nbackend = serial\ndevice = %s\nsealing_key = seal.pub\n"
             "; the line of an earlier release: kioskd starts, ignores it, warns\n"
             "hall_secret_file = /etc/onewindow/kiosk/secret.key\n"
             "[page]\nport = 0\n",
             x->hall.port, x->tty);
    ts_write_file(x->ini, text);
}

/* Start kioskd; its page's port from what this run logged. */
static void kiosk_start(custody *x)
{
    static const char mark[] = "touch page on http://127.0.0.1:";
    const char *argv[] = {KIOSKD_PATH, "-c", x->ini, NULL};
    char *text = ts_slurp(x->kiosk_log);
    size_t before = strlen(text);

    free(text);
    x->kioskd = ts_spawn(argv, x->kiosk_log);
    for (int64_t until = clk_mono_ms() + WAIT_MS; x->page_port == 0;) {
        text = ts_slurp(x->kiosk_log);
        const char *at = strlen(text) > before ? strstr(text + before, mark) : NULL;
        if (at != NULL)
            x->page_port = atoi(at + strlen(mark));
        free(text);
        ck_assert_msg(x->page_port > 0 || clk_mono_ms() < until, "kioskd did not start");
        if (x->page_port == 0)
            usleep(50 * 1000);
    }
}

static void kiosk_stop(custody *x)
{
    kill(x->kioskd, SIGTERM);
    int status = ts_wait(x->kioskd, WAIT_MS);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "kioskd did not stop cleanly (status %d)", status);
    x->kioskd = 0;
    x->page_port = 0;
}

/* The kiosk page's screen model (the caller frees). */
static char *page_state(custody *x)
{
    char req[96];
    int len = snprintf(req, sizeof req, "GET /api/state HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n",
                       x->page_port);
    int fd = ts_connect(x->page_port, 30);
    char *text = calloc(1, 65536);
    size_t n = 0;
    ssize_t got;

    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(write(fd, req, (size_t)len), (ssize_t)len);
    while (n < 65535 && (got = read(fd, text + n, 65535 - n)) > 0)
        n += (size_t)got;
    close(fd);
    return text;
}

/* Wait until the screen model holds every needle; its text (the caller
 * frees). */
static char *page_until(custody *x, const char *a, const char *b)
{
    for (int64_t until = clk_mono_ms() + WAIT_MS;;) {
        char *m = page_state(x);
        if (strstr(m, a) != NULL && (b == NULL || strstr(m, b) != NULL))
            return m;
        ck_assert_msg(clk_mono_ms() < until, "waited for %s %s in: %s", a, b ? b : "", m);
        free(m);
        usleep(100 * 1000);
    }
}

/* ---- the stores ------------------------------------------------------------ */

static long long query_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;

    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void wait_int(const char *path, const char *sql, long long want)
{
    for (int64_t until = clk_mono_ms() + WAIT_MS; query_int(path, sql) != want;) {
        ck_assert_msg(clk_mono_ms() < until, "waited for %s to be %lld (it is %lld)", sql, want,
                      query_int(path, sql));
        usleep(100 * 1000);
    }
}

/* Flip one bit in the middle of the sealed number of the kiosk's offline
 * ticket row id (kioskd stopped). */
static void tamper(custody *x, long long id)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    uint8_t blob[256];
    int n;

    ck_assert_int_eq(sqlite3_open(x->kiosk_db, &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT sealed FROM offline WHERE id = ?1", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_bytes(st, 0);
    ck_assert(n > 0 && n <= (int)sizeof blob);
    memcpy(blob, sqlite3_column_blob(st, 0), (size_t)n);
    sqlite3_finalize(st);
    blob[n / 2] ^= 0x04;
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "UPDATE offline SET sealed = ?1 WHERE id = ?2", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_blob(st, 1, blob, n, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, id);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void read_hashes(custody *x)
{
    sqlite3 *db;
    sqlite3_stmt *st;

    ck_assert_int_eq(
        sqlite3_open_v2(ts_path(x->hall.dir, "hall.db"), &db, SQLITE_OPEN_READONLY, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT citizen_hash FROM tickets WHERE citizen_hash IS "
                                        "NOT NULL UNION ALL SELECT citizen_hash FROM appointments "
                                        "WHERE citizen_hash IS NOT NULL",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW && x->nhashes < MAX_HASH) {
        ck_assert_int_eq(sqlite3_column_bytes(st, 0), HASH_LEN);
        memcpy(x->hashes[x->nhashes++], sqlite3_column_blob(st, 0), HASH_LEN);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- files -------------------------------------------------------------------- */

struct blob {
    uint8_t *data;
    size_t len;
};

static struct blob slurp(const char *path)
{
    struct blob b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    long size;

    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    b.data = malloc(size > 0 ? (size_t)size : 1);
    ck_assert_ptr_nonnull(b.data);
    b.len = fread(b.data, 1, (size_t)size, f);
    fclose(f);
    return b;
}

/* Every regular file under dir (recursively), by path, into list. */
static int walk(const char *dir, char list[][1024], int max, int n)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ck_assert_int_eq(lstat(path, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            n = walk(path, list, max, n);
        } else if (S_ISREG(st.st_mode)) {
            ck_assert_int_lt(n, max);
            snprintf(list[n++], 1024, "%s", path);
        }
    }
    closedir(d);
    return n;
}

static bool has(const struct blob *b, const void *needle, size_t len)
{
    return len > 0 && b->len >= len && memmem(b->data, b->len, needle, len) != NULL;
}

static void hex_of(const uint8_t *p, size_t n, char *out, bool upper)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, upper ? "%02X" : "%02x", p[i]);
}

/* ---- the key search ------------------------------------------------------------ */

/* Does HMAC-SHA256(key, NUMBER) equal a hash of hall.db? */
static bool opens(const custody *x, const uint8_t *key, size_t len)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    if (len == 0)
        return false;
    HMAC(EVP_sha256(), key, (int)len, (const uint8_t *)NUMBER, strlen(NUMBER), mac, &maclen);
    for (int i = 0; i < x->nhashes; i++)
        if (memcmp(mac, x->hashes[i], HASH_LEN) == 0)
            return true;
    return false;
}

static int hexdigit(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

/* Every window of 16, 32 and 64 bytes of p[0..n) as a key. */
static bool windows_open(const custody *x, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 16 <= n; i++)
        if (opens(x, p + i, 16) || (i + 32 <= n && opens(x, p + i, 32)) ||
            (i + 64 <= n && opens(x, p + i, 64)))
            return true;
    return false;
}

/* A string tried as a key: as it is, hex-decoded and base64-decoded (and
 * the windows of what was decoded). */
static bool try_text(const custody *x, const char *s, size_t n)
{
    uint8_t dec[4096];
    size_t k = 0;
    bool hex = n >= 2 && n % 2 == 0 && n / 2 <= sizeof dec;

    if (opens(x, (const uint8_t *)s, n))
        return true;
    for (size_t i = 0; hex && i < n; i += 2) {
        int hi = hexdigit((unsigned char)s[i]), lo = hexdigit((unsigned char)s[i + 1]);
        hex = hi >= 0 && lo >= 0;
        if (hex)
            dec[k++] = (uint8_t)(hi << 4 | lo);
    }
    if (hex && (opens(x, dec, k) || windows_open(x, dec, k)))
        return true;
    if (n % 4 == 0 && n / 4 * 3 <= sizeof dec) {
        int got = EVP_DecodeBlock(dec, (const unsigned char *)s, (int)n);
        for (int pad = 0; got >= 0 && pad < 3; pad++)
            if (got - pad > 0 && opens(x, dec, (size_t)(got - pad)))
                return true;
        if (got > 0 && windows_open(x, dec, (size_t)got))
            return true;
    }
    return false;
}

/* Every key-like thing in a file: the file, its lines, its words (each as
 * text, hex and base64), a PEM body as one base64 text, and every window
 * of 16, 32 and 64 bytes. */
static bool file_opens(const custody *x, const char *path)
{
    struct blob b = slurp(path);
    char *text = malloc(b.len + 1), *pem = malloc(b.len + 1);
    size_t npem = 0;
    bool found = opens(x, b.data, b.len);

    ck_assert(text != NULL && pem != NULL);
    memcpy(text, b.data, b.len);
    text[b.len] = '\0';
    found = found || windows_open(x, b.data, b.len);
    for (char *line = text, *end; !found && line < text + b.len; line = end + 1) {
        end = line + strcspn(line, "\n");
        *end = '\0';
        found = try_text(x, line, strlen(line));
        if (strncmp(line, "-----", 5) != 0)
            for (size_t j = 0; line[j] != '\0'; j++)
                pem[npem++] = line[j];
        for (char *w = line, *sp; !found && *w != '\0'; w = sp) {
            w += strspn(w, " \t\r=:;,\"'");
            size_t n = strcspn(w, " \t\r=:;,\"'");
            sp = w + n;
            found = n > 0 && try_text(x, w, n);
        }
    }
    if (!found && npem > 0)
        found = try_text(x, pem, npem);
    free(text);
    free(pem);
    free(b.data);
    return found;
}

/* ---- the test ------------------------------------------------------------------ */

START_TEST(kiosk_disk_cannot_recompute_hashes)
{
    custody x = {.control = -1};
    char list[256][1024];
    char *m;

    /* halld on a fixed port from its first start on, logging everything. */
    fix_init(&x.hall, 1, NULL);
    ck_assert_int_eq(ts_system("sed -i -e 's/^level *=.*/level = debug/' %s", x.hall.config), 0);
    fix_start(&x.hall);
    ck_assert_int_eq(
        ts_system("sed -i -e 's/^port *=.*/port = %d/' %s", x.hall.port, x.hall.config), 0);
    sim_start(&x);
    kiosk_disk(&x);
    /* halld's private sealing key where the public one belongs: kioskd
     * does not start (the private key stays in the hall's directory). */
    char wrong[1200], wrong_log[700];
    snprintf(wrong, sizeof wrong, "%s/wrong.ini", x.sim_dir);
    snprintf(wrong_log, sizeof wrong_log, "%s/wrong.log", x.sim_dir);
    ck_assert_int_eq(ts_system("sed -e 's|^sealing_key = .*|sealing_key = %s/seal.key|' "
                               "-e 's|^cert = |cert = %s/|' -e 's|^key = |key = %s/|' "
                               "-e 's|^ca = |ca = %s/|' -e 's|^path = .*|path = %s/wrong.db|' "
                               "%s > %s",
                               x.hall.dir, x.kiosk_dir, x.kiosk_dir, x.kiosk_dir, x.sim_dir, x.ini,
                               wrong),
                     0);
    const char *wrong_argv[] = {KIOSKD_PATH, "-c", wrong, NULL};
    int status = ts_wait(ts_spawn(wrong_argv, wrong_log), WAIT_MS);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "kioskd status %d", status);
    ck_assert(ts_file_contains(wrong_log, "holds a private key", 0));

    kiosk_start(&x);
    ck_assert(ts_file_contains(x.kiosk_log, "hall_secret_file is no longer used", WAIT_MS));
    ck_assert(ts_file_contains(x.kiosk_log, "link to halld up", WAIT_MS));
    ck_assert(ts_file_contains(x.kiosk_log, "card reader: ready", WAIT_MS));
    /* The kiosk holds numbers of the general area for when halld is away. */
    wait_int(x.kiosk_db, "SELECT count - used >= 3 FROM leases WHERE area = 'intake'", 1);
    free(page_until(&x, "\"screen\":\"idle\"", "\"link\":\"online\""));

    /* Online: a ticket by card; the page shows the masked name only. */
    card(&x, "place valid");
    m = page_until(&x, "\"screen\":\"ticket\"", NULL);
    ck_assert_ptr_nonnull(strstr(m, "\"masked_name\":\"张*\""));
    ck_assert_ptr_null(strstr(m, NUMBER));
    ck_assert_ptr_null(strstr(m, "11010119"));
    free(m);
    card(&x, "remove");
    wait_int(ts_path(x.hall.dir, "hall.db"),
             "SELECT COUNT(*) FROM tickets WHERE citizen_hash IS NOT NULL AND state = 2", 1);
    free(page_until(&x, "\"screen\":\"idle\"", NULL));

    /* Offline: halld stopped, two tickets by card from the lease. */
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&x.hall)), 0);
    ck_assert_int_eq(rename(x.hall.log, ts_path(x.hall.dir, "halld-1.log")), 0);
    free(page_until(&x, "\"screen\":\"idle\"", "\"link\":\"offline\""));
    for (int i = 0; i < 2; i++) {
        card(&x, "place valid");
        m = page_until(&x, "\"screen\":\"ticket\"", "\"offline\":true");
        ck_assert_ptr_null(strstr(m, NUMBER));
        free(m);
        card(&x, "remove");
        wait_int(x.kiosk_db,
                 "SELECT COUNT(*) FROM offline WHERE state = 1 AND length(sealed) > 0"
                 " AND masked_name = '张*'",
                 i + 1);
        free(page_until(&x, "\"screen\":\"idle\"", NULL));
    }
    /* The second one's sealed number changed while the kiosk is off. */
    kiosk_stop(&x);
    long long first = query_int(x.kiosk_db, "SELECT MIN(id) FROM offline");
    long long second = query_int(x.kiosk_db, "SELECT MAX(id) FROM offline");
    ck_assert_int_lt(first, second);
    tamper(&x, second);
    kiosk_start(&x);

    /* halld back: the first joins with the citizen bound, the second is
     * refused on its own, saying why. */
    fix_start(&x.hall);
    wait_int(x.kiosk_db, "SELECT COUNT(*) FROM offline WHERE state = 1", 0);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT state FROM offline WHERE id = %lld", first);
    ck_assert_int_eq(query_int(x.kiosk_db, sql), 3); /* UPLOADED */
    snprintf(sql, sizeof sql,
             "SELECT state = 4 AND reason LIKE '%%sealed ID number does not open%%' FROM offline "
             "WHERE id = %lld",
             second);
    ck_assert_msg(query_int(x.kiosk_db, sql) == 1, "the changed ticket was not refused as such");
    ck_assert_int_eq(query_int(ts_path(x.hall.dir, "hall.db"),
                               "SELECT COUNT(*) FROM tickets WHERE offline = 1 AND "
                               "citizen_hash IS NOT NULL"),
                     1);
    ck_assert_int_eq(
        query_int(ts_path(x.hall.dir, "hall.db"), "SELECT COUNT(*) FROM tickets WHERE offline = 1"),
        1);
    /* Settled, the kiosk keeps no envelope either. */
    ck_assert_int_eq(query_int(x.kiosk_db, "SELECT COUNT(*) FROM offline WHERE sealed IS NOT NULL"),
                     0);

    /* Everything stops. */
    kiosk_stop(&x);
    close(x.control);
    kill(x.sim, SIGTERM);
    ck_assert_int_eq(ts_wait(x.sim, WAIT_MS), 0);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&x.hall)), 0);

    /* The hashes halld stored: the online and the offline ticket's, both
     * HMAC-SHA256 of the number under the hall secret. */
    read_hashes(&x);
    ck_assert_int_eq(x.nhashes, 2);
    struct blob secret_hex = slurp(ts_path(x.hall.dir, "secret.key"));
    uint8_t secret[64], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    ck_assert_uint_eq(secret_hex.len, 65);
    for (size_t i = 0; i < 32; i++)
        secret[i] =
            (uint8_t)(hexdigit(secret_hex.data[2 * i]) << 4 | hexdigit(secret_hex.data[2 * i + 1]));
    free(secret_hex.data);
    HMAC(EVP_sha256(), secret, 32, (const uint8_t *)NUMBER, strlen(NUMBER), mac, &maclen);
    for (int i = 0; i < x.nhashes; i++)
        ck_assert_mem_eq(x.hashes[i], mac, HASH_LEN);
    /* The search finds the key where it is: it would find a copy of it. */
    ck_assert(file_opens(&x, ts_path(x.hall.dir, "secret.key")));

    /* The kiosk's disk: no key to the hashes, no number, no hash. */
    int n = walk(x.kiosk_dir, list, 256, 0);
    ck_assert_int_ge(n, 6); /* ini, certificate, key, CA, seal.pub, store, log */
    for (int i = 0; i < n; i++) {
        struct blob b = slurp(list[i]);
        char lower[2 * HASH_LEN + 1], upper[2 * HASH_LEN + 1];

        ck_assert_msg(!file_opens(&x, list[i]), "%s holds a key to the hashes", list[i]);
        ck_assert_msg(!has(&b, NUMBER, strlen(NUMBER)), "%s holds the number", list[i]);
        ck_assert_msg(!has(&b, NUMBER, 14), "%s holds the number's first digits", list[i]);
        for (int h = 0; h < x.nhashes; h++) {
            hex_of(x.hashes[h], HASH_LEN, lower, false);
            hex_of(x.hashes[h], HASH_LEN, upper, true);
            ck_assert_msg(!has(&b, x.hashes[h], HASH_LEN) && !has(&b, lower, 2 * HASH_LEN) &&
                              !has(&b, upper, 2 * HASH_LEN),
                          "%s holds a stored hash", list[i]);
        }
        free(b.data);
    }
    /* halld's side: the database and the logs hold no clear number. */
    n = walk(x.hall.dir, list, 256, 0);
    for (int i = 0; i < n; i++) {
        const char *name = strrchr(list[i], '/') + 1;
        if (strncmp(name, "hall.db", 7) != 0 && strstr(name, ".log") == NULL)
            continue;
        struct blob b = slurp(list[i]);
        ck_assert_msg(!has(&b, NUMBER, strlen(NUMBER)) && !has(&b, NUMBER, 14),
                      "%s holds the number", list[i]);
        free(b.data);
    }
    struct blob logs[] = {slurp(ts_path(x.hall.dir, "halld-1.log")), slurp(x.hall.log),
                          slurp(x.kiosk_log), slurp(x.sim_log)};
    for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
        ck_assert(!has(&logs[i], NUMBER, 14));
        free(logs[i].data);
    }
    /* The logs are there and say what happened: the scans are not blind. */
    ck_assert(ts_file_contains(x.kiosk_log, "offline ticket", 0));
    ck_assert(ts_file_contains(x.hall.log, "sealed ID number does not open", 0));

    if (getenv("ONEWINDOW_KEEP_TEST_DIRS") == NULL) {
        ts_rmtree(x.kiosk_dir);
        ts_rmtree(x.sim_dir);
    }
    free(x.kiosk_dir);
    free(x.sim_dir);
    fix_free(&x.hall);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("key_custody");
    TCase *tc = tcase_create("custody");

    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, kiosk_disk_cannot_recompute_hashes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
