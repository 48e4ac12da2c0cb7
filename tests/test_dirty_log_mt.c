// SPDX-License-Identifier: MIT
/*
 * test_dirty_log_mt.c - the per-file dirty log (pw_dirty_log_enable(),
 * pw_dirty_log_harvest()) against what was written.
 *
 * Sequential rounds: writes through pw_access() in two address spaces that
 * share the file (one of them with a software TLB), and write faults with
 * no access (populate); each harvest must record exactly the pages written
 * since the previous one, and afterwards the log and the tables agree:
 * every mapped PTE of the file is read-only (its next write faults and logs). Concurrent: writer
 * threads with their own TLBs while rounds run; every write that completed
 * is recorded by some round (the last one after the writers stop). KVM: a
 * vCPU's writes fault (write-protected) and are logged.
 */
#include <pthread.h>
#include <string.h>

#include <pagewalk/dirty.h>
#include <pagewalk/file.h>
#include <pagewalk/kvm.h>
#include <pagewalk/mm.h>
#include <pagewalk/tlb.h>

#include "fixture.h"
#include "mm/mm.h"
#include "pt/pt.h"

#define PG 4096ULL
#define NPAGES 2048
#define ROUNDS 30

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct scene {
	struct pw_arena *a;
	struct pw_file *f;
	struct pw_mm *mm[2];
	uint64_t base[2];
	uint64_t free0;
};

static void scene_init(struct scene *s)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;

	REQUIRE_EQ(pw_arena_create(64 << 20, &s->a), 0);
	s->free0 = pw_arena_free_frames(s->a);
	REQUIRE_EQ(pw_file_create(s->a, NPAGES * PG, &s->f), 0);
	for (int m = 0; m < 2; m++) {
		REQUIRE_EQ(pw_mm_create(s->a, &cfg, &s->mm[m]), 0);
		REQUIRE_EQ(pw_mmap_file(s->mm[m], 0, NPAGES * PG, PW_PROT_READ | PW_PROT_WRITE,
					PW_MAP_SHARED, s->f, 0, &s->base[m]),
			   0);
		REQUIRE_EQ(pw_mm_populate(s->mm[m], s->base[m], s->base[m] + NPAGES * PG, true), 0);
	}
}

static void scene_fini(struct scene *s)
{
	for (int m = 0; m < 2; m++)
		pw_mm_destroy(s->mm[m]);
	CHECK_EQ(pw_file_destroy(s->f), 0);
	CHECK_EQ(pw_arena_free_frames(s->a), s->free0);
	pw_arena_destroy(s->a);
}

/* Every mapped PTE of the file in @mm read-only? Count those that are not (D may
 * stay set on pages written before the log was enabled: their next write faults). */
static int not_protected(struct pw_mm *mm, uint64_t base)
{
	int bad = 0;

	pw_mmap_read_lock(mm);
	for (uint64_t p = 0; p < NPAGES; p++) {
		struct pw_pt_entry e;

		if (pw_pt_descend(&mm->pt, base + p * PG, PW_LEVEL_PTE, &e, NULL) == PW_PT_LEAF &&
		    (e.val & PW_RW))
			bad++;
	}
	pw_mmap_read_unlock(mm);
	return bad;
}

TEST(rounds_record_exactly_what_was_written)
{
	struct scene s;
	struct pw_tlb *tlb;
	struct pw_cpu cpu = PW_CPU_DEFAULT;
	static uint64_t bm[NPAGES / 64];
	static uint8_t written[NPAGES];
	uint64_t st, en;
	int lost = 0, extra = 0, unprotected = 0;

	scene_init(&s);
	REQUIRE_EQ(pw_tlb_create(s.mm[1], 64, &tlb), 0);
	cpu.tlb = tlb;
	REQUIRE_EQ(pw_dirty_log_enable(s.f), 0);
	CHECK_EQ(pw_dirty_log_enable(s.f), -EBUSY);
	for (int r = 0; r < ROUNDS; r++) {
		int64_t n;

		memset(written, 0, sizeof(written));
		for (int k = (int)(rnd() % 40); k > 0; k--) {
			uint64_t p = rnd() % NPAGES;
			int m = (int)(rnd() & 1);

			if (rnd() % 5 == 0)
				CHECK_EQ(pw_mm_populate(s.mm[m], s.base[m] + p * PG, s.base[m] + (p + 1) * PG, true),
					 0);
			else
				CHECK_EQ(pw_access(s.mm[m], m ? &cpu : NULL, s.base[m] + p * PG,
						   PW_FAULT_WRITE | PW_FAULT_USER, NULL),
					 0);
			written[p] = 1;
		}
		memset(bm, 0, sizeof(bm));
		st = NPAGES, en = 0;
		n = pw_dirty_log_harvest(s.f, 0, bm, &st, &en);
		CHECK(n >= 0);
		for (int p = 0; p < NPAGES; p++) {
			bool rec = bm[p / 64] >> (p % 64) & 1;

			lost += written[p] && !rec;
			extra += !written[p] && rec;
		}
		unprotected += not_protected(s.mm[0], s.base[0]) + not_protected(s.mm[1], s.base[1]);
	}
	tap_diag("%d rounds: %d lost, %d recorded but not written, %d PTEs left writable",
		 ROUNDS, lost, extra, unprotected);
	CHECK_EQ(lost, 0);
	CHECK_EQ(extra, 0);
	CHECK_EQ(unprotected, 0);
	CHECK_EQ(pw_dirty_log_harvest(s.f, 1, bm, &st, &en), -EINVAL);
	CHECK_EQ(pw_dirty_log_harvest(NULL, 0, bm, &st, &en), -EINVAL);
	CHECK_EQ(pw_dirty_log_disable(s.f), 0);
	CHECK_EQ(pw_dirty_log_disable(s.f), -ENOENT);
	CHECK_EQ(pw_dirty_log_harvest(s.f, 0, bm, &st, &en), -ENOENT);
	pw_tlb_destroy(tlb);
	scene_fini(&s);
}

/* ---- concurrent writers ------------------------------------------------------ */

struct writer {
	struct scene *s;
	int id;
	uint64_t seed;
};

static uint8_t done_write[NPAGES]; /* atomic: a write to the page completed */
static int stop;
static uint64_t nr_writes; /* atomic */

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	int m = w->id & 1;
	struct pw_tlb *tlb;
	struct pw_cpu cpu = PW_CPU_DEFAULT;

	if (pw_tlb_create(w->s->mm[m], 32, &tlb))
		abort();
	cpu.tlb = tlb;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		uint64_t p;

		w->seed ^= w->seed << 13, w->seed ^= w->seed >> 7, w->seed ^= w->seed << 17;
		p = w->seed % NPAGES;
		if (pw_access(w->s->mm[m], &cpu, w->s->base[m] + p * PG, PW_FAULT_WRITE | PW_FAULT_USER, NULL))
			abort();
		__atomic_store_n(&done_write[p], 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&nr_writes, 1, __ATOMIC_RELAXED);
	}
	pw_tlb_destroy(tlb);
	return NULL;
}

TEST(concurrent_writes_are_never_lost)
{
	struct scene s;
	struct writer w[3];
	pthread_t t[3];
	static uint64_t all[NPAGES / 64], bm[NPAGES / 64];
	uint64_t st, en, recorded = 0;
	int lost = 0;

	scene_init(&s);
	REQUIRE_EQ(pw_dirty_log_enable(s.f), 0);
	for (int i = 0; i < 3; i++) {
		w[i] = (struct writer){ .s = &s, .id = i, .seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1) };
		REQUIRE_EQ(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (int r = 0; r < 200 || __atomic_load_n(&nr_writes, __ATOMIC_RELAXED) < 20000; r++) {
		memset(bm, 0, sizeof(bm));
		st = NPAGES, en = 0;
		CHECK(pw_dirty_log_harvest(s.f, 0, bm, &st, &en) >= 0);
		for (int i = 0; i < NPAGES / 64; i++)
			all[i] |= bm[i];
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	memset(bm, 0, sizeof(bm));
	st = NPAGES, en = 0;
	CHECK(pw_dirty_log_harvest(s.f, 0, bm, &st, &en) >= 0); /* what the last writes left */
	for (int p = 0; p < NPAGES; p++) {
		bool rec = ((all[p / 64] | bm[p / 64]) >> (p % 64)) & 1;

		lost += done_write[p] && !rec;
		recorded += rec;
	}
	tap_diag("rounds beside 3 writers (%" PRIu64 " writes): %" PRIu64
		 " pages recorded, %d written but never recorded",
		 __atomic_load_n(&nr_writes, __ATOMIC_RELAXED), recorded, lost);
	CHECK(recorded > 0);
	CHECK_EQ(lost, 0);
	CHECK_EQ(pw_dirty_log_disable(s.f), 0);
	scene_fini(&s);
}

/* ---- a vCPU's writes ------------------------------------------------------------ */

TEST(guest_writes_are_logged)
{
	struct pw_kvm_caps caps;
	struct pw_paging cfg;
	struct pw_arena *a;
	struct pw_file *f;
	struct pw_mm *mm;
	struct pw_kvm *kvm;
	struct pw_kvm_access acc[8];
	struct pw_kvm_fault flt[16];
	static uint64_t bm[NPAGES / 64];
	uint64_t base = 0x40000000, st, en;
	size_t nf;
	int r = pw_kvm_probe(&caps);

	if (r) {
		SKIP("KVM unavailable: /dev/kvm");
		if (getenv("PW_REQUIRE_KVM") && !strcmp(getenv("PW_REQUIRE_KVM"), "1"))
			tap_cur_failed = true;
		return;
	}
	cfg = (struct pw_paging){ .levels = 4, .maxphyaddr = (uint8_t)caps.maxphyaddr, .nxe = caps.nx };
	REQUIRE_EQ(pw_arena_create(64 << 20, &a), 0);
	REQUIRE_EQ(pw_file_create(a, NPAGES * PG, &f), 0);
	REQUIRE_EQ(pw_mm_create(a, &cfg, &mm), 0);
	r = pw_kvm_create(mm, 1, &kvm);
	if (r) {
		SKIP("KVM unavailable: creating the VM");
		goto out;
	}
	REQUIRE_EQ(pw_mmap_file(mm, base, NPAGES * PG, PW_PROT_READ | PW_PROT_WRITE,
				PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL),
		   0);
	REQUIRE_EQ(pw_mm_populate(mm, base, base + NPAGES * PG, true), 0);
	REQUIRE_EQ(pw_dirty_log_enable(f), 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 8; i++)
			acc[i] = (struct pw_kvm_access){ .op = PW_KVM_WRITE,
							 .addr = base + (uint64_t)(round * 300 + i * 37) * PG,
							 .value = (uint64_t)i };
		nf = 0;
		CHECK_EQ(pw_kvm_run(kvm, 0, 3, acc, 8, flt, 16, &nf), 0);
		CHECK_EQ(nf, 8); /* each first write faults (write-protected) and is logged */
		memset(bm, 0, sizeof(bm));
		st = NPAGES, en = 0;
		CHECK_EQ(pw_dirty_log_harvest(f, 0, bm, &st, &en), 8);
		for (int i = 0; i < 8; i++) {
			uint64_t p = (uint64_t)(round * 300 + i * 37);

			CHECK(bm[p / 64] >> (p % 64) & 1);
		}
	}
	CHECK_EQ(pw_dirty_log_disable(f), 0);
	pw_kvm_destroy(kvm);
out:
	pw_mm_destroy(mm);
	CHECK_EQ(pw_file_destroy(f), 0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(rounds_record_exactly_what_was_written);
	RUN(concurrent_writes_are_never_lost);
	RUN(guest_writes_are_logged);
	return tap_done();
}
