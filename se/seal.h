/*
 * State at rest for the vouch-se daemon: the serialized SE state sealed with
 * AES-256-GCM under a key derived (HKDF-SHA256) from the --seal-key file, the
 * software stand-in for a chip's PUF, and written atomically.
 *
 * File format (DIR/state.bin):
 *   magic "VSE1"(4) | format(1) = 1 | nonce(12) | ciphertext(n) | tag(16)
 * The first 5 bytes are the GCM additional data.
 */
#ifndef VOUCH_SE_SEAL_H
#define VOUCH_SE_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define VOUCH_SEAL_KEY_LEN 32
#define VOUCH_SEAL_OVERHEAD (5 + 12 + 16)

enum vouch_seal_err {
    VOUCH_SEAL_OK = 0,
    VOUCH_SEAL_E_IO = -1,      /* read/write/fsync failed (errno set) */
    VOUCH_SEAL_E_FORMAT = -2,  /* not a vouch-se state file */
    VOUCH_SEAL_E_AUTH = -3,    /* wrong seal key or the file was changed */
    VOUCH_SEAL_E_KEYFILE = -4, /* seal key file missing, too short or too long */
    VOUCH_SEAL_E_CRYPTO = -5,
    VOUCH_SEAL_E_DURABILITY = -6 /* renamed into place, directory fsync failed */
};

/* Derives the sealing key from the key file's bytes (16..4096 bytes). */
int vouch_seal_load_key(const char *path, uint8_t key[VOUCH_SEAL_KEY_LEN]);

/* Seals `blob` and writes it to `path` atomically: temp file, fsync, rename,
 * fsync of the directory. Any error but VOUCH_SEAL_E_DURABILITY leaves the
 * old file in place; that one means the new file is in place but may not
 * survive a power cut. */
int vouch_seal_write(const char *dir, const char *name, const uint8_t key[VOUCH_SEAL_KEY_LEN],
                     const uint8_t *blob, size_t len);

/* Reads and opens `path` into out (size bytes); *len gets the plaintext size. */
int vouch_seal_read(const char *path, const uint8_t key[VOUCH_SEAL_KEY_LEN], uint8_t *out,
                    size_t size, size_t *len);

const char *vouch_seal_strerror(int err);

#endif
