#ifndef CUSTODY_COPENSSL_SHIM_H
#define CUSTODY_COPENSSL_SHIM_H

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/pkcs12.h>

/* Macros and variadic helpers Swift cannot import directly. */

static inline unsigned long custody_err_get_error_all(const char **file, int *line, const char **func,
                                                      const char **data, int *flags) {
    return ERR_get_error_all(file, line, func, data, flags);
}

static inline int custody_evp_max_md_size(void) { return EVP_MAX_MD_SIZE; }

/* A PEM passphrase callback that never prompts: `u` is a NUL-terminated passphrase, or NULL for none. */
static inline int custody_pem_passphrase(char *buf, int size, int rwflag, void *u) {
    (void)rwflag;
    if (u == NULL || size <= 0) return -1;
    const char *pass = (const char *)u;
    int length = 0;
    while (pass[length] != 0) {
        if (length >= size) return -1;
        buf[length] = pass[length];
        length++;
    }
    return length;
}

static inline pem_password_cb *custody_pem_passphrase_callback(void) { return custody_pem_passphrase; }

#endif
