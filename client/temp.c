/*
 * temp: the temporary names of atomic copies (cairn_temp_path(); the
 * names themselves are common/tempname.h's, which the metaserver shares).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"
#include "tempname.h"

int cairn_temp_path(const char *path, char *buf, size_t size)
{
	if (!path || path[0] != '/' || !buf)
		return -EINVAL;
	uint64_t nonce;
	if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) != (ssize_t)sizeof(nonce)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		nonce = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
			((uint64_t)getpid() << 40);
	}
	return tempname_make(path, nonce, buf, size);
}
