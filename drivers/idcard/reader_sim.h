/*
 * reader_sim — the in-process card reader backend ("sim"), for kioskd
 * --sim and the tests.
 *
 * It carries the frames to and from a samdev (samdev.h), so the driver
 * runs its real frame code against a software SAM. Besides what samdev
 * does (cards, one-shot byte faults), it can be slow (every answer comes
 * after a delay) or silent (commands are swallowed). All of it is guarded
 * by one mutex: the reader's worker calls the backend while the loop's
 * thread changes the card.
 */
#ifndef ONEWINDOW_READER_SIM_H
#define ONEWINDOW_READER_SIM_H

#include <stdbool.h>

#include "reader.h"
#include "samdev.h"

typedef struct reader_sim reader_sim;

/* The backend, for the table in reader.c. */
const struct reader_ops *reader_sim_backend(void);

/* The sim of r, NULL if r's backend is not sim. Valid until reader_free. */
reader_sim *reader_sim_of(const reader *r);

/* Put card c on the reader (SAMDEV_NONE: take the card away). */
void reader_sim_set_card(reader_sim *s, samdev_card c);
/* Arm a one-shot fault (samdev_set_fault). */
void reader_sim_set_fault(reader_sim *s, samdev_fault f, bool any);
/* Swallow commands without answering while silent. */
void reader_sim_set_silent(reader_sim *s, bool silent);
/* Delay every answer by ms (0: answer at once). */
void reader_sim_set_delay(reader_sim *s, int ms);
/* Commands the sim has answered (samdev_commands). */
unsigned long reader_sim_commands(reader_sim *s);

#endif
