// SPDX-License-Identifier: MIT
/*
 * bench_pagemap.c - pw_pagemap_read() and pw_pagemap_scan() over an 8 GiB
 * mapping, side by side with the host kernel reading /proc/self/pagemap
 * and running ioctl(PAGEMAP_SCAN) over an 8 GiB mapping of its own (issue 14).
 *
 * Both mappings are private anonymous memory with 4 KiB pages (the host's
 * with MADV_NOHUGEPAGE), one page in 100 written, so that every PTE table
 * exists and the real mapping's RSS stays at 1 % of 8 GiB. Timed, per round:
 *
 *   read  pagewalk: pw_pagemap_read() of every page into one buffer;
 *         kernel: one pread() of the same number of entries from
 *         /proc/self/pagemap at the mapping's offset.
 *   scan  PAGEMAP_SCAN with category_mask = return_mask = PRESENT, a region
 *         vector with room for every written page (each is its own region);
 *         pagewalk: pw_pagemap_scan(); kernel: ioctl(PAGEMAP_SCAN).
 *
 * The four run interleaved, round by round, in one process. Every round's
 * result is checked (the present pages found). Reported: median ns per page
 * of the mapping, and the median of the per-round ratios kernel / pagewalk
 * (> 1: pagewalk is faster). The CPU model comes from /proc/cpuinfo.
 *
 * The arena (the model's physical memory) is on 2 MiB host pages
 * (MADV_HUGEPAGE), as the kernel's tables are in its direct map;
 * --no-thp-arena leaves it on 4 KiB pages.
 *
 * Usage: bench_pagemap [SIZE[M|G]] [--rounds N] [--no-thp-arena]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pagewalk/mm.h>
#include <pagewalk/pagemap.h>

#include "bench.h"

#define PG 4096ULL
#define STRIDE 100
#define MAX_ROUNDS 101

#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start, end, categories;
};
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif
#define K_PAGE_IS_PRESENT (1ULL << 3)

static uint64_t size = 8ULL << 30, npages, want;

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, len, "unknown CPU");
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && p) {
			snprintf(buf, len, "%s", p + 2);
			buf[strcspn(buf, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
}

static void check(const char *who, int round, uint64_t found)
{
	if (found != want) {
		fprintf(stderr, "bench_pagemap: %s: round %d found %llu present pages, wanted %llu\n",
			who, round, (unsigned long long)found, (unsigned long long)want);
		exit(1);
	}
}

static uint64_t count_present(const uint64_t *out)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < npages; i++)
		n += out[i] >> 63;
	return n;
}

int main(int argc, char **argv)
{
	int rounds = 11, pm;
	double t[4][MAX_ROUNDS], ratio[2][MAX_ROUNDS];
	const char *names[4] = { "pw_pagemap_read", "kernel pagemap pread", "pw_pagemap_scan",
				 "kernel PAGEMAP_SCAN" };
	bool scan_ok = true, thp_arena = true;
	struct pw_arena *arena;
	struct pw_mm *mm;
	uint64_t addr, *out;
	uint8_t *mem;
	struct pw_page_region *vec;
	char cpu[200];

	for (int i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--no-thp-arena")) {
			thp_arena = false;
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
			if (rounds < 1 || rounds > MAX_ROUNDS)
				rounds = 11;
		} else {
			size = strtoull(argv[i], &end, 0);
			size <<= *end == 'G' ? 30 : *end == 'M' ? 20 : 0;
			size &= ~((2ULL << 20) - 1);
			if (!size) {
				fprintf(stderr, "usage: bench_pagemap [SIZE[M|G]] [--rounds N] [--no-thp-arena]\n");
				return 2;
			}
		}
	}
	npages = size / PG;
	want = (npages + STRIDE - 1) / STRIDE;
	cpu_model(cpu, sizeof(cpu));
	printf("bench_pagemap: %s; private mapping of %llu MiB (%llu pages), 1 page in %d written; "
	       "%d rounds interleaved\n",
	       cpu, (unsigned long long)(size >> 20), (unsigned long long)npages, STRIDE, rounds);

	out = malloc(npages * 8);
	vec = malloc((want + 1) * sizeof(*vec));
	if (!out || !vec)
		return 1;
	if (pw_arena_create(size / STRIDE + (256ULL << 20), &arena))
		return 1;
	/*
	 * The arena is the model's physical memory; the kernel reads its page
	 * tables through its direct map, on 2 MiB / 1 GiB pages. Unless
	 * --no-thp-arena, give the arena 2 MiB host pages too (before any
	 * frame is touched), so that a walk does not pay one host TLB miss (a
	 * two-dimensional walk in a nested VM) per PTE table it reads.
	 */
	if (thp_arena)
		madvise(pw_arena_base(arena), size / STRIDE + (256ULL << 20), MADV_HUGEPAGE);
	if (pw_mm_create(arena, NULL, &mm) ||
	    pw_mmap(mm, 0, size, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &addr)) {
		fprintf(stderr, "bench_pagemap: pagewalk setup failed\n");
		return 1;
	}
	for (uint64_t p = 0; p < npages; p += STRIDE)
		if (pw_access(mm, NULL, addr + p * PG, PW_FAULT_WRITE | PW_FAULT_USER, NULL))
			return 1;
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (mem == MAP_FAILED || pm < 0) {
		fprintf(stderr, "bench_pagemap: host mapping or /proc/self/pagemap refused\n");
		return 1;
	}
	madvise(mem, size, MADV_NOHUGEPAGE);
	for (uint64_t p = 0; p < npages; p += STRIDE)
		mem[p * PG] = 1;

	for (int round = -1; round < rounds; round++) {
		struct pw_pm_scan_arg a = { .size = sizeof(a), .start = addr, .end = addr + size,
					    .vec = vec, .vec_len = want + 1,
					    .category_mask = PW_PAGE_IS_PRESENT,
					    .return_mask = PW_PAGE_IS_PRESENT };
		struct pm_scan_arg k = { .size = sizeof(k), .start = (uintptr_t)mem,
					 .end = (uintptr_t)mem + size, .vec = (uintptr_t)vec,
					 .vec_len = want + 1, .category_mask = K_PAGE_IS_PRESENT,
					 .return_mask = K_PAGE_IS_PRESENT };
		double t0, t1, t2, t3, t4;
		int64_t n;
		long kn;

		t0 = now_ns();
		n = pw_pagemap_read(mm, addr, npages, out);
		t1 = now_ns();
		if (n != (int64_t)npages)
			return 1;
		check("pw_pagemap_read", round, count_present(out));
		memset(out, 0, npages * 8);
		t2 = now_ns();
		if (pread(pm, out, npages * 8, (off_t)((uintptr_t)mem / PG * 8)) != (ssize_t)(npages * 8))
			return 1;
		t3 = now_ns();
		check("pagemap pread", round, count_present(out));
		if (round >= 0) {
			t[0][round] = (t1 - t0) / npages;
			t[1][round] = (t3 - t2) / npages;
		}
		t0 = now_ns();
		n = pw_pagemap_scan(mm, &a);
		t1 = now_ns();
		check("pw_pagemap_scan", round, n > 0 ? (uint64_t)n : 0);
		kn = -1;
		if (scan_ok) {
			t2 = now_ns();
			kn = ioctl(pm, PAGEMAP_SCAN, &k);
			t4 = now_ns();
			if (kn < 0) {
				scan_ok = false;
				printf("kernel PAGEMAP_SCAN refused (kernel before 6.7?)\n");
			} else {
				check("kernel PAGEMAP_SCAN", round, (uint64_t)kn);
			}
		}
		if (round >= 0) {
			t[2][round] = (t1 - t0) / npages;
			t[3][round] = scan_ok ? (t4 - t2) / npages : 0;
			ratio[0][round] = t[1][round] / t[0][round];
			ratio[1][round] = scan_ok ? t[3][round] / t[2][round] : 0;
		}
	}
	printf("RSS of the process: %ld MiB; arena on %s host pages\n", rss_kib("VmRSS:") / 1024,
	       thp_arena ? "2 MiB (MADV_HUGEPAGE)" : "4 KiB");
	for (int i = 0; i < 4; i++) {
		if (i == 3 && !scan_ok)
			continue;
		printf("%-22s median %7.3f ns/page (%7.1f ms per round)\n", names[i],
		       median(t[i], rounds), median(t[i], rounds) * npages / 1e6);
	}
	printf("ratio kernel/pagewalk, median of per-round ratios: read %.2fx", median(ratio[0], rounds));
	if (scan_ok)
		printf(", scan %.2fx", median(ratio[1], rounds));
	printf(" (target >= 2x)\n");
	pw_mm_destroy(mm);
	pw_arena_destroy(arena);
	munmap(mem, size);
	free(out);
	free(vec);
	close(pm);
	return 0;
}
