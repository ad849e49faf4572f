/* Exits about events and time: HLT, interrupts, interrupt windows, the preemption timer,
 * host NMIs and the guest's triple fault. */
#include <kestrel/cpu.h>
#include <kestrel/log.h>
#include <kestrel/host_irq.h>
#include <kestrel/vcpu.h>
#include <kestrel/vmcs.h>

void exit_hlt(struct vcpu *v)
{
	/* With IF = 0 only an NMI could wake it, and no device sends one: it is done. */
	if (!(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_IF)) {
		guest_stop(v->guest, -1, "halted with interrupts disabled (RIP 0x%llx)",
			   vmcs_readnat(VMCS_GUEST_RIP));
		return;
	}
	vcpu_skip_instruction(v);
	v->halted = true; /* the scheduler sleeps it until its interrupt controller has a request */
	vcpu_request_entry_work(v);
}

/* Host interrupts are masked at their sources (arch/host_irq.c); one that still arrives was
 * acknowledged by the exit ("acknowledge interrupt on exit") and only needs its EOI. */
void exit_external_interrupt(struct vcpu *v)
{
	host_irq_spurious(vmcs_read32(VMCS_EXIT_INTR_INFO) & INTR_INFO_VECTOR_MASK);
}

void exit_interrupt_window(struct vcpu *v)
{
	vcpu_events_changed(v); /* the entry path injects the pending interrupt now that it can */
}

void exit_nmi_window(struct vcpu *v)
{
	vcpu_events_changed(v); /* NMI blocking has ended: the pending NMI goes in now */
}

void exit_preemption_timer(struct vcpu *v)
{
	/* The tick: the scheduler updates device time and may switch guests on the way back; the
	 * saved count is 0 now, so the timer must be written again. */
	v->timer_deadline = 0;
	vcpu_request_entry_work(v);
}

/* Exception bitmap is 0, so only NMIs arrive here: a host NMI taken while the guest ran. */
void exit_exception_nmi(struct vcpu *v)
{
	u32 info = vmcs_read32(VMCS_EXIT_INTR_INFO);

	if ((info & INTR_TYPE_MASK) == INTR_TYPE_NMI) {
		log_warn("host NMI during guest '%s' (ignored)", v->guest->name);
		return;
	}
	log_err("guest '%s': exception exit 0x%x with an empty exception bitmap", v->guest->name,
		info);
	vcpu_dump(v);
	guest_stop(v->guest, -1, "unexpected exception exit (vector %u)", info & 0xff);
}

void exit_triple_fault(struct vcpu *v)
{
	log_err("guest '%s': triple fault", v->guest->name);
	vcpu_dump(v);
	guest_stop(v->guest, -1, "triple fault at RIP 0x%llx", vmcs_readnat(VMCS_GUEST_RIP));
}
