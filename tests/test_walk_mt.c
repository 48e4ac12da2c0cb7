// SPDX-License-Identifier: MIT
/*
 * test_walk_mt.c - pw_walk_page_range_parallel() against the one-thread
 * walk: the same PTEs, the same huge leaves, the same holes' coverage, the
 * same stop value, for 1 to 4 threads (also under ThreadSanitizer).
 */
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>

#include "../tests/tap.h"
#include "fixture.h"
#include <errno.h>
#include <unistd.h>

struct tally {
	uint64_t ptes, sum, pmd_leaves, hole_bytes;
	uint64_t stop_at; /* pte_entry returns 5 at this address (0: never) */
};

static int t_pte(pw_pte_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	struct tally *t = w->private;
	uint64_t v = pw_ptep_get(e).val;

	if (t->stop_at && a == t->stop_at)
		return 5;
	if (v) {
		t->ptes++;
		t->sum += a ^ v;
	}
	return 0;
}

static int t_pmd(pw_pmd_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	struct tally *t = w->private;

	if (pw_pmdp_get(e).val & PW_PS) {
		t->pmd_leaves++;
		t->sum += a ^ pw_pmdp_get(e).val;
	}
	return 0;
}

static int t_hole(uint64_t a, uint64_t n, int depth, struct pw_mm_walk *w)
{
	struct tally *t = w->private;

	if (depth == -1)
		t->hole_bytes += n - a;
	return 0;
}

static const struct pw_walk_ops ops = { .pte_entry = t_pte, .pmd_entry = t_pmd, .pte_hole = t_hole };

TEST(parallel_equals_one_thread)
{
	struct env e;
	uint64_t a = 0x40000000, s = a - 6 * PW_PMD_SIZE, end = a + PW_PUD_SIZE + 8 * PW_PMD_SIZE;
	struct tally one = { 0 };

	env_init(&e, 4, 512ULL << 20);
	/* 4 KiB pages across a 1 GiB boundary, a gap, 2 MiB leaves, a sparse tail. */
	CHECK_EQ(pw_mmap(e.mm, s, 12 * PW_PMD_SIZE, PW_PROT_READ | PW_PROT_WRITE,
			 PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_munmap(e.mm, a + 3 * 4096, 5 * 4096), 0);
	CHECK_EQ(pw_mmap(e.mm, a + 8 * PW_PMD_SIZE, 8 * PW_PMD_SIZE, PW_PROT_READ,
			 PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL), 0);
	for (int i = 0; i < 40; i++)
		CHECK_EQ(pw_mmap(e.mm, a + PW_PUD_SIZE + (uint64_t)i * 7 * 4096 * 13, 4096,
				 PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE,
				 NULL), 0);
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_walk_page_range(e.mm, s, end, &ops, &one), 0);
	CHECK(one.ptes > 2000);
	CHECK_EQ(one.pmd_leaves, 8);
	for (unsigned nt = 1; nt <= 4; nt++) {
		struct tally t[4] = { { 0 } }, sum = { 0 };
		void *priv[4] = { &t[0], &t[1], &t[2], &t[3] };
		unsigned busy = 0;

		CHECK_EQ(pw_walk_page_range_parallel(e.mm, s, end, &ops, priv, nt), 0);
		for (unsigned i = 0; i < nt; i++) {
			sum.ptes += t[i].ptes;
			sum.sum += t[i].sum;
			sum.pmd_leaves += t[i].pmd_leaves;
			sum.hole_bytes += t[i].hole_bytes;
			busy += t[i].ptes > 0;
		}
		CHECK_EQ(sum.ptes, one.ptes);
		CHECK_EQ(sum.sum, one.sum);
		CHECK_EQ(sum.pmd_leaves, one.pmd_leaves);
		CHECK_EQ(sum.hole_bytes, one.hole_bytes);
		CHECK(busy >= 1);
	}
	/* A stop: the same value as one thread, from the lowest piece that stopped. */
	one = (struct tally){ .stop_at = a + 8 * 4096 };
	CHECK_EQ(pw_walk_page_range(e.mm, s, end, &ops, &one), 5);
	{
		struct tally t[2] = { { .stop_at = a + 8 * 4096 }, { .stop_at = a + 8 * 4096 } };
		void *priv[2] = { &t[0], &t[1] };

		CHECK_EQ(pw_walk_page_range_parallel(e.mm, s, end, &ops, priv, 2), 5);
	}
	/* Bad input. */
	CHECK_EQ(pw_walk_page_range_parallel(e.mm, s, end, &ops, NULL, 0), -EINVAL);
	CHECK_EQ(pw_walk_page_range_parallel(e.mm, s, end, &ops, NULL, PW_WALK_MAX_THREADS + 1), -EINVAL);
	CHECK_EQ(pw_walk_page_range_parallel(e.mm, s + 1, end, &ops, NULL, 2), -EINVAL);
	CHECK_EQ(pw_walk_page_range_parallel(e.mm, end, s, &ops, NULL, 2), -EINVAL);
	CHECK_EQ(pw_walk_page_range_parallel(e.mm, s, end, NULL, NULL, 2), -EINVAL);
	pw_mmap_read_unlock(e.mm);
	env_fini(&e);
}

int main(void)
{
	alarm(120);
	tap_start();
	RUN(parallel_equals_one_thread);
	return tap_done();
}
