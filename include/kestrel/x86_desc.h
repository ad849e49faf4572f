/*
 * x86-64 descriptor structures as the CPU reads them, shared by Kestrel's root environment
 * (arch/) and the test guests' runtime (guest/lib/, guest/tests/).
 */
#ifndef KESTREL_X86_DESC_H
#define KESTREL_X86_DESC_H

#include <kestrel/types.h>

/* An IDT gate (SDM Vol. 3A 6.14.1). `type`: P, DPL, 0, and the gate type in bits 3:0. */
struct idt_gate {
	u16 offset_low, selector;
	u8 ist, type;
	u16 offset_mid;
	u32 offset_high, reserved;
} __attribute__((packed));

static inline struct idt_gate idt_gate_make(u64 handler, u16 selector, u8 type, u8 ist)
{
	return (struct idt_gate){
		.offset_low = (u16)handler,
		.selector = selector,
		.ist = ist,
		.type = type,
		.offset_mid = (u16)(handler >> 16),
		.offset_high = (u32)(handler >> 32),
	};
}

/* The 64-bit TSS (SDM Vol. 3A 7.7). */
struct tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3, iomap_base;
} __attribute__((packed));

/*
 * The two GDT slots of an available 64-bit TSS descriptor, present, DPL 0 (SDM Vol. 3A 7.2.3:
 * a 16-byte system descriptor, type 9).
 */
static inline u64 tss_descriptor_low(u64 base, u64 limit)
{
	return (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
	       ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
}

static inline u64 tss_descriptor_high(u64 base)
{
	return base >> 32;
}

/* The operand of LGDT/LIDT. */
struct descriptor_pointer {
	u16 limit;
	u64 base;
} __attribute__((packed));

#endif
