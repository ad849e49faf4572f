/*
 * Fake physical memory for the page-table builders (mm/paging.c, mm/ept.c): host memory posing
 * as physical pages, page i at phys + i * 4 KiB, handed out through struct pt_ops. It fails the
 * test when a builder follows or frees a page it does not own, and poisons freed pages.
 * Include after <cmocka.h>.
 */
#ifndef FAKE_PAGE_POOL_H
#define FAKE_PAGE_POOL_H

#include <stdlib.h>
#include <string.h>

#include <kestrel/paging.h>

struct fake_page_pool {
	struct pt_ops ops; /* the builder's view of the pool */
	u8 *mem;
	u64 phys;  /* physical address of page 0 */
	u32 pages; /* capacity */
	u32 used;  /* high-water mark: pages [0, used) have been handed out at some point */
	u32 live;  /* handed out and not freed */
	u32 limit; /* alloc_table fails once `live` reaches it */
	u32 allocs, frees;
	u32 n_free;
	u32 *free_list; /* freed pages, reused last-freed first */
	bool *is_live;
};

static inline u64 fake_page_pool_alloc(void *ctx)
{
	struct fake_page_pool *pool = ctx;
	u32 page;

	if (pool->live == pool->limit)
		return 0;
	if (pool->n_free)
		page = pool->free_list[--pool->n_free];
	else if (pool->used < pool->pages)
		page = pool->used++;
	else
		return 0;
	memset(pool->mem + (u64)page * PAGE_SIZE, 0, PAGE_SIZE);
	pool->is_live[page] = true;
	pool->live++;
	pool->allocs++;
	return pool->phys + (u64)page * PAGE_SIZE;
}

static inline u32 fake_page_pool_page(const struct fake_page_pool *pool, u64 phys)
{
	/* The builder must only ever follow or free live table pages it allocated. */
	assert_true(phys >= pool->phys && phys < pool->phys + (u64)pool->used * PAGE_SIZE);
	assert_true(IS_ALIGNED(phys, PAGE_SIZE));
	assert_true(pool->is_live[(phys - pool->phys) / PAGE_SIZE]);
	return (u32)((phys - pool->phys) / PAGE_SIZE);
}

static inline void *fake_page_pool_virt(void *ctx, u64 phys)
{
	struct fake_page_pool *pool = ctx;

	return pool->mem + (u64)fake_page_pool_page(pool, phys) * PAGE_SIZE;
}

static inline void fake_page_pool_free(void *ctx, u64 phys)
{
	struct fake_page_pool *pool = ctx;
	u32 page = fake_page_pool_page(pool, phys);

	/* Poison it: a builder still reading the page through an old pointer sees garbage. */
	memset(pool->mem + (u64)page * PAGE_SIZE, 0xa5, PAGE_SIZE);
	pool->is_live[page] = false;
	pool->free_list[pool->n_free++] = page;
	pool->live--;
	pool->frees++;
}

static inline int fake_page_pool_teardown(void **state)
{
	struct fake_page_pool *pool = *state;

	free(pool->mem);
	free(pool->free_list);
	free(pool->is_live);
	free(pool);
	return 0;
}

/*
 * cmocka setup for a fixture of `fixture_size` zeroed bytes that begins with the pool (so the
 * teardown and pool_of() find it). Returns 0, or -1 when the host is out of memory.
 */
static inline int fake_page_pool_setup(void **state, size_t fixture_size, u64 phys, u32 pages)
{
	struct fake_page_pool *pool = calloc(1, fixture_size);

	if (!pool)
		return -1;
	*state = pool;
	pool->mem = aligned_alloc(PAGE_SIZE, (size_t)pages * PAGE_SIZE);
	pool->free_list = calloc(pages, sizeof(*pool->free_list));
	pool->is_live = calloc(pages, sizeof(*pool->is_live));
	if (!pool->mem || !pool->free_list || !pool->is_live) {
		fake_page_pool_teardown(state);
		return -1;
	}
	pool->phys = phys;
	pool->pages = pages;
	pool->limit = pages;
	pool->ops = (struct pt_ops){ .alloc_table = fake_page_pool_alloc,
				     .phys_to_virt = fake_page_pool_virt,
				     .free_table = fake_page_pool_free,
				     .ctx = pool };
	return 0;
}

static inline struct fake_page_pool *pool_of(void **state)
{
	return *state;
}

/* The table page a paging-structure entry points to. */
static inline u64 *table_of(void **state, u64 entry)
{
	return fake_page_pool_virt(pool_of(state), entry & PTE_ADDR_MASK);
}

#endif
