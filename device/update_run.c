/*
 * vouch-device run: the device's main loop (docs/firmware.md, "The update
 * loop"). Power on (the boot logic), run the application's self-test when a
 * test image starts, confirm it or leave it to be reverted, authenticate to
 * vouchd with the SE's key, ask for an update, download it into the
 * secondary slot with HTTP range requests (resuming where a power cut left
 * it), verify it, stage it, reboot.
 *
 * What survives a power cut: the flash (the boot log knows the download's
 * progress and the test state) and a small file next to it naming the
 * campaign the update belongs to, so that progress after the reboot
 * (confirmed, reverted) is reported to the right campaign.
 */
#include "device/update_run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vouch/client.h>

#define DL_CHUNK (16u * 1024) /* per range request */
#define SELFTEST_TIMEOUT_S 30

typedef struct upd_state {
    int64_t campaign, release;
    char version[32];
} upd_state;

static char last_msg[512];

/* Progress on stdout; the last line is kept to repeat on stderr when the
 * run ends in failure. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    printf("run: %s\n", last_msg);
    fflush(stdout);
}

/* ---- the campaign file: "campaign release version\n", written atomically ---- */
static int state_load(const char *path, upd_state *u)
{
    FILE *f = fopen(path, "r");
    long long c, r;
    char v[32];
    memset(u, 0, sizeof *u);
    if (!f)
        return 0;
    if (fscanf(f, "%lld %lld %31s", &c, &r, v) == 3 && c > 0 && r > 0) {
        u->campaign = c;
        u->release = r;
        snprintf(u->version, sizeof u->version, "%s", v);
    }
    fclose(f);
    return u->campaign > 0;
}

static int state_save(const char *path, const upd_state *u)
{
    char tmp[4096];
    FILE *f;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%lld %lld %s\n", (long long)u->campaign, (long long)u->release, u->version);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return -1;
    }
    fclose(f);
    return rename(tmp, path);
}

static void state_clear(const char *path) { (void)unlink(path); }

/*
 * The self-test: an application payload that is a script ("#!") is run
 * with the argument "self-test" (exit 0: healthy). Anything else is an
 * application this simulator cannot start, which passes. The script runs
 * from a private copy, after the image verified.
 */
static int self_test(vouch_fw_boot *b, const vouch_fw_result *r, const char *work, char *why,
                     size_t why_size)
{
    const vouch_fw_image *img = &r->img;
    const vouch_fw_flash *fl = b->cfg.flash;
    uint32_t base = b->cfg.layout.primary + img->hdr_size, off = 0;
    uint8_t buf[4096];
    char path[4096], ver[32];
    int fd, status = 0;
    pid_t pid;

    if (img->img_size < 2 || fl->read(fl->ctx, base, buf, 2) != 0 || buf[0] != '#' ||
        buf[1] != '!') {
        snprintf(why, why_size, "no self-test in this application");
        return 0;
    }
    snprintf(path, sizeof path, "%s/.vouch-selftest.XXXXXX", work);
    fd = mkstemp(path);
    if (fd < 0) {
        snprintf(why, why_size, "cannot write the self-test: %s", strerror(errno));
        return -1;
    }
    while (off < img->img_size) {
        uint32_t n = img->img_size - off < sizeof buf ? img->img_size - off : sizeof buf;
        if (fl->read(fl->ctx, base + off, buf, n) != 0 || write(fd, buf, n) != (ssize_t)n) {
            close(fd);
            unlink(path);
            snprintf(why, why_size, "cannot copy the application");
            return -1;
        }
        off += n;
    }
    fchmod(fd, 0700);
    close(fd);
    vouch_fw_version_str(&img->version, ver, sizeof ver);
    pid = fork();
    if (pid == 0) {
        setenv("VOUCH_FW_VERSION", ver, 1);
        alarm(SELFTEST_TIMEOUT_S);
        execl(path, path, "self-test", (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        unlink(path);
        snprintf(why, why_size, "cannot run the self-test");
        return -1;
    }
    unlink(path);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        snprintf(why, why_size, "self-test passed");
        return 0;
    }
    if (WIFEXITED(status))
        snprintf(why, why_size, "self-test failed (exit %d)", WEXITSTATUS(status));
    else
        snprintf(why, why_size, "self-test killed by signal %d", WTERMSIG(status));
    return -1;
}

/* ---- the cloud session ------------------------------------------------------------ */
typedef struct cloud {
    const vdev_run_opts *o;
    vouch_se *se;
    unsigned se_flags;
    uint8_t zone0[4096];
    vouch_device_auth_result auth;
    vouch_device_session s;
    time_t authed_at;
} cloud;

static int cloud_auth(cloud *c)
{
    vouch_device_auth_opts ao;
    char why[200];
    if (c->authed_at && time(NULL) - c->authed_at < 300)
        return 0;
    memset(&ao, 0, sizeof ao);
    if (vouch_device_chain_from_zone(c->se, 0, c->se_flags, c->zone0, sizeof c->zone0, &ao, why,
                                     sizeof why) != VOUCH_CLIENT_OK) {
        say("cannot read the device certificate from the SE: %s", why);
        return -1;
    }
    ao.server_url = c->o->server_url;
    ao.cacert = c->o->cacert;
    ao.timeout_s = c->o->timeout_s;
    ao.account = c->o->account;
    ao.se_flags = c->se_flags;
    if (vouch_device_authenticate(c->se, &ao, &c->auth) != VOUCH_CLIENT_OK) {
        say("authentication refused or failed: %s", c->auth.message);
        return -1;
    }
    c->s.server_url = c->o->server_url;
    c->s.cacert = c->o->cacert;
    c->s.timeout_s = c->o->timeout_s;
    c->s.token = c->auth.token;
    c->authed_at = time(NULL);
    say("authenticated as %s (account %s)", c->auth.device_id, c->auth.account);
    return 0;
}

static void report(cloud *c, int64_t campaign, const char *state, const char *detail)
{
    vouch_client_status st;
    if (campaign <= 0 || cloud_auth(c) != 0)
        return;
    if (vouch_device_update_report(&c->s, campaign, state, detail, &st) != VOUCH_CLIENT_OK)
        say("could not report '%s' to campaign %lld: %s", state, (long long)campaign,
            st.message);
    else
        say("reported %s to campaign %lld%s%s", state, (long long)campaign,
            detail ? ": " : "", detail ? detail : "");
}

/* ---- one download ------------------------------------------------------------------- */
static int download(vouch_fw_boot *b, cloud *c, const vouch_update_offer *of, uint8_t *buf,
                    vouch_fw_result *res, vouch_rc *verdict)
{
    uint32_t size = (uint32_t)of->size, tag = (uint32_t)of->release, off;
    vouch_client_status st;
    vouch_rc rc;

    *verdict = VOUCH_OK;
    off = vouch_fw_dl_resume_offset(b, size, tag);
    if (off) {
        say("resuming the download of release %lld at byte %u of %u", (long long)of->release,
            off, size);
    } else {
        if ((rc = vouch_fw_dl_begin(b, size, tag)) != VOUCH_OK) {
            say("cannot start the download: %s", vouch_fw_boot_strerror(rc));
            *verdict = rc;
            return -1;
        }
        say("downloading release %lld (%s, %u bytes)", (long long)of->release, of->version,
            size);
    }
    while (off < size) {
        size_t got = 0;
        uint64_t total = 0;
        vouch_client_rc cr = vouch_device_image_get_range(&c->s, of->url, off, buf, DL_CHUNK,
                                                          of->sha256, &got, &total, &st);
        if (cr != VOUCH_CLIENT_OK || got == 0 || total != size) {
            say("download stopped at byte %u: %s", off,
                cr != VOUCH_CLIENT_OK ? st.message : "the server's image changed size");
            return -2; /* try again later: the flash keeps what we have */
        }
        if ((rc = vouch_fw_dl_write(b, off, buf, got)) != VOUCH_OK) {
            say("cannot write the download: %s", vouch_fw_boot_strerror(rc));
            *verdict = rc;
            return -1;
        }
        off += (uint32_t)got;
        if (c->o->rate_delay_ms)
            usleep(c->o->rate_delay_ms * 1000u);
    }
    /* verified in full from flash (hash, SE signature, key, floor) before
     * anything may reach the primary slot */
    rc = vouch_fw_dl_finish(b, res);
    *verdict = rc;
    return rc == VOUCH_OK ? 0 : -1;
}

/* ---- the loop --------------------------------------------------------------------- */
static int power_on(vouch_fw_boot *b, vouch_fw_boot_info *info)
{
    vouch_fw_boot_config cfg = b->cfg;
    char line[80];
    vouch_rc rc = vouch_fw_boot_init(b, &cfg);
    if (rc == VOUCH_OK)
        rc = vouch_fw_boot_run(b, info);
    if (rc != VOUCH_OK) {
        say("boot failed: %s", vouch_fw_boot_strerror(rc));
        return -1;
    }
    vouch_fw_version_str(&info->res.img.version, line, sizeof line);
    say("booted %s (security counter %u)%s%s%s", line,
        info->res.img.has_sec_cnt ? info->res.img.sec_cnt : 0u, info->test ? " [test]" : "",
        info->swapped == VOUCH_FW_SWAP_REVERT ? " after reverting the unconfirmed update" : "",
        info->rejected ? " (the staged image was refused)" : "");
    return 0;
}

int vdev_run(vouch_fw_boot *b, vouch_se *se, unsigned se_flags, const vdev_run_opts *o)
{
    cloud c;
    upd_state u;
    vouch_fw_boot_info info;
    uint8_t *buf = malloc(DL_CHUNK);
    unsigned cycles = 0;
    int ret = 0;

    if (!buf)
        return 5;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.se = se;
    c.se_flags = se_flags;

    for (;;) {
        char ver[32], why[200];
        vouch_update_offer of;
        vouch_client_status st;
        vouch_fw_result res;
        vouch_rc verdict;
        int have = state_load(o->state_path, &u), r;

        if (power_on(b, &info) != 0) {
            ret = 1;
            break;
        }
        vouch_fw_version_str(&info.res.img.version, ver, sizeof ver);
        if (have && info.rejected) {
            report(&c, u.campaign, "rejected", vouch_fw_boot_strerror(info.rejected));
            state_clear(o->state_path);
            have = 0;
        }
        if (have && info.swapped == VOUCH_FW_SWAP_REVERT) {
            report(&c, u.campaign, "reverted", "the update did not confirm; back to the "
                                               "previous image");
            state_clear(o->state_path);
            have = 0;
        }
        if (info.test) {
            if (have)
                report(&c, u.campaign, "testing", ver);
            if (self_test(b, &info.res, o->work_dir, why, sizeof why) == 0) {
                uint32_t floor = 0;
                vouch_rc rc = vouch_fw_boot_confirm(b, &floor);
                if (rc != VOUCH_OK) {
                    say("confirm failed: %s", vouch_fw_boot_strerror(rc));
                    ret = 1;
                    break;
                }
                say("%s; confirmed %s, anti-rollback floor now %u", why, ver, floor);
                if (have)
                    report(&c, u.campaign, "confirmed", ver);
                state_clear(o->state_path);
                have = 0;
            } else {
                /* not confirmed: the next boot reverts it */
                say("%s; not confirming %s: rebooting", why, ver);
                if (have)
                    report(&c, u.campaign, "failed", why);
                continue;
            }
        }

        if (cloud_auth(&c) != 0) {
            ret = 4;
            if (o->once)
                break;
            sleep(o->interval_s);
            continue;
        }
        if (vouch_device_update_check(&c.s, ver,
                                      info.res.img.has_sec_cnt ? info.res.img.sec_cnt : 0, &of,
                                      &st) != VOUCH_CLIENT_OK) {
            say("update check failed: %s", st.message);
            c.authed_at = 0;
            ret = 4;
            if (o->once)
                break;
            sleep(o->interval_s);
            continue;
        }
        ret = 0;
        if (!of.available) {
            say("no update offered; running %s", ver);
            if (o->once)
                break;
            sleep(o->interval_s);
            continue;
        }
        if (o->max_updates && cycles++ >= o->max_updates) {
            say("update limit reached");
            break;
        }
        say("update offered: %s (security counter %u) in campaign %lld", of.version,
            of.security_counter, (long long)of.campaign);
        u.campaign = of.campaign;
        u.release = of.release;
        snprintf(u.version, sizeof u.version, "%s", of.version);
        if (state_save(o->state_path, &u) != 0)
            say("warning: cannot save %s: %s", o->state_path, strerror(errno));
        report(&c, of.campaign, "downloading", of.version);
        r = download(b, &c, &of, buf, &res, &verdict);
        if (r == -2) {
            ret = 4;
            if (o->once)
                break;
            sleep(o->interval_s);
            continue;
        }
        if (r != 0) {
            say("release %s refused: %s", of.version, vouch_fw_boot_strerror(verdict));
            report(&c, of.campaign, "rejected", vouch_fw_boot_strerror(verdict));
            state_clear(o->state_path);
            if (o->once) {
                ret = 1;
                break;
            }
            continue;
        }
        say("release %s verified and staged; rebooting", of.version);
        report(&c, of.campaign, "installed", of.version);
    }
    memset(c.auth.token, 0, sizeof c.auth.token);
    free(buf);
    if (ret != 0)
        fprintf(stderr, "vouch-device: run: %s\n", last_msg);
    return ret;
}
