/*
 * The cups printer backend against a real, private cupsd: the test starts
 * printersim (the printer) and its own cupsd in a scratch directory (its
 * own ServerRoot, spool, logs, cache and state, listening on a free
 * loopback port; the system's CUPS is never touched), makes a raw queue
 * whose device is socket://127.0.0.1:<printersim port>, prints an escpos
 * ticket through the printer interface and checks what printersim decoded.
 * Then the queue is paused: the backend must report offline and refuse the
 * job. Exits 77 when cupsd or its tools are missing.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "escpos.h"
#include "prfixture.h"
#include "psimfixture.h"
#include "testsupport.h"

#define WAIT_MS 20000
#define URL     "https://hall.example/t/cups-1"

struct env {
    char *dir;
    psim sim;
    pid_t cupsd;
    int cups_port;
};

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Write the private configuration (devices.md 3.2) and start cupsd in the
 * foreground, so its pid is ours. */
static void start_cupsd(struct env *e)
{
    static const char *const dirs[] = {"etc", "spool", "spool/tmp", "cache", "state", "log"};
    char files[4096], conf[1024], etc[600], files_conf[700], cupsd_conf[700];
    const char *d = e->dir;

    ck_assert_int_eq(chmod(d, 0755), 0); /* backends run as lp and read the spool */
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        ck_assert_int_eq(mkdir(ts_path(d, dirs[i]), 0755), 0);
    ck_assert_int_eq(ts_system("chgrp lp '%s/spool' '%s/spool/tmp' && chmod 0710 '%s/spool' && "
                               "chmod 1770 '%s/spool/tmp'",
                               d, d, d, d),
                     0);
    snprintf(files, sizeof files,
             "SystemGroup root\nUser lp\nGroup lp\nServerRoot %s/etc\nRequestRoot %s/spool\n"
             "TempDir %s/spool/tmp\nCacheDir %s/cache\nStateDir %s/state\n"
             "AccessLog %s/log/access_log\nErrorLog %s/log/error_log\nPageLog %s/log/page_log\n"
             "Printcap %s/printcap\nServerBin %s\nDataDir %s\n",
             d, d, d, d, d, d, d, d, d, CUPS_SERVERBIN, CUPS_DATADIR);
    snprintf(conf, sizeof conf,
             "LogLevel debug\nListen 127.0.0.1:%d\nBrowsing No\nWebInterface No\n"
             "DefaultAuthType None\n<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
             "<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n",
             e->cups_port);
    snprintf(etc, sizeof etc, "%s/etc", d);
    snprintf(files_conf, sizeof files_conf, "%s/cups-files.conf", etc);
    snprintf(cupsd_conf, sizeof cupsd_conf, "%s/cupsd.conf", etc);
    ts_write_file(files_conf, files);
    ts_write_file(cupsd_conf, conf);

    const char *argv[] = {CUPSD_PATH, "-f", "-c", cupsd_conf, "-s", files_conf, NULL};
    e->cupsd = ts_spawn(argv, ts_path(d, "cupsd.out"));
}

/* True once the scheduler answers on its port. */
static bool cupsd_ready(const struct env *e)
{
    for (int i = 0; i < WAIT_MS / 100; i++) {
        if (ts_system("lpstat -h 127.0.0.1:%d -r 2>/dev/null | grep -q 'is running'",
                      e->cups_port) == 0)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

static void env_start(struct env *e)
{
    memset(e, 0, sizeof *e);
    e->dir = ts_tmpdir("cups");
    psim_start(&e->sim, NULL);
    e->cups_port = free_port();
    start_cupsd(e);
    ck_assert_msg(cupsd_ready(e), "the private cupsd did not answer on 127.0.0.1:%d (see %s)",
                  e->cups_port, ts_path(e->dir, "log/error_log"));
    ck_assert_int_eq(
        ts_system("lpadmin -h 127.0.0.1:%d -p ticket -E -v socket://127.0.0.1:%d >/dev/null 2>&1",
                  e->cups_port, e->sim.port),
        0);
}

static void stop(pid_t pid)
{
    int status;

    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    status = ts_wait(pid, WAIT_MS);
    if (status == -1)
        ts_kill(pid);
    ck_assert_msg(status != -1, "pid %d did not stop on SIGTERM", (int)pid);
}

static void env_stop(struct env *e)
{
    stop(e->cupsd);
    psim_stop(&e->sim);
    ts_rmtree(e->dir);
    free(e->dir);
}

static printer *cups_printer(ev_loop *loop, const struct env *e, pf_result *res)
{
    char err[256] = "";
    printer_conf conf;

    printer_conf_init(&conf);
    ck_assert_int_eq(printer_conf_backend(&conf, "cups", err, sizeof err), 0);
    snprintf(conf.cups.queue, sizeof conf.cups.queue, "ticket");
    snprintf(conf.cups.server, sizeof conf.cups.server, "127.0.0.1:%d", e->cups_port);
    conf.job_timeout_ms = WAIT_MS;
    conf.status_timeout_ms = 5000;
    conf.poll_ms = 100;
    return pf_open(loop, &conf, res);
}

static void ticket_bytes(buf *out)
{
    escpos_layout layout = {.paper_mm = 80, .qr_module = 4};
    escpos_ticket t = {.hall = "Hall 1",
                       .number = "A012",
                       .ahead = 3,
                       .wait_min = 9,
                       .time = "2026-01-02 09:30",
                       .qr = URL};

    pf_ticket(out, &layout, &t);
}

START_TEST(test_backend_config)
{
    char err[256] = "";
    printer_conf conf;
    ev_loop *loop = ev_new();
    pf_result res = {0};

    printer_conf_init(&conf);
    ck_assert_int_eq(printer_conf_backend(&conf, "cups", err, sizeof err), 0);
    ck_assert_int_eq(conf.backend, PRINTER_BACKEND_CUPS);
    ck_assert_str_eq(printer_backend_name(PRINTER_BACKEND_CUPS), "cups");
    ck_assert_int_eq(printer_conf_backend(&conf, "lp0", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "known: sim, cups, usb, net"));
    /* No queue, or a bad port: refused at open. */
    ck_assert_ptr_null(printer_new(loop, &conf, &pf_refused, &res, err, sizeof err));
    ck_assert_int_eq(errno, EINVAL);
    snprintf(conf.cups.queue, sizeof conf.cups.queue, "ticket");
    snprintf(conf.cups.server, sizeof conf.cups.server, "127.0.0.1:99999");
    ck_assert_ptr_null(printer_new(loop, &conf, &pf_refused, &res, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "bad port"));
    ev_free(loop);
}
END_TEST

START_TEST(test_print_and_pause)
{
    struct env e;
    pf_result res = {0};
    ev_loop *loop;
    printer *p;
    buf ticket;
    uint64_t id = 0;
    char *text, expect[64];

    env_start(&e);
    loop = ev_new();
    ck_assert_ptr_nonnull(loop);
    ticket_bytes(&ticket);
    p = cups_printer(loop, &e, &res);

    /* A ticket through CUPS: printersim decodes exactly these bytes. */
    ck_assert_int_eq(printer_submit(p, buf_rdata(&ticket), buf_rlen(&ticket), &id), 0);
    ck_assert_msg(ts_run_until(loop, &res.done, 2 * WAIT_MS), "no result for the job");
    ck_assert_msg(res.r == PRINTER_OK, "job: %d %s", res.r, res.detail);
    ck_assert_uint_eq(res.id, id);
    snprintf(expect, sizeof expect, "==== end of job 1 (%zu bytes;", buf_rlen(&ticket));
    ck_assert_msg(ts_file_contains(e.sim.out, expect, WAIT_MS), "printersim did not report '%s'",
                  expect);
    text = ts_slurp(e.sim.out);
    ck_assert_ptr_nonnull(strstr(text, "[qr] " URL));
    ck_assert_ptr_nonnull(strstr(text, "A012"));
    ck_assert_ptr_nonnull(strstr(text, "---- cut ----"));
    ck_assert_ptr_null(strstr(text, "job 2"));
    free(text);
    ck_assert_int_gt(res.states, 0);
    ck_assert_uint_eq(res.state.flags & ESCPOS_ST_OFFLINE, 0);

    /* Paused queue: the status says offline and the job is refused. */
    ck_assert_int_eq(ts_system("cupsdisable -h 127.0.0.1:%d ticket", e.cups_port), 0);
    res.done = false;
    ck_assert_int_eq(printer_submit(p, buf_rdata(&ticket), buf_rlen(&ticket), &id), 0);
    ck_assert_msg(ts_run_until(loop, &res.done, 2 * WAIT_MS), "no result for the second job");
    ck_assert_msg(res.r == PRINTER_OFFLINE, "paused queue: %d %s", res.r, res.detail);
    ck_assert_uint_eq(res.id, id);
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_OFFLINE, 0);
    ck_assert_uint_eq(res.state.flags & (ESCPOS_ST_PAPER_OUT | ESCPOS_ST_COVER_OPEN), 0);

    printer_free(p);
    ev_free(loop);
    buf_release(&ticket);
    text = ts_slurp(e.sim.out);
    ck_assert_ptr_null(strstr(text, "job 2"));
    free(text);
    env_stop(&e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("printer_cups");
    TCase *tc = tcase_create("private_cupsd");
    SRunner *sr;
    int failed;

    if (CUPSD_PATH[0] == '\0' || access(CUPSD_PATH, X_OK) != 0 ||
        system("command -v lpadmin lpstat cupsdisable >/dev/null 2>&1") != 0) {
        printf("SKIP: cupsd or lpadmin/lpstat/cupsdisable not installed "
               "(tools/install-deps installs them)\n");
        return 77;
    }
    if (geteuid() != 0) {
        printf("SKIP: a private cupsd must run as root to run its backends as lp\n");
        return 77;
    }
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_backend_config);
    tcase_add_test(tc, test_print_and_pause);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
