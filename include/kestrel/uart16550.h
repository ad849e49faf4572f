/*
 * A 16550A serial port (COM1: base 0x3f8, IRQ 4) as one guest sees it. Transmitted bytes go to
 * `emit` at once, so the transmitter is always empty; received bytes come from uart_receive().
 * The interrupt line is high while an enabled cause is pending and MCR OUT2 is set.
 */
#ifndef KESTREL_UART16550_H
#define KESTREL_UART16550_H

#include <kestrel/irq.h>
#include <kestrel/types.h>
#include <kestrel/vdev.h>

#define UART_FIFO_SIZE 16

struct uart {
	u16 base;
	unsigned irq;
	struct irq_line line;
	void (*emit)(void *ctx, u8 byte);
	void *emit_ctx;
	u8 rx[UART_FIFO_SIZE];	/* receive FIFO (holds one byte while FIFOs are off) */
	u8 rx_head, rx_count;
	u8 ier, lcr, mcr, fcr, scr, dll, dlm;
	u8 lsr_errors;		/* LSR bits 4-1, cleared by reading LSR */
	u8 msr;			/* modem inputs (bits 7-4) and their deltas (bits 3-0) */
	bool thre_pending;	/* THR-empty interrupt: until IIR reports it or THR is written */
	bool irq_level;		/* what the line was last driven to */
};

/* Reset state (NS16550A "UART Reset Configuration"), divisor 1 (115200 baud, never 0). */
void uart_init(struct uart *uart, u16 base, unsigned irq, struct irq_line line,
	       void (*emit)(void *ctx, u8 byte), void *emit_ctx);

/* Claims base..base+7. Returns 0, or -1 if a port is taken or the range passes 0xffff. */
int uart_register(struct uart *uart, struct vdev_bus *bus);

/*
 * A byte arrives on the serial input. Returns false on an overrun (FIFO full: the byte is lost;
 * with FIFOs off it replaces the unread byte, as on a 16450) or in loopback mode (input cut off).
 */
bool uart_receive(struct uart *uart, u8 byte);

#endif
