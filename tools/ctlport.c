/*
 * ctlport — a simulator's control port. ctlport.h has the contract.
 */
#include "ctlport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"

struct ctlport {
    ev_loop *loop;
    int fd;
    ctlport_fn *fn;
    void *arg;
    net_conn *conns[CTLPORT_CONNS];
};

bool ctlport_run_lines(buf *in, ctlport_fn *fn, void *arg, FILE *out)
{
    const uint8_t *nl;

    while ((nl = memchr(buf_rdata(in), '\n', buf_rlen(in))) != NULL) {
        char line[CTLPORT_LINE_MAX + 1];
        size_t len = (size_t)(nl - buf_rdata(in));

        if (len > CTLPORT_LINE_MAX)
            return false;
        memcpy(line, buf_rdata(in), len);
        buf_consume(in, len + 1);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        line[len] = '\0';
        fn(arg, line, out);
    }
    return buf_rlen(in) <= CTLPORT_LINE_MAX;
}

static void on_data(net_conn *c, buf *in, void *arg)
{
    struct ctlport *p = arg;
    char *reply = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&reply, &len);
    bool ok;

    if (out == NULL) {
        net_conn_close(c, false, "out of memory");
        return;
    }
    ok = ctlport_run_lines(in, p->fn, p->arg, out);
    fclose(out);
    if (len > 0 && net_conn_write(c, reply, len) == 0)
        net_conn_flush(c);
    free(reply);
    if (!ok)
        net_conn_close(c, false, "control line too long");
}

static void on_close(net_conn *c, const char *reason, void *arg)
{
    struct ctlport *p = arg;

    for (size_t i = 0; i < CTLPORT_CONNS; i++)
        if (p->conns[i] == c)
            p->conns[i] = NULL;
    log_debug("control %s closed: %s", net_conn_peer_addr(c), reason);
}

static const net_conn_handlers handlers = {NULL, on_data, on_close};

static void on_accept(ev_loop *loop, int fd, int events, void *arg)
{
    struct ctlport *p = arg;
    char err[NET_ERR_LEN];
    size_t i;
    int cfd;

    (void)events;
    if ((cfd = net_accept(fd, NULL, 0, err)) < 0) {
        if (errno != EAGAIN)
            log_warn("control accept: %s", err);
        return;
    }
    for (i = 0; i < CTLPORT_CONNS && p->conns[i] != NULL; i++)
        ;
    if (i == CTLPORT_CONNS) {
        log_warn("control connection refused: %d already open", CTLPORT_CONNS);
        close(cfd);
        return;
    }
    p->conns[i] =
        net_conn_new(loop, cfd, NULL, true, CTLPORT_LINE_MAX * 4, 64 * 1024, &handlers, p);
    if (p->conns[i] == NULL)
        log_warn("control connection: %s", strerror(errno));
}

ctlport *ctlport_new(ev_loop *loop, const char *host, int port, ctlport_fn *fn, void *arg,
                     char *err)
{
    struct ctlport *p = calloc(1, sizeof *p);

    if (p == NULL) {
        snprintf(err, NET_ERR_LEN, "out of memory");
        return NULL;
    }
    p->loop = loop;
    p->fn = fn;
    p->arg = arg;
    if ((p->fd = net_listen(host, port, CTLPORT_CONNS, err)) < 0) {
        free(p);
        return NULL;
    }
    if (ev_fd_set(loop, p->fd, EV_READ, on_accept, p) < 0) {
        snprintf(err, NET_ERR_LEN, "cannot watch the control port: %s", strerror(errno));
        close(p->fd);
        free(p);
        return NULL;
    }
    return p;
}

int ctlport_port(const ctlport *c)
{
    return net_local_port(c->fd);
}

void ctlport_free(ctlport *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < CTLPORT_CONNS; i++)
        if (c->conns[i] != NULL)
            net_conn_close(c->conns[i], false, "simulator stopped");
    ev_fd_del(c->loop, c->fd);
    close(c->fd);
    free(c);
}
