/*
 * The net printer backend against the printer simulator (tools/printersim)
 * on loopback, through the printer interface as the kiosk uses it.
 *
 * `paper_out` (CTest printer_paper_out): the roll runs out in the middle
 * of a ticket; the failure reaches the caller as PAPER_OUT with the state
 * change, the next ticket is refused without a byte of it printed, and
 * after the paper is restored the next ticket prints whole.
 *
 * `net` (CTest printer_net_sim): a ticket arrives byte for byte, the
 * status follows the simulator (near end, cover open), a silent printer
 * times out without hanging the caller, a port nobody listens on is
 * offline, and a bad address is refused at configuration.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "escpos.h"
#include "printer.h"
#include "prfixture.h"
#include "psimfixture.h"
#include "testsupport.h"

#define URL "https://hall.example/t/net-1"

static printer *net_printer(ev_loop *loop, const char *address, int status_timeout_ms,
                            pf_result *res)
{
    char err[256] = "";
    printer_conf conf;

    printer_conf_init(&conf);
    ck_assert_int_eq(printer_conf_backend(&conf, "net", err, sizeof err), 0);
    snprintf(conf.net.address, sizeof conf.net.address, "%s", address);
    conf.job_timeout_ms = 3000;
    conf.status_timeout_ms = status_timeout_ms;
    conf.poll_ms = 600000; /* only the first poll: every other query belongs to a job */
    return pf_open(loop, &conf, res);
}

static printer *sim_printer(ev_loop *loop, const psim *s, pf_result *res)
{
    char address[64];

    snprintf(address, sizeof address, "127.0.0.1:%d", s->port);
    return net_printer(loop, address, 5000, res);
}

static void ticket_bytes(buf *out)
{
    escpos_layout layout = {.paper_mm = 58, .qr_module = 4};
    escpos_ticket t = {.hall = "政务服务大厅",
                       .number = "A031",
                       .area = "综合受理",
                       .ahead = 4,
                       .wait_min = 12,
                       .time = "2026-03-02 10:05",
                       .qr = URL};

    pf_ticket(out, &layout, &t);
}

static int count(const char *text, const char *needle)
{
    int n = 0;

    for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle))
        n++;
    return n;
}

START_TEST(test_paper_out_mid_job)
{
    pf_result res = {0};
    ev_loop *loop = ev_new();
    char whole[64], stopped[96], *text;
    buf ticket;
    psim s;
    printer *p;

    psim_start(&s, NULL);
    ticket_bytes(&ticket);
    ck_assert_uint_gt(buf_rlen(&ticket), 150);
    p = sim_printer(loop, &s, &res);
    ck_assert_uint_eq(res.state.flags & ESCPOS_ST_BLOCKING, 0);

    /* The roll ends 80 bytes into the ticket. */
    psim_control(&s, "paper out-after 80");
    res.events = 0;
    pf_print(loop, p, buf_rdata(&ticket), buf_rlen(&ticket), &res);
    ck_assert_msg(res.r == PRINTER_PAPER_OUT, "mid-job paper out: %d %s", res.r, res.detail);
    ck_assert_ptr_nonnull(strstr(res.detail, "during the job"));
    ck_assert_ptr_nonnull(strstr(res.detail, "may be incomplete"));
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_PAPER_OUT, 0);
    ck_assert_uint_ne(res.events & ESCPOS_EV_PAPER_OUT, 0);
    snprintf(stopped, sizeof stopped, "(%zu bytes, stopped: paper out;", buf_rlen(&ticket));
    psim_wait_out(&s, stopped);
    psim_wait_out(&s, "[paper out: printing stopped]");

    /* Still out: the next ticket is refused before a byte of it is sent. */
    pf_print(loop, p, buf_rdata(&ticket), buf_rlen(&ticket), &res);
    ck_assert_msg(res.r == PRINTER_PAPER_OUT, "while out: %d %s", res.r, res.detail);
    ck_assert_ptr_nonnull(strstr(res.detail, "not printed"));

    /* Paper restored: the next ticket prints whole. */
    psim_control(&s, "paper ok");
    res.events = 0;
    pf_print(loop, p, buf_rdata(&ticket), buf_rlen(&ticket), &res);
    ck_assert_msg(res.r == PRINTER_OK, "after paper ok: %d %s", res.r, res.detail);
    ck_assert_uint_eq(res.state.flags & ESCPOS_ST_BLOCKING, 0);
    ck_assert_uint_ne(res.events & ESCPOS_EV_PAPER_LOADED, 0);
    snprintf(whole, sizeof whole, "(%zu bytes; peer closed the connection)", buf_rlen(&ticket));
    psim_wait_out(&s, whole);

    printer_free(p);
    ev_free(loop);
    text = ts_slurp(s.out);
    /* One ticket stopped, one whole, and the refused one never sent. */
    ck_assert_int_eq(count(text, stopped), 1);
    ck_assert_int_eq(count(text, whole), 1);
    ck_assert_int_eq(count(text, "[qr] " URL), 1);
    ck_assert_int_eq(count(text, "---- cut ----"), 1); /* the stopped ticket was never cut */
    free(text);
    buf_release(&ticket);
    psim_stop(&s);
}
END_TEST

START_TEST(test_net_print_and_status)
{
    pf_result res = {0};
    ev_loop *loop = ev_new();
    char expect[64], *text;
    buf ticket;
    psim s;
    printer *p;

    psim_start(&s, (const char *const[]){"--near-end", NULL});
    ticket_bytes(&ticket);
    p = sim_printer(loop, &s, &res);
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_PAPER_NEAR_END, 0);

    /* Near end still prints; the simulator decodes exactly these bytes. */
    pf_print(loop, p, buf_rdata(&ticket), buf_rlen(&ticket), &res);
    ck_assert_msg(res.r == PRINTER_OK, "near end: %d %s", res.r, res.detail);
    snprintf(expect, sizeof expect, "(%zu bytes; peer closed the connection)", buf_rlen(&ticket));
    psim_wait_out(&s, expect);
    text = ts_slurp(s.out);
    ck_assert_ptr_nonnull(strstr(text, "[qr] " URL));
    ck_assert_ptr_nonnull(strstr(text, "A031"));
    ck_assert_ptr_nonnull(strstr(text, "政务服务大厅"));
    free(text);

    /* Cover open: refused, and the state says why. */
    psim_control(&s, "cover open");
    pf_print(loop, p, buf_rdata(&ticket), buf_rlen(&ticket), &res);
    ck_assert_msg(res.r == PRINTER_COVER_OPEN, "cover open: %d %s", res.r, res.detail);
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_COVER_OPEN, 0);
    psim_control(&s, "cover closed");

    /* Silent: no answer within the status timeout, and the call returns. */
    psim_control(&s, "silent on");
    pf_print(loop, p, buf_rdata(&ticket), buf_rlen(&ticket), &res);
    ck_assert_msg(res.r == PRINTER_TIMEOUT, "silent: %d %s", res.r, res.detail);
    ck_assert_ptr_nonnull(strstr(res.detail, "no status"));
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_OFFLINE, 0);

    printer_free(p);
    ev_free(loop);
    buf_release(&ticket);
    psim_stop(&s);
}
END_TEST

/* A loopback port with nobody listening. */
static int dead_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    ck_assert_int_ge(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

START_TEST(test_net_unreachable_and_config)
{
    pf_result res = {0};
    ev_loop *loop = ev_new();
    char address[64], err[256] = "";
    printer_conf conf;
    buf ticket;
    printer *p;

    snprintf(address, sizeof address, "127.0.0.1:%d", dead_port());
    ticket_bytes(&ticket);
    p = net_printer(loop, address, 2000, &res);
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_OFFLINE, 0);
    pf_print(loop, p, buf_rdata(&ticket), buf_rlen(&ticket), &res);
    ck_assert_msg(res.r == PRINTER_OFFLINE, "nobody listening: %d %s", res.r, res.detail);
    ck_assert_msg(strstr(res.detail, "refused") != NULL, "%s", res.detail);
    printer_free(p);

    printer_conf_init(&conf);
    ck_assert_int_eq(printer_conf_backend(&conf, "net", err, sizeof err), 0);
    ck_assert_ptr_null(printer_new(loop, &conf, &pf_refused, &res, err, sizeof err));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "no address"));
    snprintf(conf.net.address, sizeof conf.net.address, "printer:99999");
    ck_assert_ptr_null(printer_new(loop, &conf, &pf_refused, &res, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "bad address"));
    ev_free(loop);
    buf_release(&ticket);
}
END_TEST

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "net";
    Suite *s = suite_create("printer_net");
    TCase *tc = tcase_create(which);
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    if (strcmp(which, "paper_out") == 0) {
        tcase_add_test(tc, test_paper_out_mid_job);
    } else if (strcmp(which, "net") == 0) {
        tcase_add_test(tc, test_net_print_and_status);
        tcase_add_test(tc, test_net_unreachable_and_config);
    } else {
        fprintf(stderr, "usage: %s paper_out|net\n", argv[0]);
        return 2;
    }
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
