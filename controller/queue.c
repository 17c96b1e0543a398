/*
 * queue — the hall's in-memory queue engine; queue.h is the contract (ticket
 * life, allocation, numbering). This file is laid out as:
 *
 *   1. records and indexes: ticket records in a chained hash map by id (and
 *      a second map for offline numbers), binary min-heaps of ticket
 *      pointers with the heap position kept in the record, so that any
 *      ticket leaves its heap in O(log n);
 *   2. the invariants (assert_ticket, assert_window), run on the touched
 *      ticket and window at the end of every mutating call;
 *   3. set-up and restore, requests, time-driven work, reading.
 *
 * Every request is written in two phases: validate everything and reserve
 * any memory the change needs (a heap slot, a record), then change, journal
 * and assert. A refusal therefore leaves the engine exactly as it was.
 *
 * Where a ticket lives, by state:
 *
 *   RESERVED    the reservation heap (by reserved_until), expired by tick;
 *   WAITING     exactly one queue heap: its target window's transfer heap,
 *               or its area's green / normal / appointment heap;
 *   CALLED,     no heap; its window's current ticket;
 *   SERVING
 *   HOLD        no heap; window_no names the window that parked it;
 *   NO_SHOW     the no-show heap (by state_ms) while it may rejoin; final
 *               once its rejoin time ends;
 *   DONE, VOID, final: no heap, no window.
 *   CANCELLED
 *
 * What is kept: every live ticket, and final tickets for the rest of the
 * business day in which they ended and the whole day after, so that late
 * requests about them are refused with their state named and an offline
 * upload retried across a rollover still finds its ticket; the rollover
 * drops older ones. Leases are kept for today and yesterday (the only days
 * an offline ticket may belong to). Per area: the online and lease
 * counters of the two latest business days, and a ring of the last
 * SERVICE_RING service durations for estimates. Memory is therefore bounded
 * by the live tickets plus two days of traffic, however long halld runs.
 */
#include "queue.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE_RING       50
#define DEFAULT_SERVICE_MS (5 * 60 * 1000)
/* How far before its lease's grant an offline ticket's issue time may lie:
 * what a kiosk's corrected clock can be off by after a long outage (the
 * round trip it measured the offset over, plus crystal drift), far below
 * anything worth cheating for. */
#define OFFLINE_BACKDATE_SLACK_MS (60 * 1000)
#define MAX_WEIGHT                1000
#define MAX_POLICY_MS             (30LL * 24 * 3600 * 1000)
#define MAX_WAIT_MS               (10000LL * 24 * 3600 * 1000) /* keeps scores far from overflow */
#define PREFIX_MAX                5 /* 5 letters + 10 digits fit a number */
#define CLERK_MAX                 (Q_CODE_MAX + 16)

#define BIT(s) (1u << (s))

/* ---- 1. Records and indexes ---------------------------------------------- */

enum heap_kind {
    HK_ISSUED,  /* green, normal, transfers: (issued_ms, id) */
    HK_SLOT,    /* appointments: (appointment_ms, issued_ms, id) */
    HK_RESERVE, /* reservations: (reserved_until_ms, id) */
    HK_NOSHOW,  /* open no-shows: (state_ms, id) */
};

struct tk;

struct heap {
    struct tk **v;
    size_t n, cap;
    enum heap_kind kind;
    int64_t maxkey; /* no key present is larger (for estimates) */
};

struct tk {
    q_ticket t;
    size_t ai;             /* index of its area in queue.areas */
    size_t nai;            /* index of the area that numbered it (transfers keep
                              the number, not the area) */
    struct heap *heap;     /* the heap holding it, NULL if none */
    size_t hidx;           /* its index in that heap */
    bool final;            /* ended: kept only for the retention time */
    bool called;           /* called at least once (the next call is not its first) */
    int32_t final_day;     /* business day in which it ended */
    struct tk *chain[2];   /* MAP_ID and MAP_OFFLINE bucket chains */
    struct tk *next_final; /* the retention list */
};

/* Numbering state of one area on one business day. */
struct daynum {
    int32_t day; /* 0: unused slot */
    uint32_t next_online;
    uint32_t next_lease; /* first number of the next lease block */
};

struct area {
    q_area a;
    struct heap green, normal, appt;
    struct daynum days[2]; /* the two latest business days */
    int64_t service[SERVICE_RING];
    unsigned nservice, service_pos;
};

struct window {
    q_window w;
    size_t ai[Q_MAX_AREAS_PER_WINDOW]; /* w.areas resolved */
    struct heap transfers;
};

enum { MAP_ID, MAP_OFFLINE };

struct map {
    struct tk **b;
    size_t nb, n; /* nb: a power of two */
    int which;
};

struct queue {
    q_policy pol;
    const clk_zone *zone;
    q_journal j;
    struct area **areas;
    size_t nareas, capareas;
    struct window **windows;
    size_t nwindows, capwindows;
    struct map ids, offline;
    struct heap reserved, noshow;
    struct tk *final_head;
    q_lease *leases;
    size_t nleases, capleases;
    uint64_t next_id, next_lease_id;
    int32_t day;              /* business day the rollover has reached; 0 unknown */
    int64_t next_rollover_ms; /* 0: never ticked */
    unsigned fail_after;      /* fault injection: this allocation fails; 0 none */
    bool numbering_pending;   /* next_numbering's numbering starts at the next rollover */
    q_policy next_numbering;
};

/* Fault injection: true when this allocation is the one to fail. */
static bool alloc_fails(queue *q)
{
    return q->fail_after != 0 && --q->fail_after == 0;
}

static void *q_calloc(queue *q, size_t n, size_t size)
{
    return alloc_fails(q) ? NULL : calloc(n, size);
}

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static uint64_t offline_key(size_t ai, int32_t day, uint32_t seq)
{
    return mix((uint64_t)ai * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uint32_t)day << 32 ^ seq);
}

static uint64_t map_key(const struct map *m, const struct tk *r)
{
    return m->which == MAP_ID ? mix(r->t.id) : offline_key(r->nai, r->t.day, r->t.seq);
}

static int map_init(struct map *m, int which)
{
    m->which = which;
    m->n = 0;
    m->b = calloc(64, sizeof *m->b);
    m->nb = m->b != NULL ? 64 : 0;
    return m->b != NULL ? 0 : -1;
}

/* Doubles the bucket array when the chains get long. A failed growth is
 * harmless (chains just stay longer), so inserting never fails. */
static void map_grow(struct map *m)
{
    size_t nb = m->nb * 2;
    struct tk **b = calloc(nb, sizeof *b);

    if (b == NULL)
        return;
    for (size_t i = 0; i < m->nb; i++) {
        struct tk *r = m->b[i], *next;

        for (; r != NULL; r = next) {
            size_t h = map_key(m, r) & (nb - 1);

            next = r->chain[m->which];
            r->chain[m->which] = b[h];
            b[h] = r;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

static void map_insert(struct map *m, struct tk *r)
{
    size_t h;

    if (m->n >= m->nb)
        map_grow(m);
    h = map_key(m, r) & (m->nb - 1);
    r->chain[m->which] = m->b[h];
    m->b[h] = r;
    m->n++;
}

static void map_remove(struct map *m, struct tk *r)
{
    struct tk **p = &m->b[map_key(m, r) & (m->nb - 1)];

    while (*p != r) {
        assert(*p != NULL);
        p = &(*p)->chain[m->which];
    }
    *p = r->chain[m->which];
    m->n--;
}

static struct tk *find_id(const queue *q, uint64_t id)
{
    struct tk *r = q->ids.b[mix(id) & (q->ids.nb - 1)];

    while (r != NULL && r->t.id != id)
        r = r->chain[MAP_ID];
    return r;
}

static struct tk *find_offline(const queue *q, size_t nai, int32_t day, uint32_t seq)
{
    struct tk *r = q->offline.b[offline_key(nai, day, seq) & (q->offline.nb - 1)];

    while (r != NULL && !(r->nai == nai && r->t.day == day && r->t.seq == seq))
        r = r->chain[MAP_OFFLINE];
    return r;
}

static int64_t heap_key(const struct heap *h, const struct tk *r)
{
    switch (h->kind) {
    case HK_ISSUED:
        return r->t.issued_ms;
    case HK_SLOT:
        return r->t.appointment_ms;
    case HK_RESERVE:
        return r->t.reserved_until_ms;
    case HK_NOSHOW:
        return r->t.state_ms;
    }
    return 0;
}

/* Heap order: the primary key, then (appointments) the issue time, then the
 * id, so that ties always go to the older ticket. */
static bool heap_before(const struct heap *h, const struct tk *a, const struct tk *b)
{
    int64_t ka = heap_key(h, a), kb = heap_key(h, b);

    if (ka != kb)
        return ka < kb;
    if (h->kind == HK_SLOT && a->t.issued_ms != b->t.issued_ms)
        return a->t.issued_ms < b->t.issued_ms;
    return a->t.id < b->t.id;
}

static void heap_init(struct heap *h, enum heap_kind kind)
{
    memset(h, 0, sizeof *h);
    h->kind = kind;
}

/* Room for want entries; the only step of a heap insert that can fail, so
 * requests call it while validating. */
static int heap_reserve(queue *q, struct heap *h, size_t want)
{
    size_t cap = h->cap != 0 ? h->cap : 16;
    struct tk **v;

    if (want <= h->cap)
        return 0;
    while (cap < want)
        cap *= 2;
    v = alloc_fails(q) ? NULL : realloc(h->v, cap * sizeof *v);
    if (v == NULL)
        return -1;
    h->v = v;
    h->cap = cap;
    return 0;
}

static void heap_set(struct heap *h, size_t i, struct tk *r)
{
    h->v[i] = r;
    r->hidx = i;
}

static void sift_up(struct heap *h, size_t i)
{
    struct tk *r = h->v[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;

        if (!heap_before(h, r, h->v[p]))
            break;
        heap_set(h, i, h->v[p]);
        i = p;
    }
    heap_set(h, i, r);
}

static void sift_down(struct heap *h, size_t i)
{
    struct tk *r = h->v[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= h->n)
            break;
        if (c + 1 < h->n && heap_before(h, h->v[c + 1], h->v[c]))
            c++;
        if (!heap_before(h, h->v[c], r))
            break;
        heap_set(h, i, h->v[c]);
        i = c;
    }
    heap_set(h, i, r);
}

static void heap_push(struct heap *h, struct tk *r)
{
    int64_t k = heap_key(h, r);

    assert(r->heap == NULL && h->n < h->cap);
    h->maxkey = h->n == 0 || k > h->maxkey ? k : h->maxkey;
    r->heap = h;
    h->v[h->n++] = r;
    sift_up(h, h->n - 1);
}

static void heap_remove(struct tk *r)
{
    struct heap *h = r->heap;
    size_t i = r->hidx;

    assert(h != NULL && i < h->n && h->v[i] == r);
    h->n--;
    if (i < h->n) {
        heap_set(h, i, h->v[h->n]);
        sift_down(h, i);
        sift_up(h, i);
    }
    r->heap = NULL;
}

static struct tk *heap_top(const struct heap *h)
{
    return h->n > 0 ? h->v[0] : NULL;
}

/* How many tickets of h have a primary key below key, assuming keys spread
 * evenly between the head's and maxkey: exact at both ends, O(1). */
static size_t heap_est_below(const struct heap *h, int64_t key)
{
    int64_t lo, hi;

    if (h->n == 0)
        return 0;
    lo = heap_key(h, h->v[0]);
    hi = h->maxkey;
    if (key <= lo)
        return 0;
    if (key > hi)
        return h->n;
    return (size_t)((double)h->n * ((double)key - (double)lo) / ((double)hi - (double)lo + 1));
}

/* ---- Small helpers -------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int fail(q_error *err, q_errcode code, const char *fmt,
                                                      ...)
{
    va_list ap;

    if (err != NULL) {
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void err_clear(q_error *err)
{
    if (err != NULL) {
        err->code = QERR_NONE;
        err->message[0] = '\0';
    }
}

static int nomem(q_error *err)
{
    return fail(err, QERR_NOMEM, "out of memory");
}

/* s is a string of fewer than cap bytes. */
static bool fits(const char *s, size_t cap)
{
    return s != NULL && strnlen(s, cap) < cap;
}

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static const char *opt(const char *s)
{
    return s != NULL ? s : "";
}

static int32_t bday(const queue *q, int64_t ms)
{
    return clk_date_key(clk_business_day(q->zone, ms, q->pol.rollover_hour));
}

/* The calendar day before a yyyymmdd key. */
static int32_t day_before(int32_t key)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = key / 10000, m = key / 100 % 100, d = key % 100;

    if (--d == 0) {
        if (--m == 0) {
            m = 12;
            y--;
        }
        d = mdays[m - 1] + (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
    }
    return y * 10000 + m * 100 + d;
}

/* "45s", "3m12s", "12m", "1h05m": a wait as people read it. */
static void fmt_dur(char *out, size_t len, int64_t ms)
{
    int64_t s = ms > 0 ? ms / 1000 : 0;

    if (s < 60)
        snprintf(out, len, "%llds", (long long)s);
    else if (s < 3600 && s % 60 == 0)
        snprintf(out, len, "%lldm", (long long)(s / 60));
    else if (s < 3600)
        snprintf(out, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(out, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
}

/* "10:30", hall-local. */
static void fmt_hhmm(const queue *q, char *out, size_t len, int64_t ms)
{
    clk_civil c;

    clk_to_civil(q->zone, ms, &c);
    snprintf(out, len, "%02d:%02d", c.hour, c.minute);
}

static int64_t weighted(uint32_t weight, int64_t dt)
{
    if (dt > MAX_WAIT_MS)
        dt = MAX_WAIT_MS;
    if (dt < -MAX_WAIT_MS)
        dt = -MAX_WAIT_MS;
    return (int64_t)weight * dt;
}

static struct area *area_find(const queue *q, const char *code, size_t *ai)
{
    for (size_t i = 0; i < q->nareas; i++)
        if (strcmp(q->areas[i]->a.code, code) == 0) {
            if (ai != NULL)
                *ai = i;
            return q->areas[i];
        }
    return NULL;
}

/* The named area, or the general intake area for NULL or "". A retired
 * area is refused for new tickets (offered), found for tickets it already
 * numbered (!offered). */
static struct area *area_pick(const queue *q, const char *code, bool offered, size_t *ai,
                              q_error *err)
{
    struct area *a;

    if (code != NULL && *code != '\0') {
        a = area_find(q, code, ai);
        if (a == NULL)
            fail(err, QERR_NOT_FOUND, "no area %.*s", Q_CODE_MAX, code);
        else if (offered && a->a.retired) {
            fail(err, QERR_NOT_FOUND, "area %s is no longer offered (retired from the catalog)",
                 a->a.code);
            return NULL;
        }
        return a;
    }
    for (size_t i = 0; i < q->nareas; i++)
        if (q->areas[i]->a.general && !q->areas[i]->a.retired) {
            *ai = i;
            return q->areas[i];
        }
    fail(err, QERR_NOT_FOUND, "no general intake area");
    return NULL;
}

static struct window *window_find(const queue *q, uint32_t no)
{
    for (size_t i = 0; i < q->nwindows; i++)
        if (q->windows[i]->w.no == no)
            return q->windows[i];
    return NULL;
}

/* The heap a WAITING ticket of area ai, priority p and target window lives
 * in. */
static struct heap *wait_heap(const queue *q, size_t ai, q_priority p, uint32_t target)
{
    struct area *a = q->areas[ai];

    if (target != 0)
        return &window_find(q, target)->transfers;
    return p == Q_GREEN ? &a->green : p == Q_APPOINTMENT ? &a->appt : &a->normal;
}

/* Numbering state of area a for day; a new slot replaces the older day if
 * create, or if day is newer than it (restores never evict newer days). */
static struct daynum *daynum(queue *q, struct area *a, int32_t day, bool create)
{
    struct daynum *old = &a->days[0];

    for (int i = 0; i < 2; i++)
        if (a->days[i].day == day)
            return &a->days[i];
    if (a->days[1].day < old->day)
        old = &a->days[1];
    if (!create && day < old->day)
        return NULL;
    old->day = day;
    old->next_online = 1;
    old->next_lease = q->pol.lease_first;
    return old;
}

/* The online sequence jumps over the lease band. */
static uint32_t skip_band(const queue *q, uint32_t n)
{
    uint64_t end = (uint64_t)q->pol.lease_first + q->pol.lease_band;

    return n >= q->pol.lease_first && n < end ? (uint32_t)end : n;
}

static void format_number(const queue *q, const struct area *a, uint32_t seq, char *out)
{
    snprintf(out, Q_NUMBER_MAX, "%s%0*u", a->a.prefix, (int)q->pol.number_digits, seq);
}

static const char *clerk_of(const struct window *w)
{
    return w != NULL ? w->w.clerk : "";
}

/* ---- Journal -------------------------------------------------------------- */

static void j_ticket(const queue *q, const struct tk *r)
{
    if (q->j.ticket != NULL)
        q->j.ticket(q->j.ctx, &r->t);
}

static void j_window(const queue *q, const struct window *w)
{
    if (q->j.window != NULL)
        q->j.window(q->j.ctx, &w->w);
}

/* What an event says beyond its kind, for statistics (q_event): the
 * facts only the caller knows; the rest is read off the ticket. */
struct facts {
    const char *area; /* NULL: the ticket's */
    int64_t duration_ms;
    const char *reason; /* NULL: by kind, below */
};

static const char *priority_code(q_priority p)
{
    return p == Q_GREEN ? "green" : p == Q_APPOINTMENT ? "appointment" : "normal";
}

/* A pause reason is kept as a code only when it is one: short, of
 * [a-z0-9_-]; free text becomes "other". */
static const char *pause_code(const char *detail)
{
    size_t n = strlen(detail);

    if (n == 0)
        return "";
    return n < Q_EVENT_REASON_MAX && strspn(detail, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n
               ? detail
               : "other";
}

static void j_event_facts(const queue *q, q_event_kind kind, int64_t now, uint64_t ticket_id,
                          uint32_t window_no, const char *clerk, const char *detail,
                          const struct facts *f)
{
    const struct tk *r = ticket_id != 0 ? find_id(q, ticket_id) : NULL;
    q_event e = {
        .kind = kind,
        .at_ms = now,
        .day = bday(q, now),
        .ticket_id = ticket_id,
        .window_no = window_no,
        .clerk = opt(clerk),
        .detail = opt(detail),
        .area = r != NULL ? r->t.area : "",
        .matter = r != NULL ? r->t.matter : "",
        .reason = "",
    };

    if (r != NULL) {
        if (kind == QE_ISSUED || kind == QE_OFFLINE_JOINED)
            e.reason = priority_code(r->t.priority);
        else if (kind == QE_CANCELLED)
            e.reason = window_no == 0 ? "hall" : "window";
        else if (kind == QE_RATED)
            e.rating = r->t.rating;
        if (kind == QE_CANCELLED || kind == QE_NO_SHOW)
            e.duration_ms = now - r->t.issued_ms;
    } else if (kind == QE_WINDOW_PAUSED) {
        e.reason = pause_code(e.detail);
    }
    if (f != NULL) {
        if (f->area != NULL)
            e.area = f->area;
        if (f->reason != NULL)
            e.reason = f->reason;
        if (f->duration_ms != 0)
            e.duration_ms = f->duration_ms;
    }
    if (e.duration_ms < 0) /* the hall clock set back */
        e.duration_ms = 0;
    if (q->j.event != NULL)
        q->j.event(q->j.ctx, &e);
}

static void j_event(const queue *q, q_event_kind kind, int64_t now, uint64_t ticket_id,
                    uint32_t window_no, const char *clerk, const char *detail)
{
    j_event_facts(q, kind, now, ticket_id, window_no, clerk, detail, NULL);
}

/* The ticket's records, then its event (the journal's order). */
static void j_ticket_event_facts(const queue *q, const struct tk *r, q_event_kind kind, int64_t now,
                                 const struct window *w, const char *detail, const struct facts *f)
{
    j_ticket(q, r);
    if (w != NULL)
        j_window(q, w);
    j_event_facts(q, kind, now, r->t.id, w != NULL ? w->w.no : 0, clerk_of(w), detail, f);
}

static void j_ticket_event(const queue *q, const struct tk *r, q_event_kind kind, int64_t now,
                           const struct window *w, const char *detail)
{
    j_ticket_event_facts(q, r, kind, now, w, detail, NULL);
}

/* ---- 2. Invariants -------------------------------------------------------- */

/* The executed form of the state table at the top of this file, for one
 * ticket: O(1), so it runs after every change in every build. */
static void assert_ticket(const queue *q, const struct tk *r)
{
    const q_ticket *t = &r->t;
    const struct window *w = t->window_no != 0 ? window_find(q, t->window_no) : NULL;

    assert(find_id(q, t->id) == r);
    assert(r->ai < q->nareas && strcmp(q->areas[r->ai]->a.code, t->area) == 0);
    assert(r->heap == NULL || (r->hidx < r->heap->n && r->heap->v[r->hidx] == r));
    assert(!t->offline || find_offline(q, r->nai, t->day, t->seq) == r);
    assert(t->served_window == 0 || t->state == Q_SERVING || t->state == Q_DONE);
    assert(t->state != Q_SERVING || t->served_window == t->window_no);
    assert(t->rating <= 5 && (t->rating == 0) == (t->rated_ms == 0));
    assert(!t->expired || t->state == Q_VOID);
    switch (t->state) {
    case Q_RESERVED:
        assert(r->heap == &q->reserved && !r->final && t->window_no == 0);
        break;
    case Q_WAITING:
        assert(!r->final && t->window_no == 0);
        assert(r->heap == wait_heap(q, r->ai, t->priority, t->target_window));
        break;
    case Q_CALLED:
    case Q_SERVING:
        assert(r->heap == NULL && !r->final && t->target_window == 0);
        assert(w != NULL && w->w.current == t->id && w->w.state != QW_CLOSED);
        break;
    case Q_HOLD:
        assert(r->heap == NULL && !r->final && w != NULL && w->w.current != t->id);
        break;
    case Q_NO_SHOW:
        assert(t->window_no == 0 && (r->final ? r->heap == NULL : r->heap == &q->noshow));
        break;
    case Q_DONE:
    case Q_VOID:
    case Q_CANCELLED:
        assert(r->final && r->heap == NULL && t->window_no == 0 && t->target_window == 0);
        break;
    }
}

/* Windows: CLOSED has no clerk and no current ticket; a current ticket is
 * CALLED or SERVING at this window. */
static void assert_window(const queue *q, const struct window *w)
{
    const struct tk *r = w->w.current != 0 ? find_id(q, w->w.current) : NULL;

    assert(w->w.state == QW_CLOSED || w->w.state == QW_OPEN || w->w.state == QW_PAUSED);
    assert(w->w.state != QW_CLOSED || (w->w.current == 0 && w->w.clerk[0] == '\0'));
    assert(w->w.state == QW_CLOSED || w->w.clerk[0] != '\0');
    assert(w->w.current == 0 || (r != NULL && r->t.window_no == w->w.no &&
                                 (r->t.state == Q_CALLED || r->t.state == Q_SERVING)));
}

static void set_out(const q_ticket **out, const struct tk *r)
{
    if (out != NULL)
        *out = r != NULL ? &r->t : NULL;
}

/* The end of a request that changed ticket r (and window w; NULL if none
 * changed): the invariants on what it touched, then the ticket for *out. */
static int done(const queue *q, const struct window *w, const struct tk *r, const q_ticket **out)
{
    assert_ticket(q, r);
    if (w != NULL)
        assert_window(q, w);
    set_out(out, r);
    return 0;
}

/* ---- Transitions shared by several requests ------------------------------- */

/* The business day the engine is in, once anything happened. */
static void note_day(queue *q, int64_t now)
{
    if (q->day == 0)
        q->day = bday(q, now);
}

static void make_final(queue *q, struct tk *r, int64_t now)
{
    assert(!r->final && r->heap == NULL);
    r->final = true;
    r->final_day = bday(q, now);
    r->next_final = q->final_head;
    q->final_head = r;
}

/* served_window means "served there" only while SERVING and once DONE:
 * every other state forgets it (queue_start sets it). */
static void set_state(struct tk *r, q_state s, int64_t now)
{
    r->t.state = s;
    r->t.state_ms = now;
    if (s != Q_SERVING && s != Q_DONE)
        r->t.served_window = 0;
}

/* Into the heap its state, area, priority and target name (capacity
 * reserved beforehand). */
static void enqueue(queue *q, struct tk *r)
{
    heap_push(wait_heap(q, r->ai, r->t.priority, r->t.target_window), r);
}

/* Room for one more ticket in h, or NOMEM. */
static int reserve_one(queue *q, struct heap *h, q_error *err)
{
    return heap_reserve(q, h, h->n + 1) == 0 ? 0 : nomem(err);
}

static int reserve_wait(queue *q, size_t ai, q_priority p, uint32_t target, q_error *err)
{
    return reserve_one(q, wait_heap(q, ai, p, target), err);
}

/* Room for a no-show that may rejoin (none needed when rejoining is off). */
static int reserve_noshow(queue *q, q_error *err)
{
    return q->pol.rejoin_ms > 0 ? reserve_one(q, &q->noshow, err) : 0;
}

/* A CALLED ticket that did not come: off its window; may rejoin for a while
 * (the no-show heap, reserved beforehand) or is final at once. */
static void to_no_show(queue *q, struct window *w, struct tk *r, int64_t now, const char *detail,
                       const char *code)
{
    const struct facts f = {.reason = code};

    assert(r->t.state == Q_CALLED && w->w.current == r->t.id);
    set_state(r, Q_NO_SHOW, now);
    r->t.window_no = 0;
    w->w.current = 0;
    if (q->pol.rejoin_ms > 0)
        heap_push(&q->noshow, r);
    else
        make_final(q, r, now);
    j_ticket_event_facts(q, r, QE_NO_SHOW, now, w, detail, &f);
}

static void to_called(queue *q, struct window *w, struct tk *r, int64_t now, const char *reason)
{
    const struct facts f = {.duration_ms = r->called ? 0 : now - r->t.issued_ms,
                            .reason = r->called ? "again" : "first"};

    assert(r->t.state == Q_WAITING && w->w.current == 0);
    heap_remove(r);
    r->called = true;
    set_state(r, Q_CALLED, now);
    r->t.window_no = w->w.no;
    r->t.target_window = 0;
    r->t.recalls = 0;
    w->w.current = r->t.id;
    j_ticket_event_facts(q, r, QE_CALLED, now, w, reason, &f);
}

/* ---- 3. Set-up and restore ------------------------------------------------ */

static bool policy_ok(const q_policy *p)
{
    return p->green_boost_ms >= 0 && p->green_boost_ms <= MAX_POLICY_MS &&
           p->appointment_boost_ms >= 0 && p->appointment_boost_ms <= MAX_POLICY_MS &&
           p->appointment_early_ms >= 0 && p->appointment_early_ms <= MAX_POLICY_MS &&
           p->rejoin_ms >= 0 && p->rejoin_ms <= MAX_POLICY_MS && p->reserve_ms > 0 &&
           p->reserve_ms <= MAX_POLICY_MS && p->rollover_hour >= 0 && p->rollover_hour <= 23 &&
           p->number_digits >= 1 && p->number_digits <= 9 && p->lease_first >= 1 &&
           p->lease_block >= 1 && (uint64_t)p->lease_first + p->lease_band <= UINT32_MAX;
}

static bool same_numbering(const q_policy *a, const q_policy *b)
{
    return a->number_digits == b->number_digits && a->lease_first == b->lease_first &&
           a->lease_band == b->lease_band && a->lease_block == b->lease_block;
}

static void copy_numbering(q_policy *to, const q_policy *from)
{
    to->number_digits = from->number_digits;
    to->lease_first = from->lease_first;
    to->lease_band = from->lease_band;
    to->lease_block = from->lease_block;
}

int queue_set_policy(queue *q, const q_policy *policy)
{
    q_policy p = *policy;

    /* The rollover hour defines the days themselves: it stays. */
    p.rollover_hour = q->pol.rollover_hour;
    if (!policy_ok(&p)) {
        errno = EINVAL;
        return -1;
    }
    /* Today's numbers depend on today's numbering: a new one waits for
     * the next business day. */
    q->numbering_pending = !same_numbering(&p, &q->pol);
    q->next_numbering = p;
    copy_numbering(&p, &q->pol);
    q->pol = p;
    return 0;
}

const q_policy *queue_policy(const queue *q)
{
    return &q->pol;
}

int32_t queue_day(const queue *q)
{
    return q->day;
}

queue *queue_new(const q_policy *policy, const clk_zone *zone, const q_journal *journal)
{
    queue *q;

    if (policy == NULL || zone == NULL || !policy_ok(policy)) {
        errno = EINVAL;
        return NULL;
    }
    q = calloc(1, sizeof *q);
    if (q == NULL)
        goto err;
    q->pol = *policy;
    q->zone = zone;
    if (journal != NULL)
        q->j = *journal;
    q->next_id = 1;
    q->next_lease_id = 1;
    heap_init(&q->reserved, HK_RESERVE);
    heap_init(&q->noshow, HK_NOSHOW);
    if (map_init(&q->ids, MAP_ID) < 0 || map_init(&q->offline, MAP_OFFLINE) < 0)
        goto err;
    return q;
err:
    queue_free(q);
    errno = ENOMEM;
    return NULL;
}

void queue_free(queue *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->ids.nb; i++) {
        struct tk *r = q->ids.b[i], *next;

        for (; r != NULL; r = next) {
            next = r->chain[MAP_ID];
            free(r);
        }
    }
    for (size_t i = 0; i < q->nareas; i++) {
        free(q->areas[i]->green.v);
        free(q->areas[i]->normal.v);
        free(q->areas[i]->appt.v);
        free(q->areas[i]);
    }
    for (size_t i = 0; i < q->nwindows; i++) {
        free(q->windows[i]->transfers.v);
        free(q->windows[i]);
    }
    free(q->areas);
    free(q->windows);
    free(q->ids.b);
    free(q->offline.b);
    free(q->reserved.v);
    free(q->noshow.v);
    free(q->leases);
    free(q);
}

/* p with room for n + 1 elements of size bytes, or NULL (p untouched). */
static void *grow(queue *q, void *p, size_t n, size_t *cap, size_t size)
{
    size_t ncap = *cap != 0 ? *cap * 2 : 8;
    void *np;

    if (n < *cap)
        return p;
    np = alloc_fails(q) ? NULL : realloc(p, ncap * size);
    if (np != NULL)
        *cap = ncap;
    return np;
}

static bool prefix_ok(const char *p)
{
    size_t n = strnlen(p, sizeof((q_area *)0)->prefix);

    if (n == 0 || n > PREFIX_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z')))
            return false;
    return true;
}

int queue_add_area(queue *q, const q_area *a, q_error *err)
{
    struct area *ar, **areas;
    size_t ai;

    err_clear(err);
    if (a == NULL || !terminated(a->code, sizeof a->code) || a->code[0] == '\0' ||
        !terminated(a->name, sizeof a->name))
        return fail(err, QERR_BAD_REQUEST, "an area needs a code and a name");
    if (!terminated(a->prefix, sizeof a->prefix) || !prefix_ok(a->prefix))
        return fail(err, QERR_BAD_REQUEST, "area %s: the prefix must be 1 to %d ASCII letters",
                    a->code, PREFIX_MAX);
    /* Only offered areas number new tickets, so only they need distinct
     * prefixes (a retired area's prefix may be taken again). */
    for (size_t i = 0; i < q->nareas && !a->retired; i++)
        if (strcmp(q->areas[i]->a.prefix, a->prefix) == 0 &&
            strcmp(q->areas[i]->a.code, a->code) != 0 && !q->areas[i]->a.retired)
            return fail(err, QERR_BAD_REQUEST, "area %s: prefix %s is used by area %s", a->code,
                        a->prefix, q->areas[i]->a.code);
    ar = area_find(q, a->code, &ai);
    if (ar != NULL) {
        ar->a = *a;
        return 0;
    }
    areas = grow(q, q->areas, q->nareas, &q->capareas, sizeof *areas);
    if (areas == NULL)
        return nomem(err);
    q->areas = areas;
    ar = q_calloc(q, 1, sizeof *ar);
    if (ar == NULL)
        return nomem(err);
    ar->a = *a;
    heap_init(&ar->green, HK_ISSUED);
    heap_init(&ar->normal, HK_ISSUED);
    heap_init(&ar->appt, HK_SLOT);
    q->areas[q->nareas++] = ar;
    return 0;
}

int queue_add_window(queue *q, const q_window *w, q_error *err)
{
    size_t ai[Q_MAX_AREAS_PER_WINDOW];
    q_window_state state;
    struct window *win;

    err_clear(err);
    if (w == NULL || w->no == 0 || !terminated(w->name, sizeof w->name))
        return fail(err, QERR_BAD_REQUEST, "a window needs a number and a name");
    if (w->type < QW_CONSULT || w->type > QW_COMPLAINT)
        return fail(err, QERR_BAD_REQUEST, "window %u: unknown type %d", w->no, (int)w->type);
    state = w->state == 0 ? QW_CLOSED : w->state;
    if (state != QW_CLOSED && state != QW_OPEN && state != QW_PAUSED)
        return fail(err, QERR_BAD_REQUEST, "window %u: unknown state %d", w->no, (int)w->state);
    if (!terminated(w->clerk, sizeof w->clerk) || (state != QW_CLOSED && w->clerk[0] == '\0'))
        return fail(err, QERR_BAD_REQUEST, "window %u: an open window needs its clerk", w->no);
    if (w->nareas < 0 || w->nareas > Q_MAX_AREAS_PER_WINDOW)
        return fail(err, QERR_BAD_REQUEST, "window %u: %d areas (at most %d)", w->no, w->nareas,
                    Q_MAX_AREAS_PER_WINDOW);
    for (int i = 0; i < w->nareas; i++) {
        if (!terminated(w->areas[i], sizeof w->areas[i]) ||
            area_find(q, w->areas[i], &ai[i]) == NULL)
            return fail(err, QERR_NOT_FOUND, "window %u: no area %.*s", w->no, Q_CODE_MAX,
                        w->areas[i]);
        if (w->weights[i] < 1 || w->weights[i] > MAX_WEIGHT)
            return fail(err, QERR_BAD_REQUEST, "window %u: weight %u of area %s (1..%d)", w->no,
                        w->weights[i], w->areas[i], MAX_WEIGHT);
        for (int k = 0; k < i; k++)
            if (ai[k] == ai[i])
                return fail(err, QERR_BAD_REQUEST, "window %u: area %s named twice", w->no,
                            w->areas[i]);
    }
    win = window_find(q, w->no);
    if (win == NULL) {
        struct window **windows = grow(q, q->windows, q->nwindows, &q->capwindows, sizeof *windows);

        if (windows == NULL)
            return nomem(err);
        q->windows = windows;
        win = q_calloc(q, 1, sizeof *win);
        if (win == NULL)
            return nomem(err);
        heap_init(&win->transfers, HK_ISSUED);
        win->w.no = w->no;
        win->w.state = state;
        if (state != QW_CLOSED)
            memcpy(win->w.clerk, w->clerk, sizeof win->w.clerk);
        q->windows[q->nwindows++] = win;
    }
    memcpy(win->w.name, w->name, sizeof win->w.name);
    win->w.type = w->type;
    win->w.nareas = w->nareas;
    memset(win->w.areas, 0, sizeof win->w.areas);
    memset(win->w.weights, 0, sizeof win->w.weights);
    for (int i = 0; i < w->nareas; i++) {
        memcpy(win->w.areas[i], w->areas[i], sizeof win->w.areas[i]);
        win->w.weights[i] = w->weights[i];
        win->ai[i] = ai[i];
    }
    assert_window(q, win);
    return 0;
}

/* The sequence in a display number "A0501" of area a; false if it is not
 * the prefix followed by 1 to 10 digits of a number from 1 to UINT32_MAX. */
static bool parse_number(const struct area *a, const char *number, uint32_t *seq)
{
    size_t plen = strlen(a->a.prefix), n;
    uint64_t v = 0;

    if (!fits(number, Q_NUMBER_MAX) || strncmp(number, a->a.prefix, plen) != 0)
        return false;
    number += plen;
    n = strlen(number);
    if (n == 0 || n > 10)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (number[i] < '0' || number[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(number[i] - '0');
    }
    if (v == 0 || v > UINT32_MAX)
        return false;
    *seq = (uint32_t)v;
    return true;
}

/* A new record for the id map, its area resolved; not yet indexed. */
static struct tk *tk_new(queue *q, size_t ai, size_t nai)
{
    struct tk *r = q_calloc(q, 1, sizeof *r);

    if (r != NULL) {
        r->ai = ai;
        r->nai = nai;
    }
    return r;
}

/* The area whose prefix a display number carries (prefixes are unique),
 * or ai when none does. */
static size_t numbering_area(const queue *q, const char *number, size_t ai)
{
    uint32_t seq;

    /* The ticket's own area first: a retired area may share its prefix. */
    if (parse_number(q->areas[ai], number, &seq))
        return ai;
    for (size_t i = 0; i < q->nareas; i++)
        if (!q->areas[i]->a.retired && parse_number(q->areas[i], number, &seq))
            return i;
    return ai;
}

int queue_restore_ticket(queue *q, const q_ticket *t, q_error *err)
{
    bool placed, live;
    struct window *w = NULL;
    struct heap *h = NULL;
    struct daynum *dn;
    struct tk *r;
    size_t ai, nai;

    err_clear(err);
    if (t == NULL || t->id == 0)
        return fail(err, QERR_BAD_REQUEST, "a ticket needs an id");
    if (!terminated(t->number, sizeof t->number) || !terminated(t->area, sizeof t->area) ||
        !terminated(t->matter, sizeof t->matter) || !terminated(t->kiosk, sizeof t->kiosk) ||
        !terminated(t->masked_name, sizeof t->masked_name))
        return fail(err, QERR_BAD_REQUEST, "ticket %llu: a text field is not terminated",
                    (unsigned long long)t->id);
    if (t->state < Q_RESERVED || t->state > Q_CANCELLED || t->priority < Q_NORMAL ||
        t->priority > Q_APPOINTMENT)
        return fail(err, QERR_BAD_REQUEST, "ticket %s: unknown state or priority", t->number);
    if (t->rating > 5 || (t->rating == 0) != (t->rated_ms == 0))
        return fail(err, QERR_BAD_REQUEST, "ticket %s: bad rating %u", t->number,
                    (unsigned)t->rating);
    if (area_find(q, t->area, &ai) == NULL)
        return fail(err, QERR_NOT_FOUND, "ticket %s: no area %s", t->number, t->area);
    if (find_id(q, t->id) != NULL)
        return fail(err, QERR_BAD_REQUEST, "ticket %llu is already loaded",
                    (unsigned long long)t->id);
    nai = numbering_area(q, t->number, ai);
    if (t->offline && find_offline(q, nai, t->day, t->seq) != NULL)
        return fail(err, QERR_BAD_REQUEST, "offline number %s of %d is already loaded", t->number,
                    (int)t->day);
    placed = t->state == Q_CALLED || t->state == Q_SERVING || t->state == Q_HOLD;
    if (placed || (t->state == Q_WAITING && t->target_window != 0)) {
        uint32_t no = placed ? t->window_no : t->target_window;

        w = window_find(q, no);
        if (w == NULL)
            return fail(err, QERR_NOT_FOUND, "ticket %s: no window %u", t->number, no);
    }
    if (t->state == Q_CALLED || t->state == Q_SERVING) {
        if (w->w.state == QW_CLOSED)
            return fail(err, QERR_ILLEGAL_STATE, "ticket %s is %s at window %u, which is CLOSED",
                        t->number, queue_state_name(t->state), w->w.no);
        if (w->w.current != 0)
            return fail(err, QERR_ILLEGAL_STATE, "window %u already has ticket %llu", w->w.no,
                        (unsigned long long)w->w.current);
    }
    if (t->state == Q_WAITING)
        h = wait_heap(q, ai, t->priority, t->target_window);
    else if (t->state == Q_RESERVED)
        h = &q->reserved;
    else if (t->state == Q_NO_SHOW && q->pol.rejoin_ms > 0)
        h = &q->noshow;
    if (h != NULL && reserve_one(q, h, err) < 0)
        return -1;
    r = tk_new(q, ai, nai);
    if (r == NULL)
        return nomem(err);

    r->t = *t;
    /* Whether it was called before, as far as its row tells (a rejoined
     * no-show's was lost: its next call counts as its first). */
    r->called = !(t->state == Q_RESERVED || t->state == Q_WAITING || t->state == Q_VOID) ||
                t->transferred || t->target_window != 0;
    if (!placed)
        r->t.window_no = 0;
    /* Rows written before served_window existed: a SERVING ticket is served
     * at its window; a DONE one stays unknown (and cannot be rated). */
    if (t->state == Q_SERVING)
        r->t.served_window = t->window_no;
    else if (t->state != Q_DONE)
        r->t.served_window = 0;
    if (t->state != Q_WAITING)
        r->t.target_window = 0;
    map_insert(&q->ids, r);
    if (t->offline)
        map_insert(&q->offline, r);
    live = h != NULL || placed;
    if (h != NULL)
        heap_push(h, r);
    else if (!live)
        make_final(q, r, t->state_ms);
    if (t->state == Q_CALLED || t->state == Q_SERVING)
        w->w.current = t->id;
    if (!t->offline) {
        dn = daynum(q, q->areas[nai], t->day, false);
        if (dn != NULL && t->seq >= dn->next_online && t->seq < UINT32_MAX)
            dn->next_online = t->seq + 1;
    }
    if (t->id >= q->next_id)
        q->next_id = t->id + 1;
    if (t->day > q->day)
        q->day = t->day;
    if (bday(q, t->state_ms) > q->day)
        q->day = bday(q, t->state_ms);
    return done(q, w, r, NULL);
}

int queue_restore_lease(queue *q, const q_lease *l, q_error *err)
{
    q_lease *leases;
    struct daynum *dn;
    struct area *a;

    err_clear(err);
    if (l == NULL || l->id == 0 || l->count == 0 || l->first == 0 ||
        (uint64_t)l->first + l->count > UINT32_MAX || !terminated(l->kiosk, sizeof l->kiosk) ||
        l->kiosk[0] == '\0' || !terminated(l->area, sizeof l->area))
        return fail(err, QERR_BAD_REQUEST, "a lease needs an id, a kiosk and numbers");
    a = area_find(q, l->area, NULL);
    if (a == NULL)
        return fail(err, QERR_NOT_FOUND, "lease %llu: no area %s", (unsigned long long)l->id,
                    l->area);
    leases = grow(q, q->leases, q->nleases, &q->capleases, sizeof *leases);
    if (leases == NULL)
        return nomem(err);
    q->leases = leases;
    q->leases[q->nleases++] = *l;
    dn = daynum(q, a, l->day, false);
    if (dn != NULL && l->first + l->count > dn->next_lease)
        dn->next_lease = l->first + l->count;
    if (l->id >= q->next_lease_id)
        q->next_lease_id = l->id + 1;
    if (l->day > q->day)
        q->day = l->day;
    return 0;
}

void queue_fail_alloc(queue *q, unsigned n)
{
    q->fail_after = n;
}

void queue_set_next_id(queue *q, uint64_t next_id)
{
    if (next_id > q->next_id)
        q->next_id = next_id;
}

/* ---- Requests ------------------------------------------------------------- */

/* Fills the fields that issue and offline join share. */
static int fill_request(q_ticket *t, const char *matter, const char *kiosk, const char *masked_name,
                        const uint8_t *hash, q_priority p, q_error *err)
{
    if (!fits(opt(matter), sizeof t->matter) || !fits(opt(kiosk), sizeof t->kiosk) ||
        !fits(opt(masked_name), sizeof t->masked_name))
        return fail(err, QERR_BAD_REQUEST, "matter, kiosk or name too long");
    if (p < Q_NORMAL || p > Q_APPOINTMENT)
        return fail(err, QERR_BAD_REQUEST, "unknown priority %d", (int)p);
    strcpy(t->matter, opt(matter));
    strcpy(t->kiosk, opt(kiosk));
    strcpy(t->masked_name, opt(masked_name));
    t->priority = p;
    t->has_citizen = hash != NULL;
    if (hash != NULL)
        memcpy(t->citizen_hash, hash, Q_HASH_LEN);
    return 0;
}

int queue_issue(queue *q, const q_issue *req, int64_t now, const q_ticket **out, q_error *err)
{
    struct daynum *dn;
    struct area *a;
    q_ticket t = {0};
    struct tk *r;
    uint32_t seq;
    size_t ai;

    err_clear(err);
    set_out(out, NULL);
    if (req == NULL)
        return fail(err, QERR_BAD_REQUEST, "no request");
    a = area_pick(q, req->area, true, &ai, err);
    if (a == NULL)
        return -1;
    if (fill_request(&t, req->matter, req->kiosk, req->masked_name, req->citizen_hash,
                     req->priority, err) < 0)
        return -1;
    if (req->priority == Q_APPOINTMENT && req->appointment_ms <= 0)
        return fail(err, QERR_BAD_REQUEST, "an appointment ticket needs its slot");
    if (req->citizen_hash != NULL && q->pol.citizen_limit > 0) {
        const q_ticket *first;
        if (queue_citizen_live(q, a->a.code, req->citizen_hash, &first) >= q->pol.citizen_limit)
            return fail(err, QERR_CITIZEN_LIMIT,
                        "this ID card already holds %s in area %s (at most %u live ticket%s per "
                        "card)",
                        first->number, a->a.code, q->pol.citizen_limit,
                        q->pol.citizen_limit == 1 ? "" : "s");
    }
    t.day = bday(q, now);
    for (int i = 0; i < 2; i++)
        if (a->days[i].day == t.day && skip_band(q, a->days[i].next_online) == UINT32_MAX)
            return fail(err, QERR_BAD_REQUEST, "area %s has no numbers left today", a->a.code);
    if (reserve_one(q, &q->reserved, err) < 0)
        return -1;
    r = tk_new(q, ai, ai);
    if (r == NULL)
        return nomem(err);

    dn = daynum(q, a, t.day, true);
    seq = skip_band(q, dn->next_online);
    dn->next_online = seq + 1;
    t.id = q->next_id++;
    t.seq = seq;
    format_number(q, a, seq, t.number);
    strcpy(t.area, a->a.code);
    t.state = Q_RESERVED;
    t.issued_ms = now;
    t.state_ms = now;
    t.reserved_until_ms = now + q->pol.reserve_ms;
    t.appointment_ms = req->priority == Q_APPOINTMENT ? req->appointment_ms : 0;
    r->t = t;
    map_insert(&q->ids, r);
    heap_push(&q->reserved, r);
    note_day(q, now);
    j_ticket_event(q, r, QE_ISSUED, now, NULL, "");
    return done(q, NULL, r, out);
}

/* The ticket for a request, or NOT_FOUND. */
static struct tk *ticket_pick(const queue *q, uint64_t id, q_error *err)
{
    struct tk *r = find_id(q, id);

    if (r == NULL)
        fail(err, QERR_NOT_FOUND, "no ticket %llu", (unsigned long long)id);
    return r;
}

static int illegal(q_error *err, const struct tk *r, const char *want)
{
    return fail(err, QERR_ILLEGAL_STATE, "%s is %s, not %s", r->t.number,
                queue_state_name(r->t.state), want);
}

/* The start of a request about ticket id: err and *out cleared, then the
 * ticket, which must be in one of the states of mask (ILLEGAL_STATE "A012
 * is WAITING, not want"); NULL if it is not. */
static struct tk *ticket_in(const queue *q, uint64_t id, unsigned mask, const char *want,
                            const q_ticket **out, q_error *err)
{
    struct tk *r;

    err_clear(err);
    set_out(out, NULL);
    r = ticket_pick(q, id, err);
    if (r != NULL && !(mask & BIT(r->t.state))) {
        illegal(err, r, want);
        return NULL;
    }
    return r;
}

/* Off the retention list (a final ticket that comes back). */
static void unfinal(queue *q, struct tk *r)
{
    struct tk **p = &q->final_head;

    while (*p != r)
        p = &(*p)->next_final;
    *p = r->next_final;
    r->next_final = NULL;
    r->final = false;
}

/* A PRINTED for a reservation that ran out: the citizen holds the ticket,
 * so it joins with its issue time — closed at once, as the rollover would
 * have closed it, if its day is over and nothing carries over. */
static int revive(queue *q, struct tk *r, int64_t now, const q_ticket **out, q_error *err)
{
    if (reserve_wait(q, r->ai, r->t.priority, 0, err) < 0)
        return -1;

    unfinal(q, r);
    set_state(r, Q_WAITING, now);
    r->t.expired = false;
    enqueue(q, r);
    note_day(q, now);
    j_ticket_event(q, r, QE_REVIVED, now, NULL, "printed after its reservation ran out");
    if (r->t.day < q->day && !q->pol.carry_over) {
        heap_remove(r);
        set_state(r, Q_CANCELLED, now);
        make_final(q, r, now);
        j_ticket_event(q, r, QE_CLOSED_AT_ROLLOVER, now, NULL, "day closed");
    }
    return done(q, NULL, r, out);
}

int queue_printed(queue *q, uint64_t id, int64_t now, const q_ticket **out, q_error *err)
{
    struct tk *r = ticket_in(q, id, BIT(Q_RESERVED) | BIT(Q_VOID), "RESERVED", out, err);

    if (r != NULL && r->t.state == Q_VOID) {
        if (r->t.expired)
            return revive(q, r, now, out, err);
        illegal(err, r, "RESERVED (its kiosk voided it)");
        return -1;
    }
    if (r == NULL || reserve_wait(q, r->ai, r->t.priority, 0, err) < 0)
        return -1;

    heap_remove(r);
    set_state(r, Q_WAITING, now);
    enqueue(q, r);
    note_day(q, now);
    j_ticket_event(q, r, QE_PRINTED, now, NULL, "");
    return done(q, NULL, r, out);
}

int queue_void(queue *q, uint64_t id, const char *reason, int64_t now, const q_ticket **out,
               q_error *err)
{
    struct tk *r = ticket_in(q, id, BIT(Q_RESERVED), "RESERVED", out, err);

    if (r == NULL)
        return -1;

    heap_remove(r);
    set_state(r, Q_VOID, now);
    make_final(q, r, now);
    note_day(q, now);
    j_ticket_event(q, r, QE_VOIDED, now, NULL, reason);
    return done(q, NULL, r, out);
}

/* A window for a request from it: window_no must name one. */
static struct window *window_pick(const queue *q, uint32_t window_no, q_error *err)
{
    struct window *w = window_no != 0 ? window_find(q, window_no) : NULL;

    if (window_no == 0)
        fail(err, QERR_BAD_REQUEST, "no window named");
    else if (w == NULL)
        fail(err, QERR_NOT_FOUND, "no window %u", window_no);
    return w;
}

/* The start of a request by window_no about ticket id: err and *out
 * cleared, then the window and the ticket. The ticket, when it is at a
 * window, must be at this one (FORBIDDEN), and in one of the states of
 * mask (ILLEGAL_STATE "A012 is WAITING, not want"). */
static int at_window(const queue *q, uint32_t window_no, uint64_t id, unsigned mask,
                     const char *want, struct window **wp, struct tk **rp, const q_ticket **out,
                     q_error *err)
{
    struct window *w;
    struct tk *r;

    err_clear(err);
    set_out(out, NULL);
    w = window_pick(q, window_no, err);
    if (w == NULL)
        return -1;
    r = ticket_pick(q, id, err);
    if (r == NULL)
        return -1;
    if (r->t.window_no != 0 && r->t.window_no != window_no) {
        const char *how = r->t.state == Q_CALLED    ? "called to"
                          : r->t.state == Q_SERVING ? "being served at"
                                                    : "held by";

        return fail(err, QERR_FORBIDDEN, "%s is %s window %u, not %u", r->t.number, how,
                    r->t.window_no, window_no);
    }
    if (!(mask & BIT(r->t.state)))
        return illegal(err, r, want);
    *wp = w;
    *rp = r;
    return 0;
}

/* Picks the next ticket for w by the allocation rules of queue.h; reason
 * says why. NULL if nothing is waiting for it. */
static struct tk *pick_next(const queue *q, const struct window *w, int64_t now, char *reason)
{
    enum { C_GREEN, C_NORMAL, C_APPT } best_class = C_NORMAL;
    char wait[24], slot[8];
    struct tk *best = NULL, *early = NULL;
    int64_t best_score = 0;
    int best_k = 0;

    best = heap_top(&w->transfers);
    if (best != NULL) {
        fmt_dur(wait, sizeof wait, now - best->t.issued_ms);
        snprintf(reason, Q_REASON_MAX, "transferred to this window, waited %s", wait);
        return best;
    }
    for (int k = 0; k < w->w.nareas; k++) {
        const struct area *a = q->areas[w->ai[k]];
        uint32_t weight = w->w.weights[k];
        struct tk *c[3] = {heap_top(&a->green), heap_top(&a->normal), heap_top(&a->appt)};

        for (int cls = C_GREEN; cls <= C_APPT; cls++) {
            struct tk *r = c[cls];
            int64_t score;

            if (r == NULL)
                continue;
            if (cls == C_APPT) {
                if (r->t.appointment_ms - q->pol.appointment_early_ms > now) {
                    if (early == NULL || heap_before(&a->appt, r, early))
                        early = r;
                    continue;
                }
                score = weighted(weight, now - r->t.appointment_ms) + q->pol.appointment_boost_ms;
            } else {
                score = weighted(weight, now - r->t.issued_ms) +
                        (cls == C_GREEN ? q->pol.green_boost_ms : 0);
            }
            if (best == NULL || score > best_score ||
                (score == best_score &&
                 (r->t.issued_ms < best->t.issued_ms ||
                  (r->t.issued_ms == best->t.issued_ms && r->t.id < best->t.id)))) {
                best = r;
                best_score = score;
                best_class = cls;
                best_k = k;
            }
        }
    }
    if (best == NULL && early != NULL) {
        fmt_hhmm(q, slot, sizeof slot, early->t.appointment_ms);
        snprintf(reason, Q_REASON_MAX, "early appointment due %s (nothing else waiting)", slot);
        return early;
    }
    if (best == NULL)
        return NULL;
    fmt_dur(wait, sizeof wait, now - best->t.issued_ms);
    if (best_class == C_GREEN) {
        char boost[24];

        fmt_dur(boost, sizeof boost, q->pol.green_boost_ms);
        snprintf(reason, Q_REASON_MAX, "green channel, waited %s (+%s boost)", wait, boost);
    } else if (best_class == C_APPT) {
        char boost[24];

        fmt_hhmm(q, slot, sizeof slot, best->t.appointment_ms);
        fmt_dur(boost, sizeof boost, q->pol.appointment_boost_ms);
        snprintf(reason, Q_REASON_MAX, "appointment due %s, waited %s (+%s boost)", slot, wait,
                 boost);
    } else {
        const struct area *a = q->areas[w->ai[best_k]];

        snprintf(reason, Q_REASON_MAX, "longest weighted wait %s in %s (weight %u)", wait,
                 a->a.name[0] != '\0' ? a->a.name : a->a.code, w->w.weights[best_k]);
    }
    return best;
}

/* Recall of the window's CALLED ticket, within the limit. */
static void recall(queue *q, struct window *w, struct tk *r, int64_t now, char *reason)
{
    char detail[Q_REASON_MAX];

    r->t.recalls++;
    snprintf(detail, sizeof detail, "recall %u", r->t.recalls);
    j_ticket(q, r);
    j_event(q, QE_RECALLED, now, r->t.id, w->w.no, w->w.clerk, detail);
    if (reason != NULL)
        snprintf(reason, Q_REASON_MAX, "%s", detail);
}

static int window_not_open(q_error *err, const struct window *w)
{
    return fail(err, QERR_WINDOW_CLOSED, "window %u is %s", w->w.no,
                w->w.state == QW_PAUSED ? "paused" : "closed");
}

int queue_call_next(queue *q, uint32_t window_no, int64_t now, const q_ticket **out, char *reason,
                    q_error *err)
{
    char why[Q_REASON_MAX], detail[Q_REASON_MAX] = "";
    struct tk *cur = NULL, *pick;
    struct window *w;

    err_clear(err);
    set_out(out, NULL);
    if (reason != NULL)
        reason[0] = '\0';
    w = window_pick(q, window_no, err);
    if (w == NULL)
        return -1;
    if (w->w.state != QW_OPEN)
        return window_not_open(err, w);
    if (w->w.current != 0) {
        cur = find_id(q, w->w.current);
        assert(cur != NULL);
        if (cur->t.state == Q_SERVING)
            return fail(err, QERR_ILLEGAL_STATE, "window %u is serving %s: finish it first",
                        w->w.no, cur->t.number);
        if (cur->t.recalls < q->pol.max_recalls) {
            note_day(q, now);
            recall(q, w, cur, now, reason);
            return done(q, NULL, cur, out);
        }
    }
    pick = pick_next(q, w, now, why);
    if (pick == NULL && cur == NULL)
        return fail(err, QERR_QUEUE_EMPTY, "nothing is waiting for window %u", w->w.no);
    if (cur != NULL && reserve_noshow(q, err) < 0)
        return -1;

    note_day(q, now);
    if (cur != NULL) {
        snprintf(detail, sizeof detail, "no answer after %u recalls", cur->t.recalls);
        to_no_show(q, w, cur, now, detail, "recalls");
        assert_ticket(q, cur);
    }
    if (pick == NULL) {
        /* The no-show is a change, so this is a success with nothing
         * called: *out is the no-show ticket. */
        if (reason != NULL)
            snprintf(reason, Q_REASON_MAX, "%s; nothing else waiting", detail);
        assert_window(q, w);
        set_out(out, cur);
        return 0;
    }
    to_called(q, w, pick, now, why);
    if (reason != NULL)
        memcpy(reason, why, Q_REASON_MAX);
    return done(q, w, pick, out);
}

/* queue_recall() and queue_no_show(): the window's CALLED ticket is
 * recalled while it has recalls left, unless the clerk marks it; else it
 * is a no-show. */
static int recall_or_no_show(queue *q, uint32_t window_no, uint64_t id, int64_t now, bool by_clerk,
                             const q_ticket **out, q_error *err)
{
    char detail[Q_REASON_MAX];
    struct window *w;
    struct tk *r;
    bool again;

    if (at_window(q, window_no, id, BIT(Q_CALLED), "CALLED", &w, &r, out, err) < 0)
        return -1;
    again = !by_clerk && r->t.recalls < q->pol.max_recalls;
    if (!again && reserve_noshow(q, err) < 0)
        return -1;

    note_day(q, now);
    if (again) {
        recall(q, w, r, now, NULL);
    } else {
        snprintf(detail, sizeof detail, "%s after %u recalls",
                 by_clerk ? "marked by the clerk" : "no answer", r->t.recalls);
        to_no_show(q, w, r, now, detail, by_clerk ? "no_show" : "recalls");
    }
    return done(q, w, r, out);
}

int queue_recall(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
                 q_error *err)
{
    return recall_or_no_show(q, window_no, id, now, false, out, err);
}

int queue_no_show(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
                  q_error *err)
{
    return recall_or_no_show(q, window_no, id, now, true, out, err);
}

int queue_start(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
                q_error *err)
{
    struct window *w;
    struct tk *r;

    if (at_window(q, window_no, id, BIT(Q_CALLED), "CALLED", &w, &r, out, err) < 0)
        return -1;

    note_day(q, now);
    set_state(r, Q_SERVING, now);
    r->t.served_window = window_no;
    j_ticket(q, r);
    j_event(q, QE_STARTED, now, r->t.id, w->w.no, w->w.clerk, "");
    return done(q, w, r, out);
}

static void note_service(struct area *a, int64_t ms)
{
    a->service[a->service_pos] = ms > 0 ? ms : 0;
    a->service_pos = (a->service_pos + 1) % SERVICE_RING;
    if (a->nservice < SERVICE_RING)
        a->nservice++;
}

int queue_finish(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
                 q_error *err)
{
    char detail[Q_REASON_MAX], dur[24];
    struct window *w;
    struct tk *r;

    if (at_window(q, window_no, id, BIT(Q_SERVING), "SERVING", &w, &r, out, err) < 0)
        return -1;

    const struct facts f = {.duration_ms = now - r->t.state_ms};

    note_day(q, now);
    note_service(q->areas[r->ai], now - r->t.state_ms);
    fmt_dur(dur, sizeof dur, now - r->t.state_ms);
    snprintf(detail, sizeof detail, "served %s", dur);
    set_state(r, Q_DONE, now);
    r->t.window_no = 0;
    w->w.current = 0;
    make_final(q, r, now);
    j_ticket_event_facts(q, r, QE_FINISHED, now, w, detail, &f);
    return done(q, w, r, out);
}

int queue_set_note(queue *q, uint64_t id, const char *note, q_error *err)
{
    struct tk *r = find_id(q, id);

    if (r == NULL)
        return fail(err, QERR_NOT_FOUND, "no ticket %llu", (unsigned long long)id);
    if (strlen(note) >= sizeof r->t.note)
        return fail(err, QERR_BAD_REQUEST, "a note is at most %zu bytes", sizeof r->t.note - 1);
    snprintf(r->t.note, sizeof r->t.note, "%s", note);
    j_ticket(q, r);
    return 0;
}

int queue_transfer(queue *q, uint32_t window_no, uint64_t id, const char *to_area,
                   uint32_t to_window, int64_t now, const q_ticket **out, q_error *err)
{
    char detail[Q_REASON_MAX];
    struct area *dest = NULL;
    struct window *w;
    struct tk *r;
    size_t ai;

    if (at_window(q, window_no, id, BIT(Q_CALLED) | BIT(Q_SERVING), "CALLED or SERVING", &w, &r,
                  out, err) < 0)
        return -1;
    if ((to_area == NULL || *to_area == '\0') == (to_window == 0))
        return fail(err, QERR_BAD_REQUEST, "transfer %s to an area or a window", r->t.number);
    if (to_window != 0) {
        if (window_find(q, to_window) == NULL)
            return fail(err, QERR_NOT_FOUND, "no window %u", to_window);
        if (to_window == window_no)
            return fail(err, QERR_BAD_REQUEST, "%s is already at window %u", r->t.number,
                        to_window);
        ai = r->ai;
        snprintf(detail, sizeof detail, "to window %u", to_window);
    } else {
        dest = area_pick(q, to_area, true, &ai, err);
        if (dest == NULL)
            return -1;
        snprintf(detail, sizeof detail, "to area %s", dest->a.code);
    }
    if (reserve_wait(q, ai, r->t.priority, to_window, err) < 0)
        return -1;

    char from[Q_CODE_MAX];
    const struct facts f = {.area = from, .reason = dest != NULL ? dest->a.code : "window"};

    snprintf(from, sizeof from, "%s", r->t.area);
    note_day(q, now);
    set_state(r, Q_WAITING, now);
    r->t.window_no = 0;
    r->t.target_window = to_window;
    r->t.transferred = true;
    if (dest != NULL) {
        r->ai = ai;
        strcpy(r->t.area, dest->a.code);
    }
    w->w.current = 0;
    enqueue(q, r);
    j_ticket_event_facts(q, r, QE_TRANSFERRED, now, w, detail, &f);
    return done(q, w, r, out);
}

int queue_hold(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
               q_error *err)
{
    struct window *w;
    struct tk *r;

    if (at_window(q, window_no, id, BIT(Q_CALLED) | BIT(Q_SERVING), "CALLED or SERVING", &w, &r,
                  out, err) < 0)
        return -1;

    note_day(q, now);
    set_state(r, Q_HOLD, now);
    w->w.current = 0;
    j_ticket_event(q, r, QE_HELD, now, w, "");
    return done(q, w, r, out);
}

int queue_release(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
                  q_error *err)
{
    char detail[Q_REASON_MAX];
    struct window *w;
    struct tk *r;

    if (at_window(q, window_no, id, BIT(Q_HOLD), "HOLD", &w, &r, out, err) < 0)
        return -1;
    if (reserve_wait(q, r->ai, r->t.priority, window_no, err) < 0)
        return -1;

    note_day(q, now);
    set_state(r, Q_WAITING, now);
    r->t.window_no = 0;
    r->t.target_window = window_no;
    enqueue(q, r);
    snprintf(detail, sizeof detail, "back to window %u", window_no);
    j_ticket(q, r);
    j_event(q, QE_RELEASED, now, r->t.id, w->w.no, w->w.clerk, detail);
    return done(q, NULL, r, out);
}

int queue_cancel(queue *q, uint32_t window_no, uint64_t id, const char *reason, int64_t now,
                 const q_ticket **out, q_error *err)
{
    const unsigned mask = BIT(Q_WAITING) | BIT(Q_CALLED) | BIT(Q_HOLD);
    const char *want = "WAITING, CALLED or HOLD";
    struct window *w = NULL, *at = NULL;
    struct tk *r;

    if (window_no == 0)
        r = ticket_in(q, id, mask | BIT(Q_NO_SHOW), "WAITING, CALLED, HOLD or NO_SHOW", out, err);
    else if (at_window(q, window_no, id, mask, want, &w, &r, out, err) < 0)
        r = NULL;
    if (r == NULL)
        return -1;
    if (r->t.state == Q_NO_SHOW && r->final)
        return fail(err, QERR_ILLEGAL_STATE, "%s cannot be cancelled: its rejoin time ended",
                    r->t.number);

    note_day(q, now);
    if (r->t.state == Q_WAITING || r->t.state == Q_NO_SHOW)
        heap_remove(r);
    if (r->t.state == Q_CALLED) {
        at = window_find(q, r->t.window_no);
        at->w.current = 0;
    }
    set_state(r, Q_CANCELLED, now);
    r->t.window_no = 0;
    r->t.target_window = 0;
    make_final(q, r, now);
    j_ticket(q, r);
    if (at != NULL)
        j_window(q, at);
    j_event(q, QE_CANCELLED, now, r->t.id, window_no, clerk_of(w), reason);
    return done(q, at, r, out);
}

/* Live for the citizen limit: see queue.h. */
static bool citizen_live(const struct tk *r)
{
    const unsigned live = BIT(Q_RESERVED) | BIT(Q_WAITING) | BIT(Q_CALLED) | BIT(Q_SERVING) |
                          BIT(Q_HOLD) | BIT(Q_NO_SHOW);

    return !r->final && (live & BIT(r->t.state));
}

size_t queue_citizen_live(const queue *q, const char *area, const uint8_t *hash,
                          const q_ticket **first)
{
    const struct tk *oldest = NULL;
    size_t n = 0;

    for (size_t b = 0; b < q->ids.nb; b++)
        for (const struct tk *r = q->ids.b[b]; r != NULL; r = r->chain[MAP_ID]) {
            if (!r->t.has_citizen || !citizen_live(r) || strcmp(r->t.area, area) != 0 ||
                memcmp(r->t.citizen_hash, hash, Q_HASH_LEN) != 0)
                continue;
            n++;
            if (oldest == NULL || r->t.id < oldest->t.id)
                oldest = r;
        }
    if (first != NULL)
        *first = oldest ? &oldest->t : NULL;
    return n;
}

const q_ticket *queue_ticket_by_number(const queue *q, int32_t day, const char *number)
{
    const struct tk *found = NULL;

    for (size_t b = 0; b < q->ids.nb; b++)
        for (const struct tk *r = q->ids.b[b]; r != NULL; r = r->chain[MAP_ID])
            if (r->t.day == day && strcmp(r->t.number, number) == 0 &&
                (found == NULL || r->t.id > found->t.id))
                found = r;
    return found ? &found->t : NULL;
}

int queue_rejoin(queue *q, uint64_t id, int64_t now, const q_ticket **out, q_error *err)
{
    struct tk *r = ticket_in(q, id, BIT(Q_NO_SHOW), "NO_SHOW", out, err);

    if (r == NULL)
        return -1;
    if (q->pol.rejoin_ms == 0)
        return fail(err, QERR_ILLEGAL_STATE, "%s cannot rejoin: this hall does not allow it",
                    r->t.number);
    if (r->final || now >= r->t.state_ms + q->pol.rejoin_ms)
        return fail(err, QERR_ILLEGAL_STATE, "%s cannot rejoin: rejoin time ended", r->t.number);
    if (reserve_wait(q, r->ai, r->t.priority, 0, err) < 0)
        return -1;

    note_day(q, now);
    heap_remove(r);
    set_state(r, Q_WAITING, now);
    if (!q->pol.rejoin_keeps_place)
        r->t.issued_ms = now;
    enqueue(q, r);
    j_ticket_event(q, r, QE_REJOINED, now, NULL,
                   q->pol.rejoin_keeps_place ? "keeps its place" : "at the end of the queue");
    return done(q, NULL, r, out);
}

int queue_rate(queue *q, uint32_t window_no, uint64_t id, int level, int64_t now,
               const q_ticket **out, q_error *err)
{
    char detail[Q_REASON_MAX];
    struct tk *r;

    err_clear(err);
    set_out(out, NULL);
    if (level < 1 || level > 5)
        return fail(err, QERR_BAD_REQUEST, "a rating is 1 to 5, not %d", level);
    if (window_no == 0)
        return fail(err, QERR_BAD_REQUEST, "a rating names the window that served the ticket");
    r = ticket_pick(q, id, err);
    if (r == NULL)
        return -1;
    if (r->t.rating != 0) { /* a retry, or a second press: the first stands */
        set_out(out, r);
        return 0;
    }
    if (r->t.state != Q_SERVING && r->t.state != Q_DONE)
        return illegal(err, r, "SERVING or DONE");
    if (r->t.served_window != window_no)
        return fail(err, QERR_ILLEGAL_STATE, "%s was not served at window %u", r->t.number,
                    window_no);
    if (r->t.state == Q_DONE && bday(q, r->t.state_ms) != bday(q, now))
        return fail(err, QERR_ILLEGAL_STATE, "%s was served on %d, not this business day",
                    r->t.number, (int)bday(q, r->t.state_ms));

    note_day(q, now);
    r->t.rating = (uint8_t)level;
    r->t.rated_ms = now;
    snprintf(detail, sizeof detail, "level %d", level);
    j_ticket(q, r);
    j_event(q, QE_RATED, now, r->t.id, window_no, clerk_of(window_find(q, window_no)), detail);
    return done(q, NULL, r, out);
}

/* ---- Windows -------------------------------------------------------------- */

static void window_change(queue *q, struct window *w, q_event_kind kind, int64_t now,
                          const char *clerk, const char *detail)
{
    note_day(q, now);
    j_window(q, w);
    j_event(q, kind, now, 0, w->w.no, clerk, detail);
    assert_window(q, w);
}

static const char *window_state_name(q_window_state s)
{
    return s == QW_OPEN ? "OPEN" : s == QW_PAUSED ? "PAUSED" : "CLOSED";
}

int queue_sign_in(queue *q, uint32_t window_no, const char *clerk, int64_t now, q_error *err)
{
    struct window *w;

    err_clear(err);
    w = window_pick(q, window_no, err);
    if (w == NULL)
        return -1;
    if (clerk == NULL || *clerk == '\0' || !fits(clerk, CLERK_MAX))
        return fail(err, QERR_BAD_REQUEST, "sign in to window %u needs a clerk id", window_no);
    if (w->w.state != QW_CLOSED)
        return fail(err, QERR_ILLEGAL_STATE, "window %u is %s: clerk %s is signed in", window_no,
                    window_state_name(w->w.state), w->w.clerk);

    w->w.state = QW_OPEN;
    strcpy(w->w.clerk, clerk);
    window_change(q, w, QE_WINDOW_SIGN_IN, now, w->w.clerk, "");
    return 0;
}

int queue_sign_out(queue *q, uint32_t window_no, int64_t now, q_error *err)
{
    char clerk[CLERK_MAX];
    struct window *w;

    err_clear(err);
    w = window_pick(q, window_no, err);
    if (w == NULL)
        return -1;
    if (w->w.state == QW_CLOSED)
        return fail(err, QERR_ILLEGAL_STATE, "window %u is CLOSED", window_no);
    if (w->w.current != 0) {
        const struct tk *r = find_id(q, w->w.current);

        return fail(err, QERR_ILLEGAL_STATE, "window %u %s %s: %s first", window_no,
                    r->t.state == Q_SERVING ? "is serving" : "has called", r->t.number,
                    r->t.state == Q_SERVING ? "finish or transfer it"
                                            : "mark it no-show, cancel or transfer it");
    }

    memcpy(clerk, w->w.clerk, sizeof clerk);
    w->w.state = QW_CLOSED;
    w->w.clerk[0] = '\0';
    window_change(q, w, QE_WINDOW_SIGN_OUT, now, clerk, "");
    return 0;
}

/* queue_pause() and queue_resume(): a window in state `from` goes to `to`. */
static int pause_or_resume(queue *q, uint32_t window_no, q_window_state from, q_window_state to,
                           q_event_kind kind, const char *reason, int64_t now, q_error *err)
{
    struct window *w;

    err_clear(err);
    w = window_pick(q, window_no, err);
    if (w == NULL)
        return -1;
    if (w->w.state != from)
        return fail(err, QERR_ILLEGAL_STATE, "window %u is %s, not %s", window_no,
                    window_state_name(w->w.state), window_state_name(from));

    w->w.state = to;
    window_change(q, w, kind, now, w->w.clerk, reason);
    return 0;
}

int queue_pause(queue *q, uint32_t window_no, const char *reason, int64_t now, q_error *err)
{
    return pause_or_resume(q, window_no, QW_OPEN, QW_PAUSED, QE_WINDOW_PAUSED, reason, now, err);
}

int queue_resume(queue *q, uint32_t window_no, int64_t now, q_error *err)
{
    return pause_or_resume(q, window_no, QW_PAUSED, QW_OPEN, QE_WINDOW_RESUMED, "", now, err);
}

/* ---- Leases and offline tickets ------------------------------------------- */

int queue_grant_lease(queue *q, const char *kiosk, const char *area, int64_t now,
                      const q_lease **out, q_error *err)
{
    uint64_t first, end = (uint64_t)q->pol.lease_first + q->pol.lease_band;
    char detail[Q_REASON_MAX];
    q_lease *l, *leases;
    struct daynum *dn;
    struct area *a;
    int32_t day;
    size_t ai;

    err_clear(err);
    if (out != NULL)
        *out = NULL;
    if (kiosk == NULL || *kiosk == '\0' || !fits(kiosk, Q_DEVICE_MAX + 1))
        return fail(err, QERR_BAD_REQUEST, "a lease needs a kiosk id");
    a = area_pick(q, area, true, &ai, err);
    if (a == NULL)
        return -1;
    day = bday(q, now);
    first = q->pol.lease_first;
    for (int i = 0; i < 2; i++)
        if (a->days[i].day == day && a->days[i].next_lease > first)
            first = a->days[i].next_lease;
    if (first + q->pol.lease_block > end)
        return fail(err, QERR_LEASE_EXHAUSTED, "area %s has no offline numbers left today",
                    a->a.code);
    leases = grow(q, q->leases, q->nleases, &q->capleases, sizeof *leases);
    if (leases == NULL)
        return nomem(err);
    q->leases = leases;

    dn = daynum(q, a, day, true);
    dn->next_lease = (uint32_t)(first + q->pol.lease_block);
    l = &q->leases[q->nleases++];
    memset(l, 0, sizeof *l);
    l->id = q->next_lease_id++;
    strcpy(l->kiosk, kiosk);
    strcpy(l->area, a->a.code);
    l->day = day;
    l->first = (uint32_t)first;
    l->count = q->pol.lease_block;
    l->granted_ms = now;
    note_day(q, now);
    snprintf(detail, sizeof detail, "%s%0*u-%s%0*u to kiosk %.64s", a->a.prefix,
             (int)q->pol.number_digits, l->first, a->a.prefix, (int)q->pol.number_digits,
             l->first + l->count - 1, kiosk);
    if (q->j.lease != NULL)
        q->j.lease(q->j.ctx, l);
    j_event(q, QE_LEASE_GRANTED, now, 0, 0, "", detail);
    if (out != NULL)
        *out = l;
    return 0;
}

int queue_offline_join(queue *q, const q_offline *o, int64_t now, const q_ticket **out,
                       q_error *err)
{
    const q_lease *lease = NULL;
    q_ticket t = {0};
    struct area *a;
    struct tk *r;
    int64_t issued;
    int32_t today;
    uint32_t seq;
    size_t ai;

    err_clear(err);
    set_out(out, NULL);
    if (o == NULL || o->kiosk == NULL || *o->kiosk == '\0' || !fits(o->kiosk, Q_DEVICE_MAX + 1))
        return fail(err, QERR_BAD_REQUEST, "an offline ticket needs its kiosk");
    a = area_pick(q, o->area, false, &ai, err);
    if (a == NULL)
        return -1;
    if (!parse_number(a, opt(o->number), &seq))
        return fail(err, QERR_BAD_REQUEST, "%.*s is not a number of area %s", Q_NUMBER_MAX,
                    opt(o->number), a->a.code);
    /* A kiosk clock running fast only puts its own ticket later. */
    issued = o->issued_ms < now ? o->issued_ms : now;
    t.day = bday(q, issued);
    today = bday(q, now);
    if (t.day != today && t.day != day_before(today))
        return fail(err, QERR_BAD_REQUEST, "%.*s was issued on %d, not today or yesterday",
                    Q_NUMBER_MAX, o->number, (int)t.day);
    for (size_t i = 0; i < q->nleases; i++) {
        const q_lease *l = &q->leases[i];

        if (l->day == t.day && strcmp(l->area, a->a.code) == 0 && seq >= l->first &&
            seq - l->first < l->count) {
            lease = l;
            break;
        }
    }
    if (lease == NULL)
        return fail(err, QERR_FORBIDDEN, "%.*s was not leased to kiosk %.64s on %d", Q_NUMBER_MAX,
                    o->number, o->kiosk, (int)t.day);
    if (strcmp(lease->kiosk, o->kiosk) != 0)
        return fail(err, QERR_FORBIDDEN, "%.*s is leased to kiosk %s, not %.64s", Q_NUMBER_MAX,
                    o->number, lease->kiosk, o->kiosk);
    if (issued + OFFLINE_BACKDATE_SLACK_MS < lease->granted_ms)
        return fail(err, QERR_BAD_REQUEST,
                    "%.*s claims an issue time %lld s before its lease was granted (the kiosk's "
                    "clock)",
                    Q_NUMBER_MAX, o->number, (long long)((lease->granted_ms - issued) / 1000));
    r = find_offline(q, ai, t.day, seq);
    if (r != NULL) {
        if (strcmp(r->t.kiosk, o->kiosk) != 0)
            return fail(err, QERR_FORBIDDEN, "%s was uploaded by kiosk %s", r->t.number,
                        r->t.kiosk);
        set_out(out, r);
        return 0;
    }
    if (o->priority == Q_APPOINTMENT)
        return fail(err, QERR_BAD_REQUEST, "%.*s: an offline ticket has no appointment slot",
                    Q_NUMBER_MAX, o->number);
    if (fill_request(&t, o->matter, o->kiosk, o->masked_name, o->citizen_hash, o->priority, err) <
        0)
        return -1;
    if (reserve_wait(q, ai, o->priority, 0, err) < 0)
        return -1;
    r = tk_new(q, ai, ai);
    if (r == NULL)
        return nomem(err);

    note_day(q, now);
    t.id = q->next_id++;
    t.seq = seq;
    format_number(q, a, seq, t.number);
    strcpy(t.area, a->a.code);
    t.state = Q_WAITING;
    t.issued_ms = issued;
    t.state_ms = now;
    t.offline = true;
    r->t = t;
    map_insert(&q->ids, r);
    map_insert(&q->offline, r);
    enqueue(q, r);
    j_ticket_event(q, r, QE_OFFLINE_JOINED, now, NULL, "");
    if (t.day < q->day && !q->pol.carry_over) {
        /* Uploaded after its day was closed: closed as the rollover would
         * have closed it, so the day's statistics still see it. */
        heap_remove(r);
        set_state(r, Q_CANCELLED, now);
        make_final(q, r, now);
        j_ticket_event(q, r, QE_CLOSED_AT_ROLLOVER, now, NULL, "day closed");
    }
    return done(q, NULL, r, out);
}

/* ---- Time-driven work ----------------------------------------------------- */

/* Drops final tickets that ended before yesterday, and leases older than
 * yesterday. */
static void sweep(queue *q, int32_t today)
{
    int32_t keep = day_before(today);
    struct tk **p = &q->final_head;
    size_t j = 0;

    while (*p != NULL) {
        struct tk *r = *p;

        if (r->final_day >= keep) {
            p = &r->next_final;
            continue;
        }
        *p = r->next_final;
        map_remove(&q->ids, r);
        if (r->t.offline)
            map_remove(&q->offline, r);
        free(r);
    }
    for (size_t i = 0; i < q->nleases; i++)
        if (q->leases[i].day >= keep)
            q->leases[j++] = q->leases[i];
    q->nleases = j;
}

/* The day is over: its open tickets are carried over or closed. Tickets at
 * a window (CALLED, SERVING) stay there until finished. */
static int rollover(queue *q, int32_t today, int64_t now)
{
    char detail[Q_REASON_MAX];
    int changed = 0;

    if (q->numbering_pending) {
        copy_numbering(&q->pol, &q->next_numbering);
        q->numbering_pending = false;
    }

    for (size_t i = 0; i < q->ids.nb; i++) {
        for (struct tk *r = q->ids.b[i]; r != NULL; r = r->chain[MAP_ID]) {
            const struct window *w = NULL;
            q_state s = r->t.state;

            if (r->final || r->t.day >= today ||
                !(s == Q_WAITING || s == Q_HOLD || s == Q_NO_SHOW || s == Q_RESERVED))
                continue;
            changed++;
            if (q->pol.carry_over) {
                snprintf(detail, sizeof detail, "from %d", (int)r->t.day);
                j_event(q, QE_CARRIED_OVER, now, r->t.id, 0, "", detail);
                continue;
            }
            if (s == Q_HOLD)
                w = window_find(q, r->t.window_no);
            if (r->heap != NULL)
                heap_remove(r);
            set_state(r, Q_CANCELLED, now);
            r->t.window_no = 0;
            r->t.target_window = 0;
            make_final(q, r, now);
            j_ticket(q, r);
            j_event(q, QE_CLOSED_AT_ROLLOVER, now, r->t.id, w != NULL ? w->w.no : 0, clerk_of(w),
                    "day closed");
            assert_ticket(q, r);
        }
    }
    q->day = today;
    return changed;
}

int queue_tick(queue *q, int64_t now)
{
    struct tk *r;
    int changed = 0;

    while ((r = heap_top(&q->reserved)) != NULL && r->t.reserved_until_ms <= now) {
        heap_remove(r);
        set_state(r, Q_VOID, now);
        r->t.expired = true;
        make_final(q, r, now);
        j_ticket_event(q, r, QE_EXPIRED, now, NULL, "not printed in time");
        assert_ticket(q, r);
        changed++;
    }
    /* A no-show past its rejoin time is final: no change to record. */
    while ((r = heap_top(&q->noshow)) != NULL && r->t.state_ms + q->pol.rejoin_ms <= now) {
        heap_remove(r);
        make_final(q, r, now);
        assert_ticket(q, r);
    }
    if (now >= q->next_rollover_ms) {
        int32_t today = bday(q, now);

        if (q->day == 0)
            q->day = today;
        if (today > q->day)
            changed += rollover(q, today, now);
        sweep(q, today);
        q->next_rollover_ms = clk_next_rollover(q->zone, now, q->pol.rollover_hour);
    }
    return changed;
}

int64_t queue_next_due(const queue *q)
{
    int64_t due = q->next_rollover_ms;
    const struct tk *r;

    r = heap_top(&q->reserved);
    if (r != NULL && r->t.reserved_until_ms < due)
        due = r->t.reserved_until_ms;
    r = heap_top(&q->noshow);
    if (r != NULL && r->t.state_ms + q->pol.rejoin_ms < due)
        due = r->t.state_ms + q->pol.rejoin_ms;
    return due;
}

/* ---- Reading -------------------------------------------------------------- */

const q_ticket *queue_ticket(const queue *q, uint64_t id)
{
    const struct tk *r = find_id(q, id);

    return r != NULL ? &r->t : NULL;
}

const q_window *queue_window(const queue *q, uint32_t window_no)
{
    const struct window *w = window_find(q, window_no);

    return w != NULL ? &w->w : NULL;
}

const q_area *queue_area(const queue *q, const char *code)
{
    const struct area *a = code != NULL ? area_find(q, code, NULL) : NULL;

    return a != NULL ? &a->a : NULL;
}

const q_area *queue_area_at(const queue *q, size_t i)
{
    return i < q->nareas ? &q->areas[i]->a : NULL;
}

const q_window *queue_window_at(const queue *q, size_t i)
{
    return i < q->nwindows ? &q->windows[i]->w : NULL;
}

size_t queue_waiting(const queue *q, const char *area)
{
    const struct area *a = area != NULL ? area_find(q, area, NULL) : NULL;

    return a != NULL ? a->green.n + a->normal.n + a->appt.n : 0;
}

size_t queue_ahead(const queue *q, uint64_t id, int64_t now)
{
    const struct tk *r = find_id(q, id);
    const struct heap *own;
    const struct area *a;
    size_t n;

    if (r == NULL || (r->t.state != Q_WAITING && r->t.state != Q_RESERVED))
        return 0;
    a = q->areas[r->ai];
    own = r->t.state == Q_WAITING ? r->heap : wait_heap(q, r->ai, r->t.priority, 0);
    if (own == r->heap && heap_top(own) == r)
        n = 0;
    else if (own == r->heap && heap_key(own, r) >= own->maxkey)
        n = own->n - 1;
    else
        n = heap_est_below(own, heap_key(own, r));
    if (own == r->heap && n >= own->n)
        n = own->n - 1;
    if (r->t.target_window == 0 && r->t.priority == Q_NORMAL) {
        n += heap_est_below(&a->green, r->t.issued_ms + q->pol.green_boost_ms + 1);
        n += heap_est_below(&a->appt, now + q->pol.appointment_early_ms + 1);
    }
    return n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

int64_t queue_service_estimate(const queue *q, const char *area)
{
    const struct area *a = area != NULL ? area_find(q, area, NULL) : NULL;
    int64_t v[SERVICE_RING];

    if (a == NULL || a->nservice == 0)
        return DEFAULT_SERVICE_MS;
    memcpy(v, a->service, a->nservice * sizeof v[0]);
    qsort(v, a->nservice, sizeof v[0], cmp_i64);
    if (a->nservice % 2 == 1)
        return v[a->nservice / 2];
    return (v[a->nservice / 2 - 1] + v[a->nservice / 2]) / 2;
}

const char *queue_state_name(q_state s)
{
    static const char *const names[] = {
        [Q_RESERVED] = "RESERVED", [Q_WAITING] = "WAITING", [Q_CALLED] = "CALLED",
        [Q_SERVING] = "SERVING",   [Q_DONE] = "DONE",       [Q_NO_SHOW] = "NO_SHOW",
        [Q_HOLD] = "HOLD",         [Q_VOID] = "VOID",       [Q_CANCELLED] = "CANCELLED",
    };

    return s >= Q_RESERVED && s <= Q_CANCELLED ? names[s] : "UNKNOWN";
}

static const char *const window_types[] = {
    [QW_CONSULT] = "consult", [QW_INTAKE] = "intake",       [QW_ISSUANCE] = "issuance",
    [QW_HELP] = "help",       [QW_COMPLAINT] = "complaint",
};

const char *queue_window_type_name(q_window_type t)
{
    return t >= QW_CONSULT && t <= QW_COMPLAINT ? window_types[t] : "unknown";
}

int queue_window_type_parse(const char *name)
{
    for (size_t i = 1; name != NULL && i < sizeof window_types / sizeof window_types[0]; i++)
        if (strcmp(window_types[i], name) == 0)
            return (int)i;
    return -1;
}

const char *queue_strerror(q_errcode code)
{
    switch (code) {
    case QERR_NONE:
        return "no error";
    case QERR_BAD_REQUEST:
        return "bad request";
    case QERR_NOT_FOUND:
        return "not found";
    case QERR_ILLEGAL_STATE:
        return "not allowed in this state";
    case QERR_WINDOW_CLOSED:
        return "window closed or paused";
    case QERR_QUEUE_EMPTY:
        return "nothing waiting";
    case QERR_FORBIDDEN:
        return "forbidden";
    case QERR_LEASE_EXHAUSTED:
        return "no offline numbers left";
    case QERR_NOMEM:
        return "out of memory";
    case QERR_CITIZEN_LIMIT:
        return "citizen limit reached";
    }
    return "unknown error";
}
