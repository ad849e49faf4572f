/*
 * kestrel.cfg: the boot configuration. Plain C with no firmware or hardware dependency, so the
 * host unit tests and the fuzzer link it directly. Format: docs/config.md.
 */
#ifndef KESTREL_CONFIG_H
#define KESTREL_CONFIG_H

#include <kestrel/types.h>

#define CONFIG_MAX_GUESTS 8
#define CONFIG_NAME_MAX 32      /* guest name, including the NUL */
#define CONFIG_PATH_MAX 128     /* file name on the boot volume, including the NUL */
#define CONFIG_CMDLINE_MAX 1024 /* guest kernel command line, including the NUL */
#define CONFIG_LINE_MAX 1100    /* longest accepted line, excluding the newline */
#define CONFIG_ERR_MAX 160      /* room for one error message */

#define CONFIG_HV_MEMORY_DEFAULT MiB(64)
#define CONFIG_HV_MEMORY_MIN MiB(8)
#define CONFIG_HV_MEMORY_MAX GiB(4)
#define CONFIG_GUEST_MEMORY_DEFAULT MiB(64)
#define CONFIG_GUEST_MEMORY_MIN MiB(1)
#define CONFIG_GUEST_MEMORY_MAX GiB(64)
#define CONFIG_GUEST_CPUS_MAX 64
#define CONFIG_WATCHDOG_MAX 3600

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* How a run ends: on hardware through ACPI (or back to the firmware), under a test harness
 * through the emulator's exit device so the harness reads an exact code. */
enum harness { HARNESS_NONE, HARNESS_QEMU, HARNESS_BOCHS };

/* Deliberate faults for the boot tests; never set on a real boot. */
enum selftest { SELFTEST_NONE, SELFTEST_FAULT, SELFTEST_WRITE_CODE, SELFTEST_STACK_OVERFLOW };

/* Host serial input to the first guest's UART: by default only when no harness runs Kestrel. */
enum console_input { INPUT_AUTO, INPUT_ON, INPUT_OFF };

struct guest_config {
	char name[CONFIG_NAME_MAX];
	char kernel[CONFIG_PATH_MAX];
	char initrd[CONFIG_PATH_MAX]; /* "" when none */
	char cmdline[CONFIG_CMDLINE_MAX];
	u64 memory; /* bytes, a multiple of 1 MiB */
	u32 cpus;
	u32 watchdog; /* seconds a guest may run with interrupts disabled; 0 = no limit */
	u32 line; /* line of the [guest NAME] header, for later error messages */
};

struct config {
	enum log_level loglevel;
	u64 hv_memory; /* bytes, a multiple of 2 MiB */
	enum harness harness;
	enum selftest selftest;
	enum console_input input;
	u32 n_guests;
	struct guest_config guests[CONFIG_MAX_GUESTS];
};

/* Defaults for every key (no guests). */
void config_init(struct config *cfg);

/*
 * Parse `len` bytes of `text` (not NUL-terminated; may contain any bytes) into `cfg`, which is
 * initialised first. Returns 0, or -1 with a message in `err` of the form
 * "<filename>:<line>: <problem>" (e.g. "kestrel.cfg:7: unknown key 'memroy'").
 * On error, every key parsed before the failing line stays set in `cfg`, so the loader can still
 * honour an earlier `harness` key to end a test run cleanly; the last guest may be incomplete.
 */
int config_parse(const char *text, size_t len, const char *filename, struct config *cfg, char *err,
		 size_t errlen);

const char *config_harness_name(enum harness h);
const char *config_selftest_name(enum selftest s);
const char *config_loglevel_name(enum log_level l);

#endif
