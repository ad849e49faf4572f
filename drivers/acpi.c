/*
 * Finding the S5 (soft-off) sleep values: RSDP -> XSDT/RSDT -> FADT -> DSDT -> \_S5 package.
 * Every table is length- and checksum-checked before use; nothing here trusts the firmware.
 */
#include <kestrel/acpi.h>
#include <kestrel/fmt.h>
#include <kestrel/string.h>

#define SDT_HEADER_LEN 36
#define ACPI_TABLE_MAX MiB(4) /* no sane table is larger; bounds a corrupt length */
#define AML_NAME_OP 0x08
#define AML_PACKAGE_OP 0x12
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_BYTE_PREFIX 0x0a

struct acpi_ctx {
	acpi_map_fn map;
	void *ctx;
	char *err;
	size_t errlen;
};

static int fail(struct acpi_ctx *a, const char *msg)
{
	fmt_snprintf(a->err, a->errlen, "%s", msg);
	return -1;
}

static u32 get32(const u8 *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24;
}

static u64 get64(const u8 *p)
{
	return get32(p) | (u64)get32(p + 4) << 32;
}

static bool checksum_ok(const u8 *p, u64 len)
{
	u8 sum = 0;

	for (u64 i = 0; i < len; i++)
		sum += p[i];
	return sum == 0;
}

/* Map a whole SDT (header first, then its full length) and check its signature and checksum. */
static const u8 *map_table(struct acpi_ctx *a, u64 phys, const char *sig, u32 *len)
{
	const u8 *hdr;

	if (!phys)
		return NULL;
	hdr = a->map(a->ctx, phys, SDT_HEADER_LEN);
	if (!hdr || (sig && memcmp(hdr, sig, 4)))
		return NULL;
	*len = get32(hdr + 4);
	if (*len < SDT_HEADER_LEN || *len > ACPI_TABLE_MAX)
		return NULL;
	hdr = a->map(a->ctx, phys, *len);
	if (!hdr || !checksum_ok(hdr, *len))
		return NULL;
	return hdr;
}

static const u8 *find_fadt(struct acpi_ctx *a, u64 rsdp_phys, u32 *fadt_len)
{
	const u8 *rsdp = a->map(a->ctx, rsdp_phys, 36), *sdt;
	u32 sdt_len, entry_size;
	u64 sdt_phys;

	if (!rsdp || memcmp(rsdp, "RSD PTR ", 8) || !checksum_ok(rsdp, 20))
		return NULL;
	/* ACPI 6.5 5.2.5.3: revision >= 2 has the XSDT and a checksum over 36 bytes. */
	if (rsdp[15] >= 2 && checksum_ok(rsdp, 36) && get64(rsdp + 24)) {
		sdt_phys = get64(rsdp + 24);
		entry_size = 8;
		sdt = map_table(a, sdt_phys, "XSDT", &sdt_len);
	} else {
		sdt_phys = get32(rsdp + 16);
		entry_size = 4;
		sdt = map_table(a, sdt_phys, "RSDT", &sdt_len);
	}
	if (!sdt)
		return NULL;
	for (u32 off = SDT_HEADER_LEN; off + entry_size <= sdt_len; off += entry_size) {
		u64 entry = entry_size == 8 ? get64(sdt + off) : get32(sdt + off);
		const u8 *t = map_table(a, entry, "FACP", fadt_len);

		if (t)
			return t;
	}
	return NULL;
}

/* AML integer constants as _S5 packages use them (ACPI 6.5 20.2.3). Returns bytes used. */
static int aml_small_int(const u8 *p, const u8 *end, u8 *out)
{
	if (p >= end)
		return 0;
	if (*p == AML_ZERO_OP || *p == AML_ONE_OP) {
		*out = *p;
		return 1;
	}
	if (*p == AML_BYTE_PREFIX && p + 1 < end) {
		*out = p[1];
		return 2;
	}
	return 0;
}

/* Find "Name(_S5, Package() { SLP_TYPa, SLP_TYPb, ... })" in the DSDT's AML. */
static int parse_s5(const u8 *aml, u32 len, struct acpi_s5 *out)
{
	const u8 *end = aml + len;

	for (const u8 *p = aml; p + 4 < end; p++) {
		const u8 *q;
		int used;

		if (memcmp(p, "_S5_", 4))
			continue;
		/* Preceded by NameOp (optionally with a root prefix '\'), followed by a package. */
		if (p == aml || !(p[-1] == AML_NAME_OP || (p[-1] == '\\' && p - 1 > aml &&
							     p[-2] == AML_NAME_OP)))
			continue;
		q = p + 4;
		if (q >= end || *q != AML_PACKAGE_OP)
			continue;
		q++;
		if (q >= end)
			return -1;
		q += 1 + (*q >> 6); /* PkgLength: the lead byte's bits 7:6 count the extra bytes */
		q++;                /* NumElements */
		used = aml_small_int(q, end, &out->slp_typa);
		if (!used)
			return -1;
		q += used;
		if (!aml_small_int(q, end, &out->slp_typb))
			out->slp_typb = out->slp_typa;
		return 0;
	}
	return -1;
}

int acpi_find_s5(u64 rsdp, acpi_map_fn map, void *ctx, struct acpi_s5 *out, char *err,
		 size_t errlen)
{
	struct acpi_ctx a = { map, ctx, err, errlen };
	const u8 *fadt, *dsdt;
	u32 fadt_len, dsdt_len;
	u64 dsdt_phys;

	*out = (struct acpi_s5){ 0 };
	fadt = find_fadt(&a, rsdp, &fadt_len);
	if (!fadt)
		return fail(&a, "no valid RSDP/XSDT/FADT");
	if (fadt_len < 116)
		return fail(&a, "FADT too short");
	/* ACPI 6.5 5.2.9: PM1a_CNT_BLK at 64, PM1b_CNT_BLK at 68, DSDT at 40, X_DSDT at 140. */
	if (get32(fadt + 64) == 0 || get32(fadt + 64) > 0xffff)
		return fail(&a, "FADT has no PM1a control block in I/O space");
	out->pm1a_cnt = (u16)get32(fadt + 64);
	out->pm1b_cnt = get32(fadt + 68) <= 0xffff ? (u16)get32(fadt + 68) : 0;
	dsdt_phys = fadt_len >= 148 && get64(fadt + 140) ? get64(fadt + 140) : get32(fadt + 40);
	dsdt = map_table(&a, dsdt_phys, "DSDT", &dsdt_len);
	if (!dsdt)
		return fail(&a, "no valid DSDT");
	if (parse_s5(dsdt + SDT_HEADER_LEN, dsdt_len - SDT_HEADER_LEN, out))
		return fail(&a, "DSDT has no usable \\_S5 package");
	return 0;
}
