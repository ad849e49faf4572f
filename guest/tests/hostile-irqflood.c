/*
 * hostile-irqflood: interrupt storms with interrupts enabled, one source at a time:
 *
 *  1. the 8254 PIT at its highest rate (mode 2, count 2: 596.6 kHz) through the 8259 PIC;
 *  2. x2APIC self-IPIs, back to back, through the SELF_IPI register and the ICR;
 *  3. the local APIC timer, periodic, initial count 1, divide by 1 (the fastest it can go).
 *
 * Each handler counts, sends its EOI and, at `limit=N` interrupts (default 3000), switches its
 * source off itself, so the storm ends even if the interrupted code never gets to run again
 * (as on real hardware, a guest whose timer outruns its handler makes no progress outside the
 * handler: that is its own problem). Each phase also ends after `seconds=N` (default 3) of TSC
 * time. The guest must then power off with status 0: Kestrel has to keep delivering, keep
 * every other guest running meanwhile, and let the handlers themselves make progress. Prints
 * the counts and rates.
 */
#include "guest.h"

const char guest_name[] = "hostile-irqflood";

#define VEC_PIT 0x20
#define VEC_IPI 0x40
#define VEC_ICR 0x41
#define VEC_TIMER 0x42
#define MSR_X2APIC_EOI 0x80b
#define MSR_X2APIC_SVR 0x80f
#define MSR_X2APIC_ICR 0x830
#define MSR_X2APIC_LVT_TIMER 0x832
#define MSR_X2APIC_TMICT 0x838
#define MSR_X2APIC_TDCR 0x83e
#define MSR_X2APIC_SELF_IPI 0x83f
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define ICR_SELF (1u << 18)

static u64 limit = 3000, seconds = 3;
static volatile u64 pit_ticks, ipis, icr_ipis, timer_ticks;
static volatile bool pit_off, timer_off;

static void on_pit(struct trap_frame *f)
{
	if (++pit_ticks >= limit && !pit_off) {
		pit_stop();
		outb(0x21, 0xff); /* mask IRQ0 */
		pit_off = true;
	}
	pic_eoi(0);
}

static void on_ipi(struct trap_frame *f)
{
	ipis++;
	wrmsr(MSR_X2APIC_EOI, 0);
}

static void on_icr(struct trap_frame *f)
{
	icr_ipis++;
	wrmsr(MSR_X2APIC_EOI, 0);
}

static void timer_stop(void)
{
	wrmsr(MSR_X2APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	wrmsr(MSR_X2APIC_TMICT, 0);
	timer_off = true;
}

static void on_timer(struct trap_frame *f)
{
	if (++timer_ticks >= limit && !timer_off)
		timer_stop();
	wrmsr(MSR_X2APIC_EOI, 0);
}

/* Wait with interrupts on until *off or the deadline; returns the elapsed ms. */
static u64 storm(volatile bool *off, u64 start)
{
	u64 deadline = start + seconds * 1000 * guest_tsc_khz();

	irq_enable();
	while (!*off && rdtsc() < deadline)
		cpu_relax();
	irq_disable();
	return (rdtsc() - start) / guest_tsc_khz();
}

static void report(const char *what, u64 count, u64 ms)
{
	guest_printf("hostile-irqflood: %s: %llu interrupts in %llu ms (%llu per second)\n", what,
		     count, ms, ms ? count * 1000 / ms : count);
}

void guest_main(void)
{
	u64 start, ms, sent = 0, sent_icr = 0;

	if (!guest_kestrel_only("hostile-irqflood"))
		return;
	guest_cmdline_u64("limit", &limit);
	guest_cmdline_u64("seconds", &seconds);
	guest_tsc_khz();

	/* 1. The PIT at count 2 (PIT_HZ / 2). */
	guest_set_irq_handler(VEC_PIT, on_pit);
	pic_init(1u << 0);
	start = rdtsc();
	pit_start(PIT_HZ / 2);
	ms = storm(&pit_off, start);
	if (!pit_off) {
		pit_stop();
		pic_mask_all();
	}
	report("PIT at 596 kHz", pit_ticks, ms);
	guest_check(pit_ticks > 0, "pit-flood", "no tick in %llu ms", ms);

	/* 2. Self-IPIs in x2APIC mode. */
	wrmsr(MSR_IA32_APIC_BASE, rdmsr(MSR_IA32_APIC_BASE) | (1ull << 10));
	wrmsr(MSR_X2APIC_SVR, 0x1ff);
	guest_set_irq_handler(VEC_IPI, on_ipi);
	guest_set_irq_handler(VEC_ICR, on_icr);
	start = rdtsc();
	irq_enable();
	for (u64 i = 0; i < limit * 4; i++) {
		if (i & 1) {
			wrmsr(MSR_X2APIC_ICR, ICR_SELF | VEC_ICR);
			sent_icr++;
		} else {
			wrmsr(MSR_X2APIC_SELF_IPI, VEC_IPI);
			sent++;
		}
		if (rdtsc() - start > seconds * 1000 * guest_tsc_khz())
			break;
	}
	for (int i = 0; i < 1000; i++) /* let the last ones in */
		cpu_relax();
	irq_disable();
	ms = (rdtsc() - start) / guest_tsc_khz();
	report("x2APIC self-IPIs", ipis + icr_ipis, ms);
	guest_printf("hostile-irqflood: SELF_IPI %llu sent, %llu received; ICR %llu sent, %llu "
		     "received\n", sent, ipis, sent_icr, icr_ipis);
	/* An IPI to a vector already requested merges with it; here each one is handled before
	 * the next is sent, so none may be lost. */
	guest_check(ipis == sent && icr_ipis == sent_icr, "self-ipis", "sent %llu + %llu, received "
		    "%llu + %llu", sent, sent_icr, ipis, icr_ipis);

	/* 3. The LAPIC timer, periodic, count 1, divide by 1. */
	guest_set_irq_handler(VEC_TIMER, on_timer);
	wrmsr(MSR_X2APIC_TDCR, 0xb);
	wrmsr(MSR_X2APIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
	start = rdtsc();
	wrmsr(MSR_X2APIC_TMICT, 1);
	ms = storm(&timer_off, start);
	if (!timer_off)
		timer_stop();
	report("LAPIC timer, count 1", timer_ticks, ms);
	guest_check(timer_ticks > 0, "lapic-timer-flood", "no tick in %llu ms", ms);
}
