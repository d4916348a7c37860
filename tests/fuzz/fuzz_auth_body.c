/* The bodies of POST /v1/auth/challenge and /v1/auth/response as a device
 * (or anyone) sends them, through vouchd's own parsers (server/auth_parse.c).
 * The first byte picks the parser; the rest is the body. Oracles: a parsed
 * chain has 1..4 certificates of 1..4096 bytes each and a valid account
 * name or none; a refusal has a status and a code; a signature decodes to
 * at most 72 bytes; a challenge id that decodes re-encodes to itself. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server/auth_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    vouchd_auth_refusal r;
    memset(&r, 0, sizeof r);
    if (data[0] & 1) {
        vouchd_auth_chain c;
        if (vouchd_auth_parse_challenge(body, len, &c, &r) == 0) {
            if (c.n < 1 || c.n > VOUCHD_AUTH_CHAIN_MAX)
                __builtin_trap();
            for (size_t i = 0; i < c.n; i++)
                if (c.len[i] < 1 || c.len[i] > VOUCHD_AUTH_CERT_MAX)
                    __builtin_trap();
            if (c.account[0] && !vouchd_auth_name_ok(c.account, VOUCHD_AUTH_ACCOUNT_MAX))
                __builtin_trap();
        } else if (r.status < 400 || !r.code || !r.msg[0]) {
            __builtin_trap();
        }
        vouchd_auth_chain_free(&c);
    } else {
        char id[VOUCHD_AUTH_ID_MAX + 1];
        uint8_t sig[VOUCHD_AUTH_SIG_MAX + 8], raw[24];
        long sl = -2;
        if (vouchd_auth_parse_response(body, len, id, sig, &sl, &r) == 0) {
            if (sl > VOUCHD_AUTH_SIG_MAX || sl < -1 || strlen(id) > VOUCHD_AUTH_ID_MAX)
                __builtin_trap();
            if (vouchd_b64url_decode(id, raw, sizeof raw) == 0) {
                char again[40];
                vouchd_b64url(raw, sizeof raw, again);
                if (strcmp(again, id) != 0)
                    __builtin_trap();
            }
        } else if (r.status != 400 || !r.code || !r.msg[0]) {
            __builtin_trap();
        }
    }
    return 0;
}
