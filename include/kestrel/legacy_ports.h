/*
 * The odd ISA ports a PC guest touches that belong to no other device model:
 *   0x80  POST code / I/O delay: Linux's outb_p() and io_delay() write it after slow port
 *         accesses (io_delay=0x80, the default). Writes are kept in post_code, reads give 0xff.
 *   0xed  the alternative delay port (io_delay=0xed and Linux's DMI quirks): writes ignored.
 *   0x92  system control port A: fast A20 gate (the 16-bit boot code's enable_a20_fast())
 *         and fast reset, which calls reset().
 * Claiming them keeps the bus's unclaimed counters for accesses nothing explains.
 *
 * Left out because Linux does not need them: the DMA page registers (no ISA DMA without a
 * floppy or parallel port), the 8042 (the FADT says there is none).
 */
#ifndef KESTREL_LEGACY_PORTS_H
#define KESTREL_LEGACY_PORTS_H

#include <kestrel/types.h>
#include <kestrel/vdev.h>

#define LEGACY_POST_PORT 0x80
#define LEGACY_DELAY_PORT 0xed
#define LEGACY_PORT_A 0x92

struct legacy_ports {
	u8 port_a;	/* port 0x92 bits 1-0: A20 gate, fast reset */
	u8 post_code;	/* the last byte written to port 0x80 */
	void (*reset)(void *ctx);
	void *ctx;
};

/* A20 enabled, as firmware leaves it. Returns -1 without a reset callback. */
int legacy_ports_init(struct legacy_ports *lp, void (*reset)(void *ctx), void *ctx);

/* Claims 0x80, 0x92 and 0xed. Returns 0, or -1 if a port is taken. */
int legacy_ports_register(struct legacy_ports *lp, struct vdev_bus *bus);

#endif
