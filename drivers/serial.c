/* COM1 (16550A), polled: 115200 baud, 8N1, FIFOs on. */
#include <kestrel/cpu.h>
#include <kestrel/serial.h>

#define UART_THR 0 /* transmit holding (DLAB=0) */
#define UART_DLL 0 /* divisor low (DLAB=1) */
#define UART_IER 1
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_THR_EMPTY 0x20
#define LCR_DLAB 0x80
#define LCR_8N1 0x03

/* An absent UART reads 0xff (THR empty) and a wedged one never drains: bound the wait. */
#define TX_SPIN_LIMIT 100000

void serial_init(void)
{
	outb(COM1_PORT + UART_IER, 0x00);
	outb(COM1_PORT + UART_LCR, LCR_DLAB);
	outb(COM1_PORT + UART_DLL, 1); /* 115200 = 1.8432 MHz / 16 / 1 */
	outb(COM1_PORT + UART_DLM, 0);
	outb(COM1_PORT + UART_LCR, LCR_8N1);
	outb(COM1_PORT + UART_FCR, 0xc7); /* enable + clear FIFOs, 14-byte threshold */
	outb(COM1_PORT + UART_MCR, 0x03); /* DTR, RTS */
}

static void serial_putc(char c)
{
	for (int spin = 0; spin < TX_SPIN_LIMIT; spin++) {
		if (inb(COM1_PORT + UART_LSR) & LSR_THR_EMPTY)
			break;
		cpu_relax();
	}
	outb(COM1_PORT + UART_THR, (u8)c);
}

void serial_write(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n')
			serial_putc('\r');
		serial_putc(text[i]);
	}
}
