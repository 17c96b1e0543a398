/*
 * crashvfs — a SQLite VFS for power-loss tests, after SQLite's own crash
 * tests (src/test6.c): it keeps what the process writes in a model of the
 * operating system's page cache and lets the test cut the power.
 *
 * It wraps the "unix" VFS. Once crashvfs_register() made it the default,
 * every connection the process opens without naming a VFS uses it, so the
 * code under test (store_open, kstore_open) needs no change.
 *
 * The model. Writes to database, WAL and journal files go into an overlay
 * per file, 512-byte sector by sector, shared by every handle on the file
 * (the page cache is the kernel's, not the handle's); reads and the file
 * size see it, so the process sees its own writes. A truncation waits in
 * the overlay too. Only xSync moves a file's overlay to the real file:
 * data that was synced survives a power cut, data that was not may not.
 * Closing a file does not flush it. The real fsync is not called: what is
 * tested is how SQLite and its users sync, not the disk. Other files
 * (temporary databases, subjournals) go straight to the wrapped VFS, and
 * so does shared memory (the wal-index). Memory maps are not offered
 * (xFetch answers "no mapping"), so every read sees the overlay.
 *
 * States:
 *
 *        crashvfs_arm()            cut point reached
 *   PASS ---------------> ARMED -------------------> CUT
 *     ^                     |                         |
 *     +---------------------+-------------------------+
 *                 crashvfs_power_cut()
 *
 *   PASS   writes go straight to the real file (set-up, reopening, checks)
 *   ARMED  writes wait in the overlay until their file is synced; every
 *          write, truncate and sync of a database, WAL or journal file is
 *          one operation, counted from 1 after arming
 *   CUT    the operation numbered cut_at did not happen, and it and every
 *          later read, write, truncate, sync, size query, open and delete
 *          fail with an SQLITE_IOERR code, as if the process had died
 *
 * crashvfs_power_cut(), called once the caller has closed every
 * connection, drops what was never synced (CRASHVFS_LOSE_ALL), or keeps
 * each unsynced sector or not at random (CRASHVFS_LOSE_SOME; a file grows
 * only by a prefix of its new sectors, so no byte appears that nobody
 * wrote), removes the "-shm" files of the databases (the wal-index is
 * memory, and a power cut loses it), and returns to PASS.
 *
 * Not modelled: directory entries (a file created or deleted is so at
 * once and durably); any tie between files (each file's unsynced sectors
 * are kept or lost on their own, and a sync makes only its own file
 * durable, where test6.c's disk also writes back earlier writes to other
 * files); a disk that lies about syncing, or tears or garbles a sector.
 *
 * One thread at a time: the state is global and unlocked, as are the
 * tests that use it.
 */
#ifndef ONEWINDOW_CRASHVFS_H
#define ONEWINDOW_CRASHVFS_H

#include <stdbool.h>
#include <stdint.h>

/* What the power cut does to data that was written but never synced. */
typedef enum crashvfs_loss {
    CRASHVFS_LOSE_ALL,  /* all of it is lost */
    CRASHVFS_LOSE_SOME, /* each sector lost or kept, from the seed */
} crashvfs_loss;

/* Failures without a crash (crashvfs_fail). */
typedef enum crashvfs_fault {
    CRASHVFS_WRITE_FULL,  /* a write answers SQLITE_FULL (disk full) */
    CRASHVFS_WRITE_IOERR, /* a write answers SQLITE_IOERR_WRITE */
    CRASHVFS_SYNC_IOERR,  /* a sync answers SQLITE_IOERR_FSYNC */
} crashvfs_fault;

/* Operations on database, WAL and journal files since the last
 * crashvfs_arm() (or registration), and what the last power cut did. */
typedef struct crashvfs_counters {
    uint64_t ops;                        /* writes + truncates + syncs */
    uint64_t writes;                     /* of these, writes */
    uint64_t syncs;                      /* of these, syncs */
    uint64_t lost_sectors, kept_sectors; /* unsynced sectors at the last power cut */
} crashvfs_counters;

/* Make crashvfs the process's default VFS, in state PASS. Idempotent.
 * 0, or -1 if SQLite has no "unix" VFS to wrap. */
int crashvfs_register(void);

/* PASS -> ARMED, counters reset. The cut_at-th operation from now cuts
 * the power (0: never; the caller still ends with crashvfs_power_cut()).
 * seed drives CRASHVFS_LOSE_SOME. Arming again while ARMED moves the cut
 * point and resets the counters, keeping the overlays. -1 with errno
 * EBUSY after the cut (crashvfs_power_cut() first). */
int crashvfs_arm(uint64_t cut_at, crashvfs_loss loss, uint64_t seed);

/* True once the cut point was reached (state CUT). */
bool crashvfs_is_cut(void);

/* The power cut (see above); works from ARMED too, where it is a cut
 * between two operations. Back to PASS. -1 with errno EBUSY if a file is
 * still open (nothing is done), or with the errno of writing the real
 * files (the state is then PASS, the files in an unknown state). */
int crashvfs_power_cut(void);

/* The next count operations of that kind (writes or syncs) on database,
 * WAL or journal files fail with its code, then they work again; 0
 * cancels. A failed write changes nothing. A failed sync makes nothing
 * durable while ARMED: the data stays unsynced until a later sync, as
 * after a real fsync error it may or may not be on the disk. In PASS the
 * data was written through, so a failed sync only reports the failure.
 * Failing operations are counted; after the cut every operation fails
 * with the cut's code instead. */
void crashvfs_fail(crashvfs_fault kind, unsigned count);

void crashvfs_counters_get(crashvfs_counters *out);

#endif
