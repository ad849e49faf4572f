/*
 * The PC's 8254 interval timer (0x40-0x43) and system control port B (0x61: counter 2 gate,
 * speaker, OUT2, refresh toggle), as one guest sees them.
 *
 * Time is the caller's clock, read on every port access and passed to pit_update(). Counter 0
 * drives IRQ0 with one edge (a high-low pulse on the irq_line) per OUT0 rising edge. The
 * hypervisor calls pit_update() before deciding what to inject, and sleeps a halted vCPU (or
 * arms its preemption timer) until pit_next_event(), re-reading it after every exit.
 */
#ifndef KESTREL_PIT8254_H
#define KESTREL_PIT8254_H

#include <kestrel/irq.h>
#include <kestrel/types.h>
#include <kestrel/vdev.h>

#define PIT_HZ 1193182ull /* the PC's 8254 input clock: 14.31818 MHz / 12 */

struct vclock {
	u64 (*now)(void *ctx);
	void *ctx;
	u64 hz; /* ticks of now() per second */
};

struct pit_channel {
	u8 ctrl;	/* control word bits 5-0: access, mode, BCD (status byte layout) */
	u8 mode;	/* 0-5 */
	bool gate;	/* counters 0 and 1: tied high; counter 2: port 0x61 bit 0 */
	bool armed;	/* a count is in the counting element (modes 1/5: and was triggered) */
	bool cr_written;/* a count was written since the control word */
	bool null_count;/* the count register has not reached the counting element yet */
	bool reload_pending; /* modes 2/3: cr replaces count at reload_at */
	bool write_msb;	/* lobyte/hibyte access: the next write is the MSB */
	bool read_msb;	/* lobyte/hibyte access: the next unlatched read is the MSB */
	u8 write_lsb;
	u8 latch[2], latch_len, latch_pos; /* latched count bytes still to read */
	bool status_latched;
	u8 status;
	u32 count;	/* N of the counting element: 1-65536 (1-10000 in BCD) */
	u32 cr;		/* the count register: the last count written */
	u64 start;	/* PIT tick at which the counting element held N */
	u64 reload_at;
	u64 paused;	/* ticks counted before the gate stopped counting */
};

struct pit {
	struct pit_channel ch[3];
	struct vclock clock;
	struct irq_line irq0;
	u64 base;	/* clock time of PIT tick 0 */
	u64 tick;	/* latest PIT tick seen: time never runs backwards */
	u64 irq_done;	/* OUT0 edges up to this tick have been signalled */
	u8 port61;	/* the writable bits 3-0 of port 0x61 */
	u64 lost_ticks;	/* IRQ0 edges merged into one because time was seen too late */
};

/*
 * Counters idle (lobyte/hibyte, mode 0, no count), counter 2 gate low. Returns -1 when the
 * clock is unusable: no now(), or hz is 0 or so large that hz * PIT_HZ overflows 64 bits.
 */
int pit_init(struct pit *pit, struct vclock clock, struct irq_line irq0);

/* Claims 0x40-0x43 and 0x61. Returns 0, or -1 if a port is taken. */
int pit_register(struct pit *pit, struct vdev_bus *bus);

/* Bring the timer to clock time `now`: at most one IRQ0 edge, later ones become lost_ticks. */
void pit_update(struct pit *pit, u64 now);

/* Clock time of the next IRQ0 edge, or ~0ull when counter 0 will raise none. */
u64 pit_next_event(const struct pit *pit);

#endif
