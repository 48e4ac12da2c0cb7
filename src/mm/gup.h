/* SPDX-License-Identifier: MIT */
/*
 * mm/gup.h - GUP's per-entry logic (gup.c), kept apart so that another
 * walker (a lockless GUP-fast) takes the same decisions:
 *
 *   frame = pw_gup_entry_frame(pt, level, v, addr, flags);  0: fault instead
 *   if (frame && pw_gup_grab(arena, frame, flags)) {
 *           if (entry changed since v was read)            (re-check)
 *                   pw_gup_ungrab(arena, frame, flags), fall back;
 *   }
 */
#ifndef PAGEWALK_MM_GUP_H
#define PAGEWALK_MM_GUP_H

#include "pt/pt.h"

#include <pagewalk/gup.h>

/*
 * The 4 KiB frame that leaf value @v at @level maps at @addr, if a GUP with
 * @flags may take it as it is: a present, well-formed leaf, writable for
 * PW_FOLL_WRITE, user-accessible, with frame metadata that is not reserved.
 * Return the frame, or 0: the caller must fault (none, PROT_NONE,
 * device-exclusive, read-only for a write) or give up.
 */
uint64_t pw_gup_entry_frame(const struct pw_pt *pt, enum pw_level level, uint64_t v, uint64_t addr,
			    unsigned flags);
/*
 * Take a reference (and a pin with PW_FOLL_PIN) on @pfn unless its count
 * is already 0 (a frame being freed: a lockless walker lost a race).
 * Return true if taken.
 */
bool pw_gup_grab(struct pw_arena *arena, uint64_t pfn, unsigned flags);
/* Drop what pw_gup_grab() took. */
void pw_gup_ungrab(struct pw_arena *arena, uint64_t pfn, unsigned flags);
/* pw_get_user_pages() with @mm's mmap lock held by the caller (read or write). */
long pw_gup_locked(struct pw_mm *mm, uint64_t start, unsigned long nr, unsigned flags, uint64_t *frames);
/* The argument checks of pw_get_user_pages(): 0 or its -errno. */
int pw_gup_check(const struct pw_mm *mm, uint64_t start, unsigned long nr, unsigned flags);

#endif /* PAGEWALK_MM_GUP_H */
