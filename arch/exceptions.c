/*
 * Root-mode exceptions. Kestrel's own code must never fault, so every vector is a bug report:
 * name, error code, the registers and control registers, then the run ends with KEXIT_PANIC.
 */
#include <kestrel/arch.h>
#include <kestrel/cpu.h>
#include <kestrel/log.h>
#include <kestrel/power.h>

struct exception_name {
	const char *mnemonic, *description;
};

static const struct exception_name exception_names[32] = {
	[0] = { "#DE", "divide error" },
	[1] = { "#DB", "debug" },
	[2] = { "NMI", "non-maskable interrupt" },
	[3] = { "#BP", "breakpoint" },
	[4] = { "#OF", "overflow" },
	[5] = { "#BR", "bound range" },
	[6] = { "#UD", "invalid opcode" },
	[7] = { "#NM", "device not available" },
	[8] = { "#DF", "double fault" },
	[9] = { "#MP", "coprocessor segment overrun" },
	[10] = { "#TS", "invalid TSS" },
	[11] = { "#NP", "segment not present" },
	[12] = { "#SS", "stack fault" },
	[13] = { "#GP", "general protection" },
	[14] = { "#PF", "page fault" },
	[16] = { "#MF", "x87 error" },
	[17] = { "#AC", "alignment check" },
	[18] = { "#MC", "machine check" },
	[19] = { "#XM", "SIMD error" },
	[20] = { "#VE", "virtualization exception" },
	[21] = { "#CP", "control protection" },
	[28] = { "#HV", "hypervisor injection" },
	[29] = { "#VC", "VMM communication" },
	[30] = { "#SX", "security" },
};

/* SDM Vol. 3A 4.7: page-fault error code bits. */
static void log_page_fault_cause(u64 ec)
{
	log_err("  page fault: %s %s in %s mode%s%s", ec & 1 ? "protection violation on" : "not-present",
		ec & 16 ? "instruction fetch" : ec & 2 ? "write" : "read",
		ec & 4 ? "user" : "supervisor", ec & 8 ? ", reserved bit set" : "",
		ec & 32 ? ", protection key" : "");
}

NORETURN void exception_dispatch(struct exception_frame *f)
{
	static bool in_dispatch;
	struct exception_name name = { "INT", "unexpected interrupt" };

	if (in_dispatch)
		cpu_halt_forever(); /* faulted while reporting a fault: nothing safe is left */
	in_dispatch = true;

	if (f->vector < 32 && exception_names[f->vector].mnemonic)
		name = exception_names[f->vector];
	log_err("EXCEPTION %s (vector %llu, %s), error code 0x%llx", name.mnemonic, f->vector,
		name.description, f->error_code);
	if (f->vector == 14)
		log_page_fault_cause(f->error_code);
	log_err("  RIP=0x%016llx CS=0x%llx RFLAGS=0x%llx", f->rip, f->cs, f->rflags);
	log_err("  RSP=0x%016llx SS=0x%llx", f->rsp, f->ss);
	log_err("  CR0=0x%llx CR2=0x%016llx CR3=0x%llx CR4=0x%llx", read_cr0(), read_cr2(),
		read_cr3(), read_cr4());
	log_err("  RAX=0x%016llx RBX=0x%016llx RCX=0x%016llx", f->rax, f->rbx, f->rcx);
	log_err("  RDX=0x%016llx RSI=0x%016llx RDI=0x%016llx", f->rdx, f->rsi, f->rdi);
	log_err("  RBP=0x%016llx R8 =0x%016llx R9 =0x%016llx", f->rbp, f->r8, f->r9);
	log_err("  R10=0x%016llx R11=0x%016llx R12=0x%016llx", f->r10, f->r11, f->r12);
	log_err("  R13=0x%016llx R14=0x%016llx R15=0x%016llx", f->r13, f->r14, f->r15);
	log_err("root-mode exception: this is a Kestrel bug; stopping");
	power_off(KEXIT_PANIC);
}
