/*
 * apptcode — the one format of an appointment code (IssueRequest's
 * appointment_code), shared by hallctl, which books appointments, and the
 * kiosk, whose keypad types them: APPTCODE_MIN to APPTCODE_MAX characters
 * from APPTCODE_ALPHABET, digits and capital letters without I and O
 * (read as 1 and 0). A code hallctl books can always be typed at a kiosk.
 */
#ifndef ONEWINDOW_APPTCODE_H
#define ONEWINDOW_APPTCODE_H

#include <stdbool.h>

#define APPTCODE_ALPHABET "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
#define APPTCODE_MIN      4
#define APPTCODE_MAX      12

/* Whether code is a whole appointment code of this format. */
bool apptcode_valid(const char *code);

#endif
