/* A guest and its vCPU: the state Kestrel keeps for each [guest NAME] of kestrel.cfg. */
#ifndef KESTREL_GUEST_H
#define KESTREL_GUEST_H

#include <kestrel/config.h>
#include <kestrel/ept.h>
#include <kestrel/exit_stats.h>
#include <kestrel/acpi_pm.h>
#include <kestrel/cpuid_policy.h>
#include <kestrel/ioapic.h>
#include <kestrel/lapic.h>
#include <kestrel/msr_policy.h>
#include <kestrel/legacy_ports.h>
#include <kestrel/pci_host.h>
#include <kestrel/pic8259.h>
#include <kestrel/pit8254.h>
#include <kestrel/rtc_cmos.h>
#include <kestrel/uart16550.h>
#include <kestrel/vdev.h>
#include <kestrel/vmx_exit.h>

/* Guest GPRs in x86 register-number order, as vmx/entry.asm saves them (RSP lives in the
 * VMCS; its slot is unused), so instruction decoders can index them by ModRM number. */
enum gpr { GPR_RAX, GPR_RCX, GPR_RDX, GPR_RBX, GPR_RSP, GPR_RBP, GPR_RSI, GPR_RDI, GPR_R8,
	   GPR_R9, GPR_R10, GPR_R11, GPR_R12, GPR_R13, GPR_R14, GPR_R15, GPR_COUNT };

/* What vmx/entry.asm writes on every exit (its REG() and EXIT_TSC offsets follow this). */
struct guest_regs {
	u64 gpr[GPR_COUNT];
	u64 exit_tsc; /* host TSC right after the GPRs were saved: the exit's cost starts here */
};

/* What a guest owns that VM entry and exit do not switch: the MSRs the bitmap passes
 * through, CR2, and the debug registers MOV DR reaches without an exit (DR7 is in the VMCS). */
struct syscall_msrs {
	u64 star, lstar, cstar, sfmask, kernel_gs_base;
	u64 cr2, dr[4], dr6;
};

struct pending_exception {
	bool valid;
	u8 vector;
	bool has_error;
	u32 error;
	u64 cr2; /* #PF: the faulting linear address (VM entry does not load CR2) */
};

struct vcpu {
	struct guest_regs regs; /* first: HOST_RSP points here, so the stub's pointer is the vCPU */
	struct guest *guest;
	u64 vmcs;  /* physical address of the VMCS */
	bool launched;
	bool halted; /* HLT: sleeps until an interrupt is due */
	u16 vpid;
	u32 exit_reason;
	u64 exit_qualification;
	struct pending_exception exception;
	u32 reinject_info, reinject_error, reinject_length; /* IDT-vectoring info of the exit */
	u32 proc_controls; /* cached: interrupt-window exiting toggles */
	bool events_dirty;  /* something to inject may have changed: run inject_events() */
	u64 resume_until;   /* host TSC before which an exit resumes at once (vmx/sched.c); 0:
			     * the next entry takes the full path (vcpu_request_entry_work()) */
	bool nmi_pending;
	u64 timer_deadline; /* host TSC the preemption timer is programmed for (0 = rewrite) */
	u64 watchdog_at;    /* next look at RFLAGS.IF (~0: no watchdog) */
	u64 if_off_since;   /* host TSC when IF = 0 was first seen, 0 while IF = 1 */
	struct msr_state msrs;
	struct syscall_msrs syscall_msrs;
	u64 tsc_offset;
	u64 xcr0;
	u8 *fpu_state; /* FXSAVE area, 512 bytes: swapped between guests */
	struct cpuid_cache cpuid_cache;
	struct exit_stats stats;
};

_Static_assert(offsetof(struct vcpu, regs) == 0, "vmx/entry.asm: HOST_RSP is the vCPU");
_Static_assert(offsetof(struct guest_regs, exit_tsc) == 128, "vmx/entry.asm: EXIT_TSC");

/* Something the entry path must act on has changed (an event to inject, a halt, a stop, a
 * device timer, console output): the next entry of this vCPU takes the scheduler's full path
 * instead of resuming at once. */
static inline void vcpu_request_entry_work(struct vcpu *v)
{
	v->resume_until = 0;
}

/* What the vCPU may need injected has changed: inject_events() runs before the next entry. */
static inline void vcpu_events_changed(struct vcpu *v)
{
	v->events_dirty = true;
	vcpu_request_entry_work(v);
}

enum guest_state { GUEST_RUNNING, GUEST_STOPPED };

#define GUEST_CONSOLE_LINE 160

struct guest {
	const struct guest_config *config;
	char name[CONFIG_NAME_MAX];
	u32 index;
	enum guest_state state;
	int status;           /* powered off with this status; -1 when stopped by Kestrel */
	u64 stop_tsc;         /* host TSC when it stopped */
	char stop_reason[160];
	u64 ram_hpa, ram_size;
	u64 tsc_hz; /* the guest's TSC rate: the host's, never scaled */
	u64 next_event; /* host TSC of the earliest device event (~0 = none): sched_devices_changed() */
	struct ept ept;
	u8 *msr_bitmap, *io_bitmaps, *virtual_apic;
	struct vdev_bus bus;
	struct pic pic;
	struct pit pit;
	struct uart uart;
	struct lapic lapic; /* the single vCPU's */
	struct ioapic ioapic;
	struct acpi_pm acpi_pm;
	struct rtc rtc;
	struct pci_host pci;
	struct legacy_ports legacy;
	char console[GUEST_CONSOLE_LINE];
	u32 console_len;
	bool console_raw;     /* interactive: bytes pass at once, "[NAME] " starts each line */
	bool console_mid_line;
	u32 unknown_msrs_logged;
	struct vcpu vcpu;
};

#endif
