/*
 * crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), with a
 * portable slicing-by-8 path and an SSE4.2 path.
 *
 * Design. The hardware path runs three independent _mm_crc32_u64 streams
 * over three adjacent stretches of the buffer, which hides the
 * instruction's 3-cycle latency (DESIGN §9: 7 GB/s on one stream, 17 GB/s
 * on three), and then joins them: the CRC register of stretch A is carried
 * across stretch B by multiplying it by x^(8*len(B)) mod P, done with four
 * table lookups ("zeros operators") precomputed for the two stretch sizes
 * used. crc32c_combine() does the same for any length with the
 * square-and-multiply method on a table of x^(2^k) mod P.
 *
 * All tables are computed once (pthread_once) on first use and never
 * written again; that and the CPU probe are this file's only file-scope
 * state, so every function is pure and thread-safe afterwards.
 *
 * Invariant: crc32c_sw() and crc32c_hw() give bit-identical results for
 * every (crc, buf, len); tests/unit/test_crc32c.c checks both against a
 * bit-at-a-time reference.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define CRC32C_HAVE_HW 1
#else
#define CRC32C_HAVE_HW 0
#endif

#define POLY 0x82f63b78u

/* Stretch sizes of the three-stream hardware loop. */
#define HW_LONG	 8192u
#define HW_SHORT 256u

static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static uint32_t crc_table[8][256];   /* slicing-by-8 */
static uint32_t x2n_table[72];	     /* x^(2^k) mod P, k < 64 + 8 */
static uint32_t zeros_long[4][256];  /* multiply by x^(8*HW_LONG) mod P */
static uint32_t zeros_short[4][256]; /* multiply by x^(8*HW_SHORT) mod P */
static int crc_hw;

/* a * b mod P, both in reflected bit order (x^0 is the top bit). */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;
	for (;;) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
	}
	return p;
}

/* x^(n * 2^k) mod P, for k <= 8. */
static uint32_t x2nmodp(uint64_t n, unsigned k)
{
	uint32_t p = 1u << 31; /* x^0 */
	while (n) {
		if (n & 1)
			p = multmodp(x2n_table[k], p);
		n >>= 1;
		k++;
	}
	return p;
}

static void zeros_build(uint32_t zeros[4][256], size_t len)
{
	uint32_t op = x2nmodp(len, 3);
	for (unsigned n = 0; n < 256; n++)
		for (unsigned k = 0; k < 4; k++)
			zeros[k][n] = multmodp(op, (uint32_t)n << (8 * k));
}

static void crc_init(void)
{
	for (unsigned n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		crc_table[0][n] = c;
	}
	for (unsigned n = 0; n < 256; n++)
		for (unsigned k = 1; k < 8; k++) {
			uint32_t c = crc_table[k - 1][n];
			crc_table[k][n] = (c >> 8) ^ crc_table[0][c & 0xff];
		}
	x2n_table[0] = 1u << 30; /* x^1 */
	for (unsigned k = 1; k < 72; k++)
		x2n_table[k] = multmodp(x2n_table[k - 1], x2n_table[k - 1]);
	zeros_build(zeros_long, HW_LONG);
	zeros_build(zeros_short, HW_SHORT);
#if CRC32C_HAVE_HW
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2") != 0;
#endif
}

static inline uint32_t load_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	const unsigned char *p = buf;
	uint32_t c = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint32_t lo = c ^ load_le32(p);
		uint32_t hi = load_le32(p + 4);
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
	return ~c;
}

uint32_t crc32c_combine(uint32_t crc1, uint32_t crc2, size_t len2)
{
	pthread_once(&crc_once, crc_init);
	return multmodp(x2nmodp(len2, 3), crc1) ^ crc2;
}

int crc32c_hw_available(void)
{
	pthread_once(&crc_once, crc_init);
	return crc_hw;
}

#if CRC32C_HAVE_HW

/* Carries a raw CRC register across a stretch of zeros, by table. */
static inline uint32_t crc_shift(const uint32_t zeros[4][256], uint32_t c)
{
	return zeros[0][c & 0xff] ^ zeros[1][(c >> 8) & 0xff] ^ zeros[2][(c >> 16) & 0xff] ^
	       zeros[3][c >> 24];
}

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Three streams over 3 * stretch bytes at *pp; returns the joined register. */
__attribute__((target("sse4.2"))) static inline uint32_t
crc_hw3(uint32_t c, const unsigned char **pp, size_t stretch, const uint32_t zeros[4][256])
{
	const unsigned char *p = *pp, *end = p + stretch;
	uint64_t c0 = c, c1 = 0, c2 = 0;
	do {
		c0 = _mm_crc32_u64(c0, load64(p));
		c1 = _mm_crc32_u64(c1, load64(p + stretch));
		c2 = _mm_crc32_u64(c2, load64(p + 2 * stretch));
		p += 8;
	} while (p < end);
	c = crc_shift(zeros, (uint32_t)c0) ^ (uint32_t)c1;
	c = crc_shift(zeros, c) ^ (uint32_t)c2;
	*pp = p + 2 * stretch;
	return c;
}

__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	const unsigned char *p = buf;
	uint32_t c = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8(c, *p++);
		len--;
	}
	while (len >= 3 * HW_LONG) {
		c = crc_hw3(c, &p, HW_LONG, zeros_long);
		len -= 3 * HW_LONG;
	}
	while (len >= 3 * HW_SHORT) {
		c = crc_hw3(c, &p, HW_SHORT, zeros_short);
		len -= 3 * HW_SHORT;
	}
	uint64_t c64 = c;
	while (len >= 8) {
		c64 = _mm_crc32_u64(c64, load64(p));
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len--)
		c = _mm_crc32_u8(c, *p++);
	return ~c;
}

#else

uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return crc32c_sw(crc, buf, len);
}

#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return crc_hw ? crc32c_hw(crc, buf, len) : crc32c_sw(crc, buf, len);
}
