// SPDX-License-Identifier: MIT
/*
 * test_hugetlb_fork.c - pw_mm_fork() of private hugetlb mappings: huge
 * pages shared whole copy-on-write (both read-only, map count and
 * reference per sharer), a write in either copies, a pinned private copy
 * copied at fork, frame counts back after both mms go in either order.
 */
#include <stdio.h>
#include <stdlib.h>

#include <pagewalk/gup.h>
#include <pagewalk/hugetlb.h>

#include "mm/mm.h"
#include "fixture.h"

#define G (1ULL << 30)
#define M2 (1ULL << 21)
#define RW (PW_PROT_READ | PW_PROT_WRITE)

static uint64_t pfn_of(struct pw_mm *mm, uint64_t addr)
{
	struct pw_translation t;
	int ret;

	pw_mmap_read_lock(mm);
	ret = pw_translate(mm, addr, &t);
	pw_mmap_read_unlock(mm);
	return ret ? 0 : t.phys >> 12;
}

static int32_t ref(struct pw_arena *a, uint64_t pfn)
{
	return __atomic_load_n(&pw_frame_meta(a, pfn)->refcount, __ATOMIC_RELAXED);
}

static int32_t maps(struct pw_arena *a, uint64_t pfn)
{
	return __atomic_load_n(&pw_frame_meta(a, pfn)->mapcount, __ATOMIC_RELAXED);
}

static void fork_2m(int child_first)
{
	struct pw_arena *a;
	struct pw_mm *p, *c;
	struct pw_file *f;
	struct pw_mm_stats sp, sc;
	uint64_t free0, addr = 4 * G, cache0, anon1, cache_ref;
	uint8_t b = 0;

	if (pw_arena_create(G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, 4 * M2, M2, &f) || pw_mm_create(a, NULL, &p))
		abort();
	CHECK_EQ(pw_file_write(f, 10, "A", 1), 0);
	CHECK_EQ(pw_file_write(f, M2 + 10, "C", 1), 0);
	CHECK_EQ(pw_mmap_file(p, addr, 4 * M2, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(peek(p, addr + 10), 'A');	      /* page 0: the cache's folio, read-only */
	CHECK_EQ(poke(p, addr + M2 + 11, 'B'), 0); /* page 1: a private copy */
	cache0 = pw_file_page(f, 0);
	anon1 = pfn_of(p, addr + M2);
	CHECK_EQ(pfn_of(p, addr), cache0);
	CHECK(anon1 != pw_file_page(f, 512));
	cache_ref = (uint64_t)ref(a, cache0);
	CHECK_EQ(pw_mm_fork(p, &c), 0);
	/* shared whole, read-only in both, one more map count and reference */
	CHECK_EQ(pfn_of(c, addr), cache0);
	CHECK_EQ(pfn_of(c, addr + M2), anon1);
	CHECK_EQ(entry_of(p, addr + M2) & (PW_PS | PW_RW), PW_PS);
	CHECK_EQ(entry_of(c, addr + M2) & (PW_PS | PW_RW), PW_PS);
	CHECK_EQ(ref(a, anon1), 2);
	CHECK_EQ(maps(a, anon1), 2);
	CHECK_EQ((uint64_t)ref(a, cache0), cache_ref + 1);
	CHECK_EQ(entry_of(c, addr + 2 * M2), 0); /* never faulted: the child faults it itself */
	pw_mm_get_stats(p, &sp);
	pw_mm_get_stats(c, &sc);
	CHECK_EQ(sc.rss, sp.rss); /* the private copy counts in both */
	CHECK_EQ(peek(c, addr + 10), 'A');
	CHECK_EQ(peek(c, addr + M2 + 10), 'C');
	CHECK_EQ(peek(c, addr + M2 + 11), 'B');
	/* a write in the child copies the shared private copy; the parent then takes its own back */
	CHECK_EQ(poke(c, addr + M2 + 11, 'X'), 0);
	CHECK(pfn_of(c, addr + M2) != anon1);
	CHECK_EQ(ref(a, anon1), 1);
	CHECK_EQ(peek(p, addr + M2 + 11), 'B');
	CHECK_EQ(poke(p, addr + M2 + 12, 'Y'), 0);
	CHECK_EQ(pfn_of(p, addr + M2), anon1); /* reused: no one else holds it */
	CHECK_EQ(peek(c, addr + M2 + 12), 0);
	/* a write in the parent to the cache's folio copies it; the child still sees the file */
	CHECK_EQ(poke(p, addr + 10, 'P'), 0);
	CHECK(pfn_of(p, addr) != cache0);
	CHECK_EQ(peek(c, addr + 10), 'A');
	CHECK_EQ(pfn_of(c, addr), cache0);
	CHECK_EQ(pw_file_read(f, 10, &b, 1), 0);
	CHECK_EQ(b, 'A');
	if (child_first) {
		pw_mm_destroy(c);
		CHECK_EQ(peek(p, addr + M2 + 11), 'B');
		pw_mm_destroy(p);
	} else {
		pw_mm_destroy(p);
		CHECK_EQ(peek(c, addr + M2 + 11), 'X');
		pw_mm_destroy(c);
	}
	CHECK_EQ((uint64_t)ref(a, cache0), cache_ref - 1); /* the cache's own reference */
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(fork_2m_child_first) { fork_2m(1); }
TEST(fork_2m_parent_first) { fork_2m(0); }

/* A pinned private copy: the child gets its own copy at fork; the parent's stays writable. */
TEST(fork_pinned)
{
	struct env e;
	struct pw_mm *c;
	struct pw_file *f;
	uint64_t addr = 4 * G, fr[1], anon;

	env_init(&e, 4, 32 * M2);
	if (pw_hugetlb_file_create(e.a, M2, M2, &f))
		abort();
	CHECK_EQ(pw_mmap_file(e.mm, addr, M2, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(pw_get_user_pages(e.mm, addr + 4096, 1, PW_FOLL_WRITE | PW_FOLL_PIN, fr), 1);
	anon = pfn_of(e.mm, addr);
	CHECK_EQ(fr[0], anon + 1);
	((uint8_t *)pw_frame_ptr(e.a, fr[0]))[3] = 'D';
	CHECK_EQ(pw_mm_fork(e.mm, &c), 0);
	CHECK(pfn_of(c, addr) != anon);
	CHECK_EQ(pfn_of(c, addr) & 511, 0);
	CHECK_EQ(peek(c, addr + 4096 + 3), 'D');
	CHECK_EQ(entry_of(e.mm, addr) & PW_RW, PW_RW); /* the pinned page stays the parent's, writable */
	CHECK_EQ(ref(e.a, anon), 2);		       /* the mapping and the pin */
	pw_put_user_pages(e.mm, fr, 1, PW_FOLL_PIN);
	pw_mm_destroy(c);
	CHECK_EQ(pw_munmap(e.mm, addr, M2), 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	env_fini(&e);
}

/* 1 GiB pages: the PUD leaf (here the cache's folio, as two 1 GiB copies do not fit) is shared whole. */
TEST(fork_1g)
{
	struct pw_arena *a;
	struct pw_mm *p, *c;
	struct pw_file *f;
	uint64_t free0, addr = 4 * G, cache;
	int32_t r;

	if (pw_arena_create(3 * G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, G, G, &f) || pw_mm_create(a, NULL, &p))
		abort();
	CHECK_EQ(pw_file_write(f, 77, "Q", 1), 0);
	CHECK_EQ(pw_mmap_file(p, addr, G, RW, PW_MAP_PRIVATE | PW_MAP_HUGE_1G | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(peek(p, addr + 77), 'Q');
	cache = pfn_of(p, addr);
	CHECK_EQ(cache, pw_file_page(f, 0));
	r = ref(a, cache);
	CHECK_EQ(pw_mm_fork(p, &c), 0);
	CHECK_EQ(pfn_of(c, addr), cache);
	CHECK_EQ(ref(a, cache), r + 1);
	CHECK_EQ(maps(a, cache), 2);
	CHECK_EQ(entry_of(c, addr) & (PW_PS | PW_RW), PW_PS);
	CHECK_EQ(peek(c, addr + 77), 'Q');
	CHECK_EQ(poke(c, addr + 78, 'R'), 0); /* the child copies the whole 1 GiB page */
	CHECK(pfn_of(c, addr) != cache);
	CHECK_EQ(pfn_of(c, addr) & ((1ULL << 18) - 1), 0);
	CHECK_EQ(peek(c, addr + 77), 'Q');
	CHECK_EQ(peek(p, addr + 78), 0);
	CHECK_EQ(ref(a, cache), r);
	pw_mm_destroy(p);
	pw_mm_destroy(c);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(fork_2m_child_first);
	RUN(fork_2m_parent_first);
	RUN(fork_pinned);
	RUN(fork_1g);
	return tap_done();
}
