/*
 * hostile-memory: sweeps the guest-physical address space. Kestrel maps only the guest's RAM
 * (at GPA 0) in its EPT, plus two emulated MMIO pages (local APIC 0xfee00000, IOAPIC
 * 0xfec00000); any other GPA must end this guest with an EPT violation, whatever sits at that
 * address in host-physical memory (Kestrel's pool, another guest's RAM, firmware).
 *
 *  1. Its own RAM: every 4 KiB page above its image is written (two words) and read back, and
 *     the image itself is read.
 *  2. The emulated MMIO pages: every 32-bit register of the local APIC page is read and written
 *     with a value from a fixed PRNG, and every IOAPIC register index through IOREGSEL/IOWIN.
 *  3. The sweep outside RAM: from `first` (default: the end of RAM rounded up to 2 MiB) every
 *     2 MiB up to 4 GiB, then 4, 8, 16 GiB ... doubling up to the top of the physical-address
 *     width (CPUID 0x80000008), and the last 2 MiB below it. Each probe is announced first
 *     ("probing GPA 0x... (write)") through a 2 MiB window in the guest's own page tables, so
 *     the access really is issued for that GPA. The first one that is neither RAM nor an
 *     emulated MMIO page ends the guest: the case compares Kestrel's report with the last
 *     announced GPA. The LAPIC and IOAPIC pages lie on the 2 MiB grid and are emulated: the
 *     sweep goes on past them.
 *
 * Command line: first=HEX|top  (top: the last 2 MiB below the physical-address width)
 *               access=write|read|exec|walk|ins|outs  (walk: the window's PDE points at a page
 *               table located at the probed GPA, so the EPT violation happens during the
 *               guest's own page walk; ins/outs: REP INSB/OUTSB with the buffer there, so that
 *               Kestrel's string-I/O emulation makes the access, not the CPU)
 * Under Kestrel only; natively it prints SKIP and stops.
 */
#include <kestrel/string.h>
#include "guest.h"

const char guest_name[] = "hostile-memory";

extern const char __image_start[], __image_end[];
extern u64 guest_pd[]; /* entry.asm: 2048 PDEs, 2 MiB each, identity over 4 GiB */

#define WINDOW_VA 0xc0000000ull /* 3 GiB: never RAM here; its PDE is re-pointed per probe */
#define LAPIC_GPA 0xfee00000ull
#define IOAPIC_GPA 0xfec00000ull
#define PDE_ADDR_MASK 0x000fffffffe00000ull
#define PTE_ADDR_MASK 0x000ffffffffff000ull

enum access { ACCESS_WRITE, ACCESS_READ, ACCESS_EXEC, ACCESS_WALK, ACCESS_INS, ACCESS_OUTS };
static const char *const access_names[] = { "write", "read", "exec", "walk", "ins", "outs" };

static volatile u64 nmis;
static u64 rng = 0x6d656d6f7279ull;

static bool swallow_nmi(struct trap_frame *f)
{
	if (f->vector != 2)
		return false;
	nmis++; /* a random ICR write may send this guest an NMI: not a failure */
	return true;
}

/* --- 1. own RAM --------------------------------------------------------------------------- */
static void sweep_own_ram(u64 ram_end)
{
	u64 start = ALIGN_UP((u64)(uintptr_t)__image_end, PAGE_SIZE), pages = 0, bad = 0, sum = 0;

	for (const volatile u64 *p = (const u64 *)(uintptr_t)__image_start;
	     (uintptr_t)p < (uintptr_t)__image_end; p++)
		sum += *p;
	for (u64 a = start; a + PAGE_SIZE <= ram_end; a += PAGE_SIZE) {
		volatile u64 *first = (u64 *)(uintptr_t)a, *last = (u64 *)(uintptr_t)(a + PAGE_SIZE - 8);

		*first = a ^ 0x5a5a5a5a5a5a5a5aull;
		*last = ~a;
		if (*first != (a ^ 0x5a5a5a5a5a5a5a5aull) || *last != ~a)
			bad++;
		pages++;
	}
	guest_printf("hostile-memory: own RAM: image 0x%llx-0x%llx read (sum 0x%llx), %llu pages "
		     "0x%llx-0x%llx written and read back, %llu wrong\n",
		     (u64)(uintptr_t)__image_start, (u64)(uintptr_t)__image_end, sum, pages, start,
		     ram_end, bad);
	guest_check(pages > 0 && bad == 0, "own-ram", "%llu of %llu pages did not keep a write",
		    bad, pages);
}

/* --- 2. the emulated MMIO pages ----------------------------------------------------------- */
static void sweep_mmio(void)
{
	volatile u32 *lapic = (u32 *)(uintptr_t)LAPIC_GPA;
	volatile u32 *ioregsel = (u32 *)(uintptr_t)IOAPIC_GPA;
	volatile u32 *iowin = (u32 *)(uintptr_t)(IOAPIC_GPA + 0x10);
	u64 reads = 0, writes = 0;

	for (u32 off = 0; off < PAGE_SIZE; off += 4) {
		(void)lapic[off / 4];
		reads++;
	}
	/* Writes: every register but the ICR (0x300) gets a random value; the ICR gets fixed
	 * self-IPIs with IF = 0 and an NMI, which the hook above counts. */
	for (u32 off = 0; off < PAGE_SIZE; off += 4) {
		u32 v = (u32)guest_rand(&rng);

		if (off == 0x300)
			v = (v & 0xff) | 0x40000 | (v & 0x100 ? 0x400 : 0); /* self, fixed or NMI */
		if (off == 0x310)
			continue;
		lapic[off / 4] = v;
		writes++;
	}
	for (u32 idx = 0; idx < 256; idx++) {
		*ioregsel = idx;
		(void)*iowin;
		*iowin = (u32)guest_rand(&rng);
		reads++;
		writes += 2;
	}
	/* Odd sizes and misaligned offsets: answered with 0 / ignored, never a stop. */
	for (u32 off = 0; off < 64; off++) {
		(void)*(volatile u8 *)(uintptr_t)(LAPIC_GPA + 0x80 + off);
		(void)*(volatile u16 *)(uintptr_t)(IOAPIC_GPA + off);
		*(volatile u8 *)(uintptr_t)(IOAPIC_GPA + 0x20 + off) = (u8)off;
		reads += 2;
		writes++;
	}
	guest_printf("hostile-memory: MMIO: %llu reads, %llu writes of the LAPIC and IOAPIC pages "
		     "emulated (%llu NMI(s) sent to itself)\n", reads, writes, nmis);
	guest_pass("mmio-sweep");
}

/* --- 3. outside RAM ----------------------------------------------------------------------- */
/* Point the 2 MiB window at `gpa` (2 MiB aligned), or at a page table located at `gpa`. */
static u64 window_map(u64 gpa, enum access how)
{
	u64 *pde = &guest_pd[WINDOW_VA >> 21];

	if (how == ACCESS_WALK)
		*pde = (gpa & PTE_ADDR_MASK) | PTE_P | PTE_W;
	else
		*pde = (gpa & PDE_ADDR_MASK) | PTE_P | PTE_W | PTE_PS;
	write_cr3(read_cr3()); /* a full flush: the window may have been a 4 KiB walk before */
	return WINDOW_VA + (how == ACCESS_WALK ? 0 : gpa & (MiB(2) - 1));
}

static void probe(u64 gpa, enum access how, bool expect_mmio)
{
	u64 va = window_map(gpa, how), v = 0;
	int fault = NO_FAULT;

	guest_printf("hostile-memory: probing GPA 0x%llx (%s)%s\n", gpa, access_names[how],
		     expect_mmio ? ": emulated MMIO, must continue" : "");
	guest_flush();
	switch (how) {
	case ACCESS_WRITE:
		fault = try_write64(va, 0x686f7374696c6521ull);
		break;
	case ACCESS_READ:
	case ACCESS_WALK:
		fault = try_read64(va, &v);
		break;
	case ACCESS_INS:
	case ACCESS_OUTS: {
		/* String I/O: Kestrel itself moves the bytes between the port and this GPA. */
		u64 before = guest_fault.count, rdi = va, rsi = va, rcx = 16;

		if (how == ACCESS_INS)
			__asm__ volatile("1: rep insb\n2:" GUEST_EXTABLE(1b, 2b)
					 : "+D"(rdi), "+c"(rcx) : "d"(0x80) : "memory");
		else
			__asm__ volatile("1: rep outsb\n2:" GUEST_EXTABLE(1b, 2b)
					 : "+S"(rsi), "+c"(rcx) : "d"(0x80) : "memory");
		fault = guest_fault.count != before ? (int)guest_fault.vector : NO_FAULT;
		break;
	}
	case ACCESS_EXEC: {
		u64 before = guest_fault.count;

		/* A call into the window: the fetch is the access. Returning (it would have to be
		 * a RET there) or faulting inside the guest are both failures. */
		__asm__ volatile("1: call *%0\n2:" GUEST_EXTABLE(1b, 2b) : : "r"(va) : "memory", "rax",
				 "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
		fault = guest_fault.count != before ? (int)guest_fault.vector : NO_FAULT;
		break;
	}
	}
	if (expect_mmio) {
		guest_check(fault == NO_FAULT, "mmio-probe", "GPA 0x%llx: %s raised %s", gpa,
			    access_names[how], guest_vector_name((u64)fault));
		return;
	}
	if (fault != NO_FAULT)
		guest_fail("outside-ram", "GPA 0x%llx: the %s raised %s (error 0x%llx) in the guest "
			   "instead of ending it", gpa, access_names[how], guest_vector_name((u64)fault),
			   guest_fault.error);
	else
		guest_fail("outside-ram", "GPA 0x%llx: the %s completed (read 0x%llx): memory outside "
			   "the guest's RAM is reachable", gpa, access_names[how], v);
}

static bool is_mmio(u64 gpa, enum access how)
{
	/* Only data accesses to the two pages are emulated; fetches and walks there stop. */
	return (how == ACCESS_WRITE || how == ACCESS_READ) &&
	       (ALIGN_DOWN(gpa, PAGE_SIZE) == LAPIC_GPA || ALIGN_DOWN(gpa, PAGE_SIZE) == IOAPIC_GPA);
}

void guest_main(void)
{
	u64 ram_end = guest_ram_end(), first, top, width, n = 0;
	enum access how = ACCESS_WRITE;
	char arg[16] = "";

	guest_set_trap_hook(swallow_nmi);
	if (!guest_kestrel_only("hostile-memory"))
		return;
	if (!ram_end) {
		guest_fail("ram-size", "no multiboot memory information");
		return;
	}
	width = cpuid(0x80000000, 0).eax >= 0x80000008 ? cpuid(0x80000008, 0).eax & 0xff : 36;
	width = MIN(width, 52ull);
	top = (1ull << width) - MiB(2);
	first = ALIGN_UP(ram_end, MiB(2));
	if (guest_cmdline_str("first", arg, sizeof(arg)) && !strcmp(arg, "top"))
		first = top;
	else
		guest_cmdline_u64("first", &first);
	if (guest_cmdline_str("access", arg, sizeof(arg)))
		for (unsigned i = 0; i < ARRAY_SIZE(access_names); i++)
			if (!strcmp(arg, access_names[i]))
				how = (enum access)i;
	guest_printf("hostile-memory: RAM 0x0-0x%llx, physical-address width %llu bits; sweeping "
		     "from GPA 0x%llx by %s\n", ram_end, width, first, access_names[how]);

	sweep_own_ram(ram_end);
	sweep_mmio();

	/* Every 2 MiB below 4 GiB from `first`, then doubling, then the top. The RAM part of the
	 * grid was covered above; the first GPA outside RAM that is not MMIO must be the end. */
	for (u64 gpa = first; gpa <= top; n++) {
		if (gpa >= ram_end) {
			bool mmio = is_mmio(gpa, how);

			probe(gpa, how, mmio);
			if (!mmio)
				return; /* a failure was reported: Kestrel let it continue */
		}
		if (gpa < GiB(4))
			gpa += MiB(2);
		else if (gpa <= top / 2)
			gpa *= 2;
		else if (gpa < top)
			gpa = top;
		else
			break;
	}
	guest_fail("outside-ram", "swept %llu addresses up to 0x%llx without being stopped", n, top);
}
