/*
 * Words for statuses and names for protocol values. Every string is a
 * literal, so vouch_strerror needs no buffer and is safe from any thread.
 */
#include "internal.h"
#include <vouch/fw.h>

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const api_msgs[] = {
    [VOUCH_E_ARG] = "API misuse: bad argument (E_ARG)",
    [VOUCH_E_BUFFER] = "API misuse: output buffer too small (E_BUFFER)",
    [VOUCH_E_STATE] = "API misuse: context not open or misused (E_STATE)",
    [VOUCH_E_UNSUPPORTED] = "API: transport or feature not available here (E_UNSUPPORTED)",
};

static const char *const bus_msgs[] = {
    [VOUCH_E_CONNECT] = "bus: cannot connect to the SE (E_CONNECT)",
    [VOUCH_E_WRITE] = "bus: write to the SE failed (E_WRITE)",
    [VOUCH_E_READ] = "bus: read from the SE failed (E_READ)",
    [VOUCH_E_TIMEOUT] = "bus: no response from the SE in time (E_TIMEOUT)",
    [VOUCH_E_CLOSED] = "bus: the SE closed the connection (E_CLOSED)",
};

static const char *const frame_msgs[] = {
    [VOUCH_E_FRAME_CRC] = "bad response frame: CRC wrong after all rereads (E_FRAME_CRC)",
    [VOUCH_E_FRAME_SHORT] = "bad response frame: truncated (E_FRAME_SHORT)",
    [VOUCH_E_FRAME_LEN] = "bad response frame: impossible length or layout (E_FRAME_LEN)",
};

static const char *const chan_msgs[] = {
    [VOUCH_E_RMAC] = "secure channel: response R-MAC wrong or missing (E_RMAC)",
    [VOUCH_E_NO_KEYS] = "secure channel: no host keys set (E_NO_KEYS)",
    [VOUCH_E_CTR_EXHAUSTED] = "secure channel: counter exhausted (E_CTR_EXHAUSTED)",
};

static const char *const se_msgs[] = {
    [VOUCH_SE_OK] = "SE: success (OK)",
    [VOUCH_SE_E_CRC] = "SE refused: command frame CRC wrong (E_CRC)",
    [VOUCH_SE_E_FRAME] = "SE refused: truncated or malformed frame (E_FRAME)",
    [VOUCH_SE_E_UNKNOWN_CMD] = "SE refused: unknown command (E_UNKNOWN_CMD)",
    [VOUCH_SE_E_PARAM] = "SE refused: malformed payload or invalid value (E_PARAM)",
    [VOUCH_SE_E_ZONE] = "SE refused: no such zone or wrong zone type (E_ZONE)",
    [VOUCH_SE_E_SLOT] = "SE refused: no such key slot or wrong algorithm (E_SLOT)",
    [VOUCH_SE_E_ACCESS] = "SE refused: access condition (E_ACCESS)",
    [VOUCH_SE_E_LIFECYCLE] = "SE refused: not allowed in this lifecycle state (E_LIFECYCLE)",
    [VOUCH_SE_E_MAC] = "SE refused: C-MAC wrong or no host keys (E_MAC)",
    [VOUCH_SE_E_REPLAY] = "SE refused: counter not above the last accepted (E_REPLAY)",
    [VOUCH_SE_E_NO_KEY] = "SE refused: slot holds no key (E_NO_KEY)",
    [VOUCH_SE_E_KEY_LOCKED] = "SE refused: factory slot locked in OPERATIONAL (E_KEY_LOCKED)",
    [VOUCH_SE_E_COUNTER] = "SE refused: counter would go below zero (E_COUNTER)",
    [VOUCH_SE_E_INTEGRITY] = "SE refused: unwrap integrity check failed (E_INTEGRITY)",
    [VOUCH_SE_E_BUSY] = "SE refused: busy, still after all retries (E_BUSY)",
    [VOUCH_SE_E_ASLEEP] = "SE refused: hibernating, send WAKE (E_ASLEEP)",
    [VOUCH_SE_E_STORAGE] = "SE refused: non-volatile write failed, nothing changed (E_STORAGE)",
    [VOUCH_SE_E_CHANNEL] = "SE refused: command needs the host secure channel (E_CHANNEL)",
    [VOUCH_SE_E_NOT_STRICTER] = "SE refused: access conditions only get stricter (E_NOT_STRICTER)",
    [VOUCH_SE_E_RANGE] = "SE refused: offset/length outside the zone (E_RANGE)",
    [VOUCH_SE_E_INTERNAL] = "SE refused: internal failure (E_INTERNAL)",
};

static const char *pick(const char *const *t, size_t n, uint32_t code, const char *unknown)
{
    return code < n && t[code] ? t[code] : unknown;
}

const char *vouch_strerror(vouch_rc rc)
{
    uint32_t code = VOUCH_RC_CODE(rc);
    if (rc == VOUCH_OK)
        return "success";
    switch (VOUCH_RC_LAYER(rc)) {
    case VOUCH_LAYER_API:
        return pick(api_msgs, N_ELEM(api_msgs), code, "API misuse: unknown code");
    case VOUCH_LAYER_BUS:
        return pick(bus_msgs, N_ELEM(bus_msgs), code, "bus: unknown error");
    case VOUCH_LAYER_FRAME:
        return pick(frame_msgs, N_ELEM(frame_msgs), code, "bad response frame: unknown error");
    case VOUCH_LAYER_SE:
        return pick(se_msgs, N_ELEM(se_msgs), code, "SE refused: unknown status");
    case VOUCH_LAYER_CHANNEL:
        return pick(chan_msgs, N_ELEM(chan_msgs), code, "secure channel: unknown error");
    case VOUCH_LAYER_PORT:
        return "crypto port: operation failed";
    case VOUCH_LAYER_FW:
        return vouch_fw_strerror(rc);
    default:
        return "unknown error (no such layer)";
    }
}

static const char *const cmd_names[] = {
    [VOUCH_SE_CMD_ECHO] = "ECHO",           [VOUCH_SE_CMD_RESET] = "RESET",
    [VOUCH_SE_CMD_RANDOM] = "RANDOM",       [VOUCH_SE_CMD_QUERY] = "QUERY",
    [VOUCH_SE_CMD_READ] = "READ",           [VOUCH_SE_CMD_UPDATE] = "UPDATE",
    [VOUCH_SE_CMD_DECREMENT] = "DECREMENT", [VOUCH_SE_CMD_KEYGEN] = "KEYGEN",
    [VOUCH_SE_CMD_PUBKEY] = "PUBKEY",       [VOUCH_SE_CMD_SIGN] = "SIGN",
    [VOUCH_SE_CMD_VERIFY] = "VERIFY",       [VOUCH_SE_CMD_ECDH] = "ECDH",
    [VOUCH_SE_CMD_WRAP] = "WRAP",           [VOUCH_SE_CMD_UNWRAP] = "UNWRAP",
    [VOUCH_SE_CMD_LIFECYCLE] = "LIFECYCLE", [VOUCH_SE_CMD_HIBERNATE] = "HIBERNATE",
    [VOUCH_SE_CMD_WAKE] = "WAKE",           [VOUCH_SE_CMD_ZONE_AC] = "ZONE_AC",
    [VOUCH_SE_CMD_HOST_KEYS] = "HOST_KEYS",
};

static const char *const status_names[] = {
    [VOUCH_SE_OK] = "OK",
    [VOUCH_SE_E_CRC] = "E_CRC",
    [VOUCH_SE_E_FRAME] = "E_FRAME",
    [VOUCH_SE_E_UNKNOWN_CMD] = "E_UNKNOWN_CMD",
    [VOUCH_SE_E_PARAM] = "E_PARAM",
    [VOUCH_SE_E_ZONE] = "E_ZONE",
    [VOUCH_SE_E_SLOT] = "E_SLOT",
    [VOUCH_SE_E_ACCESS] = "E_ACCESS",
    [VOUCH_SE_E_LIFECYCLE] = "E_LIFECYCLE",
    [VOUCH_SE_E_MAC] = "E_MAC",
    [VOUCH_SE_E_REPLAY] = "E_REPLAY",
    [VOUCH_SE_E_NO_KEY] = "E_NO_KEY",
    [VOUCH_SE_E_KEY_LOCKED] = "E_KEY_LOCKED",
    [VOUCH_SE_E_COUNTER] = "E_COUNTER",
    [VOUCH_SE_E_INTEGRITY] = "E_INTEGRITY",
    [VOUCH_SE_E_BUSY] = "E_BUSY",
    [VOUCH_SE_E_ASLEEP] = "E_ASLEEP",
    [VOUCH_SE_E_STORAGE] = "E_STORAGE",
    [VOUCH_SE_E_CHANNEL] = "E_CHANNEL",
    [VOUCH_SE_E_NOT_STRICTER] = "E_NOT_STRICTER",
    [VOUCH_SE_E_RANGE] = "E_RANGE",
    [VOUCH_SE_E_INTERNAL] = "E_INTERNAL",
};

/* The command code of a header byte: the MAC flags are stripped, the
 * reserved bit is not (a header with it set names no command). */
const char *vouch_se_cmd_name(uint8_t cmd)
{
    cmd &= (uint8_t) ~(VOUCH_SE_HDR_CMAC | VOUCH_SE_HDR_RMAC);
    return pick(cmd_names, N_ELEM(cmd_names), cmd, "unknown");
}

/* The status code of a status byte: the R-MAC flag is stripped. */
const char *vouch_se_status_name(uint8_t status)
{
    return pick(status_names, N_ELEM(status_names), status & VOUCH_SE_STATUS_MASK, "unknown");
}

const char *vouch_se_lifecycle_name(uint8_t lc)
{
    switch (lc) {
    case VOUCH_SE_LC_PERSONALIZATION:
        return "PERSONALIZATION";
    case VOUCH_SE_LC_OPERATIONAL:
        return "OPERATIONAL";
    case VOUCH_SE_LC_TERMINATED:
        return "TERMINATED";
    default:
        return "unknown";
    }
}

const char *vouch_se_alg_name(uint8_t alg)
{
    switch (alg) {
    case VOUCH_SE_ALG_NONE:
        return "none";
    case VOUCH_SE_ALG_P256:
        return "P-256";
    case VOUCH_SE_ALG_ED25519:
        return "Ed25519";
    case VOUCH_SE_ALG_X25519:
        return "X25519";
    default:
        return "unknown";
    }
}

const char *vouch_se_ac_name(uint8_t ac)
{
    switch (ac) {
    case VOUCH_SE_AC_ALWAYS:
        return "ALWAYS";
    case VOUCH_SE_AC_HOST:
        return "HOST";
    case VOUCH_SE_AC_NEVER:
        return "NEVER";
    default:
        return "unknown";
    }
}
