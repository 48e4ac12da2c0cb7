// SPDX-License-Identifier: MIT
/* Description: MMU notifiers: events, start/end pairing, secondary TLB flushes, release. */
#include <pagewalk/mm.h>
#include <pagewalk/notifier.h>

#include "../tests/tap.h"
#include <errno.h>

#define PG 4096ULL

struct log {
	struct pw_mmu_notifier mn;
	int depth, bad, released, flushes;
	int events[8];
	uint64_t start, end;
};

static int l_start(struct pw_mmu_notifier *mn, const struct pw_mmu_notifier_range *r)
{
	struct log *l = (struct log *)mn;

	if (l->depth++ || r->owner || r->start >= r->end || r->mm == NULL)
		l->bad++;
	l->events[r->event]++;
	l->start = r->start;
	l->end = r->end;
	return 0;
}

static void l_end(struct pw_mmu_notifier *mn, const struct pw_mmu_notifier_range *r)
{
	struct log *l = (struct log *)mn;

	if (--l->depth || r->start != l->start || r->end != l->end)
		l->bad++;
}

static void l_flush(struct pw_mmu_notifier *mn, struct pw_mm *mm, uint64_t s, uint64_t e)
{
	struct log *l = (struct log *)mn;

	/* flushes come inside a bracket and within its range */
	if (l->depth != 1 || s < l->start || e > l->end)
		l->bad++;
	l->flushes++;
}

static void l_release(struct pw_mmu_notifier *mn, struct pw_mm *mm)
{
	((struct log *)mn)->released++;
}

static const struct pw_mmu_notifier_ops lops = {
	.invalidate_range_start = l_start,
	.invalidate_range_end = l_end,
	.arch_invalidate_secondary_tlbs = l_flush,
	.release = l_release,
};

TEST(events_for_every_change)
{
	struct pw_arena *a;
	struct pw_mm *mm, *child;
	struct log l = { .mn.ops = &lops };
	uint64_t x;

	REQUIRE_EQ(pw_arena_create(16 << 20, &a), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &mm), 0);
	CHECK_EQ(pw_mmu_notifier_register(NULL, mm), -EINVAL);
	REQUIRE_EQ(pw_mmu_notifier_register(&l.mn, mm), 0);
	REQUIRE_EQ(pw_mmap(mm, 0, 8 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_POPULATE, &x), 0);
	CHECK_EQ(l.events[PW_MMU_NOTIFY_UNMAP], 0);
	CHECK_EQ(pw_mprotect(mm, x, 4 * PG, PW_PROT_READ), 0);
	CHECK_EQ(l.events[PW_MMU_NOTIFY_PROTECTION_VMA], 1);
	CHECK_EQ(l.start, x);
	CHECK_EQ(l.end, x + 4 * PG);
	CHECK_EQ(l.flushes, 1);
	CHECK_EQ(pw_munmap(mm, x + 6 * PG, 2 * PG), 0);
	CHECK_EQ(l.events[PW_MMU_NOTIFY_UNMAP], 1);
	CHECK_EQ(l.start, x + 6 * PG);
	CHECK_EQ(l.flushes, 2);
	/* fork write-protects the parent; the next write copies (CLEAR) */
	REQUIRE_EQ(pw_mm_fork(mm, &child), 0);
	CHECK(l.events[PW_MMU_NOTIFY_PROTECTION_PAGE] >= 1);
	CHECK_EQ(pw_access(mm, NULL, x + 5 * PG, PW_FAULT_WRITE, NULL), 0);
	CHECK_EQ(l.events[PW_MMU_NOTIFY_CLEAR], 1);
	CHECK_EQ(l.start, x + 5 * PG);
	CHECK_EQ(l.end, x + 6 * PG);
	/* the child has no notifier of its own */
	CHECK_EQ(pw_mmu_notifier_unregister(&l.mn, child), -ENOENT);
	pw_mm_destroy(child);
	CHECK_EQ(l.bad, 0);
	CHECK_EQ(l.depth, 0);
	pw_mm_destroy(mm);
	CHECK_EQ(l.released, 1);
	pw_arena_destroy(a);
}

TEST(unregister_stops_calls)
{
	struct pw_arena *a;
	struct pw_mm *mm;
	struct log l = { .mn.ops = &lops };
	uint64_t x;

	REQUIRE_EQ(pw_arena_create(16 << 20, &a), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &mm), 0);
	REQUIRE_EQ(pw_mmu_notifier_register(&l.mn, mm), 0);
	REQUIRE_EQ(pw_mmap(mm, 0, 8 * PG, PW_PROT_READ, PW_MAP_PRIVATE, &x), 0);
	CHECK_EQ(pw_mmu_notifier_unregister(&l.mn, mm), 0);
	CHECK_EQ(pw_munmap(mm, x, 8 * PG), 0);
	CHECK_EQ(l.events[PW_MMU_NOTIFY_UNMAP], 0);
	pw_mm_destroy(mm);
	CHECK_EQ(l.released, 0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(events_for_every_change);
	RUN(unregister_stops_calls);
	return tap_done();
}
