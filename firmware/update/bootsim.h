/*
 * bootsim — the boot-state backend for host runs and tests: the boot state
 * lives in <root>/boot/bootstate as key=value lines, written atomically.
 * It is the contract a board's bootloader script implements.
 */
#ifndef ONEWINDOW_BOOTSIM_H
#define ONEWINDOW_BOOTSIM_H

#include "boot.h"

/* A boot handle over <root>/boot/bootstate; NULL with errno on failure. */
boot *bootsim_new(const char *root);

#endif
