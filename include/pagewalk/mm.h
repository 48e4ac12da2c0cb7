/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/mm.h - the address space: page tables in a frame arena, VMAs,
 * mappings, faults, and a simulated MMU.
 *
 * Locking follows the kernel (docs/locking.md has the whole table):
 *   mmap lock      read/write lock of the mm; stabilises the VMA set and
 *                  keeps page tables from being freed (munmap frees them
 *                  under the write lock).
 *   page_table_lock  spinlock of the mm guarding upper-level entries
 *                  (PGD .. PMD) while they change.
 *   PTE table lock split lock, one per PTE table page, held around reading
 *                  and changing that table's entries.
 * Lock order: mmap lock, then page_table_lock, then a PTE table lock.
 */
#ifndef PAGEWALK_MM_H
#define PAGEWALK_MM_H

#include <stdbool.h>
#include <stdint.h>

#include <pagewalk/pgtable.h>
#include <pagewalk/phys.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pw_mm;
struct pw_file;
struct pw_tlb;

/* VMA flags (struct pw_vma.vm_flags); the kernel's VM_* with a PW_ prefix. */
enum {
	PW_VM_READ = 1u << 0,
	PW_VM_WRITE = 1u << 1,
	PW_VM_EXEC = 1u << 2,
	PW_VM_SHARED = 1u << 3,
	PW_VM_MAYREAD = 1u << 4,
	PW_VM_MAYWRITE = 1u << 5,
	PW_VM_MAYEXEC = 1u << 6,
	PW_VM_MAYSHARE = 1u << 7,
	PW_VM_PFNMAP = 1u << 10,     /* raw frames, no struct page: walks skip it by default */
	PW_VM_HUGE_2M = 1u << 16,    /* fault in 2 MiB leaves where aligned */
	PW_VM_HUGE_1G = 1u << 17,    /* fault in 1 GiB leaves where aligned */
	PW_VM_SUPERVISOR = 1u << 18, /* entries without US: a kernel mapping */
	PW_VM_HUGETLB = 1u << 19,    /* a hugetlb mapping (pagewalk/hugetlb.h) */
	PW_VM_SOFTDIRTY = 1u << 27,  /* every page reads soft-dirty: set on new VMAs, cleared by
				      * pw_clear_refs(PW_CLEAR_REFS_SOFT_DIRTY); ignored by merging */
};

/**
 * struct pw_vma - a virtual memory area: [vm_start, vm_end) with one set of flags.
 *
 * Fields are read-only for users. They are stable while the mmap lock is
 * held (read or write); walk_page_mapping() callers hold only the file's
 * i_mmap lock and may rely only on vm_start, vm_end, vm_pgoff and vm_mm.
 */
struct pw_vma {
	uint64_t vm_start;
	uint64_t vm_end;
	uint32_t vm_flags;
	uint64_t vm_pgoff;	/* page offset in the backing object */
	struct pw_mm *vm_mm;
	void *vm_private_data;
	struct pw_file *vm_file; /* the mapped file (pagewalk/file.h), NULL for anonymous memory */
	/* private: the node in the file's i_mmap interval tree */
	struct pw_vma *_it_left, *_it_right;
	uint64_t _it_max; /* largest last page offset in this subtree */
	/* private: the anonymous reverse map (mm/rmap.c): the anon_vma this VMA
	 * is linked on (NULL until its first anonymous page), and its list links */
	struct pw_anon_vma *_anon_vma;
	struct pw_vma *_av_next, *_av_prev;
	/* private: the hugetlb VMA lock of a shareable hugetlb VMA (mm/hugetlb.c), else NULL */
	void *_hugetlb_lock;
};

/* Protection for pw_mmap()/pw_mprotect(), as PROT_*. */
enum {
	PW_PROT_NONE = 0,
	PW_PROT_READ = 1,
	PW_PROT_WRITE = 2,
	PW_PROT_EXEC = 4,
};

/* Mapping flags for pw_mmap(). Exactly one of PRIVATE and SHARED. */
enum {
	PW_MAP_PRIVATE = 1u << 0,
	PW_MAP_SHARED = 1u << 1,
	PW_MAP_FIXED = 1u << 2,		/* at @addr, replacing what is there */
	PW_MAP_FIXED_NOREPLACE = 1u << 3, /* at @addr, -EEXIST if anything is there */
	PW_MAP_HUGE_2M = 1u << 4,	/* ask for 2 MiB leaves where aligned */
	PW_MAP_HUGE_1G = 1u << 5,	/* ask for 1 GiB leaves (falls back to 2 MiB, 4 KiB) */
	PW_MAP_POPULATE = 1u << 6,	/* fault every page in now (write faults if writable) */
	PW_MAP_SUPERVISOR = 1u << 7,	/* a supervisor-only mapping (US clear) */
	PW_MAP_HUGETLB = 1u << 8,	/* a hugetlb file mapping (pagewalk/hugetlb.h) */
};

/**
 * pw_mm_create() - create an empty address space.
 * @arena: where its page tables and pages live; must outlive the mm.
 * @cfg: paging mode (4 or 5 levels, MAXPHYADDR, NXE, 1 GiB support); NULL
 *       for PW_PAGING_DEFAULT. MAXPHYADDR must cover the whole arena.
 * @out: receives the mm.
 *
 * Context: any thread.
 * Return: 0, -EINVAL (bad @cfg), -ENOMEM (arena full or host memory).
 */
int pw_mm_create(struct pw_arena *arena, const struct pw_paging *cfg, struct pw_mm **out);

/**
 * pw_mm_create_foreign() - an address space over page tables that already
 * exist in @phys (a memory image, or a table a caller built), with no VMAs.
 * Only the no-VMA walk, the iterator, pw_translate() and ptdump work on it.
 * @phys: backend; must outlive the mm.
 * @cfg: paging mode of the tables.
 * @root_pfn: frame of the root table (CR3 >> 12).
 * @out: receives the mm.
 *
 * Context: any thread. A foreign mm has no locks of its own: walks of it
 * take none and assert none (the tables must not change meanwhile).
 * Return: 0, -EINVAL (NULL argument, bad @cfg), -ENOMEM.
 */
int pw_mm_create_foreign(const struct pw_phys *phys, const struct pw_paging *cfg,
			 uint64_t root_pfn, struct pw_mm **out);

/**
 * pw_mm_destroy() - unmap everything, free every page table and the mm.
 * Context: no other thread may use @mm. NULL is a no-op.
 */
void pw_mm_destroy(struct pw_mm *mm);

/**
 * pw_mm_fork() - a copy of @parent, as fork(2) makes it.
 * @parent: an arena address space.
 * @out: receives the child, on the same arena with the same paging mode.
 *
 * Every VMA is duplicated (file VMAs join their file's reverse map). Entries
 * of anonymous and private VMAs are copied: both address spaces then map
 * the same frames (reference and map counts go up by one), and writable
 * private entries become read-only in both, so the next write in either
 * copies the page (copy-on-write). Shared anonymous pages stay shared and
 * writable. Shared file VMAs copy no entries: the child faults them in from
 * the page cache. Huge leaves are split into 4 KiB entries in the parent
 * first (the kernel shares huge pages whole; our frame counts are per 4 KiB
 * frame once pages are shared). The parent's write-protection is bracketed
 * by MMU notifiers (PW_MMU_NOTIFY_PROTECTION_PAGE, per VMA) and flushed from
 * its TLBs before its mmap lock drops. The child has no notifiers or TLBs.
 *
 * Context: takes @parent's mmap lock for write, then i_mmap locks.
 * Shared hugetlb mappings (pagewalk/hugetlb.h) copy no entries either (the
 * child refaults them and shares the parent's PMD tables). Private hugetlb
 * mappings share each huge page whole, never split, copy-on-write (the
 * kernel's copy_hugetlb_page_range()): both entries read-only, one more
 * map count and reference on the huge folio; the next write in either
 * copies the whole huge page (or takes it back writable when it is a
 * private copy no one else holds). A pinned private copy is copied for the
 * child at once (a device may be writing it).
 *
 * Return: 0; -EINVAL (NULL argument, foreign @parent); -ENOMEM (nothing of
 * the child is left; the parent may have had huge leaves split and
 * private entries write-protected, which changes no contents).
 */
int pw_mm_fork(struct pw_mm *parent, struct pw_mm **out);

/**
 * pw_mm_root() - frame of the root table (what CR3 would hold, shifted right by 12).
 * Context: any; the root never changes. Return: the frame number.
 */
uint64_t pw_mm_root(const struct pw_mm *mm);

/** pw_mm_paging() - the paging mode. Context: any. Return: a pointer into @mm. */
const struct pw_paging *pw_mm_paging(const struct pw_mm *mm);

/** pw_mm_phys() - the backend the tables are read through. Context: any. Return: the backend. */
const struct pw_phys *pw_mm_phys(const struct pw_mm *mm);

/** pw_mm_arena() - the arena. Context: any. Return: the arena, or NULL for a foreign mm. */
struct pw_arena *pw_mm_arena(const struct pw_mm *mm);

/**
 * struct pw_mm_stats - counters of an address space.
 * @pgtables: page-table frames in use, root included.
 * @rss: 4 KiB pages mapped (a 2 MiB leaf counts 512).
 * @nr_vmas: number of VMAs.
 * @mapped: bytes covered by VMAs.
 */
struct pw_mm_stats {
	uint64_t pgtables;
	uint64_t rss;
	uint64_t nr_vmas;
	uint64_t mapped;
};

/** pw_mm_get_stats() - read the counters. Context: takes the mmap lock for read. */
void pw_mm_get_stats(struct pw_mm *mm, struct pw_mm_stats *st);

/* ---- locks -------------------------------------------------------------- */

/**
 * pw_mmap_read_lock() - take the mmap lock for read.
 * Context: blocks; must not be held by this thread already (debug builds
 * assert it: recursive read locking can deadlock behind a waiting writer).
 */
void pw_mmap_read_lock(struct pw_mm *mm);
/** pw_mmap_read_unlock() - release it. Context: this thread holds it for read. */
void pw_mmap_read_unlock(struct pw_mm *mm);
/** pw_mmap_write_lock() - take the mmap lock for write. Context: blocks; not held already. */
void pw_mmap_write_lock(struct pw_mm *mm);
/** pw_mmap_write_unlock() - release it. Context: this thread holds it for write (asserted). */
void pw_mmap_write_unlock(struct pw_mm *mm);
/**
 * pw_mmap_lock_held() - does this thread hold the mmap lock?
 * Context: any. Return: true if held for read or write by the caller.
 */
bool pw_mmap_lock_held(const struct pw_mm *mm);
/** pw_mmap_write_lock_held() - Context: any. Return: true if the caller holds it for write. */
bool pw_mmap_write_lock_held(const struct pw_mm *mm);

/**
 * pw_pte_lock() - lock the PTE table in frame @pte_table_pfn (the split
 * page-table lock). pw_pte_unlock() releases it.
 * Context: caller holds the mmap lock, so the table cannot be freed; spins
 * (then yields) while another thread holds it; not recursive. On a foreign
 * mm (no arena, no locks) it does nothing.
 */
void pw_pte_lock(struct pw_mm *mm, uint64_t pte_table_pfn);
/** pw_pte_unlock() - release a PTE table lock. Context: held by the caller (asserted). */
void pw_pte_unlock(struct pw_mm *mm, uint64_t pte_table_pfn);

/* ---- VMAs --------------------------------------------------------------- */

/**
 * pw_find_vma() - the first VMA whose end is above @addr (it may start above @addr).
 * Context: caller holds the mmap lock. Return: the VMA, or NULL.
 */
struct pw_vma *pw_find_vma(struct pw_mm *mm, uint64_t addr);

/** pw_vma_lookup() - find the VMA containing @addr. Context: mmap lock held. Return: it, or NULL. */
struct pw_vma *pw_vma_lookup(struct pw_mm *mm, uint64_t addr);

/** pw_vma_next() - the next VMA in address order. Context: mmap lock held. Return: it, or NULL. */
struct pw_vma *pw_vma_next(struct pw_mm *mm, const struct pw_vma *vma);

/** pw_for_each_vma() - iterate every VMA in address order. Context: mmap lock held. */
#define pw_for_each_vma(mm, vma) \
	for ((vma) = pw_find_vma((mm), 0); (vma); (vma) = pw_vma_next((mm), (vma)))

/* ---- mappings ------------------------------------------------------------ */

/**
 * pw_mmap() - map anonymous memory.
 * @addr: with PW_MAP_FIXED/_NOREPLACE the address (page aligned); otherwise
 *        a hint, 0 for none: the first gap that fits, searched upward.
 * @len: length in bytes, page aligned, non-zero.
 * @prot: PW_PROT_* bits.
 * @flags: PW_MAP_* bits.
 * @out: receives the address (may be NULL).
 *
 * Pages are demand-zero: nothing is allocated until a fault, unless
 * PW_MAP_POPULATE. Huge leaves are used for aligned parts when asked for.
 * A new VMA merges with a neighbour of the same kind.
 *
 * Context: takes the mmap lock for write.
 * Return: 0; -EINVAL (bad length, alignment, prot or flags; non-canonical
 * or past the top of the lower half), -EEXIST (FIXED_NOREPLACE over a
 * mapping), -ENOMEM (no gap, or out of memory; with POPULATE, the mapping
 * is removed again and the address space is left as it was, except that
 * what a PW_MAP_FIXED mapping replaced stays unmapped, as with the kernel's
 * MAP_FIXED).
 */
int pw_mmap(struct pw_mm *mm, uint64_t addr, uint64_t len, int prot, unsigned flags,
	    uint64_t *out);

/**
 * pw_munmap() - unmap [addr, addr + len): split VMAs at the edges, zap the
 * entries (splitting huge leaves that straddle an edge), free pages whose
 * last reference goes, and free page-table pages that become empty.
 *
 * Context: takes the mmap lock for write.
 * Return: 0 (also when nothing was mapped there), -EINVAL (alignment, zero
 * length, range not canonical or past the top; an edge inside a hugetlb
 * mapping that is not aligned to its huge page size), -ENOMEM (a huge leaf
 * straddling an edge could not be split; nothing was changed).
 */
int pw_munmap(struct pw_mm *mm, uint64_t addr, uint64_t len);

/**
 * pw_mprotect() - change the protection of [addr, addr + len).
 * Every page of the range must be mapped. Entries are updated in place
 * (write permission is removed at once; it is granted lazily on the next
 * write fault for private pages, as the kernel does).
 *
 * Context: takes the mmap lock for write.
 * Return: 0, -EINVAL (alignment, length, prot bits; an edge inside a
 * hugetlb mapping not aligned to its huge page size), -ENOMEM (a hole in the
 * range, as the kernel reports it, or no memory to split a huge leaf);
 * on error nothing was changed.
 */
int pw_mprotect(struct pw_mm *mm, uint64_t addr, uint64_t len, int prot);

/* ---- faults, lookups and the simulated MMU ------------------------------ */

/* Fault flags for pw_handle_mm_fault() and access kinds for pw_access(). */
enum {
	PW_FAULT_WRITE = 1u << 0,
	PW_FAULT_EXEC = 1u << 1,
	PW_FAULT_USER = 1u << 2,
};

/**
 * pw_handle_mm_fault() - resolve a page fault at @addr as the kernel would.
 * @flags: PW_FAULT_WRITE / _EXEC / _USER.
 *
 * Demand-zero anonymous pages (a huge leaf where the VMA asks for it and the
 * aligned block fits in it); write faults on present read-only private
 * pages make them writable again (the page is this mm's only user: one
 * reference, or one mapping and pins only). A device-exclusive entry
 * (pagewalk/devx.h) is restored to the PTE it replaced, between notifier
 * events PW_MMU_NOTIFY_EXCLUSIVE with owner NULL (then a write goes on to
 * its write fault). All frames a fault needs are allocated before anything
 * is installed, so a failed fault leaves the tables as they were. New
 * anonymous pages join the VMA's anon_vma (pagewalk/rmap.h).
 *
 * Context: caller holds the mmap lock for read (or write). Takes
 * page_table_lock and PTE table locks.
 * Return: 0 when the access can now be retried; -EFAULT no VMA at @addr
 * (SIGSEGV, SEGV_MAPERR); -EACCES the VMA forbids the access (SEGV_ACCERR);
 * -ENOMEM out of frames.
 */
int pw_handle_mm_fault(struct pw_mm *mm, uint64_t addr, unsigned flags);

/**
 * pw_mm_populate() - fault in every page of [start, end) (MAP_POPULATE).
 * Context: takes the mmap lock for read.
 * Return: 0 or the first fault's error.
 */
int pw_mm_populate(struct pw_mm *mm, uint64_t start, uint64_t end, bool write);

/**
 * struct pw_translation - result of pw_translate().
 * @level: level of the leaf (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB), or, when
 *         not mapped, the level whose entry was not present.
 * @pfn: 4 KiB frame holding @addr.
 * @phys: physical address of @addr.
 * @entry: the leaf (or the non-present entry found).
 * @writable, @user, @exec: effective permissions over all levels.
 */
struct pw_translation {
	int level;
	uint64_t pfn;
	uint64_t phys;
	uint64_t entry;
	bool writable;
	bool user;
	bool exec;
};

/**
 * pw_translate() - translate one address, without faulting or setting A/D.
 * Context: caller holds the mmap lock (read or write) unless @mm is foreign.
 * Return: 0; -ENOENT not mapped (out->level and out->entry say where the
 * walk stopped); -ERANGE non-canonical @addr; -EIO a reserved bit or a table
 * frame outside physical memory.
 */
int pw_translate(struct pw_mm *mm, uint64_t addr, struct pw_translation *out);

/**
 * pw_translate_lockless() - pw_translate() without the mmap lock.
 *
 * The walk runs inside an RCU read-side section: page-table frames are
 * freed only a grace period after they are unhooked, so every table it
 * reaches stays readable; each entry is read once, with acquire ordering.
 * The result is the translation at some moment during the call: a
 * concurrent fault, munmap, mprotect or write-protection may change it
 * right after (nothing is held on the frame: take a reference with
 * pw_get_user_pages_fast() to keep it).
 * Context: any thread, with or without the mmap lock; takes no lock; must
 * not be called from inside a change that waits for a grace period.
 * Return: as pw_translate().
 */
int pw_translate_lockless(struct pw_mm *mm, uint64_t addr, struct pw_translation *out);

/**
 * struct pw_cpu - the control state of a simulated CPU (pw_access()).
 * @wp: CR0.WP: supervisor writes honour read-only entries.
 * @smep: CR4.SMEP: supervisor fetches from user pages fault.
 * @smap: CR4.SMAP: supervisor data accesses to user pages fault unless @ac.
 * @ac: EFLAGS.AC.
 * @pkru: PKRU (used when the mm's paging has pke): 2 bits per key, AD then WD.
 * @tlb: this CPU's TLB (pagewalk/tlb.h), or NULL for none: every access
 *       then walks the tables. A TLB belongs to one mm.
 */
struct pw_cpu {
	bool wp;
	bool smep;
	bool smap;
	bool ac;
	uint32_t pkru;
	struct pw_tlb *tlb;
};

#define PW_CPU_DEFAULT ((struct pw_cpu){ .wp = true })

/* Page-fault error code bits (SDM 4.7). */
enum {
	PW_PF_P = 1u << 0,    /* the fault was a protection violation (page present) */
	PW_PF_W = 1u << 1,    /* write access */
	PW_PF_U = 1u << 2,    /* user-mode access */
	PW_PF_RSVD = 1u << 3, /* reserved bit set in an entry */
	PW_PF_I = 1u << 4,    /* instruction fetch */
	PW_PF_PK = 1u << 5,   /* protection key */
};

/* Extra access flags for pw_access(). */
enum {
	PW_ACCESS_NOFAULT = 1u << 8, /* report the first fault; do not call the fault handler */
};

/**
 * struct pw_access_result - what a simulated access did.
 * @phys: physical address accessed (valid when the access succeeded).
 * @level: leaf level used.
 * @pf_error: error code of the last page fault raised (0 if none).
 * @nr_faults: page faults raised (and resolved, unless the access failed).
 */
struct pw_access_result {
	uint64_t phys;
	int level;
	uint32_t pf_error;
	unsigned nr_faults;
};

/**
 * pw_access() - perform one memory access as the CPU's MMU would.
 * @cpu: control state; NULL for PW_CPU_DEFAULT.
 * @addr: virtual address.
 * @flags: PW_FAULT_WRITE / _EXEC / _USER (a user-mode access), and
 *         PW_ACCESS_NOFAULT.
 * @res: details (may be NULL).
 *
 * Walks the tables from the root, applies the SDM's permission rules
 * (section 4.6) across all levels, sets Accessed on every entry used and
 * Dirty on the leaf for a write (atomically, as hardware does), and on a
 * page fault calls pw_handle_mm_fault() and retries, as a CPU and kernel do.
 * With a TLB (@cpu->tlb, pagewalk/tlb.h) a cached translation is used
 * first, as a processor does, and a successful walk fills it; a stale
 * entry is then visible (the library flushes after every change it makes).
 *
 * Context: takes the mmap lock for read; must not be called with it held.
 * Return: 0 success; -EFAULT the access faulted and the fault could not be
 * resolved (or PW_ACCESS_NOFAULT), with res->pf_error set; -ERANGE
 * non-canonical @addr (a #GP on hardware); -ENOMEM; -EINVAL (bad flags, or
 * @cpu->tlb caches another mm or @mm is foreign).
 */
int pw_access(struct pw_mm *mm, const struct pw_cpu *cpu, uint64_t addr, unsigned flags,
	      struct pw_access_result *res);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_MM_H */
