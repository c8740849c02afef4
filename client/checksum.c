/*
 * checksum: cairn_checksum(), a file's CRC32C from the CRCs the
 * chunkservers already store, without reading the data.
 *
 * Each replica stores a CRC32C per 64 KiB block of its chunk (the
 * chunkserver's header). For each chunk of the file, one replica is asked
 * for the CRCs of the file's bytes in it (CrcsReq over rpc_sync, on this
 * thread; the next replica when one fails); a chunk that ends inside a
 * block (a truncated file) gets that block's head CRC computed by the
 * chunkserver, which reads and checks that one block. The CRCs are then
 * combined in order with crc32c_combine(), giving exactly the CRC32C of
 * the file's bytes (as `cairn checksum --local FILE` computes it over a
 * local copy): HDFS's COMPOSITE_CRC, in CRC32C.
 */
#include <errno.h>
#include <stdlib.h>

#include "client_int.h"
#include "crc32c.h"
#include "frame.h"
#include "rpc_sync.h"

/* Asks addr for the CRCs of loc's bytes and folds them into *crc. Returns 0 or an error. */
static int chunk_crcs(cairn_t *c, const char *addr, const struct cairn_chunk_loc *loc,
		      uint32_t *crc)
{
	struct rpc_sync *s = rpc_sync_new(addr);
	if (!s)
		return -ENOMEM;
	Cairn__CrcsReq m = CAIRN__CRCS_REQ__INIT;
	Cairn__Envelope req;
	m.chunk_id = loc->chunk_id;
	m.version = loc->version;
	m.offset = 0;
	m.length = loc->length;
	CALL_REQ(&req, CRCS, crcs, &m);
	Cairn__Envelope *reply = NULL;
	struct evbuffer *payload = NULL;
	int err = rpc_sync_call(s, &req, NULL, cairn_timeout_ms(c), &reply, &payload);
	size_t want = (size_t)((loc->length + FRAME_BLOCK - 1) / FRAME_BLOCK);
	if (!err &&
	    (reply->body_case != CAIRN__ENVELOPE__BODY_CRC_LIST || reply->crc_list->n_crc != want))
		err = -CAIRN_EPROTO;
	if (err && reply && reply->error && *reply->error)
		call_set_last_error(c, reply->error);
	for (size_t i = 0; !err && i < want; i++) {
		uint64_t len = loc->length - i * FRAME_BLOCK;
		*crc = crc32c_combine(*crc, reply->crc_list->crc[i],
				      (size_t)(len < FRAME_BLOCK ? len : FRAME_BLOCK));
	}
	if (payload)
		evbuffer_free(payload);
	cairn__envelope__free_unpacked(reply, NULL);
	rpc_sync_free(s);
	return err;
}

int cairn_checksum(cairn_t *c, const char *path, uint32_t *crc, uint64_t *size)
{
	struct cairn_stat st;
	int err = client_stat_nondir(c, path, &st);
	if (err)
		return err;
	struct cairn_chunk_loc *locs;
	size_t n;
	if ((err = cairn_chunk_locations(c, path, 0, 0, &locs, &n)) != 0)
		return err;
	uint32_t total = 0;
	uint64_t covered = 0;
	for (size_t i = 0; !err && i < n; i++) {
		if (locs[i].offset != covered) {
			err = -CAIRN_EPROTO; /* chunks out of order or a hole */
			break;
		}
		err = locs[i].length ? -CAIRN_EUNAVAIL : 0; /* no replica answered */
		for (size_t r = 0; err && r < locs[i].nreplicas; r++) {
			uint32_t one = total;
			if ((err = chunk_crcs(c, locs[i].replicas[r], &locs[i], &one)) == 0)
				total = one;
		}
		covered += locs[i].length;
	}
	cairn_chunk_locations_free(locs, n);
	if (!err && covered != st.size)
		err = -CAIRN_ESTALE; /* the file changed meanwhile */
	if (!err) {
		*crc = total;
		if (size)
			*size = covered;
	}
	return err;
}
