/*
 * health — running the mark-good checks (see health.h): one child per
 * check, stdin from /dev/null, killed when its deadline passes.
 */
#include "health.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int only_checks(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Exit status of one check, or -2 on timeout, -1 if it cannot start. */
static int run_one(const char *path, int timeout_s)
{
    struct timespec start, now, nap = {0, 20 * 1000 * 1000};
    pid_t pid = fork();
    int status;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0)
            dup2(fd, STDIN_FILENO);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -2;
        }
        nanosleep(&nap, NULL);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int health_run(const char *dir, int timeout_s, char *why, size_t why_len)
{
    struct dirent **list;
    int n = scandir(dir, &list, only_checks, alphasort), ran = 0, failed = 0;

    if (n < 0)
        return errno == ENOENT ? 0 : -1;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat sb;
        int rc;

        if (failed ||
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name) >= (int)sizeof path ||
            stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) || !(sb.st_mode & S_IXUSR)) {
            free(list[i]);
            continue;
        }
        rc = run_one(path, timeout_s);
        ran++;
        if (rc != 0) {
            if (rc == -2)
                snprintf(why, why_len, "Health check %s did not finish within %d s.",
                         list[i]->d_name, timeout_s);
            else
                snprintf(why, why_len, "Health check %s failed (status %d).", list[i]->d_name, rc);
            failed = 1;
        }
        free(list[i]);
    }
    free(list);
    if (failed) {
        errno = EPROTO;
        return -1;
    }
    return ran;
}
