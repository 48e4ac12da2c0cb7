// SPDX-License-Identifier: MIT
/*
 * bench_dirty_young.c - the accessed-bit clean-record pass
 * (pw_clean_record_young_shared_mapping_range) against the plain one
 * (pw_clean_record_shared_mapping_range), hardware-dirty mode: a shared
 * file mapping of 4 GiB (default), every page mapped writable, 1 % of the
 * pages written per round through pw_access() either clustered (all in 1 %
 * of the PTE tables) or spread (random pages: nearly every table touched).
 * The writes are untimed; each round's pass is timed; rounds interleave
 * the two passes (each on its own copy of the workload). Medians, ns per
 * mapped page and the ratio young / plain.
 */
#include <stdint.h>
#include <string.h>

#include <pagewalk/dirty.h>
#include <pagewalk/file.h>
#include <pagewalk/mm.h>

#include "bench.h"

#define ROUNDS 11

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void die(const char *what, long r)
{
	fprintf(stderr, "bench_dirty_young: %s: %ld\n", what, r);
	exit(1);
}

static void write_round(struct pw_mm *mm, uint64_t base, uint64_t npages, bool clustered)
{
	uint64_t nw = npages / 100, ntab = npages / 512;

	for (uint64_t i = 0; i < nw; i++) {
		uint64_t p;

		if (clustered) {
			uint64_t t = rnd() % (ntab / 100 ? ntab / 100 : 1); /* the first 1 % of tables */

			p = t * 512 + rnd() % 512;
		} else {
			p = rnd() % npages;
		}
		if (pw_access(mm, NULL, base + p * 4096, PW_FAULT_WRITE | PW_FAULT_USER, NULL))
			die("pw_access", -1);
	}
}

int main(int argc, char **argv)
{
	uint64_t bytes = (argc > 1 ? strtoull(argv[1], NULL, 0) : 4) << 30, npages = bytes >> 12;
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_arena *a;
	struct pw_file *f;
	struct pw_mm *mm;
	uint64_t base, *bm = calloc(npages / 64 + 1, 8);
	double t[2][2][ROUNDS];
	char model[256] = "?";
	FILE *ci = fopen("/proc/cpuinfo", "r");
	long r;

	while (ci && fgets(model, sizeof(model), ci))
		if (!strncmp(model, "model name", 10))
			break;
	if (ci)
		fclose(ci);
	printf("bench_dirty_young: %s", strchr(model, ':') ? strchr(model, ':') + 2 : model);
	if ((r = pw_arena_create(bytes + bytes / 256 + (64 << 20), &a)) || (r = pw_file_create(a, bytes, &f)) ||
	    (r = pw_mm_create(a, &cfg, &mm)))
		die("setup", r);
	if ((r = pw_mmap_file(mm, 1ULL << 30, bytes, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_FIXED,
			      f, 0, &base)))
		die("pw_mmap_file", r);
	if ((r = pw_mm_populate(mm, base, base + bytes, true)))
		die("populate", r);
	for (int c = 0; c < 2; c++) {
		for (int round = 0; round < ROUNDS; round++) {
			for (int k = 0; k < 2; k++) {
				int kind = (round + k) % 2; /* 0 plain, 1 young: alternating first */
				uint64_t s = npages, e = 0;
				double t0;

				/* a clean state for this pass: both passes read the same state */
				pw_clean_record_shared_mapping_range(f, 0, npages, 0, bm, &s, &e);
				pw_clean_record_young_shared_mapping_range(f, 0, npages, 0, bm, &s, &e, NULL);
				write_round(mm, base, npages, c == 0);
				s = npages, e = 0;
				t0 = now_ns();
				if (kind)
					pw_clean_record_young_shared_mapping_range(f, 0, npages, 0, bm, &s, &e, NULL);
				else
					pw_clean_record_shared_mapping_range(f, 0, npages, 0, bm, &s, &e);
				t[c][kind][round] = (now_ns() - t0) / (double)npages;
			}
		}
	}
	printf("%llu MiB shared file mapping, 1 %% of pages written per round, median of %d rounds, ns per mapped page\n",
	       (unsigned long long)(bytes >> 20), ROUNDS);
	for (int c = 0; c < 2; c++)
		printf("%-10s plain %.3f, young %.3f: young / plain %.3f\n", c == 0 ? "clustered" : "spread",
		       median(t[c][0], ROUNDS), median(t[c][1], ROUNDS),
		       median(t[c][1], ROUNDS) / median(t[c][0], ROUNDS));
	pw_mm_destroy(mm);
	pw_file_destroy(f);
	pw_arena_destroy(a);
	free(bm);
	return 0;
}
