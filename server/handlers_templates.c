/*
 * Certificate templates over HTTP (docs/api.md, "Templates"):
 *   GET /v1/templates, GET /v1/templates/<name>, PUT /v1/templates/<name>.
 * A template is stored as the JSON given, after the same strict validation
 * issuance applies (vouch_pki_template_from_json), so a stored template
 * never fails to load later.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "pki/pki.h"
#include "server/http.h"

#define TEMPLATE_BODY_MAX (64 * 1024)

/* {"name", "template" (as stored), "effective" (every rule as issuance
 * applies it: members the stored document omits take the built-in's or
 * the defaults), "created_at", "updated_at"}. */
static json_t *template_json(const vouch_store_template *t)
{
    json_error_t jerr;
    vouch_pki_template tpl;
    char why[256], *eff = NULL;
    json_t *body = json_loads(t->body, JSON_REJECT_DUPLICATES, &jerr), *effective = NULL;
    if (!body)
        return NULL;
    if (vouch_pki_template_from_json(t->body, strlen(t->body), &tpl, why, sizeof why) ==
            VOUCH_PKI_OK &&
        vouch_pki_template_to_json(&tpl, &eff) == VOUCH_PKI_OK)
        effective = json_loads(eff, 0, &jerr);
    free(eff);
    return json_pack("{s:s, s:o, s:o?, s:o?, s:o?}", "name", t->name, "template", body,
                     "effective", effective, "created_at", vouchd_epoch_json(t->created_at),
                     "updated_at", vouchd_epoch_json(t->updated_at));
}

static int list_cb(void *ctx, const vouch_store_template *t)
{
    json_t *o = template_json(t);
    if (!o || json_array_append_new(ctx, o) != 0)
        return 1;
    return 0;
}

void vouchd_h_templates_list(struct evhttp_request *req, vouchd_worker *w,
                             const vouchd_caller *caller, const char *rest)
{
    char err[256] = "";
    json_t *arr = json_array();
    (void)caller;
    (void)rest;
    if (!arr) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        return;
    }
    vouch_store_rc rc = vouch_store_template_list(w->store, list_cb, arr, err, sizeof err);
    if (rc == VOUCH_STORE_E_STOPPED) {
        json_decref(arr);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "a stored template does not parse");
        return;
    }
    if (rc != VOUCH_STORE_OK) {
        json_decref(arr);
        vouchd_send_store_error(req, rc, "listing templates", err);
        return;
    }
    vouchd_send_json(req, 200, json_pack("{s:o}", "templates", arr));
}

void vouchd_h_template_item(struct evhttp_request *req, vouchd_worker *w,
                            const vouchd_caller *caller, const char *rest)
{
    vouch_store_template t;
    char err[256] = "", why[512] = "";
    memset(&t, 0, sizeof t);
    if (!vouchd_name_ok_max(rest, VOUCH_PKI_TPL_NAME_MAX - 1)) {
        vouchd_send_error(req, evhttp_request_get_command(req) == EVHTTP_REQ_PUT ? 400 : 404,
                          evhttp_request_get_command(req) == EVHTTP_REQ_PUT
                              ? VOUCHD_E_BAD_REQUEST
                              : VOUCHD_E_UNKNOWN_TEMPLATE,
                          "template names are 1 to 63 of A-Z a-z 0-9 . _ -");
        return;
    }
    vouch_store_rc rc = vouch_store_template_get(w->store, rest, &t, err, sizeof err);
    if (rc != VOUCH_STORE_OK && rc != VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_store_error(req, rc, "reading a template", err);
        return;
    }
    int exists = rc == VOUCH_STORE_OK;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_PUT) {
        if (!exists) {
            vouchd_send_error(req, 404, VOUCHD_E_UNKNOWN_TEMPLATE, "no template named '%s'", rest);
            return;
        }
        json_t *o = template_json(&t);
        vouch_store_template_clear(&t);
        if (!o)
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "the stored template does not parse");
        else
            vouchd_send_json(req, 200, o);
        return;
    }
    vouch_store_template_clear(&t);

    /* PUT: validate exactly as issuance will read it */
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    const char *body = blen ? (const char *)evbuffer_pullup(in, -1) : NULL;
    json_error_t jerr;
    vouch_pki_template tpl;
    char *canon = NULL;
    json_t *j = body ? json_loadb(body, blen, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!j || !json_is_object(j)) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "the body must be a template, a JSON object (docs/pki.md)%s%s",
                          j || !body ? "" : ": ", j || !body ? "" : jerr.text);
        goto out;
    }
    json_t *nm = json_object_get(j, "name");
    if (nm && (!json_is_string(nm) || strcmp(json_string_value(nm), rest) != 0)) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "member 'name' must be \"%s\", the name in the URL", rest);
        goto out;
    }
    if (!nm && json_object_set_new(j, "name", json_string(rest)) != 0) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        goto out;
    }
    canon = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        goto out;
    }
    if (vouch_pki_template_from_json(canon, strlen(canon), &tpl, why, sizeof why) !=
        VOUCH_PKI_OK) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "the template is not valid: %s", why);
        goto out;
    }
    rc = vouch_store_template_put(w->store, rest, canon, caller->actor, err, sizeof err);
    vouchd_cache_templates_changed(); /* after the write: no worker caches the old one again */
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "storing the template", err);
        goto out;
    }
    if (vouch_store_template_get(w->store, rest, &t, err, sizeof err) == VOUCH_STORE_OK) {
        vouchd_send_json(req, exists ? 200 : 201, template_json(&t));
        vouch_store_template_clear(&t);
    } else {
        vouchd_send_json(req, exists ? 200 : 201, json_pack("{s:s}", "name", rest));
    }
out:
    free(canon);
    json_decref(j);
}
