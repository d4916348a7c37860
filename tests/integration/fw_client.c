/*
 * The device library's update calls (vouch/client.h) from the command
 * line, for fw_server.sh:
 *
 *   fw_client URL TOKENFILE check VERSION SECCNT
 *       prints "CAMPAIGN RELEASE VERSION SECCNT SIZE SHA256 URL"; exit 0, or
 *       10 when nothing is offered
 *   fw_client URL TOKENFILE get IMAGEURL OUT CHUNK [SHA256 [STOPAFTER]]
 *       downloads into OUT with ranges of CHUNK bytes, going on from OUT's
 *       size (a resumed download); stops after STOPAFTER bytes when given
 *       (an interrupted one); prints "got N of TOTAL"
 *   fw_client URL TOKENFILE report CAMPAIGN STATE [DETAIL]
 *
 * Exit statuses: 0 success, 2 usage, 3 refused (prints the code), 4
 * communication or a bad answer, 5 local file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vouch/client.h>

static int finish(vouch_client_rc rc, const vouch_client_status *st)
{
    if (rc == VOUCH_CLIENT_OK)
        return 0;
    fprintf(stderr, "fw_client: %s%s%s (HTTP %d)\n", st->error_code, *st->error_code ? ": " : "",
            st->message, st->http_status);
    return rc == VOUCH_CLIENT_E_REFUSED ? 3 : rc == VOUCH_CLIENT_E_ARG ? 2 : 4;
}

static int unhex(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: fw_client URL TOKENFILE check|get|report ...\n");
        return 2;
    }
    char token[200] = "";
    FILE *tf = fopen(argv[2], "r");
    if (!tf || !fgets(token, sizeof token, tf)) {
        fprintf(stderr, "fw_client: cannot read %s\n", argv[2]);
        return 5;
    }
    fclose(tf);
    token[strcspn(token, "\r\n")] = 0;
    vouch_device_session s = {.server_url = argv[1], .token = token, .timeout_s = 30};
    vouch_client_status st;
    memset(&st, 0, sizeof st);
    const char *cmd = argv[3];
    if (strcmp(cmd, "check") == 0 && argc == 6) {
        vouch_update_offer o;
        vouch_client_rc rc = vouch_device_update_check(&s, argv[4],
                                                       (uint32_t)strtoul(argv[5], NULL, 10), &o,
                                                       &st);
        if (rc != VOUCH_CLIENT_OK)
            return finish(rc, &st);
        if (!o.available) {
            printf("none\n");
            fprintf(stderr, "fw_client: nothing offered\n");
            return 10;
        }
        printf("%" PRId64 " %" PRId64 " %s %" PRIu32 " %" PRIu64 " ", o.campaign, o.release,
               o.version, o.security_counter, o.size);
        for (int i = 0; i < 32; i++)
            printf("%02x", o.sha256[i]);
        printf(" %s\n", o.url);
        return 0;
    }
    if (strcmp(cmd, "get") == 0 && argc >= 7 && argc <= 9) {
        size_t chunk = (size_t)strtoul(argv[6], NULL, 10);
        uint8_t sha[32], *buf = chunk ? malloc(chunk) : NULL;
        uint64_t stop = argc == 9 ? strtoull(argv[8], NULL, 10) : UINT64_MAX;
        if (!buf || (argc >= 8 && unhex(argv[7], sha) != 0)) {
            fprintf(stderr, "fw_client: bad chunk size or SHA-256\n");
            return 2;
        }
        FILE *f = fopen(argv[5], "ab");
        if (!f) {
            fprintf(stderr, "fw_client: cannot open %s\n", argv[5]);
            return 5;
        }
        uint64_t off = (uint64_t)ftell(f), total = 0, done = 0;
        int ret = 0;
        for (;;) {
            size_t got = 0;
            vouch_client_rc rc = vouch_device_image_get_range(&s, argv[4], off, buf, chunk,
                                                              argc >= 8 ? sha : NULL, &got,
                                                              &total, &st);
            if (rc != VOUCH_CLIENT_OK) {
                ret = finish(rc, &st);
                break;
            }
            if (got == 0)
                break;
            if (fwrite(buf, 1, got, f) != got) {
                ret = 5;
                break;
            }
            off += got;
            done += got;
            if (off == total || done >= stop)
                break;
        }
        if (fclose(f) != 0 && !ret)
            ret = 5;
        free(buf);
        if (!ret)
            printf("got %" PRIu64 " of %" PRIu64 "\n", off, total);
        return ret;
    }
    if (strcmp(cmd, "report") == 0 && (argc == 6 || argc == 7))
        return finish(vouch_device_update_report(&s, strtoll(argv[4], NULL, 10), argv[5],
                                                 argc == 7 ? argv[6] : NULL, &st),
                      &st);
    fprintf(stderr, "fw_client: bad arguments\n");
    return 2;
}
