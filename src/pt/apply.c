// SPDX-License-Identifier: MIT
/*
 * apply.c - pw_apply_to_page_range() and pw_apply_to_existing_page_range().
 *
 * One recursion for every level, over the page-table layer (pt/pt.h). Its
 * policy: the range is first walked without calling anything to find
 * entries above the PTE level that are not tables (leaves, PROT_NONE,
 * malformed: an error), so that bad input calls nothing; then it is walked
 * again to make missing tables (when creating) and call the function, each
 * PTE table's run under its lock, with no other indirect call per PTE.
 */
#include <pagewalk/apply.h>

#include "mm/mm.h"

struct apply {
	struct pw_mm *mm;
	pw_pte_fn_t fn;
	void *data;
	bool create;
	bool check;	/* first pass: look for upper-level leaves only */
};

static int apply_ptes(struct apply *ap, uint64_t table, uint64_t addr, uint64_t end)
{
	struct pw_pt *pt = &ap->mm->pt;
	uint64_t *e = pw_pt_table(pt, table) + pw_index(PW_LEVEL_PTE, addr);
	int err = 0;

	if (ap->check || !ap->fn)
		return 0;
	pw_pt_pte_lock(pt, table);
	do {
		if (ap->create || !pw_entry_none(pw_entry_read(e))) {
			err = ap->fn((pw_pte_t *)e, addr, ap->data);
			if (err)
				break;
		}
	} while (e++, addr += PW_PAGE_SIZE, addr != end);
	pw_pt_pte_unlock(pt, table);
	return err;
}

static int apply_level(struct apply *ap, enum pw_level level, uint64_t table, uint64_t addr,
		       uint64_t end)
{
	struct pw_pt *pt = &ap->mm->pt;
	uint64_t next, *t;
	int err = 0;

	if (level == PW_LEVEL_PTE)
		return apply_ptes(ap, table, addr, end);
	t = pw_pt_table(pt, table);
	pw_pt_for_each_span(level, addr, next, end) {
		struct pw_pt_entry e = pw_pt_entry_at(t, table, level, addr);

		if (pw_entry_none(e.val)) {
			if (!ap->create || ap->check)
				continue;
			err = pw_pt_ensure_table(pt, &e);
			if (err)
				return err;
		}
		/* A leaf, a PROT_NONE leaf or a malformed entry: never walked into. */
		if (pw_pt_entry_kind(pt, &e) != PW_PT_TABLE)
			return -EINVAL;
		err = apply_level(ap, level - 1, pw_pt_next_pfn(pt, e.val), addr, next);
		if (err)
			return err;
	}
	return 0;
}

static int apply_range(struct pw_mm *mm, uint64_t addr, uint64_t size, pw_pte_fn_t fn, void *data,
		       bool create)
{
	struct apply ap = { .mm = mm, .fn = fn, .data = data, .create = create, .check = true };
	uint64_t end = addr + size;
	int levels, err;
	enum pw_level root;

	if (!mm || !mm->pt.arena || !size || ((addr | size) & ~PW_PAGE_MASK))
		return -EINVAL;
	levels = mm->pt.cfg.levels;
	if ((end != 0 && end < addr) || !pw_canonical(levels, addr) || !pw_canonical(levels, end - 1) ||
	    (addr < pw_low_half_end(levels)) != (end - 1 < pw_low_half_end(levels)))
		return -EINVAL;
	pw_assert_mmap_locked(mm);
	root = (enum pw_level)pw_root_level(levels);
	err = apply_level(&ap, root, mm->pt.root_pfn, addr, end);
	if (err)
		return err;
	ap.check = false;
	return apply_level(&ap, root, mm->pt.root_pfn, addr, end);
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
