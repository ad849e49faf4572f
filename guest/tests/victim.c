/*
 * victim: the guest that runs beside the hostile ones (docs/test-guests.md, "The hostile-guest
 * suite"). It fills all of its free RAM with a pattern derived from each word's address, sets
 * the CPU state a guest owns (the MSRs the hardware lets through without an exit and that
 * Kestrel switches itself, the x87/SSE registers, CR2, the debug registers, TPR, PAT, ...) to
 * known values, then, round after round for `seconds=N` (default 20) of TSC time and at least
 * `rounds=N` (default 3) rounds, checksums the RAM and compares every piece of that state with
 * what it set. Another guest's memory or state leaking into this one fails a check, naming the
 * first differing address or register. Every round matching prints PASS; then it powers off
 * with status 0 (or 1).
 *
 * Command line (all optional): seconds=N rounds=N seed=N
 */
#include <kestrel/string.h>
#include "guest.h"

const char guest_name[] = "victim";

extern const char __image_start[], __image_end[];

#define CR4_OSFXSR (1ull << 9)
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define REPORT_EVERY_S 5 /* seconds between progress lines */

static u64 seed = 0x76696374696d2121ull; /* "victim!!" */
static u64 fill_start, fill_end;
static u64 sum1_want, sum2_want;

/* The pattern: a 64-bit mix of the word's address and the seed, different for every word. */
static inline u64 pattern(u64 addr)
{
	u64 z = addr ^ seed;

	z = (z ^ (z >> 31)) * 0x7fb5d329728ea185ull;
	z = (z ^ (z >> 27)) * 0x81dadef4bc2dd44dull;
	return z ^ (z >> 33);
}

static void fill(void)
{
	for (u64 a = fill_start; a < fill_end; a += 8)
		*(volatile u64 *)(uintptr_t)a = pattern(a);
}

/* Fletcher-style: position-dependent, so swapped or moved words change it too. */
static void checksum(u64 *s1_out, u64 *s2_out)
{
	u64 s1 = 0, s2 = 0;

	for (u64 a = fill_start; a < fill_end; a += 8) {
		s1 += *(volatile u64 *)(uintptr_t)a;
		s2 += s1;
	}
	*s1_out = s1;
	*s2_out = s2;
}

/* After a checksum mismatch: which words differ. */
static u64 find_corruption(u64 *first, u64 *got)
{
	u64 bad = 0;

	for (u64 a = fill_start; a < fill_end; a += 8) {
		u64 v = *(volatile u64 *)(uintptr_t)a;

		if (v != pattern(a)) {
			if (!bad++) {
				*first = a;
				*got = v;
			}
		}
	}
	return bad;
}

/* --- CPU state ------------------------------------------------------------------------------ */
struct msr_value {
	u32 msr;
	const char *name;
	u64 set;  /* written at the start (0: only read) */
	u64 want; /* read back after writing: what every round must see */
};

static struct msr_value msrs[] = {
	{ MSR_STAR, "IA32_STAR", GUEST_STAR | 0x1234, 0 },
	{ MSR_LSTAR, "IA32_LSTAR", 0xffff800012345000ull, 0 },
	{ MSR_CSTAR, "IA32_CSTAR", 0xffff800012346000ull, 0 },
	{ MSR_SFMASK, "IA32_FMASK", 0x4700, 0 },
	{ MSR_KERNEL_GS_BASE, "IA32_KERNEL_GS_BASE", 0xffff888012340000ull, 0 },
	{ MSR_FS_BASE, "IA32_FS_BASE", 0x7f0012345000ull, 0 },
	{ MSR_GS_BASE, "IA32_GS_BASE", 0x7f0023456000ull, 0 },
	{ MSR_SYSENTER_CS, "IA32_SYSENTER_CS", 0x10, 0 },
	{ MSR_SYSENTER_ESP, "IA32_SYSENTER_ESP", 0xffff800000001000ull, 0 },
	{ MSR_SYSENTER_EIP, "IA32_SYSENTER_EIP", 0xffff800000002000ull, 0 },
	{ MSR_IA32_PAT, "IA32_PAT", 0x0007010600070106ull, 0 },
	{ MSR_IA32_MTRR_DEF_TYPE, "IA32_MTRR_DEF_TYPE", 0, 0 },
	{ MSR_IA32_APIC_BASE, "IA32_APIC_BASE", 0, 0 },
	{ MSR_EFER, "IA32_EFER", 0, 0 },
};

struct cpu_state {
	u64 cr0, cr2, cr3, cr4, cr8;
	u64 dr[4], dr6, dr7;
};

static struct cpu_state state_want;
static u8 fx_want[512] __attribute__((aligned(16)));
static u8 fx_now[512] __attribute__((aligned(16)));
static const u64 xmm_pattern[32] __attribute__((aligned(16))) = {
	0x0011223344556677ull, 0x8899aabbccddeeffull, 0x0102030405060708ull, 0x1112131415161718ull,
	0x2122232425262728ull, 0x3132333435363738ull, 0x4142434445464748ull, 0x5152535455565758ull,
	0x6162636465666768ull, 0x7172737475767778ull, 0x8182838485868788ull, 0x9192939495969798ull,
	0xa1a2a3a4a5a6a7a8ull, 0xb1b2b3b4b5b6b7b8ull, 0xc1c2c3c4c5c6c7c8ull, 0xd1d2d3d4d5d6d7d8ull,
	0xe1e2e3e4e5e6e7e8ull, 0xf1f2f3f4f5f6f7f8ull, 0x0f0e0d0c0b0a0908ull, 0x1f1e1d1c1b1a1918ull,
	0x2f2e2d2c2b2a2928ull, 0x3f3e3d3c3b3a3938ull, 0x4f4e4d4c4b4a4948ull, 0x5f5e5d5c5b5a5958ull,
	0x6f6e6d6c6b6a6968ull, 0x7f7e7d7c7b7a7978ull, 0x8f8e8d8c8b8a8988ull, 0x9f9e9d9c9b9a9998ull,
	0xafaeadacabaaa9a8ull, 0xbfbebdbcbbbab9b8ull, 0xcfcecdcccbcac9c8ull, 0xdfdedddcdbdad9d8ull,
};

#define DR_ACCESSORS(n)                                                                           \
	static inline u64 read_dr##n(void)                                                        \
	{                                                                                         \
		u64 v;                                                                            \
		__asm__ volatile("mov %%db" #n ", %0" : "=r"(v));                                 \
		return v;                                                                         \
	}                                                                                         \
	static inline void write_dr##n(u64 v)                                                     \
	{                                                                                         \
		__asm__ volatile("mov %0, %%db" #n : : "r"(v) : "memory");                        \
	}
DR_ACCESSORS(0)
DR_ACCESSORS(1)
DR_ACCESSORS(2)
DR_ACCESSORS(3)
DR_ACCESSORS(6)
DR_ACCESSORS(7)
#undef DR_ACCESSORS

static void read_state(struct cpu_state *s)
{
	s->cr0 = read_cr0();
	s->cr2 = read_cr2();
	s->cr3 = read_cr3();
	s->cr4 = read_cr4();
	s->cr8 = read_cr8();
	s->dr[0] = read_dr0();
	s->dr[1] = read_dr1();
	s->dr[2] = read_dr2();
	s->dr[3] = read_dr3();
	s->dr6 = read_dr6();
	s->dr7 = read_dr7();
}

static void fxsave(u8 *area)
{
	__asm__ volatile("fxsave64 %0" : "=m"(*(u8(*)[512])area));
}

/* x87: a non-default control word and five values on the stack; SSE: MXCSR rounding down and
 * all sixteen XMM registers from xmm_pattern. The C code never touches them (the guests are
 * built with -mgeneral-regs-only), so only a context switch can change them. */
static void set_fpu_state(void)
{
	u16 fcw = 0x027a; /* precision 53 bits, #PE #UE #OE #ZE #DE masked, #IE unmasked */
	u32 mxcsr = 0x3f80; /* every exception masked, rounding toward -inf */

	write_cr0(read_cr0() & ~((1ull << 2) | (1ull << 3))); /* EM, TS clear */
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
	__asm__ volatile("fninit\n\t"
			 "fldcw %0\n\t"
			 "fld1\n\tfldpi\n\tfldl2e\n\tfldln2\n\tfldz\n\t"
			 "ldmxcsr %1"
			 : : "m"(fcw), "m"(mxcsr) : "memory");
	__asm__ volatile("movdqa 0x00(%0), %%xmm0\n\tmovdqa 0x10(%0), %%xmm1\n\t"
			 "movdqa 0x20(%0), %%xmm2\n\tmovdqa 0x30(%0), %%xmm3\n\t"
			 "movdqa 0x40(%0), %%xmm4\n\tmovdqa 0x50(%0), %%xmm5\n\t"
			 "movdqa 0x60(%0), %%xmm6\n\tmovdqa 0x70(%0), %%xmm7\n\t"
			 "movdqa 0x80(%0), %%xmm8\n\tmovdqa 0x90(%0), %%xmm9\n\t"
			 "movdqa 0xa0(%0), %%xmm10\n\tmovdqa 0xb0(%0), %%xmm11\n\t"
			 "movdqa 0xc0(%0), %%xmm12\n\tmovdqa 0xd0(%0), %%xmm13\n\t"
			 "movdqa 0xe0(%0), %%xmm14\n\tmovdqa 0xf0(%0), %%xmm15"
			 : : "r"(xmm_pattern) : "memory");
}

static void set_state(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(msrs); i++) {
		if (msrs[i].set)
			wrmsr(msrs[i].msr, msrs[i].set);
		msrs[i].want = rdmsr(msrs[i].msr);
	}
	set_fpu_state();
	write_cr8(2); /* TPR: interrupts are off anyway */
	write_cr2(0x7c2000c2c2c2ull);
	write_dr0(0x1000d0);
	write_dr1(0x2000d1);
	write_dr2(0x3000d2);
	write_dr3(0x4000d3);
	write_dr6(0xffff0ff5ull); /* B0 and B2 set: bits a #DB would leave */
	write_dr7(0x700);         /* LE, GE and the fixed bit: no breakpoint enabled */
	read_state(&state_want);
	fxsave(fx_want);
}

/* The x87/SSE registers in the FXSAVE image (SDM Vol. 1 Table 10-2): FCW, FSW, FTW, MXCSR,
 * ST0-7, XMM0-15. FOP/FIP/FDP are left out. */
static const struct {
	u32 offset, len;
	const char *name;
} fx_fields[] = {
	{ 0, 2, "x87 FCW" },  { 2, 2, "x87 FSW" },      { 4, 1, "x87 FTW" },
	{ 24, 4, "MXCSR" },   { 32, 128, "x87 ST0-7" }, { 160, 256, "XMM0-15" },
};

struct item_failure {
	u64 count;
};

static struct item_failure fail_mem, fail_msr[ARRAY_SIZE(msrs)], fail_cr[5], fail_dr[6],
	fail_fx[ARRAY_SIZE(fx_fields)], fail_tsc;
static u64 rounds_failed;

/* Report the first mismatch of each item; count them all. */
static bool note(struct item_failure *f, u64 round, const char *what, u64 got, u64 want)
{
	if (!f->count++)
		guest_printf("victim: round %llu: %s changed: 0x%llx, set 0x%llx\n", round, what, got,
			     want);
	return false;
}

static bool check_state(u64 round)
{
	static const char *const cr_names[5] = { "CR0", "CR2", "CR3", "CR4", "CR8" };
	static const char *const dr_names[6] = { "DR0", "DR1", "DR2", "DR3", "DR6", "DR7" };
	struct cpu_state s;
	bool ok = true;
	u64 got_cr[5], want_cr[5], got_dr[6], want_dr[6];

	for (size_t i = 0; i < ARRAY_SIZE(msrs); i++) {
		u64 v = rdmsr(msrs[i].msr);

		if (v != msrs[i].want)
			ok = note(&fail_msr[i], round, msrs[i].name, v, msrs[i].want);
	}
	read_state(&s);
	got_cr[0] = s.cr0, got_cr[1] = s.cr2, got_cr[2] = s.cr3, got_cr[3] = s.cr4, got_cr[4] = s.cr8;
	want_cr[0] = state_want.cr0, want_cr[1] = state_want.cr2, want_cr[2] = state_want.cr3;
	want_cr[3] = state_want.cr4, want_cr[4] = state_want.cr8;
	for (int i = 0; i < 5; i++)
		if (got_cr[i] != want_cr[i])
			ok = note(&fail_cr[i], round, cr_names[i], got_cr[i], want_cr[i]);
	for (int i = 0; i < 4; i++)
		got_dr[i] = s.dr[i], want_dr[i] = state_want.dr[i];
	got_dr[4] = s.dr6, want_dr[4] = state_want.dr6;
	got_dr[5] = s.dr7, want_dr[5] = state_want.dr7;
	for (int i = 0; i < 6; i++)
		if (got_dr[i] != want_dr[i])
			ok = note(&fail_dr[i], round, dr_names[i], got_dr[i], want_dr[i]);
	fxsave(fx_now);
	for (size_t i = 0; i < ARRAY_SIZE(fx_fields); i++) {
		u32 off = fx_fields[i].offset, len = fx_fields[i].len;

		if (memcmp(fx_now + off, fx_want + off, len)) {
			u32 at = off;
			u64 got = 0, want = 0;

			while (fx_now[at] == fx_want[at])
				at++;
			at = off + ALIGN_DOWN(at - off, MIN(len, 8u));
			memcpy(&got, fx_now + at, MIN(len, 8u));
			memcpy(&want, fx_want + at, MIN(len, 8u));
			ok = note(&fail_fx[i], round, fx_fields[i].name, got, want);
		}
	}
	return ok;
}

void guest_main(void)
{
	u64 seconds = 20, min_rounds = 3, khz, start, deadline, last, reported, round = 0, sum1, sum2;
	u64 ram_end = guest_ram_end();

	guest_cmdline_u64("seconds", &seconds);
	guest_cmdline_u64("rounds", &min_rounds);
	guest_cmdline_u64("seed", &seed);
	if (!ram_end) {
		guest_fail("ram-size", "no multiboot memory information");
		return;
	}
	fill_start = ALIGN_UP((u64)(uintptr_t)__image_end, PAGE_SIZE);
	fill_end = ALIGN_DOWN(MIN(ram_end, GiB(4)), 8);
	khz = guest_tsc_khz();
	guest_printf("victim: filling 0x%llx-0x%llx (%llu KiB) with the pattern, then checking it "
		     "and the CPU state for %llu s (at least %llu rounds)\n", fill_start, fill_end,
		     (fill_end - fill_start) >> 10, seconds, min_rounds);
	start = rdtsc();
	set_state(); /* first: the hostile guests start at once, and filling takes seconds */
	fill();
	checksum(&sum1_want, &sum2_want);
	{
		u64 first = 0, got = 0, bad = find_corruption(&first, &got);

		if (bad) { /* the fill itself did not stick: nothing else is meaningful */
			guest_fail("memory-intact", "%llu words differ right after the fill, first at "
				   "0x%llx: 0x%llx, want 0x%llx", bad, first, got, pattern(first));
			return;
		}
	}
	guest_printf("victim: filled in %llu ms; checksum 0x%llx/0x%llx\n",
		     (rdtsc() - start) / khz, sum1_want, sum2_want);
	deadline = rdtsc() + seconds * khz * 1000;
	last = reported = rdtsc();
	while (round < min_rounds || rdtsc() < deadline) {
		bool ok = true;
		u64 now;

		round++;
		checksum(&sum1, &sum2);
		if (sum1 != sum1_want || sum2 != sum2_want) {
			u64 first = 0, got = 0, bad = find_corruption(&first, &got);

			ok = false;
			if (!fail_mem.count++)
				guest_printf("victim: round %llu: RAM changed: %llu word(s) differ, first "
					     "at GPA 0x%llx: 0x%llx, want 0x%llx\n", round, bad, first,
					     got, pattern(first));
			fill(); /* start again from a clean pattern, to see whether it recurs */
		}
		ok &= check_state(round);
		now = rdtsc();
		if (now < last || now - last > khz * 1000 * 3600)
			ok = note(&fail_tsc, round, "TSC step", now - last, 0);
		last = now;
		if (!ok)
			rounds_failed++;
		if (now - reported >= REPORT_EVERY_S * 1000 * khz) {
			reported = now;
			guest_printf("victim: round %llu done, %llu s, %llu failed\n", round,
				     (now - start) / khz / 1000, rounds_failed);
		}
	}
	guest_printf("victim: %llu rounds over %llu KiB in %llu ms, %llu failed\n", round,
		     (fill_end - fill_start) >> 10, (rdtsc() - start) / khz, rounds_failed);
	guest_check(fail_mem.count == 0, "memory-intact", "the RAM pattern changed in %llu round(s)",
		    fail_mem.count);
	{
		u64 msr_bad = 0, cr_bad = 0, dr_bad = 0, fx_bad = 0;

		for (size_t i = 0; i < ARRAY_SIZE(fail_msr); i++)
			msr_bad += fail_msr[i].count;
		for (size_t i = 0; i < ARRAY_SIZE(fail_cr); i++)
			cr_bad += fail_cr[i].count;
		for (size_t i = 0; i < ARRAY_SIZE(fail_dr); i++)
			dr_bad += fail_dr[i].count;
		for (size_t i = 0; i < ARRAY_SIZE(fail_fx); i++)
			fx_bad += fail_fx[i].count;
		guest_check(msr_bad == 0, "msrs-intact", "%llu MSR mismatch(es) (first ones above)",
			    msr_bad);
		guest_check(cr_bad == 0, "control-registers-intact",
			    "%llu control-register mismatch(es) (first ones above)", cr_bad);
		guest_check(dr_bad == 0, "debug-registers-intact",
			    "%llu debug-register mismatch(es) (first ones above)", dr_bad);
		guest_check(fx_bad == 0, "fpu-sse-intact", "%llu x87/SSE mismatch(es) (first ones above)",
			    fx_bad);
		guest_check(fail_tsc.count == 0, "tsc-monotonic", "%llu bad TSC step(s)", fail_tsc.count);
	}
	guest_check(rounds_failed == 0, "every-round", "%llu of %llu rounds failed", rounds_failed,
		    round);
}
