// SPDX-License-Identifier: MIT
/*
 * folio.c - the point lookup with its lock (pagewalk/folio.h), after the
 * kernel's folio_walk_start(): one lock-free descent with pw_pt_descend(),
 * then the lock guarding the leaf found, the entry read again under it,
 * and a new descent if it is no longer the same kind of leaf.
 */
#include "mm/mm.h"

#include <pagewalk/folio.h>

/* A present leaf, or a PROT_NONE one (not other non-present data). */
static bool maps_frame(int kind, uint64_t v)
{
	return kind == PW_PT_LEAF || (kind == PW_PT_NONPRESENT && (v & PW_SW_PROTNONE));
}

PW_API int pw_folio_walk_start(struct pw_folio_walk *fw, struct pw_vma *vma, uint64_t addr,
			       unsigned flags)
{
	struct pw_mm *mm;
	struct pw_pt *pt;

	if (!fw || !vma || !vma->vm_mm || flags || addr < vma->vm_start || addr >= vma->vm_end)
		return -EINVAL;
	mm = vma->vm_mm;
	pt = &mm->pt;
	if (!pt->arena)
		return -EINVAL;
	pw_assert_mmap_locked(mm);
	for (;;) {
		struct pw_pt_entry e;
		int kind = pw_pt_descend(pt, addr, PW_LEVEL_PTE, &e, NULL);
		uint64_t v, head;
		struct pw_frame *f;

		if (kind < 0 || !maps_frame(kind, e.val))
			return -ENOENT; /* none, a table we cannot read, malformed, software data */
		pw_pt_entry_lock(pt, &e);
		v = pw_entry_read(e.ptep);
		kind = pw_pt_kind(&pt->cfg, e.level, v);
		if (kind == PW_PT_TABLE) {
			/* a huge leaf was split meanwhile: descend again */
			pw_pt_entry_unlock(pt, &e);
			continue;
		}
		head = pw_pt_leaf_pfn(pt, e.level, v);
		f = pw_frame_meta(pt->arena, head);
		/* zapped meanwhile, or a frame outside the arena (a PFN mapping's) */
		if (!maps_frame(kind, v) || !f) {
			pw_pt_entry_unlock(pt, &e);
			return -ENOENT;
		}
		*fw = (struct pw_folio_walk){
			.level = e.level,
			.entryp = e.ptep,
			.entry = v,
			.head_pfn = head,
			.pfn = head + ((addr & ~pw_level_mask(e.level)) >> PW_PAGE_SHIFT),
			.frame = f,
			._mm = mm,
			._table = e.table,
		};
		return 0;
	}
}

PW_API void pw_folio_walk_end(struct pw_folio_walk *fw)
{
	struct pw_pt_entry e = { .ptep = fw->entryp, .table = fw->_table, .level = fw->level };

	pw_pt_entry_unlock(&fw->_mm->pt, &e);
}
