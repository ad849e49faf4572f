/* Decoding the VMX capability MSRs (SDM Vol. 3D, Appendix A). No hardware access here. */
#include <kestrel/fmt.h>
#include <kestrel/msr.h>
#include <kestrel/vmcs.h>
#include <kestrel/vmcs_setup.h>
#include <kestrel/vmx_caps.h>

#define BASIC_TRUE_CTLS (1ull << 55)
#define BASIC_MEMTYPE_WB 6
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
	c->secondary = vmx_ctl_may_set(m->procbased, PROC_ACTIVATE_SECONDARY);
	if (c->secondary) {
		c->ept = vmx_ctl_may_set(m->procbased2, PROC2_ENABLE_EPT);
		c->vpid = vmx_ctl_may_set(m->procbased2, PROC2_ENABLE_VPID);
		c->unrestricted = vmx_ctl_may_set(m->procbased2, PROC2_UNRESTRICTED_GUEST);
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

int vmx_adjust_controls(u64 cap_msr, u32 required, u32 optional, u32 forbidden, u32 *out,
			int *bad_bit)
{
	u32 allowed0 = (u32)cap_msr, allowed1 = (u32)(cap_msr >> 32);
	u32 missing = required & ~allowed1, forced = forbidden & allowed0;

	if (missing || forced) {
		*bad_bit = __builtin_ctz(missing ? missing : forced);
		return -1;
	}
	*out = ((required | optional) & allowed1) | allowed0;
	return 0;
}

static const char *const pin_names[32] = {
	[0] = "external-interrupt exiting", [3] = "NMI exiting",
	[6] = "activate VMX-preemption timer",
};
static const char *const proc_names[32] = {
	[2] = "interrupt-window exiting", [3] = "use TSC offsetting", [7] = "HLT exiting",
	[10] = "MWAIT exiting", [11] = "RDPMC exiting", [15] = "CR3-load exiting",
	[16] = "CR3-store exiting", [19] = "CR8-load exiting", [20] = "CR8-store exiting",
	[21] = "use TPR shadow",
	[25] = "use I/O bitmaps", [28] = "use MSR bitmaps", [29] = "MONITOR exiting",
	[31] = "activate secondary controls",
};
static const char *const proc2_names[32] = {
	[1] = "enable EPT", [6] = "WBINVD exiting", [7] = "unrestricted guest",
};
static const char *const exit_names[32] = {
	[9] = "host address-space size", [15] = "acknowledge interrupt on exit",
	[18] = "save IA32_PAT", [19] = "load IA32_PAT",
	[20] = "save IA32_EFER", [21] = "load IA32_EFER",
};
static const char *const entry_names[32] = {
	[9] = "IA-32e mode guest", [14] = "load IA32_PAT", [15] = "load IA32_EFER",
};

static const char *adjust(const char *kind, const char *const names[32], u64 cap, u32 required,
			  u32 optional, u32 forbidden, u32 *out)
{
	static char msg[120];
	int bit;

	if (!vmx_adjust_controls(cap, required, optional, forbidden, out, &bit))
		return NULL;
	fmt_snprintf(msg, sizeof(msg), "the CPU %s the '%s' %s control (bit %d)",
		     required & (1u << bit) ? "lacks" : "forces on", names[bit] ? names[bit] : "?",
		     kind, bit);
	return msg;
}

const char *vmx_controls_compute(const struct vmx_msrs *m, struct vmx_controls *out)
{
	const char *err;

	err = adjust("pin-based", pin_names, m->pinbased,
		     PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING | PIN_PREEMPTION_TIMER,
		     PIN_VIRTUAL_NMIS, 0, &out->pin);
	if (!err)
		err = adjust("processor-based", proc_names, m->procbased,
			     PROC_HLT_EXITING | PROC_MWAIT_EXITING | PROC_RDPMC_EXITING |
				     PROC_USE_TPR_SHADOW | PROC_USE_IO_BITMAPS |
				     PROC_USE_MSR_BITMAPS | PROC_MONITOR_EXITING |
				     PROC_ACTIVATE_SECONDARY | PROC_USE_TSC_OFFSETTING,
			     0,
			     PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING | PROC_CR8_LOAD_EXITING |
				     PROC_CR8_STORE_EXITING,
			     &out->proc);
	if (!err)
		err = adjust("secondary processor-based", proc2_names, m->procbased2,
			     PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_WBINVD_EXITING,
			     PROC2_ENABLE_VPID, 0, &out->proc2);
	if (!err)
		err = adjust("VM-exit", exit_names, m->exit,
			     EXIT_HOST_ADDRESS_SPACE_SIZE | EXIT_ACK_INTERRUPT_ON_EXIT | EXIT_SAVE_PAT |
				     EXIT_LOAD_PAT |
				     EXIT_SAVE_EFER | EXIT_LOAD_EFER,
			     EXIT_SAVE_DEBUG_CONTROLS | EXIT_SAVE_PREEMPTION_TIMER, 0, &out->exit);
	if (!err)
		err = adjust("VM-entry", entry_names, m->entry, ENTRY_LOAD_PAT | ENTRY_LOAD_EFER,
			     ENTRY_LOAD_DEBUG_CONTROLS, ENTRY_IA32E_MODE_GUEST, &out->entry);
	return err;
}
