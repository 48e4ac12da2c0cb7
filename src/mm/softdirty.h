/* SPDX-License-Identifier: MIT */
/*
 * mm/softdirty.h - the VMA side of soft-dirty tracking (softdirty.c), for
 * pw_clear_refs() (helpers/clear_refs.c).
 * The types they use stay opaque here: helpers that include only this
 * header cannot reach into an address space or a file.
 */
#ifndef PAGEWALK_MM_SOFTDIRTY_H
#define PAGEWALK_MM_SOFTDIRTY_H

#include "core/core.h"

struct pw_vma;

/*
 * Clear PW_VM_SOFTDIRTY of @vma: from now on its pages read soft-dirty only
 * once written, and read faults of shared memory map it read-only so that
 * the first write faults (the kernel's vma_set_page_prot() after
 * clear_refs). Caller holds the mmap lock for write.
 */
void pw_vma_clear_softdirty(struct pw_vma *vma);

#endif /* PAGEWALK_MM_SOFTDIRTY_H */
