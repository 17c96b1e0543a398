/*
 * test_kiosk_citizen — the citizen's features at the kiosk (firmware/kiosk
 * in this process, sim printer and card reader) against a real halld
 * (hallfixture), driven through kiosk_action() as the page drives it. The
 * argument picks the case:
 *
 *   green    kiosk_green_channel: [green] mode = issue: the green screen,
 *            then a tile gives a PRIORITY_GREEN ticket that call-next
 *            picks before an older normal one; mode = consult: the ticket
 *            goes to the consult desk's area, green, and keeps its priority
 *            when the desk transfers it; mode = off refuses the action.
 *   matter   kiosk_matter_pick: [flow] matter_step: a tile opens the
 *            area's matters with their materials; the ticket carries the
 *            matter to halld (tickets.matter, the reply's matter_name) and
 *            prints the materials as a checklist; an unknown matter is
 *            refused and changes nothing; the general one-tap stays one tap;
 *            a matter picked offline joins halld with its ticket.
 *   limit    kiosk_citizen_limit: a second card swipe for the same ID card
 *            in the same area is refused with the Chinese and English
 *            sentence (error_kind "limit"); once the first ticket is
 *            finished a new one is issued.
 *   rejoin   kiosk_rejoin: a missed ticket rejoins by its QR text and by
 *            its typed number within [queue] rejoin, and is refused after
 *            it (by the kiosk and by halld); a waiting ticket is cancelled
 *            by its QR text (a wrong check is refused by halld), and is
 *            never called.
 */
#include <check.h>
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clk.h"
#include "hallfixture.h"
#include "kiosk.h"
#include "kstore.h"
#include "log.h"
#include "printer_sim.h"
#include "reader_sim.h"
#include "testsupport.h"

#define WAIT_MS 30000
#define URL     "https://hall.example/t?n={number}&d={day}&id={id}&c={check}"

/* Ticket states and priorities as the store keeps them (queue.h). */
enum { ST_WAITING = 2, ST_DONE = 5, ST_NO_SHOW = 6, ST_CANCELLED = 9 };

typedef struct kfix {
    hallfix hall;
    ev_loop *loop;
    kiosk_conf conf;
    kiosk *k;
    devlink *win;
} kfix;

/* halld with extra configuration, and a kiosk whose ini has extra lines. */
static void up(kfix *x, const char *hall_extra, const char *kiosk_extra)
{
    char err[512], text[4096], ini[1200];

    fix_init(&x->hall, 1, hall_extra);
    fix_start(&x->hall);
    /* From now on on this port, so a restarted halld is where the kiosk's
     * configuration says. */
    ck_assert_int_eq(
        ts_system("sed -i -e 's/^port *=.*/port = %d/' %s", x->hall.port, x->hall.config), 0);
    snprintf(ini, sizeof ini, "%s/kioskd.ini", x->hall.dir);
    snprintf(text, sizeof text,
             "[kiosk]\nid = kiosk-01\nlog_level = debug\n"
             "[halld]\naddress = 127.0.0.1:%d\nreconnect_max = 500ms\n"
             "cert = pki/devices/kiosk-01/kiosk-01.crt\nkey = pki/devices/kiosk-01/kiosk-01.key\n"
             "ca = pki/devices/kiosk-01/ca.crt\n"
             "[store]\npath = kiosk.db\n"
             "[idcard]\nsealing_key = pki/devices/kiosk-01/seal.pub\n"
             "[printer]\nticket_url = " URL "\n%s\n",
             x->hall.port, kiosk_extra);
    ts_write_file(ini, text);
    memset(&x->conf, 0, sizeof x->conf);
    ck_assert_msg(kiosk_conf_load(&x->conf, ini, true, err, sizeof err) == 0, "%s", err);
    x->loop = ev_new();
    ck_assert_ptr_nonnull(x->loop);
    x->k = kiosk_new(x->loop, &x->conf, err, sizeof err);
    ck_assert_msg(x->k != NULL, "kiosk_new: %s", err);
    x->win = fix_device(&x->hall, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    devlink_set_next_id(x->win, (uint64_t)clk_system_utc_ms() * 1000u);
    proto_free(fix_sign_in(x->win, 1, "c-1"));
}

static void down(kfix *x)
{
    devlink_close(x->win);
    kiosk_free(x->k);
    ev_run_once(x->loop, 0);
    kiosk_conf_release(&x->conf);
    ev_free(x->loop);
    fix_free(&x->hall);
}

static char *model(kfix *x)
{
    static char text[65536];
    buf b;

    buf_init(&b, 0);
    ck_assert_int_eq(kiosk_state_json(x->k, &b), 0);
    ck_assert_uint_lt(buf_rlen(&b), sizeof text);
    memcpy(text, buf_rdata(&b), buf_rlen(&b));
    text[buf_rlen(&b)] = '\0';
    buf_release(&b);
    return text;
}

/* Run the loop until the model holds needle. */
static bool until_has(kfix *x, const char *needle)
{
    int64_t until = clk_mono_ms() + WAIT_MS;

    while (strstr(model(x), needle) == NULL) {
        if (clk_mono_ms() > until)
            return false;
        ev_run_once(x->loop, 20);
    }
    return true;
}

/* The value of "key":"..." in the model, from the first place after
 * `after` (NULL: the start). */
static void field(kfix *x, const char *after, const char *key, char *out, size_t len)
{
    const char *m = model(x), *at = after ? strstr(m, after) : m;
    char pat[64];

    ck_assert_msg(at != NULL, "no %s in %s", after, m);
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    at = strstr(at, pat);
    ck_assert_msg(at != NULL, "no %s in %s", key, m);
    at += strlen(pat);
    size_t n = strcspn(at, "\"");
    ck_assert_uint_lt(n, len);
    memcpy(out, at, n);
    out[n] = '\0';
}

static void act(kfix *x, const char *name, const char *param)
{
    char err[256];

    ck_assert_msg(kiosk_action(x->k, name, param, err, sizeof err) == 0, "%s %s: %s", name, param,
                  err);
}

static void refused(kfix *x, const char *name, const char *param)
{
    char err[256];

    ck_assert_msg(kiosk_action(x->k, name, param, err, sizeof err) < 0, "%s %s was taken", name,
                  param);
    ck_assert_str_ne(err, "");
}

/* After an action that takes a ticket: its number (the ticket screen),
 * back to idle. */
static void ticket(kfix *x, char *number, size_t len)
{
    ck_assert_msg(until_has(x, "\"screen\":\"ticket\""), "no ticket: %s", model(x));
    field(x, "\"ticket\":", "number", number, len);
}

static void done(kfix *x)
{
    act(x, "done", "");
    ck_assert(until_has(x, "\"screen\":\"idle\""));
}

/* A column (an SQL expression) of halld's ticket with this number. */
static long long db(kfix *x, const char *what, const char *number)
{
    return fix_db_int(&x->hall, "SELECT %s FROM tickets WHERE number = '%s'", what, number);
}

/* Call the next ticket at window 1: its number ("" when nothing waits). */
static void call_next(kfix *x, char *number, size_t len, uint64_t *id)
{
    Hall__Envelope *r = fix_window_op(x->win, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);

    number[0] = '\0';
    if (r->body_case == HALL__ENVELOPE__BODY_ERROR) {
        ck_assert_int_eq(r->error->code, HALL__ERROR_CODE__ERR_QUEUE_EMPTY);
    } else {
        ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
        ck_assert_ptr_nonnull(r->window_reply->ticket);
        snprintf(number, len, "%s", r->window_reply->ticket->number);
        if (id != NULL)
            *id = r->window_reply->ticket->id;
    }
    proto_free(r);
}

static void window_op(kfix *x, Hall__Envelope__BodyCase op, uint64_t id)
{
    Hall__Envelope *r = fix_window_op(x->win, op, 1, id);

    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY, "%s: %s", proto_body_name(op),
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    proto_free(r);
}

/* Whether a printed job holds text (UTF-8, printed as GB18030). */
static bool printed(kfix *x, const char *text)
{
    printer_sim *s = printer_sim_of(kiosk_printer(x->k));
    char gb[512], in[256];
    char *ip = in, *op = gb;
    size_t il = strlen(text), ol = sizeof gb;
    iconv_t cd = iconv_open("GB18030", "UTF-8");

    ck_assert(cd != (iconv_t)-1);
    snprintf(in, sizeof in, "%s", text);
    ck_assert(iconv(cd, &ip, &il, &op, &ol) != (size_t)-1);
    iconv_close(cd);
    for (size_t i = 0; i < printer_sim_job_count(s); i++) {
        const uint8_t *data;
        size_t len;
        ck_assert(printer_sim_job(s, i, &data, &len));
        if (memmem(data, len, gb, (size_t)(op - gb)) != NULL)
            return true;
    }
    return false;
}

/* ---- kiosk_green_channel ------------------------------------------------- */

START_TEST(test_green_channel)
{
    kfix x = {0};
    char normal[24], green[24], called[24], consult[24];
    uint64_t id;

    up(&x, NULL, "[green]\nmode = issue\n");
    ck_assert_msg(until_has(&x, "\"code\":\"tax\""), "%s", model(&x));
    ck_assert(strstr(model(&x), "\"green\":{\"enabled\":true,\"mode\":\"issue\"}"));
    /* An ordinary ticket first, then a green one: the green one is called
     * first all the same. */
    act(&x, "take", "tax");
    ticket(&x, normal, sizeof normal);
    done(&x);
    act(&x, "green", "");
    ck_assert_msg(until_has(&x, "\"screen\":\"green\""), "%s", model(&x));
    refused(&x, "green", "nosuch");
    act(&x, "green", "tax");
    ticket(&x, green, sizeof green);
    ck_assert(strstr(model(&x), "\"green\":true") != NULL);
    ck_assert(strstr(model(&x), "\"consult_for\":null") != NULL);
    done(&x);
    ck_assert_int_eq(db(&x, "priority", green), 1);
    ck_assert_int_eq(db(&x, "priority", normal), 0);
    call_next(&x, called, sizeof called, &id);
    ck_assert_str_eq(called, green);
    window_op(&x, HALL__ENVELOPE__BODY_START, id);
    window_op(&x, HALL__ENVELOPE__BODY_FINISH, id);
    call_next(&x, called, sizeof called, &id);
    ck_assert_str_eq(called, normal);
    window_op(&x, HALL__ENVELOPE__BODY_START, id);
    window_op(&x, HALL__ENVELOPE__BODY_FINISH, id);
    kiosk_free(x.k);
    kiosk_conf_release(&x.conf);

    /* consult: the ticket is the consult desk's (intake), green; the desk
     * transfers it to tax and it stays green. */
    char err[512], ini[1200];
    snprintf(ini, sizeof ini, "%s/kioskd.ini", x.hall.dir);
    ck_assert_int_eq(
        ts_system("sed -i -e 's/^mode = issue/mode = consult\\nconsult_area = intake/' %s", ini),
        0);
    memset(&x.conf, 0, sizeof x.conf);
    ck_assert_msg(kiosk_conf_load(&x.conf, ini, true, err, sizeof err) == 0, "%s", err);
    x.k = kiosk_new(x.loop, &x.conf, err, sizeof err);
    ck_assert_msg(x.k != NULL, "%s", err);
    ck_assert_msg(until_has(&x, "\"mode\":\"consult\"") && until_has(&x, "\"code\":\"tax\""), "%s",
                  model(&x));
    act(&x, "green", "tax");
    ticket(&x, consult, sizeof consult);
    /* The screen and the paper say where to go first, and for what. */
    ck_assert_msg(strstr(model(&x), "\"consult_for\":{\"code\":\"tax\",\"name\":\"税务服务\"") !=
                      NULL,
                  "%s", model(&x));
    ck_assert(printed(&x, "请先到咨询台出示证件确认，再办理：税务服务"));
    done(&x);
    ck_assert_int_eq(consult[0], 'A'); /* intake's letter */
    ck_assert_int_eq(db(&x, "priority", consult), 1);
    call_next(&x, called, sizeof called, &id);
    ck_assert_str_eq(called, consult);
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Transfer tr = HALL__TRANSFER__INIT;
    char to[] = "tax", note[] = "";
    tr.window_no = 1;
    tr.ticket_id = id;
    tr.to_area = to;
    tr.note = note;
    env.body_case = HALL__ENVELOPE__BODY_TRANSFER;
    env.transfer = &tr;
    Hall__Envelope *r = fix_call(x.win, &env);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    proto_free(r);
    ck_assert_int_eq(db(&x, "priority", consult), 1);
    ck_assert_int_eq(db(&x, "area = 'tax'", consult), 1);
    ck_assert_int_eq(db(&x, "state", consult), ST_WAITING);
    kiosk_free(x.k);
    kiosk_conf_release(&x.conf);

    /* off: no green channel. */
    ck_assert_int_eq(ts_system("sed -i -e 's/^mode = consult/mode = off/' %s", ini), 0);
    memset(&x.conf, 0, sizeof x.conf);
    ck_assert_msg(kiosk_conf_load(&x.conf, ini, true, err, sizeof err) == 0, "%s", err);
    x.k = kiosk_new(x.loop, &x.conf, err, sizeof err);
    ck_assert_msg(x.k != NULL, "%s", err);
    ck_assert(until_has(&x, "\"green\":{\"enabled\":false"));
    refused(&x, "green", "");
    long long before = fix_db_int(&x.hall, "SELECT count(*) FROM tickets");
    refused(&x, "green", "tax");
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT count(*) FROM tickets"), before);
    down(&x);
}
END_TEST

/* ---- kiosk_matter_pick ---------------------------------------------------- */

START_TEST(test_matter_pick)
{
    kfix x = {0};
    char number[24], general[24], name[128];

    up(&x, NULL, "[flow]\nmatter_step = true\n");
    /* The tiles: letter and name, English where the catalog has one, the
     * number of matters. */
    ck_assert_msg(until_has(&x, "\"code\":\"tax\",\"name\":\"税务服务\",\"letter\":\"T\""), "%s",
                  model(&x));
    ck_assert(strstr(model(&x), "\"matter_step\":true") != NULL);
    ck_assert(strstr(model(&x), "\"letter\":\"T\",\"name_en\":\"\",\"matters\":5") != NULL);

    act(&x, "area", "tax");
    ck_assert_msg(until_has(&x, "\"screen\":\"matter\""), "%s", model(&x));
    ck_assert(strstr(model(&x), "\"chosen\":{\"code\":\"tax\"") != NULL);
    ck_assert(strstr(model(&x), "{\"code\":\"T-FPLY\",\"name\":\"发票领用\",\"name_en\":\"\","
                                "\"materials\":[\"经办人身份证件\",") != NULL);
    /* A matter of another area, or none at all: refused, nothing issued. */
    long long before = fix_db_int(&x.hall, "SELECT count(*) FROM tickets");
    refused(&x, "take", "tax/B-ZYDJ");
    refused(&x, "take", "tax/NOSUCH");
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT count(*) FROM tickets"), before);
    ck_assert(strstr(model(&x), "\"screen\":\"matter\"") != NULL);

    act(&x, "take", "tax/T-FPLY");
    ticket(&x, number, sizeof number);
    field(&x, "\"ticket\":", "matter_name", name, sizeof name);
    ck_assert_str_eq(name, "发票领用");
    ck_assert(strstr(model(&x), "\"materials\":[\"经办人身份证件\",\"税务UKey或数字证书"
                                "（首次领用时发放）\"]") != NULL);
    done(&x);
    /* halld has the matter; the printed ticket its name and materials as a
     * checklist, and the check code. */
    ck_assert_int_eq(db(&x, "matter = 'T-FPLY'", number), 1);
    ck_assert(printed(&x, "发票领用"));
    ck_assert(printed(&x, "请备齐以下材料："));
    ck_assert(printed(&x, "□ 经办人身份证件"));
    ck_assert(printed(&x, "□ 税务UKey或数字证书（首次领用时发放）"));
    ck_assert(printed(&x, "核验码 "));

    /* One tap stays one tap: the general ticket needs no matter. */
    act(&x, "take", "");
    ticket(&x, general, sizeof general);
    done(&x);
    ck_assert_int_eq(db(&x, "matter = ''", general), 1);
    ck_assert_int_eq(db(&x, "state", general), ST_WAITING);

    /* Offline, the matter is kept with the ticket and joins halld's queue
     * with it once halld is back. */
    char offline_no[24];
    ck_assert_int_eq(fix_stop(&x.hall), 0);
    ck_assert_msg(until_has(&x, "\"link\":\"offline\""), "%s", model(&x));
    act(&x, "area", "tax");
    ck_assert_msg(until_has(&x, "\"screen\":\"matter\""), "%s", model(&x));
    act(&x, "take", "tax/T-FPLY");
    ticket(&x, offline_no, sizeof offline_no);
    ck_assert_ptr_nonnull(strstr(model(&x), "\"offline\":true"));
    done(&x);
    fix_start(&x.hall);
    int64_t until = clk_mono_ms() + WAIT_MS;
    while (kstore_offline_count(kiosk_store(x.k), KSTORE_OFF_UPLOADED) < 1 && clk_mono_ms() < until)
        ev_run_once(x.loop, 20);
    ck_assert_msg(kstore_offline_count(kiosk_store(x.k), KSTORE_OFF_UPLOADED) == 1, "%s",
                  model(&x));
    ck_assert_int_eq(db(&x, "matter = 'T-FPLY'", offline_no), 1);
    ck_assert_int_eq(db(&x, "offline", offline_no), 1);

    /* English names from the catalog reach the tiles and the matter list
     * (a catalog import: halld re-reads it and pushes the matters). */
    ck_assert_int_eq(ts_system("sed -e 's/\"name\": \"税务服务\",/&\"name_en\": \"Tax\",/' "
                               "-e 's/\"name\": \"发票领用\",/&\"name_en\": \"Invoices\",/' "
                               "%s/sample-catalog.json >%s/english.json",
                               SAMPLE_DIR, x.hall.dir),
                     0);
    ck_assert_int_eq(fix_hallctl(&x.hall, "catalog import %s/english.json", x.hall.dir), 0);
    ck_assert_int_eq(fix_hallctl(&x.hall, "catalog list"), 0);
    char *listed = ts_slurp(ts_path(x.hall.dir, "hallctl.log"));
    ck_assert_ptr_nonnull(strstr(listed, "税务服务 / Tax"));
    ck_assert_ptr_nonnull(strstr(listed, "发票领用 / Invoices"));
    free(listed);
    ck_assert_msg(until_has(&x, "\"letter\":\"T\",\"name_en\":\"Tax\""), "%s", model(&x));
    act(&x, "area", "tax");
    ck_assert_msg(until_has(&x, "\"name\":\"发票领用\",\"name_en\":\"Invoices\""), "%s", model(&x));
    act(&x, "back", "");

    /* An area without matter_step's list (off): a tile takes at once. */
    kiosk_free(x.k);
    kiosk_conf_release(&x.conf);
    char err[512], ini[1200];
    snprintf(ini, sizeof ini, "%s/kioskd.ini", x.hall.dir);
    ck_assert_int_eq(ts_system("sed -i -e 's/^matter_step = true/matter_step = false/' %s", ini),
                     0);
    memset(&x.conf, 0, sizeof x.conf);
    ck_assert_msg(kiosk_conf_load(&x.conf, ini, true, err, sizeof err) == 0, "%s", err);
    x.k = kiosk_new(x.loop, &x.conf, err, sizeof err);
    ck_assert_msg(x.k != NULL, "%s", err);
    ck_assert(until_has(&x, "\"code\":\"tax\""));
    act(&x, "area", "tax");
    ticket(&x, number, sizeof number);
    done(&x);
    ck_assert_int_eq(number[0], 'T');
    down(&x);
}
END_TEST

/* ---- kiosk_citizen_limit -------------------------------------------------- */

/* Present the card and take it away: the swipe's ticket or refusal. */
static void swipe(kfix *x, const char *until)
{
    reader_sim *rs = reader_sim_of(kiosk_reader(x->k));

    ck_assert_ptr_nonnull(rs);
    reader_sim_set_card(rs, SAMDEV_VALID);
    ck_assert_msg(until_has(x, until), "%s", model(x));
    /* Taken away for longer than the reader's poll (500 ms): the next
     * presentation is a new one. */
    reader_sim_set_card(rs, SAMDEV_NONE);
    for (int64_t end = clk_mono_ms() + 1500; clk_mono_ms() < end;)
        ev_run_once(x->loop, 20);
}

START_TEST(test_citizen_limit)
{
    kfix x = {0};
    char first[24], second[24], zh[256], called[24];
    uint64_t id;

    up(&x, NULL, "");
    ck_assert(until_has(&x, "\"code\":\"intake\""));
    swipe(&x, "\"screen\":\"ticket\"");
    field(&x, "\"ticket\":", "number", first, sizeof first);
    done(&x);
    long long before = fix_db_int(&x.hall, "SELECT count(*) FROM tickets");
    /* The same card again: refused, the sentence names the first ticket. */
    swipe(&x, "\"screen\":\"error\"");
    ck_assert(strstr(model(&x), "\"error_kind\":\"limit\"") != NULL);
    field(&x, NULL, "message", zh, sizeof zh);
    char want[256];
    snprintf(want, sizeof want, "您已取得本区域的号码 %s，请等候叫号", first);
    ck_assert_str_eq(zh, want);
    field(&x, NULL, "message_en", zh, sizeof zh);
    ck_assert_ptr_nonnull(strstr(zh, first));
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT count(*) FROM tickets"), before);
    act(&x, "back", "");
    /* A ticket without the card is not limited. */
    act(&x, "take", "");
    ticket(&x, second, sizeof second);
    done(&x);
    /* The first is finished: the card takes a new one. */
    call_next(&x, called, sizeof called, &id);
    ck_assert_str_eq(called, first);
    window_op(&x, HALL__ENVELOPE__BODY_START, id);
    window_op(&x, HALL__ENVELOPE__BODY_FINISH, id);
    ck_assert_int_eq(db(&x, "state", first), ST_DONE);
    swipe(&x, "\"screen\":\"ticket\"");
    field(&x, "\"ticket\":", "number", second, sizeof second);
    ck_assert_str_ne(second, first);
    done(&x);
    ck_assert_int_eq(db(&x, "state", second), ST_WAITING);
    down(&x);
}
END_TEST

/* ---- kiosk_rejoin --------------------------------------------------------- */

/* The QR text of the ticket just taken (the ticket screen's qr_text). */
static void qr_of(kfix *x, char *out, size_t len)
{
    field(x, "\"ticket\":", "qr_text", out, len);
    ck_assert_ptr_nonnull(strstr(out, "&c="));
}

/* Open the mine screen with text and wait for halld's answer. */
static void mine(kfix *x, const char *text, const char *expect)
{
    act(x, "back", "");
    act(x, "mine", "");
    ck_assert(until_has(x, "\"screen\":\"mine\""));
    act(x, "mine", text);
    ck_assert_msg(until_has(x, expect), "%s: %s", text, model(x));
}

/* Miss the call of the next ticket, which must be number. */
static void miss(kfix *x, const char *number)
{
    char called[24];
    uint64_t id;

    call_next(x, called, sizeof called, &id);
    ck_assert_str_eq(called, number);
    window_op(x, HALL__ENVELOPE__BODY_NO_SHOW, id);
    ck_assert_int_eq(db(x, "state", number), ST_NO_SHOW);
}

START_TEST(test_rejoin)
{
    kfix x = {0};
    char one[24], two[24], qr1[512], qr2[512], text[600], called[24];

    up(&x, "[queue]\nrejoin = 4s\n", "");
    ck_assert(until_has(&x, "\"code\":\"intake\""));
    act(&x, "take", "");
    ticket(&x, one, sizeof one);
    qr_of(&x, qr1, sizeof qr1);
    done(&x);

    /* Missed: back by the QR code. */
    miss(&x, one);
    mine(&x, qr1, "\"can_rejoin\":true");
    ck_assert(strstr(model(&x), "\"state\":\"no_show\"") != NULL);
    act(&x, "rejoin", "");
    ck_assert_msg(until_has(&x, "已重新排队"), "%s", model(&x));
    ck_assert_int_eq(db(&x, "state", one), ST_WAITING);
    /* Missed again: back by its typed number (any case). */
    miss(&x, one);
    char lower[24];
    snprintf(lower, sizeof lower, "%s", one);
    lower[0] = (char)(lower[0] - 'A' + 'a');
    mine(&x, lower, "\"can_rejoin\":true");
    ck_assert(strstr(model(&x), "\"can_cancel\":false") != NULL); /* no check typed */
    act(&x, "rejoin", "");
    ck_assert_msg(until_has(&x, "已重新排队"), "%s", model(&x));
    ck_assert_int_eq(db(&x, "state", one), ST_WAITING);
    /* Missed once more, and the rejoin time passes: refused by the kiosk
     * and by halld. */
    miss(&x, one);
    sleep(5);
    mine(&x, one, "\"state\":\"no_show\"");
    ck_assert(strstr(model(&x), "\"can_rejoin\":false") != NULL);
    refused(&x, "rejoin", "");
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Rejoin rj = HALL__REJOIN__INIT;
    rj.number = one;
    env.body_case = HALL__ENVELOPE__BODY_REJOIN;
    env.rejoin = &rj;
    Hall__Envelope *r = fix_call(x.win, &env);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_ERROR);
    ck_assert_int_eq(r->error->code, HALL__ERROR_CODE__ERR_ILLEGAL_STATE);
    ck_assert_str_ne(r->error->message_zh, "");
    proto_free(r);
    ck_assert_int_eq(db(&x, "state", one), ST_NO_SHOW);

    /* Cancel: a waiting ticket, by its QR code. A wrong check is halld's
     * to refuse (a kiosk that would send it anyway). */
    act(&x, "back", "");
    act(&x, "take", "");
    ticket(&x, two, sizeof two);
    qr_of(&x, qr2, sizeof qr2);
    done(&x);
    uint64_t id2 = (uint64_t)db(&x, "id", two);
    char *c = strstr(qr2, "&c=") + 3;
    char wrong[8];
    snprintf(wrong, sizeof wrong, "%04d", (atoi(c) + 1) % 10000);
    /* Typed without its check code: the page asks for the code printed on
     * the ticket; typed with it, the ticket may be cancelled. */
    mine(&x, two, "\"state\":\"waiting\"");
    ck_assert_msg(strstr(model(&x), "\"can_cancel\":false,\"cancel_needs_check\":true") != NULL,
                  "%s", model(&x));
    snprintf(text, sizeof text, "%s %.4s", two, c);
    mine(&x, text, "\"can_cancel\":true,\"cancel_needs_check\":false");
    snprintf(text, sizeof text, "%s %s", two, wrong);
    mine(&x, text, "\"state\":\"waiting\"");
    ck_assert(strstr(model(&x), "\"can_cancel\":false") != NULL);
    refused(&x, "cancel", "");
    devlink *kl = fix_device(&x.hall, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink_set_next_id(kl, (uint64_t)clk_system_utc_ms() * 1000u);
    Hall__CancelTicket ct = HALL__CANCEL_TICKET__INIT;
    char reason[] = "test";
    ct.ticket_id = id2;
    ct.check = wrong;
    ct.reason = reason;
    env.body_case = HALL__ENVELOPE__BODY_CANCEL;
    env.cancel = &ct;
    r = fix_call(kl, &env);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_ERROR);
    ck_assert_int_eq(r->error->code, HALL__ERROR_CODE__ERR_FORBIDDEN);
    ck_assert_str_ne(r->error->message_zh, "");
    proto_free(r);
    devlink_close(kl);
    ck_assert_int_eq(db(&x, "state", two), ST_WAITING);

    mine(&x, qr2, "\"can_cancel\":true");
    act(&x, "cancel", "");
    ck_assert_msg(until_has(&x, "已取消"), "%s", model(&x));
    ck_assert(strstr(model(&x), "\"state\":\"cancelled\"") != NULL);
    ck_assert_int_eq(db(&x, "state", two), ST_CANCELLED);
    /* Never called: nothing waits. */
    call_next(&x, called, sizeof called, NULL);
    ck_assert_str_eq(called, "");
    ck_assert_int_eq(db(&x, "state", two), ST_CANCELLED);
    down(&x);
}
END_TEST

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    Suite *s = suite_create("kiosk_citizen");
    TCase *tc = tcase_create(which);

    log_open("test_kiosk_citizen", LOG_LEVEL_INFO, LOG_TO_STDERR);
    tcase_set_timeout(tc, 300);
    if (strcmp(which, "green") == 0)
        tcase_add_test(tc, test_green_channel);
    else if (strcmp(which, "matter") == 0)
        tcase_add_test(tc, test_matter_pick);
    else if (strcmp(which, "limit") == 0)
        tcase_add_test(tc, test_citizen_limit);
    else if (strcmp(which, "rejoin") == 0)
        tcase_add_test(tc, test_rejoin);
    else {
        fprintf(stderr, "usage: test_kiosk_citizen green|matter|limit|rejoin\n");
        return EXIT_FAILURE;
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
