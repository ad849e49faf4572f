/* The MSR policy table and the emulation of stored and constant MSRs (SDM Vol. 4). */
#include <kestrel/msr_policy.h>
#include <kestrel/string.h>

/* Fast strings on; BTS and PEBS unavailable. */
#define MISC_ENABLE_RESET ((1ull << 0) | (1ull << 11) | (1ull << 12))
#define MISC_ENABLE_WRITABLE ((1ull << 0) | (1ull << 22) | (1ull << 34))
#define MTRRCAP_VALUE 0x508ull /* 8 variable ranges, fixed ranges, write-combining */
#define MTRR_DEF_TYPE_RESET 0xc06ull /* enabled, fixed enabled, default write-back */
#define MTRR_DEF_TYPE_WRITABLE 0xcffull
#define FEATURE_CONTROL_LOCKED 1ull /* locked with VMX off: consistent with CPUID hiding VMX */

#define PASS(a, b, n) { a, b, MSR_PASS, n, 0, 0, 0 }
#define STORED(a, b, n, reset, wr, slot) { a, b, MSR_STORED, n, reset, wr, slot }
#define CONST(a, n, v) { a, a, MSR_CONST, n, v, 0, 0 }

/* Sorted by MSR number: msr_rule_find() bisects. Stored slots 0-31 are assigned in order. */
static const struct msr_rule msr_rules[] = {
	{ 0x10, 0x10, MSR_PASS_READ, "IA32_TSC", 0, 0, 0 },
	CONST(0x17, "IA32_PLATFORM_ID", 0),
	{ 0x1b, 0x1b, MSR_LAPIC, "IA32_APIC_BASE", 0, 0, 0 },
	CONST(0x3a, "IA32_FEATURE_CONTROL", FEATURE_CONTROL_LOCKED),
	STORED(0x8b, 0x8b, "IA32_BIOS_SIGN_ID", 0, ~0ull, 0),
	CONST(0xfe, "IA32_MTRRCAP", MTRRCAP_VALUE),
	PASS(0x174, 0x176, "IA32_SYSENTER_CS/ESP/EIP"), /* switched by the VMCS */
	CONST(0x179, "IA32_MCG_CAP", 0),                 /* no machine-check banks */
	STORED(0x17a, 0x17a, "IA32_MCG_STATUS", 0, ~0ull, 1),
	STORED(0x1a0, 0x1a0, "IA32_MISC_ENABLE", MISC_ENABLE_RESET, MISC_ENABLE_WRITABLE, 2),
	STORED(0x200, 0x20f, "IA32_MTRR_PHYSBASE/MASK", 0, ~0ull, 3),
	STORED(0x250, 0x250, "IA32_MTRR_FIX64K", 0, ~0ull, 19),
	STORED(0x258, 0x259, "IA32_MTRR_FIX16K", 0, ~0ull, 20),
	STORED(0x268, 0x26f, "IA32_MTRR_FIX4K", 0, ~0ull, 22),
	{ 0x277, 0x277, MSR_VMCS, "IA32_PAT", 0, 0, 0 },
	STORED(0x2ff, 0x2ff, "IA32_MTRR_DEF_TYPE", MTRR_DEF_TYPE_RESET, MTRR_DEF_TYPE_WRITABLE, 30),
	{ 0x6e0, 0x6e0, MSR_LAPIC, "IA32_TSC_DEADLINE", 0, 0, 0 },
	{ 0x800, 0x8ff, MSR_LAPIC, "x2APIC registers", 0, 0, 0 },
	{ 0xc0000080, 0xc0000080, MSR_VMCS, "IA32_EFER", 0, 0, 0 },
	/* The SYSCALL MSRs: a guest's syscalls must not exit (seed 002). Not switched by the
	 * VMCS: the scheduler swaps them between guests. */
	PASS(0xc0000081, 0xc0000084, "IA32_STAR/LSTAR/CSTAR/FMASK"),
	PASS(0xc0000100, 0xc0000102, "IA32_FS/GS/KERNEL_GS_BASE"),
};

const struct msr_rule *msr_rule_find(u32 msr)
{
	size_t lo = 0, hi = ARRAY_SIZE(msr_rules);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct msr_rule *r = &msr_rules[mid];

		if (msr < r->first)
			hi = mid;
		else if (msr > r->last)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/* Bitmap layout: read-low, read-high, write-low, write-high, 1 KiB each (low: 0-0x1fff,
 * high: 0xc0000000-0xc0001fff). A set bit makes the access exit. */
static void bitmap_clear(u8 *bitmap, u32 msr, bool write)
{
	u32 base = (write ? 2048 : 0) + (msr >= 0xc0000000 ? 1024 : 0);
	u32 bit = msr & 0x1fff;

	bitmap[base + bit / 8] &= (u8) ~(1u << (bit % 8));
}

void msr_bitmap_build(u8 bitmap[MSR_BITMAP_SIZE])
{
	memset(bitmap, 0xff, MSR_BITMAP_SIZE);
	for (size_t i = 0; i < ARRAY_SIZE(msr_rules); i++) {
		const struct msr_rule *r = &msr_rules[i];

		if (r->kind != MSR_PASS && r->kind != MSR_PASS_READ)
			continue;
		for (u32 msr = r->first; msr <= r->last; msr++) {
			bitmap_clear(bitmap, msr, false);
			if (r->kind == MSR_PASS)
				bitmap_clear(bitmap, msr, true);
		}
	}
}

void msr_state_init(struct msr_state *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < ARRAY_SIZE(msr_rules); i++) {
		const struct msr_rule *r = &msr_rules[i];

		if (r->kind == MSR_STORED)
			for (u32 msr = r->first; msr <= r->last; msr++)
				s->stored[r->slot + msr - r->first] = r->value;
	}
}

int msr_emulate_read(const struct msr_rule *r, const struct msr_state *s, u32 msr, u64 *value)
{
	if (r->kind == MSR_CONST) {
		*value = r->value;
		return 0;
	}
	if (r->kind != MSR_STORED)
		return -1;
	*value = s->stored[r->slot + msr - r->first];
	return 0;
}

int msr_emulate_write(const struct msr_rule *r, struct msr_state *s, u32 msr, u64 value)
{
	if (r->kind != MSR_STORED || (value & ~r->writable) != (r->value & ~r->writable))
		return -1;
	s->stored[r->slot + msr - r->first] = value;
	return 0;
}

bool msr_pat_valid(u64 pat)
{
	/* Each of the 8 entries must be UC(0), WC(1), WT(4), WP(5), WB(6) or UC-(7). */
	for (int i = 0; i < 8; i++) {
		u8 type = (u8)(pat >> (8 * i));

		if (type == 2 || type == 3 || type > 7)
			return false;
	}
	return true;
}

bool msr_efer_write_valid(u64 old_efer, u64 new_efer, bool guest_paging)
{
	const u64 writable = EFER_SCE | (1ull << 8) /* LME */ | (1ull << 11) /* NXE */;

	/* LMA is read-only (writes of either value are ignored); other bits are reserved. */
	if (new_efer & ~(writable | EFER_LMA))
		return false;
	/* Changing LME while paging is on raises #GP (SDM Vol. 3A 10.8.5). */
	if (guest_paging && ((old_efer ^ new_efer) & (1ull << 8)))
		return false;
	return true;
}
