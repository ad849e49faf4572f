/*
 * Unit tests for vmx/msr_policy.c: the rule table (through msr_rule_find), the VMX MSR bitmap
 * built from it, the per-vCPU stored MSRs, and the architectural PAT/EFER checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <kestrel/msr_policy.h>

/* The policy as it must be (SDM Vol. 4 numbers). */
struct expected_rule {
	u32 first, last;
	enum msr_kind kind;
	const char *name;
	u64 value, writable; /* STORED: reset value and writable bits; CONST: the constant */
};

#define ALL ~0ull
static const struct expected_rule expected[] = {
	{ 0x10, 0x10, MSR_PASS_READ, "IA32_TSC", 0, 0 },
	{ 0x17, 0x17, MSR_CONST, "IA32_PLATFORM_ID", 0, 0 },
	{ 0x1b, 0x1b, MSR_LAPIC, "IA32_APIC_BASE", 0, 0 },
	{ 0x3a, 0x3a, MSR_CONST, "IA32_FEATURE_CONTROL", 1, 0 },
	{ 0x8b, 0x8b, MSR_STORED, "IA32_BIOS_SIGN_ID", 0, ALL },
	{ 0xfe, 0xfe, MSR_CONST, "IA32_MTRRCAP", 0x508, 0 },
	{ 0x174, 0x176, MSR_PASS, "IA32_SYSENTER_CS/ESP/EIP", 0, 0 },
	{ 0x179, 0x179, MSR_CONST, "IA32_MCG_CAP", 0, 0 },
	{ 0x17a, 0x17a, MSR_STORED, "IA32_MCG_STATUS", 0, ALL },
	{ 0x1a0, 0x1a0, MSR_STORED, "IA32_MISC_ENABLE", 0x1801, (1ull << 0) | (1ull << 22) | (1ull << 34) },
	{ 0x200, 0x20f, MSR_STORED, "IA32_MTRR_PHYSBASE/MASK", 0, ALL },
	{ 0x250, 0x250, MSR_STORED, "IA32_MTRR_FIX64K", 0, ALL },
	{ 0x258, 0x259, MSR_STORED, "IA32_MTRR_FIX16K", 0, ALL },
	{ 0x268, 0x26f, MSR_STORED, "IA32_MTRR_FIX4K", 0, ALL },
	{ 0x277, 0x277, MSR_VMCS, "IA32_PAT", 0, 0 },
	{ 0x2ff, 0x2ff, MSR_STORED, "IA32_MTRR_DEF_TYPE", 0xc06, 0xcff },
	{ 0x6e0, 0x6e0, MSR_LAPIC, "IA32_TSC_DEADLINE", 0, 0 },
	{ 0x800, 0x8ff, MSR_LAPIC, "x2APIC registers", 0, 0 },
	{ 0xc0000080, 0xc0000080, MSR_VMCS, "IA32_EFER", 0, 0 },
	{ 0xc0000081, 0xc0000084, MSR_PASS, "IA32_STAR/LSTAR/CSTAR/FMASK", 0, 0 },
	{ 0xc0000100, 0xc0000102, MSR_PASS, "IA32_FS/GS/KERNEL_GS_BASE", 0, 0 },
};
#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))
#define N_STORED_MSRS 31 /* 1 + 1 + 1 + 16 + 1 + 2 + 8 + 1 */

static const struct expected_rule *expected_for(u32 msr)
{
	for (size_t i = 0; i < N_EXPECTED; i++)
		if (msr >= expected[i].first && msr <= expected[i].last)
			return &expected[i];
	return NULL;
}

/* The MSR ranges the tests sweep. */
static const struct {
	u32 first, last;
} ranges[] = {
	{ 0x0, 0x3000 },
	{ 0x40000000, 0x40000100 },
	{ 0xc0000000, 0xc0002000 },
};
#define N_RANGES (sizeof(ranges) / sizeof(ranges[0]))

#define FOR_EACH_MSR(msr)                                                                         \
	for (size_t r_i = 0; r_i < N_RANGES; r_i++)                                               \
		for (u32 msr = ranges[r_i].first; msr <= ranges[r_i].last; msr++)

/* --- the table --------------------------------------------------------------------------- */

static void find_matches_the_expected_policy(void **state)
{
	const struct msr_rule *seen[N_EXPECTED] = { 0 };

	FOR_EACH_MSR(msr) {
		const struct msr_rule *r = msr_rule_find(msr);
		const struct expected_rule *e = expected_for(msr);

		if (!e) {
			if (r)
				fail_msg("MSR 0x%x has rule %s, expected none", msr, r->name);
			continue;
		}
		if (!r)
			fail_msg("MSR 0x%x (%s) has no rule", msr, e->name);
		assert_int_equal(r->first, e->first);
		assert_int_equal(r->last, e->last);
		assert_int_equal(r->kind, e->kind);
		assert_string_equal(r->name, e->name);
		if (e->kind == MSR_STORED || e->kind == MSR_CONST)
			assert_int_equal(r->value, e->value);
		if (e->kind == MSR_STORED)
			assert_int_equal(r->writable, e->writable);
		/* Every MSR of one range finds the same rule, and each range its own. */
		if (!seen[e - expected])
			seen[e - expected] = r;
		assert_ptr_equal(seen[e - expected], r);
	}
	for (size_t i = 0; i < N_EXPECTED; i++)
		for (size_t j = i + 1; j < N_EXPECTED; j++)
			assert_ptr_not_equal(seen[i], seen[j]);
}

static int cmp_ptr(const void *a, const void *b)
{
	const struct msr_rule *x = *(const struct msr_rule *const *)a;
	const struct msr_rule *y = *(const struct msr_rule *const *)b;

	return x < y ? -1 : x > y;
}

/*
 * Through the public API only: the rules find() returns are the elements of one array. They
 * must be contiguous (no element find() cannot reach), sorted and non-overlapping, and a
 * linear scan of that array must agree with find() for every MSR.
 */
static void table_is_sorted_disjoint_and_find_agrees_with_linear_scan(void **state)
{
	const struct msr_rule *found[64];
	size_t n = 0;

	FOR_EACH_MSR(msr) {
		const struct msr_rule *r = msr_rule_find(msr);
		size_t i;

		if (!r)
			continue;
		assert_true(r->first <= msr && msr <= r->last);
		for (i = 0; i < n && found[i] != r; i++)
			;
		if (i == n) {
			assert_true(n < 64);
			found[n++] = r;
		}
	}
	assert_int_equal(n, N_EXPECTED);
	qsort(found, n, sizeof(found[0]), cmp_ptr);
	for (size_t i = 0; i < n; i++) {
		assert_true(found[i]->first <= found[i]->last);
		if (i + 1 < n) {
			assert_ptr_equal(found[i + 1], found[i] + 1); /* contiguous */
			assert_true(found[i]->last < found[i + 1]->first); /* sorted, disjoint */
		}
	}
	FOR_EACH_MSR(msr) {
		const struct msr_rule *linear = NULL;

		for (size_t i = 0; i < n; i++) {
			if (msr >= found[0][i].first && msr <= found[0][i].last) {
				assert_null(linear); /* at most one rule per MSR */
				linear = &found[0][i];
			}
		}
		assert_ptr_equal(msr_rule_find(msr), linear);
	}
}

static void unknown_msrs_have_no_rule(void **state)
{
	u32 unknown[] = { 0x12345678, 0x4b564d00, 0x48 /* SPEC_CTRL */, 0xe7 /* MPERF */,
			  0xe8 /* APERF */, 0x0, 0xf, 0x11, 0x1a, 0x1c, 0x3b, 0x8a, 0x8c,
			  0x173, 0x177, 0x1ff, 0x210, 0x251, 0x25a, 0x267, 0x270, 0x276, 0x278,
			  0x2fe, 0x300, 0x40000000, 0xc000007f, 0xc0000085, 0xc00000ff,
			  0xc0000103, 0xffffffff, 0x80000000 };

	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		if (msr_rule_find(unknown[i]))
			fail_msg("MSR 0x%x has a rule", unknown[i]);
}

/* --- the bitmap -------------------------------------------------------------------------- */

static bool bitmap_bit(const u8 *bm, u32 offset, u32 bit)
{
	return bm[offset + bit / 8] & (1u << (bit % 8));
}

static void bitmap_exact(void **state)
{
	u8 *bm = malloc(MSR_BITMAP_SIZE); /* exact size: ASan catches writes past it */
	u32 clear_read = 0, clear_write = 0;

	assert_non_null(bm);
	assert_int_equal(MSR_BITMAP_SIZE, 4096);
	memset(bm, 0, MSR_BITMAP_SIZE); /* build must set every exiting bit itself */
	msr_bitmap_build(bm);

	/* SDM Vol. 3C 25.6.9: read-low 0, read-high 1024, write-low 2048, write-high 3072. */
	for (u32 region = 0; region < 4; region++) {
		bool write = region >= 2, high = region & 1;

		for (u32 bit = 0; bit < 8192; bit++) {
			u32 msr = (high ? 0xc0000000u : 0) + bit;
			const struct msr_rule *r = msr_rule_find(msr);
			bool pass = r && (r->kind == MSR_PASS || (r->kind == MSR_PASS_READ && !write));

			if (bitmap_bit(bm, region * 1024, bit) == pass)
				fail_msg("%s bit of MSR 0x%x is %s", write ? "write" : "read", msr,
					 pass ? "set" : "clear");
			if (pass)
				(*(write ? &clear_write : &clear_read))++;
		}
	}
	/* TSC, SYSENTER x3, STAR/LSTAR/CSTAR/FMASK, FS/GS/KERNEL_GS base; writes: all but TSC. */
	assert_int_equal(clear_read, 11);
	assert_int_equal(clear_write, 10);

	/* Spot checks by byte. */
	assert_int_equal(bm[0x10 / 8], 0xfe);          /* TSC read */
	assert_int_equal(bm[2048 + 0x10 / 8], 0xff);   /* TSC write exits */
	assert_int_equal(bm[0x174 / 8], 0x8f);         /* 0x174-0x176: bits 4-6 of byte 0x2e */
	assert_int_equal(bm[2048 + 0x174 / 8], 0x8f);
	assert_int_equal(bm[1024 + 0x80 / 8], 0xe1);   /* 0xc0000081-84: bits 1-4 of byte 0x10 */
	assert_int_equal(bm[3072 + 0x80 / 8], 0xe1);
	assert_int_equal(bm[1024 + 0x100 / 8], 0xf8);  /* 0xc0000100-102 */
	assert_int_equal(bm[3072 + 0x100 / 8], 0xf8);
	assert_int_equal(bm[0x1b / 8], 0xff);          /* APIC_BASE exits */
	assert_int_equal(bm[0x277 / 8], 0xff);         /* PAT exits */
	assert_int_equal(bm[1024 + 0x80 / 8] & 1, 1);  /* EFER exits */
	assert_int_equal(bm[1023], 0xff);
	assert_int_equal(bm[4095], 0xff);
	free(bm);
}

/* --- stored MSRs ------------------------------------------------------------------------- */

struct guarded_state {
	u64 before[4];
	struct msr_state s;
	u64 after[4];
};

#define GUARD 0x6b6b6b6b6b6b6b6bull

static void check_guards(const struct guarded_state *g)
{
	for (int i = 0; i < 4; i++) {
		assert_int_equal(g->before[i], GUARD);
		assert_int_equal(g->after[i], GUARD);
	}
}

static struct guarded_state *new_state(void)
{
	struct guarded_state *g = malloc(sizeof(*g));

	assert_non_null(g);
	memset(g, 0x6b, sizeof(*g));
	msr_state_init(&g->s);
	check_guards(g);
	return g;
}

static u64 read_ok(const struct msr_state *s, u32 msr)
{
	const struct msr_rule *r = msr_rule_find(msr);
	u64 v = 0x1111111111111111ull;

	assert_non_null(r);
	assert_int_equal(msr_emulate_read(r, s, msr, &v), 0);
	return v;
}

static int write_msr(struct msr_state *s, u32 msr, u64 value)
{
	const struct msr_rule *r = msr_rule_find(msr);

	assert_non_null(r);
	return msr_emulate_write(r, s, msr, value);
}

static void stored_slots_are_distinct_and_fit(void **state)
{
	bool used[MSR_STORED_SLOTS] = { false };
	u32 n = 0;

	FOR_EACH_MSR(msr) {
		const struct msr_rule *r = msr_rule_find(msr);
		u32 slot;

		if (!r || r->kind != MSR_STORED)
			continue;
		slot = r->slot + (msr - r->first);
		if (slot >= MSR_STORED_SLOTS)
			fail_msg("MSR 0x%x: slot %u >= %u", msr, slot, MSR_STORED_SLOTS);
		if (used[slot])
			fail_msg("MSR 0x%x: slot %u used twice", msr, slot);
		used[slot] = true;
		n++;
	}
	assert_int_equal(n, N_STORED_MSRS);

	/* msr_state_init leaves no garbage in the slots no rule uses. */
	struct guarded_state *g = new_state();

	for (u32 slot = 0; slot < MSR_STORED_SLOTS; slot++)
		if (!used[slot])
			assert_int_equal(g->s.stored[slot], 0);
	free(g);
}

static void stored_reset_values(void **state)
{
	struct guarded_state *g = new_state();
	u32 n = 0;

	FOR_EACH_MSR(msr) {
		const struct expected_rule *e = expected_for(msr);

		if (!e || e->kind != MSR_STORED)
			continue;
		assert_int_equal(read_ok(&g->s, msr), e->value);
		n++;
	}
	assert_int_equal(n, N_STORED_MSRS);
	check_guards(g);
	free(g);
}

/* A value for `msr` that differs from every other MSR's and that the policy accepts. */
static u64 distinct_value(const struct expected_rule *e, u32 msr)
{
	if (e->writable == ALL)
		return 0x8000000000000000ull | (u64)msr << 16 | 0x5a;
	return e->value ^ e->writable; /* every writable bit flipped */
}

static void stored_msrs_do_not_overlap(void **state)
{
	struct guarded_state *g = new_state();
	u64 written[64];
	u32 msrs[64], n = 0;

	FOR_EACH_MSR(msr) {
		const struct expected_rule *e = expected_for(msr);

		if (!e || e->kind != MSR_STORED)
			continue;
		assert_true(n < 64);
		msrs[n] = msr;
		written[n] = distinct_value(e, msr);
		for (u32 i = 0; i < n; i++)
			assert_int_not_equal(written[i], written[n]);
		assert_int_equal(write_msr(&g->s, msr, written[n]), 0);
		n++;
	}
	assert_int_equal(n, N_STORED_MSRS);
	for (u32 i = 0; i < n; i++)
		if (read_ok(&g->s, msrs[i]) != written[i])
			fail_msg("MSR 0x%x reads 0x%llx, wrote 0x%llx", msrs[i],
				 read_ok(&g->s, msrs[i]), written[i]);
	check_guards(g);

	/* Re-init restores every reset value. */
	msr_state_init(&g->s);
	for (u32 i = 0; i < n; i++)
		assert_int_equal(read_ok(&g->s, msrs[i]), expected_for(msrs[i])->value);
	check_guards(g);
	free(g);
}

/* --- emulation semantics ------------------------------------------------------------------ */

static void constants_read_and_refuse_writes(void **state)
{
	struct guarded_state *g = new_state();
	struct msr_state before;
	static const struct {
		u32 msr;
		u64 value;
	} consts[] = { { 0x3a, 1 }, { 0x17, 0 }, { 0xfe, 0x508 }, { 0x179, 0 } };

	memcpy(&before, &g->s, sizeof(before));
	for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++) {
		u32 msr = consts[i].msr;

		assert_int_equal(read_ok(&g->s, msr), consts[i].value);
		/* Even writing the value it reads is refused. */
		assert_int_equal(write_msr(&g->s, msr, consts[i].value), -1);
		assert_int_equal(write_msr(&g->s, msr, 0), -1);
		assert_int_equal(write_msr(&g->s, msr, 5), -1);
		assert_int_equal(write_msr(&g->s, msr, ~0ull), -1);
		assert_int_equal(read_ok(&g->s, msr), consts[i].value);
	}
	assert_memory_equal(&before, &g->s, sizeof(before));
	check_guards(g);
	free(g);
}

static void pass_and_vmcs_msrs_are_not_emulated(void **state)
{
	struct guarded_state *g = new_state();
	struct msr_state before;
	u32 msrs[] = { 0x10, 0x174, 0x176, 0x277, 0xc0000080, 0xc0000082, 0xc0000102 };

	memcpy(&before, &g->s, sizeof(before));
	for (size_t i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		const struct msr_rule *r = msr_rule_find(msrs[i]);
		u64 v = 0x77;

		assert_non_null(r);
		assert_int_equal(msr_emulate_read(r, &g->s, msrs[i], &v), -1);
		assert_int_equal(v, 0x77);
		assert_int_equal(msr_emulate_write(r, &g->s, msrs[i], 0), -1);
	}
	assert_memory_equal(&before, &g->s, sizeof(before));
	free(g);
}

static void misc_enable(void **state)
{
	struct guarded_state *g = new_state();
	struct msr_state *s = &g->s;
	const u64 reset = 0x1801; /* fast strings, BTS and PEBS unavailable */

	assert_int_equal(read_ok(s, 0x1a0), reset);
	/* Writable: fast strings (0), limit CPUID maxval (22), XD disable (34). */
	assert_int_equal(write_msr(s, 0x1a0, reset | 1ull << 22 | 1ull << 34), 0);
	assert_int_equal(read_ok(s, 0x1a0), 0x400401801ull);
	assert_int_equal(write_msr(s, 0x1a0, 0x1800), 0);
	assert_int_equal(read_ok(s, 0x1a0), 0x1800);
	/* Everything else keeps its reset value. */
	for (int bit = 0; bit < 64; bit++) {
		if (bit == 0 || bit == 22 || bit == 34)
			continue;
		if (write_msr(s, 0x1a0, 0x1800 ^ (1ull << bit)) != -1)
			fail_msg("MISC_ENABLE bit %d is writable", bit);
	}
	assert_int_equal(read_ok(s, 0x1a0), 0x1800);
	check_guards(g);
	free(g);
}

static void mtrr_def_type(void **state)
{
	struct guarded_state *g = new_state();
	struct msr_state *s = &g->s;

	assert_int_equal(read_ok(s, 0x2ff), 0xc06); /* enabled, fixed enabled, WB */
	assert_int_equal(write_msr(s, 0x2ff, 0x000), 0);
	assert_int_equal(read_ok(s, 0x2ff), 0);
	assert_int_equal(write_msr(s, 0x2ff, 0x800), 0);
	assert_int_equal(read_ok(s, 0x2ff), 0x800);
	/* Writable: type [7:0], FE (10), E (11); bits 8, 9 and 12-63 are reserved. */
	for (int bit = 0; bit < 64; bit++) {
		bool writable = bit < 8 || bit == 10 || bit == 11;

		assert_int_equal(write_msr(s, 0x2ff, 0x800 ^ (1ull << bit)), writable ? 0 : -1);
		assert_int_equal(read_ok(s, 0x2ff), writable ? 0x800 ^ (1ull << bit) : 0x800);
		assert_int_equal(write_msr(s, 0x2ff, 0x800), 0);
	}
	/* The variable-range MTRRs take any value, each its own. */
	assert_int_equal(write_msr(s, 0x200, 0x80000006ull), 0);
	assert_int_equal(write_msr(s, 0x201, 0xfff80000800ull), 0);
	assert_int_equal(read_ok(s, 0x200), 0x80000006ull);
	assert_int_equal(read_ok(s, 0x201), 0xfff80000800ull);
	assert_int_equal(read_ok(s, 0x202), 0);
	assert_int_equal(read_ok(s, 0x20f), 0);
	check_guards(g);
	free(g);
}

/* --- PAT and EFER ------------------------------------------------------------------------- */

static void pat_every_byte_in_every_position(void **state)
{
	const u64 base = 0x0007040600070406ull; /* the power-on PAT */

	assert_true(msr_pat_valid(base));
	assert_true(msr_pat_valid(0));
	assert_true(msr_pat_valid(0x0606060606060606ull));
	assert_true(msr_pat_valid(0x0706050401000706ull));
	for (int pos = 0; pos < 8; pos++) {
		for (u32 byte = 0; byte < 256; byte++) {
			u64 pat = (base & ~(0xffull << (8 * pos))) | (u64)byte << (8 * pos);
			bool valid = byte == 0 || byte == 1 || byte == 4 || byte == 5 || byte == 6 ||
				     byte == 7;

			if (msr_pat_valid(pat) != valid)
				fail_msg("PAT 0x%016llx: expected %s", pat,
					 valid ? "valid" : "invalid");
		}
	}
}

static void efer_reserved_bits(void **state)
{
	for (int bit = 0; bit < 64; bit++) {
		/* SCE (0), LME (8), LMA (10, ignored), NXE (11). */
		bool ok = bit == 0 || bit == 8 || bit == 10 || bit == 11;

		assert_int_equal(msr_efer_write_valid(0, 1ull << bit, false), ok);
		/* Reserved bits are refused whatever the old value and paging say. */
		if (!ok) {
			assert_false(msr_efer_write_valid(0xd01, 0xd01 | 1ull << bit, true));
			assert_false(msr_efer_write_valid(1ull << bit, 1ull << bit, false));
		}
	}
	assert_true(msr_efer_write_valid(0, 0xd01, false));
	assert_false(msr_efer_write_valid(0, 0xd01 | 1ull << 9, false));
	assert_false(msr_efer_write_valid(0, 0xd01 | 1ull << 63, false));
}

static void efer_lma_ignored_and_lme_locked_under_paging(void **state)
{
	/* LMA may be written either way, paging or not. */
	assert_true(msr_efer_write_valid(0x500, 0x100, true));
	assert_true(msr_efer_write_valid(0x100, 0x500, true));
	assert_true(msr_efer_write_valid(0xd01, 0x901, true));
	/* With paging on, LME may not change; other bits may. */
	assert_false(msr_efer_write_valid(0x500, 0x400, true));
	assert_false(msr_efer_write_valid(0x000, 0x100, true));
	assert_false(msr_efer_write_valid(0x000, 0x500, true));
	assert_false(msr_efer_write_valid(0xd01, 0xc01, true));
	assert_true(msr_efer_write_valid(0x500, 0xd01, true));
	assert_true(msr_efer_write_valid(0xd01, 0x500, true));
	assert_true(msr_efer_write_valid(0x0, 0x801, true));
	/* With paging off, LME may change. */
	assert_true(msr_efer_write_valid(0x000, 0x100, false));
	assert_true(msr_efer_write_valid(0x500, 0x000, false));
	assert_true(msr_efer_write_valid(0xd01, 0xc01, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(find_matches_the_expected_policy),
		cmocka_unit_test(table_is_sorted_disjoint_and_find_agrees_with_linear_scan),
		cmocka_unit_test(unknown_msrs_have_no_rule),
		cmocka_unit_test(bitmap_exact),
		cmocka_unit_test(stored_slots_are_distinct_and_fit),
		cmocka_unit_test(stored_reset_values),
		cmocka_unit_test(stored_msrs_do_not_overlap),
		cmocka_unit_test(constants_read_and_refuse_writes),
		cmocka_unit_test(pass_and_vmcs_msrs_are_not_emulated),
		cmocka_unit_test(misc_enable),
		cmocka_unit_test(mtrr_def_type),
		cmocka_unit_test(pat_every_byte_in_every_position),
		cmocka_unit_test(efer_reserved_bits),
		cmocka_unit_test(efer_lma_ignored_and_lme_locked_under_paging),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
