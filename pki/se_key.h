/*
 * A CA key held in a vouch-se slot: the secure element plays the HSM. The
 * private key is generated inside the SE and never leaves it; this process
 * only sees the public key and sends SHA-256 digests to be signed.
 *
 * Built as its own static library (vouch_pki_se: this file, vouch_pki and
 * libvouch's static archive), so vouch_pki itself does not depend on the
 * device SDK.
 *
 * Key references. An issuer whose key lives in an SE is stored with a
 * key_ref instead of an encrypted PEM (store/store.h):
 *
 *     se:unix:<absolute path of the vouch-se socket>#<slot>
 *     se:unix:/run/vouch-se.sock#1
 *
 * Parsed strictly: the "se:unix:" prefix in lower case; the path absolute
 * (a relative one would depend on the working directory of whoever opens
 * the key), 1..107 bytes (sun_path), no control characters; then '#' (the
 * last one in the string) and the slot in plain decimal, no sign, space or
 * leading zero, 0..3 (the persistent slots; 255, the volatile ephemeral
 * slot, is refused). The whole reference is at most VOUCH_SE_KEY_REF_MAX - 1
 * bytes. Only unix: secure elements (the vouch-se daemon) are offered.
 *
 * Status codes (vouch_pki_rc), chosen so a caller can tell the cases apart:
 *   E_PARSE     the key reference or SE spec is malformed (why says how)
 *   E_ARG       NULL arguments, slot out of range, output buffer too small
 *   E_SIGNER    the SE cannot be reached, or the bus or frames failed
 *   E_POLICY    the SE refused: slot occupied, wrong lifecycle state,
 *               hibernating, key of the wrong algorithm, secure channel needed
 *   E_NOTFOUND  the slot holds no key
 *   E_CRYPTO    OpenSSL failed (the public key from the SE does not decode)
 *   E_NOMEM     allocation failed
 * why (optional, may be NULL/0) receives one line naming the SE and slot.
 *
 * Threads: a vouch_se_key is one connection to the SE and is used by one
 * thread at a time (its signer too); give each worker its own. Different
 * keys share nothing.
 *
 * Reconnection: when the connection breaks (the daemon restarted), the sign
 * call that notices reconnects and tries once more (SIGN has no side
 * effect, so a retry is safe); if that fails too, the call fails and the
 * next one starts over. After any reconnection the slot's public key is
 * read again and compared with the one the key was opened with, so a
 * daemon now serving another chip is reported as such rather than as a bad
 * signature.
 */
#ifndef VOUCH_PKI_SE_KEY_H
#define VOUCH_PKI_SE_KEY_H

#include <stddef.h>

#include <openssl/evp.h>

#include "pki/pki.h"

/* "se:unix:" + 107-byte path + "#" + slot + NUL, rounded up. */
#define VOUCH_SE_KEY_REF_MAX 128
#define VOUCH_SE_KEY_PATH_MAX 108 /* sun_path, with its NUL */
#define VOUCH_SE_KEY_SLOTS 4       /* persistent slots 0..3 (VOUCH_SE_SLOTS) */

typedef struct vouch_se_key vouch_se_key;

/*
 * Parses key_ref (format above) into the socket path (path_size >=
 * VOUCH_SE_KEY_PATH_MAX suffices) and the slot. E_PARSE with why on any
 * deviation; nothing is written to path/slot then.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_se_key_ref_parse(const char *key_ref, char *path,
                                                  size_t path_size, int *slot, char *why,
                                                  size_t why_size);

/*
 * The canonical key_ref for SE spec "unix:PATH" and slot, without talking to
 * the SE. A relative PATH is made absolute against the current directory
 * (not resolving symbolic links). E_PARSE for a malformed spec, E_ARG for a
 * slot outside 0..3 or a ref_size too small (VOUCH_SE_KEY_REF_MAX is enough).
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_se_key_ref_make(const char *se_spec, int slot, char *ref,
                                                 size_t ref_size, char *why,
                                                 size_t why_size);

/*
 * Opens the key: connects to the SE, reads the slot's public key (it must
 * be P-256) and makes the signer. *out is NULL on failure.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_se_key_open(const char *key_ref, vouch_se_key **out,
                                             char *why, size_t why_size);

/* The slot's public key (borrowed; valid until close). */
EVP_PKEY *vouch_se_key_public(const vouch_se_key *k);

/*
 * A signer (vouch_pki_signer_external) whose callback has the SE sign the
 * digest and converts its r||s to a DER ECDSA-Sig-Value. Borrowed; valid
 * until close. When a signature fails (vouch_pki_sign_* return E_SIGNER),
 * vouch_se_key_last_error says why.
 */
const vouch_pki_signer *vouch_se_key_signer(const vouch_se_key *k);

/* The canonical key_ref this key was opened with. */
const char *vouch_se_key_ref(const vouch_se_key *k);

/* Why the last signature through this key failed, "" if none did. */
const char *vouch_se_key_last_error(const vouch_se_key *k);

/* Closes the connection and frees everything. NULL is fine. */
void vouch_se_key_close(vouch_se_key *k);

/* ---- generation ------------------------------------------------------------ */

/* flags for vouch_se_key_generate_ex */
#define VOUCH_SE_KEY_REPLACE 0x1u    /* overwrite a key already in the slot */
#define VOUCH_SE_KEY_CHECK_ONLY 0x2u /* every check, but generate nothing */

/*
 * Generates a P-256 key pair inside slot `slot` (0..3) of the SE at se_spec
 * ("unix:PATH") and writes its key_ref (vouch_se_key_ref_make) to
 * key_ref_out. Before KEYGEN it asks the SE (QUERY) and refuses, with
 * E_POLICY and nothing changed:
 *   - a slot that already holds a key (unless VOUCH_SE_KEY_REPLACE),
 *   - a TERMINATED or hibernating SE,
 *   - slot 0 of an OPERATIONAL SE (the factory slot is locked),
 *   - an OPERATIONAL SE with host keys set (key generation then needs the
 *     host secure channel, which key references do not carry).
 * The same refusals from the SE itself are reported in the same words.
 */
VOUCH_PKI_WUR vouch_pki_rc vouch_se_key_generate(const char *se_spec, int slot,
                                                 char *key_ref_out, size_t key_ref_size,
                                                 char *why, size_t why_size);
/* The same with flags: VOUCH_SE_KEY_REPLACE, VOUCH_SE_KEY_CHECK_ONLY (connect
 * and check only, so a caller can find every refusal before it creates
 * anything). */
VOUCH_PKI_WUR vouch_pki_rc vouch_se_key_generate_ex(const char *se_spec, int slot,
                                                    unsigned flags, char *key_ref_out,
                                                    size_t key_ref_size, char *why,
                                                    size_t why_size);

#endif
