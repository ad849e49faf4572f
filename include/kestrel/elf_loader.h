/*
 * Guest images: multiboot (v1) ELF executables, ELF32 (EM_386, e.g. `objcopy -O elf32-i386` of
 * 64-bit code) or ELF64 (EM_X86_64). Pure code over a byte buffer, so the host unit tests and a
 * fuzzer link it directly; every field of the file is untrusted.
 */
#ifndef KESTREL_ELF_LOADER_H
#define KESTREL_ELF_LOADER_H

#include <kestrel/types.h>

#define GUEST_IMAGE_MAX_SEGMENTS 8
#define GUEST_IMAGE_MIN_GPA 0x1000ull /* page 0 (real-mode IVT, BDA) is not the image's */
#define GUEST_IMAGE_ERR_MAX 160       /* room for any elf_parse message */

/* One PT_LOAD segment: file bytes [file_offset, +file_size) at gpa, then zeroes to mem_size. */
struct guest_segment {
	u64 gpa, file_offset, file_size, mem_size;
	bool exec;
};

struct guest_image {
	u64 entry; /* guest-physical: e_entry moved by p_paddr - p_vaddr of its segment, as GRUB */
	u32 n_segments;
	struct guest_segment seg[GUEST_IMAGE_MAX_SEGMENTS]; /* disjoint, in program-header order */
	u32 multiboot_flags;
	u64 multiboot_offset; /* file offset of the multiboot header */
};

/*
 * Check `file` (file_size bytes) for a guest with guest_ram bytes of RAM at guest-physical 0:
 * every loadable segment (by p_paddr) inside [GUEST_IMAGE_MIN_GPA, guest_ram), none
 * overlapping, the entry point inside an executable one, and a multiboot header. Segments with
 * no memory size are skipped. Returns 0 with `img` filled in, or -1 with a one-line message
 * for the user in `err` (errlen bytes, always NUL-terminated if errlen > 0).
 */
int elf_parse(const void *file, u64 file_size, u64 guest_ram, struct guest_image *img, char *err,
	      size_t errlen);

/*
 * Copy each segment of a file elf_parse accepted into guest RAM (mapped at `guest_ram`, at
 * least as large as elf_parse was told) and zero the rest of its memory size (the bss).
 */
void elf_load(const void *file, const struct guest_image *img, void *guest_ram);

#endif
