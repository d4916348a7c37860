/*
 * gen_csrs: distinct P-256 certificate requests for the issuance benchmark,
 * made before it starts so that key generation is not measured.
 *
 *   gen_csrs --count N --out DIR [--template NAME] [--first K]
 *
 * Writes N requests (a fresh P-256 key each, subject CN=bench-NNNNNN
 * numbered from K, default 0, so that instances run side by side with
 * different K make different subjects;
 * signed with ECDSA-SHA256), as request bodies for http_load
 * --bodies-file, one JSON object per line:
 *
 *   DIR/vouchd.bodies  {"csr": PEM, "template": NAME}   POST /v1/certificates
 *   DIR/cfssl.bodies   {"certificate_request": PEM}     POST /api/v1/cfssl/sign
 *
 * NAME defaults to "device". The JSON is written by jansson.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define COUNT_MAX 1000000L

/* One CSR as PEM text (NUL-terminated, free with free()), or NULL. */
static char *make_csr_pem(long i)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    BIO *bio = BIO_new(BIO_s_mem());
    char cn[32], *pem = NULL, *data;
    long len;

    snprintf(cn, sizeof cn, "bench-%06ld", i);
    if (key == NULL || req == NULL || name == NULL || bio == NULL ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
        !X509_REQ_set_version(req, X509_REQ_VERSION_1) || !X509_REQ_set_subject_name(req, name) ||
        !X509_REQ_set_pubkey(req, key) || X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
        !PEM_write_bio_X509_REQ(bio, req))
        goto exit;
    len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || (pem = malloc((size_t)len + 1)) == NULL)
        goto exit;
    memcpy(pem, data, (size_t)len);
    pem[len] = '\0';
exit:
    BIO_free(bio);
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return pem;
}

/* Appends obj as one compact JSON line to f; takes the reference. */
static int write_line(FILE *f, json_t *obj)
{
    char *s = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    int ok = s != NULL && fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    free(s);
    json_decref(obj);
    return ok;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"count", required_argument, NULL, 'n'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"template", required_argument, NULL, 't'},
                                         {"first", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    long count = -1, first = 0;
    const char *out = NULL, *tpl = "device";
    char path[4096], *end;
    FILE *fv = NULL, *fc = NULL;
    int c, rc = 1;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            errno = 0;
            count = strtol(optarg, &end, 10);
            if (errno != 0 || *optarg == '\0' || *end != '\0' || count < 1 || count > COUNT_MAX)
                count = -1;
            break;
        case 'f':
            errno = 0;
            first = strtol(optarg, &end, 10);
            if (errno != 0 || *optarg == '\0' || *end != '\0' || first < 0 || first > 100 * COUNT_MAX)
                count = -1;
            break;
        case 'o': out = optarg; break;
        case 't': tpl = optarg; break;
        default: count = -1; out = NULL; break;
        }
    }
    if (count < 0 || out == NULL || optind != argc) {
        fprintf(stderr, "usage: gen_csrs --count N (1..%ld) --out DIR [--template NAME] [--first K]\n",
                COUNT_MAX);
        return 2;
    }
    if (snprintf(path, sizeof path, "%s/vouchd.bodies", out) >= (int)sizeof path ||
        (fv = fopen(path, "w")) == NULL ||
        snprintf(path, sizeof path, "%s/cfssl.bodies", out) >= (int)sizeof path ||
        (fc = fopen(path, "w")) == NULL) {
        fprintf(stderr, "gen_csrs: cannot write in %s: %s\n", out, strerror(errno));
        goto exit;
    }
    for (long i = 0; i < count; i++) {
        char *pem = make_csr_pem(first + i);
        int ok = pem != NULL &&
                 write_line(fv, json_pack("{s:s, s:s}", "csr", pem, "template", tpl)) &&
                 write_line(fc, json_pack("{s:s}", "certificate_request", pem));
        free(pem);
        if (!ok) {
            fprintf(stderr, "gen_csrs: request %ld failed\n", i);
            goto exit;
        }
    }
    rc = 0;
exit:
    if (fv != NULL && fclose(fv) != 0)
        rc = 1;
    if (fc != NULL && fclose(fc) != 0)
        rc = 1;
    return rc;
}
