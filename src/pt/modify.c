// SPDX-License-Identifier: MIT
/*
 * modify.c - changing the leaves of a range of an arena mm: zap (munmap,
 * mm teardown) and protection change (mprotect).
 *
 * One recursion, modify_level(), serves every level for both; its policy:
 * leaves (present or PROT_NONE) are zapped or re-protected, tables are
 * entered, and a zap frees the tables it emptied, after their children.
 * Malformed entries above the PTE level are never followed: a zap clears
 * them (it cannot trust the frame they name), a protection change leaves
 * them. Callers split leaves that straddle the range's edges first
 * (pt/split.c).
 *
 * Locking: callers hold the mmap lock for write. Upper-level entries change
 * under page_table_lock, PTEs under their table's split lock (pt/pt.h).
 */
#include "mm/mm.h"

enum modify_op { ZAP, PROTECT };

struct modify {
	struct pw_mm *mm;
	const struct pw_vma *vma; /* PROTECT: the VMA whose flags apply */
	struct pw_mmu_gather tlb; /* entries changed, flushed once at the end */
	uint64_t start, end;	  /* the whole range being changed */
	enum modify_op op;
};

/* Drop the mapping's hold on the frame(s) of leaf @v at @level. */
static void release_leaf(struct pw_mm *mm, enum pw_level level, uint64_t v)
{
	uint64_t pfn = pw_pt_leaf_pfn(&mm->pt, level, v);
	struct pw_frame *f;

	if (pw_is_device_exclusive(v)) {
		/* Still a mapping of its frame: drop it, keeping the dirty state in the page. */
		pfn = pw_swp_offset(v);
		f = pw_frame_meta(mm->pt.arena, pfn);
		if (f && (v & PW_SWP_DIRTY))
			__atomic_fetch_or(&f->flags, PW_FRAME_DIRTY, __ATOMIC_RELAXED);
	} else if (!(v & (PW_P | PW_SW_PROTNONE))) {
		return;
	} else {
		f = pw_frame_meta(mm->pt.arena, pfn);
	}
	/* hugetlb page-cache folios are not counted in rss (mm/hugetlb.c) */
	if (!f || !f->mapping || !((const struct pw_file *)f->mapping)->hpage_order)
		__atomic_fetch_sub(&mm->rss, pw_level_size(level) >> PW_PAGE_SHIFT, __ATOMIC_RELAXED);
	/* atomic: a page-cache frame's flags change under other mms (PW_FRAME_DIRTY) */
	if (!f || (__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & PW_FRAME_RESERVED))
		return;
	__atomic_fetch_sub(&f->mapcount, 1, __ATOMIC_RELAXED);
	pw_frame_put(mm->pt.arena, pfn);
}

/* The new value of leaf @v under mprotect to @vma's flags. */
static uint64_t protect_leaf(const struct modify *m, enum pw_level level, uint64_t v)
{
	uint64_t keep = (pw_pt_leaf_pfn(&m->mm->pt, level, v) << PW_PAGE_SHIFT) |
			(v & (PW_A | PW_D | PW_PWT | PW_PCD | PW_G | PW_SW_SOFTDIRTY | PW_PKEY_MASK));
	uint64_t nv = pw_vma_leaf_flags(m->mm, m->vma, false) & ~(PW_A | PW_D);

	if (level > PW_LEVEL_PTE)
		keep |= v & (PW_PS | PW_PAT_LARGE);
	else
		keep |= v & PW_PAT;
	/* Write permission is never granted here; it comes back on a write fault. */
	if ((v & PW_RW) && (m->vma->vm_flags & PW_VM_WRITE) && (nv & PW_P))
		nv |= PW_RW;
	return keep | nv;
}

/* Zap or re-protect leaf @e, with the lock guarding it held. */
static void change_leaf(struct modify *m, struct pw_pt_entry *e)
{
	uint64_t v = pw_entry_read(e->ptep);

	if (m->op == ZAP) {
		pw_entry_write(e->ptep, 0);
		release_leaf(m->mm, e->level, v);
	} else if (pw_is_device_exclusive(v)) {
		/* stays exclusive; write permission comes back with a write fault after the restore */
		pw_entry_write(e->ptep, v & ~PW_SWP_WRITE);
	} else {
		pw_entry_write(e->ptep, protect_leaf(m, e->level, v));
	}
}

/*
 * Does a VMA on a reverse map (a file VMA, or one with an anon_vma) outside
 * the range being zapped share the span of the level-@level entry at @addr?
 * Its table must then stay even when empty: a mapping walk
 * (pw_walk_page_mapping(), under the i_mmap lock only, no mmap lock) or an
 * rmap walk (pw_rmap_walk(), under an anon_vma lock) may be reading it
 * (for anon_vmas only tables above the PTE level: see below). Zapped VMAs
 * were unlinked from both first.
 */
static bool file_vma_shares(const struct modify *m, enum pw_level level, uint64_t addr)
{
	uint64_t s = addr & pw_level_mask(level), e = s + pw_level_size(level);
	uint64_t part[2][2] = { { s, m->start }, { m->end, e } };

	for (int i = 0; i < 2; i++) {
		uint64_t ps = part[i][0], pe = part[i][1];

		/* skip a side of the span that the zapped range covers (e 0: the top) */
		if ((i == 0 && m->start <= s) || (i == 1 && (m->end == 0 || (e != 0 && m->end >= e))))
			continue;
		for (size_t j = pw_vma_index(m->mm, ps); j < m->mm->nr_vmas; j++) {
			const struct pw_vma *v = m->mm->vmas[j];

			if (pe != 0 && v->vm_start >= pe)
				break;
			/* an rmap walk enters a PTE table only through
			 * pw_pt_lock_ptes(), which notices a freed one */
			if (v->vm_file || (v->_anon_vma && level > PW_LEVEL_PMD))
				return true;
		}
	}
	return false;
}

/* Change each leaf of [addr, end) under the level-@level table @table. */
static void modify_level(struct modify *m, enum pw_level level, uint64_t table, uint64_t addr,
			 uint64_t end)
{
	struct pw_pt *pt = &m->mm->pt;
	uint64_t next, *t = pw_pt_table(pt, table);

	if (level == PW_LEVEL_PTE)
		pw_pt_pte_lock(pt, table);
	pw_pt_for_each_span(level, addr, next, end) {
		struct pw_pt_entry e = pw_pt_entry_at(t, table, level, addr);
		enum pw_pt_kind kind = pw_pt_entry_kind(pt, &e);

		if (kind == PW_PT_NONE)
			continue;
		if (kind == PW_PT_TABLE) {
			modify_level(m, level - 1, pw_pt_next_pfn(pt, e.val), addr, next);
			if (m->op == ZAP && !file_vma_shares(m, level, addr))
				pw_pt_free_if_empty(pt, &e);
			continue;
		}
		if (kind == PW_PT_MALFORMED && level > PW_LEVEL_PTE) {
			if (m->op == ZAP) {
				pw_pt_upper_lock(pt);
				pw_entry_write(e.ptep, 0);
				pw_pt_upper_unlock(pt);
			}
			continue;
		}
		/* A leaf, present or PROT_NONE (or a malformed PTE: its frame field holds). */
		PW_BUG_ON(level > PW_LEVEL_PTE &&
			  ((addr & ~pw_level_mask(level)) || next - addr != pw_level_size(level)));
		if (level > PW_LEVEL_PTE)
			pw_pt_upper_lock(pt);
		pw_tlb_gather_add(&m->tlb, addr, next - addr);
		change_leaf(m, &e);
		if (level > PW_LEVEL_PTE)
			pw_pt_upper_unlock(pt);
	}
	if (level == PW_LEVEL_PTE)
		pw_pt_pte_unlock(pt, table);
}

/* Run @m over [start, end) bracketed by notifiers, flushing what changed. */
static void modify_range(struct modify *m, uint64_t start, uint64_t end, enum pw_mmu_notify_event ev)
{
	struct pw_mmu_notifier_range r;

	if (start == end)
		return;
	m->start = start;
	m->end = end;
	pw_tlb_gather_init(&m->tlb, m->mm);
	pw_mmu_notifier_range_init(&r, ev, m->mm, start, end);
	pw_mmu_notifier_invalidate_range_start(&r);
	modify_level(m, (enum pw_level)pw_root_level(m->mm->pt.cfg.levels), m->mm->pt.root_pfn, start,
		     end);
	pw_tlb_gather_flush(&m->tlb); /* the mmap write lock is still held */
	pw_pt_free_deferred(&m->mm->pt); /* tables unhooked above, after a grace period */
	pw_mmu_notifier_invalidate_range_end(&r);
}

void pw_zap_range(struct pw_mm *mm, uint64_t start, uint64_t end)
{
	struct modify m = { .mm = mm, .op = ZAP };

	pw_assert_mmap_write_locked(mm);
	modify_range(&m, start, end, PW_MMU_NOTIFY_UNMAP);
}

void pw_change_prot_range(struct pw_mm *mm, uint64_t start, uint64_t end, const struct pw_vma *vma)
{
	struct modify m = { .mm = mm, .vma = vma, .op = PROTECT };

	pw_assert_mmap_write_locked(mm);
	modify_range(&m, start, end, PW_MMU_NOTIFY_PROTECTION_VMA);
}
