/*
 * hostile-msr: RDMSR and WRMSR over 0-0x1fff, 0x40000000-0x400000ff (the hypervisor range) and
 * 0xc0000000-0xc0001fff, with 64-bit values from a fixed PRNG. Every access must be emulated,
 * passed through to the CPU, or answered with #GP(0) in the guest; any other outcome (another
 * vector, a stop by Kestrel) is a failure. After a WRMSR that succeeded, the value read before
 * is written back, so the guest keeps working (random values almost never pass the checks of
 * the MSRs that could hurt it: IA32_EFER, IA32_APIC_BASE, the SYSCALL and segment-base MSRs
 * need canonical addresses or clear reserved bits).
 *
 * Then a second sweep of the x2APIC registers (0x800-0x8ff) with the local APIC switched to
 * x2APIC mode, four 32-bit random values per register (a 64-bit value has reserved bits set
 * and #GPs; three of the four are masked to a vector, an LVT entry and an ICR layout): timer,
 * LVT, ICR and self-IPI writes arm and send interrupts to this guest, which runs with IF = 0;
 * ICR NMIs are counted by a hook. The APIC goes back to xAPIC mode through the disabled state.
 *
 * Prints how many MSRs were swept and how many reads/writes succeeded or raised #GP, the
 * readable MSRs as ranges, and powers off with status 0. Under Kestrel only.
 */
#include <kestrel/string.h>
#include "guest.h"

const char guest_name[] = "hostile-msr";

#define X2APIC_FIRST 0x800
#define X2APIC_LAST 0x8ff
#define APIC_BASE_EN (1ull << 11)
#define APIC_BASE_EXTD (1ull << 10)
#define LAPIC_DEFAULT_BASE 0xfee00000ull

static u64 rng = 0x6d7372ull;
static volatile u64 nmis;

struct counts {
	u64 msrs, read_ok, read_gp, write_ok, write_gp, restored, restore_failed, other;
};

struct msr_range {
	u32 first, last;
};

static struct msr_range readable[48];
static unsigned n_readable;
static u64 first_other_msr = ~0ull;
static int first_other_vector;

static bool count_nmi(struct trap_frame *f)
{
	if (f->vector != 2)
		return false;
	nmis++;
	return true;
}

static void note_readable(u32 msr)
{
	if (n_readable && readable[n_readable - 1].last + 1 == msr) {
		readable[n_readable - 1].last = msr;
		return;
	}
	if (n_readable < ARRAY_SIZE(readable))
		readable[n_readable++] = (struct msr_range){ msr, msr };
}

static void outcome(struct counts *c, u32 msr, int v, u64 *ok, u64 *gp)
{
	if (v == NO_FAULT) {
		(*ok)++;
	} else if (v == 13 && guest_fault.error == 0) {
		(*gp)++;
	} else {
		if (!c->other++) {
			first_other_msr = msr;
			first_other_vector = v;
		}
	}
}

static void sweep_one(struct counts *c, u32 msr, u64 value, bool main_sweep)
{
	u64 old = 0;
	int r = try_rdmsr(msr, &old), w;

	c->msrs++;
	outcome(c, msr, r, &c->read_ok, &c->read_gp);
	if (r == NO_FAULT && main_sweep)
		note_readable(msr);
	w = try_wrmsr(msr, value);
	outcome(c, msr, w, &c->write_ok, &c->write_gp);
	/* x2APIC registers are not restored: ESR, EOI, ICR read back differently by design. */
	if (w == NO_FAULT && r == NO_FAULT && main_sweep) {
		if (try_wrmsr(msr, old) == NO_FAULT)
			c->restored++;
		else
			c->restore_failed++;
	}
}

static void sweep_range(struct counts *c, u32 first, u32 last)
{
	for (u32 msr = first;; msr++) {
		sweep_one(c, msr, guest_rand(&rng), true);
		if (msr == last)
			break;
	}
}

static void report(const char *what, const struct counts *c)
{
	guest_printf("hostile-msr: %s: %llu probes; RDMSR %llu ok, %llu #GP; WRMSR %llu ok, %llu #GP; "
		     "%llu restored, %llu restore(s) refused; %llu other outcome(s)\n", what, c->msrs,
		     c->read_ok, c->read_gp, c->write_ok, c->write_gp, c->restored,
		     c->restore_failed, c->other);
}

void guest_main(void)
{
	struct counts all = { 0 }, x2 = { 0 };
	u64 base, start = rdtsc(), elapsed;

	guest_set_trap_hook(count_nmi);
	if (!guest_kestrel_only("hostile-msr"))
		return;
	sweep_range(&all, 0, 0x1fff);
	sweep_range(&all, 0x40000000, 0x400000ff);
	sweep_range(&all, 0xc0000000, 0xc0001fff);
	elapsed = (rdtsc() - start) / guest_tsc_khz(); /* IA32_TSC was restored after its write */
	report("random sweep", &all);
	guest_printf("hostile-msr: swept in about %llu ms; readable:", elapsed);
	for (unsigned i = 0; i < n_readable; i++) {
		if (i && i % 8 == 0)
			guest_printf("\nhostile-msr:   ");
		if (readable[i].first == readable[i].last)
			guest_printf(" 0x%x", readable[i].first);
		else
			guest_printf(" 0x%x-0x%x", readable[i].first, readable[i].last);
	}
	guest_printf("%s\n", n_readable == ARRAY_SIZE(readable) ? " ..." : "");

	/* x2APIC mode, 32-bit values. */
	base = rdmsr(MSR_IA32_APIC_BASE);
	if (try_wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_EXTD) != NO_FAULT) {
		guest_fail("x2apic-enable", "IA32_APIC_BASE 0x%llx -> 0x%llx refused", base,
			   base | APIC_BASE_EXTD);
	} else {
		/* Four values per register: 32 random bits, then random bits under the masks of
		 * a vector, an LVT entry (vector, delivery mode, mask, timer mode) and the ICR
		 * (vector, delivery mode, level, trigger, shorthand), so that writes get through. */
		static const u32 masks[] = { ~0u, 0xffu, 0x707ffu, 0xccfffu };

		for (u32 msr = X2APIC_FIRST; msr <= X2APIC_LAST; msr++)
			for (unsigned m = 0; m < ARRAY_SIZE(masks); m++)
				sweep_one(&x2, msr, (u32)guest_rand(&rng) & masks[m], false);
		report("x2APIC sweep", &x2);
		guest_printf("hostile-msr: %llu NMI(s) sent to itself through the ICR\n", nmis);
		/* x2APIC -> disabled -> xAPIC (SDM 11.12.5). */
		guest_check(try_wrmsr(MSR_IA32_APIC_BASE, LAPIC_DEFAULT_BASE | (base & (1ull << 8))) ==
					NO_FAULT &&
				    try_wrmsr(MSR_IA32_APIC_BASE, base) == NO_FAULT &&
				    rdmsr(MSR_IA32_APIC_BASE) == base,
			    "x2apic-leave", "could not return to xAPIC mode (IA32_APIC_BASE 0x%llx)",
			    rdmsr(MSR_IA32_APIC_BASE));
	}
	guest_printf("hostile-msr: %llu MSRs swept, then %llu x2APIC register accesses; %llu "
		     "RDMSR/WRMSR in all\n", all.msrs, 2 * x2.msrs,
		     2 * (all.msrs + x2.msrs) + all.restored + all.restore_failed);
	guest_check(all.other + x2.other == 0, "only-emulated-or-gp",
		    "%llu access(es) ended otherwise, first MSR 0x%llx: vector %d", all.other + x2.other,
		    first_other_msr, first_other_vector);
	guest_check(all.msrs == 0x2000 + 0x100 + 0x2000 && all.read_ok > 0 && all.read_gp > 0,
		    "swept", "%llu MSRs, %llu readable", all.msrs, all.read_ok);
	guest_check(all.restore_failed + x2.restore_failed == 0, "restore",
		    "%llu MSR(s) refused their old value back", all.restore_failed + x2.restore_failed);
}
