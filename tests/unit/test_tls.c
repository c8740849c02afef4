/*
 * test_tls: TLS 1.3 handshakes between tls_ctx_new() contexts over a
 * socketpair, with certificates made by tools/cairn-certs: roles and names
 * of verified peers; a certificate of another CA, an expired one and
 * plaintext are refused.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "check.h"
#include "tls.h"

static char dir[] = "/tmp/cairn-test-tls-XXXXXX";

static void certs(const char *sub, const char *args)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s/tools/cairn-certs %s/%s %s", CAIRN_SOURCE_DIR, dir, sub,
		 args);
	if (system(cmd) != 0) {
		fprintf(stderr, "failed: %s\n", cmd);
		exit(1);
	}
}

static SSL_CTX *ctx(const char *sub, const char *name, int server)
{
	char cert[256], key[256], ca[256];
	snprintf(cert, sizeof(cert), "%s/%s/%s.pem", dir, sub, name);
	snprintf(key, sizeof(key), "%s/%s/%s.key", dir, sub, name);
	snprintf(ca, sizeof(ca), "%s/ok/ca.pem", dir);
	struct tls_files f = {cert, key, ca};
	char *cause = NULL;
	SSL_CTX *c = tls_ctx_new(&f, server, &cause);
	CHECKF(c, "tls_ctx_new(%s): %s", name, cause ? cause : "?");
	free(cause);
	return c;
}

/* Both ends of one connection, non-blocking over a socketpair. */
struct pair {
	SSL *srv, *cli;
	int fds[2];
};

static void pair_open(struct pair *p, SSL_CTX *s, SSL_CTX *c)
{
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fds) == 0);
	for (int i = 0; i < 2; i++)
		fcntl(p->fds[i], F_SETFL, O_NONBLOCK);
	p->srv = SSL_new(s);
	p->cli = SSL_new(c);
	SSL_set_fd(p->srv, p->fds[0]);
	SSL_set_fd(p->cli, p->fds[1]);
	SSL_set_accept_state(p->srv);
	SSL_set_connect_state(p->cli);
}

static void pair_close(struct pair *p)
{
	SSL_free(p->srv);
	SSL_free(p->cli);
	close(p->fds[0]);
	close(p->fds[1]);
}

/* Steps one end; 1 done, 0 waiting, -1 failed. */
static int step(SSL *ssl)
{
	if (SSL_is_init_finished(ssl))
		return 1;
	int rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return 1;
	int e = SSL_get_error(ssl, rc);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* Runs the handshake; 1 when both ends finished, 0 when either failed. */
static int handshake(struct pair *p)
{
	for (int i = 0; i < 1000; i++) {
		int s = step(p->srv), c = step(p->cli);
		if (s < 0 || c < 0)
			return 0;
		if (s == 1 && c == 1) {
			/* TLS 1.3: the server sees a bad client certificate only now. */
			char b;
			SSL_read(p->cli, &b, 0);
			SSL_read(p->srv, &b, 0);
			return SSL_get_verify_result(p->srv) == X509_V_OK &&
			       SSL_get_verify_result(p->cli) == X509_V_OK;
		}
	}
	return 0;
}

int main(void)
{
	CHECK(mkdtemp(dir));
	certs("ok", "ca");
	certs("ok", "cert meta metaserver");
	certs("ok", "cert cs1 chunkserver");
	certs("ok", "cert alice client");
	certs("ok", "cert brief client 1");
	certs("rogue", "ca");
	certs("rogue", "cert cs9 chunkserver");

	SSL_CTX *meta = ctx("ok", "meta", 1), *cs = ctx("ok", "cs1", 0);
	struct pair p;
	pair_open(&p, meta, cs);
	CHECK(handshake(&p));
	CHECK(SSL_version(p.srv) == TLS1_3_VERSION);
	CHECK(tls_peer_role(p.srv) == TLS_ROLE_CHUNKSERVER);
	CHECK(tls_peer_role(p.cli) == TLS_ROLE_METASERVER);
	char name[64];
	CHECK(tls_peer_name(p.srv, name, sizeof(name)) == 0 && strcmp(name, "cs1") == 0);
	const char msg[] = "frame";
	char got[sizeof(msg)] = {0};
	CHECK(SSL_write(p.cli, msg, sizeof(msg)) == (int)sizeof(msg));
	CHECK(SSL_read(p.srv, got, sizeof(got)) == (int)sizeof(msg) && !memcmp(got, msg, sizeof(msg)));
	pair_close(&p);

	SSL_CTX *alice = ctx("ok", "alice", 0);
	pair_open(&p, meta, alice);
	CHECK(handshake(&p));
	CHECK(tls_peer_role(p.srv) == TLS_ROLE_CLIENT);
	CHECK(strcmp(tls_role_name(tls_peer_role(p.srv)), "client") == 0);
	pair_close(&p);

	/* A chunkserver certificate of another CA: refused, no role. */
	SSL_CTX *rogue = ctx("rogue", "cs9", 0);
	pair_open(&p, meta, rogue);
	CHECK(!handshake(&p));
	CHECK(tls_peer_role(p.srv) == TLS_ROLE_NONE);
	CHECK(tls_peer_name(p.srv, name, sizeof(name)) < 0);
	pair_close(&p);

	/* A one-day certificate seen three days later: expired, refused. */
	SSL_CTX *later = ctx("ok", "meta", 1), *brief = ctx("ok", "brief", 0);
	X509_VERIFY_PARAM_set_time(SSL_CTX_get0_param(later), time(NULL) + 3 * 86400);
	pair_open(&p, later, brief);
	CHECK(!handshake(&p));
	CHECK(tls_peer_role(p.srv) == TLS_ROLE_NONE);
	pair_close(&p);

	/* Plaintext to a TLS server: the handshake fails, nothing is read. */
	pair_open(&p, meta, cs);
	CHECK(write(p.fds[1], "\0\0\0\x10plaintext frame!", 20) == 20);
	shutdown(p.fds[1], SHUT_WR);
	int rc = 0;
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = step(p.srv);
	CHECK(rc == -1);
	pair_close(&p);

	/* A key that is not the certificate's: a clear cause. */
	char cert[256], key[256], ca[256], *cause = NULL;
	snprintf(cert, sizeof(cert), "%s/ok/cs1.pem", dir);
	snprintf(key, sizeof(key), "%s/ok/alice.key", dir);
	snprintf(ca, sizeof(ca), "%s/ok/ca.pem", dir);
	struct tls_files bad = {cert, key, ca};
	CHECK(tls_ctx_new(&bad, 1, &cause) == NULL && cause && strstr(cause, "alice.key"));
	free(cause);

	SSL_CTX_free(meta);
	SSL_CTX_free(cs);
	SSL_CTX_free(alice);
	SSL_CTX_free(rogue);
	SSL_CTX_free(later);
	SSL_CTX_free(brief);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	if (failures)
		fprintf(stderr, "%d failure(s)\n", failures);
	return failures != 0;
}
