/*
 * The CPUID policy as data: for each leaf Kestrel answers, which host bits pass (allow masks:
 * a feature the policy does not know stays hidden) and which leaves are computed. Leaves not
 * in the table read as zero. Bit positions: SDM Vol. 2A, CPUID.
 */
#include <kestrel/cpuid_policy.h>
#include <kestrel/hypercall.h>

#define BIT(n) (1u << (n))

enum leaf_kind {
	LEAF_ABSENT,   /* a gap in a table: reads as zero */
	LEAF_MASKED,   /* host values & allow masks */
	LEAF_COMPUTED, /* filled by the leaf's function */
};

struct cpuid_leaf_rule {
	enum leaf_kind kind;
	u32 allow[4]; /* EAX, EBX, ECX, EDX */
	void (*compute)(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
			struct cpuid_regs *r);
};

/* Leaf 1 ECX: SSE3, PCLMULQDQ, SSSE3, FMA, CX16, PCID, SSE4.1/4.2, MOVBE, POPCNT, AES, F16C,
 * RDRAND. Hidden: MONITOR (MONITOR/MWAIT exit), VMX/SMX (no nesting), EIST/TM2/PDCM/DCA/xTPR
 * (power and debug MSRs not emulated). x2APIC and TSC-deadline are set whatever the host has:
 * they are features of Kestrel's virtual local APIC (guest/lapic.c). */
#define LEAF1_ECX_ALLOW                                                                            \
	(BIT(0) | BIT(1) | BIT(9) | BIT(12) | BIT(13) | BIT(17) | BIT(19) | BIT(20) | BIT(22) |    \
	 BIT(23) | BIT(25) | BIT(29) | BIT(30))
#define LEAF1_ECX_XSAVE (BIT(26) | BIT(28)) /* XSAVE, AVX */
#define LEAF1_ECX_OSXSAVE BIT(27)
#define LEAF1_ECX_HYPERVISOR BIT(31)
#define LEAF1_ECX_VIRTUAL_APIC (BIT(21) | BIT(24)) /* x2APIC, TSC-deadline timer */
/* Leaf 1 EDX: FPU, VME, DE, PSE, TSC, MSR, PAE, MCE, CX8, APIC, SEP, MTRR, PGE, MCA, CMOV, PAT,
 * PSE-36, CLFSH, MMX, FXSR, SSE, SSE2, SS. Hidden: PSN, DS, ACPI thermal, TM, PBE, the reserved
 * bits 10, 20 and 30, and HTT (set from the topology). */
#define LEAF1_EDX_ALLOW                                                                            \
	(0x3ffu /* bits 0-9 */ | 0x3f800u /* bits 11-17 */ | BIT(19) | 0x0f800000u /* 23-27 */)
#define LEAF1_EDX_HTT BIT(28)
/* Leaf 7.0 EBX: FSGSBASE, BMI1, FDP_EXCPTN_ONLY, SMEP, BMI2, ERMS, FPU CS/DS deprecation, RDSEED,
 * ADX, SMAP, CLFLUSHOPT, CLWB, SHA. AVX2 only with XSAVE. */
#define LEAF7_EBX_ALLOW                                                                            \
	(BIT(0) | BIT(3) | BIT(6) | BIT(7) | BIT(8) | BIT(9) | BIT(13) | BIT(18) | BIT(19) |        \
	 BIT(20) | BIT(23) | BIT(24) | BIT(29))
#define LEAF7_EBX_XSAVE BIT(5)
#define LEAF7_ECX_ALLOW (BIT(2) | BIT(8) | BIT(9) | BIT(10)) /* UMIP, GFNI, VAES, VPCLMULQDQ */
#define LEAF7_EDX_ALLOW BIT(4)                              /* fast short REP MOVSB */
/* 0x80000001 ECX: LAHF/SAHF, LZCNT, PREFETCHW. EDX: SYSCALL, NX, 1 GiB pages, LM; RDTSCP (27)
 * hidden: IA32_TSC_AUX is not switched between guests. EAX/EBX are reserved on Intel. */
#define EXT1_ECX_ALLOW (BIT(0) | BIT(5) | BIT(8))
#define EXT1_EDX_ALLOW (BIT(11) | BIT(20) | BIT(26) | BIT(29))
#define EXT7_EDX_INVARIANT_TSC BIT(8)

static void leaf_max_basic(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
			   struct cpuid_regs *r)
{
	*r = host(0, 0);
	r->eax = CPUID_MAX_BASIC_LEAF; /* vendor string passes; 0x15/0x16 are always computed */
}

static void leaf_features(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
			  struct cpuid_regs *r)
{
	struct cpuid_regs h = host(1, 0);
	u32 ecx_allow = LEAF1_ECX_ALLOW | (ctx->xsave ? LEAF1_ECX_XSAVE : 0);

	r->eax = h.eax;
	/* EBX: APIC ID [31:24], logical processors [23:16], CLFLUSH size [15:8] from the host. */
	r->ebx = ctx->vcpu_id << 24 | (ctx->n_vcpus & 0xff) << 16 | (h.ebx & 0xff00);
	r->ecx = (h.ecx & ecx_allow) | LEAF1_ECX_VIRTUAL_APIC | LEAF1_ECX_HYPERVISOR;
	if (ctx->xsave && (ctx->guest_cr4 & (1ull << 18)))
		r->ecx |= LEAF1_ECX_OSXSAVE;
	r->edx = (h.edx & LEAF1_EDX_ALLOW) | (ctx->n_vcpus > 1 ? LEAF1_EDX_HTT : 0);
}

static void leaf_cache_params(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
			      struct cpuid_regs *r)
{
	*r = host(4, subleaf);
	if ((r->eax & 0x1f) == 0)
		return; /* no more cache levels */
	/* EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing this cache - 1. */
	r->eax = (r->eax & 0x3fff) | (ctx->n_vcpus - 1) << 26 | (ctx->n_vcpus - 1) << 14;
}

static void leaf_ext_features(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
			      struct cpuid_regs *r)
{
	struct cpuid_regs h;

	*r = (struct cpuid_regs){ 0 };
	if (subleaf != 0)
		return; /* no further subleaves: EAX of subleaf 0 reports 0 */
	h = host(7, 0);
	r->ebx = h.ebx & (LEAF7_EBX_ALLOW | (ctx->xsave ? LEAF7_EBX_XSAVE : 0));
	r->ecx = h.ecx & LEAF7_ECX_ALLOW;
	r->edx = h.edx & LEAF7_EDX_ALLOW;
}

static u32 bits_for(u32 n)
{
	u32 bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

/* Leaf 0xB: one package of n_vcpus cores, one thread each (SDM Vol. 3A 10.9.4). */
static void leaf_topology(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
			  struct cpuid_regs *r)
{
	*r = (struct cpuid_regs){ .ecx = subleaf & 0xff, .edx = ctx->vcpu_id };
	if (subleaf == 0) {
		r->eax = 0;
		r->ebx = 1;
		r->ecx |= 1 << 8; /* SMT level */
	} else if (subleaf == 1) {
		r->eax = bits_for(ctx->n_vcpus);
		r->ebx = ctx->n_vcpus;
		r->ecx |= 2 << 8; /* core level */
	}
}

static void leaf_xsave(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
		       struct cpuid_regs *r)
{
	*r = ctx->xsave && subleaf <= 1 ? host(0xd, subleaf) : (struct cpuid_regs){ 0 };
	if (subleaf == 1)
		r->eax &= BIT(0); /* XSAVEOPT only: XSAVES/XSAVEC need controls Kestrel leaves off */
}

/* Leaf 0x15: TSC = crystal * EBX / EAX; with crystal = TSC the guest reads its exact rate
 * (halved as often as ECX needs to hold it, the ratio doubling each time). */
static void leaf_tsc_crystal(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
			     struct cpuid_regs *r)
{
	u32 shift = 0;

	while ((ctx->tsc_hz >> shift) > 0xffffffffull)
		shift++;
	*r = (struct cpuid_regs){ .eax = 1, .ebx = 1u << shift, .ecx = (u32)(ctx->tsc_hz >> shift) };
}

static void leaf_frequency(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
			   struct cpuid_regs *r)
{
	u32 mhz = (u32)(ctx->tsc_hz / 1000000);

	*r = (struct cpuid_regs){ .eax = mhz, .ebx = mhz, .ecx = 100 };
}

/* "Kestrel VMM " as the three little-endian dwords CPUID returns (EBX, ECX, EDX). */
#define SIG_DWORD(a, b, c, d) ((u32)(a) | (u32)(b) << 8 | (u32)(c) << 16 | (u32)(d) << 24)

static void leaf_kestrel(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
			 struct cpuid_regs *r)
{
	*r = (struct cpuid_regs){
		.eax = KESTREL_CPUID_MAX,
		.ebx = SIG_DWORD('K', 'e', 's', 't'),
		.ecx = SIG_DWORD('r', 'e', 'l', ' '),
		.edx = SIG_DWORD('V', 'M', 'M', ' '),
	};
}

static void leaf_kestrel_version(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
				 struct cpuid_regs *r)
{
	*r = (struct cpuid_regs){ .eax = KESTREL_ABI_VERSION };
}

static void leaf_kestrel_timing(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
				struct cpuid_regs *r)
{
	*r = (struct cpuid_regs){ .eax = (u32)(ctx->tsc_hz / 1000), .ebx = 1000000 /* 1 GHz */ };
}

static void leaf_max_ext(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
			 struct cpuid_regs *r)
{
	*r = (struct cpuid_regs){ .eax = CPUID_MAX_EXT_LEAF }; /* EBX-EDX: reserved on Intel */
}

static void leaf_power(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 subleaf,
		       struct cpuid_regs *r)
{
	*r = (struct cpuid_regs){ .edx = EXT7_EDX_INVARIANT_TSC }; /* the guest TSC never stops */
}

#define MASKED(a, b, c, d) { LEAF_MASKED, { a, b, c, d }, NULL }
#define COMPUTED(fn) { LEAF_COMPUTED, { 0 }, fn }

/* Three dense tables indexed by leaf - base, so a CPUID exit finds its rule in O(1). */
static const struct cpuid_leaf_rule basic_rules[CPUID_MAX_BASIC_LEAF + 1] = {
	[0x0] = COMPUTED(leaf_max_basic),
	[0x1] = COMPUTED(leaf_features),
	[0x2] = MASKED(~0u, ~0u, ~0u, ~0u), /* cache descriptors */
	[0x4] = COMPUTED(leaf_cache_params),
	[0x7] = COMPUTED(leaf_ext_features),
	[0xb] = COMPUTED(leaf_topology),
	[0xd] = COMPUTED(leaf_xsave),
	[0x15] = COMPUTED(leaf_tsc_crystal),
	[0x16] = COMPUTED(leaf_frequency),
};

static const struct cpuid_leaf_rule kestrel_rules[KESTREL_CPUID_MAX - KESTREL_CPUID_BASE + 1] = {
	[0x00] = COMPUTED(leaf_kestrel),
	[0x01] = COMPUTED(leaf_kestrel_version),
	[0x10] = COMPUTED(leaf_kestrel_timing),
};

static const struct cpuid_leaf_rule ext_rules[CPUID_MAX_EXT_LEAF - 0x80000000 + 1] = {
	[0x0] = COMPUTED(leaf_max_ext),
	[0x1] = MASKED(0, 0, EXT1_ECX_ALLOW, EXT1_EDX_ALLOW),
	[0x2] = MASKED(~0u, ~0u, ~0u, ~0u),             /* brand string */
	[0x3] = MASKED(~0u, ~0u, ~0u, ~0u),
	[0x4] = MASKED(~0u, ~0u, ~0u, ~0u),
	[0x6] = MASKED(~0u, ~0u, ~0u, ~0u), /* L2 cache */
	[0x7] = COMPUTED(leaf_power),
	[0x8] = MASKED(0xffffu, 0, 0, 0), /* address sizes only */
};

static const struct cpuid_leaf_rule *find_rule(u32 leaf)
{
	if (leaf <= CPUID_MAX_BASIC_LEAF)
		return &basic_rules[leaf];
	if (leaf - KESTREL_CPUID_BASE <= KESTREL_CPUID_MAX - KESTREL_CPUID_BASE)
		return &kestrel_rules[leaf - KESTREL_CPUID_BASE];
	if (leaf - 0x80000000u <= CPUID_MAX_EXT_LEAF - 0x80000000u)
		return &ext_rules[leaf - 0x80000000u];
	return NULL;
}

struct cpuid_regs cpuid_policy(cpuid_host_fn host, const struct cpuid_ctx *ctx, u32 leaf,
			       u32 subleaf)
{
	const struct cpuid_leaf_rule *rule = find_rule(leaf);
	struct cpuid_regs r = { 0 };

	if (!rule || rule->kind == LEAF_ABSENT)
		return r; /* not in the policy: all zero */
	if (rule->kind == LEAF_COMPUTED) {
		rule->compute(host, ctx, subleaf, &r);
		return r;
	}
	r = host(leaf, subleaf);
	r.eax &= rule->allow[0];
	r.ebx &= rule->allow[1];
	r.ecx &= rule->allow[2];
	r.edx &= rule->allow[3];
	return r;
}

/* The subleaf picks the answer (SDM Vol. 2A, CPUID): these leaves are never cached. */
static bool cpuid_leaf_has_subleaves(u32 leaf)
{
	return leaf == 4 || leaf == 7 || leaf == 0xb || leaf == 0xd;
}

void cpuid_cache_fill(struct cpuid_cache *c, cpuid_host_fn host, const struct cpuid_ctx *ctx)
{
	static const struct {
		u32 first, last;
	} ranges[] = {
		{ 0, CPUID_MAX_BASIC_LEAF },
		{ KESTREL_CPUID_BASE, KESTREL_CPUID_MAX },
		{ 0x80000000u, CPUID_MAX_EXT_LEAF },
	};

	/* Empty: slot i holds leaf i + 1, whose own slot is i + 1, so no lookup matches it. */
	for (u32 i = 0; i < CPUID_CACHE_SIZE; i++)
		c->tag[i] = i + 1;
	for (u32 i = 0; i < ARRAY_SIZE(ranges); i++)
		for (u32 leaf = ranges[i].first; leaf <= ranges[i].last; leaf++) {
			u32 slot = cpuid_cache_index(leaf);

			if (cpuid_leaf_has_subleaves(leaf))
				continue;
			c->tag[slot] = leaf;
			c->answer[slot] = cpuid_policy(host, ctx, leaf, 0);
		}
}
