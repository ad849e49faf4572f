/*
 * The MC146818 RTC against a fake clock and the C library's calendar (timegm, gmtime_r), with
 * Linux's own access sequences and exact 128-bit reference math for every event time.
 */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <limits.h>
#include <time.h>
#include <cmocka.h>

#include <kestrel/rtc_cmos.h>

#include "fake_clock.h"
#include "vdev_fuzz.h"

#define TSC_HZ 2500000000ull
#define NEVER (~0ull)
#define DIV 32768ull
#define UIP_TICKS 73
#define SPAN_10000Y (3652425ll * 86400)
#define YEAR_0 (-62167219200ll)

#define R_SEC 0x00
#define R_SEC_ALARM 0x01
#define R_MIN 0x02
#define R_MIN_ALARM 0x03
#define R_HOUR 0x04
#define R_HOUR_ALARM 0x05
#define R_WDAY 0x06
#define R_MDAY 0x07
#define R_MON 0x08
#define R_YEAR 0x09
#define R_A 0x0a
#define R_B 0x0b
#define R_C 0x0c
#define R_D 0x0d
#define R_CENTURY 0x32

#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_BIN 0x04
#define B_24H 0x02

struct env {
	struct vdev_bus bus;
	struct rtc rtc;
	struct fake_clock clock;
	s64 unix0;
	unsigned edges;
	bool level;
};

static void irq8_set(void *ctx, unsigned irq, bool level)
{
	struct env *e = ctx;

	assert_int_equal(irq, 8);
	assert_true(level != e->level); /* the device only reports changes */
	if (level)
		e->edges++;
	e->level = level;
}

static void setup(struct env *e, u64 hz, u64 start, s64 unix0)
{
	memset(e, 0, sizeof(*e));
	fake_clock_start(&e->clock, hz, start);
	e->unix0 = unix0;
	vdev_bus_init(&e->bus);
	assert_int_equal(rtc_init(&e->rtc, fake_clock_vclock(&e->clock),
				  (struct irq_line){ irq8_set, e }, (u64)unix0), 0);
	assert_int_equal(rtc_register(&e->rtc, &e->bus), 0);
}

static u8 rd(struct env *e, u8 idx)
{
	vdev_io_write(&e->bus, 0x70, 1, idx);
	return vdev_io_read(&e->bus, 0x71, 1);
}

static void wr(struct env *e, u8 idx, u8 v)
{
	vdev_io_write(&e->bus, 0x70, 1, idx);
	vdev_io_write(&e->bus, 0x71, 1, v);
}

/* Clock time of divider tick `div` counted from `from` (first time at or after it). */
static u64 time_of_div(const struct env *e, u64 from, u64 div)
{
	return fake_clock_time_after(&e->clock, from, div, DIV);
}

static u64 whole_seconds(const struct env *e, u64 t)
{
	return fake_clock_ticks(&e->clock, t, DIV) / DIV;
}

/* --- the date helpers ------------------------------------------------------------------- */

static void check_date(const struct rtc_date *d, const struct tm *tm)
{
	assert_int_equal(d->year, tm->tm_year + 1900);
	assert_int_equal(d->mon, tm->tm_mon + 1);
	assert_int_equal(d->day, tm->tm_mday);
	assert_int_equal(d->hour, tm->tm_hour);
	assert_int_equal(d->min, tm->tm_min);
	assert_int_equal(d->sec, tm->tm_sec);
	assert_int_equal(d->wday, tm->tm_wday);
}

static bool leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Every day of years 0-9999, walked one day at a time, the weekday carried along. */
static void dates_every_day(void **state)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	u64 t = rtc_date_to_unix(0, 1, 1, 0, 0, 0);
	int wday = 6; /* 0000-01-01, proleptic Gregorian, was a Saturday */
	unsigned r = 1;

	assert_int_equal((s64)t, YEAR_0);
	assert_int_equal(rtc_date_to_unix(1970, 1, 1, 0, 0, 0), 0);
	for (int y = 0; y < 10000; y++)
		for (int m = 1; m <= 12; m++)
			for (int d = 1; d <= mdays[m - 1] + (m == 2 && leap(y)); d++) {
				struct rtc_date out;
				int s;

				assert_int_equal(rtc_date_to_unix(y, m, d, 0, 0, 0), t);
				r = r * 1103515245 + 12345;
				s = r % 86400;
				rtc_unix_to_date(t + s, &out);
				assert_true(out.year == y && out.mon == m && out.day == d);
				assert_true(out.hour == s / 3600 && out.min == s / 60 % 60 &&
					    out.sec == s % 60 && out.wday == wday);
				t += 86400;
				wday = (wday + 1) % 7;
			}
	assert_int_equal((s64)t, YEAR_0 + SPAN_10000Y);
}

/* Against the C library: any second, and fields out of range normalised as timegm() does. */
static void dates_match_libc(void **state)
{
	struct fuzz_rng rng = { 0x146818 };
	struct rtc_date d;
	struct tm tm;
	time_t tt;

	for (unsigned i = 0; i < 1000000; i++) {
		s64 t = (s64)(((u64)fuzz_next(&rng) << 32 | fuzz_next(&rng)) % (u64)SPAN_10000Y) +
			YEAR_0;

		tt = t;
		assert_non_null(gmtime_r(&tt, &tm));
		rtc_unix_to_date((u64)t, &d);
		check_date(&d, &tm);
		assert_int_equal((s64)rtc_date_to_unix(d.year, d.mon, d.day, d.hour, d.min, d.sec),
				 t);
	}
	for (unsigned i = 0; i < 1000000; i++) {
		int y = fuzz_next(&rng) % 12000, mon = (int)(fuzz_next(&rng) % 60) - 20;
		int day = (int)(fuzz_next(&rng) % 200) - 70, h = (int)(fuzz_next(&rng) % 100) - 30;
		int mi = (int)(fuzz_next(&rng) % 200) - 50, s = (int)(fuzz_next(&rng) % 400) - 100;

		tm = (struct tm){ .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = day,
				  .tm_hour = h, .tm_min = mi, .tm_sec = s };
		tt = timegm(&tm);
		assert_int_equal((s64)rtc_date_to_unix(y, mon, day, h, mi, s), (s64)tt);
	}
	rtc_unix_to_date(~0ull, &d); /* -1: the last second of 1969, a Wednesday */
	assert_true(d.year == 1969 && d.mon == 12 && d.day == 31 && d.hour == 23 && d.sec == 59);
	assert_int_equal(d.wday, 3);
	/* The extremes compute without overflow (UBSan is watching). */
	rtc_unix_to_date(1ull << 63, &d);
	rtc_unix_to_date(~0ull >> 1, &d);
	rtc_date_to_unix(INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX);
	rtc_date_to_unix(INT_MIN, INT_MIN, INT_MIN, INT_MIN, INT_MIN, INT_MIN);
}

/* --- registers -------------------------------------------------------------------------- */

static u8 enc(bool bin, unsigned v)
{
	return bin ? v : (v / 10) << 4 | v % 10;
}

static u8 enc_hour(bool bin, bool h24, unsigned h)
{
	if (h24)
		return enc(bin, h);
	return enc(bin, (h + 11) % 12 + 1) | (h >= 12 ? 0x80 : 0);
}

/* The registers hold time t (wrapped to years 0-9999) in the format register B says. */
static void expect_time(struct env *e, s64 t)
{
	u8 b = rd(e, R_B);
	bool bin = b & B_BIN, h24 = b & B_24H;
	struct tm tm;
	time_t tt;
	int year;

	t = YEAR_0 + ((t - YEAR_0) % SPAN_10000Y + SPAN_10000Y) % SPAN_10000Y;
	tt = t;
	assert_non_null(gmtime_r(&tt, &tm));
	year = tm.tm_year + 1900;
	assert_int_equal(rd(e, R_SEC), enc(bin, tm.tm_sec));
	assert_int_equal(rd(e, R_MIN), enc(bin, tm.tm_min));
	assert_int_equal(rd(e, R_HOUR), enc_hour(bin, h24, tm.tm_hour));
	assert_int_equal(rd(e, R_MDAY), enc(bin, tm.tm_mday));
	assert_int_equal(rd(e, R_MON), enc(bin, tm.tm_mon + 1));
	assert_int_equal(rd(e, R_YEAR), enc(bin, year % 100));
	assert_int_equal(rd(e, R_CENTURY), enc(bin, year / 100));
}

/* Linux's mc146818_set_time(): SET, divider reset, the fields, then both restored. */
static void linux_set_time(struct env *e, s64 t)
{
	u8 ctrl = rd(e, R_B), freq;
	bool bin = ctrl & B_BIN, h24 = ctrl & B_24H;
	struct tm tm;
	time_t tt = t;

	assert_non_null(gmtime_r(&tt, &tm));
	wr(e, R_B, ctrl | B_SET);
	freq = rd(e, R_A);
	wr(e, R_A, freq | 0x70);
	wr(e, R_YEAR, enc(bin, (tm.tm_year + 1900) % 100));
	wr(e, R_MON, enc(bin, tm.tm_mon + 1));
	wr(e, R_MDAY, enc(bin, tm.tm_mday));
	wr(e, R_HOUR, enc_hour(bin, h24, tm.tm_hour));
	wr(e, R_MIN, enc(bin, tm.tm_min));
	wr(e, R_SEC, enc(bin, tm.tm_sec));
	wr(e, R_CENTURY, enc(bin, (tm.tm_year + 1900) / 100));
	wr(e, R_B, ctrl);
	wr(e, R_A, freq);
}

static void reset_state(void **state)
{
	struct env e;

	setup(&e, TSC_HZ, 12345, rtc_date_to_unix(2024, 2, 29, 13, 45, 7));
	assert_int_equal(rd(&e, R_SEC), 0x07);
	assert_int_equal(rd(&e, R_MIN), 0x45);
	assert_int_equal(rd(&e, R_HOUR), 0x13);
	assert_int_equal(rd(&e, R_WDAY), 5); /* Thursday: Sunday is 1 */
	assert_int_equal(rd(&e, R_MDAY), 0x29);
	assert_int_equal(rd(&e, R_MON), 0x02);
	assert_int_equal(rd(&e, R_YEAR), 0x24);
	assert_int_equal(rd(&e, R_CENTURY), 0x20);
	assert_int_equal(rd(&e, R_A), 0x26);
	assert_int_equal(rd(&e, R_B), 0x02);
	assert_int_equal(rd(&e, R_C), 0x00);
	assert_int_equal(rd(&e, R_D), 0x80);
	assert_int_equal(vdev_io_read(&e.bus, 0x70, 1), 0xff);
	assert_int_equal(rtc_next_event(&e.rtc), NEVER);
	/* rtc-cmos's probe: register D bit 6 clear, 1024 Hz, interrupts off, 24-hour mode. */
	assert_int_equal(rd(&e, R_D) & 0x40, 0);
	wr(&e, R_A, 0x26);
	wr(&e, R_B, rd(&e, R_B) & ~(B_PIE | B_AIE | B_UIE));
	assert_true(rd(&e, R_B) & B_24H);
	assert_int_equal(e.edges, 0);
	/* Years past 9999 wrap like the two-digit century. */
	setup(&e, TSC_HZ, 0, rtc_date_to_unix(10000, 1, 1, 0, 0, 0));
	expect_time(&e, YEAR_0);
	assert_int_equal(rd(&e, R_CENTURY), 0x00);
}

/* Second by second across the calendar's corners, in all four formats. */
static void ticks_across_boundaries(void **state)
{
	static const s64 starts[] = {
		946684795,	/* 1999-12-31 23:59:55 */
		1709164795,	/* 2024-02-28 23:59:55 */
		4107542395ll,	/* 2100-02-28 23:59:55 */
		2147483640,	/* 2038-01-19 03:14:00 */
		253402300790ll, /* 9999-12-31 23:59:50 */
		43190,		/* 1970-01-01 11:59:50 */
	};
	static const u8 formats[] = { B_24H, B_24H | B_BIN, 0, B_BIN };

	for (unsigned f = 0; f < ARRAY_SIZE(formats); f++)
		for (unsigned i = 0; i < ARRAY_SIZE(starts); i++) {
			struct env e;
			u64 released;

			setup(&e, 50000000, 77, 0);
			wr(&e, R_B, formats[f]);
			linux_set_time(&e, starts[i]);
			released = e.clock.now;
			/* 43200 seconds from 11:59:50 cover noon and midnight in 12-hour mode. */
			for (u64 s = 0; s < (starts[i] == 43190 ? 43220 : 30); s++) {
				e.clock.now = time_of_div(&e, released, DIV / 2 + s * DIV) - 1;
				expect_time(&e, starts[i] + s);
				e.clock.now++;
				expect_time(&e, starts[i] + s + 1);
			}
		}
}

/* Over decades of the clock, in random steps, the time is start + floor(elapsed). */
static void long_run_exact(void **state)
{
	struct fuzz_rng rng = { 0x70 };
	struct env e;
	s64 t0 = 1700000000;

	setup(&e, TSC_HZ, 0x0123456789ull, t0);
	for (unsigned i = 0; i < 100000; i++) {
		u32 r = fuzz_next(&rng);

		e.clock.now += r % 4 ? r % (TSC_HZ * 2) : (u64)r * 100000;
		if (i % 8 == 0)
			expect_time(&e, t0 + (s64)whole_seconds(&e, e.clock.now));
		else
			rtc_update(&e.rtc, e.clock.now);
	}
	assert_true(whole_seconds(&e, e.clock.now) > 20ull * 365 * 86400);
	expect_time(&e, t0 + (s64)whole_seconds(&e, e.clock.now));
	/* A long stretch without any look, then exactly on a second. */
	e.clock.now = e.clock.base + (whole_seconds(&e, e.clock.now) + 86400 * 1000) * TSC_HZ;
	expect_time(&e, t0 + (s64)whole_seconds(&e, e.clock.now));
	e.clock.now--;
	rtc_update(&e.rtc, e.clock.now); /* time never runs backwards */
	expect_time(&e, t0 + (s64)whole_seconds(&e, e.clock.now + 1));
}

/* UIP: high for the 73 divider ticks (2.2 ms) before each update, while the old time shows. */
static void uip_window(void **state)
{
	struct env e;

	setup(&e, TSC_HZ, 1000, 100);
	for (u64 s = 1; s < 5; s++) {
		e.clock.now = time_of_div(&e, e.clock.base, s * DIV - UIP_TICKS) - 1;
		assert_int_equal(rd(&e, R_A), 0x26);
		e.clock.now++;
		assert_int_equal(rd(&e, R_A), 0xa6);
		e.clock.now = time_of_div(&e, e.clock.base, s * DIV) - 1;
		assert_int_equal(rd(&e, R_A), 0xa6);
		expect_time(&e, 100 + s - 1);
		e.clock.now++;
		assert_int_equal(rd(&e, R_A), 0x26);
		expect_time(&e, 100 + s);
	}
	/* SET clears it: no update is coming. */
	e.clock.now = time_of_div(&e, e.clock.base, 10 * DIV - 10);
	assert_int_equal(rd(&e, R_A), 0xa6);
	wr(&e, R_B, B_SET | B_24H);
	assert_int_equal(rd(&e, R_A), 0x26);
}

/* mc146818_avoid_UIP(): at most 10 ms of 100 us retries, then a consistent reading. */
static bool linux_avoid_uip(struct env *e, u8 *sec, u8 *min)
{
	for (unsigned i = 0; i < 100; i++) {
		u8 seconds = rd(e, R_SEC);

		if (rd(e, R_A) & 0x80) {
			e->clock.now += e->clock.hz / 10000;
			continue;
		}
		if (seconds != rd(e, R_SEC))
			continue;
		*sec = seconds;
		*min = rd(e, R_MIN);
		if (rd(e, R_A) & 0x80) {
			e->clock.now += e->clock.hz / 10000;
			continue;
		}
		if (seconds != rd(e, R_SEC))
			continue;
		return true;
	}
	return false;
}

static void linux_read_loops(void **state)
{
	struct fuzz_rng rng = { 0x71 };
	struct env e;
	u8 sec, min;

	/* Every port access costs a microsecond of guest time. */
	setup(&e, TSC_HZ, 0, 1000000000);
	e.clock.step = TSC_HZ / 1000000;
	for (unsigned i = 0; i < 20000; i++) {
		u64 before, after;

		/* Anywhere in the second, the UIP window too. */
		e.clock.now += fuzz_next(&rng) % TSC_HZ;
		before = whole_seconds(&e, e.clock.now);
		assert_true(linux_avoid_uip(&e, &sec, &min));
		after = whole_seconds(&e, e.clock.now);
		assert_true(after - before <= 1);
		/* What it read is the time at the end (no update since the last UIP check). */
		assert_int_equal(sec, enc(false, (1000000000 + after) % 60));
		assert_int_equal(min, enc(false, (1000000000 + after) / 60 % 60));
	}
	/* The old read on the falling edge of UIP (drivers/char/rtc.c, get_cmos_time()), at
	 * 10 us per access. */
	e.clock.step = TSC_HZ / 100000;
	for (unsigned i = 0; i < 10; i++) {
		unsigned n = 0;
		u64 fell;

		e.clock.now += fuzz_next(&rng) % TSC_HZ;
		while (!(rd(&e, R_A) & 0x80))
			assert_true(++n < 1000000);
		while (rd(&e, R_A) & 0x80)
			assert_true(++n < 1000000);
		fell = e.clock.now;
		assert_int_equal(rd(&e, R_SEC),
				 enc(false, (1000000000 + whole_seconds(&e, fell)) % 60));
		/* UIP fell at the update: the new second is microseconds old. */
		assert_true(fell - time_of_div(&e, e.clock.base, whole_seconds(&e, fell) * DIV) <
			    4 * e.clock.step);
	}
}

/* Linux's set sequence: frozen while SET and in divider reset, then first update at 500 ms,
 * with an impossible date (February 31) in between that must not be normalised. */
static void set_time_and_divider(void **state)
{
	struct env e;
	s64 target = rtc_date_to_unix(2024, 2, 28, 10, 20, 30);
	u64 released;

	setup(&e, TSC_HZ, 5, rtc_date_to_unix(2023, 1, 31, 23, 0, 0));
	e.clock.now += TSC_HZ / 3;
	wr(&e, R_B, B_SET | B_24H);
	wr(&e, R_A, 0x76);
	wr(&e, R_YEAR, 0x24);
	wr(&e, R_MON, 0x02);
	e.clock.now += 5 * TSC_HZ; /* time passes between the writes: nothing updates */
	assert_int_equal(rd(&e, R_MDAY), 0x31);
	assert_int_equal(rd(&e, R_A), 0x76);
	wr(&e, R_MDAY, 0x28);
	wr(&e, R_HOUR, 0x10);
	wr(&e, R_MIN, 0x20);
	wr(&e, R_SEC, 0x30);
	wr(&e, R_B, B_24H);
	e.clock.now += 3 * TSC_HZ;
	expect_time(&e, target); /* divider still held */
	wr(&e, R_A, 0x26);
	released = e.clock.now;
	e.clock.now = time_of_div(&e, released, DIV / 2) - 1;
	expect_time(&e, target);
	e.clock.now++;
	expect_time(&e, target + 1);
	e.clock.now = time_of_div(&e, released, DIV / 2 + DIV);
	expect_time(&e, target + 2);
	/* Rewriting the running divider does not restart it; other patterns stop the clock. */
	wr(&e, R_A, 0x26);
	e.clock.now = time_of_div(&e, released, DIV / 2 + 2 * DIV);
	expect_time(&e, target + 3);
	wr(&e, R_A, 0x06);
	e.clock.now += 100 * TSC_HZ;
	expect_time(&e, target + 3);
	assert_int_equal(rd(&e, R_A), 0x06);
	/* SET alone: the divider keeps its phase, the skipped seconds are lost. */
	wr(&e, R_A, 0x26);
	released = e.clock.now;
	wr(&e, R_B, B_SET | B_24H);
	e.clock.now = time_of_div(&e, released, DIV / 2 + 10 * DIV);
	expect_time(&e, target + 3);
	wr(&e, R_B, B_24H);
	e.clock.now = time_of_div(&e, released, DIV / 2 + 11 * DIV) - 1;
	expect_time(&e, target + 3);
	e.clock.now++;
	expect_time(&e, target + 4);
}

/* Register values no clock would hold carry into the next field at the next update. */
static void impossible_values_carry(void **state)
{
	struct env e;

	setup(&e, TSC_HZ, 0, rtc_date_to_unix(2023, 5, 10, 12, 0, 0));
	wr(&e, R_MON, 0x13);	/* month 13 */
	wr(&e, R_SEC, 0x5a);	/* BCD "5a": 60 */
	assert_int_equal(rd(&e, R_MON), 0x13);
	e.clock.now = time_of_div(&e, e.clock.base, DIV);
	expect_time(&e, rtc_date_to_unix(2024, 1, 10, 12, 1, 1));
	wr(&e, R_CENTURY, 0xff);
	wr(&e, R_YEAR, 0x99);
	e.clock.now = time_of_div(&e, e.clock.base, 2 * DIV);
	expect_time(&e, rtc_date_to_unix(165 * 100 + 99, 1, 10, 12, 1, 2));
}

/* The day of week counts on its own from whatever the guest set. */
static void weekday(void **state)
{
	struct env e;

	setup(&e, 1000, 0, 0); /* 1970-01-01, a Thursday: 5 */
	assert_int_equal(rd(&e, R_WDAY), 5);
	wr(&e, R_WDAY, 1);
	e.clock.now = 86400 * 1000;
	assert_int_equal(rd(&e, R_WDAY), 2);
	e.clock.now += 6 * 86400 * 1000;
	assert_int_equal(rd(&e, R_WDAY), 1);
	e.clock.now += 1000ull * 86400 * 1000;
	assert_int_equal(rd(&e, R_WDAY), 1 + 1000 % 7);
	wr(&e, R_WDAY, 0); /* out of range: counts on as day 7 */
	e.clock.now += 86400 * 1000;
	assert_int_equal(rd(&e, R_WDAY), 1);
}

static void ram_index_and_read_only(void **state)
{
	struct env e;

	setup(&e, TSC_HZ, 0, 0);
	for (unsigned i = 0x0e; i < 128; i++)
		if (i != R_CENTURY)
			wr(&e, i, i ^ 0xa5);
	for (unsigned i = 0x0e; i < 128; i++)
		if (i != R_CENTURY)
			assert_int_equal(rd(&e, i), i ^ 0xa5);
	/* Bit 7 of the index is NMI disable, not part of it. */
	vdev_io_write(&e.bus, 0x70, 1, 0x80 | 0x20);
	assert_true(e.rtc.nmi_disabled);
	assert_int_equal(vdev_io_read(&e.bus, 0x71, 1), 0x20 ^ 0xa5);
	vdev_io_write(&e.bus, 0x70, 1, 0x20);
	assert_false(e.rtc.nmi_disabled);
	/* A word write is index then data. */
	vdev_io_write(&e.bus, 0x70, 2, 0x5a40);
	assert_int_equal(rd(&e, 0x40), 0x5a);
	assert_int_equal(vdev_io_read(&e.bus, 0x70, 2), 0x5aff);
	/* C and D ignore writes; UIP is not writable. */
	wr(&e, R_C, 0xff);
	wr(&e, R_D, 0x00);
	assert_int_equal(rd(&e, R_C), 0x00);
	assert_int_equal(rd(&e, R_D), 0x80);
	wr(&e, R_A, 0xa6);
	assert_int_equal(rd(&e, R_A), 0x26);
	assert_int_equal(e.edges, 0);
}

/* Update-ended interrupts: one edge per second, held until register C is read. */
static void update_interrupt(void **state)
{
	struct env e;
	u64 next;

	setup(&e, TSC_HZ, 999, 0);
	wr(&e, R_A, 0x20); /* no periodic flag (1024 Hz otherwise) in register C */
	wr(&e, R_B, B_24H | B_UIE);
	for (u64 s = 1; s <= 5; s++) {
		next = rtc_next_event(&e.rtc);
		assert_int_equal(next, time_of_div(&e, e.clock.base, s * DIV));
		rtc_update(&e.rtc, next - 1);
		assert_int_equal(e.edges, s - 1);
		rtc_update(&e.rtc, next);
		assert_int_equal(e.edges, s);
		assert_true(e.level);
		assert_int_equal(rtc_next_event(&e.rtc), NEVER); /* until C is read */
		e.clock.now = next;
		assert_int_equal(rd(&e, R_C), 0x90);
		assert_false(e.level);
		assert_int_equal(rd(&e, R_C), 0x00);
	}
	/* Without UIE the flag is still set, silently. */
	wr(&e, R_B, B_24H);
	e.clock.now = time_of_div(&e, e.clock.base, 6 * DIV);
	assert_int_equal(rd(&e, R_C), 0x10);
	assert_int_equal(e.edges, 5);
	/* Enabling UIE over a pending flag raises the line at once; SET clears UIE. */
	e.clock.now = time_of_div(&e, e.clock.base, 7 * DIV);
	rtc_update(&e.rtc, e.clock.now);
	wr(&e, R_B, B_24H | B_UIE);
	assert_int_equal(e.edges, 6);
	assert_int_equal(rd(&e, R_C), 0x90);
	wr(&e, R_B, B_SET | B_24H | B_UIE);
	assert_int_equal(rd(&e, R_B), B_SET | B_24H);
}

/* An alarm at 10:00:05, in time, late and never. */
static void alarm_interrupt(void **state)
{
	struct env e;
	s64 t0 = rtc_date_to_unix(2024, 6, 1, 9, 59, 58);

	setup(&e, TSC_HZ, 0, t0);
	wr(&e, R_A, 0x20);
	wr(&e, R_HOUR_ALARM, 0x10);
	wr(&e, R_MIN_ALARM, 0x00);
	wr(&e, R_SEC_ALARM, 0x05);
	wr(&e, R_B, B_24H | B_AIE);
	assert_int_equal(rtc_next_event(&e.rtc), time_of_div(&e, e.clock.base, 7 * DIV));
	rtc_update(&e.rtc, time_of_div(&e, e.clock.base, 7 * DIV) - 1);
	assert_int_equal(e.edges, 0);
	rtc_update(&e.rtc, time_of_div(&e, e.clock.base, 7 * DIV));
	assert_int_equal(e.edges, 1);
	e.clock.now = time_of_div(&e, e.clock.base, 7 * DIV);
	assert_int_equal(rd(&e, R_C), 0xb0); /* IRQF, AF, UF */
	/* Tomorrow's, next. */
	assert_int_equal(rtc_next_event(&e.rtc), time_of_div(&e, e.clock.base, (7 + 86400) * DIV));
	/* Seen late: the clock jumps two days, and the match on the way still counts. */
	e.clock.now = time_of_div(&e, e.clock.base, (7 + 2 * 86400 - 1) * DIV);
	assert_int_equal(rd(&e, R_C), 0xb0);
	/* A jump that passes no match: UF only. */
	e.clock.now = time_of_div(&e, e.clock.base, (7 + 2 * 86400) * DIV);
	assert_int_equal(rd(&e, R_C), 0xb0);
	e.clock.now += 3600 * TSC_HZ;
	assert_int_equal(rd(&e, R_C), 0x10);
	/* Don't-care bytes: every second of minute 10:00, then every second. */
	wr(&e, R_SEC_ALARM, 0xc0);
	e.clock.now = time_of_div(&e, e.clock.base, (2 + 3 * 86400) * DIV);	/* 10:00:00 */
	assert_int_equal(rd(&e, R_C) & 0x20, 0x20);
	e.clock.now = time_of_div(&e, e.clock.base, (62 + 3 * 86400) * DIV) - 1; /* 10:00:59 */
	assert_int_equal(rd(&e, R_C) & 0x20, 0x20);
	e.clock.now++;
	assert_int_equal(rd(&e, R_C) & 0x20, 0x00);
	wr(&e, R_MIN_ALARM, 0xff);
	wr(&e, R_HOUR_ALARM, 0xc3);
	e.clock.now += TSC_HZ;
	assert_int_equal(rd(&e, R_C) & 0x20, 0x20);
	/* Bytes no register can hold never match. */
	wr(&e, R_SEC_ALARM, 0x60);
	assert_int_equal(rtc_next_event(&e.rtc), NEVER);
	e.clock.now += 3 * 86400 * TSC_HZ;
	assert_int_equal(rd(&e, R_C), 0x10);
}

/* The next alarm second, by brute force over the encoded registers as the chip compares. */
static s64 brute_alarm(bool bin, bool h24, const u8 alarm[3], s64 from)
{
	for (s64 t = from; t < from + 86400; t++) {
		unsigned tod = ((t % 86400) + 86400) % 86400;
		u8 now[3] = { enc(bin, tod % 60), enc(bin, tod / 60 % 60),
			      enc_hour(bin, h24, tod / 3600) };
		bool match = true;

		for (unsigned i = 0; i < 3; i++)
			if ((alarm[i] & 0xc0) != 0xc0 && alarm[i] != now[i])
				match = false;
		if (match)
			return t - from;
	}
	return -1;
}

static u8 random_alarm_byte(struct fuzz_rng *rng, bool bin, bool h24, unsigned field)
{
	u32 r = fuzz_next(rng);
	unsigned v = fuzz_next(rng) % (field == 2 ? 24 : 60);

	switch (r % 4) {
	case 0:
		return 0xc0 | r >> 8;
	case 1:
		return r >> 8;
	default:
		return field == 2 ? enc_hour(bin, h24, v) : enc(bin, v);
	}
}

static void alarm_matches_brute_force(void **state)
{
	struct fuzz_rng rng = { 0xa1a7 };

	for (unsigned i = 0; i < 300; i++) {
		u8 fmt = fuzz_next(&rng) & (B_BIN | B_24H), alarm[3];
		bool bin = fmt & B_BIN, h24 = fmt & B_24H;
		s64 t0 = fuzz_next(&rng), next;
		struct env e;

		setup(&e, 50000000, 0, 0);
		wr(&e, R_B, fmt);
		linux_set_time(&e, t0);
		e.clock.now = time_of_div(&e, e.clock.now, DIV / 2);
		rtc_update(&e.rtc, e.clock.now);
		t0++; /* the first update happened */
		for (unsigned f = 0; f < 3; f++)
			alarm[f] = random_alarm_byte(&rng, bin, h24, f);
		wr(&e, R_SEC_ALARM, alarm[0]);
		wr(&e, R_MIN_ALARM, alarm[1]);
		wr(&e, R_HOUR_ALARM, alarm[2]);
		rd(&e, R_C);
		wr(&e, R_B, fmt | B_AIE);
		next = brute_alarm(bin, h24, alarm, t0 + 1);
		if (next < 0) {
			assert_int_equal(rtc_next_event(&e.rtc), NEVER);
			continue;
		}
		/* The match is at update t0 + 1 + next; reach it one step short, then on it. */
		assert_true(rtc_next_event(&e.rtc) > e.clock.now);
		e.clock.now = rtc_next_event(&e.rtc);
		rtc_update(&e.rtc, e.clock.now - 1);
		assert_int_equal(e.edges, 0);
		rtc_update(&e.rtc, e.clock.now);
		assert_int_equal(e.edges, 1);
		expect_time(&e, t0 + 1 + next);
	}
}

/* Periodic flags at every rate: set on each multiple of the period, PIE or not. */
static void periodic_flag(void **state)
{
	for (unsigned rs = 1; rs < 16; rs++) {
		u64 period = rs < 3 ? 64ull << rs : 1ull << (rs - 1), next;
		struct env e;

		setup(&e, TSC_HZ, 31, 0);
		wr(&e, R_A, 0x20 | rs);
		wr(&e, R_B, B_24H | B_PIE);
		for (u64 k = 1; k <= 3; k++) {
			next = rtc_next_event(&e.rtc);
			assert_int_equal(next, time_of_div(&e, e.clock.base, k * period));
			rtc_update(&e.rtc, next - 1);
			assert_int_equal(e.edges, k - 1);
			rtc_update(&e.rtc, next);
			assert_int_equal(e.edges, k);
			e.clock.now = next;
			assert_int_equal(rd(&e, R_C) & 0xc0, 0xc0);
		}
		/* Without PIE: the flag, no edge. */
		wr(&e, R_B, B_24H);
		e.clock.now = time_of_div(&e, e.clock.base, 4 * period);
		assert_int_equal(rd(&e, R_C) & 0xc0, 0x40);
		assert_int_equal(e.edges, 3);
	}
	/* Rate 0: none. */
	{
		struct env e;

		setup(&e, TSC_HZ, 0, 0);
		wr(&e, R_A, 0x20);
		wr(&e, R_B, B_24H | B_PIE);
		assert_int_equal(rtc_next_event(&e.rtc), NEVER);
		e.clock.now += TSC_HZ / 2;
		assert_int_equal(rd(&e, R_C), 0x00);
	}
}

static void bad_setup_refused(void **state)
{
	struct env e;
	struct rtc rtc;

	setup(&e, TSC_HZ, 0, 0);
	assert_int_equal(rtc_init(&rtc, (struct vclock){ NULL, &e.clock, TSC_HZ },
				  (struct irq_line){ 0 }, 0), -1);
	assert_int_equal(rtc_init(&rtc, (struct vclock){ fake_clock_now, &e.clock, 0 },
				  (struct irq_line){ 0 }, 0), -1);
	assert_int_equal(rtc_init(&rtc, (struct vclock){ fake_clock_now, &e.clock, ~0ull / DIV + 1 },
				  (struct irq_line){ 0 }, 0), -1);
	assert_int_equal(rtc_init(&rtc, (struct vclock){ fake_clock_now, &e.clock, ~0ull / DIV },
				  (struct irq_line){ 0 }, 0), 0);
	assert_int_equal(rtc_register(&rtc, &e.bus), -1);
	/* An unconnected line: interrupts go nowhere, the flags still work. */
	vdev_bus_init(&e.bus);
	assert_int_equal(rtc_register(&rtc, &e.bus), 0);
	wr(&e, R_B, B_24H | B_UIE);
	e.clock.now = ~0ull / DIV;
	assert_int_equal(rd(&e, R_C), 0xd0); /* and the 1024 Hz periodic flag */
}

struct fuzz_rtc {
	u64 before;
	struct env e;
	u64 after;
};

static void rtc_poke(void *ctx, u32 r)
{
	struct env *e = &((struct fuzz_rtc *)ctx)->e;
	u64 next;

	if (r % 8 != 2) {
		fake_clock_wander(&e->clock, r, 1000000);
		return;
	}
	rtc_update(&e->rtc, e->clock.now);
	next = rtc_next_event(&e->rtc);
	assert_true(next == NEVER || next > e->clock.now);
}

static void hostile_accesses(void **state)
{
	static const u16 ports[][2] = { { 0x70, 0x71 } };
	static struct fuzz_rtc w;
	struct fuzz_target t = { .ports = ports, .n_ports = 1, .poke = rtc_poke, .ctx = &w };

	w.before = w.after = FUZZ_CANARY;
	setup(&w.e, TSC_HZ, 1ull << 40, 1700000000);
	assert_int_equal(vdev_fuzz(&w.e.bus, &t, 0x146818), 0);
	assert_true(w.before == FUZZ_CANARY && w.after == FUZZ_CANARY);
	assert_true(w.e.rtc.index < 128);
	assert_int_equal(w.e.rtc.flags & ~0x70, 0);
	assert_int_equal(w.e.rtc.irq_level, w.e.level);
	assert_true(w.e.edges > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dates_every_day),
		cmocka_unit_test(dates_match_libc),
		cmocka_unit_test(reset_state),
		cmocka_unit_test(ticks_across_boundaries),
		cmocka_unit_test(long_run_exact),
		cmocka_unit_test(uip_window),
		cmocka_unit_test(linux_read_loops),
		cmocka_unit_test(set_time_and_divider),
		cmocka_unit_test(impossible_values_carry),
		cmocka_unit_test(weekday),
		cmocka_unit_test(ram_index_and_read_only),
		cmocka_unit_test(update_interrupt),
		cmocka_unit_test(alarm_interrupt),
		cmocka_unit_test(alarm_matches_brute_force),
		cmocka_unit_test(periodic_flag),
		cmocka_unit_test(bad_setup_refused),
		cmocka_unit_test(hostile_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
