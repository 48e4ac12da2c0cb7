// SPDX-License-Identifier: MIT
/*
 * pagemap.c - /proc/PID/pagemap over an address space (pagewalk/pagemap.h),
 * after the kernel's pagemap_read(): a client of the callback walker, one
 * pte_run loop per PTE table, pmd_entry/pud_entry for huge leaves and
 * pte_hole for what has no table.
 */
#include <pagewalk/pagemap.h>
#include <pagewalk/pagewalk.h>

#include "helpers/pagemap_leaf.h"

struct pagemap {
	uint64_t *out;
	uint64_t start; /* address of out[0] */
	const struct pw_arena *arena;
	unsigned maxphyaddr;
};

static inline uint64_t vma_bits(const struct pw_vma *vma)
{
	return (vma->vm_flags & PW_VM_SOFTDIRTY) ? PW_PM_SOFT_DIRTY : 0;
}

/* The bits of a present leaf @v of @vma whose frame has metadata @f (the PFN aside). */
static inline uint64_t leaf_bits(const struct pw_vma *vma, uint64_t v, const struct pw_frame *f)
{
	uint64_t bits = vma_bits(vma) | PW_PM_PRESENT;

	if (v & PW_SW_SOFTDIRTY)
		bits |= PW_PM_SOFT_DIRTY;
	if (pm_frame_file(f, vma->vm_flags))
		bits |= PW_PM_FILE;
	if (pm_frame_mapcount(f) == 1)
		bits |= PW_PM_MMAP_EXCLUSIVE;
	return bits;
}

/* The entries of [addr, next) mapped by leaf @v at @level whose first frame is the one of @addr. */
static void fill_leaf(struct pagemap *pm, const struct pw_vma *vma, enum pw_level level,
		      uint64_t v, uint64_t addr, uint64_t next)
{
	uint64_t head = pm_leaf_pfn(level, v, pm->maxphyaddr);
	uint64_t pfn = head + ((addr & ~pw_level_mask(level)) >> PW_PAGE_SHIFT);
	const struct pw_frame *f = pw_frame_meta(pm->arena, head);
	uint64_t bits = leaf_bits(vma, v, f), *o = pm->out + ((addr - pm->start) >> PW_PAGE_SHIFT);

	for (; addr != next; addr += PW_PAGE_SIZE, pfn++)
		*o++ = bits | (pfn & PW_PM_PFRAME_MASK);
}

static int pagemap_pte_run(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct pagemap *pm = walk->private;
	const struct pw_vma *vma = walk->vma;
	uint64_t none = vma_bits(vma), mask = pw_frame_field_mask(pm->maxphyaddr);
	uint64_t *o = pm->out + ((addr - pm->start) >> PW_PAGE_SHIFT);

	for (; addr != next; addr += PW_PAGE_SIZE, pte++, o++) {
		uint64_t v = __atomic_load_n(&pte->val, __ATOMIC_RELAXED), pfn;

		if (!pm_leaf_mapped(v)) {
			if (pm_devx(v)) {
				const struct pw_frame *f = pw_frame_meta(pm->arena, pw_swp_offset(v));

				*o = none | PW_PM_SWAP | (pm_swap_frame(v) & PW_PM_PFRAME_MASK) |
				     ((v & PW_SWP_SOFTDIRTY) ? PW_PM_SOFT_DIRTY : 0) |
				     (pm_frame_file(f, vma->vm_flags) ? PW_PM_FILE : 0) |
				     (pm_frame_mapcount(f) == 1 ? PW_PM_MMAP_EXCLUSIVE : 0);
				continue;
			}
			*o = none; /* none, or data that is no swap entry here */
			continue;
		}
		pfn = (v & mask) >> PW_PAGE_SHIFT;
		*o = leaf_bits(vma, v, pw_frame_meta(pm->arena, pfn)) | (pfn & PW_PM_PFRAME_MASK);
	}
	return 0;
}

static void fill(struct pagemap *pm, uint64_t addr, uint64_t next, uint64_t bits)
{
	uint64_t *o = pm->out + ((addr - pm->start) >> PW_PAGE_SHIFT);

	for (; addr != next; addr += PW_PAGE_SIZE)
		*o++ = bits;
}

/*
 * An upper entry: a huge leaf is filled here; an entry the walker will not
 * descend through (not present, or malformed) reads as nothing mapped.
 */
static int upper_entry(uint64_t v, enum pw_level level, uint64_t addr, uint64_t next,
		       struct pw_mm_walk *walk)
{
	struct pagemap *pm = walk->private;

	if (pw_level_can_leaf(level) && pm_huge_leaf(v) &&
	    !pw_entry_rsvd(pw_mm_paging(walk->mm), level, v)) {
		fill_leaf(pm, walk->vma, level, v, addr, next);
		walk->action = PW_ACTION_CONTINUE;
	} else if (!(v & PW_P) || pw_entry_rsvd(pw_mm_paging(walk->mm), level, v)) {
		fill(pm, addr, next, vma_bits(walk->vma));
		walk->action = PW_ACTION_CONTINUE;
	}
	return 0;
}

static int pagemap_pmd_entry(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return upper_entry(pw_pmdp_get(pmd).val, PW_LEVEL_PMD, addr, next, walk);
}

static int pagemap_pud_entry(pw_pud_t *pud, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return upper_entry(pw_pudp_get(pud).val, PW_LEVEL_PUD, addr, next, walk);
}

static int pagemap_p4d_entry(pw_p4d_t *p4d, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return upper_entry(pw_p4dp_get(p4d).val, PW_LEVEL_P4D, addr, next, walk);
}

static int pagemap_pgd_entry(pw_pgd_t *pgd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return upper_entry(pw_pgdp_get(pgd).val, (enum pw_level)pw_root_level(pw_mm_paging(walk->mm)->levels),
			   addr, next, walk);
}

/* Holes: none upper entries inside a VMA, and ranges with no (walked) VMA. */
static int pagemap_pte_hole(uint64_t addr, uint64_t next, int depth, struct pw_mm_walk *walk)
{
	struct pagemap *pm = walk->private;

	while (addr != next) {
		const struct pw_vma *vma = walk->vma ? walk->vma : pw_find_vma(walk->mm, addr);
		uint64_t stop = next, b = 0;

		if (vma && vma->vm_start > addr) {
			stop = vma->vm_start < next ? vma->vm_start : next; /* before the VMA: 0 */
		} else if (vma) {
			stop = vma->vm_end - 1 < next - 1 ? vma->vm_end : next;
			b = vma_bits(vma);
		}
		fill(pm, addr, stop, b);
		addr = stop;
	}
	return 0;
}

/*
 * The kernel's pagemap_hugetlb_range(): once per huge page of a hugetlb
 * VMA, its 4 KiB entries as those of any huge leaf (present: the frame of
 * each page, FILE for the page cache's folio, MMAP_EXCLUSIVE when mapped
 * once); none or PROT_NONE: the VMA's bits only.
 */
static int pagemap_hugetlb_entry(pw_pte_t *pte, uint64_t hmask, uint64_t addr, uint64_t next,
				 struct pw_mm_walk *walk)
{
	struct pagemap *pm = walk->private;
	uint64_t v = __atomic_load_n(&pte->val, __ATOMIC_RELAXED);
	enum pw_level level = ~hmask + 1 == PW_PUD_SIZE ? PW_LEVEL_PUD : PW_LEVEL_PMD;

	if (pm_huge_leaf(v) && !pw_entry_rsvd(pw_mm_paging(walk->mm), level, v))
		fill_leaf(pm, walk->vma, level, v, addr, next);
	else
		fill(pm, addr, next, vma_bits(walk->vma));
	return 0;
}

static const struct pw_walk_ops pagemap_ops = {
	.hugetlb_entry = pagemap_hugetlb_entry,
	.pte_run = pagemap_pte_run,
	.pgd_entry = pagemap_pgd_entry,
	.p4d_entry = pagemap_p4d_entry,
	.pud_entry = pagemap_pud_entry,
	.pmd_entry = pagemap_pmd_entry,
	.pte_hole = pagemap_pte_hole,
	.walk_lock = PW_WALK_RDLOCK,
};

PW_API int64_t pw_pagemap_read(struct pw_mm *mm, uint64_t start, uint64_t nr, uint64_t *out)
{
	struct pagemap pm = { .out = out, .start = start };
	uint64_t top, end;
	int ret;

	if (!mm || !pw_mm_arena(mm) || (start & ~PW_PAGE_MASK))
		return -EINVAL;
	if (!nr)
		return 0;
	if (!out)
		return -EFAULT;
	top = pw_low_half_end(pw_mm_paging(mm)->levels);
	if (start >= top)
		return 0; /* past the end of user space: end of file */
	if (nr > (top - start) >> PW_PAGE_SHIFT)
		nr = (top - start) >> PW_PAGE_SHIFT;
	end = start + (nr << PW_PAGE_SHIFT);
	pm.arena = pw_mm_arena(mm);
	pm.maxphyaddr = pw_mm_paging(mm)->maxphyaddr;
	pw_mmap_read_lock(mm);
	ret = pw_walk_page_range(mm, start, end, &pagemap_ops, &pm);
	pw_mmap_read_unlock(mm);
	return ret < 0 ? ret : (int64_t)nr;
}
