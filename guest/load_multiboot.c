/*
 * Multiboot (version 1) guests: the test and benchmark guests Kestrel ships. An ELF image with a
 * multiboot header (guest/elf.c checks it) is loaded by physical address and entered in 32-bit
 * protected mode with paging off: EAX = the bootloader magic, EBX = the boot information.
 */
#include <kestrel/cpu.h>
#include <kestrel/elf_loader.h>
#include <kestrel/loaders.h>
#include <kestrel/log.h>
#include <kestrel/string.h>
#include <kestrel/vcpu.h>

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002u
#define MB_INFO_GPA 0x9000ull /* one page of boot information below 640 KiB */
#define MB_MMAP_OFFSET 0x100
#define MB_CMDLINE_OFFSET 0x400
#define MB_INFO_MEMORY (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MMAP (1u << 6)
#define LOW_MEMORY_END 0x9fc00ull /* conventional memory as PCs report it */
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

int load_multiboot(struct guest *g, const struct boot_file *kernel, struct vcpu_entry *entry)
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
	write_multiboot_info(g, g->config);
	*entry = (struct vcpu_entry){ .mode = ENTRY_PROTECTED32, .rip = img.entry };
	entry->gpr[GPR_RAX] = MULTIBOOT_BOOTLOADER_MAGIC;
	entry->gpr[GPR_RBX] = MB_INFO_GPA;
	log_info("guest '%s': %s loaded, entry 0x%llx, %u segment(s)", g->name, kernel->name,
		 img.entry, img.n_segments);
	return 0;
}

