// SPDX-License-Identifier: MIT
/*
 * test_rcu_mt.c - page tables freed through RCU.
 *
 * A lockless reader (inside pw_rcu_read_lock(), no mmap lock) that holds a
 * pointer into a PTE table while munmap unhooks that table must still read
 * the table's memory: munmap waits for a grace period before it frees the
 * frame. The scenario is ordered, not timed: the reader reads only once
 * munmap is waiting for the grace period (pt.in_grace) or has returned.
 * With the test hook that frees at once (pw_debug_table_free_now) the same
 * read touches a freed, poisoned frame and AddressSanitizer stops the
 * program: run in a child, it must die. Then a churn: readers descending
 * at random addresses while the main thread maps and unmaps, under ASan
 * and TSan.
 */
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "fixture.h"
#include "mm/mm.h"
#include "pt/pt.h"

#define LEN (4ULL << 21)

struct scene {
	struct pw_mm *mm;
	uint64_t addr;
	int have_pointer, munmap_done;
	uint64_t seen; /* what the reader read */
};

static void *late_reader(void *arg)
{
	struct scene *s = arg;
	struct pw_pt_entry pte;
	uint64_t sum = 0;

	pw_rcu_read_lock();
	if (pw_pt_descend(&s->mm->pt, s->addr, PW_LEVEL_PTE, &pte, NULL) != PW_PT_LEAF)
		abort();
	__atomic_store_n(&s->have_pointer, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&s->munmap_done, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&s->mm->pt.in_grace, __ATOMIC_ACQUIRE))
		sched_yield();
	/* the table is unhooked (and zapped) by now: read all of it */
	for (unsigned i = 0; i < PW_PTRS_PER_TABLE; i++)
		sum += pw_entry_read(pte.ptep - pw_index(PW_LEVEL_PTE, s->addr) + i);
	pw_rcu_read_unlock();
	s->seen = sum;
	return NULL;
}

/* Returns the frames the munmap gave back. */
static void run_scene(struct env *e, uint64_t *before, uint64_t *after)
{
	struct scene s = { .mm = e->mm };
	pthread_t t;

	*before = pw_arena_free_frames(e->a);
	if (pw_mmap(e->mm, 0, LEN, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_POPULATE,
		    &s.addr))
		abort();
	if (pthread_create(&t, NULL, late_reader, &s))
		abort();
	while (!__atomic_load_n(&s.have_pointer, __ATOMIC_ACQUIRE))
		sched_yield();
	if (pw_munmap(e->mm, s.addr, LEN))
		abort();
	__atomic_store_n(&s.munmap_done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	*after = pw_arena_free_frames(e->a);
}

TEST(reader_keeps_unhooked_table_until_grace_period)
{
	struct env e;
	uint64_t before, after;

	env_init(&e, 4, 64 << 20);
	run_scene(&e, &before, &after);
	/* every page and table frame is back once munmap returns */
	CHECK_EQ(after, before);
	CHECK_EQ(e.mm->pt.nr_deferred, 0);
	env_fini(&e);
}

TEST(freeing_without_grace_period_is_caught)
{
#ifndef __SANITIZE_ADDRESS__
	SKIP("needs AddressSanitizer (freed table frames are poisoned only there)");
#else
	int p[2], status = 0;
	char buf[4096] = { 0 };
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	REQUIRE_EQ(pipe(p), 0);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct env e;
		uint64_t before, after;

		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		pw_debug_table_free_now = true;
		env_init(&e, 4, 64 << 20);
		run_scene(&e, &before, &after);
		_exit(0); /* the reader's read of the freed table must not get here */
	}
	close(p[1]);
	while (got + 1 < sizeof(buf) && (n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	waitpid(pid, &status, 0);
	CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
	CHECK(strstr(buf, "use-after-poison") != NULL);
	CHECK(strstr(buf, "late_reader") != NULL);
	if (tap_cur_failed)
		tap_diag("child status %#x, said: %.300s", status, buf);
#endif
}

/* ---- churn: lockless descents racing map / unmap ------------------------ */

#define READERS 2
#define ROUNDS 300

struct churn {
	struct pw_mm *mm;
	uint64_t base;
	int stop;
	uint64_t descents, leaves, sink;
};

static void *churn_reader(void *arg)
{
	struct churn *c = arg;
	uint64_t x = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ULL | 1;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		struct pw_pt_entry e;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		pw_rcu_read_lock();
		if (pw_pt_descend(&c->mm->pt, c->base + (x % (8 * LEN) & ~0xfffULL), PW_LEVEL_PTE, &e,
				  NULL) == PW_PT_LEAF) {
			/* read the whole table the leaf is in: it must stay readable */
			const uint64_t *t = (const uint64_t *)((uintptr_t)e.ptep & ~(uintptr_t)0xfff);
			uint64_t v = 0;

			for (unsigned i = 0; i < PW_PTRS_PER_TABLE; i++)
				v |= pw_entry_read(&t[i]);
			__atomic_fetch_xor(&c->sink, v, __ATOMIC_RELAXED);
			__atomic_fetch_add(&c->leaves, 1, __ATOMIC_RELAXED);
		}
		pw_rcu_read_unlock();
		__atomic_fetch_add(&c->descents, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

TEST(lockless_descents_race_munmap)
{
	struct env e;
	struct churn c = { 0 };
	pthread_t t[READERS];
	uint64_t free_before, got;

	env_init(&e, 4, 256 << 20);
	c.mm = e.mm;
	free_before = pw_arena_free_frames(e.a);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 8 * LEN, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &c.base),
		   0);
	for (int i = 0; i < READERS; i++)
		REQUIRE_EQ(pthread_create(&t[i], NULL, churn_reader, &c), 0);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t a = c.base + (uint64_t)(r % 8) * LEN;

		CHECK_EQ(pw_mm_populate(e.mm, a, a + LEN, true), 0);
		CHECK_EQ(pw_munmap(e.mm, a, LEN), 0);
		CHECK_EQ(pw_mmap(e.mm, a, LEN, PW_PROT_READ | PW_PROT_WRITE,
				 PW_MAP_PRIVATE | PW_MAP_FIXED, &got),
			 0);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < READERS; i++)
		pthread_join(t[i], NULL);
	tap_diag("%d rounds: %" PRIu64 " lockless descents, %" PRIu64 " reached a PTE", ROUNDS,
		 c.descents, c.leaves);
	CHECK(c.descents > 0);
	CHECK_EQ(pw_munmap(e.mm, c.base, 8 * LEN), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), free_before);
	env_fini(&e);
}


/* ---- the PTE-table ABA of mapping walks --------------------------------- */

/*
 * A walker read a PMD entry, then (before it locks the PTE table) the
 * table is unhooked, freed and a table is linked there again. Either the
 * same frame came back (the entry reads the same: locking it is locking
 * the table that is linked now) or another one did (the entry differs:
 * pw_pt_lock_ptes() says "again"). Never a lock on a table that is not the
 * one linked under the PMD entry.
 */
static void aba_round(struct env *e, bool take_frame_first, int *same, int *again)
{
	uint64_t addr, got, hog = 0;
	struct pw_pt_entry pmd, now;
	uint64_t *t;

	CHECK_EQ(pw_mmap(e->mm, 0, 1 << 21, PW_PROT_READ | PW_PROT_WRITE,
			 PW_MAP_PRIVATE | PW_MAP_POPULATE, &addr),
		 0);
	pw_mmap_read_lock(e->mm);
	REQUIRE_EQ(pw_pt_descend(&e->mm->pt, addr, PW_LEVEL_PMD, &pmd, NULL), PW_PT_TABLE);
	pw_mmap_read_unlock(e->mm);
	/* the table goes, and comes back (the same frame, or another if we hold that one) */
	CHECK_EQ(pw_munmap(e->mm, addr, 1 << 21), 0);
	if (take_frame_first)
		CHECK_EQ(pw_frame_alloc(e->a, 0, &hog), 0);
	CHECK_EQ(pw_mmap(e->mm, addr, 1 << 21, PW_PROT_READ | PW_PROT_WRITE,
			 PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, &got),
		 0);
	pw_mmap_read_lock(e->mm);
	t = pw_pt_lock_ptes(&e->mm->pt, &pmd);
	REQUIRE_EQ(pw_pt_descend(&e->mm->pt, addr, PW_LEVEL_PMD, &now, NULL), PW_PT_TABLE);
	if (t) {
		(*same)++;
		CHECK_EQ(now.val, pmd.val);
		CHECK(t == pw_pt_table(&e->mm->pt, pw_pt_next_pfn(&e->mm->pt, now.val)));
		CHECK(pw_spin_held(&pw_frame_meta(e->a, pw_pt_next_pfn(&e->mm->pt, now.val))->ptl));
		pw_pt_pte_unlock(&e->mm->pt, pw_pt_next_pfn(&e->mm->pt, pmd.val));
	} else {
		(*again)++;
		CHECK(now.val != pmd.val);
	}
	pw_mmap_read_unlock(e->mm);
	CHECK_EQ(pw_munmap(e->mm, addr, 1 << 21), 0);
	if (hog)
		pw_frame_free(e->a, hog, 0);
}

TEST(pte_table_aba_is_same_table_or_again)
{
	struct env e;
	int same = 0, again = 0;

	env_init(&e, 4, 64 << 20);
	for (int i = 0; i < 8; i++)
		aba_round(&e, i & 1, &same, &again);
	tap_diag("8 rounds: %d reused the frame (locked, it is the linked table), %d again", same,
		 again);
	/* both cases happened: the allocator gives the freed frame back first */
	CHECK(same > 0);
	CHECK(again > 0);
	env_fini(&e);
}

int main(void)
{
	tap_start();
	RUN(reader_keeps_unhooked_table_until_grace_period);
	RUN(freeing_without_grace_period_is_caught);
	RUN(lockless_descents_race_munmap);
	RUN(pte_table_aba_is_same_table_or_again);
	return tap_done();
}
