/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/file.h - files: a page cache indexed by page offset and the
 * reverse map (i_mmap) of every VMA, in every address space, that maps it.
 * The kernel's struct address_space, reduced to what page tables need.
 *
 * Page cache: one frame per page offset, allocated from the arena on first
 * use (a fault or pw_file_write()) and zero-filled. The cache holds one
 * reference on each frame; each page-table entry mapping it holds another
 * and one map count. A frame's @mapping and @index (struct pw_frame) name
 * the file and the offset. pw_madvise_collapse() replaces 512 such frames
 * by one 2 MiB folio (an order-9 block, its head holding the cache's one
 * reference and the PMD leaf's reference and map count), split back into
 * 4 KiB frames when a 4 KiB mapping needs one of its pages (see there).
 *
 * Reverse map: an interval tree of VMAs by page offset (a treap keyed by
 * vm_pgoff, each node knowing the largest last offset below it): linking
 * and unlinking cost O(log n) expected, finding the k VMAs that meet a
 * range O(log n + k), as the kernel's interval tree. Results come in
 * vm_pgoff order. It is guarded by the i_mmap lock, a read/write lock:
 *   write: linking and unlinking VMAs, changing a linked VMA's range
 *          (pw_mmap_file(), pw_munmap(), splits, pw_mm_fork(), pw_mm_destroy())
 *   read:  pw_walk_page_mapping() and the dirty helpers.
 * Lock order: mmap lock, then i_mmap lock, then page_table_lock, then PTE
 * table locks.
 */
#ifndef PAGEWALK_FILE_H
#define PAGEWALK_FILE_H

#include <stdint.h>

#include <pagewalk/mm.h>
#include <pagewalk/phys.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pw_file;

/**
 * pw_file_create() - create an empty file of @size bytes.
 * @arena: where its page-cache frames come from; must outlive the file.
 * @size: size in bytes (rounded up to whole pages when mapped), non-zero.
 * @out: receives the file.
 *
 * Context: any thread.
 * Return: 0, -EINVAL (NULL argument, zero size), -ENOMEM.
 */
int pw_file_create(struct pw_arena *arena, uint64_t size, struct pw_file **out);

/**
 * pw_file_destroy() - free the file and its page cache.
 * Context: no VMA may map the file any more. NULL is a no-op.
 * Return: 0; -EBUSY while a VMA still maps it (nothing is freed).
 */
int pw_file_destroy(struct pw_file *file);

/**
 * pw_file_size() - size of @file in bytes.
 * Context: any thread (the size never changes).
 * Return: the size given to pw_file_create().
 */
uint64_t pw_file_size(const struct pw_file *file);

/**
 * pw_file_nr_pages() - size of @file in pages, rounded up.
 * Context: any thread.
 * Return: the number of page offsets, 0 .. nr - 1, the file has.
 */
uint64_t pw_file_nr_pages(const struct pw_file *file);

/**
 * pw_file_read() - copy @len bytes at @off out of the page cache (holes read as zero).
 * Context: any thread.
 * Return: 0, -EINVAL (range past the end of the file, NULL @buf with @len).
 */
int pw_file_read(struct pw_file *file, uint64_t off, void *buf, uint64_t len);

/**
 * pw_file_write() - copy @len bytes into the page cache at @off, allocating
 * pages as needed; written pages are marked dirty (PW_FRAME_DIRTY). This is
 * write(2): it does not go through any mapping and sets no PTE dirty bit.
 * Context: any thread.
 * Return: 0, -EINVAL (range past the end), -ENOMEM (nothing was written).
 */
int pw_file_write(struct pw_file *file, uint64_t off, const void *buf, uint64_t len);

/**
 * pw_file_page() - the page-cache frame of page offset @index of @file.
 * Context: any thread; the frame stays cached until the file is destroyed.
 * Return: the frame number, or 0 when the page is not cached (or @index is
 * past the end).
 */
uint64_t pw_file_page(const struct pw_file *file, uint64_t index);

/**
 * pw_file_nr_cached() - pages of @file in the page cache.
 * Context: any thread (a snapshot).
 * Return: the number of cached pages.
 */
uint64_t pw_file_nr_cached(const struct pw_file *file);

/**
 * pw_file_nr_vmas() - VMAs, in all address spaces, in @file's reverse map.
 * Context: takes the i_mmap lock for read.
 * Return: the number of VMAs mapping the file.
 */
uint64_t pw_file_nr_vmas(struct pw_file *file);

/**
 * pw_i_mmap_lock_read() - take @file's i_mmap lock for read (for
 * pw_walk_page_mapping()). pw_i_mmap_unlock_read() releases it.
 * Context: blocks; not recursive; take it after any mmap lock, never before.
 * Return: nothing.
 */
void pw_i_mmap_lock_read(struct pw_file *file);
void pw_i_mmap_unlock_read(struct pw_file *file);
/**
 * pw_i_mmap_lock_write() - take @file's i_mmap lock for write: no VMA of
 * the file is linked, unlinked or resized meanwhile, and no mapping walk
 * runs. pw_i_mmap_unlock_write() releases it.
 * Context: blocks; as pw_i_mmap_lock_read().
 * Return: nothing.
 */
void pw_i_mmap_lock_write(struct pw_file *file);
void pw_i_mmap_unlock_write(struct pw_file *file);

/**
 * pw_mmap_file() - map @len bytes of @file starting at page offset @pgoff.
 * @mm, @addr, @len, @prot: as pw_mmap().
 * @flags: PW_MAP_SHARED or PW_MAP_PRIVATE, with PW_MAP_FIXED /
 *         _FIXED_NOREPLACE / _POPULATE. Faults map files with 4 KiB
 *         leaves only (PW_MAP_HUGE_* is -EINVAL); 2 MiB leaves come from
 *         pw_madvise_collapse(). A hugetlb file (pagewalk/hugetlb.h) is
 *         mapped as a hugetlb VMA, PW_MAP_HUGETLB or not: @addr (with
 *         FIXED), @len and @pgoff * 4 KiB must be multiples of its page
 *         size, the range must lie inside the file, PW_MAP_HUGE_2M /
 *         _HUGE_1G may be given only if they name that size, and 1 GiB
 *         pages need a paging mode with pdpe1gb (each -EINVAL otherwise);
 *         without FIXED a mapping of 1 GiB or more is placed 1 GiB-aligned
 *         (PMD sharing). PW_MAP_HUGETLB on another file is -EINVAL.
 * @file: the file; several address spaces may map it at once.
 * @pgoff: first page offset mapped.
 * @out: receives the address (may be NULL).
 *
 * A read fault maps the page-cache page (allocating it on first use). A
 * write to a private mapping copies the page (copy-on-write). A shared
 * writable mapping is mapped read-only first (write-notify): the first write
 * faults, marks the page dirty (PW_FRAME_DIRTY) and makes the entry writable
 * and dirty, as the kernel's page_mkwrite path does. Pages past the end of
 * the file fault with -EFAULT (SIGBUS). File VMAs never merge.
 *
 * Context: takes the mmap lock for write, then the file's i_mmap lock for write.
 * Return: as pw_mmap(); -EINVAL also for a NULL @file or a @pgoff range
 * that overflows.
 */
int pw_mmap_file(struct pw_mm *mm, uint64_t addr, uint64_t len, int prot, unsigned flags,
		 struct pw_file *file, uint64_t pgoff, uint64_t *out);

/**
 * pw_madvise_collapse() - MADV_COLLAPSE for shared file mappings: make each
 * aligned 2 MiB block of [@addr, @addr + @len) a 2 MiB folio in the file's
 * page cache, mapped by one PMD leaf (file THP).
 * @mm: an arena address space.
 * @addr: page aligned.
 * @len: bytes (rounded up to pages); the blocks are the 2 MiB-aligned
 *       ones that lie wholly inside the range.
 *
 * For each block, as the kernel's collapse_file() and
 * collapse_pte_mapped_thp(): the block must lie in one shared file VMA
 * (PW_VM_SHARED) at a 2 MiB-aligned file offset inside the file; its PTEs
 * must be none or map the cached page of their offset. The small pages'
 * contents (zeroes where nothing was cached) go into a new 2 MiB folio,
 * which replaces them in the page cache (dirty if any was, or any PTE had
 * D; soft-dirty kept); the PTE table is replaced by a read-only PMD leaf
 * (the next write faults, as for a read-faulted page) and freed. A block
 * mapped by a PMD already counts as done.
 *
 * Where we differ from the kernel: only this VMA may map the block's
 * offsets (the kernel also retracts other mappers' page tables; here
 * another VMA on i_mmap, in any mm or a private one, is -EBUSY); only
 * shared file mappings (no anonymous or read-only private collapse); the
 * mmap lock is taken for write (the kernel's MADV_COLLAPSE takes it for
 * read and locks the pages; here the PTE table is freed, which needs the
 * write lock). While a PMD maps the folio, a 4 KiB fault on one of its
 * pages in a new mapping fails with -EBUSY (a 4 KiB mapping holds its own
 * frame's reference); once nothing maps it, such a fault splits the folio
 * back into 4 KiB pages. pw_file_write() to the block while it is
 * collapsed may be lost (no page locks here).
 *
 * Context: takes the mmap lock for write, the file's i_mmap lock for
 * write, PTE table locks and page_table_lock, the notifier lock (read),
 * TLB list and TLB locks, the allocator.
 * Return: 0 (every block collapsed or already PMD-mapped, or no whole
 * block in the range); -EINVAL (NULL or foreign @mm, @addr unaligned, a bad
 * range; a block that is not a shared file mapping's, at an unaligned or
 * too large file offset, or with PTEs that are not the cache's pages);
 * -ENOMEM (a part of the range not mapped, as madvise(); or no free 2 MiB
 * block); -EBUSY (another VMA maps the block's offsets); -EAGAIN (a page
 * has references beyond the cache's and this mapping's). As the kernel's,
 * a failing block does not stop the others: the last failure is returned.
 */
int pw_madvise_collapse(struct pw_mm *mm, uint64_t addr, uint64_t len);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_FILE_H */
