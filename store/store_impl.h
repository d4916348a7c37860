/*
 * For backends only: the vtable behind vouch_store and helpers shared by
 * every backend. store.c checks arguments before calling an op, so an op may
 * rely on: non-NULL pointers where the API requires them, names of 1..128
 * bytes, serial_len 1..20, limits within range, a valid reason code, JSON
 * already parsed as an object.
 */
#ifndef VOUCH_STORE_IMPL_H
#define VOUCH_STORE_IMPL_H

#include "store/store.h"

typedef struct vouch_store_ops {
    const char *name;
    void (*close)(vouch_store *s);
    vouch_store_rc (*schema_version)(vouch_store *s, int *v, char *err, size_t n);
    vouch_store_rc (*check_integrity)(vouch_store *s, char *err, size_t n);
    vouch_store_rc (*begin)(vouch_store *s, char *err, size_t n);
    vouch_store_rc (*commit)(vouch_store *s, char *err, size_t n);
    vouch_store_rc (*rollback)(vouch_store *s, char *err, size_t n);

    vouch_store_rc (*issuer_insert)(vouch_store *s, const vouch_store_issuer *in,
                                    const char *actor, int64_t *id, char *err, size_t n);
    /* by name when name != NULL, else by id */
    vouch_store_rc (*issuer_get)(vouch_store *s, const char *name, int64_t id,
                                 vouch_store_issuer *out, char *err, size_t n);
    vouch_store_rc (*issuer_list)(vouch_store *s, vouch_store_issuer_cb cb, void *ctx,
                                  char *err, size_t n);
    vouch_store_rc (*issuer_next_crl_number)(vouch_store *s, int64_t issuer_id, int64_t *num,
                                             char *err, size_t n);

    vouch_store_rc (*template_put)(vouch_store *s, const char *name, const char *body,
                                   const char *actor, char *err, size_t n);
    vouch_store_rc (*template_get)(vouch_store *s, const char *name, vouch_store_template *out,
                                   char *err, size_t n);
    vouch_store_rc (*template_list)(vouch_store *s, vouch_store_template_cb cb, void *ctx,
                                    char *err, size_t n);

    /* in->sha256 already computed by store.c */
    vouch_store_rc (*cert_insert)(vouch_store *s, const vouch_store_cert *in, const char *actor,
                                  int64_t *id, char *err, size_t n);
    /* exactly one key: (issuer_id, serial), id, or sha256 */
    vouch_store_rc (*cert_get)(vouch_store *s, int64_t issuer_id, const uint8_t *serial,
                               size_t serial_len, int64_t id, const uint8_t *sha256,
                               vouch_store_cert *out, char *err, size_t n);
    vouch_store_rc (*cert_revoke)(vouch_store *s, int64_t issuer_id, const uint8_t *serial,
                                  size_t serial_len, int reason, const char *actor, char *err,
                                  size_t n);
    vouch_store_rc (*cert_search)(vouch_store *s, const vouch_store_cert_filter *f,
                                  vouch_store_cursor *cur, unsigned limit, int with_der,
                                  vouch_store_cert_cb cb, void *ctx, char *err, size_t n);
    vouch_store_rc (*cert_count)(vouch_store *s, const vouch_store_cert_filter *f,
                                 uint64_t *count, char *err, size_t n);
    vouch_store_rc (*cert_list_revoked)(vouch_store *s, int64_t issuer_id,
                                        vouch_store_revoked_cb cb, void *ctx, char *err,
                                        size_t n);
    vouch_store_rc (*cert_changes_since)(vouch_store *s, int64_t after_seq, unsigned limit,
                                         vouch_store_cert_cb cb, void *ctx, int64_t *last_seq,
                                         char *err, size_t n);
    vouch_store_rc (*cert_counts)(vouch_store *s, vouch_store_counts *out, char *err, size_t n);
    vouch_store_rc (*cert_counts_by_template)(vouch_store *s, vouch_store_template_counts_cb cb,
                                              void *ctx, char *err, size_t n);

    /* hash = SHA-256 of the plaintext token, computed by store.c */
    vouch_store_rc (*token_insert)(vouch_store *s, const char *name, const uint8_t hash[32],
                                   const char *actor, int64_t *id, char *err, size_t n);
    /* walk every token, compare in constant time */
    vouch_store_rc (*token_verify)(vouch_store *s, const uint8_t hash[32], int64_t *id,
                                   char *name, size_t name_size, char *err, size_t n);
    vouch_store_rc (*token_revoke)(vouch_store *s, int64_t id, const char *actor, char *err,
                                   size_t n);
    vouch_store_rc (*token_list)(vouch_store *s, vouch_store_token_cb cb, void *ctx, char *err,
                                 size_t n);

    vouch_store_rc (*account_create)(vouch_store *s, const char *name, const char *actor,
                                     int64_t *id, char *err, size_t n);
    vouch_store_rc (*account_get)(vouch_store *s, const char *name, int64_t *id, char *err,
                                  size_t n);
    vouch_store_rc (*account_list)(vouch_store *s, vouch_store_account_cb cb, void *ctx,
                                   char *err, size_t n);
    /* in->sha256 computed by store.c */
    vouch_store_rc (*family_insert)(vouch_store *s, const vouch_store_family *in,
                                    const char *actor, int64_t *id, char *err, size_t n);
    vouch_store_rc (*family_get)(vouch_store *s, int64_t id, const uint8_t *sha256,
                                 vouch_store_family *out, char *err, size_t n);
    vouch_store_rc (*family_set_code)(vouch_store *s, int64_t id, const char *code,
                                      int64_t expires, const char *actor, char *err, size_t n);
    vouch_store_rc (*family_verify)(vouch_store *s, int64_t id, const char *actor, char *err,
                                    size_t n);
    vouch_store_rc (*family_list)(vouch_store *s, int64_t account_id, vouch_store_family_cb cb,
                                  void *ctx, char *err, size_t n);
    /* in->cert_sha256 computed by store.c when cert_der is set */
    vouch_store_rc (*device_insert)(vouch_store *s, const vouch_store_device *in,
                                    const char *action, const char *actor, int64_t *id,
                                    char *err, size_t n);
    /* by (account_id, device_id), by id, or by cert sha256: exactly one */
    vouch_store_rc (*device_get)(vouch_store *s, int64_t account_id, const char *device_id,
                                 int64_t id, const uint8_t *sha256, vouch_store_device *out,
                                 char *err, size_t n);
    vouch_store_rc (*device_set_status)(vouch_store *s, int64_t id, vouch_device_status st,
                                        const char *actor, char *err, size_t n);
    vouch_store_rc (*device_set_cert)(vouch_store *s, int64_t id, int64_t family_id,
                                      const uint8_t *der, size_t len, const uint8_t sha256[32],
                                      const uint8_t *expect_sha256, int64_t expect_family,
                                      const char *actor, char *err, size_t n);
    vouch_store_rc (*device_touch)(vouch_store *s, const int64_t *ids, const int64_t *times,
                                   size_t count, char *err, size_t n);
    vouch_store_rc (*device_list)(vouch_store *s, int64_t account_id, int64_t after_id,
                                  unsigned limit, int with_der, vouch_store_device_cb cb,
                                  void *ctx, char *err, size_t n);

    /* firmware (sqlite_fw.c); sha256 of the image computed by store.c */
    vouch_store_rc (*fwkey_insert)(vouch_store *s, const vouch_store_fwkey *in,
                                   const char *actor, int64_t *id, char *err, size_t n);
    vouch_store_rc (*fwkey_set_status)(vouch_store *s, int64_t account_id, const char *name,
                                       vouch_fwkey_status st, const char *actor, char *err,
                                       size_t n);
    vouch_store_rc (*fwkey_list)(vouch_store *s, int64_t account_id, vouch_store_fwkey_cb cb,
                                 void *ctx, char *err, size_t n);
    vouch_store_rc (*release_insert)(vouch_store *s, const vouch_store_release *in,
                                     const uint8_t *image, size_t len, const char *actor,
                                     int64_t *id, char *err, size_t n);
    vouch_store_rc (*release_get)(vouch_store *s, int64_t id, vouch_store_release *out,
                                  char *err, size_t n);
    vouch_store_rc (*release_list)(vouch_store *s, int64_t account_id, vouch_store_release_cb cb,
                                   void *ctx, char *err, size_t n);
    vouch_store_rc (*release_read)(vouch_store *s, int64_t id, uint64_t offset, uint8_t *buf,
                                   size_t len, char *err, size_t n);
    /* device_rows deduplicated and sorted by store.c */
    vouch_store_rc (*campaign_create)(vouch_store *s, const vouch_store_campaign *in,
                                      const int64_t *device_rows, size_t count,
                                      const char *actor, int64_t *id, char *err, size_t n);
    vouch_store_rc (*campaign_get)(vouch_store *s, int64_t id, vouch_store_campaign *out,
                                   char *err, size_t n);
    vouch_store_rc (*campaign_list)(vouch_store *s, int64_t account_id,
                                    vouch_store_campaign_cb cb, void *ctx, char *err, size_t n);
    vouch_store_rc (*campaign_set_status)(vouch_store *s, int64_t id,
                                          vouch_campaign_status st, const char *actor,
                                          char *err, size_t n);
    vouch_store_rc (*campaign_devices)(vouch_store *s, int64_t id,
                                       vouch_store_campaign_device_cb cb, void *ctx, char *err,
                                       size_t n);
    vouch_store_rc (*update_find)(vouch_store *s, const vouch_store_update_query *q,
                                  vouch_store_campaign *c, vouch_store_release *r, char *err,
                                  size_t n);
    /* release_id > 0: an active campaign with that release; campaign_id > 0:
     * that campaign, any status */
    vouch_store_rc (*update_targets)(vouch_store *s, const vouch_store_update_query *q,
                                     int64_t release_id, int64_t campaign_id, int *yes,
                                     char *err, size_t n);
    vouch_store_rc (*update_report)(vouch_store *s, int64_t campaign_id, int64_t device_row,
                                    vouch_update_state st, const char *detail, char *err,
                                    size_t n);
    vouch_store_rc (*device_fw_report)(vouch_store *s, int64_t device_row, const char *version,
                                       uint32_t sec_cnt, char *err, size_t n);

    vouch_store_rc (*audit_append)(vouch_store *s, const char *actor, const char *action,
                                   const char *subject, const char *details, int64_t *seq,
                                   char *err, size_t n);
    vouch_store_rc (*audit_list)(vouch_store *s, int64_t after_seq, unsigned limit,
                                 vouch_store_audit_cb cb, void *ctx, char *err, size_t n);
    vouch_store_rc (*audit_verify)(vouch_store *s, vouch_store_audit_report *rep, char *err,
                                   size_t n);
} vouch_store_ops;

/* Every backend's handle starts with this. */
struct vouch_store {
    const vouch_store_ops *ops;
    int64_t (*now)(void *ctx);
    void *now_ctx;
};

int64_t vouch_store_now(vouch_store *s);

/* Format into err (if any) and return rc. */
vouch_store_rc vouch_store_fail(char *err, size_t n, vouch_store_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The audit entry's hash: SHA-256 over
 *   "vouch-audit-v1" 0x00 | seq (8, big-endian) | time (8, big-endian, two's
 *   complement) | actor | action | subject | details | prev_hash (32)
 * where each string is its length (4, big-endian) then its bytes. */
int vouch_store_audit_hash(int64_t seq, int64_t time, const char *actor, const char *action,
                           const char *subject, const char *details,
                           const uint8_t prev_hash[32], uint8_t out[32]);

#define VOUCH_STORE_NAME_MAX 128

#endif
