/*
 * Translating a guest linear address the way the guest's own page tables do (SDM Vol. 3A
 * chapter 4: no paging, 32-bit, PAE and 4-level paging), for exits that name a linear address
 * (string I/O, MMIO instruction fetch). Pure: guest memory is read through a callback.
 */
#ifndef KESTREL_GUEST_WALK_H
#define KESTREL_GUEST_WALK_H

#include <kestrel/types.h>

/* Read the 8 bytes (4 when `size` is 4) at guest-physical `gpa`; false when not RAM. */
typedef bool (*gpa_read_fn)(void *ctx, u64 gpa, u32 size, u64 *value);

struct guest_paging {
	u64 cr0, cr3, cr4, efer;
};

enum walk_result {
	WALK_OK,
	WALK_PAGE_FAULT, /* the guest gets #PF with *pf_error */
	WALK_BAD_TABLE,  /* a paging structure lies outside guest RAM */
};

#define PF_ERR_PRESENT (1u << 0)
#define PF_ERR_WRITE (1u << 1)
#define PF_ERR_USER (1u << 2)
#define PF_ERR_RESERVED (1u << 3)
#define PF_ERR_FETCH (1u << 4)

enum walk_access { WALK_READ = 0, WALK_WRITE = 1, WALK_FETCH = 2 };

enum walk_result guest_walk(const struct guest_paging *p, gpa_read_fn read, void *ctx, u64 la,
			    enum walk_access access, bool user, u64 *gpa, u32 *pf_error);

#endif
