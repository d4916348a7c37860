/*
 * vouch account, vouch device, vouch family: cloud accounts, device
 * enrollment (alone or through a family CA with proof of possession) and
 * device authentication through vouchd (docs/api.md, "Accounts, families
 * and devices"; docs/auth-protocol.md). `device auth` is the device's side:
 * it talks to the secure element and needs no API token.
 */
#include "cli/remote.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <vouch/auth.h>
#include <vouch/client.h>
#include <vouch/se.h>

#define ACCOUNT_MAX 64
#define DEVICE_ID_MAX 64
#define PEM_FILE_MAX (64u << 10)
#define PAGE 1000

#define OPTS(...) ((cli_opt[]){__VA_ARGS__, {NULL, NULL, NULL, 0}})
#define NO_OPTS ((cli_opt[]){{NULL, NULL, NULL, 0}})

/* ---- shared ------------------------------------------------------------------------ */

static int need_account(const char **name)
{
    int ret = rneed("account", name);
    return ret ? ret : check_name("account name", *name, ACCOUNT_MAX);
}

static int device_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > DEVICE_ID_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-:@+", *s)))
            return 0;
    return 1;
}

static int check_device_id(const char *s)
{
    return device_id_ok(s) ? CLI_OK
                           : cli_usage(R.cmd, "bad device id '%s': 1 to %d of A-Z a-z 0-9 . _ - "
                                              ": @ +",
                                       s, DEVICE_ID_MAX);
}

/* A file of PEM certificates, re-encoded without surrounding text; *count
 * of them. Local file error (5) when it holds none or a broken one. */
static int load_pem(const char *path, char **pem, int *count)
{
    uint8_t *buf = NULL;
    size_t len = 0, cl = 0;
    int ret = cli_read_file(path, PEM_FILE_MAX, &buf, &len);
    if (ret)
        return ret;
    if (!remote_pem_certs((const char *)buf, len, pem, &cl, count))
        ret = cli_err(CLI_FILE, "%s: not a PEM certificate file", path);
    free(buf);
    return ret;
}

static void when(const char *label, const char *v)
{
    printf("  %-18s ", label);
    print_safe(stdout, *v ? v : "-");
    putchar('\n');
}

/* ---- vouch account ----------------------------------------------------------------- */

static int acc_create(char **pos, int npos)
{
    json_t *ans = NULL;
    int ret = check_name("account name", pos[0], ACCOUNT_MAX);
    if (ret || (ret = remote_open()))
        return ret;
    ret = remote_call("POST", strdup("/v1/accounts"), json_pack("{s:s}", "name", pos[0]),
               "create the account", &ans);
    if (!ret) {
        if (R.json)
            print_json(ans);
        else
            printf("account %s created\n", pos[0]);
    }
    json_decref(ans);
    return ret;
}

static int acc_list(char **pos, int npos)
{
    json_t *ans = NULL, *x;
    size_t i;
    int ret = remote_open();
    if (ret || (ret = remote_call("GET", strdup("/v1/accounts"), NULL, NULL, &ans)))
        return ret;
    json_t *list = json_object_get(ans, "accounts");
    if (!json_is_array(list)) {
        ret = bad_answer(NULL, "no accounts array");
    } else if (R.json) {
        print_json(ans);
    } else {
        if (json_array_size(list))
            printf("%-24s %9s %9s  %s\n", "NAME", "FAMILIES", "DEVICES", "CREATED");
        json_array_foreach(list, i, x) {
            print_safe(stdout, jstr(x, "name"));
            printf("%*s %9lld %9lld  ", (int)(24 - (strlen(jstr(x, "name")) % 25)), "",
                   (long long)json_integer_value(json_object_get(x, "families")),
                   (long long)json_integer_value(json_object_get(x, "devices")));
            print_safe(stdout, jstr(x, "created_at"));
            putchar('\n');
        }
    }
    json_decref(ans);
    return ret;
}

#define ASYN "    vouch account [group options] "

static const remote_cmd acc_cmds[] = {
    {"create", acc_create, NO_OPTS, "NAME", 0,
     {"account create", "create a cloud account (a tenant)", ASYN "create NAME [--json]",
      "DESCRIPTION\n"
      "    Creates account NAME (POST /v1/accounts): 1 to 64 of A-Z a-z 0-9\n"
      "    . _ -. Devices and device families belong to one account. An\n"
      "    existing name is refused (409 account_exists, status 3). Audited.\n\n"
      "OPTIONS\n    None besides the group options.\n",
      "    vouch account create acme\n", 0}},
    {"list", acc_list, NO_OPTS, NULL, 0,
     {"account list", "list the accounts", ASYN "list [--json]",
      "DESCRIPTION\n"
      "    Lists the accounts by name with their numbers of families and\n"
      "    devices (GET /v1/accounts). --json prints the server's answer:\n"
      "    {\"accounts\":[{name, created_at, families, devices}]}.\n\n"
      "OPTIONS\n    None besides the group options.\n",
      "    vouch account list\n", 0}},
};

static const remote_group acc_group = {
    "account", "cloud accounts (tenants) on vouchd",
    "    The tenants of the cloud service: each owns its devices and device\n"
    "    families (docs/api.md).\n",
    "    vouch account --server http://127.0.0.1:8443 create acme\n", acc_cmds,
    sizeof acc_cmds / sizeof acc_cmds[0]};

int cmd_account_main(int argc, char **argv)
{
    return remote_run_group(&acc_group, argc, argv);
}

/* ---- vouch device ------------------------------------------------------------------ */

static void device_line(json_t *x)
{
    const char *seen = jstr(x, "last_seen");
    print_safe(stdout, jstr(x, "device_id"));
    size_t l = strlen(jstr(x, "device_id"));
    printf("%*s %-9s %-15s %-11s ", (int)(l < 26 ? 26 - l : 1), "", jstr(x, "status"),
           jstr(x, "presence"), jstr(x, "enrollment"));
    print_safe(stdout, *seen ? seen : "never");
    putchar('\n');
}

static void device_show(json_t *x)
{
    print_safe(stdout, jstr(x, "device_id"));
    printf(" (account ");
    print_safe(stdout, jstr(x, "account"));
    printf(")\n");
    when("status", jstr(x, "status"));
    when("presence", jstr(x, "presence"));
    when("enrollment", jstr(x, "enrollment"));
    json_t *f = json_object_get(x, "family_id");
    if (json_is_integer(f))
        printf("  %-18s %lld\n", "family", (long long)json_integer_value(f));
    when("certificate SHA-256", jstr(x, "cert_sha256"));
    when("not after", jstr(x, "not_after"));
    when("last seen", jstr(x, "last_seen"));
    when("created", jstr(x, "created_at"));
}

static int dev_enroll(char **pos, int npos)
{
    const char *acc, *certf = ropt("cert"), *id = ropt("device-id");
    char *pem = NULL;
    int n = 0, ret;
    json_t *ans = NULL;
    if ((ret = need_account(&acc)) || (id && (ret = check_device_id(id))))
        return ret;
    if (!certf && !id)
        return cli_usage(R.cmd, "give --cert FILE (the device certificate), --device-id ID, or "
                                "both");
    if (certf && (ret = load_pem(certf, &pem, &n)))
        return ret;
    if (pem && n != 1) {
        free(pem);
        return cli_err(CLI_FILE, "%s: holds %d certificates; give the device certificate alone",
                       certf, n);
    }
    if ((ret = remote_open()))
        goto out;
    json_t *body = json_object();
    if (!body || (pem && json_object_set_new(body, "certificate", json_string(pem)) != 0) ||
        (id && json_object_set_new(body, "device_id", json_string(id)) != 0)) {
        json_decref(body);
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    if ((ret = remote_call("POST", remote_apath(acc, "/devices"), body, "enroll the device", &ans)))
        goto out;
    if (R.json) {
        print_json(ans);
    } else {
        printf("enrolled ");
        device_show(ans);
    }
out:
    json_decref(ans);
    free(pem);
    return ret;
}

static int dev_list(char **pos, int npos)
{
    const char *acc;
    int ret;
    json_t *all = NULL, *ans = NULL, *x;
    long long after = 0;
    size_t i;
    if ((ret = need_account(&acc)) || (ret = remote_open()))
        return ret;
    if (!(all = json_array()))
        return cli_err(CLI_FILE, "out of memory");
    for (;;) {
        char suffix[64];
        snprintf(suffix, sizeof suffix, "/devices?limit=%d%s%lld", PAGE, after ? "&after=" : "",
                 after);
        if (!after)
            snprintf(suffix, sizeof suffix, "/devices?limit=%d", PAGE);
        if ((ret = remote_call("GET", remote_apath(acc, suffix), NULL, "list the devices", &ans)))
            goto out;
        json_t *list = json_object_get(ans, "devices"), *next = json_object_get(ans, "next_after");
        if (!json_is_array(list)) {
            ret = bad_answer(NULL, "no devices array");
            goto out;
        }
        json_array_extend(all, list);
        if (!json_is_integer(next) || json_integer_value(next) <= after)
            break;
        after = json_integer_value(next);
        json_decref(ans);
        ans = NULL;
    }
    if (R.json) {
        json_t *o = json_pack("{s:O}", "devices", all);
        print_json(o);
        json_decref(o);
        goto out;
    }
    size_t on = 0, off = 0, none = 0;
    if (json_array_size(all))
        printf("%-26s %-9s %-15s %-11s %s\n", "DEVICE", "STATUS", "PRESENCE", "ENROLLMENT",
               "LAST SEEN");
    json_array_foreach(all, i, x) {
        device_line(x);
        const char *p = jstr(x, "presence");
        on += strcmp(p, "online") == 0;
        off += strcmp(p, "offline") == 0;
        none += strcmp(p, "no_certificate") == 0;
    }
    printf("%zu devices: %zu online, %zu offline, %zu without a certificate\n",
           json_array_size(all), on, off, none);
out:
    json_decref(ans);
    json_decref(all);
    return ret;
}

static int dev_get(char **pos, int npos)
{
    const char *acc;
    int ret;
    json_t *ans = NULL;
    char suffix[96];
    if ((ret = need_account(&acc)) || (ret = check_device_id(pos[0])) || (ret = remote_open()))
        return ret;
    snprintf(suffix, sizeof suffix, "/devices/%s", pos[0]);
    if ((ret = remote_call("GET", remote_apath(acc, suffix), NULL, "read the device", &ans)))
        return ret;
    if (R.json)
        print_json(ans);
    else
        device_show(ans);
    json_decref(ans);
    return ret;
}

static int dev_set(char **pos, const char *action, const char *done)
{
    const char *acc;
    int ret;
    json_t *ans = NULL;
    char suffix[112];
    if ((ret = need_account(&acc)) || (ret = check_device_id(pos[0])) || (ret = remote_open()))
        return ret;
    snprintf(suffix, sizeof suffix, "/devices/%s/%s", pos[0], action);
    if ((ret = remote_call("POST", remote_apath(acc, suffix), NULL, NULL, &ans)))
        return ret;
    if (R.json) {
        print_json(ans);
    } else {
        printf("device ");
        print_safe(stdout, pos[0]);
        printf(" %s (status %s)\n", done, jstr(ans, "status"));
    }
    json_decref(ans);
    return ret;
}

static int dev_disable(char **pos, int npos)
{
    return dev_set(pos, "disable", "disabled");
}

static int dev_enable(char **pos, int npos)
{
    return dev_set(pos, "enable", "enabled");
}

static int dev_block(char **pos, int npos)
{
    return dev_set(pos, "block", "blocked");
}

/* The device's chain (leaf first) from a PEM file into DER buffers. */
static int load_chain(const char *path, vouch_device_auth_opts *o, uint8_t **ders)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int ret = cli_read_file(path, PEM_FILE_MAX, &buf, &len);
    if (ret)
        return ret;
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    X509 *x;
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (o->chain_n == VOUCH_CLIENT_CHAIN_MAX) {
            X509_free(x);
            ret = cli_err(CLI_FILE, "%s: more than %d certificates", path,
                          VOUCH_CLIENT_CHAIN_MAX);
            break;
        }
        uint8_t *d = NULL;
        int n = i2d_X509(x, &d);
        X509_free(x);
        if (n <= 0) {
            ret = cli_err(CLI_FILE, "out of memory");
            break;
        }
        ders[o->chain_n] = d;
        o->chain[o->chain_n] = d;
        o->chain_len[o->chain_n++] = (size_t)n;
    }
    ERR_clear_error();
    BIO_free(b);
    free(buf);
    if (!ret && o->chain_n == 0)
        ret = cli_err(CLI_FILE, "%s: no PEM certificate in it", path);
    return ret;
}

static int dev_auth(char **pos, int npos)
{
    const char *uri, *certf, *acc = ropt("account"), *tokout = ropt("token-out"),
                                *slots = ropt("slot");
    uint64_t slot = 0;
    uint8_t *ders[VOUCH_CLIENT_CHAIN_MAX] = {0}, zone0[4096];
    vouch_device_auth_opts o = {0};
    vouch_device_auth_result r;
    vouch_transport_any ts;
    const vouch_transport *t = NULL;
    void *tctx = NULL;
    vouch_se se;
    int se_open = 0, ret;
    memset(&r, 0, sizeof r);
    certf = ropt("cert");
    if ((ret = rneed("se", &uri)) || (certf && !*certf && (ret = cli_usage(R.cmd, "an empty file name"))) ||
        (acc && (ret = check_name("account name", acc, ACCOUNT_MAX))) ||
        (slots && (ret = cli_num(R.cmd, "--slot", slots, 0, 15, &slot))))
        return ret;
    if (tokout && !*tokout)
        return cli_usage(R.cmd, "an empty file name");
    if ((certf && (ret = load_chain(certf, &o, ders))) || (ret = remote_open()))
        goto out;
    vouch_rc rc = vouch_transport_open_uri(uri, &ts, &t, &tctx);
    if (rc != VOUCH_OK && VOUCH_RC_LAYER(rc) == VOUCH_LAYER_API) {
        ret = cli_usage(R.cmd, "bad SE URI '%s': expected unix:/path/to/socket or "
                               "i2c:/dev/i2c-N@0xADDR", uri);
        goto out;
    }
    if (rc != VOUCH_OK) {
        ret = cli_err(CLI_COMM, "%s: cannot connect to %s: %s", R.cmd, uri, vouch_strerror(rc));
        goto out;
    }
    vouch_se_config cfg = {.transport = t, .transport_ctx = tctx};
    if ((rc = vouch_se_init(&se, &cfg)) != VOUCH_OK) {
        if (t->close)
            t->close(tctx);
        ret = cli_err(CLI_COMM, "%s: cannot start the SE client: %s", R.cmd, vouch_strerror(rc));
        goto out;
    }
    se_open = 1;
    if (!certf) {
        char why[160];
        vouch_client_rc zr = vouch_device_chain_from_zone(&se, 0, 0, zone0, sizeof zone0, &o, why,
                                                          sizeof why);
        if (zr != VOUCH_CLIENT_OK) {
            ret = cli_err(zr == VOUCH_CLIENT_E_SE ? CLI_SE : CLI_FILE, "%s: %s", R.cmd, why);
            goto out;
        }
    }
    o.server_url = R.url;
    o.cacert = R.cacert;
    o.timeout_s = R.timeout;
    o.account = acc;
    o.slot = (uint8_t)slot;
    vouch_client_rc crc = vouch_device_authenticate(&se, &o, &r);
    if (crc == VOUCH_CLIENT_E_REFUSED) {
        ret = cli_err(CLI_REFUSED, "%s: refused by the server (%d %s): %s", R.cmd, r.http_status,
                      r.error_code, r.message);
        goto out;
    }
    if (crc == VOUCH_CLIENT_E_SE) {
        ret = cli_err(CLI_SE, "%s: %s", R.cmd, r.message);
        goto out;
    }
    if (crc == VOUCH_CLIENT_E_ARG) {
        ret = cli_usage(R.cmd, "%s", r.message);
        goto out;
    }
    if (crc != VOUCH_CLIENT_OK) {
        ret = cli_err(CLI_COMM, "%s: %s", R.cmd, r.message);
        goto out;
    }
    if (tokout) {
        size_t tl = strlen(r.token);
        r.token[tl] = '\n';
        ret = cli_write_file(tokout, r.token, tl + 1, 1);
        if (ret)
            goto out;
    }
    if (R.json) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:b}", "device_id", r.device_id, "account", r.account,
                              "expires_at", r.expires_at, "authenticated", 1);
        print_json(j);
        json_decref(j);
    } else {
        printf("authenticated: device ");
        print_safe(stdout, r.device_id);
        printf(" of account ");
        print_safe(stdout, r.account);
        printf(", session until %s\n", r.expires_at);
    }
out:
    if (se_open)
        vouch_se_close(&se);
    for (size_t i = 0; i < VOUCH_CLIENT_CHAIN_MAX; i++)
        OPENSSL_free(ders[i]);
    OPENSSL_cleanse(&r, sizeof r);
    return ret;
}

#define DSYN "    vouch device [group options] "
#define ACC_OPT {"account", "NAME", NULL, 0}

static const remote_cmd dev_cmds[] = {
    {"enroll", dev_enroll,
     OPTS(ACC_OPT, {"cert", "FILE", NULL, 0}, {"device-id", "ID", NULL, 0}), NULL, 0,
     {"device enroll", "enroll one device with its certificate",
      DSYN "enroll --account NAME --cert FILE [--device-id ID] [--json]\n"
      DSYN "enroll --account NAME --device-id ID [--json]",
      "DESCRIPTION\n"
      "    Enrolls a device to an account on its own (POST\n"
      "    /v1/accounts/<name>/devices): the certificate in FILE (PEM, EC\n"
      "    P-256, not expired) is then enough for it to authenticate, whoever\n"
      "    issued it. The device id is --device-id, else the certificate's\n"
      "    subject CN (1 to 64 of A-Z a-z 0-9 . _ - : @ +). With --device-id\n"
      "    alone the record has no certificate yet (listed as\n"
      "    no_certificate): a device of one of the account's families takes\n"
      "    it over at its first authentication. Refused: an id the account\n"
      "    has (409 device_exists), a certificate enrolled already (409\n"
      "    certificate_enrolled), another key type (422 unsupported_key), an\n"
      "    expired certificate (422 certificate_expired).\n\n"
      "OPTIONS\n"
      "    --account NAME   the account\n"
      "    --cert FILE      the device certificate, PEM\n"
      "    --device-id ID   the device id (default: the certificate's CN)\n",
      "    vouch device enroll --account acme --cert device.pem\n", 0}},
    {"list", dev_list, OPTS(ACC_OPT), NULL, 0,
     {"device list", "list an account's devices with their online status",
      DSYN "list --account NAME [--json]",
      "DESCRIPTION\n"
      "    Lists every device of the account (GET\n"
      "    /v1/accounts/<name>/devices, all pages): id, status (active,\n"
      "    disabled, blocked), presence, enrollment (individual or family)\n"
      "    and when it last authenticated, then the counts. Presence is\n"
      "    online (authenticated within the last 10 minutes, the life of a\n"
      "    session), offline, or no_certificate (a record made ahead, no\n"
      "    certificate yet). --json prints {\"devices\":[{device_id, account,\n"
      "    status, enrollment, family_id, cert_sha256, not_after, created_at,\n"
      "    last_seen, presence}]}.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch device list --account acme --json\n", 0}},
    {"get", dev_get, OPTS(ACC_OPT), "ID", 0,
     {"device get", "show one device", DSYN "get --account NAME ID [--json]",
      "DESCRIPTION\n"
      "    Shows device ID of the account (GET\n"
      "    /v1/accounts/<name>/devices/<id>); 404 unknown_device, status 3,\n"
      "    when there is none.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch device get --account acme sensor-0001\n", 0}},
    {"disable", dev_disable, OPTS(ACC_OPT), "ID", 0,
     {"device disable", "refuse a device's authentications", DSYN "disable --account NAME ID",
      "DESCRIPTION\n"
      "    Disables device ID: its authentications are refused (403\n"
      "    device_disabled) until 'vouch device enable'. Challenges handed\n"
      "    out before stay answerable for their 30 seconds. Audited.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch device disable --account acme sensor-0001\n", 0}},
    {"enable", dev_enable, OPTS(ACC_OPT), "ID", 0,
     {"device enable", "let a disabled or blocked device in again",
      DSYN "enable --account NAME ID",
      "DESCRIPTION\n"
      "    Makes device ID active again. Audited.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch device enable --account acme sensor-0001\n", 0}},
    {"block", dev_block, OPTS(ACC_OPT), "ID", 0,
     {"device block", "shut one device out of its family", DSYN "block --account NAME ID",
      "DESCRIPTION\n"
      "    Blocks device ID (403 device_blocked at authentication): one\n"
      "    device of an enrolled family, while the family's other devices\n"
      "    go on. A device that has not authenticated yet can be blocked\n"
      "    ahead: its record is made, blocked, without a certificate.\n"
      "    Audited.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch device block --account acme sensor-0042\n", 0}},
    {"auth", dev_auth,
     OPTS({"se", "URI", NULL, 0}, {"cert", "FILE", NULL, 0}, {"slot", "N", NULL, 0},
          {"account", "NAME", NULL, 0}, {"token-out", "FILE", NULL, 0}),
     NULL, REMOTE_NO_TOKEN,
     {"device auth", "authenticate this device: the SE answers the server's challenge",
      "    vouch device --server URL auth --se URI [--cert FILE] [--slot N]\n"
      "                 [--account NAME] [--token-out FILE] [--json]",
      "DESCRIPTION\n"
      "    The device side of docs/auth-protocol.md: sends the certificate\n"
      "    chain (--cert FILE, PEM, the device certificate first; default:\n"
      "    the chain 'vouch provision' wrote into the SE's zone 0) to POST\n"
      "    /v1/auth/challenge, has the secure element sign the vouch-auth-v1\n"
      "    digest of the challenge, the server's origin and the certificate\n"
      "    with the key in --slot (default 0; the key never leaves the SE),\n"
      "    and sends the signature to POST /v1/auth/response. Prints the\n"
      "    device id, account and session expiry; no API token is needed\n"
      "    or sent. --json prints {device_id, account, expires_at,\n"
      "    authenticated}. The session token itself is written only to\n"
      "    --token-out FILE (mode 0600), never printed.\n\n"
      "    A refusal exits 3 with the server's code and reason, e.g.\n"
      "    \"refused by the server (403 device_blocked): the device is\n"
      "    blocked\"; docs/api.md lists every code.\n\n"
      "OPTIONS\n"
      "    --se URI          the secure element: unix:/path or i2c:/dev/i2c-N@0xADDR\n"
      "    --cert FILE       the device's certificate chain, PEM, leaf first\n"
      "                      (default: read from the SE's zone 0)\n"
      "    --slot N          the SE key slot of the device key, 0..15 (default 0)\n"
      "    --account NAME    refuse unless the device belongs to this account\n"
      "    --token-out FILE  write the session token there (0600)\n",
      "    vouch device --server http://127.0.0.1:8443 auth --se unix:/run/se.sock\n", 0}},
};

static const remote_group dev_group = {
    "device", "devices of cloud accounts on vouchd",
    "    Enroll devices to accounts, list them with their online status,\n"
    "    disable, enable or block them, and authenticate as one (docs/api.md,\n"
    "    docs/auth-protocol.md).\n",
    "    vouch device --server http://127.0.0.1:8443 list --account acme\n", dev_cmds,
    sizeof dev_cmds / sizeof dev_cmds[0]};

int cmd_device_main(int argc, char **argv)
{
    return remote_run_group(&dev_group, argc, argv);
}

/* ---- vouch family ------------------------------------------------------------------- */

static void family_show(json_t *x)
{
    printf("family %lld of account ", (long long)json_integer_value(json_object_get(x, "id")));
    print_safe(stdout, jstr(x, "account"));
    printf("\n");
    when("subject", jstr(x, "subject"));
    when("SHA-256", jstr(x, "sha256"));
    when("status", jstr(x, "status"));
    when("ours", json_is_true(json_object_get(x, "ours")) ? "yes (one of this CA's issuers)"
                                                           : "no");
    if (*jstr(x, "verification_code")) {
        when("verification code", jstr(x, "verification_code"));
        when("code expires", jstr(x, "code_expires_at"));
    }
}

static void verify_hint(json_t *x)
{
    const char *code = jstr(x, "verification_code");
    if (!*code)
        return;
    printf("\nProve you hold the family CA's key: sign a certificate whose subject CN\n"
           "is the verification code with it, then submit that certificate:\n\n"
           "  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\\n"
           "      -keyout verify.key -subj /CN=%s -out verify.csr\n"
           "  openssl x509 -req -in verify.csr -CA family.pem -CAkey family.key \\\n"
           "      -days 1 -out verify.pem\n"
           "  vouch family verify --account ",
           code);
    print_safe(stdout, jstr(x, "account"));
    printf(" %lld --cert verify.pem\n", (long long)json_integer_value(json_object_get(x, "id")));
}

static int fam_enroll(char **pos, int npos)
{
    const char *acc, *caf;
    char *pem = NULL;
    int n = 0, ret;
    json_t *ans = NULL;
    if ((ret = need_account(&acc)) || (ret = rneed("ca-cert", &caf)) ||
        (ret = load_pem(caf, &pem, &n)))
        return ret;
    if (n != 1) {
        free(pem);
        return cli_err(CLI_FILE, "%s: holds %d certificates; give the family CA certificate "
                                 "alone",
                       caf, n);
    }
    if (!(ret = remote_open()) &&
        !(ret = remote_call("POST", remote_apath(acc, "/families"), json_pack("{s:s}", "certificate", pem),
                     "enroll the family", &ans))) {
        if (R.json) {
            print_json(ans);
        } else {
            printf("enrolled ");
            family_show(ans);
            verify_hint(ans);
        }
    }
    json_decref(ans);
    free(pem);
    return ret;
}

static int fam_list(char **pos, int npos)
{
    const char *acc;
    int ret;
    json_t *ans = NULL, *x;
    size_t i;
    if ((ret = need_account(&acc)) || (ret = remote_open()) ||
        (ret = remote_call("GET", remote_apath(acc, "/families"), NULL, "list the families", &ans)))
        return ret;
    json_t *list = json_object_get(ans, "families");
    if (!json_is_array(list)) {
        ret = bad_answer(NULL, "no families array");
    } else if (R.json) {
        print_json(ans);
    } else {
        if (json_array_size(list))
            printf("%-6s %-9s %-5s %s\n", "ID", "STATUS", "OURS", "SUBJECT");
        json_array_foreach(list, i, x) {
            printf("%-6lld %-9s %-5s ", (long long)json_integer_value(json_object_get(x, "id")),
                   jstr(x, "status"), json_is_true(json_object_get(x, "ours")) ? "yes" : "no");
            print_safe(stdout, jstr(x, "subject"));
            putchar('\n');
        }
    }
    json_decref(ans);
    return ret;
}

static int fam_id(const char *s, char out[24])
{
    uint64_t v = 0;
    int ret = cli_num(R.cmd, "family id", s, 1, 999999999999ull, &v);
    if (!ret)
        snprintf(out, 24, "%llu", (unsigned long long)v);
    return ret;
}

/* GET the family, or POST one of its actions without a body; show it. */
static int fam_call(char **pos, const char *method, const char *action, const char *what)
{
    const char *acc;
    char id[24], suffix[64];
    int ret;
    json_t *ans = NULL;
    if ((ret = need_account(&acc)) || (ret = fam_id(pos[0], id)) || (ret = remote_open()))
        return ret;
    snprintf(suffix, sizeof suffix, "/families/%s%s", id, action);
    if ((ret = remote_call(method, remote_apath(acc, suffix), NULL, what, &ans)))
        return ret;
    if (R.json) {
        print_json(ans);
    } else {
        family_show(ans);
        verify_hint(ans);
    }
    json_decref(ans);
    return ret;
}

static int fam_get(char **pos, int npos)
{
    return fam_call(pos, "GET", "", "read the family");
}

static int fam_verify(char **pos, int npos)
{
    const char *acc, *certf;
    char id[24], suffix[48], *pem = NULL;
    int n = 0, ret;
    json_t *ans = NULL;
    if ((ret = need_account(&acc)) || (ret = fam_id(pos[0], id)) ||
        (ret = rneed("cert", &certf)) || (ret = load_pem(certf, &pem, &n)))
        return ret;
    if (n != 1) {
        free(pem);
        return cli_err(CLI_FILE, "%s: holds %d certificates; give the verification "
                                 "certificate alone",
                       certf, n);
    }
    snprintf(suffix, sizeof suffix, "/families/%s/verify", id);
    if (!(ret = remote_open()) &&
        !(ret = remote_call("POST", remote_apath(acc, suffix), json_pack("{s:s}", "certificate", pem),
                     "verify the family", &ans))) {
        if (R.json)
            print_json(ans);
        else
            printf("family %s verified: its devices can authenticate now\n", id);
    }
    json_decref(ans);
    free(pem);
    return ret;
}

static int fam_code(char **pos, int npos)
{
    return fam_call(pos, "POST", "/code", "renew the verification code");
}

#define FSYN "    vouch family [group options] "

static const remote_cmd fam_cmds[] = {
    {"enroll", fam_enroll, OPTS(ACC_OPT, {"ca-cert", "FILE", NULL, 0}), NULL, 0,
     {"family enroll", "register a device family's CA certificate to an account",
      FSYN "enroll --account NAME --ca-cert FILE [--json]",
      "DESCRIPTION\n"
      "    Registers the CA certificate in FILE (PEM, basicConstraints cA) as\n"
      "    a device family of the account (POST /v1/accounts/<name>/families).\n"
      "    A family belongs to one account. One of this CA's own issuers is\n"
      "    verified at once. Any other CA (a chip vendor's family\n"
      "    certificate, your own factory CA) is pending until its owner\n"
      "    proves possession of its key: the answer carries a verification\n"
      "    code; sign a certificate whose subject CN is that code with the\n"
      "    family CA's key and submit it with 'vouch family verify' (the\n"
      "    commands to do it with openssl are printed). Only a verified\n"
      "    family vouches for devices; each device gets its record at its\n"
      "    first authentication. Refused: not a CA (422 not_a_ca), expired\n"
      "    (422 certificate_expired), registered already (409\n"
      "    family_exists).\n\n"
      "OPTIONS\n"
      "    --account NAME   the account\n"
      "    --ca-cert FILE   the family CA certificate, PEM\n",
      "    vouch family enroll --account acme --ca-cert vendor-family.pem\n", 0}},
    {"list", fam_list, OPTS(ACC_OPT), NULL, 0,
     {"family list", "list an account's device families", FSYN "list --account NAME [--json]",
      "DESCRIPTION\n"
      "    Lists the account's families: id, status (pending or verified),\n"
      "    whether it is one of this CA's issuers, subject. --json prints\n"
      "    {\"families\":[{id, account, subject, sha256, ours, status,\n"
      "    created_at, verified_at | verification_code, code_expires_at,\n"
      "    not_after}]}.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch family list --account acme\n", 0}},
    {"get", fam_get, OPTS(ACC_OPT), "ID", 0,
     {"family get", "show one family (and its verification code)",
      FSYN "get --account NAME ID [--json]",
      "DESCRIPTION\n"
      "    Shows family ID of the account; a pending one with its\n"
      "    verification code and how to prove possession.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch family get --account acme 3\n", 0}},
    {"verify", fam_verify, OPTS(ACC_OPT, {"cert", "FILE", NULL, 0}), "ID", 0,
     {"family verify", "prove possession of a family CA's key",
      FSYN "verify --account NAME ID --cert FILE [--json]",
      "DESCRIPTION\n"
      "    Submits the verification certificate in FILE (PEM) for pending\n"
      "    family ID (POST .../families/<id>/verify). It must have the\n"
      "    family's verification code as its subject CN, name the family CA\n"
      "    as its issuer, be signed by the family CA's key and be within its\n"
      "    dates. Refused: another CN (422 verification_code_mismatch), a\n"
      "    signature by another key (422 verification_failed), an expired\n"
      "    code (410 verification_code_expired: get a new one with 'vouch\n"
      "    family code'), a verified family (409 family_already_verified).\n\n"
      "OPTIONS\n"
      "    --account NAME   the account\n"
      "    --cert FILE      the verification certificate, PEM\n",
      "    vouch family verify --account acme 3 --cert verify.pem\n", 0}},
    {"code", fam_code, OPTS(ACC_OPT), "ID", 0,
     {"family code", "give a pending family a new verification code",
      FSYN "code --account NAME ID [--json]",
      "DESCRIPTION\n"
      "    Replaces the verification code of pending family ID (codes last\n"
      "    24 hours). Audited.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch family code --account acme 3\n", 0}},
};

static const remote_group fam_group = {
    "family", "device families (CA certificates) of cloud accounts on vouchd",
    "    A family is a CA certificate registered to one account: every\n"
    "    device whose chain ends at a verified family can authenticate,\n"
    "    and gets its record the first time it does (docs/api.md).\n",
    "    vouch family --server http://127.0.0.1:8443 enroll --account acme --ca-cert f.pem\n",
    fam_cmds, sizeof fam_cmds / sizeof fam_cmds[0]};

int cmd_family_main(int argc, char **argv)
{
    return remote_run_group(&fam_group, argc, argv);
}
