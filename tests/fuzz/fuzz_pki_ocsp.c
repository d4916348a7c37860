/* OCSP requests as the responder will receive them (POST body or the
 * base64-decoded GET path): parse, walk every CertID, take the nonce, and
 * match each CertID against a real issuer. */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pki/pki.h"

static vouch_pki_ocsp_issuer issuer;

static void init_issuer(void)
{
    EVP_PKEY *key = NULL;
    vouch_pki_signer *signer = NULL;
    X509 *cert = NULL;
    static const uint8_t serial[] = {0x01, 0x02};
    vouch_pki_ca_params p = {.org = "fuzz", .cn = "fuzz root", .serial = serial,
                             .serial_len = sizeof serial, .not_before = 0,
                             .not_after = 4102444800, .path_len = -1};
    if (vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &key) != VOUCH_PKI_OK ||
        vouch_pki_signer_from_key(key, &signer) != VOUCH_PKI_OK ||
        vouch_pki_ca_root(&p, signer, &cert) != VOUCH_PKI_OK ||
        vouch_pki_ocsp_issuer_init(&issuer, cert, signer, NULL) != VOUCH_PKI_OK)
        __builtin_trap();
    /* lives for the whole run */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vouch_pki_ocsp_request *req = NULL;
    size_t nlen = 0;
    if (!issuer.cert)
        init_issuer();
    if (vouch_pki_ocsp_request_parse(data, size, &req) != VOUCH_PKI_OK)
        return 0;
    (void)vouch_pki_ocsp_request_nonce(req, &nlen);
    for (size_t i = 0; i < vouch_pki_ocsp_request_count(req); i++) {
        uint8_t serial[VOUCH_PKI_SERIAL_MAX];
        size_t idx = 0, slen = 0;
        vouch_pki_rc rc = vouch_pki_ocsp_match(vouch_pki_ocsp_request_id(req, i), &issuer, 1,
                                               &idx, serial, &slen);
        if (rc == VOUCH_PKI_OK && (idx != 0 || slen == 0 || slen > VOUCH_PKI_SERIAL_MAX))
            __builtin_trap();
    }
    vouch_pki_ocsp_request_free(req);
    return 0;
}
