/* Extended page tables (include/kestrel/ept.h, SDM Vol. 3C 29.3) on the common builder. */
#include <kestrel/ept.h>

#define EPTP_MT_WB 6ull                 /* bits 2:0: paging-structure memory type */
#define EPTP_WALK_LENGTH (3ull << 3)    /* bits 5:3: levels - 1 */
#define EPTP_ACCESSED_DIRTY (1ull << 6) /* bit 6: A/D flags in the entries (SDM 29.3.5) */

const struct pt_format pt_format_ept = {
	/* Non-leaf entries: bits 7:3 are reserved (SDM 29.3.2), so rights only. */
	.table_entry = EPT_RWX,
	.present = EPT_RWX,
	.large = EPT_LARGE,
	.leaf_attrs = EPT_ATTR_MASK,
	.leaf_always = 0,
	.all_levels = EPT_RWX, /* SDM 29.3.3.2: an access needs its right at every level */
	.any_level = 0,
	.canonical = false, /* guest-physical addresses, bits 47:0 */
};

int ept_init(struct ept *e, const struct pt_ops *ops, bool allow_2m, bool allow_1g)
{
	return pt_init(&e->pt, &pt_format_ept, ops, allow_2m, allow_1g);
}

/* SDM 29.3.3.1: write-only, write+execute without read, and types 2, 3, 7 misconfigure. */
static bool valid_leaf_attrs(u64 attrs)
{
	u64 type = (attrs & EPT_MT_MASK) >> EPT_MT_SHIFT;

	return (attrs & EPT_RWX) && !((attrs & EPT_WRITE) && !(attrs & EPT_READ)) && type != 2 &&
	       type != 3 && type != 7;
}

int ept_map_range(struct ept *e, u64 gpa, u64 hpa, u64 size, u64 attrs)
{
	if ((attrs & ~EPT_ATTR_MASK) || !valid_leaf_attrs(attrs))
		return -1;
	return pt_map_range(&e->pt, gpa, hpa, size, attrs);
}

int ept_unmap_range(struct ept *e, u64 gpa, u64 size)
{
	return pt_unmap_range(&e->pt, gpa, size);
}

bool ept_translate(const struct ept *e, u64 gpa, u64 *hpa, u64 *attrs, u64 *page_size)
{
	return pt_translate(&e->pt, gpa, hpa, attrs, page_size);
}

u64 ept_pointer(const struct ept *e, bool accessed_dirty)
{
	return e->pt.root | EPTP_MT_WB | EPTP_WALK_LENGTH |
	       (accessed_dirty ? EPTP_ACCESSED_DIRTY : 0);
}

void ept_destroy(struct ept *e)
{
	pt_destroy(&e->pt);
}
