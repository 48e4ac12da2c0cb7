// SPDX-License-Identifier: MIT
/*
 * bench_hugetlb.c - hugetlb PMD sharing (issue 10).
 *
 * A hugetlb file of SIZE (default 64 GiB) of 2 MiB pages, its page cache
 * filled first (one byte written per folio: fresh arena frames are known to
 * be zero, so no data page is touched and host memory holds only frame
 * metadata and tables). Then, interleaved over several rounds, each round
 * with fresh address spaces:
 *   unshared  mm A maps the file shared and takes the first fault of each
 *             1 GiB range (allocates its PMD table, installs the leaf)
 *   shared    mm B maps it and takes the same faults: each finds A's table
 *             through i_mmap and shares it (no allocation; the leaf is
 *             already there)
 * Reported: median ns per first fault and the table frames each allocated.
 * Then the walk of B's whole mapping (SIZE / 2 MiB huge pages, every one
 * present, through A's shared tables): pw_walk_page_range() with a
 * hugetlb_entry, and the iterator (PW_WALK_ALL_SIZES), in ns per huge page.
 *
 * Usage: bench_hugetlb [SIZE_GiB] [--rounds N]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagewalk/hugetlb.h>
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>

#include "bench.h"

#define GIB (1ULL << 30)
#define M2 (1ULL << 21)
#define MAX_ROUNDS 32

static uint64_t sink;

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_hugetlb: %s: %s\n", what, strerror(-err));
	exit(1);
}

static int h_entry(pw_pte_t *pte, uint64_t hmask, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	sink += pw_entry_read((uint64_t *)pte);
	(void)hmask, (void)addr, (void)next, (void)walk;
	return 0;
}

/* ns per first fault of each 1 GiB range of [base, base + size) */
static double first_faults(struct pw_mm *mm, uint64_t base, uint64_t size)
{
	double t0 = now_ns();

	pw_mmap_read_lock(mm);
	for (uint64_t a = base; a < base + size; a += GIB)
		if (pw_handle_mm_fault(mm, a, PW_FAULT_USER))
			die("fault", -EFAULT);
	pw_mmap_read_unlock(mm);
	return (now_ns() - t0) / (double)(size / GIB);
}

int main(int argc, char **argv)
{
	uint64_t size = 64 * GIB, base_a = 1ULL << 40, base_b = 2ULL << 40;
	int rounds = 9;
	double un[MAX_ROUNDS], sh[MAX_ROUNDS], wk[MAX_ROUNDS], it[MAX_ROUNDS];
	uint64_t frames_a = 0, frames_b = 0;
	struct pw_arena *arena;
	struct pw_file *file;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else
			size = strtoull(argv[i], NULL, 0) * GIB;
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || !size)
		die("arguments", -EINVAL);
	ret = pw_arena_create(size + 2 * GIB, &arena);
	if (ret)
		die("arena", ret);
	ret = pw_hugetlb_file_create(arena, size, M2, &file);
	if (ret)
		die("file", ret);
	for (uint64_t off = 0; off < size; off += M2)
		if ((ret = pw_file_write(file, off, "", 1)))
			die("page cache", ret);
	for (int r = 0; r < rounds; r++) {
		struct pw_mm *a, *b;
		uint64_t f0;
		double t0;

		if ((ret = pw_mm_create(arena, NULL, &a)) || (ret = pw_mm_create(arena, NULL, &b)))
			die("mm", ret);
		if ((ret = pw_mmap_file(a, base_a, size, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_FIXED, file, 0, NULL)) ||
		    (ret = pw_mmap_file(b, base_b, size, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_FIXED, file, 0, NULL)))
			die("mmap", ret);
		f0 = pw_arena_free_frames(arena);
		un[r] = first_faults(a, base_a, size);
		frames_a = f0 - pw_arena_free_frames(arena);
		f0 = pw_arena_free_frames(arena);
		sh[r] = first_faults(b, base_b, size);
		frames_b = f0 - pw_arena_free_frames(arena);
		/* every huge page present, in A's tables, which B shares */
		if ((ret = pw_mm_populate(a, base_a, base_a + size, false)))
			die("populate", ret);
		{
			static const struct pw_walk_ops ops = { .hugetlb_entry = h_entry };
			struct pw_walk_state st;

			pw_mmap_read_lock(b);
			t0 = now_ns();
			if ((ret = pw_walk_page_range(b, base_b, base_b + size, &ops, NULL)))
				die("walk", ret);
			wk[r] = (now_ns() - t0) / (double)(size / M2);
			t0 = now_ns();
			pw_for_each_entry(&st, b, base_b, base_b + size, PW_WALK_ALL_SIZES)
				sink += st.entry;
			it[r] = (now_ns() - t0) / (double)(size / M2);
			pw_mmap_read_unlock(b);
		}
		pw_mm_destroy(b);
		pw_mm_destroy(a);
	}
	printf("hugetlb file %llu GiB of 2 MiB pages, %d rounds (medians)\n",
	       (unsigned long long)(size / GIB), rounds);
	printf("first fault per 1 GiB range: unshared %.0f ns (%llu table frames for %llu ranges), "
	       "shared %.0f ns (%llu table frames): unshared/shared %.2fx\n",
	       median(un, rounds), (unsigned long long)frames_a, (unsigned long long)(size / GIB),
	       median(sh, rounds), (unsigned long long)frames_b, median(un, rounds) / median(sh, rounds));
	printf("walk of the shared mapping (%llu huge pages): hugetlb_entry walk %.1f ns/huge page, "
	       "iterator %.1f ns/huge page\n",
	       (unsigned long long)(size / M2), median(wk, rounds), median(it, rounds));
	pw_file_destroy(file);
	pw_arena_destroy(arena);
	return sink == 42; /* keep the sums */
}
