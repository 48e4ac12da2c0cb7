// SPDX-License-Identifier: MIT
/*
 * bench_devx.c - device access costs (issue 11):
 *   1. pw_get_user_pages() over 1 GiB of mapped 4 KiB pages, ns per page,
 *      against a plain iterator walk (pw_for_each_entry) of the same range;
 *   2. pw_make_device_exclusive_range() + the CPU restore (pw_access), per page;
 *   3. pw_rmap_walk() of a shared page with 1, 8 and 64 mappers.
 * Each figure is the median of --rounds rounds, all in one run.
 *
 *   build/bench/bench_devx [--rounds N] [--mib M]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>

#include <pagewalk/devx.h>
#include <pagewalk/gup.h>
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/rmap.h>

#include "bench.h"

#define PG 4096ULL

static void die(const char *what, long err)
{
	fprintf(stderr, "bench_devx: %s: %ld\n", what, err);
	exit(1);
}

static int count_visit(const struct pw_rmap_visit *v, void *arg)
{
	(*(unsigned long *)arg)++;
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = 7;
	uint64_t mib = 1024;
	struct pw_arena *a;
	struct pw_mm *mm;
	uint64_t base, npages, *frames;
	double *t_gup, *t_walk, *t_mk, *t_rs;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = strtoull(argv[++i], NULL, 10);
		else
			die("usage: [--rounds N] [--mib M]", -EINVAL);
	}
	if (rounds < 1 || !mib)
		die("bad arguments", -EINVAL);
	npages = mib << 8;
	t_gup = calloc((size_t)rounds, sizeof(double));
	t_walk = calloc((size_t)rounds, sizeof(double));
	t_mk = calloc((size_t)rounds, sizeof(double));
	t_rs = calloc((size_t)rounds, sizeof(double));
	frames = malloc(npages * sizeof(*frames));
	if (!t_gup || !t_walk || !t_mk || !t_rs || !frames)
		die("malloc", -ENOMEM);
	if (pw_arena_create((mib + 64) << 20, &a) || pw_mm_create(a, NULL, &mm))
		die("arena", -ENOMEM);
	if (pw_mmap(mm, 0, npages * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_POPULATE,
		    &base))
		die("mmap", -ENOMEM);

	/* 1. GUP vs a plain iterator walk of the same 4 KiB pages */
	for (int r = 0; r < rounds; r++) {
		struct pw_walk_state st;
		uint64_t leaves = 0;
		double t0 = now_ns();
		long n = pw_get_user_pages(mm, base, npages, 0, frames);
		double t1 = now_ns();

		if (n != (long)npages)
			die("gup", n);
		pw_put_user_pages(mm, frames, npages, 0);
		t0 = (t1 - t0) / (double)npages;
		t_gup[r] = t0;
		pw_mmap_read_lock(mm);
		t1 = now_ns();
		pw_for_each_entry(&st, mm, base, base + npages * PG, 0)
			leaves += st.type == PW_STEP_LEAF;
		t_walk[r] = (now_ns() - t1) / (double)npages;
		pw_mmap_read_unlock(mm);
		if (leaves != npages)
			die("walk", (long)leaves);
	}

	/* 2. make-exclusive + restore, per page, over the first 16 MiB */
	uint64_t nx = npages < 4096 ? npages : 4096;
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();
		long n = pw_make_device_exclusive_range(mm, base, base + nx * PG, &rounds, frames);

		if (n != (long)nx)
			die("make exclusive", n);
		pw_put_user_pages(mm, frames, nx, 0);
		t_mk[r] = (now_ns() - t0) / (double)nx;
		t0 = now_ns();
		for (uint64_t i = 0; i < nx; i++)
			if (pw_access(mm, NULL, base + i * PG, PW_FAULT_USER, NULL))
				die("restore", (long)i);
		t_rs[r] = (now_ns() - t0) / (double)nx;
	}
	printf("GUP of %" PRIu64 " MiB of 4 KiB pages: %.2f ns/page (median of %d)\n", mib,
	       median(t_gup, rounds), rounds);
	printf("iterator walk of the same range: %.2f ns/page; GUP / walk = %.2fx\n",
	       median(t_walk, rounds), median(t_gup, rounds) / median(t_walk, rounds));
	printf("make-exclusive: %.1f ns/page; restore on a CPU read: %.1f ns/page (%" PRIu64 " pages)\n",
	       median(t_mk, rounds), median(t_rs, rounds), nx);
	pw_mm_destroy(mm);

	/* 3. rmap walk cost with 1, 8 and 64 mappers of a shared page */
	static const int mappers[] = { 1, 8, 64 };
	for (unsigned k = 0; k < 3; k++) {
		struct pw_mm *m[64];
		struct pw_access_result res;
		uint64_t s, pfn;
		double *t = calloc(101, sizeof(double));
		int reps = 2000;

		if (!t || pw_mm_create(a, NULL, &m[0]) ||
		    pw_mmap(m[0], 0, 64 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_POPULATE, &s))
			die("rmap setup", -ENOMEM);
		for (int i = 1; i < mappers[k]; i++)
			if (pw_mm_fork(m[0], &m[i]))
				die("fork", -ENOMEM);
		if (pw_access(m[0], NULL, s + 5 * PG, PW_FAULT_USER, &res))
			die("access", -EFAULT);
		pfn = res.phys >> 12;
		for (int r = 0; r < 101; r++) {
			unsigned long visits = 0;
			double t0 = now_ns();

			for (int i = 0; i < reps; i++)
				pw_rmap_walk(a, pfn, count_visit, &visits);
			t[r] = (now_ns() - t0) / reps;
			if (visits != (unsigned long)mappers[k] * (unsigned long)reps)
				die("rmap visits", (long)visits);
		}
		printf("rmap walk, %2d mapper(s): %.1f ns per walk, %.1f ns per mapper\n", mappers[k],
		       median(t, 101), median(t, 101) / mappers[k]);
		for (int i = mappers[k] - 1; i >= 0; i--)
			pw_mm_destroy(m[i]);
		free(t);
	}
	pw_arena_destroy(a);
	free(frames);
	free(t_gup);
	free(t_walk);
	free(t_mk);
	free(t_rs);
	return 0;
}
