// SPDX-License-Identifier: MIT
/*
 * mm.c - the address space: creation, locks, pw_mmap(), pw_munmap(),
 * pw_mprotect().
 */
#include <string.h>

#include "mm/mm.h"
#include "mm/rmap.h"

static int check_paging(const struct pw_paging *cfg)
{
	if (cfg->levels != 4 && cfg->levels != 5)
		return -EINVAL;
	if (cfg->maxphyaddr < 36 || cfg->maxphyaddr > 52)
		return -EINVAL;
	return 0;
}

static struct pw_mm *mm_alloc(const struct pw_paging *cfg)
{
	struct pw_mm *mm = calloc(1, sizeof(*mm));

	if (!mm)
		return NULL;
	mm->pt.cfg = *cfg;
	pw_rwsem_init_class(&mm->mmap_lock, PW_LC_MMAP);
	pw_tlb_mm_init(mm);
	pw_mmu_notifier_mm_init(mm);
	return mm;
}

PW_API int pw_mm_create(struct pw_arena *arena, const struct pw_paging *cfg, struct pw_mm **out)
{
	struct pw_paging c = cfg ? *cfg : PW_PAGING_DEFAULT;
	struct pw_mm *mm;
	int ret;

	if (!arena || !out || check_paging(&c))
		return -EINVAL;
	if (pw_arena_nr_frames(arena) > (1ULL << (c.maxphyaddr - PW_PAGE_SHIFT)))
		return -EINVAL;
	mm = mm_alloc(&c);
	if (!mm)
		return -ENOMEM;
	mm->pt.arena = arena;
	mm->pt.phys = pw_arena_phys(arena);
	ret = pw_pt_table_alloc(&mm->pt, &mm->pt.root_pfn);
	if (ret) {
		pw_mmu_notifier_mm_destroy(mm);
		pw_tlb_mm_destroy(mm);
		pw_rwsem_destroy(&mm->mmap_lock);
		free(mm);
		return ret;
	}
	mm->pt.nr_tables = 1;
	*out = mm;
	return 0;
}

PW_API int pw_mm_create_foreign(const struct pw_phys *phys, const struct pw_paging *cfg,
				uint64_t root_pfn, struct pw_mm **out)
{
	struct pw_mm *mm;

	if (!phys || !cfg || !out || check_paging(cfg))
		return -EINVAL;
	mm = mm_alloc(cfg);
	if (!mm)
		return -ENOMEM;
	mm->pt.phys = phys;
	mm->pt.root_pfn = root_pfn;
	*out = mm;
	return 0;
}

PW_API void pw_mm_destroy(struct pw_mm *mm)
{
	if (!mm)
		return;
	pw_mmu_notifier_release(mm);
	if (mm->pt.arena) {
		pw_mmap_write_lock(mm);
		for (size_t i = 0; i < mm->nr_vmas; i++) /* shared PMD tables stay with the others */
			pw_hugetlb_unshare_range(mm, mm->vmas[i], mm->vmas[i]->vm_start, mm->vmas[i]->vm_end);
		for (size_t i = 0; i < mm->nr_vmas; i++) {
			pw_vma_unlink_file(mm->vmas[i]);
			pw_anon_vma_unlink(mm->vmas[i]);
		}
		for (int half = 0; half < 2; half++) {
			uint64_t s = half ? pw_high_half_start(mm->pt.cfg.levels) : 0;
			uint64_t e = half ? 0 : pw_low_half_end(mm->pt.cfg.levels);

			pw_zap_range(mm, s, e);
		}
		for (size_t i = 0; i < mm->nr_vmas; i++) {
			pw_anon_vma_release(mm->vmas[i]);
			pw_vma_free(mm->vmas[i]);
		}
		pw_mmap_write_unlock(mm);
		pw_pt_table_free(&mm->pt, mm->pt.root_pfn);
	}
	free(mm->vmas);
	pw_mmu_notifier_mm_destroy(mm);
	pw_tlb_mm_destroy(mm);
	pw_rwsem_destroy(&mm->mmap_lock);
	free(mm);
}

PW_API uint64_t pw_mm_root(const struct pw_mm *mm)
{
	return mm->pt.root_pfn;
}

PW_API const struct pw_paging *pw_mm_paging(const struct pw_mm *mm)
{
	return &mm->pt.cfg;
}

PW_API const struct pw_phys *pw_mm_phys(const struct pw_mm *mm)
{
	return mm->pt.phys;
}

PW_API struct pw_arena *pw_mm_arena(const struct pw_mm *mm)
{
	return mm->pt.arena;
}

PW_API void pw_mm_get_stats(struct pw_mm *mm, struct pw_mm_stats *st)
{
	pw_mmap_read_lock(mm);
	st->pgtables = __atomic_load_n(&mm->pt.nr_tables, __ATOMIC_RELAXED);
	st->rss = __atomic_load_n(&mm->rss, __ATOMIC_RELAXED);
	st->nr_vmas = mm->nr_vmas;
	st->mapped = 0;
	for (size_t i = 0; i < mm->nr_vmas; i++)
		st->mapped += mm->vmas[i]->vm_end - mm->vmas[i]->vm_start;
	pw_mmap_read_unlock(mm);
}

/* A user mapping lives in the lower canonical half, above page 0. */
int pw_check_range(const struct pw_mm *mm, uint64_t start, uint64_t end)
{
	if ((start | end) & ~PW_PAGE_MASK)
		return -EINVAL;
	if (start >= end)
		return -EINVAL;
	if (end > pw_low_half_end(mm->pt.cfg.levels))
		return -EINVAL;
	return 0;
}

static bool range_free(struct pw_mm *mm, uint64_t start, uint64_t end)
{
	size_t i = pw_vma_index(mm, start);

	return i >= mm->nr_vmas || mm->vmas[i]->vm_start >= end;
}

/* First-fit search for @len bytes at or above @hint; 0 if none. */
static uint64_t find_gap(struct pw_mm *mm, uint64_t hint, uint64_t len, uint64_t align)
{
	uint64_t top = pw_low_half_end(mm->pt.cfg.levels);
	uint64_t addr = hint ? hint : PW_PMD_SIZE; /* leave the low 2 MiB unmapped */

	for (size_t i = pw_vma_index(mm, addr);; i++) {
		addr = (addr + align - 1) & ~(align - 1);
		if (addr >= top || top - addr < len)
			return 0;
		if (i >= mm->nr_vmas || mm->vmas[i]->vm_start >= addr + len)
			return addr;
		if (mm->vmas[i]->vm_end > addr)
			addr = mm->vmas[i]->vm_end;
	}
}

static uint32_t prot_to_vm(int prot)
{
	uint32_t f = 0;

	if (prot & PW_PROT_READ)
		f |= PW_VM_READ;
	if (prot & PW_PROT_WRITE)
		f |= PW_VM_WRITE | PW_VM_READ; /* x86 cannot map write-only */
	if (prot & PW_PROT_EXEC)
		f |= PW_VM_EXEC | PW_VM_READ;
	return f;
}

/* Split VMAs so that @addr is a VMA boundary (if a VMA spans it). */
static int split_at(struct pw_mm *mm, uint64_t addr)
{
	size_t i = pw_vma_index(mm, addr);

	if (i < mm->nr_vmas && mm->vmas[i]->vm_start < addr)
		return pw_vma_split(mm, i, addr);
	return 0;
}

/*
 * Hugetlb VMAs in [start, end): every cut inside one must be aligned to its
 * page size (-EINVAL); with @unshare, then unshare their PMD tables there.
 */
static int hugetlb_prepare(struct pw_mm *mm, uint64_t start, uint64_t end, bool unshare)
{
	for (size_t i = pw_vma_index(mm, start); i < mm->nr_vmas && mm->vmas[i]->vm_start < end; i++)
		if (!pw_hugetlb_range_aligned(mm->vmas[i], start, end))
			return -EINVAL;
	for (size_t i = pw_vma_index(mm, start);
	     unshare && i < mm->nr_vmas && mm->vmas[i]->vm_start < end; i++)
		pw_hugetlb_unshare_range(mm, mm->vmas[i], start, end);
	return 0;
}

/* Unmap [start, end) with the mmap write lock held. */
static int do_munmap(struct pw_mm *mm, uint64_t start, uint64_t end)
{
	size_t i;
	int ret;

	/* Everything that can fail comes first: splitting leaves and VMAs. */
	ret = hugetlb_prepare(mm, start, end, false);
	if (!ret)
		ret = pw_split_huge_edges(mm, start, end);
	if (!ret)
		ret = split_at(mm, start);
	if (!ret)
		ret = split_at(mm, end);
	if (ret)
		return ret;
	hugetlb_prepare(mm, start, end, true); /* shared PMD tables: unshare before the zap */
	/* Off the reverse maps first: no rmap walk reaches tables the zap frees. */
	for (i = pw_vma_index(mm, start); i < mm->nr_vmas && mm->vmas[i]->vm_start < end; i++) {
		pw_vma_unlink_file(mm->vmas[i]);
		pw_anon_vma_unlink(mm->vmas[i]);
	}
	pw_zap_range(mm, start, end);
	i = pw_vma_index(mm, start);
	while (i < mm->nr_vmas && mm->vmas[i]->vm_start < end) {
		pw_anon_vma_release(mm->vmas[i]); /* after the zap: mapped frames keep a live anon_vma */
		pw_vma_free(mm->vmas[i]);
		pw_vma_remove_at(mm, i);
	}
	return 0;
}

PW_API int pw_mm_populate(struct pw_mm *mm, uint64_t start, uint64_t end, bool write)
{
	int ret = 0;

	if (!mm || !mm->pt.arena || pw_check_range(mm, start, end))
		return -EINVAL;
	pw_mmap_read_lock(mm);
	for (uint64_t a = start; a < end;) {
		struct pw_translation t;
		struct pw_vma *vma = pw_vma_lookup(mm, a);
		unsigned fl = (write && vma && (vma->vm_flags & PW_VM_WRITE)) ? PW_FAULT_WRITE : 0;

		if (vma && !(vma->vm_flags & (PW_VM_READ | PW_VM_WRITE | PW_VM_EXEC))) {
			a = vma->vm_end; /* PROT_NONE: nothing to populate */
			continue;
		}
		ret = pw_handle_mm_fault(mm, a, fl);
		if (ret)
			break;
		ret = pw_translate(mm, a, &t);
		if (ret)
			break;
		a = (a & pw_level_mask(t.level)) + pw_level_size(t.level);
	}
	pw_mmap_read_unlock(mm);
	return ret;
}

static int mmap_region(struct pw_mm *mm, uint64_t addr, uint64_t len, int prot, unsigned flags,
		       struct pw_file *file, uint64_t pgoff, uint64_t *out)
{
	const unsigned known = PW_MAP_PRIVATE | PW_MAP_SHARED | PW_MAP_FIXED |
			       PW_MAP_FIXED_NOREPLACE | PW_MAP_HUGE_2M | PW_MAP_HUGE_1G |
			       PW_MAP_POPULATE | PW_MAP_SUPERVISOR | PW_MAP_HUGETLB;
	bool fixed = flags & (PW_MAP_FIXED | PW_MAP_FIXED_NOREPLACE);
	struct pw_vma *vma;
	uint64_t align = PW_PAGE_SIZE;
	int ret;

	if (!mm || !mm->pt.arena)
		return -EINVAL;
	if ((flags & ~known) || !(flags & (PW_MAP_PRIVATE | PW_MAP_SHARED)) ||
	    (flags & PW_MAP_PRIVATE && flags & PW_MAP_SHARED) ||
	    (prot & ~(PW_PROT_READ | PW_PROT_WRITE | PW_PROT_EXEC)))
		return -EINVAL;
	if (!len || (len & ~PW_PAGE_MASK) || (addr & ~PW_PAGE_MASK) || len > pw_low_half_end(mm->pt.cfg.levels))
		return -EINVAL;
	if (fixed && (ret = pw_check_range(mm, addr, addr + len)))
		return addr + len < addr ? -EINVAL : ret;
	if (flags & PW_MAP_HUGE_1G)
		align = PW_PUD_SIZE;
	else if (flags & PW_MAP_HUGE_2M)
		align = PW_PMD_SIZE;
	if (len < align)
		align = PW_PAGE_SIZE;
	if (file && file->hpage_order) {
		uint64_t hsz = PW_PAGE_SIZE << file->hpage_order;

		/* the kernel's hugetlbfs_file_mmap() and hugetlb_get_unmapped_area() */
		if ((len | addr | (pgoff << PW_PAGE_SHIFT)) & (hsz - 1))
			return -EINVAL;
		if (hsz == PW_PUD_SIZE && !mm->pt.cfg.pdpe1gb)
			return -EINVAL; /* no 1 GiB pages in this paging mode */
		if (pgoff > file->nr_pages || (len >> PW_PAGE_SHIFT) > file->nr_pages - pgoff)
			return -EINVAL; /* the file cannot grow here */
		align = len >= PW_PUD_SIZE ? PW_PUD_SIZE : hsz; /* room for PMD sharing */
		flags &= ~(PW_MAP_HUGE_2M | PW_MAP_HUGE_1G);
	}

	vma = calloc(1, sizeof(*vma));
	if (!vma)
		return -ENOMEM;
	pw_mmap_write_lock(mm);
	if (fixed) {
		if (!range_free(mm, addr, addr + len)) {
			if (flags & PW_MAP_FIXED_NOREPLACE) {
				ret = -EEXIST;
				goto fail;
			}
			ret = do_munmap(mm, addr, addr + len);
			if (ret)
				goto fail;
		}
	} else {
		uint64_t a = 0;

		if (addr && !pw_check_range(mm, addr, addr + len) && range_free(mm, addr, addr + len))
			a = addr;
		if (!a)
			a = find_gap(mm, addr, len, align);
		if (!a && addr)
			a = find_gap(mm, 0, len, align);
		if (!a) {
			ret = -ENOMEM;
			goto fail;
		}
		addr = a;
	}
	vma->vm_start = addr;
	vma->vm_end = addr + len;
	vma->vm_mm = mm;
	vma->vm_pgoff = file ? pgoff : addr >> PW_PAGE_SHIFT;
	vma->vm_file = file;
	vma->vm_flags = prot_to_vm(prot) | PW_VM_MAYREAD | PW_VM_MAYWRITE | PW_VM_MAYEXEC |
			PW_VM_SOFTDIRTY; /* a new mapping is soft-dirty, as in the kernel */
	if (flags & PW_MAP_SHARED)
		vma->vm_flags |= PW_VM_SHARED | PW_VM_MAYSHARE;
	if (flags & PW_MAP_HUGE_2M)
		vma->vm_flags |= PW_VM_HUGE_2M;
	if (flags & PW_MAP_HUGE_1G)
		vma->vm_flags |= PW_VM_HUGE_1G | PW_VM_HUGE_2M;
	if (flags & PW_MAP_SUPERVISOR)
		vma->vm_flags |= PW_VM_SUPERVISOR;
	if (file && file->hpage_order)
		vma->vm_flags |= PW_VM_HUGETLB;
	ret = pw_hugetlb_vma_lock_alloc(vma);
	if (!ret)
		ret = pw_vma_insert(mm, vma);
	if (ret)
		goto fail;
	if (file) {
		pw_i_mmap_lock_write(file);
		pw_file_vma_link_locked(vma);
		pw_i_mmap_unlock_write(file);
	}
	/*
	 * With POPULATE, merge only once populated: a huge leaf faulted into a
	 * merged VMA could reach into the neighbour, and removing the mapping
	 * after a failure would then leave pages behind there (or need a split).
	 */
	if (!(flags & PW_MAP_POPULATE))
		pw_vma_merge_around(mm, addr);
	pw_mmap_write_unlock(mm);

	if (flags & PW_MAP_POPULATE) {
		ret = pw_mm_populate(mm, addr, addr + len, prot & PW_PROT_WRITE);
		pw_mmap_write_lock(mm);
		if (ret)
			do_munmap(mm, addr, addr + len); /* leaves stay inside: no split, cannot fail */
		else
			pw_vma_merge_around(mm, addr);
		pw_mmap_write_unlock(mm);
		if (ret)
			return ret;
	}
	if (out)
		*out = addr;
	return 0;
fail:
	pw_mmap_write_unlock(mm);
	pw_vma_free(vma);
	return ret;
}

PW_API int pw_mmap(struct pw_mm *mm, uint64_t addr, uint64_t len, int prot, unsigned flags,
		   uint64_t *out)
{
	return mmap_region(mm, addr, len, prot, flags, NULL, 0, out);
}

PW_API int pw_mmap_file(struct pw_mm *mm, uint64_t addr, uint64_t len, int prot, unsigned flags,
			struct pw_file *file, uint64_t pgoff, uint64_t *out)
{
	uint64_t hsz = pw_file_huge_page_size(file);

	if (!file)
		return -EINVAL;
	/* PW_MAP_HUGETLB and a page size fit a hugetlb file only, and its own size */
	if (!hsz && (flags & (PW_MAP_HUGE_2M | PW_MAP_HUGE_1G | PW_MAP_HUGETLB)))
		return -EINVAL;
	if (((flags & PW_MAP_HUGE_2M) && hsz != PW_PMD_SIZE) ||
	    ((flags & PW_MAP_HUGE_1G) && hsz != PW_PUD_SIZE))
		return -EINVAL;
	if (pgoff + (len >> PW_PAGE_SHIFT) < pgoff || pgoff > (1ULL << 52))
		return -EINVAL;
	if (mm && mm->pt.arena && mm->pt.arena != file->arena)
		return -EINVAL;
	return mmap_region(mm, addr, len, prot, flags, file, pgoff, out);
}

PW_API int pw_munmap(struct pw_mm *mm, uint64_t addr, uint64_t len)
{
	int ret;

	if (!mm || !mm->pt.arena || !len || addr + len < addr)
		return -EINVAL;
	len = (len + PW_PAGE_SIZE - 1) & PW_PAGE_MASK;
	ret = pw_check_range(mm, addr, addr + len);
	if (ret)
		return ret;
	pw_mmap_write_lock(mm);
	ret = do_munmap(mm, addr, addr + len);
	pw_mmap_write_unlock(mm);
	return ret;
}

PW_API int pw_mprotect(struct pw_mm *mm, uint64_t addr, uint64_t len, int prot)
{
	uint64_t end, a;
	uint32_t newf;
	size_t i;
	int ret;

	if (!mm || !mm->pt.arena || (prot & ~(PW_PROT_READ | PW_PROT_WRITE | PW_PROT_EXEC)) || !len)
		return -EINVAL;
	if (addr & ~PW_PAGE_MASK || addr + len < addr)
		return -EINVAL;
	end = (addr + len + PW_PAGE_SIZE - 1) & PW_PAGE_MASK;
	ret = pw_check_range(mm, addr, end);
	if (ret)
		return ret;
	newf = prot_to_vm(prot);
	pw_mmap_write_lock(mm);
	/* The whole range must be mapped (checked before anything changes). */
	for (a = addr, i = pw_vma_index(mm, addr); a < end; i++) {
		if (i >= mm->nr_vmas || mm->vmas[i]->vm_start > a) {
			ret = -ENOMEM;
			goto out;
		}
		a = mm->vmas[i]->vm_end;
	}
	ret = hugetlb_prepare(mm, addr, end, false);
	if (!ret)
		ret = pw_split_huge_edges(mm, addr, end);
	if (!ret)
		ret = split_at(mm, addr);
	if (!ret)
		ret = split_at(mm, end);
	if (ret)
		goto out;
	hugetlb_prepare(mm, addr, end, true); /* shared PMD tables: unshare before the change */
	for (i = pw_vma_index(mm, addr); i < mm->nr_vmas && mm->vmas[i]->vm_start < end; i++) {
		struct pw_vma *vma = mm->vmas[i];

		/* atomic: mapping walks read vm_flags without the mmap lock */
		__atomic_store_n(&vma->vm_flags,
				 (vma->vm_flags & ~(PW_VM_READ | PW_VM_WRITE | PW_VM_EXEC)) | newf,
				 __ATOMIC_RELAXED);
		pw_change_prot_range(mm, vma->vm_start, vma->vm_end, vma);
	}
	pw_vma_merge_around(mm, addr);
	pw_vma_merge_around(mm, end);
out:
	pw_mmap_write_unlock(mm);
	return ret;
}
