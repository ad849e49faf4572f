/* Names for memory-map types, for the boot log and the unit tests. */
#include <kestrel/memmap.h>

static const char *const mem_type_names[] = {
	[MEM_USABLE] = "usable",
	[MEM_KESTREL] = "kestrel",
	[MEM_FIRMWARE] = "firmware",
	[MEM_RESERVED] = "reserved",
	[MEM_ACPI_RECLAIM] = "acpi-reclaim",
	[MEM_ACPI_NVS] = "acpi-nvs",
	[MEM_MMIO] = "mmio",
	[MEM_UNUSABLE] = "unusable",
	[MEM_PERSISTENT] = "persistent",
};

const char *mem_type_name(enum mem_type t)
{
	/* Compare as unsigned: a corrupt value may be negative if the enum is signed. */
	if ((unsigned)t >= ARRAY_SIZE(mem_type_names) || !mem_type_names[t])
		return "unknown";
	return mem_type_names[t];
}
