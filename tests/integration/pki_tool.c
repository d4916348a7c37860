/*
 * pki_tool: a small driver over the PKI library for tests/integration/
 * pki_openssl.sh, so the real openssl command can judge what the library
 * makes. Not a product command (that is `vouch ca|cert`, later).
 *
 *   pki_tool init DIR                      root + issuing CA, keys encrypted
 *   pki_tool issue DIR CSR TEMPLATE OUT    prints the serial (hex)
 *   pki_tool renew DIR CERT OUT
 *   pki_tool crl DIR NUMBER OUT [HEX:REASON...]
 *   pki_tool ocsp DIR REQ RESP [HEX:REASON...]
 *       good if DIR/issued has the serial, revoked if listed, else unknown;
 *       unauthorized for another issuer, malformedRequest for garbage
 *
 * Exit 0 on success, 1 on refusal (message on stderr), 2 on usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/rand.h>

#include "pki/pki.h"

#define FILE_MAX (1 << 20)

static int die(const char *what, vouch_pki_rc rc, const char *why)
{
    fprintf(stderr, "pki_tool: %s: %s%s%s\n", what, vouch_pki_strerror(rc),
            why && *why ? ": " : "", why ? why : "");
    return 1;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;

    if (f == NULL)
        return NULL;
    buf = malloc(FILE_MAX + 1);
    *len = buf ? fread(buf, 1, FILE_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || *len > FILE_MAX) {
        free(buf);
        return NULL;
    }
    buf[*len] = 0;
    return buf;
}

static int spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok = f != NULL && fwrite(data, 1, len, f) == len;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

static const char *at(const char *dir, const char *name)
{
    static char buf[4][1024];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static int write_cert(const char *path, X509 *c)
{
    FILE *f = fopen(path, "w");
    int ok = f != NULL && PEM_write_X509(f, c);
    if (f != NULL)
        fclose(f);
    return ok ? 0 : -1;
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *c = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return c;
}

static int save_key(const char *dir, const char *name, EVP_PKEY *k, const uint8_t *pass)
{
    char *pem = NULL;
    size_t len = 0;
    int rc;
    if (vouch_pki_key_encrypt(k, pass, 32, &pem, &len) != VOUCH_PKI_OK)
        return -1;
    rc = spit(at(dir, name), pem, len);
    vouch_pki_free_secret(pem, len);
    return rc;
}

static EVP_PKEY *load_key(const char *dir, const char *name)
{
    size_t len = 0, plen = 0;
    uint8_t *pem = slurp(at(dir, name), &len), *pass = slurp(at(dir, "master"), &plen);
    EVP_PKEY *k = NULL;
    if (pem != NULL && pass != NULL && plen == 32 &&
        vouch_pki_key_decrypt((char *)pem, len, pass, plen, &k) != VOUCH_PKI_OK)
        k = NULL;
    free(pem);
    if (pass != NULL)
        OPENSSL_cleanse(pass, plen);
    free(pass);
    return k;
}

typedef struct {
    X509 *root, *iss;
    EVP_PKEY *iss_key;
    vouch_pki_signer *signer;
} ca;

static int ca_load(const char *dir, ca *c)
{
    memset(c, 0, sizeof *c);
    c->root = read_cert(at(dir, "root.pem"));
    c->iss = read_cert(at(dir, "issuing.pem"));
    c->iss_key = load_key(dir, "issuing.key");
    if (c->root == NULL || c->iss == NULL || c->iss_key == NULL ||
        vouch_pki_signer_from_key(c->iss_key, &c->signer) != VOUCH_PKI_OK)
        return -1;
    return 0;
}

static void ca_free(ca *c)
{
    X509_free(c->root);
    X509_free(c->iss);
    EVP_PKEY_free(c->iss_key);
    vouch_pki_signer_free(c->signer);
}

static int cmd_init(const char *dir)
{
    uint8_t pass[32], sn[16];
    EVP_PKEY *rk = NULL, *ik = NULL;
    vouch_pki_signer *rs = NULL;
    X509 *root = NULL, *iss = NULL;
    time_t now = time(NULL);
    vouch_pki_ca_params p = {.org = "Acme Test", .cn = "Acme Root CA", .serial = sn,
                             .serial_len = 16, .not_before = now - 3600,
                             .not_after = now + 20 * 365 * 86400L, .path_len = 1};
    vouch_pki_rc rc;
    int ret = 1;

    if (RAND_bytes(pass, sizeof pass) != 1 || spit(at(dir, "master"), pass, sizeof pass) != 0)
        return die("master key", VOUCH_PKI_E_CRYPTO, NULL);
    if ((rc = vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &rk)) != VOUCH_PKI_OK ||
        (rc = vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &ik)) != VOUCH_PKI_OK ||
        (rc = vouch_pki_signer_from_key(rk, &rs)) != VOUCH_PKI_OK ||
        (rc = vouch_pki_serial_random(sn)) != VOUCH_PKI_OK ||
        (rc = vouch_pki_ca_root(&p, rs, &root)) != VOUCH_PKI_OK) {
        die("root", rc, NULL);
        goto exit;
    }
    p.cn = "Acme Issuing CA";
    p.path_len = 0;
    p.not_after = now + 10 * 365 * 86400L;
    p.public_url = "http://127.0.0.1:8080";
    p.parent_name = "root";
    if ((rc = vouch_pki_serial_random(sn)) != VOUCH_PKI_OK ||
        (rc = vouch_pki_ca_sub(&p, ik, root, rs, &iss)) != VOUCH_PKI_OK) {
        die("issuing CA", rc, NULL);
        goto exit;
    }
    if (write_cert(at(dir, "root.pem"), root) || write_cert(at(dir, "issuing.pem"), iss) ||
        save_key(dir, "root.key", rk, pass) || save_key(dir, "issuing.key", ik, pass) ||
        spit(at(dir, "issued"), "", 0)) {
        die("write", VOUCH_PKI_E_ARG, dir);
        goto exit;
    }
    ret = 0;
exit:
    OPENSSL_cleanse(pass, sizeof pass);
    X509_free(root);
    X509_free(iss);
    vouch_pki_signer_free(rs);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
    return ret;
}

static int finish_issue(const char *dir, X509 *cert, const char *out)
{
    uint8_t sn[VOUCH_PKI_SERIAL_MAX];
    size_t n;
    char hex[VOUCH_PKI_SERIAL_HEX_MAX];
    FILE *f;

    if (vouch_pki_cert_serial(cert, sn, &n) != VOUCH_PKI_OK ||
        vouch_pki_serial_to_hex(sn, n, hex, sizeof hex) != VOUCH_PKI_OK || write_cert(out, cert))
        return die("write", VOUCH_PKI_E_ARG, out);
    f = fopen(at(dir, "issued"), "a");
    if (f == NULL)
        return die("issued list", VOUCH_PKI_E_ARG, dir);
    fprintf(f, "%s\n", hex);
    fclose(f);
    printf("%s\n", hex);
    return 0;
}

static int cmd_issue(const char *dir, const char *csr_path, const char *tpl_name, const char *out,
                     X509 *old)
{
    ca c;
    vouch_pki_template t;
    X509_REQ *csr = NULL;
    X509 *cert = NULL;
    uint8_t sn[16], *data = NULL;
    size_t len = 0;
    char why[256] = "";
    vouch_pki_rc rc;
    int ret = 1;
    vouch_pki_issue_params p = {.tpl = &t, .issuer_name = "default",
                                .public_url = "http://127.0.0.1:8080", .serial = sn,
                                .serial_len = 16, .not_before = time(NULL) - 60};

    if (ca_load(dir, &c) != 0) {
        ca_free(&c);
        return die("load CA", VOUCH_PKI_E_ARG, dir);
    }
    p.issuer_cert = c.iss;
    p.issuer_key = c.signer;
    if ((rc = vouch_pki_template_builtin(tpl_name, &t)) != VOUCH_PKI_OK ||
        (rc = vouch_pki_serial_random(sn)) != VOUCH_PKI_OK) {
        die("template", rc, tpl_name);
        goto exit;
    }
    if (old != NULL) {
        rc = vouch_pki_renew(&p, old, &cert, why, sizeof why);
    } else {
        data = slurp(csr_path, &len);
        rc = data == NULL ? VOUCH_PKI_E_ARG : vouch_pki_csr_parse(data, len, &csr);
        if (rc == VOUCH_PKI_OK)
            rc = vouch_pki_issue(&p, csr, &cert, why, sizeof why);
    }
    if (rc != VOUCH_PKI_OK) {
        die("issue", rc, why);
        goto exit;
    }
    ret = finish_issue(dir, cert, out);
exit:
    free(data);
    X509_REQ_free(csr);
    X509_free(cert);
    ca_free(&c);
    return ret;
}

/* "HEX:reason" list -> revoked entries */
static int parse_revoked(char **args, int n, vouch_pki_revoked *out)
{
    int i;
    for (i = 0; i < n; i++) {
        char buf[128], *colon;
        snprintf(buf, sizeof buf, "%s", args[i]);
        colon = strchr(buf, ':');
        if (colon == NULL)
            return -1;
        *colon = '\0';
        memset(&out[i], 0, sizeof out[i]);
        if (vouch_pki_serial_from_hex(buf, out[i].serial, sizeof out[i].serial,
                                      &out[i].serial_len) != VOUCH_PKI_OK ||
            vouch_pki_reason_parse(colon + 1, &out[i].reason) != VOUCH_PKI_OK)
            return -1;
        out[i].revoked_at = time(NULL) - 30;
    }
    return 0;
}

static int cmd_crl(const char *dir, const char *number, const char *out, char **args, int n)
{
    ca c;
    vouch_pki_revoked list[64];
    X509_CRL *crl = NULL;
    FILE *f;
    vouch_pki_rc rc;
    int ret = 1;

    if (n > 64 || parse_revoked(args, n, list) != 0) {
        fprintf(stderr, "pki_tool: bad HEX:reason list\n");
        return 2;
    }
    if (ca_load(dir, &c) != 0) {
        ca_free(&c);
        return die("load CA", VOUCH_PKI_E_ARG, dir);
    }
    rc = vouch_pki_crl_build(c.iss, c.signer, list, (size_t)n, strtoull(number, NULL, 10),
                             time(NULL) - 60, time(NULL) + 86400, &crl);
    if (rc != VOUCH_PKI_OK) {
        die("crl", rc, NULL);
        goto exit;
    }
    f = fopen(out, "w");
    if (f == NULL || !PEM_write_X509_CRL(f, crl)) {
        if (f)
            fclose(f);
        die("write", VOUCH_PKI_E_ARG, out);
        goto exit;
    }
    fclose(f);
    ret = 0;
exit:
    X509_CRL_free(crl);
    ca_free(&c);
    return ret;
}

static int issued(const char *dir, const char *hex)
{
    size_t len;
    uint8_t *list = slurp(at(dir, "issued"), &len);
    char line[64];
    int found = 0;

    snprintf(line, sizeof line, "%s\n", hex);
    if (list != NULL)
        found = strstr((char *)list, line) != NULL;
    free(list);
    return found;
}

/* The status the tool's little "database" gives a serial. */
static void lookup(const char *dir, const uint8_t *sn, size_t sl, const vouch_pki_revoked *rev,
                   int n, vouch_pki_ocsp_single *a)
{
    char hex[VOUCH_PKI_SERIAL_HEX_MAX] = "";
    int i;

    a->state = VOUCH_PKI_CERT_UNKNOWN;
    if (vouch_pki_serial_to_hex(sn, sl, hex, sizeof hex) == VOUCH_PKI_OK && issued(dir, hex))
        a->state = VOUCH_PKI_CERT_GOOD;
    for (i = 0; i < n; i++)
        if (rev[i].serial_len == sl && memcmp(rev[i].serial, sn, sl) == 0) {
            a->state = VOUCH_PKI_CERT_REVOKED;
            a->revoked_at = rev[i].revoked_at;
            a->reason = rev[i].reason;
        }
}

static int cmd_ocsp(const char *dir, const char *reqp, const char *respp, char **args, int n)
{
    ca c;
    vouch_pki_revoked rev[64];
    vouch_pki_ocsp_issuer iss;
    vouch_pki_ocsp_request *r = NULL;
    vouch_pki_ocsp_single a[VOUCH_PKI_OCSP_IDS_MAX];
    uint8_t *req = NULL, *resp = NULL, sn[VOUCH_PKI_SERIAL_MAX];
    size_t len = 0, rlen = 0, sl, idx, i, nlen;
    const uint8_t *nonce;
    vouch_pki_rc rc;
    int ret = 1;

    if (n > 64 || parse_revoked(args, n, rev) != 0) {
        fprintf(stderr, "pki_tool: bad HEX:reason list\n");
        return 2;
    }
    if (ca_load(dir, &c) != 0 || vouch_pki_ocsp_issuer_init(&iss, c.iss, c.signer, NULL)) {
        ca_free(&c);
        return die("load CA", VOUCH_PKI_E_ARG, dir);
    }
    req = slurp(reqp, &len);
    rc = req == NULL ? VOUCH_PKI_E_ARG : vouch_pki_ocsp_request_parse(req, len, &r);
    if (rc != VOUCH_PKI_OK) {
        rc = vouch_pki_ocsp_error(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, &resp, &rlen);
        fprintf(stderr, "pki_tool: malformed request\n");
        goto write;
    }
    for (i = 0; i < vouch_pki_ocsp_request_count(r); i++) {
        a[i].id = vouch_pki_ocsp_request_id(r, i);
        if (vouch_pki_ocsp_match(a[i].id, &iss, 1, &idx, sn, &sl) != VOUCH_PKI_OK)
            break;
        lookup(dir, sn, sl, rev, n, &a[i]);
    }
    if (i < vouch_pki_ocsp_request_count(r)) {
        rc = vouch_pki_ocsp_error(OCSP_RESPONSE_STATUS_UNAUTHORIZED, &resp, &rlen);
        fprintf(stderr, "pki_tool: unauthorized (issuer not served)\n");
        goto write;
    }
    nonce = vouch_pki_ocsp_request_nonce(r, &nlen);
    rc = vouch_pki_ocsp_respond(&iss, a, i, time(NULL) - 5, time(NULL) + 3600, nonce, nlen,
                                &resp, &rlen);
    ret = rc == VOUCH_PKI_OK ? 0 : 1;
write:
    if (rc != VOUCH_PKI_OK || spit(respp, resp, rlen) != 0) {
        die("ocsp", rc, NULL);
        ret = 1;
    }
    OPENSSL_free(resp);
    free(req);
    vouch_pki_ocsp_request_free(r);
    ca_free(&c);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "init") == 0)
        return cmd_init(argv[2]);
    if (argc == 6 && strcmp(argv[1], "issue") == 0)
        return cmd_issue(argv[2], argv[3], argv[4], argv[5], NULL);
    if (argc == 5 && strcmp(argv[1], "renew") == 0) {
        X509 *old = read_cert(argv[3]);
        int rc = old ? cmd_issue(argv[2], NULL, "device", argv[4], old) : die("read", VOUCH_PKI_E_PARSE, argv[3]);
        X509_free(old);
        return rc;
    }
    if (argc >= 5 && strcmp(argv[1], "crl") == 0)
        return cmd_crl(argv[2], argv[3], argv[4], argv + 5, argc - 5);
    if (argc >= 5 && strcmp(argv[1], "ocsp") == 0)
        return cmd_ocsp(argv[2], argv[3], argv[4], argv + 5, argc - 5);
    fprintf(stderr, "usage: pki_tool init DIR | issue DIR CSR TEMPLATE OUT | renew DIR CERT OUT |\n"
                    "       crl DIR NUMBER OUT [HEX:REASON...] | ocsp DIR REQ RESP [HEX:REASON...]\n");
    return 2;
}
