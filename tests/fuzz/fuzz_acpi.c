/*
 * Host ACPI tables (drivers/acpi.c): the input is physical memory from BASE up, with the RSDP at
 * BASE (as the guest tables acpi_build makes). The map callback hands out a fresh heap copy of
 * exactly the bytes asked for, so ASan sees any read past what acpi_find_s5 mapped, and refuses
 * ranges outside the input as a real map would refuse non-memory.
 *
 * Every table is checksummed, so almost any mutation would stop at the first checksum; under
 * libFuzzer a custom mutator therefore usually (not always) recomputes the checksums of the
 * tables the mutated input points to, so that the fuzzer also reaches the FADT and AML parsing.
 * The target itself sees the bytes as they are, checksums included.
 */
#include <string.h>

#include <kestrel/acpi.h>

#include "fuzz.h"

#define BASE	 0xe0000ull
#define MAX_MAPS 100000 /* far more than any input of -max_len bytes needs */

struct memory {
	const uint8_t *data;
	size_t size;
	void *maps[MAX_MAPS];
	unsigned n_maps;
};

static const void *map(void *ctx, u64 phys, u64 len)
{
	struct memory *m = ctx;
	u64 off = phys - BASE;

	FUZZ_CHECK(len > 0);
	if (phys < BASE || off > m->size || len > m->size - off)
		return NULL;
	FUZZ_CHECK(m->n_maps < MAX_MAPS);
	return m->maps[m->n_maps++] = fuzz_dup(m->data + off, len);
}

#ifdef KESTREL_LIBFUZZER
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/* Make the sum of the table at phys zero (its length from its header, if that fits). */
static void fix_table(uint8_t *data, size_t size, u64 phys, u32 *len_out)
{
	u64 off = phys - BASE, len;
	uint8_t sum = 0;

	*len_out = 0;
	if (phys < BASE || off > size || size - off < 36)
		return;
	len = fuzz_le(data, size, off + 4, 4);
	if (len < 36 || len > size - off)
		return;
	data[off + 9] = 0;
	for (u64 i = 0; i < len; i++)
		sum += data[off + i];
	data[off + 9] = (uint8_t)-sum;
	*len_out = (u32)len;
}

static void fix_checksums(uint8_t *data, size_t size)
{
	u64 sdt, entry_size, dsdt;
	u32 len, fadt_len, dsdt_len;
	uint8_t sum = 0;

	if (size < 36)
		return;
	data[8] = 0;
	for (int i = 0; i < 20; i++)
		sum += data[i];
	data[8] = (uint8_t)-sum;
	if (data[15] >= 2) {
		data[32] = 0;
		sum = 0;
		for (int i = 0; i < 36; i++)
			sum += data[i];
		data[32] = (uint8_t)-sum;
		sdt = fuzz_le(data, size, 24, 8);
		entry_size = 8;
	} else {
		sdt = fuzz_le(data, size, 16, 4);
		entry_size = 4;
	}
	fix_table(data, size, sdt, &len);
	for (u64 off = 36; len && off + entry_size <= len && off < 36 + 8 * entry_size;
	     off += entry_size) {
		u64 t = fuzz_le(data, size, sdt - BASE + off, (unsigned)entry_size),
		    t_off = t - BASE;

		if (t < BASE || t_off + 36 > size || memcmp(data + t_off, "FACP", 4))
			continue;
		fix_table(data, size, t, &fadt_len);
		if (fadt_len < 44)
			continue;
		dsdt = fadt_len >= 148 && fuzz_le(data, size, t_off + 140, 8)
			       ? fuzz_le(data, size, t_off + 140, 8)
			       : fuzz_le(data, size, t_off + 40, 4);
		fix_table(data, size, dsdt, &dsdt_len);
		fix_table(data, size, t, &fadt_len); /* in case the DSDT overlaps it */
		break;
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 8)
		fix_checksums(data, size);
	return size;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct memory m;
	struct acpi_s5 s5;
	char err[64];
	int r;

	m.data = data;
	m.size = size;
	m.n_maps = 0;
	memset(err, 'x', sizeof(err));
	r = acpi_find_s5(BASE, map, &m, &s5, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -1);
	if (r == 0)
		FUZZ_CHECK(s5.pm1a_cnt != 0);
	else
		FUZZ_CHECK(err[0] && memchr(err, '\0', sizeof(err)) &&
			   fuzz_printable(err, sizeof(err)));
	for (unsigned i = 0; i < m.n_maps; i++)
		free(m.maps[i]);
	return 0;
}
