/* The guest's page-table walk (SDM Vol. 3A 4.3 to 4.6), with the permission checks of 4.6. */
#include <kestrel/guest_walk.h>

#define CR0_PG (1ull << 31)
#define CR0_WP (1ull << 16)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_SMEP (1ull << 20)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)
#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
#define ADDR_MASK 0x000ffffffffff000ull

struct walk {
	const struct guest_paging *p;
	gpa_read_fn read;
	void *ctx;
	bool writable, user_ok, executable;
};

static enum walk_result read_entry(struct walk *w, u64 table, u64 index, u32 size, u64 *entry)
{
	return w->read(w->ctx, table + index * size, size, entry) ? WALK_OK : WALK_BAD_TABLE;
}

static void accumulate(struct walk *w, u64 entry)
{
	w->writable &= !!(entry & PTE_W);
	w->user_ok &= !!(entry & PTE_U);
	if (entry & PTE_NX)
		w->executable = false;
}

/* The #PF error code without P (SDM Vol. 3A 4.7): I/D is reported for instruction fetches only
 * when CR4.SMEP = 1 or both CR4.PAE = 1 and EFER.NXE = 1; otherwise it is 0. */
static u32 fault_error(const struct guest_paging *p, enum walk_access access, bool user)
{
	bool report_fetch = (p->cr4 & CR4_SMEP) || ((p->cr4 & CR4_PAE) && (p->efer & EFER_NXE));

	return (access == WALK_WRITE ? PF_ERR_WRITE : 0) | (user ? PF_ERR_USER : 0) |
	       (access == WALK_FETCH && report_fetch ? PF_ERR_FETCH : 0);
}

static enum walk_result check(const struct walk *w, enum walk_access access, bool user,
			      u32 *pf_error)
{
	u32 err = PF_ERR_PRESENT | fault_error(w->p, access, user);

	/* Supervisor writes to read-only pages fault only with CR0.WP (SDM Vol. 3A 4.6.1). */
	if ((user && !w->user_ok) ||
	    (access == WALK_WRITE && !w->writable && (user || (w->p->cr0 & CR0_WP))) ||
	    (access == WALK_FETCH && !w->executable && (w->p->efer & EFER_NXE))) {
		*pf_error = err;
		return WALK_PAGE_FAULT;
	}
	return WALK_OK;
}

static enum walk_result not_present(const struct guest_paging *p, enum walk_access access,
				    bool user, u32 *pf_error)
{
	*pf_error = fault_error(p, access, user);
	return WALK_PAGE_FAULT;
}

enum walk_result guest_walk(const struct guest_paging *p, gpa_read_fn read, void *ctx, u64 la,
			    enum walk_access access, bool user, u64 *gpa, u32 *pf_error)
{
	struct walk w = { p, read, ctx, true, true, true };
	bool long_mode = p->efer & EFER_LMA, pae = p->cr4 & CR4_PAE;
	u32 size = pae ? 8 : 4;
	u64 table, entry;
	int level;
	enum walk_result r;

	if (!(p->cr0 & CR0_PG)) {
		*gpa = long_mode ? la : (u32)la;
		return WALK_OK;
	}
	if (!long_mode)
		la = (u32)la;
	if (long_mode) {
		table = p->cr3 & ADDR_MASK;
		level = 4;
	} else if (pae) {
		/* PAE: the four PDPTEs sit at CR3[31:5] and carry no permission bits. */
		r = read_entry(&w, p->cr3 & 0xffffffe0ull, (la >> 30) & 3, 8, &entry);
		if (r != WALK_OK)
			return r;
		if (!(entry & PTE_P))
			return not_present(p, access, user, pf_error);
		table = entry & ADDR_MASK;
		level = 2;
	} else {
		table = p->cr3 & 0xfffff000ull;
		level = 2;
	}

	for (;; level--) {
		u32 shift = pae || long_mode ? 12 + 9 * (level - 1) : 12 + 10 * (level - 1);
		u64 index = (la >> shift) & (pae || long_mode ? 0x1ff : 0x3ff);

		r = read_entry(&w, table, index, size, &entry);
		if (r != WALK_OK)
			return r;
		if (!(entry & PTE_P))
			return not_present(p, access, user, pf_error);
		accumulate(&w, entry);
		if (level == 1) {
			*gpa = (entry & ADDR_MASK) | (la & 0xfff);
			break;
		}
		/* Large pages: 1 GiB and 2 MiB (PAE/4-level), 4 MiB (32-bit with CR4.PSE). */
		if ((entry & PTE_PS) && (level <= 3) && (pae || long_mode || (p->cr4 & CR4_PSE))) {
			u64 page_mask = (1ull << shift) - 1;

			if (pae || long_mode)
				*gpa = (entry & ADDR_MASK & ~page_mask) | (la & page_mask);
			else /* PSE-36: bits 20:13 of the PDE are physical address bits 39:32 */
				*gpa = (entry & 0xffc00000ull) | ((entry >> 13) & 0xffull) << 32 |
				       (la & page_mask);
			break;
		}
		table = entry & (size == 8 ? ADDR_MASK : 0xfffff000ull);
	}
	return check(&w, access, user, pf_error);
}
