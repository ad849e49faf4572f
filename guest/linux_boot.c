/*
 * The Linux/x86 boot protocol for a bzImage entered at its 64-bit entry point
 * (include/kestrel/linux_boot.h). Section names in comments are those of
 * Documentation/arch/x86/boot.rst; zero page offsets come from Documentation/arch/x86/zero-page.rst.
 * Header fields are read byte by byte in little-endian order, never through casts, and every
 * offset + size is checked in a form that cannot overflow.
 */
#include <kestrel/fmt.h>
#include <kestrel/linux_boot.h>
#include <kestrel/string.h>

/* Setup header fields: the same offsets in the file and in boot_params ("The Real-Mode Kernel
 * Header"). */
#define HDR_START 0x1f1 /* setup_sects, the first field */
#define HDR_SYSSIZE 0x1f4
#define HDR_VID_MODE 0x1fa
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP_OFFSET 0x201 /* the jump's displacement: the header's length from 0x202 */
#define HDR_HEADER 0x202
#define HDR_VERSION 0x206
#define HDR_KERNEL_VERSION 0x20e
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE_KERNEL 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_SETUP_DATA 0x250
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_MIN_END 0x264 /* a 2.12+ header reaches at least past init_size */

#define BOOT_FLAG 0xaa55
#define HDRS_MAGIC 0x53726448u /* "HdrS" */
#define PROTOCOL_MIN 0x020c    /* 2.12: xloadflags, XLF_KERNEL_64 */
#define SECTOR 512
#define SETUP_SECTS_DEFAULT 4
#define KERNEL_VERSION_BASE 0x200 /* kernel_version points to its string, less 0x200 */

#define LOADED_HIGH 0x01  /* loadflags */
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x0001 /* xloadflags */
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x0002

#define LOADER_UNDEFINED 0xff /* type_of_loader: no assigned boot loader id */
#define VID_MODE_NORMAL 0xffff
#define HEAP_END 0xe000 /* "Sample Boot Configuration": heap_end_ptr = heap_end - 0x200 */

/* Zero page fields outside the setup header (zero-page.rst). */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define E820_ENTRY_SIZE 20 /* u64 addr, u64 size, u32 type, packed */

/* The PC memory map below 1 MiB ("Memory Layout"). */
#define LOW_RAM_END 0x9fc00ull /* EBDA, VGA memory and the BIOS area above */
#define HIGH_MEMORY MiB(1)

#define PHYS_LIMIT (1ull << 52) /* MAXPHYADDR is at most 52 bits */

/* Boot page tables and GDT descriptors. */
#define PTE_P 0x001ull
#define PTE_W 0x002ull
#define PTE_PS 0x080ull
#define PD_COUNT 4 /* 4 x 1 GiB */
#define GDT_ENTRIES 4
#define GDT_CODE64 0x00af9b000000ffffull /* base 0, 4 GiB, L=1, execute/read, accessed */
#define GDT_DATA 0x00cf93000000ffffull   /* base 0, 4 GiB, read/write, accessed */

/* The e820 map has one entry per run between these addresses, at most. */
#define FIXED_CUTS 6 /* 0, boot data start and end, LOW_RAM_END, HIGH_MEMORY, RAM end */
#define MAX_CUTS (FIXED_CUTS + 2 * LINUX_MAX_RESERVED)
_Static_assert(MAX_CUTS - 1 <= BP_E820_MAX, "the e820 map may not fit in boot_params");
_Static_assert(MAX_CUTS - 1 <= 0xff, "e820_entries is one byte");

static u64 rd(const u8 *p, u32 size)
{
	u64 v = 0;

	while (size--)
		v = v << 8 | p[size];
	return v;
}

static void wr(u8 *p, u64 v, u32 size)
{
	for (u32 i = 0; i < size; i++)
		p[i] = (u8)(v >> (8 * i));
}

static int fail(char *err, size_t errlen, const char *fmt, ...) PRINTF_LIKE(3, 4);

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fmt_vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static bool overlaps(u64 a, u64 a_size, u64 b, u64 b_size)
{
	return a < b + b_size && b < a + a_size;
}

/* The kernel_version string ("Details of Header Fields"), printable bytes only. */
static void read_version(const u8 *f, struct bzimage_info *info)
{
	u64 off = rd(f + HDR_KERNEL_VERSION, 2);
	u32 n = 0;

	if (off) {
		off += KERNEL_VERSION_BASE;
		while (off + n < info->setup_size && n < BZIMAGE_VERSION_MAX - 1 &&
		       f[off + n] >= 0x20 && f[off + n] < 0x7f) {
			info->version[n] = (char)f[off + n];
			n++;
		}
	}
	info->version[n] = '\0';
}

/* The fields a 64-bit loader relies on, each checked for sanity. */
static int check_fields(const u8 *f, struct bzimage_info *info, char *err, size_t errlen)
{
	u32 align = info->kernel_alignment;
	u64 syssize = rd(f + HDR_SYSSIZE, 4) * 16;
	u32 payload_offset = (u32)rd(f + HDR_PAYLOAD_OFFSET, 4);
	u32 payload_length = (u32)rd(f + HDR_PAYLOAD_LENGTH, 4);

	if (!(info->loadflags & LOADED_HIGH))
		return fail(err, errlen, "not a bzImage (loadflags lacks LOADED_HIGH: a zImage)");
	if (!(info->xloadflags & XLF_KERNEL_64))
		return fail(err, errlen, "kernel has no 64-bit entry (XLF_KERNEL_64)");
	if (!f[HDR_RELOCATABLE_KERNEL])
		return fail(err, errlen, "kernel is not relocatable (relocatable_kernel is 0)");
	if (align < PAGE_SIZE || align > GiB(1) || (align & (align - 1)))
		return fail(err, errlen, "kernel_alignment 0x%x is not a power of two between "
			    "4 KiB and 1 GiB", align);
	if (!IS_ALIGNED(info->pref_address, align))
		return fail(err, errlen, "pref_address 0x%llx is not a multiple of "
			    "kernel_alignment 0x%x", info->pref_address, align);
	/* "Loading The Rest of The Kernel": it starts after the setup sectors. */
	if (!info->kernel_size)
		return fail(err, errlen, "no protected-mode kernel after the %llu-byte setup",
			    info->setup_size);
	if (syssize > info->kernel_size)
		return fail(err, errlen, "truncated: syssize says the kernel is %llu bytes but "
			    "the file has %llu after the setup", syssize, info->kernel_size);
	if (!payload_length || payload_offset > info->kernel_size ||
	    payload_length > info->kernel_size - payload_offset)
		return fail(err, errlen, "compressed payload (%u bytes at offset 0x%x) is empty "
			    "or outside the %llu-byte kernel", payload_length, payload_offset,
			    info->kernel_size);
	if (info->init_size < info->kernel_size)
		return fail(err, errlen, "init_size 0x%x is smaller than the kernel (0x%llx bytes)",
			    info->init_size, info->kernel_size);
	if (!info->cmdline_size)
		return fail(err, errlen, "cmdline_size is 0");
	if (info->initrd_addr_max < HIGH_MEMORY)
		return fail(err, errlen, "initrd_addr_max 0x%x is below 1 MiB",
			    info->initrd_addr_max);
	return 0;
}

int bzimage_parse(const void *file, u64 size, struct bzimage_info *info, char *err,
		  size_t errlen)
{
	const u8 *f = file;
	u32 jump;

	memset(info, 0, sizeof(*info));
	/* The boot sector and at least one setup sector hold the whole setup header. */
	if (size < 2 * SECTOR)
		return fail(err, errlen, "file too small for a bzImage (%llu bytes)", size);
	if (rd(f + HDR_BOOT_FLAG, 2) != BOOT_FLAG)
		return fail(err, errlen, "not a bzImage (no 0xAA55 boot flag at 0x1fe)");
	if (rd(f + HDR_HEADER, 4) != HDRS_MAGIC)
		return fail(err, errlen, "not a bzImage (no HdrS signature)");
	info->protocol = (u16)rd(f + HDR_VERSION, 2);
	if (info->protocol < PROTOCOL_MIN)
		return fail(err, errlen, "boot protocol %u.%02u too old (need 2.12)",
			    info->protocol >> 8, info->protocol & 0xff);

	info->setup_sects = f[HDR_START] ? f[HDR_START] : SETUP_SECTS_DEFAULT;
	info->setup_size = (u64)(info->setup_sects + 1) * SECTOR;
	if (info->setup_size > size)
		return fail(err, errlen, "truncated: setup claims %u sectors but file has %llu "
			    "bytes", info->setup_sects, size);
	jump = f[HDR_JUMP_OFFSET];
	info->header_end = HDR_HEADER + jump;
	if (jump >= 0x80 || info->header_end < HDR_MIN_END)
		return fail(err, errlen, "setup header too short (jump at 0x200 gives its end as "
			    "0x%x, need 0x%x)", HDR_HEADER + (u32)(s8)jump, HDR_MIN_END);

	info->kernel_size = size - info->setup_size;
	info->loadflags = f[HDR_LOADFLAGS];
	info->xloadflags = (u16)rd(f + HDR_XLOADFLAGS, 2);
	info->kernel_alignment = (u32)rd(f + HDR_KERNEL_ALIGNMENT, 4);
	info->pref_address = rd(f + HDR_PREF_ADDRESS, 8);
	info->init_size = (u32)rd(f + HDR_INIT_SIZE, 4);
	info->cmdline_size = (u32)rd(f + HDR_CMDLINE_SIZE, 4);
	info->initrd_addr_max = (u32)rd(f + HDR_INITRD_ADDR_MAX, 4);
	if (check_fields(f, info, err, errlen))
		return -1;
	read_version(f, info);
	return 0;
}

struct e820_entry {
	u64 addr, size;
	u32 type;
};

/* One linux_prepare call: its inputs and the layout worked out before anything is written. */
struct prep {
	u64 ram_size;
	const struct bzimage_info *info;
	const struct linux_platform *pf;
	u64 initrd_size;
	size_t cmdline_len;
	u64 kernel, initrd;
	struct e820_entry e820[MAX_CUTS - 1];
	u32 e820_count;
	char *err;
	size_t errlen;
};

static const struct linux_mem_range *first_overlap(const struct prep *p, u64 start, u64 size)
{
	for (u32 i = 0; i < p->pf->n_reserved; i++) {
		const struct linux_mem_range *r = &p->pf->reserved[i];

		if (overlaps(start, size, r->start, r->size))
			return r;
	}
	return NULL;
}

static int check_platform(const struct prep *p)
{
	const struct linux_platform *pf = p->pf;

	if (pf->n_reserved > LINUX_MAX_RESERVED)
		return fail(p->err, p->errlen, "platform: %u reserved ranges (at most %u)",
			    pf->n_reserved, LINUX_MAX_RESERVED);
	for (u32 i = 0; i < pf->n_reserved; i++) {
		const struct linux_mem_range *r = &pf->reserved[i];

		if (r->type != E820_RESERVED && r->type != E820_ACPI && r->type != E820_NVS)
			return fail(p->err, p->errlen, "platform: reserved range %u has e820 type "
				    "%u (want 2, 3 or 4)", i, r->type);
		if (!r->size || r->start >= PHYS_LIMIT || r->size > PHYS_LIMIT - r->start)
			return fail(p->err, p->errlen, "platform: reserved range %u (0x%llx bytes "
				    "at 0x%llx) is empty or beyond physical memory", i, r->size,
				    r->start);
		if (overlaps(r->start, r->size, LINUX_BOOT_PARAMS_GPA,
			     LINUX_BOOT_DATA_END - LINUX_BOOT_PARAMS_GPA))
			return fail(p->err, p->errlen, "platform: reserved range %u [0x%llx, "
				    "0x%llx) overlaps the boot data [0x%llx, 0x%llx)", i, r->start,
				    r->start + r->size, LINUX_BOOT_PARAMS_GPA, LINUX_BOOT_DATA_END);
	}
	return 0;
}

/*
 * A relocatable kernel runs at any kernel_alignment multiple, but one loaded below
 * pref_address (LOAD_PHYSICAL_ADDR) decompresses itself at pref_address anyway, so start there
 * and move up past reserved ranges until init_size bytes fit ("Field name: init_size"). The
 * boot page tables map the first 4 GiB only.
 */
static int place_kernel(struct prep *p)
{
	u64 align = p->info->kernel_alignment, size = p->info->init_size;
	u64 limit = MIN(p->ram_size, LINUX_IDENTITY_MAP_END);
	u64 at = ALIGN_UP(MAX(p->info->pref_address, HIGH_MEMORY), align);
	const struct linux_mem_range *r;

	for (;;) {
		if (at > limit || size > limit - at)
			return fail(p->err, p->errlen, "kernel does not fit: it needs 0x%llx bytes "
				    "(init_size) from 0x%llx up, but usable RAM ends at 0x%llx",
				    size, at, limit);
		r = first_overlap(p, at, size);
		if (!r)
			break;
		at = ALIGN_UP(r->start + r->size, align);
	}
	p->kernel = at;
	return 0;
}

/*
 * The initrd goes page-aligned as high as the kernel accepts: below initrd_addr_max and 4 GiB
 * unless XLF_CAN_BE_LOADED_ABOVE_4G ("Field name: initrd_addr_max", "xloadflags"), above
 * 1 MiB, clear of the kernel and the reserved ranges.
 */
static int place_initrd(struct prep *p)
{
	u64 size = p->initrd_size, top = p->ram_size, limit, at;
	const struct linux_mem_range *r;

	if (!size)
		return 0;
	if (!(p->info->xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G))
		top = MIN(top, MIN((u64)p->info->initrd_addr_max + 1, GiB(4)));
	limit = top;
	for (;;) {
		if (size > top || ALIGN_DOWN(top - size, PAGE_SIZE) < HIGH_MEMORY)
			return fail(p->err, p->errlen, "initrd (%llu bytes) does not fit in guest "
				    "RAM between 1 MiB and 0x%llx, clear of the kernel", size, limit);
		at = ALIGN_DOWN(top - size, PAGE_SIZE);
		if (overlaps(at, size, p->kernel, p->info->init_size)) {
			top = p->kernel;
			continue;
		}
		r = first_overlap(p, at, size);
		if (!r)
			break;
		top = r->start;
	}
	p->initrd = at;
	return 0;
}

/* The e820 type of the byte at addr: reserved ranges first, then the fixed layout. */
static u32 type_at(const struct prep *p, u64 addr)
{
	const struct linux_mem_range *r = first_overlap(p, addr, 1);

	if (r)
		return r->type;
	if (addr >= LINUX_BOOT_PARAMS_GPA && addr < LINUX_BOOT_DATA_END)
		return E820_RESERVED;
	if (addr >= LOW_RAM_END && addr < HIGH_MEMORY)
		return E820_RESERVED;
	return addr < p->ram_size ? E820_RAM : 0;
}

/*
 * Cut the address space at every edge of the layout and give each piece its type; adjacent
 * pieces of one type merge. The result is sorted and non-overlapping.
 */
static void build_e820(struct prep *p)
{
	u64 cut[MAX_CUTS] = { 0, LINUX_BOOT_PARAMS_GPA, LINUX_BOOT_DATA_END, LOW_RAM_END,
			      HIGH_MEMORY, p->ram_size };
	u32 n = FIXED_CUTS, unique = 0;

	for (u32 i = 0; i < p->pf->n_reserved; i++) {
		cut[n++] = p->pf->reserved[i].start;
		cut[n++] = p->pf->reserved[i].start + p->pf->reserved[i].size;
	}
	for (u32 i = 1; i < n; i++) /* insertion sort: a few dozen values */
		for (u32 j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
			u64 t = cut[j];

			cut[j] = cut[j - 1];
			cut[j - 1] = t;
		}
	for (u32 i = 0; i < n; i++)
		if (!unique || cut[unique - 1] != cut[i])
			cut[unique++] = cut[i];

	p->e820_count = 0;
	for (u32 i = 0; i + 1 < unique; i++) {
		u32 type = type_at(p, cut[i]);
		struct e820_entry *last = p->e820_count ? &p->e820[p->e820_count - 1] : NULL;

		if (!type)
			continue;
		if (last && last->type == type && last->addr + last->size == cut[i])
			last->size += cut[i + 1] - cut[i];
		else
			p->e820[p->e820_count++] = (struct e820_entry){ cut[i], cut[i + 1] - cut[i],
									type };
	}
}

/* PML4 -> one PDPT -> four page directories of 2 MiB pages: [0, 4 GiB) identity-mapped. */
static void write_page_tables(u8 *ram)
{
	wr(ram + LINUX_PML4_GPA, LINUX_PDPT_GPA | PTE_P | PTE_W, 8);
	for (u64 i = 0; i < PD_COUNT; i++) {
		u64 pd = LINUX_PD_GPA + i * PAGE_SIZE;

		wr(ram + LINUX_PDPT_GPA + 8 * i, pd | PTE_P | PTE_W, 8);
		for (u64 j = 0; j < 512; j++)
			wr(ram + pd + 8 * j, (i * 512 + j) * MiB(2) | PTE_P | PTE_W | PTE_PS, 8);
	}
}

/*
 * "64-bit Boot Protocol": a zeroed boot_params, the setup header copied from the file up to
 * 0x202 + the byte at 0x201, then the fields a loader writes.
 */
static void write_boot_params(const struct prep *p, u8 *ram, const u8 *file, u64 rsdp)
{
	u8 *bp = ram + LINUX_BOOT_PARAMS_GPA;

	memcpy(bp + HDR_START, file + HDR_START, p->info->header_end - HDR_START);
	wr(bp + HDR_VID_MODE, VID_MODE_NORMAL, 2);
	bp[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	bp[HDR_LOADFLAGS] = p->info->loadflags | CAN_USE_HEAP;
	wr(bp + HDR_HEAP_END_PTR, HEAP_END - 0x200, 2);
	/* A relocated kernel's code32_start points to where it was loaded. */
	wr(bp + HDR_CODE32_START, p->kernel, 4);
	wr(bp + HDR_CMD_LINE_PTR, LINUX_CMDLINE_GPA, 4);
	wr(bp + BP_EXT_CMD_LINE_PTR, LINUX_CMDLINE_GPA >> 32, 4);
	wr(bp + HDR_RAMDISK_IMAGE, p->initrd, 4);
	wr(bp + HDR_RAMDISK_SIZE, p->initrd_size, 4);
	wr(bp + BP_EXT_RAMDISK_IMAGE, p->initrd >> 32, 4);
	wr(bp + BP_EXT_RAMDISK_SIZE, p->initrd_size >> 32, 4);
	wr(bp + HDR_SETUP_DATA, 0, 8); /* no setup_data list */
	/* A boot_params field, not the header: safe whatever the protocol version. */
	wr(bp + BP_ACPI_RSDP_ADDR, rsdp, 8);
	bp[BP_E820_ENTRIES] = (u8)p->e820_count;
	for (u32 i = 0; i < p->e820_count; i++) {
		u8 *e = bp + BP_E820_TABLE + i * E820_ENTRY_SIZE;

		wr(e, p->e820[i].addr, 8);
		wr(e + 8, p->e820[i].size, 8);
		wr(e + 16, p->e820[i].type, 4);
	}
}

int linux_prepare(void *guest_ram, u64 ram_size, const void *bzimage,
		  const struct bzimage_info *info, const void *initrd, u64 initrd_size,
		  const char *cmdline, const struct linux_platform *platform,
		  struct linux_entry *entry, char *err, size_t errlen)
{
	u8 *ram = guest_ram;
	const u8 *file = bzimage;
	struct prep p = { .ram_size = ram_size, .info = info, .pf = platform,
			  .initrd_size = initrd_size, .err = err, .errlen = errlen };

	memset(entry, 0, sizeof(*entry));
	if (ram_size < HIGH_MEMORY || ram_size > PHYS_LIMIT)
		return fail(err, errlen, "guest RAM of 0x%llx bytes is not between 1 MiB and "
			    "2^52", ram_size);
	/* "The Kernel Command Line": at most cmdline_size characters. */
	p.cmdline_len = strnlen(cmdline, LINUX_CMDLINE_MAX + 1);
	if (p.cmdline_len > LINUX_CMDLINE_MAX)
		return fail(err, errlen, "command line longer than %llu bytes", LINUX_CMDLINE_MAX);
	if (p.cmdline_len > info->cmdline_size)
		return fail(err, errlen, "command line is %zu bytes, the kernel takes at most %u",
			    p.cmdline_len, info->cmdline_size);
	if (check_platform(&p) || place_kernel(&p) || place_initrd(&p))
		return -1;
	build_e820(&p);

	memset(ram + LINUX_BOOT_PARAMS_GPA, 0, LINUX_BOOT_DATA_END - LINUX_BOOT_PARAMS_GPA);
	write_boot_params(&p, ram, file, platform->acpi_rsdp);
	write_page_tables(ram);
	wr(ram + LINUX_GDT_GPA + LINUX_BOOT_CS, GDT_CODE64, 8);
	wr(ram + LINUX_GDT_GPA + LINUX_BOOT_DS, GDT_DATA, 8);
	memcpy(ram + LINUX_CMDLINE_GPA, cmdline, p.cmdline_len);
	memcpy(ram + p.kernel, file + info->setup_size, info->kernel_size);
	if (initrd_size)
		memcpy(ram + p.initrd, initrd, initrd_size);

	/* "64-bit Boot Protocol": enter at the load address + 0x200, RSI = boot_params. */
	entry->rip = p.kernel + 0x200;
	entry->rsi = LINUX_BOOT_PARAMS_GPA;
	entry->rsp = LINUX_STACK_TOP;
	entry->cr3 = LINUX_PML4_GPA;
	entry->gdt_base = LINUX_GDT_GPA;
	entry->gdt_limit = GDT_ENTRIES * 8 - 1;
	entry->kernel_gpa = p.kernel;
	entry->kernel_end = p.kernel + info->init_size;
	entry->initrd_gpa = p.initrd;
	entry->e820_entries = p.e820_count;
	return 0;
}
