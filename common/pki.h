/*
 * pki — the hall's certificate authority, with OpenSSL 3.
 *
 * A hall has one CA (an EC P-256 key and a self-signed certificate). Every
 * device and the controller get a key and a certificate signed by it; the
 * certificate's subject CN is the device id, and its extended key usage
 * says whether it may act as a TLS server, a client, or both. hallctl uses
 * this to create a hall and its devices; tests use it to make throw-away
 * certificates, so none is ever checked in.
 *
 * Files are PEM. Keys are written with mode 0600, atomically (temporary
 * file + rename). Errors return -1 with a reason in err (NET_ERR_LEN-style
 * buffer of PKI_ERR_LEN).
 */
#ifndef ONEWINDOW_PKI_H
#define ONEWINDOW_PKI_H

#define PKI_ERR_LEN 256

enum pki_usage { PKI_SERVER = 1, PKI_CLIENT = 2 };

/* Create a CA valid for days; writes cert_path and key_path. */
int pki_make_ca(const char *cn, int days, const char *cert_path, const char *key_path, char *err);

/* Issue a leaf certificate for cn signed by the CA in ca_cert/ca_key, with
 * usage PKI_SERVER and/or PKI_CLIENT; dns_name (may be NULL) goes into the
 * subjectAltName together with "localhost" and 127.0.0.1 for servers. */
int pki_issue(const char *ca_cert, const char *ca_key, const char *cn, const char *dns_name,
              int usage, int days, const char *cert_path, const char *key_path, char *err);

#endif
