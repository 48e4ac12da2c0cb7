// SPDX-License-Identifier: MIT
/*
 * copy.c - fork's copy of a range of page tables (pw_copy_range()).
 *
 * One recursion walks the parent's and the child's tables in lockstep. Its
 * policy: a huge leaf of the parent is split first (the child shares 4 KiB
 * pages only), a table missing in the child is made (a table serving two
 * VMAs is found again, not made twice), and each PTE is copied with a
 * reference on its frame, write-protected on both sides for a private
 * mapping (any non-none PTE is copied as it is). Malformed parent entries
 * above the PTE level are not followed.
 */
#include "mm/mm.h"

struct copy {
	struct pw_mm *parent, *child;
	bool cow;		   /* private: write-protect both sides */
	struct pw_mmu_gather *tlb; /* parent entries made read-only */
};

/* Copy PTE @pe of the parent (at @addr) into @ce of the child. */
static void copy_pte(struct copy *c, const struct pw_pt_entry *pe, uint64_t *ce, uint64_t addr)
{
	struct pw_mm *p = c->parent;
	uint64_t v = pe->val, pfn = pw_pt_leaf_pfn(&p->pt, PW_LEVEL_PTE, v);
	struct pw_frame *f = pw_frame_meta(p->pt.arena, pfn);

	/* present or PROT_NONE: the frame field is valid either way */
	if (f && !(__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & PW_FRAME_RESERVED)) {
		pw_frame_get(p->pt.arena, pfn);
		__atomic_fetch_add(&f->mapcount, 1, __ATOMIC_RELAXED);
	}
	if (c->cow && (v & PW_RW)) {
		v = __atomic_and_fetch(pe->ptep, ~(uint64_t)PW_RW, __ATOMIC_ACQ_REL);
		pw_tlb_gather_add(c->tlb, addr, PW_PAGE_SIZE);
	}
	pw_entry_write(ce, v);
	__atomic_fetch_add(&c->child->rss, 1, __ATOMIC_RELAXED);
}

static int copy_level(struct copy *c, enum pw_level level, uint64_t ptable, uint64_t ctable,
		      uint64_t addr, uint64_t end)
{
	struct pw_pt *pp = &c->parent->pt, *cp = &c->child->pt;
	uint64_t next, *pt = pw_pt_table(pp, ptable), *ct = pw_pt_table(cp, ctable);
	int ret = 0;

	pw_pt_for_each_span(level, addr, next, end) {
		struct pw_pt_entry pe = pw_pt_entry_at(pt, ptable, level, addr), ce;
		enum pw_pt_kind kind = pw_pt_entry_kind(pp, &pe);

		if (kind == PW_PT_NONE)
			continue;
		if (level == PW_LEVEL_PTE) {
			copy_pte(c, &pe, ct + pw_index(level, addr), addr);
			continue;
		}
		if (kind == PW_PT_MALFORMED)
			continue;
		if (pw_pt_maps(kind)) {
			/* A huge leaf: split it, then copy the table it became. */
			ret = pw_split_huge(c->parent, &pe);
			if (ret)
				return ret;
			pw_pt_reread(&pe);
		}
		ce = pw_pt_entry_at(ct, ctable, level, addr);
		ret = pw_pt_ensure_table(cp, &ce);
		if (ret)
			return ret;
		if (level - 1 == PW_LEVEL_PTE)
			pw_pt_pte_lock(pp, pw_pt_next_pfn(pp, pe.val));
		ret = copy_level(c, level - 1, pw_pt_next_pfn(pp, pe.val), pw_pt_next_pfn(cp, ce.val),
				 addr, next);
		if (level - 1 == PW_LEVEL_PTE)
			pw_pt_pte_unlock(pp, pw_pt_next_pfn(pp, pe.val));
		if (ret)
			return ret;
	}
	return 0;
}

int pw_copy_range(struct pw_mm *parent, struct pw_mm *child, uint64_t start, uint64_t end, bool cow,
		  struct pw_mmu_gather *tlb)
{
	struct copy c = { .parent = parent, .child = child, .cow = cow, .tlb = tlb };

	pw_assert_mmap_write_locked(parent);
	pw_assert_mmap_write_locked(child);
	return copy_level(&c, (enum pw_level)pw_root_level(parent->pt.cfg.levels),
			  parent->pt.root_pfn, child->pt.root_pfn, start, end);
}
