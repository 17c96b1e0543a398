/*
 * test_kiosk_flow — the kiosk's flow state machine (firmware/kiosk/kflow):
 * every transition and timeout, double taps and double swipes, a print
 * failure voiding the ticket, a kiosk that cannot take tickets, the link
 * lost in the middle of a request, and bad actions. And kioskd's
 * configuration: good files, --sim, and the bad values refused with one
 * sentence.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kflow.h"
#include "kiosk_conf.h"
#include "testsupport.h"

#define IDLE    30000
#define SHOW    10000
#define REQ     8000
#define CONFIRM 5000

static kflow f;
static kflow_cmd cmd;
static char err[256];

static void setup(void)
{
    kflow_init(&f, IDLE, SHOW, REQ, CONFIRM);
    kflow_link(&f, true, 0, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
}

static int act(const char *name, const char *param, int64_t now)
{
    return kflow_action(&f, name, param, now, &cmd, err, sizeof err);
}

static kflow_ticket ticket(const char *number, bool offline)
{
    kflow_ticket t = {0};
    snprintf(t.number, sizeof t.number, "%s", number);
    snprintf(t.area, sizeof t.area, "intake");
    t.id = offline ? 0 : 42;
    t.ahead = 3;
    t.est_wait_s = 300;
    t.offline = offline;
    return t;
}

/* Take a ticket through the whole online flow; returns its token. */
static uint64_t take_one(const char *area, int64_t now)
{
    ck_assert_int_eq(act("take", area, now), 0);
    ck_assert_int_eq(cmd.kind, KF_CMD_ISSUE);
    ck_assert_str_eq(cmd.area, area);
    uint64_t token = cmd.token;
    ck_assert_int_eq(f.state, KF_REQUESTING);
    ck_assert_int_eq(kflow_screen_of(&f), KF_SCREEN_WORKING);
    kflow_ticket t = ticket("A001", false);
    ck_assert(kflow_issued(&f, token, &t, now + 10, &cmd));
    ck_assert_int_eq(cmd.kind, KF_CMD_PRINT);
    ck_assert_int_eq(f.state, KF_PRINTING);
    kflow_printed(&f, true, NULL, NULL, now + 20, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_PRINTED);
    ck_assert_int_eq(cmd.token, token);
    ck_assert_int_eq(f.state, KF_CONFIRMING);
    kflow_confirmed(&f, token, now + 30);
    ck_assert_int_eq(f.state, KF_TICKET);
    ck_assert_int_eq(kflow_screen_of(&f), KF_SCREEN_TICKET);
    return token;
}

START_TEST(test_full_flow_and_done)
{
    ck_assert_int_eq(f.state, KF_IDLE);
    ck_assert_int_eq(kflow_screen_of(&f), KF_SCREEN_IDLE);
    take_one("intake", 1000);
    ck_assert_str_eq(f.ticket.number, "A001");
    ck_assert_int_eq(act("done", "", 2000), 0);
    ck_assert_int_eq(f.state, KF_IDLE);
    /* One tap from idle: the general area (""). */
    take_one("", 3000);
}
END_TEST

START_TEST(test_ticket_screen_times_out)
{
    take_one("intake", 1000);
    kflow_tick(&f, 1000 + 30 + SHOW - 1, &cmd);
    ck_assert_int_eq(f.state, KF_TICKET);
    ck_assert_int_gt(kflow_idle_after_s(&f, 1000 + 30), 0);
    kflow_tick(&f, 1000 + 30 + SHOW, &cmd);
    ck_assert_int_eq(f.state, KF_IDLE);
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    ck_assert_int_eq(kflow_idle_after_s(&f, 5000), 0);
}
END_TEST

START_TEST(test_waiting_screens_time_out)
{
    const char *opens[][3] = {
        {"start", "", "choose"}, {"card", "", "card"}, {"appointment", "", "appointment"}};
    for (size_t i = 0; i < 3; i++) {
        int64_t t0 = 10000 * (int64_t)(i + 1) * 10;
        ck_assert_int_eq(act(opens[i][0], opens[i][1], t0), 0);
        ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
        ck_assert_str_eq(kflow_screen_name(kflow_screen_of(&f)), opens[i][2]);
        kflow_tick(&f, t0 + IDLE - 1, &cmd);
        ck_assert_str_eq(kflow_screen_name(kflow_screen_of(&f)), opens[i][2]);
        kflow_tick(&f, t0 + IDLE, &cmd);
        ck_assert_int_eq(f.state, KF_IDLE);
    }
    /* back from each of them */
    ck_assert_int_eq(act("start", "", 1), 0);
    ck_assert_int_eq(act("back", "", 2), 0);
    ck_assert_int_eq(f.state, KF_IDLE);
    ck_assert_int_eq(act("card", "", 3), 0);
    ck_assert_int_eq(act("start", "", 4), 0);
    ck_assert_int_eq(f.state, KF_CHOOSE);
    ck_assert_int_eq(act("back", "", 5), 0);
    ck_assert_int_eq(f.state, KF_IDLE);
}
END_TEST

START_TEST(test_choose_then_take)
{
    ck_assert_int_eq(act("start", "", 0), 0);
    ck_assert_int_eq(f.state, KF_CHOOSE);
    take_one("tax", 100);
}
END_TEST

START_TEST(test_double_tap)
{
    ck_assert_int_eq(act("take", "intake", 0), 0);
    ck_assert_int_eq(cmd.kind, KF_CMD_ISSUE);
    uint64_t token = cmd.token;
    /* Taps of every kind while the request is in flight do nothing. */
    const char *taps[] = {"take", "start", "card", "appointment", "back", "done"};
    for (size_t i = 0; i < 6; i++) {
        ck_assert_int_eq(act(taps[i], "", 5), 0);
        ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
        ck_assert_int_eq(f.state, KF_REQUESTING);
    }
    kflow_ticket t = ticket("A002", false);
    ck_assert(kflow_issued(&f, token, &t, 10, &cmd));
    ck_assert_int_eq(act("take", "intake", 11), 0);
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    ck_assert_int_eq(f.state, KF_PRINTING);
    kflow_printed(&f, true, NULL, NULL, 20, &cmd);
    ck_assert_int_eq(act("take", "intake", 21), 0);
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    ck_assert_int_eq(f.state, KF_CONFIRMING);
    /* The same answer twice issues nothing more. */
    ck_assert(!kflow_issued(&f, token, &t, 22, &cmd));
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    ck_assert_uint_eq(f.token, token);
}
END_TEST

START_TEST(test_double_swipe)
{
    ck_assert(kflow_swipe(&f, 0, &cmd));
    ck_assert_int_eq(cmd.kind, KF_CMD_ISSUE);
    ck_assert(cmd.by_card);
    ck_assert_str_eq(cmd.area, "");
    uint64_t token = cmd.token;
    ck_assert(!kflow_swipe(&f, 1, &cmd));
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    kflow_ticket t = ticket("A003", false);
    ck_assert(kflow_issued(&f, token, &t, 2, &cmd));
    ck_assert(!kflow_swipe(&f, 3, &cmd));
    kflow_printed(&f, true, NULL, NULL, 4, &cmd);
    ck_assert(!kflow_swipe(&f, 5, &cmd));
    kflow_confirmed(&f, token, 6);
    /* The ticket on screen: a swipe is still the same citizen's. */
    ck_assert(!kflow_swipe(&f, 7, &cmd));
    ck_assert_int_eq(f.state, KF_TICKET);
    ck_assert_uint_eq(f.token, token);
    /* After the citizen is done, a swipe is a new request. */
    ck_assert_int_eq(act("done", "", 8), 0);
    ck_assert(kflow_swipe(&f, 9, &cmd));
    ck_assert_uint_eq(cmd.token, token + 1);
    /* From the card prompt too. */
    setup();
    ck_assert_int_eq(act("card", "", 0), 0);
    ck_assert(kflow_swipe(&f, 1, &cmd));
    ck_assert_int_eq(f.state, KF_REQUESTING);
    /* Not on the appointment keypad. */
    setup();
    ck_assert_int_eq(act("appointment", "", 0), 0);
    ck_assert(!kflow_swipe(&f, 1, &cmd));
}
END_TEST

START_TEST(test_print_failure_voids)
{
    ck_assert_int_eq(act("take", "intake", 0), 0);
    uint64_t token = cmd.token;
    kflow_ticket t = ticket("A004", false);
    ck_assert(kflow_issued(&f, token, &t, 1, &cmd));
    kflow_printed(&f, false, "打印纸用完", "out of paper", 2, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_VOID);
    ck_assert_uint_eq(cmd.token, token);
    ck_assert_int_eq(kflow_screen_of(&f), KF_SCREEN_WORKING);
    kflow_confirmed(&f, token, 3);
    ck_assert_int_eq(f.state, KF_ERROR);
    ck_assert_ptr_nonnull(strstr(f.msg_zh, "作废"));
    ck_assert_ptr_nonnull(strstr(f.msg_en, "cancelled"));
    ck_assert_int_eq(act("back", "", 4), 0);
    ck_assert_int_eq(f.state, KF_IDLE);
}
END_TEST

START_TEST(test_confirmation_timeout)
{
    ck_assert_int_eq(act("take", "intake", 0), 0);
    uint64_t token = cmd.token;
    kflow_ticket t = ticket("A005", false);
    ck_assert(kflow_issued(&f, token, &t, 1, &cmd));
    kflow_printed(&f, true, NULL, NULL, 2, &cmd);
    kflow_tick(&f, 2 + CONFIRM - 1, &cmd);
    ck_assert_int_eq(f.state, KF_CONFIRMING);
    /* halld is slow: the citizen still gets the ticket screen. */
    kflow_tick(&f, 2 + CONFIRM, &cmd);
    ck_assert_int_eq(f.state, KF_TICKET);
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    /* A late confirmation changes nothing. */
    kflow_confirmed(&f, token, 2 + CONFIRM + 1);
    ck_assert_int_eq(f.state, KF_TICKET);
}
END_TEST

/* touch restarts a waiting screen's inactivity timeout, exactly from the
 * tap: one just inside it, again and again, keeps the screen; touch
 * changes nothing on any other screen. */
START_TEST(test_touch_restarts_timeout)
{
    ck_assert_int_eq(act("appointment", "", 0), 0);
    int64_t now = 0;
    for (int i = 0; i < 10; i++) {
        now += IDLE - 1;
        kflow_tick(&f, now, &cmd);
        ck_assert_int_eq(f.state, KF_APPOINTMENT);
        ck_assert_int_eq(act("touch", "", now), 0);
        ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
        ck_assert_int_eq(kflow_idle_after_s(&f, now), IDLE / 1000);
    }
    kflow_tick(&f, now + IDLE, &cmd);
    ck_assert_int_eq(f.state, KF_IDLE);
    /* On idle, touch does nothing (no deadline appears). */
    ck_assert_int_eq(act("touch", "", now), 0);
    ck_assert_int_eq(f.state, KF_IDLE);
    ck_assert_int_eq(f.deadline, 0);
    /* The ticket preview keeps its own time. */
    take_one("intake", 100);
    int64_t deadline = f.deadline;
    ck_assert_int_eq(act("touch", "", 200), 0);
    ck_assert_int_eq(f.deadline, deadline);
}
END_TEST

/* The keypad's codes are the appointment code format (apptcode.h). */
START_TEST(test_appointment_code_format)
{
    static const char *const bad[] = {"APT",    "AP-001", "AP0O01",
                                      "IO0001", "ap0001", "ABCDEFGHJKLMN"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(act("appointment", bad[i], 0), -1);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "预约码"));
        ck_assert_int_eq(f.state, KF_IDLE);
    }
    ck_assert_int_eq(act("appointment", "K7M2Q9ABCDEF", 0), 0);
    ck_assert_int_eq(cmd.kind, KF_CMD_ISSUE);
}
END_TEST

/* Check-in by ID card: the card screen in check-in mode, the swipe's
 * request carries check_in; offline it is refused at once. */
START_TEST(test_check_in_by_card)
{
    ck_assert_int_eq(act("appointment_card", "", 0), 0);
    ck_assert_int_eq(f.state, KF_CARD);
    ck_assert(f.check_in);
    ck_assert(kflow_swipe(&f, 1, &cmd));
    ck_assert_int_eq(cmd.kind, KF_CMD_ISSUE);
    ck_assert(cmd.check_in && cmd.by_card);
    /* The link goes while it is on its way: no offline ticket for it. */
    kflow_link(&f, false, 2, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    ck_assert_int_eq(f.state, KF_ERROR);
    ck_assert_int_eq(f.error_kind, KF_ERR_NETWORK);
    ck_assert_str_eq(kflow_error_kind_name(f.error_kind), "network");
    ck_assert_int_eq(act("back", "", 3), 0);
    ck_assert_int_eq(act("appointment_card", "", 4), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* The plain card screen takes a number. */
    kflow_link(&f, true, 5, &cmd);
    ck_assert_int_eq(act("card", "", 6), 0);
    ck_assert(!f.check_in);
    ck_assert(kflow_swipe(&f, 7, &cmd));
    ck_assert(!cmd.check_in);
}
END_TEST

/* A card that cannot be used: the error screen ("card") from idle and the
 * choosing screens, never over a ticket on its way or the keypad. */
START_TEST(test_card_failed)
{
    ck_assert(kflow_card_failed(&f, "身份证已过期", "expired", 0));
    ck_assert_int_eq(f.state, KF_ERROR);
    ck_assert_str_eq(kflow_error_kind_name(f.error_kind), "card");
    ck_assert_str_eq(f.msg_zh, "身份证已过期");
    /* Swiping a good card then works. */
    ck_assert(kflow_swipe(&f, 1, &cmd));
    ck_assert_int_eq(f.error_kind, KF_ERR_NONE);
    ck_assert(!kflow_card_failed(&f, "x", "x", 2));
    ck_assert_int_eq(f.state, KF_REQUESTING);
    setup();
    ck_assert_int_eq(act("appointment", "", 0), 0);
    ck_assert(!kflow_card_failed(&f, "x", "x", 1));
    ck_assert_int_eq(f.state, KF_APPOINTMENT);
    /* A printer failure and a refusal name their pictures. */
    setup();
    ck_assert_int_eq(act("take", "intake", 0), 0);
    uint64_t token = cmd.token;
    kflow_refused_as(&f, token, KF_ERR_LIMIT, "您已有号码", "you hold a number", 1);
    ck_assert_str_eq(kflow_error_kind_name(f.error_kind), "limit");
    setup();
    ck_assert_int_eq(act("take", "intake", 0), 0);
    token = cmd.token;
    kflow_ticket t = ticket("A009", false);
    ck_assert(kflow_issued(&f, token, &t, 1, &cmd));
    kflow_printed(&f, false, NULL, NULL, 2, &cmd);
    kflow_confirmed(&f, token, 3);
    ck_assert_str_eq(kflow_error_kind_name(f.error_kind), "printer");
    ck_assert_ptr_nonnull(strstr(f.msg_zh, "打印机故障"));
    ck_assert_ptr_null(strstr(f.msg_zh, "printer"));
}
END_TEST

START_TEST(test_refused)
{
    ck_assert_int_eq(act("appointment", "AP0001", 0), 0);
    ck_assert_int_eq(cmd.kind, KF_CMD_ISSUE);
    ck_assert_str_eq(cmd.appointment, "AP0001");
    uint64_t token = cmd.token;
    /* An answer to another request is not this one's. */
    kflow_refused(&f, token + 7, "x", "x", 1);
    ck_assert_int_eq(f.state, KF_REQUESTING);
    kflow_refused(&f, token, "没有这个预约", "no such appointment", 1);
    ck_assert_int_eq(f.state, KF_ERROR);
    ck_assert_str_eq(f.msg_en, "no such appointment");
    kflow_tick(&f, 1 + IDLE, &cmd);
    ck_assert_int_eq(f.state, KF_IDLE);
}
END_TEST

START_TEST(test_cannot_take)
{
    kflow_health(&f, false, "打印纸用完 — 请联系工作人员", "Out of paper — please ask the staff");
    ck_assert_int_eq(kflow_screen_of(&f), KF_SCREEN_CLOSED);
    errno = 0;
    ck_assert_int_eq(act("take", "", 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_ptr_nonnull(strstr(err, "打印纸用完"));
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    ck_assert_int_eq(act("card", "", 0), -1);
    ck_assert_int_eq(act("appointment", "", 0), -1);
    ck_assert_int_eq(act("start", "", 0), -1);
    ck_assert(!kflow_swipe(&f, 0, &cmd));
    ck_assert_int_eq(f.state, KF_IDLE);
    /* Back in order: the kiosk takes tickets again. */
    kflow_health(&f, true, "", "");
    ck_assert_int_eq(kflow_screen_of(&f), KF_SCREEN_IDLE);
    take_one("intake", 10);
    /* Losing the printer on a choosing screen goes back to the start. */
    ck_assert_int_eq(act("start", "", 100), 0);
    kflow_health(&f, false, "暂停取号", "Closed");
    ck_assert_int_eq(f.state, KF_IDLE);
    ck_assert_int_eq(kflow_screen_of(&f), KF_SCREEN_CLOSED);
}
END_TEST

START_TEST(test_exhausted_lease)
{
    kflow_link(&f, false, 0, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    /* Offline, a take is a number from the lease. */
    ck_assert_int_eq(act("take", "intake", 0), 0);
    ck_assert_int_eq(cmd.kind, KF_CMD_ISSUE_OFFLINE);
    uint64_t token = cmd.token;
    kflow_ticket t = ticket("A901", true);
    ck_assert(kflow_issued(&f, token, &t, 1, &cmd));
    kflow_printed(&f, true, NULL, NULL, 2, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_PRINTED);
    kflow_confirmed(&f, token, 3);
    ck_assert_int_eq(f.state, KF_TICKET);
    ck_assert(f.ticket.offline);
    /* The area's lease ran out: the kiosk refuses with a sentence. */
    ck_assert_int_eq(act("take", "tax", 4), 0);
    ck_assert_int_eq(cmd.kind, KF_CMD_ISSUE_OFFLINE);
    kflow_refused(&f, cmd.token, "暂停取号：离线号码已用完", "Closed: no offline numbers left", 5);
    ck_assert_int_eq(kflow_screen_of(&f), KF_SCREEN_ERROR);
    /* No lease at all: the kiosk is closed. */
    kflow_health(&f, false, "暂停取号：离线号码已用完", "Closed: no offline numbers left");
    ck_assert_int_eq(act("take", "", 6), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* Appointments need halld. */
    kflow_health(&f, true, "", "");
    ck_assert_int_eq(act("appointment", "AP0002", 7), -1);
    ck_assert_int_eq(errno, EAGAIN);
}
END_TEST

START_TEST(test_link_down_mid_request)
{
    ck_assert_int_eq(act("take", "tax", 0), 0);
    ck_assert_int_eq(cmd.kind, KF_CMD_ISSUE);
    uint64_t online_token = cmd.token;
    kflow_link(&f, false, 100, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_ISSUE_OFFLINE);
    ck_assert_str_eq(cmd.area, "tax");
    ck_assert_uint_ne(cmd.token, online_token);
    uint64_t offline_token = cmd.token;
    /* halld's late answer to the given-up request is not taken. */
    kflow_ticket late = ticket("T010", false);
    ck_assert(!kflow_issued(&f, online_token, &late, 200, &cmd));
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    kflow_ticket t = ticket("T901", true);
    ck_assert(kflow_issued(&f, offline_token, &t, 300, &cmd));
    ck_assert_int_eq(cmd.kind, KF_CMD_PRINT);
    ck_assert_str_eq(f.ticket.number, "T901");
    /* The link coming back in the middle changes nothing for this one. */
    kflow_link(&f, true, 400, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    ck_assert_int_eq(f.state, KF_PRINTING);
}
END_TEST

START_TEST(test_request_timeout)
{
    ck_assert_int_eq(act("take", "", 0), 0);
    uint64_t token = cmd.token;
    kflow_tick(&f, REQ - 1, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    kflow_tick(&f, REQ, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_ISSUE_OFFLINE);
    ck_assert_uint_gt(cmd.token, token);
    ck_assert(!f.online);
    /* An appointment unanswered cannot go offline: an error. */
    setup();
    ck_assert_int_eq(act("appointment", "AP0003", 0), 0);
    kflow_tick(&f, REQ, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    ck_assert_int_eq(f.state, KF_ERROR);
}
END_TEST

START_TEST(test_bad_actions)
{
    ck_assert_int_eq(act("launch", "", 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(kflow_action(&f, NULL, "", 0, &cmd, err, sizeof err), -1);
    ck_assert_int_eq(act("take", "a b", 0), -1);
    ck_assert_int_eq(act("take", "x';drop", 0), -1);
    ck_assert_int_eq(act("appointment", "0123456789012345678901234567890123456789", 0), -1);
    ck_assert_int_eq(act("appointment", "码", 0), -1);
    ck_assert_int_eq(f.state, KF_IDLE);
    /* A NULL param is an empty one. */
    ck_assert_int_eq(kflow_action(&f, "start", NULL, 0, &cmd, err, sizeof err), 0);
    ck_assert_int_eq(f.state, KF_CHOOSE);
    /* Answers and results that come in the wrong state change nothing. */
    kflow_printed(&f, true, NULL, NULL, 1, &cmd);
    ck_assert_int_eq(cmd.kind, KF_CMD_NONE);
    kflow_confirmed(&f, 1, 1);
    ck_assert_int_eq(f.state, KF_CHOOSE);
    ck_assert_str_eq(kflow_state_name(KF_CONFIRMING), "confirming");
    ck_assert_str_eq(kflow_screen_name(KF_SCREEN_CLOSED), "closed");
}
END_TEST

START_TEST(test_version_changes)
{
    uint64_t v = f.version;
    ck_assert_int_eq(act("start", "", 0), 0);
    ck_assert_uint_gt(f.version, v);
    v = f.version;
    kflow_tick(&f, 1, &cmd);
    ck_assert_uint_eq(f.version, v);
    kflow_link(&f, false, 2, &cmd);
    ck_assert_uint_gt(f.version, v);
}
END_TEST

/* ---- kiosk_conf ---------------------------------------------------------- */

static const char good[] = "[kiosk]\nid = kiosk-01\n[halld]\naddress = 127.0.0.1:7700\n"
                           "[idcard]\nsealing_key = seal.pub\n";

static int load(const char *text, bool sim, kiosk_conf *c, char *why, size_t len)
{
    char *dir = ts_tmpdir("kconf");
    ts_write_file(ts_path(dir, "k.ini"), text);
    int rc = kiosk_conf_load(c, ts_path(dir, "k.ini"), sim, why, len);
    ts_rmtree(dir);
    free(dir);
    return rc;
}

START_TEST(test_conf_good)
{
    kiosk_conf c = {0};
    char why[512];

    ck_assert_msg(load(good, false, &c, why, sizeof why) == 0, "%s", why);
    ck_assert_str_eq(c.id, "kiosk-01");
    ck_assert_str_eq(c.halld_host, "127.0.0.1");
    ck_assert_int_eq(c.halld_port, 7700);
    ck_assert_int_eq(c.printer_backend, PRINTER_BACKEND_USB);
    ck_assert_int_eq(c.reader_backend, READER_BACKEND_SERIAL);
    /* The sealing key's path, resolved against the file's directory; the
     * file itself is read by kiosk_new(). */
    ck_assert_ptr_nonnull(strstr(c.sealing_key, "/seal.pub"));
    ck_assert_str_eq(c.retired_hall_secret_file, "");
    ck_assert_int_eq(c.idle_timeout_ms, 30000);
    ck_assert_int_eq(c.lease_size, 20);
    /* --sim: the sim devices whatever the file says. */
    ck_assert_int_eq(load(good, true, &c, why, sizeof why), 0);
    ck_assert_int_eq(c.printer_backend, PRINTER_BACKEND_SIM);
    ck_assert_int_eq(c.reader_backend, READER_BACKEND_SIM);
    printer_conf pc;
    kiosk_conf_printer(&c, &pc);
    ck_assert_int_eq(pc.backend, PRINTER_BACKEND_SIM);
    ck_assert_str_eq(c.retired_reserve_margin, "");
    /* A file from before reserve_margin and the kiosk's hall secret were
     * retired still loads, as a kiosk and with --sim, whether the secret
     * file it names is there or not: the key is only remembered, so that
     * kioskd can warn. */
    for (int sim = 0; sim < 2; sim++) {
        ck_assert_msg(load("[kiosk]\nid = k\n[halld]\naddress = h:1\n[flow]\nreserve_margin = 10s\n"
                           "[idcard]\nhall_secret_file = /etc/onewindow/kiosk/secret.key\n",
                           sim, &c, why, sizeof why) == 0,
                      "%s", why);
        ck_assert_str_eq(c.retired_reserve_margin, "10s");
        ck_assert_str_eq(c.retired_hall_secret_file, "/etc/onewindow/kiosk/secret.key");
    }
    kiosk_conf_release(&c);
}
END_TEST

START_TEST(test_conf_bad)
{
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"[halld]\naddress = h:1\n", "id"},
        {"[kiosk]\nid = a b\n[halld]\naddress = h:1\n", "[kiosk] id"},
        {"[kiosk]\nid = k\n[halld]\naddress = nohost\n", "host:port"},
        {"[kiosk]\nid = k\n[halld]\naddress = h:99999\n", "host:port"},
        {"[kiosk]\nid = k\n[halld]\naddress = h:1\n[printer]\nbackend = lp\n", "backend"},
        {"[kiosk]\nid = k\n[halld]\naddress = h:1\n[printer]\nbackend = net\n", "address"},
        {"[kiosk]\nid = k\n[halld]\naddress = h:1\n[printer]\nbackend = cups\n", "queue"},
        {"[kiosk]\nid = k\n[halld]\naddress = h:1\n[printer]\npaper = 60\n", "paper"},
        {"[kiosk]\nid = k\n[halld]\naddress = h:1\n[offline]\nlease_size = 5\nlow_water = 5\n",
         "low_water"},
        {"[kiosk]\nid = k\n[halld]\naddress = h:1\n[flow]\nidle_timeout = 1s\n", "idle_timeout"},
        {"[kiosk]\nid = k\nnoise = 1\n[halld]\naddress = h:1\n", "noise"},
    };
    char why[512];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kiosk_conf c = {0};
        errno = 0;
        ck_assert_msg(load(bad[i].text, false, &c, why, sizeof why) == -1, "accepted: %s",
                      bad[i].text);
        ck_assert_msg(strstr(why, bad[i].needle) != NULL, "'%s' does not say %s", why,
                      bad[i].needle);
        ck_assert_ptr_null(strchr(why, '\n'));
        ck_assert_ptr_null(c.id);
    }
}
END_TEST

static Suite *flow_suite(void)
{
    Suite *s = suite_create("kiosk_flow");
    TCase *tc = tcase_create("states");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_full_flow_and_done);
    tcase_add_test(tc, test_ticket_screen_times_out);
    tcase_add_test(tc, test_waiting_screens_time_out);
    tcase_add_test(tc, test_choose_then_take);
    tcase_add_test(tc, test_double_tap);
    tcase_add_test(tc, test_double_swipe);
    tcase_add_test(tc, test_print_failure_voids);
    tcase_add_test(tc, test_confirmation_timeout);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_touch_restarts_timeout);
    tcase_add_test(tc, test_appointment_code_format);
    tcase_add_test(tc, test_check_in_by_card);
    tcase_add_test(tc, test_card_failed);
    tcase_add_test(tc, test_cannot_take);
    tcase_add_test(tc, test_exhausted_lease);
    tcase_add_test(tc, test_link_down_mid_request);
    tcase_add_test(tc, test_request_timeout);
    tcase_add_test(tc, test_bad_actions);
    tcase_add_test(tc, test_version_changes);
    suite_add_tcase(s, tc);
    TCase *conf = tcase_create("conf");
    tcase_add_test(conf, test_conf_good);
    tcase_add_test(conf, test_conf_bad);
    suite_add_tcase(s, conf);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(flow_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
