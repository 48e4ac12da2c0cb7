// SPDX-License-Identifier: MIT
/*
 * walk.c - the callback walker (after Linux's mm/pagewalk.c).
 *
 * One body, walk_level(), walks a table of any level; walk_ptes() runs the
 * PTE entries of one PTE table under its lock. What differs per level (which
 * callback, whether actions are honoured, the hole depth) sits in small
 * helpers. Entries are read, classified, and their PTE tables locked through
 * the page-table layer (pt/pt.h); the range loop is pw_pt_for_each_span(),
 * so `continue' advances and `again:' reads an entry anew.
 */
#include "mm/mm.h"

#include <pagewalk/pagewalk.h>

/*
 * The entry callback of @level. The folded root of 4-level paging (level
 * P4D, depth 0: see pw_depth()) is the PGD with the P4D folded into it, as
 * in Linux: pgd_entry, then p4d_entry, for the same entry.
 */
static int call_entry(struct pw_mm_walk *walk, enum pw_level level, uint64_t *e, uint64_t addr,
		      uint64_t next)
{
	const struct pw_walk_ops *ops = walk->ops;
	int err = 0;

	switch (level) {
	case PW_LEVEL_PGD:
		return ops->pgd_entry ? ops->pgd_entry((pw_pgd_t *)e, addr, next, walk) : 0;
	case PW_LEVEL_P4D:
		if (pw_depth(walk->mm->pt.cfg.levels, level) == 0 && ops->pgd_entry)
			err = ops->pgd_entry((pw_pgd_t *)e, addr, next, walk);
		if (!err && ops->p4d_entry)
			err = ops->p4d_entry((pw_p4d_t *)e, addr, next, walk);
		return err;
	case PW_LEVEL_PUD:
		return ops->pud_entry ? ops->pud_entry((pw_pud_t *)e, addr, next, walk) : 0;
	case PW_LEVEL_PMD:
		return ops->pmd_entry ? ops->pmd_entry((pw_pmd_t *)e, addr, next, walk) : 0;
	case PW_LEVEL_PTE:
		break;
	}
	return ops->pte_entry ? ops->pte_entry((pw_pte_t *)e, addr, next, walk) : 0;
}

/* Does any callback want the levels below @level? */
static bool wants_below(const struct pw_walk_ops *ops, enum pw_level level)
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
		return ops->pte_entry || ops->pte_run || ops->install_pte;
	case PW_LEVEL_PTE:
		break;
	}
	return false;
}

static int walk_hole(struct pw_mm_walk *walk, uint64_t addr, uint64_t next, int depth)
{
	return walk->ops->pte_hole ? walk->ops->pte_hole(addr, next, depth, walk) : 0;
}

/* pte_hole() of the range a level-@level table covers (as Linux names its depth). */
static int table_hole(struct pw_mm_walk *walk, uint64_t addr, uint64_t next, enum pw_level level)
{
	if (!walk->ops->pte_hole)
		return 0;
	return walk_hole(walk, addr, next, pw_depth(walk->mm->pt.cfg.levels, level));
}

/*
 * install_pte for the none PTE @e (its table locked): ask for the value,
 * check it, account a mapping leaf as a fault would (a map count and an
 * RSS page; the frame reference is the callback's, handed over), store it.
 */
static int install_one(struct pw_mm_walk *walk, uint64_t *e, uint64_t addr)
{
	struct pw_mm *mm = walk->mm;
	pw_pte_t v = { 0 };
	int err = walk->ops->install_pte(addr, addr + PW_PAGE_SIZE, &v, walk);

	if (err)
		return err;
	if (v.val & (PW_P | PW_SW_PROTNONE)) {
		uint64_t pfn = pw_pt_leaf_pfn(&mm->pt, PW_LEVEL_PTE, v.val);
		struct pw_frame *f = pw_frame_meta(mm->pt.arena, pfn);
		uint32_t fl = f ? __atomic_load_n(&f->flags, __ATOMIC_RELAXED) : PW_FRAME_FREE;

		/* an allocated frame, the head of its block (a reference is per block) */
		if ((fl & (PW_FRAME_FREE | PW_FRAME_PGTABLE | PW_FRAME_RESERVED | PW_FRAME_TAIL)) ||
		    pw_entry_rsvd(&mm->pt.cfg, PW_LEVEL_PTE, v.val))
			return -EINVAL;
		/* the mapping takes over the callback's reference, as a fault's does */
		__atomic_fetch_add(&f->mapcount, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&mm->rss, 1, __ATOMIC_RELAXED);
	}
	if (v.val)
		pw_entry_write(e, v.val);
	return 0;
}

/*
 * The PTEs of the table that @pmd points at: pte_run once, or pte_entry per
 * PTE, in one loop with no other call. With a VMA the table's lock is held
 * throughout; if @pmd changed before we got the lock, the table may be gone:
 * ask the caller to read it again.
 */
static int walk_ptes(struct pw_mm_walk *walk, const struct pw_pt_entry *pmd, uint64_t addr,
		     uint64_t end)
{
	struct pw_pt *pt = &walk->mm->pt;
	const struct pw_walk_ops *ops = walk->ops;
	uint64_t pfn = pw_pt_next_pfn(pt, pmd->val);
	bool lock = walk->vma && pt->arena;
	uint64_t *t, *e;
	int err = 0;

	if (lock) {
		t = pw_pt_lock_ptes(pt, pmd);
		if (!t) {
			walk->action = PW_ACTION_AGAIN;
			return 0;
		}
	} else {
		t = pw_pt_table(pt, pfn);
		if (!t)
			return table_hole(walk, addr, end, PW_LEVEL_PMD);
	}
	e = t + pw_index(PW_LEVEL_PTE, addr);
	if (ops->pte_run) {
		err = ops->pte_run((pw_pte_t *)e, addr, end, walk);
	} else {
		for (;; e++) {
			if (ops->install_pte && pw_entry_none(pw_entry_read(e)))
				err = install_one(walk, e, addr);
			else if (ops->pte_entry)
				err = ops->pte_entry((pw_pte_t *)e, addr, addr + PW_PAGE_SIZE, walk);
			if (err || addr >= end - PW_PAGE_SIZE)
				break;
			addr += PW_PAGE_SIZE;
		}
	}
	if (lock)
		pw_pt_pte_unlock(pt, pfn);
	return err;
}

/*
 * Foreign tables: enter each (frame, level) once. Return 1 if the table
 * below @e was entered before (an alias: a hole), 0 to go in, -ENOMEM.
 */
static int seen_before(struct pw_mm_walk *walk, const struct pw_pt_entry *e)
{
	uint64_t child = pw_pt_next_pfn(&walk->mm->pt, e->val);

	if (!walk->_seen)
		return 0;
	if (pw_seen_has(walk->_seen, child, e->level - 1))
		return 1;
	return pw_seen_add(&walk->_seen, child, e->level - 1);
}

/* PTE tables a walk starts loading ahead of the one it is in (two: measured best, bench_pagemap). */
#define PREFETCH_TABLES 2

/*
 * Start loading the PTE tables that the next PREFETCH_TABLES PMD entries
 * after @next's predecessor (in the same table @t, inside the walk) point
 * at, while the current one is walked: PTE tables are separate frames,
 * which the hardware prefetcher does not follow. Only a hint: each entry
 * is read again, under the lock, when its turn comes.
 */
static inline void prefetch_next_ptes(const struct pw_pt *pt, const uint64_t *t, uint64_t next,
				      uint64_t end)
{
	for (unsigned d = 0; d < PREFETCH_TABLES; d++, next += PW_PMD_SIZE) {
		uint64_t v;
		const char *p;

		/* wrap-safe: end 0 is the top; stop at the walk's end and this table's */
		if (next == end || next == 0 || pw_index(PW_LEVEL_PMD, next) == 0 ||
		    (end != 0 && next > end))
			return;
		v = pw_entry_read(t + pw_index(PW_LEVEL_PMD, next));
		if (pw_pt_kind(&pt->cfg, PW_LEVEL_PMD, v) != PW_PT_TABLE)
			continue;
		p = (const char *)pw_pt_table(pt, pw_pt_next_pfn(pt, v));
		for (unsigned off = 0; p && off < PW_PAGE_SIZE; off += 64)
			__builtin_prefetch(p + off);
	}
}

/* Walk [addr, end) of the level-@level table in frame @table. */
static int walk_level(struct pw_mm_walk *walk, enum pw_level level, uint64_t table, uint64_t addr,
		      uint64_t end)
{
	struct pw_pt *pt = &walk->mm->pt;
	bool actions = level == PW_LEVEL_PUD || level == PW_LEVEL_PMD;
	uint64_t next, *t = pw_pt_table(pt, table);
	int err = 0;

	if (!t) /* a table the backend cannot reach: its parent's hole */
		return walk_hole(walk, addr, end, pw_depth(pt->cfg.levels, level + 1));
	pw_pt_for_each_span(level, addr, next, end) {
		struct pw_pt_entry e;
again:
		e = pw_pt_entry_at(t, table, level, addr);
		if (pw_entry_none(e.val) && walk->ops->install_pte && walk->vma) {
			/* a walk that installs PTEs builds the tables down to them */
			err = pw_pt_ensure_table(pt, &e);
			if (err)
				break;
		}
		if (pw_entry_none(e.val)) {
			err = table_hole(walk, addr, next, level);
			if (err)
				break;
			continue;
		}
		walk->action = PW_ACTION_SUBTREE;
		err = call_entry(walk, level, e.ptep, addr, next);
		if (err)
			break;
		if (actions && walk->action == PW_ACTION_AGAIN)
			goto again;
		if (actions && walk->action == PW_ACTION_CONTINUE)
			continue;
		if (!wants_below(walk->ops, level))
			continue;
		pw_pt_reread(&e); /* the callback may have changed it */
		if (pw_pt_entry_kind(pt, &e) != PW_PT_TABLE)
			continue; /* leaves, non-present and malformed entries: no descent */
		err = seen_before(walk, &e);
		if (err > 0) {
			err = table_hole(walk, addr, next, level - 1);
			if (err)
				break;
			continue;
		}
		if (err)
			break;
		walk->action = PW_ACTION_SUBTREE;
		if (level - 1 == PW_LEVEL_PTE) {
			prefetch_next_ptes(pt, t, next, end);
			err = walk_ptes(walk, &e, addr, next);
		}
		else
			err = walk_level(walk, level - 1, pw_pt_next_pfn(pt, e.val), addr, next);
		if (err)
			break;
		if (walk->action == PW_ACTION_AGAIN)
			goto again; /* the table below changed under us */
	}
	return err;
}

/* Walk the tables of [start, end), skipping the non-canonical hole. */
static int walk_tables(struct pw_mm_walk *walk, uint64_t start, uint64_t end)
{
	int levels = walk->mm->pt.cfg.levels;
	enum pw_level root = (enum pw_level)pw_root_level(levels);
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
		return mm->pt.arena ? -EINVAL : 0;
	}
	return -EINVAL;
}

static int check_args(struct pw_mm *mm, uint64_t start, uint64_t end, const struct pw_walk_ops *ops)
{
	int levels;

	if (!mm || !ops || (ops->pte_entry && ops->pte_run))
		return -EINVAL;
	if (ops->install_pte && (ops->pte_run || ops->walk_lock == PW_WALK_LOCKLESS))
		return -EINVAL;
	if ((start | end) & ~PW_PAGE_MASK)
		return -EINVAL;
	if (end != 0 && start >= end)
		return -EINVAL;
	levels = mm->pt.cfg.levels;
	if (!pw_canonical(levels, start) || !pw_canonical(levels, end - 1))
		return -ERANGE;
	return check_lock(mm, ops->walk_lock);
}

/*
 * The kernel's walk_hugetlb_range(): one hugetlb_entry per huge page of
 * [start, end) of a hugetlb VMA, none ones as -1 holes; the caller holds
 * the hook (pw_vma_pgtable_walk_begin()).
 */
static int walk_hugetlb(struct pw_mm_walk *walk, uint64_t start, uint64_t end)
{
	const struct pw_walk_ops *ops = walk->ops;
	enum pw_level level = pw_hugetlb_level(walk->vma);
	uint64_t hmask = pw_level_mask(level), addr = start, next;
	struct pw_pt *pt = &walk->mm->pt;
	int err = 0;

	pw_hugetlb_assert_locked(walk->vma);
	for (; addr < end; addr = next) {
		struct pw_pt_entry e;
		int kind = pw_pt_descend(pt, addr, level, &e, NULL);

		next = (addr & hmask) + pw_level_size(level);
		if (next > end)
			next = end;
		if (kind < 0)
			return -EIO;
		if (e.level == level) /* none entries too, as the kernel's */
			err = ops->hugetlb_entry((pw_pte_t *)e.ptep, hmask, addr, next, walk);
		else if (ops->pte_hole) /* no table down to the huge entry */
			err = ops->pte_hole(addr, next, -1, walk);
		if (err)
			return err;
	}
	return 0;
}

/* The tables of one VMA's part, inside the walk hook. */
static int walk_vma_tables(struct pw_mm_walk *walk, uint64_t start, uint64_t end)
{
	int err = 0;

	if (walk->vma && pw_vma_is_hugetlb(walk->vma) && !walk->ops->hugetlb_entry)
		return 0; /* the kernel passes over hugetlb VMAs without a hugetlb_entry */
	pw_vma_pgtable_walk_begin(walk->vma); /* a no-op but for shareable hugetlb VMAs */
	if (walk->vma && pw_vma_is_hugetlb(walk->vma))
		err = walk_hugetlb(walk, start, end);
	else
		err = walk_tables(walk, start, end);
	pw_vma_pgtable_walk_end(walk->vma);
	return err;
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
	err = walk_vma_tables(walk, start, end);
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

/*
 * The VMAs of [start, end) and the gaps between them. The arguments are
 * checked; the mmap lock is held by the caller, or by the caller of a
 * parallel walk on whose behalf this thread works (hence no lock asserts
 * and no pw_find_vma() here).
 */
static int walk_range(struct pw_mm *mm, uint64_t start, uint64_t end, const struct pw_walk_ops *ops,
		      void *private)
{
	struct pw_mm_walk walk = { .ops = ops, .mm = mm, .private = private };
	size_t i = pw_vma_index(mm, start);
	struct pw_vma *vma = i < mm->nr_vmas ? mm->vmas[i] : NULL;
	uint64_t next;
	int err;

	walk.root_pfn = mm->pt.root_pfn;
	do {
		if (!vma || start < vma->vm_start) {
			walk.vma = NULL;
			next = !vma ? end : (end != 0 && end < vma->vm_start ? end : vma->vm_start);
			err = walk_hole(&walk, start, next, -1);
		} else {
			walk.vma = vma;
			next = (end != 0 && end < vma->vm_end) ? end : vma->vm_end;
			vma = ++i < mm->nr_vmas ? mm->vmas[i] : NULL;
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

PW_API int pw_walk_page_range(struct pw_mm *mm, uint64_t start, uint64_t end,
			      const struct pw_walk_ops *ops, void *private)
{
	int err = check_args(mm, start, end, ops);

	if (err)
		return err;
	if (!mm->pt.arena)
		return -EINVAL;
	return walk_range(mm, start, end, ops, private);
}

/* ---- the parallel walk --------------------------------------------------- */

struct par_walk {
	struct pw_mm *mm;
	const struct pw_walk_ops *ops;
	uint64_t start, end;	/* the walk (end 0 = top) */
	uint64_t base, piece;	/* pieces: [base + k * piece, + piece), clipped */
	uint64_t nr_pieces;
	uint64_t next;		/* atomic: the next piece to hand out */
	pthread_mutex_t lock;	/* guards the two below */
	uint64_t stop_piece;	/* lowest piece that stopped the walk (nr_pieces: none) */
	int stop_ret;		/* and what it returned */
};

struct par_worker {
	struct par_walk *pw;
	void *private;
	pthread_t thread;
	bool started;
};

static void par_run(struct par_walk *pw, void *private)
{
	for (;;) {
		uint64_t k = __atomic_fetch_add(&pw->next, 1, __ATOMIC_RELAXED), s, e;
		int ret;

		if (k >= pw->nr_pieces)
			return;
		pthread_mutex_lock(&pw->lock);
		ret = k > pw->stop_piece; /* a lower piece stopped the walk: nothing after it counts */
		pthread_mutex_unlock(&pw->lock);
		if (ret)
			return;
		s = pw->base + k * pw->piece;
		e = s + pw->piece;
		if (k == 0)
			s = pw->start;
		if (k == pw->nr_pieces - 1)
			e = pw->end;
		ret = walk_range(pw->mm, s, e, pw->ops, private);
		if (ret) {
			pthread_mutex_lock(&pw->lock);
			if (k < pw->stop_piece) {
				pw->stop_piece = k;
				pw->stop_ret = ret;
			}
			pthread_mutex_unlock(&pw->lock);
		}
	}
}

static void *par_thread(void *arg)
{
	struct par_worker *w = arg;

	par_run(w->pw, w->private);
	return NULL;
}

PW_API int pw_walk_page_range_parallel(struct pw_mm *mm, uint64_t start, uint64_t end,
				       const struct pw_walk_ops *ops, void *const privates[],
				       unsigned nr_threads)
{
	struct par_worker workers[PW_WALK_MAX_THREADS];
	struct par_walk pw = { .mm = mm, .ops = ops, .start = start, .end = end };
	uint64_t last, piece = PW_PMD_SIZE;
	int err;

	if (!nr_threads || nr_threads > PW_WALK_MAX_THREADS)
		return -EINVAL;
	err = check_args(mm, start, end, ops);
	if (err)
		return err;
	if (!mm->pt.arena)
		return -EINVAL;
	/*
	 * Pieces are whole tables: a power of two from one PTE table's span
	 * (2 MiB) to one PMD table's (1 GiB), about eight per thread, so that
	 * no two threads share a PTE table and the last ones balance the load.
	 */
	last = end - 1; /* wrap-safe: end 0 is the top */
	while (piece < PW_PUD_SIZE && (last - start) / (2 * piece) >= 8ULL * nr_threads)
		piece *= 2;
	pw.piece = piece;
	pw.base = start & ~(piece - 1);
	pw.nr_pieces = (last - pw.base) / piece + 1;
	pw.stop_piece = pw.nr_pieces;
	pthread_mutex_init(&pw.lock, NULL);
	for (unsigned t = 0; t < nr_threads; t++) {
		workers[t] = (struct par_worker){ .pw = &pw, .private = privates ? privates[t] : NULL };
		/* Thread 0 is the caller; a thread that cannot start leaves its share to the others. */
		if (t > 0)
			workers[t].started = !pthread_create(&workers[t].thread, NULL, par_thread, &workers[t]);
	}
	par_run(&pw, workers[0].private);
	for (unsigned t = 1; t < nr_threads; t++)
		if (workers[t].started)
			pthread_join(workers[t].thread, NULL);
	pthread_mutex_destroy(&pw.lock);
	return pw.stop_piece < pw.nr_pieces ? pw.stop_ret : 0;
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
	walk.root_pfn = walk.mm->pt.root_pfn;
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
	if (ops->install_pte)
		return -EINVAL; /* installs need a VMA (the kernel WARNs without one) */
	walk.root_pfn = root_pfn == PW_ROOT_DEFAULT ? mm->pt.root_pfn : root_pfn;
	if (!mm->pt.arena) {
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
	walk->root_pfn = walk->mm->pt.root_pfn;
	err = ops->test_walk ? ops->test_walk(vma->vm_start, vma->vm_end, walk) : 0;
	if (err > 0)
		return 0; /* skip this VMA only (the kernel stops here) */
	if (err < 0)
		return err;
	/*
	 * Only the i_mmap lock is held: a munmap of a neighbouring VMA in
	 * this mm may unhook a table the walk is in. An RCU read-side section
	 * keeps its frame from being freed (and reused) until the walk of this
	 * VMA is over; pw_pt_lock_ptes() then sees the parent changed.
	 */
	pw_rcu_read_lock();
	err = walk_vma_range(walk, vma->vm_start + ((cba - vba) << PW_PAGE_SHIFT),
			     vma->vm_start + ((cea - vba) << PW_PAGE_SHIFT));
	pw_rcu_read_unlock();
	return err;
}

PW_API int pw_walk_page_mapping(struct pw_file *file, uint64_t first_index, uint64_t nr,
				const struct pw_walk_ops *ops, void *private)
{
	struct mapping_walk mw = { .walk = { .ops = ops, .private = private },
				   .first = first_index, .last = first_index + nr };

	if (!file || !ops || (ops->pte_entry && ops->pte_run) || ops->install_pte || !nr ||
	    first_index + nr < first_index)
		return -EINVAL;
	return pw_file_for_each_vma(file, first_index, first_index + nr - 1, walk_mapping_vma, &mw);
}
