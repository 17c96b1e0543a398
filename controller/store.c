/*
 * store — see store.h. The file has four parts:
 *
 *   1. the schema: numbered migrations, and every statement the store runs
 *      (prepared once at open, in one table indexed by enum stmt_id);
 *   2. opening: lock file, WAL, busy timeout, migrations, the hall id (a
 *      reader only checks the version and the hall id);
 *   3. transactions and the event chain (hash, cached head);
 *   4. the readers and writers of each table, in store.h's order.
 *
 * Migration N brings the schema from version N-1 to N. Never edit a
 * migration that has shipped: add a new one.
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "dbfile.h"

#define BUSY_TIMEOUT_MS 5000
#define HASH_LEN        32

/* ==== 1. Schema and statements ============================================ */

static const char *const migrations[] = {
    /* 1: the hall this file belongs to, and free-form settings. */
    "CREATE TABLE settings (\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ") STRICT;\n",

    /* 2: the catalog, the registry, the queue's journal, the audit chain. */
    "CREATE TABLE areas (\n"
    "  code     TEXT PRIMARY KEY CHECK (length(code) BETWEEN 1 AND 15),\n"
    "  name     TEXT NOT NULL CHECK (name <> ''),\n"
    "  prefix   TEXT NOT NULL UNIQUE CHECK (length(prefix) BETWEEN 1 AND 3),\n"
    "  general  INTEGER NOT NULL CHECK (general IN (0, 1)),\n"
    "  position INTEGER NOT NULL\n"
    ") STRICT;\n"
    /* At most one general intake area, whatever writes the table. */
    "CREATE UNIQUE INDEX areas_one_general ON areas(general) WHERE general = 1;\n"

    "CREATE TABLE matters (\n"
    "  code          TEXT PRIMARY KEY CHECK (length(code) BETWEEN 1 AND 15),\n"
    "  area          TEXT NOT NULL REFERENCES areas(code),\n"
    "  name          TEXT NOT NULL CHECK (name <> ''),\n"
    "  conditions    TEXT NOT NULL,\n"
    "  materials     TEXT NOT NULL,\n"
    "  sample        TEXT NOT NULL,\n"
    "  review_points TEXT NOT NULL,\n"
    "  in_one_window INTEGER NOT NULL CHECK (in_one_window IN (0, 1)),\n"
    "  online_doable INTEGER NOT NULL CHECK (online_doable IN (0, 1)),\n"
    "  position      INTEGER NOT NULL\n"
    ") STRICT;\n"
    "CREATE INDEX matters_area ON matters(area);\n"

    "CREATE TABLE windows (\n"
    "  no             INTEGER PRIMARY KEY CHECK (no > 0),\n"
    "  name           TEXT NOT NULL CHECK (name <> ''),\n"
    "  type           INTEGER NOT NULL CHECK (type BETWEEN 1 AND 5),\n"
    "  state          INTEGER NOT NULL DEFAULT 1 CHECK (state BETWEEN 1 AND 3),\n"
    "  clerk          TEXT NOT NULL DEFAULT '',\n"
    "  current_ticket INTEGER NOT NULL DEFAULT 0 CHECK (current_ticket >= 0)\n"
    ") STRICT;\n"
    "CREATE TABLE window_areas (\n"
    "  window_no INTEGER NOT NULL REFERENCES windows(no) ON DELETE CASCADE,\n"
    "  area      TEXT NOT NULL REFERENCES areas(code),\n"
    "  weight    INTEGER NOT NULL CHECK (weight >= 1),\n"
    "  position  INTEGER NOT NULL,\n"
    "  PRIMARY KEY (window_no, area)\n"
    ") STRICT, WITHOUT ROWID;\n"
    "CREATE INDEX window_areas_area ON window_areas(area);\n"

    "CREATE TABLE clerks (\n"
    "  id     TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 31),\n"
    "  name   TEXT NOT NULL CHECK (name <> ''),\n"
    "  active INTEGER NOT NULL CHECK (active IN (0, 1))\n"
    ") STRICT;\n"

    "CREATE TABLE devices (\n"
    "  id        TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),\n"
    "  type      INTEGER NOT NULL CHECK (type BETWEEN 1 AND 4),\n"
    "  window_no INTEGER NOT NULL DEFAULT 0 CHECK (window_no >= 0),\n"
    "  revoked   INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),\n"
    "  added_ms  INTEGER NOT NULL\n"
    ") STRICT;\n"

    "CREATE TABLE tickets (\n"
    "  id                INTEGER PRIMARY KEY CHECK (id > 0),\n"
    "  number            TEXT NOT NULL CHECK (length(number) BETWEEN 1 AND 15),\n"
    "  day               INTEGER NOT NULL,\n"
    "  seq               INTEGER NOT NULL CHECK (seq >= 0),\n"
    "  area              TEXT NOT NULL,\n"
    "  matter            TEXT NOT NULL,\n"
    "  state             INTEGER NOT NULL CHECK (state BETWEEN 1 AND 9),\n"
    "  priority          INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 2),\n"
    "  issued_ms         INTEGER NOT NULL,\n"
    "  state_ms          INTEGER NOT NULL,\n"
    "  reserved_until_ms INTEGER NOT NULL,\n"
    "  appointment_ms    INTEGER NOT NULL,\n"
    "  window_no         INTEGER NOT NULL CHECK (window_no >= 0),\n"
    "  target_window     INTEGER NOT NULL CHECK (target_window >= 0),\n"
    "  recalls           INTEGER NOT NULL CHECK (recalls >= 0),\n"
    "  offline           INTEGER NOT NULL CHECK (offline IN (0, 1)),\n"
    "  kiosk             TEXT NOT NULL,\n"
    "  masked_name       TEXT NOT NULL,\n"
    "  citizen_hash      BLOB CHECK (citizen_hash IS NULL OR length(citizen_hash) = 32),\n"
    "  UNIQUE (day, area, number)\n"
    ") STRICT;\n"
    /* Live states: RESERVED, WAITING, CALLED, SERVING, NO_SHOW, HOLD. */
    "CREATE INDEX tickets_live ON tickets(state) WHERE state IN (1, 2, 3, 4, 6, 7);\n"
    "CREATE INDEX tickets_day ON tickets(day);\n"

    "CREATE TABLE events (\n"
    "  seq       INTEGER PRIMARY KEY CHECK (seq > 0),\n"
    "  at_ms     INTEGER NOT NULL,\n"
    "  day       INTEGER NOT NULL,\n"
    "  kind      INTEGER NOT NULL,\n"
    "  ticket_id INTEGER NOT NULL,\n"
    "  window_no INTEGER NOT NULL,\n"
    "  clerk     TEXT NOT NULL,\n"
    "  detail    TEXT NOT NULL,\n"
    "  device    TEXT NOT NULL,\n"
    "  prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),\n"
    "  hash      BLOB NOT NULL CHECK (length(hash) = 32)\n"
    ") STRICT;\n"
    "CREATE INDEX events_ticket ON events(ticket_id) WHERE ticket_id <> 0;\n"
    "CREATE INDEX events_day ON events(day);\n"
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events\n"
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;\n"
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events\n"
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;\n"
    "CREATE TRIGGER events_no_replace BEFORE INSERT ON events\n"
    "WHEN EXISTS (SELECT 1 FROM events WHERE seq = NEW.seq)\n"
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;\n"

    "CREATE TABLE leases (\n"
    "  id         INTEGER PRIMARY KEY CHECK (id > 0),\n"
    "  kiosk      TEXT NOT NULL,\n"
    "  area       TEXT NOT NULL,\n"
    "  day        INTEGER NOT NULL,\n"
    "  first      INTEGER NOT NULL CHECK (first > 0),\n"
    "  count      INTEGER NOT NULL CHECK (count > 0),\n"
    "  granted_ms INTEGER NOT NULL,\n"
    "  UNIQUE (day, area, first)\n"
    ") STRICT;\n"
    "CREATE INDEX leases_day ON leases(day);\n"

    "CREATE TABLE requests (\n"
    "  device     TEXT NOT NULL,\n"
    "  request_id INTEGER NOT NULL,\n"
    "  at_ms      INTEGER NOT NULL,\n"
    "  reply      BLOB NOT NULL,\n"
    "  PRIMARY KEY (device, request_id)\n"
    ") STRICT, WITHOUT ROWID;\n"
    "CREATE INDEX requests_at ON requests(at_ms);\n"

    "CREATE TABLE appointments (\n"
    "  code         TEXT PRIMARY KEY CHECK (length(code) BETWEEN 1 AND 31),\n"
    "  area         TEXT NOT NULL,\n"
    "  slot_ms      INTEGER NOT NULL,\n"
    "  masked_name  TEXT NOT NULL,\n"
    "  citizen_hash BLOB CHECK (citizen_hash IS NULL OR length(citizen_hash) = 32),\n"
    "  state        INTEGER NOT NULL CHECK (state IN (1, 2)),\n"
    "  ticket_id    INTEGER NOT NULL,\n"
    "  CHECK ((state = 1 AND ticket_id = 0) OR (state = 2 AND ticket_id > 0))\n"
    ") STRICT;\n"
    "CREATE INDEX appointments_slot ON appointments(slot_ms);\n",

    /* 3: ratings (好差评): the window that served a ticket, and its rating. */
    "ALTER TABLE tickets ADD COLUMN served_window INTEGER NOT NULL DEFAULT 0\n"
    "  CHECK (served_window >= 0);\n"
    "ALTER TABLE tickets ADD COLUMN rating INTEGER NOT NULL DEFAULT 0\n"
    "  CHECK (rating BETWEEN 0 AND 5);\n"
    "ALTER TABLE tickets ADD COLUMN rated_ms INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE INDEX tickets_rated ON tickets(day, served_window) WHERE rating > 0;\n",

    /* 4: a reservation that ran out is told from a voided one (a late
     * PRINTED revives it); areas and matters that leave the catalog are
     * retired, not deleted (their prefix is free again for a new area);
     * kept answers carry a digest of their request and may be dropped
     * past a cap (reply NULL); an appointment released by its ticket's
     * void remembers that ticket. The areas and requests tables are
     * rebuilt, as SQLite's documentation says to change constraints
     * (migrations run with foreign keys off): matters and window_areas
     * name "areas", which the new table is once renamed. */
    "ALTER TABLE tickets ADD COLUMN expired INTEGER NOT NULL DEFAULT 0\n"
    "  CHECK (expired IN (0, 1));\n"
    "CREATE TABLE areas_v4 (\n"
    "  code     TEXT PRIMARY KEY CHECK (length(code) BETWEEN 1 AND 15),\n"
    "  name     TEXT NOT NULL CHECK (name <> ''),\n"
    "  prefix   TEXT NOT NULL CHECK (length(prefix) BETWEEN 1 AND 3),\n"
    "  general  INTEGER NOT NULL CHECK (general IN (0, 1)),\n"
    "  position INTEGER NOT NULL,\n"
    "  retired  INTEGER NOT NULL DEFAULT 0 CHECK (retired IN (0, 1))\n"
    ") STRICT;\n"
    "INSERT INTO areas_v4(code, name, prefix, general, position)\n"
    "  SELECT code, name, prefix, general, position FROM areas;\n"
    "DROP TABLE areas;\n"
    "ALTER TABLE areas_v4 RENAME TO areas;\n"
    "CREATE UNIQUE INDEX areas_prefix ON areas(prefix) WHERE retired = 0;\n"
    "CREATE UNIQUE INDEX areas_one_general ON areas(general) WHERE general = 1 AND retired = 0;\n"
    "ALTER TABLE matters ADD COLUMN retired INTEGER NOT NULL DEFAULT 0\n"
    "  CHECK (retired IN (0, 1));\n"
    "CREATE TABLE requests_v4 (\n"
    "  device     TEXT NOT NULL,\n"
    "  request_id INTEGER NOT NULL,\n"
    "  at_ms      INTEGER NOT NULL,\n"
    "  digest     BLOB CHECK (digest IS NULL OR length(digest) = 16),\n"
    "  reply      BLOB,\n"
    "  PRIMARY KEY (device, request_id)\n"
    ") STRICT, WITHOUT ROWID;\n"
    "INSERT INTO requests_v4(device, request_id, at_ms, reply)\n"
    "  SELECT device, request_id, at_ms, reply FROM requests;\n"
    "DROP TABLE requests;\n"
    "ALTER TABLE requests_v4 RENAME TO requests;\n"
    "CREATE INDEX requests_at ON requests(at_ms);\n"
    "ALTER TABLE appointments ADD COLUMN released_ticket INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE INDEX appointments_released ON appointments(released_ticket)\n"
    "  WHERE released_ticket <> 0;\n",

    /* 5: fewer pages written per commit. Kept answers in the order they
     * were kept (a rowid table: a commit appends to its last page, where
     * the table keyed by device wrote one page per device in the turn);
     * retries are answered from memory, so the store needs no key index,
     * and a dropped answer is found by its row id. Indexes that no query
     * of halld uses leave the hot tables (tickets_day: the
     * UNIQUE(day, area, number) index serves "day >= ?"; events_day and
     * events_ticket), and tickets_live is keyed by id, so a change from
     * one live state to another rewrites its entry in place instead of
     * moving it to another page. Its condition names the live states by
     * ranges: an IN list of more than two values makes SQLite build a
     * temporary B-tree to test it, at every write of a ticket row. */
    "CREATE TABLE requests_v5 (\n"
    "  id         INTEGER PRIMARY KEY,\n"
    "  device     TEXT NOT NULL,\n"
    "  request_id INTEGER NOT NULL,\n"
    "  at_ms      INTEGER NOT NULL,\n"
    "  digest     BLOB CHECK (digest IS NULL OR length(digest) = 16),\n"
    "  reply      BLOB\n"
    ") STRICT;\n"
    "INSERT INTO requests_v5(device, request_id, at_ms, digest, reply)\n"
    "  SELECT device, request_id, at_ms, digest, reply FROM requests\n"
    "  ORDER BY at_ms, device, request_id;\n"
    "DROP TABLE requests;\n"
    "ALTER TABLE requests_v5 RENAME TO requests;\n"
    "CREATE INDEX requests_at ON requests(at_ms);\n"
    "DROP INDEX tickets_day;\n"
    "DROP INDEX events_day;\n"
    "DROP INDEX events_ticket;\n"
    "DROP INDEX tickets_live;\n"
    "CREATE INDEX tickets_live ON tickets(id)\n"
    "  WHERE state BETWEEN 1 AND 4 OR state BETWEEN 6 AND 7;\n",

    /* 6: no index on the kept answers' time, which cost every request an
     * index entry and a commit a page. They are appended in the order
     * kept, so those older than a time are the first rows: loading and
     * pruning walk the table from its start to the first row that is
     * recent enough. */
    "DROP INDEX requests_at;\n",

    /* 7: the people who sign in to the hall's web pages (store.h). A user
     * of role clerk names its clerk, a user of any other role none. The
     * name is spelled as store_user_name_valid() says, whatever writes
     * the table. */
    "CREATE TABLE users (\n"
    "  name          TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 32\n"
    "                  AND name GLOB '[a-z]*' AND name NOT GLOB '*[^a-z0-9._-]*'),\n"
    "  display_name  TEXT NOT NULL CHECK (display_name <> ''),\n"
    "  role          TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'clerk', 'reviewer',\n"
    "                  'consult', 'auditor')),\n"
    "  clerk_id      TEXT REFERENCES clerks(id),\n"
    "  pwhash        TEXT NOT NULL CHECK (pwhash <> ''),\n"
    "  disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),\n"
    "  session_epoch INTEGER NOT NULL DEFAULT 0 CHECK (session_epoch >= 0),\n"
    "  created_ms    INTEGER NOT NULL,\n"
    "  changed_ms    INTEGER NOT NULL,\n"
    "  CHECK ((role = 'clerk') = (clerk_id IS NOT NULL))\n"
    ") STRICT;\n"
    "CREATE INDEX users_clerk ON users(clerk_id);\n"
    /* ... and the device they sign in through: type 5, a web gateway
     * (SQLite cannot change a CHECK, so the table is built again). */
    "CREATE TABLE devices_new (\n"
    "  id        TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),\n"
    "  type      INTEGER NOT NULL CHECK (type BETWEEN 1 AND 5),\n"
    "  window_no INTEGER NOT NULL DEFAULT 0 CHECK (window_no >= 0),\n"
    "  revoked   INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),\n"
    "  added_ms  INTEGER NOT NULL\n"
    ") STRICT;\n"
    "INSERT INTO devices_new SELECT id, type, window_no, revoked, added_ms FROM devices;\n"
    "DROP TABLE devices;\n"
    "ALTER TABLE devices_new RENAME TO devices;\n",

    /* 8: a transfer's note for the next window (Transfer.note), kept
     * with the ticket; "" for none. */
    "ALTER TABLE tickets ADD COLUMN note TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 120);\n",

    /* 9: English names of areas and matters from the catalog (optional:
     * "" when the catalog gives none), for the kiosk's English screen. */
    "ALTER TABLE areas ADD COLUMN name_en TEXT NOT NULL DEFAULT '';\n"
    "ALTER TABLE matters ADD COLUMN name_en TEXT NOT NULL DEFAULT '';\n",

    /* 10: the hall calendar (calendar.h): weekly hours per weekday for the
     * hall (area '') or one area, in minutes after local midnight; dated
     * exceptions (kind 1 a holiday, 2 a swapped working day with the hours
     * of weekday as_wday); areas' own settings (always open; issue while no
     * window is open: 0 the hall's default, 1 yes, 2 no). No hours at all:
     * every area is open at all hours. */
    "CREATE TABLE calendar_hours (\n"
    "  area        TEXT NOT NULL CHECK (length(area) <= 15),\n"
    "  wday        INTEGER NOT NULL CHECK (wday BETWEEN 0 AND 6),\n"
    "  open_min    INTEGER NOT NULL CHECK (open_min BETWEEN 0 AND 1439),\n"
    "  lunch_start INTEGER NOT NULL CHECK (lunch_start BETWEEN 0 AND 1440),\n"
    "  lunch_end   INTEGER NOT NULL CHECK (lunch_end BETWEEN lunch_start AND 1440),\n"
    "  close_min   INTEGER NOT NULL CHECK (close_min BETWEEN open_min + 1 AND 1440),\n"
    "  last_min    INTEGER NOT NULL CHECK (last_min BETWEEN open_min + 1 AND close_min),\n"
    "  PRIMARY KEY (area, wday)\n"
    ") STRICT;\n"
    "CREATE TABLE calendar_dates (\n"
    "  day     INTEGER PRIMARY KEY CHECK (day BETWEEN 19700101 AND 99991231),\n"
    "  kind    INTEGER NOT NULL CHECK (kind IN (1, 2)),\n"
    "  as_wday INTEGER NOT NULL DEFAULT 0 CHECK (as_wday BETWEEN 0 AND 6),\n"
    "  name    TEXT NOT NULL DEFAULT '' CHECK (length(name) <= 63)\n"
    ") STRICT;\n"
    "CREATE TABLE calendar_areas (\n"
    "  area        TEXT PRIMARY KEY CHECK (length(area) BETWEEN 1 AND 15),\n"
    "  always_open INTEGER NOT NULL CHECK (always_open IN (0, 1)),\n"
    "  unstaffed   INTEGER NOT NULL CHECK (unstaffed BETWEEN 0 AND 2)\n"
    ") STRICT;\n",

    /* 11: clerks sign in at call-pads with a PIN, kept only as a pwhash.h
     * hash ('' for none: such a clerk cannot sign in at a pad); a ticket
     * remembers it was transferred (the pad's 转办 mark). */
    "ALTER TABLE clerks ADD COLUMN pin_hash TEXT NOT NULL DEFAULT '' "
    "CHECK (length(pin_hash) <= 200);\n"
    "ALTER TABLE tickets ADD COLUMN transferred INTEGER NOT NULL DEFAULT 0 "
    "CHECK (transferred IN (0, 1));\n",

    /* 12 (M1 supervise): alerts of the supervision rules (supervise.h), one
     * open alert per rule and subject; the webhook deliveries waiting to
     * be sent, written in the transaction of the alert's change. */
    "CREATE TABLE alerts (\n"
    "  id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 95),\n"
    "  seq INTEGER NOT NULL UNIQUE,\n"
    "  rule TEXT NOT NULL CHECK (length(rule) BETWEEN 1 AND 31),\n"
    "  subject TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 95),\n"
    "  level INTEGER NOT NULL CHECK (level IN (1, 2)),\n"
    "  state INTEGER NOT NULL CHECK (state IN (1, 2, 3)),\n"
    "  area TEXT NOT NULL DEFAULT '',\n"
    "  window_no INTEGER NOT NULL DEFAULT 0,\n"
    "  ticket_id INTEGER NOT NULL DEFAULT 0,\n"
    "  device TEXT NOT NULL DEFAULT '',\n"
    "  text_zh TEXT NOT NULL CHECK (length(text_zh) <= 255),\n"
    "  text_en TEXT NOT NULL CHECK (length(text_en) <= 255),\n"
    "  raised_ms INTEGER NOT NULL,\n"
    "  updated_ms INTEGER NOT NULL,\n"
    "  acked_by TEXT NOT NULL DEFAULT '' CHECK (length(acked_by) <= 79),\n"
    "  ack_note TEXT NOT NULL DEFAULT '' CHECK (length(ack_note) <= 255),\n"
    "  resolved_ms INTEGER NOT NULL DEFAULT 0,\n"
    "  resolved_by TEXT NOT NULL DEFAULT '' CHECK (length(resolved_by) <= 79),\n"
    "  resolve_note TEXT NOT NULL DEFAULT '' CHECK (length(resolve_note) <= 255),\n"
    "  changes INTEGER NOT NULL DEFAULT 1\n"
    ") STRICT;\n"
    "CREATE UNIQUE INDEX alerts_open ON alerts(rule, subject) WHERE state IN (1, 2);\n"
    "CREATE INDEX alerts_updated ON alerts(updated_ms);\n"
    "CREATE TABLE webhook_deliveries (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  alert_id TEXT NOT NULL,\n"
    "  change INTEGER NOT NULL,\n"
    "  body TEXT NOT NULL,\n"
    "  created_ms INTEGER NOT NULL\n"
    ") STRICT;\n",
    /* 13 (M1 stats): structured events, so statistics never parse detail
     * (queue.h's q_event): the ticket's area and matter, a duration, the
     * rating level and a reason code; chain says how the row is hashed
     * (store.h): 0 for the rows written before (their hashes stay as they
     * were), 1 for rows that cover the new columns. The old rows' new
     * columns are filled from the tickets and the events themselves
     * (area and matter: the ticket's last ones; the wait: from the
     * ticket's issue time), with the update trigger lifted for this
     * migration only. The look-ups go through temporary tables keyed by
     * ticket, as the log has no index on its tickets. */
    "ALTER TABLE events ADD COLUMN area TEXT NOT NULL DEFAULT '' CHECK (length(area) <= 15);\n"
    "ALTER TABLE events ADD COLUMN matter TEXT NOT NULL DEFAULT '' CHECK (length(matter) <= 15);\n"
    "ALTER TABLE events ADD COLUMN duration_ms INTEGER NOT NULL DEFAULT 0 "
    "CHECK (duration_ms >= 0);\n"
    "ALTER TABLE events ADD COLUMN rating INTEGER NOT NULL DEFAULT 0 "
    "CHECK (rating BETWEEN 0 AND 5);\n"
    "ALTER TABLE events ADD COLUMN reason TEXT NOT NULL DEFAULT '' CHECK (length(reason) <= 31);\n"
    "ALTER TABLE events ADD COLUMN chain INTEGER NOT NULL DEFAULT 0 CHECK (chain IN (0, 1));\n"
    "CREATE TEMP TABLE m13_first (ticket_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL);\n"
    "INSERT INTO m13_first SELECT ticket_id, min(seq) FROM events WHERE kind = 5 "
    "GROUP BY ticket_id;\n"
    "CREATE TEMP TABLE m13_start (ticket_id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);\n"
    /* A finished ticket is final: its last start is the one before. */
    "INSERT INTO m13_start SELECT ticket_id, at_ms FROM\n"
    "  (SELECT ticket_id, at_ms, max(seq) FROM events WHERE kind = 9 GROUP BY ticket_id);\n"
    "DROP TRIGGER events_no_update;\n"
    /* One pass over the log (a SET reads the row as it was). */
    "UPDATE events SET\n"
    "  area = coalesce((SELECT area FROM tickets WHERE id = events.ticket_id), ''),\n"
    "  matter = coalesce((SELECT matter FROM tickets WHERE id = events.ticket_id), ''),\n"
    "  reason = CASE kind\n"
    "    WHEN 5 THEN CASE WHEN seq = (SELECT seq FROM m13_first\n"
    "      WHERE ticket_id = events.ticket_id) THEN 'first' ELSE 'again' END\n"
    "    WHEN 1 THEN coalesce((SELECT CASE priority WHEN 1 THEN 'green' WHEN 2 THEN 'appointment'\n"
    "      ELSE 'normal' END FROM tickets WHERE id = events.ticket_id), 'normal')\n"
    "    WHEN 17 THEN coalesce((SELECT CASE priority WHEN 1 THEN 'green' ELSE 'normal' END\n"
    "      FROM tickets WHERE id = events.ticket_id), 'normal')\n"
    "    WHEN 7 THEN CASE WHEN detail LIKE 'marked by the clerk%' THEN 'no_show'\n"
    "      ELSE 'recalls' END\n"
    "    WHEN 14 THEN CASE window_no WHEN 0 THEN 'hall' ELSE 'window' END\n"
    "    WHEN 11 THEN CASE WHEN detail LIKE 'to area %' AND length(detail) <= 23\n"
    "      THEN substr(detail, 9) ELSE 'window' END\n"
    "    WHEN 20 THEN CASE WHEN detail = '' THEN ''\n"
    "      WHEN length(detail) < 32 AND detail NOT GLOB '*[^a-z0-9_-]*' THEN detail\n"
    "      ELSE 'other' END\n"
    "    ELSE '' END,\n"
    "  duration_ms = CASE\n"
    "    WHEN (kind = 5 AND seq = (SELECT seq FROM m13_first WHERE ticket_id = events.ticket_id))\n"
    "      OR kind IN (7, 14)\n"
    "    THEN max(0, at_ms - coalesce((SELECT issued_ms FROM tickets\n"
    "      WHERE id = events.ticket_id), at_ms))\n"
    "    WHEN kind = 10 THEN max(0, at_ms - coalesce((SELECT at_ms FROM m13_start\n"
    "      WHERE ticket_id = events.ticket_id), at_ms))\n"
    "    ELSE 0 END,\n"
    "  rating = CASE WHEN kind = 23 AND detail IN ('level 1', 'level 2', 'level 3', 'level 4',\n"
    "    'level 5') THEN CAST(substr(detail, 7) AS INTEGER) ELSE 0 END\n"
    "  WHERE ticket_id <> 0 OR kind = 20;\n"
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events\n"
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;\n"
    "DROP TABLE m13_first;\n"
    "DROP TABLE m13_start;\n",

    /* 14 (M1 dash): the hall's big screens (大屏, store.h): each opens its
     * page with a token of its own, kept only as its SHA-256 (hex); who
     * issued and revoked it, and when (revoked_ms 0: live). A name is
     * spelled as store_screen_name_valid() says. */
    "CREATE TABLE screens (\n"
    "  name         TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 32\n"
    "                 AND name GLOB '[a-z0-9]*' AND name NOT GLOB '*[^a-z0-9._-]*'),\n"
    "  token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),\n"
    "  issued_ms    INTEGER NOT NULL,\n"
    "  issued_by    TEXT NOT NULL,\n"
    "  revoked_ms   INTEGER NOT NULL DEFAULT 0 CHECK (revoked_ms >= 0),\n"
    "  revoked_by   TEXT NOT NULL DEFAULT ''\n"
    ") STRICT;\n",
};
#define STORE_SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

#define TICKET_COLUMNS                                                                             \
    "id, number, day, seq, area, matter, state, priority, issued_ms, state_ms, "                   \
    "reserved_until_ms, appointment_ms, window_no, target_window, recalls, offline, kiosk, "       \
    "masked_name, citizen_hash, served_window, rating, rated_ms, expired, note, transferred"
#define EVENT_COLUMNS                                                                              \
    "seq, at_ms, day, kind, ticket_id, window_no, clerk, detail, device, prev_hash, hash, area, "  \
    "matter, duration_ms, rating, reason, chain"
/* The first kept answer at or after ?1: rows are appended in the order
 * kept, so a walk in row order from the start stops at it. */
#define FIRST_RECENT_REQUEST "SELECT id FROM requests WHERE at_ms >= ?1 ORDER BY id LIMIT 1"
#define APPT_COLUMNS         "code, area, slot_ms, masked_name, citizen_hash, state, ticket_id"
#define USER_COLUMNS                                                                               \
    "name, display_name, role, clerk_id, pwhash, disabled, session_epoch, created_ms, changed_ms"
#define SCREEN_COLUMNS "name, token_sha256, issued_ms, issued_by, revoked_ms, revoked_by"
/* Every change to a user that ends its web sessions. */
#define USER_CHANGED "session_epoch = session_epoch + 1, changed_ms = ?2"

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_DATA_VERSION,
    ST_DEFER_FK,
    ST_PUT_TICKET,
    ST_UPDATE_TICKET,
    ST_PUT_WINDOW_STATE,
    ST_PUT_LEASE,
    ST_EVENT_HEAD,
    ST_EVENT_HASH,
    ST_APPEND_EVENT,
    ST_PUT_REQUEST,
    ST_DROP_REQUEST_REPLY,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_LOAD_AREAS,
    ST_LOAD_MATTERS,
    ST_LOAD_WINDOWS,
    ST_LOAD_WINDOW_AREAS,
    ST_LOAD_TICKETS,
    ST_LOAD_LIVE_TICKETS,
    ST_GET_TICKET,
    ST_EVENT_LAST,
    ST_EVENT_DAY,
    ST_CLERK_DAY,
    ST_SCAN_EVENTS,
    ST_LOAD_LEASES,
    ST_LOAD_REQUESTS,
    ST_PRUNE_REQUESTS,
    ST_MAX_TICKET_ID,
    ST_RETIRE_MATTERS,
    ST_RETIRE_AREAS,
    ST_INSERT_AREA,
    ST_INSERT_MATTER,
    ST_RETIRED_PREFIX_IN_USE,
    ST_LIVE_IN_RETIRED,
    ST_COUNT_MATTERS,
    ST_SAVE_WINDOW,
    ST_CLEAR_WINDOW_AREAS,
    ST_INSERT_WINDOW_AREA,
    ST_AREA_EXISTS,
    ST_SAVE_CLERK,
    ST_GET_CLERK,
    ST_MATTER_NAME,
    ST_PAUSE_REASON,
    ST_LOAD_CLERKS,
    ST_SET_CLERK_PIN,
    ST_ADD_USER,
    ST_GET_USER,
    ST_LOAD_USERS,
    ST_SET_USER_PASSWORD,
    ST_SET_USER_ROLE,
    ST_SET_USER_DISABLED,
    ST_END_USER_SESSIONS,
    ST_SAVE_DEVICE,
    ST_GET_DEVICE,
    ST_LOAD_DEVICES,
    ST_GET_SETTING,
    ST_SET_SETTING,
    ST_VERIFY_EVENTS,
    ST_SAVE_APPOINTMENT,
    ST_GET_APPOINTMENT,
    ST_USE_APPOINTMENT,
    ST_RELEASE_APPOINTMENT,
    ST_RECLAIM_APPOINTMENT,
    ST_LOAD_APPOINTMENTS,
    ST_CAL_LOAD_HOURS,
    ST_CAL_LOAD_DATES,
    ST_CAL_LOAD_AREAS,
    ST_CAL_CLEAR_HOURS,
    ST_CAL_CLEAR_DATES,
    ST_CAL_CLEAR_AREAS,
    ST_CAL_PUT_HOURS,
    ST_CAL_PUT_DATE,
    ST_CAL_PUT_AREA,
    ST_SAVE_SCREEN,
    ST_GET_SCREEN,
    ST_LOAD_SCREENS,
    ST_REVOKE_SCREEN,
    ST_DAY_SUMMARY,
    ST_WINDOWS_SINCE,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    /* A COMMIT under NORMAL writes its frames to the WAL without syncing
     * it; store_sync() does that. Everything else runs under FULL. */
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_DEFER_FK] = "PRAGMA defer_foreign_keys = ON",
    [ST_PUT_TICKET] =
        "INSERT INTO tickets(" TICKET_COLUMNS ") "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
        "?19, ?20, ?21, ?22, ?23, ?24, ?25) "
        "ON CONFLICT(id) DO UPDATE SET number = excluded.number, day = excluded.day, "
        "seq = excluded.seq, area = excluded.area, matter = excluded.matter, "
        "state = excluded.state, priority = excluded.priority, issued_ms = excluded.issued_ms, "
        "state_ms = excluded.state_ms, reserved_until_ms = excluded.reserved_until_ms, "
        "appointment_ms = excluded.appointment_ms, window_no = excluded.window_no, "
        "target_window = excluded.target_window, recalls = excluded.recalls, "
        "offline = excluded.offline, kiosk = excluded.kiosk, "
        "masked_name = excluded.masked_name, citizen_hash = excluded.citizen_hash, "
        "served_window = excluded.served_window, rating = excluded.rating, "
        "rated_ms = excluded.rated_ms, expired = excluded.expired, note = excluded.note, "
        "transferred = excluded.transferred",
    /* The common change (a new state), touching only the columns a ticket's
     * life changes: the day/area/number index is left alone. */
    [ST_UPDATE_TICKET] =
        "UPDATE tickets SET state = ?2, priority = ?3, issued_ms = ?4, state_ms = ?5, "
        "reserved_until_ms = ?6, window_no = ?7, target_window = ?8, recalls = ?9, "
        "served_window = ?12, rating = ?13, rated_ms = ?14, expired = ?15, note = ?16, "
        "transferred = ?17 WHERE id = ?1 AND area = ?10 AND matter = ?11",
    [ST_PUT_WINDOW_STATE] =
        "UPDATE windows SET state = ?2, clerk = ?3, current_ticket = ?4 WHERE no = ?1",
    [ST_PUT_LEASE] = "INSERT INTO leases(id, kiosk, area, day, first, count, granted_ms) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                     "ON CONFLICT(id) DO UPDATE SET kiosk = excluded.kiosk, area = excluded.area, "
                     "day = excluded.day, first = excluded.first, count = excluded.count, "
                     "granted_ms = excluded.granted_ms",
    [ST_EVENT_HEAD] = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
    [ST_EVENT_HASH] = "SELECT hash FROM events WHERE seq = ?1",
    [ST_APPEND_EVENT] = "INSERT INTO events(" EVENT_COLUMNS ") "
                        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                        "?16, 1)",
    [ST_PUT_REQUEST] = "INSERT INTO requests(device, request_id, at_ms, digest, reply) "
                       "VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_DROP_REQUEST_REPLY] = "UPDATE requests SET reply = NULL WHERE id = ?1",
    [ST_SAVEPOINT] = "SAVEPOINT request",
    [ST_RELEASE] = "RELEASE request",
    [ST_ROLLBACK_TO] = "ROLLBACK TO request",
    [ST_LOAD_AREAS] = "SELECT code, name, prefix, general, retired, name_en FROM areas "
                      "ORDER BY retired, position, code",
    [ST_LOAD_MATTERS] = "SELECT code, name, area, conditions, materials, sample, review_points, "
                        "in_one_window, online_doable, name_en FROM matters WHERE retired = 0 "
                        "ORDER BY position, code",
    [ST_LOAD_WINDOWS] =
        "SELECT no, name, type, state, clerk, current_ticket FROM windows ORDER BY no",
    [ST_LOAD_WINDOW_AREAS] =
        "SELECT area, weight FROM window_areas WHERE window_no = ?1 ORDER BY position, area",
    [ST_LOAD_TICKETS] =
        "SELECT " TICKET_COLUMNS " FROM tickets WHERE id IN ("
        /* Two index searches, not a scan of the whole history. */
        "SELECT id FROM tickets WHERE state BETWEEN 1 AND 4 OR state BETWEEN 6 AND 7 "
        "UNION SELECT id FROM tickets WHERE day >= ?1) ORDER BY id",
    [ST_LOAD_LIVE_TICKETS] = "SELECT " TICKET_COLUMNS " FROM tickets WHERE state BETWEEN 1 AND 4 "
                             "OR state BETWEEN 6 AND 7 ORDER BY id",
    [ST_GET_TICKET] = "SELECT " TICKET_COLUMNS " FROM tickets WHERE id = ?1",
    [ST_EVENT_LAST] = "SELECT max(seq) FROM events",
    [ST_EVENT_DAY] = "SELECT day FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1",
    [ST_SCAN_EVENTS] = "SELECT seq, at_ms, day, kind, ticket_id, window_no, clerk, area, matter, "
                       "duration_ms, rating, reason FROM events WHERE seq >= ?1 AND seq < ?2 "
                       "AND day BETWEEN ?3 AND ?4 AND kind < 64 AND ((?5 >> kind) & 1) = 1 "
                       "ORDER BY seq",
    [ST_CLERK_DAY] = "SELECT kind, count(*) FROM events WHERE seq >= ?1 AND day = ?2 AND "
                     "clerk = ?3 AND kind IN (5, 7, 10, 11) GROUP BY kind",
    [ST_LOAD_LEASES] = "SELECT id, kiosk, area, day, first, count, granted_ms FROM leases "
                       "WHERE day >= ?1 ORDER BY id",
    [ST_LOAD_REQUESTS] = "SELECT device, request_id, at_ms, digest, reply, id FROM requests "
                         "WHERE id >= (" FIRST_RECENT_REQUEST ") AND at_ms >= ?1 ORDER BY id",
    [ST_PRUNE_REQUESTS] = "DELETE FROM requests WHERE id < coalesce((" FIRST_RECENT_REQUEST
                          "), (SELECT max(id) + 1 FROM requests))",
    [ST_MAX_TICKET_ID] = "SELECT coalesce(max(id), 0) FROM tickets",
    [ST_RETIRE_MATTERS] = "UPDATE matters SET retired = 1",
    [ST_RETIRE_AREAS] = "UPDATE areas SET retired = 1, general = 0",
    [ST_INSERT_AREA] =
        "INSERT INTO areas(code, name, prefix, general, position, retired, name_en) "
        "VALUES(?1, ?2, ?3, ?4, ?5, 0, ?6) ON CONFLICT(code) DO UPDATE SET "
        "name = excluded.name, name_en = excluded.name_en, prefix = excluded.prefix, "
        "general = excluded.general, position = excluded.position, retired = 0",
    [ST_INSERT_MATTER] =
        "INSERT INTO matters(code, area, name, conditions, materials, sample, review_points, "
        "in_one_window, online_doable, position, retired, name_en) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11) ON CONFLICT(code) DO UPDATE SET "
        "area = excluded.area, name = excluded.name, name_en = excluded.name_en, "
        "conditions = excluded.conditions, "
        "materials = excluded.materials, sample = excluded.sample, "
        "review_points = excluded.review_points, in_one_window = excluded.in_one_window, "
        "online_doable = excluded.online_doable, position = excluded.position, retired = 0",
    [ST_RETIRED_PREFIX_IN_USE] =
        "SELECT a.code, count(t.id) FROM areas a JOIN tickets t ON t.area = a.code "
        "WHERE a.retired = 1 AND a.prefix = ?1 AND a.code <> ?2 AND t.day >= ?3 "
        "GROUP BY a.code LIMIT 1",
    [ST_LIVE_IN_RETIRED] = "SELECT t.area, t.number, t.state, t.day FROM tickets t "
                           "JOIN areas a ON a.code = t.area WHERE a.retired = 1 AND (t.state "
                           "BETWEEN 1 AND 4 OR t.state BETWEEN 6 AND 7) "
                           "ORDER BY t.area, t.id",
    [ST_COUNT_MATTERS] =
        "SELECT count(*) FROM matters WHERE retired = 0 AND (?1 IS NULL OR area = ?1)",
    [ST_SAVE_WINDOW] = "INSERT INTO windows(no, name, type) VALUES(?1, ?2, ?3) "
                       "ON CONFLICT(no) DO UPDATE SET name = excluded.name, type = excluded.type",
    [ST_CLEAR_WINDOW_AREAS] = "DELETE FROM window_areas WHERE window_no = ?1",
    [ST_INSERT_WINDOW_AREA] = "INSERT INTO window_areas(window_no, area, weight, position) "
                              "VALUES(?1, ?2, ?3, ?4)",
    [ST_AREA_EXISTS] = "SELECT 1 FROM areas WHERE code = ?1",
    [ST_SAVE_CLERK] =
        "INSERT INTO clerks(id, name, active) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(id) DO UPDATE SET name = excluded.name, active = excluded.active",
    [ST_GET_CLERK] = "SELECT id, name, active, pin_hash FROM clerks WHERE id = ?1",
    [ST_SET_CLERK_PIN] = "UPDATE clerks SET pin_hash = ?2 WHERE id = ?1",
    [ST_MATTER_NAME] = "SELECT name FROM matters WHERE code = ?1",
    /* Newest first by the primary key: it stops at the window's latest
     * pause, so it reads only what happened since. */
    [ST_PAUSE_REASON] = "SELECT detail FROM events WHERE window_no = ?1 AND kind = ?2 "
                        "ORDER BY seq DESC LIMIT 1",
    [ST_LOAD_CLERKS] = "SELECT id, name, active, pin_hash FROM clerks ORDER BY id",
    [ST_ADD_USER] = "INSERT INTO users(" USER_COLUMNS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7)",
    [ST_GET_USER] = "SELECT " USER_COLUMNS " FROM users WHERE name = ?1",
    [ST_LOAD_USERS] = "SELECT " USER_COLUMNS " FROM users ORDER BY name",
    [ST_SET_USER_PASSWORD] = "UPDATE users SET pwhash = ?3, " USER_CHANGED " WHERE name = ?1",
    [ST_SET_USER_ROLE] =
        "UPDATE users SET role = ?3, clerk_id = ?4, " USER_CHANGED " WHERE name = ?1",
    [ST_SET_USER_DISABLED] = "UPDATE users SET disabled = ?3, " USER_CHANGED " WHERE name = ?1",
    [ST_END_USER_SESSIONS] = "UPDATE users SET " USER_CHANGED " WHERE name = ?1",
    [ST_SAVE_DEVICE] = "INSERT INTO devices(id, type, window_no, revoked, added_ms) "
                       "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET "
                       "type = excluded.type, window_no = excluded.window_no, "
                       "revoked = excluded.revoked, added_ms = excluded.added_ms",
    [ST_GET_DEVICE] = "SELECT id, type, window_no, revoked, added_ms FROM devices WHERE id = ?1",
    [ST_LOAD_DEVICES] = "SELECT id, type, window_no, revoked, added_ms FROM devices ORDER BY id",
    [ST_GET_SETTING] = "SELECT value FROM settings WHERE key = ?1",
    [ST_SET_SETTING] = "INSERT INTO settings(key, value) VALUES(?1, ?2) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_VERIFY_EVENTS] = "SELECT " EVENT_COLUMNS " FROM events ORDER BY seq",
    [ST_SAVE_APPOINTMENT] =
        "INSERT INTO appointments(" APPT_COLUMNS ") VALUES(?1, ?2, ?3, ?4, ?5, 1, 0) "
        "ON CONFLICT(code) DO UPDATE SET area = excluded.area, slot_ms = excluded.slot_ms, "
        "masked_name = excluded.masked_name, citizen_hash = excluded.citizen_hash "
        "WHERE appointments.state = 1",
    [ST_GET_APPOINTMENT] = "SELECT " APPT_COLUMNS " FROM appointments WHERE code = ?1",
    [ST_USE_APPOINTMENT] = "UPDATE appointments SET state = 2, ticket_id = ?2, "
                           "released_ticket = 0 WHERE code = ?1 AND state = 1",
    [ST_RELEASE_APPOINTMENT] = "UPDATE appointments SET state = 1, ticket_id = 0, "
                               "released_ticket = ?1 WHERE ticket_id = ?1 AND state = 2",
    [ST_RECLAIM_APPOINTMENT] = "UPDATE appointments SET state = 2, ticket_id = ?1, "
                               "released_ticket = 0 WHERE released_ticket = ?1 AND state = 1",
    [ST_LOAD_APPOINTMENTS] = "SELECT " APPT_COLUMNS " FROM appointments "
                             "WHERE slot_ms >= ?1 ORDER BY slot_ms, code",
    [ST_CAL_LOAD_HOURS] = "SELECT area, wday, open_min, lunch_start, lunch_end, close_min, "
                          "last_min FROM calendar_hours ORDER BY area, wday",
    [ST_CAL_LOAD_DATES] = "SELECT day, kind, as_wday, name FROM calendar_dates ORDER BY day",
    [ST_CAL_LOAD_AREAS] = "SELECT area, always_open, unstaffed FROM calendar_areas ORDER BY area",
    [ST_CAL_CLEAR_HOURS] = "DELETE FROM calendar_hours",
    [ST_CAL_CLEAR_DATES] = "DELETE FROM calendar_dates",
    [ST_CAL_CLEAR_AREAS] = "DELETE FROM calendar_areas",
    [ST_CAL_PUT_HOURS] = "INSERT INTO calendar_hours(area, wday, open_min, lunch_start, lunch_end, "
                         "close_min, last_min) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_CAL_PUT_DATE] =
        "INSERT INTO calendar_dates(day, kind, as_wday, name) VALUES(?1, ?2, ?3, ?4)",
    [ST_CAL_PUT_AREA] =
        "INSERT INTO calendar_areas(area, always_open, unstaffed) VALUES(?1, ?2, ?3)",
    [ST_SAVE_SCREEN] = "INSERT INTO screens(" SCREEN_COLUMNS ") VALUES(?1, ?2, ?3, ?4, 0, '') "
                       "ON CONFLICT(name) DO UPDATE SET token_sha256 = excluded.token_sha256, "
                       "issued_ms = excluded.issued_ms, issued_by = excluded.issued_by, "
                       "revoked_ms = 0, revoked_by = ''",
    [ST_GET_SCREEN] = "SELECT " SCREEN_COLUMNS " FROM screens WHERE name = ?1",
    [ST_LOAD_SCREENS] = "SELECT " SCREEN_COLUMNS " FROM screens ORDER BY name",
    [ST_REVOKE_SCREEN] = "UPDATE screens SET revoked_ms = ?2, revoked_by = ?3 "
                         "WHERE name = ?1 AND revoked_ms = 0",
    /* Issued: every ticket of the day but a reservation not checked in
     * and a voided one; served: done. */
    [ST_DAY_SUMMARY] = "SELECT count(*), coalesce(sum(state = 5), 0), "
                       "coalesce(sum(rating > 0), 0), coalesce(sum(rating >= 3), 0) "
                       "FROM tickets WHERE day = ?1 AND state NOT IN (1, 8)",
    [ST_WINDOWS_SINCE] = "SELECT window_no, max(at_ms) FROM events WHERE seq >= ?1 AND day = ?2 "
                         "AND window_no > 0 GROUP BY window_no",
};

struct store {
    sqlite3 *db;
    int lock_fd;
    bool reader; /* STORE_READER: read-only, nothing to sync */
    int version;
    sqlite3_stmt *st[ST_COUNT];
    EVP_MD_CTX *md;
    EVP_MD *sha256; /* fetched once: an implicit fetch at every event costs locks */
    /* The event chain's head: valid only while head_known and no other
     * connection has committed since data_version was read. */
    bool head_known;
    bool head_fresh;         /* data_version read in the open transaction */
    uint64_t ticket_id_high; /* the highest ticket id written or read here */
    int64_t data_version;
    uint64_t head_seq;
    uint8_t head_hash[HASH_LEN];
    /* The head before the open transaction's first event: the committed
     * head while that transaction's events may still be rolled back. */
    bool base_known;
    uint64_t base_seq;
    uint8_t base_hash[HASH_LEN];
    /* The WAL file, synced by store_sync() (possibly on another thread):
     * the only field such a call reads. */
    sqlite3_file *wal;
    bool sync_deferred;      /* the COMMIT of store_commit_unsynced() is running */
    bool commit_sync_failed; /* on_commit() could not sync; said by fail_sql() */
    char notice[1024];       /* what opening changed on the file system */
    char err[512];
};

/* ==== 2. Opening ========================================================== */

static int take_lock(store *s, const char *path, char *err, size_t errlen)
{
    char lock_path[4096];

    if ((size_t)snprintf(lock_path, sizeof lock_path, "%s.lock", path) >= sizeof lock_path) {
        snprintf(err, errlen, "database path too long: %s", path);
        return -1;
    }
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        snprintf(err, errlen, "cannot open lock file %s: %s", lock_path, strerror(errno));
        return -1;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            char pid[32] = "";
            ssize_t n = pread(s->lock_fd, pid, sizeof pid - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            snprintf(err, errlen, "%s is in use by another halld (pid %s)", path,
                     *pid ? pid : "unknown");
        } else {
            snprintf(err, errlen, "cannot lock %s: %s", lock_path, strerror(errno));
        }
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, pid, (size_t)n, 0) != n) {
        snprintf(err, errlen, "cannot write lock file %s: %s", lock_path, strerror(errno));
        return -1;
    }
    return 0;
}

long store_locked_by(const char *path)
{
    char lock_path[4096], pid[32] = "";

    if ((size_t)snprintf(lock_path, sizeof lock_path, "%s.lock", path) >= sizeof lock_path)
        return 0;
    int fd = open(lock_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    /* A shared lock is refused only while a controller holds its
     * exclusive one; taking it for an instant disturbs nobody. */
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        close(fd);
        return 0;
    }
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    close(fd);
    pid[n > 0 ? n : 0] = '\0';
    char *end;
    long v = strtol(pid, &end, 10);
    return end != pid && v > 0 && (*end == '\n' || *end == '\0') ? v : -1;
}

static int exec_sql(store *s, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", what, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int read_version(store *s, char *err, size_t errlen)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    s->version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return 0;
}

/* Migrations run with foreign keys off: check what they left. */
static int foreign_keys_hold(store *s, const char *what, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(s->db));
        return -1;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(err, errlen, "%s: table %s row %lld names a missing %s", what,
                 (const char *)sqlite3_column_text(st, 0), (long long)sqlite3_column_int64(st, 1),
                 (const char *)sqlite3_column_text(st, 2));
    else if (rc != SQLITE_DONE)
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Apply every migration above the file's version, one transaction each, so
 * a crash in the middle leaves the file at a whole version. The version is
 * read again under the write lock: halld and hallctl may open a new file at
 * the same moment, and only one of them may run a migration. */
static int migrate(store *s, char *err, size_t errlen)
{
    for (;;) {
        char what[64], bump[64];
        if (exec_sql(s, "BEGIN IMMEDIATE", "cannot start a migration", err, errlen) < 0)
            return -1;
        if (read_version(s, err, errlen) < 0)
            goto rollback;
        if (s->version > STORE_SCHEMA_VERSION) {
            snprintf(err, errlen,
                     "database schema version %d is newer than this release understands (%d): "
                     "run the newer release",
                     s->version, STORE_SCHEMA_VERSION);
            goto rollback;
        }
        if (s->version == STORE_SCHEMA_VERSION)
            return exec_sql(s, "COMMIT", "cannot finish the migrations", err, errlen);
        int v = s->version + 1;
        snprintf(what, sizeof what, "migration %d", v);
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", v);
        if (exec_sql(s, migrations[v - 1], what, err, errlen) < 0 ||
            foreign_keys_hold(s, what, err, errlen) < 0 ||
            exec_sql(s, bump, what, err, errlen) < 0 ||
            exec_sql(s, "COMMIT", what, err, errlen) < 0)
            goto rollback;
        s->version = v;
    }
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Refuse a file that belongs to another hall (or to none). */
static int check_hall(store *s, const char *hall_id, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc;

    rc = sqlite3_prepare_v2(s->db, "SELECT value FROM settings WHERE key = 'hall_id'", -1, &st,
                            NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot read the hall of %s: %s", path, sqlite3_errmsg(s->db));
        return -1;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        snprintf(err, errlen, "cannot read the hall of %s: %s", path, sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return -1;
    }
    const char *owner = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (owner == NULL || strcmp(owner, hall_id) != 0) {
        snprintf(err, errlen, "%s belongs to hall '%s', not '%s'", path, owner ? owner : "",
                 hall_id);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

/* Record hall_id in a new file; refuse a file that belongs to another hall. */
static int claim_hall(store *s, const char *hall_id, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc;

    rc = sqlite3_prepare_v2(s->db,
                            "INSERT INTO settings(key, value) VALUES('hall_id', ?1) "
                            "ON CONFLICT(key) DO NOTHING RETURNING value",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, hall_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        snprintf(err, errlen, "cannot record the hall in %s: %s", path, sqlite3_errmsg(s->db));
        return -1;
    }
    return check_hall(s, hall_id, path, err, errlen);
}

static int prepare_all(store *s, char *err, size_t errlen)
{
    for (int i = 0; i < ST_COUNT; i++) {
        assert(stmt_sql[i] != NULL);
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "cannot prepare statement %d: %s", i, sqlite3_errmsg(s->db));
            return -1;
        }
    }
    return 0;
}

/* The WAL's file handle, for store_sync(). Synced once here, on the
 * opening thread: the first sync of a new WAL also syncs its directory,
 * and that step changes the handle. */
static int open_wal_handle(store *s, const char *path, char *err, size_t errlen)
{
    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &s->wal) != SQLITE_OK ||
        s->wal == NULL || s->wal->pMethods == NULL) {
        snprintf(err, errlen, "%s: cannot reach the write-ahead log", path);
        return -1;
    }
    if (store_sync(s) < 0) {
        snprintf(err, errlen, "%s: cannot sync the write-ahead log", path);
        return -1;
    }
    return 0;
}

/* Every commit of this connection ends here: in WAL mode SQLite calls
 * this after the commit, before the statement that made it returns, and
 * an error returned here is that statement's error. The connection runs
 * under synchronous=NORMAL, so the commit's sync is made here (the same
 * xSync a COMMIT under FULL makes, through the same VFS), unless
 * store_commit_unsynced() leaves it to store_sync(). Changing the level
 * per transaction instead would cost two PRAGMAs a turn, each compiled
 * again at every run (a safety-level PRAGMA works when it is prepared).
 * Then the automatic checkpoint, which this hook replaces. */
#define WAL_AUTOCHECKPOINT_FRAMES 1000 /* SQLite's default */

static int on_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    store *s = arg;

    if (!s->sync_deferred && store_sync(s) < 0) {
        s->commit_sync_failed = true;
        return SQLITE_IOERR_FSYNC;
    }
    if (frames >= WAL_AUTOCHECKPOINT_FRAMES)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

/* From here on every commit is synced by on_commit() or by the caller of
 * store_commit_unsynced(). Set after opening: the hook sees only commits
 * that end at a step (an INSERT ... RETURNING that commits when it is
 * finalized, as claim_hall's, is not seen), and opening commits under
 * FULL. */
static int sync_by_hook(store *s, const char *path, char *err, size_t errlen)
{
    if (exec_sql(s, "PRAGMA synchronous=NORMAL;", path, err, errlen) < 0)
        return -1;
    sqlite3_wal_hook(s->db, on_commit, s);
    return 0;
}

/* Once per process, before SQLite initialises: no memory statistics
 * (nothing here reads them), which otherwise take a global mutex at every
 * allocation. Too late if the process used SQLite before (a test): then
 * SQLite refuses, and nothing else changes. */
static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* A reader takes the file as the controller and hallctl left it: it
 * writes nothing, so it cannot migrate an older file, nor make a new one
 * (SQLite creates the -wal and -shm files if none is there, with the
 * database file's mode). */
static int open_reader(store *s, const char *path, const char *hall_id, char *err, size_t errlen)
{
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (exec_sql(s, "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;", path, err, errlen) < 0 ||
        read_version(s, err, errlen) < 0)
        return -1;
    if (s->version < STORE_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "%s is at schema %d, this build reads %d: start halld or run hallctl once to "
                 "migrate it",
                 path, s->version, STORE_SCHEMA_VERSION);
        return -1;
    }
    if (s->version > STORE_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s is at schema %d, this build reads %d: run the newer release",
                 path, s->version, STORE_SCHEMA_VERSION);
        return -1;
    }
    return check_hall(s, hall_id, path, err, errlen) < 0 || prepare_all(s, err, errlen) < 0 ? -1
                                                                                            : 0;
}

store *store_open(const char *path, const char *hall_id, enum store_mode mode, char *err,
                  size_t errlen)
{
    store *s = calloc(1, sizeof *s);

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->lock_fd = -1;
    s->reader = mode == STORE_READER;
    if (mode == STORE_DAEMON && take_lock(s, path, err, errlen) < 0)
        goto fail;
    if ((s->md = EVP_MD_CTX_new()) == NULL ||
        (s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    static pthread_once_t configured = PTHREAD_ONCE_INIT;
    pthread_once(&configured, configure_sqlite);
    if (s->reader) {
        if (open_reader(s, path, hall_id, err, errlen) < 0)
            goto fail;
        return s;
    }
    /* Private before SQLite opens it: the -wal and -shm files SQLite makes
     * take the database file's mode. */
    if (dbfile_make_private(path, s->notice, sizeof s->notice) < 0) {
        snprintf(err, errlen, "%s", s->notice);
        goto fail;
    }
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                            SQLITE_OPEN_EXRESCODE,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* A new file gets 1 KiB pages (an existing one keeps its size: only a
     * VACUUM outside WAL mode changes it). A commit is a few B-tree pages
     * written whole to the WAL and synced; with 1 KiB pages they fill a
     * quarter of the disk blocks: at one kiosk a request's commit costs
     * 15 % less time, and halld's throughput is 7-11 % higher. */
    if (exec_sql(s, "PRAGMA page_size=1024;", path, err, errlen) < 0)
        goto fail;
    /* journal_mode=WAL answers with the mode it got; a file system that
     * cannot do WAL (no shared memory) leaves it in another mode. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        snprintf(err, errlen, "cannot open database %s: %s", path, sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        goto fail;
    }
    const char *jmode = (const char *)sqlite3_column_text(st, 0);
    if (jmode == NULL || strcmp(jmode, "wal") != 0) {
        snprintf(err, errlen, "%s: cannot use write-ahead logging (journal mode is %s)", path,
                 jmode ? jmode : "unknown");
        sqlite3_finalize(st);
        goto fail;
    }
    sqlite3_finalize(st);
    /* Foreign keys are checked from the end of the migrations on: a
     * migration that rebuilds a table must not cascade into the tables
     * that name it (migrate() checks them before it commits). */
    /* temp_store=MEMORY also keeps the savepoint of every request (its
     * sub-journal) in memory: by default it spills to a temporary file. */
    if (exec_sql(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;",
                 path, err, errlen) < 0 ||
        migrate(s, err, errlen) < 0 ||
        exec_sql(s, "PRAGMA foreign_keys=ON;", path, err, errlen) < 0 ||
        claim_hall(s, hall_id, path, err, errlen) < 0 || prepare_all(s, err, errlen) < 0 ||
        open_wal_handle(s, path, err, errlen) < 0 || sync_by_hook(s, path, err, errlen) < 0)
        goto fail;
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close_v2(s->db);
    EVP_MD_CTX_free(s->md);
    EVP_MD_free(s->sha256);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    free(s);
}

const char *store_notice(const store *s)
{
    return s->notice;
}

const char *store_errmsg(const store *s)
{
    return s->err;
}

int store_schema_version(const store *s)
{
    return s->version;
}

/* ==== Helpers shared by the readers and writers ============================ */

static int failf(store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int failf(store *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* "what: SQLite's reason". */
static int fail_sql(store *s, const char *what)
{
    /* SQLite reports a failure of on_commit() with no message of its own. */
    if (s->commit_sync_failed) {
        s->commit_sync_failed = false;
        return failf(s, "%s: committed, but the write-ahead log could not be synced", what);
    }
    return failf(s, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* A prepared statement, ready for binding; NULL if it is already running
 * (a loader re-entered from its own callback). */
static sqlite3_stmt *use(store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->st[id];

    s->commit_sync_failed = false;
    if (sqlite3_stmt_busy(st)) {
        failf(s, "store: statement %d re-entered from a callback", (int)id);
        return NULL;
    }
    sqlite3_clear_bindings(st);
    return st;
}

/* Step a statement that returns no row, then reset it. */
static int run(store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fail_sql(s, what);
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

static void bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

static void bind_hash(sqlite3_stmt *st, int i, bool has, const uint8_t *hash)
{
    if (has)
        sqlite3_bind_blob(st, i, hash, Q_HASH_LEN, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Copy a text column into a fixed buffer; a value that does not fit means
 * the file was written by something other than this store. */
static int col_text(store *s, sqlite3_stmt *st, int i, char *out, size_t cap, const char *what)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);

    if (n >= cap)
        return failf(s, "%s: %s is %zu bytes, at most %zu fit", what, sqlite3_column_name(st, i), n,
                     cap - 1);
    if (n > 0)
        memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

/* A 32-byte hash column, or NULL: 1 present, 0 NULL, -1 bad length. */
static int col_hash(store *s, sqlite3_stmt *st, int i, uint8_t out[Q_HASH_LEN], const char *what)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return 0;
    const void *v = sqlite3_column_blob(st, i);
    if (sqlite3_column_bytes(st, i) != Q_HASH_LEN || v == NULL)
        return failf(s, "%s: %s is not %d bytes", what, sqlite3_column_name(st, i), Q_HASH_LEN);
    memcpy(out, v, Q_HASH_LEN);
    return 1;
}

/* Loaders: a decoder turns the current row into a value; load_rows()
 * steps the statement and hands each row to row(ctx), a small adapter that
 * decodes and calls the caller's typed callback (LOADER below). */
typedef int (*row_fn)(store *s, sqlite3_stmt *st, void *ctx);

static int load_rows(store *s, sqlite3_stmt *st, row_fn row, void *ctx, const char *what)
{
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int r = row(s, st, ctx);
        if (r != 0) {
            sqlite3_reset(st);
            return r;
        }
    }
    if (rc != SQLITE_DONE) {
        fail_sql(s, what);
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

/* Defines struct name_cb { fn, arg } and name_row(), which decodes a row
 * into a type with decode() and passes it to fn. */
#define LOADER(name, type, decode)                                                                 \
    struct name##_cb {                                                                             \
        int (*fn)(void *arg, const type *v);                                                       \
        void *arg;                                                                                 \
    };                                                                                             \
    static int name##_row(store *s, sqlite3_stmt *st, void *ctx)                                   \
    {                                                                                              \
        struct name##_cb *cb = ctx;                                                                \
        type v;                                                                                    \
        if (decode(s, st, &v) < 0)                                                                 \
            return -1;                                                                             \
        return cb->fn(cb->arg, &v);                                                                \
    }

/* Step a one-row lookup: 1 with the row current (decode it, then reset),
 * 0 if there is none, -1 on error (reset already). */
static int step_one(store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    return fail_sql(s, what);
}

/* A write of several rows is whole: inside the caller's transaction, or in
 * one of its own. enter() says which, leave() ends its own. */
static int enter(store *s, bool *own)
{
    *own = !store_in_transaction(s);
    return *own ? store_begin(s) : 0;
}

static int leave(store *s, bool own, int rc)
{
    if (!own)
        return rc;
    if (rc != 0) {
        char saved[sizeof s->err];
        memcpy(saved, s->err, sizeof saved);
        store_rollback(s);
        memcpy(s->err, saved, sizeof saved);
        return rc;
    }
    return store_commit(s);
}

/* ==== 3. Transactions and the event chain ================================= */

int store_begin(store *s)
{
    if (store_in_transaction(s))
        return failf(s, "a transaction is already open");
    /* SQLite would let a read-only connection BEGIN IMMEDIATE. */
    if (s->reader)
        return failf(s, "cannot start a transaction: the store is open read-only");
    s->base_known = false;
    s->head_fresh = false;
    return run(s, use(s, ST_BEGIN), "cannot start a transaction");
}

int store_read_begin(store *s)
{
    if (!s->reader)
        return failf(s, "a read transaction is for a read-only store");
    if (store_in_transaction(s))
        return failf(s, "a transaction is already open");
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return failf(s, "cannot start a read transaction: %s", sqlite3_errmsg(s->db));
    return 0;
}

void store_read_end(store *s)
{
    if (s->reader && store_in_transaction(s))
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

int store_commit_unsynced(store *s)
{
    s->sync_deferred = true;
    int rc = run(s, use(s, ST_COMMIT), "cannot commit");
    s->sync_deferred = false;

    if (rc < 0) {
        /* A failed COMMIT may leave the transaction open (SQLITE_BUSY) or
         * have rolled it back already; either way it is gone after this. */
        if (store_in_transaction(s))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->head_known = false;
    }
    return rc;
}

int store_sync(store *s)
{
    /* A reader never commits. */
    if (s->reader)
        return 0;
    /* The same call SQLite makes to sync the WAL at a COMMIT under FULL,
     * through the same VFS. */
    if (s->wal->pMethods->xSync(s->wal, SQLITE_SYNC_NORMAL) != SQLITE_OK) {
        errno = EIO;
        return -1;
    }
    return 0;
}

int store_commit(store *s)
{
    if (store_commit_unsynced(s) < 0)
        return -1;
    if (store_sync(s) < 0)
        return failf(s, "cannot commit: the write-ahead log could not be synced");
    return 0;
}

int store_rollback(store *s)
{
    /* Events appended in this transaction are gone: forget the head. */
    s->head_known = false;
    return store_in_transaction(s) ? run(s, use(s, ST_ROLLBACK), "cannot roll back") : 0;
}

int store_savepoint(store *s)
{
    if (!store_in_transaction(s))
        return failf(s, "a savepoint needs an open transaction");
    return run(s, use(s, ST_SAVEPOINT), "cannot start a savepoint");
}

int store_release(store *s)
{
    return run(s, use(s, ST_RELEASE), "cannot release a savepoint");
}

int store_rollback_to(store *s)
{
    /* Events appended since the savepoint are gone: forget the head. */
    s->head_known = false;
    if (run(s, use(s, ST_ROLLBACK_TO), "cannot roll back to a savepoint") < 0)
        return -1;
    return run(s, use(s, ST_RELEASE), "cannot release a savepoint");
}

bool store_in_transaction(const store *s)
{
    return sqlite3_get_autocommit(s->db) == 0;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

/* One event row as it is hashed (see store.h for the encoding). */
struct event_row {
    uint64_t seq;
    int64_t at_ms;
    int32_t day;
    uint32_t kind;
    uint64_t ticket_id;
    uint32_t window_no;
    const char *str[3]; /* clerk, detail, device */
    size_t len[3];
    /* chain 1 (store.h): these are hashed too */
    uint32_t chain;
    int64_t duration_ms;
    uint32_t rating;
    const char *str1[3]; /* area, matter, reason */
    size_t len1[3];
};

static int event_hash(store *s, const uint8_t prev[HASH_LEN], const struct event_row *r,
                      uint8_t out[HASH_LEN])
{
    uint8_t fixed[8 + 8 + 4 + 4 + 8 + 4], len[4];
    unsigned int n = 0;

    put_u64(fixed, r->seq);
    put_u64(fixed + 8, (uint64_t)r->at_ms);
    put_u32(fixed + 16, (uint32_t)r->day);
    put_u32(fixed + 20, r->kind);
    put_u64(fixed + 24, r->ticket_id);
    put_u32(fixed + 32, r->window_no);
    int ok = EVP_DigestInit_ex(s->md, s->sha256, NULL) && EVP_DigestUpdate(s->md, prev, HASH_LEN) &&
             EVP_DigestUpdate(s->md, fixed, sizeof fixed);
    for (int i = 0; ok && i < 3; i++) {
        if (r->len[i] > UINT32_MAX)
            return failf(s, "event %llu: a field is too long to hash", (unsigned long long)r->seq);
        put_u32(len, (uint32_t)r->len[i]);
        ok = EVP_DigestUpdate(s->md, len, sizeof len) &&
             (r->len[i] == 0 || EVP_DigestUpdate(s->md, r->str[i], r->len[i]));
    }
    if (ok && r->chain == 1) {
        uint8_t more[4 + 8 + 4];

        put_u32(more, r->chain);
        put_u64(more + 4, (uint64_t)r->duration_ms);
        put_u32(more + 12, r->rating);
        ok = EVP_DigestUpdate(s->md, more, sizeof more);
        for (int i = 0; ok && i < 3; i++) {
            if (r->len1[i] > UINT32_MAX)
                return failf(s, "event %llu: a field is too long to hash",
                             (unsigned long long)r->seq);
            put_u32(len, (uint32_t)r->len1[i]);
            ok = EVP_DigestUpdate(s->md, len, sizeof len) &&
                 (r->len1[i] == 0 || EVP_DigestUpdate(s->md, r->str1[i], r->len1[i]));
        }
    }
    if (!ok || !EVP_DigestFinal_ex(s->md, out, &n) || n != HASH_LEN)
        return failf(s, "cannot compute SHA-256 (OpenSSL)");
    return 0;
}

static int data_version(store *s, int64_t *out)
{
    sqlite3_stmt *st = use(s, ST_DATA_VERSION);

    if (st == NULL)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        fail_sql(s, "cannot read the data version");
        sqlite3_reset(st);
        return -1;
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

static int read_head(store *s, uint64_t *seq, uint8_t hash[HASH_LEN])
{
    sqlite3_stmt *st = use(s, ST_EVENT_HEAD);
    int rc;

    if (st == NULL)
        return -1;
    *seq = 0;
    memset(hash, 0, HASH_LEN);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
        if (col_hash(s, st, 1, hash, "last event") != 1) {
            sqlite3_reset(st);
            return failf(s, "event %llu: hash is missing or not 32 bytes",
                         (unsigned long long)*seq);
        }
    } else if (rc != SQLITE_DONE) {
        fail_sql(s, "cannot read the last event");
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

/* Make the cached head true for this (write) transaction. Another
 * connection can only have committed before the transaction took the
 * write lock, so data_version is read once per transaction. */
static int refresh_head(store *s)
{
    int64_t dv;

    if (s->head_known && s->head_fresh)
        return 0;
    if (data_version(s, &dv) < 0)
        return -1;
    s->head_fresh = store_in_transaction(s);
    if (s->head_known && dv == s->data_version)
        return 0;
    if (read_head(s, &s->head_seq, s->head_hash) < 0)
        return -1;
    s->data_version = dv;
    s->head_known = true;
    return 0;
}

static int append(store *s, struct event_row *r)
{
    uint8_t hash[HASH_LEN];
    sqlite3_stmt *st;

    if (refresh_head(s) < 0)
        return -1;
    if (!s->base_known) {
        s->base_seq = s->head_seq;
        memcpy(s->base_hash, s->head_hash, HASH_LEN);
        s->base_known = true;
    }
    r->seq = s->head_seq + 1;
    /* Every row written now is of chain 1, whatever wrote it; its
     * structured columns are "" unless set (set_facts). */
    r->chain = 1;
    for (int i = 0; i < 3; i++)
        if (r->str1[i] == NULL) {
            r->str1[i] = "";
            r->len1[i] = 0;
        }
    if (event_hash(s, s->head_hash, r, hash) < 0 || (st = use(s, ST_APPEND_EVENT)) == NULL)
        return -1;
    bind_u64(st, 1, r->seq);
    sqlite3_bind_int64(st, 2, r->at_ms);
    sqlite3_bind_int(st, 3, r->day);
    sqlite3_bind_int64(st, 4, r->kind);
    bind_u64(st, 5, r->ticket_id);
    sqlite3_bind_int64(st, 6, r->window_no);
    for (int i = 0; i < 3; i++)
        sqlite3_bind_text(st, 7 + i, r->str[i], (int)r->len[i], SQLITE_STATIC);
    sqlite3_bind_blob(st, 10, s->head_hash, HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 11, hash, HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, r->str1[0], (int)r->len1[0], SQLITE_STATIC);
    sqlite3_bind_text(st, 13, r->str1[1], (int)r->len1[1], SQLITE_STATIC);
    sqlite3_bind_int64(st, 14, r->duration_ms);
    sqlite3_bind_int64(st, 15, r->rating);
    sqlite3_bind_text(st, 16, r->str1[2], (int)r->len1[2], SQLITE_STATIC);
    if (run(s, st, "cannot append an event") < 0)
        return -1;
    s->head_seq = r->seq;
    memcpy(s->head_hash, hash, HASH_LEN);
    return 0;
}

static void set_strings(struct event_row *r, const char *clerk, const char *detail,
                        const char *device)
{
    const char *v[3] = {clerk, detail, device};

    for (int i = 0; i < 3; i++) {
        r->str[i] = v[i] ? v[i] : "";
        r->len[i] = strlen(r->str[i]);
    }
}

/* The structured columns of a row (store.h). */
static void set_facts(struct event_row *r, const char *area, const char *matter, const char *reason)
{
    const char *v[3] = {area, matter, reason};

    for (int i = 0; i < 3; i++) {
        r->str1[i] = v[i] ? v[i] : "";
        r->len1[i] = strlen(r->str1[i]);
    }
}

/* The event is hashed with the strings as given; a string longer than
 * SQLite's int length would be cut on bind, so refuse it. */
static int append_checked(store *s, struct event_row *r)
{
    bool own;

    for (int i = 0; i < 3; i++)
        if (r->len[i] > 1000000)
            return failf(s, "event field of %zu bytes is too long", r->len[i]);
    /* The columns' CHECKs, said before SQLite says "constraint failed". */
    if (r->len1[0] >= Q_CODE_MAX || r->len1[1] >= Q_CODE_MAX || r->len1[2] >= Q_EVENT_REASON_MAX ||
        r->duration_ms < 0 || r->rating > 5)
        return failf(s, "event of kind %u: area, matter, reason, duration or rating out of range",
                     r->kind);
    if (enter(s, &own) < 0)
        return -1;
    return leave(s, own, append(s, r));
}

int store_append_event(store *s, const q_event *e, const char *device)
{
    struct event_row r = {
        .at_ms = e->at_ms,
        .day = e->day,
        .kind = (uint32_t)e->kind,
        .ticket_id = e->ticket_id,
        .window_no = e->window_no,
        .duration_ms = e->duration_ms,
        .rating = e->rating >= 0 ? (uint32_t)e->rating : UINT32_MAX,
    };

    set_strings(&r, e->clerk, e->detail, device);
    set_facts(&r, e->area, e->matter, e->reason);
    return append_checked(s, &r);
}

int store_append_admin_event(store *s, int64_t at_ms, int32_t day, const char *device,
                             const char *user, const char *what)
{
    struct event_row r = {.at_ms = at_ms, .day = day, .kind = STORE_EVENT_ADMIN};

    set_strings(&r, user, what, device);
    return append_checked(s, &r);
}

int store_event_head(store *s, uint64_t *seq, uint8_t hash[32])
{
    return read_head(s, seq, hash);
}

int store_committed_head(store *s, uint64_t *seq, uint8_t hash[32])
{
    /* A transaction that appended nothing reads the committed head: no
     * other connection can commit while it holds the write lock. */
    if (store_in_transaction(s) && s->base_known) {
        *seq = s->base_seq;
        memcpy(hash, s->base_hash, HASH_LEN);
        return 0;
    }
    return read_head(s, seq, hash);
}

int store_event_hash(store *s, uint64_t seq, uint8_t hash[32])
{
    sqlite3_stmt *st = use(s, ST_EVENT_HASH);
    int rc;

    if (st == NULL)
        return -1;
    bind_u64(st, 1, seq);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = col_hash(s, st, 0, hash, "event") == 1
                 ? 1
                 : failf(s, "event %llu: hash is missing or not 32 bytes", (unsigned long long)seq);
    else if (rc == SQLITE_DONE)
        rc = 0;
    else
        rc = fail_sql(s, "cannot read an event");
    sqlite3_reset(st);
    return rc;
}

int store_verify_events(store *s, uint64_t *count)
{
    sqlite3_stmt *st = use(s, ST_VERIFY_EVENTS);
    uint8_t prev[HASH_LEN] = {0}, stored_prev[HASH_LEN], stored[HASH_LEN], hash[HASH_LEN];
    uint64_t n = 0;
    int64_t chain = 0;
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct event_row r = {
            .seq = (uint64_t)sqlite3_column_int64(st, 0),
            .at_ms = sqlite3_column_int64(st, 1),
            .day = sqlite3_column_int(st, 2),
            .kind = (uint32_t)sqlite3_column_int64(st, 3),
            .ticket_id = (uint64_t)sqlite3_column_int64(st, 4),
            .window_no = (uint32_t)sqlite3_column_int64(st, 5),
        };
        unsigned long long seq = (unsigned long long)r.seq;
        for (int i = 0; i < 3; i++) {
            r.str[i] = (const char *)sqlite3_column_text(st, 6 + i);
            r.len[i] = (size_t)sqlite3_column_bytes(st, 6 + i);
            if (r.str[i] == NULL)
                r.str[i] = "";
        }
        for (int i = 0; i < 3; i++) {
            static const int col[3] = {11, 12, 15}; /* area, matter, reason */
            r.str1[i] = (const char *)sqlite3_column_text(st, col[i]);
            r.len1[i] = (size_t)sqlite3_column_bytes(st, col[i]);
            if (r.str1[i] == NULL)
                r.str1[i] = "";
        }
        r.duration_ms = sqlite3_column_int64(st, 13);
        r.rating = (uint32_t)sqlite3_column_int64(st, 14);
        /* A row may not go back to the older format: that would leave its
         * new columns out of its hash. */
        if (sqlite3_column_int64(st, 16) < chain || sqlite3_column_int64(st, 16) > 1) {
            failf(s, "event %llu: chain format %lld after %lld (the row was edited)", seq,
                  (long long)sqlite3_column_int64(st, 16), (long long)chain);
            goto broken;
        }
        chain = sqlite3_column_int64(st, 16);
        r.chain = (uint32_t)chain;
        if (r.seq != n + 1) {
            failf(s, "event %llu follows event %llu: %s", seq, (unsigned long long)n,
                  r.seq > n + 1 ? "events are missing" : "sequence out of order");
            goto broken;
        }
        if (col_hash(s, st, 9, stored_prev, "event") != 1 ||
            col_hash(s, st, 10, stored, "event") != 1) {
            failf(s, "event %llu: hash columns are missing or not 32 bytes", seq);
            goto broken;
        }
        if (memcmp(stored_prev, prev, HASH_LEN) != 0) {
            failf(s, "event %llu: its previous hash does not match event %llu (chain broken)", seq,
                  (unsigned long long)n);
            goto broken;
        }
        if (event_hash(s, prev, &r, hash) < 0)
            goto broken;
        if (memcmp(hash, stored, HASH_LEN) != 0) {
            failf(s, "event %llu: its fields do not match its hash (the row was edited)", seq);
            goto broken;
        }
        memcpy(prev, stored, HASH_LEN);
        n++;
    }
    if (rc != SQLITE_DONE) {
        fail_sql(s, "cannot read the events");
        goto broken;
    }
    sqlite3_reset(st);
    *count = n;
    return 0;
broken:
    sqlite3_reset(st);
    return -1;
}

/* ==== 4. Tables ============================================================ */

/* ---- The queue engine's journal ------------------------------------------ */

/* Most writes move an existing ticket along its life: try the narrow
 * UPDATE first; a new ticket, or one moved to another area, takes the full
 * upsert. */
static int update_ticket(store *s, const q_ticket *t)
{
    sqlite3_stmt *st = use(s, ST_UPDATE_TICKET);

    if (st == NULL)
        return -1;
    bind_u64(st, 1, t->id);
    sqlite3_bind_int(st, 2, (int)t->state);
    sqlite3_bind_int(st, 3, (int)t->priority);
    sqlite3_bind_int64(st, 4, t->issued_ms);
    sqlite3_bind_int64(st, 5, t->state_ms);
    sqlite3_bind_int64(st, 6, t->reserved_until_ms);
    sqlite3_bind_int64(st, 7, t->window_no);
    sqlite3_bind_int64(st, 8, t->target_window);
    sqlite3_bind_int64(st, 9, t->recalls);
    bind_text(st, 10, t->area);
    bind_text(st, 11, t->matter);
    sqlite3_bind_int64(st, 12, t->served_window);
    sqlite3_bind_int(st, 13, t->rating);
    sqlite3_bind_int64(st, 14, t->rated_ms);
    sqlite3_bind_int(st, 15, t->expired);
    bind_text(st, 16, t->note);
    sqlite3_bind_int(st, 17, t->transferred);
    if (sqlite3_step(st) != SQLITE_DONE) {
        failf(s, "cannot write ticket %llu (%s): %s", (unsigned long long)t->id, t->number,
              sqlite3_errmsg(s->db));
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return sqlite3_changes(s->db) == 1;
}

int store_put_ticket(store *s, const q_ticket *t)
{
    /* A ticket above every id this connection has seen is new (a hint
     * only: the upsert below is right either way): one statement, not a
     * missed UPDATE and then the INSERT. */
    int updated = t->id > s->ticket_id_high ? 0 : update_ticket(s, t);

    if (updated != 0)
        return updated < 0 ? -1 : 0;
    if (t->id > s->ticket_id_high)
        s->ticket_id_high = t->id;
    sqlite3_stmt *st = use(s, ST_PUT_TICKET);
    if (st == NULL)
        return -1;
    bind_u64(st, 1, t->id);
    bind_text(st, 2, t->number);
    sqlite3_bind_int(st, 3, t->day);
    sqlite3_bind_int64(st, 4, t->seq);
    bind_text(st, 5, t->area);
    bind_text(st, 6, t->matter);
    sqlite3_bind_int(st, 7, (int)t->state);
    sqlite3_bind_int(st, 8, (int)t->priority);
    sqlite3_bind_int64(st, 9, t->issued_ms);
    sqlite3_bind_int64(st, 10, t->state_ms);
    sqlite3_bind_int64(st, 11, t->reserved_until_ms);
    sqlite3_bind_int64(st, 12, t->appointment_ms);
    sqlite3_bind_int64(st, 13, t->window_no);
    sqlite3_bind_int64(st, 14, t->target_window);
    sqlite3_bind_int64(st, 15, t->recalls);
    sqlite3_bind_int(st, 16, t->offline);
    bind_text(st, 17, t->kiosk);
    bind_text(st, 18, t->masked_name);
    bind_hash(st, 19, t->has_citizen, t->citizen_hash);
    sqlite3_bind_int64(st, 20, t->served_window);
    sqlite3_bind_int(st, 21, t->rating);
    sqlite3_bind_int64(st, 22, t->rated_ms);
    sqlite3_bind_int(st, 23, t->expired);
    bind_text(st, 24, t->note);
    sqlite3_bind_int(st, 25, t->transferred);
    if (sqlite3_step(st) != SQLITE_DONE) {
        failf(s, "cannot write ticket %llu (%s): %s", (unsigned long long)t->id, t->number,
              sqlite3_errmsg(s->db));
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

int store_put_window(store *s, const q_window *w)
{
    sqlite3_stmt *st = use(s, ST_PUT_WINDOW_STATE);

    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, w->no);
    sqlite3_bind_int(st, 2, (int)w->state);
    bind_text(st, 3, w->clerk);
    bind_u64(st, 4, w->current);
    if (run(s, st, "cannot write a window") < 0)
        return -1;
    if (sqlite3_changes(s->db) != 1)
        return failf(s, "cannot write window %u: no such window", w->no);
    return 0;
}

int store_put_lease(store *s, const q_lease *l)
{
    sqlite3_stmt *st = use(s, ST_PUT_LEASE);

    if (st == NULL)
        return -1;
    bind_u64(st, 1, l->id);
    bind_text(st, 2, l->kiosk);
    bind_text(st, 3, l->area);
    sqlite3_bind_int(st, 4, l->day);
    sqlite3_bind_int64(st, 5, l->first);
    sqlite3_bind_int64(st, 6, l->count);
    sqlite3_bind_int64(st, 7, l->granted_ms);
    return run(s, st, "cannot write a lease");
}

int store_put_request(store *s, const char *device, uint64_t request_id, int64_t at_ms,
                      const uint8_t *digest, const uint8_t *reply, size_t len, uint64_t *row)
{
    sqlite3_stmt *st = use(s, ST_PUT_REQUEST);

    if (st == NULL)
        return -1;
    if (len > 1000000000)
        return failf(s, "cannot keep an answer of %zu bytes", len);
    bind_text(st, 1, device);
    bind_u64(st, 2, request_id);
    sqlite3_bind_int64(st, 3, at_ms);
    if (digest != NULL)
        sqlite3_bind_blob(st, 4, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    /* A NULL pointer would bind SQL NULL; an empty answer is a blob too. */
    sqlite3_bind_blob(st, 5, len ? (const void *)reply : "", (int)len, SQLITE_STATIC);
    if (run(s, st, "cannot keep an answer") < 0)
        return -1;
    *row = (uint64_t)sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_drop_request_reply(store *s, uint64_t row)
{
    sqlite3_stmt *st = use(s, ST_DROP_REQUEST_REPLY);

    if (st == NULL)
        return -1;
    bind_u64(st, 1, row);
    return run(s, st, "cannot drop a kept answer");
}

/* ---- Loading at start ----------------------------------------------------- */

static int decode_area(store *s, sqlite3_stmt *st, q_area *a)
{
    memset(a, 0, sizeof *a);
    if (col_text(s, st, 0, a->code, sizeof a->code, "area") < 0 ||
        col_text(s, st, 1, a->name, sizeof a->name, a->code) < 0 ||
        col_text(s, st, 2, a->prefix, sizeof a->prefix, a->code) < 0)
        return -1;
    a->general = sqlite3_column_int(st, 3) != 0;
    a->retired = sqlite3_column_int(st, 4) != 0;
    if (col_text(s, st, 5, a->name_en, sizeof a->name_en, a->code) < 0)
        return -1;
    return 0;
}
LOADER(area, q_area, decode_area)

int store_load_areas(store *s, int (*fn)(void *arg, const q_area *a), void *arg)
{
    struct area_cb cb = {fn, arg};

    return load_rows(s, use(s, ST_LOAD_AREAS), area_row, &cb, "cannot read the areas");
}

static int decode_matter(store *s, sqlite3_stmt *st, store_matter *m)
{
    memset(m, 0, sizeof *m);
    if (col_text(s, st, 0, m->code, sizeof m->code, "matter") < 0 ||
        col_text(s, st, 1, m->name, sizeof m->name, m->code) < 0 ||
        col_text(s, st, 2, m->area, sizeof m->area, m->code) < 0)
        return -1;
    m->conditions = (const char *)sqlite3_column_text(st, 3);
    m->materials = (const char *)sqlite3_column_text(st, 4);
    m->sample = (const char *)sqlite3_column_text(st, 5);
    m->review_points = (const char *)sqlite3_column_text(st, 6);
    if (!m->conditions || !m->materials || !m->sample || !m->review_points)
        return failf(s, "matter %s: out of memory reading its text", m->code);
    m->in_one_window = sqlite3_column_int(st, 7) != 0;
    m->online_doable = sqlite3_column_int(st, 8) != 0;
    if (col_text(s, st, 9, m->name_en, sizeof m->name_en, m->code) < 0)
        return -1;
    return 0;
}
LOADER(matter, store_matter, decode_matter)

int store_load_matters(store *s, int (*fn)(void *arg, const store_matter *m), void *arg)
{
    struct matter_cb cb = {fn, arg};

    return load_rows(s, use(s, ST_LOAD_MATTERS), matter_row, &cb, "cannot read the matters");
}

static int decode_window(store *s, sqlite3_stmt *st, q_window *w)
{
    char what[32];
    int rc;

    memset(w, 0, sizeof *w);
    w->no = (uint32_t)sqlite3_column_int64(st, 0);
    snprintf(what, sizeof what, "window %u", w->no);
    if (col_text(s, st, 1, w->name, sizeof w->name, what) < 0 ||
        col_text(s, st, 4, w->clerk, sizeof w->clerk, what) < 0)
        return -1;
    w->type = (q_window_type)sqlite3_column_int(st, 2);
    w->state = (q_window_state)sqlite3_column_int(st, 3);
    w->current = (uint64_t)sqlite3_column_int64(st, 5);

    sqlite3_stmt *areas = use(s, ST_LOAD_WINDOW_AREAS);
    if (areas == NULL)
        return -1;
    sqlite3_bind_int64(areas, 1, w->no);
    while ((rc = sqlite3_step(areas)) == SQLITE_ROW) {
        if (w->nareas == Q_MAX_AREAS_PER_WINDOW) {
            sqlite3_reset(areas);
            return failf(s, "%s serves more than %d areas", what, Q_MAX_AREAS_PER_WINDOW);
        }
        if (col_text(s, areas, 0, w->areas[w->nareas], sizeof w->areas[0], what) < 0) {
            sqlite3_reset(areas);
            return -1;
        }
        w->weights[w->nareas++] = (uint32_t)sqlite3_column_int64(areas, 1);
    }
    sqlite3_reset(areas);
    if (rc != SQLITE_DONE)
        return fail_sql(s, "cannot read a window's areas");
    return 0;
}
LOADER(window, q_window, decode_window)

int store_load_windows(store *s, int (*fn)(void *arg, const q_window *w), void *arg)
{
    struct window_cb cb = {fn, arg};

    return load_rows(s, use(s, ST_LOAD_WINDOWS), window_row, &cb, "cannot read the windows");
}

static int decode_ticket(store *s, sqlite3_stmt *st, q_ticket *t)
{
    char what[48];

    memset(t, 0, sizeof *t);
    t->id = (uint64_t)sqlite3_column_int64(st, 0);
    snprintf(what, sizeof what, "ticket %llu", (unsigned long long)t->id);
    if (col_text(s, st, 1, t->number, sizeof t->number, what) < 0 ||
        col_text(s, st, 4, t->area, sizeof t->area, what) < 0 ||
        col_text(s, st, 5, t->matter, sizeof t->matter, what) < 0 ||
        col_text(s, st, 16, t->kiosk, sizeof t->kiosk, what) < 0 ||
        col_text(s, st, 17, t->masked_name, sizeof t->masked_name, what) < 0)
        return -1;
    t->day = sqlite3_column_int(st, 2);
    t->seq = (uint32_t)sqlite3_column_int64(st, 3);
    t->state = (q_state)sqlite3_column_int(st, 6);
    t->priority = (q_priority)sqlite3_column_int(st, 7);
    t->issued_ms = sqlite3_column_int64(st, 8);
    t->state_ms = sqlite3_column_int64(st, 9);
    t->reserved_until_ms = sqlite3_column_int64(st, 10);
    t->appointment_ms = sqlite3_column_int64(st, 11);
    t->window_no = (uint32_t)sqlite3_column_int64(st, 12);
    t->target_window = (uint32_t)sqlite3_column_int64(st, 13);
    t->recalls = (uint32_t)sqlite3_column_int64(st, 14);
    t->offline = sqlite3_column_int(st, 15) != 0;
    int has = col_hash(s, st, 18, t->citizen_hash, what);
    if (has < 0)
        return -1;
    t->has_citizen = has == 1;
    t->served_window = (uint32_t)sqlite3_column_int64(st, 19);
    t->rating = (uint8_t)sqlite3_column_int(st, 20);
    t->rated_ms = sqlite3_column_int64(st, 21);
    t->expired = sqlite3_column_int(st, 22) != 0;
    if (col_text(s, st, 23, t->note, sizeof t->note, what) < 0)
        return -1;
    t->transferred = sqlite3_column_int(st, 24) != 0;
    return 0;
}
LOADER(ticket, q_ticket, decode_ticket)

int store_load_tickets(store *s, int32_t since_day, int (*fn)(void *arg, const q_ticket *t),
                       void *arg)
{
    struct ticket_cb cb = {fn, arg};
    sqlite3_stmt *st = use(s, ST_LOAD_TICKETS);

    if (st != NULL)
        sqlite3_bind_int(st, 1, since_day);
    return load_rows(s, st, ticket_row, &cb, "cannot read the tickets");
}

int store_load_live_tickets(store *s, int (*fn)(void *arg, const q_ticket *t), void *arg)
{
    struct ticket_cb cb = {fn, arg};

    return load_rows(s, use(s, ST_LOAD_LIVE_TICKETS), ticket_row, &cb,
                     "cannot read the live tickets");
}

int store_get_ticket(store *s, uint64_t id, q_ticket *out)
{
    sqlite3_stmt *st = use(s, ST_GET_TICKET);
    int rc;

    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    if ((rc = step_one(s, st, "cannot read a ticket")) == 1) {
        rc = decode_ticket(s, st, out) < 0 ? -1 : 1;
        sqlite3_reset(st);
    }
    return rc;
}

/* The day of the first event at or after seq; 0 past the end, -1 error. */
static int64_t event_day_from(store *s, int64_t seq)
{
    sqlite3_stmt *st = use(s, ST_EVENT_DAY);
    int64_t day;
    int rc;

    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, seq);
    if ((rc = step_one(s, st, "cannot read the event log")) <= 0)
        return rc;
    day = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return day;
}

_Static_assert(QE_CALLED == 5 && QE_NO_SHOW == 7 && QE_FINISHED == 10 && QE_TRANSFERRED == 11,
               "ST_CLERK_DAY names these kinds by number");

/* The seq of the first event of business day day or later (one past the
 * last event if none): the log is appended in time order, so its days
 * never go down along it. O(log n) look-ups by seq. */
static int first_seq_of_day(store *s, int32_t day, int64_t *out)
{
    sqlite3_stmt *st = use(s, ST_EVENT_LAST);
    int64_t lo = 1, hi;
    int rc;

    if (st == NULL || (rc = step_one(s, st, "cannot read the event log")) < 0)
        return -1;
    hi = rc ? sqlite3_column_int64(st, 0) + 1 : 1;
    if (rc)
        sqlite3_reset(st);
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, d = event_day_from(s, mid);
        if (d < 0)
            return -1;
        if (d != 0 && d < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    *out = lo;
    return 0;
}

static const char *col_str(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);

    return v != NULL ? v : "";
}

int store_scan_events(store *s, int32_t from_day, int32_t to_day, uint32_t kinds,
                      int (*fn)(void *arg, const store_event_row *e), void *arg)
{
    sqlite3_stmt *st;
    int64_t lo, hi;
    int rc;

    if (first_seq_of_day(s, from_day, &lo) < 0 ||
        first_seq_of_day(s, to_day < INT32_MAX ? to_day + 1 : to_day, &hi) < 0 ||
        (st = use(s, ST_SCAN_EVENTS)) == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, to_day < INT32_MAX ? hi : INT64_MAX);
    sqlite3_bind_int(st, 3, from_day);
    sqlite3_bind_int(st, 4, to_day);
    sqlite3_bind_int64(st, 5, kinds);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_event_row e = {
            .seq = (uint64_t)sqlite3_column_int64(st, 0),
            .at_ms = sqlite3_column_int64(st, 1),
            .day = sqlite3_column_int(st, 2),
            .kind = (q_event_kind)sqlite3_column_int(st, 3),
            .ticket_id = (uint64_t)sqlite3_column_int64(st, 4),
            .window_no = (uint32_t)sqlite3_column_int64(st, 5),
            .clerk = col_str(st, 6),
            .area = col_str(st, 7),
            .matter = col_str(st, 8),
            .duration_ms = sqlite3_column_int64(st, 9),
            .rating = sqlite3_column_int(st, 10),
            .reason = col_str(st, 11),
        };
        int stop = fn(arg, &e);
        if (stop != 0) {
            sqlite3_reset(st);
            return stop;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : fail_sql(s, "cannot read the event log");
    sqlite3_reset(st);
    return rc;
}

int store_clerk_day(store *s, const char *clerk, int32_t day, store_day_counts *out)
{
    sqlite3_stmt *st;
    int64_t lo;
    int rc;

    memset(out, 0, sizeof *out);
    if (first_seq_of_day(s, day, &lo) < 0)
        return -1;
    if ((st = use(s, ST_CLERK_DAY)) == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int(st, 2, day);
    bind_text(st, 3, clerk);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint32_t n = (uint32_t)sqlite3_column_int64(st, 1);
        switch (sqlite3_column_int(st, 0)) {
        case QE_CALLED:
            out->called = n;
            break;
        case QE_NO_SHOW:
            out->no_show = n;
            break;
        case QE_FINISHED:
            out->finished = n;
            break;
        case QE_TRANSFERRED:
            out->transferred = n;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail_sql(s, "cannot count a clerk's day");
}

static int decode_lease(store *s, sqlite3_stmt *st, q_lease *l)
{
    char what[48];

    memset(l, 0, sizeof *l);
    l->id = (uint64_t)sqlite3_column_int64(st, 0);
    snprintf(what, sizeof what, "lease %llu", (unsigned long long)l->id);
    if (col_text(s, st, 1, l->kiosk, sizeof l->kiosk, what) < 0 ||
        col_text(s, st, 2, l->area, sizeof l->area, what) < 0)
        return -1;
    l->day = sqlite3_column_int(st, 3);
    l->first = (uint32_t)sqlite3_column_int64(st, 4);
    l->count = (uint32_t)sqlite3_column_int64(st, 5);
    l->granted_ms = sqlite3_column_int64(st, 6);
    return 0;
}
LOADER(lease, q_lease, decode_lease)

int store_load_leases(store *s, int32_t since_day, int (*fn)(void *arg, const q_lease *l),
                      void *arg)
{
    struct lease_cb cb = {fn, arg};
    sqlite3_stmt *st = use(s, ST_LOAD_LEASES);

    if (st != NULL)
        sqlite3_bind_int(st, 1, since_day);
    return load_rows(s, st, lease_row, &cb, "cannot read the leases");
}

struct request_cb {
    store_request_fn *fn;
    void *arg;
};

static int request_row(store *s, sqlite3_stmt *st, void *ctx)
{
    struct request_cb *cb = ctx;
    const char *device = (const char *)sqlite3_column_text(st, 0);
    const uint8_t *digest = sqlite3_column_blob(st, 3);
    const uint8_t *reply = sqlite3_column_blob(st, 4);
    size_t len = (size_t)sqlite3_column_bytes(st, 4);

    if (device == NULL)
        return failf(s, "cannot read a kept answer: out of memory");
    if (sqlite3_column_bytes(st, 3) != STORE_DIGEST_LEN)
        digest = NULL;
    if (sqlite3_column_type(st, 4) == SQLITE_NULL)
        reply = NULL;
    else if (len == 0)
        reply = (const uint8_t *)"";
    return cb->fn(cb->arg, (uint64_t)sqlite3_column_int64(st, 5), device,
                  (uint64_t)sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), digest, reply,
                  len);
}

int store_load_requests(store *s, int64_t since_ms, store_request_fn *fn, void *arg)
{
    struct request_cb cb = {fn, arg};
    sqlite3_stmt *st = use(s, ST_LOAD_REQUESTS);

    if (st != NULL)
        sqlite3_bind_int64(st, 1, since_ms);
    return load_rows(s, st, request_row, &cb, "cannot read the kept answers");
}

int store_prune_requests(store *s, int64_t before_ms)
{
    sqlite3_stmt *st = use(s, ST_PRUNE_REQUESTS);

    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, before_ms);
    return run(s, st, "cannot drop old answers");
}

int store_max_ticket_id(store *s, uint64_t *out)
{
    sqlite3_stmt *st = use(s, ST_MAX_TICKET_ID);

    if (st == NULL)
        return -1;
    if (step_one(s, st, "cannot read the last ticket id") != 1)
        return -1;
    *out = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (*out > s->ticket_id_high)
        s->ticket_id_high = *out;
    return 0;
}

/* ---- Catalog and registry -------------------------------------------------- */

/* A new area may not take the prefix of a retired one whose tickets of
 * since_day or later are still about: two "T001" in one day would be two
 * different citizens. */
static int check_retired_prefixes(store *s, const q_area *areas, size_t nareas, int32_t since_day)
{
    for (size_t i = 0; i < nareas; i++) {
        sqlite3_stmt *st = use(s, ST_RETIRED_PREFIX_IN_USE);
        int rc;

        if (st == NULL)
            return -1;
        bind_text(st, 1, areas[i].prefix);
        bind_text(st, 2, areas[i].code);
        sqlite3_bind_int(st, 3, since_day);
        if ((rc = step_one(s, st, "cannot read the retired areas")) < 0)
            return -1;
        if (rc == 1) {
            failf(s,
                  "area %s: prefix %s still numbers %lld ticket(s) of retired area %s from the "
                  "last two days: choose another prefix, or keep area %s until they are over",
                  areas[i].code, areas[i].prefix, (long long)sqlite3_column_int64(st, 1),
                  (const char *)sqlite3_column_text(st, 0),
                  (const char *)sqlite3_column_text(st, 0));
            sqlite3_reset(st);
            return -1;
        }
    }
    return 0;
}

static int insert_catalog(store *s, const q_area *areas, size_t nareas, const store_matter *matters,
                          size_t nmatters, int32_t since_day)
{
    sqlite3_stmt *st;

    /* Matters move between areas while both are written: check foreign
     * keys at commit, not per statement. */
    if ((st = use(s, ST_DEFER_FK)) == NULL || run(s, st, "cannot defer foreign keys") < 0 ||
        check_retired_prefixes(s, areas, nareas, since_day) < 0)
        return -1;
    /* Everything is retired, then what the catalog names comes back. */
    if ((st = use(s, ST_RETIRE_MATTERS)) == NULL || run(s, st, "cannot retire the matters") < 0 ||
        (st = use(s, ST_RETIRE_AREAS)) == NULL || run(s, st, "cannot retire the areas") < 0)
        return -1;
    for (size_t i = 0; i < nareas; i++) {
        const q_area *a = &areas[i];
        if ((st = use(s, ST_INSERT_AREA)) == NULL)
            return -1;
        bind_text(st, 1, a->code);
        bind_text(st, 2, a->name);
        bind_text(st, 3, a->prefix);
        sqlite3_bind_int(st, 4, a->general);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)i);
        bind_text(st, 6, a->name_en);
        if (sqlite3_step(st) != SQLITE_DONE) {
            failf(s, "cannot store area %s: %s", a->code, sqlite3_errmsg(s->db));
            sqlite3_reset(st);
            return -1;
        }
        sqlite3_reset(st);
    }
    for (size_t i = 0; i < nmatters; i++) {
        const store_matter *m = &matters[i];
        if ((st = use(s, ST_INSERT_MATTER)) == NULL)
            return -1;
        bind_text(st, 1, m->code);
        bind_text(st, 2, m->area);
        bind_text(st, 3, m->name);
        bind_text(st, 4, m->conditions);
        bind_text(st, 5, m->materials);
        bind_text(st, 6, m->sample);
        bind_text(st, 7, m->review_points);
        sqlite3_bind_int(st, 8, m->in_one_window);
        sqlite3_bind_int(st, 9, m->online_doable);
        sqlite3_bind_int64(st, 10, (sqlite3_int64)i);
        bind_text(st, 11, m->name_en);
        if (sqlite3_step(st) != SQLITE_DONE) {
            failf(s, "cannot store matter %s: %s", m->code, sqlite3_errmsg(s->db));
            sqlite3_reset(st);
            return -1;
        }
        sqlite3_reset(st);
    }
    /* A matter of the catalog must name an area of the catalog, not a
     * retired one (which foreign keys alone would allow). */
    for (size_t i = 0; i < nmatters; i++) {
        size_t j = 0;
        while (j < nareas && strcmp(areas[j].code, matters[i].area) != 0)
            j++;
        if (j == nareas)
            return failf(s, "matter %s: no area '%s' in the catalog", matters[i].code,
                         matters[i].area);
    }
    return 0;
}

int store_replace_catalog(store *s, const q_area *areas, size_t nareas, const store_matter *matters,
                          size_t nmatters, int32_t since_day)
{
    bool own;

    if (enter(s, &own) < 0)
        return -1;
    return leave(s, own, insert_catalog(s, areas, nareas, matters, nmatters, since_day));
}

static int decode_live_ticket(store *s, sqlite3_stmt *st, store_live_ticket *t)
{
    memset(t, 0, sizeof *t);
    if (col_text(s, st, 0, t->area, sizeof t->area, "ticket") < 0 ||
        col_text(s, st, 1, t->number, sizeof t->number, "ticket") < 0)
        return -1;
    t->state = (q_state)sqlite3_column_int(st, 2);
    t->day = sqlite3_column_int(st, 3);
    return 0;
}
LOADER(live_ticket, store_live_ticket, decode_live_ticket)

int store_load_live_in_retired(store *s, int (*fn)(void *arg, const store_live_ticket *t),
                               void *arg)
{
    struct live_ticket_cb cb = {fn, arg};

    return load_rows(s, use(s, ST_LIVE_IN_RETIRED), live_ticket_row, &cb,
                     "cannot read the tickets of retired areas");
}

int store_count_matters(store *s, const char *area, size_t *out)
{
    sqlite3_stmt *st = use(s, ST_COUNT_MATTERS);

    if (st == NULL)
        return -1;
    if (area != NULL)
        bind_text(st, 1, area);
    if (sqlite3_step(st) != SQLITE_ROW) {
        fail_sql(s, "cannot count the matters");
        sqlite3_reset(st);
        return -1;
    }
    *out = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

static int area_exists(store *s, const char *code)
{
    sqlite3_stmt *st = use(s, ST_AREA_EXISTS);

    if (st == NULL)
        return -1;
    bind_text(st, 1, code);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail_sql(s, "cannot read the areas");
    return rc == SQLITE_ROW;
}

static int write_window(store *s, const q_window *w)
{
    sqlite3_stmt *st;
    char what[48];

    snprintf(what, sizeof what, "cannot save window %u", w->no);
    if (w->nareas < 0 || w->nareas > Q_MAX_AREAS_PER_WINDOW)
        return failf(s, "%s: %d areas (allowed 0..%d)", what, w->nareas, Q_MAX_AREAS_PER_WINDOW);
    for (int i = 0; i < w->nareas; i++) {
        int known = area_exists(s, w->areas[i]);
        if (known < 0)
            return -1;
        if (!known)
            return failf(s, "%s: no area '%s' in the catalog", what, w->areas[i]);
    }
    if ((st = use(s, ST_SAVE_WINDOW)) == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, w->no);
    bind_text(st, 2, w->name);
    sqlite3_bind_int(st, 3, (int)w->type);
    if (run(s, st, what) < 0 || (st = use(s, ST_CLEAR_WINDOW_AREAS)) == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, w->no);
    if (run(s, st, what) < 0)
        return -1;
    for (int i = 0; i < w->nareas; i++) {
        if ((st = use(s, ST_INSERT_WINDOW_AREA)) == NULL)
            return -1;
        sqlite3_bind_int64(st, 1, w->no);
        bind_text(st, 2, w->areas[i]);
        sqlite3_bind_int64(st, 3, w->weights[i]);
        sqlite3_bind_int(st, 4, i);
        if (run(s, st, what) < 0)
            return -1;
    }
    return 0;
}

int store_save_window(store *s, const q_window *w)
{
    bool own;

    if (enter(s, &own) < 0)
        return -1;
    return leave(s, own, write_window(s, w));
}

int store_save_clerk(store *s, const store_clerk *c)
{
    sqlite3_stmt *st = use(s, ST_SAVE_CLERK);

    if (st == NULL)
        return -1;
    bind_text(st, 1, c->id);
    bind_text(st, 2, c->name);
    sqlite3_bind_int(st, 3, c->active);
    return run(s, st, "cannot save a clerk");
}

static int decode_clerk(store *s, sqlite3_stmt *st, store_clerk *c)
{
    memset(c, 0, sizeof *c);
    if (col_text(s, st, 0, c->id, sizeof c->id, "clerk") < 0 ||
        col_text(s, st, 1, c->name, sizeof c->name, c->id) < 0 ||
        col_text(s, st, 3, c->pin_hash, sizeof c->pin_hash, c->id) < 0)
        return -1;
    c->active = sqlite3_column_int(st, 2) != 0;
    return 0;
}
LOADER(clerk, store_clerk, decode_clerk)

int store_set_clerk_pin(store *s, const char *id, const char *pin_hash)
{
    sqlite3_stmt *st = use(s, ST_SET_CLERK_PIN);

    if (st == NULL)
        return -1;
    bind_text(st, 1, id);
    bind_text(st, 2, pin_hash);
    if (run(s, st, "cannot set a clerk's PIN") < 0)
        return -1;
    return sqlite3_changes(s->db) == 1;
}

int store_get_clerk(store *s, const char *id, store_clerk *out)
{
    sqlite3_stmt *st = use(s, ST_GET_CLERK);
    int rc;

    if (st == NULL)
        return -1;
    bind_text(st, 1, id);
    if ((rc = step_one(s, st, "cannot read a clerk")) == 1) {
        rc = decode_clerk(s, st, out) < 0 ? -1 : 1;
        sqlite3_reset(st);
    }
    return rc;
}

int store_matter_name(store *s, const char *code, char *out, size_t len)
{
    sqlite3_stmt *st = use(s, ST_MATTER_NAME);
    int rc;

    if (st == NULL)
        return -1;
    bind_text(st, 1, code);
    if ((rc = step_one(s, st, "cannot read a matter")) == 1) {
        rc = col_text(s, st, 0, out, len, code) < 0 ? -1 : 1;
        sqlite3_reset(st);
    }
    return rc;
}

int store_pause_reason(store *s, uint32_t window_no, char *out, size_t len)
{
    sqlite3_stmt *st = use(s, ST_PAUSE_REASON);
    int rc;

    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, window_no);
    sqlite3_bind_int(st, 2, QE_WINDOW_PAUSED);
    if ((rc = step_one(s, st, "cannot read a pause")) == 1) {
        rc = col_text(s, st, 0, out, len, "pause") < 0 ? -1 : 1;
        sqlite3_reset(st);
    }
    return rc;
}

int store_load_clerks(store *s, int (*fn)(void *arg, const store_clerk *c), void *arg)
{
    struct clerk_cb cb = {fn, arg};

    return load_rows(s, use(s, ST_LOAD_CLERKS), clerk_row, &cb, "cannot read the clerks");
}

/* ---- Users ------------------------------------------------------------------ */

static const char *const user_roles[] = {"admin",    "manager", "clerk",
                                         "reviewer", "consult", "auditor"};

bool store_user_role_valid(const char *role)
{
    for (size_t i = 0; role != NULL && i < sizeof user_roles / sizeof user_roles[0]; i++)
        if (strcmp(role, user_roles[i]) == 0)
            return true;
    return false;
}

bool store_user_name_valid(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;

    if (n == 0 || n > STORE_USER_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* The checks the table makes too, with reasons in words rather than the
 * name of a failed CHECK. */
static int check_user(store *s, const char *name, const char *role, const char *clerk_id)
{
    if (!store_user_name_valid(name))
        return failf(s,
                     "user name '%s': use 1 to %d of a-z, 0-9, '.', '_' or '-', starting with a "
                     "letter",
                     name ? name : "", STORE_USER_NAME_MAX);
    if (!store_user_role_valid(role))
        return failf(s,
                     "user %s: no role '%s' (admin, manager, clerk, reviewer, consult or auditor)",
                     name, role ? role : "");
    bool has_clerk = clerk_id != NULL && *clerk_id != '\0';
    if (strcmp(role, "clerk") == 0 && !has_clerk)
        return failf(s, "user %s: a user of role clerk needs a clerk", name);
    if (strcmp(role, "clerk") != 0 && has_clerk)
        return failf(s, "user %s: only a user of role clerk has a clerk", name);
    return 0;
}

static void bind_clerk(sqlite3_stmt *st, int i, const char *clerk_id)
{
    if (clerk_id != NULL && *clerk_id != '\0')
        sqlite3_bind_text(st, i, clerk_id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Step a write of user name's row, and say what refused it in words: the
 * name taken, a clerk that does not exist. Then the row must have been
 * there (an UPDATE that changed nothing found no such user). */
static int write_user(store *s, sqlite3_stmt *st, const char *name, const char *clerk_id,
                      const char *what)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE) {
        int code = sqlite3_extended_errcode(s->db);
        if (code == SQLITE_CONSTRAINT_PRIMARYKEY)
            failf(s, "user %s exists", name);
        else if (code == SQLITE_CONSTRAINT_FOREIGNKEY)
            failf(s, "user %s: no clerk '%s'", name, clerk_id ? clerk_id : "");
        else
            failf(s, "%s %s: %s", what, name, sqlite3_errmsg(s->db));
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    if (sqlite3_changes(s->db) != 1)
        return failf(s, "no user %s", name);
    return 0;
}

int store_add_user(store *s, const store_user *u)
{
    sqlite3_stmt *st;

    if (check_user(s, u->name, u->role, u->clerk_id) < 0)
        return -1;
    if (u->display_name[0] == '\0' || u->pwhash[0] == '\0')
        return failf(s, "user %s: %s is empty", u->name,
                     u->display_name[0] == '\0' ? "the display name" : "the password hash");
    if ((st = use(s, ST_ADD_USER)) == NULL)
        return -1;
    bind_text(st, 1, u->name);
    bind_text(st, 2, u->display_name);
    bind_text(st, 3, u->role);
    bind_clerk(st, 4, u->clerk_id);
    bind_text(st, 5, u->pwhash);
    sqlite3_bind_int(st, 6, u->disabled);
    sqlite3_bind_int64(st, 7, u->created_ms);
    return write_user(s, st, u->name, u->clerk_id, "cannot add user");
}

static int decode_user(store *s, sqlite3_stmt *st, store_user *u)
{
    memset(u, 0, sizeof *u);
    if (col_text(s, st, 0, u->name, sizeof u->name, "user") < 0 ||
        col_text(s, st, 1, u->display_name, sizeof u->display_name, u->name) < 0 ||
        col_text(s, st, 2, u->role, sizeof u->role, u->name) < 0 ||
        col_text(s, st, 3, u->clerk_id, sizeof u->clerk_id, u->name) < 0 ||
        col_text(s, st, 4, u->pwhash, sizeof u->pwhash, u->name) < 0)
        return -1;
    u->disabled = sqlite3_column_int(st, 5) != 0;
    u->session_epoch = sqlite3_column_int64(st, 6);
    u->created_ms = sqlite3_column_int64(st, 7);
    u->changed_ms = sqlite3_column_int64(st, 8);
    return 0;
}
LOADER(user, store_user, decode_user)

int store_get_user(store *s, const char *name, store_user *out)
{
    sqlite3_stmt *st = use(s, ST_GET_USER);
    int rc;

    if (st == NULL)
        return -1;
    bind_text(st, 1, name);
    if ((rc = step_one(s, st, "cannot read a user")) == 1) {
        rc = decode_user(s, st, out) < 0 ? -1 : 1;
        sqlite3_reset(st);
    }
    return rc;
}

int store_load_users(store *s, int (*fn)(void *arg, const store_user *u), void *arg)
{
    struct user_cb cb = {fn, arg};

    return load_rows(s, use(s, ST_LOAD_USERS), user_row, &cb, "cannot read the users");
}

/* The statement of a change to user name at at_ms, with ?1 and ?2 bound. */
static sqlite3_stmt *user_change(store *s, enum stmt_id id, const char *name, int64_t at_ms)
{
    sqlite3_stmt *st = use(s, id);

    if (st != NULL) {
        bind_text(st, 1, name);
        sqlite3_bind_int64(st, 2, at_ms);
    }
    return st;
}

int store_set_user_password(store *s, const char *name, const char *pwhash, int64_t at_ms)
{
    sqlite3_stmt *st;

    if (pwhash == NULL || *pwhash == '\0')
        return failf(s, "user %s: the password hash is empty", name);
    if ((st = user_change(s, ST_SET_USER_PASSWORD, name, at_ms)) == NULL)
        return -1;
    bind_text(st, 3, pwhash);
    return write_user(s, st, name, NULL, "cannot change the password of user");
}

int store_set_user_role(store *s, const char *name, const char *role, const char *clerk_id,
                        int64_t at_ms)
{
    sqlite3_stmt *st;

    if (check_user(s, name, role, clerk_id) < 0 ||
        (st = user_change(s, ST_SET_USER_ROLE, name, at_ms)) == NULL)
        return -1;
    bind_text(st, 3, role);
    bind_clerk(st, 4, clerk_id);
    return write_user(s, st, name, clerk_id, "cannot change the role of user");
}

int store_set_user_disabled(store *s, const char *name, bool disabled, int64_t at_ms)
{
    sqlite3_stmt *st = user_change(s, ST_SET_USER_DISABLED, name, at_ms);

    if (st == NULL)
        return -1;
    sqlite3_bind_int(st, 3, disabled);
    return write_user(s, st, name, NULL, disabled ? "cannot disable user" : "cannot enable user");
}

int store_end_user_sessions(store *s, const char *name, int64_t at_ms)
{
    sqlite3_stmt *st = user_change(s, ST_END_USER_SESSIONS, name, at_ms);

    if (st == NULL)
        return -1;
    return write_user(s, st, name, NULL, "cannot end the sessions of user");
}

int store_save_device(store *s, const store_device *d)
{
    sqlite3_stmt *st = use(s, ST_SAVE_DEVICE);

    if (st == NULL)
        return -1;
    bind_text(st, 1, d->id);
    sqlite3_bind_int(st, 2, d->type);
    sqlite3_bind_int64(st, 3, d->window_no);
    sqlite3_bind_int(st, 4, d->revoked);
    sqlite3_bind_int64(st, 5, d->added_ms);
    return run(s, st, "cannot save a device");
}

static int decode_device(store *s, sqlite3_stmt *st, store_device *d)
{
    memset(d, 0, sizeof *d);
    if (col_text(s, st, 0, d->id, sizeof d->id, "device") < 0)
        return -1;
    d->type = sqlite3_column_int(st, 1);
    d->window_no = (uint32_t)sqlite3_column_int64(st, 2);
    d->revoked = sqlite3_column_int(st, 3) != 0;
    d->added_ms = sqlite3_column_int64(st, 4);
    return 0;
}
LOADER(device, store_device, decode_device)

int store_get_device(store *s, const char *id, store_device *out)
{
    sqlite3_stmt *st = use(s, ST_GET_DEVICE);
    int rc;

    if (st == NULL)
        return -1;
    bind_text(st, 1, id);
    if ((rc = step_one(s, st, "cannot read a device")) == 1) {
        rc = decode_device(s, st, out) < 0 ? -1 : 1;
        sqlite3_reset(st);
    }
    return rc;
}

int store_load_devices(store *s, int (*fn)(void *arg, const store_device *d), void *arg)
{
    struct device_cb cb = {fn, arg};

    return load_rows(s, use(s, ST_LOAD_DEVICES), device_row, &cb, "cannot read the devices");
}

int store_get_setting(store *s, const char *key, char *out, size_t outlen)
{
    sqlite3_stmt *st = use(s, ST_GET_SETTING);
    int rc;

    if (st == NULL)
        return -1;
    bind_text(st, 1, key);
    if ((rc = step_one(s, st, "cannot read a setting")) == 1) {
        rc = col_text(s, st, 0, out, outlen, key) < 0 ? -1 : 1;
        sqlite3_reset(st);
    }
    return rc;
}

int store_set_setting(store *s, const char *key, const char *value)
{
    /* The hall id is written once, by store_open(), and is what keeps one
     * hall's controller out of another hall's file. */
    if (strcmp(key, "hall_id") == 0)
        return failf(s, "the hall id of a database cannot be changed");
    sqlite3_stmt *st = use(s, ST_SET_SETTING);
    if (st == NULL)
        return -1;
    bind_text(st, 1, key);
    bind_text(st, 2, value);
    return run(s, st, "cannot write a setting");
}

/* ---- Appointments ---------------------------------------------------------- */

int store_save_appointment(store *s, const store_appointment *a)
{
    sqlite3_stmt *st = use(s, ST_SAVE_APPOINTMENT);

    if (st == NULL)
        return -1;
    bind_text(st, 1, a->code);
    bind_text(st, 2, a->area);
    sqlite3_bind_int64(st, 3, a->slot_ms);
    bind_text(st, 4, a->masked_name);
    bind_hash(st, 5, a->has_citizen, a->citizen_hash);
    if (sqlite3_step(st) != SQLITE_DONE) {
        failf(s, "cannot save appointment %s: %s", a->code, sqlite3_errmsg(s->db));
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    if (sqlite3_changes(s->db) != 1)
        return failf(s, "appointment %s was used already and cannot be changed", a->code);
    return 0;
}

static int decode_appointment(store *s, sqlite3_stmt *st, store_appointment *a)
{
    memset(a, 0, sizeof *a);
    if (col_text(s, st, 0, a->code, sizeof a->code, "appointment") < 0 ||
        col_text(s, st, 1, a->area, sizeof a->area, a->code) < 0 ||
        col_text(s, st, 3, a->masked_name, sizeof a->masked_name, a->code) < 0)
        return -1;
    a->slot_ms = sqlite3_column_int64(st, 2);
    int has = col_hash(s, st, 4, a->citizen_hash, a->code);
    if (has < 0)
        return -1;
    a->has_citizen = has == 1;
    a->state = (store_appointment_state)sqlite3_column_int(st, 5);
    a->ticket_id = (uint64_t)sqlite3_column_int64(st, 6);
    return 0;
}
LOADER(appointment, store_appointment, decode_appointment)

int store_get_appointment(store *s, const char *code, store_appointment *out)
{
    sqlite3_stmt *st = use(s, ST_GET_APPOINTMENT);
    int rc;

    if (st == NULL)
        return -1;
    bind_text(st, 1, code);
    if ((rc = step_one(s, st, "cannot read an appointment")) == 1) {
        rc = decode_appointment(s, st, out) < 0 ? -1 : 1;
        sqlite3_reset(st);
    }
    return rc;
}

int store_mark_appointment_used(store *s, const char *code, uint64_t ticket_id)
{
    sqlite3_stmt *st = use(s, ST_USE_APPOINTMENT);

    if (st == NULL)
        return -1;
    if (ticket_id == 0)
        return failf(s, "appointment %s: a used appointment needs its ticket", code);
    bind_text(st, 1, code);
    bind_u64(st, 2, ticket_id);
    if (run(s, st, "cannot mark an appointment used") < 0)
        return -1;
    return sqlite3_changes(s->db) == 1;
}

/* The appointment USED by ticket_id back to BOOKED (1), or BOOKED back to
 * USED by the ticket that released it (reclaim); 0 if there is none. */
static int move_appointment(store *s, enum stmt_id id, uint64_t ticket_id, const char *what)
{
    sqlite3_stmt *st = use(s, id);

    if (st == NULL)
        return -1;
    bind_u64(st, 1, ticket_id);
    if (run(s, st, what) < 0)
        return -1;
    return sqlite3_changes(s->db) == 1;
}

int store_release_appointment(store *s, uint64_t ticket_id)
{
    return move_appointment(s, ST_RELEASE_APPOINTMENT, ticket_id, "cannot release an appointment");
}

int store_reclaim_appointment(store *s, uint64_t ticket_id)
{
    return move_appointment(s, ST_RECLAIM_APPOINTMENT, ticket_id, "cannot reclaim an appointment");
}

int store_load_appointments(store *s, int64_t since_ms,
                            int (*fn)(void *arg, const store_appointment *a), void *arg)
{
    struct appointment_cb cb = {fn, arg};
    sqlite3_stmt *st = use(s, ST_LOAD_APPOINTMENTS);

    if (st != NULL)
        sqlite3_bind_int64(st, 1, since_ms);
    return load_rows(s, st, appointment_row, &cb, "cannot read the appointments");
}

/* ---- The hall calendar ----------------------------------------------------- */

int store_load_calendar(store *s, calendar **out)
{
    calendar *c = calendar_new();
    sqlite3_stmt *st;
    int rc;

    *out = NULL;
    if (c == NULL)
        return failf(s, "out of memory");
    if ((st = use(s, ST_CAL_LOAD_HOURS)) == NULL)
        goto fail;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char area[CAL_AREA_MAX + 1];
        cal_hours h = {sqlite3_column_int(st, 2), sqlite3_column_int(st, 3),
                       sqlite3_column_int(st, 4), sqlite3_column_int(st, 5),
                       sqlite3_column_int(st, 6)};
        if (col_text(s, st, 0, area, sizeof area, "calendar hours") < 0 ||
            calendar_set_hours(c, area, sqlite3_column_int(st, 1), &h) < 0) {
            sqlite3_reset(st);
            failf(s, "calendar hours of area '%s': not valid hours", area);
            goto fail;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        fail_sql(s, "cannot read the calendar hours");
        goto fail;
    }
    if ((st = use(s, ST_CAL_LOAD_DATES)) == NULL)
        goto fail;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cal_date d = {.day = sqlite3_column_int(st, 0),
                      .kind = (enum cal_date_kind)sqlite3_column_int(st, 1),
                      .as_wday = sqlite3_column_int(st, 2)};
        if (col_text(s, st, 3, d.name, sizeof d.name, "calendar dates") < 0 ||
            calendar_set_date(c, &d) < 0) {
            sqlite3_reset(st);
            failf(s, "calendar date %d: not a valid exception", (int)d.day);
            goto fail;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        fail_sql(s, "cannot read the calendar dates");
        goto fail;
    }
    if ((st = use(s, ST_CAL_LOAD_AREAS)) == NULL)
        goto fail;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cal_area a = {.always_open = sqlite3_column_int(st, 1) != 0,
                      .unstaffed = (enum cal_unstaffed)sqlite3_column_int(st, 2)};
        if (col_text(s, st, 0, a.area, sizeof a.area, "calendar areas") < 0 ||
            calendar_set_area(c, &a) < 0) {
            sqlite3_reset(st);
            failf(s, "calendar area '%s': not valid settings", a.area);
            goto fail;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        fail_sql(s, "cannot read the calendar areas");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    calendar_free(c);
    return -1;
}

static int put_calendar(store *s, const calendar *c)
{
    static const enum stmt_id clear[] = {ST_CAL_CLEAR_HOURS, ST_CAL_CLEAR_DATES,
                                         ST_CAL_CLEAR_AREAS};
    sqlite3_stmt *st;
    const char *area;
    const cal_date *d;
    const cal_area *a;

    for (size_t i = 0; i < sizeof clear / sizeof clear[0]; i++)
        if ((st = use(s, clear[i])) == NULL || run(s, st, "cannot clear the calendar") < 0)
            return -1;
    for (size_t i = 0; (area = calendar_hours_area_at(c, i)) != NULL; i++)
        for (int wday = 0; wday < 7; wday++) {
            const cal_hours *h = calendar_hours_of(c, area, wday);
            if (h == NULL)
                continue;
            if ((st = use(s, ST_CAL_PUT_HOURS)) == NULL)
                return -1;
            bind_text(st, 1, area);
            sqlite3_bind_int(st, 2, wday);
            sqlite3_bind_int(st, 3, h->open);
            sqlite3_bind_int(st, 4, h->lunch_start);
            sqlite3_bind_int(st, 5, h->lunch_end);
            sqlite3_bind_int(st, 6, h->close);
            sqlite3_bind_int(st, 7, h->last);
            if (run(s, st, "cannot store the calendar hours") < 0)
                return -1;
        }
    for (size_t i = 0; (d = calendar_date_at(c, i)) != NULL; i++) {
        if ((st = use(s, ST_CAL_PUT_DATE)) == NULL)
            return -1;
        sqlite3_bind_int(st, 1, d->day);
        sqlite3_bind_int(st, 2, (int)d->kind);
        sqlite3_bind_int(st, 3, d->as_wday);
        bind_text(st, 4, d->name);
        if (run(s, st, "cannot store the calendar dates") < 0)
            return -1;
    }
    for (size_t i = 0; (a = calendar_area_at(c, i)) != NULL; i++) {
        if ((st = use(s, ST_CAL_PUT_AREA)) == NULL)
            return -1;
        bind_text(st, 1, a->area);
        sqlite3_bind_int(st, 2, a->always_open);
        sqlite3_bind_int(st, 3, (int)a->unstaffed);
        if (run(s, st, "cannot store the calendar areas") < 0)
            return -1;
    }
    return 0;
}

int store_save_calendar(store *s, const calendar *c)
{
    bool own;

    if (enter(s, &own) < 0)
        return -1;
    return leave(s, own, put_calendar(s, c));
}

/* ==== Alerts and webhook deliveries (supervise.h) ========================= */

/* Rare statements (an alert changes a few times a day): prepared on each
 * use, so that the statement table stays as it is. */
static sqlite3_stmt *prep(store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_sql(s, "cannot prepare an alert statement");
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

static int done(store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return failf(s, "%s: %s", what, sqlite3_errmsg(s->db));
    return 0;
}

#define ALERT_COLUMNS                                                                              \
    "id, seq, rule, subject, level, state, area, window_no, ticket_id, device, text_zh, text_en, " \
    "raised_ms, updated_ms, acked_by, ack_note, resolved_ms, resolved_by, resolve_note, changes"

int store_put_alert(store *s, const store_alert *a)
{
    sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO alerts(" ALERT_COLUMNS ") VALUES(?1, ?2, "
                               "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
                               "?17, ?18, ?19, ?20)");
    if (st == NULL)
        return -1;
    bind_text(st, 1, a->id);
    bind_u64(st, 2, a->seq);
    bind_text(st, 3, a->rule);
    bind_text(st, 4, a->subject);
    sqlite3_bind_int(st, 5, a->level);
    sqlite3_bind_int(st, 6, a->state);
    bind_text(st, 7, a->area);
    sqlite3_bind_int64(st, 8, a->window_no);
    bind_u64(st, 9, a->ticket_id);
    bind_text(st, 10, a->device);
    bind_text(st, 11, a->text_zh);
    bind_text(st, 12, a->text_en);
    sqlite3_bind_int64(st, 13, a->raised_ms);
    sqlite3_bind_int64(st, 14, a->updated_ms);
    bind_text(st, 15, a->acked_by);
    bind_text(st, 16, a->ack_note);
    sqlite3_bind_int64(st, 17, a->resolved_ms);
    bind_text(st, 18, a->resolved_by);
    bind_text(st, 19, a->resolve_note);
    sqlite3_bind_int64(st, 20, a->changes);
    return done(s, st, "cannot store an alert");
}

static int read_alert(store *s, sqlite3_stmt *st, store_alert *a)
{
    memset(a, 0, sizeof *a);
    if (col_text(s, st, 0, a->id, sizeof a->id, "alert") < 0)
        return -1;
    a->seq = (uint64_t)sqlite3_column_int64(st, 1);
    if (col_text(s, st, 2, a->rule, sizeof a->rule, a->id) < 0 ||
        col_text(s, st, 3, a->subject, sizeof a->subject, a->id) < 0)
        return -1;
    a->level = sqlite3_column_int(st, 4);
    a->state = sqlite3_column_int(st, 5);
    if (col_text(s, st, 6, a->area, sizeof a->area, a->id) < 0)
        return -1;
    a->window_no = (uint32_t)sqlite3_column_int64(st, 7);
    a->ticket_id = (uint64_t)sqlite3_column_int64(st, 8);
    if (col_text(s, st, 9, a->device, sizeof a->device, a->id) < 0 ||
        col_text(s, st, 10, a->text_zh, sizeof a->text_zh, a->id) < 0 ||
        col_text(s, st, 11, a->text_en, sizeof a->text_en, a->id) < 0)
        return -1;
    a->raised_ms = sqlite3_column_int64(st, 12);
    a->updated_ms = sqlite3_column_int64(st, 13);
    if (col_text(s, st, 14, a->acked_by, sizeof a->acked_by, a->id) < 0 ||
        col_text(s, st, 15, a->ack_note, sizeof a->ack_note, a->id) < 0)
        return -1;
    a->resolved_ms = sqlite3_column_int64(st, 16);
    if (col_text(s, st, 17, a->resolved_by, sizeof a->resolved_by, a->id) < 0 ||
        col_text(s, st, 18, a->resolve_note, sizeof a->resolve_note, a->id) < 0)
        return -1;
    a->changes = (uint32_t)sqlite3_column_int64(st, 19);
    return 0;
}

int store_get_alert(store *s, const char *id, store_alert *out)
{
    sqlite3_stmt *st = prep(s, "SELECT " ALERT_COLUMNS " FROM alerts WHERE id = ?1");
    int rc;

    if (st == NULL)
        return -1;
    bind_text(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = read_alert(s, st, out) < 0 ? -1 : 1;
    else if (rc == SQLITE_DONE)
        rc = 0;
    else
        rc = fail_sql(s, "cannot read an alert");
    sqlite3_finalize(st);
    return rc;
}

int store_load_alerts(store *s, bool open_only, size_t limit,
                      int (*fn)(void *arg, const store_alert *a), void *arg)
{
    sqlite3_stmt *st =
        prep(s, open_only ? "SELECT " ALERT_COLUMNS " FROM alerts WHERE state IN "
                            "(1, 2) ORDER BY seq DESC LIMIT ?1"
                          : "SELECT " ALERT_COLUMNS " FROM alerts ORDER BY seq DESC LIMIT ?1");
    store_alert a;
    int rc;

    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (read_alert(s, st, &a) < 0) {
            sqlite3_finalize(st);
            return -1;
        }
        if ((rc = fn(arg, &a)) != 0) {
            sqlite3_finalize(st);
            return rc;
        }
    }
    if (rc != SQLITE_DONE) {
        fail_sql(s, "cannot read the alerts");
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

int store_max_alert_seq(store *s, uint64_t *out)
{
    sqlite3_stmt *st = prep(s, "SELECT coalesce(max(seq), 0) FROM alerts");

    if (st == NULL)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        fail_sql(s, "cannot read the alerts");
        sqlite3_finalize(st);
        return -1;
    }
    *out = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int store_append_alert_event(store *s, int64_t at_ms, int32_t day, const char *device,
                             const char *user, const char *what)
{
    struct event_row r = {.at_ms = at_ms, .day = day, .kind = STORE_EVENT_ALERT};

    set_strings(&r, user, what, device);
    return append_checked(s, &r);
}

int store_add_delivery(store *s, const char *alert_id, uint32_t change, const char *body,
                       int64_t at_ms)
{
    sqlite3_stmt *st = prep(s, "INSERT INTO webhook_deliveries(alert_id, change, body, "
                               "created_ms) VALUES(?1, ?2, ?3, ?4)");
    if (st == NULL)
        return -1;
    bind_text(st, 1, alert_id);
    sqlite3_bind_int64(st, 2, change);
    bind_text(st, 3, body);
    sqlite3_bind_int64(st, 4, at_ms);
    return done(s, st, "cannot queue a webhook delivery");
}

/* The one integer an aggregate query (sql) gives. */
static int select_int64(store *s, const char *sql, const char *what, int64_t *out)
{
    sqlite3_stmt *st = prep(s, sql);

    if (st == NULL)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        fail_sql(s, what);
        sqlite3_finalize(st);
        return -1;
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int store_count_deliveries(store *s, size_t *out)
{
    int64_t n;

    if (select_int64(s, "SELECT count(*) FROM webhook_deliveries",
                     "cannot count the webhook deliveries", &n) < 0)
        return -1;
    *out = (size_t)n;
    return 0;
}

int store_next_delivery(store *s, uint64_t after, store_delivery *out)
{
    sqlite3_stmt *st = prep(s, "SELECT id, alert_id, change, body, created_ms FROM "
                               "webhook_deliveries WHERE id > ?1 ORDER BY id LIMIT 1");
    int rc;

    if (st == NULL)
        return -1;
    bind_u64(st, 1, after);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *body = sqlite3_column_text(st, 3);
        memset(out, 0, sizeof *out);
        out->id = (uint64_t)sqlite3_column_int64(st, 0);
        out->change = (uint32_t)sqlite3_column_int64(st, 2);
        out->created_ms = sqlite3_column_int64(st, 4);
        rc = col_text(s, st, 1, out->alert_id, sizeof out->alert_id, "delivery") < 0 ? -1 : 1;
        if (rc == 1 && (out->body = strdup(body ? (const char *)body : "")) == NULL)
            rc = failf(s, "out of memory");
    } else if (rc == SQLITE_DONE) {
        rc = 0;
    } else {
        rc = fail_sql(s, "cannot read a webhook delivery");
    }
    sqlite3_finalize(st);
    return rc;
}

int store_drop_delivery(store *s, uint64_t id)
{
    sqlite3_stmt *st = prep(s, "DELETE FROM webhook_deliveries WHERE id = ?1");

    if (st == NULL)
        return -1;
    bind_u64(st, 1, id);
    return done(s, st, "cannot drop a webhook delivery");
}

int store_alert_changes(store *s, uint64_t *out)
{
    int64_t n;

    if (select_int64(s, "SELECT coalesce(sum(changes), 0) FROM alerts", "cannot read the alerts",
                     &n) < 0)
        return -1;
    *out = (uint64_t)n;
    return 0;
}

int store_oldest_waiting(store *s,
                         int (*fn)(void *arg, const char *area, uint64_t id, int64_t issued_ms),
                         void *arg)
{
    /* The partial index tickets_live finds the waiting ones; SQLite takes
     * the bare columns from the row of min(). */
    sqlite3_stmt *st = prep(s, "SELECT area, id, min(issued_ms) FROM tickets WHERE state = 2 "
                               "GROUP BY area");
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *area = sqlite3_column_text(st, 0);
        if ((rc = fn(arg, area ? (const char *)area : "", (uint64_t)sqlite3_column_int64(st, 1),
                     sqlite3_column_int64(st, 2))) != 0) {
            sqlite3_finalize(st);
            return rc;
        }
    }
    if (rc != SQLITE_DONE) {
        fail_sql(s, "cannot read the waiting tickets");
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

/* ---- Big screens (大屏) ------------------------------------------------ */

bool store_screen_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > STORE_SCREEN_NAME_MAX ||
        !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '.' || name[i] == '_' || name[i] == '-'))
            return false;
    return true;
}

int store_save_screen(store *s, const store_screen *sc)
{
    sqlite3_stmt *st;

    if (!store_screen_name_valid(sc->name))
        return failf(s, "screen name '%s': use 1 to %d of a-z, 0-9, '.', '_' or '-'", sc->name,
                     STORE_SCREEN_NAME_MAX);
    if ((st = use(s, ST_SAVE_SCREEN)) == NULL)
        return -1;
    bind_text(st, 1, sc->name);
    bind_text(st, 2, sc->token_sha256);
    sqlite3_bind_int64(st, 3, sc->issued_ms);
    bind_text(st, 4, sc->issued_by);
    return run(s, st, "cannot save a screen");
}

static int decode_screen(store *s, sqlite3_stmt *st, store_screen *sc)
{
    memset(sc, 0, sizeof *sc);
    if (col_text(s, st, 0, sc->name, sizeof sc->name, "screen") < 0 ||
        col_text(s, st, 1, sc->token_sha256, sizeof sc->token_sha256, sc->name) < 0 ||
        col_text(s, st, 3, sc->issued_by, sizeof sc->issued_by, sc->name) < 0 ||
        col_text(s, st, 5, sc->revoked_by, sizeof sc->revoked_by, sc->name) < 0)
        return -1;
    sc->issued_ms = sqlite3_column_int64(st, 2);
    sc->revoked_ms = sqlite3_column_int64(st, 4);
    return 0;
}
LOADER(screen, store_screen, decode_screen)

int store_get_screen(store *s, const char *name, store_screen *out)
{
    sqlite3_stmt *st = use(s, ST_GET_SCREEN);
    int rc;

    if (st == NULL)
        return -1;
    bind_text(st, 1, name);
    if ((rc = step_one(s, st, "cannot read a screen")) == 1) {
        rc = decode_screen(s, st, out) < 0 ? -1 : 1;
        sqlite3_reset(st);
    }
    return rc;
}

int store_load_screens(store *s, int (*fn)(void *arg, const store_screen *sc), void *arg)
{
    struct screen_cb cb = {fn, arg};

    return load_rows(s, use(s, ST_LOAD_SCREENS), screen_row, &cb, "cannot read the screens");
}

int store_revoke_screen(store *s, const char *name, int64_t at_ms, const char *by)
{
    sqlite3_stmt *st = use(s, ST_REVOKE_SCREEN);

    if (st == NULL)
        return -1;
    bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, at_ms);
    bind_text(st, 3, by);
    if (run(s, st, "cannot revoke a screen") < 0)
        return -1;
    return sqlite3_changes(s->db) == 1;
}

_Static_assert(Q_RESERVED == 1 && Q_DONE == 5 && Q_VOID == 8, "ST_DAY_SUMMARY names these states");

int store_day_summary(store *s, int32_t day, store_day_glance *out)
{
    sqlite3_stmt *st = use(s, ST_DAY_SUMMARY);
    int rc;

    memset(out, 0, sizeof *out);
    if (st == NULL)
        return -1;
    sqlite3_bind_int(st, 1, day);
    if ((rc = step_one(s, st, "cannot count the day's tickets")) < 0)
        return -1;
    if (rc == 1) {
        out->issued = (uint32_t)sqlite3_column_int64(st, 0);
        out->served = (uint32_t)sqlite3_column_int64(st, 1);
        out->rated = (uint32_t)sqlite3_column_int64(st, 2);
        out->satisfied = (uint32_t)sqlite3_column_int64(st, 3);
        sqlite3_reset(st);
    }
    return 0;
}

int store_windows_since(store *s, int32_t day, int (*fn)(void *arg, uint32_t no, int64_t at_ms),
                        void *arg)
{
    sqlite3_stmt *st;
    int64_t first;
    int rc;

    if (first_seq_of_day(s, day, &first) < 0 || (st = use(s, ST_WINDOWS_SINCE)) == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, first);
    sqlite3_bind_int(st, 2, day);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = fn(arg, (uint32_t)sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1))) !=
            0) {
            sqlite3_reset(st);
            return rc;
        }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail_sql(s, "cannot read the windows' last events");
}
