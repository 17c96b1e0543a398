/*
 * hallbench — measure halld, and the systems people would build a hall on
 * instead, under a hall's workload.
 *
 *   load         kiosks and windows against halld, PostgreSQL, Redis or a
 *                plain SQLite loop (load.c, target_*.c)
 *   setup        make a comparison target's schema afresh (as load --setup)
 *   probe fsync  the machine's durable-write floor (probe.c)
 *   probe rtt    the machine's loopback round trip (probe.c)
 *   fanout       the time for a call to reach N displays (fanout.c)
 *   idle         halld's memory and descriptors with N idle links (fanout.c)
 *   seed         a big queue and history in a stopped hall (seed.c)
 *
 * This file holds the command table, option parsing and the output: every
 * command prints a table on stdout and, with --json FILE, writes one JSON
 * object (the contract bench/run reads). Exit status: 0 done, 1 failed
 * (the reason on stderr), 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "fanout.h"
#include "halld_conf.h"
#include "lat.h"
#include "load.h"
#include "probe.h"
#include "seed.h"
#include "store.h"
#include "target.h"
#include "target_halld.h"

#define MAX_LINKS 10000 /* kiosks + windows, displays, idle links */

/* Options every command may take. */
struct common {
    const char *json;
    const char *label;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    fputs("hallbench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "hallbench %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see hallbench %s --help)\n", cmd);
    return 2;
}

/* ---- Parsing ------------------------------------------------------------------ */

static bool parse_u64(const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;

    if (arg[0] < '0' || arg[0] > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_uint(const char *arg, unsigned min, unsigned max, unsigned *out)
{
    uint64_t v;

    if (!parse_u64(arg, min, max, &v))
        return false;
    *out = (unsigned)v;
    return true;
}

static bool parse_seconds(const char *arg, double min, double max, double *out)
{
    char *end;

    errno = 0;
    double v = strtod(arg, &end);
    if (errno != 0 || end == arg || *end != '\0' || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

/* ---- Output ------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    if (s == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_head(FILE *f, const char *mode, const struct common *c)
{
    fprintf(f, "{\"tool\":\"hallbench\",\"mode\":\"%s\",\"label\":", mode);
    json_str(f, c->label);
}

/* "name":{count, per_s, p50_us, p99_us, p999_us, max_us} */
static void json_lat(FILE *f, const char *name, const lat *l, double seconds)
{
    fprintf(f,
            "\"%s\":{\"count\":%" PRIu64 ",\"per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
            "\"p999_us\":%.1f,\"max_us\":%.1f}",
            name, lat_count(l), seconds > 0 ? (double)lat_count(l) / seconds : 0.0,
            lat_percentile_us(l, 50), lat_percentile_us(l, 99), lat_percentile_us(l, 99.9),
            lat_max_us(l));
}

/* Open --json's file; NULL (after saying why) if it cannot be written. */
static FILE *json_open(const struct common *c)
{
    FILE *f = fopen(c->json, "w");

    if (f == NULL)
        fail("cannot write %s: %s", c->json, strerror(errno));
    return f;
}

static int json_close(FILE *f, const struct common *c)
{
    fputs("}\n", f);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return fail("cannot write %s: %s", c->json, strerror(errno));
    return 0;
}

static void table_head(void)
{
    printf("%-8s %10s %10s %10s %10s %10s %10s\n", "op", "count", "per s", "p50 us", "p99 us",
           "p99.9 us", "max us");
}

static void table_row(const char *name, const lat *l, double seconds)
{
    printf("%-8s %10" PRIu64 " %10.1f %10.1f %10.1f %10.1f %10.1f\n", name, lat_count(l),
           seconds > 0 ? (double)lat_count(l) / seconds : 0.0, lat_percentile_us(l, 50),
           lat_percentile_us(l, 99), lat_percentile_us(l, 99.9), lat_max_us(l));
}

/* ---- Resources ----------------------------------------------------------------- */

/* Many links need many descriptors: raise the soft limit to the hard one
 * when need is over it. */
static void raise_nofile(rlim_t need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max < need)
        fprintf(stderr,
                "hallbench: warning: about %llu descriptors needed, %llu allowed (ulimit -n)\n",
                (unsigned long long)need, (unsigned long long)rl.rlim_cur);
}

/* ---- load and setup ------------------------------------------------------------- */

static const struct {
    const char *name;
    const target_ops *ops;
} targets[] = {
    {"halld", &target_halld},
    {"postgres", &target_pg},
    {"redis", &target_redis},
    {"sqlite", &target_sqlite},
};

#define TARGET_HELP                                                                                \
    "Targets and how to reach them:\n"                                                             \
    "  --target halld --config HALL/halld.ini [--server HOST:PORT] [--plain]\n"                    \
    "      as the hall's tool device (pki/hallctl.crt next to the hall CA), or plain TCP\n"        \
    "      to a halld started with --dev-plaintext; windows 1..M are signed in as clerks\n"        \
    "      c-1..c-M (and signed out at the end)\n"                                                 \
    "  --target postgres --conninfo \"host=... port=... dbname=... user=...\"\n"                   \
    "      tables hb_counters and hb_tickets, made if absent; the server's\n"                      \
    "      synchronous_commit is used as it is (it should be on)\n"                                \
    "  --target redis --server HOST:PORT\n"                                                        \
    "      keys hb:*, one Lua script per operation (run the server with appendonly yes,\n"         \
    "      appendfsync always)\n"                                                                  \
    "  --target sqlite --db FILE\n"                                                                \
    "      in this process: WAL, synchronous=FULL, one connection per thread\n"                    \
    "  --setup        drop what an earlier run left (tables, keys) and start afresh\n"             \
    "  --preload N    add N waiting tickets (spread over the areas) before measuring, so\n"        \
    "                 windows have work without kiosks; for halld they are issued over the\n"      \
    "                 link one by one: use `hallbench seed` for big queues\n"                      \
    "  --area CODE    the area kiosks issue for (default: halld's general area; intake)\n"

struct load_args {
    const target_ops *ops;
    target_opts o;
    double duration_s, warmup_s;
    long pid;
    bool hold_read; /* halld: a read transaction open on its store for the whole run */
    struct common c;
};

static void load_help(void)
{
    printf("usage: hallbench load --target halld|postgres|redis|sqlite [target options]\n"
           "                      --kiosks N --windows M [--duration S] [--warmup S]\n"
           "                      [--area CODE] [--preload N] [--setup] [--pid PID]\n"
           "                      [--json FILE] [--label TEXT]\n"
           "N kiosk threads loop ISSUE + PRINTED; M window threads loop CALL_NEXT, then\n"
           "START + FINISH (the \"finish\" latency). Each thread has its own connection.\n"
           "--hold-read (halld): a read transaction is opened on the hall's store before\n"
           "the warm-up and held until the run ends, as a report that never finishes on\n"
           "the web layer's read-only connection would.\n"
           "Measures --duration seconds (default 10) after --warmup seconds (default 2).\n"
           "\"issue\" is ISSUE + PRINTED, both answered; \"call\" is CALL_NEXT answered with a\n"
           "ticket; a CALL_NEXT with nothing waiting counts as \"empty\" and is retried after\n"
           "1 ms. Failures are counted by kind; a lost link is reopened and the request\n"
           "repeated. --pid: read that process's memory and descriptors as the run "
           "ends.\n\n" TARGET_HELP);
}

static int parse_load(const char *cmd, int argc, char **argv, struct load_args *a, bool setup_only)
{
    static const struct option options[] = {
        {"target", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},
        {"server", required_argument, NULL, 'S'},
        {"plain", no_argument, NULL, 'P'},
        {"conninfo", required_argument, NULL, 'I'},
        {"db", required_argument, NULL, 'D'},
        {"kiosks", required_argument, NULL, 'k'},
        {"windows", required_argument, NULL, 'w'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'W'},
        {"area", required_argument, NULL, 'a'},
        {"preload", required_argument, NULL, 'p'},
        {"setup", no_argument, NULL, 's'},
        {"pid", required_argument, NULL, 'i'},
        {"json", required_argument, NULL, 'j'},
        {"label", required_argument, NULL, 'l'},
        {"hold-read", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *target = NULL;
    int opt;

    memset(a, 0, sizeof *a);
    a->duration_s = 10;
    a->warmup_s = 2;
    a->o.setup = setup_only;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        uint64_t v;
        switch (opt) {
        case 't':
            target = optarg;
            break;
        case 'c':
            a->o.config = optarg;
            break;
        case 'S':
            a->o.server = optarg;
            break;
        case 'P':
            a->o.plain = true;
            break;
        case 'I':
            a->o.conninfo = optarg;
            break;
        case 'D':
            a->o.db = optarg;
            break;
        case 'k':
            if (!parse_uint(optarg, 0, MAX_LINKS, &a->o.kiosks))
                return usage_error(cmd, "--kiosks %s: expected 0..%d", optarg, MAX_LINKS);
            break;
        case 'w':
            if (!parse_uint(optarg, 0, MAX_LINKS, &a->o.windows))
                return usage_error(cmd, "--windows %s: expected 0..%d", optarg, MAX_LINKS);
            break;
        case 'd':
            if (!parse_seconds(optarg, 0.1, 86400, &a->duration_s))
                return usage_error(cmd, "--duration %s: expected 0.1..86400 seconds", optarg);
            break;
        case 'W':
            if (!parse_seconds(optarg, 0, 3600, &a->warmup_s))
                return usage_error(cmd, "--warmup %s: expected 0..3600 seconds", optarg);
            break;
        case 'a':
            a->o.area = optarg;
            break;
        case 'p':
            if (!parse_u64(optarg, 0, UINT64_C(100000000), &a->o.preload))
                return usage_error(cmd, "--preload %s: expected 0..100000000", optarg);
            break;
        case 's':
            a->o.setup = true;
            break;
        case 'i':
            if (!parse_u64(optarg, 1, 4194304, &v))
                return usage_error(cmd, "--pid %s: expected a process id", optarg);
            a->pid = (long)v;
            break;
        case 'j':
            a->c.json = optarg;
            break;
        case 'l':
            a->c.label = optarg;
            break;
        case 'R':
            a->hold_read = true;
            break;
        case 'h':
            if (setup_only)
                printf("usage: hallbench setup --target postgres|redis|sqlite [target options]\n"
                       "                       [--preload N]\n"
                       "Drop and make again what load uses on a comparison target (as load\n"
                       "--setup), and add --preload waiting tickets.\n\n" TARGET_HELP);
            else
                load_help();
            return -1;
        default:
            return 2;
        }
    }
    if (optind != argc)
        return usage_error(cmd, "unexpected argument %s", argv[optind]);
    if (target == NULL)
        return usage_error(cmd, "--target is needed");
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (strcmp(target, targets[i].name) == 0)
            a->ops = targets[i].ops;
    if (a->ops == NULL)
        return usage_error(cmd, "--target %s: expected halld, postgres, redis or sqlite", target);
    if (a->ops == &target_halld && a->o.config == NULL && !(a->o.server && a->o.plain))
        return usage_error(cmd, "--target halld needs --config (or --server with --plain)");
    if (a->hold_read && (a->ops != &target_halld || a->o.config == NULL))
        return usage_error(cmd, "--hold-read is for --target halld with --config");
    if (a->ops == &target_pg && a->o.conninfo == NULL)
        return usage_error(cmd, "--target postgres needs --conninfo");
    if (a->ops == &target_redis && a->o.server == NULL)
        return usage_error(cmd, "--target redis needs --server HOST:PORT");
    if (a->ops == &target_sqlite && a->o.db == NULL)
        return usage_error(cmd, "--target sqlite needs --db FILE");
    if (!setup_only && a->o.kiosks + a->o.windows == 0)
        return usage_error(cmd, "--kiosks and --windows are both 0: nothing to run");
    if (a->o.kiosks + a->o.windows > MAX_LINKS)
        return usage_error(cmd, "at most %d kiosks and windows together", MAX_LINKS);
    return 0;
}

static void print_errors(const load_result *r)
{
    if (r->nerrors == 0) {
        printf("errors: none\n");
        return;
    }
    printf("errors:\n");
    for (size_t i = 0; i < r->nerrors; i++)
        printf("  %-20s %8" PRIu64 "  first: %s\n", r->errors[i].kind, r->errors[i].count,
               r->errors[i].first);
}

static int write_load_json(FILE *f, const struct load_args *a, const load_result *r)
{
    json_head(f, "load", &a->c);
    fprintf(f,
            ",\"target\":\"%s\",\"kiosks\":%u,\"windows\":%u,\"duration_s\":%.3f,"
            "\"warmup_s\":%.3f,\"server_info\":",
            a->ops->name, a->o.kiosks, a->o.windows, r->duration_s, a->warmup_s);
    json_str(f, r->describe);
    fputs(",\"ops\":{", f);
    json_lat(f, "issue", r->issue, r->duration_s);
    fputc(',', f);
    json_lat(f, "call", r->call, r->duration_s);
    fputc(',', f);
    json_lat(f, "finish", r->finish, r->duration_s);
    fputs("},\"errors\":{", f);
    for (size_t i = 0; i < r->nerrors; i++)
        fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", r->errors[i].kind, r->errors[i].count);
    fprintf(f, "},\"empty\":%" PRIu64 ",\"held_read\":%s", r->empty,
            a->hold_read ? "true" : "false");
    if (r->have_proc)
        fprintf(f, ",\"%s\":{\"rss_kib\":%ld,\"fds\":%ld}",
                a->ops == &target_halld ? "halld" : "server", r->rss_kib, r->fds);
    return json_close(f, &a->c);
}

static int count_window(void *arg, const q_window *w)
{
    (void)w;
    ++*(size_t *)arg;
    return 0;
}

/* A read transaction on the store of the hall at config, its snapshot
 * taken (a first read), left open: the caller ends it. NULL with a
 * reason in err. */
static store *hold_read(const char *config, char *err, size_t errlen)
{
    struct halld_conf c = {0};
    store *s = NULL;
    size_t windows = 0;

    if (halld_conf_load(&c, config, err, errlen) < 0)
        return NULL;
    if ((s = store_open(c.store_path, c.hall_id, STORE_READER, err, errlen)) != NULL &&
        (store_read_begin(s) < 0 || store_load_windows(s, count_window, &windows) != 0)) {
        snprintf(err, errlen, "%s", store_errmsg(s));
        store_close(s);
        s = NULL;
    }
    halld_conf_release(&c);
    if (s != NULL)
        printf("a read transaction is held on %s (%zu windows read) until the run ends\n", config,
               windows);
    return s;
}

static int cmd_load(int argc, char **argv)
{
    struct load_args a;
    load_result r;
    char err[600];

    int rc = parse_load("load", argc, argv, &a, false);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    /* A run is long: find out now if its result cannot be written. */
    FILE *json = NULL;
    if (a.c.json != NULL && (json = json_open(&a.c)) == NULL)
        return 1;
    /* A devlink is a socket, an epoll and an eventfd. */
    raise_nofile((rlim_t)(a.o.kiosks + a.o.windows) * 4 + 64);
    store *held = NULL;
    if (a.hold_read && (held = hold_read(a.o.config, err, sizeof err)) == NULL) {
        if (json != NULL) {
            fclose(json);
            remove(a.c.json);
        }
        return fail("--hold-read: %s", err);
    }
    rc = load_run(a.ops, &a.o, a.warmup_s, a.duration_s, (pid_t)a.pid, &r, err, sizeof err);
    if (held != NULL) {
        store_read_end(held);
        store_close(held);
    }
    if (rc < 0) {
        if (json != NULL) {
            fclose(json);
            remove(a.c.json);
        }
        return fail("%s", err);
    }
    if (a.pid > 0 && !r.have_proc)
        fprintf(stderr, "hallbench: warning: %s\n", r.proc_error);

    printf("hallbench load: %s, %u kiosks, %u windows, %.2f s measured after %.1f s warm-up\n",
           a.ops->name, a.o.kiosks, a.o.windows, r.duration_s, a.warmup_s);
    printf("%s\n", r.describe);
    table_head();
    table_row("issue", r.issue, r.duration_s);
    table_row("call", r.call, r.duration_s);
    table_row("finish", r.finish, r.duration_s);
    printf("empty calls: %" PRIu64 "\n", r.empty);
    print_errors(&r);
    if (r.have_proc)
        printf("%s (pid %ld) as the run ended: rss %ld KiB, %ld fds\n",
               a.ops == &target_halld ? "halld" : "server", a.pid, r.rss_kib, r.fds);

    rc = json != NULL ? write_load_json(json, &a, &r) : 0;
    if (r.interrupted)
        rc = fail("interrupted: the run was cut short");
    else if (r.nerrors > 0 && lat_count(r.issue) + lat_count(r.call) + lat_count(r.finish) == 0)
        rc = fail("no operation succeeded: every request was refused (%s)", r.errors[0].kind);
    load_result_release(&r);
    return rc;
}

static int cmd_setup(int argc, char **argv)
{
    struct load_args a;
    target_err e = {{0}, {0}};

    int rc = parse_load("setup", argc, argv, &a, true);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (a.ops == &target_halld)
        return usage_error("setup", "halld keeps its own schema: use hallctl, and hallbench seed");
    void *shared = a.ops->setup(&a.o, &e);
    if (shared == NULL)
        return fail("%s: %s", a.ops->name, e.msg);
    printf("%s: ready; %s\n", a.ops->name, a.ops->describe(shared));
    a.ops->teardown(shared);
    return 0;
}

/* ---- probe ------------------------------------------------------------------------ */

static int cmd_probe(int argc, char **argv, bool fsync)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},  {"count", required_argument, NULL, 'n'},
        {"json", required_argument, NULL, 'j'}, {"label", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *cmd = fsync ? "probe fsync" : "probe rtt", *dir = NULL;
    struct common c = {0};
    unsigned count = fsync ? 1000 : 10000;
    char err[300];
    int opt;

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'n':
            if (!parse_uint(optarg, 1, 10000000, &count))
                return usage_error(cmd, "--count %s: expected 1..10000000", optarg);
            break;
        case 'j':
            c.json = optarg;
            break;
        case 'l':
            c.label = optarg;
            break;
        case 'h':
            if (fsync)
                printf("usage: hallbench probe fsync --dir DIR [--count N] [--json FILE] "
                       "[--label TEXT]\n"
                       "Time N (default 1000) 4 KiB writes made durable with fdatasync, in a\n"
                       "preallocated file in DIR (put DIR on the disk the store will use).\n");
            else
                printf("usage: hallbench probe rtt [--count N] [--json FILE] [--label TEXT]\n"
                       "Time N (default 10000) round trips of 64 bytes over loopback TCP to an\n"
                       "echo server in this process.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (optind != argc)
        return usage_error(cmd, "unexpected argument %s", argv[optind]);
    if (fsync && dir == NULL)
        return usage_error(cmd, "--dir is needed");
    if (!fsync && dir != NULL)
        return usage_error(cmd, "--dir is for probe fsync");

    lat *l = lat_new();
    if (l == NULL)
        return fail("out of memory");
    int rc =
        fsync ? probe_fsync(dir, count, l, err, sizeof err) : probe_rtt(count, l, err, sizeof err);
    if (rc < 0) {
        lat_free(l);
        return fail("%s", err);
    }
    printf("hallbench %s%s%s: %u samples\n", cmd, fsync ? " in " : "", fsync ? dir : "", count);
    printf("p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us, mean %.1f us\n",
           lat_percentile_us(l, 50), lat_percentile_us(l, 99), lat_percentile_us(l, 99.9),
           lat_max_us(l), lat_mean_us(l));
    if (c.json != NULL) {
        FILE *f = json_open(&c);
        if (f == NULL) {
            lat_free(l);
            return 1;
        }
        json_head(f, "probe", &c);
        fprintf(f,
                ",\"probe\":\"%s\",\"count\":%u,\"p50_us\":%.1f,\"p99_us\":%.1f,"
                "\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f",
                fsync ? "fsync" : "rtt", count, lat_percentile_us(l, 50), lat_percentile_us(l, 99),
                lat_percentile_us(l, 99.9), lat_max_us(l), lat_mean_us(l));
        if (fsync) {
            fputs(",\"dir\":", f);
            json_str(f, dir);
        }
        rc = json_close(f, &c);
    }
    lat_free(l);
    return rc;
}

static int cmd_probe_fsync(int argc, char **argv)
{
    return cmd_probe(argc, argv, true);
}

static int cmd_probe_rtt(int argc, char **argv)
{
    return cmd_probe(argc, argv, false);
}

/* ---- fanout and idle ----------------------------------------------------------------- */

#define HALLD_OPTIONS                                                                              \
    {"config", required_argument, NULL, 'c'}, {"server", required_argument, NULL, 'S'},            \
        {"plain", no_argument, NULL, 'P'}, {"json", required_argument, NULL, 'j'},                 \
        {"label", required_argument, NULL, 'l'},                                                   \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

#define HALLD_HELP                                                                                 \
    "Finds halld through --config HALL/halld.ini (its [listen] and the tool's certificate\n"       \
    "next to the hall CA), or --server HOST:PORT; --plain for a halld started with\n"              \
    "--dev-plaintext.\n"

struct halld_args {
    const char *config, *server;
    bool plain;
    struct common c;
};

/* Handle an option of HALLD_OPTIONS; false if opt is not one. */
static bool halld_option(struct halld_args *h, int opt)
{
    switch (opt) {
    case 'c':
        h->config = optarg;
        return true;
    case 'S':
        h->server = optarg;
        return true;
    case 'P':
        h->plain = true;
        return true;
    case 'j':
        h->c.json = optarg;
        return true;
    case 'l':
        h->c.label = optarg;
        return true;
    default:
        return false;
    }
}

static int resolve(const char *cmd, const struct halld_args *h, target_halld_addr *a)
{
    char err[600];

    if (h->config == NULL && !(h->server && h->plain))
        return usage_error(cmd, "--config is needed (or --server with --plain)");
    if (target_halld_resolve(h->config, h->server, h->plain, a, err, sizeof err) < 0)
        return fail("%s", err);
    return 0;
}

static int cmd_fanout(int argc, char **argv)
{
    static const struct option options[] = {
        {"displays", required_argument, NULL, 'n'},
        {"window", required_argument, NULL, 'w'},
        {"rounds", required_argument, NULL, 'r'},
        {"area", required_argument, NULL, 'a'},
        HALLD_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct halld_args h = {0};
    target_halld_addr addr;
    unsigned displays = 0, window = 0, rounds = 20;
    const char *area = "";
    char err[600];
    int opt;

    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        if (halld_option(&h, opt))
            continue;
        switch (opt) {
        case 'n':
            if (!parse_uint(optarg, 1, MAX_LINKS, &displays))
                return usage_error("fanout", "--displays %s: expected 1..%d", optarg, MAX_LINKS);
            break;
        case 'w':
            if (!parse_uint(optarg, 1, 100000, &window))
                return usage_error("fanout", "--window %s: expected 1..100000", optarg);
            break;
        case 'r':
            if (!parse_uint(optarg, 1, 1000000, &rounds))
                return usage_error("fanout", "--rounds %s: expected 1..1000000", optarg);
            break;
        case 'a':
            area = optarg;
            break;
        case 'h':
            printf("usage: hallbench fanout --config HALL/halld.ini --displays N --window W\n"
                   "                        [--rounds R] [--area CODE] [--json FILE] "
                   "[--label TEXT]\n"
                   "N links subscribe as displays do; another signs clerk c-W in at window W\n"
                   "and, R times (default 20), issues a ticket (for --area, default the\n"
                   "general area) and calls the next for window W. Measured: from sending\n"
                   "CALL_NEXT to the last of the N subscribers having the push with the call.\n"
                   "One thread, one event loop, N+1 connections.\n" HALLD_HELP);
            return 0;
        default:
            return 2;
        }
    }
    if (optind != argc)
        return usage_error("fanout", "unexpected argument %s", argv[optind]);
    if (displays == 0 || window == 0)
        return usage_error("fanout", "--displays and --window are needed");
    int rc = resolve("fanout", &h, &addr);
    if (rc != 0)
        return rc;
    raise_nofile((rlim_t)displays + 64);
    lat *l = lat_new();
    if (l == NULL)
        return fail("out of memory");
    if (fanout_run(&addr, displays, window, rounds, area, l, err, sizeof err) < 0) {
        lat_free(l);
        return fail("%s", err);
    }
    printf("hallbench fanout: %u displays, window %u, %u rounds\n", displays, window, rounds);
    printf("CALL_NEXT sent -> last display has the call: p50 %.1f us, p99 %.1f us, max %.1f us\n",
           lat_percentile_us(l, 50), lat_percentile_us(l, 99), lat_max_us(l));
    rc = 0;
    if (h.c.json != NULL) {
        FILE *f = json_open(&h.c);
        if (f == NULL) {
            lat_free(l);
            return 1;
        }
        json_head(f, "fanout", &h.c);
        fprintf(f,
                ",\"displays\":%u,\"window\":%u,\"rounds\":%u,\"p50_us\":%.1f,\"p99_us\":%.1f,"
                "\"max_us\":%.1f",
                displays, window, rounds, lat_percentile_us(l, 50), lat_percentile_us(l, 99),
                lat_max_us(l));
        rc = json_close(f, &h.c);
    }
    lat_free(l);
    return rc;
}

static int cmd_idle(int argc, char **argv)
{
    static const struct option options[] = {
        {"connections", required_argument, NULL, 'n'},
        {"pid", required_argument, NULL, 'i'},
        {"hold", required_argument, NULL, 'H'},
        HALLD_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct halld_args h = {0};
    target_halld_addr addr;
    fanout_idle_result res;
    unsigned connections = 0;
    uint64_t pid = 0;
    double hold = 2;
    char err[600];
    int opt;

    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        if (halld_option(&h, opt))
            continue;
        switch (opt) {
        case 'n':
            if (!parse_uint(optarg, 1, MAX_LINKS, &connections))
                return usage_error("idle", "--connections %s: expected 1..%d", optarg, MAX_LINKS);
            break;
        case 'i':
            if (!parse_u64(optarg, 1, 4194304, &pid))
                return usage_error("idle", "--pid %s: expected a process id", optarg);
            break;
        case 'H':
            if (!parse_seconds(optarg, 0, 86400, &hold))
                return usage_error("idle", "--hold %s: expected 0..86400 seconds", optarg);
            break;
        case 'h':
            printf("usage: hallbench idle --config HALL/halld.ini --connections N --pid PID\n"
                   "                      [--hold SECONDS] [--json FILE] [--label TEXT]\n"
                   "Open N links that say HELLO and stay idle (heartbeats only), keep them\n"
                   "open --hold seconds (default 2), then read halld's (PID) resident memory\n"
                   "(VmRSS) and open descriptors, compared with before the links.\n" HALLD_HELP);
            return 0;
        default:
            return 2;
        }
    }
    if (optind != argc)
        return usage_error("idle", "unexpected argument %s", argv[optind]);
    if (connections == 0 || pid == 0)
        return usage_error("idle", "--connections and --pid are needed");
    int rc = resolve("idle", &h, &addr);
    if (rc != 0)
        return rc;
    raise_nofile((rlim_t)connections + 64);
    if (fanout_idle(&addr, connections, hold, (pid_t)pid, &res, err, sizeof err) < 0)
        return fail("%s", err);
    printf("hallbench idle: %u links open in %.2f s, held %.1f s\n", connections, res.open_s, hold);
    printf("halld (pid %" PRIu64 "): rss %ld KiB (%ld before), %ld fds (%ld before); "
           "%.1f KiB per link\n",
           pid, res.rss_kib, res.rss_kib_before, res.fds, res.fds_before,
           (double)(res.rss_kib - res.rss_kib_before) / connections);
    if (h.c.json == NULL)
        return 0;
    FILE *f = json_open(&h.c);
    if (f == NULL)
        return 1;
    json_head(f, "idle", &h.c);
    fprintf(f,
            ",\"connections\":%u,\"rss_kib\":%ld,\"fds\":%ld,\"rss_kib_before\":%ld,"
            "\"fds_before\":%ld,\"open_s\":%.3f",
            connections, res.rss_kib, res.fds, res.rss_kib_before, res.fds_before, res.open_s);
    return json_close(f, &h.c);
}

/* ---- seed ----------------------------------------------------------------------------- */

static int cmd_seed(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"waiting", required_argument, NULL, 'w'},
        {"history", required_argument, NULL, 'H'},
        {"json", required_argument, NULL, 'j'},
        {"label", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    struct common c = {0};
    uint64_t waiting = 0, history = 0;
    bool have_waiting = false;
    double seconds;
    char err[600];
    int opt;

    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'w':
            if (!parse_u64(optarg, 0, UINT64_C(100000000), &waiting))
                return usage_error("seed", "--waiting %s: expected 0..100000000", optarg);
            have_waiting = true;
            break;
        case 'H':
            if (!parse_u64(optarg, 0, UINT64_C(1000000000), &history))
                return usage_error("seed", "--history %s: expected 0..1000000000", optarg);
            break;
        case 'j':
            c.json = optarg;
            break;
        case 'l':
            c.label = optarg;
            break;
        case 'h':
            printf("usage: hallbench seed --config HALL/halld.ini --waiting N [--history N]\n"
                   "                      [--json FILE] [--label TEXT]\n"
                   "With halld stopped, write N WAITING tickets for today (spread over the\n"
                   "areas, issued over the last hours of the business day) and N DONE\n"
                   "tickets over the %d days before, through the store as halld writes\n"
                   "them (%d per transaction), so halld starts with that queue and history.\n",
                   SEED_HISTORY_DAYS, SEED_BATCH);
            return 0;
        default:
            return 2;
        }
    }
    if (optind != argc)
        return usage_error("seed", "unexpected argument %s", argv[optind]);
    if (config == NULL || !have_waiting)
        return usage_error("seed", "--config and --waiting are needed");
    if (seed_run(config, waiting, history, &seconds, err, sizeof err) < 0)
        return fail("%s", err);
    printf("hallbench seed: %" PRIu64 " waiting and %" PRIu64 " history tickets in %.2f s "
           "(%.0f tickets/s)\n",
           waiting, history, seconds, seconds > 0 ? (double)(waiting + history) / seconds : 0.0);
    if (c.json == NULL)
        return 0;
    FILE *f = json_open(&c);
    if (f == NULL)
        return 1;
    json_head(f, "seed", &c);
    fprintf(f, ",\"waiting\":%" PRIu64 ",\"history\":%" PRIu64 ",\"seconds\":%.3f", waiting,
            history, seconds);
    return json_close(f, &c);
}

/* ---- Dispatch --------------------------------------------------------------------------- */

static int cmd_version(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("hallbench %s\n", ONEWINDOW_VERSION);
    return 0;
}

static const struct command {
    const char *noun, *verb; /* verb NULL: one word */
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"load", NULL, cmd_load, "kiosks and windows against halld, postgres, redis or sqlite"},
    {"setup", NULL, cmd_setup, "make a comparison target's tables or keys afresh"},
    {"probe", "fsync", cmd_probe_fsync, "fdatasync latency of 4 KiB writes in a directory"},
    {"probe", "rtt", cmd_probe_rtt, "loopback TCP round trip of 64 bytes"},
    {"fanout", NULL, cmd_fanout, "time for a call to reach N subscribed displays"},
    {"idle", NULL, cmd_idle, "halld's memory and descriptors with N idle links"},
    {"seed", NULL, cmd_seed, "write a big queue and history into a stopped hall"},
    {"version", NULL, cmd_version, "print the version"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: hallbench <command> [options]     (hallbench <command> --help for each)\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%s%s", commands[i].noun, commands[i].verb ? " " : "",
                 commands[i].verb ? commands[i].verb : "");
        fprintf(f, "  %-14s %s\n", name, commands[i].summary);
    }
    fprintf(f, "Every command prints a table; --json FILE also writes one JSON object.\n"
               "Exit status: 0 done, 1 failed, 2 bad usage.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    /* Writes to a peer that has gone must fail, not kill the benchmark. */
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const struct command *c = &commands[i];
        if (strcmp(argv[1], c->noun) != 0)
            continue;
        if (c->verb == NULL)
            return c->fn(argc - 1, argv + 1);
        if (argc >= 3 && strcmp(argv[2], c->verb) == 0)
            return c->fn(argc - 2, argv + 2);
    }
    fprintf(stderr, "hallbench: unknown command '%s%s%s'\n", argv[1],
            argc >= 3 && strcmp(argv[1], "probe") == 0 ? " " : "",
            argc >= 3 && strcmp(argv[1], "probe") == 0 ? argv[2] : "");
    usage(stderr);
    return 2;
}
