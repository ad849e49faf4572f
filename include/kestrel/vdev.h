/*
 * Virtual devices: each claims I/O port ranges or guest-physical MMIO ranges of one guest and
 * gets read/write callbacks. A new device is one file plus one registration call. Pure C: the unit
 * tests drive devices through this interface without any VT-x.
 */
#ifndef KESTREL_VDEV_H
#define KESTREL_VDEV_H

#include <kestrel/types.h>

struct vdev_bus;

struct vdev_ops {
	/* `size` is 1, 2 or 4 bytes; `port` is the exact port accessed (within the range). */
	u32 (*io_read)(void *dev, u16 port, u32 size);
	void (*io_write)(void *dev, u16 port, u32 size, u32 value);
	/* An access may move a timer deadline or change what an interrupt controller would
	 * deliver (an interrupt controller or a timer): the bus notes it in events_touched.
	 * Interrupt requests a device raises or drops go through its irq_line instead. */
	bool affects_events;
};

struct vdev_port_range {
	u16 first, last; /* inclusive */
	const struct vdev_ops *ops;
	void *dev;
	const char *name;
};

struct vdev_mmio_ops {
	/* `offset` from the range's base; `size` is 1, 2, 4 or 8 bytes. */
	u64 (*read)(void *dev, u64 offset, u32 size);
	void (*write)(void *dev, u64 offset, u32 size, u64 value);
};

struct vdev_mmio_range {
	u64 base, size;
	const struct vdev_mmio_ops *ops;
	void *dev;
	const char *name;
};

#define VDEV_MAX_PORT_RANGES 32
#define VDEV_MAX_MMIO_RANGES 8

struct vdev_bus {
	struct vdev_port_range ranges[VDEV_MAX_PORT_RANGES];
	u32 n_ranges;
	struct vdev_mmio_range mmio[VDEV_MAX_MMIO_RANGES];
	u32 n_mmio;
	u64 unclaimed_reads, unclaimed_writes; /* accesses to ports no device claims */
	bool events_touched; /* a device with affects_events was accessed; the caller clears it */
};

void vdev_bus_init(struct vdev_bus *bus);

/* Claim [first, last]. Returns 0, or -1 when it overlaps a claimed range or the table is full. */
int vdev_register_ports(struct vdev_bus *bus, u16 first, u16 last, const struct vdev_ops *ops,
			void *dev, const char *name);

/* Dispatch one access. Unclaimed ports read as all ones (for the size) and ignore writes. An
 * access that straddles two ranges is split byte by byte. */
u32 vdev_io_read(struct vdev_bus *bus, u16 port, u32 size);
void vdev_io_write(struct vdev_bus *bus, u16 port, u32 size, u32 value);

/* Claim guest-physical [base, base+size). Returns 0, or -1 on overlap, a full table, size 0
 * or wrap-around. */
int vdev_register_mmio(struct vdev_bus *bus, u64 base, u64 size, const struct vdev_mmio_ops *ops,
		       void *dev, const char *name);

/* The device claiming all of [gpa, gpa+size), or NULL: such an access has nowhere to go. */
const struct vdev_mmio_range *vdev_mmio_find(const struct vdev_bus *bus, u64 gpa, u32 size);

#endif
