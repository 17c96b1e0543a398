/*
 * hallctl_device — hallctl's verbs that talk to a running halld over the
 * device protocol, as the tool device "hallctl" (its certificate is made by
 * hallctl init): ping, queues, issue, call, window open/close.
 */
#ifndef ONEWINDOW_HALLCTL_DEVICE_H
#define ONEWINDOW_HALLCTL_DEVICE_H

#include "hallctl_admin.h"

/* The protocol verbs; the last row is all NULL. */
extern const hallctl_verb hallctl_device_verbs[];

#endif
