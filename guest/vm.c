/*
 * A guest from its config: contiguous RAM from the free pool mapped at guest-physical 0 by its
 * own EPT (nothing else is mapped: Kestrel's memory and other guests' are unreachable), its own
 * devices, the kernel image loaded, and a VMCS for its single vCPU.
 */
#include <kestrel/console.h>
#include <kestrel/cpu.h>
#include <kestrel/acpi_tables.h>
#include <kestrel/fmt.h>
#include <kestrel/loaders.h>
#include <kestrel/log.h>
#include <kestrel/platform_irq.h>
#include <kestrel/string.h>
#include <kestrel/vcpu.h>
#include <kestrel/vm.h>
#include <kestrel/vmcs.h>
#include <kestrel/vmcs_setup.h>

#define FXSAVE_FCW_OFFSET 0
#define FXSAVE_MXCSR_OFFSET 24

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

	vcpu_inject_nmi(&g->vcpu);
}

static void uart_emit(void *ctx, u8 byte)
{
	guest_console_putc(ctx, byte);
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
#define PM_BASE 0x600

static void acpi_power_off(void *ctx)
{
	guest_stop(ctx, 0, "powered off (ACPI S5)");
}

static void platform_reset(void *ctx)
{
	guest_stop(ctx, 0, "reset requested (Kestrel does not restart guests)");
}

static int create_devices(struct guest *g, const struct vm_env *env)
{
	struct vclock clock = { clock_now, &g->vcpu, g->tsc_hz };
	struct lapic_hooks hooks = { lapic_eoi, lapic_self_nmi, g };
	struct irq_line isa = platform_isa_line(g);

	vdev_bus_init(&g->bus);
	pic_init(&g->pic);
	ioapic_init(&g->ioapic, IOAPIC_ID, platform_ioapic_deliver, g);
	uart_init(&g->uart, 0x3f8, 4, isa, uart_emit, g);
	if (lapic_init(&g->lapic, 0, clock, hooks) || pit_init(&g->pit, clock, isa) ||
	    rtc_init(&g->rtc, clock, isa, env->unix_time) ||
	    acpi_pm_init(&g->acpi_pm, PM_BASE, clock, acpi_power_off, g) ||
	    pci_host_init(&g->pci, platform_reset, g) ||
	    legacy_ports_init(&g->legacy, platform_reset, g) || pic_register(&g->pic, &g->bus) ||
	    pit_register(&g->pit, &g->bus) || uart_register(&g->uart, &g->bus) ||
	    lapic_register(&g->lapic, &g->bus) || ioapic_register(&g->ioapic, &g->bus) ||
	    rtc_register(&g->rtc, &g->bus) || acpi_pm_register(&g->acpi_pm, &g->bus) ||
	    pci_host_register(&g->pci, &g->bus) || legacy_ports_register(&g->legacy, &g->bus)) {
		guest_stop(g, -1, "cannot set up the virtual devices");
		return -1;
	}
	lapic_virtual_wire(&g->lapic); /* the state PC firmware hands an OS */
	return 0;
}

/* The ACPI tables describing this platform, in guest RAM where Linux scans for the RSDP. */
static int build_acpi_tables(struct guest *g, u64 *rsdp_gpa)
{
	struct acpi_platform p = {
		.n_cpus = 1,
		.lapic_addr = 0xfee00000,
		.ioapic_addr = 0xfec00000,
		.ioapic_id = IOAPIC_ID,
		.pm_base = PM_BASE,
	};
	void *tables = guest_ram_ptr(g, PLATFORM_ACPI_GPA, PLATFORM_ACPI_SIZE);

	if (!tables || acpi_build(tables, PLATFORM_ACPI_SIZE, PLATFORM_ACPI_GPA, &p, rsdp_gpa)) {
		guest_stop(g, -1, "cannot build the ACPI tables");
		return -1;
	}
	return 0;
}

/* "HdrS" at 0x202 marks a bzImage (boot protocol 2.00+); anything else must be an ELF. */
static bool is_bzimage(const struct boot_file *f)
{
	const u8 *p = (const u8 *)f->phys;

	return f->size > 0x206 && p[0x202] == 'H' && p[0x203] == 'd' && p[0x204] == 'r' &&
	       p[0x205] == 'S';
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
	v->syscall_msrs.dr6 = 0xffff0ff0; /* DR6 at reset (SDM Vol. 3B 18.2.3) */
	msr_state_init(&v->msrs);
	exit_stats_reset(&v->stats);
	cpuid_cache_init(v);
	v->watchdog_at = g->config->watchdog ? rdtsc() : ~0ull;
	return 0;
}

void vm_create(struct guest *g, u32 index, const struct guest_config *cfg,
	       const struct boot_file *kernel, const struct boot_file *initrd,
	       const struct vm_env *env)
{
	struct vcpu_entry entry;
	u64 rsdp;
	int loaded;

	memset(g, 0, sizeof(*g));
	g->config = cfg;
	g->index = index;
	g->state = GUEST_RUNNING;
	g->ram_size = cfg->memory;
	g->tsc_hz = env->tsc_hz;
	fmt_snprintf(g->name, sizeof(g->name), "%s", cfg->name);
	if (cfg->cpus > 1)
		log_warn("guest '%s': cpus = %u, but Kestrel gives each guest one vCPU for now",
			 g->name, cfg->cpus);
	if (!kernel) {
		guest_stop(g, -1, "kernel '%s' was not loaded", cfg->kernel);
		return;
	}
	if (create_memory(g, env) || create_vcpu(g, env) || create_devices(g, env) ||
	    build_acpi_tables(g, &rsdp))
		return;
	if (!is_bzimage(kernel) && initrd) {
		guest_stop(g, -1, "%s is not a Linux bzImage: an initrd is only for Linux kernels",
			   kernel->name);
		return;
	}
	loaded = is_bzimage(kernel) ? load_linux(g, kernel, initrd, rsdp, &entry)
				    : load_multiboot(g, kernel, &entry);
	if (loaded)
		return;
	vmcs_setup_vcpu(&g->vcpu, &entry);
	g->vcpu.proc_controls = vmcs_read32(VMCS_PROC_CONTROLS);
	log_info("guest '%s': %llu MiB at host 0x%llx, EPT %u tables, VPID %u", g->name,
		 g->ram_size >> 20, g->ram_hpa, g->ept.pt.tables, g->vcpu.vpid);
}
