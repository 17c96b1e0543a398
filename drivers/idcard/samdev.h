/*
 * samdev — a SAM card reader in software: it takes command frames and
 * gives the answers a reader would, from a card built out of fields with
 * idcard_encode(). Both simulators use it: the in-process "sim" reader
 * backend (reader_sim.h) and the pty reader tools/idreadersim.
 *
 * The cards are fictitious people, one per samdev_card kind, with valid
 * or deliberately broken data (an expired card, a wrong check digit, an
 * impossible birth date). The byte-level misbehaviours (garbage instead
 * of the answer, garbage before it, a truncated answer, a wrong checksum)
 * are one-shot faults that hit the next answer to a read command, or the
 * next answer of any kind. Timing (slow or silent readers) is left to the
 * transport that carries the bytes.
 *
 * Pure: no I/O, no threads; the caller serialises access.
 */
#ifndef ONEWINDOW_SAMDEV_H
#define ONEWINDOW_SAMDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idcard.h"
#include "sam.h"

typedef enum samdev_card {
    SAMDEV_NONE,           /* no card on the reader */
    SAMDEV_VALID,          /* resident card, valid 2020-2040, with fingerprints */
    SAMDEV_EXPIRED,        /* resident card that expired on 2020-01-01 */
    SAMDEV_BAD_CHECK,      /* resident card whose ID number's check digit is wrong */
    SAMDEV_BAD_DATE,       /* resident card born on 1990-02-30 */
    SAMDEV_PERMANENT,      /* foreigner's permanent residence card, 2023 layout */
    SAMDEV_PERMANENT_2017, /* foreigner's permanent residence card, 2017 layout */
    SAMDEV_HKMT,           /* Hong Kong/Macau/Taiwan residence permit */
    SAMDEV_CARD_COUNT
} samdev_card;

/* The configuration name of a card kind ("valid", "bad-check", ...), NULL
 * if out of range. */
const char *samdev_card_name(samdev_card c);
/* The kind named name; -1 with errno EINVAL if there is none. */
int samdev_card_parse(const char *name, samdev_card *out);
/* The fields of card c (SAMDEV_NONE: -1 with errno EINVAL). */
int samdev_card_identity(samdev_card c, idcard_identity *out);

typedef enum samdev_fault {
    SAMDEV_FAULT_NONE,
    SAMDEV_FAULT_GARBAGE,      /* 32 bytes of noise instead of the answer */
    SAMDEV_FAULT_NOISE,        /* 16 bytes of noise, then the answer */
    SAMDEV_FAULT_TRUNCATED,    /* the first half of the answer only */
    SAMDEV_FAULT_BAD_CHECKSUM, /* the answer with a wrong CHK */
    SAMDEV_FAULT_COUNT
} samdev_fault;

/* "none", "garbage", "noise", "truncated", "bad-checksum"; NULL if out of
 * range. */
const char *samdev_fault_name(samdev_fault f);
int samdev_fault_parse(const char *name, samdev_fault *out);

/* The largest answer samdev gives (a read with fingerprints, plus noise). */
#define SAMDEV_REPLY_MAX (SAM_FRAME_MAX + 64)

typedef struct samdev samdev;

/* A reader with card c on it. NULL with errno ENOMEM or EINVAL. */
samdev *samdev_new(samdev_card c);
void samdev_free(samdev *d);

/* Put card c on the reader (SAMDEV_NONE takes it away). */
void samdev_set_card(samdev *d, samdev_card c);
samdev_card samdev_get_card(const samdev *d);

/* Arm fault f for the next answer to a read command (30 01 or 30 10), or
 * with any, for the next answer whatever the command. */
void samdev_set_fault(samdev *d, samdev_fault f, bool any);

/* Take len received bytes. -1 with errno ENOBUFS if more than a frame's
 * worth of unanswered bytes would pile up (the oldest are dropped then). */
int samdev_push(samdev *d, const uint8_t *in, size_t len);

/* The answer to the next complete command received, into out (cap at
 * least SAMDEV_REPLY_MAX); 0 when no complete command is waiting. A
 * command frame with a bad checksum or length is answered with SW3 10 or
 * 11, as a SAM does; bytes that are no frame are dropped. */
size_t samdev_reply(samdev *d, uint8_t *out, size_t cap);

/* Commands answered so far. */
unsigned long samdev_commands(const samdev *d);

#endif
