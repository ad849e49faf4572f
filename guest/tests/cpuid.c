/*
 * cpuid: what Kestrel tells a guest about the CPU and about itself. VMX hidden, the hypervisor
 * bit and Kestrel's leaves (signature, ABI version, TSC frequency), one vCPU in the topology.
 */
#include <kestrel/string.h>
#include "guest.h"

const char guest_name[] = "cpuid";

#define CPUID_1_ECX_VMX (1u << 5)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)

static void printable(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			s[i] = '.';
}

static void check_kestrel_leaves(void)
{
	struct cpuid_regs base = cpuid(KESTREL_CPUID_BASE, 0);
	char sig[13];

	memcpy(sig + 0, &base.ebx, 4);
	memcpy(sig + 4, &base.ecx, 4);
	memcpy(sig + 8, &base.edx, 4);
	sig[12] = '\0';
	printable(sig, 12);
	guest_printf("cpuid: leaf 0x40000000: eax 0x%x, signature \"%s\"\n", base.eax, sig);

	if (guest_kestrel_only("signature"))
		guest_check(memcmp(sig, KESTREL_SIGNATURE, 12) == 0, "signature",
			    "\"%s\", want \"%s\"", sig, KESTREL_SIGNATURE);
	if (guest_kestrel_only("max-leaf"))
		guest_check(base.eax >= KESTREL_CPUID_MAX, "max-leaf", "EAX 0x%x < 0x%x", base.eax,
			    KESTREL_CPUID_MAX);
	if (guest_kestrel_only("abi-version"))
		guest_check_eq("abi-version", cpuid(KESTREL_CPUID_VERSION, 0).eax, KESTREL_ABI_VERSION);
	if (guest_kestrel_only("hc-version"))
		guest_check_eq("hc-version", (u64)hc_version(), KESTREL_ABI_VERSION);
}

static void check_tsc_khz(void)
{
	struct cpuid_regs timing, l15;
	u64 khz, khz15;

	if (!guest_kestrel_only("tsc-khz"))
		return;
	timing = cpuid(KESTREL_CPUID_TIMING, 0);
	khz = timing.eax;
	guest_printf("cpuid: leaf 0x40000010: TSC %u kHz, LAPIC timer %u kHz\n", timing.eax,
		     timing.ebx);
	guest_check(khz != 0, "tsc-khz", "leaf 0x40000010 EAX is 0");

	if (cpuid(0, 0).eax < 0x15) {
		guest_skip("tsc-khz-vs-leaf-15", "no leaf 0x15");
		return;
	}
	l15 = cpuid(0x15, 0);
	if (!l15.eax || !l15.ebx || !l15.ecx) {
		guest_skip("tsc-khz-vs-leaf-15", "leaf 0x15 incomplete: eax %u ebx %u ecx %u", l15.eax,
			   l15.ebx, l15.ecx);
		return;
	}
	khz15 = (u64)l15.ecx * l15.ebx / l15.eax / 1000;
	guest_check((khz > khz15 ? khz - khz15 : khz15 - khz) * 100 <= khz15, "tsc-khz-vs-leaf-15",
		    "leaf 0x40000010 says %llu kHz, leaf 0x15 (%u Hz * %u / %u) says %llu kHz", khz,
		    l15.ecx, l15.ebx, l15.eax, khz15);
}

static void check_topology(struct cpuid_regs l1)
{
	u32 max_basic = cpuid(0, 0).eax;
	struct cpuid_regs b;

	guest_check((l1.ebx >> 24) == 0, "initial-apic-id", "CPUID.1:EBX[31:24] = %u, want 0",
		    l1.ebx >> 24);

	if (max_basic < 0xb) {
		guest_skip("leaf-b-smt", "max basic leaf 0x%x < 0xb", max_basic);
		return;
	}
	b = cpuid(0xb, 0);
	if (b.ebx == 0) {
		guest_skip("leaf-b-smt", "leaf 0xb not enumerated (EBX 0)");
		return;
	}
	guest_check((b.ebx & 0xffff) == 1, "leaf-b-smt",
		    "leaf 0xb subleaf 0: %u logical processors at the SMT level (ecx 0x%x), want 1",
		    b.ebx & 0xffff, b.ecx);
}

/*
 * The exit statistics count exactly: N CPUIDs in a row are N CPUID exits (the HC_EXIT_COUNT
 * call asking is counted only once it has completed, so the two reads bracket the loop alone).
 */
static void check_exit_counting(void)
{
	enum { N = 1000 };
	struct hc_exit_stats st;
	u64 before, after;

	if (!guest_kestrel_only("exit-count-exact"))
		return;
	before = hc_exit_count(EXIT_REASON_CPUID);
	for (int i = 0; i < N; i++)
		cpuid(KESTREL_CPUID_BASE, 0);
	after = hc_exit_count(EXIT_REASON_CPUID);
	guest_check(after - before == N, "exit-count-exact", "%llu CPUID exits counted for %d CPUIDs",
		    after - before, N);
	hc_exit_reset();
	cpuid(KESTREL_CPUID_BASE, 0);
	guest_check(guest_hypercall(HC_EXIT_STATS, EXIT_REASON_CPUID, (u64)(unsigned long)&st, 0,
				    0) == HC_OK &&
			    st.count == 1 && st.cycles_min == st.cycles_max && st.cycles_min > 0 &&
			    st.cycles_total == st.cycles_min,
		    "exit-stats", "after a reset and one CPUID: count %llu, min %llu, max %llu", st.count,
		    st.cycles_min, st.cycles_max);
	guest_printf("cpuid: one CPUID exit costs %llu root-mode TSC ticks\n", st.cycles_min);
}

void guest_main(void)
{
	struct cpuid_regs l1 = cpuid(1, 0);

	guest_printf("cpuid: leaf 1: eax 0x%x ebx 0x%x ecx 0x%x edx 0x%x\n", l1.eax, l1.ebx, l1.ecx,
		     l1.edx);
	if (guest_kestrel_only("hypervisor-bit"))
		guest_check(l1.ecx & CPUID_1_ECX_HYPERVISOR, "hypervisor-bit", "CPUID.1:ECX[31] clear");
	guest_check(!(l1.ecx & CPUID_1_ECX_VMX), "vmx-hidden", "CPUID.1:ECX[5] (VMX) is set");
	check_kestrel_leaves();
	check_tsc_khz();
	check_topology(l1);
	check_exit_counting();
}
