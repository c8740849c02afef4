/*
 * nodes: the metaserver's registry of chunkservers (DESIGN §4).
 *
 * A chunkserver is known by the address clients reach it at. It registers
 * (RegisterReq) on every connection and then heartbeats; each call
 * refreshes its space, load and last-heard time. A node silent for more
 * than dead_after_ms is dead: it is not live from that moment (whoever
 * asks), and nodes_expire() marks it so and reports it once. A dead node
 * must register again to come back.
 *
 * Each node has a small numeric id, its index here: ids are dense, never
 * reused and stay valid for the table's life (a node that re-registers
 * keeps its id), so the chunk map stores ids, not pointers.
 *
 * Each node also has a queue of chunk ids to tell it to delete (replicas
 * the namespace dropped or that went stale), drained into its next
 * NodeResp. Registration starts from a fresh report, so it clears the
 * queue.
 *
 * A report too large for one frame comes in pages: the RegisterReq is
 * page 0 and opens the report (nodes_report_begin()), each later page is
 * checked and counted (nodes_report_page()), and the last one closes it
 * (nodes_report_end()). A node is reporting from the first page to the
 * last; a new registration, or the node's death, abandons the report.
 *
 * Pure: the caller passes the (monotonic) time in milliseconds. Not
 * thread-safe: one thread owns a registry.
 */
#ifndef CAIRN_NODES_H
#define CAIRN_NODES_H

#include <stddef.h>
#include <stdint.h>

#define NODES_ADDR_MAX 255 /* bytes of an address or a rack name */

struct nodes;

/* One chunkserver. Read-only outside nodes.c; borrowed for the registry's life. */
struct nodes_node {
	uint32_t id;
	char *addr;
	char *rack; /* "" when unknown */
	uint64_t capacity;
	uint64_t used;
	uint64_t nchunks;
	uint32_t load;
	uint64_t last_ms;   /* last registration or heartbeat */
	uint64_t joined_ms; /* last registration */
	int up;		    /* registered and not declared dead */
	int decom;	    /* being decommissioned (its address is in the set) */
	uint64_t *deletes;  /* queued chunk ids */
	size_t ndeletes;
	size_t deletes_cap;
	uint64_t report_id;   /* the paged report in progress, or 0 */
	uint32_t report_page; /* the page it expects next */
};

/* Returns a new empty registry (free with nodes_free()). */
struct nodes *nodes_new(uint64_t dead_after_ms);
void nodes_free(struct nodes *n);

/*
 * A RegisterReq from addr: adds the node or refreshes it (up, space, rack,
 * time; its delete queue emptied, a report in progress abandoned). *out
 * gets the node. Returns 1 for a node seen before (its old replica set
 * must be replaced), 0 for a new one, or -EINVAL for an empty or overlong
 * addr or rack.
 */
int nodes_register(struct nodes *n, const char *addr, const char *rack, uint64_t capacity,
		   uint64_t used, uint64_t now_ms, struct nodes_node **out);

/*
 * A HeartbeatReq: refreshes a live node. Returns 0, -ENOENT when addr is
 * unknown or not live, or -ESRCH when its paged report is unfinished (a
 * heartbeat then means the chunkserver gave the report up); either way it
 * must register again.
 */
int nodes_heartbeat(struct nodes *n, const char *addr, uint64_t capacity, uint64_t used,
		    uint32_t load, uint64_t nchunks, uint64_t now_ms, struct nodes_node **out);

/* Opens a paged report on a just registered node: report_id (non-zero), page 1 next. */
void nodes_report_begin(struct nodes *n, struct nodes_node *node, uint64_t report_id);

/*
 * Page page of report report_id from addr: checks it is the page the
 * node's report expects next, refreshes the node's time and counts the
 * page. Returns 0 with *out, -ENOENT when addr is unknown or not live,
 * -ESRCH when it has no such report (abandoned, or never opened), or
 * -EPROTO for a page out of order (the report is abandoned).
 */
int nodes_report_page(struct nodes *n, const char *addr, uint64_t report_id, uint32_t page,
		      uint64_t now_ms, struct nodes_node **out);

/* Closes node's report (its last page came). No-op when none is open. */
void nodes_report_end(struct nodes *n, struct nodes_node *node);

/* Nodes with a paged report in progress. */
size_t nodes_reporting(const struct nodes *n);

/* The node with that address or id, or NULL. */
struct nodes_node *nodes_find(const struct nodes *n, const char *addr);
struct nodes_node *nodes_get(const struct nodes *n, uint32_t id);

/* Nodes ever registered (ids are 0 .. this - 1). */
size_t nodes_count(const struct nodes *n);

/* Whether node is up and heard from within dead_after_ms. */
int nodes_live(const struct nodes *n, const struct nodes_node *node, uint64_t now_ms);

/* Live nodes now. */
size_t nodes_nlive(const struct nodes *n, uint64_t now_ms);

/* Bytes free on node (capacity - used, 0 when used is over). */
uint64_t nodes_free_bytes(const struct nodes_node *node);

/*
 * Marks every node that is up but silent past dead_after_ms as dead (its
 * report in progress abandoned), calling fn (when non-NULL) for each.
 * Returns how many.
 */
typedef void (*nodes_dead_fn)(void *arg, struct nodes_node *node);
size_t nodes_expire(struct nodes *n, uint64_t now_ms, nodes_dead_fn fn, void *arg);

/*
 * Adds addr to the decommission set (on) or takes it out (off), and sets
 * the flag of the node with that address, if any. Returns 1 when the set
 * changed, 0 when it already was so, or -EINVAL for an empty or
 * overlong addr.
 */
int nodes_decommission(struct nodes *n, const char *addr, int on);

/* The decommission set: *out borrowed until it next changes. Returns its size. */
size_t nodes_decommission_list(const struct nodes *n, char *const **out);

/* Queues chunk_id for node to delete. Returns 0 (it cannot fail). */
int nodes_queue_delete(struct nodes_node *node, uint64_t chunk_id);
/* Takes chunk_id off node's queue (the replica is wanted again). */
void nodes_unqueue_delete(struct nodes_node *node, uint64_t chunk_id);
/* Moves up to max queued ids into out, oldest first. Returns how many. */
size_t nodes_take_deletes(struct nodes_node *node, uint64_t *out, size_t max);

#endif
