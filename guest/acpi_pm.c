/*
 * ACPI PM1a event/control blocks and the PM timer (ACPI 6.5 sections 4.8.3.1-4.8.3.3).
 *
 * The registers are 16 and 32 bits wide but are handled a byte at a time, so every access size
 * and offset behaves as the fixed-register layout says. The timer is computed from the clock on
 * each access, as the 8254 model does: floor(elapsed * 3579545 / hz), exact in 64 bits.
 */
#include <kestrel/acpi_pm.h>

/* PM1 status (ACPI 6.5 4.8.3.1.1): write 1 to clear. */
#define PM1_TMR_STS 0x0001
#define PM1_WAK_STS 0x8000
/* PM1 enable (4.8.3.1.2): TMR, GBL, PWRBTN, SLPBTN, RTC enables and PCIEXP_WAKE_DIS. */
#define PM1_EN_MASK 0x4721
/* PM1 control (4.8.3.2.1). GBL_RLS and SLP_EN are write-only, SCI_EN is fixed at 1. */
#define PM1_SCI_EN 0x0001
#define PM1_BM_RLD 0x0002
#define PM1_SLP_TYP 0x1c00
#define PM1_SLP_TYP_SHIFT 10
#define PM1_SLP_EN 0x2000

#define TMR_MASK 0xffffffull /* TMR_VAL_EXT = 0: a 24-bit counter (4.8.3.3) */
#define TMR_CARRY_SHIFT 23   /* TMR_STS is set whenever bit 23 changes */

static u64 pm_tick(struct acpi_pm *pm)
{
	u64 now = pm->clock.now(pm->clock.ctx), hz = pm->clock.hz;
	u64 d = now > pm->start ? now - pm->start : 0;
	/* floor(d * f / hz) in two parts; d % hz * f < hz * f fits (acpi_pm_init). */
	u64 t = d / hz * ACPI_PM_TIMER_HZ + d % hz * ACPI_PM_TIMER_HZ / hz;

	if (t > pm->tick)
		pm->tick = t;
	return pm->tick;
}

/* The 12-byte register block as three little-endian dwords, from one clock reading. */
static u32 pm_dword(const struct acpi_pm *pm, unsigned i, u64 tick)
{
	u16 sts = pm->wak_sts | ((tick >> TMR_CARRY_SHIFT) != pm->tmr_carry ? PM1_TMR_STS : 0);

	switch (i) {
	case ACPI_PM1_EVT_OFF / 4:
		return sts | (u32)pm->en << 16;
	case ACPI_PM1_CNT_OFF / 4:
		return pm->cnt | PM1_SCI_EN;
	default:
		return tick & TMR_MASK;
	}
}

static u32 pm_io_read(void *dev, u16 port, u32 size)
{
	struct acpi_pm *pm = dev;
	u64 tick = pm_tick(pm);
	u32 v = 0;

	for (u32 i = 0; i < size; i++) {
		unsigned off = port - pm->base + i;

		v |= (pm_dword(pm, off / 4, tick) >> (8 * (off % 4)) & 0xff) << (8 * i);
	}
	return v;
}

static void pm_sleep(struct acpi_pm *pm)
{
	if ((pm->cnt & PM1_SLP_TYP) >> PM1_SLP_TYP_SHIFT == ACPI_PM_SLP_TYP_S5) {
		pm->power_off(pm->ctx);
		return;
	}
	pm->wak_sts = PM1_WAK_STS;
	pm->sleeps++;
}

static void pm_write_byte(struct acpi_pm *pm, unsigned off, u8 b, u64 tick)
{
	unsigned shift = 8 * (off % 2);

	switch (off) {
	case ACPI_PM1_EVT_OFF:
		if (b & PM1_TMR_STS)
			pm->tmr_carry = tick >> TMR_CARRY_SHIFT;
		break;
	case ACPI_PM1_EVT_OFF + 1:
		if (b & PM1_WAK_STS >> 8)
			pm->wak_sts = 0;
		break;
	case ACPI_PM1_EVT_OFF + 2:
	case ACPI_PM1_EVT_OFF + 3:
		pm->en = (pm->en & ~(0xff << shift)) | ((b << shift) & PM1_EN_MASK);
		break;
	case ACPI_PM1_CNT_OFF:
		pm->cnt = (pm->cnt & ~0xff) | (b & PM1_BM_RLD);
		break;
	case ACPI_PM1_CNT_OFF + 1:
		/* SLP_EN acts on the SLP_TYP written with it (ACPI 6.5 4.8.3.2.1). */
		pm->cnt = (pm->cnt & 0xff) | ((b << 8) & PM1_SLP_TYP);
		if (b & PM1_SLP_EN >> 8)
			pm_sleep(pm);
		break;
	default: /* the timer is read-only */
		break;
	}
}

static void pm_io_write(void *dev, u16 port, u32 size, u32 value)
{
	struct acpi_pm *pm = dev;
	u64 tick = pm_tick(pm);

	for (u32 i = 0; i < size; i++)
		pm_write_byte(pm, port - pm->base + i, value >> (8 * i), tick);
}

static const struct vdev_ops pm_ops = { .io_read = pm_io_read, .io_write = pm_io_write };

int acpi_pm_init(struct acpi_pm *pm, u16 base, struct vclock clock,
		 void (*power_off)(void *ctx), void *ctx)
{
	if (!clock.now || !clock.hz || clock.hz > ~0ull / ACPI_PM_TIMER_HZ || !power_off ||
	    base > 0xffff - (ACPI_PM_SPAN - 1))
		return -1;
	*pm = (struct acpi_pm){ .base = base, .clock = clock, .power_off = power_off, .ctx = ctx };
	pm->start = clock.now(clock.ctx);
	return 0;
}

int acpi_pm_register(struct acpi_pm *pm, struct vdev_bus *bus)
{
	u16 b = pm->base, cnt_end = b + ACPI_PM1_CNT_OFF + ACPI_PM1_CNT_LEN - 1;
	u16 tmr = b + ACPI_PM_TMR_OFF;

	if (vdev_register_ports(bus, b + ACPI_PM1_EVT_OFF, cnt_end, &pm_ops, pm, "acpi-pm1") ||
	    vdev_register_ports(bus, tmr, tmr + ACPI_PM_TMR_LEN - 1, &pm_ops, pm, "acpi-pmtmr"))
		return -1;
	return 0;
}
