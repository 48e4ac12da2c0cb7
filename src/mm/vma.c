// SPDX-License-Identifier: MIT
/*
 * vma.c - the ordered set of VMAs of an address space.
 *
 * A sorted array of VMA pointers: lookup is a binary search, iteration is
 * in order, insertion and removal move pointers. VMAs themselves never move,
 * so a struct pw_vma pointer stays valid until its VMA is unmapped or
 * merged away (both under the mmap write lock).
 */
#include <string.h>

#include "mm/mm.h"
#include "mm/rmap.h"

size_t pw_vma_index(const struct pw_mm *mm, uint64_t addr)
{
	size_t lo = 0, hi = mm->nr_vmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mm->vmas[mid]->vm_end > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

PW_API struct pw_vma *pw_find_vma(struct pw_mm *mm, uint64_t addr)
{
	size_t i;

	pw_assert_mmap_locked(mm);
	i = pw_vma_index(mm, addr);
	return i < mm->nr_vmas ? mm->vmas[i] : NULL;
}

PW_API struct pw_vma *pw_vma_lookup(struct pw_mm *mm, uint64_t addr)
{
	struct pw_vma *vma = pw_find_vma(mm, addr);

	return vma && vma->vm_start <= addr ? vma : NULL;
}

PW_API struct pw_vma *pw_vma_next(struct pw_mm *mm, const struct pw_vma *vma)
{
	size_t i;

	pw_assert_mmap_locked(mm);
	i = pw_vma_index(mm, vma->vm_start);
	return i + 1 < mm->nr_vmas ? mm->vmas[i + 1] : NULL;
}

static int reserve(struct pw_mm *mm, size_t extra)
{
	size_t cap;
	struct pw_vma **v;

	if (mm->nr_vmas + extra <= mm->cap_vmas)
		return 0;
	cap = mm->cap_vmas ? mm->cap_vmas * 2 : 16;
	while (cap < mm->nr_vmas + extra)
		cap *= 2;
	v = realloc(mm->vmas, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	mm->vmas = v;
	mm->cap_vmas = cap;
	return 0;
}

int pw_vma_insert(struct pw_mm *mm, struct pw_vma *vma)
{
	size_t i;

	if (reserve(mm, 1))
		return -ENOMEM;
	i = pw_vma_index(mm, vma->vm_start);
	PW_BUG_ON(i < mm->nr_vmas && mm->vmas[i]->vm_start < vma->vm_end);
	memmove(&mm->vmas[i + 1], &mm->vmas[i], (mm->nr_vmas - i) * sizeof(*mm->vmas));
	mm->vmas[i] = vma;
	mm->nr_vmas++;
	return 0;
}

void pw_vma_remove_at(struct pw_mm *mm, size_t i)
{
	memmove(&mm->vmas[i], &mm->vmas[i + 1], (mm->nr_vmas - i - 1) * sizeof(*mm->vmas));
	mm->nr_vmas--;
}

int pw_vma_split(struct pw_mm *mm, size_t i, uint64_t addr)
{
	struct pw_vma *old = mm->vmas[i], *new;

	PW_BUG_ON(addr <= old->vm_start || addr >= old->vm_end);
	if (reserve(mm, 1))
		return -ENOMEM;
	new = malloc(sizeof(*new));
	if (!new)
		return -ENOMEM;
	*new = *old;
	if (pw_hugetlb_vma_lock_alloc(new)) { /* each half has its own VMA lock */
		free(new);
		return -ENOMEM;
	}
	new->vm_start = addr;
	new->vm_pgoff = old->vm_pgoff + ((addr - old->vm_start) >> PW_PAGE_SHIFT);
	if (old->vm_file) {
		/* Mapping walks see the old VMA or both halves, never a gap. */
		pw_i_mmap_lock_write(old->vm_file);
		pw_file_vma_unlink_locked(old); /* its interval shrinks: re-link it */
		pw_anon_vma_split(old, new, addr); /* COW copies of a private file mapping */
		pw_file_vma_link_locked(old);
		pw_file_vma_link_locked(new);
		pw_i_mmap_unlock_write(old->vm_file);
	} else {
		pw_anon_vma_split(old, new, addr);
	}
	memmove(&mm->vmas[i + 2], &mm->vmas[i + 1], (mm->nr_vmas - i - 1) * sizeof(*mm->vmas));
	mm->vmas[i + 1] = new;
	mm->nr_vmas++;
	return 0;
}

bool pw_vma_can_merge(const struct pw_vma *a, const struct pw_vma *b)
{
	/* VM_SOFTDIRTY does not keep VMAs apart (the kernel's VM_IGNORE_MERGE) */
	return a->vm_end == b->vm_start &&
	       ((a->vm_flags ^ b->vm_flags) & ~(uint32_t)PW_VM_SOFTDIRTY) == 0 &&
	       !a->vm_file && !b->vm_file && /* file VMAs never merge */
	       pw_anon_vma_compatible(a, b) &&
	       a->vm_private_data == b->vm_private_data &&
	       a->vm_pgoff + ((a->vm_end - a->vm_start) >> PW_PAGE_SHIFT) == b->vm_pgoff;
}

/* Merge the VMA containing/after @addr with its neighbours where possible. */
void pw_vma_merge_around(struct pw_mm *mm, uint64_t addr)
{
	size_t i = pw_vma_index(mm, addr);

	if (i >= mm->nr_vmas)
		return;
	if (i + 1 < mm->nr_vmas && pw_vma_can_merge(mm->vmas[i], mm->vmas[i + 1])) {
		mm->vmas[i]->vm_flags |= mm->vmas[i + 1]->vm_flags & PW_VM_SOFTDIRTY;
		pw_anon_vma_merge(mm->vmas[i], mm->vmas[i + 1], mm->vmas[i]->vm_start,
				  mm->vmas[i + 1]->vm_end);
		pw_vma_free(mm->vmas[i + 1]);
		pw_vma_remove_at(mm, i + 1);
	}
	if (i > 0 && pw_vma_can_merge(mm->vmas[i - 1], mm->vmas[i])) {
		mm->vmas[i - 1]->vm_flags |= mm->vmas[i]->vm_flags & PW_VM_SOFTDIRTY;
		pw_anon_vma_merge(mm->vmas[i - 1], mm->vmas[i], mm->vmas[i - 1]->vm_start,
				  mm->vmas[i]->vm_end);
		pw_vma_free(mm->vmas[i]);
		pw_vma_remove_at(mm, i);
	}
}

/* The flags of a leaf mapping a page of @vma; @write: for a write fault. */
uint64_t pw_vma_leaf_flags(const struct pw_mm *mm, const struct pw_vma *vma, bool write)
{
	uint32_t f = vma->vm_flags;
	uint64_t v;

	if (!(f & (PW_VM_READ | PW_VM_WRITE | PW_VM_EXEC)))
		return PW_SW_PROTNONE; /* P clear: PROT_NONE keeps its frame */
	v = PW_P | PW_A;
	if (!(f & PW_VM_SUPERVISOR))
		v |= PW_US;
	if ((f & PW_VM_WRITE) && write)
		v |= PW_RW | PW_D | PW_SW_SOFTDIRTY; /* x86 pte_mkdirty() sets both */
	if (!(f & PW_VM_EXEC) && mm->pt.cfg.nxe)
		v |= PW_NX;
	return v;
}

/*
 * The PTE a device-exclusive entry @v of @vma stood for: the same frame,
 * the VMA's protection, write permission if the replaced PTE had it (and
 * the VMA still allows it), Accessed, Dirty and soft-dirty as they were.
 */
uint64_t pw_devx_restore_value(const struct pw_mm *mm, const struct pw_vma *vma, uint64_t v)
{
	uint64_t f = pw_vma_leaf_flags(mm, vma, false);

	if (f & PW_P) {
		f &= ~PW_A;
		if (v & PW_SWP_YOUNG)
			f |= PW_A;
		if ((v & PW_SWP_WRITE) && (vma->vm_flags & PW_VM_WRITE))
			f |= PW_RW;
	}
	if (v & PW_SWP_DIRTY)
		f |= PW_D;
	if (v & PW_SWP_SOFTDIRTY)
		f |= PW_SW_SOFTDIRTY;
	return pw_mk_leaf(PW_LEVEL_PTE, pw_swp_offset(v), f);
}

/* ---- hugetlb VMA locks (mm/hugetlb.c uses them) ---- */

int pw_hugetlb_vma_lock_alloc(struct pw_vma *vma)
{
	struct pw_rwsem *l;

	vma->_hugetlb_lock = NULL;
	if (!pw_vma_is_hugetlb(vma) || !(vma->vm_flags & PW_VM_MAYSHARE))
		return 0;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	pw_rwsem_init_class(l, PW_LC_HUGETLB_VMA);
	vma->_hugetlb_lock = l;
	return 0;
}

void pw_vma_free(struct pw_vma *vma)
{
	struct pw_rwsem *l = vma ? (struct pw_rwsem *)vma->_hugetlb_lock : NULL;

	if (l) {
		pw_rwsem_destroy(l);
		free(l);
	}
	free(vma);
}

