/*
 * target_halld — halld as a target of `hallbench load` (the table
 * target_halld is declared in target.h), and how every hallbench command
 * that talks to halld finds it and who it is there.
 *
 * hallbench connects as the hall's TOOL device "hallctl" (a tool may issue
 * and act for any window): with the certificate and key that `hallctl
 * init` put next to the hall CA (the [tls] ca of halld.ini), or over plain
 * TCP to a halld started with --dev-plaintext.
 */
#ifndef ONEWINDOW_TARGET_HALLD_H
#define ONEWINDOW_TARGET_HALLD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target.h"

/* The device id hallbench uses. */
#define TARGET_HALLD_DEVICE "hallctl"
/* How long one request may wait for its answer. */
#define TARGET_HALLD_TIMEOUT_MS 30000

typedef struct target_halld_addr {
    char host[256];
    int port;
    bool plain;
    char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX]; /* "" when plain */
} target_halld_addr;

/* Where halld listens (config's [listen], or server "HOST:PORT") and the
 * tool's certificate bundle (from config's [tls] ca directory). config may
 * be NULL only with plain and server. -1 with a reason in err. */
int target_halld_resolve(const char *config, const char *server, bool plain, target_halld_addr *a,
                         char *err, size_t errlen);

/* The first request id for link number slot (0 .. 17999) of this process.
 * Request ids must not repeat for a device within a day, and every link of
 * hallbench is the same device: each slot gets its own range, and each
 * run starts its ranges from the clock, so runs never reuse ids either. */
uint64_t target_halld_first_id(unsigned slot);
#define TARGET_HALLD_MAX_SLOT 17999

/* The name of a Hall__ErrorCode ("ERR_QUEUE_EMPTY"), "ERR_UNKNOWN" if none. */
const char *target_halld_error_name(int code);

#endif
