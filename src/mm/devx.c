// SPDX-License-Identifier: MIT
/*
 * devx.c - pw_make_device_exclusive_range() (pagewalk/devx.h): GUP, then per
 * page a reverse-map walk that replaces the CPU mappings of the frame.
 * The restore on CPU access is the fault handler's (fault.c).
 */
#include "mm/devx.h"
#include "mm/gup.h"
#include "mm/mm.h"
#include "mm/rmap.h"

void (*pw_devx_test_between)(struct pw_mm *mm, uint64_t addr, uint64_t pfn);

struct protect {
	struct pw_mm *mm;	/* the address space the device asked about */
	uint64_t addr, pfn;
	void *owner;
	bool valid;		/* the entry at (mm, addr) maps pfn and is exclusive now */
	struct pw_mmu_notifier_range range;
};

static void protect_prep(struct pw_mm *mm, uint64_t addr, void *arg)
{
	struct protect *p = arg;

	pw_mmu_notifier_range_init(&p->range, PW_MMU_NOTIFY_EXCLUSIVE, mm, addr, addr + PW_PAGE_SIZE);
	p->range.owner = p->owner;
	pw_mmu_notifier_invalidate_range_start(&p->range);
}

static void protect_done(struct pw_mm *mm, uint64_t addr, void *arg)
{
	struct protect *p = arg;

	pw_mmu_notifier_invalidate_range_end(&p->range);
}

/* One mapping of the frame, its PTE lock held: make it device-exclusive. */
static int protect_one(struct pw_rmap_hit *h, void *arg)
{
	struct protect *p = arg;
	uint64_t v = h->e.val;

	if (h->e.level != PW_LEVEL_PTE)
		return 0; /* a huge leaf (not split by our GUP): left to the CPU */
	if (!pw_is_device_exclusive(v)) {
		struct pw_frame *f = pw_frame_meta(h->mm->pt.arena, p->pfn);

		if (v & PW_D)
			__atomic_fetch_or(&f->flags, PW_FRAME_DIRTY, __ATOMIC_RELAXED);
		pw_entry_write(h->e.ptep, pw_mk_device_exclusive(p->pfn, v));
		pw_flush_tlb_range(h->mm, h->addr, h->addr + PW_PAGE_SIZE);
	}
	if (h->mm == p->mm && h->addr == p->addr)
		p->valid = true;
	return 0;
}

static const struct pw_rmap_ops protect_ops = {
	.one = protect_one,
	.prep = protect_prep,
	.done = protect_done,
};

PW_API long pw_make_device_exclusive_range(struct pw_mm *mm, uint64_t start, uint64_t end, void *owner,
					   uint64_t *frames)
{
	long n;
	int ret;

	if (!mm || !frames || start >= end || ((start | end) & ~PW_PAGE_MASK))
		return -EINVAL;
	ret = pw_gup_check(mm, start, (end - start) >> PW_PAGE_SHIFT, PW_FOLL_WRITE);
	if (ret)
		return ret;
	pw_mmap_read_lock(mm);
	/* The kernel's make_device_exclusive() refuses hugetlb folios
	 * (-EOPNOTSUPP): stop before the first hugetlb VMA of the range. */
	for (struct pw_vma *vma = pw_find_vma(mm, start); vma && vma->vm_start < end;
	     vma = pw_vma_next(mm, vma)) {
		if (!pw_vma_is_hugetlb(vma))
			continue;
		if (vma->vm_start <= start) {
			pw_mmap_read_unlock(mm);
			return -EOPNOTSUPP;
		}
		end = vma->vm_start;
		break;
	}
	n = pw_gup_locked(mm, start, (end - start) >> PW_PAGE_SHIFT, PW_FOLL_WRITE, frames);
	for (long i = 0; i < n; i++) {
		struct protect p = { .mm = mm, .addr = start + ((uint64_t)i << PW_PAGE_SHIFT),
				     .pfn = frames[i], .owner = owner };

		if (pw_devx_test_between)
			pw_devx_test_between(mm, p.addr, p.pfn);
		ret = pw_rmap_walk_locked(mm->pt.arena, p.pfn, &protect_ops, &p);
		if (ret || !p.valid) {
			/* The page at this address is no longer the one GUP returned. */
			pw_gup_ungrab(mm->pt.arena, frames[i], 0);
			frames[i] = 0;
		}
	}
	pw_mmap_read_unlock(mm);
	return n;
}
