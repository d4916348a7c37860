/*
 * crl_bench: what a large CRL costs.
 *
 *   crl_bench [--entries N] [--runs R] [--order store|random] [--json]
 *
 * Builds a v2 CRL with N (default 100,000) revoked entries, signed by a
 * P-256 CA, R times (default 3), two ways:
 *
 *  - vouch: vouch_pki_crl_build (pki/crl.c), then i2d_X509_CRL, timed
 *    separately ("build+sign" and "encode");
 *  - openssl: a minimal OpenSSL-only reference made the way `openssl ca
 *    -gencrl` makes one (X509_REVOKED per entry, reasonCode through
 *    X509_REVOKED_add1_ext_i2d, X509_CRL_sort, X509_CRL_sign, i2d).
 *
 * Entries look like the store's: random 128-bit serials (vouch_pki_serial_
 * random, canonical bytes as the store keeps them), reasons cycling through
 * unspecified (no reasonCode) and keyCompromise..cessationOfOperation.
 * --order store (default) hands them over the way the store lists them
 * (ORDER BY serial, a BLOB: memcmp order); --order random shuffles them.
 *
 * Every DER produced is parsed back and its signature verified with the
 * CA's public key, and the entry count checked, outside the timed parts.
 * Reported per way: the median of the R runs, and the fastest. Exit 1 if
 * any build, encoding or check fails.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pki/pki.h"

#define RUNS_MAX 50
#define ENTRIES_MAX 10000000u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[RUNS_MAX];
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double fastest(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] < m)
            m = v[i];
    return m;
}

/* the store's order: ORDER BY serial over BLOBs = memcmp, shorter first on
 * a common prefix */
static int cmp_store(const void *a, const void *b)
{
    const vouch_pki_revoked *x = a, *y = b;
    size_t n = x->serial_len < y->serial_len ? x->serial_len : y->serial_len;
    int c = memcmp(x->serial, y->serial, n);
    if (c != 0)
        return c;
    return (x->serial_len > y->serial_len) - (x->serial_len < y->serial_len);
}

static int make_entries(vouch_pki_revoked *list, size_t n, time_t now, int shuffle)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t sn[VOUCH_PKI_SERIAL_LEN];
        size_t skip = 0;
        if (vouch_pki_serial_random(sn) != VOUCH_PKI_OK)
            return 0;
        while (skip < sizeof sn - 1 && sn[skip] == 0) /* canonical, as stored */
            skip++;
        memcpy(list[i].serial, sn + skip, sizeof sn - skip);
        list[i].serial_len = sizeof sn - skip;
        list[i].revoked_at = now - 3600 - (time_t)(i % 86400);
        list[i].reason = (int)(i % 6); /* 0 = unspecified: no reasonCode */
    }
    qsort(list, n, sizeof *list, cmp_store);
    if (shuffle) {
        for (size_t i = n; i > 1; i--) {
            uint32_t r;
            if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
                return 0;
            size_t j = r % i;
            vouch_pki_revoked t = list[i - 1];
            list[i - 1] = list[j];
            list[j] = t;
        }
    }
    return 1;
}

/* The OpenSSL-only reference: what apps/ca.c does for -gencrl. */
static X509_CRL *reference_build(X509 *issuer, EVP_PKEY *key, const vouch_pki_revoked *list,
                                 size_t n, uint64_t number, time_t this_update, time_t next_update)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *tm = ASN1_TIME_new();
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();
    X509_EXTENSION *aki = NULL;
    X509V3_CTX ctx;
    int ok = crl != NULL && tm != NULL && num != NULL && reason != NULL &&
             X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
             X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) &&
             ASN1_TIME_set(tm, this_update) != NULL && X509_CRL_set1_lastUpdate(crl, tm) &&
             ASN1_TIME_set(tm, next_update) != NULL && X509_CRL_set1_nextUpdate(crl, tm);

    for (size_t i = 0; ok && i < n; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        BIGNUM *bn = BN_bin2bn(list[i].serial, (int)list[i].serial_len, NULL);
        ASN1_INTEGER *sn = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
        ok = r != NULL && sn != NULL && X509_REVOKED_set_serialNumber(r, sn) &&
             ASN1_TIME_set(tm, list[i].revoked_at) != NULL &&
             X509_REVOKED_set_revocationDate(r, tm);
        if (ok && list[i].reason != 0)
            ok = ASN1_ENUMERATED_set(reason, list[i].reason) &&
                 X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0) == 1;
        if (ok)
            ok = X509_CRL_add0_revoked(crl, r);
        if (ok)
            r = NULL;
        X509_REVOKED_free(r);
        ASN1_INTEGER_free(sn);
        BN_free(bn);
    }
    if (ok)
        ok = X509_CRL_sort(crl) && ASN1_INTEGER_set_uint64(num, number) &&
             X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1;
    if (ok) {
        X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
        aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
        ok = aki != NULL && X509_CRL_add_ext(crl, aki, -1) && X509_CRL_sign(crl, key, EVP_sha256()) > 0;
    }
    X509_EXTENSION_free(aki);
    ASN1_ENUMERATED_free(reason);
    ASN1_INTEGER_free(num);
    ASN1_TIME_free(tm);
    if (!ok) {
        X509_CRL_free(crl);
        return NULL;
    }
    return crl;
}

/* The DER parses, holds n entries, is signed by pub, and its entries are in
 * ascending serial order. */
static int check_der(const unsigned char *der, long len, size_t n, EVP_PKEY *pub)
{
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, len);
    int ok = crl != NULL && p == der + len && X509_CRL_verify(crl, pub) == 1;
    if (ok) {
        STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
        int cnt = sk_X509_REVOKED_num(rev);
        ok = (n == 0 && cnt <= 0) || (cnt >= 0 && (size_t)cnt == n);
        for (int i = 1; ok && i < cnt; i++)
            ok = ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i - 1)),
                                  X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i))) < 0;
    }
    X509_CRL_free(crl);
    return ok;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--entries N] [--runs R] [--order store|random] [--json]\n", argv0);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"entries", required_argument, NULL, 'n'}, {"runs", required_argument, NULL, 'r'},
        {"order", required_argument, NULL, 'o'},   {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    unsigned long n = 100000, runs = 3;
    int json = 0, shuffle = 0, c, rc = 1;
    char *end;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            n = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n > ENTRIES_MAX) {
                fprintf(stderr, "crl_bench: --entries is 0..%u\n", ENTRIES_MAX);
                return 2;
            }
            break;
        case 'r':
            runs = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || runs < 1 || runs > RUNS_MAX) {
                fprintf(stderr, "crl_bench: --runs is 1..%d\n", RUNS_MAX);
                return 2;
            }
            break;
        case 'o':
            if (strcmp(optarg, "store") == 0)
                shuffle = 0;
            else if (strcmp(optarg, "random") == 0)
                shuffle = 1;
            else {
                usage(argv[0]);
                return 2;
            }
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(argv[0]);
            return 0;
        default:
            usage(argv[0]);
            return 2;
        }
    }
    if (optind != argc) {
        usage(argv[0]);
        return 2;
    }

    time_t now = time(NULL);
    EVP_PKEY *key = NULL;
    vouch_pki_signer *signer = NULL;
    X509 *ca = NULL;
    vouch_pki_revoked *list = calloc(n > 0 ? n : 1, sizeof *list);
    uint8_t ca_sn[VOUCH_PKI_SERIAL_LEN];
    double v_build[RUNS_MAX], v_enc[RUNS_MAX], o_build[RUNS_MAX], o_enc[RUNS_MAX];
    long v_len = 0, o_len = 0;

    if (list == NULL || vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &key) != VOUCH_PKI_OK ||
        vouch_pki_signer_from_key(key, &signer) != VOUCH_PKI_OK ||
        vouch_pki_serial_random(ca_sn) != VOUCH_PKI_OK) {
        fprintf(stderr, "crl_bench: setting up the CA failed\n");
        goto exit;
    }
    vouch_pki_ca_params p = {.org = "Bench", .cn = "Bench CA", .serial = ca_sn,
                             .serial_len = sizeof ca_sn, .not_before = now - 86400,
                             .not_after = now + 10 * 365 * 86400L, .path_len = 0};
    if (vouch_pki_ca_root(&p, signer, &ca) != VOUCH_PKI_OK ||
        !make_entries(list, n, now, shuffle)) {
        fprintf(stderr, "crl_bench: setting up the CA or the entries failed\n");
        goto exit;
    }
    if (!json)
        fprintf(stderr, "crl_bench: %lu entries (%s order), %lu runs each way...\n", n,
                shuffle ? "random" : "store", runs);

    for (unsigned long r = 0; r < runs; r++) {
        X509_CRL *crl = NULL;
        unsigned char *der = NULL;
        double t0 = now_s();
        vouch_pki_rc prc = vouch_pki_crl_build(ca, signer, list, n, 100 + r, now, now + 86400, &crl);
        double t1 = now_s();
        int len = prc == VOUCH_PKI_OK ? i2d_X509_CRL(crl, &der) : -1;
        double t2 = now_s();
        int ok = len > 0 && check_der(der, len, n, key);
        X509_CRL_free(crl);
        OPENSSL_free(der);
        if (!ok) {
            fprintf(stderr, "crl_bench: vouch CRL failed (%s)\n", vouch_pki_strerror(prc));
            goto exit;
        }
        v_build[r] = t1 - t0;
        v_enc[r] = t2 - t1;
        v_len = len;

        der = NULL;
        t0 = now_s();
        crl = reference_build(ca, key, list, n, 100 + r, now, now + 86400);
        t1 = now_s();
        len = crl != NULL ? i2d_X509_CRL(crl, &der) : -1;
        t2 = now_s();
        ok = len > 0 && check_der(der, len, n, key);
        X509_CRL_free(crl);
        OPENSSL_free(der);
        if (!ok) {
            fprintf(stderr, "crl_bench: OpenSSL reference CRL failed\n");
            ERR_print_errors_fp(stderr);
            goto exit;
        }
        o_build[r] = t1 - t0;
        o_enc[r] = t2 - t1;
        o_len = len;
    }

    int nr = (int)runs;
    double vt[RUNS_MAX], ot[RUNS_MAX];
    for (int i = 0; i < nr; i++) {
        vt[i] = v_build[i] + v_enc[i];
        ot[i] = o_build[i] + o_enc[i];
    }
    if (json) {
        printf("{\"entries\":%lu,\"runs\":%d,\"order\":\"%s\",\n", n, nr, shuffle ? "random" : "store");
        printf(" \"vouch\":{\"der_bytes\":%ld,\"build_sign_s\":%.4f,\"encode_s\":%.4f,\"total_s\":%.4f,"
               "\"total_fastest_s\":%.4f},\n",
               v_len, median(v_build, nr), median(v_enc, nr), median(vt, nr), fastest(vt, nr));
        printf(" \"openssl\":{\"der_bytes\":%ld,\"build_sign_s\":%.4f,\"encode_s\":%.4f,\"total_s\":%.4f,"
               "\"total_fastest_s\":%.4f}}\n",
               o_len, median(o_build, nr), median(o_enc, nr), median(ot, nr), fastest(ot, nr));
    } else {
        printf("CRL with %lu entries, %s order, median of %d runs (fastest total in brackets)\n", n,
               shuffle ? "random" : "store", nr);
        printf("| way | DER bytes | build+sign s | encode s | total s |\n|---|---:|---:|---:|---:|\n");
        printf("| vouch_pki_crl_build + i2d | %ld | %.3f | %.3f | %.3f (%.3f) |\n", v_len,
               median(v_build, nr), median(v_enc, nr), median(vt, nr), fastest(vt, nr));
        printf("| OpenSSL-only reference | %ld | %.3f | %.3f | %.3f (%.3f) |\n", o_len,
               median(o_build, nr), median(o_enc, nr), median(ot, nr), fastest(ot, nr));
    }
    rc = 0;
exit:
    X509_free(ca);
    vouch_pki_signer_free(signer);
    vouch_pki_key_free(key);
    free(list);
    return rc;
}
