// SPDX-License-Identifier: MIT
/*
 * pgtable_ops.c - changing an arena mm's tables: leaf flags for a VMA,
 * splitting huge leaves, zapping ranges and changing protection.
 *
 * One recursive body, modify_level(), serves every level for both zap and
 * protection change; what happens at a leaf is a small function pointer.
 * Locking: upper-level entries change under mm->page_table_lock, PTEs under
 * their table's split lock; callers hold the mmap lock for write.
 */
#include <string.h>

#include "internal.h"

uint64_t pw_vma_leaf_flags(const struct pw_mm *mm, const struct pw_vma *vma, bool write)
{
	uint32_t f = vma->vm_flags;
	uint64_t v;

	if (!(f & (PW_VM_READ | PW_VM_WRITE | PW_VM_EXEC)))
		return PW_SW_PROTNONE; /* P clear: PROT_NONE keeps its frame */
	v = PW_P | PW_A;
	if (!(f & PW_VM_SUPERVISOR))
		v |= PW_US;
	if ((f & PW_VM_WRITE) && write)
		v |= PW_RW | PW_D;
	if (!(f & PW_VM_EXEC) && mm->cfg.nxe)
		v |= PW_NX;
	return v;
}

/* Address bits of a non-none leaf, present or PROT_NONE. */
static uint64_t leaf_addr(const struct pw_mm *mm, int level, uint64_t v)
{
	uint64_t mask = pw_frame_field_mask(mm->cfg.maxphyaddr);

	if (level > PW_LEVEL_PTE && (v & PW_PS))
		mask &= pw_level_mask(level);
	return v & mask;
}

void pw_release_leaf(struct pw_mm *mm, int level, uint64_t v)
{
	uint64_t pfn = leaf_addr(mm, level, v) >> PW_PAGE_SHIFT;
	struct pw_frame *f;

	if (!(v & (PW_P | PW_SW_PROTNONE)))
		return;
	__atomic_fetch_sub(&mm->rss, pw_level_size(level) >> PW_PAGE_SHIFT, __ATOMIC_RELAXED);
	f = pw_frame_meta(mm->arena, pfn);
	/* atomic: a page-cache frame's flags change under other mms (PW_FRAME_DIRTY) */
	if (!f || (__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & PW_FRAME_RESERVED))
		return;
	__atomic_fetch_sub(&f->mapcount, 1, __ATOMIC_RELAXED);
	pw_frame_put(mm->arena, pfn);
}

static void split_huge_into(struct pw_mm *mm, uint64_t *entry, int level, uint64_t pfn);

/**
 * pw_split_huge() - replace the huge leaf at *@entry (level 1 or 2) by a
 * table of 512 leaves one level down mapping the same frames.
 * Context: mmap lock held for write (or the caller owns the range).
 * Return: 0, -ENOMEM.
 */
int pw_split_huge(struct pw_mm *mm, uint64_t *entry, int level)
{
	uint64_t pfn;
	int ret;

	ret = pw_frame_alloc(mm->arena, 0, &pfn);
	if (ret)
		return ret;
	split_huge_into(mm, entry, level, pfn);
	return 0;
}

/* pw_split_huge() with the new table in frame @pfn (allocated, zeroed); never fails. */
static void split_huge_into(struct pw_mm *mm, uint64_t *entry, int level, uint64_t pfn)
{
	uint64_t v = pw_entry_read(entry), base, flags, *t;
	int lower = level - 1;

	PW_BUG_ON(level < PW_LEVEL_PMD || !(v & PW_PS));
	pw_frame_meta(mm->arena, pfn)->flags |= PW_FRAME_PGTABLE;
	t = pw_table(mm, pfn);
	base = leaf_addr(mm, level, v);
	flags = v & ~pw_frame_field_mask(mm->cfg.maxphyaddr) & ~(PW_PS | PW_PAT_LARGE);
	if (v & PW_PAT_LARGE)
		flags |= PW_PAT;
	for (unsigned i = 0; i < PW_PTRS_PER_TABLE; i++) {
		uint64_t sub = (base >> PW_PAGE_SHIFT) + ((uint64_t)i << (9 * lower));

		t[i] = pw_mk_leaf(lower, sub, flags);
		if (!(v & PW_P))
			t[i] &= ~PW_P;
	}
	pw_spin_lock(&mm->page_table_lock);
	if (pw_entry_read(entry) != v) {
		/* Someone else split or changed it first: theirs stands. */
		pw_spin_unlock(&mm->page_table_lock);
		pw_frame_free(mm->arena, pfn, 0);
		return;
	}
	if (pw_frame_meta(mm->arena, base >> PW_PAGE_SHIFT))
		pw_frame_split(mm->arena, base >> PW_PAGE_SHIFT, 9 * (unsigned)level,
			       9 * (unsigned)lower);
	pw_entry_write(entry, pw_mk_table(pfn, PW_TABLE_FLAGS));
	pw_spin_unlock(&mm->page_table_lock);
	__atomic_fetch_add(&mm->nr_pgtables, 1, __ATOMIC_RELAXED);
}

/* Split every huge leaf that covers @addr but does not start at it. */
int pw_split_huge_at(struct pw_mm *mm, uint64_t addr)
{
	uint64_t pfn = mm->root_pfn;

	if (!pw_canonical(mm->cfg.levels, addr))
		return 0;
	for (int level = pw_root_level(mm->cfg.levels); level > PW_LEVEL_PTE; level--) {
		uint64_t *e = pw_table(mm, pfn) + pw_index(level, addr);
		uint64_t v = pw_entry_read(e);

		if (pw_entry_none(v))
			return 0;
		if (pw_mm_is_leaf(level, v)) {
			int ret;

			if (!(addr & ~pw_level_mask(level)))
				return 0; /* starts here: nothing to split */
			ret = pw_split_huge(mm, e, level);
			if (ret)
				return ret;
			v = pw_entry_read(e);
		}
		pfn = pw_table_pfn(mm, v);
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
	uint64_t pfn = mm->root_pfn;

	if (!pw_canonical(mm->cfg.levels, addr))
		return n;
	for (int level = pw_root_level(mm->cfg.levels); level > PW_LEVEL_PTE; level--) {
		uint64_t v = pw_entry_read(pw_table(mm, pfn) + pw_index(level, addr));

		if (pw_entry_none(v))
			return n;
		if (pw_mm_is_leaf(level, v)) {
			/* A split leaves @addr in a leaf one level down: split again if needed. */
			for (int l = level; l > PW_LEVEL_PTE && (addr & ~pw_level_mask(l)); l--) {
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
		pfn = pw_table_pfn(mm, v);
	}
	return n;
}

/* pw_split_huge_at() taking the table frames from @pool (never fails). */
static void split_at_from_pool(struct pw_mm *mm, uint64_t addr, const uint64_t *pool, int *n)
{
	uint64_t pfn = mm->root_pfn;

	if (!pw_canonical(mm->cfg.levels, addr))
		return;
	for (int level = pw_root_level(mm->cfg.levels); level > PW_LEVEL_PTE; level--) {
		uint64_t *e = pw_table(mm, pfn) + pw_index(level, addr);
		uint64_t v = pw_entry_read(e);

		if (pw_entry_none(v))
			return;
		if (pw_mm_is_leaf(level, v)) {
			if (!(addr & ~pw_level_mask(level)))
				return;
			PW_BUG_ON(*n == 0);
			split_huge_into(mm, e, level, pool[--*n]);
			v = pw_entry_read(e);
		}
		pfn = pw_table_pfn(mm, v);
	}
}

/*
 * pw_split_huge_edges() - split the huge leaves straddling @start or @end,
 * all or nothing: the table frames needed are allocated first, so -ENOMEM
 * leaves the tables as they were (munmap and mprotect promise that).
 * Context: mmap lock held for write.
 * Return: 0, -ENOMEM.
 */
int pw_split_huge_edges(struct pw_mm *mm, uint64_t start, uint64_t end)
{
	uint64_t set[2 * PW_MAX_LEVELS][2], pool[2 * PW_MAX_LEVELS];
	int n = edge_splits(mm, end, set, edge_splits(mm, start, set, 0));

	for (int i = 0; i < n; i++) {
		int ret = pw_frame_alloc(mm->arena, 0, &pool[i]);

		if (ret) {
			while (i--)
				pw_frame_free(mm->arena, pool[i], 0);
			return ret;
		}
	}
	split_at_from_pool(mm, start, pool, &n);
	split_at_from_pool(mm, end, pool, &n);
	while (n--) /* none left unless a split was lost to a concurrent one */
		pw_frame_free(mm->arena, pool[n], 0);
	return 0;
}

struct modify {
	struct pw_mm *mm;
	const struct pw_vma *vma;
	struct pw_mmu_gather tlb; /* entries changed, flushed once at the end */
	uint64_t start, end;	  /* the whole range being changed */
	bool free_empty;
	void (*leaf)(struct modify *m, int level, uint64_t *e);
};

static bool table_empty(const uint64_t *t)
{
	for (unsigned i = 0; i < PW_PTRS_PER_TABLE; i++)
		if (pw_entry_read(&t[i]))
			return false;
	return true;
}

/*
 * Does a file VMA outside the range being zapped share the span of the
 * level-@level entry at @addr? Its table must then stay even when empty: a
 * mapping walk (pw_walk_page_mapping(), under the i_mmap lock only, no mmap
 * lock) may be reading it. Zapped file VMAs were unlinked from i_mmap first.
 */
static bool file_vma_shares(const struct modify *m, int level, uint64_t addr)
{
	uint64_t s = addr & pw_level_mask(level), e = s + pw_level_size(level);
	uint64_t part[2][2] = { { s, m->start }, { m->end, e } };

	for (int i = 0; i < 2; i++) {
		uint64_t ps = part[i][0], pe = part[i][1];

		/* skip a side of the span that the zapped range covers (e 0: the top) */
		if ((i == 0 && m->start <= s) || (i == 1 && (m->end == 0 || (e != 0 && m->end >= e))))
			continue;
		for (size_t j = pw_vma_index(m->mm, ps); j < m->mm->nr_vmas; j++) {
			const struct pw_vma *v = m->mm->vmas[j];

			if (pe != 0 && v->vm_start >= pe)
				break;
			if (v->vm_file)
				return true;
		}
	}
	return false;
}

/* Apply m->leaf to each leaf of [addr, end) under table @pfn at @level. */
static void modify_level(struct modify *m, int level, uint64_t pfn, uint64_t addr, uint64_t end)
{
	struct pw_mm *mm = m->mm;
	uint64_t *t = pw_table(mm, pfn), next;

	if (level == PW_LEVEL_PTE)
		pw_pte_lock(mm, pfn);
	do {
		uint64_t *e = t + pw_index(level, addr);
		uint64_t v = pw_entry_read(e);

		next = pw_addr_end(level, addr, end);
		if (pw_entry_none(v))
			continue;
		if (pw_mm_is_leaf(level, v)) {
			/* Callers split leaves that straddle the range's edges. */
			PW_BUG_ON(level > PW_LEVEL_PTE &&
				  ((addr & ~pw_level_mask(level)) || next - addr != pw_level_size(level)));
			if (level > PW_LEVEL_PTE)
				pw_spin_lock(&mm->page_table_lock);
			pw_tlb_gather_add(&m->tlb, addr, next - addr);
			m->leaf(m, level, e);
			if (level > PW_LEVEL_PTE)
				pw_spin_unlock(&mm->page_table_lock);
			continue;
		}
		modify_level(m, level - 1, pw_table_pfn(mm, v), addr, next);
		if (m->free_empty && table_empty(pw_table(mm, pw_table_pfn(mm, v))) &&
		    !file_vma_shares(m, level, addr)) {
			uint64_t child = pw_table_pfn(mm, v);
			bool pte_table = level - 1 == PW_LEVEL_PTE;

			/*
			 * A walker holding only a file's i_mmap lock may be inside
			 * this PTE table (for a neighbouring VMA) with its lock held:
			 * unhook the table under that lock. A walker that read the
			 * parent before we cleared it finds it changed once it gets
			 * the lock, and reads the parent again (walk.c, iter.c); the
			 * frame's memory and lock word stay valid in the arena.
			 */
			if (pte_table)
				pw_pte_lock(mm, child);
			pw_spin_lock(&mm->page_table_lock);
			pw_entry_write(e, 0);
			pw_spin_unlock(&mm->page_table_lock);
			if (pte_table)
				pw_pte_unlock(mm, child);
			pw_frame_free(mm->arena, child, 0);
			__atomic_fetch_sub(&mm->nr_pgtables, 1, __ATOMIC_RELAXED);
		}
	} while (addr = next, addr != end);
	if (level == PW_LEVEL_PTE)
		pw_pte_unlock(mm, pfn);
}

static void zap_leaf(struct modify *m, int level, uint64_t *e)
{
	uint64_t v = pw_entry_read(e);

	pw_entry_write(e, 0);
	pw_release_leaf(m->mm, level, v);
}

/* Run @m over [start, end) bracketed by notifiers, flushing what changed. */
static void modify_range(struct modify *m, uint64_t start, uint64_t end, enum pw_mmu_notify_event ev)
{
	struct pw_mmu_notifier_range r;

	if (start == end)
		return;
	m->start = start;
	m->end = end;
	pw_tlb_gather_init(&m->tlb, m->mm);
	pw_mmu_notifier_range_init(&r, ev, m->mm, start, end);
	pw_mmu_notifier_invalidate_range_start(&r);
	modify_level(m, pw_root_level(m->mm->cfg.levels), m->mm->root_pfn, start, end);
	pw_tlb_gather_flush(&m->tlb); /* the mmap write lock is still held */
	pw_mmu_notifier_invalidate_range_end(&r);
}

void pw_zap_range(struct pw_mm *mm, uint64_t start, uint64_t end)
{
	struct modify m = { .mm = mm, .free_empty = true, .leaf = zap_leaf };

	pw_assert_mmap_write_locked(mm);
	modify_range(&m, start, end, PW_MMU_NOTIFY_UNMAP);
}

static void prot_leaf(struct modify *m, int level, uint64_t *e)
{
	uint64_t v = pw_entry_read(e);
	uint64_t keep = leaf_addr(m->mm, level, v) | (v & (PW_A | PW_D | PW_PWT | PW_PCD | PW_G |
							   PW_SW_SOFTDIRTY | PW_PKEY_MASK));
	uint64_t nv = pw_vma_leaf_flags(m->mm, m->vma, false) & ~(PW_A | PW_D);

	if (level > PW_LEVEL_PTE)
		keep |= v & (PW_PS | PW_PAT_LARGE);
	else
		keep |= v & PW_PAT;
	/* Write permission is never granted here; it comes back on a write fault. */
	if ((v & PW_RW) && (m->vma->vm_flags & PW_VM_WRITE) && (nv & PW_P))
		nv |= PW_RW;
	pw_entry_write(e, keep | nv);
}

void pw_change_prot_range(struct pw_mm *mm, uint64_t start, uint64_t end, const struct pw_vma *vma)
{
	struct modify m = { .mm = mm, .vma = vma, .free_empty = false, .leaf = prot_leaf };

	pw_assert_mmap_write_locked(mm);
	modify_range(&m, start, end, PW_MMU_NOTIFY_PROTECTION_VMA);
}
