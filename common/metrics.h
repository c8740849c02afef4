/*
 * metrics: a small registry of counters and latency histograms, rendered
 * in the Prometheus text exposition format (version 0.0.4) for the
 * daemons' /metrics pages.
 *
 * A series is a metric name plus a fixed label set written as text
 * (`op="read"`, or "" for none). metrics_counter() and metrics_hist() make
 * a series on first use and return the same object after, so hot paths
 * look a series up once and keep the pointer. Series of one name form a
 * family, rendered together under one HELP and TYPE line, in the order
 * the families were first registered. Values that are read when the page
 * is rendered (queues, disk use, connections) come from collectors
 * (metrics_add_collector()), which write whole families with
 * metrics_family() and metrics_sample(); their names must not clash with
 * registered ones.
 *
 * Histograms count microseconds into fixed buckets from 100 us to 10 s
 * and render them in seconds, as Prometheus expects.
 *
 * Not thread-safe: one thread (the daemon's event loop) owns a registry
 * and everything in it.
 */
#ifndef CAIRN_METRICS_H
#define CAIRN_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct metrics;

/* Upper bounds of the histogram buckets, in microseconds (+Inf is implied). */
#define METRICS_NBUCKETS 15

/* A counter. Read-only outside metrics.c but through metrics_inc(). */
struct metrics_counter {
	uint64_t value;
};

/* A latency histogram. Changed only through metrics_observe_us(). */
struct metrics_hist {
	uint64_t buckets[METRICS_NBUCKETS + 1]; /* not cumulative; the last is +Inf */
	uint64_t count;
	uint64_t sum_us;
};

/* Returns a new empty registry; free with metrics_free(). Aborts when out of memory. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * The counter or histogram name{labels} (labels "" for none; both copied),
 * made on first use with help as its family's HELP text. Borrowed; valid
 * until metrics_free(). A name is one kind only: asking for a histogram
 * by a counter's name (or the reverse) is a programming error.
 */
struct metrics_counter *metrics_counter(struct metrics *m, const char *name, const char *labels,
					const char *help);
struct metrics_hist *metrics_hist(struct metrics *m, const char *name, const char *labels,
				  const char *help);

static inline void metrics_inc(struct metrics_counter *c, uint64_t n)
{
	c->value += n;
}

void metrics_observe_us(struct metrics_hist *h, uint64_t us);

/* The median-ish latency of h: the upper bound (us) of the bucket holding its middle call. */
uint64_t metrics_hist_p50_us(const struct metrics_hist *h);

/*
 * A collector writes families whose values are read at render time. It
 * runs on every metrics_render(), after the registered families.
 */
typedef void (*metrics_collect_fn)(void *arg, struct evbuffer *out);
void metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *arg);

/* Writes a family's HELP and TYPE lines (type: "gauge" or "counter"). */
void metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help);
/* Writes one sample: name{labels} value (labels may be NULL or ""). */
void metrics_sample(struct evbuffer *out, const char *name, const char *labels, double value);

/*
 * Writes labels as text to buf (size bytes): `key="value"`, with value
 * escaped as the format wants (\\, \" and \n). Returns buf.
 */
char *metrics_label(char *buf, size_t size, const char *key, const char *value);

/* Appends every family, then what the collectors write, to out. */
void metrics_render(const struct metrics *m, struct evbuffer *out);

#endif
