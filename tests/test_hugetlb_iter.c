// SPDX-License-Identifier: MIT
/*
 * test_hugetlb_iter.c - the iterator (pw_for_each_entry()) takes the
 * hugetlb walk hook around the part of a walk inside a shareable hugetlb
 * VMA: the hugetlb VMA lock is held for read while the walk is positioned
 * inside it, and not before, after, after a break, nor after pw_walk_end();
 * ptdump walks shared hugetlb ranges under it.
 */
#include <stdio.h>
#include <stdlib.h>

#include <pagewalk/hugetlb.h>
#include <pagewalk/iter.h>
#include <pagewalk/ptdump.h>

#include "mm/mm.h"
#include "fixture.h"

#define G (1ULL << 30)
#define M2 (1ULL << 21)
#define RW (PW_PROT_READ | PW_PROT_WRITE)

static int sharers(struct pw_mm *mm, uint64_t addr)
{
	int n;

	pw_mmap_read_lock(mm);
	n = pw_hugetlb_pmd_sharers(mm, addr);
	pw_mmap_read_unlock(mm);
	return n;
}

struct setup {
	struct pw_arena *a;
	struct pw_mm *mm[2];
	struct pw_file *f;
	struct pw_vma *vma; /* mm[0]'s hugetlb VMA at [4G, 5G) */
	uint64_t free0;
};

static const struct pw_rwsem *hlock(struct setup *s)
{
	return s->vma->_hugetlb_lock;
}

/* Two mms share a 1 GiB hugetlb range (one PMD table); mm[0] also has anon pages around it. */
static void setup(struct setup *s)
{
	if (pw_arena_create(3 * G, &s->a))
		abort();
	s->free0 = pw_arena_free_frames(s->a);
	if (pw_hugetlb_file_create(s->a, G, M2, &s->f) || pw_mm_create(s->a, NULL, &s->mm[0]) ||
	    pw_mm_create(s->a, NULL, &s->mm[1]))
		abort();
	CHECK_EQ(pw_mmap(s->mm[0], 4 * G - 4096, 4096, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	CHECK_EQ(pw_mmap_file(s->mm[0], 4 * G, G, RW, PW_MAP_SHARED | PW_MAP_FIXED, s->f, 0, NULL), 0);
	CHECK_EQ(pw_mmap(s->mm[0], 5 * G, 4096, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	CHECK_EQ(pw_mmap_file(s->mm[1], 8 * G, G, RW, PW_MAP_SHARED | PW_MAP_FIXED, s->f, 0, NULL), 0);
	CHECK_EQ(poke(s->mm[0], 4 * G - 4096, 1), 0);
	CHECK_EQ(poke(s->mm[0], 5 * G, 1), 0);
	for (uint64_t off = 0; off < G; off += 64 * M2) {
		CHECK_EQ(poke(s->mm[0], 4 * G + off, 2), 0);
		CHECK_EQ(poke(s->mm[1], 8 * G + off + M2, 3), 0);
	}
	CHECK_EQ(sharers(s->mm[0], 4 * G), 2);
	pw_mmap_read_lock(s->mm[0]);
	s->vma = pw_vma_lookup(s->mm[0], 4 * G);
	pw_mmap_read_unlock(s->mm[0]);
	if (!s->vma || !s->vma->_hugetlb_lock)
		abort();
}

static void teardown(struct setup *s)
{
	pw_mm_destroy(s->mm[0]);
	pw_mm_destroy(s->mm[1]);
	CHECK_EQ(pw_file_destroy(s->f), 0);
	CHECK_EQ(pw_arena_free_frames(s->a), s->free0);
	pw_arena_destroy(s->a);
}

/* Every step, with and without holes, piecewise and by size: held iff inside. */
static void held_iff_inside(unsigned flags)
{
	struct setup s;
	struct pw_walk_state st;
	unsigned inside = 0, outside = 0, wrong = 0;

	setup(&s);
	pw_mmap_read_lock(s.mm[0]);
	CHECK(!pw_rwsem_held(hlock(&s)));
	pw_for_each_entry(&st, s.mm[0], 0, 0, flags) {
		bool in = st.start >= 4 * G && st.start < 5 * G;

		if (st.type == PW_STEP_LEAF)
			*(in ? &inside : &outside) += 1;
		if (in != pw_rwsem_held(hlock(&s)))
			wrong++;
	}
	CHECK_EQ(pw_walk_error(&st), 0);
	CHECK_EQ(wrong, 0);
	CHECK(inside > 0);
	CHECK_EQ(outside, 2);
	CHECK(!pw_rwsem_held(hlock(&s)));
	pw_mmap_read_unlock(s.mm[0]);
	teardown(&s);
}

TEST(leaves) { held_iff_inside(PW_WALK_ALL_SIZES); }
TEST(pieces_and_holes) { held_iff_inside(PW_WALK_HOLES); }
TEST(tables) { held_iff_inside(PW_WALK_ALL_SIZES | PW_WALK_HOLES | PW_WALK_TABLES); }

/* A walk that starts inside the VMA; a break inside; pw_walk_end() inside; nested walks. */
TEST(break_and_end)
{
	struct setup s;
	struct pw_walk_state st, in;
	bool was = false, nested_ok = true;

	setup(&s);
	pw_mmap_read_lock(s.mm[0]);
	pw_for_each_entry(&st, s.mm[0], 4 * G + 64 * M2, 0, PW_WALK_ALL_SIZES) {
		was = pw_rwsem_held(hlock(&s));
		break;
	}
	CHECK(was);
	CHECK(!pw_rwsem_held(hlock(&s)));
	/* the explicit API: begin inside, end there */
	CHECK_EQ(pw_walk_begin(&st, s.mm[0], 4 * G, 5 * G, PW_WALK_ALL_SIZES), 1);
	CHECK(pw_rwsem_held(hlock(&s)));
	CHECK_EQ(pw_walk_next(&st), 1);
	pw_walk_end(&st);
	CHECK(!pw_rwsem_held(hlock(&s)));
	pw_walk_end(&st); /* twice: harmless */
	/* a complete walk of the VMA alone */
	pw_for_each_entry(&st, s.mm[0], 4 * G, 5 * G, PW_WALK_ALL_SIZES)
		;
	CHECK(!pw_rwsem_held(hlock(&s)));
	/* a walk nested inside another: the inner one does not take the lock again */
	pw_for_each_entry(&st, s.mm[0], 4 * G, 5 * G, PW_WALK_ALL_SIZES) {
		pw_for_each_entry(&in, s.mm[0], st.start, st.end, PW_WALK_ALL_SIZES)
			nested_ok &= pw_rwsem_held(hlock(&s));
		nested_ok &= pw_rwsem_held(hlock(&s)); /* still the outer walk's */
	}
	CHECK(nested_ok);
	CHECK(!pw_rwsem_held(hlock(&s)));
	/* a lockless walk takes no hook */
	pw_for_each_entry(&st, s.mm[0], 4 * G, 5 * G, PW_WALK_ALL_SIZES | PW_WALK_NOLOCK) {
		was = pw_rwsem_held(hlock(&s));
		break;
	}
	CHECK(!was);
	pw_mmap_read_unlock(s.mm[0]);
	/* ptdump walks it through the iterator and leaves nothing held */
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		CHECK_EQ(pw_ptdump(s.mm[0], f, NULL, NULL), 0);
		fclose(f);
		CHECK(len > 0);
		free(buf);
	}
	CHECK(!pw_rwsem_held(hlock(&s)));
	/* after the walks, unsharing (it takes the lock for write) still goes through */
	CHECK_EQ(pw_munmap(s.mm[0], 4 * G, G / 2), 0);
	CHECK_EQ(sharers(s.mm[1], 8 * G), 1);
	teardown(&s);
}

int main(void)
{
	tap_start();
	RUN(leaves);
	RUN(pieces_and_holes);
	RUN(tables);
	RUN(break_and_end);
	return tap_done();
}
