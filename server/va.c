/* Placeholder: replaced by the validation authority (CRL, OCSP, CA certs). */
#include "server/http.h"

void vouchd_h_ca_cert(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *c,
                      const char *rest)
{
    vouchd_send_error(req, 501, VOUCHD_E_NOT_IMPLEMENTED, "not yet");
}
void vouchd_h_crl(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *c,
                  const char *rest)
{
    vouchd_send_error(req, 501, VOUCHD_E_NOT_IMPLEMENTED, "not yet");
}
void vouchd_h_ocsp(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *c,
                   const char *rest)
{
    vouchd_send_error(req, 501, VOUCHD_E_NOT_IMPLEMENTED, "not yet");
}
int vouchd_va_start(const vouchd_config *cfg) { return 0; }
void vouchd_va_stop(void) {}
void vouchd_va_revoked(vouchd_worker *w, int64_t issuer_id, const uint8_t *serial, size_t l) {}
void vouchd_va_worker_free(vouchd_worker *w) {}
