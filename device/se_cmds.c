/*
 * Typed commands (docs/se-protocol.md section 3). Each one checks what it can
 * before touching the bus, gathers its payload as pieces into the frame, and
 * checks the exact response length it expects: a response of any other
 * length is refused, never half-used.
 */
#include "internal.h"

#define BAD_LEN RC_FRAME(VOUCH_E_FRAME_LEN)
#define BAD_ARG RC_API(VOUCH_E_ARG)
/* For answers of a length fixed by the protocol, "does not fit the buffer"
 * means the chip sent the wrong length: a frame error, not caller misuse. */
static vouch_rc fixed_len(vouch_rc rc)
{
    return rc == RC_API(VOUCH_E_BUFFER) ? BAD_LEN : rc;
}
#define ZONE_CHUNK (VOUCH_SE_MAX_PAYLOAD - 3u) /* READ/UPDATE: zone(1) offset(2) */

/* Every public call: NULL context refused before the lock hooks are read. */
#define ENTER(se)                                                              \
    do {                                                                       \
        if (!(se)) {                                                           \
            rc = BAD_ARG;                                                      \
            goto out;                                                          \
        }                                                                      \
        vd_lock(se);                                                           \
    } while (0)

static size_t pub_len_for(uint8_t alg)
{
    switch (alg) {
    case VOUCH_SE_ALG_P256:
        return VOUCH_SE_P256_PUB_LEN;
    case VOUCH_SE_ALG_ED25519:
    case VOUCH_SE_ALG_X25519:
        return VOUCH_SE_X_PUB_LEN;
    default:
        return 0;
    }
}

/* A command whose successful answer carries no data. */
static vouch_rc simple(vouch_se *se, uint8_t cmd, unsigned flags, const uint8_t *p, size_t n)
{
    vouch_rc rc;
    vd_part part = {p, n};
    uint8_t junk[1];
    size_t got = 0;
    if (!se)
        return BAD_ARG;
    vd_lock(se);
    rc = fixed_len(vd_xact(se, cmd, flags, &part, 1, junk, sizeof junk, &got));
    if (rc == VOUCH_OK && got != 0)
        rc = BAD_LEN;
    vd_unlock(se);
    return rc;
}

vouch_rc vouch_se_echo(vouch_se *se, const uint8_t *in, size_t len, uint8_t *out,
                       size_t out_size, size_t *out_len)
{
    return vouch_se_transact(se, VOUCH_SE_CMD_ECHO, VOUCH_PLAIN, in, len, out, out_size,
                             out_len);
}

vouch_rc vouch_se_reset(vouch_se *se)
{
    return simple(se, VOUCH_SE_CMD_RESET, VOUCH_PLAIN, NULL, 0);
}

vouch_rc vouch_se_hibernate(vouch_se *se)
{
    return simple(se, VOUCH_SE_CMD_HIBERNATE, VOUCH_PLAIN, NULL, 0);
}

vouch_rc vouch_se_wake(vouch_se *se)
{
    return simple(se, VOUCH_SE_CMD_WAKE, VOUCH_PLAIN, NULL, 0);
}

vouch_rc vouch_se_lifecycle(vouch_se *se, uint8_t target, unsigned flags)
{
    return simple(se, VOUCH_SE_CMD_LIFECYCLE, flags, &target, 1);
}

vouch_rc vouch_se_zone_ac(vouch_se *se, uint8_t zone, uint8_t read_ac, uint8_t update_ac,
                          unsigned flags)
{
    uint8_t p[3] = {zone, read_ac, update_ac};
    return simple(se, VOUCH_SE_CMD_ZONE_AC, flags, p, sizeof p);
}

vouch_rc vouch_se_random(vouch_se *se, uint8_t *out, size_t len)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t p[2];
    vd_part part = {p, 2};
    size_t done = 0, n, got;
    ENTER(se);
    ENSURE(out && len > 0, BAD_ARG);
    /* one frame carries at most VOUCH_SE_MAX_PAYLOAD random bytes */
    while (done < len) {
        n = len - done < VOUCH_SE_MAX_PAYLOAD ? len - done : VOUCH_SE_MAX_PAYLOAD;
        vd_put16(p, (uint16_t)n);
        GUARD(fixed_len(
            vd_xact(se, VOUCH_SE_CMD_RANDOM, VOUCH_PLAIN, &part, 1, out + done, n, &got)));
        ENSURE(got == n, BAD_LEN);
        done += n;
    }
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK)
        vd_poison(out, len);
    return rc;
}

/* One QUERY tag into buf. */
static vouch_rc query_tag(vouch_se *se, uint8_t tag, uint8_t *buf, size_t size, size_t *n)
{
    vd_part part = {&tag, 1};
    return fixed_len(vd_xact(se, VOUCH_SE_CMD_QUERY, VOUCH_PLAIN, &part, 1, buf, size, n));
}

vouch_rc vouch_se_query(vouch_se *se, vouch_se_info *info)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t buf[VOUCH_SE_MAX_PAYLOAD];
    size_t n = 0, name_len;
    vd_cursor c;
    const uint8_t *p;
    ENTER(se);
    ENSURE(info, BAD_ARG);
    memset(info, 0, sizeof *info);

    GUARD(query_tag(se, VOUCH_SE_Q_SERIAL, buf, sizeof buf, &n));
    ENSURE(n == VOUCH_SE_SERIAL_LEN, BAD_LEN);
    memcpy(info->serial, buf, VOUCH_SE_SERIAL_LEN);

    GUARD(query_tag(se, VOUCH_SE_Q_PRODUCT, buf, sizeof buf, &n));
    vd_cur_init(&c, buf, n);
    info->fw_major = vd_cur_u8(&c);
    info->fw_minor = vd_cur_u8(&c);
    ENSURE(!c.bad, BAD_LEN);
    /* the name is informational: keep what fits, always terminated */
    name_len = c.left < sizeof info->product - 1 ? c.left : sizeof info->product - 1;
    p = vd_cur_take(&c, c.left);
    memcpy(info->product, p, name_len);
    info->product[name_len] = '\0';

    GUARD(query_tag(se, VOUCH_SE_Q_LIFECYCLE, buf, sizeof buf, &n));
    vd_cur_init(&c, buf, n);
    info->lifecycle = vd_cur_u8(&c);
    info->power = vd_cur_u8(&c);
    ENSURE(vd_cur_done(&c), BAD_LEN);

    GUARD(query_tag(se, VOUCH_SE_Q_KEYS, buf, sizeof buf, &n));
    vd_cur_init(&c, buf, n);
    info->n_keys = vd_cur_u8(&c);
    ENSURE(info->n_keys <= VOUCH_SE_SLOTS, BAD_LEN);
    for (unsigned i = 0; i < info->n_keys; i++) {
        info->keys[i].slot = vd_cur_u8(&c);
        info->keys[i].alg = vd_cur_u8(&c);
        info->keys[i].flags = vd_cur_u8(&c);
    }
    ENSURE(vd_cur_done(&c), BAD_LEN);

    GUARD(query_tag(se, VOUCH_SE_Q_ZONES, buf, sizeof buf, &n));
    vd_cur_init(&c, buf, n);
    info->n_zones = vd_cur_u8(&c);
    ENSURE(info->n_zones <= VOUCH_SE_ZONES, BAD_LEN);
    for (unsigned i = 0; i < info->n_zones; i++) {
        vouch_se_zone_info *z = &info->zones[i];
        z->index = vd_cur_u8(&c);
        z->type = vd_cur_u8(&c);
        z->read_ac = vd_cur_u8(&c);
        z->update_ac = vd_cur_u8(&c);
        z->size = vd_cur_u16(&c);
        z->counter = vd_cur_u32(&c);
    }
    ENSURE(vd_cur_done(&c), BAD_LEN);

    GUARD(query_tag(se, VOUCH_SE_Q_HOST, buf, sizeof buf, &n));
    vd_cur_init(&c, buf, n);
    info->host_keys_set = vd_cur_u8(&c);
    info->host_counter = vd_cur_u32(&c);
    ENSURE(vd_cur_done(&c), BAD_LEN);
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK)
        vd_poison(info, info ? sizeof *info : 0);
    return rc;
}

vouch_rc vouch_se_read(vouch_se *se, uint8_t zone, uint16_t offset, uint8_t *out, size_t len,
                       unsigned flags)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t p[5];
    vd_part part = {p, sizeof p};
    size_t done = 0, n, got;
    ENTER(se);
    ENSURE(out && len > 0, BAD_ARG);
    /* every frame's offset must still fit the 2-byte field */
    ENSURE(len - 1 <= 0xFFFFu - offset, BAD_ARG);
    while (done < len) {
        n = len - done < ZONE_CHUNK ? len - done : ZONE_CHUNK;
        p[0] = zone;
        vd_put16(p + 1, (uint16_t)(offset + done));
        vd_put16(p + 3, (uint16_t)n);
        GUARD(fixed_len(vd_xact(se, VOUCH_SE_CMD_READ, flags, &part, 1, out + done, n, &got)));
        ENSURE(got == n, BAD_LEN);
        done += n;
    }
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK)
        vd_poison(out, len);
    return rc;
}

vouch_rc vouch_se_update(vouch_se *se, uint8_t zone, uint16_t offset, const uint8_t *data,
                         size_t len, unsigned flags)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t p[3], junk[1];
    vd_part parts[2] = {{p, sizeof p}, {NULL, 0}};
    size_t done = 0, n, got;
    ENTER(se);
    ENSURE(data && len > 0, BAD_ARG);
    ENSURE(len - 1 <= 0xFFFFu - offset, BAD_ARG);
    while (done < len) {
        n = len - done < ZONE_CHUNK ? len - done : ZONE_CHUNK;
        p[0] = zone;
        vd_put16(p + 1, (uint16_t)(offset + done));
        parts[1].p = data + done;
        parts[1].n = n;
        GUARD(fixed_len(
            vd_xact(se, VOUCH_SE_CMD_UPDATE, flags, parts, 2, junk, sizeof junk, &got)));
        ENSURE(got == 0, BAD_LEN);
        done += n;
    }
exit:
    vd_unlock(se);
out:
    return rc;
}

vouch_rc vouch_se_decrement(vouch_se *se, uint8_t zone, uint32_t amount, const uint8_t *data,
                            size_t data_len, unsigned flags, uint32_t *new_value)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t p[5], r[4];
    vd_part parts[2] = {{p, sizeof p}, {data, data_len}};
    size_t got = 0;
    ENTER(se);
    ENSURE(data || data_len == 0, BAD_ARG);
    ENSURE(data_len <= VOUCH_SE_COUNTER_DATA, BAD_ARG);
    p[0] = zone;
    vd_put32(p + 1, amount);
    GUARD(fixed_len(vd_xact(se, VOUCH_SE_CMD_DECREMENT, flags, parts, 2, r, sizeof r, &got)));
    ENSURE(got == sizeof r, BAD_LEN);
    if (new_value)
        *new_value = vd_get32(r);
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK && new_value)
        *new_value = 0xA5A5A5A5u;
    return rc;
}

vouch_rc vouch_se_keygen(vouch_se *se, uint8_t slot, uint8_t alg, uint8_t *pub,
                         size_t pub_size, size_t *pub_len, unsigned flags)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t p[2] = {slot, alg};
    vd_part part = {p, sizeof p};
    size_t want = pub_len_for(alg), got = 0;
    ENTER(se);
    ENSURE(pub && pub_len, BAD_ARG);
    /* Refuse a short buffer before the chip makes a key we could not
     * return. An unknown alg goes through: the chip names the error. */
    ENSURE(pub_size >= want, RC_API(VOUCH_E_BUFFER));
    GUARD(fixed_len(vd_xact(se, VOUCH_SE_CMD_KEYGEN, flags, &part, 1, pub, pub_size, &got)));
    ENSURE(want && got == want, BAD_LEN);
    *pub_len = got;
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK) {
        vd_poison(pub, pub_size);
        if (pub_len)
            *pub_len = 0;
    }
    return rc;
}

vouch_rc vouch_se_pubkey(vouch_se *se, uint8_t slot, uint8_t *alg, uint8_t *pub,
                         size_t pub_size, size_t *pub_len)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t r[1 + VOUCH_SE_P256_PUB_LEN];
    vd_part part = {&slot, 1};
    size_t got = 0, want;
    ENTER(se);
    ENSURE(alg && pub && pub_len, BAD_ARG);
    GUARD(fixed_len(vd_xact(se, VOUCH_SE_CMD_PUBKEY, VOUCH_PLAIN, &part, 1, r, sizeof r, &got)));
    ENSURE(got >= 1, BAD_LEN);
    want = pub_len_for(r[0]);
    ENSURE(want && got == 1 + want, BAD_LEN);
    ENSURE(pub_size >= want, RC_API(VOUCH_E_BUFFER));
    memcpy(pub, r + 1, want);
    *alg = r[0];
    *pub_len = want;
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK) {
        vd_poison(pub, pub_size);
        if (pub_len)
            *pub_len = 0;
        if (alg)
            *alg = VOUCH_SE_ALG_NONE;
    }
    return rc;
}

vouch_rc vouch_se_sign(vouch_se *se, uint8_t slot, const uint8_t *msg, size_t msg_len,
                       uint8_t sig[VOUCH_SE_SIG_LEN], unsigned flags)
{
    vouch_rc rc = VOUCH_OK;
    vd_part parts[2] = {{&slot, 1}, {msg, msg_len}};
    size_t got = 0;
    ENTER(se);
    ENSURE(msg && msg_len > 0 && msg_len < VOUCH_SE_MAX_PAYLOAD && sig, BAD_ARG);
    GUARD(fixed_len(vd_xact(se, VOUCH_SE_CMD_SIGN, flags, parts, 2, sig, VOUCH_SE_SIG_LEN, &got)));
    ENSURE(got == VOUCH_SE_SIG_LEN, BAD_LEN);
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK)
        vd_poison(sig, sig ? VOUCH_SE_SIG_LEN : 0);
    return rc;
}

/* VERIFY's answer is one byte, 1 or 0; anything else is a broken answer and
 * must not be read as "valid". */
static vouch_rc verify_common(vouch_se *se, const vd_part *parts, size_t n_parts, int *valid)
{
    vouch_rc rc;
    uint8_t r[1];
    size_t got = 0;
    GUARD(fixed_len(
        vd_xact(se, VOUCH_SE_CMD_VERIFY, VOUCH_PLAIN, parts, n_parts, r, sizeof r, &got)));
    ENSURE(got == 1 && r[0] <= 1, BAD_LEN);
    *valid = r[0];
exit:
    return rc;
}

vouch_rc vouch_se_verify(vouch_se *se, uint8_t alg, const uint8_t *pub, size_t pub_len,
                         const uint8_t *msg, size_t msg_len, const uint8_t sig[VOUCH_SE_SIG_LEN],
                         int *valid)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t p[2] = {VOUCH_SE_VERIFY_KEY, alg};
    vd_part parts[4] = {{p, 2}, {pub, pub_len}, {sig, VOUCH_SE_SIG_LEN}, {msg, msg_len}};
    ENTER(se);
    ENSURE(valid && pub && pub_len > 0 && sig && msg && msg_len > 0, BAD_ARG);
    ENSURE(pub_len <= VOUCH_SE_P256_PUB_LEN, BAD_ARG);
    GUARD(verify_common(se, parts, 4, valid));
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK && valid)
        *valid = 0;
    return rc;
}

vouch_rc vouch_se_verify_zone(vouch_se *se, uint8_t zone, const uint8_t *msg, size_t msg_len,
                              const uint8_t sig[VOUCH_SE_SIG_LEN], int *valid)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t p[2] = {VOUCH_SE_VERIFY_ZONE, zone};
    vd_part parts[3] = {{p, 2}, {sig, VOUCH_SE_SIG_LEN}, {msg, msg_len}};
    ENTER(se);
    ENSURE(valid && sig && msg && msg_len > 0, BAD_ARG);
    GUARD(verify_common(se, parts, 3, valid));
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK && valid)
        *valid = 0;
    return rc;
}

vouch_rc vouch_se_verify_zone_at(vouch_se *se, uint8_t zone, uint16_t offset,
                                 const uint8_t *msg, size_t msg_len,
                                 const uint8_t sig[VOUCH_SE_SIG_LEN], int *valid)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t p[4] = {VOUCH_SE_VERIFY_ZONE_AT, zone, (uint8_t)(offset >> 8), (uint8_t)offset};
    vd_part parts[3] = {{p, 4}, {sig, VOUCH_SE_SIG_LEN}, {msg, msg_len}};
    ENTER(se);
    ENSURE(valid && sig && msg && msg_len > 0, BAD_ARG);
    GUARD(verify_common(se, parts, 3, valid));
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK && valid)
        *valid = 0;
    return rc;
}

vouch_rc vouch_se_ecdh(vouch_se *se, uint8_t slot, const uint8_t *peer, size_t peer_len,
                       uint8_t secret[VOUCH_SE_SECRET_LEN], unsigned flags)
{
    vouch_rc rc = VOUCH_OK;
    vd_part parts[2] = {{&slot, 1}, {peer, peer_len}};
    size_t got = 0;
    ENTER(se);
    ENSURE(peer && peer_len > 0 && peer_len <= VOUCH_SE_P256_PUB_LEN && secret, BAD_ARG);
    GUARD(fixed_len(
        vd_xact(se, VOUCH_SE_CMD_ECDH, flags, parts, 2, secret, VOUCH_SE_SECRET_LEN, &got)));
    ENSURE(got == VOUCH_SE_SECRET_LEN, BAD_LEN);
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK)
        vd_poison(secret, secret ? VOUCH_SE_SECRET_LEN : 0);
    return rc;
}

vouch_rc vouch_se_wrap(vouch_se *se, uint8_t key_index, const uint8_t *in, size_t len,
                       uint8_t *out, size_t out_size, size_t *out_len, unsigned flags)
{
    vouch_rc rc = VOUCH_OK;
    vd_part parts[2] = {{&key_index, 1}, {in, len}};
    size_t got = 0;
    ENTER(se);
    ENSURE(in && len > 0 && len < VOUCH_SE_MAX_PAYLOAD && out && out_len, BAD_ARG);
    /* RFC 5649: padded to 8, plus the 8-byte integrity block */
    ENSURE(out_size >= ((len + 7) / 8) * 8 + 8, RC_API(VOUCH_E_BUFFER));
    GUARD(fixed_len(vd_xact(se, VOUCH_SE_CMD_WRAP, flags, parts, 2, out, out_size, &got)));
    ENSURE(got == ((len + 7) / 8) * 8 + 8, BAD_LEN);
    *out_len = got;
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK) {
        vd_poison(out, out_size);
        if (out_len)
            *out_len = 0;
    }
    return rc;
}

vouch_rc vouch_se_unwrap(vouch_se *se, uint8_t key_index, const uint8_t *in, size_t len,
                         uint8_t *out, size_t out_size, size_t *out_len, unsigned flags)
{
    vouch_rc rc = VOUCH_OK;
    vd_part parts[2] = {{&key_index, 1}, {in, len}};
    size_t got = 0;
    ENTER(se);
    ENSURE(in && len > 0 && len < VOUCH_SE_MAX_PAYLOAD && out && out_len, BAD_ARG);
    GUARD(vd_xact(se, VOUCH_SE_CMD_UNWRAP, flags, parts, 2, out, out_size, &got));
    /* the plaintext is at least 1 byte and at most the padded input */
    ENSURE(got > 0 && got + 8 <= len && len - 8 - got < 8, BAD_LEN);
    *out_len = got;
exit:
    vd_unlock(se);
out:
    if (rc != VOUCH_OK) {
        vd_poison(out, out_size);
        if (out_len)
            *out_len = 0;
    }
    return rc;
}

vouch_rc vouch_se_put_host_keys(vouch_se *se, const uint8_t mac_key[VOUCH_SE_HOST_KEY_LEN],
                                const uint8_t enc_key[VOUCH_SE_HOST_KEY_LEN], unsigned flags)
{
    vouch_rc rc = VOUCH_OK;
    vd_part parts[2] = {{mac_key, VOUCH_SE_HOST_KEY_LEN}, {enc_key, VOUCH_SE_HOST_KEY_LEN}};
    uint8_t junk[1];
    size_t got = 0;
    /* Rotation goes over the channel under the current keys; the first
     * keys of a chip can only go in clear (there is no channel yet). */
    unsigned how;
    ENTER(se);
    ENSURE(mac_key && enc_key, BAD_ARG);
    ENSURE((flags & ~(unsigned)VOUCH_SECURE) == 0, BAD_ARG);
    how = (flags & VOUCH_SECURE) && se->have_keys ? VOUCH_SECURE : VOUCH_PLAIN;
    GUARD(fixed_len(vd_xact(se, VOUCH_SE_CMD_HOST_KEYS, how, parts, 2, junk, sizeof junk, &got)));
    ENSURE(got == 0, BAD_LEN);
    memcpy(se->mac_key, mac_key, VOUCH_SE_HOST_KEY_LEN);
    memcpy(se->enc_key, enc_key, VOUCH_SE_HOST_KEY_LEN);
    se->have_keys = 1;
    /* After a secure rotation the chip's counter carries on from the one
     * just used, which we know; after a plain set, ask before using it. */
    if (how == VOUCH_PLAIN)
        se->counter_synced = 0;
exit:
    vd_unlock(se);
out:
    return rc;
}
