/*
 * reader_sim — the "sim" backend: frames to a samdev and its answers back,
 * with a delay or none (reader_sim.h has the contract). Answers wait in
 * an output buffer until they are due; recv() sleeps on a condition
 * variable (monotonic clock) until then, or until its timeout.
 */
#include "reader_sim.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clk.h"
#include "idcard_privacy.h"

#define OUT_CAP (4 * SAMDEV_REPLY_MAX)

struct reader_sim {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* answers queued, or the sim changed */
    samdev *dev;
    bool silent;
    int delay_ms;
    uint8_t out[OUT_CAP]; /* answers not yet received by the driver */
    size_t outlen;
    int64_t due; /* monotonic ms at which out may be received */
};

static void sim_close(void *be)
{
    reader_sim *s = be;

    if (s == NULL)
        return;
    samdev_free(s->dev);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    idcard_privacy_wipe(s, sizeof *s);
    free(s);
}

static int sim_open(const reader_conf *conf, void **be, char *err, size_t errlen)
{
    reader_sim *s = calloc(1, sizeof *s);
    pthread_condattr_t attr;
    int rc;

    if (s == NULL || (s->dev = samdev_new(conf->sim.card)) == NULL) {
        int e = errno;

        free(s);
        if (err != NULL)
            snprintf(err, errlen, "sim card reader: %s", strerror(e));
        errno = e;
        return -1;
    }
    rc = pthread_mutex_init(&s->lock, NULL);
    if (rc == 0) {
        rc = pthread_condattr_init(&attr);
        if (rc == 0) {
            rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
            if (rc == 0)
                rc = pthread_cond_init(&s->changed, &attr);
            pthread_condattr_destroy(&attr);
        }
        if (rc != 0)
            pthread_mutex_destroy(&s->lock);
    }
    if (rc != 0) {
        samdev_free(s->dev);
        free(s);
        if (err != NULL)
            snprintf(err, errlen, "sim card reader: %s", strerror(rc));
        errno = rc;
        return -1;
    }
    *be = s;
    return 0;
}

static idcard_result sim_send(void *be, const uint8_t *frame, size_t len, int timeout_ms,
                              char *detail, size_t detaillen)
{
    reader_sim *s = be;
    uint8_t reply[SAMDEV_REPLY_MAX];
    size_t n;

    (void)timeout_ms;
    pthread_mutex_lock(&s->lock);
    if (samdev_push(s->dev, frame, len) != 0) {
        pthread_mutex_unlock(&s->lock);
        snprintf(detail, detaillen, "sim card reader: input overrun");
        return IDCARD_IO;
    }
    while ((n = samdev_reply(s->dev, reply, sizeof reply)) > 0) {
        if (s->silent || s->outlen + n > OUT_CAP)
            continue;
        memcpy(s->out + s->outlen, reply, n);
        s->outlen += n;
        s->due = clk_mono_ms() + s->delay_ms;
    }
    idcard_privacy_wipe(reply, sizeof reply);
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    return IDCARD_OK;
}

static struct timespec ts_of_ms(int64_t ms)
{
    return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
}

static idcard_result sim_recv(void *be, uint8_t *buf, size_t cap, size_t *got, int timeout_ms,
                              char *detail, size_t detaillen)
{
    reader_sim *s = be;
    int64_t until = clk_mono_ms() + timeout_ms;
    size_t n;

    (void)detail;
    (void)detaillen;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        int64_t now = clk_mono_ms(), wake;
        struct timespec ts;

        if (s->outlen > 0 && now >= s->due)
            break;
        if (now >= until) {
            pthread_mutex_unlock(&s->lock);
            *got = 0;
            return IDCARD_NO_ANSWER;
        }
        wake = s->outlen > 0 && s->due < until ? s->due : until;
        ts = ts_of_ms(wake);
        pthread_cond_timedwait(&s->changed, &s->lock, &ts);
    }
    n = s->outlen < cap ? s->outlen : cap;
    memcpy(buf, s->out, n);
    memmove(s->out, s->out + n, s->outlen - n);
    idcard_privacy_wipe(s->out + s->outlen - n, n);
    s->outlen -= n;
    pthread_mutex_unlock(&s->lock);
    *got = n;
    return IDCARD_OK;
}

/* Answers still in flight are dropped, as tcflush drops a tty's input. */
static void sim_flush(void *be)
{
    reader_sim *s = be;

    pthread_mutex_lock(&s->lock);
    idcard_privacy_wipe(s->out, s->outlen);
    s->outlen = 0;
    pthread_mutex_unlock(&s->lock);
}

static const struct reader_ops sim_ops = {
    .name = "sim",
    .open = sim_open,
    .send = sim_send,
    .recv = sim_recv,
    .flush = sim_flush,
    .close = sim_close,
};

const struct reader_ops *reader_sim_backend(void)
{
    return &sim_ops;
}

reader_sim *reader_sim_of(const reader *r)
{
    return reader_backend_data(r, &sim_ops);
}

void reader_sim_set_card(reader_sim *s, samdev_card c)
{
    pthread_mutex_lock(&s->lock);
    samdev_set_card(s->dev, c);
    pthread_mutex_unlock(&s->lock);
}

void reader_sim_set_fault(reader_sim *s, samdev_fault f, bool any)
{
    pthread_mutex_lock(&s->lock);
    samdev_set_fault(s->dev, f, any);
    pthread_mutex_unlock(&s->lock);
}

void reader_sim_set_silent(reader_sim *s, bool silent)
{
    pthread_mutex_lock(&s->lock);
    s->silent = silent;
    pthread_mutex_unlock(&s->lock);
}

void reader_sim_set_delay(reader_sim *s, int ms)
{
    pthread_mutex_lock(&s->lock);
    s->delay_ms = ms > 0 ? ms : 0;
    pthread_mutex_unlock(&s->lock);
}

unsigned long reader_sim_commands(reader_sim *s)
{
    pthread_mutex_lock(&s->lock);
    unsigned long n = samdev_commands(s->dev);
    pthread_mutex_unlock(&s->lock);
    return n;
}
