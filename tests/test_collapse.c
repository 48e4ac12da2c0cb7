// SPDX-License-Identifier: MIT
/*
 * Description: file THP through pw_madvise_collapse(): a shared file
 * mapping's 2 MiB blocks become 2 MiB folios in the page cache mapped by
 * PMD leaves, with their data (written through the mapping, written with
 * pw_file_write(), never cached) kept; what pagemap, PAGEMAP_SCAN, smaps
 * (FilePmdMapped), mincore, the folio walk and the walkers see; the dirty
 * helpers' huge-entry path (skipped, changed nothing, counted: kernel bug
 * 20); write faults on the read-only leaf; munmap, a partial munmap that
 * splits the leaf, a fork, and a new 4 KiB mapping of a folio that nothing
 * maps (split back) or that a PMD maps (-EBUSY); bad input and refusals
 * with nothing changed; every frame back at the end.
 */
#include <errno.h>
#include <string.h>

#include <pagewalk/dirty.h>
#include <pagewalk/file.h>
#include <pagewalk/folio.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagemap.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/smaps.h>

#include "fixture.h"

#define MB2 (2ULL << 20)
#define NPAGES 1024 /* a 4 MiB file: two blocks */
#define VA 0x40000000ULL

static uint64_t pfn_of(struct pw_mm *mm, uint64_t a)
{
	struct pw_translation t;
	int r;

	pw_mmap_read_lock(mm);
	r = pw_translate(mm, a, &t);
	pw_mmap_read_unlock(mm);
	return r ? 0 : t.pfn;
}

struct cnt {
	uint64_t pmd_leaves, ptes;
};

static int c_pmd(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct cnt *c = walk->private;

	if (pw_pmd_leaf(pw_pmdp_get(pmd))) {
		c->pmd_leaves++;
		walk->action = PW_ACTION_CONTINUE;
	}
	return 0;
}

static int c_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct cnt *c = walk->private;

	c->ptes += pw_ptep_get(pte).val != 0;
	return 0;
}

static const struct pw_walk_ops cnt_ops = { .pmd_entry = c_pmd, .pte_entry = c_pte };

/* A 4 MiB file with data, mapped shared at VA, some pages faulted by writes and reads. */
static void setup(struct env *e, struct pw_file **f)
{
	uint8_t buf[64];

	env_init(e, 4, 128 << 20);
	REQUIRE_EQ(pw_file_create(e->a, NPAGES << 12, f), 0);
	memset(buf, 0x5a, sizeof(buf));
	CHECK_EQ(pw_file_write(*f, 700 << 12, buf, sizeof(buf)), 0); /* cached, not mapped */
	REQUIRE_EQ(pw_mmap_file(e->mm, VA, NPAGES << 12, PW_PROT_READ | PW_PROT_WRITE,
				PW_MAP_SHARED | PW_MAP_FIXED, *f, 0, NULL), 0);
	for (unsigned i = 0; i < 64; i++)
		CHECK_EQ(poke(e->mm, VA + ((uint64_t)i * 7 << 12), (uint8_t)(i + 1)), 0);
	for (unsigned i = 0; i < 16; i++)
		CHECK(peek(e->mm, VA + ((uint64_t)(600 + i) << 12)) >= 0);
}

TEST(collapse_and_what_everything_sees)
{
	struct env e;
	struct pw_file *f;
	struct pw_smaps_stats ss;
	struct pw_mm_stats st;
	struct pw_page_region r[4];
	struct pw_pm_scan_arg a = { .size = sizeof(a), .start = VA, .end = VA + (NPAGES << 12),
				    .vec = r, .vec_len = 4, .category_mask = PW_PAGE_IS_PRESENT,
				    .return_mask = PW_PAGE_IS_HUGE | PW_PAGE_IS_FILE | PW_PAGE_IS_PRESENT };
	struct cnt c = { 0 };
	uint64_t head, pm[4], free_mid, before_wp, bs = NPAGES, be = 0, bitmap[NPAGES / 64] = { 0 };
	uint8_t vec[NPAGES], buf[64];

	setup(&e, &f);
	CHECK_EQ(pw_madvise_collapse(e.mm, VA, NPAGES << 12), 0);
	pw_mm_get_stats(e.mm, &st);
	CHECK_EQ(st.rss, NPAGES);
	CHECK_EQ(pw_file_nr_cached(f), NPAGES);
	/* two PMD leaves; each page translates to its folio's frame */
	for (int blk = 0; blk < 2; blk++) {
		uint64_t b = VA + blk * MB2;

		CHECK(entry_of(e.mm, b) & PW_PS);
		CHECK_EQ(entry_of(e.mm, b) & PW_RW, 0); /* read-only: write-notify */
		head = pfn_of(e.mm, b);
		CHECK_EQ(head & 511, 0);
		for (uint64_t i = 0; i < 512; i += 37)
			CHECK_EQ(pfn_of(e.mm, b + (i << 12)), head + i);
		CHECK_EQ(pw_file_page(f, blk * 512 + 3), head + 3);
	}
	/* the data: written through the mapping, with pw_file_write(), never cached */
	for (unsigned i = 0; i < 64; i++)
		CHECK_EQ(peek(e.mm, VA + ((uint64_t)i * 7 << 12)), i + 1);
	CHECK_EQ(peek(e.mm, VA + (700ULL << 12) + 10), 0x5a);
	CHECK_EQ(peek(e.mm, VA + (1000ULL << 12)), 0);
	CHECK_EQ(pw_file_read(f, 700 << 12, buf, 8), 0);
	CHECK_EQ(buf[7], 0x5a);
	CHECK(pw_frame_meta(e.a, pw_file_page(f, 0))->flags & PW_FRAME_DIRTY); /* written pages */
	/* pagemap: present file pages, the frames in order */
	CHECK_EQ(pw_pagemap_read(e.mm, VA + (5 << 12), 4, pm), 4);
	CHECK(pm[0] & PW_PM_PRESENT);
	CHECK(pm[0] & PW_PM_FILE);
	CHECK_EQ((pm[3] & PW_PM_PFRAME_MASK) - (pm[0] & PW_PM_PFRAME_MASK), 3);
	/* PAGEMAP_SCAN: one huge file region */
	CHECK_EQ(pw_pagemap_scan(e.mm, &a), 1);
	CHECK_EQ(r[0].end - r[0].start, NPAGES << 12);
	CHECK_EQ(r[0].categories, PW_PAGE_IS_HUGE | PW_PAGE_IS_FILE | PW_PAGE_IS_PRESENT);
	/* smaps: FilePmdMapped */
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_smaps(pw_vma_lookup(e.mm, VA), &ss), 0);
	CHECK_EQ(ss.file_pmd_mapped, NPAGES << 12);
	CHECK_EQ(ss.rss, NPAGES << 12);
	CHECK_EQ(ss.anon_huge, 0);
	/* the walkers: PMD leaves, no PTE */
	CHECK_EQ(pw_walk_page_range(e.mm, VA, VA + (NPAGES << 12), &cnt_ops, &c), 0);
	CHECK_EQ(c.pmd_leaves, 2);
	CHECK_EQ(c.ptes, 0);
	{
		struct pw_folio_walk fw;

		CHECK_EQ(pw_folio_walk_start(&fw, pw_vma_lookup(e.mm, VA), VA + 4096, 0), 0);
		CHECK_EQ(fw.level, PW_LEVEL_PMD);
		CHECK_EQ(fw.frame->mapcount, 1);
		CHECK_EQ(fw.frame->refcount, 2); /* the cache's and the PMD's */
		pw_folio_walk_end(&fw);
	}
	pw_mmap_read_unlock(e.mm);
	c = (struct cnt){ 0 };
	pw_i_mmap_lock_read(f);
	CHECK_EQ(pw_walk_page_mapping(f, 0, NPAGES, &cnt_ops, &c), 0);
	pw_i_mmap_unlock_read(f);
	CHECK_EQ(c.pmd_leaves, 2);
	memset(vec, 9, sizeof(vec));
	CHECK_EQ(pw_mincore(e.mm, VA, NPAGES << 12, vec), 0);
	CHECK(vec[0] == 1 && vec[NPAGES - 1] == 1);

	/* the dirty helpers: huge entries skipped, unchanged, counted (kernel bug 20) */
	CHECK_EQ(poke(e.mm, VA + MB2, 0x77), 0); /* the second block writable and dirty */
	before_wp = entry_of(e.mm, VA + MB2);
	CHECK(before_wp & PW_RW);
	CHECK_EQ(pw_dirty_huge_skipped(f), 0);
	CHECK_EQ(pw_wp_shared_mapping_range(f, 0, NPAGES), 0);
	CHECK_EQ(pw_dirty_huge_skipped(f), 2);
	CHECK_EQ(entry_of(e.mm, VA + MB2), before_wp);
	CHECK_EQ(pw_clean_record_shared_mapping_range(f, 0, NPAGES, 0, bitmap, &bs, &be), 0);
	CHECK_EQ(pw_dirty_huge_skipped(f), 4);
	CHECK_EQ(bitmap[0] | bitmap[8], 0);
	CHECK_EQ(bs, NPAGES);
	CHECK_EQ(be, 0);
	CHECK_EQ(entry_of(e.mm, VA + MB2), before_wp);

	/* a write to the read-only leaf: one fault, in place, the leaf stays huge */
	{
		struct pw_access_result ar;

		CHECK_EQ(pw_access(e.mm, NULL, VA + 4096, PW_FAULT_WRITE | PW_FAULT_USER, &ar), 0);
		CHECK_EQ(ar.nr_faults, 1);
		CHECK(entry_of(e.mm, VA) & PW_PS);
		CHECK(entry_of(e.mm, VA) & PW_RW);
		CHECK_EQ(pfn_of(e.mm, VA + 4096), pw_file_page(f, 1));
	}
	/* a second collapse: both blocks PMD-mapped already */
	free_mid = pw_arena_free_frames(e.a);
	CHECK_EQ(pw_madvise_collapse(e.mm, VA, NPAGES << 12), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), free_mid);

	pw_mm_destroy(e.mm);
	e.mm = NULL;
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
}

TEST(unmap_split_fork_and_new_mappings)
{
	struct env e;
	struct pw_file *f;
	struct pw_mm *mm2, *child;
	uint64_t m2;

	setup(&e, &f);
	REQUIRE_EQ(pw_madvise_collapse(e.mm, VA, NPAGES << 12), 0);
	/* a second address space maps the file: 4 KiB faults of a PMD-mapped folio are refused */
	REQUIRE_EQ(pw_mm_create(e.a, NULL, &mm2), 0);
	REQUIRE_EQ(pw_mmap_file(mm2, 0, NPAGES << 12, PW_PROT_READ, PW_MAP_SHARED, f, 0, &m2), 0);
	CHECK(peek(mm2, m2 + (5 << 12)) < 0);
	pw_mmap_read_lock(mm2);
	CHECK_EQ(pw_handle_mm_fault(mm2, m2 + (5 << 12), PW_FAULT_USER), -EBUSY);
	pw_mmap_read_unlock(mm2);
	/* munmap the first block: its folio stays cached, unmapped; now mm2 can fault it (split) */
	CHECK_EQ(pw_munmap(e.mm, VA, MB2), 0);
	CHECK_EQ(peek(mm2, m2 + (7 << 12)), 2); /* page 7 was written 2 by setup() */
	CHECK(peek(mm2, m2 + (700ULL << 12)) < 0); /* offset 700: the second block, PMD-mapped still */
	CHECK_EQ(peek(mm2, m2 + (0ULL << 12)), 1);
	CHECK_EQ(entry_of(mm2, m2 + (7 << 12)) & PW_PS, 0);
	/* a partial munmap splits the second leaf (and its folio) into 4 KiB pages */
	CHECK_EQ(pw_munmap(e.mm, VA + MB2, 4096), 0);
	CHECK_EQ(entry_of(e.mm, VA + MB2 + 4096) & PW_PS, 0);
	CHECK_EQ(peek(e.mm, VA + MB2 + (188ULL << 12) + 10), 0x5a); /* offset 700 = 512 + 188 */
	CHECK_EQ(peek(mm2, m2 + (700ULL << 12) + 10), 0x5a); /* a 4 KiB page now */
	/* fork the rest; everyone reads the same data */
	REQUIRE_EQ(pw_mm_fork(e.mm, &child), 0);
	CHECK_EQ(peek(child, VA + MB2 + (188ULL << 12) + 10), 0x5a);
	CHECK_EQ(poke(child, VA + MB2 + (189ULL << 12), 0x33), 0); /* shared: the file sees it */
	CHECK_EQ(peek(mm2, m2 + (701ULL << 12)), 0x33);
	pw_mm_destroy(child);
	pw_mm_destroy(mm2);
	pw_mm_destroy(e.mm);
	e.mm = NULL;
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
}

TEST(refused)
{
	struct env e;
	struct pw_file *f;
	struct pw_mm *mm2;
	uint64_t anon, priv, off1, e0;

	setup(&e, &f);
	e0 = entry_of(e.mm, VA);
	REQUIRE_EQ(pw_mmap(e.mm, 0x80000000ULL, MB2, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED, &anon), 0);
	REQUIRE_EQ(pw_mmap_file(e.mm, 0xc0000000ULL, MB2, PW_PROT_READ, PW_MAP_PRIVATE | PW_MAP_FIXED, f,
				0, &priv), 0);
	CHECK_EQ(pw_madvise_collapse(NULL, VA, MB2), -EINVAL);
	CHECK_EQ(pw_madvise_collapse(e.mm, VA + 1, MB2), -EINVAL);
	CHECK_EQ(pw_madvise_collapse(e.mm, anon, MB2), -EINVAL); /* anonymous */
	CHECK_EQ(pw_madvise_collapse(e.mm, 0x100000000ULL, MB2), -ENOMEM); /* nothing mapped */
	CHECK_EQ(pw_madvise_collapse(e.mm, VA, 4096), 0); /* no whole block: nothing to do */
	/* a private mapping of the file: refused for itself, and it blocks the shared one */
	CHECK_EQ(pw_madvise_collapse(e.mm, priv, MB2), -EINVAL);
	CHECK_EQ(pw_madvise_collapse(e.mm, VA, MB2), -EBUSY);
	CHECK_EQ(pw_munmap(e.mm, priv, MB2), 0);
	/* another address space's mapping of the block: -EBUSY */
	REQUIRE_EQ(pw_mm_create(e.a, NULL, &mm2), 0);
	REQUIRE_EQ(pw_mmap_file(mm2, 0, 4096, PW_PROT_READ, PW_MAP_SHARED, f, 3, NULL), 0);
	CHECK_EQ(pw_madvise_collapse(e.mm, VA, MB2), -EBUSY);
	pw_mm_destroy(mm2);
	/* a block at an unaligned file offset */
	REQUIRE_EQ(pw_mmap_file(e.mm, 0x100000000ULL, MB2, PW_PROT_READ | PW_PROT_WRITE,
				PW_MAP_SHARED | PW_MAP_FIXED, f, 1, &off1), 0);
	CHECK_EQ(pw_madvise_collapse(e.mm, off1, MB2), -EINVAL);
	CHECK_EQ(pw_munmap(e.mm, off1, MB2), 0);
	/* nothing changed */
	CHECK_EQ(entry_of(e.mm, VA), e0);
	CHECK_EQ(entry_of(e.mm, VA) & PW_PS, 0);
	CHECK_EQ(peek(e.mm, VA + (7 << 12)), 2);
	/* now it works, and the other block's failure does not stop this one */
	CHECK_EQ(pw_madvise_collapse(e.mm, VA, NPAGES << 12), 0);
	CHECK(entry_of(e.mm, VA) & PW_PS);
	pw_mm_destroy(e.mm);
	e.mm = NULL;
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
}

int main(void)
{
	tap_start();
	RUN(collapse_and_what_everything_sees);
	RUN(unmap_split_fork_and_new_mappings);
	RUN(refused);
	return tap_done();
}
