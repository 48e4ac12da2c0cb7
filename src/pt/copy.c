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
#include <string.h>

#include "mm/mm.h"
#include "mm/rmap.h"

struct copy {
	struct pw_mm *parent, *child;
	bool cow;		   /* private: write-protect both sides */
	struct pw_vma *cvma;	   /* the child's VMA */
	struct pw_mmu_gather *tlb; /* parent entries made read-only */
};

/*
 * Give the child its own copy of frame @pfn at @addr, mapped as @v maps it
 * in the parent (the kernel's copy_present_page()): for a pinned anonymous
 * page (page_maybe_dma_pinned(): a DMA into it must stay visible to the
 * parent) and for a page the device holds exclusively in the parent.
 */
static int copy_page_for_child(struct copy *c, uint64_t pfn, uint64_t v, uint64_t *ce, uint64_t addr)
{
	struct pw_arena *a = c->parent->pt.arena;
	struct pw_frame *nf;
	uint64_t npfn;
	int ret = pw_anon_vma_prepare(c->cvma);

	if (!ret)
		ret = pw_frame_alloc(a, 0, &npfn);
	if (ret)
		return ret;
	memcpy(pw_frame_ptr(a, npfn), pw_frame_ptr(a, pfn), PW_PAGE_SIZE);
	nf = pw_frame_meta(a, npfn);
	nf->flags |= PW_FRAME_ANON;
	nf->mapcount = 1;
	pw_anon_frame_init(a, npfn, c->cvma, addr);
	pw_entry_write(ce, pw_mk_leaf(PW_LEVEL_PTE, npfn, v & ~pw_frame_field_mask(c->parent->pt.cfg.maxphyaddr)));
	__atomic_fetch_add(&c->child->rss, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Copy PTE @pe of the parent (at @addr) into @ce of the child. Return 0, -ENOMEM. */
static int copy_pte(struct copy *c, struct pw_pt_entry *pe, uint64_t *ce, uint64_t addr)
{
	struct pw_mm *p = c->parent;
	uint64_t v = pe->val, pfn;
	struct pw_frame *f;

	if (pw_is_device_exclusive(v)) {
		/* Never share an exclusive entry: a private page is copied for the
		 * child (the device keeps the parent's); a shared one is given back
		 * to the parent's CPU mapping (the caller's notifier range told the
		 * device) and shared as it is. */
		if (c->cow) {
			uint64_t pv = pw_devx_restore_value(p, c->cvma, v);

			return copy_page_for_child(c, pw_swp_offset(v), pv, ce, addr);
		}
		v = pw_devx_restore_value(p, c->cvma, v);
		pw_entry_write(pe->ptep, v);
		pe->val = v;
	}
	pfn = pw_pt_leaf_pfn(&p->pt, PW_LEVEL_PTE, v);
	f = pw_frame_meta(p->pt.arena, pfn);
	if (c->cow && (v & PW_P) && f && (__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & PW_FRAME_ANON) &&
	    __atomic_load_n(&f->pincount, __ATOMIC_ACQUIRE) > 0)
		return copy_page_for_child(c, pfn, v, ce, addr); /* the parent keeps its entry */

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
	return 0;
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
			ret = copy_pte(c, &pe, ct + pw_index(level, addr), addr);
			if (ret)
				return ret;
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
		  struct pw_vma *cvma, struct pw_mmu_gather *tlb)
{
	struct copy c = { .parent = parent, .child = child, .cow = cow, .cvma = cvma, .tlb = tlb };

	pw_assert_mmap_write_locked(parent);
	pw_assert_mmap_write_locked(child);
	return copy_level(&c, (enum pw_level)pw_root_level(parent->pt.cfg.levels),
			  parent->pt.root_pfn, child->pt.root_pfn, start, end);
}
