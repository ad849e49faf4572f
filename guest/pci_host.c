/*
 * Configuration mechanism #1 (PCI Local Bus 3.0 section 3.2.2.3.2) and the PIIX3-style reset
 * control register at 0xcf9.
 *
 * Only a dword access to 0xcf8 reaches CONFIG_ADDRESS; byte and word accesses to 0xcf8-0xcfb
 * are ordinary I/O that nothing here decodes (reads float to all ones), except a byte at
 * 0xcf9, the reset control register. This is what tells Linux's pci_check_type1() and
 * pci_check_type2() apart. CONFIG_DATA accesses of any size at any offset read the addressed
 * bytes of the dword CONFIG_ADDRESS selects while its enable bit is set.
 */
#include <kestrel/pci_host.h>

#define ADDR_ENABLE 0x80000000u
#define ADDR_WRITABLE 0x80fffffcu /* bits 30-24 and 1-0 are reserved and read as 0 */
#define ADDR_BDF 0x00ffff00u	  /* bus, device, function */
#define ADDR_REG 0x000000fcu

#define RCR_SYS_RST 0x02 /* hard (not soft) reset: kept, has no other effect here */
#define RCR_RST_CPU 0x04 /* write-only: reads 0, so every write of 1 is a 0-to-1 transition */

/*
 * The standard header of the 82441FX (Intel 82441FX PMC datasheet, PCI configuration space):
 * device 1237h vendor 8086h; status 0280h (fast back-to-back, medium DEVSEL), command 0006h
 * (memory and bus master always on); class 060000h (host bridge), revision 02h. Everything
 * else, the header type (0, single function) and the BARs included, reads 0.
 */
static u32 bridge_dword(u32 reg)
{
	switch (reg) {
	case 0x00:
		return 0x12378086;
	case 0x04:
		return 0x02800006;
	case 0x08:
		return 0x06000002;
	default:
		return 0;
	}
}

/* Without the enable bit, or for anything but 00:00.0, the cycle master-aborts: all ones. */
static u32 config_dword(const struct pci_host *pci)
{
	if (!(pci->addr & ADDR_ENABLE) || (pci->addr & ADDR_BDF))
		return 0xffffffffu;
	return bridge_dword(pci->addr & ADDR_REG);
}

static u32 addr_io_read(void *dev, u16 port, u32 size)
{
	struct pci_host *pci = dev;

	if (size == 4)
		return pci->addr;
	if (size == 1 && port == PCI_RESET_PORT)
		return pci->rcr;
	return 0xffffffffu;
}

static void addr_io_write(void *dev, u16 port, u32 size, u32 value)
{
	struct pci_host *pci = dev;

	if (size == 4) {
		pci->addr = value & ADDR_WRITABLE;
	} else if (size == 1 && port == PCI_RESET_PORT) {
		pci->rcr = value & RCR_SYS_RST;
		if (value & RCR_RST_CPU)
			pci->reset(pci->ctx);
	}
}

/* The bus splits accesses that would run past 0xcff, so port + size stays within the dword. */
static u32 data_io_read(void *dev, u16 port, u32 size)
{
	(void)size;
	return config_dword(dev) >> (8 * (port - PCI_CONFIG_DATA));
}

/* The host bridge's header is read-only and absent functions drop writes. */
static void data_io_write(void *dev, u16 port, u32 size, u32 value)
{
	(void)dev;
	(void)port;
	(void)size;
	(void)value;
}

static const struct vdev_ops addr_ops = { .io_read = addr_io_read, .io_write = addr_io_write };
static const struct vdev_ops data_ops = { .io_read = data_io_read, .io_write = data_io_write };

int pci_host_init(struct pci_host *pci, void (*reset)(void *ctx), void *ctx)
{
	if (!reset)
		return -1;
	*pci = (struct pci_host){ .reset = reset, .ctx = ctx };
	return 0;
}

int pci_host_register(struct pci_host *pci, struct vdev_bus *bus)
{
	if (vdev_register_ports(bus, PCI_CONFIG_ADDRESS, PCI_CONFIG_ADDRESS + 3, &addr_ops, pci,
				"pci-addr") ||
	    vdev_register_ports(bus, PCI_CONFIG_DATA, PCI_CONFIG_DATA + 3, &data_ops, pci,
				"pci-data"))
		return -1;
	return 0;
}
