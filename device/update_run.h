/* vouch-device run: the device's update loop (device/update_run.c). */
#ifndef VOUCH_DEVICE_UPDATE_RUN_H
#define VOUCH_DEVICE_UPDATE_RUN_H

#include <vouch/fw_boot.h>
#include <vouch/se.h>

typedef struct vdev_run_opts {
    const char *server_url; /* vouchd, as the device is configured (its origin is signed) */
    const char *cacert;     /* PEM trust anchors for https, or NULL */
    const char *account;    /* the account the device must belong to, or NULL */
    unsigned timeout_s;     /* per request */
    unsigned interval_s;    /* between update checks */
    int once;               /* stop when no update is offered (after any update done) */
    unsigned max_updates;   /* 0: no limit */
    unsigned rate_delay_ms; /* pause after each downloaded chunk (tests) */
    const char *state_path; /* the campaign of the update in progress, across reboots */
    const char *work_dir;   /* where the self-test runs from */
} vdev_run_opts;

/* Runs the loop on an initialized boot context (its config names the SE,
 * the flash and the port). Returns the program's exit status: 0, 1 (not
 * bootable, or with `once` the update was refused), 4 (the server could not
 * be reached), 5 (memory). */
int vdev_run(vouch_fw_boot *b, vouch_se *se, unsigned se_flags, const vdev_run_opts *o);

#endif
