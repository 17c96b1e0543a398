/*
 * estimate — the estimated wait of a ticket, and of a new ticket in an
 * area, from the queue engine's state: the tickets ahead, the windows open
 * for the area and what each is doing, and the area's recent service
 * times. Pure: reads the engine, changes nothing, no I/O.
 *
 * The model (docs/estimate.md): every open window serving the area is a
 * server that becomes free after the rest of its current visit (a visit
 * already longer than the mean is taken to end soon, not at once) and
 * after the visits it owes other areas first: a window serving several
 * areas calls by weighted waiting time, so it serves the other areas'
 * tickets that have waited longer, in the share of those areas' open
 * windows it is. Then the windows call the tickets ahead one by one, each
 * visit the area's mean service time plus the walk from the seat to the
 * window, and the ticket is called when a window is free after the last
 * of them: the estimate is the time of that call.
 */
#ifndef ONEWINDOW_ESTIMATE_H
#define ONEWINDOW_ESTIMATE_H

#include <stdint.h>

#include "queue.h"

/* The estimated wait, ms from now, of WAITING or RESERVED ticket id; -1
 * for a ticket in another state or unknown. */
int64_t est_ticket_wait(const queue *q, uint64_t id, int64_t now);
/* The estimated wait, ms, of an ordinary ticket that area would issue now;
 * -1 for an unknown area. */
int64_t est_area_wait(const queue *q, const char *area, int64_t now);
/* An estimate as the wire's est_wait_s: whole seconds, rounded, 0 for -1,
 * at most UINT32_MAX. */
uint32_t est_seconds(int64_t ms);

#endif
