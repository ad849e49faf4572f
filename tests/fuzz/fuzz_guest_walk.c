/*
 * Guest page walker (mm/guest_walk.c). Input: CR0, CR3, CR4, EFER, the linear address (8 bytes
 * each), the access (byte % 3), user (a bit), the end of guest RAM (8 bytes); the rest is guest
 * memory, repeated over all of RAM so that small inputs reach every level. Checked: reads are
 * 4 or 8 bytes as the mode says, naturally aligned, at most five per walk; paging off gives the
 * address back; a fault's error code has only the architectural bits, P exactly when the
 * entries were present; a translation stays within the physical address width.
 */
#include <string.h>

#include <kestrel/guest_walk.h>

#include "fuzz.h"

#define HDR 50

struct memory {
	const uint8_t *data;
	size_t size;
	u64 ram_end;
	u32 want_size;
	unsigned reads;
};

static bool read_gpa(void *ctx, u64 gpa, u32 size, u64 *value)
{
	struct memory *m = ctx;

	m->reads++;
	FUZZ_CHECK(m->reads <= 5);
	FUZZ_CHECK(size == m->want_size);
	FUZZ_CHECK(gpa % size == 0);
	if (gpa >= m->ram_end || size > m->ram_end - gpa)
		return false;
	*value = 0;
	for (u32 i = 0; i < size; i++)
		*value |= (u64)(m->size ? m->data[(gpa + i) % m->size] : 0) << (8 * i);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct guest_paging p = {
		.cr0 = fuzz_le(data, size, 0, 8),
		.cr3 = fuzz_le(data, size, 8, 8),
		.cr4 = fuzz_le(data, size, 16, 8),
		.efer = fuzz_le(data, size, 24, 8),
	};
	u64 la = fuzz_le(data, size, 32, 8);
	enum walk_access access = (enum walk_access)(fuzz_le(data, size, 40, 1) % 3);
	bool user = fuzz_le(data, size, 41, 1) & 1;
	struct memory m = {
		.data = size > HDR ? data + HDR : NULL,
		.size = size > HDR ? size - HDR : 0,
		.ram_end = fuzz_le(data, size, 42, 8),
		.want_size = p.cr4 & (1u << 5) ? 8 : 4,
	};
	bool paging = p.cr0 & (1ull << 31), long_mode = p.efer & (1ull << 10);
	u64 gpa = 0xdeadull;
	u32 pf = 0xdead;
	enum walk_result r;

	r = guest_walk(&p, read_gpa, &m, la, access, user, &gpa, &pf);
	switch (r) {
	case WALK_OK:
		if (!paging)
			FUZZ_CHECK(gpa == (long_mode ? la : (u32)la) && m.reads == 0);
		else
			FUZZ_CHECK(gpa < (1ull << 52) && (gpa & 0xfff) == (la & 0xfff));
		break;
	case WALK_PAGE_FAULT:
		FUZZ_CHECK(paging && (pf & ~0x1fu) == 0 && !(pf & (1u << 3)));
		FUZZ_CHECK(!!(pf & 2) == (access == WALK_WRITE) && !!(pf & 4) == user);
		FUZZ_CHECK(!(pf & 0x10) || access == WALK_FETCH);
		break;
	case WALK_BAD_TABLE:
		FUZZ_CHECK(paging && m.reads >= 1);
		break;
	default:
		FUZZ_CHECK(!"bad walk_result");
	}
	return 0;
}
