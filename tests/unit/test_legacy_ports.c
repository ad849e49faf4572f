/* Ports 0x80, 0xed and 0x92. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/legacy_ports.h>

#include "port_env.h"
#include "vdev_fuzz.h"

static void setup(struct port_env *e, struct legacy_ports *lp)
{
	port_env_init(e);
	memset(lp, 0, sizeof(*lp));
	assert_int_equal(legacy_ports_init(lp, count_reset, e), 0);
	assert_int_equal(legacy_ports_register(lp, &e->bus), 0);
}

/* Linux's outb_p(): the access, then outb(0, 0x80). Nothing is unclaimed. */
static void delay_ports(void **state)
{
	struct port_env e;
	struct legacy_ports lp;

	setup(&e, &lp);
	out(&e, 0x80, 1, 0x00);
	assert_int_equal(lp.post_code, 0x00);
	out(&e, 0x80, 1, 0x5a); /* a firmware POST code */
	assert_int_equal(lp.post_code, 0x5a);
	assert_int_equal(in(&e, 0x80, 1), 0xff);
	out(&e, 0xed, 1, 0x00);
	assert_int_equal(in(&e, 0xed, 1), 0xff);
	assert_int_equal(lp.post_code, 0x5a);
	assert_int_equal(e.bus.unclaimed_reads + e.bus.unclaimed_writes, 0);
	/* The neighbours stay unclaimed: a word at 0x80 reaches 0x81, which nothing owns. */
	out(&e, 0x80, 2, 0x1234);
	assert_int_equal(lp.post_code, 0x34);
	assert_int_equal(e.bus.unclaimed_writes, 1);
	assert_int_equal(e.resets, 0);
}

/* enable_a20_fast() from arch/x86/boot/a20.c, then the fast reset bit. */
static void port_a(void **state)
{
	struct port_env e;
	struct legacy_ports lp;
	u8 v;

	setup(&e, &lp);
	assert_int_equal(in(&e, 0x92, 1), 0x02); /* A20 on, as firmware leaves it */
	v = in(&e, 0x92, 1);
	v |= 0x02;
	v &= ~0x01;
	out(&e, 0x92, 1, v);
	assert_int_equal(in(&e, 0x92, 1), 0x02);
	out(&e, 0x92, 1, 0x00);
	assert_int_equal(in(&e, 0x92, 1), 0x00); /* the gate reads back; memory does not wrap */
	out(&e, 0x92, 1, 0xfc);
	assert_int_equal(in(&e, 0x92, 1), 0x00); /* reserved bits read 0 */
	assert_int_equal(e.resets, 0);
	out(&e, 0x92, 1, 0x03);
	assert_int_equal(e.resets, 1);
	assert_int_equal(in(&e, 0x92, 1), 0x03);
	out(&e, 0x92, 1, 0x03); /* still 1: no new transition */
	assert_int_equal(e.resets, 1);
	out(&e, 0x92, 1, 0x02);
	out(&e, 0x92, 1, 0x01);
	assert_int_equal(e.resets, 2);
}

static void bad_setup_refused(void **state)
{
	struct port_env e;
	struct legacy_ports registered, lp;

	setup(&e, &registered);
	assert_int_equal(legacy_ports_init(&lp, NULL, NULL), -1);
	assert_int_equal(legacy_ports_init(&lp, count_reset, &e), 0);
	assert_int_equal(legacy_ports_register(&lp, &e.bus), -1);
}

struct fuzz_lp {
	u64 before;
	struct port_env e;
	struct legacy_ports lp;
	u64 after;
};

static void hostile_accesses(void **state)
{
	static const u16 ports[][2] = { { 0x80, 0x80 }, { 0x92, 0x92 }, { 0xed, 0xed } };
	static struct fuzz_lp w;
	struct fuzz_target t = { .ports = ports, .n_ports = 3 };

	w.before = w.after = FUZZ_CANARY;
	setup(&w.e, &w.lp);
	assert_int_equal(vdev_fuzz(&w.e.bus, &t, 0x92), 0);
	assert_true(w.before == FUZZ_CANARY && w.after == FUZZ_CANARY);
	assert_int_equal(w.lp.port_a & ~0x03, 0);
	assert_true(w.e.resets > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(delay_ports),
		cmocka_unit_test(port_a),
		cmocka_unit_test(bad_setup_refused),
		cmocka_unit_test(hostile_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
