/*
 * target_redis — the hall's workload on Redis (hiredis), one Lua script per
 * operation run with EVALSHA, for `hallbench load --target redis`. The
 * server is meant to run with appendonly yes and appendfsync always, so an
 * answered operation is on disk; setup reads both settings back and
 * describe() shows them.
 *
 * Keys (all under "hb:", which --setup deletes):
 *
 *   hb:n:<area>       the area's number counter
 *   hb:t:<area>:<n>   a ticket (hash: area, number, state, issued_at, window)
 *   hb:w:<area>       the area's waiting tickets (sorted set, score issued_at,
 *                     member "<area>:<n>")
 *
 *   ISSUE      INCR hb:n:<area>; HSET the ticket (state reserved)
 *   PRINTED    HSET state waiting; ZADD hb:w:<area> issued_at
 *   CALL_NEXT  the oldest head among the window's areas: ZPOPMIN it; HSET called
 *   FINISH     HSET state done
 *
 * A ticket id on the C side is (area index << 32) | number. Every reply's
 * type is checked; an error reply is counted under its first word
 * ("redis_MISCONF"), a NOSCRIPT (the server restarted) reloads the scripts
 * and repeats the call, and a lost connection is TARGET_CLOSED.
 */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "target.h"

#define REDIS_TIMEOUT_S 30

enum script { S_ISSUE, S_PRINTED, S_CALL, S_FINISH, S_COUNT };

static const char *const scripts[S_COUNT] = {
    /* KEYS[1] counter; ARGV area, issued_at */
    "local n = redis.call('INCR', KEYS[1])\n"
    "redis.call('HSET', 'hb:t:' .. ARGV[1] .. ':' .. n, 'area', ARGV[1], 'number', n,\n"
    "           'state', 'reserved', 'issued_at', ARGV[2])\n"
    "return n\n",
    /* KEYS[1] ticket, KEYS[2] waiting set; ARGV member */
    "local at = redis.call('HGET', KEYS[1], 'issued_at')\n"
    "if not at then return redis.error_reply('NOTFOUND no ticket ' .. KEYS[1]) end\n"
    "redis.call('HSET', KEYS[1], 'state', 'waiting')\n"
    "return redis.call('ZADD', KEYS[2], at, ARGV[1])\n",
    /* KEYS the window's waiting sets; ARGV window */
    "local best, bestscore\n"
    "for _, k in ipairs(KEYS) do\n"
    "  local head = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')\n"
    "  if head[1] and (not bestscore or tonumber(head[2]) < bestscore) then\n"
    "    best, bestscore = k, tonumber(head[2])\n"
    "  end\n"
    "end\n"
    "if not best then return false end\n"
    "local m = redis.call('ZPOPMIN', best)[1]\n"
    "redis.call('HSET', 'hb:t:' .. m, 'state', 'called', 'window', ARGV[1])\n"
    "return m\n",
    /* KEYS[1] ticket */
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
    "  return redis.error_reply('NOTFOUND no ticket ' .. KEYS[1])\n"
    "end\n"
    "return redis.call('HSET', KEYS[1], 'state', 'done')\n",
};

/* Tickets for --preload, made in the server in batches: ARGV count,
 * issued_at of the first, areas... */
static const char preload_script[] =
    "local count, at0 = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local na = #ARGV - 2\n"
    "for i = 1, count do\n"
    "  local a = ARGV[3 + (i - 1) % na]\n"
    "  local n = redis.call('INCR', 'hb:n:' .. a)\n"
    "  local m = a .. ':' .. n\n"
    "  redis.call('HSET', 'hb:t:' .. m, 'area', a, 'number', n, 'state', 'waiting',\n"
    "             'issued_at', at0 + i)\n"
    "  redis.call('ZADD', 'hb:w:' .. a, at0 + i, m)\n"
    "end\n"
    "return count\n";

struct redis_shared {
    char host[256];
    int port;
    char area[32];
    char sha[S_COUNT][48];
    char info[300];
};

struct target_conn {
    struct redis_shared *sh;
    redisContext *rc;
    char sha[S_COUNT][48]; /* own copy: a reload after NOSCRIPT writes it */
};

static int64_t utc_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Replies ---------------------------------------------------------------- */

/* NULL reply: the connection failed. An error reply: counted by its first
 * word. Anything else is the caller's to check. */
static target_rc check_reply(redisContext *rc, redisReply *r, const char *what, target_err *err)
{
    if (r == NULL) {
        target_fail(err, "link_closed", "%s: %s", what, rc->errstr[0] ? rc->errstr : "no reply");
        return TARGET_CLOSED;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        char kind[40];
        size_t word = strcspn(r->str, " ");
        snprintf(kind, sizeof kind, "redis_%.*s", (int)(word < 30 ? word : 30), r->str);
        target_fail(err, kind, "%s: %s", what, r->str);
        return TARGET_FAILED;
    }
    return TARGET_OK;
}

static target_rc bad_type(redisReply *r, const char *what, target_err *err)
{
    target_fail(err, "bad_answer", "%s: unexpected reply of type %d", what, r->type);
    freeReplyObject(r);
    return TARGET_FAILED;
}

/* Load the scripts into the server and their digests into sha. */
static int load_scripts(redisContext *rc, char sha[S_COUNT][48], target_err *err)
{
    for (int i = 0; i < S_COUNT; i++) {
        redisReply *r = redisCommand(rc, "SCRIPT LOAD %s", scripts[i]);
        if (check_reply(rc, r, "SCRIPT LOAD", err) != TARGET_OK) {
            freeReplyObject(r);
            return -1;
        }
        if (r->type != REDIS_REPLY_STRING || r->len >= 48) {
            bad_type(r, "SCRIPT LOAD", err);
            return -1;
        }
        snprintf(sha[i], 48, "%s", r->str);
        freeReplyObject(r);
    }
    return 0;
}

/* EVALSHA script with keys and args (argv strings); reloads the scripts
 * once on NOSCRIPT. *out is a reply that is neither NULL nor an error. */
static target_rc eval(target_conn *c, enum script s, int nkeys, const char *const *keys, int nargs,
                      const char *const *args, redisReply **out, target_err *err)
{
    static const char *const names[S_COUNT] = {"ISSUE", "PRINTED", "CALL_NEXT", "FINISH"};
    const char *argv[2 + 2 + 16];
    char numkeys[8];
    int argc = 0;

    snprintf(numkeys, sizeof numkeys, "%d", nkeys);
    argv[argc++] = "EVALSHA";
    argv[argc++] = c->sha[s];
    argv[argc++] = numkeys;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    for (int attempt = 0;; attempt++) {
        redisReply *r = redisCommandArgv(c->rc, argc, argv, NULL);
        target_rc rc = check_reply(c->rc, r, names[s], err);
        if (rc == TARGET_OK) {
            *out = r;
            return rc;
        }
        bool noscript = r != NULL && strncmp(r->str, "NOSCRIPT", 8) == 0;
        freeReplyObject(r);
        if (!noscript || attempt > 0 || load_scripts(c->rc, c->sha, err) < 0)
            return rc;
    }
}

/* ---- Connections ------------------------------------------------------------ */

static redisContext *redis_open(const struct redis_shared *sh, target_err *err)
{
    struct timeval tv = {REDIS_TIMEOUT_S, 0};
    redisContext *rc = redisConnectWithTimeout(sh->host, sh->port, tv);

    if (rc == NULL || rc->err) {
        target_fail(err, "connect_failed", "cannot connect to Redis at %s:%d: %s", sh->host,
                    sh->port, rc ? rc->errstr : "out of memory");
        redisFree(rc);
        return NULL;
    }
    if (redisSetTimeout(rc, tv) != REDIS_OK) {
        target_fail(err, "connect_failed", "Redis: cannot set the timeout");
        redisFree(rc);
        return NULL;
    }
    return rc;
}

/* A CONFIG GET value, "?" if unreadable (CONFIG may be renamed away). */
static void config_get(redisContext *rc, const char *name, char *out, size_t len)
{
    redisReply *r = redisCommand(rc, "CONFIG GET %s", name);

    snprintf(out, len, "?");
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING)
        snprintf(out, len, "%s", r->element[1]->str);
    freeReplyObject(r);
}

static void server_version(redisContext *rc, char *out, size_t len)
{
    redisReply *r = redisCommand(rc, "INFO server");
    const char *v;

    snprintf(out, len, "?");
    if (r != NULL && r->type == REDIS_REPLY_STRING &&
        (v = strstr(r->str, "redis_version:")) != NULL) {
        v += strlen("redis_version:");
        snprintf(out, len, "%.*s", (int)strcspn(v, "\r\n"), v);
    }
    freeReplyObject(r);
}

/* Delete every hb: key (SCAN + UNLINK, so other data is left alone). */
static int drop_keys(redisContext *rc, target_err *err)
{
    char cursor[32] = "0";

    do {
        redisReply *r = redisCommand(rc, "SCAN %s MATCH hb:* COUNT 1000", cursor);
        if (check_reply(rc, r, "SCAN", err) != TARGET_OK) {
            freeReplyObject(r);
            return -1;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            bad_type(r, "SCAN", err);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        /* One UNLINK per batch: with appendfsync always, each write
         * command costs a sync. */
        redisReply *keys = r->element[1];
        const char **argv = calloc(keys->elements + 1, sizeof *argv);
        size_t *lens = calloc(keys->elements + 1, sizeof *lens);
        int argc = 0;
        if (argv == NULL || lens == NULL) {
            free(argv);
            free(lens);
            freeReplyObject(r);
            target_fail(err, "nomem", "out of memory");
            return -1;
        }
        argv[argc] = "UNLINK";
        lens[argc++] = 6;
        for (size_t i = 0; i < keys->elements; i++) {
            if (keys->element[i]->type != REDIS_REPLY_STRING)
                continue;
            argv[argc] = keys->element[i]->str;
            lens[argc++] = keys->element[i]->len;
        }
        target_rc st = TARGET_OK;
        if (argc > 1) {
            redisReply *d = redisCommandArgv(rc, argc, argv, lens);
            st = check_reply(rc, d, "UNLINK", err);
            freeReplyObject(d);
        }
        free(argv);
        free(lens);
        if (st != TARGET_OK) {
            freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static int preload(redisContext *rc, uint64_t count, target_err *err)
{
    const uint64_t batch = 10000;
    int64_t at0 = utc_ms() - 3600 * 1000;

    for (uint64_t done = 0; done < count;) {
        uint64_t n = count - done < batch ? count - done : batch;
        char ncount[24], nat[24];
        const char *argv[4 + 2 + TARGET_NAREAS];
        int argc = 0;
        snprintf(ncount, sizeof ncount, "%" PRIu64, n);
        snprintf(nat, sizeof nat, "%" PRId64, at0 + (int64_t)done);
        argv[argc++] = "EVAL";
        argv[argc++] = preload_script;
        argv[argc++] = "0";
        argv[argc++] = ncount;
        argv[argc++] = nat;
        for (int i = 0; i < TARGET_NAREAS; i++)
            argv[argc++] = target_areas[i];
        redisReply *r = redisCommandArgv(rc, argc, argv, NULL);
        if (check_reply(rc, r, "preload", err) != TARGET_OK) {
            freeReplyObject(r);
            return -1;
        }
        if (r->type != REDIS_REPLY_INTEGER) {
            bad_type(r, "preload", err);
            return -1;
        }
        freeReplyObject(r);
        done += n;
    }
    return 0;
}

static void *redis_setup(const target_opts *o, target_err *err)
{
    struct redis_shared *sh = calloc(1, sizeof *sh);
    char aof[16], fsync[16], version[32];
    redisContext *rc = NULL;
    char *end;

    if (sh == NULL) {
        target_fail(err, "nomem", "out of memory");
        return NULL;
    }
    const char *colon = o->server != NULL ? strrchr(o->server, ':') : NULL;
    long port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
    if (colon == NULL || colon == o->server || colon[1] == '\0' || *end != '\0' || port < 1 ||
        port > 65535 || (size_t)(colon - o->server) >= sizeof sh->host) {
        target_fail(err, "usage", "redis: --server HOST:PORT is needed");
        goto fail;
    }
    memcpy(sh->host, o->server, (size_t)(colon - o->server));
    sh->port = (int)port;
    snprintf(sh->area, sizeof sh->area, "%s", o->area ? o->area : target_areas[0]);
    if (target_area_index(sh->area) < 0) {
        target_fail(err, "usage", "--area %s: not an area of the sample catalog", sh->area);
        goto fail;
    }
    if ((rc = redis_open(sh, err)) == NULL || (o->setup && drop_keys(rc, err) < 0) ||
        load_scripts(rc, sh->sha, err) < 0 || preload(rc, o->preload, err) < 0)
        goto fail;
    config_get(rc, "appendonly", aof, sizeof aof);
    config_get(rc, "appendfsync", fsync, sizeof fsync);
    server_version(rc, version, sizeof version);
    snprintf(sh->info, sizeof sh->info,
             "Redis %s, appendonly=%s, appendfsync=%s, one Lua script per operation", version, aof,
             fsync);
    redisFree(rc);
    return sh;
fail:
    redisFree(rc);
    free(sh);
    return NULL;
}

static const char *redis_describe(void *shared)
{
    return ((struct redis_shared *)shared)->info;
}

static target_conn *redis_connect(void *shared, unsigned index, target_err *err)
{
    target_conn *c = calloc(1, sizeof *c);

    if (c == NULL) {
        target_fail(err, "nomem", "out of memory");
        return NULL;
    }
    c->sh = shared;
    memcpy(c->sha, c->sh->sha, sizeof c->sha);
    if ((c->rc = redis_open(c->sh, err)) == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static int redis_reopen(target_conn *c, target_err *err)
{
    redisContext *rc = redis_open(c->sh, err);

    if (rc == NULL)
        return -1;
    redisFree(c->rc);
    c->rc = rc;
    return 0;
}

/* ---- Operations ------------------------------------------------------------- */

static void ticket_key(char *out, size_t len, uint64_t ticket)
{
    unsigned area = (unsigned)(ticket >> 32);

    snprintf(out, len, "hb:t:%s:%" PRIu32, target_areas[area < TARGET_NAREAS ? area : 0],
             (uint32_t)ticket);
}

static target_rc redis_issue(target_conn *c, uint64_t *ticket, target_err *err)
{
    char counter[48], at[24];
    redisReply *r;

    snprintf(counter, sizeof counter, "hb:n:%s", c->sh->area);
    snprintf(at, sizeof at, "%" PRId64, utc_ms());
    const char *keys[1] = {counter}, *args[2] = {c->sh->area, at};
    target_rc rc = eval(c, S_ISSUE, 1, keys, 2, args, &r, err);
    if (rc != TARGET_OK)
        return rc;
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 1 || r->integer > UINT32_MAX)
        return bad_type(r, "ISSUE", err);
    *ticket = (uint64_t)target_area_index(c->sh->area) << 32 | (uint64_t)r->integer;
    freeReplyObject(r);
    return TARGET_OK;
}

static target_rc redis_printed(target_conn *c, uint64_t ticket, target_err *err)
{
    char key[64], waiting[48];
    redisReply *r;

    ticket_key(key, sizeof key, ticket);
    snprintf(waiting, sizeof waiting, "hb:w:%s", c->sh->area);
    const char *keys[2] = {key, waiting}, *args[1] = {key + 5};
    target_rc rc = eval(c, S_PRINTED, 2, keys, 1, args, &r, err);
    if (rc != TARGET_OK)
        return rc;
    if (r->type != REDIS_REPLY_INTEGER)
        return bad_type(r, "PRINTED", err);
    freeReplyObject(r);
    return TARGET_OK;
}

static target_rc redis_call(target_conn *c, uint32_t window, uint64_t *ticket, target_err *err)
{
    char sets[TARGET_NAREAS][48], no[16];
    const char *keys[TARGET_NAREAS];
    redisReply *r;
    char *end;

    for (int i = 0; i < TARGET_NAREAS; i++) {
        snprintf(sets[i], sizeof sets[i], "hb:w:%s", target_areas[i]);
        keys[i] = sets[i];
    }
    snprintf(no, sizeof no, "%u", window);
    const char *args[1] = {no};
    target_rc rc = eval(c, S_CALL, TARGET_NAREAS, keys, 1, args, &r, err);
    if (rc != TARGET_OK)
        return rc;
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return TARGET_EMPTY;
    }
    if (r->type != REDIS_REPLY_STRING)
        return bad_type(r, "CALL_NEXT", err);
    /* "<area>:<n>" */
    char area[32];
    size_t alen = strcspn(r->str, ":");
    int ai = -1;
    if (alen < sizeof area && r->str[alen] == ':') {
        memcpy(area, r->str, alen);
        area[alen] = '\0';
        ai = target_area_index(area);
    }
    unsigned long long n = ai >= 0 ? strtoull(r->str + alen + 1, &end, 10) : 0;
    if (ai < 0 || n == 0 || n > UINT32_MAX || *end != '\0') {
        target_fail(err, "bad_answer", "CALL_NEXT: '%.60s' is not a ticket", r->str);
        freeReplyObject(r);
        return TARGET_FAILED;
    }
    *ticket = (uint64_t)ai << 32 | n;
    freeReplyObject(r);
    return TARGET_OK;
}

static target_rc redis_finish(target_conn *c, uint32_t window, uint64_t ticket, target_err *err)
{
    char key[64];
    redisReply *r;

    ticket_key(key, sizeof key, ticket);
    const char *keys[1] = {key};
    target_rc rc = eval(c, S_FINISH, 1, keys, 0, NULL, &r, err);
    if (rc != TARGET_OK)
        return rc;
    if (r->type != REDIS_REPLY_INTEGER)
        return bad_type(r, "FINISH", err);
    freeReplyObject(r);
    return TARGET_OK;
}

static void redis_disconnect(target_conn *c)
{
    if (c == NULL)
        return;
    redisFree(c->rc);
    free(c);
}

static void redis_teardown(void *shared)
{
    free(shared);
}

const target_ops target_redis = {
    .name = "redis",
    .setup = redis_setup,
    .describe = redis_describe,
    .connect = redis_connect,
    .reopen = redis_reopen,
    .issue = redis_issue,
    .printed = redis_printed,
    .call = redis_call,
    .finish = redis_finish,
    .disconnect = redis_disconnect,
    .teardown = redis_teardown,
};
