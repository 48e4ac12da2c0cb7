// SPDX-License-Identifier: MIT
/*
 * dirty.c - write-protect and clean-record of shared file mappings through
 * the reverse map (pagewalk/dirty.h), after mm/mapping_dirty_helpers.c.
 *
 * Both helpers are clients of the walker: a const ops table whose pte_run
 * loops over each PTE table's run under its lock, and
 * pw_walk_page_mapping(). Entries change with atomic read-modify-writes,
 * because pw_access() on other threads sets Accessed and Dirty with atomic
 * ORs while we hold only the PTE lock: a Dirty bit set between our read
 * and our write would otherwise be lost.
 *
 * Flushing: each VMA gets a notifier range (pre_vma .. post_vma) and a
 * flush window, the smallest range of addresses whose entries changed,
 * flushed once in post_vma. If another batched change of the same mm is
 * pending meanwhile (a concurrent helper may have skipped an entry we
 * changed and not yet flushed, or the reverse), the whole walked range is
 * flushed instead, as the kernel's mm_tlb_flush_nested() case does.
 */
#include <pagewalk/dirty.h>
#include <pagewalk/pagewalk.h>

#include "core/core.h"
#include "mm/file.h"
#include "mm/notifier.h"
#include "mm/tlb.h"

struct wp_walk {
	struct pw_mmu_notifier_range range;
	struct pw_mmu_gather tlb;
	uint64_t total;
	struct pw_file *file;
};

struct clean_walk {
	struct wp_walk base;
	uint64_t bitmap_pgoff;
	uint64_t *bitmap;
	uint64_t start, end;
	uint64_t nr_wp; /* the fused pass: entries made read-only */
	uint64_t skipped; /* the accessed-bit pass: PTE tables not read */
};

/*
 * A device-exclusive entry (pagewalk/devx.h) is no present PTE, but it
 * stands for one: its write permission and dirty state are in its own
 * bits (PW_SWP_WRITE, PW_SWP_DIRTY), which the helpers clear as they clear
 * RW and D, so that the restored PTE is read-only / clean. No TLB holds it.
 */
static bool devx_clear(uint64_t *e, uint64_t v, uint64_t bits)
{
	if (!pw_is_device_exclusive(v) || !(v & bits))
		return false;
	return __atomic_fetch_and(e, ~bits, __ATOMIC_ACQ_REL) & bits;
}

/* Write-protect one PTE; true if it was writable. */
static inline bool wp_one(uint64_t *e)
{
	/* relaxed: a PTE points at data, not at a table we would follow */
	uint64_t v = __atomic_load_n(e, __ATOMIC_RELAXED);

	if (unlikely(v && !(v & PW_P)))
		return devx_clear(e, v, PW_SWP_WRITE);
	if (likely((v & (PW_P | PW_RW)) != (PW_P | PW_RW)))
		return false;
	return __atomic_fetch_and(e, ~(uint64_t)PW_RW, __ATOMIC_ACQ_REL) & PW_RW;
}

/* Clean one PTE; true if it was dirty (the caller records it). */
static inline bool clean_one(uint64_t *e)
{
	uint64_t v = __atomic_load_n(e, __ATOMIC_RELAXED);

	if (unlikely(v && !(v & PW_P)))
		return devx_clear(e, v, PW_SWP_DIRTY);
	if (likely((v & (PW_P | PW_D)) != (PW_P | PW_D)))
		return false;
	return __atomic_fetch_and(e, ~(uint64_t)PW_D, __ATOMIC_ACQ_REL) & PW_D;
}

static void record(struct clean_walk *cw, const struct pw_vma *vma, uint64_t addr)
{
	uint64_t bit = ((addr - vma->vm_start) >> PW_PAGE_SHIFT) + vma->vm_pgoff - cw->bitmap_pgoff;

	cw->base.total++;
	pw_tlb_gather_add(&cw->base.tlb, addr, PW_PAGE_SIZE);
	cw->bitmap[bit / 64] |= 1ULL << (bit % 64);
	if (bit < cw->start)
		cw->start = bit;
	if (bit + 1 > cw->end)
		cw->end = bit + 1;
}

/*
 * The PTEs of one PTE table, in one tight loop (pte_run: the walk holds the
 * table's lock; the kernel calls a pte_entry per PTE, with the same result).
 */
static int wp_pte_run(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct wp_walk *w = walk->private;
	uint64_t *e = &pte->val;

	for (; addr != next; addr += PW_PAGE_SIZE, e++) {
		if (wp_one(e)) {
			w->total++;
			pw_tlb_gather_add(&w->tlb, addr, PW_PAGE_SIZE);
		}
	}
	return 0;
}

static int clean_pte_run(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct clean_walk *cw = walk->private;
	uint64_t *e = &pte->val;

	for (; addr != next; addr += PW_PAGE_SIZE, e++)
		if (clean_one(e))
			record(cw, walk->vma, addr);
	return 0;
}

/*
 * The fused pass: write-protect and clean each PTE with one atomic AND,
 * reading each PTE table once instead of twice.
 */
static int wp_clean_pte_run(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct clean_walk *cw = walk->private;
	uint64_t *e = &pte->val;

	for (; addr != next; addr += PW_PAGE_SIZE, e++) {
		uint64_t v = __atomic_load_n(e, __ATOMIC_RELAXED), old;

		if (unlikely(v && !(v & PW_P)) && pw_is_device_exclusive(v)) {
			if (devx_clear(e, v, PW_SWP_WRITE))
				cw->nr_wp++;
			if (devx_clear(e, v, PW_SWP_DIRTY))
				record(cw, walk->vma, addr);
			continue;
		}
		if (likely(!(v & PW_P) || !(v & (PW_RW | PW_D))))
			continue;
		old = __atomic_fetch_and(e, ~(uint64_t)(PW_RW | PW_D), __ATOMIC_ACQ_REL);
		if (old & PW_RW) {
			cw->nr_wp++;
			pw_tlb_gather_add(&cw->base.tlb, addr, PW_PAGE_SIZE);
		}
		if (old & PW_D)
			record(cw, walk->vma, addr);
	}
	return 0;
}

/*
 * Huge entries are never split (their dirty state would be lost), never
 * changed and never counted: skipped, and the skip is counted on the file.
 */
static int skip_huge(uint64_t v, struct pw_mm_walk *walk)
{
	struct wp_walk *w = walk->private;

	if (v & PW_PS) {
		pw_file_count_huge_skipped(w->file);
		walk->action = PW_ACTION_CONTINUE;
	}
	return 0;
}

static int wp_clean_pmd_entry(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return skip_huge(pw_pmdp_get(pmd).val, walk);
}

/*
 * The accessed-bit pass (pw_clean_record_young_shared_mapping_range()): a
 * PTE table whose PMD entry has A clear was not reached by any MMU walk,
 * any pw_access() or any fault since A was cleared here, so none of its
 * PTEs can have become dirty: skip it. Otherwise clear A (and flush the
 * span, so that every later access walks the tables again and sets it)
 * and clean its PTEs. Only a PMD entry whose whole 2 MiB span lies in the
 * walk and in this VMA is skipped or cleared: a span shared with another
 * VMA or another range would hide that one's dirty pages.
 */
static int young_pmd_entry(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct clean_walk *cw = walk->private;
	uint64_t v = pw_pmdp_get(pmd).val;

	if (v & PW_PS)
		return skip_huge(v, walk);
	if (!(v & PW_P) || (addr & ~pw_level_mask(PW_LEVEL_PMD)) ||
	    next - addr != pw_level_size(PW_LEVEL_PMD))
		return 0;
	if (!(v & PW_A)) {
		cw->skipped++;
		walk->action = PW_ACTION_CONTINUE;
		return 0;
	}
	__atomic_fetch_and(&pmd->val, ~(uint64_t)PW_A, __ATOMIC_ACQ_REL);
	pw_tlb_gather_add(&cw->base.tlb, addr, next - addr);
	return 0;
}

static int wp_clean_pud_entry(pw_pud_t *pud, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return skip_huge(pw_pudp_get(pud).val, walk);
}

/*
 * Hugetlb VMAs (pagewalk/hugetlb.h): one huge entry per call, changed in
 * place with the same atomic ANDs (the walk holds the hugetlb VMA lock, or
 * in a mapping walk the i_mmap lock, so no unsharing clears it under us).
 * Clean-record sets one bit per 4 KiB page of a dirty huge page inside the
 * range and counts each; it clears D only when the whole huge page lies in
 * the range (else the pages outside would lose their dirty state: they are
 * recorded again next time). Write-protect counts one entry per huge entry.
 */
static int huge_change(pw_pte_t *pte, uint64_t hmask, uint64_t addr, uint64_t next,
		       struct pw_mm_walk *walk, uint64_t bits, struct clean_walk *cw, uint64_t *nr_wp)
{
	struct wp_walk *w = walk->private;
	uint64_t *e = &pte->val, v = __atomic_load_n(e, __ATOMIC_RELAXED), head = addr & hmask;
	bool whole = head == addr && next == head + ~hmask + 1, dirty;
	uint64_t clear = bits, old;

	if (!(v & PW_P))
		return 0;
	if (!whole)
		clear &= ~(uint64_t)PW_D;
	old = clear ? __atomic_fetch_and(e, ~clear, __ATOMIC_ACQ_REL) : v;
	dirty = (bits & PW_D) && (old & PW_D);
	if ((bits & PW_RW) && (old & PW_RW))
		++*nr_wp;
	/*
	 * The entry may sit in a PMD table shared with other address spaces:
	 * the sharer whose walk came first changed it for all, so each sharer
	 * flushes its TLBs for every huge page it meets, changed by it or not.
	 */
	if (clear)
		pw_tlb_gather_add(&w->tlb, head, ~hmask + 1);
	if (dirty) {
		for (uint64_t a = addr; a < next; a += PW_PAGE_SIZE)
			record(cw, walk->vma, a);
	}
	return 0;
}

static int wp_hugetlb_entry(pw_pte_t *pte, uint64_t hmask, uint64_t addr, uint64_t next,
			    struct pw_mm_walk *walk)
{
	struct wp_walk *w = walk->private;

	return huge_change(pte, hmask, addr, next, walk, PW_RW, NULL, &w->total);
}

static int clean_hugetlb_entry(pw_pte_t *pte, uint64_t hmask, uint64_t addr, uint64_t next,
			       struct pw_mm_walk *walk)
{
	uint64_t none = 0;

	return huge_change(pte, hmask, addr, next, walk, PW_D, walk->private, &none);
}

static int wp_clean_hugetlb_entry(pw_pte_t *pte, uint64_t hmask, uint64_t addr, uint64_t next,
				  struct pw_mm_walk *walk)
{
	struct clean_walk *cw = walk->private;

	return huge_change(pte, hmask, addr, next, walk, PW_RW | PW_D, cw, &cw->nr_wp);
}

/* Only shared VMAs that may be written are tracked; others are skipped. */
static int wp_clean_test_walk(uint64_t start, uint64_t end, struct pw_mm_walk *walk)
{
	uint32_t f = __atomic_load_n(&walk->vma->vm_flags, __ATOMIC_RELAXED);

	return (f & (PW_VM_SHARED | PW_VM_MAYWRITE)) != (PW_VM_SHARED | PW_VM_MAYWRITE);
}

static int wp_clean_pre_vma(uint64_t start, uint64_t end, struct pw_mm_walk *walk)
{
	struct wp_walk *w = walk->private;

	pw_tlb_gather_init(&w->tlb, walk->mm);
	pw_mmu_notifier_range_init(&w->range, PW_MMU_NOTIFY_PROTECTION_PAGE, walk->mm, start, end);
	pw_mmu_notifier_invalidate_range_start(&w->range);
	pw_tlb_flush_pending_begin(walk->mm);
	return 0;
}

static void wp_clean_post_vma(struct pw_mm_walk *walk)
{
	struct wp_walk *w = walk->private;

	if (pw_tlb_flush_nested(walk->mm))
		pw_flush_tlb_range(walk->mm, w->range.start, w->range.end); /* nested */
	else
		pw_tlb_gather_flush(&w->tlb);
	pw_mmu_notifier_invalidate_range_end(&w->range);
	pw_tlb_flush_pending_end(walk->mm);
}

static const struct pw_walk_ops wp_walk_ops = {
	.pte_run = wp_pte_run,
	.hugetlb_entry = wp_hugetlb_entry,
	.pmd_entry = wp_clean_pmd_entry,
	.pud_entry = wp_clean_pud_entry,
	.test_walk = wp_clean_test_walk,
	.pre_vma = wp_clean_pre_vma,
	.post_vma = wp_clean_post_vma,
};

static const struct pw_walk_ops clean_walk_ops = {
	.pte_run = clean_pte_run,
	.hugetlb_entry = clean_hugetlb_entry,
	.pmd_entry = wp_clean_pmd_entry,
	.pud_entry = wp_clean_pud_entry,
	.test_walk = wp_clean_test_walk,
	.pre_vma = wp_clean_pre_vma,
	.post_vma = wp_clean_post_vma,
};

static const struct pw_walk_ops clean_young_walk_ops = {
	.pte_run = clean_pte_run,
	.hugetlb_entry = clean_hugetlb_entry,
	.pmd_entry = young_pmd_entry,
	.pud_entry = wp_clean_pud_entry,
	.test_walk = wp_clean_test_walk,
	.pre_vma = wp_clean_pre_vma,
	.post_vma = wp_clean_post_vma,
};

static const struct pw_walk_ops wp_clean_walk_ops = {
	.pte_run = wp_clean_pte_run,
	.hugetlb_entry = wp_clean_hugetlb_entry,
	.pmd_entry = wp_clean_pmd_entry,
	.pud_entry = wp_clean_pud_entry,
	.test_walk = wp_clean_test_walk,
	.pre_vma = wp_clean_pre_vma,
	.post_vma = wp_clean_post_vma,
};

PW_API uint64_t pw_wp_shared_mapping_range(struct pw_file *file, uint64_t first_index, uint64_t nr)
{
	struct wp_walk w = { .file = file };
	int err;

	if (!file || !nr || first_index + nr < first_index)
		return 0;
	pw_i_mmap_lock_read(file);
	err = pw_walk_page_mapping(file, first_index, nr, &wp_walk_ops, &w);
	pw_i_mmap_unlock_read(file);
	PW_BUG_ON(err); /* our callbacks never fail */
	(void)err;
	return w.total;
}

/* Clean-record (and with the fused ops also write-protect) [first, first + nr). */
static uint64_t clean_range(struct pw_file *file, uint64_t first_index, uint64_t nr,
			    uint64_t bitmap_pgoff, uint64_t *bitmap, uint64_t *start, uint64_t *end,
			    const struct pw_walk_ops *ops, uint64_t *nr_wp, uint64_t *nr_skipped)
{
	bool none_set;
	struct clean_walk cw = { .base.file = file, .bitmap_pgoff = bitmap_pgoff, .bitmap = bitmap };
	int err;

	if (!file || !nr || !bitmap || !start || !end || first_index < bitmap_pgoff ||
	    first_index + nr < first_index)
		return 0;
	none_set = *start >= *end;
	cw.start = none_set ? nr : *start;
	cw.end = none_set ? 0 : *end;
	pw_i_mmap_lock_read(file);
	err = pw_walk_page_mapping(file, first_index, nr, ops, &cw);
	pw_i_mmap_unlock_read(file);
	PW_BUG_ON(err); /* our callbacks never fail */
	(void)err;
	*start = cw.start;
	*end = cw.end;
	if (nr_wp)
		*nr_wp = cw.nr_wp;
	if (nr_skipped)
		*nr_skipped = cw.skipped;
	return cw.base.total;
}

PW_API uint64_t pw_clean_record_shared_mapping_range(struct pw_file *file, uint64_t first_index,
						     uint64_t nr, uint64_t bitmap_pgoff,
						     uint64_t *bitmap, uint64_t *start, uint64_t *end)
{
	return clean_range(file, first_index, nr, bitmap_pgoff, bitmap, start, end, &clean_walk_ops,
			   NULL, NULL);
}

PW_API uint64_t pw_clean_record_young_shared_mapping_range(struct pw_file *file, uint64_t first_index,
							   uint64_t nr, uint64_t bitmap_pgoff,
							   uint64_t *bitmap, uint64_t *start,
							   uint64_t *end, uint64_t *nr_skipped)
{
	return clean_range(file, first_index, nr, bitmap_pgoff, bitmap, start, end,
			   &clean_young_walk_ops, NULL, nr_skipped);
}

PW_API uint64_t pw_wp_clean_record_shared_mapping_range(struct pw_file *file, uint64_t first_index,
							uint64_t nr, uint64_t bitmap_pgoff,
							uint64_t *bitmap, uint64_t *start,
							uint64_t *end, uint64_t *nr_wp)
{
	return clean_range(file, first_index, nr, bitmap_pgoff, bitmap, start, end, &wp_clean_walk_ops,
			   nr_wp, NULL);
}
