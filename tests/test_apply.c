// SPDX-License-Identifier: MIT
/* Description: apply_to_page_range and apply_to_existing_page_range, incl. kernel bugs 24 and 25. */
#include <pagewalk/apply.h>
#include <pagewalk/mm.h>

#include "../tests/tap.h"
#include <errno.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define PG 4096ULL

struct rec {
	struct pw_mm *mm;
	int n, bad, stop_at;
	uint64_t addr[2048];
};

/* Record the call and check that @pte is the entry that maps @addr. */
static int record(pw_pte_t *pte, uint64_t addr, void *data)
{
	struct rec *r = data;
	struct pw_translation t;
	uint64_t v = pw_ptep_get(pte).val;

	if ((((uintptr_t)pte & (PG - 1)) / 8) != pw_index(PW_LEVEL_PTE, addr))
		r->bad++;
	if (v && (pw_translate(r->mm, addr, &t) || t.entry != v))
		r->bad++;
	if (r->n < 2048)
		r->addr[r->n] = addr;
	r->n++;
	return r->stop_at && r->n == r->stop_at ? 42 : 0;
}

TEST(existing_over_sparse_table)
{
	static const int touched[] = { 0, 3, 4, 100, 511, 512, 600, 1023 };
	struct pw_arena *a;
	struct pw_mm *mm;
	struct rec r = { 0 };
	uint64_t x;
	struct pw_mm_stats s0, s1;

	REQUIRE_EQ(pw_arena_create(32 << 20, &a), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &mm), 0);
	r.mm = mm;
	/* 2 MiB aligned, 4 MiB long: two PTE tables (and a hole table after) */
	REQUIRE_EQ(pw_mmap(mm, 1ULL << 30, 1024 * PG, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED, &x), 0);
	for (size_t i = 0; i < ARRAY_SIZE(touched); i++)
		CHECK_EQ(pw_access(mm, NULL, x + touched[i] * PG, PW_FAULT_WRITE, NULL), 0);
	pw_mm_get_stats(mm, &s0);
	pw_mmap_read_lock(mm);
	/* through a region with no tables at all after the mapping */
	CHECK_EQ(pw_apply_to_existing_page_range(mm, x, 4096 * PG, record, &r), 0);
	pw_mmap_read_unlock(mm);
	CHECK_EQ(r.bad, 0);
	REQUIRE_EQ(r.n, (int)ARRAY_SIZE(touched));
	for (size_t i = 0; i < ARRAY_SIZE(touched); i++)
		CHECK_EQ(r.addr[i], x + touched[i] * PG);
	/* starting in the middle of a run of none entries */
	r.n = 0;
	pw_mmap_read_lock(mm);
	CHECK_EQ(pw_apply_to_existing_page_range(mm, x + 5 * PG, 600 * PG, record, &r), 0);
	pw_mmap_read_unlock(mm);
	CHECK_EQ(r.n, 4);
	CHECK_EQ(r.addr[0], x + 100 * PG);
	CHECK_EQ(r.bad, 0);
	pw_mm_get_stats(mm, &s1);
	CHECK_EQ(s1.pgtables, s0.pgtables); /* nothing allocated */
	/* a non-zero return stops and is returned */
	r.n = 0;
	r.stop_at = 3;
	pw_mmap_read_lock(mm);
	CHECK_EQ(pw_apply_to_existing_page_range(mm, x, 1024 * PG, record, &r), 42);
	pw_mmap_read_unlock(mm);
	CHECK_EQ(r.n, 3);
	pw_mm_destroy(mm);
	pw_arena_destroy(a);
}

static int set_pte(pw_pte_t *pte, uint64_t addr, void *data)
{
	(*(int *)data)++;
	return pw_ptep_get(pte).val ? 1 : 0; /* every PTE is none here */
}

TEST(create_allocates_and_calls_every_pte)
{
	struct pw_arena *a;
	struct pw_mm *mm;
	int n = 0;
	struct pw_mm_stats s;
	uint64_t free0;

	REQUIRE_EQ(pw_arena_create(16 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_mm_create(a, NULL, &mm), 0);
	pw_mmap_write_lock(mm);
	/* no VMA needed; crosses a PMD boundary: two PTE tables */
	CHECK_EQ(pw_apply_to_page_range(mm, (1ULL << 30) - 8 * PG, 16 * PG, set_pte, &n), 0);
	CHECK_EQ(n, 16);
	pw_mmap_write_unlock(mm);
	pw_mm_get_stats(mm, &s);
	CHECK_EQ(s.pgtables, 1 + 1 + 2 + 2); /* root, PDPT, 2 PD (a 1 GiB boundary), 2 PT */
	pw_mmap_write_lock(mm);
	CHECK_EQ(pw_apply_to_page_range(mm, 1ULL << 40, 4 * PG, NULL, NULL), 0); /* tables only */
	n = 0;
	CHECK_EQ(pw_apply_to_existing_page_range(mm, 1ULL << 40, 4 * PG, set_pte, &n), 0);
	CHECK_EQ(n, 0);
	pw_mmap_write_unlock(mm);
	pw_mm_get_stats(mm, &s);
	CHECK_EQ(s.pgtables, 6 + 3);
	pw_mm_destroy(mm);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(upper_leaves_and_bad_ranges_are_einval)
{
	struct pw_arena *a;
	struct pw_mm *mm;
	struct rec r = { 0 };
	uint64_t x, y;

	REQUIRE_EQ(pw_arena_create(32 << 20, &a), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &mm), 0);
	r.mm = mm;
	REQUIRE_EQ(pw_mmap(mm, 0, 8 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_POPULATE, &y), 0);
	REQUIRE_EQ(pw_mmap(mm, 0, 4 << 20, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_HUGE_2M | PW_MAP_POPULATE, &x), 0);
	pw_mmap_read_lock(mm);
	/* a 2 MiB leaf in the range: -EINVAL before anything is called */
	CHECK_EQ(pw_apply_to_existing_page_range(mm, y, x + PG - y, record, &r), -EINVAL);
	CHECK_EQ(pw_apply_to_page_range(mm, x, PG, record, &r), -EINVAL);
	CHECK_EQ(r.n, 0);
	CHECK_EQ(pw_apply_to_page_range(mm, y, 0, record, &r), -EINVAL);
	CHECK_EQ(pw_apply_to_page_range(mm, y + 1, PG, record, &r), -EINVAL);
	CHECK_EQ(pw_apply_to_page_range(mm, ~0ULL - PG + 1, 2 * PG, record, &r), -EINVAL);
	CHECK_EQ(pw_apply_to_page_range(mm, (1ULL << 47) - PG, 2 * PG, record, &r), -EINVAL);
	CHECK_EQ(pw_apply_to_existing_page_range(mm, y, PG, NULL, NULL), -EINVAL);
	CHECK_EQ(pw_apply_to_page_range(NULL, y, PG, record, &r), -EINVAL);
	CHECK_EQ(r.n, 0);
	CHECK_EQ(pw_apply_to_existing_page_range(mm, y, 8 * PG, record, &r), 0);
	CHECK_EQ(r.n, 8);
	/* a malformed upper entry (a reserved address bit): -EINVAL, left as it is */
	{
		uint64_t pfn = pw_mm_root(mm), *e;
		int l;

		for (l = pw_root_level(pw_mm_paging(mm)->levels); l > PW_LEVEL_PMD; l--)
			pfn = (pw_entry_read((uint64_t *)pw_frame_ptr(a, pfn) + pw_index(l, y)) &
			       0x000ffffffffff000ULL) >> 12;
		e = (uint64_t *)pw_frame_ptr(a, pfn) + pw_index(PW_LEVEL_PMD, y);
		uint64_t good = pw_entry_read(e), bad = good | (1ULL << 50); /* above MAXPHYADDR 46 */

		pw_entry_write(e, bad);
		r.n = 0;
		CHECK_EQ(pw_apply_to_existing_page_range(mm, y, 8 * PG, record, &r), -EINVAL);
		CHECK_EQ(pw_apply_to_page_range(mm, y, 8 * PG, record, &r), -EINVAL);
		CHECK_EQ(r.n, 0);
		CHECK_EQ(pw_entry_read(e), bad);
		pw_entry_write(e, good);
	}
	CHECK_EQ(r.bad, 0);
	pw_mmap_read_unlock(mm);
	pw_mm_destroy(mm);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(existing_over_sparse_table);
	RUN(create_allocates_and_calls_every_pte);
	RUN(upper_leaves_and_bad_ranges_are_einval);
	return tap_done();
}
