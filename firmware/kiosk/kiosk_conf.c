/*
 * kiosk_conf — the table of kioskd's configuration keys and the checks
 * that go beyond one key. Adding a key is one line here and one field in
 * struct kiosk_conf.
 */
#include "kiosk_conf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "busmaster.h"
#include "conf.h"
#include "net.h"

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
/* The order of printer_backend and reader_backend. */
static const char *const printer_backends[] = {"sim", "cups", "usb", "net", NULL};
static const char *const reader_backends[] = {"sim", "serial", "usb", NULL};
/* The order of KIOSK_GREEN_OFF, _ISSUE, _CONSULT. */
static const char *const green_modes[] = {"off", "issue", "consult", NULL};
/* The order of KIOSK_BUS_TCP, KIOSK_BUS_RTU. */
static const char *const bus_transports[] = {"tcp", "rtu", NULL};

#define C struct kiosk_conf
const conf_option kiosk_conf_options[] = {
    CONF_STRING("kiosk", "id", C, id, NULL, "Device id of this kiosk (the CN of its certificate)"),
    CONF_STRING("kiosk", "time_zone", C, time_zone, "Asia/Shanghai",
                "Hall time zone used until halld tells its own (ticket times, card dates)"),
    CONF_ENUM("kiosk", "log_level", C, log_level, log_levels, "info", "Least severe level logged"),

    /* The hall clock (clk.h), as halld's [clock]: the system clock unless
     * a simulation or a test sets another; kioskd warns when it is not. */
    CONF_STRING("clock", "start", C, clock_start, "",
                "Empty: the system clock. Simulations only: the hall time at anchor, now or "
                "ISO 8601 with offset (2026-03-02T08:55:00+08:00)"),
    CONF_STRING("clock", "rate", C, clock_rate, "1",
                "Hall time runs this many times as fast as real time (0.1 to 3600; needs start)"),
    CONF_STRING("clock", "anchor", C, clock_anchor, "",
                "System time at which the hall clock shows start (empty: when kioskd starts)"),

    CONF_STRING("halld", "address", C, address, NULL, "halld's device port, host:port"),
    CONF_PATH("halld", "cert", C, cert, "kiosk.crt", "This kiosk's certificate (PEM)"),
    CONF_PATH("halld", "key", C, key, "kiosk.key", "This kiosk's private key (PEM)"),
    CONF_PATH("halld", "ca", C, ca, "ca.crt", "The hall CA that issued halld's certificate"),
    CONF_DURATION("halld", "reconnect_max", C, reconnect_max_ms, 200, 600000, "10s",
                  "Longest wait between two connection attempts (backoff doubles up to it)"),
    CONF_DURATION("halld", "connect_timeout", C, connect_timeout_ms, 500, 120000, "10s",
                  "Time allowed for TCP, TLS and HELLO before the attempt is given up"),
    CONF_DURATION("halld", "clock_skew_warn", C, clock_skew_warn_ms, 1000, 86400000, "30s",
                  "A kiosk clock further than this from halld's is reported as device health"),

    CONF_PATH("store", "path", C, store_path, "kiosk.db",
              "SQLite file of the kiosk's durable state (request ids, leases, tickets)"),

    CONF_DURATION("flow", "idle_timeout", C, idle_timeout_ms, 5000, 600000, "30s",
                  "A waiting screen returns to the start after this long without a touch"),
    CONF_DURATION("flow", "ticket_show", C, ticket_show_ms, 2000, 600000, "10s",
                  "How long the printed ticket's preview stays on screen"),
    CONF_DURATION("flow", "request_timeout", C, request_timeout_ms, 1000, 120000, "8s",
                  "An unanswered online request is given up for an offline ticket after this"),
    CONF_STRING("flow", "general_area", C, general_area, "",
                "Area of the one-tap ticket when offline (empty: learnt from halld)"),
    CONF_STRING("flow", "reserve_margin", C, retired_reserve_margin, "",
                "No longer used: a ticket halld answered is always printed (halld revives a "
                "reservation that ran out). Accepted so that older files still load"),
    CONF_BOOL("flow", "matter_step", C, matter_step, "false",
              "An area tile opens the list of the area's matters (with their materials) before "
              "the ticket; false: a tile takes a ticket at once"),

    CONF_ENUM("green", "mode", C, green_mode, green_modes, "off",
              "The green channel (elderly, disabled, servicemen): off; issue (a priority ticket "
              "in the area picked); consult (a priority ticket for the consult desk, which "
              "checks the papers and transfers it)"),
    CONF_STRING("green", "consult_area", C, green_consult_area, "",
                "consult: the area of the consult desk"),

    CONF_ENUM("printer", "backend", C, printer_backend, printer_backends, "usb",
              "Ticket printer: usb, cups, net (raw port 9100) or sim"),
    CONF_STRING("printer", "address", C, printer_address, "",
                "net: the printer's host:port (port 9100 when left out)"),
    CONF_STRING("printer", "queue", C, printer_queue, "", "cups: the queue name"),
    CONF_STRING("printer", "server", C, printer_server, "",
                "cups: host:port or socket path (empty: the system's)"),
    CONF_INT("printer", "vendor", C, printer_vendor, 0, 65535, "0",
             "usb: idVendor to match (0: any printer-class device)"),
    CONF_INT("printer", "product", C, printer_product, 0, 65535, "0",
             "usb: idProduct to match (0: any)"),
    CONF_DURATION("printer", "poll", C, printer_poll_ms, 100, 60000, "1s",
                  "Status poll interval while the printer is idle"),
    CONF_DURATION("printer", "job_timeout", C, printer_job_timeout_ms, 1000, 120000, "10s",
                  "Longest a ticket's bytes may take to reach the printer"),
    CONF_INT("printer", "paper", C, paper_mm, 58, 80, "80", "Paper width in mm: 58 or 80"),
    CONF_INT("printer", "qr_module", C, qr_module, 1, 16, "6", "QR module size in dots"),
    CONF_BOOL("printer", "font_four_byte", C, font_four_byte, "false",
              "The printer's font has GB18030 four-byte characters"),
    CONF_STRING("printer", "template", C, ticket_template, "",
                "Ticket template (docs/printer.md; empty: the default)"),
    CONF_STRING("printer", "ticket_url", C, ticket_url, "",
                "The QR code's address, where the citizen follows the queue and rates the "
                "visit: {number}, {day} (yyyymmdd), {id} and {kiosk} are filled in; empty: no "
                "QR code"),

    CONF_ENUM("idcard", "backend", C, reader_backend, reader_backends, "serial",
              "ID card reader: serial, usb or sim"),
    CONF_STRING("idcard", "device", C, reader_device, "/dev/ttyUSB0", "serial: the tty"),
    CONF_INT("idcard", "vid", C, reader_vid, 0, 65535, "0", "usb: idVendor"),
    CONF_INT("idcard", "pid", C, reader_pid, 0, 65535, "0", "usb: idProduct"),
    CONF_PATH("idcard", "sealing_key", C, sealing_key, "seal.pub",
              "halld's public sealing key (PEM), from the kiosk's bundle: an offline ticket "
              "taken by card keeps the ID number sealed to it until halld has it. Missing: "
              "such tickets carry the masked name only"),
    CONF_STRING("idcard", "hall_secret_file", C, retired_hall_secret_file, "",
                "No longer used: a kiosk does not hold the hall secret (halld hashes ID "
                "numbers). Accepted so that older files still load"),

    CONF_STRING("page", "address", C, page_address, "127.0.0.1",
                "Address of the touch page (loopback on a kiosk)"),
    CONF_INT("page", "port", C, page_port, 0, 65535, "8080", "Port of the touch page"),
    CONF_DURATION("page", "hold", C, page_hold_ms, 1000, 25000, "5s",
                  "The longest the page's model request is held when nothing changes; the "
                  "page shows out of service when no answer comes within this and 3 s more"),

    CONF_INT("offline", "lease_size", C, lease_size, 1, 10000, "20",
             "Offline numbers asked for per area and lease"),
    CONF_INT("offline", "low_water", C, low_water, 0, 10000, "5",
             "A new lease is asked for when fewer numbers than this are left"),

    CONF_BOOL(
        "bus", "enabled", C, bus_enabled, "false",
        "This kiosk is the master of a bus segment (displays, board, call-pads, rating pads)"),
    CONF_ENUM("bus", "transport", C, bus_transport, bus_transports, "tcp",
              "Modbus transport: tcp (a gateway, or bussim --tcp) or rtu (a serial port)"),
    CONF_STRING("bus", "address", C, bus_address, "127.0.0.1:1502",
                "tcp: host:port of the Modbus TCP gateway"),
    CONF_STRING("bus", "device", C, bus_device, "/dev/ttyS1",
                "rtu: the serial port of the RS-485 line"),
    CONF_INT("bus", "baud", C, bus_baud, 1200, 4000000, "115200", "rtu: line speed"),
    CONF_STRING("bus", "devices", C, bus_devices,
                "1:board,11:window:1,12:window:2,41:callpad:1,42:callpad:2,71:rating:1,"
                "72:rating:2",
                "The bus's devices, ADDR:KIND[:WINDOW],... (docs/bus.md)"),
    CONF_PATH("bus", "window_certs", C, bus_window_certs, "windows",
              "Directory of the call-pads' bundles: DIR/callpad-wN/ for window N"),
    CONF_DURATION("bus", "blink", C, bus_blink_ms, 0, 60000, "5s",
                  "How long a window display blinks a new call"),
    CONF_DURATION("bus", "board_min", C, bus_board_min_ms, 0, 600000, "3s",
                  "Least time a call stays on the hall board"),
    CONF_DURATION("bus", "rating_timeout", C, bus_rating_timeout_ms, 1000, 3600000, "30s",
                  "How long a rating pad waits for the citizen after FINISH"),
    CONF_DURATION("bus", "noshow_confirm", C, bus_noshow_confirm_ms, 1000, 60000, "5s",
                  "A call-pad's next that would make the called citizen a no-show waits this "
                  "long for a second press that confirms it"),
    CONF_END,
};
#undef C

static bool valid_id(const char *id)
{
    size_t n = strlen(id);

    return n > 0 && n <= 64 && conf_word_ok(id, n, false);
}

/* The [bus] keys that one key's range cannot check: the address of a tcp
 * bus, the device list. */
static int check_bus(kiosk_conf *c, const char *path, char *err, size_t errlen)
{
    bus_device devices[BUSMASTER_DEVICES_MAX];
    char why[200];

    if (c->bus_transport == KIOSK_BUS_TCP &&
        net_parse_hostport(c->bus_address, c->bus_host, sizeof c->bus_host, &c->bus_port) < 0) {
        snprintf(err, errlen, "%s: [bus] address = %s: write it as host:port", path,
                 c->bus_address);
        return -1;
    }
    if (c->bus_transport == KIOSK_BUS_RTU && c->bus_device[0] == '\0') {
        snprintf(err, errlen, "%s: [bus] transport = rtu needs [bus] device", path);
        return -1;
    }
    int n = busmap_parse_devices(c->bus_devices, devices, BUSMASTER_DEVICES_MAX, why, sizeof why);
    if (n <= 0) {
        snprintf(err, errlen, "%s: [bus] devices = %s: %s", path, c->bus_devices,
                 n == 0 ? "no devices" : why);
        return -1;
    }
    return 0;
}

int kiosk_conf_load(kiosk_conf *c, const char *path, bool sim, char *err, size_t errlen)
{
    kiosk_conf fresh = {0};
    char why[300];

    if (conf_load(kiosk_conf_options, &fresh, sizeof fresh, path, err, errlen) < 0)
        return -1;
    if (!valid_id(fresh.id)) {
        snprintf(err, errlen, "%s: [kiosk] id = %s: use 1 to 64 letters, digits, '-' or '_'", path,
                 fresh.id);
        goto invalid;
    }
    if (clk_source_parse(fresh.clock_start, fresh.clock_rate, fresh.clock_anchor, &fresh.clock, why,
                         sizeof why) < 0) {
        snprintf(err, errlen, "%s: [clock] %s", path, why);
        goto bad;
    }
    if (net_parse_hostport(fresh.address, fresh.halld_host, sizeof fresh.halld_host,
                           &fresh.halld_port) < 0) {
        snprintf(err, errlen, "%s: [halld] address = %s: write it as host:port", path,
                 fresh.address);
        goto invalid;
    }
    if (fresh.paper_mm != 58 && fresh.paper_mm != 80) {
        snprintf(err, errlen, "%s: [printer] paper = %lld: use 58 or 80", path,
                 (long long)fresh.paper_mm);
        goto invalid;
    }
    if (fresh.green_mode == KIOSK_GREEN_CONSULT && fresh.green_consult_area[0] == '\0') {
        snprintf(err, errlen, "%s: [green] mode = consult needs [green] consult_area", path);
        goto invalid;
    }
    if (fresh.low_water >= fresh.lease_size) {
        snprintf(err, errlen, "%s: [offline] low_water (%lld) must be below lease_size (%lld)",
                 path, (long long)fresh.low_water, (long long)fresh.lease_size);
        goto invalid;
    }
    if (fresh.bus_enabled && check_bus(&fresh, path, err, errlen) < 0)
        goto invalid;
    if (sim) {
        fresh.printer_backend = PRINTER_BACKEND_SIM;
        fresh.reader_backend = READER_BACKEND_SIM;
    } else if (fresh.printer_backend == PRINTER_BACKEND_NET && fresh.printer_address[0] == '\0') {
        snprintf(err, errlen, "%s: [printer] backend = net needs [printer] address", path);
        goto invalid;
    } else if (fresh.printer_backend == PRINTER_BACKEND_CUPS && fresh.printer_queue[0] == '\0') {
        snprintf(err, errlen, "%s: [printer] backend = cups needs [printer] queue", path);
        goto invalid;
    }
    kiosk_conf_release(c);
    *c = fresh;
    return 0;
invalid:
    /* Set here: a check that passed (net_parse_hostport) may clear errno. */
    errno = EINVAL;
bad:
    kiosk_conf_release(&fresh);
    return -1;
}

void kiosk_conf_release(kiosk_conf *c)
{
    conf_release(kiosk_conf_options, c);
}

void kiosk_conf_printer(const kiosk_conf *c, printer_conf *out)
{
    printer_conf_init(out);
    out->backend = (printer_backend)c->printer_backend;
    out->poll_ms = (int)c->printer_poll_ms;
    out->job_timeout_ms = (int)c->printer_job_timeout_ms;
    snprintf(out->net.address, sizeof out->net.address, "%s", c->printer_address);
    snprintf(out->cups.queue, sizeof out->cups.queue, "%s", c->printer_queue);
    snprintf(out->cups.server, sizeof out->cups.server, "%s", c->printer_server);
    out->usb.vendor = (uint16_t)c->printer_vendor;
    out->usb.product = (uint16_t)c->printer_product;
}

void kiosk_conf_reader(const kiosk_conf *c, reader_conf *out)
{
    reader_conf_init(out);
    out->backend = (reader_backend)c->reader_backend;
    snprintf(out->serial.device, sizeof out->serial.device, "%s", c->reader_device);
    out->usb.vid = (uint16_t)c->reader_vid;
    out->usb.pid = (uint16_t)c->reader_pid;
}

void kiosk_conf_write_sample(FILE *f)
{
    conf_write_sample(kiosk_conf_options, f);
}

void kiosk_conf_print(const kiosk_conf *c, FILE *f)
{
    const char *section = "";

    for (const conf_option *o = kiosk_conf_options; o->section != NULL; o++) {
        const char *field = (const char *)c + o->offset;
        if (strcmp(section, o->section) != 0) {
            fprintf(f, "%s[%s]\n", section[0] ? "\n" : "", o->section);
            section = o->section;
        }
        fprintf(f, "%s = ", o->name);
        switch (o->type) {
        case CONF_T_INT:
            fprintf(f, "%lld\n", (long long)*(const int64_t *)(const void *)field);
            break;
        case CONF_T_BOOL:
            fprintf(f, "%s\n", *(const bool *)(const void *)field ? "true" : "false");
            break;
        case CONF_T_STRING:
        case CONF_T_PATH: {
            const char *s = *(char *const *)(const void *)field;
            fprintf(f, "%s\n", s ? s : "");
            break;
        }
        case CONF_T_ENUM:
            fprintf(f, "%s\n", o->choices[*(const int *)(const void *)field]);
            break;
        case CONF_T_DURATION:
            fprintf(f, "%lldms\n", (long long)*(const int64_t *)(const void *)field);
            break;
        }
    }
}
