/*
 * prfixture — driving the printer interface from the printer tests.
 * prfixture.h has the contract.
 */
#include "prfixture.h"

#include <check.h>
#include <stdio.h>

#include "testsupport.h"

static void on_done(printer *p, uint64_t id, printer_result r, const char *detail, void *arg)
{
    pf_result *res = arg;

    (void)p;
    res->done = true;
    res->id = id;
    res->r = r;
    snprintf(res->detail, sizeof res->detail, "%s", detail);
}

static void on_state(printer *p, const escpos_status *st, uint32_t events, void *arg)
{
    pf_result *res = arg;

    (void)p;
    res->states++;
    res->state = *st;
    res->events |= events;
}

static void on_unexpected(printer *p, uint64_t id, printer_result r, const char *detail, void *arg)
{
    (void)p;
    (void)id;
    (void)r;
    (void)detail;
    (void)arg;
    ck_abort_msg("a printer that should have been refused ran a job");
}

const printer_callbacks pf_refused = {.done = on_unexpected};

printer *pf_open(ev_loop *loop, const printer_conf *conf, pf_result *res)
{
    static const printer_callbacks cb = {.done = on_done, .state = on_state};
    char err[256] = "";
    printer *p = printer_new(loop, conf, &cb, res, err, sizeof err);

    ck_assert_msg(p != NULL, "printer_new: %s", err);
    for (int i = 0; i < PF_WAIT_MS / 10 && res->states == 0; i++)
        ev_run_once(loop, 10);
    ck_assert_msg(res->states == 1, "no state from the first status poll");
    return p;
}

uint64_t pf_submit(printer *p, const uint8_t *data, size_t len, pf_result *res)
{
    uint64_t id;

    res->done = false;
    ck_assert_int_eq(printer_submit(p, data, len, &id), 0);
    return id;
}

void pf_wait(ev_loop *loop, uint64_t id, pf_result *res)
{
    ck_assert_msg(ts_run_until(loop, &res->done, PF_WAIT_MS), "no result for job %llu",
                  (unsigned long long)id);
    ck_assert_uint_eq(res->id, id);
}

void pf_print(ev_loop *loop, printer *p, const uint8_t *data, size_t len, pf_result *res)
{
    pf_wait(loop, pf_submit(p, data, len, res), res);
}

void pf_ticket(buf *out, const escpos_layout *layout, const escpos_ticket *t)
{
    char err[256];
    escpos_builder *b = escpos_new(layout, err, sizeof err);

    ck_assert_msg(b != NULL, "escpos_new: %s", err);
    buf_init(out, 1 << 16);
    ck_assert_int_eq(escpos_build(b, t, out, NULL), 0);
    escpos_free(b);
}
