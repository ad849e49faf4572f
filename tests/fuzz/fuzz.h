/*
 * Shared by the fuzz targets (tests/fuzz/fuzz_*.c). Each target defines LLVMFuzzerTestOneInput
 * and is linked either with libFuzzer (clang -fsanitize=fuzzer,address,undefined: `make fuzz`)
 * or with tests/fuzz/replay.c (gcc -fsanitize=address,undefined: `make fuzz-replay`), which runs
 * the committed corpus through it. A target checks the documented promises of the code it
 * drives with FUZZ_CHECK, which aborts, so a broken promise is a crash like any other.
 */
#ifndef KESTREL_FUZZ_H
#define KESTREL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kestrel/types.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The harness's own byte loops are no coverage feedback for the fuzzer, and instrumenting them
 * (a traced comparison per byte of a 64 KiB buffer) would cost more than the code under test.
 */
#if defined(__clang__)
#define FUZZ_HELPER static __attribute__((no_sanitize("coverage"), noinline, unused))
#else
#define FUZZ_HELPER static inline __attribute__((unused))
#endif

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__,      \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A little-endian field of n bytes at data[off], zero past the end of the input. */
FUZZ_HELPER u64 fuzz_le(const uint8_t *data, size_t size, size_t off, unsigned n)
{
	u64 v = 0;

	for (unsigned i = 0; i < n; i++)
		if (off + i < size)
			v |= (u64)data[off + i] << (8 * i);
	return v;
}

/* Whether the string s (NUL-terminated within max bytes) is all printable ASCII, or tabs. */
FUZZ_HELPER int fuzz_text(const char *s, size_t max, int tabs)
{
	for (size_t i = 0; i < max; i++) {
		if (!s[i])
			return 1;
		if ((s[i] < 0x20 || s[i] > 0x7e) && !(tabs && s[i] == '\t'))
			return 0;
	}
	return 0;
}

FUZZ_HELPER int fuzz_printable(const char *s, size_t max)
{
	return fuzz_text(s, max, 0);
}

/* Whether all n bytes at p are `byte` (one intercepted memcmp, not n instrumented loads). */
FUZZ_HELPER int fuzz_all(const uint8_t *p, size_t n, uint8_t byte)
{
	return !n || (p[0] == byte && memcmp(p, p + 1, n - 1) == 0);
}

/* Fill dst (n bytes) with src (len > 0 bytes) over and over. */
FUZZ_HELPER void fuzz_repeat(uint8_t *dst, size_t n, const uint8_t *src, size_t len)
{
	for (size_t at = 0; at < n; at += len)
		memcpy(dst + at, src, n - at < len ? n - at : len);
}

/* Replace every NUL of the n bytes at p with a space. */
FUZZ_HELPER void fuzz_nul_to_space(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!p[i])
			p[i] = ' ';
}

/* A heap copy of exactly n bytes (at least 1 allocated), so ASan sees every byte read past n. */
FUZZ_HELPER uint8_t *fuzz_dup(const uint8_t *data, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	FUZZ_CHECK(p);
	if (n)
		memcpy(p, data, n);
	return p;
}

#endif
