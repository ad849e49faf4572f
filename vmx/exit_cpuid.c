/* CPUID exits: answered from the policy table (vmx/cpuid_policy.c). */
#include <kestrel/cpuid_policy.h>
#include <kestrel/vcpu.h>

static struct cpuid_regs host_cpuid(u32 leaf, u32 subleaf)
{
	return cpuid(leaf, subleaf);
}

void exit_cpuid(struct vcpu *v)
{
	struct cpuid_ctx ctx = {
		.vcpu_id = 0,
		.n_vcpus = 1,
		.tsc_hz = v->guest->tsc_hz,
		.xsave = false, /* so OSXSAVE is never shown and CR4 need not be read */
	};
	struct cpuid_regs r = cpuid_policy(host_cpuid, &ctx, (u32)v->regs.gpr[GPR_RAX],
					   (u32)v->regs.gpr[GPR_RCX]);

	v->regs.gpr[GPR_RAX] = r.eax;
	v->regs.gpr[GPR_RBX] = r.ebx;
	v->regs.gpr[GPR_RCX] = r.ecx;
	v->regs.gpr[GPR_RDX] = r.edx;
	vcpu_skip_instruction(v);
}
