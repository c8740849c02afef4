/*
 * tempname: the names of in-progress copies (`cairn put`, Python fs.put),
 * which every process must agree on.
 *
 * A copy to /d/NAME writes /d/.NAME.<16 hex digits>._COPYING_ (hidden, as
 * hdfs's NAME._COPYING_, with a random part so that concurrent copies to
 * one target never meet), and renames it over /d/NAME only once it is
 * complete and durable (its close succeeded). A name that starts with '.'
 * and ends with TEMPNAME_SUFFIX is a temporary: when the write lease on
 * such a file expires, its writer is gone and the metaserver removes it
 * (metaserver/meta_chunk.c), and so it does after a restart for those
 * whose writer does not come back within the lease grace. Users should
 * not give their own files such names.
 */
#ifndef CAIRN_TEMPNAME_H
#define CAIRN_TEMPNAME_H

#include <stddef.h>
#include <stdint.h>

#define TEMPNAME_SUFFIX	  "._COPYING_"
#define TEMPNAME_NAME_MAX 255 /* the namespace's longest name (NS_NAME_MAX) */

/* Whether name (one path component) is a temporary's. */
int tempname_is(const char *name);

/*
 * Writes the temporary's path for a copy to path (an absolute path of a
 * file, not "/") into buf, with nonce as its random part; a long final name
 * is shortened to keep within TEMPNAME_NAME_MAX. Returns 0, -EINVAL for a
 * path without a final name, or -ENAMETOOLONG when buf is too small.
 */
int tempname_make(const char *path, uint64_t nonce, char *buf, size_t size);

#endif
