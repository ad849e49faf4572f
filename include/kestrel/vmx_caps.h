/*
 * VT-x capabilities: the raw CPUID bits and VMX capability MSRs (SDM Vol. 3D, Appendix A), and
 * their decoding into what Kestrel needs. Decoding is pure so unit tests feed synthetic MSRs.
 */
#ifndef KESTREL_VMX_CAPS_H
#define KESTREL_VMX_CAPS_H

#include <kestrel/types.h>

struct vmx_msrs {
	bool vmx;          /* CPUID.1:ECX[5] */
	bool page_1g_host; /* CPUID.80000001H:EDX[26] */
	u64 feature_control;
	u64 basic, misc;
	u64 pinbased, procbased, exit, entry; /* the TRUE variants when BASIC[55] says so */
	u64 procbased2;                       /* 0 when the CPU has no secondary controls */
	u64 ept_vpid_cap;                     /* 0 when neither EPT nor VPID exists */
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
};

struct vmx_caps {
	u32 revision;  /* VMCS revision identifier, BASIC[30:0] */
	u32 vmcs_size; /* BASIC[44:32] */
	bool vmcs_wb;  /* BASIC[53:50] == 6: VMCS and structures write-back */
	bool true_ctls;
	bool feature_control_locked, vmx_outside_smx;
	bool secondary, ept, ept_4level, ept_wb, ept_2m, ept_1g, ept_ad, ept_exec_only;
	bool invept, invept_single, invept_all;
	bool vpid, invvpid, invvpid_single, invvpid_all, invvpid_addr;
	bool unrestricted, preemption_timer;
	u32 preemption_rate; /* the timer counts down every 2^rate TSC ticks, MISC[4:0] */
};

/* Read the MSRs on this CPU (only those CPUID and BASIC say exist: others #GP). */
void vmx_read_msrs(struct vmx_msrs *m);

/*
 * Decode. Returns NULL when the CPU can run Kestrel, else a one-line reason that says what is
 * missing and what the user can do.
 */
const char *vmx_caps_decode(const struct vmx_msrs *m, struct vmx_caps *c);

/* allowed-0 / allowed-1 halves of a control MSR (SDM Vol. 3D A.3). */
static inline bool vmx_ctl_may_set(u64 ctl_msr, u32 control)
{
	return (ctl_msr >> 32) & control;
}

#endif
