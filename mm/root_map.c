/* The root-mode page tables: an identity map with W^X for Kestrel's image. */
#include <kestrel/cpu.h>
#include <kestrel/log.h>
#include <kestrel/msr.h>
#include <kestrel/paging.h>
#include <kestrel/root_map.h>
#include <kestrel/string.h>

#define CPUID_EXT_EDX_PAGE1GB (1u << 26)

/* From linker.ld: page-aligned boundaries of the image's parts. */
extern const u8 ImageBase[], __text_start[], __text_end[], __rodata_start[], __rodata_end[],
	__data_start[], __image_end[];

static u64 alloc_zeroed_page(void *ctx)
{
	u64 page = pmm_alloc(ctx, 1, PAGE_SIZE);

	if (page)
		memset((void *)page, 0, PAGE_SIZE);
	return page;
}

static void free_page(void *ctx, u64 phys)
{
	pmm_free(ctx, phys, 1);
}

static void *identity(void *ctx, u64 phys)
{
	return (void *)phys;
}

static bool cpu_has_1g_pages(void)
{
	return cpuid(0x80000000, 0).eax >= 0x80000001 &&
	       (cpuid(0x80000001, 0).edx & CPUID_EXT_EDX_PAGE1GB);
}

static int alloc_stack(struct pmm *pool, u64 pages, struct root_stack *s)
{
	u64 base = pmm_alloc(pool, pages + 1, PAGE_SIZE);

	if (!base)
		return -1;
	s->guard = base;
	s->top = base + (pages + 1) * PAGE_SIZE;
	return 0;
}

static int map_image(struct page_table *pt)
{
	u64 base = (u64)ImageBase, text = (u64)__text_start, text_end = (u64)__text_end;
	u64 ro = (u64)__rodata_start, ro_end = (u64)__rodata_end, end = (u64)__image_end;

	/* Headers and unwind tables, code, read-only data, then data + relocation tables. */
	return pt_map_range(pt, base, base, text - base, PTE_NX) ||
	       pt_map_range(pt, text, text, text_end - text, 0) ||
	       pt_map_range(pt, text_end, text_end, ro - text_end, PTE_NX) ||
	       pt_map_range(pt, ro, ro, ro_end - ro, PTE_NX) ||
	       pt_map_range(pt, ro_end, ro_end, end - ro_end, PTE_WRITE | PTE_NX);
}

int root_map_build(const struct boot_info *bi, struct pmm *pool, struct root_map *out)
{
	struct pt_ops ops = { alloc_zeroed_page, identity, free_page, pool };
	struct page_table pt;
	const struct framebuffer_info *fb = &bi->fb;

	/* 2 MiB pages always exist in 4-level paging (SDM Vol. 3A 4.5); 1 GiB ones may not. */
	if (alloc_stack(pool, ROOT_STACK_PAGES, &out->stack) ||
	    alloc_stack(pool, ROOT_IST_PAGES, &out->ist) ||
	    alloc_stack(pool, ROOT_EXIT_STACK_PAGES, &out->exit) ||
	    pt_init(&pt, &pt_format_x86, &ops, true, cpu_has_1g_pages()))
		return -1;
	/* Everything below 4 GiB uncached first (MMIO: LAPIC, IOAPIC, PCI), then RAM over it. */
	if (pt_map_range(&pt, 0, 0, GiB(4), PTE_WRITE | PTE_NX | PT_UNCACHED))
		return -1;
	for (u32 i = 0; i < bi->n_map; i++) {
		const struct mem_region *r = &bi->map[i];
		u64 base = ALIGN_DOWN(r->base, PAGE_SIZE);
		u64 end = ALIGN_UP(r->base + r->size, PAGE_SIZE);

		if (mem_type_is_ram(r->type) && end > base &&
		    pt_map_range(&pt, base, base, end - base, PTE_WRITE | PTE_NX))
			return -1;
	}
	if (fb->format != FB_NONE && fb->size &&
	    pt_map_range(&pt, ALIGN_DOWN(fb->base, PAGE_SIZE), ALIGN_DOWN(fb->base, PAGE_SIZE),
			 ALIGN_UP(fb->base + fb->size, PAGE_SIZE) - ALIGN_DOWN(fb->base, PAGE_SIZE),
			 PTE_WRITE | PTE_NX | PT_UNCACHED))
		return -1;
	if (map_image(&pt))
		return -1;
	/* A null pointer and a stack overflow must fault, not scribble. */
	if (pt_unmap_range(&pt, 0, PAGE_SIZE) || pt_unmap_range(&pt, out->stack.guard, PAGE_SIZE) ||
	    pt_unmap_range(&pt, out->ist.guard, PAGE_SIZE) ||
	    pt_unmap_range(&pt, out->exit.guard, PAGE_SIZE))
		return -1;
	out->cr3 = pt.root;
	out->tables = pt.tables;
	return 0;
}

void root_map_activate(const struct root_map *rm)
{
	/* NX bits are reserved (a #PF) until EFER.NXE is set: SDM Vol. 3A 4.1.1. */
	wrmsr(MSR_IA32_EFER, rdmsr(MSR_IA32_EFER) | EFER_NXE);
	write_cr0(read_cr0() | CR0_WP);
	write_cr3(rm->cr3);
}

u64 root_map_image_checksum(void)
{
	u64 hash = 0xcbf29ce484222325ull;

	for (const u8 *p = __text_start; p < __text_end; p++)
		hash = (hash ^ *p) * 0x100000001b3ull;
	for (const u8 *p = __rodata_start; p < __rodata_end; p++)
		hash = (hash ^ *p) * 0x100000001b3ull;
	return hash;
}
