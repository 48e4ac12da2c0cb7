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

/*
 * Take pages from @addr on, at most @nr, locklessly: one descent to the PMD
 * entry, then the PTEs of that table one by one. Return how many were taken
 * into @frames (0 .. @nr); fewer than the table holds means the next page
 * needs the locked path.
 */
static unsigned long fast_table(struct pw_mm *mm, uint64_t addr, unsigned long nr, unsigned flags,
				uint64_t *frames)
{
	struct pw_pt *pt = &mm->pt;
	struct pw_pt_entry pmd;
	const uint64_t *t;
	unsigned idx = pw_index(PW_LEVEL_PTE, addr);
	unsigned long n = 0, room = PW_PTRS_PER_TABLE - idx;

	if (pw_pt_descend(pt, addr, PW_LEVEL_PMD, &pmd, NULL) != PW_PT_TABLE)
		return 0; /* missing, or a huge leaf (the locked path splits it) */
	t = pw_pt_table(pt, pw_pt_next_pfn(pt, pmd.val));
	if (!t)
		return 0;
	if (nr > room)
		nr = room;
	for (; n < nr; n++, addr += PW_PAGE_SIZE) {
		const uint64_t *ptep = t + idx + n;
		uint64_t v = __atomic_load_n(ptep, __ATOMIC_ACQUIRE);
		uint64_t frame = pw_gup_entry_frame(pt, PW_LEVEL_PTE, v, addr, flags);

		if (!frame)
			break; /* none, not present, device-exclusive, read-only for a write */
		/* A pin of a read-only anonymous page may be of a page fork shares
		 * copy-on-write: the locked path decides (the kernel's gup_must_unshare()). */
		if ((flags & PW_FOLL_PIN) && !(v & PW_RW) &&
		    (__atomic_load_n(&pw_frame_meta(pt->arena, frame)->flags, __ATOMIC_RELAXED) &
		     PW_FRAME_ANON))
			break;
		if (!pw_gup_grab(pt->arena, frame, flags))
			break;
		/* the kernel's re-check: still linked, still mapping that frame */
		if (__atomic_load_n(pmd.ptep, __ATOMIC_ACQUIRE) != pmd.val ||
		    __atomic_load_n(ptep, __ATOMIC_ACQUIRE) != v) {
			pw_gup_ungrab(pt->arena, frame, flags);
			break;
		}
		frames[n] = frame;
	}
	return n;
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
	while (done < nr) {
		uint64_t addr = start + ((uint64_t)done << PW_PAGE_SHIFT);
		unsigned long want = PW_PTRS_PER_TABLE - pw_index(PW_LEVEL_PTE, addr);
		unsigned long got;

		/* one read-side section per PTE table: a munmap meanwhile waits
		 * for one table's worth of pages, not for the whole call */
		pw_rcu_read_lock();
		got = fast_table(mm, addr, nr - done, gup_flags, frames + done);
		pw_rcu_read_unlock();
		done += got;
		if (got < want && done < nr)
			break;
	}
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
