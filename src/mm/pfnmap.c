// SPDX-License-Identifier: MIT
/*
 * pfnmap.c - pw_remap_pfn_range() (pagewalk/pfnmap.h), after the kernel's
 * remap_pfn_range(): check the range is empty
 * (pw_apply_to_existing_page_range()), then install the PTEs with the table
 * allocator of pw_apply_to_page_range(), each under its table's lock; zap
 * what was installed if a table cannot be allocated.
 */
#include "mm/mm.h"

#include <pagewalk/apply.h>
#include <pagewalk/pfnmap.h>

struct remap {
	struct pw_mm *mm;
	uint64_t start, pfn, flags;
};

/* A PTE that is not none in the range: it is in use. */
static int busy_pte(pw_pte_t *pte, uint64_t addr, void *data)
{
	return -EBUSY;
}

static int set_pfn(pw_pte_t *pte, uint64_t addr, void *data)
{
	struct remap *r = data;

	pw_entry_write(&pte->val, pw_mk_leaf(PW_LEVEL_PTE, r->pfn + ((addr - r->start) >> PW_PAGE_SHIFT),
					     r->flags));
	__atomic_fetch_add(&r->mm->rss, 1, __ATOMIC_RELAXED); /* the zap takes it back */
	return 0;
}

/* The entry flags for @prot in @vma (pw_vma_leaf_flags() decides by the VMA, not by @prot). */
static uint64_t pfn_flags(const struct pw_mm *mm, const struct pw_vma *vma, int prot)
{
	uint64_t v;

	if (!(prot & (PW_PROT_READ | PW_PROT_WRITE | PW_PROT_EXEC)))
		return PW_SW_PROTNONE;
	v = PW_P | PW_A;
	if (!(vma->vm_flags & PW_VM_SUPERVISOR))
		v |= PW_US;
	if (prot & PW_PROT_WRITE)
		v |= PW_RW | PW_D;
	if (!(prot & PW_PROT_EXEC) && mm->pt.cfg.nxe)
		v |= PW_NX;
	return v;
}

PW_API int pw_remap_pfn_range(struct pw_vma *vma, uint64_t addr, uint64_t pfn, uint64_t size, int prot)
{
	struct pw_mm *mm;
	struct remap r;
	uint64_t n, limit;
	uint32_t old_flags, allowed = 0;
	int ret;

	if (!vma || !vma->vm_mm || !vma->vm_mm->pt.arena || vma->vm_file)
		return -EINVAL;
	mm = vma->vm_mm;
	pw_assert_mmap_write_locked(mm);
	if ((addr | size) & ~PW_PAGE_MASK || !size || addr != vma->vm_start ||
	    size != vma->vm_end - vma->vm_start)
		return -EINVAL;
	if (prot & ~(PW_PROT_READ | PW_PROT_WRITE | PW_PROT_EXEC))
		return -EINVAL;
	n = size >> PW_PAGE_SHIFT;
	limit = 1ULL << (mm->pt.cfg.maxphyaddr - PW_PAGE_SHIFT);
	if (pfn < pw_arena_nr_frames(mm->pt.arena) || pfn >= limit || n > limit - pfn)
		return -EINVAL;
	allowed |= vma->vm_flags & PW_VM_READ ? PW_PROT_READ : 0;
	allowed |= vma->vm_flags & PW_VM_WRITE ? PW_PROT_WRITE : 0;
	allowed |= vma->vm_flags & PW_VM_EXEC ? PW_PROT_EXEC : 0;
	if (prot & ~allowed)
		return -EACCES;
	/* in use: a PTE that is not none, or (-EINVAL: the range is valid) a huge leaf */
	ret = pw_apply_to_existing_page_range(mm, addr, size, busy_pte, NULL);
	if (ret)
		return -EBUSY;

	r = (struct remap){ .mm = mm, .start = addr, .pfn = pfn, .flags = pfn_flags(mm, vma, prot) };
	old_flags = vma->vm_flags;
	vma->vm_flags |= PW_VM_PFNMAP;
	ret = pw_apply_to_page_range(mm, addr, size, set_pfn, &r);
	if (ret) {
		/* undo: the entries installed so far (the zap releases no frame of ours) */
		pw_zap_range(mm, addr, addr + size);
		vma->vm_flags = old_flags;
		return ret;
	}
	if (!(old_flags & PW_VM_SHARED))
		vma->vm_pgoff = pfn; /* the kernel's COW-mapping rule */
	return 0;
}
