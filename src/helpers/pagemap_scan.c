// SPDX-License-Identifier: MIT
/*
 * pagemap_scan.c - the PAGEMAP_SCAN ioctl (pagewalk/pagemap.h), after the
 * kernel's do_pagemap_scan(): classify each page, keep those the masks
 * select, append them to the output as merged regions, stop when the
 * regions or max_pages run out and say where (walk_end). A client of the
 * callback walker: test_walk per VMA, one pte_run loop per PTE table,
 * pmd_entry/pud_entry for huge leaves, pte_hole for unpopulated ranges.
 */
#include <pagewalk/pagemap.h>
#include <pagewalk/pagewalk.h>

#include "helpers/pagemap_leaf.h"

#define SCAN_STOP 1 /* a callback's "stop here" (the kernel's -ENOSPC) */

struct scan {
	uint64_t flags, inverted, mask, anyof, ret_mask;
	uint64_t max_pages, found;
	struct pw_page_region *vec;
	uint64_t vec_len, nr;	 /* regions: room, used */
	uint64_t vma_category;	 /* of the VMA being walked */
	uint64_t walk_end;	 /* set when the walk stops early */
	bool want_file;
	const struct pw_arena *arena;
	unsigned maxphyaddr;
};

static inline bool interesting(const struct scan *s, uint64_t cat)
{
	cat ^= s->inverted;
	if ((cat & s->mask) != s->mask)
		return false;
	return !s->anyof || (cat & s->anyof);
}

/* Append [addr, end) with @cat; false if it needs a new region and there is no room. */
static inline bool push(struct scan *s, uint64_t cat, uint64_t addr, uint64_t end)
{
	struct pw_page_region *r = s->nr ? &s->vec[s->nr - 1] : NULL;

	if (r && r->end == addr && r->categories == cat) {
		r->end = end;
		return true;
	}
	if (s->nr == s->vec_len)
		return false;
	r = &s->vec[s->nr++];
	r->start = addr;
	r->end = end;
	r->categories = cat;
	return true;
}

/*
 * Report [addr, *end) with @cat, cut to what max_pages leaves; 0 to go on,
 * SCAN_STOP when the output is full (*end says how far it got).
 */
static int output(struct scan *s, uint64_t cat, uint64_t addr, uint64_t *end)
{
	uint64_t n = (*end - addr) >> PW_PAGE_SHIFT;
	int ret = 0;

	if (!s->vec_len)
		return 0; /* no output: nothing is counted, the walk goes on */
	cat &= s->ret_mask;
	if (n > s->max_pages - s->found) {
		n = s->max_pages - s->found;
		*end = addr + (n << PW_PAGE_SHIFT);
		ret = SCAN_STOP;
	}
	if (n && !push(s, cat, addr, *end)) {
		*end = addr;
		n = 0;
		ret = SCAN_STOP;
	} else if (!n) {
		*end = addr;
	}
	s->found += n;
	if (ret)
		s->walk_end = *end;
	return ret;
}

static inline uint64_t frame_category(const struct scan *s, const struct pw_vma *vma, uint64_t pfn)
{
	if (s->want_file && pm_frame_file(pw_frame_meta(s->arena, pfn), vma->vm_flags))
		return PW_PAGE_IS_FILE;
	return 0;
}

static int scan_pte_run(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct scan *s = walk->private;
	uint64_t mask = pw_frame_field_mask(s->maxphyaddr);

	for (; addr != next; addr += PW_PAGE_SIZE, pte++) {
		uint64_t v = __atomic_load_n(&pte->val, __ATOMIC_RELAXED), cat = s->vma_category, end;
		int ret;

		if (pm_leaf_mapped(v)) {
			cat |= PW_PAGE_IS_PRESENT | PW_PAGE_IS_WRITTEN;
			if (v & PW_SW_SOFTDIRTY)
				cat |= PW_PAGE_IS_SOFT_DIRTY;
			cat |= frame_category(s, walk->vma, (v & mask) >> PW_PAGE_SHIFT);
		}
		if (!interesting(s, cat))
			continue;
		end = addr + PW_PAGE_SIZE;
		ret = output(s, cat, addr, &end);
		if (ret)
			return ret;
	}
	return 0;
}

static int scan_huge(uint64_t v, enum pw_level level, uint64_t addr, uint64_t next,
		     struct pw_mm_walk *walk)
{
	struct scan *s = walk->private;
	uint64_t cat = s->vma_category | PW_PAGE_IS_PRESENT | PW_PAGE_IS_HUGE | PW_PAGE_IS_WRITTEN;

	if (!pm_huge_leaf(v) || pw_entry_rsvd(pw_mm_paging(walk->mm), level, v))
		return 0;
	walk->action = PW_ACTION_CONTINUE;
	if (v & PW_SW_SOFTDIRTY)
		cat |= PW_PAGE_IS_SOFT_DIRTY;
	cat |= frame_category(s, walk->vma, pm_leaf_pfn(level, v, s->maxphyaddr));
	if (!interesting(s, cat))
		return 0;
	return output(s, cat, addr, &next);
}

static int scan_pmd_entry(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return scan_huge(pw_pmdp_get(pmd).val, PW_LEVEL_PMD, addr, next, walk);
}

static int scan_pud_entry(pw_pud_t *pud, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return scan_huge(pw_pudp_get(pud).val, PW_LEVEL_PUD, addr, next, walk);
}

/* Unpopulated parts of a VMA have the VMA's categories only; gaps have none. */
static int scan_pte_hole(uint64_t addr, uint64_t next, int depth, struct pw_mm_walk *walk)
{
	struct scan *s = walk->private;

	if (!walk->vma || !interesting(s, s->vma_category))
		return 0;
	return output(s, s->vma_category, addr, &next);
}

static int scan_test_walk(uint64_t start, uint64_t end, struct pw_mm_walk *walk)
{
	struct scan *s = walk->private;
	const struct pw_vma *vma = walk->vma;
	uint64_t cat = 0;

	/* No VMA has asynchronous write-protect (no userfaultfd here). */
	if (s->flags & PW_PM_SCAN_CHECK_WPASYNC)
		return -EPERM;
	if (s->flags & PW_PM_SCAN_WP_MATCHING)
		return 1;
	if (vma->vm_flags & PW_VM_PFNMAP)
		return 1;
	if (vma->vm_flags & PW_VM_SOFTDIRTY)
		cat |= PW_PAGE_IS_SOFT_DIRTY;
	/* a VMA is skipped whole only when the masks require WPALLOWED */
	if (((cat ^ s->inverted) & s->mask & PW_PAGE_IS_WPALLOWED) != (s->mask & PW_PAGE_IS_WPALLOWED))
		return 1;
	s->vma_category = cat;
	return 0;
}

static const struct pw_walk_ops scan_ops = {
	.pte_run = scan_pte_run,
	.pmd_entry = scan_pmd_entry,
	.pud_entry = scan_pud_entry,
	.pte_hole = scan_pte_hole,
	.test_walk = scan_test_walk,
	.walk_lock = PW_WALK_RDLOCK,
};

PW_API int64_t pw_pagemap_scan(struct pw_mm *mm, struct pw_pm_scan_arg *arg)
{
	struct scan s = { 0 };
	uint64_t top, end;
	int ret = 0;

	if (!mm || !pw_mm_arena(mm))
		return -EINVAL;
	if (!arg)
		return -EFAULT; /* the kernel's copy_from_user() of the argument */
	if (arg->size != sizeof(*arg))
		return -EINVAL;
	if (arg->flags & ~PW_PM_SCAN_FLAGS)
		return -EINVAL;
	if ((arg->category_inverted | arg->category_mask | arg->category_anyof_mask |
	     arg->return_mask) & ~PW_PM_SCAN_CATEGORIES)
		return -EINVAL;
	if (arg->start & ~PW_PAGE_MASK)
		return -EINVAL;
	top = pw_low_half_end(pw_mm_paging(mm)->levels);
	if (arg->end < arg->start || arg->end > top) /* access_ok() */
		return -EFAULT;
	if (!arg->vec && arg->vec_len)
		return -EINVAL;
	end = (arg->end + PW_PAGE_SIZE - 1) & PW_PAGE_MASK;

	s.flags = arg->flags;
	s.inverted = arg->category_inverted;
	s.mask = arg->category_mask;
	s.anyof = arg->category_anyof_mask;
	s.ret_mask = arg->return_mask;
	s.max_pages = arg->max_pages ? arg->max_pages : UINT64_MAX;
	s.vec = arg->vec;
	s.vec_len = arg->vec_len;
	s.want_file = (s.mask | s.anyof | s.ret_mask) & PW_PAGE_IS_FILE;
	s.arena = pw_mm_arena(mm);
	s.maxphyaddr = pw_mm_paging(mm)->maxphyaddr;
	if (arg->start != end) {
		pw_mmap_read_lock(mm);
		ret = pw_walk_page_range(mm, arg->start, end, &scan_ops, &s);
		pw_mmap_read_unlock(mm);
	}
	arg->walk_end = ret == SCAN_STOP ? s.walk_end : end;
	if (ret < 0)
		return ret;
	return (int64_t)s.nr;
}
