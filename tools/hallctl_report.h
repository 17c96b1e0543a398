/*
 * hallctl_report — hallctl's reading verbs for the hall manager: report
 * (the figures of stats.h per hour, day, week, month, area, matter,
 * window or clerk, as text, CSV or JSON) and indicators (the reform's
 * shares from the catalog). They read the hall's database on a read-only
 * connection (STORE_READER), beside a running halld.
 */
#ifndef ONEWINDOW_HALLCTL_REPORT_H
#define ONEWINDOW_HALLCTL_REPORT_H

#include "hallctl_admin.h"

/* The reading verbs; the last row is all NULL. */
extern const hallctl_verb hallctl_report_verbs[];

#endif
