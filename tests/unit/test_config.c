/*
 * test_config: the value parsers, the config table (flags, config file,
 * bounds, errors) and the one error/status mapping.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "util.h"

#include "check.h"

static void test_parsers(void)
{
	uint64_t v;
	CHECK(parse_size("4096", &v) == 0 && v == 4096);
	CHECK(parse_size("64K", &v) == 0 && v == 65536);
	CHECK(parse_size("64M", &v) == 0 && v == 64ull << 20);
	CHECK(parse_size("2g", &v) == 0 && v == 2ull << 30);
	CHECK(parse_size("1MiB", &v) == 0 && v == 1ull << 20);
	CHECK(parse_size("", &v) == -EINVAL);
	CHECK(parse_size("-1", &v) == -EINVAL);
	CHECK(parse_size("12Q", &v) == -EINVAL);
	CHECK(parse_size("99999999999999999999", &v) == -EINVAL);
	CHECK(parse_size("17179869184T", &v) == -EINVAL);
	CHECK(parse_duration_ms("250ms", &v) == 0 && v == 250);
	CHECK(parse_duration_ms("2s", &v) == 0 && v == 2000);
	CHECK(parse_duration_ms("5", &v) == 0 && v == 5000);
	CHECK(parse_duration_ms("5m", &v) == 0 && v == 300000);
	CHECK(parse_duration_ms("1h", &v) == 0 && v == 3600000);
	CHECK(parse_duration_ms("fast", &v) == -EINVAL);
	CHECK(parse_duration_ms("2x", &v) == -EINVAL);

	char *host;
	uint16_t port;
	CHECK(addr_parse("127.0.0.1:20000", &host, &port) == 0 && port == 20000 &&
	      strcmp(host, "127.0.0.1") == 0);
	free(host);
	CHECK(addr_parse("[::1]:80", &host, &port) == 0 && strcmp(host, "::1") == 0);
	free(host);
	CHECK(addr_parse("::1:80", &host, &port) == -EINVAL);
	CHECK(addr_parse("host", &host, &port) == -EINVAL);
	CHECK(addr_parse(":80", &host, &port) == -EINVAL);
	CHECK(addr_parse("h:0", &host, &port) == -EINVAL);
	CHECK(addr_parse("h:65536", &host, &port) == -EINVAL);
	CHECK(addr_parse("h:8x", &host, &port) == -EINVAL);
}

struct opts {
	char *addr;
	char *name;
	uint64_t size;
	uint64_t wait_ms;
	int64_t n;
	int level;
	char *config;
};

static const struct config_opt table[] = {
    {"config", CONFIG_STRING, NULL, 0, 0, 0, offsetof(struct opts, config), "file"},
    {"addr", CONFIG_ADDR, "127.0.0.1:1", 0, 0, 0, offsetof(struct opts, addr), "address"},
    {"name", CONFIG_STRING, NULL, 1, 0, 0, offsetof(struct opts, name), "a name"},
    {"size", CONFIG_SIZE, "1M", 0, 1024, 1 << 30, offsetof(struct opts, size), "size"},
    {"wait", CONFIG_DURATION, "2s", 0, 0, 0, offsetof(struct opts, wait_ms), "wait"},
    {"n", CONFIG_INT, "3", 0, 1, 16, offsetof(struct opts, n), "count"},
    {"log-level", CONFIG_LEVEL, "warn", 0, 0, 0, offsetof(struct opts, level), "level"},
    CONFIG_END,
};

static int parse(struct opts *o, char **cause, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	return config_parse(table, o, argc, argv, "t", "test", cause);
}

static void test_table(void)
{
	struct opts o;
	char *cause = NULL;
	char *a1[] = {"t", "--name", "x", "--size=64K", "--n", "16"};
	CHECK(parse(&o, &cause, 6, a1) == 0);
	CHECK(strcmp(o.name, "x") == 0 && o.size == 65536 && o.n == 16 && o.wait_ms == 2000);
	CHECK(strcmp(o.addr, "127.0.0.1:1") == 0);
	config_free(table, &o);

	char *a2[] = {"t", "--name", "x", "--n", "17"};
	CHECK(parse(&o, &cause, 5, a2) == -EINVAL && strstr(cause, "--n"));
	free(cause);
	config_free(table, &o);

	char *a3[] = {"t", "--size", "1M"};
	CHECK(parse(&o, &cause, 3, a3) == -EINVAL && strstr(cause, "--name is required"));
	free(cause);
	config_free(table, &o);

	char *a4[] = {"t", "--name"};
	CHECK(parse(&o, &cause, 2, a4) == -EINVAL && strstr(cause, "needs a value"));
	free(cause);
	config_free(table, &o);

	char path[] = "/tmp/cairn-test-config-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	const char *text = "# settings\n name = fromfile \n\nsize = 2M\nwait = 250ms\n";
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	char *a5[] = {"t", "--config", path, "--size", "4M"};
	CHECK(parse(&o, &cause, 5, a5) == 0);
	CHECK(strcmp(o.name, "fromfile") == 0 && o.size == 4ull << 20 && o.wait_ms == 250);
	config_free(table, &o);

	FILE *f = fopen(path, "w");
	fputs("name = a\nbogus = 1\n", f);
	fclose(f);
	CHECK(parse(&o, &cause, 3, a5) == -EINVAL && strstr(cause, ":2:") &&
	      strstr(cause, "bogus"));
	free(cause);
	config_free(table, &o);
	unlink(path);
}

static void test_errors(void)
{
	int errs[] = {
	    0,	     -ENOENT,	 -EEXIST,	   -ENOTDIR,	  -EISDIR,	 -ENOTEMPTY,
	    -EINVAL, -ETIMEDOUT, -CAIRN_ECHECKSUM, -CAIRN_ESTALE, -CAIRN_ELEASE, -CAIRN_EUNAVAIL, -ELOOP};
	for (unsigned i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		CHECK(err_from_status(err_to_status(errs[i])) == errs[i]);
	CHECK(err_from_status(9999) == -CAIRN_EPROTO);
	CHECK(err_from_status(err_to_status(-EMLINK)) == -CAIRN_EINTERNAL); /* no status of its own */
	CHECK(strcmp(err_str(-ENOENT), "No such file or directory") == 0);
	CHECK(strstr(err_str(-CAIRN_ECHECKSUM), "checksum"));
}

int main(void)
{
	test_parsers();
	test_table();
	test_errors();
	if (failures) {
		fprintf(stderr, "test_config: %d failures\n", failures);
		return 1;
	}
	printf("test_config: ok\n");
	return 0;
}
