/* Ending a run: every path out of Kestrel goes through power_off() with one of these codes. */
#ifndef KESTREL_POWER_H
#define KESTREL_POWER_H

#include <kestrel/config.h>
#include <kestrel/types.h>

enum kestrel_exit {
	KEXIT_OK = 0,         /* ran to the end */
	KEXIT_NO_VTX = 1,     /* VT-x absent, disabled, or lacking a feature Kestrel requires */
	KEXIT_BAD_CONFIG = 2, /* kestrel.cfg rejected */
	KEXIT_BOOT_ERROR = 3, /* the loader could not prepare the hypervisor (file, memory) */
	KEXIT_PANIC = 4,      /* a root-mode exception or internal error: a Kestrel bug */
	KEXIT_GUEST_FAILED = 5, /* every guest ended, at least one not with status 0 */
};

/* Under QEMU the code is written to isa-debug-exit at this port as 0x10 + code, so QEMU exits
 * with ((0x10 + code) << 1) | 1 and never collides with its own exit codes 0 and 1. */
#define QEMU_DEBUG_EXIT_PORT 0xf4
#define QEMU_DEBUG_EXIT_BASE 0x10

/* How to end the run: the harness from kestrel.cfg and, on hardware, the ACPI tables. */
void power_init(enum harness harness, u64 rsdp);

/* Print "[hv] exit: code N (name)" and end the run; on hardware, ACPI S5 power-off. */
NORETURN void power_off(enum kestrel_exit code);

const char *kexit_name(enum kestrel_exit code);

#endif
