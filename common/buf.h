/*
 * buf — a growable byte buffer with a read cursor (Redis's querybuf/qb_pos).
 *
 * Bytes are appended at the end and consumed from the front; consumed
 * space is reclaimed lazily by moving the unread bytes down when more room
 * is needed. A buffer may have a hard limit: growing past it fails with
 * ENOBUFS, so a peer cannot make a daemon allocate without bound.
 *
 *     data: [ consumed | unread (buf_rdata, buf_rlen) | free space ]
 *             0          off                      len            cap
 *
 * A buf is a value type: embed it, buf_init() it, buf_release() it.
 */
#ifndef ONEWINDOW_BUF_H
#define ONEWINDOW_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    uint8_t *data;
    size_t off;   /* start of unread bytes */
    size_t len;   /* end of unread bytes */
    size_t cap;   /* allocated size */
    size_t limit; /* maximum unread bytes, 0 = none */
} buf;

void buf_init(buf *b, size_t limit);
/* Frees the memory; the buf is empty and reusable afterwards. */
void buf_release(buf *b);

/* Unread bytes (NULL for a buf that never held any: NULL + 0 would be
 * undefined behaviour, which clang's UBSan reports). */
static inline const uint8_t *buf_rdata(const buf *b)
{
    return b->data != NULL ? b->data + b->off : NULL;
}
static inline size_t buf_rlen(const buf *b)
{
    return b->len - b->off;
}

/* Make room for at least n more bytes and return where they go; follow
 * with buf_commit(). NULL with errno ENOMEM or ENOBUFS (over the limit). */
uint8_t *buf_reserve(buf *b, size_t n);
/* Space available after the last buf_reserve() (at least what was asked). */
static inline size_t buf_wspace(const buf *b)
{
    return b->cap - b->len;
}
/* Mark n reserved bytes as written. */
void buf_commit(buf *b, size_t n);
/* Append n bytes; -1 with errno ENOMEM or ENOBUFS. */
int buf_append(buf *b, const void *data, size_t n);
/* Drop n unread bytes from the front (n <= buf_rlen()). */
void buf_consume(buf *b, size_t n);
/* Drop everything unread. */
void buf_clear(buf *b);
/* If nothing is unread, give the memory back (an idle connection should
 * not keep the size of its largest burst); the buffer stays usable. */
void buf_trim(buf *b);

#endif
