/*
 * halld_conf — halld's configuration: every key in one table (see conf.h).
 * The sample file controller/halld.ini and `halld --print-config` are made
 * from the same table.
 */
#ifndef ONEWINDOW_HALLD_CONF_H
#define ONEWINDOW_HALLD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>

#include "clk.h"
#include "conf.h"
#include "supervise.h"

struct halld_conf {
    char *hall_id;   /* short id, names the hall in the city platform */
    char *hall_name; /* shown on tickets and displays */
    char *time_zone;
    int64_t rollover_hour;

    char *clock_start, *clock_rate, *clock_anchor; /* [clock] as written */
    clk_source clock;                              /* ... as halld_conf_load parsed it */

    char *store_path;

    char *listen_address;
    int64_t listen_port;
    int64_t max_connections;
    int64_t max_unauthenticated, max_per_address; /* connections before HELLO */
    int64_t max_frame;

    char *tls_cert;
    char *tls_key;
    char *tls_ca;

    char *privacy_secret;       /* the hall secret: HMAC key of ID numbers */
    char *sealing_key;          /* private key opening kiosks' sealed numbers */
    char *previous_sealing_key; /* the one before the last rotation */

    int64_t heartbeat_interval_ms;
    int64_t idle_timeout_ms;
    int64_t hello_timeout_ms;
    int64_t max_per_device; /* links one device may hold */
    int64_t max_per_tool;   /* links one tool device may hold */

    int64_t green_boost_ms;
    int64_t appointment_boost_ms;
    int64_t appointment_early_ms;
    int64_t max_recalls;
    int64_t rejoin_ms;
    bool rejoin_keeps_place;
    int64_t citizen_limit;
    int64_t reserve_ms;
    bool carry_over;
    bool issue_unstaffed; /* [queue]: issue while no window of the area is open */

    int64_t number_digits;
    int64_t lease_first;
    int64_t lease_band;
    int64_t lease_block;

    int64_t answers, answer_mib; /* [retries]: kept answers, in all */
    int64_t device_answers, device_answer_mib;
    int64_t device_requests, requests; /* answers + dropped ones */

    char *audit_key;            /* [audit] key: the hall audit key (anchor.h) */
    int64_t anchor_interval_ms; /* [audit] anchor_interval */

    /* [web]: hallweb */
    char *web_address;
    int64_t web_port;
    char *web_tls_cert, *web_tls_key;
    char *web_device;
    int64_t web_threads, web_max_connections, web_max_sessions;
    int64_t web_session_idle_ms, web_session_max_ms;
    int64_t web_account_failures, web_address_failures, web_lockout_ms;

    /* [supervise] (docs/supervision.md): one "WARN CRITICAL" per rule, in
     * sv_rule order, the per-area and per-window overrides, the webhook;
     * checked and parsed by halld_conf_load into sv. */
    char *sv_rule_text[SV_RULES];
    char *sv_overrides;
    sv_limits sv;
    char *webhook;               /* "" or an http(s) URL */
    int64_t webhook_max_pending; /* deliveries waiting, at most */
    int64_t webhook_max_body;    /* bytes of one delivery's JSON */
    int64_t webhook_give_up_ms;  /* a delivery older than this is given up */
    int64_t webhook_timeout_ms;  /* one POST */

    int log_level; /* enum log_level */
    bool log_syslog;
    int64_t log_device_lines; /* a minute, per device */
};

extern const conf_option halld_conf_options[];

/* How a tool on the controller's machine reaches halld: the listen address
 * (a wildcard listener is reached on loopback) and port, and the bundle of
 * tool device tool_id, which hallctl keeps next to the hall CA
 * (pki/<tool_id>.crt and .key). */
typedef struct halld_contact {
    char host[256];
    int port; /* 0: halld picks its port, the caller must be told it */
    char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
} halld_contact;
int halld_conf_contact(const struct halld_conf *c, const char *tool_id, halld_contact *out,
                       char *err, size_t errlen);

/* The queue engine's policy from a configuration. */
struct q_policy;
void halld_conf_policy(const struct halld_conf *c, struct q_policy *p);

/* Load path into c (all or nothing) and check what the table cannot
 * express (the idle timeout must exceed the heartbeat interval...).
 * -1 with a one-line reason in err. */
int halld_conf_load(struct halld_conf *c, const char *path, char *err, size_t errlen);
void halld_conf_release(struct halld_conf *c);

/* Whether url is a webhook halld can post to: http:// or https://, a
 * host, at most 1000 bytes of printable ASCII. -1 with a reason. */
int halld_conf_webhook_ok(const char *url, char *err, size_t errlen);

#endif
