/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/tlb.h - a software TLB for a simulated CPU (struct pw_cpu.tlb).
 *
 * pw_access() consults the TLB of its CPU before walking the tables, as a
 * processor does: a hit uses the cached translation and permissions and
 * touches no entry. A write hits only a translation cached writable and
 * dirty (otherwise the CPU walks to set the Dirty bit); an access the cached
 * permissions forbid drops the entry and walks. A page fault drops the entry
 * for the faulting address.
 *
 * So a stale entry is observable: if the library changed an entry (write
 * protect, clean, unmap, mprotect, copy-on-write) without flushing, a later
 * write through a cached writable+dirty translation succeeds without a fault
 * and without setting Dirty in the table. The library therefore flushes
 * every TLB of the mm over the changed range (batched, mmu_gather style)
 * before the locks guarding the change are dropped, and calls the MMU
 * notifiers' arch_invalidate_secondary_tlbs for the same range.
 *
 * Entries are per 4 KiB page (a huge leaf fills one entry per page used),
 * direct-mapped by virtual page number.
 */
#ifndef PAGEWALK_TLB_H
#define PAGEWALK_TLB_H

#include <stdint.h>

#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pw_tlb;

/**
 * pw_tlb_create() - create a TLB caching translations of @mm.
 * @mm: an arena address space; the TLB must be destroyed before it.
 * @nr_entries: number of entries, a power of two, 1 .. 65536.
 * @out: receives the TLB; put it in struct pw_cpu.tlb.
 *
 * Context: takes the mm's TLB list lock.
 * Return: 0, -EINVAL, -ENOMEM.
 */
int pw_tlb_create(struct pw_mm *mm, unsigned nr_entries, struct pw_tlb **out);

/**
 * pw_tlb_destroy() - detach the TLB from its mm and free it. NULL is a no-op.
 * Context: no access may be using it.
 */
void pw_tlb_destroy(struct pw_tlb *tlb);

/**
 * struct pw_tlb_stats - counters of one TLB.
 * @hits, @misses: lookups by pw_access().
 * @flushes: range flushes that reached this TLB.
 * @invalidated: valid entries those flushes dropped.
 */
struct pw_tlb_stats {
	uint64_t hits, misses, flushes, invalidated;
};

/** pw_tlb_get_stats() - read the counters. Context: takes the TLB's lock. */
void pw_tlb_get_stats(struct pw_tlb *tlb, struct pw_tlb_stats *st);

/**
 * pw_tlb_flush_all() - drop every entry (a CR3 write without PCID).
 * Context: takes the TLB's lock.
 */
void pw_tlb_flush_all(struct pw_tlb *tlb);

/**
 * pw_mm_nr_tlb_flushes() - range flushes the library issued for @mm (each
 * one reaches every TLB of the mm and the secondary TLBs).
 * Context: any thread (a snapshot).
 * Return: the count since the mm was created.
 */
uint64_t pw_mm_nr_tlb_flushes(const struct pw_mm *mm);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_TLB_H */
