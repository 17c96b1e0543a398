/*
 * replay — see replay.h. An open-addressing hash table (linear probing,
 * backward-shift deletion, so no tombstones) of owned entries; it doubles
 * at 70 % load.
 */
#include "replay.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char *device;
    uint64_t request_id;
    int64_t expires_ms;
    uint8_t *reply;
    size_t len;
};

struct replay {
    struct entry **slots;
    size_t cap; /* power of two */
    size_t count;
};

/* FNV-1a over the device id, mixed with the request id. */
static uint64_t hash_key(const char *device, uint64_t request_id)
{
    uint64_t h = 1469598103934665603ULL;

    for (const unsigned char *p = (const unsigned char *)device; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h ^= request_id + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static size_t find_slot(const replay *r, const char *device, uint64_t request_id, bool *found)
{
    size_t i = hash_key(device, request_id) & (r->cap - 1);

    while (r->slots[i] != NULL) {
        if (r->slots[i]->request_id == request_id && strcmp(r->slots[i]->device, device) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & (r->cap - 1);
    }
    *found = false;
    return i;
}

static void entry_free(struct entry *e)
{
    if (e != NULL) {
        free(e->device);
        free(e->reply);
        free(e);
    }
}

replay *replay_new(void)
{
    replay *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    r->cap = 1024;
    if ((r->slots = calloc(r->cap, sizeof *r->slots)) == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

void replay_free(replay *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->cap; i++)
        entry_free(r->slots[i]);
    free(r->slots);
    free(r);
}

const uint8_t *replay_get(const replay *r, const char *device, uint64_t request_id, size_t *len)
{
    bool found;
    size_t i = find_slot(r, device, request_id, &found);

    if (!found)
        return NULL;
    *len = r->slots[i]->len;
    return r->slots[i]->reply;
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
            r->slots[find_slot(r, old[i]->device, old[i]->request_id, &found)] = old[i];
        }
    }
    free(old);
    return 0;
}

int replay_put(replay *r, const char *device, uint64_t request_id, int64_t expires_ms,
               const uint8_t *reply, size_t len)
{
    if ((r->count + 1) * 10 > r->cap * 7 && grow(r) < 0)
        return -1;
    struct entry *e = calloc(1, sizeof *e);
    if (e == NULL || (e->device = strdup(device)) == NULL ||
        (e->reply = malloc(len ? len : 1)) == NULL) {
        entry_free(e);
        errno = ENOMEM;
        return -1;
    }
    e->request_id = request_id;
    e->expires_ms = expires_ms;
    e->len = len;
    memcpy(e->reply, reply, len);

    bool found;
    size_t i = find_slot(r, device, request_id, &found);
    if (found)
        entry_free(r->slots[i]);
    else
        r->count++;
    r->slots[i] = e;
    return 0;
}

/* Remove slot i and shift back the entries of its probe run that can move
 * closer to their home slot, so lookups never need tombstones. */
static void remove_slot(replay *r, size_t i)
{
    entry_free(r->slots[i]);
    r->slots[i] = NULL;
    r->count--;
    for (size_t j = (i + 1) & (r->cap - 1); r->slots[j] != NULL; j = (j + 1) & (r->cap - 1)) {
        size_t home = hash_key(r->slots[j]->device, r->slots[j]->request_id) & (r->cap - 1);
        /* Move j into the hole at i if its home is not in (i, j]. */
        bool home_between = i < j ? (home > i && home <= j) : (home > i || home <= j);
        if (!home_between) {
            r->slots[i] = r->slots[j];
            r->slots[j] = NULL;
            i = j;
        }
    }
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

size_t replay_count(const replay *r)
{
    return r->count;
}
