/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/pagewalk.h - the callback walker, after Linux's mm/pagewalk.c.
 *
 * Semantics follow the kernel (include/linux/pagewalk.h as of v7.2). Where we
 * differ on purpose, it says so here:
 *
 *  1. No implicit THP split. The kernel splits a huge PMD/PUD leaf when a
 *     walk with a VMA has a pte_entry and pmd_entry did not return
 *     ACTION_CONTINUE. We never change the tables behind a walker's back:
 *     huge leaves reach pud_entry/pmd_entry only, never pte_entry (the
 *     kernel's no-VMA behaviour, for every walk).
 *  2. Malformed upper entries are not cleared. The kernel's
 *     pgd/p4d_none_or_clear_bad() wipes a bad entry; we report it to the
 *     level's entry callback and do not descend (a walker that writes is a
 *     surprise, and for a memory image impossible).
 *  3. post_vma runs whenever pre_vma succeeded, also after a failed walk
 *     of that VMA. This is what the kernel's code does (its comment says
 *     otherwise); pre/post pairs such as notifier start/end need it.
 *  4. walk_page_mapping (the file-mapping part) skips a VMA on a positive
 *     test_walk result instead of stopping the whole walk.
 */
#ifndef PAGEWALK_PAGEWALK_H
#define PAGEWALK_PAGEWALK_H

#include <stdbool.h>
#include <stdint.h>

#include <pagewalk/mm.h>
#include <pagewalk/pgtable.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pw_mm_walk;

/** enum pw_walk_action - what to do after pud_entry / pmd_entry returns 0. */
enum pw_walk_action {
	/* Descend into the entry's table (the default, reset before each call). */
	PW_ACTION_SUBTREE = 0,
	/* Skip this entry's subtree; go on with the next entry at this level. */
	PW_ACTION_CONTINUE = 1,
	/* Read this entry again and call the callback again (the callback
	 * must make progress, or the walk loops). */
	PW_ACTION_AGAIN = 2,
};

/** enum pw_walk_lock - the lock a walk expects; asserted at entry in debug builds. */
enum pw_walk_lock {
	/* mmap lock held for read (or write) to stabilise the VMA set. */
	PW_WALK_RDLOCK = 0,
	/* mmap lock held for write: the callbacks may change entries freely. */
	PW_WALK_WRLOCK = 1,
	/* No lock asserted. For foreign mms (memory images) only; on an
	 * arena mm the caller guarantees nothing changes the tables. */
	PW_WALK_LOCKLESS = 2,
};

/**
 * struct pw_walk_ops - callbacks for a page walk. Every member is optional.
 *
 * @pgd_entry: each non-none entry of the root table (the PML5 with 5-level
 *             paging, the PML4 with 4-level).
 * @p4d_entry: each non-none PML4 entry. With 4-level paging the P4D is
 *             folded into the PGD, as in Linux: p4d_entry is called for the
 *             same root entry right after pgd_entry.
 * @pud_entry: each non-none PDPT entry; may set walk->action.
 * @pmd_entry: each non-none PD entry; may set walk->action. A pmd_entry
 *             must expect huge (PS) entries and non-present ones.
 * @pte_entry: each PTE of each PTE table reached, including none PTEs.
 *             Called with the PTE table's lock held when the walk has a VMA.
 * @pte_run:   instead of pte_entry (setting both is -EINVAL): once per PTE
 *             table reached, for the run of its PTEs inside the walk.
 *             @pte points at the PTE of @addr; the run has
 *             (@next - @addr) / 4 KiB consecutive PTEs (none ones included),
 *             at most 512, all in one table. Called with the PTE table's
 *             lock held, from the first PTE to the last, when the walk has a
 *             VMA; without a VMA no lock is taken, as for pte_entry. The
 *             callback's own loop over the run replaces a call per PTE (a
 *             dirty-tracking round, a scan); it returns as pte_entry does.
 * @pte_hole:  each hole: a none entry above the PTE level (@depth 0 PGD,
 *             1 P4D, 2 PUD, 3 PMD; a folded P4D reports 0), or a range with
 *             no VMA in pw_walk_page_range() (@depth -1).
 * @test_walk: pw_walk_page_range() only: 0 walk this VMA, 1 skip it,
 *             negative abort. Without it, PW_VM_PFNMAP VMAs are skipped
 *             (reported as a -1 hole).
 * @pre_vma:   before each VMA; non-zero stops the walk (post_vma not called).
 * @post_vma:  after each VMA whose pre_vma returned 0.
 * @walk_lock: lock mode; see enum pw_walk_lock.
 * @install_pte: fill missing PTEs (the kernel's 6.14 install_pte): with
 *             it, a walk allocates the page tables it finds missing
 *             (pw_walk_page_range(), its VMA variants and
 *             pw_walk_page_range_parallel() only: the range
 *             of every VMA walked gets tables down to the PTE level, and
 *             pte_hole is no longer called for none upper entries inside
 *             VMAs), and for each none PTE calls install_pte instead of
 *             pte_entry, with the PTE table's lock held; on 0 it stores
 *             *@ptep (the value the callback wrote) in the PTE and goes on,
 *             on non-zero it stops the walk with that value, installing
 *             nothing. What may be installed: 0 (nothing); a mapping leaf
 *             (P set, or PW_SW_PROTNONE) of an allocated arena frame (the
 *             head of its block) for which the callback holds a reference
 *             (pw_frame_alloc()'s, or one taken with pw_frame_get()): the
 *             mapping takes that reference over and the walk adds a map
 *             count and an RSS page, as a fault does, so that zap, fork and
 *             mprotect treat the leaf as theirs; or non-present data (P and
 *             PW_SW_PROTNONE clear, e.g. a guard marker: an access to it
 *             fails, no fault fills it). A mapping leaf of a frame outside
 *             the arena, free, a page table, a tail frame, or with reserved
 *             bits fails the walk with -EINVAL and is not installed.
 *             Not with pte_run (-EINVAL). The walk's post_vma still runs.
 *             Locking exception: the kernel accepts install_pte
 *             from mm-internal callers only, under the lock they choose;
 *             here any caller may, with the mmap lock held for read
 *             (PW_WALK_RDLOCK) or write, because tables are installed as a
 *             fault installs them (pw_pt_ensure_table(): page_table_lock,
 *             a racer's table wins) and PTEs only while none under their
 *             table's lock. pw_walk_page_range_novma() and
 *             pw_walk_page_mapping() refuse it (-EINVAL): no VMA, or no
 *             mmap lock. Non-present data is a marker the rest of the
 *             library knows only as "not present": pw_mprotect() of it
 *             would turn it into a leaf (pt/modify.c), so zap it
 *             (pw_munmap()) rather than change its protection.
 * @hugetlb_entry: (the kernel's hugetlb_entry; added last, so that every
 *             other field keeps its offset) once per huge page of a
 *             hugetlb VMA (pagewalk/hugetlb.h) that the walk meets, with
 *             @pte pointing at the huge entry (a PMD entry for 2 MiB pages,
 *             a PUD entry for 1 GiB; read it once: it may be none or
 *             PROT_NONE), @hmask the huge-page mask (~(size - 1)),
 *             and [@addr, @next) the part of the page inside the walk.
 *             Called with the hugetlb VMA lock held for read (or, in
 *             pw_walk_page_mapping(), the file's i_mmap lock, which also
 *             keeps the table from being unshared: see
 *             pw_vma_pgtable_walk_begin()); no page-table lock is held.
 *             For a hugetlb VMA no pud/pmd/pte callback is called: a huge
 *             page with no table down to its entry goes to pte_hole with
 *             @depth -1 instead, as in the kernel's walk_hugetlb_range(). Without a hugetlb_entry the walk passes over hugetlb
 *             VMAs entirely (no callback but pre_vma/post_vma), as the
 *             kernel does; pte_hole still reports the gaps between VMAs.
 *             The iterator (pagewalk/iter.h) reports hugetlb leaves as any
 *             huge leaf.
 *
 * Entry callbacks get a pointer to the entry (read it with pw_*p_get()),
 * the range [@addr, @next) it covers, clipped to the walk, and the walk.
 * They return 0 to go on, a positive value to stop the walk and have it
 * returned, or a negative errno to fail it. Actions are honoured only from
 * pud_entry and pmd_entry.
 */
struct pw_walk_ops {
	int (*pgd_entry)(pw_pgd_t *pgd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk);
	int (*p4d_entry)(pw_p4d_t *p4d, uint64_t addr, uint64_t next, struct pw_mm_walk *walk);
	int (*pud_entry)(pw_pud_t *pud, uint64_t addr, uint64_t next, struct pw_mm_walk *walk);
	int (*pmd_entry)(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk);
	int (*pte_entry)(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk);
	int (*pte_hole)(uint64_t addr, uint64_t next, int depth, struct pw_mm_walk *walk);
	int (*test_walk)(uint64_t addr, uint64_t next, struct pw_mm_walk *walk);
	int (*pre_vma)(uint64_t start, uint64_t end, struct pw_mm_walk *walk);
	void (*post_vma)(struct pw_mm_walk *walk);
	enum pw_walk_lock walk_lock;
	int (*pte_run)(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk);
	int (*install_pte)(uint64_t addr, uint64_t next, pw_pte_t *ptep, struct pw_mm_walk *walk);
	int (*hugetlb_entry)(pw_pte_t *pte, uint64_t hmask, uint64_t addr, uint64_t next,
			     struct pw_mm_walk *walk);
};

/**
 * struct pw_mm_walk - the state a callback sees.
 * @ops: the callbacks.
 * @mm: the address space.
 * @root_pfn: root table of a no-VMA walk (else the mm's root).
 * @vma: the VMA being walked, NULL in gaps and no-VMA walks.
 * @action: set by pud_entry/pmd_entry.
 * @no_vma: a no-VMA walk.
 * @private: the caller's pointer.
 */
struct pw_mm_walk {
	const struct pw_walk_ops *ops;
	struct pw_mm *mm;
	uint64_t root_pfn;
	struct pw_vma *vma;
	enum pw_walk_action action;
	bool no_vma;
	void *private;
	struct pw_walk_seen *_seen; /* private: tables entered (foreign no-VMA walks) */
};

/**
 * pw_walk_page_range() - walk the tables of [@start, @end) VMA by VMA.
 * @mm: address space.
 * @start: first address, page aligned, canonical.
 * @end: end (exclusive), page aligned; 0 means the top of the address
 *       space. The range may cross the non-canonical hole (it is skipped
 *       and reported as one -1 hole).
 * @ops: callbacks.
 * @private: passed in walk->private.
 *
 * Gaps between VMAs get one pte_hole(-1) each and no table access.
 *
 * Context: caller holds @mm's mmap lock for read (PW_WALK_RDLOCK) or write
 * (PW_WALK_WRLOCK). PTE table locks are taken around each run of
 * pte_entry calls (or each pte_run call).
 * Return: 0; a positive value a callback returned; a negative errno from a
 * callback; -EINVAL (NULL @ops or @mm, both pte_entry and pte_run set,
 * install_pte with pte_run or PW_WALK_LOCKLESS, @start >= @end,
 * unaligned, or a foreign @mm; a value install_pte may not install);
 * -ENOMEM (install_pte: no frame for a table); -ERANGE (non-canonical
 * @start or @end).
 */
int pw_walk_page_range(struct pw_mm *mm, uint64_t start, uint64_t end,
		       const struct pw_walk_ops *ops, void *private);

/** Most threads pw_walk_page_range_parallel() takes. */
#define PW_WALK_MAX_THREADS 64

/**
 * pw_walk_page_range_parallel() - pw_walk_page_range() on @nr_threads
 * threads: the calling thread and @nr_threads - 1 it starts and joins.
 * @mm, @start, @end, @ops: as pw_walk_page_range().
 * @privates: walk->private for each thread's callbacks (@privates[t] for
 *            thread t, the caller being 0); NULL: all NULL.
 * @nr_threads: 1 .. PW_WALK_MAX_THREADS.
 *
 * The range is cut into pieces at table boundaries (whole PTE tables up to
 * whole PMD tables, about eight pieces per thread), handed out to the
 * threads one at a time. Each piece is walked exactly as pw_walk_page_range()
 * walks it: its VMAs in order, the same callbacks under the same PTE table
 * locks, so no two threads are ever in one PTE table. Differences, because
 * pieces run concurrently: callbacks of different pieces run at the same
 * time on different threads (each thread's with its own private) and in no
 * order between pieces; a VMA cut by piece boundaries gets test_walk,
 * pre_vma and post_vma once per piece; a gap between VMAs may be reported
 * as several -1 holes. A callback that stops the walk (non-zero) stops the
 * pieces after its own; pieces before it finish.
 *
 * Context: caller holds @mm's mmap lock for read (or write) across the
 * call; the worker threads rely on that hold and own no lock themselves,
 * so callbacks must not call functions that assert the mmap lock (e.g.
 * pw_find_vma()); walk->vma is valid. PTE table locks as in
 * pw_walk_page_range().
 * Return: 0; the value returned by the callback that stopped the lowest
 * piece to stop; -EINVAL (as pw_walk_page_range(), or @nr_threads out of
 * range); -ERANGE. A thread that cannot be started leaves its share to the
 * others (the walk still covers the whole range).
 */
int pw_walk_page_range_parallel(struct pw_mm *mm, uint64_t start, uint64_t end,
				const struct pw_walk_ops *ops, void *const privates[],
				unsigned nr_threads);

/**
 * pw_walk_page_vma() - walk the whole of @vma (test_walk is not called).
 * Context: as pw_walk_page_range().
 * Return: as pw_walk_page_range(); -EINVAL for a NULL @vma.
 */
int pw_walk_page_vma(struct pw_vma *vma, const struct pw_walk_ops *ops, void *private);

/**
 * pw_walk_page_range_vma() - walk [@start, @end) inside @vma.
 * Context: as pw_walk_page_range().
 * Return: as pw_walk_page_vma(); -EINVAL if the range is not inside @vma.
 */
int pw_walk_page_range_vma(struct pw_vma *vma, uint64_t start, uint64_t end,
			   const struct pw_walk_ops *ops, void *private);

/**
 * pw_walk_page_range_novma() - walk the tables under @root_pfn, ignoring VMAs.
 * @root_pfn: root table frame; PW_ROOT_DEFAULT for the mm's own.
 *
 * For kernel tables and memory images (ptdump's walk). No pre_vma,
 * post_vma or test_walk; walk->vma is NULL; no PTE locks are taken.
 * Tables whose frame the backend cannot reach are skipped.
 *
 * On a foreign mm (a memory image, whose tables may point at themselves or
 * at each other) each (table frame, level) is walked at most once per call:
 * an entry pointing at a table already walked at that level gets its entry
 * callback as usual, and then, instead of the table, one pte_hole() for its
 * range with the depth of that table. The walk's time is then bounded by
 * the image, not by 512^levels. (The iterator's PW_WALK_ALIASES walks every
 * path; this walker has no such option.)
 *
 * Context: caller holds the mmap lock, for read (PW_WALK_RDLOCK) or write
 * (PW_WALK_WRLOCK). The kernel wants the write lock here because its munmap
 * frees tables after downgrading to the read lock; ours frees them under the
 * write lock, so the read lock keeps every table alive. PW_WALK_LOCKLESS is
 * accepted on foreign mms only.
 * Return: as pw_walk_page_range(); -ENOMEM (a foreign walk's set of
 * tables); -EINVAL (@ops->install_pte set).
 */
int pw_walk_page_range_novma(struct pw_mm *mm, uint64_t start, uint64_t end,
			     const struct pw_walk_ops *ops, uint64_t root_pfn, void *private);

#define PW_ROOT_DEFAULT UINT64_MAX

/**
 * PW_DEFINE_PTE_RUN() - the inlined walker: define a pte_run callback
 * @name whose loop calls @pte_fn, a pte_entry known at compile time, for
 * each PTE of the run, so that the compiler inlines @pte_fn into the PTE
 * loop instead of the walker calling it through a pointer per PTE.
 * @name: the function to define (static).
 * @pte_fn: a function (best static, or static inline) with pte_entry's
 *          signature.
 *
 *	static inline int count(pw_pte_t *pte, uint64_t a, uint64_t n, struct pw_mm_walk *w)
 *	{ ...; return 0; }
 *	PW_DEFINE_PTE_RUN(count_run, count)
 *	static const struct pw_walk_ops ops = { .pte_run = count_run, ... };
 *
 * Same semantics as `.pte_entry = pte_fn`: @pte_fn sees every PTE of every
 * PTE table reached (none ones included) with [addr, addr + 4 KiB), in
 * address order, under the same lock (the PTE table's, when the walk has a
 * VMA); the first non-zero return ends the walk and is returned. Every
 * walker taking a struct pw_walk_ops accepts it. The levels above the PTE
 * level are still the library's (their callbacks run once per table, not
 * per PTE).
 */
#define PW_DEFINE_PTE_RUN(name, pte_fn)                                                   \
	static int name(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk) \
	{                                                                                 \
		for (;; pte++) {                                                          \
			int pw__err = pte_fn(pte, addr, addr + PW_PAGE_SIZE, walk);       \
			if (pw__err || addr >= next - PW_PAGE_SIZE)                       \
				return pw__err;                                           \
			addr += PW_PAGE_SIZE;                                             \
		}                                                                         \
	}

struct pw_file;

/**
 * pw_walk_page_mapping() - walk, in every address space, each VMA mapping
 * page offsets [@first_index, @first_index + @nr) of @file.
 * @file: the file (pagewalk/file.h).
 * @first_index: first page offset.
 * @nr: number of pages, non-zero.
 * @ops: callbacks. @ops->walk_lock is not checked (no mmap lock is involved).
 * @private: passed in walk->private.
 *
 * VMAs come in i_mmap order (by vm_pgoff). For each VMA whose offsets
 * intersect the range, only the intersecting addresses are walked, with
 * walk->vma and walk->mm set to that VMA and its address space; a huge
 * entry that crosses the range's edge is included whole. test_walk sees the
 * whole VMA ([vm_start, vm_end)) as the kernel passes it. A positive
 * test_walk result SKIPS that VMA and the walk goes on with the next one
 * (the kernel stops the whole mapping walk there: difference 4 above). Then
 * pre_vma, the tables, post_vma, as pw_walk_page_range().
 *
 * Without the mmap lock callbacks may rely only on walk->vma's vm_start,
 * vm_end, vm_pgoff, vm_mm and vm_file, and on the VMA's page tables staying
 * allocated while they run (a VMA is unlinked from i_mmap before its range
 * is zapped); vm_flags may change under them (read it once). pte_entry runs
 * with the PTE table's lock held. Callbacks must not take any mmap lock
 * (the lock order is mmap lock before i_mmap lock).
 *
 * Context: caller holds @file's i_mmap lock, for read or write; no mmap lock.
 * Return: 0; a positive value or negative errno a callback returned (the
 * walk stops there); -EINVAL (NULL @file or @ops, both pte_entry and
 * pte_run set, install_pte set, @nr 0 or wrapping).
 */
int pw_walk_page_mapping(struct pw_file *file, uint64_t first_index, uint64_t nr,
			 const struct pw_walk_ops *ops, void *private);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_PAGEWALK_H */
