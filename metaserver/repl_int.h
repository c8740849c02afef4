/*
 * repl_int: what the planner's two files share (repl.c: copies, trims,
 * bad replicas; repl_move.c: the rebalancer's moves); not for other
 * modules.
 */
#ifndef CAIRN_REPL_INT_H
#define CAIRN_REPL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "repl.h"

struct idmap;
struct nodes;
struct nodes_node;
struct chunkmap;
struct chunkmap_chunk;
struct placement_cand;

#define REPL_PICKS_MAX 16	  /* copies of one chunk planned in one scan */
#define REPL_NONE      UINT32_MAX /* no node */
#define REPL_MOVABLE   32	  /* chunks sampled per node for moves, per scan */

struct copy {
	struct repl_cmd cmd;
	uint32_t target;
	uint32_t from; /* a move: the node whose replica goes once done; else REPL_NONE */
	int sent;
	uint64_t deadline_ms;
};

struct repl {
	struct repl_limits lim;
	struct copy *copies;
	size_t ncopies, cap;
	size_t nmoves;	     /* copies that are moves */
	struct idmap *pend;  /* chunk id -> copies in flight, as a uintptr_t */
	struct idmap *bad;   /* chunk id -> struct bad_set */
	struct idmap *moved; /* chunk id -> (node a finished move copied from) + 1 */
	size_t nbad;
	uint32_t threshold; /* percentage points; 0: no rebalancing */
	int balancing;	    /* moves go on until within half the threshold */
	struct repl_balance bal;
};

/* A chunk sampled for a move: healthy, settled, no copy going. */
struct movable {
	uint64_t id;
	uint64_t length;
	uint32_t target;
};

/* What a scan works with. */
struct plan {
	struct repl *r;
	struct nodes *n;
	struct chunkmap *cm;
	uint64_t now;
	uint64_t *rng;
	size_t nn;	    /* nodes_count() */
	uint32_t *received; /* per node: copies it is receiving */
	uint32_t *served;   /* per node: copies it is the first source of */
	struct placement_cand *pc;
	uint32_t *pc_node;   /* pc[i] is node pc_node[i] */
	uint32_t *rack_of;   /* per node: its rack's number */
	uint64_t *rack_room; /* per rack: most bytes free on one node that counts */
	size_t nracks;
	/* the rebalancer's: per node */
	uint64_t *bytes;    /* estimated bytes of its recorded replicas */
	struct movable *mv; /* REPL_MOVABLE slots */
	uint32_t *nmv;	    /* slots used */
	uint64_t *seen;	    /* movable chunks seen (reservoir sampling) */
};

/* Whether node is live and not being decommissioned: its replicas count. */
int repl_counts(const struct plan *p, const struct nodes_node *node);

/*
 * How many racks c's counting replicas span, leaving out node drop and
 * adding node add (REPL_NONE: none).
 */
uint32_t repl_racks(const struct plan *p, const struct chunkmap_chunk *c, uint32_t drop,
		    uint32_t add);

/* Adds a copy (from: REPL_NONE, or a move's source). */
void repl_copy_add(struct repl *r, const struct repl_cmd *cmd, uint32_t target, uint32_t from,
		   uint64_t now);

/* Whether a copy of chunk_id to node is in flight. */
int repl_copy_going(const struct repl *r, uint64_t chunk_id, uint32_t node);

/* Plans the rebalancer's moves (repl_move.c) and fills r->bal. */
void repl_plan_moves(struct plan *p, struct repl_stats *st);

#endif
