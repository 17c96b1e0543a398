/*
 * crashvfs — see crashvfs.h. A node is one file as the page cache holds
 * it: its size as the process sees it, a pending truncation, and the
 * sectors written since its last sync. Handles (struct cfile) on the same
 * path share the node; nodes live from the first open until the power cut
 * (or, in PASS, the last close), so a file closed with unsynced data and
 * opened again still shows that data.
 */
#include "crashvfs.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTOR   512
#define NO_FLOOR INT64_MAX

enum state { PASS, ARMED, CUT };

struct node {
    char *path;
    int refs;     /* open handles */
    bool main_db; /* has a "-shm" file the power cut removes */
    bool deleted; /* unlinked while known: nothing of it to keep */
    int64_t size; /* as the process sees it (ARMED, CUT) */
    /* A truncation not yet synced: real bytes at or past floor read as
     * zeros, and the sync truncates the real file there first. */
    int64_t floor;
    uint8_t **sectors; /* written since the last sync, by sector index */
    size_t cap, ndirty;
    struct node *next;
};

/* A handle: ours first, the wrapped VFS's file right after it. */
struct cfile {
    const sqlite3_io_methods *methods;
    struct node *node; /* NULL: not a database, WAL or journal file */
};

static struct {
    bool registered;
    sqlite3_vfs vfs;
    sqlite3_vfs *real;
    enum state state;
    uint64_t cut_at;
    crashvfs_loss loss;
    uint64_t rng;
    crashvfs_counters counters;
    unsigned failing[CRASHVFS_SYNC_IOERR + 1];
    struct node *nodes;
} g;

static sqlite3_file *real_file(sqlite3_file *f)
{
    return (sqlite3_file *)((char *)f + sizeof(struct cfile));
}

static uint64_t next_random(void)
{
    /* splitmix64 */
    uint64_t z = (g.rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static bool coin(void)
{
    return next_random() & 1;
}

/* ---- Nodes -------------------------------------------------------------- */

static void drop_sectors(struct node *n)
{
    for (size_t i = 0; i < n->cap; i++)
        free(n->sectors[i]);
    free(n->sectors);
    n->sectors = NULL;
    n->cap = n->ndirty = 0;
}

static void free_node(struct node *n)
{
    struct node **p = &g.nodes;

    while (*p != n)
        p = &(*p)->next;
    *p = n->next;
    drop_sectors(n);
    free(n->path);
    free(n);
}

static struct node *find_node(const char *path)
{
    for (struct node *n = g.nodes; n != NULL; n = n->next)
        if (!n->deleted && strcmp(n->path, path) == 0)
            return n;
    return NULL;
}

static int64_t stat_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* The sector's buffer, made from the file as the process sees it if it
 * was clean. NULL when out of memory or the real read failed. */
static uint8_t *dirty_sector(struct node *n, sqlite3_file *real, size_t idx, int *rc)
{
    if (idx >= n->cap) {
        size_t cap = n->cap ? n->cap : 64;
        while (cap <= idx)
            cap *= 2;
        uint8_t **grown = realloc(n->sectors, cap * sizeof *grown);
        if (grown == NULL) {
            *rc = SQLITE_NOMEM;
            return NULL;
        }
        memset(grown + n->cap, 0, (cap - n->cap) * sizeof *grown);
        n->sectors = grown;
        n->cap = cap;
    }
    if (n->sectors[idx] != NULL)
        return n->sectors[idx];
    uint8_t *s = calloc(1, SECTOR);
    if (s == NULL) {
        *rc = SQLITE_NOMEM;
        return NULL;
    }
    int64_t start = (int64_t)idx * SECTOR;
    int64_t valid = n->size < n->floor ? n->size : n->floor; /* real bytes still seen */
    if (start < valid) {
        int len = valid - start < SECTOR ? (int)(valid - start) : SECTOR;
        int r = real->pMethods->xRead(real, s, len, start);
        if (r != SQLITE_OK && r != SQLITE_IOERR_SHORT_READ) {
            free(s);
            *rc = r;
            return NULL;
        }
    }
    n->sectors[idx] = s;
    n->ndirty++;
    return s;
}

/* The file as the process sees it: the real bytes below the floor, the
 * dirty sectors over them, zeros past the size. */
static int view_read(struct node *n, sqlite3_file *real, uint8_t *buf, int amt, int64_t off)
{
    int64_t end = off + amt;
    int64_t valid = n->size < n->floor ? n->size : n->floor;

    memset(buf, 0, (size_t)amt);
    if (off < valid) {
        int len = end < valid ? amt : (int)(valid - off);
        int rc = real->pMethods->xRead(real, buf, len, off);
        if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
            return rc;
    }
    for (int64_t idx = off / SECTOR; idx * SECTOR < end && (size_t)idx < n->cap; idx++) {
        const uint8_t *s = n->sectors[idx];
        if (s == NULL)
            continue;
        int64_t from = idx * SECTOR > off ? idx * SECTOR : off;
        int64_t to = (idx + 1) * SECTOR < end ? (idx + 1) * SECTOR : end;
        memcpy(buf + (from - off), s + (from - idx * SECTOR), (size_t)(to - from));
    }
    if (end > n->size) {
        if (off < n->size)
            memset(buf + (n->size - off), 0, (size_t)(end - n->size));
        else
            memset(buf, 0, (size_t)amt);
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

static int view_write(struct node *n, sqlite3_file *real, const uint8_t *buf, int amt, int64_t off)
{
    int64_t end = off + amt;
    int rc = SQLITE_OK;

    for (int64_t idx = off / SECTOR; idx * SECTOR < end; idx++) {
        uint8_t *s = dirty_sector(n, real, (size_t)idx, &rc);
        if (s == NULL)
            return rc;
        int64_t from = idx * SECTOR > off ? idx * SECTOR : off;
        int64_t to = (idx + 1) * SECTOR < end ? (idx + 1) * SECTOR : end;
        memcpy(s + (from - idx * SECTOR), buf + (from - off), (size_t)(to - from));
    }
    if (end > n->size)
        n->size = end;
    return SQLITE_OK;
}

static void view_truncate(struct node *n, int64_t size)
{
    if (size < n->size) {
        for (size_t idx = (size_t)(size / SECTOR); idx < n->cap; idx++) {
            if (n->sectors[idx] == NULL)
                continue;
            int64_t start = (int64_t)idx * SECTOR;
            if (start >= size) {
                free(n->sectors[idx]);
                n->sectors[idx] = NULL;
                n->ndirty--;
            } else {
                memset(n->sectors[idx] + (size - start), 0, (size_t)(start + SECTOR - size));
            }
        }
        if (size < n->floor)
            n->floor = size;
    }
    n->size = size;
}

/* Sector idx's bytes below the size, written to the real file. */
static int write_sector(struct node *n, sqlite3_file *real, size_t idx)
{
    int64_t start = (int64_t)idx * SECTOR;
    int len = n->size - start < SECTOR ? (int)(n->size - start) : SECTOR;

    return len > 0 ? real->pMethods->xWrite(real, n->sectors[idx], len, start) : SQLITE_OK;
}

/* xSync: the overlay reaches the real file. */
static int flush(struct node *n, sqlite3_file *real)
{
    sqlite3_int64 real_size;
    int rc;

    if (n->floor != NO_FLOOR) {
        if ((rc = real->pMethods->xTruncate(real, n->floor)) != SQLITE_OK)
            return rc;
        n->floor = NO_FLOOR;
    }
    for (size_t idx = 0; idx < n->cap; idx++) {
        if (n->sectors[idx] == NULL)
            continue;
        if ((rc = write_sector(n, real, idx)) != SQLITE_OK)
            return rc;
        free(n->sectors[idx]);
        n->sectors[idx] = NULL;
        n->ndirty--;
    }
    if ((rc = real->pMethods->xFileSize(real, &real_size)) != SQLITE_OK)
        return rc;
    if (real_size != n->size)
        return real->pMethods->xTruncate(real, n->size);
    return SQLITE_OK;
}

/* The power cut on one file no longer open: what was not synced is lost,
 * or with CRASHVFS_LOSE_SOME partly kept. -1 with errno. */
static int settle(struct node *n)
{
    if (n->deleted || (n->ndirty == 0 && n->floor == NO_FLOOR))
        return 0;
    if (g.loss == CRASHVFS_LOSE_ALL) {
        g.counters.lost_sectors += n->ndirty;
        return 0;
    }
    int fd = open(n->path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct stat st;
    if (fstat(fd, &st) < 0)
        goto fail;
    int64_t real_size = st.st_size;
    if (n->floor < real_size && coin()) {
        if (ftruncate(fd, n->floor) < 0)
            goto fail;
        real_size = n->floor;
    }
    /* Sectors inside the real file are kept or lost each on its own;
     * those that grow it only as a prefix, or a hole would appear. */
    bool growing = true;
    for (size_t idx = 0; idx < n->cap; idx++) {
        if (n->sectors[idx] == NULL)
            continue;
        int64_t start = (int64_t)idx * SECTOR;
        int len = n->size - start < SECTOR ? (int)(n->size - start) : SECTOR;
        bool inside = start < real_size;
        bool keep = len > 0 && (inside ? coin() : growing && coin());
        if (!inside && !keep)
            growing = false;
        if (!keep) {
            g.counters.lost_sectors++;
            continue;
        }
        if (pwrite(fd, n->sectors[idx], (size_t)len, start) != len)
            goto fail;
        g.counters.kept_sectors++;
    }
    return close(fd);
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* ---- I/O methods ---------------------------------------------------------- */

/* Count one operation on a node: the cut, or an injected fault of kind
 * fault (-1: none can be injected), answers non-zero. */
static int operation(int fault, int cut_rc)
{
    if (g.state == CUT)
        return cut_rc;
    g.counters.ops++;
    if (g.state == ARMED && g.counters.ops == g.cut_at) {
        g.state = CUT;
        return cut_rc;
    }
    if (fault >= 0 && g.failing[fault] > 0) {
        g.failing[fault]--;
        return fault == CRASHVFS_WRITE_FULL ? SQLITE_FULL : cut_rc;
    }
    return SQLITE_OK;
}

static int c_close(sqlite3_file *f)
{
    struct cfile *c = (struct cfile *)f;
    sqlite3_file *real = real_file(f);
    int rc = real->pMethods->xClose(real);

    if (c->node != NULL && --c->node->refs == 0 && g.state == PASS)
        free_node(c->node);
    c->node = NULL;
    return rc;
}

static int c_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    struct cfile *c = (struct cfile *)f;
    sqlite3_file *real = real_file(f);

    if (g.state == CUT)
        return SQLITE_IOERR_READ;
    if (c->node == NULL || g.state == PASS)
        return real->pMethods->xRead(real, buf, amt, off);
    return view_read(c->node, real, buf, amt, off);
}

static int c_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    struct cfile *c = (struct cfile *)f;
    sqlite3_file *real = real_file(f);
    int rc;

    if (c->node == NULL) {
        if (g.state == CUT)
            return SQLITE_IOERR_WRITE;
        return real->pMethods->xWrite(real, buf, amt, off);
    }
    int fault = g.failing[CRASHVFS_WRITE_FULL] > 0 ? CRASHVFS_WRITE_FULL : CRASHVFS_WRITE_IOERR;
    if ((rc = operation(fault, SQLITE_IOERR_WRITE)) != SQLITE_OK)
        return rc;
    g.counters.writes++;
    if (g.state == PASS)
        return real->pMethods->xWrite(real, buf, amt, off);
    return view_write(c->node, real, buf, amt, off);
}

static int c_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct cfile *c = (struct cfile *)f;
    sqlite3_file *real = real_file(f);
    int rc;

    if (c->node == NULL) {
        if (g.state == CUT)
            return SQLITE_IOERR_TRUNCATE;
        return real->pMethods->xTruncate(real, size);
    }
    if ((rc = operation(-1, SQLITE_IOERR_TRUNCATE)) != SQLITE_OK)
        return rc;
    if (g.state == PASS)
        return real->pMethods->xTruncate(real, size);
    view_truncate(c->node, size);
    return SQLITE_OK;
}

static int c_sync(sqlite3_file *f, int flags)
{
    struct cfile *c = (struct cfile *)f;
    sqlite3_file *real = real_file(f);
    int rc;

    if (c->node == NULL) {
        if (g.state == CUT)
            return SQLITE_IOERR_FSYNC;
        return real->pMethods->xSync(real, flags);
    }
    if ((rc = operation(CRASHVFS_SYNC_IOERR, SQLITE_IOERR_FSYNC)) != SQLITE_OK)
        return rc;
    g.counters.syncs++;
    if (g.state == PASS)
        return real->pMethods->xSync(real, flags);
    return flush(c->node, real);
}

static int c_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    struct cfile *c = (struct cfile *)f;
    sqlite3_file *real = real_file(f);

    if (g.state == CUT)
        return SQLITE_IOERR_FSTAT;
    if (c->node == NULL || g.state == PASS)
        return real->pMethods->xFileSize(real, size);
    *size = c->node->size;
    return SQLITE_OK;
}

static int c_lock(sqlite3_file *f, int level)
{
    sqlite3_file *real = real_file(f);
    return real->pMethods->xLock(real, level);
}

static int c_unlock(sqlite3_file *f, int level)
{
    sqlite3_file *real = real_file(f);
    return real->pMethods->xUnlock(real, level);
}

static int c_check_reserved_lock(sqlite3_file *f, int *out)
{
    sqlite3_file *real = real_file(f);
    return real->pMethods->xCheckReservedLock(real, out);
}

static int c_file_control(sqlite3_file *f, int op, void *arg)
{
    struct cfile *c = (struct cfile *)f;
    sqlite3_file *real = real_file(f);

    /* A size hint would grow the real file behind the overlay's back; it
     * is only a hint. */
    if (op == SQLITE_FCNTL_SIZE_HINT && c->node != NULL)
        return SQLITE_OK;
    return real->pMethods->xFileControl(real, op, arg);
}

static int c_sector_size(sqlite3_file *f)
{
    sqlite3_file *real = real_file(f);
    return real->pMethods->xSectorSize(real);
}

static int c_device_characteristics(sqlite3_file *f)
{
    sqlite3_file *real = real_file(f);
    /* POWERSAFE_OVERWRITE (the unix default) holds in this model: a lost
     * sector keeps its synced bytes, and no sector is torn. */
    return real->pMethods->xDeviceCharacteristics(real);
}

static int c_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
    sqlite3_file *real = real_file(f);
    return real->pMethods->xShmMap(real, page, size, extend, out);
}

static int c_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    sqlite3_file *real = real_file(f);
    return real->pMethods->xShmLock(real, offset, n, flags);
}

static void c_shm_barrier(sqlite3_file *f)
{
    sqlite3_file *real = real_file(f);
    real->pMethods->xShmBarrier(real);
}

static int c_shm_unmap(sqlite3_file *f, int delete_flag)
{
    sqlite3_file *real = real_file(f);
    return real->pMethods->xShmUnmap(real, delete_flag);
}

/* No memory maps: SQLite then reads through xRead, which sees the
 * overlay. */
static int c_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **out)
{
    (void)f, (void)off, (void)amt;
    *out = NULL;
    return SQLITE_OK;
}

static int c_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    (void)f, (void)off, (void)p;
    return SQLITE_OK;
}

static const sqlite3_io_methods io_methods = {
    .iVersion = 3,
    .xClose = c_close,
    .xRead = c_read,
    .xWrite = c_write,
    .xTruncate = c_truncate,
    .xSync = c_sync,
    .xFileSize = c_file_size,
    .xLock = c_lock,
    .xUnlock = c_unlock,
    .xCheckReservedLock = c_check_reserved_lock,
    .xFileControl = c_file_control,
    .xSectorSize = c_sector_size,
    .xDeviceCharacteristics = c_device_characteristics,
    .xShmMap = c_shm_map,
    .xShmLock = c_shm_lock,
    .xShmBarrier = c_shm_barrier,
    .xShmUnmap = c_shm_unmap,
    .xFetch = c_fetch,
    .xUnfetch = c_unfetch,
};

/* ---- VFS methods ---------------------------------------------------------- */

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    struct cfile *c = (struct cfile *)f;
    sqlite3_file *real = real_file(f);
    const int kept = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL |
                     SQLITE_OPEN_SUPER_JOURNAL;
    struct node *n = NULL;
    bool fresh = false;
    int rc;

    (void)vfs;
    c->methods = NULL;
    c->node = NULL;
    if (g.state == CUT)
        return SQLITE_IOERR;
    if (name != NULL && (flags & kept)) {
        n = find_node(name);
        if (n == NULL) {
            if ((n = calloc(1, sizeof *n)) == NULL || (n->path = strdup(name)) == NULL) {
                free(n);
                return SQLITE_NOMEM;
            }
            n->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
            n->floor = NO_FLOOR;
            fresh = true;
            n->next = g.nodes;
            g.nodes = n;
        }
        n->refs++;
    }
    rc = g.real->xOpen(g.real, name, real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (n != NULL && --n->refs == 0 && (fresh || g.state == PASS))
            free_node(n);
        return rc;
    }
    /* A file new to the overlay starts as the real file is. */
    if (fresh)
        n->size = stat_size(name);
    c->node = n;
    c->methods = &io_methods;
    return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    if (g.state == CUT)
        return SQLITE_IOERR_DELETE;
    struct node *n = find_node(name);
    if (n != NULL) {
        if (n->refs == 0 && g.state == PASS)
            free_node(n);
        else
            n->deleted = true;
    }
    return g.real->xDelete(g.real, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return g.real->xAccess(g.real, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return g.real->xFullPathname(g.real, name, n, out);
}

static void *v_dl_open(sqlite3_vfs *vfs, const char *path)
{
    (void)vfs;
    return g.real->xDlOpen(g.real, path);
}

static void v_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    g.real->xDlError(g.real, n, msg);
}

static void (*v_dl_sym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
    (void)vfs;
    return g.real->xDlSym(g.real, lib, sym);
}

static void v_dl_close(sqlite3_vfs *vfs, void *lib)
{
    (void)vfs;
    g.real->xDlClose(g.real, lib);
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return g.real->xRandomness(g.real, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return g.real->xSleep(g.real, us);
}

static int v_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return g.real->xCurrentTime(g.real, out);
}

static int v_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return g.real->xGetLastError(g.real, n, out);
}

static int v_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return g.real->xCurrentTimeInt64(g.real, out);
}

static int v_set_system_call(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr fn)
{
    (void)vfs;
    return g.real->xSetSystemCall(g.real, name, fn);
}

static sqlite3_syscall_ptr v_get_system_call(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return g.real->xGetSystemCall(g.real, name);
}

static const char *v_next_system_call(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return g.real->xNextSystemCall(g.real, name);
}

/* ---- The interface --------------------------------------------------------- */

int crashvfs_register(void)
{
    if (!g.registered) {
        g.real = sqlite3_vfs_find("unix");
        if (g.real == NULL || g.real->iVersion < 3)
            return -1;
        g.vfs = (sqlite3_vfs){
            .iVersion = 3,
            .szOsFile = (int)sizeof(struct cfile) + g.real->szOsFile,
            .mxPathname = g.real->mxPathname,
            .zName = "crashvfs",
            .xOpen = v_open,
            .xDelete = v_delete,
            .xAccess = v_access,
            .xFullPathname = v_full_pathname,
            .xDlOpen = v_dl_open,
            .xDlError = v_dl_error,
            .xDlSym = v_dl_sym,
            .xDlClose = v_dl_close,
            .xRandomness = v_randomness,
            .xSleep = v_sleep,
            .xCurrentTime = v_current_time,
            .xGetLastError = v_get_last_error,
            .xCurrentTimeInt64 = v_current_time_int64,
            .xSetSystemCall = v_set_system_call,
            .xGetSystemCall = v_get_system_call,
            .xNextSystemCall = v_next_system_call,
        };
        g.registered = true;
    }
    return sqlite3_vfs_register(&g.vfs, 1) == SQLITE_OK ? 0 : -1;
}

int crashvfs_arm(uint64_t cut_at, crashvfs_loss loss, uint64_t seed)
{
    if (g.state == CUT) {
        errno = EBUSY;
        return -1;
    }
    if (g.state == PASS)
        for (struct node *n = g.nodes; n != NULL; n = n->next)
            n->size = stat_size(n->path);
    g.state = ARMED;
    g.cut_at = cut_at;
    g.loss = loss;
    g.rng = seed;
    g.counters.ops = g.counters.writes = g.counters.syncs = 0;
    return 0;
}

bool crashvfs_is_cut(void)
{
    return g.state == CUT;
}

int crashvfs_power_cut(void)
{
    int rc = 0, e = 0;

    for (struct node *n = g.nodes; n != NULL; n = n->next)
        if (n->refs > 0) {
            errno = EBUSY;
            return -1;
        }
    g.counters.lost_sectors = g.counters.kept_sectors = 0;
    while (g.nodes != NULL) {
        struct node *n = g.nodes;
        if (g.state != PASS && settle(n) < 0 && rc == 0) {
            rc = -1;
            e = errno;
        }
        if (n->main_db && g.state != PASS) {
            size_t len = strlen(n->path);
            char *shm = malloc(len + 5);
            if (shm != NULL) {
                memcpy(shm, n->path, len);
                memcpy(shm + len, "-shm", 5);
                unlink(shm);
                free(shm);
            }
        }
        free_node(n);
    }
    g.state = PASS;
    memset(g.failing, 0, sizeof g.failing);
    errno = e;
    return rc;
}

void crashvfs_fail(crashvfs_fault kind, unsigned count)
{
    g.failing[kind] = count;
}

void crashvfs_counters_get(crashvfs_counters *out)
{
    *out = g.counters;
}
