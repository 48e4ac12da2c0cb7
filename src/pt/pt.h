/* SPDX-License-Identifier: MIT */
/*
 * pt/pt.h - the page-table layer: the one way down the tree.
 *
 * Every walker of the library (the callback walker, the iterator, faults,
 * translation, split, zap and protection change, fork's copy, apply) reads
 * and changes tables through this header:
 *
 *   struct pw_pt        the tables of one address space (root, format, lock);
 *   struct pw_pt_entry  one entry of one table at one level, read once;
 *   pw_pt_kind()        the one classification of an entry;
 *   pw_pt_descend()     the one descent from the root to a level;
 *   pw_pt_for_each_span() the one range loop over a table's entries;
 *   pw_pt_install(), pw_pt_ensure_table(), pw_pt_free_if_empty()
 *                       the one way to add and remove tables;
 *   pw_pt_lock_ptes()   the one "lock the PTE table, re-check its parent".
 *
 * What a walker does with an entry of each kind is its own policy; how it
 * finds, classifies, installs and locks entries is not.
 *
 * Locking: entries above the PTE level change under pt->lock (the kernel's
 * page_table_lock), PTEs under the split lock of their table's frame. Tables
 * are unhooked only under the mmap lock held for write (pt/modify.c), so any
 * holder of the mmap lock may follow table entries without further locks;
 * and their frames are freed one grace period later (pw_pt_free_deferred()),
 * so a reader inside pw_rcu_read_lock() may follow them with no lock at all
 * (pw_pt_descend() reads each entry once, with acquire ordering).
 */
#ifndef PAGEWALK_PT_H
#define PAGEWALK_PT_H

#include "core/core.h"

/**
 * struct pw_pt - the page tables of one address space.
 * @phys: physical memory the tables are read from.
 * @arena: the arena tables are allocated from; NULL for foreign tables (a
 *         memory image), which are read only and never locked.
 * @cfg: the paging mode entries are interpreted in.
 * @root_pfn: frame of the root table.
 * @lock: guards entries above the PTE level (page_table_lock).
 * @nr_tables: table frames in use, root included (atomic).
 */
struct pw_pt {
	const struct pw_phys *phys;
	struct pw_arena *arena;
	struct pw_paging cfg;
	uint64_t root_pfn;
	uint32_t lock;
	uint64_t nr_tables;
	/* Tables unhooked and waiting for a grace period before they are freed
	 * (pw_pt_free_if_empty(), pw_pt_free_deferred()): a list through the
	 * frames' metadata (index), under page_table_lock. */
	uint64_t deferred;
	uint32_t nr_deferred;
	uint32_t in_grace; /* tables of this pt are waiting in pw_pt_free_deferred() (tests) */
};

/*
 * Test hook (debug builds): free unhooked tables at once instead of after
 * a grace period, so that a test can show a lockless reader then touches a
 * freed table (AddressSanitizer: freed table frames are poisoned).
 */
extern bool pw_debug_table_free_now;

/* Flags of the table entries we create (permissions are decided at leaves). */
#define PW_TABLE_FLAGS (PW_P | PW_RW | PW_US | PW_A)

/** pw_pt_table() - the table in frame @pfn; NULL if @pfn is outside physical memory. */
static inline uint64_t *pw_pt_table(const struct pw_pt *pt, uint64_t pfn)
{
	return pw_phys_frame(pt->phys, pfn);
}

/** pw_pt_next_pfn() - frame of the table a table entry @v points at. */
static inline uint64_t pw_pt_next_pfn(const struct pw_pt *pt, uint64_t v)
{
	return (v & pw_frame_field_mask(pt->cfg.maxphyaddr)) >> PW_PAGE_SHIFT;
}

/**
 * pw_pt_leaf_pfn() - first frame of a non-none leaf @v at @level, present
 * or not (a PROT_NONE leaf keeps its frame and its PS bit).
 */
static inline uint64_t pw_pt_leaf_pfn(const struct pw_pt *pt, enum pw_level level, uint64_t v)
{
	uint64_t mask = pw_frame_field_mask(pt->cfg.maxphyaddr);

	if (level > PW_LEVEL_PTE && (v & PW_PS))
		mask &= pw_level_mask(level);
	return (v & mask) >> PW_PAGE_SHIFT;
}

/* ---- one entry, classified once ---------------------------------------- */

/**
 * enum pw_pt_kind - what an entry is, the same for every walker.
 * @PW_PT_NONE: zero: nothing here.
 * @PW_PT_TABLE: present, well formed, points at a table one level down.
 * @PW_PT_LEAF: present, well formed, maps memory (any PTE; PS at levels 1-2).
 * @PW_PT_NONPRESENT: P clear but not zero: data for software (a PROT_NONE
 *                    leaf in arena tables, a swap or device entry elsewhere).
 * @PW_PT_MALFORMED: present with a reserved bit set (pw_entry_rsvd()): the
 *                   MMU would fault on it; never followed.
 */
enum pw_pt_kind {
	PW_PT_NONE = 0,
	PW_PT_TABLE,
	PW_PT_LEAF,
	PW_PT_NONPRESENT,
	PW_PT_MALFORMED,
};

/** pw_pt_kind() - the kind of entry @v at @level in the paging mode @cfg. */
static inline enum pw_pt_kind pw_pt_kind(const struct pw_paging *cfg, enum pw_level level,
					 uint64_t v)
{
	if (!v)
		return PW_PT_NONE;
	if (!(v & PW_P))
		return PW_PT_NONPRESENT;
	if (pw_entry_rsvd(cfg, level, v))
		return PW_PT_MALFORMED;
	/* Well formed: PS is set only where a level may hold a leaf. */
	if (level == PW_LEVEL_PTE || (v & PW_PS))
		return PW_PT_LEAF;
	return PW_PT_TABLE;
}

/**
 * pw_pt_maps() - does an arena entry of kind @k hold a frame that the
 * mapping owns: a present leaf or a PROT_NONE leaf? (Arena tables never
 * hold non-present table entries.)
 */
static inline bool pw_pt_maps(enum pw_pt_kind k)
{
	return k == PW_PT_LEAF || k == PW_PT_NONPRESENT;
}

/**
 * struct pw_pt_entry - one entry of one table at one level.
 * @ptep: the entry in its table.
 * @val: its value, read once (pw_entry_read()).
 * @table: frame of the table holding it (whose lock guards a PTE).
 * @level: the table's level.
 */
struct pw_pt_entry {
	uint64_t *ptep;
	uint64_t val;
	uint64_t table;
	enum pw_level level;
};

/**
 * pw_pt_entry_at() - read the entry for @addr in the level-@level table
 * @table, whose memory is @t (pw_pt_table() of @table, looked up once per
 * table by the caller).
 */
static inline struct pw_pt_entry pw_pt_entry_at(uint64_t *t, uint64_t table, enum pw_level level,
						uint64_t addr)
{
	uint64_t *p = t + pw_index(level, addr);

	return (struct pw_pt_entry){ .ptep = p, .val = pw_entry_read(p), .table = table,
				     .level = level };
}

/** pw_pt_reread() - read @e again; true if it changed since it was read. */
static inline bool pw_pt_reread(struct pw_pt_entry *e)
{
	uint64_t v = pw_entry_read(e->ptep);
	bool changed = v != e->val;

	e->val = v;
	return changed;
}

/** pw_pt_entry_kind() - pw_pt_kind() of @e. */
static inline enum pw_pt_kind pw_pt_entry_kind(const struct pw_pt *pt, const struct pw_pt_entry *e)
{
	return pw_pt_kind(&pt->cfg, e->level, e->val);
}

/* ---- the one descent --------------------------------------------------- */

/**
 * pw_pt_descend() - follow @addr from the root towards @stop.
 * @pt: the tables.
 * @addr: a canonical address.
 * @stop: the lowest level to read (PW_LEVEL_PTE for a full translation).
 * @out: the last entry read: at @stop, or higher if that entry is not a
 *       table (none, leaf, not present, malformed).
 * @path: NULL, or where every entry read is stored, path[level] for each
 *        level from the root down to @out's.
 *
 * Context: caller holds the mmap lock (tables stay allocated), or is inside
 * pw_rcu_read_lock() (tables stay allocated until it leaves; entries may
 * change under it: decide on the values read), or owns foreign tables;
 * takes no lock. Entries are read once each, with acquire ordering.
 * Return: the kind of *@out; -EIO if a table on the way is outside physical
 * memory (out->level is then that table's level and out->ptep NULL).
 */
int pw_pt_descend(const struct pw_pt *pt, uint64_t addr, enum pw_level stop,
		  struct pw_pt_entry *out, struct pw_pt_entry path[PW_MAX_LEVELS]);

/* ---- skipping none entries (scan.c) ----------------------------------- */

/**
 * pw_pt_next_used() - the index of the first entry of @t in [@i, @end) that
 * is not none, or @end. Reads a vector at a time (AVX2 or SSE2, picked at
 * the first call; PW_SCAN=scalar or =sse2 in the environment forces one).
 * The entries are a snapshot: read the one returned once, atomically, and
 * decide on that value.
 * Context: any; @t must stay readable (a lock, RCU or foreign tables).
 */
unsigned pw_pt_next_used(const uint64_t *t, unsigned i, unsigned end);
/** pw_pt_scan_impl() - "avx2", "sse2" or "scalar": what pw_pt_next_used() runs. */
const char *pw_pt_scan_impl(void);
typedef unsigned (*pw_pt_scan_fn)(const uint64_t *t, unsigned i, unsigned end);
/** pw_pt_scan_by_name() - one implementation ("avx2", "sse2", "scalar"; NULL: the best), or NULL if this CPU lacks it (tests). */
pw_pt_scan_fn pw_pt_scan_by_name(const char *name);

/* ---- the one range loop ------------------------------------------------ */

/**
 * pw_pt_for_each_span() - run the body once per entry of a level-@level
 * table that [@addr, @end) meets, with @next the end of that entry's span
 * clipped to @end (wrap-safe: @end 0 is the top). @addr and @next are the
 * caller's variables; `continue' moves to the next entry. The kernel's
 *   do { next = pXd_addr_end(addr, end); ... } while (addr = next, addr != end);
 */
#define pw_pt_for_each_span(level, addr, next, end)                                      \
	for (bool pw__first = true;                                                     \
	     (pw__first || ((addr) = (next)) != (end)) &&                               \
	     ((next) = pw_addr_end((level), (addr), (end)), pw__first = false, true);)

/* ---- locks ------------------------------------------------------------- */

/*
 * Every lock function below is a macro that passes its caller's source
 * position to lockdep (debug builds): the _at functions take it.
 */

/** pw_pt_pte_lock() - take the split lock of PTE table @pfn (arena tables only). */
#define pw_pt_pte_lock(pt, pfn) pw_pt_pte_lock_at((pt), (pfn), PW_SITE)
void pw_pt_pte_lock_at(struct pw_pt *pt, uint64_t pfn, struct pw_lock_site site);
/** pw_pt_pte_unlock() - drop it. */
void pw_pt_pte_unlock(struct pw_pt *pt, uint64_t pfn);

/** pw_pt_upper_lock() - take page_table_lock (changes to PGD .. PMD entries). */
#define pw_pt_upper_lock(pt) pw_spin_lock_at(&(pt)->lock, PW_LC_PAGE_TABLE, PW_SITE)
/** pw_pt_upper_unlock() - drop it. */
#define pw_pt_upper_unlock(pt) pw_spin_unlock_cls(&(pt)->lock, PW_LC_PAGE_TABLE)

/**
 * pw_pt_lock_ptes() - lock the PTE table that @pmd (a table entry at level
 * PMD, as read in @pmd->val) points at, then check that @pmd still holds
 * that value: a zap may have unhooked and freed the table meanwhile, and
 * the frame may even be a table again at the same place (the ABA case: the
 * value then differs in nothing but we hold the lock of a table that is
 * linked where we expect it, which is all a walker needs).
 * Context: arena tables; caller holds the mmap lock or the i_mmap lock of
 * a file mapped here. Takes the PTE table's lock.
 * Return: the table, locked; NULL if @pmd changed ("again": read it anew;
 * nothing is held).
 */
#define pw_pt_lock_ptes(pt, pmd) pw_pt_lock_ptes_at((pt), (pmd), PW_SITE)
uint64_t *pw_pt_lock_ptes_at(struct pw_pt *pt, const struct pw_pt_entry *pmd,
			     struct pw_lock_site site);

/** pw_pt_entry_lock() - take the lock guarding @e: its PTE table's at level PTE, else page_table_lock. */
#define pw_pt_entry_lock(pt, e) pw_pt_entry_lock_at((pt), (e), PW_SITE)
void pw_pt_entry_lock_at(struct pw_pt *pt, const struct pw_pt_entry *e, struct pw_lock_site site);
/** pw_pt_entry_unlock() - drop what pw_pt_entry_lock() took. */
void pw_pt_entry_unlock(struct pw_pt *pt, const struct pw_pt_entry *e);

/* ---- adding and removing tables ---------------------------------------- */

/**
 * pw_pt_table_alloc() - a zeroed frame for a new table, marked a page table.
 * Return: 0, -ENOMEM.
 */
int pw_pt_table_alloc(struct pw_pt *pt, uint64_t *pfn);

/** pw_pt_table_free() - free a table frame that is not (or no longer) installed. */
void pw_pt_table_free(struct pw_pt *pt, uint64_t pfn);

/**
 * pw_pt_set_locked() - write @v to @e and count @nr_new_tables new tables
 * (those @v brings in). Context: the lock guarding @e is held
 * (pw_pt_entry_lock()).
 */
void pw_pt_set_locked(struct pw_pt *pt, const struct pw_pt_entry *e, uint64_t v,
		      unsigned nr_new_tables);

/**
 * pw_pt_install() - publish @v at @e if @e still holds the value it was
 * read with: under the lock guarding @e, one store (readers following @v
 * find what it points at initialised), @nr_new_tables counted.
 * Context: arena tables; takes and drops the lock guarding @e.
 * Return: 0; -EAGAIN if @e changed (nothing written; the caller frees what
 * it built and reads @e again).
 */
int pw_pt_install(struct pw_pt *pt, const struct pw_pt_entry *e, uint64_t v, unsigned nr_new_tables);

/**
 * pw_pt_ensure_table() - if @e (above the PTE level) is none, allocate an
 * empty table and install it; if another thread installed one first, ours
 * is freed. @e->val is read again in any case.
 * Context: arena tables; takes and drops pt->lock.
 * Return: 0 (@e->val is what @e holds now: the table, or whatever a racer
 * put there), -ENOMEM.
 */
int pw_pt_ensure_table(struct pw_pt *pt, struct pw_pt_entry *e);

/** pw_pt_table_empty() - true if every entry of table @pfn is none. */
bool pw_pt_table_empty(const struct pw_pt *pt, uint64_t pfn);

/**
 * pw_pt_free_if_empty() - if the table that table entry @e points at is
 * empty, unhook it (under page_table_lock, and under the table's own lock
 * when it is a PTE table, so that a mapping walk inside it finishes first
 * and then sees its parent changed) and uncount it. Its frame is not freed
 * yet: a lockless reader (pw_rcu_read_lock()) may still be reading it. It
 * waits on pt->deferred until pw_pt_free_deferred().
 * Context: mmap lock held for write; the caller knows no walker that holds
 * only an i_mmap lock can be entering this table (pt/modify.c), and calls
 * pw_pt_free_deferred() before it drops the mmap lock.
 * Return: true if the table was unhooked (@e->val is then 0).
 */
bool pw_pt_free_if_empty(struct pw_pt *pt, struct pw_pt_entry *e);

/**
 * pw_pt_free_deferred() - free the tables pw_pt_free_if_empty() unhooked,
 * after one grace period (pw_rcu_synchronize()): every lockless reader
 * that could have found them has left its read-side section. Call it after
 * the TLB flush of the change that unhooked them (as the kernel frees
 * tables in tlb_finish_mmu()), so that frame counts are exact when the
 * change returns.
 * Context: mmap lock held for write; no read-side section, no spinlock held.
 */
void pw_pt_free_deferred(struct pw_pt *pt);

#endif /* PAGEWALK_PT_H */
