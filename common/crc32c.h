/*
 * crc32c: CRC-32C (Castagnoli), as used by iSCSI, ext4 and cairn's frames,
 * chunk blocks, op-log records and checkpoints.
 *
 * crc32c() picks the SSE4.2 instruction when the CPU has it (checked once)
 * and a portable table path elsewhere; both give identical results. All
 * functions are pure and thread-safe.
 */
#ifndef CAIRN_CRC32C_H
#define CAIRN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extends crc (0 to start) over len bytes of buf and returns the new CRC.
 * crc32c(crc32c(0, a, n), b, m) == crc32c(0, a||b, n+m).
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable path, always available (for tests and CPUs without SSE4.2). */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* The hardware path; only call when crc32c_hw_available(). */
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
int crc32c_hw_available(void);

/*
 * Given crc1 = CRC of A and crc2 = CRC of B (len2 bytes), returns the CRC
 * of A||B without touching the data.
 */
uint32_t crc32c_combine(uint32_t crc1, uint32_t crc2, size_t len2);

#endif
