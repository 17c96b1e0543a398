/*
 * idnum — identity numbers as text. See idnum.h. The weights and the
 * check characters are those of GB 11643-1999 (ISO 7064 MOD 11-2).
 */
#include "idnum.h"

#include <errno.h>
#include <string.h>

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

char idnum_check_digit(const char *first17)
{
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check[] = "10X98765432";
    int sum = 0;

    for (int i = 0; i < 17; i++) {
        if (first17[i] < '0' || first17[i] > '9')
            return 0;
        sum += (first17[i] - '0') * weights[i];
    }
    return check[sum % 11];
}

bool idnum_gb11643_valid(const char *s)
{
    char want, got;

    if (s == NULL || strlen(s) != 18)
        return false;
    want = idnum_check_digit(s);
    got = s[17] == 'x' ? 'X' : s[17];
    return want != 0 && want == got;
}

idnum_verdict idnum_check(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n == 18 && digits(s, 17) && (digits(s + 17, 1) || s[17] == 'X' || s[17] == 'x'))
        return idnum_gb11643_valid(s) ? IDNUM_OK : IDNUM_BAD_CHECK_DIGIT;
    if (n == 15 && digits(s + 3, 12)) {
        for (size_t i = 0; i < 3; i++)
            if (s[i] < 'A' || s[i] > 'Z')
                return IDNUM_MALFORMED;
        return IDNUM_OK;
    }
    return IDNUM_MALFORMED;
}

int idnum_mask(const char *number, char *out, size_t outlen)
{
    size_t n;

    if (number == NULL || out == NULL) {
        errno = EINVAL;
        return -1;
    }
    n = strlen(number);
    if (outlen < n + 1) {
        errno = ENOBUFS;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = n > 8 && (i < 4 || i >= n - 4) ? number[i] : '*';
    out[n] = '\0';
    return 0;
}
