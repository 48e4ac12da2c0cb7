// SPDX-License-Identifier: MIT
/*
 * gup.c - pw_get_user_pages() / pw_put_user_pages() (pagewalk/gup.h), after
 * the kernel's __get_user_pages(): per page, look the entry up under its
 * PTE lock and grab the frame if the entry allows the access, otherwise
 * fault as the access would and look again.
 */
#include <pagewalk/hugetlb.h>

#include "mm/gup.h"
#include "mm/mm.h"

uint64_t pw_gup_entry_frame(const struct pw_pt *pt, enum pw_level level, uint64_t v, uint64_t addr,
			    unsigned flags)
{
	struct pw_frame *f;
	uint64_t pfn;

	if (pw_pt_kind(&pt->cfg, level, v) != PW_PT_LEAF || !(v & PW_US))
		return 0;
	if ((flags & PW_FOLL_WRITE) && !(v & PW_RW))
		return 0; /* a write fault first: it breaks copy-on-write */
	pfn = pw_pt_leaf_pfn(pt, level, v) + ((addr & ~pw_level_mask(level)) >> PW_PAGE_SHIFT);
	f = pw_frame_meta(pt->arena, pfn);
	if (!f || (__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & (PW_FRAME_RESERVED | PW_FRAME_PGTABLE)))
		return 0;
	return pfn;
}

bool pw_gup_grab(struct pw_arena *arena, uint64_t pfn, unsigned flags)
{
	struct pw_frame *f = pw_frame_meta(arena, pfn);
	int32_t ref = __atomic_load_n(&f->refcount, __ATOMIC_RELAXED);

	do {
		if (ref <= 0)
			return false;
	} while (!__atomic_compare_exchange_n(&f->refcount, &ref, ref + 1, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	if (flags & PW_FOLL_PIN)
		__atomic_fetch_add(&f->pincount, 1, __ATOMIC_RELEASE);
	return true;
}

/*
 * The head frame of the folio @pfn belongs to: @pfn itself unless it is a
 * tail frame of a huge block (a hugetlb page GUP returned per 4 KiB frame,
 * whose holds are on its head). Blocks are naturally aligned: the head is
 * the first frame at an alignment of 2^o whose block order reaches o.
 */
static uint64_t folio_head(struct pw_arena *arena, uint64_t pfn)
{
	if (!(__atomic_load_n(&pw_frame_meta(arena, pfn)->flags, __ATOMIC_RELAXED) & PW_FRAME_TAIL))
		return pfn;
	for (unsigned o = 1; o <= PW_MAX_ORDER; o++) {
		uint64_t c = pfn & ~((1ULL << o) - 1);
		const struct pw_frame *cf = pw_frame_meta(arena, c);

		if ((__atomic_load_n(&cf->flags, __ATOMIC_RELAXED) & PW_FRAME_HEAD) && cf->order >= o)
			return c;
	}
	PW_BUG_ON(1); /* a tail frame without a head */
	return pfn;
}

void pw_gup_ungrab(struct pw_arena *arena, uint64_t pfn, unsigned flags)
{
	pfn = folio_head(arena, pfn);
	if (flags & PW_FOLL_PIN)
		__atomic_fetch_sub(&pw_frame_meta(arena, pfn)->pincount, 1, __ATOMIC_RELEASE);
	pw_frame_put(arena, pfn);
}

/* The kernel's check_vma_flags(): may GUP take pages of @vma at all? */
static int vma_ok(const struct pw_vma *vma, unsigned flags)
{
	uint32_t f = vma->vm_flags;

	if (f & (PW_VM_PFNMAP | PW_VM_SUPERVISOR))
		return -EFAULT;
	if ((flags & PW_FOLL_WRITE) && !(f & PW_VM_WRITE))
		return -EFAULT;
	if (!(f & (PW_VM_READ | PW_VM_WRITE | PW_VM_EXEC)))
		return -EFAULT; /* PROT_NONE */
	return 0;
}

/* Hold the page at @addr (its VMA allows the access): 0 and *@pfn, or -errno. */
static int gup_one(struct pw_mm *mm, uint64_t addr, unsigned flags, uint64_t *pfn)
{
	struct pw_pt *pt = &mm->pt;

	for (unsigned tries = 0;; tries++) {
		struct pw_pt_entry path[PW_MAX_LEVELS], e;
		int kind = pw_pt_descend(pt, addr, PW_LEVEL_PTE, &e, path), ret;
		uint64_t frame = 0;

		if (tries > 64)
			return -EFAULT; /* something keeps undoing the fault: give up on this page */
		if (kind == PW_PT_LEAF && e.level > PW_LEVEL_PTE) {
			ret = pw_split_huge(mm, &e); /* counts are per 4 KiB frame once held */
			if (ret)
				return ret;
			continue;
		}
		if (kind == PW_PT_LEAF) {
			if (!pw_pt_lock_ptes(pt, &path[PW_LEVEL_PMD]))
				continue;
			pw_pt_reread(&e);
			frame = pw_gup_entry_frame(pt, e.level, e.val, addr, flags);
			if (frame && !pw_gup_grab(pt->arena, frame, flags))
				frame = 0;
			pw_pt_entry_unlock(pt, &e);
			if (frame) {
				*pfn = frame;
				return 0;
			}
		} else if (kind == PW_PT_MALFORMED || kind < 0) {
			return -EFAULT;
		}
		ret = pw_handle_mm_fault(mm, addr, PW_FAULT_USER | ((flags & PW_FOLL_WRITE) ? PW_FAULT_WRITE : 0));
		if (ret)
			return ret == -ENOMEM ? -ENOMEM : -EFAULT;
	}
}

/*
 * The kernel's hugetlb_follow_page_mask(): hold the 4 KiB pages of
 * [@addr, @end) (one hugetlb VMA) that the huge leaf mapping @addr covers,
 * faulting it first if it does not allow the access. The holds are taken
 * on the huge folio's head frame, one reference (and pin) per 4 KiB page
 * returned, under the hugetlb VMA lock for read (through the walk hook)
 * and the leaf's lock; the leaf is never split. pw_gup_ungrab() finds the
 * head again. Return how many pages were held (> 0) or -errno.
 */
static long gup_hugetlb(struct pw_mm *mm, struct pw_vma *vma, uint64_t addr, uint64_t end,
			unsigned flags, uint64_t *frames)
{
	struct pw_pt *pt = &mm->pt;
	enum pw_level level = pw_hugetlb_level(vma);
	uint64_t size = pw_level_size(level), haddr = addr & ~(size - 1);

	if (end > haddr + size)
		end = haddr + size;
	for (unsigned tries = 0;; tries++) {
		struct pw_pt_entry e;
		long n = 0;
		int kind, ret;

		if (tries > 64)
			return -EFAULT;
		pw_vma_pgtable_walk_begin(vma);
		kind = pw_pt_descend(pt, haddr, level, &e, NULL);
		if (kind == PW_PT_LEAF && e.level == level) {
			pw_pt_entry_lock(pt, &e);
			if (!pw_pt_reread(&e) && pw_gup_entry_frame(pt, level, e.val, addr, flags)) {
				uint64_t head = pw_pt_leaf_pfn(pt, level, e.val);
				uint64_t first = head + ((addr - haddr) >> PW_PAGE_SHIFT);
				struct pw_frame *hf = pw_frame_meta(pt->arena, head);

				n = (long)((end - addr) >> PW_PAGE_SHIFT);
				/* the mapping holds a reference: the folio cannot go meanwhile */
				__atomic_fetch_add(&hf->refcount, (int32_t)n, __ATOMIC_ACQ_REL);
				if (flags & PW_FOLL_PIN)
					__atomic_fetch_add(&hf->pincount, (int32_t)n, __ATOMIC_RELEASE);
				for (long k = 0; k < n; k++)
					frames[k] = first + (uint64_t)k;
			}
			pw_pt_entry_unlock(pt, &e);
		} else if (kind == PW_PT_MALFORMED || kind < 0 || (kind == PW_PT_LEAF && e.level != level)) {
			n = -EFAULT; /* a leaf of another size: not this VMA's */
		}
		pw_vma_pgtable_walk_end(vma);
		if (n)
			return n;
		/* none, read-only for a write, non-present: fault as the access would */
		ret = pw_handle_mm_fault(mm, addr, PW_FAULT_USER | ((flags & PW_FOLL_WRITE) ? PW_FAULT_WRITE : 0));
		if (ret)
			return ret == -ENOMEM ? -ENOMEM : -EFAULT;
	}
}

int pw_gup_check(const struct pw_mm *mm, uint64_t start, unsigned long nr, unsigned flags)
{
	uint64_t len, end;

	if (!mm || !mm->pt.arena || (flags & ~(unsigned)(PW_FOLL_WRITE | PW_FOLL_PIN)))
		return -EINVAL;
	if (start & ~PW_PAGE_MASK)
		return -EINVAL;
	if (nr > (UINT64_MAX >> PW_PAGE_SHIFT))
		return -EOVERFLOW;
	len = (uint64_t)nr << PW_PAGE_SHIFT;
	if (__builtin_add_overflow(start, len, &end))
		return -EOVERFLOW;
	if (end > pw_low_half_end(mm->pt.cfg.levels))
		return -EFAULT;
	return 0;
}

/*
 * The fast part: with one PTE table locked, grab the pages of [@addr, @end)
 * it maps that need no fault, in order, into @frames; stop at the first
 * that does. Return how many were grabbed (0: take the slow path).
 */
static unsigned long gup_table(struct pw_mm *mm, uint64_t addr, uint64_t end, unsigned flags,
			       uint64_t *frames)
{
	struct pw_pt *pt = &mm->pt;
	struct pw_pt_entry path[PW_MAX_LEVELS], pmd;
	unsigned long n = 0;
	uint64_t *t;
	int kind = pw_pt_descend(pt, addr, PW_LEVEL_PMD, &pmd, path);

	if (kind != PW_PT_TABLE || pmd.level != PW_LEVEL_PMD)
		return 0;
	t = pw_pt_lock_ptes(pt, &pmd);
	if (!t)
		return 0;
	end = pw_addr_end(PW_LEVEL_PMD, addr, end);
	for (; addr != end; addr += PW_PAGE_SIZE, n++) {
		uint64_t v = pw_entry_read(t + pw_index(PW_LEVEL_PTE, addr));
		uint64_t frame = pw_gup_entry_frame(pt, PW_LEVEL_PTE, v, addr, flags);

		if (!frame || !pw_gup_grab(pt->arena, frame, flags))
			break;
		frames[n] = frame;
	}
	pw_pt_pte_unlock(pt, pw_pt_next_pfn(pt, pmd.val));
	return n;
}

long pw_gup_locked(struct pw_mm *mm, uint64_t start, unsigned long nr, unsigned flags, uint64_t *frames)
{
	struct pw_vma *vma = NULL;
	unsigned long i = 0;

	pw_assert_mmap_locked(mm);
	while (i < nr) {
		uint64_t addr = start + ((uint64_t)i << PW_PAGE_SHIFT), end;
		unsigned long n;
		int ret = 0;

		if (!vma || addr >= vma->vm_end) {
			vma = pw_vma_lookup(mm, addr);
			ret = vma ? vma_ok(vma, flags) : -EFAULT;
			if (ret)
				return i ? (long)i : ret;
		}
		end = start + ((uint64_t)nr << PW_PAGE_SHIFT);
		if (end > vma->vm_end)
			end = vma->vm_end;
		if (pw_vma_is_hugetlb(vma)) {
			long got = gup_hugetlb(mm, vma, addr, end, flags, frames + i);

			if (got < 0)
				return i ? (long)i : got;
			i += (unsigned long)got;
			continue;
		}
		n = gup_table(mm, addr, end, flags, frames + i);
		if (n) {
			i += n;
			continue;
		}
		ret = gup_one(mm, addr, flags, &frames[i]); /* faults as needed */
		if (ret)
			return i ? (long)i : ret;
		i++;
	}
	return (long)nr;
}

PW_API long pw_get_user_pages(struct pw_mm *mm, uint64_t start, unsigned long nr, unsigned gup_flags,
			      uint64_t *frames)
{
	int ret = pw_gup_check(mm, start, nr, gup_flags);
	long n;

	if (ret)
		return ret;
	if (!frames)
		return -EINVAL;
	if (!nr)
		return 0;
	pw_mmap_read_lock(mm);
	n = pw_gup_locked(mm, start, nr, gup_flags, frames);
	pw_mmap_read_unlock(mm);
	return n;
}

PW_API void pw_put_user_pages(struct pw_mm *mm, const uint64_t *frames, unsigned long nr, unsigned gup_flags)
{
	if (!mm || !mm->pt.arena || !frames)
		return;
	for (unsigned long i = 0; i < nr; i++)
		if (frames[i] && pw_frame_meta(mm->pt.arena, frames[i]))
			pw_gup_ungrab(mm->pt.arena, frames[i], gup_flags & PW_FOLL_PIN);
}
