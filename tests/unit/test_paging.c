/* Unit tests for mm/paging.c: tables built in a fake physical memory and walked back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <kestrel/paging.h>

#include "fake_page_pool.h"
#include "xorshift_rng.h"

/* Fake physical memory: pool page i lives at physical POOL_PHYS + i * 4 KiB. */
#define POOL_PHYS 0x7f00000000ull
#define POOL_PAGES 8192u

static u64 misaligned_alloc(void *ctx)
{
	(void)ctx;
	return POOL_PHYS + 0x800;
}

struct fixture {
	struct fake_page_pool pool;
	struct page_table pt;
};
_Static_assert(offsetof(struct fixture, pool) == 0, "fake_page_pool_setup() allocates fixtures");

static int setup(void **state)
{
	return fake_page_pool_setup(state, sizeof(struct fixture), POOL_PHYS, POOL_PAGES);
}

static int teardown(void **state)
{
	return fake_page_pool_teardown(state);
}

static struct page_table *new_pt_sizes(void **state, bool allow_2m, bool allow_1g)
{
	struct fixture *f = *state;

	assert_int_equal(pt_init(&f->pt, &pt_format_x86, &f->pool.ops, allow_2m, allow_1g), 0);
	return &f->pt;
}

/* 2 MiB pages always exist in x86 4-level paging. */
static struct page_table *new_pt(void **state, bool allow_1g)
{
	return new_pt_sizes(state, true, allow_1g);
}

static void expect_mapped(const struct page_table *pt, u64 va, u64 pa, u64 attrs, u64 page_size)
{
	u64 got_pa, got_attrs, got_size;

	if (!pt_translate(pt, va, &got_pa, &got_attrs, &got_size))
		fail_msg("va %#llx not mapped", (unsigned long long)va);
	assert_int_equal(got_pa, pa);
	assert_int_equal(got_attrs, attrs);
	assert_int_equal(got_size, page_size);
}

static void expect_unmapped(const struct page_table *pt, u64 va)
{
	if (pt_translate(pt, va, NULL, NULL, NULL))
		fail_msg("va %#llx mapped", (unsigned long long)va);
}

static void test_init(void **state)
{
	struct page_table *pt = new_pt(state, false);
	struct fixture *f = *state;

	assert_int_equal(pt->root, POOL_PHYS);
	assert_int_equal(pt->tables, 1);
	expect_unmapped(pt, 0);

	assert_ptr_equal(pt->fmt, &pt_format_x86);
	assert_true(pt->allow_2m);
	assert_false(pt->allow_1g);

	f->pool.limit = f->pool.live;
	assert_int_equal(pt_init(&f->pt, &pt_format_x86, &f->pool.ops, true, false), -1);

	/* A page no entry could point to counts as no page. */
	f->pool.ops.alloc_table = misaligned_alloc;
	assert_int_equal(pt_init(&f->pt, &pt_format_x86, &f->pool.ops, true, false), -1);
	assert_int_equal(f->pt.tables, 0);
}

static void test_identity_4g_with_1g_pages(void **state)
{
	struct page_table *pt = new_pt(state, true);

	assert_int_equal(pt_map_range(pt, 0, 0, GiB(4), PTE_WRITE), 0);
	assert_int_equal(pt->tables, 2); /* PML4 and one PDPT */
	expect_mapped(pt, 0, 0, PTE_WRITE, GiB(1));
	expect_mapped(pt, GiB(1) + 0x123456, GiB(1) + 0x123456, PTE_WRITE, GiB(1));
	expect_mapped(pt, GiB(4) - 1, GiB(4) - 1, PTE_WRITE, GiB(1));
	expect_unmapped(pt, GiB(4));
}

static void test_identity_4g_with_2m_pages(void **state)
{
	struct page_table *pt = new_pt(state, false);

	assert_int_equal(pt_map_range(pt, 0, 0, GiB(4), PTE_WRITE | PTE_NX), 0);
	assert_int_equal(pt->tables, 1 + 1 + 4);
	expect_mapped(pt, 0, 0, PTE_WRITE | PTE_NX, MiB(2));
	expect_mapped(pt, GiB(3) + 0x1234, GiB(3) + 0x1234, PTE_WRITE | PTE_NX, MiB(2));
	expect_mapped(pt, GiB(4) - PAGE_SIZE, GiB(4) - PAGE_SIZE, PTE_WRITE | PTE_NX, MiB(2));
	expect_unmapped(pt, GiB(4));
}

static void test_page_sizes_follow_alignment(void **state)
{
	struct page_table *pt = new_pt(state, true);
	const u64 start = MiB(2) - KiB(8), end = GiB(2) + MiB(2) + KiB(4);

	assert_int_equal(pt_map_range(pt, start, start, end - start, 0), 0);
	expect_unmapped(pt, start - PAGE_SIZE);
	expect_mapped(pt, start, start, 0, PAGE_SIZE);
	expect_mapped(pt, MiB(2) - PAGE_SIZE, MiB(2) - PAGE_SIZE, 0, PAGE_SIZE);
	expect_mapped(pt, MiB(2), MiB(2), 0, MiB(2));
	expect_mapped(pt, GiB(1) - 1, GiB(1) - 1, 0, MiB(2));
	expect_mapped(pt, GiB(1), GiB(1), 0, GiB(1));
	expect_mapped(pt, GiB(2), GiB(2), 0, MiB(2));
	expect_mapped(pt, GiB(2) + MiB(2), GiB(2) + MiB(2), 0, PAGE_SIZE);
	expect_unmapped(pt, end);
	assert_int_equal(pt->tables, 1 + 1 + 2 + 2); /* PML4, PDPT, 2 PDs, 2 PTs */
}

static void test_misaligned_pa_forces_4k(void **state)
{
	struct page_table *pt = new_pt(state, true);

	/* va is 1 GiB aligned but pa only 4 KiB: only 4 KiB pages can express the offset. */
	assert_int_equal(pt_map_range(pt, GiB(1), MiB(2) + PAGE_SIZE, MiB(4), PTE_WRITE), 0);
	expect_mapped(pt, GiB(1), MiB(2) + PAGE_SIZE, PTE_WRITE, PAGE_SIZE);
	expect_mapped(pt, GiB(1) + MiB(4) - 1, MiB(6) + PAGE_SIZE - 1, PTE_WRITE, PAGE_SIZE);
	assert_int_equal(pt->tables, 1 + 1 + 1 + 2);
}

static void test_override_4k_in_2m(void **state)
{
	struct page_table *pt = new_pt(state, false);
	const u64 rw = PTE_WRITE | PTE_GLOBAL;
	u32 tables;

	assert_int_equal(pt_map_range(pt, 0, 0, GiB(4), rw), 0);
	tables = pt->tables;
	/* Read-only, no-execute, and somewhere else: the page a W^X kernel text would get. */
	assert_int_equal(pt_map_range(pt, MiB(2) + PAGE_SIZE, 0x5000, PAGE_SIZE, PTE_NX), 0);
	assert_int_equal(pt->tables, tables + 1);

	expect_mapped(pt, MiB(2) + PAGE_SIZE, 0x5000, PTE_NX, PAGE_SIZE);
	expect_mapped(pt, MiB(2) + PAGE_SIZE + 0xabc, 0x5abc, PTE_NX, PAGE_SIZE);
	expect_mapped(pt, MiB(2), MiB(2), rw, PAGE_SIZE);
	expect_mapped(pt, MiB(2) + 2 * PAGE_SIZE, MiB(2) + 2 * PAGE_SIZE, rw, PAGE_SIZE);
	expect_mapped(pt, MiB(4) - PAGE_SIZE, MiB(4) - PAGE_SIZE, rw, PAGE_SIZE);
	expect_mapped(pt, MiB(2) - PAGE_SIZE, MiB(2) - PAGE_SIZE, rw, MiB(2));
	expect_mapped(pt, MiB(4), MiB(4), rw, MiB(2));
}

static void test_override_4k_in_1g(void **state)
{
	struct page_table *pt = new_pt(state, true);
	const u64 target = GiB(1) + MiB(2) + PAGE_SIZE;
	u32 tables;

	assert_int_equal(pt_map_range(pt, 0, 0, GiB(4), PTE_WRITE | PTE_PCD), 0);
	tables = pt->tables;
	assert_int_equal(pt_map_range(pt, target, target, PAGE_SIZE, PTE_NX), 0);
	assert_int_equal(pt->tables, tables + 2); /* a PD for the 1G page, a PT for the 2M page */

	expect_mapped(pt, target, target, PTE_NX, PAGE_SIZE);
	expect_mapped(pt, target - PAGE_SIZE, target - PAGE_SIZE, PTE_WRITE | PTE_PCD, PAGE_SIZE);
	expect_mapped(pt, target + PAGE_SIZE, target + PAGE_SIZE, PTE_WRITE | PTE_PCD, PAGE_SIZE);
	expect_mapped(pt, GiB(1), GiB(1), PTE_WRITE | PTE_PCD, MiB(2));
	expect_mapped(pt, GiB(1) + MiB(4), GiB(1) + MiB(4), PTE_WRITE | PTE_PCD, MiB(2));
	expect_mapped(pt, GiB(2) - 1, GiB(2) - 1, PTE_WRITE | PTE_PCD, MiB(2));
	expect_mapped(pt, GiB(2), GiB(2), PTE_WRITE | PTE_PCD, GiB(1));
	expect_mapped(pt, GiB(1) - 1, GiB(1) - 1, PTE_WRITE | PTE_PCD, GiB(1));
}

static void test_override_2m_in_1g_uncached(void **state)
{
	struct page_table *pt = new_pt(state, true);

	assert_int_equal(pt_map_range(pt, 0, 0, GiB(1), PTE_WRITE | PTE_GLOBAL), 0);
	assert_int_equal(pt_map_range(pt, MiB(4), GiB(3), MiB(2), PTE_WRITE | PT_UNCACHED), 0);
	expect_mapped(pt, MiB(4) + 8, GiB(3) + 8, PTE_WRITE | PT_UNCACHED, MiB(2));
	expect_mapped(pt, MiB(2), MiB(2), PTE_WRITE | PTE_GLOBAL, MiB(2));
	expect_mapped(pt, MiB(6), MiB(6), PTE_WRITE | PTE_GLOBAL, MiB(2));
}

static void test_unmap(void **state)
{
	struct page_table *pt = new_pt(state, false);
	u32 tables;

	assert_int_equal(pt_map_range(pt, 0, 0, MiB(8), PTE_WRITE), 0);
	tables = pt->tables;

	/* A guard page below a stack: splits one 2 MiB page. */
	assert_int_equal(pt_unmap_range(pt, MiB(4) + PAGE_SIZE, PAGE_SIZE), 0);
	assert_int_equal(pt->tables, tables + 1);
	expect_unmapped(pt, MiB(4) + PAGE_SIZE);
	expect_mapped(pt, MiB(4), MiB(4), PTE_WRITE, PAGE_SIZE);
	expect_mapped(pt, MiB(4) + 2 * PAGE_SIZE, MiB(4) + 2 * PAGE_SIZE, PTE_WRITE, PAGE_SIZE);
	expect_mapped(pt, MiB(6) - 1, MiB(6) - 1, PTE_WRITE, PAGE_SIZE);

	/* The first page of a large page: aligned, but not the whole of it. */
	assert_int_equal(pt_unmap_range(pt, MiB(2), PAGE_SIZE), 0);
	expect_unmapped(pt, MiB(2));
	expect_mapped(pt, MiB(2) + PAGE_SIZE, MiB(2) + PAGE_SIZE, PTE_WRITE, PAGE_SIZE);

	/* A whole aligned large page goes without a split. */
	assert_int_equal(pt_unmap_range(pt, MiB(6), MiB(2)), 0);
	assert_int_equal(pt->tables, tables + 2);
	expect_unmapped(pt, MiB(6));
	expect_unmapped(pt, MiB(8) - 1);
	expect_mapped(pt, MiB(6) - 1, MiB(6) - 1, PTE_WRITE, PAGE_SIZE);

	/* Unmapping what is not mapped is fine, however large. */
	assert_int_equal(pt_unmap_range(pt, MiB(6), MiB(2)), 0);
	assert_int_equal(pt_unmap_range(pt, GiB(1), 0x7fffc0000000ull - GiB(1)), 0);
	assert_int_equal(pt_unmap_range(pt, 0xffff800000000000ull, 0x800000000000ull), 0);
	expect_mapped(pt, 0, 0, PTE_WRITE, MiB(2));

	/* The whole lower half, across both mapped and unmapped spans. */
	assert_int_equal(pt_unmap_range(pt, 0, 0x800000000000ull), 0);
	for (u64 va = 0; va < MiB(8); va += PAGE_SIZE)
		expect_unmapped(pt, va);
}

static void test_high_canonical(void **state)
{
	struct page_table *pt = new_pt(state, true);
	const u64 kernel = 0xffffffff80000000ull, last = 0xfffffffffffff000ull;

	assert_int_equal(pt_map_range(pt, kernel, MiB(16), MiB(2), PTE_WRITE | PTE_GLOBAL), 0);
	assert_int_equal(pt_map_range(pt, 0xffff800000000000ull, GiB(1), GiB(1), PTE_NX), 0);
	assert_int_equal(pt_map_range(pt, last, PAGE_SIZE, PAGE_SIZE, 0), 0);

	expect_mapped(pt, kernel + 0x1234, MiB(16) + 0x1234, PTE_WRITE | PTE_GLOBAL, MiB(2));
	expect_mapped(pt, 0xffff800000000000ull, GiB(1), PTE_NX, GiB(1));
	expect_mapped(pt, UINT64_MAX, 2 * PAGE_SIZE - 1, 0, PAGE_SIZE);
	/* Same low 47 bits, other half; and the non-canonical hole. */
	expect_unmapped(pt, kernel & 0x00007fffffffffffull);
	expect_unmapped(pt, 0x0000800000000000ull);
	expect_unmapped(pt, 0xffff7ffffffff000ull);

	assert_int_equal(pt_unmap_range(pt, last, PAGE_SIZE), 0);
	expect_unmapped(pt, last);
	expect_mapped(pt, kernel, MiB(16), PTE_WRITE | PTE_GLOBAL, MiB(2));
}

static void test_bad_arguments(void **state)
{
	static const struct {
		u64 va, pa, size, attrs;
	} bad[] = {
		{ 0x1001, 0, PAGE_SIZE, 0 },                          /* unaligned va */
		{ 0, 0x800, PAGE_SIZE, 0 },                           /* unaligned pa */
		{ 0, 0, 0x1800, 0 },                                  /* unaligned size */
		{ 0, 0, 0, 0 },                                       /* empty */
		{ 0x0000800000000000ull, 0, PAGE_SIZE, 0 },           /* non-canonical */
		{ 0xffff7ffffffff000ull, 0, PAGE_SIZE, 0 },           /* non-canonical */
		{ 0x00007ffffffff000ull, 0, 2 * PAGE_SIZE, 0 },       /* runs into the hole */
		{ 0xfffffffffffff000ull, 0, 2 * PAGE_SIZE, 0 },       /* wraps past 2^64 */
		{ 0, 0, UINT64_MAX & ~0xfffull, 0 },                  /* past the lower half */
		{ 0, 1ull << 52, PAGE_SIZE, 0 },                      /* pa beyond 52 bits */
		{ 0, (1ull << 52) - PAGE_SIZE, 2 * PAGE_SIZE, 0 },    /* pa runs past 52 bits */
		{ 0, 0xfffffffffffff000ull, 2 * PAGE_SIZE, 0 },       /* pa wraps */
		{ 0, 0, PAGE_SIZE, PTE_USER },                        /* not a leaf attribute */
		{ 0, 0, PAGE_SIZE, PTE_WRITE | PTE_LARGE },           /* the builder's business */
		{ 0, 0, PAGE_SIZE, PTE_PRESENT },
	};
	struct page_table *pt = new_pt(state, true);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (pt_map_range(pt, bad[i].va, bad[i].pa, bad[i].size, bad[i].attrs) != -1)
			fail_msg("case %zu accepted", i);
		if (bad[i].attrs == 0 && bad[i].pa == 0 &&
		    pt_unmap_range(pt, bad[i].va, bad[i].size) != -1)
			fail_msg("unmap case %zu accepted", i);
	}
	assert_int_equal(pt->tables, 1);

	/* The edges themselves are fine. */
	assert_int_equal(pt_map_range(pt, 0, (1ull << 52) - PAGE_SIZE, PAGE_SIZE, 0), 0);
	expect_mapped(pt, 0, (1ull << 52) - PAGE_SIZE, 0, PAGE_SIZE);
	assert_int_equal(pt_map_range(pt, 0x00007ffffffff000ull, 0, PAGE_SIZE, PT_ATTR_MASK), 0);
	expect_mapped(pt, 0x00007ffffffff000ull, 0, PT_ATTR_MASK, PAGE_SIZE);
}

static void test_out_of_table_pages(void **state)
{
	struct page_table *pt = new_pt(state, false);
	struct fake_page_pool *pool = pool_of(state);

	/* A 4 KiB page needs a PDPT, a PD and a PT; allow only two. */
	pool->limit = pool->live + 2;
	assert_int_equal(pt_map_range(pt, 0, 0, PAGE_SIZE, PTE_WRITE), -1);
	assert_int_equal(pt->tables, 3);
	expect_unmapped(pt, 0);

	/* A 2 MiB page fits in the tables already there; splitting it needs one more. */
	assert_int_equal(pt_map_range(pt, 0, 0, MiB(2), PTE_WRITE), 0);
	assert_int_equal(pt_map_range(pt, PAGE_SIZE, 0, PAGE_SIZE, 0), -1);
	assert_int_equal(pt_unmap_range(pt, PAGE_SIZE, PAGE_SIZE), -1);
	expect_mapped(pt, PAGE_SIZE, PAGE_SIZE, PTE_WRITE, MiB(2));

	/* A range failing half-way keeps what it mapped before. */
	pool->limit = pool->live;
	assert_int_equal(pt_map_range(pt, GiB(1) - MiB(2), 0, MiB(4), PTE_WRITE), -1);
	expect_mapped(pt, GiB(1) - MiB(2), 0, PTE_WRITE, MiB(2));
	expect_unmapped(pt, GiB(1));
}

static void test_intermediate_entries(void **state)
{
	struct page_table *pt = new_pt(state, false);
	const u64 attrs = PTE_NX | PTE_GLOBAL | PTE_PCD;
	u64 *pml4, *pdpt, *pd;

	assert_int_equal(pt_map_range(pt, GiB(1), GiB(5), MiB(2), attrs), 0);
	pml4 = table_of(state, pt->root);
	/* Intermediate entries grant everything so the leaf alone decides. */
	assert_int_equal(pml4[0] & ~PTE_ADDR_MASK, PTE_PRESENT | PTE_WRITE);
	pdpt = table_of(state, pml4[0]);
	assert_int_equal(pdpt[1] & ~PTE_ADDR_MASK, PTE_PRESENT | PTE_WRITE);
	pd = table_of(state, pdpt[1]);
	assert_int_equal(pd[0], GiB(5) | PTE_PRESENT | PTE_LARGE | attrs);
	/* In a PTE bit 7 is PAT, not PS: a 4 KiB leaf must leave it clear. */
	assert_int_equal(pt_map_range(pt, GiB(1) + MiB(4), GiB(5), PAGE_SIZE, PTE_WRITE), 0);
	assert_int_equal(pd[2] & ~PTE_ADDR_MASK, PTE_PRESENT | PTE_WRITE);
	assert_int_equal(table_of(state, pd[2])[0], GiB(5) | PTE_PRESENT | PTE_WRITE);

	/* pt_translate combines levels like the CPU does (SDM 4.6.1). */
	assert_int_equal(pt_map_range(pt, GiB(1) + MiB(2), GiB(6), MiB(2), PTE_WRITE), 0);
	expect_mapped(pt, GiB(1) + MiB(2), GiB(6), PTE_WRITE, MiB(2));
	pdpt[1] |= PTE_NX;
	expect_mapped(pt, GiB(1) + MiB(2), GiB(6), PTE_WRITE | PTE_NX, MiB(2));
	pml4[0] &= ~PTE_WRITE;
	expect_mapped(pt, GiB(1) + MiB(2), GiB(6), PTE_NX, MiB(2));
	expect_mapped(pt, GiB(1), GiB(5), attrs, MiB(2));
}

static void test_split_keeps_attributes(void **state)
{
	struct page_table *pt = new_pt(state, true);
	const u64 attrs = PTE_WRITE | PTE_NX | PTE_GLOBAL | PTE_PWT;

	assert_int_equal(pt_map_range(pt, GiB(2), GiB(7), GiB(1), attrs), 0);
	assert_int_equal(pt_unmap_range(pt, GiB(2) + MiB(10) + PAGE_SIZE, PAGE_SIZE), 0);
	for (u64 off = 0; off < GiB(1); off += MiB(1)) {
		u64 size = off >= MiB(10) && off < MiB(12) ? PAGE_SIZE : MiB(2);

		expect_mapped(pt, GiB(2) + off, GiB(7) + off, attrs, size);
	}
	expect_mapped(pt, GiB(2) + MiB(10), GiB(7) + MiB(10), attrs, PAGE_SIZE);
	expect_unmapped(pt, GiB(2) + MiB(10) + PAGE_SIZE);
	expect_mapped(pt, GiB(2) + MiB(10) + 2 * PAGE_SIZE, GiB(7) + MiB(10) + 2 * PAGE_SIZE,
		      attrs, PAGE_SIZE);
}

static void test_large_page_replaces_table(void **state)
{
	struct page_table *pt = new_pt(state, true);
	struct fake_page_pool *pool = pool_of(state);

	assert_int_equal(pt_map_range(pt, 0, MiB(1), MiB(2), PTE_WRITE), 0); /* 4 KiB pages */
	assert_int_equal(pt->tables, 4);
	expect_mapped(pt, 0, MiB(1), PTE_WRITE, PAGE_SIZE);
	assert_int_equal(pt_map_range(pt, 0, MiB(4), MiB(2), PTE_NX), 0);
	expect_mapped(pt, 0x1234, MiB(4) + 0x1234, PTE_NX, MiB(2));
	expect_mapped(pt, MiB(2) - 1, MiB(6) - 1, PTE_NX, MiB(2));
	/* The PT under the new 2 MiB leaf went back to the allocator. */
	assert_int_equal(pt->tables, 3);
	assert_int_equal(pool->frees, 1);
	assert_int_equal(pool->live, 3);

	/* And a 1 GiB page over a PD holding that 2 MiB page and a PT. */
	assert_int_equal(pt_map_range(pt, MiB(2), 0, PAGE_SIZE, 0), 0);
	assert_int_equal(pt->tables, 4);
	assert_int_equal(pt_map_range(pt, 0, GiB(3), GiB(1), PTE_WRITE), 0);
	expect_mapped(pt, MiB(2), GiB(3) + MiB(2), PTE_WRITE, GiB(1));
	assert_int_equal(pt->tables, 2);
	assert_int_equal(pool->frees, 3);
	assert_int_equal(pool->live, 2);
}

static void test_replacement_does_not_leak(void **state)
{
	struct page_table *pt = new_pt(state, true);
	struct fake_page_pool *pool = pool_of(state);

	for (u32 round = 0; round < 20; round++) {
		/* pa off by 4 KiB: a PD and 512 PTs of 4 KiB pages... */
		assert_int_equal(pt_map_range(pt, GiB(1), GiB(8) + PAGE_SIZE, GiB(1), 0), 0);
		assert_int_equal(pt->tables, 1 + 1 + 1 + 512);
		expect_mapped(pt, GiB(2) - 1, GiB(9) + PAGE_SIZE - 1, 0, PAGE_SIZE);
		/* ...then one 1 GiB page over all of them, which must free all 513. */
		assert_int_equal(pt_map_range(pt, GiB(1), GiB(8), GiB(1), PTE_NX), 0);
		assert_int_equal(pt->tables, 2);
		assert_int_equal(pool->live, 2);
		expect_mapped(pt, GiB(2) - 1, GiB(9) - 1, PTE_NX, GiB(1));
	}
	assert_int_equal(pool->frees, 20 * 513);
	/* Freed pages are reused, so 20 rounds need no more pages than one. */
	assert_int_equal(pool->used, 2 + 513);
}

static void test_unmap_frees_covered_tables(void **state)
{
	struct page_table *pt = new_pt(state, false);
	struct fake_page_pool *pool = pool_of(state);

	/* Off by 4 KiB: 4 MiB of 4 KiB pages in two PTs, plus a third PT for the last page. */
	assert_int_equal(pt_map_range(pt, 0, PAGE_SIZE, MiB(4) + PAGE_SIZE, PTE_WRITE), 0);
	assert_int_equal(pt->tables, 1 + 1 + 1 + 3);

	/* A range covering one PDE whole frees its PT; a partial one leaves the PT alone. */
	assert_int_equal(pt_unmap_range(pt, MiB(2), MiB(2)), 0);
	assert_int_equal(pt->tables, 5);
	assert_int_equal(pt_unmap_range(pt, 0, MiB(1)), 0);
	assert_int_equal(pt->tables, 5);
	expect_unmapped(pt, MiB(2));
	expect_mapped(pt, MiB(1), MiB(1) + PAGE_SIZE, PTE_WRITE, PAGE_SIZE);
	expect_mapped(pt, MiB(4), MiB(4) + PAGE_SIZE, PTE_WRITE, PAGE_SIZE);

	/* The whole lower half: everything but the PML4 goes. */
	assert_int_equal(pt_unmap_range(pt, 0, 0x800000000000ull), 0);
	assert_int_equal(pt->tables, 1);
	assert_int_equal(pool->live, 1);
	expect_unmapped(pt, MiB(1));
	assert_int_equal(pt_map_range(pt, 0, 0, PAGE_SIZE, 0), 0);
	expect_mapped(pt, 0, 0, 0, PAGE_SIZE);
}

static void test_free_table_is_optional(void **state)
{
	struct fixture *f = *state;
	struct page_table *pt;

	f->pool.ops.free_table = NULL;
	pt = new_pt(state, true);
	assert_int_equal(pt_map_range(pt, 0, PAGE_SIZE, MiB(2), PTE_WRITE), 0);
	assert_int_equal(pt->tables, 4);
	/* Unlinked tables are abandoned: no longer counted, never handed back. */
	assert_int_equal(pt_map_range(pt, 0, 0, GiB(1), PTE_WRITE), 0);
	assert_int_equal(pt->tables, 2);
	assert_int_equal(f->pool.live, 4);
	pt_destroy(pt);
	assert_int_equal(pt->tables, 0);
	assert_int_equal(pt->root, 0);
	assert_int_equal(f->pool.frees, 0);
}

static void test_destroy(void **state)
{
	struct page_table *pt = new_pt(state, true);
	struct fake_page_pool *pool = pool_of(state);

	assert_int_equal(pt_map_range(pt, 0, 0, GiB(4), PTE_WRITE), 0);
	assert_int_equal(pt_map_range(pt, GiB(1) + PAGE_SIZE, 0, PAGE_SIZE, 0), 0);
	assert_int_equal(pt_map_range(pt, 0xffffffff80000000ull, MiB(16), MiB(4), 0), 0);
	assert_int_equal(pt->tables, pool->live);
	pt_destroy(pt);
	assert_int_equal(pt->tables, 0);
	assert_int_equal(pt->root, 0);
	assert_int_equal(pool->live, 0);
	assert_int_equal(pool->frees, pool->used);
	pt_destroy(pt); /* nothing left: a no-op */
	assert_int_equal(pool->frees, pool->used);
}

static void test_leaf_sizes_allowed(void **state)
{
	struct page_table *pt = new_pt_sizes(state, false, false);

	assert_false(pt->allow_1g);
	assert_int_equal(pt_map_range(pt, 0, 0, GiB(1), PTE_WRITE), 0);
	expect_mapped(pt, MiB(2), MiB(2), PTE_WRITE, PAGE_SIZE);
	assert_int_equal(pt->tables, 1 + 1 + 1 + 512);

	/* 1 GiB leaves without 2 MiB ones would split into 2 MiB leaves: not used either. */
	pt_destroy(pt);
	pt = new_pt_sizes(state, false, true);
	assert_false(pt->allow_1g);
	assert_int_equal(pt_map_range(pt, 0, 0, GiB(1), PTE_WRITE), 0);
	expect_mapped(pt, GiB(1) - 1, GiB(1) - 1, PTE_WRITE, PAGE_SIZE);
	pt_destroy(pt);

	pt = new_pt_sizes(state, true, false);
	assert_int_equal(pt_map_range(pt, 0, 0, GiB(1), PTE_WRITE), 0);
	expect_mapped(pt, GiB(1) - 1, GiB(1) - 1, PTE_WRITE, MiB(2));
	assert_int_equal(pt->tables, 3);
}

/* --- random map/unmap against a per-4 KiB-page model ------------------------------------- */

/* Two GiB straddling a PML4 boundary (512 GiB * 4), so every level gets exercised. */
#define WINDOW_VA (GiB(2048) - GiB(1))
#define WINDOW_PAGES (GiB(2) / PAGE_SIZE)

struct page_model {
	bool mapped;
	u64 pa;
	u64 attrs;
};

static struct page_model model[WINDOW_PAGES];

static void check_page(const struct page_table *pt, u64 page)
{
	u64 va = WINDOW_VA + page * PAGE_SIZE;
	u64 pa, attrs;
	bool mapped = pt_translate(pt, va, &pa, &attrs, NULL);

	if (mapped != model[page].mapped)
		fail_msg("va %#llx: mapped %d, model %d", (unsigned long long)va, mapped,
			 model[page].mapped);
	if (!mapped)
		return;
	if (pa != model[page].pa || attrs != model[page].attrs)
		fail_msg("va %#llx: pa %#llx attrs %#llx, model pa %#llx attrs %#llx",
			 (unsigned long long)va, (unsigned long long)pa, (unsigned long long)attrs,
			 (unsigned long long)model[page].pa,
			 (unsigned long long)model[page].attrs);
}

static void test_random_against_model(void **state)
{
	static const u64 granules[] = { PAGE_SIZE, PAGE_SIZE, MiB(2), MiB(2), GiB(1) };
	struct page_table *pt = new_pt(state, true);
	struct fake_page_pool *pool = pool_of(state);

	rng_state = 0x2545f4914f6cdd1dull;
	memset(model, 0, sizeof(model));

	for (u32 round = 0; round < 600; round++) {
		u64 granule = granules[rng_below(ARRAY_SIZE(granules))];
		u64 first = rng_below(WINDOW_PAGES) & ~(granule / PAGE_SIZE - 1);
		u64 pages = (1 + rng_below(granule == PAGE_SIZE ? 700 : 3)) * (granule / PAGE_SIZE);

		/* Now and then knock a range off its granule so large and small pages mix, or
		 * start a short one on a large page's first 4 KiB. */
		if (granule > PAGE_SIZE && rng_below(3) == 0)
			first += 1 + rng_below(granule / PAGE_SIZE - 1);
		else if (granule == PAGE_SIZE && rng_below(3) == 0)
			first &= ~(MiB(2) / PAGE_SIZE - 1);
		if (first >= WINDOW_PAGES)
			continue;
		pages = MIN(pages, WINDOW_PAGES - first);

		if (rng_below(10) < 7) {
			u64 pa = (rng_below(1ull << 28) * GiB(1)) & ((1ull << 46) - 1);
			u64 attrs = rng() & PT_ATTR_MASK;

			/* Same offset as va within the granule, so large pages are possible... */
			pa += (first * PAGE_SIZE) & (granule - 1);
			/* ...or not. */
			if (rng_below(4) == 0)
				pa += PAGE_SIZE;
			assert_int_equal(pt_map_range(pt, WINDOW_VA + first * PAGE_SIZE, pa,
						      pages * PAGE_SIZE, attrs), 0);
			for (u64 i = 0; i < pages; i++) {
				model[first + i].mapped = true;
				model[first + i].pa = pa + i * PAGE_SIZE;
				model[first + i].attrs = attrs;
			}
		} else {
			assert_int_equal(pt_unmap_range(pt, WINDOW_VA + first * PAGE_SIZE,
							pages * PAGE_SIZE), 0);
			for (u64 i = 0; i < pages; i++)
				model[first + i].mapped = false;
		}

		/* Edges of the operation, a random sample, and now and then everything. */
		check_page(pt, first);
		check_page(pt, first + pages - 1);
		if (first > 0)
			check_page(pt, first - 1);
		if (first + pages < WINDOW_PAGES)
			check_page(pt, first + pages);
		for (u32 i = 0; i < 64; i++)
			check_page(pt, rng_below(WINDOW_PAGES));
		if (round % 100 == 99)
			for (u64 page = 0; page < WINDOW_PAGES; page++)
				check_page(pt, page);
		assert_int_equal(pt->tables, pool->live);
	}
	expect_unmapped(pt, WINDOW_VA - PAGE_SIZE);
	expect_unmapped(pt, WINDOW_VA + WINDOW_PAGES * PAGE_SIZE);
	pt_destroy(pt);
	assert_int_equal(pool->live, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_4g_with_1g_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_4g_with_2m_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page_sizes_follow_alignment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misaligned_pa_forces_4k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override_4k_in_2m, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override_4k_in_1g, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override_2m_in_1g_uncached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_high_canonical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_table_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intermediate_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_keeps_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_page_replaces_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replacement_does_not_leak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_frees_covered_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_table_is_optional, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leaf_sizes_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_against_model, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
