/*
 * What a guest sees from CPUID: host values filtered through an allow-list policy (features
 * Kestrel virtualizes or that need no help), plus leaves Kestrel computes (topology, TSC
 * frequency, its own 0x4000_00xx leaves). Pure: the unit tests pass a fake host CPUID.
 */
#ifndef KESTREL_CPUID_POLICY_H
#define KESTREL_CPUID_POLICY_H

#include <kestrel/cpu.h>
#include <kestrel/hypercall.h>

typedef struct cpuid_regs (*cpuid_host_fn)(u32 leaf, u32 subleaf);

struct cpuid_ctx {
	u32 vcpu_id;    /* initial APIC ID */
	u32 n_vcpus;    /* vCPUs of this guest */
	u64 tsc_hz;     /* the guest's (invariant) TSC frequency */
	u64 guest_cr4;  /* for OSXSAVE, which mirrors CR4.OSXSAVE */
	bool xsave;     /* expose XSAVE (and the AVX family it carries) */
};

#define CPUID_MAX_BASIC_LEAF 0x16u
#define CPUID_MAX_EXT_LEAF 0x80000008u

struct cpuid_regs cpuid_policy(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 leaf,
			       u32 subleaf);

/*
 * The answers that depend on nothing but the leaf are computed once per vCPU, so a CPUID exit
 * is an index and four stores. Slots: the basic leaves, then Kestrel's, then the extended ones.
 */
#define CPUID_CACHE_BASIC (CPUID_MAX_BASIC_LEAF + 1)
#define CPUID_CACHE_KESTREL (KESTREL_CPUID_MAX - KESTREL_CPUID_BASE + 1)
#define CPUID_CACHE_SIZE                                                                           \
	(CPUID_CACHE_BASIC + CPUID_CACHE_KESTREL + (CPUID_MAX_EXT_LEAF - 0x80000000u + 1))

/* The slot for `leaf`, or -1 when its answer depends on the subleaf (4, 7, 0xb, 0xd) or it is
 * outside the tables (then cpuid_policy() answers). */
static inline int cpuid_cache_slot(u32 leaf)
{
	if (leaf < CPUID_CACHE_BASIC)
		return leaf == 4 || leaf == 7 || leaf == 0xb || leaf == 0xd ? -1 : (int)leaf;
	if (leaf - KESTREL_CPUID_BASE < CPUID_CACHE_KESTREL)
		return (int)(CPUID_CACHE_BASIC + leaf - KESTREL_CPUID_BASE);
	if (leaf - 0x80000000u <= CPUID_MAX_EXT_LEAF - 0x80000000u)
		return (int)(CPUID_CACHE_BASIC + CPUID_CACHE_KESTREL + leaf - 0x80000000u);
	return -1;
}

void cpuid_cache_fill(struct cpuid_regs cache[CPUID_CACHE_SIZE], cpuid_host_fn host,
		      const struct cpuid_ctx *ctx);

#endif
