/*
 * Running guests on the boot CPU: round robin, with the VMX-preemption timer as the tick
 * (SDM Vol. 3C 26.5.1) and VMPTRLD to switch VMCS. The run ends when the last guest has ended.
 */
#ifndef KESTREL_SCHED_H
#define KESTREL_SCHED_H

#include <kestrel/guest.h>

#define SCHED_SLICE_MS 10

/* The vCPU in guest mode, or whose exit is being handled. */
extern struct vcpu *sched_current_vcpu;

/* A guest's device accessed by the guest: its next timer event may have moved. */
void sched_devices_changed(struct guest *g);

/* guest_stop() tells the scheduler; the guest's vCPU is never entered again. */
void sched_guest_stopped(struct guest *g);

/*
 * Called after every exit's handler: account the exit and prepare the next entry. Until the
 * moment the vCPU's last full entry computed (resume_until), nothing else is due and it
 * returns: the caller resumes the same vCPU. Otherwise the full path picks the vCPU to enter
 * (switching VMCS and guest-owned state when it changes), injects its events, arms the
 * preemption timer and enters it (vmx_resume()/vmx_launch(): no return).
 */
void sched_next_entry(struct vcpu *exited);

/* After VMLAUNCH/VMRESUME of `failed` failed (its guest is stopped): enter another vCPU, or
 * end the run. No exit is counted. */
NORETURN void sched_after_failed_entry(struct vcpu *failed);

/* Enter the first guest; never returns (the run ends in power_off()). With console_input, the
 * host's serial input goes to the first guest's UART (interactive runs, not test runs). */
/* vmx/entry.asm: enter a vCPU with all its GPRs from `regs` (VMRESUME / its first VMLAUNCH). */
NORETURN void vmx_resume(struct guest_regs *regs);
NORETURN void vmx_launch(struct guest_regs *regs);

NORETURN void sched_run(struct guest *guests, u32 n_guests, u64 exit_stack_top, u64 tsc_hz,
			u32 preemption_rate, bool timer_saved, bool console_input);

#endif
