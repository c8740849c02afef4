/*
 * test_tempname: the names of in-progress copies: made next to their
 * target, hidden, recognised, shortened to fit, and never confused with
 * ordinary names.
 */
#include <errno.h>
#include <string.h>

#include "tempname.h"

#include "check.h"

int main(void)
{
	char buf[4096];
	CHECK(tempname_make("/d/x.csv", 0xabcull, buf, sizeof(buf)) == 0);
	CHECK(strcmp(buf, "/d/.x.csv.0000000000000abc._COPYING_") == 0);
	CHECK(tempname_is(".x.csv.0000000000000abc._COPYING_"));
	CHECK(tempname_make("/top", 1, buf, sizeof(buf)) == 0);
	CHECK(strcmp(buf, "/.top.0000000000000001._COPYING_") == 0);

	CHECK(!tempname_is("x._COPYING_")); /* not hidden */
	CHECK(!tempname_is(".._COPYING_")); /* nothing before the suffix */
	CHECK(!tempname_is("._COPYING_"));
	CHECK(!tempname_is(".x._COPYING_.1")); /* the suffix is at the end */
	CHECK(!tempname_is(".bashrc"));
	CHECK(!tempname_is(""));

	CHECK(tempname_make("/d/", 1, buf, sizeof(buf)) == -EINVAL);
	CHECK(tempname_make("/", 1, buf, sizeof(buf)) == -EINVAL);
	CHECK(tempname_make("/d/..", 1, buf, sizeof(buf)) == -EINVAL);
	CHECK(tempname_make("/d/x", 1, buf, 10) == -ENAMETOOLONG);

	char longname[300] = "/d/";
	memset(longname + 3, 'n', 255);
	longname[258] = '\0';
	CHECK(tempname_make(longname, 7, buf, sizeof(buf)) == 0);
	const char *base = strrchr(buf, '/') + 1;
	CHECK(strlen(base) == TEMPNAME_NAME_MAX);
	CHECK(tempname_is(base));
	CHECK(strncmp(buf, "/d/.nnn", 7) == 0);

	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures != 0;
}
