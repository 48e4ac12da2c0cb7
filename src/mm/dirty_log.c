// SPDX-License-Identifier: MIT
/*
 * dirty_log.c - a per-file log of the pages written since the last round
 * (pagewalk/dirty.h), the idea of KVM's dirty ring over write-notify.
 *
 * Once a file's log is enabled, every shared writable mapping of it is
 * write-protected, so the first write to a page after that faults; the
 * fault (pw_handle_mm_fault(), after it made the entry writable) appends
 * the page to the log. A round (pw_dirty_log_harvest()) takes the pages
 * logged so far, and for each page and each shared VMA mapping it
 * write-protects and cleans the PTE under its lock, recording the page if
 * it was dirty: a round reads as many PTEs as pages were written (times
 * their mappers), not every mapped PTE. A page logged again while a round
 * runs is in the next round.
 *
 * Guarantees, as the fused pass's (pw_wp_clean_record_shared_mapping_range):
 * a write that completed before the round began is recorded by it (its
 * fault logged the page before the write could land; the round's
 * write-protect and clean see the Dirty bit it set); a write during the
 * round either sets Dirty before the round's atomic AND (recorded now) or
 * faults after it (logged for the next round); no entry is cleaned without
 * being recorded. Writes before pw_dirty_log_enable() returns are not
 * logged. Huge entries (file THP) and hugetlb VMAs are not tracked.
 *
 * The logs live in a short list looked up by file (a fault of a file with
 * no log pays one relaxed load).
 */
#include <string.h>

#include <pagewalk/dirty.h>
#include <pagewalk/hugetlb.h>

#include "mm/dirty_log.h"
#include "mm/file.h"
#include "mm/mm.h"
#include "mm/notifier.h"
#include "mm/tlb.h"

struct dirty_log {
	struct pw_file *file;
	struct dirty_log *next;
	uint64_t *logged; /* bit per page: logged since the last round */
	uint64_t *spare;  /* a zeroed bitmap, swapped in by a round */
	uint64_t lo, hi;  /* the logged pages lie in [lo, hi) (lo > hi: none) */
	uint64_t nr;	  /* pages logged */
};

static void log_free(struct dirty_log *l)
{
	free(l->logged);
	free(l->spare);
	free(l);
}

static struct dirty_log *logs;
static pthread_mutex_t logs_lock = PTHREAD_MUTEX_INITIALIZER;
static int nr_logs; /* atomic */

static struct dirty_log *find(const struct pw_file *file)
{
	for (struct dirty_log *l = logs; l; l = l->next)
		if (l->file == file)
			return l;
	return NULL;
}

PW_API int pw_dirty_log_enable(struct pw_file *file)
{
	struct dirty_log *l;

	if (!file || pw_file_huge_page_size(file))
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->file = file;
	l->lo = UINT64_MAX;
	l->logged = calloc((file->nr_pages + 63) / 64 + 1, sizeof(uint64_t));
	l->spare = calloc((file->nr_pages + 63) / 64 + 1, sizeof(uint64_t));
	if (!l->logged || !l->spare) {
		log_free(l);
		return -ENOMEM;
	}
	pthread_mutex_lock(&logs_lock);
	if (find(file)) {
		pthread_mutex_unlock(&logs_lock);
		log_free(l);
		return -EBUSY;
	}
	l->next = logs;
	logs = l;
	__atomic_fetch_add(&nr_logs, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&logs_lock);
	/* From here a write fault logs; make every next write fault. */
	if (file->nr_pages)
		pw_wp_shared_mapping_range(file, 0, file->nr_pages);
	return 0;
}

PW_API int pw_dirty_log_disable(struct pw_file *file)
{
	struct dirty_log **p, *l = NULL;

	if (!file)
		return -EINVAL;
	pthread_mutex_lock(&logs_lock);
	for (p = &logs; *p; p = &(*p)->next) {
		if ((*p)->file == file) {
			l = *p;
			*p = l->next;
			__atomic_fetch_sub(&nr_logs, 1, __ATOMIC_SEQ_CST);
			break;
		}
	}
	pthread_mutex_unlock(&logs_lock);
	if (!l)
		return -ENOENT;
	log_free(l);
	return 0;
}

void pw_dirty_log_fault(const struct pw_vma *vma, uint64_t addr)
{
	struct dirty_log *l;
	uint64_t pgoff;

	if (likely(!__atomic_load_n(&nr_logs, __ATOMIC_ACQUIRE)) || !vma->vm_file ||
	    !(vma->vm_flags & PW_VM_SHARED))
		return;
	pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PW_PAGE_SHIFT);
	pthread_mutex_lock(&logs_lock);
	l = find(vma->vm_file);
	if (l && pgoff < l->file->nr_pages && !(l->logged[pgoff / 64] >> (pgoff % 64) & 1)) {
		l->logged[pgoff / 64] |= 1ULL << (pgoff % 64);
		l->nr++;
		if (pgoff < l->lo)
			l->lo = pgoff;
		if (pgoff + 1 > l->hi)
			l->hi = pgoff + 1;
	}
	pthread_mutex_unlock(&logs_lock);
}

/* ---- a round --------------------------------------------------------------- */

struct harvest {
	const uint64_t *logged; /* this round's pages: a bitmap by page offset */
	uint64_t lo, hi;	/* its set bits lie in [lo, hi) */
	uint64_t bitmap_pgoff, *bitmap;
	uint64_t start, end; /* bits set, relative to bitmap_pgoff */
	uint64_t total;
};

/* The first set bit of @bm in [@i, @end), or @end. */
static uint64_t next_bit(const uint64_t *bm, uint64_t i, uint64_t end)
{
	while (i < end) {
		uint64_t w = bm[i / 64] >> (i % 64);

		if (w)
			return i + (uint64_t)__builtin_ctzll(w) < end ? i + (uint64_t)__builtin_ctzll(w) : end;
		i = (i | 63) + 1;
	}
	return end;
}

/* The pages of one shared writable VMA: write-protect and clean each PTE. */
static int harvest_vma(struct pw_vma *vma, void *arg)
{
	struct harvest *h = arg;
	struct pw_mm *mm = vma->vm_mm;
	uint64_t first = vma->vm_pgoff, last = first + ((vma->vm_end - vma->vm_start) >> PW_PAGE_SHIFT);
	uint32_t f = __atomic_load_n(&vma->vm_flags, __ATOMIC_RELAXED);
	struct pw_mmu_notifier_range r;
	struct pw_mmu_gather g;
	uint64_t *t = NULL, locked = 0, pmd_val = 0, from, to, i;
	uint64_t *pmd_ptep = NULL;

	if ((f & (PW_VM_SHARED | PW_VM_MAYWRITE)) != (PW_VM_SHARED | PW_VM_MAYWRITE) ||
	    (f & PW_VM_HUGETLB))
		return 0;
	from = first > h->lo ? first : h->lo;
	to = last < h->hi ? last : h->hi;
	i = next_bit(h->logged, from, to);
	if (i >= to)
		return 0;
	pw_tlb_gather_init(&g, mm);
	pw_mmu_notifier_range_init(&r, PW_MMU_NOTIFY_PROTECTION_PAGE, mm,
				   vma->vm_start + ((i - first) << PW_PAGE_SHIFT),
				   vma->vm_start + ((to - first) << PW_PAGE_SHIFT));
	pw_mmu_notifier_invalidate_range_start(&r);
	pw_tlb_flush_pending_begin(mm);
	/* The mapping walk's rule: the i_mmap lock only; tables stay allocated under RCU. */
	pw_rcu_read_lock();
	for (; i < to; i = next_bit(h->logged, i + 1, to)) {
		uint64_t addr = vma->vm_start + ((i - first) << PW_PAGE_SHIFT), old, bit;
		struct pw_pt_entry pmd;
		uint64_t *e;

		if (!t || (addr & pw_level_mask(PW_LEVEL_PMD)) != (locked & pw_level_mask(PW_LEVEL_PMD)) ||
		    __atomic_load_n(pmd_ptep, __ATOMIC_ACQUIRE) != pmd_val) {
			if (t)
				pw_pt_pte_unlock(&mm->pt, pw_pt_next_pfn(&mm->pt, pmd_val));
			t = NULL;
			for (;;) {
				if (pw_pt_descend(&mm->pt, addr, PW_LEVEL_PMD, &pmd, NULL) != PW_PT_TABLE)
					break; /* not mapped (or a huge leaf): nothing to clean here */
				t = pw_pt_lock_ptes(&mm->pt, &pmd);
				if (t)
					break;
			}
			if (!t)
				continue;
			locked = addr;
			pmd_ptep = pmd.ptep;
			pmd_val = pmd.val;
		}
		e = t + pw_index(PW_LEVEL_PTE, addr);
		{
			/* the next logged page's PTE, if in this table: fetch it now */
			uint64_t nx = next_bit(h->logged, i + 1, to);

			if (nx < to && ((nx - i) << PW_PAGE_SHIFT) < pw_level_size(PW_LEVEL_PMD) &&
			    pw_index(PW_LEVEL_PTE, addr) + (nx - i) < PW_PTRS_PER_TABLE)
				__builtin_prefetch(e + (nx - i), 1);
		}
		if ((__atomic_load_n(e, __ATOMIC_RELAXED) & PW_P) == 0)
			continue;
		old = __atomic_fetch_and(e, ~(uint64_t)(PW_RW | PW_D), __ATOMIC_ACQ_REL);
		if (old & (PW_RW | PW_D))
			pw_tlb_gather_add(&g, addr, PW_PAGE_SIZE);
		if (!(old & PW_D))
			continue;
		bit = i - h->bitmap_pgoff;
		if (!(h->bitmap[bit / 64] >> (bit % 64) & 1))
			h->total++;
		h->bitmap[bit / 64] |= 1ULL << (bit % 64);
		if (bit < h->start)
			h->start = bit;
		if (bit + 1 > h->end)
			h->end = bit + 1;
	}
	if (t)
		pw_pt_pte_unlock(&mm->pt, pw_pt_next_pfn(&mm->pt, pmd_val));
	pw_rcu_read_unlock();
	if (pw_tlb_flush_nested(mm))
		pw_flush_tlb_range(mm, r.start, r.end);
	else
		pw_tlb_gather_flush(&g);
	pw_mmu_notifier_invalidate_range_end(&r);
	pw_tlb_flush_pending_end(mm);
	return 0;
}

PW_API int64_t pw_dirty_log_harvest(struct pw_file *file, uint64_t bitmap_pgoff, uint64_t *bitmap,
				    uint64_t *start, uint64_t *end)
{
	struct harvest h = { .bitmap_pgoff = bitmap_pgoff, .bitmap = bitmap };
	struct dirty_log *l;
	uint64_t *taken;
	bool none_set;

	if (!file || !bitmap || !start || !end || bitmap_pgoff > 0)
		return -EINVAL; /* the bitmap covers the file from page 0 (bitmap_pgoff 0) */
	pthread_mutex_lock(&logs_lock);
	l = find(file);
	if (!l) {
		pthread_mutex_unlock(&logs_lock);
		return -ENOENT;
	}
	/*
	 * Take the round's pages by swapping in the zeroed spare bitmap; a page
	 * written from now on is logged again. One round of a file at a time.
	 */
	if (!l->spare) {
		pthread_mutex_unlock(&logs_lock);
		return -EBUSY; /* another round of this file is running */
	}
	taken = l->logged;
	l->logged = l->spare;
	l->spare = NULL;
	h.lo = l->lo;
	h.hi = l->hi;
	l->lo = UINT64_MAX;
	l->hi = 0;
	l->nr = 0;
	pthread_mutex_unlock(&logs_lock);
	h.logged = taken;
	none_set = *start >= *end;
	h.start = none_set ? file->nr_pages : *start;
	h.end = none_set ? 0 : *end;
	if (h.lo < h.hi) {
		pw_i_mmap_lock_read(file);
		pw_file_for_each_vma(file, h.lo, h.hi - 1, harvest_vma, &h);
		pw_i_mmap_unlock_read(file);
		memset(taken + h.lo / 64, 0, ((h.hi - 1) / 64 - h.lo / 64 + 1) * sizeof(*taken));
	}
	pthread_mutex_lock(&logs_lock);
	l = find(file);
	if (l && !l->spare)
		l->spare = taken; /* zeroed again, for the next round */
	else
		free(taken); /* the log was disabled (or replaced) meanwhile */
	pthread_mutex_unlock(&logs_lock);
	*start = h.start;
	*end = h.end;
	return (int64_t)h.total;
}
