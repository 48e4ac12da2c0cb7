// SPDX-License-Identifier: MIT
/*
 * bench_image.c - walking the page tables of real Linux guests' memory
 * images (issue 5): the datasets in $PW_DATASETS (default ../shared/datasets,
 * from the repository root), or the directory given.
 *
 * For each variant, in one process:
 *   open      pw_image_open() of image.elf.zst (zstd decompression; once)
 *   walk      iterator over the whole address space from CR3, every entry
 *             reported (PW_WALK_HOLES | TABLES | ALL_SIZES), aliases
 *             followed as the MMU does (ESPfix's shared tables 2048 times)
 *   walk-once the same with the alias check (each table frame once)
 *   ptdump    pw_ptdump(), Linux x86 format with the x86 markers, to /dev/null
 *   info-tlb  pw_qemu_info_tlb() to /dev/null
 *   info-mem  pw_qemu_info_mem() to /dev/null
 * Each timed loop runs REPS times; the median is reported, with entries
 * (iterator steps: one per entry read) per second for the walks.
 *
 * Usage: bench_image [--reps N] [DATASETS_DIR]    (default: $PW_DATASETS)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pagewalk/image.h>
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/ptdump.h>
#include <pagewalk/qemu.h>

#include "bench.h"

#define MAX_REPS 64

static const char *const variants[] = { "ptd-4l-nopti", "ptd-5l-thp", "deb-4l-pti-thp",
					"deb-4l-dimm1g" };

static uint64_t walk(struct pw_mm *mm, unsigned flags)
{
	struct pw_walk_state st;
	uint64_t n = 0, sum = 0;

	pw_for_each_entry(&st, mm, 0, 0, flags) {
		n++;
		sum += st.entry;
	}
	if (pw_walk_error(&st))
		fprintf(stderr, "walk error %d\n", pw_walk_error(&st));
	return n + (sum & 0); /* sum keeps the loads */
}

int main(int argc, char **argv)
{
	const char *env = getenv("PW_DATASETS");
	const char *dir = env && *env ? env : "../shared/datasets";
	int reps = 5;
	FILE *nul = fopen("/dev/null", "w");

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else
			dir = argv[i];
	}
	if (reps < 1 || reps > MAX_REPS)
		reps = 5;
	printf("# bench_image: %d reps, median; datasets in %s\n", reps, dir);
	printf("%-15s %8s %9s %10s %9s %10s %9s %9s %9s %9s\n", "variant", "open_s", "entries",
	       "walk_ms", "Mentry/s", "once_ms", "once_ent", "ptdump_ms", "tlb_ms", "mem_ms");
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		char path[512];
		struct pw_image *img;
		struct pw_paging cfg;
		struct pw_mm *mm;
		struct pw_ptdump_opts po = { .follow_aliases = true };
		double t0, t_open, tw[MAX_REPS], to[MAX_REPS], tp[MAX_REPS], tt[MAX_REPS], tm[MAX_REPS];
		uint64_t root, n = 0, n_once = 0;
		const unsigned all = PW_WALK_HOLES | PW_WALK_TABLES | PW_WALK_ALL_SIZES;

		snprintf(path, sizeof(path), "%s/%s/image.elf.zst", dir, variants[v]);
		t0 = now();
		if (pw_image_open(path, 0, &img)) {
			printf("%-15s not found (%s)\n", variants[v], path);
			continue;
		}
		t_open = now() - t0;
		if (pw_image_paging(img, 0, &cfg, &root) ||
		    pw_mm_create_foreign(pw_image_phys(img), &cfg, root, &mm)) {
			printf("%-15s no CPU state\n", variants[v]);
			pw_image_close(img);
			continue;
		}
		po.markers = pw_ptdump_x86_markers(cfg.levels);
		walk(mm, all | PW_WALK_ALIASES); /* warm the page cache of the mapping */
		for (int r = 0; r < reps; r++) {
			t0 = now();
			n = walk(mm, all | PW_WALK_ALIASES);
			tw[r] = now() - t0;
			t0 = now();
			n_once = walk(mm, all);
			to[r] = now() - t0;
			t0 = now();
			pw_ptdump(mm, nul, &po, NULL);
			tp[r] = now() - t0;
			t0 = now();
			pw_qemu_info_tlb(mm, nul, 0, NULL);
			tt[r] = now() - t0;
			t0 = now();
			pw_qemu_info_mem(mm, nul, 0, NULL);
			tm[r] = now() - t0;
		}
		{
			double w = median(tw, reps);

			printf("%-15s %8.2f %9llu %10.2f %9.1f %10.2f %9llu %9.2f %9.2f %9.2f\n",
			       variants[v], t_open, (unsigned long long)n, w * 1e3, (double)n / w / 1e6,
			       median(to, reps) * 1e3, (unsigned long long)n_once,
			       median(tp, reps) * 1e3, median(tt, reps) * 1e3, median(tm, reps) * 1e3);
		}
		pw_mm_destroy(mm);
		pw_image_close(img);
	}
	fclose(nul);
	return 0;
}
