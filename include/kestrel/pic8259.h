/*
 * The PC's two cascaded 8259A interrupt controllers (master 0x20-0x21, slave 0xa0-0xa1 on the
 * master's IR2) and the ELCR edge/level register (0x4d0-0x4d1), as one guest sees them.
 *
 * The hypervisor raises lines with pic_set_irq() (or through pic_irq_line()), asks
 * pic_has_interrupt() before each VM entry and, when it can inject, runs the INTA cycle with
 * pic_acknowledge() and injects the vector it returns.
 */
#ifndef KESTREL_PIC8259_H
#define KESTREL_PIC8259_H

#include <kestrel/irq.h>
#include <kestrel/types.h>
#include <kestrel/vdev.h>

struct pic_chip {
	u8 irr;		/* requests: latched by an edge, or following the line (level) */
	u8 isr;		/* in service */
	u8 imr;		/* masked */
	u8 lines;	/* input levels now, for edge detection */
	u8 elcr;	/* inputs the ELCR makes level-triggered */
	u8 base;	/* vector of IR0 (ICW2, low 3 bits clear) */
	u8 init_step;	/* next ICW expected on the odd port: 2, 3, 4, or 0 when operational */
	bool need_icw4, single, ltim, auto_eoi, sfnm;
	bool read_isr;	/* OCW3: even-port reads return ISR instead of IRR */
	bool poll;	/* OCW3: the next read is a poll */
	bool special_mask;
};

struct pic {
	struct pic_chip chip[2];	/* master, slave */
	u64 spurious;			/* INTA cycles that found no request (IRQ7/IRQ15 vector) */
};

/* As a PC BIOS leaves it: vectors 0x08 and 0x70, every line masked, all edge-triggered. */
void pic_init(struct pic *pic);

/* Claims 0x20-0x21, 0xa0-0xa1 and 0x4d0-0x4d1. Returns 0, or -1 if a port is taken. */
int pic_register(struct pic *pic, struct vdev_bus *bus);

/* Drive ISA line `irq` (0-15). IRQ2 is the cascade input and others are ignored. */
void pic_set_irq(struct pic *pic, unsigned irq, bool level);

/* An unmasked request with higher priority than everything in service: INTR is asserted. */
bool pic_has_interrupt(const struct pic *pic);

/*
 * The INTA cycle: returns the vector to inject and moves the request to ISR. When the request
 * has gone since pic_has_interrupt() (masked meanwhile, level line dropped), returns the
 * spurious IRQ7 vector (IRQ15 for the slave) with nothing put in service, as the 8259A does.
 */
int pic_acknowledge(struct pic *pic);

/* An irq_line for devices: `irq` is the ISA IRQ number. */
struct irq_line pic_irq_line(struct pic *pic);

#endif
