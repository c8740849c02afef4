/*
 * loc: chunk locations shared between an open file and the loop thread.
 *
 * A loc is written once by loc_from_pb() and then only read; the
 * reference count is the one field that changes, atomically, so a loc may
 * be dropped on either thread.
 */
#include "loc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

struct loc *loc_from_pb(const Cairn__ChunkInfo *ci, int *err)
{
	*err = -CAIRN_EPROTO;
	if (!ci || ci->n_replicas > LOC_MAX_REPLICAS)
		return NULL;
	for (size_t i = 0; i < ci->n_replicas; i++) {
		const char *a = ci->replicas[i];
		if (!a || !*a || strnlen(a, LOC_MAX_ADDR + 1) > LOC_MAX_ADDR)
			return NULL;
	}
	*err = -ENOMEM;
	struct loc *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->refs = 1;
	l->index = ci->index;
	l->id = ci->id;
	l->version = ci->version;
	l->replicas = calloc(ci->n_replicas ? ci->n_replicas : 1, sizeof(*l->replicas));
	if (!l->replicas) {
		free(l);
		return NULL;
	}
	for (; l->n < ci->n_replicas; l->n++) {
		if (!(l->replicas[l->n] = strdup(ci->replicas[l->n]))) {
			loc_unref(l);
			return NULL;
		}
	}
	*err = 0;
	return l;
}

struct loc *loc_ref(struct loc *l)
{
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
	return l;
}

void loc_unref(struct loc *l)
{
	if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->replicas[i]);
	free(l->replicas);
	free(l);
}

int loc_same(const struct loc *a, const struct loc *b)
{
	if (a->id != b->id || a->version != b->version || a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->replicas[i], b->replicas[i]) != 0)
			return 0;
	return 1;
}

int loc_list_from_pb(Cairn__ChunkInfo *const *chunks, size_t n, struct loc ***out)
{
	*out = NULL;
	struct loc **v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int err;
		if (!(v[i] = loc_from_pb(chunks[i], &err))) {
			loc_list_free(v, i);
			return err;
		}
	}
	*out = v;
	return 0;
}

void loc_list_free(struct loc **locs, size_t n)
{
	for (size_t i = 0; locs && i < n; i++)
		loc_unref(locs[i]);
	free(locs);
}
