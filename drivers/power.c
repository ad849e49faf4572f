/*
 * Ending a run. The last line on the serial port always states the exit code; then the run is
 * ended the way its host understands, so a test harness reads an exact result and never guesses.
 */
#include <kestrel/acpi.h>
#include <kestrel/cpu.h>
#include <kestrel/log.h>
#include <kestrel/power.h>
#include <kestrel/serial.h>

#define BOCHS_SHUTDOWN_PORT 0x8900
#define ACPI_SLP_EN (1u << 13)
#define ACPI_SLP_TYP_SHIFT 10

static enum harness run_harness;
static struct acpi_s5 s5;
static bool s5_valid;

static const void *acpi_identity_map(void *ctx, u64 phys, u64 len)
{
	return (const void *)phys; /* root mode maps all RAM and firmware tables 1:1 */
}

void power_init(enum harness harness, u64 rsdp)
{
	char err[96];

	run_harness = harness;
	s5_valid = false;
	if (!rsdp)
		return;
	if (acpi_find_s5(rsdp, acpi_identity_map, NULL, &s5, err, sizeof(err)) == 0) {
		s5_valid = true;
		log_info("ACPI: S5 via PM1a_CNT 0x%x (SLP_TYP %u)%s", s5.pm1a_cnt, s5.slp_typa,
			 s5.pm1b_cnt ? " and PM1b_CNT" : "");
	} else {
		log_warn("ACPI: no S5 power-off (%s); Kestrel will halt instead", err);
	}
}

const char *kexit_name(enum kestrel_exit code)
{
	switch (code) {
	case KEXIT_OK:
		return "ok";
	case KEXIT_NO_VTX:
		return "no-vtx";
	case KEXIT_BAD_CONFIG:
		return "bad-config";
	case KEXIT_BOOT_ERROR:
		return "boot-error";
	case KEXIT_PANIC:
		return "panic";
	case KEXIT_GUEST_FAILED:
		return "guest-failed";
	}
	return "unknown";
}

static void acpi_power_off(void)
{
	outw(s5.pm1a_cnt, (u16)(s5.slp_typa << ACPI_SLP_TYP_SHIFT | ACPI_SLP_EN));
	if (s5.pm1b_cnt)
		outw(s5.pm1b_cnt, (u16)(s5.slp_typb << ACPI_SLP_TYP_SHIFT | ACPI_SLP_EN));
}

NORETURN void power_off(enum kestrel_exit code)
{
	irq_disable();
	log_info("exit: code %u (%s)", code, kexit_name(code));
	/* Every byte must be on the wire before the emulator or the machine goes away. */
	serial_set_buffered(false);
	switch (run_harness) {
	case HARNESS_QEMU:
		outl(QEMU_DEBUG_EXIT_PORT, QEMU_DEBUG_EXIT_BASE + code);
		break;
	case HARNESS_BOCHS:
		/* Magic breakpoint: the harness' rc file answers it with "quit" (exit status 0). */
		__asm__ volatile("xchg %%bx, %%bx" ::: "memory");
		for (const char *s = "Shutdown"; *s; s++)
			outb(BOCHS_SHUTDOWN_PORT, (u8)*s);
		break;
	case HARNESS_NONE:
		if (s5_valid) {
			log_info("powering off (ACPI S5)");
			acpi_power_off();
		}
		break;
	}
	log_info("halted: switch the machine off");
	cpu_halt_forever();
}
