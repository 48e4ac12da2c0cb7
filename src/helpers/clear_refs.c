// SPDX-License-Identifier: MIT
/*
 * clear_refs.c - /proc/PID/clear_refs (pagewalk/pagemap.h), after the
 * kernel's clear_refs_write(): soft-dirty reset (clear the bit and
 * write-protect, so that the next write faults and sets it again) and
 * Accessed-bit clearing, a client of the callback walker.
 *
 * The mmap lock is held for write throughout, so no fault changes the
 * tables meanwhile; entries still change with atomic read-modify-writes,
 * because a vCPU running on these tables (pagewalk/kvm.h) sets Accessed and
 * Dirty in them as hardware does. Changed ranges are gathered and flushed
 * once, inside one notifier range over the whole address space.
 */
#include <pagewalk/kvm.h>
#include <pagewalk/pagemap.h>
#include <pagewalk/pagewalk.h>

#include "core/core.h"
#include "helpers/pagemap_leaf.h"
#include "mm/notifier.h"
#include "mm/softdirty.h"
#include "mm/tlb.h"

struct clear_refs {
	int type;
	struct pw_mmu_gather tlb;
};

/* Clear @bits of a mapped leaf (and RW for soft-dirty); true if it changed. */
static inline bool clear_leaf(uint64_t *e, uint64_t bits)
{
	uint64_t v = __atomic_load_n(e, __ATOMIC_RELAXED);

	if (!pm_leaf_mapped(v) || !(v & bits))
		return false;
	__atomic_fetch_and(e, ~bits, __ATOMIC_ACQ_REL);
	return true;
}

static inline uint64_t bits_of(const struct clear_refs *c)
{
	return c->type == PW_CLEAR_REFS_SOFT_DIRTY ? (PW_SW_SOFTDIRTY | PW_RW) : PW_A;
}

static int cr_pte_run(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct clear_refs *c = walk->private;
	uint64_t bits = bits_of(c);

	for (; addr != next; addr += PW_PAGE_SIZE, pte++)
		if (clear_leaf(&pte->val, bits))
			pw_tlb_gather_add(&c->tlb, addr, PW_PAGE_SIZE);
	return 0;
}

static int cr_huge(uint64_t *e, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct clear_refs *c = walk->private;
	uint64_t v = __atomic_load_n(e, __ATOMIC_RELAXED);

	if (!pm_huge_leaf(v))
		return 0;
	/* the whole leaf, also when the walk covers part of it (as the kernel's) */
	if (clear_leaf(e, bits_of(c)))
		pw_tlb_gather_add(&c->tlb, addr, next - addr);
	walk->action = PW_ACTION_CONTINUE;
	return 0;
}

static int cr_pmd_entry(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return cr_huge(&pmd->val, addr, next, walk);
}

static int cr_pud_entry(pw_pud_t *pud, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return cr_huge(&pud->val, addr, next, walk);
}

static int cr_test_walk(uint64_t start, uint64_t end, struct pw_mm_walk *walk)
{
	const struct clear_refs *c = walk->private;
	const struct pw_vma *vma = walk->vma;

	if (vma->vm_flags & PW_VM_PFNMAP)
		return 1;
	/* The KVM agent's own pages (pagewalk/kvm.h): its stacks must stay
	 * writable, or its next exception triple-faults the vCPU. */
	if (vma->vm_start >= PW_KVM_AREA_START && vma->vm_end <= PW_KVM_AREA_END)
		return 1;
	if (c->type == PW_CLEAR_REFS_ANON && vma->vm_file)
		return 1;
	if (c->type == PW_CLEAR_REFS_MAPPED && !vma->vm_file)
		return 1;
	return 0;
}

static const struct pw_walk_ops clear_refs_ops = {
	.pte_run = cr_pte_run,
	.pmd_entry = cr_pmd_entry,
	.pud_entry = cr_pud_entry,
	.test_walk = cr_test_walk,
	.walk_lock = PW_WALK_WRLOCK,
};

PW_API int pw_clear_refs(struct pw_mm *mm, int type)
{
	struct clear_refs c = { .type = type };
	struct pw_mmu_notifier_range range;
	uint64_t top;
	struct pw_vma *vma;
	int ret;

	if (!mm || !pw_mm_arena(mm))
		return -EINVAL;
	if (type < PW_CLEAR_REFS_ALL || type > PW_CLEAR_REFS_SOFT_DIRTY)
		return -EINVAL;
	top = pw_low_half_end(pw_mm_paging(mm)->levels);
	pw_mmap_write_lock(mm);
	if (type == PW_CLEAR_REFS_SOFT_DIRTY)
		pw_for_each_vma(mm, vma)
			pw_vma_clear_softdirty(vma);
	pw_tlb_gather_init(&c.tlb, mm);
	pw_mmu_notifier_range_init(&range,
				   type == PW_CLEAR_REFS_SOFT_DIRTY ? PW_MMU_NOTIFY_SOFT_DIRTY
								    : PW_MMU_NOTIFY_CLEAR,
				   mm, 0, top);
	pw_mmu_notifier_invalidate_range_start(&range);
	ret = pw_walk_page_range(mm, 0, top, &clear_refs_ops, &c);
	pw_tlb_gather_flush(&c.tlb);
	pw_mmu_notifier_invalidate_range_end(&range);
	pw_mmap_write_unlock(mm);
	PW_BUG_ON(ret); /* the callbacks never fail */
	return ret;
}
