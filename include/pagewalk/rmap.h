/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/rmap.h - the reverse map: from a frame to every (address space,
 * VMA, address) that maps it, after the kernel's rmap_walk() (mm/rmap.c).
 *
 * File pages are found through their file's i_mmap (pagewalk/file.h).
 * Anonymous pages are found through their anon_vma: every anonymous VMA
 * gets one with its first page; fork gives each child VMA a new anon_vma
 * whose parent is the parent VMA's, so the anon_vmas of one original VMA
 * form a tree, and a page created under an anon_vma can be mapped only by
 * the VMAs linked on that anon_vma or below it. A walk visits exactly
 * those VMAs, so its cost follows the number of mappers, not the size of
 * the address spaces. All anon_vmas of one tree share their root's lock.
 */
#ifndef PAGEWALK_RMAP_H
#define PAGEWALK_RMAP_H

#include <stdint.h>

#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct pw_rmap_visit - one mapping of the frame.
 * @mm, @vma: where.
 * @addr: the virtual address of the frame in it (for a huge leaf: of the
 *        leaf's first page; the frame is then the block's head).
 * @level: level of the entry.
 * @entry: the entry: a present leaf, a PROT_NONE leaf, or a device-exclusive
 *         entry (pw_is_device_exclusive(), pagewalk/pgtable.h) for the frame.
 */
struct pw_rmap_visit {
	struct pw_mm *mm;
	struct pw_vma *vma;
	uint64_t addr;
	enum pw_level level;
	uint64_t entry;
};

/**
 * pw_rmap_walk() - call @fn for every entry that maps frame @pfn.
 * @arena: the arena of the frame.
 * @pfn: an anonymous or page-cache frame: a 4 KiB frame or the head of a
 *       huge block.
 * @fn: called once per mapping; a non-zero return stops the walk and is
 *      returned.
 * @arg: passed to @fn.
 *
 * Entries found are re-checked under their lock: @fn sees only entries
 * that map @pfn while it runs.
 *
 * Context: the caller holds a reference on the frame (so that it cannot be
 * freed and reused meanwhile) and may hold mmap locks (the walk needs none:
 * the reverse map's lock keeps the VMAs it visits and their tables).
 * Takes the root anon_vma's lock for read (anonymous pages) or the file's
 * i_mmap lock for read (file pages), then around each call of @fn the lock
 * of the entry (the PTE table lock, or page_table_lock for a huge leaf).
 * @fn must not block and must not call into the library for that mm.
 * Return: 0 (every mapping visited, possibly none), the first non-zero
 * value @fn returned, or -EINVAL (NULL argument, @pfn outside the arena,
 * free, reserved, a page table, a tail of a block, or neither anonymous nor
 * a page-cache page).
 */
int pw_rmap_walk(struct pw_arena *arena, uint64_t pfn,
		 int (*fn)(const struct pw_rmap_visit *v, void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_RMAP_H */
