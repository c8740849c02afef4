/*
 * tls: the cluster's TLS 1.3 contexts and the roles its certificates name
 * (DESIGN §10; issue 12).
 *
 * Every certificate is signed by the cluster CA and names its holder's role
 * in the subject's OU: "cairn-metaserver", "cairn-chunkserver" or
 * "cairn-client" (tools/cairn-certs makes them), and its name in the CN.
 * Both ends of every connection present a certificate and verify the other's
 * chain against the CA only (no public roots, no host-name check: the CA is
 * the cluster's own, and the role is what a server authorizes on). Only TLS
 * 1.3 is offered or accepted.
 *
 * Not yet wired into common/rpc.c: this is the layer it will use.
 */
#ifndef CAIRN_TLS_H
#define CAIRN_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

enum tls_role {
	TLS_ROLE_NONE, /* no verified certificate, or no cairn role in it */
	TLS_ROLE_METASERVER,
	TLS_ROLE_CHUNKSERVER,
	TLS_ROLE_CLIENT,
};

/* PEM files: this process's certificate and key, and the cluster CA. */
struct tls_files {
	const char *cert;
	const char *key;
	const char *ca;
};

/*
 * A new context for the server (server != 0) or client side of connections:
 * TLS 1.3 only, peer certificate required and verified against files->ca.
 * Returns it (free with SSL_CTX_free()), or NULL with a new *cause naming
 * the file or setting that failed.
 */
SSL_CTX *tls_ctx_new(const struct tls_files *files, int server, char **cause);

/* The role named by ssl's verified peer certificate; NONE when unverified. */
enum tls_role tls_peer_role(const SSL *ssl);

/*
 * Copies the verified peer certificate's CN into buf (len bytes, always
 * NUL-terminated). Returns 0, or -ENOENT when there is none.
 */
int tls_peer_name(const SSL *ssl, char *buf, size_t len);

/* "metaserver", "chunkserver", "client" or "none". */
const char *tls_role_name(enum tls_role role);

/* The first queued OpenSSL error as text, for log lines and causes. */
const char *tls_last_error(void);

#endif
