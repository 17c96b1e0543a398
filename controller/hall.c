/*
 * hall — halld's request handling. See hall.h.
 *
 * Layout: the hall object and building it from the store; per-device
 * state (health, log budget); the journal (engine changes -> store rows,
 * and what the turn's push must show); engine records -> wire messages;
 * admission; the request handlers; running one request (kept answers,
 * authorization, its savepoint); commit, pushes and snapshots; the tick.
 *
 * A turn, and one request in it:
 *
 *   hall_request
 *     kept answer for (device, id)?  --same request-->  that answer again
 *                                    --other request->  ERR_REQUEST_ID_REUSED
 *     open the turn's transaction (BEGIN IMMEDIATE, once per turn)
 *     SAVEPOINT
 *       authorize (auth.c) -> handler -> engine -> journal -> store rows
 *       keep the answer (memory + store)         [refusals too]
 *     RELEASE                 or, if a store write failed:
 *                             ROLLBACK TO (only this request's rows),
 *                             rebuild the engine from the store (which
 *                             still holds the turn's other requests) and
 *                             answer ERR_UNAVAILABLE (not kept: retry)
 *   hall_commit: one COMMIT; if it fails, ROLLBACK, rebuild the engine,
 *                forget the answers kept this turn, and the server drops
 *                the links that hold them (their devices retry).
 */
#include "hall.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "citizen.h"
#include "supervise.h"
#include "clk.h"
#include "log.h"
#include "pwhash.h"
#include "replay.h"

/* Answers to requests that change the hall (refusals too) are kept this
 * long, durably: a retry within it, even after a restart, gets the first
 * answer. */
#define HALL_REPLAY_MS (24LL * 3600 * 1000)
/* How often kept answers are pruned. */
#define HALL_PRUNE_MS (60LL * 1000)
/* Calls a snapshot shows, newest first. */
#define HALL_RECENT_CALLS 10
/* Calls one push carries at most (a burst of calls in one turn). */
#define HALL_PUSH_CALLS 64
/* Offline tickets in one upload. */
#define HALL_UPLOAD_MAX 1000
/* A device's log budget is counted per this window. */
#define HALL_LOG_WINDOW_MS (60LL * 1000)
/* Clerk PINs at call-pads: this many wrong in a row lock the clerk's
 * sign-in with a PIN for HALL_PIN_LOCK_MS; HALL_PIN_TRACK clerks' counts
 * are kept (in memory: a restart of halld forgets them). */
#define HALL_PIN_TRIES   5
#define HALL_PIN_LOCK_MS (10LL * 60 * 1000)
#define HALL_PIN_TRACK   64

/* Per-device state kept in memory only: device health (live state that a
 * restarted halld hears again when the devices reconnect) and the log
 * budget. Past HALL_DEVICES_MAX devices, health is refused and the log
 * budget is shared. */
#define HALL_DEVICES_MAX  1024
#define HEALTH_COMPONENTS 8

_Static_assert(REPLAY_DIGEST_LEN == STORE_DIGEST_LEN, "one digest size for memory and store");

struct devstate {
    char id[Q_DEVICE_MAX + 1];
    /* Health, once reported (since_ms != 0). */
    bool can_issue;
    int ncomp;
    struct {
        char name[32], state[32], detail[160];
    } comp[HEALTH_COMPONENTS];
    int64_t since_ms;
    bool turn_changed; /* the next push must carry it */
    /* Supervision: when it last said anything (monotonic ms, 0: not since
     * halld started), and whether it has missed heartbeats since. */
    int64_t heard_mono_ms;
    bool silent;
    int64_t silent_ms; /* hall time it was found silent */
    /* Log budget. */
    int64_t log_window_ms;
    unsigned log_lines, log_suppressed;
};

/* One call as displays show it. */
struct call {
    char number[Q_NUMBER_MAX];
    uint32_t window_no;
    char area[Q_CODE_MAX];
    char masked_name[Q_MASKED_MAX];
    int64_t at_ms;
    uint32_t recalls;
};

/* An answer kept in this turn: forgotten if the turn does not commit. */
struct kept_key {
    char device[Q_DEVICE_MAX + 1];
    uint64_t request_id;
};

/* Where the turn's push state stood before a request, to undo it. */
struct turn_mark {
    int ncalls;
    size_t nwindows;
    bool areas;
};

/* A matter of the catalog as kiosks are shown it (MatterInfo) and ticket
 * replies name it: its materials cut into lines in place. */
struct matter {
    char code[Q_CODE_MAX], area[Q_CODE_MAX];
    char name[Q_NAME_MAX * 2], name_en[Q_NAME_MAX * 2];
    char *text;   /* the materials, '\n' replaced by NULs */
    char **lines; /* into text */
    size_t nlines;
};

struct matters {
    struct matter *v;
    size_t n, cap;
};

struct hall {
    store *store;
    queue *q;
    replay *replay;
    clk_zone *zone;
    EVP_MD_CTX *md;
    EVP_MD *sha256;     /* fetched once: an implicit fetch per request costs locks */
    citizen_keys *keys; /* the hall secret and the sealing keys */
    q_policy policy;    /* as configured */
    q_policy numbering; /* numbering fields in force for numbering_day */

    /* The hall calendar (calendar.h; empty: open at all hours), the
     * areas' default for issuing with no window open ([queue]
     * issue_unstaffed), and the next boundary of some area's hours (0:
     * now). */
    calendar *cal;
    bool issue_unstaffed;
    int64_t cal_next_ms;

    int32_t numbering_day;
    char hall_id[65];
    char hall_name[128];
    char time_zone[64];
    int64_t heartbeat_interval_ms, idle_timeout_ms;
    unsigned log_device_lines;

    /* The turn. */
    bool in_turn;          /* a transaction is open */
    bool req_failed;       /* a store write of the running request failed */
    const char *requester; /* device of the request being run, for events */
    struct kept_key *kept; /* answers kept this turn */
    size_t nkept, kept_cap;

    /* What the turn's push must show. */
    struct call turn_calls[HALL_PUSH_CALLS];
    int nturn_calls;
    uint32_t *turn_windows; /* window numbers changed (deduplicated) */
    size_t nturn_windows, turn_windows_cap;
    bool turn_areas; /* waiting counts may have changed */

    struct matters matters; /* the catalog's active matters */
    bool matters_push;      /* the next push carries every area's matters (catalog re-read) */

    struct devstate *devs; /* in first-seen order */
    size_t ndevs, devs_cap;
    struct devstate others; /* the log budget past HALL_DEVICES_MAX */

    struct call recent[HALL_RECENT_CALLS]; /* ring, newest at recent_head-1 */
    int recent_head, nrecent;

    uint64_t push_seq;
    buf push; /* the last commit's push frame */
    /* Each window's waiting count as the last push showed it, to push a
     * window again when the queues of its areas change. */
    struct {
        uint32_t no, waiting;
    } * win_waiting;
    size_t nwin_waiting, win_waiting_cap;
    /* Wrong PINs per clerk, for the lock. */
    struct pin_tries {
        char clerk[Q_CODE_MAX + 16];
        int wrong;            /* in a row */
        int64_t locked_until; /* hall time; 0 when not locked */
        int64_t last_ms;
    } pins[HALL_PIN_TRACK];
    int64_t last_prune_ms;
    bool broken;           /* a lost turn could not be rebuilt from the store */
    struct alerts *alerts; /* supervision: the section at the end */
};

/* Supervision (the section at the end of this file). */
struct alerts;
struct outcome;
static struct alerts *alerts_new(hall *h, const struct halld_conf *conf, char *err, size_t errlen);
static void alerts_free(struct alerts *a);
static int alerts_load_open(hall *h);
static int alerts_reload(hall *h, const struct halld_conf *conf, char *err, size_t errlen);
static void alerts_window_changed(hall *h, uint32_t no);
static void alerts_heard(hall *h, const char *device);
static void alerts_rated(hall *h, const q_ticket *t, int64_t now);
static void alerts_tick(hall *h, int64_t now);
static void alerts_changed(hall *h);
static bool alerts_due(const hall *h);
static uint64_t alerts_seq(const hall *h);
static bool alerts_turn_changed(const hall *h);
static void alerts_turn_reset(hall *h);
static void do_alert_action(hall *h, const hall_device *dev, const Hall__Envelope *req,
                            struct outcome *o, int64_t now);

/* ---- Per-device state ------------------------------------------------------- */

/* The device's state, made on first use; NULL past HALL_DEVICES_MAX (or
 * out of memory). */
static struct devstate *devstate_of(hall *h, const char *device)
{
    for (size_t i = 0; i < h->ndevs; i++)
        if (strcmp(h->devs[i].id, device) == 0)
            return &h->devs[i];
    if (h->ndevs == h->devs_cap) {
        size_t cap = h->devs_cap ? h->devs_cap * 2 : 16;
        struct devstate *grown;

        if (cap > HALL_DEVICES_MAX || (grown = realloc(h->devs, cap * sizeof *grown)) == NULL)
            return NULL;
        h->devs = grown;
        h->devs_cap = cap;
    }
    memset(&h->devs[h->ndevs], 0, sizeof h->devs[0]);
    snprintf(h->devs[h->ndevs].id, sizeof h->devs[0].id, "%s", device);
    return &h->devs[h->ndevs++];
}

/* Say how many of a device's lines its budget left out, once its minute
 * is over. */
static void close_log_window(struct devstate *d, const char *device, int64_t now)
{
    if (now - d->log_window_ms < HALL_LOG_WINDOW_MS)
        return;
    if (d->log_suppressed > 0)
        log_warn("%s: %u more lines about this device in the last minute were not logged", device,
                 d->log_suppressed);
    d->log_window_ms = now;
    d->log_lines = 0;
    d->log_suppressed = 0;
}

/* A line about a device (a refused request, a health change), within its
 * log budget: at most log_device_lines a minute, then one line saying how
 * many were left out. A device sending garbage in a loop, or flapping its
 * health, cannot fill the disk with the log. */
static void device_log(hall *h, const hall_device *dev, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void device_log(hall *h, const hall_device *dev, enum log_level level, const char *fmt, ...)
{
    struct devstate *d = devstate_of(h, dev->id);
    int64_t now = clk_mono_ms();
    char line[512];
    va_list ap;

    if (d == NULL)
        d = &h->others;
    close_log_window(d, d == &h->others ? "(other devices)" : dev->id, now);
    if (d->log_lines >= h->log_device_lines) {
        d->log_suppressed++;
        return;
    }
    d->log_lines++;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_msg(level, "%s: %s", dev->id, line);
}

/* The counts of the budgets whose minute is over, also for devices that
 * went quiet. */
static void close_log_windows(hall *h)
{
    int64_t now = clk_mono_ms();

    for (size_t i = 0; i < h->ndevs; i++)
        close_log_window(&h->devs[i], h->devs[i].id, now);
    close_log_window(&h->others, "(other devices)", now);
}

/* ---- Journal: engine changes -> store, and the turn's push -------------- */

static void note_window(hall *h, uint32_t no)
{
    for (size_t i = 0; i < h->nturn_windows; i++)
        if (h->turn_windows[i] == no)
            return;
    if (h->nturn_windows == h->turn_windows_cap) {
        size_t cap = h->turn_windows_cap ? h->turn_windows_cap * 2 : 16;
        uint32_t *w = realloc(h->turn_windows, cap * sizeof *w);
        if (w == NULL) {
            /* The push would miss this window: show every area instead,
             * and the next snapshot repairs the rest. */
            h->turn_areas = true;
            return;
        }
        h->turn_windows = w;
        h->turn_windows_cap = cap;
    }
    h->turn_windows[h->nturn_windows++] = no;
}

static void journal_ticket(void *ctx, const q_ticket *t)
{
    hall *h = ctx;

    if (store_put_ticket(h->store, t) < 0)
        h->req_failed = true;
    h->turn_areas = true;
    alerts_changed(h);
    /* A window's ticket changed (called, started, recalled): its displays
     * and call-pad show that ticket's state. */
    if (t->window_no != 0)
        note_window(h, t->window_no);
}

static void journal_window(void *ctx, const q_window *w)
{
    hall *h = ctx;

    if (store_put_window(h->store, w) < 0)
        h->req_failed = true;
    note_window(h, w->no);
    alerts_window_changed(h, w->no);
    /* Its areas' open windows may have changed (AreaStatus.windows_open). */
    h->turn_areas = true;
}

static void journal_lease(void *ctx, const q_lease *l)
{
    hall *h = ctx;

    if (store_put_lease(h->store, l) < 0)
        h->req_failed = true;
}

/* An appointment follows its ticket: released when the ticket is voided
 * or its reservation runs out (the citizen may check in again), taken
 * back when an expired ticket is revived. */
static void follow_appointment(hall *h, const q_event *e)
{
    const q_ticket *t;

    if (e->kind != QE_VOIDED && e->kind != QE_EXPIRED && e->kind != QE_REVIVED)
        return;
    t = queue_ticket(h->q, e->ticket_id);
    if (t == NULL || t->priority != Q_APPOINTMENT)
        return;
    if ((e->kind == QE_REVIVED ? store_reclaim_appointment(h->store, t->id)
                               : store_release_appointment(h->store, t->id)) < 0)
        h->req_failed = true;
}

static void journal_event(void *ctx, const q_event *e)
{
    hall *h = ctx;

    if (store_append_event(h->store, e, h->requester ? h->requester : "") < 0)
        h->req_failed = true;
    follow_appointment(h, e);
    if ((e->kind == QE_CALLED || e->kind == QE_RECALLED) && h->nturn_calls < HALL_PUSH_CALLS) {
        const q_ticket *t = queue_ticket(h->q, e->ticket_id);
        if (t == NULL)
            return;
        struct call *c = &h->turn_calls[h->nturn_calls++];
        memcpy(c->number, t->number, sizeof c->number);
        memcpy(c->area, t->area, sizeof c->area);
        memcpy(c->masked_name, t->masked_name, sizeof c->masked_name);
        c->window_no = e->window_no;
        c->at_ms = e->at_ms;
        c->recalls = t->recalls;
    }
}

/* ---- Building ------------------------------------------------------------- */

/* Restoring into a fresh engine; the engine's reason when it refuses. */
struct restore {
    queue *q;
    q_error err;
};

static int restore_area(void *arg, const q_area *a)
{
    struct restore *r = arg;
    return queue_add_area(r->q, a, &r->err);
}

static int restore_window(void *arg, const q_window *w)
{
    struct restore *r = arg;
    return queue_add_window(r->q, w, &r->err);
}

/* A ticket of an area the store does not have at all (a hand-edited
 * file, an import by an old release) still comes back: its area is put
 * back as retired, named by its code, so halld starts and its tickets are
 * called by windows that name the area. */
static int restore_ticket(void *arg, const q_ticket *t)
{
    struct restore *r = arg;

    if (queue_area(r->q, t->area) == NULL) {
        q_area a = {.retired = true};
        size_t n = 0;

        snprintf(a.code, sizeof a.code, "%s", t->area);
        snprintf(a.name, sizeof a.name, "%s", t->area);
        while (n < 5 && ((t->number[n] >= 'A' && t->number[n] <= 'Z') ||
                         (t->number[n] >= 'a' && t->number[n] <= 'z')))
            n++;
        snprintf(a.prefix, sizeof a.prefix, "%.*s", (int)n, n ? t->number : "X");
        if (queue_add_area(r->q, &a, &r->err) < 0)
            return -1;
        log_warn("ticket %s names area %s, which the catalog does not have: kept as a retired "
                 "area",
                 t->number, t->area);
    }
    return queue_restore_ticket(r->q, t, &r->err);
}

static int restore_lease(void *arg, const q_lease *l)
{
    struct restore *r = arg;
    return queue_restore_lease(r->q, l, &r->err);
}

static void matters_free(struct matters *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].text);
        free(m->v[i].lines);
    }
    free(m->v);
    *m = (struct matters){0};
}

/* One matter from the store into the list: its materials split at line
 * breaks (the catalog keeps one material per line). */
static int matter_add(void *arg, const store_matter *sm)
{
    struct matters *m = arg;

    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 32;
        struct matter *v = realloc(m->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        m->v = v;
        m->cap = cap;
    }
    struct matter *x = &m->v[m->n];
    memset(x, 0, sizeof *x);
    snprintf(x->code, sizeof x->code, "%s", sm->code);
    snprintf(x->area, sizeof x->area, "%s", sm->area);
    snprintf(x->name, sizeof x->name, "%s", sm->name);
    snprintf(x->name_en, sizeof x->name_en, "%s", sm->name_en);
    size_t lines = sm->materials[0] != '\0';
    for (const char *c = sm->materials; *c != '\0'; c++)
        lines += *c == '\n';
    if ((x->text = strdup(sm->materials)) == NULL ||
        (x->lines = calloc(lines ? lines : 1, sizeof *x->lines)) == NULL) {
        free(x->text);
        return -1;
    }
    for (char *c = x->text, *start = x->text; lines > 0; c++)
        if (*c == '\n' || *c == '\0') {
            bool end = *c == '\0';
            *c = '\0';
            x->lines[x->nlines++] = start;
            start = c + 1;
            if (end)
                break;
        }
    m->n++;
    return 0;
}

/* The catalog's active matters from the store into *out (replacing it
 * only if all were read). */
static int load_matters(hall *h, char *err, size_t errlen)
{
    struct matters m = {0};

    if (store_load_matters(h->store, matter_add, &m) != 0) {
        snprintf(err, errlen, "cannot load the matters: %s", store_errmsg(h->store));
        matters_free(&m);
        return -1;
    }
    matters_free(&h->matters);
    h->matters = m;
    return 0;
}

static const struct matter *matter_of(const hall *h, const char *code)
{
    for (size_t i = 0; code[0] != '\0' && i < h->matters.n; i++)
        if (strcmp(h->matters.v[i].code, code) == 0)
            return &h->matters.v[i];
    return NULL;
}

/* policy with the numbering fields of numbering. */
static q_policy with_numbering(const q_policy *policy, const q_policy *numbering)
{
    q_policy p = *policy;

    p.number_digits = numbering->number_digits;
    p.lease_first = numbering->lease_first;
    p.lease_band = numbering->lease_band;
    p.lease_block = numbering->lease_block;
    return p;
}

/* A fresh engine from the store (and whatever the open transaction has
 * written): the catalog, windows, live tickets and those of today and
 * yesterday, leases. *out on success; the caller swaps it in. */
static int build_engine(hall *h, const q_policy *policy, queue **out, char *err, size_t errlen)
{
    const q_journal journal = {journal_ticket, journal_window, journal_lease, journal_event, h};
    q_policy in_force = with_numbering(policy, &h->numbering);
    int64_t now = clk_utc_ms();
    /* Yesterday too: its tickets may still be live (carried over, or being
     * served across midnight), and leases of yesterday may be uploaded. */
    clk_date yesterday = clk_business_day(h->zone, now - 24LL * 3600 * 1000, policy->rollover_hour);
    int32_t since = clk_date_key(yesterday);
    uint64_t max_id = 0;

    struct restore rs = {queue_new(&in_force, h->zone, &journal), {0}};
    if (rs.q == NULL) {
        snprintf(err, errlen, "%s",
                 errno == EINVAL ? "the [queue] and [numbering] settings are not valid together"
                                 : "out of memory");
        return -1;
    }
    /* New numbering settings wait for the next business day. */
    if (queue_set_policy(rs.q, policy) < 0) {
        snprintf(err, errlen, "the [queue] and [numbering] settings are not valid together");
        goto fail;
    }
    if (store_load_areas(h->store, restore_area, &rs) != 0 ||
        store_load_windows(h->store, restore_window, &rs) != 0 ||
        store_load_tickets(h->store, since, restore_ticket, &rs) != 0 ||
        store_load_leases(h->store, since, restore_lease, &rs) != 0) {
        snprintf(err, errlen, "cannot load the hall from the store: %s",
                 rs.err.code != QERR_NONE ? rs.err.message : store_errmsg(h->store));
        goto fail;
    }
    if (store_max_ticket_id(h->store, &max_id) < 0) {
        snprintf(err, errlen, "cannot load the hall from the store: %s", store_errmsg(h->store));
        goto fail;
    }
    queue_set_next_id(rs.q, max_id + 1);
    *out = rs.q;
    return 0;
fail:
    queue_free(rs.q);
    return -1;
}

/* Replace the engine with one built from the store; on failure the hall
 * keeps the one it had. */
static int rebuild_engine(hall *h, char *err, size_t errlen)
{
    queue *q;

    if (build_engine(h, &h->policy, &q, err, errlen) < 0)
        return -1;
    queue_free(h->q);
    h->q = q;
    /* Alerts changed in what was undone are read again too. */
    if (h->alerts != NULL && alerts_load_open(h) < 0) {
        snprintf(err, errlen, "cannot read the open alerts: %s", store_errmsg(h->store));
        return -1;
    }
    return 0;
}

static void answer_dropped(void *arg, const char *device, uint64_t request_id, uint64_t row)
{
    hall *h = arg;

    (void)device;
    (void)request_id;
    /* The dropped answer's bytes leave the store with the turn; if the
     * store cannot drop them, they only stay until they expire. */
    if (h->in_turn && store_drop_request_reply(h->store, row) < 0)
        log_warn("cannot drop a kept answer from the store: %s", store_errmsg(h->store));
}

static int load_answer(void *arg, uint64_t row, const char *device, uint64_t request_id,
                       int64_t at_ms, const uint8_t *digest, const uint8_t *reply, size_t len)
{
    replay *r = arg;

    if (reply == NULL)
        return replay_put_dropped(r, device, request_id, at_ms + HALL_REPLAY_MS, digest);
    return replay_put(r, device, request_id, row, at_ms + HALL_REPLAY_MS, digest, reply, len);
}

static replay_limits limits_of(const struct halld_conf *c)
{
    return (replay_limits){
        .device_answers = (size_t)c->device_answers,
        .device_bytes = (size_t)c->device_answer_mib << 20,
        .total_answers = (size_t)c->answers,
        .total_bytes = (size_t)c->answer_mib << 20,
        .device_entries = (size_t)c->device_requests,
        .total_entries = (size_t)c->requests,
    };
}

static void apply_conf(hall *h, const struct halld_conf *c)
{
    int rollover_hour = h->q != NULL ? h->policy.rollover_hour : (int)c->rollover_hour;

    halld_conf_policy(c, &h->policy);
    /* The zone and the rollover hour shape the business days: they change
     * only with a restart (main.c says so). */
    h->policy.rollover_hour = rollover_hour;
    snprintf(h->hall_id, sizeof h->hall_id, "%s", c->hall_id);
    snprintf(h->hall_name, sizeof h->hall_name, "%s", c->hall_name);
    h->heartbeat_interval_ms = c->heartbeat_interval_ms;
    h->idle_timeout_ms = c->idle_timeout_ms;
    h->log_device_lines = (unsigned)c->log_device_lines;
    h->issue_unstaffed = c->issue_unstaffed;
}

/* The numbering in force today, as the store recorded it: "day digits
 * lease_first lease_band lease_block". A restart on the same business day
 * keeps it (today's numbers were handed out with it); new settings take
 * effect at the next business day. */
#define NUMBERING_KEY "numbering"

static bool numbering_equal(const q_policy *a, const q_policy *b)
{
    return a->number_digits == b->number_digits && a->lease_first == b->lease_first &&
           a->lease_band == b->lease_band && a->lease_block == b->lease_block;
}

static void decide_numbering(hall *h)
{
    int32_t today = clk_date_key(clk_business_day(h->zone, clk_utc_ms(), h->policy.rollover_hour));
    char text[96];
    int day;
    unsigned digits, first, band, block;

    h->numbering = h->policy;
    h->numbering_day = today;
    if (store_get_setting(h->store, NUMBERING_KEY, text, sizeof text) == 1 &&
        sscanf(text, "%d %u %u %u %u", &day, &digits, &first, &band, &block) == 5 && day == today) {
        q_policy stored = h->policy;

        stored.number_digits = digits;
        stored.lease_first = first;
        stored.lease_band = band;
        stored.lease_block = block;
        h->numbering = stored;
        if (!numbering_equal(&stored, &h->policy))
            log_warn("[numbering] changed: today's numbers go on as they started; the new "
                     "settings take effect at the next business day");
    }
}

static void numbering_text(const hall *h, char *out, size_t len)
{
    snprintf(out, len, "%d %u %u %u %u", (int)h->numbering_day, h->numbering.number_digits,
             h->numbering.lease_first, h->numbering.lease_band, h->numbering.lease_block);
}

/* Record the numbering in force for the engine's day, inside the turn. */
static void record_numbering(hall *h)
{
    const q_policy *p = queue_policy(h->q);
    int32_t day = queue_day(h->q) > h->numbering_day ? queue_day(h->q) : h->numbering_day;
    char text[96];

    if (day == h->numbering_day && numbering_equal(p, &h->numbering))
        return;
    h->numbering = *p;
    h->numbering_day = day;
    numbering_text(h, text, sizeof text);
    if (store_set_setting(h->store, NUMBERING_KEY, text) < 0)
        h->req_failed = true;
}

static int begin_turn(hall *h)
{
    if (h->in_turn)
        return 0;
    if (store_begin(h->store) < 0)
        return -1;
    h->in_turn = true;
    return 0;
}

hall *hall_new(const struct halld_conf *conf, store *s, char *err, size_t errlen)
{
    hall *h = calloc(1, sizeof *h);
    replay_limits lim = limits_of(conf);
    char text[96];

    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->store = s;
    buf_init(&h->push, 0);
    apply_conf(h, conf);
    snprintf(h->time_zone, sizeof h->time_zone, "%s", conf->time_zone);
    if ((h->zone = clk_zone_new(conf->time_zone)) == NULL) {
        snprintf(err, errlen, "time zone %s: %s", conf->time_zone, strerror(errno));
        goto fail;
    }
    if ((h->keys = citizen_keys_load(conf->privacy_secret, conf->sealing_key,
                                     conf->previous_sealing_key, err, errlen)) == NULL)
        goto fail;
    if ((h->md = EVP_MD_CTX_new()) == NULL ||
        (h->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
        (h->replay = replay_new(&lim, answer_dropped, h)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    decide_numbering(h);
    if (rebuild_engine(h, err, errlen) < 0 || load_matters(h, err, errlen) < 0)
        goto fail;
    if (store_load_calendar(s, &h->cal) < 0) {
        snprintf(err, errlen, "cannot read the hall calendar: %s", store_errmsg(s));
        goto fail;
    }
    if (store_load_requests(s, clk_utc_ms() - HALL_REPLAY_MS, load_answer, h->replay) != 0) {
        snprintf(err, errlen, "cannot load the kept answers: %s", store_errmsg(s));
        goto fail;
    }
    if ((h->alerts = alerts_new(h, conf, err, errlen)) == NULL)
        goto fail;
    /* What expired while the controller was down, and today's numbering,
     * recorded before anything is answered. */
    if (begin_turn(h) < 0) {
        snprintf(err, errlen, "cannot expire stale tickets: %s", store_errmsg(s));
        goto fail;
    }
    numbering_text(h, text, sizeof text);
    if (store_set_setting(s, NUMBERING_KEY, text) < 0 || hall_tick(h) < 0 || hall_commit(h) < 0) {
        snprintf(err, errlen, "cannot expire stale tickets: %s", store_errmsg(s));
        goto fail;
    }
    return h;
fail:
    hall_free(h);
    return NULL;
}

void hall_free(hall *h)
{
    if (h == NULL)
        return;
    if (h->in_turn)
        store_rollback(h->store);
    queue_free(h->q);
    calendar_free(h->cal);
    alerts_free(h->alerts);
    replay_free(h->replay);
    clk_zone_free(h->zone);
    EVP_MD_CTX_free(h->md);
    EVP_MD_free(h->sha256);
    citizen_keys_free(h->keys);
    free(h->kept);
    free(h->turn_windows);
    free(h->win_waiting);
    buf_release(&h->push);
    free(h->devs);
    matters_free(&h->matters);
    free(h);
}

int hall_reload(hall *h, const struct halld_conf *conf, char *err, size_t errlen)
{
    q_policy was = h->policy;
    citizen_keys *keys;
    calendar *cal;
    queue *q;

    /* All or nothing: the keys read again (a rotated sealing key) and a
     * whole new engine from the store with the new settings (catalog and
     * windows re-read, today's numbering kept), and only if both work are
     * they applied. */
    if (store_load_calendar(h->store, &cal) < 0) {
        snprintf(err, errlen, "cannot read the hall calendar: %s", store_errmsg(h->store));
        return -1;
    }
    if ((keys = citizen_keys_load(conf->privacy_secret, conf->sealing_key,
                                  conf->previous_sealing_key, err, errlen)) == NULL) {
        calendar_free(cal);
        return -1;
    }
    halld_conf_policy(conf, &h->policy);
    h->policy.rollover_hour = was.rollover_hour;
    if (build_engine(h, &h->policy, &q, err, errlen) < 0) {
        h->policy = was;
        citizen_keys_free(keys);
        calendar_free(cal);
        return -1;
    }
    if (alerts_reload(h, conf, err, errlen) < 0) {
        h->policy = was;
        queue_free(q);
        citizen_keys_free(keys);
        calendar_free(cal);
        return -1;
    }
    /* The matters as the catalog has them now: a failure keeps the old
     * list (the tickets' matter names and the kiosks' lists lag, nothing
     * else). */
    char why[256];
    if (load_matters(h, why, sizeof why) < 0)
        log_warn("reload: %s; the kiosks keep the matters they have", why);
    else
        h->matters_push = true;
    calendar_free(h->cal);
    h->cal = cal;
    h->cal_next_ms = 0;
    citizen_keys_free(h->keys);
    h->keys = keys;
    queue_free(h->q);
    h->q = q;
    apply_conf(h, conf);
    replay_limits lim = limits_of(conf);
    replay_set_limits(h->replay, &lim);
    h->turn_areas = true;
    return 0;
}

int hall_sealing_keys(const hall *h)
{
    return citizen_sealing_keys(h->keys);
}

/* ---- Engine records -> wire messages ------------------------------------- */

/* protobuf-c's messages hold char * even in messages that are only packed;
 * the strings given here are only read (by pack). */
static char *wire_str(const char *s)
{
    union {
        const char *in;
        char *out;
    } u = {s};
    return u.out;
}

/* Wire ticket pointing into t (valid until the next engine call). */
static void wire_ticket(const hall *h, const q_ticket *t, Hall__Ticket *w, int64_t now)
{
    static const Hall__TicketState states[] = {
        [Q_RESERVED] = HALL__TICKET_STATE__TICKET_RESERVED,
        [Q_WAITING] = HALL__TICKET_STATE__TICKET_WAITING,
        [Q_CALLED] = HALL__TICKET_STATE__TICKET_CALLED,
        [Q_SERVING] = HALL__TICKET_STATE__TICKET_SERVING,
        [Q_DONE] = HALL__TICKET_STATE__TICKET_DONE,
        [Q_NO_SHOW] = HALL__TICKET_STATE__TICKET_NO_SHOW,
        [Q_HOLD] = HALL__TICKET_STATE__TICKET_HOLD,
        [Q_VOID] = HALL__TICKET_STATE__TICKET_VOID,
        [Q_CANCELLED] = HALL__TICKET_STATE__TICKET_CANCELLED,
    };

    hall__ticket__init(w);
    w->id = t->id;
    w->number = wire_str(t->number);
    w->area = wire_str(t->area);
    w->matter = wire_str(t->matter);
    const struct matter *m = matter_of(h, t->matter);
    w->matter_name = wire_str(m ? m->name : "");
    w->state = states[t->state];
    w->priority = (Hall__Priority)t->priority;
    w->issued_at_ms = t->issued_ms;
    w->window_no = t->window_no;
    w->recalls = t->recalls;
    w->offline = t->offline;
    w->kiosk_id = wire_str(t->kiosk);
    w->masked_name = wire_str(t->masked_name);
    w->business_day = t->day;
    if (t->state == Q_NO_SHOW && h->policy.rejoin_ms > 0 && t->state_ms + h->policy.rejoin_ms > now)
        w->rejoin_until_ms = t->state_ms + h->policy.rejoin_ms;
    if (t->state == Q_WAITING || t->state == Q_RESERVED) {
        size_t ahead = queue_ahead(h->q, t->id, now);
        size_t open = 0;
        for (size_t i = 0; queue_window_at(h->q, i) != NULL; i++) {
            const q_window *win = queue_window_at(h->q, i);
            for (int a = 0; a < win->nareas; a++)
                if (win->state == QW_OPEN && strcmp(win->areas[a], t->area) == 0) {
                    open++;
                    break;
                }
        }
        w->people_ahead = (uint32_t)ahead;
        w->est_wait_s = (uint32_t)((int64_t)ahead * queue_service_estimate(h->q, t->area) /
                                   (int64_t)(open ? open : 1) / 1000);
    }
}

static Hall__WindowState wire_window_state(q_window_state s)
{
    switch (s) {
    case QW_OPEN:
        return HALL__WINDOW_STATE__WINDOW_OPEN;
    case QW_PAUSED:
        return HALL__WINDOW_STATE__WINDOW_PAUSED;
    case QW_CLOSED:
        return HALL__WINDOW_STATE__WINDOW_CLOSED;
    }
    return HALL__WINDOW_STATE__WINDOW_UNKNOWN;
}

static Hall__ErrorCode wire_error(q_errcode c)
{
    switch (c) {
    case QERR_NONE:
        return HALL__ERROR_CODE__ERR_NONE;
    case QERR_BAD_REQUEST:
        return HALL__ERROR_CODE__ERR_BAD_REQUEST;
    case QERR_NOT_FOUND:
        return HALL__ERROR_CODE__ERR_NOT_FOUND;
    case QERR_ILLEGAL_STATE:
        return HALL__ERROR_CODE__ERR_ILLEGAL_STATE;
    case QERR_WINDOW_CLOSED:
        return HALL__ERROR_CODE__ERR_WINDOW_CLOSED;
    case QERR_QUEUE_EMPTY:
        return HALL__ERROR_CODE__ERR_QUEUE_EMPTY;
    case QERR_FORBIDDEN:
        return HALL__ERROR_CODE__ERR_FORBIDDEN;
    case QERR_LEASE_EXHAUSTED:
        return HALL__ERROR_CODE__ERR_LEASE_EXHAUSTED;
    case QERR_NOMEM:
        return HALL__ERROR_CODE__ERR_UNAVAILABLE;
    case QERR_CITIZEN_LIMIT:
        return HALL__ERROR_CODE__ERR_CITIZEN_LIMIT;
    }
    return HALL__ERROR_CODE__ERR_INTERNAL;
}

/* Append env as a frame to out. */
static void put_frame(buf *out, const Hall__Envelope *env)
{
    size_t size = proto_frame_size(env);
    uint8_t *p = buf_reserve(out, size);

    if (p == NULL)
        return; /* the session's limit: the server drops it */
    long n = proto_pack_frame(env, FRAME_MAX, p, size);
    if (n > 0)
        buf_commit(out, (size_t)n);
}

/* Append bytes already packed as one frame. */
static void put_packed(buf *out, const uint8_t *payload, size_t len)
{
    uint8_t *p = buf_reserve(out, FRAME_HEADER + len);

    if (p == NULL)
        return;
    frame_put_header(p, (uint32_t)len);
    memcpy(p + FRAME_HEADER, payload, len);
    buf_commit(out, FRAME_HEADER + len);
}

/* An error frame; zh the sentence in Chinese (NULL or "": none). */
static void put_error_zh(buf *out, uint64_t request_id, Hall__ErrorCode code, const char *msg,
                         const char *zh)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Error e = HALL__ERROR__INIT;

    e.code = code;
    e.message = wire_str(msg);
    e.message_zh = wire_str(zh != NULL ? zh : "");
    env.request_id = request_id;
    env.body_case = HALL__ENVELOPE__BODY_ERROR;
    env.error = &e;
    put_frame(out, &env);
}

static void put_error(buf *out, uint64_t request_id, Hall__ErrorCode code, const char *msg)
{
    put_error_zh(out, request_id, code, msg, NULL);
}

static uint32_t window_waiting(const hall *h, const q_window *w)
{
    size_t n = 0;

    for (int i = 0; i < w->nareas; i++)
        n += queue_waiting(h->q, w->areas[i]);
    return (uint32_t)n;
}

/* ---- Admission ------------------------------------------------------------------ */

const char *hall_device_type_name(int type)
{
    return auth_role_name(type);
}

static const char *known_type(int type)
{
    const char *name = auth_role_name(type);
    return name ? name : "unknown device";
}

int hall_admit(hall *h, const Hall__Hello *hello, hall_device *dev, Hall__ErrorCode *code,
               char *msg, size_t msglen)
{
    store_device d;
    int found = store_get_device(h->store, hello->device_id, &d);

    if (found < 0) {
        *code = HALL__ERROR_CODE__ERR_UNAVAILABLE;
        snprintf(msg, msglen, "cannot read the device registry: %s", store_errmsg(h->store));
        return -1;
    }
    if (found == 0 || d.revoked) {
        *code = HALL__ERROR_CODE__ERR_UNKNOWN_DEVICE;
        snprintf(msg, msglen, "device %s is %s in hall %s", hello->device_id,
                 found ? "revoked" : "not registered", h->hall_id);
        return -1;
    }
    if (d.type != (int)hello->type) {
        *code = HALL__ERROR_CODE__ERR_IDENTITY;
        snprintf(msg, msglen, "device %s is registered as a %s, not a %s", d.id, known_type(d.type),
                 known_type((int)hello->type));
        return -1;
    }
    if (d.type == HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL && hello->window_no != 0 &&
        hello->window_no != d.window_no) {
        *code = HALL__ERROR_CODE__ERR_FORBIDDEN;
        snprintf(msg, msglen, "device %s is the terminal of window %u, not window %u", d.id,
                 d.window_no, hello->window_no);
        return -1;
    }
    memset(dev, 0, sizeof *dev);
    snprintf(dev->id, sizeof dev->id, "%s", d.id);
    dev->type = (Hall__DeviceType)d.type;
    dev->window_no = d.window_no;
    alerts_heard(h, dev->id);
    return 0;
}

bool hall_device_valid(hall *h, const hall_device *dev)
{
    store_device d;

    /* A registry that cannot be read revokes nobody. */
    int found = store_get_device(h->store, dev->id, &d);
    return found != 0 && (found < 0 || (!d.revoked && d.type == (int)dev->type));
}

void hall_fill_hello_reply(const hall *h, Hall__HelloReply *r)
{
    r->hall_id = wire_str(h->hall_id);
    r->hall_name = wire_str(h->hall_name);
    r->time_zone = wire_str(h->time_zone);
    r->protocol_version = PROTO_VERSION;
    r->server_time_ms = clk_utc_ms();
    r->heartbeat_interval_ms = (uint32_t)h->heartbeat_interval_ms;
    r->idle_timeout_ms = (uint32_t)h->idle_timeout_ms;
    r->rejoin_s = (uint32_t)(h->policy.rejoin_ms / 1000);
    r->max_recalls = h->policy.max_recalls;
    r->citizen_limit = h->policy.citizen_limit;
}

/* ---- Request handlers ------------------------------------------------------------ */

/* An upload's answer: per ticket its result, and the joined tickets. */
struct upload_ticket {
    Hall__OfflineResult result;
    char message[Q_REASON_MAX];
    Hall__Ticket wire;
};

struct upload {
    Hall__Ticket **tickets;
    Hall__OfflineResult **results;
    struct upload_ticket t[];
};

/* What a handler hands back: the answer to pack, or an error. */
struct outcome {
    Hall__Envelope env;
    Hall__ErrorCode code; /* non-zero: refuse with message */
    char message[Q_REASON_MAX + 64];
    char message_zh[CAL_SENTENCE_MAX + 128]; /* the citizen's sentence, or "" */
    char check[CITIZEN_CHECK_LEN + 1];       /* the ticket's check, when the answer carries it */
    /* storage the answer points into */
    Hall__Ticket ticket;
    struct upload *upload; /* an upload's answer, freed after packing */
    union {
        Hall__IssueReply issue;
        Hall__TicketReply ticket;
        Hall__WindowReply window;
        Hall__LeaseGrant lease;
        Hall__OfflineUploadReply upload;
        Hall__HeartbeatReply heartbeat;
        Hall__RatingReply rating;
        Hall__WebEventReply web_event;
        Hall__DeviceStatusReply status;
        Hall__AlertReply alert;
    } r;
    char reason[Q_REASON_MAX];
};

static void refuse_q(struct outcome *o, const q_error *err)
{
    o->code = wire_error(err->code);
    snprintf(o->message, sizeof o->message, "%s", err->message);
}

static void refuse(struct outcome *o, Hall__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct outcome *o, Hall__ErrorCode code, const char *fmt, ...)
{
    va_list ap;

    o->code = code;
    va_start(ap, fmt);
    vsnprintf(o->message, sizeof o->message, fmt, ap);
    va_end(ap);
}

static void answer_ticket(hall *h, struct outcome *o, const q_ticket *t, int64_t now)
{
    hall__ticket_reply__init(&o->r.ticket);
    wire_ticket(h, t, &o->ticket, now);
    o->r.ticket.ticket = &o->ticket;
    o->env.body_case = HALL__ENVELOPE__BODY_TICKET_REPLY;
    o->env.ticket_reply = &o->r.ticket;
}

static void answer_window(hall *h, struct outcome *o, uint32_t window_no, const q_ticket *t,
                          const char *reason, int64_t now)
{
    const q_window *w = queue_window(h->q, window_no);

    hall__window_reply__init(&o->r.window);
    o->r.window.window_no = window_no;
    o->r.window.state = w ? wire_window_state(w->state) : HALL__WINDOW_STATE__WINDOW_UNKNOWN;
    o->r.window.waiting = w ? window_waiting(h, w) : 0;
    if (t == NULL && w != NULL && w->current != 0)
        t = queue_ticket(h->q, w->current);
    if (t != NULL) {
        wire_ticket(h, t, &o->ticket, now);
        o->r.window.ticket = &o->ticket;
    }
    if (reason != NULL) {
        snprintf(o->reason, sizeof o->reason, "%s", reason);
        o->r.window.pick_reason = o->reason;
    }
    o->env.body_case = HALL__ENVELOPE__BODY_WINDOW_REPLY;
    o->env.window_reply = &o->r.window;
}

/* ---- The hall calendar ------------------------------------------------------------ */

/* What area does at now, by the hall calendar in hall-local time. */
static void area_hours(const hall *h, const char *area, int64_t now, cal_state *out)
{
    clk_civil c;

    clk_to_civil(h->zone, now, &c);
    calendar_state(h->cal, area, &c, out);
}

/* The open windows serving area; the numbers of all windows serving it
 * into nos (up to cap), their count into *nserving. */
static size_t open_windows(const hall *h, const char *area, uint32_t *nos, size_t cap,
                           size_t *nserving)
{
    size_t open = 0, n = 0;

    for (size_t i = 0; queue_window_at(h->q, i) != NULL; i++) {
        const q_window *w = queue_window_at(h->q, i);
        for (int k = 0; k < w->nareas; k++)
            if (strcmp(w->areas[k], area) == 0) {
                if (n < cap)
                    nos[n] = w->no;
                n++;
                open += w->state == QW_OPEN;
                break;
            }
    }
    if (nserving != NULL)
        *nserving = n;
    return open;
}

/* Whether the hall refuses (or asks first) while none of area's windows
 * is open: only in a hall with a calendar, and never in an always-open
 * (self-service) area. A hall without a calendar issues as it always did. */
static bool unstaffed_rule(const hall *h, const char *area)
{
    return calendar_configured(h->cal) && !calendar_area(h->cal, area).always_open;
}

/* The calendar's word on an ISSUE into area: 0 go on, -1 refused (o set).
 * A number needs the area's hours for numbers and, where the rule
 * applies, an open window serving it, or the hall's leave to issue
 * without one and the citizen's confirmation (unstaffed_ok). An
 * appointment is checked in from opening to closing (lunch break and
 * after the last number too: its slot was booked), whatever windows are
 * open. */
static int hours_allow(hall *h, const char *area, bool appointment, bool unstaffed_ok,
                       struct outcome *o, int64_t now)
{
    cal_state st;

    area_hours(h, area, now, &st);
    if (appointment ? !st.checkin : !st.issuing) {
        o->code = HALL__ERROR_CODE__ERR_AREA_CLOSED;
        snprintf(o->message, sizeof o->message, "Outside the hours of area %s. %s.", area,
                 st.opens_en);
        snprintf(o->message_zh, sizeof o->message_zh, "现在不在取号时间，%s。", st.opens_zh);
        return -1;
    }
    if (appointment || !unstaffed_rule(h, area) || open_windows(h, area, NULL, 0, NULL) > 0)
        return 0;
    if (!calendar_issue_unstaffed(h->cal, area, h->issue_unstaffed)) {
        o->code = HALL__ERROR_CODE__ERR_UNSTAFFED;
        snprintf(o->message, sizeof o->message,
                 "No window serving area %s is open; please come back later.", area);
        snprintf(o->message_zh, sizeof o->message_zh, "暂无办理该业务的窗口开放，请稍后再来。");
        return -1;
    }
    if (!unstaffed_ok) {
        o->code = HALL__ERROR_CODE__ERR_UNSTAFFED;
        snprintf(o->message, sizeof o->message,
                 "No window serving area %s is open and the wait is unknown: the citizen must "
                 "confirm (unstaffed_ok).",
                 area);
        snprintf(o->message_zh, sizeof o->message_zh,
                 "暂无办理该业务的窗口开放，等候时间未知，请确认后再取号。");
        return -1;
    }
    return 0;
}

/* At a boundary of some area's hours (or after a reload): the next push
 * carries every area again (AreaStatus.closed flips without a request),
 * and the next boundary is found. Run by the timer work each second. */
static void calendar_boundary(hall *h, int64_t now)
{
    int64_t next_s = 3600;

    if (now < h->cal_next_ms)
        return;
    h->turn_areas = true;
    for (size_t i = 0; calendar_configured(h->cal) && queue_area_at(h->q, i) != NULL; i++) {
        cal_state st;

        area_hours(h, queue_area_at(h->q, i)->code, now, &st);
        if (st.next_change_s < next_s)
            next_s = st.next_change_s;
    }
    h->cal_next_ms = now + next_s * 1000 - now % 1000;
}

static void do_heartbeat(hall *h, const hall_device *dev, const Hall__Envelope *req,
                         struct outcome *o, int64_t now)
{
    hall__heartbeat_reply__init(&o->r.heartbeat);
    o->r.heartbeat.device_time_ms = req->heartbeat->device_time_ms;
    o->r.heartbeat.server_time_ms = now;
    o->env.body_case = HALL__ENVELOPE__BODY_HEARTBEAT_REPLY;
    o->env.heartbeat_reply = &o->r.heartbeat;
}

/* The Chinese sentence of a citizen-limit refusal: the number the card
 * already holds in the area (area "" : the general one). */
static void limit_sentence(hall *h, const char *area, const uint8_t *hash, struct outcome *o)
{
    const q_ticket *first = NULL;
    const q_area *a = NULL;

    if (area != NULL && area[0] != '\0')
        a = queue_area(h->q, area);
    else
        for (size_t i = 0; (a = queue_area_at(h->q, i)) != NULL && !(a->general && !a->retired);
             i++)
            ;
    if (a != NULL && hash != NULL)
        queue_citizen_live(h->q, a->code, hash, &first);
    if (first != NULL) {
        snprintf(o->message_zh, sizeof o->message_zh, "您已取得本区域的号码 %s，请等候叫号",
                 first->number);
        snprintf(o->message, sizeof o->message,
                 "You already hold ticket %s for this area; please wait to be called (at most "
                 "%u per ID card)",
                 first->number, h->policy.citizen_limit);
    } else
        snprintf(o->message_zh, sizeof o->message_zh, "您已取得本区域的号码，请等候叫号");
}

struct find_checkin {
    const hall *h;
    const uint8_t *hash;
    int32_t today;    /* the business day's key */
    int64_t until_ms; /* no slot of today lies after this */
    store_appointment found;
    bool any;
};

static int match_checkin(void *arg, const store_appointment *a)
{
    struct find_checkin *f = arg;
    const hall *h = f->h;

    if (a->slot_ms >= f->until_ms)
        return 1;
    if (a->state != STORE_APPT_BOOKED || !a->has_citizen ||
        memcmp(a->citizen_hash, f->hash, Q_HASH_LEN) != 0 ||
        clk_date_key(clk_business_day(h->zone, a->slot_ms, h->policy.rollover_hour)) != f->today)
        return 0;
    f->found = *a;
    f->any = true;
    return 1;
}

/* Check-in by ID card: the code of the citizen's first appointment of
 * today's business day still BOOKED, into code. 1 found; 0 none or -1
 * the store failed, both refused in o. */
static int checkin_code(hall *h, const uint8_t *hash, struct outcome *o, int64_t now, char *code,
                        size_t len)
{
    const int64_t day_ms = 24LL * 3600 * 1000;
    struct find_checkin f = {
        .h = h,
        .hash = hash,
        .today = clk_date_key(clk_business_day(h->zone, now, h->policy.rollover_hour)),
        .until_ms = now + day_ms + 3600 * 1000, /* a day, and a clock change */
    };

    if (store_load_appointments(h->store, now - day_ms - 3600 * 1000, match_checkin, &f) < 0) {
        refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "cannot read appointments: %s",
               store_errmsg(h->store));
        return -1;
    }
    if (!f.any) {
        refuse(o, HALL__ERROR_CODE__ERR_NOT_FOUND, "no appointment today for this ID card");
        snprintf(o->message_zh, sizeof o->message_zh,
                 "没有找到您今天的预约，请核对后重试，或直接取号");
        return 0;
    }
    snprintf(code, len, "%s", f.found.code);
    return 1;
}

static void do_issue(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                     int64_t now)
{
    const Hall__IssueRequest *m = req->issue;
    q_issue in = {
        .area = m->area,
        .matter = m->matter,
        .priority = (q_priority)m->priority,
        .kiosk = dev->id,
        .masked_name = m->masked_name,
    };
    store_appointment appt;
    uint8_t hash[Q_HASH_LEN];
    char why[200];
    const q_ticket *t;
    q_error err;

    if (m->priority > HALL__PRIORITY__PRIORITY_APPOINTMENT) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "priority %d is not known", (int)m->priority);
        return;
    }
    /* Only halld hashes ID numbers (docs/privacy.md): a hash made by a
     * kiosk would need the hall secret on the kiosk. */
    if (m->citizen_hash.len != 0) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "%s",
               m->citizen_id[0] != '\0'
                   ? "an ISSUE carries citizen_id or citizen_hash, never both"
                   : "citizen_hash is no longer accepted: a kiosk sends citizen_id and halld "
                     "hashes it (upgrade the kiosk)");
        return;
    }
    if (m->citizen_id[0] != '\0') {
        if (citizen_from_number(h->keys, m->citizen_id, hash, why, sizeof why) < 0) {
            refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "citizen_id: %s", why);
            return;
        }
        in.citizen_hash = hash;
    }
    const char *code = m->appointment_code;
    char found_code[STORE_APPT_CODE_MAX];
    if (m->check_in) {
        if (in.citizen_hash == NULL || code[0] != '\0') {
            refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST,
                   "check_in needs citizen_id and no appointment_code");
            return;
        }
        if (checkin_code(h, hash, o, now, found_code, sizeof found_code) <= 0)
            return;
        code = found_code;
    }
    if (code[0] != '\0') {
        int found = store_get_appointment(h->store, code, &appt);
        if (found < 0) {
            refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "cannot read appointments: %s",
                   store_errmsg(h->store));
            return;
        }
        if (found == 0) {
            refuse(o, HALL__ERROR_CODE__ERR_NOT_FOUND, "no appointment %s", code);
            snprintf(o->message_zh, sizeof o->message_zh, "没有找到这个预约，请核对预约码后重试");
            return;
        }
        if (appt.ticket_id != 0) {
            refuse(o, HALL__ERROR_CODE__ERR_ILLEGAL_STATE,
                   "appointment %s is already checked in (ticket %llu)", code,
                   (unsigned long long)appt.ticket_id);
            snprintf(o->message_zh, sizeof o->message_zh, "该预约已签到，请勿重复取号");
            return;
        }
        in.area = appt.area;
        in.priority = Q_APPOINTMENT;
        in.appointment_ms = appt.slot_ms;
        if (in.masked_name[0] == '\0')
            in.masked_name = appt.masked_name;
    } else if (in.priority == Q_APPOINTMENT) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST,
               "an appointment ticket needs its appointment_code");
        return;
    }
    /* The calendar speaks of an area that exists (else queue_issue says
     * what is wrong); "" is the general intake area. */
    const q_area *qa = queue_area(h->q, in.area);
    for (size_t i = 0; (in.area == NULL || in.area[0] == '\0') && queue_area_at(h->q, i); i++)
        if (queue_area_at(h->q, i)->general && !queue_area_at(h->q, i)->retired)
            qa = queue_area_at(h->q, i);
    if (qa != NULL && hours_allow(h, qa->code, code[0] != '\0', m->unstaffed_ok, o, now) < 0)
        return;
    if (in.matter[0] != '\0' && matter_of(h, in.matter) == NULL) {
        refuse(o, HALL__ERROR_CODE__ERR_NOT_FOUND, "no matter %s in the catalog", in.matter);
        return;
    }
    if (queue_issue(h->q, &in, now, &t, &err) < 0) {
        refuse_q(o, &err);
        if (err.code == QERR_CITIZEN_LIMIT)
            limit_sentence(h, in.area, in.citizen_hash, o);
        return;
    }
    if (code[0] != '\0' && store_mark_appointment_used(h->store, code, t->id) < 0)
        h->req_failed = true;
    hall__issue_reply__init(&o->r.issue);
    wire_ticket(h, t, &o->ticket, now);
    /* The issuing kiosk prints the check and puts it in the QR code. */
    if (citizen_ticket_check(h->keys, t->id, o->check) == 0)
        o->ticket.check = o->check;
    o->r.issue.ticket = &o->ticket;
    o->r.issue.reserve_expires_ms = t->reserved_until_ms;
    o->env.body_case = HALL__ENVELOPE__BODY_ISSUE_REPLY;
    o->env.issue_reply = &o->r.issue;
}

static void do_printed(hall *h, const hall_device *dev, const Hall__Envelope *req,
                       struct outcome *o, int64_t now)
{
    const q_ticket *t;
    q_error err;

    if (queue_printed(h->q, req->printed->ticket_id, now, &t, &err) < 0)
        refuse_q(o, &err);
    else
        answer_ticket(h, o, t, now);
}

static void do_void(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                    int64_t now)
{
    const q_ticket *t;
    q_error err;

    if (queue_void(h->q, req->void_ticket->ticket_id, req->void_ticket->reason, now, &t, &err) < 0)
        refuse_q(o, &err);
    else
        answer_ticket(h, o, t, now);
}

/* A short text from a device or a gateway (a note, an audit line):
 * printable (UTF-8 allowed), no control characters, within max bytes. */
static bool audit_text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* A ticket named by id or by today's display number (typed at a kiosk:
 * case and surrounding spaces do not matter); NULL with the refusal, in
 * both languages, filled in. */
static const q_ticket *named_ticket(hall *h, uint64_t id, const char *number, int64_t now,
                                    struct outcome *o)
{
    char norm[Q_NUMBER_MAX];
    size_t n = 0;
    const q_ticket *t;

    if (id != 0) {
        if ((t = queue_ticket(h->q, id)) == NULL) {
            refuse(o, HALL__ERROR_CODE__ERR_NOT_FOUND, "no ticket %llu", (unsigned long long)id);
            snprintf(o->message_zh, sizeof o->message_zh, "没有找到这张号票");
        }
        return t;
    }
    while (*number == ' ')
        number++;
    for (; number[n] != '\0' && number[n] != ' ' && n + 1 < sizeof norm; n++)
        norm[n] = (char)(number[n] >= 'a' && number[n] <= 'z' ? number[n] - 'a' + 'A' : number[n]);
    norm[n] = '\0';
    if (n == 0 || !audit_text_ok(norm, Q_NUMBER_MAX - 1)) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "name the ticket by its id or its number");
        snprintf(o->message_zh, sizeof o->message_zh, "请输入号码");
        return NULL;
    }
    int32_t today = clk_date_key(clk_business_day(h->zone, now, h->policy.rollover_hour));
    if ((t = queue_ticket_by_number(h->q, today, norm)) == NULL) {
        refuse(o, HALL__ERROR_CODE__ERR_NOT_FOUND, "no ticket %s today", norm);
        snprintf(o->message_zh, sizeof o->message_zh, "今天没有号码 %s，请核对", norm);
    }
    return t;
}

/* Whether check is the ticket's. */
static bool check_matches(const hall *h, const q_ticket *t, const char *check)
{
    char want[CITIZEN_CHECK_LEN + 1];

    return check[0] != '\0' && citizen_ticket_check(h->keys, t->id, want) == 0 &&
           CRYPTO_memcmp(want, check, sizeof want) == 0 && strlen(check) == CITIZEN_CHECK_LEN;
}

/* By id, or by today's number (a kiosk: the citizen typed it). */
static void do_rejoin(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                      int64_t now)
{
    const q_ticket *t = named_ticket(h, req->rejoin->ticket_id, req->rejoin->number, now, o);
    q_error err;

    if (t == NULL)
        return;
    if (queue_rejoin(h->q, t->id, now, &t, &err) < 0) {
        refuse_q(o, &err);
        snprintf(o->message_zh, sizeof o->message_zh, "%s",
                 err.code == QERR_ILLEGAL_STATE
                     ? "该号码不能重新排队（未过号，或已超过重新排队时限）"
                     : "暂时不能重新排队，请联系工作人员");
    } else {
        answer_ticket(h, o, t, now);
    }
}

/* A citizen's own ticket (a kiosk's 查询): its state and wait; the masked
 * name and the check only to the bearer (a matching check). Changes
 * nothing. */
static void do_ticket_query(hall *h, const hall_device *dev, const Hall__Envelope *req,
                            struct outcome *o, int64_t now)
{
    const Hall__TicketQuery *m = req->ticket_query;
    const q_ticket *t = named_ticket(h, m->ticket_id, m->number, now, o);

    if (t == NULL)
        return;
    answer_ticket(h, o, t, now);
    if (check_matches(h, t, m->check)) {
        snprintf(o->check, sizeof o->check, "%s", m->check);
        o->ticket.check = o->check;
    } else {
        o->ticket.masked_name = wire_str("");
    }
}

static void do_call_next(hall *h, const hall_device *dev, const Hall__Envelope *req,
                         struct outcome *o, int64_t now)
{
    uint32_t no = req->call_next->window_no;
    char reason[Q_REASON_MAX];
    const q_ticket *t;
    q_error err;

    if (queue_call_next(h->q, no, now, &t, reason, &err) < 0)
        refuse_q(o, &err);
    else
        answer_window(h, o, no, t, reason, now);
}

/* A transfer, and its note kept with the ticket for the window that calls
 * it next (a note of "" clears the last one): both in the request's
 * savepoint, so both or neither. */
static int transfer_with_note(hall *h, uint32_t no, uint64_t id, const Hall__Transfer *m,
                              int64_t now, const q_ticket **t, q_error *err)
{
    if (!audit_text_ok(m->note, Q_NOTE_MAX - 1)) {
        err->code = QERR_BAD_REQUEST;
        snprintf(err->message, sizeof err->message,
                 "a transfer's note is at most %d bytes, without control characters",
                 Q_NOTE_MAX - 1);
        return -1;
    }
    if (queue_transfer(h->q, no, id, m->to_area, m->to_window, now, t, err) < 0)
        return -1;
    return queue_set_note(h->q, id, m->note, err);
}

/* Ticket 0 in a window operation names the window's current ticket (the
 * one CALLED or SERVING there), so a call-pad, which cannot know ticket
 * ids after a restart, can start and finish. 0 when it has none (the
 * refusal is then filled in). */
static uint64_t current_or(hall *h, uint32_t no, uint64_t id, struct outcome *o)
{
    const q_window *w;

    if (id != 0 || no == 0)
        return id;
    w = queue_window(h->q, no);
    if (w == NULL) {
        refuse(o, HALL__ERROR_CODE__ERR_NOT_FOUND, "no window %u", no);
        return 0;
    }
    if (w->current == 0)
        refuse(o, HALL__ERROR_CODE__ERR_ILLEGAL_STATE,
               "window %u has no ticket called or being served", no);
    return w->current;
}

/* The window operations that name a ticket share one shape. */
#define WINDOW_TICKET_OP(name, field, call)                                                        \
    static void name(hall *h, const hall_device *dev, const Hall__Envelope *req,                   \
                     struct outcome *o, int64_t now)                                               \
    {                                                                                              \
        const q_ticket *t;                                                                         \
        q_error err;                                                                               \
        uint32_t no = req->field->window_no;                                                       \
        uint64_t id = current_or(h, no, req->field->ticket_id, o);                                 \
        if (o->code != 0)                                                                          \
            return;                                                                                \
        if (call < 0)                                                                              \
            refuse_q(o, &err);                                                                     \
        else                                                                                       \
            answer_window(h, o, no, t, NULL, now);                                                 \
    }

WINDOW_TICKET_OP(do_recall, recall, queue_recall(h->q, no, id, now, &t, &err))
WINDOW_TICKET_OP(do_no_show, no_show, queue_no_show(h->q, no, id, now, &t, &err))
WINDOW_TICKET_OP(do_start, start, queue_start(h->q, no, id, now, &t, &err))
WINDOW_TICKET_OP(do_finish, finish, queue_finish(h->q, no, id, now, &t, &err))
WINDOW_TICKET_OP(do_transfer, transfer, transfer_with_note(h, no, id, req->transfer, now, &t, &err))
WINDOW_TICKET_OP(do_hold, hold,
                 (req->hold->release ? queue_release(h->q, no, id, now, &t, &err)
                                     : queue_hold(h->q, no, id, now, &t, &err)))
WINDOW_TICKET_OP(do_window_cancel, cancel,
                 queue_cancel(h->q, no, id, req->cancel->reason, now, &t, &err))

/* A kiosk cancels for the bearer of the ticket only: its check must match
 * (auth.c lets a kiosk cancel a waiting, held or missed ticket, never one
 * a window is calling or serving). Everyone else as before. */
static void do_cancel(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                      int64_t now)
{
    const Hall__CancelTicket *m = req->cancel;
    const q_ticket *t;

    if (dev->type == HALL__DEVICE_TYPE__DEVICE_KIOSK && dev->person_role == 0) {
        if (m->check[0] == '\0') {
            refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST,
                   "a kiosk cancels a ticket with the ticket's check");
            snprintf(o->message_zh, sizeof o->message_zh, "请扫描号票上的二维码后再取消");
            return;
        }
        t = queue_ticket(h->q, m->ticket_id);
        if (t != NULL && !check_matches(h, t, m->check)) {
            refuse(o, HALL__ERROR_CODE__ERR_FORBIDDEN, "the check does not match ticket %s",
                   t->number);
            snprintf(o->message_zh, sizeof o->message_zh, "核验码不符，不能取消该号码");
            return;
        }
    }
    do_window_cancel(h, dev, req, o, now);
}

static void do_pause(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                     int64_t now)
{
    q_error err;

    if (queue_pause(h->q, req->pause->window_no, req->pause->reason, now, &err) < 0)
        refuse_q(o, &err);
    else
        answer_window(h, o, req->pause->window_no, NULL, NULL, now);
}

static void do_resume(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                      int64_t now)
{
    q_error err;

    if (queue_resume(h->q, req->resume->window_no, now, &err) < 0)
        refuse_q(o, &err);
    else
        answer_window(h, o, req->resume->window_no, NULL, NULL, now);
}

/* The clerk's wrong-PIN record, made on first use (the least recently
 * used one goes when all are taken). */
static struct pin_tries *pin_tries_of(hall *h, const char *clerk)
{
    struct pin_tries *oldest = &h->pins[0];

    for (size_t i = 0; i < HALL_PIN_TRACK; i++) {
        if (strcmp(h->pins[i].clerk, clerk) == 0)
            return &h->pins[i];
        if (h->pins[i].last_ms < oldest->last_ms)
            oldest = &h->pins[i];
    }
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->clerk, sizeof oldest->clerk, "%s", clerk);
    return oldest;
}

/* A sign-in with a PIN (a call-pad), or at a window terminal for a clerk
 * who has a PIN, is checked against the clerk's PIN hash; a terminal that
 * sends none may sign in a clerk who has none (terminals before PINs).
 * The web caller page signs in as its user and hallctl as the hall's
 * administrator: neither needs one. 0 to go on, -1 refused (o filled). */
static int check_pin(hall *h, const hall_device *dev, const Hall__SignIn *m,
                     const store_clerk *clerk, struct outcome *o, int64_t now)
{
    bool given = m->pin != NULL && m->pin[0] != '\0';
    struct pin_tries *t;

    if (!given &&
        (dev->type != HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL || clerk->pin_hash[0] == '\0'))
        return 0;
    t = pin_tries_of(h, m->clerk_id);
    t->last_ms = now;
    if (t->locked_until > now) {
        int64_t min = (t->locked_until - now + 59999) / 60000;
        refuse(o, HALL__ERROR_CODE__ERR_PIN,
               "clerk %s: too many wrong PINs; sign-in with a PIN is locked for %lld more "
               "minute(s)",
               m->clerk_id, (long long)min);
        snprintf(o->message_zh, sizeof o->message_zh, "密码错误次数过多 请%lld分钟后再试",
                 (long long)min);
        return -1;
    }
    if (clerk->pin_hash[0] == '\0') {
        refuse(o, HALL__ERROR_CODE__ERR_PIN, "clerk %s has no PIN (hallctl clerk pin)",
               m->clerk_id);
        snprintf(o->message_zh, sizeof o->message_zh, "此工号未设密码");
        return -1;
    }
    int ok = given ? pwhash_verify(m->pin, clerk->pin_hash) : 0;
    if (ok == 1) {
        t->wrong = 0;
        t->locked_until = 0;
        return 0;
    }
    if (ok < 0) {
        refuse(o, HALL__ERROR_CODE__ERR_INTERNAL, "clerk %s: the stored PIN hash is unreadable",
               m->clerk_id);
        return -1;
    }
    if (++t->wrong >= HALL_PIN_TRIES) {
        t->wrong = 0;
        t->locked_until = now + HALL_PIN_LOCK_MS;
        log_warn("clerk %s: %d wrong PINs in a row at window %u: sign-in with a PIN locked for "
                 "%lld minutes",
                 m->clerk_id, HALL_PIN_TRIES, m->window_no, HALL_PIN_LOCK_MS / 60000);
    }
    refuse(o, HALL__ERROR_CODE__ERR_PIN, "clerk %s: wrong PIN", m->clerk_id);
    snprintf(o->message_zh, sizeof o->message_zh, "工号或密码错误");
    return -1;
}

static void do_sign_in(hall *h, const hall_device *dev, const Hall__Envelope *req,
                       struct outcome *o, int64_t now)
{
    const Hall__SignIn *m = req->sign_in;
    store_clerk clerk;
    q_error err;

    int found = store_get_clerk(h->store, m->clerk_id, &clerk);
    if (found < 0) {
        refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "cannot read clerks: %s",
               store_errmsg(h->store));
        return;
    }
    if (found == 0 || !clerk.active) {
        refuse(o, HALL__ERROR_CODE__ERR_NOT_FOUND, "clerk %s is %s", m->clerk_id,
               found ? "not active" : "not registered");
        return;
    }
    int rc = check_pin(h, dev, m, &clerk, o, now);
    OPENSSL_cleanse(&clerk, sizeof clerk);
    if (rc < 0)
        return;
    if (queue_sign_in(h->q, m->window_no, m->clerk_id, now, &err) < 0)
        refuse_q(o, &err);
    else
        answer_window(h, o, m->window_no, NULL, NULL, now);
}

static void do_sign_out(hall *h, const hall_device *dev, const Hall__Envelope *req,
                        struct outcome *o, int64_t now)
{
    q_error err;

    if (queue_sign_out(h->q, req->sign_out->window_no, now, &err) < 0)
        refuse_q(o, &err);
    else
        answer_window(h, o, req->sign_out->window_no, NULL, NULL, now);
}

static void do_lease(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                     int64_t now)
{
    const q_lease *l;
    const q_area *a;
    q_error err;

    if (queue_grant_lease(h->q, dev->id, req->lease_request->area, now, &l, &err) < 0) {
        refuse_q(o, &err);
        return;
    }
    a = queue_area(h->q, l->area);
    hall__lease_grant__init(&o->r.lease);
    o->r.lease.area = wire_str(l->area);
    o->r.lease.prefix = a ? wire_str(a->prefix) : wire_str("");
    o->r.lease.first = l->first;
    o->r.lease.count = l->count;
    o->r.lease.business_day = l->day;
    o->r.lease.expires_ms = clk_next_rollover(h->zone, now, h->policy.rollover_hour);
    o->env.body_case = HALL__ENVELOPE__BODY_LEASE_GRANT;
    o->env.lease_grant = &o->r.lease;
}

static struct upload *upload_new(size_t n)
{
    struct upload *u = calloc(1, sizeof *u + n * sizeof u->t[0]);

    if (u == NULL)
        return NULL;
    u->tickets = calloc(n, sizeof *u->tickets);
    u->results = calloc(n, sizeof *u->results);
    if (u->tickets == NULL || u->results == NULL) {
        free(u->tickets);
        free(u->results);
        free(u);
        return NULL;
    }
    return u;
}

static void upload_free(struct upload *u)
{
    if (u != NULL) {
        free(u->tickets);
        free(u->results);
        free(u);
    }
}

/* The citizen hash of an offline ticket, from its sealed ID number: *out
 * is hash, or NULL for a ticket taken without a card. ERR_NONE, or why
 * the ticket is refused: ERR_UNAVAILABLE while halld cannot open sealed
 * numbers (the kiosk sends it again later), ERR_BAD_REQUEST for good. A
 * kiosk from before sealing sends its own citizen_hash: never kept (only
 * halld hashes), the ticket joins without it. */
static Hall__ErrorCode offline_citizen(hall *h, const hall_device *dev,
                                       const Hall__OfflineTicket *ot, uint8_t hash[Q_HASH_LEN],
                                       const uint8_t **out, char *why, size_t whylen)
{
    *out = NULL;
    if (ot->sealed_id.len != 0 && ot->citizen_hash.len != 0) {
        snprintf(why, whylen, "an offline ticket carries sealed_id or citizen_hash, never both");
        return HALL__ERROR_CODE__ERR_BAD_REQUEST;
    }
    if (ot->citizen_hash.len != 0) {
        device_log(h, dev, LOG_LEVEL_WARN,
                   "offline ticket %s: the kiosk's citizen_hash is ignored (upgrade the kiosk: "
                   "it seals the ID number now)",
                   ot->number);
        return HALL__ERROR_CODE__ERR_NONE;
    }
    if (ot->sealed_id.len == 0)
        return HALL__ERROR_CODE__ERR_NONE;
    if (citizen_from_sealed(h->keys, dev->id, ot->sealed_id.data, ot->sealed_id.len, hash, why,
                            whylen) < 0)
        return errno == EAGAIN ? HALL__ERROR_CODE__ERR_UNAVAILABLE
                               : HALL__ERROR_CODE__ERR_BAD_REQUEST;
    *out = hash;
    return HALL__ERROR_CODE__ERR_NONE;
}

/* Offline tickets join one by one, each on its own: a refused ticket (not
 * leased to this kiosk, backdated, of another day...) changes nothing and
 * holds back no other. The answer says, per uploaded ticket and in order,
 * which ticket it joined as or why it was refused; only a malformed upload
 * as a whole is refused. */
static void do_upload(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                      int64_t now)
{
    const Hall__OfflineUpload *m = req->offline_upload;
    size_t n = m->n_tickets, njoined = 0;
    struct upload *u;

    if (n == 0 || n > HALL_UPLOAD_MAX) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "an upload holds 1 to %d tickets, not %zu",
               HALL_UPLOAD_MAX, n);
        return;
    }
    if ((u = upload_new(n)) == NULL) {
        refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const Hall__OfflineTicket *ot = m->tickets[i];
        struct upload_ticket *ut = &u->t[i];
        q_offline in = {
            .kiosk = dev->id,
            .area = ot->area,
            .number = ot->number,
            .issued_ms = ot->issued_at_ms,
            .priority = ot->priority == HALL__PRIORITY__PRIORITY_GREEN ? Q_GREEN : Q_NORMAL,
            .matter = ot->matter,
            .masked_name = ot->masked_name,
        };
        uint8_t hash[Q_HASH_LEN];
        const q_ticket *t;
        q_error err;

        hall__offline_result__init(&ut->result);
        ut->result.number = ot->number;
        ut->result.code =
            offline_citizen(h, dev, ot, hash, &in.citizen_hash, ut->message, sizeof ut->message);
        if (ut->result.code == HALL__ERROR_CODE__ERR_NONE) {
            /* Printed already: joins past the citizen limit too, logged. */
            const q_ticket *held = NULL;
            if (in.citizen_hash != NULL && h->policy.citizen_limit > 0 &&
                queue_citizen_live(h->q, in.area, in.citizen_hash, &held) >=
                    h->policy.citizen_limit &&
                queue_ticket_by_number(h->q, queue_day(h->q), in.number) == NULL)
                device_log(h, dev, LOG_LEVEL_WARN,
                           "offline ticket %s joins past the citizen limit ([queue] "
                           "citizen_limit %u): the same ID card holds %s in area %s",
                           ot->number, h->policy.citizen_limit, held->number, in.area);
            if (queue_offline_join(h->q, &in, now, &t, &err) == 0) {
                ut->result.ticket_id = t->id;
                njoined++;
                continue;
            }
            ut->result.code = wire_error(err.code);
            snprintf(ut->message, sizeof ut->message, "%s", err.message);
        }
        ut->result.message = ut->message;
        device_log(h, dev, LOG_LEVEL_WARN, "offline ticket %s refused: %s", ot->number,
                   ut->message);
    }
    /* Fill the answer only now: engine pointers move with every call. */
    for (size_t i = 0, k = 0; i < n; i++) {
        u->results[i] = &u->t[i].result;
        if (u->t[i].result.ticket_id == 0)
            continue;
        wire_ticket(h, queue_ticket(h->q, u->t[i].result.ticket_id), &u->t[k].wire, now);
        u->tickets[k] = &u->t[k].wire;
        k++;
    }
    hall__offline_upload_reply__init(&o->r.upload);
    o->r.upload.n_tickets = njoined;
    o->r.upload.tickets = u->tickets;
    o->r.upload.n_results = n;
    o->r.upload.results = u->results;
    o->env.body_case = HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY;
    o->env.offline_upload_reply = &o->r.upload;
    o->upload = u; /* freed by the caller once the answer is packed */
}

/* A citizen's rating, sent by the terminal (or call-pad gateway) of the
 * window that served the ticket, or a tool. The engine decides; a rated
 * ticket is answered as the first rating was (its id), whatever the
 * level. */
static void do_rating(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                      int64_t now)
{
    const Hall__Rating *m = req->rating;
    const q_ticket *t;
    q_error err;

    if (m->level < 1 || m->level > 5) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "a rating is 1 to 5, not %u", m->level);
        return;
    }
    if (queue_rate(h->q, m->window_no, m->ticket_id, (int)m->level, now, &t, &err) < 0) {
        refuse_q(o, &err);
        return;
    }
    if (t->rated_ms == now)
        alerts_rated(h, t, now);
    hall__rating_reply__init(&o->r.rating);
    o->r.rating.ticket_id = t->id;
    o->env.body_case = HALL__ENVELOPE__BODY_RATING_REPLY;
    o->env.rating_reply = &o->r.rating;
}

/* "printer paper_out (打印纸用完), reader ok" into out. */
static void health_summary(const struct devstate *e, char *out, size_t len)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < e->ncomp && used < len; i++) {
        int w = snprintf(out + used, len - used, "%s%s %s%s%s%s", i ? ", " : "", e->comp[i].name,
                         e->comp[i].state, e->comp[i].detail[0] ? " (" : "", e->comp[i].detail,
                         e->comp[i].detail[0] ? ")" : "");
        used += w > 0 ? (size_t)w : 0;
    }
}

/* A device's health, the whole picture each time. Kept per device in
 * memory and shown to subscribers when it changed; a change is logged (a
 * warning when the device cannot do its job). Not a change of the hall:
 * nothing is written and no answer is kept. */
static void do_device_status(hall *h, const hall_device *dev, const Hall__Envelope *req,
                             struct outcome *o, int64_t now)
{
    const Hall__DeviceStatus *m = req->device_status;
    struct devstate next = {0}, *e;
    char summary[1024];

    if (m->n_components > HEALTH_COMPONENTS) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "a status has at most %d components, not %zu",
               HEALTH_COMPONENTS, m->n_components);
        return;
    }
    for (size_t i = 0; i < m->n_components; i++) {
        const Hall__ComponentStatus *c = m->components[i];

        if (c->name[0] == '\0' || strlen(c->name) >= sizeof next.comp[0].name ||
            c->state[0] == '\0' || strlen(c->state) >= sizeof next.comp[0].state ||
            strlen(c->detail) >= sizeof next.comp[0].detail) {
            refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST,
                   "component %zu: a name and a state of 1 to %zu bytes and a detail under %zu",
                   i + 1, sizeof next.comp[0].name - 1, sizeof next.comp[0].detail);
            return;
        }
        snprintf(next.comp[i].name, sizeof next.comp[i].name, "%s", c->name);
        snprintf(next.comp[i].state, sizeof next.comp[i].state, "%s", c->state);
        snprintf(next.comp[i].detail, sizeof next.comp[i].detail, "%s", c->detail);
    }
    next.ncomp = (int)m->n_components;
    next.can_issue = m->can_issue;
    if ((e = devstate_of(h, dev->id)) == NULL) {
        refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "health of more than %d devices",
               HALL_DEVICES_MAX);
        return;
    }
    if (e->since_ms == 0 || e->can_issue != next.can_issue || e->ncomp != next.ncomp ||
        memcmp(e->comp, next.comp, sizeof next.comp) != 0) {
        memcpy(e->comp, next.comp, sizeof next.comp);
        e->ncomp = next.ncomp;
        e->can_issue = next.can_issue;
        e->since_ms = now;
        e->turn_changed = true;
        health_summary(e, summary, sizeof summary);
        if (dev->type == HALL__DEVICE_TYPE__DEVICE_KIOSK && !e->can_issue)
            device_log(h, dev, LOG_LEVEL_WARN, "kiosk cannot issue tickets: %s", summary);
        else
            device_log(h, dev, LOG_LEVEL_INFO, "%s health: %s", auth_role_name(dev->type), summary);
    }
    hall__device_status_reply__init(&o->r.status);
    o->env.body_case = HALL__ENVELOPE__BODY_DEVICE_STATUS_REPLY;
    o->env.device_status_reply = &o->r.status;
}

static void do_web_event(hall *h, const hall_device *dev, const Hall__Envelope *req,
                         struct outcome *o, int64_t now)
{
    const Hall__WebEvent *m = req->web_event;
    char what[400];

    if (m->what[0] == '\0' || !audit_text_ok(m->what, 200) ||
        !audit_text_ok(m->user, STORE_USER_NAME_MAX) || !audit_text_ok(m->address, 64)) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST,
               "WEB_EVENT needs what (1..200 bytes), user (at most %d) and address (at most 64), "
               "without control characters",
               STORE_USER_NAME_MAX);
        return;
    }
    if (m->address[0] != '\0')
        snprintf(what, sizeof what, "web: %s (from %s)", m->what, m->address);
    else
        snprintf(what, sizeof what, "web: %s", m->what);
    int32_t day = clk_date_key(clk_business_day(h->zone, now, h->policy.rollover_hour));
    if (store_append_admin_event(h->store, now, day, dev->id, m->user, what) < 0) {
        refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "cannot record the event: %s",
               store_errmsg(h->store));
        return;
    }
    hall__web_event_reply__init(&o->r.web_event);
    o->env.body_case = HALL__ENVELOPE__BODY_WEB_EVENT_REPLY;
    o->env.web_event_reply = &o->r.web_event;
}

/* ---- Running a request ---------------------------------------------------------- */

/* The requests halld handles, and whether they change the hall: those run
 * in the turn's transaction and have their answers kept (refusals too).
 * Who may send which is auth.c's table. */
static const struct request {
    Hall__Envelope__BodyCase body;
    bool changes;
    void (*fn)(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
               int64_t now);
} requests[] = {
    {HALL__ENVELOPE__BODY_HEARTBEAT, false, do_heartbeat},
    {HALL__ENVELOPE__BODY_SUBSCRIBE, false, NULL},
    {HALL__ENVELOPE__BODY_DEVICE_STATUS, false, do_device_status},
    {HALL__ENVELOPE__BODY_TICKET_QUERY, false, do_ticket_query},
    {HALL__ENVELOPE__BODY_ISSUE, true, do_issue},
    {HALL__ENVELOPE__BODY_PRINTED, true, do_printed},
    {HALL__ENVELOPE__BODY_VOID_TICKET, true, do_void},
    {HALL__ENVELOPE__BODY_REJOIN, true, do_rejoin},
    {HALL__ENVELOPE__BODY_CALL_NEXT, true, do_call_next},
    {HALL__ENVELOPE__BODY_RECALL, true, do_recall},
    {HALL__ENVELOPE__BODY_NO_SHOW, true, do_no_show},
    {HALL__ENVELOPE__BODY_START, true, do_start},
    {HALL__ENVELOPE__BODY_FINISH, true, do_finish},
    {HALL__ENVELOPE__BODY_TRANSFER, true, do_transfer},
    {HALL__ENVELOPE__BODY_HOLD, true, do_hold},
    {HALL__ENVELOPE__BODY_CANCEL, true, do_cancel},
    {HALL__ENVELOPE__BODY_PAUSE, true, do_pause},
    {HALL__ENVELOPE__BODY_RESUME, true, do_resume},
    {HALL__ENVELOPE__BODY_SIGN_IN, true, do_sign_in},
    {HALL__ENVELOPE__BODY_SIGN_OUT, true, do_sign_out},
    {HALL__ENVELOPE__BODY_LEASE_REQUEST, true, do_lease},
    {HALL__ENVELOPE__BODY_OFFLINE_UPLOAD, true, do_upload},
    {HALL__ENVELOPE__BODY_RATING, true, do_rating},
    {HALL__ENVELOPE__BODY_WEB_EVENT, true, do_web_event},
    {HALL__ENVELOPE__BODY_ALERT_ACTION, true, do_alert_action},
};

static const struct request *find_request(Hall__Envelope__BodyCase body)
{
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++)
        if (requests[i].body == body)
            return &requests[i];
    return NULL;
}

/* An ISSUE that carries an ID number in clear. */
static bool has_citizen_id(const Hall__Envelope *req)
{
    return req->body_case == HALL__ENVELOPE__BODY_ISSUE && req->issue->citizen_id[0] != '\0';
}

/* The first REPLAY_DIGEST_LEN bytes of SHA-256 over the request as
 * protobuf-c packs it (fields in number order: the same request always
 * gives the same bytes). A request with an ID number in clear gets
 * HMAC-SHA256 under the hall secret instead: the digest is kept in
 * hall.db, where a plain hash would let anyone test ID numbers against
 * it. -1 when it cannot be computed. */
static int request_digest(hall *h, const Hall__Envelope *req, uint8_t out[REPLAY_DIGEST_LEN])
{
    uint8_t small[1024], md[EVP_MAX_MD_SIZE];
    size_t n = hall__envelope__get_packed_size(req);
    uint8_t *packed = n <= sizeof small ? small : malloc(n);
    unsigned mdlen = 0;
    int ok;

    if (packed == NULL)
        return -1;
    hall__envelope__pack(req, packed);
    if (has_citizen_id(req))
        ok = citizen_digest(h->keys, packed, n, md) == 0;
    else
        ok = EVP_DigestInit_ex(h->md, h->sha256, NULL) && EVP_DigestUpdate(h->md, packed, n) &&
             EVP_DigestFinal_ex(h->md, md, &mdlen) && mdlen >= REPLAY_DIGEST_LEN;
    OPENSSL_cleanse(packed, n);
    if (packed != small)
        free(packed);
    if (!ok)
        return -1;
    memcpy(out, md, REPLAY_DIGEST_LEN);
    return 0;
}

/* Refuse a request without keeping the refusal (it changed nothing and
 * asks for nothing to be remembered: a retry is judged again). */
static void refuse_unkept(hall *h, const hall_device *dev, const Hall__Envelope *req, buf *out,
                          Hall__ErrorCode code, const char *msg)
{
    device_log(h, dev, LOG_LEVEL_WARN, "%s %llu refused: %s", proto_body_name(req->body_case),
               (unsigned long long)req->request_id, msg);
    put_error(out, req->request_id, code, msg);
}

/* The same with the refusal's Chinese sentence (a citizen's query). */
static void refuse_unkept_zh(hall *h, const hall_device *dev, const Hall__Envelope *req, buf *out,
                             Hall__ErrorCode code, const char *msg, const char *zh)
{
    device_log(h, dev, LOG_LEVEL_WARN, "%s %llu refused: %s", proto_body_name(req->body_case),
               (unsigned long long)req->request_id, msg);
    put_error_zh(out, req->request_id, code, msg, zh);
}

/* A request seen before: its kept answer, or why there is none. 1 if out
 * holds the answer, 0 if the request is new. */
static int answer_again(hall *h, const hall_device *dev, const Hall__Envelope *req,
                        const uint8_t *digest, buf *out)
{
    const uint8_t *kept_digest = NULL, *reply = NULL;
    size_t len = 0;
    replay_hit hit = replay_get(h->replay, dev->id, req->request_id, &kept_digest, &reply, &len);

    if (hit == REPLAY_NONE)
        return 0;
    if (kept_digest != NULL && memcmp(kept_digest, digest, REPLAY_DIGEST_LEN) != 0)
        refuse_unkept(h, dev, req, out, HALL__ERROR_CODE__ERR_REQUEST_ID_REUSED,
                      "this request_id was used for a different request: use a new id");
    else if (hit == REPLAY_DROPPED)
        refuse_unkept(h, dev, req, out, HALL__ERROR_CODE__ERR_ANSWER_DROPPED,
                      "this request was carried out, but its answer is no longer kept (too many "
                      "answers kept for this device); it is not run again");
    else
        put_packed(out, reply, len); /* a retry: the first answer, unchanged */
    return 1;
}

/* Where the turn's push state stands, to undo a failed request. */
static struct turn_mark turn_mark(const hall *h)
{
    return (struct turn_mark){h->nturn_calls, h->nturn_windows, h->turn_areas};
}

/* Keep the packed answer env for (dev, request id) in the store (inside
 * the request's savepoint) and in memory, and note it for the turn; the
 * packed bytes are handed back in *packed (the caller frees them) to be
 * sent as they are. -1 when it cannot be kept: the request must not
 * stand. */
static int keep_answer(hall *h, const hall_device *dev, uint64_t request_id, const uint8_t *digest,
                       const Hall__Envelope *env, int64_t now, uint8_t **packed_out,
                       size_t *len_out)
{
    size_t size = hall__envelope__get_packed_size(env);
    uint8_t *packed;
    int rc = -1;

    if (h->nkept == h->kept_cap) {
        size_t cap = h->kept_cap ? h->kept_cap * 2 : 64;
        struct kept_key *k = realloc(h->kept, cap * sizeof *k);
        if (k == NULL)
            return -1;
        h->kept = k;
        h->kept_cap = cap;
    }
    if ((packed = malloc(size ? size : 1)) == NULL)
        return -1;
    hall__envelope__pack(env, packed);
    uint64_t row;
    if (store_put_request(h->store, dev->id, request_id, now, digest, packed, size, &row) == 0 &&
        replay_put(h->replay, dev->id, request_id, row, now + HALL_REPLAY_MS, digest, packed,
                   size) == 0) {
        struct kept_key *k = &h->kept[h->nkept++];
        snprintf(k->device, sizeof k->device, "%s", dev->id);
        k->request_id = request_id;
        *packed_out = packed;
        *len_out = size;
        return 0;
    }
    free(packed);
    return rc;
}

/* End a request's (or the tick's) savepoint: RELEASE if its writes all
 * worked; otherwise ROLLBACK TO — only its rows go — and rebuild the
 * engine from what the store still holds (the turn's other requests), and
 * forget its push entries. 0 kept, -1 undone (why says so). The hall is
 * broken if the engine cannot be rebuilt. */
static int end_savepoint(hall *h, const struct turn_mark *m, char *why, size_t whylen)
{
    char err[256];

    if (!h->req_failed && store_release(h->store) == 0)
        return 0;
    snprintf(why, whylen, "the store could not record this request (%s); try again",
             store_errmsg(h->store));
    h->nturn_calls = m->ncalls;
    h->nturn_windows = m->nwindows;
    h->turn_areas = m->areas;
    if (store_rollback_to(h->store) < 0 || rebuild_engine(h, err, sizeof err) < 0) {
        log_error("cannot undo a failed request: %s", store_errmsg(h->store));
        h->broken = true;
    }
    h->req_failed = false;
    return -1;
}

static auth_subject subject_of(const hall_device *dev)
{
    return (auth_subject){.role = dev->person_role ? dev->person_role : (int)dev->type,
                          .window_no = dev->window_no,
                          .device_id = dev->id,
                          .clerk_id = dev->clerk_id};
}

/* Whether who may send req: ERR_NONE, or a refusal with why. */
static Hall__ErrorCode authorize(const hall *h, const hall_device *who, const Hall__Envelope *req,
                                 char *why, size_t whylen)
{
    auth_subject subject = subject_of(who);

    if (who->refusal[0] != '\0') {
        snprintf(why, whylen, "%s", who->refusal);
        return HALL__ERROR_CODE__ERR_FORBIDDEN;
    }
    return auth_check(h->q, &subject, req, why, whylen);
}

/* Run one request that changes the hall inside its savepoint, and keep
 * its answer (a refusal too). True if an answer was kept this turn. */
static bool run_change(hall *h, const struct request *r, const hall_device *dev,
                       const Hall__Envelope *req, const uint8_t *digest, buf *out, int64_t now)
{
    struct turn_mark mark = turn_mark(h);
    Hall__Error error = HALL__ERROR__INIT;
    struct outcome o;
    char why[300];
    size_t nkept = h->nkept;

    if (begin_turn(h) < 0 || store_savepoint(h->store) < 0) {
        snprintf(why, sizeof why, "the store cannot start a transaction: %s",
                 store_errmsg(h->store));
        refuse_unkept(h, dev, req, out, HALL__ERROR_CODE__ERR_UNAVAILABLE, why);
        return false;
    }
    memset(&o, 0, sizeof o);
    hall__envelope__init(&o.env);
    o.env.request_id = req->request_id;
    h->req_failed = false;
    o.code = authorize(h, dev, req, o.message, sizeof o.message);
    if (o.code == HALL__ERROR_CODE__ERR_NONE) {
        h->requester = dev->id;
        r->fn(h, dev, req, &o, now);
        h->requester = NULL;
    }
    if (o.code == HALL__ERROR_CODE__ERR_UNAVAILABLE) {
        /* "Try again": not kept, or it would stop exactly that retry. */
        if (end_savepoint(h, &mark, why, sizeof why) == 0)
            refuse_unkept(h, dev, req, out, o.code, o.message);
        else
            refuse_unkept(h, dev, req, out, o.code, why);
        upload_free(o.upload);
        return false;
    }
    if (o.code != HALL__ERROR_CODE__ERR_NONE) {
        device_log(h, dev, LOG_LEVEL_WARN, "%s %llu refused: %s", proto_body_name(req->body_case),
                   (unsigned long long)req->request_id, o.message);
        error.code = o.code;
        error.message = o.message;
        if (o.message_zh[0] != '\0')
            error.message_zh = o.message_zh;
        o.env.body_case = HALL__ENVELOPE__BODY_ERROR;
        o.env.error = &error;
    }
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    if (!h->req_failed &&
        keep_answer(h, dev, req->request_id, digest, &o.env, now, &packed, &packed_len) < 0)
        h->req_failed = true;
    if (end_savepoint(h, &mark, why, sizeof why) < 0) {
        /* Kept in memory just before the store could not release it. */
        if (h->nkept > nkept) {
            h->nkept = nkept;
            replay_forget(h->replay, dev->id, req->request_id);
        }
        refuse_unkept(h, dev, req, out, HALL__ERROR_CODE__ERR_UNAVAILABLE, why);
        free(packed);
        upload_free(o.upload);
        return false;
    }
    /* The bytes just kept, the same a retry will get: packed once. */
    if (packed != NULL)
        put_packed(out, packed, packed_len);
    else
        put_frame(out, &o.env);
    free(packed);
    upload_free(o.upload);
    return true;
}

/* Run what is due on the hall's timers (reservations, no-shows, the
 * rollover) before a request, so that a request never sees a state its
 * time has already ended: the first request after 03:00 is numbered in
 * the new day, with the new day's numbering. */
static void catch_up(hall *h, int64_t now)
{
    int64_t due = queue_next_due(h->q);

    if (due == 0 || due <= now)
        hall_tick(h);
}

static int handle_request(hall *h, const hall_device *dev, const Hall__Envelope *req, buf *out)
{
    const struct request *r = find_request(req->body_case);
    int64_t now = clk_utc_ms();
    uint8_t digest[REPLAY_DIGEST_LEN];
    Hall__ErrorCode code;
    char why[300];

    if (r == NULL) {
        snprintf(why, sizeof why, "%s is not a request this controller handles",
                 proto_body_name(req->body_case));
        refuse_unkept(h, dev, req, out, HALL__ERROR_CODE__ERR_UNKNOWN_MESSAGE, why);
        return 0;
    }
    if (h->broken) {
        refuse_unkept(h, dev, req, out, HALL__ERROR_CODE__ERR_UNAVAILABLE,
                      "the controller is stopping to rebuild from its store; try again");
        return 0;
    }
    if (!r->changes) {
        struct outcome o;

        code = authorize(h, dev, req, why, sizeof why);
        if (code != HALL__ERROR_CODE__ERR_NONE) {
            refuse_unkept(h, dev, req, out, code, why);
            return 0;
        }
        if (r->fn == NULL) /* SUBSCRIBE: answered with a snapshot after the commit */
            return HALL_SUBSCRIBE;
        memset(&o, 0, sizeof o);
        hall__envelope__init(&o.env);
        o.env.request_id = req->request_id;
        r->fn(h, dev, req, &o, now);
        if (o.code != HALL__ERROR_CODE__ERR_NONE)
            refuse_unkept_zh(h, dev, req, out, o.code, o.message, o.message_zh);
        else
            put_frame(out, &o.env);
        return 0;
    }
    if (req->request_id == 0) {
        refuse_unkept(h, dev, req, out, HALL__ERROR_CODE__ERR_BAD_REQUEST,
                      "a request that changes the hall needs a request_id");
        return 0;
    }
    if (request_digest(h, req, digest) < 0) {
        refuse_unkept(h, dev, req, out, HALL__ERROR_CODE__ERR_UNAVAILABLE,
                      "cannot take the request's digest: out of memory");
        return 0;
    }
    if (answer_again(h, dev, req, digest, out))
        return 0;
    if (!replay_has_room(h->replay, dev->id)) {
        refuse_unkept(h, dev, req, out, HALL__ERROR_CODE__ERR_UNAVAILABLE,
                      "too many requests from this device in the last 24 hours to remember one "
                      "more ([retries] device_requests, requests)");
        return 0;
    }
    catch_up(h, now);
    return run_change(h, r, dev, req, digest, out, now) ? HALL_KEPT : 0;
}

/* Who runs a request sent on_behalf_of a user: the user, as a requester
 * of its own (answers kept under "web:NAME"), read at every request, so a
 * disabled user or a changed role takes effect at once, without a reload.
 * A request that may not be run as anyone gets a refusal, which is kept
 * like any other: from a device that is not a web gateway (kept under its
 * own id), or for a user who is not registered or is disabled. -1 after
 * refusing it unkept, when the users cannot be read. */
static int person_of(hall *h, const hall_device *gateway, const Hall__Envelope *req,
                     hall_device *person, buf *out)
{
    const char *name = req->on_behalf_of;
    char why[200];
    store_user u;
    int found = 0;

    *person = *gateway;
    if (gateway->type != HALL__DEVICE_TYPE__DEVICE_WEB) {
        snprintf(person->refusal, sizeof person->refusal,
                 "only a web gateway may send requests on behalf of a user");
        return 0;
    }
    if (!store_user_name_valid(name)) {
        snprintf(person->refusal, sizeof person->refusal,
                 "on_behalf_of does not name a user (1 to %d of a-z, 0-9, '.', '_', '-')",
                 STORE_USER_NAME_MAX);
        return 0;
    }
    if ((found = store_get_user(h->store, name, &u)) < 0) {
        snprintf(why, sizeof why, "cannot read the users: %s", store_errmsg(h->store));
        refuse_unkept(h, gateway, req, out, HALL__ERROR_CODE__ERR_UNAVAILABLE, why);
        return -1;
    }
    memset(person, 0, sizeof *person);
    snprintf(person->id, sizeof person->id, "web:%s", name);
    person->type = HALL__DEVICE_TYPE__DEVICE_WEB;
    if (found == 0 || u.disabled || auth_person_role(u.role) == 0) {
        snprintf(person->refusal, sizeof person->refusal, "user %s is %s", name,
                 found == 0   ? "not registered"
                 : u.disabled ? "disabled"
                              : "of no known role");
        return 0;
    }
    person->person_role = auth_person_role(u.role);
    snprintf(person->clerk_id, sizeof person->clerk_id, "%s", u.clerk_id);
    return 0;
}

int hall_request(hall *h, const hall_device *dev, const Hall__Envelope *req, buf *out)
{
    hall_device person;
    int rc = 0;

    alerts_heard(h, dev->id);
    if (req->on_behalf_of == NULL || req->on_behalf_of[0] == '\0')
        rc = handle_request(h, dev, req, out);
    else if (person_of(h, dev, req, &person, out) == 0)
        rc = handle_request(h, &person, req, out);

    /* The number was hashed (or refused): its clear copy in the decoded
     * request goes now, not when the caller frees it. */
    if (has_citizen_id(req))
        OPENSSL_cleanse(req->issue->citizen_id, strlen(req->issue->citizen_id));
    /* So does a clerk's PIN. */
    if (req->body_case == HALL__ENVELOPE__BODY_SIGN_IN && req->sign_in != NULL &&
        req->sign_in->pin != NULL)
        OPENSSL_cleanse(req->sign_in->pin, strlen(req->sign_in->pin));
    return rc;
}

void hall_refuse(hall *h, const hall_device *dev, uint64_t request_id, Hall__ErrorCode code,
                 const char *why, buf *out)
{
    device_log(h, dev, LOG_LEVEL_WARN, "request %llu refused: %s", (unsigned long long)request_id,
               why);
    put_error(out, request_id, code, why);
}

/* ---- Commit, pushes, snapshots ---------------------------------------------- */

static void reset_turn(hall *h)
{
    h->in_turn = false;
    h->req_failed = false;
    h->nturn_calls = 0;
    h->nturn_windows = 0;
    h->turn_areas = false;
    h->nkept = 0;
}

static void wire_call(const struct call *c, Hall__Call *w)
{
    hall__call__init(w);
    w->number = wire_str(c->number);
    w->window_no = c->window_no;
    w->area = wire_str(c->area);
    w->masked_name = wire_str(c->masked_name);
    w->called_at_ms = c->at_ms;
    w->recalls = c->recalls;
}

static void wire_window_status(const hall *h, const q_window *w, Hall__WindowStatus *ws)
{
    const q_ticket *t = w->current ? queue_ticket(h->q, w->current) : NULL;

    hall__window_status__init(ws);
    ws->window_no = w->no;
    ws->state = wire_window_state(w->state);
    ws->current_number = t ? wire_str(t->number) : wire_str("");
    ws->waiting = window_waiting(h, w);
    ws->clerk_id = wire_str(w->clerk);
    if (t != NULL) {
        ws->current_priority = t->priority == Q_GREEN         ? HALL__PRIORITY__PRIORITY_GREEN
                               : t->priority == Q_APPOINTMENT ? HALL__PRIORITY__PRIORITY_APPOINTMENT
                                                              : HALL__PRIORITY__PRIORITY_NORMAL;
        ws->current_transferred = t->transferred;
        ws->current_state = t->state == Q_SERVING ? HALL__TICKET_STATE__TICKET_SERVING
                                                  : HALL__TICKET_STATE__TICKET_CALLED;
    }
}

/* The queues changed: every window whose waiting count is not the one the
 * last push showed goes into this push. One pass over the windows and
 * their areas (O(log n) each), only in turns that changed tickets. */
static void note_waiting_changes(hall *h)
{
    for (size_t i = 0; queue_window_at(h->q, i) != NULL; i++) {
        const q_window *w = queue_window_at(h->q, i);
        uint32_t now = window_waiting(h, w);
        size_t k;

        for (k = 0; k < h->nwin_waiting && h->win_waiting[k].no != w->no; k++)
            ;
        if (k == h->nwin_waiting) {
            if (h->nwin_waiting == h->win_waiting_cap) {
                size_t cap = h->win_waiting_cap ? h->win_waiting_cap * 2 : 16;
                void *grown = realloc(h->win_waiting, cap * sizeof h->win_waiting[0]);
                if (grown == NULL) {
                    note_window(h, w->no); /* pushed each time instead */
                    continue;
                }
                h->win_waiting = grown;
                h->win_waiting_cap = cap;
            }
            h->win_waiting[h->nwin_waiting].no = w->no;
            h->win_waiting[h->nwin_waiting].waiting = now;
            h->nwin_waiting++;
            note_window(h, w->no);
        } else if (h->win_waiting[k].waiting != now) {
            h->win_waiting[k].waiting = now;
            note_window(h, w->no);
        }
    }
}

/* Storage for the matters of one push's areas. */
struct push_matters {
    Hall__MatterInfo *info;
    Hall__MatterInfo **ptr;
};

static void wire_area_matters(const hall *h, const q_area *a, struct push_matters *pm, size_t *used,
                              Hall__AreaStatus *as)
{
    as->matters_sent = true;
    as->matters = &pm->ptr[*used];
    for (size_t i = 0; i < h->matters.n; i++) {
        const struct matter *m = &h->matters.v[i];
        if (strcmp(m->area, a->code) != 0)
            continue;
        Hall__MatterInfo *w = &pm->info[*used];
        hall__matter_info__init(w);
        w->code = wire_str(m->code);
        w->name = wire_str(m->name);
        w->name_en = wire_str(m->name_en);
        w->n_materials = m->nlines;
        w->materials = m->lines;
        pm->ptr[(*used)++] = w;
        as->n_matters++;
    }
}

/* Storage an AreaStatus points into while it is packed. */
struct area_wire {
    cal_state hours;
    uint32_t *nos;
};

static void wire_area_status(const hall *h, const q_area *a, Hall__AreaStatus *as,
                             struct area_wire *x, size_t cap, int64_t now)
{
    size_t waiting = queue_waiting(h->q, a->code), nserving;
    size_t open = open_windows(h, a->code, x->nos, cap, &nserving);

    area_hours(h, a->code, now, &x->hours);
    hall__area_status__init(as);
    as->area = wire_str(a->code);
    as->name = wire_str(a->name);
    as->prefix = wire_str(a->prefix);
    as->name_en = wire_str(a->name_en);
    as->waiting = (uint32_t)waiting;
    as->est_wait_s = (uint32_t)((int64_t)waiting * queue_service_estimate(h->q, a->code) /
                                (int64_t)(open ? open : 1) / 1000);
    as->retired = a->retired;
    as->closed = !x->hours.issuing;
    as->opens_zh = wire_str(x->hours.opens_zh);
    as->opens_en = wire_str(x->hours.opens_en);
    as->windows_open = (uint32_t)open;
    as->unstaffed_rule = unstaffed_rule(h, a->code);
    as->issue_unstaffed =
        !as->unstaffed_rule || calendar_issue_unstaffed(h->cal, a->code, h->issue_unstaffed);
    as->n_window_nos = nserving < cap ? nserving : cap;
    as->window_nos = x->nos;
}

static size_t count_areas(const hall *h)
{
    size_t n = 0;
    while (queue_area_at(h->q, n) != NULL)
        n++;
    return n;
}

static size_t count_windows(const hall *h)
{
    size_t n = 0;
    while (queue_window_at(h->q, n) != NULL)
        n++;
    return n;
}

/* Build a push into out: a snapshot (everything) or the turn's delta. */
static void build_push(hall *h, bool snapshot, uint64_t request_id, const struct call *calls,
                       size_t ncalls, buf *out)
{
    size_t nareas = count_areas(h);
    size_t nwin = snapshot ? count_windows(h) : h->nturn_windows;
    Hall__DisplayPush p = HALL__DISPLAY_PUSH__INIT;
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Call *wc = calloc(ncalls ? ncalls : 1, sizeof *wc);
    Hall__Call **pc = calloc(ncalls ? ncalls : 1, sizeof *pc);
    Hall__WindowStatus *ww = calloc(nwin ? nwin : 1, sizeof *ww);
    Hall__WindowStatus **pw = calloc(nwin ? nwin : 1, sizeof *pw);
    Hall__AreaStatus *wa = calloc(nareas ? nareas : 1, sizeof *wa);
    Hall__AreaStatus **pa = calloc(nareas ? nareas : 1, sizeof *pa);
    size_t nwall = count_windows(h) ? count_windows(h) : 1;
    struct area_wire *xa = calloc(nareas ? nareas : 1, sizeof *xa);
    uint32_t *nos = calloc((nareas ? nareas : 1) * nwall, sizeof *nos);
    int64_t now = clk_utc_ms();
    size_t ndev = h->ndevs ? h->ndevs : 1;
    Hall__DeviceHealth *wd = calloc(ndev, sizeof *wd);
    Hall__DeviceHealth **pd = calloc(ndev, sizeof *pd);
    Hall__ComponentStatus *wcs = calloc(ndev * HEALTH_COMPONENTS, sizeof *wcs);
    Hall__ComponentStatus **pcs = calloc(ndev * HEALTH_COMPONENTS, sizeof *pcs);
    /* Matters go with a snapshot and after the catalog was re-read. */
    bool matters = snapshot || h->matters_push;
    size_t nm = matters && h->matters.n ? h->matters.n : 1, mused = 0;
    struct push_matters pm = {calloc(nm, sizeof *pm.info), calloc(nm, sizeof *pm.ptr)};

    if (wc && pc && ww && pw && wa && pa && xa && nos && wd && pd && wcs && pcs && pm.info &&
        pm.ptr) {
        for (size_t i = 0; i < ncalls; i++) {
            wire_call(&calls[i], &wc[i]);
            pc[i] = &wc[i];
        }
        size_t n = 0;
        for (size_t i = 0; i < nwin; i++) {
            const q_window *w =
                snapshot ? queue_window_at(h->q, i) : queue_window(h->q, h->turn_windows[i]);
            if (w == NULL)
                continue;
            wire_window_status(h, w, &ww[n]);
            pw[n] = &ww[n];
            n++;
        }
        p.n_windows = n;
        p.windows = pw;
        if (snapshot || h->turn_areas) {
            n = 0;
            for (size_t i = 0; i < nareas; i++) {
                const q_area *a = queue_area_at(h->q, i);

                /* A retired area is shown only while tickets wait in it. */
                if (a->retired && queue_waiting(h->q, a->code) == 0)
                    continue;
                xa[n].nos = &nos[n * nwall];
                wire_area_status(h, a, &wa[n], &xa[n], nwall, now);
                if (matters)
                    wire_area_matters(h, a, &pm, &mused, &wa[n]);
                pa[n] = &wa[n];
                n++;
            }
            p.n_areas = n;
            p.areas = pa;
        }
        n = 0;
        for (size_t i = 0; i < h->ndevs; i++) {
            const struct devstate *e = &h->devs[i];

            if (e->since_ms == 0 || (!snapshot && !e->turn_changed))
                continue;
            hall__device_health__init(&wd[n]);
            wd[n].device_id = wire_str(e->id);
            /* A silent device's last report no longer stands: it cannot
             * issue, whatever it last said, and says why. */
            int ncomp = e->silent && e->ncomp == HEALTH_COMPONENTS ? e->ncomp - 1 : e->ncomp;
            wd[n].can_issue = e->can_issue && !e->silent;
            wd[n].since_ms = e->silent ? e->silent_ms : e->since_ms;
            wd[n].n_components = (size_t)ncomp + e->silent;
            wd[n].components = &pcs[i * HEALTH_COMPONENTS];
            for (int k = 0; k < ncomp + e->silent; k++) {
                Hall__ComponentStatus *c = &wcs[i * HEALTH_COMPONENTS + (size_t)k];

                hall__component_status__init(c);
                if (k == ncomp) {
                    c->name = wire_str("link");
                    c->state = wire_str("silent");
                    c->detail = wire_str("no heartbeat: missed several in a row");
                } else {
                    c->name = wire_str(e->comp[k].name);
                    c->state = wire_str(e->comp[k].state);
                    c->detail = wire_str(e->comp[k].detail);
                }
                pcs[i * HEALTH_COMPONENTS + (size_t)k] = c;
            }
            pd[n] = &wd[n];
            n++;
        }
        p.n_devices = n;
        p.devices = pd;
        p.alerts_seq = alerts_seq(h);
        p.seq = h->push_seq;
        p.snapshot = snapshot;
        p.n_calls = ncalls;
        p.calls = pc;
        env.request_id = request_id;
        env.body_case = HALL__ENVELOPE__BODY_DISPLAY_PUSH;
        env.display_push = &p;
        put_frame(out, &env);
    }
    free(wc);
    free(pc);
    free(ww);
    free(pw);
    free(wa);
    free(pa);
    free(xa);
    free(nos);
    free(wd);
    free(pd);
    free(wcs);
    free(pcs);
    free(pm.info);
    free(pm.ptr);
}

/* After a commit (or a turn that wrote nothing): remember the turn's
 * calls and make its push, if it changed anything shown. */
static void publish_turn(hall *h)
{
    struct call newest_first[HALL_PUSH_CALLS];
    int n = h->nturn_calls;
    bool health = false;

    /* A health change stays marked until a push carried it, even across a
     * turn that was lost. */
    for (size_t i = 0; i < h->ndevs; i++)
        health = health || h->devs[i].turn_changed;
    buf_clear(&h->push);
    h->turn_areas = h->turn_areas || h->matters_push;
    if (h->turn_areas)
        note_waiting_changes(h);
    if (n == 0 && h->nturn_windows == 0 && !h->turn_areas && !health && !alerts_turn_changed(h))
        return;
    for (int i = 0; i < n; i++) {
        newest_first[i] = h->turn_calls[n - 1 - i];
        h->recent[h->recent_head] = h->turn_calls[i];
        h->recent_head = (h->recent_head + 1) % HALL_RECENT_CALLS;
        if (h->nrecent < HALL_RECENT_CALLS)
            h->nrecent++;
    }
    h->push_seq++;
    build_push(h, false, 0, newest_first, (size_t)n, &h->push);
    h->matters_push = false;
    alerts_turn_reset(h);
    for (size_t i = 0; i < h->ndevs; i++)
        h->devs[i].turn_changed = false;
}

/* The turn's changes are lost: forget them — the answers kept in memory
 * this turn too — and reload what the store has. Answers kept in earlier
 * turns, refusals among them, stay. */
static void lose_turn(hall *h)
{
    char err[256];

    store_rollback(h->store);
    for (size_t i = 0; i < h->nkept; i++)
        replay_forget(h->replay, h->kept[i].device, h->kept[i].request_id);
    reset_turn(h);
    if (rebuild_engine(h, err, sizeof err) < 0) {
        /* The engine may now hold changes the store does not: nothing may
         * be answered from it any more (hall_broken). */
        log_error("cannot rebuild the hall after a lost turn: %s", err);
        h->broken = true;
    }
}

int hall_commit(hall *h)
{
    int rc = hall_commit_unsynced(h);

    if (rc == 1 && store_sync(h->store) < 0) {
        /* Committed but maybe not durable: nothing of it may be answered,
         * and the engine cannot be put back (see hall_sync). */
        log_error("cannot sync the store: %s", strerror(errno));
        h->broken = true;
        return -1;
    }
    return rc < 0 ? -1 : 0;
}

int hall_commit_unsynced(hall *h)
{
    /* The rules see the turn's changes in the same turn (at most every
     * ALERTS_EVAL_MS; the tick catches up). */
    if (h->in_turn && alerts_due(h))
        alerts_tick(h, clk_utc_ms());
    bool wrote = h->in_turn;

    buf_clear(&h->push);
    if (h->in_turn && store_commit_unsynced(h->store) < 0) {
        lose_turn(h);
        return -1;
    }
    publish_turn(h);
    reset_turn(h);
    return wrote ? 1 : 0;
}

int hall_sync(hall *h)
{
    return store_sync(h->store);
}

bool hall_broken(const hall *h)
{
    return h->broken;
}

const uint8_t *hall_push(const hall *h, size_t *len)
{
    *len = buf_rlen(&h->push);
    return *len ? buf_rdata(&h->push) : NULL;
}

void hall_snapshot(hall *h, uint64_t request_id, buf *out)
{
    struct call calls[HALL_RECENT_CALLS];
    int n = 0;

    for (int i = 1; i <= h->nrecent; i++)
        calls[n++] = h->recent[(h->recent_head - i + HALL_RECENT_CALLS) % HALL_RECENT_CALLS];
    build_push(h, true, request_id, calls, (size_t)n, out);
}

void hall_kept_stats(const hall *h, const char *device, size_t *entries, size_t *answers,
                     size_t *bytes)
{
    replay_stats st;

    replay_stats_of(h->replay, device, &st);
    *entries = st.entries;
    *answers = st.answers;
    *bytes = st.bytes;
}

/* ---- Timer work ------------------------------------------------------------------- */

int hall_tick(hall *h)
{
    int64_t now = clk_utc_ms(), due = queue_next_due(h->q);
    bool prune = now - h->last_prune_ms > HALL_PRUNE_MS;
    struct turn_mark mark;
    char why[300];

    /* Before the mark: a boundary's push is not undone with the timer
     * work's writes. */
    calendar_boundary(h, now);
    alerts_tick(h, now);
    mark = turn_mark(h);
    if (due != 0 && due > now && !prune)
        return 0;
    if (begin_turn(h) < 0 || store_savepoint(h->store) < 0)
        return -1;
    h->req_failed = false;
    h->requester = "";
    queue_tick(h->q, now);
    h->requester = NULL;
    record_numbering(h);
    if (prune) {
        h->last_prune_ms = now;
        close_log_windows(h);
        replay_prune(h->replay, now);
        if (store_prune_requests(h->store, now - HALL_REPLAY_MS) < 0)
            h->req_failed = true;
    }
    if (end_savepoint(h, &mark, why, sizeof why) < 0) {
        log_error("timer work: %s", why);
        return -1;
    }
    return 0;
}

/* ---- Supervision: alerts ------------------------------------------------------------
 *
 * The rules are supervise.c's; here they meet the hall. On every tick,
 * and at the end of a turn that changed tickets or windows (at most every
 * ALERTS_EVAL_MS of real time), a snapshot of the hall goes to
 * sv_evaluate, and its conditions are compared with the open alerts:
 * a new condition raises an alert, a higher level escalates it (same
 * alert, same id), an open alert whose condition no longer holds is
 * resolved by halld. A rating raises rating_bad; people acknowledge and
 * resolve by AlertAction. Every change is written in the turn: the alert
 * row, an event of the audit chain and, with a webhook, a delivery.
 * Open alerts are kept in memory and read again from the store whenever
 * the store undid something (rebuild_engine).
 */

#define ALERTS_EVAL_MS  500  /* real time between two evaluations */
#define ALERTS_COND_MAX 4096 /* conditions looked at in one evaluation */
#define ALERTS_OPEN_MAX 8192 /* open alerts at most; past it new ones wait */

struct alerts {
    sv_limits limits;
    char webhook[1001];
    int64_t max_pending, max_body, give_up_ms, timeout_ms;
    store_alert *open; /* raised or acknowledged */
    size_t nopen, capopen;
    uint64_t seq;     /* the last alert's seq */
    uint64_t changes; /* DisplayPush.alerts_seq */
    bool turn_changed;
    size_t pending; /* webhook deliveries waiting */
    bool full_logged;
    struct {
        uint32_t no;
        int64_t since_ms;
    } * win; /* each window's last change, hall time */
    size_t nwin, capwin;
    struct {
        char code[Q_CODE_MAX];
        int64_t opened_ms; /* 0 while closed */
    } * area;
    size_t narea, caparea;
    int64_t last_eval_mono;
    bool dirty; /* tickets or windows changed since the last evaluation */
    sv_condition *cond;
};

static int copy_limits(sv_limits *to, const sv_limits *from)
{
    sv_override *v = NULL;

    if (from->nover > 0) {
        if ((v = malloc(from->nover * sizeof *v)) == NULL)
            return -1;
        memcpy(v, from->over, from->nover * sizeof *v);
    }
    sv_limits_release(to);
    *to = *from;
    to->over = v;
    return 0;
}

static void alerts_settings(struct alerts *a, const struct halld_conf *c)
{
    snprintf(a->webhook, sizeof a->webhook, "%s", c->webhook);
    a->max_pending = c->webhook_max_pending;
    a->max_body = c->webhook_max_body;
    a->give_up_ms = c->webhook_give_up_ms;
    a->timeout_ms = c->webhook_timeout_ms;
}

static int add_open(void *arg, const store_alert *sa)
{
    struct alerts *a = arg;

    if (a->nopen == a->capopen) {
        size_t cap = a->capopen ? a->capopen * 2 : 32;
        store_alert *grown = realloc(a->open, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        a->open = grown;
        a->capopen = cap;
    }
    a->open[a->nopen++] = *sa;
    return 0;
}

static int alerts_load_open(hall *h)
{
    struct alerts *a = h->alerts;

    a->nopen = 0;
    return store_load_alerts(h->store, true, ALERTS_OPEN_MAX, add_open, a) != 0 ||
                   store_max_alert_seq(h->store, &a->seq) < 0 ||
                   store_count_deliveries(h->store, &a->pending) < 0
               ? -1
               : 0;
}

/* A device that was silent when halld stopped is silent still, as far as
 * a restarted halld knows: it is shown so, and its alert goes on with the
 * heartbeats it had missed (not counted again from zero) until the device
 * is heard. */
static void restore_silence(hall *h)
{
    struct alerts *a = h->alerts;
    sv_limit lim = sv_limit_for(&a->limits, SV_DEVICE_SILENT, "", 0);

    for (size_t i = 0; i < a->nopen; i++) {
        const store_alert *sa = &a->open[i];
        struct devstate *d;

        if (strcmp(sa->rule, sv_rule_name(SV_DEVICE_SILENT)) != 0 ||
            (d = devstate_of(h, sa->device)) == NULL)
            continue;
        int64_t missed = sa->level == SV_CRITICAL && lim.critical ? lim.critical : lim.warn;
        d->since_ms = d->silent_ms = sa->raised_ms;
        d->silent = true;
        d->heard_mono_ms = clk_mono_ms() - missed * h->heartbeat_interval_ms;
    }
}

static struct alerts *alerts_new(hall *h, const struct halld_conf *conf, char *err, size_t errlen)
{
    struct alerts *a = calloc(1, sizeof *a);

    if (a == NULL || (a->cond = calloc(ALERTS_COND_MAX, sizeof *a->cond)) == NULL ||
        copy_limits(&a->limits, &conf->sv) < 0) {
        snprintf(err, errlen, "out of memory");
        alerts_free(a);
        return NULL;
    }
    alerts_settings(a, conf);
    h->alerts = a;
    if (alerts_load_open(h) < 0 || store_alert_changes(h->store, &a->changes) < 0) {
        snprintf(err, errlen, "cannot read the alerts: %s", store_errmsg(h->store));
        h->alerts = NULL;
        alerts_free(a);
        return NULL;
    }
    restore_silence(h);
    return a;
}

static void alerts_free(struct alerts *a)
{
    if (a == NULL)
        return;
    sv_limits_release(&a->limits);
    free(a->open);
    free(a->win);
    free(a->area);
    free(a->cond);
    free(a);
}

static int alerts_reload(hall *h, const struct halld_conf *conf, char *err, size_t errlen)
{
    if (copy_limits(&h->alerts->limits, &conf->sv) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    alerts_settings(h->alerts, conf);
    return 0;
}

static uint64_t alerts_seq(const hall *h)
{
    return h->alerts ? h->alerts->changes : 0;
}

static void alerts_changed(hall *h)
{
    if (h->alerts != NULL)
        h->alerts->dirty = true;
}

static bool alerts_due(const hall *h)
{
    return h->alerts != NULL && h->alerts->dirty;
}

static bool alerts_turn_changed(const hall *h)
{
    return h->alerts && h->alerts->turn_changed;
}

static void alerts_turn_reset(hall *h)
{
    if (h->alerts)
        h->alerts->turn_changed = false;
}

/* Window no changed at hall time at. */
static void window_note(hall *h, uint32_t no, int64_t at)
{
    struct alerts *a = h->alerts;
    size_t i;

    if (a == NULL)
        return;
    for (i = 0; i < a->nwin && a->win[i].no != no; i++)
        ;
    if (i == a->nwin) {
        if (a->nwin == a->capwin) {
            size_t cap = a->capwin ? a->capwin * 2 : 16;
            void *grown = realloc(a->win, cap * sizeof a->win[0]);
            if (grown == NULL)
                return; /* counted from halld's start instead */
            a->win = grown;
            a->capwin = cap;
        }
        a->win[a->nwin++].no = no;
    }
    a->win[i].since_ms = at;
    a->dirty = true;
}

static void alerts_window_changed(hall *h, uint32_t no)
{
    if (h->alerts != NULL)
        window_note(h, no, clk_utc_ms());
}

static int64_t window_since(const hall *h, uint32_t no, int64_t fallback)
{
    for (size_t i = 0; i < h->alerts->nwin; i++)
        if (h->alerts->win[i].no == no)
            return h->alerts->win[i].since_ms;
    return fallback;
}

static void alerts_heard(hall *h, const char *device)
{
    struct devstate *d = devstate_of(h, device);

    if (d == NULL)
        return;
    d->heard_mono_ms = clk_mono_ms();
    if (d->silent) {
        d->silent = false;
        d->turn_changed = true;
        log_info("%s: heard again after its silence", device);
    }
}

/* ---- Writing a change ---- */

static int32_t today(const hall *h, int64_t now)
{
    return clk_date_key(clk_business_day(h->zone, now, h->policy.rollover_hour));
}

/* The JSON a webhook receives for one change of an alert. NULL when out
 * of memory. */
static char *webhook_body(const hall *h, const store_alert *sa)
{
    json_t *o = json_pack(
        "{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:s, s:s, s:s, "
        "s:I, s:I, s:s, s:s, s:I, s:s, s:s}",
        "id", sa->id, "seq", (json_int_t)sa->changes, "hall", h->hall_id, "hall_name", h->hall_name,
        "rule", sa->rule, "level", sv_level_name((sv_level)sa->level), "state",
        sv_state_name((sv_state)sa->state), "area", sa->area, "window_no", (int)sa->window_no,
        "ticket_id", (json_int_t)sa->ticket_id, "device", sa->device, "text_zh", sa->text_zh,
        "text_en", sa->text_en, "raised_ms", (json_int_t)sa->raised_ms, "updated_ms",
        (json_int_t)sa->updated_ms, "acked_by", sa->acked_by, "ack_note", sa->ack_note,
        "resolved_ms", (json_int_t)sa->resolved_ms, "resolved_by", sa->resolved_by, "resolve_note",
        sa->resolve_note);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    json_decref(o);
    return text;
}

/* Record one change of sa (already changed in memory): the row, the audit
 * event, the delivery. what: "raised", "escalated", ... by: who ("" for
 * halld's rules). -1 if the store failed (h->req_failed is set). */
static int record_change(hall *h, const store_alert *sa, const char *what, const char *by,
                         int64_t now)
{
    struct alerts *a = h->alerts;
    char line[600];

    snprintf(line, sizeof line, "alert %s %s: %s %s %s: %s", sa->id, what, sa->rule,
             sv_level_name((sv_level)sa->level), sa->subject, sa->text_en);
    if (store_put_alert(h->store, sa) < 0 ||
        store_append_alert_event(h->store, now, today(h, now), h->requester ? h->requester : "", by,
                                 line) < 0) {
        h->req_failed = true;
        return -1;
    }
    if (a->webhook[0] != '\0') {
        char *body = webhook_body(h, sa);

        if (body == NULL || (int64_t)strlen(body) > a->max_body) {
            log_warn("alert %s: its webhook body is %s; not delivered", sa->id,
                     body ? "over [supervise] webhook_max_body" : "out of memory");
        } else if ((int64_t)a->pending >= a->max_pending) {
            if (!a->full_logged)
                log_warn("webhook: %zu deliveries wait ([supervise] webhook_max_pending): "
                         "changes are not queued until the receiver takes some",
                         a->pending);
            a->full_logged = true;
        } else if (store_add_delivery(h->store, sa->id, sa->changes, body, now) < 0) {
            free(body);
            h->req_failed = true;
            return -1;
        } else {
            a->pending++;
            a->full_logged = false;
        }
        free(body);
    }
    a->changes++;
    a->turn_changed = true;
    log_info("%s", line);
    return 0;
}

static store_alert *find_open(struct alerts *a, const char *rule, const char *subject)
{
    for (size_t i = 0; i < a->nopen; i++)
        if (strcmp(a->open[i].rule, rule) == 0 && strcmp(a->open[i].subject, subject) == 0)
            return &a->open[i];
    return NULL;
}

static void drop_open(struct alerts *a, const store_alert *sa)
{
    size_t i = (size_t)(sa - a->open);

    assert(i < a->nopen);
    a->open[i] = a->open[--a->nopen];
}

/* Raise or escalate the alert of condition c. */
static void raise_condition(hall *h, const sv_condition *c, int64_t now)
{
    struct alerts *a = h->alerts;
    char subject[96], zh[256], en[256];
    store_alert *open, fresh;

    sv_subject_key(c, subject, sizeof subject);
    sv_text(c, zh, en, sizeof zh);
    if ((open = find_open(a, sv_rule_name(c->rule), subject)) != NULL) {
        if ((int)c->level <= open->level)
            return;
        store_alert was = *open;
        assert(sv_transition_ok((sv_state)open->state, (sv_state)open->state));
        open->level = (int)c->level;
        snprintf(open->text_zh, sizeof open->text_zh, "%s", zh);
        snprintf(open->text_en, sizeof open->text_en, "%s", en);
        open->updated_ms = now;
        open->changes++;
        if (record_change(h, open, "escalated", "", now) < 0)
            *open = was;
        return;
    }
    if (a->nopen >= ALERTS_OPEN_MAX)
        return;
    memset(&fresh, 0, sizeof fresh);
    fresh.seq = a->seq + 1;
    snprintf(fresh.id, sizeof fresh.id, "%s-%llu", h->hall_id, (unsigned long long)fresh.seq);
    snprintf(fresh.rule, sizeof fresh.rule, "%s", sv_rule_name(c->rule));
    snprintf(fresh.subject, sizeof fresh.subject, "%s", subject);
    fresh.level = (int)c->level;
    fresh.state = SV_RAISED;
    snprintf(fresh.area, sizeof fresh.area, "%s", c->area);
    fresh.window_no = c->window_no;
    fresh.ticket_id = c->ticket_id;
    snprintf(fresh.device, sizeof fresh.device, "%s", c->device);
    snprintf(fresh.text_zh, sizeof fresh.text_zh, "%s", zh);
    snprintf(fresh.text_en, sizeof fresh.text_en, "%s", en);
    fresh.raised_ms = fresh.updated_ms = now;
    fresh.changes = 1;
    if (record_change(h, &fresh, "raised", "", now) == 0 && add_open(a, &fresh) == 0)
        a->seq = fresh.seq;
}

/* Resolve an open alert: by a person (by, note) or by halld. */
static int resolve_alert(hall *h, store_alert *open, const char *by, const char *note, int64_t now)
{
    store_alert done = *open;

    assert(sv_transition_ok((sv_state)done.state, SV_RESOLVED));
    done.state = SV_RESOLVED;
    done.resolved_ms = done.updated_ms = now;
    snprintf(done.resolved_by, sizeof done.resolved_by, "%s", by[0] ? by : "halld");
    snprintf(done.resolve_note, sizeof done.resolve_note, "%s", note);
    done.changes++;
    if (record_change(h, &done, "resolved", by, now) < 0)
        return -1;
    drop_open(h->alerts, open);
    return 0;
}

/* ---- The snapshot ---- */

struct oldest {
    sv_area *areas;
    size_t n;
};

static int take_oldest(void *arg, const char *area, uint64_t id, int64_t issued_ms)
{
    struct oldest *x = arg;

    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->areas[i].code, area) == 0) {
            x->areas[i].oldest_ticket = id;
            x->areas[i].oldest_ms = issued_ms;
        }
    return 0;
}

/* When area was seen to open (hall time), kept from tick to tick. */
static int64_t area_opened(hall *h, const char *code, bool open, int64_t now)
{
    struct alerts *a = h->alerts;
    size_t i;

    for (i = 0; i < a->narea && strcmp(a->area[i].code, code) != 0; i++)
        ;
    if (i == a->narea) {
        if (a->narea == a->caparea) {
            size_t cap = a->caparea ? a->caparea * 2 : 16;
            void *grown = realloc(a->area, cap * sizeof a->area[0]);
            if (grown == NULL)
                return 0;
            a->area = grown;
            a->caparea = cap;
        }
        snprintf(a->area[i].code, sizeof a->area[i].code, "%s", code);
        a->area[i].opened_ms = 0;
        a->narea++;
    }
    if (!open)
        a->area[i].opened_ms = 0;
    else if (a->area[i].opened_ms == 0)
        a->area[i].opened_ms = now;
    return a->area[i].opened_ms;
}

static bool comp_is(const struct devstate *d, const char *name, const char *state)
{
    for (int k = 0; k < d->ncomp; k++)
        if (strcmp(d->comp[k].name, name) == 0 &&
            (state == NULL || strcmp(d->comp[k].state, state) == 0))
            return true;
    return false;
}

static void device_snapshot(hall *h, struct devstate *d, sv_device *out, int64_t mono, int64_t now)
{
    int64_t missed = d->heard_mono_ms != 0 && h->heartbeat_interval_ms > 0
                         ? (mono - d->heard_mono_ms) / h->heartbeat_interval_ms
                         : 0;
    sv_limit silent = sv_limit_for(&h->alerts->limits, SV_DEVICE_SILENT, "", 0);
    int64_t at = silent.warn ? silent.warn : silent.critical;

    memset(out, 0, sizeof *out);
    out->id = d->id;
    out->reported = true;
    out->paper_low = comp_is(d, "printer", "near_end") || comp_is(d, "printer", "paper_low");
    out->paper_out = comp_is(d, "printer", "paper_out");
    out->cover_open = comp_is(d, "printer", "cover_open");
    out->printer_offline = comp_is(d, "printer", "offline");
    out->reader_fault = comp_is(d, "reader", "offline") || comp_is(d, "reader", "fault");
    out->bus_fault = comp_is(d, "bus", "degraded") || comp_is(d, "bus", "suspect") ||
                     comp_is(d, "bus", "offline");
    out->missed = missed;
    /* Health reflects the silence as soon as the first level is reached. */
    if (at > 0 && missed >= at && !d->silent) {
        d->silent = true;
        d->silent_ms = now;
        d->turn_changed = true;
        log_warn("%s: silent: %lld heartbeats missed", d->id, (long long)missed);
    }
}

/* A device named by an alert that halld has heard nothing of since it
 * started: its alert stays as it is until the device reports. */
static bool device_unknown(hall *h, const char *device)
{
    if (device[0] == '\0')
        return false;
    for (size_t i = 0; i < h->ndevs; i++)
        if (strcmp(h->devs[i].id, device) == 0)
            return h->devs[i].since_ms == 0;
    return true;
}

/* The conditions that hold now, into h->alerts->cond: how many, or -1 if
 * the hall could not be read. Reads only (no transaction needed). */
static long collect(hall *h, int64_t now)
{
    struct alerts *a = h->alerts;
    size_t nareas = count_areas(h), nwin = count_windows(h);
    long n = -1;
    sv_area *areas = calloc(nareas ? nareas : 1, sizeof *areas);
    sv_window *wins = calloc(nwin ? nwin : 1, sizeof *wins);
    const char **codes = calloc((nwin ? nwin : 1) * Q_MAX_AREAS_PER_WINDOW, sizeof *codes);
    sv_device *devs = calloc(h->ndevs ? h->ndevs : 1, sizeof *devs);
    int64_t mono = clk_mono_ms();
    size_t ndev = 0;

    if (areas == NULL || wins == NULL || codes == NULL || devs == NULL)
        goto out;
    for (size_t i = 0; i < nareas; i++) {
        const q_area *qa = queue_area_at(h->q, i);
        cal_state st;

        area_hours(h, qa->code, now, &st);
        areas[i].code = qa->code;
        areas[i].waiting = queue_waiting(h->q, qa->code);
        areas[i].windows_open = open_windows(h, qa->code, NULL, 0, NULL);
        areas[i].open_hours = st.issuing && !qa->retired;
        /* An opening is known only where the hall keeps a calendar. */
        areas[i].opened_ms = area_opened(h, qa->code, areas[i].open_hours, now);
        if (!calendar_configured(h->cal))
            areas[i].opened_ms = 0;
    }
    struct oldest x = {areas, nareas};
    if (store_oldest_waiting(h->store, take_oldest, &x) != 0) {
        log_warn("supervision: %s", store_errmsg(h->store));
        goto out;
    }
    for (size_t i = 0; i < nwin; i++) {
        const q_window *w = queue_window_at(h->q, i);
        const q_ticket *t = w->current ? queue_ticket(h->q, w->current) : NULL;
        const char **mine = &codes[i * Q_MAX_AREAS_PER_WINDOW];

        for (int k = 0; k < w->nareas; k++)
            mine[k] = w->areas[k];
        wins[i] = (sv_window){.no = w->no,
                              .state = w->state,
                              .since_ms = window_since(h, w->no, now),
                              .has_clerk = w->clerk[0] != '\0',
                              .ticket = t ? t->id : 0,
                              .ticket_since_ms = t ? t->state_ms : 0,
                              .areas = mine,
                              .nareas = w->nareas};
        /* A window seen for the first time counts from now. */
        if (window_since(h, w->no, 0) == 0)
            window_note(h, w->no, now);
    }
    for (size_t i = 0; i < h->ndevs; i++)
        if (h->devs[i].since_ms != 0)
            device_snapshot(h, &h->devs[i], &devs[ndev++], mono, now);
    sv_hall hall_now = {.now = now,
                        .areas = areas,
                        .nareas = nareas,
                        .windows = wins,
                        .nwindows = nwin,
                        .devices = devs,
                        .ndevices = ndev};
    size_t got = sv_evaluate(&hall_now, &a->limits, a->cond, ALERTS_COND_MAX);
    n = (long)(got > ALERTS_COND_MAX ? ALERTS_COND_MAX : got);
out:
    free(areas);
    free(wins);
    free(codes);
    free(devs);
    return n;
}

/* The alert changes the n conditions call for: made (dry false), or only
 * counted (dry true). */
static size_t apply(hall *h, size_t n, int64_t now, bool dry)
{
    struct alerts *a = h->alerts;
    size_t changes = 0;

    for (size_t i = 0; i < n && !h->req_failed; i++) {
        const sv_condition *c = &a->cond[i];
        char subject[96];

        sv_subject_key(c, subject, sizeof subject);
        const store_alert *open = find_open(a, sv_rule_name(c->rule), subject);
        if (open != NULL ? (int)c->level <= open->level : a->nopen >= ALERTS_OPEN_MAX)
            continue;
        changes++;
        if (!dry)
            raise_condition(h, c, now);
    }
    /* What no longer holds is resolved (rating_bad only by hand). */
    for (size_t i = a->nopen; i-- > 0 && !h->req_failed;) {
        store_alert *open = &a->open[i];
        bool holds =
            strcmp(open->rule, sv_rule_name(SV_RATING_BAD)) == 0 || device_unknown(h, open->device);
        for (size_t k = 0; k < n && !holds; k++) {
            char subject[96];
            sv_subject_key(&a->cond[k], subject, sizeof subject);
            holds = strcmp(sv_rule_name(a->cond[k].rule), open->rule) == 0 &&
                    strcmp(subject, open->subject) == 0;
        }
        if (holds)
            continue;
        changes++;
        if (!dry)
            resolve_alert(h, open, "", "", now);
    }
    return changes;
}

/* Evaluate the rules; the changes they call for are made in a savepoint
 * of the turn (a store failure undoes them only, and the open alerts are
 * read again). An evaluation that changes nothing opens no transaction:
 * an idle hall commits nothing. */
static void alerts_tick(hall *h, int64_t now)
{
    struct alerts *a = h->alerts;
    struct turn_mark mark;
    int64_t mono = clk_mono_ms();
    char why[300];

    if (a == NULL || h->broken || mono - a->last_eval_mono < ALERTS_EVAL_MS)
        return;
    a->last_eval_mono = mono;
    a->dirty = false;
    long n = collect(h, now);
    if (n < 0 || apply(h, (size_t)n, now, true) == 0)
        return;
    mark = turn_mark(h);
    if (begin_turn(h) < 0 || store_savepoint(h->store) < 0) {
        log_error("supervision: %s", store_errmsg(h->store));
        return;
    }
    h->req_failed = false;
    h->requester = "";
    apply(h, (size_t)n, now, false);
    h->requester = NULL;
    if (end_savepoint(h, &mark, why, sizeof why) < 0)
        log_error("supervision: %s", why);
}

static void alerts_rated(hall *h, const q_ticket *t, int64_t now)
{
    sv_condition c;

    if (h->alerts != NULL &&
        sv_rating(&h->alerts->limits, t->area, t->served_window, t->id, t->rating, &c))
        raise_condition(h, &c, now);
}

/* ---- People's actions ---- */

static void do_alert_action(hall *h, const hall_device *dev, const Hall__Envelope *req,
                            struct outcome *o, int64_t now)
{
    const Hall__AlertAction *m = req->alert_action;
    struct alerts *a = h->alerts;
    const char *by = strncmp(dev->id, "web:", 4) == 0 ? dev->id + 4 : dev->id;
    const char *note = m->note ? m->note : "";
    store_alert *open = NULL, *sa, was;

    if (m->alert_id[0] == '\0' || strlen(m->alert_id) >= sizeof was.id ||
        !audit_text_ok(m->alert_id, sizeof was.id - 1) || !audit_text_ok(note, 255) ||
        (m->action != HALL__ALERT_ACTION__ACTION__ACK &&
         m->action != HALL__ALERT_ACTION__ACTION__RESOLVE)) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST,
               "ALERT_ACTION needs an alert_id, an action (ACK or RESOLVE) and a note of at most "
               "255 bytes without control characters");
        return;
    }
    for (size_t i = 0; i < a->nopen && open == NULL; i++)
        if (strcmp(a->open[i].id, m->alert_id) == 0)
            open = &a->open[i];
    if (open == NULL) {
        store_alert closed;
        int found = store_get_alert(h->store, m->alert_id, &closed);
        if (found < 0) {
            refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "cannot read the alerts: %s",
                   store_errmsg(h->store));
            return;
        }
        if (found == 0)
            refuse(o, HALL__ERROR_CODE__ERR_NOT_FOUND, "no alert %s", m->alert_id);
        else
            refuse(o, HALL__ERROR_CODE__ERR_ILLEGAL_STATE, "alert %s is already resolved (by %s)",
                   m->alert_id, closed.resolved_by);
        return;
    }
    if (m->action == HALL__ALERT_ACTION__ACTION__ACK) {
        if (open->state != SV_RAISED) {
            refuse(o, HALL__ERROR_CODE__ERR_ILLEGAL_STATE, "alert %s is already acknowledged by %s",
                   open->id, open->acked_by);
            return;
        }
        was = *open;
        assert(sv_transition_ok((sv_state)open->state, SV_ACKNOWLEDGED));
        open->state = SV_ACKNOWLEDGED;
        snprintf(open->acked_by, sizeof open->acked_by, "%s", by);
        snprintf(open->ack_note, sizeof open->ack_note, "%s", note);
        open->updated_ms = now;
        open->changes++;
        if (record_change(h, open, "acknowledged", by, now) < 0) {
            *open = was;
            refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "cannot record the alert: %s",
                   store_errmsg(h->store));
            return;
        }
        sa = open;
    } else {
        was = *open;
        if (resolve_alert(h, open, by, note, now) < 0) {
            refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "cannot record the alert: %s",
                   store_errmsg(h->store));
            return;
        }
        was.state = SV_RESOLVED;
        sa = &was;
    }
    hall__alert_reply__init(&o->r.alert);
    snprintf(o->reason, sizeof o->reason, "%s", sa->id);
    o->r.alert.alert_id = o->reason;
    o->r.alert.state = wire_str(sv_state_name((sv_state)sa->state));
    o->r.alert.level = wire_str(sv_level_name((sv_level)sa->level));
    o->env.body_case = HALL__ENVELOPE__BODY_ALERT_REPLY;
    o->env.alert_reply = &o->r.alert;
}

/* ---- Webhook deliveries (the daemon's webhook thread sends them) ---- */

void hall_webhook_settings(const hall *h, hall_webhook *out)
{
    const struct alerts *a = h->alerts;

    snprintf(out->url, sizeof out->url, "%s", a->webhook);
    out->timeout_ms = a->timeout_ms;
    out->give_up_ms = a->give_up_ms;
}

int hall_webhook_next(hall *h, store_delivery *out)
{
    /* Only what is committed: a change of the open turn may still be
     * undone. */
    if (h->in_turn || h->broken)
        return 0;
    return store_next_delivery(h->store, 0, out);
}

int hall_webhook_drop(hall *h, uint64_t id)
{
    struct turn_mark mark = turn_mark(h);
    char why[300];

    if (begin_turn(h) < 0 || store_savepoint(h->store) < 0)
        return -1;
    h->req_failed = false;
    if (store_drop_delivery(h->store, id) < 0)
        h->req_failed = true;
    if (end_savepoint(h, &mark, why, sizeof why) < 0) {
        log_error("webhook: %s", why);
        return -1;
    }
    if (h->alerts->pending > 0)
        h->alerts->pending--;
    return 0;
}
