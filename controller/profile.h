/*
 * profile — what a hall's recent weeks looked like, per area and hour of
 * the week: the arrivals, the service time and the windows that were open.
 * The statistics (stats.h) measure it from the event log; staffing advice
 * (staffing.h) and the simulation that checks it take it as their input.
 * A plain value: no I/O, nothing to free.
 */
#ifndef ONEWINDOW_PROFILE_H
#define ONEWINDOW_PROFILE_H

#define PROFILE_AREAS_MAX 16 /* areas a profile describes */
#define PROFILE_CODE_MAX  16 /* an area code with its NUL (queue.h's Q_CODE_MAX) */

typedef struct profile {
    int nareas;
    char area[PROFILE_AREAS_MAX][PROFILE_CODE_MAX];
    /* Per area, weekday (0 = Sunday .. 6 = Saturday, as the hall calendar
     * counts them) and hall-local hour, the mean over the weeks measured: */
    double arrivals[PROFILE_AREAS_MAX][7][24];     /* tickets issued in that hour */
    double open_windows[PROFILE_AREAS_MAX][7][24]; /* windows open serving the area */
    double service_s[PROFILE_AREAS_MAX];           /* mean service time, seconds */
    int weeks;                                     /* weeks measured (0: no data) */
} profile;

#endif
