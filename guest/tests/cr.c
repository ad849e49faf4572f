/*
 * cr: control registers read back as the guest wrote them, whether Kestrel lets the bit through
 * (CR0.MP/AM, CR4.OSXMMEXCPT/PGE, CR8) or shadows it (CR0.CD/NW; CR4.VMXE, which the real CR4
 * has set in VMX non-root operation, must read 0 and refuse to be set: VMX is hidden).
 */
#include "guest.h"

const char guest_name[] = "cr";

/* Sets or clears `bits` in CR0 and reads them back; restores CR0. */
static void toggle_cr0(const char *name, u64 bits)
{
	u64 old = read_cr0(), flipped = old ^ bits, got, back;
	int v = try_write_cr0(flipped);

	got = read_cr0();
	if (v == NO_FAULT)
		write_cr0(old);
	back = read_cr0();
	if (v != NO_FAULT) {
		guest_fail(name, "CR0 0x%llx -> 0x%llx raised %s", old, flipped,
			   guest_vector_name((u64)v));
		return;
	}
	guest_check((got & bits) == (flipped & bits) && back == old, name,
		    "CR0 0x%llx: wrote 0x%llx, read 0x%llx; restored 0x%llx, read 0x%llx", old,
		    flipped, got, old, back);
}

static void toggle_cr4(const char *name, u64 bits)
{
	u64 old = read_cr4(), flipped = old ^ bits, got, back;
	int v = try_write_cr4(flipped);

	got = read_cr4();
	if (v == NO_FAULT)
		write_cr4(old);
	back = read_cr4();
	if (v != NO_FAULT) {
		guest_fail(name, "CR4 0x%llx -> 0x%llx raised %s", old, flipped,
			   guest_vector_name((u64)v));
		return;
	}
	guest_check((got & bits) == (flipped & bits) && back == old, name,
		    "CR4 0x%llx: wrote 0x%llx, read 0x%llx; restored 0x%llx, read 0x%llx", old,
		    flipped, got, old, back);
}

static void check_cache_disable(void)
{
	u64 old = read_cr0(), cd, cd_nw, back;
	int v1, v2;

	/* CD first, then CD+NW (NW without CD is a #GP), then back the same way. */
	v1 = try_write_cr0((old | CR0_CD) & ~CR0_NW);
	cd = read_cr0();
	v2 = try_write_cr0(old | CR0_CD | CR0_NW);
	cd_nw = read_cr0();
	write_cr0((old | CR0_CD) & ~CR0_NW);
	write_cr0(old & ~(CR0_CD | CR0_NW));
	back = read_cr0();
	write_cr0(old);
	guest_check(v1 == NO_FAULT && v2 == NO_FAULT && (cd & (CR0_CD | CR0_NW)) == CR0_CD &&
			    (cd_nw & (CR0_CD | CR0_NW)) == (CR0_CD | CR0_NW) &&
			    !(back & (CR0_CD | CR0_NW)),
		    "cr0-cd-nw",
		    "faults %d/%d; read CR0 0x%llx after CD, 0x%llx after CD|NW, 0x%llx after clearing",
		    v1, v2, cd, cd_nw, back);
}

static void check_vmxe(void)
{
	u64 cr4 = read_cr4();
	int v;

	guest_check(!(cr4 & CR4_VMXE), "cr4-vmxe-reads-0", "CR4 reads 0x%llx: VMXE visible", cr4);
	if (!on_kestrel()) {
		/* QEMU 7.2's TCG re-executes a MOV to CR4 that sets a reserved bit forever instead
		 * of raising #GP (VMXE is reserved there: no VMX). */
		guest_skip("cr4-vmxe-gp", "natively QEMU TCG hangs on a reserved CR4 bit");
		return;
	}
	v = try_write_cr4(cr4 | CR4_VMXE);
	if (v == NO_FAULT)
		write_cr4(cr4);
	guest_check(v == 13 && guest_fault.error == 0, "cr4-vmxe-gp",
		    "setting CR4.VMXE: %s (error 0x%llx), want #GP(0)",
		    v == NO_FAULT ? "no fault" : guest_vector_name((u64)v),
		    v == NO_FAULT ? 0 : guest_fault.error);
}

static void check_cr8(void)
{
	u64 old = read_cr8();
	unsigned bad = 0;
	u64 first_bad_want = 0, first_bad_got = 0;

	for (u64 tpr = 0; tpr < 16; tpr++) {
		u64 got;

		write_cr8(tpr);
		got = read_cr8();
		if (got != tpr && !bad++) {
			first_bad_want = tpr;
			first_bad_got = got;
		}
	}
	write_cr8(old);
	guest_check(bad == 0, "cr8", "%u of 16 values read back wrong, first: wrote %llu, read %llu",
		    bad, first_bad_want, first_bad_got);
}

void guest_main(void)
{
	guest_printf("cr: CR0 0x%llx CR3 0x%llx CR4 0x%llx CR8 0x%llx\n", read_cr0(), read_cr3(),
		     read_cr4(), read_cr8());
	toggle_cr0("cr0-mp", CR0_MP);
	toggle_cr0("cr0-am", CR0_AM);
	check_cache_disable();
	toggle_cr4("cr4-osxmmexcpt", CR4_OSXMMEXCPT);
	toggle_cr4("cr4-pge", CR4_PGE);
	check_vmxe();
	check_cr8();
}
