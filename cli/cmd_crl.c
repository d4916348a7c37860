/*
 * vouch crl: an issuer's current CRL from vouchd's public validation
 * endpoint (GET /crl/<issuer>.crl, no token).
 */
#include "cli/remote.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static void asn1_time_rfc3339(const ASN1_TIME *t, char *out, size_t n)
{
    struct tm tm;
    if (t && ASN1_TIME_to_tm(t, &tm))
        strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(out, n, "%s", "");
}

static int cmd_get(char **pos, int npos)
{
    const char *issuer = ropt("issuer"), *out = ropt("out");
    int pem = ropt("pem") != NULL, ret;
    char *enc = NULL, *path = NULL;
    vouch_http_response rsp = {0};
    X509_CRL *crl = NULL;
    BIO *b = NULL;
    if (!issuer)
        issuer = "default";
    if ((ret = check_name("issuer name", issuer, NAME_MAX_LEN)))
        return ret;
    if (out && !*out)
        return cli_usage(R.cmd, "an empty file name");
    if ((ret = remote_open()))
        return ret;
    if (!(enc = vouch_http_encode(issuer)) || !(path = malloc(strlen(enc) + 16))) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    sprintf(path, "/crl/%s.crl", enc);
    if ((ret = remote_get_raw(path, NULL, &rsp)))
        goto out;
    const unsigned char *p = (const unsigned char *)rsp.body;
    crl = d2i_X509_CRL(NULL, &p, (long)rsp.len);
    if (!crl || p != (const unsigned char *)rsp.body + rsp.len) {
        ERR_clear_error();
        ret = bad_answer(NULL, "not a DER CRL");
        goto out;
    }
    if (R.json && !out) {
        ret = CLI_OK; /* the summary alone */
    } else if (pem) {
        char *data;
        long n;
        if (!(b = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509_CRL(b, crl) ||
            (n = BIO_get_mem_data(b, &data)) <= 0) {
            ERR_clear_error();
            ret = cli_err(CLI_FILE, "cannot encode the CRL as PEM: out of memory");
            goto out;
        }
        ret = cli_write_file(out ? out : "-", data, (size_t)n, 0);
    } else {
        ret = cli_write_file(out ? out : "-", rsp.body, rsp.len, 0);
    }
    if (ret || !R.json)
        goto out;
    char tu[32], nu[32], num[80] = "";
    asn1_time_rfc3339(X509_CRL_get0_lastUpdate(crl), tu, sizeof tu);
    asn1_time_rfc3339(X509_CRL_get0_nextUpdate(crl), nu, sizeof nu);
    ASN1_INTEGER *cn = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    BIGNUM *bn = cn ? ASN1_INTEGER_to_BN(cn, NULL) : NULL;
    char *dec = bn ? BN_bn2dec(bn) : NULL;
    if (dec)
        snprintf(num, sizeof num, "%s", dec);
    OPENSSL_free(dec);
    BN_free(bn);
    ASN1_INTEGER_free(cn);
    ERR_clear_error();
    int nrev = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)); /* -1: none */
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I}", "issuer", issuer, "this_update", tu,
                          "next_update", nu, "crl_number", num, "revoked",
                          (json_int_t)(nrev > 0 ? nrev : 0));
    if (!j) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    print_json(j);
    json_decref(j);
out:
    BIO_free(b);
    X509_CRL_free(crl);
    vouch_http_response_clear(&rsp);
    free(path);
    free(enc);
    return ret;
}

#define OPTS(...) ((cli_opt[]){__VA_ARGS__, {NULL, NULL, NULL, 0}})

static const remote_cmd cmds[] = {
    {"get", cmd_get, OPTS({"issuer", "NAME", NULL, 0}, {"out", "FILE", NULL, 0}, {"pem", NULL, NULL, 0}),
     NULL, REMOTE_NO_TOKEN,
     {"crl get", "fetch an issuer's current certificate revocation list",
      "    vouch crl [--server URL] [--cacert FILE] get [--issuer NAME] [--out FILE]\n"
      "              [--pem] [--json]",
      "DESCRIPTION\n"
      "    Fetches issuer NAME's current CRL from the server's public endpoint\n"
      "    (GET /crl/<issuer>.crl; no token is needed or sent) and writes it,\n"
      "    DER by default, to --out FILE or stdout. The answer is checked to be\n"
      "    a DER CRL. The server rebuilds it after every revocation, so it\n"
      "    holds every revocation the server has answered for. With --json\n"
      "    stdout gets {issuer, this_update, next_update, crl_number, revoked\n"
      "    (how many entries)} and the CRL is written only with --out. Check it\n"
      "    with\n"
      "        openssl crl -inform DER -in FILE -CAfile issuer.pem -noout\n\n"
      "OPTIONS\n"
      "    --issuer NAME   the issuer, default 'default'\n"
      "    --out FILE      output file (mode 0644); - is stdout (the default)\n"
      "    --pem           PEM (X509 CRL) instead of DER\n",
      "    vouch crl get --issuer default --pem --out default.crl.pem\n"
      "    openssl crl -in default.crl.pem -noout -text\n", 0}},
};

static const remote_group crl_group = {
    "crl", "fetch certificate revocation lists from vouchd",
    "    Fetches CRLs from a vouchd server's public endpoints (no token).\n",
    "    vouch crl --server https://ca.example.com:8443 get --out default.crl\n", cmds,
    sizeof cmds / sizeof cmds[0]};

int cmd_crl_main(int argc, char **argv) { return remote_run_group(&crl_group, argc, argv); }
