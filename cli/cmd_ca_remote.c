/*
 * `vouch ca list` against a server (GET /v1/issuers), and the routing of
 * `vouch ca ...` between it and the offline commands of cmd_ca.c: `list`
 * goes to the server when --server is given, or when $VOUCH_SERVER is set
 * and --data is not; everything else stays offline.
 */
#include "cli/remote.h"

#include <stdlib.h>
#include <string.h>

/* sha256 "f82c..." as "F8:2C:...", as openssl x509 -fingerprint prints it. */
static void fp_colon(const char *hex, char *out, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; hex[i] && hex[i + 1] && o + 4 < n; i += 2) {
        if (i)
            out[o++] = ':';
        for (int k = 0; k < 2; k++) {
            char c = hex[i + (size_t)k];
            out[o++] = c >= 'a' && c <= 'f' ? (char)(c - 'a' + 'A') : c;
        }
    }
    out[o] = '\0';
}

static void field(const char *label, const char *v)
{
    printf("  %-10s ", label);
    print_safe(stdout, v);
    putchar('\n');
}

static int cmd_list(char **pos, int npos)
{
    json_t *ans = NULL, *x;
    size_t i;
    int ret;
    if ((ret = remote_open()) || (ret = remote_json("GET", "/v1/issuers", NULL, NULL, NULL, &ans)))
        return ret;
    json_t *list = json_object_get(ans, "issuers");
    if (!json_is_array(list)) {
        ret = bad_answer(NULL, "no issuers array");
        goto out;
    }
    if (R.json) {
        print_json(ans);
        goto out;
    }
    json_array_foreach(list, i, x) {
        char fpc[200];
        const char *parent = jstr(x, "parent");
        printf("%s", i ? "\n" : "");
        print_safe(stdout, jstr(x, "name"));
        printf(" (");
        print_safe(stdout, jstr(x, "kind"));
        if (*parent) {
            printf(", signed by ");
            print_safe(stdout, parent);
        }
        printf(")\n");
        field("subject", jstr(x, "subject"));
        field("not after", jstr(x, "not_after"));
        field("serial", jstr(x, "serial"));
        fp_colon(jstr(x, "sha256"), fpc, sizeof fpc);
        field("SHA-256", fpc);
        field("key", jstr(x, "key_storage"));
    }
out:
    json_decref(ans);
    return ret;
}

#define NO_OPTS ((cli_opt[]){{NULL, NULL, NULL, 0}})

static const remote_cmd cmds[] = {
    {"list", cmd_list, NO_OPTS, NULL, 0,
     {"ca list", "list the server's issuers",
      "    vouch ca [--server URL] [--token-file FILE] [--cacert FILE] list [--json]\n"
      "    vouch ca --data DIR list [--json]                      (offline)",
      "DESCRIPTION\n"
      "    With a server (--server URL, or $VOUCH_SERVER when --data is not\n"
      "    given) lists the server's issuers (GET /v1/issuers) as the offline\n"
      "    'vouch ca list --data DIR' lists a data directory's: for each, name,\n"
      "    kind (root, issuing, family), the issuer that signed it, subject\n"
      "    (RFC 4514), not after (UTC), serial (hex as 'openssl x509 -serial'\n"
      "    prints it), SHA-256 fingerprint and where its key is (database or\n"
      "    external). --json prints the server's answer: {\"issuers\":[{name,\n"
      "    kind, parent, subject, not_before, not_after, serial, sha256,\n"
      "    key_storage, certificate_pem}]}.\n\n"
      "    Without a server, --data DIR reads the data directory instead\n"
      "    (offline, see 'vouch ca --help'); --data and --server together are\n"
      "    a usage error.\n\n"
      "OPTIONS\n    None besides the group options.\n",
      "    vouch ca --server https://ca.example.com:8443 --token-file token list\n", 0}},
};

static const remote_group ca_group = {
    "ca", "the certificate authority's issuers, from vouchd",
    "    'vouch ca list' with a server. The other 'vouch ca' commands work on a\n"
    "    data directory, offline ('vouch ca --help' without a server).\n",
    "    vouch ca --server https://ca.example.com:8443 list --json\n", cmds,
    sizeof cmds / sizeof cmds[0]};

/* Which option names before the command take a value (offline --data, and
 * the server options), so that the command word can be found. */
static int takes_value(const char *name, size_t n)
{
    static const char *const v[] = {"data", "server", "token-file", "cacert", "timeout"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (strlen(v[i]) == n && strncmp(name, v[i], n) == 0)
            return 1;
    return 0;
}

static int is_opt(const char *a, const char *name)
{
    size_t n = strlen(name);
    return strncmp(a, "--", 2) == 0 && strncmp(a + 2, name, n) == 0 &&
           (a[2 + n] == '\0' || a[2 + n] == '=');
}

int cmd_ca_route(int argc, char **argv)
{
    int has_server = 0, has_data = 0;
    const char *cmd = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (a[0] == '-' && a[1] == '-') {
            has_server |= is_opt(a, "server");
            has_data |= is_opt(a, "data");
            size_t nl = strcspn(a + 2, "=");
            if (!cmd && a[2 + nl] != '=' && takes_value(a + 2, nl))
                i++;
            continue;
        }
        if (!cmd && a[0] != '-')
            cmd = a;
    }
    if (!cmd || strcmp(cmd, "list") != 0)
        return cmd_ca_main(argc, argv);
    const char *env = getenv("VOUCH_SERVER");
    if (has_server && has_data)
        return cli_usage("ca list", "give --data DIR (the data directory, offline) or "
                                    "--server URL, not both");
    if (has_server || (env && *env && !has_data))
        return remote_run_group(&ca_group, argc, argv);
    return cmd_ca_main(argc, argv);
}
