/* SPDX-License-Identifier: MIT */
/* mm/dirty_log.h - the fault's half of the per-file dirty log (dirty_log.c). */
#ifndef PAGEWALK_MM_DIRTY_LOG_H
#define PAGEWALK_MM_DIRTY_LOG_H

#include <pagewalk/mm.h>

/*
 * A write fault at @addr of @vma succeeded (the entry is writable now): if
 * @vma is a shared mapping of a file whose dirty log is enabled, log the
 * page. Context: no spinlock held (takes the log list's mutex).
 */
void pw_dirty_log_fault(const struct pw_vma *vma, uint64_t addr);

#endif /* PAGEWALK_MM_DIRTY_LOG_H */
