// SPDX-License-Identifier: MIT
/*
 * softdirty.c - the VMA side of soft-dirty tracking (mm/softdirty.h).
 */
#include "mm/mm.h"
#include "mm/softdirty.h"

void pw_vma_clear_softdirty(struct pw_vma *vma)
{
	pw_assert_mmap_write_locked(vma->vm_mm);
	/* atomic: mapping walks read vm_flags without the mmap lock */
	__atomic_fetch_and(&vma->vm_flags, ~(uint32_t)PW_VM_SOFTDIRTY, __ATOMIC_RELAXED);
}
