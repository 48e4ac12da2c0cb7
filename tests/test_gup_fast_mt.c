// SPDX-License-Identifier: MIT
/*
 * test_gup_fast_mt.c - lockless GUP (pw_get_user_pages_fast()), the
 * lockless translation and the lockless iterator (PW_WALK_NOLOCK).
 *
 * Sequential: what the lockless part takes (counted by mm->nr_gup_fast),
 * what it leaves to the locked path, the same results and errnos as
 * pw_get_user_pages(), references given back. Concurrent (ASan and TSan):
 * GUP-fast racing munmap of the same range (every frame returned is a live
 * anonymous page while we hold it; freed table frames are poisoned under
 * ASan, so a walk into a freed table stops the test); pins racing fork
 * (the pinned frame is never the child's: fork copies a pinned page, and a
 * pin after fork breaks copy-on-write); lockless translations and
 * NOLOCK iterations racing map/unmap.
 */
#include <pthread.h>
#include <string.h>

#include <pagewalk/gup.h>
#include <pagewalk/iter.h>

#include "core/core.h"
#include "fixture.h"
#include "mm/mm.h"
#include "pt/pt.h"

#define PG 4096ULL
#define RW (PW_PROT_READ | PW_PROT_WRITE)

static int32_t refs(struct env *e, uint64_t pfn)
{
	return __atomic_load_n(&pw_frame_meta(e->a, pfn)->refcount, __ATOMIC_RELAXED);
}

TEST(lockless_part_takes_mapped_pages)
{
	struct env e;
	uint64_t a, fr[64], slow[64];
	int32_t r0[64];

	env_init(&e, 4, 32 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 64 * PG, RW, PW_MAP_PRIVATE | PW_MAP_POPULATE, &a), 0);
	pw_mmap_read_lock(e.mm);
	for (int i = 0; i < 64; i++) {
		struct pw_translation t;

		REQUIRE_EQ(pw_translate(e.mm, a + i * PG, &t), 0);
		slow[i] = t.pfn;
		r0[i] = refs(&e, t.pfn);
	}
	pw_mmap_read_unlock(e.mm);
	CHECK_EQ(pw_get_user_pages_fast(e.mm, a, 64, PW_FOLL_WRITE, fr), 64);
	CHECK_EQ(e.mm->nr_gup_fast, 64);
	for (int i = 0; i < 64; i++) {
		CHECK_EQ(fr[i], slow[i]);
		CHECK_EQ(refs(&e, fr[i]), r0[i] + 1);
	}
	pw_put_user_pages(e.mm, fr, 64, PW_FOLL_WRITE);
	for (int i = 0; i < 64; i++)
		CHECK_EQ(refs(&e, slow[i]), r0[i]);
	/* pins count too */
	CHECK_EQ(pw_get_user_pages_fast(e.mm, a, 8, PW_FOLL_PIN | PW_FOLL_WRITE, fr), 8);
	CHECK_EQ(pw_frame_meta(e.a, fr[3])->pincount, 1);
	pw_put_user_pages(e.mm, fr, 8, PW_FOLL_PIN);
	CHECK_EQ(pw_frame_meta(e.a, fr[3])->pincount, 0);
	env_fini(&e);
}

TEST(what_it_cannot_take_goes_to_the_locked_path)
{
	struct env e;
	struct pw_mm *child;
	uint64_t a, fr[32];
	uint64_t n0;

	env_init(&e, 4, 32 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 32 * PG, RW, PW_MAP_PRIVATE, &a), 0);
	/* the first 8 pages mapped, the rest missing: 8 lockless, 24 faulted */
	REQUIRE_EQ(pw_mm_populate(e.mm, a, a + 8 * PG, true), 0);
	CHECK_EQ(pw_get_user_pages_fast(e.mm, a, 32, 0, fr), 32);
	CHECK_EQ(e.mm->nr_gup_fast, 8);
	pw_put_user_pages(e.mm, fr, 32, 0);
	/* after a fork every private page is read-only: a write takes the locked path and copies */
	REQUIRE_EQ(pw_mm_populate(e.mm, a, a + 32 * PG, true), 0);
	REQUIRE_EQ(pw_mm_fork(e.mm, &child), 0);
	n0 = e.mm->nr_gup_fast;
	CHECK_EQ(pw_get_user_pages_fast(e.mm, a, 4, PW_FOLL_WRITE, fr), 4);
	CHECK_EQ(e.mm->nr_gup_fast, n0);
	{
		struct pw_translation t;

		pw_mmap_read_lock(child);
		CHECK_EQ(pw_translate(child, a, &t), 0);
		CHECK(t.pfn != fr[0]); /* the write broke copy-on-write */
		pw_mmap_read_unlock(child);
	}
	pw_put_user_pages(e.mm, fr, 4, 0);
	/* a read reference of a shared read-only page is taken locklessly; a pin is not */
	n0 = e.mm->nr_gup_fast;
	CHECK_EQ(pw_get_user_pages_fast(e.mm, a + 8 * PG, 2, 0, fr), 2);
	CHECK_EQ(e.mm->nr_gup_fast, n0 + 2);
	pw_put_user_pages(e.mm, fr, 2, 0);
	CHECK_EQ(pw_get_user_pages_fast(e.mm, a + 8 * PG, 2, PW_FOLL_PIN, fr), 2);
	CHECK_EQ(e.mm->nr_gup_fast, n0 + 2);
	pw_put_user_pages(e.mm, fr, 2, PW_FOLL_PIN);
	pw_mm_destroy(child);
	env_fini(&e);
}

TEST(bad_input_as_the_locked_gup)
{
	struct env e;
	struct pw_mm *foreign;
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	uint64_t a, ro, none, fr[4], free0, top = pw_low_half_end(4);
	struct {
		struct pw_mm *mm;
		uint64_t start;
		unsigned long nr;
		unsigned flags;
		uint64_t *frames;
	} cases[12];
	int n = 0;

	env_init(&e, 4, 16 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 * PG, RW, PW_MAP_PRIVATE | PW_MAP_POPULATE, &a), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, PG, PW_PROT_READ, PW_MAP_PRIVATE | PW_MAP_POPULATE, &ro), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, PG, PW_PROT_NONE, PW_MAP_PRIVATE, &none), 0);
	CHECK_EQ(pw_munmap(e.mm, a + 2 * PG, PG), 0);
	REQUIRE_EQ(pw_mm_create_foreign(pw_mm_phys(e.mm), &cfg, pw_mm_root(e.mm), &foreign), 0);
	free0 = pw_arena_free_frames(e.a);
#define CASE(m, s, k, f, fr_) (cases[n++] = (typeof(cases[0])){ m, s, k, f, fr_ })
	CASE(e.mm, a + 1, 1, 0, fr);
	CASE(e.mm, a, 1, 1u << 7, fr);
	CASE(NULL, a, 1, 0, fr);
	CASE(e.mm, a, 1, 0, NULL);
	CASE(foreign, a, 1, 0, fr);
	CASE(e.mm, top - PG, 2, 0, fr);
	CASE(e.mm, ~0ULL & PW_PAGE_MASK, 2, 0, fr);
	CASE(e.mm, a + 2 * PG, 1, 0, fr);
	CASE(e.mm, none, 1, 0, fr);
	CASE(e.mm, ro, 1, PW_FOLL_WRITE, fr);
	CASE(e.mm, a, 0, 0, fr);
	CASE(e.mm, a + PG, 2, 0, fr); /* the second page is unmapped: 1 */
	for (int i = 0; i < n; i++) {
		long slow = pw_get_user_pages(cases[i].mm, cases[i].start, cases[i].nr, cases[i].flags,
					      cases[i].frames);
		long fast;

		if (slow > 0)
			pw_put_user_pages(e.mm, cases[i].frames, (unsigned long)slow, cases[i].flags);
		fast = pw_get_user_pages_fast(cases[i].mm, cases[i].start, cases[i].nr, cases[i].flags,
					      cases[i].frames);
		if (fast > 0)
			pw_put_user_pages(e.mm, cases[i].frames, (unsigned long)fast, cases[i].flags);
		CHECK_EQ(fast, slow);
		if (fast != slow)
			tap_diag("case %d: fast %ld, locked %ld", i, fast, slow);
	}
	CHECK_EQ(pw_arena_free_frames(e.a), free0);
	pw_mm_destroy(foreign);
	env_fini(&e);
}

/* ---- GUP-fast racing munmap of the same range ---------------------------- */

#define RPAGES 64
#define ROUNDS 300

struct race {
	struct env *e;
	uint64_t addr;
	int stop;
	uint64_t calls, pages, bad;
};

static void *gupper(void *arg)
{
	struct race *r = arg;
	uint64_t fr[RPAGES];

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		long got = pw_get_user_pages_fast(r->e->mm, r->addr, RPAGES, 0, fr);

		__atomic_fetch_add(&r->calls, 1, __ATOMIC_RELAXED);
		if (got <= 0)
			continue;
		for (long i = 0; i < got; i++) {
			struct pw_frame *f = pw_frame_meta(r->e->a, fr[i]);
			uint32_t flags = __atomic_load_n(&f->flags, __ATOMIC_RELAXED);

			/* held by us: allocated, an anonymous data page, referenced */
			if ((flags & (PW_FRAME_FREE | PW_FRAME_PGTABLE)) || !(flags & PW_FRAME_ANON) ||
			    __atomic_load_n(&f->refcount, __ATOMIC_RELAXED) < 1)
				__atomic_fetch_add(&r->bad, 1, __ATOMIC_RELAXED);
		}
		__atomic_fetch_add(&r->pages, (uint64_t)got, __ATOMIC_RELAXED);
		pw_put_user_pages(r->e->mm, fr, (unsigned long)got, 0);
	}
	return NULL;
}

TEST(gup_fast_races_munmap)
{
	struct env e;
	struct race r = { .e = &e };
	pthread_t t;
	uint64_t got, free_mapped;

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, RPAGES * PG, RW, PW_MAP_PRIVATE | PW_MAP_POPULATE, &r.addr), 0);
	free_mapped = pw_arena_free_frames(e.a);
	REQUIRE_EQ(pthread_create(&t, NULL, gupper, &r), 0);
	for (int i = 0; i < ROUNDS; i++) {
		CHECK_EQ(pw_munmap(e.mm, r.addr, RPAGES * PG), 0);
		CHECK_EQ(pw_mmap(e.mm, r.addr, RPAGES * PG, RW,
				 PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, &got),
			 0);
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	tap_diag("%d munmap/mmap rounds: %" PRIu64 " GUP-fast calls, %" PRIu64
		 " pages held, %" PRIu64 " taken without locks, %" PRIu64 " bad",
		 ROUNDS, r.calls, r.pages, e.mm->nr_gup_fast, r.bad);
	CHECK_EQ(r.bad, 0);
	CHECK(r.pages > 0);
	/* the references all came back: as many frames free as after the first mapping */
	CHECK_EQ(pw_arena_free_frames(e.a), free_mapped);
	env_fini(&e);
}

/* ---- pins racing fork ------------------------------------------------------ */

struct pinrace {
	struct pw_mm *mm;
	uint64_t addr;
	int go, done; /* rounds: the pinner pins when go > done, reports in done */
	long got;
	uint64_t frame;
};

static void *pinner(void *arg)
{
	struct pinrace *p = arg;

	for (int round = 1; round <= ROUNDS; round++) {
		while (__atomic_load_n(&p->go, __ATOMIC_ACQUIRE) < round)
			sched_yield();
		p->got = pw_get_user_pages_fast(p->mm, p->addr, 1, PW_FOLL_PIN | PW_FOLL_WRITE,
						&p->frame);
		__atomic_store_n(&p->done, round, __ATOMIC_RELEASE);
	}
	return NULL;
}

TEST(pin_racing_fork_is_never_shared_with_the_child)
{
	struct env e;
	struct pinrace p = { 0 };
	pthread_t t;
	int shared = 0, pinned = 0;

	env_init(&e, 4, 64 << 20);
	p.mm = e.mm;
	REQUIRE_EQ(pw_mmap(e.mm, 0, 16 * PG, RW, PW_MAP_PRIVATE | PW_MAP_POPULATE, &p.addr), 0);
	REQUIRE_EQ(pthread_create(&t, NULL, pinner, &p), 0);
	for (int round = 1; round <= ROUNDS; round++) {
		struct pw_mm *child;
		struct pw_translation tr;

		/* the pin and the fork start together */
		__atomic_store_n(&p.go, round, __ATOMIC_RELEASE);
		REQUIRE_EQ(pw_mm_fork(e.mm, &child), 0);
		while (__atomic_load_n(&p.done, __ATOMIC_ACQUIRE) < round)
			sched_yield();
		if (p.got == 1) {
			pinned++;
			pw_mmap_read_lock(child);
			if (pw_translate(child, p.addr, &tr) == 0 && tr.pfn == p.frame)
				shared++; /* the child maps the page a device may be writing */
			pw_mmap_read_unlock(child);
			pw_put_user_pages(e.mm, &p.frame, 1, PW_FOLL_PIN);
		}
		pw_mm_destroy(child);
	}
	pthread_join(t, NULL);
	tap_diag("%d forks, %d with a pin taken alongside, %d pinned pages shared with the child",
		 ROUNDS, pinned, shared);
	CHECK_EQ(pinned, ROUNDS);
	CHECK_EQ(shared, 0);
	env_fini(&e);
}

/* ---- lockless translation and NOLOCK iteration racing map/unmap --------- */

struct tr_race {
	struct env *e;
	uint64_t base;
	int stop;
	uint64_t lookups, steps, bad;
};

static void *translator(void *arg)
{
	struct tr_race *r = arg;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		struct pw_translation t;
		struct pw_walk_state st;
		int ret;

		for (int i = 0; i < 64; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			ret = pw_translate_lockless(r->e->mm, r->base + (x % (8 * RPAGES)) * PG, &t);
			if (ret == 0 && t.pfn >= pw_arena_nr_frames(r->e->a))
				__atomic_fetch_add(&r->bad, 1, __ATOMIC_RELAXED);
			else if (ret && ret != -ENOENT)
				__atomic_fetch_add(&r->bad, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&r->lookups, 1, __ATOMIC_RELAXED);
		}
		pw_for_each_entry(&st, r->e->mm, r->base, r->base + 8 * RPAGES * PG, PW_WALK_NOLOCK) {
			if (st.type == PW_STEP_LEAF &&
			    pw_entry_pfn(st.level, st.entry, 52) >= pw_arena_nr_frames(r->e->a))
				__atomic_fetch_add(&r->bad, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&r->steps, 1, __ATOMIC_RELAXED);
		}
		if (pw_walk_error(&st))
			__atomic_fetch_add(&r->bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

TEST(lockless_translate_and_iterator_race_munmap)
{
	struct env e;
	struct tr_race r = { .e = &e };
	pthread_t t[2];
	uint64_t got;

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 8 * RPAGES * PG, RW, PW_MAP_PRIVATE, &r.base), 0);
	for (int i = 0; i < 2; i++)
		REQUIRE_EQ(pthread_create(&t[i], NULL, translator, &r), 0);
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t a = r.base + (uint64_t)(i % 8) * RPAGES * PG;

		CHECK_EQ(pw_mm_populate(e.mm, a, a + RPAGES * PG, true), 0);
		CHECK_EQ(pw_munmap(e.mm, a, RPAGES * PG), 0);
		CHECK_EQ(pw_mmap(e.mm, a, RPAGES * PG, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, &got), 0);
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	tap_diag("%d rounds: %" PRIu64 " lockless lookups, %" PRIu64 " NOLOCK steps, %" PRIu64 " bad",
		 ROUNDS, r.lookups, r.steps, r.bad);
	CHECK_EQ(r.bad, 0);
	env_fini(&e);
}

/* On a quiet mm the NOLOCK iterator reports what the locked one does. */
TEST(nolock_iterator_equals_locked_on_a_quiet_mm)
{
	struct env e;
	uint64_t a, sum[2] = { 0 }, n[2] = { 0 };
	struct pw_walk_state st;

	env_init(&e, 4, 32 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 600 * PG, RW, PW_MAP_PRIVATE, &a), 0);
	REQUIRE_EQ(pw_mm_populate(e.mm, a + 3 * PG, a + 517 * PG, true), 0);
	pw_mmap_read_lock(e.mm);
	pw_for_each_entry(&st, e.mm, 0, 0, PW_WALK_HOLES | PW_WALK_TABLES) {
		sum[0] += st.entry ^ st.start;
		n[0]++;
	}
	pw_mmap_read_unlock(e.mm);
	pw_for_each_entry(&st, e.mm, 0, 0, PW_WALK_HOLES | PW_WALK_TABLES | PW_WALK_NOLOCK) {
		sum[1] += st.entry ^ st.start;
		n[1]++;
	}
	CHECK_EQ(n[0], n[1]);
	CHECK_EQ(sum[0], sum[1]);
	CHECK(!pw_rcu_read_held()); /* the loop's end left the read-side section */
	env_fini(&e);
}

int main(void)
{
	tap_start();
	RUN(lockless_part_takes_mapped_pages);
	RUN(what_it_cannot_take_goes_to_the_locked_path);
	RUN(bad_input_as_the_locked_gup);
	RUN(gup_fast_races_munmap);
	RUN(pin_racing_fork_is_never_shared_with_the_child);
	RUN(lockless_translate_and_iterator_race_munmap);
	RUN(nolock_iterator_equals_locked_on_a_quiet_mm);
	return tap_done();
}
