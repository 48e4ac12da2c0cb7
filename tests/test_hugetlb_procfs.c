// SPDX-License-Identifier: MIT
/*
 * test_hugetlb_procfs.c - mincore and pagemap over hugetlb VMAs, through
 * their hugetlb_entry callbacks (the kernel's mincore_hugetlb() and
 * pagemap_hugetlb_range()): huge pages reported resident / present with
 * the frame of each 4 KiB page, shared and private, 2 MiB and 1 GiB.
 */
#include <stdlib.h>
#include <string.h>

#include <pagewalk/hugetlb.h>
#include <pagewalk/pagemap.h>
#include <pagewalk/smaps.h>

#include "mm/mm.h"
#include "fixture.h"

#define G (1ULL << 30)
#define M2 (1ULL << 21)
#define RW (PW_PROT_READ | PW_PROT_WRITE)
#define NP (4 * 512) /* 4 KiB pages of 4 huge pages */

TEST(mincore_2m)
{
	struct env e;
	struct pw_file *f;
	uint64_t addr = 4 * G;
	static uint8_t vec[NP + 2];
	unsigned bad = 0;

	env_init(&e, 4, 64 * M2);
	if (pw_hugetlb_file_create(e.a, 4 * M2, M2, &f))
		abort();
	CHECK_EQ(pw_mmap_file(e.mm, addr, 4 * M2, RW, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(poke(e.mm, addr + 5, 1), 0);		/* huge page 0 */
	CHECK_EQ(peek(e.mm, addr + 2 * M2 + 9), 0); /* huge page 2 */
	memset(vec, 0xaa, sizeof(vec));
	CHECK_EQ(pw_mincore(e.mm, addr, 4 * M2, vec), 0);
	for (unsigned i = 0; i < NP; i++)
		bad += vec[i] != (i / 512 == 0 || i / 512 == 2);
	CHECK_EQ(bad, 0);
	CHECK_EQ(vec[NP], 0xaa); /* nothing past the range */
	/* a part of a huge page */
	memset(vec, 0xaa, sizeof(vec));
	CHECK_EQ(pw_mincore(e.mm, addr + 2 * M2 - 4096, 2 * 4096, vec), 0);
	CHECK_EQ(vec[0], 0);
	CHECK_EQ(vec[1], 1);
	CHECK_EQ(vec[2], 0xaa);
	CHECK_EQ(pw_munmap(e.mm, addr, 4 * M2), 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	env_fini(&e);
}

TEST(pagemap_2m)
{
	struct env e;
	struct pw_file *f;
	struct pw_mm *m2;
	uint64_t addr = 4 * G, head0, copy;
	static uint64_t pm[NP];
	unsigned bad = 0;

	env_init(&e, 4, 64 * M2);
	if (pw_hugetlb_file_create(e.a, 4 * M2, M2, &f) || pw_mm_create(e.a, NULL, &m2))
		abort();
	CHECK_EQ(pw_mmap_file(e.mm, addr, 4 * M2, RW, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(pw_mmap_file(m2, addr, 2 * M2, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(poke(e.mm, addr + 5, 1), 0);
	CHECK_EQ(poke(e.mm, addr + M2, 1), 0);
	CHECK_EQ(peek(m2, addr + M2), 1); /* m2 maps huge page 1 too: mapcount 2 */
	CHECK_EQ(poke(m2, addr, 7), 0);	  /* m2's private copy of huge page 0 */
	head0 = pw_file_page(f, 0);
	memset(pm, 0xff, sizeof(pm));
	CHECK_EQ(pw_pagemap_read(e.mm, addr, NP, pm), NP);
	for (unsigned i = 0; i < NP; i++) {
		uint64_t want_pfn = i < 1024 ? pw_file_page(f, (i / 512) * 512) + i % 512 : 0;

		if (i < 1024) {
			bad += (pm[i] & PW_PM_PFRAME_MASK) != want_pfn;
			bad += !(pm[i] & PW_PM_PRESENT) || !(pm[i] & PW_PM_FILE);
			/* page 0 is mapped by e.mm alone, page 1 by both */
			bad += !!(pm[i] & PW_PM_MMAP_EXCLUSIVE) != (i < 512);
		} else {
			bad += (pm[i] & (PW_PM_PRESENT | PW_PM_PFRAME_MASK)) != 0;
		}
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(pm[7] & PW_PM_PFRAME_MASK, head0 + 7);
	/* the private copy: present, anonymous, exclusive */
	CHECK_EQ(pw_pagemap_read(m2, addr + 3 * 4096, 1, pm), 1);
	copy = pm[0] & PW_PM_PFRAME_MASK;
	CHECK(copy != head0 + 3);
	CHECK_EQ((copy - 3) & 511, 0);
	CHECK_EQ(pm[0] & (PW_PM_PRESENT | PW_PM_FILE | PW_PM_MMAP_EXCLUSIVE), PW_PM_PRESENT | PW_PM_MMAP_EXCLUSIVE);
	pw_mm_destroy(m2);
	CHECK_EQ(pw_munmap(e.mm, addr, 4 * M2), 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	env_fini(&e);
}


/* smaps: hugetlb pages in Shared_Hugetlb / Private_Hugetlb by map count, not in Rss. */
TEST(smaps_2m)
{
	struct env e;
	struct pw_file *f;
	struct pw_mm *m2;
	struct pw_smaps_stats st;
	uint64_t addr = 4 * G;

	env_init(&e, 4, 64 * M2);
	if (pw_hugetlb_file_create(e.a, 4 * M2, M2, &f) || pw_mm_create(e.a, NULL, &m2))
		abort();
	CHECK_EQ(pw_mmap_file(e.mm, addr, 4 * M2, RW, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(pw_mmap_file(m2, addr, 2 * M2, RW, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(poke(e.mm, addr, 1), 0);
	CHECK_EQ(poke(e.mm, addr + 2 * M2, 1), 0);
	CHECK_EQ(peek(m2, addr), 1); /* huge page 0: mapped by both */
	CHECK_EQ(pw_smaps_rollup(e.mm, &st), 0);
	CHECK_EQ(st.shared_hugetlb, M2);
	CHECK_EQ(st.private_hugetlb, M2);
	CHECK_EQ(st.rss, 0);
	CHECK_EQ(pw_smaps_rollup(m2, &st), 0);
	CHECK_EQ(st.shared_hugetlb, M2);
	CHECK_EQ(st.private_hugetlb, 0);
	pw_mm_destroy(m2);
	CHECK_EQ(pw_munmap(e.mm, addr, 4 * M2), 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	env_fini(&e);
}

TEST(pagemap_mincore_1g)
{
	struct pw_arena *a;
	struct pw_mm *mm;
	struct pw_file *f;
	uint64_t free0, addr = 4 * G, pm[3], head;
	uint8_t vec[3];

	if (pw_arena_create(3 * G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, G, G, &f) || pw_mm_create(a, NULL, &mm))
		abort();
	CHECK_EQ(pw_mmap_file(mm, addr, G, RW, PW_MAP_SHARED | PW_MAP_HUGE_1G | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(pw_mincore(mm, addr + 5 * M2, 3 * 4096, vec), 0);
	CHECK_EQ(vec[0] | vec[1] | vec[2], 0);
	CHECK_EQ(poke(mm, addr, 1), 0);
	head = pw_file_page(f, 0);
	CHECK_EQ(pw_mincore(mm, addr + 5 * M2, 3 * 4096, vec), 0);
	CHECK_EQ(vec[0] & vec[1] & vec[2], 1);
	CHECK_EQ(pw_pagemap_read(mm, addr + 5 * M2, 3, pm), 3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(pm[i] & PW_PM_PFRAME_MASK, head + 5 * 512 + (uint64_t)i);
		CHECK_EQ(pm[i] & (PW_PM_PRESENT | PW_PM_FILE), PW_PM_PRESENT | PW_PM_FILE);
	}
	pw_mm_destroy(mm);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(mincore_2m);
	RUN(pagemap_2m);
	RUN(smaps_2m);
	RUN(pagemap_mincore_1g);
	return tap_done();
}
