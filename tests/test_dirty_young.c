// SPDX-License-Identifier: MIT
/*
 * test_dirty_young.c - the accessed-bit clean-record pass
 * (pw_clean_record_young_shared_mapping_range()) against what was written.
 *
 * A shared file of 8 PTE tables' worth of pages is mapped in two address
 * spaces: in A at a 2 MiB-aligned address (every PMD span whole: tables can
 * be skipped), in B at an address that is not (every span partial: always
 * read). Each round writes a few pages of a few tables (through pw_access()
 * in either mm, and through write faults without an access: a page
 * write-protected, then populated for write),
 * then runs the pass: the pages it records must be exactly the pages
 * written since the previous round, and the tables of A nobody touched must
 * have been skipped (and B's whole spans, the 7 of its 9 that are whole). A KVM vCPU's writes are checked the same way where
 * /dev/kvm works.
 */
#include <string.h>

#include <pagewalk/dirty.h>
#include <pagewalk/file.h>
#include <pagewalk/kvm.h>
#include <pagewalk/mm.h>

#include "fixture.h"

#define PG 4096ULL
#define NTAB 8
#define NPAGES (NTAB * 512)
#define ROUNDS 40

static uint64_t rng = 0x853c49e6748fea9bULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

TEST(records_exactly_what_was_written_and_skips_untouched_tables)
{
	struct pw_arena *a;
	struct pw_file *f;
	struct pw_mm *mm[2];
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	uint64_t base[2], free0;
	static uint64_t bm[NPAGES / 64];
	static uint8_t written[NPAGES];
	int lost = 0, extra = 0;
	uint64_t skipped_total = 0, skipped_expected_min = 0;

	REQUIRE_EQ(pw_arena_create(128 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_file_create(a, NPAGES * PG, &f), 0);
	for (int m = 0; m < 2; m++)
		REQUIRE_EQ(pw_mm_create(a, &cfg, &mm[m]), 0);
	REQUIRE_EQ(pw_mmap_file(mm[0], 0x40000000, NPAGES * PG, PW_PROT_READ | PW_PROT_WRITE,
				PW_MAP_SHARED | PW_MAP_FIXED, f, 0, &base[0]),
		   0);
	REQUIRE_EQ(pw_mmap_file(mm[1], 0x40000000 + 5 * PG, NPAGES * PG, PW_PROT_READ | PW_PROT_WRITE,
				PW_MAP_SHARED | PW_MAP_FIXED, f, 0, &base[1]),
		   0);
	/* every page mapped in both, and written once: the first pass records all */
	for (int m = 0; m < 2; m++)
		REQUIRE_EQ(pw_mm_populate(mm[m], base[m], base[m] + NPAGES * PG, true), 0);
	for (int r = 0; r <= ROUNDS; r++) {
		uint64_t s = NPAGES, e = 0, skipped = 0, n;
		bool touched[NTAB] = { false };

		memset(bm, 0, sizeof(bm));
		n = pw_clean_record_young_shared_mapping_range(f, 0, NPAGES, 0, bm, &s, &e, &skipped);
		for (int p = 0; p < NPAGES; p++) {
			bool rec = bm[p / 64] >> (p % 64) & 1;

			if (r == 0)
				written[p] = 1;
			lost += written[p] && !rec;
			extra += !written[p] && rec;
		}
		skipped_total += skipped;
		if (getenv("PW_DEBUG_YOUNG"))
			tap_diag("round %d: skipped %" PRIu64 ", expected >= %" PRIu64, r, skipped, skipped_expected_min);
		if (r > 0 && n == 0)
			CHECK_EQ(s, NPAGES);
		memset(written, 0, sizeof(written));
		if (r == ROUNDS)
			break;
		/* this round's writes: 1-3 tables, a few pages each, in A or B, by access or by fault */
		for (int k = 1 + (int)(rnd() % 3); k > 0; k--) {
			int t = (int)(rnd() % NTAB);

			touched[t] = true;
			for (int j = 1 + (int)(rnd() % 6); j > 0; j--) {
				uint64_t p = (uint64_t)t * 512 + rnd() % 512;
				int m = (int)(rnd() & 1);

				if (rnd() % 4 == 0) {
					/* a write fault that no access retries: write-protect the page first */
					pw_wp_shared_mapping_range(f, p, 1);
					CHECK_EQ(pw_mm_populate(mm[m], base[m] + p * PG, base[m] + (p + 1) * PG,
								true),
						 0);
				} else {
					CHECK_EQ(pw_access(mm[m], NULL, base[m] + p * PG,
							   PW_FAULT_WRITE | PW_FAULT_USER, NULL),
						 0);
				}
				written[p] = 1;
			}
		}
		/* in A, the untouched tables will be skipped by the next pass */
		for (int t = 0; t < NTAB; t++)
			skipped_expected_min += !touched[t];
	}
	tap_diag("%d rounds: %d lost, %d recorded but not written, %" PRIu64
		 " PTE tables skipped (at least %" PRIu64 " expected)",
		 ROUNDS, lost, extra, skipped_total, skipped_expected_min);
	CHECK_EQ(lost, 0);
	CHECK_EQ(extra, 0);
	CHECK(skipped_total >= skipped_expected_min);
	CHECK(skipped_total > 0);
	for (int m = 0; m < 2; m++)
		pw_mm_destroy(mm[m]);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}


/* The same through a real vCPU: its MMU sets A (and D) on our tables. */
TEST(guest_writes_through_kvm)
{
	struct pw_kvm_caps caps;
	struct pw_paging cfg;
	struct pw_arena *a;
	struct pw_file *f;
	struct pw_mm *mm;
	struct pw_kvm *kvm;
	struct pw_kvm_access acc[16];
	struct pw_kvm_fault flt[32];
	static uint64_t bm[NPAGES / 64];
	uint64_t base = 0x40000000, s, e, skipped, n;
	size_t nf;
	int r = pw_kvm_probe(&caps);

	if (r) {
		SKIP("KVM unavailable: /dev/kvm");
		if (getenv("PW_REQUIRE_KVM") && !strcmp(getenv("PW_REQUIRE_KVM"), "1"))
			tap_cur_failed = true;
		return;
	}
	cfg = (struct pw_paging){ .levels = 4, .maxphyaddr = (uint8_t)caps.maxphyaddr, .nxe = caps.nx };
	REQUIRE_EQ(pw_arena_create(128 << 20, &a), 0);
	REQUIRE_EQ(pw_file_create(a, NPAGES * PG, &f), 0);
	REQUIRE_EQ(pw_mm_create(a, &cfg, &mm), 0);
	r = pw_kvm_create(mm, 1, &kvm);
	if (r) {
		SKIP("KVM unavailable: creating the VM");
		goto out_mm;
	}
	REQUIRE_EQ(pw_mmap_file(mm, base, NPAGES * PG, PW_PROT_READ | PW_PROT_WRITE,
				PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL),
		   0);
	REQUIRE_EQ(pw_mm_populate(mm, base, base + NPAGES * PG, true), 0);
	s = NPAGES, e = 0;
	pw_clean_record_young_shared_mapping_range(f, 0, NPAGES, 0, bm, &s, &e, NULL);
	for (int round = 0; round < 4; round++) {
		int t = 1 + 2 * round; /* the guest writes 16 pages of table t only */

		for (int i = 0; i < 16; i++)
			acc[i] = (struct pw_kvm_access){ .op = PW_KVM_WRITE,
							 .addr = base + ((uint64_t)t * 512 + 31 * (uint64_t)i) * PG,
							 .value = (uint64_t)i };
		nf = 0;
		CHECK_EQ(pw_kvm_run(kvm, 0, 3, acc, 16, flt, 32, &nf), 0);
		CHECK_EQ(nf, 0); /* writable and mapped: the MMU sets A and D itself */
		memset(bm, 0, sizeof(bm));
		s = NPAGES, e = 0, skipped = 0;
		n = pw_clean_record_young_shared_mapping_range(f, 0, NPAGES, 0, bm, &s, &e, &skipped);
		CHECK_EQ(n, 16);
		for (int i = 0; i < 16; i++) {
			uint64_t p = (uint64_t)t * 512 + 31 * (uint64_t)i;

			CHECK(bm[p / 64] >> (p % 64) & 1);
		}
		CHECK_EQ(skipped, NTAB - 1); /* every other table was not walked by the guest */
	}
	pw_kvm_destroy(kvm);
out_mm:
	pw_mm_destroy(mm);
	CHECK_EQ(pw_file_destroy(f), 0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(records_exactly_what_was_written_and_skips_untouched_tables);
	RUN(guest_writes_through_kvm);
	return tap_done();
}
