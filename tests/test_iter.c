// SPDX-License-Identifier: MIT
/*
 * Description: the iterator and the callback walker report the same entries
 * under every combination of PW_WALK_HOLES, PW_WALK_ALL_SIZES and
 * PW_WALK_TABLES; pw_walk_skip(); early break with pw_walk_end().
 *
 * The mapping from callback events to iterator steps, which this test
 * defines and checks:
 *   - pte_entry(v): v none -> HOLE/EMPTY at level 0 (HOLES only); otherwise
 *     classified as below.
 *   - pgd/p4d/pud/pmd_entry(v): with 4-level paging the root entry reaches
 *     both pgd_entry and p4d_entry; it counts once. A present table entry
 *     -> TABLE (TABLES only); a present leaf -> LEAF at its level with
 *     ALL_SIZES, else one LEAF step per 4 KiB page carrying
 *     pw_leaf_to_pte(); P clear -> HOLE/NOT_PRESENT; reserved bits ->
 *     HOLE/RESERVED (HOLES only).
 *   - pte_hole(depth): HOLE/EMPTY at the level of kernel depth @depth
 *     (0 = the root, folded P4D included); depth -1 of a no-VMA walk is the
 *     non-canonical gap -> HOLE/NONCANONICAL at the root level.
 */
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>

#include "../tests/tap.h"
#include <errno.h>
#include <unistd.h>

struct rec {
	int type, reason, level;
	uint64_t start, end, value;
};

struct recs {
	struct rec *r;
	size_t n, cap;
	unsigned flags;
	int levels;
};

static void add(struct recs *rs, int type, int reason, int level, uint64_t s, uint64_t e, uint64_t v)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 4096;
		rs->r = realloc(rs->r, rs->cap * sizeof(*rs->r));
		if (!rs->r)
			abort();
	}
	rs->r[rs->n++] = (struct rec){ type, reason, level, s, e, v };
}

/* ---- callback side, translated to steps ---------------------------------- */

static void cb_entry(struct recs *rs, int level, uint64_t v, uint64_t a, uint64_t next)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	bool holes = rs->flags & PW_WALK_HOLES;

	cfg.levels = (uint8_t)rs->levels;
	if (pw_entry_none(v)) {
		if (holes)
			add(rs, PW_STEP_HOLE, PW_HOLE_EMPTY, level, a, next, v);
	} else if (!(v & PW_P)) {
		if (holes)
			add(rs, PW_STEP_HOLE, PW_HOLE_NOT_PRESENT, level, a, next, v);
	} else if (pw_entry_rsvd(&cfg, level, v)) {
		if (holes)
			add(rs, PW_STEP_HOLE, PW_HOLE_RESERVED, level, a, next, v);
	} else if (pw_entry_table(level, v)) {
		if (rs->flags & PW_WALK_TABLES)
			add(rs, PW_STEP_TABLE, 0, level, a, next, v);
	} else if (level == 0 || (rs->flags & PW_WALK_ALL_SIZES)) {
		add(rs, PW_STEP_LEAF, 0, level, a, next, v);
	} else {
		for (uint64_t p = a; p != next; p += PW_PAGE_SIZE)
			add(rs, PW_STEP_LEAF, 0, level, p, p + PW_PAGE_SIZE, pw_leaf_to_pte(level, v, p, 46));
	}
}

static int cb_pgd(pw_pgd_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	struct recs *rs = w->private;

	if (rs->levels == 5) /* 4-level: the same entry comes again as p4d */
		cb_entry(rs, 4, pw_pgdp_get(e).val, a, n);
	return 0;
}
static int cb_p4d(pw_p4d_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	cb_entry(w->private, 3, pw_p4dp_get(e).val, a, n);
	return 0;
}
static int cb_pud(pw_pud_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	cb_entry(w->private, 2, pw_pudp_get(e).val, a, n);
	return 0;
}
static int cb_pmd(pw_pmd_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	cb_entry(w->private, 1, pw_pmdp_get(e).val, a, n);
	return 0;
}
static int cb_pte(pw_pte_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	cb_entry(w->private, 0, pw_ptep_get(e).val, a, n);
	return 0;
}
static int cb_hole(uint64_t a, uint64_t n, int depth, struct pw_mm_walk *w)
{
	struct recs *rs = w->private;
	int root = rs->levels - 1;

	if (!(rs->flags & PW_WALK_HOLES))
		return 0;
	if (depth < 0)
		add(rs, PW_STEP_HOLE, PW_HOLE_NONCANONICAL, root, a, n, 0);
	else
		add(rs, PW_STEP_HOLE, PW_HOLE_EMPTY, depth == 0 ? root : 4 - depth, a, n, 0);
	return 0;
}

static const struct pw_walk_ops cb_ops = {
	.pgd_entry = cb_pgd, .p4d_entry = cb_p4d, .pud_entry = cb_pud, .pmd_entry = cb_pmd,
	.pte_entry = cb_pte, .pte_hole = cb_hole,
};

/* ---- the fixture ----------------------------------------------------------- */

struct fix {
	struct pw_arena *a;
	struct pw_mm *mm;
	uint64_t base;	  /* 1 GiB aligned */
	uint64_t *rsvd_pte, rsvd_pte_old;
	uint64_t *rsvd_pmd, rsvd_pmd_old;
};

/* Entry at @level for @addr, found by reading the tables. */
static uint64_t *entry_at(struct pw_mm *mm, uint64_t addr, int level)
{
	uint64_t pfn = pw_mm_root(mm), *e = NULL;

	for (int l = pw_mm_paging(mm)->levels - 1; l >= level; l--) {
		e = (uint64_t *)pw_frame_ptr(pw_mm_arena(mm), pfn) + pw_index(l, addr);
		pfn = pw_entry_pfn(l, *e, 46);
	}
	return e;
}

/*
 * base + 0:      1 GiB leaf
 * g = base + 1G: 16 4 KiB RW pages: 0, 1, 3 touched, 2 PROT_NONE, 10 with
 *                a reserved bit; g + 4M a 2 MiB leaf, g + 6M a PROT_NONE
 *                2 MiB leaf; g + 8M a PTE table whose PMD entry has a
 *                reserved bit
 * base + one root entry: a 4 KiB page (the next PML4 / PML5 slot)
 */
static void fix_init(struct fix *f, int levels)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	uint64_t b, g;

	cfg.levels = (uint8_t)levels;
	f->base = b = levels == 5 ? 0x00f0000000000000ULL : 0x00007e0000000000ULL;
	g = b + PW_PUD_SIZE;
	if (pw_arena_create(3ULL << 30, &f->a) || pw_mm_create(f->a, &cfg, &f->mm))
		abort();
	CHECK_EQ(pw_mmap(f->mm, b, PW_PUD_SIZE, PW_PROT_READ | PW_PROT_WRITE,
			 PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_1G, NULL), 0);
	CHECK_EQ(pw_access(f->mm, NULL, b + 5 * 4096, PW_FAULT_WRITE, NULL), 0);
	/* 4 KiB pages: touch 0, 1, 3, 10; page 2 PROT_NONE after a touch. */
	CHECK_EQ(pw_mmap(f->mm, g, 16 * 4096, PW_PROT_READ | PW_PROT_WRITE,
			 PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	for (int i = 0; i < 11; i++)
		if (i == 0 || i == 1 || i == 2 || i == 3 || i == 10)
			CHECK_EQ(pw_access(f->mm, NULL, g + i * 4096, i & 1 ? PW_FAULT_WRITE : 0, NULL), 0);
	CHECK_EQ(pw_mprotect(f->mm, g + 2 * 4096, 4096, PW_PROT_NONE), 0);
	/* 2 MiB leaves at g + 4M (present) and g + 6M (PROT_NONE). */
	CHECK_EQ(pw_mmap(f->mm, g + 2 * PW_PMD_SIZE, 2 * PW_PMD_SIZE, PW_PROT_READ,
			 PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_mprotect(f->mm, g + 3 * PW_PMD_SIZE, PW_PMD_SIZE, PW_PROT_NONE), 0);
	/* A PTE table at g + 8M whose PMD entry gets a reserved bit. */
	CHECK_EQ(pw_mmap(f->mm, g + 4 * PW_PMD_SIZE, 4096, PW_PROT_READ,
			 PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
	/* One page in the next root entry. */
	CHECK_EQ(pw_mmap(f->mm, b + pw_level_size(levels - 1), 4096, PW_PROT_READ | PW_PROT_EXEC,
			 PW_MAP_SHARED | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
	pw_mmap_read_lock(f->mm);
	f->rsvd_pte = entry_at(f->mm, g + 10 * 4096, 0);
	f->rsvd_pmd = entry_at(f->mm, g + 4 * PW_PMD_SIZE, 1);
	pw_mmap_read_unlock(f->mm);
	f->rsvd_pte_old = *f->rsvd_pte;
	f->rsvd_pmd_old = *f->rsvd_pmd;
	*f->rsvd_pte |= 1ULL << 50; /* above MAXPHYADDR 46 */
	*f->rsvd_pmd |= 1ULL << 49;
}

static void fix_fini(struct fix *f)
{
	*f->rsvd_pte = f->rsvd_pte_old;
	*f->rsvd_pmd = f->rsvd_pmd_old;
	pw_mm_destroy(f->mm);
	pw_arena_destroy(f->a);
}

static bool same(const struct recs *x, const struct recs *y, const char *what)
{
	size_t n = x->n < y->n ? x->n : y->n;

	for (size_t i = 0; i < n; i++) {
		const struct rec *p = &x->r[i], *q = &y->r[i];

		if (memcmp(p, q, sizeof(*p))) {
			tap_diag("%s: step %zu differs: callback %d/%d L%d 0x%" PRIx64 "-0x%" PRIx64
				 " 0x%" PRIx64 ", iterator %d/%d L%d 0x%" PRIx64 "-0x%" PRIx64 " 0x%" PRIx64,
				 what, i, p->type, p->reason, p->level, p->start, p->end, p->value, q->type,
				 q->reason, q->level, q->start, q->end, q->value);
			return false;
		}
	}
	if (x->n != y->n) {
		tap_diag("%s: %zu callback steps, %zu iterator steps", what, x->n, y->n);
		return false;
	}
	return true;
}

static void compare_all(int levels)
{
	struct pw_mm *foreign;
	struct fix f;
	const uint64_t b0 = levels == 5 ? 0x00f0000000000000ULL : 0x00007e0000000000ULL;
	const uint64_t ranges[][2] = {
		{ 0, 0 },				 /* everything, both halves */
		{ b0, b0 + 2 * PW_PUD_SIZE },		 /* the fixture */
		{ b0 + PW_PUD_SIZE + 4096, b0 + PW_PUD_SIZE + 5 * PW_PMD_SIZE - 4096 }, /* unaligned */
		{ b0 + 4096 * 3, b0 + 4096 * 7 },	 /* inside the 1 GiB leaf */
		{ pw_high_half_start(levels), 0 },	 /* the upper half only */
		{ pw_low_half_end(levels) - PW_PMD_SIZE, pw_high_half_start(levels) + PW_PMD_SIZE }, /* across the gap */
		{ pw_high_half_start(levels) + 4096, pw_high_half_start(levels) + 3 * PW_PUD_SIZE },
	};

	fix_init(&f, levels);
	/* The arena mm, then a foreign mm over the same tables (no locks, alias set). */
	REQUIRE_EQ(pw_mm_create_foreign(pw_arena_phys(f.a), pw_mm_paging(f.mm), pw_mm_root(f.mm), &foreign), 0);
	for (int fo = 0; fo < 2; fo++) {
		struct pw_mm *mm = fo ? foreign : f.mm;

		for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
			for (unsigned flags = 0; flags < 8; flags++) {
				struct recs cb = { .flags = flags, .levels = levels };
				struct recs it = { .flags = flags, .levels = levels };
				struct pw_walk_state st;
				char what[96];

				snprintf(what, sizeof(what), "%d-level %s range %zu flags %u", levels,
					 fo ? "foreign" : "arena", r, flags);
				pw_mmap_read_lock(f.mm);
				CHECK_EQ(pw_walk_page_range_novma(mm, ranges[r][0], ranges[r][1], &cb_ops,
								  PW_ROOT_DEFAULT, &cb), 0);
				pw_for_each_entry(&st, mm, ranges[r][0], ranges[r][1], flags)
					add(&it, st.type, st.type == PW_STEP_HOLE ? (int)st.reason : 0,
					    st.level, st.start, st.end, st.entry);
				CHECK_EQ(pw_walk_error(&st), 0);
				pw_mmap_read_unlock(f.mm);
				CHECK(same(&cb, &it, what));
				CHECK(it.n > 0 || !(flags & PW_WALK_HOLES));
				free(cb.r);
				free(it.r);
			}
		}
	}
	pw_mm_destroy(foreign);
	fix_fini(&f);
}

TEST(iter_equals_callback_4level)
{
	compare_all(4);
}

TEST(iter_equals_callback_5level)
{
	compare_all(5);
}

/* Every reason and step type shows up in the fixture (so the comparison means something). */
TEST(fixture_has_every_kind)
{
	struct fix f;
	struct pw_walk_state st;
	unsigned seen_reason = 0, seen_leaf_level = 0, tables = 0;

	fix_init(&f, 4);
	pw_mmap_read_lock(f.mm);
	pw_for_each_entry(&st, f.mm, 0, 0, PW_WALK_HOLES | PW_WALK_TABLES | PW_WALK_ALL_SIZES) {
		if (st.type == PW_STEP_HOLE)
			seen_reason |= 1u << st.reason;
		else if (st.type == PW_STEP_LEAF)
			seen_leaf_level |= 1u << st.level;
		else
			tables++;
	}
	pw_mmap_read_unlock(f.mm);
	CHECK_EQ(seen_reason, (1u << PW_HOLE_EMPTY) | (1u << PW_HOLE_NOT_PRESENT) |
				      (1u << PW_HOLE_RESERVED) | (1u << PW_HOLE_NONCANONICAL));
	CHECK_EQ(seen_leaf_level, 7);
	CHECK(tables >= 5);
	fix_fini(&f);
}

TEST(skip_table_and_huge_pieces)
{
	struct fix f;
	struct pw_walk_state st;
	uint64_t g, skipped_end = 0, huge_end = 0;
	bool bad = false;
	int n = 0, pieces = 0;

	fix_init(&f, 4);
	g = f.base + PW_PUD_SIZE;
	pw_mmap_read_lock(f.mm);
	/* Skip the PTE table under g: none of its PTEs may be reported. */
	pw_for_each_entry(&st, f.mm, g, g + 4 * PW_PMD_SIZE, PW_WALK_TABLES) {
		if (st.type == PW_STEP_TABLE && st.level == 1 && st.start == g) {
			skipped_end = st.end;
			pw_walk_skip(&st);
			continue;
		}
		if (st.start < skipped_end)
			bad = true;
		if (st.type == PW_STEP_LEAF)
			n++;
	}
	CHECK(!bad);
	CHECK_EQ(skipped_end, g + PW_PMD_SIZE);
	CHECK_EQ(n, 512); /* only the 2 MiB leaf's pieces remain */
	/* Skip the rest of a huge leaf after its first piece. */
	n = 0;
	pw_for_each_entry(&st, f.mm, f.base, g + 4 * PW_PMD_SIZE, 0) {
		n++;
		if (st.level > 0 && !huge_end) {
			huge_end = (st.start & pw_level_mask(st.level)) + pw_level_size(st.level);
			pw_walk_skip(&st);
			continue;
		}
		if (st.start < huge_end)
			bad = true;
		if (st.level == 1)
			pieces++;
	}
	CHECK(!bad);
	CHECK_EQ(huge_end, g);
	CHECK_EQ(pieces, 512);
	CHECK_EQ(n, 1 + 3 + 512); /* one piece of 1 GiB, 3 PTEs, the 2 MiB leaf */
	/* Skip on a leaf of a PTE table or a hole: no effect. */
	n = 0;
	pw_for_each_entry(&st, f.mm, g, g + 16 * 4096, PW_WALK_HOLES) {
		pw_walk_skip(&st);
		n++;
	}
	CHECK_EQ(n, 16);
	pw_mmap_read_unlock(f.mm);
	fix_fini(&f);
}

static int count_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	(*(int *)walk->private)++;
	return 0;
}

TEST(early_break_then_walk_again)
{
	struct fix f;
	struct pw_walk_state st;
	struct pw_walk_ops ops = { .pte_entry = count_pte };
	uint64_t g;
	int n = 0;

	fix_init(&f, 5);
	g = f.base + PW_PUD_SIZE;
	pw_mmap_read_lock(f.mm);
	/* Leave inside the PTE table: its lock is held until pw_walk_end(). */
	pw_for_each_entry(&st, f.mm, g, g + 16 * 4096, 0) {
		if (st.start == g + 4096) {
			CHECK(st._private.locked);
			pw_walk_end(&st);
			break;
		}
	}
	CHECK(!st._private.locked);
	pw_walk_end(&st); /* twice is harmless */
	CHECK_EQ(pw_walk_next(&st), 0); /* an ended walk stays ended */
	/* The same PTE table, through both walkers: must not deadlock. */
	n = 0;
	pw_for_each_entry(&st, f.mm, g, g + 16 * 4096, 0)
		n++;
	CHECK_EQ(n, 3); /* pages 0, 1, 3 (2 is PROT_NONE, 10 is malformed) */
	n = 0;
	CHECK_EQ(pw_walk_page_range(f.mm, g, g + 16 * 4096, &ops, &n), 0);
	CHECK_EQ(n, 16);
	/* A completed walk releases everything; pw_walk_end() after it is harmless. */
	pw_walk_end(&st);
	pw_mmap_read_unlock(f.mm);
	/* Faulting into that table needs its lock: it must be free. */
	CHECK_EQ(pw_access(f.mm, NULL, g + 5 * 4096, PW_FAULT_WRITE, NULL), 0);
	fix_fini(&f);
}

/* Return from inside the loop, positioned in a PTE table. */
static uint64_t first_pte_at_or_after(struct pw_mm *mm, uint64_t s, uint64_t e,
				      struct pw_walk_state *st)
{
	pw_for_each_entry(st, mm, s, e, 0) {
		if (st->level == PW_LEVEL_PTE)
			return st->start;
	}
	return 0;
}

TEST(leaving_the_loop_ends_the_walk)
{
	struct fix f;
	struct pw_walk_state st;
	struct pw_mm *view;
	uint64_t g, a;
	long pairs = 0, n_outer = 0, n_inner = 0;
	int n = 0;

	fix_init(&f, 4);
	g = f.base + PW_PUD_SIZE;
	pw_mmap_read_lock(f.mm);
	/* break, with no pw_walk_end(): the lock is dropped, the step kept. */
	pw_for_each_entry(&st, f.mm, g, g + 16 * 4096, 0) {
		CHECK(st._private.locked);
		if (st.start == g + 4096)
			break;
	}
	CHECK(!st._private.locked);
	CHECK_EQ(st.start, g + 4096); /* the step the body broke at, not the next one */
	CHECK_EQ(pw_walk_next(&st), 0);
	/* return from inside the loop */
	a = first_pte_at_or_after(f.mm, g, g + 16 * 4096, &st);
	CHECK_EQ(a, g);
	CHECK(!st._private.locked);
	/* break out of the inline run (several PTEs in a row), then continue elsewhere */
	pw_for_each_entry(&st, f.mm, g, g + 16 * 4096, 0) {
		if (++n == 2)
			break;
	}
	CHECK_EQ(n, 2);
	CHECK(!st._private.locked);
	/* the _max form too */
	n = 0;
	pw_for_each_entry_max(&st, f.mm, g, g + 16 * 4096, 0, 1000) {
		if (++n == 1)
			break;
	}
	CHECK(!st._private.locked);
	pw_mmap_read_unlock(f.mm);
	/* Each of the PTE tables left above is unlocked: faults into it work. */
	CHECK_EQ(pw_access(f.mm, NULL, g + 5 * 4096, PW_FAULT_WRITE, NULL), 0);

	/*
	 * Nested loops (this file builds with -Wshadow -Werror) over a foreign
	 * view of the same tables (no locks to collide); the inner walk's
	 * alias set is freed each time it is left (LeakSanitizer checks).
	 */
	REQUIRE_EQ(pw_mm_create_foreign(pw_arena_phys(f.a), pw_mm_paging(f.mm), pw_mm_root(f.mm), &view), 0);
	{
		struct pw_walk_state outer, inner;

		pw_for_each_entry(&outer, view, g, g + 16 * 4096, 0) {
			n_outer++;
			n_inner = 0;
			pw_for_each_entry(&inner, view, g, g + 16 * 4096, 0) {
				n_inner++;
				pairs++;
				if (inner.start == outer.start)
					break;
			}
		}
		CHECK_EQ(pw_walk_error(&outer), 0);
	}
	CHECK_EQ(n_outer, 4); /* pages 0, 1, 3 and 5 (touched just above) */
	CHECK_EQ(pairs, 1 + 2 + 3 + 4); /* the inner loop stops at the outer's page */
	CHECK_EQ(n_inner, 4);
	pw_mm_destroy(view);
	fix_fini(&f);
}

/* PW_WALK_RUNS: the same PTEs as per-PTE steps, one step per PTE table. */
TEST(pte_runs_equal_per_pte_steps)
{
	for (int levels = 4; levels <= 5; levels++) {
		struct fix f;
		struct pw_walk_state st;
		const struct pw_paging *cfg;
		uint64_t sum1 = 0, sum2 = 0, n1 = 0, n2 = 0, runs = 0, holes1 = 0, holes2 = 0;
		bool bad = false;

		fix_init(&f, levels);
		cfg = pw_mm_paging(f.mm);
		pw_mmap_read_lock(f.mm);
		pw_for_each_entry(&st, f.mm, f.base, f.base + 2 * PW_PUD_SIZE, PW_WALK_HOLES) {
			if (st.type == PW_STEP_HOLE && st.level > PW_LEVEL_PTE)
				holes1++;
			if (st.type == PW_STEP_LEAF && st.level == PW_LEVEL_PTE) {
				n1++;
				sum1 += st.start ^ st.entry;
			}
		}
		pw_for_each_entry(&st, f.mm, f.base, f.base + 2 * PW_PUD_SIZE, PW_WALK_HOLES | PW_WALK_RUNS) {
			if (st.type == PW_STEP_HOLE) {
				holes2 += st.level > PW_LEVEL_PTE;
				bad |= st.level == PW_LEVEL_PTE; /* PTE holes are inside runs */
			}
			if (st.type == PW_STEP_LEAF && st.level == PW_LEVEL_PTE)
				bad = true; /* never a per-PTE step with runs */
			if (st.type != PW_STEP_RUN)
				continue;
			runs++;
			bad |= !st._private.locked || pw_walk_run_len(&st) < 1 || pw_walk_run_len(&st) > 512;
			for (uint64_t i = 0; i < pw_walk_run_len(&st); i++) {
				uint64_t v = pw_entry_read(st.ptep + i);

				if ((v & PW_P) && !pw_entry_rsvd(cfg, PW_LEVEL_PTE, v)) {
					n2++;
					sum2 += (st.start + i * 4096) ^ v;
				}
			}
		}
		CHECK_EQ(pw_walk_error(&st), 0);
		CHECK(!bad);
		CHECK(n1 > 0);
		CHECK_EQ(n2, n1);
		CHECK_EQ(sum2, sum1);
		CHECK_EQ(holes2, holes1);
		CHECK_EQ(runs, 1); /* g's table; the one behind the malformed PMD at g + 8M is not entered */
		/* A limit counts every PTE of a run. */
		n2 = 0;
		pw_for_each_entry_max(&st, f.mm, f.base + PW_PUD_SIZE, f.base + PW_PUD_SIZE + 16 * 4096,
				      PW_WALK_RUNS, 5)
			n2++;
		CHECK_EQ(pw_walk_error(&st), -E2BIG);
		CHECK_EQ(n2, 0);
		pw_mmap_read_unlock(f.mm);
		fix_fini(&f);
	}
}

int main(void)
{
	alarm(60); /* a deadlock fails the program instead of hanging the suite */
	tap_start();
	RUN(iter_equals_callback_4level);
	RUN(iter_equals_callback_5level);
	RUN(fixture_has_every_kind);
	RUN(skip_table_and_huge_pieces);
	RUN(early_break_then_walk_again);
	RUN(leaving_the_loop_ends_the_walk);
	RUN(pte_runs_equal_per_pte_steps);
	return tap_done();
}
