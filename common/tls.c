/*
 * tls: cluster TLS contexts and certificate roles (see tls.h).
 */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

static const char *const role_names[] = {
    [TLS_ROLE_NONE] = "none",
    [TLS_ROLE_METASERVER] = "metaserver",
    [TLS_ROLE_CHUNKSERVER] = "chunkserver",
    [TLS_ROLE_CLIENT] = "client",
};

const char *tls_role_name(enum tls_role role)
{
	return (unsigned)role < sizeof(role_names) / sizeof(role_names[0]) ? role_names[role]
									    : "none";
}

const char *tls_last_error(void)
{
	static __thread char buf[256];
	unsigned long e = ERR_get_error();
	if (!e)
		return "unknown TLS error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static SSL_CTX *ctx_fail(SSL_CTX *ctx, char **cause, const char *what, const char *file)
{
	if (asprintf(cause, "%s %s: %s", what, file, tls_last_error()) < 0)
		*cause = NULL;
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_ctx_new(const struct tls_files *files, int server, char **cause)
{
	*cause = NULL;
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		return ctx_fail(ctx, cause, "cannot make a TLS context", "");
	if (SSL_CTX_use_certificate_chain_file(ctx, files->cert) != 1)
		return ctx_fail(ctx, cause, "cannot use the certificate", files->cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, files->key, SSL_FILETYPE_PEM) != 1)
		return ctx_fail(ctx, cause, "cannot use the key", files->key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ctx_fail(ctx, cause, "the key does not match the certificate", files->cert);
	if (SSL_CTX_load_verify_locations(ctx, files->ca, NULL) != 1)
		return ctx_fail(ctx, cause, "cannot load the CA", files->ca);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS);
	if (server)
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

/* The verified peer certificate's subject, or NULL. */
static const X509_NAME *peer_subject(const SSL *ssl)
{
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	X509 *cert = SSL_get0_peer_certificate(ssl);
	return cert ? X509_get_subject_name(cert) : NULL;
}

/* Copies the first entry nid of name into buf; 0 or -ENOENT. */
static int name_entry(const X509_NAME *name, int nid, char *buf, size_t len)
{
	int i = name ? X509_NAME_get_index_by_NID(name, nid, -1) : -1;
	if (i < 0 || len == 0)
		return -ENOENT;
	const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	int n = ASN1_STRING_length(s);
	if (n < 0 || (size_t)n >= len || memchr(ASN1_STRING_get0_data(s), 0, (size_t)n))
		return -ENOENT;
	memcpy(buf, ASN1_STRING_get0_data(s), (size_t)n);
	buf[n] = 0;
	return 0;
}

enum tls_role tls_peer_role(const SSL *ssl)
{
	char ou[32];
	if (name_entry(peer_subject(ssl), NID_organizationalUnitName, ou, sizeof(ou)) < 0 ||
	    strncmp(ou, "cairn-", 6) != 0)
		return TLS_ROLE_NONE;
	for (int r = TLS_ROLE_METASERVER; r <= TLS_ROLE_CLIENT; r++)
		if (strcmp(ou + 6, role_names[r]) == 0)
			return (enum tls_role)r;
	return TLS_ROLE_NONE;
}

int tls_peer_name(const SSL *ssl, char *buf, size_t len)
{
	if (len)
		buf[0] = 0;
	return name_entry(peer_subject(ssl), NID_commonName, buf, len);
}
