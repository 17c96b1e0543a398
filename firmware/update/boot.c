/*
 * boot — the backend-neutral half of the bootloader interface: the state
 * encoding both backends share, the invariants, and boot_step(), the boot
 * rule a GRUB or U-Boot script implements on a board (docs/update.md).
 */
#include "boot.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct boot {
    const struct boot_ops *ops;
    void *priv;
};

boot *boot_new(const struct boot_ops *ops, void *priv)
{
    boot *b = calloc(1, sizeof *b);

    if (b == NULL) {
        ops->free(priv);
        errno = ENOMEM;
        return NULL;
    }
    b->ops = ops;
    b->priv = priv;
    return b;
}

void boot_free(boot *b)
{
    if (b == NULL)
        return;
    b->ops->free(b->priv);
    free(b);
}

const char *boot_name(const boot *b)
{
    return b->ops->name;
}

void boot_state_check(const struct boot_state *st)
{
    assert(st->order[0] != st->order[1]);
    assert(st->trial == 0 || st->trial == 'a' || st->trial == 'b');
    for (int i = 0; i < 2; i++) {
        const struct boot_slot *s = &st->slot[i];
        char letter = (char)('a' + i);
        assert(!s->good || s->bootable);
        assert(!s->good || st->trial != letter);
        assert(s->tries == 0 || st->trial == letter);
        assert(s->tries >= 0 && s->tries <= BOOT_TRIES);
    }
    if (st->trial != 0) {
        assert(st->slot[slots_index(st->trial)].bootable);
        assert(!st->slot[slots_index(st->trial)].good);
    }
    (void)st;
}

int boot_load(boot *b, struct boot_state *st)
{
    if (b->ops->load(b->priv, st) < 0) {
        if (errno != ENOENT)
            return -1;
        memset(st, 0, sizeof *st);
        st->order[0] = 'a';
        st->order[1] = 'b';
    }
    boot_state_check(st);
    return 0;
}

int boot_store(boot *b, struct boot_state *st)
{
    boot_state_check(st);
    st->seq++;
    return b->ops->store(b->priv, st);
}

int boot_state_encode(const struct boot_state *st, struct slots_kv *kv, const char *prefix)
{
    char k[48];
    int rc = 0;

#define SETK(name, ...)                                                                            \
    do {                                                                                           \
        snprintf(k, sizeof k, "%s%s", prefix, name);                                               \
        rc |= slots_kv_set(kv, k, __VA_ARGS__);                                                    \
    } while (0)
    SETK("seq", "%" PRIu64, st->seq);
    SETK("order", "%c %c", st->order[0], st->order[1]);
    SETK("a_bootable", "%d", st->slot[0].bootable);
    SETK("a_good", "%d", st->slot[0].good);
    SETK("a_tries", "%d", st->slot[0].tries);
    SETK("b_bootable", "%d", st->slot[1].bootable);
    SETK("b_good", "%d", st->slot[1].good);
    SETK("b_tries", "%d", st->slot[1].tries);
    SETK("trial", "%s", st->trial == 'a' ? "a" : st->trial == 'b' ? "b" : "none");
#undef SETK
    return rc;
}

/* A flag or count in [0, max]. */
static int get_small(const struct slots_kv *kv, const char *prefix, const char *name, int max,
                     int *out)
{
    char k[48];
    const char *v;

    snprintf(k, sizeof k, "%s%s", prefix, name);
    v = slots_kv_get(kv, k);
    if (v == NULL || v[0] < '0' || v[0] > '0' + max || v[1] != '\0')
        return -1;
    *out = v[0] - '0';
    return 0;
}

int boot_state_decode(const struct slots_kv *kv, const char *prefix, struct boot_state *st)
{
    char k[48];
    const char *v;
    int rc = 0;

    memset(st, 0, sizeof *st);
    snprintf(k, sizeof k, "%sseq", prefix);
    if ((v = slots_kv_get(kv, k)) == NULL)
        goto bad;
    st->seq = strtoull(v, NULL, 10);
    snprintf(k, sizeof k, "%sorder", prefix);
    v = slots_kv_get(kv, k);
    if (v == NULL || !(strcmp(v, "a b") == 0 || strcmp(v, "b a") == 0))
        goto bad;
    st->order[0] = v[0];
    st->order[1] = v[2];
    rc |= get_small(kv, prefix, "a_bootable", 1, &st->slot[0].bootable);
    rc |= get_small(kv, prefix, "a_good", 1, &st->slot[0].good);
    rc |= get_small(kv, prefix, "a_tries", BOOT_TRIES, &st->slot[0].tries);
    rc |= get_small(kv, prefix, "b_bootable", 1, &st->slot[1].bootable);
    rc |= get_small(kv, prefix, "b_good", 1, &st->slot[1].good);
    rc |= get_small(kv, prefix, "b_tries", BOOT_TRIES, &st->slot[1].tries);
    snprintf(k, sizeof k, "%strial", prefix);
    v = slots_kv_get(kv, k);
    if (rc != 0 || v == NULL)
        goto bad;
    if (strcmp(v, "a") == 0 || strcmp(v, "b") == 0)
        st->trial = v[0];
    else if (strcmp(v, "none") != 0)
        goto bad;
    return 0;
bad:
    errno = EBADMSG;
    return -1;
}

int boot_step(boot *b, const char *root, char *note, size_t note_len)
{
    struct boot_state st;
    char p[4096], line[4];

    if (note != NULL && note_len > 0)
        note[0] = '\0';
    if (boot_load(b, &st) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        char s = st.order[i];
        struct boot_slot *sl = &st.slot[slots_index(s)];

        if (sl->bootable && sl->good)
            goto chosen;
        if (sl->bootable && st.trial == s && sl->tries > 0) {
            /* The try is counted before the kernel starts: a power cut
             * during this boot is a failed try. */
            sl->tries--;
            if (boot_store(b, &st) < 0)
                return -1;
            goto chosen;
        }
        if (st.trial == s) {
            sl->bootable = 0;
            st.trial = 0;
            if (boot_store(b, &st) < 0)
                return -1;
            if (note != NULL)
                snprintf(note, note_len, "Slot %c was not confirmed within %d boots; falling back.",
                         s, BOOT_TRIES);
        }
        continue;
    chosen:
        snprintf(line, sizeof line, "%c\n", s);
        if (slots_path(p, sizeof p, root, "run/booted") == NULL ||
            slots_write_atomic(p, line, 2) < 0)
            return -1;
        return s;
    }
    if (slots_path(p, sizeof p, root, "run/booted") != NULL)
        unlink(p);
    errno = ENOENT;
    return -1;
}
