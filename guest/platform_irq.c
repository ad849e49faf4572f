/* A guest's interrupt routing (include/kestrel/platform_irq.h). */
#include <kestrel/platform_irq.h>
#include <kestrel/vcpu.h>

#define IOAPIC_MODE_FIXED 0
#define IOAPIC_MODE_LOWEST 1
#define IOAPIC_MODE_NMI 4
#define IOAPIC_MODE_EXTINT 7

static void isa_irq_set(void *ctx, unsigned irq, bool level)
{
	struct guest *g = ctx;

	vcpu_events_changed(&g->vcpu); /* what the controllers would deliver may change */
	pic_set_irq(&g->pic, irq, level);
	/* The 8254 is wired to IOAPIC pin 2 on PCs (ACPI 6.5 5.2.12.5, the override in the MADT). */
	ioapic_set_irq(&g->ioapic, irq == 0 ? 2 : irq, level);
}

struct irq_line platform_isa_line(struct guest *g)
{
	return (struct irq_line){ isa_irq_set, g };
}

bool platform_ioapic_deliver(void *ctx, u8 vector, u32 dest, bool logical, u8 mode, bool level)
{
	struct guest *g = ctx;

	if (!lapic_match_dest(&g->lapic, dest, logical))
		return false;
	if (mode == IOAPIC_MODE_FIXED || mode == IOAPIC_MODE_LOWEST)
		return lapic_accept_irq(&g->lapic, vector, level);
	if (mode == IOAPIC_MODE_NMI) {
		vcpu_inject_nmi(&g->vcpu);
		return true;
	}
	/* SMI, INIT and ExtINT messages: the platform has nothing that sends them usefully. */
	return false;
}

bool platform_interrupt_pending(struct guest *g)
{
	return lapic_pending_vector(&g->lapic) >= 0 ||
	       (lapic_accepts_extint(&g->lapic) && pic_has_interrupt(&g->pic));
}

u8 platform_interrupt_acknowledge(struct guest *g)
{
	int vector = lapic_pending_vector(&g->lapic);

	if (vector >= 0) {
		lapic_acknowledge(&g->lapic, (u8)vector);
		return (u8)vector;
	}
	return (u8)pic_acknowledge(&g->pic);
}
