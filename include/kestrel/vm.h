/* Creating a guest from its [guest NAME] section. */
#ifndef KESTREL_VM_H
#define KESTREL_VM_H

#include <kestrel/boot_info.h>
#include <kestrel/guest.h>
#include <kestrel/pmm.h>
#include <kestrel/vmx_caps.h>

struct vm_env {
	struct pmm *hv_pool;  /* VMCS, bitmaps, EPT tables */
	struct pmm *ram_pool; /* guest RAM */
	const struct vmx_caps *caps;
	u64 tsc_hz;
	u64 unix_time; /* the host's time of day at boot, for the guests' RTCs */
};

/*
 * Build guest `index` from its config and loaded files: RAM, EPT, the virtual PC, the image (a
 * multiboot ELF or a Linux bzImage, told apart by their headers) and a VMCS ready to launch.
 * On any problem the guest is left GUEST_STOPPED with the reason (a bad image stops only that
 * guest).
 */
void vm_create(struct guest *g, u32 index, const struct guest_config *cfg,
	       const struct boot_file *kernel, const struct boot_file *initrd,
	       const struct vm_env *env);

#endif
