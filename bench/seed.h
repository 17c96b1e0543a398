/*
 * seed — fill a stopped hall's store with a big queue and a long history,
 * through the hallcore store API (the same writes halld makes), so halld
 * can be started on it and timed, and loads can call from a deep queue:
 *
 *   waiting  tickets WAITING today, spread round-robin over the catalog's
 *            areas, issued over the last hours of today's business day
 *            (never before its rollover), oldest first;
 *   history  tickets DONE on the 30 business days before today.
 *
 * Numbers continue each (day, area)'s sequence past what the store holds
 * and skip the offline lease band as halld's numbering does, so
 * UNIQUE(day, area, number) holds; ids continue past the highest id ever
 * used. Writes go in transactions of SEED_BATCH tickets, and one admin
 * event records the seeding in the audit trail.
 */
#ifndef ONEWINDOW_SEED_H
#define ONEWINDOW_SEED_H

#include <stddef.h>
#include <stdint.h>

#define SEED_BATCH        50000
#define SEED_HISTORY_DAYS 30

/* Seed the hall of config (halld must not be running on it). 0 with the
 * time taken in *seconds, or -1 with a reason in err. */
int seed_run(const char *config, uint64_t waiting, uint64_t history, double *seconds, char *err,
             size_t errlen);

#endif
