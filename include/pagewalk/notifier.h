/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/notifier.h - MMU notifiers: tell a secondary MMU (a device, a VM's
 * vCPU, a mirror) about every change to an address space's entries, after
 * include/linux/mmu_notifier.h.
 *
 * Every change the library makes to an arena mm's entries is bracketed:
 * pw_munmap() and pw_mm_destroy()'s zap (UNMAP), pw_mprotect()
 * (PROTECTION_VMA), copy-on-write replacing a page (CLEAR), pw_mm_fork()
 * write-protecting the parent (PROTECTION_PAGE), and the dirty helpers'
 * write-protect and clean (PROTECTION_PAGE, once per VMA), and
 * device-exclusive entries (EXCLUSIVE, pagewalk/devx.h): their making, per
 * mapping, carries the device's @owner; their restore by a CPU access
 * carries @owner NULL. The library's own changes carry @owner NULL.
 * Interval notifiers (pagewalk/hmm.h) hear every range start too.
 *
 * Callbacks run in the context of the change: with the mmap lock held
 * (munmap, mprotect, faults, fork) or only a file's i_mmap lock (dirty
 * helpers). They must not call back into the library for the same mm
 * (register/unregister included). arch_invalidate_secondary_tlbs may run
 * with page-table locks held and must not block.
 *
 * Calls around each change of entries in [start, end):
 *   invalidate_range_start()   before the entries change (may fail with
 *                              -EAGAIN only for non-blockable ranges)
 *   arch_invalidate_secondary_tlbs()  when the library flushes the CPU TLB
 *                              for the range (batched; before the page-table
 *                              locks that guard the change are dropped)
 *   invalidate_range_end()     after the change and the flush
 */
#ifndef PAGEWALK_NOTIFIER_H
#define PAGEWALK_NOTIFIER_H

#include <stdint.h>

#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/** enum pw_mmu_notify_event - why entries change (the kernel's MMU_NOTIFY_*). */
enum pw_mmu_notify_event {
	PW_MMU_NOTIFY_UNMAP = 0,	   /* munmap, zap: the range is gone */
	PW_MMU_NOTIFY_CLEAR = 1,	   /* entries cleared (e.g. copy-on-write replaced a page) */
	PW_MMU_NOTIFY_PROTECTION_VMA = 2,  /* mprotect */
	PW_MMU_NOTIFY_PROTECTION_PAGE = 3, /* write-protect / clean of single pages */
	PW_MMU_NOTIFY_SOFT_DIRTY = 4,
	PW_MMU_NOTIFY_RELEASE = 5,	   /* the mm is being destroyed */
	PW_MMU_NOTIFY_EXCLUSIVE = 6,	   /* device-exclusive conversion (owner: the device) or
					      restore (owner NULL) */
};

/**
 * struct pw_mmu_notifier_range - one change.
 * @mm: the address space.
 * @start, @end: the virtual range, [start, end).
 * @event: why.
 * @owner: who is making the change (a notifier can ignore its own).
 */
struct pw_mmu_notifier_range {
	struct pw_mm *mm;
	uint64_t start;
	uint64_t end;
	enum pw_mmu_notify_event event;
	void *owner;
};

struct pw_mmu_notifier;

/** struct pw_mmu_notifier_ops - callbacks; all optional. */
struct pw_mmu_notifier_ops {
	int (*invalidate_range_start)(struct pw_mmu_notifier *mn,
				      const struct pw_mmu_notifier_range *range);
	void (*invalidate_range_end)(struct pw_mmu_notifier *mn,
				     const struct pw_mmu_notifier_range *range);
	void (*arch_invalidate_secondary_tlbs)(struct pw_mmu_notifier *mn, struct pw_mm *mm,
					       uint64_t start, uint64_t end);
	void (*release)(struct pw_mmu_notifier *mn, struct pw_mm *mm);
};

/** struct pw_mmu_notifier - embed in your own structure; the library links it. */
struct pw_mmu_notifier {
	const struct pw_mmu_notifier_ops *ops;
	struct pw_mmu_notifier *_next; /* private */
};

/**
 * pw_mmu_notifier_register() - start calling @mn for changes to @mm.
 * @mn: the notifier, with @ops set; must stay valid until unregistered.
 * @mm: an arena address space.
 *
 * Context: takes the mm's notifier lock for write; must not be called from
 * a notifier callback. A change already in progress may end without @mn
 * having seen its start: a notifier must tolerate an unmatched end.
 * Return: 0; -EINVAL (NULL argument, no @ops, foreign @mm); -EEXIST
 * (already registered on @mm).
 */
int pw_mmu_notifier_register(struct pw_mmu_notifier *mn, struct pw_mm *mm);

/**
 * pw_mmu_notifier_unregister() - stop calling @mn. If @mn is still
 * registered its release callback is not called.
 *
 * Context: as pw_mmu_notifier_register(). After it returns no callback of
 * @mn is running or will run.
 * Return: 0; -EINVAL (NULL argument); -ENOENT (not registered on @mm, for
 * example because pw_mm_destroy() already released it).
 */
int pw_mmu_notifier_unregister(struct pw_mmu_notifier *mn, struct pw_mm *mm);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_NOTIFIER_H */
