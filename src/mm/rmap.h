/* SPDX-License-Identifier: MIT */
/*
 * mm/rmap.h - the reverse map's private side (rmap.c): anon_vma trees and
 * the locked walk that device-exclusive conversion builds on.
 */
#ifndef PAGEWALK_MM_RMAP_H
#define PAGEWALK_MM_RMAP_H

#include "pt/pt.h"

#include <pagewalk/rmap.h>

/*
 * struct pw_anon_vma - one node of an anon_vma tree.
 * @root: the tree's root (itself for a root); its @rwsem guards every
 *        node's @vmas and @children lists and the range of each VMA on them.
 * @parent: the anon_vma of the VMA this one's VMA was forked from.
 * @children, @sib_next, @sib_prev: the nodes forked from this one.
 * @vmas: the VMAs linked on this node (through _av_next / _av_prev).
 * @refcount: VMAs linked + children + walkers; changed under the global
 *            anon_vma lifetime lock (rmap.c); the node is freed at 0.
 */
struct pw_anon_vma {
	struct pw_anon_vma *root, *parent;
	struct pw_anon_vma *children, *sib_next, *sib_prev;
	struct pw_vma *vmas;
	int32_t refcount;
	struct pw_rwsem rwsem;
};

/* Give @vma an anon_vma if it has none. Context: mmap lock held (read). Return: 0, -ENOMEM. */
int pw_anon_vma_prepare(struct pw_vma *vma);
/* A child's copy of @pvma gets a new anon_vma under @pvma's. Context: both mmap write locks. */
int pw_anon_vma_fork(struct pw_vma *cvma, const struct pw_vma *pvma);
/* Take @vma off its anon_vma's list (before a zap), keeping the reference. */
void pw_anon_vma_unlink(struct pw_vma *vma);
/* Drop the reference of an unlinked VMA (after the zap). */
void pw_anon_vma_release(struct pw_vma *vma);
/* Lock / unlock the tree of @vma's anon_vma for write (no-op without one), to change its range. */
void pw_anon_vma_lock_write(const struct pw_vma *vma);
void pw_anon_vma_unlock_write(const struct pw_vma *vma);
/* May VMAs @a and @b (adjacent) merge as far as the reverse map goes? */
bool pw_anon_vma_compatible(const struct pw_vma *a, const struct pw_vma *b);
/* Split: @old ends at @addr, @new (a copy of @old from @addr) joins its anon_vma. mmap write lock. */
void pw_anon_vma_split(struct pw_vma *old, struct pw_vma *new, uint64_t addr);
/* Merge: @keep becomes [start, end) and absorbs @gone, whose reference goes. mmap write lock. */
void pw_anon_vma_merge(struct pw_vma *keep, struct pw_vma *gone, uint64_t start, uint64_t end);
/* The reverse-map identity of a new anonymous frame @pfn faulted at @addr of @vma. */
void pw_anon_frame_init(struct pw_arena *arena, uint64_t pfn, const struct pw_vma *vma, uint64_t addr);

/*
 * One mapping found by pw_rmap_walk_locked(): @e is the entry, with the
 * lock guarding it held while the callback runs (the callback may change
 * it with pw_pt_set_locked(); it must re-read nothing else).
 */
struct pw_rmap_hit {
	struct pw_mm *mm;
	struct pw_vma *vma;
	uint64_t addr;
	struct pw_pt_entry e;
};

/*
 * The walk of pw_rmap_walk() with the entry lock held around @fn. If @prep
 * is set it is called for each VMA before its entry is looked up, with no
 * spinlock held (e.g. to start an MMU notifier range), and @done after
 * (with the result of @fn or 0 when nothing matched there).
 */
struct pw_rmap_ops {
	int (*one)(struct pw_rmap_hit *h, void *arg);
	void (*prep)(struct pw_mm *mm, uint64_t addr, void *arg);
	void (*done)(struct pw_mm *mm, uint64_t addr, void *arg);
};
int pw_rmap_walk_locked(struct pw_arena *arena, uint64_t pfn, const struct pw_rmap_ops *ops, void *arg);

#endif /* PAGEWALK_MM_RMAP_H */
