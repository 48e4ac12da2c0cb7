// SPDX-License-Identifier: MIT
/*
 * fault.c - the page-fault handler: demand-zero anonymous memory, huge
 * leaves where a VMA asks for them, write faults on read-only entries.
 *
 * A fault first finds out what it needs (which tables are missing, what
 * leaf size fits), allocates all of it, and only then takes the locks and
 * installs. If the tables changed meanwhile (another thread faulted the same
 * range), it frees what it allocated and starts again. A failed fault
 * leaves no trace.
 *
 * File VMAs (vm_file set) map page-cache pages, 4 KiB only: a read fault
 * maps the cached page read-only; a write fault on a private mapping maps a
 * copy; a write fault on a shared one maps the cached page writable and
 * dirty and marks it dirty. Shared writable file mappings are mapped
 * read-only by read faults (write-notify), so that the first write after a
 * write-protect faults and is seen (the kernel's page_mkwrite path).
 */
#include <string.h>

#include "mm/dirty_log.h"
#include "mm/mm.h"
#include "mm/rmap.h"

/* Can the VMA take a leaf of @level around @addr? */
static bool huge_fits(const struct pw_mm *mm, const struct pw_vma *vma, uint64_t addr,
		      enum pw_level level)
{
	uint64_t s = addr & pw_level_mask(level), e = s + pw_level_size(level);

	if (vma->vm_file)
		return false;
	if (level == PW_LEVEL_PUD && (!(vma->vm_flags & PW_VM_HUGE_1G) || !mm->pt.cfg.pdpe1gb))
		return false;
	if (level == PW_LEVEL_PMD && !(vma->vm_flags & PW_VM_HUGE_2M))
		return false;
	return s >= vma->vm_start && e <= vma->vm_end;
}

static int vma_allows(const struct pw_vma *vma, unsigned flags)
{
	if ((flags & PW_FAULT_WRITE) && !(vma->vm_flags & PW_VM_WRITE))
		return -EACCES;
	if ((flags & PW_FAULT_EXEC) && !(vma->vm_flags & PW_VM_EXEC))
		return -EACCES;
	if (!(flags & (PW_FAULT_WRITE | PW_FAULT_EXEC)) && !(vma->vm_flags & PW_VM_READ))
		return -EACCES;
	if ((flags & PW_FAULT_USER) && (vma->vm_flags & PW_VM_SUPERVISOR))
		return -EACCES;
	return 0;
}

/*
 * Does a write to a private mapping of this frame have to copy it? Not when
 * this mapping is its only user: one reference, or one mapping and pins
 * only (a pinned page stays the page its pinner sees; the kernel's
 * PageAnonExclusive reuse).
 */
static bool must_copy(const struct pw_vma *vma, const struct pw_frame *f)
{
	int32_t ref;

	if ((vma->vm_flags & PW_VM_SHARED) || !f)
		return false;
	if (f->mapping)
		return true;
	ref = __atomic_load_n(&f->refcount, __ATOMIC_ACQUIRE);
	return ref != 1 && !(__atomic_load_n(&f->mapcount, __ATOMIC_RELAXED) == 1 &&
			     ref == 1 + __atomic_load_n(&f->pincount, __ATOMIC_ACQUIRE));
}

/*
 * A write to a present, read-only leaf of a writable VMA. Shared memory and
 * private pages that only this mapping uses become writable in place (a
 * shared file page is marked dirty: page_mkwrite); a private page mapped
 * more than once, or a page-cache page, is copied (copy-on-write), which
 * the caller brackets with notifiers (@may_copy; -EAGAIN if it did not
 * expect a copy). The old translation is flushed before the lock drops.
 * Called with the lock that guards *@e held.
 */
static int wp_fault(struct pw_mm *mm, const struct pw_vma *vma, enum pw_level level, uint64_t *e, uint64_t v,
		    uint64_t addr, bool may_copy)
{
	uint64_t pfn = pw_entry_pfn(level, v, mm->pt.cfg.maxphyaddr), npfn;
	struct pw_frame *f = pw_frame_meta(mm->pt.arena, pfn);
	int ret;

	if (!must_copy(vma, f)) {
		if (f && f->mapping)
			__atomic_fetch_or(&f->flags, PW_FRAME_DIRTY, __ATOMIC_RELAXED);
		pw_entry_write(e, v | PW_RW | PW_D | PW_A | PW_SW_SOFTDIRTY);
		return 0;
	}
	if (!may_copy)
		return -EAGAIN;
	/* Copy-on-write of a 4 KiB page; huge leaves were split by the caller. */
	PW_BUG_ON(level != PW_LEVEL_PTE);
	ret = pw_frame_alloc(mm->pt.arena, 0, &npfn);
	if (ret)
		return ret;
	memcpy(pw_frame_ptr(mm->pt.arena, npfn), pw_frame_ptr(mm->pt.arena, pfn), PW_PAGE_SIZE);
	pw_frame_meta(mm->pt.arena, npfn)->flags |= PW_FRAME_ANON;
	pw_frame_meta(mm->pt.arena, npfn)->mapcount = 1;
	pw_anon_frame_init(mm->pt.arena, npfn, vma, addr); /* the caller prepared vma's anon_vma */
	pw_entry_write(e, pw_mk_leaf(0, npfn, (v & ~pw_frame_field_mask(mm->pt.cfg.maxphyaddr)) |
						 PW_RW | PW_D | PW_A | PW_SW_SOFTDIRTY));
	pw_flush_tlb_range(mm, addr, addr + PW_PAGE_SIZE);
	__atomic_fetch_sub(&f->mapcount, 1, __ATOMIC_RELAXED);
	pw_frame_put(mm->pt.arena, pfn);
	return 0;
}

/*
 * The frame a missing 4 KiB entry of a file VMA will map, with a reference:
 * the page-cache page, or for a write to a private mapping a copy of it.
 * *@cache says which (a cached page is released with a put, not a free).
 */
static int file_data(struct pw_mm *mm, const struct pw_vma *vma, uint64_t addr, unsigned flags,
		     uint64_t *data, bool *cache)
{
	uint64_t index = vma->vm_pgoff + ((addr - vma->vm_start) >> PW_PAGE_SHIFT), pfn;
	int ret = pw_file_get_page(vma->vm_file, index, &pfn);

	if (ret)
		return ret; /* -EFAULT past the end of the file: SIGBUS */
	*cache = true;
	if ((flags & PW_FAULT_WRITE) && !(vma->vm_flags & PW_VM_SHARED)) {
		uint64_t npfn;

		ret = pw_frame_alloc(mm->pt.arena, 0, &npfn);
		if (!ret) {
			memcpy(pw_frame_ptr(mm->pt.arena, npfn), pw_frame_ptr(mm->pt.arena, pfn), PW_PAGE_SIZE);
			*cache = false;
		}
		pw_frame_put(mm->pt.arena, pfn);
		if (ret)
			return ret;
		*data = npfn;
		return 0;
	}
	*data = pfn;
	return 0;
}

static void release_data(struct pw_mm *mm, uint64_t data, enum pw_level leaf, bool cache)
{
	if (cache)
		pw_frame_put(mm->pt.arena, data);
	else
		pw_frame_free(mm->pt.arena, data, 9 * (unsigned)leaf);
}

/*
 * A write fault on the present leaf @e: make it writable, copy it, or (a
 * shared huge page of a private mapping) split it so that the one 4 KiB
 * page can be copied. Return 0, -EAGAIN (look again), or -errno.
 */
static int fault_present(struct pw_mm *mm, struct pw_vma *vma, struct pw_pt_entry *e,
			 uint64_t addr)
{
	bool pte = e->level == PW_LEVEL_PTE;
	struct pw_frame *f = pw_frame_meta(mm->pt.arena, pw_pt_leaf_pfn(&mm->pt, e->level, e->val));
	struct pw_mmu_notifier_range range;
	bool copy;
	int ret;

	if (!pte && !(vma->vm_flags & PW_VM_SHARED) && f && f->refcount > 1) {
		/* A shared huge page: split it (if it is still there), then copy. */
		ret = pw_split_huge(mm, e);
		return ret ? ret : -EAGAIN;
	}
	copy = pte && must_copy(vma, f);
	if (copy && (ret = pw_anon_vma_prepare(vma)))
		return ret;
	if (copy) {
		pw_mmu_notifier_range_init(&range, PW_MMU_NOTIFY_CLEAR, mm, addr, addr + PW_PAGE_SIZE);
		pw_mmu_notifier_invalidate_range_start(&range);
	}
	pw_pt_entry_lock(&mm->pt, e);
	ret = pw_entry_read(e->ptep) == e->val ?
		      wp_fault(mm, vma, e->level, e->ptep, e->val, addr, copy) : 0;
	pw_pt_entry_unlock(&mm->pt, e);
	if (copy)
		pw_mmu_notifier_invalidate_range_end(&range);
	return ret; /* -EAGAIN: the page became shared meanwhile: copy it after all */
}

/* The largest leaf level, at most @level, that the VMA takes around @addr. */
static enum pw_level leaf_level(const struct pw_mm *mm, const struct pw_vma *vma, uint64_t addr,
				enum pw_level level)
{
	for (enum pw_level l = PW_LEVEL_PUD; l > PW_LEVEL_PTE; l--)
		if (l <= level && huge_fits(mm, vma, addr, l))
			return l;
	return PW_LEVEL_PTE;
}

/*
 * Fill the none entry @e: allocate the data and the missing tables up
 * front, build the subtree privately, and publish it with one store under
 * the lock guarding @e if @e is still none. Return 0, -EAGAIN (someone
 * else filled it: look again; nothing is left behind), or -errno.
 */
static int fault_missing(struct pw_mm *mm, struct pw_vma *vma, const struct pw_pt_entry *e,
			 uint64_t addr, unsigned flags)
{
	struct pw_pt *pt = &mm->pt;
	enum pw_level leaf = leaf_level(mm, vma, addr, e->level);
	uint64_t tables[PW_MAX_LEVELS], data = 0, leaf_v, top;
	unsigned nr_tables;
	bool cache = false;
	struct pw_frame *df;
	int ret;

	/* An anonymous page, or a private copy of a file page: it joins the VMA's anon_vma. */
	if (!vma->vm_file || ((flags & PW_FAULT_WRITE) && !(vma->vm_flags & PW_VM_SHARED))) {
		ret = pw_anon_vma_prepare(vma);
		if (ret)
			return ret;
	}
	for (;;) {
		if (vma->vm_file) {
			ret = file_data(mm, vma, addr, flags, &data, &cache);
			break;
		}
		ret = pw_frame_alloc(pt->arena, 9 * (unsigned)leaf, &data);
		if (!ret || leaf == PW_LEVEL_PTE)
			break;
		leaf--; /* no huge block free: fall back to a smaller leaf */
	}
	if (ret)
		return ret;
	nr_tables = e->level - leaf;
	for (unsigned i = 0; i < nr_tables; i++) {
		ret = pw_pt_table_alloc(pt, &tables[i]);
		if (ret) {
			while (i--)
				pw_pt_table_free(pt, tables[i]);
			release_data(mm, data, leaf, cache);
			return ret;
		}
	}

	df = pw_frame_meta(pt->arena, data);
	leaf_v = pw_mk_leaf(leaf, data, pw_vma_leaf_flags(mm, vma, flags & PW_FAULT_WRITE));
	if ((!(vma->vm_flags & PW_VM_WRITE) || (vma->vm_flags & PW_VM_SHARED)) && !vma->vm_file &&
	    (vma->vm_flags & PW_VM_SOFTDIRTY)) {
		/* Shared or read-only: a read fault may map it writable at once (not
		 * once clear_refs tracks soft-dirty here: the first write must fault,
		 * the kernel's write-notify for !VM_SOFTDIRTY). */
		leaf_v = pw_mk_leaf(leaf, data, pw_vma_leaf_flags(mm, vma, true) & ~(PW_D | PW_SW_SOFTDIRTY));
		if (flags & PW_FAULT_WRITE)
			leaf_v |= PW_D | PW_SW_SOFTDIRTY;
	}
	if (!cache) {
		df->flags |= PW_FRAME_ANON;
		df->mapcount = 1;
		pw_anon_frame_init(pt->arena, data, vma, addr & pw_level_mask(leaf));
	}
	/* The new subtree, bottom-up, private until the one store below. */
	top = leaf_v;
	for (unsigned i = 0; i < nr_tables; i++) {
		pw_pt_table(pt, tables[i])[pw_index(leaf + i, addr)] = top;
		top = pw_mk_table(tables[i], PW_TABLE_FLAGS);
	}

	pw_pt_entry_lock(pt, e);
	if (!pw_entry_none(pw_entry_read(e->ptep))) {
		pw_pt_entry_unlock(pt, e);
		for (unsigned i = 0; i < nr_tables; i++)
			pw_pt_table_free(pt, tables[i]);
		release_data(mm, data, leaf, cache);
		return -EAGAIN;
	}
	if (cache) {
		__atomic_fetch_add(&df->mapcount, 1, __ATOMIC_RELAXED);
		if (flags & PW_FAULT_WRITE) /* shared write: the page_mkwrite path */
			__atomic_fetch_or(&df->flags, PW_FRAME_DIRTY, __ATOMIC_RELAXED);
	}
	pw_pt_set_locked(pt, e, top, nr_tables);
	pw_pt_entry_unlock(pt, e);
	__atomic_fetch_add(&mm->rss, pw_level_size(leaf) >> PW_PAGE_SHIFT, __ATOMIC_RELAXED);
	return 0;
}

/*
 * A CPU access to a device-exclusive entry @e: give the page back to the
 * CPU (the kernel's remove_device_exclusive_entry()). The notifiers hear an
 * EXCLUSIVE event with no owner, so the device drops its access; the PTE
 * gets its frame, permissions and dirty state back. Return -EAGAIN: the
 * caller looks again (a write may still need its write fault).
 */
static int restore_exclusive(struct pw_mm *mm, const struct pw_vma *vma, struct pw_pt_entry *e,
			     uint64_t addr)
{
	struct pw_mmu_notifier_range r;

	pw_mmu_notifier_range_init(&r, PW_MMU_NOTIFY_EXCLUSIVE, mm, addr, addr + PW_PAGE_SIZE);
	pw_mmu_notifier_invalidate_range_start(&r);
	pw_pt_entry_lock(&mm->pt, e);
	if (pw_entry_read(e->ptep) == e->val)
		pw_entry_write(e->ptep, pw_devx_restore_value(mm, vma, e->val));
	pw_pt_entry_unlock(&mm->pt, e);
	pw_mmu_notifier_invalidate_range_end(&r);
	return -EAGAIN;
}

PW_API int pw_handle_mm_fault(struct pw_mm *mm, uint64_t addr, unsigned flags)
{
	struct pw_vma *vma;
	int ret;

	if (!mm || !mm->pt.arena)
		return -EINVAL;
	pw_assert_mmap_locked(mm);
	vma = pw_vma_lookup(mm, addr);
	if (!vma)
		return -EFAULT;
	ret = vma_allows(vma, flags);
	if (ret)
		return ret;
	addr &= PW_PAGE_MASK;
	if (pw_vma_is_hugetlb(vma))
		return pw_hugetlb_fault(mm, vma, addr, flags);
	do {
		/* The first entry on the way that is not a table, read without locks. */
		struct pw_pt_entry e;

		switch (pw_pt_descend(&mm->pt, addr, PW_LEVEL_PTE, &e, NULL)) {
		case PW_PT_NONE:
			ret = fault_missing(mm, vma, &e, addr, flags);
			break;
		case PW_PT_LEAF:
			if (!(flags & PW_FAULT_WRITE) || (e.val & PW_RW))
				return 0; /* already resolved by someone else: retry the access */
			ret = fault_present(mm, vma, &e, addr);
			break;
		case PW_PT_NONPRESENT:
			if (e.level == PW_LEVEL_PTE && pw_is_device_exclusive(e.val)) {
				ret = restore_exclusive(mm, vma, &e, addr);
				break;
			}
			return -EACCES; /* PROT_NONE, which the VMA check excluded */
		default:
			return -EFAULT; /* a malformed entry (written by a caller): no fault fixes it */
		}
	} while (ret == -EAGAIN);
	if (!ret) {
		/*
		 * Accessed in the PMD entry above the PTE: a fault is an access the
		 * MMU did not walk (pw_handle_mm_fault() may be called without a
		 * retry, e.g. by populate or GUP), and the accessed-bit dirty pass
		 * skips PTE tables whose PMD entry has A clear (helpers/dirty.c).
		 */
		struct pw_pt_entry pmd;

		if (pw_pt_descend(&mm->pt, addr, PW_LEVEL_PMD, &pmd, NULL) == PW_PT_TABLE &&
		    !(pmd.val & PW_A))
			__atomic_fetch_or(pmd.ptep, PW_A, __ATOMIC_RELEASE);
		/* after the entry became writable: a round that misses this log
		 * entry finds the page dirty in the next one */
		if (flags & PW_FAULT_WRITE)
			pw_dirty_log_fault(vma, addr);
	}
	return ret;
}
