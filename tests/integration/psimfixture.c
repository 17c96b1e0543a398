/*
 * psimfixture — starting, driving and stopping printersim for the printer
 * tests. psimfixture.h has the contract.
 */
#include "psimfixture.h"

#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testsupport.h"

void psim_start(psim *s, const char *const extra[])
{
    const char *argv[24] = {PRINTERSIM_PATH, "--port", "0", "--control-port", "0", "--out"};
    int argc = 6;

    memset(s, 0, sizeof *s);
    s->control = -1;
    s->dir = ts_tmpdir("printersim");
    snprintf(s->out, sizeof s->out, "%s", ts_path(s->dir, "tickets.txt"));
    snprintf(s->log, sizeof s->log, "%s", ts_path(s->dir, "printersim.log"));
    argv[argc++] = s->out;
    argv[argc++] = "--log-level";
    argv[argc++] = "debug";
    for (int i = 0; extra != NULL && extra[i] != NULL; i++) {
        ck_assert_int_lt(argc, 23);
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    s->pid = ts_spawn(argv, s->log);
    ck_assert_msg(ts_file_contains(s->log, "printersim: listening on 127.0.0.1:", PSIM_WAIT_MS),
                  "the simulator did not start");
    s->port = ts_log_port(s->log, "listening on 127.0.0.1:");
    s->control_port = ts_log_port(s->log, "control on 127.0.0.1:");
    ck_assert_int_gt(s->port, 0);
    ck_assert_int_gt(s->control_port, 0);
}

/* Under the sanitizers exit 0 also means no leak report. */
void psim_stop(psim *s)
{
    int status;

    if (s->control >= 0)
        close(s->control);
    ck_assert_int_eq(kill(s->pid, SIGTERM), 0);
    status = ts_wait(s->pid, PSIM_WAIT_MS);
    if (status == -1)
        ts_kill(s->pid);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "printersim did not stop cleanly (status %d)", status);
    ts_rmtree(s->dir);
    free(s->dir);
}

int psim_connect(int port)
{
    int fd = ts_connect(port, 10), one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void psim_control(psim *s, const char *cmd)
{
    char reply[512];
    size_t n = 0;
    size_t len = strlen(cmd);

    if (s->control < 0)
        s->control = psim_connect(s->control_port);
    ck_assert_int_eq(write(s->control, cmd, len), (ssize_t)len);
    ck_assert_int_eq(write(s->control, "\n", 1), 1);
    while (n < sizeof reply - 1) {
        ssize_t r = read(s->control, reply + n, 1);

        ck_assert_msg(r == 1, "no answer to control line '%s'", cmd);
        if (reply[n++] == '\n')
            break;
    }
    reply[n] = '\0';
    ck_assert_msg(strncmp(reply, "ok ", 3) == 0, "'%s' answered '%s'", cmd, reply);
}

void psim_wait_out(const psim *s, const char *needle)
{
    ck_assert_msg(ts_file_contains(s->out, needle, PSIM_WAIT_MS), "'%s' not in the output", needle);
}
