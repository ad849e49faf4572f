/* VMX operation on this CPU: capability probe, IA32_FEATURE_CONTROL, VMXON/VMXOFF. */
#include <kestrel/cpu.h>
#include <kestrel/log.h>
#include <kestrel/msr.h>
#include <kestrel/vmcs.h>
#include <kestrel/vmx.h>

#define CPUID1_ECX_VMX (1u << 5)
#define CPUID_EXT_EDX_PAGE1GB (1u << 26)
#define RFLAGS_CF (1ull << 0)
#define RFLAGS_ZF (1ull << 6)

void vmx_read_msrs(struct vmx_msrs *m)
{
	bool true_ctls;

	*m = (struct vmx_msrs){ 0 };
	m->vmx = cpuid(1, 0).ecx & CPUID1_ECX_VMX;
	if (cpuid(0x80000000, 0).eax >= 0x80000001)
		m->page_1g_host = cpuid(0x80000001, 0).edx & CPUID_EXT_EDX_PAGE1GB;
	if (!m->vmx)
		return; /* the VMX MSRs raise #GP without VMX */
	m->feature_control = rdmsr(MSR_IA32_FEATURE_CONTROL);
	m->basic = rdmsr(MSR_IA32_VMX_BASIC);
	m->misc = rdmsr(MSR_IA32_VMX_MISC);
	true_ctls = m->basic & (1ull << 55);
	/* SDM Vol. 3D A.2: with BASIC[55] the TRUE MSRs give the real allowed-0 settings. */
	m->pinbased = rdmsr(true_ctls ? MSR_IA32_VMX_TRUE_PINBASED_CTLS : MSR_IA32_VMX_PINBASED_CTLS);
	m->procbased =
		rdmsr(true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS : MSR_IA32_VMX_PROCBASED_CTLS);
	m->exit = rdmsr(true_ctls ? MSR_IA32_VMX_TRUE_EXIT_CTLS : MSR_IA32_VMX_EXIT_CTLS);
	m->entry = rdmsr(true_ctls ? MSR_IA32_VMX_TRUE_ENTRY_CTLS : MSR_IA32_VMX_ENTRY_CTLS);
	m->cr0_fixed0 = rdmsr(MSR_IA32_VMX_CR0_FIXED0);
	m->cr0_fixed1 = rdmsr(MSR_IA32_VMX_CR0_FIXED1);
	m->cr4_fixed0 = rdmsr(MSR_IA32_VMX_CR4_FIXED0);
	m->cr4_fixed1 = rdmsr(MSR_IA32_VMX_CR4_FIXED1);
	if (vmx_ctl_may_set(m->procbased, PROC_ACTIVATE_SECONDARY)) {
		m->procbased2 = rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2);
		/* A.10: the EPT/VPID MSR exists when either control may be 1. */
		if (vmx_ctl_may_set(m->procbased2, PROC2_ENABLE_EPT) ||
		    vmx_ctl_may_set(m->procbased2, PROC2_ENABLE_VPID))
			m->ept_vpid_cap = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP);
	}
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

void vmx_log_caps(const struct vmx_msrs *m, const struct vmx_caps *c)
{
	log_info("vmx: revision 0x%x, VMCS %u bytes, %s, %s controls", c->revision, c->vmcs_size,
		 c->vmcs_wb ? "write-back" : "not write-back", c->true_ctls ? "TRUE" : "default");
	log_info("vmx: EPT %s%s, pages 4K%s%s, A/D %s, execute-only %s, INVEPT%s%s",
		 yes_no(c->ept), c->ept_4level ? " 4-level" : "", c->ept_2m ? " 2M" : "",
		 c->ept_1g ? " 1G" : "", yes_no(c->ept_ad), yes_no(c->ept_exec_only),
		 c->invept_single ? " single" : "", c->invept_all ? " all" : "");
	log_info("vmx: VPID %s (INVVPID%s%s%s), unrestricted guest %s", yes_no(c->vpid),
		 c->invvpid_addr ? " address" : "", c->invvpid_single ? " single" : "",
		 c->invvpid_all ? " all" : "", yes_no(c->unrestricted));
	log_info("vmx: preemption timer %s (TSC / %u)", yes_no(c->preemption_timer),
		 1u << c->preemption_rate);
	log_info("vmx: pin 0x%016llx proc 0x%016llx proc2 0x%016llx", m->pinbased, m->procbased,
		 m->procbased2);
	log_info("vmx: exit 0x%016llx entry 0x%016llx ept/vpid 0x%016llx", m->exit, m->entry,
		 m->ept_vpid_cap);
	log_info("vmx: CR0 fixed 0x%llx/0x%llx, CR4 fixed 0x%llx/0x%llx", m->cr0_fixed0,
		 m->cr0_fixed1, m->cr4_fixed0, m->cr4_fixed1);
}

void vmx_enable_feature_control(const struct vmx_caps *c)
{
	u64 fc = rdmsr(MSR_IA32_FEATURE_CONTROL);

	if (c->feature_control_locked) {
		log_info("vmx: IA32_FEATURE_CONTROL 0x%llx, locked with VMX enabled", fc);
		return;
	}
	/* Unlocked (OVMF leaves it so): enable VMX outside SMX and lock, SDM Vol. 3C 24.7. */
	wrmsr(MSR_IA32_FEATURE_CONTROL,
	      fc | FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX);
	log_info("vmx: IA32_FEATURE_CONTROL was 0x%llx (unlocked), now 0x%llx", fc,
		 rdmsr(MSR_IA32_FEATURE_CONTROL));
}

/* VMXON/VMXOFF report failure in CF (VMfailInvalid) and ZF (VMfailValid), SDM Vol. 3C 31.2. */
static bool vmx_insn_failed(u64 rflags)
{
	return rflags & (RFLAGS_CF | RFLAGS_ZF);
}

int vmx_on(const struct vmx_msrs *m, const struct vmx_caps *c, u64 vmxon_region)
{
	u64 region = vmxon_region, rflags;

	/* SDM Vol. 3C 24.8: CR0/CR4 must honour the fixed bits, with CR4.VMXE set. */
	write_cr0((read_cr0() | m->cr0_fixed0) & m->cr0_fixed1);
	write_cr4(((read_cr4() | CR4_VMXE) | m->cr4_fixed0) & m->cr4_fixed1);
	/* SDM Vol. 3C 25.11.5: the region starts with the VMCS revision identifier. */
	*(volatile u32 *)region = c->revision;
	__asm__ volatile("vmxon %1; pushfq; popq %0" : "=r"(rflags) : "m"(region) : "cc", "memory");
	if (vmx_insn_failed(rflags)) {
		write_cr4(read_cr4() & ~CR4_VMXE);
		return -1;
	}
	return 0;
}

void vmx_off(void)
{
	__asm__ volatile("vmxoff" ::: "cc", "memory");
	write_cr4(read_cr4() & ~CR4_VMXE);
}
