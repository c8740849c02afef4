/*
 * metrics: the registry behind /metrics (see metrics.h).
 *
 * Families live in an array in registration order; each owns its series,
 * allocated one by one so the pointers handed out stay valid while the
 * arrays grow. Lookups are linear: they happen when a subsystem starts or
 * at a series' first use, never per call on a hot path.
 */
#include "metrics.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum kind { KIND_COUNTER, KIND_HIST };

static const uint64_t bucket_us[METRICS_NBUCKETS] = {
    100,   250,	   500,	   1000,   2500,    5000,    10000,    25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 10000000,
};

struct series {
	char *labels;
	union {
		struct metrics_counter counter;
		struct metrics_hist hist;
	} u;
};

struct family {
	char *name;
	char *help;
	enum kind kind;
	struct series **series;
	size_t n, cap;
};

struct collector {
	metrics_collect_fn fn;
	void *arg;
};

struct metrics {
	struct family *fams;
	size_t n, cap;
	struct collector *cols;
	size_t ncols;
};

struct metrics *metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		struct family *f = &m->fams[i];
		for (size_t j = 0; j < f->n; j++) {
			free(f->series[j]->labels);
			free(f->series[j]);
		}
		free(f->series);
		free(f->name);
		free(f->help);
	}
	free(m->fams);
	free(m->cols);
	free(m);
}

static void *grow(void *v, size_t *cap, size_t size)
{
	*cap = *cap ? *cap * 2 : 8;
	return xrealloc(v, *cap * size);
}

static struct series *lookup(struct metrics *m, const char *name, const char *labels,
			     const char *help, enum kind kind)
{
	struct family *f = NULL;
	for (size_t i = 0; i < m->n && !f; i++)
		if (strcmp(m->fams[i].name, name) == 0)
			f = &m->fams[i];
	if (!f) {
		if (m->n == m->cap)
			m->fams = grow(m->fams, &m->cap, sizeof(*m->fams));
		f = &m->fams[m->n++];
		memset(f, 0, sizeof(*f));
		f->name = xstrdup(name);
		f->help = xstrdup(help);
		f->kind = kind;
	}
	CAIRN_ASSERT(f->kind == kind);
	for (size_t j = 0; j < f->n; j++)
		if (strcmp(f->series[j]->labels, labels) == 0)
			return f->series[j];
	if (f->n == f->cap)
		f->series = grow(f->series, &f->cap, sizeof(*f->series));
	struct series *s = xcalloc(1, sizeof(*s));
	s->labels = xstrdup(labels);
	f->series[f->n++] = s;
	return s;
}

struct metrics_counter *metrics_counter(struct metrics *m, const char *name, const char *labels,
					const char *help)
{
	return &lookup(m, name, labels ? labels : "", help, KIND_COUNTER)->u.counter;
}

struct metrics_hist *metrics_hist(struct metrics *m, const char *name, const char *labels,
				  const char *help)
{
	return &lookup(m, name, labels ? labels : "", help, KIND_HIST)->u.hist;
}

void metrics_observe_us(struct metrics_hist *h, uint64_t us)
{
	size_t i = 0;
	while (i < METRICS_NBUCKETS && us > bucket_us[i])
		i++;
	h->buckets[i]++;
	h->count++;
	h->sum_us += us;
}

uint64_t metrics_hist_p50_us(const struct metrics_hist *h)
{
	uint64_t seen = 0;
	for (size_t i = 0; i < METRICS_NBUCKETS; i++) {
		seen += h->buckets[i];
		if (h->count && seen * 2 >= h->count)
			return bucket_us[i];
	}
	return h->count ? bucket_us[METRICS_NBUCKETS - 1] : 0;
}

void metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *arg)
{
	m->cols = xrealloc(m->cols, (m->ncols + 1) * sizeof(*m->cols));
	m->cols[m->ncols++] = (struct collector){fn, arg};
}

void metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(struct evbuffer *out, const char *name, const char *labels, double value)
{
	const char *open = labels && *labels ? "{" : "", *close = labels && *labels ? "}" : "";
	if (value > -9e15 && value < 9e15 && value == (double)(int64_t)value)
		evbuffer_add_printf(out, "%s%s%s%s %.0f\n", name, open, labels ? labels : "", close,
				    value);
	else
		evbuffer_add_printf(out, "%s%s%s%s %.6g\n", name, open, labels ? labels : "", close,
				    value);
}

char *metrics_label(char *buf, size_t size, const char *key, const char *value)
{
	size_t at = (size_t)snprintf(buf, size, "%s=\"", key);
	for (; *value && at + 4 < size; value++) {
		char ch = *value;
		if (ch == '\\' || ch == '"' || ch == '\n') {
			buf[at++] = '\\';
			ch = ch == '\n' ? 'n' : ch;
		}
		buf[at++] = ch;
	}
	if (at + 2 > size)
		at = size - 2;
	buf[at++] = '"';
	buf[at] = '\0';
	return buf;
}

static void render_hist(struct evbuffer *out, const char *name, const char *labels,
			const struct metrics_hist *h)
{
	const char *sep = *labels ? "," : "";
	uint64_t cum = 0;
	for (size_t i = 0; i <= METRICS_NBUCKETS; i++) {
		cum += h->buckets[i];
		if (i < METRICS_NBUCKETS)
			evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
					    sep, bucket_us[i] / 1e6, (unsigned long long)cum);
		else
			evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
					    sep, (unsigned long long)cum);
	}
	const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
	evbuffer_add_printf(out, "%s_sum%s%s%s %.6f\n%s_count%s%s%s %llu\n", name, open, labels,
			    close, h->sum_us / 1e6, name, open, labels, close,
			    (unsigned long long)h->count);
}

void metrics_render(const struct metrics *m, struct evbuffer *out)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct family *f = &m->fams[i];
		metrics_family(out, f->name, f->kind == KIND_COUNTER ? "counter" : "histogram",
			       f->help);
		for (size_t j = 0; j < f->n; j++) {
			const struct series *s = f->series[j];
			if (f->kind == KIND_COUNTER)
				evbuffer_add_printf(out, "%s%s%s%s %llu\n", f->name,
						    *s->labels ? "{" : "", s->labels,
						    *s->labels ? "}" : "",
						    (unsigned long long)s->u.counter.value);
			else
				render_hist(out, f->name, s->labels, &s->u.hist);
		}
	}
	for (size_t i = 0; i < m->ncols; i++)
		m->cols[i].fn(m->cols[i].arg, out);
}
