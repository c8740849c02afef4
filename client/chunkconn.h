/*
 * chunkconn: libcairn's pool of connections to chunkservers, one per
 * address per handle, living on the handle's loop thread.
 *
 * Unlike an rpc_client, which holds calls while it cannot connect until
 * their deadlines run out, a pool answers every ask at once or as soon as
 * the connect ends: a reader that meets a refusing chunkserver moves to
 * the next replica without waiting. Every function here runs on the loop
 * thread of the event_base the pool was made with.
 */
#ifndef CAIRN_CHUNKCONN_H
#define CAIRN_CHUNKCONN_H

#include <stdint.h>

#include <event2/event.h>

struct rpc_conn;
struct chunkconn_pool;

/*
 * The answer to chunkconn_get(): conn, borrowed for this callback (make
 * calls on it with rpc_call()), or NULL with err (-CAIRN_EUNAVAIL: the
 * connect failed, timed out, or the pool is closing; -ENOMEM) and why, a
 * line naming the chunkserver and the cause (borrowed for this callback).
 */
typedef void (*chunkconn_ready_fn)(struct rpc_conn *conn, int err, const char *why, void *arg);

/*
 * Returns a new, empty pool whose connects give up after connect_ms (at
 * most 5 s), or NULL when out of memory. Free with chunkconn_pool_free().
 */
struct chunkconn_pool *chunkconn_pool_new(struct event_base *base, uint64_t connect_ms);

/*
 * Closes every connection (their calls in flight fail with
 * -CAIRN_EUNAVAIL, and asks made from those callbacks fail at once), fails
 * the asks waiting for a connect, and frees p. No-op for NULL.
 */
void chunkconn_pool_free(struct chunkconn_pool *p);

/*
 * Calls fn with an open connection to addr ("HOST:PORT"): at once when
 * there is one (before this returns), else once a connect started here
 * ends. After a failed connect the address counts as down for a second:
 * asks during that time fail at once. HOST should be an IP address: a
 * name is resolved with getaddrinfo(), which blocks the loop.
 */
void chunkconn_get(struct chunkconn_pool *p, const char *addr, chunkconn_ready_fn fn, void *arg);

/*
 * Marks addr slow: a call to it got no answer in time. Readers try slow
 * chunkservers last for CHUNKCONN_SLOW_MS (a hung node costs them one
 * timeout, not one per read).
 */
void chunkconn_mark_slow(struct chunkconn_pool *p, const char *addr);

/* 1 while addr counts as slow (or, after a failed connect, down). */
int chunkconn_is_slow(struct chunkconn_pool *p, const char *addr);

#endif
