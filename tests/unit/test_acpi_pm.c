/* The ACPI PM1 block and PM timer against a fake clock, checked with exact 128-bit math. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/acpi_pm.h>

#include "vdev_fuzz.h"

#define BASE 0x600
#define STS (BASE + ACPI_PM1_EVT_OFF)
#define EN (STS + 2)
#define CNT (BASE + ACPI_PM1_CNT_OFF)
#define TMR (BASE + ACPI_PM_TMR_OFF)
#define TSC_HZ 2500000000ull
#define SLP_EN 0x2000
#define WAK_STS 0x8000

struct env {
	struct vdev_bus bus;
	struct acpi_pm pm;
	u64 now, base, hz;
	u64 step; /* added to the clock on every read of it: time passes between accesses */
	unsigned power_offs;
};

static u64 fake_now(void *ctx)
{
	struct env *e = ctx;

	e->now += e->step;
	return e->now;
}

static void power_off(void *ctx)
{
	((struct env *)ctx)->power_offs++;
}

static void setup(struct env *e, u64 hz, u64 start)
{
	memset(e, 0, sizeof(*e));
	e->now = e->base = start;
	e->hz = hz;
	vdev_bus_init(&e->bus);
	assert_int_equal(acpi_pm_init(&e->pm, BASE, (struct vclock){ fake_now, e, hz }, power_off,
				      e), 0);
	assert_int_equal(acpi_pm_register(&e->pm, &e->bus), 0);
}

static u64 ref_ticks(const struct env *e, u64 t)
{
	return (u64)((unsigned __int128)(t - e->base) * ACPI_PM_TIMER_HZ / e->hz);
}

static u32 in(struct env *e, u16 port, u32 size)
{
	return vdev_io_read(&e->bus, port, size);
}

static void out(struct env *e, u16 port, u32 size, u32 v)
{
	vdev_io_write(&e->bus, port, size, v);
}

static void reset_state(void **state)
{
	struct env e;

	setup(&e, TSC_HZ, 1000);
	assert_int_equal(in(&e, STS, 2), 0);
	assert_int_equal(in(&e, EN, 2), 0);
	assert_int_equal(in(&e, CNT, 2), 0x0001); /* SCI_EN: ACPI mode from the start */
	assert_int_equal(in(&e, TMR, 4), 0);
	/* base + 6 and + 7 belong to nothing; the 24-bit timer's top byte reads 0. */
	assert_int_equal(in(&e, BASE + 6, 2), 0xffff);
	assert_int_equal(e.bus.unclaimed_reads, 1);
	assert_int_equal(in(&e, TMR + 3, 1), 0);
}

/* The timer equals floor(elapsed * 3579545 / hz) mod 2^24 at every read, for many clocks. */
static void timer_exact(u64 hz, u64 start)
{
	struct env e;
	struct fuzz_rng rng = { hz ^ 0x9e3779b97f4a7c15ull };

	u64 secs;

	setup(&e, hz, start);
	for (unsigned i = 0; i < 100000; i++) {
		u32 r = fuzz_next(&rng);
		u64 big = (u64)fuzz_next(&rng) << 32 | fuzz_next(&rng);

		/* Small steps, and now and then up to a minute of this clock. */
		e.now += r % 8 ? r % 4096 : big % (hz * 60);
		assert_int_equal(in(&e, TMR, 4), ref_ticks(&e, e.now) & 0xffffff);
	}
	/* Whole seconds are whole multiples of the rate: a century on, or as far as it goes. */
	secs = MIN(100ull * 365 * 86400, (~0ull - start) / hz / 2);
	e.now = start + secs * hz;
	assert_int_equal(in(&e, TMR, 4), secs * ACPI_PM_TIMER_HZ & 0xffffff);
	e.now += 1;
	assert_int_equal(in(&e, TMR, 4), ref_ticks(&e, e.now) & 0xffffff);
}

static void timer_exact_tsc(void **state)
{
	timer_exact(TSC_HZ, 0x0123456789ull);
}

static void timer_exact_odd_clocks(void **state)
{
	timer_exact(50000000, 7);		    /* Bochs' IPS */
	timer_exact(ACPI_PM_TIMER_HZ, 1);	    /* one tick per clock tick */
	timer_exact(1000, 0);			    /* slower than the timer */
	timer_exact(~0ull / ACPI_PM_TIMER_HZ, 3); /* the fastest clock acpi_pm_init takes */
}

/* Each byte and word of the timer comes from one reading; writes do nothing. */
static void timer_bytes_and_read_only(void **state)
{
	struct env e;
	u32 t;

	setup(&e, ACPI_PM_TIMER_HZ, 0);
	e.now = 0xabcdef;
	t = in(&e, TMR, 4);
	assert_int_equal(t, 0xabcdef);
	assert_int_equal(in(&e, TMR + 1, 2), 0xabcd);
	assert_int_equal(in(&e, TMR + 2, 1), 0xab);
	out(&e, TMR, 4, 0);
	out(&e, TMR + 1, 1, 0xff);
	assert_int_equal(in(&e, TMR, 4), 0xabcdef);
	/* An access across the end reads the timer's last byte and one floating byte. */
	assert_int_equal(in(&e, TMR + 3, 2), 0xff00);
}

/* TMR_STS: set whenever bit 23 changes, cleared by writing 1. */
static void timer_carry_status(void **state)
{
	struct env e;

	setup(&e, ACPI_PM_TIMER_HZ, 0);
	e.now = 0x7fffff;
	assert_int_equal(in(&e, STS, 2) & 1, 0);
	e.now = 0x800000;
	assert_int_equal(in(&e, STS, 2), 0x0001);
	out(&e, STS, 2, 0xfffe); /* writing 0 leaves it */
	assert_int_equal(in(&e, STS, 2), 0x0001);
	out(&e, STS, 2, 0x0001);
	assert_int_equal(in(&e, STS, 2), 0);
	e.now = 0xffffff;
	assert_int_equal(in(&e, STS, 2), 0);
	e.now = 0x1000000; /* the wrap to 0 clears bit 23: another carry */
	assert_int_equal(in(&e, TMR, 4), 0);
	assert_int_equal(in(&e, STS, 1), 0x01);
	out(&e, STS, 1, 0x01);
	assert_int_equal(in(&e, STS, 1), 0);
}

/* Linux's acpi_pm_read_verified(): three reads, retried while they disagree. */
static u32 linux_read_verified(struct env *e, unsigned *tries)
{
	u32 v1, v2, v3;

	*tries = 0;
	do {
		v1 = in(e, TMR, 4);
		v2 = in(e, TMR, 4);
		v3 = in(e, TMR, 4);
		++*tries;
	} while ((v1 > v2 && v1 < v3) || (v2 > v3 && v2 < v1) || (v3 > v1 && v3 < v2));
	return v2;
}

static void linux_timer_checks(void **state)
{
	struct env e;
	unsigned tries;
	u32 last = 0;

	/* Each port access costs about a microsecond of guest time. */
	setup(&e, TSC_HZ, 0);
	e.step = TSC_HZ / 1000000;
	for (unsigned i = 0; i < 20000; i++) {
		u32 v = linux_read_verified(&e, &tries);

		assert_int_equal(tries, 1);
		assert_true(v != last);
		last = v;
	}
	/* init_acpi_pm_clocksource(): the value must change within 10000 reads, upwards or
	 * through the wrap (to below 0xfff); ten rounds, with growing delays in between. */
	e.now = e.base + (0xfffff0ull * TSC_HZ) / ACPI_PM_TIMER_HZ; /* just before the wrap */
	for (unsigned j = 0; j < 10; j++) {
		u32 v1, v2 = 0;
		unsigned i;

		e.now += 100ull * j * TSC_HZ / 1000000;
		v1 = in(&e, TMR, 4);
		for (i = 0; i < 10000; i++) {
			v2 = in(&e, TMR, 4);
			if (v2 == v1)
				continue;
			if (v2 > v1 || v2 < 0xfff)
				break;
			fail_msg("PM-Timer had inconsistent results: %#x, %#x", v1, v2);
		}
		assert_true(i < 10000);
	}
}

/* ACPICA's S5 entry (acpi_hw_legacy_sleep), then drivers/power.c's single write. */
static void sleep_s5_powers_off(void **state)
{
	struct env e;
	u16 cnt;

	setup(&e, TSC_HZ, 0);
	out(&e, STS, 2, WAK_STS);
	cnt = in(&e, CNT, 2) & ~(0x1c00 | SLP_EN);
	out(&e, CNT, 2, cnt | ACPI_PM_SLP_TYP_S5 << 10);
	assert_int_equal(e.power_offs, 0);
	assert_int_equal(in(&e, CNT, 2), 0x0001 | ACPI_PM_SLP_TYP_S5 << 10);
	out(&e, CNT, 2, cnt | ACPI_PM_SLP_TYP_S5 << 10 | SLP_EN);
	assert_int_equal(e.power_offs, 1);
	assert_int_equal(in(&e, CNT, 2) & SLP_EN, 0); /* write-only */
	assert_int_equal(in(&e, STS, 2) & WAK_STS, 0);

	setup(&e, TSC_HZ, 0);
	out(&e, CNT, 2, ACPI_PM_SLP_TYP_S5 << 10 | SLP_EN);
	assert_int_equal(e.power_offs, 1);
	/* The high byte alone carries SLP_TYP and SLP_EN. */
	out(&e, CNT + 1, 1, (ACPI_PM_SLP_TYP_S5 << 10 | SLP_EN) >> 8);
	assert_int_equal(e.power_offs, 2);
	/* SLP_EN acts on the type written with it, not the one before. */
	out(&e, CNT, 2, 1 << 10 | SLP_EN);
	assert_int_equal(e.power_offs, 2);
	assert_int_equal(e.pm.sleeps, 1);
}

/* Sleep types the DSDT does not offer wake at once: WAK_STS, which the guest clears. */
static void other_sleep_types_wake(void **state)
{
	struct env e;

	setup(&e, TSC_HZ, 0);
	for (u16 typ = 0; typ < 8; typ++) {
		if (typ == ACPI_PM_SLP_TYP_S5)
			continue;
		out(&e, CNT, 2, typ << 10 | SLP_EN);
		assert_int_equal(in(&e, STS, 2), WAK_STS);
		assert_int_equal(in(&e, CNT, 2), 0x0001 | typ << 10);
		out(&e, STS, 2, 0x7fff); /* other bits do not clear it */
		assert_int_equal(in(&e, STS, 2), WAK_STS);
		out(&e, STS + 1, 1, 0x80);
		assert_int_equal(in(&e, STS, 2), 0);
	}
	assert_int_equal(e.power_offs, 0);
	assert_int_equal(e.pm.sleeps, 7);
}

/* Enables read back (ACPICA checks that they do); reserved bits read 0. */
static void enable_and_control_bits(void **state)
{
	struct env e;

	setup(&e, ACPI_PM_TIMER_HZ, 0);
	out(&e, EN, 2, 0xffff);
	assert_int_equal(in(&e, EN, 2), 0x4721);
	out(&e, EN, 1, 0x00);
	assert_int_equal(in(&e, EN, 2), 0x4700);
	out(&e, EN + 1, 1, 0x01);
	assert_int_equal(in(&e, EN, 2), 0x0100);
	/* A dword at the base: status low, enable high, as ACPI 6.5 4.8.3.1 lays them out. */
	e.now = 0x800000;
	out(&e, STS, 4, 0x05200000);
	assert_int_equal(in(&e, STS, 4), 0x05200001);
	out(&e, STS, 4, 0x00000001);
	assert_int_equal(in(&e, STS, 4), 0);
	/* Control: SCI_EN stays 1, BM_RLD and SLP_TYP read back, GBL_RLS and SLP_EN do not. */
	out(&e, CNT, 2, 0xc3fe);
	assert_int_equal(in(&e, CNT, 2), 0x0003);
	out(&e, CNT, 2, 0x0000);
	assert_int_equal(in(&e, CNT, 2), 0x0001);
	out(&e, CNT, 2, 0x1c00);
	assert_int_equal(in(&e, CNT, 1), 0x01);
	assert_int_equal(in(&e, CNT + 1, 1), 0x1c);
	assert_int_equal(e.power_offs, 0);
}

static void bad_setup_refused(void **state)
{
	struct env e;
	struct acpi_pm pm;
	struct vdev_bus bus;

	setup(&e, TSC_HZ, 0);
	assert_int_equal(acpi_pm_init(&pm, BASE, (struct vclock){ NULL, &e, TSC_HZ }, power_off,
				      &e), -1);
	assert_int_equal(acpi_pm_init(&pm, BASE, (struct vclock){ fake_now, &e, 0 }, power_off,
				      &e), -1);
	assert_int_equal(acpi_pm_init(&pm, BASE,
				      (struct vclock){ fake_now, &e, ~0ull / ACPI_PM_TIMER_HZ + 1 },
				      power_off, &e), -1);
	assert_int_equal(acpi_pm_init(&pm, BASE, (struct vclock){ fake_now, &e, TSC_HZ }, NULL, &e),
			 -1);
	assert_int_equal(acpi_pm_init(&pm, 0xfff5, (struct vclock){ fake_now, &e, TSC_HZ },
				      power_off, &e), -1);
	assert_int_equal(acpi_pm_init(&pm, 0xfff4, (struct vclock){ fake_now, &e, TSC_HZ },
				      power_off, &e), 0);
	vdev_bus_init(&bus);
	assert_int_equal(acpi_pm_register(&pm, &bus), 0);
	assert_int_equal(acpi_pm_register(&pm, &bus), -1);
	assert_int_equal(vdev_io_read(&bus, 0xfffc, 4), 0);
	assert_int_equal(acpi_pm_register(&e.pm, &e.bus), -1);
}

struct fuzz_pm {
	u64 before;
	struct env e;
	u64 after;
};

/* Time moves in random steps, sometimes huge, sometimes backwards. */
static void pm_poke(void *ctx, u32 r)
{
	struct env *e = &((struct fuzz_pm *)ctx)->e;

	switch (r % 8) {
	case 0:
		e->now += (u64)r << (r % 24);
		break;
	case 1:
		e->now -= r % 4096;
		break;
	default:
		e->now += r % 64;
		break;
	}
}

static void hostile_accesses(void **state)
{
	static const u16 ports[][2] = { { STS, CNT + 1 }, { TMR, TMR + 3 } };
	static struct fuzz_pm w;
	struct fuzz_target t = { .ports = ports, .n_ports = 2, .poke = pm_poke, .ctx = &w };
	u64 tick;

	w.before = w.after = FUZZ_CANARY;
	setup(&w.e, TSC_HZ, 1ull << 40);
	assert_int_equal(vdev_fuzz(&w.e.bus, &t, 0xacb1), 0);
	assert_true(w.before == FUZZ_CANARY && w.after == FUZZ_CANARY);
	assert_int_equal(w.e.pm.en & ~0x4721, 0);
	assert_int_equal(w.e.pm.cnt & ~0x1c02, 0);
	assert_true(w.e.pm.wak_sts == 0 || w.e.pm.wak_sts == WAK_STS);
	assert_true(w.e.power_offs > 0 && w.e.pm.sleeps > 0);
	/* The timer never ran backwards, whatever the clock did. */
	tick = w.e.pm.tick;
	w.e.now = 0;
	in(&w.e, TMR, 4);
	assert_int_equal(w.e.pm.tick, tick);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reset_state),
		cmocka_unit_test(timer_exact_tsc),
		cmocka_unit_test(timer_exact_odd_clocks),
		cmocka_unit_test(timer_bytes_and_read_only),
		cmocka_unit_test(timer_carry_status),
		cmocka_unit_test(linux_timer_checks),
		cmocka_unit_test(sleep_s5_powers_off),
		cmocka_unit_test(other_sleep_types_wake),
		cmocka_unit_test(enable_and_control_bits),
		cmocka_unit_test(bad_setup_refused),
		cmocka_unit_test(hostile_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
