// SPDX-License-Identifier: MIT
/*
 * mincore.c - mincore(2) over an address space (pagewalk/smaps.h), after
 * the kernel's mm/mincore.c: a client of the callback walker.
 */
#include <string.h>

#include <pagewalk/file.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/smaps.h>

#include "helpers/pagemap_leaf.h"

struct mincore {
	uint8_t *vec;
	uint64_t start; /* address of vec[0] */
};

/* Pages of [addr, next) of @vma that no leaf maps: the page cache answers for files. */
static void unmapped(struct mincore *mc, const struct pw_vma *vma, uint64_t addr, uint64_t next)
{
	uint8_t *o = mc->vec + ((addr - mc->start) >> PW_PAGE_SHIFT);

	if (!vma || !vma->vm_file) {
		memset(o, 0, (next - addr) >> PW_PAGE_SHIFT);
		return;
	}
	for (uint64_t idx = vma->vm_pgoff + ((addr - vma->vm_start) >> PW_PAGE_SHIFT); addr != next;
	     addr += PW_PAGE_SIZE, idx++)
		*o++ = pw_file_page(vma->vm_file, idx) != 0;
}

static int mc_pte_run(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct mincore *mc = walk->private;

	for (; addr != next; addr += PW_PAGE_SIZE, pte++) {
		uint64_t v = __atomic_load_n(&pte->val, __ATOMIC_RELAXED);

		/* a device-exclusive page is resident, as the kernel's non-swap entries */
		if (pm_leaf_mapped(v) || pw_is_device_exclusive(v))
			mc->vec[(addr - mc->start) >> PW_PAGE_SHIFT] = 1;
		else
			unmapped(mc, walk->vma, addr, addr + PW_PAGE_SIZE);
	}
	return 0;
}

static int mc_upper(uint64_t v, enum pw_level level, uint64_t addr, uint64_t next,
		    struct pw_mm_walk *walk)
{
	struct mincore *mc = walk->private;

	if (pw_level_can_leaf(level) && pm_huge_leaf(v)) {
		memset(mc->vec + ((addr - mc->start) >> PW_PAGE_SHIFT), 1, (next - addr) >> PW_PAGE_SHIFT);
		walk->action = PW_ACTION_CONTINUE;
	} else if (!(v & PW_P) || pw_entry_rsvd(pw_mm_paging(walk->mm), level, v)) {
		unmapped(mc, walk->vma, addr, next); /* not descended */
		walk->action = PW_ACTION_CONTINUE;
	}
	return 0;
}

static int mc_pmd_entry(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return mc_upper(pw_pmdp_get(pmd).val, PW_LEVEL_PMD, addr, next, walk);
}

static int mc_pud_entry(pw_pud_t *pud, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return mc_upper(pw_pudp_get(pud).val, PW_LEVEL_PUD, addr, next, walk);
}

static int mc_p4d_entry(pw_p4d_t *p4d, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return mc_upper(pw_p4dp_get(p4d).val, PW_LEVEL_P4D, addr, next, walk);
}

static int mc_pgd_entry(pw_pgd_t *pgd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return mc_upper(pw_pgdp_get(pgd).val,
			(enum pw_level)pw_root_level(pw_mm_paging(walk->mm)->levels), addr, next, walk);
}

static int mc_pte_hole(uint64_t addr, uint64_t next, int depth, struct pw_mm_walk *walk)
{
	unmapped(walk->private, walk->vma, addr, next);
	return 0;
}

/* The kernel's mincore_hugetlb(): a huge page is resident iff its entry is not none. */
static int mc_hugetlb_entry(pw_pte_t *pte, uint64_t hmask, uint64_t addr, uint64_t next,
			    struct pw_mm_walk *walk)
{
	struct mincore *mc = walk->private;
	uint64_t v = __atomic_load_n(&pte->val, __ATOMIC_RELAXED);

	memset(mc->vec + ((addr - mc->start) >> PW_PAGE_SHIFT), v != 0, (next - addr) >> PW_PAGE_SHIFT);
	return 0;
}

static const struct pw_walk_ops mincore_ops = {
	.hugetlb_entry = mc_hugetlb_entry,
	.pgd_entry = mc_pgd_entry,
	.p4d_entry = mc_p4d_entry,
	.pud_entry = mc_pud_entry,
	.pmd_entry = mc_pmd_entry,
	.pte_run = mc_pte_run,
	.pte_hole = mc_pte_hole,
	.walk_lock = PW_WALK_RDLOCK,
};

PW_API int pw_mincore(struct pw_mm *mm, uint64_t start, uint64_t len, uint8_t *vec)
{
	struct mincore mc = { .vec = vec, .start = start };
	uint64_t end, a;
	struct pw_vma *vma;
	int ret = 0;

	if (!mm || !pw_mm_arena(mm) || (start & ~PW_PAGE_MASK))
		return -EINVAL;
	if (!len)
		return 0;
	if (len > pw_low_half_end(pw_mm_paging(mm)->levels) ||
	    start > pw_low_half_end(pw_mm_paging(mm)->levels) - len)
		return -ENOMEM; /* access_ok() */
	if (!vec)
		return -EFAULT;
	end = (start + len + PW_PAGE_SIZE - 1) & PW_PAGE_MASK;
	pw_mmap_read_lock(mm);
	/* Every page must be in a VMA; checked before anything is written. */
	for (a = start; a < end; a = vma->vm_end) {
		vma = pw_vma_lookup(mm, a);
		if (!vma) {
			ret = -ENOMEM;
			break;
		}
	}
	if (!ret)
		ret = pw_walk_page_range(mm, start, end, &mincore_ops, &mc);
	pw_mmap_read_unlock(mm);
	return ret;
}
