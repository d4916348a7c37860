/*
 * Firmware trust held by the secure element (docs/firmware.md, "Keys,
 * revocation and rollback"): the key entries of zone 2, the anti-rollback
 * counter of zone 5 and the key revocation counter of zone 6. The counters
 * only count down, so the values here (0xFFFFFFFF minus the counter) only
 * grow: a floor once raised, a key once revoked, stays so.
 */
#include <string.h>

#include "fw/internal.h"

static vouch_rc counter_value(vouch_se *se, uint8_t zone, uint32_t *value)
{
    uint8_t b[4];
    vouch_rc rc = vouch_se_read(se, zone, 0, b, sizeof b, VOUCH_PLAIN);
    if (rc != VOUCH_OK)
        return rc;
    *value = 0xFFFFFFFFu - vd_get32(b);
    return VOUCH_OK;
}

/* Raise a counter zone's value to `to`; never lowers it. */
static vouch_rc counter_raise(vouch_se *se, uint8_t zone, uint32_t to, unsigned flags,
                              uint32_t *now)
{
    uint32_t cur, left;
    vouch_rc rc = counter_value(se, zone, &cur);
    if (rc != VOUCH_OK)
        return rc;
    if (to > cur) {
        rc = vouch_se_decrement(se, zone, to - cur, NULL, 0, flags, &left);
        if (rc != VOUCH_OK)
            return rc;
        cur = 0xFFFFFFFFu - left;
    }
    if (now)
        *now = cur;
    return VOUCH_OK;
}

vouch_rc vouch_fw_rollback_get(vouch_se *se, uint32_t *floor)
{
    if (!se || !floor)
        return RC_API(VOUCH_E_ARG);
    return counter_value(se, VOUCH_FW_ROLLBACK_ZONE, floor);
}

vouch_rc vouch_fw_rollback_raise(vouch_se *se, uint32_t to, unsigned flags, uint32_t *now)
{
    if (!se)
        return RC_API(VOUCH_E_ARG);
    return counter_raise(se, VOUCH_FW_ROLLBACK_ZONE, to, flags, now);
}

vouch_rc vouch_fw_key_revoke(vouch_se *se, uint8_t index, unsigned flags, uint32_t *now)
{
    if (!se || index >= VOUCH_FW_KEY_ENTRIES)
        return RC_API(VOUCH_E_ARG);
    return counter_raise(se, VOUCH_FW_REVOKE_ZONE, (uint32_t)index + 1u, flags, now);
}

vouch_rc vouch_fw_trust_load(vouch_se *se, const vouch_crypto_port *port, vouch_fw_key *keys,
                             size_t *nkeys, uint32_t *revoked_below)
{
    uint8_t z[VOUCH_FW_KEY_ENTRIES * VOUCH_FW_KEY_ENTRY_LEN];
    uint32_t revoked = 0;
    size_t n = 0;
    unsigned i;
    vouch_rc rc;

    if (!se || !port || !keys || !nkeys)
        return RC_API(VOUCH_E_ARG);
    *nkeys = 0;
    rc = vouch_se_read(se, VOUCH_FW_KEY_ZONE, 0, z, sizeof z, VOUCH_PLAIN);
    if (rc == VOUCH_OK)
        rc = counter_value(se, VOUCH_FW_REVOKE_ZONE, &revoked);
    if (rc != VOUCH_OK)
        return rc;
    for (i = 0; i < VOUCH_FW_KEY_ENTRIES; i++) {
        const uint8_t *e = z + i * VOUCH_FW_KEY_ENTRY_LEN;
        vouch_fw_key *k = &keys[n];
        size_t len;
        if (e[0] == VOUCH_FW_USAGE_EMPTY || e[0] == VOUCH_FW_USAGE_COMMANDS)
            continue;
        if (e[0] != VOUCH_FW_USAGE_FIRMWARE)
            return RC_FW(VOUCH_FW_E_TRUST);
        if (e[1] == VOUCH_SE_ALG_P256 && e[2] == 0x04)
            len = 65;
        else if (e[1] == VOUCH_SE_ALG_ED25519)
            len = 32;
        else
            return RC_FW(VOUCH_FW_E_TRUST);
        memset(k, 0, sizeof *k);
        k->alg = e[1];
        memcpy(k->pub, e + 2, len);
        k->index = (uint8_t)i;
        k->revoked = i < revoked;
        rc = vouch_fw_keyhash(port, k->alg, k->pub, len, k->keyhash);
        if (rc != VOUCH_OK)
            return rc;
        n++;
    }
    *nkeys = n;
    if (revoked_below)
        *revoked_below = revoked;
    return VOUCH_OK;
}

int vouch_fw_se_check(void *ctx, const vouch_fw_key *key, const uint8_t hash[32],
                      const uint8_t sig[64])
{
    vouch_se *se = ctx;
    int valid = 0;
    uint16_t at = (uint16_t)(key->index * VOUCH_FW_KEY_ENTRY_LEN + 1u);
    if (!se || key->index >= VOUCH_FW_KEY_ENTRIES)
        return -1;
    if (vouch_se_verify_zone_at(se, VOUCH_FW_KEY_ZONE, at, hash, 32, sig, &valid) != VOUCH_OK)
        return -1;
    return valid ? 1 : 0;
}
