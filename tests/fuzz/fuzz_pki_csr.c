/* PKCS#10 CSRs as vouchd will receive them: parse, then check against every
 * built-in template (signature first, then the template rules). */
#include <stddef.h>
#include <stdint.h>

#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    X509_REQ *csr = NULL;
    size_t n = 0;
    const char *const *names = vouch_pki_template_builtin_names(&n);
    char why[256];
    if (vouch_pki_csr_parse(data, size, &csr) != VOUCH_PKI_OK)
        return 0;
    for (size_t i = 0; i < n; i++) {
        vouch_pki_template t;
        if (vouch_pki_template_builtin(names[i], &t) != VOUCH_PKI_OK)
            __builtin_trap();
        if (vouch_pki_check_csr(&t, csr, why, sizeof why) == VOUCH_PKI_OK && why[0] == '\x01')
            __builtin_trap(); /* unreachable: keeps the result used */
    }
    X509_REQ_free(csr);
    return 0;
}
