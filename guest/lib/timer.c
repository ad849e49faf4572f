/*
 * Time for the timer tests: the 8259 PIC pair, PIT channel 0 as a periodic interrupt, and a TSC
 * delay calibrated once (CPUID on Kestrel, PIT channel 2 one-shots natively).
 */
#include "guest.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIC_EOI 0x20

#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PORT_B 0x61 /* bit 0: channel 2 gate, bit 1: speaker, bit 5: channel 2 output */

#define CALIBRATE_MS 20
#define CALIBRATE_RUNS 5

void pic_init(u16 unmasked_irqs)
{
	if (unmasked_irqs & 0xff00)
		unmasked_irqs |= 1u << 2;
	outb(PIC1_DATA, 0xff); /* mask everything while reprogramming */
	outb(PIC2_DATA, 0xff);
	outb(PIC1_CMD, 0x11);  /* ICW1: edge, cascade, ICW4 follows */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, 0x20); /* ICW2: vectors 0x20-0x27 */
	outb(PIC2_DATA, 0x28); /*       and 0x28-0x2f */
	outb(PIC1_DATA, 0x04); /* ICW3: slave on IRQ2 */
	outb(PIC2_DATA, 0x02); /*       slave identity 2 */
	outb(PIC1_DATA, 0x01); /* ICW4: 8086 mode, normal EOI */
	outb(PIC2_DATA, 0x01);
	outb(PIC1_DATA, (u8)~unmasked_irqs); /* OCW1 */
	outb(PIC2_DATA, (u8)~(unmasked_irqs >> 8));
}

void pic_mask_all(void)
{
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
}

u16 pic_read_irr(void)
{
	outb(PIC1_CMD, 0x0a); /* OCW3: the next read of the command port returns the IRR */
	outb(PIC2_CMD, 0x0a);
	return (u16)(inb(PIC1_CMD) | (inb(PIC2_CMD) << 8));
}

void pic_eoi(unsigned irq)
{
	if (irq >= 8)
		outb(PIC2_CMD, PIC_EOI);
	outb(PIC1_CMD, PIC_EOI);
}

void pit_start(unsigned hz)
{
	u32 divisor = (PIT_HZ + hz / 2) / hz;

	if (divisor > 0xffff)
		divisor = 0; /* 0 means 65536 */
	outb(PIT_CMD, 0x34); /* channel 0, lobyte/hibyte, mode 2, binary */
	outb(PIT_CH0, (u8)divisor);
	outb(PIT_CH0, (u8)(divisor >> 8));
}

void pit_stop(void)
{
	outb(PIT_CMD, 0x30); /* channel 0, lobyte/hibyte, mode 0 (one shot), binary */
	outb(PIT_CH0, 1);
	outb(PIT_CH0, 0);
}

/* Linux's pit_calibrate_tsc: gate channel 2 on, one-shot of CALIBRATE_MS, time it with the TSC.
 * Returns TSC ticks per ms, 0 if channel 2 never counted down. */
static u64 calibrate_once(void)
{
	u32 latch = PIT_HZ / (1000 / CALIBRATE_MS);
	u64 start, end;
	unsigned long spins = 0;

	outb(PORT_B, (inb(PORT_B) & ~0x02) | 0x01);
	outb(PIT_CMD, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
	outb(PIT_CH2, (u8)latch);
	outb(PIT_CH2, (u8)(latch >> 8));
	start = rdtsc();
	while (!(inb(PORT_B) & 0x20) && ++spins < 100000000ul)
		;
	end = rdtsc();
	if (!(inb(PORT_B) & 0x20))
		return 0;
	return (end - start) / CALIBRATE_MS;
}

/* The median of a few runs: one run can be stretched or cut short when the host deschedules
 * the vCPU in the middle of it (an emulator on a busy machine). */
static u64 calibrate_with_pit(void)
{
	u64 runs[CALIBRATE_RUNS];

	for (unsigned i = 0; i < CALIBRATE_RUNS; i++) {
		u64 v = calibrate_once();
		unsigned j = i;

		if (!v)
			return 0;
		for (; j > 0 && runs[j - 1] > v; j--) /* insertion sort */
			runs[j] = runs[j - 1];
		runs[j] = v;
	}
	return runs[CALIBRATE_RUNS / 2];
}

u64 guest_tsc_khz(void)
{
	static u64 khz;

	if (khz)
		return khz;
	if (on_kestrel())
		khz = cpuid(KESTREL_CPUID_TIMING, 0).eax;
	if (!khz && cpuid(0, 0).eax >= 0x15) {
		struct cpuid_regs r = cpuid(0x15, 0);

		if (r.eax && r.ebx && r.ecx)
			khz = (u64)r.ecx * r.ebx / r.eax / 1000;
	}
	if (!khz)
		khz = calibrate_with_pit();
	if (!khz) {
		guest_fail(guest_name, "cannot tell the TSC frequency (no CPUID leaf, PIT channel 2 "
				       "never counted down)");
		guest_done();
	}
	return khz;
}

void guest_delay_us(u64 us)
{
	u64 start = rdtsc(), ticks = us * guest_tsc_khz() / 1000;

	while (rdtsc() - start < ticks)
		cpu_relax();
}
