/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/smaps.h - memory use of an address space: /proc/PID/smaps,
 * smaps_rollup and mincore(2), after the kernel's fs/proc/task_mmu.c and
 * mm/mincore.c (Documentation/filesystems/proc.rst describes the fields).
 *
 * How the model maps onto the kernel's fields: "anonymous" pages are
 * frames of private mappings that are not page cache (PW_FRAME_ANON);
 * the pages of shared anonymous VMAs are the kernel's shmem (PssShmem, not
 * Anonymous); page-cache frames are file pages. A frame's sharing is its
 * map count (struct pw_frame.mapcount, the head's for a huge leaf) and its
 * reference count. 1 GiB leaves count as anonymous huge pages
 * (AnonHugePages), as 2 MiB ones do; the kernel has no 1 GiB THP. There is
 * no swap: Swap and SwapPss are always 0. PW_VM_PFNMAP VMAs
 * (pw_remap_pfn_range(), pagewalk/pfnmap.h) contribute nothing but their
 * size (their frames have no metadata, here as in the kernel). File pages
 * mapped by 2 MiB leaves come from pw_madvise_collapse() (pagewalk/file.h)
 * and count in FilePmdMapped.
 */
#ifndef PAGEWALK_SMAPS_H
#define PAGEWALK_SMAPS_H

#include <stdint.h>

#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The fixed point of Pss: the kernel's PSS_SHIFT. */
#define PW_PSS_SHIFT 12

/**
 * struct pw_smaps_stats - the fields of one smaps entry (or of the rollup),
 * in bytes.
 * @size: bytes covered by the VMA(s).
 * @rss: resident: bytes of mapped frames.
 * @pss: proportional set size: each page divided by its map count, summed
 *       in fixed point (@pss_fp) and then shifted, as the kernel prints it.
 * @pss_fp: @pss before the shift: bytes << PW_PSS_SHIFT, summed exactly as
 *          the kernel sums it (each shared 4 KiB page adds
 *          (4096 << PW_PSS_SHIFT) / mapcount, rounded down).
 * @pss_anon, @pss_file, @pss_shmem, @pss_dirty: @pss split by page kind and
 *            for dirty pages (shifted too).
 * @shared_clean, @shared_dirty, @private_clean, @private_dirty: resident
 *            bytes by sharing (map count >= 2) and dirtiness (the entry's D
 *            bit or the frame's PW_FRAME_DIRTY).
 * @referenced: resident bytes with the Accessed bit set.
 * @anonymous: resident anonymous bytes.
 * @anon_huge: bytes mapped by anonymous huge leaves (AnonHugePages).
 * @file_pmd_mapped: bytes of file pages mapped by 2 MiB leaves (FilePmdMapped;
 *            pw_madvise_collapse() makes them).
 * @swap, @swap_pss: always 0 (no swap).
 * @shared_hugetlb, @private_hugetlb: bytes of hugetlb pages mapped, by map
 *            count >= 2 or 1 (Shared_Hugetlb / Private_Hugetlb); hugetlb
 *            pages are not in @rss or any other field, as in the kernel.
 */
struct pw_smaps_stats {
	uint64_t size;
	uint64_t rss;
	uint64_t pss;
	uint64_t pss_fp;
	uint64_t pss_anon, pss_file, pss_shmem, pss_dirty;
	uint64_t shared_clean, shared_dirty, private_clean, private_dirty;
	uint64_t referenced;
	uint64_t anonymous;
	uint64_t anon_huge;
	uint64_t file_pmd_mapped;
	uint64_t swap, swap_pss;
	uint64_t shared_hugetlb, private_hugetlb;
};

/**
 * pw_smaps() - the smaps entry of @vma.
 * @vma: a VMA of an arena address space.
 * @st: receives the figures (zeroed first).
 *
 * Context: caller holds the VMA's mmap lock (read or write); takes PTE
 * table locks.
 * Return: 0; -EINVAL (NULL argument, a VMA of a foreign mm).
 */
int pw_smaps(struct pw_vma *vma, struct pw_smaps_stats *st);

/**
 * pw_smaps_rollup() - smaps_rollup: the sum over every VMA of @mm (@pss
 * from the summed fixed-point @pss_fp, as the kernel does, so it may exceed
 * the sum of the per-VMA @pss by less than one byte per VMA).
 * @mm: an arena address space.
 * @st: receives the figures (zeroed first).
 *
 * Context: takes the mmap lock for read; PTE table locks.
 * Return: 0; -EINVAL (NULL argument, foreign @mm).
 */
int pw_smaps_rollup(struct pw_mm *mm, struct pw_smaps_stats *st);

/**
 * pw_mincore() - mincore(2): which pages of [@start, @start + @len) are
 * resident.
 * @mm: an arena address space.
 * @start: page aligned.
 * @len: bytes, rounded up to whole pages; 0 is allowed (nothing to do).
 * @vec: one byte per page: 1 resident, 0 not. For a page of a file VMA
 *       that is not mapped, whether the file's page cache holds it (as the
 *       kernel answers for file mappings); for anonymous VMAs, whether a
 *       leaf maps it.
 *       For a hugetlb VMA, a huge page is resident when its entry is not
 *       none (the kernel's mincore_hugetlb()).
 *
 * Differs from the kernel in one thing, on purpose: the range is checked
 * whole before anything is written, so an error leaves @vec untouched
 * (the kernel may have filled a prefix).
 *
 * Context: takes the mmap lock for read; PTE table locks.
 * Return: 0; -EINVAL (NULL or foreign @mm, @start not page aligned);
 * -ENOMEM (the range leaves the lower canonical half, or a part of it is
 * not mapped by any VMA); -EFAULT (@vec NULL with @len non-zero).
 */
int pw_mincore(struct pw_mm *mm, uint64_t start, uint64_t len, uint8_t *vec);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_SMAPS_H */
