/*
 * token: chunk access tokens and the user authentication proof; the design
 * and the wire form are in token.h.
 *
 * The codec is written out field by field (put_/get_ helpers over a cursor)
 * so every read is bounded by the remaining length: a token comes from the
 * network and is checked before any of it is believed. The MAC is verified
 * before the fields are compared, so a forged token learns nothing about
 * which field a chunkserver would have refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "token.h"
#include "util.h"

static const char AUTH_LABEL[] = "cairn-auth-1";

struct cursor {
	uint8_t *p;
	const uint8_t *r;
	size_t left;
};

int token_keys_rotate(struct token_keys *keys)
{
	struct token_key next = {.id = keys->current.id + 1};
	int err = random_fill(next.key, sizeof(next.key));
	if (err)
		return err;
	keys->previous = keys->current;
	keys->current = next;
	return 0;
}

static void mac(const uint8_t key[TOKEN_KEY_LEN], const uint8_t *data, size_t n,
		uint8_t out[TOKEN_MAC_LEN])
{
	unsigned len = TOKEN_MAC_LEN;
	HMAC(EVP_sha256(), key, TOKEN_KEY_LEN, data, n, out, &len);
}

static int put(struct cursor *c, uint64_t v, unsigned bytes)
{
	if (c->left < bytes)
		return -ENOSPC;
	for (unsigned i = 0; i < bytes; i++)
		c->p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	c->p += bytes;
	c->left -= bytes;
	return 0;
}

static int get(struct cursor *c, uint64_t *v, unsigned bytes)
{
	if (c->left < bytes)
		return -EACCES;
	*v = 0;
	for (unsigned i = 0; i < bytes; i++)
		*v = (*v << 8) | c->r[i];
	c->r += bytes;
	c->left -= bytes;
	return 0;
}

static int put_fields(struct cursor *c, uint32_t key_id, const struct token *t)
{
	int err = put(c, TOKEN_FORMAT, 1) ?: put(c, key_id, 4) ?: put(c, t->chunk_id, 8) ?:
		  put(c, t->version, 8) ?: put(c, t->ops, 4) ?: put(c, t->expires, 8) ?:
		  put(c, t->uid, 4) ?: put(c, t->n_chain, 1);
	for (unsigned i = 0; !err && i < t->n_chain; i++) {
		size_t n = strnlen(t->chain[i], TOKEN_ADDR_MAX);
		if (n == 0 || n == TOKEN_ADDR_MAX)
			return -EINVAL;
		err = put(c, n, 1);
		if (!err && c->left < n)
			err = -ENOSPC;
		if (!err) {
			memcpy(c->p, t->chain[i], n);
			c->p += n;
			c->left -= n;
		}
	}
	return err;
}

int token_sign(const struct token_keys *keys, const struct token *t, uint8_t *buf, size_t cap)
{
	if (!keys->current.id || t->n_chain > TOKEN_CHAIN_MAX)
		return -EINVAL;
	struct cursor c = {.p = buf, .left = cap};
	int err = put_fields(&c, keys->current.id, t);
	if (err)
		return err;
	if (c.left < TOKEN_MAC_LEN)
		return -ENOSPC;
	mac(keys->current.key, buf, (size_t)(c.p - buf), c.p);
	return (int)(c.p - buf) + TOKEN_MAC_LEN;
}

static int get_fields(struct cursor *c, struct token *t)
{
	uint64_t format, key_id, ops, uid, n_chain;
	int err = get(c, &format, 1) ?: get(c, &key_id, 4) ?: get(c, &t->chunk_id, 8) ?:
		  get(c, &t->version, 8) ?: get(c, &ops, 4) ?: get(c, &t->expires, 8) ?:
		  get(c, &uid, 4) ?: get(c, &n_chain, 1);
	if (err || format != TOKEN_FORMAT || n_chain > TOKEN_CHAIN_MAX)
		return -EACCES;
	t->key_id = (uint32_t)key_id;
	t->ops = (uint32_t)ops;
	t->uid = (uint32_t)uid;
	t->n_chain = (unsigned)n_chain;
	for (unsigned i = 0; i < t->n_chain; i++) {
		uint64_t n;
		if (get(c, &n, 1) || n == 0 || n >= TOKEN_ADDR_MAX || c->left < n)
			return -EACCES;
		memcpy(t->chain[i], c->r, n);
		t->chain[i][n] = '\0';
		if (strlen(t->chain[i]) != n)
			return -EACCES;
		c->r += n;
		c->left -= n;
	}
	return 0;
}

static const struct token_key *find_key(const struct token_keys *keys, uint32_t id)
{
	if (id && keys->current.id == id)
		return &keys->current;
	if (id && keys->previous.id == id)
		return &keys->previous;
	return NULL;
}

static int refuse(char **cause, const char *why)
{
	*cause = strdup(why);
	return -EACCES;
}

int token_verify(const struct token_keys *keys, const uint8_t *buf, size_t len, uint64_t now,
		 uint64_t chunk_id, uint64_t version, uint32_t ops, struct token *out, char **cause)
{
	struct token t = {0};
	*cause = NULL;
	if (len <= TOKEN_MAC_LEN || len > TOKEN_MAX_LEN)
		return refuse(cause,
			      len ? "malformed chunk access token" : "no chunk access token");
	struct cursor c = {.r = buf, .left = len - TOKEN_MAC_LEN};
	if (get_fields(&c, &t) || c.left != 0)
		return refuse(cause, "malformed chunk access token");
	const struct token_key *key = find_key(keys, t.key_id);
	if (!key)
		return refuse(cause, "chunk access token signed under an unknown key");
	uint8_t want[TOKEN_MAC_LEN];
	mac(key->key, buf, len - TOKEN_MAC_LEN, want);
	if (CRYPTO_memcmp(want, buf + len - TOKEN_MAC_LEN, TOKEN_MAC_LEN) != 0)
		return refuse(cause, "chunk access token has a bad signature");
	if (t.expires <= now)
		return refuse(cause, "chunk access token expired");
	if (t.chunk_id != chunk_id)
		return refuse(cause, "chunk access token is for another chunk");
	if (t.version != version)
		return refuse(cause, "chunk access token is for another chunk version");
	if ((t.ops & ops) != ops)
		return refuse(cause, "chunk access token does not allow this operation");
	if (out)
		*out = t;
	return 0;
}

int token_names(const struct token *t, const char *addr)
{
	for (unsigned i = 0; i < t->n_chain; i++)
		if (strcmp(t->chain[i], addr) == 0)
			return 1;
	return 0;
}

void token_auth_proof(const uint8_t secret[TOKEN_KEY_LEN], const uint8_t nonce[TOKEN_NONCE_LEN],
		      const char *user, uint8_t out[TOKEN_MAC_LEN])
{
	size_t ulen = strlen(user);
	uint8_t msg[sizeof(AUTH_LABEL) + TOKEN_NONCE_LEN + 256];
	if (ulen > 255)
		ulen = 255; /* names are far shorter; bounded so msg never overflows */
	memcpy(msg, AUTH_LABEL, sizeof(AUTH_LABEL));
	memcpy(msg + sizeof(AUTH_LABEL), nonce, TOKEN_NONCE_LEN);
	memcpy(msg + sizeof(AUTH_LABEL) + TOKEN_NONCE_LEN, user, ulen);
	mac(secret, msg, sizeof(AUTH_LABEL) + TOKEN_NONCE_LEN + ulen, out);
}

int token_auth_check(const uint8_t secret[TOKEN_KEY_LEN], const uint8_t nonce[TOKEN_NONCE_LEN],
		     const char *user, const uint8_t proof[TOKEN_MAC_LEN])
{
	uint8_t want[TOKEN_MAC_LEN];
	token_auth_proof(secret, nonce, user, want);
	return CRYPTO_memcmp(want, proof, TOKEN_MAC_LEN) == 0;
}
