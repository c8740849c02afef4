/*
 * util: always-on asserts, the daemons' allocation policy, time, a full write(), and the
 * parsers for sizes, durations and addresses that flags, config files and the CLI share.
 *
 * Out of memory: the daemons (cairn-meta, cairn-chunk) and the CLI allocate with xcalloc()
 * and friends, which log one line and abort, as Redis does: a server that cannot allocate
 * cannot keep its promises. libcairn never aborts on it: it returns -ENOMEM to its host.
 */
#ifndef CAIRN_UTIL_H
#define CAIRN_UTIL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Checks an invariant in every build, release included: on failure writes the expression
 * and where to stderr, then aborts. For invariants only, never for input from a peer or a
 * disk (those get an error).
 */
#define CAIRN_ASSERT(e) ((e) ? (void)0 : cairn_assert_fail(#e, __FILE__, __LINE__))
_Noreturn void cairn_assert_fail(const char *expr, const char *file, int line);

/* calloc/malloc/strdup that log "out of memory" and abort instead of returning NULL. Daemons only. */
void *xcalloc(size_t n, size_t size);
void *xmalloc(size_t size);
char *xstrdup(const char *s);

/* Writes all len bytes of buf to fd (again after EINTR and short writes). Returns 0 or -errno. */
int write_full(int fd, const void *buf, size_t len);

/* Wall-clock time in microseconds since the epoch. */
int64_t time_now_us(void);

/* Monotonic time in milliseconds. */
uint64_t time_mono_ms(void);
/* Monotonic time in microseconds. */
uint64_t time_mono_us(void);

/* "4096", "64K", "64M", "1G", "2T" (powers of 1024). Returns 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out);

/* "250ms", "2s", "5m", "1h"; a bare number is seconds. Returns 0 or -EINVAL. */
int parse_duration_ms(const char *s, uint64_t *out);

/*
 * Splits "HOST:PORT" (PORT 1..65535; HOST non-empty, "[v6]" allowed).
 * Returns 0 and a new *host (free with free()), or -EINVAL.
 */
int addr_parse(const char *s, char **host, uint16_t *port);

/*
 * Protected mode (Redis's model): a server without TLS material may listen
 * only on loopback. Returns 0 when `flag addr` (HOST:PORT, PORT may be 0)
 * names only loopback addresses or insecure is set; else -EPERM with a new
 * *cause saying why and what to do.
 */
int addr_check_protected(const char *flag, const char *addr, int insecure, char **cause);

#endif
