/* Unit tests for mm/pmm.c and mm/memmap.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <kestrel/pmm.h>

#include "xorshift_rng.h"

/* The allocator is large (4 KiB of ranges); keep it off the test stack. */
static struct pmm pmm;

/* The table must always be sorted, disjoint, non-adjacent, page-aligned and non-empty. */
static void check_invariants(const struct pmm *p)
{
	assert_true(p->n_ranges <= PMM_MAX_RANGES);
	for (u32 i = 0; i < p->n_ranges; i++) {
		const struct pmm_range *r = &p->ranges[i];

		assert_true(IS_ALIGNED(r->base, PAGE_SIZE));
		assert_true(IS_ALIGNED(r->end, PAGE_SIZE));
		assert_true(r->base < r->end);
		if (i > 0)
			assert_true(p->ranges[i - 1].end < r->base);
	}
}

static bool pmm_page_is_free(const struct pmm *p, u64 addr)
{
	for (u32 i = 0; i < p->n_ranges; i++)
		if (addr >= p->ranges[i].base && addr < p->ranges[i].end)
			return true;
	return false;
}

/* Page [addr, addr+4K) lies wholly inside the region (whose end may lie past 2^64). */
static bool page_inside(const struct mem_region *m, u64 addr)
{
	return m->size >= PAGE_SIZE && addr >= m->base && addr - m->base <= m->size - PAGE_SIZE;
}

/* Page [addr, addr+4K) shares at least one byte with the region. */
static bool page_touches(const struct mem_region *m, u64 addr)
{
	if (m->size == 0)
		return false;
	if (addr >= m->base)
		return addr - m->base < m->size;
	return m->base - addr < PAGE_SIZE;
}

/* What pmm_add_map promises for one page, worked out from the map directly. */
static bool map_page_is_free(const struct mem_region *map, size_t n, u64 addr)
{
	bool usable = false;

	if (addr < PMM_LOW_LIMIT)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (map[i].type == MEM_USABLE)
			usable = usable || page_inside(&map[i], addr);
		else if (page_touches(&map[i], addr))
			return false;
	}
	return usable;
}

/* Every page below `limit` matches the map, and nothing at or above it is free. */
static void check_against_map(const struct pmm *p, const struct mem_region *map, size_t n,
			      u64 limit)
{
	u32 r = 0;

	check_invariants(p);
	for (u64 addr = 0; addr < limit; addr += PAGE_SIZE) {
		bool in_pmm;

		while (r < p->n_ranges && p->ranges[r].end <= addr)
			r++;
		in_pmm = r < p->n_ranges && p->ranges[r].base <= addr;
		if (in_pmm != map_page_is_free(map, n, addr))
			fail_msg("page %#llx: pmm says %s", (unsigned long long)addr,
				 in_pmm ? "free" : "not free");
	}
	if (p->n_ranges)
		assert_true(p->ranges[p->n_ranges - 1].end <= limit);
}

/* Roughly what OVMF reports for a q35 guest with 1 GiB below 4 GiB and 1 GiB above. */
static const struct mem_region ovmf_map[] = {
	{ 0x0, 0xa0000, MEM_USABLE },
	/* 0xa0000-0x100000: VGA window and option ROMs, absent from the map */
	{ 0x100000, 0x700000, MEM_USABLE },
	{ 0x800000, 0x8000, MEM_ACPI_NVS },
	{ 0x808000, 0x3000, MEM_USABLE },
	{ 0x80b000, 0x1000, MEM_ACPI_NVS },
	{ 0x80c000, 0x5000, MEM_USABLE },
	{ 0x811000, 0xef000, MEM_ACPI_NVS },
	{ 0x900000, 0xf700000, MEM_USABLE },
	{ 0x10000000, 0x400000, MEM_KESTREL },
	{ 0x10400000, 0x2ec00000, MEM_USABLE },
	{ 0x3f000000, 0x800000, MEM_FIRMWARE },
	{ 0x3f800000, 0x600000, MEM_ACPI_RECLAIM },
	{ 0x3fe00000, 0x200000, MEM_ACPI_NVS },
	{ 0xb0000000, 0x10000000, MEM_MMIO },
	{ 0xfed1c000, 0x4000, MEM_MMIO },
	{ 0xffc00000, 0x400000, MEM_MMIO },
	{ 0x100000000, 0x40000000, MEM_USABLE },
};

static void test_mem_type_names(void **state)
{
	(void)state;
	assert_string_equal(mem_type_name(MEM_USABLE), "usable");
	assert_string_equal(mem_type_name(MEM_KESTREL), "kestrel");
	assert_string_equal(mem_type_name(MEM_FIRMWARE), "firmware");
	assert_string_equal(mem_type_name(MEM_RESERVED), "reserved");
	assert_string_equal(mem_type_name(MEM_ACPI_RECLAIM), "acpi-reclaim");
	assert_string_equal(mem_type_name(MEM_ACPI_NVS), "acpi-nvs");
	assert_string_equal(mem_type_name(MEM_MMIO), "mmio");
	assert_string_equal(mem_type_name(MEM_UNUSABLE), "unusable");
	assert_string_equal(mem_type_name(MEM_PERSISTENT), "persistent");
	assert_string_equal(mem_type_name((enum mem_type)(MEM_PERSISTENT + 1)), "unknown");
	assert_string_equal(mem_type_name((enum mem_type)-1), "unknown");
}

static void test_empty(void **state)
{
	(void)state;
	pmm_init(&pmm);
	assert_int_equal(pmm_free_bytes(&pmm), 0);
	assert_int_equal(pmm_largest_free(&pmm), 0);
	assert_int_equal(pmm_alloc(&pmm, 1, PAGE_SIZE), 0);
	pmm_remove(&pmm, MiB(1), MiB(1));
	pmm_add_map(&pmm, NULL, 0);
	assert_int_equal(pmm.n_ranges, 0);
}

static void test_add_shrinks_inward(void **state)
{
	(void)state;
	pmm_init(&pmm);
	pmm_add(&pmm, MiB(1) + 1, 3 * PAGE_SIZE);
	assert_int_equal(pmm.n_ranges, 1);
	assert_int_equal(pmm.ranges[0].base, MiB(1) + PAGE_SIZE);
	assert_int_equal(pmm.ranges[0].end, MiB(1) + 3 * PAGE_SIZE);

	/* Less than a whole page, and nothing at all. */
	pmm_add(&pmm, MiB(4) + 1, PAGE_SIZE);
	pmm_add(&pmm, MiB(8), 0);
	assert_int_equal(pmm.n_ranges, 1);
	assert_int_equal(pmm.lost_bytes, 0);
}

static void test_remove_grows_outward(void **state)
{
	(void)state;
	pmm_init(&pmm);
	pmm_add(&pmm, MiB(1), MiB(1));
	pmm_remove(&pmm, MiB(1) + 0x800, 1);
	pmm_remove(&pmm, MiB(2) - 0x10, 0x8);
	assert_int_equal(pmm.n_ranges, 1);
	assert_int_equal(pmm.ranges[0].base, MiB(1) + PAGE_SIZE);
	assert_int_equal(pmm.ranges[0].end, MiB(2) - PAGE_SIZE);
	pmm_remove(&pmm, MiB(1), 0);
	assert_int_equal(pmm_free_bytes(&pmm), MiB(1) - 2 * PAGE_SIZE);
}

static void test_merging(void **state)
{
	(void)state;
	pmm_init(&pmm);
	pmm_add(&pmm, MiB(3), MiB(1));
	pmm_add(&pmm, MiB(1), MiB(1));
	assert_int_equal(pmm.n_ranges, 2);
	pmm_add(&pmm, MiB(2), MiB(1)); /* touches both: one range */
	assert_int_equal(pmm.n_ranges, 1);
	assert_int_equal(pmm.ranges[0].base, MiB(1));
	assert_int_equal(pmm.ranges[0].end, MiB(4));

	pmm_add(&pmm, MiB(10), MiB(1));
	pmm_add(&pmm, MiB(12), MiB(1));
	pmm_add(&pmm, MiB(14), MiB(1));
	assert_int_equal(pmm.n_ranges, 4);
	pmm_add(&pmm, MiB(3), MiB(9) + KiB(512)); /* overlaps the first, bridges into [12M, 13M) */
	assert_int_equal(pmm.n_ranges, 2);
	assert_int_equal(pmm.ranges[0].base, MiB(1));
	assert_int_equal(pmm.ranges[0].end, MiB(13));
	assert_int_equal(pmm.ranges[1].base, MiB(14));

	pmm_add(&pmm, MiB(2), MiB(2)); /* already free: nothing changes */
	assert_int_equal(pmm_free_bytes(&pmm), MiB(13));
	assert_int_equal(pmm_largest_free(&pmm), MiB(12));
	check_invariants(&pmm);
}

static void test_remove_split_and_span(void **state)
{
	(void)state;
	pmm_init(&pmm);
	pmm_add(&pmm, MiB(1), MiB(3));
	pmm_add(&pmm, MiB(5), MiB(1));
	pmm_add(&pmm, MiB(7), MiB(1));
	pmm_remove(&pmm, MiB(2), PAGE_SIZE); /* split */
	assert_int_equal(pmm.n_ranges, 4);
	pmm_remove(&pmm, MiB(3), MiB(4) + PAGE_SIZE); /* tail of one, all of next, head of last */
	assert_int_equal(pmm.n_ranges, 3);
	assert_int_equal(pmm.ranges[1].base, MiB(2) + PAGE_SIZE);
	assert_int_equal(pmm.ranges[1].end, MiB(3));
	assert_int_equal(pmm.ranges[2].base, MiB(7) + PAGE_SIZE);
	assert_int_equal(pmm.lost_bytes, 0);
	check_invariants(&pmm);
}

static void test_top_of_address_space(void **state)
{
	(void)state;
	pmm_init(&pmm);
	/* base + size wraps past 2^64: the range is cut at the last whole page. */
	pmm_add(&pmm, 0xfffffffffff00000ull, UINT64_MAX);
	assert_int_equal(pmm.n_ranges, 1);
	assert_int_equal(pmm.ranges[0].end, 0xfffffffffffff000ull);
	assert_int_equal(pmm_free_bytes(&pmm), 0xff000);
	pmm_add(&pmm, UINT64_MAX - 10, 100);
	pmm_add(&pmm, 0xfffffffffffff000ull, PAGE_SIZE);
	assert_int_equal(pmm_free_bytes(&pmm), 0xff000);

	assert_int_equal(pmm_alloc(&pmm, 1, GiB(1)), 0);
	assert_int_equal(pmm_alloc(&pmm, 1, 1ull << 63), 0);
	assert_int_equal(pmm_alloc(&pmm, 0xff, PAGE_SIZE), 0xfffffffffff00000ull);

	pmm_free(&pmm, 0xfffffffffff00000ull, UINT64_MAX); /* pages * 4K overflows */
	assert_int_equal(pmm_free_bytes(&pmm), 0xff000);
	pmm_remove(&pmm, 0xfffffffffff80000ull, UINT64_MAX);
	assert_int_equal(pmm_free_bytes(&pmm), 0x80000);
	pmm_remove(&pmm, UINT64_MAX, UINT64_MAX);
	pmm_remove(&pmm, 0, UINT64_MAX);
	assert_int_equal(pmm.n_ranges, 0);
	check_invariants(&pmm);
}

static void test_bad_alloc_args(void **state)
{
	(void)state;
	pmm_init(&pmm);
	pmm_add(&pmm, GiB(1), GiB(2));
	assert_int_equal(pmm_alloc(&pmm, 0, PAGE_SIZE), 0);
	assert_int_equal(pmm_alloc(&pmm, 1, 0), 0);
	assert_int_equal(pmm_alloc(&pmm, 1, 2048), 0);
	assert_int_equal(pmm_alloc(&pmm, 1, 3 * PAGE_SIZE), 0);
	assert_int_equal(pmm_alloc(&pmm, UINT64_MAX, PAGE_SIZE), 0);
	assert_int_equal(pmm_alloc(&pmm, 1ull << 52, PAGE_SIZE), 0);
	assert_int_equal(pmm_free_bytes(&pmm), GiB(2));
}

static void test_ovmf_map(void **state)
{
	u64 free_bytes, addr, prev = 0, count = 0;

	(void)state;
	pmm_init(&pmm);
	pmm_add_map(&pmm, ovmf_map, ARRAY_SIZE(ovmf_map));
	check_against_map(&pmm, ovmf_map, ARRAY_SIZE(ovmf_map), GiB(6));
	free_bytes = pmm_free_bytes(&pmm);
	/* 7M + 12K + 20K around the ACPI NVS, the rest of the first GiB less Kestrel, and 1G. */
	assert_int_equal(free_bytes, MiB(7) + KiB(32) + (0x3f000000 - 0x900000 - MiB(4)) + GiB(1));
	assert_int_equal(pmm_largest_free(&pmm), GiB(1));

	/* Drain it page by page: lowest first, never outside what the map called free. */
	while ((addr = pmm_alloc(&pmm, 1, PAGE_SIZE)) != 0) {
		assert_true(addr > prev);
		assert_true(map_page_is_free(ovmf_map, ARRAY_SIZE(ovmf_map), addr));
		prev = addr;
		count++;
	}
	assert_int_equal(count * PAGE_SIZE, free_bytes);
	assert_int_equal(pmm.n_ranges, 0);
	assert_int_equal(pmm.lost_bytes, 0);
}

static void test_alignment(void **state)
{
	u64 free_bytes;

	(void)state;
	pmm_init(&pmm);
	pmm_add_map(&pmm, ovmf_map, ARRAY_SIZE(ovmf_map));
	free_bytes = pmm_free_bytes(&pmm);

	assert_int_equal(pmm_alloc(&pmm, 512, MiB(2)), MiB(2)); /* [1M, 2M) is skipped */
	assert_int_equal(pmm_alloc(&pmm, 1, MiB(2)), MiB(4));
	assert_int_equal(pmm_alloc(&pmm, 1, PAGE_SIZE), MiB(1));
	assert_int_equal(pmm_alloc(&pmm, 2, KiB(8)), MiB(1) + KiB(8));
	/* The first GiB holds firmware at its top, so the first free 1 GiB-aligned page is 4G. */
	assert_int_equal(pmm_alloc(&pmm, 1, GiB(1)), GiB(4));
	assert_int_equal(pmm_alloc(&pmm, GiB(1) / PAGE_SIZE, GiB(1)), 0);
	assert_int_equal(pmm_alloc(&pmm, 1, GiB(4)), 0);
	assert_int_equal(pmm_free_bytes(&pmm), free_bytes - MiB(2) - 5 * PAGE_SIZE);
	check_invariants(&pmm);
}

static void test_exhaustion(void **state)
{
	(void)state;
	pmm_init(&pmm);
	pmm_add(&pmm, MiB(1), MiB(1));
	pmm_add(&pmm, MiB(3), MiB(1));
	assert_int_equal(pmm_alloc(&pmm, 257, PAGE_SIZE), 0); /* 2 MiB free, but not contiguous */
	assert_int_equal(pmm_free_bytes(&pmm), MiB(2));
	assert_int_equal(pmm_alloc(&pmm, 256, PAGE_SIZE), MiB(1));
	assert_int_equal(pmm_alloc(&pmm, 256, PAGE_SIZE), MiB(3));
	assert_int_equal(pmm_alloc(&pmm, 1, PAGE_SIZE), 0);
	assert_int_equal(pmm_free_bytes(&pmm), 0);
}

static void test_free_and_realloc(void **state)
{
	u64 a, b, c, free_bytes;
	u32 n_ranges;

	(void)state;
	pmm_init(&pmm);
	pmm_add_map(&pmm, ovmf_map, ARRAY_SIZE(ovmf_map));
	free_bytes = pmm_free_bytes(&pmm);
	n_ranges = pmm.n_ranges;

	a = pmm_alloc(&pmm, 3, PAGE_SIZE);
	b = pmm_alloc(&pmm, 5, PAGE_SIZE);
	c = pmm_alloc(&pmm, 7, PAGE_SIZE);
	assert_int_equal(b, a + 3 * PAGE_SIZE);
	assert_int_equal(c, b + 5 * PAGE_SIZE);

	pmm_free(&pmm, b, 5);
	assert_int_equal(pmm_alloc(&pmm, 5, PAGE_SIZE), b);
	pmm_free(&pmm, b, 5);
	assert_int_equal(pmm_alloc(&pmm, 6, PAGE_SIZE), c + 7 * PAGE_SIZE); /* hole too small */
	pmm_free(&pmm, c + 7 * PAGE_SIZE, 6);

	/* Freeing all three merges everything back into the original ranges. */
	pmm_free(&pmm, a, 3);
	pmm_free(&pmm, c, 7);
	assert_int_equal(pmm_free_bytes(&pmm), free_bytes);
	assert_int_equal(pmm.n_ranges, n_ranges);
	check_against_map(&pmm, ovmf_map, ARRAY_SIZE(ovmf_map), GiB(6));
}

static void test_free_overlapping_free_memory(void **state)
{
	u64 a;

	(void)state;
	pmm_init(&pmm);
	pmm_add(&pmm, MiB(1), MiB(1));
	a = pmm_alloc(&pmm, 4, PAGE_SIZE);
	/* A buggy caller frees 8 pages, 4 of them already free: they count once. */
	pmm_free(&pmm, a, 8);
	pmm_free(&pmm, a, 8);
	assert_int_equal(pmm_free_bytes(&pmm), MiB(1));
	assert_int_equal(pmm.n_ranges, 1);
}

static void test_page_zero_never_returned(void **state)
{
	(void)state;
	pmm_init(&pmm);
	pmm_add(&pmm, 0, 4 * PAGE_SIZE); /* explicit ranges below 1 MiB are accepted */
	assert_int_equal(pmm_free_bytes(&pmm), 4 * PAGE_SIZE);
	assert_int_equal(pmm_alloc(&pmm, 4, PAGE_SIZE), 0); /* 3 pages once page 0 is skipped */
	assert_int_equal(pmm_alloc(&pmm, 1, KiB(8)), KiB(8));
	assert_int_equal(pmm_alloc(&pmm, 1, PAGE_SIZE), KiB(4));
	assert_int_equal(pmm_alloc(&pmm, 1, PAGE_SIZE), KiB(12));
	assert_int_equal(pmm_alloc(&pmm, 1, PAGE_SIZE), 0);
	assert_int_equal(pmm_free_bytes(&pmm), PAGE_SIZE);
}

/* PMM_MAX_RANGES ranges of `pages` pages starting `offset` into every 64 KiB above 1 GiB. */
static u64 fill_table(u64 offset, u64 pages)
{
	pmm_init(&pmm);
	for (u32 i = 0; i < PMM_MAX_RANGES; i++)
		pmm_add(&pmm, GiB(1) + i * KiB(64) + offset, pages * PAGE_SIZE);
	assert_int_equal(pmm.n_ranges, PMM_MAX_RANGES);
	return PMM_MAX_RANGES * pages * PAGE_SIZE;
}

static void test_table_full(void **state)
{
	const u64 last = GiB(1) + (PMM_MAX_RANGES - 1) * KiB(64);
	u64 total;

	(void)state;
	total = fill_table(0, 4);

	/* A split needs a slot: the smaller side (1 page below, 2 above) is dropped. */
	pmm_remove(&pmm, GiB(1) + PAGE_SIZE, PAGE_SIZE);
	assert_int_equal(pmm.n_ranges, PMM_MAX_RANGES);
	assert_int_equal(pmm.lost_bytes, PAGE_SIZE);
	assert_int_equal(pmm.ranges[0].base, GiB(1) + 2 * PAGE_SIZE);
	/* Larger side below this time. */
	pmm_remove(&pmm, last + 2 * PAGE_SIZE, PAGE_SIZE);
	assert_int_equal(pmm.lost_bytes, 2 * PAGE_SIZE);
	assert_int_equal(pmm.ranges[PMM_MAX_RANGES - 1].end, last + 2 * PAGE_SIZE);

	/* A new disjoint range smaller than every existing one is itself dropped. */
	pmm_add(&pmm, GiB(2), PAGE_SIZE);
	assert_int_equal(pmm.lost_bytes, 3 * PAGE_SIZE);
	assert_false(pmm_page_is_free(&pmm, GiB(2)));
	/* A larger one replaces the smallest existing range (the first, now 2 pages). */
	pmm_add(&pmm, GiB(2), 16 * PAGE_SIZE);
	assert_int_equal(pmm.lost_bytes, 5 * PAGE_SIZE);
	assert_true(pmm_page_is_free(&pmm, GiB(2)));
	assert_false(pmm_page_is_free(&pmm, GiB(1) + 2 * PAGE_SIZE));
	/* Merging needs no slot: nothing lost. */
	pmm_add(&pmm, GiB(2) + 16 * PAGE_SIZE, PAGE_SIZE);
	assert_int_equal(pmm.lost_bytes, 5 * PAGE_SIZE);
	assert_int_equal(pmm.n_ranges, PMM_MAX_RANGES);

	/* Every byte added (total + 18 pages) and not removed (2 pages) is free or lost, once. */
	assert_int_equal(pmm_free_bytes(&pmm) + pmm.lost_bytes, total + 16 * PAGE_SIZE);
	check_invariants(&pmm);
}

static void test_table_full_alloc_split(void **state)
{
	u64 total;

	(void)state;
	/* 5 pages at 4 KiB into each 64 KiB: an 8 KiB-aligned page is 1 page from the start. */
	total = fill_table(PAGE_SIZE, 5);
	assert_int_equal(pmm_alloc(&pmm, 1, KiB(8)), GiB(1) + KiB(8));
	assert_int_equal(pmm.lost_bytes, PAGE_SIZE);
	assert_int_equal(pmm.ranges[0].base, GiB(1) + KiB(12));
	assert_int_equal(pmm_free_bytes(&pmm), total - 2 * PAGE_SIZE);
	check_invariants(&pmm);
}

/* A map with every defect a firmware has been seen to produce, or could. */
static const struct mem_region hostile_map[] = {
	{ 0x100000000, 0x10000000, MEM_USABLE },
	{ 0x900000, 0x3f700000, MEM_USABLE },         /* out of order */
	{ 0x20000000, 0x100000, MEM_KESTREL },        /* inside the usable entry above */
	{ 0x3fe00000, 0x400000, MEM_ACPI_NVS },       /* overlaps the usable entry's tail */
	{ 0x0, 0x800000, MEM_USABLE },                /* covers the low MiB */
	{ 0x30000000, 0x1000000, MEM_USABLE },        /* duplicates part of the second entry */
	{ 0x30800000, 0x10, MEM_MMIO },               /* tiny and unaligned: its whole page goes */
	{ 0x31000800, 0x2000, MEM_FIRMWARE },         /* unaligned: grows to 3 pages */
	{ 0x40400800, 0x2000, MEM_USABLE },           /* unaligned: shrinks to 1 page */
	{ 0x40410000, 0x0, MEM_USABLE },              /* empty */
	{ 0x10000000, 0x0, MEM_MMIO },                /* empty: removes nothing */
	{ 0x110000000, 0x10000000, MEM_USABLE },      /* adjacent to the first: merges */
	{ 0x118000000, 0x1000, (enum mem_type)42 },   /* unknown type: not free */
	{ 0x200000000, UINT64_MAX, MEM_USABLE },      /* size wraps past 2^64 */
	{ 0x280000000, UINT64_MAX, MEM_UNUSABLE },    /* so does this, and it wins */
	{ 0x3ffff000, 0x1000, MEM_USABLE },           /* usable, but NVS above overlaps it */
};

static void test_hostile_map(void **state)
{
	(void)state;
	pmm_init(&pmm);
	pmm_add_map(&pmm, hostile_map, ARRAY_SIZE(hostile_map));
	check_against_map(&pmm, hostile_map, ARRAY_SIZE(hostile_map), GiB(12));
	assert_true(pmm_page_is_free(&pmm, 0x40401000));
	assert_false(pmm_page_is_free(&pmm, 0x30800000));
	assert_false(pmm_page_is_free(&pmm, 0x31002000));
	assert_true(pmm_page_is_free(&pmm, 0x31003000));
	assert_true(pmm_page_is_free(&pmm, 0x27ffff000));
	assert_int_equal(pmm.lost_bytes, 0);

	/* The same map in reverse order gives the same result. */
	{
		struct mem_region reversed[ARRAY_SIZE(hostile_map)];
		struct pmm_range first[PMM_MAX_RANGES];
		u32 n = pmm.n_ranges;

		memcpy(first, pmm.ranges, sizeof(first));
		for (size_t i = 0; i < ARRAY_SIZE(hostile_map); i++)
			reversed[i] = hostile_map[ARRAY_SIZE(hostile_map) - 1 - i];
		pmm_init(&pmm);
		pmm_add_map(&pmm, reversed, ARRAY_SIZE(reversed));
		assert_int_equal(pmm.n_ranges, n);
		assert_memory_equal(pmm.ranges, first, n * sizeof(first[0]));
	}
}

/* --- randomised comparison against a page bitmap ---------------------------------------- */

#define STRESS_BASE MiB(64)
#define STRESS_MAX_PAGES 2048

struct model {
	u64 pages;
	bool free[STRESS_MAX_PAGES];
};

static u64 model_addr(u64 page)
{
	return STRESS_BASE + page * PAGE_SIZE;
}

/* An arbitrary unaligned byte range inside the model's window, biased towards short ones. */
static void random_range(const struct model *m, u64 max_pages, u64 *base, u64 *size)
{
	u64 first = rng_below(m->pages);
	u64 len = 1 + rng_below(MIN(max_pages, m->pages - first));

	u64 head = rng_below(4) ? 0 : rng_below(PAGE_SIZE);
	u64 tail = rng_below(4) ? 0 : rng_below(64);

	*base = model_addr(first) + head;
	*size = len * PAGE_SIZE - head;
	if (*size > tail)
		*size -= tail;
}

static void model_set(struct model *m, u64 base, u64 end, bool free)
{
	for (u64 page = 0; page < m->pages; page++)
		if (model_addr(page) >= base && model_addr(page) + PAGE_SIZE <= end)
			m->free[page] = free;
}

/* Lowest fit as the allocator promises it, or 0. */
static u64 model_alloc(const struct model *m, u64 pages, u64 align)
{
	for (u64 first = 0; first + pages <= m->pages; first++) {
		u64 run = 0;

		if (!IS_ALIGNED(model_addr(first), align))
			continue;
		while (run < pages && m->free[first + run])
			run++;
		if (run == pages)
			return model_addr(first);
	}
	return 0;
}

struct allocation {
	u64 base;
	u64 pages;
};

/*
 * Random add/remove/alloc/free. With `exact`, the window is small enough that the table never
 * fills and the allocator must match the model page for page; otherwise the table overflows and
 * the allocator may only ever hold a subset of what the model says is free.
 */
static void stress(u64 pages, u64 seed, bool exact, u32 rounds)
{
	static struct model m;
	static struct allocation live[4096];
	static const u64 aligns[] = { PAGE_SIZE, KiB(8), KiB(64), MiB(2) };
	u32 n_live = 0;
	u32 most_ranges = 0;

	rng_state = seed;
	memset(&m, 0, sizeof(m));
	m.pages = pages;
	pmm_init(&pmm);

	for (u32 round = 0; round < rounds; round++) {
		u64 base, size;
		u32 op = rng_below(10);

		if (op < 3) {
			random_range(&m, 4, &base, &size);
			pmm_add(&pmm, base, size);
			model_set(&m, ALIGN_UP(base, PAGE_SIZE), base + size, true);
		} else if (op < 5) {
			random_range(&m, 2, &base, &size);
			pmm_remove(&pmm, base, size);
			model_set(&m, ALIGN_DOWN(base, PAGE_SIZE), ALIGN_UP(base + size, PAGE_SIZE),
				  false);
		} else if (op < 8 && n_live < ARRAY_SIZE(live)) {
			u64 n = 1 + rng_below(16);
			u64 align = aligns[rng_below(ARRAY_SIZE(aligns))];
			u64 got = pmm_alloc(&pmm, n, align);

			if (exact)
				assert_int_equal(got, model_alloc(&m, n, align));
			if (got) {
				assert_true(IS_ALIGNED(got, align));
				assert_true(got >= STRESS_BASE);
				assert_true(got + n * PAGE_SIZE <= model_addr(m.pages));
				for (u64 i = 0; i < n; i++)
					assert_true(m.free[(got - STRESS_BASE) / PAGE_SIZE + i]);
				model_set(&m, got, got + n * PAGE_SIZE, false);
				live[n_live].base = got;
				live[n_live].pages = n;
				n_live++;
			}
		} else if (n_live) {
			u32 i = rng_below(n_live);

			pmm_free(&pmm, live[i].base, live[i].pages);
			model_set(&m, live[i].base, live[i].base + live[i].pages * PAGE_SIZE, true);
			live[i] = live[--n_live];
		}

		check_invariants(&pmm);
		for (u64 page = 0; page < m.pages; page++) {
			bool in_pmm = pmm_page_is_free(&pmm, model_addr(page));

			if (exact ? in_pmm != m.free[page] : in_pmm && !m.free[page])
				fail_msg("round %u: page %#llx pmm %d model %d", round,
					 (unsigned long long)model_addr(page), in_pmm,
					 m.free[page]);
		}
		if (exact)
			assert_int_equal(pmm.lost_bytes, 0);
		most_ranges = MAX(most_ranges, pmm.n_ranges);
	}
	/* Short adds and removes keep the free set fragmented, or this would prove little. */
	if (exact)
		assert_true(most_ranges >= 64);
	else
		assert_true(pmm.lost_bytes > 0);
}

static void test_stress_exact(void **state)
{
	(void)state;
	/* At most 240 disjoint ranges fit in 480 pages: the table never fills. */
	stress(480, 0x9e3779b97f4a7c15ull, true, 4000);
}

static void test_stress_table_overflow(void **state)
{
	(void)state;
	stress(STRESS_MAX_PAGES, 0xdeadbeefcafef00dull, false, 3000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem_type_names),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_add_shrinks_inward),
		cmocka_unit_test(test_remove_grows_outward),
		cmocka_unit_test(test_merging),
		cmocka_unit_test(test_remove_split_and_span),
		cmocka_unit_test(test_top_of_address_space),
		cmocka_unit_test(test_bad_alloc_args),
		cmocka_unit_test(test_ovmf_map),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_free_and_realloc),
		cmocka_unit_test(test_free_overlapping_free_memory),
		cmocka_unit_test(test_page_zero_never_returned),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_table_full_alloc_split),
		cmocka_unit_test(test_hostile_map),
		cmocka_unit_test(test_stress_exact),
		cmocka_unit_test(test_stress_table_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
