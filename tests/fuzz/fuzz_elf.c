/*
 * Multiboot ELF guest images (guest/elf.c): the input is the kernel file. elf_parse runs against
 * a 4 MiB guest (then elf_load into an exact-size 4 MiB buffer, checked byte for byte), and
 * against a one-page and a 2^64-1-byte guest for the range checks. Every accepted image must keep
 * elf_parse's promises: segments inside the file and inside [GUEST_IMAGE_MIN_GPA, RAM), disjoint,
 * the entry inside an executable one, a multiboot header with a zero checksum in the first 8 KiB.
 */
#include <string.h>

#include <kestrel/elf_loader.h>

#include "fuzz.h"

#define RAM_SIZE	MiB(4)
#define MULTIBOOT_MAGIC 0x1badb002u

static void check_image(const uint8_t *f, size_t size, u64 ram, const struct guest_image *img)
{
	bool entry_ok = false;

	FUZZ_CHECK(img->n_segments >= 1 && img->n_segments <= GUEST_IMAGE_MAX_SEGMENTS);
	for (u32 i = 0; i < img->n_segments; i++) {
		const struct guest_segment *s = &img->seg[i];

		FUZZ_CHECK(s->file_size <= s->mem_size && s->mem_size > 0);
		FUZZ_CHECK(s->file_offset <= size && s->file_size <= size - s->file_offset);
		FUZZ_CHECK(s->gpa >= GUEST_IMAGE_MIN_GPA && s->mem_size <= ram &&
			   s->gpa <= ram - s->mem_size);
		for (u32 j = 0; j < i; j++) {
			const struct guest_segment *o = &img->seg[j];

			FUZZ_CHECK(s->gpa + s->mem_size <= o->gpa ||
				   o->gpa + o->mem_size <= s->gpa);
		}
		if (s->exec && img->entry >= s->gpa && img->entry - s->gpa < s->mem_size)
			entry_ok = true;
	}
	FUZZ_CHECK(entry_ok);
	FUZZ_CHECK(img->multiboot_offset % 4 == 0 && img->multiboot_offset + 12 <= size &&
		   img->multiboot_offset + 12 <= 8192);
	FUZZ_CHECK(fuzz_le(f, size, img->multiboot_offset, 4) == MULTIBOOT_MAGIC);
	FUZZ_CHECK(fuzz_le(f, size, img->multiboot_offset + 4, 4) == img->multiboot_flags);
	FUZZ_CHECK((u32)(MULTIBOOT_MAGIC + img->multiboot_flags +
			 (u32)fuzz_le(f, size, img->multiboot_offset + 8, 4)) == 0);
}

static int parse(const uint8_t *f, size_t size, u64 ram, struct guest_image *img)
{
	char err[GUEST_IMAGE_ERR_MAX];
	int r;

	memset(err, 'x', sizeof(err));
	r = elf_parse(f, size, ram, img, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -1);
	if (r == 0)
		check_image(f, size, ram, img);
	else
		FUZZ_CHECK(err[0] && memchr(err, '\0', sizeof(err)) &&
			   fuzz_printable(err, sizeof(err)));
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static u8 *ram; /* exactly RAM_SIZE bytes: ASan sees a write past guest RAM */
	uint8_t *f = fuzz_dup(data, size);
	struct guest_image img;

	if (!ram)
		ram = malloc(RAM_SIZE);
	FUZZ_CHECK(ram);

	parse(f, size, GUEST_IMAGE_MIN_GPA, &img);
	parse(f, size, ~0ull, &img);
	if (parse(f, size, RAM_SIZE, &img) == 0) {
		elf_load(f, &img, ram);
		for (u32 i = 0; i < img.n_segments; i++) {
			const struct guest_segment *s = &img.seg[i];
			const u8 *m = ram + s->gpa;

			FUZZ_CHECK(memcmp(m, f + s->file_offset, s->file_size) == 0);
			FUZZ_CHECK(fuzz_all(m + s->file_size, s->mem_size - s->file_size, 0));
		}
		/* Dirty the loaded bytes, so the next input's check sees only its own load. */
		for (u32 i = 0; i < img.n_segments; i++)
			memset(ram + img.seg[i].gpa, 0xa5, img.seg[i].mem_size);
	}
	free(f);
	return 0;
}
