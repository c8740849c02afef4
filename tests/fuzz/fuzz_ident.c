/*
 * fuzz_ident: the data-dir identity file reader (common/ident.c
 * ident_decode()), on the input as the file's text, and the encoder on
 * what it accepts (encoding a decoded identity must decode to the same).
 */
#include <stdlib.h>
#include <string.h>

#include "ident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1); /* no NUL after it: an overread is caught */
	memcpy(text, data, size);
	struct ident id, again;
	memset(&id, 0, sizeof(id)); /* padding too, for the memcmp() */
	memset(&again, 0, sizeof(again));
	char *cause = NULL;
	if (ident_decode(text, size, &id, &cause) == 0) {
		char buf[IDENT_TEXT_MAX];
		size_t n = ident_encode(&id, buf, sizeof(buf));
		char *why = NULL;
		if (ident_decode(buf, n, &again, &why) != 0 || memcmp(&id, &again, sizeof(id)))
			abort(); /* what decodes must round-trip */
		free(why);
	} else if (!cause) {
		abort();
	}
	free(cause);
	free(text);
	return 0;
}
