// SPDX-License-Identifier: MIT
/*
 * walk.c - the callback walker (after Linux's mm/pagewalk.c).
 *
 * One body, walk_level(), walks a table of any level; walk_ptes() runs the
 * PTE entries of one PTE table under its lock. What differs per level (which
 * callback, whether actions are honoured, the hole depth) sits in small
 * helpers. The kernel's loop shape is kept: the step is in the loop
 * condition so that `continue` advances, and `again:` re-reads an entry.
 */
#include "internal.h"

#include <pagewalk/pagewalk.h>

static int call_entry(struct pw_mm_walk *walk, int level, uint64_t *e, uint64_t addr, uint64_t next)
{
	const struct pw_walk_ops *ops = walk->ops;
	int err = 0;

	switch (level) {
	case PW_LEVEL_PGD:
		return ops->pgd_entry ? ops->pgd_entry((pw_pgd_t *)e, addr, next, walk) : 0;
	case PW_LEVEL_P4D:
		/* 4-level paging: the root is the PGD with the P4D folded into it. */
		if (walk->mm->cfg.levels == 4 && ops->pgd_entry)
			err = ops->pgd_entry((pw_pgd_t *)e, addr, next, walk);
		if (!err && ops->p4d_entry)
			err = ops->p4d_entry((pw_p4d_t *)e, addr, next, walk);
		return err;
	case PW_LEVEL_PUD:
		return ops->pud_entry ? ops->pud_entry((pw_pud_t *)e, addr, next, walk) : 0;
	case PW_LEVEL_PMD:
		return ops->pmd_entry ? ops->pmd_entry((pw_pmd_t *)e, addr, next, walk) : 0;
	default:
		return ops->pte_entry ? ops->pte_entry((pw_pte_t *)e, addr, next, walk) : 0;
	}
}

/* Does any callback want the levels below @level? */
static bool wants_below(const struct pw_walk_ops *ops, int level)
{
	switch (level) {
	case PW_LEVEL_PGD:
		if (ops->p4d_entry)
			return true;
		/* fall through */
	case PW_LEVEL_P4D:
		if (ops->pud_entry)
			return true;
		/* fall through */
	case PW_LEVEL_PUD:
		if (ops->pmd_entry)
			return true;
		/* fall through */
	case PW_LEVEL_PMD:
		return ops->pte_entry;
	default:
		return false;
	}
}

static int walk_hole(struct pw_mm_walk *walk, uint64_t addr, uint64_t next, int depth)
{
	return walk->ops->pte_hole ? walk->ops->pte_hole(addr, next, depth, walk) : 0;
}

/*
 * The PTEs of the table that *@parent (read as @pv) points at. With a VMA the
 * table's lock is held throughout; if the parent entry changed before we got
 * the lock, the table may be gone: ask the caller to read it again.
 */
static int walk_ptes(struct pw_mm_walk *walk, uint64_t *parent, uint64_t pv, uint64_t addr,
		     uint64_t end)
{
	struct pw_mm *mm = walk->mm;
	uint64_t pfn = pw_table_pfn(mm, pv);
	uint64_t *t = pw_table(mm, pfn), *e;
	bool lock = walk->vma && mm->arena;
	int err = 0;

	if (!t)
		return walk_hole(walk, addr, end, pw_depth(mm->cfg.levels, PW_LEVEL_PMD));
	if (lock) {
		pw_pte_lock(mm, pfn);
		if (pw_entry_read(parent) != pv) {
			pw_pte_unlock(mm, pfn);
			walk->action = PW_ACTION_AGAIN;
			return 0;
		}
	}
	for (e = t + pw_index(PW_LEVEL_PTE, addr);; e++) {
		err = walk->ops->pte_entry((pw_pte_t *)e, addr, addr + PW_PAGE_SIZE, walk);
		if (err || addr >= end - PW_PAGE_SIZE)
			break;
		addr += PW_PAGE_SIZE;
	}
	if (lock)
		pw_pte_unlock(mm, pfn);
	return err;
}

/* Walk [addr, end) of the level-@level table in frame @pfn. */
static int walk_level(struct pw_mm_walk *walk, int level, uint64_t pfn, uint64_t addr, uint64_t end)
{
	struct pw_mm *mm = walk->mm;
	const struct pw_walk_ops *ops = walk->ops;
	uint64_t *t = pw_table(mm, pfn), *e, next;
	bool actions = level == PW_LEVEL_PUD || level == PW_LEVEL_PMD;
	int err = 0;

	if (!t) /* a table the backend cannot reach: its whole range is a hole */
		return walk_hole(walk, addr, end, pw_depth(mm->cfg.levels, level + 1));
	e = t + pw_index(level, addr);
	do {
		uint64_t v;
again:
		next = pw_addr_end(level, addr, end);
		v = pw_entry_read(e);
		if (pw_entry_none(v)) {
			err = walk_hole(walk, addr, next, pw_depth(mm->cfg.levels, level));
			if (err)
				break;
			continue;
		}
		walk->action = PW_ACTION_SUBTREE;
		err = call_entry(walk, level, e, addr, next);
		if (err)
			break;
		if (actions && walk->action == PW_ACTION_AGAIN)
			goto again;
		if (actions && walk->action == PW_ACTION_CONTINUE)
			continue;
		if (!wants_below(ops, level))
			continue;
		v = pw_entry_read(e); /* the callback may have changed it */
		if (!pw_entry_table(level, v) || pw_entry_rsvd(&mm->cfg, level, v))
			continue; /* leaves, non-present and malformed entries: no descent */
		if (walk->_seen) {
			/* Foreign tables: enter each (frame, level) once; an alias is a hole. */
			uint64_t child = pw_table_pfn(mm, v);

			if (pw_seen_has(walk->_seen, child, level - 1)) {
				err = walk_hole(walk, addr, next, pw_depth(mm->cfg.levels, level - 1));
				if (err)
					break;
				continue;
			}
			err = pw_seen_add(&walk->_seen, child, level - 1);
			if (err)
				break;
		}
		walk->action = PW_ACTION_SUBTREE;
		if (level - 1 == PW_LEVEL_PTE)
			err = walk_ptes(walk, e, v, addr, next);
		else
			err = walk_level(walk, level - 1, pw_table_pfn(mm, v), addr, next);
		if (err)
			break;
		if (walk->action == PW_ACTION_AGAIN)
			goto again; /* the table below changed under us */
	} while (e++, addr = next, addr != end);
	return err;
}

/* Walk the tables of [start, end), skipping the non-canonical hole. */
static int walk_tables(struct pw_mm_walk *walk, uint64_t start, uint64_t end)
{
	int levels = walk->mm->cfg.levels, root = pw_root_level(levels);
	uint64_t low_end = pw_low_half_end(levels), high = pw_high_half_start(levels);
	int err = 0;

	if (start < low_end) {
		uint64_t e = (end == 0 || end > low_end) ? low_end : end;

		err = walk_level(walk, root, walk->root_pfn, start, e);
		if (err || e == end)
			return err;
		err = walk_hole(walk, low_end, high, -1);
		if (err)
			return err;
		start = high;
	}
	return walk_level(walk, root, walk->root_pfn, start, end);
}

static int check_lock(struct pw_mm *mm, enum pw_walk_lock mode)
{
	switch (mode) {
	case PW_WALK_RDLOCK:
		pw_assert_mmap_locked(mm);
		return 0;
	case PW_WALK_WRLOCK:
		pw_assert_mmap_write_locked(mm);
		return 0;
	case PW_WALK_LOCKLESS:
		return mm->arena ? -EINVAL : 0;
	}
	return -EINVAL;
}

static int check_args(struct pw_mm *mm, uint64_t start, uint64_t end, const struct pw_walk_ops *ops)
{
	int levels;

	if (!mm || !ops)
		return -EINVAL;
	if ((start | end) & ~PW_PAGE_MASK)
		return -EINVAL;
	if (end != 0 && start >= end)
		return -EINVAL;
	levels = mm->cfg.levels;
	if (!pw_canonical(levels, start) || !pw_canonical(levels, end - 1))
		return -ERANGE;
	return check_lock(mm, ops->walk_lock);
}

/* One VMA's part: pre_vma, the tables, post_vma. */
static int walk_vma_range(struct pw_mm_walk *walk, uint64_t start, uint64_t end)
{
	const struct pw_walk_ops *ops = walk->ops;
	int err = 0;

	if (ops->pre_vma) {
		err = ops->pre_vma(start, end, walk);
		if (err)
			return err;
	}
	err = walk_tables(walk, start, end);
	if (ops->post_vma)
		ops->post_vma(walk);
	return err;
}

static int walk_test(struct pw_mm_walk *walk, uint64_t start, uint64_t end)
{
	const struct pw_walk_ops *ops = walk->ops;

	if (ops->test_walk)
		return ops->test_walk(start, end, walk);
	if (walk->vma->vm_flags & PW_VM_PFNMAP) {
		int err = walk_hole(walk, start, end, -1);

		return err ? err : 1;
	}
	return 0;
}

PW_API int pw_walk_page_range(struct pw_mm *mm, uint64_t start, uint64_t end,
			      const struct pw_walk_ops *ops, void *private)
{
	struct pw_mm_walk walk = { .ops = ops, .mm = mm, .private = private };
	struct pw_vma *vma;
	uint64_t next;
	int err;

	err = check_args(mm, start, end, ops);
	if (err)
		return err;
	if (!mm->arena)
		return -EINVAL;
	walk.root_pfn = mm->root_pfn;
	vma = pw_find_vma(mm, start);
	do {
		if (!vma || start < vma->vm_start) {
			walk.vma = NULL;
			next = !vma ? end : (end != 0 && end < vma->vm_start ? end : vma->vm_start);
			err = walk_hole(&walk, start, next, -1);
		} else {
			walk.vma = vma;
			next = (end != 0 && end < vma->vm_end) ? end : vma->vm_end;
			vma = pw_vma_next(mm, vma);
			err = walk_test(&walk, start, next);
			if (err > 0) {
				err = 0; /* skip this VMA */
				continue;
			}
			if (err < 0)
				break;
			err = walk_vma_range(&walk, start, next);
		}
		if (err)
			break;
	} while (start = next, start != end);
	return err;
}

PW_API int pw_walk_page_range_vma(struct pw_vma *vma, uint64_t start, uint64_t end,
				  const struct pw_walk_ops *ops, void *private)
{
	struct pw_mm_walk walk = { .ops = ops, .vma = vma, .private = private };
	int err;

	if (!vma || !vma->vm_mm)
		return -EINVAL;
	err = check_args(vma->vm_mm, start, end, ops);
	if (err)
		return err;
	if (start < vma->vm_start || end > vma->vm_end || end == 0)
		return -EINVAL;
	walk.mm = vma->vm_mm;
	walk.root_pfn = walk.mm->root_pfn;
	return walk_vma_range(&walk, start, end);
}

PW_API int pw_walk_page_vma(struct pw_vma *vma, const struct pw_walk_ops *ops, void *private)
{
	if (!vma)
		return -EINVAL;
	return pw_walk_page_range_vma(vma, vma->vm_start, vma->vm_end, ops, private);
}

PW_API int pw_walk_page_range_novma(struct pw_mm *mm, uint64_t start, uint64_t end,
				    const struct pw_walk_ops *ops, uint64_t root_pfn, void *private)
{
	struct pw_mm_walk walk = { .ops = ops, .mm = mm, .no_vma = true, .private = private };
	int err;

	err = check_args(mm, start, end, ops);
	if (err)
		return err;
	walk.root_pfn = root_pfn == PW_ROOT_DEFAULT ? mm->root_pfn : root_pfn;
	if (!mm->arena) {
		walk._seen = pw_seen_new();
		if (!walk._seen)
			return -ENOMEM;
	}
	err = walk_tables(&walk, start, end);
	pw_seen_free(walk._seen);
	return err;
}

struct mapping_walk {
	struct pw_mm_walk walk;
	uint64_t first, last; /* page offsets, [first, last) */
};

/* One VMA of a mapping walk: clip to the offsets, test, walk. */
static int walk_mapping_vma(struct pw_vma *vma, void *arg)
{
	struct mapping_walk *mw = arg;
	struct pw_mm_walk *walk = &mw->walk;
	const struct pw_walk_ops *ops = walk->ops;
	uint64_t vba = vma->vm_pgoff, vea = vba + ((vma->vm_end - vma->vm_start) >> PW_PAGE_SHIFT);
	uint64_t cba = mw->first > vba ? mw->first : vba;
	uint64_t cea = mw->last < vea ? mw->last : vea;
	int err;

	if (cba >= cea)
		return 0;
	walk->vma = vma;
	walk->mm = vma->vm_mm;
	walk->root_pfn = walk->mm->root_pfn;
	err = ops->test_walk ? ops->test_walk(vma->vm_start, vma->vm_end, walk) : 0;
	if (err > 0)
		return 0; /* skip this VMA only (the kernel stops here) */
	if (err < 0)
		return err;
	return walk_vma_range(walk, vma->vm_start + ((cba - vba) << PW_PAGE_SHIFT),
			      vma->vm_start + ((cea - vba) << PW_PAGE_SHIFT));
}

PW_API int pw_walk_page_mapping(struct pw_file *file, uint64_t first_index, uint64_t nr,
				const struct pw_walk_ops *ops, void *private)
{
	struct mapping_walk mw = { .walk = { .ops = ops, .private = private },
				   .first = first_index, .last = first_index + nr };

	if (!file || !ops || !nr || first_index + nr < first_index)
		return -EINVAL;
	return pw_file_for_each_vma(file, first_index, first_index + nr - 1, walk_mapping_vma, &mw);
}
