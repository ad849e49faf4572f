/*
 * The master/slave 8259A pair of the PC (Intel 8259A datasheet, "8259A Programmable Interrupt
 * Controller", order no. 231468) with the ELCR of the Intel 82371AB PIIX4 (4D0h/4D1h).
 *
 * Fixed priority only (IR0 highest): the rotate commands of OCW2 act as the EOI they include,
 * and "set priority" is ignored; Linux and PC BIOSes never rotate. Poll mode, special mask mode,
 * automatic EOI and special fully nested mode are implemented. The slave's INT is wired to the
 * master's IR2 whatever ICW3 says, as on every PC, so ICW3 is accepted and ignored.
 */
#include <kestrel/pic8259.h>

#define MASTER 0
#define SLAVE 1
#define CASCADE_IR 2
#define SPURIOUS_IR 7

#define ICW1 0x10 /* even port, D4 set */
#define ICW1_IC4 0x01
#define ICW1_SNGL 0x02
#define ICW1_LTIM 0x08
#define ICW4_AEOI 0x02
#define ICW4_SFNM 0x10
#define OCW3 0x08 /* even port, D4 clear, D3 set */
#define OCW3_RIS 0x01
#define OCW3_RR 0x02
#define OCW3_P 0x04
#define OCW3_SMM 0x20
#define OCW3_ESMM 0x40

/* PIIX4 ELCR: IRQ0, 1, 2, 8 and 13 are edge-triggered only (their bits read 0). */
static const u8 elcr_writable[2] = { 0xf8, 0xde };

/* Priority of the highest set bit under fixed priority: 0 for IR0 ... 7, or 8 when none. */
static unsigned first_bit(u8 bits)
{
	unsigned i = 0;

	while (i < 8 && !(bits & (1u << i)))
		i++;
	return i;
}

static u8 chip_level_mask(const struct pic_chip *c)
{
	return c->ltim ? 0xff : c->elcr;
}

/*
 * The request INT would announce, or -1. In-service levels block equal and lower priorities
 * (fully nested mode); in special mask mode a masked level does not block (OCW3 SMM); in special
 * fully nested mode the master lets the cascade through again while it is in service (ICW4 SFNM).
 */
static int chip_pending(const struct pic_chip *c, bool master)
{
	u8 blocking = c->special_mask ? c->isr & ~c->imr : c->isr;
	unsigned irq = first_bit(c->irr & ~c->imr), cur = first_bit(blocking);

	if (irq == 8)
		return -1;
	if (irq < cur || (master && c->sfnm && irq == CASCADE_IR && cur == CASCADE_IR))
		return (int)irq;
	return -1;
}

/*
 * Edge inputs latch IRR on a rising edge and keep it when the line falls again, so a device may
 * signal an edge as a pulse (as QEMU and KVM do); level inputs make IRR follow the line.
 */
static void chip_set_line(struct pic_chip *c, unsigned ir, bool level)
{
	u8 bit = 1u << ir;

	if (chip_level_mask(c) & bit)
		c->irr = level ? c->irr | bit : c->irr & ~bit;
	else if (level && !(c->lines & bit))
		c->irr |= bit;
	c->lines = level ? c->lines | bit : c->lines & ~bit;
}

/* After ELCR or LTIM changes, level inputs show their line at once. */
static void chip_refresh_level(struct pic_chip *c)
{
	u8 level = chip_level_mask(c);

	c->irr = (c->irr & ~level) | (c->lines & level);
}

/* INTA: an edge request is consumed, a level one stays while its line is high. */
static void chip_ack(struct pic_chip *c, unsigned ir)
{
	u8 bit = 1u << ir;

	if (!(chip_level_mask(c) & bit))
		c->irr &= ~bit;
	if (!c->auto_eoi)
		c->isr |= bit;
}

/* The slave's INT output drives the master's IR2. */
static void pic_cascade(struct pic *pic)
{
	chip_set_line(&pic->chip[MASTER], CASCADE_IR, chip_pending(&pic->chip[SLAVE], false) >= 0);
}

void pic_init(struct pic *pic)
{
	*pic = (struct pic){ 0 };
	pic->chip[MASTER].base = 0x08;
	pic->chip[SLAVE].base = 0x70;
	pic->chip[MASTER].imr = 0xff;
	pic->chip[SLAVE].imr = 0xff;
}

void pic_set_irq(struct pic *pic, unsigned irq, bool level)
{
	if (irq >= 16 || irq == CASCADE_IR)
		return;
	chip_set_line(&pic->chip[irq >> 3], irq & 7, level);
	pic_cascade(pic);
}

bool pic_has_interrupt(const struct pic *pic)
{
	return chip_pending(&pic->chip[MASTER], true) >= 0;
}

int pic_acknowledge(struct pic *pic)
{
	struct pic_chip *m = &pic->chip[MASTER], *s = &pic->chip[SLAVE];
	int irq = chip_pending(m, true), sirq;

	/* 8259A "Interrupt sequence": with no request left at INTA, the IR7 vector, no ISR bit. */
	if (irq < 0) {
		pic->spurious++;
		return m->base | SPURIOUS_IR;
	}
	chip_ack(m, (unsigned)irq);
	if (irq != CASCADE_IR)
		return m->base | irq;

	/* The slave answers the cascaded INTA, with its own IR7 if its request has gone. */
	sirq = chip_pending(s, false);
	if (sirq >= 0) {
		chip_ack(s, (unsigned)sirq);
	} else {
		pic->spurious++;
		sirq = SPURIOUS_IR;
	}
	/*
	 * The INTA cycle ends the slave's INT pulse: a request it still has (automatic EOI,
	 * special fully nested mode) reaches the master as a new edge instead of being lost.
	 */
	m->lines &= ~(1u << CASCADE_IR);
	pic_cascade(pic);
	return s->base | sirq;
}

/* ICW1 (8259A "Initialization Command Words"): reset edge sense, IMR, ISR, SMM and ICW4. */
static void chip_icw1(struct pic_chip *c, u8 v)
{
	c->need_icw4 = v & ICW1_IC4;
	c->single = v & ICW1_SNGL;
	c->ltim = v & ICW1_LTIM;
	c->init_step = 2;
	c->imr = 0;
	/* The datasheet leaves ISR alone; clearing it (QEMU and Bochs do) lets a guest recover. */
	c->isr = 0;
	/* Edge inputs need a fresh low-to-high transition; lines already high do not count. */
	c->irr = c->lines & chip_level_mask(c);
	c->special_mask = false;
	c->read_isr = false;
	c->poll = false;
	c->auto_eoi = false;
	c->sfnm = false;
}

/* OCW2: R, SL, EOI in bits 7-5, level in bits 2-0. */
static void chip_ocw2(struct pic_chip *c, u8 v)
{
	switch (v >> 5) {
	case 1: /* non-specific EOI */
	case 5: /* rotate on non-specific EOI: the EOI, priorities stay fixed */
		if (c->isr)
			c->isr &= ~(1u << first_bit(c->isr));
		break;
	case 3: /* specific EOI */
	case 7: /* rotate on specific EOI */
		c->isr &= ~(1u << (v & 7));
		break;
	default: /* rotate in AEOI set/clear, set priority, no operation: fixed priority kept */
		break;
	}
}

static void chip_ocw3(struct pic_chip *c, u8 v)
{
	if (v & OCW3_P)
		c->poll = true;
	if (v & OCW3_RR)
		c->read_isr = v & OCW3_RIS;
	if (v & OCW3_ESMM)
		c->special_mask = v & OCW3_SMM;
}

static void chip_write(struct pic_chip *c, bool odd, u8 v)
{
	if (!odd) {
		if (v & ICW1)
			chip_icw1(c, v);
		else if (v & OCW3)
			chip_ocw3(c, v);
		else
			chip_ocw2(c, v);
		return;
	}
	switch (c->init_step) {
	case 2: /* ICW2: x86 mode uses T7-T3 */
		c->base = v & 0xf8;
		c->init_step = !c->single ? 3 : c->need_icw4 ? 4 : 0;
		break;
	case 3: /* ICW3: the cascade wiring is fixed */
		c->init_step = c->need_icw4 ? 4 : 0;
		break;
	case 4: /* ICW4: uPM, BUF and M/S change nothing a guest can see */
		c->auto_eoi = v & ICW4_AEOI;
		c->sfnm = v & ICW4_SFNM;
		c->init_step = 0;
		break;
	default: /* OCW1 */
		c->imr = v;
		break;
	}
}

/* Poll mode (OCW3 P): the read acts as INTA and returns I (bit 7) and the level (bits 2-0). */
static u8 chip_poll(struct pic_chip *c, bool master)
{
	int irq = chip_pending(c, master);

	c->poll = false;
	if (irq < 0)
		return 0;
	chip_ack(c, (unsigned)irq);
	return 0x80 | irq;
}

static u8 chip_read(struct pic_chip *c, bool master, bool odd)
{
	if (c->poll)
		return chip_poll(c, master);
	if (odd)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

static struct pic_chip *pic_chip_at(struct pic *pic, u16 port)
{
	return &pic->chip[port >= 0xa0 ? SLAVE : MASTER];
}

static u32 pic_io_read(void *dev, u16 port, u32 size)
{
	struct pic *pic = dev;
	u32 v = 0;

	for (u32 i = 0; i < size; i++) {
		u16 p = port + i;

		v |= (u32)chip_read(pic_chip_at(pic, p), p < 0xa0, p & 1) << (8 * i);
	}
	pic_cascade(pic);
	return v;
}

static void pic_io_write(void *dev, u16 port, u32 size, u32 value)
{
	struct pic *pic = dev;

	for (u32 i = 0; i < size; i++) {
		u16 p = port + i;

		chip_write(pic_chip_at(pic, p), p & 1, value >> (8 * i));
	}
	pic_cascade(pic);
}

static u32 elcr_io_read(void *dev, u16 port, u32 size)
{
	struct pic *pic = dev;
	u32 v = 0;

	for (u32 i = 0; i < size; i++)
		v |= (u32)pic->chip[(port + i) & 1].elcr << (8 * i);
	return v;
}

static void elcr_io_write(void *dev, u16 port, u32 size, u32 value)
{
	struct pic *pic = dev;

	for (u32 i = 0; i < size; i++) {
		unsigned n = (port + i) & 1;

		pic->chip[n].elcr = (value >> (8 * i)) & elcr_writable[n];
		chip_refresh_level(&pic->chip[n]);
	}
	pic_cascade(pic);
}

static const struct vdev_ops pic_ops = { .io_read = pic_io_read, .io_write = pic_io_write,
					 .affects_events = true };
static const struct vdev_ops elcr_ops = { .io_read = elcr_io_read, .io_write = elcr_io_write,
					  .affects_events = true };

int pic_register(struct pic *pic, struct vdev_bus *bus)
{
	if (vdev_register_ports(bus, 0x20, 0x21, &pic_ops, pic, "pic-master") ||
	    vdev_register_ports(bus, 0xa0, 0xa1, &pic_ops, pic, "pic-slave") ||
	    vdev_register_ports(bus, 0x4d0, 0x4d1, &elcr_ops, pic, "elcr"))
		return -1;
	return 0;
}

static void pic_line_set(void *ctx, unsigned irq, bool level)
{
	pic_set_irq(ctx, irq, level);
}

struct irq_line pic_irq_line(struct pic *pic)
{
	return (struct irq_line){ .set = pic_line_set, .ctx = pic };
}
