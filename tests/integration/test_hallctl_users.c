/*
 * hallctl_users — the real hallctl's user verbs on a hall it creates in a
 * scratch directory: a clerk's user added with a password from standard
 * input and a manager with one hallctl makes (printed once, letters and
 * digits without look-alikes); the list shows both and never a hash; the
 * stored hashes verify against those passwords (read through a read-only
 * store, as the web pages will); passwd, disable, enable, role and logout
 * each raise the session epoch; bad roles, unknown clerks and users,
 * short, empty and over-long passwords refused with their reason and
 * nothing changed; every change one audit event, without the password or
 * its hash, and the chain still verifies.
 */
#include <check.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pwhash.h"
#include "store.h"
#include "testsupport.h"

#define HALL_ID "test-hall"

static char *dir;       /* scratch directory */
static char hall[2048]; /* the hall directory inside it */
static char config[PATH_MAX];
static char db[PATH_MAX];
static char out_path[PATH_MAX];
static char in_path[PATH_MAX];
static char out[65536]; /* what the last hallctl run printed, both streams */

/* Run hallctl with args (shell words) and input as its standard input
 * (NULL: none); returns its exit status and keeps its output in out. */
static int hallctl_in(const char *input, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int hallctl_in(const char *input, const char *fmt, ...)
{
    char args[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    ts_write_file(in_path, input ? input : "");
    int rc = ts_system("%s %s <%s >%s 2>&1", HALLCTL_PATH, args, in_path, out_path);
    FILE *f = fopen(out_path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    return rc;
}

/* hallctl VERB ... -c CONFIG, with or without standard input. */
#define ADMIN(fmt, ...)           hallctl_in(NULL, fmt " -c '%s'", __VA_ARGS__, config)
#define ADMIN_IN(input, fmt, ...) hallctl_in(input, fmt " -c '%s'", __VA_ARGS__, config)

static void assert_out(const char *needle)
{
    ck_assert_msg(strstr(out, needle) != NULL, "expected \"%s\" in:\n%s", needle, out);
}

static void setup(void)
{
    dir = ts_tmpdir("hallctl-users");
    snprintf(hall, sizeof hall, "%s/hall", dir);
    snprintf(config, sizeof config, "%s/halld.ini", hall);
    snprintf(db, sizeof db, "%s/hall.db", hall);
    snprintf(out_path, sizeof out_path, "%s/out.txt", dir);
    snprintf(in_path, sizeof in_path, "%s/in.txt", dir);
    ck_assert_msg(hallctl_in(NULL, "init --dir '%s' --hall-id " HALL_ID, hall) == 0, "%s", out);
    ck_assert_msg(ADMIN("clerk add --id c-1 --name 王芳%s", "") == 0, "%s", out);
    ck_assert_msg(ADMIN("clerk add --id c-2 --name 李明%s", "") == 0, "%s", out);
}

static void teardown(void)
{
    ts_rmtree(dir);
    free(dir);
}

/* The user as stored, read the way the web pages will read it. */
static store_user get_user(const char *name)
{
    char err[512];
    store *s = store_open(db, HALL_ID, STORE_READER, err, sizeof err);
    store_user u;

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_msg(store_get_user(s, name, &u) == 1, "no user %s", name);
    store_close(s);
    return u;
}

/* The password hallctl printed for name: 12 letters and digits without
 * 0, O, 1, l, I. */
static void printed_password(const char *name, char pw[16])
{
    char prefix[64];

    snprintf(prefix, sizeof prefix, "password for %s: ", name);
    const char *at = strstr(out, prefix);
    ck_assert_msg(at != NULL, "no password printed:\n%s", out);
    at += strlen(prefix);
    size_t n = strspn(at, "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz");
    ck_assert_msg(n == 12 && at[n] == '\n', "not a password hallctl makes: %.20s", at);
    memcpy(pw, at, n);
    pw[n] = '\0';
}

/* The users' rows and the number of events, to see that a refusal changed
 * nothing. */
static void snapshot(char *acc, size_t len)
{
    sqlite3 *conn;
    sqlite3_stmt *st;
    size_t used = 0;

    ck_assert_int_eq(sqlite3_open_v2(db, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(conn,
                                        "SELECT name || '|' || role || '|' || coalesce(clerk_id, "
                                        "'') || '|' || pwhash || '|' || disabled || '|' || "
                                        "session_epoch || '|' || changed_ms FROM users UNION ALL "
                                        "SELECT count(*) FROM events",
                                        -1, &st, NULL),
                     SQLITE_OK);
    acc[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW)
        used += (size_t)snprintf(acc + used, len - used, "%s\n", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(conn);
}

/* The details of the audit events about users, in order, one a line. */
static void user_events(char *acc, size_t len)
{
    sqlite3 *conn;
    sqlite3_stmt *st;
    size_t used = 0;

    ck_assert_int_eq(sqlite3_open_v2(db, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(conn,
                                        "SELECT detail, device FROM events WHERE kind = 100 AND "
                                        "detail LIKE 'user %' ORDER BY seq",
                                        -1, &st, NULL),
                     SQLITE_OK);
    acc[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "hallctl");
        used += (size_t)snprintf(acc + used, len - used, "%s\n", sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(conn);
}

START_TEST(test_usage)
{
    static const char *const verbs[] = {"add",    "list", "passwd", "disable",
                                        "enable", "role", "logout"};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        ck_assert_msg(hallctl_in(NULL, "user %s --help", verbs[i]) == 0, "user %s --help: %s",
                      verbs[i], out);
        assert_out("usage: hallctl user ");
    }
    ck_assert_int_eq(hallctl_in(NULL, "help"), 0);
    assert_out("user passwd");
    ck_assert_int_eq(hallctl_in(NULL, "user"), 2);
    ck_assert_int_eq(ADMIN("user add --name alice%s", ""), 2); /* no role */
    ck_assert_int_eq(ADMIN("user passwd%s", ""), 2);
    ck_assert_int_eq(ADMIN("user role --name alice%s", ""), 2);
    ck_assert_int_eq(ADMIN("user list extra%s", ""), 2);
    ck_assert_int_eq(ADMIN("user list%s", ""), 0);
    assert_out("name");
    assert_out("display name");
}
END_TEST

START_TEST(test_users)
{
    char bob_pw[16], pw2[16];
    static char before[65536], after[65536], events[8192];

    /* A clerk's user with a password from standard input, and a manager
     * with one hallctl makes. */
    ck_assert_msg(ADMIN_IN("correct horse 1\n",
                           "user add --name alice --role clerk --clerk c-1 --password-stdin%s",
                           "") == 0,
                  "%s", out);
    assert_out("user alice added, role clerk (clerk c-1)");
    ck_assert_ptr_null(strstr(out, "password for"));
    ck_assert_msg(ADMIN("user add --name bob --role manager --display-name '王 经理'%s", "") == 0,
                  "%s", out);
    assert_out("user bob added, role manager");
    printed_password("bob", bob_pw);

    store_user a = get_user("alice"), b = get_user("bob");
    ck_assert_str_eq(a.role, "clerk");
    ck_assert_str_eq(a.clerk_id, "c-1");
    ck_assert_str_eq(a.display_name, "王芳"); /* the clerk's name */
    ck_assert(!a.disabled);
    ck_assert_int_eq(a.session_epoch, 0);
    ck_assert_str_eq(b.role, "manager");
    ck_assert_str_eq(b.clerk_id, "");
    ck_assert_str_eq(b.display_name, "王 经理");
    ck_assert_msg(strncmp(a.pwhash, "$scrypt$ln=15,r=8,p=1$", 22) == 0, "%s", a.pwhash);
    ck_assert_int_eq(pwhash_verify("correct horse 1", a.pwhash), 1);
    ck_assert_int_eq(pwhash_verify("correct horse 2", a.pwhash), 0);
    ck_assert_int_eq(pwhash_verify(bob_pw, b.pwhash), 1);
    ck_assert_int_eq(pwhash_verify("correct horse 1", b.pwhash), 0);

    /* The list: both, and no hash. */
    ck_assert_int_eq(ADMIN("user list%s", ""), 0);
    assert_out("alice");
    assert_out("c-1");
    assert_out("王芳");
    assert_out("bob");
    assert_out("manager");
    assert_out("active");
    ck_assert_ptr_null(strstr(out, "scrypt"));
    ck_assert_ptr_null(strstr(out, strrchr(a.pwhash, '$') + 1));
    ck_assert_ptr_null(strstr(out, strrchr(b.pwhash, '$') + 1));

    /* passwd: the new password verifies, the old no longer; the epoch
     * moves on. Without --password-stdin a new one is made. */
    ck_assert_msg(ADMIN_IN("new horse 22\r\n", "user passwd --name alice --password-stdin%s", "") ==
                      0,
                  "%s", out);
    assert_out("user alice: password changed");
    a = get_user("alice");
    ck_assert_int_eq(pwhash_verify("new horse 22", a.pwhash), 1);
    ck_assert_int_eq(pwhash_verify("correct horse 1", a.pwhash), 0);
    ck_assert_int_eq(a.session_epoch, 1);
    ck_assert_msg(ADMIN("user passwd --name bob%s", "") == 0, "%s", out);
    printed_password("bob", pw2);
    ck_assert_str_ne(pw2, bob_pw);
    b = get_user("bob");
    ck_assert_int_eq(pwhash_verify(pw2, b.pwhash), 1);
    ck_assert_int_eq(pwhash_verify(bob_pw, b.pwhash), 0);
    ck_assert_int_eq(b.session_epoch, 1);

    /* disable and enable, each once. */
    ck_assert_msg(ADMIN("user disable --name bob%s", "") == 0, "%s", out);
    assert_out("user bob disabled");
    b = get_user("bob");
    ck_assert(b.disabled);
    ck_assert_int_eq(b.session_epoch, 2);
    ck_assert_int_eq(ADMIN("user list%s", ""), 0);
    assert_out("disabled");
    ck_assert_int_eq(ADMIN("user disable --name bob%s", ""), 0);
    assert_out("user bob is disabled already");
    ck_assert_int_eq(get_user("bob").session_epoch, 2);
    ck_assert_msg(ADMIN("user enable --name bob%s", "") == 0, "%s", out);
    assert_out("user bob enabled");
    b = get_user("bob");
    ck_assert(!b.disabled);
    ck_assert_int_eq(b.session_epoch, 3);
    ck_assert_int_eq(pwhash_verify(pw2, b.pwhash), 1);

    /* role: from clerk to manager and back as another clerk. */
    ck_assert_msg(ADMIN("user role --name alice --role manager%s", "") == 0, "%s", out);
    assert_out("user alice: role clerk (clerk c-1) -> manager");
    a = get_user("alice");
    ck_assert_str_eq(a.role, "manager");
    ck_assert_str_eq(a.clerk_id, "");
    ck_assert_int_eq(a.session_epoch, 2);
    ck_assert_msg(ADMIN("user role --name alice --role clerk --clerk c-2%s", "") == 0, "%s", out);
    assert_out("user alice: role manager -> clerk (clerk c-2)");
    ck_assert_int_eq(ADMIN("user role --name alice --role clerk --clerk c-2%s", ""), 0);
    assert_out("already");
    a = get_user("alice");
    ck_assert_str_eq(a.clerk_id, "c-2");
    ck_assert_int_eq(a.session_epoch, 3);

    /* logout: the epoch alone. */
    ck_assert_msg(ADMIN("user logout --name alice%s", "") == 0, "%s", out);
    assert_out("user alice: every web session of the user ended");
    a = get_user("alice");
    ck_assert_int_eq(a.session_epoch, 4);
    ck_assert_str_eq(a.role, "clerk");
    ck_assert_int_eq(pwhash_verify("new horse 22", a.pwhash), 1);

    /* Refusals: the reason, and nothing changed. */
    snapshot(before, sizeof before);
    char longest[PWHASH_PASSWORD_MAX + 8];
    memset(longest, 'x', PWHASH_PASSWORD_MAX + 1);
    strcpy(longest + PWHASH_PASSWORD_MAX + 1, "\n");
    ck_assert_int_eq(ADMIN("user add --name carol --role boss%s", ""), 1);
    assert_out("hallctl: --role boss: use admin, manager, clerk, reviewer, consult or auditor");
    ck_assert_int_eq(ADMIN("user add --name carol --role clerk --clerk c-9%s", ""), 1);
    assert_out("hallctl: --clerk c-9: no such clerk");
    ck_assert_ptr_null(strstr(out, "password for"));
    ck_assert_int_eq(ADMIN("user add --name carol --role clerk%s", ""), 1);
    assert_out("the clerk role needs the clerk");
    ck_assert_int_eq(ADMIN("user add --name carol --role admin --clerk c-1%s", ""), 1);
    assert_out("--clerk c-1: only the clerk role names a clerk");
    ck_assert_int_eq(
        ADMIN_IN("short\n", "user add --name carol --role admin --password-stdin%s", ""), 1);
    assert_out("hallctl: --password-stdin: a password has at least 8 characters (this one has 5)");
    ck_assert_int_eq(ADMIN_IN("密码一二三四五\n", /* 7 characters, 21 bytes */
                              "user add --name carol --role admin --password-stdin%s", ""),
                     1);
    assert_out("at least 8 characters (this one has 7)");
    ck_assert_int_eq(ADMIN_IN(longest, "user add --name carol --role admin --password-stdin%s", ""),
                     1);
    assert_out("a password is at most 128 bytes");
    ck_assert_int_eq(ADMIN_IN("", "user add --name carol --role admin --password-stdin%s", ""), 1);
    assert_out("no password on standard input");
    ck_assert_int_eq(ADMIN("user add --name Carol --role admin%s", ""), 1);
    assert_out("--name Carol: use 1 to 32 of a-z");
    ck_assert_int_eq(ADMIN("user add --name alice --role admin%s", ""), 1);
    assert_out("user alice exists");
    ck_assert_int_eq(ADMIN_IN("short\n", "user passwd --name alice --password-stdin%s", ""), 1);
    assert_out("at least 8 characters");
    ck_assert_int_eq(ADMIN("user passwd --name nobody%s", ""), 1);
    assert_out("hallctl: no user nobody");
    ck_assert_ptr_null(strstr(out, "password for"));
    ck_assert_int_eq(ADMIN("user role --name alice --role boss%s", ""), 1);
    ck_assert_int_eq(ADMIN("user role --name alice --role clerk --clerk c-9%s", ""), 1);
    assert_out("no such clerk");
    ck_assert_int_eq(ADMIN("user role --name alice --role clerk%s", ""), 1);
    ck_assert_int_eq(ADMIN("user role --name nobody --role admin%s", ""), 1);
    ck_assert_int_eq(ADMIN("user disable --name nobody%s", ""), 1);
    ck_assert_int_eq(ADMIN("user enable --name nobody%s", ""), 1);
    ck_assert_int_eq(ADMIN("user logout --name nobody%s", ""), 1);
    assert_out("no user nobody");
    snapshot(after, sizeof after);
    ck_assert_str_eq(after, before);

    /* One audit event a change, none for what changed nothing; never a
     * password or its hash. */
    user_events(events, sizeof events);
    ck_assert_str_eq(events, "user alice added, role clerk (clerk c-1)\n"
                             "user bob added, role manager\n"
                             "user alice: password changed\n"
                             "user bob: password changed\n"
                             "user bob disabled\n"
                             "user bob enabled\n"
                             "user alice: role clerk (clerk c-1) -> manager\n"
                             "user alice: role manager -> clerk (clerk c-2)\n"
                             "user alice: sessions ended\n");
    ck_assert_int_eq(ADMIN("audit verify%s", ""), 0);
    assert_out("chain intact");
}
END_TEST

static Suite *users_suite(void)
{
    Suite *s = suite_create("hallctl users");
    TCase *tc = tcase_create("users");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_usage);
    tcase_add_test(tc, test_users);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(users_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
