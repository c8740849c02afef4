/*
 * truncate: cairn_truncate(), a file cut or grown to a size.
 *
 * Shortening is one metaserver call (TruncateReq), which drops the chunks
 * wholly past the new size and is refused while a writer holds the file.
 * Growing is done here, as HDFS leaves it to clients: the file is opened
 * for appending and zeros are written up to the size, so the bytes
 * between the old and the new size read as zeros on every replica (none
 * of the old, cut-off bytes of a last chunk can show through).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "client_int.h"

#define ZEROS_PIECE (1u << 20)

/* Appends zeros to path until it is size bytes long. */
static int grow(cairn_t *c, const char *path, uint64_t size)
{
	cairn_file_t *f;
	int err = cairn_open(c, path, CAIRN_O_WRONLY | CAIRN_O_APPEND, 0, &f);
	if (err)
		return err;
	int64_t at = cairn_seek(f, 0, SEEK_END);
	char *zeros = at >= 0 && (uint64_t)at < size ? calloc(1, ZEROS_PIECE) : NULL;
	if (at < 0)
		err = (int)at;
	else if ((uint64_t)at < size && !zeros)
		err = -ENOMEM;
	for (uint64_t pos = at < 0 ? size : (uint64_t)at; !err && pos < size;) {
		size_t n = size - pos < ZEROS_PIECE ? (size_t)(size - pos) : ZEROS_PIECE;
		ssize_t w = cairn_write(f, zeros, n);
		if (w < 0)
			err = (int)w;
		else
			pos += (uint64_t)w;
	}
	free(zeros);
	int cerr = cairn_close(f);
	return err ? err : cerr;
}

int cairn_truncate(cairn_t *c, const char *path, uint64_t size)
{
	struct cairn_stat st;
	int err = client_stat_nondir(c, path, &st);
	if (err)
		return err;
	if (size > st.size)
		return grow(c, path, size);
	Cairn__TruncateReq m = CAIRN__TRUNCATE_REQ__INIT;
	if ((err = client_path_norm(path, &m.path)) != 0)
		return err;
	m.size = size;
	Cairn__Envelope req;
	CALL_REQ(&req, TRUNCATE, truncate, &m);
	err = call_run(c, &req, CAIRN__ENVELOPE__BODY__NOT_SET, NULL);
	free(m.path);
	return err;
}
