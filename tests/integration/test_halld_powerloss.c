/*
 * halld_powerloss — a power cut at any write or sync loses nothing that
 * was answered.
 *
 * kill -9 keeps the page cache, so it says nothing about fsync. Here the
 * stores run on crashvfs (tests/support/crashvfs.h), which holds every
 * write of a database, WAL or journal file until that file is synced and
 * cuts the power at a chosen write or sync: what was never synced is lost,
 * all of it or sector by sector at random. Each case counts the
 * operations of its workload once (a dry run), then runs it again for
 * hundreds of cut points spread over them, and after each cut reopens the
 * store with nothing of the old process left.
 *
 *  - crashvfs itself, on a plain table in WAL, DELETE and TRUNCATE
 *    journal modes: committed transactions survive every cut whole,
 *    uncommitted ones never appear, integrity_check is ok; the same
 *    workload without syncs loses commits (the model can catch a missing
 *    sync); injected write and sync failures fail one commit and the next
 *    one works.
 *  - halld's durable path in process (hallcore: hall_request and
 *    hall_commit as server.c runs a loop turn) under a seeded workload of
 *    kiosks issuing, printing, leasing and uploading, and window terminals
 *    signing in, calling, starting and finishing. After the cut: the file
 *    is intact, hall_new() rebuilds, every ticket an answer showed is in
 *    the store at least as far along as its last answer, no display number
 *    twice, windows and tickets agree, every answered request retried
 *    gets its first answer byte for byte, new tickets and leases reuse no
 *    answered number, and the audit chain verifies.
 *  - kioskd's store (kstore): every number kstore_offline_take() returned
 *    is still there and never handed out again, request ids never go
 *    back, online tickets are as last confirmed.
 *
 * Every case prints its seed; ONEWINDOW_SEED=N repeats it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "catalog.h"
#include "clk.h"
#include "crashvfs.h"
#include "hall.h"
#include "halld_conf.h"
#include "kstore.h"
#include "log.h"
#include "proto.h"
#include "store.h"
#include "testsupport.h"

#define HALL_ID    "powerloss"
#define MIN_CUTS   200
#define HALL_CUTS  240
#define KIOSK_CUTS 240

/* ---- Shared helpers ------------------------------------------------------ */

/* splitmix64: one stream per seed, the same on every machine. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned rng_below(uint64_t *state, unsigned n)
{
    return (unsigned)(rng_next(state) % n);
}

/* ONEWINDOW_SEED, or a fresh one; printed so a failure can be repeated. */
static uint64_t test_seed(const char *what)
{
    const char *env = getenv("ONEWINDOW_SEED");
    uint64_t seed =
        env && *env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid();

    fprintf(stderr, "%s: seed %" PRIu64 " (ONEWINDOW_SEED=%" PRIu64 " repeats it)\n", what, seed,
            seed);
    return seed;
}

/* Cut points over [1, total]: one in each of n equal strata, at random
 * inside it, so the whole workload is covered. */
static uint64_t cut_point(uint64_t *rng, uint64_t total, int i, int n)
{
    uint64_t lo = 1 + total * (uint64_t)i / (uint64_t)n;
    uint64_t hi = total * (uint64_t)(i + 1) / (uint64_t)n;

    return hi > lo ? lo + rng_next(rng) % (hi - lo + 1) : lo;
}

static void power_cut(void)
{
    ck_assert_msg(crashvfs_power_cut() == 0, "power cut: %s", strerror(errno));
}

static void integrity_ok(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;

    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_msg(strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0,
                  "%s: integrity_check: %s", path, sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static sqlite3 *open_raw(const char *path)
{
    sqlite3 *db;

    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static long sql_long(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long v = -1;

    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void copy_file(const char *from, const char *to)
{
    char data[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ssize_t n;

    ck_assert_msg(in >= 0 && out >= 0, "copy %s to %s: %s", from, to, strerror(errno));
    while ((n = read(in, data, sizeof data)) > 0)
        ck_assert_int_eq(write(out, data, (size_t)n), n);
    ck_assert_int_eq(n, 0);
    close(in);
    close(out);
}

/* ---- crashvfs on a plain table ------------------------------------------- */

#define VFS_TXNS 40
#define VFS_ROWS 3

static const char *const journal_modes[] = {"WAL", "DELETE", "TRUNCATE"};

/* What the plain workload was told about each transaction. */
enum txn_fate { TXN_NOT_RUN, TXN_ROLLED_BACK, TXN_COMMITTED, TXN_IN_DOUBT };

/* Transactions of VFS_ROWS rows with a payload big enough to spill over
 * pages, every fifth rolled back; stops at the first error. The cut may
 * come in a COMMIT: that transaction is in doubt. */
static void vfs_workload(const char *path, const char *mode, bool sync, enum txn_fate *fate)
{
    char sql[256];
    sqlite3 *db;

    memset(fate, 0, sizeof(enum txn_fate) * (VFS_TXNS + 1));
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        goto out;
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=%s; PRAGMA synchronous=%s; PRAGMA wal_autocheckpoint=20;"
             "CREATE TABLE IF NOT EXISTS t(txn INTEGER NOT NULL, k INTEGER NOT NULL,"
             " v BLOB NOT NULL)",
             mode, sync ? "FULL" : "OFF");
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    for (int txn = 1; txn <= VFS_TXNS; txn++) {
        if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
            goto out;
        for (int k = 0; k < VFS_ROWS; k++) {
            snprintf(sql, sizeof sql, "INSERT INTO t VALUES(%d, %d, randomblob(%d))", txn, k,
                     200 + (txn * 397 + k * 1000) % 3000);
            if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
                goto out;
        }
        if (txn % 5 == 0) {
            if (sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
                goto out;
            fate[txn] = TXN_ROLLED_BACK;
            continue;
        }
        fate[txn] = TXN_IN_DOUBT;
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            goto out;
        fate[txn] = TXN_COMMITTED;
    }
out:
    sqlite3_close_v2(db);
}

/* After the cut: the file is intact, every transaction whole or absent,
 * every committed one present, no rolled-back or unrun one. Returns the
 * number of committed transactions missing (0 unless allowed). */
static int vfs_check(const char *path, const enum txn_fate *fate, bool allow_lost)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int lost = 0;

    integrity_ok(path);
    db = open_raw(path);
    if (sql_long(db, "SELECT count(*) FROM sqlite_schema WHERE name = 't'") == 0) {
        for (int txn = 1; txn <= VFS_TXNS; txn++)
            lost += fate[txn] == TXN_COMMITTED;
        ck_assert_msg(allow_lost || lost == 0, "table lost with %d commits", lost);
        sqlite3_close(db);
        return lost;
    }
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE txn = ?1", -1, &st, NULL),
                     SQLITE_OK);
    for (int txn = 1; txn <= VFS_TXNS; txn++) {
        sqlite3_reset(st);
        sqlite3_bind_int(st, 1, txn);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        int rows = sqlite3_column_int(st, 0);
        ck_assert_msg(rows == 0 || rows == VFS_ROWS, "transaction %d has %d of %d rows", txn, rows,
                      VFS_ROWS);
        if (fate[txn] == TXN_COMMITTED && rows == 0)
            lost++;
        ck_assert_msg(allow_lost || fate[txn] != TXN_COMMITTED || rows == VFS_ROWS,
                      "committed transaction %d lost", txn);
        ck_assert_msg(fate[txn] == TXN_COMMITTED || fate[txn] == TXN_IN_DOUBT || rows == 0,
                      "transaction %d (%s) is in the file", txn,
                      fate[txn] == TXN_ROLLED_BACK ? "rolled back" : "never committed");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return lost;
}

/* Every operation of the workload as a cut point, in each loss mode. */
START_TEST(vfs_every_cut)
{
    const char *mode = journal_modes[_i];
    enum txn_fate fate[VFS_TXNS + 1];
    crashvfs_counters n;
    char *dir = ts_tmpdir("crashvfs");
    char path[PATH_MAX];
    uint64_t seed = test_seed(mode);

    ck_assert_int_eq(crashvfs_register(), 0);
    snprintf(path, sizeof path, "%s/dry.db", dir);
    ck_assert_int_eq(crashvfs_arm(0, CRASHVFS_LOSE_ALL, 0), 0);
    vfs_workload(path, mode, true, fate);
    crashvfs_counters_get(&n);
    power_cut();
    ck_assert_int_eq(fate[VFS_TXNS - 1], TXN_COMMITTED);
    ck_assert_int_gt(n.syncs, VFS_TXNS / 2);
    vfs_check(path, fate, false);

    uint64_t kept = 0;
    for (uint64_t cut = 1; cut <= n.ops + 1; cut++) {
        crashvfs_loss loss = cut % 2 ? CRASHVFS_LOSE_SOME : CRASHVFS_LOSE_ALL;
        crashvfs_counters after;

        snprintf(path, sizeof path, "%s/cut-%" PRIu64 ".db", dir, cut);
        ck_assert_int_eq(crashvfs_arm(cut, loss, seed + cut), 0);
        vfs_workload(path, mode, true, fate);
        power_cut();
        crashvfs_counters_get(&after);
        kept += after.kept_sectors;
        vfs_check(path, fate, false);
    }
    fprintf(stderr,
            "%s: %" PRIu64 " operations, %" PRIu64 " syncs, every one a cut point; %" PRIu64
            " unsynced sectors kept at random\n",
            mode, n.ops, n.syncs, kept);
    ck_assert_uint_gt(kept, 0);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

/* Without syncs, the model loses what was committed: a test on crashvfs
 * can catch a missing sync. */
START_TEST(vfs_catches_missing_sync)
{
    enum txn_fate fate[VFS_TXNS + 1];
    char *dir = ts_tmpdir("crashvfs");
    char path[PATH_MAX];

    ck_assert_int_eq(crashvfs_register(), 0);
    snprintf(path, sizeof path, "%s/nosync.db", dir);
    ck_assert_int_eq(crashvfs_arm(0, CRASHVFS_LOSE_ALL, 0), 0);
    vfs_workload(path, "WAL", false, fate);
    power_cut();
    ck_assert_int_eq(fate[VFS_TXNS - 1], TXN_COMMITTED);
    ck_assert_int_gt(vfs_check(path, fate, true), 0);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

/* crashvfs_fail: one commit fails with the injected code, the next one
 * works and survives a cut. */
START_TEST(vfs_injected_faults)
{
    static const struct {
        crashvfs_fault kind;
        int code;
    } faults[] = {
        {CRASHVFS_SYNC_IOERR, SQLITE_IOERR},
        {CRASHVFS_WRITE_IOERR, SQLITE_IOERR},
        {CRASHVFS_WRITE_FULL, SQLITE_FULL},
    };
    char *dir = ts_tmpdir("crashvfs");
    char path[PATH_MAX];
    sqlite3 *db;

    ck_assert_int_eq(crashvfs_register(), 0);
    snprintf(path, sizeof path, "%s/faults.db", dir);
    ck_assert_int_eq(crashvfs_arm(0, CRASHVFS_LOSE_ALL, 0), 0);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db,
                                  "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                  "CREATE TABLE t(k INTEGER PRIMARY KEY)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        char sql[128];

        crashvfs_fail(faults[i].kind, 1);
        snprintf(sql, sizeof sql, "BEGIN; INSERT INTO t VALUES(%zu); COMMIT", 100 + i);
        ck_assert_int_ne(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_errcode(db), faults[i].code);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        snprintf(sql, sizeof sql, "INSERT INTO t VALUES(%zu)", i);
        ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "after fault %zu: %s",
                      i, sqlite3_errmsg(db));
    }
    sqlite3_close(db);
    power_cut();
    integrity_ok(path);
    db = open_raw(path);
    ck_assert_int_eq(sql_long(db, "SELECT count(*) FROM t WHERE k < 100"), 3);
    sqlite3_close(db);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- halld ------------------------------------------------------------------- */

#define WINDOWS      4
#define KIOSKS       2
#define TURNS        400
#define MAX_SENT     (TURNS * 4 + 16)
#define MAX_TICKETS  (MAX_SENT * 3)
#define MAX_LEASES   64
#define TURN_MAX_REQ 4

static const char *const issue_areas[] = {"intake", "tax", "realestate", "fund", "social"};
static const char *const issue_matters[] = {"A-DB", "T-FPLY", "B-ZYDJ", "G-TQGF", "S-SBK"};
static const char *const lease_areas[] = {"intake", "tax"};
#define NAREAS (sizeof issue_areas / sizeof issue_areas[0])

/* The devices: kiosks first, then one terminal per window. */
#define NDEVICES (KIOSKS + WINDOWS)

/* One request as its device sent it, and what it was told once the
 * request's turn committed. */
struct sent {
    int dev;
    Hall__Envelope__BodyCase body;
    uint8_t *req;
    size_t req_len;
    uint8_t *answer;
    size_t answer_len;
    bool answered, refused, kept; /* kept: its answer is kept for retries */
};

/* A ticket an answer showed, with the furthest state answered. */
struct seen_ticket {
    uint64_t id;
    char number[Q_NUMBER_MAX];
    char area[Q_CODE_MAX];
    int32_t day;
    int state;
};

struct seen_lease {
    int kiosk;
    char area[Q_CODE_MAX];
    char prefix[8];
    uint32_t first, count, used;
    int32_t day;
};

/* Everything one run sent and learned. */
struct hall_run {
    struct sent sent[MAX_SENT];
    size_t nsent;
    struct seen_ticket tickets[MAX_TICKETS];
    size_t ntickets;
    struct seen_lease leases[MAX_LEASES];
    size_t nleases;
    uint64_t to_print[KIOSKS][MAX_SENT];
    size_t nto_print[KIOSKS];
    bool signed_in[WINDOWS + 1];
    uint64_t current[WINDOWS + 1]; /* the window's CALLED or SERVING ticket */
    int current_state[WINDOWS + 1];
    uint64_t next_request_id;
    int turns;
    size_t refusals;
};

static hall_device devices[NDEVICES];
static struct halld_conf conf;
static char hall_dir[512], template_db[PATH_MAX];

/* protobuf-c holds char * in messages that are only packed. */
static char *wire_str(const char *s)
{
    union {
        const char *in;
        char *out;
    } u = {s};
    return u.out;
}

static void hall_fixture(void)
{
    char err[512], ini[PATH_MAX + 32], text[512];
    char *dir = ts_tmpdir("powerloss");
    time_t now = time(NULL);
    struct tm utc;

    ck_assert_uint_lt(strlen(dir), sizeof hall_dir);
    snprintf(hall_dir, sizeof hall_dir, "%s", dir);
    free(dir);
    /* The business day rolls over 12 hours from now: a run never spans
     * two days. A wide lease band: the kiosk after the restart still gets
     * a lease to compare with the answered ones. */
    gmtime_r(&now, &utc);
    snprintf(text, sizeof text,
             "[hall]\nid = " HALL_ID "\nname = 断电测试大厅\ntime_zone = UTC\n"
             "rollover_hour = %d\n[store]\npath = hall.db\n"
             "[queue]\nreserve_timeout = 30m\n"
             "[numbering]\nlease_first = 500\nlease_band = 400\n",
             (utc.tm_hour + 12) % 24);
    snprintf(ini, sizeof ini, "%s/halld.ini", hall_dir);
    ts_write_file(ini, text);
    /* The hall secret ([privacy] secret's default place), as hallctl init writes it. */
    ts_write_file(ts_path(hall_dir, "secret.key"),
                  "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    ck_assert_msg(halld_conf_load(&conf, ini, err, sizeof err) == 0, "%s", err);
    /* After every cut the hall says it cannot rebuild from the store, as
     * it must: the test says what matters. */
    log_open("halld_powerloss", LOG_LEVEL_ERROR, 0);

    /* The hall as hallctl leaves it: catalog, windows, clerks, devices;
     * written straight through (crashvfs in PASS) and closed, so the
     * template is one file. */
    snprintf(template_db, sizeof template_db, "%s/template.db", hall_dir);
    store *s = store_open(template_db, HALL_ID, STORE_ADMIN, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    catalog *c = catalog_load(SAMPLE_DIR "/sample-catalog.json", CATALOG_AUTO, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_msg(store_replace_catalog(s, catalog_areas(c), catalog_area_count(c),
                                        catalog_matters(c), catalog_matter_count(c), 0) == 0,
                  "%s", store_errmsg(s));
    catalog_free(c);
    for (int w = 1; w <= WINDOWS; w++) {
        q_window win = {.no = (uint32_t)w, .type = QW_INTAKE, .state = QW_CLOSED};
        store_clerk clerk = {.active = true};

        snprintf(win.name, sizeof win.name, "%d号窗口", w);
        /* Every area at two windows at least. */
        for (size_t a = 0; a < NAREAS; a++)
            if ((a + (size_t)w) % 2 == 0 || a == (size_t)w % NAREAS) {
                snprintf(win.areas[win.nareas], sizeof win.areas[0], "%s", issue_areas[a]);
                win.weights[win.nareas++] = 1;
            }
        ck_assert_msg(store_save_window(s, &win) == 0, "%s", store_errmsg(s));
        snprintf(clerk.id, sizeof clerk.id, "clerk-%d", w);
        snprintf(clerk.name, sizeof clerk.name, "工作人员%d", w);
        ck_assert_msg(store_save_clerk(s, &clerk) == 0, "%s", store_errmsg(s));
    }
    for (int d = 0; d < NDEVICES; d++) {
        hall_device *dev = &devices[d];
        store_device sd = {.added_ms = clk_utc_ms()};

        memset(dev, 0, sizeof *dev);
        if (d < KIOSKS) {
            snprintf(dev->id, sizeof dev->id, "kiosk-%d", d + 1);
            dev->type = HALL__DEVICE_TYPE__DEVICE_KIOSK;
        } else {
            dev->window_no = (uint32_t)(d - KIOSKS + 1);
            snprintf(dev->id, sizeof dev->id, "window-%u", dev->window_no);
            dev->type = HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL;
        }
        memcpy(sd.id, dev->id, sizeof sd.id);
        sd.type = (int)dev->type;
        sd.window_no = dev->window_no;
        ck_assert_msg(store_save_device(s, &sd) == 0, "%s", store_errmsg(s));
    }
    store_close(s);
}

static void hall_fixture_free(void)
{
    halld_conf_release(&conf);
    ts_rmtree(hall_dir);
}

/* Pack env (its request id set here) as device dev's next request. */
static struct sent *queue_request(struct hall_run *r, int dev, Hall__Envelope *env)
{
    struct sent *s = &r->sent[r->nsent++];

    ck_assert_uint_le(r->nsent, MAX_SENT);
    memset(s, 0, sizeof *s);
    s->dev = dev;
    s->body = env->body_case;
    env->request_id = r->next_request_id++;
    s->req_len = hall__envelope__get_packed_size(env);
    s->req = malloc(s->req_len);
    ck_assert_ptr_nonnull(s->req);
    hall__envelope__pack(env, s->req);
    return s;
}

/* Run a packed request as the server does (unpacked from its frame) and
 * return its answer's payload (malloc'd, *len bytes). */
static uint8_t *run_request(hall *h, const hall_device *dev, const uint8_t *req, size_t req_len,
                            size_t *len)
{
    Hall__Envelope *env = proto_unpack(req, req_len);
    const uint8_t *payload;
    size_t used;
    buf out;

    ck_assert_ptr_nonnull(env);
    buf_init(&out, 1 << 20);
    hall_request(h, dev, env, &out);
    proto_free(env);
    ck_assert_int_eq(frame_next(buf_rdata(&out), buf_rlen(&out), FRAME_MAX, &payload, len, &used),
                     1);
    ck_assert_uint_eq(used, buf_rlen(&out)); /* one answer per request */
    uint8_t *copy = malloc(*len ? *len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, payload, *len);
    buf_release(&out);
    return copy;
}

static struct seen_ticket *seen(struct hall_run *r, uint64_t id)
{
    for (size_t i = 0; i < r->ntickets; i++)
        if (r->tickets[i].id == id)
            return &r->tickets[i];
    return NULL;
}

/* An answer showed ticket t: remember it, as far along as any answer. */
static void saw_ticket(struct hall_run *r, const Hall__Ticket *t)
{
    struct seen_ticket *k = seen(r, t->id);

    if (k == NULL) {
        ck_assert_uint_lt(r->ntickets, MAX_TICKETS);
        k = &r->tickets[r->ntickets++];
        k->id = t->id;
        snprintf(k->number, sizeof k->number, "%s", t->number);
        snprintf(k->area, sizeof k->area, "%s", t->area);
        k->day = t->business_day;
    }
    ck_assert_str_eq(k->number, t->number);
    ck_assert_str_eq(k->area, t->area);
    ck_assert_int_eq(k->day, t->business_day);
    if ((int)t->state > k->state)
        k->state = (int)t->state;
}

/* What a device learns from an answer to its own (first) request. */
static void learn(struct hall_run *r, const struct sent *s)
{
    Hall__Envelope *a = proto_unpack(s->answer, s->answer_len);
    const hall_device *dev = &devices[s->dev];

    ck_assert_ptr_nonnull(a);
    switch (a->body_case) {
    case HALL__ENVELOPE__BODY_ISSUE_REPLY:
        saw_ticket(r, a->issue_reply->ticket);
        r->to_print[s->dev][r->nto_print[s->dev]++] = a->issue_reply->ticket->id;
        break;
    case HALL__ENVELOPE__BODY_TICKET_REPLY:
        saw_ticket(r, a->ticket_reply->ticket);
        break;
    case HALL__ENVELOPE__BODY_WINDOW_REPLY: {
        const Hall__WindowReply *w = a->window_reply;
        uint32_t no = dev->window_no;

        r->signed_in[no] = w->state != HALL__WINDOW_STATE__WINDOW_CLOSED;
        r->current[no] = 0;
        if (w->ticket != NULL) {
            saw_ticket(r, w->ticket);
            if (w->ticket->state == HALL__TICKET_STATE__TICKET_CALLED ||
                w->ticket->state == HALL__TICKET_STATE__TICKET_SERVING) {
                r->current[no] = w->ticket->id;
                r->current_state[no] = (int)w->ticket->state;
            }
        }
        break;
    }
    case HALL__ENVELOPE__BODY_LEASE_GRANT: {
        const Hall__LeaseGrant *g = a->lease_grant;
        struct seen_lease *l = &r->leases[r->nleases++];

        ck_assert_uint_le(r->nleases, MAX_LEASES);
        l->kiosk = s->dev;
        snprintf(l->area, sizeof l->area, "%s", g->area);
        snprintf(l->prefix, sizeof l->prefix, "%s", g->prefix);
        l->first = g->first;
        l->count = g->count;
        l->used = 0;
        l->day = g->business_day;
        break;
    }
    case HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY:
        for (size_t i = 0; i < a->offline_upload_reply->n_tickets; i++)
            saw_ticket(r, a->offline_upload_reply->tickets[i]);
        break;
    case HALL__ENVELOPE__BODY_ERROR:
        break;
    default:
        ck_abort_msg("unexpected answer %s", proto_body_name(a->body_case));
    }
    proto_free(a);
}

/* The kiosk's lease for area with numbers left, or NULL. */
static struct seen_lease *lease_with_room(struct hall_run *r, int kiosk, const char *area)
{
    for (size_t i = r->nleases; i-- > 0;)
        if (r->leases[i].kiosk == kiosk && strcmp(r->leases[i].area, area) == 0)
            return r->leases[i].used < r->leases[i].count ? &r->leases[i] : NULL;
    return NULL;
}

static void send_issue(struct hall_run *r, int kiosk, unsigned area)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;

    m.area = wire_str(issue_areas[area]);
    m.matter = wire_str(issue_matters[area]);
    m.priority =
        area == 0 && kiosk == 1 ? HALL__PRIORITY__PRIORITY_GREEN : HALL__PRIORITY__PRIORITY_NORMAL;
    m.masked_name = wire_str("张*");
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    queue_request(r, kiosk, &env);
}

/* The turn's requests, chosen from what the devices were told. Each
 * device sends at most one request a turn, as a device waits for its
 * answer. */
static void choose_turn(struct hall_run *r, uint64_t *rng)
{
    bool busy[NDEVICES] = {false};
    int nreq = 1 + (int)rng_below(rng, TURN_MAX_REQ);

    for (int i = 0; i < nreq; i++) {
        Hall__Envelope env = HALL__ENVELOPE__INIT;
        unsigned pick = rng_below(rng, 100);
        int kiosk = (int)rng_below(rng, KIOSKS);
        uint32_t no = 1 + rng_below(rng, WINDOWS);
        int wdev = KIOSKS + (int)no - 1;

        for (uint32_t w = 1; w <= WINDOWS; w++)
            if (!r->signed_in[w] && !busy[KIOSKS + (int)w - 1]) {
                pick = 50; /* a terminal signs in first */
                no = w;
                wdev = KIOSKS + (int)w - 1;
                break;
            }
        if (pick >= 50 && pick < 85 && !busy[wdev]) {
            Hall__SignIn sign_in = HALL__SIGN_IN__INIT;
            Hall__CallNext call = HALL__CALL_NEXT__INIT;
            Hall__Start start = HALL__START__INIT;
            Hall__Finish finish = HALL__FINISH__INIT;
            char clerk[32];

            busy[wdev] = true;
            if (!r->signed_in[no]) {
                snprintf(clerk, sizeof clerk, "clerk-%u", no);
                sign_in.window_no = no;
                sign_in.clerk_id = clerk;
                env.body_case = HALL__ENVELOPE__BODY_SIGN_IN;
                env.sign_in = &sign_in;
            } else if (r->current[no] == 0) {
                call.window_no = no;
                env.body_case = HALL__ENVELOPE__BODY_CALL_NEXT;
                env.call_next = &call;
            } else if (r->current_state[no] == HALL__TICKET_STATE__TICKET_CALLED) {
                start.window_no = no;
                start.ticket_id = r->current[no];
                env.body_case = HALL__ENVELOPE__BODY_START;
                env.start = &start;
            } else {
                finish.window_no = no;
                finish.ticket_id = r->current[no];
                env.body_case = HALL__ENVELOPE__BODY_FINISH;
                env.finish = &finish;
            }
            queue_request(r, wdev, &env);
            continue;
        }
        if (busy[kiosk])
            continue;
        busy[kiosk] = true;
        if (pick >= 30 && pick < 50 && r->nto_print[kiosk] > 0) {
            Hall__Printed printed = HALL__PRINTED__INIT;

            printed.ticket_id = r->to_print[kiosk][0];
            memmove(&r->to_print[kiosk][0], &r->to_print[kiosk][1],
                    --r->nto_print[kiosk] * sizeof r->to_print[kiosk][0]);
            env.body_case = HALL__ENVELOPE__BODY_PRINTED;
            env.printed = &printed;
            queue_request(r, kiosk, &env);
        } else if (pick >= 85 && pick < 95) {
            const char *area = lease_areas[rng_below(rng, 2)];
            struct seen_lease *l = lease_with_room(r, kiosk, area);

            if (l == NULL) {
                Hall__LeaseRequest lease = HALL__LEASE_REQUEST__INIT;

                lease.area = wire_str(area);
                lease.wanted = 20;
                env.body_case = HALL__ENVELOPE__BODY_LEASE_REQUEST;
                env.lease_request = &lease;
                queue_request(r, kiosk, &env);
                continue;
            }
            /* Upload one to three numbers of the lease, as printed
             * while the link was down. */
            Hall__OfflineUpload up = HALL__OFFLINE_UPLOAD__INIT;
            Hall__OfflineTicket ot[3], *otp[3];
            char numbers[3][Q_NUMBER_MAX];
            size_t n = 1 + rng_below(rng, 3);

            for (size_t k = 0; k < n && l->used < l->count; k++) {
                hall__offline_ticket__init(&ot[k]);
                snprintf(numbers[k], sizeof numbers[k], "%s%03u", l->prefix, l->first + l->used);
                ot[k].area = l->area;
                ot[k].number = numbers[k];
                ot[k].seq = ++l->used;
                ot[k].issued_at_ms = clk_utc_ms();
                ot[k].matter = wire_str("A-DB");
                otp[k] = &ot[k];
                up.n_tickets = k + 1;
            }
            up.tickets = otp;
            env.body_case = HALL__ENVELOPE__BODY_OFFLINE_UPLOAD;
            env.offline_upload = &up;
            queue_request(r, kiosk, &env);
        } else if (pick >= 95 && r->nsent > 0) {
            /* A retry of an earlier request with its request id (a lost
             * answer, a new link). */
            const struct sent *old = &r->sent[rng_below(rng, (unsigned)r->nsent)];
            struct sent *s = &r->sent[r->nsent++];

            ck_assert_uint_le(r->nsent, MAX_SENT);
            memset(s, 0, sizeof *s);
            s->dev = old->dev;
            s->body = old->body;
            s->req_len = old->req_len;
            s->req = malloc(s->req_len);
            ck_assert_ptr_nonnull(s->req);
            memcpy(s->req, old->req, s->req_len);
        } else {
            send_issue(r, kiosk, rng_below(rng, NAREAS));
        }
    }
}

/* The first answer to the same device and request bytes, if answered. */
static const struct sent *first_answer(const struct hall_run *r, const struct sent *s)
{
    for (const struct sent *o = r->sent; o < s; o++)
        if (o->answered && o->dev == s->dev && o->req_len == s->req_len &&
            memcmp(o->req, s->req, s->req_len) == 0)
            return o;
    return NULL;
}

static bool is_refusal(const uint8_t *answer, size_t len, bool *kept)
{
    Hall__Envelope *a = proto_unpack(answer, len);
    bool refused;

    ck_assert_ptr_nonnull(a);
    refused = a->body_case == HALL__ENVELOPE__BODY_ERROR;
    /* Every answer is kept but "unavailable", which asks for a retry. */
    *kept = !refused || a->error->code != HALL__ERROR_CODE__ERR_UNAVAILABLE;
    proto_free(a);
    return refused;
}

/* One run: the hall from the template, turns until the workload ends or
 * the power is cut (a turn whose commit failed is never answered), then
 * everything freed as a dead process would leave it. */
static void hall_workload(struct hall_run *r, const char *db, uint64_t seed)
{
    char err[512];
    uint64_t rng = seed;
    store *s = store_open(db, HALL_ID, STORE_DAEMON, err, sizeof err);
    hall *h = s ? hall_new(&conf, s, err, sizeof err) : NULL;

    memset(r, 0, sizeof *r);
    r->next_request_id = 1000;
    for (int turn = 0; h != NULL && turn < TURNS && !crashvfs_is_cut(); turn++) {
        size_t first = r->nsent;

        if (turn % 8 == 0 && hall_tick(h) < 0)
            break;
        choose_turn(r, &rng);
        for (size_t i = first; i < r->nsent; i++) {
            struct sent *q = &r->sent[i];
            q->answer = run_request(h, &devices[q->dev], q->req, q->req_len, &q->answer_len);
        }
        if (hall_commit(h) != 0 || crashvfs_is_cut())
            break;
        r->turns++;
        for (size_t i = first; i < r->nsent; i++) {
            struct sent *q = &r->sent[i];
            const struct sent *o = first_answer(r, q);

            q->answered = true;
            q->refused = is_refusal(q->answer, q->answer_len, &q->kept);
            r->refusals += q->refused;
            if (o == NULL) {
                learn(r, q);
                continue;
            }
            /* A retry in the same life: the first answer, byte for byte. */
            ck_assert_msg(q->answer_len == o->answer_len &&
                              memcmp(q->answer, o->answer, q->answer_len) == 0,
                          "request %" PRIu64 " of %s retried: a different answer",
                          proto_request_id(q->req, q->req_len), devices[q->dev].id);
            q->answered = false; /* the first one is checked after the cut */
        }
    }
    hall_free(h);
    store_close(s);
}

static void hall_run_free(struct hall_run *r)
{
    for (size_t i = 0; i < r->nsent; i++) {
        free(r->sent[i].req);
        free(r->sent[i].answer);
    }
}

/* Ticket states as far along as the workload's paths go: RESERVED,
 * WAITING, CALLED, SERVING, DONE are the wire's and the store's 1..5. */
static void check_tickets(const struct hall_run *r, const char *db)
{
    sqlite3 *conn = open_raw(db);
    sqlite3_stmt *st;

    ck_assert_int_eq(
        sqlite3_prepare_v2(conn, "SELECT number, area, day, state FROM tickets WHERE id = ?1", -1,
                           &st, NULL),
        SQLITE_OK);
    for (size_t i = 0; i < r->ntickets; i++) {
        const struct seen_ticket *t = &r->tickets[i];

        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)t->id);
        ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "answered ticket %" PRIu64 " (%s) is lost",
                      t->id, t->number);
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), t->number);
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), t->area);
        ck_assert_int_eq(sqlite3_column_int(st, 2), t->day);
        int state = sqlite3_column_int(st, 3);
        ck_assert_msg(state >= t->state && state <= HALL__TICKET_STATE__TICKET_DONE,
                      "ticket %s answered in state %d is in state %d", t->number, t->state, state);
    }
    sqlite3_finalize(st);
    /* No display number twice in a day, no id twice. */
    ck_assert_int_eq(sql_long(conn, "SELECT count(*) FROM (SELECT 1 FROM tickets"
                                    " GROUP BY day, area, number HAVING count(*) > 1)"),
                     0);
    ck_assert_int_eq(sql_long(conn, "SELECT count(*) - count(DISTINCT id) FROM tickets"), 0);
    /* Windows and their tickets agree (as in halld_kill9_durability). */
    ck_assert_int_eq(sql_long(conn, "SELECT count(*) FROM tickets WHERE state = 2 AND window_no"
                                    " != 0"),
                     0);
    ck_assert_int_eq(sql_long(conn, "SELECT count(*) FROM tickets t WHERE t.state IN (3, 4) AND"
                                    " NOT EXISTS (SELECT 1 FROM windows w WHERE w.no = t.window_no"
                                    " AND w.current_ticket = t.id)"),
                     0);
    ck_assert_int_eq(sql_long(conn, "SELECT count(*) FROM windows w WHERE w.current_ticket != 0"
                                    " AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id ="
                                    " w.current_ticket AND t.state IN (3, 4) AND t.window_no ="
                                    " w.no)"),
                     0);
    sqlite3_close(conn);
}

/* After the cut, as a restarted halld: the chain verifies, the hall
 * rebuilds, answered requests get their first answers, and what is
 * issued and leased now reuses no answered number. */
static void check_restart(struct hall_run *r, const char *db)
{
    char err[512];
    uint64_t count;
    store *s = store_open(db, HALL_ID, STORE_DAEMON, err, sizeof err);

    ck_assert_msg(s != NULL, "reopen after the cut: %s", err);
    ck_assert_msg(store_verify_events(s, &count) == 0, "audit chain: %s", store_errmsg(s));
    hall *h = hall_new(&conf, s, err, sizeof err);
    ck_assert_msg(h != NULL, "hall_new after the cut: %s", err);

    /* Every kept answer, refusals included (kept durably like the rest),
     * comes back byte for byte. */
    for (size_t i = 0; i < r->nsent; i++) {
        const struct sent *q = &r->sent[i];
        size_t len;

        if (!q->answered || !q->kept)
            continue;
        uint8_t *again = run_request(h, &devices[q->dev], q->req, q->req_len, &len);
        ck_assert_msg(len == q->answer_len && memcmp(again, q->answer, len) == 0,
                      "request %" PRIu64 " of %s (%s) retried after the cut: a different answer",
                      proto_request_id(q->req, q->req_len), devices[q->dev].id,
                      proto_body_name(q->body));
        free(again);
    }
    ck_assert_int_eq(hall_commit(h), 0);

    /* A kiosk after the restart: one ticket per area, one lease per lease
     * area. */
    hall_device after = {.id = "kiosk-after", .type = HALL__DEVICE_TYPE__DEVICE_KIOSK};
    uint64_t id = 900000;
    uint8_t *answers[NAREAS + 2];
    size_t lens[NAREAS + 2];
    for (size_t a = 0; a < NAREAS + 2; a++) {
        Hall__Envelope env = HALL__ENVELOPE__INIT;
        Hall__IssueRequest issue = HALL__ISSUE_REQUEST__INIT;
        Hall__LeaseRequest lease = HALL__LEASE_REQUEST__INIT;
        uint8_t packed[256];

        env.request_id = id++;
        if (a < NAREAS) {
            issue.area = wire_str(issue_areas[a]);
            env.body_case = HALL__ENVELOPE__BODY_ISSUE;
            env.issue = &issue;
        } else {
            lease.area = wire_str(lease_areas[a - NAREAS]);
            env.body_case = HALL__ENVELOPE__BODY_LEASE_REQUEST;
            env.lease_request = &lease;
        }
        ck_assert_uint_le(hall__envelope__get_packed_size(&env), sizeof packed);
        size_t n = hall__envelope__pack(&env, packed);
        answers[a] = run_request(h, &after, packed, n, &lens[a]);
    }
    ck_assert_int_eq(hall_commit(h), 0);
    for (size_t a = 0; a < NAREAS + 2; a++) {
        Hall__Envelope *ans = proto_unpack(answers[a], lens[a]);

        ck_assert_ptr_nonnull(ans);
        if (a < NAREAS) {
            ck_assert_int_eq(ans->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
            const Hall__Ticket *t = ans->issue_reply->ticket;
            for (size_t i = 0; i < r->ntickets; i++) {
                const struct seen_ticket *k = &r->tickets[i];
                ck_assert_msg(k->id != t->id, "ticket id %" PRIu64 " issued again", t->id);
                ck_assert_msg(k->day != t->business_day || strcmp(k->area, t->area) != 0 ||
                                  strcmp(k->number, t->number) != 0,
                              "number %s issued again", t->number);
            }
        } else {
            ck_assert_msg(ans->body_case == HALL__ENVELOPE__BODY_LEASE_GRANT,
                          "lease after the cut: %s", proto_body_name(ans->body_case));
            const Hall__LeaseGrant *g = ans->lease_grant;
            for (size_t i = 0; i < r->nleases; i++) {
                const struct seen_lease *l = &r->leases[i];
                ck_assert_msg(l->day != g->business_day || strcmp(l->area, g->area) != 0 ||
                                  g->first >= l->first + l->count ||
                                  l->first >= g->first + g->count,
                              "lease %s %u+%u overlaps answered lease %u+%u", g->area, g->first,
                              g->count, l->first, l->count);
            }
        }
        proto_free(ans);
        free(answers[a]);
    }
    hall_free(h);
    store_close(s);
}

static void hall_one_cut(int i, uint64_t cut, crashvfs_loss loss, uint64_t seed, struct hall_run *r,
                         uint64_t *answered)
{
    char dir[PATH_MAX], db[PATH_MAX + 16];

    snprintf(dir, sizeof dir, "%s/cut-%d", hall_dir, i);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(db, sizeof db, "%s/hall.db", dir);
    copy_file(template_db, db);
    ck_assert_int_eq(crashvfs_arm(cut, loss, seed ^ cut), 0);
    hall_workload(r, db, seed);
    power_cut();
    integrity_ok(db);
    check_tickets(r, db);
    check_restart(r, db);
    for (size_t k = 0; k < r->nsent; k++)
        *answered += r->sent[k].answered;
    hall_run_free(r);
    ts_rmtree(dir);
}

START_TEST(halld_loses_nothing_answered)
{
    static struct hall_run run;
    uint64_t seed = test_seed("halld");
    uint64_t rng = seed ^ 0x5eed, answered = 0;
    crashvfs_counters n;

    ck_assert_int_eq(crashvfs_register(), 0);
    hall_fixture();

    /* The dry run: how many operations the whole workload makes. */
    char db[PATH_MAX + 16];
    snprintf(db, sizeof db, "%s/dry.db", hall_dir);
    copy_file(template_db, db);
    ck_assert_int_eq(crashvfs_arm(0, CRASHVFS_LOSE_ALL, 0), 0);
    hall_workload(&run, db, seed);
    crashvfs_counters_get(&n);
    power_cut();
    fprintf(stderr,
            "halld: %d turns, %zu requests (%zu refused), %zu tickets, %zu leases; %" PRIu64
            " operations, %" PRIu64 " syncs\n",
            run.turns, run.nsent, run.refusals, run.ntickets, run.nleases, n.ops, n.syncs);
    ck_assert_int_eq(run.turns, TURNS);
    ck_assert_uint_gt(run.nleases, 0);
    hall_run_free(&run);

    for (int i = 0; i < HALL_CUTS; i++)
        hall_one_cut(i, cut_point(&rng, n.ops, i, HALL_CUTS),
                     i % 2 ? CRASHVFS_LOSE_SOME : CRASHVFS_LOSE_ALL, seed, &run, &answered);
    fprintf(stderr, "halld: %d cut points, %" PRIu64 " answers checked after them\n", HALL_CUTS,
            answered);
    ck_assert_int_ge(HALL_CUTS, MIN_CUTS);
    hall_fixture_free();
}
END_TEST

/* ---- kioskd's store ------------------------------------------------------- */

#define KIOSK_STEPS   300
#define KIOSK_TAKES   (KIOSK_STEPS + 1)
#define KIOSK_TICKETS 64

/* What kstore answered, and the call that was under way at the cut. */
struct taken {
    char area[KSTORE_AREA_MAX];
    char number[KSTORE_NUMBER_MAX];
    int64_t id;
    kstore_offline_state state, in_flight; /* in_flight: a set under way, else state */
};

struct online {
    bool present, in_flight_present;
    kstore_ticket_state state, in_flight_state;
    bool touched;
};

struct kiosk_run {
    struct taken taken[KIOSK_TAKES];
    size_t ntaken;
    struct online online[KIOSK_TICKETS];
    uint64_t max_request_id;
    uint32_t leases[2]; /* leases put per area */
    int steps;          /* steps done before the cut */
};

static const char *const kiosk_areas[] = {"intake", "tax"};
static const char *const kiosk_prefixes[] = {"A", "T"};

static void kiosk_workload(struct kiosk_run *r, const char *path, uint64_t seed)
{
    char err[512];
    uint64_t rng = seed;
    kstore *s = kstore_open(path, err, sizeof err);

    memset(r, 0, sizeof *r);
    for (; s != NULL && r->steps < KIOSK_STEPS; r->steps++) {
        unsigned pick = rng_below(&rng, 100), a = rng_below(&rng, 2);
        int rc;

        if (pick < 20) {
            uint64_t id = kstore_next_request_id(s);
            if (id == 0 || crashvfs_is_cut())
                break;
            ck_assert_uint_gt(id, r->max_request_id);
            r->max_request_id = id;
        } else if (pick < 27) {
            /* A fresh grant: a range of its own (halld never grants one
             * twice). */
            kstore_lease l = {.first = 1 + 20 * r->leases[a],
                              .count = 20,
                              .expires_ms = clk_utc_ms() + 3600 * 1000};
            snprintf(l.area, sizeof l.area, "%s", kiosk_areas[a]);
            snprintf(l.prefix, sizeof l.prefix, "%s", kiosk_prefixes[a]);
            l.day = 20240101;
            if (kstore_lease_put(s, &l) < 0 || crashvfs_is_cut())
                break;
            r->leases[a]++;
        } else if (pick < 60) {
            kstore_offline o;
            rc = kstore_offline_take(s, kiosk_areas[a], NULL, clk_utc_ms(), 0, NULL, "李*", &o);
            if (rc < 0 && (errno == ENOENT || errno == ENOSPC) && !crashvfs_is_cut())
                continue;
            if (rc < 0 || crashvfs_is_cut())
                break;
            struct taken *t = &r->taken[r->ntaken++];
            snprintf(t->area, sizeof t->area, "%s", o.area);
            snprintf(t->number, sizeof t->number, "%s", o.number);
            t->id = o.id;
            t->state = t->in_flight = KSTORE_OFF_ISSUED;
        } else if (pick < 75) {
            struct taken *t = NULL;
            for (size_t i = 0; i < r->ntaken && t == NULL; i++)
                if (r->taken[i].state == KSTORE_OFF_ISSUED)
                    t = &r->taken[i];
            if (t == NULL)
                continue;
            t->in_flight = pick % 4 ? KSTORE_OFF_PRINTED : KSTORE_OFF_VOID;
            if (kstore_offline_set(s, t->id, t->in_flight) < 0 || crashvfs_is_cut())
                break;
            t->state = t->in_flight;
        } else {
            unsigned k = rng_below(&rng, KIOSK_TICKETS);
            struct online *o = &r->online[k];
            char number[16];

            o->touched = true;
            snprintf(number, sizeof number, "A%03u", k + 1);
            if (pick < 90 || !o->present) {
                o->in_flight_present = true;
                o->in_flight_state = !o->present ? KSTORE_TK_PRINTING
                                     : pick % 2  ? KSTORE_TK_PRINTED
                                                 : KSTORE_TK_VOID;
                rc = kstore_ticket_put(s, 1000 + k, number, o->in_flight_state,
                                       o->in_flight_state == KSTORE_TK_VOID ? "paper out" : "",
                                       o->in_flight_state == KSTORE_TK_PRINTING ? 0 : 5000 + k);
            } else {
                o->in_flight_present = false;
                rc = kstore_ticket_done(s, 1000 + k);
            }
            if (rc < 0 || crashvfs_is_cut())
                break;
            o->present = o->in_flight_present;
            o->state = o->in_flight_state;
        }
    }
    kstore_close(s);
}

static void kiosk_check(struct kiosk_run *r, const char *path)
{
    char err[512];

    integrity_ok(path);
    kstore *s = kstore_open(path, err, sizeof err);
    ck_assert_msg(s != NULL, "reopen after the cut: %s", err);
    ck_assert_uint_gt(kstore_next_request_id(s), r->max_request_id);

    sqlite3 *db = open_raw(path);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT count(*), max(state), max(id) FROM offline"
                                        " WHERE area = ?1 AND number = ?2",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (size_t i = 0; i < r->ntaken; i++) {
        const struct taken *t = &r->taken[i];

        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, t->area, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, t->number, -1, SQLITE_STATIC);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_msg(sqlite3_column_int(st, 0) == 1, "offline %s taken, %d rows after the cut",
                      t->number, sqlite3_column_int(st, 0));
        int state = sqlite3_column_int(st, 1);
        ck_assert_msg(state == (int)t->state || state == (int)t->in_flight,
                      "offline %s answered in state %d is in state %d", t->number, t->state, state);
        ck_assert_int_eq(sqlite3_column_int64(st, 2), t->id);
    }
    sqlite3_finalize(st);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT state FROM tickets WHERE ticket_id = ?1", -1, &st, NULL),
        SQLITE_OK);
    for (unsigned k = 0; k < KIOSK_TICKETS; k++) {
        const struct online *o = &r->online[k];

        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, 1000 + k);
        bool present = sqlite3_step(st) == SQLITE_ROW;
        int state = present ? sqlite3_column_int(st, 0) : -1;
        bool as_answered = present == o->present && (!present || state == (int)o->state);
        bool as_in_flight =
            present == o->in_flight_present && (!present || state == (int)o->in_flight_state);
        ck_assert_msg(as_answered || (o->touched && as_in_flight),
                      "online ticket %u: %s (state %d) after the cut", 1000 + k,
                      present ? "present" : "absent", state);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* A number taken now was never handed out before. */
    for (unsigned a = 0; a < 2; a++) {
        kstore_offline o;
        if (kstore_offline_take(s, kiosk_areas[a], NULL, clk_utc_ms(), 0, NULL, "", &o) < 0) {
            ck_assert_msg(errno == ENOENT || errno == ENOSPC, "take after the cut: %s",
                          kstore_errmsg(s));
            continue;
        }
        for (size_t i = 0; i < r->ntaken; i++)
            ck_assert_msg(strcmp(r->taken[i].area, o.area) != 0 ||
                              strcmp(r->taken[i].number, o.number) != 0,
                          "offline number %s handed out again", o.number);
    }
    kstore_close(s);
}

START_TEST(kioskd_store_loses_nothing_answered)
{
    static struct kiosk_run run;
    uint64_t seed = test_seed("kstore");
    uint64_t rng = seed ^ 0x5eed;
    char *dir = ts_tmpdir("kpowerloss");
    char path[PATH_MAX];
    crashvfs_counters n;
    size_t taken = 0;

    ck_assert_int_eq(crashvfs_register(), 0);
    snprintf(path, sizeof path, "%s/dry.db", dir);
    ck_assert_int_eq(crashvfs_arm(0, CRASHVFS_LOSE_ALL, 0), 0);
    kiosk_workload(&run, path, seed);
    crashvfs_counters_get(&n);
    power_cut();
    fprintf(stderr,
            "kstore: %d steps, %zu numbers taken; %" PRIu64 " operations, %" PRIu64 " syncs\n",
            run.steps, run.ntaken, n.ops, n.syncs);
    ck_assert_int_eq(run.steps, KIOSK_STEPS);
    ck_assert_uint_gt(run.ntaken, 20);
    kiosk_check(&run, path);

    for (int i = 0; i < KIOSK_CUTS; i++) {
        uint64_t cut = cut_point(&rng, n.ops, i, KIOSK_CUTS);

        snprintf(path, sizeof path, "%s/cut-%d.db", dir, i);
        ck_assert_int_eq(
            crashvfs_arm(cut, i % 2 ? CRASHVFS_LOSE_SOME : CRASHVFS_LOSE_ALL, seed ^ cut), 0);
        kiosk_workload(&run, path, seed);
        power_cut();
        kiosk_check(&run, path);
        taken += run.ntaken;
    }
    fprintf(stderr, "kstore: %d cut points, %zu taken numbers checked after them\n", KIOSK_CUTS,
            taken);
    ck_assert_int_ge(KIOSK_CUTS, MIN_CUTS);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("halld_powerloss");
    TCase *vfs = tcase_create("crashvfs");
    TCase *halld = tcase_create("halld");
    TCase *kiosk = tcase_create("kioskd store");
    SRunner *sr;
    int failed;

    tcase_set_timeout(vfs, 300);
    tcase_add_loop_test(vfs, vfs_every_cut, 0, 3);
    tcase_add_test(vfs, vfs_catches_missing_sync);
    tcase_add_test(vfs, vfs_injected_faults);
    suite_add_tcase(s, vfs);
    tcase_set_timeout(halld, 1200);
    tcase_add_test(halld, halld_loses_nothing_answered);
    suite_add_tcase(s, halld);
    tcase_set_timeout(kiosk, 600);
    tcase_add_test(kiosk, kioskd_store_loses_nothing_answered);
    suite_add_tcase(s, kiosk);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
