// SPDX-License-Identifier: MIT
/*
 * Description: concurrency. Faulting threads (pw_access on disjoint and
 * overlapping ranges), a walker thread (callback walker and iterator under
 * the mmap read lock, and ptdump), a thread doing mmap/munmap/mprotect and
 * a second mm on the same arena run together for a bounded number of
 * iterations; afterwards every counter must agree with what the tables
 * hold, and destroying the mm must return every frame.
 * Built with ASan and with TSan.
 */
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/ptdump.h>

#include "../tests/tap.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#define STABLE 0x10000000ULL		/* never unmapped: 8 MiB, the top half 2 MiB leaves */
#define STABLE_LEN (8ULL << 20)
#define CHURN 0x40000000ULL		/* mapped and unmapped all the time */
#define CHURN_LEN (4ULL << 20)
#define NFAULTERS 3
#define ITERS 2000
#define MIN_WALKS 40		/* the walker and mapper run at least this often */

struct shared {
	struct pw_mm *mm;
	int stop;			/* set when the faulters are done */
	int started;			/* walker and mapper rounds so far (faulters wait) */
	int bad_walks;			/* walker saw something impossible */
	int fault_errors;		/* unexpected pw_access results */
	uint64_t walks;
	FILE *devnull;			/* where the walker's dumps go */
	uint8_t touched[STABLE_LEN >> 12]; /* pages a faulter wrote successfully */
};

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct faulter {
	struct shared *sh;
	int id;
};

static void *fault_thread(void *arg)
{
	struct faulter *f = arg;
	struct shared *sh = f->sh;
	uint64_t s = 0x1234567ULL * (uint64_t)(f->id + 1);
	uint64_t pages = STABLE_LEN >> 12, slice = pages / NFAULTERS;

	while (__atomic_load_n(&sh->started, __ATOMIC_ACQUIRE) < 2)
		sched_yield(); /* let the walker and the mapper get going */
	for (int i = 0; i < ITERS; i++) {
		uint64_t r = rng_next(&s), page;
		int ret;

		/* Half disjoint (own slice), half anywhere (overlapping). */
		page = (i & 1) ? r % pages : f->id * slice + r % slice;
		ret = pw_access(sh->mm, NULL, STABLE + (page << 12), PW_FAULT_WRITE | PW_FAULT_USER, NULL);
		if (ret)
			__atomic_fetch_add(&sh->fault_errors, 1, __ATOMIC_RELAXED);
		else
			__atomic_store_n(&sh->touched[page], 1, __ATOMIC_RELAXED);
		/* The churning range: may be unmapped right now. */
		if (i % 4 == 0) {
			ret = pw_access(sh->mm, NULL, CHURN + (r % (CHURN_LEN >> 12) << 12),
					(r & 1 ? PW_FAULT_WRITE : 0) | PW_FAULT_USER, NULL);
			if (ret && ret != -EFAULT)
				__atomic_fetch_add(&sh->fault_errors, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static int walk_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	pw_pte_t v = pw_ptep_get(pte);

	if (pw_pte_present(v)) {
		(*(uint64_t *)walk->private)++;
		if (!(v.val & PW_A))
			return -EINVAL; /* the fault handler installs leaves with A set */
	}
	return 0;
}

static int walk_pmd(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	pw_pmd_t v = pw_pmdp_get(pmd);

	if (pw_pmd_leaf(v))
		*(uint64_t *)walk->private += (next - addr) >> 12;
	return 0;
}

static void *walk_thread(void *arg)
{
	struct shared *sh = arg;
	struct pw_walk_ops ops = { .pmd_entry = walk_pmd, .pte_entry = walk_pte };
	uint64_t last = 0;

	__atomic_fetch_add(&sh->started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) || sh->walks < MIN_WALKS) {
		struct pw_walk_state st;
		uint64_t n_cb = 0, n_it = 0;

		pw_mmap_read_lock(sh->mm);
		if (pw_walk_page_range(sh->mm, STABLE, STABLE + STABLE_LEN, &ops, &n_cb))
			sh->bad_walks++;
		pw_for_each_entry(&st, sh->mm, STABLE, STABLE + STABLE_LEN, 0)
			n_it++;
		if (pw_walk_error(&st))
			sh->bad_walks++;
		/* The churning range: walked too, while it comes and goes. */
		pw_for_each_entry(&st, sh->mm, CHURN, CHURN + CHURN_LEN, PW_WALK_HOLES | PW_WALK_TABLES)
			;
		pw_mmap_read_unlock(sh->mm);
		/* A dump of everything now and then (it takes the read lock itself). */
		if (sh->walks % 16 == 0 && (!sh->devnull || pw_ptdump(sh->mm, sh->devnull, NULL, NULL)))
			sh->bad_walks++;
		/* Pages of the stable range are never unmapped: counts only grow. */
		if (n_cb < last || n_it < n_cb)
			sh->bad_walks++;
		last = n_cb;
		sh->walks++;
	}
	return NULL;
}

static void *map_thread(void *arg)
{
	struct shared *sh = arg;
	uint64_t s = 99;
	int rounds = 0;

	__atomic_fetch_add(&sh->started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) || rounds++ < MIN_WALKS) {
		uint64_t r = rng_next(&s), off = (r % (CHURN_LEN >> 12)) << 12;
		uint64_t len = (1 + (r >> 32) % 64) << 12;
		int ret;

		if (off + len > CHURN_LEN)
			len = CHURN_LEN - off;
		if ((r & 0x31) == 0x11) /* now and then 2 MiB leaves, later cut by munmap */
			ret = pw_mmap(sh->mm, CHURN + (off & ~(PW_PMD_SIZE - 1)), PW_PMD_SIZE,
				      PW_PROT_READ | PW_PROT_WRITE,
				      PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL);
		else if (r & 1)
			ret = pw_mmap(sh->mm, CHURN + off, len, PW_PROT_READ | PW_PROT_WRITE,
				      PW_MAP_PRIVATE | PW_MAP_FIXED | ((r & 2) ? PW_MAP_POPULATE : 0), NULL);
		else
			ret = pw_munmap(sh->mm, CHURN + off, len);
		if (ret)
			__atomic_fetch_add(&sh->fault_errors, 1, __ATOMIC_RELAXED);
		if ((r & 0x41) == 0x41 && len > 4096) /* just mapped: protect its first page(s) */
			ret = pw_mprotect(sh->mm, CHURN + off, len / 2 & ~4095ULL,
					  (r & 8) ? PW_PROT_NONE : PW_PROT_READ);
		if ((r & 0x41) == 0x41 && ret)
			__atomic_fetch_add(&sh->fault_errors, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* A second address space on the same arena: its own faults, maps and unmaps. */
static void *other_mm_thread(void *arg)
{
	struct shared *sh = arg;
	struct pw_mm *mm2;
	uint64_t s = 7;
	int rounds = 0;

	if (pw_mm_create(pw_mm_arena(sh->mm), NULL, &mm2)) {
		__atomic_fetch_add(&sh->fault_errors, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) || rounds++ < MIN_WALKS) {
		uint64_t r = rng_next(&s), a = 0x20000000 + ((r % 64) << 21);
		unsigned huge = (r & 2) ? PW_MAP_HUGE_2M : 0;

		if (pw_mmap(mm2, a, PW_PMD_SIZE, PW_PROT_READ | PW_PROT_WRITE,
			    PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE | huge, NULL) ||
		    pw_access(mm2, NULL, a + 4096, PW_FAULT_WRITE, NULL) ||
		    ((r & 4) && pw_munmap(mm2, a + ((r >> 8) % 512 << 12), 4096)))
			__atomic_fetch_add(&sh->fault_errors, 1, __ATOMIC_RELAXED);
	}
	pw_mm_destroy(mm2);
	return NULL;
}

TEST(fault_walk_map_concurrently)
{
	struct pw_arena *a;
	struct shared *sh = calloc(1, sizeof(*sh));
	struct faulter f[NFAULTERS];
	pthread_t ft[NFAULTERS], wt, mt, ot;
	struct pw_walk_state st;
	struct pw_mm_stats stats;
	uint64_t free0, present = 0, protnone = 0, tables = 1, missing = 0;

	REQUIRE(sh);
	sh->devnull = fopen("/dev/null", "w");
	REQUIRE_EQ(pw_arena_create(256 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_mm_create(a, NULL, &sh->mm), 0);
	CHECK_EQ(pw_mmap(sh->mm, STABLE, STABLE_LEN / 2, PW_PROT_READ | PW_PROT_WRITE,
			 PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	CHECK_EQ(pw_mmap(sh->mm, STABLE + STABLE_LEN / 2, STABLE_LEN / 2, PW_PROT_READ | PW_PROT_WRITE,
			 PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_2M, NULL), 0);

	for (int i = 0; i < NFAULTERS; i++) {
		f[i] = (struct faulter){ sh, i };
		REQUIRE_EQ(pthread_create(&ft[i], NULL, fault_thread, &f[i]), 0);
	}
	REQUIRE_EQ(pthread_create(&wt, NULL, walk_thread, sh), 0);
	REQUIRE_EQ(pthread_create(&mt, NULL, map_thread, sh), 0);
	REQUIRE_EQ(pthread_create(&ot, NULL, other_mm_thread, sh), 0);
	for (int i = 0; i < NFAULTERS; i++)
		pthread_join(ft[i], NULL);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	pthread_join(wt, NULL);
	pthread_join(mt, NULL);
	pthread_join(ot, NULL);

	CHECK_EQ(sh->fault_errors, 0);
	CHECK_EQ(sh->bad_walks, 0);
	CHECK(sh->walks > 0);
	tap_diag("%" PRIu64 " walks ran alongside the faults", sh->walks);

	/* Leave some PROT_NONE pages behind, so that the counts below include them. */
	CHECK_EQ(pw_mmap(sh->mm, CHURN, 8 * 4096, PW_PROT_READ, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE,
			 NULL), 0);
	CHECK_EQ(pw_mprotect(sh->mm, CHURN + 4096, 2 * 4096, PW_PROT_NONE), 0);

	/* Counters agree with the tables. */
	pw_mmap_read_lock(sh->mm);
	pw_for_each_entry(&st, sh->mm, 0, 0, PW_WALK_HOLES | PW_WALK_TABLES | PW_WALK_ALL_SIZES) {
		if (st.type == PW_STEP_TABLE)
			tables++;
		else if (st.type == PW_STEP_LEAF)
			present += (st.end - st.start) >> 12;
		else if (st.reason == PW_HOLE_NOT_PRESENT) /* PROT_NONE: keeps its frame */
			protnone += (st.end - st.start) >> 12;
		else if (st.reason != PW_HOLE_EMPTY && st.reason != PW_HOLE_NONCANONICAL)
			missing++;
	}
	for (uint64_t p = 0; p < (STABLE_LEN >> 12); p++) {
		struct pw_translation t;

		if (sh->touched[p] && (pw_translate(sh->mm, STABLE + (p << 12), &t) || !t.writable ||
				       !(t.entry & PW_D)))
			missing++;
	}
	pw_mmap_read_unlock(sh->mm);
	pw_mm_get_stats(sh->mm, &stats);
	tap_diag("%" PRIu64 " pages present, %" PRIu64 " PROT_NONE, %" PRIu64 " tables", present, protnone,
		 tables);
	CHECK(present >= 512);
	CHECK_EQ(missing, 0);
	CHECK(protnone >= 2);
	CHECK_EQ(stats.rss, present + protnone);
	CHECK_EQ(stats.pgtables, tables);
	/* No frame lost or doubly used: free + mapped + tables = everything but frame 0. */
	CHECK_EQ(pw_arena_free_frames(a) + stats.rss + stats.pgtables, pw_arena_nr_frames(a) - 1);
	pw_mm_destroy(sh->mm);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
	if (sh->devnull)
		fclose(sh->devnull);
	free(sh);
}

int main(void)
{
	alarm(120); /* a deadlock fails instead of hanging the suite */
	tap_start();
	RUN(fault_walk_map_concurrently);
	return tap_done();
}
