// SPDX-License-Identifier: MIT
/* Description: end-to-end smoke test of the core: map, touch, walk, dump, unmap. */
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/ptdump.h>

#include "../tests/tap.h"
#include <errno.h>

static int count_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	if (pw_pte_present(pw_ptep_get(pte)))
		(*(int *)walk->private)++;
	return 0;
}

TEST(map_touch_walk_unmap)
{
	struct pw_arena *a;
	struct pw_mm *mm;
	uint64_t addr, free0;
	struct pw_access_result r;
	struct pw_translation t;
	int n = 0;

	REQUIRE_EQ(pw_arena_create(64 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_mm_create(a, NULL, &mm), 0);
	REQUIRE_EQ(pw_mmap(mm, 0, 16 * 4096, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &addr), 0);
	for (int i = 0; i < 16; i += 2)
		CHECK_EQ(pw_access(mm, NULL, addr + i * 4096, PW_FAULT_WRITE | PW_FAULT_USER, &r), 0);
	pw_mmap_read_lock(mm);
	CHECK_EQ(pw_translate(mm, addr, &t), 0);
	CHECK(t.entry & PW_D);
	CHECK_EQ(pw_translate(mm, addr + 4096, &t), -ENOENT);
	struct pw_walk_ops ops = { .pte_entry = count_pte };
	CHECK_EQ(pw_walk_page_range(mm, addr, addr + 16 * 4096, &ops, &n), 0);
	CHECK_EQ(n, 8);
	struct pw_walk_state st;
	int m = 0;
	pw_for_each_entry(&st, mm, 0, 0, 0)
		m++;
	CHECK_EQ(m, 8);
	pw_mmap_read_unlock(mm);
	CHECK_EQ(pw_ptdump(mm, stdout, NULL, NULL), 0);
	CHECK_EQ(pw_munmap(mm, addr, 16 * 4096), 0);
	struct pw_mm_stats s;
	pw_mm_get_stats(mm, &s);
	CHECK_EQ(s.pgtables, 1);
	CHECK_EQ(s.rss, 0);
	pw_mm_destroy(mm);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(map_touch_walk_unmap);
	return tap_done();
}
