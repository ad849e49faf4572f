/* Kestrel's view of the firmware memory map, converted from the UEFI map by the loader. */
#ifndef KESTREL_MEMMAP_H
#define KESTREL_MEMMAP_H

#include <kestrel/types.h>

enum mem_type {
	MEM_USABLE,       /* free once boot services have exited (conventional, boot services) */
	MEM_KESTREL,      /* the hypervisor image and what its loader allocated: never handed out */
	MEM_FIRMWARE,     /* runtime services code/data, PAL code: RAM the firmware keeps */
	MEM_RESERVED,     /* reserved or unknown types: may be MMIO (PCIe ECAM), never touched */
	MEM_ACPI_RECLAIM, /* ACPI tables */
	MEM_ACPI_NVS,
	MEM_MMIO,         /* memory-mapped I/O the firmware described */
	MEM_UNUSABLE,     /* reported bad */
	MEM_PERSISTENT,
};

struct mem_region {
	u64 base;
	u64 size;
	enum mem_type type;
};

/* True for types that are RAM (mapped write-back), whether free or not. */
static inline bool mem_type_is_ram(enum mem_type t)
{
	return t == MEM_USABLE || t == MEM_KESTREL || t == MEM_FIRMWARE || t == MEM_ACPI_RECLAIM ||
	       t == MEM_ACPI_NVS || t == MEM_PERSISTENT;
}

const char *mem_type_name(enum mem_type t);

#endif
