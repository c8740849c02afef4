/*
 * test_metrics: the /metrics registry: a series is made once and found
 * again, counters and histogram buckets count, labels are escaped, and
 * the rendered page groups each family under one HELP and TYPE, with
 * cumulative buckets ending at +Inf equal to the count.
 */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#include "check.h"

static char *render(struct metrics *m)
{
	struct evbuffer *out = evbuffer_new();
	metrics_render(m, out);
	size_t n = evbuffer_get_length(out);
	char *s = malloc(n + 1);
	evbuffer_remove(out, s, n);
	s[n] = '\0';
	evbuffer_free(out);
	return s;
}

static void collect(void *arg, struct evbuffer *out)
{
	metrics_family(out, "t_gauge", "gauge", "a gauge");
	metrics_sample(out, "t_gauge", NULL, 2.5);
	metrics_sample(out, "t_gauge", "k=\"v\"", 7);
}

static int count(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

int main(void)
{
	struct metrics *m = metrics_new();
	struct metrics_counter *a = metrics_counter(m, "t_calls_total", "op=\"a\"", "calls");
	struct metrics_counter *b = metrics_counter(m, "t_calls_total", "op=\"b\"", "calls");
	CHECK(a != b);
	CHECK(metrics_counter(m, "t_calls_total", "op=\"a\"", "calls") == a);
	metrics_inc(a, 3);
	metrics_inc(b, 1);
	metrics_inc(a, 2);
	CHECK(a->value == 5 && b->value == 1);

	struct metrics_hist *h = metrics_hist(m, "t_seconds", "", "latency");
	metrics_observe_us(h, 50);	 /* <= 100 us */
	metrics_observe_us(h, 100);	 /* <= 100 us: bounds are inclusive */
	metrics_observe_us(h, 3000);	 /* <= 5 ms */
	metrics_observe_us(h, 99000000); /* +Inf */
	CHECK(h->count == 4 && h->sum_us == 99003150);
	CHECK(h->buckets[0] == 2 && h->buckets[METRICS_NBUCKETS] == 1);
	CHECK(metrics_hist_p50_us(h) == 100);
	metrics_add_collector(m, collect, NULL);

	char label[32];
	CHECK(strcmp(metrics_label(label, sizeof(label), "dir", "a\"b\\c\nd"),
		     "dir=\"a\\\"b\\\\c\\nd\"") == 0);
	metrics_label(label, sizeof(label), "dir", "a-very-long-value-that-does-not-fit");
	CHECK(strlen(label) < sizeof(label) && label[strlen(label) - 1] == '"');

	char *s = render(m);
	CHECK(count(s, "# TYPE t_calls_total counter\n") == 1);
	CHECK(strstr(s, "t_calls_total{op=\"a\"} 5\n") && strstr(s, "t_calls_total{op=\"b\"} 1\n"));
	CHECK(count(s, "# TYPE t_seconds histogram\n") == 1);
	CHECK(strstr(s, "t_seconds_bucket{le=\"0.0001\"} 2\n"));
	CHECK(strstr(s, "t_seconds_bucket{le=\"0.005\"} 3\n"));
	CHECK(strstr(s, "t_seconds_bucket{le=\"10\"} 3\n"));
	CHECK(strstr(s, "t_seconds_bucket{le=\"+Inf\"} 4\n"));
	CHECK(strstr(s, "t_seconds_count 4\n") && strstr(s, "t_seconds_sum 99.003150\n"));
	CHECK(strstr(s, "t_gauge 2.5\n") && strstr(s, "t_gauge{k=\"v\"} 7\n"));
	CHECKF(strstr(s, "t_calls_total") < strstr(s, "t_seconds") &&
		   strstr(s, "t_seconds") < strstr(s, "t_gauge"),
	       "families out of order:\n%s", s);
	free(s);
	metrics_free(m);
	metrics_free(NULL);
	if (failures)
		fprintf(stderr, "%d checks failed\n", failures);
	return failures ? 1 : 0;
}
