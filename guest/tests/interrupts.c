/*
 * interrupts: the PIT (channel 0, 1000 Hz) through the 8259 PIC as IRQ0 -> vector 0x20. With
 * IF=0 nothing is delivered; STI delivers the pending interrupt right after the instruction
 * that follows it; STI;HLT wakes on the timer; over 100 ms the tick count is plausible, which
 * also shows that EOIs work.
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

static void check_blocked_then_pending(void)
{
	u64 seen;

	/* IF=0 for 20 ms: the PIT fires ~20 times, the PIC holds one request, nothing runs. */
	guest_delay_us(20000);
	seen = ticks;
	guest_check(seen == 0, "if0-blocks", "%llu interrupts handled with IF=0", seen);

	/* STI takes effect after the next instruction: the pending IRQ0 must arrive right there. */
	__asm__ volatile("sti; nop; cli" ::: "memory");
	seen = ticks;
	guest_check(seen >= 1, "pending-on-sti",
		    "no interrupt between STI;NOP and CLI although IRQ0 was pending for 20 ms");
	guest_printf("interrupts: %llu tick(s) delivered by STI;NOP;CLI\n", seen);
}

static void check_hlt_wakes(void)
{
	u64 before = ticks, start = rdtsc(), took;

	__asm__ volatile("sti; hlt; cli" ::: "memory");
	took = rdtsc() - start;
	guest_check(ticks > before && took < ms_to_tsc(20), "hlt-wakes",
		    "STI;HLT returned after %llu us with %llu new ticks", took * 1000 / guest_tsc_khz(),
		    ticks - before);
}

static void check_rate(void)
{
	u64 before = ticks, deadline = rdtsc() + ms_to_tsc(100), n;

	/* HLT until 100 ms have passed by the TSC; every tick wakes us to look at the clock. */
	irq_enable();
	while (rdtsc() < deadline)
		__asm__ volatile("hlt" ::: "memory");
	irq_disable();
	n = ticks - before;
	guest_printf("interrupts: %llu ticks in 100 ms at %u Hz\n", n, TIMER_HZ);
	guest_check(n >= 50 && n <= 200, "rate-100ms", "%llu ticks in 100 ms, want 50..200", n);
}

static void check_busy_ticks(void)
{
	u64 before = ticks, n;

	/* Interrupts while running (not halted): each one needs the previous EOI. */
	irq_enable();
	guest_delay_us(10000);
	irq_disable();
	n = ticks - before;
	guest_check(n >= 3, "eoi-busy-10ms", "%llu ticks in 10 ms of busy waiting with IF=1", n);
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
