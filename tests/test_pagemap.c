// SPDX-License-Identifier: MIT
/*
 * Description: pw_pagemap_read() and pw_pagemap_scan() on random address
 * spaces (anonymous private and shared, 2 MiB and 1 GiB leaves, files,
 * PROT_NONE, forked copies) compared with an independent computation that
 * reads the tables from arena memory one address at a time; every mask
 * combination drawn at random, with max_pages and vec_len cut-offs;
 * soft-dirty round trips through pw_access() and pw_clear_refs(); bad
 * input with the kernel's errno and nothing changed. PW_SEED repeats a run.
 */
#include <errno.h>
#include <string.h>

#include <pagewalk/devx.h>
#include <pagewalk/dirty.h>
#include <pagewalk/gup.h>
#include <pagewalk/file.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagemap.h>

#include "fixture.h"

#define WIN (1ULL << 32) /* the random VMAs live in [WIN, 2 * WIN) */

/* ---- the reference ------------------------------------------------------ */

struct ref {
	bool mapped; /* a leaf (present or PROT_NONE) maps the page */
	int level;
	uint64_t leaf, pfn, head;
};

static struct ref ref_leaf(struct pw_mm *mm, uint64_t va)
{
	const struct pw_paging *cfg = pw_mm_paging(mm);
	const uint8_t *base = pw_arena_base(pw_mm_arena(mm));
	uint64_t table = pw_mm_root(mm) << 12, am = ((1ULL << cfg->maxphyaddr) - 1) & ~0xfffULL;
	struct ref r = { 0 };

	for (int level = cfg->levels - 1; level >= 0; level--) {
		uint64_t v;

		memcpy(&v, base + table + 8 * ((va >> (12 + 9 * level)) & 511), 8);
		if (!v)
			return r;
		if ((v & 1) && level > 0 && !(v & 0x80)) {
			table = v & am;
			continue;
		}
		if (!(v & 1) && !(v & (1 << 9)))
			return r; /* non-present data */
		if (level > 0 && !(v & 0x80))
			return r;
		r.mapped = true;
		r.level = level;
		r.leaf = v;
		r.head = (v & am & ~((1ULL << (12 + 9 * level)) - 1)) >> 12;
		r.pfn = r.head + ((va & ((1ULL << (12 + 9 * level)) - 1)) >> 12);
		return r;
	}
	return r;
}

static const struct pw_vma *vma_at(struct pw_mm *mm, uint64_t a)
{
	return pw_vma_lookup(mm, a);
}

static bool frame_file(struct pw_mm *mm, const struct pw_vma *vma, uint64_t head)
{
	const struct pw_frame *f = pw_frame_meta(pw_mm_arena(mm), head);

	return f && (!(f->flags & PW_FRAME_ANON) || (vma->vm_flags & PW_VM_SHARED));
}

/* The pagemap entry of @a, from the tables in memory (mmap lock held). */
static uint64_t ref_pme(struct pw_mm *mm, uint64_t a)
{
	const struct pw_vma *vma = vma_at(mm, a);
	struct ref r;
	uint64_t pme = 0;

	if (!vma)
		return 0;
	if (vma->vm_flags & PW_VM_SOFTDIRTY)
		pme |= 1ULL << 55;
	r = ref_leaf(mm, a);
	if (!r.mapped)
		return pme;
	pme |= 1ULL << 63 | r.pfn;
	if (r.leaf & (1ULL << 11))
		pme |= 1ULL << 55;
	if (frame_file(mm, vma, r.head))
		pme |= 1ULL << 61;
	if (pw_frame_meta(pw_mm_arena(mm), r.head)->mapcount == 1)
		pme |= 1ULL << 56;
	return pme;
}

/* WP-allowed (pagemap.h): a writable VMA that is not PFNMAP. */
static bool ref_wp_allowed(const struct pw_vma *vma)
{
	return (vma->vm_flags & PW_VM_WRITE) && !(vma->vm_flags & PW_VM_PFNMAP);
}

/* PAGEMAP_SCAN categories of @a; false outside VMAs (never reported). */
static bool ref_cat(struct pw_mm *mm, uint64_t a, uint64_t *cat)
{
	const struct pw_vma *vma = vma_at(mm, a);
	struct ref r;

	if (!vma)
		return false;
	*cat = (vma->vm_flags & PW_VM_SOFTDIRTY) ? PW_PAGE_IS_SOFT_DIRTY : 0;
	if (ref_wp_allowed(vma))
		*cat |= PW_PAGE_IS_WPALLOWED;
	r = ref_leaf(mm, a);
	if (!r.mapped) {
		if (ref_wp_allowed(vma))
			*cat |= PW_PAGE_IS_WRITTEN; /* a hole: nothing write-protects it */
		return true;
	}
	*cat |= PW_PAGE_IS_PRESENT;
	/* written: writable in a WP-allowed VMA; every present page elsewhere */
	if (!ref_wp_allowed(vma) || (r.leaf & 2))
		*cat |= PW_PAGE_IS_WRITTEN;
	if (r.level > 0)
		*cat |= PW_PAGE_IS_HUGE;
	if (r.leaf & (1ULL << 11))
		*cat |= PW_PAGE_IS_SOFT_DIRTY;
	if (frame_file(mm, vma, r.head))
		*cat |= PW_PAGE_IS_FILE;
	return true;
}

/* ---- a random address space --------------------------------------------- */

static uint64_t rnd(uint64_t n)
{
	return tap_rand() % n;
}

/* A page near a random VMA's start (some in the gap before it). */
static uint64_t near_vma(struct pw_mm *mm)
{
	const struct pw_vma *vma;
	uint64_t n = 0, pick, a = WIN;

	pw_mmap_read_lock(mm);
	pw_for_each_vma(mm, vma)
		n++;
	pick = n ? rnd(n) : 0;
	pw_for_each_vma(mm, vma)
		if (!pick--)
			a = vma->vm_start;
	pw_mmap_read_unlock(mm);
	return a - (rnd(64) << 12);
}

static void random_space(struct pw_mm *mm, struct pw_file *file)
{
	static const int prots[] = { PW_PROT_NONE, PW_PROT_READ, PW_PROT_READ | PW_PROT_WRITE };

	for (int i = 0; i < 24; i++) {
		uint64_t len = (1 + rnd(64)) << 12, addr = WIN + (rnd(WIN >> 21) << 21), got;
		unsigned flags = PW_MAP_FIXED | (rnd(3) ? PW_MAP_PRIVATE : PW_MAP_SHARED);
		int prot = prots[rnd(3)], kind = (int)rnd(6);

		if (kind == 0) {
			len = (1 + rnd(3)) << 21;
			flags |= PW_MAP_HUGE_2M;
		} else if (kind == 1 && i < 2) {
			addr = WIN + (rnd(3) << 30);
			len = 1ULL << 30;
			flags = PW_MAP_FIXED | PW_MAP_PRIVATE | PW_MAP_HUGE_1G;
		}
		if (kind == 2)
			CHECK_EQ(pw_mmap_file(mm, addr, len, prot, flags, file, rnd(16), &got), 0);
		else
			CHECK_EQ(pw_mmap(mm, addr, len, prot, flags, &got), 0);
		/* touch some pages, reading or writing, before some PROT_NONE */
		for (int t = 0; t < 8; t++) {
			uint64_t a = addr + (rnd(len >> 12) << 12);

			pw_access(mm, NULL, a, rnd(2) ? PW_FAULT_WRITE | PW_FAULT_USER : PW_FAULT_USER, NULL);
		}
		if (rnd(4) == 0)
			CHECK_EQ(pw_mprotect(mm, addr, len, PW_PROT_NONE), 0);
		if (rnd(5) == 0)
			CHECK_EQ(pw_clear_refs(mm, PW_CLEAR_REFS_SOFT_DIRTY), 0);
	}
}

/* ---- pagemap ------------------------------------------------------------ */

static void check_pagemap(struct pw_mm *mm)
{
	uint64_t n = WIN >> 12, *out = malloc(n * 8); /* the whole window first */

	for (int round = 0; round < 8; round++) {
		/* a window around the VMAs: some start in gaps, some inside */
		uint64_t start = round ? near_vma(mm) : WIN, bad = 0;

		memset(out, 0xa5, n * 8);
		if (round == 1)
			n = 4096;
		CHECK_EQ(pw_pagemap_read(mm, start, n, out), (int64_t)n);
		pw_mmap_read_lock(mm);
		for (uint64_t i = 0; i < n; i++)
			if (out[i] != ref_pme(mm, start + (i << 12)) && bad++ < 4)
				printf("# %#lx: %#lx != %#lx\n", (unsigned long)(start + (i << 12)),
				       (unsigned long)out[i], (unsigned long)ref_pme(mm, start + (i << 12)));
		pw_mmap_read_unlock(mm);
		CHECK_EQ(bad, 0);
	}
	free(out);
}

/* ---- PAGEMAP_SCAN ------------------------------------------------------- */

static const uint64_t cats[] = { PW_PAGE_IS_WPALLOWED, PW_PAGE_IS_WRITTEN, PW_PAGE_IS_FILE,
				 PW_PAGE_IS_PRESENT, PW_PAGE_IS_HUGE, PW_PAGE_IS_SOFT_DIRTY,
				 PW_PAGE_IS_SWAPPED, PW_PAGE_IS_PFNZERO };

static uint64_t rnd_mask(void)
{
	uint64_t m = 0;

	for (unsigned i = 0; i < 8; i++)
		if (rnd(3) == 0)
			m |= cats[i];
	return m;
}

static bool interesting(const struct pw_pm_scan_arg *a, uint64_t cat)
{
	cat ^= a->category_inverted;
	return (cat & a->category_mask) == a->category_mask &&
	       (!a->category_anyof_mask || (cat & a->category_anyof_mask));
}

/*
 * The expected scan, page by page. Return regions; *walk_end where it
 * stops; if @wp is not NULL, wp[i] says whether page i of the range is
 * reported with WRITTEN (what PW_PM_SCAN_WP_MATCHING write-protects).
 */
static int64_t ref_scan(struct pw_mm *mm, const struct pw_pm_scan_arg *a, struct pw_page_region *v,
			uint64_t *walk_end, bool *wp)
{
	uint64_t nr = 0, found = 0, max = a->max_pages ? a->max_pages : UINT64_MAX;

	*walk_end = a->end;
	for (uint64_t p = a->start; p < a->end; p += 4096) {
		const struct pw_vma *vma = vma_at(mm, p);
		uint64_t cat, rcat;

		if (!ref_cat(mm, p, &cat) || !interesting(a, cat))
			continue;
		if (!ref_wp_allowed(vma) && (a->flags & PW_PM_SCAN_WP_MATCHING))
			continue; /* such VMAs are skipped */
		if (!a->vec_len) {
			if (wp)
				wp[(p - a->start) >> 12] = cat & PW_PAGE_IS_WRITTEN;
			continue;
		}
		rcat = cat & a->return_mask;
		if (found == max) {
			*walk_end = p;
			break;
		}
		if (nr && v[nr - 1].end == p && v[nr - 1].categories == rcat) {
			v[nr - 1].end = p + 4096;
		} else if (nr == a->vec_len) {
			*walk_end = p;
			break;
		} else {
			v[nr++] = (struct pw_page_region){ p, p + 4096, rcat };
		}
		if (wp)
			wp[(p - a->start) >> 12] = cat & PW_PAGE_IS_WRITTEN;
		found++;
	}
	return (int64_t)nr;
}

/* Does a VMA in [a->start, a->end) lack async write-protect (CHECK_WPASYNC fails)? */
static bool ref_check_wpasync(struct pw_mm *mm, const struct pw_pm_scan_arg *a)
{
	const struct pw_vma *vma;

	pw_for_each_vma(mm, vma)
		if (vma->vm_end > a->start && vma->vm_start < a->end && !ref_wp_allowed(vma))
			return true;
	return false;
}

static void check_scan(struct pw_mm *mm)
{
	enum { VEC = 64 };
	struct pw_page_region got[VEC + 1], want[VEC];
	uint64_t bad = 0;

	for (int round = 0; round < 200; round++) {
		struct pw_pm_scan_arg a = {
			.size = sizeof(a),
			.start = rnd(32) ? near_vma(mm) : WIN,
			.vec = got,
			.vec_len = rnd(5) ? 1 + rnd(VEC) : 0,
			.max_pages = rnd(3) ? 0 : 1 + rnd(2048),
			.category_inverted = rnd_mask(),
			.category_mask = rnd_mask(),
			.category_anyof_mask = rnd(2) ? rnd_mask() : 0,
			.return_mask = rnd(4) ? rnd_mask() | PW_PAGE_IS_PRESENT : 0,
		};
		uint64_t wend;
		int64_t n, wn;

		if (round % 50 == 0)
			a.flags = PW_PM_SCAN_CHECK_WPASYNC; /* fails unless every VMA is WP-allowed */
		a.end = a.start + (rnd(32) ? rnd(1 << 13) << 12 : WIN);
		memset(got, 0x5a, sizeof(got));
		n = pw_pagemap_scan(mm, &a);
		pw_mmap_read_lock(mm);
		wn = ref_scan(mm, &a, want, &wend, NULL);
		if (a.flags && ref_check_wpasync(mm, &a))
			wn = -EPERM, wend = a.end;
		pw_mmap_read_unlock(mm);
		if (n != wn || a.walk_end != wend ||
		    (n > 0 && memcmp(got, want, (size_t)n * sizeof(*got)))) {
			if (bad++ < 3)
				printf("# round %d: %ld regions (want %ld), walk_end %#lx (want %#lx)\n", round,
				       (long)n, (long)wn, (unsigned long)a.walk_end, (unsigned long)wend);
		}
		/* nothing written past what it reported */
		if (n >= 0)
			CHECK_EQ(got[n].start, 0x5a5a5a5a5a5a5a5aULL);
	}
	CHECK_EQ(bad, 0);
}

static void random_run(int levels)
{
	struct env e;
	struct pw_file *f;
	struct pw_mm *child;

	env_init(&e, levels, 3ULL << 30);
	REQUIRE_EQ(pw_file_create(e.a, 1 << 20, &f), 0);
	random_space(e.mm, f);
	check_pagemap(e.mm);
	check_scan(e.mm);
	/* a fork shares frames: no page is exclusive anymore where both map it */
	REQUIRE_EQ(pw_mm_fork(e.mm, &child), 0);
	check_pagemap(e.mm);
	check_pagemap(child);
	check_scan(child);
	pw_mm_destroy(child);
	pw_mm_destroy(e.mm);
	e.mm = NULL;
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0 + 0); /* everything back */
	pw_arena_destroy(e.a);
}

TEST(random_4level)
{
	random_run(4);
}

TEST(random_5level)
{
	random_run(5);
}

/* ---- soft-dirty --------------------------------------------------------- */

static uint64_t pme(struct pw_mm *mm, uint64_t a)
{
	uint64_t v = 0;

	CHECK_EQ(pw_pagemap_read(mm, a, 1, &v), 1);
	return v;
}

static unsigned write_faults(struct pw_mm *mm, uint64_t a)
{
	struct pw_access_result r;

	CHECK_EQ(pw_access(mm, NULL, a, PW_FAULT_WRITE | PW_FAULT_USER, &r), 0);
	return r.nr_faults;
}

TEST(soft_dirty_round_trip)
{
	struct env e;
	uint64_t a, s, h;

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 16 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &a), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 16 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, &s), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 << 20, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_HUGE_2M, &h), 0);
	/* a new mapping is soft-dirty everywhere, also where nothing is mapped */
	CHECK(pme(e.mm, a + 5 * 4096) & PW_PM_SOFT_DIRTY);
	CHECK_EQ(write_faults(e.mm, a), 1);
	CHECK(entry_of(e.mm, a) & PW_SW_SOFTDIRTY);
	CHECK_EQ(peek(e.mm, s), 0); /* read fault of shared memory */
	h += (2 << 20) - (h & ((2 << 20) - 1)) == (2 << 20) ? 0 : (2 << 20) - (h & ((2 << 20) - 1));
	CHECK_EQ(write_faults(e.mm, h), 1);

	CHECK_EQ(pw_clear_refs(e.mm, PW_CLEAR_REFS_SOFT_DIRTY), 0);
	CHECK_EQ(pme(e.mm, a) & PW_PM_SOFT_DIRTY, 0);
	CHECK(pme(e.mm, a) & PW_PM_PRESENT);
	CHECK_EQ(pme(e.mm, a + 5 * 4096), 0); /* VM_SOFTDIRTY went too */
	CHECK_EQ(pme(e.mm, h) & PW_PM_SOFT_DIRTY, 0);
	CHECK_EQ(entry_of(e.mm, a) & PW_RW, 0); /* write-protected */
	/* the next write faults exactly once and sets the bit again */
	CHECK_EQ(write_faults(e.mm, a), 1);
	CHECK_EQ(write_faults(e.mm, a), 0);
	CHECK(pme(e.mm, a) & PW_PM_SOFT_DIRTY);
	CHECK_EQ(pme(e.mm, a + 4096) & PW_PM_SOFT_DIRTY, 0);
	/* shared memory: mapped read-only, so the first write faults */
	CHECK_EQ(write_faults(e.mm, s), 1);
	CHECK(pme(e.mm, s) & PW_PM_SOFT_DIRTY);
	CHECK_EQ(peek(e.mm, s + 4096), 0); /* a read fault after clear_refs: read-only */
	CHECK_EQ(entry_of(e.mm, s + 4096) & PW_RW, 0);
	CHECK_EQ(write_faults(e.mm, s + 4096), 1);
	CHECK(pme(e.mm, s + 4096) & PW_PM_SOFT_DIRTY);
	/* a new page faulted in by a write is soft-dirty */
	CHECK_EQ(write_faults(e.mm, a + 9 * 4096), 1);
	CHECK(pme(e.mm, a + 9 * 4096) & PW_PM_SOFT_DIRTY);
	/* a huge leaf: one fault, all 512 pages soft-dirty, still huge */
	CHECK_EQ(write_faults(e.mm, h + 4096), 1);
	CHECK(pme(e.mm, h + 511 * 4096) & PW_PM_SOFT_DIRTY);
	{
		struct pw_page_region r[4];
		struct pw_pm_scan_arg arg = { .size = sizeof(arg), .start = h, .end = h + (2 << 20),
					      .vec = r, .vec_len = 4,
					      .category_mask = PW_PAGE_IS_SOFT_DIRTY,
					      .return_mask = PW_PAGE_IS_HUGE | PW_PAGE_IS_SOFT_DIRTY };

		CHECK_EQ(pw_pagemap_scan(e.mm, &arg), 1);
		CHECK_EQ(r[0].start, h);
		CHECK_EQ(r[0].end, h + (2 << 20));
		CHECK_EQ(r[0].categories, PW_PAGE_IS_HUGE | PW_PAGE_IS_SOFT_DIRTY);
	}
	/* mprotect keeps the bit */
	CHECK_EQ(pw_mprotect(e.mm, a, 16 << 12, PW_PROT_READ), 0);
	CHECK(pme(e.mm, a) & PW_PM_SOFT_DIRTY);
	CHECK(entry_of(e.mm, a) & PW_SW_SOFTDIRTY);
	/* Accessed-bit clearing leaves soft-dirty alone */
	CHECK(entry_of(e.mm, a) & PW_A);
	CHECK_EQ(pw_clear_refs(e.mm, PW_CLEAR_REFS_ANON), 0);
	CHECK_EQ(entry_of(e.mm, a) & PW_A, 0);
	CHECK(entry_of(e.mm, a) & PW_SW_SOFTDIRTY);
	env_fini(&e);
}

TEST(clear_refs_mapped_and_anon)
{
	struct env e;
	struct pw_file *f;
	uint64_t a, m;

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_file_create(e.a, 1 << 16, &f), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 << 12, PW_PROT_READ, PW_MAP_PRIVATE, &a), 0);
	REQUIRE_EQ(pw_mmap_file(e.mm, 0, 4 << 12, PW_PROT_READ, PW_MAP_SHARED, f, 0, &m), 0);
	CHECK_EQ(peek(e.mm, a), 0);
	CHECK_EQ(peek(e.mm, m), 0);
	CHECK(pme(e.mm, m) & PW_PM_FILE);
	CHECK_EQ(pme(e.mm, a) & PW_PM_FILE, 0);
	CHECK_EQ(pw_clear_refs(e.mm, PW_CLEAR_REFS_MAPPED), 0);
	CHECK(entry_of(e.mm, a) & PW_A);
	CHECK_EQ(entry_of(e.mm, m) & PW_A, 0);
	CHECK_EQ(peek(e.mm, m), 0);
	CHECK_EQ(pw_clear_refs(e.mm, PW_CLEAR_REFS_ALL), 0);
	CHECK_EQ(entry_of(e.mm, a) & PW_A, 0);
	CHECK_EQ(entry_of(e.mm, m) & PW_A, 0);
	pw_mm_destroy(e.mm);
	e.mm = NULL;
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
}

/* ---- write-protect of what matched (PW_PM_SCAN_WP_MATCHING) ------------- */

/* The leaf of @a read from arena memory, 0 if none. */
static uint64_t leaf_val(struct pw_mm *mm, uint64_t a)
{
	struct ref r = ref_leaf(mm, a);

	return r.mapped ? r.leaf : 0;
}

/*
 * Random spaces, random writes, random WP_MATCHING scans: the regions and
 * walk_end as the reference says, and afterwards exactly the 4 KiB leaves
 * reported WRITTEN lost RW (huge ones only when reported whole); nothing
 * else changed.
 */
TEST(wp_matching_random)
{
	enum { VEC = 64, MAXP = 1 << 13 };
	struct pw_page_region got[VEC], want[VEC];
	static uint64_t before[MAXP];
	static bool wp[MAXP];
	struct env e;
	struct pw_file *f;
	uint64_t bad = 0, nr_wp = 0;

	env_init(&e, 4, 3ULL << 30);
	REQUIRE_EQ(pw_file_create(e.a, 1 << 20, &f), 0);
	random_space(e.mm, f);
	for (int round = 0; round < 150; round++) {
		struct pw_pm_scan_arg a = {
			.size = sizeof(a),
			.flags = PW_PM_SCAN_WP_MATCHING,
			.start = near_vma(e.mm),
			.vec = got,
			.vec_len = rnd(5) ? 1 + rnd(VEC) : 0,
			.max_pages = rnd(3) ? 0 : 1 + rnd(2048),
			.category_inverted = rnd(3) ? 0 : rnd_mask(),
			.category_mask = rnd(2) ? PW_PAGE_IS_WRITTEN : rnd_mask(),
			.category_anyof_mask = rnd(3) ? 0 : rnd_mask(),
			.return_mask = rnd(4) ? rnd_mask() | PW_PAGE_IS_WRITTEN : 0,
		};
		uint64_t wend, n_pages;
		int64_t n, wn;

		if (!a.vec_len)
			a.vec = NULL;
		for (int w = 0; w < 16; w++) {
			uint64_t p = near_vma(e.mm) + (rnd(64) << 12);

			pw_access(e.mm, NULL, p, rnd(3) ? PW_FAULT_WRITE | PW_FAULT_USER : PW_FAULT_USER, NULL);
		}
		n_pages = 1 + rnd(MAXP - 1);
		a.end = a.start + (n_pages << 12);
		memset(wp, 0, sizeof(wp));
		pw_mmap_read_lock(e.mm);
		for (uint64_t i = 0; i < n_pages; i++)
			before[i] = leaf_val(e.mm, a.start + (i << 12));
		wn = ref_scan(e.mm, &a, want, &wend, wp);
		pw_mmap_read_unlock(e.mm);
		n = pw_pagemap_scan(e.mm, &a);
		if (n != wn || a.walk_end != wend || (n > 0 && memcmp(got, want, (size_t)n * sizeof(*got)))) {
			if (bad++ < 3)
				printf("# round %d: %ld regions (want %ld), walk_end %#lx (want %#lx)\n", round,
				       (long)n, (long)wn, (unsigned long)a.walk_end, (unsigned long)wend);
			continue;
		}
		pw_mmap_read_lock(e.mm);
		for (uint64_t i = 0; i < n_pages; i++) {
			uint64_t va = a.start + (i << 12), now = leaf_val(e.mm, va), exp = before[i];
			struct ref r = ref_leaf(e.mm, va);

			if (r.mapped && r.level == 0 && wp[i] && (exp & PW_RW))
				exp &= ~(uint64_t)PW_RW;
			if (r.mapped && r.level == 1 && (exp & PW_RW)) {
				uint64_t head = va & ~((2ULL << 20) - 1), j0 = (head - a.start) >> 12;
				bool whole = head >= a.start && head + (2 << 20) <= a.end;

				for (uint64_t j = 0; whole && j < 512; j++)
					whole = wp[j0 + j];
				if (whole)
					exp &= ~(uint64_t)PW_RW;
			}
			if (now != exp && bad++ < 6)
				printf("# round %d: %#lx: leaf %#lx, want %#lx\n", round, (unsigned long)va,
				       (unsigned long)now, (unsigned long)exp);
			nr_wp += now != before[i];
		}
		pw_mmap_read_unlock(e.mm);
	}
	CHECK_EQ(bad, 0);
	CHECK(nr_wp > 0); /* the rounds did write-protect something */
	pw_mm_destroy(e.mm);
	e.mm = NULL;
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
}

/* The pages of [start, start + n pages) that a WRITTEN + WP_MATCHING scan reports, as bits. */
static int64_t wp_round(struct pw_mm *mm, uint64_t start, uint64_t n, uint64_t *bits)
{
	struct pw_page_region r[256];
	struct pw_pm_scan_arg a = { .size = sizeof(a), .flags = PW_PM_SCAN_WP_MATCHING,
				    .start = start, .end = start + (n << 12), .vec = r, .vec_len = 256,
				    .category_mask = PW_PAGE_IS_WRITTEN,
				    .return_mask = PW_PAGE_IS_WRITTEN };
	int64_t nr = pw_pagemap_scan(mm, &a);

	CHECK_EQ(a.walk_end, a.end);
	for (int64_t i = 0; i < nr; i++) {
		CHECK_EQ(r[i].categories, PW_PAGE_IS_WRITTEN);
		for (uint64_t p = r[i].start; p < r[i].end; p += 4096)
			bits[(p - start) >> 18] |= 1ULL << (((p - start) >> 12) & 63);
	}
	return nr;
}

/*
 * Rounds of write tracking on a shared file mapping: what a WP_MATCHING
 * scan of the address space reports written is what the dirty helpers'
 * clean-record of the file reports dirty, and what the test wrote; each
 * written page faults once per round, on its first write.
 */
TEST(wp_rounds_vs_dirty_helpers)
{
	enum { N = 512, W = N / 64 };
	struct env e;
	struct pw_file *f;
	uint64_t m, bs, be;

	env_init(&e, 4, 256 << 20);
	REQUIRE_EQ(pw_file_create(e.a, N << 12, &f), 0);
	REQUIRE_EQ(pw_mmap_file(e.mm, 0, N << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, f, 0, &m), 0);
	/* populated (read-only) first: holes read written to a scan, the dirty helpers skip them */
	for (uint64_t i = 0; i < N; i++)
		CHECK(peek(e.mm, m + (i << 12)) >= 0);
	for (int round = 0; round < 24; round++) {
		uint64_t scan[W] = { 0 }, dirty[W] = { 0 }, wrote[W] = { 0 };
		unsigned faults = 0, extra = 0;

		for (int w = 0; w < 40; w++) {
			uint64_t i = rnd(N);

			if (rnd(4) == 0) {
				CHECK(peek(e.mm, m + (i << 12)) >= 0); /* reads are not writes */
				continue;
			}
			faults += write_faults(e.mm, m + (i << 12)) && !(wrote[i / 64] & (1ULL << (i % 64)));
			extra += write_faults(e.mm, m + (i << 12)); /* a second write: no fault */
			wrote[i / 64] |= 1ULL << (i % 64);
		}
		wp_round(e.mm, m, N, scan);
		bs = N;
		be = 0;
		pw_clean_record_shared_mapping_range(f, 0, N, 0, dirty, &bs, &be);
		if (round == 0)
			continue; /* the first round starts from pages faulted before any tracking */
		CHECK_EQ(extra, 0);
		CHECK_EQ(memcmp(scan, dirty, sizeof(scan)), 0);
		CHECK_EQ(memcmp(scan, wrote, sizeof(scan)), 0);
		for (unsigned k = 0, n = 0; k < W; k++, faults -= n)
			n = (unsigned)__builtin_popcountll(wrote[k]);
		CHECK_EQ(faults, 0); /* one fault per page written */
	}
	CHECK_EQ(pw_dirty_huge_skipped(f), 0);
	pw_mm_destroy(e.mm);
	e.mm = NULL;
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
}

static int64_t scan1(struct pw_mm *mm, uint64_t start, uint64_t end, uint64_t flags, uint64_t mask,
		     uint64_t max_pages, struct pw_page_region *r, uint64_t vec_len, uint64_t *walk_end)
{
	struct pw_pm_scan_arg a = { .size = sizeof(a), .flags = flags, .start = start, .end = end,
				    .vec = vec_len ? r : NULL, .vec_len = vec_len,
				    .max_pages = max_pages, .category_mask = mask,
				    .return_mask = PW_PM_SCAN_CATEGORIES & ~PW_PAGE_IS_SOFT_DIRTY };
	int64_t n = pw_pagemap_scan(mm, &a);

	if (walk_end)
		*walk_end = a.walk_end;
	return n;
}

#define GETWP (PW_PM_SCAN_WP_MATCHING | PW_PM_SCAN_CHECK_WPASYNC)
#define WA (PW_PAGE_IS_WPALLOWED | PW_PAGE_IS_WRITTEN | PW_PAGE_IS_PRESENT)

/* The kernel selftest's (pagemap_ioctl.c) scenarios, against this API. */
TEST(wp_selftest_scenarios)
{
	struct env e;
	struct pw_page_region r[8];
	uint64_t a, h, we, n = 16;

	env_init(&e, 4, 128 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, n << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &a), 0);
	/* unpopulated: WP-allowed and written, also after WP_MATCHING (no marker to arm) */
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), 0, 0, 0, r, 8, NULL), 1);
	CHECK_EQ(r[0].categories, PW_PAGE_IS_WPALLOWED | PW_PAGE_IS_WRITTEN);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 1);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 1);
	CHECK_EQ(r[0].end - r[0].start, n << 12);
	CHECK_EQ(r[0].categories, PW_PAGE_IS_WPALLOWED | PW_PAGE_IS_WRITTEN);
	/* all pages written: one region; after the WP scan, none */
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(poke(e.mm, a + (i << 12), 1), 0);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 8, &we), 1);
	CHECK_EQ(r[0].start, a);
	CHECK_EQ(r[0].end, a + (n << 12));
	CHECK_EQ(r[0].categories, WA);
	CHECK_EQ(we, a + (n << 12));
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 0);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), 0, PW_PAGE_IS_PRESENT, 0, r, 8, NULL), 1);
	CHECK_EQ(r[0].categories, PW_PAGE_IS_WPALLOWED | PW_PAGE_IS_PRESENT);
	/* one page in the middle, written once: faults once, reported once */
	CHECK_EQ(write_faults(e.mm, a + (5 << 12)), 1);
	CHECK_EQ(write_faults(e.mm, a + (5 << 12)), 0);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 1);
	CHECK_EQ(r[0].start, a + (5 << 12));
	CHECK_EQ(r[0].end, a + (6 << 12));
	CHECK_EQ(write_faults(e.mm, a + (5 << 12)), 1);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 1);
	/* max_pages: only that many reported and protected; the rest next time */
	for (uint64_t i = 0; i < n; i++)
		poke(e.mm, a + (i << 12), 2);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), GETWP, PW_PAGE_IS_WRITTEN, 3, r, 8, &we), 1);
	CHECK_EQ(r[0].end - r[0].start, 3 << 12);
	CHECK_EQ(we, a + (3 << 12));
	CHECK(entry_of(e.mm, a + (3 << 12)) & PW_RW); /* not reported: still written */
	CHECK_EQ(entry_of(e.mm, a + (2 << 12)) & PW_RW, 0);
	CHECK_EQ(scan1(e.mm, we, a + (n << 12), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 1);
	CHECK_EQ(r[0].start, a + (3 << 12));
	CHECK_EQ(r[0].end, a + (n << 12));
	/* a full vector: the regions that fit, walk_end at the first that did not */
	CHECK_EQ(poke(e.mm, a, 3), 0);
	CHECK_EQ(poke(e.mm, a + (2 << 12), 3), 0);
	CHECK_EQ(poke(e.mm, a + (4 << 12), 3), 0);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 1, &we), 1);
	CHECK_EQ(we, a + (2 << 12));
	CHECK(entry_of(e.mm, a + (2 << 12)) & PW_RW);
	CHECK_EQ(scan1(e.mm, we, a + (n << 12), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 2);
	/* no output vector: protect every written page, report nothing */
	CHECK_EQ(poke(e.mm, a + (7 << 12), 4), 0);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 0, &we), 0);
	CHECK_EQ(we, a + (n << 12));
	CHECK_EQ(entry_of(e.mm, a + (7 << 12)) & PW_RW, 0);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), 0, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 0);
	/* the data survived every round */
	CHECK_EQ(peek(e.mm, a + (7 << 12)), 4);
	CHECK_EQ(peek(e.mm, a + (9 << 12)), 2);

	/* a huge leaf: protected only when reported whole */
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 << 20, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_HUGE_2M, &h), 0);
	h = (h + (2 << 20) - 1) & ~((2ULL << 20) - 1);
	CHECK_EQ(write_faults(e.mm, h), 1);
	CHECK(entry_of(e.mm, h + 4096) & PW_PS);
	CHECK_EQ(scan1(e.mm, h, h + (2 << 20), GETWP, PW_PAGE_IS_WRITTEN, 10, r, 8, &we), 1);
	CHECK_EQ(r[0].end - r[0].start, 10 << 12);
	CHECK_EQ(r[0].categories, WA | PW_PAGE_IS_HUGE);
	CHECK(entry_of(e.mm, h) & PW_RW); /* a part: left writable (no split here) */
	CHECK_EQ(scan1(e.mm, h + 4096, h + (2 << 20), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 1);
	CHECK(entry_of(e.mm, h) & PW_RW); /* the walk covered part of it only */
	CHECK_EQ(scan1(e.mm, h, h + (2 << 20), GETWP, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 1);
	CHECK_EQ(r[0].end - r[0].start, 2 << 20);
	CHECK_EQ(entry_of(e.mm, h) & PW_RW, 0);
	CHECK(entry_of(e.mm, h) & PW_PS); /* still huge */
	CHECK_EQ(scan1(e.mm, h, h + (2 << 20), 0, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 0);
	CHECK_EQ(write_faults(e.mm, h + 8192), 1);
	CHECK_EQ(scan1(e.mm, h, h + (2 << 20), 0, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 1);
	CHECK_EQ(r[0].end - r[0].start, 2 << 20);

	/* after mprotect(READ) the VMA is not WP-allowed: every present page is "written" */
	CHECK_EQ(pw_mprotect(e.mm, a, n << 12, PW_PROT_READ), 0);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), PW_PM_SCAN_CHECK_WPASYNC, 0, 0, r, 8, NULL), -EPERM);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), 0, PW_PAGE_IS_WRITTEN, 0, r, 8, NULL), 1);
	CHECK_EQ(r[0].categories, PW_PAGE_IS_WRITTEN | PW_PAGE_IS_PRESENT);
	CHECK_EQ(scan1(e.mm, a, a + (n << 12), PW_PM_SCAN_WP_MATCHING, 0, 0, r, 8, NULL), 0);
	env_fini(&e);
}

/* ---- bad input ----------------------------------------------------------- */


/* Device-exclusive entries read as the kernel's swap entries. */
TEST(device_exclusive_reads_as_swap)
{
	struct env e;
	uint64_t a, fr[2], pm[4], pfn1;
	struct pw_page_region r[4];
	struct pw_pm_scan_arg arg = { .size = sizeof(arg) };
	struct pw_translation t;

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 << 12, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_POPULATE, &a), 0);
	pw_mmap_read_lock(e.mm);
	REQUIRE_EQ(pw_translate(e.mm, a + 4096, &t), 0);
	pw_mmap_read_unlock(e.mm);
	pfn1 = t.pfn;
	REQUIRE_EQ(pw_make_device_exclusive_range(e.mm, a + 4096, a + 3 * 4096, &e, fr), 2);
	CHECK_EQ(fr[0], pfn1);
	REQUIRE_EQ(pw_pagemap_read(e.mm, a, 4, pm), 4);
	CHECK(pm[0] & PW_PM_PRESENT);
	CHECK_EQ(pm[1] & (PW_PM_PRESENT | PW_PM_SWAP), PW_PM_SWAP);
	CHECK_EQ(pm[1] & PW_PM_PFRAME_MASK, 1 | (pfn1 << 5)); /* type 1, offset the frame */
	CHECK(pm[1] & PW_PM_MMAP_EXCLUSIVE);
	CHECK(pm[1] & PW_PM_SOFT_DIRTY); /* written by the populate fault, kept by the entry */
	CHECK_EQ(pm[1] & PW_PM_FILE, 0);
	CHECK_EQ(pm[2] & (PW_PM_PRESENT | PW_PM_SWAP), PW_PM_SWAP);
	arg.start = a;
	arg.end = a + 4 * 4096;
	arg.vec = r;
	arg.vec_len = 4;
	arg.category_mask = PW_PAGE_IS_SWAPPED;
	arg.return_mask = PW_PAGE_IS_SWAPPED | PW_PAGE_IS_PRESENT;
	CHECK_EQ(pw_pagemap_scan(e.mm, &arg), 1);
	CHECK_EQ(r[0].start, a + 4096);
	CHECK_EQ(r[0].end, a + 3 * 4096);
	CHECK_EQ(r[0].categories, PW_PAGE_IS_SWAPPED);
	/* a CPU access restores it: present again, same frame */
	CHECK_EQ(pw_access(e.mm, NULL, a + 4096, PW_FAULT_USER, NULL), 0);
	REQUIRE_EQ(pw_pagemap_read(e.mm, a + 4096, 1, pm), 1);
	CHECK(pm[0] & PW_PM_PRESENT);
	CHECK_EQ(pm[0] & PW_PM_PFRAME_MASK, pfn1);
	pw_put_user_pages(e.mm, fr, 2, 0);
	env_fini(&e);
}

TEST(bad_input)
{
	struct env e;
	uint64_t a, ro, out[4] = { 7, 7, 7, 7 }, before;
	struct pw_page_region r[2] = { { 9, 9, 9 }, { 9, 9, 9 } };
	struct pw_pm_scan_arg good = { .size = sizeof(good), .vec = r, .vec_len = 2,
				       .return_mask = PW_PAGE_IS_PRESENT }, arg;

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &a), 0);
	CHECK_EQ(poke(e.mm, a, 1), 0);
	good.start = a;
	good.end = a + (4 << 12);
	good.walk_end = 0x1234;

	CHECK_EQ(pw_pagemap_read(e.mm, a + 1, 1, out), -EINVAL);
	CHECK_EQ(pw_pagemap_read(NULL, a, 1, out), -EINVAL);
	CHECK_EQ(pw_pagemap_read(e.mm, a, 1, NULL), -EFAULT);
	CHECK_EQ(out[0], 7);
	/* past the end of user space: a short read */
	CHECK_EQ(pw_pagemap_read(e.mm, (1ULL << 47) - 8192, 4, out), 2);
	CHECK_EQ(out[2], 7);
	CHECK_EQ(pw_pagemap_read(e.mm, 1ULL << 47, 4, out), 0);

#define SCAN_BAD(field, value, err)                                     \
	do {                                                            \
		arg = good;                                             \
		arg.field = (value);                                    \
		CHECK_EQ(pw_pagemap_scan(e.mm, &arg), err);             \
		CHECK_EQ(arg.walk_end, 0x1234);                         \
		CHECK_EQ(r[0].start, 9);                                \
	} while (0)
	SCAN_BAD(size, sizeof(good) - 8, -EINVAL);
	SCAN_BAD(flags, 1ULL << 2, -EINVAL);
	SCAN_BAD(category_mask, 1ULL << 8, -EINVAL);
	SCAN_BAD(category_inverted, 1ULL << 40, -EINVAL);
	SCAN_BAD(return_mask, 1ULL << 9, -EINVAL);
	SCAN_BAD(category_anyof_mask, 1ULL << 63, -EINVAL);
	SCAN_BAD(start, a + 8, -EINVAL);
	SCAN_BAD(end, a - 4096, -EFAULT);
	SCAN_BAD(end, (1ULL << 47) + 4096, -EFAULT);
	SCAN_BAD(vec, NULL, -EINVAL);
	CHECK_EQ(pw_pagemap_scan(e.mm, NULL), -EFAULT);
	CHECK_EQ(pw_pagemap_scan(NULL, &good), -EINVAL);
	/* CHECK_WPASYNC over a read-only VMA: -EPERM, nothing protected */
	REQUIRE_EQ(pw_mmap(e.mm, a + (4 << 12), 4 << 12, PW_PROT_READ, PW_MAP_PRIVATE | PW_MAP_FIXED, &ro), 0);
	before = entry_of(e.mm, a);
	arg = good;
	arg.end = ro + (4 << 12);
	arg.flags = PW_PM_SCAN_CHECK_WPASYNC | PW_PM_SCAN_WP_MATCHING;
	arg.vec_len = 0;
	arg.vec = NULL;
	CHECK_EQ(pw_pagemap_scan(e.mm, &arg), -EPERM);
	CHECK_EQ(arg.walk_end, ro + (4 << 12));
	CHECK_EQ(entry_of(e.mm, a) & PW_RW, 0); /* the writable VMA before it was done */
	CHECK_EQ(poke(e.mm, a, 2), 0);
	/* WP_MATCHING alone skips the read-only VMA */
	arg = good;
	arg.end = ro + (4 << 12);
	arg.flags = PW_PM_SCAN_WP_MATCHING;
	arg.return_mask = PW_PAGE_IS_WPALLOWED;
	CHECK_EQ(pw_pagemap_scan(e.mm, &arg), 1);
	CHECK_EQ(r[0].start, a);
	CHECK_EQ(r[0].end, ro);
	CHECK_EQ(r[0].categories, PW_PAGE_IS_WPALLOWED);
	CHECK_EQ(arg.walk_end, ro + (4 << 12));
	r[0] = (struct pw_page_region){ 9, 9, 9 };
	/* inverted masks that select nothing */
	arg = good;
	arg.category_mask = PW_PAGE_IS_PRESENT;
	arg.category_inverted = PW_PAGE_IS_PRESENT | PW_PAGE_IS_SOFT_DIRTY;
	arg.category_anyof_mask = PW_PAGE_IS_SOFT_DIRTY;
	CHECK_EQ(pw_pagemap_scan(e.mm, &arg), 0);
	CHECK_EQ(arg.walk_end, good.end);
	CHECK_EQ(r[0].start, 9);
	/* a one-region buffer: the first region, and walk_end where the next begins */
	arg = good;
	arg.vec_len = 1;
	arg.return_mask = PW_PAGE_IS_PRESENT;
	CHECK_EQ(pw_pagemap_scan(e.mm, &arg), 1);
	CHECK_EQ(r[0].start, a);
	CHECK_EQ(r[0].end, a + 4096);
	CHECK_EQ(arg.walk_end, a + 4096);
	CHECK_EQ(r[1].start, 9);

	before = entry_of(e.mm, a);
	CHECK_EQ(pw_clear_refs(e.mm, 0), -EINVAL);
	CHECK_EQ(pw_clear_refs(e.mm, 5), -EINVAL);
	CHECK_EQ(pw_clear_refs(NULL, PW_CLEAR_REFS_ALL), -EINVAL);
	CHECK_EQ(entry_of(e.mm, a), before);
	env_fini(&e);
}

int main(void)
{
	tap_start();
	tap_seed("test_pagemap");
	RUN(random_4level);
	RUN(random_5level);
	RUN(soft_dirty_round_trip);
	RUN(clear_refs_mapped_and_anon);
	RUN(wp_matching_random);
	RUN(wp_rounds_vs_dirty_helpers);
	RUN(wp_selftest_scenarios);
	RUN(device_exclusive_reads_as_swap);
	RUN(bad_input);
	return tap_done();
}
