/*
 * rpc_sync: blocking calls over one connection, made on the caller's own
 * thread, with the same frames, call ids and error conventions as rpc.
 *
 * For a client thread that makes one call at a time (libcairn's API
 * calls): no event loop, no hand-off to another thread and back, so a call
 * costs one send(2), one blocking read(2) and one sleep/wake-up, where a
 * call through an event loop on another thread costs about three times
 * that in system calls and context switches.
 *
 * Not thread-safe: one thread at a time per rpc_sync (hold a mutex, or
 * trylock one and fall back to rpc_client on contention). Never raises
 * SIGPIPE. A call in flight when the connection breaks, or that times out
 * mid-send, fails with -CAIRN_EUNAVAIL or -ETIMEDOUT as with rpc; the
 * connection is remade by the next call, with no back-off of its own (the
 * caller retries as it sees fit). A reply that comes after its call timed
 * out is dropped by call id.
 */
#ifndef CAIRN_RPC_SYNC_H
#define CAIRN_RPC_SYNC_H

#include <event2/buffer.h>
#include <stdint.h>

#include "cairn.pb-c.h"

struct rpc_sync;

/*
 * Returns a new rpc_sync for addr ("HOST:PORT"; resolved with getaddrinfo()
 * on the first connect, which may block), not yet connected; free with
 * rpc_sync_free(). NULL when addr is not HOST:PORT or memory is short.
 */
struct rpc_sync *rpc_sync_new(const char *addr);

/* Closes the connection and frees s. No-op for NULL. */
void rpc_sync_free(struct rpc_sync *s);

/*
 * Sends req (call_id is filled in here) with payload (NULL for none; its
 * bytes are moved onto the wire) and waits for the reply, connecting first
 * if needed, all within timeout_ms (0: no deadline). Returns 0 on success,
 * the reply's status as a negative error, -ETIMEDOUT, -CAIRN_EUNAVAIL (no
 * connection, or lost), -ENOMEM, or rpc_call()'s framing errors (then
 * nothing was sent). Whenever a reply came (success or a status error),
 * *reply is a new envelope (free with cairn__envelope__free_unpacked(*reply,
 * NULL); reply->error may hold the server's words) and *payload a new
 * evbuffer (free with evbuffer_free()) or NULL; otherwise both are NULL.
 */
int rpc_sync_call(struct rpc_sync *s, Cairn__Envelope *req, struct evbuffer *payload,
		  uint64_t timeout_ms, Cairn__Envelope **reply, struct evbuffer **reply_payload);

/* Closes the connection now (the next call reconnects). */
void rpc_sync_close(struct rpc_sync *s);

/*
 * Whether the idle connection was closed or reset by the peer (looked at
 * without blocking; a late reply waiting to be read is not a close): then
 * it is closed here and 1 is returned; 0 when it is open, or was never
 * made. Not thread-safe, as every call here.
 */
int rpc_sync_lost(struct rpc_sync *s);

#endif
