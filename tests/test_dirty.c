// SPDX-License-Identifier: MIT
/*
 * Description: dirty tracking of shared file mappings (the vmwgfx scenario),
 * pw_walk_page_mapping, huge entries, the [start, end) contract, and a
 * missing TLB flush made visible.
 */
#include <pagewalk/dirty.h>
#include <pagewalk/file.h>
#include <pagewalk/mm.h>
#include <pagewalk/notifier.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/tlb.h>

#include "../tests/tap.h"
#include "mm/mm.h"

#define PG 4096ULL
#define NPAGES 64

static int poke(struct pw_mm *mm, const struct pw_cpu *cpu, uint64_t addr, uint8_t val)
{
	struct pw_access_result r;
	int ret = pw_access(mm, cpu, addr, PW_FAULT_WRITE | PW_FAULT_USER, &r);

	if (!ret)
		((uint8_t *)pw_arena_base(pw_mm_arena(mm)))[r.phys] = val;
	return ret;
}

static bool test_bit(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

/* Three address spaces share a file at different addresses and offsets. */
struct scene {
	struct pw_arena *a;
	struct pw_file *f;
	struct pw_mm *mm[3];
	uint64_t addr[3], pgoff[3], npages[3];
	uint64_t priv; /* a private mapping of the whole file in mm[0] */
};

static int scene_init(struct scene *s)
{
	static const uint64_t off[3] = { 2, 16, 8 }, n[3] = { 32, 48, 32 };
	int ret;

	memset(s, 0, sizeof(*s));
	if ((ret = pw_arena_create(64 << 20, &s->a)) || (ret = pw_file_create(s->a, NPAGES * PG, &s->f)))
		return ret;
	for (int i = 0; i < 3; i++) {
		s->pgoff[i] = off[i];
		s->npages[i] = n[i];
		if ((ret = pw_mm_create(s->a, NULL, &s->mm[i])))
			return ret;
		/* a different address in each mm: a small anonymous mapping first */
		if ((ret = pw_mmap(s->mm[i], 0, (uint64_t)(i + 1) * 3 * PG, PW_PROT_READ, PW_MAP_PRIVATE, NULL)))
			return ret;
		if ((ret = pw_mmap_file(s->mm[i], 0, n[i] * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED,
					s->f, off[i], &s->addr[i])))
			return ret;
	}
	return pw_mmap_file(s->mm[0], 0, NPAGES * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, s->f, 0,
			    &s->priv);
}

static void scene_fini(struct scene *s)
{
	for (int i = 0; i < 3; i++)
		pw_mm_destroy(s->mm[i]);
	CHECK_EQ(pw_file_destroy(s->f), 0);
	pw_arena_destroy(s->a);
}

TEST(vmwgfx_rounds_match_write_log)
{
	struct scene s;

	REQUIRE_EQ(scene_init(&s), 0);
	const uint64_t first = 2, nr = NPAGES - 2, bpg = 1; /* bitmap starts one page below */
	for (int round = 0; round < 30; round++) {
		bool logged[NPAGES] = { 0 }, pair[3][NPAGES] = { { 0 } };
		uint64_t pairs = 0, nwrites = tap_rand() % 40;

		for (uint64_t w = 0; w < nwrites; w++) {
			int m = (int)(tap_rand() % 3);
			uint64_t p = tap_rand() % s.npages[m];

			CHECK_EQ(poke(s.mm[m], NULL, s.addr[m] + p * PG + tap_rand() % PG, (uint8_t)w), 0);
			logged[s.pgoff[m] + p] = true;
			if (!pair[m][p])
				pairs++;
			pair[m][p] = true;
			/* private writes are never tracked */
			CHECK_EQ(poke(s.mm[0], NULL, s.priv + (tap_rand() % NPAGES) * PG, 1), 0);
		}
		uint64_t bitmap[2] = { 0 }, start, end;

		/* the [start, end) in/out contract: three shapes */
		if (round % 3 == 0) {
			start = 5; end = 5;		/* empty */
		} else if (round % 3 == 1) {
			start = 40; end = 41;		/* one bit already set by the caller */
		} else {
			start = 9; end = 0;		/* empty, start > end */
		}
		uint64_t in_start = start, in_end = end, nwp, ncl;
		bool fused = round & 2; /* rounds 2, 3, 6, 7, ...: the one-pass form */

		if (fused) {
			nwp = 12345;
			ncl = pw_wp_clean_record_shared_mapping_range(s.f, first, nr, bpg, bitmap, &start, &end,
								      &nwp);
		} else {
			nwp = pw_wp_shared_mapping_range(s.f, first, nr);
			ncl = pw_clean_record_shared_mapping_range(s.f, first, nr, bpg, bitmap, &start, &end);
		}

		CHECK_EQ(nwp, pairs);
		CHECK_EQ(ncl, pairs);
		uint64_t lo = UINT64_MAX, hi = 0;
		for (uint64_t p = 0; p < NPAGES; p++) {
			bool bit = p >= bpg && test_bit(bitmap, p - bpg);

			CHECK_EQ(bit, logged[p]);
			if (logged[p]) {
				lo = lo < p - bpg ? lo : p - bpg;
				hi = hi > p - bpg + 1 ? hi : p - bpg + 1;
			}
		}
		if (in_start < in_end) {
			lo = lo < in_start ? lo : in_start;
			hi = hi > in_end ? hi : in_end;
		}
		if (lo == UINT64_MAX) {
			CHECK_EQ(start, nr); /* still empty: the kernel's sentinel */
			CHECK_EQ(end, 0);
		} else {
			CHECK_EQ(start, lo);
			CHECK_EQ(end, hi);
		}
		/* a second round right away finds nothing */
		uint64_t bm2[2] = { 0 }, s2 = 1, e2 = 0, nwp2 = 1;
		if (fused) {
			CHECK_EQ(pw_wp_clean_record_shared_mapping_range(s.f, first, nr, bpg, bm2, &s2, &e2, &nwp2), 0);
			CHECK_EQ(nwp2, 0);
		} else {
			CHECK_EQ(pw_wp_shared_mapping_range(s.f, first, nr), 0);
			CHECK_EQ(pw_clean_record_shared_mapping_range(s.f, first, nr, bpg, bm2, &s2, &e2), 0);
		}
		CHECK_EQ(bm2[0] | bm2[1], 0);
		CHECK(s2 >= e2);
		if (tap_cur_failed)
			break;
	}
	scene_fini(&s);
}

struct visit {
	int n;
	struct pw_mm *mm[8];
	uint64_t start[8], end[8];
	struct pw_vma *skip;
};

static int rec_pre(uint64_t start, uint64_t end, struct pw_mm_walk *walk)
{
	struct visit *v = walk->private;

	v->mm[v->n] = walk->mm;
	v->start[v->n] = start;
	v->end[v->n] = end;
	v->n++;
	return 0;
}

static int rec_test(uint64_t start, uint64_t end, struct pw_mm_walk *walk)
{
	struct visit *v = walk->private;

	return walk->vma == v->skip;
}

TEST(walk_page_mapping_visits_intersecting_vmas)
{
	struct scene s;
	struct pw_walk_ops ops = { .pre_vma = rec_pre };
	struct visit v = { 0 };

	REQUIRE_EQ(scene_init(&s), 0);
	/* the private VMA at offset 0 (the first in i_mmap order), for test_walk
	 * below: looked up first, as the mmap lock comes before the i_mmap lock */
	pw_mmap_read_lock(s.mm[0]);
	v.skip = pw_vma_lookup(s.mm[0], s.priv);
	pw_mmap_read_unlock(s.mm[0]);
	/* no mmap lock held anywhere: the i_mmap lock only */
	pw_i_mmap_lock_read(s.f);
	/* offsets [40, 44): only mm[1] (16..64) and the private one (0..64) */
	CHECK_EQ(pw_walk_page_mapping(s.f, 40, 4, &ops, &v), 0);
	REQUIRE_EQ(v.n, 2);
	for (int i = 0; i < v.n; i++) {
		if (v.mm[i] == s.mm[1]) {
			CHECK_EQ(v.start[i], s.addr[1] + (40 - 16) * PG);
			CHECK_EQ(v.end[i], s.addr[1] + (44 - 16) * PG);
		} else {
			CHECK(v.mm[i] == s.mm[0]);
			CHECK_EQ(v.start[i], s.priv + 40 * PG);
		}
	}
	/* [0, 2): the private mapping only; [33, 34): mm[0]'s shared one ends at 34 */
	v.n = 0;
	CHECK_EQ(pw_walk_page_mapping(s.f, 0, 2, &ops, &v), 0);
	CHECK_EQ(v.n, 1);
	v.n = 0;
	CHECK_EQ(pw_walk_page_mapping(s.f, 33, 1, &ops, &v), 0);
	CHECK_EQ(v.n, 4);
	v.n = 0;
	CHECK_EQ(pw_walk_page_mapping(s.f, 34, 1, &ops, &v), 0);
	CHECK_EQ(v.n, 3);
	v.n = 0;
	CHECK_EQ(pw_walk_page_mapping(s.f, 64, 10, &ops, &v), 0);
	CHECK_EQ(v.n, 0);
	/* a positive test_walk skips that VMA only (the kernel would stop) */
	ops.test_walk = rec_test;
	v.n = 0;
	CHECK_EQ(pw_walk_page_mapping(s.f, 0, NPAGES, &ops, &v), 0);
	CHECK_EQ(v.n, 3);
	CHECK_EQ(pw_walk_page_mapping(s.f, 0, 0, &ops, &v), -EINVAL);
	CHECK_EQ(pw_walk_page_mapping(NULL, 0, 1, &ops, &v), -EINVAL);
	pw_i_mmap_unlock_read(s.f);
	scene_fini(&s);
}

/* The PMD entry for @addr, with the tables above it present. */
static uint64_t *pmd_slot(struct pw_mm *mm, uint64_t addr)
{
	uint64_t pfn = mm->pt.root_pfn;

	for (int l = pw_root_level(mm->pt.cfg.levels); l > PW_LEVEL_PMD; l--)
		pfn = pw_pt_next_pfn(&mm->pt, pw_pt_table(&mm->pt, pfn)[pw_index(l, addr)]);
	return pw_pt_table(&mm->pt, pfn) + pw_index(PW_LEVEL_PMD, addr);
}

TEST(huge_entries_skipped_not_split)
{
	struct pw_arena *a;
	struct pw_file *f;
	struct pw_mm *mm;
	uint64_t x = 1ULL << 30, blk, bm[16] = { 0 }, st = 1, en = 0, free0;

	REQUIRE_EQ(pw_arena_create(64 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_file_create(a, 1024 * PG, &f), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &mm), 0);
	REQUIRE_EQ(pw_mmap_file(mm, x, 1024 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_FIXED,
				f, 0, NULL), 0);
	CHECK_EQ(poke(mm, NULL, x + (2 << 20) + 5 * PG, 1), 0); /* tables for the second 2 MiB */
	/* a writable, dirty 2 MiB leaf in the first 2 MiB (as a THP would be) */
	REQUIRE_EQ(pw_frame_alloc(a, 9, &blk), 0);
	pw_frame_meta(a, blk)->mapcount = 1;
	__atomic_fetch_add(&mm->rss, 512, __ATOMIC_RELAXED);
	uint64_t *pmd = pmd_slot(mm, x);
	uint64_t huge = pw_mk_leaf(PW_LEVEL_PMD, blk, PW_P | PW_RW | PW_US | PW_A | PW_D);
	pw_entry_write(pmd, huge);
	CHECK_EQ(pw_wp_shared_mapping_range(f, 0, 1024), 1);
	CHECK_EQ(pw_clean_record_shared_mapping_range(f, 0, 1024, 0, bm, &st, &en), 1);
	CHECK_EQ(st, 512 + 5);
	CHECK_EQ(en, 512 + 6);
	CHECK_EQ(pw_entry_read(pmd), huge); /* not split, not changed */
	CHECK_EQ(pw_dirty_huge_skipped(f), 2);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(bm[i], 0); /* nothing recorded for the huge entry */
	pw_mm_destroy(mm);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

/*
 * One page written through a CPU with a TLB, a round, the same page written
 * again, a second round. Return whether the second round recorded the page.
 */
static bool second_write_recorded(bool skip_flush)
{
	struct pw_arena *a;
	struct pw_file *f;
	struct pw_mm *mm;
	struct pw_tlb *tlb;
	struct pw_cpu cpu = PW_CPU_DEFAULT;
	uint64_t x, bm = 0, st = 1, en = 0;
	bool ok;

	if (pw_arena_create(16 << 20, &a) || pw_file_create(a, 8 * PG, &f) || pw_mm_create(a, NULL, &mm) ||
	    pw_tlb_create(mm, 64, &tlb))
		abort();
	cpu.tlb = tlb;
	if (pw_mmap_file(mm, 0, 8 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, f, 0, &x) ||
	    poke(mm, &cpu, x + 3 * PG, 1) || poke(mm, &cpu, x + 3 * PG, 2))
		abort();
	pw_debug_skip_tlb_flush = skip_flush;
	pw_wp_shared_mapping_range(f, 0, 8);
	pw_clean_record_shared_mapping_range(f, 0, 8, 0, &bm, &st, &en);
	if (bm != 1u << 3)
		abort();
	if (poke(mm, &cpu, x + 3 * PG, 3))
		abort();
	bm = 0;
	pw_wp_shared_mapping_range(f, 0, 8);
	pw_clean_record_shared_mapping_range(f, 0, 8, 0, &bm, &st, &en);
	pw_debug_skip_tlb_flush = false;
	ok = bm == 1u << 3;
	pw_tlb_destroy(tlb);
	pw_mm_destroy(mm);
	pw_file_destroy(f);
	pw_arena_destroy(a);
	return ok;
}

TEST(missing_flush_is_caught)
{
	/* With the flush the write after a round faults and is recorded ... */
	CHECK(second_write_recorded(false));
	/* ... and without it the stale TLB entry lets it through unrecorded,
	 * which is what the check above would catch. */
	CHECK(!second_write_recorded(true));
}

struct nstat {
	struct pw_mmu_notifier mn;
	int starts, ends, depth, bad;
	uint64_t rs, re, fs, fe;
	int flushes;
};

static int n_start(struct pw_mmu_notifier *mn, const struct pw_mmu_notifier_range *r)
{
	struct nstat *n = (struct nstat *)mn;

	n->starts++;
	n->depth++;
	n->rs = r->start;
	n->re = r->end;
	if (r->event != PW_MMU_NOTIFY_PROTECTION_PAGE || r->owner)
		n->bad++;
	return 0;
}

static void n_end(struct pw_mmu_notifier *mn, const struct pw_mmu_notifier_range *r)
{
	struct nstat *n = (struct nstat *)mn;

	n->ends++;
	n->depth--;
}

static void n_flush(struct pw_mmu_notifier *mn, struct pw_mm *mm, uint64_t s, uint64_t e)
{
	struct nstat *n = (struct nstat *)mn;

	if (n->depth != 1 || s < n->rs || e > n->re)
		n->bad++; /* a flush must come inside the VMA's bracket */
	n->fs = s;
	n->fe = e;
	n->flushes++;
}

static const struct pw_mmu_notifier_ops nops = {
	.invalidate_range_start = n_start,
	.invalidate_range_end = n_end,
	.arch_invalidate_secondary_tlbs = n_flush,
};

TEST(notifiers_bracket_each_vma_and_flush_window_is_minimal)
{
	struct scene s;
	struct nstat n = { .mn.ops = &nops };

	REQUIRE_EQ(scene_init(&s), 0);
	REQUIRE_EQ(pw_mmu_notifier_register(&n.mn, s.mm[1]), 0);
	CHECK_EQ(pw_mmu_notifier_register(&n.mn, s.mm[1]), -EEXIST);
	/* mm[1] maps offsets 16..64 at addr[1]; write pages 20 and 30 */
	CHECK_EQ(poke(s.mm[1], NULL, s.addr[1] + 4 * PG, 1), 0);
	CHECK_EQ(poke(s.mm[1], NULL, s.addr[1] + 14 * PG, 1), 0);
	CHECK_EQ(pw_wp_shared_mapping_range(s.f, 0, NPAGES), 2);
	CHECK_EQ(n.starts, 1);
	CHECK_EQ(n.ends, 1);
	CHECK_EQ(n.rs, s.addr[1]);
	CHECK_EQ(n.re, s.addr[1] + 48 * PG);
	CHECK_EQ(n.flushes, 1);
	CHECK_EQ(n.fs, s.addr[1] + 4 * PG);
	CHECK_EQ(n.fe, s.addr[1] + 15 * PG);
	/* nothing changed: bracket, but no flush */
	CHECK_EQ(pw_wp_shared_mapping_range(s.f, 20, 4), 0);
	CHECK_EQ(n.starts, 2);
	CHECK_EQ(n.ends, 2);
	CHECK_EQ(n.rs, s.addr[1] + 4 * PG);
	CHECK_EQ(n.re, s.addr[1] + 8 * PG);
	CHECK_EQ(n.flushes, 1);
	uint64_t bm = 0, st = 0, en = 0;
	CHECK_EQ(pw_clean_record_shared_mapping_range(s.f, 16, 64 - 16, 16, &bm, &st, &en), 2);
	CHECK_EQ(bm, (1u << 4) | (1u << 14));
	CHECK_EQ(n.flushes, 2);
	CHECK_EQ(n.bad, 0);
	CHECK_EQ(pw_mmu_notifier_unregister(&n.mn, s.mm[1]), 0);
	CHECK_EQ(pw_mmu_notifier_unregister(&n.mn, s.mm[1]), -ENOENT);
	scene_fini(&s);
}

/*
 * Kernel bug list 21: while another batched change of the same mm is
 * pending (it may have changed entries we then skip, and not flushed yet),
 * the whole walked range is flushed, not only the entries we changed.
 */
TEST(nested_pending_flush_widens_to_the_vma_range)
{
	struct scene s;
	struct nstat n = { .mn.ops = &nops };

	REQUIRE_EQ(scene_init(&s), 0);
	REQUIRE_EQ(pw_mmu_notifier_register(&n.mn, s.mm[1]), 0);
	CHECK_EQ(poke(s.mm[1], NULL, s.addr[1] + 4 * PG, 1), 0);
	__atomic_fetch_add(&s.mm[1]->tlb_flush_pending, 1, __ATOMIC_SEQ_CST); /* another one pending */
	CHECK_EQ(pw_wp_shared_mapping_range(s.f, 16, 48), 1);
	CHECK_EQ(n.flushes, 1);
	CHECK_EQ(n.fs, s.addr[1]);
	CHECK_EQ(n.fe, s.addr[1] + 48 * PG);
	/* nothing changed and nothing else pending: no flush at all */
	__atomic_fetch_sub(&s.mm[1]->tlb_flush_pending, 1, __ATOMIC_SEQ_CST);
	CHECK_EQ(pw_wp_shared_mapping_range(s.f, 16, 48), 0);
	CHECK_EQ(n.flushes, 1);
	CHECK_EQ(n.bad, 0);
	CHECK_EQ(s.mm[1]->tlb_flush_pending, 0);
	scene_fini(&s);
}

TEST(bad_arguments_change_nothing)
{
	struct scene s;
	uint64_t bm = 0, st = 3, en = 4;

	REQUIRE_EQ(scene_init(&s), 0);
	CHECK_EQ(poke(s.mm[1], NULL, s.addr[1], 1), 0);
	CHECK_EQ(pw_wp_shared_mapping_range(NULL, 0, 4), 0);
	CHECK_EQ(pw_wp_shared_mapping_range(s.f, 0, 0), 0);
	CHECK_EQ(pw_clean_record_shared_mapping_range(s.f, 16, 4, 17, &bm, &st, &en), 0);
	CHECK_EQ(pw_clean_record_shared_mapping_range(s.f, 16, 4, 0, NULL, &st, &en), 0);
	CHECK_EQ(pw_wp_clean_record_shared_mapping_range(s.f, 16, 4, 17, &bm, &st, &en, NULL), 0);
	CHECK_EQ(pw_wp_clean_record_shared_mapping_range(NULL, 16, 4, 0, &bm, &st, &en, NULL), 0);
	CHECK_EQ(pw_wp_clean_record_shared_mapping_range(s.f, 16, 0, 0, &bm, &st, &en, NULL), 0);
	CHECK_EQ(pw_wp_clean_record_shared_mapping_range(s.f, 16, 4, 0, &bm, NULL, &en, NULL), 0);
	CHECK_EQ(bm, 0);
	CHECK_EQ(st, 3);
	CHECK_EQ(en, 4);
	CHECK_EQ(pw_clean_record_shared_mapping_range(s.f, 16, 4, 16, &bm, &st, &en), 1);
	CHECK_EQ(bm, 1);
	CHECK_EQ(st, 0);
	CHECK_EQ(en, 4);
	scene_fini(&s);
}

int main(void)
{
	tap_start();
	tap_seed("test_dirty");
	RUN(vmwgfx_rounds_match_write_log);
	RUN(walk_page_mapping_visits_intersecting_vmas);
	RUN(huge_entries_skipped_not_split);
	RUN(missing_flush_is_caught);
	RUN(notifiers_bracket_each_vma_and_flush_window_is_minimal);
	RUN(nested_pending_flush_widens_to_the_vma_range);
	RUN(bad_arguments_change_nothing);
	return tap_done();
}
