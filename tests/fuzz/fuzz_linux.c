/*
 * bzImage parser and Linux boot layout (guest/linux_boot.c): the input is the kernel file.
 * When bzimage_parse accepts it, linux_prepare lays it out in an exact-size guest RAM buffer of
 * 1 to 16 MiB, with an initrd, a command line and extra reserved ranges taken from the legacy
 * boot sector (bytes 0x000-0x1ef, which the parser ignores, as a 64-bit loader does):
 *
 *   0x00       RAM size: 1 MiB << (byte % 5)
 *   0x01-0x02  initrd size (the initrd is the file's first bytes, wrapping)
 *   0x03-0x04  command line length (its bytes: the file's from 0x40 on, repeated, with
 *              spaces for NULs)
 *   0x05       bits 1:0 extra reserved ranges, bit 7 leaves out the platform's ACPI range
 *   0x100      the extra ranges: 17 bytes each, u64 start, u64 size, u8 e820 type
 *
 * Then every promise of the layout is checked: kernel and initrd placement, the copied bytes,
 * the command line, and an e820 map that is sorted, disjoint and keeps RAM out of the boot data
 * and the reserved ranges.
 */
#include <string.h>

#include <kestrel/linux_boot.h>

#include "fuzz.h"

/* The platform's ACPI tables (PLATFORM_ACPI_GPA and _SIZE in include/kestrel/loaders.h). */
#define ACPI_GPA		   0xe0000ull
#define ACPI_SIZE		   0x20000ull
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x0002
#define BP_E820_ENTRIES		   0x1e8
#define BP_E820_TABLE		   0x2d0
#define N_RAM_SIZES		   5

static bool overlaps(u64 a, u64 a_size, u64 b, u64 b_size)
{
	return a < b + b_size && b < a + a_size;
}

static void check_info(const struct bzimage_info *info, size_t size)
{
	FUZZ_CHECK(info->protocol >= 0x020c);
	FUZZ_CHECK(info->setup_sects >= 1 && info->setup_sects <= 255);
	FUZZ_CHECK(info->setup_size == (u64)(info->setup_sects + 1) * 512);
	FUZZ_CHECK(info->setup_size < size && info->kernel_size == size - info->setup_size);
	FUZZ_CHECK(info->header_end >= 0x264 && info->header_end <= 0x202 + 0x7f);
	FUZZ_CHECK(info->init_size >= info->kernel_size);
	FUZZ_CHECK(info->kernel_alignment >= 4096 && info->kernel_alignment <= GiB(1) &&
		   !(info->kernel_alignment & (info->kernel_alignment - 1)));
	FUZZ_CHECK(IS_ALIGNED(info->pref_address, info->kernel_alignment));
	FUZZ_CHECK(info->cmdline_size > 0 && info->initrd_addr_max >= MiB(1));
	FUZZ_CHECK(fuzz_printable(info->version, sizeof(info->version)));
}

/* The e820 type the map gives the whole range [start, start + len), or 0 if mixed/absent. */
static u32 e820_type_of(const u8 *bp, u64 start, u64 len)
{
	u32 n = bp[BP_E820_ENTRIES];

	for (u32 i = 0; i < n; i++) {
		const u8 *e = bp + BP_E820_TABLE + 20 * i;
		u64 addr = fuzz_le(e, 20, 0, 8), esize = fuzz_le(e, 20, 8, 8);

		if (start >= addr && start - addr < esize)
			return len <= esize - (start - addr) ? (u32)fuzz_le(e, 20, 16, 4) : 0;
	}
	return 0;
}

static void check_layout(const u8 *ram, u64 ram_size, const u8 *file,
			 const struct bzimage_info *info, const u8 *initrd, u64 initrd_size,
			 const char *cmdline, const struct linux_platform *pf,
			 const struct linux_entry *e)
{
	const u8 *bp = ram + LINUX_BOOT_PARAMS_GPA;
	size_t cmdline_len = strlen(cmdline);
	u32 n = bp[BP_E820_ENTRIES];
	u64 prev_end = 0;

	FUZZ_CHECK(e->rip == e->kernel_gpa + 0x200 && e->rsi == LINUX_BOOT_PARAMS_GPA);
	FUZZ_CHECK(e->cr3 == LINUX_PML4_GPA && e->rsp == LINUX_STACK_TOP);
	FUZZ_CHECK(e->kernel_gpa >= MiB(1) && IS_ALIGNED(e->kernel_gpa, info->kernel_alignment));
	FUZZ_CHECK(e->kernel_end == e->kernel_gpa + info->init_size);
	FUZZ_CHECK(e->kernel_end <= ram_size && e->kernel_end <= LINUX_IDENTITY_MAP_END);
	FUZZ_CHECK(memcmp(ram + e->kernel_gpa, file + info->setup_size, info->kernel_size) == 0);
	for (u32 i = 0; i < pf->n_reserved; i++)
		FUZZ_CHECK(!overlaps(e->kernel_gpa, info->init_size, pf->reserved[i].start,
				     pf->reserved[i].size));

	if (initrd_size) {
		FUZZ_CHECK(e->initrd_gpa >= MiB(1) && IS_ALIGNED(e->initrd_gpa, PAGE_SIZE));
		FUZZ_CHECK(e->initrd_gpa + initrd_size <= ram_size);
		if (!(info->xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G))
			FUZZ_CHECK(e->initrd_gpa + initrd_size - 1 <= info->initrd_addr_max);
		FUZZ_CHECK(!overlaps(e->initrd_gpa, initrd_size, e->kernel_gpa, info->init_size));
		for (u32 i = 0; i < pf->n_reserved; i++)
			FUZZ_CHECK(!overlaps(e->initrd_gpa, initrd_size, pf->reserved[i].start,
					     pf->reserved[i].size));
		FUZZ_CHECK(memcmp(ram + e->initrd_gpa, initrd, initrd_size) == 0);
		FUZZ_CHECK(e820_type_of(bp, e->initrd_gpa, initrd_size) == 1);
	} else {
		FUZZ_CHECK(e->initrd_gpa == 0);
	}

	FUZZ_CHECK(memcmp(ram + LINUX_CMDLINE_GPA, cmdline, cmdline_len + 1) == 0);
	FUZZ_CHECK(fuzz_le(bp, 4096, 0x228, 4) == LINUX_CMDLINE_GPA);
	FUZZ_CHECK(fuzz_le(bp, 4096, 0x202, 4) == 0x53726448); /* "HdrS" copied from the file */
	FUZZ_CHECK(fuzz_le(bp, 4096, 0x070, 8) == pf->acpi_rsdp);

	/* e820: sorted, disjoint, non-empty entries of known types; RAM only inside guest RAM. */
	FUZZ_CHECK(n >= 1 && n == e->e820_entries);
	for (u32 i = 0; i < n; i++) {
		const u8 *ent = bp + BP_E820_TABLE + 20 * i;
		u64 addr = fuzz_le(ent, 20, 0, 8), size = fuzz_le(ent, 20, 8, 8);
		u32 type = (u32)fuzz_le(ent, 20, 16, 4);

		FUZZ_CHECK(size > 0 && addr >= prev_end && addr + size > addr);
		FUZZ_CHECK(type >= E820_RAM && type <= E820_NVS);
		if (type == E820_RAM) {
			FUZZ_CHECK(addr + size <= ram_size);
			FUZZ_CHECK(!overlaps(addr, size, LINUX_BOOT_PARAMS_GPA,
					     LINUX_BOOT_DATA_END - LINUX_BOOT_PARAMS_GPA));
			for (u32 j = 0; j < pf->n_reserved; j++)
				FUZZ_CHECK(!overlaps(addr, size, pf->reserved[j].start,
						     pf->reserved[j].size));
		}
		prev_end = addr + size;
	}
	FUZZ_CHECK(e820_type_of(bp, e->kernel_gpa, info->init_size) == E820_RAM);
	FUZZ_CHECK(e820_type_of(bp, LINUX_BOOT_PARAMS_GPA,
				LINUX_BOOT_DATA_END - LINUX_BOOT_PARAMS_GPA) == E820_RESERVED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static u8 *rams[N_RAM_SIZES]; /* exact sizes: ASan sees a write past guest RAM */
	uint8_t *f = fuzz_dup(data, size);
	struct bzimage_info info;
	struct linux_platform pf = { .acpi_rsdp = 0 };
	struct linux_entry entry;
	char err[LINUX_BOOT_ERR_MAX];
	u64 ram_size, initrd_size, cmdline_len;
	unsigned extra, k;
	u8 *initrd;
	char *cmdline;
	int r;

	memset(err, 'x', sizeof(err));
	r = bzimage_parse(f, size, &info, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -1);
	if (r) {
		FUZZ_CHECK(err[0] && memchr(err, '\0', sizeof(err)) &&
			   fuzz_printable(err, sizeof(err)));
		free(f);
		return 0;
	}
	check_info(&info, size);

	/* The loader's inputs, from the boot sector (the parser accepted >= 1024 bytes). */
	k = f[0] % N_RAM_SIZES;
	ram_size = MiB(1) << k;
	if (!rams[k])
		rams[k] = malloc(ram_size);
	FUZZ_CHECK(rams[k]);
	initrd_size = fuzz_le(f, size, 1, 2);
	initrd = malloc(initrd_size ? initrd_size : 1);
	FUZZ_CHECK(initrd);
	fuzz_repeat(initrd, initrd_size, f, size);
	cmdline_len = fuzz_le(f, size, 3, 2);
	cmdline = malloc(cmdline_len + 1);
	FUZZ_CHECK(cmdline);
	fuzz_repeat((u8 *)cmdline, cmdline_len, f + 0x40, size - 0x40);
	fuzz_nul_to_space(cmdline, cmdline_len);
	cmdline[cmdline_len] = '\0';
	pf.acpi_rsdp = ACPI_GPA;
	if (!(f[5] & 0x80))
		pf.reserved[pf.n_reserved++] =
			(struct linux_mem_range){ ACPI_GPA, ACPI_SIZE, E820_ACPI };
	extra = f[5] & 3;
	for (unsigned i = 0; i < extra; i++) {
		size_t at = 0x100 + 17 * i;

		pf.reserved[pf.n_reserved++] =
			(struct linux_mem_range){ fuzz_le(f, size, at, 8),
						  fuzz_le(f, size, at + 8, 8), f[at + 16] };
	}

	memset(err, 'x', sizeof(err));
	r = linux_prepare(rams[k], ram_size, f, &info, initrd, initrd_size, cmdline, &pf, &entry,
			  err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -1);
	if (r == 0)
		check_layout(rams[k], ram_size, f, &info, initrd, initrd_size, cmdline, &pf,
			     &entry);
	else
		FUZZ_CHECK(err[0] && memchr(err, '\0', sizeof(err)) &&
			   fuzz_printable(err, sizeof(err)));

	free(cmdline);
	free(initrd);
	free(f);
	return 0;
}
