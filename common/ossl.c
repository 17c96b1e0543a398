/*
 * ossl — shared OpenSSL helpers. See ossl.h.
 */
#include "ossl.h"

#include <openssl/err.h>

const char *ossl_reason(char *tmp, size_t len)
{
    unsigned long e = ERR_get_error();
    const char *r;

    ERR_clear_error();
    if (e == 0)
        return "unknown error";
    if ((r = ERR_reason_error_string(e)) != NULL)
        return r;
    ERR_error_string_n(e, tmp, len);
    return tmp;
}

int ossl_no_password(char *pass, int size, int rwflag, void *u)
{
    (void)pass, (void)size, (void)rwflag, (void)u;
    return -1;
}
