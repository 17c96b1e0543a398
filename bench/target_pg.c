/*
 * target_pg — the hall's workload as people build it on PostgreSQL (libpq),
 * the comparison for halld in `hallbench load --target postgres`.
 *
 * Schema (made by setup if absent; --setup drops it first):
 *
 *   hb_counters(area PRIMARY KEY, n)       one row per area: the numbering
 *   hb_tickets(id bigserial, area, number, state, window_no, issued_at)
 *   hb_tickets_waiting: partial index on issued_at WHERE state = 'waiting'
 *
 * Operations, each a transaction committed before it is answered (the
 * server runs with synchronous_commit=on; this client never changes it):
 *
 *   ISSUE      BEGIN; UPDATE hb_counters SET n = n + 1 ... RETURNING n;
 *              INSERT INTO hb_tickets (..., 'reserved') RETURNING id; COMMIT
 *   PRINTED    UPDATE hb_tickets SET state = 'waiting' WHERE id = $1
 *   CALL_NEXT  UPDATE hb_tickets SET state = 'called', window_no = $1
 *              WHERE id = (SELECT id ... WHERE state = 'waiting' AND area = ANY($2)
 *                          ORDER BY issued_at LIMIT 1 FOR UPDATE SKIP LOCKED)
 *              RETURNING id
 *   FINISH     UPDATE hb_tickets SET state = 'done' WHERE id = $1
 *
 * Statements are prepared once per connection. Every result is checked;
 * a failed statement is described with PQresultErrorMessage and counted
 * under its SQLSTATE ("pg_40P01"); a connection that went bad is
 * TARGET_CLOSED, and reopen resets it.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"

struct pg_shared {
    char *conninfo;
    char area[32];
    char windows_areas[200]; /* the text[] literal of every area */
    char info[300];
};

struct target_conn {
    struct pg_shared *sh;
    PGconn *pg;
};

/* ---- Results ---------------------------------------------------------------- */

/* The first line of a libpq message, without its trailing newline. */
static void one_line(char *out, size_t len, const char *msg)
{
    snprintf(out, len, "%s", msg != NULL && msg[0] ? msg : "unknown error");
    out[strcspn(out, "\n")] = '\0';
}

/* Check res for want; on failure fill err, clear res and say how bad. */
static target_rc check(PGconn *pg, PGresult *res, ExecStatusType want, const char *what,
                       target_err *err)
{
    char line[200];

    if (res != NULL && PQresultStatus(res) == want)
        return TARGET_OK;
    if (PQstatus(pg) == CONNECTION_BAD) {
        one_line(line, sizeof line, PQerrorMessage(pg));
        target_fail(err, "link_closed", "%s: connection lost: %s", what, line);
        PQclear(res);
        return TARGET_CLOSED;
    }
    if (res == NULL) {
        one_line(line, sizeof line, PQerrorMessage(pg));
        target_fail(err, "pg_error", "%s: %s", what, line);
        return TARGET_FAILED;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    char kind[16];
    snprintf(kind, sizeof kind, "pg_%s", state != NULL ? state : "error");
    one_line(line, sizeof line, PQresultErrorMessage(res));
    if (PQresultStatus(res) != PGRES_FATAL_ERROR)
        snprintf(line, sizeof line, "unexpected result %s", PQresStatus(PQresultStatus(res)));
    target_fail(err, kind, "%s: %s", what, line);
    PQclear(res);
    return TARGET_FAILED;
}

/* Run sql (no parameters): a command, or a query whose rows are dropped. */
static target_rc exec_simple(PGconn *pg, const char *sql, target_err *err)
{
    PGresult *res = PQexec(pg, sql);
    bool rows = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK;
    target_rc rc = check(pg, res, rows ? PGRES_TUPLES_OK : PGRES_COMMAND_OK, sql, err);
    if (rc == TARGET_OK)
        PQclear(res);
    return rc;
}

/* The single id a statement RETURNING id gave: TARGET_EMPTY for no row. */
static target_rc returned_id(PGresult *res, const char *what, uint64_t *out, target_err *err)
{
    char *end;

    if (PQntuples(res) == 0)
        return TARGET_EMPTY;
    if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0)) {
        target_fail(err, "bad_answer", "%s: expected one value, got %d rows of %d columns", what,
                    PQntuples(res), PQnfields(res));
        return TARGET_FAILED;
    }
    const char *v = PQgetvalue(res, 0, 0);
    unsigned long long n = strtoull(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n == 0) {
        target_fail(err, "bad_answer", "%s: returned '%.40s', not a positive integer", what, v);
        return TARGET_FAILED;
    }
    *out = n;
    return TARGET_OK;
}

/* A prepared statement with text parameters, for want. */
static target_rc run(PGconn *pg, const char *name, int nparams, const char *const *params,
                     ExecStatusType want, PGresult **out, target_err *err)
{
    PGresult *res = PQexecPrepared(pg, name, nparams, params, NULL, NULL, 0);
    target_rc rc = check(pg, res, want, name, err);

    *out = rc == TARGET_OK ? res : NULL;
    return rc;
}

/* ---- Connections ------------------------------------------------------------ */

static const struct {
    const char *name, *sql;
    int nparams;
} statements[] = {
    {"hb_bump", "UPDATE hb_counters SET n = n + 1 WHERE area = $1 RETURNING n", 1},
    {"hb_insert",
     "INSERT INTO hb_tickets (area, number, state) VALUES ($1, $2, 'reserved') RETURNING id", 2},
    {"hb_printed", "UPDATE hb_tickets SET state = 'waiting' WHERE id = $1 AND state = 'reserved'",
     1},
    {"hb_call",
     "UPDATE hb_tickets SET state = 'called', window_no = $1 WHERE id = "
     "(SELECT id FROM hb_tickets WHERE state = 'waiting' AND area = ANY($2::text[]) "
     "ORDER BY issued_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id",
     2},
    {"hb_finish", "UPDATE hb_tickets SET state = 'done' WHERE id = $1 AND state = 'called'", 1},
};

static PGconn *pg_open(const char *conninfo, target_err *err)
{
    char line[200];
    PGconn *pg = PQconnectdb(conninfo);

    if (pg == NULL) {
        target_fail(err, "connect_failed", "PostgreSQL: out of memory");
        return NULL;
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        one_line(line, sizeof line, PQerrorMessage(pg));
        target_fail(err, "connect_failed", "cannot connect to PostgreSQL: %s", line);
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

static int prepare_all(PGconn *pg, target_err *err)
{
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
        PGresult *res =
            PQprepare(pg, statements[i].name, statements[i].sql, statements[i].nparams, NULL);
        if (check(pg, res, PGRES_COMMAND_OK, statements[i].name, err) != TARGET_OK)
            return -1;
        PQclear(res);
    }
    return 0;
}

/* ---- Set-up ----------------------------------------------------------------- */

/* The server's value of a setting, "?" if it cannot be read. */
static void show(PGconn *pg, const char *name, char *out, size_t len)
{
    char sql[80];

    snprintf(sql, sizeof sql, "SHOW %s", name);
    PGresult *res = PQexec(pg, sql);
    snprintf(out, len, "%s",
             res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
                 ? PQgetvalue(res, 0, 0)
                 : "?");
    PQclear(res);
}

static int make_schema(PGconn *pg, const target_opts *o, target_err *err)
{
    static const char *const drop = "DROP TABLE IF EXISTS hb_tickets, hb_counters";
    static const char *const create[] = {
        "CREATE TABLE IF NOT EXISTS hb_counters (area text PRIMARY KEY, n bigint NOT NULL)",
        ("CREATE TABLE IF NOT EXISTS hb_tickets (id bigserial PRIMARY KEY, area text NOT NULL, "
         "number bigint NOT NULL, state text NOT NULL, window_no integer, "
         "issued_at timestamptz NOT NULL DEFAULT clock_timestamp())"),
        ("CREATE INDEX IF NOT EXISTS hb_tickets_waiting ON hb_tickets (issued_at) "
         "WHERE state = 'waiting'"),
    };

    /* Quiet the NOTICEs of IF [NOT] EXISTS on stderr. */
    if (exec_simple(pg, "SET client_min_messages = warning", err) != TARGET_OK)
        return -1;
    if (o->setup && exec_simple(pg, drop, err) != TARGET_OK)
        return -1;
    for (size_t i = 0; i < sizeof create / sizeof create[0]; i++)
        if (exec_simple(pg, create[i], err) != TARGET_OK)
            return -1;
    for (int i = 0; i < TARGET_NAREAS; i++) {
        const char *params[1] = {target_areas[i]};
        PGresult *res = PQexecParams(pg,
                                     "INSERT INTO hb_counters VALUES ($1, 0) "
                                     "ON CONFLICT (area) DO NOTHING",
                                     1, NULL, params, NULL, NULL, 0);
        if (check(pg, res, PGRES_COMMAND_OK, "insert counter", err) != TARGET_OK)
            return -1;
        PQclear(res);
    }
    if (o->preload > 0) {
        /* Waiting tickets spread over the areas, older than any of the run,
         * numbered on from each area's counter, in one transaction. */
        char pre[256];
        snprintf(pre, sizeof pre,
                 "CREATE TEMP TABLE hb_pre ON COMMIT DROP AS SELECT g, "
                 "(ARRAY['intake','realestate','fund','social','tax','approval'])[1 + g %% 6] "
                 "AS area FROM generate_series(1, %" PRIu64 ") AS g",
                 o->preload);
        const char *const steps[] = {
            "BEGIN",
            pre,
            ("INSERT INTO hb_tickets (area, number, state, issued_at) SELECT p.area, c.n + "
             "row_number() OVER (PARTITION BY p.area ORDER BY p.g), 'waiting', "
             "now() - interval '1 hour' + p.g * interval '1 microsecond' "
             "FROM hb_pre p JOIN hb_counters c ON c.area = p.area"),
            ("UPDATE hb_counters c SET n = c.n + x.k FROM "
             "(SELECT area, count(*) AS k FROM hb_pre GROUP BY area) x WHERE c.area = x.area"),
            "COMMIT",
        };
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            if (exec_simple(pg, steps[i], err) != TARGET_OK) {
                PQclear(PQexec(pg, "ROLLBACK"));
                return -1;
            }
        }
    }
    return 0;
}

static void *pg_setup(const target_opts *o, target_err *err)
{
    struct pg_shared *sh = calloc(1, sizeof *sh);
    char sync[32], fsync[32], version[32];
    PGconn *pg = NULL;

    if (sh == NULL || (sh->conninfo = strdup(o->conninfo)) == NULL) {
        target_fail(err, "nomem", "out of memory");
        goto fail;
    }
    snprintf(sh->area, sizeof sh->area, "%s", o->area ? o->area : target_areas[0]);
    if (target_area_index(sh->area) < 0) {
        target_fail(err, "usage", "--area %s: not an area of the sample catalog", sh->area);
        goto fail;
    }
    size_t at = 0;
    for (int i = 0; i < TARGET_NAREAS; i++)
        at += (size_t)snprintf(sh->windows_areas + at, sizeof sh->windows_areas - at, "%s%s",
                               i ? "," : "{", target_areas[i]);
    snprintf(sh->windows_areas + at, sizeof sh->windows_areas - at, "}");
    if ((pg = pg_open(o->conninfo, err)) == NULL || make_schema(pg, o, err) < 0)
        goto fail;
    show(pg, "server_version", version, sizeof version);
    show(pg, "synchronous_commit", sync, sizeof sync);
    show(pg, "fsync", fsync, sizeof fsync);
    snprintf(sh->info, sizeof sh->info,
             "PostgreSQL %s, synchronous_commit=%s, fsync=%s, one transaction per operation",
             version, sync, fsync);
    PQfinish(pg);
    return sh;
fail:
    PQfinish(pg);
    if (sh != NULL)
        free(sh->conninfo);
    free(sh);
    return NULL;
}

static const char *pg_describe(void *shared)
{
    return ((struct pg_shared *)shared)->info;
}

static target_conn *pg_connect(void *shared, unsigned index, target_err *err)
{
    target_conn *c = calloc(1, sizeof *c);

    if (c == NULL) {
        target_fail(err, "nomem", "out of memory");
        return NULL;
    }
    c->sh = shared;
    if ((c->pg = pg_open(c->sh->conninfo, err)) == NULL || prepare_all(c->pg, err) < 0) {
        PQfinish(c->pg);
        free(c);
        return NULL;
    }
    return c;
}

static int pg_reopen(target_conn *c, target_err *err)
{
    char line[200];

    PQreset(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        one_line(line, sizeof line, PQerrorMessage(c->pg));
        target_fail(err, "connect_failed", "cannot reconnect to PostgreSQL: %s", line);
        return -1;
    }
    return prepare_all(c->pg, err);
}

/* ---- Operations ------------------------------------------------------------- */

static target_rc pg_issue(target_conn *c, uint64_t *ticket, target_err *err)
{
    const char *area[1] = {c->sh->area};
    PGresult *res;
    uint64_t n;
    char number[24];

    target_rc rc = exec_simple(c->pg, "BEGIN", err);
    if (rc != TARGET_OK)
        return rc;
    rc = run(c->pg, "hb_bump", 1, area, PGRES_TUPLES_OK, &res, err);
    if (rc == TARGET_OK) {
        rc = returned_id(res, "hb_bump", &n, err);
        PQclear(res);
        if (rc == TARGET_EMPTY) {
            target_fail(err, "bad_answer", "no counter row for area %s", c->sh->area);
            rc = TARGET_FAILED;
        }
    }
    if (rc == TARGET_OK) {
        snprintf(number, sizeof number, "%" PRIu64, n);
        const char *params[2] = {c->sh->area, number};
        rc = run(c->pg, "hb_insert", 2, params, PGRES_TUPLES_OK, &res, err);
        if (rc == TARGET_OK) {
            rc = returned_id(res, "hb_insert", ticket, err);
            PQclear(res);
            if (rc == TARGET_EMPTY)
                rc = TARGET_FAILED;
        }
    }
    if (rc == TARGET_OK)
        return exec_simple(c->pg, "COMMIT", err);
    if (rc == TARGET_FAILED)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    return rc;
}

/* One UPDATE ... WHERE id = $1 that must change exactly one row. */
static target_rc update_one(target_conn *c, const char *name, uint64_t ticket, target_err *err)
{
    char id[24];
    PGresult *res;

    snprintf(id, sizeof id, "%" PRIu64, ticket);
    const char *params[1] = {id};
    target_rc rc = run(c->pg, name, 1, params, PGRES_COMMAND_OK, &res, err);
    if (rc != TARGET_OK)
        return rc;
    if (strcmp(PQcmdTuples(res), "1") != 0) {
        target_fail(err, "not_found", "%s: ticket %" PRIu64 " was not in the expected state", name,
                    ticket);
        rc = TARGET_FAILED;
    }
    PQclear(res);
    return rc;
}

static target_rc pg_printed(target_conn *c, uint64_t ticket, target_err *err)
{
    return update_one(c, "hb_printed", ticket, err);
}

static target_rc pg_call(target_conn *c, uint32_t window, uint64_t *ticket, target_err *err)
{
    char no[16];
    PGresult *res;

    snprintf(no, sizeof no, "%u", window);
    const char *params[2] = {no, c->sh->windows_areas};
    target_rc rc = run(c->pg, "hb_call", 2, params, PGRES_TUPLES_OK, &res, err);
    if (rc != TARGET_OK)
        return rc;
    rc = returned_id(res, "hb_call", ticket, err);
    PQclear(res);
    return rc;
}

static target_rc pg_finish(target_conn *c, uint32_t window, uint64_t ticket, target_err *err)
{
    return update_one(c, "hb_finish", ticket, err);
}

static void pg_disconnect(target_conn *c)
{
    if (c == NULL)
        return;
    PQfinish(c->pg);
    free(c);
}

static void pg_teardown(void *shared)
{
    struct pg_shared *sh = shared;

    if (sh == NULL)
        return;
    free(sh->conninfo);
    free(sh);
}

const target_ops target_pg = {
    .name = "postgres",
    .setup = pg_setup,
    .describe = pg_describe,
    .connect = pg_connect,
    .reopen = pg_reopen,
    .issue = pg_issue,
    .printed = pg_printed,
    .call = pg_call,
    .finish = pg_finish,
    .disconnect = pg_disconnect,
    .teardown = pg_teardown,
};
