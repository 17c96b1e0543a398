/*
 * bootsim — boot state in <root>/boot/bootstate (see bootsim.h).
 */
#include "bootsim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct bootsim {
    char path[4096];
};

static int sim_load(void *priv, struct boot_state *st)
{
    struct bootsim *s = priv;
    struct slots_kv kv;

    if (slots_kv_read(s->path, &kv) < 0)
        return -1;
    return boot_state_decode(&kv, "", st);
}

static int sim_store(void *priv, const struct boot_state *st)
{
    struct bootsim *s = priv;
    struct slots_kv kv = {0};

    if (boot_state_encode(st, &kv, "") < 0)
        return -1;
    return slots_kv_write(s->path, &kv);
}

static void sim_free(void *priv)
{
    free(priv);
}

static const struct boot_ops bootsim_ops = {"bootsim", sim_load, sim_store, sim_free};

boot *bootsim_new(const char *root)
{
    struct bootsim *s = calloc(1, sizeof *s);

    if (s == NULL)
        return NULL;
    if (slots_path(s->path, sizeof s->path, root, "boot/bootstate") == NULL) {
        free(s);
        return NULL;
    }
    return boot_new(&bootsim_ops, s);
}
