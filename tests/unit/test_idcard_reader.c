/*
 * test_idcard_reader — the reader interface over the in-process sim
 * backend: one swipe gives one identity, on the loop's thread, and the
 * card is read again only after it left; refused cards (bad check digit,
 * impossible date, expired) give errors and no identity; byte faults are
 * reported and the next card reads; a silent reader goes offline and comes
 * back; a slow reader still reads. Also the configuration checks and the
 * open errors of the serial and usb backends.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ev.h"
#include "reader.h"
#include "reader_sim.h"
#include "testsupport.h"

#define WAIT_MS 20000
#define MAX_REC 64

struct rec {
    ev_loop *loop;
    pthread_t loop_thread;
    reader *r;
    bool wrong_thread;
    int identities;
    char last_number[20], last_masked[48];
    idcard_type last_type;
    bool last_expired;
    size_t last_photo;
    int errors;
    idcard_result codes[MAX_REC];
    int online, offline;
    bool is_online;
    /* ts_run_until flags */
    bool got_identity, got_error, went_offline, went_online;
};

static void on_identity(reader *r, const idcard_identity *id, void *arg)
{
    struct rec *c = arg;

    if (!pthread_equal(pthread_self(), c->loop_thread) || r != c->r)
        c->wrong_thread = true;
    c->identities++;
    snprintf(c->last_number, sizeof c->last_number, "%s", id->id_number);
    snprintf(c->last_masked, sizeof c->last_masked, "%s", id->masked_name);
    c->last_type = id->type;
    c->last_expired = id->expired;
    c->last_photo = id->photo_len;
    c->got_identity = true;
}

static void on_error(reader *r, idcard_result code, const char *detail, void *arg)
{
    struct rec *c = arg;

    if (!pthread_equal(pthread_self(), c->loop_thread) || r != c->r)
        c->wrong_thread = true;
    ck_assert_str_ne(detail, "");
    if (c->errors < MAX_REC)
        c->codes[c->errors] = code;
    c->errors++;
    c->got_error = true;
}

static void on_state(reader *r, bool online, const char *detail, void *arg)
{
    struct rec *c = arg;

    (void)r;
    ck_assert_str_ne(detail, "");
    c->is_online = online;
    if (online) {
        c->online++;
        c->went_online = true;
    } else {
        c->offline++;
        c->went_offline = true;
    }
}

static const reader_callbacks callbacks = {on_identity, on_error, on_state};

static void conf_for_test(reader_conf *conf, samdev_card card)
{
    reader_conf_init(conf);
    conf->poll_ms = 20;
    conf->cmd_timeout_ms = 1000;
    conf->read_timeout_ms = 2000;
    conf->today = 20260115;
    conf->sim.card = card;
}

static reader_sim *start(struct rec *c, const reader_conf *conf)
{
    char err[256];

    memset(c, 0, sizeof *c);
    c->loop = ev_new();
    ck_assert_ptr_nonnull(c->loop);
    c->loop_thread = pthread_self();
    c->r = reader_new(c->loop, conf, &callbacks, c, err, sizeof err);
    ck_assert_msg(c->r != NULL, "reader_new: %s", err);
    ck_assert(ts_run_until(c->loop, &c->went_online, WAIT_MS));
    return reader_sim_of(c->r);
}

static void stop(struct rec *c)
{
    ck_assert(!c->wrong_thread);
    reader_free(c->r);
    ev_free(c->loop);
}

/* Let the worker poll a good number of times (the sim counts commands). */
static void let_poll(struct rec *c, reader_sim *s, unsigned long commands)
{
    unsigned long until = reader_sim_commands(s) + commands;
    bool never = false;

    while (reader_sim_commands(s) < until)
        ts_run_until(c->loop, &never, 20);
    ts_run_until(c->loop, &never, 50);
}

START_TEST(one_swipe_one_read)
{
    struct rec c;
    reader_conf conf;
    reader_sim *s;

    conf_for_test(&conf, SAMDEV_NONE);
    s = start(&c, &conf);
    ck_assert_ptr_nonnull(s);
    let_poll(&c, s, 5);
    ck_assert_int_eq(c.identities, 0);
    ck_assert_int_eq(c.errors, 0);

    reader_sim_set_card(s, SAMDEV_VALID);
    ck_assert(ts_run_until(c.loop, &c.got_identity, WAIT_MS));
    ck_assert_str_eq(c.last_number, "110101199003071233");
    ck_assert_str_eq(c.last_masked, "张*");
    ck_assert_uint_eq(c.last_photo, 1024);
    /* The card stays: many polls, no second read. */
    let_poll(&c, s, 20);
    ck_assert_int_eq(c.identities, 1);

    /* Taken away and presented again: a second read. */
    reader_sim_set_card(s, SAMDEV_NONE);
    let_poll(&c, s, 3);
    c.got_identity = false;
    reader_sim_set_card(s, SAMDEV_HKMT);
    ck_assert(ts_run_until(c.loop, &c.got_identity, WAIT_MS));
    ck_assert_int_eq(c.identities, 2);
    ck_assert_int_eq(c.last_type, IDCARD_HKMT);
    ck_assert_int_eq(c.errors, 0);
    ck_assert_int_eq(c.online, 1);
    ck_assert_int_eq(c.offline, 0);
    stop(&c);
}
END_TEST

/* Each refused card gives exactly one error and no identity. */
START_TEST(refused_cards)
{
    static const struct {
        samdev_card card;
        idcard_result code;
    } cases[] = {
        {SAMDEV_BAD_CHECK, IDCARD_BAD_CHECK_DIGIT},
        {SAMDEV_BAD_DATE, IDCARD_BAD_DATE},
        {SAMDEV_EXPIRED, IDCARD_EXPIRED},
    };
    struct rec c;
    reader_conf conf;
    reader_sim *s;

    conf_for_test(&conf, SAMDEV_NONE);
    s = start(&c, &conf);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c.got_error = false;
        reader_sim_set_card(s, cases[i].card);
        ck_assert(ts_run_until(c.loop, &c.got_error, WAIT_MS));
        let_poll(&c, s, 10);
        ck_assert_int_eq(c.errors, (int)i + 1);
        ck_assert_int_eq(c.codes[i], cases[i].code);
        reader_sim_set_card(s, SAMDEV_NONE);
        let_poll(&c, s, 3);
    }
    ck_assert_int_eq(c.identities, 0);
    stop(&c);
}
END_TEST

/* With the hall's zone instead of a fixed date, today is the zone's date:
 * the card that ended on 2020-01-01 is expired. */
START_TEST(zone_today)
{
    struct rec c;
    reader_conf conf;
    clk_zone *z = clk_zone_new("Asia/Shanghai");

    ck_assert_ptr_nonnull(z);
    conf_for_test(&conf, SAMDEV_EXPIRED);
    conf.today = 0;
    conf.zone = z;
    conf.accept_expired = true;
    start(&c, &conf);
    ck_assert(ts_run_until(c.loop, &c.got_identity, WAIT_MS));
    ck_assert(c.last_expired);
    stop(&c);
    clk_zone_free(z);
}
END_TEST

START_TEST(expired_accepted)
{
    struct rec c;
    reader_conf conf;

    conf_for_test(&conf, SAMDEV_EXPIRED);
    conf.accept_expired = true;
    start(&c, &conf);
    ck_assert(ts_run_until(c.loop, &c.got_identity, WAIT_MS));
    ck_assert(c.last_expired);
    ck_assert_int_eq(c.errors, 0);
    stop(&c);
}
END_TEST

/* A fault on the read answer: one error, then the card reads. */
START_TEST(faults_recovered)
{
    static const struct {
        samdev_fault f;
        idcard_result code;
    } cases[] = {
        {SAMDEV_FAULT_GARBAGE, IDCARD_GARBAGE},
        {SAMDEV_FAULT_TRUNCATED, IDCARD_TRUNCATED},
        {SAMDEV_FAULT_BAD_CHECKSUM, IDCARD_BAD_CHECKSUM},
    };
    struct rec c;
    reader_conf conf;
    reader_sim *s;

    conf_for_test(&conf, SAMDEV_NONE);
    s = start(&c, &conf);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c.got_identity = false;
        reader_sim_set_fault(s, cases[i].f, false);
        reader_sim_set_card(s, SAMDEV_VALID);
        ck_assert(ts_run_until(c.loop, &c.got_identity, WAIT_MS));
        ck_assert_int_eq(c.errors, (int)i + 1);
        ck_assert_int_eq(c.codes[i], cases[i].code);
        ck_assert_int_eq(c.identities, (int)i + 1);
        reader_sim_set_card(s, SAMDEV_NONE);
        let_poll(&c, s, 3);
    }
    /* Noise before the answer is skipped: no error at all. */
    c.got_identity = false;
    reader_sim_set_fault(s, SAMDEV_FAULT_NOISE, false);
    reader_sim_set_card(s, SAMDEV_VALID);
    ck_assert(ts_run_until(c.loop, &c.got_identity, WAIT_MS));
    ck_assert_int_eq(c.errors, 3);
    stop(&c);
}
END_TEST

START_TEST(silent_and_slow)
{
    struct rec c;
    reader_conf conf;
    reader_sim *s;

    conf_for_test(&conf, SAMDEV_NONE);
    s = start(&c, &conf);
    reader_sim_set_silent(s, true);
    ck_assert(ts_run_until(c.loop, &c.went_offline, WAIT_MS));
    ck_assert(!c.is_online);
    ck_assert_int_eq(c.errors, 1);
    ck_assert_int_eq(c.codes[0], IDCARD_NO_ANSWER);
    /* Offline is reported once, however long it lasts. */
    let_poll(&c, s, 0);
    ck_assert_int_eq(c.offline, 1);

    c.went_online = false;
    reader_sim_set_silent(s, false);
    ck_assert(ts_run_until(c.loop, &c.went_online, WAIT_MS));
    ck_assert(c.is_online);

    /* Slower than usual but inside the timeouts: the card reads. */
    reader_sim_set_delay(s, 100);
    reader_sim_set_card(s, SAMDEV_VALID);
    ck_assert(ts_run_until(c.loop, &c.got_identity, WAIT_MS));
    ck_assert_int_eq(c.identities, 1);
    ck_assert_int_eq(c.errors, 1);
    stop(&c);
}
END_TEST

START_TEST(conf_checks)
{
    reader_conf conf;
    ev_loop *loop = ev_new();
    char err[256];

    conf_for_test(&conf, SAMDEV_NONE);
    conf.today = 0; /* and no zone */
    errno = 0;
    ck_assert_ptr_null(reader_new(loop, &conf, &callbacks, NULL, err, sizeof err));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "a zone or a date"));
    conf_for_test(&conf, SAMDEV_NONE);
    conf.poll_ms = 0;
    ck_assert_ptr_null(reader_new(loop, &conf, &callbacks, NULL, err, sizeof err));
    conf_for_test(&conf, SAMDEV_NONE);
    ck_assert_ptr_null(
        reader_new(loop, &conf, &(reader_callbacks){NULL, NULL, NULL}, NULL, err, sizeof err));

    ck_assert_int_eq(reader_conf_backend(&conf, "usb", err, sizeof err), 0);
    ck_assert_int_eq(conf.backend, READER_BACKEND_USB);
    ck_assert_int_eq(reader_conf_backend(&conf, "pcsc", err, sizeof err), -1);
    ck_assert_str_eq(err, "unknown card reader backend 'pcsc' (known: sim, serial, usb)");
    ck_assert_str_eq(reader_backend_name(READER_BACKEND_SERIAL), "serial");
    ck_assert_ptr_null(reader_backend_name(READER_BACKEND_COUNT));
    reader_free(NULL);
    ev_free(loop);
}
END_TEST

START_TEST(serial_open_errors)
{
    reader_conf conf;
    ev_loop *loop = ev_new();
    char err[256];
    char *dir = ts_tmpdir("idcard-serial");

    conf_for_test(&conf, SAMDEV_NONE);
    conf.backend = READER_BACKEND_SERIAL;
    ck_assert_ptr_null(reader_new(loop, &conf, &callbacks, NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "no device"));
    snprintf(conf.serial.device, sizeof conf.serial.device, "%s", ts_path(dir, "missing"));
    errno = 0;
    ck_assert_ptr_null(reader_new(loop, &conf, &callbacks, NULL, err, sizeof err));
    ck_assert_int_eq(errno, ENOENT);
    ts_write_file(ts_path(dir, "file"), "not a tty\n");
    snprintf(conf.serial.device, sizeof conf.serial.device, "%s", ts_path(dir, "file"));
    ck_assert_ptr_null(reader_new(loop, &conf, &callbacks, NULL, err, sizeof err));
    ck_assert_int_eq(errno, ENOTTY);
    ck_assert_ptr_nonnull(strstr(err, "not a terminal"));
    conf.serial.baud = 12345;
    ck_assert_ptr_null(reader_new(loop, &conf, &callbacks, NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "baud"));
    ts_rmtree(dir);
    free(dir);
    ev_free(loop);
}
END_TEST

/* No USB reader here (and no /dev/bus/usb in a container): each case is a
 * clear error, never a crash. */
START_TEST(usb_open_errors)
{
    reader_conf conf;
    ev_loop *loop = ev_new();
    char err[256];

    conf_for_test(&conf, SAMDEV_NONE);
    conf.backend = READER_BACKEND_USB;
    errno = 0;
    ck_assert_ptr_null(reader_new(loop, &conf, &callbacks, NULL, err, sizeof err));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "vendor and product id"));
    conf.usb.vid = 0x0400;
    conf.usb.pid = 0xc35a;
    snprintf(conf.usb.model, sizeof conf.usb.model, "hid");
    ck_assert_ptr_null(reader_new(loop, &conf, &callbacks, NULL, err, sizeof err));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "unknown model"));
    snprintf(conf.usb.model, sizeof conf.usb.model, "huashi");
    errno = 0;
    ck_assert_ptr_null(reader_new(loop, &conf, &callbacks, NULL, err, sizeof err));
    ck_assert_msg(errno == ENODEV || errno == EIO, "errno %d: %s", errno, err);
    ck_assert_ptr_nonnull(strstr(err, "USB card reader"));
    ev_free(loop);
}
END_TEST

static Suite *reader_suite(void)
{
    Suite *s = suite_create("idcard_reader");
    TCase *tc = tcase_create("sim");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, one_swipe_one_read);
    tcase_add_test(tc, refused_cards);
    tcase_add_test(tc, expired_accepted);
    tcase_add_test(tc, zone_today);
    tcase_add_test(tc, faults_recovered);
    tcase_add_test(tc, silent_and_slow);
    tcase_add_test(tc, conf_checks);
    tcase_add_test(tc, serial_open_errors);
    tcase_add_test(tc, usb_open_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(reader_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
