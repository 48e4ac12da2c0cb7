/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/iter.h - the inside-out walker: a loop over a walk state.
 *
 *	struct pw_walk_state st;
 *
 *	pw_mmap_read_lock(mm);
 *	pw_for_each_entry(&st, mm, start, end, PW_WALK_HOLES) {
 *		if (st.type == PW_STEP_LEAF)
 *			use(st.level, st.start, st.end, st.entry);
 *		if (done_early)
 *			break;		// or return, or goto: the walk is ended
 *	}
 *	ret = pw_walk_error(&st);
 *	pw_mmap_read_unlock(mm);
 *
 * Each step describes one entry (or one 4 KiB piece of a huge leaf, or one
 * hole), in address order. Nothing is merged: two neighbouring leaves are
 * two steps. The state is the caller's memory; the walk allocates only the
 * alias set of a foreign mm (see "Aliases").
 *
 * Leaving the loop. However the loop is left, by its end, `break', `return'
 * or `goto', the walk is ended on the way out (the loop macro's variable
 * carries a cleanup that calls pw_walk_end()): the PTE table lock it holds
 * is dropped and its alias set freed. After `break' the state still shows
 * the step the body broke at (its @ptep no longer locked). Loops nest, also
 * under -Wshadow: each expansion names its own variables. (A loop driven by
 * hand with pw_walk_begin() / pw_walk_next() has no such cleanup: end it
 * with pw_walk_end().)
 */
#ifndef PAGEWALK_ITER_H
#define PAGEWALK_ITER_H

#include <stdbool.h>
#include <stdint.h>

#include <pagewalk/mm.h>
#include <pagewalk/pgtable.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Walk flags. */
enum {
	/* Report holes: none entries, non-present entries, malformed ones,
	 * and the non-canonical gap, each as a PW_STEP_HOLE with a reason. */
	PW_WALK_HOLES = 1u << 0,
	/* Report a huge leaf once, at its own level. Without this flag it is
	 * reported as one 4 KiB step per page, each with the PTE that would
	 * map that page (the level is still the leaf's). */
	PW_WALK_ALL_SIZES = 1u << 1,
	/* Report table entries too, before the entries below them. */
	PW_WALK_TABLES = 1u << 2,
	/* Foreign mms only: enter a table again each time an entry points at
	 * it, as the MMU would (see "Aliases" below). Arena mms always do. */
	PW_WALK_ALIASES = 1u << 3,
	/* Report the PTEs of each PTE table as one PW_STEP_RUN step instead of
	 * one step per PTE: @ptep is the first PTE of the run, [@start, @end)
	 * the addresses it covers (pw_walk_run_len() PTEs, at most 512, none
	 * and non-present ones included: the caller classifies them), with the
	 * table's lock held for the step (arena mms). Entries above the PTE
	 * level are reported as without the flag. */
	PW_WALK_RUNS = 1u << 4,
	/* Arena mms: walk without the mmap lock and without PTE table locks,
	 * inside an RCU read-side section from pw_walk_begin() to the end of
	 * the walk (page-table frames are freed only a grace period after they
	 * are unhooked, so every table reached stays readable). Each entry is
	 * read once with acquire ordering; entries may change under the walk
	 * (faults, munmap, write-protection): decide on the values reported, and
	 * do not write through @ptep. A long walk delays munmap by as much (it
	 * waits for the grace period). Foreign mms: no effect. */
	PW_WALK_NOLOCK = 1u << 5,
};

/*
 * Aliases. Tables of a foreign mm (a memory image) may point back at
 * themselves or at each other: Windows maps its PML4 into itself, Linux's
 * ESPfix points 512 PMD entries at one PTE table, and a corrupt or hostile
 * image can point every entry at one table, which an MMU-faithful walk
 * would cross 512^levels times. So by default a walk of a foreign mm
 * enters each (table frame, level) pair at most once; a later entry
 * pointing at a pair already entered is reported as a PW_HOLE_ALIAS hole
 * (with PW_WALK_HOLES) and not followed. The time of such a walk is then
 * bounded by the image: at most 512 entries per (frame, level). The set of
 * pairs is allocated by the walk and freed when it ends (hence the
 * pw_walk_end() rule after a break). With PW_WALK_ALIASES every path is
 * followed; bound it with pw_walk_begin_max(). Walks of arena mms keep no
 * set and cost nothing extra.
 */

/** enum pw_step_type - what a step is. */
enum pw_step_type {
	PW_STEP_LEAF = 0,  /* a present leaf: memory is mapped */
	PW_STEP_TABLE = 1, /* a present entry pointing to a table (PW_WALK_TABLES) */
	PW_STEP_HOLE = 2,  /* nothing mapped here; @reason says why (PW_WALK_HOLES) */
	PW_STEP_RUN = 3,   /* consecutive PTEs of one PTE table (PW_WALK_RUNS) */
};

/** enum pw_hole_reason - why a range is a hole. */
enum pw_hole_reason {
	PW_HOLE_EMPTY = 0,	  /* the entry is zero (none) */
	PW_HOLE_NOT_PRESENT = 1,  /* P clear but the entry holds data (PROT_NONE, swap) */
	PW_HOLE_RESERVED = 2,	  /* a reserved bit is set (see pw_entry_rsvd()) */
	PW_HOLE_NO_FRAME = 3,	  /* the table it points at is outside physical memory */
	PW_HOLE_NONCANONICAL = 4, /* the gap between the canonical halves (no entry) */
	PW_HOLE_ALIAS = 5,	  /* the table it points at was already entered at this
				     level in this walk (foreign mms; see "Aliases") */
	PW_HOLE_DEVICE_EXCLUSIVE = 6, /* a device-exclusive PTE (pagewalk/devx.h) of an arena mm:
				     the page is mapped but only the device may touch it; @entry
				     holds it (foreign mms report PW_HOLE_NOT_PRESENT) */
};

/*
 * struct pw__walk_private - the walk's own state inside struct
 * pw_walk_state. Not API: its fields may change in any release.
 */
struct pw__walk_private {
	struct pw_mm *mm;
	unsigned flags;
	enum pw_level cur;	    /* level of the table being scanned */
	int err;
	bool descend;		    /* descend below the current table step */
	bool done;
	bool locked;		    /* the PTE table pfn[PW_LEVEL_PTE] is locked */
	bool rcu;		    /* PW_WALK_NOLOCK: inside pw_rcu_read_lock() */
	uint64_t addr;		    /* next address to look at */
	uint64_t wend;		    /* end of the walk (0 = top) */
	uint64_t piece_end;	    /* end of the huge leaf being cut in pieces */
	uint64_t lend[PW_MAX_LEVELS]; /* end of the range of each level's table */
	uint64_t pfn[PW_MAX_LEVELS];  /* frame of each level's table */
	uint64_t *tbl[PW_MAX_LEVELS];
	uint64_t visits;	    /* entries read so far */
	uint64_t max_visits;	    /* 0 = no limit */
	uint64_t pte_mask;	    /* P and the reserved bits of a PTE (pw__pte_good()) */
	uint64_t *fe, *fe_end;	    /* loop macro's run: next PTE to try, end of the run */
	struct pw_walk_seen *seen;  /* (frame, level) pairs entered; NULL = no alias check */
	struct pw_vma *hvma;	    /* hugetlb VMA whose walk hook this walk holds, or NULL */
	uint64_t hcheck;	    /* next address at which to look for a hugetlb VMA */
};

/**
 * struct pw_walk_state - a walk in progress. The fields before @_private
 * describe the current step and are read-only for the caller; @_private is
 * the walk's own.
 * @type: PW_STEP_*.
 * @reason: for holes, PW_HOLE_*.
 * @level: level of the entry (PW_LEVEL_PTE .. PW_LEVEL_PGD; with 4-level
 *         paging the root is PW_LEVEL_P4D, named "pgd": see pw_depth());
 *         for the non-canonical gap, the root level.
 * @start, @end: the range this step covers, clipped to the walk; @end 0
 *         means the top of the address space.
 * @entry: the entry's value (for a 4 KiB piece of a huge leaf, the PTE
 *         equivalent of that page: see pw_leaf_to_pte()); 0 for a run.
 * @ptep: the entry in its table (for a run, its first PTE); NULL for the
 *        non-canonical gap. For PTEs of
 *        an arena mm it is valid while this step lasts: the PTE table lock
 *        is held from the first to the last step inside that table. Upper
 *        entries are protected by the mmap lock the caller holds.
 * @_private: not API.
 */
struct pw_walk_state {
	enum pw_step_type type;
	enum pw_hole_reason reason;
	int level; /* an enum pw_level (int, so that callers compare it freely) */
	uint64_t start, end;
	uint64_t entry;
	uint64_t *ptep;
	struct pw__walk_private _private;
};

/**
 * pw_walk_begin() - start a walk of [@start, @end) and move to the first step.
 * @st: the state (caller's memory).
 * @mm: address space; its root table is walked.
 * @start: first address, page aligned, canonical.
 * @end: end, page aligned; 0 = top of the address space. The range may
 *       span the non-canonical gap.
 * @flags: PW_WALK_*.
 *
 * Context: caller holds @mm's mmap lock (read or write) for the whole loop,
 * unless @mm is foreign or the walk is PW_WALK_NOLOCK. The iterator takes and
 * drops PTE table locks: while it is positioned inside a PTE table, that
 * table's lock is held, so the loop body must not fault, map, unmap or call
 * pw_access() on @mm (it would wait for the lock it holds); it may change the
 * current PTE through @ptep. With PW_WALK_NOLOCK it holds no lock but an RCU
 * read-side section: the body may call anything except what waits for a
 * grace period on the same thread (pw_munmap(), pw_mprotect() and other
 * changes that free tables would wait for the walk itself).
 * Hugetlb (arena mms, not PW_WALK_NOLOCK): when the walk is about to read a
 * PUD or PMD entry whose range overlaps a hugetlb VMA, it looks the VMA up
 * and calls pw_vma_pgtable_walk_begin() on it (pagewalk/hugetlb.h: the
 * hugetlb VMA lock for read where the VMA can share PMD tables), and
 * pw_vma_pgtable_walk_end() when it moves past the VMA's end, finishes or
 * is ended (pw_walk_end(), also by the loop macros on a break): while the
 * walk is positioned inside such a VMA the lock is held, so the loop body
 * must not munmap or mprotect it (the unsharing would wait for the walk)
 * nor take the lock itself. A hook this thread already holds (an enclosing
 * walk of the same VMA) is not taken again. Order: mmap lock -> hugetlb
 * VMA lock -> PTE lock (no PTE lock is held when the hook is taken).
 * Return: 1 positioned on a step, 0 nothing to report, negative errno:
 * -EINVAL (bad arguments or flags), -ERANGE (non-canonical).
 */
int pw_walk_begin(struct pw_walk_state *st, struct pw_mm *mm, uint64_t start, uint64_t end,
		  unsigned flags);

/**
 * pw_walk_begin_max() - pw_walk_begin() with a limit on the entries read.
 * @max_entries: stop after reading this many entries (0 = no limit). Every
 *               entry the walk reads counts, reported or not.
 *
 * Context: as pw_walk_begin().
 * Return: as pw_walk_begin(). When the limit is reached the walk ends
 * (pw_walk_next() returns 0) and pw_walk_error() returns -E2BIG.
 */
int pw_walk_begin_max(struct pw_walk_state *st, struct pw_mm *mm, uint64_t start, uint64_t end,
		      unsigned flags, uint64_t max_entries);

/**
 * pw_walk_next() - move to the next step.
 * Context: as pw_walk_begin(): may take or drop a PTE table lock.
 * Return: 1 positioned on a step, 0 the walk is over (locks released).
 */
int pw_walk_next(struct pw_walk_state *st);

/**
 * pw_walk_skip() - do not visit what is below the current step: the table
 * of a PW_STEP_TABLE step, or the remaining 4 KiB pieces of a huge leaf.
 * The next pw_walk_next() moves past it. No effect on other steps.
 * Context: inside the loop; takes no lock.
 */
void pw_walk_skip(struct pw_walk_state *st);

/**
 * pw_walk_end() - release what the walk holds (a PTE table lock, the
 * hugetlb walk hook, the alias set). Harmless after a complete walk, and
 * twice. The loop macros call it themselves on the way out.
 * Context: drops the PTE table lock and the hugetlb VMA lock the walk
 * holds, if any; never blocks.
 */
void pw_walk_end(struct pw_walk_state *st);

/**
 * pw_walk_run_len() - the number of PTEs of a PW_STEP_RUN step:
 * (@end - @start) / 4 KiB (wrap-safe at the top of the address space).
 * Context: any. Return: 1..512 for a run step.
 */
static inline uint64_t pw_walk_run_len(const struct pw_walk_state *st)
{
	return (st->end - st->start) >> PW_PAGE_SHIFT;
}

/**
 * pw_walk_error() - 0, or the error that ended the walk: what pw_walk_begin()
 * returned, -E2BIG (the pw_walk_begin_max() limit), -ENOMEM (no memory for
 * the alias set of a foreign mm).
 */
static inline int pw_walk_error(const struct pw_walk_state *st)
{
	return st->_private.err;
}

/*
 * pw__pte_good() - the one test of "a present, well-formed PTE", which
 * every path of the iterator applies (the library's step and the loop
 * macro's run): of P and the PTE's reserved bits (@mask, the walk's
 * pte_mask), only P is set.
 */
static inline bool pw__pte_good(uint64_t v, uint64_t mask)
{
	return (v & mask) == PW_P;
}

/*
 * The loop macro's fast path. After a PTE leaf with nothing pending, the
 * library arms a run (fe .. fe_end) over the rest of that PTE table
 * (whose lock it holds). The macro's inner loop then reports the following
 * good PTEs itself, keeping its cursor in a local variable (struct
 * pw__run) that the compiler can hold in registers; anything else ends the
 * inner loop and pw_walk_next() takes over. The steps are exactly the ones
 * pw_walk_next() would give.
 */
struct pw__run {
	uint64_t *e, *stop; /* the PTE just reported; end of the armed run */
	uint64_t addr;	    /* its address */
	uint64_t mask;	    /* the walk's pte_mask */
	bool armed;
};

/* The outer loop's variable: the walk, whether it goes on, whether the body broke. */
struct pw__loop {
	struct pw_walk_state *walk;
	int more;
	int brk;
};

/* The cleanup of struct pw__loop: however the loop is left, the walk ends. */
static inline void pw__loop_end(struct pw__loop *l)
{
	pw_walk_end(l->walk);
}

static inline struct pw__run pw__run_begin(struct pw_walk_state *st, int *brk)
{
	struct pw__walk_private *p = &st->_private;

	*brk = 1; /* stays 1 if the body leaves with `break' */
	if (!p->fe) /* not armed: an empty run inside the state itself */
		return (struct pw__run){ .e = &p->pte_mask, .stop = &p->pte_mask + 1 };
	return (struct pw__run){ .e = st->ptep, .stop = p->fe_end, .addr = st->start,
				 .mask = p->pte_mask, .armed = true };
}

static inline int pw__run_next(struct pw_walk_state *st, struct pw__run *r)
{
	uint64_t *e = r->e + 1;

	if (e != r->stop) {
		uint64_t v = pw_entry_read(e);

		if (pw__pte_good(v, r->mask)) {
			r->e = e;
			r->addr += PW_PAGE_SIZE;
			st->start = r->addr;
			st->end = r->addr + PW_PAGE_SIZE;
			st->entry = v;
			st->ptep = e;
			return 1;
		}
	}
	if (r->armed) {
		st->_private.addr = r->addr + PW_PAGE_SIZE; /* pw_walk_next() resumes after it */
		st->_private.fe = st->_private.fe_end = NULL;
	}
	return 0;
}

#define pw__cat(a, b) a##b
#define pw__name(a, n) pw__cat(a, n)

/*
 * One expansion of the loop, its variables named with @n (a __COUNTER__
 * value) so that loops nest. The outer loop steps the walk unless the body
 * broke out of the inner one; the inner loop runs the body once per step.
 */
#define pw__for_each(n, st, begin)                                                            \
	for (struct pw__loop pw__name(pw__l, n) __attribute__((cleanup(pw__loop_end))) =      \
		     { (st), (begin), 0 };                                                     \
	     pw__name(pw__l, n).more > 0;                                                      \
	     pw__name(pw__l, n).more =                                                         \
		     pw__name(pw__l, n).brk ? 0 : pw_walk_next(pw__name(pw__l, n).walk))         \
		for (struct pw__run pw__name(pw__r, n) =                                       \
			     pw__run_begin(pw__name(pw__l, n).walk, &pw__name(pw__l, n).brk);    \
		     pw__name(pw__l, n).brk;                                                   \
		     pw__name(pw__l, n).brk =                                                  \
			     pw__run_next(pw__name(pw__l, n).walk, &pw__name(pw__r, n)))

/**
 * pw_for_each_entry() - loop over every step of a walk. See the top of this
 * file: `continue' and `break' work as in any loop, and leaving the loop in
 * any way ends the walk.
 */
#define pw_for_each_entry(st, mm, start, end, flags) \
	pw__for_each(__COUNTER__, st, pw_walk_begin((st), (mm), (start), (end), (flags)))

/** pw_for_each_entry_max() - pw_for_each_entry() with pw_walk_begin_max()'s limit. */
#define pw_for_each_entry_max(st, mm, start, end, flags, max) \
	pw__for_each(__COUNTER__, st, pw_walk_begin_max((st), (mm), (start), (end), (flags), (max)))

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_ITER_H */
