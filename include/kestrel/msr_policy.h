/*
 * What a guest's RDMSR/WRMSR do, as data: passed through by the MSR bitmap (no exit), kept in
 * the VMCS, emulated from per-vCPU stored values, constant, or #GP for anything not listed.
 * Pure: the unit tests check the table, the bitmap built from it and the emulation.
 */
#ifndef KESTREL_MSR_POLICY_H
#define KESTREL_MSR_POLICY_H

#include <kestrel/types.h>

enum msr_kind {
	MSR_PASS,      /* no exit for RDMSR or WRMSR: the guest owns the hardware MSR */
	MSR_PASS_READ, /* RDMSR does not exit; WRMSR exits (IA32_TSC: writes move the offset) */
	MSR_VMCS,      /* lives in a VMCS field (EFER, PAT), validated on write */
	MSR_STORED,    /* per-vCPU value; bits outside `writable` must keep their reset value */
	MSR_CONST,     /* reads a constant, writes raise #GP */
	MSR_LAPIC,     /* the local APIC's: IA32_APIC_BASE, TSC_DEADLINE, the x2APIC registers */
};

#define MSR_STORED_SLOTS 40

struct msr_rule {
	u32 first, last; /* inclusive range of MSR numbers sharing this rule */
	enum msr_kind kind;
	const char *name;
	u64 value;    /* MSR_STORED: reset value; MSR_CONST: the constant */
	u64 writable; /* MSR_STORED: bits the guest may change */
	u32 slot;     /* MSR_STORED: index of `first` in msr_state.stored */
};

struct msr_state {
	u64 stored[MSR_STORED_SLOTS];
};

#define MSR_BITMAP_SIZE 4096

const struct msr_rule *msr_rule_find(u32 msr);

/* Fill a VMX MSR bitmap (SDM Vol. 3C 25.6.9): exits for everything except MSR_PASS (read and
 * write) and MSR_PASS_READ (read). */
void msr_bitmap_build(u8 bitmap[MSR_BITMAP_SIZE]);

/* Reset values of every MSR_STORED rule. */
void msr_state_init(struct msr_state *s);

/* MSR_STORED and MSR_CONST rules. Return 0, or -1 when the access must raise #GP. */
int msr_emulate_read(const struct msr_rule *r, const struct msr_state *s, u32 msr, u64 *value);
int msr_emulate_write(const struct msr_rule *r, struct msr_state *s, u32 msr, u64 value);

/* Architectural checks for the VMCS-backed MSRs (SDM Vol. 3A 11.12.2, 2.2.1; Vol. 4). */
bool msr_pat_valid(u64 pat);
bool msr_efer_write_valid(u64 old_efer, u64 new_efer, bool guest_paging);

#define MSR_IA32_TSC 0x10
#define MSR_IA32_APIC_BASE 0x1b
#define MSR_IA32_PAT 0x277
#define MSR_IA32_STAR 0xc0000081
#define MSR_IA32_LSTAR 0xc0000082
#define MSR_IA32_CSTAR 0xc0000083
#define MSR_IA32_SFMASK 0xc0000084
#define MSR_IA32_FS_BASE 0xc0000100
#define MSR_IA32_GS_BASE 0xc0000101
#define MSR_IA32_KERNEL_GS_BASE 0xc0000102
#define EFER_SCE (1ull << 0)
#define EFER_LMA (1ull << 10)

#endif
