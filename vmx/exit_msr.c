/* RDMSR/WRMSR exits: the policy table says how (vmx/msr_policy.c); unknown MSRs raise #GP. */
#include <kestrel/cpu.h>
#include <kestrel/log.h>
#include <kestrel/msr_policy.h>
#include <kestrel/sched.h>
#include <kestrel/vcpu.h>
#include <kestrel/vmcs.h>

#define UNKNOWN_MSR_LOG_LIMIT 16

static void unknown_msr(struct vcpu *v, u32 msr, bool write)
{
	struct guest *g = v->guest;

	if (g->unknown_msrs_logged < UNKNOWN_MSR_LOG_LIMIT)
		log_info("guest '%s': %s of unknown MSR 0x%x: #GP%s", g->name,
			 write ? "WRMSR" : "RDMSR", msr,
			 ++g->unknown_msrs_logged == UNKNOWN_MSR_LOG_LIMIT ? " (no more reported)" : "");
	vcpu_inject_exception_error(v, VECTOR_GP, 0);
}

void exit_rdmsr(struct vcpu *v)
{
	u32 msr = (u32)v->regs.gpr[GPR_RCX];
	const struct msr_rule *r = msr_rule_find(msr);
	u64 value;

	if (!r) {
		unknown_msr(v, msr, false);
		return;
	}
	switch (r->kind) {
	case MSR_PASS:
	case MSR_PASS_READ:
		value = rdmsr(msr); /* the bitmap lets these through; reached only if it did not */
		break;
	case MSR_VMCS:
		value = msr == MSR_IA32_PAT ? vmcs_read64(VMCS_GUEST_PAT)
					    : vmcs_read64(VMCS_GUEST_EFER);
		break;
	case MSR_LAPIC:
		if (msr == MSR_IA32_APIC_BASE) {
			value = lapic_base(&v->guest->lapic);
		} else if (lapic_msr_read(&v->guest->lapic, msr, &value)) {
			vcpu_inject_exception_error(v, VECTOR_GP, 0);
			return;
		}
		break;
	default:
		if (msr_emulate_read(r, &v->msrs, msr, &value)) {
			vcpu_inject_exception_error(v, VECTOR_GP, 0);
			return;
		}
		break;
	}
	v->regs.gpr[GPR_RAX] = (u32)value;
	v->regs.gpr[GPR_RDX] = value >> 32;
	vcpu_skip_instruction(v);
}

static int write_efer(struct vcpu *v, u64 value)
{
	u64 old = vmcs_read64(VMCS_GUEST_EFER);

	if (!msr_efer_write_valid(old, value, vmcs_readnat(VMCS_GUEST_CR0) & CR0_PG))
		return -1;
	/* LMA is the CPU's to set (on CR0.PG with LME); a write never changes it. */
	vmcs_write64(VMCS_GUEST_EFER, (value & ~EFER_LMA) | (old & EFER_LMA));
	return 0;
}

void exit_wrmsr(struct vcpu *v)
{
	u32 msr = (u32)v->regs.gpr[GPR_RCX];
	u64 value = (v->regs.gpr[GPR_RDX] << 32) | (u32)v->regs.gpr[GPR_RAX];
	const struct msr_rule *r = msr_rule_find(msr);
	int fault = 0;

	if (!r) {
		unknown_msr(v, msr, true);
		return;
	}
	switch (r->kind) {
	case MSR_PASS:
		wrmsr(msr, value); /* not reached while the bitmap passes it */
		break;
	case MSR_PASS_READ: /* IA32_TSC: the guest's TSC becomes `value` from now on */
		v->tsc_offset = value - rdtsc();
		vmcs_write64(VMCS_TSC_OFFSET, v->tsc_offset);
		break;
	case MSR_VMCS:
		if (msr == MSR_IA32_PAT) {
			fault = !msr_pat_valid(value);
			if (!fault)
				vmcs_write64(VMCS_GUEST_PAT, value);
		} else {
			fault = write_efer(v, value);
		}
		break;
	case MSR_LAPIC:
		fault = msr == MSR_IA32_APIC_BASE ? lapic_set_base(&v->guest->lapic, value)
						  : lapic_msr_write(&v->guest->lapic, msr, value);
		sched_devices_changed(v->guest); /* TSC deadline, timer registers, self-IPIs */
		break;
	default:
		fault = msr_emulate_write(r, &v->msrs, msr, value);
		break;
	}
	if (fault)
		vcpu_inject_exception_error(v, VECTOR_GP, 0);
	else
		vcpu_skip_instruction(v);
}
