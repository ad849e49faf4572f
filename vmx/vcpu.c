/* Helpers every exit handler shares: stepping, stopping, dumping, guest memory access. */
#include <kestrel/cpu.h>
#include <kestrel/fmt.h>
#include <kestrel/guest_walk.h>
#include <kestrel/log.h>
#include <kestrel/sched.h>
#include <kestrel/vcpu.h>
#include <kestrel/vmcs.h>

void guest_stop(struct guest *g, int status, const char *why, ...)
{
	va_list ap;

	if (g->state == GUEST_STOPPED)
		return;
	g->state = GUEST_STOPPED;
	vcpu_request_entry_work(&g->vcpu);
	g->status = status;
	g->stop_tsc = rdtsc();
	sched_guest_stopped(g);
	va_start(ap, why);
	fmt_vsnprintf(g->stop_reason, sizeof(g->stop_reason), why, ap);
	va_end(ap);
	if (status >= 0)
		log_info("guest '%s': %s", g->name, g->stop_reason);
	else
		log_err("guest '%s' stopped: %s", g->name, g->stop_reason);
}

void *guest_ram_ptr(const struct guest *g, u64 gpa, u64 len)
{
	if (gpa >= g->ram_size || len > g->ram_size - gpa)
		return NULL;
	return (void *)(g->ram_hpa + gpa);
}

static void dump_segment(const char *name, u32 sel, u32 base, u32 limit, u32 ar)
{
	log_err("  %s sel 0x%04llx base 0x%016llx limit 0x%08llx ar 0x%05llx", name,
		vmcs_read_raw(sel), vmcs_read_raw(base), vmcs_read_raw(limit), vmcs_read_raw(ar));
}

void vcpu_dump(const struct vcpu *v)
{
	const u64 *r = v->regs.gpr;

	log_err("  RIP 0x%016llx RSP 0x%016llx RFLAGS 0x%llx", vmcs_readnat(VMCS_GUEST_RIP),
		vmcs_readnat(VMCS_GUEST_RSP), vmcs_readnat(VMCS_GUEST_RFLAGS));
	log_err("  CR0 0x%llx (shadow 0x%llx) CR3 0x%llx CR4 0x%llx (shadow 0x%llx) EFER 0x%llx",
		vmcs_readnat(VMCS_GUEST_CR0), vmcs_readnat(VMCS_CR0_SHADOW),
		vmcs_readnat(VMCS_GUEST_CR3), vmcs_readnat(VMCS_GUEST_CR4),
		vmcs_readnat(VMCS_CR4_SHADOW), vmcs_read64(VMCS_GUEST_EFER));
	dump_segment("CS", VMCS_GUEST_CS_SEL, VMCS_GUEST_CS_BASE, VMCS_GUEST_CS_LIMIT,
		     VMCS_GUEST_CS_AR);
	dump_segment("SS", VMCS_GUEST_SS_SEL, VMCS_GUEST_SS_BASE, VMCS_GUEST_SS_LIMIT,
		     VMCS_GUEST_SS_AR);
	dump_segment("DS", VMCS_GUEST_DS_SEL, VMCS_GUEST_DS_BASE, VMCS_GUEST_DS_LIMIT,
		     VMCS_GUEST_DS_AR);
	dump_segment("TR", VMCS_GUEST_TR_SEL, VMCS_GUEST_TR_BASE, VMCS_GUEST_TR_LIMIT,
		     VMCS_GUEST_TR_AR);
	log_err("  GDTR 0x%llx/0x%llx IDTR 0x%llx/0x%llx interruptibility 0x%x activity %u",
		vmcs_readnat(VMCS_GUEST_GDTR_BASE), vmcs_read_raw(VMCS_GUEST_GDTR_LIMIT),
		vmcs_readnat(VMCS_GUEST_IDTR_BASE), vmcs_read_raw(VMCS_GUEST_IDTR_LIMIT),
		vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), vmcs_read32(VMCS_GUEST_ACTIVITY_STATE));
	log_err("  IDT-vectoring 0x%x exit-interruption 0x%x entry-interruption 0x%x",
		vmcs_read32(VMCS_IDT_VECTORING_INFO), vmcs_read32(VMCS_EXIT_INTR_INFO),
		vmcs_read32(VMCS_ENTRY_INTR_INFO));
	log_err("  RAX 0x%016llx RBX 0x%016llx RCX 0x%016llx RDX 0x%016llx", r[GPR_RAX],
		r[GPR_RBX], r[GPR_RCX], r[GPR_RDX]);
	log_err("  RSI 0x%016llx RDI 0x%016llx RBP 0x%016llx R8  0x%016llx", r[GPR_RSI],
		r[GPR_RDI], r[GPR_RBP], r[GPR_R8]);
	log_err("  R9  0x%016llx R10 0x%016llx R11 0x%016llx R12 0x%016llx", r[GPR_R9],
		r[GPR_R10], r[GPR_R11], r[GPR_R12]);
	log_err("  R13 0x%016llx R14 0x%016llx R15 0x%016llx", r[GPR_R13], r[GPR_R14], r[GPR_R15]);
}

void exit_inject_ud(struct vcpu *v)
{
	vcpu_inject_exception(v, VECTOR_UD);
}

void exit_inject_gp(struct vcpu *v)
{
	vcpu_inject_exception_error(v, VECTOR_GP, 0);
}

void exit_skip(struct vcpu *v)
{
	vcpu_skip_instruction(v);
}

static bool read_guest_ram(void *ctx, u64 gpa, u32 size, u64 *value)
{
	const u8 *p = guest_ram_ptr(ctx, gpa, size);

	if (!p)
		return false;
	*value = size == 8 ? *(const u64 *)p : *(const u32 *)p;
	return true;
}

int vcpu_linear_to_phys(struct vcpu *v, u64 linear, enum walk_access access, u64 *gpa)
{
	struct guest_paging paging = {
		.cr0 = vmcs_readnat(VMCS_GUEST_CR0),
		.cr3 = vmcs_readnat(VMCS_GUEST_CR3),
		.cr4 = vmcs_readnat(VMCS_GUEST_CR4),
		.efer = vmcs_read64(VMCS_GUEST_EFER),
	};
	u32 pf_error;

	switch (guest_walk(&paging, read_guest_ram, v->guest, linear,
			   access, vcpu_cpl() == 3, gpa, &pf_error)) {
	case WALK_OK:
		return 0;
	case WALK_PAGE_FAULT:
		vcpu_inject_page_fault(v, linear, pf_error);
		return -1;
	case WALK_BAD_TABLE:
		break;
	}
	guest_stop(v->guest, -1, "page tables outside guest RAM (CR3 0x%llx, address 0x%llx)",
		   paging.cr3, linear);
	return -2;
}
