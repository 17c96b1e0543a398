/*
 * The bus master (drivers/bus) against the bus simulator (tools/bussim):
 * the real binary with a hall's devices on one RTU pty and on Modbus TCP,
 * the master on this process's event loop. One executable, one suite per
 * CTest name (the first argument picks it):
 *
 *   rtu, tcp      displays written, keys and ratings read, broadcast, scan
 *   offline       a device goes silent, answers exceptions or bad CRCs:
 *                 offline and online events, the others unaffected, the
 *                 display rewritten when it returns
 *   exactly_once  presses during lost replies, repeated polls, an outage,
 *                 a full FIFO, sequence wrap and a restart: each delivered
 *                 once, in order
 *   board_burst   20 calls in one second: each on the hall board for at
 *                 least its minimum time, in order, none lost
 *   sim_faults    garbage on the RTU line, raw Modbus TCP requests the map
 *                 does not have (exceptions), bad commands and bad usage
 *
 * Each test starts its own simulator (scratch directory, port 0) and stops
 * it with SIGTERM, which must end it with status 0.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "busmaster.h"
#include "clk.h"
#include "testsupport.h"

#define WAIT_MS  15000
#define DEVICES  "1:board,11:window:1,12:window:2,41:callpad:1,71:rating:1"
#define NDEVICES 5
#define MIN_MS   1000 /* board minimum display time in the burst test */

struct key_seen {
    int addr;
    bus_key key;
    uint16_t arg, seq;
};

struct fx {
    pid_t pid;
    char *dir;
    char log[512], out[512], link[200];
    int tcp_port, control_port;
    int control;
    ev_loop *loop;
    busmaster *bm;
    busmaster_conf conf;

    struct key_seen keys[256];
    size_t nkeys;
    int online[248], offline[248]; /* health events per address */
    char last_why[248][256];
    struct {
        uint16_t prompt;
        busmaster_rating_end end;
        int level;
    } ratings[16];
    size_t nratings;
    int write_failed[248];
    char notices[4096];
    int restarted[248]; /* new boot ids seen per address */
    uint16_t boot_id[248];
    char signin_clerk[32], signin_pin[16]; /* the last sign-in */
    uint16_t signin_seq;
    int nsignins;
    bool done, done_ok;
    busmaster_found found[32];
    size_t nfound;
};

/* ---- callbacks ---- */

static void on_key(busmaster *bm, const bus_device *dev, bus_key key, uint16_t arg_value,
                   uint16_t seq, void *arg)
{
    struct fx *f = arg;

    (void)bm;
    ck_assert_uint_lt(f->nkeys, 256);
    f->keys[f->nkeys++] = (struct key_seen){dev->addr, key, arg_value, seq};
}

static void on_rating(busmaster *bm, const bus_device *dev, uint16_t prompt,
                      busmaster_rating_end end, int level, void *arg)
{
    struct fx *f = arg;

    (void)bm;
    ck_assert_int_eq(dev->kind, BUS_KIND_RATING);
    ck_assert_uint_lt(f->nratings, 16);
    f->ratings[f->nratings].prompt = prompt;
    f->ratings[f->nratings].end = end;
    f->ratings[f->nratings++].level = level;
}

static void on_health(busmaster *bm, const bus_device *dev, bool online, const char *why, void *arg)
{
    struct fx *f = arg;

    (void)bm;
    if (online)
        f->online[dev->addr]++;
    else
        f->offline[dev->addr]++;
    snprintf(f->last_why[dev->addr], sizeof f->last_why[0], "%s", why);
}

static void on_write_failed(busmaster *bm, const bus_device *dev, const char *what, const char *why,
                            void *arg)
{
    struct fx *f = arg;

    (void)bm;
    ck_assert_ptr_nonnull(what);
    ck_assert_ptr_nonnull(why);
    f->write_failed[dev->addr]++;
}

static void on_notice(busmaster *bm, const char *text, void *arg)
{
    struct fx *f = arg;
    size_t used = strlen(f->notices);

    (void)bm;
    snprintf(f->notices + used, sizeof f->notices - used, "%s\n", text);
}

static void on_restarted(busmaster *bm, const bus_device *dev, uint16_t boot_id, void *arg)
{
    struct fx *f = arg;

    (void)bm;
    ck_assert_uint_ne(boot_id, 0);
    ck_assert_uint_ne(boot_id, f->boot_id[dev->addr]);
    f->restarted[dev->addr]++;
    f->boot_id[dev->addr] = boot_id;
}

static void on_signin(busmaster *bm, const bus_device *dev, const char *clerk, const char *pin,
                      uint16_t seq, void *arg)
{
    struct fx *f = arg;

    (void)bm;
    ck_assert_int_eq(dev->kind, BUS_KIND_CALLPAD);
    snprintf(f->signin_clerk, sizeof f->signin_clerk, "%s", clerk);
    snprintf(f->signin_pin, sizeof f->signin_pin, "%s", pin);
    f->signin_seq = seq;
    f->nsignins++;
}

static const busmaster_callbacks callbacks = {on_key,    on_rating,    on_health, on_write_failed,
                                              on_notice, on_restarted, on_signin};

/* ---- the simulator ---- */

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *text = calloc(1, 1 << 20);
    size_t n = 0;

    ck_assert_ptr_nonnull(text);
    if (fp != NULL) {
        n = fread(text, 1, (1 << 20) - 1, fp);
        fclose(fp);
    }
    text[n] = '\0';
    return text;
}

static int log_port(const char *log, const char *key)
{
    char *text = slurp(log), *at = strstr(text, key);
    int port = at != NULL ? atoi(at + strlen(key)) : -1;

    free(text);
    ck_assert_int_gt(port, 0);
    return port;
}

/* Send one command line; the reply up to its "ok"/"error" line
 * (malloc'd). */
__attribute__((format(printf, 2, 3))) static char *sim_cmd(struct fx *f, const char *fmt, ...)
{
    char line[256], *reply = calloc(1, 65536);
    size_t used = 0;
    va_list ap;
    int n;

    ck_assert_ptr_nonnull(reply);
    if (f->control < 0)
        f->control = ts_connect(f->control_port, 10);
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    line[n++] = '\n';
    ck_assert_int_eq(write(f->control, line, (size_t)n), n);
    for (;;) {
        char *last;
        ssize_t got = read(f->control, reply + used, 65535 - used);

        ck_assert_msg(got > 0, "no reply from bussim to %s", line);
        used += (size_t)got;
        reply[used] = '\0';
        if (used == 0 || reply[used - 1] != '\n')
            continue;
        reply[used - 1] = '\0';
        last = strrchr(reply, '\n');
        last = last != NULL ? last + 1 : reply;
        reply[used - 1] = '\n';
        if (strncmp(last, "ok", 2) == 0 || strncmp(last, "error", 5) == 0)
            return reply;
    }
}

/* A command that must succeed. */
#define SIM_OK(f, ...)                                                                             \
    do {                                                                                           \
        char *r_ = sim_cmd((f), __VA_ARGS__);                                                      \
        ck_assert_msg(strncmp(r_, "ok", 2) == 0, "bussim said: %s", r_);                           \
        free(r_);                                                                                  \
    } while (0)

static void run_for(struct fx *f, int ms)
{
    int64_t until = clk_mono_ms() + ms;

    while (clk_mono_ms() < until)
        ev_run_once(f->loop, 20);
}

/* Run the loop until the simulator's view contains needle (or, with
 * absent, no longer does). */
static bool wait_show(struct fx *f, const char *needle, bool absent, int timeout_ms)
{
    int64_t until = clk_mono_ms() + timeout_ms;

    for (;;) {
        char *view = sim_cmd(f, "show");
        bool has = strstr(view, needle) != NULL;

        if (has != absent) {
            free(view);
            return true;
        }
        if (clk_mono_ms() > until) {
            fprintf(stderr, "waited for %s'%s' in:\n%s", absent ? "no " : "", needle, view);
            free(view);
            return false;
        }
        free(view);
        run_for(f, 50);
    }
}

#define WAIT_FOR(f, cond)                                                                          \
    do {                                                                                           \
        int64_t until_ = clk_mono_ms() + WAIT_MS;                                                  \
        while (!(cond) && clk_mono_ms() < until_)                                                  \
            ev_run_once((f)->loop, 20);                                                            \
        ck_assert_msg((cond), "timed out waiting for %s", #cond);                                  \
    } while (0)

static int online_count(const struct fx *f)
{
    int n = 0;

    for (int a = 0; a < 248; a++)
        n += f->online[a] > f->offline[a];
    return n;
}

static void fx_start(struct fx *f, busmaster_transport t, int board_min_ms)
{
    const char *argv[16] = {BUSSIM_PATH, "--devices", DEVICES, "--rtu-link"};
    char err[256];
    int argc = 4;

    memset(f, 0, sizeof *f);
    f->control = -1;
    f->dir = ts_tmpdir("bus");
    snprintf(f->log, sizeof f->log, "%s", ts_path(f->dir, "bussim.log"));
    snprintf(f->out, sizeof f->out, "%s", ts_path(f->dir, "changes.log"));
    snprintf(f->link, sizeof f->link, "%s", ts_path(f->dir, "ttyBUS"));
    argv[argc++] = f->link;
    argv[argc++] = "--tcp";
    argv[argc++] = "0";
    argv[argc++] = "--control-port";
    argv[argc++] = "0";
    argv[argc++] = "--out";
    argv[argc++] = f->out;
    argv[argc++] = "--log-level";
    argv[argc++] = "debug";
    argv[argc] = NULL;
    f->pid = ts_spawn(argv, f->log);
    ck_assert_msg(ts_file_contains(f->log, "bussim: ready", WAIT_MS), "bussim did not start");
    f->tcp_port = log_port(f->log, "bussim: tcp on 127.0.0.1:");
    f->control_port = log_port(f->log, "bussim: control on 127.0.0.1:");

    ck_assert_ptr_nonnull(f->loop = ev_new());
    busmaster_conf_init(&f->conf);
    f->conf.transport = t;
    snprintf(f->conf.rtu.device, sizeof f->conf.rtu.device, "%s", f->link);
    f->conf.rtu.baud = 115200;
    f->conf.rtu.rs485 = true; /* a pty refuses it: the master goes on without */
    f->conf.tcp.port = f->tcp_port;
    /* Generous for a loaded 2-core machine, short enough for the test. */
    f->conf.response_timeout_ms = 150;
    f->conf.offline_after = 3;
    f->conf.check_ms = 200;
    f->conf.probe_ms = 300;
    f->conf.blink_ms = 1500;
    f->conf.board_min_ms = board_min_ms;
    f->conf.rating_grace_ms = 1000;
    ck_assert_int_eq(busmaster_conf_devices(&f->conf, DEVICES, err, sizeof err), 0);
    f->bm = busmaster_new(f->loop, &f->conf, &callbacks, f, err, sizeof err);
    ck_assert_msg(f->bm != NULL, "busmaster_new: %s", err);
    WAIT_FOR(f, online_count(f) == NDEVICES);
}

static void fx_stop(struct fx *f)
{
    int status;

    busmaster_free(f->bm);
    ev_free(f->loop);
    if (f->control >= 0)
        close(f->control);
    ck_assert_int_eq(kill(f->pid, SIGTERM), 0);
    status = ts_wait(f->pid, WAIT_MS);
    if (status == -1)
        ts_kill(f->pid);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "bussim did not stop cleanly (status %d)", status);
    ts_rmtree(f->dir);
    free(f->dir);
}

/* ---- rtu, tcp ---- */

static void broadcast_done(busmaster *bm, bool ok, const char *detail, void *arg)
{
    struct fx *f = arg;

    (void)bm;
    ck_assert_ptr_nonnull(detail);
    f->done = true;
    f->done_ok = ok;
}

static void scan_done(busmaster *bm, const busmaster_found *found, size_t n, void *arg)
{
    struct fx *f = arg;

    (void)bm;
    ck_assert_uint_le(n, 32);
    memcpy(f->found, found, n * sizeof *found);
    f->nfound = n;
    f->done = true;
}

static void master_basics(busmaster_transport t)
{
    struct fx f;
    uint16_t prompt, bright = 9;

    fx_start(&f, t, 500);

    /* A call: the window display shows and blinks it, then stays steady. */
    ck_assert_int_eq(busmaster_show_call(f.bm, 1, "A012", "张三丰", -1), 0);
    ck_assert(
        wait_show(&f, "window 1: A012 \"请A012号 张*丰 到1号窗口\" blinking", false, WAIT_MS));
    ck_assert(wait_show(&f, "window 1: A012 \"请A012号 张*丰 到1号窗口\" steady", false, WAIT_MS));
    ck_assert(wait_show(&f, "window 2: (blank)", false, 100));
    /* The same number again (a recall) blinks again. */
    ck_assert_int_eq(busmaster_show_call(f.bm, 1, "A012", "张三丰", -1), 0);
    ck_assert(
        wait_show(&f, "window 1: A012 \"请A012号 张*丰 到1号窗口\" blinking", false, WAIT_MS));

    ck_assert_int_eq(busmaster_board_post(f.bm, 1, "A012", "张三丰"), 0);
    ck_assert_int_eq(busmaster_board_post(f.bm, 2, "B003", NULL), 0);
    ck_assert(wait_show(&f, "board rows: B003@2 A012@1(张*丰)", false, WAIT_MS));
    ck_assert_int_eq(busmaster_set_notice(f.bm, "请保持安静，留意窗口屏幕"), 0);
    ck_assert(wait_show(&f, "notice: \"请保持安静，留意窗口屏幕\"", false, WAIT_MS));
    ck_assert_int_eq(busmaster_set_callpad(f.bm, 1, "A012", 5, 0, NULL), 0);
    ck_assert(wait_show(&f, "callpad 1: ticket A012 waiting 5 text \"\"", false, WAIT_MS));
    /* Marks and a Chinese line, cut at a whole character to 32 bytes. */
    ck_assert_int_eq(busmaster_set_callpad(f.bm, 1, "A013", 7,
                                           BUSMAP_PAD_GREEN | BUSMAP_PAD_TRANSFERRED,
                                           "再按一次确认过号"),
                     0);
    ck_assert(wait_show(&f,
                        "callpad 1: ticket A013 waiting 7 绿色通道 转办 text \"再按一次确认过号\"",
                        false, WAIT_MS));
    ck_assert_int_eq(
        busmaster_set_callpad(f.bm, 1, "A013", 7, 0, "一二三四五六七八九十一二三四五六七八"), 0);
    ck_assert(wait_show(&f, "text \"一二三四五六七八九十一二三四五六\" |", false, WAIT_MS));
    ck_assert_int_eq(busmaster_set_callpad(f.bm, 1, "A013", 7, 0x80, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* A window's state instead of a call: steady, no number. */
    ck_assert_int_eq(busmaster_show_window(f.bm, 2, "", "2号窗口 暂停服务"), 0);
    ck_assert(wait_show(&f, "window 2: - \"2号窗口 暂停服务\" steady", false, WAIT_MS));
    ck_assert_int_eq(busmaster_show_window(f.bm, 9, "", "x"), -1);
    ck_assert_int_eq(errno, ENOENT);

    /* A sign-in: its digits come with it, once, and leave the pad. */
    SIM_OK(&f, "press 41 signin 1001 654321");
    WAIT_FOR(&f, f.nsignins == 1);
    ck_assert_str_eq(f.signin_clerk, "1001");
    ck_assert_str_eq(f.signin_pin, "654321");
    /* One sign-in at a time: the next once the pad saw the first taken. */
    ck_assert(wait_show(&f, "callpad 1: ticket A013 waiting 7 text", false, WAIT_MS));
    ck_assert(wait_show(&f, "| fifo 0/8", false, WAIT_MS));
    SIM_OK(&f, "press 41 signin 1002 1234");
    WAIT_FOR(&f, f.nsignins == 2);
    ck_assert_str_eq(f.signin_clerk, "1002");
    ck_assert_str_eq(f.signin_pin, "1234");
    ck_assert_int_eq(f.nkeys, 0);

    /* Keys. */
    SIM_OK(&f, "press 41 next");
    SIM_OK(&f, "press 41 transfer 3");
    WAIT_FOR(&f, f.nkeys == 2);
    ck_assert_int_eq(f.keys[0].key, BUS_KEY_NEXT);
    ck_assert_int_eq(f.keys[0].addr, 41);
    ck_assert_int_eq(f.keys[1].key, BUS_KEY_TRANSFER);
    ck_assert_int_eq(f.keys[1].arg, 3);
    ck_assert(busmap_seq_after(f.keys[1].seq, f.keys[0].seq));

    /* A rating, then a prompt that times out on the pad, then one that a
     * newer prompt cancels. */
    ck_assert_int_eq(busmaster_prompt_rating(f.bm, 1, "A012", 30, &prompt), 0);
    {
        char want[64];

        snprintf(want, sizeof want, "rating 1: prompt %u for A012", prompt);
        ck_assert(wait_show(&f, want, false, WAIT_MS));
    }
    SIM_OK(&f, "rate 71 5");
    WAIT_FOR(&f, f.nratings == 1);
    ck_assert_int_eq(f.ratings[0].end, BUSMASTER_RATED);
    ck_assert_int_eq(f.ratings[0].level, 5);
    ck_assert_uint_eq(f.ratings[0].prompt, prompt);
    ck_assert(wait_show(&f, "rating 1: idle", false, WAIT_MS));
    ck_assert_int_eq(busmaster_prompt_rating(f.bm, 1, "A013", 1, &prompt), 0);
    WAIT_FOR(&f, f.nratings == 2);
    ck_assert_int_eq(f.ratings[1].end, BUSMASTER_TIMED_OUT);
    ck_assert_uint_eq(f.ratings[1].prompt, prompt);
    ck_assert_int_eq(busmaster_prompt_rating(f.bm, 1, "A014", 60, &prompt), 0);
    ck_assert_int_eq(busmaster_prompt_rating(f.bm, 1, "A015", 60, NULL), 0);
    ck_assert_uint_eq(f.nratings, 3);
    ck_assert_int_eq(f.ratings[2].end, BUSMASTER_CANCELLED);
    ck_assert_uint_eq(f.ratings[2].prompt, prompt);
    /* A rating for the cancelled prompt would be stale: the pad now shows
     * the newer one, whose rating counts. */
    ck_assert(wait_show(&f, "for A015", false, WAIT_MS));
    SIM_OK(&f, "rate 71 2");
    WAIT_FOR(&f, f.nratings == 4);
    ck_assert_int_eq(f.ratings[3].end, BUSMASTER_RATED);
    ck_assert_int_eq(f.ratings[3].level, 2);

    /* Broadcast: nobody answers, which is success. */
    ck_assert_int_eq(
        busmaster_broadcast(f.bm, BUSMAP_HR_BRIGHTNESS, &bright, 1, broadcast_done, &f), 0);
    WAIT_FOR(&f, f.done);
    ck_assert(f.done_ok);

    /* Scan: the devices answer with their kind; 2..10 are empty. */
    f.done = false;
    ck_assert_int_eq(busmaster_scan(f.bm, 1, 12, scan_done, &f), 0);
    WAIT_FOR(&f, f.done);
    ck_assert_uint_eq(f.nfound, 3);
    ck_assert_int_eq(f.found[0].addr, 1);
    ck_assert_int_eq(f.found[0].kind, BUS_KIND_BOARD);
    ck_assert_int_eq(f.found[0].map_version, BUSMAP_VERSION);
    ck_assert_int_eq(f.found[1].addr, 11);
    ck_assert_int_eq(f.found[1].kind, BUS_KIND_WINDOW);
    ck_assert_int_eq(f.found[2].addr, 12);

    /* Bad arguments. */
    ck_assert_int_eq(busmaster_show_call(f.bm, 1, "A\x01", NULL, -1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(busmaster_show_call(f.bm, 1, "A0123456789", NULL, -1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(busmaster_show_call(f.bm, 99, "A1", NULL, -1), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(busmaster_prompt_rating(f.bm, 2, "A1", 10, NULL), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(busmaster_scan(f.bm, 0, 300, scan_done, &f), -1);
    ck_assert_int_eq(errno, EINVAL);

    /* No device went offline, and nothing failed. */
    for (int a = 0; a < 248; a++) {
        ck_assert_int_eq(f.offline[a], 0);
        ck_assert_int_eq(f.write_failed[a], 0);
    }
    if (t == BUSMASTER_RTU)
        ck_assert_msg(strstr(f.notices, "RS-485 mode not supported") != NULL, "%s", f.notices);
    fx_stop(&f);
}

START_TEST(master_rtu)
{
    master_basics(BUSMASTER_RTU);
}
END_TEST

START_TEST(master_tcp)
{
    master_basics(BUSMASTER_TCP);
}
END_TEST

/* ---- offline ---- */

START_TEST(offline_recovery)
{
    struct fx f;
    size_t keys;

    fx_start(&f, BUSMASTER_RTU, 500);
    ck_assert_int_eq(busmaster_show_call(f.bm, 1, "A001", NULL, 0), 0);
    ck_assert(wait_show(&f, "window 1: A001", false, WAIT_MS));

    /* Window 1's display goes silent mid-poll. */
    SIM_OK(&f, "silent 11 on");
    WAIT_FOR(&f, f.offline[11] == 1);
    ck_assert(!busmaster_online(f.bm, 11));
    ck_assert_msg(strstr(f.last_why[11], "timed out") != NULL, "%s", f.last_why[11]);
    /* The others are unaffected: keys still arrive, displays are written. */
    keys = f.nkeys;
    SIM_OK(&f, "press 41 next");
    WAIT_FOR(&f, f.nkeys == keys + 1);
    ck_assert_int_eq(busmaster_show_call(f.bm, 2, "B001", NULL, 0), 0);
    ck_assert(wait_show(&f, "window 2: B001", false, WAIT_MS));
    /* A call for the silent display: reported, and kept as the newest
     * state (twice: only the last one counts). */
    ck_assert_int_eq(busmaster_show_call(f.bm, 1, "A002", NULL, 0), 0);
    WAIT_FOR(&f, f.write_failed[11] >= 1);
    ck_assert_int_eq(busmaster_show_call(f.bm, 1, "A003", NULL, 0), 0);
    run_for(&f, 500);
    ck_assert(wait_show(&f, "window 1: A001", false, 100));

    /* It answers again: online, and the display shows the newest call. */
    SIM_OK(&f, "silent 11 off");
    WAIT_FOR(&f, f.online[11] == 2);
    ck_assert(busmaster_online(f.bm, 11));
    ck_assert(wait_show(&f, "window 1: A003", false, WAIT_MS));

    /* Exception replies and bad CRCs: offline with the reason, then back. */
    SIM_OK(&f, "exception 12 on");
    WAIT_FOR(&f, f.offline[12] == 1);
    ck_assert_msg(strstr(f.last_why[12], "failure") != NULL, "%s", f.last_why[12]);
    SIM_OK(&f, "exception 12 off");
    WAIT_FOR(&f, f.online[12] == 2);
    SIM_OK(&f, "badcrc 12 on");
    WAIT_FOR(&f, f.offline[12] == 2);
    ck_assert_msg(strstr(f.last_why[12], "CRC") != NULL, "%s", f.last_why[12]);
    SIM_OK(&f, "badcrc 12 off");
    WAIT_FOR(&f, f.online[12] == 3);

    /* A restart blanks the display: the master notices the new boot id and
     * writes it again, without the device ever being offline. */
    SIM_OK(&f, "reboot 11");
    ck_assert(wait_show(&f, "window 1: A003", false, WAIT_MS));
    ck_assert_msg(strstr(f.notices, "device 11 restarted") != NULL, "%s", f.notices);
    ck_assert_int_eq(f.restarted[11], 1);
    ck_assert_int_eq(f.offline[11], 1);

    /* Nobody else ever went offline. */
    ck_assert_int_eq(f.offline[1] + f.offline[41] + f.offline[71], 0);
    fx_stop(&f);
}
END_TEST

/* ---- exactly once ---- */

static void press(struct fx *f, const char *key, int *expect, size_t *n)
{
    char name[16];

    SIM_OK(f, "press 41 %s", key);
    ck_assert_int_eq(sscanf(key, "%15s", name), 1);
    expect[(*n)++] = busmap_key_parse(name);
}

START_TEST(keypress_exactly_once)
{
    struct fx f;
    int expect[64];
    size_t n = 0;

    fx_start(&f, BUSMASTER_RTU, 500);

    /* The pad's sequence starts just below the wrap, so the scenarios
     * below cross 65535 -> 0. (Set before the first press: a sequence that
     * jumps back later is indistinguishable from old events.) */
    SIM_OK(&f, "seq 41 65532");

    /* Plain presses. */
    press(&f, "next", expect, &n);
    press(&f, "recall", expect, &n);
    press(&f, "noshow", expect, &n);
    WAIT_FOR(&f, f.nkeys == n);

    /* Repeated polls: the pad ignores the acknowledgements, so every poll
     * returns the same events again. */
    SIM_OK(&f, "ignoreack 41 on");
    press(&f, "start", expect, &n);
    press(&f, "finish", expect, &n);
    run_for(&f, 1000);
    ck_assert_uint_eq(f.nkeys, n);
    SIM_OK(&f, "ignoreack 41 off");

    /* Lost replies after the pad acted (polls and acknowledgements). */
    SIM_OK(&f, "drop 41 2");
    press(&f, "pause", expect, &n);
    press(&f, "resume", expect, &n);
    run_for(&f, 1000);
    SIM_OK(&f, "badcrc 41 on");
    press(&f, "next", expect, &n);
    run_for(&f, 500);
    SIM_OK(&f, "badcrc 41 off");
    WAIT_FOR(&f, f.nkeys == n);

    /* An outage: the pad keeps its presses until the bus is back. */
    SIM_OK(&f, "silent 41 on");
    WAIT_FOR(&f, f.offline[41] == 1);
    press(&f, "transfer 5", expect, &n);
    press(&f, "next", expect, &n);
    run_for(&f, 500);
    SIM_OK(&f, "silent 41 off");
    WAIT_FOR(&f, f.online[41] == 2);
    WAIT_FOR(&f, f.nkeys == n);

    /* A full FIFO refuses the ninth press, loses none of the eight. (Once
     * the pad has dropped what the master acknowledged.) */
    ck_assert(wait_show(&f, "fifo 0/8", false, WAIT_MS));
    SIM_OK(&f, "silent 41 on");
    for (int i = 0; i < BUSMAP_FIFO_MAX; i++)
        press(&f, "recall", expect, &n);
    {
        char *r = sim_cmd(&f, "press 41 next");

        ck_assert_msg(strstr(r, "error fifo full") != NULL, "%s", r);
        free(r);
    }
    SIM_OK(&f, "silent 41 off");
    WAIT_FOR(&f, f.nkeys == n);

    /* A restart: sequences start again at 1 (not after the last one), the
     * new boot id tells the master. */
    SIM_OK(&f, "reboot 41");
    press(&f, "finish", expect, &n);
    WAIT_FOR(&f, f.nkeys == n);
    ck_assert_uint_eq(f.keys[n - 1].seq, 1);

    /* Nothing more arrives, and everything arrived once, in order, the
     * sequences across the wrap included. */
    run_for(&f, 500);
    ck_assert_uint_eq(f.nkeys, n);
    ck_assert_uint_eq(f.keys[0].seq, 65532);
    ck_assert_uint_eq(f.keys[3].seq, 65535);
    ck_assert_uint_eq(f.keys[4].seq, 0);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(f.keys[i].key == (bus_key)expect[i], "key %zu: got %d, pressed %d", i,
                      f.keys[i].key, expect[i]);
        ck_assert_int_eq(f.keys[i].addr, 41);
        if (i > 0 && i != n - 1)
            ck_assert_msg(busmap_seq_after(f.keys[i].seq, f.keys[i - 1].seq),
                          "key %zu: seq %u after %u", i, f.keys[i].seq, f.keys[i - 1].seq);
    }
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(f.keys[i].arg, f.keys[i].key == BUS_KEY_TRANSFER ? 5 : 0);
    fx_stop(&f);
}
END_TEST

/* ---- board burst ---- */

struct shown {
    int64_t in, out; /* first and last ms seen, out = -1 while shown */
};

START_TEST(hall_board_burst)
{
    struct fx f;
    struct shown seen[21];
    char *text, *save = NULL;
    int64_t end;

    fx_start(&f, BUSMASTER_RTU, MIN_MS);
    for (int i = 1; i <= 20; i++) {
        char number[8];

        snprintf(number, sizeof number, "A%03d", i);
        ck_assert_int_eq(busmaster_board_post(f.bm, 1 + i % 2, number, NULL), 0);
        run_for(&f, 50);
    }
    /* 20 calls, 8 rows, each row at least MIN_MS: about 2 * MIN_MS after
     * the burst the last one is up. */
    ck_assert(wait_show(&f, "board rows: A020@1 A019@2 A018@1 A017@2 A016@1 A015@2 A014@1 A013@2",
                        false, WAIT_MS));
    end = clk_mono_ms();
    run_for(&f, 200);

    /* Replay the simulator's change log of the board. */
    for (int i = 0; i <= 20; i++)
        seen[i] = (struct shown){-1, -1};
    text = slurp(f.out);
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *rows = strstr(line, "addr=1 board rows:");
        bool on[21] = {false};
        long long ms = atoll(line);

        if (rows == NULL)
            continue;
        for (int i = 1; i <= 20; i++) {
            char tag[8];

            snprintf(tag, sizeof tag, " A%03d@", i);
            on[i] = strstr(rows, tag) != NULL;
            if (on[i] && seen[i].in < 0)
                seen[i].in = ms;
            if (!on[i] && seen[i].in >= 0 && seen[i].out < 0)
                seen[i].out = ms;
            ck_assert_msg(!on[i] || seen[i].out < 0, "A%03d came back: %s", i, line);
        }
    }
    free(text);
    for (int i = 1; i <= 20; i++) {
        ck_assert_msg(seen[i].in >= 0, "A%03d was never on the board", i);
        if (i > 1)
            ck_assert_msg(seen[i].in >= seen[i - 1].in, "A%03d went up before A%03d", i, i - 1);
        if (i <= 12) {
            ck_assert_msg(seen[i].out >= 0, "A%03d is still on the board", i);
            ck_assert_msg(seen[i].out - seen[i].in >= MIN_MS, "A%03d shown %lld ms only", i,
                          (long long)(seen[i].out - seen[i].in));
        } else {
            ck_assert_msg(seen[i].out < 0, "A%03d left the board", i);
        }
    }
    ck_assert_int_lt(end - seen[1].in, WAIT_MS);
    fx_stop(&f);
}
END_TEST

/* ---- simulator faults and bad input ---- */

/* Send one Modbus TCP request (pdu to unit) on fd; the reply's PDU in rsp
 * (its length), or -1 when none comes (the socket's receive timeout). */
static int tcp_request(int fd, int unit, const uint8_t *pdu, size_t len, uint8_t *rsp)
{
    uint8_t req[270] = {0x01,         0x02, 0, 0, (uint8_t)((len + 1) >> 8), (uint8_t)(len + 1),
                        (uint8_t)unit};
    uint8_t in[270];
    ssize_t got;

    memcpy(req + 7, pdu, len);
    ck_assert_int_eq(write(fd, req, len + 7), (ssize_t)(len + 7));
    got = read(fd, in, sizeof in);
    if (got <= 0)
        return -1;
    ck_assert_int_ge(got, 8);
    ck_assert_int_eq(in[0], 0x01);
    ck_assert_int_eq(in[1], 0x02);
    ck_assert_int_eq(in[6], unit);
    memcpy(rsp, in + 7, (size_t)got - 7);
    return (int)got - 7;
}

static void expect_exception(int fd, int unit, const uint8_t *pdu, size_t len, uint8_t code)
{
    uint8_t rsp[270];

    ck_assert_int_eq(tcp_request(fd, unit, pdu, len, rsp), 2);
    ck_assert_int_eq(rsp[0], pdu[0] | 0x80);
    ck_assert_int_eq(rsp[1], code);
}

/* Read a call-pad's (41) FIFO: boot id, count and the last sequence. */
static void fifo_read(int fd, uint16_t *boot, uint16_t *count, uint16_t *last)
{
    const uint8_t pdu[] = {0x04, 0x10, 0x03, 0x00, 3 + BUSMAP_FIFO_MAX * BUSMAP_EV_REGS};
    uint8_t rsp[270];

    ck_assert_int_eq(tcp_request(fd, 41, pdu, sizeof pdu, rsp), 2 + 2 * pdu[4]);
    *boot = (uint16_t)(rsp[2] << 8 | rsp[3]);
    *count = (uint16_t)(rsp[6] << 8 | rsp[7]);
    ck_assert_uint_le(*count, BUSMAP_FIFO_MAX);
    *last =
        *count == 0 ? 0 : (uint16_t)(rsp[8 + 6 * (*count - 1)] << 8 | rsp[9 + 6 * (*count - 1)]);
}

static void ack(int fd, uint16_t boot, uint16_t seq)
{
    const uint8_t pdu[] = {0x10,
                           0x00,
                           BUSMAP_HR_ACK_BOOT,
                           0x00,
                           BUSMAP_ACK_REGS,
                           2 * BUSMAP_ACK_REGS,
                           (uint8_t)(boot >> 8),
                           (uint8_t)boot,
                           (uint8_t)(seq >> 8),
                           (uint8_t)seq};
    uint8_t rsp[270];

    ck_assert_int_eq(tcp_request(fd, 41, pdu, sizeof pdu, rsp), 5);
    ck_assert_int_eq(rsp[0], 0x10);
}

START_TEST(sim_faults)
{
    static const uint8_t mei[] = {0x2b, 0x0e, 0x01, 0x00};
    static const uint8_t read_far[] = {0x04, 0x20, 0x00, 0x00, 0x01};
    static const uint8_t read_zero[] = {0x03, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t read_kind[] = {0x04, 0x10, 0x01, 0x00, 0x01};
    static const uint8_t window_to_pad[] = {0x10, 0x01, 0x00, 0x00, 0x01, 0x02, 0x00, 0x01};
    static const uint8_t not_modbus[] = {0, 1, 0, 1, 0, 2, 11, 4};
    struct timeval tv = {.tv_usec = 400000};
    struct fx f;
    uint8_t junk[300], rsp[270];
    uint32_t x = 7;
    char *r;
    int fd;

    fx_start(&f, BUSMASTER_RTU, 500);

    /* Garbage on the RTU line while the master polls: the simulator hunts
     * for frames, the master loses a few replies at most, and everything
     * works afterwards. */
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (uint8_t)(x >> 16);
    }
    fd = open(f.link, O_WRONLY | O_NOCTTY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    run_for(&f, 1000);
    r = sim_cmd(&f, "show");
    ck_assert_msg(strstr(r, " 0 garbage bytes") == NULL, "%s", r);
    free(r);
    SIM_OK(&f, "press 41 next");
    WAIT_FOR(&f, f.nkeys == 1);
    WAIT_FOR(&f, online_count(&f) == NDEVICES);

    /* Raw Modbus TCP: what the map does not have is an exception. */
    fd = ts_connect(f.tcp_port, 10);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_int_eq(tcp_request(fd, 11, read_kind, sizeof read_kind, rsp), 4);
    ck_assert_int_eq(rsp[2], 0);
    ck_assert_int_eq(rsp[3], BUS_KIND_WINDOW);
    expect_exception(fd, 11, mei, sizeof mei, 0x01);
    expect_exception(fd, 11, read_far, sizeof read_far, 0x02);
    expect_exception(fd, 11, read_zero, sizeof read_zero, 0x03);
    expect_exception(fd, 41, window_to_pad, sizeof window_to_pad, 0x02);
    /* Nobody at 99; a broadcast read is not answered either. */
    ck_assert_int_eq(tcp_request(fd, 99, read_kind, sizeof read_kind, rsp), -1);
    ck_assert_int_eq(tcp_request(fd, 0, read_kind, sizeof read_kind, rsp), -1);
    /* The exception fault. */
    SIM_OK(&f, "exception 12 on");
    expect_exception(fd, 12, read_kind, sizeof read_kind, 0x04);
    SIM_OK(&f, "exception 12 off");
    /* Acknowledgements (the master stopped, so this connection is the only
     * one): one for another boot id drops nothing, one for this boot drops
     * up to its sequence. */
    busmaster_free(f.bm);
    f.bm = NULL;
    SIM_OK(&f, "press 41 start");
    SIM_OK(&f, "press 41 finish");
    {
        uint16_t boot, count, last;

        fifo_read(fd, &boot, &count, &last);
        ck_assert_uint_ge(count, 2);
        ack(fd, (uint16_t)(boot ^ 0x0100), last);
        fifo_read(fd, &boot, &count, &last);
        ck_assert_uint_ge(count, 2);
        ack(fd, boot, (uint16_t)(last - 1));
        fifo_read(fd, &boot, &count, &last);
        ck_assert_uint_eq(count, 1);
        ack(fd, boot, last);
        fifo_read(fd, &boot, &count, &last);
        ck_assert_uint_eq(count, 0);
    }

    /* Not Modbus TCP at all (protocol id 1): the connection is closed. */
    ck_assert_int_eq(write(fd, not_modbus, sizeof not_modbus), (ssize_t)sizeof not_modbus);
    ck_assert_int_eq(read(fd, rsp, sizeof rsp), 0);
    close(fd);

    /* Bad commands are refused with a reason. */
    static const char *const bad[] = {"press 11 next", "press 41 jump",  "press 41 transfer",
                                      "rate 71 5",     "rate 71 6",      "silent 11 maybe",
                                      "frobnicate 1",  "press 300 next", "seq 41 70000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = sim_cmd(&f, "%s", bad[i]);
        ck_assert_msg(strncmp(r, "error", 5) == 0, "%s: %s", bad[i], r);
        free(r);
    }
    ck_assert_uint_eq(f.nkeys, 1);
    fx_stop(&f);
}
END_TEST

START_TEST(sim_bad_usage)
{
    static const char *const lists[] = {"", "1:lamp", "1:board,1:window:2", "300:board"};
    char *dir = ts_tmpdir("bussim");

    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        const char *argv[] = {BUSSIM_PATH, "--devices", lists[i], "--tcp", "0", NULL};
        pid_t pid = ts_spawn(argv, ts_path(dir, "usage.log"));
        int status = ts_wait(pid, WAIT_MS);

        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "'%s': status %d", lists[i],
                      status);
    }
    {
        const char *argv[] = {BUSSIM_PATH, "--devices", "1:board", NULL};
        int status = ts_wait(ts_spawn(argv, ts_path(dir, "usage.log")), WAIT_MS);

        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    }
    ts_rmtree(dir);
    free(dir);
}
END_TEST

int main(int argc, char **argv)
{
    const struct {
        const char *name;
        const TTest *test;
    } tests[] = {
        {"rtu", master_rtu},
        {"tcp", master_tcp},
        {"offline", offline_recovery},
        {"exactly_once", keypress_exactly_once},
        {"board_burst", hall_board_burst},
        {"sim_faults", sim_faults},
        {"sim_faults", sim_bad_usage},
    };
    Suite *s = suite_create("bus_master");
    TCase *tc = tcase_create("sim");
    SRunner *sr;
    int failed, picked = 0;

    tcase_set_timeout(tc, 120);
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (argc < 2 || strcmp(argv[1], tests[i].name) == 0) {
            tcase_add_test(tc, tests[i].test);
            picked++;
        }
    }
    if (picked == 0) {
        fprintf(stderr,
                "usage: test_bus_master [rtu|tcp|offline|exactly_once|board_burst|sim_faults]\n");
        return EXIT_FAILURE;
    }
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
