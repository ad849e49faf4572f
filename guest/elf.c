/*
 * Multiboot ELF guest images (include/kestrel/elf_loader.h). Fields are read byte by byte in
 * little-endian order from the untrusted buffer, never through casts, and every offset + size is
 * checked in a form that cannot overflow. References: the System V ABI ELF specification (gABI)
 * and the Multiboot Specification 0.6.96, section 3.1.
 */
#include <kestrel/elf_loader.h>
#include <kestrel/fmt.h>
#include <kestrel/string.h>

#define EI_CLASS 4
#define EI_DATA 5
#define EI_VERSION 6
#define ELFCLASS32 1
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define E_TYPE 16 /* e_type, e_machine, e_version: same offsets in both classes */
#define E_MACHINE 18
#define E_VERSION 20
#define EV_CURRENT 1
#define ET_EXEC 2
#define EM_386 3
#define EM_X86_64 62
#define PT_LOAD 1
#define PF_X 1

#define ELF_MAX_PHDRS 64 /* real images have a handful; bounds the work on a hostile file */

#define MULTIBOOT_MAGIC 0x1badb002u
#define MULTIBOOT_SEARCH 8192 /* the header lies within the first 8 KiB, 4-byte aligned */
#define MULTIBOOT_HEADER_SIZE 12 /* magic, flags, checksum */

/* Where the fields we need sit in each class (gABI "ELF Header", "Program Header"). */
struct elf_layout {
	const char *name, *machine_name;
	u16 machine;
	u32 ehdr_size, phdr_size, word;
	u32 e_entry, e_phoff, e_phentsize, e_phnum;
	u32 p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags;
};

static const struct elf_layout elf32 = {
	.name = "ELF32", .machine_name = "EM_386", .machine = EM_386,
	.ehdr_size = 52, .phdr_size = 32, .word = 4,
	.e_entry = 24, .e_phoff = 28, .e_phentsize = 42, .e_phnum = 44,
	.p_offset = 4, .p_vaddr = 8, .p_paddr = 12, .p_filesz = 16, .p_memsz = 20, .p_flags = 24,
};

static const struct elf_layout elf64 = {
	.name = "ELF64", .machine_name = "EM_X86_64", .machine = EM_X86_64,
	.ehdr_size = 64, .phdr_size = 56, .word = 8,
	.e_entry = 24, .e_phoff = 32, .e_phentsize = 54, .e_phnum = 56,
	.p_offset = 8, .p_vaddr = 16, .p_paddr = 24, .p_filesz = 32, .p_memsz = 40, .p_flags = 4,
};

/* A little-endian field of `size` bytes (2, 4 or 8); the caller has checked it is in the file. */
static u64 rd(const u8 *p, u32 size)
{
	u64 v = 0;

	while (size--)
		v = v << 8 | p[size];
	return v;
}

/* One elf_parse call: the file, the limits it is checked against, and where results go. */
struct parse {
	const u8 *f;
	u64 file_size, guest_ram;
	const struct elf_layout *l;
	struct guest_image *img;
	u64 vaddr[GUEST_IMAGE_MAX_SEGMENTS]; /* p_vaddr of img->seg[i], to place the entry */
	char *err;
	size_t errlen;
};

static int fail(struct parse *p, const char *fmt, ...) PRINTF_LIKE(2, 3);

static int fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fmt_vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The first valid multiboot header: magic + flags + checksum == 0 (mod 2^32). */
static bool find_multiboot(struct parse *p)
{
	u64 limit = MIN(p->file_size, MULTIBOOT_SEARCH);

	for (u64 off = 0; off + MULTIBOOT_HEADER_SIZE <= limit; off += 4) {
		u32 magic = (u32)rd(p->f + off, 4), flags = (u32)rd(p->f + off + 4, 4);
		u32 checksum = (u32)rd(p->f + off + 8, 4);

		if (magic == MULTIBOOT_MAGIC && (u32)(magic + flags + checksum) == 0) {
			p->img->multiboot_flags = flags;
			p->img->multiboot_offset = off;
			return true;
		}
	}
	return false;
}

/* Record the PT_LOAD program header number i, at ph. Returns 0, or -1 with the message. */
static int add_segment(struct parse *p, const u8 *ph, u32 i)
{
	const struct elf_layout *l = p->l;
	struct guest_image *img = p->img;
	u64 offset = rd(ph + l->p_offset, l->word), filesz = rd(ph + l->p_filesz, l->word);
	u64 paddr = rd(ph + l->p_paddr, l->word), memsz = rd(ph + l->p_memsz, l->word);
	struct guest_segment *s;

	if (filesz > memsz)
		return fail(p, "program header %u: file size 0x%llx larger than memory size 0x%llx",
			    i, filesz, memsz);
	if (offset > p->file_size || filesz > p->file_size - offset)
		return fail(p, "program header %u: 0x%llx bytes at file offset 0x%llx, past the "
			    "end of the file (0x%llx bytes)", i, filesz, offset, p->file_size);
	if (!memsz)
		return 0;
	if (paddr < GUEST_IMAGE_MIN_GPA || memsz > p->guest_ram || paddr > p->guest_ram - memsz)
		return fail(p, "program header %u: 0x%llx bytes at 0x%llx, outside guest RAM "
			    "[0x%llx, 0x%llx)", i, memsz, paddr, GUEST_IMAGE_MIN_GPA, p->guest_ram);
	for (u32 j = 0; j < img->n_segments; j++) {
		const struct guest_segment *o = &img->seg[j];

		/* Both lie within guest RAM, so neither end overflows. */
		if (paddr < o->gpa + o->mem_size && o->gpa < paddr + memsz)
			return fail(p, "program header %u: [0x%llx, 0x%llx) overlaps another "
				    "loadable segment [0x%llx, 0x%llx)", i, paddr, paddr + memsz,
				    o->gpa, o->gpa + o->mem_size);
	}
	if (img->n_segments == GUEST_IMAGE_MAX_SEGMENTS)
		return fail(p, "more than %u loadable segments", GUEST_IMAGE_MAX_SEGMENTS);

	p->vaddr[img->n_segments] = rd(ph + l->p_vaddr, l->word);
	s = &img->seg[img->n_segments++];
	s->gpa = paddr;
	s->file_offset = offset;
	s->file_size = filesz;
	s->mem_size = memsz;
	s->exec = rd(ph + l->p_flags, 4) & PF_X;
	return 0;
}

/*
 * e_entry is a virtual address; the guest starts with paging off, so it enters at the physical
 * address the segment holding e_entry puts it (GRUB does the same).
 */
static bool place_entry(struct parse *p, u64 entry)
{
	for (u32 j = 0; j < p->img->n_segments; j++) {
		const struct guest_segment *s = &p->img->seg[j];

		if (s->exec && entry >= p->vaddr[j] && entry - p->vaddr[j] < s->mem_size) {
			p->img->entry = s->gpa + (entry - p->vaddr[j]);
			return true;
		}
	}
	return false;
}

/* The ELF header (gABI): identification, then the class-independent checks. */
static int check_header(struct parse *p)
{
	static const u8 magic[4] = { 0x7f, 'E', 'L', 'F' };
	const u8 *f = p->f;
	u32 version, type, machine;

	if (p->file_size < elf32.ehdr_size)
		return fail(p, "file too small for an ELF header (%llu bytes)", p->file_size);
	if (memcmp(f, magic, sizeof(magic)))
		return fail(p, "not an ELF file (bad magic)");
	if (f[EI_CLASS] != ELFCLASS32 && f[EI_CLASS] != ELFCLASS64)
		return fail(p, "unsupported ELF class %u (want 32- or 64-bit)", f[EI_CLASS]);
	p->l = f[EI_CLASS] == ELFCLASS32 ? &elf32 : &elf64;
	if (p->file_size < p->l->ehdr_size)
		return fail(p, "file too small for an %s header (%llu bytes)", p->l->name,
			    p->file_size);
	if (f[EI_DATA] != ELFDATA2LSB)
		return fail(p, "not a little-endian ELF file (data encoding %u)", f[EI_DATA]);
	version = (u32)rd(f + E_VERSION, 4);
	if (f[EI_VERSION] != EV_CURRENT || version != EV_CURRENT)
		return fail(p, "unsupported ELF version %u/%u (want 1)", f[EI_VERSION], version);
	type = (u32)rd(f + E_TYPE, 2);
	if (type != ET_EXEC)
		return fail(p, "not an executable ELF file (type %u, want ET_EXEC)", type);
	machine = (u32)rd(f + E_MACHINE, 2);
	if (machine != p->l->machine)
		return fail(p, "wrong machine %u for %s (want %s)", machine, p->l->name,
			    p->l->machine_name);
	return 0;
}

int elf_parse(const void *file, u64 file_size, u64 guest_ram, struct guest_image *img, char *err,
	      size_t errlen)
{
	struct parse p = { .f = file, .file_size = file_size, .guest_ram = guest_ram,
			   .img = img, .err = err, .errlen = errlen };
	u64 phoff, entry;
	u32 phnum, phentsize;

	memset(img, 0, sizeof(*img));
	if (check_header(&p))
		return -1;

	phoff = rd(p.f + p.l->e_phoff, p.l->word);
	phentsize = (u32)rd(p.f + p.l->e_phentsize, 2);
	phnum = (u32)rd(p.f + p.l->e_phnum, 2);
	if (phentsize != p.l->phdr_size)
		return fail(&p, "program header entry size %u (want %u for %s)", phentsize,
			    p.l->phdr_size, p.l->name);
	if (phnum > ELF_MAX_PHDRS)
		return fail(&p, "too many program headers (%u, at most %u)", phnum, ELF_MAX_PHDRS);
	if (phoff > file_size || (u64)phnum * phentsize > file_size - phoff)
		return fail(&p, "program header table (%u entries at offset 0x%llx) outside the "
			    "file (0x%llx bytes)", phnum, phoff, file_size);

	for (u32 i = 0; i < phnum; i++) {
		const u8 *ph = p.f + phoff + (u64)i * phentsize;

		if (rd(ph, 4) == PT_LOAD && add_segment(&p, ph, i))
			return -1;
	}
	if (!img->n_segments)
		return fail(&p, "no loadable segment");
	entry = rd(p.f + p.l->e_entry, p.l->word);
	if (!place_entry(&p, entry))
		return fail(&p, "entry point 0x%llx is not inside an executable loaded segment",
			    entry);
	if (!find_multiboot(&p))
		return fail(&p, "not a multiboot image (no header in the first 8 KiB)");
	return 0;
}

void elf_load(const void *file, const struct guest_image *img, void *guest_ram)
{
	const u8 *f = file;
	u8 *ram = guest_ram;

	for (u32 i = 0; i < img->n_segments; i++) {
		const struct guest_segment *s = &img->seg[i];

		memcpy(ram + s->gpa, f + s->file_offset, s->file_size);
		memset(ram + s->gpa + s->file_size, 0, s->mem_size - s->file_size);
	}
}
