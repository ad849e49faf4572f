/*
 * The ACPI fixed-hardware register block of one guest (ACPI 6.5 section 4.8.3): PM1a event
 * (status and enable), PM1a control and the PM timer, at the I/O base the FADT names
 * (acpi_tables builds the FADT from the offsets below).
 *
 * ACPI is always enabled (SCI_EN reads 1, the FADT has no SMI_CMD) and no SCI is ever raised:
 * there is no GPE block and no fixed power or sleep button, so only TMR_STS and WAK_STS are
 * ever set in PM1 status, and the enable bits just read back.
 * Writing SLP_EN with SLP_TYP = ACPI_PM_SLP_TYP_S5 (the DSDT's \_S5) calls power_off(), which
 * should end the guest: if it returns, the guest waits for a wake that never comes. Any other
 * sleep type is treated as an immediate wake (WAK_STS set), since the DSDT offers no other.
 */
#ifndef KESTREL_ACPI_PM_H
#define KESTREL_ACPI_PM_H

#include <kestrel/pit8254.h>
#include <kestrel/types.h>
#include <kestrel/vdev.h>

#define ACPI_PM_TIMER_HZ 3579545ull /* ACPI 6.5 4.8.3.3: the PC's 14.31818 MHz / 4 */
#define ACPI_PM_SLP_TYP_S5 5

/* Offsets from the base and lengths (FADT PM1_EVT_LEN, PM1_CNT_LEN, PM_TMR_LEN). */
#define ACPI_PM1_EVT_OFF 0
#define ACPI_PM1_EVT_LEN 4
#define ACPI_PM1_CNT_OFF 4
#define ACPI_PM1_CNT_LEN 2
#define ACPI_PM_TMR_OFF 8
#define ACPI_PM_TMR_LEN 4
#define ACPI_PM_SPAN 12 /* ports base .. base + 11 (base + 6 and + 7 stay unclaimed) */

struct acpi_pm {
	u16 base;
	struct vclock clock;
	void (*power_off)(void *ctx);
	void *ctx;
	u64 start;	/* clock time of timer tick 0 */
	u64 tick;	/* latest timer tick seen: the timer never runs backwards */
	u64 tmr_carry;	/* tick >> 23 when TMR_STS was last cleared */
	u16 wak_sts;	/* PM1_STS WAK_STS, or 0 */
	u16 en;		/* PM1_EN */
	u16 cnt;	/* PM1_CNT: BM_RLD and SLP_TYP as last written */
	u64 sleeps;	/* sleep requests other than S5, answered with an immediate wake */
};

/*
 * Timer at 0, all enables off. Returns -1 when the clock is unusable (no now(), hz 0 or so large
 * that hz * ACPI_PM_TIMER_HZ overflows) or the block would pass port 0xffff. power_off is
 * required.
 */
int acpi_pm_init(struct acpi_pm *pm, u16 base, struct vclock clock,
		 void (*power_off)(void *ctx), void *ctx);

/* Claims base..base+5 and base+8..base+11. Returns 0, or -1 if a port is taken. */
int acpi_pm_register(struct acpi_pm *pm, struct vdev_bus *bus);

#endif
