/*
 * msr: MSRs Kestrel emulates keep the values the guest wrote; the pass-through MSRs (no exit
 * under Kestrel's MSR bitmap) work without a single RDMSR/WRMSR exit; unknown MSRs raise #GP in
 * the guest on both RDMSR and WRMSR.
 */
#include "guest.h"

const char guest_name[] = "msr";

#define CPUID_1_EDX_MTRR (1u << 12)
#define CPUID_80000001_EDX_NX (1u << 20)
#define APIC_BASE_EXPECTED 0xfee00900ull /* default base, enabled (bit 11), BSP (bit 8) */
#define PAT_DEFAULT 0x0007040600070406ull
#define PAT_VARIANT 0x0007010600070106ull /* PA1 and PA5 WT -> WC */
#define TSC_JUMP (1ull << 32)
#define TSC_CLOSE 1000000000ull /* read back within 1e9 cycles of the write */

/* Writes value, reads it back, restores the old value. */
static void check_write_readback(const char *name, u32 msr, u64 value)
{
	u64 old, got;
	int v;

	if ((v = try_rdmsr(msr, &old)) != NO_FAULT) {
		guest_fail(name, "RDMSR 0x%x raised %s", msr, guest_vector_name((u64)v));
		return;
	}
	if ((v = try_wrmsr(msr, value)) != NO_FAULT) {
		guest_fail(name, "WRMSR 0x%x <- 0x%llx raised %s (error 0x%llx)", msr, value,
			   guest_vector_name((u64)v), guest_fault.error);
		return;
	}
	got = rdmsr(msr);
	wrmsr(msr, old);
	guest_check(got == value, name, "MSR 0x%x: wrote 0x%llx, read 0x%llx", msr, value, got);
}

/* WRMSR IA32_TSC moves the TSC: RDMSR and RDTSC both continue from the written value. */
static void check_tsc_write(void)
{
	u64 before = rdmsr(MSR_IA32_TSC), written = before + TSC_JUMP, got, tsc;

	if (!on_kestrel() && before == 0 && rdtsc() != 0) {
		guest_skip("tsc-write", "natively RDMSR IA32_TSC reads 0 while RDTSC does not "
					"(QEMU TCG does not implement the MSR)");
		return;
	}
	wrmsr(MSR_IA32_TSC, written);
	got = rdmsr(MSR_IA32_TSC);
	tsc = rdtsc();
	guest_check(got >= written && got - written < TSC_CLOSE && tsc >= got &&
			    tsc - written < TSC_CLOSE,
		    "tsc-write", "wrote 0x%llx, RDMSR read 0x%llx back, then RDTSC 0x%llx", written,
		    got, tsc);
}

static void check_emulated(void)
{
	u64 efer = rdmsr(MSR_EFER), want, v;
	bool nx = cpuid(0x80000000, 0).eax >= 0x80000001 &&
		  (cpuid(0x80000001, 0).edx & CPUID_80000001_EDX_NX);

	guest_printf("msr: IA32_PAT 0x%llx, EFER 0x%llx\n", rdmsr(MSR_IA32_PAT), efer);
	check_write_readback("pat", MSR_IA32_PAT, PAT_VARIANT);
	guest_check(rdmsr(MSR_IA32_PAT) != PAT_VARIANT, "pat-restore", "PAT kept the variant");

	want = EFER_LME | EFER_LMA | EFER_SCE | (nx ? EFER_NXE : 0);
	guest_check((efer & want) == want, "efer", "EFER 0x%llx lacks 0x%llx (LME|LMA|SCE%s)", efer,
		    want & ~efer, nx ? "|NXE" : "");

	if (try_rdmsr(MSR_IA32_MISC_ENABLE, &v) == NO_FAULT) {
		guest_printf("msr: IA32_MISC_ENABLE 0x%llx\n", v);
		guest_pass("misc-enable");
	} else {
		guest_fail("misc-enable", "RDMSR 0x1a0 raised %s", guest_vector_name(guest_fault.vector));
	}

	guest_check_eq("apic-base", rdmsr(MSR_IA32_APIC_BASE), APIC_BASE_EXPECTED);

	if (cpuid(1, 0).edx & CPUID_1_EDX_MTRR) {
		v = rdmsr(MSR_IA32_MTRR_DEF_TYPE);
		guest_printf("msr: IA32_MTRR_DEF_TYPE 0x%llx\n", v);
		check_write_readback("mtrr-def-type", MSR_IA32_MTRR_DEF_TYPE, v ^ (1ull << 10));
	} else {
		guest_skip("mtrr-def-type", "no MTRRs (CPUID.1:EDX[12])");
	}

	check_tsc_write();
}

/* --- pass-through MSRs ---------------------------------------------------------------------- */
struct passthrough {
	const char *name;
	u32 msr;
	u64 value;
	u64 old, got;
};

static struct passthrough passthrough[] = {
	{ .name = "star", .msr = MSR_STAR, .value = 0x0023001000000000ull },
	{ .name = "lstar", .msr = MSR_LSTAR, .value = 0xffff800012345678ull },
	{ .name = "cstar", .msr = MSR_CSTAR, .value = 0xffff80001234abcdull },
	{ .name = "sfmask", .msr = MSR_SFMASK, .value = 0x47700ull },
	{ .name = "fs-base", .msr = MSR_FS_BASE, .value = 0x00007f0012340000ull },
	{ .name = "gs-base", .msr = MSR_GS_BASE, .value = 0xffff888000001000ull },
	{ .name = "kernel-gs-base", .msr = MSR_KERNEL_GS_BASE, .value = 0xffff888000002000ull },
};

/* Nothing but the accesses themselves: this runs between two HC_EXIT_COUNT calls. */
static void passthrough_accesses(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < ARRAY_SIZE(passthrough); i++) {
		struct passthrough *p = &passthrough[i];

		p->old = rdmsr(p->msr);
		wrmsr(p->msr, p->value);
		p->got = rdmsr(p->msr);
		wrmsr(p->msr, p->old);
	}
}

static void check_passthrough(void)
{
	bool kestrel = on_kestrel();
	u64 rd0 = 0, wr0 = 0, rd = 0, wr = 0;

	if (kestrel) {
		rd0 = hc_exit_count(EXIT_REASON_RDMSR);
		wr0 = hc_exit_count(EXIT_REASON_WRMSR);
	}
	passthrough_accesses(NULL);
	if (kestrel) {
		rd = hc_exit_count(EXIT_REASON_RDMSR) - rd0;
		wr = hc_exit_count(EXIT_REASON_WRMSR) - wr0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(passthrough); i++) {
		const struct passthrough *p = &passthrough[i];

		guest_check(p->got == p->value, p->name, "MSR 0x%x: wrote 0x%llx, read 0x%llx", p->msr,
			    p->value, p->got);
	}
	if (!guest_kestrel_only("passthrough-no-exits"))
		return;
	guest_printf("msr: %zu pass-through MSRs accessed 4 times each: %llu RDMSR exits, %llu WRMSR "
		     "exits\n", ARRAY_SIZE(passthrough), rd, wr);
	guest_check(rd == 0 && wr == 0, "passthrough-no-exits",
		    "%llu RDMSR and %llu WRMSR exits (want 0)", rd, wr);
}

/* --- unknown MSRs --------------------------------------------------------------------------- */
static void check_unknown(const char *name, u32 msr)
{
	u64 v;
	int rd = try_rdmsr(msr, &v);
	u64 rd_error = rd == NO_FAULT ? 0 : guest_fault.error;
	int wr = try_wrmsr(msr, 0x1234);
	u64 wr_error = wr == NO_FAULT ? 0 : guest_fault.error;

	if (!on_kestrel() && rd == NO_FAULT && wr == NO_FAULT) {
		/* QEMU's TCG reads unknown MSRs as 0 and ignores writes to them. */
		guest_skip(name, "natively RDMSR 0x%x returned 0x%llx and WRMSR did not fault either "
				 "(QEMU TCG ignores unknown MSRs)", msr, v);
		return;
	}
	guest_check(rd == 13 && rd_error == 0 && wr == 13 && wr_error == 0, name,
		    "MSR 0x%x: RDMSR -> %s (error 0x%llx, value 0x%llx), WRMSR -> %s (error 0x%llx); "
		    "want #GP(0) for both", msr, rd == NO_FAULT ? "no fault" : guest_vector_name((u64)rd),
		    rd_error, v, wr == NO_FAULT ? "no fault" : guest_vector_name((u64)wr), wr_error);
}

void guest_main(void)
{
	check_emulated();
	check_passthrough();
	check_unknown("unknown-msr-12345678", 0x12345678);
	check_unknown("unknown-msr-4b564d00", 0x4b564d00);
}
