/*
 * hallctl — the hall administrator's command line.
 *
 * Every verb is a row of a table (hallctl_verb): the certificate verbs
 * below (ca init, cert issue), the administrative verbs of hallctl_admin.c
 * (init, catalog, window, clerk, device, appointment, audit), which work on
 * the hall's files, and the protocol verbs of hallctl_device.c (ping,
 * queues, issue, call, window open/close), which talk to a running halld. `hallctl
 * help` lists them all; each verb has its own --help. Exit status: 0 done,
 * 1 failed (the reason is printed on stderr), 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clk.h"
#include "ev.h"
#include "hallctl_admin.h"
#include "hallctl_device.h"
#include "hallctl_report.h"
#include "net.h"
#include "pki.h"
#include "proto.h"

int hallctl_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("hallctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static const char *join(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
    return out;
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return hallctl_fail("cannot create %s: %s", dir, strerror(errno));
    return 0;
}

/* ---- ca init ------------------------------------------------------------- */

static int ca_init(int argc, char **argv)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},  {"hall-id", required_argument, NULL, 'i'},
        {"days", required_argument, NULL, 'n'}, {"dns", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *hall_id = "hall", *dns = NULL;
    int days = 3650, opt;
    char ca_crt[PATH_MAX], ca_key[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], err[PKI_ERR_LEN];

    while ((opt = getopt_long(argc, argv, "d:i:n:s:h", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            hall_id = optarg;
            break;
        case 'n':
            days = atoi(optarg);
            break;
        case 's':
            dns = optarg;
            break;
        case 'h':
            printf("usage: hallctl ca init --dir DIR [--hall-id ID] [--days N] [--dns NAME]\n"
                   "Create the hall CA (DIR/ca.crt, DIR/ca.key) and the controller's\n"
                   "certificate (DIR/halld.crt, DIR/halld.key, valid for localhost,\n"
                   "127.0.0.1 and NAME). An existing CA is never overwritten.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (dir == NULL || optind != argc)
        return fprintf(stderr, "usage: hallctl ca init --dir DIR (see --help)\n"), 2;
    if (days < 1 || days > 36500)
        return hallctl_fail("--days must be 1..36500");
    if (make_dir(dir) != 0)
        return 1;
    join(ca_key, sizeof ca_key, dir, "ca.key");
    if (access(ca_key, F_OK) == 0)
        return hallctl_fail(
            "%s exists: refusing to replace the hall CA (every device would have to "
            "be re-enrolled)",
            ca_key);
    char cn[128];
    snprintf(cn, sizeof cn, "onewindow hall CA %s", hall_id);
    if (pki_make_ca(cn, days, join(ca_crt, sizeof ca_crt, dir, "ca.crt"), ca_key, err) < 0 ||
        pki_issue(ca_crt, ca_key, "halld", dns, PKI_SERVER, days,
                  join(crt, sizeof crt, dir, "halld.crt"), join(key, sizeof key, dir, "halld.key"),
                  err) < 0)
        return hallctl_fail("%s", err);
    printf("hall CA: %s\ncontroller certificate: %s\n", ca_crt, crt);
    return 0;
}

/* ---- cert issue ---------------------------------------------------------- */

static int cert_issue(int argc, char **argv)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},
        {"id", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},
        {"days", required_argument, NULL, 'n'},
        {"server", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *id = NULL, *out = NULL, *server = NULL;
    int days = 825, opt;
    char ca_crt[PATH_MAX], ca_key[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], name[128];
    char err[PKI_ERR_LEN];

    while ((opt = getopt_long(argc, argv, "d:i:o:n:h", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'n':
            days = atoi(optarg);
            break;
        case 's':
            server = optarg;
            break;
        case 'h':
            printf("usage: hallctl cert issue --dir CADIR --id DEVICE [--out DIR] [--days N]\n"
                   "                         [--server DNSNAME]\n"
                   "Issue a client certificate for DEVICE (its id is the certificate's CN)\n"
                   "signed by the hall CA whose certificate is CADIR/ca.crt; its key is\n"
                   "private/ca.key beside CADIR (a hall's layout), else CADIR/ca.key. Writes\n"
                   "DIR/DEVICE.crt and DIR/DEVICE.key (DIR defaults to CADIR).\n"
                   "--server: a server certificate instead (HTTPS of the web layer), for\n"
                   "DNSNAME, localhost and 127.0.0.1.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (dir == NULL || id == NULL || optind != argc)
        return fprintf(stderr, "usage: hallctl cert issue --dir CADIR --id DEVICE (see --help)\n"),
               2;
    if (days < 1 || days > 36500)
        return hallctl_fail("--days must be 1..36500");
    if (out == NULL)
        out = dir;
    if (make_dir(out) != 0)
        return 1;
    snprintf(name, sizeof name, "%s.crt", id);
    join(crt, sizeof crt, out, name);
    snprintf(name, sizeof name, "%s.key", id);
    join(key, sizeof key, out, name);
    if (hallctl_ca_key(dir, false, ca_key, sizeof ca_key) != 0)
        return 1;
    if (pki_issue(join(ca_crt, sizeof ca_crt, dir, "ca.crt"), ca_key, id, server,
                  server ? PKI_SERVER : PKI_CLIENT, days, crt, key, err) < 0)
        return hallctl_fail("%s", err);
    printf("device %s: %s, %s\n", id, crt, key);
    return 0;
}

static int version(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("hallctl %s\n", ONEWINDOW_VERSION);
    return 0;
}

static const hallctl_verb device_verbs[] = {
    {"ca", "init", ca_init, "create the hall CA and the controller's certificate"},
    {"cert", "issue", cert_issue, "issue a device certificate signed by the hall CA"},
    {"version", NULL, version, "print the version"},
    {NULL, NULL, NULL, NULL},
};

/* Every table of verbs, in the order the usage lists them. */
static const hallctl_verb *const verb_tables[] = {hallctl_admin_verbs, hallctl_report_verbs,
                                                  hallctl_device_verbs, device_verbs};
#define NTABLES (sizeof verb_tables / sizeof verb_tables[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: hallctl <verb> [options]     (hallctl <verb> --help for each)\n");
    for (size_t t = 0; t < NTABLES; t++) {
        for (const hallctl_verb *v = verb_tables[t]; v->noun != NULL; v++) {
            char words[64];
            snprintf(words, sizeof words, "%s%s%s", v->noun, v->verb ? " " : "",
                     v->verb ? v->verb : "");
            fprintf(f, "  %-20s %s\n", words, v->summary);
        }
    }
}

static int dispatch(int argc, char **argv);

int main(int argc, char **argv)
{
    /* "hallctl -c FILE <verb> ..." is "hallctl <verb> ... -c FILE": the
     * verbs parse -c themselves, anywhere among their options. */
    char **args = NULL;
    if (argc >= 3 && (strcmp(argv[1], "-c") == 0 || strcmp(argv[1], "--config") == 0)) {
        if ((args = calloc((size_t)argc + 1, sizeof *args)) == NULL)
            return 1;
        args[0] = argv[0];
        for (int i = 3; i < argc; i++)
            args[i - 2] = argv[i];
        args[argc - 2] = argv[1];
        args[argc - 1] = argv[2];
        argv = args;
    }
    int rc = dispatch(argc, argv);
    free(args);
    return rc;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *noun = argv[1];
    if (strcmp(noun, "-h") == 0 || strcmp(noun, "--help") == 0 || strcmp(noun, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(noun, "--version") == 0)
        return version(argc, argv);
    bool known_noun = false;
    for (size_t t = 0; t < NTABLES; t++) {
        for (const hallctl_verb *v = verb_tables[t]; v->noun != NULL; v++) {
            if (strcmp(v->noun, noun) != 0)
                continue;
            known_noun = true;
            if (v->verb == NULL)
                return v->run(argc - 1, argv + 1);
            if (argc >= 3 && strcmp(v->verb, argv[2]) == 0)
                return v->run(argc - 2, argv + 2);
        }
    }
    if (known_noun && argc >= 3)
        fprintf(stderr, "hallctl: unknown verb '%s %s'\n", noun, argv[2]);
    else if (known_noun)
        fprintf(stderr, "hallctl: '%s' needs a verb (see below)\n", noun);
    else
        fprintf(stderr, "hallctl: unknown verb '%s'\n", noun);
    usage(stderr);
    return 2;
}
