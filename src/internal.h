/* SPDX-License-Identifier: MIT */
/*
 * internal.h - private declarations shared by the library's sources.
 */
#ifndef PAGEWALK_INTERNAL_H
#define PAGEWALK_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <pagewalk/pgtable.h>
#include <pagewalk/phys.h>

#define PW_API __attribute__((visibility("default")))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * PW_BUG_ON() checks invariants and lock rules in debug builds (PW_DEBUG=1,
 * which the test build sets); it compiles to nothing otherwise.
 */
#ifdef PW_DEBUG
#define PW_BUG_ON(cond)                                                           \
	do {                                                                      \
		if (unlikely(cond)) {                                             \
			fprintf(stderr, "pagewalk: BUG at %s:%d %s(): %s\n", __FILE__, \
				__LINE__, __func__, #cond);                       \
			abort();                                                  \
		}                                                                 \
	} while (0)
#else
#define PW_BUG_ON(cond) ((void)0)
#endif

/* ---- thread identity and locks (lock.c) -------------------------------- */

/** pw_tid() - a small non-zero id of the calling thread. */
uint32_t pw_tid(void);

/*
 * struct pw_spinlock - a spinlock that knows its owner, so that debug builds
 * can assert "held by me". Its value is 0 or the owner's pw_tid().
 */
struct pw_spinlock {
	uint32_t owner;
};

void pw_spin_lock(uint32_t *lock);
void pw_spin_unlock(uint32_t *lock);
static inline bool pw_spin_held(const uint32_t *lock)
{
	return __atomic_load_n(lock, __ATOMIC_RELAXED) == pw_tid();
}

/*
 * struct pw_rwsem - a read/write lock whose holders are known: the writer's
 * id, and for readers a per-thread list of held read locks (debug builds).
 */
struct pw_rwsem {
	pthread_rwlock_t lock;
	uint32_t writer;
};

void pw_rwsem_init(struct pw_rwsem *sem);
void pw_rwsem_destroy(struct pw_rwsem *sem);
void pw_rwsem_read_lock(struct pw_rwsem *sem);
void pw_rwsem_read_unlock(struct pw_rwsem *sem);
void pw_rwsem_write_lock(struct pw_rwsem *sem);
void pw_rwsem_write_unlock(struct pw_rwsem *sem);
bool pw_rwsem_write_held(const struct pw_rwsem *sem);
bool pw_rwsem_held(const struct pw_rwsem *sem); /* read or write, by this thread */

#endif /* PAGEWALK_INTERNAL_H */

/* ---- the address space (mm.c, vma.c, fault.c, access.c) ---------------- */

#include <pagewalk/mm.h>

struct pw_mm {
	const struct pw_phys *phys;
	struct pw_arena *arena; /* NULL for a foreign mm */
	struct pw_paging cfg;
	uint64_t root_pfn;
	struct pw_rwsem mmap_lock;
	uint32_t page_table_lock; /* guards upper-level entries */
	struct pw_vma **vmas;	  /* sorted by address, non-overlapping */
	size_t nr_vmas, cap_vmas;
	uint64_t nr_pgtables;	  /* atomic */
	uint64_t rss;		  /* atomic, in 4 KiB pages */
	/* tlb.c: the TLBs caching this mm's translations */
	pthread_mutex_t tlb_list_lock;
	struct pw_tlb *tlbs;
	uint64_t nr_tlb_flushes;  /* atomic */
	int32_t tlb_flush_pending; /* atomic: batched changes not yet flushed (dirty.c) */
	/* notifier.c: registered MMU notifiers (read-locked while calling them) */
	pthread_rwlock_t notifier_lock;
	struct pw_mmu_notifier *notifiers;
};

/* Flags of the table entries we create (permissions are decided at leaves). */
#define PW_TABLE_FLAGS (PW_P | PW_RW | PW_US | PW_A)

static inline uint64_t *pw_table(const struct pw_mm *mm, uint64_t pfn)
{
	return pw_phys_frame(mm->phys, pfn);
}

/*
 * Is a non-none entry of an arena mm a leaf: a present leaf, or a PROT_NONE
 * leaf (P clear, frame kept)? Our own tables never hold non-present table
 * entries, so anything not present counts as a leaf here.
 */
static inline bool pw_mm_is_leaf(int level, uint64_t v)
{
	return level == PW_LEVEL_PTE || !(v & PW_P) || (v & PW_PS);
}

/* Frame of the table an entry points at. */
static inline uint64_t pw_table_pfn(const struct pw_mm *mm, uint64_t v)
{
	return (v & pw_frame_field_mask(mm->cfg.maxphyaddr)) >> PW_PAGE_SHIFT;
}

static inline void pw_assert_mmap_locked(const struct pw_mm *mm)
{
	PW_BUG_ON(mm->arena && !pw_rwsem_held(&mm->mmap_lock));
	(void)mm;
}

static inline void pw_assert_mmap_write_locked(const struct pw_mm *mm)
{
	PW_BUG_ON(mm->arena && !pw_rwsem_write_held(&mm->mmap_lock));
	(void)mm;
}

/* Check a user range [start, end): page aligned, canonical, inside one half. */
int pw_check_range(const struct pw_mm *mm, uint64_t start, uint64_t end);

/* vma.c */
size_t pw_vma_index(const struct pw_mm *mm, uint64_t addr); /* first with vm_end > addr */
int pw_vma_insert(struct pw_mm *mm, struct pw_vma *vma);
void pw_vma_remove_at(struct pw_mm *mm, size_t idx);
int pw_vma_split(struct pw_mm *mm, size_t idx, uint64_t addr); /* [s,addr) [addr,e) */
void pw_vma_merge_around(struct pw_mm *mm, uint64_t addr);
bool pw_vma_can_merge(const struct pw_vma *a, const struct pw_vma *b);

/* pgtable_ops.c: changing tables under an mm. */
uint64_t pw_vma_leaf_flags(const struct pw_mm *mm, const struct pw_vma *vma, bool write);
int pw_split_huge(struct pw_mm *mm, uint64_t *entry, int level); /* leaf -> table */
int pw_split_huge_at(struct pw_mm *mm, uint64_t addr);		 /* any leaf covering addr */
int pw_split_huge_edges(struct pw_mm *mm, uint64_t start, uint64_t end); /* both, all or nothing */
void pw_zap_range(struct pw_mm *mm, uint64_t start, uint64_t end);
void pw_change_prot_range(struct pw_mm *mm, uint64_t start, uint64_t end,
			  const struct pw_vma *vma);
void pw_release_leaf(struct pw_mm *mm, int level, uint64_t v);

/* ---- files (file.c) ----------------------------------------------------- */

#include <pagewalk/file.h>

struct pw_file {
	struct pw_arena *arena;
	uint64_t size, nr_pages;
	uint64_t *pages;	/* frame per page offset, 0 = not cached (atomic) */
	uint64_t nr_cached;	/* atomic */
	struct pw_rwsem i_mmap_rwsem;
	struct pw_vma *i_mmap;	/* root of the interval tree of VMAs (file.c) */
	uint64_t nr_vmas;
	uint64_t huge_skipped;	/* atomic: huge entries the dirty helpers skipped */
};

/* The frame caching @index, allocated on first use, with a reference taken. */
int pw_file_get_page(struct pw_file *file, uint64_t index, uint64_t *pfn);
/*
 * Call @fn on each VMA of @file whose page offsets meet [@first, @last], in
 * vm_pgoff order, until it returns non-zero (returned). Caller holds the
 * i_mmap lock; @fn must not change the tree.
 */
int pw_file_for_each_vma(struct pw_file *file, uint64_t first, uint64_t last,
			 int (*fn)(struct pw_vma *vma, void *arg), void *arg);
/* Link/unlink a VMA in its file's i_mmap; the caller holds the i_mmap write lock. */
void pw_file_vma_link_locked(struct pw_vma *vma);
void pw_file_vma_unlink_locked(struct pw_vma *vma);
/*
 * Unlink a file VMA from its file's i_mmap (takes the i_mmap write lock; no-op
 * for anonymous VMAs). Unmapping unlinks before it zaps, so that no mapping
 * walk reaches tables that the zap may free.
 */
void pw_vma_unlink_file(struct pw_vma *vma);

/* ---- TLBs and flush batching (tlb.c) ------------------------------------- */

/*
 * struct pw_mmu_gather - a range of virtual addresses whose entries changed
 * and must be flushed from every TLB of @mm (and secondary TLBs) before the
 * locks guarding the change drop. The kernel's mmu_gather, reduced to its
 * flush window.
 */
struct pw_mmu_gather {
	struct pw_mm *mm;
	uint64_t start, end; /* empty while start >= end (end 0 = top only if start set) */
	bool pending;
};

void pw_tlb_gather_init(struct pw_mmu_gather *g, struct pw_mm *mm);
void pw_tlb_gather_add(struct pw_mmu_gather *g, uint64_t addr, uint64_t size);
/* Flush the gathered range (if any) and reset the window. */
void pw_tlb_gather_flush(struct pw_mmu_gather *g);
/* Flush [start, end) of @mm from every CPU TLB and call arch_invalidate_secondary_tlbs. */
void pw_flush_tlb_range(struct pw_mm *mm, uint64_t start, uint64_t end);
void pw_tlb_mm_init(struct pw_mm *mm);
void pw_tlb_mm_destroy(struct pw_mm *mm);

/*
 * Test hook (debug builds only): when set, pw_flush_tlb_range() does nothing
 * (a missing flush). Only the missing-flush tests set it, to show that
 * their checks can fail.
 */
#ifdef PW_DEBUG
extern bool pw_debug_skip_tlb_flush;
#endif

/* TLB lookups and fills for pw_access() (tlb.c). */
struct pw_tlb_fill {
	uint64_t leaf;	/* the leaf entry as read (level @level) */
	int level;
	bool rw, us, nx; /* combined permissions of the walk */
};
bool pw_tlb_lookup(struct pw_tlb *tlb, uint64_t addr, struct pw_tlb_fill *out);
/* Generation before a walk; the fill is dropped if a flush came in between. */
uint64_t pw_tlb_gen(struct pw_tlb *tlb);
void pw_tlb_insert(struct pw_tlb *tlb, uint64_t addr, const struct pw_tlb_fill *in, uint64_t gen);
void pw_tlb_invalidate_page(struct pw_tlb *tlb, uint64_t addr);
bool pw_tlb_for(const struct pw_tlb *tlb, const struct pw_mm *mm); /* caches @mm? */

/* ---- MMU notifiers (notifier.c) ----------------------------------------- */

#include <pagewalk/notifier.h>

void pw_mmu_notifier_mm_init(struct pw_mm *mm);
void pw_mmu_notifier_release(struct pw_mm *mm);
void pw_mmu_notifier_mm_destroy(struct pw_mm *mm);
void pw_mmu_notifier_range_init(struct pw_mmu_notifier_range *r, enum pw_mmu_notify_event ev,
				struct pw_mm *mm, uint64_t start, uint64_t end);
void pw_mmu_notifier_invalidate_range_start(const struct pw_mmu_notifier_range *r);
void pw_mmu_notifier_invalidate_range_end(const struct pw_mmu_notifier_range *r);
void pw_mmu_notifier_arch_invalidate(struct pw_mm *mm, uint64_t start, uint64_t end);

/* seen.c: (table frame, level) pairs a foreign walk entered (alias check). */
struct pw_walk_seen;
struct pw_walk_seen *pw_seen_new(void);			/* NULL: no memory */
bool pw_seen_has(const struct pw_walk_seen *s, uint64_t pfn, int level);
int pw_seen_add(struct pw_walk_seen **s, uint64_t pfn, int level); /* 0, -ENOMEM */
void pw_seen_free(struct pw_walk_seen *s);
