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
 * The answers that depend on nothing but the leaf are computed once per vCPU, so that a CPUID
 * exit is a lookup and four stores. The table is direct-mapped: a leaf's slot is its low bits
 * plus its range (basic 0x00-0x1f, Kestrel's 0x4000_00xx at 0x20, extended 0x8000_00xx at
 * 0x40), and the slot's tag says which leaf it holds. A leaf whose answer depends on the
 * subleaf (4, 7, 0xb, 0xd) or that lies outside the tables misses; cpuid_policy() answers it.
 */
#define CPUID_CACHE_SIZE 128

_Static_assert(CPUID_MAX_BASIC_LEAF < 0x20 && KESTREL_CPUID_MAX - KESTREL_CPUID_BASE < 0x20 &&
		       CPUID_MAX_EXT_LEAF - 0x80000000u < 0x40,
	       "every cached leaf has a slot of its own");

struct cpuid_cache {
	u32 tag[CPUID_CACHE_SIZE]; /* the leaf in this slot; an empty slot holds one of another */
	struct cpuid_regs answer[CPUID_CACHE_SIZE];
};

static inline u32 cpuid_cache_index(u32 leaf)
{
	return (leaf + (leaf >> 25)) & (CPUID_CACHE_SIZE - 1);
}

/* The cached answer for `leaf`, or NULL. */
static inline const struct cpuid_regs *cpuid_cache_lookup(const struct cpuid_cache *c, u32 leaf)
{
	u32 i = cpuid_cache_index(leaf);

	return c->tag[i] == leaf ? &c->answer[i] : NULL;
}

void cpuid_cache_fill(struct cpuid_cache *c, cpuid_host_fn host, const struct cpuid_ctx *ctx);

#endif
