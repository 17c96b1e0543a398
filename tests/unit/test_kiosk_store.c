/*
 * test_kiosk_store — the kiosk's durable store (firmware/kiosk/kstore): a
 * file of the first release (no layout version) migrated with its rows
 * kept and the hashes of ID numbers it held gone from every byte of the
 * file, a file of a newer layout refused; a sealed ID number kept as it
 * was given; the clock offset kept; offline
 * tickets settled per ticket (joined, refused for good with the reason,
 * the others left to send again) and a refused one never sent again; the
 * refusals shown (count, first numbers, the time window); online
 * confirmations with their request ids, a refused one kept apart; pruning
 * the finished rows and only those; the file and its -wal private to
 * the kiosk's user (0600), and a file left readable by others tightened
 * and reported.
 */
#include <check.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kstore.h"
#include "testsupport.h"

#define DAY_MS (24 * 3600 * 1000LL)
#define T0     1796000000000LL /* a UTC ms on halld's clock */

static void sql(const char *path, const char *text)
{
    sqlite3 *db;
    char *msg = NULL;

    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, text, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", text, msg);
    sqlite3_close(db);
}

static long long sql_int(const char *path, const char *text)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;

    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, text, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Does the file at path (if it exists) hold needle (len bytes)? */
static bool file_has(const char *path, const void *needle, size_t len)
{
    FILE *f = fopen(path, "rb");
    long size = 0;
    bool found = false;

    if (f == NULL)
        return false;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    if (size > 0) {
        char *data = malloc((size_t)size);
        ck_assert_ptr_nonnull(data);
        ck_assert_uint_eq(fread(data, 1, (size_t)size, f), (size_t)size);
        found = memmem(data, (size_t)size, needle, len) != NULL;
        free(data);
    }
    fclose(f);
    return found;
}

static kstore *open_store(const char *path)
{
    char err[256];
    kstore *s = kstore_open(path, err, sizeof err);

    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

static void lease(kstore *s, uint32_t count)
{
    kstore_lease l = {.first = 900, .count = count, .day = 20261207, .expires_ms = T0 + DAY_MS};

    snprintf(l.area, sizeof l.area, "intake");
    snprintf(l.prefix, sizeof l.prefix, "A");
    ck_assert_int_eq(kstore_lease_put(s, &l), 0);
}

/* A printed offline ticket issued at now. */
static int64_t printed(kstore *s, int64_t now, char *number)
{
    kstore_offline o;

    ck_assert_int_eq(kstore_offline_take(s, "intake", NULL, now, 0, NULL, "", &o), 0);
    ck_assert_int_eq(kstore_offline_set(s, o.id, KSTORE_OFF_PRINTED), 0);
    if (number != NULL)
        strcpy(number, o.number);
    return o.id;
}

static int collect(void *arg, const kstore_ticket *t)
{
    kstore_ticket *out = arg;

    for (; out->ticket_id != 0; out++)
        ;
    *out = *t;
    return 0;
}

START_TEST(test_migrates_first_release)
{
    char *dir = ts_tmpdir("kstore");
    const char *path = ts_path(dir, "kiosk.db");

    /* The layout of the first release, with one row of each kind. */
    sql(path,
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "CREATE TABLE leases(area TEXT PRIMARY KEY, prefix TEXT NOT NULL,"
        " first INTEGER NOT NULL, count INTEGER NOT NULL, used INTEGER NOT NULL,"
        " day INTEGER NOT NULL, expires_ms INTEGER NOT NULL);"
        "CREATE TABLE offline(id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " area TEXT NOT NULL, number TEXT NOT NULL, seq INTEGER NOT NULL,"
        " issued_ms INTEGER NOT NULL, priority INTEGER NOT NULL, hash BLOB,"
        " masked_name TEXT NOT NULL, state INTEGER NOT NULL, UNIQUE(area, number, issued_ms));"
        "CREATE TABLE tickets(ticket_id INTEGER PRIMARY KEY, number TEXT NOT NULL,"
        " state INTEGER NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL);"
        "INSERT INTO meta VALUES('request_id', 5000000000000000);"
        "INSERT INTO leases VALUES('intake', 'A', 900, 20, 1, 20261207, 1796086400000);"
        "INSERT INTO offline(area, number, seq, issued_ms, priority, masked_name, state)"
        " VALUES('intake', 'A900', 1, 1796000000000, 0, '', 1);"
        /* A ticket by card: that release kept the hash of the ID number. */
        "INSERT INTO offline(area, number, seq, issued_ms, priority, hash, masked_name, state)"
        " VALUES('intake', 'A901', 2, 1796000000001, 0,"
        " x'5a17c0de5a17c0de5a17c0de5a17c0de5a17c0de5a17c0de5a17c0de5a17c0de', '张*', 1);"
        "INSERT INTO tickets VALUES(42, 'A007', 1, '', 1796000000000);");
    ck_assert_int_eq(sql_int(path, "PRAGMA user_version"), 0);
    static const char hash[] = "\x5a\x17\xc0\xde\x5a\x17\xc0\xde\x5a\x17\xc0\xde\x5a\x17\xc0\xde";
    ck_assert(file_has(path, hash, 16)); /* the scan below is not vacuous */

    kstore *s = open_store(path);
    ck_assert_int_eq(sql_int(path, "PRAGMA user_version"), 4);
    /* The hash is gone from the file and its log, not only from the
     * table; the ticket itself is kept (it joins without it). */
    ck_assert(!file_has(path, hash, 16));
    ck_assert(!file_has(ts_path(dir, "kiosk.db-wal"), hash, 16));
    /* The rows are all there, and go on as before. */
    ck_assert_uint_ge(kstore_next_request_id(s), 5000000000000000u);
    ck_assert_int_eq(kstore_lease_left(s, "intake", T0), 19);
    kstore_offline o[4];
    ck_assert_int_eq(kstore_offline_pending(s, o, 4), 2);
    ck_assert_str_eq(o[0].number, "A900");
    ck_assert_str_eq(o[1].number, "A901");
    ck_assert_str_eq(o[1].masked_name, "张*");
    ck_assert(!o[1].has_sealed);
    ck_assert_str_eq(o[1].matter, ""); /* tickets of before the matter column */
    kstore_ticket t[4] = {0};
    ck_assert_int_eq(kstore_ticket_each(s, collect, t), 1);
    ck_assert_uint_eq(t[0].ticket_id, 42);
    ck_assert_str_eq(t[0].number, "A007");
    ck_assert_int_eq(t[0].state, KSTORE_TK_PRINTED);
    ck_assert_uint_eq(t[0].request_id, 0);
    const kstore_offline_result r = {o[0].id, KSTORE_OFF_UPLOADED, ""};
    ck_assert_int_eq(kstore_offline_settle(s, &r, 1, T0), 0);
    ck_assert_int_eq(kstore_offline_count(s, KSTORE_OFF_UPLOADED), 1);
    kstore_close(s);

    /* Opening again changes nothing. */
    s = open_store(path);
    ck_assert_int_eq(sql_int(path, "PRAGMA user_version"), 4);
    ck_assert_int_eq(kstore_offline_count(s, KSTORE_OFF_UPLOADED), 1);
    kstore_close(s);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_sealed_number_kept)
{
    char *dir = ts_tmpdir("kstore");
    const char *path = ts_path(dir, "kiosk.db");
    kstore *s = open_store(path);
    uint8_t sealed[SEAL_LEN];
    kstore_offline o, got[2];

    for (size_t i = 0; i < sizeof sealed; i++)
        sealed[i] = (uint8_t)(i * 37 + 11);
    lease(s, 20);
    /* The card's ticket for a matter: the matter goes up with it. */
    ck_assert_int_eq(kstore_offline_take(s, "intake", "S-SBK", T0, 0, sealed, "张*", &o), 0);
    ck_assert(o.has_sealed);
    ck_assert_int_eq(kstore_offline_set(s, o.id, KSTORE_OFF_PRINTED), 0);
    printed(s, T0 + 1, NULL); /* and one without a card */
    ck_assert_int_eq(kstore_offline_pending(s, got, 2), 2);
    ck_assert(got[0].has_sealed);
    ck_assert_mem_eq(got[0].sealed, sealed, SEAL_LEN);
    ck_assert_str_eq(got[0].masked_name, "张*");
    ck_assert_str_eq(got[0].matter, "S-SBK");
    ck_assert(!got[1].has_sealed);
    ck_assert_str_eq(got[1].matter, "");
    /* Settled, the envelope is erased: halld has had it. */
    const kstore_offline_result r = {got[0].id, KSTORE_OFF_UPLOADED, ""};
    ck_assert_int_eq(kstore_offline_settle(s, &r, 1, T0), 0);
    kstore_close(s);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM offline WHERE sealed IS NOT NULL"), 0);
    ck_assert(!file_has(path, sealed, SEAL_LEN));
    ck_assert(!file_has(ts_path(dir, "kiosk.db-wal"), sealed, SEAL_LEN));
    ts_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_refuses_newer_layout)
{
    char *dir = ts_tmpdir("kstore");
    const char *path = ts_path(dir, "kiosk.db");
    char err[256];

    kstore_close(open_store(path));
    sql(path, "PRAGMA user_version = 99");
    ck_assert_ptr_null(kstore_open(path, err, sizeof err));
    ck_assert_msg(strstr(err, "newer") != NULL && strstr(err, "kiosk.db") != NULL, "%s", err);
    ck_assert_int_eq(sql_int(path, "PRAGMA user_version"), 99);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_clock_offset)
{
    char *dir = ts_tmpdir("kstore");
    const char *path = ts_path(dir, "kiosk.db");
    kstore *s = open_store(path);
    int64_t off = 7;

    ck_assert_int_eq(kstore_clock_offset(s, &off), 0);
    ck_assert_int_eq(off, 7);
    ck_assert_int_eq(kstore_clock_offset_put(s, -300123), 0);
    kstore_close(s);
    s = open_store(path);
    ck_assert_int_eq(kstore_clock_offset(s, &off), 1);
    ck_assert_int_eq(off, -300123);
    ck_assert_int_eq(kstore_clock_offset_put(s, 42), 0);
    ck_assert_int_eq(kstore_clock_offset(s, &off), 1);
    ck_assert_int_eq(off, 42);
    kstore_close(s);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_offline_settled_per_ticket)
{
    char *dir = ts_tmpdir("kstore");
    kstore *s = open_store(ts_path(dir, "kiosk.db"));
    char num[4][KSTORE_NUMBER_MAX], numbers[64];
    int64_t id[4];
    kstore_offline o[8];

    lease(s, 20);
    for (int i = 0; i < 4; i++)
        id[i] = printed(s, T0 + i, num[i]);
    /* One joins, one is refused for good, two are not taken now. */
    const kstore_offline_result r[] = {
        {id[0], KSTORE_OFF_REFUSED, "ERR_FORBIDDEN: A900 was not leased to kiosk-01"},
        {id[2], KSTORE_OFF_UPLOADED, ""},
    };
    ck_assert_int_eq(kstore_offline_settle(s, r, 2, T0 + 10), 0);
    ck_assert_int_eq(kstore_offline_count(s, KSTORE_OFF_REFUSED), 1);
    ck_assert_int_eq(kstore_offline_count(s, KSTORE_OFF_UPLOADED), 1);
    /* The next upload: the two left, in order; the refused one never. */
    ck_assert_int_eq(kstore_offline_pending(s, o, 8), 2);
    ck_assert_str_eq(o[0].number, num[1]);
    ck_assert_str_eq(o[1].number, num[3]);
    ck_assert_int_eq(kstore_offline_refusals(s, T0, numbers, sizeof numbers), 1);
    ck_assert_str_eq(numbers, "A900");
    /* Settling is for PRINTED tickets only: a refused one stays refused. */
    const kstore_offline_result again = {id[0], KSTORE_OFF_UPLOADED, ""};
    ck_assert_int_eq(kstore_offline_settle(s, &again, 1, T0 + 20), 0);
    ck_assert_int_eq(kstore_offline_count(s, KSTORE_OFF_REFUSED), 1);
    /* Refusals before since are not shown. */
    ck_assert_int_eq(kstore_offline_refusals(s, T0 + 11, numbers, sizeof numbers), 0);
    ck_assert_str_eq(numbers, "");
    kstore_close(s);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_refusal_numbers_cut)
{
    char *dir = ts_tmpdir("kstore");
    kstore *s = open_store(ts_path(dir, "kiosk.db"));
    kstore_offline_result r[12];
    char numbers[16];

    lease(s, 20);
    for (int i = 0; i < 12; i++)
        r[i] = (kstore_offline_result){printed(s, T0 + i, NULL), KSTORE_OFF_REFUSED, "why"};
    ck_assert_int_eq(kstore_offline_settle(s, r, 12, T0 + 100), 0);
    /* Every refusal counted; the numbers that fit, whole, in order. */
    ck_assert_int_eq(kstore_offline_refusals(s, T0, numbers, sizeof numbers), 12);
    ck_assert_str_eq(numbers, "A900 A901 A902");
    ck_assert_int_eq(kstore_offline_refusals(s, T0, numbers, 5), 12);
    ck_assert_str_eq(numbers, "A900");
    ck_assert_int_eq(kstore_offline_refusals(s, T0, numbers, 4), 12);
    ck_assert_str_eq(numbers, "");
    kstore_close(s);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_online_confirmations)
{
    char *dir = ts_tmpdir("kstore");
    const char *path = ts_path(dir, "kiosk.db");
    kstore *s = open_store(path);
    char numbers[64];

    ck_assert_int_eq(kstore_ticket_put(s, 1, "A001", KSTORE_TK_PRINTING, "", 0), 0);
    ck_assert_int_eq(kstore_ticket_put(s, 2, "A002", KSTORE_TK_VOID, "paper out", 77), 0);
    ck_assert_int_eq(kstore_ticket_put(s, 3, "A003", KSTORE_TK_PRINTED, "", 78), 0);
    /* A PRINTING ticket printed: moved, under its request id. */
    ck_assert_int_eq(kstore_ticket_put(s, 1, "A001", KSTORE_TK_PRINTED, "", 79), 0);
    ck_assert_int_eq(kstore_ticket_refuse(s, 3, "ERR_NOT_FOUND: no ticket 3", T0), 0);
    kstore_close(s);

    s = open_store(path);
    kstore_ticket t[4] = {0};
    ck_assert_int_eq(kstore_ticket_each(s, collect, t), 2);
    ck_assert_uint_eq(t[0].ticket_id, 1);
    ck_assert_int_eq(t[0].state, KSTORE_TK_PRINTED);
    ck_assert_uint_eq(t[0].request_id, 79);
    ck_assert_uint_eq(t[1].ticket_id, 2);
    ck_assert_int_eq(t[1].state, KSTORE_TK_VOID);
    ck_assert_str_eq(t[1].reason, "paper out");
    ck_assert_uint_eq(t[1].request_id, 77);
    ck_assert_int_eq(kstore_ticket_refusals(s, T0, numbers, sizeof numbers), 1);
    ck_assert_str_eq(numbers, "A003");
    ck_assert_int_eq(kstore_ticket_refusals(s, T0 + 1, numbers, sizeof numbers), 0);
    ck_assert_int_eq(kstore_ticket_done(s, 1), 0);
    ck_assert_int_eq(kstore_ticket_done(s, 2), 0);
    memset(t, 0, sizeof t);
    ck_assert_int_eq(kstore_ticket_each(s, collect, t), 0);
    kstore_close(s);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_prune)
{
    char *dir = ts_tmpdir("kstore");
    const char *path = ts_path(dir, "kiosk.db");
    kstore *s = open_store(path);
    kstore_offline o;
    int64_t old = T0 - 10 * DAY_MS, cut = T0 - 7 * DAY_MS;

    lease(s, 20);
    /* Old and finished: uploaded, void, refused long ago. */
    const kstore_offline_result done[] = {
        {printed(s, old, NULL), KSTORE_OFF_UPLOADED, ""},
        {printed(s, old + 1, NULL), KSTORE_OFF_REFUSED, "why"},
    };
    ck_assert_int_eq(kstore_offline_settle(s, done, 2, old + 10), 0);
    ck_assert_int_eq(kstore_offline_take(s, "intake", NULL, old + 2, 0, NULL, "", &o), 0);
    ck_assert_int_eq(kstore_offline_set(s, o.id, KSTORE_OFF_VOID), 0);
    /* Old but not finished: never pruned. */
    printed(s, old + 3, NULL);
    /* Issued long ago, refused only now: kept to be shown. */
    const kstore_offline_result late = {printed(s, old + 4, NULL), KSTORE_OFF_REFUSED, "why"};
    ck_assert_int_eq(kstore_offline_settle(s, &late, 1, T0), 0);
    /* Recent and finished. */
    const kstore_offline_result recent = {printed(s, T0, NULL), KSTORE_OFF_UPLOADED, ""};
    ck_assert_int_eq(kstore_offline_settle(s, &recent, 1, T0), 0);
    /* Online: a refusal long ago, one now, one awaiting halld. */
    ck_assert_int_eq(kstore_ticket_put(s, 1, "A001", KSTORE_TK_PRINTED, "", 5), 0);
    ck_assert_int_eq(kstore_ticket_put(s, 2, "A002", KSTORE_TK_PRINTED, "", 6), 0);
    ck_assert_int_eq(kstore_ticket_put(s, 3, "A003", KSTORE_TK_PRINTED, "", 7), 0);
    ck_assert_int_eq(kstore_ticket_refuse(s, 1, "why", old), 0);
    ck_assert_int_eq(kstore_ticket_refuse(s, 2, "why", T0), 0);
    /* A lease that expired long ago. */
    kstore_lease l = {.first = 900, .count = 5, .day = 20261120, .expires_ms = old};
    snprintf(l.area, sizeof l.area, "tax");
    snprintf(l.prefix, sizeof l.prefix, "T");
    ck_assert_int_eq(kstore_lease_put(s, &l), 0);

    ck_assert_int_eq(kstore_prune(s, cut), 5);
    ck_assert_int_eq(kstore_offline_count(s, KSTORE_OFF_PRINTED), 1);
    ck_assert_int_eq(kstore_offline_count(s, KSTORE_OFF_VOID), 0);
    ck_assert_int_eq(kstore_offline_count(s, KSTORE_OFF_REFUSED), 1);
    ck_assert_int_eq(kstore_offline_count(s, KSTORE_OFF_UPLOADED), 1);
    ck_assert_int_eq(kstore_lease_get(s, "tax", &l), 0);
    ck_assert_int_eq(kstore_lease_get(s, "intake", &l), 1);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM tickets"), 2);
    ck_assert_int_eq(kstore_prune(s, cut), 0);
    kstore_close(s);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

static long mode_of(const char *path)
{
    struct stat st;

    ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
    return (long)(st.st_mode & 07777);
}

START_TEST(test_file_private)
{
    char *dir = ts_tmpdir("kstore");
    char path[1024], wal[1100];

    snprintf(path, sizeof path, "%s", ts_path(dir, "kiosk.db"));
    snprintf(wal, sizeof wal, "%s-wal", path);
    kstore *s = open_store(path);
    ck_assert_str_eq(kstore_notice(s), "");
    ck_assert_uint_ne(kstore_next_request_id(s), 0);
    ck_assert_int_eq(mode_of(path), 0600);
    ck_assert_int_eq(mode_of(wal), 0600);
    kstore_close(s);

    ck_assert_int_eq(chmod(path, 0644), 0);
    s = open_store(path);
    ck_assert_int_eq(mode_of(path), 0600);
    ck_assert_msg(strstr(kstore_notice(s), "kiosk.db was mode 0644, now 0600") != NULL, "%s",
                  kstore_notice(s));
    kstore_close(s);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kiosk_store");
    TCase *tc = tcase_create("store");

    tcase_add_test(tc, test_migrates_first_release);
    tcase_add_test(tc, test_sealed_number_kept);
    tcase_add_test(tc, test_refuses_newer_layout);
    tcase_add_test(tc, test_clock_offset);
    tcase_add_test(tc, test_offline_settled_per_ticket);
    tcase_add_test(tc, test_refusal_numbers_cut);
    tcase_add_test(tc, test_online_confirmations);
    tcase_add_test(tc, test_prune);
    tcase_add_test(tc, test_file_private);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
