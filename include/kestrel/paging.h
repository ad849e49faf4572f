/*
 * 4-level page-table builder for x86-64 paging (SDM Vol. 3A 4.5) and EPT (SDM Vol. 3C 29.3):
 * both walk 512-entry tables indexed by address bits 47:12, so one builder serves both, told
 * the entry bits by a struct pt_format. It reaches table pages only through the ops below, so
 * the host unit tests build tables in ordinary heap memory and walk them.
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
#define PTE_ADDR_MASK 0x000ffffffffff000ull /* bits 51:12 in both formats */

/* x86 leaf attributes a caller may ask for; everything else is the builder's business. */
#define PT_ATTR_MASK (PTE_WRITE | PTE_PWT | PTE_PCD | PTE_GLOBAL | PTE_NX)
#define PT_UNCACHED (PTE_PCD | PTE_PWT)

/* What the builder needs to know about one kind of page table. */
struct pt_format {
	u64 table_entry; /* bits of an entry pointing to a table, besides its address */
	u64 present;     /* an entry is present when any of these is set */
	u64 large;       /* in a level-3 or level-2 entry: a 1 GiB or 2 MiB leaf */
	u64 leaf_attrs;  /* leaf bits a caller may pass */
	u64 leaf_always; /* bits set in every leaf */
	u64 all_levels;  /* rights effective only when set at every level of the walk */
	u64 any_level;   /* restrictions effective when set at any level */
	bool canonical;  /* addresses canonical 48-bit linear ones; otherwise below 2^48 */
};

extern const struct pt_format pt_format_x86; /* attributes: PT_ATTR_MASK bits */

struct pt_ops {
	u64 (*alloc_table)(void *ctx); /* a zeroed 4 KiB page, its physical address; 0 = none */
	void *(*phys_to_virt)(void *ctx, u64 phys);
	/* Takes back a table page no entry points to any more; NULL: such pages are abandoned. */
	void (*free_table)(void *ctx, u64 phys);
	void *ctx;
};

struct page_table {
	u64 root; /* physical address of the PML4 */
	const struct pt_format *fmt;
	struct pt_ops ops;
	bool allow_2m, allow_1g; /* leaf sizes the builder may use besides 4 KiB */
	u32 tables;              /* table pages linked into the tree, the root included */
};

/*
 * Returns 0, or -1 when no table page could be had. 1 GiB leaves are used only together with
 * 2 MiB ones, since splitting a 1 GiB leaf yields 2 MiB leaves.
 */
int pt_init(struct page_table *pt, const struct pt_format *fmt, const struct pt_ops *ops,
	    bool allow_2m, bool allow_1g);

/*
 * Map [va, va+size) to [pa, pa+size) with `attrs` (fmt->leaf_attrs bits; the result must be
 * present), using the largest pages alignment allows and splitting existing large pages where a
 * range covers part of one, so later calls override earlier ones exactly on their range. A
 * table a large leaf replaces is freed with everything under it.
 * va, pa, size must be 4 KiB aligned and va valid for the format. Returns 0, or -1 (bad
 * argument or out of table pages; what was mapped before the failure stays mapped).
 */
int pt_map_range(struct page_table *pt, u64 va, u64 pa, u64 size, u64 attrs);

/*
 * Make [va, va+size) not present, splitting large pages as needed and freeing the tables under
 * entries the range covers whole. Returns 0 or -1.
 */
int pt_unmap_range(struct page_table *pt, u64 va, u64 size);

/*
 * Walk like the CPU does. Returns true when va is mapped, with the physical address, the
 * effective leaf attributes (fmt->leaf_attrs bits, those in all_levels and any_level combined
 * over the levels as the CPU combines them) and the page size (4 KiB, 2 MiB or 1 GiB).
 */
bool pt_translate(const struct page_table *pt, u64 va, u64 *pa, u64 *attrs, u64 *page_size);

/*
 * Free every table page, the root included, through ops.free_table. The caller makes sure no
 * CPU still uses the tables (nor caches them: SDM Vol. 3A 4.10, Vol. 3C 29.4).
 */
void pt_destroy(struct page_table *pt);

#endif
