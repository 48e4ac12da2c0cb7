// SPDX-License-Identifier: MIT
/* Description: pw_mm_fork: copy-on-write contents, map and reference counts, freeing. */
#include <pagewalk/file.h>
#include <pagewalk/mm.h>
#include <pagewalk/notifier.h>

#include "../tests/tap.h"
#include "fixture.h"
#include <errno.h>

#define PG 4096ULL


static uint64_t pfn_of(struct pw_mm *mm, uint64_t addr)
{
	return (entry_of(mm, addr) & 0x000ffffffffff000ULL) >> 12;
}

static int n_prot;
static int count_start(struct pw_mmu_notifier *mn, const struct pw_mmu_notifier_range *r)
{
	if (r->event == PW_MMU_NOTIFY_PROTECTION_PAGE)
		n_prot++;
	return 0;
}
static const struct pw_mmu_notifier_ops cops = { .invalidate_range_start = count_start };

TEST(cow_after_fork)
{
	struct pw_arena *a;
	struct pw_mm *p, *c;
	struct pw_file *f;
	uint64_t anon, shared, fpriv, fshared, huge, free0;
	struct pw_mmu_notifier mn = { .ops = &cops };
	const int RW = PW_PROT_READ | PW_PROT_WRITE;

	REQUIRE_EQ(pw_arena_create(64 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_file_create(a, 8 * PG, &f), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &p), 0);
	REQUIRE_EQ(pw_mmap(p, 0, 8 * PG, RW, PW_MAP_PRIVATE, &anon), 0);
	REQUIRE_EQ(pw_mmap(p, 0, 4 * PG, RW, PW_MAP_SHARED, &shared), 0);
	REQUIRE_EQ(pw_mmap_file(p, 0, 8 * PG, RW, PW_MAP_PRIVATE, f, 0, &fpriv), 0);
	REQUIRE_EQ(pw_mmap_file(p, 0, 8 * PG, RW, PW_MAP_SHARED, f, 0, &fshared), 0);
	REQUIRE_EQ(pw_mmap(p, 0, 4 << 20, RW, PW_MAP_PRIVATE | PW_MAP_HUGE_2M, &huge), 0);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(poke(p, anon + i * PG, (uint8_t)(10 + i)), 0);
	CHECK_EQ(poke(p, shared, 77), 0);
	CHECK_EQ(poke(p, fpriv, 55), 0);	/* a private copy */
	CHECK_EQ(peek(p, fpriv + PG), 0);	/* the cache page, read-only */
	CHECK_EQ(poke(p, fshared + 2 * PG, 66), 0);
	CHECK_EQ(poke(p, huge + 5 * PG, 88), 0);
	CHECK_EQ(pfn_of(p, huge) & 511, 0); /* a 2 MiB leaf */
	REQUIRE_EQ(pw_mmu_notifier_register(&mn, p), 0);

	struct pw_mm_stats ps, cs;
	pw_mm_get_stats(p, &ps);
	REQUIRE_EQ(pw_mm_fork(p, &c), 0);
	CHECK(n_prot >= 3); /* anon, private file, huge: one bracket each */
	pw_mm_get_stats(c, &cs);
	CHECK_EQ(cs.nr_vmas, ps.nr_vmas);
	CHECK_EQ(pw_file_nr_vmas(f), 4);
	/* shared file pages are not copied: rss differs by the one shared-file page */
	struct pw_mm_stats ps2;
	pw_mm_get_stats(p, &ps2);
	CHECK_EQ(ps2.rss, ps.rss);
	CHECK_EQ(cs.rss, ps.rss - 1);

	/* anon: same frames, read-only in both, counts 2 */
	uint64_t fr = pfn_of(p, anon + 3 * PG);
	CHECK_EQ(pfn_of(c, anon + 3 * PG), fr);
	CHECK(!(entry_of(p, anon + 3 * PG) & PW_RW));
	CHECK(!(entry_of(c, anon + 3 * PG) & PW_RW));
	CHECK_EQ(pw_frame_meta(a, fr)->refcount, 2);
	CHECK_EQ(pw_frame_meta(a, fr)->mapcount, 2);
	/* the child writes: it gets a copy; the parent's page is its own again */
	CHECK_EQ(poke(c, anon + 3 * PG, 99), 0);
	CHECK(pfn_of(c, anon + 3 * PG) != fr);
	CHECK_EQ(pw_frame_meta(a, fr)->refcount, 1);
	CHECK_EQ(pw_frame_meta(a, fr)->mapcount, 1);
	CHECK_EQ(peek(p, anon + 3 * PG), 13);
	CHECK_EQ(peek(c, anon + 3 * PG), 99);
	CHECK_EQ(peek(c, anon + 4 * PG), 14);
	/* the parent writes its page: reused in place, no copy */
	CHECK_EQ(poke(p, anon + 3 * PG, 1), 0);
	CHECK_EQ(pfn_of(p, anon + 3 * PG), fr);
	/* the parent writes a still-shared page: it copies, the child keeps the old one */
	uint64_t fr5 = pfn_of(p, anon + 5 * PG);
	CHECK_EQ(poke(p, anon + 5 * PG, 2), 0);
	CHECK(pfn_of(p, anon + 5 * PG) != fr5);
	CHECK_EQ(pfn_of(c, anon + 5 * PG), fr5);
	CHECK_EQ(peek(c, anon + 5 * PG), 15);
	/* shared anonymous stays shared and writable */
	CHECK_EQ(poke(c, shared, 78), 0);
	CHECK_EQ(peek(p, shared), 78);
	/* private file copy is copied again; cache page stays the cache's */
	CHECK_EQ(peek(c, fpriv), 55);
	CHECK_EQ(poke(c, fpriv, 56), 0);
	CHECK_EQ(peek(p, fpriv), 55);
	CHECK_EQ(pfn_of(c, fpriv + PG), pw_file_page(f, 1));
	CHECK_EQ(pw_frame_meta(a, pw_file_page(f, 1))->mapcount, 2);
	/* shared file: the child faults the same cache page */
	CHECK_EQ(peek(c, fshared + 2 * PG), 66);
	CHECK_EQ(pfn_of(c, fshared + 2 * PG), pw_file_page(f, 2));
	CHECK_EQ(pw_frame_meta(a, pw_file_page(f, 2))->mapcount, 2);
	/* the huge region: split, shared, copied on write */
	CHECK_EQ(peek(c, huge + 5 * PG), 88);
	CHECK_EQ(poke(c, huge + 5 * PG, 89), 0);
	CHECK_EQ(peek(p, huge + 5 * PG), 88);
	CHECK_EQ(poke(p, huge + 6 * PG, 3), 0);
	CHECK_EQ(peek(c, huge + 6 * PG), 0);

	/* freeing both frees every frame */
	pw_mm_destroy(p);
	CHECK_EQ(peek(c, anon + 5 * PG), 15);
	CHECK_EQ(peek(c, shared), 78);
	pw_mm_destroy(c);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(fork_bad_args_and_child_first)
{
	struct pw_arena *a;
	struct pw_mm *p, *c, *g;
	uint64_t x, free0;

	CHECK_EQ(pw_mm_fork(NULL, &c), -EINVAL);
	REQUIRE_EQ(pw_arena_create(16 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_mm_create(a, NULL, &p), 0);
	CHECK_EQ(pw_mm_fork(p, NULL), -EINVAL);
	REQUIRE_EQ(pw_mmap(p, 0, 16 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &x), 0);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(poke(p, x + i * PG, (uint8_t)i), 0);
	REQUIRE_EQ(pw_mm_fork(p, &c), 0);
	REQUIRE_EQ(pw_mm_fork(c, &g), 0); /* a grandchild: three mappings of each frame */
	CHECK_EQ(pw_frame_meta(a, pfn_of(p, x))->mapcount, 3);
	CHECK_EQ(pw_frame_meta(a, pfn_of(p, x))->refcount, 3);
	pw_mm_destroy(c);
	CHECK_EQ(pw_frame_meta(a, pfn_of(p, x))->mapcount, 2);
	CHECK_EQ(poke(g, x + 7 * PG, 100), 0);
	CHECK_EQ(peek(p, x + 7 * PG), 7);
	pw_mm_destroy(p);
	CHECK_EQ(peek(g, x + 7 * PG), 100);
	CHECK_EQ(peek(g, x + 8 * PG), 8);
	pw_mm_destroy(g);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(fork_out_of_memory_leaves_nothing)
{
	struct pw_arena *a;
	struct pw_mm *p, *c = NULL;
	uint64_t x, pfn0, free_before;
	int ret = 0;

	/* 1 MiB arena: the parent's pages fit once; the child's tables may not */
	REQUIRE_EQ(pw_arena_create(1 << 20, &a), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &p), 0);
	/* pages spread over many PTE tables: the child needs one table per page */
	REQUIRE_EQ(pw_mmap(p, 1ULL << 30, 512ULL << 21, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED, &x), 0);
	int n = 0;
	for (; n < 512; n++)
		if (poke(p, x + ((uint64_t)n << 21), (uint8_t)n))
			break;
	REQUIRE(n > 16);
	/* leave fewer free frames than the child needs */
	pfn0 = pfn_of(p, x);
	free_before = pw_arena_free_frames(a);
	uint64_t hog[300];
	int nh = 0;
	while (pw_arena_free_frames(a) > (uint64_t)n / 2 && nh < 300 && !pw_frame_alloc(a, 0, &hog[nh]))
		nh++;
	ret = pw_mm_fork(p, &c);
	CHECK_EQ(ret, -ENOMEM);
	for (int i = 0; i < nh; i++)
		pw_frame_free(a, hog[i], 0);
	CHECK_EQ(pw_arena_free_frames(a), free_before);
	CHECK_EQ(pw_frame_meta(a, pfn0)->refcount, 1);
	CHECK_EQ(pw_frame_meta(a, pfn0)->mapcount, 1);
	/* the parent still works: its pages are its own (write reuses them) */
	CHECK_EQ(poke(p, x, 7), 0);
	CHECK_EQ(pfn_of(p, x), pfn0);
	CHECK_EQ(peek(p, x + (3ULL << 21)), 3);
	if (!ret)
		pw_mm_destroy(c);
	pw_mm_destroy(p);
	pw_arena_destroy(a);
}

TEST(fork_keeps_prot_none_pages)
{
	struct pw_arena *a;
	struct pw_mm *p, *c;
	uint64_t x, free0;

	REQUIRE_EQ(pw_arena_create(16 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_mm_create(a, NULL, &p), 0);
	REQUIRE_EQ(pw_mmap(p, 0, 4 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &x), 0);
	CHECK_EQ(poke(p, x + PG, 42), 0);
	CHECK_EQ(pw_mprotect(p, x, 4 * PG, PW_PROT_NONE), 0);
	REQUIRE_EQ(pw_mm_fork(p, &c), 0);
	CHECK_EQ(peek(c, x + PG), -EFAULT);
	CHECK_EQ(pw_mprotect(c, x, 4 * PG, PW_PROT_READ | PW_PROT_WRITE), 0);
	CHECK_EQ(peek(c, x + PG), 42);
	CHECK_EQ(poke(c, x + PG, 43), 0);
	CHECK_EQ(pw_mprotect(p, x, 4 * PG, PW_PROT_READ), 0);
	CHECK_EQ(peek(p, x + PG), 42);
	pw_mm_destroy(p);
	pw_mm_destroy(c);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(cow_after_fork);
	RUN(fork_bad_args_and_child_first);
	RUN(fork_out_of_memory_leaves_nothing);
	RUN(fork_keeps_prot_none_pages);
	return tap_done();
}
