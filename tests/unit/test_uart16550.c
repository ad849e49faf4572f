/* The 16550A at COM1, driven through its ports as Linux's 8250 driver does. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/uart16550.h>

#include "vdev_fuzz.h"

#define COM1 0x3f8
#define THR (COM1 + 0)
#define IER (COM1 + 1)
#define IIR (COM1 + 2)
#define LCR (COM1 + 3)
#define MCR (COM1 + 4)
#define LSR (COM1 + 5)
#define MSR (COM1 + 6)
#define SCR (COM1 + 7)

struct env {
	struct vdev_bus bus;
	struct uart uart;
	u8 sent[64];
	unsigned n_sent;
	bool level;
	unsigned edges, calls;
};

static void emit(void *ctx, u8 byte)
{
	struct env *e = ctx;

	if (e->n_sent < sizeof(e->sent))
		e->sent[e->n_sent] = byte;
	e->n_sent++;
}

static void line_set(void *ctx, unsigned irq, bool level)
{
	struct env *e = ctx;

	assert_int_equal(irq, 4);
	assert_true(level != e->level); /* the UART only reports changes */
	if (level)
		e->edges++;
	e->level = level;
	e->calls++;
}

static void setup(struct env *e)
{
	memset(e, 0, sizeof(*e));
	vdev_bus_init(&e->bus);
	uart_init(&e->uart, COM1, 4, (struct irq_line){ line_set, e }, emit, e);
	assert_int_equal(uart_register(&e->uart, &e->bus), 0);
}

static void out(struct env *e, u16 port, u8 v)
{
	vdev_io_write(&e->bus, port, 1, v);
}

static u8 in(struct env *e, u16 port)
{
	return vdev_io_read(&e->bus, port, 1);
}

static void reset_state(void **state)
{
	struct env e;

	setup(&e);
	assert_int_equal(in(&e, IER), 0x00);
	assert_int_equal(in(&e, IIR), 0x01);
	assert_int_equal(in(&e, LCR), 0x00);
	assert_int_equal(in(&e, MCR), 0x00);
	assert_int_equal(in(&e, LSR), 0x60);
	assert_int_equal(in(&e, MSR), 0xb0); /* CTS, DSR, DCD: a connected line */
	out(&e, LCR, 0x80);
	assert_int_equal(in(&e, THR), 1); /* divisor 1, never 0 */
	assert_int_equal(in(&e, IER), 0);
	assert_int_equal(e.calls, 0);
}

static void transmit(void **state)
{
	struct env e;
	static const char text[] = "Linux version";

	setup(&e);
	for (unsigned i = 0; i < sizeof(text) - 1; i++) {
		assert_int_equal(in(&e, LSR) & 0x60, 0x60);
		out(&e, THR, text[i]);
	}
	assert_int_equal(e.n_sent, sizeof(text) - 1);
	assert_memory_equal(e.sent, text, sizeof(text) - 1);
	/* A 16-bit OUT at THR also writes IER. */
	vdev_io_write(&e.bus, THR, 2, 0x0f21);
	assert_int_equal(e.sent[e.n_sent - 1], 0x21);
	assert_int_equal(in(&e, IER), 0x0f);
}

static void divisor_latch(void **state)
{
	struct env e;

	setup(&e);
	/* Kestrel's own serial_init(): 115200 8N1. */
	out(&e, IER, 0x00);
	out(&e, LCR, 0x80);
	out(&e, THR, 0x0c); /* 9600 baud */
	out(&e, IER, 0x00);
	out(&e, LCR, 0x03);
	assert_int_equal(in(&e, LCR), 0x03);
	assert_int_equal(in(&e, IER), 0x00);
	out(&e, IER, 0x05);
	out(&e, LCR, 0x83);
	assert_int_equal(in(&e, THR), 0x0c);
	assert_int_equal(in(&e, IER), 0x00);
	out(&e, IER, 0x01);
	out(&e, LCR, 0x03);
	assert_int_equal(in(&e, IER), 0x05); /* IER kept under DLAB */
	assert_int_equal(e.n_sent, 0); /* DLL writes are not data */
	out(&e, LCR, 0x80);
	assert_int_equal(vdev_io_read(&e.bus, THR, 2), 0x010c);
	/* Upper IER bits do not exist on a 16550A. */
	out(&e, LCR, 0x03);
	out(&e, IER, 0xf0);
	assert_int_equal(in(&e, IER), 0x00);
	out(&e, SCR, 0xa5);
	assert_int_equal(in(&e, SCR), 0xa5);
}

static void thre_interrupt(void **state)
{
	struct env e;

	setup(&e);
	out(&e, MCR, 0x0b); /* DTR, RTS, OUT2 */
	assert_false(e.level);

	/* Linux's UART_BUG_THRE probe: enabling THRI raises it, IIR read clears it. */
	out(&e, IER, 0x02);
	assert_true(e.level);
	assert_int_equal(in(&e, IIR), 0x02);
	assert_false(e.level);
	assert_int_equal(in(&e, IIR), 0x01);
	out(&e, IER, 0x00);
	out(&e, IER, 0x02);
	assert_int_equal(in(&e, IIR), 0x02);
	assert_int_equal(in(&e, IIR), 0x01);
	/* Rewriting IER with THRI already on is no new event. */
	out(&e, IER, 0x02);
	assert_int_equal(in(&e, IIR), 0x01);

	/* A THR write clears it, the byte leaves at once, THR empties: raised again. */
	assert_int_equal(e.edges, 2);
	out(&e, THR, 'x');
	assert_true(e.level);
	assert_int_equal(e.edges, 3);
	out(&e, THR, 'y'); /* pending and not read: the line drops and rises, a new edge */
	assert_int_equal(e.edges, 4);
	assert_int_equal(in(&e, IIR), 0x02);
	assert_false(e.level);
	out(&e, IER, 0x00);
	out(&e, THR, 'z');
	assert_false(e.level);
	assert_int_equal(in(&e, IIR), 0x01);
	assert_int_equal(e.n_sent, 3);
}

static void out2_gates_the_line(void **state)
{
	struct env e;

	setup(&e);
	out(&e, IER, 0x02);
	assert_int_equal(in(&e, IIR) & 0x0f, 0x02); /* pending, but OUT2 is off */
	out(&e, IER, 0x00);
	out(&e, IER, 0x03);
	assert_false(e.level);
	out(&e, MCR, 0x08);
	assert_true(e.level);
	out(&e, MCR, 0x00);
	assert_false(e.level);
	out(&e, MCR, 0x08);
	assert_true(uart_receive(&e.uart, 'a'));
	assert_true(e.level);
	assert_int_equal(in(&e, IIR), 0x04);
}

static void interrupt_priorities(void **state)
{
	struct env e;

	setup(&e);
	out(&e, MCR, 0x08);
	/* 16450 mode: a second byte overruns the holding register. */
	assert_true(uart_receive(&e.uart, '1'));
	assert_false(uart_receive(&e.uart, '2'));
	out(&e, MCR, 0x10); /* loopback with every output off: the inputs all change */
	out(&e, MCR, 0x08);
	out(&e, IER, 0x0f);
	assert_true(e.level);
	assert_int_equal(in(&e, IIR), 0x06); /* line status */
	assert_int_equal(in(&e, LSR), 0x63); /* DR, OE; reading clears OE */
	assert_int_equal(in(&e, IIR), 0x04); /* received data */
	assert_int_equal(in(&e, THR), '2'); /* the overrun replaced the unread byte */
	assert_int_equal(in(&e, LSR), 0x60);
	assert_int_equal(in(&e, IIR), 0x02); /* THR empty; this read clears it */
	assert_int_equal(in(&e, IIR), 0x00); /* modem status */
	assert_int_equal(in(&e, MSR) & 0x0f, 0x0b); /* DCTS, DDSR, DDCD */
	assert_int_equal(in(&e, IIR), 0x01);
	assert_false(e.level);
	assert_int_equal(in(&e, MSR), 0xb0);
}

static void rx_fifo_and_overrun(void **state)
{
	struct env e;

	setup(&e);
	out(&e, MCR, 0x08);
	out(&e, IER, 0x01);
	out(&e, 0x3fa, 0xc7); /* FIFOs on and cleared, trigger 14 (Kestrel's serial_init) */
	assert_int_equal(in(&e, IIR), 0xc1);
	for (unsigned i = 0; i < 13; i++)
		assert_true(uart_receive(&e.uart, 'a' + i));
	assert_int_equal(in(&e, IIR), 0xcc); /* below the trigger: character timeout */
	assert_true(uart_receive(&e.uart, 'a' + 13));
	assert_int_equal(in(&e, IIR), 0xc4); /* at the trigger level */
	assert_true(uart_receive(&e.uart, 'a' + 14));
	assert_true(uart_receive(&e.uart, 'a' + 15));
	assert_false(uart_receive(&e.uart, '!')); /* the 17th byte is lost */
	assert_int_equal(in(&e, LSR), 0x63);
	assert_int_equal(in(&e, LSR), 0x61);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(in(&e, THR), 'a' + i);
	assert_int_equal(in(&e, LSR), 0x60);
	assert_int_equal(in(&e, THR), 0); /* reading an empty FIFO */
	assert_int_equal(in(&e, IIR), 0xc1);
	assert_false(e.level);

	/* Ring wrap-around and FIFO clearing. */
	for (unsigned round = 0; round < 5; round++) {
		for (unsigned i = 0; i < 7; i++)
			assert_true(uart_receive(&e.uart, round * 7 + i));
		for (unsigned i = 0; i < 7; i++)
			assert_int_equal(in(&e, THR), round * 7 + i);
	}
	uart_receive(&e.uart, 'q');
	out(&e, 0x3fa, 0x03); /* clear RX, trigger 1 */
	assert_int_equal(in(&e, LSR) & 0x01, 0);
	assert_true(uart_receive(&e.uart, 'r'));
	assert_int_equal(in(&e, IIR), 0xc4);
	/* Turning the FIFOs off clears them too, and FCR's other bits need FCR0. */
	out(&e, 0x3fa, 0xc0);
	assert_int_equal(in(&e, LSR), 0x60);
	assert_int_equal(in(&e, IIR), 0x01);
}

static void loopback(void **state)
{
	struct env e;

	setup(&e);
	/* Linux's autoconfig loopback test. */
	out(&e, MCR, 0x1a); /* LOOP | OUT2 | RTS */
	assert_int_equal(in(&e, MSR) & 0xf0, 0x90);
	out(&e, MCR, 0x1f);
	assert_int_equal(in(&e, MSR) & 0xf0, 0xf0);
	out(&e, MCR, 0x10);
	assert_int_equal(in(&e, MSR), 0x0f); /* all inputs fell: DCTS, DDSR, TERI, DDCD */

	/* The transmitter feeds the receiver and nothing leaves. */
	out(&e, 0x3fa, 0x01);
	out(&e, IER, 0x01);
	out(&e, MCR, 0x18);
	out(&e, THR, 0x55);
	out(&e, THR, 0xaa);
	assert_int_equal(e.n_sent, 0);
	assert_int_equal(in(&e, IIR), 0xc4);
	assert_false(e.level); /* OUT2 is not on the pin in loopback */
	assert_false(uart_receive(&e.uart, 0x11)); /* the serial input is cut off */
	assert_int_equal(in(&e, THR), 0x55);
	assert_int_equal(in(&e, THR), 0xaa);
	assert_int_equal(in(&e, LSR), 0x60);

	/* Back to normal: the line comes back and the modem inputs with it. */
	out(&e, THR, 0x77);
	out(&e, MCR, 0x08);
	assert_true(e.level);
	assert_int_equal(in(&e, THR), 0x77);
	assert_false(e.level);
	assert_int_equal(in(&e, MSR), 0xbb);
	out(&e, THR, 0x66);
	assert_int_equal(e.sent[0], 0x66);
}

static void bad_bases_refused(void **state)
{
	struct uart u;
	struct vdev_bus bus;

	vdev_bus_init(&bus);
	uart_init(&u, 0xfffc, 3, (struct irq_line){ 0 }, NULL, NULL);
	assert_int_equal(uart_register(&u, &bus), -1);
	uart_init(&u, 0xfff8, 3, (struct irq_line){ 0 }, NULL, NULL);
	assert_int_equal(uart_register(&u, &bus), 0);
	assert_int_equal(uart_register(&u, &bus), -1);
	/* Unconnected line and no output: still a working UART. */
	vdev_io_write(&bus, 0xfff8 + 1, 1, 0x0f);
	vdev_io_write(&bus, 0xfff8 + 4, 1, 0x08);
	vdev_io_write(&bus, 0xfff8, 1, 'x');
	assert_int_equal(vdev_io_read(&bus, 0xfff8 + 2, 1), 0x02);
}

struct fuzz_uart {
	u64 before;
	struct env e;
	u64 after;
};

/* Bytes arrive at random from the host side. */
static void uart_poke(void *ctx, u32 r)
{
	struct env *e = &((struct fuzz_uart *)ctx)->e;

	if (r % 4 == 0)
		uart_receive(&e->uart, r >> 8);
}

static void hostile_accesses(void **state)
{
	static const u16 ports[][2] = { { COM1, COM1 + 7 } };
	static struct fuzz_uart w;
	struct fuzz_target t = { .ports = ports, .n_ports = 1, .poke = uart_poke, .ctx = &w };

	w.before = w.after = FUZZ_CANARY;
	setup(&w.e);
	assert_int_equal(vdev_fuzz(&w.e.bus, &t, 0x16550), 0);
	assert_true(w.before == FUZZ_CANARY && w.after == FUZZ_CANARY);
	assert_true(w.e.uart.rx_count <= UART_FIFO_SIZE && w.e.uart.rx_head < UART_FIFO_SIZE);
	assert_true(w.e.n_sent > 0 && w.e.edges > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reset_state),
		cmocka_unit_test(transmit),
		cmocka_unit_test(divisor_latch),
		cmocka_unit_test(thre_interrupt),
		cmocka_unit_test(out2_gates_the_line),
		cmocka_unit_test(interrupt_priorities),
		cmocka_unit_test(rx_fifo_and_overrun),
		cmocka_unit_test(loopback),
		cmocka_unit_test(bad_bases_refused),
		cmocka_unit_test(hostile_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
