/* SPDX-License-Identifier: MIT */
/*
 * mm/file.h - the page cache and i_mmap of a file, as the rest of the
 * library uses them (file.c).
 * The types they use stay opaque here: helpers that include only this
 * header cannot reach into an address space or a file.
 */
#ifndef PAGEWALK_MM_FILE_H
#define PAGEWALK_MM_FILE_H

#include "core/core.h"

#include <pagewalk/file.h>

struct pw_vma;

/* Count a huge entry that a dirty helper met and left alone (pw_dirty_huge_skipped()). */
void pw_file_count_huge_skipped(struct pw_file *file);
/*
 * The frame caching @index, allocated on first use, with a reference taken.
 * A page of a 2 MiB folio (pw_madvise_collapse()) is split out of it first
 * (taking the i_mmap write lock: call it without the i_mmap lock); while a
 * PMD maps the folio that fails with -EBUSY.
 */
int pw_file_get_page(struct pw_file *file, uint64_t index, uint64_t *pfn);
/*
 * Make the 2 MiB folio at frame @head (order 9, the caller's reference
 * becoming the cache's) the page cache of [@index, @index + 512): each old
 * page loses the cache's reference; @dirty marks the folio dirty. Caller
 * holds the i_mmap write lock, and nothing maps the old pages any more.
 */
void pw_file_replace_folio(struct pw_file *file, uint64_t index, uint64_t head, bool dirty);
/*
 * Call @fn on each VMA of @file whose page offsets meet [@first, @last], in
 * vm_pgoff order, until it returns non-zero (returned). Caller holds the
 * i_mmap lock; @fn must not change the tree.
 */
int pw_file_for_each_vma(struct pw_file *file, uint64_t first, uint64_t last,
			 int (*fn)(struct pw_vma *vma, void *arg), void *arg);
/* Link/unlink a VMA in its file's i_mmap; the caller holds the i_mmap write lock. */
void pw_file_vma_link_locked(struct pw_vma *vma);
void pw_file_vma_unlink_locked(struct pw_vma *vma);
/*
 * Unlink a file VMA from its file's i_mmap (takes the i_mmap write lock; no-op
 * for anonymous VMAs). Unmapping unlinks before it zaps, so that no mapping
 * walk reaches tables that the zap may free.
 */
void pw_vma_unlink_file(struct pw_vma *vma);

#endif /* PAGEWALK_MM_FILE_H */
