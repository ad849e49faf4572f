/*
 * The clock the timer-device tests move by hand (a struct vclock), and the exact 128-bit
 * reference conversions between its time and a device's ticks, independent of the 64-bit split
 * the devices use.
 */
#ifndef FAKE_CLOCK_H
#define FAKE_CLOCK_H

#include <kestrel/pit8254.h>

struct fake_clock {
	u64 now;
	u64 base; /* start time: tick 0 of the reference conversions */
	u64 hz;
	u64 step; /* added to the clock on every read of it: time passes between accesses */
};

static inline void fake_clock_start(struct fake_clock *c, u64 hz, u64 start)
{
	c->now = c->base = start;
	c->hz = hz;
	c->step = 0;
}

static inline u64 fake_clock_now(void *ctx)
{
	struct fake_clock *c = ctx;

	c->now += c->step;
	return c->now;
}

static inline struct vclock fake_clock_vclock(struct fake_clock *c)
{
	return (struct vclock){ fake_clock_now, c, c->hz };
}

/* Whole ticks of a `freq` Hz counter started at base, at clock time t. */
static inline u64 fake_clock_ticks(const struct fake_clock *c, u64 t, u64 freq)
{
	return (u64)((unsigned __int128)(t - c->base) * freq / c->hz);
}

/* The first clock time at which `ticks` ticks of a `freq` Hz counter have passed since `from`. */
static inline u64 fake_clock_time_after(const struct fake_clock *c, u64 from, u64 ticks, u64 freq)
{
	return from + (u64)(((unsigned __int128)ticks * c->hz + freq - 1) / freq);
}

/*
 * Time as a hostile host gives it, from a random word: mostly steps below `small`, now and then
 * a huge jump forwards or a step backwards.
 */
static inline void fake_clock_wander(struct fake_clock *c, u32 r, u32 small)
{
	switch (r % 8) {
	case 0:
		c->now += (u64)r << (r % 16);
		break;
	case 1:
		c->now -= r % 4096;
		break;
	default:
		c->now += r % small;
		break;
	}
}

#endif
