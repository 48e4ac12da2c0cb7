/* SPDX-License-Identifier: MIT */
/*
 * mm/notifier.h - calling the MMU notifiers of an address space (notifier.c).
 * The types they use stay opaque here: helpers that include only this
 * header cannot reach into an address space or a file.
 */
#ifndef PAGEWALK_MM_NOTIFIER_H
#define PAGEWALK_MM_NOTIFIER_H

#include "core/core.h"


#include <pagewalk/notifier.h>

void pw_mmu_notifier_mm_init(struct pw_mm *mm);
void pw_mmu_notifier_release(struct pw_mm *mm);
void pw_mmu_notifier_mm_destroy(struct pw_mm *mm);
void pw_mmu_notifier_range_init(struct pw_mmu_notifier_range *r, enum pw_mmu_notify_event ev,
				struct pw_mm *mm, uint64_t start, uint64_t end);
void pw_mmu_notifier_invalidate_range_start(const struct pw_mmu_notifier_range *r);
void pw_mmu_notifier_invalidate_range_end(const struct pw_mmu_notifier_range *r);
void pw_mmu_notifier_arch_invalidate(struct pw_mm *mm, uint64_t start, uint64_t end);

#endif /* PAGEWALK_MM_NOTIFIER_H */
