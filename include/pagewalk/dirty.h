/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/dirty.h - dirty tracking of shared file mappings across address
 * spaces, with the contract of the kernel's mm/mapping_dirty_helpers.c.
 *
 * A round of tracking is: pw_wp_shared_mapping_range() (every writable
 * entry becomes read-only, so the next write to a page faults and, through
 * the write-notify path, makes the entry writable and dirty), then
 * pw_clean_record_shared_mapping_range() (every dirty entry is cleaned and
 * its page recorded in a bitmap).
 *
 * Both walk the file's reverse map (pw_walk_page_mapping()) and touch only
 * VMAs that are shared and may be written (PW_VM_SHARED and PW_VM_MAYWRITE);
 * private mappings of the file are skipped, and so is every other VMA after
 * a skipped one's turn (we skip a VMA rather than stop the walk, see
 * pagewalk.h). For each VMA they bracket the changes with
 * invalidate_range_start/end (PW_MMU_NOTIFY_PROTECTION_PAGE, the walked
 * range of the VMA) and flush only the smallest range of addresses whose
 * entries changed, once, after the VMA's tables are done and before its
 * notifier range ends. Huge (2 MiB / 1 GiB) entries are never split, never
 * changed and never counted: splitting would lose their dirty state; each
 * one met is counted in pw_dirty_huge_skipped().
 *
 * Guarantees of pw_clean_record_shared_mapping_range(), as the kernel's:
 * every entry dirty when the call starts is recorded; an entry dirtied
 * during the call stays dirty, is recorded, or both; no entry is cleaned
 * without being recorded.
 */
#ifndef PAGEWALK_DIRTY_H
#define PAGEWALK_DIRTY_H

#include <stdint.h>

#include <pagewalk/file.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * pw_wp_shared_mapping_range() - write-protect every entry mapping page
 * offsets [@first_index, @first_index + @nr) of @file in shared VMAs.
 * @file: the file.
 * @first_index: first page offset.
 * @nr: number of pages.
 *
 * Context: takes @file's i_mmap lock for read, then PTE table locks; needs
 * no mmap lock (the caller may hold one: the lock order is mmap lock, then
 * i_mmap lock). Runs concurrently with faults and pw_access() in every
 * address space mapping @file.
 * Return: the number of entries that were writable and were made read-only
 * (already read-only entries are not counted); 0 for @nr 0 or a NULL @file.
 */
uint64_t pw_wp_shared_mapping_range(struct pw_file *file, uint64_t first_index, uint64_t nr);

/**
 * pw_clean_record_shared_mapping_range() - clean every dirty entry mapping
 * page offsets [@first_index, @first_index + @nr) of @file in shared VMAs
 * and record it.
 * @file: the file.
 * @first_index: first page offset.
 * @nr: number of pages.
 * @bitmap_pgoff: page offset of bit 0 of @bitmap.
 * @bitmap: bit (pgoff - @bitmap_pgoff) is set for each dirty entry found
 *          (64 bits per word, bit i in word i / 64 at position i % 64).
 *          Bits are only ever set. It must cover every page of the range:
 *          @first_index >= @bitmap_pgoff, and at least @first_index + @nr -
 *          @bitmap_pgoff bits.
 * @start: in/out, first set bit number (relative to @bitmap_pgoff).
 * @end: in/out, one past the last set bit number. [*@start, *@end) is
 *       half-open and empty when *@start >= *@end. On return it covers its
 *       value on entry (unless that was empty) and every bit set by this
 *       call. If it was empty and nothing was dirty it stays empty: *@start
 *       = @nr, *@end = 0, as the kernel leaves it.
 *
 * Context: as pw_wp_shared_mapping_range().
 * Return: the number of entries cleaned (and recorded); 0 and no change
 * for @nr 0, a NULL @file/@bitmap/@start/@end or @first_index below
 * @bitmap_pgoff.
 */
uint64_t pw_clean_record_shared_mapping_range(struct pw_file *file, uint64_t first_index,
					      uint64_t nr, uint64_t bitmap_pgoff,
					      uint64_t *bitmap, uint64_t *start, uint64_t *end);

/**
 * pw_wp_clean_record_shared_mapping_range() - both of the above in one
 * pass (an extension; the kernel has the two calls only): each entry is
 * write-protected and cleaned with one atomic read-modify-write, and each
 * PTE table is read once instead of twice.
 * @file, @first_index, @nr, @bitmap_pgoff, @bitmap, @start, @end: as
 *          pw_clean_record_shared_mapping_range().
 * @nr_wp: if not NULL, set to the number of entries that were writable and
 *         were made read-only (what pw_wp_shared_mapping_range() returns).
 *
 * Guarantees: those of pw_wp_shared_mapping_range() followed by
 * pw_clean_record_shared_mapping_range(): when it returns every entry of
 * the range is read-only and clean, and flushed from every TLB; every entry
 * dirty when the call starts is recorded; a write during the call either
 * sets Dirty in an entry the call has not reached yet (recorded now) or
 * faults after it (recorded by the next round); no entry is cleaned without
 * being recorded. Huge entries are skipped and counted, as by the others.
 *
 * Context: as pw_wp_shared_mapping_range().
 * Return: the number of entries cleaned (and recorded); 0 and no change for
 * the bad input pw_clean_record_shared_mapping_range() refuses.
 */
uint64_t pw_wp_clean_record_shared_mapping_range(struct pw_file *file, uint64_t first_index,
						 uint64_t nr, uint64_t bitmap_pgoff,
						 uint64_t *bitmap, uint64_t *start, uint64_t *end,
						 uint64_t *nr_wp);

/*
 * Hugetlb files (pagewalk/hugetlb.h): the three helpers work on their huge
 * entries through the walk's hugetlb_entry, in every sharer (a shared PMD
 * table is changed once for all of them). A dirty huge page sets one bit
 * per 4 KiB page of it inside the range, and the return value counts those
 * pages; its D bit is cleared only when the whole huge page lies in the
 * range (a huge page cut by the range's edge stays dirty and is recorded
 * again by the next call: nothing outside the range is lost). A writable
 * huge entry is made read-only whole and counts as one entry. Hugetlb
 * entries are not "skipped" (pw_dirty_huge_skipped() counts THP leaves).
 */

/**
 * pw_clean_record_young_shared_mapping_range() - clean-record that reads
 * only the PTE tables accessed since its previous call (an extension; for
 * hardware-dirty tracking, where entries stay writable and the MMU sets D).
 * @file, @first_index, @nr, @bitmap_pgoff, @bitmap, @start, @end: as
 *          pw_clean_record_shared_mapping_range().
 * @nr_skipped: if not NULL, set to the number of PTE tables not read.
 *
 * Every MMU walk sets Accessed in each table entry it goes through (a KVM
 * vCPU's real MMU, tests/test_kvm_abit.c; pw_access()), and a fault sets it
 * in the PMD entry above the PTE it changes. So a PTE table whose PMD entry
 * has A clear holds no PTE that became dirty since A was cleared. This call
 * skips such tables; of the others it clears A in the PMD entry (and
 * flushes the table's span from every TLB, so that the next access walks
 * again) and cleans and records their PTEs as
 * pw_clean_record_shared_mapping_range() does. Only a PMD entry whose whole
 * 2 MiB span is in the range and in one VMA is skipped or has A cleared;
 * partial spans are always read. The first call reads everything.
 *
 * Rule for callers: code that makes a PTE dirty without an MMU walk or a
 * fault (a pw_apply_to_page_range() function, install_pte, a raw store
 * through a walk's pointer) must set PW_A in its PMD entry, or not mix
 * with this call.
 *
 * Context: as pw_wp_shared_mapping_range().
 * Return: the number of entries cleaned (and recorded); 0 and no change for
 * the bad input pw_clean_record_shared_mapping_range() refuses.
 */
uint64_t pw_clean_record_young_shared_mapping_range(struct pw_file *file, uint64_t first_index,
						    uint64_t nr, uint64_t bitmap_pgoff,
						    uint64_t *bitmap, uint64_t *start, uint64_t *end,
						    uint64_t *nr_skipped);

/**
 * pw_dirty_log_enable() - start a per-file dirty log (an extension: a round
 * then costs in proportion to the pages written, the idea of KVM's dirty
 * ring over write-notify).
 * @file: a file of 4 KiB pages (not hugetlb).
 *
 * Write-protects every shared mapping of @file (pw_wp_shared_mapping_range()),
 * so the first write to each page after that faults; each such write fault,
 * in any address space, logs the page. Writes that completed before this
 * call returns are not logged: take a full round (the functions above)
 * first if they matter. Huge entries (file THP) are not tracked.
 * Context: as pw_wp_shared_mapping_range(); takes the log list's mutex.
 * Return: 0; -EINVAL (NULL, a hugetlb file), -EBUSY (already enabled),
 * -ENOMEM.
 */
int pw_dirty_log_enable(struct pw_file *file);

/**
 * pw_dirty_log_disable() - stop and free @file's dirty log.
 * Context: no round of it running. Return: 0, -EINVAL, -ENOENT (not enabled).
 */
int pw_dirty_log_disable(struct pw_file *file);

/**
 * pw_dirty_log_harvest() - one round over the pages logged since the last:
 * for each logged page and each shared writable VMA mapping it,
 * write-protect and clean its PTE (one atomic AND, under the PTE lock),
 * and set the page's bit if it was dirty; then flush, per VMA, the changed
 * entries from every TLB between notifier events.
 * @file: a file whose log is enabled.
 * @bitmap_pgoff: must be 0: the bitmap covers the whole file.
 * @bitmap, @start, @end: as pw_clean_record_shared_mapping_range().
 *
 * Guarantees: those of pw_wp_clean_record_shared_mapping_range() over the
 * whole file, for writes after pw_dirty_log_enable(): every page written
 * before the round began is recorded; a write during the round is recorded
 * now or by the next round; no entry is cleaned without being recorded.
 * Cost: proportional to the pages logged times their mappers (plus a scan
 * of the log's bitmap between the first and the last page logged).
 * Context: as pw_wp_shared_mapping_range(); takes the log list's mutex;
 * one round of a file at a time.
 * Return: the number of pages recorded; -EINVAL (NULL argument,
 * @bitmap_pgoff not 0), -ENOENT (no log), -EBUSY (a round of @file is
 * running: nothing taken).
 */
int64_t pw_dirty_log_harvest(struct pw_file *file, uint64_t bitmap_pgoff, uint64_t *bitmap,
			     uint64_t *start, uint64_t *end);

/**
 * pw_dirty_huge_skipped() - huge entries the two helpers met and left
 * alone in mappings of @file since it was created (the kernel WARNs about
 * a writable or dirty one instead).
 * Context: any thread (a snapshot).
 * Return: the count; each pass of either helper counts each huge entry once.
 */
uint64_t pw_dirty_huge_skipped(const struct pw_file *file);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_DIRTY_H */
