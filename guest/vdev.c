/*
 * The I/O port bus of one guest: a small table of claimed ranges, kept sorted by first port so
 * that every access is a binary search (string I/O looks a port up once per element).
 */
#include <kestrel/vdev.h>

void vdev_bus_init(struct vdev_bus *bus)
{
	*bus = (struct vdev_bus){ 0 };
}

int vdev_register_ports(struct vdev_bus *bus, u16 first, u16 last, const struct vdev_ops *ops,
			void *dev, const char *name)
{
	if (first > last || !ops || !ops->io_read || !ops->io_write ||
	    bus->n_ranges >= VDEV_MAX_PORT_RANGES)
		return -1;
	u32 at = 0;

	if (first > last || !ops || !ops->io_read || !ops->io_write ||
	    bus->n_ranges >= VDEV_MAX_PORT_RANGES)
		return -1;
	for (u32 i = 0; i < bus->n_ranges; i++) {
		const struct vdev_port_range *r = &bus->ranges[i];

		if (first <= r->last && last >= r->first)
			return -1;
		if (r->first < first)
			at = i + 1;
	}
	for (u32 i = bus->n_ranges; i > at; i--)
		bus->ranges[i] = bus->ranges[i - 1];
	bus->ranges[at] = (struct vdev_port_range){
		.first = first, .last = last, .ops = ops, .dev = dev, .name = name,
	};
	bus->n_ranges++;
	return 0;
}

static const struct vdev_port_range *vdev_find(const struct vdev_bus *bus, u32 port)
{
	u32 lo = 0, hi = bus->n_ranges; /* the answer, if any, is the last range starting <= port */

	while (lo < hi) {
		u32 mid = (lo + hi) / 2;

		if (bus->ranges[mid].first <= port)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && port <= bus->ranges[lo - 1].last)
		return &bus->ranges[lo - 1];
	return NULL;
}

static bool vdev_size_ok(u32 size)
{
	return size == 1 || size == 2 || size == 4;
}

static u32 vdev_mask(u32 size)
{
	return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

/* Dispatch to a range's device, noting on the bus when that device affects events. */
static u32 range_read(struct vdev_bus *bus, const struct vdev_port_range *r, u32 port, u32 size)
{
	bus->events_touched |= r->ops->affects_events;
	return r->ops->io_read(r->dev, (u16)port, size) & vdev_mask(size);
}

static void range_write(struct vdev_bus *bus, const struct vdev_port_range *r, u32 port,
			u32 size, u32 value)
{
	bus->events_touched |= r->ops->affects_events;
	r->ops->io_write(r->dev, (u16)port, size, value);
}

/*
 * Accesses of any other size than 1, 2 or 4 cannot come from an IN/OUT instruction; they are
 * counted as unclaimed and read as 32 ones. Bytes past port 0xffff are unclaimed too. An access
 * that is unclaimed or straddles two ranges goes byte by byte, as the ISA bus would split it
 * (the first byte's range is already known).
 */
u32 vdev_io_read(struct vdev_bus *bus, u16 port, u32 size)
{
	const struct vdev_port_range *r;
	bool unclaimed = false;
	u32 value = 0;

	if (!vdev_size_ok(size)) {
		bus->unclaimed_reads++;
		return 0xffffffffu;
	}
	r = vdev_find(bus, port);
	if (r && (u32)port + size - 1 <= r->last)
		return range_read(bus, r, port, size);
	for (u32 i = 0; i < size; i++) {
		u32 byte = 0xff;

		if (i)
			r = vdev_find(bus, (u32)port + i);
		if (r)
			byte = range_read(bus, r, (u32)port + i, 1);
		else
			unclaimed = true;
		value |= byte << (8 * i);
	}
	if (unclaimed)
		bus->unclaimed_reads++;
	return value;
}

void vdev_io_write(struct vdev_bus *bus, u16 port, u32 size, u32 value)
{
	const struct vdev_port_range *r;
	bool unclaimed = false;

	if (!vdev_size_ok(size)) {
		bus->unclaimed_writes++;
		return;
	}
	value &= vdev_mask(size);
	r = vdev_find(bus, port);
	if (r && (u32)port + size - 1 <= r->last) {
		range_write(bus, r, port, size, value);
		return;
	}
	for (u32 i = 0; i < size; i++) {
		if (i)
			r = vdev_find(bus, (u32)port + i);
		if (r)
			range_write(bus, r, (u32)port + i, 1, (value >> (8 * i)) & 0xff);
		else
			unclaimed = true;
	}
	if (unclaimed)
		bus->unclaimed_writes++;
}

int vdev_register_mmio(struct vdev_bus *bus, u64 base, u64 size, const struct vdev_mmio_ops *ops,
		       void *dev, const char *name)
{
	if (bus->n_mmio == VDEV_MAX_MMIO_RANGES || size == 0 || base + size < base || !ops ||
	    !ops->read || !ops->write)
		return -1;
	for (u32 i = 0; i < bus->n_mmio; i++)
		if (base < bus->mmio[i].base + bus->mmio[i].size &&
		    bus->mmio[i].base < base + size)
			return -1;
	bus->mmio[bus->n_mmio++] = (struct vdev_mmio_range){ base, size, ops, dev, name };
	return 0;
}

const struct vdev_mmio_range *vdev_mmio_find(const struct vdev_bus *bus, u64 gpa, u32 size)
{
	for (u32 i = 0; i < bus->n_mmio; i++) {
		const struct vdev_mmio_range *r = &bus->mmio[i];

		if (gpa >= r->base && gpa - r->base < r->size && size <= r->size - (gpa - r->base))
			return r;
	}
	return NULL;
}
