/* The IDT: 256 interrupt gates into arch/isr.asm (SDM Vol. 3A 6.14.1). */
#include <kestrel/arch.h>
#include <kestrel/x86_desc.h>

#define ISR_STUB_SIZE 16
#define GATE_INTERRUPT 0xeull

extern const u8 isr_stubs[];

static struct idt_gate idt[256] __attribute__((aligned(16)));

static u8 gate_ist(unsigned vector)
{
	/* #DF after a stack overflow, and NMI/#MC at any moment, need a known-good stack. */
	return vector == 2 || vector == 8 || vector == 18 ? IST_FAULT : 0;
}

void idt_load(void)
{
	struct descriptor_pointer idtr = { sizeof(idt) - 1, (u64)idt };

	for (unsigned v = 0; v < 256; v++) {
		u64 handler = (u64)(isr_stubs + v * ISR_STUB_SIZE);

		/* present, DPL 0 */
		idt[v] = idt_gate_make(handler, GDT_SEL_CODE, (u8)(0x80 | GATE_INTERRUPT), gate_ist(v));
	}
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

u64 idt_base(void)
{
	return (u64)idt;
}
