// SPDX-License-Identifier: MIT
/*
 * locks.c - the address space's locks as the API exports them: the mmap
 * lock (an owner-aware rwsem, core/lock.c) and the PTE table locks (the
 * split locks of the page-table layer, pt/pt.c). docs/locking.md has the
 * order.
 */
#include "mm/mm.h"

PW_API void pw_mmap_read_lock(struct pw_mm *mm) { pw_rwsem_read_lock(&mm->mmap_lock); }
PW_API void pw_mmap_read_unlock(struct pw_mm *mm) { pw_rwsem_read_unlock(&mm->mmap_lock); }
PW_API void pw_mmap_write_lock(struct pw_mm *mm) { pw_rwsem_write_lock(&mm->mmap_lock); }
PW_API void pw_mmap_write_unlock(struct pw_mm *mm) { pw_rwsem_write_unlock(&mm->mmap_lock); }
PW_API bool pw_mmap_lock_held(const struct pw_mm *mm) { return pw_rwsem_held(&mm->mmap_lock); }
PW_API bool pw_mmap_write_lock_held(const struct pw_mm *mm)
{
	return pw_rwsem_write_held(&mm->mmap_lock);
}

PW_API void pw_pte_lock(struct pw_mm *mm, uint64_t pfn)
{
	pw_pt_pte_lock(&mm->pt, pfn);
}

PW_API void pw_pte_unlock(struct pw_mm *mm, uint64_t pfn)
{
	pw_pt_pte_unlock(&mm->pt, pfn);
}
