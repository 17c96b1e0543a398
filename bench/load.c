/*
 * load — see load.h.
 *
 * The phase is one atomic integer the main thread moves forward and the
 * workers read between operations. SIGINT and SIGTERM are blocked in the
 * workers (they inherit the mask the main thread sets before creating
 * them), so only the main thread sees them; its handler only sets a flag.
 */
#include "load.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"

enum phase { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_STOP };

static atomic_int phase;
static volatile sig_atomic_t interrupted;

enum op { OP_ISSUE, OP_PRINTED, OP_CALL, OP_FINISH };

struct errors {
    load_error e[LOAD_MAX_KINDS];
    size_t n;
};

/* Connection counts the main thread waits on. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned connected, failed;
    target_err first; /* the first connection failure */
};

struct worker {
    pthread_t thread;
    bool started;
    const target_ops *ops;
    void *shared;
    struct gate *gate;
    unsigned index;
    uint32_t window; /* 0: a kiosk */
    target_conn *conn;
    lat *issue, *call, *finish;
    uint64_t empty;
    struct errors errors;
};

/* Phases only move forward (the diagram in load.h). */
static void set_phase(enum phase next)
{
    int now = atomic_load(&phase);

    assert(next == PH_CONNECT || (int)next >= now);
    (void)now;
    atomic_store(&phase, next);
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Sleep seconds, returning early on a signal; false if interrupted. */
static bool sleep_phase(double seconds)
{
    int64_t until = lat_now_ns() + (int64_t)(seconds * 1e9);

    while (!interrupted) {
        int64_t left = until - lat_now_ns();
        if (left <= 0)
            return true;
        sleep_ms(left > 50000000 ? 50 : left / 1000000 + 1);
    }
    return false;
}

/* Count count failures of kind (first message msg) in t; kinds past the
 * table's room go under "other". */
static void errors_add(struct errors *t, const char *kind, const char *msg, uint64_t count)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        if (strcmp(t->e[i].kind, kind) == 0)
            break;
    if (i == t->n) {
        if (t->n == LOAD_MAX_KINDS - 1) {
            for (i = 0; i < t->n; i++)
                if (strcmp(t->e[i].kind, "other") == 0)
                    break;
            kind = "other";
        }
        if (i == t->n) {
            t->n++;
            snprintf(t->e[i].kind, sizeof t->e[i].kind, "%s", kind);
            snprintf(t->e[i].first, sizeof t->e[i].first, "%s", msg);
        }
    }
    t->e[i].count += count;
}

static void note_error(struct worker *w, const target_err *e)
{
    errors_add(&w->errors, e->kind[0] ? e->kind : "unknown", e->msg, 1);
}

static bool measuring(void)
{
    return atomic_load(&phase) == PH_MEASURE;
}

/* One operation; a lost connection is reopened (retrying every 100 ms
 * until the run stops) and the operation repeated. *reopened tells that
 * happened, so its time is not recorded. */
static target_rc run_op(struct worker *w, enum op op, uint64_t *ticket, bool *reopened)
{
    for (;;) {
        target_err e = {{0}, {0}};
        target_rc rc;
        switch (op) {
        case OP_ISSUE:
            rc = w->ops->issue(w->conn, ticket, &e);
            break;
        case OP_PRINTED:
            rc = w->ops->printed(w->conn, *ticket, &e);
            break;
        case OP_CALL:
            rc = w->ops->call(w->conn, w->window, ticket, &e);
            break;
        default:
            rc = w->ops->finish(w->conn, w->window, *ticket, &e);
            break;
        }
        if (rc == TARGET_OK || rc == TARGET_EMPTY)
            return rc;
        note_error(w, &e);
        if (rc == TARGET_FAILED)
            return rc;
        *reopened = true;
        for (;;) {
            if (atomic_load(&phase) == PH_STOP)
                return TARGET_CLOSED;
            target_err re = {{0}, {0}};
            if (w->ops->reopen(w->conn, &re) == 0)
                break;
            note_error(w, &re);
            sleep_ms(100);
        }
    }
}

static void kiosk_turn(struct worker *w)
{
    bool reopened = false, timed = measuring();
    int64_t t0 = lat_now_ns();
    uint64_t ticket = 0;

    target_rc rc = run_op(w, OP_ISSUE, &ticket, &reopened);
    if (rc == TARGET_OK)
        rc = run_op(w, OP_PRINTED, &ticket, &reopened);
    if (rc == TARGET_OK) {
        if (timed && !reopened && measuring())
            lat_record(w->issue, lat_now_ns() - t0);
    } else if (rc == TARGET_FAILED) {
        sleep_ms(1); /* a refusal that persists must not spin */
    }
}

static void window_turn(struct worker *w)
{
    bool reopened = false, timed = measuring();
    int64_t t0 = lat_now_ns();
    uint64_t ticket = 0;

    target_rc rc = run_op(w, OP_CALL, &ticket, &reopened);
    if (rc == TARGET_EMPTY) {
        if (timed && measuring())
            w->empty++;
        sleep_ms(1);
        return;
    }
    if (rc != TARGET_OK) {
        if (rc == TARGET_FAILED)
            sleep_ms(1);
        return;
    }
    int64_t t1 = lat_now_ns();
    /* A finish is timed with its call, so the two counts match. */
    timed = timed && !reopened && measuring();
    if (timed)
        lat_record(w->call, t1 - t0);
    rc = run_op(w, OP_FINISH, &ticket, &reopened);
    if (rc == TARGET_OK && timed && !reopened && measuring())
        lat_record(w->finish, lat_now_ns() - t1);
    else if (rc == TARGET_FAILED)
        sleep_ms(1);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    target_err e = {{0}, {0}};

    w->conn = w->ops->connect(w->shared, w->index, &e);
    pthread_mutex_lock(&w->gate->mu);
    if (w->conn != NULL) {
        w->gate->connected++;
    } else if (w->gate->failed++ == 0) {
        w->gate->first = e;
    }
    pthread_cond_signal(&w->gate->cv);
    pthread_mutex_unlock(&w->gate->mu);
    if (w->conn == NULL)
        return NULL;

    while (atomic_load(&phase) == PH_CONNECT)
        sleep_ms(1);
    while (atomic_load(&phase) != PH_STOP) {
        if (w->window == 0)
            kiosk_turn(w);
        else
            window_turn(w);
    }
    w->ops->disconnect(w->conn);
    w->conn = NULL;
    return NULL;
}

static void free_workers(struct worker *ws, size_t n)
{
    for (size_t i = 0; ws != NULL && i < n; i++) {
        lat_free(ws[i].issue);
        lat_free(ws[i].call);
        lat_free(ws[i].finish);
    }
    free(ws);
}

/* Start the workers with SIGINT/SIGTERM blocked; how many started. */
static size_t start_workers(struct worker *ws, size_t n)
{
    sigset_t block, old;
    size_t started = 0;

    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (; started < n; started++) {
        if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0)
            break;
        ws[started].started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return started;
}

/* Wait until every started worker has connected or failed (or a signal). */
static void wait_connected(struct gate *g, size_t n)
{
    pthread_mutex_lock(&g->mu);
    while (g->connected + g->failed < n && !interrupted) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
}

int load_run(const target_ops *ops, const target_opts *o, double warmup_s, double duration_s,
             pid_t pid, load_result *res, char *err, size_t errlen)
{
    size_t n = (size_t)o->kiosks + o->windows, started = 0;
    struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, {{0}, {0}}};
    struct sigaction sa, old_int, old_term;
    struct worker *ws = NULL;
    target_err e = {{0}, {0}};
    void *shared = NULL;
    int rc = -1;

    memset(res, 0, sizeof *res);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    set_phase(PH_CONNECT);

    res->issue = lat_new();
    res->call = lat_new();
    res->finish = lat_new();
    ws = calloc(n ? n : 1, sizeof *ws);
    if (res->issue == NULL || res->call == NULL || res->finish == NULL || ws == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct worker *w = &ws[i];
        w->ops = ops;
        w->gate = &gate;
        w->index = (unsigned)i;
        w->window = i < o->kiosks ? 0 : (uint32_t)(i - o->kiosks + 1);
        w->issue = lat_new();
        w->call = lat_new();
        w->finish = lat_new();
        if (w->issue == NULL || w->call == NULL || w->finish == NULL) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    if ((shared = ops->setup(o, &e)) == NULL) {
        snprintf(err, errlen, "%s: %s", ops->name, e.msg);
        goto out;
    }
    snprintf(res->describe, sizeof res->describe, "%s", ops->describe(shared));
    for (size_t i = 0; i < n; i++)
        ws[i].shared = shared;

    started = start_workers(ws, n);
    wait_connected(&gate, started);
    if (started < n || gate.failed > 0 || interrupted) {
        set_phase(PH_STOP);
        for (size_t i = 0; i < started; i++)
            pthread_join(ws[i].thread, NULL);
        if (started < n)
            snprintf(err, errlen, "cannot start thread %zu of %zu", started + 1, n);
        else if (gate.failed > 0)
            snprintf(err, errlen, "%u of %zu connections failed; the first: %s", gate.failed, n,
                     gate.first.msg);
        else
            snprintf(err, errlen, "interrupted while connecting");
        started = 0;
        goto out;
    }

    set_phase(PH_WARMUP);
    if (sleep_phase(warmup_s)) {
        set_phase(PH_MEASURE);
        int64_t t0 = lat_now_ns();
        sleep_phase(duration_s);
        res->duration_s = (double)(lat_now_ns() - t0) / 1e9;
        if (pid > 0)
            res->have_proc = probe_process(pid, &res->rss_kib, &res->fds, res->proc_error,
                                           sizeof res->proc_error) == 0;
    }
    set_phase(PH_STOP);
    res->interrupted = interrupted != 0;
    struct errors all = {0};
    for (size_t i = 0; i < started; i++) {
        pthread_join(ws[i].thread, NULL);
        lat_merge(res->issue, ws[i].issue);
        lat_merge(res->call, ws[i].call);
        lat_merge(res->finish, ws[i].finish);
        res->empty += ws[i].empty;
        for (size_t k = 0; k < ws[i].errors.n; k++)
            errors_add(&all, ws[i].errors.e[k].kind, ws[i].errors.e[k].first,
                       ws[i].errors.e[k].count);
    }
    started = 0;
    memcpy(res->errors, all.e, sizeof all.e);
    res->nerrors = all.n;
    rc = 0;
out:
    if (shared != NULL)
        ops->teardown(shared);
    free_workers(ws, n);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc < 0)
        load_result_release(res);
    return rc;
}

void load_result_release(load_result *res)
{
    lat_free(res->issue);
    lat_free(res->call);
    lat_free(res->finish);
    res->issue = res->call = res->finish = NULL;
}
