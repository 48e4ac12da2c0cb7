/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/hugetlb.h - hugetlb files, PMD table sharing and the hook around
 * page-table walks of a VMA (the kernel's mm/hugetlb.c and
 * vma_pgtable_walk_begin()/_end()).
 *
 * A hugetlb file's page cache holds huge folios only: one naturally aligned
 * run of 512 (2 MiB) or 262144 (1 GiB) frames per huge page, allocated on
 * first use. A mapping of it (pw_mmap_file(), PW_MAP_HUGETLB implied) is a
 * hugetlb VMA (PW_VM_HUGETLB): its start, end and file offset are aligned
 * to the page size, its faults install one huge leaf (a PMD entry with PS
 * for 2 MiB, a PUD entry with PS for 1 GiB), and munmap, mprotect and
 * splits of it must be aligned to the page size (-EINVAL, nothing changed).
 * A write to a private mapping copies the whole huge page.
 *
 * PMD sharing (2 MiB pages, shared mappings, as the kernel's
 * huge_pmd_share()/huge_pmd_unshare()): when a fault of a shared hugetlb
 * VMA that covers a whole 1 GiB-aligned range finds its PUD entry empty,
 * it looks through the file's i_mmap for another shared hugetlb VMA that
 * maps the same file offsets at a 1 GiB-aligned address with the same
 * flags and has a PMD table there; it then points its PUD entry at that
 * table (one more sharer on the table frame) instead of allocating one.
 * Unmapping or re-protecting any part of a shared 1 GiB range first
 * unshares it in that address space (clears its PUD entry, flushes its TLBs
 * between MMU notifiers, drops its share) and only then changes entries;
 * the entries themselves belong to the table and go with its last sharer,
 * whose zap frees the table one grace period after unhooking it.
 *
 * The hugetlb VMA lock: each shareable hugetlb VMA (shared mapping) has a
 * read/write lock. Order: mmap lock -> hugetlb VMA lock -> i_mmap lock ->
 * page_table_lock. Unsharing takes it for write; faults, GUP and every walk
 * of the VMA (through pw_vma_pgtable_walk_begin()) take it for read.
 *
 * Hugetlb pages are not counted in pw_mm_stats.rss (the kernel counts them
 * apart, as HugetlbPages), except private copies made by write faults.
 */
#ifndef PAGEWALK_HUGETLB_H
#define PAGEWALK_HUGETLB_H

#include <stdint.h>

#include <pagewalk/file.h>
#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * pw_hugetlb_file_create() - create an empty hugetlb file (hugetlbfs).
 * @arena: where its huge folios come from; must outlive the file.
 * @size: size in bytes: a non-zero multiple of @page_size.
 * @page_size: PW_PMD_SIZE (2 MiB) or PW_PUD_SIZE (1 GiB).
 * @out: receives the file.
 *
 * The file works with every pw_file_*() function; pw_file_write() and
 * faults allocate whole huge folios (-ENOMEM when the arena has no free
 * naturally aligned block of that size).
 *
 * Context: any thread.
 * Return: 0; -EINVAL (NULL argument, another page size, a size that is not
 * a multiple of it); -ENOMEM.
 */
int pw_hugetlb_file_create(struct pw_arena *arena, uint64_t size, uint64_t page_size,
			   struct pw_file **out);

/**
 * pw_file_huge_page_size() - the huge page size of @file.
 * Context: any thread.
 * Return: PW_PMD_SIZE or PW_PUD_SIZE for a hugetlb file, 0 for another file.
 */
uint64_t pw_file_huge_page_size(const struct pw_file *file);

/**
 * pw_vma_pgtable_walk_begin() - the hook before any walk of @vma's page
 * tables; pw_vma_pgtable_walk_end() is the one after it.
 *
 * For a hugetlb VMA that can share PMD tables (a shared hugetlb mapping)
 * it takes the hugetlb VMA lock for read, so that no unsharing clears an
 * entry of this VMA (and drops this mm's share of a table the walk reads)
 * until the matching end. Inside a walk of a file's mappings
 * (pw_walk_page_mapping(), the dirty helpers) the caller already holds the
 * file's i_mmap lock, which excludes unsharing as well (unsharing takes it
 * for write) and ranks below the VMA lock: then the hook takes nothing. For
 * every other VMA it does nothing. Every walker of the library calls it
 * around each VMA (the callback walker, walk_page_mapping, the dirty
 * helpers, pw_translate(), GUP); callers that walk a VMA's tables by their
 * own means should too.
 *
 * Context: the caller holds @vma's mmap lock (read or write) or its file's
 * i_mmap lock; may block (taking the VMA lock); must not hold
 * page_table_lock or a PTE lock. Pair each begin with one end.
 */
void pw_vma_pgtable_walk_begin(struct pw_vma *vma);
/** pw_vma_pgtable_walk_end() - undo pw_vma_pgtable_walk_begin(). Context: after the begin. */
void pw_vma_pgtable_walk_end(struct pw_vma *vma);

/**
 * pw_hugetlb_pmd_sharers() - how many address spaces' PUD entries point at
 * the PMD table behind @addr in @mm.
 * Context: caller holds @mm's mmap lock (read or write).
 * Return: 1 for a table of this mm alone, n > 1 for a table shared by n
 * sharers, 0 when the PUD entry of @addr is not a table (-EINVAL: NULL or
 * foreign @mm).
 */
int pw_hugetlb_pmd_sharers(struct pw_mm *mm, uint64_t addr);

/**
 * pw_hugetlb_nr_shared_faults() - faults of @mm that shared an existing PMD
 * table instead of allocating one (huge_pmd_share() successes), since @mm
 * was created. Context: any thread (a counter read atomically).
 */
uint64_t pw_hugetlb_nr_shared_faults(const struct pw_mm *mm);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_HUGETLB_H */
