/*
 * io: port I/O through Kestrel's device model. Console output (plain OUTs and a REP OUTSB that
 * Kestrel must split into bytes), the UART's scratch and line-status registers, and a port no
 * device claims: reads all ones at every size, also through REP INSB.
 */
#include <kestrel/string.h>
#include "guest.h"

const char guest_name[] = "io";

#define COM1 0x3f8
#define UART_LSR (COM1 + 5)
#define UART_SCR (COM1 + 7)
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define UNCLAIMED_PORT 0x3e0

static void wait_thr_empty(void)
{
	for (unsigned i = 0; i < 1000000; i++)
		if (inb(UART_LSR) & LSR_THRE)
			return;
}

static void check_rep_outsb(void)
{
	/* At most 16 bytes, so a real 16550's FIFO takes them all without waiting. */
	static const char text[] = "io: rep outsb\n";
	const char *p = text;
	u64 n = sizeof(text) - 1;

	guest_flush();
	wait_thr_empty();
	__asm__ volatile("rep outsb" : "+S"(p), "+c"(n) : "d"((u16)COM1) : "memory");
	guest_check(n == 0 && p == text + sizeof(text) - 1, "rep-outsb",
		    "RCX %llu and RSI at offset %lld after REP OUTSB, want 0 and %zu", n,
		    (long long)(p - text), sizeof(text) - 1);
}

static void check_uart_registers(void)
{
	u8 a, b, lsr = 0;

	outb(UART_SCR, 0x5a);
	a = inb(UART_SCR);
	outb(UART_SCR, 0xa5);
	b = inb(UART_SCR);
	guest_check(a == 0x5a && b == 0xa5, "uart-scratch", "wrote 0x5a, 0xa5; read 0x%x, 0x%x", a, b);

	guest_flush();
	for (unsigned i = 0; i < 1000000; i++)
		if ((lsr = inb(UART_LSR)) & LSR_THRE)
			break;
	guest_check(lsr & LSR_THRE, "uart-lsr-thre", "LSR 0x%x: THR-empty never set", lsr);
}

static void check_unclaimed(void)
{
	u8 b = inb(UNCLAIMED_PORT);
	u16 w = inw(UNCLAIMED_PORT);
	u32 l = inl(UNCLAIMED_PORT);
	u8 buf[16];
	u8 *p = buf;
	u64 n = sizeof(buf);
	size_t ones = 0;

	/* Writes go nowhere (and must not end the guest). */
	outb(UNCLAIMED_PORT, 0x12);
	outw(UNCLAIMED_PORT, 0x1234);
	outl(UNCLAIMED_PORT, 0x12345678);

	guest_check(b == 0xff && w == 0xffff && l == 0xffffffffu, "unclaimed-in",
		    "port 0x%x: inb 0x%x, inw 0x%x, inl 0x%x; want all ones", UNCLAIMED_PORT, b, w, l);

	memset(buf, 0, sizeof(buf));
	__asm__ volatile("rep insb" : "+D"(p), "+c"(n) : "d"((u16)UNCLAIMED_PORT) : "memory");
	for (size_t i = 0; i < sizeof(buf); i++)
		ones += buf[i] == 0xff;
	guest_check(n == 0 && ones == sizeof(buf), "unclaimed-rep-insb",
		    "REP INSB of %zu bytes: %zu read as 0xff, RCX %llu left", sizeof(buf), ones, n);
}

void guest_main(void)
{
	guest_printf("io: the quick brown fox jumps over the lazy dog 0123456789\n");
	check_rep_outsb();
	check_uart_registers();
	check_unclaimed();
}
