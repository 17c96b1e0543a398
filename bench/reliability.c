/*
 * reliability — the reliability harness of halld: a real hall made by
 * hallctl, the real halld, and devices that remember every answer they
 * got, in three modes (bench/README.md, "Reliability harness"):
 *
 *   kill9   halld is killed with SIGKILL at random moments under load and
 *           restarted, round after round (some kills land while it starts
 *           up); then the store is held against the devices' answers.
 *   faults  the same load through tools/faultproxy (drops, resets, delays,
 *           partial writes, and duplicated frames on plaintext links),
 *           first over plain TCP (halld --dev-plaintext), then over TLS;
 *           devices retry lost answers with the same request id and
 *           sometimes re-send answered ones, which must get the first
 *           answer again; and once, a refused request sent again after
 *           the refusal stopped applying must get the same refusal.
 *   soak    a steady load for a long time, sampling halld's resident
 *           memory and descriptors, which must stay flat.
 *
 * Every mode ends with the store checks of reliability_check.h and
 * `hallctl audit verify`, prints one line per check and a summary line
 * ("reliability <mode>: PASS ..." or "FAIL ..."), and exits 0 on pass, 1 on
 * failure, 2 on bad usage. --json FILE writes the numbers.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "reliability_check.h"
#include "reliability_hall.h"
#include "reliability_load.h"

#define START_TIMEOUT_MS 30000 /* halld under ASan on a loaded machine */
#define STOP_TIMEOUT_MS  30000
#define DRAIN_TIMEOUT_MS 30000
#define MAX_SAMPLES      100000
#define LOADED_WAIT_MS   20000               /* devices back and answered after a restart */
#define PROBE_FIRST_ID   1000000000000000ULL /* the refusal probe's ids, as hallctl */

enum mode { MODE_KILL9, MODE_FAULTS, MODE_SOAK };

struct opts {
    enum mode mode;
    const char *mode_name;
    rhall_paths paths;
    int kiosks, windows;
    uint64_t seed;
    const char *json;
    bool keep;
    /* kill9 */
    int rounds, min_ms, max_ms;
    /* faults and soak */
    double duration;
    double drop, reset, delay, partial, dup, echo;
    int delay_short_ms, delay_long_ms, answer_timeout_ms;
    bool plain_phase, tls_phase;
    /* soak */
    double interval, warmup, rate, rss_pct, rss_mib;
};

/* What a run found, for the summary and the JSON. */
struct sample {
    double t;
    long rss_kib;
    int fds;
    uint64_t tickets;
};

struct phase {
    const char *name;
    double seconds;
    rhall_faults faults;
    rload_totals totals;
};

struct run {
    const struct opts *o;
    rhall *hall;
    rcheck checks;
    int64_t started_ms;
    rload_totals totals; /* over every load of the run */
    rload_rec *recs;     /* every answer of every load */
    size_t nrecs;
    char name_store[400][24]; /* device ids by rload_rec.device */
    const char *names[400];
    size_t nnames;
    char problem[400];
    rcheck_counts store;
    /* kill9 */
    int rounds_done, startup_kills, rounds_with_answers, loaded_rounds, loaded_unanswered;
    /* faults */
    struct phase phases[2];
    int nphases;
    /* soak */
    struct sample *samples;
    size_t nsamples;
    long idle_rss_before, idle_rss_after, rss_growth_kib;
    int idle_fds_before, idle_fds_after;
    double rss_growth_pct;
    double rss_per_kticket; /* KiB per 1000 tickets finished, after the warm-up */
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double elapsed_s(const struct run *r)
{
    return (double)(clk_mono_ms() - r->started_ms) / 1000.0;
}

/* Sleep ms unless interrupted. */
static void nap_ms(int64_t ms)
{
    int64_t until = clk_mono_ms() + ms;

    for (int64_t left = ms; left > 0 && !interrupted; left = until - clk_mono_ms()) {
        int64_t step = left > 100 ? 100 : left;
        nanosleep(&(struct timespec){step / 1000, (long)(step % 1000) * 1000000L}, NULL);
    }
}

/* A child's wait status in words, and whether it is a clean exit. */
static bool clean_exit(int status, char *out, size_t outlen)
{
    if (status == -1)
        snprintf(out, outlen, "did not stop within %d s of SIGTERM", STOP_TIMEOUT_MS / 1000);
    else if (WIFEXITED(status))
        snprintf(out, outlen, "exit status %d", WEXITSTATUS(status));
    else
        snprintf(out, outlen, "killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- Collecting a load's results ------------------------------------------------- */

static void add_totals(rload_totals *sum, const rload_totals *t)
{
    sum->issued += t->issued;
    sum->printed += t->printed;
    sum->called += t->called;
    sum->started += t->started;
    sum->finished += t->finished;
    sum->requests += t->requests;
    sum->lost += t->lost;
    sum->links += t->links;
    sum->link_fails += t->link_fails;
    sum->empty += t->empty;
    sum->echoes += t->echoes;
    sum->echo_diff += t->echo_diff;
    sum->unexpected += t->unexpected;
}

/* Keep a stopped load's answers, totals, device names and first problem. */
static int collect(struct run *r, const rload *l)
{
    size_t n;
    const rload_rec *recs = rload_records(l, &n);
    rload_totals t;

    rload_totals_get(l, &t);
    add_totals(&r->totals, &t);
    if (r->problem[0] == '\0')
        snprintf(r->problem, sizeof r->problem, "%s", rload_problem(l));
    r->nnames = (size_t)(r->o->kiosks + r->o->windows);
    for (size_t i = 0; i < r->nnames; i++) {
        snprintf(r->name_store[i], sizeof r->name_store[i], "%s",
                 rload_device_name(l, (unsigned)i));
        r->names[i] = r->name_store[i];
    }
    if (n == 0)
        return 0;
    rload_rec *grown = realloc(r->recs, (r->nrecs + n) * sizeof *grown);
    if (grown == NULL)
        return -1;
    memcpy(grown + r->nrecs, recs, n * sizeof *recs);
    r->recs = grown;
    r->nrecs += n;
    return 0;
}

static uint64_t answered(const rload_totals *t)
{
    return t->issued + t->printed + t->called + t->started + t->finished;
}

static void print_totals(const char *what, const rload_totals *t)
{
    printf("%s: issued %" PRIu64 ", printed %" PRIu64 ", called %" PRIu64 ", started %" PRIu64
           ", finished %" PRIu64 "; %" PRIu64 " requests, %" PRIu64
           " lost answers retried, %" PRIu64 " links (%" PRIu64 " failed), %" PRIu64
           " answered requests sent again\n",
           what, t->issued, t->printed, t->called, t->started, t->finished, t->requests, t->lost,
           t->links, t->link_fails, t->echoes);
}

/* ---- The checks every mode ends with ----------------------------------------------- */

/* halld must start and stop cleanly on what is left, then the store and
 * the devices' answers are checked, and the audit chain. */
static void final_checks(struct run *r, unsigned flags)
{
    char err[400];
    int port, status = -1;

    printf("checks:\n");
    port = rhall_start(r->hall, false, START_TIMEOUT_MS, err, sizeof err);
    if (port > 0)
        status = rhall_stop(r->hall, STOP_TIMEOUT_MS);
    char how[96];
    bool clean = port > 0 && clean_exit(status, how, sizeof how);
    rcheck_expect(&r->checks, clean, "halld restarts and stops", "%s%s",
                  port <= 0 ? err : "started, stopped by SIGTERM: ", port <= 0 ? "" : how);
    rcheck_store(&r->checks, rhall_db(r->hall), r->recs, r->nrecs, r->names, r->nnames, flags,
                 &r->store);
    int audit = rhall_hallctl(r->hall, "audit", "verify", NULL);
    rcheck_expect(&r->checks, audit == 0, "audit chain intact", "hallctl audit verify: exit %d",
                  audit);
    rcheck_expect(&r->checks, r->totals.unexpected == 0, "no unexpected answers",
                  "%" PRIu64 " errors the devices did not cause%s%s", r->totals.unexpected,
                  r->problem[0] ? "; first: " : "", r->problem);
    rcheck_expect(&r->checks, r->totals.echo_diff == 0, "retries get the first answer",
                  "%" PRIu64 " answered requests sent again, %" PRIu64 " answered differently",
                  r->totals.echoes, r->totals.echo_diff);
}

/* ---- kill9 ------------------------------------------------------------------------- */

static int run_kill9(struct run *r)
{
    const struct opts *o = r->o;
    uint64_t rng = o->seed;
    char err[400] = "";
    int port;

    /* The devices wait for halld's first start (port 0 refuses them). */
    rload_opts lo = {.hall_dir = rhall_dir(r->hall),
                     .tls = true,
                     .kiosks = o->kiosks,
                     .windows = o->windows,
                     .seed = o->seed,
                     .first_id = 1,
                     .echo = o->echo,
                     .answer_timeout_ms = o->answer_timeout_ms,
                     .empty_sleep_ms = 10};
    rload *l = rload_start(&lo, 0, err, sizeof err);
    if (l == NULL) {
        rcheck_expect(&r->checks, false, "devices start", "%s", err);
        return -1;
    }
    printf("kill9: %d rounds; halld killed %d..%d ms after it listens, or as long after the "
           "round's first answer (every other round), or while it starts up (1 round in 8)\n",
           o->rounds, o->min_ms, o->max_ms);
    bool restart_failed = false;
    for (int round = 0; round < o->rounds && !interrupted; round++) {
        rload_totals before, after;
        rload_totals_get(l, &before);
        if (round > 0 && rng_next(&rng) % 8 == 0) {
            /* Killed in the middle of opening the store and rebuilding. */
            if (rhall_spawn(r->hall, false, err, sizeof err) < 0) {
                restart_failed = true;
                break;
            }
            nap_ms((int64_t)(rng_next(&rng) % 40));
            rhall_kill(r->hall);
            r->startup_kills++;
            r->rounds_done++;
            continue;
        }
        if ((port = rhall_start(r->hall, false, START_TIMEOUT_MS, err, sizeof err)) < 0) {
            restart_failed = true;
            break;
        }
        rload_set_port(l, port);
        bool loaded = rng_next(&rng) % 2 == 0;
        if (loaded) {
            /* Under load for sure: the devices are back and being answered. */
            r->loaded_rounds++;
            int64_t until = clk_mono_ms() + LOADED_WAIT_MS;
            do {
                nap_ms(2);
                rload_totals_get(l, &after);
            } while (answered(&after) == answered(&before) && clk_mono_ms() < until &&
                     !interrupted);
        }
        nap_ms(o->min_ms + (int64_t)(rng_next(&rng) % (uint64_t)(o->max_ms - o->min_ms + 1)));
        rhall_kill(r->hall);
        rload_totals_get(l, &after);
        if (answered(&after) > answered(&before))
            r->rounds_with_answers++;
        else if (loaded)
            r->loaded_unanswered++;
        r->rounds_done++;
        if ((round + 1) % 20 == 0)
            printf("  round %d: %" PRIu64 " answers so far (%.1f s)\n", round + 1, answered(&after),
                   elapsed_s(r));
    }
    rload_stop(l, false, 0);
    if (collect(r, l) < 0)
        snprintf(r->problem, sizeof r->problem, "out of memory for the answers");
    rload_free(l);
    print_totals("kill9 devices", &r->totals);
    rcheck_expect(&r->checks, !restart_failed, "halld restarts after every kill", "%s",
                  restart_failed ? err : "every round");
    rcheck_expect(&r->checks, !interrupted && r->rounds_done == o->rounds, "rounds done",
                  "%d of %d (%d killed while starting up)", r->rounds_done, o->rounds,
                  r->startup_kills);
    rcheck_expect(&r->checks, r->loaded_unanswered == 0 && r->loaded_rounds > 0,
                  "killed under load",
                  "%d of %d rounds killed after answers (%d rounds waiting for answers, %d of "
                  "them got none within %d s of the restart)",
                  r->rounds_with_answers, r->rounds_done - r->startup_kills, r->loaded_rounds,
                  r->loaded_unanswered, LOADED_WAIT_MS / 1000);
    final_checks(r, RCHECK_ONE_CALL);
    return 0;
}

/* ---- faults ------------------------------------------------------------------------ */

static int set_faults(rhall *h, const struct opts *o, bool on, bool plain, int delay_ms)
{
    char line[64];
    int rc = 0;

    snprintf(line, sizeof line, "drop %g", on ? o->drop : 0.0);
    rc |= rhall_proxy_control(h, line);
    snprintf(line, sizeof line, "reset %g", on ? o->reset : 0.0);
    rc |= rhall_proxy_control(h, line);
    snprintf(line, sizeof line, "delay %g %d", on ? o->delay : 0.0, delay_ms);
    rc |= rhall_proxy_control(h, line);
    snprintf(line, sizeof line, "partial %g", on ? o->partial : 0.0);
    rc |= rhall_proxy_control(h, line);
    if (plain) {
        snprintf(line, sizeof line, "dup %g", on ? o->dup : 0.0);
        rc |= rhall_proxy_control(h, line);
    }
    return rc;
}

/* One phase: halld (plain or TLS) behind faultproxy, the load for its
 * share of the time with the delay switching between short and long (past
 * the devices' answer timeout), then the faults off while the devices
 * finish their tickets. */
static int faults_phase(struct run *r, bool plain, double seconds, uint64_t *first_id)
{
    const struct opts *o = r->o;
    struct phase *ph = &r->phases[r->nphases++];
    char err[400], seed[32], drop[32], reset[32], delay[48], partial[32], dup[32];
    int64_t t0 = clk_mono_ms();

    ph->name = plain ? "plain" : "tls";
    int port = rhall_start(r->hall, plain, START_TIMEOUT_MS, err, sizeof err);
    if (port < 0) {
        rcheck_expect(&r->checks, false, "halld starts", "%s phase: %s", ph->name, err);
        return -1;
    }
    snprintf(seed, sizeof seed, "%" PRIu64, o->seed + (plain ? 0 : 1));
    snprintf(drop, sizeof drop, "%g", o->drop);
    snprintf(reset, sizeof reset, "%g", o->reset);
    snprintf(delay, sizeof delay, "%g:%d", o->delay, o->delay_short_ms);
    snprintf(partial, sizeof partial, "%g", o->partial);
    snprintf(dup, sizeof dup, "%g", o->dup);
    int pport = plain
                    ? rhall_proxy_start(r->hall, port, START_TIMEOUT_MS, err, sizeof err, "--seed",
                                        seed, "--drop", drop, "--reset", reset, "--delay", delay,
                                        "--partial", partial, "--frames", "--dup", dup, NULL)
                    : rhall_proxy_start(r->hall, port, START_TIMEOUT_MS, err, sizeof err, "--seed",
                                        seed, "--drop", drop, "--reset", reset, "--delay", delay,
                                        "--partial", partial, NULL);
    if (pport < 0) {
        rcheck_expect(&r->checks, false, "faultproxy starts", "%s", err);
        rhall_stop(r->hall, STOP_TIMEOUT_MS);
        return -1;
    }
    rload_opts lo = {.hall_dir = rhall_dir(r->hall),
                     .tls = !plain,
                     .kiosks = o->kiosks,
                     .windows = o->windows,
                     .seed = o->seed + (plain ? 0 : 1),
                     .first_id = *first_id,
                     .echo = o->echo,
                     .answer_timeout_ms = o->answer_timeout_ms,
                     .empty_sleep_ms = 10};
    rload *l = rload_start(&lo, pport, err, sizeof err);
    if (l == NULL) {
        rcheck_expect(&r->checks, false, "devices start", "%s", err);
        return -1;
    }
    printf("faults, %s phase: halld on %d behind faultproxy on %d for %.0f s\n", ph->name, port,
           pport, seconds);
    int64_t until = t0 + (int64_t)(seconds * 1000), next_switch = clk_mono_ms() + 2000;
    bool long_delay = false;
    while (clk_mono_ms() < until && !interrupted) {
        nap_ms(100);
        if (clk_mono_ms() >= next_switch) {
            /* Long delays outlast the answer timeout: the retry races the
             * original request, which still arrives. */
            long_delay = !long_delay;
            set_faults(r->hall, o, true, plain, long_delay ? o->delay_long_ms : o->delay_short_ms);
            next_switch += 2000;
        }
    }
    set_faults(r->hall, o, false, plain, 0);
    int unfinished = rload_stop(l, true, DRAIN_TIMEOUT_MS);
    rload_totals_get(l, &ph->totals);
    *first_id = rload_next_id(l);
    int collected = collect(r, l);
    rload_free(l);
    int proxy_rc = rhall_proxy_stop(r->hall, &ph->faults, err, sizeof err);
    int status = rhall_stop(r->hall, STOP_TIMEOUT_MS);
    ph->seconds = (double)(clk_mono_ms() - t0) / 1000.0;
    print_totals("  devices", &ph->totals);
    printf("  faultproxy: %" PRIu64 " connections, drop %" PRIu64 ", reset %" PRIu64
           ", delay %" PRIu64 ", partial %" PRIu64 ", dup %" PRIu64 "\n",
           ph->faults.connections, ph->faults.drop, ph->faults.reset, ph->faults.delay,
           ph->faults.partial, ph->faults.dup);
    rcheck_expect(&r->checks, unfinished == 0 && collected == 0, "devices finish their tickets",
                  "%s phase: %d devices still busy after the faults stopped", ph->name, unfinished);
    rcheck_expect(&r->checks, proxy_rc == 0, "faultproxy stops", "%s phase: %s", ph->name,
                  proxy_rc == 0 ? "counts read" : err);
    const rhall_faults *f = &ph->faults;
    rcheck_expect(&r->checks,
                  f->drop > 0 && f->reset > 0 && f->delay > 0 && f->partial > 0 &&
                      (!plain || o->dup <= 0 || f->dup > 0) && ph->totals.lost > 0,
                  "faults injected",
                  "%s phase: every kind at least once, and lost answers (%" PRIu64 ")", ph->name,
                  ph->totals.lost);
    char how[96];
    bool clean = clean_exit(status, how, sizeof how);
    rcheck_expect(&r->checks, clean, "halld stops cleanly", "%s phase, SIGTERM: %s", ph->name, how);
    rcheck_expect(&r->checks, answered(&ph->totals) > 0, "devices served",
                  "%s phase: %" PRIu64 " answers", ph->name, answered(&ph->totals));
    return 0;
}

/* The retry contract for a refused request, checked once on halld without
 * faults (rload_probe_refusal). The devices cannot see it break on their
 * own: a refusal they retried looks like any other refusal. */
static void refusal_probe(struct run *r)
{
    char err[400], why[400];
    int port = rhall_start(r->hall, false, START_TIMEOUT_MS, err, sizeof err);

    if (port < 0) {
        rcheck_expect(&r->checks, false, "a refusal kept for a retry", "%s", err);
        return;
    }
    int verdict = rload_probe_refusal(rhall_dir(r->hall), port, 1, PROBE_FIRST_ID, why, sizeof why);
    rhall_stop(r->hall, STOP_TIMEOUT_MS);
    rcheck_expect(&r->checks, verdict == 1, "a refusal kept for a retry", "%s%s",
                  verdict < 0 ? "could not run: " : "", why);
}

static int run_faults(struct run *r)
{
    const struct opts *o = r->o;
    int phases = (o->plain_phase ? 1 : 0) + (o->tls_phase ? 1 : 0);
    uint64_t first_id = 1;

    printf("faults: drop %g, reset %g, delay %g (%d or %d ms), partial %g, dup %g (plain links), "
           "echo %g, answer timeout %d ms\n",
           o->drop, o->reset, o->delay, o->delay_short_ms, o->delay_long_ms, o->partial, o->dup,
           o->echo, o->answer_timeout_ms);
    if (o->plain_phase && faults_phase(r, true, o->duration / phases, &first_id) < 0)
        return -1;
    if (o->tls_phase && !interrupted && faults_phase(r, false, o->duration / phases, &first_id) < 0)
        return -1;
    print_totals("faults devices", &r->totals);
    rcheck_expect(&r->checks, r->totals.echoes > 0, "answered requests sent again",
                  "%" PRIu64 " (each compared with its first answer)", r->totals.echoes);
    refusal_probe(r);
    final_checks(r, RCHECK_ONE_CALL);
    return 0;
}

/* ---- soak --------------------------------------------------------------------------- */

static double mean_rss(const struct sample *s, size_t from, size_t to)
{
    double sum = 0;

    for (size_t i = from; i < to; i++)
        sum += (double)s[i].rss_kib;
    return to > from ? sum / (double)(to - from) : 0;
}

static int max_fds(const struct sample *s, size_t from, size_t to)
{
    int m = 0;

    for (size_t i = from; i < to; i++)
        if (s[i].fds > m)
            m = s[i].fds;
    return m;
}

/* halld's descriptors back to n (the devices' links closing), up to 10 s. */
static int settle_fds(pid_t pid, int n, long *rss)
{
    int fds = -1;

    for (int i = 0; i < 100 && !interrupted; i++) {
        rhall_sample(pid, rss, &fds);
        if (fds == n)
            break;
        nap_ms(100);
    }
    return fds;
}

static int run_soak(struct run *r)
{
    const struct opts *o = r->o;
    char err[400];
    int port = rhall_start(r->hall, false, START_TIMEOUT_MS, err, sizeof err);

    if (port < 0) {
        rcheck_expect(&r->checks, false, "halld starts", "%s", err);
        return -1;
    }
    pid_t pid = rhall_pid(r->hall);
    nap_ms(1000);
    rhall_sample(pid, &r->idle_rss_before, &r->idle_fds_before);
    rload_opts lo = {.hall_dir = rhall_dir(r->hall),
                     .tls = true,
                     .kiosks = o->kiosks,
                     .windows = o->windows,
                     .seed = o->seed,
                     .first_id = 1,
                     .echo = o->echo,
                     .answer_timeout_ms = o->answer_timeout_ms,
                     .empty_sleep_ms = 50,
                     .rate = o->warmup > 0 ? 0 : o->rate};
    rload *l = rload_start(&lo, port, err, sizeof err);
    if (l == NULL) {
        rcheck_expect(&r->checks, false, "devices start", "%s", err);
        return -1;
    }
    printf("soak: %.0f s, the first %.0f s as fast as the devices go (warm-up), then %g "
           "tickets/s; a sample every %g s; idle halld: %ld KiB, %d fds\n",
           o->duration, o->warmup, o->rate, o->interval, r->idle_rss_before, r->idle_fds_before);
    printf("  %8s %10s %5s %9s\n", "t (s)", "rss (KiB)", "fds", "tickets");
    int64_t t0 = clk_mono_ms(), until = t0 + (int64_t)(o->duration * 1000);
    size_t cap = (size_t)(o->duration / o->interval) + 2;
    if (cap > MAX_SAMPLES)
        cap = MAX_SAMPLES;
    r->samples = calloc(cap, sizeof *r->samples);
    bool steady = o->warmup <= 0;
    for (int64_t next = t0 + (int64_t)(o->interval * 1000);
         next <= until && !interrupted && r->samples != NULL && r->nsamples < cap;
         next += (int64_t)(o->interval * 1000)) {
        nap_ms(next - clk_mono_ms());
        if (!steady && clk_mono_ms() - t0 >= (int64_t)(o->warmup * 1000)) {
            rload_set_rate(l, o->rate);
            steady = true;
        }
        struct sample *s = &r->samples[r->nsamples];
        rload_totals t;
        rload_totals_get(l, &t);
        if (rhall_sample(pid, &s->rss_kib, &s->fds) < 0) {
            rcheck_expect(&r->checks, false, "halld runs", "halld (pid %d) is gone", (int)pid);
            break;
        }
        s->t = (double)(clk_mono_ms() - t0) / 1000.0;
        s->tickets = t.finished;
        r->nsamples++;
        printf("  %8.1f %10ld %5d %9" PRIu64 "\n", s->t, s->rss_kib, s->fds, s->tickets);
        fflush(stdout);
    }
    int unfinished = rload_stop(l, true, DRAIN_TIMEOUT_MS);
    int collected = collect(r, l);
    rload_free(l);
    r->idle_fds_after = settle_fds(pid, r->idle_fds_before, &r->idle_rss_after);
    int status = rhall_stop(r->hall, STOP_TIMEOUT_MS);
    print_totals("soak devices", &r->totals);

    /* Memory: the samples after the warm-up, first third against last. */
    size_t from = 0;
    while (from < r->nsamples && r->samples[from].t < o->warmup)
        from++;
    size_t span = (r->nsamples - from) / 3;
    bool enough = span >= 1;
    double first = enough ? mean_rss(r->samples, from, from + span) : 0;
    double last = enough ? mean_rss(r->samples, r->nsamples - span, r->nsamples) : 0;
    r->rss_growth_kib = (long)(last - first);
    r->rss_growth_pct = first > 0 ? 100.0 * (last - first) / first : 0;
    double tickets = enough ? (double)r->samples[r->nsamples - 1 - span / 2].tickets -
                                  (double)r->samples[from + span / 2].tickets
                            : 0;
    r->rss_per_kticket = tickets > 0 ? 1000.0 * (last - first) / tickets : 0;
    rcheck_expect(&r->checks, enough, "samples after the warm-up",
                  "%zu samples after %.0f s (3 at least)", r->nsamples - from, o->warmup);
    rcheck_expect(&r->checks,
                  enough && r->rss_growth_pct < o->rss_pct &&
                      (double)r->rss_growth_kib < o->rss_mib * 1024.0,
                  "memory flat",
                  "RSS %.0f -> %.0f KiB (mean of first and last third after the warm-up): %+ld "
                  "KiB, %+.1f %% (limits %g %%, %g MiB); %+.0f KiB per 1000 tickets",
                  first, last, r->rss_growth_kib, r->rss_growth_pct, o->rss_pct, o->rss_mib,
                  r->rss_per_kticket);
    int fds_first = enough ? max_fds(r->samples, from, from + span) : 0;
    int fds_last = enough ? max_fds(r->samples, r->nsamples - span, r->nsamples) : 0;
    rcheck_expect(&r->checks, enough && fds_last <= fds_first + o->kiosks + o->windows,
                  "descriptors flat under load",
                  "most in the first third %d, in the last %d (a device may be between links)",
                  fds_first, fds_last);
    rcheck_expect(&r->checks, r->idle_fds_after == r->idle_fds_before, "descriptors back when idle",
                  "%d before the load, %d after", r->idle_fds_before, r->idle_fds_after);
    rcheck_expect(&r->checks, unfinished == 0 && collected == 0, "devices finish their tickets",
                  "%d devices still busy at the end", unfinished);
    char how[96];
    bool clean = clean_exit(status, how, sizeof how);
    rcheck_expect(&r->checks, clean, "halld stops cleanly", "after the soak, SIGTERM: %s", how);
    final_checks(r, RCHECK_ONE_CALL);
    return 0;
}

/* ---- Output ------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_totals(FILE *f, const rload_totals *t)
{
    fprintf(f,
            "{\"issued\":%" PRIu64 ",\"printed\":%" PRIu64 ",\"called\":%" PRIu64
            ",\"started\":%" PRIu64 ",\"finished\":%" PRIu64 ",\"requests\":%" PRIu64
            ",\"lost\":%" PRIu64 ",\"links\":%" PRIu64 ",\"link_fails\":%" PRIu64
            ",\"empty\":%" PRIu64 ",\"echoes\":%" PRIu64 ",\"echo_diff\":%" PRIu64
            ",\"unexpected\":%" PRIu64 "}",
            t->issued, t->printed, t->called, t->started, t->finished, t->requests, t->lost,
            t->links, t->link_fails, t->empty, t->echoes, t->echo_diff, t->unexpected);
}

static int write_json(const struct run *r, const char *path, bool pass)
{
    const struct opts *o = r->o;
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    fprintf(f,
            "{\"tool\":\"reliability\",\"mode\":\"%s\",\"result\":\"%s\",\"seed\":%" PRIu64
            ",\"seconds\":%.1f,\"kiosks\":%d,\"windows\":%d,\"devices\":",
            o->mode_name, pass ? "pass" : "fail", o->seed, elapsed_s(r), o->kiosks, o->windows);
    json_totals(f, &r->totals);
    fprintf(f,
            ",\"store\":{\"tickets\":%" PRIu64 ",\"events\":%" PRIu64 ",\"kept_answers\":%" PRIu64
            ",\"answers_checked\":%" PRIu64 ",\"tickets_checked\":%" PRIu64 "}",
            r->store.tickets, r->store.events, r->store.kept_answers, r->store.answers_checked,
            r->store.tickets_checked);
    fprintf(f, ",\"checks\":{\"passed\":%d,\"failed\":%d,\"first_failure\":", r->checks.passed,
            r->checks.failed);
    json_str(f, r->checks.first_failure);
    fputc('}', f);
    if (o->mode == MODE_KILL9)
        fprintf(f,
                ",\"rounds\":%d,\"startup_kills\":%d,\"rounds_with_answers\":%d,"
                "\"loaded_rounds\":%d",
                r->rounds_done, r->startup_kills, r->rounds_with_answers, r->loaded_rounds);
    if (o->mode == MODE_FAULTS) {
        fprintf(f, ",\"phases\":[");
        for (int i = 0; i < r->nphases; i++) {
            const struct phase *p = &r->phases[i];
            fprintf(f,
                    "%s{\"name\":\"%s\",\"seconds\":%.1f,\"faults\":{\"connections\":%" PRIu64
                    ",\"drop\":%" PRIu64 ",\"reset\":%" PRIu64 ",\"delay\":%" PRIu64
                    ",\"partial\":%" PRIu64 ",\"dup\":%" PRIu64 ",\"c2s_bytes\":%" PRIu64
                    ",\"s2c_bytes\":%" PRIu64 "},\"devices\":",
                    i ? "," : "", p->name, p->seconds, p->faults.connections, p->faults.drop,
                    p->faults.reset, p->faults.delay, p->faults.partial, p->faults.dup,
                    p->faults.c2s_bytes, p->faults.s2c_bytes);
            json_totals(f, &p->totals);
            fputc('}', f);
        }
        fputc(']', f);
    }
    if (o->mode == MODE_SOAK) {
        fprintf(f,
                ",\"rate\":%g,\"idle\":{\"rss_kib_before\":%ld,\"fds_before\":%d,"
                "\"rss_kib_after\":%ld,\"fds_after\":%d},\"rss_growth_kib\":%ld,"
                "\"rss_growth_pct\":%.2f,\"rss_kib_per_1000_tickets\":%.1f,\"warmup_s\":%g,"
                "\"samples\":[",
                o->rate, r->idle_rss_before, r->idle_fds_before, r->idle_rss_after,
                r->idle_fds_after, r->rss_growth_kib, r->rss_growth_pct, r->rss_per_kticket,
                o->warmup);
        for (size_t i = 0; i < r->nsamples; i++)
            fprintf(f, "%s{\"t\":%.1f,\"rss_kib\":%ld,\"fds\":%d,\"tickets\":%" PRIu64 "}",
                    i ? "," : "", r->samples[i].t, r->samples[i].rss_kib, r->samples[i].fds,
                    r->samples[i].tickets);
        fputc(']', f);
    }
    fprintf(f, "}\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- Options -------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: reliability kill9  [--rounds N] [--min-ms MS] [--max-ms MS] [common options]\n"
        "       reliability faults [--duration S] [--phases plain|tls|both] [--drop P]\n"
        "                          [--reset P] [--delay P] [--delay-ms SHORT:LONG]\n"
        "                          [--partial P] [--dup P] [common options]\n"
        "       reliability soak   [--duration S] [--interval S] [--warmup S] [--rate N]\n"
        "                          [--rss-pct P] [--rss-mib M] [common options]\n"
        "common options:\n"
        "  --kiosks N --windows N  devices (default 2 and 4)\n"
        "  --seed N                the random choices (default: from the clock; printed)\n"
        "  --echo P                re-send an answered request with this probability\n"
        "  --answer-timeout MS     an answer not here by then is lost (default 500)\n"
        "  --json FILE             write the numbers as one JSON object\n"
        "  --keep                  keep the hall directory (always kept on failure)\n"
        "  --halld PATH --hallctl PATH --faultproxy PATH --catalog FILE\n"
        "                          the programs and the sample catalog (default: this build's)\n"
        "defaults: kill9 200 rounds killed 20..300 ms after halld listens; faults 60 s split\n"
        "over a plain and a TLS phase, drop 0.01 reset 0.01 delay 0.03 (50 or 700 ms)\n"
        "partial 0.05 dup 0.05 echo 0.05; soak 600 s, a 60 s warm-up as fast as the devices\n"
        "go, then 2 tickets/s, a sample every 5 s, RSS growth after the warm-up under 10 %% and\n"
        "8 MiB. Exit 0 pass, 1 fail, 2 bad usage.\n");
}

static bool to_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static bool to_int(const char *s, int lo, int hi, int *out)
{
    double v;

    if (!to_double(s, lo, hi, &v) || v != (double)(int)v)
        return false;
    *out = (int)v;
    return true;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
    enum {
        O_ROUNDS = 256,
        O_MIN_MS,
        O_MAX_MS,
        O_DURATION,
        O_PHASES,
        O_DROP,
        O_RESET,
        O_DELAY,
        O_DELAY_MS,
        O_PARTIAL,
        O_DUP,
        O_ECHO,
        O_INTERVAL,
        O_WARMUP,
        O_RATE,
        O_RSS_PCT,
        O_RSS_MIB,
        O_KIOSKS,
        O_WINDOWS,
        O_SEED,
        O_JSON,
        O_KEEP,
        O_HALLD,
        O_HALLCTL,
        O_PROXY,
        O_CATALOG,
        O_TIMEOUT,
        O_HELP
    };
    static const struct option options[] = {
        {"rounds", required_argument, NULL, O_ROUNDS},
        {"min-ms", required_argument, NULL, O_MIN_MS},
        {"max-ms", required_argument, NULL, O_MAX_MS},
        {"duration", required_argument, NULL, O_DURATION},
        {"phases", required_argument, NULL, O_PHASES},
        {"drop", required_argument, NULL, O_DROP},
        {"reset", required_argument, NULL, O_RESET},
        {"delay", required_argument, NULL, O_DELAY},
        {"delay-ms", required_argument, NULL, O_DELAY_MS},
        {"partial", required_argument, NULL, O_PARTIAL},
        {"dup", required_argument, NULL, O_DUP},
        {"echo", required_argument, NULL, O_ECHO},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"rate", required_argument, NULL, O_RATE},
        {"rss-pct", required_argument, NULL, O_RSS_PCT},
        {"rss-mib", required_argument, NULL, O_RSS_MIB},
        {"kiosks", required_argument, NULL, O_KIOSKS},
        {"windows", required_argument, NULL, O_WINDOWS},
        {"seed", required_argument, NULL, O_SEED},
        {"json", required_argument, NULL, O_JSON},
        {"keep", no_argument, NULL, O_KEEP},
        {"halld", required_argument, NULL, O_HALLD},
        {"hallctl", required_argument, NULL, O_HALLCTL},
        {"faultproxy", required_argument, NULL, O_PROXY},
        {"catalog", required_argument, NULL, O_CATALOG},
        {"answer-timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    bool duration_set = false;
    int opt;

    if (argc < 2) {
        usage(stderr);
        return -1;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        exit(0);
    }
    o->mode_name = argv[1];
    if (strcmp(argv[1], "kill9") == 0)
        o->mode = MODE_KILL9;
    else if (strcmp(argv[1], "faults") == 0)
        o->mode = MODE_FAULTS;
    else if (strcmp(argv[1], "soak") == 0)
        o->mode = MODE_SOAK;
    else {
        fprintf(stderr, "reliability: unknown mode '%s' (kill9, faults or soak)\n", argv[1]);
        return -1;
    }
    optind = 2;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        bool ok = true;
        int a, b;
        switch (opt) {
        case O_ROUNDS:
            ok = to_int(optarg, 1, 100000, &o->rounds);
            break;
        case O_MIN_MS:
            ok = to_int(optarg, 0, 600000, &o->min_ms);
            break;
        case O_MAX_MS:
            ok = to_int(optarg, 0, 600000, &o->max_ms);
            break;
        case O_DURATION:
            ok = duration_set = to_double(optarg, 1, 7 * 86400, &o->duration);
            break;
        case O_PHASES:
            o->plain_phase = strcmp(optarg, "plain") == 0 || strcmp(optarg, "both") == 0;
            o->tls_phase = strcmp(optarg, "tls") == 0 || strcmp(optarg, "both") == 0;
            ok = o->plain_phase || o->tls_phase;
            break;
        case O_DROP:
            ok = to_double(optarg, 0, 1, &o->drop);
            break;
        case O_RESET:
            ok = to_double(optarg, 0, 1, &o->reset);
            break;
        case O_DELAY:
            ok = to_double(optarg, 0, 1, &o->delay);
            break;
        case O_DELAY_MS:
            ok = sscanf(optarg, "%d:%d", &a, &b) == 2 && a >= 0 && b >= a && b <= 60000;
            o->delay_short_ms = a;
            o->delay_long_ms = b;
            break;
        case O_PARTIAL:
            ok = to_double(optarg, 0, 1, &o->partial);
            break;
        case O_DUP:
            ok = to_double(optarg, 0, 1, &o->dup);
            break;
        case O_ECHO:
            ok = to_double(optarg, 0, 1, &o->echo);
            break;
        case O_INTERVAL:
            ok = to_double(optarg, 0.1, 3600, &o->interval);
            break;
        case O_WARMUP:
            ok = to_double(optarg, 0, 86400, &o->warmup);
            break;
        case O_RATE:
            ok = to_double(optarg, 0, 1e6, &o->rate);
            break;
        case O_RSS_PCT:
            ok = to_double(optarg, 0, 1000, &o->rss_pct);
            break;
        case O_RSS_MIB:
            ok = to_double(optarg, 0, 1e6, &o->rss_mib);
            break;
        case O_KIOSKS:
            ok = to_int(optarg, 1, 200, &o->kiosks);
            break;
        case O_WINDOWS:
            ok = to_int(optarg, 1, 200, &o->windows);
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            o->seed = strtoull(optarg, &end, 10);
            ok = errno == 0 && end != optarg && *end == '\0';
            break;
        }
        case O_JSON:
            o->json = optarg;
            break;
        case O_KEEP:
            o->keep = true;
            break;
        case O_HALLD:
            o->paths.halld = optarg;
            break;
        case O_HALLCTL:
            o->paths.hallctl = optarg;
            break;
        case O_PROXY:
            o->paths.faultproxy = optarg;
            break;
        case O_CATALOG:
            o->paths.catalog = optarg;
            break;
        case O_TIMEOUT:
            ok = to_int(optarg, 50, 600000, &o->answer_timeout_ms);
            break;
        case O_HELP:
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
        if (!ok) {
            const struct option *p = options;
            while (p->name != NULL && p->val != opt)
                p++;
            fprintf(stderr, "reliability: bad value for --%s: %s\n", p->name ? p->name : "?",
                    optarg);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "reliability: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->max_ms < o->min_ms) {
        fprintf(stderr, "reliability: --max-ms must not be below --min-ms\n");
        return -1;
    }
    if (!duration_set)
        o->duration = o->mode == MODE_SOAK ? 600 : 60;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {
        .paths = {RELIABILITY_HALLD, RELIABILITY_HALLCTL, RELIABILITY_FAULTPROXY,
                  RELIABILITY_CATALOG},
        .kiosks = 2,
        .windows = 4,
        .seed = (uint64_t)time(NULL),
        .rounds = 200,
        .min_ms = 20,
        .max_ms = 300,
        .drop = 0.01,
        .reset = 0.01,
        .delay = 0.03,
        .partial = 0.05,
        .dup = 0.05,
        .echo = 0.05,
        .delay_short_ms = 50,
        .delay_long_ms = 700,
        .answer_timeout_ms = 500,
        .plain_phase = true,
        .tls_phase = true,
        .interval = 5,
        .warmup = 60,
        .rate = 2,
        .rss_pct = 10,
        .rss_mib = 8,
    };
    struct run r;
    char err[400];

    if (parse_args(&o, argc, argv) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&r, 0, sizeof r);
    r.o = &o;
    r.started_ms = clk_mono_ms();
    rcheck_init(&r.checks, stdout);
    printf("reliability %s: seed %" PRIu64 ", %d kiosks, %d windows\n", o.mode_name, o.seed,
           o.kiosks, o.windows);
    r.hall = rhall_new(&o.paths, o.kiosks, o.windows, err, sizeof err);
    if (r.hall == NULL) {
        rcheck_expect(&r.checks, false, "hall made", "%s", err);
    } else {
        printf("hall in %s\n", rhall_dir(r.hall));
        if (o.mode == MODE_KILL9)
            run_kill9(&r);
        else if (o.mode == MODE_FAULTS)
            run_faults(&r);
        else
            run_soak(&r);
    }
    bool pass = r.checks.failed == 0 && r.checks.passed > 0 && !interrupted;
    if (o.json != NULL && write_json(&r, o.json, pass) < 0) {
        fprintf(stderr, "reliability: cannot write %s: %s\n", o.json, strerror(errno));
        pass = false;
    }
    printf("reliability %s: %s: %d checks passed, %d failed; %" PRIu64 " answers, %" PRIu64
           " tickets in the store; %.1f s; seed %" PRIu64 "%s%s\n",
           o.mode_name, pass ? "PASS" : "FAIL", r.checks.passed, r.checks.failed,
           answered(&r.totals), r.store.tickets, elapsed_s(&r), o.seed,
           r.checks.failed ? "; first failure: " : "", r.checks.first_failure);
    bool keep = o.keep || !pass;
    if (r.hall != NULL && keep)
        printf("hall kept in %s\n", rhall_dir(r.hall));
    rhall_free(r.hall, keep);
    free(r.recs);
    free(r.samples);
    return pass ? 0 : 1;
}
