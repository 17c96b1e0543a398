/*
 * idnum — the numbers of China's identity documents, as text: the GB
 * 11643-1999 citizen identity number (17 digits and an ISO 7064 MOD 11-2
 * check digit; residence permits and the 2023 permanent residence card
 * have the same form) and the 2017 permanent residence card's number (3
 * letters and 12 digits, with no check digit).
 *
 * Shared by the card reader driver, which checks what a card says, and by
 * halld, which checks the number a kiosk sends before hashing it: the
 * rules live once, here, rather than halld linking driver code. Pure: no
 * I/O, no allocation, no logging, and no number ever in a result.
 */
#ifndef ONEWINDOW_IDNUM_H
#define ONEWINDOW_IDNUM_H

#include <stdbool.h>
#include <stddef.h>

#define IDNUM_MAX 18 /* characters of the longest number */

/* The check digit ('0'..'9' or 'X') of the first 17 characters of an
 * 18-character number, 0 if one of them is not a digit. */
char idnum_check_digit(const char *first17);

/* True if s is 18 characters, 17 digits and its right check digit (a
 * lower-case x is accepted for X). */
bool idnum_gb11643_valid(const char *s);

typedef enum idnum_verdict {
    IDNUM_OK,              /* a number of one of the two forms */
    IDNUM_MALFORMED,       /* neither form: length or characters */
    IDNUM_BAD_CHECK_DIGIT, /* 17 digits and a check digit, the wrong one */
} idnum_verdict;

/* What s is: a GB 11643 number with its right check digit, or a 2017
 * permanent residence number (3 upper-case letters, 12 digits), or not an
 * ID number. NULL is malformed. */
idnum_verdict idnum_check(const char *s);

/* The number with all but its first and last four characters replaced by
 * '*' (a number of 8 characters or fewer is all stars): 3713**********1234.
 * 0, or -1 with errno EINVAL (NULL) or ENOBUFS (outlen too small). */
int idnum_mask(const char *number, char *out, size_t outlen);

#endif
