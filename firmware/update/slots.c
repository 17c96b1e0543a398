/*
 * slots — atomic key=value state files and the directory layout under the
 * updater's root (see slots.h). Readers bound every line and refuse
 * anything they did not write themselves.
 */
#include "slots.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *slots_path(char *buf, size_t cap, const char *root, const char *rel)
{
    int n = snprintf(buf, cap, "%s/%s", root, rel);

    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return buf;
}

int slots_init(const char *root)
{
    static const char *const dirs[] = {
        "etc",     "etc/kupd", "etc/kupd/keys", "etc/kupd/health.d", "boot", "slots",
        "slots/a", "slots/b",  "state",         "incoming",          "run"};
    char p[4096];

    if (mkdir(root, 0755) < 0 && errno != EEXIST)
        return -1;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (slots_path(p, sizeof p, root, dirs[i]) == NULL)
            return -1;
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char copy[4096];
    int fd, rc;

    if (strlen(path) >= sizeof copy) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(copy, path);
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int slots_write_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4096];
    const uint8_t *p = data;
    int fd, e;

    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0)
            goto fail;
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    return fsync_dir_of(path);
fail:
    e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = e;
    return -1;
}

int slots_kv_read(const char *path, struct slots_kv *kv)
{
    FILE *f = fopen(path, "re");
    char line[512];

    kv->n = 0;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        size_t len = strlen(line);
        char *eq = strchr(line, '=');

        if (len == 0 || line[len - 1] != '\n' || eq == NULL || kv->n == SLOTS_KV_MAX ||
            (size_t)(eq - line) >= sizeof kv->key[0] ||
            len - (size_t)(eq - line) > sizeof kv->val[0])
            goto bad;
        line[len - 1] = '\0';
        *eq = '\0';
        strcpy(kv->key[kv->n], line);
        strcpy(kv->val[kv->n], eq + 1);
        kv->n++;
    }
    fclose(f);
    return 0;
bad:
    fclose(f);
    errno = EBADMSG;
    return -1;
}

int slots_kv_write(const char *path, const struct slots_kv *kv)
{
    char buf[SLOTS_KV_MAX * 256];
    size_t used = 0;

    for (int i = 0; i < kv->n; i++) {
        int n = snprintf(buf + used, sizeof buf - used, "%s=%s\n", kv->key[i], kv->val[i]);
        if (n < 0 || (size_t)n >= sizeof buf - used) {
            errno = ENOSPC;
            return -1;
        }
        used += (size_t)n;
    }
    return slots_write_atomic(path, buf, used);
}

const char *slots_kv_get(const struct slots_kv *kv, const char *key)
{
    for (int i = 0; i < kv->n; i++)
        if (strcmp(kv->key[i], key) == 0)
            return kv->val[i];
    return NULL;
}

int slots_kv_set(struct slots_kv *kv, const char *key, const char *fmt, ...)
{
    char val[sizeof kv->val[0]];
    va_list ap;
    int i, n;

    va_start(ap, fmt);
    n = vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof val || strlen(key) >= sizeof kv->key[0] ||
        strchr(val, '\n') != NULL) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (i = 0; i < kv->n; i++)
        if (strcmp(kv->key[i], key) == 0)
            break;
    if (i == kv->n) {
        if (kv->n == SLOTS_KV_MAX) {
            errno = ENOSPC;
            return -1;
        }
        kv->n++;
        strcpy(kv->key[i], key);
    }
    strcpy(kv->val[i], val);
    return 0;
}

int slots_index(char slot)
{
    return slot == 'b';
}

char slots_other(char slot)
{
    return slot == 'a' ? 'b' : 'a';
}

char slots_booted(const char *root)
{
    char p[4096], c[4] = {0};
    FILE *f;

    if (slots_path(p, sizeof p, root, "run/booted") == NULL || (f = fopen(p, "re")) == NULL)
        return 0;
    if (fgets(c, sizeof c, f) == NULL)
        c[0] = 0;
    fclose(f);
    return c[0] == 'a' || c[0] == 'b' ? c[0] : 0;
}

static char *status_path(char *buf, size_t cap, const char *root, char slot)
{
    char rel[32];

    snprintf(rel, sizeof rel, "state/slot-%c.status", slot);
    return slots_path(buf, cap, root, rel);
}

int slots_status_read(const char *root, char slot, struct slots_status *st)
{
    struct slots_kv kv;
    char p[4096], key[48];
    const char *v;

    memset(st, 0, sizeof *st);
    strcpy(st->status, "empty");
    if (status_path(p, sizeof p, root, slot) == NULL)
        return -1;
    if (slots_kv_read(p, &kv) < 0)
        return errno == ENOENT ? 0 : -1;
    v = slots_kv_get(&kv, "status");
    if (v == NULL || strlen(v) >= sizeof st->status)
        goto bad;
    strcpy(st->status, v);
    if ((v = slots_kv_get(&kv, "version")) != NULL && strlen(v) < sizeof st->version)
        strcpy(st->version, v);
    if ((v = slots_kv_get(&kv, "security_version")) != NULL)
        st->security_version = strtoull(v, NULL, 10);
    if ((v = slots_kv_get(&kv, "bundle")) != NULL && strlen(v) < sizeof st->bundle)
        strcpy(st->bundle, v);
    if ((v = slots_kv_get(&kv, "images")) != NULL)
        st->n_images = atoi(v);
    if (st->n_images < 0 || st->n_images > 8)
        goto bad;
    for (int i = 0; i < st->n_images; i++) {
        snprintf(key, sizeof key, "image.%d", i);
        if ((v = slots_kv_get(&kv, key)) == NULL || strlen(v) >= sizeof st->image[i])
            goto bad;
        strcpy(st->image[i], v);
        snprintf(key, sizeof key, "image.%d.sha256", i);
        if ((v = slots_kv_get(&kv, key)) == NULL || strlen(v) != 64)
            goto bad;
        strcpy(st->sha256[i], v);
    }
    return 0;
bad:
    errno = EBADMSG;
    return -1;
}

int slots_status_write(const char *root, char slot, const struct slots_status *st)
{
    struct slots_kv kv = {0};
    char p[4096], key[48];
    int rc = 0;

    rc |= slots_kv_set(&kv, "status", "%s", st->status);
    rc |= slots_kv_set(&kv, "version", "%s", st->version);
    rc |= slots_kv_set(&kv, "security_version", "%" PRIu64, st->security_version);
    rc |= slots_kv_set(&kv, "bundle", "%s", st->bundle);
    rc |= slots_kv_set(&kv, "images", "%d", st->n_images);
    for (int i = 0; i < st->n_images; i++) {
        snprintf(key, sizeof key, "image.%d", i);
        rc |= slots_kv_set(&kv, key, "%s", st->image[i]);
        snprintf(key, sizeof key, "image.%d.sha256", i);
        rc |= slots_kv_set(&kv, key, "%s", st->sha256[i]);
    }
    if (rc != 0 || status_path(p, sizeof p, root, slot) == NULL)
        return -1;
    return slots_kv_write(p, &kv);
}

int slots_floor_read(const char *root, uint64_t *floor)
{
    struct slots_kv kv;
    char p[4096];
    const char *v;

    *floor = 0;
    if (slots_path(p, sizeof p, root, "state/floor") == NULL)
        return -1;
    if (slots_kv_read(p, &kv) < 0)
        return errno == ENOENT ? 0 : -1;
    if ((v = slots_kv_get(&kv, "security_version")) == NULL) {
        errno = EBADMSG;
        return -1;
    }
    *floor = strtoull(v, NULL, 10);
    return 0;
}

int slots_floor_write(const char *root, uint64_t floor)
{
    struct slots_kv kv = {0};
    char p[4096];

    if (slots_kv_set(&kv, "security_version", "%" PRIu64, floor) < 0 ||
        slots_path(p, sizeof p, root, "state/floor") == NULL)
        return -1;
    return slots_kv_write(p, &kv);
}

int slots_lock(const char *root)
{
    char p[4096];
    int fd;

    if (slots_path(p, sizeof p, root, "run/kupd.lock") == NULL)
        return -1;
    fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}
