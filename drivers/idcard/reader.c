/*
 * reader — the card reader interface: a backend chosen by configuration,
 * one worker thread that talks SAM through it, and the results handed back
 * to the loop's thread. reader.h has the contract.
 *
 * Threads. The loop's thread owns the reader: reader_new, reader_free and
 * every callback run there. The worker polls the reader and puts what it
 * learns in the outbox (common/outbox.h: identities, errors, state
 * changes), whose callbacks run on the loop's thread in that order. The
 * stop flag is guarded by the mutex; the worker sleeps on the condition
 * variable between polls, so reader_free wakes it at once.
 *
 * Frames. Each command is one transaction: drop what is left of earlier
 * answers, send the frame, then read and scan until an answer that fits
 * the command arrives or the command's timeout passes. Garbage is skipped
 * (sam_scan resynchronises on the next preamble); an answer of another
 * shape (a late answer to an earlier command) is dropped; a bad checksum,
 * a frame cut short or nothing but garbage ends the transaction with an
 * error and a flush of the line.
 */
#include "reader.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clk.h"
#include "conf.h"
#include "idcard_privacy.h"
#include "outbox.h"
#include "reader_serial.h"
#include "reader_sim.h"
#include "reader_usb.h"
#include "sam.h"

#define DETAIL_MAX 256
#define IN_CAP     (2 * SAM_FRAME_MAX)

/* The backend table: one entry per reader_backend, in that order. */
typedef const struct reader_ops *backend_fn(void);
static backend_fn *const backends[READER_BACKEND_COUNT] = {
    [READER_BACKEND_SIM] = reader_sim_backend,
    [READER_BACKEND_SERIAL] = reader_serial_backend,
    [READER_BACKEND_USB] = reader_usb_backend,
};

/*
 * The reader's link, checked by assert_link():
 *
 *     UNKNOWN --SAM answers [link_up]--> ONLINE
 *     UNKNOWN/ONLINE --no answer, self-test failed [link_down]--> OFFLINE
 *     OFFLINE --SAM answers [link_up]--> ONLINE
 *
 * While not ONLINE the worker asks the SAM's status each poll; while
 * ONLINE it looks for a card. The card, checked by assert_card():
 *
 *     ABSENT --find 9F, then read and decoded (identity or refusal)--> HANDLED
 *     ABSENT --find 9F, then a failure that may pass--> ABSENT (read again)
 *     HANDLED --find 9F--> HANDLED (the same card stays: no second read)
 *     HANDLED --find 80--> ABSENT
 *     HANDLED --the reader goes offline [link_down]--> ABSENT
 */
enum link_state { LINK_UNKNOWN, LINK_ONLINE, LINK_OFFLINE };
enum card_state { CARD_ABSENT, CARD_HANDLED };

enum msg_kind { MSG_IDENTITY, MSG_ERROR, MSG_STATE };

/* An outbox entry. An identity carries its photo after the struct. */
struct msg {
    outbox_msg link; /* first: the outbox carries &msg->link */
    enum msg_kind kind;
    idcard_result code; /* MSG_ERROR */
    bool online;        /* MSG_STATE */
    char detail[DETAIL_MAX];
    idcard_identity id; /* MSG_IDENTITY */
    size_t photo_len;
    uint8_t photo[]; /* MSG_IDENTITY: photo_len bytes */
};

struct reader {
    ev_loop *loop;
    reader_conf conf;
    const struct reader_ops *ops;
    void *be;
    reader_callbacks cb;
    void *arg;
    pthread_t worker;

    pthread_mutex_t lock;
    pthread_cond_t wake; /* the worker: stop */
    bool stopping;       /* guarded: the worker must return */
    outbox *out;         /* results not yet delivered */

    /* Loop thread only. */
    bool in_callback; /* one of our callbacks is running */

    /* Worker only. */
    enum link_state link;
    enum card_state card;
    uint8_t in[IN_CAP]; /* bytes received, not yet scanned */
    size_t inlen;
};

static void assert_link(const reader *r)
{
    assert(r->link == LINK_UNKNOWN || r->link == LINK_ONLINE || r->link == LINK_OFFLINE);
    assert(r->card == CARD_ABSENT || r->card == CARD_HANDLED);
    assert(r->inlen <= IN_CAP);
    (void)r;
}

static void assert_card(const reader *r)
{
    /* A card is only handled while the reader answers (link_down forgets it). */
    assert(r->card == CARD_ABSENT || r->link == LINK_ONLINE);
    (void)r;
}

void reader_conf_init(reader_conf *conf)
{
    *conf = (reader_conf){
        .backend = READER_BACKEND_SIM,
        .poll_ms = 500,
        .cmd_timeout_ms = sam_timeout_ms(SAM_CMD_FIND),
        .read_timeout_ms = sam_timeout_ms(SAM_CMD_READ),
        .appended_address = true,
        .sim = {.card = SAMDEV_NONE},
        .serial = {.baud = 115200},
        .usb = {.model = "bulk"},
    };
}

const char *reader_backend_name(reader_backend b)
{
    if ((int)b < 0 || b >= READER_BACKEND_COUNT)
        return NULL;
    return backends[b]()->name;
}

static const char *backend_name_at(int b)
{
    return backends[b]()->name;
}

int reader_conf_backend(reader_conf *conf, const char *name, char *err, size_t errlen)
{
    int b;

    if (conf == NULL || name == NULL) {
        errno = EINVAL;
        return -1;
    }
    b = conf_pick(backend_name_at, READER_BACKEND_COUNT, name, "card reader backend", err, errlen);
    if (b < 0)
        return -1;
    conf->backend = (reader_backend)b;
    return 0;
}

void *reader_backend_data(const reader *r, const struct reader_ops *ops)
{
    return r != NULL && r->ops == ops ? r->be : NULL;
}

static void msg_free(struct msg *m)
{
    if (m == NULL)
        return;
    idcard_privacy_wipe(m, sizeof *m + (m->kind == MSG_IDENTITY ? m->photo_len : 0));
    free(m);
}

/* ---- loop thread: delivering the outbox ---- */

static void deliver(void *arg, outbox_msg *list)
{
    reader *r = arg;

    while (list != NULL) {
        struct msg *m = (struct msg *)list;

        list = list->next;
        r->in_callback = true;
        switch (m->kind) {
        case MSG_IDENTITY:
            m->id.photo = m->photo_len > 0 ? m->photo : NULL;
            m->id.photo_len = m->photo_len;
            r->cb.identity(r, &m->id, r->arg);
            break;
        case MSG_ERROR:
            if (r->cb.error != NULL)
                r->cb.error(r, m->code, m->detail, r->arg);
            break;
        case MSG_STATE:
            if (r->cb.state != NULL)
                r->cb.state(r, m->online, m->detail, r->arg);
            break;
        }
        r->in_callback = false;
        msg_free(m);
    }
}

/* Queue an error; dropped if it cannot be allocated (the next poll
 * meets the same condition and tries again). */
static void report_error(reader *r, idcard_result code, const char *detail)
{
    struct msg *m = calloc(1, sizeof *m);

    if (m == NULL)
        return;
    m->kind = MSG_ERROR;
    m->code = code;
    snprintf(m->detail, sizeof m->detail, "%s", detail);
    outbox_push(r->out, &m->link);
}

static void report_state(reader *r, bool online, const char *detail)
{
    struct msg *m = calloc(1, sizeof *m);

    if (m == NULL)
        return;
    m->kind = MSG_STATE;
    m->online = online;
    snprintf(m->detail, sizeof m->detail, "%s", detail);
    outbox_push(r->out, &m->link);
}

static void link_up(reader *r)
{
    if (r->link == LINK_ONLINE)
        return;
    r->link = LINK_ONLINE;
    report_state(r, true, "the card reader answers");
}

/* The reader stopped answering (or cannot work): report it once, with an
 * error saying why, and forget the card it had. */
static void link_down(reader *r, idcard_result code, const char *detail)
{
    if (r->link == LINK_OFFLINE)
        return;
    r->link = LINK_OFFLINE;
    r->card = CARD_ABSENT;
    report_error(r, code, detail);
    report_state(r, false, detail);
}

/* ---- worker thread: one command ---- */

static int timeout_of(const reader *r, enum sam_cmd cmd)
{
    return cmd == SAM_CMD_READ || cmd == SAM_CMD_READ_FP ? r->conf.read_timeout_ms
                                                         : r->conf.cmd_timeout_ms;
}

/* Forget every byte received (they may hold a card's text). */
static void drop_input(reader *r)
{
    idcard_privacy_wipe(r->in, r->inlen);
    r->inlen = 0;
}

static void consume(reader *r, size_t n)
{
    memmove(r->in, r->in + n, r->inlen - n);
    idcard_privacy_wipe(r->in + r->inlen - n, n);
    r->inlen -= n;
}

__attribute__((format(printf, 4, 5))) static idcard_result fail(reader *r, idcard_result code,
                                                                char *detail, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, DETAIL_MAX, fmt, ap);
    va_end(ap);
    r->ops->flush(r->be);
    drop_input(r);
    return code;
}

/* Send cmd and wait for the answer that fits it. On IDCARD_OK *out points
 * into r->in and stays valid until the next transaction. detail gets
 * DETAIL_MAX bytes. */
static idcard_result transact(reader *r, enum sam_cmd cmd, sam_reply *out, char *detail)
{
    uint8_t frame[16];
    int timeout = timeout_of(r, cmd);
    int64_t deadline;
    size_t flen, garbage = 0, stale = 0;
    char d[DETAIL_MAX / 2] = "";
    idcard_result rc;

    drop_input(r);
    flen = sam_command(cmd, NULL, 0, frame, sizeof frame);
    assert(flen > 0);
    rc = r->ops->send(r->be, frame, flen, timeout, d, sizeof d);
    if (rc != IDCARD_OK)
        return fail(r, rc, detail, "%s: %s", sam_cmd_name(cmd), d);
    deadline = clk_mono_ms() + timeout;
    for (;;) {
        const uint8_t *payload = NULL;
        size_t plen = 0, used = 0, skipped = 0, got = 0;
        enum sam_scan sc = sam_scan(r->in, r->inlen, &payload, &plen, &used, &skipped);
        int64_t left;

        garbage += skipped;
        switch (sc) {
        case SAM_SCAN_FRAME:
            if (sam_reply_parse(payload, plen, out) == 0 && sam_reply_fits(cmd, out)) {
                /* Keep the frame where it is; the caller reads it. */
                return IDCARD_OK;
            }
            stale++;
            consume(r, used);
            continue;
        case SAM_SCAN_BADCHK:
            return fail(r, IDCARD_BAD_CHECKSUM, detail,
                        "%s: checksum error in the card reader's answer", sam_cmd_name(cmd));
        case SAM_SCAN_BADLEN:
            garbage += used - skipped;
            consume(r, used);
            continue;
        case SAM_SCAN_MORE:
            consume(r, used);
            break;
        }
        left = deadline - clk_mono_ms();
        if (left <= 0)
            break;
        rc = r->ops->recv(r->be, r->in + r->inlen, IN_CAP - r->inlen, &got, (int)left, d, sizeof d);
        if (rc == IDCARD_NO_ANSWER)
            break;
        if (rc != IDCARD_OK)
            return fail(r, rc, detail, "%s: %s", sam_cmd_name(cmd), d);
        r->inlen += got;
    }
    /* A frame begun but not finished is an answer cut short; a partial
     * preamble at the end is only more garbage. */
    if (r->inlen >= SAM_PREAMBLE_LEN)
        return fail(r, IDCARD_TRUNCATED, detail,
                    "%s: the card reader's answer was cut short (%zu bytes, then nothing for "
                    "%d ms)",
                    sam_cmd_name(cmd), r->inlen, timeout);
    garbage += r->inlen;
    if (garbage == 0 && stale > 0)
        return fail(r, IDCARD_NO_ANSWER, detail,
                    "%s: no answer from the card reader within %d ms, only %zu late answer(s) "
                    "to earlier commands",
                    sam_cmd_name(cmd), timeout, stale);
    if (garbage == 0)
        return fail(r, IDCARD_NO_ANSWER, detail, "%s: no answer from the card reader within %d ms",
                    sam_cmd_name(cmd), timeout);
    return fail(r, IDCARD_GARBAGE, detail,
                "%s: the card reader sent %zu bytes that are not a frame and no answer",
                sam_cmd_name(cmd), garbage);
}

/* A transaction whose answer must be SW3 ok (or find's 9F): anything else
 * becomes IDCARD_READER_STATUS (IDCARD_CARD_REMOVED for 41). */
static idcard_result expect_ok(reader *r, enum sam_cmd cmd, sam_reply *out, char *detail)
{
    idcard_result rc = transact(r, cmd, out, detail);
    uint8_t want = cmd == SAM_CMD_FIND ? SAM_SW_FOUND : SAM_SW_OK;

    if (rc != IDCARD_OK || out->sw3 == want)
        return rc;
    snprintf(detail, DETAIL_MAX, "%s: %s (status %02X)", sam_cmd_name(cmd),
             sam_status_str(out->sw3), out->sw3);
    return out->sw3 == SAM_SW_READ_FAILED ? IDCARD_CARD_REMOVED : IDCARD_READER_STATUS;
}

/* ---- worker thread: the poll ---- */

static int32_t today_of(const reader *r)
{
    if (r->conf.today > 0)
        return r->conf.today;
    return clk_date_key(clk_business_day(r->conf.zone, clk_utc_ms(), 0));
}

/* Decode, check and pass on the card read into cd (and its appended
 * address in addr). True if the card is handled for good
 * (identity or refusal), false if the failure may pass. */
static bool take_card(reader *r, const sam_card_data *cd, const uint8_t *addr, size_t addrlen)
{
    char why[DETAIL_MAX - 32], detail[DETAIL_MAX];
    struct msg *m;
    idcard_result rc;

    m = calloc(1, sizeof *m + cd->photolen);
    if (m == NULL) {
        report_error(r, IDCARD_NOMEM, "out of memory for the card's data");
        return false;
    }
    m->kind = MSG_IDENTITY;
    rc = idcard_decode(cd->text, cd->textlen, addr, addrlen, today_of(r), &m->id, why, sizeof why);
    if (rc == IDCARD_OK && m->id.expired && !r->conf.accept_expired) {
        rc = IDCARD_EXPIRED;
        snprintf(why, sizeof why, "the card's validity ended before today");
    }
    if (rc == IDCARD_OK && idcard_privacy_apply(&m->id) != 0) {
        rc = IDCARD_NOMEM;
        snprintf(why, sizeof why, "cannot compute the card's privacy fields: %s", strerror(errno));
    }
    if (rc != IDCARD_OK) {
        msg_free(m);
        snprintf(detail, sizeof detail, "card refused: %s", why);
        report_error(r, rc, detail);
        return true;
    }
    m->photo_len = cd->photolen;
    if (cd->photolen > 0)
        memcpy(m->photo, cd->photo, cd->photolen);
    outbox_push(r->out, &m->link);
    return true;
}

/* A card is on the reader and not yet handled: select, read, and ask for
 * the appended address (devices.md 4.2: 30 03 follows the read). The read
 * answer is copied out of r->in, which the next command reuses, into
 * buffers that are wiped before returning. */
static void read_card(reader *r)
{
    char detail[DETAIL_MAX];
    uint8_t text[SAM_TEXT_LEN], photo[SAM_FRAME_MAX], addr[SAM_ADDR_LEN];
    size_t addrlen = 0;
    sam_card_data cd;
    sam_reply rep;
    bool fp = r->conf.fingerprint;
    idcard_result rc;

    rc = expect_ok(r, SAM_CMD_SELECT, &rep, detail);
    if (rc == IDCARD_OK)
        rc = expect_ok(r, fp ? SAM_CMD_READ_FP : SAM_CMD_READ, &rep, detail);
    if (rc == IDCARD_OK && sam_card_data_parse(&rep, fp, &cd) != 0) {
        snprintf(detail, sizeof detail, "read: the lengths in the answer do not add up");
        rc = IDCARD_BAD_REPLY;
    }
    if (rc == IDCARD_OK && cd.textlen != SAM_TEXT_LEN) {
        snprintf(detail, sizeof detail, "read: the text block is %zu bytes, not %d", cd.textlen,
                 SAM_TEXT_LEN);
        rc = IDCARD_BAD_REPLY;
    }
    if (rc == IDCARD_OK) {
        /* photolen <= Len < sizeof photo, since the answer is one frame */
        memcpy(text, cd.text, SAM_TEXT_LEN);
        memcpy(photo, cd.photo, cd.photolen);
        cd.text = text;
        cd.photo = photo;
        cd.fp = NULL;
        cd.fplen = 0;
        drop_input(r);
    }
    if (rc == IDCARD_OK && r->conf.appended_address) {
        rc = transact(r, SAM_CMD_READ_ADDR, &rep, detail);
        if (rc == IDCARD_OK && rep.sw3 == SAM_SW_OK) {
            memcpy(addr, rep.data, SAM_ADDR_LEN);
            addrlen = SAM_ADDR_LEN;
        } else if (rc == IDCARD_OK && rep.sw3 != SAM_SW_NO_ITEM) {
            snprintf(detail, sizeof detail, "%s: %s (status %02X)", sam_cmd_name(SAM_CMD_READ_ADDR),
                     sam_status_str(rep.sw3), rep.sw3);
            rc = rep.sw3 == SAM_SW_READ_FAILED ? IDCARD_CARD_REMOVED : IDCARD_READER_STATUS;
        }
    }
    if (rc != IDCARD_OK) {
        report_error(r, rc, detail);
        /* An unknown card type is what the card is; the rest may pass. */
        if (rc == IDCARD_READER_STATUS && rep.sw3 == SAM_SW_CARD_TYPE)
            r->card = CARD_HANDLED;
    } else if (take_card(r, &cd, addrlen > 0 ? addr : NULL, addrlen)) {
        r->card = CARD_HANDLED;
    }
    idcard_privacy_wipe(text, sizeof text);
    idcard_privacy_wipe(photo, sizeof photo);
    idcard_privacy_wipe(addr, sizeof addr);
    drop_input(r);
}

static void poll_once(reader *r)
{
    char detail[DETAIL_MAX];
    sam_reply rep;
    idcard_result rc;

    assert_link(r);
    if (r->link != LINK_ONLINE) {
        rc = transact(r, SAM_CMD_STATUS, &rep, detail);
        if (rc == IDCARD_OK && rep.sw3 == SAM_SW_OK) {
            link_up(r);
        } else if (rc == IDCARD_OK) {
            snprintf(detail, sizeof detail, "SAM status: %s (status %02X)", sam_status_str(rep.sw3),
                     rep.sw3);
            link_down(r, IDCARD_READER_STATUS, detail);
        } else if (rc == IDCARD_NO_ANSWER || rc == IDCARD_IO) {
            link_down(r, rc, detail);
        } else {
            report_error(r, rc, detail);
        }
        drop_input(r);
        return;
    }
    rc = transact(r, SAM_CMD_FIND, &rep, detail);
    if (rc == IDCARD_NO_ANSWER || rc == IDCARD_IO) {
        link_down(r, rc, detail);
    } else if (rc != IDCARD_OK) {
        report_error(r, rc, detail);
    } else if (rep.sw3 == SAM_SW_NO_CARD) {
        r->card = CARD_ABSENT;
    } else if (rep.sw3 == SAM_SW_SELF_TEST) {
        snprintf(detail, sizeof detail, "find card: %s", sam_status_str(rep.sw3));
        link_down(r, IDCARD_READER_STATUS, detail);
    } else if (rep.sw3 != SAM_SW_FOUND) {
        snprintf(detail, sizeof detail, "find card: %s (status %02X)", sam_status_str(rep.sw3),
                 rep.sw3);
        report_error(r, IDCARD_READER_STATUS, detail);
    } else if (r->card == CARD_ABSENT) {
        read_card(r);
    }
    drop_input(r);
    assert_card(r);
}

static void *worker_main(void *arg)
{
    reader *r = arg;

    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        struct timespec next;
        int rc = 0;

        pthread_mutex_unlock(&r->lock);
        poll_once(r);
        next = clk_mono_after(r->conf.poll_ms);
        /* A drain that could not be posted (ENOMEM) is posted now. */
        outbox_retry(r->out);
        pthread_mutex_lock(&r->lock);
        while (!r->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&r->wake, &r->lock, &next);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* ---- loop thread: the public functions ---- */

static bool conf_ok(const reader_conf *conf)
{
    return (int)conf->backend >= 0 && conf->backend < READER_BACKEND_COUNT && conf->poll_ms >= 1 &&
           conf->cmd_timeout_ms >= 1 && conf->read_timeout_ms >= 1 &&
           (conf->zone != NULL || conf->today > 0);
}

reader *reader_new(ev_loop *loop, const reader_conf *conf, const reader_callbacks *cb, void *arg,
                   char *err, size_t errlen)
{
    reader *r;
    pthread_condattr_t attr;
    int rc;

    if (loop == NULL || conf == NULL || cb == NULL || cb->identity == NULL || !conf_ok(conf)) {
        if (err != NULL)
            snprintf(err, errlen,
                     "card reader: invalid arguments or configuration (backend, timeouts, "
                     "a zone or a date)");
        errno = EINVAL;
        return NULL;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "card reader: out of memory");
        return NULL;
    }
    r->loop = loop;
    r->conf = *conf;
    r->ops = backends[conf->backend]();
    r->cb = *cb;
    r->arg = arg;
    if (r->ops->open(conf, &r->be, err, errlen) != 0) {
        int e = errno;

        idcard_privacy_wipe(r, sizeof *r);
        free(r);
        errno = e;
        return NULL;
    }
    if ((r->out = outbox_new(loop, deliver, r)) == NULL) {
        rc = errno;
        goto fail_backend;
    }
    rc = pthread_mutex_init(&r->lock, NULL);
    if (rc != 0)
        goto fail_outbox;
    rc = pthread_condattr_init(&attr);
    if (rc != 0)
        goto fail_mutex;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&r->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        goto fail_mutex;
    rc = pthread_create(&r->worker, NULL, worker_main, r);
    if (rc != 0)
        goto fail_cond;
    return r;

fail_cond:
    pthread_cond_destroy(&r->wake);
fail_mutex:
    pthread_mutex_destroy(&r->lock);
fail_outbox:
    outbox_close(r->out);
fail_backend:
    r->ops->close(r->be);
    idcard_privacy_wipe(r, sizeof *r);
    free(r);
    if (err != NULL)
        snprintf(err, errlen, "card reader: cannot start the worker: %s", strerror(rc));
    errno = rc;
    return NULL;
}

void reader_free(reader *r)
{
    outbox_msg *list;

    if (r == NULL)
        return;
    assert(!r->in_callback && "reader_free from one of the reader's own callbacks");
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->worker, NULL);

    /* Nothing more is delivered: what the worker left is wiped. */
    list = outbox_close(r->out);
    while (list != NULL) {
        struct msg *m = (struct msg *)list;

        list = list->next;
        msg_free(m);
    }
    r->ops->close(r->be);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    drop_input(r);
    free(r);
}
