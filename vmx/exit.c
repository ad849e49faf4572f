/*
 * The exit path in C: one table maps each basic exit reason to its handler (as KVM's
 * kvm_vmx_exit_handlers[]); an empty slot means exit_unexpected(), which dumps the guest and
 * stops it. vmx/entry.asm calls vmx_exit_handler() on every exit.
 */
#include <kestrel/cpu.h>
#include <kestrel/inject.h>
#include <kestrel/log.h>
#include <kestrel/sched.h>
#include <kestrel/serial.h>
#include <kestrel/vcpu.h>
#include <kestrel/vmcs.h>

/*
 * Flags say what the handler needs read from the VMCS before it runs (as ACRN's table does):
 * the exit qualification, and whether the exit can have interrupted an event delivery (only
 * exits not caused by an instruction can: SDM Vol. 3C 28.2.4). A handler whose flags are
 * exactly EXIT_INSTRUCTION runs on the fast path and may write only RAX, RBX, RCX and RDX
 * (its instruction's implicit operands): vmx/entry.asm reloads no other callee-saved GPR then.
 */
#define EXIT_NEEDS_QUAL	 (1u << 0)
#define EXIT_INSTRUCTION (1u << 1)

struct exit_entry {
	exit_handler_fn handler;
	u32 flags;
};

static const struct exit_entry exit_table[EXIT_REASON_MAX] = {
	[EXIT_REASON_EXCEPTION_NMI] = { exit_exception_nmi, EXIT_NEEDS_QUAL },
	[EXIT_REASON_EXTERNAL_INTERRUPT] = { exit_external_interrupt, 0 },
	[EXIT_REASON_TRIPLE_FAULT] = { exit_triple_fault, EXIT_NEEDS_QUAL },
	[EXIT_REASON_INTERRUPT_WINDOW] = { exit_interrupt_window, 0 },
	[EXIT_REASON_NMI_WINDOW] = { exit_nmi_window, 0 },
	[EXIT_REASON_CPUID] = { exit_cpuid, EXIT_INSTRUCTION },
	[EXIT_REASON_GETSEC] = { exit_inject_ud, EXIT_INSTRUCTION }, /* SMX is hidden */
	[EXIT_REASON_HLT] = { exit_hlt, EXIT_INSTRUCTION },
	[EXIT_REASON_INVD] = { exit_skip,
			       EXIT_INSTRUCTION }, /* caches stay coherent: nothing to drop */
	[EXIT_REASON_RDPMC] = { exit_inject_gp, EXIT_INSTRUCTION }, /* no PMU is exposed: every
								       counter is invalid */
	[EXIT_REASON_VMCALL] = { exit_vmcall, EXIT_INSTRUCTION },
	[EXIT_REASON_VMCLEAR] = { exit_inject_ud, EXIT_INSTRUCTION }, /* VMX is hidden: every VMX
									 instruction is #UD */
	[EXIT_REASON_VMLAUNCH] = { exit_inject_ud, EXIT_INSTRUCTION },
	[EXIT_REASON_VMPTRLD] = { exit_inject_ud, EXIT_INSTRUCTION },
	[EXIT_REASON_VMPTRST] = { exit_inject_ud, EXIT_INSTRUCTION },
	[EXIT_REASON_VMREAD] = { exit_inject_ud, EXIT_INSTRUCTION },
	[EXIT_REASON_VMRESUME] = { exit_inject_ud, EXIT_INSTRUCTION },
	[EXIT_REASON_VMWRITE] = { exit_inject_ud, EXIT_INSTRUCTION },
	[EXIT_REASON_VMXOFF] = { exit_inject_ud, EXIT_INSTRUCTION },
	[EXIT_REASON_VMXON] = { exit_inject_ud, EXIT_INSTRUCTION },
	[EXIT_REASON_CR_ACCESS] = { exit_cr_access, EXIT_NEEDS_QUAL | EXIT_INSTRUCTION },
	[EXIT_REASON_IO] = { exit_io, EXIT_NEEDS_QUAL | EXIT_INSTRUCTION },
	[EXIT_REASON_RDMSR] = { exit_rdmsr, EXIT_INSTRUCTION },
	[EXIT_REASON_WRMSR] = { exit_wrmsr, EXIT_INSTRUCTION },
	[EXIT_REASON_MWAIT] = { exit_inject_ud,
				EXIT_INSTRUCTION }, /* MONITOR/MWAIT are hidden in CPUID */
	[EXIT_REASON_MONITOR] = { exit_inject_ud, EXIT_INSTRUCTION },
	[EXIT_REASON_EPT_VIOLATION] = { exit_ept_violation, EXIT_NEEDS_QUAL },
	[EXIT_REASON_EPT_MISCONFIG] = { exit_ept_misconfig, EXIT_NEEDS_QUAL },
	[EXIT_REASON_INVEPT] = { exit_inject_ud, EXIT_INSTRUCTION },
	[EXIT_REASON_PREEMPTION_TIMER] = { exit_preemption_timer, 0 },
	[EXIT_REASON_INVVPID] = { exit_inject_ud, EXIT_INSTRUCTION },
	[EXIT_REASON_WBINVD] = { exit_skip, EXIT_INSTRUCTION }, /* guests do no non-coherent DMA */
	[EXIT_REASON_XSETBV] = { exit_xsetbv, EXIT_INSTRUCTION },
	[EXIT_REASON_VMFUNC] = { exit_inject_ud, EXIT_INSTRUCTION },
};

static const char *const exit_names[EXIT_REASON_MAX] = {
	[EXIT_REASON_EXCEPTION_NMI] = "EXCEPTION_NMI",
	[EXIT_REASON_EXTERNAL_INTERRUPT] = "EXTERNAL_INTERRUPT",
	[EXIT_REASON_TRIPLE_FAULT] = "TRIPLE_FAULT",
	[EXIT_REASON_INIT] = "INIT",
	[EXIT_REASON_SIPI] = "SIPI",
	[EXIT_REASON_IO_SMI] = "IO_SMI",
	[EXIT_REASON_OTHER_SMI] = "OTHER_SMI",
	[EXIT_REASON_INTERRUPT_WINDOW] = "INTERRUPT_WINDOW",
	[EXIT_REASON_NMI_WINDOW] = "NMI_WINDOW",
	[EXIT_REASON_TASK_SWITCH] = "TASK_SWITCH",
	[EXIT_REASON_CPUID] = "CPUID",
	[EXIT_REASON_GETSEC] = "GETSEC",
	[EXIT_REASON_HLT] = "HLT",
	[EXIT_REASON_INVD] = "INVD",
	[EXIT_REASON_INVLPG] = "INVLPG",
	[EXIT_REASON_RDPMC] = "RDPMC",
	[EXIT_REASON_RDTSC] = "RDTSC",
	[EXIT_REASON_RSM] = "RSM",
	[EXIT_REASON_VMCALL] = "VMCALL",
	[EXIT_REASON_VMCLEAR] = "VMCLEAR",
	[EXIT_REASON_VMLAUNCH] = "VMLAUNCH",
	[EXIT_REASON_VMPTRLD] = "VMPTRLD",
	[EXIT_REASON_VMPTRST] = "VMPTRST",
	[EXIT_REASON_VMREAD] = "VMREAD",
	[EXIT_REASON_VMRESUME] = "VMRESUME",
	[EXIT_REASON_VMWRITE] = "VMWRITE",
	[EXIT_REASON_VMXOFF] = "VMXOFF",
	[EXIT_REASON_VMXON] = "VMXON",
	[EXIT_REASON_CR_ACCESS] = "CR_ACCESS",
	[EXIT_REASON_DR_ACCESS] = "DR_ACCESS",
	[EXIT_REASON_IO] = "IO",
	[EXIT_REASON_RDMSR] = "RDMSR",
	[EXIT_REASON_WRMSR] = "WRMSR",
	[EXIT_REASON_INVALID_GUEST_STATE] = "INVALID_GUEST_STATE",
	[EXIT_REASON_MSR_LOADING] = "MSR_LOADING",
	[EXIT_REASON_MWAIT] = "MWAIT",
	[EXIT_REASON_MONITOR_TRAP_FLAG] = "MONITOR_TRAP_FLAG",
	[EXIT_REASON_MONITOR] = "MONITOR",
	[EXIT_REASON_PAUSE] = "PAUSE",
	[EXIT_REASON_MACHINE_CHECK] = "MACHINE_CHECK",
	[EXIT_REASON_TPR_BELOW_THRESHOLD] = "TPR_BELOW_THRESHOLD",
	[EXIT_REASON_APIC_ACCESS] = "APIC_ACCESS",
	[EXIT_REASON_VIRTUALIZED_EOI] = "VIRTUALIZED_EOI",
	[EXIT_REASON_GDTR_IDTR] = "GDTR_IDTR",
	[EXIT_REASON_LDTR_TR] = "LDTR_TR",
	[EXIT_REASON_EPT_VIOLATION] = "EPT_VIOLATION",
	[EXIT_REASON_EPT_MISCONFIG] = "EPT_MISCONFIG",
	[EXIT_REASON_INVEPT] = "INVEPT",
	[EXIT_REASON_RDTSCP] = "RDTSCP",
	[EXIT_REASON_PREEMPTION_TIMER] = "PREEMPTION_TIMER",
	[EXIT_REASON_INVVPID] = "INVVPID",
	[EXIT_REASON_WBINVD] = "WBINVD",
	[EXIT_REASON_XSETBV] = "XSETBV",
	[EXIT_REASON_APIC_WRITE] = "APIC_WRITE",
	[EXIT_REASON_RDRAND] = "RDRAND",
	[EXIT_REASON_INVPCID] = "INVPCID",
	[EXIT_REASON_VMFUNC] = "VMFUNC",
	[EXIT_REASON_ENCLS] = "ENCLS",
	[EXIT_REASON_RDSEED] = "RDSEED",
	[EXIT_REASON_PML_FULL] = "PML_FULL",
	[EXIT_REASON_XSAVES] = "XSAVES",
	[EXIT_REASON_XRSTORS] = "XRSTORS",
	[EXIT_REASON_UMWAIT] = "UMWAIT",
	[EXIT_REASON_TPAUSE] = "TPAUSE",
};

/* The table's entry for a reason, or NULL when it has none (out of range or an empty slot). */
static inline const struct exit_entry *exit_entry_for(unsigned reason)
{
	return reason < EXIT_REASON_MAX && exit_table[reason].handler ? &exit_table[reason] : NULL;
}

exit_handler_fn exit_handler_for(unsigned reason)
{
	const struct exit_entry *e = exit_entry_for(reason);

	return e ? e->handler : NULL;
}

const char *exit_reason_name(unsigned reason)
{
	if (reason < EXIT_REASON_MAX && exit_names[reason])
		return exit_names[reason];
	return "UNKNOWN";
}

/* Every exit Kestrel did not plan for: report everything and stop only this guest. */
static COLD void exit_unexpected(struct vcpu *v)
{
	log_err("guest '%s': unexpected exit %u (%s), qualification 0x%llx", v->guest->name,
		v->exit_reason, exit_reason_name(v->exit_reason), v->exit_qualification);
	vcpu_dump(v);
	guest_stop(v->guest, -1, "unexpected exit %u (%s)", v->exit_reason,
		   exit_reason_name(v->exit_reason));
}

/* SDM Vol. 3C 28.8: a VM entry that fails after loading guest state exits with bit 31 set. */
static COLD void exit_entry_failure(struct vcpu *v, u32 raw_reason)
{
	log_err("guest '%s': VM entry failed: reason %u (%s), qualification 0x%llx", v->guest->name,
		v->exit_reason, exit_reason_name(v->exit_reason), v->exit_qualification);
	vcpu_dump(v);
	guest_stop(v->guest, -1, "VM entry failed (%s)", exit_reason_name(v->exit_reason));
}

/* Everything but a plain instruction exit: the qualification, an interrupted event delivery,
 * entry failures and reasons without a handler. Its handler may write any GPR, so the entry
 * reloads them all. */
static NORETURN NOINLINE void exit_dispatch_full(struct vcpu *v)
{
	static const struct exit_entry unexpected = { exit_unexpected, EXIT_NEEDS_QUAL };
	u32 raw = vmcs_read32(VMCS_EXIT_REASON);
	u32 reason = raw & EXIT_REASON_BASIC_MASK;
	const struct exit_entry *e = exit_entry_for(reason);

	if (!e)
		e = &unexpected;
	v->exit_reason = reason;
	if (e->flags & EXIT_NEEDS_QUAL || raw & EXIT_REASON_ENTRY_FAILURE)
		v->exit_qualification = vmcs_readnat(VMCS_EXIT_QUALIFICATION);
	if (!(e->flags & EXIT_INSTRUCTION))
		inject_record_vectoring(v);
	if (raw & EXIT_REASON_ENTRY_FAILURE)
		exit_entry_failure(v, raw);
	else
		e->handler(v);
	if (serial_backlog)
		vcpu_request_entry_work(v); /* what it logged goes out on the full path */
	sched_next_entry(v);
	vmx_resume(&v->regs);
}

/*
 * vmx/entry.asm calls this on every exit, then sched_next_entry(). An instruction exit that
 * needs no qualification (CPUID, VMCALL, RDMSR, ...) goes straight to its handler: the exit
 * reason is the only VMREAD before it (docs/measuring.md counts this path), and it returns.
 */
void vmx_exit_handler(struct vcpu *v);
void vmx_exit_handler(struct vcpu *v)
{
	u32 raw = vmcs_read32(VMCS_EXIT_REASON);

	/* Bits 16-31 are zero for an exit that is not an entry failure (SDM Vol. 3C 25.9.1). */
	if (likely(raw < EXIT_REASON_MAX && exit_table[raw].flags == EXIT_INSTRUCTION)) {
		v->exit_reason = raw;
		exit_table[raw].handler(v);
	} else {
		exit_dispatch_full(v);
	}
}

/* VMLAUNCH/VMRESUME itself failed (SDM Vol. 3C 31.4): the VM-instruction error says why. */
NORETURN void vmx_entry_failed(u64 rflags, int launch);
NORETURN void vmx_entry_failed(u64 rflags, int launch)
{
	struct vcpu *v = sched_current_vcpu;
	const char *insn = launch ? "VMLAUNCH" : "VMRESUME";

	v->exit_reason = 0;
	v->exit_qualification = 0;
	if (rflags & RFLAGS_CF) {
		log_err("guest '%s': %s failed: VMfailInvalid (no current VMCS)", v->guest->name, insn);
	} else {
		log_err("guest '%s': %s failed: VM-instruction error %u", v->guest->name, insn,
			vmcs_read32(VMCS_INSTRUCTION_ERROR));
		vcpu_dump(v);
	}
	guest_stop(v->guest, -1, "VM entry failed");
	sched_after_failed_entry(v);
}
