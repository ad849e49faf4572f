/* Kestrel's own address space in root mode. */
#ifndef KESTREL_ROOT_MAP_H
#define KESTREL_ROOT_MAP_H

#include <kestrel/boot_info.h>
#include <kestrel/pmm.h>

#define ROOT_STACK_PAGES 16 /* 64 KiB per CPU */
#define ROOT_IST_PAGES 4
#define ROOT_EXIT_STACK_PAGES 8 /* where VM exits land (HOST_RSP) */

struct root_stack {
	u64 guard; /* the unmapped page just below the stack */
	u64 top;
};

struct root_map {
	u64 cr3;
	u32 tables;
	struct root_stack stack, ist, exit;
};

/*
 * Allocate the boot CPU's stacks from `pool` and build page tables that identity-map RAM
 * (write-back) and the first 4 GiB of MMIO (uncached), with Kestrel's code read-only and
 * executable, everything else non-executable, page 0 and the stack guard pages unmapped.
 * Returns 0, or -1 when the pool ran out.
 */
int root_map_build(const struct boot_info *bi, struct pmm *pool, struct root_map *out);

/* Turn on NX and write protection and load the new CR3. */
void root_map_activate(const struct root_map *rm);

/* FNV-1a over Kestrel's code and read-only data: computed at the start and the end of a run,
 * the two must match whatever the guests did. */
u64 root_map_image_checksum(void);

#endif
