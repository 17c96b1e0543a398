/*
 * reliability_hall — a hall and its processes for the harness. See
 * reliability_hall.h.
 */
#include "reliability_hall.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"

#define MAX_ARGS     40
#define LISTEN_MARK  "listening on 127.0.0.1:"
#define STOPPED_MARK "faultproxy: stopped:"
#define AREAS        "intake:1,realestate:1,fund:1,social:1,tax:1,approval:1"

struct rhall {
    char halld[PATH_MAX], hallctl[PATH_MAX], faultproxy[PATH_MAX], catalog[PATH_MAX];
    char dir[PATH_MAX];
    char config[PATH_MAX + 16], db[PATH_MAX + 16];
    char halld_log[PATH_MAX + 16], proxy_log[PATH_MAX + 16], hallctl_log[PATH_MAX + 16];
    pid_t halld_pid;
    off_t halld_log_at; /* where this start's lines begin */
    pid_t proxy_pid;
    int proxy_ctl; /* write end of the proxy's standard input */
    off_t proxy_log_at;
};

/* An argument vector for exec, its strings copied into its own pool so
 * none of them needs a cast from const. */
struct args {
    char *v[MAX_ARGS + 1];
    int n;
    char pool[8192];
    size_t used;
};

static void args_add(struct args *a, const char *s)
{
    size_t len = strlen(s) + 1;

    /* The callers' argument lists stay far below both limits. */
    if (a->n >= MAX_ARGS || len > sizeof a->pool - a->used)
        return;
    a->v[a->n] = memcpy(a->pool + a->used, s, len);
    a->used += len;
    a->v[++a->n] = NULL;
}

static void args_addv(struct args *a, va_list ap)
{
    const char *s;

    while ((s = va_arg(ap, const char *)) != NULL)
        args_add(a, s);
}

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

/* fork and exec argv with standard output and error appended to log and
 * standard input from in_fd (-1: /dev/null). Only async-signal-safe calls
 * happen in the child, so this is safe while other threads run. */
static pid_t spawn(char *const argv[], const char *log, int in_fd)
{
    pid_t pid = fork();

    if (pid != 0)
        return pid;
    int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
    int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
        dup2(out, STDERR_FILENO) < 0)
        _exit(127);
    execv(argv[0], argv);
    _exit(127);
}

/* Wait up to timeout_ms for pid; its wait status, or -1 on timeout. */
static int wait_for(pid_t pid, int timeout_ms)
{
    int64_t until = clk_mono_ms() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (clk_mono_ms() >= until)
            return -1;
        sleep_ms(5);
    }
}

static off_t file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* The bytes of path from offset at, NUL-terminated; NULL if unreadable. */
static char *read_from(const char *path, off_t at)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0, cap = 0, n;

    if (f == NULL)
        return NULL;
    if (fseeko(f, at, SEEK_SET) == 0) {
        for (;;) {
            if (cap - len < 4096) {
                char *grown = realloc(text, cap + 65536);
                if (grown == NULL)
                    break;
                text = grown;
                cap += 65536;
            }
            if ((n = fread(text + len, 1, cap - len - 1, f)) == 0)
                break;
            len += n;
        }
    }
    fclose(f);
    if (text != NULL)
        text[len] = '\0';
    return text;
}

/* The last non-empty line of text (into out), for error messages. */
static void last_line(const char *text, char *out, size_t outlen)
{
    const char *end = text + strlen(text), *start;

    while (end > text && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    start = end;
    while (start > text && start[-1] != '\n')
        start--;
    snprintf(out, outlen, "%.*s", (int)(end - start), start);
}

/* Wait until log (from at) has the listening line of pid; its port, or -1
 * with a reason when pid exits or the time is up. */
static int wait_listening(pid_t pid, const char *log, off_t at, int timeout_ms, const char *what,
                          char *err, size_t errlen)
{
    int64_t until = clk_mono_ms() + timeout_ms;
    int status;

    for (;;) {
        char *text = read_from(log, at);
        const char *mark = text ? strstr(text, LISTEN_MARK) : NULL;
        if (mark != NULL) {
            int port = atoi(mark + strlen(LISTEN_MARK));
            free(text);
            return port;
        }
        char last[300] = "";
        if (text != NULL)
            last_line(text, last, sizeof last);
        free(text);
        if (waitpid(pid, &status, WNOHANG) == pid) {
            snprintf(err, errlen, "%s exited before listening: %s", what, last);
            return -2;
        }
        if (clk_mono_ms() >= until) {
            snprintf(err, errlen, "%s did not listen within %d ms: %s", what, timeout_ms, last);
            return -1;
        }
        sleep_ms(5);
    }
}

static int rmtree_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

/* ---- The hall ----------------------------------------------------------------- */

/* Run argv (argv[0] a path), output to the hallctl log; exit status or -1. */
static int run(rhall *h, char *const argv[])
{
    pid_t pid = spawn(argv, h->hallctl_log, -1);
    int status;

    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int rhall_hallctl(rhall *h, ...)
{
    struct args a = {.n = 0};
    va_list ap;

    args_add(&a, h->hallctl);
    args_add(&a, "-c");
    args_add(&a, h->config);
    va_start(ap, h);
    args_addv(&a, ap);
    va_end(ap);
    return run(h, a.v);
}

/* halld on loopback, on a port of its choosing. */
static int edit_config(rhall *h)
{
    char *text = read_from(h->config, 0), *line, *save = NULL;
    FILE *f;

    if (text == NULL || (f = fopen(h->config, "w")) == NULL) {
        free(text);
        return -1;
    }
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "address", 7) == 0 && strchr(line, '=') != NULL)
            fputs("address = 127.0.0.1\n", f);
        else if (strncmp(line, "port", 4) == 0 && strchr(line, '=') != NULL)
            fputs("port = 0\n", f);
        else
            fprintf(f, "%s\n", line);
    }
    free(text);
    return fclose(f) == 0 ? 0 : -1;
}

static void copy_path(char *out, size_t outlen, const char *in)
{
    snprintf(out, outlen, "%s", in != NULL ? in : "");
}

rhall *rhall_new(const rhall_paths *paths, int kiosks, int windows, char *err, size_t errlen)
{
    rhall *h = calloc(1, sizeof *h);
    const char *base = getenv("TMPDIR");
    char no[16], name[32], id[32], clerk[32];

    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->proxy_ctl = -1;
    copy_path(h->halld, sizeof h->halld, paths->halld);
    copy_path(h->hallctl, sizeof h->hallctl, paths->hallctl);
    copy_path(h->faultproxy, sizeof h->faultproxy, paths->faultproxy);
    copy_path(h->catalog, sizeof h->catalog, paths->catalog);
    snprintf(h->dir, sizeof h->dir, "%s/onewindow-reliability-XXXXXX",
             base != NULL && *base != '\0' ? base : "/tmp");
    if (mkdtemp(h->dir) == NULL) {
        snprintf(err, errlen, "cannot make a directory %s: %s", h->dir, strerror(errno));
        free(h);
        return NULL;
    }
    snprintf(h->config, sizeof h->config, "%s/halld.ini", h->dir);
    snprintf(h->db, sizeof h->db, "%s/hall.db", h->dir);
    snprintf(h->halld_log, sizeof h->halld_log, "%s/halld.log", h->dir);
    snprintf(h->proxy_log, sizeof h->proxy_log, "%s/faultproxy.log", h->dir);
    snprintf(h->hallctl_log, sizeof h->hallctl_log, "%s/hallctl.log", h->dir);

    struct args init = {.n = 0};
    args_add(&init, h->hallctl);
    args_add(&init, "init");
    args_add(&init, "--dir");
    args_add(&init, h->dir);
    args_add(&init, "--hall-id");
    args_add(&init, "reliability");
    if (run(h, init.v) != 0 || edit_config(h) < 0) {
        snprintf(err, errlen, "hallctl init failed (see %s)", h->hallctl_log);
        goto fail;
    }
    if (rhall_hallctl(h, "catalog", "import", h->catalog, NULL) != 0) {
        snprintf(err, errlen, "hallctl catalog import %s failed (see %s)", h->catalog,
                 h->hallctl_log);
        goto fail;
    }
    for (int w = 1; w <= windows; w++) {
        snprintf(no, sizeof no, "%d", w);
        snprintf(name, sizeof name, "综合窗口%d", w);
        snprintf(id, sizeof id, "win-%d", w);
        snprintf(clerk, sizeof clerk, "c-%d", w);
        if (rhall_hallctl(h, "window", "add", "--no", no, "--name", name, "--type", "intake",
                          "--areas", AREAS, NULL) != 0 ||
            rhall_hallctl(h, "clerk", "add", "--id", clerk, "--name", name, NULL) != 0 ||
            rhall_hallctl(h, "device", "add", "--id", id, "--type", "window", "--window", no,
                          NULL) != 0) {
            snprintf(err, errlen, "hallctl could not set up window %d (see %s)", w, h->hallctl_log);
            goto fail;
        }
    }
    for (int k = 1; k <= kiosks; k++) {
        snprintf(id, sizeof id, "kiosk-%d", k);
        if (rhall_hallctl(h, "device", "add", "--id", id, "--type", "kiosk", NULL) != 0) {
            snprintf(err, errlen, "hallctl could not add %s (see %s)", id, h->hallctl_log);
            goto fail;
        }
    }
    return h;
fail:
    rhall_free(h, false);
    return NULL;
}

void rhall_free(rhall *h, bool keep)
{
    if (h == NULL)
        return;
    rhall_kill(h);
    if (h->proxy_pid > 0) {
        kill(h->proxy_pid, SIGKILL);
        waitpid(h->proxy_pid, NULL, 0);
    }
    if (h->proxy_ctl >= 0)
        close(h->proxy_ctl);
    if (!keep)
        nftw(h->dir, rmtree_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(h);
}

const char *rhall_dir(const rhall *h)
{
    return h->dir;
}

const char *rhall_db(const rhall *h)
{
    return h->db;
}

/* ---- halld ----------------------------------------------------------------------- */

int rhall_spawn(rhall *h, bool plaintext, char *err, size_t errlen)
{
    struct args a = {.n = 0};

    args_add(&a, h->halld);
    args_add(&a, "-c");
    args_add(&a, h->config);
    if (plaintext)
        args_add(&a, "--dev-plaintext");
    if (h->halld_pid > 0) {
        snprintf(err, errlen, "halld is already running");
        return -1;
    }
    h->halld_log_at = file_size(h->halld_log);
    if ((h->halld_pid = spawn(a.v, h->halld_log, -1)) < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        h->halld_pid = 0;
        return -1;
    }
    return 0;
}

int rhall_start(rhall *h, bool plaintext, int timeout_ms, char *err, size_t errlen)
{
    int port;

    if (rhall_spawn(h, plaintext, err, errlen) < 0)
        return -1;
    port = wait_listening(h->halld_pid, h->halld_log, h->halld_log_at, timeout_ms, "halld", err,
                          errlen);
    if (port == -2) { /* exited and reaped */
        h->halld_pid = 0;
        return -1;
    }
    if (port <= 0) {
        rhall_kill(h);
        return -1;
    }
    return port;
}

pid_t rhall_pid(const rhall *h)
{
    return h->halld_pid;
}

void rhall_kill(rhall *h)
{
    if (h->halld_pid <= 0)
        return;
    kill(h->halld_pid, SIGKILL);
    while (waitpid(h->halld_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    h->halld_pid = 0;
}

int rhall_stop(rhall *h, int timeout_ms)
{
    int status;

    if (h->halld_pid <= 0)
        return -1;
    kill(h->halld_pid, SIGTERM);
    status = wait_for(h->halld_pid, timeout_ms);
    if (status == -1)
        rhall_kill(h);
    h->halld_pid = 0;
    return status;
}

/* ---- faultproxy ---------------------------------------------------------------- */

int rhall_proxy_start(rhall *h, int upstream_port, int timeout_ms, char *err, size_t errlen, ...)
{
    struct args a = {.n = 0};
    char upstream[64];
    int fds[2], port;
    va_list ap;

    if (h->proxy_pid > 0) {
        snprintf(err, errlen, "faultproxy is already running");
        return -1;
    }
    snprintf(upstream, sizeof upstream, "127.0.0.1:%d", upstream_port);
    args_add(&a, h->faultproxy);
    args_add(&a, "--upstream");
    args_add(&a, upstream);
    va_start(ap, errlen);
    args_addv(&a, ap);
    va_end(ap);
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    h->proxy_log_at = file_size(h->proxy_log);
    h->proxy_pid = spawn(a.v, h->proxy_log, fds[0]);
    close(fds[0]);
    if (h->proxy_pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(fds[1]);
        h->proxy_pid = 0;
        return -1;
    }
    h->proxy_ctl = fds[1];
    port = wait_listening(h->proxy_pid, h->proxy_log, h->proxy_log_at, timeout_ms, "faultproxy",
                          err, errlen);
    if (port <= 0) {
        if (port != -2)
            kill(h->proxy_pid, SIGKILL);
        waitpid(h->proxy_pid, NULL, 0);
        h->proxy_pid = 0;
        close(h->proxy_ctl);
        h->proxy_ctl = -1;
        return -1;
    }
    return port;
}

int rhall_proxy_control(rhall *h, const char *line)
{
    size_t len = strlen(line);

    if (h->proxy_ctl < 0 || write(h->proxy_ctl, line, len) != (ssize_t)len ||
        write(h->proxy_ctl, "\n", 1) != 1)
        return -1;
    return 0;
}

static uint64_t count_of(const char *line, const char *key)
{
    const char *at = strstr(line, key);

    return at != NULL ? strtoull(at + strlen(key), NULL, 10) : 0;
}

int rhall_proxy_stop(rhall *h, rhall_faults *out, char *err, size_t errlen)
{
    int status;

    memset(out, 0, sizeof *out);
    if (h->proxy_pid <= 0) {
        snprintf(err, errlen, "faultproxy is not running");
        return -1;
    }
    kill(h->proxy_pid, SIGTERM);
    if ((status = wait_for(h->proxy_pid, 10000)) == -1) {
        kill(h->proxy_pid, SIGKILL);
        waitpid(h->proxy_pid, NULL, 0);
    }
    h->proxy_pid = 0;
    close(h->proxy_ctl);
    h->proxy_ctl = -1;
    char *text = read_from(h->proxy_log, h->proxy_log_at);
    const char *line = text ? strstr(text, STOPPED_MARK) : NULL;
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || line == NULL) {
        snprintf(err, errlen, "faultproxy did not stop cleanly (see %s)", h->proxy_log);
        free(text);
        return -1;
    }
    out->connections = count_of(line, " connections=");
    out->drop = count_of(line, " drop=");
    out->reset = count_of(line, " reset=");
    out->delay = count_of(line, " delay=");
    out->partial = count_of(line, " partial=");
    out->dup = count_of(line, " dup=");
    out->c2s_bytes = count_of(line, " c2s_bytes=");
    out->s2c_bytes = count_of(line, " s2c_bytes=");
    free(text);
    return 0;
}

/* ---- /proc ----------------------------------------------------------------------- */

int rhall_sample(pid_t pid, long *rss_kib, int *fds)
{
    char path[64], line[256];
    FILE *f;
    DIR *d;
    struct dirent *e;

    *rss_kib = -1;
    *fds = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kib = strtol(line + 6, NULL, 10);
    fclose(f);
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    if ((d = opendir(path)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            (*fds)++;
    closedir(d);
    return *rss_kib >= 0 ? 0 : -1;
}
