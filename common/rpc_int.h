/*
 * rpc_int: what rpc.c (connections, calls, clients) and rpc_server.c
 * (listeners, limits) share; not part of rpc.h. The design and the
 * invariants are at the top of rpc.c.
 */
#ifndef CAIRN_RPC_INT_H
#define CAIRN_RPC_INT_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "frame.h"
#include "rpc.h"

#define RPC_READ_FRAMES	      256u	   /* frames parsed per read callback */
#define RPC_READ_BYTES	      (4u << 20)   /* bytes parsed per read callback */
#define RPC_READ_MIN	      (16u << 10)  /* first and smallest read(2) */
#define RPC_MAX_READ	      (256u << 10) /* bytes per read(2) */
#define RPC_MAX_WRITE	      (1u << 20)   /* bytes per writev(2) */
#define RPC_WRITE_TURN	      (4u << 20)   /* bytes written per turn before yielding */
#define RPC_IN_HIGH	      (FRAME_HEADER_SIZE + FRAME_MAX_ENVELOPE + FRAME_MAX_PAYLOAD + (1u << 20))
#define RPC_TABLE_MIN	      64u	   /* initial buckets of a conn's call table */
#define RPC_CONNECT_TIMEOUT_S 5		   /* a connect still pending after this fails */
#define RPC_MAX_TIMEOUT_MS    (1ull << 40) /* ~35 years: keeps deadline sums in range */
#define RPC_BACKOFF_MIN_MS    50u
#define RPC_BACKOFF_MAX_MS    2000u
#define RPC_ACCEPT_PAUSE_MS   100u /* listener rest after an accept error (EMFILE) */
#define RPC_SWEEP_MIN_MS      50u
#define RPC_SWEEP_MAX_MS      1000u
#define RPC_DEF_CONNS	      4096
#define RPC_DEF_BUFFERED      (256ull << 20)
#define RPC_DEF_TIMEOUT_MS    30000u

/* Why a server closed or held back a connection: each logged once per window. */
enum rpc_cause {
	CAUSE_CONNS,
	CAUSE_BIG_FRAME,
	CAUSE_SLOW_FRAME,
	CAUSE_IDLE,
	CAUSE_FULL,
	CAUSE_BAD_FRAME,
	N_CAUSES
};

/* A cause's log window: the first event is logged, the rest counted. */
struct rpc_note {
	uint64_t since; /* monotonic ms the window began; 0: none open */
	uint64_t more;	/* events since the logged one */
};

struct rpc_pending;

TAILQ_HEAD(rpc_pending_list, rpc_pending);

/* The calls of one conn or client that have a deadline, earliest first. */
struct rpc_deadlines {
	struct rpc_pending_list list;
	struct event *timer;
	uint64_t armed; /* monotonic ms the timer fires at; 0 when not armed */
};

struct rpc_pending {
	struct rpc_pending *hnext;	/* call table chain, while sent */
	TAILQ_ENTRY(rpc_pending) qlink; /* client queue, or a list being failed */
	TAILQ_ENTRY(rpc_pending) dlink; /* deadline list, while dl is set */
	uint64_t id;
	uint64_t deadline;	  /* monotonic ms; 0 for none */
	struct rpc_deadlines *dl; /* on this deadline list; NULL when not */
	struct rpc_conn *conn;	  /* sent on; NULL while queued */
	struct rpc_client *cl;	  /* queued on; NULL once sent */
	struct evbuffer *frame;	  /* the framed call, while queued */
	rpc_reply_fn cb;
	void *arg;
};

struct rpc_conn {
	struct event_base *base;
	evutil_socket_t fd; /* -1 once closed */
	struct evbuffer *in, *out;
	struct event *rev;    /* readable (persistent) */
	struct event *wev;    /* writable, or the connect finished (persistent) */
	struct event *flush;  /* made active to write output framed outside a read */
	struct event *resume; /* zero timer: parse more buffered input */
	const struct rpc_conn_ops *ops;
	void *arg;
	int refs;
	unsigned open : 1;	 /* not yet closed */
	unsigned connecting : 1; /* client side, connect(2) in progress */
	unsigned paused : 1;	 /* reading stopped for back-pressure */
	unsigned reading : 1;	 /* rev is added */
	unsigned writing : 1;	 /* wev is added */
	unsigned flushing : 1;	 /* flush is active */
	unsigned in_input : 1;	 /* inside conn_process_input(): it writes at its end */
	unsigned called : 1;	 /* a request has come in (idle_timeout_ms no longer applies) */
	unsigned starved : 1;	 /* on its server's starved list */
	size_t rdsize;		 /* bytes the next read(2) asks for */
	uint64_t next_id;
	struct rpc_pending **table; /* sent calls by id; nbuckets is a power of 2 */
	size_t nbuckets, ncalls;
	struct rpc_deadlines own_dl; /* deadlines of calls made on a conn of no client */
	struct rpc_server *server;   /* accepted by, until closed */
	LIST_ENTRY(rpc_conn) slink;
	LIST_ENTRY(rpc_conn) starve_link; /* while starved */
	struct rpc_conn *doomed;	  /* next in a sweep's list of conns to close */
	size_t counted;			  /* input bytes counted in the server's total */
	uint64_t accepted_ms;		  /* monotonic */
	uint64_t partial_ms;		  /* an unfinished frame is buffered since; 0: none */
	struct rpc_client *client;	  /* made by, until closed */
	char peer[64];
};

struct rpc_server {
	struct event_base *base;
	struct evconnlistener *lev;
	struct event *accept_resume;
	const struct rpc_conn_ops *ops;
	void *arg;
	LIST_HEAD(, rpc_conn) conns;
	unsigned nconns;
	int port;
	struct rpc_limits lim;
	size_t buffered; /* input held by the conns (see the invariants) */
	LIST_HEAD(, rpc_conn) starved;
	struct event *sweep;
	struct rpc_note notes[N_CAUSES];
};

struct rpc_client {
	struct event_base *base;
	char *addr;
	const struct rpc_conn_ops *ops;
	void *arg;
	struct rpc_conn *conn; /* connecting or connected; NULL when neither */
	struct rpc_pending_list queue;
	struct rpc_deadlines dl; /* every call of this client with a deadline */
	struct event *retry;
	uint64_t backoff_ms;
	uint64_t next_id;
	struct sockaddr_storage sa;
	socklen_t salen; /* 0 until resolved */
	int freeing;
};

/* Makes a conn around fd (connecting: a connect(2) is in progress). Returns it or NULL. Loop
 * thread. */
struct rpc_conn *rpc_conn_create(struct event_base *base, evutil_socket_t fd,
				 const struct rpc_conn_ops *ops, void *arg, int connecting);
/* Adds or removes c's read event as the invariants in rpc.c require. */
void rpc_conn_update_read(struct rpc_conn *c);
/* Writes sa as "host:port" into buf. */
void rpc_format_addr(const struct sockaddr *sa, char *buf, size_t len);

/* rpc_server.c: a closed conn leaves its server; a cause is noted (logged once per window); waiting
 * conns are woken. */
void rpc_server_conn_closed(struct rpc_server *s, struct rpc_conn *c);
void rpc_server_note(struct rpc_server *s, enum rpc_cause why, const char *peer,
		     const char *detail);
void rpc_server_wake(struct rpc_server *s);

#endif
