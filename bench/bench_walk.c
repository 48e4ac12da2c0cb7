// SPDX-License-Identifier: MIT
/*
 * bench_walk.c - cost of walking page tables (issue 2).
 *
 * Dense: one VMA of SIZE (default 8 GiB) populated with 4 KiB pages. Timed
 * side by side, interleaved, several times in one process:
 *   iter   pw_for_each_entry(), flags 0, summing st.entry
 *   walk   pw_walk_page_range() with a pte_entry that reads the entry
 *   novma  pw_walk_page_range_novma() with the same pte_entry
 *   plain  a loop over the same PTE table frames (collected once) summing
 *          their 512 entries: the floor for reading the tables
 * Reported: median ns per PTE and the ratios to plain.
 *
 * Sparse: random 4 KiB mappings at random addresses over 128 TiB (the whole
 * lower half) and over 1 TiB, each populated. Reported: median time of a
 * whole-half walk per populated page-table frame, to show the walk scales
 * with the tables, not with the range.
 *
 * Usage: bench_walk [SIZE[K|M|G]] [--reps N] [--dense-only]
 * Data pages are never written (fresh arena frames are known to be zero),
 * so host memory holds only the page tables and the frame metadata.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>

#include "bench.h"

#define MAX_REPS 64

static uint64_t sink;

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_walk: %s: %s\n", what, strerror(-err));
	exit(1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* ---- the timed loops (noinline: callgrind attributes cost per loop) ---- */

static int sum_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	*(uint64_t *)walk->private += pw_pte_val(pw_ptep_get(pte));
	return 0;
}

static const struct pw_walk_ops sum_ops = { .pte_entry = sum_pte, .walk_lock = PW_WALK_RDLOCK };

/* Return the number of leaf steps (for checking) and add to sink. */
__attribute__((noinline)) static uint64_t loop_iter(struct pw_mm *mm, uint64_t s, uint64_t e)
{
	struct pw_walk_state st;
	uint64_t sum = 0, n = 0;

	pw_for_each_entry(&st, mm, s, e, 0) {
		sum += st.entry;
		n++;
	}
	sink += sum;
	return n;
}

__attribute__((noinline)) static uint64_t loop_walk(struct pw_mm *mm, uint64_t s, uint64_t e)
{
	uint64_t sum = 0;
	int ret = pw_walk_page_range(mm, s, e, &sum_ops, &sum);

	if (ret)
		die("pw_walk_page_range", ret);
	sink += sum;
	return sum;
}

__attribute__((noinline)) static uint64_t loop_novma(struct pw_mm *mm, uint64_t s, uint64_t e)
{
	uint64_t sum = 0;
	int ret = pw_walk_page_range_novma(mm, s, e, &sum_ops, PW_ROOT_DEFAULT, &sum);

	if (ret)
		die("pw_walk_page_range_novma", ret);
	sink += sum;
	return sum;
}

/* The iterator with PW_WALK_RUNS: one step per PTE table, the caller's own loop. */
__attribute__((noinline)) static uint64_t loop_runs(struct pw_mm *mm, uint64_t s, uint64_t e)
{
	struct pw_walk_state st;
	uint64_t sum = 0;

	pw_for_each_entry(&st, mm, s, e, PW_WALK_RUNS) {
		const uint64_t *p = st.ptep;
		uint64_t n = pw_walk_run_len(&st);

		if (st.type != PW_STEP_RUN)
			continue;
		for (uint64_t i = 0; i < n; i++)
			sum += p[i];
	}
	sink += sum;
	return sum;
}

/* The inlined callback walker: sum_pte compiled into the PTE loop. */
PW_DEFINE_PTE_RUN(sum_pte_run, sum_pte)
static const struct pw_walk_ops sum_inline_ops = { .pte_run = sum_pte_run, .walk_lock = PW_WALK_RDLOCK };

__attribute__((noinline)) static uint64_t loop_inline(struct pw_mm *mm, uint64_t s, uint64_t e)
{
	uint64_t sum = 0;
	int ret = pw_walk_page_range(mm, s, e, &sum_inline_ops, &sum);

	if (ret)
		die("pw_walk_page_range (inlined)", ret);
	sink += sum;
	return sum;
}

/* The callback walker on two threads (the caller and one more), pte_entry as loop_walk's. */
__attribute__((noinline)) static uint64_t loop_par2(struct pw_mm *mm, uint64_t s, uint64_t e)
{
	uint64_t sum[2][8] = { { 0 } }; /* one cache line each */
	void *priv[2] = { sum[0], sum[1] };
	int ret = pw_walk_page_range_parallel(mm, s, e, &sum_ops, priv, 2);

	if (ret)
		die("pw_walk_page_range_parallel", ret);
	sink += sum[0][0] + sum[1][0];
	return sum[0][0] + sum[1][0];
}

__attribute__((noinline)) static uint64_t loop_plain(uint64_t *const *tables, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		const uint64_t *t = tables[i];

		for (unsigned j = 0; j < PW_PTRS_PER_TABLE; j++)
			sum += t[j];
	}
	sink += sum;
	return sum;
}

/* Host addresses of every PTE table under [s, e), in address order. */
static uint64_t **collect_pte_tables(struct pw_mm *mm, uint64_t s, uint64_t e, uint64_t *nr)
{
	struct pw_walk_state st;
	uint64_t **v = NULL, n = 0, cap = 0;

	pw_for_each_entry(&st, mm, s, e, PW_WALK_TABLES) {
		if (st.type != PW_STEP_TABLE || st.level != PW_LEVEL_PMD)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				die("realloc", -ENOMEM);
		}
		v[n++] = pw_phys_frame(pw_mm_phys(mm),
				       pw_entry_pfn(PW_LEVEL_PMD, st.entry, pw_mm_paging(mm)->maxphyaddr));
		pw_walk_skip(&st);
	}
	*nr = n;
	return v;
}

/* ---- dense ---------------------------------------------------------------- */

static void bench_dense(uint64_t size, int reps)
{
	double t_iter[MAX_REPS], t_walk[MAX_REPS], t_novma[MAX_REPS], t_plain[MAX_REPS];
	double t_runs[MAX_REPS], t_inl[MAX_REPS], t_par[MAX_REPS];
	uint64_t npte = size >> PW_PAGE_SHIFT, addr, ntables, **tables;
	struct pw_mm_stats ms;
	struct pw_arena *a;
	struct pw_mm *mm;
	double t0, t_pop;
	int ret;

	/* Data frames, one PTE table per 2 MiB, upper tables, slack. */
	ret = pw_arena_create(size + size / 256 + (64ULL << 20), &a);
	if (ret)
		die("pw_arena_create", ret);
	ret = pw_mm_create(a, NULL, &mm);
	if (ret)
		die("pw_mm_create", ret);
	t0 = now_ns();
	ret = pw_mmap(mm, 0, size, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_POPULATE,
		      &addr);
	if (ret)
		die("pw_mmap", ret);
	t_pop = now_ns() - t0;
	pw_mm_get_stats(mm, &ms);

	pw_mmap_read_lock(mm);
	tables = collect_pte_tables(mm, addr, addr + size, &ntables);
	if (ntables * PW_PTRS_PER_TABLE != npte || ms.rss != npte) {
		fprintf(stderr, "bench_walk: expected %llu PTEs, got %llu tables, rss %llu\n",
			(unsigned long long)npte, (unsigned long long)ntables,
			(unsigned long long)ms.rss);
		exit(1);
	}
	/* Warm up once, and check that every loop sees every PTE. */
	{
		uint64_t n = loop_iter(mm, addr, addr + size);
		uint64_t s1 = loop_walk(mm, addr, addr + size), s2 = loop_novma(mm, addr, addr + size);
		uint64_t s3 = loop_plain(tables, ntables);
		uint64_t s4 = loop_runs(mm, addr, addr + size), s5 = loop_inline(mm, addr, addr + size);
		uint64_t s6 = loop_par2(mm, addr, addr + size);

		if (n != npte || s1 != s2 || s2 != s3 || s3 != s4 || s4 != s5 || s5 != s6) {
			fprintf(stderr, "bench_walk: loops disagree\n");
			exit(1);
		}
	}
	for (int r = 0; r < reps; r++) {
		t0 = now_ns();
		loop_iter(mm, addr, addr + size);
		t_iter[r] = (now_ns() - t0) / (double)npte;
		t0 = now_ns();
		loop_walk(mm, addr, addr + size);
		t_walk[r] = (now_ns() - t0) / (double)npte;
		t0 = now_ns();
		loop_novma(mm, addr, addr + size);
		t_novma[r] = (now_ns() - t0) / (double)npte;
		t0 = now_ns();
		loop_plain(tables, ntables);
		t_plain[r] = (now_ns() - t0) / (double)npte;
		t0 = now_ns();
		loop_runs(mm, addr, addr + size);
		t_runs[r] = (now_ns() - t0) / (double)npte;
		t0 = now_ns();
		loop_inline(mm, addr, addr + size);
		t_inl[r] = (now_ns() - t0) / (double)npte;
		t0 = now_ns();
		loop_par2(mm, addr, addr + size);
		t_par[r] = (now_ns() - t0) / (double)npte;
	}
	pw_mmap_read_unlock(mm);

	double mi = median(t_iter, reps), mw = median(t_walk, reps);
	double mn = median(t_novma, reps), mp = median(t_plain, reps);
	double mr = median(t_runs, reps), ml = median(t_inl, reps), mpar = median(t_par, reps);

	printf("## dense: %llu MiB of 4 KiB pages, %llu PTEs in %llu PTE tables (%llu MiB), %llu table frames in all\n",
	       (unsigned long long)(size >> 20), (unsigned long long)npte,
	       (unsigned long long)ntables, (unsigned long long)(ntables * PW_PAGE_SIZE >> 20),
	       (unsigned long long)ms.pgtables);
	printf("populate: %.2f s; host RSS %ld MiB (peak %ld MiB)\n", t_pop / 1e9,
	       rss_kib("VmRSS:") / 1024, rss_kib("VmHWM:") / 1024);
	printf("median of %d runs, interleaved\n\n", reps);
	printf("| loop | ns/PTE (median) | min | max | ratio to plain | target |\n");
	printf("|---|---:|---:|---:|---:|---|\n");
#define ROW(name, t, m, target) \
	printf("| %s | %.3f | %.3f | %.3f | %.2fx | %s |\n", name, m, t[0], t[reps - 1], m / mp, target)
	/* Sorted: [0] is the minimum, [reps - 1] the maximum. */
	qsort(t_iter, (size_t)reps, sizeof(double), cmp_double);
	qsort(t_walk, (size_t)reps, sizeof(double), cmp_double);
	qsort(t_novma, (size_t)reps, sizeof(double), cmp_double);
	qsort(t_plain, (size_t)reps, sizeof(double), cmp_double);
	qsort(t_runs, (size_t)reps, sizeof(double), cmp_double);
	qsort(t_inl, (size_t)reps, sizeof(double), cmp_double);
	qsort(t_par, (size_t)reps, sizeof(double), cmp_double);
	ROW("iterator (pw_for_each_entry, flags 0)", t_iter, mi, mi <= 1.5 * mp ? "<= 1.5x: met" : "<= 1.5x: MISSED");
	ROW("callback (pw_walk_page_range, pte_entry)", t_walk, mw, mw <= 3 * mp ? "<= 3x: met" : "<= 3x: MISSED");
	ROW("callback (pw_walk_page_range_novma)", t_novma, mn, mn <= 3 * mp ? "<= 3x: met" : "<= 3x: MISSED");
	ROW("iterator, PTE runs (PW_WALK_RUNS)", t_runs, mr, mr <= 1.1 * mp ? "<= 1.1x: met" : "<= 1.1x: MISSED");
	ROW("callback, inlined (PW_DEFINE_PTE_RUN)", t_inl, ml, ml <= 2 * mp ? "<= 2x: met" : "<= 2x: MISSED");
	ROW("callback, 2 threads (pw_walk_page_range_parallel)", t_par, mpar, "see below");
	ROW("plain read of the PTE tables", t_plain, mp, "floor");
#undef ROW
	printf("\nparallel: 1 thread / 2 threads (callback walker, medians) = %.2fx (target >= 1.8x: %s)\n",
	       mw / mpar, mw / mpar >= 1.8 ? "met" : "MISSED");
	printf("\n");

	free(tables);
	pw_mm_destroy(mm);
	pw_arena_destroy(a);
}

/* ---- sparse --------------------------------------------------------------- */

struct sparse_result {
	uint64_t pages, span, pgtables;
	double iter_ns, walk_ns, novma_ns;
};

/* @pages random 4 KiB pages in [base, base + span), then whole-half walks. */
static void bench_sparse(uint64_t pages, uint64_t base, uint64_t span, int reps,
			 struct sparse_result *res)
{
	double t_iter[MAX_REPS], t_walk[MAX_REPS], t_novma[MAX_REPS];
	uint64_t lo_end, mapped = 0, n;
	struct pw_mm_stats ms;
	struct pw_arena *a;
	struct pw_mm *mm;
	int ret;

	/* Up to 3 table frames per page plus its data frame. */
	ret = pw_arena_create((pages * 4 + 1024) * PW_PAGE_SIZE, &a);
	if (ret)
		die("pw_arena_create", ret);
	ret = pw_mm_create(a, NULL, &mm);
	if (ret)
		die("pw_mm_create", ret);
	lo_end = pw_low_half_end(pw_mm_paging(mm)->levels);
	while (mapped < pages) {
		uint64_t addr = base + (rng() % (span >> PW_PAGE_SHIFT) << PW_PAGE_SHIFT);

		ret = pw_mmap(mm, addr, PW_PAGE_SIZE, PW_PROT_READ | PW_PROT_WRITE,
			      PW_MAP_PRIVATE | PW_MAP_FIXED_NOREPLACE | PW_MAP_POPULATE, NULL);
		if (ret == -EEXIST || (ret == -EINVAL && addr < PW_PAGE_SIZE))
			continue;
		if (ret)
			die("pw_mmap (sparse)", ret);
		mapped++;
	}
	pw_mm_get_stats(mm, &ms);

	pw_mmap_read_lock(mm);
	n = loop_iter(mm, 0, lo_end);
	if (n != pages || loop_walk(mm, 0, lo_end) != loop_novma(mm, 0, lo_end)) {
		fprintf(stderr, "bench_walk: sparse loops disagree\n");
		exit(1);
	}
	for (int r = 0; r < reps; r++) {
		double t0 = now_ns();

		loop_iter(mm, 0, lo_end);
		t_iter[r] = now_ns() - t0;
		t0 = now_ns();
		loop_walk(mm, 0, lo_end);
		t_walk[r] = now_ns() - t0;
		t0 = now_ns();
		loop_novma(mm, 0, lo_end);
		t_novma[r] = now_ns() - t0;
	}
	pw_mmap_read_unlock(mm);
	res->pages = pages;
	res->span = span;
	res->pgtables = ms.pgtables;
	res->iter_ns = median(t_iter, reps);
	res->walk_ns = median(t_walk, reps);
	res->novma_ns = median(t_novma, reps);
	pw_mm_destroy(mm);
	pw_arena_destroy(a);
}

static void print_sparse(const struct sparse_result *r, int nr, int reps)
{
	printf("## sparse: random 4 KiB pages (each its own VMA), walk of the whole lower half [0, 2^47)\n");
	printf("median of %d runs, interleaved; time per populated table frame (root included)\n\n", reps);
	printf("| pages | spread over | table frames | iterator us | ns/table | callback us | ns/table | novma us | ns/table |\n");
	printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < nr; i++) {
		double t = (double)r[i].pgtables;

		printf("| %llu | %llu GiB | %llu | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n",
		       (unsigned long long)r[i].pages, (unsigned long long)(r[i].span >> 30),
		       (unsigned long long)r[i].pgtables, r[i].iter_ns / 1e3, r[i].iter_ns / t,
		       r[i].walk_ns / 1e3, r[i].walk_ns / t, r[i].novma_ns / 1e3, r[i].novma_ns / t);
	}
	printf("\n");
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'g': case 'G': v <<= 30; break;
	case 'm': case 'M': v <<= 20; break;
	case 'k': case 'K': v <<= 10; break;
	case '\0': break;
	default: v = 0;
	}
	return v;
}

int main(int argc, char **argv)
{
	uint64_t size = 8ULL << 30;
	int reps = 21;
	bool dense_only = false;
	double t0 = now_ns();

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
			reps = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--dense-only")) {
			dense_only = true;
		} else if (argv[i][0] != '-') {
			size = parse_size(argv[i]);
		} else {
			fprintf(stderr, "usage: bench_walk [SIZE[K|M|G]] [--reps N] [--dense-only]\n");
			return 2;
		}
	}
	if (reps < 1 || reps > MAX_REPS || size < PW_PMD_SIZE || size % PW_PMD_SIZE ||
	    size > (64ULL << 30)) {
		fprintf(stderr, "bench_walk: SIZE must be a multiple of 2 MiB up to 64 GiB, reps 1..%d\n",
			MAX_REPS);
		return 2;
	}
	printf("# bench_walk: walk cost (issue 2), size %llu MiB, seed 0x%llx\n\n",
	       (unsigned long long)(size >> 20), (unsigned long long)rng_state);
	bench_dense(size, reps);
	if (!dense_only) {
		struct sparse_result r[4];
		int sreps = reps * 3 > MAX_REPS ? MAX_REPS : reps * 3;

		bench_sparse(1024, 0, 1ULL << 47, sreps, &r[0]);
		bench_sparse(4096, 0, 1ULL << 47, sreps, &r[1]);
		bench_sparse(1024, 1ULL << 40, 1ULL << 40, sreps, &r[2]);
		bench_sparse(4096, 1ULL << 40, 1ULL << 40, sreps, &r[3]);
		print_sparse(r, 4, sreps);
	}
	printf("total %.1f s\n", (now_ns() - t0) / 1e9);
	return 0;
}
