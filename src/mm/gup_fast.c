// SPDX-License-Identifier: MIT
/*
 * gup_fast.c - pw_get_user_pages_fast() (pagewalk/gup.h), after the
 * kernel's gup_fast(): the pages that can be taken without the mmap lock
 * and without page-table locks are taken inside an RCU read-side section;
 * the first one that cannot ends that part and the rest go through the
 * locked pw_get_user_pages().
 *
 * Why it is safe without locks: page-table frames are freed only a grace
 * period after they are unhooked (pt/pt.c), so every table reached from
 * the root stays readable for the whole section; each entry is read once
 * (acquire); after the frame's reference is taken, the PMD entry and the
 * PTE are read again and, if either changed, the reference is dropped and
 * the locked path decides (the kernel's re-check): a frame is returned only
 * if it was still mapped there after it was grabbed. A reference taken on
 * a frame whose count had reached 0 is refused (pw_gup_grab()), so a frame
 * being freed is never resurrected. Pins also check mm->write_protect_seq
 * (fork write-protects and copies under it): a pin that races a fork is
 * left to the locked path, which excludes fork, so that fork's "pinned
 * pages are copied" rule sees every pin.
 */
#include "mm/gup.h"
#include "mm/mm.h"

/* Take page @addr locklessly: its frame, or 0 (fall back). */
static uint64_t fast_one(struct pw_mm *mm, uint64_t addr, unsigned flags)
{
	struct pw_pt *pt = &mm->pt;
	struct pw_pt_entry path[PW_MAX_LEVELS], e;
	uint64_t frame;

	if (pw_pt_descend(pt, addr, PW_LEVEL_PTE, &e, path) != PW_PT_LEAF || e.level != PW_LEVEL_PTE)
		return 0; /* missing, not present, device-exclusive, or huge (split by the locked path) */
	frame = pw_gup_entry_frame(pt, e.level, e.val, addr, flags);
	if (!frame)
		return 0;
	/* A pin of a read-only anonymous page may be of a page fork shares
	 * copy-on-write: the locked path decides (the kernel's gup_must_unshare()). */
	if ((flags & PW_FOLL_PIN) && !(e.val & PW_RW) &&
	    (__atomic_load_n(&pw_frame_meta(pt->arena, frame)->flags, __ATOMIC_RELAXED) & PW_FRAME_ANON))
		return 0;
	if (!pw_gup_grab(pt->arena, frame, flags))
		return 0;
	if (__atomic_load_n(path[PW_LEVEL_PMD].ptep, __ATOMIC_ACQUIRE) != path[PW_LEVEL_PMD].val ||
	    __atomic_load_n(e.ptep, __ATOMIC_ACQUIRE) != e.val) {
		pw_gup_ungrab(pt->arena, frame, flags);
		return 0;
	}
	return frame;
}

PW_API long pw_get_user_pages_fast(struct pw_mm *mm, uint64_t start, unsigned long nr,
				   unsigned gup_flags, uint64_t *frames)
{
	unsigned long done = 0;
	uint32_t seq = 0;
	long ret;
	int err = pw_gup_check(mm, start, nr, gup_flags);

	if (err)
		return err;
	if (!frames)
		return -EINVAL;
	if (!nr)
		return 0;
	if (gup_flags & PW_FOLL_PIN) {
		seq = __atomic_load_n(&mm->write_protect_seq, __ATOMIC_ACQUIRE);
		if (seq & 1)
			goto slow; /* a fork is write-protecting: pins wait for it */
	}
	pw_rcu_read_lock();
	for (; done < nr; done++) {
		uint64_t frame = fast_one(mm, start + ((uint64_t)done << PW_PAGE_SHIFT), gup_flags);

		if (!frame)
			break;
		frames[done] = frame;
	}
	pw_rcu_read_unlock();
	/* A seq_cst read-modify-write orders the pins before the second read of
	 * the count (fork increments it, then reads pincounts): a full barrier
	 * on x86, where a fence would do the same (TSan does not model fences). */
	__atomic_fetch_add(&mm->nr_gup_fast, done, __ATOMIC_SEQ_CST);
	if ((gup_flags & PW_FOLL_PIN) && done &&
	    __atomic_load_n(&mm->write_protect_seq, __ATOMIC_SEQ_CST) != seq) {
		/* a fork ran meanwhile and may not have seen these pins: undo */
		pw_put_user_pages(mm, frames, done, gup_flags);
		__atomic_fetch_sub(&mm->nr_gup_fast, done, __ATOMIC_RELAXED);
		done = 0;
	}
	if (done == nr)
		return (long)nr;
slow:
	ret = pw_get_user_pages(mm, start + ((uint64_t)done << PW_PAGE_SHIFT), nr - done, gup_flags,
				frames + done);
	if (ret < 0)
		return done ? (long)done : ret;
	return (long)done + ret;
}
