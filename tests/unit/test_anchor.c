/*
 * test_anchor — the audit anchors (controller/anchor.c) on files in a
 * scratch directory.
 *
 * The key: made mode 0600, never replaced, refused when others may read
 * it, when it is a symbolic link or not an Ed25519 key. The line: a round
 * trip; every cut and every changed byte of a good line is never trusted;
 * another key's line is told apart from a forged one; fields out of range
 * are refused when formatting. The file: created 0600, appended by
 * several processes at once without a torn line, read back line by line
 * with damaged, over-long, NUL-holding and unterminated lines named; a
 * symbolic link refused for reading and writing.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "anchor.h"
#include "pki.h"
#include "testsupport.h"

static char *dir;
static char err[512];

static void setup(void)
{
    dir = ts_tmpdir("anchor");
}

static void teardown(void)
{
    ts_rmtree(dir);
    free(dir);
}

static anchor_key *new_key(const char *name)
{
    anchor_key *k = anchor_key_create(ts_path(dir, name), err, sizeof err);

    ck_assert_msg(k != NULL, "%s", err);
    return k;
}

static anchor sample(void)
{
    anchor a = {
        .hall_id = "hall-7_b", .seq = 123456, .at_ms = 1767225600123, .reason = ANCHOR_INTERVAL};

    for (int i = 0; i < ANCHOR_HASH_LEN; i++)
        a.hash[i] = (uint8_t)(i * 37 + 5);
    return a;
}

START_TEST(test_key)
{
    char path[PATH_MAX];
    struct stat st;
    anchor_key *k = new_key("audit.key");
    char id[32];

    snprintf(path, sizeof path, "%s", ts_path(dir, "audit.key"));
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    ck_assert_uint_eq(strlen(anchor_key_id(k)), 16);
    snprintf(id, sizeof id, "%s", anchor_key_id(k));
    anchor_key_free(k);

    /* Never replaced. */
    ck_assert_ptr_null(anchor_key_create(path, err, sizeof err));
    ck_assert_int_eq(errno, EEXIST);
    /* Read back: the same key. */
    ck_assert_ptr_nonnull(k = anchor_key_load(path, err, sizeof err));
    ck_assert_str_eq(anchor_key_id(k), id);
    anchor_key_free(k);
    /* Others may read it: refused. */
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_ptr_null(anchor_key_load(path, err, sizeof err));
    ck_assert_int_eq(errno, EPERM);
    ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
    ck_assert_int_eq(chmod(path, 0600), 0);
    /* A symbolic link, a missing file, another kind of key. */
    ck_assert_int_eq(symlink(path, ts_path(dir, "link.key")), 0);
    ck_assert_ptr_null(anchor_key_load(ts_path(dir, "link.key"), err, sizeof err));
    ck_assert_int_eq(errno, ELOOP);
    ck_assert_ptr_null(anchor_key_load(ts_path(dir, "none.key"), err, sizeof err));
    ck_assert_int_eq(errno, ENOENT);
    char pki_err[PKI_ERR_LEN], crt[PATH_MAX], key[PATH_MAX];
    snprintf(crt, sizeof crt, "%s", ts_path(dir, "ca.crt"));
    snprintf(key, sizeof key, "%s", ts_path(dir, "ca.key"));
    ck_assert_int_eq(pki_make_ca("x", 1, crt, key, pki_err), 0);
    ck_assert_ptr_null(anchor_key_load(key, err, sizeof err));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(anchor_key_load(crt, err, sizeof err)); /* 0644 */
    anchor_key_free(NULL);
}
END_TEST

START_TEST(test_round_trip)
{
    anchor_key *k = new_key("a.key");
    anchor a = sample(), back;
    char line[ANCHOR_LINE_MAX];

    for (anchor_reason r = ANCHOR_INTERVAL; r <= ANCHOR_NEW_KEY; r++) {
        a.reason = r;
        int n = anchor_format(k, &a, line, sizeof line);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(line[n - 1], '\n');
        ck_assert_uint_eq(strlen(line), (size_t)n);
        ck_assert_int_eq(anchor_parse(k, line, (size_t)n - 1, &back), ANCHOR_OK);
        ck_assert_str_eq(back.hall_id, a.hall_id);
        ck_assert_uint_eq(back.seq, a.seq);
        ck_assert_int_eq(back.at_ms, a.at_ms);
        ck_assert_int_eq(back.reason, r);
        ck_assert_mem_eq(back.hash, a.hash, ANCHOR_HASH_LEN);
        ck_assert_mem_eq(back.key_id, a.key_id, ANCHOR_KEY_ID_LEN);
    }
    ck_assert_ptr_nonnull(strstr(line, " by=hallctl why=key "));
    ck_assert_str_eq(anchor_reason_name(ANCHOR_STOP), "halld stop");
    /* The widest fields fit. */
    memset(a.hall_id, 'h', ANCHOR_HALL_MAX);
    a.hall_id[ANCHOR_HALL_MAX] = '\0';
    a.seq = INT64_MAX;
    a.at_ms = INT64_MAX;
    int n = anchor_format(k, &a, line, sizeof line);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(anchor_parse(k, line, (size_t)n - 1, &back), ANCHOR_OK);
    ck_assert_uint_eq(back.seq, (uint64_t)INT64_MAX);
    anchor_key_free(k);
}
END_TEST

START_TEST(test_format_refused)
{
    anchor_key *k = new_key("a.key");
    char line[ANCHOR_LINE_MAX];
    anchor a;

    a = sample(), a.seq = 0;
    ck_assert_int_eq(anchor_format(k, &a, line, sizeof line), -1);
    ck_assert_int_eq(errno, EINVAL);
    a = sample(), a.seq = (uint64_t)INT64_MAX + 1;
    ck_assert_int_eq(anchor_format(k, &a, line, sizeof line), -1);
    a = sample(), a.at_ms = -1;
    ck_assert_int_eq(anchor_format(k, &a, line, sizeof line), -1);
    a = sample(), a.reason = 0;
    ck_assert_int_eq(anchor_format(k, &a, line, sizeof line), -1);
    a = sample(), snprintf(a.hall_id, sizeof a.hall_id, "two words");
    ck_assert_int_eq(anchor_format(k, &a, line, sizeof line), -1);
    a = sample(), a.hall_id[0] = '\0';
    ck_assert_int_eq(anchor_format(k, &a, line, sizeof line), -1);
    a = sample();
    ck_assert_int_eq(anchor_format(k, &a, line, 200), -1);
    ck_assert_int_eq(errno, ENOSPC);
    anchor_key_free(k);
}
END_TEST

/* No cut of a good line, and no change to any one byte of it, is trusted. */
START_TEST(test_tampered_lines)
{
    anchor_key *k = new_key("a.key");
    anchor a = sample(), back;
    char line[ANCHOR_LINE_MAX], copy[ANCHOR_LINE_MAX];
    static const uint8_t flips[] = {0x01, 0x02, 0x10, 0x20, 0x40, 0x80, 0xff};
    int n = anchor_format(k, &a, line, sizeof line) - 1; /* without the newline */

    for (int cut = 0; cut < n; cut++)
        ck_assert_msg(anchor_parse(k, line, (size_t)cut, &back) != ANCHOR_OK, "cut at %d", cut);
    for (int i = 0; i < n; i++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(copy, line, (size_t)n);
            copy[i] = (char)(copy[i] ^ flips[f]);
            anchor_verdict v = anchor_parse(k, copy, (size_t)n, &back);
            ck_assert_msg(v != ANCHOR_OK, "byte %d ^ %02x trusted", i, flips[f]);
        }
    }
    /* A byte added anywhere. */
    for (int i = 0; i <= n; i++) {
        memcpy(copy, line, (size_t)i);
        copy[i] = ' ';
        memcpy(copy + i + 1, line + i, (size_t)(n - i));
        ck_assert(anchor_parse(k, copy, (size_t)n + 1, &back) != ANCHOR_OK);
    }
    /* A changed field with the signature kept is forged, not damaged. */
    memcpy(copy, line, (size_t)n);
    char *seq = strstr(copy, " seq=") + 5;
    *seq = *seq == '9' ? '8' : (char)(*seq + 1);
    ck_assert_int_eq(anchor_parse(k, copy, (size_t)n, &back), ANCHOR_BAD_SIGNATURE);
    /* Leading zeros, upper-case hex: another spelling, damaged. */
    char zero[ANCHOR_LINE_MAX];
    seq = strstr(line, " seq=") + 5;
    snprintf(zero, sizeof zero, "%.*s0%s", (int)(seq - line), line, seq);
    ck_assert_int_eq(anchor_parse(k, zero, strlen(zero) - 1, &back), ANCHOR_DAMAGED);
    memcpy(copy, line, (size_t)n);
    char *hash = strstr(copy, " hash=") + 6;
    while (*hash >= '0' && *hash <= '9')
        hash++;
    *hash = (char)(*hash - 'a' + 'A');
    ck_assert_int_eq(anchor_parse(k, copy, (size_t)n, &back), ANCHOR_DAMAGED);
    anchor_key_free(k);
}
END_TEST

START_TEST(test_other_key)
{
    anchor_key *mine = new_key("mine.key"), *theirs = new_key("theirs.key");
    anchor a = sample(), back;
    char line[ANCHOR_LINE_MAX];
    int n = anchor_format(theirs, &a, line, sizeof line) - 1;

    ck_assert_int_eq(anchor_parse(mine, line, (size_t)n, &back), ANCHOR_OTHER_KEY);
    ck_assert_uint_eq(back.seq, a.seq);
    /* Their signature under my key id: forged. */
    char *id = strstr(line, " key=") + 5;
    memcpy(id, anchor_key_id(mine), 2 * ANCHOR_KEY_ID_LEN);
    ck_assert_int_eq(anchor_parse(mine, line, (size_t)n, &back), ANCHOR_BAD_SIGNATURE);
    anchor_key_free(mine);
    anchor_key_free(theirs);
}
END_TEST

struct seen {
    size_t lines, ok, damaged;
    anchor_verdict verdict[16];
};

static int note_line(void *arg, size_t line_no, anchor_verdict v, const anchor *a)
{
    struct seen *s = arg;

    ck_assert_uint_eq(line_no, s->lines + 1);
    ck_assert(v == ANCHOR_DAMAGED ? a == NULL : a != NULL);
    if (s->lines < 16)
        s->verdict[s->lines] = v;
    s->lines++;
    s->ok += v == ANCHOR_OK;
    s->damaged += v == ANCHOR_DAMAGED;
    return 0;
}

START_TEST(test_file)
{
    anchor_key *k = new_key("a.key");
    char path[PATH_MAX], line[ANCHOR_LINE_MAX];
    anchor a = sample();
    struct stat st;
    struct seen s = {0};

    snprintf(path, sizeof path, "%s", ts_path(dir, ANCHOR_FILE));
    ck_assert_int_eq(anchor_read(path, k, note_line, &s, err, sizeof err), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(anchor_write(path, k, &a, err, sizeof err), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);

    /* Lines of every kind after it: damaged, too long, empty, with a NUL,
     * good, and a good one without its newline at the end. */
    FILE *f = fopen(path, "a");
    fputs("not an anchor\n", f);
    for (int i = 0; i < ANCHOR_LINE_MAX * 3; i++)
        fputc('x', f);
    fputs("\n\n", f);
    int n = anchor_format(k, &a, line, sizeof line);
    fwrite(line, 1, 10, f);
    fputc('\0', f);
    fwrite(line + 11, 1, (size_t)n - 11, f);
    fwrite(line, 1, (size_t)n, f);
    fwrite(line, 1, (size_t)n - 1, f);
    fclose(f);
    ck_assert_int_eq(anchor_read(path, k, note_line, &s, err, sizeof err), 0);
    ck_assert_uint_eq(s.lines, 7);
    static const anchor_verdict want[] = {ANCHOR_OK,      ANCHOR_DAMAGED, ANCHOR_DAMAGED,
                                          ANCHOR_DAMAGED, ANCHOR_DAMAGED, ANCHOR_OK,
                                          ANCHOR_OK};
    for (size_t i = 0; i < 7; i++)
        ck_assert_msg(s.verdict[i] == want[i], "line %zu: %s", i + 1,
                      anchor_verdict_name(s.verdict[i]));

    /* Symbolic links are refused both ways. */
    ck_assert_int_eq(symlink(path, ts_path(dir, "link")), 0);
    ck_assert_int_eq(anchor_write(ts_path(dir, "link"), k, &a, err, sizeof err), -1);
    ck_assert_int_eq(errno, ELOOP);
    ck_assert_int_eq(anchor_read(ts_path(dir, "link"), k, note_line, &s, err, sizeof err), -1);
    ck_assert_int_eq(errno, ELOOP);
    /* A directory is not an anchors file. */
    ck_assert_int_eq(anchor_write(dir, k, &a, err, sizeof err), -1);
    anchor_key_free(k);
}
END_TEST

/* Several processes append at once: every line lands whole. */
START_TEST(test_concurrent_appends)
{
    enum { WRITERS = 6, EACH = 200 };
    anchor_key *k = new_key("a.key");
    char path[PATH_MAX];
    pid_t pids[WRITERS];

    snprintf(path, sizeof path, "%s", ts_path(dir, ANCHOR_FILE));
    for (int w = 0; w < WRITERS; w++) {
        if ((pids[w] = fork()) == 0) {
            anchor a = sample();
            for (int i = 0; i < EACH; i++) {
                a.seq = (uint64_t)(w * EACH + i + 1);
                if (anchor_write(path, k, &a, err, sizeof err) < 0)
                    _exit(1);
            }
            _exit(0);
        }
        ck_assert_int_gt(pids[w], 0);
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        ck_assert_int_eq(waitpid(pids[w], &status, 0), pids[w]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    struct seen s = {0};
    ck_assert_int_eq(anchor_read(path, k, note_line, &s, err, sizeof err), 0);
    ck_assert_uint_eq(s.lines, WRITERS * EACH);
    ck_assert_uint_eq(s.ok, WRITERS * EACH);
    anchor_key_free(k);
}
END_TEST

START_TEST(test_path)
{
    char out[64];

    ck_assert_int_eq(anchor_path("/var/lib/onewindow/hall.db", out, sizeof out), 0);
    ck_assert_str_eq(out, "/var/lib/onewindow/" ANCHOR_FILE);
    ck_assert_int_eq(anchor_path("hall.db", out, sizeof out), 0);
    ck_assert_str_eq(out, ANCHOR_FILE);
    ck_assert_int_eq(anchor_path("/hall.db", out, sizeof out), 0);
    ck_assert_str_eq(out, "/" ANCHOR_FILE);
    ck_assert_int_eq(anchor_path("/a/very/long/directory/name/indeed/hall.db", out, 20), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("anchor");
    TCase *tc = tcase_create("anchor");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_key);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_format_refused);
    tcase_add_test(tc, test_tampered_lines);
    tcase_add_test(tc, test_other_key);
    tcase_add_test(tc, test_file);
    tcase_add_test(tc, test_concurrent_appends);
    tcase_add_test(tc, test_path);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
