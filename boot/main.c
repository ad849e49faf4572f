/*
 * The hand-off target: from the firmware's environment to Kestrel's own (GDT/TSS, IDT, page
 * tables, stack), then VT-x bring-up. Runs once on the boot CPU.
 */
#include <kestrel/arch.h>
#include <kestrel/boot_info.h>
#include <kestrel/cpu.h>
#include <kestrel/log.h>
#include <kestrel/pmm.h>
#include <kestrel/power.h>
#include <kestrel/root_map.h>
#include <kestrel/sched.h>
#include <kestrel/host_irq.h>
#include <kestrel/host_rtc.h>
#include <kestrel/string.h>
#include <kestrel/tsc.h>
#include <kestrel/vmcs.h>
#include <kestrel/vm.h>
#include <kestrel/vmcs_setup.h>
#include <kestrel/vmx.h>

static struct pmm hv_pool;  /* the reserved pool: page tables, stacks, VMX structures */
static struct pmm ram_pool; /* every other free page: guest memory */
static struct root_map root_map;
static struct vmx_controls vmx_controls;

static NORETURN void run_selftest(enum selftest t);

static void report_memory(const struct boot_info *bi)
{
	log_info("memory: %llu MiB free for guests (largest run %llu MiB); hypervisor pool "
		 "%llu MiB, %llu KiB used",
		 pmm_free_bytes(&ram_pool) >> 20, pmm_largest_free(&ram_pool) >> 20,
		 bi->hv_pool_size >> 20, (bi->hv_pool_size - pmm_free_bytes(&hv_pool)) >> 10);
}

/* VT-x from detection to VMX root operation; refuses with one clear line when unusable. */
static void bring_up_vmx(struct vmx_caps *caps)
{
	struct vmx_msrs msrs;
	const char *missing;
	u64 region;

	vmx_read_msrs(&msrs);
	missing = vmx_caps_decode(&msrs, caps);
	if (msrs.vmx)
		vmx_log_caps(&msrs, caps);
	if (!missing)
		missing = vmx_controls_compute(&msrs, &vmx_controls);
	if (missing) {
		log_err("VT-x unavailable: %s", missing);
		power_off(KEXIT_NO_VTX);
	}
	vmx_enable_feature_control(caps);
	region = pmm_alloc(&hv_pool, 1, PAGE_SIZE);
	if (!region) {
		log_err("hypervisor pool exhausted (VMXON region)");
		power_off(KEXIT_PANIC);
	}
	if (vmx_on(&msrs, caps, region)) {
		log_err("VMXON failed although the capability MSRs allow it");
		power_off(KEXIT_NO_VTX);
	}
	vmx_setup_init(&msrs, caps, &vmx_controls);
	log_info("VMXON ok (region 0x%llx, revision 0x%x)", region, caps->revision);
}

static const struct boot_file *find_file(const struct boot_info *bi, const char *name)
{
	for (u32 i = 0; i < bi->n_files; i++)
		if (!strcmp(bi->files[i].name, name))
			return &bi->files[i];
	return NULL;
}

static NORETURN void run_guests(const struct boot_info *bi, const struct vmx_caps *caps,
				u64 tsc_hz)
{
	u64 checksum = root_map_image_checksum();
	static struct guest guests[CONFIG_MAX_GUESTS];
	const struct config *cfg = &bi->config;
	struct vm_env env = {
		.hv_pool = &hv_pool,
		.ram_pool = &ram_pool,
		.caps = caps,
		.tsc_hz = tsc_hz,
		.unix_time = host_rtc_read_unix(),
	};

	for (u32 i = 0; i < cfg->n_guests; i++) {
		const struct guest_config *gc = &cfg->guests[i];

		vm_create(&guests[i], i, gc, find_file(bi, gc->kernel),
			  gc->initrd[0] ? find_file(bi, gc->initrd) : NULL, &env);
	}
	report_memory(bi);
	log_info("integrity: Kestrel code and read-only data checksum 0x%016llx", checksum);
	sched_run(guests, cfg->n_guests, root_map.exit.top, tsc_hz, caps->preemption_rate,
		  vmx_controls.exit & EXIT_SAVE_PREEMPTION_TIMER,
		  cfg->input == INPUT_ON || (cfg->input == INPUT_AUTO && cfg->harness == HARNESS_NONE));
}

static NORETURN void root_main(void *arg)
{
	struct boot_info *bi = arg;
	const struct config *cfg = &bi->config;
	struct vmx_caps caps;
	u64 tsc_hz;

	/* Only now, off the firmware's stack and page tables, may boot-services memory be reused. */
	pmm_init(&ram_pool);
	pmm_add_map(&ram_pool, bi->map, bi->n_map);
	host_irq_quiesce();
	log_info("root environment up: GDT+TSS (TR 0x%x), IDT 256 vectors, CR3 0x%llx (%u tables), "
		 "stack 0x%llx-0x%llx, guard page 0x%llx",
		 GDT_SEL_TSS, root_map.cr3, root_map.tables, root_map.stack.guard + PAGE_SIZE,
		 root_map.stack.top, root_map.stack.guard);
	report_memory(bi);
	power_init(cfg->harness, bi->rsdp);
	if (cfg->selftest != SELFTEST_NONE)
		run_selftest(cfg->selftest);

	tsc_hz = tsc_calibrate();
	log_info("TSC: %llu.%03llu MHz", tsc_hz / 1000000, tsc_hz / 1000 % 1000);
	bring_up_vmx(&caps);
	if (cfg->n_guests == 0) {
		log_info("no guest configured: done");
		vmx_off();
		power_off(KEXIT_OK);
	}
	run_guests(bi, &caps, tsc_hz);
}

NORETURN void kestrel_main(struct boot_info *bi)
{
	irq_disable(); /* nothing in root mode takes interrupts yet */
	pmm_init(&hv_pool);
	pmm_add(&hv_pool, bi->hv_pool_base, bi->hv_pool_size);
	if (root_map_build(bi, &hv_pool, &root_map)) {
		log_err("hypervisor pool too small for the root page tables (hv_memory)");
		power_off(KEXIT_BOOT_ERROR);
	}
	gdt_load(root_map.ist.top);
	idt_load();
	root_map_activate(&root_map);
	arch_run_on_stack(root_map.stack.top, root_main, bi);
}

/* Deliberate root-mode faults: the boot tests check that each gives the right dump. */
static u64 overflow_stack(u64 depth);
static u64 (*volatile recurse)(u64) = overflow_stack; /* hides the recursion from the optimizer */

static u64 overflow_stack(u64 depth)
{
	volatile u8 frame[512];

	frame[0] = (u8)depth;
	return recurse(depth + 1) + frame[0];
}

static NORETURN void run_selftest(enum selftest t)
{
	switch (t) {
	case SELFTEST_FAULT:
		log_info("selftest: reading guard page at 0x%llx", root_map.stack.guard);
		(void)*(volatile u64 *)root_map.stack.guard;
		break;
	case SELFTEST_WRITE_CODE:
		log_info("selftest: writing code page at 0x%llx", (u64)&kestrel_main);
		*(volatile u8 *)(u64)&kestrel_main = 0xcc;
		break;
	case SELFTEST_STACK_OVERFLOW:
		log_info("selftest: overflowing the stack towards guard page 0x%llx",
			 root_map.stack.guard);
		overflow_stack(0);
		break;
	case SELFTEST_NONE:
		break;
	}
	log_err("selftest '%s' did not fault", config_selftest_name(t));
	power_off(KEXIT_PANIC);
}
