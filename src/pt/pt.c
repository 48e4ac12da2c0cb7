// SPDX-License-Identifier: MIT
/*
 * pt.c - the page-table layer (pt/pt.h): descent, PTE table locks, and
 * adding and removing tables.
 */
#include "pt/pt.h"

int pw_pt_descend(const struct pw_pt *pt, uint64_t addr, enum pw_level stop,
		  struct pw_pt_entry *out, struct pw_pt_entry path[PW_MAX_LEVELS])
{
	uint64_t table = pt->root_pfn;

	for (enum pw_level level = (enum pw_level)pw_root_level(pt->cfg.levels);; level--) {
		uint64_t *t = pw_pt_table(pt, table);
		enum pw_pt_kind kind;

		if (!t) {
			*out = (struct pw_pt_entry){ .table = table, .level = level };
			return -EIO;
		}
		out->ptep = t + pw_index(level, addr);
		/* acquire: a lockless reader (RCU) then sees the table this entry
		 * points at as it was built before publication (free on x86) */
		out->val = __atomic_load_n(out->ptep, __ATOMIC_ACQUIRE);
		out->table = table;
		out->level = level;
		if (path)
			path[level] = *out;
		kind = pw_pt_entry_kind(pt, out);
		if (kind != PW_PT_TABLE || level == stop)
			return (int)kind;
		table = pw_pt_next_pfn(pt, out->val);
	}
}

void pw_pt_pte_lock_at(struct pw_pt *pt, uint64_t pfn, struct pw_lock_site site)
{
	struct pw_frame *f;

	if (!pt->arena)
		return; /* foreign tables have no locks (they must not change) */
	f = pw_frame_meta(pt->arena, pfn);
	/* Not asserting PW_FRAME_PGTABLE: a walker may lock a table that was just
	 * unhooked and freed; it then sees the parent changed and lets go. */
	PW_BUG_ON(!f);
	pw_spin_lock_at(&f->ptl, PW_LC_PTE, site);
}

void pw_pt_pte_unlock(struct pw_pt *pt, uint64_t pfn)
{
	if (pt->arena)
		pw_spin_unlock_cls(&pw_frame_meta(pt->arena, pfn)->ptl, PW_LC_PTE);
}

uint64_t *pw_pt_lock_ptes_at(struct pw_pt *pt, const struct pw_pt_entry *pmd,
			     struct pw_lock_site site)
{
	uint64_t pfn = pw_pt_next_pfn(pt, pmd->val);

	PW_BUG_ON(pmd->level != PW_LEVEL_PMD);
	pw_pt_pte_lock_at(pt, pfn, site);
	if (pw_entry_read(pmd->ptep) != pmd->val) {
		pw_pt_pte_unlock(pt, pfn);
		return NULL;
	}
	return pw_pt_table(pt, pfn);
}

void pw_pt_entry_lock_at(struct pw_pt *pt, const struct pw_pt_entry *e, struct pw_lock_site site)
{
	if (e->level == PW_LEVEL_PTE)
		pw_pt_pte_lock_at(pt, e->table, site);
	else
		pw_spin_lock_at(&pt->lock, PW_LC_PAGE_TABLE, site);
}

void pw_pt_entry_unlock(struct pw_pt *pt, const struct pw_pt_entry *e)
{
	if (e->level == PW_LEVEL_PTE)
		pw_pt_pte_unlock(pt, e->table);
	else
		pw_pt_upper_unlock(pt);
}

bool pw_debug_table_free_now;

int pw_pt_table_alloc(struct pw_pt *pt, uint64_t *pfn)
{
	int ret = pw_frame_alloc(pt->arena, 0, pfn);

	if (ret)
		return ret;
	pw_frame_meta(pt->arena, *pfn)->flags |= PW_FRAME_PGTABLE;
	return 0;
}

void pw_pt_table_free(struct pw_pt *pt, uint64_t pfn)
{
	/* Poisoned until the allocator hands the frame out again: a reader
	 * that kept a pointer into it past its grace period is caught. */
	pw_poison(pw_pt_table(pt, pfn), PW_PAGE_SIZE);
	pw_frame_free(pt->arena, pfn, 0);
}

void pw_pt_set_locked(struct pw_pt *pt, const struct pw_pt_entry *e, uint64_t v,
		      unsigned nr_new_tables)
{
	pw_entry_write(e->ptep, v);
	if (nr_new_tables)
		__atomic_fetch_add(&pt->nr_tables, nr_new_tables, __ATOMIC_RELAXED);
}

int pw_pt_install(struct pw_pt *pt, const struct pw_pt_entry *e, uint64_t v, unsigned nr_new_tables)
{
	int ret = -EAGAIN;

	pw_pt_entry_lock(pt, e);
	if (pw_entry_read(e->ptep) == e->val) {
		pw_pt_set_locked(pt, e, v, nr_new_tables);
		ret = 0;
	}
	pw_pt_entry_unlock(pt, e);
	return ret;
}

int pw_pt_ensure_table(struct pw_pt *pt, struct pw_pt_entry *e)
{
	uint64_t pfn;
	int ret;

	PW_BUG_ON(e->level == PW_LEVEL_PTE);
	if (!pw_entry_none(e->val))
		return 0;
	ret = pw_pt_table_alloc(pt, &pfn);
	if (ret)
		return ret;
	if (pw_pt_install(pt, e, pw_mk_table(pfn, PW_TABLE_FLAGS), 1))
		pw_pt_table_free(pt, pfn); /* someone else installed one first */
	pw_pt_reread(e);
	return 0;
}

bool pw_pt_table_empty(const struct pw_pt *pt, uint64_t pfn)
{
	const uint64_t *t = pw_pt_table(pt, pfn);

	for (unsigned i = 0; i < PW_PTRS_PER_TABLE; i++)
		if (pw_entry_read(&t[i]))
			return false;
	return true;
}

bool pw_pt_free_if_empty(struct pw_pt *pt, struct pw_pt_entry *e)
{
	uint64_t child = pw_pt_next_pfn(pt, e->val);
	bool pte_table = e->level == PW_LEVEL_PMD;

	PW_BUG_ON(pw_pt_entry_kind(pt, e) != PW_PT_TABLE);
	if (!pw_pt_table_empty(pt, child))
		return false;
	/*
	 * A mapping walk holding only an i_mmap lock may be inside this PTE
	 * table (for a neighbouring VMA) with its lock held: unhook the table
	 * under that lock. A walker that read the parent before we cleared it
	 * finds it changed once it gets the lock (pw_pt_lock_ptes()) and reads
	 * the parent again; the frame's memory and lock word stay valid.
	 */
	pw_pt_upper_lock(pt);
	if (pte_table)
		pw_pt_pte_lock(pt, child);
	pw_entry_write(e->ptep, 0);
	if (pte_table)
		pw_pt_pte_unlock(pt, child);
	if (!__atomic_load_n(&pw_debug_table_free_now, __ATOMIC_RELAXED)) {
		pw_frame_meta(pt->arena, child)->index = pt->deferred;
		pt->deferred = child;
		pt->nr_deferred++;
		child = 0;
	}
	pw_pt_upper_unlock(pt);
	if (child)
		pw_pt_table_free(pt, child);
	__atomic_fetch_sub(&pt->nr_tables, 1, __ATOMIC_RELAXED);
	e->val = 0;
	return true;
}

void pw_pt_free_deferred(struct pw_pt *pt)
{
	uint64_t pfn;

	pw_pt_upper_lock(pt);
	pfn = pt->deferred;
	pt->deferred = 0;
	pt->nr_deferred = 0;
	pw_pt_upper_unlock(pt);
	if (!pfn)
		return;
	__atomic_store_n(&pt->in_grace, 1, __ATOMIC_RELEASE);
	pw_rcu_synchronize();
	__atomic_store_n(&pt->in_grace, 0, __ATOMIC_RELAXED);
	while (pfn) {
		uint64_t next = pw_frame_meta(pt->arena, pfn)->index;

		pw_frame_meta(pt->arena, pfn)->index = 0;
		pw_pt_table_free(pt, pfn);
		pfn = next;
	}
}
