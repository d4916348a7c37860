#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "se/seal.h"

static const uint8_t MAGIC[5] = {'V', 'S', 'E', '1', 1};
#define NONCE_LEN 12
#define TAG_LEN 16
#define FILE_MAX (8192 + VOUCH_SEAL_OVERHEAD)

const char *vouch_seal_strerror(int err)
{
    switch (err) {
    case VOUCH_SEAL_OK: return "ok";
    case VOUCH_SEAL_E_IO: return strerror(errno);
    case VOUCH_SEAL_E_FORMAT: return "state cannot be opened: not a vouch-se state file, or corrupted (bad magic or size)";
    case VOUCH_SEAL_E_AUTH:
        return "state cannot be opened: the seal key is wrong or the file was changed";
    case VOUCH_SEAL_E_KEYFILE: return "seal key file must hold 16 to 4096 bytes";
    case VOUCH_SEAL_E_DURABILITY:
        return "state file replaced but the directory could not be synced";
    default: return "cryptographic failure";
    }
}

int vouch_seal_load_key(const char *path, uint8_t key[VOUCH_SEAL_KEY_LEN])
{
    uint8_t ikm[4097];
    ssize_t n;
    int fd, rc = VOUCH_SEAL_E_CRYPTO;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[5];

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return VOUCH_SEAL_E_IO;
    n = read(fd, ikm, sizeof ikm);
    close(fd);
    if (n < 0)
        return VOUCH_SEAL_E_IO;
    if (n < 16 || n > 4096) {
        OPENSSL_cleanse(ikm, sizeof ikm);
        return VOUCH_SEAL_E_KEYFILE;
    }
    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, (size_t)n);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (char *)"vouch-se seal", 13);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (char *)"state v1", 8);
    params[4] = OSSL_PARAM_construct_end();
    if (kctx && EVP_KDF_derive(kctx, key, VOUCH_SEAL_KEY_LEN, params) == 1)
        rc = VOUCH_SEAL_OK;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    OPENSSL_cleanse(ikm, sizeof ikm);
    return rc;
}

static int gcm(int enc, const uint8_t key[32], const uint8_t nonce[NONCE_LEN], const uint8_t *in,
               size_t len, uint8_t *out, uint8_t tag[TAG_LEN])
{
    int ok = 0, outl = 0, fl = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c || len > 0x7fffffff)
        goto exit;
    if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) != 1 ||
        EVP_CipherUpdate(c, NULL, &outl, MAGIC, sizeof MAGIC) != 1 ||
        EVP_CipherUpdate(c, out, &outl, in, (int)len) != 1)
        goto exit;
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
        goto exit;
    if (EVP_CipherFinal_ex(c, out + outl, &fl) != 1)
        goto exit;
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
        goto exit;
    ok = 1;
exit:
    EVP_CIPHER_CTX_free(c);
    return ok;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int vouch_seal_write(const char *dir, const char *name, const uint8_t key[VOUCH_SEAL_KEY_LEN],
                     const uint8_t *blob, size_t len)
{
    uint8_t buf[FILE_MAX];
    char tmp[4096], final[4096];
    size_t n = 0;
    int fd = -1, dfd = -1, rc = VOUCH_SEAL_E_IO;

    if (len + VOUCH_SEAL_OVERHEAD > sizeof buf)
        return VOUCH_SEAL_E_FORMAT;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name) >= sizeof tmp ||
        (size_t)snprintf(final, sizeof final, "%s/%s", dir, name) >= sizeof final) {
        errno = ENAMETOOLONG;
        return VOUCH_SEAL_E_IO;
    }
    memcpy(buf, MAGIC, sizeof MAGIC);
    n = sizeof MAGIC;
    if (RAND_bytes(buf + n, NONCE_LEN) != 1)
        return VOUCH_SEAL_E_CRYPTO;
    if (!gcm(1, key, buf + n, blob, len, buf + n + NONCE_LEN, buf + n + NONCE_LEN + len))
        return VOUCH_SEAL_E_CRYPTO;
    n += NONCE_LEN + len + TAG_LEN;

    /* the directory is opened first: once the rename is done, failing to
     * open it would leave a new state on disk behind an error answer */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        goto exit;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        goto exit;
    if (write_all(fd, buf, n) != 0 || fsync(fd) != 0)
        goto exit;
    if (close(fd) != 0) {
        fd = -1;
        goto exit;
    }
    fd = -1;
    if (rename(tmp, final) != 0) {
        unlink(tmp);
        goto exit;
    }
    /* past this point the new state is the file's content: a failure here
     * is not "nothing changed", and the caller must not say so */
    rc = fsync(dfd) == 0 ? VOUCH_SEAL_OK : VOUCH_SEAL_E_DURABILITY;
exit:
    if (fd >= 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
    }
    if (dfd >= 0)
        close(dfd);
    return rc;
}

int vouch_seal_read(const char *path, const uint8_t key[VOUCH_SEAL_KEY_LEN], uint8_t *out,
                    size_t size, size_t *len)
{
    uint8_t buf[FILE_MAX + 1];
    size_t n = 0, ct;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return VOUCH_SEAL_E_IO;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return VOUCH_SEAL_E_IO;
        }
        if (r == 0 || (n += (size_t)r) == sizeof buf)
            break;
    }
    close(fd);
    if (n < VOUCH_SEAL_OVERHEAD + 1 || n > FILE_MAX || memcmp(buf, MAGIC, sizeof MAGIC) != 0)
        return VOUCH_SEAL_E_FORMAT;
    ct = n - VOUCH_SEAL_OVERHEAD;
    if (ct > size)
        return VOUCH_SEAL_E_FORMAT;
    if (!gcm(0, key, buf + 5, buf + 5 + NONCE_LEN, ct, out, buf + 5 + NONCE_LEN + ct)) {
        OPENSSL_cleanse(out, size);
        return VOUCH_SEAL_E_AUTH;
    }
    *len = ct;
    return VOUCH_SEAL_OK;
}
