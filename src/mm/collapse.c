// SPDX-License-Identifier: MIT
/*
 * collapse.c - pw_madvise_collapse() (pagewalk/file.h): file THP by an
 * explicit collapse, after the kernel's MADV_COLLAPSE for file pages
 * (mm/khugepaged.c: collapse_file() builds a 2 MiB folio in the page cache
 * from the small pages, collapse_pte_mapped_thp() replaces the PTE table
 * that mapped them by one PMD leaf).
 *
 * Per aligned 2 MiB block, with the mmap write lock and the file's i_mmap
 * write lock held: check (only this VMA maps the block's offsets; each PTE
 * is none or maps the page-cache page of its offset, held by the cache and
 * this mapping only), allocate the folio and the tables above the PMD,
 * then, past the point of no return: clear the PTEs and flush (so that no
 * write can reach an old page after it is copied), copy the old pages into
 * the folio, make it the page cache, publish the PMD leaf under
 * page_table_lock, flush, free the PTE table and release the old pages.
 */
#include <string.h>

#include "mm/mm.h"

#define NR PW_PTRS_PER_TABLE /* 4 KiB pages in a 2 MiB folio */

static int count_vma(struct pw_vma *vma, void *arg)
{
	(*(unsigned *)arg)++;
	return 0;
}

/* The PMD entry of @b, with the tables above it allocated. Return 0, -ENOMEM, -EINVAL (a 1 GiB leaf). */
static int pmd_entry_of(struct pw_pt *pt, uint64_t b, struct pw_pt_entry *e)
{
	uint64_t table = pt->root_pfn;

	for (enum pw_level l = (enum pw_level)pw_root_level(pt->cfg.levels);; l--) {
		int ret;

		*e = pw_pt_entry_at(pw_pt_table(pt, table), table, l, b);
		if (l == PW_LEVEL_PMD)
			return 0;
		if (pw_entry_none(e->val)) {
			ret = pw_pt_ensure_table(pt, e);
			if (ret)
				return ret;
		}
		if (pw_pt_entry_kind(pt, e) != PW_PT_TABLE)
			return -EINVAL;
		table = pw_pt_next_pfn(pt, e->val);
	}
}

/*
 * May the block's PTE table be collapsed? Every PTE none or a present leaf
 * of the cached page of its offset; every cached page referenced by the
 * cache and at most this mapping (the kernel's SCAN_PAGE_COUNT: -EAGAIN).
 */
static int check_ptes(struct pw_mm *mm, struct pw_file *f, uint64_t index, const uint64_t *t)
{
	for (unsigned i = 0; i < NR; i++) {
		uint64_t v = t ? pw_entry_read(&t[i]) : 0, cached = pw_file_page(f, index + i);
		const struct pw_frame *fr = cached ? pw_frame_meta(mm->pt.arena, cached) : NULL;
		int32_t maps = v ? 1 : 0;

		if (v && (pw_pt_kind(&mm->pt.cfg, PW_LEVEL_PTE, v) != PW_PT_LEAF ||
			  pw_pt_leaf_pfn(&mm->pt, PW_LEVEL_PTE, v) != cached))
			return -EINVAL; /* PROT_NONE, a marker, or not the cached page */
		if (fr && (fr->flags & (PW_FRAME_HEAD | PW_FRAME_TAIL)))
			return -EINVAL; /* part of a folio already (not PMD-mapped here) */
		if (fr && (__atomic_load_n(&fr->mapcount, __ATOMIC_ACQUIRE) != maps ||
			   __atomic_load_n(&fr->refcount, __ATOMIC_ACQUIRE) != 1 + maps))
			return -EAGAIN;
	}
	return 0;
}

static int collapse_block(struct pw_mm *mm, struct pw_vma *vma, uint64_t b)
{
	struct pw_pt *pt = &mm->pt;
	struct pw_file *f = vma->vm_file;
	uint64_t index = vma->vm_pgoff + ((b - vma->vm_start) >> PW_PAGE_SHIFT);
	uint64_t old_table = 0, *t = NULL, old[NR], head, leaf;
	struct pw_mmu_notifier_range range;
	struct pw_pt_entry pmd;
	bool dirty = false, softdirty = false;
	unsigned nr_vmas = 0, mapped = 0;
	int ret;

	if ((index & (NR - 1)) || index + NR > pw_file_nr_pages(f))
		return -EINVAL; /* not a 2 MiB-aligned part of the file, or past its end */
	ret = pmd_entry_of(pt, b, &pmd);
	if (ret)
		return ret;
	switch (pw_pt_entry_kind(pt, &pmd)) {
	case PW_PT_NONE:
		break;
	case PW_PT_TABLE:
		old_table = pw_pt_next_pfn(pt, pmd.val);
		t = pw_pt_table(pt, old_table);
		break;
	case PW_PT_LEAF:
		return 0; /* PMD-mapped already (the kernel's SCAN_PMD_MAPPED) */
	default:
		return -EINVAL;
	}
	pw_i_mmap_lock_write(f);
	pw_file_for_each_vma(f, index, index + NR - 1, count_vma, &nr_vmas);
	ret = nr_vmas != 1 ? -EBUSY : check_ptes(mm, f, index, t);
	if (!ret)
		ret = pw_frame_alloc(pt->arena, 9, &head);
	if (ret) {
		pw_i_mmap_unlock_write(f);
		return ret;
	}

	/* No way back from here. Unmap the small pages first. */
	pw_mmu_notifier_range_init(&range, PW_MMU_NOTIFY_CLEAR, mm, b, b + PW_PMD_SIZE);
	pw_mmu_notifier_invalidate_range_start(&range);
	if (t) {
		pw_pt_pte_lock(pt, old_table);
		for (unsigned i = 0; i < NR; i++) {
			uint64_t v = __atomic_exchange_n(&t[i], 0, __ATOMIC_ACQ_REL);

			old[i] = v ? pw_pt_leaf_pfn(pt, PW_LEVEL_PTE, v) : 0;
			dirty |= v & PW_D;
			softdirty |= v & PW_SW_SOFTDIRTY;
			mapped += v != 0;
		}
		pw_pt_pte_unlock(pt, old_table);
		pw_flush_tlb_range(mm, b, b + PW_PMD_SIZE);
	}
	/* The folio: the small pages' contents (zeroes where none was cached). */
	for (unsigned i = 0; i < NR; i++) {
		uint64_t cached = pw_file_page(f, index + i);

		if (!cached)
			continue;
		memcpy(pw_frame_ptr(pt->arena, head + i), pw_frame_ptr(pt->arena, cached), PW_PAGE_SIZE);
		dirty |= __atomic_load_n(&pw_frame_meta(pt->arena, cached)->flags, __ATOMIC_RELAXED) &
			 PW_FRAME_DIRTY;
	}
	/* Our references to the old pages: the mapping's now, the cache's in replace_folio(). */
	for (unsigned i = 0; t && i < NR; i++) {
		if (!old[i])
			continue;
		__atomic_fetch_sub(&pw_frame_meta(pt->arena, old[i])->mapcount, 1, __ATOMIC_RELAXED);
		pw_frame_put(pt->arena, old[i]);
	}
	pw_file_replace_folio(f, index, head, dirty);

	/* The PMD leaf: read-only (write-notify, as a read fault maps it), the folio mapped once. */
	pw_frame_get(pt->arena, head);
	__atomic_store_n(&pw_frame_meta(pt->arena, head)->mapcount, 1, __ATOMIC_RELEASE);
	leaf = pw_mk_leaf(PW_LEVEL_PMD, head, pw_vma_leaf_flags(mm, vma, false));
	if (softdirty)
		leaf |= PW_SW_SOFTDIRTY;
	pw_pt_entry_lock(pt, &pmd);
	pw_pt_set_locked(pt, &pmd, leaf, 0);
	pw_pt_entry_unlock(pt, &pmd);
	if (t) {
		pw_flush_tlb_range(mm, b, b + PW_PMD_SIZE); /* paging-structure caches held the table */
		pw_pt_table_free(pt, old_table);
		__atomic_fetch_sub(&pt->nr_tables, 1, __ATOMIC_RELAXED);
	}
	__atomic_fetch_add(&mm->rss, NR - mapped, __ATOMIC_RELAXED);
	pw_mmu_notifier_invalidate_range_end(&range);
	pw_i_mmap_unlock_write(f);
	return 0;
}

PW_API int pw_madvise_collapse(struct pw_mm *mm, uint64_t addr, uint64_t len)
{
	uint64_t end, b, e;
	int ret = 0, last = 0;

	if (!mm || !mm->pt.arena || (addr & ~PW_PAGE_MASK))
		return -EINVAL;
	len = (len + PW_PAGE_SIZE - 1) & PW_PAGE_MASK;
	end = addr + len;
	if (!len)
		return 0;
	if (end < addr || pw_check_range(mm, addr, end))
		return -EINVAL;
	b = (addr + PW_PMD_SIZE - 1) & ~(PW_PMD_SIZE - 1);
	e = end & ~(PW_PMD_SIZE - 1);
	pw_mmap_write_lock(mm);
	/* every page of the range must be mapped (madvise's -ENOMEM) */
	for (uint64_t a = addr; a < end;) {
		struct pw_vma *vma = pw_vma_lookup(mm, a);

		if (!vma) {
			ret = -ENOMEM;
			break;
		}
		a = vma->vm_end;
	}
	for (; !ret && b < e; b += PW_PMD_SIZE) {
		struct pw_vma *vma = pw_vma_lookup(mm, b);
		int r;

		if (!vma->vm_file || !(vma->vm_flags & PW_VM_SHARED) || (vma->vm_flags & PW_VM_PFNMAP) ||
		    b + PW_PMD_SIZE > vma->vm_end)
			r = -EINVAL; /* only whole blocks of shared file mappings here */
		else
			r = collapse_block(mm, vma, b);
		if (r)
			last = r; /* as the kernel: go on, report the last failure */
	}
	pw_mmap_write_unlock(mm);
	return ret ? ret : last;
}
