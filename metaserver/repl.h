/*
 * repl: the replication planner (DESIGN §4): which chunks to copy where,
 * which surplus replicas to trim, which bad replicas to delete, and the
 * copies in flight.
 *
 * A scan (repl_scan(), every --scan-interval) looks at every chunk of the
 * chunk map. The caller says what each one wants (its file's replication,
 * its bytes, whether a writer holds the file's lease). Counting only the
 * replicas on live nodes, a chunk is
 *  - held: its file is under a write lease; left alone until the writer
 *    closes (its replicas are still changing);
 *  - missing: no live replica; nothing to copy from;
 *  - under-replicated: fewer live replicas plus copies in flight than
 *    wanted: a candidate for copies. Candidates go most endangered first
 *    (fewest live replicas, then most missing, then chunk id);
 *  - over-replicated with no copy in flight: the surplus replicas are
 *    dropped from the map and queued for deletion on their nodes, fullest
 *    node (used / capacity) first.
 *
 * Decommissioning nodes (nodes.h) keep serving reads, so their replicas
 * are sources and count for fsck (repl_health()), but not toward the
 * target: a chunk with one there is short until a copy elsewhere is done,
 * and then the replica there is trimmed first. So a decommissioning node
 * drains to no replicas without a chunk ever below its target.
 *
 * Racks: a copy goes to the racks holding the fewest of the chunk's
 * replicas (placement_choose_more()). A chunk whose counting replicas
 * sit on one rack while another rack has a node with room (and it wants
 * two or more) is misplaced: it gets one copy on another rack, and the
 * surplus is trimmed after. Trimming never leaves the replicas that stay
 * on fewer than min(2, target, racks before) racks.
 *
 * Rebalancing (repl_set_threshold(), DESIGN §4): utilisation is a node's
 * estimated replica bytes (repl_replica_bytes() of each chunk it holds)
 * over its capacity, among nodes that count (live, not decommissioning,
 * with a capacity); the mean is their total bytes over total capacity.
 * Once a node is more than the threshold from the mean, moves go on
 * until every node is within half of it (so a rebalance does not stop
 * at the edge, nor start again at the next small drift). A move is a
 * copy of a healthy chunk from a fuller node (the fullest first) to the
 * emptiest node that may take it (without the chunk, with room, not
 * pushed past the band, racks kept: the same rule as trimming); when it
 * is done the chunk has one replica over target and the next scan trims
 * the one on the node it came from. So a chunk is never below target;
 * a move cut short (target died, metaserver restarted) leaves at worst a
 * surplus replica that trimming removes. Moves take the copy throttle's
 * slots after repairs have taken theirs, at most move_copies at once.
 *
 * Throttling, so that client I/O keeps priority: a node receives at most
 * node_copies copies at once and serves at most source_copies (as the
 * first source named), and at most total_copies are in flight in all. A
 * copy goes to a live node without a replica of the chunk, with room for
 * it, chosen by placement_choose() (racks, free space, load); its
 * sources are the live replicas, least busy first.
 *
 * A copy is planned here, handed to its target with repl_take() (the
 * metaserver puts it in the node's next NodeResp), and ends with
 * repl_done() (the node reported the replica complete and durable; the
 * caller records it in the chunk map first), with repl_failed(), when its
 * target dies or registers again (repl_node_reset()), or after
 * timeout_ms. A copy never counts as a replica before it is done.
 *
 * Bad replicas: a replica found corrupt (or of a stale version) is out of
 * the chunk map already; repl_mark_bad() remembers it until the chunk is
 * whole again (live replicas >= wanted, no copy in flight) or gone from
 * the map, and then queues the corrupt replica's deletion on its node
 * (unless that node holds a good replica again). So a bad copy is deleted
 * only after a good set exists, and fsck can name it meanwhile.
 *
 * Pure: the caller passes the monotonic time and a random state. Not
 * thread-safe: one thread owns a planner.
 */
#ifndef CAIRN_REPL_H
#define CAIRN_REPL_H

#include <stddef.h>
#include <stdint.h>

struct repl;
struct nodes;
struct chunkmap;
struct chunkmap_chunk;

#define REPL_SOURCES_MAX 4 /* sources named in one copy */

/* The throttle; repl_new(NULL) takes 2, 2, 64, 120 s and 16. */
struct repl_limits {
	uint32_t node_copies;	/* copies a node receives at once */
	uint32_t source_copies; /* copies a node serves at once (as first source) */
	uint32_t total_copies;	/* copies in flight in the cluster */
	uint64_t timeout_ms;	/* a copy not done by then is forgotten */
	uint32_t move_copies;	/* of them, rebalancing moves (0: none) */
};

/* What one chunk wants, as the caller's repl_want_fn says. */
struct repl_want {
	uint32_t target; /* replicas wanted */
	uint64_t length; /* bytes of the file in this chunk (what a copy needs) */
	int hold;	 /* a writer holds the file's lease: neither copy nor trim */
};

/* Fills *w for chunk c. Returns 0, or non-zero to skip the chunk. */
typedef int (*repl_want_fn)(void *arg, const struct chunkmap_chunk *c, struct repl_want *w);

/* One copy for a node to make. */
struct repl_cmd {
	uint64_t chunk_id;
	uint64_t version;
	uint64_t file_id;
	uint64_t length;
	uint32_t sources[REPL_SOURCES_MAX]; /* node ids, best first */
	uint32_t nsources;
};

/* What one scan saw and did. */
struct repl_stats {
	size_t chunks;	   /* chunks looked at */
	size_t under;	   /* under-replicated (copies in flight not counted) */
	size_t missing;	   /* no live replica */
	size_t over;	   /* over-replicated */
	size_t held;	   /* under a write lease */
	size_t started;	   /* copies planned */
	size_t waiting;	   /* candidates left for a later scan (throttled) */
	size_t trimmed;	   /* surplus replicas dropped */
	size_t expired;	   /* copies forgotten: timed out or their target died */
	size_t cleared;	   /* bad replicas settled (deleted, or replaced) */
	size_t misplaced;  /* chunks on one rack given a copy on another */
	size_t moves;	   /* rebalancing moves planned */
	int moves_waiting; /* the rebalancer wanted more moves than the throttle let it plan */
};

/* The rebalancer at the last scan (repl_balance()). */
struct repl_balance {
	double mean;	 /* mean utilisation of the nodes that count, 0..1 */
	double spread;	 /* largest |utilisation - mean| of one of them */
	size_t nodes;	 /* nodes that count */
	size_t inflight; /* moves in flight */
	uint64_t moved;	 /* moves done since the planner started */
	uint64_t bytes;	 /* and their bytes */
	int balanced;	 /* spread within the threshold, no move in flight */
	int blocked;	 /* out of balance, yet no chunk may move */
};

/* Kinds of bad replicas (repl_mark_bad()). */
enum repl_bad_kind {
	REPL_BAD_CORRUPT = 1,
	REPL_BAD_STALE = 2,
};

/* A chunk's health, for fsck (repl_health()). */
enum repl_health {
	REPL_HEALTHY = 0,
	REPL_UNDER,   /* some live replica, fewer than wanted */
	REPL_MISSING, /* no live replica */
	REPL_CORRUPT, /* a replica found corrupt, not settled yet */
	REPL_STALE,   /* a stale replica not settled yet */
};

/* Returns a new planner (free with repl_free()) or NULL. lim NULL: the defaults. */
struct repl *repl_new(const struct repl_limits *lim);
void repl_free(struct repl *r);

/*
 * One scan over cm (see the top of this file): expires copies, plans new
 * ones (repl_take() hands them out), trims surplus replicas (dropped from
 * cm and queued with nodes_queue_delete()), settles bad replicas. *st
 * (may be NULL) gets what it saw and did. Returns 0 (allocation failure
 * aborts, as everywhere in the metaserver).
 */
int repl_scan(struct repl *r, struct nodes *n, struct chunkmap *cm, uint64_t now_ms,
	      repl_want_fn want, void *arg, uint64_t *rng, struct repl_stats *st);

/*
 * Hands node the copies planned for it and not handed out yet: up to max
 * into out. Returns how many.
 */
size_t repl_take(struct repl *r, uint32_t node, struct repl_cmd *out, size_t max);

/*
 * The copy of chunk_id to node is done (the caller recorded the new
 * replica first) or failed. Returns 0, or -ENOENT when no such copy was
 * in flight (a late report, or one from before a metaserver restart).
 */
int repl_done(struct repl *r, uint64_t chunk_id, uint32_t node);
int repl_failed(struct repl *r, uint64_t chunk_id, uint32_t node);

/* Rebalances to within pct percentage points of the mean (0: not at all). */
void repl_set_threshold(struct repl *r, uint32_t pct);
uint32_t repl_threshold(const struct repl *r);

/* The rebalancer's state at the last scan, into *out. */
void repl_balance(const struct repl *r, struct repl_balance *out);

/*
 * Bytes a replica of length bytes takes on a chunkserver's disk: the
 * chunk file's 64 KiB header plus its data in whole 64 KiB blocks (as
 * chunkfile.h lays it out), so utilisation here matches what nodes report.
 */
uint64_t repl_replica_bytes(uint64_t length);

/* Forgets every copy going to node (it died or registered again). Returns how many. */
size_t repl_node_reset(struct repl *r, uint32_t node);

/* Copies in flight (planned and not ended), in all and of one chunk. */
size_t repl_inflight(const struct repl *r);
size_t repl_inflight_chunk(const struct repl *r, uint64_t chunk_id);

/* Remembers node's replica of chunk_id as bad (see above). Returns 0 or -ENOMEM. */
int repl_mark_bad(struct repl *r, uint64_t chunk_id, uint32_t node, enum repl_bad_kind kind);

/* Bad replicas remembered, in all. */
size_t repl_nbad(const struct repl *r);

/*
 * The health of chunk c (NULL: not in the chunk map, missing) of chunk_id
 * wanting target replicas: missing with no live replica (corrupt when one
 * was found corrupt), else corrupt or stale while a bad replica is
 * remembered, else under-replicated below target. *live (may be NULL) gets
 * its live replicas.
 */
enum repl_health repl_health(const struct repl *r, const struct nodes *n,
			     const struct chunkmap_chunk *c, uint64_t chunk_id, uint32_t target,
			     uint64_t now_ms, uint32_t *live);

#endif
