/*
 * Extended page tables (SDM Vol. 3C 29.3): guest-physical to host-physical mappings, built by
 * the common page-table builder (kestrel/paging.h) with the EPT entry format.
 */
#ifndef KESTREL_EPT_H
#define KESTREL_EPT_H

#include <kestrel/paging.h>

/* Leaf attributes (SDM Vol. 3C 29.3.2): an entry is present if any of R/W/X is set. */
#define EPT_READ (1ull << 0)
#define EPT_WRITE (1ull << 1)
#define EPT_EXEC (1ull << 2)
#define EPT_RWX (EPT_READ | EPT_WRITE | EPT_EXEC)
#define EPT_MT_SHIFT 3
#define EPT_MT_MASK (7ull << EPT_MT_SHIFT) /* memory type, bits 5:3 (SDM 29.3.7) */
#define EPT_MT(type) ((u64)(type) << EPT_MT_SHIFT)
#define EPT_MT_UC EPT_MT(0)
#define EPT_MT_WB EPT_MT(6)
#define EPT_IGNORE_PAT (1ull << 6) /* the EPT memory type alone decides (SDM 29.3.7.2) */
#define EPT_LARGE (1ull << 7)      /* in a PDPTE or PDE: a 1 GiB or 2 MiB page */
#define EPT_ATTR_MASK (EPT_RWX | EPT_MT_MASK | EPT_IGNORE_PAT)

extern const struct pt_format pt_format_ept; /* attributes: EPT_ATTR_MASK bits */

struct ept {
	struct page_table pt;
};

/*
 * allow_2m, allow_1g: IA32_VMX_EPT_VPID_CAP bits 16 and 17 (SDM Vol. 3D A.10).
 * Returns 0, or -1 when no table page could be had.
 */
int ept_init(struct ept *e, const struct pt_ops *ops, bool allow_2m, bool allow_1g);

/*
 * Map guest-physical [gpa, gpa+size) to host-physical [hpa, hpa+size) with `attrs`
 * (EPT_ATTR_MASK bits). Rejects what SDM 29.3.3.1 calls a misconfiguration: no right at all is
 * no mapping, write without read, and memory types 2, 3 and 7. Execute-only (EPT_EXEC alone)
 * needs IA32_VMX_EPT_VPID_CAP bit 0, which the caller checks. gpa + size must not pass 2^48.
 * Returns 0 or -1, as pt_map_range.
 */
int ept_map_range(struct ept *e, u64 gpa, u64 hpa, u64 size, u64 attrs);

/* Make [gpa, gpa+size) not present. Returns 0 or -1, as pt_unmap_range. */
int ept_unmap_range(struct ept *e, u64 gpa, u64 size);

/* As pt_translate: host-physical address, EPT_ATTR_MASK attributes, page size. */
bool ept_translate(const struct ept *e, u64 gpa, u64 *hpa, u64 *attrs, u64 *page_size);

/*
 * The VMCS EPT pointer (SDM Vol. 3C 25.6.11): write-back paging-structure accesses (needs
 * IA32_VMX_EPT_VPID_CAP bit 14), a 4-level walk, and accessed/dirty flags if asked (bit 21).
 */
u64 ept_pointer(const struct ept *e, bool accessed_dirty);

/* Free every table page through ops.free_table; the caller has done INVEPT (SDM 29.4.3.1). */
void ept_destroy(struct ept *e);

#endif
