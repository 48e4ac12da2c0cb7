// SPDX-License-Identifier: MIT
/*
 * iter.c - the inside-out walker.
 *
 * The state keeps one table pointer per level and the address to look at
 * next; a step reads one entry, classifies it once, and either reports it
 * or moves on (down into a table, up when a table's range is used up).
 * Level is a variable, not a function: one body serves all five levels.
 */
#include "internal.h"

#include <pagewalk/iter.h>

static bool must_lock(const struct pw_walk_state *st)
{
	return st->_mm->arena != NULL;
}

static void unlock_pte(struct pw_walk_state *st)
{
	if (st->_locked) {
		pw_pte_unlock(st->_mm, st->_pfn[PW_LEVEL_PTE]);
		st->_locked = false;
	}
}

static void finish(struct pw_walk_state *st)
{
	unlock_pte(st);
	pw_seen_free(st->_seen);
	st->_seen = NULL;
	st->_done = true;
}

static int emit(struct pw_walk_state *st, enum pw_step_type type, enum pw_hole_reason reason,
		int level, uint64_t start, uint64_t end, uint64_t v, uint64_t *e)
{
	st->type = type;
	st->reason = reason;
	st->level = level;
	st->start = start;
	st->end = end;
	st->entry = v;
	st->ptep = e;
	st->_fe = st->_fe_end = NULL; /* only a PTE leaf arms the inline path */
	return 1;
}

/*
 * After reporting the PTE at @e, let the inline path in iter.h report the
 * following present PTEs of this table directly: it may, while nothing is
 * pending (no huge-leaf pieces, no descent) and no entry limit is counted.
 */
static int emit_pte(struct pw_walk_state *st, uint64_t addr, uint64_t v, uint64_t *e)
{
	emit(st, PW_STEP_LEAF, PW_HOLE_EMPTY, PW_LEVEL_PTE, addr, addr + PW_PAGE_SIZE, v, e);
	if (!st->_max_visits && !st->_piece_end && !st->_descend && !st->_done) {
		st->_fe = e + 1;
		st->_fe_end = e + 1 + ((st->_lend[PW_LEVEL_PTE] - st->_addr) >> PW_PAGE_SHIFT);
	}
	return 1;
}

/*
 * Enter the table that entry @e (value @v) at level @level points at.
 * Return 1 entered, 0 the backend cannot reach it, -EAGAIN the entry
 * changed before the PTE table could be locked (read it again), -ENOMEM
 * the alias set could not grow.
 */
static int enter(struct pw_walk_state *st, int level, uint64_t *e, uint64_t v, uint64_t next)
{
	struct pw_mm *mm = st->_mm;
	uint64_t pfn = pw_table_pfn(mm, v);
	uint64_t *t = pw_table(mm, pfn);
	int child = level - 1;

	if (!t)
		return 0;
	if (st->_seen) {
		int err = pw_seen_add(&st->_seen, pfn, child);

		if (err)
			return err;
	}
	if (child == PW_LEVEL_PTE && must_lock(st)) {
		pw_pte_lock(mm, pfn);
		if (pw_entry_read(e) != v) {
			pw_pte_unlock(mm, pfn);
			return -EAGAIN;
		}
		st->_locked = true;
	}
	st->_tbl[child] = t;
	st->_pfn[child] = pfn;
	st->_lend[child] = next;
	st->_cur = child;
	return 1;
}

static int step(struct pw_walk_state *st)
{
	struct pw_mm *mm = st->_mm;
	int levels = mm->cfg.levels, root = pw_root_level(levels);

	if (st->_done)
		return 0;
	/* Pieces of a huge leaf still to report. */
	if (st->_piece_end) {
		uint64_t s = st->start + PW_PAGE_SIZE;

		if (s != st->_piece_end) {
			st->entry = pw_leaf_to_pte(st->level, pw_entry_read(st->ptep), s, mm->cfg.maxphyaddr);
			st->start = s;
			st->end = s + PW_PAGE_SIZE;
			return 1;
		}
		st->_piece_end = 0;
	}
	if (st->_descend) {
		int r;

		st->_descend = false;
		/* Reachability was checked before the table step was reported. */
		r = enter(st, st->level, st->ptep, st->entry, st->end);
		if (r == -ENOMEM)
			goto nomem;
		if (r <= 0)
			st->_addr = st->end;
	}

	for (;;) {
		int L = st->_cur, r;
		uint64_t addr = st->_addr, next, v, *e;

		if (addr == st->_lend[L]) {
			/* This table's range is used up: go up, or finish. */
			if (L == PW_LEVEL_PTE)
				unlock_pte(st);
			if (L < root) {
				st->_cur = L + 1;
				continue;
			}
			if (addr == st->_wend) {
				finish(st);
				return 0;
			}
			/* End of the lower half: the non-canonical gap. */
			st->_addr = pw_high_half_start(levels);
			st->_lend[root] = st->_wend;
			if (st->_flags & PW_WALK_HOLES)
				return emit(st, PW_STEP_HOLE, PW_HOLE_NONCANONICAL, root, addr,
					    st->_addr, 0, NULL);
			continue;
		}
		if (unlikely(st->_max_visits) && ++st->_visits > st->_max_visits) {
			finish(st);
			st->_err = -E2BIG;
			return 0;
		}
		e = st->_tbl[L] + pw_index(L, addr);
		v = pw_entry_read(e);
		next = pw_addr_end(L, addr, st->_lend[L]);
		st->_addr = next;

		if (pw_entry_none(v)) {
			if (st->_flags & PW_WALK_HOLES)
				return emit(st, PW_STEP_HOLE, PW_HOLE_EMPTY, L, addr, next, v, e);
			continue;
		}
		if (!(v & PW_P)) {
			if (st->_flags & PW_WALK_HOLES)
				return emit(st, PW_STEP_HOLE, PW_HOLE_NOT_PRESENT, L, addr, next, v, e);
			continue;
		}
		if (pw_entry_rsvd(&mm->cfg, L, v)) {
			if (st->_flags & PW_WALK_HOLES)
				return emit(st, PW_STEP_HOLE, PW_HOLE_RESERVED, L, addr, next, v, e);
			continue;
		}
		if (pw_entry_table(L, v)) {
			if (!pw_table(mm, pw_table_pfn(mm, v))) {
				if (st->_flags & PW_WALK_HOLES)
					return emit(st, PW_STEP_HOLE, PW_HOLE_NO_FRAME, L, addr, next, v, e);
				continue;
			}
			if (st->_seen && pw_seen_has(st->_seen, pw_table_pfn(mm, v), L - 1)) {
				if (st->_flags & PW_WALK_HOLES)
					return emit(st, PW_STEP_HOLE, PW_HOLE_ALIAS, L, addr, next, v, e);
				continue;
			}
			if (st->_flags & PW_WALK_TABLES) {
				st->_descend = true;
				st->_addr = addr; /* the subtree starts here */
				return emit(st, PW_STEP_TABLE, PW_HOLE_EMPTY, L, addr, next, v, e);
			}
			/* -EAGAIN: the entry changed under us; the loop reads it again. */
			r = enter(st, L, e, v, next);
			if (r == -ENOMEM)
				goto nomem;
			st->_addr = r ? addr : next;
			continue;
		}
		/* A present leaf. */
		if (L > PW_LEVEL_PTE && !(st->_flags & PW_WALK_ALL_SIZES)) {
			st->_piece_end = next;
			return emit(st, PW_STEP_LEAF, PW_HOLE_EMPTY, L, addr, addr + PW_PAGE_SIZE,
				    pw_leaf_to_pte(L, v, addr, mm->cfg.maxphyaddr), e);
		}
		if (L == PW_LEVEL_PTE)
			return emit_pte(st, addr, v, e);
		return emit(st, PW_STEP_LEAF, PW_HOLE_EMPTY, L, addr, next, v, e);
	}
nomem:
	finish(st);
	st->_err = -ENOMEM;
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
static uint64_t pte_rsvd_mask(const struct pw_paging *cfg)
{
	return pw_entry_rsvd(cfg, PW_LEVEL_PTE, ~0ULL);
}

PW_API int pw_walk_begin_max(struct pw_walk_state *st, struct pw_mm *mm, uint64_t start,
			     uint64_t end, unsigned flags, uint64_t max_entries)
{
	int levels, root;
	uint64_t low_end;

	if (!st)
		return -EINVAL;
	*st = (struct pw_walk_state){ ._mm = mm, ._done = true };
	if (!mm ||
	    (flags & ~(PW_WALK_HOLES | PW_WALK_ALL_SIZES | PW_WALK_TABLES | PW_WALK_ALIASES)) ||
	    ((start | end) & ~PW_PAGE_MASK) || (end != 0 && start >= end))
		return st->_err = -EINVAL;
	levels = mm->cfg.levels;
	if (!pw_canonical(levels, start) || !pw_canonical(levels, end - 1))
		return st->_err = -ERANGE;
	pw_assert_mmap_locked(mm);
	root = pw_root_level(levels);
	low_end = pw_low_half_end(levels);
	st->_flags = flags;
	st->_pte_rsvd = pte_rsvd_mask(&mm->cfg);
	st->_max_visits = max_entries;
	if (!mm->arena && !(flags & PW_WALK_ALIASES)) {
		st->_seen = pw_seen_new();
		if (!st->_seen)
			return st->_err = -ENOMEM;
	}
	st->_done = false;
	st->_addr = start;
	st->_wend = end;
	st->_cur = root;
	st->_tbl[root] = pw_table(mm, mm->root_pfn);
	st->_pfn[root] = mm->root_pfn;
	st->_lend[root] = (start < low_end && (end == 0 || end > low_end)) ? low_end : end;
	if (!st->_tbl[root]) {
		/* The root itself is not in physical memory. */
		finish(st);
		if (!(flags & PW_WALK_HOLES))
			return 0;
		return emit(st, PW_STEP_HOLE, PW_HOLE_NO_FRAME, root, start, end, 0, NULL);
	}
	return step(st);
}

/*
 * The common step inside a PTE table, without step()'s generic machinery:
 * skip none PTEs (unless holes are reported) and report the next present,
 * well-formed PTE exactly as step() would. Anything else (the end of the
 * table, a hole to report, a malformed PTE) is left to step().
 */
static int next_pte(struct pw_walk_state *st)
{
	const uint64_t rsvd = st->_pte_rsvd;
	const bool holes = st->_flags & PW_WALK_HOLES;
	uint64_t *t = st->_tbl[PW_LEVEL_PTE], addr = st->_addr, end = st->_lend[PW_LEVEL_PTE];

	while (addr != end) {
		uint64_t *e = t + pw_index(PW_LEVEL_PTE, addr);
		uint64_t v = pw_entry_read(e);

		if (!v && !holes) {
			addr += PW_PAGE_SIZE;
			continue;
		}
		if (!(v & PW_P) || (v & rsvd))
			break;
		PW_BUG_ON(pw_entry_rsvd(&st->_mm->cfg, PW_LEVEL_PTE, v));
		st->_addr = addr + PW_PAGE_SIZE;
		return emit_pte(st, addr, v, e);
	}
	st->_addr = addr;
	return step(st);
}

PW_API int pw_walk_next(struct pw_walk_state *st)
{
	/* Inside a PTE table with nothing pending and no entry limit to count. */
	if (st->_cur == PW_LEVEL_PTE && !st->_done && !st->_piece_end && !st->_descend &&
	    !st->_max_visits)
		return next_pte(st);
	return step(st);
}

PW_API void pw_walk_skip(struct pw_walk_state *st)
{
	if (st->_descend) {
		st->_descend = false;
		st->_addr = st->end; /* move past the subtree */
	}
	if (st->_piece_end) {
		st->start = st->_piece_end - PW_PAGE_SIZE; /* the next step leaves the leaf */
	}
}

PW_API void pw_walk_end(struct pw_walk_state *st)
{
	st->_fe = st->_fe_end = NULL;
	if (st->_mm)
		finish(st);
}
