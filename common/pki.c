/*
 * pki — the hall's certificate authority. See pki.h.
 *
 * Layout: error helpers; key generation and certificate building (one
 * function sets the fields every certificate shares, extensions are added
 * by their OpenSSL config names, as in an openssl.cnf section); PEM file
 * reading and atomic writing; the two public functions.
 *
 * Every key is EC P-256 and every signature SHA-256: small, fast on a
 * kiosk's CPU, and accepted by every TLS 1.3 implementation. Serial numbers
 * are 128 random bits with the sign bit cleared, so two certificates issued by the same CA
 * never share one, even when made on different machines from a copied CA.
 */
#include "pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ossl.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Certificates start one hour in the past, so a device whose clock is a
 * little behind the CA's still accepts a certificate issued just now. */
#define PKI_BACKDATE_SECONDS 3600
#define PKI_SERIAL_BYTES     16
#define PKI_MAX_DAYS         36500
#define PKI_MAX_CN           64 /* ub-common-name of RFC 5280 */

static void set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(char *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(err, PKI_ERR_LEN, fmt, ap);
    va_end(ap);
}

static EVP_PKEY *make_key(char *err)
{
    char tmp[128];
    EVP_PKEY *key = EVP_EC_gen("P-256");

    if (key == NULL)
        set_err(err, "cannot generate an EC P-256 key: %s", ossl_reason(tmp, sizeof tmp));
    return key;
}

static int set_random_serial(X509 *x)
{
    unsigned char raw[PKI_SERIAL_BYTES];
    BIGNUM *bn = NULL;
    int rc = -1;

    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    raw[0] &= 0x7f; /* serials must be positive (RFC 5280 4.1.2.2) */
    if ((bn = BN_bin2bn(raw, sizeof raw, NULL)) != NULL &&
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
        rc = 0;
    BN_free(bn);
    return rc;
}

/* Add one X509v3 extension given as an openssl.cnf value ("critical,CA:TRUE").
 * ctx tells OpenSSL the issuer and subject, for the key identifiers. */
static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok;

    if (ext == NULL)
        return -1;
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A new unsigned certificate for key with subject CN = cn, valid for days,
 * with every field set except the issuer and the extensions. */
static X509 *new_cert(const char *cn, int days, EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name;

    if (x == NULL)
        return NULL;
    name = X509_get_subject_name(x);
    if (!X509_set_version(x, X509_VERSION_3) || set_random_serial(x) < 0 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -PKI_BACKDATE_SECONDS) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_set_pubkey(x, key)) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static bool valid_cn(const char *cn, char *err)
{
    if (cn == NULL || *cn == '\0') {
        set_err(err, "the common name is empty");
        return false;
    }
    if (strlen(cn) > PKI_MAX_CN) {
        set_err(err, "the common name \"%.64s...\" is longer than %d bytes", cn, PKI_MAX_CN);
        return false;
    }
    return true;
}

/* The subjectAltName value for a server: localhost and 127.0.0.1 always,
 * plus dns_name as an IP: entry if it is an address literal, else as DNS:.
 * dns_name is checked to be a host name, because it is pasted into a
 * comma-separated list. */
static int server_san(const char *dns_name, char *out, size_t outlen, char *err)
{
    unsigned char addr[sizeof(struct in6_addr)];
    const char *kind = "DNS";
    int n;

    if (dns_name == NULL || *dns_name == '\0') {
        snprintf(out, outlen, "DNS:localhost,IP:127.0.0.1");
        return 0;
    }
    if (inet_pton(AF_INET, dns_name, addr) == 1 || inet_pton(AF_INET6, dns_name, addr) == 1) {
        kind = "IP";
    } else {
        for (const char *p = dns_name; *p != '\0'; p++) {
            bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.';
            if (!ok) {
                set_err(err, "\"%.64s\" is not a valid host name", dns_name);
                return -1;
            }
        }
    }
    n = snprintf(out, outlen, "DNS:localhost,IP:127.0.0.1,%s:%s", kind, dns_name);
    if (n < 0 || (size_t)n >= outlen) {
        set_err(err, "host name \"%.64s...\" is too long", dns_name);
        return -1;
    }
    return 0;
}

/* Write a PEM file atomically: a temporary file in the same directory,
 * flushed to disk, then renamed over path. mode applies from creation, so
 * a key is never readable by others, not even for a moment. */
static int write_pem(const char *path, mode_t mode, const char *what, X509 *cert, EVP_PKEY *key,
                     char *err)
{
    char tmp[4096], why[128];
    FILE *f;
    int fd, n, ok;

    n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        set_err(err, "cannot write %s %.128s...: path too long", what, path);
        return -1;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        set_err(err, "cannot write %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    if (fchmod(fd, mode) < 0 || (f = fdopen(fd, "w")) == NULL) {
        set_err(err, "cannot write %s %s: %s", what, path, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (cert != NULL)
        ok = PEM_write_X509(f, cert);
    else
        ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    if (!ok) {
        set_err(err, "cannot write %s %s: %s", what, path, ossl_reason(why, sizeof why));
        fclose(f);
        unlink(tmp);
        return -1;
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        set_err(err, "cannot write %s %s: %s", what, path, strerror(errno));
        fclose(f);
        unlink(tmp);
        return -1;
    }
    if (fclose(f) != 0 || rename(tmp, path) < 0) {
        set_err(err, "cannot write %s %s: %s", what, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int write_pair(X509 *cert, EVP_PKEY *key, const char *cert_path, const char *key_path,
                      char *err)
{
    if (write_pem(key_path, 0600, "key", NULL, key, err) < 0)
        return -1;
    return write_pem(cert_path, 0644, "certificate", cert, NULL, err);
}

static X509 *read_cert(const char *path, char *err)
{
    char why[128];
    FILE *f = fopen(path, "re");
    X509 *x;

    if (f == NULL) {
        set_err(err, "cannot read CA certificate %s: %s", path, strerror(errno));
        return NULL;
    }
    x = PEM_read_X509(f, NULL, ossl_no_password, NULL);
    fclose(f);
    if (x == NULL)
        set_err(err, "CA certificate %s is not a PEM certificate: %s", path,
                ossl_reason(why, sizeof why));
    return x;
}

static EVP_PKEY *read_key(const char *path, char *err)
{
    char why[128];
    FILE *f = fopen(path, "re");
    EVP_PKEY *key;

    if (f == NULL) {
        set_err(err, "cannot read CA key %s: %s", path, strerror(errno));
        return NULL;
    }
    key = PEM_read_PrivateKey(f, NULL, ossl_no_password, NULL);
    fclose(f);
    if (key == NULL)
        set_err(err, "CA key %s is not an unencrypted PEM private key: %s", path,
                ossl_reason(why, sizeof why));
    return key;
}

static bool valid_days(int days, char *err)
{
    if (days < 1 || days > PKI_MAX_DAYS) {
        set_err(err, "validity of %d days is out of range 1..%d", days, PKI_MAX_DAYS);
        return false;
    }
    return true;
}

int pki_make_ca(const char *cn, int days, const char *cert_path, const char *key_path, char *err)
{
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    X509V3_CTX ctx;
    char why[128];
    int rc = -1;

    if (!valid_cn(cn, err) || !valid_days(days, err))
        return -1;
    if ((key = make_key(err)) == NULL)
        return -1;
    if ((x = new_cert(cn, days, key)) == NULL ||
        !X509_set_issuer_name(x, X509_get_subject_name(x))) {
        set_err(err, "cannot build CA certificate %s: %s", cn, ossl_reason(why, sizeof why));
        goto out;
    }
    /* Self-signed: the certificate is its own issuer, so the authority key
     * identifier is computed from the subject key identifier added first. */
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
        add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0 ||
        !X509_sign(x, key, EVP_sha256())) {
        set_err(err, "cannot build CA certificate %s: %s", cn, ossl_reason(why, sizeof why));
        goto out;
    }
    rc = write_pair(x, key, cert_path, key_path, err);
out:
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int pki_issue(const char *ca_cert, const char *ca_key, const char *cn, const char *dns_name,
              int usage, int days, const char *cert_path, const char *key_path, char *err)
{
    static const char *const eku[] = {
        [PKI_SERVER] = "serverAuth",
        [PKI_CLIENT] = "clientAuth",
        [PKI_SERVER | PKI_CLIENT] = "serverAuth,clientAuth",
    };
    X509 *ca = NULL, *x = NULL;
    EVP_PKEY *cakey = NULL, *key = NULL;
    X509V3_CTX ctx;
    char san[512], why[128];
    int rc = -1;

    if (!valid_cn(cn, err) || !valid_days(days, err))
        return -1;
    if (usage < PKI_SERVER || usage > (PKI_SERVER | PKI_CLIENT)) {
        set_err(err, "certificate usage %d is neither server, client nor both", usage);
        return -1;
    }
    if ((usage & PKI_SERVER) && server_san(dns_name, san, sizeof san, err) < 0)
        return -1;
    if ((ca = read_cert(ca_cert, err)) == NULL || (cakey = read_key(ca_key, err)) == NULL)
        goto out;
    if (!X509_check_private_key(ca, cakey)) {
        ERR_clear_error();
        set_err(err, "CA key %s does not match CA certificate %s", ca_key, ca_cert);
        goto out;
    }
    if (X509_check_ca(ca) == 0) {
        set_err(err, "%s is not a CA certificate", ca_cert);
        goto out;
    }
    if ((key = make_key(err)) == NULL)
        goto out;
    if ((x = new_cert(cn, days, key)) == NULL ||
        !X509_set_issuer_name(x, X509_get_subject_name(ca))) {
        set_err(err, "cannot build certificate %s: %s", cn, ossl_reason(why, sizeof why));
        goto out;
    }
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") < 0 ||
        add_ext(x, &ctx, NID_ext_key_usage, eku[usage]) < 0 ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0 ||
        ((usage & PKI_SERVER) && add_ext(x, &ctx, NID_subject_alt_name, san) < 0) ||
        !X509_sign(x, cakey, EVP_sha256())) {
        set_err(err, "cannot build certificate %s: %s", cn, ossl_reason(why, sizeof why));
        goto out;
    }
    rc = write_pair(x, key, cert_path, key_path, err);
out:
    X509_free(x);
    EVP_PKEY_free(key);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    return rc;
}
