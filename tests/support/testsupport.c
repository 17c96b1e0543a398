/*
 * testsupport — see testsupport.h. Failures here are test failures: they
 * call ck_abort_msg() so the test that needed the helper stops with a
 * reason.
 */
#include "testsupport.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"

char *ts_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path;

    if (base == NULL || *base == '\0')
        base = "/tmp";
    if (asprintf(&path, "%s/onewindow-%s-XXXXXX", base, tag) < 0)
        ck_abort_msg("asprintf: out of memory");
    if (mkdtemp(path) == NULL)
        ck_abort_msg("mkdtemp %s: %s", path, strerror(errno));
    return path;
}

static int rmtree_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

void ts_rmtree(const char *path)
{
    if (path != NULL)
        nftw(path, rmtree_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *ts_path(const char *dir, const char *name)
{
    static char ring[8][1024];
    static unsigned next;
    char *out = ring[next++ % 8];

    snprintf(out, sizeof ring[0], "%s/%s", dir, name);
    return out;
}

void ts_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        ck_abort_msg("open %s: %s", path, strerror(errno));
    fputs(text, f);
    if (fclose(f) != 0)
        ck_abort_msg("write %s: %s", path, strerror(errno));
}

pid_t ts_spawn(const char *const argv[], const char *log_path)
{
    pid_t pid = fork();

    if (pid < 0)
        ck_abort_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        if (log_path != NULL) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                close(fd);
            }
        }
        /* execv() wants writable strings; give it copies. */
        char *args[32];
        int n = 0;
        while (n < 31 && argv[n] != NULL) {
            args[n] = strdup(argv[n]);
            n++;
        }
        args[n] = NULL;
        execv(args[0], args);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int ts_wait(pid_t pid, int timeout_ms)
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
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
}

void ts_kill(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

int ts_system(const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (rc < 0)
        ck_abort_msg("vasprintf: out of memory");
    rc = system(cmd);
    free(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

int ts_connect(int port, int recv_timeout_s)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = recv_timeout_s};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect to port %d: %s",
                  port, strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

bool ts_run_until(ev_loop *loop, const bool *flag, int timeout_ms)
{
    int64_t until = clk_mono_ms() + timeout_ms;

    while (!*flag) {
        int64_t left = until - clk_mono_ms();
        if (left <= 0)
            break;
        ev_run_once(loop, left > 50 ? 50 : (int)left);
    }
    return *flag;
}

bool ts_file_contains(const char *path, const char *needle, int timeout_ms)
{
    int64_t until = clk_mono_ms() + timeout_ms;

    for (;;) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            char line[4096];
            bool found = false;
            while (!found && fgets(line, sizeof line, f) != NULL)
                found = strstr(line, needle) != NULL;
            fclose(f);
            if (found)
                return true;
        }
        if (clk_mono_ms() >= until)
            return false;
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
}

char *ts_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    char *text = malloc(cap);

    ck_assert_ptr_nonnull(text);
    while (f != NULL) {
        size_t r;

        if (cap - n < 2) {
            cap *= 2;
            text = realloc(text, cap);
            ck_assert_ptr_nonnull(text);
        }
        r = fread(text + n, 1, cap - n - 1, f);
        if (r == 0)
            break;
        n += r;
    }
    if (f != NULL)
        fclose(f);
    text[n] = '\0';
    return text;
}

int ts_log_port(const char *path, const char *prefix)
{
    char *text = ts_slurp(path);
    const char *at = text != NULL ? strstr(text, prefix) : NULL;
    int port = at != NULL ? atoi(at + strlen(prefix)) : 0;

    free(text);
    return port;
}
