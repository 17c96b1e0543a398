/*
 * The printer simulator (tools/printersim) as a driver sees it: the real
 * binary on loopback, a hand-built ESC/POS ticket sent one byte per write
 * and in one write, DLE EOT answers in each state, paper running out in the
 * middle of a job, garbage, and a silent printer. Each test starts its own
 * simulator on port 0 with a control port and its own output file, and
 * stops it with SIGTERM (which must end it with status 0).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "psimfixture.h"
#include "testsupport.h"

#define URL "https://hall.example/t/1"

/* Send len bytes in writes of at most chunk bytes. */
static void send_chunks(int fd, const void *data, size_t len, size_t chunk)
{
    const uint8_t *p = data;

    while (len > 0) {
        size_t n = len < chunk ? len : chunk;
        ssize_t w = write(fd, p, n);

        ck_assert_int_gt(w, 0);
        p += w;
        len -= (size_t)w;
    }
}

static void send_str(int fd, const char *text)
{
    send_chunks(fd, text, strlen(text), strlen(text));
}

/* DLE EOT n and its one-byte answer; every answer has the fixed bits of
 * devices.md 1.5. */
static uint8_t status(int fd, int n)
{
    uint8_t q[3] = {0x10, 0x04, (uint8_t)n}, b = 0;

    send_chunks(fd, q, sizeof q, sizeof q);
    ck_assert_msg(read(fd, &b, 1) == 1, "no answer to DLE EOT %d", n);
    ck_assert_int_eq(b & 0x93, 0x12);
    return b;
}

static void expect_status(int fd, uint8_t s1, uint8_t s2, uint8_t s3, uint8_t s4)
{
    ck_assert_int_eq(status(fd, 1), s1);
    ck_assert_int_eq(status(fd, 2), s2);
    ck_assert_int_eq(status(fd, 3), s3);
    ck_assert_int_eq(status(fd, 4), s4);
}

static void append(uint8_t *buf, size_t *len, const void *data, size_t n)
{
    ck_assert_uint_le(*len + n, 1024);
    memcpy(buf + *len, data, n);
    *len += n;
}

/* The GB18030 bytes of a UTF-8 string, as the ESC/POS builder sends them. */
static size_t gb18030(const char *utf8, uint8_t *out, size_t cap)
{
    iconv_t cd = iconv_open("GB18030", "UTF-8");
    char *in = (char *)(uintptr_t)utf8, *o = (char *)out;
    size_t inleft = strlen(utf8), outleft = cap;

    ck_assert(cd != (iconv_t)-1);
    ck_assert(iconv(cd, &in, &inleft, &o, &outleft) != (size_t)-1);
    iconv_close(cd);
    return cap - outleft;
}

/* A ticket as devices.md 1.4 lays it out; the split point is after the big
 * number, where a status query goes in the middle of the job. */
static size_t build_ticket(uint8_t *t, size_t *split)
{
    static const uint8_t init[] = {0x1b, 0x40, 0x1b, 0x61, 0x01, 0x1c, 0x26};
    static const uint8_t big[] = {0x1d, 0x21, 0x11, 'A', '0', '0', '1', 0x0a, 0x1d, 0x21, 0x00};
    static const uint8_t qr_setup[] = {0x1d, 0x28, 0x6b, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00,
                                       0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x43, 0x06, 0x1d,
                                       0x28, 0x6b, 0x03, 0x00, 0x31, 0x45, 0x31};
    static const uint8_t qr_print[] = {0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x51, 0x30};
    static const uint8_t tail[] = {0x1b, 0x64, 0x03, 0x1d, 0x56, 0x00};
    uint8_t gb[64], store[8] = {0x1d, 0x28, 0x6b, 0, 0x00, 0x31, 0x50, 0x30};
    size_t len = 0, n = gb18030("不动产登记", gb, sizeof gb);

    ck_assert_uint_eq(n, 10); /* five two-byte characters */
    append(t, &len, init, sizeof init);
    append(t, &len, gb, n);
    append(t, &len, "\n", 1);
    append(t, &len, big, sizeof big);
    *split = len;
    append(t, &len, qr_setup, sizeof qr_setup);
    store[3] = (uint8_t)(strlen(URL) + 3);
    append(t, &len, store, sizeof store);
    append(t, &len, URL, strlen(URL));
    append(t, &len, qr_print, sizeof qr_print);
    append(t, &len, tail, sizeof tail);
    return len;
}

/* _i = 0: every byte in its own write (commands split across reads);
 * _i = 1: the whole ticket in one write. */
START_TEST(ticket_decoded)
{
    psim s;
    uint8_t t[1024];
    size_t split, len = build_ticket(t, &split), chunk = _i == 0 ? 1 : len;
    char *text;
    int fd;

    psim_start(&s, NULL);
    fd = psim_connect(s.port);
    send_chunks(fd, t, split, chunk);
    ck_assert_int_eq(status(fd, 1), 0x12); /* in the middle of the job */
    send_chunks(fd, t + split, len - split, chunk);
    close(fd);
    psim_wait_out(&s, "==== end of job 1");
    text = ts_slurp(s.out);
    ck_assert_msg(strstr(text, "==== job 1 from 127.0.0.1:") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "[init]\n[center]不动产登记\n[center][x2]A001\n"
                               "[center][qr] " URL "\n[feed 3]\n---- cut ----\n") != NULL,
                  "%s", text);
    ck_assert_msg(strstr(text, "[unknown") == NULL && strstr(text, "[truncated") == NULL, "%s",
                  text);
    ck_assert_msg(strstr(text, "stopped") == NULL, "%s", text);
    free(text);
    psim_stop(&s);
}
END_TEST

START_TEST(status_per_state)
{
    psim s;
    int fd;

    psim_start(&s, NULL);
    fd = psim_connect(s.port);
    expect_status(fd, 0x12, 0x12, 0x12, 0x12);
    psim_control(&s, "paper out");
    expect_status(fd, 0x1a, 0x32, 0x12, 0x72);
    psim_control(&s, "paper ok");
    expect_status(fd, 0x12, 0x12, 0x12, 0x12);
    psim_control(&s, "paper near-end");
    expect_status(fd, 0x12, 0x12, 0x12, 0x1e);
    psim_control(&s, "paper ok");
    psim_control(&s, "cover open");
    expect_status(fd, 0x1a, 0x16, 0x12, 0x12);
    psim_control(&s, "cover closed");
    psim_control(&s, "status");
    expect_status(fd, 0x12, 0x12, 0x12, 0x12);

    /* Signals toggle; they arrive asynchronously, so poll for the change. */
    ck_assert_int_eq(kill(s.pid, SIGUSR1), 0);
    for (int i = 0; i < 1000 && status(fd, 4) != 0x72; i++)
        usleep(10000);
    ck_assert_int_eq(status(fd, 4), 0x72);
    ck_assert_int_eq(kill(s.pid, SIGUSR1), 0);
    ck_assert_int_eq(kill(s.pid, SIGUSR2), 0);
    for (int i = 0; i < 1000 && status(fd, 2) != 0x16; i++)
        usleep(10000);
    expect_status(fd, 0x1a, 0x16, 0x12, 0x12);
    close(fd);
    psim_stop(&s);
}
END_TEST

START_TEST(status_from_flags)
{
    psim s;
    int fd;

    psim_start(&s, (const char *const[]){"--paper-out", "--cover-open", NULL});
    fd = psim_connect(s.port);
    expect_status(fd, 0x1a, 0x36, 0x12, 0x72);
    close(fd);
    psim_stop(&s);

    psim_start(&s, (const char *const[]){"--near-end", NULL});
    fd = psim_connect(s.port);
    expect_status(fd, 0x12, 0x12, 0x12, 0x1e);
    close(fd);
    psim_stop(&s);
}
END_TEST

START_TEST(paper_out_mid_job)
{
    psim s;
    char *text;
    int fd;

    psim_start(&s, NULL);
    fd = psim_connect(s.port);
    send_str(fd, "\x1b@BEFORE\n");
    psim_wait_out(&s, "BEFORE\n");
    psim_control(&s, "paper out");
    send_str(fd, "AFTER\n\x1d\x56\x30");
    ck_assert_int_eq(status(fd, 4), 0x72);
    ck_assert_int_eq(status(fd, 1), 0x1a);
    close(fd);
    psim_wait_out(&s, "==== end of job 1");

    /* Paper still out: the next job does not print either. */
    fd = psim_connect(s.port);
    send_str(fd, "STILL OUT\n");
    ck_assert_int_eq(status(fd, 2), 0x32);
    close(fd);
    psim_wait_out(&s, "==== end of job 2");

    psim_control(&s, "paper ok");
    fd = psim_connect(s.port);
    send_str(fd, "\x1b@NEXT\n\x1d\x56\x30");
    ck_assert_int_eq(status(fd, 4), 0x12);
    close(fd);
    psim_wait_out(&s, "==== end of job 3");

    text = ts_slurp(s.out);
    ck_assert_msg(strstr(text, "[paper out: printing stopped]") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "stopped: paper out") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "AFTER") == NULL && strstr(text, "STILL OUT") == NULL, "%s", text);
    ck_assert_msg(strstr(strstr(text, "==== job 3"), "[init]\nNEXT\n---- cut ----\n") != NULL, "%s",
                  text);
    free(text);
    psim_stop(&s);
}
END_TEST

START_TEST(garbage_survived)
{
    /* Unknown commands, a bad GB18030 pair, a QR function that is not QR,
     * an unknown barcode type, and a command cut off by the end of the job. */
    static const uint8_t crafted[] = {0x1d, 0x99, 0x01, 0x1c, 0x26, 0x81, 0x20, 0x1b, 0x61,
                                      0x09, 0x1d, 0x28, 0x6b, 0x03, 0x00, 0x30, 0x41, 0x00,
                                      0x1d, 0x6b, 0x99, 0x10, 0x04, 0x07, 0x0a};
    static const uint8_t cut_off[] = {0x1d, 0x28, 0x6b, 0x10, 0x00, 0x31};
    psim s;
    uint8_t junk[8192];
    uint32_t x = 12345;
    char *text;
    int fd;

    psim_start(&s, NULL);
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (uint8_t)(x >> 16);
    }
    fd = psim_connect(s.port);
    send_chunks(fd, junk, sizeof junk, 7);
    shutdown(fd, SHUT_WR);
    psim_wait_out(&s, "==== end of job 1");
    close(fd);

    fd = psim_connect(s.port);
    send_chunks(fd, crafted, sizeof crafted, 3);
    ck_assert_int_eq(status(fd, 3), 0x12);
    send_chunks(fd, cut_off, sizeof cut_off, 1);
    close(fd);
    psim_wait_out(&s, "==== end of job 2");

    fd = psim_connect(s.port);
    send_str(fd, "STILL HERE\n");
    ck_assert_int_eq(status(fd, 1), 0x12);
    close(fd);
    psim_wait_out(&s, "STILL HERE\n");

    text = ts_slurp(s.out);
    ck_assert_msg(strstr(text, "[unknown 1d 99]") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "[bad gb18030 81 20]") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "[unknown 1b 61 09]") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "[unknown 1d 28 6b 03 00 30 41 00]") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "[unknown 1d 6b 99]") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "[unknown 10 04 07]") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "[truncated 1d 28 6b 10 00 31]") != NULL, "%s", text);
    free(text);
    psim_stop(&s);
}
END_TEST

START_TEST(silent_printer)
{
    static uint8_t block[65536];
    struct pollfd p;
    psim s;
    size_t sent = 0;
    int fd;

    psim_start(&s, (const char *const[]){"--silent", NULL});
    fd = psim_connect(s.port);
    send_chunks(fd, "\x10\x04\x01", 3, 3);
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 500), 0); /* no answer */

    /* After its short while it stops reading: the sender's writes block. */
    ck_assert(ts_file_contains(s.log, "silent, stopped reading", PSIM_WAIT_MS));
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    for (;;) {
        ssize_t w = write(fd, block, sizeof block);

        if (w < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            break;
        }
        sent += (size_t)w;
        ck_assert_uint_lt(sent, (size_t)1 << 30);
    }
    ck_assert_uint_gt(sent, 0);
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 0), 0); /* still no answer */

    /* Awake again, it reads on; the stopped job prints nothing, and the
     * next job is answered. */
    psim_control(&s, "silent off");
    close(fd);
    psim_wait_out(&s, "==== end of job 1");
    fd = psim_connect(s.port);
    ck_assert_int_eq(status(fd, 1), 0x12);
    close(fd);
    ck_assert(ts_file_contains(s.out, "stopped: silent", PSIM_WAIT_MS));
    psim_stop(&s);
}
END_TEST

static Suite *printersim_suite(void)
{
    Suite *s = suite_create("printersim");
    TCase *tc = tcase_create("sim");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, ticket_decoded, 0, 2);
    tcase_add_test(tc, status_per_state);
    tcase_add_test(tc, status_from_flags);
    tcase_add_test(tc, paper_out_mid_job);
    tcase_add_test(tc, garbage_survived);
    tcase_add_test(tc, silent_printer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(printersim_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
