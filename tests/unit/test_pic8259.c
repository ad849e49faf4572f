/* The 8259A pair and the ELCR, programmed through their ports as Linux does. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/pic8259.h>

#include "vdev_fuzz.h"

struct env {
	struct vdev_bus bus;
	struct pic pic;
};

static void out(struct env *e, u16 port, u8 v)
{
	vdev_io_write(&e->bus, port, 1, v);
}

static u8 in(struct env *e, u16 port)
{
	return vdev_io_read(&e->bus, port, 1);
}

static void setup_bare(struct env *e)
{
	vdev_bus_init(&e->bus);
	pic_init(&e->pic);
	assert_int_equal(pic_register(&e->pic, &e->bus), 0);
}

/* Linux's init_8259A(): mask all, ICW1-ICW4 for both, then unmask everything but the slave. */
static void setup_linux(struct env *e, u8 icw4)
{
	setup_bare(e);
	out(e, 0x21, 0xff);
	out(e, 0xa1, 0xff);
	out(e, 0x20, 0x11);
	out(e, 0x21, 0x20);
	out(e, 0x21, 0x04);
	out(e, 0x21, icw4);
	out(e, 0xa0, 0x11);
	out(e, 0xa1, 0x28);
	out(e, 0xa1, 0x02);
	out(e, 0xa1, icw4);
	out(e, 0x21, 0x00);
	out(e, 0xa1, 0x00);
}

static void pulse(struct env *e, unsigned irq)
{
	pic_set_irq(&e->pic, irq, true);
	pic_set_irq(&e->pic, irq, false);
}

static u8 read_isr(struct env *e, u16 port)
{
	u8 v;

	out(e, port, 0x0b);
	v = in(e, port);
	out(e, port, 0x0a);
	return v;
}

static void reset_state_is_masked(void **state)
{
	struct env e;

	setup_bare(&e);
	assert_int_equal(in(&e, 0x21), 0xff);
	assert_int_equal(in(&e, 0xa1), 0xff);
	pulse(&e, 0);
	pulse(&e, 9);
	assert_false(pic_has_interrupt(&e.pic));
	assert_int_equal(in(&e, 0x20), 0x01); /* IR0 requested; the masked slave raises no INT */
	assert_int_equal(in(&e, 0xa0), 0x02);
	/* Unmasked before any ICW: BIOS vectors. */
	out(&e, 0x21, 0x00);
	out(&e, 0xa1, 0x00);
	assert_int_equal(pic_acknowledge(&e.pic), 0x08);
	out(&e, 0x20, 0x20);
	assert_int_equal(pic_acknowledge(&e.pic), 0x71);
}

static void linux_init_and_eoi(void **state)
{
	struct env e;

	setup_linux(&e, 0x01);
	assert_int_equal(in(&e, 0x21), 0x00);
	assert_false(pic_has_interrupt(&e.pic));

	pulse(&e, 0);
	assert_true(pic_has_interrupt(&e.pic));
	assert_int_equal(in(&e, 0x20), 0x01); /* IRR after OCW3 reset to "read IRR" */
	assert_int_equal(pic_acknowledge(&e.pic), 0x20);
	assert_false(pic_has_interrupt(&e.pic));
	assert_int_equal(in(&e, 0x20), 0x00);
	assert_int_equal(read_isr(&e, 0x20), 0x01);

	/* A second edge while in service waits for the EOI. */
	pulse(&e, 0);
	assert_false(pic_has_interrupt(&e.pic));
	out(&e, 0x20, 0x20); /* non-specific EOI */
	assert_int_equal(read_isr(&e, 0x20), 0x00);
	assert_true(pic_has_interrupt(&e.pic));
	assert_int_equal(pic_acknowledge(&e.pic), 0x20);
	out(&e, 0x20, 0x60); /* specific EOI, IR0 */
	assert_int_equal(read_isr(&e, 0x20), 0x00);
	assert_int_equal(e.pic.spurious, 0);
}

static void masking(void **state)
{
	struct env e;

	setup_linux(&e, 0x01);
	out(&e, 0x21, 0x02);
	assert_int_equal(in(&e, 0x21), 0x02);
	pulse(&e, 1);
	assert_false(pic_has_interrupt(&e.pic));
	assert_int_equal(in(&e, 0x20), 0x02); /* still requested */
	out(&e, 0x21, 0x00);
	assert_true(pic_has_interrupt(&e.pic));
	assert_int_equal(pic_acknowledge(&e.pic), 0x21);

	/* Masking the cascade hides the whole slave. */
	out(&e, 0x20, 0x20);
	out(&e, 0x21, 0x04);
	pulse(&e, 12);
	assert_false(pic_has_interrupt(&e.pic));
	out(&e, 0x21, 0x00);
	assert_int_equal(pic_acknowledge(&e.pic), 0x2c);
}

static void priority_and_nesting(void **state)
{
	struct env e;

	setup_linux(&e, 0x01);
	pulse(&e, 3);
	pulse(&e, 1);
	pulse(&e, 6);
	assert_int_equal(pic_acknowledge(&e.pic), 0x21);
	/* IR1 in service: IR3 and IR6 wait, IR0 preempts. */
	assert_false(pic_has_interrupt(&e.pic));
	pulse(&e, 0);
	assert_int_equal(pic_acknowledge(&e.pic), 0x20);
	assert_int_equal(read_isr(&e, 0x20), 0x03);
	out(&e, 0x20, 0x20); /* ends IR0, the highest in service */
	assert_int_equal(read_isr(&e, 0x20), 0x02);
	assert_false(pic_has_interrupt(&e.pic));
	out(&e, 0x20, 0x20);
	assert_int_equal(pic_acknowledge(&e.pic), 0x23);
	out(&e, 0x20, 0x63);
	assert_int_equal(pic_acknowledge(&e.pic), 0x26);
	out(&e, 0x20, 0x20);
	assert_false(pic_has_interrupt(&e.pic));
	assert_int_equal(read_isr(&e, 0x20), 0x00);
}

static void cascade(void **state)
{
	struct env e;

	setup_linux(&e, 0x01);
	pulse(&e, 10);
	assert_true(pic_has_interrupt(&e.pic));
	assert_int_equal(in(&e, 0x20), 0x04);
	assert_int_equal(in(&e, 0xa0), 0x04);
	assert_int_equal(pic_acknowledge(&e.pic), 0x2a);
	assert_int_equal(read_isr(&e, 0x20), 0x04);
	assert_int_equal(read_isr(&e, 0xa0), 0x04);

	/* Slave IRQ 9 has higher priority than 10 but the master's IR2 is in service. */
	pulse(&e, 9);
	assert_false(pic_has_interrupt(&e.pic));
	/* The master's IR1 still beats IR2. */
	pulse(&e, 1);
	assert_int_equal(pic_acknowledge(&e.pic), 0x21);
	out(&e, 0x20, 0x20);

	/* Linux's order: slave EOI, then master EOI. */
	out(&e, 0xa0, 0x20);
	assert_false(pic_has_interrupt(&e.pic));
	out(&e, 0x20, 0x20);
	assert_true(pic_has_interrupt(&e.pic));
	assert_int_equal(pic_acknowledge(&e.pic), 0x29);
	out(&e, 0xa0, 0x61);
	out(&e, 0x20, 0x62);
	assert_false(pic_has_interrupt(&e.pic));
	assert_int_equal(read_isr(&e, 0x20) | read_isr(&e, 0xa0), 0);

	/* Two slave requests pending at once come out one after the other. */
	pulse(&e, 15);
	pulse(&e, 8);
	assert_int_equal(pic_acknowledge(&e.pic), 0x28);
	out(&e, 0xa0, 0x20);
	out(&e, 0x20, 0x20);
	assert_int_equal(pic_acknowledge(&e.pic), 0x2f);
	assert_int_equal(read_isr(&e, 0xa0), 0x80); /* a real IRQ15, not a spurious one */
	assert_int_equal(e.pic.spurious, 0);
}

static void auto_eoi(void **state)
{
	struct env e;

	setup_linux(&e, 0x03);
	pulse(&e, 4);
	assert_int_equal(pic_acknowledge(&e.pic), 0x24);
	assert_int_equal(read_isr(&e, 0x20), 0x00);
	/* Slave with AEOI: the second request is a new edge on IR2 after the INTA. */
	pulse(&e, 11);
	pulse(&e, 14);
	assert_int_equal(pic_acknowledge(&e.pic), 0x2b);
	assert_true(pic_has_interrupt(&e.pic));
	assert_int_equal(pic_acknowledge(&e.pic), 0x2e);
	assert_false(pic_has_interrupt(&e.pic));
}

static void level_and_edge_via_elcr(void **state)
{
	struct env e;

	setup_linux(&e, 0x01);
	/* IRQ 0, 1, 2, 8 and 13 cannot be level-triggered. */
	out(&e, 0x4d0, 0xff);
	out(&e, 0x4d1, 0xff);
	assert_int_equal(in(&e, 0x4d0), 0xf8);
	assert_int_equal(in(&e, 0x4d1), 0xde);
	assert_int_equal(vdev_io_read(&e.bus, 0x4d0, 2), 0xdef8);
	vdev_io_write(&e.bus, 0x4d0, 2, 0x0220); /* IRQ 5 and IRQ 9 level */
	assert_int_equal(in(&e, 0x4d0), 0x20);
	assert_int_equal(in(&e, 0x4d1), 0x02);

	/* Level: IRR follows the line; still high after the EOI means delivered again. */
	pic_set_irq(&e.pic, 5, true);
	assert_int_equal(pic_acknowledge(&e.pic), 0x25);
	assert_int_equal(in(&e, 0x20), 0x20);
	out(&e, 0x20, 0x20);
	assert_int_equal(pic_acknowledge(&e.pic), 0x25);
	pic_set_irq(&e.pic, 5, false);
	out(&e, 0x20, 0x20);
	assert_false(pic_has_interrupt(&e.pic));
	assert_int_equal(in(&e, 0x20), 0x00);

	/* Level on the slave: the line dropping before the INTA gives the spurious IRQ15. */
	pic_set_irq(&e.pic, 9, true);
	assert_true(pic_has_interrupt(&e.pic));
	pic_set_irq(&e.pic, 9, false);
	assert_int_equal(in(&e, 0xa0), 0x00);
	assert_int_equal(in(&e, 0x20), 0x04); /* the master's IR2 is edge: still latched */
	assert_int_equal(pic_acknowledge(&e.pic), 0x2f);
	out(&e, 0x20, 0x20);
	assert_false(pic_has_interrupt(&e.pic));

	/* Edge: a pulse stays latched; a line held high raises one request only. */
	pulse(&e, 6);
	assert_int_equal(pic_acknowledge(&e.pic), 0x26);
	out(&e, 0x20, 0x20);
	pic_set_irq(&e.pic, 7, true);
	assert_int_equal(pic_acknowledge(&e.pic), 0x27);
	out(&e, 0x20, 0x20);
	pic_set_irq(&e.pic, 7, true);
	assert_false(pic_has_interrupt(&e.pic));
	pic_set_irq(&e.pic, 7, false);
	pic_set_irq(&e.pic, 7, true);
	assert_true(pic_has_interrupt(&e.pic));
}

static void spurious_interrupts(void **state)
{
	struct env e;

	setup_linux(&e, 0x01);
	/* Master: masked between INTR and INTA. */
	pulse(&e, 5);
	assert_true(pic_has_interrupt(&e.pic));
	out(&e, 0x21, 0x20);
	assert_int_equal(pic_acknowledge(&e.pic), 0x27);
	assert_int_equal(read_isr(&e, 0x20), 0x00);
	assert_int_equal(e.pic.spurious, 1);

	/* Slave: the request vanishes after the master latched IR2. Linux EOIs the master only. */
	out(&e, 0x21, 0x00);
	out(&e, 0x4d1, 0x08); /* IRQ 11 level */
	pic_set_irq(&e.pic, 11, true);
	pic_set_irq(&e.pic, 11, false);
	assert_int_equal(pic_acknowledge(&e.pic), 0x2f);
	assert_int_equal(read_isr(&e, 0x20), 0x04);
	assert_int_equal(read_isr(&e, 0xa0), 0x00);
	assert_int_equal(e.pic.spurious, 2);
	out(&e, 0x20, 0x20);
	/* IR5's edge was never acknowledged: unmasked, it is still there. */
	assert_int_equal(pic_acknowledge(&e.pic), 0x25);
	out(&e, 0x20, 0x20);
	assert_false(pic_has_interrupt(&e.pic));
}

static void poll_mode(void **state)
{
	struct env e;

	setup_linux(&e, 0x01);
	out(&e, 0x20, 0x0c);
	assert_int_equal(in(&e, 0x20), 0x00); /* nothing pending */
	pulse(&e, 3);
	pulse(&e, 13);
	out(&e, 0x20, 0x0c);
	assert_int_equal(in(&e, 0x20), 0x82); /* the cascade */
	out(&e, 0xa0, 0x0c);
	assert_int_equal(in(&e, 0xa1), 0x85); /* any port reads the poll word */
	assert_int_equal(read_isr(&e, 0x20), 0x04);
	assert_int_equal(read_isr(&e, 0xa0), 0x20);
	assert_int_equal(in(&e, 0x20), 0x08); /* back to reading IRR */
	out(&e, 0xa0, 0x20);
	out(&e, 0x20, 0x20);
	assert_int_equal(pic_acknowledge(&e.pic), 0x23);
}

static void special_mask_mode(void **state)
{
	struct env e;

	setup_linux(&e, 0x01);
	pulse(&e, 3);
	assert_int_equal(pic_acknowledge(&e.pic), 0x23);
	pulse(&e, 6);
	assert_false(pic_has_interrupt(&e.pic));
	/* A handler masks its own level and enables special mask mode to let IR6 in. */
	out(&e, 0x21, 0x08);
	out(&e, 0x20, 0x68);
	assert_true(pic_has_interrupt(&e.pic));
	assert_int_equal(pic_acknowledge(&e.pic), 0x26);
	out(&e, 0x20, 0x66);
	out(&e, 0x20, 0x48); /* leave special mask mode */
	pulse(&e, 4);
	assert_false(pic_has_interrupt(&e.pic));
	out(&e, 0x20, 0x63);
	assert_int_equal(pic_acknowledge(&e.pic), 0x24);
}

static void reinit_resets_edges(void **state)
{
	struct env e;

	setup_linux(&e, 0x01);
	pic_set_irq(&e.pic, 4, true);
	assert_int_equal(pic_acknowledge(&e.pic), 0x24);
	pulse(&e, 3);
	/* ICW1 clears IRR, ISR and IMR; a line still high needs a new edge. */
	out(&e, 0x20, 0x11);
	assert_int_equal(in(&e, 0x21), 0x00);
	out(&e, 0x21, 0x30);
	out(&e, 0x21, 0x04);
	out(&e, 0x21, 0x01);
	assert_int_equal(read_isr(&e, 0x20), 0x00);
	assert_false(pic_has_interrupt(&e.pic));
	pulse(&e, 1);
	assert_int_equal(pic_acknowledge(&e.pic), 0x31);

	/* Single mode without ICW4: ICW3 is skipped, the next odd write is OCW1. */
	out(&e, 0xa0, 0x12);
	out(&e, 0xa1, 0x48);
	out(&e, 0xa1, 0xfe);
	assert_int_equal(in(&e, 0xa1), 0xfe);
	out(&e, 0xa1, 0x00);
	out(&e, 0x20, 0x20);
	pulse(&e, 8);
	assert_int_equal(pic_acknowledge(&e.pic), 0x48);
}

static void irq_line_adapter(void **state)
{
	struct env e;
	struct irq_line line;

	setup_linux(&e, 0x01);
	line = pic_irq_line(&e.pic);
	irq_line_set(&line, 7, true);
	irq_line_set(&line, 7, false);
	irq_line_set(&line, 2, true); /* the cascade cannot be driven from outside */
	irq_line_set(&line, 16, true);
	irq_line_set(&line, 1000, true);
	assert_int_equal(in(&e, 0x20), 0x80);
	assert_int_equal(pic_acknowledge(&e.pic), 0x27);
	assert_false(pic_has_interrupt(&e.pic));
	assert_int_equal(e.pic.spurious, 0);
}

static void ports_taken(void **state)
{
	struct env e;

	setup_bare(&e);
	assert_int_equal(pic_register(&e.pic, &e.bus), -1);
}

struct fuzz_pic {
	u64 before;
	struct pic pic;
	u64 after;
	struct fuzz_rng rng;
};

/* Lines move at random and INTA cycles happen whenever INTR is up. */
static void pic_poke(void *ctx, u32 r)
{
	struct fuzz_pic *w = ctx;
	int vec;

	pic_set_irq(&w->pic, r % 20, (r >> 8) & 1);
	if ((r >> 9) & 1 && pic_has_interrupt(&w->pic)) {
		vec = pic_acknowledge(&w->pic);
		assert_true(vec >= 0 && vec <= 0xff);
	}
}

static void hostile_accesses(void **state)
{
	static const u16 ports[][2] = { { 0x20, 0x21 }, { 0xa0, 0xa1 }, { 0x4d0, 0x4d1 } };
	struct fuzz_pic w = { .before = FUZZ_CANARY, .after = FUZZ_CANARY };
	struct fuzz_target t = { .ports = ports, .n_ports = 3, .poke = pic_poke, .ctx = &w };
	struct vdev_bus bus;

	vdev_bus_init(&bus);
	pic_init(&w.pic);
	assert_int_equal(pic_register(&w.pic, &bus), 0);
	assert_int_equal(vdev_fuzz(&bus, &t, 0x8259), 0);
	assert_true(w.before == FUZZ_CANARY && w.after == FUZZ_CANARY);
	assert_true(w.pic.chip[0].init_step <= 4 && w.pic.chip[1].init_step <= 4);
	assert_true((w.pic.chip[0].elcr & 0x07) == 0 && (w.pic.chip[1].elcr & 0x21) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reset_state_is_masked),
		cmocka_unit_test(linux_init_and_eoi),
		cmocka_unit_test(masking),
		cmocka_unit_test(priority_and_nesting),
		cmocka_unit_test(cascade),
		cmocka_unit_test(auto_eoi),
		cmocka_unit_test(level_and_edge_via_elcr),
		cmocka_unit_test(spurious_interrupts),
		cmocka_unit_test(poll_mode),
		cmocka_unit_test(special_mask_mode),
		cmocka_unit_test(reinit_resets_edges),
		cmocka_unit_test(irq_line_adapter),
		cmocka_unit_test(ports_taken),
		cmocka_unit_test(hostile_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
