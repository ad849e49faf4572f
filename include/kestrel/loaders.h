/* Guest image loaders: fill a new guest's RAM and say how its vCPU starts. */
#ifndef KESTREL_LOADERS_H
#define KESTREL_LOADERS_H

#include <kestrel/boot_info.h>
#include <kestrel/guest.h>
#include <kestrel/vmcs_setup.h>

/* Where the virtual platform's ACPI tables live: the BIOS area Linux scans for the RSDP,
 * described as reserved in the guest's memory map. */
#define PLATFORM_ACPI_GPA 0xe0000ull
#define PLATFORM_ACPI_SIZE 0x20000ull

/* Both return 0, or -1 after stopping the guest with the reason. */
int load_multiboot(struct guest *g, const struct boot_file *kernel, struct vcpu_entry *entry);
int load_linux(struct guest *g, const struct boot_file *kernel, const struct boot_file *initrd,
	       u64 rsdp_gpa, struct vcpu_entry *entry);

#endif
