/*
 * 4-level x86-64 page-table builder (SDM Vol. 3A 4.5). It reaches table pages only through the
 * ops below, so the host unit tests build tables in ordinary heap memory and walk them.
 */
#ifndef KESTREL_PAGING_H
#define KESTREL_PAGING_H

#include <kestrel/types.h>

#define PTE_PRESENT (1ull << 0)
#define PTE_WRITE (1ull << 1)
#define PTE_USER (1ull << 2)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_ACCESSED (1ull << 5)
#define PTE_DIRTY (1ull << 6)
#define PTE_LARGE (1ull << 7) /* PS: 2 MiB in a PDE, 1 GiB in a PDPTE */
#define PTE_GLOBAL (1ull << 8)
#define PTE_NX (1ull << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

/* Leaf attributes a caller may ask for; everything else is the builder's business. */
#define PT_ATTR_MASK (PTE_WRITE | PTE_PWT | PTE_PCD | PTE_GLOBAL | PTE_NX)
#define PT_UNCACHED (PTE_PCD | PTE_PWT)

struct pt_ops {
	u64 (*alloc_table)(void *ctx); /* a zeroed 4 KiB page, its physical address; 0 = none */
	void *(*phys_to_virt)(void *ctx, u64 phys);
	void *ctx;
};

struct page_table {
	u64 root; /* physical address of the PML4 */
	struct pt_ops ops;
	bool allow_1g; /* CPUID.80000001H:EDX.Page1GB */
	u32 tables;    /* table pages allocated so far */
};

/* Returns 0, or -1 when no table page could be had. */
int pt_init(struct page_table *pt, const struct pt_ops *ops, bool allow_1g);

/*
 * Map [va, va+size) to [pa, pa+size) with `attrs` (PT_ATTR_MASK bits; present is implied),
 * using the largest pages alignment allows and splitting existing large pages where a range
 * covers part of one, so later calls override earlier ones exactly on their range.
 * va, pa, size must be 4 KiB aligned and va canonical. Returns 0, or -1 (bad argument or out of
 * table pages; what was mapped before the failure stays mapped).
 */
int pt_map_range(struct page_table *pt, u64 va, u64 pa, u64 size, u64 attrs);

/* Make [va, va+size) not present, splitting large pages as needed. Returns 0 or -1. */
int pt_unmap_range(struct page_table *pt, u64 va, u64 size);

/*
 * Walk like the CPU does. Returns true when va is mapped, with the physical address, the
 * effective leaf attributes (PT_ATTR_MASK bits; writable and NX combined over all levels as the
 * CPU combines them) and the page size (4 KiB, 2 MiB or 1 GiB).
 */
bool pt_translate(const struct page_table *pt, u64 va, u64 *pa, u64 *attrs, u64 *page_size);

#endif
