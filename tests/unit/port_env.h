/*
 * The guest's side of the port bus, for the tests of devices that can reset the machine
 * (ports 0x92, 0xcf9): IN and OUT of any size, and a reset line that only counts.
 */
#ifndef PORT_ENV_H
#define PORT_ENV_H

#include <string.h>

#include <kestrel/vdev.h>

struct port_env {
	struct vdev_bus bus;
	unsigned resets; /* calls of the device's reset callback */
};

static inline void port_env_init(struct port_env *e)
{
	memset(e, 0, sizeof(*e));
	vdev_bus_init(&e->bus);
}

/* The device's reset callback; ctx is the struct port_env. */
static inline void count_reset(void *ctx)
{
	((struct port_env *)ctx)->resets++;
}

static inline u32 in(struct port_env *e, u16 port, u32 size)
{
	return vdev_io_read(&e->bus, port, size);
}

static inline void out(struct port_env *e, u16 port, u32 size, u32 v)
{
	vdev_io_write(&e->bus, port, size, v);
}

#endif
