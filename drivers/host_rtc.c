/* Reading the host MC146818 RTC: wait out an update, read twice until stable (datasheet: the
 * registers are undefined while UIP is set), convert BCD and 12-hour forms. */
#include <kestrel/cpu.h>
#include <kestrel/host_rtc.h>
#include <kestrel/rtc_cmos.h>

#define REG_A_UIP 0x80
#define REG_B_24H 0x02
#define REG_B_BINARY 0x04
#define HOUR_PM 0x80
#define SPIN_LIMIT 1000000

struct raw_time {
	u8 sec, min, hour, day, mon, year, century;
};

static u8 cmos_read(u8 reg)
{
	outb(0x70, reg); /* bit 7 clear: NMIs stay enabled as the firmware had them */
	return inb(0x71);
}

static void read_raw(struct raw_time *t)
{
	for (int spin = 0; spin < SPIN_LIMIT && (cmos_read(0x0a) & REG_A_UIP); spin++)
		cpu_relax();
	*t = (struct raw_time){ cmos_read(0), cmos_read(2), cmos_read(4), cmos_read(7),
				cmos_read(8), cmos_read(9), cmos_read(RTC_REG_CENTURY) };
}

static int from_bcd(u8 v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

u64 host_rtc_read_unix(void)
{
	struct raw_time a, b;
	u8 reg_b = cmos_read(0x0b);
	int tries = 0, sec, min, hour, day, mon, year, century;
	bool pm;

	do {
		read_raw(&a);
		read_raw(&b);
	} while (++tries < 5 && (a.sec != b.sec || a.min != b.min || a.hour != b.hour ||
				 a.day != b.day || a.mon != b.mon || a.year != b.year));
	pm = !(reg_b & REG_B_24H) && (b.hour & HOUR_PM);
	b.hour &= (u8)~HOUR_PM;
	if (reg_b & REG_B_BINARY) {
		sec = b.sec, min = b.min, hour = b.hour, day = b.day, mon = b.mon, year = b.year;
		century = b.century;
	} else {
		sec = from_bcd(b.sec), min = from_bcd(b.min), hour = from_bcd(b.hour);
		day = from_bcd(b.day), mon = from_bcd(b.mon), year = from_bcd(b.year);
		century = from_bcd(b.century);
	}
	if (!(reg_b & REG_B_24H))
		hour = hour % 12 + (pm ? 12 : 0);
	/* Firmware that leaves the century register empty: assume this century. */
	year += (century >= 19 && century <= 30 ? century : 20) * 100;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return 0;
	return rtc_date_to_unix(year, mon, day, hour, min, sec);
}
