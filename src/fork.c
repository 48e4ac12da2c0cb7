// SPDX-License-Identifier: MIT
/*
 * fork.c - pw_mm_fork(): duplicate an address space with copy-on-write.
 *
 * VMAs are copied first, then the tables of each VMA that needs its
 * entries copied, by one recursive body for every level. A huge leaf is
 * split in the parent before it is shared (see pw_mm_fork() in mm.h). The
 * child's tables are allocated as they are needed; a table that serves two
 * VMAs is found again, not allocated twice.
 */
#include "internal.h"

struct fork_ctx {
	struct pw_mm *parent, *child;
	bool cow;		  /* private: write-protect both sides */
	struct pw_mmu_gather tlb; /* parent entries made read-only */
};

static int copy_level(struct fork_ctx *c, int level, uint64_t ppfn, uint64_t cpfn, uint64_t addr,
		      uint64_t end)
{
	struct pw_mm *p = c->parent, *ch = c->child;
	uint64_t *pt = pw_table(p, ppfn), *ct = pw_table(ch, cpfn), next;
	int ret = 0;

	do {
		uint64_t *pe = pt + pw_index(level, addr), *ce = ct + pw_index(level, addr);
		uint64_t v;

		next = pw_addr_end(level, addr, end);
again:
		v = pw_entry_read(pe);
		if (pw_entry_none(v))
			continue;
		if (level > PW_LEVEL_PTE && pw_mm_is_leaf(level, v)) {
			ret = pw_split_huge(p, pe, level);
			if (ret)
				return ret;
			goto again;
		}
		if (level == PW_LEVEL_PTE) {
			/* present or PROT_NONE: the frame field is valid either way */
			uint64_t pfn = (v & pw_frame_field_mask(p->cfg.maxphyaddr)) >> PW_PAGE_SHIFT;
			struct pw_frame *f = pw_frame_meta(p->arena, pfn);

			if (f && !(__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & PW_FRAME_RESERVED)) {
				pw_frame_get(p->arena, pfn);
				__atomic_fetch_add(&f->mapcount, 1, __ATOMIC_RELAXED);
			}
			if (c->cow && (v & PW_RW)) {
				v = __atomic_and_fetch(pe, ~(uint64_t)PW_RW, __ATOMIC_ACQ_REL);
				pw_tlb_gather_add(&c->tlb, addr, PW_PAGE_SIZE);
			}
			pw_entry_write(ce, v);
			__atomic_fetch_add(&ch->rss, 1, __ATOMIC_RELAXED);
			continue;
		}
		/* A table: find or make the child's. */
		uint64_t cv = pw_entry_read(ce), ntab;

		if (pw_entry_none(cv)) {
			ret = pw_frame_alloc(ch->arena, 0, &ntab);
			if (ret)
				return ret;
			pw_frame_meta(ch->arena, ntab)->flags |= PW_FRAME_PGTABLE;
			__atomic_fetch_add(&ch->nr_pgtables, 1, __ATOMIC_RELAXED);
			pw_entry_write(ce, pw_mk_table(ntab, PW_TABLE_FLAGS));
		} else {
			ntab = pw_table_pfn(ch, cv);
		}
		if (level - 1 == PW_LEVEL_PTE)
			pw_pte_lock(p, pw_table_pfn(p, v));
		ret = copy_level(c, level - 1, pw_table_pfn(p, v), ntab, addr, next);
		if (level - 1 == PW_LEVEL_PTE)
			pw_pte_unlock(p, pw_table_pfn(p, v));
		if (ret)
			return ret;
	} while (addr = next, addr != end);
	return 0;
}

static int dup_vmas(struct pw_mm *parent, struct pw_mm *child)
{
	for (size_t i = 0; i < parent->nr_vmas; i++) {
		struct pw_vma *nv = malloc(sizeof(*nv));
		int ret;

		if (!nv)
			return -ENOMEM;
		*nv = *parent->vmas[i];
		nv->vm_mm = child;
		nv->_it_left = nv->_it_right = NULL;
		ret = pw_vma_insert(child, nv);
		if (ret) {
			free(nv);
			return ret;
		}
		if (nv->vm_file) {
			pw_i_mmap_lock_write(nv->vm_file);
			pw_file_vma_link_locked(nv);
			pw_i_mmap_unlock_write(nv->vm_file);
		}
	}
	return 0;
}

PW_API int pw_mm_fork(struct pw_mm *parent, struct pw_mm **out)
{
	struct fork_ctx c = { .parent = parent };
	int ret;

	if (!parent || !parent->arena || !out)
		return -EINVAL;
	ret = pw_mm_create(parent->arena, &parent->cfg, &c.child);
	if (ret)
		return ret;
	pw_mmap_write_lock(parent);
	pw_mmap_write_lock(c.child);
	ret = dup_vmas(parent, c.child);
	for (size_t i = 0; !ret && i < parent->nr_vmas; i++) {
		struct pw_vma *vma = parent->vmas[i];
		struct pw_mmu_notifier_range r;

		if (vma->vm_file && (vma->vm_flags & PW_VM_SHARED))
			continue; /* the child refaults from the page cache */
		c.cow = !(vma->vm_flags & PW_VM_SHARED);
		pw_tlb_gather_init(&c.tlb, parent);
		if (c.cow) {
			pw_mmu_notifier_range_init(&r, PW_MMU_NOTIFY_PROTECTION_PAGE, parent, vma->vm_start,
						   vma->vm_end);
			pw_mmu_notifier_invalidate_range_start(&r);
		}
		ret = copy_level(&c, pw_root_level(parent->cfg.levels), parent->root_pfn,
				 c.child->root_pfn, vma->vm_start, vma->vm_end);
		pw_tlb_gather_flush(&c.tlb);
		if (c.cow)
			pw_mmu_notifier_invalidate_range_end(&r);
	}
	pw_mmap_write_unlock(c.child);
	pw_mmap_write_unlock(parent);
	if (ret) {
		pw_mm_destroy(c.child);
		return ret;
	}
	*out = c.child;
	return 0;
}
