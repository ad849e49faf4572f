/* The IDT: 256 interrupt gates into arch/isr.asm (SDM Vol. 3A 6.14.1). */
#include <kestrel/arch.h>

#define ISR_STUB_SIZE 16
#define GATE_INTERRUPT 0xeull

struct idt_gate {
	u16 offset_low;
	u16 selector;
	u8 ist;
	u8 type_attr;
	u16 offset_mid;
	u32 offset_high;
	u32 reserved;
} __attribute__((packed));

struct descriptor_pointer {
	u16 limit;
	u64 base;
} __attribute__((packed));

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

		idt[v] = (struct idt_gate){
			.offset_low = (u16)handler,
			.selector = GDT_SEL_CODE,
			.ist = gate_ist(v),
			.type_attr = (u8)(0x80 | GATE_INTERRUPT), /* present, DPL 0 */
			.offset_mid = (u16)(handler >> 16),
			.offset_high = (u32)(handler >> 32),
		};
	}
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

u64 idt_base(void)
{
	return (u64)idt;
}
