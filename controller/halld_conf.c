/*
 * halld_conf — the table of halld's configuration keys. Adding a key is
 * one line here and one field in struct halld_conf.
 */
#include "halld_conf.h"

#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "queue.h"

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};

#define C struct halld_conf
const conf_option halld_conf_options[] = {
    CONF_STRING("hall", "id", C, hall_id, NULL,
                "Short id of this hall (letters, digits, '-', '_'); names it to the city platform"),
    CONF_STRING("hall", "name", C, hall_name, "政务服务大厅", "Hall name shown on tickets"),
    CONF_STRING("hall", "time_zone", C, time_zone, "Asia/Shanghai",
                "IANA time zone of the hall: numbering and reports use its local day"),
    CONF_INT("hall", "rollover_hour", C, rollover_hour, 0, 23, "3",
             "Local hour at which the hall's business day (and ticket numbering) starts"),

    /* The hall clock (clk.h): the system clock unless a simulation or a
     * test sets another; main.c warns when it is not. */
    CONF_STRING("clock", "start", C, clock_start, "",
                "Empty: the system clock. Simulations only: the hall time at anchor, now or "
                "ISO 8601 with offset (2026-03-02T08:55:00+08:00)"),
    CONF_STRING("clock", "rate", C, clock_rate, "1",
                "Hall time runs this many times as fast as real time (0.1 to 3600; needs start)"),
    CONF_STRING("clock", "anchor", C, clock_anchor, "",
                "System time at which the hall clock shows start (empty: when halld starts)"),

    CONF_PATH("store", "path", C, store_path, "hall.db",
              "SQLite database file, created if absent (relative to this file)"),

    CONF_STRING("listen", "address", C, listen_address, "0.0.0.0",
                "Address for device links (kiosks, window terminals, displays)"),
    CONF_INT("listen", "port", C, listen_port, 0, 65535, "7700",
             "TCP port for device links (0 picks a free port; the log says which)"),
    CONF_INT("listen", "max_connections", C, max_connections, 1, 100000, "4096",
             "Device connections accepted at once; more are refused and logged"),
    CONF_INT("listen", "max_unauthenticated", C, max_unauthenticated, 1, 100000, "256",
             "Connections that have not said HELLO yet, in all (at most half of "
             "max_connections): the rest is kept for devices. Past it, the oldest such "
             "connection gives way to the new one"),
    CONF_INT("listen", "max_per_address", C, max_per_address, 1, 100000, "64",
             "Connections from one address that have not said HELLO yet (loopback too; a "
             "kiosk driving call-pads opens one per window at once); past it, that address's "
             "oldest gives way to the new one"),
    CONF_INT("listen", "max_frame", C, max_frame, 1024, FRAME_MAX, "65536",
             "Largest frame accepted from a device, in bytes"),

    CONF_PATH("tls", "cert", C, tls_cert, "pki/halld.crt", "halld's certificate (PEM)"),
    CONF_PATH("tls", "key", C, tls_key, "pki/halld.key", "halld's private key (PEM)"),
    CONF_PATH("tls", "ca", C, tls_ca, "pki/ca.crt",
              "The hall CA: devices must present a certificate it issued"),

    /* ID numbers (docs/privacy.md): keys that stay on the controller. */
    CONF_PATH("privacy", "secret", C, privacy_secret, "secret.key",
              "The hall secret (hex, mode 0600): the HMAC key of ID numbers. halld's alone: no "
              "kiosk holds it"),
    CONF_PATH("privacy", "sealing_key", C, sealing_key, "seal.key",
              "halld's private sealing key (PEM, mode 0600): opens the ID numbers kiosks seal "
              "while offline. Missing: those tickets wait on the kiosks until it is installed"),
    CONF_PATH("privacy", "previous_sealing_key", C, previous_sealing_key, "seal-previous.key",
              "The sealing key before the last rotation (hallctl privacy rotate), kept until "
              "every kiosk has uploaded what it sealed with it; missing: none"),

    CONF_DURATION("session", "heartbeat_interval", C, heartbeat_interval_ms, 1000, 3600000, "10s",
                  "How often devices are told to send a heartbeat"),
    CONF_DURATION("session", "idle_timeout", C, idle_timeout_ms, 2000, 7200000, "35s",
                  "A device silent for longer is disconnected"),
    CONF_INT("session", "max_per_device", C, max_per_device, 2, 64, "4",
             "Links one device may hold at once (at least 2: a device may reconnect before its "
             "old link times out); past it, its oldest link is closed"),
    CONF_INT("session", "max_per_tool", C, max_per_tool, 2, 4096, "64",
             "Links one tool device (hallctl, hallbench: run by the administrator on the "
             "controller) may hold at once"),
    CONF_DURATION("session", "hello_timeout", C, hello_timeout_ms, 500, 600000, "5s",
                  "Time a new connection has to finish TLS and say HELLO"),

    CONF_DURATION("queue", "green_boost", C, green_boost_ms, 0, 86400000, "30m",
                  "Head start of a green-channel ticket (elderly, disabled) over a normal one"),
    CONF_DURATION("queue", "appointment_boost", C, appointment_boost_ms, 0, 86400000, "20m",
                  "Head start of an appointment once it is due"),
    CONF_DURATION("queue", "appointment_early", C, appointment_early_ms, 0, 86400000, "15m",
                  "An appointment is due this long before its slot"),
    CONF_INT("queue", "max_recalls", C, max_recalls, 0, 20, "2",
             "Recalls before a further call-next makes the ticket a no-show"),
    CONF_DURATION("queue", "rejoin", C, rejoin_ms, 0, 86400000, "10m",
                  "A no-show may rejoin the queue within this time (0: never)"),
    CONF_BOOL("queue", "rejoin_keeps_place", C, rejoin_keeps_place, "true",
              "A rejoining ticket keeps its issue time (else it goes to the end)"),
    CONF_INT("queue", "citizen_limit", C, citizen_limit, 0, 100, "1",
             "Live tickets one ID card may hold per area (0: no limit)"),
    CONF_DURATION("queue", "reserve_timeout", C, reserve_ms, 10000, 3600000, "2m",
                  "An issued ticket not confirmed as printed within this is voided"),
    CONF_BOOL("queue", "carry_over", C, carry_over, "false",
              "Waiting tickets survive the day's rollover (else they are closed)"),

    CONF_BOOL("queue", "issue_unstaffed", C, issue_unstaffed, "false",
              "Give numbers while no window serving the area is open (the citizen is told the "
              "wait is unknown and confirms); an area may say otherwise in the hall calendar"),
    CONF_INT("numbering", "digits", C, number_digits, 1, 6, "3",
             "Digits of the daily sequence in a display number (3: A001)"),
    CONF_INT("numbering", "lease_first", C, lease_first, 2, 999999, "900",
             "First number of the band kept for kiosks' offline leases"),
    CONF_INT("numbering", "lease_band", C, lease_band, 1, 999999, "100",
             "Size of the offline lease band; online numbers skip it"),
    CONF_INT("numbering", "lease_block", C, lease_block, 1, 10000, "20",
             "Numbers granted to a kiosk per lease"),

    CONF_INT("retries", "answers", C, answers, 200000, 100000000, "200000",
             "Answers kept in all for retried requests (24 hours at most); past it the oldest "
             "are dropped, and a retry of one is told so instead of being run again"),
    CONF_INT("retries", "answer_mib", C, answer_mib, 16, 65536, "64",
             "Bytes of the answers kept in all, in MiB"),
    CONF_INT("retries", "device_answers", C, device_answers, 10000, 100000000, "50000",
             "Answers kept per device"),
    CONF_INT("retries", "device_answer_mib", C, device_answer_mib, 4, 65536, "16",
             "Bytes of the answers kept per device, in MiB"),
    CONF_INT("retries", "device_requests", C, device_requests, 10000, 100000000, "200000",
             "Requests remembered per device for 24 hours (answers and dropped ones); past it "
             "the device's requests that change the hall are refused until old ones expire"),
    CONF_INT("retries", "requests", C, requests, 200000, 1000000000, "1000000",
             "Requests remembered in all for 24 hours"),

    CONF_PATH("audit", "key", C, audit_key, "audit.key",
              "The hall audit key (Ed25519, PEM, mode 0600) that signs the anchors of the event "
              "log; made by hallctl init (or hallctl audit key). Without the file the log is not "
              "anchored"),
    CONF_DURATION("audit", "anchor_interval", C, anchor_interval_ms, 1000, 86400000, "1m",
                  "How often the head of the event log is anchored (signed into audit.anchors "
                  "next to the database) when it has moved; also at every clean stop"),

    /* hallweb, the web layer (docs/web.md): a process of its own that
     * reads this file too. */
    CONF_STRING("web", "address", C, web_address, "127.0.0.1",
                "Address of the web pages and API. Anything but loopback needs tls_cert and "
                "tls_key: passwords and session cookies never cross the LAN in clear"),
    CONF_INT("web", "port", C, web_port, 0, 65535, "8080",
             "TCP port of the web layer (0 picks a free port; the log says which)"),
    CONF_PATH("web", "tls_cert", C, web_tls_cert, "",
              "HTTPS certificate (PEM), issued by the hall CA (hallctl cert issue); empty: plain "
              "HTTP, on loopback only"),
    CONF_PATH("web", "tls_key", C, web_tls_key, "", "Its private key (PEM, mode 0600)"),
    CONF_STRING("web", "device", C, web_device, "web-1",
                "The web gateway's device id (hallctl device add --type web): its bundle is "
                "read from the devices folder next to the hall CA"),
    CONF_INT("web", "threads", C, web_threads, 1, 64, "4",
             "Threads answering web requests (each with its own link to halld and its own "
             "read-only database connection)"),
    CONF_INT("web", "max_connections", C, web_max_connections, 4, 10000, "256",
             "Web connections at once; more are refused"),
    CONF_INT("web", "max_sessions", C, web_max_sessions, 1, 100000, "1024",
             "Signed-in sessions kept at once; past it the one idle longest ends"),
    CONF_DURATION("web", "session_idle", C, web_session_idle_ms, 1000, 86400000, "30m",
                  "A session unused this long ends"),
    CONF_DURATION("web", "session_max", C, web_session_max_ms, 1000, 604800000, "12h",
                  "A session ends this long after its sign-in, however busy"),
    CONF_INT("web", "account_failures", C, web_account_failures, 1, 100, "5",
             "Wrong passwords in a row before an account is locked"),
    CONF_INT("web", "address_failures", C, web_address_failures, 1, 10000, "20",
             "Failed sign-ins from one address within lockout before it is blocked"),
    CONF_DURATION("web", "lockout", C, web_lockout_ms, 1000, 86400000, "15m",
                  "How long a locked account or a blocked address waits"),

    /* Electronic supervision (电子监察, docs/supervision.md): each rule's
     * warn and critical thresholds, the overrides, the webhook. */
    CONF_STRING("supervise", "wait_long", C, sv_rule_text[SV_WAIT_LONG], "20m 40m",
                "An area's oldest waiting ticket has waited this long (warn, critical; off)"),
    CONF_STRING("supervise", "service_long", C, sv_rule_text[SV_SERVICE_LONG], "30m 60m",
                "A window's ticket has been called or served this long"),
    CONF_STRING("supervise", "window_idle", C, sv_rule_text[SV_WINDOW_IDLE], "5m 15m",
                "An open window has had no ticket this long while its areas have waiting tickets"),
    CONF_STRING("supervise", "window_paused_long", C, sv_rule_text[SV_WINDOW_PAUSED_LONG],
                "15m 30m", "A window has been paused this long"),
    CONF_STRING("supervise", "window_closed_queue", C, sv_rule_text[SV_WINDOW_CLOSED_QUEUE],
                "10m 30m",
                "A window has been closed this long in opening hours while its areas have a queue"),
    CONF_STRING("supervise", "clerk_absent", C, sv_rule_text[SV_CLERK_ABSENT], "5m 15m",
                "No clerk signed in at a window this long after its areas opened (hall calendar)"),
    CONF_STRING("supervise", "queue_per_window", C, sv_rule_text[SV_QUEUE_PER_WINDOW], "10 20",
                "Waiting tickets per open window of an area"),
    CONF_STRING("supervise", "rating_bad", C, sv_rule_text[SV_RATING_BAD], "2 1",
                "A rating at or below this level (2 不满意, 1 非常不满意); resolved by hand"),
    CONF_STRING("supervise", "device_fault", C, sv_rule_text[SV_DEVICE_FAULT], "1 1",
                "Device faults: warn for paper low, card reader or bus faults (1: on, 0: off), "
                "critical for paper out, cover open, printer offline"),
    CONF_STRING("supervise", "device_silent", C, sv_rule_text[SV_DEVICE_SILENT], "3 6",
                "Heartbeats a device has missed ([session] heartbeat_interval each)"),
    CONF_STRING("supervise", "overrides", C, sv_overrides, "",
                "Per area or window: rule@area:CODE = WARN CRITICAL; rule@window:N = off; ..."),
    CONF_STRING("supervise", "webhook", C, webhook, "",
                "Each change of an alert is POSTed as JSON to this http(s) URL (an SMS or WeChat "
                "gateway), at least once; empty: none"),
    CONF_INT("supervise", "webhook_max_pending", C, webhook_max_pending, 10, 1000000, "10000",
             "Deliveries waiting at most; past it new changes are not queued (logged)"),
    CONF_INT("supervise", "webhook_max_body", C, webhook_max_body, 1024, 1048576, "16384",
             "Bytes of one delivery's JSON at most"),
    CONF_DURATION("supervise", "webhook_give_up", C, webhook_give_up_ms, 60000, 2592000000LL, "24h",
                  "A delivery not taken after this long is given up (logged)"),
    CONF_DURATION("supervise", "webhook_timeout", C, webhook_timeout_ms, 1000, 300000, "10s",
                  "Time one POST may take"),

    CONF_ENUM("log", "level", C, log_level, log_levels, "info", "Least severe level logged"),
    CONF_INT("log", "device_lines", C, log_device_lines, 1, 100000, "20",
             "Lines a minute one device's refused requests and health changes may add to the "
             "log; the rest are counted in one line"),
    CONF_BOOL("log", "syslog", C, log_syslog, "false", "Also log to syslog (journald)"),
    CONF_END,
};
#undef C

/* [supervise]: every rule's limits and the overrides into c->sv. */
static int supervise_limits(struct halld_conf *c, char *err, size_t errlen)
{
    sv_limits_default(&c->sv);
    for (int r = 0; r < SV_RULES; r++)
        if (sv_limit_parse((sv_rule)r, c->sv_rule_text[r], &c->sv.rule[r], err, errlen) < 0)
            return -1;
    return sv_overrides_parse(&c->sv, c->sv_overrides, err, errlen);
}

static bool valid_hall_id(const char *id)
{
    size_t n = strlen(id);

    return n > 0 && n <= 64 && conf_word_ok(id, n, false);
}

int halld_conf_load(struct halld_conf *c, const char *path, char *err, size_t errlen)
{
    struct halld_conf fresh = {0};
    char why[300];

    if (conf_load(halld_conf_options, &fresh, sizeof fresh, path, err, errlen) < 0)
        return -1;
    if (!valid_hall_id(fresh.hall_id)) {
        snprintf(err, errlen, "%s: [hall] id = %s: use 1 to 64 letters, digits, '-' or '_'", path,
                 fresh.hall_id);
        goto bad;
    }
    if (clk_source_parse(fresh.clock_start, fresh.clock_rate, fresh.clock_anchor, &fresh.clock, why,
                         sizeof why) < 0) {
        snprintf(err, errlen, "%s: [clock] %s", path, why);
        goto bad;
    }
    if (fresh.idle_timeout_ms <= fresh.heartbeat_interval_ms) {
        snprintf(err, errlen,
                 "%s: [session] idle_timeout must be longer than heartbeat_interval "
                 "(%lld ms <= %lld ms)",
                 path, (long long)fresh.idle_timeout_ms, (long long)fresh.heartbeat_interval_ms);
        goto bad;
    }
    if (fresh.device_answers > fresh.device_requests || fresh.answers > fresh.requests) {
        snprintf(err, errlen,
                 "%s: [retries] requests remembered (device_requests, requests) must be at least "
                 "the answers kept (device_answers, answers)",
                 path);
        goto bad;
    }
    if (fresh.lease_block > fresh.lease_band) {
        snprintf(err, errlen, "%s: [numbering] lease_block (%lld) is larger than lease_band (%lld)",
                 path, (long long)fresh.lease_block, (long long)fresh.lease_band);
        goto bad;
    }
    if ((fresh.web_tls_cert[0] == '\0') != (fresh.web_tls_key[0] == '\0')) {
        snprintf(err, errlen, "%s: [web] tls_cert and tls_key go together: give both or neither",
                 path);
        goto bad;
    }
    if (fresh.web_device[0] == '\0' || strlen(fresh.web_device) > 64 ||
        !conf_word_ok(fresh.web_device, strlen(fresh.web_device), true)) {
        snprintf(err, errlen, "%s: [web] device = %s: use 1 to 64 letters, digits, '-', '_' or '.'",
                 path, fresh.web_device);
        goto bad;
    }
    if (supervise_limits(&fresh, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: [supervise] %s", path, why);
        goto bad;
    }
    if (halld_conf_webhook_ok(fresh.webhook, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: [supervise] webhook = %s: %s", path, fresh.webhook, why);
        goto bad;
    }
    halld_conf_release(c);
    *c = fresh;
    return 0;
bad:
    halld_conf_release(&fresh);
    return -1;
}

void halld_conf_release(struct halld_conf *c)
{
    sv_limits_release(&c->sv);
    conf_release(halld_conf_options, c);
}

int halld_conf_webhook_ok(const char *url, char *err, size_t errlen)
{
    size_t n = strlen(url), scheme;

    if (n == 0)
        return 0;
    scheme = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    if (scheme == 0) {
        snprintf(err, errlen, "a webhook is an http:// or https:// URL");
        return -1;
    }
    if (n > 1000) {
        snprintf(err, errlen, "a webhook URL has at most 1000 bytes");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (url[i] <= ' ' || url[i] > '~') {
            snprintf(err, errlen,
                     "a webhook URL has no spaces, control or non-ASCII characters "
                     "(percent-encode them)");
            return -1;
        }
    if (url[scheme] == '\0' || url[scheme] == '/' || url[scheme] == ':' || url[scheme] == '?') {
        snprintf(err, errlen, "the webhook URL names no host");
        return -1;
    }
    return 0;
}

void halld_conf_policy(const struct halld_conf *c, struct q_policy *p)
{
    *p = (struct q_policy){
        .green_boost_ms = c->green_boost_ms,
        .appointment_boost_ms = c->appointment_boost_ms,
        .appointment_early_ms = c->appointment_early_ms,
        .max_recalls = (uint32_t)c->max_recalls,
        .rejoin_ms = c->rejoin_ms,
        .rejoin_keeps_place = c->rejoin_keeps_place,
        .reserve_ms = c->reserve_ms,
        .carry_over = c->carry_over,
        .rollover_hour = (int)c->rollover_hour,
        .number_digits = (uint32_t)c->number_digits,
        .lease_first = (uint32_t)c->lease_first,
        .lease_band = (uint32_t)c->lease_band,
        .lease_block = (uint32_t)c->lease_block,
        .citizen_limit = (uint32_t)c->citizen_limit,
    };
}

int halld_conf_contact(const struct halld_conf *c, const char *tool_id, halld_contact *out,
                       char *err, size_t errlen)
{
    const char *l = c->listen_address;
    bool any = l[0] == '\0' || strcmp(l, "0.0.0.0") == 0 || strcmp(l, "::") == 0;
    const char *slash = strrchr(c->tls_ca, '/');
    int dirlen = slash ? (int)(slash - c->tls_ca) : 1;
    const char *dir = slash ? c->tls_ca : ".";

    memset(out, 0, sizeof *out);
    snprintf(out->host, sizeof out->host, "%s", any ? "127.0.0.1" : l);
    out->port = (int)c->listen_port;
    if ((size_t)snprintf(out->ca, sizeof out->ca, "%s", c->tls_ca) >= sizeof out->ca ||
        (size_t)snprintf(out->cert, sizeof out->cert, "%.*s/%s.crt", dirlen, dir, tool_id) >=
            sizeof out->cert ||
        (size_t)snprintf(out->key, sizeof out->key, "%.*s/%s.key", dirlen, dir, tool_id) >=
            sizeof out->key) {
        snprintf(err, errlen, "the certificate paths of the hall are too long");
        return -1;
    }
    return 0;
}
