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

/* Called at the end of every exit: account the exit, pick the vCPU to enter next (switching
 * VMCS and guest-owned state when it changes), inject its events, arm the preemption timer.
 * Returns 1 when that vCPU must be VMLAUNCHed, 0 for VMRESUME. */
int sched_next_entry(struct vcpu *exited, u32 reason, u64 exit_tsc);

/* Enter the first guest; never returns (the run ends in power_off()). With console_input, the
 * host's serial input goes to the first guest's UART (interactive runs, not test runs). */
NORETURN void sched_run(struct guest *guests, u32 n_guests, u64 exit_stack_top, u64 tsc_hz,
			u32 preemption_rate, bool timer_saved, bool console_input);

#endif
