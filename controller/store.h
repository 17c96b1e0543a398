/*
 * store — halld's durable state in one SQLite file. This is the only module
 * that includes sqlite3.h.
 *
 * The file is opened in WAL mode with synchronous=FULL: a transaction that
 * has committed survives a power cut. The schema is built by numbered
 * migrations, run in order at open inside one transaction each; the file
 * records the last one applied, and a file written by a newer release
 * (a higher number than this build knows) is refused rather than guessed
 * at. The file also records the hall it belongs to, so a controller
 * configured for one hall never writes into another hall's database.
 *
 * One controller per file: an exclusive advisory lock on "<path>.lock" is
 * held while the store is open, so a second halld started by mistake on the
 * same database stops with a clear message instead of issuing duplicate
 * numbers.
 */
#ifndef ONEWINDOW_STORE_H
#define ONEWINDOW_STORE_H

#include <stddef.h>

typedef struct store store;

/* Open (creating if absent) the database at path for hall_id, migrate it
 * to this build's schema, and take the lock. NULL with a reason in err. */
store *store_open(const char *path, const char *hall_id, char *err, size_t errlen);
void store_close(store *s);

/* The schema version the file is at. */
int store_schema_version(const store *s);

#endif
