// SPDX-License-Identifier: MIT
/*
 * pagemap_scan.c - the PAGEMAP_SCAN ioctl (pagewalk/pagemap.h), after the
 * kernel's do_pagemap_scan(): classify each page, keep those the masks
 * select, append them to the output as merged regions, stop when the
 * regions or max_pages run out and say where (walk_end), and with
 * PW_PM_SCAN_WP_MATCHING write-protect the written pages reported. A
 * client of the callback walker: test_walk per VMA, one pte_run loop per
 * PTE table, pmd_entry/pud_entry for huge leaves, pte_hole for unpopulated
 * ranges.
 *
 * "Written" is "writable" in a WP-allowed VMA (pagemap.h): write-protecting
 * is clearing RW, the next write faults and the fault handler makes the
 * leaf writable again. PTEs are changed under their table's lock with an
 * atomic and (the MMU may set A/D meanwhile); huge leaves, which change
 * under page_table_lock, with a compare-and-swap, so that a racing split
 * or fault wins and the leaf is then reported written again.
 */
#include <pagewalk/pagemap.h>
#include <pagewalk/pagewalk.h>

#include "helpers/pagemap_leaf.h"
#include "mm/notifier.h"
#include "mm/tlb.h"

#define SCAN_STOP 1 /* a callback's "stop here" (the kernel's -ENOSPC) */

struct scan {
	uint64_t flags, inverted, mask, anyof, ret_mask;
	uint64_t max_pages, found;
	struct pw_page_region *vec;
	uint64_t vec_len, nr;	 /* regions: room, used */
	uint64_t vma_category;	 /* of the VMA being walked */
	uint64_t hole_category;	 /* of its unpopulated pages */
	uint64_t walk_end;	 /* set when the walk stops early */
	bool want_file;
	bool wp_allowed;	 /* the VMA being walked is WP-allowed */
	bool holes;		 /* its unpopulated pages are interesting */
	const struct pw_arena *arena;
	unsigned maxphyaddr;
	struct pw_mmu_gather tlb; /* write-protected ranges, flushed at the end */
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

/* The categories of a mapped leaf @v (4 KiB or huge) whose first frame is @pfn. */
static inline uint64_t leaf_category(const struct scan *s, const struct pw_vma *vma, uint64_t v,
				     uint64_t pfn)
{
	uint64_t cat = s->vma_category | PW_PAGE_IS_PRESENT;

	if (!s->wp_allowed || (v & PW_RW))
		cat |= PW_PAGE_IS_WRITTEN;
	if (v & PW_SW_SOFTDIRTY)
		cat |= PW_PAGE_IS_SOFT_DIRTY;
	if (s->want_file && pm_frame_file(pw_frame_meta(s->arena, pfn), vma->vm_flags))
		cat |= PW_PAGE_IS_FILE;
	return cat;
}

/* The categories of a device-exclusive entry @v: the kernel's swap-entry ones. */
static inline uint64_t devx_category(const struct scan *s, const struct pw_vma *vma, uint64_t v)
{
	uint64_t cat = s->vma_category | PW_PAGE_IS_SWAPPED;

	if (!s->wp_allowed || (v & PW_SWP_WRITE))
		cat |= PW_PAGE_IS_WRITTEN;
	if (v & PW_SWP_SOFTDIRTY)
		cat |= PW_PAGE_IS_SOFT_DIRTY;
	if (s->want_file && pm_frame_file(pw_frame_meta(s->arena, pw_swp_offset(v)), vma->vm_flags))
		cat |= PW_PAGE_IS_FILE;
	return cat;
}

/* Should the reported page(s) with @cat be write-protected? */
static inline bool wants_wp(const struct scan *s, uint64_t cat)
{
	return (s->flags & PW_PM_SCAN_WP_MATCHING) && (cat & PW_PAGE_IS_WRITTEN);
}

/*
 * Nothing to report in PTE @v (or in the OR of several): no mapped leaf and
 * no swap-format entry (a device-exclusive one sets its type bits 63:59).
 */
static inline bool pm_skippable(uint64_t v)
{
	return !pm_leaf_mapped(v) && !(v >> PW_SWP_TYPE_SHIFT);
}

/* The OR of 8 consecutive PTEs, each read once: a cache line of a table, tested at once. */
static inline uint64_t or8(const pw_pte_t *pte)
{
#define LD(i) __atomic_load_n(&pte[i].val, __ATOMIC_RELAXED)
	return (LD(0) | LD(1)) | (LD(2) | LD(3)) | (LD(4) | LD(5)) | (LD(6) | LD(7));
#undef LD
}

static int scan_pte_run(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct scan *s = walk->private;
	uint64_t mask = pw_frame_field_mask(s->maxphyaddr), wp_start = 0, wp_end = 0;
	const bool holes = s->holes;
	int ret = 0;

	while (addr != next) {
		uint64_t v = __atomic_load_n(&pte->val, __ATOMIC_RELAXED), cat, end;

		if (pm_devx(v)) {
			/* reported, never write-protected (it is not a present PTE) */
			cat = devx_category(s, walk->vma, v);
			if (!interesting(s, cat))
				goto skip;
		} else if (!pm_leaf_mapped(v)) {
			/*
			 * Unpopulated (or not-present data): the VMA's categories.
			 * Most PTEs of a sparse table are none and not wanted:
			 * skip them in one tight loop.
			 */
			if (!holes) {
				pte++;
				addr += PW_PAGE_SIZE;
				/* a cache line of none PTEs at a time, then PTE by PTE up to the next leaf */
				while (next - addr >= 8 * PW_PAGE_SIZE && pm_skippable(or8(pte))) {
					pte += 8;
					addr += 8 * PW_PAGE_SIZE;
				}
				while (addr != next &&
				       pm_skippable(__atomic_load_n(&pte->val, __ATOMIC_RELAXED))) {
					pte++;
					addr += PW_PAGE_SIZE;
				}
				continue;
			}
			cat = s->hole_category;
		} else {
			cat = leaf_category(s, walk->vma, v, (v & mask) >> PW_PAGE_SHIFT);
			if (!interesting(s, cat))
				goto skip;
		}
		end = addr + PW_PAGE_SIZE;
		ret = output(s, cat, addr, &end);
		if (end == addr)
			break;
		if (wants_wp(s, cat) && pm_leaf_mapped(v) && (v & PW_RW)) {
			__atomic_fetch_and(&pte->val, ~(uint64_t)PW_RW, __ATOMIC_ACQ_REL);
			if (!wp_end)
				wp_start = addr;
			wp_end = end;
		}
		if (ret)
			break;
skip:
		pte++;
		addr += PW_PAGE_SIZE;
	}
	if (wp_end)
		pw_tlb_gather_add(&s->tlb, wp_start, wp_end - wp_start);
	return ret;
}

static int scan_huge(uint64_t *e, enum pw_level level, uint64_t addr, uint64_t next,
		     struct pw_mm_walk *walk)
{
	struct scan *s = walk->private;
	uint64_t v = __atomic_load_n(e, __ATOMIC_RELAXED), cat, end = next, size;
	int ret;

	if (!pm_huge_leaf(v) || pw_entry_rsvd(pw_mm_paging(walk->mm), level, v))
		return 0;
	walk->action = PW_ACTION_CONTINUE;
	cat = leaf_category(s, walk->vma, v, pm_leaf_pfn(level, v, s->maxphyaddr)) | PW_PAGE_IS_HUGE;
	if (!interesting(s, cat))
		return 0;
	ret = output(s, cat, addr, &end);
	if (end == addr || !wants_wp(s, cat) || !(v & PW_RW))
		return ret;
	/*
	 * Only a leaf reported whole is write-protected: the kernel splits a
	 * partly reported one, which needs page_table_lock and, here, the mmap
	 * lock for write. A part stays writable and reads written again.
	 */
	size = pw_level_size(level);
	if ((addr & (size - 1)) || end - addr != size)
		return ret;
	if (__atomic_compare_exchange_n(e, &v, v & ~(uint64_t)PW_RW, false, __ATOMIC_ACQ_REL,
					__ATOMIC_RELAXED)) {
		pw_tlb_gather_add(&s->tlb, addr, size);
	}
	return ret; /* lost the race (A/D set, a split, a fault): it stays written */
}

static int scan_pmd_entry(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return scan_huge(&pmd->val, PW_LEVEL_PMD, addr, next, walk);
}

static int scan_pud_entry(pw_pud_t *pud, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return scan_huge(&pud->val, PW_LEVEL_PUD, addr, next, walk);
}

/*
 * Unpopulated parts of a VMA have the VMA's categories, and in a
 * WP-allowed VMA WRITTEN (nothing write-protects a hole: the kernel's
 * "written state for unpopulated ptes" fix); gaps have none.
 */
static int scan_pte_hole(uint64_t addr, uint64_t next, int depth, struct pw_mm_walk *walk)
{
	struct scan *s = walk->private;

	(void)depth;
	if (!walk->vma || !s->holes)
		return 0;
	return output(s, s->hole_category, addr, &next);
}

/* WP-allowed (pagemap.h): a VMA that may be written, so that write-protect means something. */
static inline bool vma_wp_allowed(const struct pw_vma *vma)
{
	return (vma->vm_flags & PW_VM_WRITE) && !(vma->vm_flags & PW_VM_PFNMAP);
}

static int scan_test_walk(uint64_t start, uint64_t end, struct pw_mm_walk *walk)
{
	struct scan *s = walk->private;
	const struct pw_vma *vma = walk->vma;
	bool wp_allowed = vma_wp_allowed(vma);
	uint64_t cat = 0;

	(void)start;
	(void)end;
	if (!wp_allowed) {
		if (s->flags & PW_PM_SCAN_CHECK_WPASYNC)
			return -EPERM;
		if (s->flags & PW_PM_SCAN_WP_MATCHING)
			return 1; /* write-protect asked for: skip what cannot be */
	}
	if (vma->vm_flags & PW_VM_PFNMAP)
		return 1;
	if (wp_allowed)
		cat |= PW_PAGE_IS_WPALLOWED;
	if (vma->vm_flags & PW_VM_SOFTDIRTY)
		cat |= PW_PAGE_IS_SOFT_DIRTY;
	/* a VMA is skipped whole only when the masks require WPALLOWED and it lacks it */
	if (((cat ^ s->inverted) & s->mask & PW_PAGE_IS_WPALLOWED) != (s->mask & PW_PAGE_IS_WPALLOWED))
		return 1;
	s->vma_category = cat;
	s->hole_category = wp_allowed ? cat | PW_PAGE_IS_WRITTEN : cat;
	s->wp_allowed = wp_allowed;
	s->holes = interesting(s, s->hole_category);
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
	struct pw_mmu_notifier_range range;
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
		bool wp = s.flags & PW_PM_SCAN_WP_MATCHING;

		pw_mmap_read_lock(mm);
		if (wp) {
			pw_tlb_gather_init(&s.tlb, mm);
			pw_mmu_notifier_range_init(&range, PW_MMU_NOTIFY_PROTECTION_VMA, mm, arg->start, end);
			pw_mmu_notifier_invalidate_range_start(&range);
		}
		ret = pw_walk_page_range(mm, arg->start, end, &scan_ops, &s);
		if (wp) {
			pw_tlb_gather_flush(&s.tlb);
			pw_mmu_notifier_invalidate_range_end(&range);
		}
		pw_mmap_read_unlock(mm);
	}
	arg->walk_end = ret == SCAN_STOP ? s.walk_end : end;
	if (ret < 0)
		return ret;
	return (int64_t)s.nr;
}
