/*
 * syncer: a sync runs on the worker thread, its report on the loop's
 * thread; one sync at a time (EBUSY); a failed sync reports its errno;
 * freeing while a sync is in flight waits for it and reports nothing.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "ev.h"
#include "syncer.h"
#include "testsupport.h"

struct probe {
    atomic_int syncs;
    atomic_bool on_worker; /* every sync ran off the loop thread */
    pthread_t loop_thread;
    int fail_errno; /* 0: the sync works */
    int sleep_ms;
    bool done;
    int err;
    int reports;
    bool report_on_loop;
};

static int probe_sync(void *arg)
{
    struct probe *p = arg;
    struct timespec ts = {p->sleep_ms / 1000, (long)(p->sleep_ms % 1000) * 1000000L};

    atomic_fetch_add(&p->syncs, 1);
    if (pthread_equal(pthread_self(), p->loop_thread))
        atomic_store(&p->on_worker, false);
    nanosleep(&ts, NULL);
    if (p->fail_errno) {
        errno = p->fail_errno;
        return -1;
    }
    return 0;
}

static void probe_done(void *arg, int err)
{
    struct probe *p = arg;

    p->done = true;
    p->err = err;
    p->reports++;
    p->report_on_loop = pthread_equal(pthread_self(), p->loop_thread);
}

static struct probe *new_probe(void)
{
    static struct probe p;

    p = (struct probe){0};
    atomic_store(&p.on_worker, true);
    p.loop_thread = pthread_self();
    return &p;
}

START_TEST(sync_off_the_loop_report_on_it)
{
    ev_loop *loop = ev_new();
    struct probe *p = new_probe();
    p->sleep_ms = 50;
    syncer *s = syncer_new(loop, probe_sync, probe_done, p);
    ck_assert_ptr_nonnull(s);

    ck_assert(!syncer_busy(s));
    ck_assert_int_eq(syncer_start(s), 0);
    ck_assert(syncer_busy(s));
    /* One at a time: the turn that would start another waits instead. */
    ck_assert_int_eq(syncer_start(s), -1);
    ck_assert_int_eq(errno, EBUSY);
    ck_assert(ts_run_until(loop, &p->done, 5000));
    ck_assert_int_eq(p->err, 0);
    ck_assert(p->report_on_loop);
    ck_assert(atomic_load(&p->on_worker));
    ck_assert(!syncer_busy(s));

    /* And again: the worker waits for the next start. */
    p->done = false;
    p->sleep_ms = 0;
    ck_assert_int_eq(syncer_start(s), 0);
    ck_assert(ts_run_until(loop, &p->done, 5000));
    ck_assert_int_eq(atomic_load(&p->syncs), 2);
    ck_assert_int_eq(p->reports, 2);
    syncer_free(s);
    ev_free(loop);
}
END_TEST

START_TEST(failed_sync_reports_errno)
{
    ev_loop *loop = ev_new();
    struct probe *p = new_probe();
    p->fail_errno = EIO;
    syncer *s = syncer_new(loop, probe_sync, probe_done, p);
    ck_assert_ptr_nonnull(s);

    ck_assert_int_eq(syncer_start(s), 0);
    ck_assert(ts_run_until(loop, &p->done, 5000));
    ck_assert_int_eq(p->err, EIO);
    ck_assert(!syncer_busy(s));
    syncer_free(s);
    ev_free(loop);
}
END_TEST

START_TEST(free_waits_for_sync_in_flight)
{
    ev_loop *loop = ev_new();
    struct probe *p = new_probe();
    p->sleep_ms = 100;
    syncer *s = syncer_new(loop, probe_sync, probe_done, p);
    ck_assert_ptr_nonnull(s);

    ck_assert_int_eq(syncer_start(s), 0);
    syncer_free(s); /* joins the worker after its sync */
    ck_assert_int_eq(atomic_load(&p->syncs), 1);
    /* Nothing is reported once the syncer is gone. */
    ev_run_once(loop, 50);
    ck_assert_int_eq(p->reports, 0);
    syncer_free(NULL);
    ev_free(loop);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("syncer");
    TCase *tc = tcase_create("syncer");
    tcase_add_test(tc, sync_off_the_loop_report_on_it);
    tcase_add_test(tc, failed_sync_reports_errno);
    tcase_add_test(tc, free_waits_for_sync_in_flight);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
