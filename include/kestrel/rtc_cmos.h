/*
 * The PC's MC146818A real-time clock and its 128 bytes of CMOS (0x70 index with the NMI-disable
 * bit 7, 0x71 data), as one guest sees them, and the date arithmetic the hypervisor also uses to
 * turn the host's RTC reading into the UNIX time it starts the guest's clock from.
 *
 * The clock runs from the caller's vclock; the guest can set it (its own time, the host's is
 * untouched). Register C's flags and IRQ 8 work as the datasheet says: the update-ended and
 * alarm flags at each second's update, the periodic flag at the register A rate. The irq_line
 * is high while IRQF is set (until the guest reads register C). The hypervisor calls
 * rtc_update() before deciding what to inject and wakes a halted vCPU at rtc_next_event().
 *
 * Index 0x32 is the century (the FADT's CENTURY field), counted with the year as QEMU does.
 */
#ifndef KESTREL_RTC_CMOS_H
#define KESTREL_RTC_CMOS_H

#include <kestrel/irq.h>
#include <kestrel/pit8254.h>
#include <kestrel/types.h>
#include <kestrel/vdev.h>

#define RTC_PORT_INDEX 0x70
#define RTC_PORT_DATA 0x71
#define RTC_IRQ 8
#define RTC_CMOS_SIZE 128
#define RTC_REG_CENTURY 0x32
#define RTC_DIVIDER_HZ 32768ull /* the time base: the 32.768 kHz crystal */

struct rtc {
	struct vclock clock;
	struct irq_line irq8;
	u8 cmos[RTC_CMOS_SIZE];	/* time, alarm and control registers 0x00-0x0b, then RAM */
	u8 index;		/* port 0x70 bits 6-0 */
	bool nmi_disabled;	/* port 0x70 bit 7: NMIs masked (the hypervisor's to honour) */
	bool running;		/* register A's divider bits are 010: the divider chain counts */
	u64 div_start;		/* clock time at which the divider chain held div_offset ticks */
	u64 div_offset;		/* 0, or half a second after a divider reset */
	u64 div;		/* divider ticks seen: updates and flags up to here are done */
	u8 flags;		/* register C: PF, AF, UF */
	bool irq_level;		/* what the line was last driven to */
};

/* A calendar date and time (proleptic Gregorian, UTC): mon 1-12, day 1-31, wday 0 = Sunday. */
struct rtc_date {
	int year, mon, day, hour, min, sec, wday;
};

/*
 * Seconds since 1970-01-01 00:00:00. Fields outside their ranges carry over as mktime() does
 * (month 13 is January of the next year, day 0 the last day of the month before); dates before
 * 1970 give the two's complement of the negative count.
 */
u64 rtc_date_to_unix(int year, int mon, int day, int hour, int min, int sec);

/* The inverse, reading t as signed (so dates before 1970 round-trip). Exact while the year
 * fits an int, for |t| below about 6.7e16 seconds. */
void rtc_unix_to_date(u64 t, struct rtc_date *d);

/*
 * The time `unix_time` (UTC), as a PC BIOS leaves the chip: BCD, 24-hour, 1024 Hz rate, no
 * interrupts enabled, the next update one second from now. Years past 9999 wrap, as the two BCD
 * digits of the century do. Returns -1 when the clock is unusable: no now(), or hz 0 or so large
 * that hz * 32768 overflows 64 bits.
 */
int rtc_init(struct rtc *rtc, struct vclock clock, struct irq_line irq8, u64 unix_time);

/* Claims 0x70-0x71. Returns 0, or -1 if a port is taken. */
int rtc_register(struct rtc *rtc, struct vdev_bus *bus);

/* Bring the clock and register C to clock time `now`; may raise IRQ 8. */
void rtc_update(struct rtc *rtc, u64 now);

/* Clock time at which IRQ 8 would next rise, or ~0ull when it will not by itself. */
u64 rtc_next_event(const struct rtc *rtc);

#endif
