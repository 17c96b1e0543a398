/*
 * dbfile — see dbfile.h. The database file is created with open(O_EXCL);
 * existing files are tightened through a descriptor (fstat, fchmod), so the
 * file whose mode was read is the one changed. Only regular files are
 * touched.
 */
#include "dbfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GROUP_OTHER 077

/* Append one clause to note ("; " between clauses), cutting it short
 * rather than overflowing. */
static void add_note(char *note, size_t notelen, const char *clause)
{
    size_t used = strlen(note);

    if (used + 3 >= notelen)
        return;
    if (used > 0) {
        memcpy(note + used, "; ", 3);
        used += 2;
    }
    snprintf(note + used, notelen - used, "%s", clause);
}

/* Take the group and other bits off the file at name, if it exists. */
static void tighten(const char *name, char *note, size_t notelen)
{
    char clause[4200];
    struct stat st;
    int fd = open(name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd < 0)
        return; /* absent (or unreadable: SQLite will say so) */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & GROUP_OTHER) != 0) {
        unsigned was = (unsigned)(st.st_mode & 07777);
        if (fchmod(fd, st.st_mode & 07700) == 0)
            snprintf(clause, sizeof clause, "%s was mode %04o, now %04o", name, was,
                     (unsigned)(st.st_mode & 07700));
        else
            snprintf(clause, sizeof clause, "%s is mode %04o and cannot be made private: %s", name,
                     was, strerror(errno));
        add_note(note, notelen, clause);
    }
    close(fd);
}

int dbfile_make_private(const char *path, char *note, size_t notelen)
{
    static const char *const companions[] = {"", "-wal", "-shm", "-journal"};
    char name[4096];

    note[0] = '\0';
    if (strlen(path) + sizeof "-journal" > sizeof name) {
        snprintf(note, notelen, "database path too long: %.200s...", path);
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, DBFILE_MODE);
    if (fd >= 0) {
        /* The umask may have taken bits away, never added any; set the
         * mode exactly anyway, as SQLite does for the files it creates. */
        int rc = fchmod(fd, DBFILE_MODE);
        int e = errno;
        close(fd);
        if (rc < 0) {
            unlink(path);
            snprintf(note, notelen, "cannot create %s with mode %04o: %s", path, DBFILE_MODE,
                     strerror(e));
            errno = e;
            return -1;
        }
    } else if (errno != EEXIST) {
        int e = errno;
        snprintf(note, notelen, "cannot create %s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    for (size_t i = 0; i < sizeof companions / sizeof companions[0]; i++) {
        snprintf(name, sizeof name, "%s%s", path, companions[i]);
        tighten(name, note, notelen);
    }
    return 0;
}
