/*
 * Unit tests for vmx/cpuid_policy.c: what a guest sees from CPUID, given a fake host CPUID.
 * Two hosts: a Skylake-like table (values from an i7-6700K), and a "future CPU" whose every
 * leaf and subleaf reads all ones, so any bit the policy does not explicitly allow shows up.
 * The expected masks are restated here from the SDM (Vol. 2A, CPUID), bit by bit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <kestrel/cpuid_policy.h>
#include <kestrel/hypercall.h>

#define B(n) (1u << (n))

/* --- fake hosts -------------------------------------------------------------------------- */

struct host_leaf {
	u32 leaf, subleaf;
	bool any_subleaf; /* the leaf ignores ECX */
	struct cpuid_regs r;
};

/* Intel Core i7-6700K (Skylake), as Linux' cpuid tool reports it. */
static const struct host_leaf skylake_leaves[] = {
	{ 0x0, 0, true, { 0x16, 0x756e6547, 0x6c65746e, 0x49656e69 } }, /* GenuineIntel */
	{ 0x1, 0, true, { 0x000506e3, 0x02100800, 0x7ffafbbf, 0xbfebfbff } },
	{ 0x2, 0, true, { 0x76036301, 0x00f0b5ff, 0x00000000, 0x00c30000 } },
	{ 0x3, 0, true, { 0x11111111, 0x22222222, 0x33333333, 0x44444444 } }, /* never read */
	{ 0x4, 0, false, { 0x1c004121, 0x01c0003f, 0x0000003f, 0x00000000 } },
	{ 0x4, 1, false, { 0x1c004122, 0x01c0003f, 0x0000003f, 0x00000000 } },
	{ 0x4, 2, false, { 0x1c004143, 0x00c0003f, 0x000003ff, 0x00000000 } },
	{ 0x4, 3, false, { 0x1c03c163, 0x03c0003f, 0x00001fff, 0x00000006 } },
	{ 0x4, 4, false, { 0, 0, 0, 0 } },
	{ 0x5, 0, true, { 0x40, 0x40, 0x3, 0x11142120 } },
	{ 0x6, 0, true, { 0x27f7, 0x2, 0x9, 0x0 } },
	{ 0x7, 0, false, { 0x0, 0x029c6fbf, 0x00000000, 0x9c002400 } },
	{ 0x7, 1, false, { 0x0, 0x0, 0x0, 0x0 } },
	{ 0x8, 0, true, { 0x55555555, 0x55555555, 0x55555555, 0x55555555 } },
	{ 0xa, 0, true, { 0x07300404, 0x0, 0x0, 0x00000603 } },
	{ 0xb, 0, false, { 0x1, 0x2, 0x100, 0x2 } },
	{ 0xb, 1, false, { 0x4, 0x8, 0x201, 0x2 } },
	{ 0xd, 0, false, { 0x1f, 0x440, 0x440, 0x0 } },
	{ 0xd, 1, false, { 0xf, 0x3c0, 0x100, 0x0 } },
	{ 0xd, 2, false, { 0x100, 0x240, 0x0, 0x0 } },
	{ 0x15, 0, true, { 0x2, 0x11c, 0x0, 0x0 } },
	{ 0x16, 0, true, { 0xfa0, 0x1068, 0x64, 0x0 } },
	{ 0x80000000, 0, true, { 0x80000008, 0x0, 0x0, 0x0 } },
	{ 0x80000001, 0, true, { 0x0, 0x0, 0x00000121, 0x2c100800 } },
	{ 0x80000002, 0, true, { 0x65746e49, 0x2952286c, 0x726f4320, 0x4d542865 } },
	{ 0x80000003, 0, true, { 0x37692029, 0x3037362d, 0x43204b30, 0x40205550 } },
	{ 0x80000004, 0, true, { 0x302e3420, 0x7a484730, 0x00000000, 0x00000000 } },
	{ 0x80000006, 0, true, { 0x0, 0x0, 0x01006040, 0x0 } },
	{ 0x80000007, 0, true, { 0x0, 0x0, 0x0, 0x100 } },
	{ 0x80000008, 0, true, { 0x00003027, 0x0, 0x0, 0x0 } },
};

static unsigned host_calls;

/* Anything not in the table reads as a recognizable junk pattern, never zero, so a leaf the
 * policy must zero cannot pass by accident. */
static struct cpuid_regs skylake_host(u32 leaf, u32 subleaf)
{
	host_calls++;
	for (size_t i = 0; i < sizeof(skylake_leaves) / sizeof(skylake_leaves[0]); i++) {
		const struct host_leaf *h = &skylake_leaves[i];

		if (h->leaf == leaf && (h->any_subleaf || h->subleaf == subleaf))
			return h->r;
	}
	return (struct cpuid_regs){ 0xa5a5a5a5 ^ leaf, 0x5a5a5a5a ^ subleaf, 0xdeadbeef,
				    0xcafef00d };
}

/* A CPU from the future: every bit of every leaf is set. */
static struct cpuid_regs future_host(u32 leaf, u32 subleaf)
{
	host_calls++;
	return (struct cpuid_regs){ ~0u, ~0u, ~0u, ~0u };
}

static struct cpuid_ctx ctx1(void)
{
	return (struct cpuid_ctx){ .vcpu_id = 0, .n_vcpus = 1, .tsc_hz = 2400000000ull };
}

#define assert_regs(r, a, b, c, d)                                                                \
	do {                                                                                      \
		struct cpuid_regs r_ = (r);                                                       \
		assert_int_equal(r_.eax, (a));                                                    \
		assert_int_equal(r_.ebx, (b));                                                    \
		assert_int_equal(r_.ecx, (c));                                                    \
		assert_int_equal(r_.edx, (d));                                                    \
	} while (0)

/* --- the allow lists, restated from the SDM ---------------------------------------------- */

/* Leaf 1 ECX. */
#define ECX1_SSE3 B(0)
#define ECX1_PCLMULQDQ B(1)
#define ECX1_DTES64 B(2)
#define ECX1_MONITOR B(3)
#define ECX1_DSCPL B(4)
#define ECX1_VMX B(5)
#define ECX1_SMX B(6)
#define ECX1_EIST B(7)
#define ECX1_TM2 B(8)
#define ECX1_SSSE3 B(9)
#define ECX1_CNXTID B(10)
#define ECX1_SDBG B(11)
#define ECX1_FMA B(12)
#define ECX1_CX16 B(13)
#define ECX1_XTPR B(14)
#define ECX1_PDCM B(15)
#define ECX1_PCID B(17)
#define ECX1_DCA B(18)
#define ECX1_SSE41 B(19)
#define ECX1_SSE42 B(20)
#define ECX1_X2APIC B(21)
#define ECX1_MOVBE B(22)
#define ECX1_POPCNT B(23)
#define ECX1_TSC_DEADLINE B(24)
#define ECX1_AES B(25)
#define ECX1_XSAVE B(26)
#define ECX1_OSXSAVE B(27)
#define ECX1_AVX B(28)
#define ECX1_F16C B(29)
#define ECX1_RDRAND B(30)
#define ECX1_HYPERVISOR B(31)
#define ECX1_VIRTUAL_APIC (ECX1_X2APIC | ECX1_TSC_DEADLINE)

#define ECX1_ALLOWED                                                                              \
	(ECX1_SSE3 | ECX1_PCLMULQDQ | ECX1_SSSE3 | ECX1_FMA | ECX1_CX16 | ECX1_PCID | ECX1_SSE41 | \
	 ECX1_SSE42 | ECX1_MOVBE | ECX1_POPCNT | ECX1_AES | ECX1_F16C | ECX1_RDRAND)

/* Leaf 1 EDX: the architectural features, without PSN (18), DS (21), ACPI (22), HTT (28),
 * TM (29), PBE (31) and the reserved bits 10, 20 and 30. */
#define EDX1_HTT B(28)
#define EDX1_ALLOWED                                                                              \
	(B(0) | B(1) | B(2) | B(3) | B(4) | B(5) | B(6) | B(7) | B(8) | B(9) | B(11) | B(12) |     \
	 B(13) | B(14) | B(15) | B(16) | B(17) | B(19) | B(23) | B(24) | B(25) | B(26) | B(27))

/* Leaf 7.0 EBX: FSGSBASE, BMI1, FDP_EXCPTN_ONLY, SMEP, BMI2, ERMS, FPU CS/DS deprecation,
 * RDSEED, ADX, SMAP, CLFLUSHOPT, CLWB, SHA; AVX2 (5) only with XSAVE. */
#define EBX7_AVX2 B(5)
#define EBX7_ALLOWED                                                                              \
	(B(0) | B(3) | B(6) | B(7) | B(8) | B(9) | B(13) | B(18) | B(19) | B(20) | B(23) |        \
	 B(24) | B(29))
#define ECX7_ALLOWED (B(2) | B(8) | B(9) | B(10))
#define EDX7_ALLOWED B(4)

/* 0x80000001: LAHF/SAHF, LZCNT, PREFETCHW; SYSCALL, NX, 1 GiB pages, LM (not RDTSCP, 27). */
#define ECX81_ALLOWED (B(0) | B(5) | B(8))
#define EDX81_RDTSCP B(27)
#define EDX81_LM B(29)
#define EDX81_ALLOWED (B(11) | B(20) | B(26) | EDX81_LM)

/* --- leaf 0 ------------------------------------------------------------------------------ */

static void leaf0_reports_0x16_and_the_host_vendor(void **state)
{
	struct cpuid_ctx c = ctx1();

	assert_regs(cpuid_policy(skylake_host, &c, 0, 0), 0x16, 0x756e6547, 0x6c65746e, 0x49656e69);
	/* A host with more leaves still gets 0x16: the policy knows nothing above it. */
	assert_int_equal(cpuid_policy(future_host, &c, 0, 0).eax, 0x16);
	assert_int_equal(cpuid_policy(future_host, &c, 0, 7).eax, CPUID_MAX_BASIC_LEAF);
}

/* --- leaf 1 ------------------------------------------------------------------------------ */

static void leaf1_skylake_exact(void **state)
{
	struct cpuid_ctx c = ctx1();
	/* ECX 0x7ffafbbf & allowed: SSE3 PCLMUL SSSE3 FMA CX16 PCID SSE4.1 SSE4.2 MOVBE POPCNT AES
	 * F16C RDRAND = 0x62da3203, plus the hypervisor bit. EDX 0xbfebfbff without DS, ACPI,
	 * HTT, TM, PBE = 0x0f8bfbff. */
	struct cpuid_regs r = cpuid_policy(skylake_host, &c, 1, 0);

	assert_int_equal(r.eax, 0x000506e3);
	assert_int_equal(r.ebx, 0x00010800); /* APIC ID 0, 1 logical, CLFLUSH 8 qwords */
	assert_int_equal(r.ecx, 0xe3fa3203);
	assert_int_equal(r.ecx, (0x7ffafbbfu & ECX1_ALLOWED) | ECX1_VIRTUAL_APIC | ECX1_HYPERVISOR);
	assert_int_equal(r.edx, 0x0f8bfbff);
	assert_int_equal(r.edx, 0xbfebfbffu & EDX1_ALLOWED);
}

static void leaf1_hides_vmx_smx_monitor_pdcm(void **state)
{
	struct cpuid_ctx c = ctx1();
	u32 hidden[] = { ECX1_VMX,  ECX1_SMX,  ECX1_MONITOR, ECX1_PDCM, ECX1_EIST, ECX1_TM2,
			 ECX1_DTES64, ECX1_DSCPL, ECX1_XTPR, ECX1_DCA,  ECX1_SDBG, ECX1_CNXTID };
	struct cpuid_regs sky = cpuid_policy(skylake_host, &c, 1, 0);
	struct cpuid_regs fut = cpuid_policy(future_host, &c, 1, 0);

	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		assert_int_equal(sky.ecx & hidden[i], 0);
		assert_int_equal(fut.ecx & hidden[i], 0);
	}
	assert_true(sky.ecx & ECX1_HYPERVISOR);
	assert_true(fut.ecx & ECX1_HYPERVISOR);
}

/* x2APIC and the TSC-deadline timer are the virtual local APIC's: shown on any host. */
static void leaf1_shows_virtual_apic_features(void **state)
{
	struct cpuid_ctx c = ctx1();

	for (u32 host_ecx = 0; host_ecx < 2; host_ecx++) {
		struct cpuid_regs r = cpuid_policy(host_ecx ? future_host : skylake_host, &c, 1, 0);

		assert_int_equal(r.ecx & ECX1_VIRTUAL_APIC, ECX1_VIRTUAL_APIC);
	}
}

/* Allow-list: with every host bit set, exactly the known-good bits come through. */
static void leaf1_future_cpu_shows_only_allowed_bits(void **state)
{
	struct cpuid_ctx c = ctx1();
	struct cpuid_regs r = cpuid_policy(future_host, &c, 1, 0);

	assert_int_equal(r.eax, 0xffffffff); /* family/model/stepping pass */
	assert_int_equal(r.ebx, 0x0001ff00); /* APIC ID and count are Kestrel's, CLFLUSH host's */
	assert_int_equal(r.ecx, ECX1_ALLOWED | ECX1_VIRTUAL_APIC | ECX1_HYPERVISOR);
	assert_int_equal(r.edx, EDX1_ALLOWED);
	/* Reserved bits stay hidden however the host sets them. */
	assert_int_equal(r.edx & (B(10) | B(20) | B(30)), 0);
}

static void leaf1_xsave_avx_only_with_ctx_xsave(void **state)
{
	struct cpuid_ctx c = ctx1();
	struct cpuid_regs r;

	/* Without xsave, even CR4.OSXSAVE set shows neither XSAVE, AVX nor OSXSAVE. */
	c.guest_cr4 = 1ull << 18;
	r = cpuid_policy(future_host, &c, 1, 0);
	assert_int_equal(r.ecx & (ECX1_XSAVE | ECX1_AVX | ECX1_OSXSAVE), 0);

	c.xsave = true;
	c.guest_cr4 = 0;
	r = cpuid_policy(future_host, &c, 1, 0);
	assert_int_equal(r.ecx,
			 ECX1_ALLOWED | ECX1_VIRTUAL_APIC | ECX1_HYPERVISOR | ECX1_XSAVE | ECX1_AVX);

	/* OSXSAVE mirrors CR4.OSXSAVE (bit 18), not the host's OSXSAVE, not other CR4 bits. */
	c.guest_cr4 = ~0ull & ~(1ull << 18);
	r = cpuid_policy(future_host, &c, 1, 0);
	assert_int_equal(r.ecx & ECX1_OSXSAVE, 0);
	c.guest_cr4 = 1ull << 18;
	r = cpuid_policy(future_host, &c, 1, 0);
	assert_int_equal(r.ecx, ECX1_ALLOWED | ECX1_VIRTUAL_APIC | ECX1_HYPERVISOR | ECX1_XSAVE |
					ECX1_AVX | ECX1_OSXSAVE);
	/* Skylake has XSAVE and AVX: they appear with xsave. */
	r = cpuid_policy(skylake_host, &c, 1, 0);
	assert_int_equal(r.ecx, 0xe3fa3203 | ECX1_XSAVE | ECX1_AVX | ECX1_OSXSAVE);
	c.guest_cr4 = 0;
	r = cpuid_policy(skylake_host, &c, 1, 0);
	assert_int_equal(r.ecx, 0xe3fa3203 | ECX1_XSAVE | ECX1_AVX);
}

static void leaf1_ebx_apic_id_count_clflush_and_htt(void **state)
{
	struct cpuid_ctx c = { .vcpu_id = 5, .n_vcpus = 3, .tsc_hz = 1000000000 };
	struct cpuid_regs r = cpuid_policy(skylake_host, &c, 1, 0);

	assert_int_equal(r.ebx, 0x05030800);
	assert_int_equal(r.edx, 0x0f8bfbffu | EDX1_HTT);

	c = (struct cpuid_ctx){ .vcpu_id = 0xfe, .n_vcpus = 2 };
	r = cpuid_policy(future_host, &c, 1, 0);
	assert_int_equal(r.ebx, 0xfe02ff00);
	assert_int_equal(r.edx, EDX1_ALLOWED | EDX1_HTT);

	/* The logical-processor count is the whole byte [23:16]. */
	c = (struct cpuid_ctx){ .vcpu_id = 1, .n_vcpus = 200 };
	assert_int_equal(cpuid_policy(skylake_host, &c, 1, 0).ebx, 0x01c80800);

	/* One vCPU: no HTT even if the host has it (Skylake does). */
	c = (struct cpuid_ctx){ .vcpu_id = 0, .n_vcpus = 1 };
	assert_int_equal(cpuid_policy(skylake_host, &c, 1, 0).edx & EDX1_HTT, 0);
	assert_int_equal(cpuid_policy(future_host, &c, 1, 0).edx & EDX1_HTT, 0);
}

/* --- absent leaves ------------------------------------------------------------------------ */

static void gaps_and_leaves_above_max_read_zero(void **state)
{
	struct cpuid_ctx c = ctx1();
	u32 gaps[] = { 0x3, 0x5, 0x6, 0x8, 0x9, 0xa, 0xc, 0xe, 0xf, 0x10, 0x11, 0x12, 0x13, 0x14 };

	c.xsave = true;
	for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++) {
		for (u32 sub = 0; sub < 3; sub++) {
			assert_regs(cpuid_policy(future_host, &c, gaps[i], sub), 0, 0, 0, 0);
			assert_regs(cpuid_policy(skylake_host, &c, gaps[i], sub), 0, 0, 0, 0);
		}
	}
	for (u32 leaf = 0x17; leaf < 0x400; leaf++)
		assert_regs(cpuid_policy(future_host, &c, leaf, 0), 0, 0, 0, 0);
	assert_regs(cpuid_policy(future_host, &c, 0x3fffffff, 0), 0, 0, 0, 0);
	assert_regs(cpuid_policy(future_host, &c, 0x7fffffff, 0), 0, 0, 0, 0);
	assert_regs(cpuid_policy(future_host, &c, 0xc0000000, 0), 0, 0, 0, 0);
	assert_regs(cpuid_policy(future_host, &c, 0xffffffff, 0), 0, 0, 0, 0);
}

static void absent_leaves_do_not_ask_the_host(void **state)
{
	struct cpuid_ctx c = ctx1();

	host_calls = 0;
	cpuid_policy(skylake_host, &c, 0x3, 0);
	cpuid_policy(skylake_host, &c, 0x17, 0);
	cpuid_policy(skylake_host, &c, 0x40000000, 0);
	cpuid_policy(skylake_host, &c, 0x40000005, 0);
	cpuid_policy(skylake_host, &c, 0x80000005, 0);
	cpuid_policy(skylake_host, &c, 0x80000009, 0);
	assert_int_equal(host_calls, 0);
}

static void leaf2_cache_descriptors_pass(void **state)
{
	struct cpuid_ctx c = ctx1();

	assert_regs(cpuid_policy(skylake_host, &c, 2, 0), 0x76036301, 0x00f0b5ff, 0, 0x00c30000);
}

/* --- leaf 4 ------------------------------------------------------------------------------ */

static void leaf4_sharing_fields(void **state)
{
	struct cpuid_ctx c = ctx1();

	/* One vCPU: EAX[31:26] and [25:14] are 0; the cache description [13:0] stays. */
	assert_regs(cpuid_policy(skylake_host, &c, 4, 0), 0x00000121, 0x01c0003f, 0x3f, 0);
	assert_regs(cpuid_policy(skylake_host, &c, 4, 1), 0x00000122, 0x01c0003f, 0x3f, 0);
	assert_regs(cpuid_policy(skylake_host, &c, 4, 2), 0x00000143, 0x00c0003f, 0x3ff, 0);
	assert_regs(cpuid_policy(skylake_host, &c, 4, 3), 0x00000163, 0x03c0003f, 0x1fff, 6);
	/* Type 0 (no more caches) passes as the host has it. */
	assert_regs(cpuid_policy(skylake_host, &c, 4, 4), 0, 0, 0, 0);

	c.n_vcpus = 4;
	assert_regs(cpuid_policy(skylake_host, &c, 4, 0), 0x0c00c121, 0x01c0003f, 0x3f, 0);
	assert_regs(cpuid_policy(skylake_host, &c, 4, 3), 0x0c00c163, 0x03c0003f, 0x1fff, 6);
	/* The terminating type-0 subleaf gets no sharing counts. */
	assert_regs(cpuid_policy(skylake_host, &c, 4, 4), 0, 0, 0, 0);

	c.n_vcpus = 64;
	assert_int_equal(cpuid_policy(skylake_host, &c, 4, 2).eax, 0xfc0fc143);
	/* A future CPU's cache description bits [13:0] pass; the counts are Kestrel's. */
	c.n_vcpus = 2;
	assert_int_equal(cpuid_policy(future_host, &c, 4, 0).eax, 0x04007fff);
}

/* --- leaf 7 ------------------------------------------------------------------------------ */

static void leaf7_subleaf0_masks(void **state)
{
	struct cpuid_ctx c = ctx1();

	/* Skylake EBX 0x029c6fbf: FSGSBASE TSC_ADJUST SGX BMI1 HLE AVX2 FDP SMEP BMI2 ERMS INVPCID
	 * RTM FPU-CS/DS MPX RDSEED ADX SMAP CLFLUSHOPT IPT -> allowed: 0x009c2389. */
	assert_regs(cpuid_policy(skylake_host, &c, 7, 0), 0, 0x009c2389, 0, 0);
	assert_int_equal(0x029c6fbfu & EBX7_ALLOWED, 0x009c2389);
	assert_regs(cpuid_policy(future_host, &c, 7, 0), 0, EBX7_ALLOWED, ECX7_ALLOWED,
		    EDX7_ALLOWED);

	c.xsave = true;
	assert_regs(cpuid_policy(skylake_host, &c, 7, 0), 0, 0x009c2389 | EBX7_AVX2, 0, 0);
	assert_regs(cpuid_policy(future_host, &c, 7, 0), 0, EBX7_ALLOWED | EBX7_AVX2,
		    ECX7_ALLOWED, EDX7_ALLOWED);
}

static void leaf7_further_subleaves_are_zero(void **state)
{
	struct cpuid_ctx c = ctx1();

	c.xsave = true;
	for (u32 sub = 1; sub < 8; sub++)
		assert_regs(cpuid_policy(future_host, &c, 7, sub), 0, 0, 0, 0);
	assert_regs(cpuid_policy(future_host, &c, 7, 0xffffffff), 0, 0, 0, 0);
}

/* --- leaf 0xb ----------------------------------------------------------------------------- */

static void check_topology(u32 n_vcpus, u32 shift)
{
	for (u32 id = 0; id < n_vcpus; id++) {
		struct cpuid_ctx c = { .vcpu_id = id, .n_vcpus = n_vcpus, .tsc_hz = 1000000000 };

		/* Subleaf 0: SMT level (type 1), one thread per core, shift 0. */
		assert_regs(cpuid_policy(future_host, &c, 0xb, 0), 0, 1, 0x100, id);
		/* Subleaf 1: core level (type 2), n_vcpus cores, shift = bits for n_vcpus. */
		assert_regs(cpuid_policy(future_host, &c, 0xb, 1), shift, n_vcpus, 0x201, id);
		/* Subleaf 2 and beyond: invalid (type 0), ECX[7:0] echoes the subleaf. */
		assert_regs(cpuid_policy(future_host, &c, 0xb, 2), 0, 0, 2, id);
		assert_regs(cpuid_policy(future_host, &c, 0xb, 0x7f), 0, 0, 0x7f, id);
		assert_regs(cpuid_policy(future_host, &c, 0xb, 0x1ff), 0, 0, 0xff, id);
	}
}

static void leaf0b_topology(void **state)
{
	check_topology(1, 0);
	check_topology(2, 1);
	check_topology(3, 2);
	check_topology(4, 2);
	check_topology(5, 3);
	check_topology(8, 3);
	check_topology(9, 4);
}

/* --- leaf 0xd ----------------------------------------------------------------------------- */

static void leaf0d_only_with_xsave(void **state)
{
	struct cpuid_ctx c = ctx1();

	for (u32 sub = 0; sub < 4; sub++) {
		assert_regs(cpuid_policy(skylake_host, &c, 0xd, sub), 0, 0, 0, 0);
		assert_regs(cpuid_policy(future_host, &c, 0xd, sub), 0, 0, 0, 0);
	}
	c.xsave = true;
	assert_regs(cpuid_policy(skylake_host, &c, 0xd, 0), 0x1f, 0x440, 0x440, 0);
	/* Subleaf 1 EAX: XSAVEOPT only (no XSAVEC, XGETBV1, XSAVES). */
	assert_int_equal(cpuid_policy(skylake_host, &c, 0xd, 1).eax, 1);
	assert_int_equal(cpuid_policy(future_host, &c, 0xd, 1).eax, 1);
}

/* --- leaves 0x15 and 0x16 ----------------------------------------------------------------- */

static void leaf15_and_16_from_tsc_hz(void **state)
{
	struct cpuid_ctx c = ctx1();

	assert_regs(cpuid_policy(skylake_host, &c, 0x15, 0), 1, 1, 2400000000u, 0);
	assert_regs(cpuid_policy(skylake_host, &c, 0x16, 0), 2400, 2400, 100, 0);

	c.tsc_hz = 3999999999ull; /* MHz round down */
	assert_regs(cpuid_policy(future_host, &c, 0x15, 0), 1, 1, 3999999999u, 0);
	assert_regs(cpuid_policy(future_host, &c, 0x16, 0), 3999, 3999, 100, 0);
	assert_regs(cpuid_policy(future_host, &c, 0x16, 3), 3999, 3999, 100, 0);

	c.tsc_hz = 1600123456ull;
	assert_regs(cpuid_policy(future_host, &c, 0x15, 0), 1, 1, 1600123456u, 0);
	assert_regs(cpuid_policy(future_host, &c, 0x16, 0), 1600, 1600, 100, 0);
}

/* --- Kestrel's leaves --------------------------------------------------------------------- */

static void kestrel_leaves(void **state)
{
	struct cpuid_ctx c = ctx1();
	struct cpuid_regs r = cpuid_policy(future_host, &c, 0x40000000, 0);
	char sig[13] = { 0 };

	assert_int_equal(r.eax, 0x40000010);
	memcpy(sig, &r.ebx, 4);
	memcpy(sig + 4, &r.ecx, 4);
	memcpy(sig + 8, &r.edx, 4);
	assert_string_equal(sig, "Kestrel VMM ");
	assert_regs(r, 0x40000010, 0x7473654b, 0x206c6572, 0x204d4d56);

	assert_regs(cpuid_policy(future_host, &c, 0x40000001, 0), 1, 0, 0, 0);
	assert_int_equal(KESTREL_ABI_VERSION, 1);
	for (u32 leaf = 0x40000002; leaf <= 0x4000000f; leaf++)
		assert_regs(cpuid_policy(future_host, &c, leaf, 0), 0, 0, 0, 0);
	assert_regs(cpuid_policy(future_host, &c, 0x40000010, 0), 2400000, 1000000, 0, 0);
	c.tsc_hz = 2999999999ull; /* kHz round down */
	assert_regs(cpuid_policy(future_host, &c, 0x40000010, 0), 2999999, 1000000, 0, 0);
	for (u32 leaf = 0x40000011; leaf < 0x40000200; leaf++)
		assert_regs(cpuid_policy(future_host, &c, leaf, 0), 0, 0, 0, 0);
	assert_regs(cpuid_policy(future_host, &c, 0x4fffffff, 0), 0, 0, 0, 0);
}

/* --- extended leaves ---------------------------------------------------------------------- */

static void ext_leaves_skylake(void **state)
{
	struct cpuid_ctx c = ctx1();

	assert_regs(cpuid_policy(skylake_host, &c, 0x80000000, 0), 0x80000008, 0, 0, 0);
	/* RDTSCP hidden; LAHF, LZCNT, PREFETCHW, SYSCALL, NX, 1G pages, LM kept. */
	assert_regs(cpuid_policy(skylake_host, &c, 0x80000001, 0), 0, 0, 0x121, 0x24100800);
	assert_regs(cpuid_policy(skylake_host, &c, 0x80000002, 0), 0x65746e49, 0x2952286c,
		    0x726f4320, 0x4d542865);
	assert_regs(cpuid_policy(skylake_host, &c, 0x80000003, 0), 0x37692029, 0x3037362d,
		    0x43204b30, 0x40205550);
	assert_regs(cpuid_policy(skylake_host, &c, 0x80000004, 0), 0x302e3420, 0x7a484730, 0, 0);
	assert_regs(cpuid_policy(skylake_host, &c, 0x80000005, 0), 0, 0, 0, 0);
	assert_regs(cpuid_policy(skylake_host, &c, 0x80000006, 0), 0, 0, 0x01006040, 0);
	assert_regs(cpuid_policy(skylake_host, &c, 0x80000007, 0), 0, 0, 0, 0x100);
	assert_regs(cpuid_policy(skylake_host, &c, 0x80000008, 0), 0x3027, 0, 0, 0);
}

static void ext_leaves_future_cpu(void **state)
{
	struct cpuid_ctx c = ctx1();
	struct cpuid_regs r;

	/* EBX-EDX are reserved on Intel: nothing of the host's passes. */
	assert_regs(cpuid_policy(future_host, &c, 0x80000000, 0), 0x80000008, 0, 0, 0);
	r = cpuid_policy(future_host, &c, 0x80000001, 0);
	assert_int_equal(r.edx & EDX81_RDTSCP, 0);
	assert_true(r.edx & EDX81_LM);
	assert_regs(r, 0, 0, ECX81_ALLOWED, EDX81_ALLOWED);
	/* Brand string and L2 description are data: they pass whole. */
	for (u32 leaf = 0x80000002; leaf <= 0x80000004; leaf++)
		assert_regs(cpuid_policy(future_host, &c, leaf, 0), ~0u, ~0u, ~0u, ~0u);
	assert_regs(cpuid_policy(future_host, &c, 0x80000005, 0), 0, 0, 0, 0);
	assert_regs(cpuid_policy(future_host, &c, 0x80000006, 0), ~0u, ~0u, ~0u, ~0u);
	/* 0x80000007: invariant TSC only, whatever the host says. */
	assert_regs(cpuid_policy(future_host, &c, 0x80000007, 0), 0, 0, 0, 0x100);
}

static void ext_leaves_above_max_are_zero(void **state)
{
	struct cpuid_ctx c = ctx1();

	/* 0x80000008: EAX[15:0] (physical and linear address sizes) only. */
	assert_regs(cpuid_policy(future_host, &c, 0x80000008, 0), 0xffff, 0, 0, 0);
	for (u32 leaf = 0x80000009; leaf < 0x80000100; leaf++)
		assert_regs(cpuid_policy(future_host, &c, leaf, 0), 0, 0, 0, 0);
	assert_regs(cpuid_policy(future_host, &c, 0x8fffffff, 0), 0, 0, 0, 0);
}

/* The per-vCPU cache answers exactly what the policy answers for every cacheable leaf, each in
 * a slot of its own; subleaf-dependent and out-of-table leaves miss. */
static void cache_matches_policy(void **state)
{
	struct cpuid_ctx c = ctx1();
	struct cpuid_cache cache;
	static const u32 firsts[] = { 0, 0x40000000u, 0x80000000u, 0xc0000000u, 0xffffff80u };
	u32 hits = 0;

	memset(&cache, 0xa5, sizeof(cache));
	cpuid_cache_fill(&cache, skylake_host, &c);
	for (u32 r = 0; r < ARRAY_SIZE(firsts); r++)
		for (u32 leaf = firsts[r]; leaf - firsts[r] < 0x80; leaf++) {
			const struct cpuid_regs *got = cpuid_cache_lookup(&cache, leaf);
			struct cpuid_regs want = cpuid_policy(skylake_host, &c, leaf, 0);
			bool cacheable = (leaf <= CPUID_MAX_BASIC_LEAF && leaf != 4 && leaf != 7 &&
					  leaf != 0xb && leaf != 0xd) ||
					 (leaf >= 0x40000000u && leaf <= KESTREL_CPUID_MAX) ||
					 (leaf >= 0x80000000u && leaf <= CPUID_MAX_EXT_LEAF);

			if (!cacheable) {
				assert_null(got);
				continue;
			}
			assert_non_null(got);
			assert_memory_equal(got, &want, sizeof(want));
			hits++;
		}
	assert_int_equal(hits, (CPUID_MAX_BASIC_LEAF + 1 - 4) +
				       (KESTREL_CPUID_MAX - KESTREL_CPUID_BASE + 1) +
				       (CPUID_MAX_EXT_LEAF - 0x80000000u + 1));
	assert_null(cpuid_cache_lookup(&cache, 0xffffffffu));
	for (u32 i = 0; i < CPUID_CACHE_SIZE; i++) /* every tag is a leaf that maps to its slot, */
		if (cpuid_cache_index(cache.tag[i]) != i) /* or one no lookup can reach there */
			assert_ptr_not_equal(cpuid_cache_lookup(&cache, cache.tag[i]), &cache.answer[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cache_matches_policy),
		cmocka_unit_test(leaf0_reports_0x16_and_the_host_vendor),
		cmocka_unit_test(leaf1_skylake_exact),
		cmocka_unit_test(leaf1_hides_vmx_smx_monitor_pdcm),
		cmocka_unit_test(leaf1_shows_virtual_apic_features),
		cmocka_unit_test(leaf1_future_cpu_shows_only_allowed_bits),
		cmocka_unit_test(leaf1_xsave_avx_only_with_ctx_xsave),
		cmocka_unit_test(leaf1_ebx_apic_id_count_clflush_and_htt),
		cmocka_unit_test(gaps_and_leaves_above_max_read_zero),
		cmocka_unit_test(absent_leaves_do_not_ask_the_host),
		cmocka_unit_test(leaf2_cache_descriptors_pass),
		cmocka_unit_test(leaf4_sharing_fields),
		cmocka_unit_test(leaf7_subleaf0_masks),
		cmocka_unit_test(leaf7_further_subleaves_are_zero),
		cmocka_unit_test(leaf0b_topology),
		cmocka_unit_test(leaf0d_only_with_xsave),
		cmocka_unit_test(leaf15_and_16_from_tsc_hz),
		cmocka_unit_test(kestrel_leaves),
		cmocka_unit_test(ext_leaves_skylake),
		cmocka_unit_test(ext_leaves_future_cpu),
		cmocka_unit_test(ext_leaves_above_max_are_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
