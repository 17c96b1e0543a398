/*
 * target_sqlite — the "plain SQLite loop" people write without a
 * controller, for `hallbench load --target sqlite --db FILE`: every thread
 * opens the file itself (WAL, synchronous=FULL, a busy timeout) and runs
 * each operation as its own BEGIN IMMEDIATE ... COMMIT transaction, so
 * writers queue on SQLite's lock instead of being grouped as halld groups
 * them.
 *
 * This is a separate program from the controller: the project's rule that
 * controller/store.c is the only module to include sqlite3.h holds inside
 * halld and hallcore; hallbench measures plain SQLite here on purpose.
 *
 * Schema (made if absent; --setup drops it first): hb_counters(area, n),
 * hb_tickets(id, area, number, state, window_no, issued_at ms) and a
 * partial index on issued_at of the waiting tickets. The statements are
 * those of target_pg.c, in SQLite's dialect.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "target.h"

#define SQLITE_BUSY_MS 10000

enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_BUMP,
    ST_INSERT,
    ST_PRINTED,
    ST_CALL,
    ST_FINISH,
    ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "UPDATE hb_counters SET n = n + 1 WHERE area = ?1 RETURNING n",
    "INSERT INTO hb_tickets (area, number, state, issued_at) VALUES (?1, ?2, 'reserved', ?3)",
    "UPDATE hb_tickets SET state = 'waiting' WHERE id = ?1 AND state = 'reserved'",
    "UPDATE hb_tickets SET state = 'called', window_no = ?1 WHERE id = "
    "(SELECT id FROM hb_tickets WHERE state = 'waiting' AND area IN "
    "('intake', 'realestate', 'fund', 'social', 'tax', 'approval') "
    "ORDER BY issued_at LIMIT 1) RETURNING id",
    "UPDATE hb_tickets SET state = 'done' WHERE id = ?1 AND state = 'called'",
};

struct sqlite_shared {
    char *path;
    char area[32];
    char info[300];
};

struct target_conn {
    struct sqlite_shared *sh;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
};

static int64_t utc_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Name the failure rc of what (the connection's message). */
static target_rc fail_rc(sqlite3 *db, int rc, const char *what, target_err *err)
{
    char kind[24];

    switch (rc & 0xff) {
    case SQLITE_BUSY:
        snprintf(kind, sizeof kind, "sqlite_busy");
        break;
    case SQLITE_IOERR:
        snprintf(kind, sizeof kind, "sqlite_ioerr");
        break;
    case SQLITE_FULL:
        snprintf(kind, sizeof kind, "sqlite_full");
        break;
    default:
        snprintf(kind, sizeof kind, "sqlite_%d", rc & 0xff);
        break;
    }
    target_fail(err, kind, "%s: %s", what, db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return TARGET_FAILED;
}

static int exec(sqlite3 *db, const char *text, target_err *err)
{
    int rc = sqlite3_exec(db, text, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        fail_rc(db, rc, text, err);
        return -1;
    }
    return 0;
}

/* A connection configured as every thread's is. NULL with err. */
static sqlite3 *open_db(const char *path, target_err *err)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);

    if (rc != SQLITE_OK) {
        target_fail(err, "connect_failed", "cannot open %s: %s", path,
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, SQLITE_BUSY_MS);
    if (exec(db, "PRAGMA journal_mode = WAL", err) < 0 ||
        exec(db, "PRAGMA synchronous = FULL", err) < 0) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* ---- Set-up ----------------------------------------------------------------- */

static int make_schema(sqlite3 *db, const target_opts *o, target_err *err)
{
    if (o->setup &&
        exec(db, "DROP TABLE IF EXISTS hb_tickets; DROP TABLE IF EXISTS hb_counters", err) < 0)
        return -1;
    if (exec(db,
             "CREATE TABLE IF NOT EXISTS hb_counters (area TEXT PRIMARY KEY, n INTEGER NOT NULL);"
             "CREATE TABLE IF NOT EXISTS hb_tickets (id INTEGER PRIMARY KEY, area TEXT NOT NULL, "
             "number INTEGER NOT NULL, state TEXT NOT NULL, window_no INTEGER, "
             "issued_at INTEGER NOT NULL);"
             "CREATE INDEX IF NOT EXISTS hb_tickets_waiting ON hb_tickets (issued_at) "
             "WHERE state = 'waiting';",
             err) < 0)
        return -1;
    for (int i = 0; i < TARGET_NAREAS; i++) {
        char ins[128];
        snprintf(ins, sizeof ins, "INSERT OR IGNORE INTO hb_counters VALUES ('%s', 0)",
                 target_areas[i]);
        if (exec(db, ins, err) < 0)
            return -1;
    }
    return 0;
}

/* --preload: waiting tickets over every area, issued in the last hour, in
 * one transaction. */
static int preload(sqlite3 *db, uint64_t count, target_err *err)
{
    sqlite3_stmt *bump = NULL, *ins = NULL;
    int64_t at0 = utc_ms() - 3600 * 1000;
    int rc;

    if (count == 0)
        return 0;
    if (exec(db, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    if ((rc = sqlite3_prepare_v2(db, sql[ST_BUMP], -1, &bump, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(db,
                                 "INSERT INTO hb_tickets (area, number, state, issued_at) "
                                 "VALUES (?1, ?2, 'waiting', ?3)",
                                 -1, &ins, NULL)) != SQLITE_OK)
        goto fail;
    for (uint64_t i = 0; i < count; i++) {
        const char *area = target_areas[i % TARGET_NAREAS];
        sqlite3_bind_text(bump, 1, area, -1, SQLITE_STATIC);
        if ((rc = sqlite3_step(bump)) != SQLITE_ROW)
            goto fail;
        int64_t n = sqlite3_column_int64(bump, 0);
        if ((rc = sqlite3_step(bump)) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(bump);
        sqlite3_bind_text(ins, 1, area, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, n);
        sqlite3_bind_int64(ins, 3, at0 + (int64_t)(i / 1000));
        if ((rc = sqlite3_step(ins)) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(ins);
    }
    sqlite3_finalize(bump);
    sqlite3_finalize(ins);
    return exec(db, "COMMIT", err);
fail:
    fail_rc(db, rc, "preload", err);
    sqlite3_finalize(bump);
    sqlite3_finalize(ins);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static void *sqlite_setup(const target_opts *o, target_err *err)
{
    struct sqlite_shared *sh = calloc(1, sizeof *sh);
    sqlite3 *db = NULL;

    if (sh == NULL || (sh->path = strdup(o->db)) == NULL) {
        target_fail(err, "nomem", "out of memory");
        goto fail;
    }
    snprintf(sh->area, sizeof sh->area, "%s", o->area ? o->area : target_areas[0]);
    if (target_area_index(sh->area) < 0) {
        target_fail(err, "usage", "--area %s: not an area of the sample catalog", sh->area);
        goto fail;
    }
    if ((db = open_db(o->db, err)) == NULL || make_schema(db, o, err) < 0 ||
        preload(db, o->preload, err) < 0)
        goto fail;
    sqlite3_close(db);
    snprintf(sh->info, sizeof sh->info,
             "SQLite %s in this process, WAL, synchronous=FULL, busy_timeout %d ms, "
             "one transaction per operation",
             sqlite3_libversion(), SQLITE_BUSY_MS);
    return sh;
fail:
    sqlite3_close(db);
    if (sh != NULL)
        free(sh->path);
    free(sh);
    return NULL;
}

static const char *sqlite_describe(void *shared)
{
    return ((struct sqlite_shared *)shared)->info;
}

static void close_conn(target_conn *c)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

static int open_conn(target_conn *c, target_err *err)
{
    if ((c->db = open_db(c->sh->path, err)) == NULL)
        return -1;
    for (int i = 0; i < ST_COUNT; i++) {
        int rc = sqlite3_prepare_v2(c->db, sql[i], -1, &c->st[i], NULL);
        if (rc != SQLITE_OK) {
            fail_rc(c->db, rc, "prepare", err);
            close_conn(c);
            return -1;
        }
    }
    return 0;
}

static target_conn *sqlite_connect(void *shared, unsigned index, target_err *err)
{
    target_conn *c = calloc(1, sizeof *c);

    if (c == NULL) {
        target_fail(err, "nomem", "out of memory");
        return NULL;
    }
    c->sh = shared;
    if (open_conn(c, err) < 0) {
        free(c);
        return NULL;
    }
    return c;
}

/* An in-process database is never "lost"; reopening starts afresh anyway. */
static int sqlite_reopen(target_conn *c, target_err *err)
{
    close_conn(c);
    return open_conn(c, err);
}

/* ---- Operations ------------------------------------------------------------- */

/* Step st to its end; *row gets the first column of its row, if any.
 * SQLITE_DONE, or the error code. */
static int step_all(sqlite3_stmt *st, int64_t *row, bool *got)
{
    int rc;

    *got = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!*got && row != NULL)
            *row = sqlite3_column_int64(st, 0);
        *got = true;
    }
    sqlite3_reset(st);
    return rc;
}

/* Run st (bound by the caller) as a transaction of its own. */
static target_rc one_transaction(target_conn *c, enum stmt s, int64_t *row, bool *got,
                                 target_err *err)
{
    bool unused;
    int rc = step_all(c->st[ST_BEGIN], NULL, &unused);

    if (rc != SQLITE_DONE)
        return fail_rc(c->db, rc, "BEGIN IMMEDIATE", err);
    if ((rc = step_all(c->st[s], row, got)) != SQLITE_DONE) {
        fail_rc(c->db, rc, sql[s], err);
        step_all(c->st[ST_ROLLBACK], NULL, &unused);
        return TARGET_FAILED;
    }
    if ((rc = step_all(c->st[ST_COMMIT], NULL, &unused)) != SQLITE_DONE) {
        fail_rc(c->db, rc, "COMMIT", err);
        step_all(c->st[ST_ROLLBACK], NULL, &unused);
        return TARGET_FAILED;
    }
    return TARGET_OK;
}

static target_rc sqlite_issue(target_conn *c, uint64_t *ticket, target_err *err)
{
    bool got, unused;
    int64_t n = 0;
    int rc = step_all(c->st[ST_BEGIN], NULL, &unused);

    if (rc != SQLITE_DONE)
        return fail_rc(c->db, rc, "BEGIN IMMEDIATE", err);
    sqlite3_bind_text(c->st[ST_BUMP], 1, c->sh->area, -1, SQLITE_STATIC);
    if ((rc = step_all(c->st[ST_BUMP], &n, &got)) != SQLITE_DONE) {
        fail_rc(c->db, rc, "bump the counter", err);
        goto rollback;
    }
    if (!got) {
        target_fail(err, "bad_answer", "no counter row for area %s", c->sh->area);
        goto rollback;
    }
    sqlite3_bind_text(c->st[ST_INSERT], 1, c->sh->area, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->st[ST_INSERT], 2, n);
    sqlite3_bind_int64(c->st[ST_INSERT], 3, utc_ms());
    if ((rc = step_all(c->st[ST_INSERT], NULL, &unused)) != SQLITE_DONE) {
        fail_rc(c->db, rc, "insert the ticket", err);
        goto rollback;
    }
    *ticket = (uint64_t)sqlite3_last_insert_rowid(c->db);
    if ((rc = step_all(c->st[ST_COMMIT], NULL, &unused)) != SQLITE_DONE) {
        fail_rc(c->db, rc, "COMMIT", err);
        goto rollback;
    }
    return TARGET_OK;
rollback:
    step_all(c->st[ST_ROLLBACK], NULL, &unused);
    return TARGET_FAILED;
}

/* An UPDATE by id that must change one row. */
static target_rc update_one(target_conn *c, enum stmt s, uint64_t ticket, target_err *err)
{
    bool got;

    sqlite3_bind_int64(c->st[s], 1, (sqlite3_int64)ticket);
    target_rc rc = one_transaction(c, s, NULL, &got, err);
    if (rc == TARGET_OK && sqlite3_changes(c->db) != 1) {
        target_fail(err, "not_found", "ticket %" PRIu64 " was not in the expected state", ticket);
        return TARGET_FAILED;
    }
    return rc;
}

static target_rc sqlite_printed(target_conn *c, uint64_t ticket, target_err *err)
{
    return update_one(c, ST_PRINTED, ticket, err);
}

static target_rc sqlite_call(target_conn *c, uint32_t window, uint64_t *ticket, target_err *err)
{
    int64_t id = 0;
    bool got;

    sqlite3_bind_int64(c->st[ST_CALL], 1, window);
    target_rc rc = one_transaction(c, ST_CALL, &id, &got, err);
    if (rc != TARGET_OK)
        return rc;
    if (!got)
        return TARGET_EMPTY;
    *ticket = (uint64_t)id;
    return TARGET_OK;
}

static target_rc sqlite_finish(target_conn *c, uint32_t window, uint64_t ticket, target_err *err)
{
    return update_one(c, ST_FINISH, ticket, err);
}

static void sqlite_disconnect(target_conn *c)
{
    if (c == NULL)
        return;
    close_conn(c);
    free(c);
}

static void sqlite_teardown(void *shared)
{
    struct sqlite_shared *sh = shared;

    if (sh == NULL)
        return;
    free(sh->path);
    free(sh);
}

const target_ops target_sqlite = {
    .name = "sqlite",
    .setup = sqlite_setup,
    .describe = sqlite_describe,
    .connect = sqlite_connect,
    .reopen = sqlite_reopen,
    .issue = sqlite_issue,
    .printed = sqlite_printed,
    .call = sqlite_call,
    .finish = sqlite_finish,
    .disconnect = sqlite_disconnect,
    .teardown = sqlite_teardown,
};
