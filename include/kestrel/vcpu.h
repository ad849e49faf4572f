/* What exit handlers may do to the vCPU that exited. */
#ifndef KESTREL_VCPU_H
#define KESTREL_VCPU_H

#include <kestrel/guest.h>
#include <kestrel/guest_walk.h>
#include <kestrel/vmcs.h>

/* Exception vectors handlers inject (SDM Vol. 3A 6.3.1). */
#define VECTOR_DE 0
#define VECTOR_NMI 2
#define VECTOR_UD 6
#define VECTOR_DF 8
#define VECTOR_GP 13
#define VECTOR_PF 14

typedef void (*exit_handler_fn)(struct vcpu *v);

/* The handler of a basic exit reason (vmx/exit.c's table), or NULL when Kestrel has none (then
 * exit_unexpected() runs), also for reasons at or above EXIT_REASON_MAX. */
exit_handler_fn exit_handler_for(unsigned reason);

/* Step over the instruction that exited (VM-exit instruction length), ending STI/MOV-SS
 * blocking as the hardware would after executing it (SDM Vol. 3A 6.8.3). */
static inline void vcpu_skip_instruction(struct vcpu *v)
{
	u32 blocking;

	vmcs_writenat(VMCS_GUEST_RIP, vmcs_readnat(VMCS_GUEST_RIP) +
					      vmcs_read32(VMCS_EXIT_INSTRUCTION_LEN));
	blocking = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY);
	if (blocking & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
		vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY,
			     blocking & ~(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
}

/* Queue an exception for the next VM entry (vmx/inject.c). */
void vcpu_inject_exception(struct vcpu *v, u8 vector);
void vcpu_inject_exception_error(struct vcpu *v, u8 vector, u32 error);
void vcpu_inject_page_fault(struct vcpu *v, u64 linear, u32 error);
void vcpu_inject_nmi(struct vcpu *v);

/* Translate a guest linear address through the guest's page tables. Returns 0; or -1 after
 * queuing the guest's #PF; or -2 after stopping the guest (tables outside its RAM). */
int vcpu_linear_to_phys(struct vcpu *v, u64 linear, enum walk_access access, u64 *gpa);

/* Current privilege level (SS.DPL, SDM Vol. 3C 27.3.1.2). */
static inline unsigned vcpu_cpl(void)
{
	return (vmcs_read32(VMCS_GUEST_SS_AR) >> 5) & 3;
}

/* End this guest: its vCPU never runs again; the others go on. `status` is the guest's own
 * power-off status, or -1 when Kestrel stopped it (then `why` says why). */
void guest_stop(struct guest *g, int status, const char *why, ...) PRINTF_LIKE(3, 4);

/* Log this vCPU's state (exit reason and qualification, RIP, RSP, CRs, segments, GPRs). */
void vcpu_dump(const struct vcpu *v);

/* Guest-physical [gpa, gpa+len) as a host pointer, or NULL when not all in the guest's RAM. */
void *guest_ram_ptr(const struct guest *g, u64 gpa, u64 len);

/* Compute the vCPU's fixed CPUID answers once, before it first runs. */
void cpuid_cache_init(struct vcpu *v);

/* Handlers, one file per family. */
void exit_cpuid(struct vcpu *v);
void exit_rdmsr(struct vcpu *v);
void exit_wrmsr(struct vcpu *v);
void exit_io(struct vcpu *v);
void exit_cr_access(struct vcpu *v);
void exit_xsetbv(struct vcpu *v);
void exit_vmcall(struct vcpu *v);
void exit_hlt(struct vcpu *v);
void exit_external_interrupt(struct vcpu *v);
void exit_interrupt_window(struct vcpu *v);
void exit_nmi_window(struct vcpu *v);
void exit_exception_nmi(struct vcpu *v);
void exit_preemption_timer(struct vcpu *v);
void exit_triple_fault(struct vcpu *v);
void exit_ept_violation(struct vcpu *v);
void exit_ept_misconfig(struct vcpu *v);
void exit_inject_ud(struct vcpu *v);
void exit_inject_gp(struct vcpu *v);
void exit_skip(struct vcpu *v);

#endif
