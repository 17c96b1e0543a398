/*
 * syncer — one worker thread that makes committed turns durable while the
 * event loop goes on with the next one.
 *
 * halld commits a turn on the loop thread without syncing the store
 * (hall_commit_unsynced), hands the sync to the syncer and goes on reading
 * and running requests; the answers of the committed turn are released when
 * the syncer reports back, on the loop thread. One sync at a time: turns
 * that run meanwhile pile up in the open transaction and are committed
 * together once the sync in flight is done, so a busy hall writes fewer,
 * fuller commits.
 *
 *            syncer_start()            worker: sync_fn returned
 *   IDLE ------------------> SYNCING ---------------------------> DONE
 *    ^                                                             |
 *    +------------ loop thread: done_fn(arg, err) ----------------+
 *
 * The worker wakes the loop through an eventfd watched by the loop, so a
 * report needs no allocation and cannot be lost.
 */
#ifndef ONEWINDOW_SYNCER_H
#define ONEWINDOW_SYNCER_H

#include <stdbool.h>

#include "ev.h"

typedef struct syncer syncer;

/* Runs on the worker thread: 0, or -1 with errno. */
typedef int syncer_sync_fn(void *arg);
/* Runs on the loop thread once a sync has returned: err is 0 or its errno. */
typedef void syncer_done_fn(void *arg, int err);

/* NULL with errno (thread, eventfd or memory). */
syncer *syncer_new(ev_loop *loop, syncer_sync_fn *sync_fn, syncer_done_fn *done_fn, void *arg);
/* Waits for a sync in flight to return (its done_fn is not called), then
 * stops the thread. NULL is fine. */
void syncer_free(syncer *s);
/* Start one sync. -1/EBUSY while one is in flight or not yet reported. */
int syncer_start(syncer *s);
/* True from syncer_start() until done_fn has been called. */
bool syncer_busy(const syncer *s);

#endif
