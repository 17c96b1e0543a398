/*
 * target — what `hallbench load` drives: one table of operations per kind
 * of backend, chosen by --target, so the load runner (load.c) is the same
 * for all of them:
 *
 *   halld     the hall controller, over device links (target_halld.c)
 *   postgres  the same workload as SQL on PostgreSQL (target_pg.c)
 *   redis     the same workload as Lua scripts on Redis (target_redis.c)
 *   sqlite    the same workload as a plain SQLite loop (target_sqlite.c)
 *
 * The workload is a hall's: kiosks take tickets (ISSUE, then PRINTED once
 * the ticket is out of the printer) and windows call the next ticket
 * (CALL_NEXT), serve it and finish it. Every operation is durable before
 * it is answered, on every target.
 *
 * Life of a run:
 *
 *   setup (once) -> connect (one per thread) -> ops ... -> disconnect
 *     -> teardown (once)
 *
 * setup prepares the backend (schema, scripts, windows signed in, --preload
 * tickets) and returns the state every connection shares; connect makes
 * one thread's connection (threads never share one). An operation returns
 * a target_rc; on TARGET_CLOSED the runner calls reopen and then repeats
 * the same operation with the same arguments, which a target may use to
 * resend the same request (halld answers a repeated request_id with its
 * first answer). Functions that fail fill a target_err.
 */
#ifndef ONEWINDOW_TARGET_H
#define ONEWINDOW_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum target_rc {
    TARGET_OK = 0,
    TARGET_EMPTY = 1,   /* CALL_NEXT: nothing is waiting */
    TARGET_FAILED = -1, /* refused or failed; the connection is still usable */
    TARGET_CLOSED = -2, /* the connection is lost (or timed out): reopen it */
} target_rc;

/* Why something failed: kind is a short key (letters, digits, '_') under
 * which the runner counts it ("link_closed", "ERR_ILLEGAL_STATE",
 * "pg_40P01", "redis_ERR", "sqlite_busy"), msg one readable sentence. */
typedef struct target_err {
    char kind[40];
    char msg[256];
} target_err;

/* Fill err (kind, then printf-style msg). */
void target_fail(target_err *err, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The areas of the sample catalog. Windows serve all of them; kiosks issue
 * into one (--area). halld takes its areas from its own catalog. */
#define TARGET_NAREAS 6
extern const char *const target_areas[TARGET_NAREAS];
/* Index of code in target_areas, -1 if it is not one. */
int target_area_index(const char *code);

/* What the command line gives a target. Strings belong to the caller. */
typedef struct target_opts {
    const char *config;   /* halld: the hall's halld.ini */
    const char *server;   /* halld, redis: HOST:PORT */
    bool plain;           /* halld: plain TCP (halld --dev-plaintext) */
    const char *conninfo; /* postgres: libpq connection string */
    const char *db;       /* sqlite: database file */
    const char *area;     /* kiosks issue here; NULL: the target's default */
    unsigned kiosks;      /* connections 0 .. kiosks-1 are kiosks */
    unsigned windows;     /* connections kiosks .. kiosks+windows-1: windows 1..windows */
    uint64_t preload;     /* waiting tickets to add before the run */
    bool setup;           /* drop what a previous run left and start afresh */
} target_opts;

/* One thread's connection; each target defines it. */
typedef struct target_conn target_conn;

typedef struct target_ops {
    const char *name;
    /* Prepare the backend; the shared state, or NULL with err. */
    void *(*setup)(const target_opts *o, target_err *err);
    /* One line on what is measured ("PostgreSQL 15.2, synchronous_commit=on"). */
    const char *(*describe)(void *shared);
    /* Connection number index (see target_opts); NULL with err. */
    target_conn *(*connect)(void *shared, unsigned index, target_err *err);
    /* Replace a lost connection; -1 with err if it cannot be made now. */
    int (*reopen)(target_conn *c, target_err *err);
    /* ISSUE: a RESERVED ticket, its id in *ticket. */
    target_rc (*issue)(target_conn *c, uint64_t *ticket, target_err *err);
    /* PRINTED: the ticket joins the queue (WAITING). */
    target_rc (*printed)(target_conn *c, uint64_t ticket, target_err *err);
    /* CALL_NEXT for window: the oldest waiting ticket of its areas, CALLED. */
    target_rc (*call)(target_conn *c, uint32_t window, uint64_t *ticket, target_err *err);
    /* The called ticket is served and DONE (halld: START then FINISH). */
    target_rc (*finish)(target_conn *c, uint32_t window, uint64_t ticket, target_err *err);
    void (*disconnect)(target_conn *c);
    /* After every connection is gone; shared may be NULL. */
    void (*teardown)(void *shared);
} target_ops;

extern const target_ops target_halld;
extern const target_ops target_pg;
extern const target_ops target_redis;
extern const target_ops target_sqlite;

#endif
