/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/apply.h - call a function on each PTE of a range, after the
 * kernel's apply_to_page_range() and apply_to_existing_page_range().
 *
 * No VMA is involved: these work on any part of an arena mm's tables.
 * Huge leaves are never walked into: a leaf (or a PROT_NONE leaf) above the
 * PTE level anywhere in the range is -EINVAL, found before the function is
 * called for any PTE (unless a concurrent fault installs one meanwhile).
 * So is a malformed upper entry (reserved bits set): the kernel clears such
 * an entry when creating and skips it otherwise; we never change it.
 */
#ifndef PAGEWALK_APPLY_H
#define PAGEWALK_APPLY_H

#include <stdint.h>

#include <pagewalk/mm.h>
#include <pagewalk/pgtable.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * typedef pw_pte_fn_t - the function applied to a PTE.
 * @pte: the entry; it may be read and written (pw_entry_read/_write).
 * @addr: the virtual address it maps.
 * @data: the caller's pointer.
 *
 * Called with the PTE table's lock held: it must not sleep for long or
 * fault. Return: 0 to go on; anything else stops the walk and is returned.
 */
typedef int (*pw_pte_fn_t)(pw_pte_t *pte, uint64_t addr, void *data);

/**
 * pw_apply_to_page_range() - call @fn on every PTE of [@addr, @addr + @size),
 * allocating missing page tables.
 * @mm: an arena address space.
 * @addr: start, page aligned, canonical.
 * @size: bytes, page aligned, non-zero; the range must not wrap or leave
 *        @addr's canonical half.
 * @fn: called for every PTE, none or not, in address order; NULL only
 *      allocates the tables.
 * @data: passed to @fn.
 *
 * Context: caller holds @mm's mmap lock (read or write). Takes
 * page_table_lock to install tables and each PTE table's lock around the
 * calls for that table.
 * Return: 0; what @fn returned (non-zero); -EINVAL (bad range, NULL @mm,
 * foreign @mm, or a leaf above the PTE level in the range: nothing was
 * called); -ENOMEM (tables allocated so far stay).
 */
int pw_apply_to_page_range(struct pw_mm *mm, uint64_t addr, uint64_t size, pw_pte_fn_t fn,
			   void *data);

/**
 * pw_apply_to_existing_page_range() - call @fn on every PTE that is not none
 * in [@addr, @addr + @size), skipping missing tables and none entries.
 * @mm, @addr, @size, @data: as pw_apply_to_page_range().
 * @fn: called for each PTE that is not none, in address order; not NULL.
 *
 * Each PTE reaches @fn with its own address: the pointer advances over none
 * entries too (the kernel's loop did not, until 6.15). No table is
 * allocated.
 *
 * Context: as pw_apply_to_page_range().
 * Return: as pw_apply_to_page_range(), never -ENOMEM; -EINVAL also for a
 * NULL @fn.
 */
int pw_apply_to_existing_page_range(struct pw_mm *mm, uint64_t addr, uint64_t size,
				    pw_pte_fn_t fn, void *data);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_APPLY_H */
