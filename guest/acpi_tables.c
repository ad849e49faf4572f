/*
 * ACPI table construction (ACPI 6.5 chapter 5). Every field is written byte by byte in little-
 * endian order, so the buffer needs no alignment; every table gets its length and checksum.
 *
 * Layout from the start of the buffer: RSDP, FACS (64-byte aligned, 5.2.10), DSDT, FADT, MADT,
 * XSDT. There is no RSDT: a revision 2 RSDP with an XSDT is what 64-bit OSes use (5.2.5.3).
 */
#include <kestrel/acpi_pm.h>
#include <kestrel/acpi_tables.h>
#include <kestrel/pci_host.h>
#include <kestrel/rtc_cmos.h>
#include <kestrel/string.h>

#define OEM_ID "KESTRL"
#define OEM_TABLE_ID "KESTREL "
#define OEM_REVISION 1
#define CREATOR_ID "KSTL"
#define CREATOR_REVISION 1

#define SDT_HEADER_LEN 36
#define RSDP_LEN 36
#define RSDP_V1_LEN 20
#define FACS_LEN 64
#define FADT_LEN 276
#define XSDT_LEN (SDT_HEADER_LEN + 2 * 8) /* FADT, MADT */

/* Generic Address Structure (5.2.3.2): address space and access size. */
#define GAS_SYSTEM_IO 1
#define GAS_BYTE 1
#define GAS_WORD 2
#define GAS_DWORD 3

/* FADT flags (5.2.9). PWR_BUTTON/SLP_BUTTON: no fixed buttons; FIX_RTC: no RTC wake. */
#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_PWR_BUTTON (1u << 4)
#define FADT_SLP_BUTTON (1u << 5)
#define FADT_FIX_RTC (1u << 6)
#define FADT_RESET_REG_SUP (1u << 10)
/* IA-PC boot architecture flags (5.2.9.3): the 8042 bit stays clear, there is none. */
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_VGA_NOT_PRESENT (1u << 2)

/* MADT (5.2.12): structure types and flags. */
#define MADT_PCAT_COMPAT 1u
#define MADT_LOCAL_APIC 0
#define MADT_IO_APIC 1
#define MADT_INT_OVERRIDE 2
#define MADT_LOCAL_APIC_NMI 4
#define MADT_ENABLED 1u
#define MADT_ALL_PROCESSORS 0xff
#define MPS_EDGE_HIGH 0x0005 /* MPS INTI flags: polarity 01 active high, trigger 01 edge */
#define MPS_LEVEL_HIGH 0x000d /* trigger 11 level */
#define MADT_HEAD_LEN (SDT_HEADER_LEN + 8)
#define MADT_LAPIC_LEN 8
#define MADT_IOAPIC_LEN 12
#define MADT_ISO_LEN 10
#define MADT_NMI_LEN 6
#define PIT_IRQ 0
#define PIT_GSI 2

#define P_LVL2_NONE 101	 /* a C2 latency above 100 us: no C2 (5.2.9) */
#define P_LVL3_NONE 1001 /* above 1000 us: no C3 */

/*
 * DefinitionBlock ("", "DSDT", 2, "KESTRL", "KESTREL ", 1)
 * {
 *     Name (_S5, Package () { 5, 5, 0, 0 })
 *     Scope (_SB) {
 *         Device (PCI0) {
 *             Name (_HID, EisaId ("PNP0A03"))
 *             Name (_BBN, Zero)
 *             Name (_CRS, ResourceTemplate () {
 *                 WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
 *                                0, 0, 0xff, 0, 0x100)
 *                 IO (Decode16, 0xcf8, 0xcf8, 1, 8)
 *             })
 *         }
 *     }
 * }
 * as iasl compiles it (ACPI 6.5 chapter 20, resource descriptors 6.4). Linux wants the bus
 * range in _CRS ("no secondary bus range in _CRS" otherwise); the config ports are the
 * bridge's own, which Linux leaves out of its I/O windows.
 */
static const u8 dsdt_aml[] = {
	0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, /* Name, Package: 8 bytes, 4 elements */
	0x0a, ACPI_PM_SLP_TYP_S5, 0x0a, ACPI_PM_SLP_TYP_S5, 0x00, 0x00,
	0x10, 0x3f, '_', 'S', 'B', '_', /* Scope: 63 bytes */
	0x5b, 0x82, 0x38, 'P', 'C', 'I', '0', /* Device: 56 bytes */
	0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03, /* DWord: "PNP0A03" compressed */
	0x08, '_', 'B', 'B', 'N', 0x00,
	0x08, '_', 'C', 'R', 'S', 0x11, 0x1d, 0x0a, 0x1a, /* Buffer: 29 bytes, 26 of data */
	0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, /* Word address space: bus numbers, fixed, producer */
	0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x47, 0x01, PCI_CONFIG_ADDRESS & 0xff, PCI_CONFIG_ADDRESS >> 8, /* I/O port, 16-bit */
	PCI_CONFIG_ADDRESS & 0xff, PCI_CONFIG_ADDRESS >> 8, 0x01, 0x08,
	0x79, 0x00, /* end tag */
};

struct builder {
	u8 *buf;
	u64 size, gpa, used;
};

/* len zeroed bytes at a guest-physical address aligned to align, or NULL when out of room. */
static u8 *take(struct builder *b, u64 len, u64 align, u32 *gpa)
{
	u64 off = ALIGN_UP(b->gpa + b->used, align) - b->gpa;

	if (off > b->size || len > b->size - off)
		return NULL;
	memset(b->buf + b->used, 0, off + len - b->used);
	b->used = off + len;
	*gpa = (u32)(b->gpa + off);
	return b->buf + off;
}

static void put16(u8 *p, u16 v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void put32(u8 *p, u32 v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static void put64(u8 *p, u64 v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

/* The byte that makes the sum of len bytes zero, where that byte is still 0. */
static u8 checksum(const u8 *p, u64 len)
{
	u8 sum = 0;

	for (u64 i = 0; i < len; i++)
		sum += p[i];
	return -sum;
}

/* System description table header (5.2.6); sdt_finish() adds the checksum at byte 9. */
static void sdt_header(u8 *t, const char *sig, u32 len, u8 revision)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = revision;
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	put32(t + 24, OEM_REVISION);
	memcpy(t + 28, CREATOR_ID, 4);
	put32(t + 32, CREATOR_REVISION);
}

static void sdt_finish(u8 *t, u32 len)
{
	t[9] = checksum(t, len);
}

/* A register block in I/O space; bit width = the legacy length, or ACPICA warns. */
static void put_gas_io(u8 *p, u16 port, u8 bits, u8 access)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = bits;
	p[3] = access;
	put64(p + 4, port);
}

/* FADT (5.2.9), revision 6.5. */
static void build_fadt(u8 *f, u32 facs, u32 dsdt, u16 pm)
{
	sdt_header(f, "FACP", FADT_LEN, 6);
	put32(f + 36, facs); /* X_FIRMWARE_CTRL stays 0: only one of the two may be set */
	put32(f + 40, dsdt);
	put16(f + 46, ACPI_SCI_IRQ);
	/* SMI_CMD, ACPI_ENABLE and ACPI_DISABLE 0: fixed hardware only, SCI_EN always set. */
	put32(f + 56, pm + ACPI_PM1_EVT_OFF);
	put32(f + 64, pm + ACPI_PM1_CNT_OFF);
	put32(f + 76, pm + ACPI_PM_TMR_OFF);
	f[88] = ACPI_PM1_EVT_LEN;
	f[89] = ACPI_PM1_CNT_LEN;
	f[91] = ACPI_PM_TMR_LEN;
	put16(f + 96, P_LVL2_NONE);
	put16(f + 98, P_LVL3_NONE);
	f[108] = RTC_REG_CENTURY;
	put16(f + 109, IAPC_LEGACY_DEVICES | IAPC_VGA_NOT_PRESENT);
	/* TMR_VAL_EXT clear: the PM timer is 24 bits wide. */
	put32(f + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON |
			       FADT_FIX_RTC | FADT_RESET_REG_SUP);
	put_gas_io(f + 116, PCI_RESET_PORT, 8, GAS_BYTE);
	f[128] = PCI_RESET_VALUE;
	f[131] = 5; /* FADT minor version */
	put64(f + 140, dsdt);
	put_gas_io(f + 148, pm + ACPI_PM1_EVT_OFF, 8 * ACPI_PM1_EVT_LEN, GAS_WORD);
	put_gas_io(f + 172, pm + ACPI_PM1_CNT_OFF, 8 * ACPI_PM1_CNT_LEN, GAS_WORD);
	put_gas_io(f + 208, pm + ACPI_PM_TMR_OFF, 8 * ACPI_PM_TMR_LEN, GAS_DWORD);
	memcpy(f + 268, OEM_TABLE_ID, 8); /* hypervisor vendor identity */
	sdt_finish(f, FADT_LEN);
}

static u32 madt_len(const struct acpi_platform *p)
{
	return MADT_HEAD_LEN + MADT_LAPIC_LEN * p->n_cpus + MADT_IOAPIC_LEN + 2 * MADT_ISO_LEN +
	       MADT_NMI_LEN;
}

static u8 *put_iso(u8 *e, u8 irq, u32 gsi, u16 flags)
{
	e[0] = MADT_INT_OVERRIDE;
	e[1] = MADT_ISO_LEN;
	e[3] = irq; /* bus 0: ISA */
	put32(e + 4, gsi);
	put16(e + 8, flags);
	return e + MADT_ISO_LEN;
}

/* MADT (5.2.12), revision 5. */
static void build_madt(u8 *m, const struct acpi_platform *p)
{
	u32 len = madt_len(p);
	u8 *e = m + MADT_HEAD_LEN;

	sdt_header(m, "APIC", len, 5);
	put32(m + 36, p->lapic_addr);
	put32(m + 40, MADT_PCAT_COMPAT);
	for (u32 i = 0; i < p->n_cpus; i++, e += MADT_LAPIC_LEN) {
		e[0] = MADT_LOCAL_APIC;
		e[1] = MADT_LAPIC_LEN;
		e[2] = i; /* ACPI processor UID */
		e[3] = i; /* APIC ID */
		put32(e + 4, MADT_ENABLED);
	}
	e[0] = MADT_IO_APIC;
	e[1] = MADT_IOAPIC_LEN;
	e[2] = p->ioapic_id;
	put32(e + 4, p->ioapic_addr);
	put32(e + 8, 0); /* GSI base */
	e += MADT_IOAPIC_LEN;
	e = put_iso(e, PIT_IRQ, PIT_GSI, MPS_EDGE_HIGH);
	e = put_iso(e, ACPI_SCI_IRQ, ACPI_SCI_IRQ, MPS_LEVEL_HIGH);
	e[0] = MADT_LOCAL_APIC_NMI;
	e[1] = MADT_NMI_LEN;
	e[2] = MADT_ALL_PROCESSORS;
	put16(e + 3, 0); /* flags: conforming (edge, active high) */
	e[5] = 1;	 /* LINT1 */
	sdt_finish(m, len);
}

static bool platform_ok(const struct acpi_platform *p)
{
	return p->n_cpus >= 1 && p->n_cpus <= ACPI_MAX_CPUS && p->pm_base &&
	       p->pm_base <= 0xffff - (ACPI_PM_SPAN - 1);
}

int acpi_build(void *buf, u64 buf_size, u64 gpa, const struct acpi_platform *p, u64 *rsdp_gpa)
{
	struct builder b = { buf, 0, gpa, 0 };
	u32 rsdp_at, facs_at, dsdt_at, fadt_at, madt_at, xsdt_at;
	u32 dsdt_len = SDT_HEADER_LEN + sizeof(dsdt_aml);
	u8 *rsdp, *facs, *dsdt, *fadt, *madt, *xsdt;

	/* 32-bit table pointers (RSDP, FADT): everything below 4 GiB. */
	if (gpa >= GiB(4) || !platform_ok(p))
		return -1;
	b.size = MIN(buf_size, GiB(4) - gpa);
	rsdp = take(&b, RSDP_LEN, 16, &rsdp_at); /* 5.2.5.1: on a 16-byte boundary */
	facs = take(&b, FACS_LEN, 64, &facs_at);
	dsdt = take(&b, dsdt_len, 16, &dsdt_at);
	fadt = take(&b, FADT_LEN, 16, &fadt_at);
	madt = take(&b, madt_len(p), 16, &madt_at);
	xsdt = take(&b, XSDT_LEN, 16, &xsdt_at);
	if (!rsdp || !facs || !dsdt || !fadt || !madt || !xsdt)
		return -1;

	/* FACS (5.2.10): no waking vector, global lock free, version 2. */
	memcpy(facs, "FACS", 4);
	put32(facs + 4, FACS_LEN);
	facs[32] = 2;

	sdt_header(dsdt, "DSDT", dsdt_len, 2); /* revision 2: 64-bit AML integers */
	memcpy(dsdt + SDT_HEADER_LEN, dsdt_aml, sizeof(dsdt_aml));
	sdt_finish(dsdt, dsdt_len);

	build_fadt(fadt, facs_at, dsdt_at, p->pm_base);
	build_madt(madt, p);

	sdt_header(xsdt, "XSDT", XSDT_LEN, 1);
	put64(xsdt + SDT_HEADER_LEN, fadt_at);
	put64(xsdt + SDT_HEADER_LEN + 8, madt_at);
	sdt_finish(xsdt, XSDT_LEN);

	/* RSDP (5.2.5.3): the first checksum covers the ACPI 1.0 part, the second all of it. */
	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, OEM_ID, 6);
	rsdp[15] = 2;
	put32(rsdp + 20, RSDP_LEN);
	put64(rsdp + 24, xsdt_at);
	rsdp[8] = checksum(rsdp, RSDP_V1_LEN);
	rsdp[32] = checksum(rsdp, RSDP_LEN);
	*rsdp_gpa = rsdp_at;
	return 0;
}
