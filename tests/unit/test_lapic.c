/* The local APIC through its xAPIC page and x2APIC MSRs, against a fake clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/lapic.h>

#include "vdev_fuzz.h"

#define TSC_HZ 2893000000ull /* not a multiple of the bus clock */
#define NEVER (~0ull)

#define ID 0x20
#define VER 0x30
#define TPR 0x80
#define APR 0x90
#define PPR 0xa0
#define EOI 0xb0
#define RRD 0xc0
#define LDR 0xd0
#define DFR 0xe0
#define SVR 0xf0
#define ISR 0x100
#define TMR 0x180
#define IRR 0x200
#define ESR 0x280
#define CMCI 0x2f0
#define ICR 0x300
#define ICR2 0x310
#define LVTT 0x320
#define THERMAL 0x330
#define PERF 0x340
#define LINT0 0x350
#define LINT1 0x360
#define LVTERR 0x370
#define TMICT 0x380
#define TMCCT 0x390
#define TDCR 0x3e0
#define SELF_IPI 0x3f0

#define MASKED (1u << 16)
#define PERIODIC (1u << 17)
#define DEADLINE (2u << 17)
#define MSR(off) (0x800u + ((off) >> 4))

#define BASE_XAPIC 0xfee00800ull
#define BASE_X2APIC 0xfee00c00ull
#define BASE_OFF 0xfee00000ull
#define BSP 0x100ull

struct env {
	struct vdev_bus bus;
	struct lapic l;
	u64 now;
	unsigned nmis, eois;
	u8 eoi_vector;
};

static u64 fake_now(void *ctx)
{
	return ((struct env *)ctx)->now;
}

static void on_eoi(void *ctx, u8 vector)
{
	struct env *e = ctx;

	e->eois++;
	e->eoi_vector = vector;
}

static void on_nmi(void *ctx)
{
	((struct env *)ctx)->nmis++;
}

static void setup_id(struct env *e, u32 id, u64 start)
{
	memset(e, 0, sizeof(*e));
	e->now = start;
	vdev_bus_init(&e->bus);
	assert_int_equal(lapic_init(&e->l, id, (struct vclock){ fake_now, e, TSC_HZ },
				    (struct lapic_hooks){ on_eoi, on_nmi, e }),
			 0);
	assert_int_equal(lapic_register(&e->l, &e->bus), 0);
}

static u64 rd_size(struct env *e, u64 off, u32 size)
{
	const struct vdev_mmio_range *r = vdev_mmio_find(&e->bus, LAPIC_BASE + off, size);

	assert_non_null(r);
	return r->ops->read(r->dev, LAPIC_BASE + off - r->base, size);
}

static void wr_size(struct env *e, u64 off, u32 size, u64 v)
{
	const struct vdev_mmio_range *r = vdev_mmio_find(&e->bus, LAPIC_BASE + off, size);

	assert_non_null(r);
	r->ops->write(r->dev, LAPIC_BASE + off - r->base, size, v);
}

static u32 rd(struct env *e, u32 off)
{
	return (u32)rd_size(e, off, 4);
}

static void wr(struct env *e, u32 off, u32 v)
{
	wr_size(e, off, 4, v);
}

/* A software-enabled APIC, as Linux leaves it: SVR enabled, spurious vector 0xff. */
static void setup(struct env *e, u64 start)
{
	setup_id(e, 0, start);
	wr(e, SVR, 0x1ff);
}

static bool vec_set(struct env *e, u32 reg, u8 v)
{
	return rd(e, reg + (v >> 5) * 0x10) & (1u << (v & 31));
}

static u64 msr_rd(struct env *e, u32 msr)
{
	u64 v = 0xdeadbeef;

	assert_int_equal(lapic_msr_read(&e->l, msr, &v), 0);
	return v;
}

static void to_x2apic(struct env *e)
{
	assert_int_equal(lapic_set_base(&e->l, BASE_X2APIC | BSP), 0);
}

/* Reference conversions, independent of the 64-bit split the device uses. */
static u64 ref_bus(const struct env *e, u64 start, u64 t)
{
	return (u64)((unsigned __int128)(t - start) * LAPIC_BUS_HZ / TSC_HZ);
}

static u64 ref_time(const struct env *e, u64 start, u64 bus)
{
	return start + (u64)(((unsigned __int128)bus * TSC_HZ + LAPIC_BUS_HZ - 1) / LAPIC_BUS_HZ);
}

/* Deliver the pending vector as the hypervisor would; returns it or -1. */
static int take(struct env *e)
{
	int v = lapic_pending_vector(&e->l);

	if (v >= 0)
		lapic_acknowledge(&e->l, (u8)v);
	return v;
}

/* Take the pending vector and end it at once, so the next one of its class can come. */
static int take_eoi(struct env *e)
{
	int v = take(e);

	/* The EOI MSR exists only in x2APIC mode, the page only in xAPIC mode. */
	if (v >= 0 && lapic_msr_write(&e->l, MSR(EOI), 0))
		wr(e, EOI, 0);
	return v;
}

static void reset_values(void **state)
{
	struct env e;

	setup_id(&e, 0, 1000);
	assert_int_equal(lapic_base(&e.l), 0xfee00900ull);
	assert_int_equal(rd(&e, ID), 0);
	assert_int_equal(rd(&e, VER), 0x00060014);
	assert_int_equal(rd(&e, TPR), 0);
	assert_int_equal(rd(&e, APR), 0);
	assert_int_equal(rd(&e, PPR), 0);
	assert_int_equal(rd(&e, RRD), 0);
	assert_int_equal(rd(&e, LDR), 0);
	assert_int_equal(rd(&e, DFR), 0xffffffffu);
	assert_int_equal(rd(&e, SVR), 0xff);
	for (u32 i = 0; i < 8; i++) {
		assert_int_equal(rd(&e, ISR + i * 0x10), 0);
		assert_int_equal(rd(&e, TMR + i * 0x10), 0);
		assert_int_equal(rd(&e, IRR + i * 0x10), 0);
	}
	assert_int_equal(rd(&e, ESR), 0);
	for (u32 off = LVTT; off <= LVTERR; off += 0x10)
		assert_int_equal(rd(&e, off), MASKED);
	assert_int_equal(rd(&e, CMCI), MASKED);
	assert_int_equal(rd(&e, ICR), 0);
	assert_int_equal(rd(&e, ICR2), 0);
	assert_int_equal(rd(&e, TMICT), 0);
	assert_int_equal(rd(&e, TMCCT), 0);
	assert_int_equal(rd(&e, TDCR), 0);
	assert_int_equal(lapic_pending_vector(&e.l), -1);
	assert_int_equal(lapic_next_event(&e.l), NEVER);
	/* Software-disabled after reset: fixed interrupts are refused. */
	assert_false(lapic_accept_irq(&e.l, 0x40, false));
	assert_int_equal(lapic_pending_vector(&e.l), -1);
	assert_int_equal(e.l.dropped, 1);

	/* An AP: no BSP bit, its ID in bits 31:24. */
	setup_id(&e, 5, 0);
	assert_int_equal(lapic_base(&e.l), 0xfee00800ull);
	assert_int_equal(rd(&e, ID), 5u << 24);
}

static void tpr_ppr_arithmetic(void **state)
{
	struct env e;

	setup(&e, 0);
	wr(&e, TPR, 0x35);
	assert_int_equal(rd(&e, TPR), 0x35);
	assert_int_equal(rd(&e, PPR), 0x35);
	wr(&e, TPR, 0x1ff); /* bits 31:8 are reserved */
	assert_int_equal(rd(&e, TPR), 0xff);
	wr(&e, TPR, 0x35);

	/* In service 0x51: class 5 beats TPR class 3, PPR's low nibble is 0. */
	assert_true(lapic_accept_irq(&e.l, 0x51, false));
	assert_int_equal(take(&e), 0x51);
	assert_int_equal(rd(&e, PPR), 0x50);
	/* TPR class equal to the ISR class: PPR is TPR. */
	wr(&e, TPR, 0x5a);
	assert_int_equal(rd(&e, PPR), 0x5a);
	wr(&e, TPR, 0x70);
	assert_int_equal(rd(&e, PPR), 0x70);
	wr(&e, TPR, 0);
	assert_int_equal(rd(&e, PPR), 0x50);
	wr(&e, EOI, 0);
	assert_int_equal(rd(&e, PPR), 0);

	/* TPR blocks its own class and below. */
	wr(&e, TPR, 0x40);
	lapic_accept_irq(&e.l, 0x4f, false);
	assert_int_equal(lapic_pending_vector(&e.l), -1);
	wr(&e, TPR, 0x3f);
	assert_int_equal(lapic_pending_vector(&e.l), 0x4f);

	/* APR (SDM 11.6.2.4): TPR when it is at least IRRV's class, else IRRV's class. */
	assert_int_equal(rd(&e, APR), 0x40);
	wr(&e, TPR, 0x4c);
	assert_int_equal(rd(&e, APR), 0x4c);
}

static void priority_and_nesting(void **state)
{
	struct env e;

	setup(&e, 0);
	lapic_accept_irq(&e.l, 0x30, false);
	lapic_accept_irq(&e.l, 0x80, false);
	lapic_accept_irq(&e.l, 0x50, false);
	assert_true(vec_set(&e, IRR, 0x30) && vec_set(&e, IRR, 0x50) && vec_set(&e, IRR, 0x80));
	assert_int_equal(take(&e), 0x80);
	assert_true(vec_set(&e, ISR, 0x80));
	assert_false(vec_set(&e, IRR, 0x80));
	assert_int_equal(take(&e), -1); /* lower classes wait for the EOI */

	/* A higher class nests. */
	lapic_accept_irq(&e.l, 0x91, false);
	assert_int_equal(take(&e), 0x91);
	/* The same class does not, nor the same vector while it is in service. */
	lapic_accept_irq(&e.l, 0x9f, false);
	lapic_accept_irq(&e.l, 0x91, false);
	assert_int_equal(take(&e), -1);

	/* EOI retires the highest in-service vector first. */
	wr(&e, EOI, 0);
	assert_false(vec_set(&e, ISR, 0x91));
	assert_true(vec_set(&e, ISR, 0x80));
	assert_int_equal(take(&e), 0x9f);
	wr(&e, EOI, 0);
	assert_int_equal(take(&e), 0x91);
	wr(&e, EOI, 0);
	wr(&e, EOI, 0); /* 0x80 */
	assert_int_equal(rd(&e, PPR), 0);
	assert_int_equal(take(&e), 0x50);
	assert_int_equal(take(&e), -1);
	wr(&e, EOI, 0);
	assert_int_equal(take(&e), 0x30);
	wr(&e, EOI, 0);
	wr(&e, EOI, 0); /* nothing in service: harmless */
	assert_int_equal(take(&e), -1);
	/* Acknowledging a vector that is not requested changes nothing. */
	lapic_acknowledge(&e.l, 0x77);
	assert_false(vec_set(&e, ISR, 0x77));
	/* Edge interrupts coalesce in IRR. */
	lapic_accept_irq(&e.l, 0x60, false);
	lapic_accept_irq(&e.l, 0x60, false);
	assert_int_equal(take(&e), 0x60);
	assert_int_equal(take(&e), -1);
	assert_int_equal(e.eois, 0);
}

static void eoi_level_callback(void **state)
{
	struct env e;

	setup(&e, 0);
	assert_true(lapic_accept_irq(&e.l, 0x61, true));
	assert_true(vec_set(&e, TMR, 0x61));
	assert_int_equal(take(&e), 0x61);
	lapic_accept_irq(&e.l, 0x70, false);
	assert_int_equal(take(&e), 0x70);
	wr(&e, EOI, 0); /* 0x70, edge: no callback */
	assert_int_equal(e.eois, 0);
	wr(&e, EOI, 0);
	assert_int_equal(e.eois, 1);
	assert_int_equal(e.eoi_vector, 0x61);
	wr(&e, EOI, 0);
	assert_int_equal(e.eois, 1);
	/* The vector arriving edge-triggered next time clears its TMR bit. */
	lapic_accept_irq(&e.l, 0x61, false);
	assert_false(vec_set(&e, TMR, 0x61));
	take(&e);
	wr(&e, EOI, 0);
	assert_int_equal(e.eois, 1);
}

static void illegal_vectors(void **state)
{
	struct env e;

	setup(&e, 0);
	for (unsigned v = 0; v < 16; v++)
		assert_false(lapic_accept_irq(&e.l, v, false));
	assert_int_equal(rd(&e, IRR), 0);
	/* ESR shows the errors only after a write (SDM 11.5.3). */
	assert_int_equal(rd(&e, ESR), 0);
	wr(&e, ESR, 0);
	assert_int_equal(rd(&e, ESR), 0x40);
	wr(&e, ESR, 0x1234); /* the value written does not matter */
	assert_int_equal(rd(&e, ESR), 0);

	/* Sending one: "send illegal vector", nothing delivered. */
	wr(&e, ICR, 0x40003); /* self, fixed, vector 3 */
	wr(&e, ESR, 0);
	assert_int_equal(rd(&e, ESR), 0x20);
	assert_int_equal(rd(&e, IRR), 0);

	/* With the error LVT unmasked, errors interrupt. */
	wr(&e, LVTERR, 0xfe);
	lapic_accept_irq(&e.l, 0x0f, false);
	assert_int_equal(take(&e), 0xfe);
	/* An illegal error vector logs another error instead of recursing. */
	wr(&e, EOI, 0);
	wr(&e, LVTERR, 0x02);
	wr(&e, ESR, 0);
	lapic_accept_irq(&e.l, 0x01, false);
	assert_int_equal(take(&e), -1);
	wr(&e, ESR, 0);
	assert_int_equal(rd(&e, ESR), 0x40);
}

static void svr_disable_masks_lvts(void **state)
{
	struct env e;

	setup(&e, 0);
	wr(&e, LVTT, 0x20);
	wr(&e, LINT0, 0x700);
	wr(&e, LVTERR, 0xfe);
	wr(&e, CMCI, 0x30);
	assert_int_equal(rd(&e, LVTT), 0x20);
	wr(&e, TMICT, 1000);
	wr(&e, SVR, 0xff); /* software-disable */
	for (u32 off = LVTT; off <= LVTERR; off += 0x10)
		assert_true(rd(&e, off) & MASKED);
	assert_true(rd(&e, CMCI) & MASKED);
	assert_int_equal(rd(&e, LVTT), 0x20 | MASKED);
	/* Clearing a mask bit is ignored while disabled. */
	wr(&e, LVTT, 0x21);
	assert_int_equal(rd(&e, LVTT), 0x21 | MASKED);
	/* The timer expires unseen; no fixed interrupt gets in. */
	e.now += TSC_HZ;
	lapic_update(&e.l, e.now);
	assert_int_equal(lapic_pending_vector(&e.l), -1);
	assert_false(lapic_accept_irq(&e.l, 0x40, false));
	assert_int_equal(lapic_next_event(&e.l), NEVER);
	/* Pending interrupts are held while disabled. */
	wr(&e, SVR, 0x1ff);
	lapic_accept_irq(&e.l, 0x41, false);
	wr(&e, SVR, 0xff);
	assert_int_equal(lapic_pending_vector(&e.l), 0x41);
	/* Re-enabling leaves the LVTs masked until written. */
	wr(&e, SVR, 0x1ff);
	assert_int_equal(rd(&e, LVTT), 0x21 | MASKED);
	wr(&e, LVTT, 0x22);
	assert_int_equal(rd(&e, LVTT), 0x22);
	/* SVR keeps the vector, enable and focus bits only. */
	wr(&e, SVR, 0xfffff);
	assert_int_equal(rd(&e, SVR), 0x3ff);
}

/* One-shot for every divide value: the interrupt comes at exactly the computed clock time. */
static void timer_oneshot_divides(void **state)
{
	static const u32 tdcr[8] = { 0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xb };
	static const u32 div[8] = { 2, 4, 8, 16, 32, 64, 128, 1 };
	struct env e;
	const u64 start = 0x123456789ull;

	for (unsigned i = 0; i < 8; i++) {
		u32 count = 1000 + 777 * i;
		u64 load, fire;

		setup(&e, start);
		e.now += TSC_HZ / 3 + i;
		wr(&e, TDCR, tdcr[i]);
		assert_int_equal(rd(&e, TDCR), tdcr[i]);
		wr(&e, LVTT, 0x40);
		wr(&e, TMICT, count);
		load = ref_bus(&e, start, e.now);
		fire = ref_time(&e, start, load + (u64)count * div[i]);
		assert_int_equal(rd(&e, TMICT), count);
		assert_int_equal(rd(&e, TMCCT), count);
		assert_int_equal(lapic_next_event(&e.l), fire);

		/* Halfway: the count has gone down by the bus ticks / divide. */
		e.now = ref_time(&e, start, load + (u64)count / 2 * div[i]);
		assert_int_equal(rd(&e, TMCCT), count - count / 2);
		e.now = fire - 1;
		assert_int_equal(rd(&e, TMCCT), 1);
		lapic_update(&e.l, e.now);
		assert_int_equal(lapic_pending_vector(&e.l), -1);
		lapic_update(&e.l, fire);
		assert_int_equal(take(&e), 0x40);
		e.now = fire;
		assert_int_equal(rd(&e, TMCCT), 0);
		assert_int_equal(rd(&e, TMICT), count);
		assert_int_equal(lapic_next_event(&e.l), NEVER);
		e.now += TSC_HZ;
		lapic_update(&e.l, e.now);
		assert_int_equal(rd(&e, IRR + 0x20), 0);
	}
}

static void timer_periodic(void **state)
{
	struct env e;
	const u32 count = 62500; /* Linux-like: HZ 1000 at bus/16 */
	u64 load, period = (u64)count * 16, t;

	setup(&e, 42);
	wr(&e, TDCR, 0x3);
	wr(&e, LVTT, PERIODIC | 0xec);
	wr(&e, TMICT, count);
	load = ref_bus(&e, 42, e.now);
	for (u64 k = 1; k <= 1000; k++) {
		t = lapic_next_event(&e.l);
		assert_int_equal(t, ref_time(&e, 42, load + k * period));
		lapic_update(&e.l, t - 1);
		assert_int_equal(lapic_pending_vector(&e.l), -1);
		lapic_update(&e.l, t);
		assert_int_equal(take(&e), 0xec);
		wr(&e, EOI, 0);
		/* Reloaded: the counter reads the full count right at the period boundary. */
		e.now = t;
		assert_int_equal(rd(&e, TMCCT), count);
	}
	assert_int_equal(e.l.timer_lost, 0);

	/* Ten periods unseen: one interrupt, nine lost, the phase kept. */
	e.now = ref_time(&e, 42, load + 1010 * period) + 5;
	lapic_update(&e.l, e.now);
	assert_int_equal(take(&e), 0xec);
	assert_int_equal(take(&e), -1);
	assert_int_equal(e.l.timer_lost, 9);
	assert_int_equal(lapic_next_event(&e.l), ref_time(&e, 42, load + 1011 * period));
	/* Time never runs backwards. */
	lapic_update(&e.l, 0);
	assert_int_equal(lapic_next_event(&e.l), ref_time(&e, 42, load + 1011 * period));

	/* Masked: periods pass silently and are not counted as lost. */
	wr(&e, EOI, 0);
	wr(&e, LVTT, PERIODIC | MASKED | 0xec);
	assert_int_equal(lapic_next_event(&e.l), NEVER);
	e.now = ref_time(&e, 42, load + 1100 * period);
	lapic_update(&e.l, e.now);
	assert_int_equal(take(&e), -1);
	/* Unmasked: the next boundary, not a backlog. */
	wr(&e, LVTT, PERIODIC | 0xec);
	assert_int_equal(take(&e), -1);
	assert_int_equal(lapic_next_event(&e.l), ref_time(&e, 42, load + 1101 * period));
	assert_int_equal(e.l.timer_lost, 9);

	/* Writing 0 to the initial count stops it; periodic -> one-shot runs out the period. */
	wr(&e, TMICT, 0);
	assert_int_equal(lapic_next_event(&e.l), NEVER);
	assert_int_equal(rd(&e, TMCCT), 0);
	wr(&e, TMICT, 100);
	load = ref_bus(&e, 42, e.now);
	wr(&e, LVTT, 0xec);
	e.now = ref_time(&e, 42, load + 100 * 16);
	lapic_update(&e.l, e.now);
	assert_int_equal(take(&e), 0xec);
	assert_int_equal(lapic_next_event(&e.l), NEVER);
}

static void timer_divide_change_keeps_count(void **state)
{
	struct env e;
	u64 load;

	setup(&e, 0);
	wr(&e, TDCR, 0xb); /* divide by 1 */
	wr(&e, LVTT, 0x50);
	wr(&e, TMICT, 1000000);
	load = ref_bus(&e, 0, e.now);
	e.now = ref_time(&e, 0, load + 400000);
	assert_int_equal(rd(&e, TMCCT), 600000);
	wr(&e, TDCR, 0x3); /* divide by 16 from here */
	assert_int_equal(rd(&e, TMCCT), 600000);
	load = ref_bus(&e, 0, e.now);
	assert_int_equal(lapic_next_event(&e.l), ref_time(&e, 0, load + 600000ull * 16));
	/* The same divide again changes nothing. */
	e.now += 1000;
	wr(&e, TDCR, 0x3);
	assert_int_equal(lapic_next_event(&e.l), ref_time(&e, 0, load + 600000ull * 16));
}

static void tsc_deadline(void **state)
{
	struct env e;
	u64 v;

	setup(&e, 1000);
	/* Not in TSC-deadline mode: the MSR reads 0 and ignores writes. */
	assert_int_equal(lapic_msr_write(&e.l, MSR_IA32_TSC_DEADLINE, 5000), 0);
	assert_int_equal(msr_rd(&e, MSR_IA32_TSC_DEADLINE), 0);
	assert_int_equal(lapic_next_event(&e.l), NEVER);

	wr(&e, LVTT, DEADLINE | 0xef);
	assert_int_equal(lapic_msr_write(&e.l, MSR_IA32_TSC_DEADLINE, 5000), 0);
	assert_int_equal(msr_rd(&e, MSR_IA32_TSC_DEADLINE), 5000);
	assert_int_equal(lapic_next_event(&e.l), 5000);
	/* The counter does not run in this mode. */
	wr(&e, TMICT, 1234);
	assert_int_equal(rd(&e, TMICT), 0);
	assert_int_equal(rd(&e, TMCCT), 0);
	lapic_update(&e.l, 4999);
	assert_int_equal(lapic_pending_vector(&e.l), -1);
	lapic_update(&e.l, 5000);
	assert_int_equal(take(&e), 0xef);
	wr(&e, EOI, 0);
	/* Fired: disarmed, reads 0. */
	e.now = 5000;
	assert_int_equal(msr_rd(&e, MSR_IA32_TSC_DEADLINE), 0);
	assert_int_equal(lapic_next_event(&e.l), NEVER);

	/* Re-arm, then disarm with 0. */
	lapic_msr_write(&e.l, MSR_IA32_TSC_DEADLINE, 9000);
	lapic_msr_write(&e.l, MSR_IA32_TSC_DEADLINE, 0);
	lapic_update(&e.l, 10000);
	assert_int_equal(take(&e), -1);
	/* Re-arm, then move later. */
	e.now = 10000;
	lapic_msr_write(&e.l, MSR_IA32_TSC_DEADLINE, 11000);
	lapic_msr_write(&e.l, MSR_IA32_TSC_DEADLINE, 12000);
	lapic_update(&e.l, 11500);
	assert_int_equal(take(&e), -1);
	lapic_update(&e.l, 12000);
	assert_int_equal(take(&e), 0xef);
	wr(&e, EOI, 0);
	/* A deadline in the past fires at once. */
	e.now = 20000;
	lapic_msr_write(&e.l, MSR_IA32_TSC_DEADLINE, 1);
	assert_int_equal(take(&e), 0xef);
	wr(&e, EOI, 0);

	/* Leaving the mode disarms. */
	lapic_msr_write(&e.l, MSR_IA32_TSC_DEADLINE, 30000);
	wr(&e, LVTT, 0xef);
	assert_int_equal(lapic_next_event(&e.l), NEVER);
	wr(&e, LVTT, DEADLINE | 0xef);
	assert_int_equal(msr_rd(&e, MSR_IA32_TSC_DEADLINE), 0);
	lapic_update(&e.l, 40000);
	assert_int_equal(take(&e), -1);
	/* And entering it stops a running one-shot count. */
	wr(&e, LVTT, 0xef);
	wr(&e, TMICT, 100);
	wr(&e, LVTT, DEADLINE | 0xef);
	wr(&e, LVTT, 0xef);
	assert_int_equal(rd(&e, TMICT), 0);
	assert_int_equal(lapic_next_event(&e.l), NEVER);
	/* Masked, a deadline passes silently and still disarms. */
	wr(&e, LVTT, DEADLINE | MASKED | 0xef);
	e.now = 40000;
	lapic_msr_write(&e.l, MSR_IA32_TSC_DEADLINE, 40500);
	assert_int_equal(lapic_next_event(&e.l), NEVER);
	lapic_update(&e.l, 41000);
	assert_int_equal(take(&e), -1);
	e.now = 41000;
	assert_int_equal(msr_rd(&e, MSR_IA32_TSC_DEADLINE), 0);
	/* The reserved mode 11b counts nothing. */
	wr(&e, LVTT, 3u << 17 | 0xef);
	wr(&e, TMICT, 10);
	assert_int_equal(lapic_next_event(&e.l), NEVER);

	/* x2APIC mode: the same MSR. */
	wr(&e, LVTT, DEADLINE | 0xef);
	to_x2apic(&e);
	assert_int_equal(lapic_msr_write(&e.l, MSR_IA32_TSC_DEADLINE, 50000), 0);
	assert_int_equal(lapic_msr_read(&e.l, MSR_IA32_TSC_DEADLINE, &v), 0);
	assert_int_equal(v, 50000);
	lapic_update(&e.l, 50000);
	assert_int_equal(take(&e), 0xef);
}

static void x2apic_switch_rules(void **state)
{
	struct env e;
	u64 v;

	setup_id(&e, 0, 0);
	/* The x2APIC MSRs fault in xAPIC mode. */
	assert_int_equal(lapic_msr_read(&e.l, MSR(ID), &v), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(TPR), 0), -1);
	/* Another MSR is not the APIC's. */
	assert_int_equal(lapic_msr_read(&e.l, 0x1b, &v), -1);
	assert_int_equal(lapic_msr_write(&e.l, 0x7ff, 0), -1);

	/* Refused: another base, reserved bits, EN=0 with EXTD=1. */
	assert_int_equal(lapic_set_base(&e.l, 0xfed00800ull), -1);
	assert_int_equal(lapic_set_base(&e.l, BASE_XAPIC | 1), -1);
	assert_int_equal(lapic_set_base(&e.l, BASE_XAPIC | 0x200), -1);
	assert_int_equal(lapic_set_base(&e.l, BASE_XAPIC | 1ull << 40), -1);
	assert_int_equal(lapic_set_base(&e.l, BASE_OFF | 0x400), -1);
	assert_int_equal(lapic_base(&e.l), 0xfee00900ull);
	/* Rewriting the same state (with or without the BSP bit) is fine. */
	assert_int_equal(lapic_set_base(&e.l, BASE_XAPIC), 0);
	assert_int_equal(lapic_set_base(&e.l, BASE_XAPIC | BSP), 0);

	/* xAPIC -> x2APIC keeps the registers. */
	wr(&e, SVR, 0x1ff);
	wr(&e, TPR, 0x20);
	lapic_accept_irq(&e.l, 0x80, false);
	to_x2apic(&e);
	assert_int_equal(lapic_base(&e.l), 0xfee00d00ull);
	assert_int_equal(msr_rd(&e, MSR(TPR)), 0x20);
	assert_int_equal(msr_rd(&e, MSR(SVR)), 0x1ff);
	assert_int_equal(lapic_pending_vector(&e.l), 0x80);
	/* The page is gone in x2APIC mode. */
	assert_int_equal(rd(&e, SVR), 0);
	wr(&e, TPR, 0x50);
	assert_int_equal(msr_rd(&e, MSR(TPR)), 0x20);

	/* x2APIC -> xAPIC directly: #GP. */
	assert_int_equal(lapic_set_base(&e.l, BASE_XAPIC), -1);
	assert_int_equal(lapic_base(&e.l), 0xfee00d00ull);
	/* x2APIC -> disabled: everything resets. */
	assert_int_equal(lapic_set_base(&e.l, BASE_OFF), 0);
	assert_int_equal(lapic_base(&e.l), 0xfee00100ull);
	assert_int_equal(lapic_pending_vector(&e.l), -1);
	assert_int_equal(lapic_msr_read(&e.l, MSR(TPR), &v), -1);
	assert_int_equal(rd(&e, SVR), 0);
	assert_false(lapic_accept_irq(&e.l, 0x80, false));
	assert_false(lapic_match_dest(&e.l, 0, false));
	/* disabled -> x2APIC: #GP; disabled -> xAPIC: reset state. */
	assert_int_equal(lapic_set_base(&e.l, BASE_X2APIC), -1);
	assert_int_equal(lapic_set_base(&e.l, BASE_XAPIC), 0);
	assert_int_equal(rd(&e, SVR), 0xff);
	assert_int_equal(rd(&e, TPR), 0);
	assert_int_equal(rd(&e, LVTT), MASKED);
	assert_int_equal(rd(&e, DFR), 0xffffffffu);
	/* xAPIC -> disabled also resets. */
	wr(&e, TPR, 0x33);
	assert_int_equal(lapic_set_base(&e.l, BASE_OFF | BSP), 0);
	assert_int_equal(lapic_set_base(&e.l, BASE_XAPIC), 0);
	assert_int_equal(rd(&e, TPR), 0);
}

static void x2apic_msrs(void **state)
{
	struct env e;
	u64 v;

	setup_id(&e, 0x23, 0);
	to_x2apic(&e);
	assert_int_equal(lapic_base(&e.l), 0xfee00c00ull);
	assert_int_equal(msr_rd(&e, MSR(ID)), 0x23);
	assert_int_equal(msr_rd(&e, MSR(VER)), 0x00060014);
	/* SDM 11.12.10.2: cluster 2, bit 3. */
	assert_int_equal(msr_rd(&e, MSR(LDR)), 0x20008);
	assert_int_equal(msr_rd(&e, MSR(SVR)), 0xff);
	assert_int_equal(msr_rd(&e, MSR(LVTT)), MASKED);

	/* Read-only registers fault on writes. */
	assert_int_equal(lapic_msr_write(&e.l, MSR(ID), 0x23), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(VER), 0), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(LDR), 0), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(PPR), 0), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(ISR), 0), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(IRR + 0x70), 0), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(TMCCT), 0), -1);
	/* Absent in x2APIC mode: APR, RRD, DFR, ICR high; reserved MSRs. */
	static const u32 absent[] = { MSR(APR), MSR(RRD), MSR(DFR), MSR(ICR2), 0x800, 0x801,
				      0x804, 0x807, 0x829, 0x82e, 0x83a, 0x83d, 0x840, 0x8ff };
	for (unsigned i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		assert_int_equal(lapic_msr_read(&e.l, absent[i], &v), -1);
		assert_int_equal(lapic_msr_write(&e.l, absent[i], 0), -1);
	}
	/* Write-only: EOI and SELF IPI fault on reads. */
	assert_int_equal(lapic_msr_read(&e.l, MSR(EOI), &v), -1);
	assert_int_equal(lapic_msr_read(&e.l, MSR(SELF_IPI), &v), -1);

	/* Reserved bits fault (SDM 11.12.1.3), read-only LVT bits do not. */
	assert_int_equal(lapic_msr_write(&e.l, MSR(TPR), 0x100), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(TPR), 1ull << 32), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(SVR), 0x11ff), -1); /* no EOI suppression */
	assert_int_equal(lapic_msr_write(&e.l, MSR(SVR), 0x3ff), 0);
	assert_int_equal(lapic_msr_write(&e.l, MSR(LVTT), 1u << 19), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(LVTERR), 0x700), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(LINT0), 0x1f700), 0); /* remote IRR bit */
	assert_int_equal(msr_rd(&e, MSR(LINT0)), 0x1a700);
	assert_int_equal(lapic_msr_write(&e.l, MSR(TDCR), 0x4), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(TMICT), 1ull << 32), -1);
	/* EOI and ESR take only 0. */
	assert_int_equal(lapic_msr_write(&e.l, MSR(EOI), 1), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(EOI), 0), 0);
	assert_int_equal(lapic_msr_write(&e.l, MSR(ESR), 1), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(ESR), 0), 0);
	assert_int_equal(msr_rd(&e, MSR(ESR)), 0);

	/* TPR, PPR, IRR/ISR via MSRs. */
	assert_int_equal(lapic_msr_write(&e.l, MSR(TPR), 0x40), 0);
	lapic_accept_irq(&e.l, 0x81, true);
	assert_int_equal(msr_rd(&e, MSR(IRR + 0x40)), 2);
	assert_int_equal(msr_rd(&e, MSR(TMR + 0x40)), 2);
	assert_int_equal(take(&e), 0x81);
	assert_int_equal(msr_rd(&e, MSR(ISR + 0x40)), 2);
	assert_int_equal(msr_rd(&e, MSR(PPR)), 0x80);
	assert_int_equal(lapic_msr_write(&e.l, MSR(EOI), 0), 0);
	assert_int_equal(e.eois, 1);
	assert_int_equal(e.eoi_vector, 0x81);

	/* ICR: one 64-bit register, the destination in bits 63:32; self by destination. */
	assert_int_equal(lapic_msr_write(&e.l, MSR(ICR), 0x23ull << 32 | 0x4091), 0);
	assert_int_equal(msr_rd(&e, MSR(ICR)), 0x23ull << 32 | 0x4091);
	assert_int_equal(take_eoi(&e), 0x91);
	assert_int_equal(lapic_msr_write(&e.l, MSR(ICR), 0x24ull << 32 | 0x92), 0);
	assert_int_equal(take(&e), -1);
	assert_int_equal(e.l.ipis_ignored, 1);
	/* Logical: cluster 2, bit 3. */
	assert_int_equal(lapic_msr_write(&e.l, MSR(ICR), 0x20008ull << 32 | 0x893), 0);
	assert_int_equal(take_eoi(&e), 0x93);
	assert_int_equal(lapic_msr_write(&e.l, MSR(ICR), 0x10008ull << 32 | 0x894), 0);
	assert_int_equal(take(&e), -1);
	/* Broadcast. */
	assert_int_equal(lapic_msr_write(&e.l, MSR(ICR), 0xffffffffull << 32 | 0x95), 0);
	assert_int_equal(take_eoi(&e), 0x95);
	/* Reserved ICR bits fault; the delivery status bit is ignored. */
	assert_int_equal(lapic_msr_write(&e.l, MSR(ICR), 0x2000 | 0x96), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(ICR), 1u << 20 | 0x96), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(ICR), 0x41096), 0);
	assert_int_equal(msr_rd(&e, MSR(ICR)), 0x40096);
	assert_int_equal(take_eoi(&e), 0x96);

	/* SELF IPI: vector only. */
	assert_int_equal(lapic_msr_write(&e.l, MSR(SELF_IPI), 0xa7), 0);
	assert_int_equal(take_eoi(&e), 0xa7);
	assert_int_equal(lapic_msr_write(&e.l, MSR(SELF_IPI), 0x1a7), -1);
	assert_int_equal(lapic_msr_write(&e.l, MSR(SELF_IPI), 0x07), 0);
	assert_int_equal(take(&e), -1);
	lapic_msr_write(&e.l, MSR(ESR), 0);
	assert_int_equal(msr_rd(&e, MSR(ESR)), 0x20);

	/* The timer through MSRs. */
	assert_int_equal(lapic_msr_write(&e.l, MSR(LVTT), 0x31), 0);
	assert_int_equal(lapic_msr_write(&e.l, MSR(TDCR), 0xb), 0);
	assert_int_equal(lapic_msr_write(&e.l, MSR(TMICT), 1000), 0);
	assert_int_equal(msr_rd(&e, MSR(TMICT)), 1000);
	assert_int_equal(msr_rd(&e, MSR(TMCCT)), 1000);
	assert_int_equal(msr_rd(&e, MSR(TDCR)), 0xb);

	/* ID 0x1b: cluster 1, bit 11. */
	setup_id(&e, 0x1b, 0);
	to_x2apic(&e);
	assert_int_equal(msr_rd(&e, MSR(LDR)), 0x10800);
	assert_true(lapic_match_dest(&e.l, 0x10800, true));
	assert_false(lapic_match_dest(&e.l, 0x00800, true));
}

static void icr_ipis(void **state)
{
	struct env e;

	setup_id(&e, 3, 0);
	wr(&e, SVR, 0x1ff);
	/* Shorthand self. */
	wr(&e, ICR, 0x40041);
	assert_int_equal(take_eoi(&e), 0x41);
	assert_int_equal(rd(&e, ICR) & (1u << 12), 0); /* delivery status: idle */
	assert_int_equal(rd(&e, ICR), 0x40041);
	/* Physical destination: own ID, another, broadcast. */
	wr(&e, ICR2, 3u << 24);
	wr(&e, ICR, 0x42);
	assert_int_equal(take_eoi(&e), 0x42);
	wr(&e, ICR2, 4u << 24 | 0xffffff); /* bits 23:0 reserved */
	assert_int_equal(rd(&e, ICR2), 4u << 24);
	wr(&e, ICR, 0x43);
	assert_int_equal(take(&e), -1);
	assert_int_equal(e.l.ipis_ignored, 1);
	wr(&e, ICR2, 0xffu << 24);
	wr(&e, ICR, 0x44);
	assert_int_equal(take_eoi(&e), 0x44);
	/* All including self; all excluding self. */
	wr(&e, ICR, 0x80045);
	assert_int_equal(take_eoi(&e), 0x45);
	wr(&e, ICR, 0xc0046);
	assert_int_equal(take(&e), -1);
	assert_int_equal(e.l.ipis_ignored, 2);
	/* Lowest priority to self behaves as fixed. */
	wr(&e, ICR, 0x40147);
	assert_int_equal(take_eoi(&e), 0x47);

	/* Logical, flat model: LDR bit 2. */
	wr(&e, LDR, 0x04000000 | 0xffffff);
	assert_int_equal(rd(&e, LDR), 0x04000000);
	wr(&e, ICR2, 0x06u << 24);
	wr(&e, ICR, 0x848);
	assert_int_equal(take_eoi(&e), 0x48);
	wr(&e, ICR2, 0x01u << 24);
	wr(&e, ICR, 0x849);
	assert_int_equal(take(&e), -1);
	/* Cluster model: cluster 2, member bit 1. */
	wr(&e, DFR, 0x0fffffff);
	assert_int_equal(rd(&e, DFR), 0x0fffffff);
	wr(&e, LDR, 0x21000000);
	wr(&e, ICR2, 0x23u << 24);
	wr(&e, ICR, 0x84a);
	assert_int_equal(take_eoi(&e), 0x4a);
	wr(&e, ICR2, 0x13u << 24);
	wr(&e, ICR, 0x84b);
	assert_int_equal(take(&e), -1);
	wr(&e, ICR2, 0xffu << 24);
	wr(&e, ICR, 0x84c);
	assert_int_equal(take_eoi(&e), 0x4c);
	/* An unknown model matches no logical destination. */
	wr(&e, DFR, 0x5fffffff);
	assert_false(lapic_match_dest(&e.l, 0x21, true));
	assert_true(lapic_match_dest(&e.l, 3, false));

	/* NMI to self goes to the hook; INIT, SIPI, SMI and ExtINT are ignored. */
	wr(&e, ICR, 0x40400);
	assert_int_equal(e.nmis, 1);
	wr(&e, ICR2, 7u << 24);
	wr(&e, ICR, 0x400); /* NMI for another CPU */
	assert_int_equal(e.nmis, 1);
	unsigned before = (unsigned)e.l.ipis_ignored;
	wr(&e, ICR, 0xc4500);
	wr(&e, ICR, 0xc0698);
	wr(&e, ICR, 0x40200);
	wr(&e, ICR, 0x40700);
	assert_int_equal(e.l.ipis_ignored, before + 4);
	assert_int_equal(take(&e), -1);
}

static void xapic_mmio_access_rules(void **state)
{
	struct env e;

	setup_id(&e, 0x5a, 0);
	/* Partial reads within the first 4 bytes of a register. */
	assert_int_equal(rd_size(&e, ID + 3, 1), 0x5a);
	assert_int_equal(rd_size(&e, ID + 2, 2), 0x5a00);
	assert_int_equal(rd_size(&e, VER, 2), 0x0014);
	assert_int_equal(rd_size(&e, VER + 2, 1), 0x06);
	/* Crossing the dword, 8 bytes, or bytes 4-15 of a register: 0. */
	assert_int_equal(rd_size(&e, ID + 3, 2), 0);
	assert_int_equal(rd_size(&e, VER, 8), 0);
	assert_int_equal(rd_size(&e, VER + 4, 4), 0);
	assert_int_equal(rd_size(&e, VER + 8, 4), 0);
	/* Reserved registers and write-only ones read 0. */
	assert_int_equal(rd(&e, 0x00), 0);
	assert_int_equal(rd(&e, 0x40), 0);
	assert_int_equal(rd(&e, EOI), 0);
	assert_int_equal(rd(&e, SELF_IPI), 0);
	assert_int_equal(rd(&e, 0x3c0), 0);
	assert_int_equal(rd(&e, 0xff0), 0);

	/* Only aligned 4-byte writes count. */
	wr_size(&e, SVR, 2, 0x1ff);
	wr_size(&e, SVR, 1, 0x1ff);
	wr_size(&e, SVR, 8, 0x1ff);
	wr_size(&e, SVR + 4, 4, 0x1ff);
	wr_size(&e, SVR + 1, 4, 0x1ff);
	assert_int_equal(rd(&e, SVR), 0xff);
	wr(&e, SVR, 0x1ff);
	assert_int_equal(rd(&e, SVR), 0x1ff);
	/* Read-only registers ignore writes, the ID included. */
	wr(&e, ID, 0x01000000);
	wr(&e, VER, 0);
	wr(&e, PPR, 0xff);
	wr(&e, APR, 0xff);
	wr(&e, ISR, ~0u);
	wr(&e, IRR, ~0u);
	wr(&e, TMCCT, 5);
	assert_int_equal(rd(&e, ID), 0x5a000000);
	assert_int_equal(rd(&e, VER), 0x00060014);
	assert_int_equal(rd(&e, PPR), 0);
	assert_int_equal(rd(&e, IRR), 0);
	assert_int_equal(rd(&e, TMCCT), 0);
	/* Every LVT keeps its writable bits only. */
	static const struct {
		u32 off, bits;
	} lvts[] = { { CMCI, 0x107ff }, { LVTT, 0x700ff }, { THERMAL, 0x107ff },
		     { PERF, 0x107ff }, { LINT0, 0x1a7ff }, { LINT1, 0x1a7ff },
		     { LVTERR, 0x100ff } };
	for (unsigned i = 0; i < sizeof(lvts) / sizeof(lvts[0]); i++) {
		wr(&e, lvts[i].off, ~0u);
		assert_int_equal(rd(&e, lvts[i].off), lvts[i].bits);
		wr(&e, lvts[i].off, 0);
		assert_int_equal(rd(&e, lvts[i].off), 0);
	}
	wr(&e, TDCR, ~0u);
	assert_int_equal(rd(&e, TDCR), 0xb);
	wr(&e, TMICT, 0xffffffffu);
	assert_int_equal(rd(&e, TMICT), 0xffffffffu);
	wr(&e, ICR2, ~0u);
	assert_int_equal(rd(&e, ICR2), 0xff000000u);
	wr(&e, ICR, 0xc0000 | 0x7000); /* all but self, delivery status and remote read */
	assert_int_equal(rd(&e, ICR), 0xc4000);
	/* The range is the page; registering twice fails. */
	assert_null(vdev_mmio_find(&e.bus, LAPIC_BASE + 0x1000, 4));
	assert_int_equal(lapic_register(&e.l, &e.bus), -1);
}

static void extint_acceptance(void **state)
{
	struct env e;

	setup_id(&e, 0, 0);
	/* After reset: enabled, LINT0 masked: the 8259 does not get through. */
	assert_false(lapic_accepts_extint(&e.l));
	/* What firmware leaves: virtual wire. */
	lapic_virtual_wire(&e.l);
	assert_true(lapic_accepts_extint(&e.l));
	assert_int_equal(rd(&e, SVR) & 0x100, 0x100);
	assert_int_equal(rd(&e, LINT0), 0x8700);
	assert_int_equal(rd(&e, LINT1), 0x400);
	/* Linux masking LINT0 to use the I/O APIC. */
	wr(&e, LINT0, 0x700 | MASKED);
	assert_false(lapic_accepts_extint(&e.l));
	/* Unmasked but fixed delivery: not ExtINT. */
	wr(&e, LINT0, 0x31);
	assert_false(lapic_accepts_extint(&e.l));
	wr(&e, LINT0, 0x700);
	assert_true(lapic_accepts_extint(&e.l));
	/* Software-disabled: LINT0 masked with everything else. */
	wr(&e, SVR, 0xff);
	assert_false(lapic_accepts_extint(&e.l));
	/* Globally disabled: there is no APIC, INTR goes straight to the core. */
	assert_int_equal(lapic_set_base(&e.l, BASE_OFF | BSP), 0);
	assert_true(lapic_accepts_extint(&e.l));
	/* x2APIC mode follows LINT0 like xAPIC. */
	assert_int_equal(lapic_set_base(&e.l, BASE_XAPIC), 0);
	to_x2apic(&e);
	assert_false(lapic_accepts_extint(&e.l));
	lapic_msr_write(&e.l, MSR(SVR), 0x1ff);
	lapic_msr_write(&e.l, MSR(LINT0), 0x700);
	assert_true(lapic_accepts_extint(&e.l));
}

static void bad_clocks(void **state)
{
	struct env e;
	struct lapic l;

	memset(&e, 0, sizeof(e));
	assert_int_equal(lapic_init(&l, 0, (struct vclock){ NULL, &e, TSC_HZ },
				    (struct lapic_hooks){ 0 }), -1);
	assert_int_equal(lapic_init(&l, 0, (struct vclock){ fake_now, &e, 0 },
				    (struct lapic_hooks){ 0 }), -1);
	assert_int_equal(lapic_init(&l, 0, (struct vclock){ fake_now, &e, 1ull << 35 },
				    (struct lapic_hooks){ 0 }), -1);
	assert_int_equal(lapic_init(&l, 0, (struct vclock){ fake_now, &e, 1ull << 33 },
				    (struct lapic_hooks){ 0 }), 0);
	/* No hooks: level EOIs and NMIs go nowhere. */
	l.svr = 0x1ff;
	lapic_accept_irq(&l, 0x50, true);
	lapic_acknowledge(&l, 0x50);
	assert_int_equal(lapic_msr_write(&l, MSR_IA32_TSC_DEADLINE, 1), 0);
	lapic_mmio_ops.write(&l, ICR, 4, 0x40400);
	lapic_mmio_ops.write(&l, EOI, 4, 0);
	assert_int_equal(lapic_mmio_ops.read(&l, ISR + 0x20, 4), 0);
	/* Offsets beyond the page from a careless caller. */
	lapic_mmio_ops.write(&l, 0x1000 + SVR, 4, 0);
	assert_int_equal(lapic_mmio_ops.read(&l, 0x1000 + SVR, 4), 0);
	assert_int_equal(lapic_mmio_ops.read(&l, SVR, 4), 0x1ff);
}

struct fuzz_lapic {
	u64 before;
	struct env e;
	u64 after;
	struct fuzz_rng rng;
};

/* x2APIC MSRs, IA32_TSC_DEADLINE, and now and then anything. */
static u32 random_msr(struct fuzz_rng *rng)
{
	u32 r = fuzz_next(rng);

	switch (r % 8) {
	case 0:
		return MSR_IA32_TSC_DEADLINE;
	case 1:
		return fuzz_next(rng);
	default:
		return 0x800 + (r >> 8) % 0x100;
	}
}

static u64 random_value(struct fuzz_rng *rng)
{
	u32 r = fuzz_next(rng);
	u64 v = (u64)fuzz_next(rng) << 32 | fuzz_next(rng);

	switch (r % 6) {
	case 0:
		return 0;
	case 1:
		return ~0ull;
	case 2:
		return 1ull << (v % 64);
	case 3:
		return v & 0xffffffffu;
	case 4:
		return v & 0x1ffff; /* LVT-, ICR- and SVR-like */
	default:
		return v;
	}
}

static void check_invariants(const struct lapic *l)
{
	int v = lapic_pending_vector(l);

	assert_true(v == -1 || (v >= 16 && v <= 255));
	assert_int_equal(l->irr[0] & 0xffff, 0);
	assert_int_equal(l->isr[0] & 0xffff, 0);
	assert_true(l->mode == 0 || l->mode == 0x800 || l->mode == 0xc00);
	assert_int_equal(l->tdcr & ~0xbu, 0);
	assert_true(l->timer_count <= l->tmict);
}

static void hostile_accesses(void **state)
{
	static const u32 sizes[4] = { 1, 2, 4, 8 };
	static struct fuzz_lapic w;
	struct env *e = &w.e;
	unsigned bad = 0;
	u64 v;

	w.before = w.after = FUZZ_CANARY;
	w.rng.s = 0x1a91c | 1;
	setup_id(e, 0, 1ull << 40);
	for (unsigned i = 0; i < FUZZ_ACCESSES; i++) {
		u32 r = fuzz_next(&w.rng), size = sizes[(r >> 4) % 4];
		/* Mostly the register area, register-aligned; sometimes anywhere in the page. */
		u64 off = (r >> 8) % 8 ? fuzz_next(&w.rng) % 0x400 : fuzz_next(&w.rng) % 0x1000;

		if ((r >> 12) % 4)
			off &= ~0xfull;
		off = MIN(off, 0x1000 - size);
		switch (r % 16) {
		case 0:
		case 1:
		case 2:
			v = rd_size(e, off, size);
			if (size < 8 && v >> (8 * size))
				bad++;
			break;
		case 3:
		case 4:
		case 5:
			wr_size(e, off & ~0xfull, 4, random_value(&w.rng));
			break;
		case 6:
			wr_size(e, off, size, random_value(&w.rng));
			break;
		case 7:
			lapic_msr_read(&e->l, random_msr(&w.rng), &v);
			break;
		case 8:
			lapic_msr_write(&e->l, random_msr(&w.rng), random_value(&w.rng));
			break;
		case 9:
			/* Now and then a mode change (mostly valid), else a software enable. */
			v = BASE_OFF | (u64)((r >> 14) % 4) << 10;
			if ((r >> 12) % 4 == 0)
				v = random_value(&w.rng);
			if ((r >> 8) % 16 == 0)
				lapic_set_base(&e->l, v);
			else if (lapic_msr_write(&e->l, MSR(SVR), 0x100 | (r >> 16)))
				wr(e, SVR, 0x100 | (r >> 16));
			break;
		case 10:
			lapic_accept_irq(&e->l, (u8)(r >> 8), (r >> 16) & 1);
			break;
		case 11:
			take(e);
			break;
		case 12:
			lapic_acknowledge(&e->l, (u8)(r >> 8));
			break;
		case 13:
			/* After an update nothing is overdue. */
			e->now += (u64)(r >> 8) << ((r >> 4) % 20);
			lapic_update(&e->l, e->now);
			v = lapic_next_event(&e->l);
			assert_true(v == NEVER || v > e->now);
			break;
		case 14:
			e->now += (r >> 8) % 4096;
			break;
		default:
			lapic_update(&e->l, e->now - (r >> 8) % 1000); /* stale: changes nothing */
			lapic_match_dest(&e->l, (u32)random_value(&w.rng), r & 1);
			lapic_accepts_extint(&e->l);
			break;
		}
		check_invariants(&e->l);
	}
	assert_int_equal(bad, 0);
	assert_true(w.before == FUZZ_CANARY && w.after == FUZZ_CANARY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reset_values),
		cmocka_unit_test(tpr_ppr_arithmetic),
		cmocka_unit_test(priority_and_nesting),
		cmocka_unit_test(eoi_level_callback),
		cmocka_unit_test(illegal_vectors),
		cmocka_unit_test(svr_disable_masks_lvts),
		cmocka_unit_test(timer_oneshot_divides),
		cmocka_unit_test(timer_periodic),
		cmocka_unit_test(timer_divide_change_keeps_count),
		cmocka_unit_test(tsc_deadline),
		cmocka_unit_test(x2apic_switch_rules),
		cmocka_unit_test(x2apic_msrs),
		cmocka_unit_test(icr_ipis),
		cmocka_unit_test(xapic_mmio_access_rules),
		cmocka_unit_test(extint_acceptance),
		cmocka_unit_test(bad_clocks),
		cmocka_unit_test(hostile_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
