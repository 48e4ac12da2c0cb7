// SPDX-License-Identifier: MIT
/*
 * tlb.c - software TLBs (one per simulated CPU) and batched range flushes.
 *
 * Each TLB caches translations of one mm, direct-mapped by virtual page
 * number. The mm keeps the list of its TLBs; pw_flush_tlb_range() drops the
 * entries of a range from all of them and tells the MMU notifiers
 * (arch_invalidate_secondary_tlbs). Code that changes entries gathers the
 * changed addresses in a struct pw_mmu_gather and flushes the smallest range
 * covering them once, before dropping the locks that guard the change.
 */
#include <string.h>

#include <pagewalk/tlb.h>

#include "mm/mm.h"

#ifdef PW_DEBUG
bool pw_debug_skip_tlb_flush;
#endif

struct tlb_entry {
	uint64_t vpn; /* virtual page number + 1; 0 = invalid */
	struct pw_tlb_fill fill;
};

struct pw_tlb {
	struct pw_mm *mm;
	pthread_mutex_t lock;
	unsigned nr;
	struct tlb_entry *e;
	struct pw_tlb *next;
	struct pw_tlb_stats st;
	uint64_t gen; /* flushes that reached this TLB (under @lock) */
};

void pw_tlb_mm_init(struct pw_mm *mm)
{
	pthread_mutex_init(&mm->tlb_list_lock, NULL);
	mm->tlbs = NULL;
}

void pw_tlb_mm_destroy(struct pw_mm *mm)
{
	/* TLBs still attached are detached: their owner destroys them. */
	pw_mutex_lock(&mm->tlb_list_lock, PW_LC_TLB_LIST);
	for (struct pw_tlb *t = mm->tlbs; t; t = t->next)
		t->mm = NULL;
	pw_mutex_unlock(&mm->tlb_list_lock, PW_LC_TLB_LIST);
	pthread_mutex_destroy(&mm->tlb_list_lock);
}

PW_API int pw_tlb_create(struct pw_mm *mm, unsigned nr, struct pw_tlb **out)
{
	struct pw_tlb *t;

	if (!mm || !mm->pt.arena || !out || !nr || nr > 65536 || (nr & (nr - 1)))
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->e = calloc(nr, sizeof(*t->e));
	if (!t->e) {
		free(t);
		return -ENOMEM;
	}
	t->nr = nr;
	t->mm = mm;
	pthread_mutex_init(&t->lock, NULL);
	pw_mutex_lock(&mm->tlb_list_lock, PW_LC_TLB_LIST);
	t->next = mm->tlbs;
	mm->tlbs = t;
	pw_mutex_unlock(&mm->tlb_list_lock, PW_LC_TLB_LIST);
	*out = t;
	return 0;
}

PW_API void pw_tlb_destroy(struct pw_tlb *t)
{
	if (!t)
		return;
	if (t->mm) {
		struct pw_mm *mm = t->mm;

		pw_mutex_lock(&mm->tlb_list_lock, PW_LC_TLB_LIST);
		for (struct pw_tlb **pp = &mm->tlbs; *pp; pp = &(*pp)->next) {
			if (*pp == t) {
				*pp = t->next;
				break;
			}
		}
		pw_mutex_unlock(&mm->tlb_list_lock, PW_LC_TLB_LIST);
	}
	pthread_mutex_destroy(&t->lock);
	free(t->e);
	free(t);
}

PW_API void pw_tlb_get_stats(struct pw_tlb *t, struct pw_tlb_stats *st)
{
	pw_mutex_lock(&t->lock, PW_LC_TLB);
	*st = t->st;
	pw_mutex_unlock(&t->lock, PW_LC_TLB);
}

PW_API void pw_tlb_flush_all(struct pw_tlb *t)
{
	pw_mutex_lock(&t->lock, PW_LC_TLB);
	memset(t->e, 0, t->nr * sizeof(*t->e));
	t->gen++;
	pw_mutex_unlock(&t->lock, PW_LC_TLB);
}

bool pw_tlb_for(const struct pw_tlb *t, const struct pw_mm *mm)
{
	return t->mm == mm;
}

static struct tlb_entry *slot(struct pw_tlb *t, uint64_t vpn)
{
	return &t->e[vpn & (t->nr - 1)];
}

bool pw_tlb_lookup(struct pw_tlb *t, uint64_t addr, struct pw_tlb_fill *out)
{
	uint64_t vpn = addr >> PW_PAGE_SHIFT;
	struct tlb_entry *e;
	bool hit;

	pw_mutex_lock(&t->lock, PW_LC_TLB);
	e = slot(t, vpn);
	hit = e->vpn == vpn + 1;
	if (hit) {
		*out = e->fill;
		t->st.hits++;
	} else {
		t->st.misses++;
	}
	pw_mutex_unlock(&t->lock, PW_LC_TLB);
	return hit;
}

uint64_t pw_tlb_gen(struct pw_tlb *t)
{
	uint64_t gen;

	pw_mutex_lock(&t->lock, PW_LC_TLB);
	gen = t->gen;
	pw_mutex_unlock(&t->lock, PW_LC_TLB);
	return gen;
}

/*
 * Fill an entry from a walk that began at generation @gen. If a flush
 * reached the TLB since, the walk may have read entries that the flushed
 * change replaced: the fill is dropped, as a CPU's walk and fill are one
 * step that a TLB shootdown cannot fall between.
 */
void pw_tlb_insert(struct pw_tlb *t, uint64_t addr, const struct pw_tlb_fill *in, uint64_t gen)
{
	uint64_t vpn = addr >> PW_PAGE_SHIFT;
	struct tlb_entry *e;

	pw_mutex_lock(&t->lock, PW_LC_TLB);
	if (t->gen == gen) {
		e = slot(t, vpn);
		e->vpn = vpn + 1;
		e->fill = *in;
	}
	pw_mutex_unlock(&t->lock, PW_LC_TLB);
}

void pw_tlb_invalidate_page(struct pw_tlb *t, uint64_t addr)
{
	uint64_t vpn = addr >> PW_PAGE_SHIFT;
	struct tlb_entry *e;

	pw_mutex_lock(&t->lock, PW_LC_TLB);
	e = slot(t, vpn);
	if (e->vpn == vpn + 1)
		e->vpn = 0;
	pw_mutex_unlock(&t->lock, PW_LC_TLB);
}

/* Drop the entries of pages in [start, end) (end 0 = top of the space). */
static void tlb_flush_range(struct pw_tlb *t, uint64_t start, uint64_t end)
{
	uint64_t s = start >> PW_PAGE_SHIFT, n = (end - start) >> PW_PAGE_SHIFT;

	pw_mutex_lock(&t->lock, PW_LC_TLB);
	t->st.flushes++;
	t->gen++;
	if (end == 0 || n >= t->nr) {
		for (unsigned i = 0; i < t->nr; i++) {
			uint64_t vpn = t->e[i].vpn - 1;

			if (t->e[i].vpn && vpn >= s && (end == 0 || vpn < (end >> PW_PAGE_SHIFT))) {
				t->e[i].vpn = 0;
				t->st.invalidated++;
			}
		}
	} else {
		for (uint64_t v = s; v < s + n; v++) {
			struct tlb_entry *e = slot(t, v);

			if (e->vpn == v + 1) {
				e->vpn = 0;
				t->st.invalidated++;
			}
		}
	}
	pw_mutex_unlock(&t->lock, PW_LC_TLB);
}

void pw_flush_tlb_range(struct pw_mm *mm, uint64_t start, uint64_t end)
{
#ifdef PW_DEBUG
	if (__atomic_load_n(&pw_debug_skip_tlb_flush, __ATOMIC_RELAXED))
		return;
#endif
	pw_mutex_lock(&mm->tlb_list_lock, PW_LC_TLB_LIST);
	for (struct pw_tlb *t = mm->tlbs; t; t = t->next)
		tlb_flush_range(t, start, end);
	pw_mutex_unlock(&mm->tlb_list_lock, PW_LC_TLB_LIST);
	__atomic_fetch_add(&mm->nr_tlb_flushes, 1, __ATOMIC_RELAXED);
	pw_mmu_notifier_arch_invalidate(mm, start, end);
}

PW_API uint64_t pw_mm_nr_tlb_flushes(const struct pw_mm *mm)
{
	return __atomic_load_n(&mm->nr_tlb_flushes, __ATOMIC_RELAXED);
}

void pw_tlb_gather_init(struct pw_mmu_gather *g, struct pw_mm *mm)
{
	g->mm = mm;
	g->start = g->end = 0;
	g->pending = false;
}

void pw_tlb_gather_add(struct pw_mmu_gather *g, uint64_t addr, uint64_t size)
{
	uint64_t end = addr + size;

	if (!g->pending) {
		g->start = addr;
		g->end = end;
		g->pending = true;
		return;
	}
	if (addr < g->start)
		g->start = addr;
	if (end - 1 > g->end - 1) /* wrap-safe: end 0 is the top */
		g->end = end;
}

void pw_tlb_gather_flush(struct pw_mmu_gather *g)
{
	if (!g->pending)
		return;
	pw_flush_tlb_range(g->mm, g->start, g->end);
	g->pending = false;
}

void pw_tlb_flush_pending_begin(struct pw_mm *mm)
{
	__atomic_fetch_add(&mm->tlb_flush_pending, 1, __ATOMIC_ACQ_REL);
}

bool pw_tlb_flush_nested(struct pw_mm *mm)
{
	return __atomic_load_n(&mm->tlb_flush_pending, __ATOMIC_ACQUIRE) > 1;
}

void pw_tlb_flush_pending_end(struct pw_mm *mm)
{
	__atomic_fetch_sub(&mm->tlb_flush_pending, 1, __ATOMIC_ACQ_REL);
}
