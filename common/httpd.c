/*
 * httpd: an evhttp listener with the daemons' limits (see httpd.h).
 */
#include "httpd.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

struct evhttp *httpd_listen(struct event_base *base, const char *addr, const char *flag,
			    void (*cb)(struct evhttp_request *req, void *arg), void *arg,
			    char **cause)
{
	char *host = NULL;
	uint16_t port;
	*cause = NULL;
	if (addr_parse(addr, &host, &port) < 0) {
		*cause = xasprintf("%s %s: not HOST:PORT", flag, addr);
		return NULL;
	}
	struct evhttp *http = evhttp_new(base);
	if (!http || evhttp_bind_socket(http, host, port) < 0) {
		*cause = xasprintf("%s %s: cannot listen there", flag, addr);
		if (http)
			evhttp_free(http);
		free(host);
		return NULL;
	}
	free(host);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
					     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_timeout(http, HTTPD_IDLE_S);
	evhttp_set_max_headers_size(http, HTTPD_HEADERS_MAX);
	evhttp_set_max_body_size(http, HTTPD_BODY_MAX);
	evhttp_set_gencb(http, cb, arg);
	return http;
}
