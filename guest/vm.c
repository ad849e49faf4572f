/*
 * A guest from its config: contiguous RAM from the free pool mapped at guest-physical 0 by its
 * own EPT (nothing else is mapped: Kestrel's memory and other guests' are unreachable), its own
 * devices, the kernel image loaded, and a VMCS for its single vCPU.
 */
#include <kestrel/console.h>
#include <kestrel/cpu.h>
#include <kestrel/elf_loader.h>
#include <kestrel/fmt.h>
#include <kestrel/log.h>
#include <kestrel/platform_irq.h>
#include <kestrel/string.h>
#include <kestrel/vcpu.h>
#include <kestrel/vm.h>
#include <kestrel/vmcs.h>
#include <kestrel/vmcs_setup.h>

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002u
#define MB_INFO_GPA 0x9000ull /* one page of boot information below 640 KiB */
#define MB_MMAP_OFFSET 0x100
#define MB_CMDLINE_OFFSET 0x400
#define MB_INFO_MEMORY (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MMAP (1u << 6)
#define LOW_MEMORY_END 0x9fc00ull /* conventional memory as PCs report it */
#define FXSAVE_FCW_OFFSET 0
#define FXSAVE_MXCSR_OFFSET 24

/* Multiboot 1 information structure (Multiboot Specification 0.6.96, section 3.3). */
struct multiboot_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr;
} __attribute__((packed));

struct multiboot_mmap_entry {
	u32 size;
	u64 base, length;
	u32 type;
} __attribute__((packed));

static u64 pool_alloc_zeroed(void *pool)
{
	u64 page = pmm_alloc(pool, 1, PAGE_SIZE);

	if (page)
		memset((void *)page, 0, PAGE_SIZE);
	return page;
}

static void *identity(void *ctx, u64 phys)
{
	return (void *)phys;
}

static void pool_free(void *pool, u64 phys)
{
	pmm_free(pool, phys, 1);
}

static void *alloc_pages(struct pmm *pool, u64 pages)
{
	u64 phys = pmm_alloc(pool, pages, PAGE_SIZE);

	if (phys)
		memset((void *)phys, 0, pages * PAGE_SIZE);
	return (void *)phys;
}

/* Device time is the guest's TSC, so TSC-deadline values compare directly. */
static u64 clock_now(void *ctx)
{
	const struct vcpu *v = ctx;

	return rdtsc() + v->tsc_offset;
}

static void lapic_eoi(void *ctx, u8 vector)
{
	struct guest *g = ctx;

	ioapic_eoi(&g->ioapic, vector);
}

static void lapic_self_nmi(void *ctx)
{
	struct guest *g = ctx;

	guest_stop(g, -1, "sent itself an NMI, which Kestrel does not deliver yet");
}

static void uart_emit(void *ctx, u8 byte)
{
	guest_console_putc(ctx, byte);
}

static void write_multiboot_info(struct guest *g, const struct guest_config *cfg)
{
	struct multiboot_info *mb = guest_ram_ptr(g, MB_INFO_GPA, PAGE_SIZE);
	struct multiboot_mmap_entry *mmap = (void *)((u8 *)mb + MB_MMAP_OFFSET);
	size_t cmdline_len = strnlen(cfg->cmdline, CONFIG_CMDLINE_MAX - 1);

	memset(mb, 0, PAGE_SIZE);
	mmap[0] = (struct multiboot_mmap_entry){ 20, 0, LOW_MEMORY_END, 1 };
	mmap[1] = (struct multiboot_mmap_entry){ 20, MiB(1), g->ram_size - MiB(1), 1 };
	memcpy((u8 *)mb + MB_CMDLINE_OFFSET, cfg->cmdline, cmdline_len);
	*mb = (struct multiboot_info){
		.flags = MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MMAP,
		.mem_lower = LOW_MEMORY_END >> 10,
		.mem_upper = (u32)((g->ram_size - MiB(1)) >> 10),
		.cmdline = (u32)(MB_INFO_GPA + MB_CMDLINE_OFFSET),
		.mmap_length = 2 * sizeof(*mmap),
		.mmap_addr = (u32)(MB_INFO_GPA + MB_MMAP_OFFSET),
	};
}

static int load_image(struct guest *g, const struct guest_config *cfg,
		      const struct boot_file *kernel, u64 *entry)
{
	struct guest_image img;
	char err[GUEST_IMAGE_ERR_MAX];

	if (g->ram_size < MiB(2)) {
		guest_stop(g, -1, "needs at least 2 MiB of memory for a multiboot image");
		return -1;
	}
	if (elf_parse((const void *)kernel->phys, kernel->size, g->ram_size, &img, err,
		      sizeof(err))) {
		guest_stop(g, -1, "%s: %s", kernel->name, err);
		return -1;
	}
	for (u32 i = 0; i < img.n_segments; i++)
		if (img.seg[i].gpa < MB_INFO_GPA + PAGE_SIZE &&
		    img.seg[i].gpa + img.seg[i].mem_size > MB_INFO_GPA) {
			guest_stop(g, -1, "%s: a segment overlaps the boot information at 0x%llx",
				   kernel->name, MB_INFO_GPA);
			return -1;
		}
	elf_load((const void *)kernel->phys, &img, (void *)g->ram_hpa);
	write_multiboot_info(g, cfg);
	*entry = img.entry;
	log_info("guest '%s': %s loaded, entry 0x%llx, %u segment(s)", g->name, kernel->name,
		 img.entry, img.n_segments);
	return 0;
}

static int create_memory(struct guest *g, const struct vm_env *env)
{
	struct pt_ops ops = { pool_alloc_zeroed, identity, pool_free, env->hv_pool };
	u64 align = g->ram_size >= GiB(1) && env->caps->ept_1g ? GiB(1) : MiB(2);

	g->ram_hpa = pmm_alloc(env->ram_pool, g->ram_size / PAGE_SIZE, align);
	if (!g->ram_hpa && align > MiB(2))
		g->ram_hpa = pmm_alloc(env->ram_pool, g->ram_size / PAGE_SIZE, MiB(2));
	if (!g->ram_hpa) {
		guest_stop(g, -1, "not enough free memory for %llu MiB (largest free run %llu MiB)",
			   g->ram_size >> 20, pmm_largest_free(env->ram_pool) >> 20);
		return -1;
	}
	memset((void *)g->ram_hpa, 0, g->ram_size);
	/* Guest RAM is write-back; the guest's PAT still applies on top (SDM Vol. 3C 29.3.7). */
	if (ept_init(&g->ept, &ops, env->caps->ept_2m, env->caps->ept_1g) ||
	    ept_map_range(&g->ept, 0, g->ram_hpa, g->ram_size, EPT_RWX | EPT_MT_WB)) {
		guest_stop(g, -1, "hypervisor pool exhausted building the EPT (raise hv_memory)");
		return -1;
	}
	return 0;
}

#define IOAPIC_ID 1 /* after the local APIC ids (MADT) */

static int create_devices(struct guest *g)
{
	struct vclock clock = { clock_now, &g->vcpu, g->tsc_hz };
	struct lapic_hooks hooks = { lapic_eoi, lapic_self_nmi, g };
	struct irq_line isa = platform_isa_line(g);

	vdev_bus_init(&g->bus);
	pic_init(&g->pic);
	ioapic_init(&g->ioapic, IOAPIC_ID, platform_ioapic_deliver, g);
	uart_init(&g->uart, 0x3f8, 4, isa, uart_emit, g);
	if (lapic_init(&g->lapic, 0, clock, hooks) || pit_init(&g->pit, clock, isa) ||
	    pic_register(&g->pic, &g->bus) || pit_register(&g->pit, &g->bus) ||
	    uart_register(&g->uart, &g->bus) || lapic_register(&g->lapic, &g->bus) ||
	    ioapic_register(&g->ioapic, &g->bus)) {
		guest_stop(g, -1, "cannot set up the virtual devices");
		return -1;
	}
	lapic_virtual_wire(&g->lapic); /* the state PC firmware hands an OS */
	return 0;
}

static int create_vcpu(struct guest *g, const struct vm_env *env)
{
	struct vcpu *v = &g->vcpu;
	u8 *msr_bitmap = alloc_pages(env->hv_pool, 1);
	u8 *io_bitmaps = alloc_pages(env->hv_pool, 2);
	u8 *virtual_apic = alloc_pages(env->hv_pool, 1);
	u8 *fpu = alloc_pages(env->hv_pool, 1);
	u32 *vmcs = alloc_pages(env->hv_pool, 1);

	if (!msr_bitmap || !io_bitmaps || !virtual_apic || !fpu || !vmcs) {
		guest_stop(g, -1, "hypervisor pool exhausted (raise hv_memory)");
		return -1;
	}
	msr_bitmap_build(msr_bitmap);
	memset(io_bitmaps, 0xff, 2 * PAGE_SIZE); /* every port exits to the device bus */
	*(u16 *)(fpu + FXSAVE_FCW_OFFSET) = 0x37f; /* the x87 and SSE state after FNINIT */
	*(u32 *)(fpu + FXSAVE_MXCSR_OFFSET) = 0x1f80;
	*vmcs = env->caps->revision; /* SDM Vol. 3C 25.2: the VMCS revision identifier */
	g->msr_bitmap = msr_bitmap;
	g->io_bitmaps = io_bitmaps;
	g->virtual_apic = virtual_apic;
	v->guest = g;
	v->vmcs = (u64)vmcs;
	v->fpu_state = fpu;
	v->vpid = (u16)(g->index + 1); /* VPID 0 is the host's */
	v->tsc_offset = -rdtsc(); /* the guest's TSC starts near 0: boot times read directly */
	msr_state_init(&v->msrs);
	return 0;
}

void vm_create(struct guest *g, u32 index, const struct guest_config *cfg,
	       const struct boot_file *kernel, const struct vm_env *env)
{
	struct vcpu_entry entry = { .mode = ENTRY_PROTECTED32 };

	memset(g, 0, sizeof(*g));
	g->config = cfg;
	g->index = index;
	g->state = GUEST_RUNNING;
	g->ram_size = cfg->memory;
	g->tsc_hz = env->tsc_hz;
	fmt_snprintf(g->name, sizeof(g->name), "%s", cfg->name);
	if (!kernel) {
		guest_stop(g, -1, "kernel '%s' was not loaded", cfg->kernel);
		return;
	}
	if (create_memory(g, env) || create_vcpu(g, env) || create_devices(g) ||
	    load_image(g, cfg, kernel, &entry.rip))
		return;
	entry.gpr[GPR_RAX] = MULTIBOOT_BOOTLOADER_MAGIC;
	entry.gpr[GPR_RBX] = MB_INFO_GPA;
	vmcs_setup_vcpu(&g->vcpu, env->exit_stack_slot, &entry);
	g->vcpu.proc_controls = vmcs_read32(VMCS_PROC_CONTROLS);
	log_info("guest '%s': %llu MiB at host 0x%llx, EPT %u tables, VPID %u", g->name,
		 g->ram_size >> 20, g->ram_hpa, g->ept.pt.tables, g->vcpu.vpid);
}
