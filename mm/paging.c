/*
 * 4-level page-table builder (include/kestrel/paging.h): x86-64 paging (SDM Vol. 3A 4.5) and
 * EPT (SDM Vol. 3C 29.3), which differ only in the entry bits struct pt_format describes.
 *
 * Levels are numbered as in the SDM walk: 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT. Non-leaf entries
 * grant every right (fmt->table_entry), so the leaf alone decides access (SDM Vol. 3A 4.6.1,
 * Vol. 3C 29.3.3.2: a right must be granted at every level). Tables unlinked from the tree are
 * handed to ops.free_table at once. Nothing here flushes TLBs or paging-structure caches: tables
 * live in memory the caller has not loaded yet, or the caller invalidates before the CPU (or a
 * reuse of a freed page) can see the change.
 */
#include <kestrel/paging.h>

#define PT_ENTRIES 512
#define PT_TOP_LEVEL 4
#define PT_MAX_PHYS_BITS 52 /* the architectural MAXPHYADDR limit, SDM Vol. 3A 4.1.4 */
#define PT_VA_BITS 48       /* 4-level walks translate address bits 47:0 */

const struct pt_format pt_format_x86 = {
	.table_entry = PTE_PRESENT | PTE_WRITE,
	.present = PTE_PRESENT,
	.large = PTE_LARGE,
	.leaf_attrs = PT_ATTR_MASK,
	.leaf_always = PTE_PRESENT,
	.all_levels = PTE_WRITE, /* SDM Vol. 3A 4.6.1: writes need R/W at every level */
	.any_level = PTE_NX,     /* ...and XD at any level forbids fetches */
	.canonical = true,
};

/* Bytes one entry at `level` maps: 4 KiB, 2 MiB, 1 GiB, 512 GiB. */
static u64 level_span(int level)
{
	return 1ull << (PAGE_SHIFT + 9 * (level - 1));
}

static u32 level_index(u64 va, int level)
{
	return (va >> (PAGE_SHIFT + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

static bool is_present(const struct page_table *pt, u64 entry)
{
	return entry & pt->fmt->present;
}

/* The large bit exists only in level-3 and level-2 entries (SDM Vol. 3A 4.5, Vol. 3C 29.3.2). */
static bool is_large_leaf(const struct page_table *pt, u64 entry, int level)
{
	return (level == 2 || level == 3) && (entry & pt->fmt->large);
}

/* A present entry at `level` that points to a table of level - 1. */
static bool is_table(const struct page_table *pt, u64 entry, int level)
{
	return level > 1 && is_present(pt, entry) && !is_large_leaf(pt, entry, level);
}

/* Bits 63:47 all equal: 48-bit linear addresses (SDM Vol. 1 3.3.7.1). */
static bool is_canonical(u64 va)
{
	u64 top = va >> (PT_VA_BITS - 1);

	return top == 0 || top == (1ull << (64 - PT_VA_BITS + 1)) - 1;
}

static bool valid_va(const struct pt_format *fmt, u64 va)
{
	return fmt->canonical ? is_canonical(va) : va >> PT_VA_BITS == 0;
}

/* va..va+size-1 valid, no wrap, and canonical ranges within one half (not across the hole). */
static bool valid_va_range(const struct pt_format *fmt, u64 va, u64 size)
{
	u64 last = va + size - 1;

	return size && IS_ALIGNED(va | size, PAGE_SIZE) && last >= va && valid_va(fmt, va) &&
	       valid_va(fmt, last) && (!fmt->canonical || ((va ^ last) >> (PT_VA_BITS - 1)) == 0);
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

/* Free the level-`level` table at `phys` and every table below it; nothing may point to it. */
static void free_tree(struct page_table *pt, u64 phys, int level)
{
	const u64 *table = table_at(pt, phys);

	for (u32 i = 0; i < PT_ENTRIES; i++)
		if (is_table(pt, table[i], level))
			free_tree(pt, table[i] & PTE_ADDR_MASK, level - 1);
	pt->tables--;
	if (pt->ops.free_table)
		pt->ops.free_table(pt->ops.ctx, phys);
}

/* Overwrite the entry at `level`, then free the table it pointed to, if any. */
static void replace_entry(struct page_table *pt, u64 *entry, int level, u64 value)
{
	u64 old = *entry;

	*entry = value;
	if (is_table(pt, old, level))
		free_tree(pt, old & PTE_ADDR_MASK, level - 1);
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
	u64 flags = old & ~PTE_ADDR_MASK & ~pt->fmt->large;
	u64 phys = new_table(pt);
	u64 *child;

	if (!phys)
		return -1;
	if (level - 1 > 1)
		flags |= pt->fmt->large;
	child = table_at(pt, phys);
	for (u32 i = 0; i < PT_ENTRIES; i++)
		child[i] = (base + i * child_span) | flags;
	*entry = phys | pt->fmt->table_entry;
	return 0;
}

/* The entry for va at `level`, creating or splitting the tables above it. NULL: out of pages. */
static u64 *walk_create(struct page_table *pt, u64 va, int level)
{
	u64 *table = table_at(pt, pt->root);

	for (int l = PT_TOP_LEVEL; l > level; l--) {
		u64 *entry = &table[level_index(va, l)];

		if (!is_present(pt, *entry)) {
			u64 phys = new_table(pt);

			if (!phys)
				return NULL;
			*entry = phys | pt->fmt->table_entry;
		} else if (is_large_leaf(pt, *entry, l) && split_large_leaf(pt, entry, l)) {
			return NULL;
		}
		table = table_at(pt, *entry);
	}
	return &table[level_index(va, level)];
}

int pt_init(struct page_table *pt, const struct pt_format *fmt, const struct pt_ops *ops,
	    bool allow_2m, bool allow_1g)
{
	pt->fmt = fmt;
	pt->ops = *ops;
	pt->allow_2m = allow_2m;
	pt->allow_1g = allow_1g && allow_2m;
	pt->tables = 0;
	pt->root = new_table(pt);
	return pt->root ? 0 : -1;
}

/* The largest page level that the format, va, pa and the remaining size all allow. */
static int leaf_level(const struct page_table *pt, u64 va, u64 pa, u64 size)
{
	for (int level = pt->allow_1g ? 3 : pt->allow_2m ? 2 : 1; level > 1; level--) {
		u64 span = level_span(level);

		if (IS_ALIGNED(va | pa, span) && size >= span)
			return level;
	}
	return 1;
}

int pt_map_range(struct page_table *pt, u64 va, u64 pa, u64 size, u64 attrs)
{
	const struct pt_format *fmt = pt->fmt;

	if (!valid_va_range(fmt, va, size) || !IS_ALIGNED(pa, PAGE_SIZE) ||
	    (attrs & ~fmt->leaf_attrs) || !((attrs | fmt->leaf_always) & fmt->present) ||
	    pa >> PT_MAX_PHYS_BITS || size > (1ull << PT_MAX_PHYS_BITS) - pa)
		return -1;

	while (size) {
		int level = leaf_level(pt, va, pa, size);
		u64 span = level_span(level);
		u64 *entry = walk_create(pt, va, level);

		if (!entry)
			return -1;
		replace_entry(pt, entry, level,
			      pa | attrs | fmt->leaf_always | (level > 1 ? fmt->large : 0));
		va += span;
		pa += span;
		size -= span;
	}
	return 0;
}

int pt_unmap_range(struct page_table *pt, u64 va, u64 size)
{
	if (!valid_va_range(pt->fmt, va, size))
		return -1;

	while (size) {
		u64 *table = table_at(pt, pt->root);
		u64 step;

		for (int l = PT_TOP_LEVEL;; l--) {
			u64 *entry = &table[level_index(va, l)];
			u64 span = level_span(l);

			if (!is_present(pt, *entry)) {
				/* Nothing mapped up to the end of this entry's span. */
				step = MIN(span - (va & (span - 1)), size);
				break;
			}
			if (IS_ALIGNED(va, span) && size >= span) {
				/* The range covers the whole entry: a leaf or a table of them. */
				replace_entry(pt, entry, l, 0);
				step = span;
				break;
			}
			if (is_large_leaf(pt, *entry, l) && split_large_leaf(pt, entry, l))
				return -1;
			table = table_at(pt, *entry);
		}
		va += step;
		size -= step;
	}
	return 0;
}

bool pt_translate(const struct page_table *pt, u64 va, u64 *pa, u64 *attrs, u64 *page_size)
{
	const struct pt_format *fmt = pt->fmt;
	const u64 *table;
	u64 every = fmt->all_levels, any = 0;

	if (!valid_va(fmt, va))
		return false;

	table = table_at(pt, pt->root);
	for (int l = PT_TOP_LEVEL;; l--) {
		u64 entry = table[level_index(va, l)];
		u64 span = level_span(l);

		if (!is_present(pt, entry))
			return false;
		every &= entry;
		any |= entry & fmt->any_level;
		if (!is_table(pt, entry, l)) {
			if (pa)
				*pa = (entry & PTE_ADDR_MASK & ~(span - 1)) | (va & (span - 1));
			if (attrs)
				*attrs = (entry & fmt->leaf_attrs &
					  ~(fmt->all_levels | fmt->any_level)) | every | any;
			if (page_size)
				*page_size = span;
			return true;
		}
		table = table_at(pt, entry);
	}
}

void pt_destroy(struct page_table *pt)
{
	if (pt->root)
		free_tree(pt, pt->root, PT_TOP_LEVEL);
	pt->root = 0;
}
