/* Decoding the VMX capability MSRs (SDM Vol. 3D, Appendix A). No hardware access here. */
#include <kestrel/msr.h>
#include <kestrel/vmx_caps.h>

#define BASIC_TRUE_CTLS (1ull << 55)
#define BASIC_MEMTYPE_WB 6
#define PIN_PREEMPTION_TIMER 6   /* A.3.1 */
#define PROC_SECONDARY 31        /* A.3.2 */
#define PROC2_EPT 1              /* A.3.3 */
#define PROC2_VPID 5
#define PROC2_UNRESTRICTED 7
#define EPT_CAP_EXEC_ONLY (1ull << 0) /* A.10 */
#define EPT_CAP_WALK4 (1ull << 6)
#define EPT_CAP_WB (1ull << 14)
#define EPT_CAP_2M (1ull << 16)
#define EPT_CAP_1G (1ull << 17)
#define EPT_CAP_INVEPT (1ull << 20)
#define EPT_CAP_AD (1ull << 21)
#define EPT_CAP_INVEPT_SINGLE (1ull << 25)
#define EPT_CAP_INVEPT_ALL (1ull << 26)
#define VPID_CAP_INVVPID (1ull << 32)
#define VPID_CAP_ADDR (1ull << 40)
#define VPID_CAP_SINGLE (1ull << 41)
#define VPID_CAP_ALL (1ull << 42)

const char *vmx_caps_decode(const struct vmx_msrs *m, struct vmx_caps *c)
{
	*c = (struct vmx_caps){ 0 };
	if (!m->vmx)
		return "the CPU reports no VMX (CPUID.1:ECX.VMX = 0); run Kestrel on an Intel CPU "
		       "with VT-x, or nested under KVM with -cpu host and kvm_intel nested=1";

	/* SDM Vol. 3C 24.7: VMXON outside SMX needs lock + bit 2; unlocked, we may set them. */
	c->feature_control_locked = m->feature_control & FEATURE_CONTROL_LOCK;
	c->vmx_outside_smx = m->feature_control & FEATURE_CONTROL_VMX_OUTSIDE_SMX;
	if (c->feature_control_locked && !c->vmx_outside_smx)
		return "VT-x is disabled by the firmware (IA32_FEATURE_CONTROL locked with VMX off); "
		       "enable Intel Virtualization Technology in the firmware setup";

	c->revision = m->basic & 0x7fffffff;
	c->vmcs_size = (m->basic >> 32) & 0x1fff;
	c->vmcs_wb = ((m->basic >> 50) & 0xf) == BASIC_MEMTYPE_WB;
	c->true_ctls = m->basic & BASIC_TRUE_CTLS;
	c->preemption_timer = vmx_ctl_may_set(m->pinbased, PIN_PREEMPTION_TIMER);
	c->preemption_rate = m->misc & 0x1f;
	c->secondary = vmx_ctl_may_set(m->procbased, PROC_SECONDARY);
	if (c->secondary) {
		c->ept = vmx_ctl_may_set(m->procbased2, PROC2_EPT);
		c->vpid = vmx_ctl_may_set(m->procbased2, PROC2_VPID);
		c->unrestricted = vmx_ctl_may_set(m->procbased2, PROC2_UNRESTRICTED);
	}
	if (c->ept) {
		c->ept_exec_only = m->ept_vpid_cap & EPT_CAP_EXEC_ONLY;
		c->ept_4level = m->ept_vpid_cap & EPT_CAP_WALK4;
		c->ept_wb = m->ept_vpid_cap & EPT_CAP_WB;
		c->ept_2m = m->ept_vpid_cap & EPT_CAP_2M;
		c->ept_1g = m->ept_vpid_cap & EPT_CAP_1G;
		c->ept_ad = m->ept_vpid_cap & EPT_CAP_AD;
		c->invept = m->ept_vpid_cap & EPT_CAP_INVEPT;
		c->invept_single = c->invept && (m->ept_vpid_cap & EPT_CAP_INVEPT_SINGLE);
		c->invept_all = c->invept && (m->ept_vpid_cap & EPT_CAP_INVEPT_ALL);
	}
	if (c->vpid) {
		c->invvpid = m->ept_vpid_cap & VPID_CAP_INVVPID;
		c->invvpid_addr = c->invvpid && (m->ept_vpid_cap & VPID_CAP_ADDR);
		c->invvpid_single = c->invvpid && (m->ept_vpid_cap & VPID_CAP_SINGLE);
		c->invvpid_all = c->invvpid && (m->ept_vpid_cap & VPID_CAP_ALL);
	}

	if (c->revision == 0 || c->vmcs_size == 0 || c->vmcs_size > 4096)
		return "the VMX capability MSRs are inconsistent (IA32_VMX_BASIC reports no usable "
		       "VMCS); the CPU or its emulator is misconfigured";
	if (!c->vmcs_wb)
		return "the CPU wants VMX structures in a memory type other than write-back "
		       "(IA32_VMX_BASIC[53:50]); Kestrel supports only write-back";
	if (!c->secondary || !c->ept)
		return "the CPU has VT-x but no EPT (extended page tables); Kestrel needs an Intel "
		       "CPU with EPT (Nehalem, 2008, or newer)";
	if (!c->ept_4level || !c->ept_wb)
		return "the CPU's EPT lacks 4-level walks or write-back paging structures "
		       "(IA32_VMX_EPT_VPID_CAP bits 6 and 14)";
	if (!c->invept || !c->invept_all)
		return "the CPU's EPT lacks INVEPT all-context, which Kestrel needs to flush guest "
		       "mappings";
	if (!c->unrestricted)
		return "the CPU lacks the unrestricted-guest control; Kestrel needs Westmere (2010) "
		       "or newer";
	if (!c->preemption_timer)
		return "the CPU lacks the VMX-preemption timer, which Kestrel schedules guests with";
	return NULL;
}
