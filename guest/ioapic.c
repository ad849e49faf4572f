/*
 * The I/O APIC (Intel 82093AA I/O Advanced Programmable Interrupt Controller datasheet, order
 * no. 290566) with the EOI register of the version 0x20 I/O APICs of Intel's ICH and PCH chipsets,
 * which Linux uses instead of toggling the trigger mode to clear Remote IRR.
 *
 * Messages are delivered at once, so Delivery Status (bit 12) always reads idle. Only the 8-bit
 * destination (bits 63:56) exists. The arbitration ID reads as the ID. The datasheet's registers
 * are 32 bits wide and accessed as such: other sizes and offsets are answered with 0 / ignored.
 * The claimed range is the whole 4 KiB page the guest maps (EPT works in pages), not just the
 * 0x44 bytes that decode.
 */
#include <kestrel/ioapic.h>

#define MMIO_IOREGSEL 0x00
#define MMIO_IOWIN 0x10
#define MMIO_EOI 0x40

#define REG_ID 0x00
#define REG_VERSION 0x01
#define REG_ARB 0x02
#define REG_REDIR 0x10 /* entry n: low dword at 0x10 + 2n, high at 0x11 + 2n */

/* 3.2.2: version 0x20, maximum redirection entry 23 in bits 23:16. */
#define VERSION (0x20u | (IOAPIC_PINS - 1) << 16)
#define ID_SHIFT 24
#define ID_MASK 0xfu

/* 3.2.4, the redirection entry. */
#define RTE_VECTOR 0xffull
#define RTE_DM_SHIFT 8
#define RTE_LOGICAL (1ull << 11)
#define RTE_ACTIVE_LOW (1ull << 13)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL (1ull << 15)
#define RTE_MASKED (1ull << 16)
#define RTE_LOW_WRITABLE 0x1afffull /* all but Delivery Status and Remote IRR */
#define RTE_DEST_SHIFT 56
#define RTE_HIGH_WRITABLE (0xffull << RTE_DEST_SHIFT)

static bool pin_asserted(const struct ioapic *io, unsigned pin)
{
	bool level = io->lines >> pin & 1;

	return level != !!(io->redir[pin] & RTE_ACTIVE_LOW);
}

static bool send(struct ioapic *io, unsigned pin)
{
	u64 e = io->redir[pin];

	if (io->deliver && io->deliver(io->ctx, e & RTE_VECTOR, (u32)(e >> RTE_DEST_SHIFT),
				       e & RTE_LOGICAL, (e >> RTE_DM_SHIFT) & 7, e & RTE_LEVEL))
		return true;
	io->undelivered++;
	return false;
}

/* A level-triggered entry sends while its pin is asserted, until the EOI (Remote IRR). */
static void service_level(struct ioapic *io, unsigned pin)
{
	u64 e = io->redir[pin];

	if (!(e & RTE_LEVEL) || (e & (RTE_MASKED | RTE_REMOTE_IRR)) || !pin_asserted(io, pin))
		return;
	if (send(io, pin))
		io->redir[pin] |= RTE_REMOTE_IRR;
}

void ioapic_set_irq(struct ioapic *io, unsigned pin, bool level)
{
	bool was;

	if (pin >= IOAPIC_PINS)
		return;
	was = pin_asserted(io, pin);
	io->lines = level ? io->lines | 1u << pin : io->lines & ~(1u << pin);
	/* 3.2.4 Interrupt Mask: an edge on a masked pin is not held pending. */
	if (!(io->redir[pin] & (RTE_LEVEL | RTE_MASKED)) && !was && pin_asserted(io, pin))
		send(io, pin);
	service_level(io, pin);
}

void ioapic_eoi(struct ioapic *io, u8 vector)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		if ((io->redir[pin] & RTE_VECTOR) != vector || !(io->redir[pin] & RTE_REMOTE_IRR))
			continue;
		io->redir[pin] &= ~RTE_REMOTE_IRR;
		service_level(io, pin);
	}
}

static u32 reg_read(const struct ioapic *io)
{
	unsigned r = io->ioregsel;

	switch (r) {
	case REG_ID:
	case REG_ARB:
		return (u32)io->id << ID_SHIFT;
	case REG_VERSION:
		return VERSION;
	default:
		break;
	}
	if (r < REG_REDIR || r >= REG_REDIR + 2 * IOAPIC_PINS)
		return 0;
	return (u32)(io->redir[(r - REG_REDIR) / 2] >> ((r & 1) * 32));
}

static void reg_write(struct ioapic *io, u32 v)
{
	unsigned r = io->ioregsel, pin;
	u64 *e;

	if (r == REG_ID) {
		io->id = (v >> ID_SHIFT) & ID_MASK;
		return;
	}
	if (r < REG_REDIR || r >= REG_REDIR + 2 * IOAPIC_PINS)
		return; /* version and arbitration are read-only, the rest reserved */
	pin = (r - REG_REDIR) / 2;
	e = &io->redir[pin];
	if (r & 1) {
		*e = (*e & ~RTE_HIGH_WRITABLE) | ((u64)v << 32 & RTE_HIGH_WRITABLE);
	} else {
		*e = (*e & ~RTE_LOW_WRITABLE) | (v & RTE_LOW_WRITABLE);
		/* Remote IRR means nothing for edge entries; clearing it frees a stuck pin. */
		if (!(*e & RTE_LEVEL))
			*e &= ~RTE_REMOTE_IRR;
	}
	/* Unmasking, or a new trigger mode or polarity, sends a level that is already there. */
	service_level(io, pin);
}

static u64 ioapic_mmio_read(void *dev, u64 offset, u32 size)
{
	struct ioapic *io = dev;

	if (size != 4)
		return 0;
	switch (offset) {
	case MMIO_IOREGSEL:
		return io->ioregsel;
	case MMIO_IOWIN:
		return reg_read(io);
	default:
		return 0; /* EOI is write-only */
	}
}

static void ioapic_mmio_write(void *dev, u64 offset, u32 size, u64 value)
{
	struct ioapic *io = dev;

	if (size != 4)
		return;
	switch (offset) {
	case MMIO_IOREGSEL:
		io->ioregsel = (u8)value; /* 3.1.1: bits 31:8 are reserved */
		break;
	case MMIO_IOWIN:
		reg_write(io, (u32)value);
		break;
	case MMIO_EOI:
		ioapic_eoi(io, (u8)value);
		break;
	default:
		break;
	}
}

const struct vdev_mmio_ops ioapic_mmio_ops = { .read = ioapic_mmio_read,
					       .write = ioapic_mmio_write };

int ioapic_register(struct ioapic *io, struct vdev_bus *bus)
{
	return vdev_register_mmio(bus, IOAPIC_BASE, IOAPIC_MMIO_SIZE, &ioapic_mmio_ops, io,
				  "ioapic");
}

void ioapic_init(struct ioapic *io, u8 id, ioapic_deliver_fn deliver, void *ctx)
{
	*io = (struct ioapic){ .id = id & ID_MASK, .deliver = deliver, .ctx = ctx };
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		io->redir[pin] = RTE_MASKED;
}

static void ioapic_line_set(void *ctx, unsigned irq, bool level)
{
	ioapic_set_irq(ctx, irq, level);
}

struct irq_line ioapic_irq_line(struct ioapic *io)
{
	return (struct irq_line){ .set = ioapic_line_set, .ctx = io };
}
