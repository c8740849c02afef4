/*
 * test_nodes: the chunkserver registry with an injected clock:
 * registration (new, again, bad addresses), heartbeats refresh only live
 * nodes, silence past dead-after makes a node not live at once and dead at
 * the next sweep (reported once), a dead node must register again and
 * keeps its id; delete queues (queue, unqueue, take in order, cleared by
 * registration).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nodes.h"

#include "check.h"

static void count_dead(void *arg, struct nodes_node *node)
{
	(*(int *)arg)++;
}

static void test_life(void)
{
	struct nodes *n = nodes_new(1000);
	struct nodes_node *a, *b, *x;
	char longname[300];
	memset(longname, 'h', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(nodes_register(n, "10.0.0.1:7000", "r1", 1000, 100, 0, &a) == 0);
	CHECK(nodes_register(n, "10.0.0.2:7000", NULL, 500, 600, 0, &b) == 0);
	CHECK(nodes_register(n, "", "r1", 1, 1, 0, &x) == -EINVAL);
	CHECK(nodes_register(n, longname, "r1", 1, 1, 0, &x) == -EINVAL);
	CHECK(nodes_register(n, "h:1", longname, 1, 1, 0, &x) == -EINVAL);
	CHECK(nodes_count(n) == 2 && a->id == 0 && b->id == 1);
	CHECK(strcmp(b->rack, "") == 0 && nodes_free_bytes(a) == 900 && nodes_free_bytes(b) == 0);
	CHECK(nodes_find(n, "10.0.0.2:7000") == b && nodes_find(n, "nope:1") == NULL);
	CHECK(nodes_get(n, 1) == b && nodes_get(n, 2) == NULL);
	/* heartbeats refresh */
	CHECK(nodes_heartbeat(n, "10.0.0.1:7000", 2000, 300, 5, 42, 900, &x) == 0 && x == a);
	CHECK(a->capacity == 2000 && a->load == 5 && a->nchunks == 42 && a->last_ms == 900);
	CHECK(nodes_heartbeat(n, "unknown:1", 1, 1, 1, 1, 900, &x) == -ENOENT);
	/* b has been silent since 0: not live past 1000 even before a sweep */
	CHECK(nodes_live(n, b, 1000) && !nodes_live(n, b, 1001));
	CHECK(nodes_nlive(n, 1001) == 1);
	CHECK(nodes_heartbeat(n, "10.0.0.2:7000", 1, 1, 1, 1, 1001, &x) == -ENOENT);
	int dead = 0;
	CHECK(nodes_expire(n, 1001, count_dead, &dead) == 1 && dead == 1 && !b->up && a->up);
	CHECK(nodes_expire(n, 1500, count_dead, &dead) == 0 && dead == 1);
	/* back by registering, with the same id and a new rack */
	CHECK(nodes_register(n, "10.0.0.2:7000", "r2", 500, 100, 1600, &x) == 1 && x == b);
	CHECK(b->up && b->id == 1 && strcmp(b->rack, "r2") == 0 && nodes_live(n, b, 1600));
	CHECK(nodes_count(n) == 2 && nodes_nlive(n, 1900) == 2);
	nodes_free(n);
	nodes_free(NULL);
}

static void test_deletes(void)
{
	struct nodes *n = nodes_new(1000);
	struct nodes_node *a;
	uint64_t out[300];
	CHECK(nodes_register(n, "h:1", "", 1, 0, 0, &a) == 0);
	CHECK(nodes_take_deletes(a, out, 10) == 0);
	for (uint64_t id = 1; id <= 200; id++)
		CHECK(nodes_queue_delete(a, id) == 0);
	nodes_unqueue_delete(a, 5);
	nodes_unqueue_delete(a, 999);
	CHECK(a->ndeletes == 199);
	CHECK(nodes_take_deletes(a, out, 10) == 10 && out[0] == 1 && out[4] == 6 && out[9] == 11);
	CHECK(nodes_take_deletes(a, out, 300) == 189 && out[0] == 12 && out[188] == 200);
	CHECK(a->ndeletes == 0);
	nodes_queue_delete(a, 7);
	CHECK(nodes_register(n, "h:1", "", 1, 0, 10, &a) == 1 && a->ndeletes == 0);
	nodes_free(n);
}

static void test_decommission(void)
{
	struct nodes *n = nodes_new(1000);
	struct nodes_node *a, *b;
	char *const *list;
	CHECK(nodes_register(n, "h:1", "", 1, 0, 0, &a) == 0 && !a->decom);
	CHECK(nodes_decommission(n, "h:1", 1) == 1 && a->decom);
	CHECK(nodes_decommission(n, "h:1", 1) == 0 && a->decom);
	CHECK(nodes_decommission(n, "", 1) == -EINVAL);
	/* an address not registered yet (a restart): flagged when it registers */
	CHECK(nodes_decommission(n, "h:2", 1) == 1);
	CHECK(nodes_decommission_list(n, &list) == 2);
	CHECK(nodes_register(n, "h:2", "", 1, 0, 0, &b) == 0 && b->decom);
	/* registering again keeps the flag; cancelling clears it */
	CHECK(nodes_register(n, "h:1", "", 1, 0, 5, &a) == 1 && a->decom);
	CHECK(nodes_decommission(n, "h:1", 0) == 1 && !a->decom && b->decom);
	CHECK(nodes_decommission(n, "h:1", 0) == 0);
	CHECK(nodes_decommission_list(n, &list) == 1 && strcmp(list[0], "h:2") == 0);
	nodes_free(n);
}

/* A paged report: opened by registration, its pages in order, closed by the last. */
static void test_paged_report(void)
{
	struct nodes *n = nodes_new(1000);
	struct nodes_node *a, *x;
	CHECK(nodes_register(n, "h:1", "", 1, 0, 0, &a) == 0);
	nodes_report_begin(n, a, 77);
	CHECK(nodes_reporting(n) == 1 && a->report_id == 77);
	/* mid-report a heartbeat is refused: the chunkserver gave the report up */
	CHECK(nodes_heartbeat(n, "h:1", 1, 0, 0, 0, 10, &x) == -ESRCH);
	CHECK(nodes_report_page(n, "nope:1", 77, 1, 10, &x) == -ENOENT);
	CHECK(nodes_report_page(n, "h:1", 78, 1, 10, &x) == -ESRCH);
	CHECK(nodes_report_page(n, "h:1", 77, 1, 20, &x) == 0 && x == a && a->last_ms == 20);
	CHECK(nodes_report_page(n, "h:1", 77, 3, 30, &x) == -EPROTO); /* skips page 2 */
	CHECK(nodes_reporting(n) == 0 && a->report_id == 0);	       /* abandoned */
	CHECK(nodes_report_page(n, "h:1", 77, 2, 30, &x) == -ESRCH);
	/* again: the last page closes it and heartbeats are taken */
	nodes_report_begin(n, a, 79);
	CHECK(nodes_report_page(n, "h:1", 79, 1, 40, &x) == 0);
	nodes_report_end(n, a);
	nodes_report_end(n, a); /* no-op */
	CHECK(nodes_reporting(n) == 0 && nodes_heartbeat(n, "h:1", 1, 0, 0, 0, 50, &x) == 0);
	/* a new registration, or death, abandons one in progress */
	nodes_report_begin(n, a, 80);
	CHECK(nodes_register(n, "h:1", "", 1, 0, 60, &a) == 1 && nodes_reporting(n) == 0);
	nodes_report_begin(n, a, 81);
	CHECK(nodes_expire(n, 2000, NULL, NULL) == 1 && nodes_reporting(n) == 0);
	CHECK(nodes_report_page(n, "h:1", 81, 1, 2000, &x) == -ENOENT);
	nodes_free(n);
}

int main(void)
{
	test_life();
	test_deletes();
	test_decommission();
	test_paged_report();
	if (failures) {
		printf("test_nodes: %d failures\n", failures);
		return 1;
	}
	printf("test_nodes: ok\n");
	return 0;
}
