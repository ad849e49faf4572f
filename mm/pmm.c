/*
 * Physical page allocator (include/kestrel/pmm.h): a sorted table of free ranges.
 *
 * Nothing here trusts the caller's ranges: sizes may overflow 2^64, entries may be unaligned,
 * overlapping or in any order. Decisions the header leaves open:
 *  - pmm_add and pmm_free accept any range, the first MiB included; only pmm_add_map enforces
 *    PMM_LOW_LIMIT. pmm_alloc never returns address 0 because 0 means failure.
 *  - A range reaching past the last whole page of the address space is cut there, since the
 *    exclusive end must fit in a u64.
 *  - When the table is full, the smallest piece in play is dropped and counted in lost_bytes:
 *    free memory may be forgotten, never handed out twice.
 */
#include <kestrel/pmm.h>
#include <kestrel/string.h>

/* Highest exclusive end a range can have. */
#define PMM_TOP ALIGN_DOWN(UINT64_MAX, PAGE_SIZE)

static u64 range_size(const struct pmm_range *r)
{
	return r->end - r->base;
}

static void delete_ranges(struct pmm *p, u32 idx, u32 count)
{
	memmove(&p->ranges[idx], &p->ranges[idx + count],
		(p->n_ranges - idx - count) * sizeof(p->ranges[0]));
	p->n_ranges -= count;
}

/* The caller keeps the order and makes sure there is room. */
static void insert_range(struct pmm *p, u32 idx, u64 base, u64 end)
{
	memmove(&p->ranges[idx + 1], &p->ranges[idx], (p->n_ranges - idx) * sizeof(p->ranges[0]));
	p->ranges[idx].base = base;
	p->ranges[idx].end = end;
	p->n_ranges++;
}

static u32 smallest_range(const struct pmm *p)
{
	u32 smallest = 0;

	for (u32 i = 1; i < p->n_ranges; i++)
		if (range_size(&p->ranges[i]) < range_size(&p->ranges[smallest]))
			smallest = i;
	return smallest;
}

void pmm_init(struct pmm *p)
{
	p->n_ranges = 0;
	p->lost_bytes = 0;
}

void pmm_add(struct pmm *p, u64 base, u64 size)
{
	u64 start, end;
	u32 first, last;

	if (base > PMM_TOP)
		return;
	start = ALIGN_UP(base, PAGE_SIZE);
	end = size > PMM_TOP - base ? PMM_TOP : ALIGN_DOWN(base + size, PAGE_SIZE);
	if (start >= end)
		return;

	/* Ranges [first, last) overlap or touch [start, end): they merge into one. */
	for (first = 0; first < p->n_ranges && p->ranges[first].end < start; first++)
		;
	for (last = first; last < p->n_ranges && p->ranges[last].base <= end; last++)
		;
	if (first < last) {
		p->ranges[first].base = MIN(start, p->ranges[first].base);
		p->ranges[first].end = MAX(end, p->ranges[last - 1].end);
		delete_ranges(p, first + 1, last - first - 1);
		return;
	}

	if (p->n_ranges == PMM_MAX_RANGES) {
		u32 victim = smallest_range(p);

		if (range_size(&p->ranges[victim]) <= end - start) {
			p->lost_bytes += range_size(&p->ranges[victim]);
			delete_ranges(p, victim, 1);
			if (victim < first)
				first--;
		} else {
			p->lost_bytes += end - start;
			return;
		}
	}
	insert_range(p, first, start, end);
}

/* Cut [start, end) out of the middle of range idx. */
static void split_range(struct pmm *p, u32 idx, u64 start, u64 end)
{
	struct pmm_range *r = &p->ranges[idx];
	u64 below = start - r->base;
	u64 above = r->end - end;

	if (p->n_ranges < PMM_MAX_RANGES) {
		insert_range(p, idx + 1, end, r->end);
		r->end = start;
	} else if (below >= above) {
		p->lost_bytes += above;
		r->end = start;
	} else {
		p->lost_bytes += below;
		r->base = end;
	}
}

void pmm_remove(struct pmm *p, u64 base, u64 size)
{
	u64 start = ALIGN_DOWN(base, PAGE_SIZE);
	u64 end;
	u32 i = 0;

	/* No range extends past PMM_TOP, so "to the end of the address space" is enough. */
	if (size == 0 || base >= PMM_TOP)
		return;
	end = size > PMM_TOP - base ? UINT64_MAX : ALIGN_UP(base + size, PAGE_SIZE);

	while (i < p->n_ranges) {
		struct pmm_range *r = &p->ranges[i];

		if (r->end <= start) {
			i++;
		} else if (r->base >= end) {
			return;
		} else if (r->base < start && r->end > end) {
			split_range(p, i, start, end);
			return;
		} else if (r->base < start) {
			r->end = start;
			i++;
		} else if (r->end > end) {
			r->base = end;
			return;
		} else {
			delete_ranges(p, i, 1);
		}
	}
}

void pmm_add_map(struct pmm *p, const struct mem_region *map, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (map[i].type == MEM_USABLE)
			pmm_add(p, map[i].base, map[i].size);
	/* Second pass, so an overlapping non-free entry wins whatever the order of the map. */
	for (size_t i = 0; i < n; i++)
		if (map[i].type != MEM_USABLE)
			pmm_remove(p, map[i].base, map[i].size);
	pmm_remove(p, 0, PMM_LOW_LIMIT);
}

u64 pmm_alloc(struct pmm *p, u64 pages, u64 align)
{
	u64 bytes;

	if (pages == 0 || pages > (PMM_TOP >> PAGE_SHIFT) || align < PAGE_SIZE ||
	    (align & (align - 1)))
		return 0;
	bytes = pages << PAGE_SHIFT;

	for (u32 i = 0; i < p->n_ranges; i++) {
		const struct pmm_range *r = &p->ranges[i];
		/* Starting at `align` or above skips address 0, which would read as failure. */
		u64 lowest = MAX(r->base, align);
		u64 start;

		if (lowest > UINT64_MAX - (align - 1))
			return 0; /* no aligned address left below 2^64, nor in later ranges */
		start = ALIGN_UP(lowest, align);
		if (start < r->end && r->end - start >= bytes) {
			pmm_remove(p, start, bytes);
			return start;
		}
	}
	return 0;
}

void pmm_free(struct pmm *p, u64 base, u64 pages)
{
	/* pmm_add merges with what is already free, so freeing free memory counts it once. */
	pmm_add(p, base, pages > (UINT64_MAX >> PAGE_SHIFT) ? UINT64_MAX : pages << PAGE_SHIFT);
}

u64 pmm_free_bytes(const struct pmm *p)
{
	u64 total = 0;

	for (u32 i = 0; i < p->n_ranges; i++)
		total += range_size(&p->ranges[i]);
	return total;
}

u64 pmm_largest_free(const struct pmm *p)
{
	u64 largest = 0;

	for (u32 i = 0; i < p->n_ranges; i++)
		largest = MAX(largest, range_size(&p->ranges[i]));
	return largest;
}
