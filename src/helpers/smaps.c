// SPDX-License-Identifier: MIT
/*
 * smaps.c - /proc/PID/smaps and smaps_rollup (pagewalk/smaps.h), after the
 * kernel's smaps_account(): a client of the callback walker, one pte_run
 * loop per PTE table and pmd_entry/pud_entry for huge leaves.
 */
#include <string.h>

#include <pagewalk/pagewalk.h>
#include <pagewalk/smaps.h>

#include "helpers/pagemap_leaf.h"

struct smaps {
	struct pw_smaps_stats *st;
	uint64_t pss_anon, pss_file, pss_shmem, pss_dirty; /* fixed point */
	const struct pw_arena *arena;
	unsigned maxphyaddr;
};

static void accumulate(struct smaps *m, bool anon, bool shmem, uint64_t size, uint64_t pss,
		       bool dirty, bool private)
{
	struct pw_smaps_stats *st = m->st;

	st->pss_fp += pss;
	if (anon)
		m->pss_anon += pss;
	else if (shmem)
		m->pss_shmem += pss;
	else
		m->pss_file += pss;
	if (dirty) {
		m->pss_dirty += pss;
		*(private ? &st->private_dirty : &st->shared_dirty) += size;
	} else {
		*(private ? &st->private_clean : &st->shared_clean) += size;
	}
}

/* One mapped leaf: @nr 4 KiB pages of the frame block whose head is @pfn. */
static void account(struct smaps *m, const struct pw_vma *vma, uint64_t pfn, uint64_t nr,
		    uint64_t v, enum pw_level level)
{
	const struct pw_frame *f = pw_frame_meta(m->arena, pfn);
	struct pw_smaps_stats *st = m->st;
	uint64_t size = nr << PW_PAGE_SHIFT;
	bool anon, shmem, dirty;
	int32_t mapcount;

	if (!f || (__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & PW_FRAME_RESERVED))
		return; /* no page behind it (vm_normal_page() is NULL) */
	anon = !pm_frame_file(f, vma->vm_flags);
	shmem = !anon && (__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & PW_FRAME_ANON);
	dirty = (v & PW_D) || (__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & PW_FRAME_DIRTY);
	if (level > PW_LEVEL_PTE) {
		if (anon)
			st->anon_huge += size;
		else if (level == PW_LEVEL_PMD && !shmem)
			st->file_pmd_mapped += size;
	}
	if (anon)
		st->anonymous += size;
	st->rss += size;
	if (v & PW_A)
		st->referenced += size;
	if (__atomic_load_n(&f->refcount, __ATOMIC_RELAXED) == 1) {
		/* one reference: mapped exactly once, all private */
		accumulate(m, anon, shmem, size, size << PW_PSS_SHIFT, dirty, true);
		return;
	}
	mapcount = pm_frame_mapcount(f); /* the head's, for every page of a huge leaf */
	for (uint64_t i = 0; i < nr; i++) {
		uint64_t pss = PW_PAGE_SIZE << PW_PSS_SHIFT;

		if (mapcount >= 2)
			pss /= (uint64_t)mapcount;
		accumulate(m, anon, shmem, PW_PAGE_SIZE, pss, dirty, mapcount < 2);
	}
}

static int smaps_pte_run(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct smaps *m = walk->private;
	uint64_t mask = pw_frame_field_mask(m->maxphyaddr);

	for (; addr != next; addr += PW_PAGE_SIZE, pte++) {
		uint64_t v = __atomic_load_n(&pte->val, __ATOMIC_RELAXED);

		if (pm_leaf_mapped(v)) {
			account(m, walk->vma, (v & mask) >> PW_PAGE_SHIFT, 1, v, PW_LEVEL_PTE);
		} else if (unlikely(pw_is_device_exclusive(v))) {
			/* still mapped (the kernel's pfn swap entry): Rss, with its A and D */
			uint64_t as = ((v & PW_SWP_DIRTY) ? PW_D : 0) | ((v & PW_SWP_YOUNG) ? PW_A : 0);

			account(m, walk->vma, pw_swp_offset(v), 1, as, PW_LEVEL_PTE);
		}
	}
	return 0;
}

static int smaps_huge(uint64_t v, enum pw_level level, uint64_t addr, uint64_t next,
		      struct pw_mm_walk *walk)
{
	struct smaps *m = walk->private;

	if (!pm_huge_leaf(v) || pw_entry_rsvd(pw_mm_paging(walk->mm), level, v))
		return 0;
	walk->action = PW_ACTION_CONTINUE;
	/* a VMA holds whole leaves (they are split at its edges) */
	account(m, walk->vma, pm_leaf_pfn(level, v, m->maxphyaddr), (next - addr) >> PW_PAGE_SHIFT,
		v, level);
	return 0;
}

static int smaps_pmd_entry(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return smaps_huge(pw_pmdp_get(pmd).val, PW_LEVEL_PMD, addr, next, walk);
}

static int smaps_pud_entry(pw_pud_t *pud, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return smaps_huge(pw_pudp_get(pud).val, PW_LEVEL_PUD, addr, next, walk);
}

/* A hugetlb page (the kernel's smaps_hugetlb_range()): counted apart from Rss. */
static int smaps_hugetlb_entry(pw_pte_t *pte, uint64_t hmask, uint64_t addr, uint64_t next,
			       struct pw_mm_walk *walk)
{
	struct smaps *m = walk->private;
	uint64_t v = __atomic_load_n(&pte->val, __ATOMIC_RELAXED);
	const struct pw_frame *f;

	if (!(v & PW_P))
		return 0;
	f = pw_frame_meta(m->arena, pm_leaf_pfn(hmask == ~(pw_level_size(PW_LEVEL_PUD) - 1) ?
							PW_LEVEL_PUD : PW_LEVEL_PMD,
						v, m->maxphyaddr));
	if (!f)
		return 0;
	*(pm_frame_mapcount(f) >= 2 ? &m->st->shared_hugetlb : &m->st->private_hugetlb) += next - addr;
	return 0;
}

static const struct pw_walk_ops smaps_ops = {
	.pte_run = smaps_pte_run,
	.hugetlb_entry = smaps_hugetlb_entry,
	.pmd_entry = smaps_pmd_entry,
	.pud_entry = smaps_pud_entry,
	.walk_lock = PW_WALK_RDLOCK,
};

/* Add one VMA's figures to @m (fixed-point sums stay unshifted). */
static int gather(struct smaps *m, struct pw_vma *vma)
{
	m->st->size += vma->vm_end - vma->vm_start;
	if (vma->vm_flags & PW_VM_PFNMAP)
		return 0;
	return pw_walk_page_vma(vma, &smaps_ops, m);
}

static void finish(struct smaps *m)
{
	m->st->pss = m->st->pss_fp >> PW_PSS_SHIFT;
	m->st->pss_anon = m->pss_anon >> PW_PSS_SHIFT;
	m->st->pss_file = m->pss_file >> PW_PSS_SHIFT;
	m->st->pss_shmem = m->pss_shmem >> PW_PSS_SHIFT;
	m->st->pss_dirty = m->pss_dirty >> PW_PSS_SHIFT;
}

static void smaps_init(struct smaps *m, struct pw_mm *mm, struct pw_smaps_stats *st)
{
	memset(st, 0, sizeof(*st));
	*m = (struct smaps){ .st = st, .arena = pw_mm_arena(mm),
			     .maxphyaddr = pw_mm_paging(mm)->maxphyaddr };
}

PW_API int pw_smaps(struct pw_vma *vma, struct pw_smaps_stats *st)
{
	struct smaps m;
	int ret;

	if (!vma || !st || !vma->vm_mm || !pw_mm_arena(vma->vm_mm))
		return -EINVAL;
	smaps_init(&m, vma->vm_mm, st);
	ret = gather(&m, vma);
	finish(&m);
	return ret;
}

PW_API int pw_smaps_rollup(struct pw_mm *mm, struct pw_smaps_stats *st)
{
	struct pw_vma *vma;
	struct smaps m;
	int ret = 0;

	if (!mm || !st || !pw_mm_arena(mm))
		return -EINVAL;
	smaps_init(&m, mm, st);
	pw_mmap_read_lock(mm);
	pw_for_each_vma(mm, vma) {
		ret = gather(&m, vma);
		if (ret)
			break;
	}
	pw_mmap_read_unlock(mm);
	finish(&m);
	return ret;
}
