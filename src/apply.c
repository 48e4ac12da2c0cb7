// SPDX-License-Identifier: MIT
/*
 * apply.c - pw_apply_to_page_range() and pw_apply_to_existing_page_range().
 *
 * One recursive body for every level. The range is first walked without
 * calling anything to find leaves above the PTE level (an error), so that
 * bad input calls nothing; then it is walked again to allocate (when
 * creating) and call the function, each PTE table's run under its lock.
 */
#include <pagewalk/apply.h>

#include "internal.h"

struct apply {
	struct pw_mm *mm;
	pw_pte_fn_t fn;
	void *data;
	bool create;
	bool check;	/* first pass: look for upper-level leaves only */
};

static int apply_ptes(struct apply *ap, uint64_t pfn, uint64_t addr, uint64_t end)
{
	uint64_t *e = pw_table(ap->mm, pfn) + pw_index(PW_LEVEL_PTE, addr);
	int err = 0;

	if (ap->check || !ap->fn)
		return 0;
	pw_pte_lock(ap->mm, pfn);
	do {
		if (ap->create || !pw_entry_none(pw_entry_read(e))) {
			err = ap->fn((pw_pte_t *)e, addr, ap->data);
			if (err)
				break;
		}
	} while (e++, addr += PW_PAGE_SIZE, addr != end);
	pw_pte_unlock(ap->mm, pfn);
	return err;
}

/* Install a new empty table at *@e if it is still none. */
static int alloc_table(struct pw_mm *mm, uint64_t *e)
{
	uint64_t pfn;
	int ret = pw_frame_alloc(mm->arena, 0, &pfn);

	if (ret)
		return ret;
	pw_frame_meta(mm->arena, pfn)->flags |= PW_FRAME_PGTABLE;
	pw_spin_lock(&mm->page_table_lock);
	if (pw_entry_none(pw_entry_read(e))) {
		pw_entry_write(e, pw_mk_table(pfn, PW_TABLE_FLAGS));
		__atomic_fetch_add(&mm->nr_pgtables, 1, __ATOMIC_RELAXED);
		pfn = 0;
	}
	pw_spin_unlock(&mm->page_table_lock);
	if (pfn)
		pw_frame_free(mm->arena, pfn, 0); /* someone else installed one */
	return 0;
}

static int apply_level(struct apply *ap, int level, uint64_t pfn, uint64_t addr, uint64_t end)
{
	uint64_t *t = pw_table(ap->mm, pfn), next;
	int err = 0;

	if (level == PW_LEVEL_PTE)
		return apply_ptes(ap, pfn, addr, end);
	do {
		uint64_t *e = t + pw_index(level, addr), v;

		next = pw_addr_end(level, addr, end);
		v = pw_entry_read(e);
		if (pw_entry_none(v)) {
			if (!ap->create || ap->check)
				continue;
			err = alloc_table(ap->mm, e);
			if (err)
				return err;
			v = pw_entry_read(e);
		}
		/* A leaf, a PROT_NONE leaf or a malformed entry: never walked into. */
		if (!pw_entry_table(level, v) || pw_entry_rsvd(&ap->mm->cfg, level, v))
			return -EINVAL;
		err = apply_level(ap, level - 1, pw_table_pfn(ap->mm, v), addr, next);
		if (err)
			return err;
	} while (addr = next, addr != end);
	return 0;
}

static int apply_range(struct pw_mm *mm, uint64_t addr, uint64_t size, pw_pte_fn_t fn, void *data,
		       bool create)
{
	struct apply ap = { .mm = mm, .fn = fn, .data = data, .create = create, .check = true };
	uint64_t end = addr + size;
	int levels, root, err;

	if (!mm || !mm->arena || !size || ((addr | size) & ~PW_PAGE_MASK))
		return -EINVAL;
	levels = mm->cfg.levels;
	if ((end != 0 && end < addr) || !pw_canonical(levels, addr) || !pw_canonical(levels, end - 1) ||
	    (addr < pw_low_half_end(levels)) != (end - 1 < pw_low_half_end(levels)))
		return -EINVAL;
	pw_assert_mmap_locked(mm);
	root = pw_root_level(levels);
	err = apply_level(&ap, root, mm->root_pfn, addr, end);
	if (err)
		return err;
	ap.check = false;
	return apply_level(&ap, root, mm->root_pfn, addr, end);
}

PW_API int pw_apply_to_page_range(struct pw_mm *mm, uint64_t addr, uint64_t size, pw_pte_fn_t fn,
				  void *data)
{
	return apply_range(mm, addr, size, fn, data, true);
}

PW_API int pw_apply_to_existing_page_range(struct pw_mm *mm, uint64_t addr, uint64_t size,
					   pw_pte_fn_t fn, void *data)
{
	if (!fn)
		return -EINVAL;
	return apply_range(mm, addr, size, fn, data, false);
}
