/* Configuration mechanism #1, the host bridge's header and the 0xcf9 reset register. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/pci_host.h>

#include "port_env.h"
#include "vdev_fuzz.h"

static void setup(struct port_env *e, struct pci_host *pci)
{
	port_env_init(e);
	memset(pci, 0, sizeof(*pci));
	assert_int_equal(pci_host_init(pci, count_reset, e), 0);
	assert_int_equal(pci_host_register(pci, &e->bus), 0);
}

/* Linux's PCI_CONF1_ADDRESS() and pci_conf1_read(). */
static u32 conf1_address(unsigned bus, unsigned devfn, unsigned reg)
{
	return 0x80000000u | (reg & 0xf00) << 16 | bus << 16 | devfn << 8 | (reg & 0xfc);
}

static u32 conf1_read(struct port_env *e, unsigned bus, unsigned devfn, unsigned reg, unsigned len)
{
	out(e, 0xcf8, 4, conf1_address(bus, devfn, reg));
	switch (len) {
	case 1:
		return in(e, 0xcfc + (reg & 3), 1);
	case 2:
		return in(e, 0xcfc + (reg & 2), 2);
	default:
		return in(e, 0xcfc, 4);
	}
}

static void conf1_write(struct port_env *e, unsigned bus, unsigned devfn, unsigned reg,
			unsigned len, u32 v)
{
	out(e, 0xcf8, 4, conf1_address(bus, devfn, reg));
	out(e, 0xcfc + (reg & (4 - len)), len, v);
}

/* pci_check_type1() with pci_sanity_check(): what makes Linux use mechanism #1. */
static void linux_check_type1(void **state)
{
	struct port_env e;
	struct pci_host pci;
	u32 tmp;
	bool sane = false;

	setup(&e, &pci);
	out(&e, 0xcfb, 1, 0x01);
	tmp = in(&e, 0xcf8, 4);
	out(&e, 0xcf8, 4, 0x80000000);
	assert_int_equal(in(&e, 0xcf8, 4), 0x80000000);
	for (unsigned devfn = 0; devfn < 0x100 && !sane; devfn++) {
		u32 x = conf1_read(&e, 0, devfn, 0x0a, 2); /* PCI_CLASS_DEVICE */

		if (x == 0x0600 || x == 0x0300) /* host bridge, VGA */
			sane = true;
		else if (conf1_read(&e, 0, devfn, 0x00, 2) == 0x8086)
			sane = true;
	}
	assert_true(sane);
	out(&e, 0xcf8, 4, tmp);
	assert_int_equal(in(&e, 0xcf8, 4), tmp);
	assert_int_equal(e.resets, 0);
}

/* pci_check_type2() must not see mechanism #2: byte accesses are not CONFIG_ADDRESS. */
static void linux_check_type2_fails(void **state)
{
	struct port_env e;
	struct pci_host pci;

	setup(&e, &pci);
	out(&e, 0xcfb, 1, 0x00);
	out(&e, 0xcf8, 1, 0x00);
	out(&e, 0xcfa, 1, 0x00);
	assert_false(in(&e, 0xcf8, 1) == 0x00 && in(&e, 0xcfa, 1) == 0x00);
	assert_int_equal(in(&e, 0xcf8, 4), 0);
	assert_int_equal(e.resets, 0);
}

static u32 bridge_ref(unsigned reg)
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

/* Every byte, word and dword of 00:00.0's 256 bytes, and writes that change none of them. */
static void host_bridge_header(void **state)
{
	struct port_env e;
	struct pci_host pci;

	setup(&e, &pci);
	for (unsigned reg = 0; reg < 256; reg++) {
		u32 d = bridge_ref(reg & 0xfc), w = d >> (8 * (reg & 2)) & 0xffff;

		assert_int_equal(conf1_read(&e, 0, 0, reg, 1), d >> (8 * (reg & 3)) & 0xff);
		if (!(reg & 1))
			assert_int_equal(conf1_read(&e, 0, 0, reg, 2), w);
		if (!(reg & 3))
			assert_int_equal(conf1_read(&e, 0, 0, reg, 4), d);
	}
	/* Linux's BAR sizing, command writes, latency timer: all read-only here. */
	for (unsigned reg = 0; reg < 256; reg += 4) {
		conf1_write(&e, 0, 0, reg, 4, 0xffffffff);
		conf1_write(&e, 0, 0, reg + 1, 1, 0x5a);
		conf1_write(&e, 0, 0, reg + 2, 2, 0xa5a5);
	}
	for (unsigned reg = 0; reg < 256; reg += 4)
		assert_int_equal(conf1_read(&e, 0, 0, reg, 4), bridge_ref(reg));
	/* Single function: header type bit 7 clear. */
	assert_int_equal(conf1_read(&e, 0, 0, 0x0e, 1), 0x00);
	assert_int_equal(e.resets, 0);
}

/* Linux's bus scan: vendor ID of every bus, device and function. Only 00:00.0 answers. */
static void only_one_device(void **state)
{
	struct port_env e;
	struct pci_host pci;
	unsigned found = 0;

	setup(&e, &pci);
	for (unsigned bus = 0; bus < 256; bus++)
		for (unsigned devfn = 0; devfn < 256; devfn++) {
			u32 id = conf1_read(&e, bus, devfn, 0, 4);

			if (bus == 0 && devfn == 0) {
				assert_int_equal(id, 0x12378086);
				found++;
			} else {
				assert_int_equal(id, 0xffffffff);
				assert_int_equal(conf1_read(&e, bus, devfn, 0x0e, 1), 0xff);
			}
		}
	assert_int_equal(found, 1);
	/* Without the enable bit the data port is not a configuration cycle. */
	out(&e, 0xcf8, 4, 0x00000000);
	assert_int_equal(in(&e, 0xcfc, 4), 0xffffffff);
	assert_int_equal(in(&e, 0xcfe, 2), 0xffff);
}

static void config_address_register(void **state)
{
	struct port_env e;
	struct pci_host pci;

	setup(&e, &pci);
	out(&e, 0xcf8, 4, 0xffffffff);
	assert_int_equal(in(&e, 0xcf8, 4), 0x80fffffc); /* reserved bits 30-24 and 1-0 read 0 */
	/* An extended register number (AMD's bits 27-24) is not decoded: register 0x100 is 0. */
	out(&e, 0xcf8, 4, 0x81000000);
	assert_int_equal(in(&e, 0xcf8, 4), 0x80000000);
	assert_int_equal(in(&e, 0xcfc, 4), 0x12378086);
	/* Byte and word accesses neither change nor read it. */
	out(&e, 0xcf8, 1, 0x00);
	out(&e, 0xcfa, 2, 0x1234);
	assert_int_equal(in(&e, 0xcf8, 4), 0x80000000);
	assert_int_equal(in(&e, 0xcf8, 2), 0xffff);
	assert_int_equal(in(&e, 0xcfa, 1), 0xff);
	/* A dword across both registers is split: it reaches neither as a dword. */
	out(&e, 0xcfa, 4, 0x12345678);
	assert_int_equal(in(&e, 0xcf8, 4), 0x80000000);
	assert_int_equal(in(&e, 0xcfe, 4), 0xffff1237); /* data bytes 2-3, then nothing */
	assert_int_equal(e.resets, 0);
}

/* The reset control register: Linux's reboot=pci sequence and the FADT's RESET_REG write. */
static void reset_register(void **state)
{
	struct port_env e;
	struct pci_host pci;
	u8 cf9;

	setup(&e, &pci);
	assert_int_equal(in(&e, PCI_RESET_PORT, 1), 0x00);
	cf9 = in(&e, PCI_RESET_PORT, 1) & ~0x06;
	out(&e, PCI_RESET_PORT, 1, cf9 | 0x02); /* request a hard reset */
	assert_int_equal(e.resets, 0);
	assert_int_equal(in(&e, PCI_RESET_PORT, 1), 0x02);
	out(&e, PCI_RESET_PORT, 1, cf9 | 0x06);
	assert_int_equal(e.resets, 1);
	assert_int_equal(in(&e, PCI_RESET_PORT, 1), 0x02); /* RST_CPU reads 0 */
	out(&e, PCI_RESET_PORT, 1, PCI_RESET_VALUE);
	assert_int_equal(e.resets, 2);
	out(&e, PCI_RESET_PORT, 1, 0x04); /* soft reset: still a reset */
	assert_int_equal(e.resets, 3);
	assert_int_equal(in(&e, PCI_RESET_PORT, 1), 0x00);
	out(&e, PCI_RESET_PORT, 1, 0xfb); /* everything but RST_CPU */
	assert_int_equal(e.resets, 3);
	assert_int_equal(in(&e, PCI_RESET_PORT, 1), 0x02);
	/* Not a byte access to 0xcf9: a word at 0xcf8 and a dword at 0xcf8 are not resets. */
	out(&e, 0xcf8, 2, 0x0600);
	out(&e, 0xcf8, 4, 0x00000600);
	assert_int_equal(e.resets, 3);
	assert_int_equal(in(&e, 0xcf8, 4), 0x00000600);
	assert_int_equal(in(&e, PCI_RESET_PORT, 1), 0x02);
}

static void bad_setup_refused(void **state)
{
	struct port_env e;
	struct pci_host registered, pci;

	setup(&e, &registered);
	assert_int_equal(pci_host_init(&pci, NULL, NULL), -1);
	assert_int_equal(pci_host_init(&pci, count_reset, &e), 0);
	assert_int_equal(pci_host_register(&pci, &e.bus), -1);
}

struct fuzz_pci {
	u64 before;
	struct port_env e;
	struct pci_host pci;
	u64 after;
};

static void hostile_accesses(void **state)
{
	static const u16 ports[][2] = { { 0xcf8, 0xcff } };
	static struct fuzz_pci w;
	struct fuzz_target t = { .ports = ports, .n_ports = 1 };

	w.before = w.after = FUZZ_CANARY;
	setup(&w.e, &w.pci);
	assert_int_equal(vdev_fuzz(&w.e.bus, &t, 0xcf8), 0);
	assert_true(w.before == FUZZ_CANARY && w.after == FUZZ_CANARY);
	assert_int_equal(w.pci.addr & ~0x80fffffcu, 0);
	assert_int_equal(w.pci.rcr & ~0x02, 0);
	assert_true(w.e.resets > 0);
	/* Nothing the guest did changed the bridge. */
	assert_int_equal(conf1_read(&w.e, 0, 0, 0, 4), 0x12378086);
	assert_int_equal(conf1_read(&w.e, 0, 0, 8, 4), 0x06000002);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(linux_check_type1),
		cmocka_unit_test(linux_check_type2_fails),
		cmocka_unit_test(host_bridge_header),
		cmocka_unit_test(only_one_device),
		cmocka_unit_test(config_address_register),
		cmocka_unit_test(reset_register),
		cmocka_unit_test(bad_setup_refused),
		cmocka_unit_test(hostile_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
