/* Unit tests for guest/elf.c: multiboot ELF32/ELF64 images built in memory, good and bad. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <kestrel/elf_loader.h>

#include "image_mutation.h"

#define GUEST_RAM MiB(16)
#define HIGH_HALF 0xffffffff80000000ull

#define PT_LOAD 1
#define PT_NOTE 4
#define PF_X 1
#define PF_W 2
#define PF_R 4
#define EM_386 3
#define EM_X86_64 62
#define ET_REL 1
#define ET_EXEC 2
#define ET_DYN 3
#define MB_MAGIC 0x1badb002u
#define MAX_PH 12

struct phdr {
	u32 type, flags;
	u64 offset, vaddr, paddr, filesz, memsz;
};

/* Everything a test image is made of; build() lays it out. */
struct spec {
	int bits; /* 32 or 64 */
	u16 type, machine;
	u64 entry;
	u32 phnum;
	struct phdr ph[MAX_PH];
	u64 mb_off; /* no multiboot header when it does not fit in the file */
	u32 mb_flags;
	u64 size;
};

static u64 phoff_of(const struct spec *s)
{
	return s->bits == 64 ? 64 : 52;
}

static u64 phentsize_of(const struct spec *s)
{
	return s->bits == 64 ? 56 : 32;
}

/* A malloc'd buffer of exactly s->size bytes, so ASan sees any read past the file. */
static u8 *build(const struct spec *s)
{
	bool e64 = s->bits == 64;
	int w = e64 ? 8 : 4;
	u8 *b = malloc(s->size);

	assert_non_null(b);
	for (u64 i = 0; i < s->size; i++)
		b[i] = (u8)(i * 7 + 3); /* recognisable payload */
	memcpy(b, "\x7f" "ELF", 4);
	b[4] = e64 ? 2 : 1; /* class */
	b[5] = 1;           /* little-endian */
	b[6] = 1;           /* version */
	memset(b + 7, 0, 9);
	put(b, 16, s->type, 2);
	put(b, 18, s->machine, 2);
	put(b, 20, 1, 4);
	put(b, 24, s->entry, w);
	put(b, 24 + w, phoff_of(s), w);     /* e_phoff */
	put(b, 24 + 2 * w, 0, w);           /* e_shoff */
	put(b, 24 + 3 * w, 0, 4);           /* e_flags */
	put(b, 28 + 3 * w, phoff_of(s), 2); /* e_ehsize */
	put(b, 30 + 3 * w, phentsize_of(s), 2);
	put(b, 32 + 3 * w, s->phnum, 2);
	put(b, 34 + 3 * w, e64 ? 64 : 40, 2); /* e_shentsize, e_shnum, e_shstrndx */
	put(b, 36 + 3 * w, 0, 4);
	for (u32 i = 0; i < s->phnum; i++) {
		const struct phdr *p = &s->ph[i];
		u64 o = phoff_of(s) + i * phentsize_of(s);

		put(b, o, p->type, 4);
		if (e64) {
			put(b, o + 4, p->flags, 4);
			put(b, o + 8, p->offset, 8);
			put(b, o + 16, p->vaddr, 8);
			put(b, o + 24, p->paddr, 8);
			put(b, o + 32, p->filesz, 8);
			put(b, o + 40, p->memsz, 8);
			put(b, o + 48, 0x1000, 8);
		} else {
			put(b, o + 4, p->offset, 4);
			put(b, o + 8, p->vaddr, 4);
			put(b, o + 12, p->paddr, 4);
			put(b, o + 16, p->filesz, 4);
			put(b, o + 20, p->memsz, 4);
			put(b, o + 24, p->flags, 4);
			put(b, o + 28, 0x1000, 4);
		}
	}
	if (s->mb_off + 12 <= s->size) {
		put(b, s->mb_off, MB_MAGIC, 4);
		put(b, s->mb_off + 4, s->mb_flags, 4);
		put(b, s->mb_off + 8, (u32)-(MB_MAGIC + s->mb_flags), 4);
	}
	return b;
}

/* Text at 1 MiB (with the multiboot header at its start), data + bss at 2 MiB, and a note. */
static struct spec valid_spec(int bits)
{
	struct spec s = {
		.bits = bits,
		.type = ET_EXEC,
		.machine = bits == 64 ? EM_X86_64 : EM_386,
		.entry = 0x100010,
		.phnum = 3,
		.ph = {
			{ PT_LOAD, PF_R | PF_X, 0x1000, 0x100000, 0x100000, 0x800, 0x800 },
			{ PT_LOAD, PF_R | PF_W, 0x1800, 0x200000, 0x200000, 0x400, 0x2400 },
			{ PT_NOTE, PF_R, 0xdeadbeef, 0, 0, 0x7fffffff, 0 },
		},
		.mb_off = 0x1000,
		.mb_flags = 0x3,
		.size = 0x1c00,
	};

	return s;
}

/* The same image linked in the higher half: virtual and physical addresses differ. */
static struct spec high_half_spec(void)
{
	struct spec s = valid_spec(64);

	s.ph[0].vaddr += HIGH_HALF;
	s.ph[1].vaddr += HIGH_HALF;
	s.entry += HIGH_HALF;
	return s;
}

static int parse_spec(const struct spec *s, u64 ram, struct guest_image *img, char *err,
		      size_t errlen)
{
	u8 *b = build(s);
	int rc = elf_parse(b, s->size, ram, img, err, errlen);

	free(b);
	return rc;
}

static void expect_ok(const struct spec *s, struct guest_image *img)
{
	char err[GUEST_IMAGE_ERR_MAX] = "";

	if (parse_spec(s, GUEST_RAM, img, err, sizeof(err)))
		fail_msg("rejected: %s", err);
}

static void expect_error_ram(const struct spec *s, u64 ram, const char *want)
{
	char err[GUEST_IMAGE_ERR_MAX];
	struct guest_image img;

	memset(err, 'x', sizeof(err));
	assert_int_equal(parse_spec(s, ram, &img, err, sizeof(err)), -1);
	assert_non_null(memchr(err, '\0', sizeof(err)));
	if (!strstr(err, want))
		fail_msg("message '%s' lacks '%s'", err, want);
}

static void expect_error(const struct spec *s, const char *want)
{
	expect_error_ram(s, GUEST_RAM, want);
}

/* Parse the first `size` bytes of a built image, in a buffer of exactly that size. */
static void expect_error_bytes(const u8 *b, u64 size, const char *want)
{
	char err[GUEST_IMAGE_ERR_MAX];
	struct guest_image img;
	u8 *copy = malloc(size ? size : 1);

	memcpy(copy, b, size);
	assert_int_equal(elf_parse(copy, size, GUEST_RAM, &img, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("message '%s' lacks '%s'", err, want);
	free(copy);
}

static void test_valid_elf32(void **state)
{
	struct spec s = valid_spec(32);
	struct guest_image img;

	expect_ok(&s, &img);
	assert_int_equal(img.entry, 0x100010);
	assert_int_equal(img.n_segments, 2);
	assert_int_equal(img.seg[0].gpa, 0x100000);
	assert_int_equal(img.seg[0].file_offset, 0x1000);
	assert_int_equal(img.seg[0].file_size, 0x800);
	assert_int_equal(img.seg[0].mem_size, 0x800);
	assert_true(img.seg[0].exec);
	assert_int_equal(img.seg[1].gpa, 0x200000);
	assert_int_equal(img.seg[1].file_offset, 0x1800);
	assert_int_equal(img.seg[1].file_size, 0x400);
	assert_int_equal(img.seg[1].mem_size, 0x2400);
	assert_false(img.seg[1].exec);
	assert_int_equal(img.multiboot_flags, 0x3);
	assert_int_equal(img.multiboot_offset, 0x1000);
}

static void test_valid_elf64(void **state)
{
	struct spec s = valid_spec(64);
	struct guest_image img;

	expect_ok(&s, &img);
	assert_int_equal(img.entry, 0x100010);
	assert_int_equal(img.n_segments, 2);
	assert_int_equal(img.seg[1].mem_size, 0x2400);

	/* Higher-half link: placed by p_paddr, entry moved to its physical address. */
	s = high_half_spec();
	expect_ok(&s, &img);
	assert_int_equal(img.seg[0].gpa, 0x100000);
	assert_int_equal(img.seg[1].gpa, 0x200000);
	assert_int_equal(img.entry, 0x100010);
}

static void test_edges_accepted(void **state)
{
	struct spec s = valid_spec(64);
	struct guest_image img;

	/* A segment at the lowest allowed address, one ending exactly at the end of RAM, touching
	 * segments, and the entry on the last byte of the text. */
	s.ph[0].paddr = s.ph[0].vaddr = GUEST_IMAGE_MIN_GPA;
	s.ph[1].paddr = s.ph[1].vaddr = GUEST_IMAGE_MIN_GPA + 0x800;
	s.ph[1].memsz = GUEST_RAM - s.ph[1].paddr;
	s.entry = GUEST_IMAGE_MIN_GPA + 0x7ff;
	expect_ok(&s, &img);
	assert_int_equal(img.entry, GUEST_IMAGE_MIN_GPA + 0x7ff);

	/* An empty PT_LOAD is skipped wherever it points; so is any non-load header. */
	s = valid_spec(32);
	s.phnum = 4;
	s.ph[3] = (struct phdr){ PT_LOAD, PF_R, 0x100, 0, 0, 0, 0 };
	expect_ok(&s, &img);
	assert_int_equal(img.n_segments, 2);

	/* A header that ends exactly at 8 KiB (the text grows to cover it). */
	s = valid_spec(32);
	s.size = 0x2400;
	s.ph[0].filesz = s.ph[0].memsz = 0x1400;
	s.ph[1].offset = 0x2400 - 0x400;
	s.mb_off = 8192 - 12;
	expect_ok(&s, &img);
	assert_int_equal(img.multiboot_offset, 8192 - 12);

	/* Nine program headers but only eight loadable segments. */
	s = valid_spec(64);
	s.phnum = 9;
	for (u32 i = 1; i < 9; i++)
		s.ph[i] = (struct phdr){ i == 8 ? PT_NOTE : PT_LOAD, PF_R, 0x1800,
					 0x300000 + i * 0x1000, 0x300000 + i * 0x1000, 0x100,
					 0x1000 };
	expect_ok(&s, &img);
	assert_int_equal(img.n_segments, 8);
}

static void test_header_errors(void **state)
{
	struct spec s32 = valid_spec(32), s64 = valid_spec(64);
	u8 *b32 = build(&s32), *b64 = build(&s64);
	u8 *m = malloc(s64.size);

	expect_error_bytes(b32, 0, "file too small for an ELF header (0 bytes)");
	expect_error_bytes(b32, 51, "file too small for an ELF header (51 bytes)");
	expect_error_bytes(b64, 63, "file too small for an ELF64 header (63 bytes)");

#define MUTATE(buf, size, off, val, n, want)                   \
	do {                                                   \
		memcpy(m, buf, size);                          \
		put(m, off, val, n);                           \
		expect_error_bytes(m, size, want);             \
	} while (0)

	MUTATE(b32, s32.size, 0, 0x7e, 1, "not an ELF file (bad magic)");
	MUTATE(b64, s64.size, 3, 'f', 1, "not an ELF file (bad magic)");
	MUTATE(b64, s64.size, 4, 0, 1, "unsupported ELF class 0");
	MUTATE(b64, s64.size, 4, 3, 1, "unsupported ELF class 3");
	MUTATE(b32, s32.size, 5, 2, 1, "not a little-endian ELF file");
	MUTATE(b64, s64.size, 5, 0, 1, "not a little-endian ELF file");
	MUTATE(b32, s32.size, 6, 0, 1, "unsupported ELF version 0/1");
	MUTATE(b64, s64.size, 20, 2, 4, "unsupported ELF version 1/2");
	MUTATE(b32, s32.size, 16, ET_DYN, 2, "not an executable ELF file (type 3");
	MUTATE(b64, s64.size, 16, ET_REL, 2, "not an executable ELF file (type 1");
	MUTATE(b32, s32.size, 18, EM_X86_64, 2, "wrong machine 62 for ELF32 (want EM_386)");
	MUTATE(b64, s64.size, 18, EM_386, 2, "wrong machine 3 for ELF64 (want EM_X86_64)");
	MUTATE(b32, s32.size, 42, 56, 2, "program header entry size 56 (want 32 for ELF32)");
	MUTATE(b64, s64.size, 54, 32, 2, "program header entry size 32 (want 56 for ELF64)");
	MUTATE(b64, s64.size, 56, 65, 2, "too many program headers (65, at most 64)");
	MUTATE(b32, s32.size, 44, 0xffff, 2, "too many program headers");
	MUTATE(b32, s32.size, 28, s32.size, 4, "program header table (3 entries at offset 0x1c00)");
	MUTATE(b32, s32.size, 28, s32.size - 95, 4, "outside the file (0x1c00 bytes)");
	MUTATE(b64, s64.size, 32, UINT64_MAX, 8, "program header table");
	MUTATE(b64, s64.size, 32, UINT64_MAX - 8, 8, "program header table");
#undef MUTATE

	/* Truncated after the header: the program header table is cut. */
	expect_error_bytes(b64, 64 + 100,
			   "program header table (3 entries at offset 0x40) outside the file");

	free(m);
	free(b32);
	free(b64);
}

static void test_segment_errors(void **state)
{
	struct spec s;

	for (int bits = 32; bits <= 64; bits += 32) {
		s = valid_spec(bits);
		s.ph[1].filesz = 0x2401;
		expect_error(&s, "program header 1: file size 0x2401 larger than memory size "
				 "0x2400");

		s = valid_spec(bits);
		s.ph[1].offset = s.size + 1;
		s.ph[1].filesz = 0;
		expect_error(&s, "program header 1: 0x0 bytes at file offset 0x1c01, past the end");

		s = valid_spec(bits);
		s.ph[1].filesz = 0x401;
		expect_error(&s, "past the end of the file (0x1c00 bytes)");

		s = valid_spec(bits);
		s.ph[1].offset = bits == 64 ? UINT64_MAX - 0x100 : 0xffffff00;
		expect_error(&s, "program header 1: 0x400 bytes at file offset");

		s = valid_spec(bits);
		s.ph[0].paddr = 0;
		expect_error(&s, "program header 0: 0x800 bytes at 0x0, outside guest RAM "
				 "[0x1000, 0x1000000)");

		s = valid_spec(bits);
		s.ph[0].paddr = 0x800;
		expect_error(&s, "outside guest RAM");

		s = valid_spec(bits);
		s.ph[1].paddr = GUEST_RAM - 0x2000;
		expect_error(&s, "program header 1: 0x2400 bytes at 0xffe000, outside guest RAM");

		s = valid_spec(bits);
		s.ph[1].memsz = GUEST_RAM + 0x400;
		expect_error(&s, "outside guest RAM");

		/* paddr + memsz wraps: must not look like a small range. */
		s = valid_spec(bits);
		s.ph[1].paddr = bits == 64 ? UINT64_MAX - 0xfff : 0xfffff000;
		s.ph[1].memsz = bits == 64 ? 0x2000 : 0x2400;
		expect_error(&s, "outside guest RAM");

		s = valid_spec(bits);
		s.ph[1].paddr = 0x100400;
		expect_error(&s, "program header 1: [0x100400, 0x102800) overlaps another loadable "
				 "segment [0x100000, 0x100800)");

		/* Overlap from below, and one segment containing another. */
		s = valid_spec(bits);
		s.ph[1].paddr = 0xff000;
		expect_error(&s, "overlaps");
		s = valid_spec(bits);
		s.ph[1].paddr = 0xf0000;
		s.ph[1].memsz = 0x20000;
		expect_error(&s, "overlaps");
	}

	/* Nine loadable segments. */
	s = valid_spec(64);
	s.phnum = 9;
	for (u32 i = 1; i < 9; i++)
		s.ph[i] = (struct phdr){ PT_LOAD, PF_R, 0x1800, 0x300000 + i * 0x1000,
					 0x300000 + i * 0x1000, 0x100, 0x1000 };
	expect_error(&s, "more than 8 loadable segments");

	/* Guest RAM smaller than the first page: nothing fits. */
	s = valid_spec(32);
	expect_error_ram(&s, 0, "outside guest RAM [0x1000, 0x0)");
}

static void test_no_loadable_segment(void **state)
{
	struct spec s = valid_spec(32);

	s.phnum = 0;
	expect_error(&s, "no loadable segment");

	s = valid_spec(64);
	s.ph[0].type = PT_NOTE;
	s.ph[1].memsz = s.ph[1].filesz = 0;
	expect_error(&s, "no loadable segment");
}

static void test_entry_errors(void **state)
{
	struct spec s = valid_spec(32);

	s.entry = 0x100800; /* one past the text */
	expect_error(&s, "entry point 0x100800 is not inside an executable loaded segment");

	s.entry = 0xfffff;
	expect_error(&s, "entry point 0xfffff is not");

	s.entry = 0x200010; /* data, not executable */
	expect_error(&s, "entry point 0x200010 is not");

	/* Higher half: the physical address is not where e_entry points. */
	s = high_half_spec();
	s.entry = 0x100010;
	expect_error(&s, "entry point 0x100010 is not");
	s.entry = HIGH_HALF;
	expect_error(&s, "entry point 0xffffffff80000000 is not");

	s = valid_spec(64);
	s.entry = 0;
	expect_error(&s, "entry point 0x0 is not");
}

static void test_multiboot_errors(void **state)
{
	const char *want = "not a multiboot image (no header in the first 8 KiB)";
	struct spec s = valid_spec(64);
	char err[GUEST_IMAGE_ERR_MAX];
	struct guest_image img;
	u8 *b;

	s.mb_off = s.size; /* none */
	expect_error(&s, want);

	s = valid_spec(64);
	s.mb_off = 0x1002; /* not 4-byte aligned */
	expect_error(&s, want);

	s = valid_spec(32);
	s.mb_off = s.size - 8; /* would run past the end of the file */
	b = build(&s);
	put(b, s.size - 8, MB_MAGIC, 4);
	put(b, s.size - 4, (u32)-MB_MAGIC, 4);
	expect_error_bytes(b, s.size, want);
	free(b);

	/* Past the first 8 KiB, or straddling its end. */
	s = valid_spec(32);
	s.size = 0x2400;
	s.ph[0].filesz = s.ph[0].memsz = 0x1400;
	s.ph[1].offset = 0x2000;
	s.mb_off = 8192;
	expect_error(&s, want);
	s.mb_off = 8192 - 8;
	expect_error(&s, want);

	/* A bad checksum; a later good header is still found. */
	s = valid_spec(64);
	b = build(&s);
	put(b, 0x1008, 0x12345678, 4);
	expect_error_bytes(b, s.size, want);
	put(b, 0x1400, MB_MAGIC, 4);
	put(b, 0x1404, 0x10000, 4);
	put(b, 0x1408, (u32)-(MB_MAGIC + 0x10000), 4);
	assert_int_equal(elf_parse(b, s.size, GUEST_RAM, &img, err, sizeof(err)), 0);
	assert_int_equal(img.multiboot_offset, 0x1400);
	assert_int_equal(img.multiboot_flags, 0x10000);
	free(b);
}

static void test_error_buffer(void **state)
{
	struct spec s = valid_spec(32);
	struct guest_image img;
	char err[8];

	s.entry = 0x200010;
	memset(err, 'x', sizeof(err));
	assert_int_equal(parse_spec(&s, GUEST_RAM, &img, err, sizeof(err)), -1);
	assert_string_equal(err, "entry p"); /* truncated, terminated */
	assert_int_equal(parse_spec(&s, GUEST_RAM, &img, NULL, 0), -1);
}

static void test_load(void **state)
{
	struct spec specs[] = { valid_spec(32), high_half_spec() };

	for (size_t k = 0; k < ARRAY_SIZE(specs); k++) {
		const struct spec *s = &specs[k];
		u8 *b = build(s);
		u8 *ram = malloc(GUEST_RAM);
		char err[GUEST_IMAGE_ERR_MAX];
		struct guest_image img;

		memset(ram, 0xcc, GUEST_RAM);
		assert_int_equal(elf_parse(b, s->size, GUEST_RAM, &img, err, sizeof(err)), 0);
		elf_load(b, &img, ram);

		/* Text and data copied from their file offsets... */
		assert_memory_equal(ram + 0x100000, b + 0x1000, 0x800);
		assert_memory_equal(ram + 0x200000, b + 0x1800, 0x400);
		assert_int_equal(get(ram, 0x100000, 4), MB_MAGIC);
		/* ...the bss zeroed... */
		for (u64 a = 0x200400; a < 0x202400; a++)
			if (ram[a])
				fail_msg("bss byte %#llx is %#x", (unsigned long long)a, ram[a]);
		/* ...and nothing else touched. */
		assert_int_equal(ram[0xfffff], 0xcc);
		assert_int_equal(ram[0x100800], 0xcc);
		assert_int_equal(ram[0x1fffff], 0xcc);
		assert_int_equal(ram[0x202400], 0xcc);
		assert_int_equal(ram[0], 0xcc);
		free(ram);
		free(b);
	}
}

/* --- random mutations: never crash, always 0 or -1 with a message --------------------------- */

/* Values that sit on the edges the parser checks. */
static u64 interesting(u64 file_size)
{
	static const u64 v[] = { 0, 1, 3, 0x7f, 0x800, 0xfff, 0x1000, 0x2400, 0x100000, 0x100010,
				 0x200000, GUEST_RAM - 1, GUEST_RAM, 0x7fffffff, 0xffffffff,
				 0x100000000ull, UINT64_MAX, UINT64_MAX - 0xfff };

	return edge_value(file_size, v, ARRAY_SIZE(v));
}

static void mutate(u8 *b, const struct spec *s, u64 size)
{
	u64 hot = phoff_of(s) + (s->phnum + 1) * phentsize_of(s); /* headers, one spare entry */
	int w = random_width();
	u64 off;

	switch (rng_below(4)) {
	case 0: /* any byte of the file */
		flip_random_byte(b, size);
		break;
	case 1: /* a field of the headers, to an edge value */
		off = rng_below(hot);
		put_edge_value(b, size, off, w, interesting);
		break;
	case 2: /* an aligned field of a program header */
		off = phoff_of(s) + rng_below(s->phnum + 1) * phentsize_of(s) + 4 * rng_below(14);
		put_edge_value(b, size, off, w, interesting);
		break;
	default: /* the multiboot header */
		off = s->mb_off + 4 * rng_below(3);
		if (off + 4 <= size)
			put(b, off, rng_below(2) ? MB_MAGIC : rng(), 4);
		break;
	}
}

static void check_accepted(const u8 *b, u64 size, u8 *ram, u64 ram_size,
			   const struct guest_image *img)
{
	bool entry_ok = false;

	assert_true(img->n_segments >= 1 && img->n_segments <= GUEST_IMAGE_MAX_SEGMENTS);
	for (u32 i = 0; i < img->n_segments; i++) {
		const struct guest_segment *g = &img->seg[i];

		assert_true(g->file_size <= g->mem_size && g->mem_size > 0);
		assert_true(g->file_offset <= size && g->file_size <= size - g->file_offset);
		assert_true(g->gpa >= GUEST_IMAGE_MIN_GPA && g->gpa <= ram_size - g->mem_size);
		for (u32 j = 0; j < i; j++)
			assert_true(g->gpa >= img->seg[j].gpa + img->seg[j].mem_size ||
				    img->seg[j].gpa >= g->gpa + g->mem_size);
		if (g->exec && img->entry >= g->gpa && img->entry - g->gpa < g->mem_size)
			entry_ok = true;
	}
	assert_true(entry_ok);
	assert_true(img->multiboot_offset % 4 == 0);
	assert_true(img->multiboot_offset + 12 <= MIN(size, 8192));
	assert_int_equal(get(b, img->multiboot_offset, 4), MB_MAGIC);

	elf_load(b, img, ram); /* ASan checks every byte stays in both buffers */
}

static void test_random_mutations(void **state)
{
	static const u64 rams[] = { GUEST_RAM, MiB(2) + 0x2000, 0x1000, 0 };
	u8 *ram_buf[ARRAY_SIZE(rams)];
	u32 accepted = 0, rejected = 0;

	/* Exactly as large as elf_parse is told, so ASan catches elf_load writing past. */
	for (size_t i = 0; i < ARRAY_SIZE(rams); i++)
		assert_non_null(ram_buf[i] = malloc(rams[i] ? rams[i] : 1));
	rng_state = 0x6a09e667f3bcc908ull;
	for (u32 round = 0; round < 20000; round++) {
		struct spec s = round % 3 == 0 ? high_half_spec() : valid_spec(round % 2 ? 32 : 64);
		u8 *orig = build(&s), *b;
		u64 size = s.size;
		size_t r = rng_below(4) ? 0 : rng_below(ARRAY_SIZE(rams));
		char err[GUEST_IMAGE_ERR_MAX];
		struct guest_image img;
		int rc;

		b = copy_maybe_truncated(orig, &size);
		for (u64 n = rng_below(4); n > 0 && size; n--)
			mutate(b, &s, size);

		memset(err, 0, sizeof(err));
		rc = elf_parse(b, size, rams[r], &img, err, sizeof(err));
		if (rc == 0) {
			check_accepted(b, size, ram_buf[r], rams[r], &img);
			accepted++;
		} else {
			expect_refused(rc, err, sizeof(err));
			rejected++;
		}
		free(b);
		free(orig);
	}
	for (size_t i = 0; i < ARRAY_SIZE(rams); i++)
		free(ram_buf[i]);
	/* Both outcomes must be well represented, or the loop tests little. */
	assert_true(accepted > 2000);
	assert_true(rejected > 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_elf32),
		cmocka_unit_test(test_valid_elf64),
		cmocka_unit_test(test_edges_accepted),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_segment_errors),
		cmocka_unit_test(test_no_loadable_segment),
		cmocka_unit_test(test_entry_errors),
		cmocka_unit_test(test_multiboot_errors),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_random_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
