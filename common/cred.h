/*
 * cred: a user's credentials file (DESIGN §10, docs/design.md "Users").
 *
 * `cairn admin user add NAME` and the metaserver's format write one; the
 * CLI, libcairn and Python read it (--credentials FILE, CAIRN_CREDENTIALS).
 * It holds the user's name and the 256-bit secret key that answers the
 * metaserver's per-connection challenge (token_auth_proof()):
 *
 *   # cairn credentials: keep private (mode 0600)
 *   user alice
 *   key 0123...ef                  (64 lowercase hex digits)
 *
 * Invariants: a file is written whole (temp file created 0600, fsync,
 * rename), so it is never seen half-written nor readable by others for a
 * moment; a file readable or writable by group or others is refused, as
 * ssh refuses such a private key, since anyone who reads it is that user.
 */
#ifndef CAIRN_CRED_H
#define CAIRN_CRED_H

#include <stddef.h>
#include <stdint.h>

#include "token.h"

#define CRED_NAME_MAX 32 /* bytes of a user or group name, without the NUL */
#define CRED_TEXT_MAX 256

/* 1 when name is a valid user or group name: [a-z_][a-z0-9_.-]*, 1..CRED_NAME_MAX bytes. */
int cred_name_ok(const char *name);

/*
 * Writes user and key to path (replacing any file there) with mode 0600.
 * Returns 0, or -EINVAL for a bad name, or -errno with a *cause the caller
 * frees naming the file.
 */
int cred_write(const char *path, const char *user, const uint8_t key[TOKEN_KEY_LEN], char **cause);

/*
 * Reads path into user (CRED_NAME_MAX + 1 bytes) and key. Returns 0, or
 * -EACCES when the file is open to group or others, -EINVAL when it is not
 * a credentials file, or -errno; each with a *cause the caller frees.
 */
int cred_read(const char *path, char *user, uint8_t key[TOKEN_KEY_LEN], char **cause);

#endif
