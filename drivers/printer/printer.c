/*
 * printer — the printer interface: a backend chosen by configuration, one
 * worker thread that makes the backend's blocking calls, and the results
 * handed back to the loop's thread. printer.h has the contract.
 *
 * Threads. The loop's thread owns the printer: printer_new, printer_submit,
 * printer_free and every callback run there. The worker takes jobs from the
 * queue, runs them (status, print, status) and puts what it learns in the
 * outbox (common/outbox.h): a done message per job and a message per
 * state change, whose callbacks run on the loop's thread in that order.
 * The queue and the flags next to it are guarded by the mutex; the worker
 * sleeps on the condition variable until a job arrives, the poll interval
 * passes or the printer is freed.
 *
 * A job's life, checked by the asserts on job->st:
 *
 *     QUEUED --worker takes it--> RUNNING --result known--> DONE
 *     QUEUED --printer_free------------------------------> DONE (PRINTER_CLOSED)
 *     DONE --its done callback ran--> freed
 *
 * Nothing else frees a job, so every job submitted gets exactly one done
 * callback.
 */
#include "printer.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clk.h"
#include "conf.h"
#include "outbox.h"
#include "printer_cups.h"
#include "printer_net.h"
#include "printer_sim.h"
#include "printer_usb.h"

#define DETAIL_MAX 256

/* The backend table: one entry per printer_backend, in that order. */
typedef const struct printer_ops *backend_fn(void);
static backend_fn *const backends[PRINTER_BACKEND_COUNT] = {
    [PRINTER_BACKEND_SIM] = printer_sim_backend,
    [PRINTER_BACKEND_CUPS] = printer_cups_backend,
    [PRINTER_BACKEND_USB] = printer_usb_backend,
    [PRINTER_BACKEND_NET] = printer_net_backend,
};

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

enum msg_kind { MSG_DONE, MSG_STATE };

/* An outbox entry. A done message is the first member of its job. */
struct msg {
    outbox_msg link; /* first: the outbox carries &msg->link */
    enum msg_kind kind;
    printer_result result; /* MSG_DONE */
    char detail[DETAIL_MAX];
    escpos_status state; /* MSG_STATE */
    uint32_t events;
};

struct job {
    struct msg msg; /* first: the outbox holds &job->msg */
    uint64_t id;
    enum job_state st;
    uint8_t *data;
    size_t len;
    struct job *next; /* in the queue */
};

struct printer {
    ev_loop *loop;
    printer_conf conf;
    const struct printer_ops *ops;
    void *be;
    printer_callbacks cb;
    void *arg;
    pthread_t worker;

    pthread_mutex_t lock;
    pthread_cond_t wake;         /* the worker: a job, or stop */
    struct job *q_head, *q_tail; /* guarded: jobs not yet taken */
    bool stopping;               /* guarded: the worker must return */
    outbox *out;                 /* results not yet delivered */

    /* Loop thread only. */
    uint64_t last_id;
    bool in_callback; /* one of our callbacks is running */
    bool closing;     /* printer_free is running: no more jobs */

    /* Worker only. */
    escpos_status reported; /* the last state put in the outbox */
    bool have_reported;
};

const char *printer_strerror(printer_result r)
{
    switch (r) {
#define PRINTER_CASE_(name, n, text)                                                               \
    case name:                                                                                     \
        return text;
        PRINTER_RESULTS(PRINTER_CASE_)
#undef PRINTER_CASE_
    }
    return "unknown printer result";
}

void printer_conf_init(printer_conf *conf)
{
    *conf = (printer_conf){
        .backend = PRINTER_BACKEND_SIM,
        .job_timeout_ms = 10000,
        .status_timeout_ms = 2000,
        .poll_ms = 1000,
    };
}

const char *printer_backend_name(printer_backend b)
{
    if ((int)b < 0 || b >= PRINTER_BACKEND_COUNT)
        return NULL;
    return backends[b]()->name;
}

static const char *backend_name_at(int b)
{
    return backends[b]()->name;
}

int printer_conf_backend(printer_conf *conf, const char *name, char *err, size_t errlen)
{
    int b;

    if (conf == NULL || name == NULL) {
        errno = EINVAL;
        return -1;
    }
    b = conf_pick(backend_name_at, PRINTER_BACKEND_COUNT, name, "printer backend", err, errlen);
    if (b < 0)
        return -1;
    conf->backend = (printer_backend)b;
    return 0;
}

void *printer_backend_data(const printer *p, const struct printer_ops *ops)
{
    return p != NULL && p->ops == ops ? p->be : NULL;
}

/* ---- loop thread: delivering the outbox ---- */

/* Run the callback of each message of list, in order, and free them. */
static void deliver(printer *p, outbox_msg *list)
{
    while (list != NULL) {
        struct msg *m = (struct msg *)list;

        list = list->next;
        p->in_callback = true;
        if (m->kind == MSG_DONE) {
            struct job *job = (struct job *)m;

            assert(job->st == JOB_DONE);
            p->cb.done(p, job->id, m->result, m->detail, p->arg);
            free(job->data);
            free(job);
        } else {
            if (p->cb.state != NULL)
                p->cb.state(p, &m->state, m->events, p->arg);
            free(m);
        }
        p->in_callback = false;
    }
}

static void deliver_outbox(void *arg, outbox_msg *list)
{
    deliver(arg, list);
}

/* ---- worker thread ---- */

/* A status answer: report it if it differs from the last one reported.
 * If the message cannot be allocated the change is reported by a later
 * answer, against the state the loop last heard of. */
static void state_seen(printer *p, const escpos_status *st)
{
    static const escpos_status none = {0, 0};
    const escpos_status *before = p->have_reported ? &p->reported : &none;
    struct msg *m;

    if (p->have_reported && st->known == before->known && st->flags == before->flags)
        return;
    m = calloc(1, sizeof *m);
    if (m == NULL)
        return;
    m->kind = MSG_STATE;
    m->state = *st;
    m->events = escpos_status_events(before, st);
    p->reported = *st;
    p->have_reported = true;
    outbox_push(p->out, &m->link);
}

/* The printer did not answer a status query: it counts as offline. */
static void state_unanswered(printer *p)
{
    escpos_status st = p->have_reported ? p->reported : (escpos_status){0, 0};

    st.known |= ESCPOS_ST_OFFLINE;
    st.flags |= ESCPOS_ST_OFFLINE;
    state_seen(p, &st);
}

/* PRINTER_OK if st lets a ticket print, else the result that says why
 * not, with a short reason in *why. */
static printer_result blocked(const escpos_status *st, const char **why)
{
    if (st->flags & (ESCPOS_ST_PAPER_OUT | ESCPOS_ST_PAPER_STOP)) {
        *why = "paper out";
        return PRINTER_PAPER_OUT;
    }
    if (st->flags & ESCPOS_ST_COVER_OPEN) {
        *why = "cover open";
        return PRINTER_COVER_OPEN;
    }
    if (st->flags & ESCPOS_ST_OFFLINE) {
        *why = "offline";
        return PRINTER_OFFLINE;
    }
    if (st->flags & ESCPOS_ST_BLOCKING) {
        *why = "printer error (cutter, head or mechanism)";
        return PRINTER_OFFLINE;
    }
    return PRINTER_OK;
}

__attribute__((format(printf, 3, 4))) static void finish(printer *p, struct job *job,
                                                         const char *fmt, ...)
{
    va_list ap;

    assert(job->st == JOB_RUNNING);
    va_start(ap, fmt);
    vsnprintf(job->msg.detail, sizeof job->msg.detail, fmt, ap);
    va_end(ap);
    job->st = JOB_DONE;
    job->msg.kind = MSG_DONE;
    outbox_push(p->out, &job->msg.link);
}

/* Check, print, check again. Sets job->msg.result and hands the job on. */
static void run_job(printer *p, struct job *job)
{
    char d[DETAIL_MAX / 2] = "";
    escpos_status st;
    const char *why = "";
    printer_result r;

    r = p->ops->status(p->be, &st, p->conf.status_timeout_ms, d, sizeof d);
    if (r != PRINTER_OK) {
        state_unanswered(p);
        job->msg.result = r;
        finish(p, job, "not printed: no status before the job (%s)", d);
        return;
    }
    state_seen(p, &st);
    r = blocked(&st, &why);
    if (r != PRINTER_OK) {
        job->msg.result = r;
        finish(p, job, "not printed: %s", why);
        return;
    }

    r = p->ops->print(p->be, job->data, job->len, p->conf.job_timeout_ms, d, sizeof d);
    if (r != PRINTER_OK) {
        /* Gone, hung or broken mid-job: the kiosk hears of it now, not at
         * the next poll. */
        if (r == PRINTER_REMOVED || r == PRINTER_TIMEOUT || r == PRINTER_IO)
            state_unanswered(p);
        job->msg.result = r;
        finish(p, job, "%s: the ticket may be incomplete", d);
        return;
    }

    r = p->ops->status(p->be, &st, p->conf.status_timeout_ms, d, sizeof d);
    if (r != PRINTER_OK) {
        state_unanswered(p);
        job->msg.result = r;
        finish(p, job, "sent, but no status after the job (%s): the ticket may be incomplete", d);
        return;
    }
    state_seen(p, &st);
    r = blocked(&st, &why);
    job->msg.result = r;
    if (r != PRINTER_OK)
        finish(p, job, "%s during the job: the ticket may be incomplete", why);
    else
        finish(p, job, "%s", printer_strerror(PRINTER_OK));
}

static void poll_status(printer *p)
{
    char d[DETAIL_MAX / 2];
    escpos_status st;

    if (p->ops->status(p->be, &st, p->conf.status_timeout_ms, d, sizeof d) == PRINTER_OK)
        state_seen(p, &st);
    else
        state_unanswered(p);
}

static void *worker_main(void *arg)
{
    printer *p = arg;
    struct timespec next_poll = clk_mono_after(0);

    pthread_mutex_lock(&p->lock);
    for (;;) {
        int rc = 0;

        /* A drain that could not be posted (ENOMEM) is posted now. */
        outbox_retry(p->out);
        while (!p->stopping && p->q_head == NULL && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&p->wake, &p->lock, &next_poll);
        if (p->stopping)
            break;
        if (p->q_head != NULL) {
            struct job *job = p->q_head;

            p->q_head = job->next;
            if (p->q_head == NULL)
                p->q_tail = NULL;
            assert(job->st == JOB_QUEUED);
            job->st = JOB_RUNNING;
            pthread_mutex_unlock(&p->lock);
            run_job(p, job);
        } else {
            pthread_mutex_unlock(&p->lock);
            poll_status(p);
        }
        next_poll = clk_mono_after(p->conf.poll_ms);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- loop thread: the public functions ---- */

printer *printer_new(ev_loop *loop, const printer_conf *conf, const printer_callbacks *cb,
                     void *arg, char *err, size_t errlen)
{
    printer *p;
    pthread_condattr_t attr;
    int rc;

    if (loop == NULL || conf == NULL || cb == NULL || cb->done == NULL || (int)conf->backend < 0 ||
        conf->backend >= PRINTER_BACKEND_COUNT || conf->job_timeout_ms < 1 ||
        conf->status_timeout_ms < 1 || conf->poll_ms < 1) {
        if (err != NULL)
            snprintf(err, errlen, "printer: invalid arguments or configuration");
        errno = EINVAL;
        return NULL;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "printer: out of memory");
        return NULL;
    }
    p->loop = loop;
    p->conf = *conf;
    p->ops = backends[conf->backend]();
    p->cb = *cb;
    p->arg = arg;
    if (p->ops->open(conf, &p->be, err, errlen) != 0) {
        int e = errno;

        free(p);
        errno = e;
        return NULL;
    }
    if ((p->out = outbox_new(loop, deliver_outbox, p)) == NULL) {
        rc = errno;
        goto fail_backend;
    }
    rc = pthread_mutex_init(&p->lock, NULL);
    if (rc != 0)
        goto fail_outbox;
    rc = pthread_condattr_init(&attr);
    if (rc != 0)
        goto fail_mutex;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&p->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        goto fail_mutex;
    rc = pthread_create(&p->worker, NULL, worker_main, p);
    if (rc != 0)
        goto fail_cond;
    return p;

fail_cond:
    pthread_cond_destroy(&p->wake);
fail_mutex:
    pthread_mutex_destroy(&p->lock);
fail_outbox:
    outbox_close(p->out);
fail_backend:
    p->ops->close(p->be);
    free(p);
    if (err != NULL)
        snprintf(err, errlen, "printer: cannot start the worker: %s", strerror(rc));
    errno = rc;
    return NULL;
}

int printer_submit(printer *p, const uint8_t *data, size_t len, uint64_t *job_id)
{
    struct job *job;

    if (p == NULL || data == NULL || len == 0) {
        errno = EINVAL;
        return -1;
    }
    if (p->closing) {
        errno = ESHUTDOWN;
        return -1;
    }
    job = calloc(1, sizeof *job);
    if (job == NULL)
        return -1;
    job->data = malloc(len);
    if (job->data == NULL) {
        free(job);
        return -1;
    }
    memcpy(job->data, data, len);
    job->len = len;
    job->id = ++p->last_id;
    job->st = JOB_QUEUED;

    pthread_mutex_lock(&p->lock);
    if (p->q_tail != NULL)
        p->q_tail->next = job;
    else
        p->q_head = job;
    p->q_tail = job;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    if (job_id != NULL)
        *job_id = job->id;
    return 0;
}

void printer_free(printer *p)
{
    outbox_msg *list;
    struct job *queued;

    if (p == NULL)
        return;
    assert(!p->in_callback && "printer_free from one of the printer's own callbacks");
    assert(!p->closing);
    p->closing = true;

    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->worker, NULL);

    /* The worker is gone: what it finished is delivered first (those jobs
     * came first), then every job it never took is closed, in order. */
    list = outbox_close(p->out);
    queued = p->q_head;
    p->q_head = p->q_tail = NULL;
    deliver(p, list);
    while (queued != NULL) {
        struct job *job = queued;

        queued = job->next;
        assert(job->st == JOB_QUEUED);
        job->st = JOB_DONE;
        job->msg.kind = MSG_DONE;
        job->msg.result = PRINTER_CLOSED;
        snprintf(job->msg.detail, sizeof job->msg.detail,
                 "printer closed before the job was printed");
        job->msg.link.next = NULL;
        deliver(p, &job->msg.link);
    }

    p->ops->close(p->be);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
