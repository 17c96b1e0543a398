/*
 * halld_pipelined_commit — the store's two-step commit on crashvfs
 * (tests/support/crashvfs.h), the mechanism halld's loop relies on when it
 * commits a turn and leaves its sync to another thread:
 *
 *  - turns committed with store_commit_unsynced() and never synced are
 *    lost whole by a power cut (nothing of them may have been answered),
 *    and the file is intact. (The commit that starts a new WAL syncs its
 *    header, and so the commit too: each case starts after one synced
 *    turn, as a running halld does.);
 *  - one store_sync() makes every turn committed before it durable;
 *  - a write outside a transaction still syncs by itself (the safety level
 *    is back to FULL once a transaction ends), and so carries an unsynced
 *    turn before it to the disk too;
 *  - a failed sync reports EIO and leaves the turn unsynced.
 *
 * The syncing thread itself is tested in halld_syncer; halld_powerloss
 * cuts the power at every operation of the path that commits and syncs.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crashvfs.h"
#include "store.h"
#include "testsupport.h"

#define HALL_ID "pipelined"

static q_ticket ticket(uint64_t id)
{
    q_ticket t = {0};

    t.id = id;
    snprintf(t.number, sizeof t.number, "A%03llu", (unsigned long long)id);
    t.day = 20000;
    t.seq = (uint32_t)id;
    snprintf(t.area, sizeof t.area, "tax");
    snprintf(t.matter, sizeof t.matter, "T-1");
    t.state = Q_WAITING;
    t.priority = Q_NORMAL;
    t.issued_ms = t.state_ms = 1700000000000 + (int64_t)id;
    snprintf(t.kiosk, sizeof t.kiosk, "kiosk-01");
    return t;
}

static void turn(store *s, uint64_t id);

static store *open_store(const char *path)
{
    char err[256];
    store *s = store_open(path, HALL_ID, STORE_DAEMON, err, sizeof err);

    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

/* One loop turn: a ticket, committed without its sync. */
static void turn(store *s, uint64_t id)
{
    q_ticket t = ticket(id);

    ck_assert_msg(store_begin(s) == 0, "%s", store_errmsg(s));
    ck_assert_msg(store_put_ticket(s, &t) == 0, "%s", store_errmsg(s));
    ck_assert_msg(store_commit_unsynced(s) == 0, "%s", store_errmsg(s));
}

/* The power goes at the next operation: the checkpoint that closing the
 * last connection would run (and its syncs) never happens. */
static void close_in_the_cut(store *s)
{
    ck_assert_int_eq(crashvfs_arm(1, CRASHVFS_LOSE_ALL, 0), 0);
    store_close(s);
}

static int count_ticket(void *arg, const q_ticket *t)
{
    (void)t;
    ++*(int *)arg;
    return 0;
}

/* After the power cut: the file is intact; how many tickets it has. */
static int tickets_after_cut(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = 0;

    ck_assert_msg(crashvfs_power_cut() == 0, "power cut: %s", strerror(errno));
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
    store *s = open_store(path);
    ck_assert_int_eq(store_load_tickets(s, 0, count_ticket, &n), 0);
    store_close(s);
    return n;
}

/* A store with its schema written through (PASS), then open again with
 * the power about to go (ARMED), after one synced turn (ticket 100). */
static store *new_store(char **dir, char **path)
{
    static char at[PATH_MAX];
    store *s;

    ck_assert_int_eq(crashvfs_register(), 0);
    *dir = ts_tmpdir("pipelined");
    snprintf(at, sizeof at, "%s/hall.db", *dir);
    *path = at;
    store_close(open_store(at));
    ck_assert_int_eq(crashvfs_arm(0, CRASHVFS_LOSE_ALL, 0), 0);
    s = open_store(at);
    turn(s, 100);
    ck_assert_int_eq(store_sync(s), 0);
    return s;
}

START_TEST(unsynced_turns_are_lost_whole)
{
    char *dir, *path;
    store *s = new_store(&dir, &path);

    turn(s, 1);
    turn(s, 2);
    close_in_the_cut(s);
    ck_assert_int_eq(tickets_after_cut(path), 1);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(one_sync_makes_every_earlier_turn_durable)
{
    char *dir, *path;
    store *s = new_store(&dir, &path);

    turn(s, 1);
    turn(s, 2);
    ck_assert_int_eq(store_sync(s), 0);
    turn(s, 3); /* after the sync: not covered by it */
    close_in_the_cut(s);
    ck_assert_int_eq(tickets_after_cut(path), 3);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(writes_outside_a_turn_sync_themselves)
{
    char *dir, *path;
    store *s = new_store(&dir, &path);
    char value[16];

    turn(s, 1);
    ck_assert_int_eq(store_set_setting(s, "probe", "yes"), 0);
    close_in_the_cut(s);
    ck_assert_int_eq(tickets_after_cut(path), 2);
    s = open_store(path);
    ck_assert_int_eq(store_get_setting(s, "probe", value, sizeof value), 1);
    ck_assert_str_eq(value, "yes");
    store_close(s);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

/* The sync of a write outside a turn is made after SQLite's commit (the
 * WAL hook): when it fails, the write says so. */
START_TEST(write_outside_a_turn_fails_when_its_sync_fails)
{
    char *dir, *path;
    store *s = new_store(&dir, &path);

    crashvfs_fail(CRASHVFS_SYNC_IOERR, 1);
    ck_assert_int_eq(store_set_setting(s, "probe", "yes"), -1);
    ck_assert_ptr_nonnull(strstr(store_errmsg(s), "could not be synced"));
    ck_assert_int_eq(store_set_setting(s, "probe", "again"), 0);
    store_close(s);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(failed_sync_leaves_the_turn_unsynced)
{
    char *dir, *path;
    store *s = new_store(&dir, &path);

    turn(s, 1);
    crashvfs_fail(CRASHVFS_SYNC_IOERR, 1);
    errno = 0;
    ck_assert_int_eq(store_sync(s), -1);
    ck_assert_int_eq(errno, EIO);
    close_in_the_cut(s);
    ck_assert_int_eq(tickets_after_cut(path), 1);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("halld_pipelined_commit");
    TCase *tc = tcase_create("store");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, unsynced_turns_are_lost_whole);
    tcase_add_test(tc, one_sync_makes_every_earlier_turn_durable);
    tcase_add_test(tc, writes_outside_a_turn_sync_themselves);
    tcase_add_test(tc, write_outside_a_turn_fails_when_its_sync_fails);
    tcase_add_test(tc, failed_sync_leaves_the_turn_unsynced);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
