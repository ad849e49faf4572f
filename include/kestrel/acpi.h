/*
 * Host ACPI tables: just enough to power the machine off (FADT PM1 control blocks and the
 * DSDT's \_S5 package, ACPI 6.5 sections 4.8.3.2, 5.2.9 and 7.4.2). Table memory is reached
 * through a callback so the host unit tests and fuzzers can feed synthetic tables.
 */
#ifndef KESTREL_ACPI_H
#define KESTREL_ACPI_H

#include <kestrel/types.h>

/* Returns a pointer to `len` readable bytes at physical `phys`, or NULL if it cannot. */
typedef const void *(*acpi_map_fn)(void *ctx, u64 phys, u64 len);

struct acpi_s5 {
	u16 pm1a_cnt; /* I/O port of PM1a_CNT */
	u16 pm1b_cnt; /* 0 when absent */
	u8 slp_typa, slp_typb;
};

/* Find the S5 sleep values. Returns 0, or -1 with the reason in `err`. */
int acpi_find_s5(u64 rsdp, acpi_map_fn map, void *ctx, struct acpi_s5 *out, char *err,
		 size_t errlen);

#endif
