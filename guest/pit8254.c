/*
 * The 8254 programmable interval timer (Intel 8254 datasheet, order no. 231164) of the PC, and
 * port 0x61 as the Intel 82371AB PIIX4 defines it (NMI status and control register).
 *
 * Nothing ticks: each counter is described by when its counting element was loaded (`start`, in
 * PIT ticks since pit_init) and its count N, and every value, OUT level and IRQ0 edge is computed
 * from the clock when asked. A PIT tick is one period of the 1.193182 MHz input, converted from
 * the caller's clock exactly (floor), with 64-bit arithmetic only.
 *
 * Simplifications: in mode 3 a new count waits for the end of the full period (not the half
 * cycle), so OUT keeps its phase; a lobyte/hibyte count takes effect when both bytes are in
 * (mode 0 does not stop at the first byte); OUT changes caused by reprogramming raise no IRQ0.
 */
#include <kestrel/pit8254.h>

#define NO_TICK (~0ull)

#define CTRL_SC(v) ((v) >> 6)
#define CTRL_RW(v) (((v) >> 4) & 3)
#define CTRL_BCD 0x01
#define RW_LATCH 0
#define RW_LSB 1
#define RW_MSB 2
#define SC_READBACK 3
#define READBACK_NO_COUNT 0x20
#define READBACK_NO_STATUS 0x10

#define P61_GATE2 0x01
#define P61_WRITABLE 0x0f /* gate 2, speaker, SERR and IOCHK enables */
#define P61_REFRESH 0x10
#define P61_OUT2 0x20
#define REFRESH_TICKS 18 /* the PC/AT refresh period: 18 input clocks, about 15 us */

static u64 pit_tick_at(const struct pit *pit, u64 now)
{
	u64 hz = pit->clock.hz, d = now > pit->base ? now - pit->base : 0;

	/* floor(d * PIT_HZ / hz) in two parts; d % hz * PIT_HZ < hz * PIT_HZ fits (pit_init). */
	return d / hz * PIT_HZ + d % hz * PIT_HZ / hz;
}

/* The first clock time whose tick is >= `tick`: base + ceil(tick * hz / PIT_HZ). */
static u64 pit_time_of(const struct pit *pit, u64 tick)
{
	u64 hz = pit->clock.hz;

	return pit->base + tick / PIT_HZ * hz + (tick % PIT_HZ * hz + PIT_HZ - 1) / PIT_HZ;
}

static bool ch_bcd(const struct pit_channel *c)
{
	return c->ctrl & CTRL_BCD;
}

static u32 ch_modulus(const struct pit_channel *c)
{
	return ch_bcd(c) ? 10000 : 65536;
}

/* 8254 "Counter": a count of 0 is the maximum, 2^16 in binary and 10^4 in BCD. */
static u32 ch_decode(const struct pit_channel *c, u16 raw)
{
	u32 n = raw;

	if (ch_bcd(c))
		n = (raw >> 12 & 0xf) * 1000 + (raw >> 8 & 0xf) * 100 + (raw >> 4 & 0xf) * 10 +
		    (raw & 0xf);
	n %= ch_modulus(c);
	return n ? n : ch_modulus(c);
}

static u16 ch_encode(const struct pit_channel *c, u32 v)
{
	if (!ch_bcd(c))
		return v;
	return (v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10;
}

/* Modes 0, 2, 3 and 4 stop counting while the gate is low; 1 and 5 are only triggered by it. */
static u64 ch_elapsed(const struct pit_channel *c, u64 t)
{
	if (!c->gate && c->mode != 1 && c->mode != 5)
		return c->paused;
	return t > c->start ? t - c->start : 0;
}

/* The counting element's value (binary) and OUT at tick t, per the 8254 mode waveforms. */
static u32 ch_value(const struct pit_channel *c, u64 t, bool *out)
{
	u32 n = c->count, mod = ch_modulus(c);
	u64 e = ch_elapsed(c, t), p;

	if (!c->armed) {
		/* After a control word OUT is low in mode 0, high in the others. */
		*out = c->mode != 0;
		return n % mod;
	}
	switch (c->mode) {
	case 2: /* rate generator: N .. 1, OUT low while the count is 1 */
		*out = !c->gate || e % n != n - 1;
		return (n - e % n) % mod;
	case 3: /* square wave: high for ceil(N/2), low for floor(N/2), counting down by 2 */
		p = e % n;
		*out = !c->gate || p < (n + 1) / 2;
		if (p >= (n + 1) / 2)
			p -= (n + 1) / 2;
		return ((n & ~1u) - 2 * (u32)p) % mod;
	case 0: /* interrupt on terminal count, hardware one-shot: OUT high from 0 on */
	case 1:
		*out = e >= n;
		return (u32)((n + mod - e % mod) % mod);
	default: /* strobes (4, 5): OUT low for the one clock at 0 */
		*out = e != n;
		return (u32)((n + mod - e % mod) % mod);
	}
}

/* Completed periods of a mode 2/3 counter at tick x. */
static u64 ch_periods(const struct pit_channel *c, u64 x)
{
	return x > c->start ? (x - c->start) / c->count : 0;
}

/*
 * The first tick after `after` at which OUT0 rises (IRQ0 is edge-triggered), or NO_TICK.
 * Counter 0's gate is tied high on the PC. A count of 1 is illegal in modes 2 and 3.
 */
static u64 out0_next_rise(const struct pit_channel *c, u64 after)
{
	u64 edge;

	if (!c->armed)
		return NO_TICK;
	switch (c->mode) {
	case 2:
	case 3:
		if (c->count < 2)
			return NO_TICK;
		return c->start + (ch_periods(c, after) + 1) * c->count;
	case 0:
	case 1:
		edge = c->start + c->count;
		break;
	default:
		edge = c->start + c->count + 1;
		break;
	}
	return edge > after ? edge : NO_TICK;
}

/* How many times OUT0 rises in (a, b]. */
static u64 out0_rises(const struct pit_channel *c, u64 a, u64 b)
{
	u64 edge = out0_next_rise(c, a);

	if (edge > b)
		return 0;
	if (c->mode == 2 || c->mode == 3)
		return ch_periods(c, b) - ch_periods(c, a);
	return 1;
}

/* Counts reach the counting element on the CLK after they are written or triggered. */
static void ch_load(struct pit_channel *c, u64 t)
{
	c->count = c->cr;
	c->start = t + 1;
	c->paused = 0;
	c->armed = true;
	c->null_count = false;
	c->reload_pending = false;
}

/*
 * Bring everything to tick t: count the OUT0 edges since the last call (one IRQ0 pulse for
 * all of them) and apply mode 2/3 reloads that are due. Every mutation happens after this.
 */
static void pit_advance(struct pit *pit, u64 t)
{
	u64 edges = 0;

	for (unsigned i = 0; i < 3; i++) {
		struct pit_channel *c = &pit->ch[i];

		if (!c->reload_pending || c->reload_at > t)
			continue;
		if (i == 0) {
			edges += out0_rises(c, pit->irq_done, c->reload_at);
			pit->irq_done = c->reload_at;
		}
		c->count = c->cr;
		c->start = c->reload_at;
		c->null_count = false;
		c->reload_pending = false;
	}
	edges += out0_rises(&pit->ch[0], pit->irq_done, t);
	pit->irq_done = t;
	if (edges) {
		irq_line_set(&pit->irq0, 0, true);
		irq_line_set(&pit->irq0, 0, false);
		pit->lost_ticks += edges - 1;
	}
}

static u64 pit_sync(struct pit *pit, u64 now)
{
	u64 t = pit_tick_at(pit, now);

	if (t < pit->tick)
		t = pit->tick;
	pit->tick = t;
	pit_advance(pit, t);
	return t;
}

static void ch_control(struct pit_channel *c, u8 v)
{
	c->ctrl = v & 0x3f;
	c->mode = (v >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4; /* 8254 control word: M2 is don't-care for modes 2 and 3 */
	c->armed = false;
	c->cr_written = false;
	c->null_count = true;
	c->reload_pending = false;
	c->write_msb = false;
	c->read_msb = false;
	c->latch_len = 0;
	c->status_latched = false;
}

static void ch_write_count(struct pit_channel *c, u16 raw, u64 t)
{
	c->cr = ch_decode(c, raw);
	c->cr_written = true;
	c->null_count = true;
	switch (c->mode) {
	case 1:
	case 5: /* loaded by the next gate trigger */
		break;
	case 2:
	case 3:
		/* A new count does not disturb the running period: it is loaded at its end. */
		if (c->armed && c->gate && t >= c->start) {
			c->reload_at = c->start + (ch_periods(c, t) + 1) * c->count;
			c->reload_pending = true;
			break;
		}
		ch_load(c, t);
		break;
	default: /* 0, 4: loaded on the next CLK, restarting the count */
		ch_load(c, t);
		break;
	}
}

/* Counter 2's gate (port 0x61 bit 0), per the 8254 "Gate Pin Operations Summary". */
static void ch_set_gate(struct pit_channel *c, bool gate, u64 t)
{
	if (gate == c->gate)
		return;
	if (!gate) {
		c->paused = ch_elapsed(c, t);
		c->gate = false;
		/* Modes 2/3 reload from the count register when the gate rises again. */
		c->reload_pending = false;
		return;
	}
	c->gate = true;
	if (c->mode == 0 || c->mode == 4)
		c->start = t + 1 - c->paused; /* counting resumes on the next CLK */
	else if (c->cr_written)
		ch_load(c, t); /* a rising gate triggers (1, 5) or restarts (2, 3) */
}

static u16 ch_read_value(const struct pit_channel *c, u64 t)
{
	bool out;

	return ch_encode(c, ch_value(c, t, &out));
}

/* Counter latch command: a second latch before the first is read is ignored. */
static void ch_latch(struct pit_channel *c, u64 t)
{
	u16 v;

	if (c->latch_len)
		return;
	v = ch_read_value(c, t);
	c->latch_pos = 0;
	switch (CTRL_RW(c->ctrl)) {
	case RW_LSB:
		c->latch[0] = v & 0xff;
		c->latch_len = 1;
		break;
	case RW_MSB:
		c->latch[0] = v >> 8;
		c->latch_len = 1;
		break;
	default:
		c->latch[0] = v & 0xff;
		c->latch[1] = v >> 8;
		c->latch_len = 2;
		break;
	}
}

/* Read-back status byte: OUT, NULL COUNT, then the programmed RW, mode and BCD bits. */
static void ch_latch_status(struct pit_channel *c, u64 t)
{
	bool out;

	if (c->status_latched)
		return;
	ch_value(c, t, &out);
	c->status = (out ? 0x80 : 0) | (c->null_count || (c->armed && t < c->start) ? 0x40 : 0) |
		    c->ctrl;
	c->status_latched = true;
}

/* A latched status is read first, then a latched count, else the count as it runs. */
static u8 ch_read(struct pit_channel *c, u64 t)
{
	bool msb;
	u16 v;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->latch_len) {
		u8 b = c->latch[c->latch_pos++];

		if (c->latch_pos == c->latch_len)
			c->latch_len = 0;
		return b;
	}
	v = ch_read_value(c, t);
	switch (CTRL_RW(c->ctrl)) {
	case RW_LSB:
		return v & 0xff;
	case RW_MSB:
		return v >> 8;
	default:
		msb = c->read_msb;
		c->read_msb = !msb;
		return msb ? v >> 8 : v & 0xff;
	}
}

static void ch_write(struct pit_channel *c, u8 v, u64 t)
{
	switch (CTRL_RW(c->ctrl)) {
	case RW_LSB:
		ch_write_count(c, v, t);
		break;
	case RW_MSB:
		ch_write_count(c, (u16)(v << 8), t);
		break;
	default:
		if (!c->write_msb) {
			c->write_lsb = v;
			c->write_msb = true;
		} else {
			c->write_msb = false;
			ch_write_count(c, (u16)(c->write_lsb | v << 8), t);
		}
		break;
	}
}

static void pit_control(struct pit *pit, u8 v, u64 t)
{
	if (CTRL_SC(v) == SC_READBACK) {
		for (unsigned i = 0; i < 3; i++) {
			if (!(v & (2u << i)))
				continue;
			if (!(v & READBACK_NO_COUNT))
				ch_latch(&pit->ch[i], t);
			if (!(v & READBACK_NO_STATUS))
				ch_latch_status(&pit->ch[i], t);
		}
		return;
	}
	if (CTRL_RW(v) == RW_LATCH)
		ch_latch(&pit->ch[CTRL_SC(v)], t);
	else
		ch_control(&pit->ch[CTRL_SC(v)], v);
}

static u64 pit_now(struct pit *pit)
{
	return pit_sync(pit, pit->clock.now(pit->clock.ctx));
}

/* Port 0x43 reads are a no-operation (the bus floats: 0xff). */
static u32 pit_io_read(void *dev, u16 port, u32 size)
{
	struct pit *pit = dev;
	u64 t = pit_now(pit);
	u32 v = 0;

	for (u32 i = 0; i < size; i++) {
		unsigned reg = (port + i) & 3;
		u8 b = reg == 3 ? 0xff : ch_read(&pit->ch[reg], t);

		v |= (u32)b << (8 * i);
	}
	return v;
}

static void pit_io_write(void *dev, u16 port, u32 size, u32 value)
{
	struct pit *pit = dev;
	u64 t = pit_now(pit);

	for (u32 i = 0; i < size; i++) {
		unsigned reg = (port + i) & 3;
		u8 b = value >> (8 * i);

		if (reg == 3)
			pit_control(pit, b, t);
		else
			ch_write(&pit->ch[reg], b, t);
	}
}

/* PIIX4 port 61h: bit 4 toggles with DRAM refresh, bit 5 is counter 2's OUT. */
static u32 port61_io_read(void *dev, u16 port, u32 size)
{
	struct pit *pit = dev;
	u64 t = pit_now(pit);
	bool out2;

	(void)port;
	(void)size;
	ch_value(&pit->ch[2], t, &out2);
	return pit->port61 | (out2 ? P61_OUT2 : 0) | (t / REFRESH_TICKS % 2 ? P61_REFRESH : 0);
}

static void port61_io_write(void *dev, u16 port, u32 size, u32 value)
{
	struct pit *pit = dev;
	u64 t = pit_now(pit);

	(void)port;
	(void)size;
	pit->port61 = value & P61_WRITABLE;
	ch_set_gate(&pit->ch[2], value & P61_GATE2, t);
}

static const struct vdev_ops pit_ops = { .io_read = pit_io_read, .io_write = pit_io_write,
					 .affects_events = true };
static const struct vdev_ops port61_ops = { .io_read = port61_io_read,
					    .io_write = port61_io_write,
					    .affects_events = true };

int pit_init(struct pit *pit, struct vclock clock, struct irq_line irq0)
{
	if (!clock.now || !clock.hz || clock.hz > ~0ull / PIT_HZ - 1)
		return -1;
	*pit = (struct pit){ .clock = clock, .irq0 = irq0 };
	pit->base = clock.now(clock.ctx);
	for (unsigned i = 0; i < 3; i++) {
		pit->ch[i].gate = i != 2;
		pit->ch[i].count = 65536;
		pit->ch[i].cr = 65536;
		ch_control(&pit->ch[i], 0x30); /* lobyte/hibyte, mode 0, binary */
	}
	return 0;
}

int pit_register(struct pit *pit, struct vdev_bus *bus)
{
	if (vdev_register_ports(bus, 0x40, 0x43, &pit_ops, pit, "pit") ||
	    vdev_register_ports(bus, 0x61, 0x61, &port61_ops, pit, "port61"))
		return -1;
	return 0;
}

void pit_update(struct pit *pit, u64 now)
{
	pit_sync(pit, now);
}

u64 pit_next_event(const struct pit *pit)
{
	u64 edge = out0_next_rise(&pit->ch[0], pit->irq_done);

	return edge == NO_TICK ? ~0ull : pit_time_of(pit, edge);
}
