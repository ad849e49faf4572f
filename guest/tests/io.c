/*
 * io: port I/O through Kestrel's device model. Console output (plain OUTs and a REP OUTSB that
 * Kestrel must split into bytes), the UART's scratch and line-status registers, a port no
 * device claims (reads all ones at every size, also through REP INSB), and string I/O whose
 * operand crosses into a page mapped somewhere else in guest-physical memory.
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

/*
 * Linear pages A, A+1 of `area` with A+1 mapped to C = the third page: a REP INSB run and a
 * word INSW element that cross from A into A+1 must land in C, not in the page physically
 * after A. The UART gives known bytes: SCR (0x3ff) and, below it, the modem status register.
 */
static void check_string_across_pages(void)
{
	static u8 area[3][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
	u64 *pte = guest_pte((u64)(uintptr_t)area[1]);
	u64 saved = *pte;
	u8 *p = &area[0][PAGE_SIZE - 4];
	u64 n = 8;
	u8 msr = inb(UART_SCR - 1);
	bool run_ok, word_ok;

	memset(area, 0, sizeof(area));
	outb(UART_SCR, 0xa5);
	*pte = (saved & ~0x000ffffffffff000ull) | (u64)(uintptr_t)area[2];
	invlpg((u64)(uintptr_t)area[1]);
	__asm__ volatile("rep insb" : "+D"(p), "+c"(n) : "d"((u16)UART_SCR) : "memory");
	run_ok = n == 0 && area[0][PAGE_SIZE - 1] == 0xa5 && area[2][0] == 0xa5 &&
		 area[2][3] == 0xa5 && area[2][4] == 0;
	memset(area[2], 0, 8);
	p = &area[0][PAGE_SIZE - 1];
	__asm__ volatile("insw" : "+D"(p) : "d"((u16)(UART_SCR - 1)) : "memory");
	word_ok = area[0][PAGE_SIZE - 1] == msr && area[2][0] == 0xa5;
	*pte = saved;
	invlpg((u64)(uintptr_t)area[1]);
	guest_check(run_ok && word_ok && area[1][0] == 0, "string-across-pages",
		    "REP INSB: RCX %llu, A[4095] 0x%x, C[0] 0x%x; INSW: A[4095] 0x%x (MSR 0x%x); "
		    "the page after A: 0x%x (want 0)", n, area[0][PAGE_SIZE - 1], area[2][0],
		    area[0][PAGE_SIZE - 1], msr, area[1][0]);
}

void guest_main(void)
{
	guest_printf("io: the quick brown fox jumps over the lazy dog 0123456789\n");
	check_rep_outsb();
	check_uart_registers();
	check_unclaimed();
	check_string_across_pages();
}
