/*
 * test_outbox — the outbox's contract (outbox.h) and ev_post_cancel():
 * messages pushed from worker threads arrive on the loop's thread, all of
 * them and in push order per thread; closing hands back what was not
 * delivered and nothing is delivered after; closing with a drain still
 * waiting, or with the drain already taken up by the same turn, never
 * touches freed memory (the sanitizer build checks that) and leaks
 * nothing.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "ev.h"
#include "outbox.h"
#include "testsupport.h"

#define THREADS 4
#define PER     5000

struct num {
    outbox_msg link;
    int thread, seq;
};

struct sink {
    int next[THREADS]; /* the next seq expected from each thread */
    int got;
    bool all;
    bool in_order;
};

static void deliver(void *arg, outbox_msg *list)
{
    struct sink *s = arg;

    while (list != NULL) {
        struct num *n = (struct num *)list;

        list = list->next;
        if (n->seq != s->next[n->thread])
            s->in_order = false;
        s->next[n->thread] = n->seq + 1;
        s->got++;
        free(n);
    }
    s->all = s->got == THREADS * PER;
}

struct pusher {
    outbox *o;
    int thread;
};

static void *push_many(void *arg)
{
    struct pusher *p = arg;

    for (int i = 0; i < PER; i++) {
        struct num *n = malloc(sizeof *n);

        ck_assert_ptr_nonnull(n);
        n->thread = p->thread;
        n->seq = i;
        outbox_push(p->o, &n->link);
    }
    return NULL;
}

START_TEST(test_threads_in_order)
{
    ev_loop *loop = ev_new();
    struct sink s = {.in_order = true};
    outbox *o = outbox_new(loop, deliver, &s);
    pthread_t t[THREADS];
    struct pusher p[THREADS];

    ck_assert_ptr_nonnull(o);
    for (int i = 0; i < THREADS; i++) {
        p[i] = (struct pusher){o, i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, push_many, &p[i]), 0);
    }
    ck_assert(ts_run_until(loop, &s.all, 20000));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert(s.in_order);
    ck_assert_ptr_null(outbox_close(o));
    ev_free(loop);
}
END_TEST

static int count_and_free(outbox_msg *list)
{
    int n = 0;

    while (list != NULL) {
        outbox_msg *m = list;

        list = list->next;
        free(m);
        n++;
    }
    return n;
}

static void never(void *arg, outbox_msg *list)
{
    (void)arg;
    (void)list;
    ck_abort_msg("delivered after close");
}

/* A drain still waiting for a turn: close takes it back, returns the
 * messages, and the next turns deliver nothing. */
START_TEST(test_close_with_drain_waiting)
{
    ev_loop *loop = ev_new();
    outbox *o = outbox_new(loop, never, NULL);

    for (int i = 0; i < 3; i++)
        outbox_push(o, malloc(sizeof(struct num)));
    ck_assert_int_eq(count_and_free(outbox_close(o)), 3);
    ck_assert(!ts_run_until(loop, &(bool){false}, 50));
    ev_free(loop);
}
END_TEST

/* The drain is in the same turn's completions, after the completion that
 * closes the outbox: it must run on live memory and deliver nothing. */
struct closer {
    outbox *o;
    int returned;
    bool done;
};

static void close_it(ev_loop *loop, void *arg)
{
    struct closer *c = arg;

    (void)loop;
    c->returned = count_and_free(outbox_close(c->o));
    c->done = true;
}

START_TEST(test_close_from_an_earlier_completion)
{
    ev_loop *loop = ev_new();
    struct closer c = {0};

    c.o = outbox_new(loop, never, NULL);
    ck_assert_int_eq(ev_post(loop, close_it, &c), 0);
    outbox_push(c.o, malloc(sizeof(struct num))); /* posts the drain after close_it */
    ck_assert(ts_run_until(loop, &c.done, 5000));
    ck_assert_int_eq(c.returned, 1);
    ck_assert(!ts_run_until(loop, &(bool){false}, 50));
    ev_free(loop);
}
END_TEST

/* A completion pushes (the drain goes to the next turn's queue) and then
 * closes: the drain must be taken back, not left to run on freed memory
 * after the turn's deferred frees. */
static void push_then_close(ev_loop *loop, void *arg)
{
    struct closer *c = arg;

    (void)loop;
    outbox_push(c->o, malloc(sizeof(struct num)));
    c->returned = count_and_free(outbox_close(c->o));
    c->done = true;
}

START_TEST(test_push_and_close_in_one_completion)
{
    ev_loop *loop = ev_new();
    struct closer c = {0};

    c.o = outbox_new(loop, never, NULL);
    ck_assert_int_eq(ev_post(loop, push_then_close, &c), 0);
    ck_assert(ts_run_until(loop, &c.done, 5000));
    ck_assert_int_eq(c.returned, 1);
    ck_assert(!ts_run_until(loop, &(bool){false}, 50));
    ev_free(loop);
}
END_TEST

/* Closed and the loop freed before any turn ran: nothing leaks. */
START_TEST(test_close_then_free_loop)
{
    ev_loop *loop = ev_new();
    outbox *o = outbox_new(loop, never, NULL);

    outbox_push(o, malloc(sizeof(struct num)));
    ck_assert_int_eq(count_and_free(outbox_close(o)), 1);
    ev_free(loop);
    ck_assert_ptr_null(outbox_close(NULL));
}
END_TEST

static void count_post(ev_loop *loop, void *arg)
{
    (void)loop;
    (*(int *)arg)++;
}

START_TEST(test_post_cancel)
{
    ev_loop *loop = ev_new();
    int a = 0, b = 0;

    ck_assert_int_eq(ev_post(loop, count_post, &a), 0);
    ck_assert_int_eq(ev_post(loop, count_post, &b), 0);
    ck_assert_int_eq(ev_post(loop, count_post, &a), 0);
    ck_assert_int_eq(ev_post_cancel(loop, count_post, &a), 2);
    ck_assert_int_eq(ev_post_cancel(loop, count_post, &a), 0);
    /* The queue still works after a cancel took its tail. */
    ck_assert_int_eq(ev_post(loop, count_post, &b), 0);
    ev_run_once(loop, 0);
    ck_assert_int_eq(a, 0);
    ck_assert_int_eq(b, 2);
    ev_free(loop);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("outbox");
    TCase *tc = tcase_create("outbox");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_threads_in_order);
    tcase_add_test(tc, test_close_with_drain_waiting);
    tcase_add_test(tc, test_close_from_an_earlier_completion);
    tcase_add_test(tc, test_push_and_close_in_one_completion);
    tcase_add_test(tc, test_close_then_free_loop);
    tcase_add_test(tc, test_post_cancel);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
