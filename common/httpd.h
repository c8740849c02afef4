/*
 * httpd: the daemons' small HTTP listeners (the metaserver's console and
 * API, every daemon's /metrics), on libevent's evhttp, with one set of
 * limits: headers, body and idle time per connection are bounded, and any
 * method reaches the handler, which answers 405 to what it does not serve.
 */
#ifndef CAIRN_HTTPD_H
#define CAIRN_HTTPD_H

#include <event2/event.h>

struct evhttp;
struct evhttp_request;

#define HTTPD_HEADERS_MAX 16384 /* bytes of a request's headers */
#define HTTPD_BODY_MAX	  4096	/* bytes of a request's body */
#define HTTPD_IDLE_S	  30	/* seconds a connection may idle */

/*
 * Listens on addr ("HOST:PORT"; flag names the option in errors) with
 * every request going to cb(req, arg). HOST is resolved with getaddrinfo
 * (blocking: start-up only). Returns a new evhttp (free with evhttp_free())
 * or NULL with a new *cause.
 */
struct evhttp *httpd_listen(struct event_base *base, const char *addr, const char *flag,
			    void (*cb)(struct evhttp_request *req, void *arg), void *arg,
			    char **cause);

#endif
