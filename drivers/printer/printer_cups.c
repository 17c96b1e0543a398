/*
 * printer_cups — the "cups" backend: a raw job to one CUPS queue per
 * print call, followed to its end, and the queue's state as the status.
 * printer_cups.h describes what it promises.
 *
 * Every call runs on the printer's worker thread and opens its own
 * connection (libcups keeps its last error per thread, and a connection
 * that broke in one call cannot spoil the next). The call's timeout bounds
 * the connect, every read and write, and the wait for the job's end.
 */
#include "printer_cups.h"

#include <cups/cups.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 50

struct cups_be {
    char queue[sizeof((printer_conf *)0)->cups.queue];
    char host[sizeof((printer_conf *)0)->cups.server];
    int port; /* 0 for a socket path */
};

static int cups_open(const printer_conf *conf, void **be, char *err, size_t errlen)
{
    struct cups_be *c;
    const char *server = conf->cups.server[0] != '\0' ? conf->cups.server : cupsServer();
    char *colon;

    if (conf->cups.queue[0] == '\0' ||
        memchr(conf->cups.queue, '\0', sizeof conf->cups.queue) == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "cups printer: no queue name in the configuration");
        errno = EINVAL;
        return -1;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "cups printer: out of memory");
        return -1;
    }
    snprintf(c->queue, sizeof c->queue, "%s", conf->cups.queue);
    if (snprintf(c->host, sizeof c->host, "%s", server) >= (int)sizeof c->host) {
        free(c);
        if (err != NULL)
            snprintf(err, errlen, "cups printer: server name too long");
        errno = EINVAL;
        return -1;
    }
    if (c->host[0] == '/') {
        c->port = 0;
    } else {
        c->port = ippPort();
        colon = strrchr(c->host, ':');
        if (colon != NULL) {
            char *end;
            long port = strtol(colon + 1, &end, 10);

            if (*end != '\0' || port < 1 || port > 65535) {
                if (err != NULL)
                    snprintf(err, errlen, "cups printer: bad port in server '%s'", c->host);
                free(c);
                errno = EINVAL;
                return -1;
            }
            *colon = '\0';
            c->port = (int)port;
        }
    }
    *be = c;
    return 0;
}

static void cups_close(void *be)
{
    free(be);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connection to the server, or NULL with a sentence in detail. */
static http_t *connect_server(const struct cups_be *c, int timeout_ms, char *detail,
                              size_t detaillen)
{
    http_t *http = httpConnect2(c->host, c->port, NULL, AF_UNSPEC, HTTP_ENCRYPTION_IF_REQUESTED, 1,
                                timeout_ms, NULL);

    if (http == NULL) {
        snprintf(detail, detaillen, "cups printer: cannot connect to %s%s%d: %s", c->host,
                 c->port != 0 ? ":" : "", c->port, cupsLastErrorString());
        return NULL;
    }
    httpSetTimeout(http, timeout_ms / 1000.0, NULL, NULL);
    return http;
}

/* The values of a keyword attribute joined with commas into out. */
static void join_keywords(ipp_t *rs, const char *name, char *out, size_t outlen)
{
    ipp_attribute_t *a = ippFindAttribute(rs, name, IPP_TAG_KEYWORD);
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; a != NULL && i < ippGetCount(a) && used < outlen; i++) {
        int w =
            snprintf(out + used, outlen - used, "%s%s", i > 0 ? "," : "", ippGetString(a, i, NULL));
        used += w > 0 ? (size_t)w : 0;
    }
}

/* Ask the job's state; -1 (detail set) if CUPS does not answer. */
static int job_state(http_t *http, int job, char *reasons, size_t reasonslen, char *detail,
                     size_t detaillen)
{
    static const char *const want[] = {"job-state", "job-state-reasons"};
    char uri[HTTP_MAX_URI];
    ipp_t *rq = ippNewRequest(IPP_OP_GET_JOB_ATTRIBUTES), *rs;
    ipp_attribute_t *a;
    int state;

    httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof uri, "ipp", NULL, "localhost", 0, "/jobs/%d",
                     job);
    ippAddString(rq, IPP_TAG_OPERATION, IPP_TAG_URI, "job-uri", NULL, uri);
    ippAddString(rq, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", NULL, cupsUser());
    ippAddStrings(rq, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes", 2, NULL, want);
    rs = cupsDoRequest(http, rq, "/");
    a = ippFindAttribute(rs, "job-state", IPP_TAG_ENUM);
    if (rs == NULL || cupsLastError() > IPP_STATUS_OK_CONFLICTING || a == NULL) {
        snprintf(detail, detaillen, "cups printer: no state for job %d: %s", job,
                 cupsLastErrorString());
        ippDelete(rs);
        return -1;
    }
    state = ippGetInteger(a, 0);
    join_keywords(rs, "job-state-reasons", reasons, reasonslen);
    ippDelete(rs);
    return state;
}

/* An IPP Create-Job on the queue itself (cupsCreateJob() looks the queue
 * up through the destination list, which knows only the default server):
 * the job id, or 0. */
static int create_job(http_t *http, const char *queue)
{
    char uri[HTTP_MAX_URI];
    ipp_t *rq = ippNewRequest(IPP_OP_CREATE_JOB), *rs;
    ipp_attribute_t *a;
    int job = 0;

    httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof uri, "ipp", NULL, "localhost", 0,
                     "/printers/%s", queue);
    ippAddString(rq, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", NULL, uri);
    ippAddString(rq, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", NULL, cupsUser());
    ippAddString(rq, IPP_TAG_OPERATION, IPP_TAG_NAME, "job-name", NULL, "ticket");
    rs = cupsDoRequest(http, rq, "/");
    a = ippFindAttribute(rs, "job-id", IPP_TAG_INTEGER);
    if (rs != NULL && cupsLastError() <= IPP_STATUS_OK_CONFLICTING && a != NULL)
        job = ippGetInteger(a, 0);
    ippDelete(rs);
    return job;
}

/* Send the bytes as one raw job, then wait until CUPS says how it ended:
 * completed is printed; aborted, canceled or stopped is an I/O error with
 * the job-state-reasons; still pending or processing at the deadline is a
 * timeout, and the job is canceled so that no ticket comes out later. */
static printer_result cups_print(void *be, const uint8_t *data, size_t len, int timeout_ms,
                                 char *detail, size_t detaillen)
{
    const struct cups_be *c = be;
    long long deadline = now_ms() + timeout_ms;
    char reasons[256] = "";
    http_t *http;
    int job, state;

    http = connect_server(c, timeout_ms, detail, detaillen);
    if (http == NULL)
        return PRINTER_IO;
    job = create_job(http, c->queue);
    if (job == 0) {
        snprintf(detail, detaillen, "cups printer: queue '%s' refused the job: %s", c->queue,
                 cupsLastErrorString());
        httpClose(http);
        return PRINTER_IO;
    }
    if (cupsStartDocument(http, c->queue, job, "ticket", CUPS_FORMAT_RAW, 1) !=
            HTTP_STATUS_CONTINUE ||
        cupsWriteRequestData(http, (const char *)data, len) != HTTP_STATUS_CONTINUE ||
        cupsFinishDocument(http, c->queue) != IPP_STATUS_OK) {
        snprintf(detail, detaillen, "cups printer: sending job %d to '%s' failed: %s", job,
                 c->queue, cupsLastErrorString());
        cupsCancelJob2(http, c->queue, job, 0);
        httpClose(http);
        return PRINTER_IO;
    }

    for (;;) {
        state = job_state(http, job, reasons, sizeof reasons, detail, detaillen);
        if (state < 0) {
            httpClose(http);
            return PRINTER_IO;
        }
        if (state >= IPP_JSTATE_STOPPED || now_ms() >= deadline)
            break;
        nanosleep(&(struct timespec){.tv_nsec = POLL_MS * 1000000L}, NULL);
    }
    if (state == IPP_JSTATE_COMPLETED) {
        httpClose(http);
        return PRINTER_OK;
    }
    if (state < IPP_JSTATE_STOPPED) {
        snprintf(detail, detaillen, "cups printer: job %d not completed within %d ms (%s)", job,
                 timeout_ms, reasons);
        cupsCancelJob2(http, c->queue, job, 0);
        httpClose(http);
        return PRINTER_TIMEOUT;
    }
    snprintf(detail, detaillen, "cups printer: job %d %s (%s)", job,
             state == IPP_JSTATE_STOPPED    ? "stopped"
             : state == IPP_JSTATE_CANCELED ? "canceled"
                                            : "aborted",
             reasons);
    if (state == IPP_JSTATE_STOPPED)
        cupsCancelJob2(http, c->queue, job, 0);
    httpClose(http);
    return PRINTER_IO;
}

/* True if keyword is prefix itself or prefix with a severity suffix
 * (RFC 8011 5.4.12: "-error", "-warning", "-report"). */
static bool reason_is(const char *keyword, const char *prefix)
{
    size_t n = strlen(prefix);

    if (strncmp(keyword, prefix, n) != 0)
        return false;
    return keyword[n] == '\0' || strcmp(keyword + n, "-error") == 0 ||
           strcmp(keyword + n, "-warning") == 0 || strcmp(keyword + n, "-report") == 0;
}

/* The queue's printer-state and printer-state-reasons as the flags a
 * printer would report: what a queue cannot tell (drawer, cutter, head) is
 * left out of known. */
static printer_result cups_status(void *be, escpos_status *out, int timeout_ms, char *detail,
                                  size_t detaillen)
{
    static const char *const want[] = {"printer-state", "printer-state-reasons"};
    const struct cups_be *c = be;
    char uri[HTTP_MAX_URI];
    http_t *http;
    ipp_t *rq, *rs;
    ipp_attribute_t *state, *reasons;
    uint32_t flags = 0;

    http = connect_server(c, timeout_ms, detail, detaillen);
    if (http == NULL)
        return PRINTER_IO;
    rq = ippNewRequest(IPP_OP_GET_PRINTER_ATTRIBUTES);
    httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof uri, "ipp", NULL, "localhost", 0,
                     "/printers/%s", c->queue);
    ippAddString(rq, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", NULL, uri);
    ippAddString(rq, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", NULL, cupsUser());
    ippAddStrings(rq, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes", 2, NULL, want);
    rs = cupsDoRequest(http, rq, "/");
    httpClose(http);
    state = ippFindAttribute(rs, "printer-state", IPP_TAG_ENUM);
    if (rs == NULL || cupsLastError() > IPP_STATUS_OK_CONFLICTING || state == NULL) {
        snprintf(detail, detaillen, "cups printer: no state for queue '%s': %s", c->queue,
                 cupsLastErrorString());
        ippDelete(rs);
        return PRINTER_IO;
    }
    if (ippGetInteger(state, 0) == IPP_PSTATE_STOPPED)
        flags |= ESCPOS_ST_OFFLINE;
    reasons = ippFindAttribute(rs, "printer-state-reasons", IPP_TAG_KEYWORD);
    for (int i = 0; reasons != NULL && i < ippGetCount(reasons); i++) {
        const char *r = ippGetString(reasons, i, NULL);

        if (r == NULL)
            continue;
        if (reason_is(r, "media-empty") || reason_is(r, "media-needed"))
            flags |= ESCPOS_ST_PAPER_OUT | ESCPOS_ST_OFFLINE;
        else if (reason_is(r, "media-low"))
            flags |= ESCPOS_ST_PAPER_NEAR_END;
        else if (reason_is(r, "cover-open") || reason_is(r, "door-open"))
            flags |= ESCPOS_ST_COVER_OPEN | ESCPOS_ST_OFFLINE;
        else if (reason_is(r, "paused") || reason_is(r, "offline") || reason_is(r, "stopped") ||
                 reason_is(r, "shutdown") || reason_is(r, "connecting-to-device"))
            flags |= ESCPOS_ST_OFFLINE;
    }
    ippDelete(rs);
    out->known =
        ESCPOS_ST_OFFLINE | ESCPOS_ST_COVER_OPEN | ESCPOS_ST_PAPER_OUT | ESCPOS_ST_PAPER_NEAR_END;
    out->flags = flags;
    return PRINTER_OK;
}

static const struct printer_ops cups_ops = {
    .name = "cups",
    .open = cups_open,
    .print = cups_print,
    .status = cups_status,
    .close = cups_close,
};

const struct printer_ops *printer_cups_backend(void)
{
    return &cups_ops;
}
