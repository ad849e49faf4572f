/*
 * PCI configuration mechanism #1 (PCI Local Bus 3.0 section 3.2.2.3.2) with one device, the
 * host bridge at 00:00.0, and the reset control register at 0xcf9 that shares its ports.
 *
 * The bridge is an Intel 82441FX (i440FX PMC, 8086:1237) as far as its standard header goes:
 * class 0x060000, header type 0, no BARs, no capabilities. Its whole configuration space is
 * read-only; every other bus, device and function reads all ones. A write to 0xcf9 with bit 2
 * set (Linux's reboot=pci and the FADT's RESET_REG) calls reset(), which should restart or
 * end the guest.
 */
#ifndef KESTREL_PCI_HOST_H
#define KESTREL_PCI_HOST_H

#include <kestrel/types.h>
#include <kestrel/vdev.h>

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_RESET_PORT 0xcf9
#define PCI_RESET_VALUE 0x06 /* hard reset + reset CPU: the FADT's RESET_VALUE */

struct pci_host {
	u32 addr;	/* CONFIG_ADDRESS: enable bit 31, bus, device, function, register */
	u8 rcr;		/* reset control: the hard-reset bit 1 as last written */
	void (*reset)(void *ctx);
	void *ctx;
};

/* CONFIG_ADDRESS 0. Returns -1 without a reset callback. */
int pci_host_init(struct pci_host *pci, void (*reset)(void *ctx), void *ctx);

/* Claims 0xcf8-0xcff. Returns 0, or -1 if a port is taken. */
int pci_host_register(struct pci_host *pci, struct vdev_bus *bus);

#endif
