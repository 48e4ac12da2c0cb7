/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/pagemap.h - /proc/PID/pagemap, the PAGEMAP_SCAN ioctl, and
 * soft-dirty tracking with /proc/PID/clear_refs, over a pagewalk address
 * space (after the kernel's fs/proc/task_mmu.c; Documentation/admin-guide/
 * mm/pagemap.rst and soft-dirty.rst describe the formats).
 *
 * What this model has and has not, and how it shows:
 *  - no swap: PW_PM_SWAP and PW_PAGE_IS_SWAPPED are never set;
 *  - no zero page (read faults allocate a zeroed frame): PW_PAGE_IS_PFNZERO
 *    is never set;
 *  - no userfaultfd: no VMA has asynchronous write-protect, so
 *    PW_PAGE_IS_WPALLOWED is never set, PW_PM_UFFD_WP never either, and
 *    PAGEMAP_SCAN behaves as the kernel's does in a process that registered
 *    nothing: PW_PM_SCAN_WP_MATCHING skips every VMA, PW_PM_SCAN_CHECK_WPASYNC
 *    fails with -EPERM at the first VMA;
 *  - "file" pages (PW_PM_FILE, PW_PAGE_IS_FILE) are frames that are not
 *    anonymous (page cache) and the pages of shared anonymous VMAs (the
 *    kernel's shmem);
 *  - PROT_NONE entries are present, as pte_present() says in the kernel;
 *  - 1 GiB leaves are reported like 2 MiB ones (huge, per-4 KiB frames).
 */
#ifndef PAGEWALK_PAGEMAP_H
#define PAGEWALK_PAGEMAP_H

#include <stdint.h>

#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- pagemap entries (one 64-bit value per 4 KiB page) ------------------ */

#define PW_PM_PFRAME_BITS 55
#define PW_PM_PFRAME_MASK ((1ULL << PW_PM_PFRAME_BITS) - 1) /* bits 0-54: the frame */
#define PW_PM_SOFT_DIRTY (1ULL << 55)
#define PW_PM_MMAP_EXCLUSIVE (1ULL << 56) /* the frame is mapped once */
#define PW_PM_UFFD_WP (1ULL << 57)
#define PW_PM_FILE (1ULL << 61)		  /* file page or shared anonymous */
#define PW_PM_SWAP (1ULL << 62)
#define PW_PM_PRESENT (1ULL << 63)

/**
 * pw_pagemap_read() - what reading /proc/PID/pagemap at offset
 * (@start / 4 KiB) * 8 gives: one entry per page of [@start, @start + @nr
 * pages).
 * @mm: an arena address space.
 * @start: first address, page aligned.
 * @nr: number of pages (entries).
 * @out: receives @nr entries.
 *
 * A present leaf gives PW_PM_PRESENT | its frame (the 4 KiB frame of that
 * page inside a huge leaf), PW_PM_SOFT_DIRTY if the entry's soft-dirty bit
 * is set, PW_PM_FILE, and PW_PM_MMAP_EXCLUSIVE when the frame's map count
 * is 1. Every page of a VMA with PW_VM_SOFTDIRTY has PW_PM_SOFT_DIRTY, also
 * where nothing is mapped yet; a page outside every VMA reads 0.
 *
 * As the kernel's read stops at the end of user space, the pages at or
 * above the end of the lower canonical half are not read: the return value
 * is then smaller than @nr (a short read) and @out's tail is left alone.
 *
 * Context: takes the mmap lock for read; PTE table locks.
 * Return: the number of entries written (@nr, or fewer at the top);
 * -EINVAL (NULL or foreign @mm, @start not page aligned: the kernel's
 * offset not a multiple of 8); -EFAULT (@out NULL with @nr non-zero).
 */
int64_t pw_pagemap_read(struct pw_mm *mm, uint64_t start, uint64_t nr, uint64_t *out);

/* ---- PAGEMAP_SCAN ------------------------------------------------------- */

/* Categories (struct pw_pm_scan_arg masks, struct pw_page_region.categories). */
#define PW_PAGE_IS_WPALLOWED (1ULL << 0)
#define PW_PAGE_IS_WRITTEN (1ULL << 1)
#define PW_PAGE_IS_FILE (1ULL << 2)
#define PW_PAGE_IS_PRESENT (1ULL << 3)
#define PW_PAGE_IS_SWAPPED (1ULL << 4)
#define PW_PAGE_IS_PFNZERO (1ULL << 5)
#define PW_PAGE_IS_HUGE (1ULL << 6)
#define PW_PAGE_IS_SOFT_DIRTY (1ULL << 7)
#define PW_PM_SCAN_CATEGORIES 0xffULL

/* Flags (struct pw_pm_scan_arg.flags). */
#define PW_PM_SCAN_WP_MATCHING (1ULL << 0)  /* write-protect what matched */
#define PW_PM_SCAN_CHECK_WPASYNC (1ULL << 1) /* fail on a VMA without async write-protect */
#define PW_PM_SCAN_FLAGS (PW_PM_SCAN_WP_MATCHING | PW_PM_SCAN_CHECK_WPASYNC)

/** struct pw_page_region - [@start, @end) whose pages all have @categories (masked by return_mask). */
struct pw_page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

/**
 * struct pw_pm_scan_arg - the kernel's struct pm_scan_arg, with a pointer
 * for @vec.
 * @size: sizeof(struct pw_pm_scan_arg).
 * @flags: PW_PM_SCAN_*.
 * @start: first address, page aligned.
 * @end: end of the scan (rounded up to a page).
 * @walk_end: written: where the scan stopped; == @end when it covered it all.
 * @vec: output regions, or NULL (then @vec_len must be 0).
 * @vec_len: room in @vec, in regions.
 * @max_pages: at most this many pages reported; 0 = no limit.
 * @category_inverted: categories that match when 0 instead of 1.
 * @category_mask: a page is skipped unless it has all of these (after inversion).
 * @category_anyof_mask: if non-zero, a page is skipped unless it has one of these.
 * @return_mask: the categories reported in each region (regions merge when
 *               their reported categories are equal and they touch).
 */
struct pw_pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	struct pw_page_region *vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

/**
 * pw_pagemap_scan() - the PAGEMAP_SCAN ioctl over @mm.
 * @arg: in/out, as the kernel's struct pm_scan_arg.
 *
 * Walks [@arg->start, @arg->end), classifies each page (PRESENT, FILE,
 * HUGE, SOFT_DIRTY from the entry or a PW_VM_SOFTDIRTY VMA; WRITTEN for
 * present pages, which nothing write-protects here), keeps the pages that
 * match the masks and writes them to @arg->vec as merged regions, until
 * @arg->vec_len regions or @arg->max_pages pages are used; @arg->walk_end
 * says where it stopped. Pages outside every VMA, and PW_VM_PFNMAP VMAs,
 * are never reported. See the header comment for what this model lacks
 * (swap, zero page, userfaultfd: WP_MATCHING skips every VMA).
 *
 * Context: takes the mmap lock for read; PTE table locks.
 * Return: the number of regions written; -EINVAL (NULL or foreign @mm,
 * @arg->size wrong, unknown flags or categories, @start not page
 * aligned, @vec NULL with @vec_len non-zero); -EFAULT (@end below @start,
 * or the range past the end of the lower canonical half, as access_ok()
 * refuses it); -EPERM (PW_PM_SCAN_CHECK_WPASYNC and a VMA without async
 * write-protect: every VMA here; @arg->walk_end is then written, as the
 * kernel writes the argument back); -EFAULT (NULL @arg, as copy_from_user()
 * fails). On any other error nothing is written.
 */
int64_t pw_pagemap_scan(struct pw_mm *mm, struct pw_pm_scan_arg *arg);

/* ---- soft-dirty and clear_refs ------------------------------------------ */

/* What to clear: the values written to /proc/PID/clear_refs. */
enum pw_clear_refs_type {
	PW_CLEAR_REFS_ALL = 1,	      /* Accessed bits of every page */
	PW_CLEAR_REFS_ANON = 2,	      /* Accessed bits of anonymous VMAs' pages */
	PW_CLEAR_REFS_MAPPED = 3,     /* Accessed bits of file VMAs' pages */
	PW_CLEAR_REFS_SOFT_DIRTY = 4, /* soft-dirty bits and PW_VM_SOFTDIRTY */
};

/**
 * pw_clear_refs() - what writing @type to /proc/PID/clear_refs does.
 * @mm: an arena address space.
 * @type: enum pw_clear_refs_type.
 *
 * SOFT_DIRTY: every VMA loses PW_VM_SOFTDIRTY; every leaf (present or
 * PROT_NONE, 4 KiB or huge) loses its soft-dirty bit and its write
 * permission, so that the next write to it faults and the fault handler
 * sets soft-dirty again (and only that write: the fault makes the page
 * writable, as the kernel's does). ALL / ANON / MAPPED: the Accessed bit
 * of each present leaf (of every VMA / VMAs without a file / VMAs with
 * one; shared anonymous memory counts as anonymous here, it has no file).
 * Changed entries are flushed from every TLB once, inside one MMU notifier
 * range over the lower half (event PW_MMU_NOTIFY_SOFT_DIRTY for
 * soft-dirty, PW_MMU_NOTIFY_CLEAR for the others).
 *
 * Context: takes the mmap lock for write (the kernel does, for every type
 * that changes VMA flags; ours takes it for all, for one rule); PTE table
 * locks and page_table_lock.
 * Return: 0; -EINVAL (NULL or foreign @mm, unknown @type: nothing changed).
 */
int pw_clear_refs(struct pw_mm *mm, int type);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_PAGEMAP_H */
