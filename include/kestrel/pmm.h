/*
 * Physical page allocator: a sorted table of free ranges kept outside the memory it manages, so
 * building it writes nothing to free RAM (the firmware's stack and page tables may still be in
 * use when it is set up). Plain C: the host unit tests link it directly.
 */
#ifndef KESTREL_PMM_H
#define KESTREL_PMM_H

#include <kestrel/memmap.h>

#define PMM_MAX_RANGES 256
#define PMM_LOW_LIMIT MiB(1) /* never hand out the first MiB (null page, real-mode structures) */

struct pmm_range {
	u64 base;
	u64 end; /* exclusive */
};

struct pmm {
	struct pmm_range ranges[PMM_MAX_RANGES]; /* sorted by base, disjoint, not adjacent */
	u32 n_ranges;
	u64 lost_bytes; /* free memory dropped because the range table was full */
};

void pmm_init(struct pmm *p);

/* Add [base, base+size) as free, shrunk inward to whole pages; merges with neighbours. */
void pmm_add(struct pmm *p, u64 base, u64 size);

/* Take [base, base+size) out of the free set, grown outward to whole pages. */
void pmm_remove(struct pmm *p, u64 base, u64 size);

/*
 * Add every MEM_USABLE region of a firmware map, then remove every other region (a buggy map
 * may overlap; whatever is not free wins) and everything below PMM_LOW_LIMIT.
 */
void pmm_add_map(struct pmm *p, const struct mem_region *map, size_t n);

/* `pages` contiguous pages aligned to `align` bytes (a power of two, >= 4 KiB); lowest fit
 * first. Returns the physical address, or 0 when nothing fits. */
u64 pmm_alloc(struct pmm *p, u64 pages, u64 align);

/* Give back pages obtained from pmm_alloc (or any range the caller owns). */
void pmm_free(struct pmm *p, u64 base, u64 pages);

u64 pmm_free_bytes(const struct pmm *p);
u64 pmm_largest_free(const struct pmm *p); /* longest contiguous free run, bytes */

#endif
