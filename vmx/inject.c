/*
 * Event injection before each VM entry (SDM Vol. 3C 27.6): an event whose delivery an exit
 * interrupted goes first, then a pending exception, then the interrupt controller's highest
 * request — injected when the guest can take it (RFLAGS.IF = 1, no STI/MOV-SS blocking),
 * otherwise interrupt-window exiting brings the vCPU back the moment it can.
 */
#include <kestrel/cpu.h>
#include <kestrel/inject.h>
#include <kestrel/platform_irq.h>
#include <kestrel/vcpu.h>
#include <kestrel/vmcs.h>
#include <kestrel/vmcs_setup.h>

/* Vectors whose delivery pushes an error code (SDM Vol. 3A 6.15). */
static bool vector_has_error_code(u8 vector)
{
	return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21;
}

void vcpu_inject_exception(struct vcpu *v, u8 vector)
{
	v->exception = (struct pending_exception){ true, vector, vector_has_error_code(vector), 0, 0 };
	vcpu_events_changed(v);
}

void vcpu_inject_exception_error(struct vcpu *v, u8 vector, u32 error)
{
	v->exception = (struct pending_exception){ true, vector, true, error, 0 };
	vcpu_events_changed(v);
}

void vcpu_inject_page_fault(struct vcpu *v, u64 linear, u32 error)
{
	v->exception = (struct pending_exception){ true, VECTOR_PF, true, error, linear };
	vcpu_events_changed(v);
}

void inject_record_vectoring(struct vcpu *v)
{
	u32 info = vmcs_read32(VMCS_IDT_VECTORING_INFO);

	v->reinject_info = 0;
	if (!(info & INTR_INFO_VALID))
		return;
	/* SDM Vol. 3C 28.2.4: re-inject with the same type, vector and error code; software
	 * interrupts and exceptions also need their instruction length. */
	v->reinject_info = info & ~INTR_INFO_NMI_UNBLOCKING;
	vcpu_events_changed(v);
	if (info & INTR_INFO_ERROR_CODE)
		v->reinject_error = vmcs_read32(VMCS_IDT_VECTORING_ERROR);
	v->reinject_length = vmcs_read32(VMCS_EXIT_INSTRUCTION_LEN);
}

static void set_window(struct vcpu *v, u32 window_control, bool on)
{
	u32 proc = on ? v->proc_controls | window_control : v->proc_controls & ~window_control;

	if (proc != v->proc_controls) {
		v->proc_controls = proc;
		vmcs_write32(VMCS_PROC_CONTROLS, proc);
	}
}

static void set_interrupt_window(struct vcpu *v, bool on)
{
	set_window(v, PROC_INTERRUPT_WINDOW_EXITING, on);
}

void vcpu_inject_nmi(struct vcpu *v)
{
	v->nmi_pending = true;
	vcpu_events_changed(v);
}

/*
 * An NMI goes in when nothing else is being injected and the guest is not blocking NMIs or
 * in an STI/MOV-SS shadow (SDM Vol. 3C 27.3.1.5 refuses NMI injection then); otherwise the
 * NMI-window exit (with virtual NMIs, 26.7.6) brings the vCPU back when it can take one.
 * Returns true when it injected.
 */
static bool inject_nmi(struct vcpu *v, bool busy)
{
	u32 blocking;

	if (!v->nmi_pending)
		return false;
	blocking = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY);
	if (busy || (blocking & (INTERRUPTIBILITY_NMI | INTERRUPTIBILITY_STI |
				 INTERRUPTIBILITY_MOV_SS))) {
		if (vmx_nmi_window_available())
			set_window(v, PROC_NMI_WINDOW_EXITING, true);
		return false;
	}
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INTR_INFO_VALID | INTR_TYPE_NMI | VECTOR_NMI);
	set_window(v, PROC_NMI_WINDOW_EXITING, false);
	v->nmi_pending = false;
	return true;
}

static bool guest_can_take_interrupt(void)
{
	return (vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_IF) &&
	       !(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY) &
		 (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
}

void inject_events(struct vcpu *v)
{
	struct guest *g = v->guest;
	bool injected = false;

	v->events_dirty = false; /* until a device, an exception or a window says otherwise */
	if (v->reinject_info) {
		u32 type = v->reinject_info & INTR_TYPE_MASK;

		vmcs_write32(VMCS_ENTRY_INTR_INFO, v->reinject_info);
		if (v->reinject_info & INTR_INFO_ERROR_CODE)
			vmcs_write32(VMCS_ENTRY_EXCEPTION_ERROR, v->reinject_error);
		if (type == INTR_TYPE_SOFT_INTERRUPT || type == INTR_TYPE_PRIV_SOFT_EXCEPTION ||
		    type == INTR_TYPE_SOFT_EXCEPTION)
			vmcs_write32(VMCS_ENTRY_INSTRUCTION_LEN, v->reinject_length);
		v->reinject_info = 0;
		injected = true;
	} else if (v->exception.valid) {
		vmcs_write32(VMCS_ENTRY_INTR_INFO,
			     INTR_INFO_VALID | INTR_TYPE_HARD_EXCEPTION | v->exception.vector |
				     (v->exception.has_error ? INTR_INFO_ERROR_CODE : 0));
		if (v->exception.has_error)
			vmcs_write32(VMCS_ENTRY_EXCEPTION_ERROR, v->exception.error);
		if (v->exception.vector == VECTOR_PF)
			write_cr2(v->exception.cr2); /* the guest's CR2 is the CPU's CR2 */
		v->exception.valid = false;
		injected = true;
	}
	injected |= inject_nmi(v, injected);

	if (!platform_interrupt_pending(g)) {
		set_interrupt_window(v, false);
		return;
	}
	if (injected || !guest_can_take_interrupt()) {
		set_interrupt_window(v, true); /* its exit marks the vCPU dirty again */
		return;
	}
	vmcs_write32(VMCS_ENTRY_INTR_INFO,
		     INTR_INFO_VALID | INTR_TYPE_EXTERNAL | platform_interrupt_acknowledge(g));
	set_interrupt_window(v, false);
	vcpu_events_changed(v); /* the next request, if any, must wait for this one */
}
