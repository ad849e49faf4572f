/* COM1 (16550A), polled: 115200 baud, 8N1, FIFOs on; buffered while guests run. */
#include <kestrel/cpu.h>
#include <kestrel/serial.h>

#define UART_THR 0 /* transmit holding (DLAB=0) */
#define UART_DLL 0 /* divisor low (DLAB=1) */
#define UART_IER 1
#define UART_DLM 1
#define UART_FCR 2
#define UART_IIR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_RBR 0 /* receive buffer (DLAB=0) */
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define LSR_TX_IDLE 0x40 /* TEMT: holding and shift registers empty */
#define LCR_DLAB 0x80
#define LCR_8N1 0x03
#define IIR_FIFO_ENABLED 0xc0
#define FIFO_DEPTH 16

/* An absent UART reads 0xff (THR empty) and a wedged one never drains: bound the wait. */
#define TX_SPIN_LIMIT 100000
#define BUFFER_SIZE 65536 /* a power of two */

static char buffer[BUFFER_SIZE];
static u32 head, tail; /* free-running; head - tail bytes are queued */
static bool buffered;
bool serial_backlog;
static u32 tx_burst = 1; /* bytes the UART takes when THR is empty: 16 with a FIFO */

void serial_init(void)
{
	outb(COM1_PORT + UART_IER, 0x00);
	outb(COM1_PORT + UART_LCR, LCR_DLAB);
	outb(COM1_PORT + UART_DLL, 1); /* 115200 = 1.8432 MHz / 16 / 1 */
	outb(COM1_PORT + UART_DLM, 0);
	outb(COM1_PORT + UART_LCR, LCR_8N1);
	outb(COM1_PORT + UART_FCR, 0xc7); /* enable + clear FIFOs, 14-byte threshold */
	outb(COM1_PORT + UART_MCR, 0x03); /* DTR, RTS */
	/* An 8250/16450 has no FIFO: IIR bits 7:6 stay 0 and it takes one byte at a time. */
	tx_burst = (inb(COM1_PORT + UART_IIR) & IIR_FIFO_ENABLED) == IIR_FIFO_ENABLED ? FIFO_DEPTH
										     : 1;
}

static bool wait_lsr(u8 bits)
{
	for (int spin = 0; spin < TX_SPIN_LIMIT; spin++) {
		if ((inb(COM1_PORT + UART_LSR) & bits) == bits)
			return true;
		cpu_relax();
	}
	return false;
}

static void put_wire(char c)
{
	wait_lsr(LSR_THR_EMPTY);
	outb(COM1_PORT + UART_THR, (u8)c);
}

bool serial_poll(void)
{
	if (head == tail)
		return false;
	if (!(inb(COM1_PORT + UART_LSR) & LSR_THR_EMPTY))
		return true;
	for (u32 n = 0; n < tx_burst && head != tail; n++)
		outb(COM1_PORT + UART_THR, (u8)buffer[tail++ % BUFFER_SIZE]);
	serial_backlog = head != tail;
	return serial_backlog;
}

int serial_read_byte(void)
{
	if (!(inb(COM1_PORT + UART_LSR) & LSR_DATA_READY))
		return -1;
	return inb(COM1_PORT + UART_RBR);
}

void serial_flush(void)
{
	while (head != tail)
		put_wire(buffer[tail++ % BUFFER_SIZE]);
	serial_backlog = false;
	wait_lsr(LSR_TX_IDLE);
}

void serial_set_buffered(bool on)
{
	if (!on)
		serial_flush();
	buffered = on;
}

static void put(char c)
{
	if (!buffered) {
		put_wire(c);
		return;
	}
	if (head - tail == BUFFER_SIZE)
		put_wire(buffer[tail++ % BUFFER_SIZE]); /* full: make room at the wire's pace */
	buffer[head++ % BUFFER_SIZE] = c;
	serial_backlog = true;
}

void serial_write(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n')
			put('\r');
		put(text[i]);
	}
}
