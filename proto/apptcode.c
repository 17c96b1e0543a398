/*
 * apptcode — the appointment code format. See apptcode.h.
 */
#include "apptcode.h"

#include <string.h>

bool apptcode_valid(const char *code)
{
    size_t n = code != NULL ? strnlen(code, APPTCODE_MAX + 1) : 0;

    if (n < APPTCODE_MIN || n > APPTCODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (code[i] == '\0' || strchr(APPTCODE_ALPHABET, code[i]) == NULL)
            return false;
    return true;
}
