/*
 * The MC146818A real-time clock (Motorola MC146818A datasheet) as the PC's CMOS clock.
 *
 * The time registers hold what the guest last saw or wrote, in its format (BCD or binary,
 * 12- or 24-hour, register B); nothing ticks between accesses. The divider chain is a 32768 Hz
 * count derived from the caller's clock (floor, exact in 64 bits, as the 8254 model does): each
 * multiple of 32768 is an update cycle, each multiple of the register A rate a periodic flag.
 * An update advances the time registers by the seconds that passed, in one step however many
 * (AF is set if any of them matched the alarm; IRQ 8 rises once). Changing the format in
 * register B reinterprets the registers, as on the chip: the guest rewrites them.
 *
 * Per the datasheet: UIP is high for the 244 us before and the 1984 us of each update cycle;
 * SET stops updates (the divider keeps counting) and clears UIE; divider bits other than 010
 * hold the chain, and the first update comes half a second after 010 is written again (the
 * DS12887 clone on PCs stops the clock for every other pattern); register C reads clear its
 * flags; register D reads VRT. Time registers with impossible values (month 13, a hex digit in
 * BCD) carry over into the next field at the next update instead of doing what a real chip
 * does with them. Daylight-saving (DSE) and the square-wave output are not modelled.
 */
#include <kestrel/rtc_cmos.h>

#define REG_SEC 0x00
#define REG_SEC_ALARM 0x01
#define REG_MIN 0x02
#define REG_MIN_ALARM 0x03
#define REG_HOUR 0x04
#define REG_HOUR_ALARM 0x05
#define REG_WDAY 0x06
#define REG_MDAY 0x07
#define REG_MON 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d

#define A_UIP 0x80
#define A_DV 0x70
#define A_DV_RUN 0x20 /* 010: 32.768 kHz time base, counting */
#define A_RS 0x0f
#define A_RATE_1024HZ 0x06

#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_BINARY 0x04
#define B_24H 0x02

#define C_IRQF 0x80
#define C_PF 0x40 /* the flags sit at the bit positions of their enables in register B */
#define C_AF 0x20
#define C_UF 0x10

#define D_VRT 0x80

#define INDEX_NMI_DISABLE 0x80
#define HOUR_PM 0x80
#define ALARM_DONT_CARE 0xc0 /* both top bits set: the alarm byte matches any value */
#define ALARM_ANY (-1)
#define ALARM_NEVER (-2)

#define DIV_SECOND RTC_DIVIDER_HZ
#define UIP_TICKS 73 /* 244 + 1984 us = 2228 us of the 30.5 us divider ticks */

#define SECS_PER_DAY 86400
#define DAYS_PER_400Y 146097
#define DAYS_0000_TO_1970 719468 /* from 0000-03-01, the start of the shifted year */
#define UNIX_YEAR_0 (-62167219200ll) /* 0000-01-01 00:00:00 */
#define SECS_PER_10000Y (25ll * DAYS_PER_400Y * SECS_PER_DAY) /* a whole number of weeks */

static s64 floor_div(s64 a, s64 b)
{
	return a / b - (a % b < 0);
}

static s64 floor_mod(s64 a, s64 b)
{
	return a % b < 0 ? a % b + b : a % b;
}

/*
 * Days since 1970-01-01 of the first of month m (1-12) of year y, counting years from March
 * so the leap day ends the year (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
 */
static s64 days_from_civil(s64 y, s64 m)
{
	s64 era, yoe, doy;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
	return era * DAYS_PER_400Y + yoe * 365 + yoe / 4 - yoe / 100 + doy - DAYS_0000_TO_1970;
}

static s64 date_secs(s64 year, s64 mon, s64 day, s64 hour, s64 min, s64 sec)
{
	s64 y = year + floor_div(mon - 1, 12), m = floor_mod(mon - 1, 12) + 1;

	return (days_from_civil(y, m) + day - 1) * SECS_PER_DAY + hour * 3600 + min * 60 + sec;
}

static void secs_date(s64 t, struct rtc_date *d)
{
	s64 days = floor_div(t, SECS_PER_DAY), rem = floor_mod(t, SECS_PER_DAY);
	s64 z = days + DAYS_0000_TO_1970, era = floor_div(z, DAYS_PER_400Y);
	s64 doe = z - era * DAYS_PER_400Y;
	s64 yoe = (doe - doe / 1460 + doe / 36524 - doe / (DAYS_PER_400Y - 1)) / 365;
	s64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	s64 mp = (5 * doy + 2) / 153;

	d->day = doy - (153 * mp + 2) / 5 + 1;
	d->mon = mp < 10 ? mp + 3 : mp - 9;
	d->year = yoe + era * 400 + (d->mon <= 2);
	d->hour = rem / 3600;
	d->min = rem / 60 % 60;
	d->sec = rem % 60;
	d->wday = floor_mod(days + 4, 7); /* 1970-01-01 was a Thursday */
}

u64 rtc_date_to_unix(int year, int mon, int day, int hour, int min, int sec)
{
	return (u64)date_secs(year, mon, day, hour, min, sec);
}

/* Two's complement without relying on the implementation-defined u64 -> s64 conversion. */
static s64 unix_signed(u64 t)
{
	return t <= (u64)INT64_MAX ? (s64)t : -(s64)~t - 1;
}

void rtc_unix_to_date(u64 t, struct rtc_date *d)
{
	secs_date(unix_signed(t), d);
}

static bool rtc_binary(const struct rtc *rtc)
{
	return rtc->cmos[REG_B] & B_BINARY;
}

/* v is 0-99. */
static u8 to_reg(const struct rtc *rtc, unsigned v)
{
	return rtc_binary(rtc) ? v : (v / 10) << 4 | v % 10;
}

/* A BCD byte with hex digits decodes to more than 99; the carry at the next update fixes it. */
static unsigned from_reg(const struct rtc *rtc, u8 b)
{
	return rtc_binary(rtc) ? b : (b >> 4) * 10u + (b & 0xf);
}

/* In 12-hour mode the hours are 1-12 with bit 7 set for PM. */
static u8 hour_to_reg(const struct rtc *rtc, unsigned h)
{
	if (rtc->cmos[REG_B] & B_24H)
		return to_reg(rtc, h);
	return to_reg(rtc, (h + 11) % 12 + 1) | (h >= 12 ? HOUR_PM : 0);
}

static unsigned hour_from_reg(const struct rtc *rtc, u8 b)
{
	if (rtc->cmos[REG_B] & B_24H)
		return from_reg(rtc, b);
	return from_reg(rtc, b & ~HOUR_PM) % 12 + (b & HOUR_PM ? 12 : 0);
}

/* The time the registers hold, in seconds since 1970, fields out of range carried over. */
static s64 rtc_get_time(const struct rtc *rtc)
{
	const u8 *c = rtc->cmos;

	return date_secs(from_reg(rtc, c[RTC_REG_CENTURY]) * 100 + from_reg(rtc, c[REG_YEAR]),
			 from_reg(rtc, c[REG_MON]), from_reg(rtc, c[REG_MDAY]),
			 hour_from_reg(rtc, c[REG_HOUR]), from_reg(rtc, c[REG_MIN]),
			 from_reg(rtc, c[REG_SEC]));
}

/* The century register holds two digits: the time wraps after 9999 (weekdays stay right). */
static void rtc_set_time(struct rtc *rtc, s64 t)
{
	struct rtc_date d;
	u8 *c = rtc->cmos;

	secs_date(UNIX_YEAR_0 + floor_mod(t - UNIX_YEAR_0, SECS_PER_10000Y), &d);
	c[REG_SEC] = to_reg(rtc, d.sec);
	c[REG_MIN] = to_reg(rtc, d.min);
	c[REG_HOUR] = hour_to_reg(rtc, d.hour);
	c[REG_MDAY] = to_reg(rtc, d.day);
	c[REG_MON] = to_reg(rtc, d.mon);
	c[REG_YEAR] = to_reg(rtc, d.year % 100);
	c[RTC_REG_CENTURY] = to_reg(rtc, d.year / 100);
}

/*
 * The value an alarm byte matches: the byte is compared with the time register, so it must be
 * one the register can hold in the current format. ALARM_ANY for a don't-care byte.
 */
static int alarm_value(const struct rtc *rtc, u8 b, unsigned limit, bool hour)
{
	unsigned v;

	if ((b & ALARM_DONT_CARE) == ALARM_DONT_CARE)
		return ALARM_ANY;
	v = hour ? hour_from_reg(rtc, b) : from_reg(rtc, b);
	if (v >= limit || (hour ? hour_to_reg(rtc, v) : to_reg(rtc, v)) != b)
		return ALARM_NEVER;
	return v;
}

static bool field_has(int f, int v)
{
	return f == ALARM_ANY || f == v;
}

/* The first value >= from that field f matches, below limit, or -1. */
static int field_next(int f, int from, int limit)
{
	if (f == ALARM_ANY)
		return from < limit ? from : -1;
	return f >= from ? f : -1;
}

static int field_first(int f)
{
	return f == ALARM_ANY ? 0 : f;
}

/* Seconds from time of day x (0-86399) to the next second the alarm matches (0: x does), or -1. */
static s64 alarm_next(const struct rtc *rtc, s64 x)
{
	int h = alarm_value(rtc, rtc->cmos[REG_HOUR_ALARM], 24, true);
	int m = alarm_value(rtc, rtc->cmos[REG_MIN_ALARM], 60, false);
	int s = alarm_value(rtc, rtc->cmos[REG_SEC_ALARM], 60, false);
	int h0 = x / 3600, m0 = x / 60 % 60, s0 = x % 60, v;

	if (h == ALARM_NEVER || m == ALARM_NEVER || s == ALARM_NEVER)
		return -1;
	if (field_has(h, h0) && field_has(m, m0)) {
		v = field_next(s, s0, 60);
		if (v >= 0)
			return v - s0;
	}
	if (field_has(h, h0)) {
		v = field_next(m, m0 + 1, 60);
		if (v >= 0)
			return (v - m0) * 60 + field_first(s) - s0;
	}
	v = field_next(h, h0 + 1, 24);
	if (v < 0)
		v = 24 + field_first(h); /* tomorrow */
	return (s64)(v - h0) * 3600 + (field_first(m) - m0) * 60 + field_first(s) - s0;
}

/* n >= 1 update cycles: UF, AF if any of the n new seconds matches the alarm, the new time. */
static void rtc_advance(struct rtc *rtc, u64 n)
{
	s64 t = rtc_get_time(rtc), alarm = alarm_next(rtc, floor_mod(t + 1, SECS_PER_DAY));
	s64 m = n % SECS_PER_10000Y; /* whole weeks dropped: the weekday stays right */
	s64 days = floor_div(t + m, SECS_PER_DAY) - floor_div(t, SECS_PER_DAY);
	unsigned wday = from_reg(rtc, rtc->cmos[REG_WDAY]);

	rtc->flags |= C_UF;
	if (alarm >= 0 && (u64)alarm < n)
		rtc->flags |= C_AF;
	/* The day of week counts 1-7 at each midnight, from whatever day the guest set. */
	rtc->cmos[REG_WDAY] = to_reg(rtc, (wday + 6 + days % 7) % 7 + 1);
	rtc_set_time(rtc, t + m);
}

/* Divider ticks per periodic flag for register A's rate select, or 0 for none. */
static u64 rtc_period(const struct rtc *rtc)
{
	unsigned rs = rtc->cmos[REG_A] & A_RS;

	if (!rs)
		return 0;
	return rs < 3 ? 64ull << rs : 1ull << (rs - 1); /* 256 and 128 Hz, then 8192 Hz .. 2 Hz */
}

static u64 rtc_div_at(const struct rtc *rtc, u64 now)
{
	u64 hz = rtc->clock.hz, d = now > rtc->div_start ? now - rtc->div_start : 0;

	/* floor(d * 32768 / hz) in two parts; d % hz * 32768 < hz * 32768 fits (rtc_init). */
	return rtc->div_offset + d / hz * DIV_SECOND + d % hz * DIV_SECOND / hz;
}

/* The first clock time whose divider tick is >= div (div >= div_offset). */
static u64 rtc_time_of(const struct rtc *rtc, u64 div)
{
	u64 hz = rtc->clock.hz, t = div - rtc->div_offset;

	return rtc->div_start + t / DIV_SECOND * hz + (t % DIV_SECOND * hz + DIV_SECOND - 1) /
			DIV_SECOND;
}

static void rtc_update_irq(struct rtc *rtc)
{
	bool level = rtc->flags & rtc->cmos[REG_B] & (C_PF | C_AF | C_UF);

	if (level != rtc->irq_level) {
		rtc->irq_level = level;
		irq_line_set(&rtc->irq8, RTC_IRQ, level);
	}
}

/* Run the divider chain to clock time `now`: the updates and periodic flags on the way. */
static void rtc_sync(struct rtc *rtc, u64 now)
{
	u64 d, seconds, period;

	if (!rtc->running)
		return;
	d = rtc_div_at(rtc, now);
	if (d <= rtc->div)
		return;
	seconds = d / DIV_SECOND - rtc->div / DIV_SECOND;
	if (seconds && !(rtc->cmos[REG_B] & B_SET))
		rtc_advance(rtc, seconds);
	period = rtc_period(rtc);
	if (period && d / period != rtc->div / period)
		rtc->flags |= C_PF;
	rtc->div = d;
	rtc_update_irq(rtc);
}

static bool rtc_uip(const struct rtc *rtc)
{
	return rtc->running && !(rtc->cmos[REG_B] & B_SET) &&
	       rtc->div % DIV_SECOND >= DIV_SECOND - UIP_TICKS;
}

static u8 rtc_read_reg(struct rtc *rtc, u8 idx)
{
	u8 v;

	switch (idx) {
	case REG_A:
		return rtc->cmos[REG_A] | (rtc_uip(rtc) ? A_UIP : 0);
	case REG_C:
		v = rtc->flags | (rtc->irq_level ? C_IRQF : 0);
		rtc->flags = 0;
		rtc_update_irq(rtc);
		return v;
	case REG_D:
		return D_VRT;
	default:
		return rtc->cmos[idx];
	}
}

static void rtc_set_divider(struct rtc *rtc, u8 v, u64 now)
{
	bool run = (v & A_DV) == A_DV_RUN;

	rtc->cmos[REG_A] = v & ~A_UIP;
	if (run && !rtc->running) {
		/* Out of reset the chain starts half way, so the first update is 500 ms away. */
		rtc->div_start = now;
		rtc->div_offset = DIV_SECOND / 2;
		rtc->div = rtc->div_offset;
	}
	rtc->running = run;
}

static void rtc_write_reg(struct rtc *rtc, u8 idx, u8 v, u64 now)
{
	switch (idx) {
	case REG_A:
		rtc_set_divider(rtc, v, now);
		break;
	case REG_B:
		rtc->cmos[REG_B] = v & B_SET ? v & ~B_UIE : v;
		rtc_update_irq(rtc);
		break;
	case REG_C:
	case REG_D: /* read-only */
		break;
	default:
		rtc->cmos[idx] = v;
		break;
	}
}

/* Port 0x70 is write-only (reads float to 0xff); 0x71 reaches the register it selects. */
static u32 rtc_io_read(void *dev, u16 port, u32 size)
{
	struct rtc *rtc = dev;
	u32 v = 0;

	rtc_sync(rtc, rtc->clock.now(rtc->clock.ctx));
	for (u32 i = 0; i < size; i++) {
		u8 b = port + i == RTC_PORT_INDEX ? 0xff : rtc_read_reg(rtc, rtc->index);

		v |= (u32)b << (8 * i);
	}
	return v;
}

static void rtc_io_write(void *dev, u16 port, u32 size, u32 value)
{
	struct rtc *rtc = dev;
	u64 now = rtc->clock.now(rtc->clock.ctx);

	rtc_sync(rtc, now);
	for (u32 i = 0; i < size; i++) {
		u8 b = value >> (8 * i);

		if (port + i == RTC_PORT_INDEX) {
			rtc->index = b & ~INDEX_NMI_DISABLE;
			rtc->nmi_disabled = b & INDEX_NMI_DISABLE;
		} else {
			rtc_write_reg(rtc, rtc->index, b, now);
		}
	}
}

static const struct vdev_ops rtc_ops = { .io_read = rtc_io_read, .io_write = rtc_io_write,
					 .affects_events = true };

int rtc_init(struct rtc *rtc, struct vclock clock, struct irq_line irq8, u64 unix_time)
{
	s64 t = unix_signed(unix_time);

	if (!clock.now || !clock.hz || clock.hz > ~0ull / DIV_SECOND)
		return -1;
	*rtc = (struct rtc){ .clock = clock, .irq8 = irq8, .running = true };
	rtc->cmos[REG_A] = A_DV_RUN | A_RATE_1024HZ;
	rtc->cmos[REG_B] = B_24H;
	rtc->cmos[REG_WDAY] = to_reg(rtc, floor_mod(floor_div(t, SECS_PER_DAY) + 4, 7) + 1);
	rtc_set_time(rtc, t);
	rtc->div_start = clock.now(clock.ctx);
	return 0;
}

int rtc_register(struct rtc *rtc, struct vdev_bus *bus)
{
	return vdev_register_ports(bus, RTC_PORT_INDEX, RTC_PORT_DATA, &rtc_ops, rtc, "rtc");
}

void rtc_update(struct rtc *rtc, u64 now)
{
	rtc_sync(rtc, now);
}

u64 rtc_next_event(const struct rtc *rtc)
{
	u8 b = rtc->cmos[REG_B];
	u64 period = rtc_period(rtc), next = ~0ull, second = rtc->div / DIV_SECOND + 1;
	s64 alarm;

	if (!rtc->running || rtc->irq_level)
		return ~0ull;
	if ((b & B_PIE) && period)
		next = (rtc->div / period + 1) * period;
	if (!(b & B_SET) && (b & B_UIE))
		next = MIN(next, second * DIV_SECOND);
	if (!(b & B_SET) && (b & B_AIE)) {
		alarm = alarm_next(rtc, floor_mod(rtc_get_time(rtc) + 1, SECS_PER_DAY));
		if (alarm >= 0)
			next = MIN(next, (second + alarm) * DIV_SECOND);
	}
	return next == ~0ull ? ~0ull : rtc_time_of(rtc, next);
}
