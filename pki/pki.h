/*
 * vouch PKI library (server side): CA keys and signers, CA certificates,
 * certificate templates and CSR policy checks, issuance and renewal, CRLs,
 * OCSP, RFC 5280 reason codes and serial numbers.
 *
 * Private to the project (vouchd, the vouch CLI, tests): not installed. It
 * uses OpenSSL 3 types in its interface on purpose; none of this runs on an
 * MCU. Every encoding and every signature is done by OpenSSL; this library
 * only decides what goes into the objects.
 *
 * Conventions:
 *  - Functions return vouch_pki_rc; VOUCH_PKI_OK is 0. Results are marked
 *    warn_unused_result.
 *  - Objects returned through `**out` belong to the caller (free with the
 *    matching OpenSSL free function, or the vouch_pki_*_free named here).
 *    On failure `*out` is set to NULL.
 *  - `why`/`why_size`: optional (may be NULL/0) buffer that receives a
 *    one-line, human-readable reason on failure, naming the rule broken.
 *  - Times are time_t (seconds since the epoch, UTC).
 *  - Serial numbers cross the API as big-endian magnitude bytes (at most
 *    VOUCH_PKI_SERIAL_MAX = 20, RFC 5280 section 4.1.2.2).
 *  - Nothing here keeps global state except one lazily created
 *    EC_KEY_METHOD and ex_data index for external signers (thread-safe,
 *    created under CRYPTO_THREAD_run_once). All functions are reentrant;
 *    an object may be shared read-only between threads, except that a
 *    signer's callback must itself be thread-safe if the signer is.
 */
#ifndef VOUCH_PKI_H
#define VOUCH_PKI_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#define VOUCH_PKI_WUR __attribute__((warn_unused_result))

typedef enum {
    VOUCH_PKI_OK = 0,
    VOUCH_PKI_E_ARG,       /* bad argument: NULL, out of range, too long */
    VOUCH_PKI_E_NOMEM,     /* allocation failed */
    VOUCH_PKI_E_CRYPTO,    /* OpenSSL refused (signing, encoding, keygen) */
    VOUCH_PKI_E_PARSE,     /* input is not what it claims (DER, PEM, JSON, hex) */
    VOUCH_PKI_E_SIGNATURE, /* a signature does not verify */
    VOUCH_PKI_E_POLICY,    /* input is well formed but a rule refuses it */
    VOUCH_PKI_E_NOTFOUND,  /* no such issuer / name */
    VOUCH_PKI_E_DECRYPT,   /* wrong passphrase or not an encrypted key */
    VOUCH_PKI_E_SIGNER,    /* an external signer failed or signed wrongly */
} vouch_pki_rc;

/* A constant English string for rc; never NULL. */
const char *vouch_pki_strerror(vouch_pki_rc rc);

/* ---- serial numbers ------------------------------------------------------ */

#define VOUCH_PKI_SERIAL_MAX 20
#define VOUCH_PKI_SERIAL_LEN 16 /* what vouch issues: 128 random bits */
/* Hex text of a serial: 2 per byte + NUL. */
#define VOUCH_PKI_SERIAL_HEX_MAX (2 * VOUCH_PKI_SERIAL_MAX + 1)

/*
 * 16 random bytes from the OpenSSL DRBG with the top bit cleared, so the
 * DER INTEGER is positive and at most 16 bytes; never all zero. Uniqueness
 * per issuer is the store's job (a unique index); collisions are 2^-127.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_serial_random(uint8_t out[VOUCH_PKI_SERIAL_LEN]);

/*
 * Serial as `openssl x509 -serial` prints it: uppercase hex, no colons,
 * leading zero bytes dropped ("00" for zero). `out_size` must be at least
 * 2 * len + 1 (VOUCH_PKI_SERIAL_HEX_MAX always suffices).
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_serial_to_hex(const uint8_t *serial, size_t len,
                                                   char *out, size_t out_size);

/*
 * Parses hex in either case, with or without colons (`openssl x509 -text`
 * style), odd length allowed. Writes the canonical magnitude (no leading
 * zero bytes, at least one byte) so two spellings of one serial compare
 * equal with memcmp. E_PARSE for bad characters or more than 20 bytes.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_serial_from_hex(const char *hex, uint8_t *out,
                                                     size_t out_size, size_t *out_len);

/* The canonical serial bytes of a certificate (E_POLICY if negative). */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_cert_serial(const X509 *cert,
                                                 uint8_t out[VOUCH_PKI_SERIAL_MAX],
                                                 size_t *out_len);

/* ---- RFC 5280 revocation reasons ----------------------------------------- */

typedef enum {
    VOUCH_PKI_REASON_UNSPECIFIED = 0,
    VOUCH_PKI_REASON_KEY_COMPROMISE = 1,
    VOUCH_PKI_REASON_CA_COMPROMISE = 2,
    VOUCH_PKI_REASON_AFFILIATION_CHANGED = 3,
    VOUCH_PKI_REASON_SUPERSEDED = 4,
    VOUCH_PKI_REASON_CESSATION_OF_OPERATION = 5,
    VOUCH_PKI_REASON_CERTIFICATE_HOLD = 6,
    /* 7 is not used by RFC 5280 */
    VOUCH_PKI_REASON_REMOVE_FROM_CRL = 8,
    VOUCH_PKI_REASON_PRIVILEGE_WITHDRAWN = 9,
    VOUCH_PKI_REASON_AA_COMPROMISE = 10,
} vouch_pki_reason;

/*
 * RFC 5280 name ("keyCompromise", "cACompromise") or kebab-case
 * ("key-compromise", "ca-compromise"), case-insensitive; '_' is accepted
 * as '-'. E_PARSE for anything else (including "" and 7).
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_reason_parse(const char *name, int *code);
/* RFC 5280 camelCase name, or NULL for a code that is not a reason. */
const char *vouch_pki_reason_name(int code);
/* kebab-case name, or NULL. */
const char *vouch_pki_reason_kebab(int code);

/* ---- CA keys -------------------------------------------------------------- */

typedef enum {
    VOUCH_PKI_KEY_EC_P256 = 0, /* default */
    VOUCH_PKI_KEY_EC_P384,
    VOUCH_PKI_KEY_ED25519,
} vouch_pki_key_alg;

/* "p256"/"ec-p256", "p384"/"ec-p384", "ed25519" -> alg. */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_key_alg_parse(const char *name, vouch_pki_key_alg *alg);

/* A fresh key pair. Free with vouch_pki_key_free. */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_key_generate(vouch_pki_key_alg alg, EVP_PKEY **out);

/*
 * The private key as PKCS#8 "ENCRYPTED PRIVATE KEY" PEM, PBES2 with
 * AES-256-CBC and PBKDF2-HMAC-SHA256. `pass` is binary-safe (pass_len
 * bytes, 1..1024); it is expected to be a high-entropy secret derived from
 * the master key file, not a typed password. `*pem` is NUL-terminated,
 * `*pem_len` excludes the NUL; free with vouch_pki_free_secret(pem, pem_len).
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_key_encrypt(const EVP_PKEY *key, const uint8_t *pass,
                                                 size_t pass_len, char **pem, size_t *pem_len);

/*
 * Inverse of vouch_pki_key_encrypt. Refuses an unencrypted PEM (keys at rest
 * must be encrypted; E_DECRYPT) and a wrong passphrase (E_DECRYPT).
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_key_decrypt(const char *pem, size_t pem_len,
                                                 const uint8_t *pass, size_t pass_len,
                                                 EVP_PKEY **out);

/* EVP_PKEY_free; OpenSSL clears private scalars when it frees them. */
void vouch_pki_key_free(EVP_PKEY *key);
/* OPENSSL_cleanse(p, len) then free. NULL is fine. */
void vouch_pki_free_secret(void *p, size_t len);

/*
 * The passphrase the CA keys of a data directory are encrypted under,
 * derived from its master key (DIR/master.key, 32 bytes): the 64 lower-case
 * hex digits of HKDF-SHA256(IKM = master, no salt, info = "vouch ca key
 * passphrase v1", L = 32), NUL-terminated, so `openssl pkey -passin pass:...`
 * reads the stored keys. Use strlen(out_hex) = 64 bytes as the passphrase of
 * vouch_pki_key_encrypt/_decrypt. out_size >= 65; len 1..1024. Wipe out_hex
 * (OPENSSL_cleanse) when done.
 */
#define VOUCH_PKI_CA_PASS_LEN 64
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_ca_passphrase(const uint8_t *master, size_t len,
                                                   char *out_hex, size_t out_size);

/* "ec-p256", "ec-p384", "ed25519", "rsa-2048", "ec-secp256k1", "dsa-2048"... */
void vouch_pki_key_describe(const EVP_PKEY *key, char *out, size_t out_size);

/* ---- signers -------------------------------------------------------------- */

/*
 * External signing callback: sign `digest` (digest_len bytes: SHA-256 for a
 * P-256 key, SHA-384 for a P-384 key) and write a DER ECDSA-Sig-Value into
 * sig (sig_size >= 139 bytes). Return 0 on success, non-zero on failure.
 * Called synchronously from inside OpenSSL's signing functions.
 */
typedef int (*vouch_pki_sign_fn)(void *ctx, const uint8_t *digest, size_t digest_len,
                                 uint8_t *sig, size_t sig_size, size_t *sig_len);

/*
 * A CA key that certificates, CRLs and OCSP responses are signed with:
 * either an in-memory EVP_PKEY, or a public key plus a callback (a secure
 * element or HSM; the private key never enters this process). Opaque.
 */
typedef struct vouch_pki_signer vouch_pki_signer;

/* From an in-memory private key (any of P-256, P-384, Ed25519). Takes its
 * own reference to key. */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_signer_from_key(EVP_PKEY *key, vouch_pki_signer **out);

/*
 * From a public EC key (P-256 or P-384) and a callback. Every signature the
 * callback returns is verified against `pub` before it is used, so a faulty
 * or lying signer yields E_SIGNER, never a broken certificate. Ed25519 is
 * not offered here: PureEdDSA signs the whole message, not a digest.
 * Takes its own reference to pub; `ctx` must outlive the signer.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_signer_external(EVP_PKEY *pub, vouch_pki_sign_fn fn,
                                                     void *ctx, vouch_pki_signer **out);

void vouch_pki_signer_free(vouch_pki_signer *s);

/* The signer's public key (borrowed, valid while the signer lives). */
EVP_PKEY *vouch_pki_signer_public(const vouch_pki_signer *s);

/* Sign a certificate / CRL / basic OCSP response with the signer. The
 * algorithm follows the key: ecdsa-with-SHA256 (P-256), -SHA384 (P-384),
 * Ed25519. */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_sign_cert(const vouch_pki_signer *s, X509 *cert);
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_sign_crl(const vouch_pki_signer *s, X509_CRL *crl);
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_sign_req(const vouch_pki_signer *s, X509_REQ *req);
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_sign_ocsp(const vouch_pki_signer *s, OCSP_BASICRESP *br,
                                               X509 *signer_cert, STACK_OF(X509) *extra,
                                               unsigned long flags);

/* ---- CA certificates ------------------------------------------------------ */

typedef struct {
    const char *org;        /* O=, required, 1..64 chars */
    const char *cn;         /* CN=, required, 1..64 chars */
    const uint8_t *serial;  /* 1..20 bytes, positive (top bit clear) */
    size_t serial_len;
    time_t not_before;
    time_t not_after;       /* > not_before */
    int path_len;           /* basicConstraints pathLenConstraint, -1: none */
    const char *public_url; /* optional, for sub-CAs: CRL DP + AIA of the
                               parent, like a leaf. NULL: no such extensions */
    const char *parent_name; /* parent's name for the CRL URL; with public_url */
} vouch_pki_ca_params;

/*
 * Self-signed root: basicConstraints CA:TRUE (critical, path_len as given),
 * keyUsage keyCertSign+cRLSign (critical), SKI, AKI(keyid). Subject and
 * issuer O=org, CN=cn.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_ca_root(const vouch_pki_ca_params *p,
                                             const vouch_pki_signer *key, X509 **out);

/*
 * A CA signed by `parent`: the default issuing CA and device-family CAs
 * (both: path_len 0, keyUsage keyCertSign+cRLSign+digitalSignature so the
 * CA can sign its own OCSP responses). `pub` is the new CA's public key.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_ca_sub(const vouch_pki_ca_params *p, EVP_PKEY *pub,
                                            X509 *parent, const vouch_pki_signer *parent_key,
                                            X509 **out);

/* ---- templates -------------------------------------------------------------- */

#define VOUCH_PKI_TPL_NAME_MAX 64
#define VOUCH_PKI_TPL_PATTERN_MAX 256

/* key types (bit mask) */
#define VOUCH_PKI_KT_EC_P256 0x01u
#define VOUCH_PKI_KT_EC_P384 0x02u
#define VOUCH_PKI_KT_ED25519 0x04u
#define VOUCH_PKI_KT_RSA 0x08u

/* extended key usages (bit mask) */
#define VOUCH_PKI_EKU_SERVER_AUTH 0x01u
#define VOUCH_PKI_EKU_CLIENT_AUTH 0x02u
#define VOUCH_PKI_EKU_CODE_SIGNING 0x04u
#define VOUCH_PKI_EKU_EMAIL_PROTECTION 0x08u
#define VOUCH_PKI_EKU_TIME_STAMPING 0x10u
#define VOUCH_PKI_EKU_OCSP_SIGNING 0x20u

/* subject attributes (bit mask) */
#define VOUCH_PKI_RDN_CN 0x01u
#define VOUCH_PKI_RDN_O 0x02u
#define VOUCH_PKI_RDN_OU 0x04u
#define VOUCH_PKI_RDN_C 0x08u
#define VOUCH_PKI_RDN_ST 0x10u
#define VOUCH_PKI_RDN_L 0x20u
#define VOUCH_PKI_RDN_SERIAL 0x40u /* serialNumber */
#define VOUCH_PKI_RDN_EMAIL 0x80u  /* emailAddress */

/* SAN types (bit mask) */
#define VOUCH_PKI_SAN_DNS 0x01u
#define VOUCH_PKI_SAN_IP 0x02u
#define VOUCH_PKI_SAN_URI 0x04u
#define VOUCH_PKI_SAN_EMAIL 0x08u

/*
 * A certificate template: plain data, copyable, no pointers. key_usage uses
 * OpenSSL's KU_* bits (KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN, ...).
 * Patterns are POSIX extended regular expressions matched against the whole
 * value (they are anchored by the library: "a+" means "^(a+)$"); "" means
 * "anything".
 */
typedef struct {
    char name[VOUCH_PKI_TPL_NAME_MAX];
    uint32_t validity_days;  /* 1..36500 */
    uint32_t key_usage;      /* KU_* bits, non-zero */
    uint32_t ext_key_usage;  /* VOUCH_PKI_EKU_* bits, 0: no EKU extension */
    int ca;                  /* 1: basicConstraints CA:TRUE */
    int path_len;            /* with ca: pathLenConstraint, -1: none */
    uint32_t key_types;      /* VOUCH_PKI_KT_* bits, non-zero */
    uint32_t rsa_min_bits;   /* with KT_RSA: >= 2048 */
    uint32_t subject_required; /* VOUCH_PKI_RDN_* bits, subset of allowed */
    uint32_t subject_allowed;  /* VOUCH_PKI_RDN_* bits */
    char cn_pattern[VOUCH_PKI_TPL_PATTERN_MAX];
    uint32_t san_allowed;    /* VOUCH_PKI_SAN_* bits, 0: SAN refused */
    uint32_t san_max;        /* max number of SAN entries */
    char san_pattern[VOUCH_PKI_TPL_PATTERN_MAX]; /* DNS, URI and email values */
} vouch_pki_template;

/* The built-in names, in a stable order; count in *n. */
const char *const *vouch_pki_template_builtin_names(size_t *n);

/* A built-in template by name (E_NOTFOUND otherwise). */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_template_builtin(const char *name, vouch_pki_template *out);

/*
 * Checks internal consistency (name, validity, masks, RSA minimum,
 * required subset of allowed, patterns compile). Load and check_csr call
 * this; callers that build templates by hand should too.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_template_validate(const vouch_pki_template *t, char *why,
                                                       size_t why_size);

/*
 * JSON (UTF-8, at most 64 KiB) -> template. Strict: unknown members,
 * wrong types, unknown names in arrays and inconsistent rules are E_PARSE
 * or E_POLICY with the member named in why. Members omitted take the
 * values of the built-in of the same "name" if there is one, otherwise
 * safe defaults. Format: docs/pki.md.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_template_from_json(const char *json, size_t len,
                                                        vouch_pki_template *out, char *why,
                                                        size_t why_size);

/* Template -> JSON text (every member, compact, sorted keys). Free with
 * free(). */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_template_to_json(const vouch_pki_template *t, char **json);

/* ---- CSRs --------------------------------------------------------------------- */

/* PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER, at most
 * 64 KiB. Only parses; vouch_pki_check_csr verifies. */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_csr_parse(const uint8_t *data, size_t len, X509_REQ **out);

/*
 * Verifies the CSR's self-signature (E_SIGNATURE) and then every template
 * rule (E_POLICY): key type and size, subject attributes required/allowed,
 * one value per attribute, CN pattern, SAN types, count and pattern, and no
 * other requested extension that would change meaning (requested
 * extensions other than subjectAltName are ignored, never copied). The
 * first rule broken is named in why, e.g. "key type rsa-1024 not allowed by
 * template device (allowed: ec-p256, ec-p384, ed25519)".
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_check_csr(const vouch_pki_template *t, X509_REQ *csr,
                                               char *why, size_t why_size);

/*
 * A parsed request, the form servers use. vouch_pki_csr_read takes what
 * vouch_pki_csr_parse takes; for EC P-256 and P-384 requests signed with
 * ECDSA and SHA-2 it keeps the decoded parts and the signed bytes as
 * received (no X509_REQ, no provider decoders), any other request is
 * decoded by OpenSSL as an X509_REQ. vouch_pki_csr_check is
 * vouch_pki_check_csr on it (the signature is verified over the bytes as
 * received), vouch_pki_issue_csr_der is vouch_pki_issue_der. Free with
 * vouch_pki_csr_free (NULL is fine).
 */
typedef struct vouch_pki_csr vouch_pki_csr;
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_csr_read(const uint8_t *data, size_t len,
                                              vouch_pki_csr **out);
void vouch_pki_csr_free(vouch_pki_csr *c);
/* The requested subject (owned by c); NULL for NULL. */
const X509_NAME *vouch_pki_csr_subject(const vouch_pki_csr *c);
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_csr_check(const vouch_pki_template *t, vouch_pki_csr *c,
                                               char *why, size_t why_size);

/*
 * A PKCS#10 request signed by `signer` (its public key goes in, so the
 * request proves possession; with an external signer the private key stays
 * in the SE). subject in OpenSSL's -subj form, "/O=Example/CN=dev-0001"
 * ('\\/' for a '/' inside a value), 1..16 attributes; sans: n entries
 * "DNS:name", "URI:uri", "IP:addr", "email:addr" (0..16). E_ARG (why says
 * which) for a bad subject or SAN, E_SIGNER when the signer fails.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_csr_build(const char *subject, const char *const *sans,
                                               size_t n, const vouch_pki_signer *signer,
                                               X509_REQ **out, char *why, size_t why_size);

/* ---- issuance ------------------------------------------------------------------- */

typedef struct {
    const vouch_pki_template *tpl;
    X509 *issuer_cert;
    const vouch_pki_signer *issuer_key; /* must match issuer_cert's key */
    const char *issuer_name; /* URL-safe name: [A-Za-z0-9._-]{1,64} */
    const char *public_url;  /* "http(s)://host[:port][/path]", no trailing '/' needed */
    const uint8_t *serial;   /* 1..20 bytes, positive */
    size_t serial_len;
    time_t not_before;
    time_t not_after;        /* 0: not_before + tpl->validity_days */
} vouch_pki_issue_params;

/*
 * Issues a certificate for `csr`. Always runs vouch_pki_check_csr first
 * (so a caller cannot skip it). The certificate gets: the CSR's subject
 * (which the check limited to allowed attributes), its SAN if any (only
 * allowed types reach here), keyUsage (critical) and EKU from the template,
 * basicConstraints (critical), SKI, AKI(keyid), CRL DP
 * <public_url>/crl/<issuer_name>.crl, AIA OCSP <public_url>/ocsp and
 * caIssuers <public_url>/ca/<issuer_name>.crt. Refuses a validity that
 * ends after the issuer's (E_POLICY) or a not_after beyond the template's
 * validity_days.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_issue(const vouch_pki_issue_params *p, X509_REQ *csr,
                                           X509 **out, char *why, size_t why_size);

/* A certificate's DER encoding (OPENSSL_malloc'd). */
typedef struct {
    unsigned char *der;
    size_t len;
} vouch_pki_der;

/* Frees d->der and zeroes d. */
void vouch_pki_der_free(vouch_pki_der *d);

/*
 * vouch_pki_issue with the certificate as DER, for servers that store and
 * send the encoding: no X509 object is built (vouch_pki_issue is this plus
 * d2i_X509). The subject name is the CSR's byte for byte; the
 * SubjectPublicKeyInfo is encoded from the CSR's decoded key (the same
 * bytes for a DER request). Free out with vouch_pki_der_free.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_issue_der(const vouch_pki_issue_params *p, X509_REQ *csr,
                                               vouch_pki_der *out, char *why, size_t why_size);
/* vouch_pki_issue_der for a request read by vouch_pki_csr_read. */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_issue_csr_der(const vouch_pki_issue_params *p,
                                                   vouch_pki_csr *csr, vouch_pki_der *out,
                                                   char *why, size_t why_size);

/*
 * Renewal: same public key, subject and SAN as `old`, a new serial and
 * validity from p, extensions rebuilt from the template. `old` must have
 * been signed by p->issuer_key (E_SIGNATURE otherwise), and its key type
 * and subject must still satisfy the template (the template may have
 * tightened since).
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_renew(const vouch_pki_issue_params *p, X509 *old,
                                           X509 **out, char *why, size_t why_size);
/* vouch_pki_renew with the certificate as DER (see vouch_pki_issue_der). */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_renew_der(const vouch_pki_issue_params *p, X509 *old,
                                               vouch_pki_der *out, char *why, size_t why_size);

/* ---- CRL ------------------------------------------------------------------------- */

typedef struct {
    uint8_t serial[VOUCH_PKI_SERIAL_MAX];
    size_t serial_len; /* 1..20 */
    time_t revoked_at;
    int reason;        /* vouch_pki_reason; UNSPECIFIED: no reasonCode entry
                          extension, as RFC 5280 5.3.1 recommends */
} vouch_pki_revoked;

/*
 * A v2 CRL for issuer: issuer name, thisUpdate/nextUpdate, one entry per
 * revoked (sorted by serial), reasonCode entry extensions, cRLNumber
 * (crl_number, caller-kept and monotonic per issuer), AKI(keyid); signed by
 * key. removeFromCRL (delta CRLs only) and unknown reasons are E_ARG.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_crl_build(X509 *issuer, const vouch_pki_signer *key,
                                               const vouch_pki_revoked *revoked, size_t n,
                                               uint64_t crl_number, time_t this_update,
                                               time_t next_update, X509_CRL **out);

/* ---- OCSP -------------------------------------------------------------------------- */

/*
 * An issuer as the OCSP responder knows it: its certificate, the key that
 * signs responses, and precomputed SHA-1 and SHA-256 hashes of its name
 * and key so matching a CertID costs two memcmp per issuer. If `responder`
 * is given (a delegated responder certificate carrying id-kp-OCSPSigning,
 * issued by this CA), responses are signed by `key` as that responder and
 * the responder certificate is included; otherwise `key` is the CA's own
 * key and no certificate is included.
 */
typedef struct {
    X509 *cert;
    const vouch_pki_signer *key;
    X509 *responder; /* optional */
    uint8_t name_sha1[20], key_sha1[20];
    uint8_t name_sha256[32], key_sha256[32];
} vouch_pki_ocsp_issuer;

/* Fills the hashes. cert, key and responder are borrowed. */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_ocsp_issuer_init(vouch_pki_ocsp_issuer *iss, X509 *cert,
                                                      const vouch_pki_signer *key,
                                                      X509 *responder);

#define VOUCH_PKI_OCSP_NONCE_MAX 128
#define VOUCH_PKI_OCSP_IDS_MAX 8 /* CertIDs per request we answer */

/* A parsed request. Opaque; free with vouch_pki_ocsp_request_free. */
typedef struct vouch_pki_ocsp_request vouch_pki_ocsp_request;

/*
 * DER OCSPRequest (at most 16 KiB) -> parsed request. E_PARSE for
 * garbage, trailing bytes, no CertID, more than VOUCH_PKI_OCSP_IDS_MAX
 * CertIDs, a nonce longer than VOUCH_PKI_OCSP_NONCE_MAX or not an OCTET
 * STRING; answer those with vouch_pki_ocsp_error(MALFORMEDREQUEST).
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_ocsp_request_parse(const uint8_t *der, size_t len,
                                                        vouch_pki_ocsp_request **out);
void vouch_pki_ocsp_request_free(vouch_pki_ocsp_request *r);

size_t vouch_pki_ocsp_request_count(const vouch_pki_ocsp_request *r);
/* Borrowed CertID number i (< count). */
const OCSP_CERTID *vouch_pki_ocsp_request_id(const vouch_pki_ocsp_request *r, size_t i);
/* The nonce's octets (the content of the OCTET STRING), NULL if none. */
const uint8_t *vouch_pki_ocsp_request_nonce(const vouch_pki_ocsp_request *r, size_t *len);

/*
 * Which issuer does CertID `id` name? Matches the issuer name hash and key
 * hash (SHA-1 or SHA-256 CertIDs; others E_NOTFOUND) against the list, in
 * constant time per entry. Writes the index and the canonical serial.
 * E_NOTFOUND: answer with vouch_pki_ocsp_error(UNAUTHORIZED).
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_ocsp_match(const OCSP_CERTID *id,
                                                const vouch_pki_ocsp_issuer *issuers, size_t n,
                                                size_t *index,
                                                uint8_t serial[VOUCH_PKI_SERIAL_MAX],
                                                size_t *serial_len);

typedef enum {
    VOUCH_PKI_CERT_GOOD = 0,
    VOUCH_PKI_CERT_REVOKED = 1,
    VOUCH_PKI_CERT_UNKNOWN = 2,
} vouch_pki_cert_state;

typedef struct {
    const OCSP_CERTID *id;   /* echoed as is (same hash algorithm) */
    vouch_pki_cert_state state;
    time_t revoked_at;       /* with REVOKED */
    int reason;              /* with REVOKED; UNSPECIFIED: no reason given */
} vouch_pki_ocsp_single;

/*
 * A successful OCSPResponse (DER, free with OPENSSL_free) carrying a basic
 * response for the n (1..VOUCH_PKI_OCSP_IDS_MAX) answers, all for issuer
 * `iss`: responderID byKey, thisUpdate,
 * nextUpdate (0: omitted), producedAt = now (set by OpenSSL when signing),
 * the nonce extension if nonce != NULL (echo the
 * request's), signed by iss->key.
 *
 * Caching (docs/pki.md): a response without nonce depends only on
 * (issuer, serial, CertID hash algorithm, status, update window), so the
 * server may keep its bytes and serve them to every nonce-less request
 * until the status changes or nextUpdate nears. A nonce is inside the
 * signed data, so a request with a nonce always costs one signature.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_ocsp_respond(const vouch_pki_ocsp_issuer *iss,
                                                  const vouch_pki_ocsp_single *answers, size_t n,
                                                  time_t this_update, time_t next_update,
                                                  const uint8_t *nonce, size_t nonce_len,
                                                  uint8_t **der, size_t *der_len);

/*
 * An unsuccessful OCSPResponse (no body): OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
 * _INTERNALERROR, _TRYLATER, _SIGREQUIRED or _UNAUTHORIZED. Free with OPENSSL_free.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_ocsp_error(int status, uint8_t **der, size_t *der_len);

/* ---- device authentication (docs/auth-protocol.md) ---------------------- */

#define VOUCH_PKI_AUTH_SIG_MAX 72 /* DER ECDSA-Sig-Value over P-256 */

/*
 * Does `sig` (DER ECDSA-Sig-Value, as a device sends it) verify over the
 * 32-byte `digest` under `pub`, a P-256 public key? The encoding must be
 * canonical DER: 8..72 bytes, nothing after the SEQUENCE, the same bytes
 * OpenSSL writes for the same r and s (so one signature has one spelling
 * and cannot be replayed in another), r and s in 1..n-1.
 * E_ARG: NULL or a key that is not P-256; E_PARSE: not canonical DER;
 * E_SIGNATURE: well formed, does not verify. `why` names which.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_auth_verify(EVP_PKEY *pub, const uint8_t digest[32],
                                                 const uint8_t *sig, size_t sig_len, char *why,
                                                 size_t why_size);
/* The same with a verification context kept by the caller for the next
 * signature under the same key: *vctx NULL makes one (for pub, which must
 * then be P-256) and leaves it there; the caller frees it with
 * EVP_PKEY_CTX_free. Saves the context set-up on every verification. */
VOUCH_PKI_WUR vouch_pki_rc vouch_pki_auth_verify_ctx(EVP_PKEY *pub, EVP_PKEY_CTX **vctx,
                                                     const uint8_t digest[32],
                                                     const uint8_t *sig, size_t sig_len,
                                                     char *why, size_t why_size);

#endif
