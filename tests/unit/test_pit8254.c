/* The 8254 and port 0x61 against a fake clock, checked with exact 128-bit reference math. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/pit8254.h>

#include "fake_clock.h"
#include "vdev_fuzz.h"

#define TSC_HZ 2500000000ull
#define BOCHS_HZ 50000000ull
#define LATCH_100HZ 11932 /* Linux: (PIT_TICK_RATE + HZ / 2) / HZ */
#define NEVER (~0ull)

struct env {
	struct vdev_bus bus;
	struct pit pit;
	struct fake_clock clock;
	unsigned edges;
	bool level;
};

static void irq0_set(void *ctx, unsigned irq, bool level)
{
	struct env *e = ctx;

	assert_int_equal(irq, 0);
	if (level && !e->level)
		e->edges++;
	e->level = level;
}

static void setup(struct env *e, u64 hz, u64 start)
{
	memset(e, 0, sizeof(*e));
	fake_clock_start(&e->clock, hz, start);
	vdev_bus_init(&e->bus);
	assert_int_equal(pit_init(&e->pit, fake_clock_vclock(&e->clock),
				  (struct irq_line){ irq0_set, e }), 0);
	assert_int_equal(pit_register(&e->pit, &e->bus), 0);
}

static u64 ref_tick(const struct env *e, u64 t)
{
	return fake_clock_ticks(&e->clock, t, PIT_HZ);
}

static u64 ref_time(const struct env *e, u64 tick)
{
	return fake_clock_time_after(&e->clock, e->clock.base, tick, PIT_HZ);
}

static void out(struct env *e, u16 port, u8 v)
{
	vdev_io_write(&e->bus, port, 1, v);
}

static u8 in(struct env *e, u16 port)
{
	return vdev_io_read(&e->bus, port, 1);
}

/* Program a counter with a control word and a lobyte/hibyte count; returns the load tick. */
static u64 program(struct env *e, unsigned ch, u8 ctrl, u16 count)
{
	out(e, 0x43, ctrl);
	out(e, 0x40 + ch, count & 0xff);
	out(e, 0x40 + ch, count >> 8);
	return ref_tick(e, e->clock.now) + 1;
}

static void at_tick(struct env *e, u64 tick)
{
	e->clock.now = ref_time(e, tick);
}

static u16 read_count(struct env *e, unsigned ch)
{
	u8 lo = in(e, 0x40 + ch);

	return lo | in(e, 0x40 + ch) << 8;
}

static u8 read_status(struct env *e, unsigned ch)
{
	out(e, 0x43, 0xe0 | 2 << ch); /* read-back, status only */
	return in(e, 0x40 + ch);
}

/* Step from edge to edge through pit_next_event() for ten seconds: no more, no less. */
static void periodic_100hz(u64 hz, u64 base)
{
	struct env e;
	u64 start, end, t, k = 0;

	setup(&e, hz, base);
	e.clock.now += hz / 7; /* program at an arbitrary moment */
	start = program(&e, 0, 0x34, LATCH_100HZ);
	end = e.clock.now + 10 * hz;
	assert_int_equal(e.edges, 0);
	for (;;) {
		t = pit_next_event(&e.pit);
		assert_int_equal(t, ref_time(&e, start + (k + 1) * LATCH_100HZ));
		if (t > end)
			break;
		pit_update(&e.pit, t - 1);
		assert_int_equal(e.edges, k);
		pit_update(&e.pit, t);
		k++;
		assert_int_equal(e.edges, k);
		assert_false(e.level); /* an edge is a pulse */
	}
	/* 10 s of 1193182 Hz is 11931820 ticks: 999 full periods of 11932 after the load tick. */
	assert_int_equal(k, 999);
	assert_int_equal(k, (ref_tick(&e, end) - start) / LATCH_100HZ);
	assert_int_equal(e.pit.lost_ticks, 0);
}

static void periodic_100hz_tsc(void **state)
{
	periodic_100hz(TSC_HZ, 0x0123456789abull);
}

static void periodic_100hz_bochs(void **state)
{
	periodic_100hz(BOCHS_HZ, 77);
}

static void periodic_100hz_slow_clock(void **state)
{
	periodic_100hz(1000000, 5); /* a clock slower than the PIT itself */
}

/* Polling every millisecond instead: the same edges, none lost. */
static void periodic_100hz_polled(void **state)
{
	struct env e;
	u64 start, end;

	setup(&e, TSC_HZ, 1000);
	start = program(&e, 0, 0x34, LATCH_100HZ);
	end = e.clock.now + 10 * TSC_HZ;
	while (e.clock.now < end) {
		e.clock.now += TSC_HZ / 1000;
		pit_update(&e.pit, e.clock.now);
	}
	assert_int_equal(e.edges, (ref_tick(&e, e.clock.now) - start) / LATCH_100HZ);
	assert_int_equal(e.edges, 999);
	assert_int_equal(e.pit.lost_ticks, 0);
}

static void late_updates_coalesce(void **state)
{
	struct env e;
	u64 start, periods, next;

	setup(&e, TSC_HZ, 0);
	start = program(&e, 0, 0x34, LATCH_100HZ);
	e.clock.now += TSC_HZ; /* one second without looking */
	pit_update(&e.pit, e.clock.now);
	periods = (ref_tick(&e, e.clock.now) - start) / LATCH_100HZ;
	assert_int_equal(periods, 99);
	assert_int_equal(e.edges, 1);
	assert_int_equal(e.pit.lost_ticks, periods - 1);

	next = pit_next_event(&e.pit);
	assert_true(next > e.clock.now);
	assert_int_equal(next, ref_time(&e, start + (periods + 1) * LATCH_100HZ));
	pit_update(&e.pit, next);
	assert_int_equal(e.edges, 2);
	assert_int_equal(e.pit.lost_ticks, periods - 1);

	/* Time never runs backwards: an old timestamp changes nothing. */
	pit_update(&e.pit, 0);
	assert_int_equal(e.edges, 2);
	assert_int_equal(pit_next_event(&e.pit),
			 ref_time(&e, start + (periods + 2) * LATCH_100HZ));
}

static void one_shot_mode0(void **state)
{
	struct env e;
	u64 start, next;

	setup(&e, BOCHS_HZ, 0);
	assert_int_equal(pit_next_event(&e.pit), NEVER);
	e.clock.now = 12345;
	start = program(&e, 0, 0x30, 1000);
	assert_int_equal(read_status(&e, 0) & 0x80, 0); /* OUT low while counting */
	next = pit_next_event(&e.pit);
	assert_int_equal(next, ref_time(&e, start + 1000)); /* N + 1 clocks after the write */
	pit_update(&e.pit, next - 1);
	assert_int_equal(e.edges, 0);
	pit_update(&e.pit, next);
	assert_int_equal(e.edges, 1);
	assert_int_equal(pit_next_event(&e.pit), NEVER);
	e.clock.now = next;
	assert_int_equal(read_status(&e, 0), 0x80 | 0x30);
	/* The counter keeps counting down through zero. */
	at_tick(&e, start + 1000 + 5);
	assert_int_equal(read_count(&e, 0), 0xfffb);
	e.clock.now += 10 * BOCHS_HZ;
	pit_update(&e.pit, e.clock.now);
	assert_int_equal(e.edges, 1);

	/* Linux's pit_shutdown(): mode 0 with count 0 still fires once, after 65536 clocks. */
	start = program(&e, 0, 0x30, 0);
	assert_int_equal(pit_next_event(&e.pit), ref_time(&e, start + 65536));
}

/* Linux's one-shot clockevent: mode 4, IRQ0 rises the clock after the strobe. */
static void one_shot_mode4(void **state)
{
	struct env e;
	u64 start;

	setup(&e, TSC_HZ, 99);
	out(&e, 0x43, 0x38);
	assert_int_equal(pit_next_event(&e.pit), NEVER);
	e.clock.now += 1000;
	start = ref_tick(&e, e.clock.now) + 1;
	out(&e, 0x40, 100);
	out(&e, 0x40, 0);
	assert_int_equal(pit_next_event(&e.pit), ref_time(&e, start + 101));
	at_tick(&e, start + 100);
	assert_int_equal(read_status(&e, 0) & 0x80, 0); /* the strobe */
	/* A new count restarts it. */
	start = ref_tick(&e, e.clock.now) + 1;
	out(&e, 0x40, 50);
	out(&e, 0x40, 0);
	assert_int_equal(pit_next_event(&e.pit), ref_time(&e, start + 51));
	pit_update(&e.pit, pit_next_event(&e.pit));
	assert_int_equal(e.edges, 1);
	assert_int_equal(pit_next_event(&e.pit), NEVER);
}

static void latch_and_read_back(void **state)
{
	struct env e;
	u64 start;

	setup(&e, TSC_HZ, 0);
	start = program(&e, 0, 0x34, LATCH_100HZ);
	/* Right after the control word and count: NULL COUNT until the load clock. */
	assert_int_equal(read_status(&e, 0), 0x80 | 0x40 | 0x34);
	at_tick(&e, start);
	assert_int_equal(read_status(&e, 0), 0x80 | 0x34);

	at_tick(&e, start + 100);
	out(&e, 0x43, 0x00); /* latch counter 0 */
	at_tick(&e, start + 150);
	out(&e, 0x43, 0x00); /* ignored: the first latch is unread */
	assert_int_equal(in(&e, 0x40), (LATCH_100HZ - 100) & 0xff);
	at_tick(&e, start + 200);
	assert_int_equal(in(&e, 0x40), (LATCH_100HZ - 100) >> 8);
	assert_int_equal(read_count(&e, 0), LATCH_100HZ - 200); /* live again */

	/* Mode 2 wraps N .. 1, OUT low at 1. */
	at_tick(&e, start + LATCH_100HZ - 1);
	assert_int_equal(read_count(&e, 0), 1);
	assert_int_equal(read_status(&e, 0) & 0x80, 0);
	at_tick(&e, start + LATCH_100HZ);
	assert_int_equal(read_count(&e, 0), LATCH_100HZ);
	assert_int_equal(read_status(&e, 0) & 0x80, 0x80);

	/* Read-back of count and status: status first, then the count. */
	at_tick(&e, start + LATCH_100HZ + 7);
	out(&e, 0x43, 0xc2);
	at_tick(&e, start + LATCH_100HZ + 9);
	assert_int_equal(in(&e, 0x40), 0xb4);
	assert_int_equal(read_count(&e, 0), LATCH_100HZ - 7);
	/* Read-back of several counters at once, count only. */
	program(&e, 2, 0xb0, 5000);
	out(&e, 0x43, 0xda); /* counts of 0 and 2 */
	e.clock.now += TSC_HZ / 100;
	assert_int_equal(read_count(&e, 2), 5000);
	assert_int_equal(read_count(&e, 0), LATCH_100HZ - 9);
	/* The control port reads as floating. */
	assert_int_equal(in(&e, 0x43), 0xff);
}

static void access_modes(void **state)
{
	struct env e;
	u64 start;

	setup(&e, TSC_HZ, 0);
	out(&e, 0x61, 0x01); /* gate counter 2 */

	out(&e, 0x43, 0x90); /* counter 2, LSB only, mode 0 */
	start = ref_tick(&e, e.clock.now) + 1;
	out(&e, 0x42, 0x40);
	at_tick(&e, start + 0x10);
	assert_int_equal(in(&e, 0x42), 0x30);
	assert_int_equal(in(&e, 0x42), 0x30);
	assert_int_equal(read_status(&e, 2), 0x10);

	out(&e, 0x43, 0xa0); /* MSB only: the count is 0x0200 */
	start = ref_tick(&e, e.clock.now) + 1;
	out(&e, 0x42, 0x02);
	at_tick(&e, start + 0x100);
	assert_int_equal(in(&e, 0x42), 0x01);
	out(&e, 0x43, 0x80); /* a latch in MSB mode holds one byte */
	at_tick(&e, start + 0x1ff);
	assert_int_equal(in(&e, 0x42), 0x01);
	assert_int_equal(in(&e, 0x42), 0x00);

	/* lobyte/hibyte: a new control word resets the flip-flops. */
	program(&e, 2, 0xb0, 0x1234);
	assert_int_equal(in(&e, 0x42), 0x34);
	out(&e, 0x43, 0xb0);
	out(&e, 0x42, 0x78);
	out(&e, 0x43, 0xb0); /* abandons the half-written count */
	start = ref_tick(&e, e.clock.now) + 1;
	out(&e, 0x42, 0xcd);
	out(&e, 0x42, 0xab);
	at_tick(&e, start);
	assert_int_equal(read_count(&e, 2), 0xabcd);
	/* A 16-bit OUT at 0x42 is two byte writes: counter 2, then the control port. */
	out(&e, 0x43, 0xb0);
	vdev_io_write(&e.bus, 0x42, 2, 0x3412);
	assert_int_equal(read_status(&e, 0), 0x80 | 0x40 | 0x34); /* mode 2: OUT starts high */
	start = ref_tick(&e, e.clock.now) + 1;
	out(&e, 0x42, 0x00);
	at_tick(&e, start);
	assert_int_equal(read_count(&e, 2), 0x0012);
}

/* What arch/x86/kernel/tsc.c does with counter 2 and port 0x61. */
static void linux_pit_calibrate_tsc(void **state)
{
	struct env e;
	u64 load, step = TSC_HZ / 1000000, loops = 0;
	const u16 latch = 1193182 / (1000 / 10); /* CAL_LATCH for CAL_MS = 10 */

	setup(&e, TSC_HZ, 0x7fffffff);
	assert_int_equal(in(&e, 0x61) & 0x0f, 0);
	out(&e, 0x61, (in(&e, 0x61) & ~0x02) | 0x01);
	assert_int_equal(in(&e, 0x61) & 0x0f, 0x01);
	out(&e, 0x43, 0xb0);
	out(&e, 0x42, latch & 0xff);
	out(&e, 0x42, latch >> 8);
	load = ref_tick(&e, e.clock.now) + 1;
	while ((in(&e, 0x61) & 0x20) == 0) {
		e.clock.now += step;
		assert_true(++loops < 20000);
	}
	/* OUT2 rose exactly at the terminal count, latch + 1 clocks after the write. */
	assert_true(e.clock.now >= ref_time(&e, load + latch));
	assert_true(e.clock.now - step < ref_time(&e, load + latch));
	assert_int_equal(e.edges, 0); /* counter 2 has no IRQ */

	/* quick_pit_calibrate(): count from 0xffff, read LSB then MSB without latching. */
	out(&e, 0x43, 0xb0);
	out(&e, 0x42, 0xff);
	out(&e, 0x42, 0xff);
	load = ref_tick(&e, e.clock.now) + 1;
	for (unsigned i = 1; i < 10; i++) {
		at_tick(&e, load + 256 * i);
		in(&e, 0x42);
		assert_int_equal(in(&e, 0x42), 0xff - i);
	}

	/* The refresh bit toggles every 18 clocks. */
	at_tick(&e, 18 * 1001);
	assert_int_equal(in(&e, 0x61) & 0x10, 0x10);
	at_tick(&e, 18 * 1002);
	assert_int_equal(in(&e, 0x61) & 0x10, 0);
}

static void gate_stops_counter2(void **state)
{
	struct env e;
	u64 load;

	setup(&e, TSC_HZ, 0);
	out(&e, 0x61, 0x01);
	load = program(&e, 2, 0xb0, 1000);
	at_tick(&e, load + 400);
	out(&e, 0x61, 0x00); /* gate low: mode 0 holds the count */
	at_tick(&e, load + 5000);
	assert_int_equal(read_count(&e, 2), 600);
	assert_int_equal(in(&e, 0x61) & 0x20, 0);
	out(&e, 0x61, 0x01); /* resumes on the next clock */
	at_tick(&e, load + 5000 + 600);
	assert_int_equal(in(&e, 0x61) & 0x20, 0);
	at_tick(&e, load + 5000 + 601);
	assert_int_equal(in(&e, 0x61) & 0x20, 0x20);

	/* Mode 2: a low gate forces OUT high; the rising gate reloads the count. */
	load = program(&e, 2, 0xb4, 100);
	at_tick(&e, load + 99);
	assert_int_equal(in(&e, 0x61) & 0x20, 0);
	out(&e, 0x61, 0x00);
	assert_int_equal(in(&e, 0x61) & 0x20, 0x20);
	out(&e, 0x61, 0x01);
	load = ref_tick(&e, e.clock.now) + 1;
	at_tick(&e, load + 30);
	assert_int_equal(read_count(&e, 2), 70);

	/* Mode 1 waits for a rising gate, then OUT is low for N clocks. */
	load = program(&e, 2, 0xb2, 50);
	at_tick(&e, load + 500);
	assert_int_equal(in(&e, 0x61) & 0x20, 0x20);
	out(&e, 0x61, 0x00);
	out(&e, 0x61, 0x01);
	load = ref_tick(&e, e.clock.now) + 1;
	at_tick(&e, load + 49);
	assert_int_equal(in(&e, 0x61) & 0x20, 0);
	assert_int_equal(read_count(&e, 2), 1);
	at_tick(&e, load + 50);
	assert_int_equal(in(&e, 0x61) & 0x20, 0x20);

	/* Counter 0 never stops: its gate is tied high. */
	out(&e, 0x61, 0x00);
	load = program(&e, 0, 0x30, 10);
	pit_update(&e.pit, ref_time(&e, load + 10));
	assert_int_equal(e.edges, 1);
}

static void square_wave(void **state)
{
	struct env e;
	u64 load;
	static const u8 out5[5] = { 1, 1, 1, 0, 0 };
	static const u16 count5[5] = { 4, 2, 0, 4, 2 };

	setup(&e, BOCHS_HZ, 0);
	out(&e, 0x61, 0x01);
	load = program(&e, 2, 0xb6, 5); /* odd N: high 3 clocks, low 2 */
	for (unsigned i = 0; i < 10; i++) {
		at_tick(&e, load + i);
		assert_int_equal(!!(in(&e, 0x61) & 0x20), out5[i % 5]);
		assert_int_equal(read_count(&e, 2), count5[i % 5]);
	}
	load = program(&e, 2, 0xb6, 6); /* even N: 6 4 2 6 4 2 */
	at_tick(&e, load + 4);
	assert_int_equal(read_count(&e, 2), 4);
	assert_int_equal(in(&e, 0x61) & 0x20, 0);

	/* Counter 0 in mode 3 interrupts once per period (M2 is don't-care: 0x3e is mode 3). */
	load = program(&e, 0, 0x3e, 1000);
	pit_update(&e.pit, ref_time(&e, load + 10000));
	assert_int_equal(e.edges, 1);
	assert_int_equal(e.pit.lost_ticks, 9);
	assert_int_equal(read_status(&e, 0) & 0x3f, 0x3e);
}

static void bcd_counting(void **state)
{
	struct env e;
	u64 load;

	setup(&e, TSC_HZ, 0);
	out(&e, 0x61, 0x01);
	load = program(&e, 2, 0xb1, 0x1000); /* 1000 decimal */
	at_tick(&e, load + 1);
	assert_int_equal(read_count(&e, 2), 0x0999);
	at_tick(&e, load + 1000);
	assert_int_equal(read_count(&e, 2), 0x0000);
	assert_int_equal(in(&e, 0x61) & 0x20, 0x20);
	at_tick(&e, load + 1001);
	assert_int_equal(read_count(&e, 2), 0x9999);

	load = program(&e, 0, 0x35, 0x0000); /* BCD 0 is 10000 */
	assert_int_equal(pit_next_event(&e.pit), ref_time(&e, load + 10000));
}

/* Mode 2: a count written while counting waits for the end of the period. */
static void periodic_count_change(void **state)
{
	struct env e;
	u64 load, next;

	setup(&e, TSC_HZ, 0);
	load = program(&e, 0, 0x34, LATCH_100HZ);
	at_tick(&e, load + 5000);
	out(&e, 0x40, 1193 & 0xff);
	out(&e, 0x40, 1193 >> 8);
	next = pit_next_event(&e.pit);
	assert_int_equal(next, ref_time(&e, load + LATCH_100HZ));
	assert_int_equal(read_count(&e, 0), LATCH_100HZ - 5000);
	assert_int_equal(read_status(&e, 0) & 0x40, 0x40); /* NULL COUNT: not loaded yet */
	e.clock.now = next;
	pit_update(&e.pit, next);
	assert_int_equal(e.edges, 1);
	assert_int_equal(pit_next_event(&e.pit), ref_time(&e, load + LATCH_100HZ + 1193));
	assert_int_equal(read_count(&e, 0), 1193);

	/* Late by several periods across the switch: the old and new periods both count. */
	load = ref_tick(&e, e.clock.now);
	out(&e, 0x40, LATCH_100HZ & 0xff);
	out(&e, 0x40, LATCH_100HZ >> 8);
	pit_update(&e.pit, ref_time(&e, load + 1193 + 3 * LATCH_100HZ));
	assert_int_equal(e.edges, 2);
	assert_int_equal(e.pit.lost_ticks, 3);
}

/* 95 years of clock time at any rate: the 64-bit split conversions stay exact. */
static void long_runs_do_not_overflow(void **state)
{
	static const u64 rates[] = { TSC_HZ, 3000000000ull, BOCHS_HZ, 1000, 1193182 };

	for (unsigned i = 0; i < ARRAY_SIZE(rates); i++) {
		struct env e;
		u64 load, far = rates[i] * 3000000000ull, periods;

		setup(&e, rates[i], 3);
		load = program(&e, 0, 0x34, LATCH_100HZ);
		e.clock.now = far;
		pit_update(&e.pit, far);
		periods = (ref_tick(&e, far) - load) / LATCH_100HZ;
		assert_true(periods > 1000);
		assert_int_equal(e.edges, 1);
		assert_int_equal(e.pit.lost_ticks, periods - 1);
		assert_int_equal(pit_next_event(&e.pit),
				 ref_time(&e, load + (periods + 1) * LATCH_100HZ));
		assert_int_equal(read_count(&e, 0),
				 LATCH_100HZ - (ref_tick(&e, far) - load) % LATCH_100HZ);
	}
}

static void bad_clocks_and_taken_ports(void **state)
{
	struct pit pit;
	struct env e = { 0 };
	struct irq_line none = { 0 };

	assert_int_equal(pit_init(&pit, (struct vclock){ fake_clock_now, &e.clock, 0 }, none), -1);
	assert_int_equal(pit_init(&pit, (struct vclock){ NULL, &e.clock, TSC_HZ }, none), -1);
	assert_int_equal(pit_init(&pit, (struct vclock){ fake_clock_now, &e.clock, 1ull << 60 },
				  none), -1);
	assert_int_equal(pit_init(&pit, (struct vclock){ fake_clock_now, &e.clock, 1ull << 43 },
				  none), 0);
	/* Registered twice: the ports are taken. */
	vdev_bus_init(&e.bus);
	assert_int_equal(pit_register(&pit, &e.bus), 0);
	assert_int_equal(pit_register(&pit, &e.bus), -1);
}

struct fuzz_pit {
	u64 before;
	struct env e;
	u64 after;
};

/* Time moves in random steps (sometimes huge, sometimes backwards), with random updates. */
static void pit_poke(void *ctx, u32 r)
{
	struct env *e = &((struct fuzz_pit *)ctx)->e;
	u64 next;

	if (r % 8 != 2) {
		fake_clock_wander(&e->clock, r, 64);
		return;
	}
	pit_update(&e->pit, e->clock.now);
	next = pit_next_event(&e->pit);
	assert_true(next == NEVER || next > e->clock.now);
}

static void hostile_accesses(void **state)
{
	static const u16 ports[][2] = { { 0x40, 0x43 }, { 0x61, 0x61 } };
	static struct fuzz_pit w;
	struct fuzz_target t = { .ports = ports, .n_ports = 2, .poke = pit_poke, .ctx = &w };

	w.before = w.after = FUZZ_CANARY;
	setup(&w.e, TSC_HZ, 1ull << 40);
	assert_int_equal(vdev_fuzz(&w.e.bus, &t, 0x8254), 0);
	assert_true(w.before == FUZZ_CANARY && w.after == FUZZ_CANARY);
	for (unsigned i = 0; i < 3; i++) {
		assert_true(w.e.pit.ch[i].mode <= 5);
		assert_true(w.e.pit.ch[i].latch_len <= 2);
		assert_true(w.e.pit.ch[i].count >= 1 && w.e.pit.ch[i].count <= 65536);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(periodic_100hz_tsc),
		cmocka_unit_test(periodic_100hz_bochs),
		cmocka_unit_test(periodic_100hz_slow_clock),
		cmocka_unit_test(periodic_100hz_polled),
		cmocka_unit_test(late_updates_coalesce),
		cmocka_unit_test(one_shot_mode0),
		cmocka_unit_test(one_shot_mode4),
		cmocka_unit_test(latch_and_read_back),
		cmocka_unit_test(access_modes),
		cmocka_unit_test(linux_pit_calibrate_tsc),
		cmocka_unit_test(gate_stops_counter2),
		cmocka_unit_test(square_wave),
		cmocka_unit_test(bcd_counting),
		cmocka_unit_test(periodic_count_change),
		cmocka_unit_test(long_runs_do_not_overflow),
		cmocka_unit_test(bad_clocks_and_taken_ports),
		cmocka_unit_test(hostile_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
