/*
 * What the UEFI loader hands the core after ExitBootServices: everything the hypervisor will
 * ever learn from the firmware. Nothing calls the firmware after the hand-off.
 */
#ifndef KESTREL_BOOT_INFO_H
#define KESTREL_BOOT_INFO_H

#include <kestrel/config.h>
#include <kestrel/memmap.h>
#include <kestrel/types.h>

#define BOOT_MAX_REGIONS 512
#define BOOT_MAX_FILES (2 * CONFIG_MAX_GUESTS)

struct boot_file {
	char name[CONFIG_PATH_MAX];
	u64 phys; /* loaded at this physical address (page aligned, MEM_KESTREL) */
	u64 size; /* bytes */
};

enum fb_format { FB_NONE, FB_RGBX, FB_BGRX, FB_BITMASK };

struct framebuffer_info {
	enum fb_format format;
	u64 base, size;
	u32 width, height;
	u32 stride; /* pixels per scan line */
};

struct boot_info {
	struct config config;
	struct mem_region map[BOOT_MAX_REGIONS];
	u32 n_map;
	u32 map_truncated; /* firmware regions that did not fit in map[] (treated as unusable) */
	u64 rsdp;          /* ACPI RSDP physical address, 0 when the firmware has none */
	struct framebuffer_info fb;
	u64 image_base, image_size;   /* the running Kestrel image */
	u64 hv_pool_base, hv_pool_size; /* memory reserved for the hypervisor's own structures */
	struct boot_file files[BOOT_MAX_FILES];
	u32 n_files;
	u32 ebs_attempts; /* ExitBootServices calls it took (the map key can change once) */
};

/* The core's entry point; runs on the firmware's stack with its page tables still loaded. */
NORETURN void kestrel_main(struct boot_info *bi);

#endif
