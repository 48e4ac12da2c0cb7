/* SPDX-License-Identifier: MIT */
/*
 * mm/mm.h - the address space's private side: struct pw_mm, the VMA set,
 * files and their i_mmap, the operations that change an mm's tables
 * (pt/split.c, pt/modify.c, pt/copy.c), TLBs and MMU notifiers.
 */
#ifndef PAGEWALK_MM_PRIVATE_H
#define PAGEWALK_MM_PRIVATE_H

#include "pt/pt.h"

#include <pagewalk/mm.h>

#include "mm/file.h"
#include "mm/notifier.h"
#include "mm/tlb.h"

#include <pagewalk/hmm.h>
#include <pagewalk/hugetlb.h>

struct pw_mm {
	struct pw_pt pt;	  /* the tables: root, format, page_table_lock */
	struct pw_rwsem mmap_lock;
	struct pw_vma **vmas;	  /* sorted by address, non-overlapping */
	size_t nr_vmas, cap_vmas;
	uint64_t rss;		  /* atomic, in 4 KiB pages */
	/* tlb.c: the TLBs caching this mm's translations */
	pthread_mutex_t tlb_list_lock;
	struct pw_tlb *tlbs;
	uint64_t nr_tlb_flushes;  /* atomic */
	int32_t tlb_flush_pending; /* atomic: batched changes not yet flushed (dirty.c) */
	/* notifier.c: registered MMU notifiers (read-locked while calling them) */
	pthread_rwlock_t notifier_lock;
	struct pw_mmu_notifier *notifiers;
	/* notifier.c: interval notifiers (pagewalk/hmm.h), under itv_lock (a leaf) */
	pthread_mutex_t itv_lock;
	pthread_cond_t itv_cond;	/* itv_active dropped to 0 */
	struct pw_interval_notifier *itv;
	uint64_t itv_seq;		/* odd while an invalidation meeting an interval runs */
	unsigned long itv_active;	/* invalidations between start and end */
	/* gup_fast.c: odd while fork write-protects and copies (the kernel's
	 * write_protect_seq); pins taken locklessly meanwhile are undone */
	uint32_t write_protect_seq;
	uint64_t nr_gup_fast;		/* atomic: pages GUP-fast took without locks */
	uint64_t nr_shared_faults;	/* atomic: hugetlb faults that shared a PMD table */
};

static inline void pw_assert_mmap_locked(const struct pw_mm *mm)
{
	PW_BUG_ON(mm->pt.arena && !pw_rwsem_held(&mm->mmap_lock));
	(void)mm;
}

static inline void pw_assert_mmap_write_locked(const struct pw_mm *mm)
{
	PW_BUG_ON(mm->pt.arena && !pw_rwsem_write_held(&mm->mmap_lock));
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

/* The flags of a leaf mapping a page of @vma; @write: for a write fault (vma.c). */
uint64_t pw_vma_leaf_flags(const struct pw_mm *mm, const struct pw_vma *vma, bool write);
/* The PTE that device-exclusive entry @v of @vma replaced (vma.c). */
uint64_t pw_devx_restore_value(const struct pw_mm *mm, const struct pw_vma *vma, uint64_t v);

/*
 * Changing an mm's tables (pt/split.c, pt/modify.c, pt/copy.c). Callers hold
 * the mmap lock for write, except a fault splitting a shared huge page (read).
 */
int pw_split_huge(struct pw_mm *mm, const struct pw_pt_entry *leaf); /* leaf -> table; 0, -ENOMEM */
int pw_split_huge_at(struct pw_mm *mm, uint64_t addr);		 /* any leaf straddling addr */
int pw_split_huge_edges(struct pw_mm *mm, uint64_t start, uint64_t end); /* both, all or nothing */
void pw_zap_range(struct pw_mm *mm, uint64_t start, uint64_t end);
void pw_change_prot_range(struct pw_mm *mm, uint64_t start, uint64_t end,
			  const struct pw_vma *vma);
/*
 * Copy the entries of [start, end) of @parent into @child (empty there), as
 * fork does: huge leaves are split in the parent first; with @cow, writable
 * PTEs are write-protected on both sides and the parent's changes gathered
 * in @tlb, except that a pinned anonymous page, and the page of a
 * device-exclusive entry, are copied for the child (@cvma, the child's VMA,
 * owns the copies); without @cow a device-exclusive entry of the parent is
 * restored and then shared. Context: both mmap locks held for write; the
 * caller brackets the range with notifiers. Return: 0, -ENOMEM.
 */
struct pw_mmu_gather;
int pw_copy_range(struct pw_mm *parent, struct pw_mm *child, uint64_t start, uint64_t end, bool cow,
		  struct pw_vma *cvma, struct pw_mmu_gather *tlb);

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
	unsigned hpage_order;	/* hugetlb file: 9 (2 MiB) or 18 (1 GiB); 0 otherwise */
};

/* ---- hugetlb (hugetlb.c) ------------------------------------------------ */

static inline bool pw_vma_is_hugetlb(const struct pw_vma *vma)
{
	/* atomic: mapping walks read vm_flags without the mmap lock (never changes here) */
	return __atomic_load_n(&vma->vm_flags, __ATOMIC_RELAXED) & PW_VM_HUGETLB;
}
/* The level of a hugetlb VMA's leaves (PMD or PUD). */
enum pw_level pw_hugetlb_level(const struct pw_vma *vma);
/* Give a new shareable hugetlb VMA (a split's or fork's copy) its own lock: 0, -ENOMEM. */
int pw_hugetlb_vma_lock_alloc(struct pw_vma *vma);
/* The huge folio caching @index of hugetlb file @f (allocated on first use): its head, no reference taken. */
int pw_hugetlb_folio(struct pw_file *f, uint64_t index, uint64_t *head);
/* Free a VMA, with its hugetlb VMA lock. */
void pw_vma_free(struct pw_vma *vma);
/* A fault on a hugetlb VMA (the caller holds the mmap lock): as pw_handle_mm_fault(). */
int pw_hugetlb_fault(struct pw_mm *mm, struct pw_vma *vma, uint64_t addr, unsigned flags);
/* Is [start, end) aligned to @vma's huge page size (no-op true for other VMAs)? */
bool pw_hugetlb_range_aligned(const struct pw_vma *vma, uint64_t start, uint64_t end);
/*
 * Unshare every shared PMD table of the hugetlb VMA @vma that [start, end)
 * meets (huge_pmd_unshare()): takes the VMA lock for write, then i_mmap
 * for write. Context: mmap lock held for write.
 */
void pw_hugetlb_unshare_range(struct pw_mm *mm, struct pw_vma *vma, uint64_t start, uint64_t end);
/*
 * fork of the private hugetlb VMA @svma of @src into its copy @dvma of @dst
 * (the kernel's copy_hugetlb_page_range()): each huge leaf is shared
 * copy-on-write (both entries read-only, one more map count and reference
 * on the folio), except a pinned private copy, which the child gets its
 * own copy of. Both mmap locks held for write. 0, -ENOMEM, -EFAULT.
 */
int pw_hugetlb_copy_range(struct pw_mm *dst, struct pw_mm *src, struct pw_vma *dvma, struct pw_vma *svma);
/* Assert (debug builds) that the hugetlb VMA lock of @vma is held, if it has one. */
void pw_hugetlb_assert_locked(const struct pw_vma *vma);

#endif /* PAGEWALK_MM_PRIVATE_H */
