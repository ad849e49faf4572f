/*
 * The guest's I/O APIC: 24 input pins, version 0x20 (with the EOI register), at 0xfec00000.
 *
 * Devices drive pins with ioapic_set_irq() (or through ioapic_irq_line()). A pin that fires
 * sends its redirection entry's message through the `deliver` callback, which the hypervisor
 * connects to the local APIC: fixed and lowest priority to lapic_match_dest() and
 * lapic_accept_irq(), NMI and ExtINT to its own injection. The local APIC's EOI hook calls
 * ioapic_eoi() for level-triggered vectors.
 */
#ifndef KESTREL_IOAPIC_H
#define KESTREL_IOAPIC_H

#include <kestrel/irq.h>
#include <kestrel/types.h>
#include <kestrel/vdev.h>

#define IOAPIC_BASE 0xfec00000ull
/* The whole 4 KiB page, so every guest access to it has a defined answer (see ioapic.c). */
#define IOAPIC_MMIO_SIZE 0x1000ull
#define IOAPIC_PINS 24

/* Delivery modes of a redirection entry (bits 10:8). */
#define IOAPIC_DM_FIXED 0
#define IOAPIC_DM_LOWEST 1
#define IOAPIC_DM_SMI 2
#define IOAPIC_DM_NMI 4
#define IOAPIC_DM_INIT 5
#define IOAPIC_DM_EXTINT 7

/*
 * One interrupt message: `dest` is the entry's 8-bit destination (physical APIC ID, or logical
 * when `logical`), `mode` an IOAPIC_DM_* value, `level` its trigger mode. Returns whether some
 * local APIC accepted it: a level-triggered entry sets Remote IRR only then, so a message
 * nobody took is sent again the next time the pin is serviced.
 */
typedef bool (*ioapic_deliver_fn)(void *ctx, u8 vector, u32 dest, bool logical, u8 mode,
				  bool level);

struct ioapic {
	u8 id;			/* ID register bits 27:24 */
	u8 ioregsel;
	u64 redir[IOAPIC_PINS];	/* redirection entries, Remote IRR (bit 14) included */
	u32 lines;		/* pin levels as driven, before the polarity inversion */
	ioapic_deliver_fn deliver;
	void *ctx;
	u64 undelivered;	/* messages no local APIC accepted */
};

/* Reset state (82093AA datasheet 3.2.4): every entry masked, all pins low, ID `id` (4 bits). */
void ioapic_init(struct ioapic *io, u8 id, ioapic_deliver_fn deliver, void *ctx);

/*
 * IOREGSEL (0x00), IOWIN (0x10) and EOI (0x40), each as an aligned 4-byte access; every other
 * access to the page reads 0 and ignores writes.
 */
extern const struct vdev_mmio_ops ioapic_mmio_ops;

/* Claims [IOAPIC_BASE, +IOAPIC_MMIO_SIZE). Returns 0, or -1 if the range is taken. */
int ioapic_register(struct ioapic *io, struct vdev_bus *bus);

/*
 * Drive pin `pin` (0-23; others are ignored) to electrical `level`. An active-low entry
 * (polarity bit 13) is asserted while the pin is low, so a device on such a pin idles high.
 * Edge-triggered: an unmasked entry sends on each assertion, a masked one loses it.
 * Level-triggered: sends while asserted, unmasked and Remote IRR is clear.
 */
void ioapic_set_irq(struct ioapic *io, unsigned pin, bool level);

/*
 * End of a level-triggered interrupt: clears Remote IRR of the entries with `vector` and sends
 * again those whose pin is still asserted.
 */
void ioapic_eoi(struct ioapic *io, u8 vector);

/* An irq_line for devices: `irq` is the pin. */
struct irq_line ioapic_irq_line(struct ioapic *io);

#endif
