/*
 * test_halld_audit — the anchored audit trail and the hall's private
 * files, with the real halld and hallctl on halls made by hallctl init.
 * One executable; the argument picks the case:
 *
 *   anchor   halld_audit_anchor: hallctl anchors its own changes, halld
 *            anchors at its interval (1 s here) and at SIGTERM; an
 *            untouched hall verifies and says up to which event it is
 *            anchored, and which later events nothing covers yet; then, on
 *            copies of the hall, an event rewritten with every later hash
 *            recomputed and the triggers restored, the newest events
 *            deleted, and forged, damaged and foreign-key anchor lines are
 *            each found and named.
 *   modes    hall_file_modes: what init makes and halld adds (hall.db and
 *            its -wal and -shm, the keys, private/) has the modes
 *            docs/hallctl.md promises, and pki/ (which halld reads) holds no
 *            CA key.
 *   legacy   hall_legacy_layout: a hall as an older release left it (CA
 *            key in pki/, no audit key, a database readable by others)
 *            keeps working: hallctl finds the CA key and says how to move
 *            it, halld and hallctl warn, the database is tightened, and
 *            `hallctl audit key` starts the anchors.
 *
 * The tampering uses SQLite directly and recomputes the chain as store.h
 * specifies it, as an intruder with the file would.
 */
#include <check.h>
#include <errno.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "anchor.h"
#include "clk.h"
#include "hallfixture.h"
#include "store.h"
#include "testsupport.h"

#define HALL_ID "test-hall"

static char out[65536]; /* what the last hallctl run printed, both streams */

/* Run hallctl -c config with args; returns its exit status, output in out. */
static int hallctl(const char *config, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int hallctl(const char *config, const char *fmt, ...)
{
    char args[2048], path[1100];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s.out", config);
    int rc = ts_system("%s -c '%s' %s >'%s' 2>&1", HALLCTL_PATH, config, args, path);
    char *text = ts_slurp(path);
    snprintf(out, sizeof out, "%s", text);
    free(text);
    return rc;
}

static void assert_out(const char *needle)
{
    ck_assert_msg(strstr(out, needle) != NULL, "expected \"%s\" in:\n%s", needle, out);
}

static void assert_not_out(const char *needle)
{
    ck_assert_msg(strstr(out, needle) == NULL, "did not expect \"%s\" in:\n%s", needle, out);
}

static long file_mode(const char *path)
{
    struct stat st;

    ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
    return (long)(st.st_mode & 07777);
}

/* The head of the hall's event log, read as hallctl would. */
static uint64_t head_of(const char *dir)
{
    char err[512];
    uint8_t hash[32];
    uint64_t seq;
    store *s = store_open(ts_path(dir, "hall.db"), HALL_ID, STORE_ADMIN, err, sizeof err);

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(store_event_head(s, &seq, hash), 0);
    store_close(s);
    return seq;
}

/* The seq of the last line of the anchors file with why=<why>, 0 if none. */
static uint64_t last_anchor(const char *dir, const char *why)
{
    char *text = ts_slurp(ts_path(dir, ANCHOR_FILE)), needle[32];
    uint64_t seq = 0;

    snprintf(needle, sizeof needle, " why=%s ", why);
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        const char *at = strstr(line, " seq=");
        if (strstr(line, needle) != NULL && at != NULL)
            seq = strtoull(at + 5, NULL, 10);
    }
    free(text);
    return seq;
}

/* Wait until the anchors file has a line why=<why> for event seq or later. */
static bool wait_anchor(const char *dir, const char *why, uint64_t seq)
{
    for (int i = 0; i < FIX_WAIT_MS / 50; i++) {
        if (last_anchor(dir, why) >= seq)
            return true;
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    return false;
}

/* ---- The chain, recomputed as an intruder would (store.h's encoding) ----- */

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void chain_hash(const uint8_t prev[32], sqlite3_stmt *row, uint8_t hash[32])
{
    uint8_t fixed[36], len[4];
    unsigned int n = 32;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    put_be(fixed, (uint64_t)sqlite3_column_int64(row, 0), 8);      /* seq */
    put_be(fixed + 8, (uint64_t)sqlite3_column_int64(row, 1), 8);  /* at_ms */
    put_be(fixed + 16, (uint64_t)sqlite3_column_int64(row, 2), 4); /* day */
    put_be(fixed + 20, (uint64_t)sqlite3_column_int64(row, 3), 4); /* kind */
    put_be(fixed + 24, (uint64_t)sqlite3_column_int64(row, 4), 8); /* ticket_id */
    put_be(fixed + 32, (uint64_t)sqlite3_column_int64(row, 5), 4); /* window_no */
    ck_assert(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
    EVP_DigestUpdate(md, prev, 32);
    EVP_DigestUpdate(md, fixed, sizeof fixed);
    for (int i = 6; i < 9; i++) { /* clerk, detail, device */
        int bytes = sqlite3_column_bytes(row, i);
        put_be(len, (uint64_t)bytes, 4);
        EVP_DigestUpdate(md, len, sizeof len);
        EVP_DigestUpdate(md, sqlite3_column_text(row, i), (size_t)bytes);
    }
    if (sqlite3_column_int64(row, 15) == 1) { /* chain 1: the structured columns too */
        uint8_t more[16];
        put_be(more, 1, 4);
        put_be(more + 4, (uint64_t)sqlite3_column_int64(row, 12), 8);  /* duration_ms */
        put_be(more + 12, (uint64_t)sqlite3_column_int64(row, 13), 4); /* rating */
        EVP_DigestUpdate(md, more, sizeof more);
        static const int strs[3] = {10, 11, 14}; /* area, matter, reason */
        for (int i = 0; i < 3; i++) {
            int bytes = sqlite3_column_bytes(row, strs[i]);
            put_be(len, (uint64_t)bytes, 4);
            EVP_DigestUpdate(md, len, sizeof len);
            EVP_DigestUpdate(md, sqlite3_column_text(row, strs[i]), (size_t)bytes);
        }
    }
    ck_assert(EVP_DigestFinal_ex(md, hash, &n) == 1);
    EVP_MD_CTX_free(md);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql,
                  msg ? msg : "");
}

/* The CREATE statement of trigger name, to put it back afterwards. */
static char *trigger_sql(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    char *sql;

    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name = ?1", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    sql = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return sql;
}

/* Edit event seq's detail and make the chain whole again from it on, with
 * the update trigger dropped and restored. */
static void rewrite_event(const char *dir, uint64_t seq, const char *detail)
{
    sqlite3 *db;
    sqlite3_stmt *rows, *fix;
    uint8_t prev[32] = {0}, hash[32];

    ck_assert_int_eq(sqlite3_open(ts_path(dir, "hall.db"), &db), SQLITE_OK);
    char *trigger = trigger_sql(db, "events_no_update");
    exec_sql(db, "BEGIN; DROP TRIGGER events_no_update");
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "UPDATE events SET detail = ?2 WHERE seq = ?1", -1, &fix, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(fix, 1, (sqlite3_int64)seq);
    sqlite3_bind_text(fix, 2, detail, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(fix), SQLITE_DONE);
    sqlite3_finalize(fix);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT seq, at_ms, day, kind, ticket_id, window_no, "
                                        "clerk, detail, device, hash, area, matter, "
                                        "duration_ms, rating, reason, chain FROM events "
                                        "ORDER BY seq",
                                        -1, &rows, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "UPDATE events SET prev_hash = ?2, hash = ?3 "
                                        "WHERE seq = ?1",
                                        -1, &fix, NULL),
                     SQLITE_OK);
    while (sqlite3_step(rows) == SQLITE_ROW) {
        uint64_t at = (uint64_t)sqlite3_column_int64(rows, 0);
        if (at < seq) {
            memcpy(prev, sqlite3_column_blob(rows, 9), 32);
            continue;
        }
        chain_hash(prev, rows, hash);
        sqlite3_bind_int64(fix, 1, (sqlite3_int64)at);
        sqlite3_bind_blob(fix, 2, prev, 32, SQLITE_TRANSIENT);
        sqlite3_bind_blob(fix, 3, hash, 32, SQLITE_TRANSIENT);
        ck_assert_int_eq(sqlite3_step(fix), SQLITE_DONE);
        sqlite3_reset(fix);
        memcpy(prev, hash, 32);
    }
    sqlite3_finalize(rows);
    sqlite3_finalize(fix);
    exec_sql(db, trigger);
    exec_sql(db, "COMMIT");
    free(trigger);
    sqlite3_close(db);
}

/* Delete the events after seq, with the delete trigger dropped and
 * restored. */
static void truncate_events(const char *dir, uint64_t seq)
{
    sqlite3 *db;
    char sql[128];

    ck_assert_int_eq(sqlite3_open(ts_path(dir, "hall.db"), &db), SQLITE_OK);
    char *trigger = trigger_sql(db, "events_no_delete");
    snprintf(sql, sizeof sql,
             "BEGIN; DROP TRIGGER events_no_delete; DELETE FROM events "
             "WHERE seq > %llu",
             (unsigned long long)seq);
    exec_sql(db, sql);
    exec_sql(db, trigger);
    exec_sql(db, "COMMIT");
    free(trigger);
    sqlite3_close(db);
}

/* A copy of the hall in dir/<name>; returns its configuration path. */
static const char *copy_hall(const hallfix *f, const char *name, char *config, size_t len)
{
    char *copy = strdup(ts_path(f->dir, name));

    ck_assert_int_eq(ts_system("mkdir '%s' && cp -a '%s'/halld.ini '%s'/hall.db '%s'/audit.key "
                               "'%s'/" ANCHOR_FILE " '%s'/pki '%s'/",
                               copy, f->dir, f->dir, f->dir, f->dir, f->dir, copy),
                     0);
    snprintf(config, len, "%s/halld.ini", copy);
    free(copy);
    return config;
}

static void append_line(const char *path, const char *line)
{
    FILE *fp = fopen(path, "a");

    ck_assert_ptr_nonnull(fp);
    fputs(line, fp);
    fclose(fp);
}

static uint64_t issue_printed(devlink *kiosk)
{
    Hall__Envelope *r = fix_issue(kiosk, "", HALL__PRIORITY__PRIORITY_NORMAL);

    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    uint64_t id = r->issue_reply->ticket->id;
    proto_free(r);
    r = fix_printed(kiosk, id);
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_TICKET_REPLY);
    proto_free(r);
    return id;
}

/* ---- halld_audit_anchor --------------------------------------------------- */

START_TEST(anchors_find_rewrites_and_truncations)
{
    hallfix f;
    char want[160], config[1200];

    fix_init(&f, 1, "[audit]\nanchor_interval = 1s");

    /* hallctl anchored each change it made: the whole log is anchored. */
    uint64_t head = head_of(f.dir);
    ck_assert_uint_eq(last_anchor(f.dir, "write"), head);
    ck_assert_msg(hallctl(f.config, "audit verify") == 0, "%s", out);
    snprintf(want, sizeof want, "anchored up to event %llu, ", (unsigned long long)head);
    assert_out(want);
    assert_not_out("came after the last anchor");

    /* halld anchors the head at its interval while it moves, hallctl its
     * own changes alongside. */
    fix_start(&f);
    devlink *kiosk = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    for (int i = 0; i < 3; i++)
        issue_printed(kiosk);
    head = head_of(f.dir);
    ck_assert_msg(wait_anchor(f.dir, "interval", head), "halld did not anchor event %llu",
                  (unsigned long long)head);
    ck_assert_int_eq(fix_hallctl(&f, "clerk add --id c-9 --name 新人"), 0);
    ck_assert_uint_eq(last_anchor(f.dir, "write"), head + 1);
    for (int i = 0; i < 3; i++)
        issue_printed(kiosk);
    devlink_close(kiosk);

    /* SIGTERM: a last anchor at the head, whatever the interval did. */
    int status = fix_stop(&f);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    head = head_of(f.dir);
    ck_assert_uint_eq(last_anchor(f.dir, "stop"), head);
    ck_assert(ts_file_contains(f.log, "anchored at the stop", 0));

    /* (d) Untouched: verified, anchored up to the head. */
    ck_assert_msg(hallctl(f.config, "audit verify") == 0, "%s", out);
    assert_out("chain intact");
    snprintf(want, sizeof want, "anchored up to event %llu, ", (unsigned long long)head);
    assert_out(want);
    assert_out("halld stop");
    assert_not_out("came after the last anchor");

    /* An event nobody anchored yet: verified, and said to be uncovered. */
    copy_hall(&f, "later", config, sizeof config);
    char err[512], later_dir[1100];
    snprintf(later_dir, sizeof later_dir, "%s/later", f.dir);
    store *s = store_open(ts_path(later_dir, "hall.db"), HALL_ID, STORE_ADMIN, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(store_append_admin_event(s, clk_utc_ms(), 20260301, "x", "y", "unanchored"),
                     0);
    store_close(s);
    ck_assert_msg(hallctl(config, "audit verify") == 0, "%s", out);
    snprintf(want, sizeof want, "event %llu came after the last anchor",
             (unsigned long long)head + 1);
    assert_out(want);

    /* (a) Event 3 rewritten, every later hash recomputed, the trigger
     * back: the chain is intact, the anchors are not. */
    copy_hall(&f, "rewrite", config, sizeof config);
    snprintf(later_dir, sizeof later_dir, "%s/rewrite", f.dir);
    rewrite_event(later_dir, 3, "window 1 saved by somebody else");
    ck_assert_int_eq(hallctl(config, "audit verify"), 1);
    assert_out("chain intact");
    assert_out("rewritten: event 3 no longer has the hash anchored at ");
    assert_out("changed at or before event 3 and after event 2");

    /* (b) The newest three events deleted. */
    copy_hall(&f, "truncate", config, sizeof config);
    snprintf(later_dir, sizeof later_dir, "%s/truncate", f.dir);
    truncate_events(later_dir, head - 3);
    ck_assert_int_eq(hallctl(config, "audit verify"), 1);
    assert_out("chain intact");
    snprintf(want, sizeof want,
             "truncated: the log ends at event %llu, but event %llu was anchored",
             (unsigned long long)head - 3, (unsigned long long)head);
    assert_out(want);
    snprintf(want, sizeof want, "events %llu..%llu were removed", (unsigned long long)head - 2,
             (unsigned long long)head);
    assert_out(want);

    /* (c) A forged line (the last one with a later seq, its signature
     * kept), a damaged one, and one signed with another key: each named
     * by its line, none trusted (so the forged seq is no truncation). */
    copy_hall(&f, "forged", config, sizeof config);
    snprintf(later_dir, sizeof later_dir, "%s/forged", f.dir);
    char anchors[1200];
    snprintf(anchors, sizeof anchors, "%s/" ANCHOR_FILE, later_dir);
    char *text = ts_slurp(anchors);
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    char *last = strrchr(text, '\n');
    *last = '\0';
    last = strrchr(text, '\n') + 1;
    char *seq_at = strstr(last, " seq=") + 5;
    char forged[ANCHOR_LINE_MAX + 16];
    snprintf(forged, sizeof forged, "%.*s%llu%s\n", (int)(seq_at - last), last,
             (unsigned long long)head + 100, strchr(seq_at, ' '));
    append_line(anchors, forged);
    append_line(anchors, "onewindow-anchor-v1 hall=test-hall seq=1\n");
    anchor_key *other = anchor_key_create(ts_path(f.dir, "other.key"), err, sizeof err);
    ck_assert_msg(other != NULL, "%s", err);
    anchor a = {.hall_id = HALL_ID, .seq = head, .at_ms = clk_utc_ms(), .reason = ANCHOR_WRITE};
    ck_assert_int_eq(anchor_write(anchors, other, &a, err, sizeof err), 0);
    anchor_key_free(other);
    /* The hall's own key, another hall's id. */
    anchor_key *own = anchor_key_load(ts_path(later_dir, "audit.key"), err, sizeof err);
    ck_assert_msg(own != NULL, "%s", err);
    snprintf(a.hall_id, sizeof a.hall_id, "other-hall");
    ck_assert_int_eq(anchor_write(anchors, own, &a, err, sizeof err), 0);
    anchor_key_free(own);
    free(text);
    ck_assert_int_eq(hallctl(config, "audit verify"), 1);
    snprintf(want, sizeof want, "line %zu: bad signature", lines + 1);
    assert_out(want);
    snprintf(want, sizeof want, "line %zu: damaged", lines + 2);
    assert_out(want);
    snprintf(want, sizeof want, "line %zu: signed by another key", lines + 3);
    assert_out(want);
    snprintf(want, sizeof want, "line %zu: an anchor of hall 'other-hall'", lines + 4);
    assert_out(want);
    assert_not_out("truncated");
    snprintf(want, sizeof want, "anchored up to event %llu, ", (unsigned long long)head);
    assert_out(want);

    /* The anchors file removed: a hall with a key always has one. */
    copy_hall(&f, "unanchored", config, sizeof config);
    snprintf(later_dir, sizeof later_dir, "%s/unanchored", f.dir);
    ck_assert_int_eq(unlink(ts_path(later_dir, ANCHOR_FILE)), 0);
    ck_assert_int_eq(hallctl(config, "audit verify"), 1);
    assert_out(ANCHOR_FILE " is missing");

    /* The hall itself is as it was. */
    ck_assert_msg(hallctl(f.config, "audit verify") == 0, "%s", out);
    fix_free(&f);
}
END_TEST

/* ---- hall_file_modes ------------------------------------------------------ */

START_TEST(hall_files_are_private)
{
    hallfix f;

    fix_init(&f, 1, NULL);
    /* Made so: no hallctl run after init had anything to tighten. */
    ck_assert(!ts_file_contains(ts_path(f.dir, "hallctl.log"), "was mode", 0));
    ck_assert_int_eq(file_mode(ts_path(f.dir, "hall.db")), 0600);
    ck_assert_int_eq(file_mode(ts_path(f.dir, "secret.key")), 0600);
    ck_assert_int_eq(file_mode(ts_path(f.dir, "audit.key")), 0600);
    ck_assert_int_eq(file_mode(ts_path(f.dir, ANCHOR_FILE)), 0600);
    ck_assert_int_eq(file_mode(ts_path(f.dir, "private")), 0700);
    ck_assert_int_eq(file_mode(ts_path(f.dir, "private/ca.key")), 0600);
    ck_assert_int_eq(file_mode(ts_path(f.dir, "pki/halld.key")), 0600);
    ck_assert_int_eq(file_mode(ts_path(f.dir, "pki/hallctl.key")), 0600);
    /* halld reads pki/: no CA key there, and halld's configuration points
     * nowhere into private/. */
    ck_assert_int_eq(access(ts_path(f.dir, "pki/ca.key"), F_OK), -1);
    char *conf = ts_slurp(f.config);
    for (char *line = strtok(conf, "\n"); line != NULL; line = strtok(NULL, "\n"))
        ck_assert_msg(line[0] == ';' || strstr(line, "private") == NULL, "%s", line);
    free(conf);

    /* A running halld's -wal and -shm are as private as the database. */
    fix_start(&f);
    devlink *kiosk = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    issue_printed(kiosk);
    devlink_close(kiosk);
    ck_assert_int_eq(file_mode(ts_path(f.dir, "hall.db-wal")), 0600);
    ck_assert_int_eq(file_mode(ts_path(f.dir, "hall.db-shm")), 0600);
    ck_assert(!ts_file_contains(f.log, "CA key", 0));
    ck_assert(!ts_file_contains(f.log, "store:", 0));
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* ---- hall_legacy_layout ---------------------------------------------------- */

START_TEST(older_hall_keeps_working)
{
    hallfix f;
    char want[160];

    fix_init(&f, 1, NULL);
    /* As an older release left it: the CA key in pki/, no audit key and no
     * anchors, a database (and -wal) readable by everyone. */
    ck_assert_int_eq(ts_system("cd '%s' && mv private/ca.key pki/ca.key && rmdir private && "
                               "rm audit.key " ANCHOR_FILE " && chmod 644 hall.db",
                               f.dir),
                     0);
    ts_write_file(ts_path(f.dir, "hall.db-wal"), "");
    ck_assert_int_eq(chmod(ts_path(f.dir, "hall.db-wal"), 0644), 0);

    /* The first hallctl that opens it makes the files private and says so;
     * not anchored, and told so, but verified. */
    ck_assert_msg(hallctl(f.config, "clerk add --id c-8 --name 老员工") == 0, "%s", out);
    assert_out("hall.db was mode 0644, now 0600");
    assert_out("hall.db-wal was mode 0644, now 0600");
    assert_out("no audit key");
    assert_out("this change is not anchored");
    ck_assert_int_eq(file_mode(ts_path(f.dir, "hall.db")), 0600);
    ck_assert_msg(hallctl(f.config, "audit verify") == 0, "%s", out);
    assert_out("not anchored: no audit key");

    /* hallctl finds the CA key in pki/ and says how to move it; halld warns. */
    ck_assert_msg(hallctl(f.config, "device add --id kiosk-02 --type kiosk") == 0, "%s", out);
    assert_out("registered");
    assert_out("mkdir -m 700");
    fix_start(&f);
    ck_assert(ts_file_contains(f.log, "is in the directory of [tls] ca", 0));
    ck_assert(ts_file_contains(f.log, "the event log is not anchored", 0));
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    /* Moved as told, it is found in private/, without a warning. */
    ck_assert_int_eq(ts_system("cd '%s' && mkdir -m 700 private && mv pki/ca.key private/", f.dir),
                     0);
    ck_assert_msg(hallctl(f.config, "device add --id kiosk-03 --type kiosk") == 0, "%s", out);
    assert_not_out("CA key");

    /* hallctl audit key starts the anchors; a second one is refused. */
    ck_assert_msg(hallctl(f.config, "audit key") == 0, "%s", out);
    assert_out("audit key ");
    ck_assert_int_eq(file_mode(ts_path(f.dir, "audit.key")), 0600);
    ck_assert_int_eq(hallctl(f.config, "audit key"), 1);
    assert_out("never replaced");
    uint64_t head = head_of(f.dir);
    ck_assert_msg(hallctl(f.config, "audit verify") == 0, "%s", out);
    snprintf(want, sizeof want, "anchored up to event %llu, ", (unsigned long long)head);
    assert_out(want);
    assert_out("hallctl key");
    /* An audit key others may read is refused. */
    ck_assert_int_eq(chmod(ts_path(f.dir, "audit.key"), 0640), 0);
    ck_assert_int_eq(hallctl(f.config, "audit verify"), 1);
    assert_out("chmod 600");
    fix_free(&f);
}
END_TEST

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    Suite *s = suite_create(which);
    TCase *tc = tcase_create("audit and files");

    signal(SIGPIPE, SIG_IGN);
    tcase_set_timeout(tc, 300);
    if (strcmp(which, "anchor") == 0) {
        tcase_add_test(tc, anchors_find_rewrites_and_truncations);
    } else if (strcmp(which, "modes") == 0) {
        tcase_add_test(tc, hall_files_are_private);
    } else if (strcmp(which, "legacy") == 0) {
        tcase_add_test(tc, older_hall_keeps_working);
    } else {
        fprintf(stderr, "usage: %s anchor|modes|legacy\n", argv[0]);
        return 2;
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
