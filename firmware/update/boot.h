/*
 * boot — the bootloader seen by the updater: the A/B boot state, a backend
 * interface to load and store it (bootsim: a state file for tests and host
 * runs; bootgrub: the GRUB environment block on x86 boards), and
 * boot_step(), which performs one boot exactly as the bootloader script
 * must, so the tests exercise the same rules a board follows.
 *
 * Per slot: bootable, good, tries. "trial" names the slot on probation.
 *
 *           install (ACTIVATE)             mark-good
 *   unbootable ----------------> trial ---------------> good
 *        ^                        |  boot: tries--        |
 *        |   tries == 0 at boot,  |                       |
 *        +------ or mark-bad -----+                       |
 *        +-------- PREPARE of the next install -----------+ (other slot only)
 *
 * Invariants (boot_state_check): a good slot is bootable and not on trial;
 * the trial slot is bootable and not good; tries are only counted on trial.
 */
#ifndef ONEWINDOW_BOOT_H
#define ONEWINDOW_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "slots.h"

#define BOOT_TRIES 3

struct boot_slot {
    int bootable;
    int good;
    int tries;
};

struct boot_state {
    uint64_t seq;  /* bumped on every store */
    char order[2]; /* boot preference, e.g. {'b','a'} */
    struct boot_slot slot[2];
    char trial; /* 'a', 'b' or 0 */
};

/* A backend: load fills st (-1 with ENOENT if there is no state yet),
 * store replaces it atomically. */
struct boot_ops {
    const char *name;
    int (*load)(void *priv, struct boot_state *st);
    int (*store)(void *priv, const struct boot_state *st);
    void (*free)(void *priv);
};

typedef struct boot boot;

/* Wrap a backend; on failure the backend's priv is freed too. */
boot *boot_new(const struct boot_ops *ops, void *priv);
void boot_free(boot *b);
const char *boot_name(const boot *b);

/* Load the state; a missing state is the factory state (nothing bootable,
 * order a b). Returns 0 or -1 with errno. */
int boot_load(boot *b, struct boot_state *st);
/* Check the invariants, bump seq and store. Returns 0 or -1 with errno. */
int boot_store(boot *b, struct boot_state *st);

/* Assert the invariants drawn above. */
void boot_state_check(const struct boot_state *st);

/* Encode/decode the state as key=value pairs, keys prefixed with prefix. */
int boot_state_encode(const struct boot_state *st, struct slots_kv *kv, const char *prefix);
int boot_state_decode(const struct slots_kv *kv, const char *prefix, struct boot_state *st);

/* One simulated boot under root: pick the slot, count a trial try, write
 * run/booted. Returns the slot letter, or -1 with ENOENT when no slot is
 * bootable (the board would enter recovery). note (may be NULL) receives a
 * sentence about a fallback, or "". */
int boot_step(boot *b, const char *root, char *note, size_t note_len);

#endif
