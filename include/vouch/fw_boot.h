/*
 * libvouch: secure boot with swap / test / confirm / revert, the device side
 * of firmware update (docs/firmware.md, "Boot and update").
 *
 * Portable C99: no malloc, no OpenSSL types, caller-owned context. Flash is
 * reached through vouch_fw_flash (a file in the simulator, a driver on an
 * MCU), crypto through the vouch_crypto_port, and the trust anchors (keys,
 * key revocation, anti-rollback floor) through the secure element.
 *
 * ---- Flash layout ---------------------------------------------------------
 *
 *   primary slot | secondary slot | scratch sector | status A | status B
 *
 * Both slots are `slot_size` bytes (a whole number of sectors). The image in
 * the primary slot is the one that runs; the secondary slot receives a new
 * image (install, download) and, after an upgrade, keeps the previous image
 * until the new one is confirmed. Flash semantics: erased bytes read 0xFF,
 * erase works on whole sectors, a write programs only erased bytes in whole
 * write units (`align`) at aligned offsets.
 *
 * ---- Status log -------------------------------------------------------------
 *
 * The boot state lives in two status sectors used as a ping-pong pair of
 * append-only logs. A record is 16 bytes (rounded up to the write unit when
 * align > 16, the padding programmed as zeros):
 *
 *   magic 'v','B' (2) | type (1) | sub (1) | arg0 (4, LE) | arg1 (4, LE) | check (4)
 *
 * `sub` carries a small argument (a direction, a format, the flags).
 * check = the first four bytes of SHA-256 over the first 12 bytes (through
 * the crypto port); padding must read as zeros, so a record counts only
 * when its whole slot was programmed. Reading: the active sector is the one
 * whose first record is a valid HEADER(generation, k), whose k snapshot
 * records that follow are all valid, and whose generation is the higher of
 * the two (a sector with neither: a new device, idle, no log yet). Its records are
 * replayed in order up to the first record slot that is entirely 0xFF. A
 * record whose check fails (a write torn by power loss) is skipped; it is
 * never reprogrammed, the next record goes after it.
 *
 * Compaction writes the current state into the other sector: erase it,
 * program the snapshot records (the minimal record sequence that rebuilds
 * the state: PENDING, DL_BEGIN/DL_AT, SWAP_START/STEP as needed, then
 * STATE, which sets the flags and the last event over what the others
 * imply) from slot 1, and program HEADER(generation + 1, k) into slot 0
 * LAST. Until that header is whole, the old sector stays active, so a power
 * cut during compaction loses nothing. Compaction runs at idle points
 * (install or download start, when less than half the log is free) and
 * whenever a record does not fit any more (the snapshot carries swap
 * progress, so this is safe in the middle of a swap too).
 *
 * Records: type, (sub, arg0, arg1), meaning. Unknown types are skipped.
 *   0x01 HEADER        format 1, generation, k   first record of a sector
 *   0x02 STATE         flags, last event, reason snapshot: sets the flags
 *   0x10 INSTALL_BEGIN -, image size, -          secondary being written:
 *                                                 pending and download cleared
 *   0x11 PENDING       -, image size, hash[0..3] secondary holds an image
 *                                                 verified at install
 *   0x12 SWAP_START    dir, sectors, -           a swap of that many sectors
 *   0x13 STEP          dir, sector, step 1..3    that step of that sector done
 *   0x14 SWAP_DONE     dir, -, -                 upgrade: testing; revert: the
 *                                                 confirmed image is back
 *   0x15 BOOTED_TEST   -                         the test image was started
 *   0x16 CONFIRMED     -, security counter, -    the test image is kept
 *   0x17 REJECTED      -, reason (vouch_rc), -   the pending image was refused
 *   0x18 DL_BEGIN      -, size, release tag      a download into the secondary
 *   0x19 DL_AT         -, offset, -              download bytes below offset
 *                                                 are in flash
 * (dir: 1 upgrade, 2 revert; flags: VOUCH_FW_ST_*; events: vouch_fw_event.)
 *
 * ---- Swap --------------------------------------------------------------------
 *
 * Primary and secondary are exchanged sector by sector through the scratch
 * sector, for the sectors covering the larger of the two images (the count
 * is fixed in SWAP_START; an unparsable slot counts as empty). Sector i, each
 * step logged as STEP(dir, i, step) once it is complete:
 *   1. erase scratch,        copy secondary[i] -> scratch
 *   2. erase secondary[i],   copy primary[i]   -> secondary[i]
 *   3. erase primary[i],     copy scratch      -> primary[i]
 * Copies go in VOUCH_FW_BOOT_CHUNK writes; a chunk that is all 0xFF is
 * not written (the target was just erased).
 * After a power cut the step following the last logged one is redone: its
 * source is intact whenever its predecessor is logged. Upgrade and revert
 * are the same exchange; the direction only says what the state is after
 * SWAP_DONE.
 *
 * ---- Boot (vouch_fw_boot_run), on every power-on ---------------------------
 *
 *  1. Load firmware trust from the SE: keys of zone 2, the revocation value
 *     (zone 6), the anti-rollback floor (zone 5). Signatures are checked by
 *     the SE (VERIFY mode 2, vouch_fw_se_check); hashes are streamed here.
 *  2. A swap in progress is finished first, then its direction applies.
 *  3. Pending and not testing: the secondary image is verified in full
 *     (hash, SE signature, key not revoked, counter >= floor, vendor/class
 *     when configured, the hash prefix PENDING recorded). Refused: REJECTED
 *     (reason) and the primary boots. Accepted: the upgrade swap, after
 *     which the new image is the test image.
 *  4. Testing, started once and not confirmed: the test image did not
 *     confirm; the revert swap brings the confirmed image back ("reverted").
 *  5. Testing and never started: BOOTED_TEST, then it is started.
 *  6. The primary image is verified in full before it is started. If it
 *     does not verify while it is a test image, the revert swap brings the
 *     confirmed image back and that one is verified instead. Otherwise:
 *     VOUCH_FW_BOOT_E_NO_IMAGE. An unverified image is never started.
 *  7. When the primary is not a test image and its security counter is
 *     above the floor, the floor is raised to it: the catch-up that makes a
 *     power cut between CONFIRMED and the counter step harmless. If the SE
 *     refuses the step (e.g. no host keys for a HOST zone), the verified
 *     image still starts and the next boot tries again.
 *
 * Only a verdict on an image (fw.h codes 1..11, and the image changed or
 * too big) is recorded as REJECTED or ends in "not bootable"; when the SE,
 * the bus or the flash fails, the operation stops with that error and
 * nothing is recorded, so an unreachable SE never discards an update.
 *
 * Confirm (vouch_fw_boot_confirm) needs a test image that was started
 * (BOOTED_TEST). It verifies the primary again, writes CONFIRMED first and
 * raises the SE floor second: with the order reversed, a cut in between
 * would leave a revert target below the floor (a bricked device). The floor
 * moves only at confirm and in the boot catch-up, never at swap time.
 *
 * Install (vouch_fw_install) and downloads (vouch_fw_dl_*) are refused while
 * a test image awaits confirmation (the secondary holds the way back) or a
 * swap is unfinished. Install parses the image before touching the flash (a
 * file that is not an image changes nothing), then INSTALL_BEGIN, writes it,
 * verifies it from flash in full, and logs PENDING. A cut anywhere before
 * PENDING leaves the device booting its current image.
 *
 * Errors are vouch_rc: the fw.h codes for image verdicts, the codes below
 * for the boot logic, the SE, bus and port layers otherwise.
 */
#ifndef VOUCH_FW_BOOT_H
#define VOUCH_FW_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include <vouch/fw.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors (VOUCH_LAYER_FW, after fw.h's codes) ----------------------------- */
enum vouch_fw_boot_code {
    VOUCH_FW_BOOT_E_FLASH = 32,    /* a flash read, write or erase failed */
    VOUCH_FW_BOOT_E_NO_IMAGE = 33, /* no image that verifies: not bootable */
    VOUCH_FW_BOOT_E_TESTING = 34,  /* a test image awaits confirm (or a reboot) */
    VOUCH_FW_BOOT_E_SWAPPING = 35, /* an interrupted swap: boot first */
    VOUCH_FW_BOOT_E_NOT_TESTING = 36, /* confirm: no test image to confirm */
    VOUCH_FW_BOOT_E_NOT_BOOTED = 37,  /* confirm: the test image was never started */
    VOUCH_FW_BOOT_E_TOO_BIG = 38,  /* image larger than a slot */
    VOUCH_FW_BOOT_E_LAYOUT = 39,   /* flash geometry unusable */
    VOUCH_FW_BOOT_E_DOWNLOAD = 40, /* no such download, or bytes out of order */
    VOUCH_FW_BOOT_E_CHANGED = 41   /* secondary no longer holds what was verified */
};

/* Words for any status, the codes above included; never NULL. */
VOUCH_API const char *vouch_fw_boot_strerror(vouch_rc rc);

/* ---- flash ----------------------------------------------------------------
 * Offsets are from the start of the flash device. Each returns 0 or -1.
 * write: [off, off+len) aligned to `align`, erased; erase: whole sectors. */
typedef struct vouch_fw_flash {
    void *ctx;
    uint32_t sector_size; /* power of two, 256 .. 1 MiB */
    uint32_t align;       /* write unit: power of two, 1 .. 256 */
    int (*read)(void *ctx, uint32_t off, void *buf, size_t len);
    int (*write)(void *ctx, uint32_t off, const void *buf, size_t len);
    int (*erase)(void *ctx, uint32_t off, size_t len);
} vouch_fw_flash;

typedef struct vouch_fw_layout {
    uint32_t primary;   /* slot offsets */
    uint32_t secondary;
    uint32_t slot_size; /* multiple of the sector size */
    uint32_t scratch;   /* one sector */
    uint32_t status[2]; /* one sector each */
} vouch_fw_layout;

/* The layout above from `base`: primary, secondary, scratch, status A, B.
 * Returns the bytes it spans (2 * slot_size + 3 * sector_size), 0 when the
 * sizes are unusable. */
VOUCH_API uint32_t vouch_fw_layout_default(uint32_t base, uint32_t sector_size,
                                           uint32_t slot_size, vouch_fw_layout *l);

/* ---- state ------------------------------------------------------------------ */
enum vouch_fw_swap_dir { VOUCH_FW_SWAP_UPGRADE = 1, VOUCH_FW_SWAP_REVERT = 2 };

/* last event, kept across compaction for status */
enum vouch_fw_event {
    VOUCH_FW_EV_NONE = 0,
    VOUCH_FW_EV_INSTALLED = 1, /* PENDING */
    VOUCH_FW_EV_REJECTED = 2,
    VOUCH_FW_EV_UPGRADED = 3,  /* upgrade swap done */
    VOUCH_FW_EV_CONFIRMED = 4,
    VOUCH_FW_EV_REVERTED = 5,
    VOUCH_FW_EV_INSTALLING = 6 /* INSTALL_BEGIN / DL_BEGIN */
};

#define VOUCH_FW_ST_PENDING 0x01u  /* secondary holds a verified image */
#define VOUCH_FW_ST_TESTING 0x02u  /* primary is an unconfirmed test image */
#define VOUCH_FW_ST_BOOTED 0x04u   /* ... started once */
#define VOUCH_FW_ST_CONFIRMED 0x08u /* primary was confirmed */

typedef struct vouch_fw_state {
    uint8_t flags;       /* VOUCH_FW_ST_* */
    uint8_t last;        /* enum vouch_fw_event */
    vouch_rc reason;     /* why the last REJECTED */
    uint32_t pend_size;  /* PENDING */
    uint32_t pend_hash;  /* first 4 bytes of its SHA-256, big-endian */
    uint8_t swap_active, swap_dir;
    uint32_t swap_sectors;
    uint32_t swap_sector; /* last step done: (sector, step); step 0 = none */
    uint8_t swap_step;
    uint8_t dl_active;
    uint32_t dl_size, dl_tag, dl_off;
} vouch_fw_state;

/* "idle", "pending", "downloading", "swapping", "testing", "booted_once",
 * "confirmed", "reverted", "rejected". */
VOUCH_API const char *vouch_fw_state_name(const vouch_fw_state *st);

/* ---- context ------------------------------------------------------------------ */
#define VOUCH_FW_BOOT_CHUNK 1024u /* copy and hash buffer; writes are this big */
#define VOUCH_FW_REC_MAX 256u

typedef struct vouch_fw_boot_config {
    const vouch_fw_flash *flash;
    vouch_fw_layout layout;
    const vouch_crypto_port *port;
    vouch_se *se;         /* the device's secure element */
    unsigned se_flags;    /* VOUCH_SECURE when counter steps need the channel */
    const uint8_t *vid;   /* 16 bytes, or NULL: not checked */
    const uint8_t *cid;
} vouch_fw_boot_config;

typedef struct vouch_fw_boot {
    vouch_fw_boot_config cfg;
    /* trust, from the SE (vouch_fw_boot_load_trust) */
    int trust_loaded;
    vouch_fw_key keys[VOUCH_FW_KEY_ENTRIES];
    size_t nkeys;
    uint32_t revoked_below;
    uint32_t floor;
    /* the log */
    vouch_fw_state st;
    uint32_t rec_size;
    uint32_t nrec;    /* record slots per status sector */
    int active;       /* 0, 1, or -1: no valid log yet */
    uint32_t gen;
    uint32_t next;    /* next free record slot in the active sector */
    uint32_t compactions; /* statistics */
    uint32_t torn;    /* torn records skipped while loading */
    /* download in progress: bytes taken, secondary erased below dl_erased,
     * and the bytes after the last whole write unit */
    uint32_t dl_pos, dl_erased;
    uint8_t tail[VOUCH_FW_REC_MAX];
    uint32_t tail_len;
    uint8_t buf[VOUCH_FW_BOOT_CHUNK];
} vouch_fw_boot;

/* Checks the geometry and reads the status log. No SE traffic. */
VOUCH_API vouch_rc vouch_fw_boot_init(vouch_fw_boot *b,
                                      const vouch_fw_boot_config *cfg) VOUCH_WUR;
/* Reads keys, revocation value and floor from the SE (done by every call
 * below that verifies; call again to refresh). */
VOUCH_API vouch_rc vouch_fw_boot_load_trust(vouch_fw_boot *b) VOUCH_WUR;

/* ---- boot ------------------------------------------------------------------- */
typedef struct vouch_fw_boot_info {
    vouch_fw_result res;   /* the image to start (primary), verified */
    int test;              /* it is a test image, not yet confirmed */
    int resumed;           /* an interrupted swap was finished (its dir) */
    int swapped;           /* swap done in this boot: VOUCH_FW_SWAP_*, or 0 */
    vouch_rc rejected;     /* the pending image refused in this boot, or 0 */
    uint32_t floor_before; /* SE anti-rollback floor at start and at the end */
    uint32_t floor;
    vouch_rc why;          /* the primary's verdict when it did not verify (not
                            * bootable, or a test image that fell back) */
    vouch_rc raise_rc;     /* step 7's counter step failed (the image still
                            * starts; the next boot tries again), or 0 */
} vouch_fw_boot_info;

/* The boot sequence above. VOUCH_OK: `info->res` is the verified image in
 * the primary slot, to be started. */
VOUCH_API vouch_rc vouch_fw_boot_run(vouch_fw_boot *b, vouch_fw_boot_info *info) VOUCH_WUR;

/* Keeps the test image: CONFIRMED, then the SE floor raised to its
 * security counter (*sec_cnt). Already confirmed (not testing, primary
 * confirmed): VOUCH_OK without a change. An error after CONFIRMED (the
 * counter step refused or the SE unreachable) leaves the image confirmed
 * (st.flags has VOUCH_FW_ST_CONFIRMED): the next boot raises the floor. */
VOUCH_API vouch_rc vouch_fw_boot_confirm(vouch_fw_boot *b, uint32_t *sec_cnt) VOUCH_WUR;

/* ---- install and download ------------------------------------------------------
 * install: INSTALL_BEGIN, the image of `size` bytes read through `rd`
 * written into the secondary (each sector erased just before it is
 * written), verified from flash in full, then PENDING. `res` (may be NULL)
 * gets the verdict. A refused image is logged REJECTED. */
VOUCH_API vouch_rc vouch_fw_install(vouch_fw_boot *b, vouch_fw_read_fn rd, void *rctx,
                                    uint32_t size, vouch_fw_result *res) VOUCH_WUR;

/* Download of `size` bytes identified by `tag` (a release id or hash
 * prefix): DL_BEGIN, then vouch_fw_dl_write in order (any chunking), each
 * completed sector logged DL_AT, then vouch_fw_dl_finish (verify, PENDING).
 * After a power cut, vouch_fw_dl_resume_offset says where the same download
 * (same size and tag) continues: 0 when it is not the one in progress; the
 * caller then either writes from that offset or begins again. */
VOUCH_API vouch_rc vouch_fw_dl_begin(vouch_fw_boot *b, uint32_t size, uint32_t tag) VOUCH_WUR;
VOUCH_API uint32_t vouch_fw_dl_resume_offset(const vouch_fw_boot *b, uint32_t size,
                                             uint32_t tag);
VOUCH_API vouch_rc vouch_fw_dl_write(vouch_fw_boot *b, uint32_t offset, const uint8_t *data,
                                     size_t len) VOUCH_WUR;
VOUCH_API vouch_rc vouch_fw_dl_finish(vouch_fw_boot *b, vouch_fw_result *res) VOUCH_WUR;

/* ---- status ------------------------------------------------------------------ */
typedef struct vouch_fw_slot_status {
    int present;       /* a parsable image header is there */
    vouch_rc verdict;  /* VOUCH_OK when it verifies in full */
    vouch_fw_result res;
} vouch_fw_slot_status;

typedef struct vouch_fw_status {
    vouch_fw_state st;
    vouch_fw_slot_status primary, secondary;
    uint32_t floor, revoked_below;
    uint32_t gen, records_used, records_max;
} vouch_fw_status;

/* Both slots verified against the SE's trust (no flash writes). */
VOUCH_API vouch_rc vouch_fw_boot_status(vouch_fw_boot *b, vouch_fw_status *s) VOUCH_WUR;

#ifdef __cplusplus
}
#endif
#endif
