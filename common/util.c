/*
 * util: always-on asserts, allocation that aborts, time and value parsers.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

void cairn_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
	abort();
}

static void *oom_check(void *p)
{
	if (!p) {
		log_error("out of memory");
		abort();
	}
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	return oom_check(calloc(n ? n : 1, size ? size : 1));
}

void *xmalloc(size_t size)
{
	return oom_check(malloc(size ? size : 1));
}

char *xstrdup(const char *s)
{
	return oom_check(strdup(s));
}

int64_t time_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t time_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t time_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Parses a leading unsigned decimal; returns the rest or NULL. */
static const char *parse_num(const char *s, uint64_t *out)
{
	if (!isdigit((unsigned char)*s))
		return NULL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return NULL;
	*out = v;
	return end;
}

static int mul_checked(uint64_t v, uint64_t m, uint64_t *out)
{
	if (m && v > UINT64_MAX / m)
		return -EINVAL;
	*out = v * m;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	uint64_t v;
	const char *rest = parse_num(s, &v);
	if (!rest)
		return -EINVAL;
	uint64_t m = 1;
	switch (toupper((unsigned char)*rest)) {
	case 0:
		break;
	case 'K':
		m = 1ull << 10;
		break;
	case 'M':
		m = 1ull << 20;
		break;
	case 'G':
		m = 1ull << 30;
		break;
	case 'T':
		m = 1ull << 40;
		break;
	default:
		return -EINVAL;
	}
	if (*rest) {
		rest++;
		if (toupper((unsigned char)*rest) == 'B' || (*rest == 'i' && rest[1] == 'B'))
			rest += *rest == 'i' ? 2 : 1;
		if (*rest)
			return -EINVAL;
	}
	return mul_checked(v, m, out);
}

int parse_duration_ms(const char *s, uint64_t *out)
{
	uint64_t v;
	const char *rest = parse_num(s, &v);
	if (!rest)
		return -EINVAL;
	uint64_t m;
	if (*rest == 0 || strcmp(rest, "s") == 0)
		m = 1000;
	else if (strcmp(rest, "ms") == 0)
		m = 1;
	else if (strcmp(rest, "m") == 0)
		m = 60 * 1000;
	else if (strcmp(rest, "h") == 0)
		m = 3600 * 1000;
	else
		return -EINVAL;
	return mul_checked(v, m, out);
}

int addr_parse(const char *s, char **host, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -EINVAL;
	const char *h = s, *hend = colon;
	if (*h == '[') {
		if (hend[-1] != ']' || hend - h < 3)
			return -EINVAL;
		h++;
		hend--;
	} else if (memchr(s, ':', colon - s)) {
		return -EINVAL; /* bare IPv6 needs brackets */
	}
	uint64_t p;
	const char *rest = parse_num(colon + 1, &p);
	if (!rest || *rest || p == 0 || p > 65535)
		return -EINVAL;
	*host = strndup(h, hend - h);
	if (!*host)
		return -ENOMEM;
	*port = (uint16_t)p;
	return 0;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int sockaddr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return 0;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/* 1 when every address host names is loopback; 0 otherwise or unresolvable. */
static int host_is_loopback(const char *host)
{
	struct addrinfo hints = {0}, *res, *ai;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return 0;
	int all = res != NULL;
	for (ai = res; ai; ai = ai->ai_next)
		all = all && sockaddr_is_loopback(ai->ai_addr);
	freeaddrinfo(res);
	return all;
}

int addr_check_protected(const char *flag, const char *addr, int insecure, char **cause)
{
	*cause = NULL;
	const char *colon = strrchr(addr, ':');
	if (insecure || !colon)
		return 0;
	const char *h = addr, *hend = colon;
	if (*h == '[' && hend - h >= 2 && hend[-1] == ']') {
		h++;
		hend--;
	}
	char *host = strndup(h, hend - h);
	if (!host)
		return -ENOMEM;
	int ok = host_is_loopback(host);
	free(host);
	if (ok)
		return 0;
	if (asprintf(cause,
		     "%s %s: refusing to listen on a non-loopback address without TLS "
		     "(protected mode): anyone who can reach it could read and change every "
		     "file; listen on 127.0.0.1, or pass --insecure on a trusted network",
		     flag, addr) < 0)
		*cause = NULL;
	return -EPERM;
}
