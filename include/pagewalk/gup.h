/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/gup.h - get_user_pages: the frames behind a range of user
 * addresses, faulted in and held, after the kernel's mm/gup.c.
 *
 * A reference (the default, the kernel's FOLL_GET) keeps a frame from being
 * freed; a pin (PW_FOLL_PIN, the kernel's pin_user_pages()) is a reference
 * that also says "a device may be writing here" (pw_frame.pincount): a
 * pinned anonymous page is copied for the child at fork instead of being
 * shared copy-on-write (the kernel's page_maybe_dma_pinned() rule), so that
 * the parent keeps seeing what the device writes.
 */
#ifndef PAGEWALK_GUP_H
#define PAGEWALK_GUP_H

#include <stdint.h>

#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* gup_flags. */
enum {
	PW_FOLL_WRITE = 1u << 0, /* the pages will be written: fault for write (breaks COW) */
	PW_FOLL_PIN = 1u << 1,	 /* pin (pincount and a reference) instead of a plain reference */
};

/**
 * pw_get_user_pages() - take hold of the frames mapping @nr pages from @start.
 * @mm: an arena address space.
 * @start: page-aligned user address.
 * @nr: number of 4 KiB pages.
 * @gup_flags: PW_FOLL_WRITE, PW_FOLL_PIN.
 * @frames: receives the frame of each page held (4 KiB frames).
 *
 * Walks the tables; a page that is missing, or read-only for a
 * PW_FOLL_WRITE, is faulted in as an access of that kind would (a write
 * fault copies a copy-on-write page first). A huge leaf met on the way is
 * split into 4 KiB entries first (frame counts are kept per 4 KiB frame).
 * Each page held takes a reference on its frame, and with PW_FOLL_PIN also
 * a pin. Release them with pw_put_user_pages() with the same PW_FOLL_PIN.
 * A hugetlb VMA (pagewalk/hugetlb.h) is the exception: its huge leaves are
 * never split; each 4 KiB page held of a huge page takes one reference
 * (and pin) on the huge folio's head frame, while frames[] still receives
 * the 4 KiB frame (pw_put_user_pages() finds the head again). A held or
 * pinned huge page outlives its munmap until it is put. The leaf is read
 * under the hugetlb VMA lock for read (pw_vma_pgtable_walk_begin()) and
 * its page_table_lock.
 *
 * Context: takes @mm's mmap lock for read (must not hold it); faults as
 * pw_handle_mm_fault(); each page's PTE lock while it is read and grabbed.
 * Return: the number of pages held, from the first on: @nr, or fewer when
 * a page could not be (frames[] beyond that are not written; the pages held
 * stay held); -errno when not even the first could: -EINVAL (NULL argument,
 * foreign @mm, unknown flags, @start not page aligned), -EOVERFLOW (the
 * range wraps), -EFAULT (past the top of user space, no VMA, PROT_NONE, a
 * write to a read-only VMA, a supervisor or PW_VM_PFNMAP VMA: the kernel's
 * -EFAULT for each; also a hugetlb page past the end of its file),
 * -ENOMEM. On -errno nothing was changed, except pages
 * faulted in before a later page failed.
 */
long pw_get_user_pages(struct pw_mm *mm, uint64_t start, unsigned long nr, unsigned gup_flags,
		       uint64_t *frames);

/**
 * pw_get_user_pages_fast() - pw_get_user_pages() that first tries without
 * any lock (the kernel's get_user_pages_fast()).
 * @mm, @start, @nr, @gup_flags, @frames: as pw_get_user_pages().
 *
 * Pages are taken in order, inside an RCU read-side section, with neither
 * the mmap lock nor page-table locks: each entry is read once; a present,
 * user-accessible 4 KiB leaf that allows the access (writable for
 * PW_FOLL_WRITE; for a pin without PW_FOLL_WRITE, not a read-only
 * anonymous page) has its frame grabbed, then its PMD entry and PTE are
 * read again and the frame is given back if either changed. So every frame
 * returned was mapped at its address after its reference was taken. The
 * first page that cannot be taken this way (missing, read-only for a
 * write, not present, device-exclusive, huge, changed under us), and every
 * page after it, goes through pw_get_user_pages() (mmap lock, faults). A
 * pin that overlapped a fork of @mm (which write-protects and copies
 * pinned pages) is given back and retaken by the locked path.
 *
 * Context: must not hold @mm's mmap lock (the locked part takes it for
 * read); takes no lock for the lockless part; may be called from any
 * thread (it registers itself with RCU on first use).
 * Return: as pw_get_user_pages().
 */
long pw_get_user_pages_fast(struct pw_mm *mm, uint64_t start, unsigned long nr, unsigned gup_flags,
			    uint64_t *frames);

/**
 * pw_put_user_pages() - release what pw_get_user_pages() took.
 * @mm: the address space the frames came from (for its arena).
 * @frames: frames; 0 entries are skipped.
 * @nr: how many.
 * @gup_flags: PW_FOLL_PIN if they were pinned (other flags are ignored).
 *
 * Context: any thread; takes the allocator lock if a frame is freed (a
 * frame unmapped meanwhile goes back to the arena here).
 */
void pw_put_user_pages(struct pw_mm *mm, const uint64_t *frames, unsigned long nr, unsigned gup_flags);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_GUP_H */
