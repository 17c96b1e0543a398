/*
 * webhook — see webhook.h. The loop's side picks the next delivery and
 * handles the result; the thread only runs curl_easy_perform.
 */
#include "webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "log.h"
#include "outbox.h"

#define POLL_MS        200   /* looking for a new delivery */
#define BACKOFF_MIN_MS 1000  /* the first pause after a failure */
#define BACKOFF_MAX_MS 60000 /* pauses double up to this */
#define LOG_EVERY      10    /* failures in a row logged: the first, then every tenth */

/* The one POST handed to the thread. */
struct job {
    char url[1001];
    char key[128];  /* Idempotency-Key: alert id '/' change */
    char alert[96]; /* X-Alert-Id */
    char *body;
    int64_t timeout_ms;
};

struct result {
    outbox_msg m;
    long status;   /* HTTP status, 0 if none */
    char err[256]; /* curl's reason when status is 0 */
};

struct webhook {
    ev_loop *loop;
    hall *hall;
    outbox *box;
    ev_timer timer;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, has_job, busy; /* has_job: for the thread; busy: loop side */
    atomic_bool stopping;     /* read by a POST in flight, which then ends */
    struct job job;
    uint64_t delivery;  /* the one in flight */
    int64_t backoff_ms; /* 0 after a success */
    unsigned failures;  /* in a row */
};

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * n;
}

/* A POST in flight ends when halld stops, rather than at its timeout. */
static int progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    webhook *w = arg;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&w->stopping) ? 1 : 0;
}

static void post(webhook *w, const struct job *j, struct result *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char line[256];
    CURLcode rc;

    if (c == NULL) {
        snprintf(r->err, sizeof r->err, "curl_easy_init failed");
        return;
    }
    hdr = curl_slist_append(hdr, "Content-Type: application/json; charset=utf-8");
    snprintf(line, sizeof line, "Idempotency-Key: %s", j->key);
    hdr = curl_slist_append(hdr, line);
    snprintf(line, sizeof line, "X-Alert-Id: %s", j->alert);
    hdr = curl_slist_append(hdr, line);
    curl_easy_setopt(c, CURLOPT_URL, j->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)j->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "halld-webhook");
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if ((rc = curl_easy_perform(c)) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    else
        snprintf(r->err, sizeof r->err, "%s", curl_easy_strerror(rc));
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
}

static void *worker(void *arg)
{
    webhook *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && !w->has_job)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop)
            break;
        struct job j = w->job;
        pthread_mutex_unlock(&w->mu);
        struct result *r = calloc(1, sizeof *r);
        if (r != NULL) {
            post(w, &j, r);
            outbox_push(w->box, &r->m);
        }
        pthread_mutex_lock(&w->mu);
        w->has_job = false;
        if (r == NULL) /* no memory for the result: the loop never hears; give it up here */
            break;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void again(webhook *w, int64_t ms)
{
    ev_timer_start(w->loop, &w->timer, ms);
}

static void on_timer(ev_loop *loop, ev_timer *t, void *arg)
{
    webhook *w = arg;
    hall_webhook set;
    store_delivery d;
    int rc;

    (void)loop;
    (void)t;
    if (w->busy)
        return;
    hall_webhook_settings(w->hall, &set);
    if (set.url[0] == '\0' || (rc = hall_webhook_next(w->hall, &d)) == 0) {
        again(w, POLL_MS);
        return;
    }
    if (rc < 0) {
        log_error("webhook: cannot read the deliveries; trying again");
        again(w, BACKOFF_MAX_MS);
        return;
    }
    if (clk_utc_ms() - d.created_ms > set.give_up_ms) {
        log_warn("webhook: change %u of alert %s given up: not taken by %s within [supervise] "
                 "webhook_give_up",
                 d.change, d.alert_id, set.url);
        free(d.body);
        hall_webhook_drop(w->hall, d.id);
        again(w, 0);
        return;
    }
    pthread_mutex_lock(&w->mu);
    free(w->job.body);
    snprintf(w->job.url, sizeof w->job.url, "%s", set.url);
    snprintf(w->job.key, sizeof w->job.key, "%s/%u", d.alert_id, d.change);
    snprintf(w->job.alert, sizeof w->job.alert, "%s", d.alert_id);
    w->job.body = d.body;
    w->job.timeout_ms = set.timeout_ms;
    w->has_job = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    w->busy = true;
    w->delivery = d.id;
}

static void deliver(void *arg, outbox_msg *list)
{
    webhook *w = arg;

    while (list != NULL) {
        struct result *r = (struct result *)list;
        list = list->next;
        w->busy = false;
        if (r->status >= 200 && r->status < 300) {
            if (w->failures > 0)
                log_info("webhook: the receiver takes deliveries again after %u failures",
                         w->failures);
            w->failures = 0;
            w->backoff_ms = 0;
            hall_webhook_drop(w->hall, w->delivery);
            again(w, 0);
        } else {
            w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : BACKOFF_MIN_MS;
            if (w->backoff_ms > BACKOFF_MAX_MS)
                w->backoff_ms = BACKOFF_MAX_MS;
            if (w->failures++ % LOG_EVERY == 0) {
                char why[300];
                if (r->status != 0)
                    snprintf(why, sizeof why, "HTTP status %ld", r->status);
                else
                    snprintf(why, sizeof why, "%s", r->err);
                log_warn("webhook: delivery %s not taken (%s); %u failures in a row, next try "
                         "in %lld s",
                         w->job.key, why, w->failures, (long long)(w->backoff_ms / 1000));
            }
            again(w, w->backoff_ms);
        }
        free(r);
    }
}

webhook *webhook_new(ev_loop *loop, hall *h, char *err, size_t errlen)
{
    webhook *w = calloc(1, sizeof *w);

    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        snprintf(err, errlen, "webhook: libcurl cannot start");
        free(w);
        return NULL;
    }
    w->loop = loop;
    w->hall = h;
    atomic_init(&w->stopping, false);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    ev_timer_init(&w->timer, on_timer, w);
    if ((w->box = outbox_new(loop, deliver, w)) == NULL ||
        pthread_create(&w->thread, NULL, worker, w) != 0) {
        snprintf(err, errlen, "webhook: cannot start its thread");
        outbox_close(w->box);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        curl_global_cleanup();
        free(w);
        return NULL;
    }
    again(w, POLL_MS);
    return w;
}

void webhook_free(webhook *w)
{
    if (w == NULL)
        return;
    ev_timer_stop(w->loop, &w->timer);
    atomic_store(&w->stopping, true);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    /* A result never delivered: its delivery stays and is sent again. */
    for (outbox_msg *m = outbox_close(w->box), *next; m != NULL; m = next) {
        next = m->next;
        free(m);
    }
    free(w->job.body);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    curl_global_cleanup();
    free(w);
}
