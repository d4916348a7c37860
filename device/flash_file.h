/*
 * A NOR flash simulated in a file, for vouch-device and the tests.
 *
 * The file holds the whole flash (primary slot, secondary slot, scratch
 * sector, two status sectors: vouch_fw_layout_default) followed by a 32-byte
 * footer with the geometry, so later runs find it again. The rules of real
 * flash are enforced, to catch bugs: erased bytes are 0xFF, a write
 * programs only erased bytes in whole write units at aligned offsets, an
 * erase covers whole sectors. Writes go out with pwrite(2), so a kill -9
 * leaves exactly what was written.
 *
 * Power cuts: every write and every erase is one numbered operation, and so
 * is every state change sent to the secure element (flash_file_point).
 * Operation N can be made a power cut: it is applied in part (a write
 * programs a prefix of its units, half of a unit when it has only one; an
 * erase clears one half of its first sector, the other half keeps its old
 * bytes) and the process ends at once with _exit(137).
 *
 * Environment (read by flash_file_env):
 *   VOUCH_FLASH_CUT_AT=N     operation N is a power cut
 *   VOUCH_FLASH_OPS_OUT=FILE write the number of operations done into FILE
 *                            when the flash is closed ("-": stderr)
 *   VOUCH_FLASH_DELAY_MS=N   sleep N ms in every operation (kill -9 tests)
 */
#ifndef VOUCH_FLASH_FILE_H
#define VOUCH_FLASH_FILE_H

#include <stddef.h>
#include <stdint.h>

#include <vouch/fw_boot.h>

#define FLASH_FILE_FOOTER 32u
#define FLASH_FILE_CUT_STATUS 137

typedef struct flash_geom {
    uint32_t sector_size; /* default 4096 */
    uint32_t align;       /* default 8 */
    uint32_t slot_size;   /* default 256 KiB */
} flash_geom;

typedef struct flash_file {
    int fd;
    flash_geom g;
    uint32_t size;       /* flash bytes (the footer excluded) */
    vouch_fw_layout layout;
    vouch_fw_flash flash; /* bound to this */
    uint64_t ops;        /* operations done */
    uint64_t cut_at;     /* 0: no cut */
    unsigned delay_ms;
    const char *ops_out;
    char path[4096];
} flash_file;

/* Geometry check: 0, or -1 with a message in err. */
int flash_geom_check(const flash_geom *g, char *err, size_t err_size);

/*
 * Opens PATH. An existing file keeps its geometry: a field of `want` that is
 * not 0 must match it. A missing file is created with `want` (0 fields take
 * the defaults) when `create` is set. format: always (re)created, erased.
 * 0, or -1 with a message in err; *usage is set when the caller's options
 * were at fault (geometry mismatch or invalid) rather than the file.
 */
int flash_file_open(flash_file *f, const char *path, const flash_geom *want, int create,
                    int format, char *err, size_t err_size, int *usage);
/* Fault injection settings from the environment. 0, or -1 (bad value). */
int flash_file_env(flash_file *f, char *err, size_t err_size);
/* A numbered operation outside the flash (an SE state change): a power
 * cut there ends the process before the operation happens. */
void flash_file_point(flash_file *f);
/* Writes the operation count if asked, closes the file. */
void flash_file_close(flash_file *f);

#endif
