/* Building a vCPU's VMCS: controls from the capability MSRs, host state, guest entry state. */
#ifndef KESTREL_VMCS_SETUP_H
#define KESTREL_VMCS_SETUP_H

#include <kestrel/guest.h>
#include <kestrel/vmx_caps.h>

/* The bits VMX operation fixes in the guest's CR0/CR4, as Kestrel applies them. */
struct vmx_guest_fixed {
	u64 cr0_fixed0, cr0_fixed1; /* CR0.PE/PG removed from fixed0: unrestricted guest */
	u64 cr4_fixed0, cr4_fixed1;
	u64 cr4_guest_allowed;      /* CR4 bits a guest may set (hidden features removed) */
	u64 xcr0_supported;
};

/* The controls Kestrel runs guests with, computed once from the capability MSRs. */
struct vmx_controls {
	u32 pin, proc, proc2, exit, entry;
};

/*
 * Compute the controls. Returns NULL, or a message naming the first required control the CPU
 * lacks ("the CPU lacks the 'use TPR shadow' processor-based control").
 */
const char *vmx_controls_compute(const struct vmx_msrs *m, struct vmx_controls *out);

/*
 * allowed-0/allowed-1 (SDM Vol. 3D A.3): returns 0 and the value to program, or -1 and the
 * first required bit that may not be 1, or a forbidden bit that may not be 0, in *bad_bit.
 */
int vmx_adjust_controls(u64 cap_msr, u32 required, u32 optional, u32 forbidden, u32 *out,
			int *bad_bit);

void vmx_setup_init(const struct vmx_msrs *m, const struct vmx_caps *c,
		    const struct vmx_controls *ctl);
const struct vmx_guest_fixed *vmx_guest_fixed_bits(void);

/* NMI-window exiting needs the "virtual NMIs" pin-based control (SDM Vol. 3C 27.2.1.1). */
bool vmx_nmi_window_available(void);

/* How a guest starts. */
enum vcpu_entry_mode {
	ENTRY_PROTECTED32, /* multiboot: 32-bit flat segments, paging off (unrestricted guest) */
	ENTRY_LONG64,      /* Linux' 64-bit boot protocol: paging on through `cr3` */
};

struct vcpu_entry {
	enum vcpu_entry_mode mode;
	u64 rip, rsp;
	u64 gpr[GPR_COUNT]; /* initial registers (EAX/EBX for multiboot, RSI for Linux) */
	u64 cr3;            /* ENTRY_LONG64: identity map the loader built */
	u64 gdt_base;       /* ENTRY_LONG64: code at selector 0x10, data at 0x18 */
	u32 gdt_limit;
};

/*
 * VMCLEAR + VMPTRLD the vCPU's VMCS and write every field: host state (exits land in
 * vmx_exit with RSP = &v->regs), controls, bitmaps, EPT, and the guest's entry state.
 */
void vmcs_setup_vcpu(struct vcpu *v, const struct vcpu_entry *entry);

#endif
