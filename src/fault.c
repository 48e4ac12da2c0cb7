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

#include "internal.h"

/* Can the VMA take a leaf of @level around @addr? */
static bool huge_fits(const struct pw_mm *mm, const struct pw_vma *vma, uint64_t addr, int level)
{
	uint64_t s = addr & pw_level_mask(level), e = s + pw_level_size(level);

	if (vma->vm_file)
		return false;
	if (level == PW_LEVEL_PUD && (!(vma->vm_flags & PW_VM_HUGE_1G) || !mm->cfg.pdpe1gb))
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

/* Does a write to a private mapping of this frame have to copy it? */
static bool must_copy(const struct pw_vma *vma, const struct pw_frame *f)
{
	return !(vma->vm_flags & PW_VM_SHARED) && f &&
	       (f->mapping || __atomic_load_n(&f->refcount, __ATOMIC_ACQUIRE) != 1);
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
static int wp_fault(struct pw_mm *mm, const struct pw_vma *vma, int level, uint64_t *e, uint64_t v,
		    uint64_t addr, bool may_copy)
{
	uint64_t pfn = pw_entry_pfn(level, v, mm->cfg.maxphyaddr), npfn;
	struct pw_frame *f = pw_frame_meta(mm->arena, pfn);
	int ret;

	if (!must_copy(vma, f)) {
		if (f && f->mapping)
			__atomic_fetch_or(&f->flags, PW_FRAME_DIRTY, __ATOMIC_RELAXED);
		pw_entry_write(e, v | PW_RW | PW_D | PW_A);
		return 0;
	}
	if (!may_copy)
		return -EAGAIN;
	/* Copy-on-write of a 4 KiB page; huge leaves were split by the caller. */
	PW_BUG_ON(level != PW_LEVEL_PTE);
	ret = pw_frame_alloc(mm->arena, 0, &npfn);
	if (ret)
		return ret;
	memcpy(pw_frame_ptr(mm->arena, npfn), pw_frame_ptr(mm->arena, pfn), PW_PAGE_SIZE);
	pw_frame_meta(mm->arena, npfn)->flags |= PW_FRAME_ANON;
	pw_frame_meta(mm->arena, npfn)->mapcount = 1;
	pw_entry_write(e, pw_mk_leaf(0, npfn, (v & ~pw_frame_field_mask(mm->cfg.maxphyaddr)) |
						 PW_RW | PW_D | PW_A));
	pw_flush_tlb_range(mm, addr, addr + PW_PAGE_SIZE);
	__atomic_fetch_sub(&f->mapcount, 1, __ATOMIC_RELAXED);
	pw_frame_put(mm->arena, pfn);
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

		ret = pw_frame_alloc(mm->arena, 0, &npfn);
		if (!ret) {
			memcpy(pw_frame_ptr(mm->arena, npfn), pw_frame_ptr(mm->arena, pfn), PW_PAGE_SIZE);
			*cache = false;
		}
		pw_frame_put(mm->arena, pfn);
		if (ret)
			return ret;
		*data = npfn;
		return 0;
	}
	*data = pfn;
	return 0;
}

static void release_data(struct pw_mm *mm, uint64_t data, int leaf, bool cache)
{
	if (cache)
		pw_frame_put(mm->arena, data);
	else
		pw_frame_free(mm->arena, data, 9 * (unsigned)leaf);
}

#define MAX_NEW_TABLES PW_MAX_LEVELS

PW_API int pw_handle_mm_fault(struct pw_mm *mm, uint64_t addr, unsigned flags)
{
	struct pw_vma *vma;
	uint64_t tables[MAX_NEW_TABLES], data = 0;
	int ret, nr_tables = 0;

	if (!mm || !mm->arena)
		return -EINVAL;
	pw_assert_mmap_locked(mm);
	vma = pw_vma_lookup(mm, addr);
	if (!vma)
		return -EFAULT;
	ret = vma_allows(vma, flags);
	if (ret)
		return ret;
	addr &= PW_PAGE_MASK;

retry:;
	/* 1. Find the first missing level, without locks (entries are read once). */
	int level = pw_root_level(mm->cfg.levels);
	uint64_t pfn = mm->root_pfn, *e, v;

	for (;; level--) {
		e = pw_table(mm, pfn) + pw_index(level, addr);
		v = pw_entry_read(e);
		if (pw_entry_none(v) || level == PW_LEVEL_PTE || !pw_entry_table(level, v))
			break;
		pfn = pw_table_pfn(mm, v);
	}

	if (!pw_entry_none(v)) {
		/* Present leaf (or PROT_NONE, which the VMA check excluded). */
		bool pte = level == PW_LEVEL_PTE;

		if (!(v & PW_P))
			return -EACCES;
		if (!(flags & PW_FAULT_WRITE) || (v & PW_RW))
			return 0; /* already resolved by someone else: retry the access */
		if (!pte && !(vma->vm_flags & PW_VM_SHARED)) {
			struct pw_frame *f = pw_frame_meta(mm->arena, pw_entry_pfn(level, v, mm->cfg.maxphyaddr));

			if (f && f->refcount > 1) {
				/* A shared huge page: split it and copy the one 4 KiB page. */
				pw_spin_lock(&mm->page_table_lock);
				ret = pw_entry_read(e) == v ? 0 : -EAGAIN;
				pw_spin_unlock(&mm->page_table_lock);
				if (!ret)
					ret = pw_split_huge(mm, e, level);
				if (ret && ret != -EAGAIN)
					return ret;
				goto retry;
			}
		}
		struct pw_frame *f = pw_frame_meta(mm->arena, pw_entry_pfn(level, v, mm->cfg.maxphyaddr));
		bool copy = pte && must_copy(vma, f);
		struct pw_mmu_notifier_range range;

		if (copy) {
			pw_mmu_notifier_range_init(&range, PW_MMU_NOTIFY_CLEAR, mm, addr, addr + PW_PAGE_SIZE);
			pw_mmu_notifier_invalidate_range_start(&range);
		}
		if (pte)
			pw_pte_lock(mm, pfn);
		else
			pw_spin_lock(&mm->page_table_lock);
		ret = pw_entry_read(e) == v ? wp_fault(mm, vma, level, e, v, addr, copy) : 0;
		if (pte)
			pw_pte_unlock(mm, pfn);
		else
			pw_spin_unlock(&mm->page_table_lock);
		if (copy)
			pw_mmu_notifier_invalidate_range_end(&range);
		if (ret == -EAGAIN)
			goto retry; /* the page became shared meanwhile: copy it after all */
		return ret;
	}

	/* 2. Decide the leaf level and allocate everything up front. */
	int leaf = PW_LEVEL_PTE;

	for (int l = PW_LEVEL_PUD; l > PW_LEVEL_PTE; l--) {
		if (l <= level && huge_fits(mm, vma, addr, l)) {
			leaf = l;
			break;
		}
	}
	bool cache = false;

	for (;;) {
		if (vma->vm_file) {
			ret = file_data(mm, vma, addr, flags, &data, &cache);
			break;
		}
		ret = pw_frame_alloc(mm->arena, 9 * (unsigned)leaf, &data);
		if (!ret || leaf == PW_LEVEL_PTE)
			break;
		leaf--; /* no huge block free: fall back to a smaller leaf */
	}
	if (ret)
		return ret;
	nr_tables = level - leaf;
	for (int i = 0; i < nr_tables; i++) {
		ret = pw_frame_alloc(mm->arena, 0, &tables[i]);
		if (ret) {
			while (i--)
				pw_frame_free(mm->arena, tables[i], 0);
			release_data(mm, data, leaf, cache);
			return ret;
		}
		pw_frame_meta(mm->arena, tables[i])->flags |= PW_FRAME_PGTABLE;
	}

	/* 3. Install, re-checking that the missing entry is still missing. */
	struct pw_frame *df = pw_frame_meta(mm->arena, data);
	uint64_t leaf_v = pw_mk_leaf(leaf, data, pw_vma_leaf_flags(mm, vma, flags & PW_FAULT_WRITE));
	bool lock_pte = level == PW_LEVEL_PTE;

	if ((!(vma->vm_flags & PW_VM_WRITE) || (vma->vm_flags & PW_VM_SHARED)) && !vma->vm_file) {
		/* Shared or read-only: a read fault may map it writable at once. */
		leaf_v = pw_mk_leaf(leaf, data, pw_vma_leaf_flags(mm, vma, true) & ~PW_D);
		if (flags & PW_FAULT_WRITE)
			leaf_v |= PW_D;
	}
	if (!cache) {
		df->flags |= PW_FRAME_ANON;
		df->mapcount = 1;
	}
	if (lock_pte)
		pw_pte_lock(mm, pfn);
	else
		pw_spin_lock(&mm->page_table_lock);
	if (!pw_entry_none(pw_entry_read(e))) {
		if (lock_pte)
			pw_pte_unlock(mm, pfn);
		else
			pw_spin_unlock(&mm->page_table_lock);
		for (int i = 0; i < nr_tables; i++)
			pw_frame_free(mm->arena, tables[i], 0);
		release_data(mm, data, leaf, cache);
		goto retry;
	}
	if (cache) {
		__atomic_fetch_add(&df->mapcount, 1, __ATOMIC_RELAXED);
		if (flags & PW_FAULT_WRITE) /* shared write: the page_mkwrite path */
			__atomic_fetch_or(&df->flags, PW_FRAME_DIRTY, __ATOMIC_RELAXED);
	}
	/* Build the new subtree bottom-up, then publish it with one store. */
	uint64_t top = leaf_v;

	for (int i = 0, l = leaf + 1; i < nr_tables; i++, l++) {
		uint64_t *t = pw_table(mm, tables[i]);

		t[pw_index(l - 1, addr)] = top;
		top = pw_mk_table(tables[i], PW_TABLE_FLAGS);
	}
	pw_entry_write(e, top);
	if (lock_pte)
		pw_pte_unlock(mm, pfn);
	else
		pw_spin_unlock(&mm->page_table_lock);
	__atomic_fetch_add(&mm->nr_pgtables, (uint64_t)nr_tables, __ATOMIC_RELAXED);
	__atomic_fetch_add(&mm->rss, pw_level_size(leaf) >> PW_PAGE_SHIFT, __ATOMIC_RELAXED);
	return 0;
}

PW_API int pw_mm_populate(struct pw_mm *mm, uint64_t start, uint64_t end, bool write)
{
	int ret = 0;

	if (!mm || !mm->arena || pw_check_range(mm, start, end))
		return -EINVAL;
	pw_mmap_read_lock(mm);
	for (uint64_t a = start; a < end;) {
		struct pw_translation t;
		struct pw_vma *vma = pw_vma_lookup(mm, a);
		unsigned fl = (write && vma && (vma->vm_flags & PW_VM_WRITE)) ? PW_FAULT_WRITE : 0;

		if (vma && !(vma->vm_flags & (PW_VM_READ | PW_VM_WRITE | PW_VM_EXEC))) {
			a = vma->vm_end; /* PROT_NONE: nothing to populate */
			continue;
		}
		ret = pw_handle_mm_fault(mm, a, fl);
		if (ret)
			break;
		ret = pw_translate(mm, a, &t);
		if (ret)
			break;
		a = (a & pw_level_mask(t.level)) + pw_level_size(t.level);
	}
	pw_mmap_read_unlock(mm);
	return ret;
}
