/*
 * interrupts: the PIT (channel 0, 1000 Hz) through the 8259 PIC as IRQ0 -> vector 0x20. With
 * IF=0 nothing is delivered; STI delivers the pending interrupt right after the instruction
 * that follows it; STI;HLT wakes on the timer; over 100 ms the tick count is plausible; ticks
 * keep coming while the guest runs, which needs working EOIs.
 */
#include "guest.h"

const char guest_name[] = "interrupts";

#define TIMER_VECTOR 0x20
#define TIMER_HZ 1000

static volatile u64 ticks;

static void timer_irq(struct trap_frame *frame)
{
	(void)frame;
	ticks++;
	pic_eoi(0);
}

static u64 ms_to_tsc(u64 ms)
{
	return ms * guest_tsc_khz();
}

/*
 * The timing checks allow a few attempts: natively the guest is an emulator thread that a busy
 * host can deschedule for milliseconds, which delays ticks or stretches a measured window. A
 * correct platform passes the first attempt on an idle host; a broken one (no EOI, no wake-up,
 * ticks lost or doubled) fails all of them.
 */
#define ATTEMPTS 3

static void check_blocked_then_pending(void)
{
	u64 seen, start;

	/* IF=0 for 20 ms: the PIT fires ~20 times, the PIC holds one request, nothing runs. */
	guest_delay_us(20000);
	/* Make sure the request is there (IRR bit 0) before relying on it, for up to 1 s. */
	start = rdtsc();
	while (!(pic_read_irr() & 1) && rdtsc() - start < ms_to_tsc(1000))
		cpu_relax();
	seen = ticks;
	guest_check(seen == 0, "if0-blocks", "%llu interrupts handled with IF=0", seen);

	/* STI takes effect after the next instruction: the pending IRQ0 must arrive right there. */
	__asm__ volatile("sti; nop; cli" ::: "memory");
	seen = ticks;
	guest_check(seen >= 1, "pending-on-sti",
		    "no interrupt between STI;NOP and CLI although IRQ0 was pending (IRR 0x%x)",
		    pic_read_irr());
	guest_printf("interrupts: %llu tick(s) delivered by STI;NOP;CLI\n", seen);
}

static void check_hlt_wakes(void)
{
	u64 before = 0, took = 0;

	for (int i = 0; i < ATTEMPTS; i++) {
		u64 start;

		/* Take a tick that is already pending first, so HLT has to wait for the next. */
		__asm__ volatile("sti; nop; cli" ::: "memory");
		before = ticks;
		start = rdtsc();
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		took = rdtsc() - start;
		if (ticks > before && took < ms_to_tsc(20))
			break;
		guest_printf("interrupts: attempt %d: STI;HLT took %llu us\n", i + 1,
			     took * 1000 / guest_tsc_khz());
	}
	guest_check(ticks > before && took < ms_to_tsc(20), "hlt-wakes",
		    "STI;HLT returned after %llu us with %llu new ticks (want a tick within 20 ms)",
		    took * 1000 / guest_tsc_khz(), ticks - before);
}

static void check_rate(void)
{
	u64 n = 0;

	for (int i = 0; i < ATTEMPTS; i++) {
		u64 before = ticks, deadline = rdtsc() + ms_to_tsc(100);

		/* HLT until 100 ms have passed by the TSC; every tick wakes us to look. */
		irq_enable();
		while (rdtsc() < deadline)
			__asm__ volatile("hlt" ::: "memory");
		irq_disable();
		n = ticks - before;
		guest_printf("interrupts: %llu ticks in 100 ms at %u Hz\n", n, TIMER_HZ);
		if (n >= 50 && n <= 200)
			break;
	}
	guest_check(n >= 50 && n <= 200, "rate-100ms", "%llu ticks in 100 ms, want 50..200", n);
}

static void check_busy_ticks(void)
{
	u64 before = ticks, start = rdtsc(), n;

	/* Interrupts while running (not halted), each one only after the previous EOI: wait for
	 * 5 of them, for at most 200 ms. */
	irq_enable();
	while (ticks - before < 5 && rdtsc() - start < ms_to_tsc(200))
		cpu_relax();
	irq_disable();
	n = ticks - before;
	guest_check(n >= 5, "eoi-busy", "%llu ticks in 200 ms of busy waiting with IF=1, want 5", n);
}

void guest_main(void)
{
	u64 khz;

	irq_disable();
	khz = guest_tsc_khz(); /* natively this uses PIT channel 2: before channel 0 is running */
	guest_printf("interrupts: TSC %llu kHz\n", khz);

	guest_set_irq_handler(TIMER_VECTOR, timer_irq);
	pic_init(1u << 0);
	pit_start(TIMER_HZ);

	check_blocked_then_pending();
	check_hlt_wakes();
	check_rate();
	check_busy_ticks();

	pit_stop();
	pic_mask_all();
	if (guest_spurious_irqs)
		guest_printf("interrupts: %llu spurious IRQ7/IRQ15\n", (u64)guest_spurious_irqs);
}
