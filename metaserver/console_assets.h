/*
 * console_assets: the console's files (metaserver/console/ in the source
 * tree), embedded in the binary. The table is generated at build time by
 * console/embed.cmake into the build tree; it is never committed.
 */
#ifndef CAIRN_CONSOLE_ASSETS_H
#define CAIRN_CONSOLE_ASSETS_H

#include <stddef.h>

struct console_asset {
	const char *path; /* "/index.html" */
	const char *type; /* its Content-Type */
	const unsigned char *data;
	size_t len;
};

/* The asset served at path, or NULL. Borrowed; static. */
const struct console_asset *console_asset_find(const char *path);

#endif
