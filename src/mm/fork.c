// SPDX-License-Identifier: MIT
/*
 * fork.c - pw_mm_fork(): duplicate an address space with copy-on-write.
 *
 * VMAs are copied first, then the tables of each VMA that needs its
 * entries copied (pt/copy.c: a huge leaf is split in the parent before it
 * is shared; see pw_mm_fork() in pagewalk/mm.h); a private hugetlb VMA's
 * huge leaves are shared whole (hugetlb.c, pw_hugetlb_copy_range()).
 */
#include "mm/mm.h"
#include "mm/rmap.h"

static int dup_vmas(struct pw_mm *parent, struct pw_mm *child)
{
	for (size_t i = 0; i < parent->nr_vmas; i++) {
		struct pw_vma *nv = malloc(sizeof(*nv));
		int ret;

		if (!nv)
			return -ENOMEM;
		*nv = *parent->vmas[i];
		nv->vm_mm = child;
		if (pw_hugetlb_vma_lock_alloc(nv)) {
			free(nv);
			return -ENOMEM;
		}
		nv->_it_left = nv->_it_right = NULL;
		ret = pw_anon_vma_fork(nv, parent->vmas[i]); /* a new anon_vma under the parent's */
		if (ret) {
			pw_vma_free(nv);
			return ret;
		}
		ret = pw_vma_insert(child, nv);
		if (ret) {
			pw_anon_vma_unlink(nv);
			pw_anon_vma_release(nv);
			pw_vma_free(nv);
			return ret;
		}
		if (nv->vm_file) {
			pw_i_mmap_lock_write(nv->vm_file);
			pw_file_vma_link_locked(nv);
			pw_i_mmap_unlock_write(nv->vm_file);
		}
	}
	return 0;
}

PW_API int pw_mm_fork(struct pw_mm *parent, struct pw_mm **out)
{
	struct pw_mm *child;
	struct pw_mmu_gather tlb;
	int ret;

	if (!parent || !parent->pt.arena || !out)
		return -EINVAL;
	ret = pw_mm_create(parent->pt.arena, &parent->pt.cfg, &child);
	if (ret)
		return ret;
	pw_mmap_write_lock(parent);
	pw_mmap_write_lock(child);
	/* odd from here: a lockless pin (gup_fast.c) that overlaps the copy backs off */
	__atomic_fetch_add(&parent->write_protect_seq, 1, __ATOMIC_SEQ_CST);
	ret = dup_vmas(parent, child);
	for (size_t i = 0; !ret && i < parent->nr_vmas; i++) {
		struct pw_vma *vma = parent->vmas[i];
		struct pw_mmu_notifier_range r;

		if (vma->vm_file && (vma->vm_flags & PW_VM_SHARED))
			continue; /* the child refaults from the page cache */
		bool cow = !(vma->vm_flags & PW_VM_SHARED);

		pw_tlb_gather_init(&tlb, parent);
		/* Private: write-protection; shared: device-exclusive entries given back. */
		pw_mmu_notifier_range_init(&r, PW_MMU_NOTIFY_PROTECTION_PAGE, parent, vma->vm_start,
					   vma->vm_end);
		pw_mmu_notifier_invalidate_range_start(&r);
		if (pw_vma_is_hugetlb(vma)) /* private: huge leaves shared copy-on-write, never split */
			ret = pw_hugetlb_copy_range(child, parent, child->vmas[i], vma);
		else
			ret = pw_copy_range(parent, child, vma->vm_start, vma->vm_end, cow, child->vmas[i], &tlb);
		pw_tlb_gather_flush(&tlb);
		pw_mmu_notifier_invalidate_range_end(&r);
	}
	__atomic_fetch_add(&parent->write_protect_seq, 1, __ATOMIC_SEQ_CST);
	pw_mmap_write_unlock(child);
	pw_mmap_write_unlock(parent);
	if (ret) {
		pw_mm_destroy(child);
		return ret;
	}
	*out = child;
	return 0;
}
