// SPDX-License-Identifier: MIT
/*
 * Description: smaps, smaps_rollup and mincore. Three address spaces share
 * file pages (two map the same file, shared) and forked anonymous pages
 * (the third is a fork of the first); the sum of their PSS equals the size
 * of the union of their frames within the kernel's fixed-point rounding,
 * and each field is checked against a count made from pagemap and the
 * frames' map counts. mincore against the tables and the page cache; bad
 * input leaves the vector untouched.
 */
#include <errno.h>
#include <string.h>

#include <pagewalk/file.h>
#include <pagewalk/pagemap.h>
#include <pagewalk/smaps.h>

#include "fixture.h"

#define NPAGES 64

/* Add the frames @mm maps in [a, a + n pages) to @seen; count mapped pages. */
static uint64_t collect(struct pw_mm *mm, uint64_t a, uint64_t n, uint8_t *seen, uint64_t nframes)
{
	uint64_t out[NPAGES * 8], mapped = 0;

	CHECK_EQ(pw_pagemap_read(mm, a, n, out), (int64_t)n);
	for (uint64_t i = 0; i < n; i++) {
		if (!(out[i] & PW_PM_PRESENT))
			continue;
		mapped++;
		if ((out[i] & PW_PM_PFRAME_MASK) < nframes)
			seen[out[i] & PW_PM_PFRAME_MASK] = 1;
	}
	return mapped;
}

TEST(pss_over_three_mms)
{
	struct env e;
	struct pw_file *f;
	struct pw_mm *b, *c;
	struct pw_smaps_stats sa, sb, sc, v;
	uint64_t fa, fb, an, nframes, mapped = 0, uni = 0, fp;
	uint8_t *seen;

	env_init(&e, 4, 256 << 20);
	nframes = pw_arena_nr_frames(e.a);
	seen = calloc(nframes, 1);
	REQUIRE_EQ(pw_mm_create(e.a, NULL, &b), 0);
	REQUIRE_EQ(pw_file_create(e.a, NPAGES << 12, &f), 0);
	REQUIRE_EQ(pw_mmap_file(e.mm, 0, NPAGES << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, f, 0, &fa), 0);
	REQUIRE_EQ(pw_mmap_file(b, 0, NPAGES << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, f, 0, &fb), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, NPAGES << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &an), 0);
	for (int i = 0; i < NPAGES; i++) {
		if (i % 2 == 0)
			CHECK_EQ(poke(e.mm, fa + ((uint64_t)i << 12), 1), 0); /* dirty file page */
		if (i % 3 == 0)
			CHECK_EQ(peek(b, fb + ((uint64_t)i << 12)) >= 0, 1);
		if (i % 4 != 3)
			CHECK_EQ(poke(e.mm, an + ((uint64_t)i << 12), 2), 0);
	}
	REQUIRE_EQ(pw_mm_fork(e.mm, &c), 0);
	/* the child copies a few pages: those are its own again */
	for (int i = 0; i < 8; i++)
		CHECK_EQ(poke(c, an + ((uint64_t)i << 12), 3), 0);
	CHECK_EQ(peek(c, fa), 1); /* the child faults the shared file page in */

	CHECK_EQ(pw_smaps_rollup(e.mm, &sa), 0);
	CHECK_EQ(pw_smaps_rollup(b, &sb), 0);
	CHECK_EQ(pw_smaps_rollup(c, &sc), 0);
	struct pw_mm *mms[3] = { e.mm, b, c };
	uint64_t bases[3][2] = { { fa, an }, { fb, 0 }, { fa, an } };
	for (int m = 0; m < 3; m++)
		for (int k = 0; k < 2; k++)
			if (bases[m][k])
				mapped += collect(mms[m], bases[m][k], NPAGES, seen, nframes);
	for (uint64_t i = 0; i < nframes; i++)
		uni += seen[i];
	CHECK(uni > 0);
	/* Rss: every mapped page of each; Pss: the union, each frame once */
	CHECK_EQ(sa.rss + sb.rss + sc.rss, mapped << 12);
	fp = sa.pss_fp + sb.pss_fp + sc.pss_fp;
	CHECK(fp <= (uni << 12) << PW_PSS_SHIFT);
	CHECK((uni << 12 << PW_PSS_SHIFT) - fp < mapped); /* < 1 unit per mapping */
	CHECK(sa.pss + sb.pss + sc.pss <= uni << 12);
	CHECK((uni << 12) - (sa.pss + sb.pss + sc.pss) < 3);
	/* the fields partition Rss; Pss splits into anon + file + shmem */
	CHECK_EQ(sa.shared_clean + sa.shared_dirty + sa.private_clean + sa.private_dirty, sa.rss);
	CHECK_EQ(sc.shared_clean + sc.shared_dirty + sc.private_clean + sc.private_dirty, sc.rss);
	CHECK(sa.pss_anon + sa.pss_file + sa.pss_shmem <= sa.pss);
	/* per VMA: the anonymous VMA of the child */
	pw_mmap_read_lock(c);
	CHECK_EQ(pw_smaps(pw_vma_lookup(c, an), &v), 0);
	pw_mmap_read_unlock(c);
	CHECK_EQ(v.size, NPAGES << 12);
	/* 48 inherited pages, and pages 3 and 7, new in the child */
	CHECK_EQ(v.rss, (uint64_t)(NPAGES - NPAGES / 4 + 2) << 12);
	CHECK_EQ(v.anonymous, v.rss);
	CHECK_EQ(v.private_dirty, 8 << 12); /* the copies */
	CHECK_EQ(v.shared_dirty, v.rss - (8 << 12)); /* still shared with the parent */
	CHECK_EQ(v.pss_fp, (8ULL << 12 << PW_PSS_SHIFT) + ((v.rss - (8 << 12)) << PW_PSS_SHIFT) / 2);
	/* the file VMA of b: every page is also in a's mapping (a wrote the even ones) */
	pw_mmap_read_lock(b);
	CHECK_EQ(pw_smaps(pw_vma_lookup(b, fb), &v), 0);
	pw_mmap_read_unlock(b);
	CHECK_EQ(v.anonymous, 0);
	CHECK_EQ(v.rss, (uint64_t)((NPAGES + 2) / 3) << 12);
	/* odd multiples of 3 are b's alone (a wrote the even pages), read: clean */
	CHECK_EQ(v.private_clean, 11 << 12);
	CHECK_EQ(v.private_dirty, 0);
	CHECK_EQ(v.shared_dirty, 11 << 12); /* PW_FRAME_DIRTY from a's writes */
	CHECK_EQ(v.shared_clean, 0);

	pw_mm_destroy(c);
	pw_mm_destroy(b);
	pw_mm_destroy(e.mm);
	e.mm = NULL;
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
	free(seen);
}

TEST(huge_and_referenced)
{
	struct env e;
	struct pw_smaps_stats st;
	uint64_t h;

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 << 20, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_HUGE_2M, &h), 0);
	h = (h + (2 << 20) - 1) & ~((2ULL << 20) - 1);
	CHECK_EQ(poke(e.mm, h, 1), 0);
	CHECK_EQ(pw_smaps_rollup(e.mm, &st), 0);
	CHECK_EQ(st.anon_huge, 2 << 20);
	CHECK_EQ(st.rss, 2 << 20);
	CHECK_EQ(st.pss, 2 << 20);
	CHECK_EQ(st.private_dirty, 2 << 20);
	CHECK_EQ(st.referenced, 2 << 20);
	CHECK_EQ(pw_clear_refs(e.mm, PW_CLEAR_REFS_ALL), 0);
	CHECK_EQ(pw_smaps_rollup(e.mm, &st), 0);
	CHECK_EQ(st.referenced, 0);
	CHECK_EQ(st.rss, 2 << 20);
	env_fini(&e);
}

TEST(mincore)
{
	struct env e;
	struct pw_file *f;
	uint64_t a, m;
	uint8_t vec[16];

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_file_create(e.a, 8 << 12, &f), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0x10000000, 8 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_FIXED, &a), 0);
	REQUIRE_EQ(pw_mmap_file(e.mm, 0x10008000, 8 << 12, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, &m), 0);
	CHECK_EQ(poke(e.mm, a + 2 * 4096, 1), 0);
	CHECK_EQ(pw_file_write(f, 5 * 4096, "x", 1), 0); /* cached, not mapped */
	CHECK_EQ(peek(e.mm, m + 4096), 0);
	memset(vec, 7, sizeof(vec));
	CHECK_EQ(pw_mincore(e.mm, a, 16 << 12, vec), 0);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(vec[i], i == 2 || i == 9 || i == 13);
	/* bad input: nothing written */
	memset(vec, 7, sizeof(vec));
	CHECK_EQ(pw_mincore(e.mm, a + 1, 4096, vec), -EINVAL);
	CHECK_EQ(pw_mincore(e.mm, a, 17 << 12, vec), -ENOMEM); /* past the last VMA */
	CHECK_EQ(pw_mincore(e.mm, a - 4096, 2 << 12, vec), -ENOMEM);
	CHECK_EQ(pw_mincore(e.mm, a, 4096, NULL), -EFAULT);
	CHECK_EQ(pw_mincore(e.mm, (1ULL << 47) - 4096, 2 << 12, vec), -ENOMEM);
	CHECK_EQ(vec[0], 7);
	CHECK_EQ(pw_mincore(e.mm, a, 0, vec), 0);
	CHECK_EQ(pw_smaps(NULL, NULL), -EINVAL);
	CHECK_EQ(pw_smaps_rollup(NULL, NULL), -EINVAL);
	pw_mm_destroy(e.mm);
	e.mm = NULL;
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
}

int main(void)
{
	tap_start();
	RUN(pss_over_three_mms);
	RUN(huge_and_referenced);
	RUN(mincore);
	return tap_done();
}
