/*
 * Linux guests: a bzImage started at its 64-bit entry point, as the Linux/x86 boot protocol
 * describes (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"; the zero page layout is
 * Documentation/arch/x86/zero-page.rst). Pure code over byte buffers, so the host unit tests and
 * a fuzzer link it directly; every byte of the kernel file is untrusted.
 *
 * Guest-physical layout linux_prepare() builds (guest RAM is one block at GPA 0):
 *
 *   0x000000 - 0x000fff   RAM (e820 type 1)
 *   0x001000 - 0x00ffff   boot data, e820 reserved: boot_params (zero page), GDT and a scratch
 *                         stack, page tables, command line
 *   0x010000 - 0x09fbff   RAM (the kernel's real-mode trampoline lives here)
 *   0x09fc00 - 0x0fffff   reserved: EBDA, VGA hole, BIOS area
 *   0x100000 - RAM end    RAM, less the platform's reserved ranges; the kernel at pref_address
 *                         (16 MiB for Debian's) or the next aligned place that fits, the initrd
 *                         page-aligned as high as the kernel allows
 */
#ifndef KESTREL_LINUX_BOOT_H
#define KESTREL_LINUX_BOOT_H

#include <kestrel/types.h>

#define LINUX_BOOT_ERR_MAX 160 /* room for any bzimage_parse / linux_prepare message */
#define BZIMAGE_VERSION_MAX 128

/* e820 entry types (zero-page.rst, e820_table) */
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3 /* ACPI tables, reclaimable once parsed */
#define E820_NVS 4

/* Fixed guest-physical addresses of the boot data (see the layout above). */
#define LINUX_BOOT_PARAMS_GPA 0x1000ull
#define LINUX_GDT_GPA 0x2000ull
#define LINUX_STACK_TOP 0x3000ull /* the rest of the GDT's page */
#define LINUX_PML4_GPA 0x3000ull
#define LINUX_PDPT_GPA 0x4000ull
#define LINUX_PD_GPA 0x5000ull /* four page directories: 0x5000 - 0x8fff */
#define LINUX_CMDLINE_GPA 0x9000ull
#define LINUX_BOOT_DATA_END 0x10000ull
#define LINUX_CMDLINE_MAX (LINUX_BOOT_DATA_END - LINUX_CMDLINE_GPA - 1)
#define LINUX_IDENTITY_MAP_END GiB(4) /* what the boot page tables map, 1:1 */

/* The protocol's __BOOT_CS and __BOOT_DS ("64-bit Boot Protocol"). */
#define LINUX_BOOT_CS 0x10
#define LINUX_BOOT_DS 0x18

#define LINUX_MAX_RESERVED 16

/* What bzimage_parse learned from the setup header (boot.rst, "The Real-Mode Kernel Header"). */
struct bzimage_info {
	u16 protocol;       /* e.g. 0x020f for 2.15 */
	u32 setup_sects;    /* the real value: 4 when the field is 0 */
	u64 setup_size;     /* (setup_sects + 1) * 512: file offset of the protected-mode kernel */
	u64 kernel_size;    /* bytes of protected-mode kernel, to the end of the file */
	u32 header_end;     /* 0x202 + the byte at 0x201: end of the setup header */
	u8 loadflags;
	u16 xloadflags;
	u32 kernel_alignment;
	u64 pref_address;
	u32 init_size;
	u32 cmdline_size;    /* the longest command line, without its NUL */
	u32 initrd_addr_max; /* the highest byte the initrd may occupy */
	char version[BZIMAGE_VERSION_MAX]; /* the kernel_version string, "" if there is none */
};

/* A guest-physical range the guest must not use as RAM, with its e820 type. */
struct linux_mem_range {
	u64 start, size;
	u32 type; /* E820_RESERVED, E820_ACPI or E820_NVS */
};

/* What the virtual platform tells the kernel. */
struct linux_platform {
	u64 acpi_rsdp; /* GPA of the ACPI RSDP; 0: the kernel searches the BIOS area itself */
	u32 n_reserved;
	struct linux_mem_range reserved[LINUX_MAX_RESERVED]; /* may lie inside or beyond RAM */
};

/*
 * The vCPU state for the 64-bit entry ("64-bit Boot Protocol"): long mode with paging (CR0.PG,
 * CR0.PE, CR4.PAE, EFER.LME and LMA), CR3 = cr3, the GDT at gdt_base/gdt_limit, CS =
 * LINUX_BOOT_CS (64-bit code), DS = ES = SS = LINUX_BOOT_DS, interrupts disabled, RSI = rsi,
 * RIP = rip. The protocol asks for no stack (the kernel sets up its own before its first push);
 * rsp is a scratch one, so that an early fault cannot write over the guest's RAM. The rest is
 * for the log.
 */
struct linux_entry {
	u64 rip;      /* the kernel's load address + 0x200 */
	u64 rsi;      /* GPA of boot_params */
	u64 rsp;      /* LINUX_STACK_TOP */
	u64 cr3;      /* PML4 of an identity map of [0, LINUX_IDENTITY_MAP_END), 2 MiB pages */
	u64 gdt_base;
	u16 gdt_limit;
	u64 kernel_gpa, kernel_end; /* [load address, + init_size) */
	u64 initrd_gpa;             /* 0 without an initrd */
	u32 e820_entries;
};

/*
 * Check that `file` (size bytes) is a bzImage this loader can start: setup header signatures,
 * boot protocol 2.12 or later, loaded high, relocatable, with a 64-bit entry point and sane
 * sizes. Returns 0 with `info` filled in, or -1 with a one-line message for the user in `err`
 * (errlen bytes, always NUL-terminated if errlen > 0).
 */
int bzimage_parse(const void *file, u64 size, struct bzimage_info *info, char *err,
		  size_t errlen);

/*
 * Lay a kernel bzimage_parse accepted (with `info`) out in guest RAM (ram_size bytes mapped at
 * guest_ram, zeroed by the caller): the protected-mode kernel, the initrd (initrd_size bytes;
 * none if 0), the NUL-terminated command line, boot_params with the e820 map and the RSDP
 * address, the GDT and the identity-map page tables. Refuses, with a message, a command line
 * longer than the kernel takes, a kernel or initrd that does not fit, and a bad platform
 * description; guest RAM is only written once everything fits. Returns 0 with `entry` filled in,
 * or -1.
 */
int linux_prepare(void *guest_ram, u64 ram_size, const void *bzimage,
		  const struct bzimage_info *info, const void *initrd, u64 initrd_size,
		  const char *cmdline, const struct linux_platform *platform,
		  struct linux_entry *entry, char *err, size_t errlen);

#endif
