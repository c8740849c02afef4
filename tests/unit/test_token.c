/*
 * test_token: chunk access tokens (common/token.c). A signed token verifies
 * for its chunk, version and ops and gives back every field; each attack is
 * refused with a cause: another chunk, an older version, an expired token, a
 * read token used to write, a flipped byte anywhere, a truncated or padded
 * token, a key the chunkserver does not hold, a token signed under another
 * key. After one rotation the old key's tokens still verify, after two they
 * do not. Random bytes never verify. The authentication proof is bound to
 * the secret, the nonce and the user.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

#include "util.h"

#include "check.h"

static struct token sample(void)
{
	struct token t = {.chunk_id = 42,
			  .version = 7,
			  .ops = TOKEN_WRITE,
			  .expires = 1000,
			  .uid = 1001,
			  .n_chain = 2};
	strcpy(t.chain[0], "127.0.0.1:9001");
	strcpy(t.chain[1], "127.0.0.1:9002");
	return t;
}

static int refused(const struct token_keys *k, const uint8_t *b, size_t n, uint64_t now,
		   uint64_t chunk, uint64_t version, uint32_t ops)
{
	char *cause = NULL;
	int err = token_verify(k, b, n, now, chunk, version, ops, NULL, &cause);
	int ok = err == -EACCES && cause && *cause;
	free(cause);
	return ok;
}

static void test_roundtrip_and_attacks(void)
{
	struct token_keys k = {0};
	CHECK(token_keys_rotate(&k) == 0 && k.current.id == 1 && k.previous.id == 0);
	struct token t = sample(), back;
	uint8_t buf[TOKEN_MAX_LEN];
	int n = token_sign(&k, &t, buf, sizeof(buf));
	CHECK(n > TOKEN_MAC_LEN);
	char *cause = NULL;
	CHECK(token_verify(&k, buf, (size_t)n, 999, 42, 7, TOKEN_WRITE, &back, &cause) == 0);
	CHECK(!cause && back.chunk_id == 42 && back.version == 7 && back.uid == 1001);
	CHECK(back.n_chain == 2 && token_names(&back, "127.0.0.1:9002"));
	CHECK(!token_names(&back, "10.0.0.9:9002"));

	CHECK(refused(&k, buf, (size_t)n, 999, 43, 7, TOKEN_WRITE));  /* another chunk */
	CHECK(refused(&k, buf, (size_t)n, 999, 42, 6, TOKEN_WRITE));  /* older version */
	CHECK(refused(&k, buf, (size_t)n, 1000, 42, 7, TOKEN_WRITE)); /* expired */
	CHECK(refused(&k, buf, (size_t)n, 999, 42, 7, TOKEN_READ));   /* not granted */
	CHECK(refused(&k, buf, 0, 999, 42, 7, TOKEN_WRITE));	      /* none */
	CHECK(refused(&k, buf, (size_t)n - 1, 999, 42, 7, TOKEN_WRITE));
	for (int i = 0; i < n; i++) {
		buf[i] ^= 0x01;
		CHECKF(refused(&k, buf, (size_t)n, 999, 42, 7, TOKEN_WRITE), "flip at %d", i);
		buf[i] ^= 0x01;
	}
	uint8_t padded[TOKEN_MAX_LEN + 1];
	memcpy(padded, buf, (size_t)n);
	padded[n] = 0;
	CHECK(refused(&k, padded, (size_t)n + 1, 999, 42, 7, TOKEN_WRITE));

	struct token_keys other = {0};
	CHECK(token_keys_rotate(&other) == 0); /* same id 1, another key */
	CHECK(refused(&other, buf, (size_t)n, 999, 42, 7, TOKEN_WRITE));

	t.ops = TOKEN_READ;
	n = token_sign(&k, &t, buf, sizeof(buf));
	CHECK(refused(&k, buf, (size_t)n, 999, 42, 7, TOKEN_WRITE)); /* read token to write */
	CHECK(token_verify(&k, buf, (size_t)n, 999, 42, 7, TOKEN_READ, NULL, &cause) == 0);
}

static void test_rotation(void)
{
	struct token_keys k = {0};
	CHECK(token_keys_rotate(&k) == 0);
	struct token t = sample();
	uint8_t buf[TOKEN_MAX_LEN];
	int n = token_sign(&k, &t, buf, sizeof(buf));
	char *cause = NULL;
	CHECK(token_keys_rotate(&k) == 0 && k.current.id == 2 && k.previous.id == 1);
	CHECK(token_verify(&k, buf, (size_t)n, 0, 42, 7, TOKEN_WRITE, NULL, &cause) == 0);
	CHECK(token_keys_rotate(&k) == 0);
	CHECK(refused(&k, buf, (size_t)n, 0, 42, 7, TOKEN_WRITE));
}

static void test_bad_input(void)
{
	struct token_keys k = {0}, none = {0};
	struct token t = sample();
	uint8_t buf[TOKEN_MAX_LEN];
	CHECK(token_sign(&none, &t, buf, sizeof(buf)) == -EINVAL);
	CHECK(token_keys_rotate(&k) == 0);
	CHECK(token_sign(&k, &t, buf, 20) == -ENOSPC);
	t.n_chain = TOKEN_CHAIN_MAX + 1;
	CHECK(token_sign(&k, &t, buf, sizeof(buf)) == -EINVAL);
	t.n_chain = 1;
	memset(t.chain[0], 'a', TOKEN_ADDR_MAX);
	CHECK(token_sign(&k, &t, buf, sizeof(buf)) == -EINVAL);
	t.n_chain = TOKEN_CHAIN_MAX;
	for (unsigned i = 0; i < TOKEN_CHAIN_MAX; i++) {
		memset(t.chain[i], 'b', TOKEN_ADDR_MAX - 1);
		t.chain[i][TOKEN_ADDR_MAX - 1] = '\0';
	}
	CHECK(token_sign(&k, &t, buf, sizeof(buf)) > 0); /* the largest fits TOKEN_MAX_LEN */
	srand(12);
	for (int i = 0; i < 2000; i++) {
		size_t len = (size_t)rand() % sizeof(buf);
		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rand();
		CHECK(refused(&k, buf, len, 0, 42, 7, TOKEN_WRITE));
	}
}

static void test_auth_proof(void)
{
	uint8_t secret[TOKEN_KEY_LEN], nonce[TOKEN_NONCE_LEN], proof[TOKEN_MAC_LEN];
	CHECK(random_fill(secret, sizeof(secret)) == 0 && random_fill(nonce, sizeof(nonce)) == 0);
	token_auth_proof(secret, nonce, "alice", proof);
	CHECK(token_auth_check(secret, nonce, "alice", proof));
	CHECK(!token_auth_check(secret, nonce, "bob", proof));
	nonce[0] ^= 1;
	CHECK(
	    !token_auth_check(secret, nonce, "alice", proof)); /* a replay on another connection */
	nonce[0] ^= 1;
	secret[5] ^= 1;
	CHECK(!token_auth_check(secret, nonce, "alice", proof)); /* a rotated secret */
}

int main(void)
{
	test_roundtrip_and_attacks();
	test_rotation();
	test_bad_input();
	test_auth_proof();
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
