/*
 * se_key_tool: a small driver over pki/se_key.h for tests/integration/
 * ca_se_key.sh, so a real vouch-se daemon and the openssl command judge a
 * CA key held in an SE slot. Not a product command (vouchd is the real user).
 *
 *   se_key_tool open KEY_REF [PUB_OUT]   open the key; write its public key
 *   se_key_tool serve KEY_REF CERT       one key for the whole session, with
 *       commands on stdin, one per line, one answer line each ("ok" or
 *       "fail <status>: <why>"):
 *         crl OUT        an empty CRL signed by the key (PEM)
 *         leaf CSR OUT   a certificate from CSR (template "device") (PEM)
 *         quit
 *
 * Exit status of open (and of a serve that cannot start): 0 ok, 2 malformed
 * key reference, 3 the SE refused (no key, wrong algorithm), 4 the SE
 * cannot be reached, 5 anything else. Messages on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "pki/pki.h"
#include "pki/se_key.h"

static int status_of(vouch_pki_rc rc)
{
    switch (rc) {
    case VOUCH_PKI_OK: return 0;
    case VOUCH_PKI_E_PARSE:
    case VOUCH_PKI_E_ARG: return 2;
    case VOUCH_PKI_E_POLICY:
    case VOUCH_PKI_E_NOTFOUND: return 3;
    case VOUCH_PKI_E_SIGNER: return 4;
    default: return 5;
    }
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *c = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return c;
}

static X509_REQ *read_csr(const char *path)
{
    FILE *f = fopen(path, "r");
    X509_REQ *r = f ? PEM_read_X509_REQ(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return r;
}

static int cmd_open(const char *ref, const char *pub_out)
{
    char why[512] = "";
    vouch_se_key *k = NULL;
    vouch_pki_rc rc = vouch_se_key_open(ref, &k, why, sizeof why);
    if (rc != VOUCH_PKI_OK) {
        fprintf(stderr, "se_key_tool: %s: %s\n", vouch_pki_strerror(rc), why);
        if (k != NULL) {
            fprintf(stderr, "se_key_tool: open failed but returned a key\n");
            return 5;
        }
        return status_of(rc);
    }
    int ret = 0;
    if (pub_out) {
        FILE *f = fopen(pub_out, "w");
        if (f == NULL || !PEM_write_PUBKEY(f, vouch_se_key_public(k)))
            ret = 5;
        if (f != NULL && fclose(f) != 0)
            ret = 5;
    }
    printf("%s\n", vouch_se_key_ref(k));
    vouch_se_key_close(k);
    return ret;
}

/* One answer line for a failed signature. */
static void answer_fail(vouch_pki_rc rc, const vouch_se_key *k, const char *what)
{
    const char *e = vouch_se_key_last_error(k);
    ERR_clear_error();
    printf("fail %s: %s: %s\n", vouch_pki_strerror(rc), what, *e ? e : "-");
}

static void do_crl(const vouch_se_key *k, X509 *cert, const char *out)
{
    time_t now = time(NULL);
    X509_CRL *crl = NULL;
    vouch_pki_rc rc = vouch_pki_crl_build(cert, vouch_se_key_signer(k), NULL, 0, 1, now - 60,
                                          now + 86400, &crl);
    if (rc != VOUCH_PKI_OK) {
        answer_fail(rc, k, "crl");
        return;
    }
    FILE *f = fopen(out, "w");
    int ok = f != NULL && PEM_write_X509_CRL(f, crl);
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    X509_CRL_free(crl);
    printf(ok ? "ok\n" : "fail write: cannot write %s\n", out);
}

static void do_leaf(const vouch_se_key *k, X509 *cert, const char *csr_path, const char *out)
{
    vouch_pki_template t;
    uint8_t serial[VOUCH_PKI_SERIAL_LEN];
    char why[256] = "";
    X509_REQ *csr = read_csr(csr_path);
    X509 *leaf = NULL;
    time_t now = time(NULL);
    if (csr == NULL || vouch_pki_template_builtin("device", &t) != VOUCH_PKI_OK ||
        vouch_pki_serial_random(serial) != VOUCH_PKI_OK) {
        printf("fail setup: cannot read %s\n", csr_path);
        X509_REQ_free(csr);
        return;
    }
    vouch_pki_issue_params p = {.tpl = &t, .issuer_cert = cert,
                                .issuer_key = vouch_se_key_signer(k), .issuer_name = "default",
                                .public_url = "http://127.0.0.1:8443", .serial = serial,
                                .serial_len = sizeof serial, .not_before = now - 60,
                                .not_after = now + 30 * 86400};
    vouch_pki_rc rc = vouch_pki_issue(&p, csr, &leaf, why, sizeof why);
    X509_REQ_free(csr);
    if (rc != VOUCH_PKI_OK) {
        answer_fail(rc, k, why[0] ? why : "leaf");
        return;
    }
    FILE *f = fopen(out, "w");
    int ok = f != NULL && PEM_write_X509(f, leaf);
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    X509_free(leaf);
    printf(ok ? "ok\n" : "fail write: cannot write %s\n", out);
}

static int cmd_serve(const char *ref, const char *cert_path)
{
    char why[512] = "", line[4096], a[2048], b[2048];
    vouch_se_key *k = NULL;
    X509 *cert = read_cert(cert_path);
    if (cert == NULL) {
        fprintf(stderr, "se_key_tool: cannot read the certificate %s\n", cert_path);
        return 5;
    }
    vouch_pki_rc rc = vouch_se_key_open(ref, &k, why, sizeof why);
    if (rc != VOUCH_PKI_OK) {
        fprintf(stderr, "se_key_tool: %s: %s\n", vouch_pki_strerror(rc), why);
        X509_free(cert);
        return status_of(rc);
    }
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin) != NULL) {
        if (sscanf(line, "crl %2047s", a) == 1)
            do_crl(k, cert, a);
        else if (sscanf(line, "leaf %2047s %2047s", a, b) == 2)
            do_leaf(k, cert, a, b);
        else if (strncmp(line, "quit", 4) == 0)
            break;
        else
            printf("fail usage: unknown command\n");
        fflush(stdout);
    }
    vouch_se_key_close(k);
    X509_free(cert);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && argc <= 4 && strcmp(argv[1], "open") == 0)
        return cmd_open(argv[2], argc == 4 ? argv[3] : NULL);
    if (argc == 4 && strcmp(argv[1], "serve") == 0)
        return cmd_serve(argv[2], argv[3]);
    fprintf(stderr, "usage: se_key_tool open KEY_REF [PUB_OUT] | serve KEY_REF CERT\n");
    return 2;
}
