/*
 * test_printer_backend — the printer interface over the sim backend: jobs
 * print intact and report on the loop's thread; a printer out of paper, with
 * its cover open or offline gets nothing; paper running out mid-job and a
 * silent printer are reported as such; state changes arrive as events; many
 * jobs complete once each, in order; printer_free closes the jobs still
 * queued; and unknown backend names are refused.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ev.h"
#include "printer.h"
#include "printer_sim.h"
#include "testsupport.h"

#define MAX_DONE   256
#define MAX_STATES 256
#define WAIT_MS    20000

struct done_rec {
    uint64_t id;
    printer_result result;
    char detail[256];
};

struct ctx {
    ev_loop *loop;
    pthread_t loop_thread;
    printer *p;
    bool wrong_thread;

    struct done_rec done[MAX_DONE];
    size_t ndone;
    size_t want_done;
    bool enough_done;
    bool resubmit; /* submit again from the done callback */
    int resubmit_errno;

    escpos_status states[MAX_STATES];
    uint32_t events[MAX_STATES];
    size_t nstates;
    uint32_t want_events;
    bool got_events;
};

static void on_done(printer *p, uint64_t id, printer_result r, const char *detail, void *arg)
{
    struct ctx *c = arg;
    static const uint8_t again[] = {0x1b, 0x40};

    if (!pthread_equal(pthread_self(), c->loop_thread) || p != c->p)
        c->wrong_thread = true;
    ck_assert_uint_lt(c->ndone, MAX_DONE);
    c->done[c->ndone].id = id;
    c->done[c->ndone].result = r;
    snprintf(c->done[c->ndone].detail, sizeof c->done[c->ndone].detail, "%s", detail);
    c->ndone++;
    c->enough_done = c->ndone >= c->want_done;
    if (c->resubmit) {
        errno = 0;
        if (printer_submit(p, again, sizeof again, NULL) != 0)
            c->resubmit_errno = errno;
    }
}

static void on_state(printer *p, const escpos_status *st, uint32_t events, void *arg)
{
    struct ctx *c = arg;

    if (!pthread_equal(pthread_self(), c->loop_thread) || p != c->p)
        c->wrong_thread = true;
    if (c->nstates < MAX_STATES) {
        c->states[c->nstates] = *st;
        c->events[c->nstates] = events;
        c->nstates++;
    }
    if ((events & c->want_events) == c->want_events && c->want_events != 0)
        c->got_events = true;
}

static const printer_callbacks callbacks = {on_done, on_state};

static void start(struct ctx *c, const printer_conf *conf)
{
    char err[256] = "";

    memset(c, 0, sizeof *c);
    c->loop = ev_new();
    ck_assert_ptr_nonnull(c->loop);
    c->loop_thread = pthread_self();
    c->p = printer_new(c->loop, conf, &callbacks, c, err, sizeof err);
    ck_assert_msg(c->p != NULL, "printer_new: %s", err);
}

static void stop(struct ctx *c)
{
    printer_free(c->p);
    c->p = NULL;
    ev_run_once(c->loop, 0);
    ev_free(c->loop);
    ck_assert(!c->wrong_thread);
}

static void wait_done(struct ctx *c, size_t n)
{
    c->want_done = n;
    c->enough_done = c->ndone >= n;
    ck_assert_msg(ts_run_until(c->loop, &c->enough_done, WAIT_MS), "%zu of %zu jobs done", c->ndone,
                  n);
}

static void wait_events(struct ctx *c, uint32_t events)
{
    c->want_events = events;
    c->got_events = false;
    ck_assert_msg(ts_run_until(c->loop, &c->got_events, WAIT_MS), "events %#x never came",
                  (unsigned)events);
}

/* Index of the first state callback whose events include ev, or -1. */
static int first_event(const struct ctx *c, uint32_t ev)
{
    for (size_t i = 0; i < c->nstates; i++)
        if (c->events[i] & ev)
            return (int)i;
    return -1;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A ticket-like job with the bytes that matter: NUL, DLE EOT, high bytes. */
static const uint8_t ticket[] = {0x1b, 0x40, 0x1b, 0x61, 0x01, 0x1c, 0x26, 0xc7, 0xeb, 0xc8, 0xa1,
                                 0xba, 0xc5, 0x0a, 0x10, 0x04, 0x01, 0x00, 0xff, 0x41, 0x30, 0x30,
                                 0x31, 0x0a, 0x1b, 0x64, 0x03, 0x1d, 0x56, 0x42, 0x00};

START_TEST(job_prints)
{
    printer_conf conf;
    struct ctx c;
    uint64_t id = 0;
    const uint8_t *data;
    size_t len;

    printer_conf_init(&conf);
    start(&c, &conf);
    ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, &id), 0);
    ck_assert_uint_eq(id, 1);
    wait_done(&c, 1);
    ck_assert_uint_eq(c.done[0].id, 1);
    ck_assert_int_eq(c.done[0].result, PRINTER_OK);
    ck_assert_str_eq(c.done[0].detail, "printed");
    ck_assert(!c.wrong_thread);
    ck_assert_uint_eq(printer_sim_job_count(printer_sim_of(c.p)), 1);
    ck_assert(printer_sim_job(printer_sim_of(c.p), 0, &data, &len));
    ck_assert_uint_eq(len, sizeof ticket);
    ck_assert_mem_eq(data, ticket, sizeof ticket);
    ck_assert(!printer_sim_job(printer_sim_of(c.p), 1, &data, &len));
    stop(&c);
}
END_TEST

START_TEST(paper_out_before_refused)
{
    printer_conf conf;
    struct ctx c;

    printer_conf_init(&conf);
    conf.sim.flags = PRINTER_SIM_PAPER_OUT;
    start(&c, &conf);
    ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, NULL), 0);
    wait_done(&c, 1);
    ck_assert_int_eq(c.done[0].result, PRINTER_PAPER_OUT);
    ck_assert_ptr_nonnull(strstr(c.done[0].detail, "not printed"));
    ck_assert_uint_eq(printer_sim_job_count(printer_sim_of(c.p)), 0);
    stop(&c);
}
END_TEST

START_TEST(paper_out_mid_job)
{
    printer_conf conf;
    struct ctx c;
    const uint8_t *data;
    size_t len;

    printer_conf_init(&conf);
    start(&c, &conf);
    printer_sim_paper_out_mid_job(printer_sim_of(c.p));
    ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, NULL), 0);
    wait_done(&c, 1);
    ck_assert_int_eq(c.done[0].result, PRINTER_PAPER_OUT);
    ck_assert_msg(strstr(c.done[0].detail, "during the job") != NULL &&
                      strstr(c.done[0].detail, "may be incomplete") != NULL,
                  "detail: %s", c.done[0].detail);
    ck_assert(printer_sim_job(printer_sim_of(c.p), 0, &data, &len));
    ck_assert_uint_eq(len, sizeof ticket / 2);
    ck_assert_mem_eq(data, ticket, len);

    /* Still out: the next job is refused; loaded again, it prints whole. */
    ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, NULL), 0);
    wait_done(&c, 2);
    ck_assert_int_eq(c.done[1].result, PRINTER_PAPER_OUT);
    printer_sim_set(printer_sim_of(c.p), 0);
    ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, NULL), 0);
    wait_done(&c, 3);
    ck_assert_int_eq(c.done[2].result, PRINTER_OK);
    ck_assert_uint_eq(printer_sim_job_count(printer_sim_of(c.p)), 2);
    ck_assert(printer_sim_job(printer_sim_of(c.p), 1, &data, &len));
    ck_assert_uint_eq(len, sizeof ticket);
    stop(&c);
}
END_TEST

START_TEST(cover_open_and_offline)
{
    printer_conf conf;
    struct ctx c;

    printer_conf_init(&conf);
    start(&c, &conf);
    printer_sim_set(printer_sim_of(c.p), PRINTER_SIM_COVER_OPEN);
    ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, NULL), 0);
    wait_done(&c, 1);
    ck_assert_int_eq(c.done[0].result, PRINTER_COVER_OPEN);
    printer_sim_set(printer_sim_of(c.p), PRINTER_SIM_OFFLINE);
    ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, NULL), 0);
    wait_done(&c, 2);
    ck_assert_int_eq(c.done[1].result, PRINTER_OFFLINE);
    ck_assert_uint_eq(printer_sim_job_count(printer_sim_of(c.p)), 0);
    ck_assert_str_eq(printer_strerror(PRINTER_COVER_OPEN), "the printer's cover is open");
    stop(&c);
}
END_TEST

START_TEST(silent_times_out)
{
    printer_conf conf;
    struct ctx c;
    int64_t t0, elapsed;

    printer_conf_init(&conf);
    conf.status_timeout_ms = 200;
    conf.job_timeout_ms = 200;
    conf.poll_ms = 60000; /* only the first poll: the job's own query times out */
    start(&c, &conf);
    printer_sim_set(printer_sim_of(c.p), PRINTER_SIM_SILENT);
    t0 = mono_ms();
    ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, NULL), 0);
    wait_done(&c, 1);
    elapsed = mono_ms() - t0;
    ck_assert_int_eq(c.done[0].result, PRINTER_TIMEOUT);
    ck_assert_msg(elapsed >= 150, "timed out after %lld ms", (long long)elapsed);
    ck_assert_uint_eq(printer_sim_job_count(printer_sim_of(c.p)), 0);
    /* An unanswered query makes the printer count as offline. */
    ts_run_until(c.loop, &c.got_events, 200);
    ck_assert_int_ge(first_event(&c, ESCPOS_EV_OFFLINE), 0);

    /* It answers again: the next job prints. */
    printer_sim_set(printer_sim_of(c.p), 0);
    ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, NULL), 0);
    wait_done(&c, 2);
    ck_assert_int_eq(c.done[1].result, PRINTER_OK);
    stop(&c);
}
END_TEST

START_TEST(state_changes)
{
    printer_conf conf;
    struct ctx c;
    int near, out, loaded;

    printer_conf_init(&conf);
    conf.poll_ms = 20;
    start(&c, &conf);
    printer_sim_set(printer_sim_of(c.p), PRINTER_SIM_NEAR_END);
    wait_events(&c, ESCPOS_EV_PAPER_NEAR_END);
    ck_assert(c.states[c.nstates - 1].flags & ESCPOS_ST_PAPER_NEAR_END);
    printer_sim_set(printer_sim_of(c.p), PRINTER_SIM_PAPER_OUT);
    wait_events(&c, ESCPOS_EV_PAPER_OUT | ESCPOS_EV_OFFLINE);
    ck_assert(c.states[c.nstates - 1].flags & ESCPOS_ST_PAPER_OUT);
    ck_assert(!escpos_status_ready(&c.states[c.nstates - 1]));
    printer_sim_set(printer_sim_of(c.p), 0);
    wait_events(&c, ESCPOS_EV_PAPER_LOADED | ESCPOS_EV_RECOVERED | ESCPOS_EV_ONLINE);
    ck_assert(escpos_status_ready(&c.states[c.nstates - 1]));

    near = first_event(&c, ESCPOS_EV_PAPER_NEAR_END);
    out = first_event(&c, ESCPOS_EV_PAPER_OUT);
    loaded = first_event(&c, ESCPOS_EV_PAPER_LOADED);
    ck_assert_int_ge(near, 0);
    ck_assert_int_lt(near, out);
    ck_assert_int_lt(out, loaded);
    /* Only changes are posted: no two states in a row are equal. */
    for (size_t i = 1; i < c.nstates; i++)
        ck_assert(c.states[i].flags != c.states[i - 1].flags ||
                  c.states[i].known != c.states[i - 1].known);
    stop(&c);
}
END_TEST

START_TEST(hundred_jobs_in_order)
{
    enum { N = 100 };
    printer_conf conf;
    struct ctx c;

    printer_conf_init(&conf);
    start(&c, &conf);
    for (unsigned i = 0; i < N; i++) {
        uint8_t job[4] = {(uint8_t)'J', (uint8_t)(i >> 8), (uint8_t)i, 0x0a};
        uint64_t id;

        ck_assert_int_eq(printer_submit(c.p, job, sizeof job, &id), 0);
        ck_assert_uint_eq(id, i + 1);
    }
    wait_done(&c, N);
    /* A little longer: nothing more may come. */
    ts_run_until(c.loop, &c.got_events, 100);
    ck_assert_uint_eq(c.ndone, N);
    ck_assert_uint_eq(printer_sim_job_count(printer_sim_of(c.p)), N);
    for (unsigned i = 0; i < N; i++) {
        const uint8_t *data;
        size_t len;

        ck_assert_uint_eq(c.done[i].id, i + 1);
        ck_assert_int_eq(c.done[i].result, PRINTER_OK);
        ck_assert(printer_sim_job(printer_sim_of(c.p), i, &data, &len));
        ck_assert_uint_eq(len, 4);
        ck_assert_uint_eq(data[1], (i >> 8) & 0xff);
        ck_assert_uint_eq(data[2], i & 0xff);
    }
    stop(&c);
}
END_TEST

START_TEST(free_closes_queued_jobs)
{
    enum { N = 5 };
    printer_conf conf;
    struct ctx c;
    size_t closed = 0;

    printer_conf_init(&conf);
    conf.status_timeout_ms = 300;
    conf.job_timeout_ms = 300;
    start(&c, &conf);
    /* Silent: the worker is stuck on the first job while the rest wait. */
    printer_sim_set(printer_sim_of(c.p), PRINTER_SIM_SILENT);
    for (unsigned i = 0; i < N; i++)
        ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, NULL), 0);
    c.resubmit = true;
    printer_free(c.p);
    c.p = NULL;

    ck_assert_uint_eq(c.ndone, N);
    for (unsigned i = 0; i < N; i++) {
        ck_assert_uint_eq(c.done[i].id, i + 1);
        if (c.done[i].result == PRINTER_CLOSED) {
            ck_assert_str_eq(c.done[i].detail, "printer closed before the job was printed");
            closed++;
        } else {
            /* Only the job the worker had taken may have another result. */
            ck_assert_uint_eq(i, 0);
            ck_assert_int_eq(c.done[i].result, PRINTER_TIMEOUT);
        }
    }
    ck_assert_uint_ge(closed, N - 1);
    ck_assert_int_eq(c.resubmit_errno, ESHUTDOWN);
    ck_assert_str_eq(printer_strerror(PRINTER_CLOSED), "printer closed");

    /* A drain the worker posted before it stopped runs harmlessly. */
    for (int i = 0; i < 3; i++)
        ev_run_once(c.loop, 10);
    ck_assert_uint_eq(c.ndone, N);
    ev_free(c.loop);
    ck_assert(!c.wrong_thread);
}
END_TEST

START_TEST(free_after_results)
{
    printer_conf conf;
    struct ctx c;
    const bool never = false;

    /* Results the worker finished but the loop has not yet delivered are
     * delivered by printer_free, before the loop runs again. */
    printer_conf_init(&conf);
    start(&c, &conf);
    ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, NULL), 0);
    ck_assert_int_eq(printer_submit(c.p, ticket, sizeof ticket, NULL), 0);
    for (int i = 0; i < 50 && printer_sim_job_count(printer_sim_of(c.p)) < 2; i++)
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
    printer_free(c.p);
    c.p = NULL;
    ck_assert_uint_eq(c.ndone, 2);
    ck_assert_uint_eq(c.done[0].id, 1);
    ck_assert_uint_eq(c.done[1].id, 2);
    ts_run_until(c.loop, &never, 50);
    ck_assert_uint_eq(c.ndone, 2);
    ev_free(c.loop);
}
END_TEST

START_TEST(bad_configuration)
{
    printer_conf conf;
    char err[128] = "";
    ev_loop *loop = ev_new();
    const printer_callbacks no_done = {NULL, on_state};

    printer_conf_init(&conf);
    errno = 0;
    ck_assert_int_eq(printer_conf_backend(&conf, "foo", err, sizeof err), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_str_eq(err, "unknown printer backend 'foo' (known: sim, cups, usb, net)");
    ck_assert_int_eq(printer_conf_backend(&conf, "SIM", err, sizeof err), -1);
    ck_assert_int_eq(printer_conf_backend(&conf, "", NULL, 0), -1);
    ck_assert_int_eq(printer_conf_backend(&conf, "sim", err, sizeof err), 0);
    ck_assert_int_eq(conf.backend, PRINTER_BACKEND_SIM);
    ck_assert_str_eq(printer_backend_name(PRINTER_BACKEND_SIM), "sim");
    ck_assert_ptr_null(printer_backend_name(PRINTER_BACKEND_COUNT));

    ck_assert_ptr_null(printer_new(loop, &conf, &no_done, NULL, err, sizeof err));
    ck_assert_int_eq(errno, EINVAL);
    conf.poll_ms = 0;
    ck_assert_ptr_null(printer_new(loop, &conf, &callbacks, NULL, NULL, 0));
    ck_assert_int_eq(errno, EINVAL);
    conf.poll_ms = 1000;
    conf.backend = PRINTER_BACKEND_COUNT;
    ck_assert_ptr_null(printer_new(loop, &conf, &callbacks, NULL, NULL, 0));

    ck_assert_int_eq(printer_submit(NULL, ticket, 1, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(printer_sim_of(NULL));
    printer_free(NULL);
    ck_assert_str_eq(printer_strerror((printer_result)99), "unknown printer result");
    ev_free(loop);
}
END_TEST

START_TEST(empty_job_refused)
{
    printer_conf conf;
    struct ctx c;

    printer_conf_init(&conf);
    start(&c, &conf);
    errno = 0;
    ck_assert_int_eq(printer_submit(c.p, ticket, 0, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(printer_submit(c.p, NULL, 4, NULL), -1);
    stop(&c);
    ck_assert_uint_eq(c.ndone, 0);
}
END_TEST

static Suite *backend_suite(void)
{
    Suite *s = suite_create("printer_backend_sim");
    TCase *tc = tcase_create("sim");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, job_prints);
    tcase_add_test(tc, paper_out_before_refused);
    tcase_add_test(tc, paper_out_mid_job);
    tcase_add_test(tc, cover_open_and_offline);
    tcase_add_test(tc, silent_times_out);
    tcase_add_test(tc, state_changes);
    tcase_add_test(tc, hundred_jobs_in_order);
    tcase_add_test(tc, free_closes_queued_jobs);
    tcase_add_test(tc, free_after_results);
    tcase_add_test(tc, bad_configuration);
    tcase_add_test(tc, empty_job_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(backend_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
