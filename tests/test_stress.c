// SPDX-License-Identifier: MIT
/*
 * test_stress.c - eight threads on two address spaces that share a file
 * mapping and an anonymous fork, for a fixed number of rounds.
 *
 * Each round the threads run together for a fixed number of operations:
 *   0, 1  write the shared file mapping through pw_access() with their own
 *         software TLBs, in mm A and in mm B (the fork of A), logging each
 *         page after its write succeeded;
 *   2     writes and reads the private anonymous region of A and B
 *         (copy-on-write faults against fork's write-protection);
 *   3     churns a scratch region of A: mmap, populate, mprotect, munmap;
 *   4     forks A into a short-lived child, writes in it, destroys it;
 *   5     walks: the callback walker over A, the iterator over B, and
 *         walk_page_mapping over the file;
 *   6     ptdump of A, pw_translate() and pw_translate_lockless() at random
 *         addresses of B, and lockless GUP (pw_get_user_pages_fast(),
 *         references and pins) of A's anonymous region;
 *   7     dirty rounds: write-protect + clean-record of the file, recording.
 * After the threads are joined, the round's invariants:
 *   - no lost dirty bit: every page written in the round is recorded by a
 *     clean-record of the round (the last one runs after the join);
 *   - every frame is accounted for: the frames in use equal the table
 *     frames of A and B (reachable from their roots) + the file's page
 *     cache + the distinct anonymous frames A and B map;
 *   - no table frame is reachable from two parents (nothing here shares
 *     tables by design).
 * PW_STRESS_ROUNDS overrides the number of rounds (`make stress`).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <pagewalk/dirty.h>
#include <pagewalk/file.h>
#include <pagewalk/gup.h>
#include <pagewalk/iter.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/ptdump.h>
#include <pagewalk/tlb.h>

#include "core/core.h"
#include "fixture.h"
#include "mm/mm.h"
#include "pt/pt.h"

#define PG 4096ULL
#define FPAGES 256	 /* the shared file */
#define APAGES 256	 /* the private anonymous region */
#define SPAGES 512	 /* the scratch region of thread 3 */
#define OPS 400		 /* operations per thread per round */
#define NTHREADS 8

static struct pw_arena *arena;
static struct pw_file *file;
static struct pw_mm *mm[2]; /* A and its fork B */
static uint64_t faddr[2], aaddr[2], scratch;
static uint8_t written[FPAGES];		/* atomic: written in this round */
static uint64_t recorded[FPAGES / 64];	/* atomic bits: recorded in this round */
static int errors;			/* atomic: unexpected results */
static pthread_barrier_t start;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void bad(const char *what, int ret)
{
	if (__atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED) < 10)
		fprintf(stderr, "stress: %s: %d\n", what, ret);
}

static void file_writer(int m, uint64_t seed)
{
	struct pw_tlb *tlb;
	struct pw_cpu cpu = PW_CPU_DEFAULT;

	if (pw_tlb_create(mm[m], 32, &tlb))
		abort();
	cpu.tlb = tlb;
	for (int i = 0; i < OPS; i++) {
		uint64_t p = rnd(&seed) % FPAGES;
		int ret = pw_access(mm[m], &cpu, faddr[m] + p * PG, PW_FAULT_WRITE | PW_FAULT_USER, NULL);

		if (ret)
			bad("file write", ret);
		else
			__atomic_store_n(&written[p], 1, __ATOMIC_SEQ_CST);
	}
	pw_tlb_destroy(tlb);
}

static void anon_user(uint64_t seed)
{
	for (int i = 0; i < OPS; i++) {
		int m = (int)(rnd(&seed) & 1);
		uint64_t p = rnd(&seed) % APAGES;
		unsigned kind = rnd(&seed) & 1 ? PW_FAULT_WRITE : 0;
		int ret = pw_access(mm[m], NULL, aaddr[m] + p * PG, kind | PW_FAULT_USER, NULL);

		if (ret)
			bad("anon access", ret);
	}
}

static void churn(uint64_t seed)
{
	for (int i = 0; i < OPS / 8; i++) {
		uint64_t off = (rnd(&seed) % (SPAGES / 2)) * PG, len = (1 + rnd(&seed) % 64) * PG, got;
		int ret;

		if (off + len > SPAGES * PG)
			len = SPAGES * PG - off;
		ret = pw_mmap(mm[0], scratch + off, len, PW_PROT_READ | PW_PROT_WRITE,
			      PW_MAP_PRIVATE | PW_MAP_FIXED, &got);
		if (ret)
			bad("scratch mmap", ret);
		if ((ret = pw_mm_populate(mm[0], scratch + off, scratch + off + len, true)))
			bad("scratch populate", ret);
		if ((ret = pw_mprotect(mm[0], scratch + off, len / 2 & ~(PG - 1), PW_PROT_READ)))
			bad("scratch mprotect", ret);
		if (rnd(&seed) & 1 && (ret = pw_munmap(mm[0], scratch + off, len)))
			bad("scratch munmap", ret);
	}
}

static void forker(uint64_t seed)
{
	for (int i = 0; i < 4; i++) {
		struct pw_mm *child;
		int ret = pw_mm_fork(mm[0], &child);

		if (ret) {
			bad("fork", ret);
			continue;
		}
		for (int j = 0; j < 16; j++) {
			uint64_t p = rnd(&seed) % APAGES;

			if ((ret = pw_access(child, NULL, aaddr[0] + p * PG,
					     PW_FAULT_WRITE | PW_FAULT_USER, NULL)))
				bad("child write", ret);
		}
		pw_mm_destroy(child);
	}
}

static int count_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	(*(uint64_t *)walk->private)++;
	return 0;
}

static void walker(void)
{
	struct pw_walk_ops ops = { .pte_entry = count_pte };

	for (int i = 0; i < OPS / 40; i++) {
		uint64_t n = 0;
		struct pw_walk_state st;
		int ret;

		pw_mmap_read_lock(mm[0]);
		ret = pw_walk_page_range(mm[0], 0, pw_low_half_end(4), &ops, &n);
		pw_mmap_read_unlock(mm[0]);
		if (ret)
			bad("callback walk", ret);
		pw_mmap_read_lock(mm[1]);
		pw_for_each_entry(&st, mm[1], 0, pw_low_half_end(4), 0)
			n++;
		if ((ret = pw_walk_error(&st)))
			bad("iterator", ret);
		pw_mmap_read_unlock(mm[1]);
		pw_i_mmap_lock_read(file);
		ret = pw_walk_page_mapping(file, 0, FPAGES, &ops, &n);
		pw_i_mmap_unlock_read(file);
		if (ret)
			bad("mapping walk", ret);
	}
}

static void dumper(uint64_t seed)
{
	for (int i = 0; i < OPS / 40; i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&buf, &len);
		struct pw_ptdump_opts o = { 0 };
		int ret;

		if (!out)
			abort();
		if ((ret = pw_ptdump(mm[0], out, &o, NULL)) < 0)
			bad("ptdump", ret);
		fclose(out);
		free(buf);
		pw_mmap_read_lock(mm[1]);
		for (int j = 0; j < 64; j++) {
			struct pw_translation t;
			uint64_t p = rnd(&seed) % FPAGES;

			ret = pw_translate(mm[1], faddr[1] + p * PG, &t);
			if (ret && ret != -EFAULT && ret != -ENOENT)
				bad("translate", ret);
		}
		pw_mmap_read_unlock(mm[1]);
		for (int j = 0; j < 64; j++) {
			struct pw_translation t;
			uint64_t p = rnd(&seed) % APAGES;

			ret = pw_translate_lockless(mm[1], aaddr[1] + p * PG, &t);
			if (ret && ret != -ENOENT)
				bad("lockless translate", ret);
		}
		{
			uint64_t frames[32], p = rnd(&seed) % (APAGES - 32);
			unsigned flags = (rnd(&seed) & 1) ? PW_FOLL_PIN | PW_FOLL_WRITE : 0;
			long got = pw_get_user_pages_fast(mm[0], aaddr[0] + p * PG, 32, flags, frames);

			if (got != 32)
				bad("gup-fast", (int)got);
			if (got > 0)
				pw_put_user_pages(mm[0], frames, (unsigned long)got, flags);
		}
	}
}

static void record(void)
{
	uint64_t bm[FPAGES / 64] = { 0 }, s = FPAGES, e = 0;

	pw_wp_clean_record_shared_mapping_range(file, 0, FPAGES, 0, bm, &s, &e, NULL);
	for (unsigned w = 0; w < FPAGES / 64; w++)
		__atomic_fetch_or(&recorded[w], bm[w], __ATOMIC_SEQ_CST);
}

static void dirtier(void)
{
	for (int i = 0; i < OPS / 20; i++)
		record();
}

static void *thread_main(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint64_t seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(id + 1);

	pthread_barrier_wait(&start);
	switch (id) {
	case 0:
	case 1: file_writer(id, seed); break;
	case 2: anon_user(seed); break;
	case 3: churn(seed); break;
	case 4: forker(seed); break;
	case 5: walker(); break;
	case 6: dumper(seed); break;
	case 7: dirtier(); break;
	}
	return NULL;
}

/* ---- the accounting walk (threads joined) ------------------------------- */

struct account {
	uint64_t *tables; /* every table frame seen */
	size_t nr_tables, cap_tables;
	uint64_t *anon;
	size_t nr_anon, cap_anon;
	int shared_tables;
};

static void push(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 1024;
		*v = realloc(*v, *cap * sizeof(**v));
		if (!*v)
			abort();
	}
	(*v)[(*n)++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static size_t uniq(uint64_t *v, size_t n)
{
	size_t k = 0;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

static void account_table(struct pw_pt *pt, uint64_t pfn, enum pw_level level, struct account *ac)
{
	const uint64_t *t = pw_pt_table(pt, pfn);

	push(&ac->tables, &ac->nr_tables, &ac->cap_tables, pfn);
	for (unsigned i = 0; i < PW_PTRS_PER_TABLE; i++) {
		struct pw_pt_entry e = { .ptep = (uint64_t *)&t[i], .val = t[i], .table = pfn,
					 .level = level };
		enum pw_pt_kind k = pw_pt_entry_kind(pt, &e);

		if (k == PW_PT_TABLE) {
			account_table(pt, pw_pt_next_pfn(pt, e.val), level - 1, ac);
		} else if (k == PW_PT_LEAF || (k == PW_PT_NONPRESENT && (e.val & PW_SW_PROTNONE))) {
			uint64_t frame = pw_pt_leaf_pfn(pt, level, e.val);
			struct pw_frame *f = pw_frame_meta(arena, frame);

			if (f && !f->mapping && !(f->flags & PW_FRAME_RESERVED))
				push(&ac->anon, &ac->nr_anon, &ac->cap_anon, frame);
		}
	}
}

/* Frames in use that the tables, the page cache and the anon mappings explain. */
static uint64_t account(struct account *ac)
{
	size_t all;

	ac->nr_tables = ac->nr_anon = 0;
	for (int m = 0; m < 2; m++)
		account_table(&mm[m]->pt, mm[m]->pt.root_pfn,
			      (enum pw_level)pw_root_level(mm[m]->pt.cfg.levels), ac);
	all = ac->nr_tables;
	ac->shared_tables = (int)(all - uniq(ac->tables, all));
	ac->nr_anon = uniq(ac->anon, ac->nr_anon);
	return all + ac->nr_anon + pw_file_nr_cached(file);
}

TEST(eight_threads_lose_nothing)
{
	const char *env = getenv("PW_STRESS_ROUNDS");
	int rounds = env ? atoi(env) : 30;
	struct account ac = { 0 };
	pthread_t t[NTHREADS];
	uint64_t free0, got;
	int lost = 0, unaccounted = 0, shared = 0;

	REQUIRE_EQ(pw_arena_create(256 << 20, &arena), 0);
	free0 = pw_arena_free_frames(arena);
	REQUIRE_EQ(pw_file_create(arena, FPAGES * PG, &file), 0);
	{
		struct pw_paging cfg = PW_PAGING_DEFAULT;

		REQUIRE_EQ(pw_mm_create(arena, &cfg, &mm[0]), 0);
	}
	REQUIRE_EQ(pw_mmap_file(mm[0], 0, FPAGES * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED,
				file, 0, &faddr[0]),
		   0);
	REQUIRE_EQ(pw_mmap(mm[0], 0, APAGES * PG, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_POPULATE, &aaddr[0]),
		   0);
	REQUIRE_EQ(pw_mmap(mm[0], 0, SPAGES * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE,
			   &scratch),
		   0);
	REQUIRE_EQ(pw_mm_fork(mm[0], &mm[1]), 0);
	faddr[1] = faddr[0];
	aaddr[1] = aaddr[0];
	REQUIRE_EQ(pthread_barrier_init(&start, NULL, NTHREADS), 0);
	for (int r = 0; r < rounds; r++) {
		uint64_t used, explained;

		memset(written, 0, sizeof(written));
		memset(recorded, 0, sizeof(recorded));
		for (int i = 0; i < NTHREADS; i++)
			REQUIRE_EQ(pthread_create(&t[i], NULL, thread_main, (void *)(intptr_t)i), 0);
		for (int i = 0; i < NTHREADS; i++)
			pthread_join(t[i], NULL);
		record(); /* what the round's last writes left dirty */
		for (int p = 0; p < FPAGES; p++)
			if (written[p] && !(recorded[p / 64] >> (p % 64) & 1))
				lost++;
		used = free0 - pw_arena_free_frames(arena);
		explained = account(&ac);
		if (used != explained) {
			unaccounted++;
			tap_diag("round %d: %" PRIu64 " frames in use, %" PRIu64
				 " explained (%zu tables, %zu anon, %" PRIu64 " cached)",
				 r, used, explained, ac.nr_tables, ac.nr_anon, pw_file_nr_cached(file));
		}
		shared += ac.shared_tables;
	}
	tap_diag("%d rounds of %d threads x %d operations: %d lost dirty pages, %d rounds with "
		 "unaccounted frames, %d tables reachable twice, %d unexpected errors",
		 rounds, NTHREADS, OPS, lost, unaccounted, shared, errors);
	CHECK_EQ(lost, 0);
	CHECK_EQ(unaccounted, 0);
	CHECK_EQ(shared, 0);
	CHECK_EQ(errors, 0);
	pthread_barrier_destroy(&start);
	pw_mm_destroy(mm[1]);
	pw_mm_destroy(mm[0]);
	CHECK_EQ(pw_file_destroy(file), 0);
	CHECK_EQ(pw_arena_free_frames(arena), free0);
	free(ac.tables);
	free(ac.anon);
	(void)got;
	pw_arena_destroy(arena);
}

int main(void)
{
	tap_start();
	RUN(eight_threads_lose_nothing);
	return tap_done();
}
