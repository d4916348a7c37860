/* Template JSON as an admin would post it: load, and if it loads, save and
 * load again; the second load must succeed and agree. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vouch_pki_template a, b;
    char why[256], *json = NULL;
    if (vouch_pki_template_from_json((const char *)data, size, &a, why, sizeof why) !=
        VOUCH_PKI_OK)
        return 0;
    if (vouch_pki_template_to_json(&a, &json) != VOUCH_PKI_OK)
        __builtin_trap();
    if (vouch_pki_template_from_json(json, strlen(json), &b, why, sizeof why) != VOUCH_PKI_OK)
        __builtin_trap();
    if (strcmp(a.name, b.name) != 0 || a.validity_days != b.validity_days ||
        a.key_usage != b.key_usage || a.key_types != b.key_types)
        __builtin_trap();
    free(json);
    return 0;
}
