/*
 * The guest's ACPI tables, read back by the host's own parser (drivers/acpi.c), by field-level
 * checks of every table, by a small AML walker, and by driving the devices they describe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/acpi.h>
#include <kestrel/acpi_pm.h>
#include <kestrel/acpi_tables.h>
#include <kestrel/pci_host.h>

#include "vdev_fuzz.h"

#define GPA 0xe0000ull
#define REGION KiB(64)
#define GUARD 256
#define FILL 0xaa

static u8 mem[REGION + GUARD];

struct view {
	const u8 *buf;
	u64 gpa, size;
};

static const void *map_view(void *ctx, u64 phys, u64 len)
{
	const struct view *v = ctx;

	if (phys < v->gpa || phys - v->gpa > v->size || len > v->size - (phys - v->gpa))
		return NULL;
	return v->buf + (phys - v->gpa);
}

static u16 get16(const u8 *p)
{
	return p[0] | p[1] << 8;
}

static u32 get32(const u8 *p)
{
	return get16(p) | (u32)get16(p + 2) << 16;
}

static u64 get64(const u8 *p)
{
	return get32(p) | (u64)get32(p + 4) << 32;
}

static u8 sum(const u8 *p, u64 len)
{
	u8 s = 0;

	for (u64 i = 0; i < len; i++)
		s += p[i];
	return s;
}

static const struct acpi_platform default_platform = {
	.n_cpus = 4,
	.lapic_addr = 0xfee00000,
	.ioapic_addr = 0xfec00000,
	.ioapic_id = 0,
	.pm_base = 0x600,
};

/* A table by address: inside the view, its signature, length and checksum right. */
static const u8 *table(const struct view *v, u64 at, const char *sig, u32 *len)
{
	const u8 *t = map_view((void *)v, at, 36);

	assert_non_null(t);
	assert_memory_equal(t, sig, 4);
	*len = get32(t + 4);
	assert_non_null(map_view((void *)v, at, *len));
	assert_int_equal(sum(t, *len), 0);
	assert_memory_equal(t + 10, "KESTRL", 6);
	return t;
}

static void check_gas_io(const u8 *g, u64 port, u8 bits)
{
	assert_int_equal(g[0], 1); /* system I/O */
	assert_int_equal(g[1], bits);
	assert_int_equal(g[2], 0);
	assert_int_equal(get64(g + 4), port);
}

/* Local APIC, I/O APIC, the two overrides and the NMI, in that order and nothing else. */
static void check_madt(const u8 *m, u32 len, const struct acpi_platform *p)
{
	const u8 *e = m + 44, *end = m + len;
	u32 cpus = 0;

	assert_int_equal(m[8], 5);
	assert_int_equal(get32(m + 36), p->lapic_addr);
	assert_int_equal(get32(m + 40), 1); /* PCAT_COMPAT */
	assert_int_equal(len, 44 + 8 * p->n_cpus + 12 + 2 * 10 + 6);
	while (e < end && e[0] == 0) {
		assert_int_equal(e[1], 8);
		assert_int_equal(e[2], cpus); /* processor UID */
		assert_int_equal(e[3], cpus); /* APIC ID */
		assert_int_equal(get32(e + 4), 1);
		cpus++;
		e += 8;
	}
	assert_int_equal(cpus, p->n_cpus);
	assert_true(e[0] == 1 && e[1] == 12 && e[2] == p->ioapic_id && e[3] == 0);
	assert_int_equal(get32(e + 4), p->ioapic_addr);
	assert_int_equal(get32(e + 8), 0);
	e += 12;
	assert_true(e[0] == 2 && e[1] == 10 && e[2] == 0 && e[3] == 0);
	assert_int_equal(get32(e + 4), 2);
	assert_int_equal(get16(e + 8), 0x0005); /* IRQ0 -> GSI 2, edge, active high */
	e += 10;
	assert_true(e[0] == 2 && e[1] == 10 && e[2] == 0 && e[3] == 9);
	assert_int_equal(get32(e + 4), 9);
	assert_int_equal(get16(e + 8), 0x000d); /* SCI: level, active high */
	e += 10;
	assert_true(e[0] == 4 && e[1] == 6 && e[2] == 0xff && get16(e + 3) == 0 && e[5] == 1);
	assert_ptr_equal(e + 6, end);
}

/* --- a small AML walker: exactly the opcodes a DSDT like ours may use ------------------- */

struct aml_seen {
	bool s5, hid, bbn, crs;
	char scope[16];
};

static u32 pkg_length(const u8 **p, const u8 *end)
{
	u32 lead, len, extra;

	assert_true(*p < end);
	lead = **p;
	extra = lead >> 6;
	assert_true(*p + extra < end);
	len = extra ? lead & 0x0f : lead & 0x3f;
	for (u32 i = 0; i < extra; i++)
		len |= (u32)(*p)[1 + i] << (4 + 8 * i);
	return len;
}

/* A data object; returns its length. Integers go to *value. */
static u32 aml_data(const u8 *p, const u8 *end, u64 *value)
{
	u32 len;

	assert_true(p < end);
	switch (p[0]) {
	case 0x00: /* Zero */
	case 0x01: /* One */
		*value = p[0];
		return 1;
	case 0x0a:
		assert_true(p + 2 <= end);
		*value = p[1];
		return 2;
	case 0x0b:
		assert_true(p + 3 <= end);
		*value = get16(p + 1);
		return 3;
	case 0x0c:
		assert_true(p + 5 <= end);
		*value = get32(p + 1);
		return 5;
	case 0x11: /* Buffer */
	case 0x12: /* Package */
		len = pkg_length(&(const u8 *){ p + 1 }, end);
		assert_true(p + 1 + len <= end);
		*value = 0;
		return 1 + len;
	default:
		fail_msg("unexpected AML data opcode %#x", p[0]);
		return 0;
	}
}

/* _CRS: resource descriptors up to an end tag that closes the buffer exactly. */
static void check_crs(const u8 *p, const u8 *end)
{
	bool bus_range = false;

	while (p < end) {
		u32 len;

		if (p[0] & 0x80) {
			assert_true(p + 3 <= end);
			len = 3 + get16(p + 1);
			assert_true(p + len <= end);
			if (p[0] == 0x88 && p[3] == 2) { /* word address space: bus numbers */
				assert_int_equal(get16(p + 8), 0);
				assert_int_equal(get16(p + 10), 0xff);
				assert_int_equal(get16(p + 14), 0x100);
				bus_range = true;
			}
		} else {
			len = 1 + (p[0] & 7);
			assert_true(p + len <= end);
			if ((p[0] >> 3) == 0x0f) { /* end tag */
				assert_ptr_equal(p + len, end);
				assert_true(bus_range);
				return;
			}
		}
		p += len;
	}
	fail_msg("_CRS without an end tag");
}

static void aml_terms(const u8 *p, const u8 *end, struct aml_seen *seen);

static void aml_named(const u8 *p, const u8 *end, struct aml_seen *seen)
{
	u64 v = ~0ull;
	const u8 *q;
	u32 used;

	if (*p == '\\')
		p++;
	assert_true(p + 4 < end);
	used = aml_data(p + 4, end, &v);
	assert_ptr_equal(p + 4 + used, end);
	if (!memcmp(p, "_S5_", 4) && !strcmp(seen->scope, "")) {
		q = p + 5;
		pkg_length(&q, end);
		q += 1 + (q[0] >> 6);
		assert_int_equal(*q++, 4);
		for (unsigned i = 0; i < 4; i++) {
			q += aml_data(q, end, &v);
			assert_int_equal(v, i < 2 ? ACPI_PM_SLP_TYP_S5 : 0);
		}
		assert_ptr_equal(q, end);
		seen->s5 = true;
	} else if (!memcmp(p, "_HID", 4) && !strcmp(seen->scope, "_SB_PCI0")) {
		assert_int_equal(v, 0x030ad041); /* EisaId("PNP0A03") */
		seen->hid = true;
	} else if (!memcmp(p, "_BBN", 4) && !strcmp(seen->scope, "_SB_PCI0")) {
		assert_int_equal(v, 0);
		seen->bbn = true;
	} else if (!memcmp(p, "_CRS", 4) && !strcmp(seen->scope, "_SB_PCI0")) {
		q = p + 5;
		pkg_length(&q, end);
		q += 1 + (q[0] >> 6);
		used = aml_data(q, end, &v);
		assert_int_equal(v, end - (q + used)); /* BufferSize: the bytes that follow */
		check_crs(q + used, end);
		seen->crs = true;
	} else {
		fail_msg("unexpected name %.4s in \\%s", p, seen->scope);
	}
}

/* Scope and Device open a PkgLength-bounded body that must end inside its parent. */
static void aml_terms(const u8 *p, const u8 *end, struct aml_seen *seen)
{
	while (p < end) {
		const u8 *body, *body_end, *q;
		size_t depth = strlen(seen->scope);
		u64 v;

		switch (p[0]) {
		case 0x08: /* NameOp: the name and one data object */
			q = p + 1 + (p[1] == '\\');
			body_end = q + 4 + aml_data(q + 4, end, &v);
			aml_named(p + 1, body_end, seen);
			p = body_end;
			break;
		case 0x10: /* ScopeOp */
		case 0x5b: /* ExtOpPrefix: DeviceOp */
			if (p[0] == 0x5b)
				assert_int_equal(p[1], 0x82);
			body = p + (p[0] == 0x5b ? 2 : 1);
			body_end = body + pkg_length(&(const u8 *){ body }, end);
			assert_true(body_end <= end);
			body += 1 + (body[0] >> 6);
			assert_true(body + 4 <= body_end && depth + 4 < sizeof(seen->scope));
			memcpy(seen->scope + depth, body, 4);
			seen->scope[depth + 4] = 0;
			aml_terms(body + 4, body_end, seen);
			seen->scope[depth] = 0;
			p = body_end;
			break;
		default:
			fail_msg("unexpected AML opcode %#x", p[0]);
		}
	}
}

/* --- everything a build promises ---------------------------------------------------------- */

/* Checks the tables at rsdp_gpa and returns the bytes used from the start of the buffer. */
static u64 check_tables(const struct view *v, u64 rsdp_gpa, const struct acpi_platform *p)
{
	const u8 *rsdp, *xsdt, *fadt = NULL, *madt = NULL, *facs, *dsdt;
	u32 xsdt_len, fadt_len = 0, madt_len = 0, dsdt_len, facs_at, dsdt_at;
	u64 end = 0, at[5], lens[5];
	u16 pm = p->pm_base;
	struct aml_seen seen = { 0 };

	/* RSDP: revision 2, both checksums, XSDT, no RSDT, on a 16-byte boundary. */
	assert_int_equal(rsdp_gpa % 16, 0);
	rsdp = map_view((void *)v, rsdp_gpa, 36);
	assert_non_null(rsdp);
	assert_memory_equal(rsdp, "RSD PTR ", 8);
	assert_int_equal(sum(rsdp, 20), 0);
	assert_int_equal(sum(rsdp, 36), 0);
	assert_memory_equal(rsdp + 9, "KESTRL", 6);
	assert_int_equal(rsdp[15], 2);
	assert_int_equal(get32(rsdp + 16), 0);
	assert_int_equal(get32(rsdp + 20), 36);

	xsdt = table(v, get64(rsdp + 24), "XSDT", &xsdt_len);
	assert_int_equal(xsdt_len, 36 + 16);
	for (u32 off = 36; off < xsdt_len; off += 8) {
		u64 a = get64(xsdt + off);
		const u8 *t = map_view((void *)v, a, 4);

		assert_non_null(t);
		if (!memcmp(t, "FACP", 4))
			fadt = table(v, a, "FACP", &fadt_len);
		else
			madt = table(v, a, "APIC", &madt_len);
	}
	assert_true(fadt && madt);

	/* FADT 6.5: 276 bytes; PM blocks and their X_ twins; no SMI; reset through 0xcf9. */
	assert_int_equal(fadt_len, 276);
	assert_int_equal(fadt[8], 6);
	assert_int_equal(fadt[131], 5);
	facs_at = get32(fadt + 36);
	dsdt_at = get32(fadt + 40);
	assert_int_equal(get64(fadt + 132), 0); /* X_FIRMWARE_CTRL: FIRMWARE_CTRL is set */
	assert_int_equal(get64(fadt + 140), dsdt_at);
	assert_int_equal(get16(fadt + 46), 9);
	assert_int_equal(get32(fadt + 48), 0);
	assert_int_equal(fadt[52] | fadt[53] | fadt[54] | fadt[55], 0);
	assert_int_equal(get32(fadt + 56), pm);
	assert_int_equal(get32(fadt + 60), 0);
	assert_int_equal(get32(fadt + 64), pm + 4);
	assert_int_equal(get32(fadt + 68) | get32(fadt + 72), 0);
	assert_int_equal(get32(fadt + 76), pm + 8);
	assert_int_equal(get32(fadt + 80) | get32(fadt + 84), 0); /* no GPE blocks */
	assert_true(fadt[88] == 4 && fadt[89] == 2 && fadt[90] == 0 && fadt[91] == 4);
	assert_true(fadt[92] == 0 && fadt[93] == 0);
	assert_true(get16(fadt + 96) > 100 && get16(fadt + 98) > 1000);
	assert_int_equal(fadt[108], 0x32);
	assert_int_equal(get16(fadt + 109), 0x0005); /* legacy devices, no VGA, no 8042 */
	assert_int_equal(get32(fadt + 112), 0x00000475);
	check_gas_io(fadt + 116, 0xcf9, 8);
	assert_int_equal(fadt[128], 6);
	check_gas_io(fadt + 148, pm, 32);
	check_gas_io(fadt + 172, pm + 4, 16);
	check_gas_io(fadt + 208, pm + 8, 32);
	for (unsigned off = 160; off < 268; off += 12)
		if (off != 172 && off != 208)
			assert_int_equal(get64(fadt + off + 4) | fadt[off], 0);

	/* FACS: 64 bytes on a 64-byte boundary, version 2, no checksum. */
	assert_int_equal(facs_at % 64, 0);
	facs = map_view((void *)v, facs_at, 64);
	assert_non_null(facs);
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(get32(facs + 4), 64);
	assert_int_equal(facs[32], 2);
	assert_int_equal(get32(facs + 12) | get32(facs + 16) | get32(facs + 20), 0);

	dsdt = table(v, dsdt_at, "DSDT", &dsdt_len);
	assert_int_equal(dsdt[8], 2);
	aml_terms(dsdt + 36, dsdt + dsdt_len, &seen);
	assert_true(seen.s5 && seen.hid && seen.bbn && seen.crs);

	check_madt(madt, madt_len, p);

	/* No two structures overlap; all of them lie in what was used. */
	at[0] = rsdp_gpa;
	lens[0] = 36;
	at[1] = facs_at;
	lens[1] = 64;
	at[2] = dsdt_at;
	lens[2] = dsdt_len;
	at[3] = fadt - v->buf + v->gpa;
	lens[3] = fadt_len;
	at[4] = madt - v->buf + v->gpa;
	lens[4] = madt_len;
	end = xsdt - v->buf + xsdt_len;
	for (unsigned i = 0; i < 5; i++) {
		assert_true(at[i] + lens[i] - v->gpa <= end);
		assert_true(at[i] + lens[i] <= (xsdt - v->buf) + v->gpa);
		for (unsigned j = 0; j < i; j++)
			assert_true(at[i] >= at[j] + lens[j] || at[j] >= at[i] + lens[i]);
	}
	return end;
}

static u64 build(u64 size, u64 gpa, const struct acpi_platform *p, int expect)
{
	u64 rsdp = 0x1234;

	memset(mem, FILL, sizeof(mem));
	assert_int_equal(acpi_build(mem, size, gpa, p, &rsdp), expect);
	for (u64 i = size; i < sizeof(mem); i++)
		assert_int_equal(mem[i], FILL);
	if (expect)
		assert_int_equal(rsdp, 0x1234);
	return rsdp;
}

/* drivers/acpi.c, which powers real machines off, finds \_S5 and PM1a_CNT. */
static void host_parser_finds_s5(void **state)
{
	struct view v = { mem, GPA, REGION };
	struct acpi_s5 s5;
	char err[80] = "";
	u64 rsdp = build(REGION, GPA, &default_platform, 0);

	assert_int_equal(rsdp, GPA); /* first, where Linux's scan of 0xe0000 finds it */
	assert_int_equal(acpi_find_s5(rsdp, map_view, &v, &s5, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(s5.pm1a_cnt, 0x604);
	assert_int_equal(s5.pm1b_cnt, 0);
	assert_int_equal(s5.slp_typa, ACPI_PM_SLP_TYP_S5);
	assert_int_equal(s5.slp_typb, ACPI_PM_SLP_TYP_S5);
}

static void every_table_checks_out(void **state)
{
	struct view v = { mem, GPA, REGION };
	u64 rsdp = build(REGION, GPA, &default_platform, 0), used;

	used = check_tables(&v, rsdp, &default_platform);
	assert_true(used < 1024);
	/* Bytes past the tables were left alone. */
	for (u64 i = used; i < REGION; i++)
		assert_int_equal(mem[i], FILL);
}

static void cpu_counts(void **state)
{
	static const u32 counts[] = { 1, 2, 3, 8, 64, 254, ACPI_MAX_CPUS };

	for (unsigned i = 0; i < ARRAY_SIZE(counts); i++) {
		struct acpi_platform p = default_platform;
		struct view v = { mem, GPA, REGION };

		p.n_cpus = counts[i];
		p.ioapic_id = counts[i] & 0xff;
		check_tables(&v, build(REGION, GPA, &p, 0), &p);
	}
}

/* Any gpa: the RSDP moves to a 16-byte boundary and the FACS to a 64-byte one. */
static void unaligned_and_high_addresses(void **state)
{
	static const u64 gpas[] = { 0xe0004, 0x1234567, 0x7ffff, GiB(4) - KiB(64) };

	for (unsigned i = 0; i < ARRAY_SIZE(gpas); i++) {
		struct view v = { mem, gpas[i], REGION };
		struct acpi_s5 s5;
		char err[80];
		u64 rsdp = build(REGION, gpas[i], &default_platform, 0);

		assert_true(rsdp >= gpas[i] && rsdp < gpas[i] + 16);
		check_tables(&v, rsdp, &default_platform);
		assert_int_equal(acpi_find_s5(rsdp, map_view, &v, &s5, err, sizeof(err)), 0);
	}
}

/* Every size short of what the tables need is refused, and nothing past it is written. */
static void too_small_refused(void **state)
{
	struct view v = { mem, GPA, REGION };
	u64 need = check_tables(&v, build(REGION, GPA, &default_platform, 0), &default_platform);

	for (u64 size = 0; size < need; size++)
		build(size, GPA, &default_platform, -1);
	v.size = need;
	check_tables(&v, build(need, GPA, &default_platform, 0), &default_platform);
	/* Not below 4 GiB (at a 64-byte aligned gpa the layout is the same as at 0xe0000). */
	build(REGION, GiB(4), &default_platform, -1);
	build(REGION, ~0ull - 8, &default_platform, -1);
	build(REGION, GiB(4) - ALIGN_UP(need, 64) + 64, &default_platform, -1);
	v.gpa = GiB(4) - ALIGN_UP(need, 64);
	check_tables(&v, build(REGION, v.gpa, &default_platform, 0), &default_platform);
}

static void bad_platforms_refused(void **state)
{
	struct acpi_platform p = default_platform;

	p.n_cpus = 0;
	build(REGION, GPA, &p, -1);
	p.n_cpus = ACPI_MAX_CPUS + 1;
	build(REGION, GPA, &p, -1);
	p = default_platform;
	p.pm_base = 0;
	build(REGION, GPA, &p, -1);
	p.pm_base = 0xfff5;
	build(REGION, GPA, &p, -1);
	p.pm_base = 0xfff4;
	build(REGION, GPA, &p, 0);
}

static void count_call(void *ctx)
{
	(*(unsigned *)ctx)++;
}

static u64 zero_clock(void *ctx)
{
	return 0;
}

/* What the tables name works: S5 powers off, RESET_REG resets, the PM timer ticks. */
static void tables_drive_the_devices(void **state)
{
	struct acpi_platform p = default_platform;
	struct view v = { mem, GPA, REGION };
	struct vdev_bus bus;
	struct acpi_pm pm;
	struct pci_host pci;
	struct acpi_s5 s5;
	unsigned offs = 0, resets = 0;
	char err[80];
	const u8 *fadt;
	u32 len;
	u64 rsdp, xsdt;

	p.pm_base = 0xb000;
	rsdp = build(REGION, GPA, &p, 0);
	vdev_bus_init(&bus);
	assert_int_equal(acpi_pm_init(&pm, p.pm_base, (struct vclock){ zero_clock, NULL, 1000 },
				      count_call, &offs), 0);
	assert_int_equal(acpi_pm_register(&pm, &bus), 0);
	assert_int_equal(pci_host_init(&pci, count_call, &resets), 0);
	assert_int_equal(pci_host_register(&pci, &bus), 0);

	/* drivers/power.c's write. */
	assert_int_equal(acpi_find_s5(rsdp, map_view, &v, &s5, err, sizeof(err)), 0);
	vdev_io_write(&bus, s5.pm1a_cnt, 2, s5.slp_typa << 10 | 1u << 13);
	assert_int_equal(offs, 1);

	/* ACPICA's acpi_reset(): the reset value, a byte, to the reset register's port. */
	xsdt = get64(mem + (rsdp - GPA) + 24);
	fadt = table(&v, get64(mem + (xsdt - GPA) + 36), "FACP", &len);
	assert_true(get32(fadt + 112) & 1u << 10);
	vdev_io_write(&bus, get64(fadt + 116 + 4), 1, fadt[128]);
	assert_int_equal(resets, 1);

	/* The PM timer and SCI_EN at the addresses the FADT gives. */
	assert_int_equal(vdev_io_read(&bus, get64(fadt + 208 + 4), 4), 0);
	assert_int_equal(vdev_io_read(&bus, get64(fadt + 172 + 4), 2) & 1, 1);
	assert_int_equal(bus.unclaimed_reads + bus.unclaimed_writes, 0);
}

/* Random platforms, addresses and sizes: a valid build or a refusal, never a stray write. */
static void random_builds(void **state)
{
	struct fuzz_rng rng = { 0xac91 };
	unsigned built = 0;

	for (unsigned i = 0; i < 2000; i++) {
		struct acpi_platform p = {
			.n_cpus = fuzz_next(&rng) % (ACPI_MAX_CPUS + 8),
			.lapic_addr = fuzz_next(&rng),
			.ioapic_addr = fuzz_next(&rng),
			.ioapic_id = fuzz_next(&rng),
			.pm_base = fuzz_next(&rng),
		};
		u64 gpa = fuzz_next(&rng) % 8 ? fuzz_next(&rng) : (u64)fuzz_next(&rng) << 12;
		u64 size = fuzz_next(&rng) % 4096;
		struct view v = { mem, gpa, size };
		u64 rsdp = 0x1234;
		int rc;

		memset(mem, FILL, sizeof(mem));
		rc = acpi_build(mem, size, gpa, &p, &rsdp);
		for (u64 j = size; j < sizeof(mem); j++)
			assert_int_equal(mem[j], FILL);
		if (rc == 0) {
			check_tables(&v, rsdp, &p);
			built++;
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(rsdp, 0x1234);
		}
	}
	assert_true(built > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(host_parser_finds_s5),
		cmocka_unit_test(every_table_checks_out),
		cmocka_unit_test(cpu_counts),
		cmocka_unit_test(unaligned_and_high_addresses),
		cmocka_unit_test(too_small_refused),
		cmocka_unit_test(bad_platforms_refused),
		cmocka_unit_test(tables_drive_the_devices),
		cmocka_unit_test(random_builds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
