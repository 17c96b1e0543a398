/*
 * store — see store.h. Migrations are a list of SQL scripts; migration N
 * brings the schema from version N-1 to N. Never edit a migration that has
 * shipped: add a new one.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct store {
    sqlite3 *db;
    int lock_fd;
    int version;
};

static const char *const migrations[] = {
    /* 1: the hall this file belongs to, and free-form settings. */
    "CREATE TABLE settings (\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ") STRICT;\n",
};
#define STORE_SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static int take_lock(store *s, const char *path, char *err, size_t errlen)
{
    char lock_path[4096];

    if ((size_t)snprintf(lock_path, sizeof lock_path, "%s.lock", path) >= sizeof lock_path) {
        snprintf(err, errlen, "database path too long: %s", path);
        return -1;
    }
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        snprintf(err, errlen, "cannot open lock file %s: %s", lock_path, strerror(errno));
        return -1;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            char pid[32] = "";
            ssize_t n = pread(s->lock_fd, pid, sizeof pid - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            snprintf(err, errlen, "%s is in use by another halld (pid %s)", path,
                     *pid ? pid : "unknown");
        } else {
            snprintf(err, errlen, "cannot lock %s: %s", lock_path, strerror(errno));
        }
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, pid, (size_t)n, 0) != n) {
        snprintf(err, errlen, "cannot write lock file %s: %s", lock_path, strerror(errno));
        return -1;
    }
    return 0;
}

static int exec_sql(store *s, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", what, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int read_version(store *s, char *err, size_t errlen)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    s->version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return 0;
}

/* Apply every migration above the file's version, one transaction each, so
 * a crash in the middle leaves the file at a whole version. */
static int migrate(store *s, char *err, size_t errlen)
{
    if (read_version(s, err, errlen) < 0)
        return -1;
    if (s->version > STORE_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this halld understands (%d): "
                 "run the newer release",
                 s->version, STORE_SCHEMA_VERSION);
        return -1;
    }
    for (int v = s->version + 1; v <= STORE_SCHEMA_VERSION; v++) {
        char what[64], bump[64];
        snprintf(what, sizeof what, "migration %d", v);
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", v);
        if (exec_sql(s, "BEGIN IMMEDIATE", what, err, errlen) < 0)
            return -1;
        if (exec_sql(s, migrations[v - 1], what, err, errlen) < 0 ||
            exec_sql(s, bump, what, err, errlen) < 0) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        if (exec_sql(s, "COMMIT", what, err, errlen) < 0)
            return -1;
        s->version = v;
    }
    return 0;
}

/* Record hall_id in a new file; refuse a file that belongs to another hall. */
static int claim_hall(store *s, const char *hall_id, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc;

    rc = sqlite3_prepare_v2(s->db,
                            "INSERT INTO settings(key, value) VALUES('hall_id', ?1) "
                            "ON CONFLICT(key) DO NOTHING RETURNING value",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto sql_error;
    sqlite3_bind_text(st, 1, hall_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto sql_error;

    rc = sqlite3_prepare_v2(s->db, "SELECT value FROM settings WHERE key = 'hall_id'", -1, &st,
                            NULL);
    if (rc != SQLITE_OK)
        goto sql_error;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        goto sql_error;
    }
    const char *owner = (const char *)sqlite3_column_text(st, 0);
    if (owner == NULL || strcmp(owner, hall_id) != 0) {
        snprintf(err, errlen, "%s belongs to hall '%s', not '%s'", path, owner ? owner : "",
                 hall_id);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
sql_error:
    snprintf(err, errlen, "cannot record the hall in %s: %s", path, sqlite3_errmsg(s->db));
    return -1;
}

store *store_open(const char *path, const char *hall_id, char *err, size_t errlen)
{
    store *s = calloc(1, sizeof *s);

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->lock_fd = -1;
    if (take_lock(s, path, err, errlen) < 0)
        goto fail;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                            SQLITE_OPEN_EXRESCODE,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    /* journal_mode=WAL answers with the mode it got; a file system that
     * cannot do WAL (no shared memory) leaves it in another mode. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        snprintf(err, errlen, "cannot open database %s: %s", path, sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        goto fail;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (mode == NULL || strcmp(mode, "wal") != 0) {
        snprintf(err, errlen, "%s: cannot use write-ahead logging (journal mode is %s)", path,
                 mode ? mode : "unknown");
        sqlite3_finalize(st);
        goto fail;
    }
    sqlite3_finalize(st);
    if (exec_sql(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", path, err, errlen) < 0)
        goto fail;
    if (migrate(s, err, errlen) < 0 || claim_hall(s, hall_id, path, err, errlen) < 0)
        goto fail;
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    sqlite3_close_v2(s->db);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    free(s);
}

int store_schema_version(const store *s)
{
    return s->version;
}
