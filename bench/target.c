/*
 * target — what every target shares: the areas of the sample catalog and
 * the error helper. See target.h.
 */
#include "target.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const target_areas[TARGET_NAREAS] = {"intake", "realestate", "fund",
                                                 "social", "tax",        "approval"};

int target_area_index(const char *code)
{
    for (int i = 0; i < TARGET_NAREAS; i++)
        if (strcmp(code, target_areas[i]) == 0)
            return i;
    return -1;
}

void target_fail(target_err *err, const char *kind, const char *fmt, ...)
{
    va_list ap;

    snprintf(err->kind, sizeof err->kind, "%s", kind);
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}
