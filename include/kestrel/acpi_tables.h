/*
 * The ACPI tables of one guest (ACPI 6.5 chapter 5): RSDP (revision 2), XSDT, FADT (6.5),
 * FACS, DSDT and MADT, built into a buffer the hypervisor puts at a guest-physical address
 * below 4 GiB and reserves in the guest's e820 map (0xe0000, 64 KiB, is the usual place: Linux
 * scans 0xe0000-0xfffff for the RSDP, or takes boot_params.acpi_rsdp_addr).
 *
 * What the tables promise, and so what the platform must provide:
 *   - acpi_pm at p->pm_base (PM1a event, PM1a control, PM timer; SLP_TYP 5 is \_S5), SCI on
 *     ISA IRQ 9 (never raised), no SMI command port (ACPI is always on);
 *   - pci_host at 0xcf8-0xcff with the FADT reset register at 0xcf9 (value 6);
 *   - rtc_cmos at 0x70 with the century at CMOS index 0x32;
 *   - dual 8259s (PCAT_COMPAT), one I/O APIC with GSI 0-23 at p->ioapic_addr whose ID register
 *     reads p->ioapic_id; ISA IRQ 0 (the PIT) arrives at GSI 2, IRQ 9 is level active-high,
 *     every other ISA IRQ n at GSI n, edge active-high; LINT1 of every local APIC is the NMI;
 *   - vCPU i has local APIC ID i (ACPI processor UID i), all at p->lapic_addr;
 *   - no 8042 and no VGA (Linux then skips probing them), MSI allowed.
 * The DSDT holds \_S5 and a PCI host bridge \_SB.PCI0 (PNP0A03, bus 0-255) and nothing else.
 */
#ifndef KESTREL_ACPI_TABLES_H
#define KESTREL_ACPI_TABLES_H

#include <kestrel/types.h>

#define ACPI_SCI_IRQ 9
#define ACPI_MAX_CPUS 255 /* xAPIC IDs 0-254; 0xff is the broadcast ID */

struct acpi_platform {
	u32 n_cpus;	  /* 1 .. ACPI_MAX_CPUS */
	u32 lapic_addr;	  /* 0xfee00000 */
	u32 ioapic_addr;  /* 0xfec00000 */
	u8 ioapic_id;
	u16 pm_base;	  /* the acpi_pm block's I/O base, such as 0x600 */
};

/*
 * Build the tables into buf (buf_size bytes, to sit at guest-physical gpa), touching only the
 * bytes they use, from the start of buf. Returns 0 with the RSDP's guest-physical address
 * (16-byte aligned) in *rsdp_gpa, or -1 when they do not fit below min(gpa + buf_size, 4 GiB)
 * or the platform description is out of range.
 */
int acpi_build(void *buf, u64 buf_size, u64 gpa, const struct acpi_platform *p, u64 *rsdp_gpa);

#endif
