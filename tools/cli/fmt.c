/*
 * fmt: sizes for people (-h), as hdfs and GNU tools print them.
 */
#include <stdio.h>

#include "cli.h"

const char *cli_size_str(char buf[CLI_SIZE_BUF], uint64_t n, int human)
{
	static const char units[] = "KMGTPE";
	if (!human || n < 1024) {
		snprintf(buf, CLI_SIZE_BUF, "%llu", (unsigned long long)n);
		return buf;
	}
	double v = (double)n;
	int u = -1;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, CLI_SIZE_BUF, v < 10 ? "%.1f %c" : "%.0f %c", v, units[u]);
	return buf;
}
