/* Controls from the capability MSRs and the VMCS of each vCPU (SDM Vol. 3C chapter 25). */
#include <kestrel/arch.h>
#include <kestrel/cpu.h>
#include <kestrel/msr.h>
#include <kestrel/msr_policy.h>
#include <kestrel/string.h>
#include <kestrel/vmcs.h>
#include <kestrel/vmcs_setup.h>

#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR4_SMXE (1ull << 14)
#define CR4_OSXSAVE (1ull << 18)
#define CR4_LA57 (1ull << 12)
#define CR4_PKE (1ull << 22)
#define CR4_CET (1ull << 23)
#define CR4_PKS (1ull << 24)
/* CR4 features CPUID hides from guests: setting them must #GP as on a CPU without them. */
#define CR4_HIDDEN (CR4_VMXE | CR4_SMXE | CR4_OSXSAVE | CR4_LA57 | CR4_PKE | CR4_CET | CR4_PKS)

#define PAT_POWER_ON 0x0007040600070406ull
#define DR7_INIT 0x400ull
#define AR_CODE32 0xc09bu /* G, D/B, P, S, execute/read accessed */
#define AR_DATA32 0xc093u /* G, D/B, P, S, read/write accessed */
#define AR_TSS32_BUSY 0x8bu

extern const u8 vmx_exit[];

static struct vmx_guest_fixed guest_fixed;
static struct vmx_controls controls;
static bool vpid_enabled;

void vmx_setup_init(const struct vmx_msrs *m, const struct vmx_caps *c,
		    const struct vmx_controls *ctl)
{
	controls = *ctl;
	vpid_enabled = ctl->proc2 & PROC2_ENABLE_VPID;
	/* SDM Vol. 3C 24.8 / A.7: with unrestricted guest, CR0.PE and PG may be 0. */
	guest_fixed.cr0_fixed0 = m->cr0_fixed0 & ~(CR0_PE | CR0_PG);
	guest_fixed.cr0_fixed1 = m->cr0_fixed1;
	guest_fixed.cr4_fixed0 = m->cr4_fixed0;
	guest_fixed.cr4_fixed1 = m->cr4_fixed1;
	guest_fixed.cr4_guest_allowed = m->cr4_fixed1 & ~CR4_HIDDEN;
	guest_fixed.xcr0_supported = 0; /* XSAVE is not exposed yet */
}

bool vmx_nmi_window_available(void)
{
	return controls.pin & PIN_VIRTUAL_NMIS;
}

const struct vmx_guest_fixed *vmx_guest_fixed_bits(void)
{
	return &guest_fixed;
}

static void setup_host_state(struct vcpu *v)
{
	vmcs_writenat(VMCS_HOST_CR0, read_cr0());
	vmcs_writenat(VMCS_HOST_CR3, read_cr3());
	vmcs_writenat(VMCS_HOST_CR4, read_cr4());
	vmcs_write16(VMCS_HOST_CS_SEL, GDT_SEL_CODE);
	vmcs_write16(VMCS_HOST_SS_SEL, GDT_SEL_DATA);
	vmcs_write16(VMCS_HOST_DS_SEL, GDT_SEL_DATA);
	vmcs_write16(VMCS_HOST_ES_SEL, GDT_SEL_DATA);
	vmcs_write16(VMCS_HOST_FS_SEL, GDT_SEL_DATA);
	vmcs_write16(VMCS_HOST_GS_SEL, GDT_SEL_DATA);
	vmcs_write16(VMCS_HOST_TR_SEL, GDT_SEL_TSS);
	vmcs_writenat(VMCS_HOST_FS_BASE, 0);
	vmcs_writenat(VMCS_HOST_GS_BASE, 0);
	vmcs_writenat(VMCS_HOST_TR_BASE, tss_base());
	vmcs_writenat(VMCS_HOST_GDTR_BASE, gdt_base());
	vmcs_writenat(VMCS_HOST_IDTR_BASE, idt_base());
	vmcs_write32(VMCS_HOST_SYSENTER_CS, 0);
	vmcs_writenat(VMCS_HOST_SYSENTER_ESP, 0);
	vmcs_writenat(VMCS_HOST_SYSENTER_EIP, 0);
	vmcs_write64(VMCS_HOST_EFER, rdmsr(MSR_IA32_EFER));
	vmcs_write64(VMCS_HOST_PAT, rdmsr(MSR_IA32_PAT));
	vmcs_writenat(VMCS_HOST_RSP, (u64)&v->regs); /* where vmx/entry.asm saves the GPRs */
	vmcs_writenat(VMCS_HOST_RIP, (u64)vmx_exit);
}

static void setup_controls(struct vcpu *v)
{
	struct guest *g = v->guest;

	vmcs_write32(VMCS_PIN_CONTROLS, controls.pin);
	vmcs_write32(VMCS_PROC_CONTROLS, controls.proc);
	vmcs_write32(VMCS_PROC_CONTROLS2, controls.proc2);
	vmcs_write32(VMCS_EXIT_CONTROLS, controls.exit);
	vmcs_write32(VMCS_ENTRY_CONTROLS, controls.entry);
	vmcs_write32(VMCS_EXCEPTION_BITMAP, 0); /* guests handle their own exceptions */
	vmcs_write32(VMCS_PF_ERROR_MASK, 0);
	vmcs_write32(VMCS_PF_ERROR_MATCH, 0);
	vmcs_write32(VMCS_CR3_TARGET_COUNT, 0);
	vmcs_write32(VMCS_EXIT_MSR_STORE_COUNT, 0);
	vmcs_write32(VMCS_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write32(VMCS_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	vmcs_write64(VMCS_IO_BITMAP_A, (u64)g->io_bitmaps);
	vmcs_write64(VMCS_IO_BITMAP_B, (u64)g->io_bitmaps + PAGE_SIZE);
	vmcs_write64(VMCS_MSR_BITMAP, (u64)g->msr_bitmap);
	vmcs_write64(VMCS_VIRTUAL_APIC_PAGE, (u64)g->virtual_apic);
	vmcs_write32(VMCS_TPR_THRESHOLD, 0);
	vmcs_write64(VMCS_EPT_POINTER, ept_pointer(&g->ept, false));
	if (vpid_enabled)
		vmcs_write16(VMCS_VPID, v->vpid);
	vmcs_write64(VMCS_TSC_OFFSET, v->tsc_offset);
	vmcs_write64(VMCS_LINK_POINTER, ~0ull); /* SDM Vol. 3C 27.3.1.5: no shadow VMCS */
	/* The guest owns CR0.TS/MP/EM/WP/AM and the CR4 bits it may set; the rest exit. */
	vmcs_writenat(VMCS_CR0_MASK, CR0_PE | CR0_PG | CR0_NE | CR0_CD | CR0_NW);
	vmcs_writenat(VMCS_CR4_MASK, ~guest_fixed.cr4_guest_allowed | guest_fixed.cr4_fixed0);
}

static void setup_segment(u32 sel_field, u32 base_field, u32 limit_field, u32 ar_field, u16 sel,
			  u32 ar)
{
	vmcs_write_raw(sel_field, sel);
	vmcs_write_raw(base_field, 0);
	vmcs_write_raw(limit_field, 0xffffffff);
	vmcs_write_raw(ar_field, ar);
}

#define AR_CODE64 0xa09bu /* G, L, P, S, execute/read accessed */
#define GUEST_CODE64_SEL 0x10 /* __BOOT_CS of the Linux boot protocol */
#define GUEST_DATA64_SEL 0x18 /* __BOOT_DS */
#define EFER_LME (1ull << 8)

/*
 * The state both entries share: flat segments, no LDT, a busy TSS, DR7 and PAT at their reset
 * values, interrupts off (SDM Vol. 3C 27.3.1 lists what VM entry checks).
 */
static void setup_common_guest_state(const struct vcpu_entry *e)
{
	setup_segment(VMCS_GUEST_TR_SEL, VMCS_GUEST_TR_BASE, VMCS_GUEST_TR_LIMIT, VMCS_GUEST_TR_AR,
		      0, AR_TSS32_BUSY);
	vmcs_write32(VMCS_GUEST_TR_LIMIT, 0xffff);
	setup_segment(VMCS_GUEST_LDTR_SEL, VMCS_GUEST_LDTR_BASE, VMCS_GUEST_LDTR_LIMIT,
		      VMCS_GUEST_LDTR_AR, 0, AR_UNUSABLE);
	vmcs_writenat(VMCS_GUEST_IDTR_BASE, 0);
	vmcs_write32(VMCS_GUEST_IDTR_LIMIT, 0xffff);
	vmcs_writenat(VMCS_GUEST_DR7, DR7_INIT);
	vmcs_writenat(VMCS_GUEST_RSP, e->rsp);
	vmcs_writenat(VMCS_GUEST_RIP, e->rip);
	vmcs_writenat(VMCS_GUEST_RFLAGS, 0x2);
	vmcs_writenat(VMCS_GUEST_PENDING_DEBUG, 0);
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, 0);
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, 0);
	vmcs_write32(VMCS_GUEST_SYSENTER_CS, 0);
	vmcs_writenat(VMCS_GUEST_SYSENTER_ESP, 0);
	vmcs_writenat(VMCS_GUEST_SYSENTER_EIP, 0);
	vmcs_write64(VMCS_GUEST_DEBUGCTL, 0);
	vmcs_write64(VMCS_GUEST_PAT, PAT_POWER_ON);
}

static void setup_data_segments(u16 sel)
{
	setup_segment(VMCS_GUEST_SS_SEL, VMCS_GUEST_SS_BASE, VMCS_GUEST_SS_LIMIT, VMCS_GUEST_SS_AR,
		      sel, AR_DATA32);
	setup_segment(VMCS_GUEST_DS_SEL, VMCS_GUEST_DS_BASE, VMCS_GUEST_DS_LIMIT, VMCS_GUEST_DS_AR,
		      sel, AR_DATA32);
	setup_segment(VMCS_GUEST_ES_SEL, VMCS_GUEST_ES_BASE, VMCS_GUEST_ES_LIMIT, VMCS_GUEST_ES_AR,
		      sel, AR_DATA32);
	setup_segment(VMCS_GUEST_FS_SEL, VMCS_GUEST_FS_BASE, VMCS_GUEST_FS_LIMIT, VMCS_GUEST_FS_AR,
		      sel, AR_DATA32);
	setup_segment(VMCS_GUEST_GS_SEL, VMCS_GUEST_GS_BASE, VMCS_GUEST_GS_LIMIT, VMCS_GUEST_GS_AR,
		      sel, AR_DATA32);
}

static void set_guest_crs(u64 cr0, u64 cr4, u64 cr3)
{
	vmcs_writenat(VMCS_CR0_SHADOW, cr0);
	vmcs_writenat(VMCS_GUEST_CR0, (cr0 | guest_fixed.cr0_fixed0) & guest_fixed.cr0_fixed1);
	vmcs_writenat(VMCS_CR4_SHADOW, cr4);
	vmcs_writenat(VMCS_GUEST_CR4, (cr4 | guest_fixed.cr4_fixed0) & guest_fixed.cr4_fixed1);
	vmcs_writenat(VMCS_GUEST_CR3, cr3);
}

/* Multiboot: 32-bit protected mode, flat segments, paging off. */
static void setup_protected32(const struct vcpu_entry *e)
{
	set_guest_crs(CR0_PE | CR0_ET, 0, 0);
	setup_segment(VMCS_GUEST_CS_SEL, VMCS_GUEST_CS_BASE, VMCS_GUEST_CS_LIMIT, VMCS_GUEST_CS_AR,
		      0x08, AR_CODE32);
	setup_data_segments(0x10);
	vmcs_writenat(VMCS_GUEST_GDTR_BASE, 0);
	vmcs_write32(VMCS_GUEST_GDTR_LIMIT, 0xffff);
	vmcs_write64(VMCS_GUEST_EFER, 0);
}

/* Linux' 64-bit entry (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"): long mode
 * with the loader's identity map, CS = __BOOT_CS, the data segments __BOOT_DS. */
static void setup_long64(const struct vcpu_entry *e)
{
	set_guest_crs(CR0_PE | CR0_ET | CR0_PG, CR4_PAE, e->cr3);
	setup_segment(VMCS_GUEST_CS_SEL, VMCS_GUEST_CS_BASE, VMCS_GUEST_CS_LIMIT, VMCS_GUEST_CS_AR,
		      GUEST_CODE64_SEL, AR_CODE64);
	setup_data_segments(GUEST_DATA64_SEL);
	vmcs_writenat(VMCS_GUEST_GDTR_BASE, e->gdt_base);
	vmcs_write32(VMCS_GUEST_GDTR_LIMIT, e->gdt_limit);
	vmcs_write64(VMCS_GUEST_EFER, EFER_LME | EFER_LMA);
	/* SDM Vol. 3C 27.3.1.1: "IA-32e mode guest" must match EFER.LMA. */
	vmcs_write32(VMCS_ENTRY_CONTROLS, controls.entry | ENTRY_IA32E_MODE_GUEST);
}

void vmcs_setup_vcpu(struct vcpu *v, const struct vcpu_entry *entry)
{
	u64 vmcs = v->vmcs;

	/* SDM Vol. 3C 25.11.3: VMCLEAR initialises the region, VMPTRLD makes it current. */
	__asm__ volatile("vmclear %0" : : "m"(vmcs) : "cc", "memory");
	__asm__ volatile("vmptrld %0" : : "m"(vmcs) : "cc", "memory");
	setup_host_state(v);
	setup_controls(v);
	setup_common_guest_state(entry);
	if (entry->mode == ENTRY_LONG64)
		setup_long64(entry);
	else
		setup_protected32(entry);
	memcpy(v->regs.gpr, entry->gpr, sizeof(v->regs.gpr));
	v->launched = false;
}
