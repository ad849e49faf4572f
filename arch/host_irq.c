/*
 * Silencing the host's interrupt sources after ExitBootServices. The firmware's timer tick
 * (8254 through the 8259, or the local APIC timer) may still be armed; Kestrel uses neither.
 */
#include <kestrel/cpu.h>
#include <kestrel/host_irq.h>
#include <kestrel/log.h>

#define MSR_IA32_APIC_BASE 0x1b
#define APIC_BASE_ENABLE (1ull << 11)
#define APIC_BASE_X2APIC (1ull << 10)
#define APIC_BASE_ADDR 0xfffff000ull
#define APIC_REG_EOI 0xb0
#define APIC_REG_LVT_TIMER 0x320
#define APIC_REG_TIMER_INITIAL 0x380
#define APIC_LVT_MASKED (1u << 16)
#define X2APIC_MSR(reg) (0x800u + ((reg) >> 4)) /* SDM Vol. 3A 11.12.1.2 */

static u32 spurious_count;

static void apic_write(u32 reg, u32 value)
{
	u64 base = rdmsr(MSR_IA32_APIC_BASE);

	if (!(base & APIC_BASE_ENABLE))
		return;
	if (base & APIC_BASE_X2APIC)
		wrmsr(X2APIC_MSR(reg), value);
	else
		*(volatile u32 *)((base & APIC_BASE_ADDR) + reg) = value;
}

void host_irq_quiesce(void)
{
	outb(0x21, 0xff); /* 8259A OCW1: mask every line of master and slave */
	outb(0xa1, 0xff);
	apic_write(APIC_REG_LVT_TIMER, APIC_LVT_MASKED);
	apic_write(APIC_REG_TIMER_INITIAL, 0);
}

void host_irq_spurious(u8 vector)
{
	if (spurious_count++ < 4)
		log_warn("host interrupt vector %u while a guest ran (EOI sent)", vector);
	apic_write(APIC_REG_EOI, 0);
}
