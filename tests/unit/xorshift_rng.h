/*
 * The deterministic random numbers of the randomised tests: xorshift64 (Marsaglia), so the same
 * seed gives the same run on every host and a failure reproduces. One generator per test
 * program; a test seeds it by setting rng_state (never to 0).
 */
#ifndef XORSHIFT_RNG_H
#define XORSHIFT_RNG_H

#include <kestrel/types.h>

static u64 rng_state;

static inline u64 rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static inline u64 rng_below(u64 n)
{
	return rng() % n;
}

#endif
