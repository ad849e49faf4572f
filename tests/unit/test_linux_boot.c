/*
 * Unit tests for guest/linux_boot.c: synthetic bzImages built in memory (every refusal, every
 * header field), the boot_params, e820 map, page tables and GDT linux_prepare writes, the real
 * Debian kernel when build/linux/vmlinuz exists (make linux-guest), and random mutations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kestrel/linux_boot.h>

#include "image_mutation.h"

#define RAM_SIZE MiB(64)
#define SECTOR 512

/* Header offsets (Documentation/arch/x86/boot.rst), written here independently of the loader. */
#define O_SETUP_SECTS 0x1f1
#define O_SYSSIZE 0x1f4
#define O_VID_MODE 0x1fa
#define O_BOOT_FLAG 0x1fe
#define O_JUMP 0x200
#define O_HEADER 0x202
#define O_VERSION 0x206
#define O_KERNEL_VERSION 0x20e
#define O_TYPE_OF_LOADER 0x210
#define O_LOADFLAGS 0x211
#define O_CODE32_START 0x214
#define O_RAMDISK_IMAGE 0x218
#define O_RAMDISK_SIZE 0x21c
#define O_HEAP_END_PTR 0x224
#define O_CMD_LINE_PTR 0x228
#define O_INITRD_ADDR_MAX 0x22c
#define O_KERNEL_ALIGNMENT 0x230
#define O_RELOCATABLE 0x234
#define O_MIN_ALIGNMENT 0x235
#define O_XLOADFLAGS 0x236
#define O_CMDLINE_SIZE 0x238
#define O_HARDWARE_SUBARCH 0x23c
#define O_PAYLOAD_OFFSET 0x248
#define O_PAYLOAD_LENGTH 0x24c
#define O_SETUP_DATA 0x250
#define O_PREF_ADDRESS 0x258
#define O_INIT_SIZE 0x260
#define O_HANDOVER_OFFSET 0x264
/* zero-page.rst */
#define BP_ACPI_RSDP 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_SENTINEL 0x1ef
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0

#define XLF_KERNEL_64 1
#define XLF_ABOVE_4G 2

/* --- synthetic bzImages ------------------------------------------------------------------ */

struct spec {
	u8 setup_sects; /* the field: 0 means 4 */
	u16 boot_flag;
	u32 magic;
	u16 protocol;
	u8 jump; /* displacement at 0x201: the header ends at 0x202 + jump */
	u8 loadflags;
	u16 xloadflags;
	u8 relocatable;
	u32 kernel_alignment;
	u64 pref_address;
	u32 init_size;
	u32 cmdline_size;
	u32 initrd_addr_max;
	u32 syssize; /* 16-byte paragraphs */
	u32 payload_offset, payload_length;
	u16 kernel_version; /* the field: string offset - 0x200 */
	const char *version;
	u64 kernel_size; /* bytes after the setup */
};

static u64 setup_size_of(const struct spec *s)
{
	return ((u64)(s->setup_sects ? s->setup_sects : 4) + 1) * SECTOR;
}

static u64 size_of(const struct spec *s)
{
	return setup_size_of(s) + s->kernel_size;
}

/* Like Debian's 6.1 kernel, scaled down: 15 setup sectors, a 64 KiB kernel needing 4 MiB. */
static struct spec valid_spec(void)
{
	struct spec s = {
		.setup_sects = 15,
		.boot_flag = 0xaa55,
		.magic = 0x53726448,
		.protocol = 0x020f,
		.jump = 0x6a,
		.loadflags = 0x01,
		.xloadflags = 0x7f,
		.relocatable = 1,
		.kernel_alignment = 0x200000,
		.pref_address = 0x1000000,
		.init_size = 0x400000,
		.cmdline_size = 0x7ff,
		.initrd_addr_max = 0x7fffffff,
		.payload_offset = 0x2cc,
		.kernel_version = 0x1000,
		.version = "6.1.0-test-amd64 (kestrel@example) #1 SMP",
		.kernel_size = 0x10000 + 123,
	};

	s.syssize = (u32)(s.kernel_size / 16);
	s.payload_length = (u32)(s.kernel_size - s.payload_offset - 0x100);
	return s;
}

/* A malloc'd buffer of exactly size_of(s) bytes, so ASan sees any read past the file. */
static u8 *build(const struct spec *s)
{
	u64 size = size_of(s);
	u8 *b = malloc(size);

	assert_non_null(b);
	for (u64 i = 0; i < size; i++)
		b[i] = (u8)(i * 7 + 3); /* recognisable; also fills the fields nobody writes */
	b[O_SETUP_SECTS] = s->setup_sects;
	put(b, O_BOOT_FLAG, s->boot_flag, 2);
	b[O_JUMP] = 0xeb;
	b[O_JUMP + 1] = s->jump;
	put(b, O_HEADER, s->magic, 4);
	put(b, O_VERSION, s->protocol, 2);
	put(b, O_KERNEL_VERSION, s->kernel_version, 2);
	b[O_TYPE_OF_LOADER] = 0;
	b[O_LOADFLAGS] = s->loadflags;
	put(b, O_RAMDISK_IMAGE, 0, 8);
	put(b, O_CMD_LINE_PTR, 0, 4);
	put(b, O_SYSSIZE, s->syssize, 4);
	put(b, O_INITRD_ADDR_MAX, s->initrd_addr_max, 4);
	put(b, O_KERNEL_ALIGNMENT, s->kernel_alignment, 4);
	b[O_RELOCATABLE] = s->relocatable;
	b[O_MIN_ALIGNMENT] = 0x15;
	put(b, O_XLOADFLAGS, s->xloadflags, 2);
	put(b, O_CMDLINE_SIZE, s->cmdline_size, 4);
	put(b, O_PAYLOAD_OFFSET, s->payload_offset, 4);
	put(b, O_PAYLOAD_LENGTH, s->payload_length, 4);
	put(b, O_PREF_ADDRESS, s->pref_address, 8);
	put(b, O_INIT_SIZE, s->init_size, 4);
	if (s->version && s->kernel_version) {
		u64 off = s->kernel_version + 0x200ull, len = strlen(s->version) + 1;

		if (off + len <= size)
			memcpy(b + off, s->version, len);
	}
	return b;
}

static int parse(const struct spec *s, struct bzimage_info *info, char *err)
{
	u8 *b = build(s);
	int rc;

	memset(err, 0, LINUX_BOOT_ERR_MAX);
	rc = bzimage_parse(b, size_of(s), info, err, LINUX_BOOT_ERR_MAX);
	free(b);
	return rc;
}

/* A copy of the string with the refusal message, for cmocka's messages. */
static void expect_refusal(const struct spec *s, const char *needle)
{
	struct bzimage_info info;
	char err[LINUX_BOOT_ERR_MAX];

	if (parse(s, &info, err) != -1) {
		print_error("accepted, expected a refusal with '%s'\n", needle);
		fail();
	}
	if (!strstr(err, needle)) {
		print_error("message '%s' lacks '%s'\n", err, needle);
		fail();
	}
}

/* --- bzimage_parse ----------------------------------------------------------------------- */

static void test_parse_valid(void **state)
{
	struct spec s = valid_spec();
	struct bzimage_info info;
	char err[LINUX_BOOT_ERR_MAX];

	assert_int_equal(parse(&s, &info, err), 0);
	assert_int_equal(info.protocol, 0x020f);
	assert_int_equal(info.setup_sects, 15);
	assert_int_equal(info.setup_size, 16 * SECTOR);
	assert_int_equal(info.kernel_size, s.kernel_size);
	assert_int_equal(info.header_end, 0x202 + 0x6a);
	assert_int_equal(info.loadflags, 0x01);
	assert_int_equal(info.xloadflags, 0x7f);
	assert_int_equal(info.kernel_alignment, 0x200000);
	assert_int_equal(info.pref_address, 0x1000000);
	assert_int_equal(info.init_size, 0x400000);
	assert_int_equal(info.cmdline_size, 0x7ff);
	assert_int_equal(info.initrd_addr_max, 0x7fffffff);
	assert_string_equal(info.version, s.version);
}

static void test_parse_edges(void **state)
{
	struct spec s = valid_spec();
	struct bzimage_info info;
	char err[LINUX_BOOT_ERR_MAX];
	char longv[300];

	/* setup_sects 0 means 4. */
	s.setup_sects = 0;
	s.kernel_version = 0x600; /* string at 0x800, inside the 5 sectors */
	assert_int_equal(parse(&s, &info, err), 0);
	assert_int_equal(info.setup_sects, 4);
	assert_int_equal(info.setup_size, 5 * SECTOR);
	assert_string_equal(info.version, s.version);

	/* Exactly protocol 2.12, the shortest header, init_size equal to the file's kernel. */
	s = valid_spec();
	s.protocol = 0x020c;
	s.jump = 0x62;
	s.init_size = (u32)s.kernel_size;
	s.syssize = (u32)((s.kernel_size + 15) / 16) - 1;
	assert_int_equal(parse(&s, &info, err), 0);
	assert_int_equal(info.header_end, 0x264);

	/* Alignment at both ends, pref_address 0, initrd_addr_max exactly 1 MiB. */
	s = valid_spec();
	s.kernel_alignment = 0x1000;
	s.pref_address = 0;
	s.initrd_addr_max = 0x100000;
	assert_int_equal(parse(&s, &info, err), 0);
	s.kernel_alignment = 0x40000000;
	assert_int_equal(parse(&s, &info, err), 0);

	/* The version string: absent, pointing past the setup, unterminated, too long. */
	s = valid_spec();
	s.kernel_version = 0;
	assert_int_equal(parse(&s, &info, err), 0);
	assert_string_equal(info.version, "");
	s.kernel_version = 0x2000; /* 0x2200 is past the 0x2000-byte setup */
	assert_int_equal(parse(&s, &info, err), 0);
	assert_string_equal(info.version, "");
	memset(longv, 'v', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	s = valid_spec();
	s.version = longv;
	assert_int_equal(parse(&s, &info, err), 0);
	assert_int_equal(strlen(info.version), BZIMAGE_VERSION_MAX - 1);
	s.kernel_version = 0x2000 - 0x200 - 5; /* the last 5 bytes of the setup, no NUL */
	s.version = "abcdefgh";
	{
		u8 *b = build(&s);

		memcpy(b + 0x2000 - 5, "abcde", 5);
		assert_int_equal(bzimage_parse(b, size_of(&s), &info, err, sizeof(err)), 0);
		assert_string_equal(info.version, "abcde");
		free(b);
	}
}

static void test_parse_refusals(void **state)
{
	struct spec s;
	u8 small[SECTOR * 2 - 1] = { 0 };
	struct bzimage_info info;
	char err[LINUX_BOOT_ERR_MAX];

	assert_int_equal(bzimage_parse(small, sizeof(small), &info, err, sizeof(err)), -1);
	assert_string_equal(err, "file too small for a bzImage (1023 bytes)");
	assert_int_equal(bzimage_parse(small, 0, &info, err, sizeof(err)), -1);

	s = valid_spec(), s.boot_flag = 0x55aa;
	expect_refusal(&s, "not a bzImage (no 0xAA55 boot flag at 0x1fe)");
	s = valid_spec(), s.magic = 0x53726447;
	expect_refusal(&s, "not a bzImage (no HdrS signature)");
	s = valid_spec(), s.protocol = 0x020a;
	expect_refusal(&s, "boot protocol 2.10 too old (need 2.12)");
	s = valid_spec(), s.protocol = 0x020b;
	expect_refusal(&s, "boot protocol 2.11 too old (need 2.12)");
	s = valid_spec(), s.protocol = 0x0100;
	expect_refusal(&s, "boot protocol 1.00 too old");

	s = valid_spec();
	{
		u8 *b = build(&s);

		b[O_SETUP_SECTS] = 200;
		assert_int_equal(bzimage_parse(b, size_of(&s), &info, err, sizeof(err)), -1);
		assert_string_equal(err, "truncated: setup claims 200 sectors but file has 73851 "
					 "bytes");
		b[O_SETUP_SECTS] = 143; /* (143 + 1) * 512 = 73728: fits, leaving 123 bytes */
		assert_int_equal(bzimage_parse(b, size_of(&s), &info, err, sizeof(err)), -1);
		assert_string_equal(err, "truncated: syssize says the kernel is 65648 bytes but "
					 "the file has 123 after the setup");
		free(b);
	}

	s = valid_spec(), s.jump = 0x61;
	expect_refusal(&s, "setup header too short (jump at 0x200 gives its end as 0x263, need "
			   "0x264)");
	s = valid_spec(), s.jump = 0xfe;
	expect_refusal(&s, "gives its end as 0x200");

	s = valid_spec(), s.loadflags = 0x80;
	expect_refusal(&s, "not a bzImage (loadflags lacks LOADED_HIGH: a zImage)");
	s = valid_spec(), s.xloadflags = 0x7e;
	expect_refusal(&s, "kernel has no 64-bit entry (XLF_KERNEL_64)");
	s = valid_spec(), s.relocatable = 0;
	expect_refusal(&s, "kernel is not relocatable (relocatable_kernel is 0)");

	s = valid_spec(), s.kernel_alignment = 0x300000;
	expect_refusal(&s, "kernel_alignment 0x300000 is not a power of two between 4 KiB and "
			   "1 GiB");
	s = valid_spec(), s.kernel_alignment = 0x800;
	expect_refusal(&s, "kernel_alignment 0x800 is not");
	s = valid_spec(), s.kernel_alignment = 0x80000000;
	expect_refusal(&s, "kernel_alignment 0x80000000 is not");
	s = valid_spec(), s.kernel_alignment = 0;
	expect_refusal(&s, "kernel_alignment 0x0 is not");
	s = valid_spec(), s.pref_address = 0x1100000;
	expect_refusal(&s, "pref_address 0x1100000 is not a multiple of kernel_alignment "
			   "0x200000");

	s = valid_spec(), s.kernel_size = 0, s.syssize = 0, s.payload_offset = 0;
	s.payload_length = 0;
	expect_refusal(&s, "no protected-mode kernel after the 8192-byte setup");
	s = valid_spec(), s.syssize = (u32)(s.kernel_size / 16) + 1;
	expect_refusal(&s, "truncated: syssize says the kernel is 65664 bytes but the file has "
			   "65659 after the setup");
	s = valid_spec(), s.payload_length = 0;
	expect_refusal(&s, "compressed payload (0 bytes at offset 0x2cc) is empty or outside");
	s = valid_spec(), s.payload_offset = (u32)s.kernel_size + 1, s.payload_length = 1;
	expect_refusal(&s, "is empty or outside the 65659-byte kernel");
	s = valid_spec(), s.payload_length = (u32)s.kernel_size - s.payload_offset + 1;
	expect_refusal(&s, "is empty or outside the 65659-byte kernel");
	s = valid_spec(), s.payload_offset = 0xffffffff, s.payload_length = 0xffffffff;
	expect_refusal(&s, "is empty or outside");
	s = valid_spec(), s.init_size = (u32)s.kernel_size - 1;
	expect_refusal(&s, "init_size 0x1007a is smaller than the kernel (0x1007b bytes)");
	s = valid_spec(), s.cmdline_size = 0;
	expect_refusal(&s, "cmdline_size is 0");
	s = valid_spec(), s.initrd_addr_max = 0xfffff;
	expect_refusal(&s, "initrd_addr_max 0xfffff is below 1 MiB");
}

static void test_parse_error_buffer(void **state)
{
	struct spec s = valid_spec();
	u8 *b;
	struct bzimage_info info;
	char err[8];

	s.magic = 0;
	b = build(&s);
	memset(err, 'x', sizeof(err));
	assert_int_equal(bzimage_parse(b, size_of(&s), &info, err, sizeof(err)), -1);
	assert_string_equal(err, "not a b");
	assert_int_equal(bzimage_parse(b, size_of(&s), &info, err, 1), -1);
	assert_int_equal(err[0], '\0');
	assert_int_equal(bzimage_parse(b, size_of(&s), &info, NULL, 0), -1);
	free(b);
}

/* --- linux_prepare: checks of what it wrote ------------------------------------------------ */

struct e820 {
	u64 addr, size;
	u32 type;
};

static u32 read_e820(const u8 *bp, struct e820 *e)
{
	u32 n = bp[BP_E820_ENTRIES];

	assert_true(n >= 1 && n <= 128);
	for (u32 i = 0; i < n; i++) {
		const u8 *p = bp + BP_E820_TABLE + 20 * i;

		e[i].addr = get(p, 0, 8);
		e[i].size = get(p, 8, 8);
		e[i].type = (u32)get(p, 16, 4);
	}
	return n;
}

/* The type the map should give the byte at addr (0: none). */
static u32 model_type(const struct linux_platform *pf, u64 ram_size, u64 addr)
{
	for (u32 i = 0; i < pf->n_reserved; i++)
		if (addr >= pf->reserved[i].start &&
		    addr - pf->reserved[i].start < pf->reserved[i].size)
			return pf->reserved[i].type;
	if (addr >= 0x1000 && addr < 0x10000)
		return 2;
	if (addr >= 0x9fc00 && addr < 0x100000)
		return 2;
	return addr < ram_size ? 1 : 0;
}

static u32 map_type(const struct e820 *e, u32 n, u64 addr)
{
	for (u32 i = 0; i < n; i++)
		if (addr >= e[i].addr && addr - e[i].addr < e[i].size)
			return e[i].type;
	return 0;
}

static void check_range_is_ram(const struct e820 *e, u32 n, u64 start, u64 size)
{
	assert_int_equal(map_type(e, n, start), 1);
	for (u32 i = 0; i < n; i++)
		if (e[i].type != 1)
			assert_true(e[i].addr + e[i].size <= start || e[i].addr >= start + size);
}

/*
 * Sorted, non-overlapping, merged, and at every edge of the layout (and one byte either side)
 * of the type the model says; the kernel's and initrd's memory is RAM throughout.
 */
static void check_e820(const u8 *ram, u64 ram_size, const struct linux_platform *pf,
		       const struct linux_entry *entry, u64 initrd_size)
{
	struct e820 e[128];
	u32 n = read_e820(ram + 0x1000, e);
	u64 probes[64 + 2 * LINUX_MAX_RESERVED + 3 * 128];
	u32 np = 0;

	assert_int_equal(n, entry->e820_entries);
	for (u32 i = 0; i < n; i++) {
		assert_true(e[i].size > 0);
		assert_true(e[i].type >= 1 && e[i].type <= 4);
		if (i > 0) {
			assert_true(e[i - 1].addr + e[i - 1].size <= e[i].addr);
			assert_false(e[i - 1].addr + e[i - 1].size == e[i].addr &&
				     e[i - 1].type == e[i].type);
		}
	}
	probes[np++] = 0;
	probes[np++] = 0x1000;
	probes[np++] = 0x10000;
	probes[np++] = 0x9fc00;
	probes[np++] = 0x100000;
	probes[np++] = ram_size;
	for (u32 i = 0; i < pf->n_reserved; i++) {
		probes[np++] = pf->reserved[i].start;
		probes[np++] = pf->reserved[i].start + pf->reserved[i].size;
	}
	for (u32 i = 0; i < n; i++) {
		probes[np++] = e[i].addr;
		probes[np++] = e[i].addr + e[i].size;
	}
	for (u32 i = 0; i < np; i++)
		for (int d = -1; d <= 1; d++) {
			u64 a = probes[i] + (u64)(s64)d;

			if (probes[i] == 0 && d < 0)
				continue;
			if (map_type(e, n, a) != model_type(pf, ram_size, a)) {
				print_error("e820 gives 0x%llx type %u, expected %u\n", a,
					    map_type(e, n, a), model_type(pf, ram_size, a));
				fail();
			}
		}
	check_range_is_ram(e, n, entry->kernel_gpa, entry->kernel_end - entry->kernel_gpa);
	if (initrd_size)
		check_range_is_ram(e, n, entry->initrd_gpa, initrd_size);
}

/* Translate va through the 4-level tables at cr3; -1 when not mapped. */
static u64 walk(const u8 *ram, u64 ram_size, u64 cr3, u64 va)
{
	u64 table = cr3 & ~0xfffull;
	static const int shift[4] = { 39, 30, 21, 12 };

	for (int level = 0; level < 4; level++) {
		u64 pte;

		assert_true(table + PAGE_SIZE <= ram_size);
		pte = get(ram, table + 8 * ((va >> shift[level]) & 511), 8);
		if (!(pte & 1))
			return (u64)-1;
		assert_true(pte & 2); /* writable */
		if (level >= 1 && level <= 2 && (pte & 0x80)) {
			u64 page = 1ull << shift[level];

			return (pte & 0x000ffffffffff000ull & ~(page - 1)) | (va & (page - 1));
		}
		table = pte & 0x000ffffffffff000ull;
	}
	return table | (va & 0xfff);
}

static void check_page_tables(const u8 *ram, u64 ram_size, const struct linux_entry *entry)
{
	/* Every 2 MiB page of the first 4 GiB, at its first and last byte and in between. */
	for (u64 va = 0; va < GiB(4); va += MiB(2)) {
		assert_int_equal(walk(ram, ram_size, entry->cr3, va), va);
		assert_int_equal(walk(ram, ram_size, entry->cr3, va + MiB(2) - 1), va + MiB(2) - 1);
		assert_int_equal(walk(ram, ram_size, entry->cr3, va + 0x12345), va + 0x12345);
	}
	assert_int_equal(walk(ram, ram_size, entry->cr3, GiB(4)), (u64)-1);
	assert_int_equal(walk(ram, ram_size, entry->cr3, GiB(512)), (u64)-1);
	/* The tables themselves lie in the reserved boot data. */
	assert_true(entry->cr3 >= 0x1000 && entry->cr3 < 0x10000);
	assert_int_equal(get(ram, entry->cr3, 8) & ~0xfffull, 0x4000);
	for (u64 i = 0; i < 4; i++) {
		u64 pd = get(ram, 0x4000 + 8 * i, 8) & ~0xfffull;

		assert_true(pd >= 0x1000 && pd + PAGE_SIZE <= 0x10000);
	}
}

/* Decode a code/data descriptor: flat 4 GiB, present, DPL 0, accessed. */
static void check_descriptor(u64 d, bool code)
{
	u64 base = ((d >> 16) & 0xffffff) | ((d >> 56) << 24);
	u64 limit = (d & 0xffff) | ((d >> 48) & 0xf) << 16;
	u32 access = (d >> 40) & 0xff, flags = (d >> 52) & 0xf;

	assert_int_equal(base, 0);
	assert_int_equal(limit, 0xfffff);
	assert_true(flags & 0x8); /* G: 4 KiB units, so 4 GiB */
	if (code) {
		assert_int_equal(access, 0x9b); /* P, S, execute/read, accessed */
		assert_int_equal(flags & 0x6, 0x2); /* L = 1, D = 0: 64-bit code */
	} else {
		assert_int_equal(access, 0x93); /* P, S, read/write, accessed */
	}
}

/* The offsets linux_prepare writes in boot_params, and how many bytes each. */
static const struct {
	u32 off, size;
} written[] = {
	{ BP_ACPI_RSDP, 8 },	     { BP_EXT_RAMDISK_IMAGE, 4 }, { BP_EXT_RAMDISK_SIZE, 4 },
	{ BP_EXT_CMD_LINE_PTR, 4 },  { BP_E820_ENTRIES, 1 },	  { O_VID_MODE, 2 },
	{ O_TYPE_OF_LOADER, 1 },     { O_LOADFLAGS, 1 },	  { O_CODE32_START, 4 },
	{ O_RAMDISK_IMAGE, 4 },	     { O_RAMDISK_SIZE, 4 },	  { O_HEAP_END_PTR, 2 },
	{ O_CMD_LINE_PTR, 4 },	     { O_SETUP_DATA, 8 },
};

static bool is_written(u32 off, u32 e820_count)
{
	for (size_t i = 0; i < ARRAY_SIZE(written); i++)
		if (off >= written[i].off && off < written[i].off + written[i].size)
			return true;
	return off >= BP_E820_TABLE && off < BP_E820_TABLE + 20 * e820_count;
}

/* boot_params field by field, and every other byte: the file's header or zero. */
static void check_boot_params(const u8 *ram, const u8 *file, const struct bzimage_info *info,
			      const struct linux_entry *entry, u64 initrd_size, u64 rsdp,
			      const char *cmdline)
{
	const u8 *bp = ram + entry->rsi;

	assert_int_equal(entry->rsi, 0x1000);
	assert_int_equal(get(bp, O_TYPE_OF_LOADER, 1), 0xff);
	assert_int_equal(get(bp, O_LOADFLAGS, 1), file[O_LOADFLAGS] | 0x80);
	assert_int_equal(get(bp, O_HEAP_END_PTR, 2), 0xde00);
	assert_int_equal(get(bp, O_VID_MODE, 2), 0xffff);
	assert_int_equal(get(bp, O_CODE32_START, 4), entry->kernel_gpa);
	assert_int_equal(get(bp, O_CMD_LINE_PTR, 4) | get(bp, BP_EXT_CMD_LINE_PTR, 4) << 32,
			 0x9000);
	assert_int_equal(get(bp, O_RAMDISK_IMAGE, 4) | get(bp, BP_EXT_RAMDISK_IMAGE, 4) << 32,
			 entry->initrd_gpa);
	assert_int_equal(get(bp, O_RAMDISK_SIZE, 4) | get(bp, BP_EXT_RAMDISK_SIZE, 4) << 32,
			 initrd_size);
	assert_int_equal(get(bp, O_SETUP_DATA, 8), 0);
	assert_int_equal(get(bp, BP_ACPI_RSDP, 8), rsdp);
	assert_int_equal(bp[BP_SENTINEL], 0);
	assert_int_equal(bp[BP_E820_ENTRIES], entry->e820_entries);
	/* The header fields the kernel reads back come from the file. */
	assert_int_equal(get(bp, O_VERSION, 2), info->protocol);
	assert_int_equal(get(bp, O_KERNEL_ALIGNMENT, 4), info->kernel_alignment);
	assert_int_equal(get(bp, O_INIT_SIZE, 4), info->init_size);
	assert_int_equal(get(bp, O_PREF_ADDRESS, 8), info->pref_address);
	assert_int_equal(get(bp, O_XLOADFLAGS, 2), info->xloadflags);
	assert_int_equal(get(bp, O_CMDLINE_SIZE, 4), info->cmdline_size);

	for (u32 off = 0; off < 4096; off++) {
		if (is_written(off, entry->e820_entries))
			continue;
		if (off >= 0x1f1 && off < info->header_end)
			assert_int_equal(bp[off], file[off]);
		else if (bp[off] != 0) {
			print_error("boot_params byte 0x%x is 0x%x, not 0\n", off, bp[off]);
			fail();
		}
	}
	assert_string_equal((const char *)ram + 0x9000, cmdline);
}

static void check_entry_state(const u8 *ram, u64 ram_size, const struct bzimage_info *info,
			      const struct linux_entry *entry)
{
	assert_int_equal(entry->rip, entry->kernel_gpa + 0x200);
	assert_int_equal(entry->kernel_end, entry->kernel_gpa + info->init_size);
	assert_true(entry->kernel_end <= ram_size);
	assert_true(entry->kernel_gpa % info->kernel_alignment == 0);
	assert_true(entry->kernel_gpa >= info->pref_address);
	assert_int_equal(entry->gdt_limit, 0x1f);
	assert_true(entry->gdt_base >= 0x1000 && entry->gdt_base + 0x20 <= 0x10000);
	/* A scratch stack of at least 2 KiB in the boot data, clear of the GDT and the tables. */
	assert_int_equal(entry->rsp % 16, 0);
	assert_true(entry->rsp <= 0x10000 && entry->rsp - 0x800 >= entry->gdt_base + 0x20);
	assert_true(entry->rsp <= entry->cr3 || entry->rsp - 0x800 >= entry->cr3 + 6 * PAGE_SIZE);
	assert_true(entry->rsp <= 0x9000 || entry->rsp - 0x800 >= 0x10000);
	assert_int_equal(get(ram, entry->gdt_base, 8), 0);
	check_descriptor(get(ram, entry->gdt_base + 0x10, 8), true);
	check_descriptor(get(ram, entry->gdt_base + 0x18, 8), false);
	check_page_tables(ram, ram_size, entry);
}

/* One prepared guest: the file, its info, RAM and the result. */
struct guest {
	struct spec spec;
	u8 *file;
	struct bzimage_info info;
	u8 *ram;
	u64 ram_size;
	u8 *initrd;
	u64 initrd_size;
	struct linux_platform pf;
	const char *cmdline;
	struct linux_entry entry;
	char err[LINUX_BOOT_ERR_MAX];
};

static void guest_init(struct guest *g, const struct spec *s, u64 ram_size, u64 initrd_size)
{
	char err[LINUX_BOOT_ERR_MAX];

	memset(g, 0, sizeof(*g));
	g->spec = *s;
	g->file = build(s);
	assert_int_equal(bzimage_parse(g->file, size_of(s), &g->info, err, sizeof(err)), 0);
	g->ram_size = ram_size;
	g->ram = calloc(1, ram_size); /* exactly ram_size: ASan catches a write past it */
	assert_non_null(g->ram);
	g->initrd_size = initrd_size;
	g->initrd = malloc(initrd_size ? initrd_size : 1);
	assert_non_null(g->initrd);
	for (u64 i = 0; i < initrd_size; i++)
		g->initrd[i] = (u8)(i * 13 + 5);
	g->cmdline = "console=ttyS0 quiet";
}

static void guest_free(struct guest *g)
{
	free(g->file);
	free(g->ram);
	free(g->initrd);
}

static int guest_prepare(struct guest *g)
{
	memset(g->err, 0, sizeof(g->err));
	return linux_prepare(g->ram, g->ram_size, g->file, &g->info, g->initrd, g->initrd_size,
			     g->cmdline, &g->pf, &g->entry, g->err, sizeof(g->err));
}

static void check_guest(const struct guest *g)
{
	check_entry_state(g->ram, g->ram_size, &g->info, &g->entry);
	check_boot_params(g->ram, g->file, &g->info, &g->entry, g->initrd_size, g->pf.acpi_rsdp,
			  g->cmdline);
	check_e820(g->ram, g->ram_size, &g->pf, &g->entry, g->initrd_size);
	assert_memory_equal(g->ram + g->entry.kernel_gpa, g->file + g->info.setup_size,
			    g->info.kernel_size);
	if (g->initrd_size) {
		assert_true(g->entry.initrd_gpa % PAGE_SIZE == 0);
		assert_true(g->entry.initrd_gpa >= MiB(1));
		assert_true(g->entry.initrd_gpa + g->initrd_size <= g->ram_size);
		assert_true(g->entry.initrd_gpa + g->initrd_size <= g->entry.kernel_gpa ||
			    g->entry.initrd_gpa >= g->entry.kernel_end);
		assert_memory_equal(g->ram + g->entry.initrd_gpa, g->initrd, g->initrd_size);
	} else {
		assert_int_equal(g->entry.initrd_gpa, 0);
	}
}

static void add_range(struct linux_platform *pf, u64 start, u64 size, u32 type)
{
	pf->reserved[pf->n_reserved++] = (struct linux_mem_range){ start, size, type };
}

/* --- linux_prepare ------------------------------------------------------------------------ */

static void test_prepare_basic(void **state)
{
	struct spec s = valid_spec();
	struct guest g;
	struct e820 e[128];
	u64 initrd = 300000;

	guest_init(&g, &s, RAM_SIZE, initrd);
	g.pf.acpi_rsdp = 0xe0000;
	add_range(&g.pf, RAM_SIZE - 0x10000, 0x10000, E820_ACPI);
	add_range(&g.pf, 0xfec00000, 0x1000, E820_RESERVED);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);

	/* The documented layout: the kernel at pref_address, the initrd as high as fits. */
	assert_int_equal(g.entry.kernel_gpa, 0x1000000);
	assert_int_equal(g.entry.rip, 0x1000200);
	assert_int_equal(g.entry.kernel_end, 0x1400000);
	assert_int_equal(g.entry.initrd_gpa, (RAM_SIZE - 0x10000 - initrd) & ~0xfffull);
	assert_int_equal(g.entry.cr3, LINUX_PML4_GPA);
	assert_int_equal(g.entry.gdt_base, LINUX_GDT_GPA);

	/* The exact map for this platform. */
	assert_int_equal(read_e820(g.ram + 0x1000, e), 7);
	assert_int_equal(e[0].addr, 0), assert_int_equal(e[0].size, 0x1000);
	assert_int_equal(e[0].type, 1);
	assert_int_equal(e[1].addr, 0x1000), assert_int_equal(e[1].size, 0xf000);
	assert_int_equal(e[1].type, 2);
	assert_int_equal(e[2].addr, 0x10000), assert_int_equal(e[2].size, 0x9fc00 - 0x10000);
	assert_int_equal(e[2].type, 1);
	assert_int_equal(e[3].addr, 0x9fc00), assert_int_equal(e[3].size, 0x100000 - 0x9fc00);
	assert_int_equal(e[3].type, 2);
	assert_int_equal(e[4].addr, 0x100000);
	assert_int_equal(e[4].size, RAM_SIZE - 0x10000 - 0x100000);
	assert_int_equal(e[4].type, 1);
	assert_int_equal(e[5].addr, RAM_SIZE - 0x10000), assert_int_equal(e[5].size, 0x10000);
	assert_int_equal(e[5].type, 3);
	assert_int_equal(e[6].addr, 0xfec00000), assert_int_equal(e[6].size, 0x1000);
	assert_int_equal(e[6].type, 2);
	guest_free(&g);
}

static void test_prepare_no_initrd_no_platform(void **state)
{
	struct spec s = valid_spec();
	struct guest g;

	guest_init(&g, &s, RAM_SIZE, 0);
	g.cmdline = "";
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.entry.e820_entries, 5);
	assert_int_equal(get(g.ram + 0x1000, BP_ACPI_RSDP, 8), 0);
	guest_free(&g);
}

static void test_prepare_kernel_placement(void **state)
{
	struct spec s = valid_spec();
	struct guest g;

	/* A reserved range at pref_address: the next 2 MiB multiple past it. */
	guest_init(&g, &s, RAM_SIZE, 4096);
	add_range(&g.pf, 0x1000000, 0x100000, E820_RESERVED);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.entry.kernel_gpa, 0x1200000);
	/* Two in a row. */
	add_range(&g.pf, 0x1300000, 0x1000, E820_NVS);
	memset(g.ram, 0, g.ram_size);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.entry.kernel_gpa, 0x1400000);
	guest_free(&g);

	/* Just enough RAM, and one byte too little. */
	guest_init(&g, &s, 0x1400000, 0);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	guest_free(&g);
	guest_init(&g, &s, 0x1400000 - PAGE_SIZE, 0);
	assert_int_equal(guest_prepare(&g), -1);
	assert_string_equal(g.err, "kernel does not fit: it needs 0x400000 bytes (init_size) "
				   "from 0x1000000 up, but usable RAM ends at 0x13ff000");
	guest_free(&g);

	/* Reserved ranges everywhere above pref_address. */
	guest_init(&g, &s, RAM_SIZE, 0);
	add_range(&g.pf, 0x1000000, RAM_SIZE - 0x1000000, E820_RESERVED);
	assert_int_equal(guest_prepare(&g), -1);
	assert_non_null(strstr(g.err, "kernel does not fit"));
	guest_free(&g);

	/* pref_address 0 and a small alignment: the first aligned place above 1 MiB. */
	s.pref_address = 0;
	s.kernel_alignment = 0x1000;
	guest_init(&g, &s, RAM_SIZE, 0);
	add_range(&g.pf, 0x100000, 0x1800, E820_ACPI);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.entry.kernel_gpa, 0x102000);
	guest_free(&g);

	/* pref_address far above RAM. */
	s = valid_spec();
	s.pref_address = 0xffffffffffe00000ull;
	guest_init(&g, &s, RAM_SIZE, 0);
	assert_int_equal(guest_prepare(&g), -1);
	assert_non_null(strstr(g.err, "kernel does not fit"));
	guest_free(&g);
}

static void test_prepare_initrd_placement(void **state)
{
	struct spec s = valid_spec();
	struct guest g;
	u64 size = 0x123456;

	/* Without XLF_CAN_BE_LOADED_ABOVE_4G, initrd_addr_max bounds it (its last byte). */
	s.xloadflags = XLF_KERNEL_64;
	s.initrd_addr_max = 0x1ffffff;
	guest_init(&g, &s, RAM_SIZE, size);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.entry.initrd_gpa, (0x2000000 - size) & ~0xfffull);
	guest_free(&g);

	/* With it, initrd_addr_max does not apply: the top of RAM. */
	s.xloadflags = XLF_KERNEL_64 | XLF_ABOVE_4G;
	guest_init(&g, &s, RAM_SIZE, size);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.entry.initrd_gpa, (RAM_SIZE - size) & ~0xfffull);
	guest_free(&g);

	/* A limit inside the kernel: below the kernel. */
	s.xloadflags = XLF_KERNEL_64;
	s.initrd_addr_max = 0x12fffff;
	guest_init(&g, &s, RAM_SIZE, size);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.entry.initrd_gpa, (0x1000000 - size) & ~0xfffull);
	guest_free(&g);

	/* Squeezed between reserved ranges: under the lowest that leaves no room above. */
	s = valid_spec();
	guest_init(&g, &s, RAM_SIZE, size);
	add_range(&g.pf, RAM_SIZE - 0x100000, 0x100000, E820_ACPI);
	add_range(&g.pf, RAM_SIZE - 0x200000, 0x80000, E820_RESERVED);
	add_range(&g.pf, 0x3000000, 0x1000, E820_NVS);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.entry.initrd_gpa, (RAM_SIZE - 0x200000 - size) & ~0xfffull);
	guest_free(&g);

	/* The largest initrd that fits above the kernel, and one that only fits below it. */
	guest_init(&g, &s, RAM_SIZE, RAM_SIZE - 0x1400000);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.entry.initrd_gpa, 0x1400000);
	guest_free(&g);
	guest_init(&g, &s, RAM_SIZE, 0x1000000 - MiB(1));
	add_range(&g.pf, 0x1400000, RAM_SIZE - 0x1400000, E820_RESERVED);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.entry.initrd_gpa, MiB(1));
	guest_free(&g);

	/* Too large anywhere. */
	guest_init(&g, &s, RAM_SIZE, 0x1000000 - MiB(1) + 1);
	add_range(&g.pf, 0x1400000, RAM_SIZE - 0x1400000, E820_RESERVED);
	assert_int_equal(guest_prepare(&g), -1);
	assert_string_equal(g.err, "initrd (15728641 bytes) does not fit in guest RAM between "
				   "1 MiB and 0x4000000, clear of the kernel");
	guest_free(&g);
	guest_init(&g, &s, RAM_SIZE, 1);
	g.initrd_size = 0xffffffffffffffffull; /* never copied: refused first */
	assert_int_equal(guest_prepare(&g), -1);
	assert_non_null(strstr(g.err, "does not fit"));
	guest_free(&g);
}

static void test_prepare_cmdline(void **state)
{
	struct spec s = valid_spec();
	struct guest g;
	char *line = malloc(LINUX_CMDLINE_MAX + 2);

	assert_non_null(line);
	s.cmdline_size = 10;
	guest_init(&g, &s, RAM_SIZE, 0);
	g.cmdline = "0123456789";
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	g.cmdline = "0123456789a";
	assert_int_equal(guest_prepare(&g), -1);
	assert_string_equal(g.err, "command line is 11 bytes, the kernel takes at most 10");
	guest_free(&g);

	/* The boot data area bounds it too, whatever the kernel takes. */
	s.cmdline_size = 0xffffffff;
	guest_init(&g, &s, RAM_SIZE, 0);
	memset(line, 'c', LINUX_CMDLINE_MAX);
	line[LINUX_CMDLINE_MAX] = '\0';
	g.cmdline = line;
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.ram[0x10000 - 1], 0); /* the NUL is the last byte of the area */
	line[LINUX_CMDLINE_MAX] = 'c';
	line[LINUX_CMDLINE_MAX + 1] = '\0';
	assert_int_equal(guest_prepare(&g), -1);
	assert_string_equal(g.err, "command line longer than 28671 bytes");
	guest_free(&g);
	free(line);
}

static void test_prepare_platform_errors(void **state)
{
	struct spec s = valid_spec();
	struct guest g;
	static const u8 zero[0x10000];

	guest_init(&g, &s, RAM_SIZE, 4096);
	g.pf.n_reserved = LINUX_MAX_RESERVED + 1;
	assert_int_equal(guest_prepare(&g), -1);
	assert_string_equal(g.err, "platform: 17 reserved ranges (at most 16)");

	g.pf.n_reserved = 0;
	add_range(&g.pf, 0x2000000, 0x1000, E820_RAM);
	assert_int_equal(guest_prepare(&g), -1);
	assert_string_equal(g.err, "platform: reserved range 0 has e820 type 1 (want 2, 3 or 4)");
	g.pf.reserved[0].type = 5;
	assert_int_equal(guest_prepare(&g), -1);

	g.pf.n_reserved = 0;
	add_range(&g.pf, 0x2000000, 0x1000, E820_ACPI);
	add_range(&g.pf, 0x3000000, 0, E820_RESERVED);
	assert_int_equal(guest_prepare(&g), -1);
	assert_string_equal(g.err, "platform: reserved range 1 (0x0 bytes at 0x3000000) is empty "
				   "or beyond physical memory");
	g.pf.reserved[1] = (struct linux_mem_range){ 0xfffffffffffff000ull, 0x2000, 2 };
	assert_int_equal(guest_prepare(&g), -1);
	assert_non_null(strstr(g.err, "beyond physical memory"));
	g.pf.reserved[1] = (struct linux_mem_range){ (1ull << 52) - 0x1000, 0x1001, 2 };
	assert_int_equal(guest_prepare(&g), -1);
	g.pf.reserved[1] = (struct linux_mem_range){ (1ull << 52) - 0x1000, 0x1000, 2 };
	assert_int_equal(guest_prepare(&g), 0); /* the very last page is fine */
	check_guest(&g);
	memset(g.ram, 0, g.ram_size);

	g.pf.reserved[1] = (struct linux_mem_range){ 0xf000, 0x1001, E820_ACPI };
	assert_int_equal(guest_prepare(&g), -1);
	assert_string_equal(g.err, "platform: reserved range 1 [0xf000, 0x10001) overlaps the "
				   "boot data [0x1000, 0x10000)");
	g.pf.reserved[1] = (struct linux_mem_range){ 0x800, 0x801, E820_ACPI };
	assert_int_equal(guest_prepare(&g), -1);
	assert_non_null(strstr(g.err, "overlaps the boot data"));

	/* Guest RAM is untouched by a refusal. */
	assert_memory_equal(g.ram, zero, sizeof(zero));
	assert_memory_equal(g.ram + 0x1000000, zero, sizeof(zero));

	/* Ranges that touch the boot data without overlapping it are fine. */
	g.pf.reserved[1] = (struct linux_mem_range){ 0x0, 0x1000, E820_RESERVED };
	add_range(&g.pf, 0x10000, 0x1000, E820_NVS);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	guest_free(&g);
}

static void test_prepare_ram_size(void **state)
{
	struct spec s = valid_spec();
	struct guest g;

	guest_init(&g, &s, MiB(1) - PAGE_SIZE, 0);
	assert_int_equal(guest_prepare(&g), -1);
	assert_string_equal(g.err, "guest RAM of 0xff000 bytes is not between 1 MiB and 2^52");
	guest_free(&g);
	/* 1 MiB is accepted as RAM, but the kernel does not fit. */
	guest_init(&g, &s, MiB(1), 0);
	assert_int_equal(guest_prepare(&g), -1);
	assert_non_null(strstr(g.err, "kernel does not fit"));
	guest_free(&g);
}

/* Overlapping reserved ranges (the first listed wins) and ranges cutting the fixed layout. */
static void test_prepare_e820_shapes(void **state)
{
	struct spec s = valid_spec();
	struct guest g;

	guest_init(&g, &s, RAM_SIZE, 0x5000);
	add_range(&g.pf, 0xe0000, 0x20000, E820_ACPI);       /* inside the BIOS area */
	add_range(&g.pf, 0x90000, 0x20000, E820_NVS);        /* across 0x9fc00 */
	add_range(&g.pf, 0xf0000, 0x200000, E820_RESERVED);  /* overlaps the first, across 1 MiB */
	add_range(&g.pf, RAM_SIZE - 0x1000, 0x3000, E820_ACPI); /* across the end of RAM */
	add_range(&g.pf, 0x2000000, 0x1000, E820_ACPI);
	add_range(&g.pf, 0x2001000, 0x1000, E820_ACPI);      /* adjacent: merged */
	add_range(&g.pf, 0x50000, 0x1000, E820_RESERVED);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	guest_free(&g);

	/* All sixteen ranges, interleaved: the map still fits and stays consistent. */
	guest_init(&g, &s, RAM_SIZE, 0x5000);
	for (u32 i = 0; i < LINUX_MAX_RESERVED; i++)
		add_range(&g.pf, 0x2000000 + i * 0x3000, 0x1000, 2 + i % 3);
	assert_int_equal(guest_prepare(&g), 0);
	check_guest(&g);
	assert_int_equal(g.entry.e820_entries, 5 + 2 * LINUX_MAX_RESERVED);
	guest_free(&g);
}

/* --- the real Debian kernel --------------------------------------------------------------- */

static u8 *slurp(const char *path, u64 *size)
{
	FILE *f = fopen(path, "rb");
	u8 *b;
	long n;

	if (!f)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	b = malloc((size_t)n);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*size = (u64)n;
	return b;
}

static void test_real_kernel(void **state)
{
	u64 size, initrd_size = 0, release_size;
	u8 *file = slurp("build/linux/vmlinuz", &size), *initrd, *release, *ram;
	struct bzimage_info info;
	struct linux_platform pf = { .acpi_rsdp = 0xf0000 };
	struct linux_entry entry;
	char err[LINUX_BOOT_ERR_MAX];
	const u64 ram_size = MiB(128);

	if (!file) {
		print_message("build/linux/vmlinuz absent (make linux-guest): skipped\n");
		skip();
	}
	assert_int_equal(bzimage_parse(file, size, &info, err, sizeof(err)), 0);
	print_message("vmlinuz: protocol %x, %s\n", info.protocol, info.version);
	assert_true(info.protocol >= 0x020c);
	assert_true(info.xloadflags & XLF_KERNEL_64);
	assert_int_equal(info.kernel_alignment, MiB(2));
	assert_int_equal(info.pref_address, MiB(16));
	assert_true(info.init_size > info.kernel_size);
	release = slurp("build/linux/release", &release_size);
	if (release) {
		while (release_size && release[release_size - 1] == '\n')
			release_size--;
		assert_true(release_size > 0);
		assert_memory_equal(info.version, release, release_size);
		assert_int_equal(info.version[release_size], ' ');
		free(release);
	}

	initrd = slurp("build/linux/initrd.img", &initrd_size);
	ram = calloc(1, ram_size);
	assert_non_null(ram);
	add_range(&pf, ram_size - 0x20000, 0x20000, E820_ACPI);
	assert_int_equal(linux_prepare(ram, ram_size, file, &info, initrd, initrd_size,
				       "console=ttyS0 quiet", &pf, &entry, err, sizeof(err)), 0);
	assert_int_equal(entry.kernel_gpa, MiB(16));
	check_entry_state(ram, ram_size, &info, &entry);
	check_boot_params(ram, file, &info, &entry, initrd_size, pf.acpi_rsdp,
			  "console=ttyS0 quiet");
	check_e820(ram, ram_size, &pf, &entry, initrd_size);
	assert_memory_equal(ram + entry.kernel_gpa, file + info.setup_size, info.kernel_size);
	if (initrd)
		assert_memory_equal(ram + entry.initrd_gpa, initrd, initrd_size);
	free(ram);
	free(initrd);
	free(file);
}

/* --- random mutations: never crash, always 0 or -1 with a message ----------------------------- */

static u64 interesting(u64 size)
{
	static const u64 v[] = { 0, 1, 0x7f, 0x80, 0xff, 0x200, 0x1000, 0x2000, 0x20c, 0x20b,
				 0x100000, 0x1000000, 0x200000, 0x400000, 0x7ff, 0xfffff,
				 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull, UINT64_MAX,
				 0xaa55, 0x53726448 };

	return edge_value(size, v, ARRAY_SIZE(v));
}

static void mutate(u8 *b, u64 size)
{
	static const u32 fields[] = { O_SETUP_SECTS, O_SYSSIZE, O_BOOT_FLAG, O_JUMP + 1, O_HEADER,
				      O_VERSION, O_KERNEL_VERSION, O_LOADFLAGS, O_INITRD_ADDR_MAX,
				      O_KERNEL_ALIGNMENT, O_RELOCATABLE, O_XLOADFLAGS,
				      O_CMDLINE_SIZE, O_PAYLOAD_OFFSET, O_PAYLOAD_LENGTH,
				      O_PREF_ADDRESS, O_INIT_SIZE, O_HARDWARE_SUBARCH,
				      O_SETUP_DATA, O_HANDOVER_OFFSET };
	int w = random_width();
	u64 off;

	switch (rng_below(3)) {
	case 0: /* any byte of the file */
		flip_random_byte(b, size);
		break;
	case 1: /* a header field, to an edge value */
		off = fields[rng_below(ARRAY_SIZE(fields))];
		put_edge_value(b, size, off, w, interesting);
		break;
	default: /* any byte of the setup header */
		off = 0x1f1 + rng_below(0x90);
		if (off < size)
			b[off] = (u8)rng();
		break;
	}
}

static void random_platform(struct linux_platform *pf, u64 ram_size)
{
	memset(pf, 0, sizeof(*pf));
	pf->acpi_rsdp = rng_below(2) ? 0xe0000 : 0;
	pf->n_reserved = (u32)rng_below(rng_below(16) ? 5 : LINUX_MAX_RESERVED + 2);
	for (u32 i = 0; i < pf->n_reserved && i < LINUX_MAX_RESERVED; i++) {
		struct linux_mem_range *r = &pf->reserved[i];

		r->start = rng_below(8) ? ALIGN_DOWN(rng_below(ram_size + MiB(4)), 0x1000)
					: interesting(ram_size);
		r->size = rng_below(8) ? 0x1000 * (1 + rng_below(rng_below(2) ? 16 : 4096))
				       : interesting(ram_size);
		r->type = rng_below(16) ? 2 + (u32)rng_below(3) : (u32)rng_below(8);
	}
}

static void check_accepted(const u8 *b, u64 size, const struct bzimage_info *info)
{
	assert_true(info->protocol >= 0x020c);
	assert_true(info->setup_size >= 2 * SECTOR && info->setup_size <= size);
	assert_int_equal(info->kernel_size, size - info->setup_size);
	assert_true(info->kernel_size > 0);
	assert_true(info->init_size >= info->kernel_size);
	assert_true(info->header_end >= 0x264 && info->header_end <= 0x281);
	assert_true(info->kernel_alignment >= PAGE_SIZE && info->kernel_alignment <= GiB(1));
	assert_int_equal(info->kernel_alignment & (info->kernel_alignment - 1), 0);
	assert_true(info->xloadflags & XLF_KERNEL_64);
	assert_int_equal(get(b, O_HEADER, 4), 0x53726448);
	assert_non_null(memchr(info->version, '\0', sizeof(info->version)));
}

static void test_random_mutations(void **state)
{
	static const u64 rams[] = { MiB(1), MiB(18), MiB(21), MiB(40) };
	u8 *ram[ARRAY_SIZE(rams)];
	u8 *initrd = malloc(MiB(24));
	char *cmdline = malloc(4096);
	u32 parsed = 0, refused = 0, prepared = 0, unprepared = 0;
	struct spec s = valid_spec();
	u8 *orig = build(&s);

	assert_non_null(initrd);
	assert_non_null(cmdline);
	memset(initrd, 0x5a, MiB(24));
	memset(cmdline, 'k', 4096);
	for (size_t i = 0; i < ARRAY_SIZE(rams); i++)
		assert_non_null(ram[i] = malloc(rams[i]));
	rng_state = 0x6a09e667f3bcc908ull;
	for (u32 round = 0; round < 20000; round++) {
		u8 *b;
		u64 size = size_of(&s);
		struct bzimage_info info;
		struct linux_platform pf;
		struct linux_entry entry;
		char err[LINUX_BOOT_ERR_MAX];
		size_t r = rng_below(ARRAY_SIZE(rams)), len;
		u64 initrd_size;
		int rc;

		b = copy_maybe_truncated(orig, &size);
		if (rng_below(4) == 0 && size >= O_INIT_SIZE + 4)
			put(b, O_INIT_SIZE, rng_below(MiB(8)), 4);
		for (u64 n = rng_below(4); n > 0 && size; n--)
			mutate(b, size);

		memset(err, 0, sizeof(err));
		rc = bzimage_parse(b, size, &info, err, sizeof(err));
		if (rc) {
			expect_refused(rc, err, sizeof(err));
			refused++;
			free(b);
			continue;
		}
		check_accepted(b, size, &info);
		parsed++;

		random_platform(&pf, rams[r]);
		len = rng_below(4) ? rng_below(64) : rng_below(4096);
		cmdline[len] = '\0';
		initrd_size = rng_below(16) ? rng_below(MiB(1)) : rng_below(MiB(24) + 1);
		rc = linux_prepare(ram[r], rams[r], b, &info, initrd, initrd_size, cmdline, &pf,
				   &entry, err, sizeof(err));
		cmdline[len] = 'k';
		if (rc == 0) {
			check_e820(ram[r], rams[r], &pf, &entry, initrd_size);
			assert_true(entry.kernel_end <= rams[r]);
			assert_int_equal(entry.rip, entry.kernel_gpa + 0x200);
			for (u32 i = 0; i < pf.n_reserved; i++) {
				const struct linux_mem_range *m = &pf.reserved[i];

				assert_true(m->start >= entry.kernel_end ||
					    m->start + m->size <= entry.kernel_gpa);
				if (initrd_size)
					assert_true(m->start >= entry.initrd_gpa + initrd_size ||
						    m->start + m->size <= entry.initrd_gpa);
			}
			prepared++;
		} else {
			expect_refused(rc, err, sizeof(err));
			unprepared++;
		}
		free(b);
	}
	free(orig);
	print_message("parsed %u, refused %u; prepared %u, refused %u\n", parsed, refused,
		      prepared, unprepared);
	for (size_t i = 0; i < ARRAY_SIZE(rams); i++)
		free(ram[i]);
	free(initrd);
	free(cmdline);
	/* Every outcome must be well represented, or the loop tests little. */
	assert_true(parsed > 2000 && refused > 2000);
	assert_true(prepared > 1000 && unprepared > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_edges),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_parse_error_buffer),
		cmocka_unit_test(test_prepare_basic),
		cmocka_unit_test(test_prepare_no_initrd_no_platform),
		cmocka_unit_test(test_prepare_kernel_placement),
		cmocka_unit_test(test_prepare_initrd_placement),
		cmocka_unit_test(test_prepare_cmdline),
		cmocka_unit_test(test_prepare_platform_errors),
		cmocka_unit_test(test_prepare_ram_size),
		cmocka_unit_test(test_prepare_e820_shapes),
		cmocka_unit_test(test_real_kernel),
		cmocka_unit_test(test_random_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
