/*
 * kiosk — the kiosk object: its devices (ticket printer, ID card reader),
 * the citizen's flow (kflow), the link to halld (klink), the durable
 * state (kstore) and, when [bus] is enabled, the bus master role (kbus),
 * wired together on one event loop. kioskd.c makes one;
 * the integration tests make one in process.
 *
 * It carries out the flow's commands: an ISSUE to halld or a number from
 * the offline lease, the ticket's bytes to the printer, PRINTED or VOID to
 * halld (through the store, so a restart sends them again). It keeps
 * leases for every area while online, uploads offline tickets in order
 * when the link is back, and follows the printer's and reader's health: a
 * kiosk that cannot print shows it and takes no ticket.
 *
 * halld has the last word on every printed ticket: a refusal that may go
 * away is sent again later, a final one ends the ticket's row and, for a
 * ticket the citizen holds, shows in the device health halld passes on to
 * the hall's staff. The kiosk works on halld's clock (an offset measured
 * on every link and kept in the store) wherever it compares with or
 * stamps halld's times, and reports a clock too far off. The store is
 * pruned of finished rows at start and daily.
 *
 * For the touch page (kpage) it offers the screen model as JSON, the
 * citizen's actions, and a change hook; docs/kiosk.md has the model.
 *
 * The kiosk logs what a hall's staff need to know (device health, the
 * link, refused requests) through common/log.h, as the daemon it belongs
 * to; it never exits or prints otherwise.
 */
#ifndef ONEWINDOW_KIOSK_H
#define ONEWINDOW_KIOSK_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "ev.h"
#include "kiosk_conf.h"
#include "kstore.h"
#include "printer.h"
#include "reader.h"

typedef struct kiosk kiosk;

/* Called (on the loop's thread) after the screen model changed. */
typedef void kiosk_change_fn(void *arg);

/* Open the store, the devices and the link; conf must outlive the kiosk.
 * A printer that cannot be opened is not fatal (the screen says so and the
 * kiosk tries again every few seconds), nor is a card reader (tickets are
 * then taken by touch only); a store that cannot be opened, a time zone
 * that cannot be loaded or a TLS bundle that cannot be read is. NULL with a
 * sentence in err. */
kiosk *kiosk_new(ev_loop *loop, const kiosk_conf *conf, char *err, size_t errlen);
/* Close everything: a print job in flight finishes or is recorded as
 * voided, the store is closed. NULL is fine. Not from a kiosk callback. */
void kiosk_free(kiosk *k);

/* Append the screen model (a JSON object, docs/kiosk.md) to out. 0 or -1
 * with errno ENOMEM/ENOBUFS. */
int kiosk_state_json(kiosk *k, buf *out);
/* The SVG of the QR code of the ticket shown (its [printer] ticket_url
 * payload, as printed). -1 with errno ENOENT when no ticket with a QR code
 * is shown. */
int kiosk_ticket_qr_svg(kiosk *k, buf *out);
/* A citizen's action from the page (start, take, card, appointment, back,
 * done; area, green, mine, cancel, rejoin: the citizen's screens,
 * docs/kiosk.md). 0 when accepted (or ignored: a double tap), -1 with the
 * sentence to show in err. */
int kiosk_action(kiosk *k, const char *name, const char *param, char *err, size_t errlen);
/* The hook the page wiring sets (fn NULL: none). */
void kiosk_set_change_hook(kiosk *k, kiosk_change_fn *fn, void *arg);

/* Stop taking tickets (the screen says the kiosk is closed) before a
 * shutdown; kiosk_idle() then tells when nothing is left in flight (no
 * print job, no unanswered request) so the loop can stop. */
void kiosk_shutdown(kiosk *k);
bool kiosk_idle(const kiosk *k);

/* For tests and the simulated hall: the devices and the store (NULL when
 * not open), and whether the link is up. */
printer *kiosk_printer(kiosk *k);
reader *kiosk_reader(kiosk *k);
kstore *kiosk_store(kiosk *k);
bool kiosk_online(const kiosk *k);

#endif
