/* CPUID exits: answered from the policy table (vmx/cpuid_policy.c), most from a per-vCPU
 * cache of its answers. */
#include <kestrel/cpuid_policy.h>
#include <kestrel/vcpu.h>

static struct cpuid_regs host_cpuid(u32 leaf, u32 subleaf)
{
	return cpuid(leaf, subleaf);
}

static void cpuid_context(const struct vcpu *v, struct cpuid_ctx *ctx)
{
	*ctx = (struct cpuid_ctx){
		.vcpu_id = 0,
		.n_vcpus = 1,
		.tsc_hz = v->guest->tsc_hz,
		.xsave = false, /* so OSXSAVE is never shown and CR4 need not be read */
	};
}

void cpuid_cache_init(struct vcpu *v)
{
	struct cpuid_ctx ctx;

	cpuid_context(v, &ctx);
	cpuid_cache_fill(&v->cpuid_cache, host_cpuid, &ctx);
}

static void set_answer(struct vcpu *v, const struct cpuid_regs *r)
{
	v->regs.gpr[GPR_RAX] = r->eax;
	v->regs.gpr[GPR_RBX] = r->ebx;
	v->regs.gpr[GPR_RCX] = r->ecx;
	v->regs.gpr[GPR_RDX] = r->edx;
	vcpu_skip_instruction(v);
}

/* Leaves whose answer depends on the subleaf, and leaves outside the tables. */
static NOINLINE void exit_cpuid_computed(struct vcpu *v)
{
	struct cpuid_ctx ctx;
	struct cpuid_regs r;

	cpuid_context(v, &ctx);
	r = cpuid_policy(host_cpuid, &ctx, (u32)v->regs.gpr[GPR_RAX], (u32)v->regs.gpr[GPR_RCX]);
	set_answer(v, &r);
}

void exit_cpuid(struct vcpu *v)
{
	const struct cpuid_regs *r = cpuid_cache_lookup(&v->cpuid_cache, (u32)v->regs.gpr[GPR_RAX]);

	if (unlikely(!r))
		exit_cpuid_computed(v);
	else
		set_answer(v, r);
}
