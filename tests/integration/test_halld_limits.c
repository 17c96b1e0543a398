/*
 * halld's connection limits, over real sockets against the real halld
 * (hallfixture.h). One source, two CTest names:
 *
 *   halld_accept_flood        thousands of connections that never say
 *                             HELLO (raw TCP, and TLS finished but silent)
 *                             from another address and from the device's
 *                             own: while they are held, a known device
 *                             still connects and every request of it is
 *                             answered, and so does hallctl;
 *   halld_sessions_per_device one device opening more links than
 *                             [session] max_per_device: its oldest go,
 *                             the newest work, other devices are untouched.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hallfixture.h"
#include "testsupport.h"

#define K HALL__DEVICE_TYPE__DEVICE_KIOSK

/* A TCP connection from source address from (127.0.0.1 or another
 * loopback address) to halld, left open and silent; -1 if it cannot be
 * made (out of descriptors, the backlog full: the caller counts). */
static int raw_connect(const char *from, int port)
{
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0)
        return -1;
    inet_pton(AF_INET, from, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Issue n tickets as kiosk k: every one answered with a ticket. */
static void issue_all(devlink *k, int n)
{
    for (int i = 0; i < n; i++) {
        Hall__Envelope *a = fix_issue(k, "intake", HALL__PRIORITY__PRIORITY_NORMAL);
        ck_assert_msg(a->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY, "issue %d: %s", i,
                      a->body_case == HALL__ENVELOPE__BODY_ERROR ? a->error->message : "?");
        proto_free(a);
    }
}

/* ---- halld_accept_flood -------------------------------------------------------------- */

/* More than [listen] max_connections (set to 1024 below) in all: without
 * the limits, the flood alone fills every connection halld takes. */
#define FLOOD_OTHER 1200 /* raw connections from 127.0.0.2 */
#define FLOOD_OWN   600  /* raw connections from 127.0.0.1, the device's address */
#define FLOOD_TLS   40   /* TLS finished with a device's certificate, no HELLO */

START_TEST(flood_never_locks_a_device_out)
{
    struct rlimit nofile;
    static int fds[FLOOD_OTHER + FLOOD_OWN];
    devlink *tls_idle[FLOOD_TLS];
    hallfix f;
    int opened = 0;

    /* Room for the flood's descriptors here and in halld (it inherits). */
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &nofile), 0);
    if (nofile.rlim_cur < 8192) {
        nofile.rlim_cur = nofile.rlim_max < 8192 ? nofile.rlim_max : 8192;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    fix_init(&f, 1, "[listen]\nmax_connections = 1024\n");
    fix_start(&f);

    /* The flood: raw connections from another address and from the
     * device's own, and TLS links that never say HELLO; all held. */
    for (int i = 0; i < FLOOD_OTHER + FLOOD_OWN; i++) {
        fds[i] = raw_connect(i < FLOOD_OTHER ? "127.0.0.2" : "127.0.0.1", f.port);
        opened += fds[i] >= 0;
    }
    ck_assert_msg(opened > FLOOD_OTHER, "only %d flood connections could be opened", opened);
    for (int i = 0; i < FLOOD_TLS; i++)
        tls_idle[i] = fix_connect(&f, "board-01");

    /* A known device connects from the flooded address, and every request
     * of it is answered; so is hallctl, another device. */
    devlink *k = fix_device(&f, "kiosk-01", K, 0);
    issue_all(k, 20);
    ck_assert_int_eq(fix_hallctl(&f, "ping --count 3 --server 127.0.0.1:%d", f.port), 0);
    /* halld said what happened, in a line for the whole flood. */
    ck_assert(ts_file_contains(f.log, "without HELLO gave way to newer ones", FIX_WAIT_MS));

    /* Still held: a second device while the TLS links sit silent. */
    devlink *w = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    Hall__Envelope *a = fix_sign_in(w, 1, "c-1");
    ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    proto_free(a);
    issue_all(k, 5);

    for (int i = 0; i < FLOOD_OTHER + FLOOD_OWN; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    for (int i = 0; i < FLOOD_TLS; i++)
        devlink_close(tls_idle[i]);
    devlink_close(w);
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* ---- halld_sessions_per_device ------------------------------------------------------- */

static bool heartbeat_answered(devlink *l)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Heartbeat hb = HALL__HEARTBEAT__INIT;
    char err[DEVLINK_ERR_LEN];

    env.body_case = HALL__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    Hall__Envelope *a = devlink_call(l, &env, FIX_WAIT_MS, err);
    bool ok = a != NULL && a->body_case == HALL__ENVELOPE__BODY_HEARTBEAT_REPLY;
    proto_free(a);
    return ok;
}

START_TEST(a_device_holds_a_few_links)
{
    hallfix f;
    devlink *links[6];
    const char *why;

    fix_init(&f, 1, "[session]\nmax_per_device = 3\n");
    fix_start(&f);
    devlink *board = fix_device(&f, "board-01", HALL__DEVICE_TYPE__DEVICE_DISPLAY, 0);

    /* Three links: all work. A fourth: the first goes. Two more: the
     * second and third go. Each time the newest three work. */
    for (int i = 0; i < 6; i++) {
        links[i] = fix_device(&f, "kiosk-01", K, 0);
        devlink_set_next_id(links[i], 1000u * (unsigned)(i + 1));
        if (i >= 3) {
            ck_assert_msg(devlink_closed(links[i - 3], FIX_WAIT_MS, &why),
                          "link %d still open with %d newer ones", i - 3, 3);
        }
        for (int j = i > 2 ? i - 2 : 0; j <= i; j++)
            ck_assert_msg(heartbeat_answered(links[j]), "link %d not answered", j);
    }
    ck_assert(ts_file_contains(f.log, "max_per_device 3", FIX_WAIT_MS));
    issue_all(links[5], 3);
    /* Another device is not touched. */
    ck_assert(heartbeat_answered(board));
    ck_assert_int_eq(devlink_closed(board, 0, &why), 0);

    for (int i = 0; i < 6; i++)
        devlink_close(links[i]);
    devlink_close(board);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    Suite *s = suite_create("halld limits");
    TCase *tc = tcase_create("limits");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 300);
    if (strcmp(which, "flood") == 0)
        tcase_add_test(tc, flood_never_locks_a_device_out);
    else if (strcmp(which, "sessions") == 0)
        tcase_add_test(tc, a_device_holds_a_few_links);
    else {
        fprintf(stderr, "usage: %s flood|sessions\n", argv[0]);
        return 2;
    }
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
