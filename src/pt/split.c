// SPDX-License-Identifier: MIT
/*
 * split.c - splitting huge leaves of an arena mm into tables of smaller
 * leaves: one leaf (pw_split_huge()), every leaf straddling an address
 * (pw_split_huge_at()), and both edges of a range all or nothing
 * (pw_split_huge_edges(), for munmap and mprotect).
 *
 * Locking: the new table is built privately, then installed under
 * page_table_lock if the leaf is still what was read; callers hold the mmap
 * lock (for write, or for read in a fault that splits a shared huge page).
 */
#include "mm/mm.h"

/* Replace the leaf @e (levels 1-2, present or PROT_NONE) by a table in frame @pfn. */
static void split_into(struct pw_mm *mm, const struct pw_pt_entry *e, uint64_t pfn)
{
	struct pw_pt *pt = &mm->pt;
	enum pw_level lower = e->level - 1;
	uint64_t v = e->val, base = pw_pt_leaf_pfn(pt, e->level, v), flags, *t;

	PW_BUG_ON(e->level < PW_LEVEL_PMD || !(v & PW_PS));
	t = pw_pt_table(pt, pfn);
	flags = v & ~pw_frame_field_mask(pt->cfg.maxphyaddr) & ~(PW_PS | PW_PAT_LARGE);
	if (v & PW_PAT_LARGE)
		flags |= PW_PAT;
	for (unsigned i = 0; i < PW_PTRS_PER_TABLE; i++) {
		t[i] = pw_mk_leaf(lower, base + ((uint64_t)i << (9 * lower)), flags);
		if (!(v & PW_P))
			t[i] &= ~PW_P;
	}
	pw_pt_entry_lock(pt, e);
	if (pw_entry_read(e->ptep) != v) {
		/* Someone else split or changed it first: theirs stands. */
		pw_pt_entry_unlock(pt, e);
		pw_pt_table_free(pt, pfn);
		return;
	}
	if (pw_frame_meta(pt->arena, base))
		pw_frame_split(pt->arena, base, 9 * (unsigned)e->level, 9 * (unsigned)lower);
	pw_pt_set_locked(pt, e, pw_mk_table(pfn, PW_TABLE_FLAGS), 1);
	pw_pt_entry_unlock(pt, e);
}

int pw_split_huge(struct pw_mm *mm, const struct pw_pt_entry *e)
{
	uint64_t pfn;
	int ret = pw_pt_table_alloc(&mm->pt, &pfn);

	if (ret)
		return ret;
	split_into(mm, e, pfn);
	return 0;
}

/*
 * The first entry above the PTE level on the way to @addr that maps memory
 * and does not start at @addr: the leaf a split at @addr must cut. Return
 * true and set *@e, or false if no leaf straddles @addr.
 */
static bool straddling_leaf(struct pw_mm *mm, uint64_t addr, struct pw_pt_entry *e)
{
	int kind;

	if (!pw_canonical(mm->pt.cfg.levels, addr))
		return false;
	kind = pw_pt_descend(&mm->pt, addr, PW_LEVEL_PMD, e, NULL);
	return kind >= 0 && e->level > PW_LEVEL_PTE && pw_pt_maps((enum pw_pt_kind)kind) &&
	       (addr & ~pw_level_mask(e->level));
}

int pw_split_huge_at(struct pw_mm *mm, uint64_t addr)
{
	struct pw_pt_entry e;

	/* A 1 GiB leaf splits into 2 MiB ones, which may need a split in turn. */
	while (straddling_leaf(mm, addr, &e)) {
		int ret = pw_split_huge(mm, &e);

		if (ret)
			return ret;
	}
	return 0;
}

/*
 * The splits pw_split_huge_at(@addr) would make, added to @set as
 * (level, base) pairs unless already there; returns the new count. A split
 * at one edge that another edge's split already made is counted once.
 */
static int edge_splits(struct pw_mm *mm, uint64_t addr, uint64_t (*set)[2], int n)
{
	struct pw_pt_entry e;

	if (!straddling_leaf(mm, addr, &e))
		return n;
	/* A split leaves @addr in a leaf one level down: split again if needed. */
	for (enum pw_level l = e.level; l > PW_LEVEL_PTE && (addr & ~pw_level_mask(l)); l--) {
		uint64_t base = addr & pw_level_mask(l);
		bool dup = false;

		for (int i = 0; i < n; i++)
			dup |= set[i][0] == (uint64_t)l && set[i][1] == base;
		if (!dup) {
			set[n][0] = (uint64_t)l;
			set[n][1] = base;
			n++;
		}
	}
	return n;
}

/* pw_split_huge_at() taking the table frames from @pool (never fails). */
static void split_at_from_pool(struct pw_mm *mm, uint64_t addr, const uint64_t *pool, int *n)
{
	struct pw_pt_entry e;

	while (straddling_leaf(mm, addr, &e)) {
		PW_BUG_ON(*n == 0);
		split_into(mm, &e, pool[--*n]);
	}
}

int pw_split_huge_edges(struct pw_mm *mm, uint64_t start, uint64_t end)
{
	uint64_t set[2 * PW_MAX_LEVELS][2], pool[2 * PW_MAX_LEVELS];
	int n = edge_splits(mm, end, set, edge_splits(mm, start, set, 0));

	for (int i = 0; i < n; i++) {
		int ret = pw_pt_table_alloc(&mm->pt, &pool[i]);

		if (ret) {
			while (i--)
				pw_pt_table_free(&mm->pt, pool[i]);
			return ret;
		}
	}
	split_at_from_pool(mm, start, pool, &n);
	split_at_from_pool(mm, end, pool, &n);
	while (n--) /* none left unless a split was lost to a concurrent one */
		pw_pt_table_free(&mm->pt, pool[n]);
	return 0;
}
