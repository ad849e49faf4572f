/*
 * hostile-insn: instructions a guest must not get away with. Every VMX instruction (VMXON,
 * VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMLAUNCH, VMRESUME, INVEPT, INVVPID,
 * VMFUNC) and GETSEC, at CPL 0 and CPL 3, must raise #UD (CPUID says there is no VMX or SMX);
 * privileged instructions with bad operands (reserved CR0/CR3/CR4/CR8/DR bits, invalid CR0
 * combinations, XSETBV without OSXSAVE, reserved EFER/PAT/APIC-base bits, non-canonical MSR and
 * descriptor-table addresses, ...) must raise the architectural #GP(0) or #UD; privileged
 * instructions at CPL 3 must raise #GP(0) (VMCALL: #UD). Hypercalls with arguments pointing
 * outside the guest's RAM must return HC_EINVAL. Each is one PASS/FAIL line naming the vector
 * and error code seen and wanted.
 *
 * It also leaves marker values in DR0-DR3, DR6 and CR2, rewriting them for `markers=N` seconds
 * (default 10) before the last check: state the guest owns that VM entry does not load, which
 * Kestrel has to switch between guests. The victim running beside it must not see them.
 *
 * The last check is MOV to CR0 clearing PG in 64-bit mode (#GP(0) per the SDM; a hypervisor
 * that accepts it leaves the guest running 64-bit code outside IA-32e mode, and it dies there).
 * Under Kestrel only.
 */
#include <kestrel/string.h>
#include "guest.h"

const char guest_name[] = "hostile-insn";

#define UD 6
#define GP 13
#define CR4_DE (1ull << 3)
#define CR4_LA57 (1ull << 12)
#define CR4_SMXE (1ull << 14)
#define CR4_OSXSAVE (1ull << 18)
#define CR4_PKE (1ull << 22)
#define MSR_FEATURE_CONTROL 0x3a

static u8 scratch[4096] __attribute__((aligned(4096)));

/*
 * One instruction at label 1, with RAX, RCX, RDX from the caller, RSI = scratch (a memory
 * operand), RDI = scratch + 2048. Returns NO_FAULT or the vector (error code in guest_fault).
 */
#define DEF_TEST(fn, text)                                                                        \
	static int fn(u64 rax, u64 rcx, u64 rdx)                                                  \
	{                                                                                         \
		u64 before = guest_fault.count;                                                   \
		__asm__ volatile("1: " text "\n2:" GUEST_EXTABLE(1b, 2b)                          \
				 : "+a"(rax), "+c"(rcx), "+d"(rdx)                                \
				 : "S"(scratch), "D"(scratch + 2048)                              \
				 : "memory", "cc");                                               \
		return guest_fault.count != before ? (int)guest_fault.vector : NO_FAULT;          \
	}

DEF_TEST(t_vmxon, "vmxon (%%rsi)")
DEF_TEST(t_vmxoff, "vmxoff")
DEF_TEST(t_vmclear, "vmclear (%%rsi)")
DEF_TEST(t_vmptrld, "vmptrld (%%rsi)")
DEF_TEST(t_vmptrst, "vmptrst (%%rsi)")
DEF_TEST(t_vmread, "vmread %%rax, %%rcx")
DEF_TEST(t_vmwrite, "vmwrite %%rcx, %%rax")
DEF_TEST(t_vmlaunch, "vmlaunch")
DEF_TEST(t_vmresume, "vmresume")
DEF_TEST(t_invept, "invept (%%rsi), %%rax")
DEF_TEST(t_invvpid, "invvpid (%%rsi), %%rax")
DEF_TEST(t_vmfunc, ".byte 0x0f, 0x01, 0xd4")
DEF_TEST(t_getsec, ".byte 0x0f, 0x37")
DEF_TEST(t_vmcall, "vmcall")
DEF_TEST(t_mov_cr0, "mov %%rax, %%cr0")
DEF_TEST(t_mov_cr3, "mov %%rax, %%cr3")
DEF_TEST(t_mov_cr4, "mov %%rax, %%cr4")
DEF_TEST(t_mov_cr8, "mov %%rax, %%cr8")
DEF_TEST(t_mov_dr4, "mov %%rax, %%db4")
DEF_TEST(t_mov_dr6, "mov %%rax, %%db6")
DEF_TEST(t_mov_dr7, "mov %%rax, %%db7")
DEF_TEST(t_xsetbv, "xsetbv")
DEF_TEST(t_xgetbv, "xgetbv")
DEF_TEST(t_wrmsr, "wrmsr")
DEF_TEST(t_rdmsr, "rdmsr")
DEF_TEST(t_rdpmc, "rdpmc")
DEF_TEST(t_rdtscp, "rdtscp")
DEF_TEST(t_invpcid, "invpcid (%%rsi), %%rax")
DEF_TEST(t_monitor, "monitor %%rax, %%rcx, %%rdx")
DEF_TEST(t_mwait, "mwait %%rax, %%rcx")
DEF_TEST(t_lgdt, "lgdt (%%rsi)")
DEF_TEST(t_lidt, "lidt (%%rsi)")
DEF_TEST(t_ltr, "ltr %%ax")
DEF_TEST(t_far_jmp_null, "rex64 ljmp *(%%rsi)")
DEF_TEST(t_sysenter, "sysenter")
DEF_TEST(t_swapgs, "swapgs")
DEF_TEST(t_hlt, "hlt")
DEF_TEST(t_cli, "cli")
DEF_TEST(t_in, "inb %%dx, %%al")
DEF_TEST(t_out, "outb %%al, %%dx")
DEF_TEST(t_wbinvd, "wbinvd")
DEF_TEST(t_invlpg, "invlpg (%%rsi)")
DEF_TEST(t_ud2, "ud2")
DEF_TEST(t_lock_nop, ".byte 0xf0, 0x90")
DEF_TEST(t_clts, "clts")

enum ring { R0, R3 };

struct test {
	const char *name;
	int (*fn)(u64 rax, u64 rcx, u64 rdx);
	u64 rax, rcx, rdx;
	int vector; /* NO_FAULT, UD or GP */
	u64 error;
	enum ring ring;
};

static u64 cr0, cr3, cr4, efer, pat, apic_base, ram_end;

static int run_one(const struct test *t)
{
	return t->fn(t->rax, t->rcx, t->rdx);
}

static u64 user_test(u64 arg)
{
	return (u64)(s64)run_one((const struct test *)(uintptr_t)arg);
}

static unsigned n_tests, n_ok;

static void check(const struct test *t)
{
	u64 before = guest_fault.count;
	int v = t->ring == R3 ? (int)(s64)guest_run_user(user_test, (u64)(uintptr_t)t) : run_one(t);
	u64 err = guest_fault.count != before ? guest_fault.error : 0;
	char name[64];

	n_tests++;
	{
		const char *prefix = t->ring == R3 ? "cpl3-" : "";
		size_t i = 0;

		for (; *prefix && i < sizeof(name) - 1; prefix++)
			name[i++] = *prefix;
		for (const char *s = t->name; *s && i < sizeof(name) - 1; s++)
			name[i++] = *s;
		name[i] = 0;
	}
	if (v == t->vector && (v == NO_FAULT || err == t->error)) {
		n_ok++;
		guest_pass(name);
		return;
	}
	guest_fail(name, "%s (vector %d) error 0x%llx; want %s error 0x%llx",
		   v == NO_FAULT ? "no fault" : guest_vector_name((u64)v), v, err,
		   t->vector == NO_FAULT ? "no fault" : guest_vector_name((u64)t->vector), t->error);
}

static void run_table(const struct test *tests, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check(&tests[i]);
}

/* --- hypercalls with hostile arguments ------------------------------------------------------ */
static void hypercalls(void)
{
	struct hc_exit_stats *st = (struct hc_exit_stats *)(uintptr_t)scratch;
	static const struct {
		const char *name;
		u64 nr, rbx, rcx;
		s64 want;
	} calls[] = {
		{ "hc-unknown-number", 0x7fffffff, 0, 0, HC_ENOSYS },
		{ "hc-negative-number", ~0ull, 0, 0, HC_ENOSYS },
		{ "hc-console-too-long", HC_CONSOLE_WRITE, 0x1000, 4097, HC_EINVAL },
		{ "hc-console-lapic", HC_CONSOLE_WRITE, 0xfee00000, 16, HC_EINVAL },
		{ "hc-console-wraps", HC_CONSOLE_WRITE, ~0ull - 5, 16, HC_EINVAL },
		{ "hc-console-high", HC_CONSOLE_WRITE, 1ull << 40, 16, HC_EINVAL },
		{ "hc-stats-bad-reason", HC_EXIT_STATS, 0xfffffffe, 0x1000, HC_EINVAL },
		{ "hc-stats-outside", HC_EXIT_STATS, 10, 0xfee00000, HC_EINVAL },
		{ "hc-stats-wraps", HC_EXIT_STATS, 10, ~0ull - 16, HC_EINVAL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(calls); i++) {
		s64 r = guest_hypercall(calls[i].nr, calls[i].rbx, calls[i].rcx, 0, 0);

		guest_check(r == calls[i].want, calls[i].name, "returned %lld, want %lld", r,
			    calls[i].want);
	}
	/* Straddling the end of RAM: the first bytes are RAM, the rest is not. */
	guest_check(guest_hypercall(HC_CONSOLE_WRITE, ram_end - 8, 64, 0, 0) == HC_EINVAL,
		    "hc-console-straddles-ram-end", "accepted");
	guest_check(guest_hypercall(HC_EXIT_STATS, 10, ram_end - 16, 0, 0) == HC_EINVAL,
		    "hc-stats-straddles-ram-end", "accepted");
	guest_check(guest_hypercall(HC_EXIT_STATS, 10, (u64)(uintptr_t)st, 0, 0) == HC_OK,
		    "hc-stats-valid", "a valid call failed");
}

/* --- guest-owned state VM entry does not load: markers for the victim ----------------------- */
static void leave_markers(void)
{
	__asm__ volatile("mov %0, %%db0\n\tmov %1, %%db1\n\tmov %2, %%db2\n\tmov %3, %%db3\n\t"
			 "mov %4, %%db6"
			 : : "r"(0xbad0d0ull), "r"(0xbad0d1ull), "r"(0xbad0d2ull), "r"(0xbad0d3ull),
			   "r"(0xffff4ff1ull) : "memory");
	write_cr2(0xbad0c2c2ull);
}

void guest_main(void)
{
	u64 noncanon = 0x8000000000001000ull;

	if (!guest_kestrel_only("hostile-insn"))
		return;
	cr0 = read_cr0();
	cr3 = read_cr3();
	cr4 = read_cr4();
	efer = rdmsr(MSR_EFER);
	pat = rdmsr(MSR_IA32_PAT);
	apic_base = rdmsr(MSR_IA32_APIC_BASE);
	ram_end = guest_ram_end();
	leave_markers();
	memset(scratch, 0, sizeof(scratch));
	((u64 *)scratch)[0] = 0x1000; /* a VMCS-looking address for the VMX memory operands */

	const struct test vmx[] = {
		{ "vmxon", t_vmxon, 0, 0, 0, UD, 0, R0 },
		{ "vmxoff", t_vmxoff, 0, 0, 0, UD, 0, R0 },
		{ "vmclear", t_vmclear, 0, 0, 0, UD, 0, R0 },
		{ "vmptrld", t_vmptrld, 0, 0, 0, UD, 0, R0 },
		{ "vmptrst", t_vmptrst, 0, 0, 0, UD, 0, R0 },
		{ "vmread", t_vmread, 0x681e /* GUEST_RIP */, 0, 0, UD, 0, R0 },
		{ "vmwrite", t_vmwrite, 0x681e, 0x1234, 0, UD, 0, R0 },
		{ "vmlaunch", t_vmlaunch, 0, 0, 0, UD, 0, R0 },
		{ "vmresume", t_vmresume, 0, 0, 0, UD, 0, R0 },
		{ "invept", t_invept, 2, 0, 0, UD, 0, R0 },
		{ "invvpid", t_invvpid, 2, 0, 0, UD, 0, R0 },
		{ "vmfunc", t_vmfunc, 0, 0, 0, UD, 0, R0 },
		{ "getsec", t_getsec, 0, 0, 0, UD, 0, R0 },
		{ "vmxon", t_vmxon, 0, 0, 0, UD, 0, R3 },
		{ "vmxoff", t_vmxoff, 0, 0, 0, UD, 0, R3 },
		{ "vmclear", t_vmclear, 0, 0, 0, UD, 0, R3 },
		{ "vmptrld", t_vmptrld, 0, 0, 0, UD, 0, R3 },
		{ "vmptrst", t_vmptrst, 0, 0, 0, UD, 0, R3 },
		{ "vmread", t_vmread, 0x681e, 0, 0, UD, 0, R3 },
		{ "vmwrite", t_vmwrite, 0x681e, 0x1234, 0, UD, 0, R3 },
		{ "vmlaunch", t_vmlaunch, 0, 0, 0, UD, 0, R3 },
		{ "vmresume", t_vmresume, 0, 0, 0, UD, 0, R3 },
		{ "invept", t_invept, 2, 0, 0, UD, 0, R3 },
		{ "invvpid", t_invvpid, 2, 0, 0, UD, 0, R3 },
		{ "vmfunc", t_vmfunc, 0, 0, 0, UD, 0, R3 },
		{ "getsec", t_getsec, 0, 0, 0, UD, 0, R3 },
		{ "vmcall", t_vmcall, HC_VERSION, 0, 0, UD, 0, R3 },
	};
	run_table(vmx, ARRAY_SIZE(vmx));

	const struct test bad_operands[] = {
		{ "cr4-bit63", t_mov_cr4, cr4 | (1ull << 63), 0, 0, GP, 0, R0 },
		{ "cr4-vmxe", t_mov_cr4, cr4 | CR4_VMXE, 0, 0, GP, 0, R0 },
		{ "cr4-smxe", t_mov_cr4, cr4 | CR4_SMXE, 0, 0, GP, 0, R0 },
		{ "cr4-la57-in-long-mode", t_mov_cr4, cr4 | CR4_LA57, 0, 0, GP, 0, R0 },
		{ "cr4-osxsave-hidden", t_mov_cr4, cr4 | CR4_OSXSAVE, 0, 0, GP, 0, R0 },
		{ "cr4-pke-hidden", t_mov_cr4, cr4 | CR4_PKE, 0, 0, GP, 0, R0 },
		{ "cr4-clear-pae-in-long-mode", t_mov_cr4, cr4 & ~CR4_PAE, 0, 0, GP, 0, R0 },
		{ "cr0-pg-without-pe", t_mov_cr0, cr0 & ~CR0_PE, 0, 0, GP, 0, R0 },
		{ "cr0-nw-without-cd", t_mov_cr0, (cr0 & ~CR0_CD) | CR0_NW, 0, 0, GP, 0, R0 },
		{ "cr0-bit32", t_mov_cr0, cr0 | (1ull << 32), 0, 0, GP, 0, R0 },
		{ "cr3-bit62", t_mov_cr3, cr3 | (1ull << 62), 0, 0, GP, 0, R0 },
		{ "cr8-bit4", t_mov_cr8, 0x10, 0, 0, GP, 0, R0 },
		{ "dr7-bit32", t_mov_dr7, 0x400 | (1ull << 32), 0, 0, GP, 0, R0 },
		{ "dr6-bit32", t_mov_dr6, 0xffff0ff0ull | (1ull << 32), 0, 0, GP, 0, R0 },
		{ "xsetbv-without-osxsave", t_xsetbv, 1, 0, 0, UD, 0, R0 },
		{ "xsetbv-xcr1-without-osxsave", t_xsetbv, 1, 1, 0, UD, 0, R0 },
		{ "xgetbv-without-osxsave", t_xgetbv, 0, 0, 0, UD, 0, R0 },
		{ "efer-reserved-bit1", t_wrmsr, (u32)(efer | 2), MSR_EFER, efer >> 32, GP, 0, R0 },
		{ "efer-reserved-bit63", t_wrmsr, (u32)efer, MSR_EFER, (efer >> 32) | (1u << 31), GP,
		  0, R0 },
		{ "efer-clear-lme-with-paging", t_wrmsr, (u32)(efer & ~EFER_LME), MSR_EFER,
		  efer >> 32, GP, 0, R0 },
		{ "pat-type-2", t_wrmsr, (u32)((pat & ~0xffull) | 2), MSR_IA32_PAT, pat >> 32, GP, 0,
		  R0 },
		{ "apic-base-reserved", t_wrmsr, (u32)apic_base, MSR_IA32_APIC_BASE, 1u << 31, GP, 0,
		  R0 },
		{ "apic-base-extd-without-en", t_wrmsr, 0xfee00000u | (1u << 10), MSR_IA32_APIC_BASE,
		  0, GP, 0, R0 },
		{ "apic-base-moved", t_wrmsr, 0xfed00000u | (1u << 11), MSR_IA32_APIC_BASE, 0, GP, 0,
		  R0 },
		{ "feature-control-locked", t_wrmsr, 5, MSR_FEATURE_CONTROL, 0, GP, 0, R0 },
		{ "mtrr-def-type-reserved", t_wrmsr, 0xc06 | (1u << 12), MSR_IA32_MTRR_DEF_TYPE, 0,
		  GP, 0, R0 },
		{ "lstar-noncanonical", t_wrmsr, (u32)noncanon, MSR_LSTAR, noncanon >> 32, GP, 0, R0 },
		{ "fs-base-noncanonical", t_wrmsr, (u32)noncanon, MSR_FS_BASE, noncanon >> 32, GP, 0,
		  R0 },
		{ "x2apic-msr-in-xapic-mode", t_wrmsr, 0, 0x808, 0, GP, 0, R0 },
		{ "unknown-msr-write", t_wrmsr, 0, 0x12345678, 0, GP, 0, R0 },
		{ "hv-range-msr-read", t_rdmsr, 0, 0x40000000, 0, GP, 0, R0 },
		{ "rdpmc", t_rdpmc, 0, 0, 0, GP, 0, R0 },
		{ "rdtscp-hidden", t_rdtscp, 0, 0, 0, UD, 0, R0 },
		{ "invpcid-disabled", t_invpcid, 0, 0, 0, UD, 0, R0 },
		{ "monitor-hidden", t_monitor, (u64)(uintptr_t)scratch, 0, 0, UD, 0, R0 },
		{ "mwait-hidden", t_mwait, 0, 0, 0, UD, 0, R0 },
		{ "ltr-null", t_ltr, 0, 0, 0, GP, 0, R0 },
		{ "ltr-busy-tss", t_ltr, GUEST_TSS_SEL, 0, 0, GP, GUEST_TSS_SEL, R0 },
		{ "far-jmp-null-selector", t_far_jmp_null, 0, 0, 0, GP, 0, R0 },
		{ "sysenter-cs-zero", t_sysenter, 0, 0, 0, GP, 0, R0 },
		{ "ud2", t_ud2, 0, 0, 0, UD, 0, R0 },
		{ "lock-nop", t_lock_nop, 0, 0, 0, UD, 0, R0 },
		/* CPL 3: privileged instructions. */
		{ "mov-cr0", t_mov_cr0, 0, 0, 0, GP, 0, R3 },
		{ "mov-cr3", t_mov_cr3, 0, 0, 0, GP, 0, R3 },
		{ "wrmsr", t_wrmsr, 0, MSR_IA32_PAT, 0, GP, 0, R3 },
		{ "rdmsr", t_rdmsr, 0, MSR_EFER, 0, GP, 0, R3 },
		{ "rdpmc", t_rdpmc, 0, 0, 0, GP, 0, R3 },
		{ "hlt", t_hlt, 0, 0, 0, GP, 0, R3 },
		{ "cli", t_cli, 0, 0, 0, GP, 0, R3 },
		{ "in", t_in, 0, 0, 0x3f8, GP, 0, R3 },
		{ "out", t_out, 0, 0, 0xcf9, GP, 0, R3 },
		{ "wbinvd", t_wbinvd, 0, 0, 0, GP, 0, R3 },
		{ "invlpg", t_invlpg, 0, 0, 0, GP, 0, R3 },
		{ "lgdt", t_lgdt, 0, 0, 0, GP, 0, R3 },
		{ "lidt", t_lidt, 0, 0, 0, GP, 0, R3 },
		{ "swapgs", t_swapgs, 0, 0, 0, GP, 0, R3 },
		{ "clts", t_clts, 0, 0, 0, GP, 0, R3 },
		{ "xsetbv", t_xsetbv, 1, 0, 0, UD, 0, R3 }, /* #UD (no OSXSAVE) comes first */
	};
	run_table(bad_operands, ARRAY_SIZE(bad_operands));

	/* Non-canonical descriptor-table bases (10-byte operands in scratch). */
	{
		struct {
			u16 limit;
			u64 base;
		} __attribute__((packed)) *d = (void *)scratch;
		const struct test dt[] = {
			{ "lgdt-noncanonical", t_lgdt, 0, 0, 0, GP, 0, R0 },
			{ "lidt-noncanonical", t_lidt, 0, 0, 0, GP, 0, R0 },
		};

		d->limit = 0xfff;
		d->base = noncanon;
		run_table(dt, ARRAY_SIZE(dt));
		memset(scratch, 0, 16);
	}
	/* The far pointer at scratch is 0:0 (null selector) for ljmp, set above by memset. */

	/* CR4.DE = 1 makes DR4/DR5 references #UD. */
	{
		const struct test de[] = { { "dr4-with-cr4-de", t_mov_dr4, 0, 0, 0, UD, 0, R0 } };

		if (try_write_cr4(cr4 | CR4_DE) == NO_FAULT) {
			run_table(de, 1);
			write_cr4(cr4);
		} else {
			guest_fail("dr4-with-cr4-de", "setting CR4.DE faulted");
		}
	}

	/* The state must be what it was: none of the faulting writes took effect. */
	guest_check(read_cr0() == cr0 && read_cr3() == cr3 && read_cr4() == cr4 &&
			    rdmsr(MSR_EFER) == efer && rdmsr(MSR_IA32_PAT) == pat &&
			    rdmsr(MSR_IA32_APIC_BASE) == apic_base,
		    "state-unchanged", "CR0 0x%llx CR3 0x%llx CR4 0x%llx EFER 0x%llx PAT 0x%llx "
		    "APIC_BASE 0x%llx", read_cr0(), read_cr3(), read_cr4(), rdmsr(MSR_EFER),
		    rdmsr(MSR_IA32_PAT), rdmsr(MSR_IA32_APIC_BASE));

	hypercalls();
	/* Keep the markers in place for a while (`markers=N` seconds, default 10), rewriting them
	 * every millisecond, so the victim's rounds see them if Kestrel lets them through. */
	{
		u64 seconds = 10, khz = guest_tsc_khz(), end;

		guest_cmdline_u64("markers", &seconds);
		end = rdtsc() + seconds * 1000 * khz;
		while (rdtsc() < end) {
			leave_markers();
			guest_delay_us(1000);
		}
	}
	guest_printf("hostile-insn: %u instructions checked, %u as expected; DR0-DR3, DR6 and CR2 "
		     "hold markers 0xbad0d0.. / 0xbad0c2c2 for the victim to (not) see\n", n_tests,
		     n_ok);

	/* Last: MOV to CR0 clearing PG in 64-bit mode. */
	guest_printf("hostile-insn: MOV to CR0 clearing PG in 64-bit mode, must raise #GP(0)\n");
	guest_flush();
	{
		const struct test last[] = {
			{ "cr0-clear-pg-in-64-bit-mode", t_mov_cr0, cr0 & ~CR0_PG, 0, 0, GP, 0, R0 },
		};

		run_table(last, 1);
	}
	guest_printf("hostile-insn: %u instructions checked, %u as expected\n", n_tests, n_ok);
}
