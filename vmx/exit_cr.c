/*
 * Control-register exits. The CR0/CR4 guest/host masks (set in vmx/vmcs_setup.c) make the
 * guest exit only when it changes a bit Kestrel must see: CR0.PE/PG/NE/CD/NW and the CR4 bits
 * of features CPUID hides. The guest reads its own values from the read shadows.
 */
#include <kestrel/cpu.h>
#include <kestrel/log.h>
#include <kestrel/msr_policy.h>
#include <kestrel/vcpu.h>
#include <kestrel/vmcs.h>
#include <kestrel/vmcs_setup.h>

#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR0_NE (1ull << 5)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR4_PCIDE (1ull << 17)
#define EFER_LME (1ull << 8)
#define AR_LONG_MODE (1u << 13) /* CS.L in the access rights */

/* Exit qualification for control-register accesses (SDM Vol. 3C Table 28-3). */
#define CR_QUAL_NUMBER(q) ((q) & 0xf)
#define CR_QUAL_TYPE(q) (((q) >> 4) & 3)
#define CR_QUAL_GPR(q) (((q) >> 8) & 0xf)
#define CR_QUAL_LMSW_DATA(q) (((q) >> 16) & 0xffff)
enum { CR_MOV_TO, CR_MOV_FROM, CR_CLTS, CR_LMSW };

/* A paging-mode change invalidates the guest's linear translations (SDM Vol. 3A 4.10.4.1);
 * the guest did not execute the MOV itself, so flush its VPID's TLB entries for it. */
static void flush_guest_tlb(struct vcpu *v)
{
	struct {
		u64 vpid, address;
	} desc = { v->vpid, 0 };

	if (v->vpid)
		__asm__ volatile("invvpid %0, %1" : : "m"(desc), "r"(1ull) : "cc", "memory");
}

static void set_long_mode(struct vcpu *v, bool active)
{
	u64 efer = vmcs_read64(VMCS_GUEST_EFER);
	u32 entry = vmcs_read32(VMCS_ENTRY_CONTROLS);

	/* SDM Vol. 3C 27.3.1.1: "IA-32e mode guest" must equal EFER.LMA at entry. */
	vmcs_write64(VMCS_GUEST_EFER, active ? efer | EFER_LMA : efer & ~EFER_LMA);
	vmcs_write32(VMCS_ENTRY_CONTROLS,
		     active ? entry | ENTRY_IA32E_MODE_GUEST : entry & ~ENTRY_IA32E_MODE_GUEST);
}

/* What the guest reads from CR0/CR4: its shadow for the bits Kestrel owns, the CPU's value for
 * the bits it owns itself (SDM Vol. 3C 26.3, "guest/host masks and read shadows"). */
static u64 guest_view(u32 real_field, u32 shadow_field, u32 mask_field)
{
	u64 mask = vmcs_read_raw(mask_field);

	return (vmcs_read_raw(real_field) & ~mask) | (vmcs_read_raw(shadow_field) & mask);
}

static u64 guest_cr0(void)
{
	return guest_view(VMCS_GUEST_CR0, VMCS_CR0_SHADOW, VMCS_CR0_MASK);
}

static u64 guest_cr4(void)
{
	return guest_view(VMCS_GUEST_CR4, VMCS_CR4_SHADOW, VMCS_CR4_MASK);
}

/* MOV to CR0 / LMSW with the architectural checks (SDM Vol. 3A 2.5, Vol. 2B MOV CR). */
static int guest_write_cr0(struct vcpu *v, u64 value)
{
	u64 old = guest_cr0();
	u64 cr4 = guest_cr4();
	u64 efer = vmcs_read64(VMCS_GUEST_EFER);
	const struct vmx_guest_fixed *fixed = vmx_guest_fixed_bits();

	if ((value >> 32) || ((value & CR0_PG) && !(value & CR0_PE)) ||
	    ((value & CR0_NW) && !(value & CR0_CD)))
		return -1;
	if ((value & CR0_PG) && !(old & CR0_PG) && (efer & EFER_LME) && !(cr4 & CR4_PAE))
		return -1;
	/* Leaving long mode is only allowed from compatibility mode (SDM Vol. 3A 10.8.5.4). */
	if (!(value & CR0_PG) && (old & CR0_PG) && (efer & EFER_LMA) &&
	    (vmcs_read32(VMCS_GUEST_CS_AR) & AR_LONG_MODE))
		return -1;
	if ((value ^ old) & CR0_PG) {
		if (efer & EFER_LME)
			set_long_mode(v, value & CR0_PG);
		flush_guest_tlb(v);
	}
	vmcs_writenat(VMCS_CR0_SHADOW, value);
	/* The CPU runs the guest with caching on (Kestrel owns the memory types through EPT) and
	 * with the bits VMX operation fixes to 1 (NE; PE/PG are free with unrestricted guest). */
	vmcs_writenat(VMCS_GUEST_CR0,
		      ((value & ~(CR0_CD | CR0_NW)) | fixed->cr0_fixed0) & fixed->cr0_fixed1);
	return 0;
}

static int guest_write_cr4(struct vcpu *v, u64 value)
{
	u64 old = guest_cr4();
	const struct vmx_guest_fixed *fixed = vmx_guest_fixed_bits();
	bool long_mode = vmcs_read64(VMCS_GUEST_EFER) & EFER_LMA;

	/* Reserved, unsupported or hidden bits; PAE may not be cleared in long mode; PCIDE only
	 * in long mode with CR3[11:0] = 0. */
	if (value & ~fixed->cr4_guest_allowed)
		return -1;
	if (long_mode && !(value & CR4_PAE))
		return -1;
	if ((value & CR4_PCIDE) && !(old & CR4_PCIDE) &&
	    (!long_mode || (vmcs_readnat(VMCS_GUEST_CR3) & 0xfff)))
		return -1;
	vmcs_writenat(VMCS_CR4_SHADOW, value);
	vmcs_writenat(VMCS_GUEST_CR4, (value | fixed->cr4_fixed0) & fixed->cr4_fixed1);
	if ((value ^ old) & (CR4_PAE | CR4_PGE | CR4_PCIDE | (1ull << 4) /* PSE */))
		flush_guest_tlb(v);
	return 0;
}

void exit_cr_access(struct vcpu *v)
{
	u64 q = v->exit_qualification;
	u64 value;
	int fault;

	switch (CR_QUAL_TYPE(q)) {
	case CR_MOV_TO:
		value = CR_QUAL_GPR(q) == GPR_RSP ? vmcs_readnat(VMCS_GUEST_RSP)
						  : v->regs.gpr[CR_QUAL_GPR(q)];
		if (CR_QUAL_NUMBER(q) == 0) {
			fault = guest_write_cr0(v, value);
		} else if (CR_QUAL_NUMBER(q) == 4) {
			fault = guest_write_cr4(v, value);
		} else {
			guest_stop(v->guest, -1, "unexpected MOV to CR%llu", CR_QUAL_NUMBER(q));
			return;
		}
		break;
	case CR_LMSW: /* loads PE, MP, EM, TS; can set PE but never clear it */
		value = guest_cr0();
		value = (value & ~(CR0_MP | CR0_EM | CR0_TS)) | (CR_QUAL_LMSW_DATA(q) & 0xf);
		fault = guest_write_cr0(v, value);
		break;
	case CR_CLTS:
		fault = guest_write_cr0(v, guest_cr0() & ~CR0_TS);
		break;
	default:
		guest_stop(v->guest, -1, "unexpected MOV from CR%llu", CR_QUAL_NUMBER(q));
		return;
	}
	if (fault)
		vcpu_inject_exception_error(v, VECTOR_GP, 0);
	else
		vcpu_skip_instruction(v);
}

/* XSETBV (SDM Vol. 2D): CPL 0 and CR4.OSXSAVE are checked by the CPU before the exit. */
void exit_xsetbv(struct vcpu *v)
{
	u64 value = (v->regs.gpr[GPR_RDX] << 32) | (u32)v->regs.gpr[GPR_RAX];
	const struct vmx_guest_fixed *fixed = vmx_guest_fixed_bits();

	if (!(guest_cr4() & (1ull << 18))) {
		vcpu_inject_exception(v, VECTOR_UD);
		return;
	}
	/* XCR0: only XCR 0 exists; x87 must stay set; AVX needs SSE; nothing the host lacks. */
	if ((u32)v->regs.gpr[GPR_RCX] != 0 || !(value & 1) || ((value & 4) && !(value & 2)) ||
	    (value & ~fixed->xcr0_supported)) {
		vcpu_inject_exception_error(v, VECTOR_GP, 0);
		return;
	}
	v->xcr0 = value;
	__asm__ volatile("xsetbv" : : "c"(0), "a"((u32)value), "d"((u32)(value >> 32)));
	vcpu_skip_instruction(v);
}
