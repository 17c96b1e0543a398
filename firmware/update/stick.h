/*
 * stick — a USB stick as the updater sees it: a folder of bundles
 * (<mount>/kiosk-update/NAME.kub) and a receipt written back into it
 * (kiosk-update/kupd-receipt.txt) so maintenance staff carry a record of
 * what the kiosk did with their stick.
 *
 * A stick is hostile until proven otherwise, and kupd runs as root, so:
 *
 * - Every file-system call on the stick happens in a reader process of its
 *   own, and each answer must come within STICK_DEADLINE_MS. A stick that
 *   stops answering (a hung device, a slow one) ends the session with
 *   ETIMEDOUT; the reader is killed and left behind, never waited for, and
 *   it holds no descriptor of the kiosk's (in particular not the updater
 *   lock), so a reader stuck in the kernel blocks nothing else.
 * - Everything is opened relative to the folder's descriptor. The folder is
 *   opened with O_DIRECTORY|O_NOFOLLOW and may not be a symbolic link.
 * - Only regular files are opened: the type is checked with
 *   fstatat(AT_SYMLINK_NOFOLLOW) before any open, so a FIFO or a device
 *   node is refused by type and never opened; the open itself uses
 *   O_NONBLOCK|O_NOFOLLOW and the descriptor is checked again (same file,
 *   still regular) in case the entry changed in between.
 * - The receipt is created with O_CREAT|O_EXCL|O_NOFOLLOW under a temporary
 *   name and renamed within the folder; no link on the stick is followed or
 *   created, and nothing outside the folder is written.
 * - Names are bytes from the stick: a name holding control characters or
 *   bytes that are not UTF-8 is refused, and stick_escape() is the only way
 *   a name reaches a log or the receipt.
 *
 * Test hook: KUPD_STICK_FAULT=eio@N or hang@N makes the reader fail with EIO,
 * or stop answering, at the first read that reaches byte N of a bundle, as
 * a stick pulled or hung mid-copy would.
 */
#ifndef ONEWINDOW_STICK_H
#define ONEWINDOW_STICK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STICK_DIR         "kiosk-update"
#define STICK_RECEIPT     "kupd-receipt.txt"
#define STICK_DEADLINE_MS 5000  /* the longest kupd waits for one answer of a stick */
#define STICK_ENTRIES_MAX 64    /* more *.kub entries than this: the folder is refused */
#define STICK_RECEIPT_MAX 32768 /* the longest receipt */
#define STICK_NAME_MAX    255
#define STICK_ESC_MAX     (4 * STICK_NAME_MAX + 1) /* an escaped name, NUL included */

/* Entry types as the reader sees them, without following links. */
enum stick_type {
    STICK_REGULAR = 'f',
    STICK_SYMLINK = 'l',
    STICK_FIFO = 'p',
    STICK_CHARDEV = 'c',
    STICK_BLOCKDEV = 'b',
    STICK_FOLDER = 'd',
    STICK_SOCKET = 's',
    STICK_UNKNOWN = '?'
};

struct stick_entry {
    char name[STICK_NAME_MAX + 1]; /* the raw name, as the stick spells it */
    char type;                     /* enum stick_type */
};

typedef struct stick stick;

/* Start a reader for the folder `folder` under mount (folder NULL: mount
 * itself, for a bundle named on the command line). mount is trusted (the
 * kiosk's mount point or a path an operator typed); folder must be a real
 * folder, not a link. Returns the handle, or NULL with errno and a sentence
 * in why: ENOENT no such folder, ELOOP the folder is a link, ENOTDIR not a
 * folder, ETIMEDOUT the stick did not answer, EBUSY the reader of an
 * earlier session is still stuck in that stick. */
stick *stick_open(const char *mount, const char *folder, char *why, size_t cap);

/* Stop the reader (stick_free(NULL) is fine). */
void stick_free(stick *s);

/* The *.kub entries of the folder (names starting with '.' are not
 * looked at), sorted by name, with their types; no entry is opened.
 * Returns their number, or -1 with errno and why (E2BIG: more than
 * STICK_ENTRIES_MAX). */
int stick_scan(stick *s, struct stick_entry *e, size_t cap, char *why, size_t wcap);

/* Why an entry of this name and type cannot be a bundle (one sentence),
 * or NULL if it may be one. */
const char *stick_refusal(const char *name, char type);

/* Open the bundle `name` of the folder for stick_read (closing the one
 * open before), following the rules above. Returns 0 and its size, or -1
 * with why (never naming the file: the caller shows the escaped name). */
int stick_open_file(stick *s, const char *name, uint64_t *size, char *why, size_t cap);

/* Read up to len bytes at off from the open bundle. Returns the number read
 * (less than len only at the end of the file), or -1 with errno: ETIMEDOUT
 * when the stick did not answer in time (the session is over), EIO and the
 * like when the stick failed. */
ssize_t stick_read(stick *s, void *buf, size_t len, uint64_t off);

/* 1 while the reader answers; 0 once the session is over (the stick did
 * not answer in time, or the reader died): every call then fails. */
int stick_alive(const stick *s);

/* Bytes received from the stick's files so far in this session. */
uint64_t stick_bytes_read(const stick *s);

/* Write the receipt (at most STICK_RECEIPT_MAX bytes) into the folder.
 * Returns 0 or -1 with errno (the stick may be gone or read-only). */
int stick_write_receipt(stick *s, const char *text);

/* text with every byte that could disturb a line or a terminal escaped:
 * control characters, DEL, bytes that are not UTF-8 (and C1 controls) as
 * \xNN, a backslash as \\. Printable UTF-8 (Chinese names) stays as it is.
 * out holds at least 4 * strlen(text) + 1 bytes or is truncated to cap. */
void stick_escape(const char *text, char *out, size_t cap);

/* 0 if KUPD_STICK_FAULT is unset or well formed, else -1 (EINVAL). */
int stick_fault_env_ok(void);

#endif
