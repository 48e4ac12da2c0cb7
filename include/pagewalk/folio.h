/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/folio.h - look up the leaf and the frame mapped at one address,
 * and keep them stable while the caller looks: the kernel's folio_walk
 * (mm/pagewalk.c, folio_walk_start() / folio_walk_end(), 6.12).
 *
 * pw_folio_walk_start() descends the tables for one address of a VMA, and
 * if a leaf maps a frame there it returns with the lock guarding that leaf
 * held (the PTE table's lock for a 4 KiB leaf, page_table_lock for a 2 MiB
 * or 1 GiB one), so that the entry does not change (apart from A/D, which
 * the MMU sets without locks) until pw_folio_walk_end().
 *
 * Between the two calls the caller must not fault, map, unmap, mprotect,
 * call pw_access() or walk the same mm's tables: those take the lock the
 * folio walk holds. Keep it short, as a spinlock section.
 */
#ifndef PAGEWALK_FOLIO_H
#define PAGEWALK_FOLIO_H

#include <stdint.h>

#include <pagewalk/mm.h>
#include <pagewalk/pgtable.h>
#include <pagewalk/phys.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct pw_folio_walk - what pw_folio_walk_start() found.
 * @level: the leaf's level: PW_LEVEL_PTE (4 KiB), PW_LEVEL_PMD (2 MiB) or
 *         PW_LEVEL_PUD (1 GiB): the kernel's FW_LEVEL_PTE/PMD/PUD.
 * @entryp: the leaf entry in its table.
 * @entry: its value, read under the lock.
 * @head_pfn: the first frame of the leaf (the folio: 1, 512 or 262144 frames).
 * @pfn: the 4 KiB frame mapped at the address looked up (the kernel's page).
 * @frame: metadata of @head_pfn (the folio), never NULL on success.
 * @_mm, @_table: private: what pw_folio_walk_end() unlocks.
 */
struct pw_folio_walk {
	enum pw_level level;
	uint64_t *entryp;
	uint64_t entry;
	uint64_t head_pfn;
	uint64_t pfn;
	struct pw_frame *frame;
	struct pw_mm *_mm;
	uint64_t _table;
};

/**
 * pw_folio_walk_start() - find the frame mapped at @addr in @vma and lock
 * its leaf.
 * @fw: receives the leaf, frame and level.
 * @vma: the VMA of @addr (an arena mm's).
 * @addr: an address inside @vma (need not be page aligned).
 * @flags: 0 (the kernel's FW_MIGRATION and FW_ZEROPAGE have nothing to
 *         select here: no migration entries, no zero page).
 *
 * A present leaf or a PROT_NONE one (present to the kernel too) is found
 * when it maps a frame of the arena. Not found: nothing mapped; a
 * non-present entry; a leaf whose frame is outside the arena (a PFN
 * mapping's special entry, which has no frame metadata: the kernel's
 * vm_normal_page() is NULL there, and folio_walk_start() returns NULL).
 * If the leaf changes between the lock-free descent and the lock (a
 * concurrent split or zap), the descent starts again.
 *
 * Context: caller holds @vma's mm's mmap lock (read or write; asserted).
 * On success takes and keeps the PTE table lock (level PTE) or
 * page_table_lock (PMD, PUD), which pw_folio_walk_end() drops.
 * Return: 0 (found, locked); -ENOENT (not found; nothing held); -EINVAL
 * (NULL @fw or @vma, @addr outside @vma, unknown @flags, a foreign mm).
 */
int pw_folio_walk_start(struct pw_folio_walk *fw, struct pw_vma *vma, uint64_t addr, unsigned flags);

/**
 * pw_folio_walk_end() - drop the lock pw_folio_walk_start() returned with.
 * @fw: a walk that pw_folio_walk_start() returned 0 for.
 * Context: the folio walk's lock is held; the mmap lock still is.
 */
void pw_folio_walk_end(struct pw_folio_walk *fw);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_FOLIO_H */
