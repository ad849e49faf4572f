/*
 * ACPI table builder round trip (guest/acpi_tables.c, read back by drivers/acpi.c). Input: the
 * platform (n_cpus, LAPIC and IOAPIC addresses, IOAPIC ID, PM base), the buffer's guest-physical
 * address and its size (at most 64 KiB, an exact-size heap buffer). Whatever acpi_build accepts
 * must read back through acpi_find_s5 with the PM1a control port of the PM block and SLP_TYP 5,
 * with the RSDP 16-byte aligned inside the buffer, and nothing past the XSDT written.
 */
#include <string.h>

#include <kestrel/acpi.h>
#include <kestrel/acpi_pm.h>
#include <kestrel/acpi_tables.h>

#include "fuzz.h"

struct view {
	const u8 *buf;
	u64 gpa, size;
};

static const void *map(void *ctx, u64 phys, u64 len)
{
	const struct view *v = ctx;

	if (phys < v->gpa || phys - v->gpa > v->size || len > v->size - (phys - v->gpa))
		return NULL;
	return v->buf + (phys - v->gpa);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acpi_platform p = {
		.n_cpus = (u32)fuzz_le(data, size, 0, 2),
		.lapic_addr = (u32)fuzz_le(data, size, 2, 4),
		.ioapic_addr = (u32)fuzz_le(data, size, 6, 4),
		.ioapic_id = (u8)fuzz_le(data, size, 10, 1),
		.pm_base = (u16)fuzz_le(data, size, 11, 2),
	};
	u64 gpa = fuzz_le(data, size, 13, 8), buf_size = fuzz_le(data, size, 21, 2);
	u64 rsdp = 0;
	struct acpi_s5 s5;
	char err[64];
	u8 *buf;
	int r;

	if (size > 23 && data[23] & 1)
		buf_size |= 0x10000; /* up to 128 KiB */
	buf = malloc(buf_size ? buf_size : 1);
	FUZZ_CHECK(buf);
	memset(buf, 0xa5, buf_size);
	r = acpi_build(buf, buf_size, gpa, &p, &rsdp);
	FUZZ_CHECK(r == 0 || r == -1);
	/* A valid platform always fits in 4 KiB below 4 GiB (the MADT of 255 CPUs is 2122 bytes).
	 */
	if (p.n_cpus >= 1 && p.n_cpus <= ACPI_MAX_CPUS && p.pm_base &&
	    p.pm_base <= 0xffff - (ACPI_PM_SPAN - 1) && buf_size >= 4096 && gpa <= GiB(4) - 4096)
		FUZZ_CHECK(r == 0);
	if (r == 0) {
		struct view v = { buf, gpa, buf_size };
		u64 end = 0;

		FUZZ_CHECK(p.n_cpus >= 1 && p.n_cpus <= ACPI_MAX_CPUS && p.pm_base);
		FUZZ_CHECK(gpa < GiB(4) && rsdp >= gpa && rsdp - gpa + 36 <= buf_size);
		FUZZ_CHECK(rsdp % 16 == 0 && rsdp + 36 <= GiB(4));
		FUZZ_CHECK(acpi_find_s5(rsdp, map, &v, &s5, err, sizeof(err)) == 0);
		FUZZ_CHECK(s5.pm1a_cnt == p.pm_base + ACPI_PM1_CNT_OFF && s5.pm1b_cnt == 0);
		FUZZ_CHECK(s5.slp_typa == ACPI_PM_SLP_TYP_S5 && s5.slp_typb == ACPI_PM_SLP_TYP_S5);
		/* The XSDT is the last table: past it, the buffer is untouched. */
		end = fuzz_le(buf + (rsdp - gpa), 36, 24, 8) - gpa;
		FUZZ_CHECK(end < buf_size);
		end += fuzz_le(buf, buf_size, end + 4, 4);
		FUZZ_CHECK(end <= buf_size && end + gpa <= GiB(4));
		FUZZ_CHECK(fuzz_all(buf + end, buf_size - end, 0xa5));
	}
	free(buf);
	return 0;
}
