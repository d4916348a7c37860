/*
 * vouch fw key, vouch fw release, vouch fw campaign: an account's firmware
 * signing keys, releases and update campaigns on vouchd (docs/api.md,
 * "Firmware"). The `vouch fw` router (cmd_fw.c) hands these groups their
 * arguments with argv[0] "key", "release" or "campaign".
 */
#include "cli/remote.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define ACCOUNT_MAX 64
#define KEY_NAME_MAX 64
#define DEVICE_ID_MAX 64
#define PEM_FILE_MAX (64u << 10)
#define IMAGE_MAX (32u << 20) /* the server's limit */

#define OPTS(...) ((cli_opt[]){__VA_ARGS__, {NULL, NULL, NULL, 0}})
#define ACC_OPT {"account", "NAME", NULL, 0}

static const char *const state_words[] = {"pending",   "downloading", "installed",
                                          "testing",   "confirmed",   "reverted",
                                          "rejected",  "failed"};

/* ---- shared --------------------------------------------------------------------------- */

static int need_account(const char **name)
{
    int ret = rneed("account", name);
    return ret ? ret : check_name("account name", *name, ACCOUNT_MAX);
}

/* An id argument: 1..10^15, decimal. */
static int need_id(const char *what, const char *s, long long *out)
{
    uint64_t v = 0;
    int ret = cli_num(R.cmd, what, s, 1, 999999999999999ull, &v);
    if (!ret)
        *out = (long long)v;
    return ret;
}

static long long jint(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static void field(const char *label, const char *v)
{
    printf("  %-18s ", label);
    print_safe(stdout, v && *v ? v : "-");
    putchar('\n');
}

/* ---- vouch fw key ------------------------------------------------------------------------ */

/* The PEM public key in path, checked to be one (P-256 or Ed25519 is the
 * server's call): *pem malloc'd. */
static int load_pubkey(const char *path, char **pem)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int ret = cli_read_file(path, PEM_FILE_MAX, &buf, &len);
    if (ret)
        return ret;
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    EVP_PKEY *pk = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    if (!pk) {
        int priv = strstr((char *)buf, "PRIVATE KEY-----") != NULL;
        free(buf);
        return cli_err(CLI_FILE, "%s: not a PEM public key%s", path,
                       priv ? " (it holds a private key: give its public half, 'openssl pkey "
                              "-in KEY.pem -pubout -out KEY.pub.pem'; the private key never "
                              "goes to the server)"
                            : "");
    }
    EVP_PKEY_free(pk);
    *pem = (char *)buf;
    return CLI_OK;
}

static void key_show(json_t *k)
{
    print_safe(stdout, jstr(k, "name"));
    printf(" (%s, %s)\n", jstr(k, "alg"), jstr(k, "status"));
    field("key hash", jstr(k, "key_hash"));
    field("created", jstr(k, "created_at"));
}

static int key_add(char **pos, int npos)
{
    const char *acc, *name, *pubf;
    char *pem = NULL;
    json_t *ans = NULL;
    int ret;
    if ((ret = need_account(&acc)) || (ret = rneed("name", &name)) ||
        (ret = check_name("key name", name, KEY_NAME_MAX)) || (ret = rneed("pubkey", &pubf)) ||
        (ret = load_pubkey(pubf, &pem)))
        return ret;
    if (!(ret = remote_open()) &&
        !(ret = remote_call("POST", remote_apath(acc, "/firmware-keys"),
                     json_pack("{s:s,s:s}", "name", name, "public_key", pem),
                     "add the firmware key", &ans))) {
        if (R.json) {
            print_json(ans);
        } else {
            printf("firmware key added: ");
            key_show(ans);
        }
    }
    json_decref(ans);
    free(pem);
    return ret;
}

static int key_list(char **pos, int npos)
{
    const char *acc;
    json_t *ans = NULL, *x;
    size_t i;
    int ret;
    if ((ret = need_account(&acc)) || (ret = remote_open()) ||
        (ret = remote_call("GET", remote_apath(acc, "/firmware-keys"), NULL, "list the firmware keys", &ans)))
        return ret;
    json_t *list = json_object_get(ans, "keys");
    if (!json_is_array(list)) {
        ret = bad_answer(NULL, "no keys array");
    } else if (R.json) {
        print_json(ans);
    } else {
        if (json_array_size(list))
            printf("%-24s %-8s %-8s %-18s %s\n", "NAME", "ALG", "STATUS", "KEY HASH", "CREATED");
        json_array_foreach(list, i, x) {
            const char *n = jstr(x, "name");
            print_safe(stdout, n);
            printf("%*s %-8s %-8s %.16s.. ", (int)(strlen(n) < 24 ? 24 - strlen(n) : 0), "",
                   jstr(x, "alg"), jstr(x, "status"), jstr(x, "key_hash"));
            print_safe(stdout, jstr(x, "created_at"));
            putchar('\n');
        }
    }
    json_decref(ans);
    return ret;
}

static int key_set(char **pos, const char *action)
{
    const char *acc;
    json_t *ans = NULL;
    char suffix[128];
    int ret;
    if ((ret = need_account(&acc)) || (ret = check_name("key name", pos[0], KEY_NAME_MAX)) ||
        (ret = remote_open()))
        return ret;
    snprintf(suffix, sizeof suffix, "/firmware-keys/%s/%s", pos[0], action);
    if (!(ret = remote_call("POST", remote_apath(acc, suffix), NULL, NULL, &ans))) {
        if (R.json)
            print_json(ans);
        else
            key_show(ans);
    }
    json_decref(ans);
    return ret;
}

static int key_retire(char **pos, int npos)
{
    return key_set(pos, "retire");
}

static int key_activate(char **pos, int npos)
{
    return key_set(pos, "activate");
}

#define KSYN "    vouch fw key [group options] "

static const remote_cmd key_cmds[] = {
    {"add", key_add,
     OPTS(ACC_OPT, {"name", "NAME", NULL, 0}, {"pubkey", "FILE", NULL, 0}), NULL, 0,
     {"fw key add", "add a firmware signing key (its public half) to an account",
      KSYN "add --account NAME --name KEYNAME --pubkey FILE [--json]",
      "DESCRIPTION\n"
      "    Adds the public key in FILE (PEM, as 'openssl pkey -pubout' writes\n"
      "    it; ECDSA P-256 or Ed25519) to the account's firmware keys (POST\n"
      "    /v1/accounts/<name>/firmware-keys). Releases uploaded to the\n"
      "    account must be signed by one of its active keys. The answer gives\n"
      "    the key hash that images signed with it carry (MCUboot's KEYHASH\n"
      "    TLV). Refused: the name or the key is there already (409\n"
      "    key_exists), not a public key (400 bad_public_key), another key\n"
      "    type (422 unsupported_key). A file holding a private key is\n"
      "    refused here (status 5): only the public half is sent. Audited.\n\n"
      "OPTIONS\n"
      "    --account NAME   the account\n"
      "    --name KEYNAME   1 to 64 of A-Z a-z 0-9 . _ -\n"
      "    --pubkey FILE    the public key, PEM\n",
      "    vouch fw key add --account acme --name release-2026 --pubkey K.pub.pem\n", 0}},
    {"list", key_list, OPTS(ACC_OPT), NULL, 0,
     {"fw key list", "list an account's firmware keys", KSYN "list --account NAME [--json]",
      "DESCRIPTION\n"
      "    Lists the account's firmware keys: name, algorithm (p256 or\n"
      "    ed25519), status (active or retired), key hash. --json prints\n"
      "    {\"keys\":[{name, alg, key_hash, status, created_at}]}.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch fw key list --account acme\n", 0}},
    {"retire", key_retire, OPTS(ACC_OPT), "KEYNAME", 0,
     {"fw key retire", "stop accepting uploads signed by a key",
      KSYN "retire --account NAME KEYNAME [--json]",
      "DESCRIPTION\n"
      "    Retires the key: uploads signed by it are refused (422\n"
      "    key_retired); its releases stay. 'vouch fw key activate' undoes\n"
      "    it. Audited.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch fw key retire --account acme release-2025\n", 0}},
    {"activate", key_activate, OPTS(ACC_OPT), "KEYNAME", 0,
     {"fw key activate", "accept uploads signed by a retired key again",
      KSYN "activate --account NAME KEYNAME [--json]",
      "DESCRIPTION\n    Makes a retired key active again. Audited.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch fw key activate --account acme release-2025\n", 0}},
};

static const remote_group key_group = {
    "fw key", "firmware signing keys of cloud accounts on vouchd",
    "    The public keys whose signatures an account's firmware uploads must\n"
    "    carry (docs/api.md, \"Firmware\"). 'vouch fw keygen' makes a key\n"
    "    pair and 'vouch fw sign' signs images with it.\n",
    "    vouch fw key --server http://127.0.0.1:8443 add --account acme --name k1 --pubkey "
    "k1.pub.pem\n",
    key_cmds, sizeof key_cmds / sizeof key_cmds[0]};

int cmd_fw_key_main(int argc, char **argv)
{
    return remote_run_group(&key_group, argc, argv);
}

/* ---- vouch fw release ----------------------------------------------------------------- */

static void release_show(json_t *r)
{
    printf("release %lld: version ", jint(r, "id"));
    print_safe(stdout, jstr(r, "version"));
    putchar('\n');
    printf("  %-18s %lld\n", "security counter", jint(r, "security_counter"));
    printf("  %-18s %lld bytes\n", "size", jint(r, "size"));
    field("sha256", jstr(r, "sha256"));
    field("signed by", jstr(r, "key"));
    field("key hash", jstr(r, "key_hash"));
    if (*jstr(r, "vendor_id"))
        field("vendor id", jstr(r, "vendor_id"));
    if (*jstr(r, "class_id"))
        field("class id", jstr(r, "class_id"));
    field("uploaded", jstr(r, "created_at"));
}

/* An API refusal of the upload, as remote_json reports them. */
static int upload_refused(const vouch_http_response *rsp)
{
    json_t *j = rsp->len ? json_loadb(rsp->body, rsp->len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    int st = rsp->status, ret = (st >= 400 && st < 500) || st == 501 ? CLI_REFUSED : CLI_COMM;
    fprintf(stderr, "vouch: %s: ", R.cmd);
    if (code && msg) {
        print_safe(stderr, msg);
        fprintf(stderr, " (HTTP %d ", st);
        print_safe(stderr, code);
        fputs(")\n", stderr);
        if (strcmp(code, "unknown_key") == 0)
            fprintf(stderr, "vouch: hint: add the signing key's public half with 'vouch fw key "
                            "add', or sign with one of 'vouch fw key list'\n");
    } else {
        fprintf(stderr, "the server answered HTTP %d without an API error body\n", st);
    }
    json_decref(j);
    return ret;
}

static int rel_upload(char **pos, int npos)
{
    const char *acc;
    uint8_t *img = NULL;
    size_t len = 0;
    char *path = NULL, err[512] = "";
    int ret;
    if ((ret = need_account(&acc)))
        return ret;
    if ((ret = cli_read_file(pos[0], IMAGE_MAX, &img, &len)))
        return ret;
    if (len == 0) {
        free(img);
        return cli_err(CLI_FILE, "%s is empty", pos[0]);
    }
    if ((ret = remote_open()) || !(path = remote_apath(acc, "/releases"))) {
        free(img);
        return ret ? ret : cli_err(CLI_FILE, "out of memory");
    }
    static const vouch_http_header hdr[] = {{"Content-Type", "application/octet-stream"},
                                            {"Accept", "application/json"},
                                            {NULL, NULL}};
    vouch_http_response rsp;
    vouch_http_rc hrc = vouch_http_request(R.http, "POST", path, hdr, img, len, &rsp, err,
                                           sizeof err);
    free(path);
    free(img);
    if (hrc != VOUCH_HTTP_OK)
        return cli_err(hrc == VOUCH_HTTP_E_NOMEM ? CLI_FILE : CLI_COMM, "%s: %s", R.cmd, err);
    json_t *ans = NULL;
    if (rsp.status < 200 || rsp.status > 299) {
        ret = upload_refused(&rsp);
    } else {
        ans = json_loadb(rsp.body, rsp.len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(ans) || !json_is_integer(json_object_get(ans, "id")))
            ret = bad_answer("the upload", "not the release object");
        else if (R.json)
            print_json(ans);
        else
            release_show(ans);
    }
    json_decref(ans);
    vouch_http_response_clear(&rsp);
    return ret;
}

static int rel_list(char **pos, int npos)
{
    const char *acc;
    json_t *ans = NULL, *x;
    size_t i;
    int ret;
    if ((ret = need_account(&acc)) || (ret = remote_open()) ||
        (ret = remote_call("GET", remote_apath(acc, "/releases"), NULL, "list the releases", &ans)))
        return ret;
    json_t *list = json_object_get(ans, "releases");
    if (!json_is_array(list)) {
        ret = bad_answer(NULL, "no releases array");
    } else if (R.json) {
        print_json(ans);
    } else {
        if (json_array_size(list))
            printf("%-6s %-16s %-8s %-10s %-20s %s\n", "ID", "VERSION", "SECCNT", "SIZE", "KEY",
                   "UPLOADED");
        json_array_foreach(list, i, x) {
            printf("%-6lld ", jint(x, "id"));
            const char *v = jstr(x, "version"), *k = jstr(x, "key");
            print_safe(stdout, v);
            printf("%*s %-8lld %-10lld ", (int)(strlen(v) < 16 ? 16 - strlen(v) : 0), "",
                   jint(x, "security_counter"), jint(x, "size"));
            print_safe(stdout, *k ? k : "-");
            printf("%*s ", (int)(strlen(*k ? k : "-") < 20 ? 20 - strlen(*k ? k : "-") : 0), "");
            print_safe(stdout, jstr(x, "created_at"));
            putchar('\n');
        }
    }
    json_decref(ans);
    return ret;
}

static int rel_get(char **pos, int npos)
{
    const char *acc;
    json_t *ans = NULL;
    long long id = 0;
    char suffix[48];
    int ret;
    if ((ret = need_account(&acc)) || (ret = need_id("release id", pos[0], &id)) ||
        (ret = remote_open()))
        return ret;
    snprintf(suffix, sizeof suffix, "/releases/%lld", id);
    if (!(ret = remote_call("GET", remote_apath(acc, suffix), NULL, "read the release", &ans))) {
        if (R.json)
            print_json(ans);
        else
            release_show(ans);
    }
    json_decref(ans);
    return ret;
}

#define RSYN "    vouch fw release [group options] "

static const remote_cmd rel_cmds[] = {
    {"upload", rel_upload, OPTS(ACC_OPT), "IMAGE", 0,
     {"fw release upload", "upload a signed firmware image as a release",
      RSYN "upload IMAGE --account NAME [--json]",
      "DESCRIPTION\n"
      "    Uploads IMAGE, an MCUboot-format image signed by 'vouch fw sign'\n"
      "    (at most 32 MiB), as a release of the account (POST\n"
      "    /v1/accounts/<name>/releases, the image as the body). The server\n"
      "    verifies it as a device would before it keeps it: it must parse,\n"
      "    its hash must match, and it must be signed by one of the\n"
      "    account's active firmware keys. It prints the release: id,\n"
      "    version, security counter, size, SHA-256, signing key. Refused:\n"
      "    not an image or malformed (400 image_invalid), signed by a key the\n"
      "    account does not have (422 unknown_key) or a retired one (422\n"
      "    key_retired), a signature or hash that does not verify (422\n"
      "    bad_signature), an image the account has already (409\n"
      "    duplicate). Audited.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch fw release upload app.img --account acme\n", 0}},
    {"list", rel_list, OPTS(ACC_OPT), NULL, 0,
     {"fw release list", "list an account's releases", RSYN "list --account NAME [--json]",
      "DESCRIPTION\n"
      "    Lists the account's releases, oldest first. --json prints\n"
      "    {\"releases\":[{id, version, security_counter, size, sha256, key,\n"
      "    key_hash, created_at, vendor_id?, class_id?}]}.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch fw release list --account acme\n", 0}},
    {"get", rel_get, OPTS(ACC_OPT), "ID", 0,
     {"fw release get", "show one release", RSYN "get ID --account NAME [--json]",
      "DESCRIPTION\n    Shows release ID of the account.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch fw release get 3 --account acme\n", 0}},
};

static const remote_group rel_group = {
    "fw release", "firmware releases of cloud accounts on vouchd",
    "    Signed firmware images kept by vouchd, verified when uploaded\n"
    "    (docs/api.md, \"Firmware\"). Campaigns offer them to devices.\n",
    "    vouch fw release --server http://127.0.0.1:8443 upload app.img --account acme\n",
    rel_cmds, sizeof rel_cmds / sizeof rel_cmds[0]};

int cmd_fw_release_main(int argc, char **argv)
{
    return remote_run_group(&rel_group, argc, argv);
}

/* ---- vouch fw campaign ---------------------------------------------------------------- */

static int device_id_ok(const char *s, size_t n)
{
    if (n < 1 || n > DEVICE_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || strchr("._-:@+", s[i])))
            return 0;
    return 1;
}

/* "a,b,c" as a JSON array of device ids; NULL with the usage error printed. */
static json_t *device_list(const char *s, int *ret)
{
    json_t *arr = json_array();
    const char *p = s;
    *ret = CLI_OK;
    while (arr) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (!device_id_ok(p, n)) {
            *ret = cli_usage(R.cmd, "--devices: '%.*s' is not a device id (1 to %d of A-Z a-z "
                                    "0-9 . _ - : @ +, separated by commas)",
                             (int)(n > 80 ? 80 : n), p, DEVICE_ID_MAX);
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, json_stringn(p, n));
        if (!c)
            return arr;
        p = c + 1;
    }
    *ret = cli_err(CLI_FILE, "out of memory");
    return NULL;
}

/* The target as the API writes it, in words. */
static void target_words(json_t *t)
{
    json_t *v;
    if (json_is_true(json_object_get(t, "all"))) {
        printf("all devices");
    } else if ((v = json_object_get(t, "family")) != NULL) {
        printf("family %lld", (long long)json_integer_value(v));
    } else if (json_is_array(v = json_object_get(t, "devices"))) {
        size_t i, n = json_array_size(v);
        json_t *d;
        printf("%zu device%s (", n, n == 1 ? "" : "s");
        json_array_foreach(v, i, d) {
            if (i == 3) {
                printf(", ...");
                break;
            }
            printf("%s", i ? ", " : "");
            print_safe(stdout, json_string_value(d) ? json_string_value(d) : "?");
        }
        putchar(')');
    } else {
        printf("?");
    }
}

static void campaign_show(json_t *c)
{
    printf("campaign %lld: release %lld (version ", jint(c, "id"), jint(c, "release"));
    print_safe(stdout, jstr(c, "version"));
    printf(") to ");
    target_words(json_object_get(c, "target"));
    printf(", %s\n", jstr(c, "status"));
    json_t *counts = json_object_get(c, "counts"), *devs = json_object_get(c, "devices"), *d;
    if (json_is_object(counts)) {
        printf("  %lld devices targeted:", jint(c, "targeted"));
        for (size_t i = 0; i < sizeof state_words / sizeof state_words[0]; i++)
            printf(" %s %lld", state_words[i], jint(counts, state_words[i]));
        putchar('\n');
    }
    size_t i;
    if (json_array_size(devs))
        printf("  %-26s %-12s %-16s %-21s %s\n", "DEVICE", "STATE", "RUNS", "UPDATED", "DETAIL");
    json_array_foreach(devs, i, d) {
        const char *id = jstr(d, "device"), *ver = jstr(d, "version"), *up = jstr(d, "updated");
        printf("  ");
        print_safe(stdout, id);
        printf("%*s %-12s ", (int)(strlen(id) < 26 ? 26 - strlen(id) : 0), "", jstr(d, "state"));
        print_safe(stdout, *ver ? ver : "-");
        printf("%*s ", (int)(strlen(*ver ? ver : "-") < 16 ? 16 - strlen(*ver ? ver : "-") : 0),
               "");
        print_safe(stdout, *up ? up : "-");
        printf("%*s ", (int)(strlen(*up ? up : "-") < 21 ? 21 - strlen(*up ? up : "-") : 0), "");
        print_safe(stdout, jstr(d, "detail"));
        putchar('\n');
    }
}

static int camp_create(char **pos, int npos)
{
    const char *acc, *rel, *fam = ropt("family"), *devs = ropt("devices");
    int all = ropt("all") != NULL, paused = ropt("paused") != NULL, ret;
    long long rid = 0;
    json_t *target = NULL, *ans = NULL;
    if ((ret = need_account(&acc)) || (ret = rneed("release", &rel)) ||
        (ret = need_id("release id", rel, &rid)))
        return ret;
    if (all + (fam != NULL) + (devs != NULL) != 1)
        return cli_usage(R.cmd, "give one target: --all, --family ID|CN or --devices ID,ID,...");
    if (all) {
        target = json_pack("{s:b}", "all", 1);
    } else if (fam) {
        if (!*fam || strlen(fam) > 256)
            return cli_usage(R.cmd, "--family: a family id or its CA's subject CN");
        size_t fl = strlen(fam);
        if (strspn(fam, "0123456789") == fl && fl <= 15 && fam[0] != '0')
            target = json_pack("{s:I}", "family", (json_int_t)strtoll(fam, NULL, 10));
        else
            target = json_pack("{s:s}", "family", fam);
        if (!target)
            return cli_usage(R.cmd, "--family: not UTF-8 text");
    } else {
        json_t *arr = device_list(devs, &ret);
        if (!arr)
            return ret;
        target = json_pack("{s:o}", "devices", arr);
    }
    if (!target)
        return cli_err(CLI_FILE, "out of memory");
    json_t *body = json_pack("{s:I,s:o,s:s}", "release", (json_int_t)rid, "target", target,
                             "status", paused ? "paused" : "active");
    if (!body)
        return cli_err(CLI_FILE, "out of memory");
    if ((ret = remote_open())) {
        json_decref(body);
        return ret;
    }
    if (!(ret = remote_call("POST", remote_apath(acc, "/campaigns"), body, "create the campaign", &ans))) {
        if (R.json)
            print_json(ans);
        else
            campaign_show(ans);
    }
    json_decref(ans);
    return ret;
}

static int camp_list(char **pos, int npos)
{
    const char *acc;
    json_t *ans = NULL, *x;
    size_t i;
    int ret;
    if ((ret = need_account(&acc)) || (ret = remote_open()) ||
        (ret = remote_call("GET", remote_apath(acc, "/campaigns"), NULL, "list the campaigns", &ans)))
        return ret;
    json_t *list = json_object_get(ans, "campaigns");
    if (!json_is_array(list)) {
        ret = bad_answer(NULL, "no campaigns array");
    } else if (R.json) {
        print_json(ans);
    } else {
        if (json_array_size(list))
            printf("%-6s %-8s %-16s %-9s %s\n", "ID", "RELEASE", "VERSION", "STATUS", "TARGET");
        json_array_foreach(list, i, x) {
            const char *v = jstr(x, "version");
            printf("%-6lld %-8lld ", jint(x, "id"), jint(x, "release"));
            print_safe(stdout, v);
            printf("%*s %-9s ", (int)(strlen(v) < 16 ? 16 - strlen(v) : 0), "",
                   jstr(x, "status"));
            target_words(json_object_get(x, "target"));
            putchar('\n');
        }
    }
    json_decref(ans);
    return ret;
}

/* GET the campaign, or POST one of its actions; show it. */
static int camp_call(char **pos, const char *action)
{
    const char *acc;
    json_t *ans = NULL;
    long long id = 0;
    char suffix[64];
    int ret;
    if ((ret = need_account(&acc)) || (ret = need_id("campaign id", pos[0], &id)) ||
        (ret = remote_open()))
        return ret;
    snprintf(suffix, sizeof suffix, "/campaigns/%lld%s%s", id, action ? "/" : "",
             action ? action : "");
    if (!(ret = remote_call(action ? "POST" : "GET", remote_apath(acc, suffix), NULL, NULL, &ans))) {
        if (R.json)
            print_json(ans);
        else
            campaign_show(ans);
    }
    json_decref(ans);
    return ret;
}

static int camp_status(char **pos, int npos)
{
    return camp_call(pos, NULL);
}

static int camp_pause(char **pos, int npos)
{
    return camp_call(pos, "pause");
}

static int camp_resume(char **pos, int npos)
{
    return camp_call(pos, "resume");
}

static int camp_finish(char **pos, int npos)
{
    return camp_call(pos, "finish");
}

#define CSYN "    vouch fw campaign [group options] "

static const remote_cmd camp_cmds[] = {
    {"create", camp_create,
     OPTS(ACC_OPT, {"release", "ID", NULL, 0}, {"all", NULL, NULL, 0},
          {"family", "ID|CN", NULL, 0}, {"devices", "ID,...", NULL, 0},
          {"paused", NULL, NULL, 0}),
     NULL, 0,
     {"fw campaign create", "offer a release to devices",
      CSYN "create --account NAME --release ID\n"
           "          (--all | --family ID|CN | --devices ID,...) [--paused] [--json]",
      "DESCRIPTION\n"
      "    Creates a campaign (POST /v1/accounts/<name>/campaigns) offering\n"
      "    release ID to the account's devices: all of them, those of one\n"
      "    family (its id, or the subject CN of its CA certificate when one\n"
      "    family of the account has it), or the devices listed. A device\n"
      "    asking for updates gets the newest active campaign that targets\n"
      "    it, unless it runs that version already, the release's security\n"
      "    counter is below its own, or it has finished with the campaign\n"
      "    (confirmed, rejected, reverted). Refused: no such release,\n"
      "    family or device in the account (404 unknown_release,\n"
      "    unknown_family, unknown_device). Audited.\n\n"
      "OPTIONS\n"
      "    --account NAME       the account\n"
      "    --release ID         the release to offer\n"
      "    --all                every device of the account\n"
      "    --family ID|CN       the devices of one family\n"
      "    --devices ID,...     these devices (at most 10000)\n"
      "    --paused             create it paused ('vouch fw campaign resume' starts it)\n",
      "    vouch fw campaign create --account acme --release 3 --family meters\n", 0}},
    {"list", camp_list, OPTS(ACC_OPT), NULL, 0,
     {"fw campaign list", "list an account's campaigns", CSYN "list --account NAME [--json]",
      "DESCRIPTION\n"
      "    Lists the account's campaigns: id, release, version, status\n"
      "    (active, paused, finished), target. --json prints\n"
      "    {\"campaigns\":[{id, release, version, target, status,\n"
      "    created_at, updated_at}]}.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch fw campaign list --account acme\n", 0}},
    {"status", camp_status, OPTS(ACC_OPT), "ID", 0,
     {"fw campaign status", "show a campaign's progress, device by device",
      CSYN "status ID --account NAME [--json]",
      "DESCRIPTION\n"
      "    Shows campaign ID: the devices it targets, how many are in each\n"
      "    state (pending: nothing reported yet; downloading, installed,\n"
      "    testing, confirmed, reverted, rejected, failed: as the devices\n"
      "    last reported), and the devices that reported (for a list\n"
      "    target, every listed device) with the version each says it runs.\n"
      "    --json prints {id, release, version, target, status, created_at,\n"
      "    updated_at, targeted, counts: {pending, downloading, installed,\n"
      "    testing, confirmed, reverted, rejected, failed}, devices:\n"
      "    [{device, state, detail, updated, version}]}.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch fw campaign status 1 --account acme --json\n", 0}},
    {"pause", camp_pause, OPTS(ACC_OPT), "ID", 0,
     {"fw campaign pause", "stop offering a campaign for now",
      CSYN "pause ID --account NAME [--json]",
      "DESCRIPTION\n"
      "    Pauses campaign ID: devices are not offered it, nor allowed to\n"
      "    download its release through it, until it is resumed. Audited.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch fw campaign pause 1 --account acme\n", 0}},
    {"resume", camp_resume, OPTS(ACC_OPT), "ID", 0,
     {"fw campaign resume", "offer a paused campaign again",
      CSYN "resume ID --account NAME [--json]",
      "DESCRIPTION\n"
      "    Makes campaign ID active again. A finished campaign is not\n"
      "    resumed (409 campaign_finished). Audited.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch fw campaign resume 1 --account acme\n", 0}},
    {"finish", camp_finish, OPTS(ACC_OPT), "ID", 0,
     {"fw campaign finish", "end a campaign for good",
      CSYN "finish ID --account NAME [--json]",
      "DESCRIPTION\n"
      "    Finishes campaign ID: it is offered no more, and stays finished.\n"
      "    Its device states are kept. Audited.\n\n"
      "OPTIONS\n    --account NAME   the account\n",
      "    vouch fw campaign finish 1 --account acme\n", 0}},
};

static const remote_group camp_group = {
    "fw campaign", "firmware update campaigns of cloud accounts on vouchd",
    "    A campaign offers a release to all of an account's devices, one\n"
    "    family's, or a list of devices, and follows each device's\n"
    "    progress (docs/api.md, \"Firmware\").\n",
    "    vouch fw campaign --server http://127.0.0.1:8443 create --account acme --release 3 "
    "--all\n",
    camp_cmds, sizeof camp_cmds / sizeof camp_cmds[0]};

int cmd_fw_campaign_main(int argc, char **argv)
{
    return remote_run_group(&camp_group, argc, argv);
}
