// SPDX-License-Identifier: MIT
/*
 * Description: dirty tracking under concurrency: writer threads with their
 * own TLBs write a shared file mapping in two address spaces while rounds
 * of write-protect / clean-record run; no write may be lost and nothing
 * unwritten may be recorded.
 */
#include <pthread.h>
#include <time.h>

#include <pagewalk/dirty.h>
#include <pagewalk/file.h>
#include <pagewalk/mm.h>
#include <pagewalk/tlb.h>

#include "../tests/tap.h"

#define PG 4096ULL
#define NPAGES 256
#define NWRITERS 3
#define NWRITES 3000	/* at least, per writer */
#define MIN_ROUNDS 60	/* writers keep writing until this many rounds ran */

static struct pw_mm *mms[2];
static uint64_t addrs[2];
static uint8_t written[NPAGES]; /* atomic */
static int write_errors;	/* atomic */
static int finished;		  /* atomic: writers done */
static uint32_t rounds_done;	  /* atomic: rounds finished (flushes included) */
static uint32_t fresh[NPAGES];	  /* atomic: 1 + rounds_done when a finished write began */

struct writer {
	pthread_t t;
	int id;
	uint64_t rng;
};

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	int m = w->id & 1;
	struct pw_tlb *tlb;
	struct pw_cpu cpu = PW_CPU_DEFAULT;

	if (pw_tlb_create(mms[m], 64, &tlb))
		abort();
	cpu.tlb = tlb;
	for (int i = 0; i < NWRITES || __atomic_load_n(&rounds_done, __ATOMIC_SEQ_CST) < MIN_ROUNDS; i++) {
		uint64_t p = next_rand(&w->rng) % NPAGES;
		struct pw_access_result r;

		/* logged before the store: a recorded page was always logged */
		__atomic_store_n(&written[p], 1, __ATOMIC_SEQ_CST);
		uint32_t began = __atomic_load_n(&rounds_done, __ATOMIC_SEQ_CST);
		if (pw_access(mms[m], &cpu, addrs[m] + p * PG, PW_FAULT_WRITE | PW_FAULT_USER, &r))
			__atomic_fetch_add(&write_errors, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&fresh[p], began + 1, __ATOMIC_SEQ_CST);
	}
	pw_tlb_destroy(tlb);
	__atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

TEST(no_write_lost_under_concurrency)
{
	struct pw_arena *a;
	struct pw_file *f;
	struct writer w[NWRITERS];
	uint64_t seen[NPAGES / 64] = { 0 }, prev[NPAGES / 64] = { 0 };
	int rounds = 0, bad = 0, late = 0, missed = 0;

	REQUIRE_EQ(pw_arena_create(32 << 20, &a), 0);
	REQUIRE_EQ(pw_file_create(a, NPAGES * PG, &f), 0);
	for (int m = 0; m < 2; m++) {
		REQUIRE_EQ(pw_mm_create(a, NULL, &mms[m]), 0);
		REQUIRE_EQ(pw_mmap_file(mms[m], 0, NPAGES * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, f, 0,
					&addrs[m]), 0);
	}
	for (int i = 0; i < NWRITERS; i++) {
		w[i].id = i;
		w[i].rng = tap_rand() | 1;
		REQUIRE_EQ(pthread_create(&w[i].t, NULL, writer_main, &w[i]), 0);
	}
	for (int done = 0; done < 2; rounds++) {
		uint64_t bm[NPAGES / 64] = { 0 }, s = 1, e = 0;

		/* rounds run for as long as the writers do */
		if (done == 0 && rounds >= 20 && __atomic_load_n(&finished, __ATOMIC_SEQ_CST) == NWRITERS) {
			for (int i = 0; i < NWRITERS; i++)
				pthread_join(w[i].t, NULL);
			done = 1; /* one more round after every writer has finished */
		} else if (done == 1) {
			done = 2;
		}
		/* writes finished before this round began */
		/* a gap, so that many writes begin and end between two rounds */
		struct timespec gap = { 0, 30000 };
		nanosleep(&gap, NULL);
		/*
		 * For the last write to each page that finished before this round
		 * began: 1 + the number of rounds finished when it began. (When a
		 * write finished says little: pw_access() may return long after
		 * its store took effect; when it began bounds the effect.)
		 */
		uint32_t began[NPAGES];
		for (int p = 0; p < NPAGES; p++)
			began[p] = __atomic_exchange_n(&fresh[p], 0, __ATOMIC_SEQ_CST);
		pw_wp_shared_mapping_range(f, 0, NPAGES);
		pw_clean_record_shared_mapping_range(f, 0, NPAGES, 0, bm, &s, &e);
		for (int p = 0; p < NPAGES; p++) {
			bool now = bm[p / 64] >> (p % 64) & 1, last = prev[p / 64] >> (p % 64) & 1;

			if (now && !__atomic_load_n(&written[p], __ATOMIC_SEQ_CST))
				bad++;
			/* began after the previous round (and its flush) ended and
			 * finished before this one began: dirty now, recorded now */
			if (began[p] == (uint32_t)rounds + 1 && !now)
				missed++;
			/* began while the previous round ran: recorded by it or now */
			if (began[p] && began[p] == (uint32_t)rounds && !now && !last)
				late++;
		}
		__atomic_store_n(&rounds_done, (uint32_t)rounds + 1, __ATOMIC_SEQ_CST);
		for (int i = 0; i < NPAGES / 64; i++) {
			seen[i] |= bm[i];
			prev[i] = bm[i];
		}
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(late, 0);
	CHECK_EQ(missed, 0);
	CHECK_EQ(write_errors, 0);
	int lost = 0, nwritten = 0;
	for (int p = 0; p < NPAGES; p++) {
		nwritten += written[p];
		if (written[p] && !(seen[p / 64] >> (p % 64) & 1))
			lost++;
	}
	CHECK_EQ(lost, 0);
	CHECK(nwritten > NPAGES / 2);
	tap_diag("%d rounds, %d pages written", rounds, nwritten);
	for (int m = 0; m < 2; m++)
		pw_mm_destroy(mms[m]);
	CHECK_EQ(pw_file_destroy(f), 0);
	pw_arena_destroy(a);
}

/*
 * The reverse map changing under the dirty helpers: one thread maps and
 * unmaps the file (and anonymous memory around it, so that PTE tables
 * shared with the file VMA empty out) in a third address space and forks
 * it, while a writer writes the first address space and rounds run. The
 * rounds must still find every page the writer wrote in mm 0.
 */
struct churn {
	struct pw_file *f;
	struct pw_arena *a;
	int iters;
	int errors;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	struct pw_mm *mm, *child;
	uint64_t base = 1ULL << 32;

	if (pw_mm_create(c->a, NULL, &mm))
		abort();
	for (int i = 0; i < c->iters; i++) {
		uint64_t off = (uint64_t)(i % 4) * PG;

		if (pw_mmap(mm, base, 4 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL) ||
		    pw_mmap_file(mm, base + 4 * PG + off, 16 * PG, PW_PROT_READ | PW_PROT_WRITE,
				 PW_MAP_SHARED | PW_MAP_FIXED, c->f, (uint64_t)i % 8, NULL) ||
		    pw_access(mm, NULL, base, PW_FAULT_WRITE | PW_FAULT_USER, NULL) ||
		    pw_access(mm, NULL, base + 5 * PG + off, PW_FAULT_USER, NULL))
			c->errors++;
		/* protection changes of a linked file VMA while rounds read vm_flags */
		if (pw_mprotect(mm, base + 4 * PG + off, 16 * PG, PW_PROT_READ) ||
		    pw_mprotect(mm, base + 4 * PG + off, 16 * PG, PW_PROT_READ | PW_PROT_WRITE))
			c->errors++;
		if (i % 8 == 0) {
			if (pw_mm_fork(mm, &child))
				c->errors++;
			else
				pw_mm_destroy(child);
		}
		if (pw_munmap(mm, base, 4 * PG) || pw_munmap(mm, base + 4 * PG, 20 * PG))
			c->errors++;
	}
	pw_mm_destroy(mm);
	return NULL;
}

TEST(reverse_map_churn_during_rounds)
{
	struct pw_arena *a;
	struct pw_file *f;
	struct writer w = { .id = 0, .rng = tap_rand() | 1 };
	struct churn c = { .iters = 200 };
	pthread_t ct;
	uint64_t seen[NPAGES / 64] = { 0 };

	memset(written, 0, sizeof(written));
	write_errors = 0;
	REQUIRE_EQ(pw_arena_create(32 << 20, &a), 0);
	REQUIRE_EQ(pw_file_create(a, NPAGES * PG, &f), 0);
	for (int m = 0; m < 2; m++) {
		REQUIRE_EQ(pw_mm_create(a, NULL, &mms[m]), 0);
		REQUIRE_EQ(pw_mmap_file(mms[m], 0, NPAGES * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, f, 0,
					&addrs[m]), 0);
	}
	c.f = f;
	c.a = a;
	REQUIRE_EQ(pthread_create(&ct, NULL, churn_main, &c), 0);
	REQUIRE_EQ(pthread_create(&w.t, NULL, writer_main, &w), 0);
	for (int r = 0; r < 40; r++) {
		uint64_t bm[NPAGES / 64] = { 0 }, s = 1, e = 0;

		if (r == 39)
			pthread_join(w.t, NULL); /* the last round comes after every write */
		pw_wp_shared_mapping_range(f, 0, NPAGES);
		pw_clean_record_shared_mapping_range(f, 0, NPAGES, 0, bm, &s, &e);
		for (int i = 0; i < NPAGES / 64; i++)
			seen[i] |= bm[i];
	}
	pthread_join(ct, NULL);
	CHECK_EQ(c.errors, 0);
	CHECK_EQ(write_errors, 0);
	int lost = 0;
	for (int p = 0; p < NPAGES; p++)
		if (written[p] && !(seen[p / 64] >> (p % 64) & 1))
			lost++;
	CHECK_EQ(lost, 0);
	for (int m = 0; m < 2; m++)
		pw_mm_destroy(mms[m]);
	CHECK_EQ(pw_file_nr_vmas(f), 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	tap_seed("test_dirty_mt");
	RUN(no_write_lost_under_concurrency);
	RUN(reverse_map_churn_during_rounds);
	return tap_done();
}
