/*
 * dbfile — keeping an SQLite database and its companion files private to
 * the user that runs the daemon.
 *
 * SQLite creates a database file with mode 0644 (less the umask), and the
 * "-wal", "-shm" and "-journal" files it makes later with the mode of the
 * database file. The hall's and the kiosk's databases hold citizens' data
 * (masked names, keyed hashes of ID numbers) and the audit trail, so they
 * are made 0600 before SQLite opens them: an empty file is an empty
 * database to SQLite, and its companions then inherit 0600. A file made by
 * an older release is tightened the same way when it is opened.
 */
#ifndef ONEWINDOW_DBFILE_H
#define ONEWINDOW_DBFILE_H

#include <stddef.h>

#define DBFILE_MODE 0600

/* Make the database at path private before SQLite opens it: create it
 * empty with mode DBFILE_MODE if it does not exist (O_EXCL, so a file
 * another process made first is left to the rest of this function), and
 * take every group and other permission bit off path and off the
 * companions of it that exist (path-wal, path-shm, path-journal).
 *
 * Returns 0. note gets "" when nothing had to change, or one sentence the
 * caller should show as a warning: which files were tightened from which
 * mode, or which could not be (not their owner...). -1 with errno and the
 * reason in note when path does not exist and cannot be created. */
int dbfile_make_private(const char *path, char *note, size_t notelen);

#endif
