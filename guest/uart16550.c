/*
 * The NS16550A UART (National Semiconductor PC16550D datasheet), as a PC wires it: the interrupt
 * output reaches the ISA IRQ line only through the MCR OUT2 gate.
 *
 * Transmission is instantaneous, so THRE and TEMT are always set. There is no receive timer:
 * with FIFOs on and fewer bytes than the trigger level, the character timeout interrupt is
 * reported at once, as if the four character times had already passed. Parity, framing and
 * break errors never happen; only overrun does.
 */
#include <kestrel/uart16550.h>

#define REG_RBR 0 /* THR on write; DLL with DLAB */
#define REG_IER 1 /* DLM with DLAB */
#define REG_IIR 2 /* FCR on write */
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_MSR 6
#define REG_SCR 7

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_TRIGGER 0xc0

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define MSR_DELTAS 0x0f

static const u8 rx_trigger[4] = { 1, 4, 8, 14 }; /* FCR bits 7-6 */

static bool uart_fifo_on(const struct uart *u)
{
	return u->fcr & FCR_ENABLE;
}

/* Interrupt identification in priority order (PC16550D Table IV). */
static u8 uart_iid(const struct uart *u)
{
	if ((u->ier & IER_RLSI) && u->lsr_errors)
		return IIR_RLSI;
	if ((u->ier & IER_RDI) && u->rx_count) {
		if (uart_fifo_on(u) && u->rx_count < rx_trigger[u->fcr >> 6])
			return IIR_TIMEOUT;
		return IIR_RDI;
	}
	if ((u->ier & IER_THRI) && u->thre_pending)
		return IIR_THRI;
	if ((u->ier & IER_MSI) && (u->msr & MSR_DELTAS))
		return IIR_MSI;
	return IIR_NO_INT;
}

/*
 * In loopback mode the MCR outputs, OUT2 included, are forced inactive (PC16550D "Modem
 * Control Register" bit 4), so on a PC no interrupt reaches the IRQ line.
 */
static void uart_update_irq(struct uart *u)
{
	bool level = uart_iid(u) != IIR_NO_INT && (u->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;

	if (level != u->irq_level) {
		u->irq_level = level;
		irq_line_set(&u->line, u->irq, level);
	}
}

/* Modem inputs: a connected line (CTS, DSR, DCD), or the MCR outputs looped back. */
static u8 uart_modem_inputs(const struct uart *u)
{
	u8 m = u->mcr;

	if (!(m & MCR_LOOP))
		return MSR_CTS | MSR_DSR | MSR_DCD;
	return (m & MCR_RTS ? MSR_CTS : 0) | (m & MCR_DTR ? MSR_DSR : 0) |
	       (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0);
}

/* Delta bits record changes of CTS, DSR, DCD and the trailing edge of RI. */
static void uart_set_modem_inputs(struct uart *u)
{
	u8 old = u->msr, now = uart_modem_inputs(u), changed = old ^ now;
	u8 deltas = old & MSR_DELTAS;

	if (changed & MSR_CTS)
		deltas |= MSR_DCTS;
	if (changed & MSR_DSR)
		deltas |= MSR_DDSR;
	if (changed & MSR_DCD)
		deltas |= MSR_DDCD;
	if ((old & MSR_RI) && !(now & MSR_RI))
		deltas |= MSR_TERI;
	u->msr = now | deltas;
}

static void uart_rx_clear(struct uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
}

static bool uart_rx_push(struct uart *u, u8 byte)
{
	unsigned capacity = uart_fifo_on(u) ? UART_FIFO_SIZE : 1;

	if (u->rx_count >= capacity) {
		/* Overrun: the FIFO keeps its bytes; without FIFOs the new byte replaces RBR. */
		u->lsr_errors |= LSR_OE;
		if (!uart_fifo_on(u))
			u->rx[u->rx_head] = byte;
		return false;
	}
	u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
	u->rx_count++;
	return true;
}

static u8 uart_rx_pop(struct uart *u)
{
	u8 byte;

	if (!u->rx_count)
		return 0;
	byte = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	u->rx_count--;
	return byte;
}

/*
 * Writing THR clears the THR-empty interrupt; the byte leaves at once, so THR is empty again and
 * the interrupt is raised anew: the line drops and rises, a fresh edge for the PIC.
 */
static void uart_transmit(struct uart *u, u8 byte)
{
	u->thre_pending = false;
	uart_update_irq(u);
	if (u->mcr & MCR_LOOP)
		uart_rx_push(u, byte);
	else if (u->emit)
		u->emit(u->emit_ctx, byte);
	u->thre_pending = true;
}

static void uart_write_fcr(struct uart *u, u8 v)
{
	bool on = v & FCR_ENABLE;

	/* Changing FCR0 clears the FIFOs; the other bits are only taken with FCR0 set. */
	if (on != uart_fifo_on(u) || (on && (v & FCR_CLEAR_RX)))
		uart_rx_clear(u);
	u->fcr = on ? v & (FCR_ENABLE | FCR_TRIGGER) : 0;
}

static void uart_write_reg(struct uart *u, unsigned reg, u8 v)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case REG_RBR:
		if (dlab)
			u->dll = v;
		else
			uart_transmit(u, v);
		break;
	case REG_IER:
		if (dlab) {
			u->dlm = v;
			break;
		}
		/*
		 * Enabling THRI while THR is empty raises the interrupt at once: real 16550As do,
		 * and Linux's THRE test (serial8250_do_startup) relies on it.
		 */
		if (v & IER_THRI & ~u->ier)
			u->thre_pending = true;
		u->ier = v & 0x0f;
		break;
	case REG_IIR:
		uart_write_fcr(u, v);
		break;
	case REG_LCR:
		u->lcr = v;
		break;
	case REG_MCR:
		u->mcr = v & 0x1f;
		uart_set_modem_inputs(u);
		break;
	case REG_SCR:
		u->scr = v;
		break;
	default: /* LSR and MSR writes are for factory testing only */
		break;
	}
}

static u8 uart_read_reg(struct uart *u, unsigned reg)
{
	bool dlab = u->lcr & LCR_DLAB;
	u8 v;

	switch (reg) {
	case REG_RBR:
		return dlab ? u->dll : uart_rx_pop(u);
	case REG_IER:
		return dlab ? u->dlm : u->ier;
	case REG_IIR:
		/* Reading IIR clears the THR-empty interrupt if that is what it reports. */
		v = uart_iid(u);
		if (v == IIR_THRI)
			u->thre_pending = false;
		return v | (uart_fifo_on(u) ? IIR_FIFO_ON : 0);
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		v = (u->rx_count ? LSR_DR : 0) | u->lsr_errors | LSR_THRE | LSR_TEMT;
		u->lsr_errors = 0;
		return v;
	case REG_MSR:
		v = u->msr;
		u->msr &= ~MSR_DELTAS;
		return v;
	default:
		return u->scr;
	}
}

static u32 uart_io_read(void *dev, u16 port, u32 size)
{
	struct uart *u = dev;
	u32 v = 0;

	for (u32 i = 0; i < size; i++)
		v |= (u32)uart_read_reg(u, (port + i - u->base) & 7) << (8 * i);
	uart_update_irq(u);
	return v;
}

static void uart_io_write(void *dev, u16 port, u32 size, u32 value)
{
	struct uart *u = dev;

	for (u32 i = 0; i < size; i++)
		uart_write_reg(u, (port + i - u->base) & 7, value >> (8 * i));
	uart_update_irq(u);
}

static const struct vdev_ops uart_ops = { .io_read = uart_io_read, .io_write = uart_io_write };

void uart_init(struct uart *uart, u16 base, unsigned irq, struct irq_line line,
	       void (*emit)(void *ctx, u8 byte), void *emit_ctx)
{
	*uart = (struct uart){
		.base = base, .irq = irq, .line = line, .emit = emit, .emit_ctx = emit_ctx,
		.dll = 1,
	};
	uart->msr = uart_modem_inputs(uart);
}

int uart_register(struct uart *uart, struct vdev_bus *bus)
{
	if (uart->base > 0xffff - 7)
		return -1;
	return vdev_register_ports(bus, uart->base, uart->base + 7, &uart_ops, uart, "uart");
}

bool uart_receive(struct uart *uart, u8 byte)
{
	bool stored;

	if (uart->mcr & MCR_LOOP)
		return false;
	stored = uart_rx_push(uart, byte);
	uart_update_irq(uart);
	return stored;
}
