/*
 * fuzz_conf — libFuzzer target for the INI loader (common/conf.c) over the
 * tables of both daemons: halld's (controller/halld_conf.c, loaded with
 * halld_conf_load() and its checks across keys) and kioskd's
 * (firmware/kiosk/kiosk_conf.c, loaded as a real kiosk and with --sim).
 *
 * The input is the configuration file. The loaders take a path, so it is
 * written to a file in a scratch directory: relative PATH values resolve
 * against that directory, and never against /proc/self/fd, where "1"
 * would name this process's stdout (a pipe under ctest). Neither loader
 * reads the files the keys name (halld's keys are read by hall_new(), the
 * kiosk's sealing key by kiosk_new()).
 *
 * The file is loaded five times: with conf_load() itself over each table,
 * with halld_conf_load(), and with kiosk_conf_load() as a kiosk and with
 * --sim. Each load goes into a configuration it loaded before (a good
 * file at the start, then whatever loaded last), as a daemon's reload
 * does. Promises checked:
 *   - a load succeeds, and then every table value is in its documented
 *     range (integer and duration bounds, an enum's choices, a boolean 0
 *     or 1, strings set, PATH values absolute or empty) and the checks
 *     across keys hold; or
 *   - it fails with a non-empty one-line reason, and the configuration it
 *     was loading into is left byte for byte, its strings included;
 *   - nothing leaks: the configurations are released at exit and
 *     LeakSanitizer reports any string the release missed.
 * Any broken promise aborts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzzsupport.h"
#include "halld_conf.h"
#include "kiosk_conf.h"

#define ERR_MAX 1024

static const char good_halld[] = "[hall]\nid = fuzz-hall\n";
static const char good_kiosk[] = "[kiosk]\nid = kiosk-1\n[halld]\naddress = 127.0.0.1:7700\n";

static char *ini_path;
static struct halld_conf halld_raw, halld;
static kiosk_conf kiosk_raw, kiosk, kiosk_sim;

/* A configuration as it was: its bytes, and every string of the table
 * one after the other (each with its NUL). */
struct snapshot {
    unsigned char bytes[sizeof(kiosk_conf) > sizeof(struct halld_conf) ? sizeof(kiosk_conf)
                                                                       : sizeof(struct halld_conf)];
    size_t size;
    char *strings;
    size_t strings_len;
};

static const char *const *field_str(const conf_option *o, const void *c)
{
    return (const char *const *)(const void *)((const unsigned char *)c + o->offset);
}

static void take_snapshot(struct snapshot *s, const conf_option *table, const void *c, size_t size)
{
    FZ_CHECK(size <= sizeof s->bytes);
    memcpy(s->bytes, c, size);
    s->size = size;
    s->strings = NULL;
    s->strings_len = 0;
    for (const conf_option *o = table; o->section != NULL; o++) {
        if (o->type != CONF_T_STRING && o->type != CONF_T_PATH)
            continue;
        const char *v = *field_str(o, c);
        size_t n = strlen(v) + 1;
        char *grown = realloc(s->strings, s->strings_len + n);

        FZ_CHECK(grown != NULL);
        memcpy(grown + s->strings_len, v, n);
        s->strings = grown;
        s->strings_len += n;
    }
}

static bool snapshot_same(const struct snapshot *s, const conf_option *table, const void *c)
{
    size_t at = 0;

    if (memcmp(s->bytes, c, s->size) != 0)
        return false;
    for (const conf_option *o = table; o->section != NULL; o++) {
        if (o->type != CONF_T_STRING && o->type != CONF_T_PATH)
            continue;
        const char *v = *field_str(o, c);
        size_t n = strlen(v) + 1;

        if (at + n > s->strings_len || memcmp(s->strings + at, v, n) != 0)
            return false;
        at += n;
    }
    return at == s->strings_len;
}

/* Every value of a loaded configuration within what its table allows. */
static void check_table_values(const conf_option *table, const void *c)
{
    for (const conf_option *o = table; o->section != NULL; o++) {
        const void *field = (const unsigned char *)c + o->offset;
        int64_t v;
        int choice, nchoices = 0;

        switch (o->type) {
        case CONF_T_INT:
        case CONF_T_DURATION:
            memcpy(&v, field, sizeof v);
            FZ_CHECK(v >= o->min && v <= o->max);
            break;
        case CONF_T_BOOL:
            FZ_CHECK(*(const unsigned char *)field <= 1);
            break;
        case CONF_T_ENUM:
            memcpy(&choice, field, sizeof choice);
            while (o->choices[nchoices] != NULL)
                nchoices++;
            FZ_CHECK(choice >= 0 && choice < nchoices);
            break;
        case CONF_T_STRING:
            FZ_CHECK(*field_str(o, c) != NULL);
            break;
        case CONF_T_PATH:
            FZ_CHECK(*field_str(o, c) != NULL);
            FZ_CHECK((*field_str(o, c))[0] == '\0' || (*field_str(o, c))[0] == '/');
            break;
        }
    }
}

static bool word_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    return n > 0 && n <= max && conf_word_ok(s, n, false);
}

static void check_reason(const char *err)
{
    FZ_CHECK(err[0] != '\0');
    FZ_CHECK(strchr(err, '\n') == NULL);
}

static void check_halld(void)
{
    FZ_CHECK(word_ok(halld.hall_id, 64));
    FZ_CHECK(halld.idle_timeout_ms > halld.heartbeat_interval_ms);
    FZ_CHECK(halld.lease_block <= halld.lease_band);
}

static void check_kiosk(const kiosk_conf *c, bool sim)
{
    FZ_CHECK(word_ok(c->id, 64));
    FZ_CHECK(c->halld_host[0] != '\0' && c->halld_port >= 1 && c->halld_port <= 65535);
    FZ_CHECK(c->paper_mm == 58 || c->paper_mm == 80);
    FZ_CHECK(c->low_water < c->lease_size);
    if (c->bus_enabled && c->bus_transport == KIOSK_BUS_TCP)
        FZ_CHECK(c->bus_host[0] != '\0' && c->bus_port >= 1 && c->bus_port <= 65535);
    if (c->bus_enabled && c->bus_transport == KIOSK_BUS_RTU)
        FZ_CHECK(c->bus_device[0] != '\0');
    if (sim) {
        FZ_CHECK(c->printer_backend == PRINTER_BACKEND_SIM);
        FZ_CHECK(c->reader_backend == READER_BACKEND_SIM);
    } else {
        FZ_CHECK(c->printer_backend != PRINTER_BACKEND_NET || c->printer_address[0] != '\0');
        FZ_CHECK(c->printer_backend != PRINTER_BACKEND_CUPS || c->printer_queue[0] != '\0');
    }
}

/* conf_load() itself: a reason that names the file, and errno. */
static void load_raw(const conf_option *table, void *c, size_t size)
{
    struct snapshot before;
    char err[ERR_MAX] = "";

    take_snapshot(&before, table, c, size);
    errno = 0;
    if (conf_load(table, c, size, ini_path, err, sizeof err) == 0) {
        check_table_values(table, c);
        FZ_CHECK(err[0] == '\0');
    } else {
        check_reason(err);
        FZ_CHECK(errno == EINVAL || errno == ENOMEM);
        FZ_CHECK(errno == ENOMEM || strstr(err, ini_path) != NULL);
        FZ_CHECK(snapshot_same(&before, table, c));
    }
    free(before.strings);
}

static void load_halld(void)
{
    struct snapshot before;
    char err[ERR_MAX] = "";

    take_snapshot(&before, halld_conf_options, &halld, sizeof halld);
    if (halld_conf_load(&halld, ini_path, err, sizeof err) == 0) {
        check_table_values(halld_conf_options, &halld);
        check_halld();
    } else {
        check_reason(err);
        FZ_CHECK(snapshot_same(&before, halld_conf_options, &halld));
    }
    free(before.strings);
}

static void load_kiosk(kiosk_conf *c, bool sim)
{
    struct snapshot before;
    char err[ERR_MAX] = "";

    take_snapshot(&before, kiosk_conf_options, c, sizeof *c);
    errno = 0;
    if (kiosk_conf_load(c, ini_path, sim, err, sizeof err) == 0) {
        check_table_values(kiosk_conf_options, c);
        check_kiosk(c, sim);
    } else {
        check_reason(err);
        FZ_CHECK(errno != 0);
        FZ_CHECK(snapshot_same(&before, kiosk_conf_options, c));
    }
    free(before.strings);
}

/* At exit: release, then forget the pointers, so that a string the
 * release missed is unreachable and LeakSanitizer reports it. */
static void release_all(void)
{
    conf_release(halld_conf_options, &halld_raw);
    conf_release(kiosk_conf_options, &kiosk_raw);
    halld_conf_release(&halld);
    kiosk_conf_release(&kiosk);
    kiosk_conf_release(&kiosk_sim);
    memset(&halld_raw, 0, sizeof halld_raw);
    memset(&kiosk_raw, 0, sizeof kiosk_raw);
    memset(&halld, 0, sizeof halld);
    memset(&kiosk, 0, sizeof kiosk);
    memset(&kiosk_sim, 0, sizeof kiosk_sim);
}

static void setup(void)
{
    const char *dir = fz_scratch_dir();
    char err[ERR_MAX];

    ini_path = fz_path(dir, "onewindow.ini");
    fz_write_file(ini_path, good_halld, sizeof good_halld - 1);
    if (conf_load(halld_conf_options, &halld_raw, sizeof halld_raw, ini_path, err, sizeof err) <
            0 ||
        halld_conf_load(&halld, ini_path, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_conf: the good halld file: %s\n", err);
        abort();
    }
    fz_write_file(ini_path, good_kiosk, sizeof good_kiosk - 1);
    if (conf_load(kiosk_conf_options, &kiosk_raw, sizeof kiosk_raw, ini_path, err, sizeof err) <
            0 ||
        kiosk_conf_load(&kiosk, ini_path, false, err, sizeof err) < 0 ||
        kiosk_conf_load(&kiosk_sim, ini_path, true, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_conf: the good kiosk file: %s\n", err);
        abort();
    }
    atexit(release_all);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;

    if (!ready) {
        setup();
        ready = true;
    }
    fz_write_file(ini_path, data, size);
    load_raw(halld_conf_options, &halld_raw, sizeof halld_raw);
    load_raw(kiosk_conf_options, &kiosk_raw, sizeof kiosk_raw);
    load_halld();
    load_kiosk(&kiosk, false);
    load_kiosk(&kiosk_sim, true);
    return 0;
}
