// SPDX-License-Identifier: MIT
/*
 * Description: PFN mappings (pw_remap_pfn_range()): entries for frames
 * outside the arena, with no frame metadata touched; the kernel's walk
 * rules for VM_PFNMAP VMAs (skipped by pw_walk_page_range() with one -1
 * hole, walked by pw_walk_page_vma() and by a test_walk that accepts
 * them: kernel bug 9); pagemap, PAGEMAP_SCAN, smaps, mincore, clear_refs
 * and the folio walk as the kernel's behave on them; accesses, fork and
 * munmap release nothing and give back every table; bad input with the
 * errno and nothing changed.
 */
#include <errno.h>
#include <string.h>

#include <pagewalk/file.h>
#include <pagewalk/folio.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagemap.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/pfnmap.h>
#include <pagewalk/smaps.h>

#include "fixture.h"

#define NPG 16
#define VA 0x10000000ULL

struct count {
	uint64_t ptes, holes, hole_start, hole_end, pfn0;
	int hole_depth;
};

static int c_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct count *c = walk->private;
	uint64_t v = pw_ptep_get(pte).val;

	if (v && c->ptes++ == 0)
		c->pfn0 = pw_entry_pfn(PW_LEVEL_PTE, v, pw_mm_paging(walk->mm)->maxphyaddr);
	return 0;
}

static int c_hole(uint64_t addr, uint64_t next, int depth, struct pw_mm_walk *walk)
{
	struct count *c = walk->private;

	if (!walk->vma)
		return 0;
	c->holes++;
	c->hole_start = addr;
	c->hole_end = next;
	c->hole_depth = depth;
	return 0;
}

static int accept_all(uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return 0;
}

static int remap(struct pw_mm *mm, uint64_t addr, uint64_t pfn, uint64_t size, int prot)
{
	int r;

	pw_mmap_write_lock(mm);
	r = pw_remap_pfn_range(pw_vma_lookup(mm, addr), addr, pfn, size, prot);
	pw_mmap_write_unlock(mm);
	return r;
}

TEST(remap_and_walk_rules)
{
	struct env e;
	struct pw_walk_ops ops = { .pte_entry = c_pte, .pte_hole = c_hole };
	struct pw_walk_ops ops_tw = { .pte_entry = c_pte, .pte_hole = c_hole, .test_walk = accept_all };
	struct count c = { 0 };
	struct pw_translation t;
	struct pw_mm_stats st;
	struct pw_vma *vma;
	uint64_t dev, free_before, pgtables0;

	env_init(&e, 4, 64 << 20);
	dev = pw_arena_nr_frames(e.a) + 1000;
	REQUIRE_EQ(pw_mmap(e.mm, VA, NPG << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_FIXED,
			   NULL), 0);
	free_before = pw_arena_free_frames(e.a);
	pw_mm_get_stats(e.mm, &st);
	pgtables0 = st.pgtables;
	REQUIRE_EQ(remap(e.mm, VA, dev, NPG << 12, PW_PROT_READ | PW_PROT_WRITE), 0);
	pw_mmap_read_lock(e.mm);
	vma = pw_vma_lookup(e.mm, VA);
	CHECK(vma->vm_flags & PW_VM_PFNMAP);
	CHECK_EQ(vma->vm_pgoff, dev);
	for (uint64_t i = 0; i < NPG; i++) {
		CHECK_EQ(pw_translate(e.mm, VA + (i << 12), &t), 0);
		CHECK_EQ(t.pfn, dev + i);
		CHECK(t.writable);
	}
	CHECK(pw_frame_meta(e.a, dev) == NULL); /* no metadata anywhere */
	/* pw_walk_page_range() skips it: one -1 hole, no PTE */
	CHECK_EQ(pw_walk_page_range(e.mm, VA, VA + (NPG << 12), &ops, &c), 0);
	CHECK_EQ(c.ptes, 0);
	CHECK_EQ(c.holes, 1);
	CHECK_EQ(c.hole_depth, -1);
	CHECK_EQ(c.hole_start, VA);
	CHECK_EQ(c.hole_end, VA + (NPG << 12));
	/* pw_walk_page_vma() walks it (the kernel's 6.2 fix), so does an accepting test_walk */
	c = (struct count){ 0 };
	CHECK_EQ(pw_walk_page_vma(vma, &ops, &c), 0);
	CHECK_EQ(c.ptes, NPG);
	CHECK_EQ(c.pfn0, dev);
	c = (struct count){ 0 };
	CHECK_EQ(pw_walk_page_range(e.mm, VA, VA + (NPG << 12), &ops_tw, &c), 0);
	CHECK_EQ(c.ptes, NPG);
	{
		struct pw_folio_walk fw;

		CHECK_EQ(pw_folio_walk_start(&fw, vma, VA, 0), -ENOENT); /* no frame behind it */
	}
	pw_mmap_read_unlock(e.mm);
	pw_mm_get_stats(e.mm, &st);
	/* the only frames it took are page tables */
	CHECK_EQ(free_before - pw_arena_free_frames(e.a), st.pgtables - pgtables0);
	CHECK_EQ(st.rss, NPG); /* counted (the zap takes it back): pfnmap.h */

	/* accesses resolve to the frames without faults */
	{
		struct pw_access_result r;

		CHECK_EQ(pw_access(e.mm, NULL, VA + 5 * 4096 + 8, PW_FAULT_WRITE | PW_FAULT_USER, &r), 0);
		CHECK_EQ(r.nr_faults, 0);
		CHECK_EQ(r.phys, ((dev + 5) << 12) + 8);
	}
	/* munmap: entries gone, no frame released, every table back */
	CHECK_EQ(pw_munmap(e.mm, VA, NPG << 12), 0);
	pw_mm_get_stats(e.mm, &st);
	CHECK_EQ(st.rss, 0);
	env_fini(&e);
}

TEST(proc_views_of_a_pfn_mapping)
{
	struct env e;
	struct pw_smaps_stats ss;
	struct pw_page_region r[4];
	struct pw_pm_scan_arg a = { .size = sizeof(a), .start = VA, .end = VA + (NPG << 12), .vec = r,
				    .vec_len = 4, .return_mask = PW_PM_SCAN_CATEGORIES };
	uint64_t pm[NPG], before;
	uint8_t vec[NPG];

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, VA, NPG << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_FIXED,
			   NULL), 0);
	REQUIRE_EQ(remap(e.mm, VA, pw_arena_nr_frames(e.a), NPG << 12, PW_PROT_READ | PW_PROT_WRITE), 0);
	/* pagemap: the walk skips the VMA, a hole: only VM_SOFTDIRTY shows */
	CHECK_EQ(pw_pagemap_read(e.mm, VA, NPG, pm), NPG);
	for (int i = 0; i < NPG; i++)
		CHECK_EQ(pm[i], PW_PM_SOFT_DIRTY);
	/* PAGEMAP_SCAN never reports it, WP_MATCHING changes nothing */
	CHECK_EQ(pw_pagemap_scan(e.mm, &a), 0);
	before = entry_of(e.mm, VA);
	a.flags = PW_PM_SCAN_WP_MATCHING;
	CHECK_EQ(pw_pagemap_scan(e.mm, &a), 0);
	CHECK_EQ(entry_of(e.mm, VA), before);
	/* smaps: the size only */
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_smaps(pw_vma_lookup(e.mm, VA), &ss), 0);
	pw_mmap_read_unlock(e.mm);
	CHECK_EQ(ss.size, NPG << 12);
	CHECK_EQ(ss.rss, 0);
	CHECK_EQ(ss.pss, 0);
	/* mincore: not resident (an anonymous VMA's skipped range) */
	memset(vec, 7, sizeof(vec));
	CHECK_EQ(pw_mincore(e.mm, VA, NPG << 12, vec), 0);
	for (int i = 0; i < NPG; i++)
		CHECK_EQ(vec[i], 0);
	/* clear_refs leaves PFN entries alone */
	CHECK_EQ(pw_clear_refs(e.mm, PW_CLEAR_REFS_SOFT_DIRTY), 0);
	CHECK_EQ(pw_clear_refs(e.mm, PW_CLEAR_REFS_ALL), 0);
	CHECK_EQ(entry_of(e.mm, VA), before);
	env_fini(&e);
}

TEST(fork_and_protection)
{
	struct env e;
	struct pw_mm *child;
	struct pw_translation t;
	struct pw_access_result r;
	uint64_t dev;

	env_init(&e, 4, 64 << 20);
	dev = pw_arena_nr_frames(e.a) + 7;
	REQUIRE_EQ(pw_mmap(e.mm, VA, NPG << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_FIXED,
			   NULL), 0);
	/* read-only entries in a writable VMA: a write makes one writable in place */
	REQUIRE_EQ(remap(e.mm, VA, dev, NPG << 12, PW_PROT_READ), 0);
	CHECK_EQ(entry_of(e.mm, VA) & PW_RW, 0);
	CHECK_EQ(pw_access(e.mm, NULL, VA, PW_FAULT_WRITE | PW_FAULT_USER, &r), 0);
	CHECK_EQ(r.nr_faults, 1);
	CHECK_EQ(r.phys, dev << 12);
	/* fork copies the entries, no frame is referenced */
	REQUIRE_EQ(pw_mm_fork(e.mm, &child), 0);
	pw_mmap_read_lock(child);
	CHECK_EQ(pw_translate(child, VA + 3 * 4096, &t), 0);
	CHECK_EQ(t.pfn, dev + 3);
	CHECK(pw_vma_lookup(child, VA)->vm_flags & PW_VM_PFNMAP);
	pw_mmap_read_unlock(child);
	/* mprotect keeps the frames */
	CHECK_EQ(pw_mprotect(e.mm, VA, NPG << 12, PW_PROT_READ), 0);
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_translate(e.mm, VA + 9 * 4096, &t), 0);
	CHECK_EQ(t.pfn, dev + 9);
	pw_mmap_read_unlock(e.mm);
	pw_mm_destroy(child);
	env_fini(&e);
}

TEST(bad_input)
{
	struct env e;
	struct pw_file *f;
	uint64_t nf, a, h, before;

	env_init(&e, 4, 64 << 20);
	nf = pw_arena_nr_frames(e.a);
	REQUIRE_EQ(pw_file_create(e.a, NPG << 12, &f), 0);
	REQUIRE_EQ(pw_mmap(e.mm, VA, NPG << 12, PW_PROT_READ, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	REQUIRE_EQ(pw_mmap_file(e.mm, 0, NPG << 12, PW_PROT_READ, PW_MAP_SHARED, f, 0, &a), 0);
	CHECK_EQ(remap(e.mm, a, nf, NPG << 12, PW_PROT_READ), -EINVAL);		/* a file VMA */
	CHECK_EQ(remap(e.mm, VA, nf, (NPG - 1) << 12, PW_PROT_READ), -EINVAL);	/* not the whole VMA */
	CHECK_EQ(remap(e.mm, VA, nf, (NPG << 12) - 1, PW_PROT_READ), -EINVAL);	/* unaligned */
	CHECK_EQ(remap(e.mm, VA, nf - 1, NPG << 12, PW_PROT_READ), -EINVAL);	/* an arena frame */
	CHECK_EQ(remap(e.mm, VA, 1ULL << (pw_mm_paging(e.mm)->maxphyaddr - 12), NPG << 12,
		       PW_PROT_READ), -EINVAL); /* past MAXPHYADDR */
	CHECK_EQ(remap(e.mm, VA, nf, NPG << 12, 8), -EINVAL);
	CHECK_EQ(remap(e.mm, VA, nf, NPG << 12, PW_PROT_READ | PW_PROT_WRITE), -EACCES);
	pw_mmap_write_lock(e.mm);
	CHECK_EQ(pw_remap_pfn_range(NULL, VA, nf, NPG << 12, PW_PROT_READ), -EINVAL);
	pw_mmap_write_unlock(e.mm);
	/* something mapped already: -EBUSY, nothing changed */
	CHECK_EQ(peek(e.mm, VA + 4096), 0);
	before = entry_of(e.mm, VA + 4096);
	CHECK_EQ(remap(e.mm, VA, nf, NPG << 12, PW_PROT_READ), -EBUSY);
	CHECK_EQ(entry_of(e.mm, VA + 4096), before);
	CHECK_EQ(entry_of(e.mm, VA), 0);
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_vma_lookup(e.mm, VA)->vm_flags & PW_VM_PFNMAP, 0);
	pw_mmap_read_unlock(e.mm);
	/* a huge leaf in the range: -EBUSY too */
	REQUIRE_EQ(pw_mmap(e.mm, 0x40000000, 2 << 20, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_2M, &h), 0);
	CHECK_EQ(poke(e.mm, h, 1), 0);
	CHECK(entry_of(e.mm, h) & PW_PS);
	CHECK_EQ(remap(e.mm, h, nf, 2 << 20, PW_PROT_READ), -EBUSY);
	pw_mm_destroy(e.mm);
	e.mm = NULL;
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
}

int main(void)
{
	tap_start();
	RUN(remap_and_walk_rules);
	RUN(proc_views_of_a_pfn_mapping);
	RUN(fork_and_protection);
	RUN(bad_input);
	return tap_done();
}
