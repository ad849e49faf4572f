/*
 * 4-level page-table builder (include/kestrel/paging.h, SDM Vol. 3A 4.5).
 *
 * Levels are numbered as in the SDM walk: 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT. Non-leaf entries
 * are PRESENT|WRITE only, so the leaf alone decides access rights (SDM 4.6.1: writes need R/W at
 * every level, NX at any level forbids fetches). Table pages are never freed: when a large leaf
 * replaces a lower-level table, that table (and any below it) is leaked, still counted in
 * pt->tables. Nothing here flushes TLBs: tables live in memory the caller has not loaded yet, or
 * the caller invalidates.
 */
#include <kestrel/paging.h>

#define PT_ENTRIES 512
#define PT_TOP_LEVEL 4
#define PT_MAX_PHYS_BITS 52 /* the architectural MAXPHYADDR limit, SDM 4.1.4 */

/* Bytes one entry at `level` maps: 4 KiB, 2 MiB, 1 GiB, 512 GiB. */
static u64 level_span(int level)
{
	return 1ull << (PAGE_SHIFT + 9 * (level - 1));
}

static u32 level_index(u64 va, int level)
{
	return (va >> (PAGE_SHIFT + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

/* PS exists only in PDPTEs and PDEs (SDM 4.5); in a PTE bit 7 is PAT. */
static bool is_large_leaf(u64 entry, int level)
{
	return (level == 2 || level == 3) && (entry & PTE_LARGE);
}

/* Bits 63:47 all equal: 48-bit linear addresses (SDM Vol. 1 3.3.7.1). */
static bool is_canonical(u64 va)
{
	u64 top = va >> 47;

	return top == 0 || top == (1ull << 17) - 1;
}

static u64 *table_at(const struct page_table *pt, u64 entry)
{
	return pt->ops.phys_to_virt(pt->ops.ctx, entry & PTE_ADDR_MASK);
}

static u64 new_table(struct page_table *pt)
{
	u64 phys = pt->ops.alloc_table(pt->ops.ctx);

	if (phys & ~PTE_ADDR_MASK) /* unaligned or beyond 52 bits: unusable in an entry */
		return 0;
	if (phys)
		pt->tables++;
	return phys;
}

/*
 * Replace the large leaf at *entry with a table of 512 next-smaller leaves mapping the same
 * addresses with the same attributes, so the rest of the old page keeps its mapping.
 */
static int split_large_leaf(struct page_table *pt, u64 *entry, int level)
{
	u64 old = *entry;
	u64 child_span = level_span(level - 1);
	u64 base = old & PTE_ADDR_MASK & ~(level_span(level) - 1);
	u64 flags = old & ~PTE_ADDR_MASK & ~PTE_LARGE;
	u64 phys = new_table(pt);
	u64 *child;

	if (!phys)
		return -1;
	if (level - 1 > 1)
		flags |= PTE_LARGE;
	child = table_at(pt, phys);
	for (u32 i = 0; i < PT_ENTRIES; i++)
		child[i] = (base + i * child_span) | flags;
	*entry = phys | PTE_PRESENT | PTE_WRITE;
	return 0;
}

/* The entry for va at `level`, creating or splitting the tables above it. NULL: out of pages. */
static u64 *walk_create(struct page_table *pt, u64 va, int level)
{
	u64 *table = table_at(pt, pt->root);

	for (int l = PT_TOP_LEVEL; l > level; l--) {
		u64 *entry = &table[level_index(va, l)];

		if (!(*entry & PTE_PRESENT)) {
			u64 phys = new_table(pt);

			if (!phys)
				return NULL;
			*entry = phys | PTE_PRESENT | PTE_WRITE;
		} else if (is_large_leaf(*entry, l) && split_large_leaf(pt, entry, l)) {
			return NULL;
		}
		table = table_at(pt, *entry);
	}
	return &table[level_index(va, level)];
}

/* va..va+size-1 canonical and within one half of the address space (no wrap, no hole). */
static bool valid_va_range(u64 va, u64 size)
{
	u64 last = va + size - 1;

	return size && IS_ALIGNED(va | size, PAGE_SIZE) && last >= va && is_canonical(va) &&
	       is_canonical(last) && ((va ^ last) >> 47) == 0;
}

int pt_init(struct page_table *pt, const struct pt_ops *ops, bool allow_1g)
{
	pt->ops = *ops;
	pt->allow_1g = allow_1g;
	pt->tables = 0;
	pt->root = new_table(pt);
	return pt->root ? 0 : -1;
}

/* The largest page level that va, pa and the remaining size all allow. */
static int leaf_level(const struct page_table *pt, u64 va, u64 pa, u64 size)
{
	for (int level = pt->allow_1g ? 3 : 2; level > 1; level--) {
		u64 span = level_span(level);

		if (IS_ALIGNED(va | pa, span) && size >= span)
			return level;
	}
	return 1;
}

int pt_map_range(struct page_table *pt, u64 va, u64 pa, u64 size, u64 attrs)
{
	if (!valid_va_range(va, size) || !IS_ALIGNED(pa, PAGE_SIZE) || (attrs & ~PT_ATTR_MASK) ||
	    pa >> PT_MAX_PHYS_BITS || size > (1ull << PT_MAX_PHYS_BITS) - pa)
		return -1;

	while (size) {
		int level = leaf_level(pt, va, pa, size);
		u64 span = level_span(level);
		u64 *entry = walk_create(pt, va, level);

		if (!entry)
			return -1;
		/* A table under this entry, if any, is dropped (leaked: see the file comment). */
		*entry = pa | attrs | PTE_PRESENT | (level > 1 ? PTE_LARGE : 0);
		va += span;
		pa += span;
		size -= span;
	}
	return 0;
}

int pt_unmap_range(struct page_table *pt, u64 va, u64 size)
{
	if (!valid_va_range(va, size))
		return -1;

	while (size) {
		u64 *table = table_at(pt, pt->root);
		u64 step;

		for (int l = PT_TOP_LEVEL;; l--) {
			u64 *entry = &table[level_index(va, l)];
			u64 span = level_span(l);

			if (!(*entry & PTE_PRESENT)) {
				/* Nothing mapped up to the end of this entry's span. */
				step = MIN(span - (va & (span - 1)), size);
				break;
			}
			if (l == 1 || is_large_leaf(*entry, l)) {
				if (IS_ALIGNED(va, span) && size >= span) {
					*entry = 0;
					step = span;
					break;
				}
				if (split_large_leaf(pt, entry, l))
					return -1;
			}
			table = table_at(pt, *entry);
		}
		va += step;
		size -= step;
	}
	return 0;
}

bool pt_translate(const struct page_table *pt, u64 va, u64 *pa, u64 *attrs, u64 *page_size)
{
	const u64 *table;
	bool writable = true;
	bool no_exec = false;

	if (!is_canonical(va))
		return false;

	table = table_at(pt, pt->root);
	for (int l = PT_TOP_LEVEL;; l--) {
		u64 entry = table[level_index(va, l)];
		u64 span = level_span(l);

		if (!(entry & PTE_PRESENT))
			return false;
		/* SDM 4.6.1: writable only if R/W at every level; XD at any level forbids fetch. */
		writable = writable && (entry & PTE_WRITE);
		no_exec = no_exec || (entry & PTE_NX);
		if (l == 1 || is_large_leaf(entry, l)) {
			if (pa)
				*pa = (entry & PTE_ADDR_MASK & ~(span - 1)) | (va & (span - 1));
			if (attrs)
				*attrs = (entry & (PTE_PWT | PTE_PCD | PTE_GLOBAL)) |
					 (writable ? PTE_WRITE : 0) | (no_exec ? PTE_NX : 0);
			if (page_size)
				*page_size = span;
			return true;
		}
		table = table_at(pt, entry);
	}
}
