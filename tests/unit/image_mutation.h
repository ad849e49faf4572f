/*
 * Random damage to the images the loader tests parse (ELF, bzImage): little-endian field
 * access, copies cut short, flipped bytes and fields set to edge values. Every draw comes from
 * xorshift_rng.h, so a failing round reproduces. Include after <cmocka.h>.
 */
#ifndef IMAGE_MUTATION_H
#define IMAGE_MUTATION_H

#include <stdlib.h>
#include <string.h>

#include <kestrel/types.h>

#include "xorshift_rng.h"

/* Little-endian fields, as both formats store them. */
static inline void put(u8 *b, u64 off, u64 v, int n)
{
	for (int i = 0; i < n; i++)
		b[off + i] = (u8)(v >> (8 * i));
}

static inline u64 get(const u8 *b, u64 off, int n)
{
	u64 v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | b[off + i];
	return v;
}

/*
 * A malloc'd copy of the *size-byte image, one time in eight cut to a random length (stored back
 * in *size). Exactly as large as the parser is told, so ASan sees any read past its end.
 */
static inline u8 *copy_maybe_truncated(const u8 *image, u64 *size)
{
	u8 *b;

	if (rng_below(8) == 0)
		*size = rng_below(*size + 1);
	b = malloc(*size ? *size : 1);
	assert_non_null(b);
	memcpy(b, image, *size);
	return b;
}

/* The width of a field to damage: 1, 2, 4 or 8 bytes. */
static inline int random_width(void)
{
	static const int widths[] = { 1, 2, 4, 8 };

	return widths[rng_below(ARRAY_SIZE(widths))];
}

/* A value on an edge the parser checks: one of `edges`, just below the file size, or anything. */
static inline u64 edge_value(u64 size, const u64 *edges, size_t n_edges)
{
	switch (rng_below(4)) {
	case 0:
		return size - rng_below(16);
	case 1:
		return rng();
	default:
		return edges[rng_below(n_edges)];
	}
}

static inline void flip_random_byte(u8 *b, u64 size)
{
	/* Two draws in a fixed order: within one expression it would be the compiler's. */
	u8 flip = (u8)(1 + rng_below(255));

	b[rng_below(size)] ^= flip;
}

/* Sets the w-byte field at off to edge(size), if the (maybe truncated) image holds it. */
static inline void put_edge_value(u8 *b, u64 size, u64 off, int w, u64 (*edge)(u64))
{
	if (off + (u64)w <= size)
		put(b, off, edge(size), w);
}

/* A refusal: -1 and a message, terminated inside the buffer. */
static inline void expect_refused(int rc, const char *err, size_t err_size)
{
	assert_int_equal(rc, -1);
	assert_true(err[0] != '\0');
	assert_non_null(memchr(err, '\0', err_size));
}

#endif
