/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/pagemap.h - /proc/PID/pagemap, the PAGEMAP_SCAN ioctl, and
 * soft-dirty tracking with /proc/PID/clear_refs, over a pagewalk address
 * space (after the kernel's fs/proc/task_mmu.c; Documentation/admin-guide/
 * mm/pagemap.rst and soft-dirty.rst describe the formats).
 *
 * What this model has and has not, and how it shows:
 *  - no swap; the only swap-format entries are device-exclusive ones
 *    (pagewalk/devx.h), reported as the kernel reports them: pagemap sets
 *    PW_PM_SWAP, the frame field type | frame << 5 (the kernel's swap
 *    type and offset), soft-dirty from the entry, PW_PM_FILE and
 *    PW_PM_MMAP_EXCLUSIVE from the frame; PAGEMAP_SCAN gives them
 *    PW_PAGE_IS_SWAPPED, WRITTEN if the entry keeps write permission (or
 *    the VMA is not WP-allowed) and SOFT_DIRTY, and never write-protects
 *    them (WP_MATCHING reports them; they read written until restored);
 *  - no zero page (read faults allocate a zeroed frame): PW_PAGE_IS_PFNZERO
 *    is never set;
 *  - no userfaultfd: the kernel's asynchronous uffd-wp mode (the mode
 *    PAGEMAP_SCAN's write tracking uses) is modelled by write-notify, as
 *    the dirty helpers do it (see "Write tracking" below); PW_PM_UFFD_WP
 *    is never set by pw_pagemap_read();
 *  - "file" pages (PW_PM_FILE, PW_PAGE_IS_FILE) are frames that are not
 *    anonymous (page cache) and the pages of shared anonymous VMAs (the
 *    kernel's shmem);
 *  - PROT_NONE entries are present, as pte_present() says in the kernel;
 *  - 1 GiB leaves are reported like 2 MiB ones (huge, per-4 KiB frames);
 *    hugetlb pages too (PRESENT, the frame, FILE for the page-cache folio,
 *    MMAP_EXCLUSIVE when mapped once).
 *
 * Write tracking (PW_PAGE_IS_WPALLOWED, PW_PAGE_IS_WRITTEN,
 * PW_PM_SCAN_WP_MATCHING, PW_PM_SCAN_CHECK_WPASYNC). In the kernel a VMA
 * registered with userfaultfd in async write-protect mode is "WP-allowed",
 * a page is "written" unless its uffd-wp bit is set, WP_MATCHING sets that
 * bit (write-protecting the page), and the next write to the page faults,
 * clears the bit and lets the write through: the page reads written again.
 * Here there is no registration and no separate bit; the same cycle is the
 * write-notify one of the dirty helpers (pagewalk/dirty.h):
 *  - WP-allowed: every VMA that may be written now (PW_VM_WRITE) and is
 *    not PW_VM_PFNMAP. Read-only and PROT_NONE VMAs are not (after
 *    pw_mprotect() to read-only a VMA stops being WP-allowed);
 *  - written: in a WP-allowed VMA, a present leaf that is writable (RW),
 *    and an unpopulated page (as the kernel's July 2026 fix "PAGEMAP_SCAN
 *    written state for unpopulated ptes" reports holes of uffd-wp VMAs:
 *    a page zapped after it was write-protected has changed); a read fault
 *    maps a page read-only, so a page only read is not written. As in the
 *    kernel, every present page of any other VMA is written and its holes
 *    are not;
 *  - write-protect: clear RW. The next write faults once, the fault
 *    handler makes the leaf writable (in place, or by copy-on-write) and
 *    the page reads written; later writes do not fault. A hole cannot be
 *    write-protected (the kernel arms it with a uffd-wp marker entry; this
 *    model has none that faults resolve), so it stays written: a tracker
 *    sees unpopulated pages of WP-allowed VMAs in every round (populate
 *    them, with reads, to track them).
 * Consequences of having no separate bit: anything else that
 * write-protects a page in a WP-allowed VMA also makes it read not written
 * until its next write: pw_clear_refs(PW_CLEAR_REFS_SOFT_DIRTY), the dirty
 * helpers' pw_wp_shared_mapping_range(), and pw_mm_fork()'s copy-on-write
 * of private pages (in the kernel the uffd-wp bit survives those, and a
 * page written before them reads written after). A tracker that mixes
 * these with WP_MATCHING rounds must treat them as rounds of its own.
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
#define PW_PM_SCAN_CHECK_WPASYNC (1ULL << 1) /* fail on a VMA that is not WP-allowed */
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
 * HUGE, SOFT_DIRTY from the entry or a PW_VM_SOFTDIRTY VMA; WPALLOWED and
 * WRITTEN as "Write tracking" above defines them), keeps the pages that
 * match the masks and writes them to @arg->vec as merged regions, until
 * @arg->vec_len regions or @arg->max_pages pages are used; @arg->walk_end
 * says where it stopped. Pages outside every VMA, and PW_VM_PFNMAP VMAs,
 * are never reported. A VMA is skipped whole when @arg->category_mask
 * requires WPALLOWED (after inversion) and it has not.
 *
 * PW_PM_SCAN_CHECK_WPASYNC: the scan fails with -EPERM at the first VMA
 * that is not WP-allowed (what it found before stays in @arg->vec, as the
 * kernel's). PW_PM_SCAN_WP_MATCHING: VMAs that are not WP-allowed are
 * skipped, and every page reported WRITTEN is write-protected (with no
 * output vector, @arg->vec_len 0: every matching page, nothing reported);
 * a page not reported (cut by max_pages or a full vector) is left alone. A
 * huge leaf is write-protected only when the scan reports all of it: the
 * kernel splits a partly reported one, which needs page_table_lock and the
 * mmap write lock here; the part reported stays writable and reads written
 * again next time (over-reporting, never a lost write). The protected
 * ranges are flushed from every TLB once, before the call returns, inside
 * one MMU notifier range over [@arg->start, @arg->end)
 * (PW_MMU_NOTIFY_PROTECTION_VMA). PTEs change under their table's lock
 * with an atomic and (A/D set by the MMU meanwhile are kept); a huge leaf
 * with a compare-and-swap (a racing fault or split wins: it stays written).
 *
 * Context: takes the mmap lock for read; PTE table locks; with
 * WP_MATCHING also the notifier lock (read), the TLB list and TLB locks.
 * Return: the number of regions written; -EINVAL (NULL or foreign @mm,
 * @arg->size wrong, unknown flags or categories, @start not page
 * aligned, @vec NULL with @vec_len non-zero); -EFAULT (@end below @start,
 * or the range past the end of the lower canonical half, as access_ok()
 * refuses it); -EPERM (PW_PM_SCAN_CHECK_WPASYNC and a VMA that is not
 * WP-allowed; @arg->walk_end is then @arg->end, as the kernel writes the
 * argument back; what was write-protected before that VMA stays so);
 * -EFAULT (NULL @arg, as copy_from_user() fails). On any other error
 * nothing is written.
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
 * soft-dirty, PW_MMU_NOTIFY_CLEAR for the others). VMAs inside the KVM
 * agent's reserved range [PW_KVM_AREA_START, PW_KVM_AREA_END)
 * (pagewalk/kvm.h) are left alone: the agent's stacks must stay writable.
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
