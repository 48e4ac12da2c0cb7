// SPDX-License-Identifier: MIT
/*
 * hmm.c - pw_range_fault() (pagewalk/hmm.h), after the kernel's
 * hmm_range_fault(): per page, read the entry without locks (the mmap lock
 * keeps the tables), decide from the request whether a fault is needed,
 * fault, and look again; stop with -EBUSY as soon as the notifier saw an
 * invalidation since the caller's pw_interval_read_begin().
 */
#include "mm/mm.h"

/* The request bits for page @i. */
static uint64_t request(const struct pw_hmm_range *r, uint64_t i)
{
	uint64_t req = (r->pfns[i] & r->pfn_flags_mask) | r->default_flags;

	return req & (PW_HMM_REQ_FAULT | PW_HMM_REQ_WRITE);
}

/*
 * Snapshot the page at @addr into *@out, or say which fault it needs:
 * return 0 (done), 1 (fault it, for write if *@write), or -errno.
 */
static int snap_one(struct pw_mm *mm, const struct pw_vma *vma, uint64_t addr, uint64_t req,
		    uint64_t *out, bool *write)
{
	struct pw_pt_entry e;
	int kind;
	bool want = req & PW_HMM_REQ_FAULT, want_w = want && (req & PW_HMM_REQ_WRITE);

	*write = want_w;
	if (!vma || !(vma->vm_flags & (PW_VM_READ | PW_VM_WRITE | PW_VM_EXEC)) ||
	    (vma->vm_flags & (PW_VM_PFNMAP | PW_VM_SUPERVISOR))) {
		if (want)
			return -EFAULT;
		*out = PW_HMM_PFN_ERROR;
		return 0;
	}
	if (want_w && !(vma->vm_flags & PW_VM_WRITE))
		return -EFAULT;
	kind = pw_pt_descend(&mm->pt, addr, PW_LEVEL_PTE, &e, NULL);
	if (kind == PW_PT_LEAF) {
		uint64_t pfn = pw_pt_leaf_pfn(&mm->pt, e.level, e.val) +
			       ((addr & ~pw_level_mask(e.level)) >> PW_PAGE_SHIFT);
		bool w = e.val & PW_RW;

		if (want_w && !w)
			return 1;
		*out = PW_HMM_PFN_VALID | (w ? PW_HMM_PFN_WRITE : 0) |
		       ((uint64_t)(9 * (unsigned)e.level) << PW_HMM_PFN_ORDER_SHIFT) | pfn;
		return 0;
	}
	if (kind == PW_PT_MALFORMED || kind < 0) {
		if (want)
			return -EFAULT;
		*out = PW_HMM_PFN_ERROR;
		return 0;
	}
	/* none, PROT_NONE entry (the VMA allows access: it is changing), device-exclusive */
	if (want)
		return 1;
	*out = 0;
	return 0;
}

PW_API int pw_range_fault(struct pw_hmm_range *r)
{
	struct pw_interval_notifier *ni;
	struct pw_mm *mm;

	if (!r || !r->notifier || !r->pfns || !(mm = r->notifier->mm) || !mm->pt.arena)
		return -EINVAL;
	ni = r->notifier;
	if (r->start >= r->end || ((r->start | r->end) & ~PW_PAGE_MASK) || r->start < ni->start ||
	    r->end > ni->end)
		return -EINVAL;
	pw_assert_mmap_locked(mm);
	for (uint64_t addr = r->start, i = 0, faults = 0; addr < r->end;) {
		struct pw_vma *vma;
		uint64_t out;
		bool write;
		int ret;

		if (pw_interval_read_retry(ni, r->notifier_seq))
			return -EBUSY;
		vma = pw_vma_lookup(mm, addr);
		ret = snap_one(mm, vma, addr, request(r, i), &out, &write);
		if (ret < 0)
			return ret;
		if (ret == 1) {
			if (++faults > 64)
				return -EFAULT; /* something keeps undoing the fault here */
			ret = pw_handle_mm_fault(mm, addr, PW_FAULT_USER | (write ? PW_FAULT_WRITE : 0));
			if (ret)
				return ret == -ENOMEM ? -ENOMEM : -EFAULT;
			continue; /* look at the page again */
		}
		r->pfns[i] = out;
		addr += PW_PAGE_SIZE;
		i++;
		faults = 0;
	}
	return pw_interval_read_retry(ni, r->notifier_seq) ? -EBUSY : 0;
}
