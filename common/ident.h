/*
 * ident: the identity file of a data dir ("<dir>/identity"), shared by the
 * metaserver and the chunkservers (DESIGN §4, "Identity and format").
 *
 * A file system gets a random 128-bit id when its metaserver formats an
 * empty data dir; the metaserver keeps it, with the format parameters (the
 * format version and the default chunk size at format), in its data dir
 * and its checkpoints. A chunkserver keeps the id of the file system it
 * joined in each of its data dirs. The file is a few text lines:
 *
 *   # cairn data dir identity: never copy it to another dir
 *   format 1
 *   fs_id 0123456789abcdef0123456789abcdef
 *   chunk_size 67108864          (metaserver only)
 *
 * Unknown keys are refused (a newer format must not be half-understood).
 * It is written once, atomically (temp file, fsync, rename, directory
 * fsync), so it is either absent or whole.
 */
#ifndef CAIRN_IDENT_H
#define CAIRN_IDENT_H

#include <stddef.h>
#include <stdint.h>

#define IDENT_FILE     "identity"
#define IDENT_FORMAT   1u
#define IDENT_ID_LEN   16
#define IDENT_HEX_LEN  (2 * IDENT_ID_LEN)
#define IDENT_TEXT_MAX 512

struct ident {
	uint32_t format;	     /* IDENT_FORMAT */
	uint8_t fs_id[IDENT_ID_LEN]; /* never all zeros */
	uint64_t chunk_size;	     /* 0: not recorded (chunkservers) */
};

/* Fills id with 128 random bits from getrandom(). Returns 0 or -errno. */
int ident_generate(uint8_t id[IDENT_ID_LEN]);

/* Whether id is all zeros (no id). */
int ident_is_zero(const uint8_t id[IDENT_ID_LEN]);

/* Writes id as IDENT_HEX_LEN lower-case hex digits and a NUL into out. */
void ident_hex(const uint8_t id[IDENT_ID_LEN], char out[IDENT_HEX_LEN + 1]);

/*
 * The file's text for id into buf (cap bytes, IDENT_TEXT_MAX is enough).
 * Returns the length.
 */
size_t ident_encode(const struct ident *id, char *buf, size_t cap);

/*
 * Parses the file's text (len bytes). Returns 0, or -EINVAL with a new
 * *cause (free with free()) naming what is wrong.
 */
int ident_decode(const char *text, size_t len, struct ident *out, char **cause);

/*
 * Reads <dir>/identity. Returns 0, -ENOENT when there is none, or another
 * negative error with a new *cause (free with free()). Blocking: start-up,
 * or once per data dir's life.
 */
int ident_read(const char *dir, struct ident *out, char **cause);

/*
 * Writes <dir>/identity atomically (see above). Returns 0, or a negative
 * error with a new *cause (free with free()), leaving no temp file. Blocking.
 */
int ident_write(const char *dir, const struct ident *id, char **cause);

#endif
