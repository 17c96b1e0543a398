/*
 * printer_sim — the in-process "sim" backend: a printer in memory whose
 * conditions the tests (or kioskd --sim) set. printer_sim.h describes what
 * it promises; the worker thread calls print and status while the loop's
 * thread calls printer_sim_set(), so every field below the mutex is read
 * and written with it held.
 */
#include "printer_sim.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sim_job {
    uint8_t *data;
    size_t len;
};

struct printer_sim {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* signalled when the flags change */
    uint32_t flags;         /* PRINTER_SIM_* */
    bool cut_next;          /* run out of paper in the middle of the next job */
    struct sim_job *jobs;   /* printed jobs, in order; the bytes never move */
    size_t njobs, cap;
};

static void sim_close(void *be)
{
    printer_sim *s = be;

    if (s == NULL)
        return;
    for (size_t i = 0; i < s->njobs; i++)
        free(s->jobs[i].data);
    free(s->jobs);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int sim_open(const printer_conf *conf, void **be, char *err, size_t errlen)
{
    printer_sim *s = calloc(1, sizeof *s);
    pthread_condattr_t attr;
    int rc;

    if (s == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "sim printer: out of memory");
        return -1;
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        errno = ENOMEM;
        if (err != NULL)
            snprintf(err, errlen, "sim printer: cannot make a mutex");
        return -1;
    }
    /* Waits are on the monotonic clock, so a wall clock step changes no
     * timeout. */
    rc = pthread_condattr_init(&attr);
    if (rc == 0) {
        rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (rc == 0)
            rc = pthread_cond_init(&s->changed, &attr);
        pthread_condattr_destroy(&attr);
    }
    if (rc != 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        errno = rc;
        if (err != NULL)
            snprintf(err, errlen, "sim printer: cannot make a condition variable");
        return -1;
    }
    s->flags = conf->sim.flags;
    *be = s;
    return 0;
}

static struct timespec deadline_after(int ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* With the lock held: wait while the sim is silent, at most timeout_ms.
 * True if it answers (silent cleared or never set), false on timeout. */
static bool wait_not_silent(printer_sim *s, int timeout_ms)
{
    struct timespec until = deadline_after(timeout_ms);

    while (s->flags & PRINTER_SIM_SILENT) {
        if (pthread_cond_timedwait(&s->changed, &s->lock, &until) == ETIMEDOUT)
            return (s->flags & PRINTER_SIM_SILENT) == 0;
    }
    return true;
}

/* With the lock held: keep data[0..len) as a printed job. */
static printer_result keep_job(printer_sim *s, const uint8_t *data, size_t len, char *detail,
                               size_t detaillen)
{
    uint8_t *copy;

    if (s->njobs == s->cap) {
        size_t cap = s->cap == 0 ? 16 : s->cap * 2;
        struct sim_job *jobs = realloc(s->jobs, cap * sizeof *jobs);

        if (jobs == NULL) {
            snprintf(detail, detaillen, "sim printer: out of memory keeping the job");
            return PRINTER_IO;
        }
        s->jobs = jobs;
        s->cap = cap;
    }
    copy = malloc(len);
    if (copy == NULL) {
        snprintf(detail, detaillen, "sim printer: out of memory keeping the job");
        return PRINTER_IO;
    }
    memcpy(copy, data, len);
    s->jobs[s->njobs].data = copy;
    s->jobs[s->njobs].len = len;
    s->njobs++;
    return PRINTER_OK;
}

/* Like a real printer, the sim accepts the bytes whatever its condition and
 * prints only while it can; the status query after the job tells. */
static printer_result sim_print(void *be, const uint8_t *data, size_t len, int timeout_ms,
                                char *detail, size_t detaillen)
{
    printer_sim *s = be;
    printer_result r = PRINTER_OK;
    const uint32_t stop = PRINTER_SIM_PAPER_OUT | PRINTER_SIM_COVER_OPEN | PRINTER_SIM_OFFLINE;

    pthread_mutex_lock(&s->lock);
    if (!wait_not_silent(s, timeout_ms)) {
        snprintf(detail, detaillen, "sim printer: silent, job not accepted within %d ms",
                 timeout_ms);
        r = PRINTER_TIMEOUT;
    } else if ((s->flags & stop) == 0) {
        size_t printed = len;

        if (s->cut_next) {
            printed = len / 2;
            s->cut_next = false;
            s->flags |= PRINTER_SIM_PAPER_OUT;
        }
        if (printed > 0)
            r = keep_job(s, data, printed, detail, detaillen);
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* The DLE EOT 1-4 answers of a printer in this condition (the table of
 * printersim in docs/printer.md), parsed as the usb backend parses them. */
static printer_result sim_status(void *be, escpos_status *out, int timeout_ms, char *detail,
                                 size_t detaillen)
{
    printer_sim *s = be;
    uint32_t f;
    uint8_t answer[4] = {0x12, 0x12, 0x12, 0x12};

    pthread_mutex_lock(&s->lock);
    if (!wait_not_silent(s, timeout_ms)) {
        pthread_mutex_unlock(&s->lock);
        snprintf(detail, detaillen, "sim printer: silent, no status answer within %d ms",
                 timeout_ms);
        return PRINTER_TIMEOUT;
    }
    f = s->flags;
    pthread_mutex_unlock(&s->lock);

    if (f & (PRINTER_SIM_PAPER_OUT | PRINTER_SIM_COVER_OPEN | PRINTER_SIM_OFFLINE))
        answer[0] |= 0x08;
    if (f & PRINTER_SIM_COVER_OPEN)
        answer[1] |= 0x04;
    if (f & PRINTER_SIM_PAPER_OUT) {
        answer[1] |= 0x20;
        answer[3] |= 0x60;
    } else if (f & PRINTER_SIM_NEAR_END) {
        answer[3] |= 0x0c;
    }
    *out = (escpos_status){0, 0};
    for (int n = 1; n <= 4; n++) {
        escpos_status one;

        if (escpos_status_dle(n, answer[n - 1], &one) != 0) {
            snprintf(detail, detaillen, "sim printer: bad status byte %02x", answer[n - 1]);
            return PRINTER_IO;
        }
        escpos_status_merge(out, &one);
    }
    return PRINTER_OK;
}

static const struct printer_ops sim_ops = {
    .name = "sim",
    .open = sim_open,
    .print = sim_print,
    .status = sim_status,
    .close = sim_close,
};

const struct printer_ops *printer_sim_backend(void)
{
    return &sim_ops;
}

printer_sim *printer_sim_of(const printer *p)
{
    return printer_backend_data(p, &sim_ops);
}

void printer_sim_set(printer_sim *s, uint32_t flags)
{
    pthread_mutex_lock(&s->lock);
    s->flags = flags;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

uint32_t printer_sim_flags(printer_sim *s)
{
    pthread_mutex_lock(&s->lock);
    uint32_t f = s->flags;
    pthread_mutex_unlock(&s->lock);
    return f;
}

void printer_sim_paper_out_mid_job(printer_sim *s)
{
    pthread_mutex_lock(&s->lock);
    s->cut_next = true;
    pthread_mutex_unlock(&s->lock);
}

size_t printer_sim_job_count(printer_sim *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->njobs;
    pthread_mutex_unlock(&s->lock);
    return n;
}

bool printer_sim_job(printer_sim *s, size_t i, const uint8_t **data, size_t *len)
{
    bool found;

    pthread_mutex_lock(&s->lock);
    found = i < s->njobs;
    if (found) {
        *data = s->jobs[i].data;
        *len = s->jobs[i].len;
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}
