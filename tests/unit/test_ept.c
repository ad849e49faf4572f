/* Unit tests for mm/ept.c (and the EPT format of mm/paging.c): tables in fake physical memory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <kestrel/ept.h>

#include "fake_page_pool.h"
#include "xorshift_rng.h"

/* Fake physical memory: pool page i lives at physical POOL_PHYS + i * 4 KiB. */
#define POOL_PHYS 0x3c000000ull
#define POOL_PAGES 4096u

struct fixture {
	struct fake_page_pool pool;
	struct ept ept;
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

static struct ept *new_ept(void **state, bool allow_2m, bool allow_1g)
{
	struct fixture *f = *state;

	assert_int_equal(ept_init(&f->ept, &f->pool.ops, allow_2m, allow_1g), 0);
	return &f->ept;
}

static void expect_mapped(const struct ept *e, u64 gpa, u64 hpa, u64 attrs, u64 page_size)
{
	u64 got_hpa, got_attrs, got_size;

	if (!ept_translate(e, gpa, &got_hpa, &got_attrs, &got_size))
		fail_msg("gpa %#llx not mapped", (unsigned long long)gpa);
	assert_int_equal(got_hpa, hpa);
	assert_int_equal(got_attrs, attrs);
	assert_int_equal(got_size, page_size);
}

static void expect_unmapped(const struct ept *e, u64 gpa)
{
	if (ept_translate(e, gpa, NULL, NULL, NULL))
		fail_msg("gpa %#llx mapped", (unsigned long long)gpa);
}

#define RAM (EPT_RWX | EPT_MT_WB)
#define MMIO (EPT_READ | EPT_WRITE | EPT_MT_UC)

/* Every valid right combination (execute-only included) and every valid memory type. */
static const u64 valid_rights[] = { EPT_READ, EPT_READ | EPT_WRITE, EPT_READ | EPT_EXEC, EPT_RWX,
				    EPT_EXEC };
static const u64 valid_types[] = { 0, 1, 4, 5, 6 };

static void test_init_and_format(void **state)
{
	struct ept *e = new_ept(state, true, true);
	struct fixture *f = *state;

	assert_int_equal(e->pt.root, POOL_PHYS);
	assert_int_equal(e->pt.tables, 1);
	assert_ptr_equal(e->pt.fmt, &pt_format_ept);
	expect_unmapped(e, 0);

	f->pool.limit = f->pool.live;
	assert_int_equal(ept_init(&f->ept, &f->pool.ops, true, true), -1);
}

static void test_identity_1g(void **state)
{
	struct ept *e = new_ept(state, true, true);

	assert_int_equal(ept_map_range(e, 0, 0, GiB(4), RAM), 0);
	assert_int_equal(e->pt.tables, 2); /* PML4, one PDPT */
	expect_mapped(e, 0, 0, RAM, GiB(1));
	expect_mapped(e, GiB(3) + 0x1234, GiB(3) + 0x1234, RAM, GiB(1));
	expect_mapped(e, GiB(4) - 1, GiB(4) - 1, RAM, GiB(1));
	expect_unmapped(e, GiB(4));
}

static void test_identity_2m(void **state)
{
	struct ept *e = new_ept(state, true, false);

	assert_int_equal(ept_map_range(e, 0, 0, GiB(2), RAM), 0);
	assert_int_equal(e->pt.tables, 1 + 1 + 2);
	expect_mapped(e, 0, 0, RAM, MiB(2));
	expect_mapped(e, GiB(2) - 1, GiB(2) - 1, RAM, MiB(2));
	expect_unmapped(e, GiB(2));
}

static void test_identity_4k(void **state)
{
	/* 1 GiB support alone is not used: splitting it would need 2 MiB leaves. */
	struct ept *e = new_ept(state, false, true);

	assert_int_equal(ept_map_range(e, 0, 0, MiB(64), RAM), 0);
	assert_int_equal(e->pt.tables, 1 + 1 + 1 + 32);
	expect_mapped(e, 0, 0, RAM, PAGE_SIZE);
	expect_mapped(e, MiB(64) - 1, MiB(64) - 1, RAM, PAGE_SIZE);
	expect_unmapped(e, MiB(64));
}

static void test_offset_guest_ram(void **state)
{
	struct ept *e = new_ept(state, true, true);
	const u64 ram = GiB(1) + MiB(512);

	/* Host memory 1 GiB aligned: a 1 GiB page, then 2 MiB pages for the remaining 512 MiB. */
	assert_int_equal(ept_map_range(e, 0, GiB(5), ram, RAM), 0);
	expect_mapped(e, 0x1000, GiB(5) + 0x1000, RAM, GiB(1));
	expect_mapped(e, GiB(1), GiB(6), RAM, MiB(2));
	expect_mapped(e, ram - 1, GiB(5) + ram - 1, RAM, MiB(2));
	expect_unmapped(e, ram);

	/* Host memory only 2 MiB aligned: 2 MiB pages throughout. */
	assert_int_equal(ept_map_range(e, GiB(8), GiB(5) + MiB(2), GiB(1), RAM), 0);
	expect_mapped(e, GiB(8), GiB(5) + MiB(2), RAM, MiB(2));
	expect_mapped(e, GiB(9) - 1, GiB(6) + MiB(2) - 1, RAM, MiB(2));

	/* Only 4 KiB aligned: 4 KiB pages. */
	assert_int_equal(ept_map_range(e, GiB(16), GiB(5) + PAGE_SIZE, MiB(4), RAM), 0);
	expect_mapped(e, GiB(16) + MiB(2), GiB(5) + MiB(2) + PAGE_SIZE, RAM, PAGE_SIZE);
	assert_int_equal(e->pt.tables, pool_of(state)->live);
}

static void test_uc_hole_in_wb_region(void **state)
{
	struct ept *e = new_ept(state, true, false);
	const u64 mmio_gpa = MiB(6) + 0x5000, mmio_hpa = 0xfed00000ull;
	u64 *pml4, *pdpt, *pd, *ptab;
	u32 tables;

	assert_int_equal(ept_map_range(e, 0, GiB(2), MiB(16), RAM | EPT_IGNORE_PAT), 0);
	tables = e->pt.tables;
	assert_int_equal(ept_map_range(e, mmio_gpa, mmio_hpa, PAGE_SIZE, MMIO), 0);
	assert_int_equal(e->pt.tables, tables + 1);

	expect_mapped(e, mmio_gpa + 0x30, mmio_hpa + 0x30, MMIO, PAGE_SIZE);
	expect_mapped(e, mmio_gpa - PAGE_SIZE, GiB(2) + mmio_gpa - PAGE_SIZE,
		      RAM | EPT_IGNORE_PAT, PAGE_SIZE);
	expect_mapped(e, mmio_gpa + PAGE_SIZE, GiB(2) + mmio_gpa + PAGE_SIZE,
		      RAM | EPT_IGNORE_PAT, PAGE_SIZE);
	expect_mapped(e, MiB(6), GiB(2) + MiB(6), RAM | EPT_IGNORE_PAT, PAGE_SIZE);
	expect_mapped(e, MiB(4), GiB(2) + MiB(4), RAM | EPT_IGNORE_PAT, MiB(2));
	expect_mapped(e, MiB(8), GiB(2) + MiB(8), RAM | EPT_IGNORE_PAT, MiB(2));

	/* The entries themselves (SDM Vol. 3C 29.3.2): non-leaf ones carry rights only. */
	pml4 = table_of(state, e->pt.root);
	assert_int_equal(pml4[0] & ~PTE_ADDR_MASK, EPT_RWX);
	pdpt = table_of(state, pml4[0]);
	assert_int_equal(pdpt[0] & ~PTE_ADDR_MASK, EPT_RWX);
	pd = table_of(state, pdpt[0]);
	assert_int_equal(pd[2], (GiB(2) + MiB(4)) | RAM | EPT_IGNORE_PAT | EPT_LARGE);
	assert_int_equal(pd[3] & ~PTE_ADDR_MASK, EPT_RWX);
	ptab = table_of(state, pd[3]);
	assert_int_equal(ptab[5], mmio_hpa | MMIO); /* a 4 KiB leaf: bit 7 clear */
	assert_int_equal(ptab[4], (GiB(2) + MiB(6) + 0x4000) | RAM | EPT_IGNORE_PAT);
}

static void test_unmap_page(void **state)
{
	struct ept *e = new_ept(state, true, true);
	u32 tables;

	assert_int_equal(ept_map_range(e, 0, 0, GiB(1), RAM), 0);
	tables = e->pt.tables;
	assert_int_equal(ept_unmap_range(e, MiB(10), PAGE_SIZE), 0);
	assert_int_equal(e->pt.tables, tables + 2); /* the 1 GiB page split, then one 2 MiB page */
	expect_unmapped(e, MiB(10));
	expect_unmapped(e, MiB(10) + PAGE_SIZE - 1);
	expect_mapped(e, MiB(10) - 1, MiB(10) - 1, RAM, MiB(2));
	expect_mapped(e, MiB(10) + PAGE_SIZE, MiB(10) + PAGE_SIZE, RAM, PAGE_SIZE);
	expect_mapped(e, MiB(12), MiB(12), RAM, MiB(2));

	/* Unmapping the whole 2 MiB around it frees the PT again. */
	assert_int_equal(ept_unmap_range(e, MiB(10), MiB(2)), 0);
	assert_int_equal(e->pt.tables, tables + 1);
	expect_unmapped(e, MiB(11));
	assert_int_equal(pool_of(state)->live, e->pt.tables);

	assert_int_equal(ept_unmap_range(e, 1ull << 48, PAGE_SIZE), -1);
	assert_int_equal(ept_unmap_range(e, 0, 1ull << 48), 0);
	assert_int_equal(e->pt.tables, 1);
	expect_unmapped(e, 0);
}

static void test_eptp(void **state)
{
	struct ept *e = new_ept(state, true, true);
	u64 eptp = ept_pointer(e, false);

	/* SDM Vol. 3C 25.6.11: WB (6) in 2:0, walk length 4 - 1 in 5:3, A/D in 6, 11:7 zero. */
	assert_int_equal(eptp & 7, 6);
	assert_int_equal((eptp >> 3) & 7, 3);
	assert_int_equal(eptp & (1ull << 6), 0);
	assert_int_equal(eptp & 0xf80, 0);
	assert_int_equal(eptp & PTE_ADDR_MASK, e->pt.root);
	assert_int_equal(eptp, POOL_PHYS | 0x1e);
	assert_int_equal(ept_pointer(e, true), POOL_PHYS | 0x5e);
}

static void test_misconfigurations_rejected(void **state)
{
	static const u64 bad[] = {
		0,                                 /* no right: not a mapping */
		EPT_MT_WB,                         /* likewise */
		EPT_WRITE,                         /* write-only: SDM 29.3.3.1 */
		EPT_WRITE | EPT_MT_WB,
		EPT_WRITE | EPT_EXEC,              /* write+execute without read */
		EPT_WRITE | EPT_EXEC | EPT_IGNORE_PAT,
		EPT_READ | EPT_MT(2),              /* reserved memory types */
		EPT_RWX | EPT_MT(3),
		EPT_RWX | EPT_MT(7),
		EPT_RWX | EPT_LARGE,               /* the builder's business */
		EPT_RWX | (1ull << 8),             /* accessed */
		EPT_RWX | (1ull << 9),             /* dirty */
		EPT_RWX | (1ull << 10),            /* user execute */
		EPT_RWX | (1ull << 63),            /* suppress #VE */
		EPT_RWX | PTE_ADDR_MASK,
	};
	struct ept *e = new_ept(state, true, true);
	u64 gpa = 0;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (ept_map_range(e, 0, 0, GiB(1), bad[i]) != -1)
			fail_msg("attrs %#llx accepted", (unsigned long long)bad[i]);
	assert_int_equal(e->pt.tables, 1);

	for (size_t r = 0; r < ARRAY_SIZE(valid_rights); r++) {
		for (size_t t = 0; t < ARRAY_SIZE(valid_types); t++) {
			for (u64 ipat = 0; ipat <= EPT_IGNORE_PAT; ipat += EPT_IGNORE_PAT) {
				u64 attrs = valid_rights[r] | EPT_MT(valid_types[t]) | ipat;
				int rc = ept_map_range(e, gpa, GiB(1), PAGE_SIZE, attrs);

				assert_int_equal(rc, 0);
				expect_mapped(e, gpa, GiB(1), attrs, PAGE_SIZE);
				gpa += PAGE_SIZE;
			}
		}
	}
}

static void test_address_limits(void **state)
{
	static const struct {
		u64 gpa, hpa, size;
	} bad[] = {
		{ 0x1001, 0, PAGE_SIZE },                       /* unaligned gpa */
		{ 0, 0x800, PAGE_SIZE },                        /* unaligned hpa */
		{ 0, 0, 0x1800 },                               /* unaligned size */
		{ 0, 0, 0 },                                    /* empty */
		{ 1ull << 48, 0, PAGE_SIZE },                   /* beyond a 4-level walk */
		{ (1ull << 48) - PAGE_SIZE, 0, 2 * PAGE_SIZE }, /* runs past it */
		{ 0xfffffffffffff000ull, 0, 2 * PAGE_SIZE },    /* wraps */
		{ 0xffff800000000000ull, 0, PAGE_SIZE },        /* canonical, but not a GPA */
		{ 0, 1ull << 52, PAGE_SIZE },                   /* hpa beyond 52 bits */
	};
	struct ept *e = new_ept(state, true, true);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (ept_map_range(e, bad[i].gpa, bad[i].hpa, bad[i].size, RAM) != -1)
			fail_msg("case %zu accepted", i);
	assert_int_equal(e->pt.tables, 1);

	/* The top of the 48-bit space is fine; the address above it never translates. */
	assert_int_equal(ept_map_range(e, (1ull << 48) - GiB(1), 0, GiB(1), RAM), 0);
	expect_mapped(e, (1ull << 48) - 1, GiB(1) - 1, RAM, GiB(1));
	expect_unmapped(e, 1ull << 48);
	expect_unmapped(e, UINT64_MAX);
}

static void test_rights_combine_over_levels(void **state)
{
	struct ept *e = new_ept(state, true, true);
	u64 *pml4;

	/* Execute-only is present (any of bits 2:0, SDM 29.3.2). */
	assert_int_equal(ept_map_range(e, 0, GiB(2), MiB(2), EPT_EXEC | EPT_MT_WB), 0);
	expect_mapped(e, 0x10, GiB(2) + 0x10, EPT_EXEC | EPT_MT_WB, MiB(2));
	assert_int_equal(ept_map_range(e, MiB(2), GiB(3), MiB(2), RAM), 0);

	/* SDM 29.3.3.2: a right counts only when every level grants it. */
	pml4 = table_of(state, e->pt.root);
	pml4[0] &= ~EPT_WRITE;
	expect_mapped(e, MiB(2), GiB(3), EPT_READ | EPT_EXEC | EPT_MT_WB, MiB(2));
	pml4[0] &= ~(EPT_READ | EPT_EXEC);
	pml4[0] |= EPT_READ;
	expect_mapped(e, MiB(2), GiB(3), EPT_READ | EPT_MT_WB, MiB(2));
	expect_mapped(e, 0, GiB(2), EPT_MT_WB, MiB(2));
}

static void test_destroy_frees_every_page(void **state)
{
	struct ept *e = new_ept(state, true, true);
	struct fake_page_pool *pool = pool_of(state);

	assert_int_equal(ept_map_range(e, 0, 0, GiB(3), RAM), 0);
	assert_int_equal(ept_map_range(e, GiB(1) + MiB(6) + PAGE_SIZE, 0xfee00000ull, PAGE_SIZE,
				       MMIO), 0);
	assert_int_equal(ept_map_range(e, GiB(600), PAGE_SIZE, MiB(8), RAM), 0);
	assert_int_equal(ept_unmap_range(e, MiB(2), PAGE_SIZE), 0);
	assert_int_equal(ept_map_range(e, GiB(1), GiB(1), GiB(1), RAM), 0); /* frees a subtree */
	assert_true(pool->frees > 0);
	assert_int_equal(e->pt.tables, pool->live);

	ept_destroy(e);
	assert_int_equal(pool->live, 0);
	assert_int_equal(pool->frees, pool->allocs);
	assert_int_equal(e->pt.tables, 0);
	assert_int_equal(e->pt.root, 0);
}

/* --- random map/unmap against a per-4 KiB-page model ------------------------------------- */

/* Two GiB of guest-physical space straddling a PML4 boundary (512 GiB). */
#define WINDOW_GPA (GiB(512) - GiB(1))
#define WINDOW_PAGES (GiB(2) / PAGE_SIZE)

struct page_model {
	bool mapped;
	u64 hpa;
	u64 attrs;
};

static struct page_model model[WINDOW_PAGES];

static u64 random_attrs(void)
{
	u64 rights = valid_rights[rng_below(ARRAY_SIZE(valid_rights))];
	u64 type = valid_types[rng_below(ARRAY_SIZE(valid_types))];

	return rights | EPT_MT(type) | (rng_below(2) ? EPT_IGNORE_PAT : 0);
}

static void check_page(const struct ept *e, u64 page)
{
	u64 gpa = WINDOW_GPA + page * PAGE_SIZE;
	u64 hpa, attrs;
	bool mapped = ept_translate(e, gpa, &hpa, &attrs, NULL);

	if (mapped != model[page].mapped)
		fail_msg("gpa %#llx: mapped %d, model %d", (unsigned long long)gpa, mapped,
			 model[page].mapped);
	if (mapped && (hpa != model[page].hpa || attrs != model[page].attrs))
		fail_msg("gpa %#llx: hpa %#llx attrs %#llx, model hpa %#llx attrs %#llx",
			 (unsigned long long)gpa, (unsigned long long)hpa,
			 (unsigned long long)attrs, (unsigned long long)model[page].hpa,
			 (unsigned long long)model[page].attrs);
}

static void test_random_against_model(void **state)
{
	static const u64 granules[] = { PAGE_SIZE, PAGE_SIZE, MiB(2), MiB(2), GiB(1) };
	struct ept *e = new_ept(state, true, true);
	struct fake_page_pool *pool = pool_of(state);

	rng_state = 0x9e3779b97f4a7c15ull;
	memset(model, 0, sizeof(model));

	for (u32 round = 0; round < 600; round++) {
		u64 granule = granules[rng_below(ARRAY_SIZE(granules))];
		u64 first = rng_below(WINDOW_PAGES) & ~(granule / PAGE_SIZE - 1);
		u64 pages = (1 + rng_below(granule == PAGE_SIZE ? 700 : 3)) * (granule / PAGE_SIZE);

		/* Knock ranges off their granule now and then, so page sizes mix. */
		if (granule > PAGE_SIZE && rng_below(3) == 0)
			first += 1 + rng_below(granule / PAGE_SIZE - 1);
		if (first >= WINDOW_PAGES)
			continue;
		pages = MIN(pages, WINDOW_PAGES - first);

		if (rng_below(10) < 7) {
			u64 hpa = (rng_below(1ull << 16) * GiB(1)) & ((1ull << 46) - 1);
			u64 attrs = random_attrs();

			hpa += (first * PAGE_SIZE) & (granule - 1);
			if (rng_below(4) == 0)
				hpa += PAGE_SIZE;
			assert_int_equal(ept_map_range(e, WINDOW_GPA + first * PAGE_SIZE, hpa,
						       pages * PAGE_SIZE, attrs), 0);
			for (u64 i = 0; i < pages; i++) {
				model[first + i].mapped = true;
				model[first + i].hpa = hpa + i * PAGE_SIZE;
				model[first + i].attrs = attrs;
			}
		} else {
			assert_int_equal(ept_unmap_range(e, WINDOW_GPA + first * PAGE_SIZE,
							 pages * PAGE_SIZE), 0);
			for (u64 i = 0; i < pages; i++)
				model[first + i].mapped = false;
		}

		check_page(e, first);
		check_page(e, first + pages - 1);
		if (first > 0)
			check_page(e, first - 1);
		if (first + pages < WINDOW_PAGES)
			check_page(e, first + pages);
		for (u32 i = 0; i < 64; i++)
			check_page(e, rng_below(WINDOW_PAGES));
		if (round % 100 == 99)
			for (u64 page = 0; page < WINDOW_PAGES; page++)
				check_page(e, page);
		/* No table leaks: every live page is linked in. */
		assert_int_equal(e->pt.tables, pool->live);
	}
	expect_unmapped(e, WINDOW_GPA - PAGE_SIZE);
	expect_unmapped(e, WINDOW_GPA + WINDOW_PAGES * PAGE_SIZE);

	ept_destroy(e);
	assert_int_equal(pool->live, 0);
	assert_int_equal(pool->frees, pool->allocs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_and_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_1g, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_2m, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_4k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offset_guest_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uc_hole_in_wb_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eptp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misconfigurations_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rights_combine_over_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_frees_every_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_against_model, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
