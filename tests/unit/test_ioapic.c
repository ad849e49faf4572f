/* The I/O APIC through its MMIO window as Linux programs it, alone and wired to a local APIC. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/ioapic.h>
#include <kestrel/lapic.h>

#include "vdev_fuzz.h"

#define IOREGSEL 0x00
#define IOWIN 0x10
#define IOEOI 0x40

#define MASKED (1u << 16)
#define LEVEL (1u << 15)
#define REMOTE_IRR (1u << 14)
#define ACTIVE_LOW (1u << 13)
#define LOGICAL (1u << 11)

struct msg {
	u8 vector, mode;
	u32 dest;
	bool logical, level;
};

struct env {
	struct vdev_bus bus;
	struct ioapic io;
	struct lapic lapic;	/* the "wired" tests only */
	struct msg log[64];
	unsigned n;
	bool refuse;		/* the recording deliver() refuses messages */
	u64 now;
};

static bool record(void *ctx, u8 vector, u32 dest, bool logical, u8 mode, bool level)
{
	struct env *e = ctx;

	if (e->refuse)
		return false;
	assert_true(e->n < 64);
	e->log[e->n++] = (struct msg){ vector, mode, dest, logical, level };
	return true;
}

static void setup(struct env *e, u8 id)
{
	memset(e, 0, sizeof(*e));
	vdev_bus_init(&e->bus);
	ioapic_init(&e->io, id, record, e);
	assert_int_equal(ioapic_register(&e->io, &e->bus), 0);
}

static u64 rd_size(struct env *e, u64 off, u32 size)
{
	const struct vdev_mmio_range *r = vdev_mmio_find(&e->bus, IOAPIC_BASE + off, size);

	assert_non_null(r);
	return r->ops->read(r->dev, IOAPIC_BASE + off - r->base, size);
}

static void wr_size(struct env *e, u64 off, u32 size, u64 v)
{
	const struct vdev_mmio_range *r = vdev_mmio_find(&e->bus, IOAPIC_BASE + off, size);

	assert_non_null(r);
	r->ops->write(r->dev, IOAPIC_BASE + off - r->base, size, v);
}

/* Linux's io_apic_read()/io_apic_write(): select, then the window. */
static u32 reg_rd(struct env *e, u8 reg)
{
	wr_size(e, IOREGSEL, 4, reg);
	return (u32)rd_size(e, IOWIN, 4);
}

static void reg_wr(struct env *e, u8 reg, u32 v)
{
	wr_size(e, IOREGSEL, 4, reg);
	wr_size(e, IOWIN, 4, v);
}

/* Linux's ioapic_write_entry(): the high dword first, so the entry never fires half-written. */
static void write_entry(struct env *e, unsigned pin, u32 lo, u8 dest)
{
	reg_wr(e, 0x11 + 2 * pin, (u32)dest << 24);
	reg_wr(e, 0x10 + 2 * pin, lo);
}

static u32 entry_lo(struct env *e, unsigned pin)
{
	return reg_rd(e, 0x10 + 2 * pin);
}

static void pulse(struct env *e, unsigned pin)
{
	ioapic_set_irq(&e->io, pin, true);
	ioapic_set_irq(&e->io, pin, false);
}

static void reset_state(void **state)
{
	struct env e;

	setup(&e, 2);
	assert_int_equal(reg_rd(&e, 0), 2u << 24);
	assert_int_equal(reg_rd(&e, 1), 0x00170020);
	assert_int_equal(reg_rd(&e, 2), 2u << 24);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		assert_int_equal(entry_lo(&e, pin), MASKED);
		assert_int_equal(reg_rd(&e, 0x11 + 2 * pin), 0);
	}
	/* Beyond the table and the three registers: 0. */
	assert_int_equal(reg_rd(&e, 3), 0);
	assert_int_equal(reg_rd(&e, 0x0f), 0);
	assert_int_equal(reg_rd(&e, 0x40), 0);
	assert_int_equal(reg_rd(&e, 0xff), 0);
	/* IOREGSEL holds 8 bits. */
	wr_size(&e, IOREGSEL, 4, 0x12345601);
	assert_int_equal(rd_size(&e, IOREGSEL, 4), 0x01);
	/* Only the ID's bits 27:24 are writable; version and arbitration are read-only. */
	reg_wr(&e, 0, 0xffffffff);
	assert_int_equal(reg_rd(&e, 0), 0x0f000000);
	assert_int_equal(reg_rd(&e, 2), 0x0f000000);
	reg_wr(&e, 1, 0);
	assert_int_equal(reg_rd(&e, 1), 0x00170020);
	/* An ID beyond 4 bits is cut at init. */
	ioapic_init(&e.io, 0x35, record, &e);
	assert_int_equal(reg_rd(&e, 0), 5u << 24);
}

static void access_rules(void **state)
{
	struct env e;

	setup(&e, 0);
	/* The whole page is claimed; all but the three dword registers read 0. */
	assert_non_null(vdev_mmio_find(&e.bus, IOAPIC_BASE + 0xffc, 4));
	assert_null(vdev_mmio_find(&e.bus, IOAPIC_BASE + 0x1000, 4));
	wr_size(&e, IOREGSEL, 4, 1);
	assert_int_equal(rd_size(&e, IOWIN, 2), 0);
	assert_int_equal(rd_size(&e, IOWIN, 1), 0);
	assert_int_equal(rd_size(&e, IOWIN, 8), 0);
	assert_int_equal(rd_size(&e, IOWIN + 1, 4), 0);
	assert_int_equal(rd_size(&e, IOWIN + 4, 4), 0);
	assert_int_equal(rd_size(&e, IOEOI, 4), 0);
	assert_int_equal(rd_size(&e, 0x20, 4), 0);
	assert_int_equal(rd_size(&e, 0xffc, 4), 0);
	assert_int_equal(rd_size(&e, IOWIN, 4), 0x00170020);
	/* Writes of another size or offset change nothing. */
	wr_size(&e, IOREGSEL, 1, 0x10);
	wr_size(&e, IOREGSEL, 8, 0x10);
	assert_int_equal(rd_size(&e, IOREGSEL, 4), 1);
	wr_size(&e, IOREGSEL, 4, 0x10);
	wr_size(&e, IOWIN, 2, 0x30);
	wr_size(&e, IOWIN, 8, 0x30);
	wr_size(&e, IOWIN + 4, 4, 0x30);
	wr_size(&e, 0x20, 4, 0x30);
	assert_int_equal(rd_size(&e, IOWIN, 4), MASKED);
	/* Registering twice fails. */
	assert_int_equal(ioapic_register(&e.io, &e.bus), -1);
}

static void linux_programming_sequence(void **state)
{
	struct env e;

	setup(&e, 0);
	/* ioapic_mask_entry(): low dword with the mask first, then the high dword. */
	reg_wr(&e, 0x10 + 2 * 2, MASKED);
	reg_wr(&e, 0x11 + 2 * 2, 0);
	/* ioapic_write_entry(): high then low; the timer (GSI 2), edge, active high. */
	write_entry(&e, 2, 0x30, 0x01);
	assert_int_equal(entry_lo(&e, 2), 0x30);
	assert_int_equal(reg_rd(&e, 0x15), 0x01000000);
	assert_int_equal(e.n, 0);
	pulse(&e, 2);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.log[0].vector, 0x30);
	assert_int_equal(e.log[0].dest, 1);
	assert_int_equal(e.log[0].mode, IOAPIC_DM_FIXED);
	assert_false(e.log[0].logical);
	assert_false(e.log[0].level);
	/* Only the destination byte of the high dword is writable. */
	reg_wr(&e, 0x15, 0xffffffff);
	assert_int_equal(reg_rd(&e, 0x15), 0xff000000);
	/* Delivery Status and Remote IRR cannot be written. */
	reg_wr(&e, 0x14, 0x30 | REMOTE_IRR | (1u << 12) | 0xfffe0000);
	assert_int_equal(entry_lo(&e, 2), 0x30);
	/* mask_ioapic_irq(): the low dword with the mask bit. */
	reg_wr(&e, 0x14, 0x30 | MASKED);
	pulse(&e, 2);
	assert_int_equal(e.n, 1);
	/* A PCI-style level entry: logical, lowest priority, active low, level. */
	write_entry(&e, 16, 0x141 | LOGICAL | ACTIVE_LOW | LEVEL, 0x0f);
	assert_int_equal(entry_lo(&e, 16), 0x141 | LOGICAL | ACTIVE_LOW | LEVEL | REMOTE_IRR);
	assert_int_equal(e.n, 2); /* the idle (low) line reads as asserted for active low */
	assert_int_equal(e.log[1].vector, 0x41);
	assert_int_equal(e.log[1].dest, 0x0f);
	assert_int_equal(e.log[1].mode, IOAPIC_DM_LOWEST);
	assert_true(e.log[1].logical);
	assert_true(e.log[1].level);
}

static void edge_vs_level(void **state)
{
	struct env e;

	setup(&e, 0);
	write_entry(&e, 4, 0x34, 0);
	ioapic_set_irq(&e.io, 4, true);
	assert_int_equal(e.n, 1);
	ioapic_set_irq(&e.io, 4, true); /* still high: no new edge */
	assert_int_equal(e.n, 1);
	ioapic_set_irq(&e.io, 4, false);
	assert_int_equal(e.n, 1);
	ioapic_set_irq(&e.io, 4, true);
	assert_int_equal(e.n, 2);
	/* Edges never set Remote IRR, EOI or not. */
	assert_int_equal(entry_lo(&e, 4), 0x34);
	ioapic_eoi(&e.io, 0x34);
	assert_int_equal(e.n, 2);

	/* Level: sends while asserted, once until the EOI. */
	write_entry(&e, 9, 0x39 | LEVEL, 0);
	ioapic_set_irq(&e.io, 9, true);
	assert_int_equal(e.n, 3);
	assert_true(e.log[2].level);
	assert_true(entry_lo(&e, 9) & REMOTE_IRR);
	ioapic_set_irq(&e.io, 9, true);
	assert_int_equal(e.n, 3);
	/* EOI register while still asserted: Remote IRR clears and the pin sends again. */
	wr_size(&e, IOEOI, 4, 0x39);
	assert_int_equal(e.n, 4);
	assert_true(entry_lo(&e, 9) & REMOTE_IRR);
	/* Deasserted before the EOI: cleared, nothing more. */
	ioapic_set_irq(&e.io, 9, false);
	wr_size(&e, IOEOI, 4, 0x39);
	assert_int_equal(e.n, 4);
	assert_false(entry_lo(&e, 9) & REMOTE_IRR);
	ioapic_set_irq(&e.io, 9, true);
	assert_int_equal(e.n, 5);
	/* Pins beyond 23 do not exist. */
	ioapic_set_irq(&e.io, 24, true);
	ioapic_set_irq(&e.io, 1000, true);
	assert_int_equal(e.n, 5);
}

static void remote_irr_and_eoi(void **state)
{
	struct env e;

	setup(&e, 0);
	write_entry(&e, 10, 0x50 | LEVEL, 0);
	write_entry(&e, 11, 0x50 | LEVEL, 0);
	write_entry(&e, 12, 0x51 | LEVEL, 0);
	ioapic_set_irq(&e.io, 10, true);
	ioapic_set_irq(&e.io, 11, true);
	ioapic_set_irq(&e.io, 12, true);
	assert_int_equal(e.n, 3);
	/* Another vector's EOI leaves the entry alone; only bits 7:0 of the EOI count. */
	ioapic_eoi(&e.io, 0x52);
	wr_size(&e, IOEOI, 4, 0x100 | 0x52);
	assert_int_equal(e.n, 3);
	/* A shared vector: both entries clear, the one still asserted sends again. */
	ioapic_set_irq(&e.io, 11, false);
	ioapic_eoi(&e.io, 0x50);
	assert_int_equal(e.n, 4);
	assert_int_equal(e.log[3].vector, 0x50);
	assert_true(entry_lo(&e, 10) & REMOTE_IRR);
	assert_false(entry_lo(&e, 11) & REMOTE_IRR);
	assert_true(entry_lo(&e, 12) & REMOTE_IRR);

	/* Remote IRR is read-only for level entries too. */
	reg_wr(&e, 0x10 + 2 * 13, 0x53 | LEVEL | MASKED | REMOTE_IRR);
	assert_int_equal(entry_lo(&e, 13), 0x53 | LEVEL | MASKED);
	/* Linux's clear_IO_APIC_pin() on old I/O APICs: edge clears a stuck Remote IRR. */
	reg_wr(&e, 0x10 + 2 * 12, 0x51 | MASKED);
	assert_false(entry_lo(&e, 12) & REMOTE_IRR);
	reg_wr(&e, 0x10 + 2 * 12, 0x51 | LEVEL | MASKED);
	assert_int_equal(e.n, 4);

	/* Nobody accepts: no Remote IRR, and the next look at the pin tries again. */
	e.refuse = true;
	ioapic_set_irq(&e.io, 10, false);
	ioapic_eoi(&e.io, 0x50);
	ioapic_set_irq(&e.io, 10, true);
	assert_false(entry_lo(&e, 10) & REMOTE_IRR);
	assert_int_equal(e.io.undelivered, 1);
	e.refuse = false;
	ioapic_set_irq(&e.io, 10, true);
	assert_int_equal(e.n, 5);
	assert_true(entry_lo(&e, 10) & REMOTE_IRR);
	/* Rewriting the entry (a new destination) also retries. */
	e.refuse = true;
	ioapic_set_irq(&e.io, 10, false);
	ioapic_eoi(&e.io, 0x50);
	ioapic_set_irq(&e.io, 10, true);
	e.refuse = false;
	reg_wr(&e, 0x11 + 2 * 10, 0x01000000);
	assert_int_equal(e.n, 6);
	assert_int_equal(e.log[5].dest, 1);
}

static void polarity(void **state)
{
	struct env e;

	setup(&e, 0);
	/* Active-low level: the device idles high, asserts low. */
	ioapic_set_irq(&e.io, 5, true);
	write_entry(&e, 5, 0x45 | ACTIVE_LOW | LEVEL, 0);
	assert_int_equal(e.n, 0);
	ioapic_set_irq(&e.io, 5, false);
	assert_int_equal(e.n, 1);
	ioapic_set_irq(&e.io, 5, true);
	ioapic_eoi(&e.io, 0x45);
	assert_int_equal(e.n, 1);
	/* Flipping the polarity of a high line makes it asserted: it sends at once. */
	reg_wr(&e, 0x10 + 2 * 5, 0x45 | LEVEL);
	assert_int_equal(e.n, 2);

	/* Active-low edge: the falling edge is the assertion. */
	ioapic_set_irq(&e.io, 6, true);
	write_entry(&e, 6, 0x46 | ACTIVE_LOW, 0);
	ioapic_set_irq(&e.io, 6, false);
	assert_int_equal(e.n, 3);
	ioapic_set_irq(&e.io, 6, true);
	assert_int_equal(e.n, 3);
	/* Reprogramming the polarity of an edge entry is not an edge. */
	reg_wr(&e, 0x10 + 2 * 6, 0x46);
	assert_int_equal(e.n, 3);
	ioapic_set_irq(&e.io, 6, false);
	ioapic_set_irq(&e.io, 6, true);
	assert_int_equal(e.n, 4);
}

static void masking_and_unmask_delivery(void **state)
{
	struct env e;

	setup(&e, 0);
	/* Level asserted while masked: held by the line, sent on unmask. */
	write_entry(&e, 7, 0x47 | LEVEL | MASKED, 0);
	ioapic_set_irq(&e.io, 7, true);
	assert_int_equal(e.n, 0);
	reg_wr(&e, 0x10 + 2 * 7, 0x47 | LEVEL);
	assert_int_equal(e.n, 1);
	/* Masking keeps Remote IRR; the EOI while masked clears it without sending. */
	reg_wr(&e, 0x10 + 2 * 7, 0x47 | LEVEL | MASKED);
	ioapic_eoi(&e.io, 0x47);
	assert_int_equal(e.n, 1);
	assert_false(entry_lo(&e, 7) & REMOTE_IRR);
	reg_wr(&e, 0x10 + 2 * 7, 0x47 | LEVEL);
	assert_int_equal(e.n, 2);
	/* Asserted and gone again while masked: nothing on unmask. */
	reg_wr(&e, 0x10 + 2 * 7, 0x47 | LEVEL | MASKED);
	ioapic_eoi(&e.io, 0x47);
	ioapic_set_irq(&e.io, 7, false);
	reg_wr(&e, 0x10 + 2 * 7, 0x47 | LEVEL);
	assert_int_equal(e.n, 2);

	/* Edge while masked: lost, not held pending (82093AA 3.2.4). */
	write_entry(&e, 8, 0x48 | MASKED, 0);
	pulse(&e, 8);
	ioapic_set_irq(&e.io, 8, true);
	reg_wr(&e, 0x10 + 2 * 8, 0x48);
	assert_int_equal(e.n, 2);
	ioapic_set_irq(&e.io, 8, false);
	ioapic_set_irq(&e.io, 8, true);
	assert_int_equal(e.n, 3);
}

static void delivery_modes(void **state)
{
	struct env e;

	setup(&e, 0);
	write_entry(&e, 0, 0x00 | IOAPIC_DM_EXTINT << 8, 0); /* virtual wire through pin 0 */
	write_entry(&e, 1, 0x00 | IOAPIC_DM_NMI << 8, 0xff);
	write_entry(&e, 3, 0x00 | IOAPIC_DM_INIT << 8 | LOGICAL, 0x80);
	pulse(&e, 0);
	pulse(&e, 1);
	pulse(&e, 3);
	assert_int_equal(e.n, 3);
	assert_int_equal(e.log[0].mode, IOAPIC_DM_EXTINT);
	assert_int_equal(e.log[1].mode, IOAPIC_DM_NMI);
	assert_int_equal(e.log[1].dest, 0xff);
	assert_int_equal(e.log[2].mode, IOAPIC_DM_INIT);
	assert_int_equal(e.log[2].dest, 0x80);
	assert_true(e.log[2].logical);
	/* No deliver callback: messages are counted as undelivered. */
	ioapic_init(&e.io, 0, NULL, NULL);
	write_entry(&e, 3, 0x33, 0);
	pulse(&e, 3);
	assert_int_equal(e.io.undelivered, 1);
}

static void irq_line_adapter(void **state)
{
	struct env e;
	struct irq_line line;

	setup(&e, 0);
	line = ioapic_irq_line(&e.io);
	write_entry(&e, 4, 0x34, 0);
	irq_line_set(&line, 4, true);
	irq_line_set(&line, 4, false);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.log[0].vector, 0x34);
}

/* --- wired to a local APIC, as the hypervisor will do ------------------------------------ */

static u64 fake_now(void *ctx)
{
	return ((struct env *)ctx)->now;
}

static bool to_lapic(void *ctx, u8 vector, u32 dest, bool logical, u8 mode, bool level)
{
	struct env *e = ctx;

	if (!lapic_match_dest(&e->lapic, dest, logical))
		return false;
	if (mode == IOAPIC_DM_FIXED || mode == IOAPIC_DM_LOWEST)
		return lapic_accept_irq(&e->lapic, vector, level);
	return false;
}

static void lapic_eoi(void *ctx, u8 vector)
{
	ioapic_eoi(&((struct env *)ctx)->io, vector);
}

static void setup_wired(struct env *e)
{
	setup(e, 0);
	ioapic_init(&e->io, 0, to_lapic, e);
	assert_int_equal(lapic_init(&e->lapic, 0, (struct vclock){ fake_now, e, 1000000000 },
				    (struct lapic_hooks){ lapic_eoi, NULL, e }),
			 0);
	assert_int_equal(lapic_register(&e->lapic, &e->bus), 0);
}

static void lapic_wr(struct env *e, u32 off, u32 v)
{
	const struct vdev_mmio_range *r = vdev_mmio_find(&e->bus, LAPIC_BASE + off, 4);

	r->ops->write(r->dev, off, 4, v);
}

static int lapic_take(struct env *e)
{
	int v = lapic_pending_vector(&e->lapic);

	if (v >= 0)
		lapic_acknowledge(&e->lapic, (u8)v);
	return v;
}

static void lapic_driven_eoi(void **state)
{
	struct env e;
	u64 tmr;

	setup_wired(&e);
	/* Refused while the LAPIC is software-disabled: no Remote IRR, nothing lost for good. */
	write_entry(&e, 20, 0x61 | LEVEL, 0);
	ioapic_set_irq(&e.io, 20, true);
	assert_false(entry_lo(&e, 20) & REMOTE_IRR);
	lapic_wr(&e, 0xf0, 0x1ff);
	ioapic_set_irq(&e.io, 20, true);
	assert_true(entry_lo(&e, 20) & REMOTE_IRR);
	assert_int_equal(lapic_take(&e), 0x61);
	tmr = e.lapic.tmr[0x61 >> 5] >> (0x61 & 31) & 1;
	assert_int_equal(tmr, 1);
	/* The LAPIC's EOI reaches the I/O APIC; the line is still up, so it comes back. */
	lapic_wr(&e, 0xb0, 0);
	assert_true(entry_lo(&e, 20) & REMOTE_IRR);
	assert_int_equal(lapic_take(&e), 0x61);
	/* The device is served: the line drops before the EOI. */
	ioapic_set_irq(&e.io, 20, false);
	lapic_wr(&e, 0xb0, 0);
	assert_false(entry_lo(&e, 20) & REMOTE_IRR);
	assert_int_equal(lapic_take(&e), -1);

	/* Edge entries through the LAPIC: no TMR, no EOI round trip. */
	write_entry(&e, 2, 0x30, 0);
	pulse(&e, 2);
	assert_int_equal(lapic_take(&e), 0x30);
	lapic_wr(&e, 0xb0, 0);

	/* Logical flat destination, LDR bit 0; another destination is refused. */
	lapic_wr(&e, 0xd0, 0x01000000);
	write_entry(&e, 21, 0x71 | LOGICAL | LEVEL, 0x01);
	ioapic_set_irq(&e.io, 21, true);
	assert_int_equal(lapic_take(&e), 0x71);
	write_entry(&e, 22, 0x72 | LEVEL, 0x05);
	ioapic_set_irq(&e.io, 22, true);
	assert_false(entry_lo(&e, 22) & REMOTE_IRR);
	assert_int_equal(e.io.undelivered, 2);

	/* x2APIC mode: the EOI MSR does the same. */
	assert_int_equal(lapic_set_base(&e.lapic, 0xfee00d00ull), 0);
	ioapic_set_irq(&e.io, 21, false);
	assert_int_equal(lapic_msr_write(&e.lapic, 0x80b, 0), 0);
	assert_false(entry_lo(&e, 21) & REMOTE_IRR);
	ioapic_set_irq(&e.io, 20, true);
	assert_int_equal(lapic_take(&e), 0x61);
	ioapic_set_irq(&e.io, 20, false);
	assert_int_equal(lapic_msr_write(&e.lapic, 0x80b, 0), 0);
	assert_false(entry_lo(&e, 20) & REMOTE_IRR);
}

struct fuzz_ioapic {
	u64 before;
	struct ioapic io;
	u64 after;
	struct vdev_bus bus;
	struct fuzz_rng rng;
	unsigned sent;
};

/* Messages are accepted or refused at random. */
static bool fuzz_deliver(void *ctx, u8 vector, u32 dest, bool logical, u8 mode, bool level)
{
	struct fuzz_ioapic *w = ctx;

	assert_true(dest <= 0xff && mode <= 7);
	w->sent++;
	return fuzz_next(&w->rng) & 1;
}

static void hostile_accesses(void **state)
{
	static const u32 sizes[4] = { 1, 2, 4, 8 };
	static struct fuzz_ioapic w;
	unsigned bad = 0;

	w.before = w.after = FUZZ_CANARY;
	w.rng.s = 0x10a91c | 1;
	vdev_bus_init(&w.bus);
	ioapic_init(&w.io, 1, fuzz_deliver, &w);
	assert_int_equal(ioapic_register(&w.io, &w.bus), 0);
	for (unsigned i = 0; i < FUZZ_ACCESSES; i++) {
		u32 r = fuzz_next(&w.rng), size = sizes[(r >> 4) % 4], v = fuzz_next(&w.rng);
		u64 off = (r >> 8) % 8 ? fuzz_next(&w.rng) % 0x50 : fuzz_next(&w.rng) % 0x1000;
		const struct vdev_mmio_range *range;

		if ((r >> 12) % 2)
			off &= ~0xfull; /* mostly the registers themselves */
		off = MIN(off, 0x1000 - size);
		switch ((r >> 16) % 4) {
		case 0: /* interesting values: small register numbers, entries with few bits */
			v = (r >> 20) & 1 ? v % 0x48 : v & 0x1ffff;
			break;
		case 1:
			v = (r >> 20) & 1 ? 0 : ~0u;
			break;
		default:
			break;
		}
		range = vdev_mmio_find(&w.bus, IOAPIC_BASE + off, size);
		assert_non_null(range);
		switch (r % 8) {
		case 0:
		case 1:
		case 2: {
			u64 got = range->ops->read(range->dev, off, size);

			if (size < 8 && got >> (8 * size))
				bad++;
			break;
		}
		case 3:
		case 4:
		case 5:
			range->ops->write(range->dev, off, size, (u64)fuzz_next(&w.rng) << 32 | v);
			break;
		case 6:
			ioapic_set_irq(&w.io, (r >> 8) % 32, (r >> 13) & 1);
			break;
		default:
			ioapic_eoi(&w.io, (r >> 8) & 1 ? (u8)v : w.io.redir[(r >> 9) % 24] & 0xff);
			break;
		}
		for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
			u64 e = w.io.redir[pin];

			assert_false(e & (1ull << 12));			/* delivery status */
			assert_false(!(e & LEVEL) && (e & REMOTE_IRR)); /* Remote IRR: level only */
			assert_int_equal(e & 0x00ffffff00000000ull, 0);
		}
		assert_true(w.io.id <= 15);
	}
	assert_int_equal(bad, 0);
	assert_true(w.sent > 1000);
	assert_true(w.before == FUZZ_CANARY && w.after == FUZZ_CANARY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reset_state),
		cmocka_unit_test(access_rules),
		cmocka_unit_test(linux_programming_sequence),
		cmocka_unit_test(edge_vs_level),
		cmocka_unit_test(remote_irr_and_eoi),
		cmocka_unit_test(polarity),
		cmocka_unit_test(masking_and_unmask_delivery),
		cmocka_unit_test(delivery_modes),
		cmocka_unit_test(irq_line_adapter),
		cmocka_unit_test(lapic_driven_eoi),
		cmocka_unit_test(hostile_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
