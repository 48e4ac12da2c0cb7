/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/hmm.h - mirroring an address space in a device: interval
 * notifiers with a sequence count (the kernel's mmu_interval_notifier) and
 * snapshots of a range's entries (hmm_range_fault()).
 *
 * A device driver keeps a mirror of [start, end) of an mm. Its loop, as in
 * the kernel's Documentation/mm/hmm.rst:
 *
 *   again:
 *     range.notifier_seq = pw_interval_read_begin(&ni);
 *     pw_mmap_read_lock(mm);
 *     ret = pw_range_fault(&range);
 *     pw_mmap_read_unlock(mm);
 *     if (ret == -EBUSY) goto again;          (an invalidation overlapped)
 *     take the driver lock;
 *     if (pw_interval_read_retry(&ni, range.notifier_seq)) {
 *             drop the driver lock; goto again;
 *     }
 *     program the device from range.pfns;    (valid until the next invalidate)
 *     drop the driver lock;
 *
 * and its invalidate callback takes the same driver lock, calls
 * pw_interval_set_seq(ni, cur_seq), drops the device's mappings of the
 * range, and releases the lock. A snapshot accepted under the driver lock
 * is then one no invalidation overlapped since pw_interval_read_begin():
 * every change that removes or reduces a translation (unmap, protection,
 * copy-on-write, fork's write-protection, device-exclusive conversion and
 * restore, the dirty helpers) calls the callback before it happens.
 */
#ifndef PAGEWALK_HMM_H
#define PAGEWALK_HMM_H

#include <stdbool.h>
#include <stdint.h>

#include <pagewalk/mm.h>
#include <pagewalk/notifier.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pw_interval_notifier;

/**
 * struct pw_interval_notifier_ops - the driver's callback.
 * @invalidate: entries of the notifier's interval that meet @range are
 *      about to change; @cur_seq is the sequence to store with
 *      pw_interval_set_seq() under the driver lock. Called with the mm's
 *      locks the change holds (the mmap lock, or an i_mmap lock), never
 *      with a spinlock; must not call into the library for this mm. The
 *      return value is for non-blockable ranges, which the library does
 *      not make: return true.
 */
struct pw_interval_notifier_ops {
	bool (*invalidate)(struct pw_interval_notifier *ni, const struct pw_mmu_notifier_range *range,
			   uint64_t cur_seq);
};

/**
 * struct pw_interval_notifier - one interval of one mm a driver mirrors.
 * Fields are set by pw_interval_notifier_insert() and read-only after.
 */
struct pw_interval_notifier {
	const struct pw_interval_notifier_ops *ops;
	struct pw_mm *mm;
	uint64_t start, end;
	/* private */
	uint64_t _seq;
	struct pw_interval_notifier *_next;
};

/**
 * pw_interval_notifier_insert() - start watching [@start, @start + @length) of @mm.
 * @ni: caller's memory, valid until removed.
 * @mm: an arena address space.
 * @start, @length: page aligned, non-zero, no wrap.
 * @ops: the callback.
 *
 * Context: takes the mm's interval lock; waits while invalidations are in
 * progress; must not be called from a callback.
 * Return: 0, -EINVAL (NULL argument, foreign @mm, bad range), -EEXIST
 * (@ni already inserted).
 */
int pw_interval_notifier_insert(struct pw_interval_notifier *ni, struct pw_mm *mm, uint64_t start,
				uint64_t length, const struct pw_interval_notifier_ops *ops);

/**
 * pw_interval_notifier_remove() - stop watching. After it returns no
 * callback of @ni runs. pw_mm_destroy() removes what is left (after its
 * unmap, which the callbacks see).
 * Context: as pw_interval_notifier_insert().
 * Return: 0, -EINVAL (NULL), -ENOENT (not inserted).
 */
int pw_interval_notifier_remove(struct pw_interval_notifier *ni);

/**
 * pw_interval_read_begin() - the sequence to check a snapshot against; if
 * an invalidation of @ni is in progress, wait for it to end first.
 * Context: no mm lock needed; may sleep. Return: the sequence.
 */
uint64_t pw_interval_read_begin(struct pw_interval_notifier *ni);

/**
 * pw_interval_read_retry() - has an invalidation of @ni started since
 * pw_interval_read_begin() returned @seq? Call under the driver lock that
 * the callback takes, before using a snapshot.
 * Context: any. Return: true: throw the snapshot away and start again.
 */
bool pw_interval_read_retry(struct pw_interval_notifier *ni, uint64_t seq);

/**
 * pw_interval_set_seq() - from the callback, under the driver lock: record
 * the invalidation (@cur_seq, as passed to the callback).
 * Context: the callback.
 */
void pw_interval_set_seq(struct pw_interval_notifier *ni, uint64_t cur_seq);

/* Per-page entries of struct pw_hmm_range.pfns: a frame with flags on top. */
#define PW_HMM_PFN_VALID (1ULL << 63) /* out: the page is mapped by a frame (low bits) */
#define PW_HMM_PFN_WRITE (1ULL << 62) /* out: the CPU may write it */
#define PW_HMM_PFN_ERROR (1ULL << 61) /* out: not accessible (no VMA, PROT_NONE, malformed) */
#define PW_HMM_PFN_ORDER_SHIFT 56     /* out: bits 60:56, log2 of the leaf's pages (9: 2 MiB) */
#define PW_HMM_PFN_ORDER_MASK (0x1fULL << PW_HMM_PFN_ORDER_SHIFT)
#define PW_HMM_PFN_FRAME_MASK ((1ULL << PW_HMM_PFN_ORDER_SHIFT) - 1)
/* Requests, in the same slots on input (the kernel's HMM_PFN_REQ_*). */
#define PW_HMM_REQ_FAULT PW_HMM_PFN_VALID /* fault the page in if missing */
#define PW_HMM_REQ_WRITE PW_HMM_PFN_WRITE /* ... writable (with REQ_FAULT) */

/**
 * struct pw_hmm_range - one snapshot request.
 * @notifier: the interval notifier covering [@start, @end).
 * @notifier_seq: from pw_interval_read_begin().
 * @start, @end: page-aligned range.
 * @pfns: one slot per page: on input request bits, on output the entry.
 * @default_flags: request bits for every page.
 * @pfn_flags_mask: which input bits of @pfns count (0: only @default_flags).
 */
struct pw_hmm_range {
	struct pw_interval_notifier *notifier;
	uint64_t notifier_seq;
	uint64_t start, end;
	uint64_t *pfns;
	uint64_t default_flags;
	uint64_t pfn_flags_mask;
};

/**
 * pw_range_fault() - fill @range->pfns with a snapshot of the entries of
 * [start, end), faulting in the pages requested (a write fault for
 * PW_HMM_REQ_WRITE; a device-exclusive page is given back to the CPU).
 *
 * Each slot gets the frame of the 4 KiB page (VALID), WRITE if the entry
 * is writable, the order of its leaf, or ERROR; a page not requested and
 * not mapped (none, PROT_NONE entry, device-exclusive) gets 0.
 *
 * Context: caller holds the mmap lock for read (or write, but then no
 * fault may wait); faults as pw_handle_mm_fault(). Reads entries without
 * PTE locks (as the kernel's hmm does); the result is only to be trusted
 * after pw_interval_read_retry() said no.
 * Return: 0; -EBUSY an invalidation of the notifier happened since
 * @notifier_seq (start again); -EFAULT a requested page cannot be faulted
 * (no VMA, PROT_NONE, a write to a read-only VMA); -ENOMEM; -EINVAL (NULL
 * argument, bad range, range outside the notifier's interval).
 */
int pw_range_fault(struct pw_hmm_range *range);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_HMM_H */
