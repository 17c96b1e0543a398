/*
 * kiosk_conf — kioskd's configuration: one table of INI keys (common/conf.h)
 * and the checks the table cannot express (an address that is not
 * host:port, a bus without devices). kioskd.ini is the sample;
 * docs/kiosk.md explains each section.
 *
 * kiosk_conf_load() gives a complete configuration or one sentence saying
 * what is wrong; kioskd prints it and exits 2.
 */
#ifndef ONEWINDOW_KIOSK_CONF_H
#define ONEWINDOW_KIOSK_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clk.h"
#include "conf.h"
#include "printer.h"
#include "reader.h"

typedef struct kiosk_conf {
    /* [kiosk] */
    char *id;        /* device id, the CN of its certificate */
    char *time_zone; /* hall-local zone until halld tells its own */
    int log_level;   /* index into "error", "warn", "info", "debug" */
    /* [clock] as written (the source is in clock, below) */
    char *clock_start, *clock_rate, *clock_anchor;
    /* [halld] */
    char *address; /* host:port */
    char *cert, *key, *ca;
    int64_t reconnect_max_ms; /* longest wait between two connection attempts */
    int64_t connect_timeout_ms;
    int64_t clock_skew_warn_ms; /* a clock further from halld's is reported */
    /* [store] */
    char *store_path;
    /* [flow] */
    int64_t idle_timeout_ms;      /* a waiting screen returns to idle after this */
    int64_t ticket_show_ms;       /* the ticket preview stays this long */
    int64_t request_timeout_ms;   /* an online request unanswered this long goes offline */
    char *general_area;           /* the one-tap area offline ("" = learnt from halld) */
    char *retired_reserve_margin; /* a key older files set; ignored (kioskd warns) */
    bool matter_step;             /* an area tile opens the area's matter list */
    /* [green] the green channel (老年人、残疾人、军人等优先) */
    int green_mode;           /* KIOSK_GREEN_OFF, _ISSUE or _CONSULT */
    char *green_consult_area; /* consult: the consult desk's area */
    /* [printer] */
    int printer_backend; /* printer_backend */
    char *printer_address, *printer_queue, *printer_server;
    int64_t printer_vendor, printer_product;
    int64_t printer_poll_ms, printer_job_timeout_ms;
    int64_t paper_mm, qr_module;
    bool font_four_byte;
    char *ticket_template;
    char *ticket_url; /* QR payload template, "" for none */
    /* [idcard] */
    int reader_backend; /* reader_backend */
    char *reader_device;
    int64_t reader_vid, reader_pid;
    char *sealing_key;              /* halld's public sealing key (PEM) */
    char *retired_hall_secret_file; /* a key older files set; ignored (kioskd warns) */
    /* [page] */
    char *page_address;
    int64_t page_port;
    int64_t page_hold_ms; /* the long poll's hold; the page's out-of-service timer follows it */
    /* [offline] */
    int64_t lease_size; /* numbers asked for per lease */
    int64_t low_water;  /* ask for a new lease when fewer are left */
    /* [bus] (the bus master role, kbus.h) */
    bool bus_enabled;
    int bus_transport; /* index into "tcp", "rtu" */
    char *bus_address; /* tcp: host:port */
    char *bus_device;  /* rtu: the serial port */
    int64_t bus_baud;
    char *bus_devices;      /* busmap_parse_devices() syntax */
    char *bus_window_certs; /* directory of the call-pads' bundles, callpad-wN/ */
    int64_t bus_blink_ms, bus_board_min_ms, bus_rating_timeout_ms;
    int64_t bus_noshow_confirm_ms; /* a NEXT that makes a no-show waits this for its second press */

    /* Derived by kiosk_conf_load (not table keys). */
    clk_source clock; /* the hall clock's source, from [clock] */
    char halld_host[256];
    int halld_port;
    char bus_host[256]; /* [bus] address, when the transport is tcp */
    int bus_port;
} kiosk_conf;

/* Every key of kioskd.ini with its type, bounds and default (conf.h);
 * kiosk_conf_load() adds the checks across keys. */
extern const conf_option kiosk_conf_options[];

/* The order of kiosk_conf.green_mode. */
#define KIOSK_GREEN_OFF     0
#define KIOSK_GREEN_ISSUE   1
#define KIOSK_GREEN_CONSULT 2

/* The order of kiosk_conf.bus_transport. */
#define KIOSK_BUS_TCP 0
#define KIOSK_BUS_RTU 1

/* Load path into *c (zeroed before the first load). With sim, the printer
 * and reader backends are "sim" whatever the file says. 0, or -1 with a
 * sentence in err (errno EINVAL, ENOMEM or the file's errno). The files
 * the keys name are not read here. */
int kiosk_conf_load(kiosk_conf *c, const char *path, bool sim, char *err, size_t errlen);
void kiosk_conf_release(kiosk_conf *c);

/* The printer and reader configurations this kiosk configuration asks for. */
void kiosk_conf_printer(const kiosk_conf *c, printer_conf *out);
void kiosk_conf_reader(const kiosk_conf *c, reader_conf *out);

/* Every key with its default and help, as a commented INI file. */
void kiosk_conf_write_sample(FILE *f);
/* The configuration in effect, as an INI file. */
void kiosk_conf_print(const kiosk_conf *c, FILE *f);

#endif
