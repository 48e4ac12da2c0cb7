// SPDX-License-Identifier: MIT
/*
 * hugetlb.c - hugetlb files and mappings (pagewalk/hugetlb.h): huge folios
 * in the page cache, faults that install one huge leaf, copy-on-write of a
 * whole huge page, PMD table sharing between shared mappings
 * (huge_pmd_share()) and its undoing (huge_pmd_unshare()), the hugetlb VMA
 * lock and the walk hook pw_vma_pgtable_walk_begin()/_end().
 *
 * A shared PMD table is a table frame that several PUD entries, in one or
 * more address spaces, point at. Its frame's mapcount (unused for table
 * frames otherwise) counts the sharers beyond the first (the kernel's
 * pt_share_count): 0 for a table of one mm alone. The entries inside
 * belong to the table: they hold one page reference each however many
 * sharers there are, and the last sharer's zap drops them and frees the
 * table (after a grace period, pt/pt.c). Sharing and unsharing a file's
 * tables is serialised by its i_mmap lock (read to share, write to
 * unshare); unsharing also holds the VMA lock for write, so that no walk
 * of the VMA (pw_vma_pgtable_walk_begin()) is inside the table meanwhile.
 */
#include <string.h>

#include <pagewalk/hugetlb.h>

#include "mm/mm.h"
#include "mm/rmap.h"

/* Test hook (debug builds): the walk hook takes no lock (tests/test_hugetlb_mt.c). */
bool pw_debug_hugetlb_walk_nolock;

static struct pw_rwsem *vma_lock(const struct pw_vma *vma)
{
	return vma->_hugetlb_lock;
}

enum pw_level pw_hugetlb_level(const struct pw_vma *vma)
{
	return vma->vm_file->hpage_order == 18 ? PW_LEVEL_PUD : PW_LEVEL_PMD;
}

static uint64_t hpage_size(const struct pw_vma *vma)
{
	return pw_level_size(pw_hugetlb_level(vma));
}

void pw_hugetlb_assert_locked(const struct pw_vma *vma)
{
	const struct pw_rwsem *l = vma_lock(vma);

	PW_BUG_ON(l && !pw_rwsem_held(l) && !pw_rwsem_held(&vma->vm_file->i_mmap_rwsem));
	(void)l;
}

bool pw_hugetlb_range_aligned(const struct pw_vma *vma, uint64_t start, uint64_t end)
{
	uint64_t m;

	if (!pw_vma_is_hugetlb(vma))
		return true;
	m = hpage_size(vma) - 1;
	/* only the cuts inside the VMA matter: a range may run past its ends */
	if (start > vma->vm_start && start < vma->vm_end && (start & m))
		return false;
	if (end > vma->vm_start && end < vma->vm_end && (end & m))
		return false;
	return true;
}

/* ---- the walk hook --------------------------------------------------------- */

PW_API void pw_vma_pgtable_walk_begin(struct pw_vma *vma)
{
	struct pw_rwsem *l = vma ? vma_lock(vma) : NULL;

	if (!l || pw_rwsem_held(&vma->vm_file->i_mmap_rwsem))
		return; /* not shareable, or a mapping walk: i_mmap excludes unsharing */
	if (__atomic_load_n(&pw_debug_hugetlb_walk_nolock, __ATOMIC_RELAXED))
		return;
	pw_rwsem_read_lock(l);
}

PW_API void pw_vma_pgtable_walk_end(struct pw_vma *vma)
{
	struct pw_rwsem *l = vma ? vma_lock(vma) : NULL;

	if (!l || pw_rwsem_held(&vma->vm_file->i_mmap_rwsem))
		return;
	if (!pw_rwsem_held(l))
		return; /* the test hook skipped it */
	pw_rwsem_read_unlock(l);
}

/* ---- sharing ---------------------------------------------------------------- */

static uint64_t pud_table_pfn(struct pw_pt *pt, uint64_t addr)
{
	struct pw_pt_entry e;

	if (pw_pt_descend(pt, addr, PW_LEVEL_PUD, &e, NULL) != PW_PT_TABLE || e.level != PW_LEVEL_PUD)
		return 0;
	return pw_pt_next_pfn(pt, e.val);
}

PW_API int pw_hugetlb_pmd_sharers(struct pw_mm *mm, uint64_t addr)
{
	uint64_t pfn;

	if (!mm || !mm->pt.arena)
		return -EINVAL;
	pw_assert_mmap_locked(mm);
	pfn = pud_table_pfn(&mm->pt, addr);
	if (!pfn)
		return 0;
	return 1 + __atomic_load_n(&pw_frame_meta(mm->pt.arena, pfn)->mapcount, __ATOMIC_ACQUIRE);
}

PW_API uint64_t pw_hugetlb_nr_shared_faults(const struct pw_mm *mm)
{
	return mm ? __atomic_load_n(&mm->nr_shared_faults, __ATOMIC_RELAXED) : 0;
}

/* Can @vma share the PMD table of the 1 GiB range at @s? */
static bool want_pmd_share(const struct pw_vma *vma, uint64_t s)
{
	return vma_lock(vma) && pw_hugetlb_level(vma) == PW_LEVEL_PMD && s >= vma->vm_start &&
	       s + PW_PUD_SIZE <= vma->vm_end;
}

struct share_search {
	const struct pw_vma *vma;
	uint64_t index; /* file page offset of the 1 GiB range */
	uint64_t pfn;	/* the table found */
};

static int find_sharable(struct pw_vma *svma, void *arg)
{
	struct share_search *s = arg;
	const uint32_t ignore = PW_VM_SOFTDIRTY;
	uint64_t saddr;

	uint32_t sf = __atomic_load_n(&svma->vm_flags, __ATOMIC_RELAXED);
	uint32_t vf = __atomic_load_n(&s->vma->vm_flags, __ATOMIC_RELAXED);

	if (svma == s->vma || !vma_lock(svma) || (sf & ~ignore) != (vf & ~ignore) ||
	    s->index < svma->vm_pgoff)
		return 0;
	saddr = svma->vm_start + ((s->index - svma->vm_pgoff) << PW_PAGE_SHIFT);
	if (!want_pmd_share(svma, saddr) || (saddr & (PW_PUD_SIZE - 1)))
		return 0;
	/* Under the i_mmap lock svma's table stays: unsharing and unlinking take it for write. */
	s->pfn = pud_table_pfn(&svma->vm_mm->pt, saddr);
	return s->pfn != 0;
}

/*
 * huge_pmd_share(): point the none PUD entry @pud (of the 1 GiB range at
 * @s) at a sharable PMD table of another VMA of the file. Return true if
 * @pud changed (shared, or filled by a racer): look again.
 */
static bool pmd_share(struct pw_mm *mm, struct pw_vma *vma, struct pw_pt_entry *pud, uint64_t s)
{
	struct share_search ss = { .vma = vma,
				   .index = vma->vm_pgoff + ((s - vma->vm_start) >> PW_PAGE_SHIFT) };
	struct pw_file *f = vma->vm_file;
	bool changed = false;

	pw_i_mmap_lock_read(f);
	if (pw_file_for_each_vma(f, ss.index, ss.index + (PW_PUD_SIZE >> PW_PAGE_SHIFT) - 1,
				 find_sharable, &ss)) {
		struct pw_frame *tf = pw_frame_meta(mm->pt.arena, ss.pfn);

		__atomic_fetch_add(&tf->mapcount, 1, __ATOMIC_ACQ_REL);
		if (pw_pt_install(&mm->pt, pud, pw_mk_table(ss.pfn, PW_TABLE_FLAGS), 1))
			__atomic_fetch_sub(&tf->mapcount, 1, __ATOMIC_ACQ_REL); /* a racer filled it */
		else
			__atomic_fetch_add(&mm->nr_shared_faults, 1, __ATOMIC_RELAXED);
		changed = true;
	}
	pw_i_mmap_unlock_read(f);
	return changed;
}

/* huge_pmd_unshare() of the 1 GiB range at @s: VMA lock and i_mmap held for write. */
static void pmd_unshare(struct pw_mm *mm, uint64_t s)
{
	struct pw_pt *pt = &mm->pt;
	struct pw_mmu_notifier_range r;
	struct pw_pt_entry e;
	uint64_t pfn;

	if (pw_pt_descend(pt, s, PW_LEVEL_PUD, &e, NULL) != PW_PT_TABLE || e.level != PW_LEVEL_PUD)
		return;
	pfn = pw_pt_next_pfn(pt, e.val);
	if (!__atomic_load_n(&pw_frame_meta(pt->arena, pfn)->mapcount, __ATOMIC_ACQUIRE))
		return; /* this mm's alone: its entries are changed in place */
	pw_mmu_notifier_range_init(&r, PW_MMU_NOTIFY_CLEAR, mm, s, s + PW_PUD_SIZE);
	pw_mmu_notifier_invalidate_range_start(&r);
	pw_pt_upper_lock(pt);
	pw_entry_write(e.ptep, 0);
	pw_pt_upper_unlock(pt);
	__atomic_fetch_sub(&pw_frame_meta(pt->arena, pfn)->mapcount, 1, __ATOMIC_ACQ_REL);
	__atomic_fetch_sub(&pt->nr_tables, 1, __ATOMIC_RELAXED);
	pw_flush_tlb_range(mm, s, s + PW_PUD_SIZE);
	pw_mmu_notifier_invalidate_range_end(&r);
}

void pw_hugetlb_unshare_range(struct pw_mm *mm, struct pw_vma *vma, uint64_t start, uint64_t end)
{
	struct pw_rwsem *l = vma_lock(vma);

	pw_assert_mmap_write_locked(mm);
	if (!l || pw_hugetlb_level(vma) != PW_LEVEL_PMD)
		return;
	if (start < vma->vm_start)
		start = vma->vm_start;
	if (end > vma->vm_end || end == 0)
		end = vma->vm_end;
	if (start >= end)
		return;
	pw_rwsem_write_lock(l);
	pw_i_mmap_lock_write(vma->vm_file);
	for (uint64_t s = start & ~(PW_PUD_SIZE - 1); s < end; s += PW_PUD_SIZE)
		pmd_unshare(mm, s);
	pw_i_mmap_unlock_write(vma->vm_file);
	pw_rwsem_write_unlock(l);
}

/* ---- faults -------------------------------------------------------------------- */

/* Allocate a huge block and copy @src's @size bytes into it; it joins @vma's anon_vma. */
static int copy_huge(struct pw_mm *mm, struct pw_vma *vma, uint64_t src, uint64_t haddr,
		     enum pw_level level, uint64_t *out)
{
	struct pw_frame *nf;
	int ret = pw_anon_vma_prepare(vma);

	if (!ret)
		ret = pw_frame_alloc(mm->pt.arena, 9 * (unsigned)level, out);
	if (ret)
		return ret;
	memcpy(pw_frame_ptr(mm->pt.arena, *out), pw_frame_ptr(mm->pt.arena, src), pw_level_size(level));
	nf = pw_frame_meta(mm->pt.arena, *out);
	nf->flags |= PW_FRAME_ANON;
	nf->mapcount = 1;
	pw_anon_frame_init(mm->pt.arena, *out, vma, haddr);
	return 0;
}

/* hugetlb_no_page(): fill the none leaf entry @e. Return 0, -EAGAIN, -errno. */
static int no_page(struct pw_mm *mm, struct pw_vma *vma, struct pw_pt_entry *e, uint64_t haddr,
		   uint64_t index, unsigned flags)
{
	enum pw_level level = e->level;
	bool write = flags & PW_FAULT_WRITE, shared = vma->vm_flags & PW_VM_SHARED;
	bool copy = write && !shared;
	uint64_t head, pfn, v;
	int ret = pw_hugetlb_folio(vma->vm_file, index, &head);

	if (ret)
		return ret;
	pfn = head;
	if (copy && (ret = copy_huge(mm, vma, head, haddr, level, &pfn)))
		return ret;
	v = pw_mk_leaf(level, pfn, pw_vma_leaf_flags(mm, vma, write));
	pw_pt_entry_lock(&mm->pt, e);
	if (!pw_entry_none(pw_entry_read(e->ptep))) {
		pw_pt_entry_unlock(&mm->pt, e);
		if (copy)
			pw_frame_free(mm->pt.arena, pfn, 9 * (unsigned)level);
		return -EAGAIN;
	}
	if (!copy) {
		struct pw_frame *hf = pw_frame_meta(mm->pt.arena, head);

		pw_frame_get(mm->pt.arena, head);
		__atomic_fetch_add(&hf->mapcount, 1, __ATOMIC_RELAXED);
		if (write)
			__atomic_fetch_or(&hf->flags, PW_FRAME_DIRTY, __ATOMIC_RELAXED);
	}
	pw_pt_set_locked(&mm->pt, e, v, 0);
	pw_pt_entry_unlock(&mm->pt, e);
	if (copy)
		__atomic_fetch_add(&mm->rss, pw_level_size(level) >> PW_PAGE_SHIFT, __ATOMIC_RELAXED);
	return 0;
}

/* hugetlb_wp(): a write to the present read-only leaf @e of a writable VMA. */
static int wp_page(struct pw_mm *mm, struct pw_vma *vma, struct pw_pt_entry *e, uint64_t haddr)
{
	struct pw_pt *pt = &mm->pt;
	uint64_t old = pw_pt_leaf_pfn(pt, e->level, e->val), npfn, size = pw_level_size(e->level);
	struct pw_frame *of = pw_frame_meta(pt->arena, old);
	struct pw_mmu_notifier_range r;
	int ret;

	if ((vma->vm_flags & PW_VM_SHARED) ||
	    ((of->flags & PW_FRAME_ANON) && __atomic_load_n(&of->refcount, __ATOMIC_ACQUIRE) == 1)) {
		pw_pt_entry_lock(pt, e);
		if (pw_entry_read(e->ptep) == e->val) {
			if (of->mapping)
				__atomic_fetch_or(&of->flags, PW_FRAME_DIRTY, __ATOMIC_RELAXED);
			pw_entry_write(e->ptep, e->val | PW_RW | PW_D | PW_A | PW_SW_SOFTDIRTY);
		}
		pw_pt_entry_unlock(pt, e);
		return 0;
	}
	/* A private mapping of the page-cache folio: copy the whole huge page. */
	ret = copy_huge(mm, vma, old, haddr, e->level, &npfn);
	if (ret)
		return ret;
	pw_mmu_notifier_range_init(&r, PW_MMU_NOTIFY_CLEAR, mm, haddr, haddr + size);
	pw_mmu_notifier_invalidate_range_start(&r);
	pw_pt_entry_lock(pt, e);
	if (pw_entry_read(e->ptep) != e->val) {
		pw_pt_entry_unlock(pt, e);
		pw_mmu_notifier_invalidate_range_end(&r);
		pw_frame_free(pt->arena, npfn, 9 * (unsigned)e->level);
		return -EAGAIN;
	}
	pw_entry_write(e->ptep, pw_mk_leaf(e->level, npfn, pw_vma_leaf_flags(mm, vma, true)));
	pw_flush_tlb_range(mm, haddr, haddr + size);
	pw_pt_entry_unlock(pt, e);
	pw_mmu_notifier_invalidate_range_end(&r);
	__atomic_fetch_sub(&of->mapcount, 1, __ATOMIC_RELAXED);
	pw_frame_put(pt->arena, old);
	__atomic_fetch_add(&mm->rss, size >> PW_PAGE_SHIFT, __ATOMIC_RELAXED);
	return 0;
}

static int fault_locked(struct pw_mm *mm, struct pw_vma *vma, uint64_t haddr, uint64_t index,
			unsigned flags)
{
	enum pw_level level = pw_hugetlb_level(vma);
	struct pw_pt *pt = &mm->pt;
	int ret;

	for (;;) {
		struct pw_pt_entry e;
		int kind = pw_pt_descend(pt, haddr, level, &e, NULL);

		if (kind < 0)
			return -EFAULT;
		if (e.level > level) {
			if (kind != PW_PT_NONE)
				return -EFAULT; /* a leaf above the page size: not ours */
			if (e.level == PW_LEVEL_PUD && want_pmd_share(vma, haddr & ~(PW_PUD_SIZE - 1)) &&
			    pmd_share(mm, vma, &e, haddr & ~(PW_PUD_SIZE - 1)))
				continue;
			ret = pw_pt_ensure_table(pt, &e);
			if (ret)
				return ret;
			continue;
		}
		switch (kind) {
		case PW_PT_NONE:
			ret = no_page(mm, vma, &e, haddr, index, flags);
			break;
		case PW_PT_LEAF:
			if (!(flags & PW_FAULT_WRITE) || (e.val & PW_RW))
				return 0;
			ret = wp_page(mm, vma, &e, haddr);
			break;
		case PW_PT_NONPRESENT:
			return -EACCES;
		default:
			return -EFAULT;
		}
		if (ret != -EAGAIN)
			return ret;
	}
}

int pw_hugetlb_fault(struct pw_mm *mm, struct pw_vma *vma, uint64_t addr, unsigned flags)
{
	uint64_t size = hpage_size(vma), haddr = addr & ~(size - 1);
	uint64_t index = vma->vm_pgoff + ((haddr - vma->vm_start) >> PW_PAGE_SHIFT);
	struct pw_rwsem *l = vma_lock(vma);
	int ret;

	if (index + (size >> PW_PAGE_SHIFT) > vma->vm_file->nr_pages)
		return -EFAULT; /* past the end of the file: SIGBUS */
	if (l)
		pw_rwsem_read_lock(l);
	ret = fault_locked(mm, vma, haddr, index, flags);
	if (l)
		pw_rwsem_read_unlock(l);
	return ret;
}

/* ---- fork ------------------------------------------------------------------- */

/* Point @dst's entry for @haddr (at @vma's leaf level) at @v, building tables as needed. */
static int fork_install(struct pw_mm *dst, enum pw_level level, uint64_t haddr, uint64_t v)
{
	for (;;) {
		struct pw_pt_entry e;
		int kind = pw_pt_descend(&dst->pt, haddr, level, &e, NULL), ret;

		if (kind < 0)
			return -EFAULT;
		if (e.level > level) {
			if (kind != PW_PT_NONE)
				return -EFAULT;
			ret = pw_pt_ensure_table(&dst->pt, &e);
			if (ret)
				return ret;
			continue;
		}
		if (kind != PW_PT_NONE)
			return -EFAULT; /* a new mm's range is empty */
		pw_pt_entry_lock(&dst->pt, &e);
		pw_pt_set_locked(&dst->pt, &e, v, 0);
		pw_pt_entry_unlock(&dst->pt, &e);
		return 0;
	}
}

int pw_hugetlb_copy_range(struct pw_mm *dst, struct pw_mm *src, struct pw_vma *dvma, struct pw_vma *svma)
{
	enum pw_level level = pw_hugetlb_level(svma);
	uint64_t size = pw_level_size(level);
	struct pw_pt *pt = &src->pt;

	PW_BUG_ON(svma->vm_flags & PW_VM_SHARED);
	for (uint64_t haddr = svma->vm_start; haddr < svma->vm_end; haddr += size) {
		struct pw_pt_entry e;
		int kind = pw_pt_descend(pt, haddr, level, &e, NULL), ret;
		uint64_t head, v, npfn;
		struct pw_frame *hf;
		bool pinned;

		if (kind == PW_PT_NONE)
			continue; /* the child faults it from the file */
		if (kind != PW_PT_LEAF || e.level != level)
			return -EFAULT; /* no other entry is made in a hugetlb VMA */
		pw_pt_entry_lock(pt, &e);
		pw_pt_reread(&e);
		head = pw_pt_leaf_pfn(pt, level, e.val);
		hf = pw_frame_meta(pt->arena, head);
		/* A pinned private copy may be written by a device: the child gets
		 * its own copy now (the kernel's folio_maybe_dma_pinned() case). */
		pinned = (__atomic_load_n(&hf->flags, __ATOMIC_RELAXED) & PW_FRAME_ANON) && __atomic_load_n(&hf->pincount, __ATOMIC_ACQUIRE) > 0;
		if (!pinned) {
			/* Copy-on-write: both read-only, one more map count and reference. */
			if (e.val & PW_RW) {
				pw_entry_write(e.ptep, e.val & ~PW_RW);
				pw_flush_tlb_range(src, haddr, haddr + size);
			}
			pw_frame_get(pt->arena, head);
			__atomic_fetch_add(&hf->mapcount, 1, __ATOMIC_RELAXED);
		}
		v = e.val & ~PW_RW;
		pw_pt_entry_unlock(pt, &e);
		if (pinned) {
			ret = copy_huge(dst, dvma, head, haddr, level, &npfn);
			if (ret)
				return ret;
			v = pw_mk_leaf(level, npfn, pw_vma_leaf_flags(dst, dvma, !!(dvma->vm_flags & PW_VM_WRITE)));
		}
		ret = fork_install(dst, level, haddr, v);
		if (ret) {
			if (pinned) {
				pw_frame_free(pt->arena, npfn, 9 * (unsigned)level);
			} else {
				__atomic_fetch_sub(&hf->mapcount, 1, __ATOMIC_RELAXED);
				pw_frame_put(pt->arena, head);
			}
			return ret;
		}
		/* rss counts what is not the hugetlb page cache (as the zap does) */
		if (pinned || !hf->mapping)
			__atomic_fetch_add(&dst->rss, size >> PW_PAGE_SHIFT, __ATOMIC_RELAXED);
	}
	return 0;
}
