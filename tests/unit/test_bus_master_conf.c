/*
 * The bus master's configuration and start (drivers/bus/busmaster) without
 * a bus: names, device lists, refused configurations with their reasons, a
 * serial port that does not exist, and a Modbus TCP gateway that is not
 * there (the master keeps trying, the devices go offline, nothing hangs).
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "busmaster.h"
#include "testsupport.h"

START_TEST(conf_names)
{
    busmaster_conf c;
    char err[256] = "";

    busmaster_conf_init(&c);
    ck_assert_int_eq(c.transport, BUSMASTER_RTU);
    ck_assert_int_eq(c.poll_ms, 100);
    ck_assert_int_eq(busmaster_conf_transport(&c, "tcp", err, sizeof err), 0);
    ck_assert_int_eq(c.transport, BUSMASTER_TCP);
    ck_assert_int_eq(busmaster_conf_transport(&c, "usb", err, sizeof err), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_str_eq(err, "unknown bus transport 'usb' (known: rtu, tcp)");
    ck_assert_str_eq(busmaster_transport_name(BUSMASTER_RTU), "rtu");
    ck_assert_ptr_null(busmaster_transport_name(BUSMASTER_TRANSPORT_COUNT));
    ck_assert_int_eq(busmaster_conf_devices(&c, "1:board,11:window:1", err, sizeof err), 0);
    ck_assert_uint_eq(c.ndevices, 2);
    ck_assert_int_eq(busmaster_conf_devices(&c, "11:window", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "bad device '11:window'") != NULL, "%s", err);
}
END_TEST

static const busmaster_callbacks no_callbacks = {0};

START_TEST(refused_configurations)
{
    ev_loop *loop = ev_new();
    busmaster_conf c, good;
    char err[256];

    ck_assert_ptr_nonnull(loop);
    busmaster_conf_init(&good);
    ck_assert_int_eq(busmaster_conf_devices(&good, "11:window:1", err, sizeof err), 0);
    snprintf(good.rtu.device, sizeof good.rtu.device, "/nonexistent/ttyBUS");

    for (int i = 0; i < 9; i++) {
        c = good;
        switch (i) {
        case 0:
            c.ndevices = 0;
            break;
        case 1:
            c.response_timeout_ms = 0;
            break;
        case 2:
            c.poll_ms = -5;
            break;
        case 3:
            c.rtu.parity = 'X';
            break;
        case 4:
            c.rtu.data_bits = 9;
            break;
        case 5:
            c.board_rows = BUSMAP_BOARD_ROWS + 1;
            break;
        case 6:
            c.devices[1] = c.devices[0];
            c.ndevices = 2;
            break;
        case 7:
            c.devices[0].addr = 0;
            break;
        default:
            c.rtu.parity = '\0';
            break;
        }
        err[0] = '\0';
        ck_assert_ptr_null(busmaster_new(loop, &c, &no_callbacks, NULL, err, sizeof err));
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_msg(err[0] != '\0', "case %d: no reason", i);
    }
    ck_assert_ptr_null(busmaster_new(NULL, &good, &no_callbacks, NULL, err, sizeof err));
    ck_assert_ptr_null(busmaster_new(loop, &good, NULL, NULL, err, sizeof err));

    /* A port that does not exist: an error at start, naming it. */
    ck_assert_ptr_null(busmaster_new(loop, &good, &no_callbacks, NULL, err, sizeof err));
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_msg(strstr(err, "/nonexistent/ttyBUS") != NULL, "%s", err);
    busmaster_free(NULL);
    ev_free(loop);
}
END_TEST

struct seen {
    int offline;
    bool link_notice;
};

static void on_health(busmaster *bm, const bus_device *dev, bool online, const char *why, void *arg)
{
    struct seen *s = arg;

    (void)bm;
    (void)dev;
    ck_assert(!online);
    ck_assert_ptr_nonnull(why);
    s->offline++;
}

static void on_notice(busmaster *bm, const char *text, void *arg)
{
    struct seen *s = arg;

    (void)bm;
    if (strstr(text, "bus link lost") != NULL)
        s->link_notice = true;
}

static void on_done(busmaster *bm, bool ok, const char *detail, void *arg)
{
    (void)bm;
    (void)detail;
    ck_assert(!ok);
    *(bool *)arg = true;
}

/* A loopback port with nobody listening (bound, then closed). */
static int closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

START_TEST(tcp_gateway_absent)
{
    busmaster_callbacks cb = {.health = on_health, .notice = on_notice};
    struct seen s = {0};
    ev_loop *loop = ev_new();
    busmaster_conf c;
    busmaster *bm;
    bool done = false;
    uint16_t v = 3;
    char err[256];

    busmaster_conf_init(&c);
    c.transport = BUSMASTER_TCP;
    c.tcp.port = closed_port();
    c.probe_ms = 100;
    ck_assert_int_eq(busmaster_conf_devices(&c, "11:window:1,41:callpad:1", err, sizeof err), 0);
    bm = busmaster_new(loop, &c, &cb, &s, err, sizeof err);
    ck_assert_msg(bm != NULL, "%s", err);
    ck_assert_int_eq(busmaster_show_call(bm, 1, "A001", NULL, -1), 0);
    ck_assert_int_eq(busmaster_broadcast(bm, BUSMAP_HR_BRIGHTNESS, &v, 1, on_done, &done), 0);
    for (int i = 0; i < 200 && (s.offline < 2 || !done); i++)
        ev_run_once(loop, 50);
    ck_assert_int_eq(s.offline, 2);
    ck_assert(s.link_notice);
    ck_assert(done);
    ck_assert(!busmaster_online(bm, 11));
    busmaster_free(bm);
    ev_free(loop);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("busmaster_conf");
    TCase *tc = tcase_create("conf");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, conf_names);
    tcase_add_test(tc, refused_configurations);
    tcase_add_test(tc, tcp_gateway_absent);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
