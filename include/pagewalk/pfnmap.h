/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/pfnmap.h - PFN mappings: map raw frames (device memory) into a
 * VMA with entries that have no frame metadata, after the kernel's
 * remap_pfn_range() (mm/memory.c).
 *
 * Such a VMA carries PW_VM_PFNMAP, and the walkers treat it as the kernel's
 * treat VM_PFNMAP VMAs: pw_walk_page_range() skips it without a test_walk
 * (reported as one -1 hole), pw_walk_page_vma() and
 * pw_walk_page_range_vma() walk it (the kernel's 6.2 change, bug 9 of the
 * walker notes); pagemap reads its pages as unmapped, PAGEMAP_SCAN never
 * reports them, smaps counts its size only, mincore says not resident,
 * clear_refs leaves it alone, and pw_folio_walk_start() finds no frame there
 * (the kernel's vm_normal_page() is NULL for special entries).
 *
 * What this model has and has not: the frames must lie outside the
 * arena (above its last frame, below 2^MAXPHYADDR): the zap and fork code
 * (pt/modify.c, pt/copy.c) take and drop frame references for every leaf
 * of an arena frame, so an arena frame cannot be mapped without metadata.
 * There is no special-PTE bit; "special" is "outside the arena". The
 * entries count in the mm's RSS (the zap subtracts every leaf from it),
 * where the kernel does not count them. A write fault on a read-only
 * entry of a private writable PFN VMA makes it writable in place (there is
 * no page to copy). The memory behind the frames is not simulated:
 * pw_access() and a KVM guest resolve the address, nothing stores data.
 */
#ifndef PAGEWALK_PFNMAP_H
#define PAGEWALK_PFNMAP_H

#include <stdint.h>

#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * pw_remap_pfn_range() - map frames [@pfn, @pfn + @size / 4 KiB) at
 * [@addr, @addr + @size) of @vma as PFN entries.
 * @vma: an anonymous VMA (no file) of an arena mm; the whole VMA is mapped,
 *       as the kernel requires for copy-on-write mappings: @addr ==
 *       vm_start and @addr + @size == vm_end.
 * @addr: first address, page aligned.
 * @pfn: first frame.
 * @size: bytes, a non-zero multiple of 4 KiB.
 * @prot: PW_PROT_* of the entries, within the VMA's permissions.
 *
 * Sets PW_VM_PFNMAP on @vma (and vm_pgoff to @pfn, as the kernel does for
 * COW mappings) and installs one 4 KiB leaf per frame (P, US unless the
 * VMA is a supervisor one, A, RW and D for PW_PROT_WRITE, NX without
 * PW_PROT_EXEC when NX is on; PW_PROT_NONE: a PROT_NONE entry keeping the
 * frame), allocating page tables as needed. Frame metadata, reference and
 * map counts are untouched; munmap clears the entries and releases
 * nothing. All or nothing: on failure the range is as it was and the VMA
 * keeps its flags.
 *
 * Context: caller holds the mmap lock of @vma's mm for write (a driver's
 * mmap handler does); takes page_table_lock and PTE table locks.
 * Return: 0; -EINVAL (NULL or foreign @vma, a file VMA, unaligned @addr or
 * @size, the range not the whole VMA, frames inside the arena or past
 * MAXPHYADDR, unknown @prot bits); -EACCES (@prot beyond the VMA's
 * permissions); -EBUSY (something is mapped in the range already, the
 * kernel's BUG_ON(!pte_none)); -ENOMEM (no frame for a page table).
 */
int pw_remap_pfn_range(struct pw_vma *vma, uint64_t addr, uint64_t pfn, uint64_t size, int prot);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_PFNMAP_H */
