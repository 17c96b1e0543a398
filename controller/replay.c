/*
 * replay — see replay.h. Entries live in an open-addressing hash table
 * (linear probing, backward-shift deletion, so no tombstones) that doubles
 * at 70 % load. Entries that still hold an answer are also on two lists in
 * the order they were kept — their device's and everyone's — so the
 * oldest answer to drop past a cap is found in O(1). Devices are interned
 * once (a small table of their own) and carry their counts.
 */
#include "replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct device {
    char *id;
    size_t entries, answers, bytes;
    struct entry *oldest, *newest; /* its answers, in the order kept */
};

struct entry {
    struct device *dev;
    uint64_t request_id;
    uint64_t row; /* the caller's handle for the durable copy */
    int64_t expires_ms;
    bool has_digest;
    uint8_t digest[REPLAY_DIGEST_LEN];
    uint8_t *reply; /* NULL once dropped */
    size_t len;
    struct entry *dev_prev, *dev_next; /* answers of the device */
    struct entry *all_prev, *all_next; /* answers of everyone */
};

struct replay {
    replay_limits lim;
    replay_drop_fn *on_drop;
    void *arg;
    struct entry **slots;
    size_t cap; /* power of two */
    struct device **devices;
    size_t ndevices, devices_cap;  /* open addressing, power of two */
    struct entry *oldest, *newest; /* every answer, in the order kept */
    size_t entries, answers, bytes;
};

/* FNV-1a over the device id. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static uint64_t hash_key(const char *device, uint64_t request_id)
{
    uint64_t h = hash_str(device);

    h ^= request_id + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

/* ---- Devices --------------------------------------------------------------- */

static size_t device_slot(struct device *const *t, size_t cap, const char *id)
{
    size_t i = hash_str(id) & (cap - 1);

    while (t[i] != NULL && strcmp(t[i]->id, id) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

static struct device *device_find(const replay *r, const char *id)
{
    return r->devices[device_slot(r->devices, r->devices_cap, id)];
}

/* The device's record, made on first use. NULL on ENOMEM. */
static struct device *device_get(replay *r, const char *id)
{
    struct device *d = device_find(r, id);

    if (d != NULL)
        return d;
    if ((r->ndevices + 1) * 10 > r->devices_cap * 7) {
        size_t cap = r->devices_cap * 2;
        struct device **t = calloc(cap, sizeof *t);

        if (t == NULL)
            return NULL;
        for (size_t i = 0; i < r->devices_cap; i++)
            if (r->devices[i] != NULL)
                t[device_slot(t, cap, r->devices[i]->id)] = r->devices[i];
        free(r->devices);
        r->devices = t;
        r->devices_cap = cap;
    }
    if ((d = calloc(1, sizeof *d)) == NULL || (d->id = strdup(id)) == NULL) {
        free(d);
        return NULL;
    }
    r->devices[device_slot(r->devices, r->devices_cap, id)] = d;
    r->ndevices++;
    return d;
}

/* ---- Answers on their lists ------------------------------------------------ */

static void link_answer(replay *r, struct entry *e)
{
    struct device *d = e->dev;

    e->dev_prev = d->newest;
    e->dev_next = NULL;
    if (d->newest != NULL)
        d->newest->dev_next = e;
    else
        d->oldest = e;
    d->newest = e;
    e->all_prev = r->newest;
    e->all_next = NULL;
    if (r->newest != NULL)
        r->newest->all_next = e;
    else
        r->oldest = e;
    r->newest = e;
    d->answers++;
    d->bytes += e->len;
    r->answers++;
    r->bytes += e->len;
}

/* Off both lists, its bytes freed: the entry stays, dropped. */
static void unlink_answer(replay *r, struct entry *e)
{
    struct device *d = e->dev;

    if (e->dev_prev != NULL)
        e->dev_prev->dev_next = e->dev_next;
    else
        d->oldest = e->dev_next;
    if (e->dev_next != NULL)
        e->dev_next->dev_prev = e->dev_prev;
    else
        d->newest = e->dev_prev;
    if (e->all_prev != NULL)
        e->all_prev->all_next = e->all_next;
    else
        r->oldest = e->all_next;
    if (e->all_next != NULL)
        e->all_next->all_prev = e->all_prev;
    else
        r->newest = e->all_prev;
    d->answers--;
    d->bytes -= e->len;
    r->answers--;
    r->bytes -= e->len;
    free(e->reply);
    e->reply = NULL;
    e->len = 0;
    e->dev_prev = e->dev_next = e->all_prev = e->all_next = NULL;
}

static void drop_answer(replay *r, struct entry *e)
{
    unlink_answer(r, e);
    if (r->on_drop != NULL)
        r->on_drop(r->arg, e->dev->id, e->request_id, e->row);
}

/* ---- The table --------------------------------------------------------------- */

static size_t find_slot(const replay *r, const char *device, uint64_t request_id, bool *found)
{
    size_t i = hash_key(device, request_id) & (r->cap - 1);

    while (r->slots[i] != NULL) {
        if (r->slots[i]->request_id == request_id && strcmp(r->slots[i]->dev->id, device) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & (r->cap - 1);
    }
    *found = false;
    return i;
}

static void entry_free(replay *r, struct entry *e)
{
    if (e->reply != NULL)
        unlink_answer(r, e);
    e->dev->entries--;
    r->entries--;
    free(e);
}

static bool limits_ok(const replay_limits *l)
{
    return l->device_answers > 0 && l->device_bytes > 0 && l->total_answers > 0 &&
           l->total_bytes > 0 && l->device_entries > 0 && l->total_entries > 0;
}

int replay_set_limits(replay *r, const replay_limits *limits)
{
    if (!limits_ok(limits)) {
        errno = EINVAL;
        return -1;
    }
    r->lim = *limits;
    return 0;
}

replay *replay_new(const replay_limits *limits, replay_drop_fn *on_drop, void *arg)
{
    replay *r;

    if (!limits_ok(limits)) {
        errno = EINVAL;
        return NULL;
    }
    if ((r = calloc(1, sizeof *r)) == NULL)
        return NULL;
    r->lim = *limits;
    r->on_drop = on_drop;
    r->arg = arg;
    r->cap = 1024;
    r->devices_cap = 64;
    r->slots = calloc(r->cap, sizeof *r->slots);
    r->devices = calloc(r->devices_cap, sizeof *r->devices);
    if (r->slots == NULL || r->devices == NULL) {
        replay_free(r);
        errno = ENOMEM;
        return NULL;
    }
    return r;
}

void replay_free(replay *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; r->slots != NULL && i < r->cap; i++)
        if (r->slots[i] != NULL) {
            free(r->slots[i]->reply);
            free(r->slots[i]);
        }
    for (size_t i = 0; r->devices != NULL && i < r->devices_cap; i++)
        if (r->devices[i] != NULL) {
            free(r->devices[i]->id);
            free(r->devices[i]);
        }
    free(r->slots);
    free(r->devices);
    free(r);
}

replay_hit replay_get(const replay *r, const char *device, uint64_t request_id,
                      const uint8_t **digest, const uint8_t **reply, size_t *len)
{
    bool found;
    size_t i = find_slot(r, device, request_id, &found);
    const struct entry *e = found ? r->slots[i] : NULL;

    if (e == NULL)
        return REPLAY_NONE;
    if (digest != NULL)
        *digest = e->has_digest ? e->digest : NULL;
    if (e->reply == NULL)
        return REPLAY_DROPPED;
    *reply = e->reply;
    *len = e->len;
    return REPLAY_ANSWER;
}

bool replay_has_room(const replay *r, const char *device)
{
    const struct device *d = device_find(r, device);
    size_t mine = d != NULL ? d->entries : 0;

    return mine < r->lim.device_entries && r->entries < r->lim.total_entries;
}

static int grow(replay *r)
{
    size_t old_cap = r->cap;
    struct entry **old = r->slots;

    r->slots = calloc(old_cap * 2, sizeof *r->slots);
    if (r->slots == NULL) {
        r->slots = old;
        return -1;
    }
    r->cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] != NULL) {
            bool found;
            r->slots[find_slot(r, old[i]->dev->id, old[i]->request_id, &found)] = old[i];
        }
    }
    free(old);
    return 0;
}

/* Remove slot i and shift back the entries of its probe run that can move
 * closer to their home slot, so lookups never need tombstones. */
static void remove_slot(replay *r, size_t i)
{
    entry_free(r, r->slots[i]);
    r->slots[i] = NULL;
    for (size_t j = (i + 1) & (r->cap - 1); r->slots[j] != NULL; j = (j + 1) & (r->cap - 1)) {
        size_t home = hash_key(r->slots[j]->dev->id, r->slots[j]->request_id) & (r->cap - 1);
        /* Move j into the hole at i if its home is not in (i, j]. */
        bool home_between = i < j ? (home > i && home <= j) : (home > i || home <= j);
        if (!home_between) {
            r->slots[i] = r->slots[j];
            r->slots[j] = NULL;
            i = j;
        }
    }
}

/* A new entry in the table (replacing one with the same key); NULL on
 * ENOMEM with nothing changed. */
static struct entry *insert(replay *r, const char *device, uint64_t request_id, int64_t expires_ms,
                            const uint8_t *digest)
{
    struct device *d;
    struct entry *e;
    bool found;

    if ((r->entries + 1) * 10 > r->cap * 7 && grow(r) < 0)
        return NULL;
    if ((d = device_get(r, device)) == NULL || (e = calloc(1, sizeof *e)) == NULL)
        return NULL;
    e->dev = d;
    e->request_id = request_id;
    e->expires_ms = expires_ms;
    e->has_digest = digest != NULL;
    if (digest != NULL)
        memcpy(e->digest, digest, REPLAY_DIGEST_LEN);
    size_t i = find_slot(r, device, request_id, &found);
    if (found) {
        remove_slot(r, i);
        i = find_slot(r, device, request_id, &found);
    }
    r->slots[i] = e;
    d->entries++;
    r->entries++;
    return e;
}

int replay_put(replay *r, const char *device, uint64_t request_id, uint64_t row, int64_t expires_ms,
               const uint8_t *digest, const uint8_t *reply, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    struct entry *e;

    if (copy == NULL || (e = insert(r, device, request_id, expires_ms, digest)) == NULL) {
        free(copy);
        errno = ENOMEM;
        return -1;
    }
    memcpy(copy, reply, len);
    e->row = row;
    e->reply = copy;
    e->len = len;
    link_answer(r, e);
    struct device *d = e->dev;
    while ((d->answers > r->lim.device_answers || d->bytes > r->lim.device_bytes) && d->oldest != e)
        drop_answer(r, d->oldest);
    while ((r->answers > r->lim.total_answers || r->bytes > r->lim.total_bytes) && r->oldest != e)
        drop_answer(r, r->oldest);
    return 0;
}

int replay_put_dropped(replay *r, const char *device, uint64_t request_id, int64_t expires_ms,
                       const uint8_t *digest)
{
    if (insert(r, device, request_id, expires_ms, digest) == NULL) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void replay_forget(replay *r, const char *device, uint64_t request_id)
{
    bool found;
    size_t i = find_slot(r, device, request_id, &found);

    if (found)
        remove_slot(r, i);
}

size_t replay_prune(replay *r, int64_t now_ms)
{
    size_t dropped = 0;

    for (size_t i = 0; i < r->cap;) {
        if (r->slots[i] != NULL && r->slots[i]->expires_ms < now_ms) {
            remove_slot(r, i);
            dropped++;
            continue; /* an entry may have shifted into slot i */
        }
        i++;
    }
    return dropped;
}

void replay_stats_of(const replay *r, const char *device, replay_stats *out)
{
    if (device == NULL) {
        *out = (replay_stats){r->entries, r->answers, r->bytes};
        return;
    }
    const struct device *d = device_find(r, device);
    *out = d != NULL ? (replay_stats){d->entries, d->answers, d->bytes} : (replay_stats){0, 0, 0};
}
