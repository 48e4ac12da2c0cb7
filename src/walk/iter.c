// SPDX-License-Identifier: MIT
/*
 * iter.c - the inside-out walker.
 *
 * The state keeps one table pointer per level and the address to look at
 * next; a step reads one entry, classifies it once (pw__pte_good() for the
 * common PTE, pw_pt_kind() for everything else), and either reports it or
 * moves on (down into a table, up when a table's range is used up). Level
 * is a variable, not a function: one body serves all five levels.
 */
#include "mm/mm.h"

#include <pagewalk/hugetlb.h>
#include <pagewalk/iter.h>

static void unlock_pte(struct pw__walk_private *p)
{
	if (p->locked) {
		pw_pt_pte_unlock(&p->mm->pt, p->pfn[PW_LEVEL_PTE]);
		p->locked = false;
	}
}

/* ---- the hugetlb walk hook ------------------------------------------------ */

/* Leave the hugetlb VMA whose hook the walk holds (pw_vma_pgtable_walk_end()). */
static void hook_drop(struct pw__walk_private *p)
{
	if (p->hvma) {
		pw_vma_pgtable_walk_end(p->hvma);
		p->hvma = NULL;
	}
}

/*
 * Before reading the PUD or PMD entry at @addr whose range ends at @next:
 * if a hugetlb VMA overlaps that range, take its walk hook (the hugetlb
 * VMA lock for read where it can share PMD tables), held until the walk
 * passes the VMA's end (or finishes). The caller holds the mmap lock, so
 * the VMA found stays. Not for lockless walks nor image mms; a hook this
 * thread already holds (an enclosing walk of the VMA) is not taken again.
 * hcheck spares the lookups: no hugetlb VMA starts before it.
 */
static void hook_at(struct pw__walk_private *p, uint64_t addr, uint64_t next)
{
	struct pw_vma *vma;

	if (addr < p->hcheck || !p->mm->pt.arena || (p->flags & PW_WALK_NOLOCK))
		return;
	vma = pw_find_vma(p->mm, addr);
	if (!vma) {
		p->hcheck = ~0ULL;
		return;
	}
	if (!pw_vma_is_hugetlb(vma)) {
		p->hcheck = vma->vm_end;
		return;
	}
	if (vma->vm_start >= next && next) {
		p->hcheck = vma->vm_start; /* huge-page aligned: an entry starts there */
		return;
	}
	p->hcheck = vma->vm_end;
	if (vma->_hugetlb_lock && pw_rwsem_held(vma->_hugetlb_lock))
		return;
	pw_vma_pgtable_walk_begin(vma);
	p->hvma = vma;
}

static void finish(struct pw__walk_private *p)
{
	unlock_pte(p);
	hook_drop(p);
	pw_seen_free(p->seen);
	p->seen = NULL;
	p->done = true;
	if (p->rcu) {
		p->rcu = false;
		pw_rcu_read_unlock();
	}
}

static int emit(struct pw_walk_state *st, enum pw_step_type type, enum pw_hole_reason reason,
		enum pw_level level, uint64_t start, uint64_t end, uint64_t v, uint64_t *e)
{
	st->type = type;
	st->reason = reason;
	st->level = level;
	st->start = start;
	st->end = end;
	st->entry = v;
	st->ptep = e;
	st->_private.fe = st->_private.fe_end = NULL; /* only a PTE leaf arms a run */
	return 1;
}

static int emit_hole(struct pw_walk_state *st, enum pw_hole_reason reason, enum pw_level level,
		     uint64_t start, uint64_t end, uint64_t v, uint64_t *e)
{
	return emit(st, PW_STEP_HOLE, reason, level, start, end, v, e);
}

/*
 * After reporting the PTE at @e, let the loop macro's run (iter.h) report
 * the following good PTEs of this table directly: it may, while nothing is
 * pending (no huge-leaf pieces, no descent) and no entry limit is counted.
 */
static int emit_pte(struct pw_walk_state *st, uint64_t addr, uint64_t v, uint64_t *e)
{
	struct pw__walk_private *p = &st->_private;

	emit(st, PW_STEP_LEAF, PW_HOLE_EMPTY, PW_LEVEL_PTE, addr, addr + PW_PAGE_SIZE, v, e);
	if (!p->max_visits && !p->piece_end && !p->descend && !p->done) {
		p->fe = e + 1;
		p->fe_end = e + 1 + ((p->lend[PW_LEVEL_PTE] - p->addr) >> PW_PAGE_SHIFT);
	}
	return 1;
}

/*
 * Enter the table that @e points at. Return 1 entered, 0 the backend cannot
 * reach it, -EAGAIN the entry changed before the PTE table could be locked
 * (read it again), -ENOMEM the alias set could not grow.
 */
static int enter(struct pw__walk_private *p, const struct pw_pt_entry *e, uint64_t next)
{
	struct pw_pt *pt = &p->mm->pt;
	uint64_t pfn = pw_pt_next_pfn(pt, e->val);
	uint64_t *t = pw_pt_table(pt, pfn);
	enum pw_level child = e->level - 1;

	if (!t)
		return 0;
	if (p->seen) {
		int err = pw_seen_add(&p->seen, pfn, child);

		if (err)
			return err;
	}
	if (child == PW_LEVEL_PTE && pt->arena && !p->rcu) {
		if (!pw_pt_lock_ptes(pt, e))
			return -EAGAIN;
		p->locked = true;
	}
	p->tbl[child] = t;
	p->pfn[child] = pfn;
	p->lend[child] = next;
	p->cur = child;
	return 1;
}

static int step(struct pw_walk_state *st)
{
	struct pw__walk_private *p = &st->_private;
	struct pw_pt *pt = &p->mm->pt;
	int levels = pt->cfg.levels;
	enum pw_level root = (enum pw_level)pw_root_level(levels);
	bool holes = p->flags & PW_WALK_HOLES;

	if (p->done)
		return 0;
	/* Pieces of a huge leaf still to report. */
	if (p->piece_end) {
		uint64_t s = st->start + PW_PAGE_SIZE;

		if (s != p->piece_end) {
			st->entry = pw_leaf_to_pte(st->level, pw_entry_read(st->ptep), s,
						   pt->cfg.maxphyaddr);
			st->start = s;
			st->end = s + PW_PAGE_SIZE;
			return 1;
		}
		p->piece_end = 0;
	}
	if (p->descend) {
		struct pw_pt_entry e = { .ptep = st->ptep, .val = st->entry, .level = st->level };
		int r;

		p->descend = false;
		/* Reachability was checked before the table step was reported. */
		r = enter(p, &e, st->end);
		if (r == -ENOMEM)
			goto nomem;
		if (r <= 0)
			p->addr = st->end;
	}

	for (;;) {
		enum pw_level L = p->cur;
		uint64_t addr = p->addr, next;
		struct pw_pt_entry e;
		enum pw_pt_kind kind;
		int r;

		if (addr == p->lend[L]) {
			/* This table's range is used up: go up, or finish. */
			if (L == PW_LEVEL_PTE)
				unlock_pte(p);
			if (L < root) {
				p->cur = L + 1;
				continue;
			}
			if (addr == p->wend) {
				finish(p);
				return 0;
			}
			/* End of the lower half: the non-canonical gap. */
			p->addr = pw_high_half_start(levels);
			p->lend[root] = p->wend;
			if (holes)
				return emit_hole(st, PW_HOLE_NONCANONICAL, root, addr, p->addr, 0, NULL);
			continue;
		}
		if (p->hvma && addr >= p->hvma->vm_end)
			hook_drop(p); /* past the hugetlb VMA: no PTE lock is held here */
		if (L == PW_LEVEL_PUD || L == PW_LEVEL_PMD)
			hook_at(p, addr, pw_addr_end(L, addr, p->lend[L]));
		if (unlikely(p->max_visits) && ++p->visits > p->max_visits) {
			finish(p);
			p->err = -E2BIG;
			return 0;
		}
		if (L == PW_LEVEL_PTE && (p->flags & PW_WALK_RUNS)) {
			/* The rest of this PTE table's range, as one step. */
			uint64_t lend = p->lend[L];

			p->addr = lend;
			if (unlikely(p->max_visits)) {
				p->visits += ((lend - addr) >> PW_PAGE_SHIFT) - 1;
				if (p->visits > p->max_visits) {
					finish(p);
					p->err = -E2BIG;
					return 0;
				}
			}
			return emit(st, PW_STEP_RUN, PW_HOLE_EMPTY, L, addr, lend, 0,
				    p->tbl[L] + pw_index(L, addr));
		}
		if (L == PW_LEVEL_PTE && !holes && !p->max_visits) {
			/* None PTEs are nothing to report: pass them in a tight loop. */
			const uint64_t *t = p->tbl[L], lend = p->lend[L];

			while (addr != lend && !pw_entry_read(t + pw_index(L, addr)))
				addr += PW_PAGE_SIZE;
			p->addr = addr;
			if (addr == lend)
				continue;
		}
		e.ptep = p->tbl[L] + pw_index(L, addr);
		/* acquire: a lockless walk (PW_WALK_NOLOCK) then sees a table this
		 * entry points at as built before its publication (free on x86) */
		e.val = __atomic_load_n(e.ptep, __ATOMIC_ACQUIRE);
		e.level = L;
		next = pw_addr_end(L, addr, p->lend[L]);
		p->addr = next;
		if (L == PW_LEVEL_PTE && pw__pte_good(e.val, p->pte_mask))
			return emit_pte(st, addr, e.val, e.ptep);

		kind = pw_pt_kind(&pt->cfg, L, e.val);
		switch (kind) {
		case PW_PT_NONE:
			if (holes)
				return emit_hole(st, PW_HOLE_EMPTY, L, addr, next, e.val, e.ptep);
			continue;
		case PW_PT_NONPRESENT:
			if (holes)
				/* our layout in our tables; an image's swap entries are its kernel's */
				return emit_hole(st, L == PW_LEVEL_PTE && pt->arena && pw_is_device_exclusive(e.val) ?
							     PW_HOLE_DEVICE_EXCLUSIVE : PW_HOLE_NOT_PRESENT,
						 L, addr, next, e.val, e.ptep);
			continue;
		case PW_PT_MALFORMED:
			if (holes)
				return emit_hole(st, PW_HOLE_RESERVED, L, addr, next, e.val, e.ptep);
			continue;
		case PW_PT_TABLE: {
			uint64_t child = pw_pt_next_pfn(pt, e.val);

			if (!pw_pt_table(pt, child)) {
				if (holes)
					return emit_hole(st, PW_HOLE_NO_FRAME, L, addr, next, e.val, e.ptep);
				continue;
			}
			if (p->seen && pw_seen_has(p->seen, child, L - 1)) {
				if (holes)
					return emit_hole(st, PW_HOLE_ALIAS, L, addr, next, e.val, e.ptep);
				continue;
			}
			if (p->flags & PW_WALK_TABLES) {
				p->descend = true;
				p->addr = addr; /* the subtree starts here */
				return emit(st, PW_STEP_TABLE, PW_HOLE_EMPTY, L, addr, next, e.val, e.ptep);
			}
			/* -EAGAIN: the entry changed under us; the loop reads it again. */
			r = enter(p, &e, next);
			if (r == -ENOMEM)
				goto nomem;
			p->addr = r ? addr : next;
			continue;
		}
		case PW_PT_LEAF:
			break;
		}
		/* A present leaf above the PTE level (good PTEs were reported above). */
		if (L > PW_LEVEL_PTE && !(p->flags & PW_WALK_ALL_SIZES)) {
			p->piece_end = next;
			return emit(st, PW_STEP_LEAF, PW_HOLE_EMPTY, L, addr, addr + PW_PAGE_SIZE,
				    pw_leaf_to_pte(L, e.val, addr, pt->cfg.maxphyaddr), e.ptep);
		}
		PW_BUG_ON(L == PW_LEVEL_PTE); /* a well-formed PTE passes pw__pte_good() */
		return emit(st, PW_STEP_LEAF, PW_HOLE_EMPTY, L, addr, next, e.val, e.ptep);
	}
nomem:
	finish(p);
	p->err = -ENOMEM;
	return 0;
}

PW_API int pw_walk_begin(struct pw_walk_state *st, struct pw_mm *mm, uint64_t start, uint64_t end,
			 unsigned flags)
{
	return pw_walk_begin_max(st, mm, start, end, flags, 0);
}

/*
 * The reserved bits of a present PTE do not depend on the rest of the entry
 * (no PS at level 0), so pw_entry_rsvd() of an all-ones PTE is their mask.
 */
static uint64_t pte_mask(const struct pw_paging *cfg)
{
	return pw_entry_rsvd(cfg, PW_LEVEL_PTE, ~0ULL) | PW_P;
}

PW_API int pw_walk_begin_max(struct pw_walk_state *st, struct pw_mm *mm, uint64_t start,
			     uint64_t end, unsigned flags, uint64_t max_entries)
{
	struct pw__walk_private *p;
	enum pw_level root;
	uint64_t low_end;
	int levels;

	if (!st)
		return -EINVAL;
	*st = (struct pw_walk_state){ ._private = { .mm = mm, .done = true } };
	p = &st->_private;
	if (!mm ||
	    (flags & ~(PW_WALK_HOLES | PW_WALK_ALL_SIZES | PW_WALK_TABLES | PW_WALK_ALIASES |
		       PW_WALK_RUNS | PW_WALK_NOLOCK)) ||
	    ((start | end) & ~PW_PAGE_MASK) || (end != 0 && start >= end))
		return p->err = -EINVAL;
	levels = mm->pt.cfg.levels;
	if (!pw_canonical(levels, start) || !pw_canonical(levels, end - 1))
		return p->err = -ERANGE;
	if (!(flags & PW_WALK_NOLOCK))
		pw_assert_mmap_locked(mm);
	root = (enum pw_level)pw_root_level(levels);
	low_end = pw_low_half_end(levels);
	p->flags = flags;
	p->pte_mask = pte_mask(&mm->pt.cfg);
	p->max_visits = max_entries;
	if (!mm->pt.arena && !(flags & PW_WALK_ALIASES)) {
		p->seen = pw_seen_new();
		if (!p->seen)
			return p->err = -ENOMEM;
	}
	p->done = false;
	if ((flags & PW_WALK_NOLOCK) && mm->pt.arena) {
		pw_rcu_read_lock();
		p->rcu = true;
	}
	p->addr = start;
	p->wend = end;
	p->cur = root;
	p->tbl[root] = pw_pt_table(&mm->pt, mm->pt.root_pfn);
	p->pfn[root] = mm->pt.root_pfn;
	p->lend[root] = (start < low_end && (end == 0 || end > low_end)) ? low_end : end;
	if (!p->tbl[root]) {
		/* The root itself is not in physical memory. */
		finish(p);
		if (!(flags & PW_WALK_HOLES))
			return 0;
		return emit_hole(st, PW_HOLE_NO_FRAME, root, start, end, 0, NULL);
	}
	return step(st);
}

PW_API int pw_walk_next(struct pw_walk_state *st)
{
	return step(st);
}

PW_API void pw_walk_skip(struct pw_walk_state *st)
{
	struct pw__walk_private *p = &st->_private;

	if (p->descend) {
		p->descend = false;
		p->addr = st->end; /* move past the subtree */
	}
	if (p->piece_end)
		st->start = p->piece_end - PW_PAGE_SIZE; /* the next step leaves the leaf */
}

PW_API void pw_walk_end(struct pw_walk_state *st)
{
	if (!st)
		return;
	st->_private.fe = st->_private.fe_end = NULL;
	if (st->_private.mm)
		finish(&st->_private);
}
