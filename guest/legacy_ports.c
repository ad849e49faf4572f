/*
 * Ports 0x80, 0xed and 0x92 (see legacy_ports.h for why each exists).
 *
 * Port 0x92 follows the PIIX4/ICH definition (Intel 82371AB datasheet, port 92h): bit 0 is the
 * fast reset (INIT on its 0-to-1 transition), bit 1 the fast A20 gate, the other bits are
 * reserved and read 0. A20 itself is not emulated: guest memory never wraps at 1 MiB, the bit
 * only reads back, which is all that enable_a20_fast() looks at.
 */
#include <kestrel/legacy_ports.h>

#define PORT_A_RESET 0x01
#define PORT_A_A20 0x02

/* Each claimed range is one port wide, so every access is a byte. */
static u32 lp_io_read(void *dev, u16 port, u32 size)
{
	struct legacy_ports *lp = dev;

	(void)size;
	return port == LEGACY_PORT_A ? lp->port_a : 0xff;
}

static void lp_io_write(void *dev, u16 port, u32 size, u32 value)
{
	struct legacy_ports *lp = dev;
	u8 old = lp->port_a;

	(void)size;
	switch (port) {
	case LEGACY_POST_PORT:
		lp->post_code = value;
		break;
	case LEGACY_PORT_A:
		lp->port_a = value & (PORT_A_RESET | PORT_A_A20);
		if ((value & PORT_A_RESET) && !(old & PORT_A_RESET))
			lp->reset(lp->ctx);
		break;
	default: /* 0xed: an I/O delay, nothing more */
		break;
	}
}

static const struct vdev_ops lp_ops = { .io_read = lp_io_read, .io_write = lp_io_write };

int legacy_ports_init(struct legacy_ports *lp, void (*reset)(void *ctx), void *ctx)
{
	if (!reset)
		return -1;
	*lp = (struct legacy_ports){ .port_a = PORT_A_A20, .reset = reset, .ctx = ctx };
	return 0;
}

int legacy_ports_register(struct legacy_ports *lp, struct vdev_bus *bus)
{
	static const u16 ports[] = { LEGACY_POST_PORT, LEGACY_PORT_A, LEGACY_DELAY_PORT };

	for (unsigned i = 0; i < ARRAY_SIZE(ports); i++)
		if (vdev_register_ports(bus, ports[i], ports[i], &lp_ops, lp, "legacy"))
			return -1;
	return 0;
}
