/*
 * bootgrub — the boot-state backend for x86 boards booting with GRUB: the
 * state is kept as kupd_* variables in a GRUB environment block (the file
 * grub-editenv edits, e.g. /boot/grub/grubenv), which the grub.cfg snippet
 * in docs/update.md reads at every boot.
 *
 * The block is exactly 1024 bytes: "# GRUB Environment Block\n", then
 * "name=value\n" lines, then '#' padding. Variables other than kupd_* are
 * kept as they are. GRUB rewrites the block in place and it has no
 * redundant copy, so the updater keeps its writes rare (one per state
 * change) and replaces the file by rename where the file system allows.
 */
#ifndef ONEWINDOW_BOOTGRUB_H
#define ONEWINDOW_BOOTGRUB_H

#include "boot.h"

#define BOOTGRUB_SIZE 1024

/* A boot handle over the environment block at path; NULL with errno. */
boot *bootgrub_new(const char *path);

#endif
