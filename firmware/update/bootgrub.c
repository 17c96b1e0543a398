/*
 * bootgrub — boot state as kupd_* variables of a GRUB environment block
 * (see bootgrub.h). A missing file is a missing state; a file that is not
 * a 1024-byte block with the GRUB signature is refused.
 */
#include "bootgrub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIGNATURE "# GRUB Environment Block\n"
#define PREFIX    "kupd_"

struct bootgrub {
    char path[4096];
};

/* Read the whole block into buf (BOOTGRUB_SIZE + 1 bytes, NUL-terminated
 * after the block). */
static int read_block(const char *path, char *buf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    ssize_t n;

    if (fd < 0)
        return -1;
    while (got <= BOOTGRUB_SIZE && (n = read(fd, buf + got, BOOTGRUB_SIZE + 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    if (got != BOOTGRUB_SIZE || memcmp(buf, SIGNATURE, strlen(SIGNATURE)) != 0) {
        errno = EBADMSG;
        return -1;
    }
    buf[BOOTGRUB_SIZE] = '\0';
    return 0;
}

/* The variables of a block: lines up to the '#' padding. */
static int parse_block(const char *buf, struct slots_kv *kv)
{
    const char *p = buf + strlen(SIGNATURE);

    kv->n = 0;
    while (*p != '\0' && *p != '#') {
        const char *nl = strchr(p, '\n'), *eq;
        if (nl == NULL)
            break;
        eq = memchr(p, '=', (size_t)(nl - p));
        if (eq == NULL || kv->n == SLOTS_KV_MAX || (size_t)(eq - p) >= sizeof kv->key[0] ||
            (size_t)(nl - eq) > sizeof kv->val[0]) {
            errno = EBADMSG;
            return -1;
        }
        memcpy(kv->key[kv->n], p, (size_t)(eq - p));
        kv->key[kv->n][eq - p] = '\0';
        memcpy(kv->val[kv->n], eq + 1, (size_t)(nl - eq - 1));
        kv->val[kv->n][nl - eq - 1] = '\0';
        kv->n++;
        p = nl + 1;
    }
    return 0;
}

static int grub_load(void *priv, struct boot_state *st)
{
    struct bootgrub *g = priv;
    char buf[BOOTGRUB_SIZE + 1];
    struct slots_kv kv;

    if (read_block(g->path, buf) < 0 || parse_block(buf, &kv) < 0)
        return -1;
    if (slots_kv_get(&kv, PREFIX "seq") == NULL) {
        errno = ENOENT;
        return -1;
    }
    return boot_state_decode(&kv, PREFIX, st);
}

static int grub_store(void *priv, const struct boot_state *st)
{
    struct bootgrub *g = priv;
    char buf[BOOTGRUB_SIZE + 1];
    struct slots_kv kv = {0};
    size_t used;

    if (read_block(g->path, buf) == 0) {
        if (parse_block(buf, &kv) < 0)
            return -1;
    } else if (errno != ENOENT) {
        return -1;
    }
    if (boot_state_encode(st, &kv, PREFIX) < 0)
        return -1;
    used = (size_t)snprintf(buf, sizeof buf, "%s", SIGNATURE);
    for (int i = 0; i < kv.n; i++) {
        int n = snprintf(buf + used, sizeof buf - used, "%s=%s\n", kv.key[i], kv.val[i]);
        if (n < 0 || (size_t)n >= sizeof buf - used) {
            errno = ENOSPC;
            return -1;
        }
        used += (size_t)n;
    }
    if (used > BOOTGRUB_SIZE) {
        errno = ENOSPC;
        return -1;
    }
    memset(buf + used, '#', BOOTGRUB_SIZE - used);
    return slots_write_atomic(g->path, buf, BOOTGRUB_SIZE);
}

static void grub_free(void *priv)
{
    free(priv);
}

static const struct boot_ops bootgrub_ops = {"grub", grub_load, grub_store, grub_free};

boot *bootgrub_new(const char *path)
{
    struct bootgrub *g = calloc(1, sizeof *g);

    if (g == NULL)
        return NULL;
    if (strlen(path) >= sizeof g->path) {
        free(g);
        errno = ENAMETOOLONG;
        return NULL;
    }
    strcpy(g->path, path);
    return boot_new(&bootgrub_ops, g);
}
