/*
 * test_idcard_privacy — the masks, the wiping, and the promise that
 * matters most: a run of the reader that reads and refuses cards, with
 * every line a kiosk would log at debug level, leaves no clear ID number
 * or name (UTF-8 or UCS-2) in its log or in any file it wrote. (The
 * driver hashes nothing: halld does, controller/citizen.c.)
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ev.h"
#include "idcard_privacy.h"
#include "log.h"
#include "reader.h"
#include "reader_sim.h"
#include "samdev.h"
#include "testsupport.h"

#define WAIT_MS 20000

START_TEST(masks)
{
    char out[64];

    ck_assert_int_eq(idcard_privacy_mask_name("张三", out, sizeof out), 0);
    ck_assert_str_eq(out, "张*");
    ck_assert_int_eq(idcard_privacy_mask_name("张三丰", out, sizeof out), 0);
    ck_assert_str_eq(out, "张*");
    ck_assert_int_eq(idcard_privacy_mask_name("欧阳娜娜", out, sizeof out), 0);
    ck_assert_str_eq(out, "欧阳*");
    ck_assert_int_eq(idcard_privacy_mask_name("欧阳锋", out, sizeof out), 0);
    ck_assert_str_eq(out, "欧阳*");
    ck_assert_int_eq(idcard_privacy_mask_name("欧阳", out, sizeof out), 0);
    ck_assert_str_eq(out, "欧*"); /* surname 欧, given name 阳 */
    ck_assert_int_eq(idcard_privacy_mask_name("张", out, sizeof out), 0);
    ck_assert_str_eq(out, "*");
    ck_assert_int_eq(idcard_privacy_mask_name("DOE JOHN", out, sizeof out), 0);
    ck_assert_str_eq(out, "D*");
    ck_assert_int_eq(idcard_privacy_mask_name("\xE5\xBC", out, sizeof out), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(idcard_privacy_mask_name("张三", out, 4), -1);
    ck_assert_int_eq(errno, ENOBUFS);
}
END_TEST

START_TEST(apply_and_wipe)
{
    idcard_identity id;
    static const idcard_identity zero;

    ck_assert_int_eq(samdev_card_identity(SAMDEV_VALID, &id), 0);
    ck_assert_int_eq(idcard_privacy_apply(&id), 0);
    ck_assert_str_eq(id.masked_number, "1101**********1233");
    ck_assert_str_eq(id.masked_name, "张*");
    idcard_privacy_wipe(&id, sizeof id);
    ck_assert(memcmp(&id, &zero, sizeof id) == 0);
    idcard_privacy_wipe(NULL, 10);
}
END_TEST

/* ---- a logged run ---- */

struct run {
    ev_loop *loop;
    reader *r;
    bool online, got_identity, got_error;
    int identities, errors;
    char files_dir[512];
};

/* What a kiosk logs of a card: the masks, and it writes a ticket record
 * with them. */
static void on_identity(reader *r, const idcard_identity *id, void *arg)
{
    struct run *c = arg;
    char path[600];
    FILE *f;

    (void)r;
    /* The identity is complete: the test is not vacuous. */
    ck_assert_uint_gt(strlen(id->id_number), 0);
    ck_assert_uint_gt(strlen(id->name), 0);
    log_info("card read: %s %s type=%s expired=%d photo=%zu bytes", id->masked_name,
             id->masked_number, idcard_type_name(id->type), id->expired, id->photo_len);
    snprintf(path, sizeof path, "%s/ticket-%d.txt", c->files_dir, c->identities);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "name=%s number=%s\n", id->masked_name, id->masked_number);
    fclose(f);
    c->identities++;
    c->got_identity = true;
}

static void on_error(reader *r, idcard_result code, const char *detail, void *arg)
{
    struct run *c = arg;

    (void)r;
    log_warn("card reader: %s: %s", idcard_strerror(code), detail);
    c->errors++;
    c->got_error = true;
}

static void on_state(reader *r, bool online, const char *detail, void *arg)
{
    struct run *c = arg;

    (void)r;
    log_info("card reader %s: %s", online ? "online" : "offline", detail);
    c->online = online;
}

/* Does file path contain needle (len bytes) anywhere? */
static bool file_has(const char *path, const void *needle, size_t len)
{
    FILE *f = fopen(path, "rb");
    static char data[1 << 20];
    size_t n;
    bool found;

    ck_assert_ptr_nonnull(f);
    n = fread(data, 1, sizeof data, f);
    fclose(f);
    found = memmem(data, n, needle, len) != NULL;
    return found;
}

/* s as UCS-2LE (ASCII and BMP UTF-8 only), as the card holds it. */
static size_t to_ucs2(const char *s, uint8_t *out)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;

    while (*p != '\0') {
        unsigned c;

        if (*p < 0x80) {
            c = *p++;
        } else if ((*p & 0xE0) == 0xC0) {
            c = (unsigned)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
            p += 2;
        } else {
            c = (unsigned)(p[0] & 0x0F) << 12 | (unsigned)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
            p += 3;
        }
        out[n++] = (uint8_t)c;
        out[n++] = (uint8_t)(c >> 8);
    }
    return n;
}

static void assert_no_clear_fields(const char *path)
{
    for (int k = SAMDEV_VALID; k < SAMDEV_CARD_COUNT; k++) {
        idcard_identity id;
        const char *fields[4];
        uint8_t u[256];

        ck_assert_int_eq(samdev_card_identity((samdev_card)k, &id), 0);
        fields[0] = id.id_number;
        fields[1] = id.name;
        fields[2] = id.name_en;
        fields[3] = id.address;
        for (int i = 0; i < 4; i++) {
            if (fields[i][0] == '\0')
                continue;
            ck_assert_msg(!file_has(path, fields[i], strlen(fields[i])),
                          "%s holds a clear field of card %s", path, samdev_card_name(k));
            ck_assert_msg(!file_has(path, u, to_ucs2(fields[i], u)),
                          "%s holds a clear UCS-2 field of card %s", path, samdev_card_name(k));
        }
        /* The 17 digits before the check digit: a number with a wrong
         * check digit is still a clear number. */
        ck_assert(!file_has(path, id.id_number, 14));
    }
}

START_TEST(logs_and_files_hold_no_clear_field)
{
    static const samdev_card cards[] = {SAMDEV_VALID,          SAMDEV_HKMT,      SAMDEV_PERMANENT,
                                        SAMDEV_PERMANENT_2017, SAMDEV_BAD_CHECK, SAMDEV_BAD_DATE,
                                        SAMDEV_EXPIRED};
    char *dir = ts_tmpdir("idcard-privacy");
    char logpath[512], err[256];
    struct run c = {0};
    reader_conf conf;
    reader_sim *s;
    int saved, fd, entries = 0;
    DIR *d;
    struct dirent *e;

    snprintf(c.files_dir, sizeof c.files_dir, "%s", dir);
    snprintf(logpath, sizeof logpath, "%s", ts_path(dir, "run.log"));
    /* stderr, where the log goes, into the file. */
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    close(fd);
    log_open("test_idcard_privacy", LOG_LEVEL_DEBUG, LOG_TO_STDERR);

    reader_conf_init(&conf);
    conf.poll_ms = 20;
    conf.today = 20260115;
    c.loop = ev_new();
    c.r = reader_new(c.loop, &conf, &(reader_callbacks){on_identity, on_error, on_state}, &c, err,
                     sizeof err);
    ck_assert_ptr_nonnull(c.r);
    s = reader_sim_of(c.r);
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++) {
        bool never = false;
        int waited = 0;

        c.got_identity = c.got_error = false;
        reader_sim_set_card(s, cards[i]);
        for (; !c.got_identity && !c.got_error && waited < WAIT_MS; waited += 50)
            ts_run_until(c.loop, &never, 50);
        ck_assert_msg(c.got_identity || c.got_error, "no result for card %s",
                      samdev_card_name(cards[i]));
        reader_sim_set_card(s, SAMDEV_NONE);
        ts_run_until(c.loop, &never, 200);
    }
    /* A fault in the middle of a read answer, too. */
    reader_sim_set_fault(s, SAMDEV_FAULT_TRUNCATED, false);
    c.got_identity = false;
    reader_sim_set_card(s, SAMDEV_VALID);
    ck_assert(ts_run_until(c.loop, &c.got_identity, WAIT_MS));
    reader_free(c.r);
    ev_free(c.loop);
    log_close();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);

    ck_assert_int_eq(c.identities, 5);
    ck_assert_int_ge(c.errors, 4);
    /* The log is there and has the masks: the scan below is not vacuous. */
    ck_assert(file_has(logpath, "张*", strlen("张*")));
    ck_assert(file_has(logpath, "1101**********1233", 18));
    d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        assert_no_clear_fields(ts_path(dir, e->d_name));
        entries++;
    }
    closedir(d);
    ck_assert_int_eq(entries, 1 + 5);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *privacy_suite(void)
{
    Suite *s = suite_create("idcard_privacy");
    TCase *tc = tcase_create("privacy");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, masks);
    tcase_add_test(tc, apply_and_wipe);
    tcase_add_test(tc, logs_and_files_hold_no_clear_field);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(privacy_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
