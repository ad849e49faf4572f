/* The I/O port bus: registration, dispatch, unclaimed ports, straddling accesses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/vdev.h>

#include "vdev_fuzz.h"

/* A recording device: 8 byte registers from `first`; reads return garbage above the size. */
struct rec {
	u16 first;
	u8 regs[8];
	unsigned reads, writes;
	u16 last_port;
	u32 last_size, last_value;
};

static u32 rec_read(void *dev, u16 port, u32 size)
{
	struct rec *d = dev;
	u32 v = 0xdead0000u; /* the bus must mask this away for sizes below 4 */

	d->reads++;
	d->last_port = port;
	d->last_size = size;
	for (u32 i = 0; i < size; i++)
		v = (v & ~(0xffu << (8 * i))) | (u32)d->regs[(port + i - d->first) & 7] << (8 * i);
	return v;
}

static void rec_write(void *dev, u16 port, u32 size, u32 value)
{
	struct rec *d = dev;

	d->writes++;
	d->last_port = port;
	d->last_size = size;
	d->last_value = value;
	for (u32 i = 0; i < size; i++)
		d->regs[(port + i - d->first) & 7] = value >> (8 * i);
}

static const struct vdev_ops rec_ops = { .io_read = rec_read, .io_write = rec_write };

static void registration_rejects_overlaps(void **state)
{
	struct vdev_bus bus;
	struct rec a = { .first = 0x100 };
	static const struct vdev_ops no_read = { .io_write = rec_write };

	vdev_bus_init(&bus);
	assert_int_equal(vdev_register_ports(&bus, 0x100, 0x107, &rec_ops, &a, "a"), 0);
	assert_int_equal(vdev_register_ports(&bus, 0x100, 0x107, &rec_ops, &a, "same"), -1);
	assert_int_equal(vdev_register_ports(&bus, 0x0f0, 0x100, &rec_ops, &a, "tail"), -1);
	assert_int_equal(vdev_register_ports(&bus, 0x107, 0x110, &rec_ops, &a, "head"), -1);
	assert_int_equal(vdev_register_ports(&bus, 0x102, 0x103, &rec_ops, &a, "inside"), -1);
	assert_int_equal(vdev_register_ports(&bus, 0x000, 0xffff, &rec_ops, &a, "around"), -1);
	assert_int_equal(vdev_register_ports(&bus, 0x108, 0x108, &rec_ops, &a, "after"), 0);
	assert_int_equal(vdev_register_ports(&bus, 0x0ff, 0x0ff, &rec_ops, &a, "before"), 0);
	assert_int_equal(vdev_register_ports(&bus, 0x200, 0x1ff, &rec_ops, &a, "reversed"), -1);
	assert_int_equal(vdev_register_ports(&bus, 0x200, 0x200, NULL, &a, "no ops"), -1);
	assert_int_equal(vdev_register_ports(&bus, 0x200, 0x200, &no_read, &a, "half"), -1);
	assert_int_equal(vdev_register_ports(&bus, 0xffff, 0xffff, &rec_ops, &a, "top"), 0);
	assert_int_equal(bus.n_ranges, 4);
}

static void registration_table_full(void **state)
{
	struct vdev_bus bus;
	struct rec a = { 0 };

	vdev_bus_init(&bus);
	for (unsigned i = 0; i < VDEV_MAX_PORT_RANGES; i++)
		assert_int_equal(vdev_register_ports(&bus, i * 2, i * 2, &rec_ops, &a, "x"), 0);
	assert_int_equal(vdev_register_ports(&bus, 0x1000, 0x1000, &rec_ops, &a, "x"), -1);
	assert_int_equal(bus.n_ranges, VDEV_MAX_PORT_RANGES);
}

/* Ranges registered in any order: every port reaches the range that claims it, or none. */
static void lookup_in_any_registration_order(void **state)
{
	static const u16 spans[][2] = {
		{ 0x3f8, 0x3ff }, { 0x20, 0x21 }, { 0xcf8, 0xcff }, { 0x40, 0x43 },
		{ 0x0, 0x0 },     { 0xa0, 0xa1 }, { 0xffff, 0xffff }, { 0x61, 0x61 },
		{ 0x70, 0x71 },   { 0x600, 0x63f }, { 0x22, 0x3f },
	};
	struct rec devs[ARRAY_SIZE(spans)];
	struct vdev_bus bus;
	struct fuzz_rng rng = { 12345 };

	for (int round = 0; round < 20; round++) {
		u32 order[ARRAY_SIZE(spans)];

		for (u32 i = 0; i < ARRAY_SIZE(spans); i++)
			order[i] = i;
		for (u32 i = ARRAY_SIZE(spans) - 1; i > 0; i--) { /* shuffle */
			u32 j = fuzz_next(&rng) % (i + 1), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		vdev_bus_init(&bus);
		memset(devs, 0, sizeof(devs));
		for (u32 i = 0; i < ARRAY_SIZE(spans); i++) {
			u32 k = order[i];

			devs[k].first = spans[k][0];
			assert_int_equal(vdev_register_ports(&bus, spans[k][0], spans[k][1], &rec_ops,
							     &devs[k], "x"), 0);
		}
		for (u32 port = 0; port <= 0xffff; port++) {
			int owner = -1;
			unsigned before = 0;

			for (u32 k = 0; k < ARRAY_SIZE(spans); k++) {
				if (port >= spans[k][0] && port <= spans[k][1])
					owner = (int)k;
				before += devs[k].reads;
			}
			(void)vdev_io_read(&bus, (u16)port, 1);
			if (owner < 0) {
				unsigned after = 0;

				for (u32 k = 0; k < ARRAY_SIZE(spans); k++)
					after += devs[k].reads;
				assert_int_equal(after, before);
			} else {
				assert_int_equal(devs[owner].last_port, port);
			}
		}
	}
}

/* Only devices that declare affects_events mark the bus, on reads, writes and split accesses. */
static void events_touched_only_by_event_devices(void **state)
{
	static const struct vdev_ops timer_ops = { .io_read = rec_read, .io_write = rec_write,
						   .affects_events = true };
	struct rec plain = { .first = 0x10 }, timer = { .first = 0x18 };
	struct vdev_bus bus;

	vdev_bus_init(&bus);
	assert_int_equal(vdev_register_ports(&bus, 0x10, 0x17, &rec_ops, &plain, "plain"), 0);
	assert_int_equal(vdev_register_ports(&bus, 0x18, 0x1f, &timer_ops, &timer, "timer"), 0);
	(void)vdev_io_read(&bus, 0x10, 4);
	vdev_io_write(&bus, 0x14, 2, 1);
	(void)vdev_io_read(&bus, 0x80, 1);
	assert_false(bus.events_touched);
	(void)vdev_io_read(&bus, 0x18, 1);
	assert_true(bus.events_touched);
	bus.events_touched = false;
	vdev_io_write(&bus, 0x1c, 4, 1);
	assert_true(bus.events_touched);
	bus.events_touched = false;
	vdev_io_write(&bus, 0x16, 4, 0x01020304); /* straddles into the timer */
	assert_true(bus.events_touched);
	bus.events_touched = false;
	(void)vdev_io_read(&bus, 0x16, 2); /* 0x16-0x17: the plain device only */
	assert_false(bus.events_touched);
}

static void unclaimed_reads_all_ones(void **state)
{
	struct vdev_bus bus;

	vdev_bus_init(&bus);
	assert_int_equal(vdev_io_read(&bus, 0x80, 1), 0xff);
	assert_int_equal(vdev_io_read(&bus, 0x80, 2), 0xffff);
	assert_int_equal(vdev_io_read(&bus, 0x80, 4), 0xffffffffu);
	vdev_io_write(&bus, 0x80, 1, 0x12);
	vdev_io_write(&bus, 0x80, 4, 0x12345678);
	assert_int_equal(bus.unclaimed_reads, 3);
	assert_int_equal(bus.unclaimed_writes, 2);

	/* Sizes no IN/OUT produces: all ones, counted, never dispatched. */
	assert_int_equal(vdev_io_read(&bus, 0x80, 3), 0xffffffffu);
	assert_int_equal(vdev_io_read(&bus, 0x80, 0), 0xffffffffu);
	vdev_io_write(&bus, 0x80, 8, 1);
	assert_int_equal(bus.unclaimed_reads, 5);
	assert_int_equal(bus.unclaimed_writes, 3);
}

static void dispatch_in_range(void **state)
{
	struct vdev_bus bus;
	struct rec a = { .first = 0x3f8 };

	vdev_bus_init(&bus);
	assert_int_equal(vdev_register_ports(&bus, 0x3f8, 0x3ff, &rec_ops, &a, "a"), 0);

	vdev_io_write(&bus, 0x3fa, 2, 0xabcd1234); /* bits above the size never reach the device */
	assert_int_equal(a.writes, 1);
	assert_int_equal(a.last_port, 0x3fa);
	assert_int_equal(a.last_size, 2);
	assert_int_equal(a.last_value, 0x1234);

	assert_int_equal(vdev_io_read(&bus, 0x3fa, 1), 0x34);
	assert_int_equal(vdev_io_read(&bus, 0x3fa, 2), 0x1234);
	assert_int_equal(a.last_port, 0x3fa);
	assert_int_equal(a.last_size, 2);
	assert_int_equal(vdev_io_read(&bus, 0x3fc, 4), 0);
	assert_int_equal(a.reads, 3);
	assert_int_equal(bus.unclaimed_reads + bus.unclaimed_writes, 0);

	/* The last byte of the range with a word: one claimed byte, one unclaimed. */
	a.regs[7] = 0x5a;
	assert_int_equal(vdev_io_read(&bus, 0x3ff, 2), 0xff5a);
	assert_int_equal(a.last_size, 1);
	assert_int_equal(bus.unclaimed_reads, 1);
}

static void straddling_accesses_split_per_byte(void **state)
{
	struct vdev_bus bus;
	struct rec a = { .first = 0x100 }, b = { .first = 0x102 };

	vdev_bus_init(&bus);
	assert_int_equal(vdev_register_ports(&bus, 0x100, 0x101, &rec_ops, &a, "a"), 0);
	assert_int_equal(vdev_register_ports(&bus, 0x102, 0x103, &rec_ops, &b, "b"), 0);

	vdev_io_write(&bus, 0x100, 4, 0x44332211);
	assert_int_equal(a.writes, 2);
	assert_int_equal(b.writes, 2);
	assert_int_equal(a.last_size, 1);
	assert_int_equal(b.last_port, 0x103);
	assert_int_equal(b.last_value, 0x44);
	assert_int_equal(a.regs[0], 0x11);
	assert_int_equal(a.regs[1], 0x22);
	assert_int_equal(b.regs[0], 0x33);
	assert_int_equal(b.regs[1], 0x44);
	assert_int_equal(bus.unclaimed_writes, 0);

	assert_int_equal(vdev_io_read(&bus, 0x100, 4), 0x44332211);
	assert_int_equal(vdev_io_read(&bus, 0x101, 2), 0x3322);
	assert_int_equal(bus.unclaimed_reads, 0);

	/* Half claimed: the unclaimed bytes read 0xff, and the access counts once. */
	assert_int_equal(vdev_io_read(&bus, 0x103, 2), 0xff44);
	assert_int_equal(vdev_io_read(&bus, 0x0fe, 4), 0x2211ffff);
	assert_int_equal(bus.unclaimed_reads, 2);
	vdev_io_write(&bus, 0x0ff, 2, 0x99aa);
	assert_int_equal(a.regs[0], 0x99);
	assert_int_equal(bus.unclaimed_writes, 1);
}

static void top_of_port_space(void **state)
{
	struct vdev_bus bus;
	struct rec a = { .first = 0xfffe };

	vdev_bus_init(&bus);
	assert_int_equal(vdev_register_ports(&bus, 0xfffe, 0xffff, &rec_ops, &a, "top"), 0);
	a.regs[1] = 0x77;
	/* Bytes past 0xffff do not wrap to port 0: they are unclaimed. */
	assert_int_equal(vdev_io_read(&bus, 0xffff, 4), 0xffffff77);
	assert_int_equal(vdev_io_read(&bus, 0xfffe, 2), 0x7700);
	vdev_io_write(&bus, 0xffff, 2, 0x1122);
	assert_int_equal(a.regs[1], 0x22);
	assert_int_equal(bus.unclaimed_reads, 1);
	assert_int_equal(bus.unclaimed_writes, 1);
}

/* Four adjacent and scattered devices under the hostile guest. */
static void hostile_accesses(void **state)
{
	static const u16 ports[][2] = { { 0x100, 0x101 }, { 0x102, 0x107 }, { 0xfff0, 0xffff } };
	struct {
		u64 before;
		struct rec dev[3];
		u64 after;
	} w = { .before = FUZZ_CANARY, .after = FUZZ_CANARY };
	struct fuzz_target t = { .ports = ports, .n_ports = 3 };
	struct vdev_bus bus;

	vdev_bus_init(&bus);
	for (unsigned i = 0; i < 3; i++) {
		w.dev[i].first = ports[i][0];
		assert_int_equal(vdev_register_ports(&bus, ports[i][0], ports[i][1], &rec_ops,
						     &w.dev[i], "fuzz"), 0);
	}
	assert_int_equal(vdev_fuzz(&bus, &t, 0x1234), 0);
	assert_true(w.before == FUZZ_CANARY && w.after == FUZZ_CANARY);
	assert_true(bus.unclaimed_reads > 0 && bus.unclaimed_writes > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registration_rejects_overlaps),
		cmocka_unit_test(registration_table_full),
		cmocka_unit_test(lookup_in_any_registration_order),
		cmocka_unit_test(events_touched_only_by_event_devices),
		cmocka_unit_test(unclaimed_reads_all_ones),
		cmocka_unit_test(dispatch_in_range),
		cmocka_unit_test(straddling_accesses_split_per_byte),
		cmocka_unit_test(top_of_port_space),
		cmocka_unit_test(hostile_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
