/*
 * psimfixture — the printer simulator (tools/printersim) as tests start
 * it: the real binary on loopback port 0 with a control port, its readable
 * output and its log in a scratch directory, stopped with SIGTERM (which
 * must end it with status 0). Every helper aborts the test on failure.
 */
#ifndef ONEWINDOW_PSIMFIXTURE_H
#define ONEWINDOW_PSIMFIXTURE_H

#include <sys/types.h>

#define PSIM_WAIT_MS 10000

typedef struct psim {
    pid_t pid;
    char *dir;
    char out[512], log[512]; /* its decoded tickets and its log */
    int port, control_port;
    int control; /* connected control socket, -1 until first used */
} psim;

/* Start printersim with extra arguments (NULL-terminated, may be NULL). */
void psim_start(psim *s, const char *const extra[]);
/* SIGTERM; it must exit 0. Removes the scratch directory. */
void psim_stop(psim *s);
/* A connected loopback TCP socket to port (10 s receive timeout). */
int psim_connect(int port);
/* One control line; its one-line answer must start with "ok ". */
void psim_control(psim *s, const char *cmd);
/* Wait until the readable output contains needle. */
void psim_wait_out(const psim *s, const char *needle);

#endif
