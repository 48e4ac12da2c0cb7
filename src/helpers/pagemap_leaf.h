/* SPDX-License-Identifier: MIT */
/*
 * helpers/pagemap_leaf.h - what pagemap, PAGEMAP_SCAN and smaps read from
 * one leaf entry (pagemap.c, pagemap_scan.c, smaps.c): whether it maps a
 * frame, which frame, and what that frame is.
 */
#ifndef PAGEWALK_HELPERS_PAGEMAP_LEAF_H
#define PAGEWALK_HELPERS_PAGEMAP_LEAF_H

#include <pagewalk/mm.h>
#include <pagewalk/phys.h>

#include "core/core.h"

/* A leaf that maps a frame: present, or PROT_NONE (present to the kernel). */
static inline bool pm_leaf_mapped(uint64_t v)
{
	return v & (PW_P | PW_SW_PROTNONE);
}

/* The first 4 KiB frame of mapped leaf @v at @level (also for PROT_NONE ones). */
static inline uint64_t pm_leaf_pfn(enum pw_level level, uint64_t v, unsigned maxphyaddr)
{
	return (v & pw_frame_field_mask(maxphyaddr) & pw_level_mask(level)) >> PW_PAGE_SHIFT;
}

/* A huge leaf (present or PROT_NONE) at level 1 or 2. */
static inline bool pm_huge_leaf(uint64_t v)
{
	return (v & PW_PS) && pm_leaf_mapped(v);
}

/*
 * Is the frame a "file" page for pagemap (not anonymous; shared anonymous
 * memory is the kernel's shmem, a file too)? @f may be NULL (no metadata:
 * neither file nor exclusive, as a page without struct page).
 */
static inline bool pm_frame_file(const struct pw_frame *f, uint32_t vm_flags)
{
	return f && (!(__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & PW_FRAME_ANON) ||
		     (vm_flags & PW_VM_SHARED));
}

/*
 * A device-exclusive entry (pagewalk/devx.h): a swap-format PTE that still
 * stands for its frame. pagemap reports it as the kernel reports its swap
 * entries; PAGEMAP_SCAN as PAGE_IS_SWAPPED.
 */
static inline bool pm_devx(uint64_t v)
{
	return pw_is_device_exclusive(v);
}

/* The pagemap frame field of a swap entry: type | offset << 5 (the kernel's MAX_SWAPFILES_SHIFT). */
static inline uint64_t pm_swap_frame(uint64_t v)
{
	return (uint64_t)pw_swp_type(v) | (pw_swp_offset(v) << 5);
}

static inline int32_t pm_frame_mapcount(const struct pw_frame *f)
{
	return f ? __atomic_load_n(&f->mapcount, __ATOMIC_RELAXED) : 0;
}

#endif /* PAGEWALK_HELPERS_PAGEMAP_LEAF_H */
