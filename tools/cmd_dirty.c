// SPDX-License-Identifier: MIT
/*
 * cmd_dirty.c - `pagewalk dirty-demo`: dirty tracking of a file mapping
 * shared by two address spaces, as a graphics driver (vmwgfx) does it.
 *
 * Two address spaces map one file shared, at different addresses and page
 * offsets. In each round a few threads (each a CPU with its own TLB, bound
 * to one of the address spaces) write random pages through the simulated
 * MMU and log the file pages they wrote; then one write-protect pass and
 * one clean-record pass over the file's reverse map find the written pages.
 * Each round prints them and checks them against the log.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagewalk/dirty.h>
#include <pagewalk/file.h>
#include <pagewalk/mm.h>
#include <pagewalk/tlb.h>

#include "commands.h"

#define PG 4096ULL
#define MAX_PAGES 4096

struct demo {
	struct pw_mm *mm[2];
	uint64_t addr[2], pgoff[2], npages[2];
	uint8_t logged[MAX_PAGES]; /* atomic: file pages written this round */
	unsigned writes;
	int errors;		   /* atomic */
};

struct cpu_thread {
	pthread_t t;
	struct demo *d;
	int mm;
	struct pw_tlb *tlb;
	uint64_t rng;
};

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void *writer(void *arg)
{
	struct cpu_thread *c = arg;
	struct demo *d = c->d;
	struct pw_cpu cpu = PW_CPU_DEFAULT;
	uint8_t *base = pw_arena_base(pw_mm_arena(d->mm[c->mm]));

	cpu.tlb = c->tlb;
	for (unsigned i = 0; i < d->writes; i++) {
		uint64_t p = next_rand(&c->rng) % d->npages[c->mm];
		struct pw_access_result r;

		__atomic_store_n(&d->logged[d->pgoff[c->mm] + p], 1, __ATOMIC_SEQ_CST);
		if (pw_access(d->mm[c->mm], &cpu, d->addr[c->mm] + p * PG + (i & 0xfff),
			      PW_FAULT_WRITE | PW_FAULT_USER, &r))
			__atomic_fetch_add(&d->errors, 1, __ATOMIC_RELAXED);
		else
			base[r.phys] = (uint8_t)i; /* the store itself */
	}
	return NULL;
}

static void dirty_usage(FILE *f)
{
	fprintf(f, "usage: pagewalk dirty-demo [--threads N] [--rounds N] [--pages N] [--writes N] [--seed N]\n"
		   "  Two address spaces share a file mapping; N threads write random pages each\n"
		   "  round; write-protect + clean-record find the written pages, checked against\n"
		   "  a log of the writes. Defaults: 3 threads, 5 rounds, 64 pages, 6 writes.\n"
		   "  Ranges: --threads 1..64, --rounds 1..100000, --pages 8..%u, --writes 0..1000000\n"
		   "  (N decimal).\n", (unsigned)MAX_PAGES);
}

/* 1 for --help, 0, or EXIT_USAGE + 1 after printing what was wrong. */
static int parse(int argc, char **argv, unsigned *threads, unsigned *rounds, unsigned *pages,
		 unsigned *writes, uint64_t *seed)
{
	static const struct { const char *name; uint64_t lo, hi; } opt[] = {
		{ "--threads", 1, 64 }, { "--rounds", 1, 100000 }, { "--pages", 8, MAX_PAGES },
		{ "--writes", 0, 1000000 }, { "--seed", 0, UINT64_MAX },
	};

	for (int i = 1; i < argc; i++) {
		const char *why;
		uint64_t v;
		size_t k;

		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
		for (k = 0; k < sizeof(opt) / sizeof(opt[0]); k++)
			if (!strcmp(argv[i], opt[k].name))
				break;
		if (k == sizeof(opt) / sizeof(opt[0]))
			return usage_error("dirty-demo", dirty_usage, "unknown argument '%s'", argv[i]) + 1;
		if (i + 1 >= argc)
			return usage_error("dirty-demo", NULL, "%s needs a value", argv[i]) + 1;
		if (parse_count(argv[i + 1], &v, &why))
			return usage_error("dirty-demo", NULL, "%s '%s': %s", argv[i], argv[i + 1], why) + 1;
		if (v < opt[k].lo || v > opt[k].hi)
			return usage_error("dirty-demo", NULL, "%s '%s': must be %" PRIu64 "..%" PRIu64,
					   argv[i], argv[i + 1], opt[k].lo, opt[k].hi) + 1;
		switch (k) {
		case 0: *threads = (unsigned)v; break;
		case 1: *rounds = (unsigned)v; break;
		case 2: *pages = (unsigned)v; break;
		case 3: *writes = (unsigned)v; break;
		default: *seed = v ? v : 1; break;
		}
		i++;
	}
	return 0;
}

int cmd_dirty(int argc, char **argv)
{
	unsigned threads = 3, rounds = 5, pages = 64, writes = 6;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	struct pw_arena *arena;
	struct pw_file *file;
	struct demo *d;
	struct cpu_thread *cpus;
	int ret, mismatches = 0;

	ret = parse(argc, argv, &threads, &rounds, &pages, &writes, &seed);
	if (ret == 1) {
		dirty_usage(stdout);
		return 0;
	}
	if (ret)
		return ret - 1;
	d = calloc(1, sizeof(*d));
	cpus = calloc(threads, sizeof(*cpus));
	if (!d || !cpus) {
		free(d);
		free(cpus);
		return 1;
	}
	d->writes = writes;
	if ((ret = pw_arena_create(64ULL << 20, &arena)) || (ret = pw_file_create(arena, pages * PG, &file))) {
		fprintf(stderr, "pagewalk dirty-demo: setup: %s\n", strerror(-ret));
		return 1;
	}
	/* mm 0 maps the whole file; mm 1 maps its second half, higher up. */
	d->pgoff[0] = 0;
	d->npages[0] = pages;
	d->pgoff[1] = pages / 2;
	d->npages[1] = pages - pages / 2;
	for (int m = 0; m < 2; m++) {
		if ((ret = pw_mm_create(arena, NULL, &d->mm[m])) ||
		    (ret = pw_mmap_file(d->mm[m], m ? 0x7f0000000000ULL : 0x10000000ULL, d->npages[m] * PG,
					PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_FIXED, file,
					d->pgoff[m], &d->addr[m]))) {
			fprintf(stderr, "pagewalk dirty-demo: mmap: %s\n", strerror(-ret));
			return 1;
		}
	}
	for (unsigned i = 0; i < threads; i++) {
		cpus[i].d = d;
		cpus[i].mm = (int)(i % 2);
		cpus[i].rng = seed + 0x1234567ULL * (i + 1);
		if ((ret = pw_tlb_create(d->mm[cpus[i].mm], 64, &cpus[i].tlb))) {
			fprintf(stderr, "pagewalk dirty-demo: tlb: %s\n", strerror(-ret));
			return 1;
		}
	}
	printf("file of %u pages; mm0 maps offsets [0, %u) at 0x%" PRIx64
	       ", mm1 maps [%u, %u) at 0x%" PRIx64 "\n"
	       "%u threads (even: mm0, odd: mm1), %u writes each per round, seed 0x%" PRIx64 "\n",
	       pages, pages, d->addr[0], pages / 2, pages, d->addr[1], threads, writes, seed);

	uint64_t words = (pages + 63) / 64, *bm = calloc(words, sizeof(*bm));

	for (unsigned r = 0; r < rounds && bm; r++) {
		uint64_t start = 0, end = 0, nwp, ncl;
		int nlogged = 0, nbits = 0, ok = 1;

		memset(d->logged, 0, sizeof(d->logged));
		memset(bm, 0, words * sizeof(*bm));
		for (unsigned i = 0; i < threads; i++)
			pthread_create(&cpus[i].t, NULL, writer, &cpus[i]);
		for (unsigned i = 0; i < threads; i++)
			pthread_join(cpus[i].t, NULL);
		nwp = pw_wp_shared_mapping_range(file, 0, pages);
		ncl = pw_clean_record_shared_mapping_range(file, 0, pages, 0, bm, &start, &end);
		printf("round %u: write-protected %" PRIu64 ", cleaned %" PRIu64 " entries; dirty pages:", r,
		       nwp, ncl);
		for (unsigned p = 0; p < pages; p++) {
			bool bit = bm[p / 64] >> (p % 64) & 1;

			nlogged += d->logged[p];
			if (bit) {
				printf(" %u", p);
				nbits++;
			}
			if (bit != (bool)d->logged[p])
				ok = 0;
		}
		if (nbits)
			printf("  [%" PRIu64 ", %" PRIu64 ")", start, end);
		printf("\n  log: %d pages written; %s\n", nlogged,
		       ok ? "matches the log" : "DOES NOT MATCH the log");
		mismatches += !ok;
	}
	for (unsigned i = 0; i < threads; i++) {
		struct pw_tlb_stats ts;

		pw_tlb_get_stats(cpus[i].tlb, &ts);
		printf("cpu %u (mm%d) TLB: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64
		       " flushes reached it, %" PRIu64 " entries dropped\n",
		       i, cpus[i].mm, ts.hits, ts.misses, ts.flushes, ts.invalidated);
	}
	printf("range flushes issued: mm0 %" PRIu64 ", mm1 %" PRIu64 "\n", pw_mm_nr_tlb_flushes(d->mm[0]),
	       pw_mm_nr_tlb_flushes(d->mm[1]));
	if (__atomic_load_n(&d->errors, __ATOMIC_RELAXED))
		printf("%d writes failed\n", d->errors);
	printf("%s\n", mismatches || d->errors || !bm ? "FAILED" : "every round matched the writes made");
	ret = mismatches || d->errors || !bm;
	free(bm);
	for (unsigned i = 0; i < threads; i++)
		pw_tlb_destroy(cpus[i].tlb);
	for (int m = 0; m < 2; m++)
		pw_mm_destroy(d->mm[m]);
	pw_file_destroy(file);
	pw_arena_destroy(arena);
	free(cpus);
	free(d);
	return ret;
}
