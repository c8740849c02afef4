/*
 * test_crc32c: the table and SSE4.2 paths of crc32c against a bit-at-a-time
 * reference model, at many lengths and misaligned starts; incremental use;
 * crc32c_combine(). Prints (does not assert) the throughput of both paths.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc32c.h"

#include "check.h"

static uint32_t crc_ref(uint32_t crc, const unsigned char *p, size_t len)
{
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)rnd();
}

static void test_check_value(void)
{
	const char *s = "123456789";
	CHECKF(crc_ref(0, (const unsigned char *)s, 9) == 0xe3069283u, "reference check value");
	CHECKF(crc32c(0, s, 9) == 0xe3069283u, "crc32c check value %08x", crc32c(0, s, 9));
	CHECKF(crc32c_sw(0, s, 9) == 0xe3069283u, "sw check value");
	if (crc32c_hw_available())
		CHECKF(crc32c_hw(0, s, 9) == 0xe3069283u, "hw check value");
	CHECKF(crc32c(0, NULL, 0) == 0, "empty");
	CHECKF(crc32c(0x12345678u, NULL, 0) == 0x12345678u, "empty keeps crc");
}

static void test_lengths(void)
{
	static const size_t lens[] = {0,
				      1,
				      2,
				      3,
				      7,
				      8,
				      9,
				      63,
				      64,
				      65,
				      65536 - 1,
				      65536,
				      65536 + 1,
				      3 * 8192,
				      3 * 8192 + 5,
				      3 * 256 - 1,
				      (1u << 20) + 3};
	size_t max = (1u << 20) + 3 + 8;
	unsigned char *buf = malloc(max);
	if (!buf) {
		CHECKF(0, "malloc");
		return;
	}
	fill(buf, max);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];
		for (size_t off = 0; off < 8; off++) {
			if (len > 65536 && off != 0 && off != 3 && off != 7)
				continue;
			uint32_t seed = off & 1 ? 0xdeadbeefu : 0;
			uint32_t want = crc_ref(seed, buf + off, len);
			uint32_t sw = crc32c_sw(seed, buf + off, len);
			CHECKF(sw == want, "sw len %zu off %zu: %08x != %08x", len, off, sw, want);
			if (crc32c_hw_available()) {
				uint32_t hw = crc32c_hw(seed, buf + off, len);
				CHECKF(hw == want, "hw len %zu off %zu: %08x != %08x", len, off, hw,
				       want);
			}
			CHECKF(crc32c(seed, buf + off, len) == want, "crc32c len %zu off %zu", len,
			       off);
		}
	}
	free(buf);
}

static void test_incremental(void)
{
	unsigned char buf[1001]; /* data starts at buf + 1: misaligned */
	fill(buf, sizeof(buf));
	static const size_t lens[] = {0, 1, 2, 9, 64, 65, 300, 1000};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];
		uint32_t want = crc_ref(0, buf + 1, n);
		for (size_t cut = 0; cut <= n; cut++) {
			uint32_t a = crc32c_sw(crc32c_sw(0, buf + 1, cut), buf + 1 + cut, n - cut);
			CHECKF(a == want, "sw incremental len %zu cut %zu", n, cut);
			uint32_t b = crc32c(crc32c(0, buf + 1, cut), buf + 1 + cut, n - cut);
			CHECKF(b == want, "incremental len %zu cut %zu", n, cut);
		}
	}
}

static void test_combine(void)
{
	size_t max = 200000;
	unsigned char *buf = malloc(max);
	if (!buf) {
		CHECKF(0, "malloc");
		return;
	}
	fill(buf, max);
	for (int i = 0; i < 200; i++) {
		size_t len = i < 20 ? (size_t)i : rnd() % max;
		size_t cut = len ? rnd() % (len + 1) : 0;
		if (i % 7 == 0)
			cut = len; /* len2 == 0 */
		if (i % 11 == 0)
			cut = 0; /* len1 == 0 */
		uint32_t c1 = crc32c(0, buf, cut);
		uint32_t c2 = crc32c(0, buf + cut, len - cut);
		uint32_t want = crc_ref(0, buf, len);
		uint32_t got = crc32c_combine(c1, c2, len - cut);
		CHECKF(got == want, "combine len %zu cut %zu: %08x != %08x", len, cut, got, want);
	}
	CHECKF(crc32c_combine(0x1234u, crc32c(0, buf, 0), 0) == 0x1234u, "combine len2 0");
	/* Lengths past 4 GiB: combining is associative. */
	for (int i = 0; i < 20; i++) {
		uint32_t c1 = (uint32_t)rnd(), c2 = (uint32_t)rnd(), c3 = (uint32_t)rnd();
		uint64_t n2 = rnd() % (8ull << 30), n3 = rnd() % (8ull << 30);
		uint32_t l = crc32c_combine(crc32c_combine(c1, c2, n2), c3, n3);
		uint32_t r = crc32c_combine(c1, crc32c_combine(c2, c3, n3), n2 + n3);
		CHECKF(l == r, "combine associativity n2 %llu n3 %llu", (unsigned long long)n2,
		       (unsigned long long)n3);
	}
	free(buf);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double throughput(uint32_t (*fn)(uint32_t, const void *, size_t), const unsigned char *b,
			 size_t len, int reps)
{
	uint32_t c = 0;
	double t0 = now_s();
	for (int i = 0; i < reps; i++)
		c = fn(c, b, len);
	double t = now_s() - t0;
	if (c == 0x5a5a5a5au)
		fputc(' ', stdout); /* keep the loop */
	return (double)len * reps / t / 1e9;
}

static void bench(void)
{
	size_t len = 65536;
	unsigned char *b = malloc(len);
	if (!b)
		return;
	fill(b, len);
	double sw = throughput(crc32c_sw, b, len, 4000);
	printf("crc32c sw: %.2f GB/s (64 KiB blocks)\n", sw);
	if (crc32c_hw_available()) {
		double hw = throughput(crc32c_hw, b, len, 40000);
		printf("crc32c hw: %.2f GB/s (64 KiB blocks)\n", hw);
		double hw4k = throughput(crc32c_hw, b, 4096, 400000);
		printf("crc32c hw: %.2f GB/s (4 KiB blocks)\n", hw4k);
	}
	free(b);
}

int main(void)
{
	test_check_value();
	test_lengths();
	test_incremental();
	test_combine();
	if (failures) {
		fprintf(stderr, "test_crc32c: %d failure(s)\n", failures);
		return 1;
	}
	bench();
	printf("test_crc32c: ok (hw %s)\n", crc32c_hw_available() ? "yes" : "no");
	return 0;
}
