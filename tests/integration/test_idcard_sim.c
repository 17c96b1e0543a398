/*
 * test_idcard_sim — the serial card reader driver against the real
 * simulator binary (tools/idreadersim) over a pty, as a kiosk would use
 * it. Two CTests run this program:
 *
 *   test_idcard_sim serial   (idcard_serial_sim) one swipe gives one
 *       identity, no card gives nothing, a slow reader still reads, a
 *       reader slower than the timeout goes offline and comes back;
 *   test_idcard_sim garbage  (idcard_garbage) the simulator's
 *       misbehaviours (garbage, truncated and wrong-checksum answers, a
 *       silent reader, bad cards, a reader that disappears) are reported
 *       as errors and the next good card reads.
 *
 * Each test starts its own simulator (pty link and log in a scratch
 * directory, control port 0) and stops it with SIGTERM, which must end
 * it with status 0; its log must not hold a clear ID number or name.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ev.h"
#include "reader.h"
#include "samdev.h"
#include "testsupport.h"

#define WAIT_MS 20000
#define MAX_REC 64

struct sim {
    pid_t pid;
    char *dir;
    char log[512], tty[200];
    int control;
};

struct rec {
    ev_loop *loop;
    reader *r;
    int identities, errors, online, offline;
    idcard_type last_type;
    idcard_result codes[MAX_REC];
    bool is_online;
    bool got_identity, got_error, went_online, went_offline;
};

/* ---- the simulator ---- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = calloc(1, 1 << 20);
    size_t n = 0;

    ck_assert_ptr_nonnull(text);
    if (f != NULL) {
        n = fread(text, 1, (1 << 20) - 1, f);
        fclose(f);
    }
    text[n] = '\0';
    return text;
}

static void sim_start(struct sim *s, const char *card)
{
    const char *argv[] = {IDREADERSIM_PATH, "--card", card,          "--link", NULL,
                          "--control-port", "0",      "--log-level", "debug",  NULL};
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 10};
    char *text, *at;
    int port;

    memset(s, 0, sizeof *s);
    s->dir = ts_tmpdir("idreadersim");
    snprintf(s->log, sizeof s->log, "%s", ts_path(s->dir, "idreadersim.log"));
    ck_assert_int_lt(snprintf(s->tty, sizeof s->tty, "%s/ttyID0", s->dir), (int)sizeof s->tty);
    argv[4] = s->tty;
    s->pid = ts_spawn(argv, s->log);
    ck_assert_msg(ts_file_contains(s->log, "idreadersim: ready /dev/", WAIT_MS),
                  "the simulator did not start");
    text = slurp(s->log);
    at = strstr(text, "control on 127.0.0.1:");
    ck_assert_ptr_nonnull(at);
    port = atoi(at + strlen("control on 127.0.0.1:"));
    free(text);
    ck_assert_int_gt(port, 0);
    s->control = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->control, 0);
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(s->control, (struct sockaddr *)&sa, sizeof sa), 0);
    setsockopt(s->control, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Send one control line; returns the reply line (static buffer). */
static const char *control(struct sim *s, const char *line)
{
    static char reply[512];
    size_t n = 0;

    ck_assert_int_eq(write(s->control, line, strlen(line)), (ssize_t)strlen(line));
    ck_assert_int_eq(write(s->control, "\n", 1), 1);
    while (n < sizeof reply - 1) {
        ssize_t r = read(s->control, reply + n, 1);

        ck_assert_int_eq(r, 1);
        if (reply[n] == '\n')
            break;
        n++;
    }
    reply[n] = '\0';
    ck_assert_msg(strncmp(reply, "ok ", 3) == 0, "control '%s': %s", line, reply);
    return reply;
}

static unsigned long sim_commands(struct sim *s)
{
    const char *at = strstr(control(s, "status"), "commands=");

    ck_assert_ptr_nonnull(at);
    return strtoul(at + strlen("commands="), NULL, 10);
}

/* The simulator must stop cleanly on SIGTERM, and its log must hold no
 * clear personal field of any of its cards. */
static void sim_stop(struct sim *s)
{
    char *text;
    int status;

    if (s->control >= 0)
        close(s->control);
    if (s->pid > 0) {
        ck_assert_int_eq(kill(s->pid, SIGTERM), 0);
        status = ts_wait(s->pid, WAIT_MS);
        if (status == -1)
            ts_kill(s->pid);
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "idreadersim did not stop cleanly (status %d)", status);
    }
    text = slurp(s->log);
    for (int k = SAMDEV_VALID; k < SAMDEV_CARD_COUNT; k++) {
        idcard_identity id;

        ck_assert_int_eq(samdev_card_identity((samdev_card)k, &id), 0);
        ck_assert_ptr_null(strstr(text, id.id_number));
        ck_assert_ptr_null(strstr(text, id.name));
    }
    free(text);
    ts_rmtree(s->dir);
    free(s->dir);
}

/* ---- the driver ---- */

static void on_identity(reader *r, const idcard_identity *id, void *arg)
{
    struct rec *c = arg;

    (void)r;
    ck_assert_str_ne(id->masked_number, "");
    c->identities++;
    c->last_type = id->type;
    c->got_identity = true;
}

static void on_error(reader *r, idcard_result code, const char *detail, void *arg)
{
    struct rec *c = arg;

    (void)r;
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
    (void)detail;
    c->is_online = online;
    if (online) {
        c->online++;
        c->went_online = true;
    } else {
        c->offline++;
        c->went_offline = true;
    }
}

static void reader_start(struct rec *c, struct sim *s)
{
    static const reader_callbacks cb = {on_identity, on_error, on_state};
    reader_conf conf;
    char err[256];

    memset(c, 0, sizeof *c);
    reader_conf_init(&conf);
    conf.backend = READER_BACKEND_SERIAL;
    snprintf(conf.serial.device, sizeof conf.serial.device, "%s", s->tty);
    conf.poll_ms = 50;
    conf.cmd_timeout_ms = 1000;
    conf.today = 20260115;
    c->loop = ev_new();
    ck_assert_ptr_nonnull(c->loop);
    c->r = reader_new(c->loop, &conf, &cb, c, err, sizeof err);
    ck_assert_msg(c->r != NULL, "reader_new: %s", err);
    ck_assert(ts_run_until(c->loop, &c->went_online, WAIT_MS));
}

static void reader_stop(struct rec *c)
{
    reader_free(c->r);
    ev_free(c->loop);
}

/* Run the loop while the simulator answers n more commands. */
static void let_poll(struct rec *c, struct sim *s, unsigned long n)
{
    unsigned long until = sim_commands(s) + n;
    bool never = false;

    for (int i = 0; i < WAIT_MS / 50 && sim_commands(s) < until; i++)
        ts_run_until(c->loop, &never, 50);
    ck_assert_uint_ge(sim_commands(s), until);
}

static void expect_identity(struct rec *c, int total)
{
    c->got_identity = false;
    if (c->identities < total)
        ck_assert(ts_run_until(c->loop, &c->got_identity, WAIT_MS));
    ck_assert_int_eq(c->identities, total);
}

/* ---- idcard_serial_sim ---- */

START_TEST(one_swipe_one_identity)
{
    struct sim s;
    struct rec c;

    sim_start(&s, "none");
    reader_start(&c, &s);
    control(&s, "place valid");
    expect_identity(&c, 1);
    ck_assert_int_eq(c.last_type, IDCARD_RESIDENT);
    /* The card stays on the reader: many finds, no second identity. */
    let_poll(&c, &s, 20);
    ck_assert_int_eq(c.identities, 1);
    /* Away, then another card: one more. */
    control(&s, "remove");
    let_poll(&c, &s, 3);
    control(&s, "place permanent");
    expect_identity(&c, 2);
    ck_assert_int_eq(c.last_type, IDCARD_FOREIGN_2023);
    control(&s, "remove");
    let_poll(&c, &s, 3);
    control(&s, "place hkmt");
    expect_identity(&c, 3);
    ck_assert_int_eq(c.last_type, IDCARD_HKMT);
    ck_assert_int_eq(c.errors, 0);
    ck_assert_int_eq(c.offline, 0);
    reader_stop(&c);
    sim_stop(&s);
}
END_TEST

START_TEST(no_card)
{
    struct sim s;
    struct rec c;

    sim_start(&s, "none");
    reader_start(&c, &s);
    let_poll(&c, &s, 30);
    ck_assert_int_eq(c.identities, 0);
    ck_assert_int_eq(c.errors, 0);
    ck_assert(c.is_online);
    reader_stop(&c);
    sim_stop(&s);
}
END_TEST

START_TEST(slow_reader)
{
    struct sim s;
    struct rec c;

    sim_start(&s, "none");
    reader_start(&c, &s);
    /* Slow, inside the timeouts: it reads. */
    control(&s, "slow 150");
    control(&s, "place valid");
    expect_identity(&c, 1);
    ck_assert_int_eq(c.errors, 0);
    /* Slower than the 1000 ms command timeout: offline, once. */
    control(&s, "slow 3000");
    ck_assert(ts_run_until(c.loop, &c.went_offline, WAIT_MS));
    ck_assert_int_eq(c.codes[0], IDCARD_NO_ANSWER);
    ck_assert_int_eq(c.offline, 1);
    /* Back to speed: online again, the late answers are not taken for
     * new ones, and the next swipe reads. */
    c.went_online = false;
    control(&s, "slow 0");
    ck_assert(ts_run_until(c.loop, &c.went_online, WAIT_MS));
    control(&s, "remove");
    let_poll(&c, &s, 3);
    control(&s, "place expired");
    c.got_error = false;
    ck_assert(ts_run_until(c.loop, &c.got_error, WAIT_MS));
    ck_assert_int_eq(c.codes[c.errors - 1], IDCARD_EXPIRED);
    control(&s, "remove");
    let_poll(&c, &s, 3);
    control(&s, "place valid");
    expect_identity(&c, 2);
    reader_stop(&c);
    sim_stop(&s);
}
END_TEST

/* ---- idcard_garbage ---- */

START_TEST(byte_faults)
{
    static const struct {
        const char *fault;
        idcard_result code;
    } cases[] = {
        {"fault garbage", IDCARD_GARBAGE},
        {"fault truncated", IDCARD_TRUNCATED},
        {"fault bad-checksum", IDCARD_BAD_CHECKSUM},
        {"fault garbage any", IDCARD_GARBAGE},
        {"fault truncated any", IDCARD_TRUNCATED},
        {"fault bad-checksum any", IDCARD_BAD_CHECKSUM},
    };
    struct sim s;
    struct rec c;

    sim_start(&s, "none");
    reader_start(&c, &s);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c.got_error = false;
        control(&s, cases[i].fault);
        control(&s, "place valid");
        ck_assert(ts_run_until(c.loop, &c.got_error, WAIT_MS));
        ck_assert_int_eq(c.errors, (int)i + 1);
        ck_assert_int_eq(c.codes[i], cases[i].code);
        /* Recovered: the card reads. */
        expect_identity(&c, (int)i + 1);
        control(&s, "remove");
        let_poll(&c, &s, 3);
    }
    /* Noise before an answer is skipped without an error. */
    control(&s, "fault noise");
    control(&s, "place valid");
    expect_identity(&c, 7);
    ck_assert_int_eq(c.errors, 6);
    ck_assert_int_eq(c.offline, 0);
    reader_stop(&c);
    sim_stop(&s);
}
END_TEST

START_TEST(bad_cards)
{
    static const struct {
        const char *card;
        idcard_result code;
    } cases[] = {
        {"place bad-check", IDCARD_BAD_CHECK_DIGIT},
        {"place bad-date", IDCARD_BAD_DATE},
        {"place expired", IDCARD_EXPIRED},
    };
    struct sim s;
    struct rec c;

    sim_start(&s, "none");
    reader_start(&c, &s);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c.got_error = false;
        control(&s, cases[i].card);
        ck_assert(ts_run_until(c.loop, &c.got_error, WAIT_MS));
        /* Refused once: left on the reader, it is not read again. */
        let_poll(&c, &s, 10);
        ck_assert_int_eq(c.errors, (int)i + 1);
        ck_assert_int_eq(c.codes[i], cases[i].code);
        control(&s, "remove");
        let_poll(&c, &s, 3);
    }
    ck_assert_int_eq(c.identities, 0);
    control(&s, "place valid");
    expect_identity(&c, 1);
    reader_stop(&c);
    sim_stop(&s);
}
END_TEST

START_TEST(silent_reader)
{
    struct sim s;
    struct rec c;

    sim_start(&s, "valid");
    reader_start(&c, &s);
    expect_identity(&c, 1);
    control(&s, "silent on");
    ck_assert(ts_run_until(c.loop, &c.went_offline, WAIT_MS));
    ck_assert_int_eq(c.codes[0], IDCARD_NO_ANSWER);
    c.went_online = false;
    control(&s, "silent off");
    ck_assert(ts_run_until(c.loop, &c.went_online, WAIT_MS));
    /* The reader forgot the card while offline: it is read again. */
    expect_identity(&c, 2);
    ck_assert_int_eq(c.offline, 1);
    reader_stop(&c);
    sim_stop(&s);
}
END_TEST

/* The simulator goes away under the driver: an error and offline, no
 * crash, no hang; reader_free still returns. */
START_TEST(reader_disappears)
{
    struct sim s;
    struct rec c;
    int status;

    sim_start(&s, "none");
    reader_start(&c, &s);
    close(s.control);
    s.control = -1;
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    status = ts_wait(s.pid, WAIT_MS);
    ck_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    s.pid = 0;
    ck_assert(ts_run_until(c.loop, &c.went_offline, WAIT_MS));
    ck_assert_int_ge(c.errors, 1);
    ck_assert(c.codes[0] == IDCARD_IO || c.codes[0] == IDCARD_NO_ANSWER);
    reader_stop(&c);
    sim_stop(&s);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s;
    TCase *tc;
    SRunner *sr;
    int failed;

    if (argc != 2 || (strcmp(argv[1], "serial") != 0 && strcmp(argv[1], "garbage") != 0)) {
        fprintf(stderr, "usage: %s serial|garbage\n", argv[0]);
        return EXIT_FAILURE;
    }
    s = suite_create(argv[1]);
    tc = tcase_create(argv[1]);
    tcase_set_timeout(tc, 120);
    if (strcmp(argv[1], "serial") == 0) {
        tcase_add_test(tc, one_swipe_one_identity);
        tcase_add_test(tc, no_card);
        tcase_add_test(tc, slow_reader);
    } else {
        tcase_add_test(tc, byte_faults);
        tcase_add_test(tc, bad_cards);
        tcase_add_test(tc, silent_reader);
        tcase_add_test(tc, reader_disappears);
    }
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
