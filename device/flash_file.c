/*
 * A NOR flash in a file, with power-cut injection (device/flash_file.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "device/flash_file.h"

static const char footer_magic[16] = "vouch-flash v1\n";

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static int is_pow2(uint32_t v)
{
    return v && !(v & (v - 1));
}

int flash_geom_check(const flash_geom *g, char *err, size_t err_size)
{
    if (!is_pow2(g->sector_size) || g->sector_size < 256 || g->sector_size > (1u << 20)) {
        snprintf(err, err_size, "sector size %u: want a power of two from 256 to 1048576",
                 g->sector_size);
        return -1;
    }
    if (!is_pow2(g->align) || g->align > 256) {
        snprintf(err, err_size, "write unit (align) %u: want a power of two from 1 to 256",
                 g->align);
        return -1;
    }
    if (g->sector_size / (g->align > 16 ? g->align : 16) < 16) {
        snprintf(err, err_size,
                 "sector size %u is too small for write unit %u (a status sector holds "
                 "at least 16 records)",
                 g->sector_size, g->align);
        return -1;
    }
    if (!g->slot_size || g->slot_size % g->sector_size || g->slot_size > (512u << 20)) {
        snprintf(err, err_size,
                 "slot size %u: want a whole number of %u-byte sectors, at most 512 MiB",
                 g->slot_size, g->sector_size);
        return -1;
    }
    return 0;
}

/* ---- operations ------------------------------------------------------------ */
static int full_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t k = pwrite(fd, p, len, off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k, len -= (size_t)k, off += k;
    }
    return 0;
}
static int full_pread(int fd, void *buf, size_t len, off_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t k = pread(fd, p, len, off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k, len -= (size_t)k, off += k;
    }
    return 0;
}

static void bug(const flash_file *f, const char *what, uint32_t off, size_t len)
{
    fprintf(stderr, "vouch-device: flash: refused %s at 0x%x, %zu bytes (%s)\n", what, off,
            len, f->path);
}

static void op_delay(const flash_file *f)
{
    if (f->delay_ms) {
        struct timespec ts = {(time_t)(f->delay_ms / 1000), (long)(f->delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
}

/* Counts an operation; 1 when this one is the power cut. */
static int op_begin(flash_file *f)
{
    f->ops++;
    op_delay(f);
    return f->cut_at && f->ops == f->cut_at;
}

static void power_cut(void)
{
    _exit(FLASH_FILE_CUT_STATUS);
}

void flash_file_point(flash_file *f)
{
    if (op_begin(f))
        power_cut();
}

static int ff_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    flash_file *f = ctx;
    if ((uint64_t)off + len > f->size) {
        bug(f, "read beyond the end", off, len);
        return -1;
    }
    return full_pread(f->fd, buf, len, off);
}

static int ff_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
    flash_file *f = ctx;
    uint8_t cur[4096];
    size_t done;
    if ((uint64_t)off + len > f->size || off % f->g.align || len % f->g.align || !len) {
        bug(f, "unaligned or out-of-range write", off, len);
        return -1;
    }
    for (done = 0; done < len; done += sizeof cur) {
        size_t n = len - done < sizeof cur ? len - done : sizeof cur;
        size_t i;
        if (full_pread(f->fd, cur, n, off + done) != 0)
            return -1;
        for (i = 0; i < n; i++)
            if (cur[i] != 0xFF) {
                bug(f, "write over bytes not erased", (uint32_t)(off + done + i), len);
                return -1;
            }
    }
    if (op_begin(f)) {
        /* Torn write: a prefix of the units, or half of a lone unit. The
         * prefix varies with the operation number. */
        size_t units = len / f->g.align, keep;
        if (units == 1)
            keep = f->g.align / 2;
        else if (f->ops % 2 == 0)
            keep = units / 2 * f->g.align;
        else
            keep = (size_t)((f->ops * 2654435761u) % units) * f->g.align;
        if (keep)
            (void)full_pwrite(f->fd, buf, keep, off);
        power_cut();
    }
    return full_pwrite(f->fd, buf, len, off);
}

static int fill_ff(int fd, off_t off, size_t len)
{
    uint8_t ff[4096];
    memset(ff, 0xFF, sizeof ff);
    while (len) {
        size_t n = len < sizeof ff ? len : sizeof ff;
        if (full_pwrite(fd, ff, n, off) != 0)
            return -1;
        off += (off_t)n, len -= n;
    }
    return 0;
}

static int ff_erase(void *ctx, uint32_t off, size_t len)
{
    flash_file *f = ctx;
    uint32_t s = f->g.sector_size;
    if ((uint64_t)off + len > f->size || off % s || len % s || !len) {
        bug(f, "erase of a range that is not whole sectors", off, len);
        return -1;
    }
    if (op_begin(f)) {
        /* Torn erase: one half of the first sector, by operation number. */
        (void)fill_ff(f->fd, (off_t)off + (f->ops % 2 ? s / 2 : 0), s / 2);
        power_cut();
    }
    return fill_ff(f->fd, off, len);
}

/* ---- open, create -------------------------------------------------------------- */
static void bind(flash_file *f)
{
    f->size = vouch_fw_layout_default(0, f->g.sector_size, f->g.slot_size, &f->layout);
    f->flash.ctx = f;
    f->flash.sector_size = f->g.sector_size;
    f->flash.align = f->g.align;
    f->flash.read = ff_read;
    f->flash.write = ff_write;
    f->flash.erase = ff_erase;
}

static int create(flash_file *f, const char *path, char *err, size_t err_size)
{
    char tmp[4200];
    uint8_t foot[FLASH_FILE_FOOTER];
    int fd;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, err_size, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    memset(foot, 0, sizeof foot);
    memcpy(foot, footer_magic, 16);
    put_le32(foot + 16, f->g.sector_size);
    put_le32(foot + 20, f->g.align);
    put_le32(foot + 24, f->g.slot_size);
    if (fill_ff(fd, 0, f->size) != 0 || full_pwrite(fd, foot, sizeof foot, f->size) != 0 ||
        fsync(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    f->fd = fd;
    return 0;
}

int flash_file_open(flash_file *f, const char *path, const flash_geom *want, int do_create,
                    int format, char *err, size_t err_size, int *usage)
{
    uint8_t foot[FLASH_FILE_FOOTER];
    struct stat sb;
    int fd;

    memset(f, 0, sizeof *f);
    f->fd = -1;
    *usage = 0;
    snprintf(f->path, sizeof f->path, "%s", path);
    if (!format) {
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < FLASH_FILE_FOOTER ||
                full_pread(fd, foot, sizeof foot, sb.st_size - FLASH_FILE_FOOTER) != 0 ||
                memcmp(foot, footer_magic, 16) != 0) {
                snprintf(err, err_size,
                         "%s is not a vouch-device flash file (vouch-device format makes one)",
                         path);
                close(fd);
                return -1;
            }
            f->g.sector_size = get_le32(foot + 16);
            f->g.align = get_le32(foot + 20);
            f->g.slot_size = get_le32(foot + 24);
            if (flash_geom_check(&f->g, err, err_size) != 0) {
                close(fd);
                return -1;
            }
            bind(f);
            if ((uint64_t)sb.st_size != (uint64_t)f->size + FLASH_FILE_FOOTER) {
                snprintf(err, err_size, "%s: %lld bytes, its geometry says %u", path,
                         (long long)sb.st_size, f->size + FLASH_FILE_FOOTER);
                close(fd);
                return -1;
            }
            if ((want->sector_size && want->sector_size != f->g.sector_size) ||
                (want->align && want->align != f->g.align) ||
                (want->slot_size && want->slot_size != f->g.slot_size)) {
                snprintf(err, err_size,
                         "%s was formatted with sector size %u, write unit %u, slot size %u: "
                         "the options given differ (vouch-device format re-creates it)",
                         path, f->g.sector_size, f->g.align, f->g.slot_size);
                *usage = 1;
                close(fd);
                return -1;
            }
            f->fd = fd;
            return 0;
        }
        if (errno != ENOENT || !do_create) {
            snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
            return -1;
        }
    }
    f->g.sector_size = want->sector_size ? want->sector_size : 4096;
    f->g.align = want->align ? want->align : 8;
    f->g.slot_size = want->slot_size ? want->slot_size : 256u * 1024;
    if (flash_geom_check(&f->g, err, err_size) != 0) {
        *usage = 1;
        return -1;
    }
    bind(f);
    return create(f, path, err, err_size);
}

int flash_file_env(flash_file *f, char *err, size_t err_size)
{
    const char *v;
    char *end;
    if ((v = getenv("VOUCH_FLASH_CUT_AT")) && *v) {
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || *end || v[0] == '-') {
            snprintf(err, err_size, "VOUCH_FLASH_CUT_AT=%s: want an operation number", v);
            return -1;
        }
        f->cut_at = n;
    }
    if ((v = getenv("VOUCH_FLASH_DELAY_MS")) && *v) {
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || *end || v[0] == '-' || n > 60000) {
            snprintf(err, err_size, "VOUCH_FLASH_DELAY_MS=%s: want 0 to 60000", v);
            return -1;
        }
        f->delay_ms = (unsigned)n;
    }
    if ((v = getenv("VOUCH_FLASH_OPS_OUT")) && *v)
        f->ops_out = v;
    return 0;
}

void flash_file_close(flash_file *f)
{
    if (f->ops_out) {
        if (strcmp(f->ops_out, "-") == 0) {
            fprintf(stderr, "flash operations: %llu\n", (unsigned long long)f->ops);
        } else {
            FILE *o = fopen(f->ops_out, "w");
            if (o) {
                fprintf(o, "%llu\n", (unsigned long long)f->ops);
                fclose(o);
            }
        }
        f->ops_out = NULL;
    }
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}
