/*
 * issue_bench: where one certificate's CPU goes, single-threaded, in
 * process (no HTTP, no store), next to OpenSSL's own ECDSA P-256 sign and
 * verify on prepared keys, timed in the same run.
 *
 *   issue_bench [--count N] [--rounds R] [--json]
 *
 * Makes a P-256 root and issuing CA and N distinct P-256 CSRs (PEM, like
 * vouchd receives them), then times over the N requests, R rounds, best
 * round reported:
 *   parse   vouch_pki_csr_read (PEM -> parsed request)
 *   check   vouch_pki_csr_check, template device (signature + rules)
 *   issue   vouch_pki_issue_csr_der (check + encode + sign), as vouchd
 *   encode  PEM of the DER
 * and, as the reference, EVP_DigestVerify and EVP_DigestSign of a 300-byte
 * message with P-256 keys made once. "crypto" = verify + sign: what an
 * issuance cannot avoid.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pki/pki.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
    fprintf(stderr, "issue_bench: %s failed\n", what);
    exit(1);
}

static char *make_csr_pem(int i, size_t *len)
{
    EVP_PKEY *key = NULL;
    char subj[64];
    char *pem = NULL;
    X509_REQ *req = NULL;
    snprintf(subj, sizeof subj, "CN=bench-device-%06d", i);
    if (vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &key) != VOUCH_PKI_OK)
        die("key generation");
    X509_NAME *name = X509_NAME_new();
    BIO *bio = BIO_new(BIO_s_mem());
    char cn[32];
    snprintf(cn, sizeof cn, "bench-device-%06d", i);
    if (!name || !bio || (req = X509_REQ_new()) == NULL ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
        !X509_REQ_set_pubkey(req, key) || X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
        !PEM_write_bio_X509_REQ(bio, req))
        die("CSR");
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    pem = malloc((size_t)n + 1);
    if (!pem)
        die("malloc");
    memcpy(pem, data, (size_t)n);
    pem[n] = 0;
    *len = (size_t)n;
    BIO_free(bio);
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return pem;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"count", required_argument, NULL, 'n'},
                                         {"rounds", required_argument, NULL, 'r'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    long count = 2000, rounds = 3;
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n': count = strtol(optarg, NULL, 10); break;
        case 'r': rounds = strtol(optarg, NULL, 10); break;
        case 'j': json = 1; break;
        case 'h':
            printf("usage: issue_bench [--count N] [--rounds R] [--json]\n\n"
                   "Times one certificate's stages single-threaded in process (CSR\n"
                   "parse, template check, issue, encode) over N distinct P-256 CSRs,\n"
                   "best of R rounds, next to OpenSSL's P-256 verify and sign on\n"
                   "prepared keys. Defaults: N 2000, R 3.\n");
            return 0;
        default: fprintf(stderr, "usage: issue_bench [--count N] [--rounds R] [--json]\n"); return 2;
        }
    }
    if (count < 10 || count > 1000000 || rounds < 1 || rounds > 100) {
        fprintf(stderr, "issue_bench: --count 10..1000000, --rounds 1..100\n");
        return 2;
    }

    /* CA: root + issuing, P-256 */
    EVP_PKEY *rk = NULL, *ik = NULL;
    vouch_pki_signer *rs = NULL, *is = NULL;
    X509 *root = NULL, *iss = NULL;
    time_t t0 = time(NULL);
    if (vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &rk) != VOUCH_PKI_OK ||
        vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &ik) != VOUCH_PKI_OK ||
        vouch_pki_signer_from_key(rk, &rs) != VOUCH_PKI_OK ||
        vouch_pki_signer_from_key(ik, &is) != VOUCH_PKI_OK)
        die("CA keys");
    uint8_t s1[VOUCH_PKI_SERIAL_LEN], s2[VOUCH_PKI_SERIAL_LEN];
    if (vouch_pki_serial_random(s1) != VOUCH_PKI_OK || vouch_pki_serial_random(s2) != VOUCH_PKI_OK)
        die("serial");
    vouch_pki_ca_params rp = {.org = "Bench", .cn = "Bench Root", .serial = s1,
                              .serial_len = sizeof s1, .not_before = t0 - 60,
                              .not_after = t0 + 20 * 365 * 86400L, .path_len = 1};
    if (vouch_pki_ca_root(&rp, rs, &root) != VOUCH_PKI_OK)
        die("root");
    vouch_pki_ca_params ip = rp;
    ip.cn = "Bench Issuing";
    ip.serial = s2;
    ip.path_len = 0;
    ip.not_after = t0 + 15 * 365 * 86400L;
    if (vouch_pki_ca_sub(&ip, ik, root, rs, &iss) != VOUCH_PKI_OK)
        die("issuing CA");
    vouch_pki_template tpl;
    if (vouch_pki_template_builtin("device", &tpl) != VOUCH_PKI_OK)
        die("template");

    char **pems = calloc((size_t)count, sizeof *pems);
    size_t *lens = calloc((size_t)count, sizeof *lens);
    vouch_pki_csr **reqs = calloc((size_t)count, sizeof *reqs);
    vouch_pki_der *certs = calloc((size_t)count, sizeof *certs);
    if (!pems || !lens || !reqs || !certs)
        die("malloc");
    for (long i = 0; i < count; i++)
        pems[i] = make_csr_pem((int)i, &lens[i]);

    /* reference: prepared P-256 keys */
    EVP_PKEY *rkey = NULL;
    if (vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &rkey) != VOUCH_PKI_OK)
        die("reference key");
    unsigned char msg[300], sig[128];
    memset(msg, 0x5a, sizeof msg);
    size_t siglen = sizeof sig;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (!m || EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, rkey) != 1 ||
        EVP_DigestSign(m, sig, &siglen, msg, sizeof msg) != 1)
        die("reference signature");
    EVP_MD_CTX_free(m);

    double best[6] = {1e30, 1e30, 1e30, 1e30, 1e30, 1e30};
    char why[256];
    for (long r = 0; r < rounds; r++) {
        double t, d[6];
        t = now_us();
        for (long i = 0; i < count; i++)
            if (vouch_pki_csr_read((const uint8_t *)pems[i], lens[i], &reqs[i]) != VOUCH_PKI_OK)
                die("parse");
        d[0] = now_us() - t;
        t = now_us();
        for (long i = 0; i < count; i++)
            if (vouch_pki_csr_check(&tpl, reqs[i], why, sizeof why) != VOUCH_PKI_OK)
                die(why);
        d[1] = now_us() - t;
        t = now_us();
        for (long i = 0; i < count; i++) {
            uint8_t serial[VOUCH_PKI_SERIAL_LEN];
            if (vouch_pki_serial_random(serial) != VOUCH_PKI_OK)
                die("serial");
            vouch_pki_issue_params p = {.tpl = &tpl, .issuer_cert = iss, .issuer_key = is,
                                        .issuer_name = "default",
                                        .public_url = "http://127.0.0.1:8080",
                                        .serial = serial, .serial_len = sizeof serial};
            if (vouch_pki_issue_csr_der(&p, reqs[i], &certs[i], why, sizeof why) != VOUCH_PKI_OK)
                die(why);
        }
        d[2] = now_us() - t;
        t = now_us();
        for (long i = 0; i < count; i++) {
            BIO *b = BIO_new(BIO_s_mem());
            if (!b || !PEM_write_bio(b, "CERTIFICATE", "", certs[i].der, (long)certs[i].len))
                die("encode");
            BIO_free(b);
        }
        d[3] = now_us() - t;
        t = now_us();
        for (long i = 0; i < count; i++) {
            EVP_MD_CTX *v = EVP_MD_CTX_new();
            if (!v || EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, rkey) != 1 ||
                EVP_DigestVerify(v, sig, siglen, msg, sizeof msg) != 1)
                die("reference verify");
            EVP_MD_CTX_free(v);
        }
        d[4] = now_us() - t;
        t = now_us();
        for (long i = 0; i < count; i++) {
            EVP_MD_CTX *s = EVP_MD_CTX_new();
            unsigned char sig2[128];
            size_t sl = sizeof sig2;
            if (!s || EVP_DigestSignInit(s, NULL, EVP_sha256(), NULL, rkey) != 1 ||
                EVP_DigestSign(s, sig2, &sl, msg, sizeof msg) != 1)
                die("reference sign");
            EVP_MD_CTX_free(s);
        }
        d[5] = now_us() - t;
        for (long i = 0; i < count; i++) {
            vouch_pki_csr_free(reqs[i]);
            vouch_pki_der_free(&certs[i]);
            reqs[i] = NULL;
        }
        for (int k = 0; k < 6; k++)
            if (d[k] / (double)count < best[k])
                best[k] = d[k] / (double)count;
    }
    double crypto = best[4] + best[5];
    if (json) {
        printf("{\"count\": %ld, \"rounds\": %ld, \"parse_us\": %.1f, \"check_us\": %.1f, "
               "\"issue_us\": %.1f, \"encode_us\": %.1f, \"openssl_verify_us\": %.1f, "
               "\"openssl_sign_us\": %.1f, \"parse_issue_encode_over_crypto\": %.2f}\n",
               count, rounds, best[0], best[1], best[2], best[3], best[4], best[5],
               (best[0] + best[2] + best[3]) / crypto);
    } else {
        printf("issue_bench: %ld P-256 CSRs, best of %ld rounds, one thread, microseconds each\n",
               count, rounds);
        printf("  parse (PEM CSR -> X509_REQ)           %8.1f\n", best[0]);
        printf("  check (signature + template rules)    %8.1f\n", best[1]);
        printf("  issue (check + build + sign)          %8.1f\n", best[2]);
        printf("  encode (DER + PEM)                    %8.1f\n", best[3]);
        printf("  openssl P-256 verify (prepared key)   %8.1f\n", best[4]);
        printf("  openssl P-256 sign (prepared key)     %8.1f\n", best[5]);
        printf("  parse + issue + encode = %.1f us = %.2f x (verify + sign)\n",
               best[0] + best[2] + best[3], (best[0] + best[2] + best[3]) / crypto);
    }
    for (long i = 0; i < count; i++)
        free(pems[i]);
    free(pems);
    free(lens);
    free(reqs);
    free(certs);
    X509_free(root);
    X509_free(iss);
    vouch_pki_signer_free(rs);
    vouch_pki_signer_free(is);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(rkey);
    return 0;
}
