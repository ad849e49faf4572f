/*
 * Interrupt routing of a guest's virtual PC: ISA lines go to the 8259 pair and the IOAPIC
 * (IRQ0 on IOAPIC pin 2, as the MADT's interrupt source override says), the IOAPIC to the
 * local APIC, and the 8259's INTR reaches the CPU through LINT0 when the local APIC lets it.
 */
#ifndef KESTREL_PLATFORM_IRQ_H
#define KESTREL_PLATFORM_IRQ_H

#include <kestrel/guest.h>

/* The irq_line devices raise their ISA interrupts on. */
struct irq_line platform_isa_line(struct guest *g);

/* IOAPIC messages into the local APIC. */
bool platform_ioapic_deliver(void *ctx, u8 vector, u32 dest, bool logical, u8 mode, bool level);

/* A vector the CPU would take now if RFLAGS.IF allowed (local APIC first, then ExtINT). */
bool platform_interrupt_pending(struct guest *g);

/* The INTA cycle: the vector to inject, moved to in-service in its controller. */
u8 platform_interrupt_acknowledge(struct guest *g);

#endif
