/*
 * What a guest sees from CPUID: host values filtered through an allow-list policy (features
 * Kestrel virtualizes or that need no help), plus leaves Kestrel computes (topology, TSC
 * frequency, its own 0x4000_00xx leaves). Pure: the unit tests pass a fake host CPUID.
 */
#ifndef KESTREL_CPUID_POLICY_H
#define KESTREL_CPUID_POLICY_H

#include <kestrel/cpu.h>

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

#endif
