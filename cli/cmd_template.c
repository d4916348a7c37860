/*
 * vouch template: the server's certificate templates (GET/PUT
 * /v1/templates[/<name>]). A template is the JSON rule set of docs/pki.md;
 * `get` prints it indented so that it can be edited and `put` back.
 */
#include "cli/remote.h"

#include <stdlib.h>
#include <string.h>

#define TEMPLATE_NAME_MAX 63
#define TEMPLATE_FILE_MAX (64u << 10) /* the server's request body limit */

static char *template_path(const char *name)
{
    char *e = vouch_http_encode(name), *p = NULL;
    if (e && (p = malloc(strlen(e) + sizeof "/v1/templates/")) != NULL)
        sprintf(p, "/v1/templates/%s", e);
    free(e);
    return p;
}

static int cmd_list(char **pos, int npos)
{
    json_t *ans = NULL, *x;
    size_t i;
    int ret;
    if ((ret = remote_open()) ||
        (ret = remote_json("GET", "/v1/templates", NULL, NULL, NULL, &ans)))
        return ret;
    json_t *list = json_object_get(ans, "templates");
    if (!json_is_array(list)) {
        ret = bad_answer(NULL, "no templates array");
        goto out;
    }
    if (R.json) {
        print_json(ans);
        goto out;
    }
    size_t w = strlen("NAME");
    json_array_foreach(list, i, x) {
        size_t l = strlen(jstr(x, "name"));
        if (l > w && l <= TEMPLATE_NAME_MAX)
            w = l;
    }
    if (json_array_size(list))
        printf("%-*s  %-10s  %-20s  %s\n", (int)w, "NAME", "DAYS", "CREATED", "UPDATED");
    json_array_foreach(list, i, x) {
        json_t *days = json_object_get(json_object_get(x, "template"), "validity_days");
        char d[24] = "-";
        if (json_is_integer(days))
            snprintf(d, sizeof d, "%lld", (long long)json_integer_value(days));
        const char *name = jstr(x, "name");
        print_safe(stdout, name);
        printf("%*s  %-10s  ", (int)(w > strlen(name) ? w - strlen(name) : 0), "", d);
        print_safe(stdout, jstr(x, "created_at"));
        printf("  ");
        print_safe(stdout, jstr(x, "updated_at"));
        putchar('\n');
    }
out:
    json_decref(ans);
    return ret;
}

static int cmd_get(char **pos, int npos)
{
    const char *out = ropt("out");
    char *path = NULL, *s = NULL;
    json_t *ans = NULL;
    int ret;
    if ((ret = check_name("template name", pos[0], TEMPLATE_NAME_MAX)))
        return ret;
    if (out && !*out)
        return cli_usage(R.cmd, "an empty file name");
    if ((ret = remote_open()))
        return ret;
    if (!(path = template_path(pos[0]))) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    if ((ret = remote_json("GET", path, NULL, NULL, NULL, &ans)))
        goto out;
    json_t *t = json_object_get(ans, "template");
    if (!json_is_object(t)) {
        ret = bad_answer(NULL, "no template object");
        goto out;
    }
    s = R.json ? json_dumps(ans, JSON_COMPACT) : json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    size_t l = strlen(s);
    char *nl = realloc(s, l + 2);
    if (!nl) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    s = nl;
    s[l] = '\n';
    ret = cli_write_file(out ? out : "-", s, l + 1, 0);
out:
    free(s);
    json_decref(ans);
    free(path);
    return ret;
}

static int cmd_put(char **pos, int npos)
{
    const char *in;
    uint8_t *buf = NULL;
    size_t len = 0;
    char *path = NULL;
    json_t *t = NULL, *ans = NULL;
    json_error_t je;
    int ret, status = 0;
    if ((ret = check_name("template name", pos[0], TEMPLATE_NAME_MAX)) ||
        (ret = rneed("in", &in)) || (ret = cli_read_file(in, TEMPLATE_FILE_MAX, &buf, &len)))
        return ret;
    t = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(t)) {
        ret = t ? cli_err(CLI_FILE, "%s: a template is a JSON object", in)
                : cli_err(CLI_FILE, "%s is not JSON: line %d: %s", in, je.line, je.text);
        goto out;
    }
    /* `vouch template get --json` output: take its template member */
    json_t *inner = json_object_get(t, "template");
    if (json_is_object(inner) && json_object_get(t, "created_at")) {
        json_incref(inner);
        json_decref(t);
        t = inner;
    }
    const char *nm = json_string_value(json_object_get(t, "name"));
    if (nm && strcmp(nm, pos[0]) != 0) {
        ret = cli_usage(R.cmd, "%s names template '%s', not '%s'", in, nm, pos[0]);
        goto out;
    }
    if ((ret = remote_open()))
        goto out;
    if (!(path = template_path(pos[0]))) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    if ((ret = remote_json("PUT", path, t, NULL, &status, &ans)))
        goto out;
    if (R.json) {
        if (ans)
            print_json(ans);
        else
            printf("{\"name\":\"%s\",\"created\":%s}\n", pos[0], status == 201 ? "true" : "false");
    } else {
        printf("template %s %s\n", pos[0], status == 201 ? "created" : "replaced");
    }
out:
    json_decref(t);
    json_decref(ans);
    free(path);
    free(buf);
    return ret;
}

#define OPTS(...) ((cli_opt[]){__VA_ARGS__, {NULL, NULL, NULL, 0}})
#define NO_OPTS ((cli_opt[]){{NULL, NULL, NULL, 0}})
#define SYN "    vouch template [group options] "

static const remote_cmd cmds[] = {
    {"list", cmd_list, NO_OPTS, NULL, 0,
     {"template list", "list the server's certificate templates", SYN "list [--json]",
      "DESCRIPTION\n"
      "    Lists the templates (GET /v1/templates), by name: name, validity in\n"
      "    days, when it was created and last replaced. --json prints the\n"
      "    server's answer: {\"templates\":[{name, template, effective,\n"
      "    created_at, updated_at}]}; effective is every rule as issuance\n"
      "    applies it.\n\n"
      "OPTIONS\n    None besides the group options.\n",
      "    vouch template list\n", 0}},
    {"get", cmd_get, OPTS({"out", "FILE", NULL, 0}), "NAME", 0,
     {"template get", "print a template's rules as JSON", SYN "get NAME [--out FILE] [--json]",
      "DESCRIPTION\n"
      "    Prints template NAME's rule set (docs/pki.md, \"Templates\") as\n"
      "    indented JSON, to stdout or --out FILE, ready to be edited and put\n"
      "    back with 'vouch template put'. --json prints the server's whole\n"
      "    record on one line: {name, template, effective, created_at,\n"
      "    updated_at}. An\n"
      "    unknown name is refused (404 unknown_template, status 3).\n\n"
      "OPTIONS\n"
      "    --out FILE   output file (mode 0644); - is stdout (the default)\n",
      "    vouch template get device --out device.json\n", 0}},
    {"put", cmd_put, OPTS({"in", "FILE", NULL, 0}), "NAME", 0,
     {"template put", "create or replace a template", SYN "put NAME --in FILE [--json]",
      "DESCRIPTION\n"
      "    Stores the rule set in FILE (a JSON object, at most 64 KiB) as\n"
      "    template NAME (PUT /v1/templates/<name>), creating or replacing it;\n"
      "    the server validates it strictly (400 naming the member, status 3)\n"
      "    and audits it. FILE is checked to be a JSON object first (local file\n"
      "    error 5 otherwise); the output of 'vouch template get', with or\n"
      "    without --json, is accepted. A \"name\" member must be NAME. Prints\n"
      "    \"template NAME created\" or \"replaced\". Certificates renewed later\n"
      "    follow the template as it is then.\n\n"
      "OPTIONS\n"
      "    --in FILE   the template JSON; - is stdin\n",
      "    vouch template get device --out device.json\n"
      "    (edit device.json: e.g. \"validity_days\": 730)\n"
      "    vouch template put device --in device.json\n", 0}},
};

static const remote_group template_group = {
    "template", "read and store certificate templates on vouchd",
    "    The templates a vouchd server issues under (docs/pki.md).\n",
    "    vouch template --server https://ca.example.com:8443 list\n", cmds,
    sizeof cmds / sizeof cmds[0]};

int cmd_template_main(int argc, char **argv)
{
    return remote_run_group(&template_group, argc, argv);
}
