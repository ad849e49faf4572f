/*
 * Linux guests: a bzImage through the x86 boot protocol's 64-bit entry (guest/linux_boot.c
 * lays out kernel, initrd, command line, boot_params and page tables), with the platform's
 * ACPI tables and the low BIOS area kept out of the e820 RAM.
 */
#include <kestrel/linux_boot.h>
#include <kestrel/loaders.h>
#include <kestrel/log.h>
#include <kestrel/vcpu.h>

int load_linux(struct guest *g, const struct boot_file *kernel, const struct boot_file *initrd,
	       u64 rsdp_gpa, struct vcpu_entry *entry)
{
	struct bzimage_info info;
	struct linux_entry le;
	struct linux_platform platform = {
		.acpi_rsdp = rsdp_gpa,
		.n_reserved = 1,
		.reserved = { { PLATFORM_ACPI_GPA, PLATFORM_ACPI_SIZE, E820_ACPI } },
	};
	char err[LINUX_BOOT_ERR_MAX];

	if (bzimage_parse((const void *)kernel->phys, kernel->size, &info, err, sizeof(err))) {
		guest_stop(g, -1, "%s: %s", kernel->name, err);
		return -1;
	}
	if (linux_prepare((void *)g->ram_hpa, g->ram_size, (const void *)kernel->phys, &info,
			  initrd ? (const void *)initrd->phys : NULL, initrd ? initrd->size : 0,
			  g->config->cmdline, &platform, &le, err, sizeof(err))) {
		guest_stop(g, -1, "%s: %s", kernel->name, err);
		return -1;
	}
	*entry = (struct vcpu_entry){
		.mode = ENTRY_LONG64,
		.rip = le.rip,
		.rsp = le.rsp,
		.cr3 = le.cr3,
		.gdt_base = le.gdt_base,
		.gdt_limit = le.gdt_limit,
	};
	entry->gpr[GPR_RSI] = le.rsi;
	log_info("guest '%s': Linux %s, boot protocol %u.%02u, kernel at 0x%llx-0x%llx, "
		 "initrd %s at 0x%llx, %u e820 entries", g->name,
		 info.version[0] ? info.version : "?", info.protocol >> 8, info.protocol & 0xff,
		 le.kernel_gpa, le.kernel_end, initrd ? initrd->name : "none", le.initrd_gpa,
		 le.e820_entries);
	return 0;
}
