/*
 * The local APIC (Intel SDM Vol. 3A chapter 11, "Advanced Programmable Interrupt Controller"),
 * one per vCPU, in xAPIC and x2APIC mode.
 *
 * Kestrel has one vCPU per guest: IPIs reach this APIC or nobody. INIT, SIPI, SMI and ExtINT
 * messages and IPIs for other APIC IDs are counted in ipis_ignored. Delivery status always reads
 * idle (messages are delivered at once), remote read is not supported (RRD reads 0), EOI-broadcast
 * suppression is not offered (version bit 24 clear) and the xAPIC ID is read-only.
 *
 * Nothing ticks: the one-shot/periodic counter is described by the bus tick at which it held a
 * count, and its value and expiry are computed from the clock when asked. A bus tick is one
 * period of LAPIC_BUS_HZ, converted from the caller's clock exactly (floor), 64-bit only.
 */
#include <kestrel/lapic.h>

#define NEVER (~0ull)

#define BASE_BSP (1ull << 8)
#define BASE_EXTD (1ull << 10)
#define BASE_EN (1ull << 11)
#define MODE_XAPIC BASE_EN
#define MODE_X2APIC (BASE_EN | BASE_EXTD)

#define REG_ID 0x20
#define REG_VERSION 0x30
#define REG_TPR 0x80
#define REG_APR 0x90
#define REG_PPR 0xa0
#define REG_EOI 0xb0
#define REG_RRD 0xc0
#define REG_LDR 0xd0
#define REG_DFR 0xe0
#define REG_SVR 0xf0
#define REG_ISR 0x100
#define REG_TMR 0x180
#define REG_IRR 0x200
#define REG_ESR 0x280
#define REG_LVT_CMCI 0x2f0
#define REG_ICR 0x300
#define REG_ICR_HI 0x310
#define REG_LVT_TIMER 0x320
#define REG_LVT_ERROR 0x370
#define REG_TMICT 0x380
#define REG_TMCCT 0x390
#define REG_TDCR 0x3e0
#define REG_SELF_IPI 0x3f0

/* SDM 11.4.8: version 0x14 (integrated APIC), max LVT entry 6 in bits 23:16, bit 24 clear. */
#define VERSION 0x00060014u

#define LVT_CMCI 0
#define LVT_TIMER 1
#define LVT_THERMAL 2
#define LVT_PERF 3
#define LVT_LINT0 4
#define LVT_LINT1 5
#define LVT_ERROR 6

/* SDM 11.5.1, Figure 11-8. */
#define LVT_VECTOR 0xffu
#define LVT_DM_SHIFT 8
#define LVT_DM 0x700u
#define LVT_STATUS (1u << 12)
#define LVT_POLARITY (1u << 13)
#define LVT_REMOTE_IRR (1u << 14)
#define LVT_LEVEL (1u << 15)
#define LVT_MASKED (1u << 16)
#define LVT_TIMER_MODE_SHIFT 17
#define LVT_TIMER_MODE (3u << LVT_TIMER_MODE_SHIFT)
#define DM_FIXED 0
#define DM_LOWEST 1
#define DM_NMI 4
#define DM_EXTINT 7

#define TIMER_ONESHOT 0
#define TIMER_PERIODIC 1
#define TIMER_DEADLINE 2 /* 3 is reserved: nothing counts */

#define SVR_WRITABLE 0x3ffu /* vector, APIC enable, focus checking */
#define SVR_ENABLE (1u << 8)
#define TDCR_WRITABLE 0xbu

/* SDM 11.6.1, Figure 11-12: the ICR low dword. */
#define ICR_WRITABLE 0xccfffu /* vector, delivery and destination mode, level, trigger, shorthand */
#define ICR_LOGICAL (1u << 11)
#define ICR_SHORTHAND_SHIFT 18
#define SH_NONE 0
#define SH_SELF 1
#define SH_ALL 2
#define SH_OTHERS 3

/* SDM 11.5.3, Figure 11-9. */
#define ESR_SEND_ILLEGAL (1u << 5)
#define ESR_RECV_ILLEGAL (1u << 6)

/* Writable bits of each LVT (SDM Figure 11-8) and the read-only ones an x2APIC write may carry. */
static const u32 lvt_writable[LAPIC_NUM_LVT] = {
	[LVT_CMCI] = LVT_VECTOR | LVT_DM | LVT_MASKED,
	[LVT_TIMER] = LVT_VECTOR | LVT_MASKED | LVT_TIMER_MODE,
	[LVT_THERMAL] = LVT_VECTOR | LVT_DM | LVT_MASKED,
	[LVT_PERF] = LVT_VECTOR | LVT_DM | LVT_MASKED,
	[LVT_LINT0] = LVT_VECTOR | LVT_DM | LVT_POLARITY | LVT_LEVEL | LVT_MASKED,
	[LVT_LINT1] = LVT_VECTOR | LVT_DM | LVT_POLARITY | LVT_LEVEL | LVT_MASKED,
	[LVT_ERROR] = LVT_VECTOR | LVT_MASKED,
};
static const u32 lvt_readonly[LAPIC_NUM_LVT] = {
	[LVT_CMCI] = LVT_STATUS,	[LVT_TIMER] = LVT_STATUS,
	[LVT_THERMAL] = LVT_STATUS,	[LVT_PERF] = LVT_STATUS,
	[LVT_LINT0] = LVT_STATUS | LVT_REMOTE_IRR, [LVT_LINT1] = LVT_STATUS | LVT_REMOTE_IRR,
	[LVT_ERROR] = LVT_STATUS,
};

static bool hw_enabled(const struct lapic *l)
{
	return l->mode & BASE_EN;
}

static bool x2apic(const struct lapic *l)
{
	return l->mode == MODE_X2APIC;
}

static bool sw_enabled(const struct lapic *l)
{
	return l->svr & SVR_ENABLE;
}

/* The LVT behind an offset: CMCI at 0x2f0, the other six at 0x320-0x370; -1 for none. */
static int lvt_index(u32 off)
{
	if (off == REG_LVT_CMCI)
		return LVT_CMCI;
	if (off >= REG_LVT_TIMER && off <= REG_LVT_ERROR)
		return (int)((off - REG_LVT_TIMER) >> 4) + LVT_TIMER;
	return -1;
}

/* Highest vector set in a 256-bit IRR/ISR/TMR image, or -1. */
static int highest(const u32 *bits)
{
	for (int i = 7; i >= 0; i--)
		if (bits[i])
			return i * 32 + 31 - __builtin_clz(bits[i]);
	return -1;
}

static bool test_vec(const u32 *bits, u8 v)
{
	return bits[v >> 5] & (1u << (v & 31));
}

static void set_vec(u32 *bits, u8 v, bool on)
{
	if (on)
		bits[v >> 5] |= 1u << (v & 31);
	else
		bits[v >> 5] &= ~(1u << (v & 31));
}

/* SDM 11.8.3.1: PPR is TPR, or the class of the highest in-service vector if that is higher. */
static u32 ppr(const struct lapic *l)
{
	int isrv = highest(l->isr);
	u32 isr_class = isrv < 0 ? 0 : (u32)isrv & 0xf0;

	return (l->tpr & 0xf0) >= isr_class ? l->tpr & 0xff : isr_class;
}

/* SDM 11.6.2.4, taken literally as Bochs does (the "AND" of the TPR and ISRV classes). */
static u32 apr(const struct lapic *l)
{
	int isrv = highest(l->isr), irrv = highest(l->irr);
	u32 tpr = (l->tpr >> 4) & 0xf, isr_c = isrv < 0 ? 0 : (u32)isrv >> 4;
	u32 irr_c = irrv < 0 ? 0 : (u32)irrv >> 4;

	if (tpr >= irr_c && tpr > isr_c)
		return l->tpr & 0xff;
	return MAX(tpr & isr_c, irr_c) << 4;
}

/* SDM 11.12.10.2: the logical x2APIC ID, cluster in bits 31:16 and one of 16 bits below. */
static u32 x2apic_ldr(const struct lapic *l)
{
	return (l->id >> 4) << 16 | 1u << (l->id & 0xf);
}

bool lapic_match_dest(const struct lapic *l, u32 dest, bool logical)
{
	u32 ld;

	if (!hw_enabled(l))
		return false;
	if (x2apic(l)) {
		if (dest == 0xffffffffu)
			return true;
		if (!logical)
			return dest == l->id;
		ld = x2apic_ldr(l);
		return dest >> 16 == ld >> 16 && (dest & ld & 0xffff);
	}
	dest &= 0xff;
	if (dest == 0xff)
		return true;
	if (!logical)
		return dest == (l->id & 0xff);
	ld = l->ldr >> 24;
	switch (l->dfr >> 28) {
	case 0xf: /* flat model: a bit per APIC */
		return dest & ld;
	case 0x0: /* cluster model: cluster in bits 7:4, a bit per APIC below */
		return dest >> 4 == ld >> 4 && (dest & ld & 0xf);
	default:
		return false;
	}
}

static void raise_error(struct lapic *l, u32 bit);

bool lapic_accept_irq(struct lapic *l, u8 vector, bool level)
{
	/* SDM 11.4.7.2: a software-disabled APIC keeps IRR/ISR but takes no new fixed ones. */
	if (!hw_enabled(l) || !sw_enabled(l)) {
		l->dropped++;
		return false;
	}
	if (vector < 16) {
		l->dropped++;
		raise_error(l, ESR_RECV_ILLEGAL);
		return false;
	}
	set_vec(l->irr, vector, true);
	set_vec(l->tmr, vector, level);
	return true;
}

/*
 * SDM 11.5.3: log the error and signal it through the error LVT. An illegal error vector only
 * logs "receive illegal vector" again, so the error interrupt cannot recurse.
 */
static void raise_error(struct lapic *l, u32 bit)
{
	u32 lvt = l->lvt[LVT_ERROR];

	l->esr_pending |= bit;
	if (lvt & LVT_MASKED)
		return;
	if ((lvt & LVT_VECTOR) < 16)
		l->esr_pending |= ESR_RECV_ILLEGAL;
	else
		lapic_accept_irq(l, lvt & LVT_VECTOR, false);
}

int lapic_pending_vector(const struct lapic *l)
{
	int irrv = highest(l->irr);

	if (!hw_enabled(l) || irrv < 0 || ((u32)irrv & 0xf0) <= (ppr(l) & 0xf0))
		return -1;
	return irrv;
}

void lapic_acknowledge(struct lapic *l, u8 vector)
{
	if (!test_vec(l->irr, vector))
		return;
	set_vec(l->irr, vector, false);
	set_vec(l->isr, vector, true);
}

/*
 * SDM 11.8.5: retire the highest in-service vector. A level-triggered one also ends at the I/O
 * APIC (Remote IRR), which may deliver again at once: the state is final before the hook runs.
 */
static void eoi(struct lapic *l)
{
	int v = highest(l->isr);

	if (v < 0)
		return;
	set_vec(l->isr, (u8)v, false);
	if (test_vec(l->tmr, (u8)v) && l->hooks.eoi)
		l->hooks.eoi(l->hooks.ctx, (u8)v);
}

/* --- timer (SDM 11.5.4) ------------------------------------------------------------------ */

static u64 bus_at(const struct lapic *l, u64 t)
{
	u64 hz = l->clock.hz, d = t > l->base ? t - l->base : 0;

	/* floor(d * LAPIC_BUS_HZ / hz); d % hz * LAPIC_BUS_HZ fits (lapic_init). */
	return d / hz * LAPIC_BUS_HZ + d % hz * LAPIC_BUS_HZ / hz;
}

/* The first clock time whose bus tick is >= `tick`: base + ceil(tick * hz / LAPIC_BUS_HZ). */
static u64 time_of(const struct lapic *l, u64 tick)
{
	u64 hz = l->clock.hz;

	return l->base + tick / LAPIC_BUS_HZ * hz +
	       (tick % LAPIC_BUS_HZ * hz + LAPIC_BUS_HZ - 1) / LAPIC_BUS_HZ;
}

static unsigned timer_mode(const struct lapic *l)
{
	return (l->lvt[LVT_TIMER] & LVT_TIMER_MODE) >> LVT_TIMER_MODE_SHIFT;
}

/* SDM Figure 11-10: bits 3, 1:0 select 2, 4, ... 128, and 111b divides by 1. */
static u32 timer_divisor(const struct lapic *l)
{
	u32 d = (l->tdcr & 3) | (l->tdcr >> 1 & 4);

	return 1u << ((d + 1) & 7);
}

static bool timer_counting(const struct lapic *l)
{
	return timer_mode(l) <= TIMER_PERIODIC && l->timer_count;
}

static u64 timer_expiry(const struct lapic *l)
{
	return l->timer_load + (u64)l->timer_count * timer_divisor(l);
}

/* The timer's interrupt: fixed, edge, unless the LVT is masked. Returns whether it was sent. */
static bool timer_fire(struct lapic *l)
{
	u32 lvt = l->lvt[LVT_TIMER];

	if (lvt & LVT_MASKED)
		return false;
	lapic_accept_irq(l, lvt & LVT_VECTOR, false);
	return true;
}

/* Fire what is due at l->now. Every mutation of the timer state happens after this. */
static void timer_sync(struct lapic *l)
{
	u64 bus, exp, period, n;

	if (timer_mode(l) == TIMER_DEADLINE) {
		/* SDM 11.5.4.1: the timer disarms itself (the MSR reads 0) when it fires. */
		if (l->deadline && l->now >= l->deadline) {
			l->deadline = 0;
			timer_fire(l);
		}
		return;
	}
	if (!timer_counting(l))
		return;
	bus = bus_at(l, l->now);
	exp = timer_expiry(l);
	if (bus < exp)
		return;
	if (timer_mode(l) == TIMER_PERIODIC) {
		/* Reload from the initial count (non-zero while counting); missed periods merge. */
		period = (u64)l->tmict * timer_divisor(l);
		n = (bus - exp) / period;
		l->timer_load = exp + n * period;
		l->timer_count = l->tmict;
		if (timer_fire(l))
			l->timer_lost += n;
	} else {
		l->timer_count = 0;
		timer_fire(l);
	}
}

void lapic_update(struct lapic *l, u64 now)
{
	if (now > l->now)
		l->now = now;
	timer_sync(l);
}

/* Bring the timer to the clock's present; returns its bus tick. */
static u64 lapic_sync(struct lapic *l)
{
	lapic_update(l, l->clock.now(l->clock.ctx));
	return bus_at(l, l->now);
}

u64 lapic_next_event(const struct lapic *l)
{
	if (l->lvt[LVT_TIMER] & LVT_MASKED)
		return NEVER;
	if (timer_mode(l) == TIMER_DEADLINE)
		return l->deadline ? l->deadline : NEVER;
	return timer_counting(l) ? time_of(l, timer_expiry(l)) : NEVER;
}

/* The current-count register: reads 0 when stopped and in TSC-deadline mode. */
static u32 timer_current(struct lapic *l)
{
	u64 bus = lapic_sync(l);

	if (!timer_counting(l))
		return 0;
	/* After the sync the counter has not expired: the result is 1..timer_count. */
	return l->timer_count - (u32)((bus - l->timer_load) / timer_divisor(l));
}

/* SDM 11.5.4: a write of the initial count (re)starts the counter; 0 stops it. */
static void write_tmict(struct lapic *l, u32 v)
{
	u64 bus = lapic_sync(l);

	if (timer_mode(l) > TIMER_PERIODIC)
		return; /* SDM 11.5.4.1: ignored in TSC-deadline mode */
	l->tmict = v;
	l->timer_count = v;
	l->timer_load = bus;
}

/* A new divider applies from now on: the current count stays, its partial tick is dropped. */
static void write_tdcr(struct lapic *l, u32 v)
{
	u64 bus = lapic_sync(l);

	v &= TDCR_WRITABLE;
	if (v == l->tdcr)
		return;
	if (timer_counting(l)) {
		l->timer_count -= (u32)((bus - l->timer_load) / timer_divisor(l));
		l->timer_load = bus;
	}
	l->tdcr = v;
}

/* One-shot and periodic share the counter; TSC-deadline and the reserved mode do not. */
static unsigned timer_group(u32 lvt)
{
	unsigned mode = (lvt & LVT_TIMER_MODE) >> LVT_TIMER_MODE_SHIFT;

	return mode == TIMER_PERIODIC ? TIMER_ONESHOT : mode;
}

static void write_lvt(struct lapic *l, int i, u32 v)
{
	v &= lvt_writable[i];
	/* SDM 11.4.7.2: while software-disabled the mask bits cannot be cleared. */
	if (!sw_enabled(l))
		v |= LVT_MASKED;
	if (i == LVT_TIMER) {
		lapic_sync(l);
		/* SDM 11.5.4.1: moving into or out of TSC-deadline mode disarms the timer. */
		if (timer_group(v) != timer_group(l->lvt[i])) {
			l->tmict = 0;
			l->timer_count = 0;
			l->deadline = 0;
		}
	}
	l->lvt[i] = v;
}

static void write_svr(struct lapic *l, u32 v)
{
	lapic_sync(l);
	l->svr = v & SVR_WRITABLE;
	if (!sw_enabled(l))
		for (int i = 0; i < LAPIC_NUM_LVT; i++)
			l->lvt[i] |= LVT_MASKED;
}

/* --- IPIs (SDM 11.6.1, 11.12.9, 11.12.11) -------------------------------------------------- */

static void self_ipi(struct lapic *l, u8 vector)
{
	if (vector < 16)
		raise_error(l, ESR_SEND_ILLEGAL);
	else
		lapic_accept_irq(l, vector, false);
}

/*
 * Send the ICR's message. Fixed IPIs are edge-triggered: the ICR trigger bit only qualifies INIT
 * level de-assert (SDM 11.6.1).
 */
static void send_ipi(struct lapic *l)
{
	u32 lo = l->icr_lo, dest = x2apic(l) ? l->icr_hi : l->icr_hi >> 24;
	unsigned mode = (lo & LVT_DM) >> LVT_DM_SHIFT;
	bool self;

	switch ((lo >> ICR_SHORTHAND_SHIFT) & 3) {
	case SH_NONE:
		self = lapic_match_dest(l, dest, lo & ICR_LOGICAL);
		break;
	case SH_SELF:
	case SH_ALL:
		self = true;
		break;
	default: /* all excluding self: there is nobody else */
		self = false;
		break;
	}
	if (mode == DM_FIXED || mode == DM_LOWEST) {
		/* An illegal vector is a send error whoever the target. */
		if (self || (lo & LVT_VECTOR) < 16)
			self_ipi(l, lo & LVT_VECTOR);
		else
			l->ipis_ignored++;
	} else if (mode == DM_NMI && self) {
		if (l->hooks.nmi)
			l->hooks.nmi(l->hooks.ctx);
	} else {
		l->ipis_ignored++;
	}
}

/* --- register file ----------------------------------------------------------------------- */

static int reg_read(struct lapic *l, u32 off, u64 *value)
{
	bool x2 = x2apic(l);
	int lvt = lvt_index(off);

	if (lvt >= 0) {
		*value = l->lvt[lvt];
		return 0;
	}
	if (off >= REG_ISR && off < REG_ESR && !(off & 0xf)) {
		const u32 *bits = off < REG_TMR ? l->isr : off < REG_IRR ? l->tmr : l->irr;

		*value = bits[(off >> 4) & 7];
		return 0;
	}
	switch (off) {
	case REG_ID:
		*value = x2 ? l->id : (l->id & 0xff) << 24;
		return 0;
	case REG_VERSION:
		*value = VERSION;
		return 0;
	case REG_TPR:
		*value = l->tpr;
		return 0;
	case REG_PPR:
		*value = ppr(l);
		return 0;
	case REG_LDR:
		*value = x2 ? x2apic_ldr(l) : l->ldr;
		return 0;
	case REG_SVR:
		*value = l->svr;
		return 0;
	case REG_ESR:
		*value = l->esr;
		return 0;
	case REG_ICR:
		*value = x2 ? (u64)l->icr_hi << 32 | l->icr_lo : l->icr_lo;
		return 0;
	case REG_TMICT:
		*value = l->tmict;
		return 0;
	case REG_TMCCT:
		*value = timer_current(l);
		return 0;
	case REG_TDCR:
		*value = l->tdcr;
		return 0;
	default:
		break;
	}
	/* SDM 11.12.1.2: APR, RRD, DFR and ICR high do not exist in x2APIC mode. */
	if (x2)
		return -1;
	switch (off) {
	case REG_APR:
		*value = apr(l);
		return 0;
	case REG_RRD:
		*value = 0;
		return 0;
	case REG_DFR:
		*value = l->dfr;
		return 0;
	case REG_ICR_HI:
		*value = l->icr_hi;
		return 0;
	default:
		return -1; /* EOI and self-IPI are write-only, the rest reserved */
	}
}

/*
 * In x2APIC mode a write with reserved bits set faults (SDM 11.12.1.3); in xAPIC mode they are
 * dropped. Returns the value to store, or -1 in `*bad`.
 */
static u32 masked_write(bool x2, u64 v, u64 allowed, int *bad)
{
	if (x2 && (v & ~allowed))
		*bad = -1;
	return (u32)(v & allowed);
}

static int reg_write(struct lapic *l, u32 off, u64 v)
{
	bool x2 = x2apic(l);
	int lvt = lvt_index(off), bad = 0;
	u32 w;

	if (lvt >= 0) {
		w = masked_write(x2, v, lvt_writable[lvt] | lvt_readonly[lvt], &bad);
		if (!bad)
			write_lvt(l, lvt, w);
		return bad;
	}
	switch (off) {
	case REG_TPR:
		w = masked_write(x2, v, 0xff, &bad);
		if (!bad)
			l->tpr = w;
		return bad;
	case REG_EOI:
		/* SDM 11.12.1.3: in x2APIC mode only 0 may be written. */
		if (x2 && v)
			return -1;
		eoi(l);
		return 0;
	case REG_SVR:
		w = masked_write(x2, v, SVR_WRITABLE, &bad);
		if (!bad)
			write_svr(l, w);
		return bad;
	case REG_ESR:
		/* SDM 11.5.3: a write latches the errors logged since the last one. */
		if (x2 && v)
			return -1;
		l->esr = l->esr_pending;
		l->esr_pending = 0;
		return 0;
	case REG_ICR:
		/* The delivery status bit is read-only; x2APIC's high dword is the destination. */
		w = masked_write(x2, v, x2 ? ~0ull << 32 | ICR_WRITABLE | LVT_STATUS : ~0ull, &bad);
		if (bad)
			return bad;
		l->icr_lo = w & ICR_WRITABLE;
		if (x2)
			l->icr_hi = v >> 32;
		send_ipi(l);
		return 0;
	case REG_TMICT:
		w = masked_write(x2, v, 0xffffffffu, &bad);
		if (!bad)
			write_tmict(l, w);
		return bad;
	case REG_TDCR:
		w = masked_write(x2, v, TDCR_WRITABLE, &bad);
		if (!bad)
			write_tdcr(l, w);
		return bad;
	default:
		break;
	}
	if (x2) {
		if (off != REG_SELF_IPI || (v & ~0xffull))
			return -1; /* read-only, absent or reserved */
		self_ipi(l, v & 0xff);
		return 0;
	}
	switch (off) {
	case REG_LDR:
		l->ldr = v & 0xff000000u;
		return 0;
	case REG_DFR:
		/* Only the model (bits 31:28) is writable; the rest reads as ones. */
		l->dfr = (v & 0xf0000000u) | 0x0fffffffu;
		return 0;
	case REG_ICR_HI:
		l->icr_hi = v & 0xff000000u;
		return 0;
	default:
		return -1; /* read-only (ID too) or reserved */
	}
}

/* --- MMIO, MSRs, IA32_APIC_BASE ---------------------------------------------------------- */

static u64 lapic_mmio_read(void *dev, u64 offset, u32 size)
{
	struct lapic *l = dev;
	u32 byte = offset & 0xf;
	u64 v;

	if (l->mode != MODE_XAPIC || size > 4 || byte + size > 4 || offset >= LAPIC_MMIO_SIZE ||
	    reg_read(l, (u32)offset & ~0xfu, &v))
		return 0;
	v >>= 8 * byte;
	return size == 4 ? v & 0xffffffffu : v & ((1u << (8 * size)) - 1);
}

static void lapic_mmio_write(void *dev, u64 offset, u32 size, u64 value)
{
	struct lapic *l = dev;

	if (l->mode != MODE_XAPIC || size != 4 || (offset & 0xf) || offset >= LAPIC_MMIO_SIZE)
		return;
	reg_write(l, (u32)offset, value & 0xffffffffu);
}

const struct vdev_mmio_ops lapic_mmio_ops = { .read = lapic_mmio_read, .write = lapic_mmio_write };

int lapic_register(struct lapic *l, struct vdev_bus *bus)
{
	return vdev_register_mmio(bus, LAPIC_BASE, LAPIC_MMIO_SIZE, &lapic_mmio_ops, l, "lapic");
}

int lapic_msr_read(struct lapic *l, u32 msr, u64 *value)
{
	if (msr == MSR_IA32_TSC_DEADLINE) {
		lapic_sync(l);
		*value = timer_mode(l) == TIMER_DEADLINE ? l->deadline : 0;
		return 0;
	}
	if (msr < LAPIC_MSR_FIRST || msr > LAPIC_MSR_LAST || !x2apic(l))
		return -1;
	return reg_read(l, (msr - LAPIC_MSR_FIRST) << 4, value);
}

int lapic_msr_write(struct lapic *l, u32 msr, u64 value)
{
	if (msr == MSR_IA32_TSC_DEADLINE) {
		lapic_sync(l);
		/* SDM 11.5.4.1: only in TSC-deadline mode; 0 disarms, a past deadline fires now. */
		if (timer_mode(l) == TIMER_DEADLINE) {
			l->deadline = value;
			timer_sync(l);
		}
		return 0;
	}
	if (msr < LAPIC_MSR_FIRST || msr > LAPIC_MSR_LAST || !x2apic(l))
		return -1;
	return reg_write(l, (msr - LAPIC_MSR_FIRST) << 4, value);
}

/* SDM 11.4.7.1; the ID, the clock and the statistics survive. */
static void reset_registers(struct lapic *l)
{
	l->tpr = 0;
	l->ldr = 0;
	l->dfr = 0xffffffffu;
	l->svr = 0xff;
	l->esr = 0;
	l->esr_pending = 0;
	l->icr_lo = 0;
	l->icr_hi = 0;
	for (int i = 0; i < LAPIC_NUM_LVT; i++)
		l->lvt[i] = LVT_MASKED;
	for (int i = 0; i < 8; i++) {
		l->irr[i] = 0;
		l->isr[i] = 0;
		l->tmr[i] = 0;
	}
	l->tmict = 0;
	l->tdcr = 0;
	l->timer_count = 0;
	l->deadline = 0;
}

int lapic_set_base(struct lapic *l, u64 value)
{
	u64 mode = value & MODE_X2APIC;

	/* The BSP bit is ignored; anything else beyond EN/EXTD must be the fixed base. */
	if ((value & ~(BASE_BSP | MODE_X2APIC)) != LAPIC_BASE || mode == BASE_EXTD)
		return -1;
	if (mode == l->mode)
		return 0;
	/* SDM 11.12.5: x2APIC is left only through the disabled state, and entered from xAPIC. */
	if ((l->mode == MODE_X2APIC && mode == MODE_XAPIC) || (!l->mode && mode == MODE_X2APIC))
		return -1;
	/* Register state does not survive the disabled state (SDM 11.4.3, 11.12.5). */
	if (!mode)
		reset_registers(l);
	l->mode = mode;
	return 0;
}

u64 lapic_base(const struct lapic *l)
{
	return LAPIC_BASE | l->mode | (l->id == 0 ? BASE_BSP : 0);
}

bool lapic_accepts_extint(const struct lapic *l)
{
	u32 lint0 = l->lvt[LVT_LINT0];

	if (!hw_enabled(l))
		return true;
	return !(lint0 & LVT_MASKED) && (lint0 & LVT_DM) >> LVT_DM_SHIFT == DM_EXTINT;
}

int lapic_init(struct lapic *l, u32 id, struct vclock clock, struct lapic_hooks hooks)
{
	if (!clock.now || !clock.hz || clock.hz > ~0ull / LAPIC_BUS_HZ)
		return -1;
	*l = (struct lapic){ .id = id, .mode = MODE_XAPIC, .clock = clock, .hooks = hooks };
	l->base = clock.now(clock.ctx);
	l->now = l->base;
	reset_registers(l);
	return 0;
}

void lapic_virtual_wire(struct lapic *l)
{
	l->svr |= SVR_ENABLE;
	/* SDM 11.5.1: ExtINT is always level-sensitive; LINT1 carries NMI. */
	l->lvt[LVT_LINT0] = DM_EXTINT << LVT_DM_SHIFT | LVT_LEVEL;
	l->lvt[LVT_LINT1] = DM_NMI << LVT_DM_SHIFT;
}
