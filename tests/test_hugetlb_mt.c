// SPDX-License-Identifier: MIT
/*
 * test_hugetlb_mt.c - unsharing under walkers: threads walk a shared
 * hugetlb range (the callback walker with hugetlb_entry, the iterator,
 * pw_translate(), pw_walk_page_mapping(), GUP pins) while another thread munmaps,
 * remaps and mprotects parts of it in the sharers, many rounds (run under
 * ASan, where unhooked table frames are poisoned, and under TSan). Every
 * huge leaf seen must map the page-cache folio of its file offset (no torn
 * or stale result). A last part runs, in a child process, a walk with the
 * test hook that leaves the hugetlb VMA lock out of
 * pw_vma_pgtable_walk_begin(): it must fail.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pagewalk/gup.h>
#include <pagewalk/hugetlb.h>
#include <pagewalk/iter.h>
#include <pagewalk/pagewalk.h>

#include "fixture.h"

#define G (1ULL << 30)
#define M2 (1ULL << 21)
#define NMM 3

extern bool pw_debug_hugetlb_walk_nolock;

static struct pw_arena *arena;
static struct pw_file *file;
static struct pw_mm *mms[NMM];
static int stop, bad, seen, loops;

static uint64_t base(int i)
{
	return (uint64_t)(i + 1) * 4 * G;
}

/* A present huge leaf at @addr of mm @i must be the cache folio of its offset. */
static void check_leaf(int i, uint64_t addr, uint64_t v)
{
	uint64_t index = (addr - base(i)) >> 12;
	uint64_t pfn = (v & 0x000ffffffffff000ULL & ~(M2 - 1)) >> 12;

	if (!(v & PW_P))
		return;
	__atomic_fetch_add(&seen, 1, __ATOMIC_RELAXED);
	if (!(v & PW_PS) || pfn != pw_file_page(file, index & ~511ULL))
		__atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
}

static int h_entry(pw_pte_t *pte, uint64_t hmask, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	int i = (int)(intptr_t)walk->private;

	if (i < 0) { /* a mapping walk: find the mm */
		for (i = 0; i < NMM && mms[i] != walk->mm; i++)
			;
	}
	if (i < NMM)
		check_leaf(i, addr, pw_entry_read((uint64_t *)pte));
	(void)hmask, (void)next;
	return 0;
}

static const struct pw_walk_ops hops = { .hugetlb_entry = h_entry };

static void *walker(void *arg)
{
	int i = (int)(intptr_t)arg;
	struct pw_mm *mm = mms[i];

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct pw_walk_state st;
		struct pw_translation t;

		pw_mmap_read_lock(mm);
		pw_walk_page_range(mm, base(i), base(i) + G, &hops, (void *)(intptr_t)i);
		pw_for_each_entry(&st, mm, base(i), base(i) + G, PW_WALK_ALL_SIZES) {
			if (st.type == PW_STEP_LEAF)
				check_leaf(i, st.start, st.entry);
		}
		for (uint64_t a = base(i); a < base(i) + G; a += 64 * M2)
			if (!pw_translate(mm, a, &t))
				check_leaf(i, a, t.entry);
		pw_mmap_read_unlock(mm);
		/* GUP: pins on the huge folio, 4 KiB frames of the cache's folio */
		for (uint64_t a = base(i) + 4096 * (uint64_t)i; a < base(i) + G; a += 128 * M2) {
			uint64_t fr[2], index = (a - base(i)) >> 12;
			long n = pw_get_user_pages(mm, a, 2, PW_FOLL_PIN, fr);

			for (long k = 0; k < n; k++)
				if (fr[k] != pw_file_page(file, index & ~511ULL) + (index & 511) + (uint64_t)k)
					__atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
			if (n > 0)
				pw_put_user_pages(mm, fr, (unsigned long)n, PW_FOLL_PIN);
		}
		__atomic_fetch_add(&loops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *mapping_walker(void *arg)
{
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		pw_i_mmap_lock_read(file);
		pw_walk_page_mapping(file, 0, G >> 12, &hops, (void *)(intptr_t)-1);
		pw_i_mmap_unlock_read(file);
		__atomic_fetch_add(&loops, 1, __ATOMIC_RELAXED);
	}
	(void)arg;
	return NULL;
}

static void touch(struct pw_mm *mm, uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a < start + len; a += 32 * M2)
		peek(mm, a);
}

TEST(unshare_under_walkers)
{
	pthread_t w[NMM], mw;
	uint64_t free0;

	if (pw_arena_create(2 * G, &arena))
		abort();
	free0 = pw_arena_free_frames(arena);
	if (pw_hugetlb_file_create(arena, G, M2, &file))
		abort();
	for (int i = 0; i < NMM; i++) {
		if (pw_mm_create(arena, NULL, &mms[i]))
			abort();
		CHECK_EQ(pw_mmap_file(mms[i], base(i), G, PW_PROT_READ | PW_PROT_WRITE,
				      PW_MAP_SHARED | PW_MAP_FIXED, file, 0, NULL), 0);
		touch(mms[i], base(i), G);
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&w[i], NULL, walker, (void *)(intptr_t)i);
	pthread_create(&mw, NULL, mapping_walker, NULL);
	while (__atomic_load_n(&loops, __ATOMIC_RELAXED) < 3)
		sched_yield(); /* the walkers are running */
	for (int round = 0; round < 60; round++) {
		int l0 = __atomic_load_n(&loops, __ATOMIC_RELAXED);

		int i = round % NMM;
		struct pw_mm *mm = mms[i];

		switch (round % 4) {
		case 0: /* unmap half: unshare, the other half refaults alone */
			CHECK_EQ(pw_munmap(mm, base(i) + G / 2, G / 2), 0);
			touch(mm, base(i), G / 2);
			CHECK_EQ(pw_mmap_file(mm, base(i) + G / 2, G / 2, PW_PROT_READ | PW_PROT_WRITE,
					      PW_MAP_SHARED | PW_MAP_FIXED, file, (G / 2) >> 12, NULL), 0);
			break;
		case 1: /* mprotect part (an unshare), then back */
			CHECK_EQ(pw_mprotect(mm, base(i), 4 * M2, PW_PROT_READ), 0);
			touch(mm, base(i), G);
			CHECK_EQ(pw_mprotect(mm, base(i), 4 * M2, PW_PROT_READ | PW_PROT_WRITE), 0);
			break;
		case 2: /* unmap all (frees the table when it was the last sharer) and map again */
			CHECK_EQ(pw_munmap(mm, base(i), G), 0);
			CHECK_EQ(pw_mmap_file(mm, base(i), G, PW_PROT_READ | PW_PROT_WRITE,
					      PW_MAP_SHARED | PW_MAP_FIXED, file, 0, NULL), 0);
			touch(mm, base(i), G);
			break;
		default:
			touch(mm, base(i), G);
			break;
		}
		/* let the walkers run against each state at least once */
		while (__atomic_load_n(&loops, __ATOMIC_RELAXED) == l0)
			sched_yield();
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	pthread_join(mw, NULL);
	CHECK_EQ(bad, 0);
	CHECK(seen > 0);
	for (int i = 0; i < NMM; i++)
		pw_mm_destroy(mms[i]);
	CHECK_EQ(pw_file_destroy(file), 0);
	CHECK_EQ(pw_arena_free_frames(arena), free0);
	pw_arena_destroy(arena);
}

/* Without the VMA lock in the begin hook, a hugetlb walk is caught (debug assert). */
TEST(walk_without_vma_lock_fails)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		struct pw_arena *a;
		struct pw_mm *mm;
		struct pw_file *f;

		if (pw_arena_create(64 * M2, &a) || pw_hugetlb_file_create(a, 4 * M2, M2, &f) ||
		    pw_mm_create(a, NULL, &mm) ||
		    pw_mmap_file(mm, 4 * G, 4 * M2, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL))
			_exit(2);
		peek(mm, 4 * G);
		pw_debug_hugetlb_walk_nolock = true;
		pw_mmap_read_lock(mm);
		pw_walk_page_range(mm, 4 * G, 4 * G + 4 * M2, &hops, (void *)(intptr_t)NMM);
		pw_mmap_read_unlock(mm);
		_exit(0); /* not caught: the test fails */
	}
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
				      WEXITSTATUS(status) != 2));
}

int main(void)
{
	tap_start();
	RUN(unshare_under_walkers);
	RUN(walk_without_vma_lock_fails);
	return tap_done();
}
