/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/devx.h - device-exclusive access to pages of an address space,
 * after the kernel's make_device_exclusive_range() (Linux 5.14, 2021).
 *
 * A device that must be the only one touching a page (a GPU doing atomics
 * the CPU's cache coherence does not cover) takes it exclusively: every CPU
 * mapping of the page, in every address space, is replaced by a
 * device-exclusive entry (a non-present swap-format PTE that keeps the frame
 * and its write, dirty, accessed and soft-dirty state; bit layout in
 * pagewalk/pgtable.h). The page stays mapped for the counts (its map count
 * and each mapping's reference are kept). When a CPU touches it
 * (pw_access(), pw_handle_mm_fault(), a vCPU through pagewalk/kvm.h, or GUP)
 * the fault restores that one mapping as it was, and the MMU notifiers hear
 * a PW_MMU_NOTIFY_EXCLUSIVE event with owner NULL, so the device drops its
 * access. The conversion itself is bracketed by PW_MMU_NOTIFY_EXCLUSIVE
 * events carrying the device's @owner, so the device can ignore its own.
 *
 * How the entries fare elsewhere: fork copies a private page for the child
 * (the parent's entry stays exclusive) and gives a shared page back to the
 * parent's CPU mapping before sharing it; munmap drops it like a mapping
 * (dirty state into the page); mprotect keeps it exclusive, without write
 * permission; the dirty helpers count its dirty state and clean it in the
 * entry; the iterator reports it as a hole with PW_HOLE_DEVICE_EXCLUSIVE
 * and ptdump shows "[device-exclusive]".
 */
#ifndef PAGEWALK_DEVX_H
#define PAGEWALK_DEVX_H

#include <stdint.h>

#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * pw_make_device_exclusive_range() - give a device exclusive access to
 * [@start, @end) of @mm.
 * @mm: an arena address space.
 * @start, @end: page-aligned user range, @start < @end.
 * @owner: the device (carried by the notifier events of the conversion).
 * @frames: one slot per page: the frame now held exclusively, or 0 for a
 *          page that was not made exclusive (see below).
 *
 * Two steps per range, as the kernel's: pw_get_user_pages(PW_FOLL_WRITE)
 * faults every page in writable (breaking copy-on-write) and takes a
 * reference; then for each page a reverse-map walk (pagewalk/rmap.h)
 * replaces, under each entry's PTE lock and between notifier events
 * (PW_MMU_NOTIFY_EXCLUSIVE, @owner), every present CPU mapping of the
 * frame with a device-exclusive entry, and flushes it from the TLBs.
 *
 * Between the two steps the page at an address may change (another thread
 * restoring and re-faulting it, a replaced mapping). The walk only replaces
 * entries that map the frame GUP returned, and a page counts as made
 * exclusive only if the entry at (@mm, its address) was one of them (or
 * already exclusive for that frame): otherwise its slot is 0 and its
 * reference is dropped; the other pages are not affected. Retry such a page.
 *
 * Context: takes @mm's mmap lock for read (must not hold it); as
 * pw_get_user_pages(); the reverse map's locks, then per mapping the
 * notifier lock (read, no spinlock held) and the PTE lock, TLB locks.
 * Return: the number of pages processed from @start (all of them, unless
 * GUP stopped early: slots beyond are not written), each slot non-zero
 * holding a reference to drop with pw_put_user_pages(@mm, @frames, n, 0)
 * once the device is set up; -EINVAL (NULL argument, foreign @mm, a range
 * not page aligned or empty), -EFAULT (past the top of user space, the
 * first page unmapped, PROT_NONE or read-only), -EOPNOTSUPP (the first page
 * is in a hugetlb VMA, as the kernel refuses hugetlb folios; a hugetlb VMA
 * later in the range ends it there), -EOVERFLOW, -ENOMEM; on
 * -errno nothing was made exclusive.
 */
long pw_make_device_exclusive_range(struct pw_mm *mm, uint64_t start, uint64_t end, void *owner,
				    uint64_t *frames);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_DEVX_H */
