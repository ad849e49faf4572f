/*
 * An interrupt request line from a virtual device to an interrupt controller (the PIC today, an
 * I/O APIC later). The device drives the level; an edge is a low-to-high transition.
 */
#ifndef KESTREL_IRQ_H
#define KESTREL_IRQ_H

#include <kestrel/types.h>

struct irq_line {
	void (*set)(void *ctx, unsigned irq, bool level);
	void *ctx;
};

/* A line with no `set` is not connected: the device still works, its interrupts go nowhere. */
static inline void irq_line_set(const struct irq_line *line, unsigned irq, bool level)
{
	if (line->set)
		line->set(line->ctx, irq, level);
}

#endif
