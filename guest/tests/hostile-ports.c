/*
 * hostile-ports: every one of the 65 536 I/O ports, with IN and OUT of 1, 2 and 4 bytes (so
 * also the accesses that straddle two devices or run past port 0xffff), written with values
 * from a fixed PRNG. Every port exits to Kestrel (its I/O bitmaps are all ones) and must be
 * answered by this guest's own virtual PC or read as all ones: the host's UART, PIC, PIT and
 * PCI configuration space are never reached.
 *
 * Three bits are masked in the written values, because Kestrel rightly ends the guest on them
 * and the guest is meant to power off with status 0 at the end: port 0x92 bit 0 (fast reset),
 * 0xcf9 bit 2 (PCI reset control, RST_CPU) and 0x605 bit 5 (PM1a_CNT.SLP_EN, the ACPI power-off
 * of this platform, PM block at 0x600). While the sweep is on the guest's own UART (0x3f0-0x3ff)
 * the UART is in loopback (MCR bit 4 kept set), so the random bytes written to THR do not end up
 * on the console; it is initialised again afterwards.
 *
 * Then string I/O: REP INS/OUTS over page boundaries, backwards (DF = 1), into a read-only page
 * and into a not-present page (Kestrel must raise #PF in the guest, as the CPU would, and not
 * write), with the registers checked afterwards. Prints the figures and powers off with 0.
 * Under Kestrel only (natively it would reprogram the emulator's real devices).
 */
#include <kestrel/string.h>
#include "guest.h"

const char guest_name[] = "hostile-ports";

#define COM1 0x3f8
#define UART_MCR_LOOP 0x10
#define PROGRESS_EVERY 0x4000
#define PF_P 1
#define PF_W 2

static u64 rng = 0x706f727473ull;
static u64 masked_bytes;

/* Clear the bits that would reset or power off this guest; keep the UART in loopback. */
static u32 make_safe(u32 port, u32 size, u32 value)
{
	for (u32 i = 0; i < size; i++) {
		u32 shift = 8 * i, byte = (value >> shift) & 0xff, safe = byte;

		switch (port + i) {
		case 0x92:
			safe &= ~0x01u;
			break;
		case 0xcf9:
			safe &= ~0x04u;
			break;
		case 0x605:
			safe &= ~0x20u;
			break;
		case COM1 + 4:
			safe |= UART_MCR_LOOP;
			break;
		}
		if (safe != byte) {
			masked_bytes++;
			value = (value & ~(0xffu << shift)) | (safe << shift);
		}
	}
	return value;
}

static u32 port_in(u16 port, u32 size)
{
	return size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
}

static void port_out(u16 port, u32 size, u32 value)
{
	if (size == 1)
		outb(port, (u8)value);
	else if (size == 2)
		outw(port, (u16)value);
	else
		outl(port, value);
}

/* Ports that answered a byte read with something other than 0xff, as ranges. */
struct port_range {
	u16 first, last;
};

static struct port_range answered[64];
static unsigned n_answered;
static u64 answered_ports;

static void note_answer(u16 port)
{
	answered_ports++;
	if (n_answered && answered[n_answered - 1].last + 1 == port) {
		answered[n_answered - 1].last = port;
		return;
	}
	if (n_answered < ARRAY_SIZE(answered))
		answered[n_answered++] = (struct port_range){ port, port };
}

static void sweep(void)
{
	u64 reads = 0, writes = 0, start = rdtsc();

	for (u32 port = 0; port <= 0xffff; port++) {
		if (port == COM1 - 8)
			outb(COM1 + 4, UART_MCR_LOOP); /* loopback before any access reaches COM1 */
		for (u32 size = 1; size <= 4; size *= 2) {
			u32 v = port_in((u16)port, size);

			if (size == 1 && (v & 0xff) != 0xff)
				note_answer((u16)port);
			reads++;
			port_out((u16)port, size, make_safe(port, size, (u32)guest_rand(&rng)));
			writes++;
		}
		if (port == COM1 + 8 || (port + 1) % PROGRESS_EVERY == 0) {
			guest_uart_init(); /* back from loopback (and whatever else was written) */
			if ((port + 1) % PROGRESS_EVERY == 0)
				guest_printf("hostile-ports: ... up to port 0x%x\n", port);
		}
	}
	guest_uart_init();
	pic_mask_all();
	guest_printf("hostile-ports: probed 65536 ports with sizes 1/2/4: %llu IN, %llu OUT in %llu "
		     "ms; %llu byte(s) masked (reset / power-off / loopback bits)\n", reads, writes,
		     (rdtsc() - start) / guest_tsc_khz(), masked_bytes);
	guest_printf("hostile-ports: %llu ports answered a byte read with something else than "
		     "0xff:", answered_ports);
	for (unsigned i = 0; i < n_answered; i++)
		if (answered[i].first == answered[i].last)
			guest_printf(" 0x%x", answered[i].first);
		else
			guest_printf(" 0x%x-0x%x", answered[i].first, answered[i].last);
	guest_printf("%s\n", n_answered == ARRAY_SIZE(answered) ? " ..." : "");
	guest_check(reads == 3 * 65536 && writes == 3 * 65536, "all-ports", "%llu IN, %llu OUT",
		    reads, writes);
	/* The guest's own platform answers; the bulk of the space floats. */
	guest_check(answered_ports > 0 && answered_ports < 4096, "unclaimed-float",
		    "%llu ports answered", answered_ports);
}

/* --- string I/O ----------------------------------------------------------------------------- */
static u8 buf[4 * 4096] __attribute__((aligned(4096)));

struct string_regs {
	u64 rdi, rsi, rcx;
	int fault;
};

static struct string_regs rep_insb(u16 port, void *dst, u64 count, bool backwards)
{
	struct string_regs r = { (u64)(uintptr_t)dst, 0, count, NO_FAULT };
	u64 before = guest_fault.count;

	__asm__ volatile("test %[back], %[back]\n\t"
			 "jz 0f\n\t"
			 "std\n"
			 "0:\n"
			 "1: rep insb\n"
			 "2: cld" GUEST_EXTABLE(1b, 2b)
			 : "+D"(r.rdi), "+c"(r.rcx)
			 : "d"(port), [back] "r"((u64)backwards)
			 : "memory", "cc");
	r.fault = guest_fault.count != before ? (int)guest_fault.vector : NO_FAULT;
	return r;
}

static struct string_regs rep_outsw(u16 port, const void *src, u64 count)
{
	struct string_regs r = { 0, (u64)(uintptr_t)src, count, NO_FAULT };
	u64 before = guest_fault.count;

	__asm__ volatile("1: rep outsw\n2:" GUEST_EXTABLE(1b, 2b)
			 : "+S"(r.rsi), "+c"(r.rcx)
			 : "d"(port)
			 : "memory");
	r.fault = guest_fault.count != before ? (int)guest_fault.vector : NO_FAULT;
	return r;
}

static bool all_bytes(const u8 *p, size_t n, u8 v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void string_io(void)
{
	u8 value = inb(0x80); /* the POST port reads 0xff: what every INS element must store */
	struct string_regs r;
	u64 base = (u64)(uintptr_t)buf, n;
	u64 *pte;

	/* Forward over three page boundaries. */
	memset(buf, 0, sizeof(buf));
	n = 3 * 4096 + 5;
	r = rep_insb(0x80, buf + 100, n, false);
	guest_check(r.fault == NO_FAULT && r.rcx == 0 && r.rdi == base + 100 + n &&
			    all_bytes(buf + 100, n, value) && buf[99] == 0 && buf[100 + n] == 0,
		    "rep-insb", "fault %d, RCX 0x%llx, RDI 0x%llx (want 0x%llx)", r.fault, r.rcx,
		    r.rdi, base + 100 + n);

	/* Backwards (DF = 1) from the last byte of the buffer down over two boundaries. */
	memset(buf, 0, sizeof(buf));
	n = 2 * 4096 + 7;
	r = rep_insb(0x80, buf + sizeof(buf) - 1, n, true);
	guest_check(r.fault == NO_FAULT && r.rcx == 0 && r.rdi == base + sizeof(buf) - 1 - n &&
			    all_bytes(buf + sizeof(buf) - n, n, value) &&
			    buf[sizeof(buf) - n - 1] == 0,
		    "rep-insb-backwards", "fault %d, RCX 0x%llx, RDI 0x%llx (want 0x%llx)", r.fault,
		    r.rcx, r.rdi, base + sizeof(buf) - 1 - n);

	/* Many elements out: restarted by Kestrel a page-bounded chunk at a time. */
	r = rep_outsw(0xed, buf, sizeof(buf) / 2);
	guest_check(r.fault == NO_FAULT && r.rcx == 0 && r.rsi == base + sizeof(buf), "rep-outsw",
		    "fault %d, RCX 0x%llx, RSI 0x%llx", r.fault, r.rcx, r.rsi);

	/* A count of zero does nothing. */
	buf[0] = 0x11;
	r = rep_insb(0x80, buf, 0, false);
	guest_check(r.fault == NO_FAULT && r.rdi == base && buf[0] == 0x11, "rep-insb-zero",
		    "fault %d, RDI 0x%llx", r.fault, r.rdi);

	/* Into a read-only page (CR0.WP = 1): #PF, error P|W, CR2 the first byte of that page,
	 * and the elements before it done. */
	memset(buf, 0, sizeof(buf));
	pte = guest_pte(base + 4096);
	*pte &= ~PTE_W;
	invlpg(base + 4096);
	r = rep_insb(0x80, buf + 4096 - 16, 64, false);
	*pte |= PTE_W;
	invlpg(base + 4096);
	guest_check(r.fault == 14 && (guest_fault.error & (PF_P | PF_W)) == (PF_P | PF_W) &&
			    guest_fault.cr2 == base + 4096 && r.rcx == 64 - 16 &&
			    r.rdi == base + 4096 && all_bytes(buf + 4096 - 16, 16, value) &&
			    all_bytes(buf + 4096, 64, 0),
		    "rep-insb-readonly-pf", "fault %d error 0x%llx CR2 0x%llx, RCX 0x%llx RDI 0x%llx",
		    r.fault, guest_fault.error, guest_fault.cr2, r.rcx, r.rdi);

	/* Out of a page that is not present: #PF (error 0, a read), nothing written. */
	guest_set_page_present(base + 2 * 4096, false);
	r = rep_outsw(0xed, buf + 2 * 4096 - 8, 16);
	guest_set_page_present(base + 2 * 4096, true);
	guest_check(r.fault == 14 && (guest_fault.error & (PF_P | PF_W)) == 0 &&
			    guest_fault.cr2 == base + 2 * 4096 && r.rcx == 12,
		    "rep-outsw-notpresent-pf", "fault %d error 0x%llx CR2 0x%llx, RCX 0x%llx",
		    r.fault, guest_fault.error, guest_fault.cr2, r.rcx);
}

void guest_main(void)
{
	if (!guest_kestrel_only("hostile-ports"))
		return;
	sweep();
	string_io();
}
