/*
 * token: chunk access tokens and the user authentication proof (DESIGN §10).
 *
 * A chunk access token is what the metaserver hands a client with each chunk
 * location: "user U may do OPS on chunk C at version V until T, through the
 * chain A1..An". It is signed with HMAC-SHA256 under a key the metaserver
 * shares with its chunkservers only (sent on the metaserver<->chunkserver
 * connection), so a chunkserver can check it without asking the metaserver
 * and a client can carry it but never forge or widen it.
 *
 * Wire form (opaque bytes to everyone but this module), big-endian:
 *   u8 TOKEN_FORMAT | u32 key_id | u64 chunk_id | u64 version | u32 ops |
 *   u64 expires (unix seconds) | u32 uid | u8 n_chain |
 *   n_chain x (u8 len | len bytes "host:port") | 32-byte HMAC of all before
 *
 * Keys rotate: a token_keys holds the current key and the one before it;
 * tokens signed under either verify, so a rotation never fails a request in
 * flight (a token lives much shorter than a key). Key ids only grow.
 *
 * Invariants: token_verify() reads at most len bytes and accepts nothing it
 * did not recompute the MAC of (compared in constant time); a decoded chain
 * holds NUL-terminated addresses of at most TOKEN_ADDR_MAX - 1 bytes.
 *
 * User authentication is a challenge-response: the server sends a random
 * nonce per connection, the client answers token_auth_proof(secret, nonce,
 * user); the secret never crosses the wire, so it works with or without TLS
 * and a recorded answer is worthless on another connection.
 */
#ifndef CAIRN_TOKEN_H
#define CAIRN_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_FORMAT	1u
#define TOKEN_KEY_LEN	32
#define TOKEN_MAC_LEN	32
#define TOKEN_CHAIN_MAX 8
#define TOKEN_ADDR_MAX	64
#define TOKEN_MAX_LEN                                                                              \
	(1 + 4 + 8 + 8 + 4 + 8 + 4 + 1 + TOKEN_CHAIN_MAX * TOKEN_ADDR_MAX + TOKEN_MAC_LEN)
#define TOKEN_NONCE_LEN 32

enum token_op {
	TOKEN_READ = 1u << 0,
	TOKEN_WRITE = 1u << 1,	   /* write, sync, allocate a replica named in the chain */
	TOKEN_REPLICATE = 1u << 2, /* a re-replication copy */
};

struct token {
	uint32_t key_id; /* set by token_sign() */
	uint64_t chunk_id;
	uint64_t version;
	uint32_t ops; /* TOKEN_* bits */
	uint64_t expires;
	uint32_t uid;
	unsigned n_chain;
	char chain[TOKEN_CHAIN_MAX][TOKEN_ADDR_MAX];
};

struct token_key {
	uint32_t id; /* 0: absent */
	uint8_t key[TOKEN_KEY_LEN];
};

struct token_keys {
	struct token_key current;
	struct token_key previous; /* still accepted; id 0 when none */
};

/*
 * Replaces the keys' previous key with the current one and makes a fresh
 * random current key with the next id (1 for a new keys struct zeroed by the
 * caller). Returns 0 or -errno (no randomness; keys unchanged).
 */
int token_keys_rotate(struct token_keys *keys);

/*
 * Signs t under keys->current into buf (cap bytes; TOKEN_MAX_LEN always
 * suffices). Returns the token's length, or -EINVAL when the keys have no
 * current key, the chain is too long or an address does not fit, or
 * -ENOSPC when cap is too small.
 */
int token_sign(const struct token_keys *keys, const struct token *t, uint8_t *buf, size_t cap);

/*
 * Checks that buf (len bytes, from the network) is a token signed under one
 * of keys, not expired at now, for chunk_id at version, allowing every bit
 * of ops. Fills *out (may be NULL) on success. Returns 0, or -EACCES with a
 * *cause the caller frees saying which check failed (malformed, unknown
 * key, bad signature, expired, another chunk, another version, op not
 * allowed).
 */
int token_verify(const struct token_keys *keys, const uint8_t *buf, size_t len, uint64_t now,
		 uint64_t chunk_id, uint64_t version, uint32_t ops, struct token *out,
		 char **cause);

/* 1 when addr is one of t's chain addresses, else 0. */
int token_names(const struct token *t, const char *addr);

/* out = HMAC-SHA256(secret, "cairn-auth-1" | nonce | user): the client's answer. */
void token_auth_proof(const uint8_t secret[TOKEN_KEY_LEN], const uint8_t nonce[TOKEN_NONCE_LEN],
		      const char *user, uint8_t out[TOKEN_MAC_LEN]);

/* 1 when proof is token_auth_proof(secret, nonce, user), compared in constant time. */
int token_auth_check(const uint8_t secret[TOKEN_KEY_LEN], const uint8_t nonce[TOKEN_NONCE_LEN],
		     const char *user, const uint8_t proof[TOKEN_MAC_LEN]);

#endif
