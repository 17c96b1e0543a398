/*
 * buf — growable byte buffer with a read cursor. See buf.h.
 *
 * Growth doubles the capacity (starting at 4 KiB), so appending n bytes one
 * at a time costs O(n). Before growing, consumed space at the front is
 * reclaimed by moving the unread bytes down, which keeps a connection's
 * input buffer at the size of its largest frame rather than of its history.
 */
#include "buf.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 4096

void buf_init(buf *b, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
}

void buf_release(buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

uint8_t *buf_reserve(buf *b, size_t n)
{
    size_t unread = b->len - b->off;

    if (b->limit != 0 && (n > b->limit || unread > b->limit - n)) {
        errno = ENOBUFS;
        return NULL;
    }
    if (b->cap - b->len >= n)
        return b->data + b->len;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, unread);
        b->off = 0;
        b->len = unread;
        if (b->cap - b->len >= n)
            return b->data + b->len;
    }
    if (n > SIZE_MAX / 2 - unread) {
        errno = ENOMEM;
        return NULL;
    }
    size_t cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap - unread < n)
        cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (data == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    b->data = data;
    b->cap = cap;
    return b->data + b->len;
}

void buf_commit(buf *b, size_t n)
{
    assert(n <= b->cap - b->len);
    b->len += n;
}

int buf_append(buf *b, const void *data, size_t n)
{
    uint8_t *p;

    if (n == 0)
        return 0;
    if ((p = buf_reserve(b, n)) == NULL)
        return -1;
    memcpy(p, data, n);
    b->len += n;
    return 0;
}

void buf_consume(buf *b, size_t n)
{
    assert(n <= b->len - b->off);
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
}

void buf_clear(buf *b)
{
    b->off = b->len = 0;
}

void buf_trim(buf *b)
{
    if (b->off == b->len && b->data != NULL) {
        free(b->data);
        b->data = NULL;
        b->off = b->len = b->cap = 0;
    }
}
