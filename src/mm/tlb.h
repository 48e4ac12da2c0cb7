/* SPDX-License-Identifier: MIT */
/*
 * mm/tlb.h - TLB flushing and flush batching for code that changes
 * entries (tlb.c).
 * The types they use stay opaque here: helpers that include only this
 * header cannot reach into an address space or a file.
 */
#ifndef PAGEWALK_MM_TLB_H
#define PAGEWALK_MM_TLB_H

#include "core/core.h"

#include <pagewalk/tlb.h>

struct pw_mm;


/*
 * struct pw_mmu_gather - a range of virtual addresses whose entries changed
 * and must be flushed from every TLB of @mm (and secondary TLBs) before the
 * locks guarding the change drop. The kernel's mmu_gather, reduced to its
 * flush window.
 */
struct pw_mmu_gather {
	struct pw_mm *mm;
	uint64_t start, end; /* empty while start >= end (end 0 = top only if start set) */
	bool pending;
};

void pw_tlb_gather_init(struct pw_mmu_gather *g, struct pw_mm *mm);
void pw_tlb_gather_add(struct pw_mmu_gather *g, uint64_t addr, uint64_t size);
/* Flush the gathered range (if any) and reset the window. */
void pw_tlb_gather_flush(struct pw_mmu_gather *g);
/* Flush [start, end) of @mm from every CPU TLB and call arch_invalidate_secondary_tlbs. */
void pw_flush_tlb_range(struct pw_mm *mm, uint64_t start, uint64_t end);
/*
 * Batched changes of @mm's entries that are not flushed yet (the kernel's
 * inc/dec_tlb_flush_pending): a helper that changes entries under PTE locks
 * only and flushes later brackets its change with begin/end; nested() says
 * that another such change is pending too, whose skipped entries this one
 * must flush as well (the kernel's mm_tlb_flush_nested()).
 */
void pw_tlb_flush_pending_begin(struct pw_mm *mm);
bool pw_tlb_flush_nested(struct pw_mm *mm);
void pw_tlb_flush_pending_end(struct pw_mm *mm);
void pw_tlb_mm_init(struct pw_mm *mm);
void pw_tlb_mm_destroy(struct pw_mm *mm);

/*
 * Test hook (debug builds only): when set, pw_flush_tlb_range() does nothing
 * (a missing flush). Only the missing-flush tests set it, to show that
 * their checks can fail.
 */
#ifdef PW_DEBUG
extern bool pw_debug_skip_tlb_flush;
#endif

/* TLB lookups and fills for pw_access() (tlb.c). */
struct pw_tlb_fill {
	uint64_t leaf;	/* the leaf entry as read (level @level) */
	enum pw_level level;
	bool rw, us, nx; /* combined permissions of the walk */
};
bool pw_tlb_lookup(struct pw_tlb *tlb, uint64_t addr, struct pw_tlb_fill *out);
/* Generation before a walk; the fill is dropped if a flush came in between. */
uint64_t pw_tlb_gen(struct pw_tlb *tlb);
void pw_tlb_insert(struct pw_tlb *tlb, uint64_t addr, const struct pw_tlb_fill *in, uint64_t gen);
void pw_tlb_invalidate_page(struct pw_tlb *tlb, uint64_t addr);
bool pw_tlb_for(const struct pw_tlb *tlb, const struct pw_mm *mm); /* caches @mm? */

#endif /* PAGEWALK_MM_TLB_H */
