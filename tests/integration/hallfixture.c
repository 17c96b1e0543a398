/*
 * hallfixture — see hallfixture.h.
 */
#include "hallfixture.h"

#include <check.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testsupport.h"

int fix_hallctl(hallfix *f, const char *fmt, ...)
{
    char args[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return ts_system("%s -c %s %s >>%s/hallctl.log 2>&1", HALLCTL_PATH, f->config, args, f->dir);
}

void fix_init(hallfix *f, int nwindows, const char *extra_conf)
{
    memset(f, 0, sizeof *f);
    f->dir = ts_tmpdir("hall");
    f->nwindows = nwindows;
    snprintf(f->config, sizeof f->config, "%s/halld.ini", f->dir);
    snprintf(f->log, sizeof f->log, "%s/halld.log", f->dir);
    ck_assert_msg(
        ts_system("%s init --dir %s --hall-id test-hall --name 测试大厅 >%s/init.log 2>&1",
                  HALLCTL_PATH, f->dir, f->dir) == 0,
        "hallctl init failed");
    /* Loopback and a port of halld's choosing, so tests run side by side. */
    ck_assert_int_eq(ts_system("sed -i -e 's/^address *=.*/address = 127.0.0.1/' "
                               "-e 's/^port *=.*/port = 0/' %s",
                               f->config),
                     0);
    if (extra_conf != NULL) {
        FILE *c = fopen(f->config, "a");
        ck_assert_ptr_nonnull(c);
        fprintf(c, "\n%s\n", extra_conf);
        fclose(c);
    }
    ck_assert_int_eq(fix_hallctl(f, "catalog import %s/sample-catalog.json", SAMPLE_DIR), 0);
    char areas[256] = "";
    ck_assert_int_eq(
        ts_system("%s -c %s catalog list >%s/catalog.txt 2>&1", HALLCTL_PATH, f->config, f->dir),
        0);
    /* Every window serves every area of the sample catalog. */
    snprintf(areas, sizeof areas, "intake:1,realestate:1,fund:1,social:1,tax:1,approval:1");
    for (int w = 1; w <= nwindows; w++) {
        ck_assert_int_eq(fix_hallctl(f,
                                     "window add --no %d --name 综合窗口%d --type intake "
                                     "--areas %s",
                                     w, w, areas),
                         0);
        ck_assert_int_eq(fix_hallctl(f, "clerk add --id c-%d --name 办事员%d", w, w), 0);
        ck_assert_int_eq(fix_hallctl(f, "device add --id win-%d --type window --window %d", w, w),
                         0);
    }
    ck_assert_int_eq(fix_hallctl(f, "device add --id kiosk-01 --type kiosk"), 0);
    ck_assert_int_eq(fix_hallctl(f, "device add --id board-01 --type display"), 0);
}

void fix_start(hallfix *f)
{
    const char *argv[] = {HALLD_PATH, "-c", f->config, NULL};
    char line[1024];

    /* A fresh log each start, so the port read is this run's. */
    unlink(f->log);
    f->pid = ts_spawn(argv, f->log);
    ck_assert_msg(ts_file_contains(f->log, "listening on", FIX_WAIT_MS), "halld did not start");
    FILE *lf = fopen(f->log, "r");
    ck_assert_ptr_nonnull(lf);
    while (fgets(line, sizeof line, lf) != NULL) {
        const char *at = strstr(line, "listening on 127.0.0.1:");
        if (at != NULL)
            f->port = atoi(at + strlen("listening on 127.0.0.1:"));
    }
    fclose(lf);
    ck_assert_int_gt(f->port, 0);
}

int fix_stop(hallfix *f)
{
    int status;

    ck_assert_int_gt(f->pid, 0);
    kill(f->pid, SIGTERM);
    status = ts_wait(f->pid, FIX_WAIT_MS);
    if (status == -1)
        ts_kill(f->pid);
    f->pid = 0;
    return status;
}

void fix_kill(hallfix *f)
{
    ts_kill(f->pid);
    f->pid = 0;
}

void fix_free(hallfix *f)
{
    if (f->pid > 0)
        ts_kill(f->pid);
    if (getenv("ONEWINDOW_KEEP_TEST_DIRS") == NULL)
        ts_rmtree(f->dir);
    free(f->dir);
}

devlink *fix_connect(hallfix *f, const char *device_id)
{
    char cert[1200], key[1200], ca[1200], err[DEVLINK_ERR_LEN];

    snprintf(cert, sizeof cert, "%s/pki/devices/%s/%s.crt", f->dir, device_id, device_id);
    snprintf(key, sizeof key, "%s/pki/devices/%s/%s.key", f->dir, device_id, device_id);
    snprintf(ca, sizeof ca, "%s/pki/devices/%s/ca.crt", f->dir, device_id);
    return devlink_open("127.0.0.1", f->port, cert, key, ca, FIX_WAIT_MS, err);
}

long long fix_db_int(hallfix *f, const char *fmt, ...)
{
    char path[1100], sql[512];
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/hall.db", f->dir);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

devlink *fix_device(hallfix *f, const char *device_id, Hall__DeviceType type, uint32_t window_no)
{
    char err[DEVLINK_ERR_LEN];
    devlink *l = fix_connect(f, device_id);

    ck_assert_msg(l != NULL, "cannot connect as %s", device_id);
    Hall__Envelope *r = devlink_hello(l, device_id, type, window_no, FIX_WAIT_MS, err);
    ck_assert_msg(r != NULL, "HELLO as %s: %s", device_id, err);
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_HELLO_REPLY, "HELLO as %s refused: %s",
                  device_id, r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    proto_free(r);
    return l;
}

Hall__Envelope *fix_call(devlink *l, Hall__Envelope *req)
{
    char err[DEVLINK_ERR_LEN];
    Hall__Envelope *r = devlink_call(l, req, FIX_WAIT_MS, err);

    ck_assert_msg(r != NULL, "%s: %s", proto_body_name(req->body_case), err);
    return r;
}

Hall__Envelope *fix_issue(devlink *l, const char *area, Hall__Priority prio)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;
    char a[32];

    snprintf(a, sizeof a, "%s", area ? area : "");
    m.area = a;
    m.priority = prio;
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    return fix_call(l, &env);
}

Hall__Envelope *fix_printed(devlink *l, uint64_t ticket_id)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Printed m = HALL__PRINTED__INIT;

    m.ticket_id = ticket_id;
    env.body_case = HALL__ENVELOPE__BODY_PRINTED;
    env.printed = &m;
    return fix_call(l, &env);
}

Hall__Envelope *fix_sign_in(devlink *l, uint32_t window_no, const char *clerk)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__SignIn m = HALL__SIGN_IN__INIT;
    char c[64];

    snprintf(c, sizeof c, "%s", clerk);
    m.window_no = window_no;
    m.clerk_id = c;
    env.body_case = HALL__ENVELOPE__BODY_SIGN_IN;
    env.sign_in = &m;
    return fix_call(l, &env);
}

Hall__Envelope *fix_window_op(devlink *l, Hall__Envelope__BodyCase op, uint32_t window_no,
                              uint64_t ticket_id)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__CallNext call = HALL__CALL_NEXT__INIT;
    Hall__Start start = HALL__START__INIT;
    Hall__Finish finish = HALL__FINISH__INIT;
    Hall__NoShow no_show = HALL__NO_SHOW__INIT;
    Hall__Recall recall = HALL__RECALL__INIT;

    env.body_case = op;
    switch (op) {
    case HALL__ENVELOPE__BODY_CALL_NEXT:
        call.window_no = window_no;
        env.call_next = &call;
        break;
    case HALL__ENVELOPE__BODY_START:
        start.window_no = window_no;
        start.ticket_id = ticket_id;
        env.start = &start;
        break;
    case HALL__ENVELOPE__BODY_FINISH:
        finish.window_no = window_no;
        finish.ticket_id = ticket_id;
        env.finish = &finish;
        break;
    case HALL__ENVELOPE__BODY_NO_SHOW:
        no_show.window_no = window_no;
        no_show.ticket_id = ticket_id;
        env.no_show = &no_show;
        break;
    case HALL__ENVELOPE__BODY_RECALL:
        recall.window_no = window_no;
        recall.ticket_id = ticket_id;
        env.recall = &recall;
        break;
    default:
        ck_abort_msg("fix_window_op: %s is not a window operation", proto_body_name(op));
    }
    return fix_call(l, &env);
}
