// SPDX-License-Identifier: MIT
/*
 * Description: device access: pw_get_user_pages / pw_put_user_pages (pins,
 * the fork rule for pinned pages), the reverse map (anon_vma through fork
 * chains, i_mmap), device-exclusive entries (made across a parent and its
 * child, restored by CPU reads and writes with their dirty state, through
 * munmap, mprotect, fork, the dirty helpers, the iterator and ptdump), the
 * GUP -> replace race per page, and bad input.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <pagewalk/apply.h>
#include <pagewalk/devx.h>
#include <pagewalk/dirty.h>
#include <pagewalk/file.h>
#include <pagewalk/gup.h>
#include <pagewalk/hmm.h>
#include <pagewalk/iter.h>
#include <pagewalk/notifier.h>
#include <pagewalk/ptdump.h>
#include <pagewalk/rmap.h>
#include <pagewalk/smaps.h>
#include <pagewalk/tlb.h>

#include "fixture.h"
#include "mm/devx.h"

#define PG 4096ULL
#define RW (PW_PROT_READ | PW_PROT_WRITE)

/* The raw entry at @addr, present or not (0 if none). */
static uint64_t raw(struct pw_mm *mm, uint64_t addr)
{
	struct pw_translation t = { 0 };

	pw_mmap_read_lock(mm);
	pw_translate(mm, addr, &t);
	pw_mmap_read_unlock(mm);
	return t.level == 0 ? t.entry : 0;
}

static uint64_t pfn_of(struct pw_mm *mm, uint64_t addr)
{
	return (entry_of(mm, addr) & 0x000ffffffffff000ULL) >> 12;
}

static struct pw_frame *meta(struct pw_mm *mm, uint64_t pfn)
{
	return pw_frame_meta(pw_mm_arena(mm), pfn);
}

/* A simulated device: counts the EXCLUSIVE events it hears, by owner. */
struct dev {
	struct pw_mmu_notifier mn;
	void *owner;	     /* the device, as it names itself to pw_make_device_exclusive_range() */
	int own, cpu, other; /* EXCLUSIVE with our owner, EXCLUSIVE with NULL, anything else */
	uint64_t last_start;
};

static int dev_start(struct pw_mmu_notifier *mn, const struct pw_mmu_notifier_range *r)
{
	struct dev *d = (struct dev *)mn;

	if (r->event == PW_MMU_NOTIFY_EXCLUSIVE && r->owner && r->owner == d->owner)
		d->own++;
	else if (r->event == PW_MMU_NOTIFY_EXCLUSIVE && !r->owner)
		d->cpu++, d->last_start = r->start;
	else
		d->other++;
	return 0;
}

static const struct pw_mmu_notifier_ops dev_ops = { .invalidate_range_start = dev_start };

static int count_visit(const struct pw_rmap_visit *v, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* ---- GUP ------------------------------------------------------------------ */

TEST(gup_faults_in_and_holds)
{
	struct env e;
	uint64_t a, fr[8], fr2[8];

	env_init(&e, 4, 16 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 8 * PG, RW, PW_MAP_PRIVATE, &a), 0);
	CHECK_EQ(pw_get_user_pages(e.mm, a, 8, PW_FOLL_WRITE | PW_FOLL_PIN, fr), 8);
	for (int i = 0; i < 8; i++) {
		CHECK_EQ(fr[i], pfn_of(e.mm, a + i * PG));
		CHECK(entry_of(e.mm, a + i * PG) & PW_RW); /* a write fault */
		CHECK_EQ(meta(e.mm, fr[i])->refcount, 2);
		CHECK_EQ(meta(e.mm, fr[i])->pincount, 1);
	}
	CHECK_EQ(pw_get_user_pages(e.mm, a, 8, 0, fr2), 8);
	for (int i = 0; i < 8; i++) {
		CHECK_EQ(fr2[i], fr[i]);
		CHECK_EQ(meta(e.mm, fr[i])->refcount, 3);
		CHECK_EQ(meta(e.mm, fr[i])->pincount, 1);
	}
	pw_put_user_pages(e.mm, fr2, 8, 0);
	pw_put_user_pages(e.mm, fr, 8, PW_FOLL_PIN);
	for (int i = 0; i < 8; i++) {
		CHECK_EQ(meta(e.mm, fr[i])->refcount, 1);
		CHECK_EQ(meta(e.mm, fr[i])->pincount, 0);
	}
	/* A read GUP of a missing page faults it in read-only. */
	CHECK_EQ(pw_munmap(e.mm, a, PG), 0);
	CHECK_EQ(pw_mmap(e.mm, a, PG, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	CHECK_EQ(pw_get_user_pages(e.mm, a, 1, 0, fr), 1);
	CHECK(!(entry_of(e.mm, a) & PW_RW));
	pw_put_user_pages(e.mm, fr, 1, 0);
	/* Held past munmap: the frame goes back at the put. */
	CHECK_EQ(pw_get_user_pages(e.mm, a, 1, 0, fr), 1);
	CHECK_EQ(pw_munmap(e.mm, a, 8 * PG), 0);
	CHECK_EQ(meta(e.mm, fr[0])->refcount, 1);
	pw_put_user_pages(e.mm, fr, 1, 0);
	env_fini(&e);
}

TEST(gup_write_breaks_cow_and_splits_huge)
{
	struct env e;
	struct pw_mm *c;
	uint64_t a, h, fr[2];

	env_init(&e, 4, 32 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 2 * PG, RW, PW_MAP_PRIVATE, &a), 0);
	CHECK_EQ(poke(e.mm, a, 5), 0);
	REQUIRE_EQ(pw_mm_fork(e.mm, &c), 0);
	CHECK_EQ(pfn_of(e.mm, a), pfn_of(c, a));
	CHECK_EQ(pw_get_user_pages(e.mm, a, 1, PW_FOLL_WRITE, fr), 1);
	CHECK(fr[0] != pfn_of(c, a)); /* the parent got its own copy */
	CHECK_EQ(fr[0], pfn_of(e.mm, a));
	CHECK_EQ(((uint8_t *)pw_frame_ptr(e.a, fr[0]))[0], 5);
	pw_put_user_pages(e.mm, fr, 1, 0);
	pw_mm_destroy(c);
	/* A 2 MiB leaf is split first: counts are per 4 KiB frame. */
	REQUIRE_EQ(pw_mmap(e.mm, 0, PW_PMD_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_HUGE_2M | PW_MAP_POPULATE, &h), 0);
	CHECK(entry_of(e.mm, h) & PW_PS);
	CHECK_EQ(pw_get_user_pages(e.mm, h + 5 * PG, 2, PW_FOLL_PIN, fr), 2);
	CHECK(!(entry_of(e.mm, h) & PW_PS));
	CHECK_EQ(fr[1], fr[0] + 1);
	CHECK_EQ(meta(e.mm, fr[0])->pincount, 1);
	pw_put_user_pages(e.mm, fr, 2, PW_FOLL_PIN);
	env_fini(&e);
}

TEST(pinned_anon_page_is_copied_at_fork)
{
	struct env e;
	struct pw_mm *c;
	uint64_t a, fr[1];

	env_init(&e, 4, 16 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 2 * PG, RW, PW_MAP_PRIVATE, &a), 0);
	CHECK_EQ(poke(e.mm, a, 11), 0);
	CHECK_EQ(poke(e.mm, a + PG, 12), 0);
	CHECK_EQ(pw_get_user_pages(e.mm, a, 1, PW_FOLL_PIN | PW_FOLL_WRITE, fr), 1);
	REQUIRE_EQ(pw_mm_fork(e.mm, &c), 0);
	/* pinned: the child has a copy, the parent keeps its writable entry */
	CHECK(pfn_of(c, a) != fr[0]);
	CHECK_EQ(pfn_of(e.mm, a), fr[0]);
	CHECK(entry_of(e.mm, a) & PW_RW);
	CHECK_EQ(peek(c, a), 11);
	CHECK_EQ(meta(e.mm, fr[0])->mapcount, 1);
	/* a "DMA" into the pinned page is seen by the parent, not the child */
	((uint8_t *)pw_frame_ptr(e.a, fr[0]))[0] = 99;
	CHECK_EQ(peek(e.mm, a), 99);
	CHECK_EQ(peek(c, a), 11);
	/* not pinned: shared copy-on-write */
	CHECK_EQ(pfn_of(c, a + PG), pfn_of(e.mm, a + PG));
	CHECK(!(entry_of(e.mm, a + PG) & PW_RW));
	/* the pinned page stays the parent's on a later write (no COW) */
	CHECK_EQ(poke(e.mm, a, 7), 0);
	CHECK_EQ(pfn_of(e.mm, a), fr[0]);
	pw_put_user_pages(e.mm, fr, 1, PW_FOLL_PIN);
	pw_mm_destroy(c);
	env_fini(&e);
}

/* ---- the reverse map ------------------------------------------------------ */

TEST(rmap_reaches_fork_chains_and_files)
{
	struct env e;
	struct pw_mm *m[8];
	struct pw_file *f;
	uint64_t a, s, fa, pfn;
	int n = 0;

	env_init(&e, 4, 32 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 * PG, RW, PW_MAP_SHARED, &s), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 * PG, RW, PW_MAP_PRIVATE, &a), 0);
	CHECK_EQ(poke(e.mm, s + PG, 1), 0);
	CHECK_EQ(poke(e.mm, a + PG, 1), 0);
	/* a chain: each generation forks the last, 8 address spaces in all */
	m[0] = e.mm;
	for (int i = 1; i < 8; i++)
		REQUIRE_EQ(pw_mm_fork(m[i - 1], &m[i]), 0);
	pfn = pfn_of(e.mm, s + PG);
	CHECK_EQ(pw_rmap_walk(e.a, pfn, count_visit, &n), 0);
	CHECK_EQ(n, 8);
	/* private: shared until written; a written copy has its own mapper only */
	n = 0;
	CHECK_EQ(pw_rmap_walk(e.a, pfn_of(e.mm, a + PG), count_visit, &n), 0);
	CHECK_EQ(n, 8);
	CHECK_EQ(poke(m[3], a + PG, 2), 0);
	n = 0;
	CHECK_EQ(pw_rmap_walk(e.a, pfn_of(m[3], a + PG), count_visit, &n), 0);
	CHECK_EQ(n, 1);
	n = 0;
	CHECK_EQ(pw_rmap_walk(e.a, pfn_of(e.mm, a + PG), count_visit, &n), 0);
	CHECK_EQ(n, 7);
	/* destroy the middle of the chain: the rest still reach the page */
	pw_mm_destroy(m[2]);
	pw_mm_destroy(m[0]);
	n = 0;
	CHECK_EQ(pw_rmap_walk(e.a, pfn, count_visit, &n), 0);
	CHECK_EQ(n, 6);
	/* a split VMA: both halves are still found */
	CHECK_EQ(pw_mprotect(m[1], s, PG, PW_PROT_READ), 0);
	n = 0;
	CHECK_EQ(pw_rmap_walk(e.a, pfn, count_visit, &n), 0);
	CHECK_EQ(n, 6);
	for (int i = 1; i < 8; i++)
		if (i != 2)
			pw_mm_destroy(m[i]);
	/* file pages, through i_mmap */
	REQUIRE_EQ(pw_mm_create(e.a, NULL, &e.mm), 0);
	REQUIRE_EQ(pw_mm_create(e.a, NULL, &m[1]), 0);
	REQUIRE_EQ(pw_file_create(e.a, 4 * PG, &f), 0);
	REQUIRE_EQ(pw_mmap_file(e.mm, 0, 4 * PG, RW, PW_MAP_SHARED, f, 0, &fa), 0);
	REQUIRE_EQ(pw_mmap_file(m[1], 0, 2 * PG, PW_PROT_READ, PW_MAP_SHARED, f, 2, NULL), 0);
	CHECK_EQ(poke(e.mm, fa + 2 * PG, 3), 0);
	CHECK_EQ(pw_mm_populate(m[1], 0x200000, 0x200000 + 2 * PG, false), 0);
	n = 0;
	CHECK_EQ(pw_rmap_walk(e.a, pw_file_page(f, 2), count_visit, &n), 0);
	CHECK_EQ(n, 2);
	/* bad frames */
	CHECK_EQ(pw_rmap_walk(e.a, 0, count_visit, &n), -EINVAL);
	CHECK_EQ(pw_rmap_walk(e.a, pw_arena_nr_frames(e.a), count_visit, &n), -EINVAL);
	CHECK_EQ(pw_rmap_walk(e.a, pw_mm_root(e.mm), count_visit, &n), -EINVAL);
	CHECK_EQ(pw_rmap_walk(e.a, pw_file_page(f, 2), NULL, &n), -EINVAL);
	pw_mm_destroy(m[1]);
	pw_mm_destroy(e.mm);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
}

/* ---- device-exclusive: the design discussion's scenario --------------------- */

static void scenario(bool parent_first, int levels)
{
	struct env e;
	struct pw_mm *c;
	static int device;
	struct dev dp = { .mn.ops = &dev_ops, .owner = &device }, dc = { .mn.ops = &dev_ops, .owner = &device };
	uint64_t s, fr[8];

	env_init(&e, levels, 16 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 8 * PG, RW, PW_MAP_SHARED, &s), 0);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(poke(e.mm, s + i * PG, (uint8_t)(10 + i)), 0);
	REQUIRE_EQ(pw_mm_fork(e.mm, &c), 0);
	REQUIRE_EQ(pw_mmu_notifier_register(&dp.mn, e.mm), 0);
	REQUIRE_EQ(pw_mmu_notifier_register(&dc.mn, c), 0);
	/* clean page 7 in the child's view of it: its dirty bit must stay clear */
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, s, s + 8 * PG, &device, fr), 8);
	for (int i = 0; i < 8; i++) {
		uint64_t vp = raw(e.mm, s + i * PG), vc = raw(c, s + i * PG);

		CHECK(fr[i] != 0);
		CHECK(pw_is_device_exclusive(vp));
		CHECK(pw_is_device_exclusive(vc)); /* the rmap reached the child too */
		CHECK_EQ(pw_swp_offset(vp), fr[i]);
		CHECK_EQ(pw_swp_offset(vc), fr[i]);
		CHECK(vp & PW_SWP_WRITE);
		CHECK(vp & PW_SWP_DIRTY);
		CHECK_EQ(meta(e.mm, fr[i])->mapcount, 2);
		CHECK_EQ(meta(e.mm, fr[i])->refcount, 3); /* two mappings, our GUP reference */
	}
	CHECK_EQ(dp.own, 8); /* one bracket per mapping, with the owner */
	CHECK_EQ(dc.own, 8);
	pw_put_user_pages(e.mm, fr, 8, 0);
	/* the device cannot be in the way of a CPU: a write in the child restores its entry */
	CHECK_EQ(poke(c, s, 42), 0);
	CHECK_EQ(dc.cpu, 1);
	CHECK_EQ(dc.last_start, s);
	CHECK_EQ(dp.cpu, 0);
	CHECK_EQ(pfn_of(c, s), fr[0]); /* same frame: shared memory */
	CHECK(entry_of(c, s) & PW_RW);
	CHECK(entry_of(c, s) & PW_D);
	CHECK(pw_is_device_exclusive(raw(e.mm, s))); /* the parent's stays the device's */
	/* a read restores with the dirty state kept and no write permission lost */
	CHECK_EQ(peek(e.mm, s + PG), 11);
	CHECK_EQ(dp.cpu, 1);
	CHECK(entry_of(e.mm, s + PG) & PW_D);
	CHECK(entry_of(e.mm, s + PG) & PW_RW);
	CHECK_EQ(peek(e.mm, s), 42); /* the child's write, same page */
	/* munmap of an exclusive entry drops it as a mapping */
	CHECK_EQ(pw_munmap(e.mm, s + 2 * PG, PG), 0);
	CHECK_EQ(meta(e.mm, fr[2])->mapcount, 1);
	CHECK_EQ(meta(e.mm, fr[2])->refcount, 1);
	CHECK_EQ(peek(c, s + 2 * PG), 12);
	/* mprotect keeps it exclusive without write permission; a read gives it back read-only */
	CHECK_EQ(pw_mprotect(c, s + 3 * PG, PG, PW_PROT_READ), 0);
	CHECK(pw_is_device_exclusive(raw(c, s + 3 * PG)));
	CHECK(!(raw(c, s + 3 * PG) & PW_SWP_WRITE));
	CHECK(raw(c, s + 3 * PG) & PW_SWP_DIRTY);
	CHECK_EQ(peek(c, s + 3 * PG), 13);
	CHECK(!(entry_of(c, s + 3 * PG) & PW_RW));
	CHECK(entry_of(c, s + 3 * PG) & PW_D);
	CHECK_EQ(poke(c, s + 3 * PG, 1), -EFAULT);
	pw_mmu_notifier_unregister(&dp.mn, e.mm);
	pw_mmu_notifier_unregister(&dc.mn, c);
	if (parent_first) {
		pw_mm_destroy(e.mm);
		CHECK_EQ(meta(c, fr[4])->mapcount, 1);
		pw_mm_destroy(c);
	} else {
		pw_mm_destroy(c);
		CHECK_EQ(meta(e.mm, fr[4])->mapcount, 1);
		pw_mm_destroy(e.mm);
	}
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
}

TEST(exclusive_across_fork_parent_destroyed_first)
{
	scenario(true, 4);
	scenario(true, 5);
}

TEST(exclusive_across_fork_child_destroyed_first)
{
	scenario(false, 4);
	scenario(false, 5);
}

TEST(fork_copies_private_exclusive_and_gives_back_shared)
{
	struct env e;
	struct pw_mm *c;
	struct dev d = { .mn.ops = &dev_ops, .owner = &d };
	uint64_t a, s, fr[2];

	env_init(&e, 4, 16 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, PG, RW, PW_MAP_PRIVATE, &a), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, PG, RW, PW_MAP_SHARED, &s), 0);
	CHECK_EQ(poke(e.mm, a, 21), 0);
	CHECK_EQ(poke(e.mm, s, 22), 0);
	REQUIRE_EQ(pw_mmu_notifier_register(&d.mn, e.mm), 0);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, a, a + PG, &d, &fr[0]), 1);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, s, s + PG, &d, &fr[1]), 1);
	pw_put_user_pages(e.mm, fr, 2, 0);
	d.other = 0;
	REQUIRE_EQ(pw_mm_fork(e.mm, &c), 0);
	CHECK(d.other >= 2); /* fork's brackets told the device */
	/* private: the child has its own copy, the parent's entry stays exclusive */
	CHECK(pw_is_device_exclusive(raw(e.mm, a)));
	CHECK(pfn_of(c, a) != 0 && pfn_of(c, a) != fr[0]);
	CHECK(entry_of(c, a) & PW_RW);
	CHECK_EQ(peek(c, a), 21);
	/* shared: given back to the parent's CPU mapping, then shared */
	CHECK(!pw_is_device_exclusive(raw(e.mm, s)));
	CHECK_EQ(pfn_of(e.mm, s), fr[1]);
	CHECK_EQ(pfn_of(c, s), fr[1]);
	CHECK(entry_of(e.mm, s) & PW_D);
	CHECK_EQ(meta(e.mm, fr[1])->mapcount, 2);
	CHECK_EQ(peek(e.mm, a), 21);
	pw_mmu_notifier_unregister(&d.mn, e.mm);
	pw_mm_destroy(c);
	env_fini(&e);
}

TEST(cached_translation_is_flushed_when_made_exclusive)
{
	struct env e;
	struct pw_tlb *tlb;
	struct pw_cpu cpu = PW_CPU_DEFAULT;
	struct dev d = { .mn.ops = &dev_ops, .owner = &d };
	struct pw_access_result r;
	uint64_t a, fr[1];

	env_init(&e, 4, 16 << 20);
	REQUIRE_EQ(pw_tlb_create(e.mm, 64, &tlb), 0);
	cpu.tlb = tlb;
	REQUIRE_EQ(pw_mmap(e.mm, 0, PG, RW, PW_MAP_PRIVATE, &a), 0);
	CHECK_EQ(pw_access(e.mm, &cpu, a, PW_FAULT_WRITE | PW_FAULT_USER, &r), 0);
	CHECK_EQ(pw_access(e.mm, &cpu, a, PW_FAULT_USER, &r), 0);
	CHECK_EQ(r.nr_faults, 0); /* cached */
	REQUIRE_EQ(pw_mmu_notifier_register(&d.mn, e.mm), 0);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, a, a + PG, &d, fr), 1);
	pw_put_user_pages(e.mm, fr, 1, 0);
	/* the TLB entry went with the PTE: the access faults and takes the page back */
	CHECK_EQ(pw_access(e.mm, &cpu, a, PW_FAULT_USER, &r), 0);
	CHECK_EQ(r.nr_faults, 1);
	CHECK_EQ(d.cpu, 1);
	CHECK_EQ(r.phys >> 12, fr[0]);
	pw_mmu_notifier_unregister(&d.mn, e.mm);
	pw_tlb_destroy(tlb);
	env_fini(&e);
}

/* ---- the GUP -> replace race, per page ---------------------------------------- */

static uint64_t race_addr, race_new;

static int replace_pte(pw_pte_t *pte, uint64_t addr, void *data)
{
	struct pw_mm *mm = data;
	uint64_t v = pte->val, old = (v & 0x000ffffffffff000ULL) >> 12;
	struct pw_frame *nf = pw_frame_meta(pw_mm_arena(mm), race_new);

	nf->flags |= PW_FRAME_ANON;
	nf->mapcount = 1;
	pte->val = (v & ~0x000ffffffffff000ULL) | (race_new << 12); /* what a migration would do */
	meta(mm, old)->mapcount--;
	pw_frame_put(pw_mm_arena(mm), old); /* the mapping's reference; GUP still holds one */
	return 0;
}

/* Between GUP and the rmap step, the page at race_addr is replaced. */
static void replace_between(struct pw_mm *mm, uint64_t addr, uint64_t pfn)
{
	if (addr != race_addr)
		return;
	if (pw_frame_alloc(pw_mm_arena(mm), 0, &race_new))
		abort();
	if (pw_apply_to_existing_page_range(mm, addr, PG, replace_pte, mm))
		abort();
}

TEST(page_replaced_between_gup_and_replace_fails_alone)
{
	struct env e;
	uint64_t a, fr[4], old;

	env_init(&e, 4, 16 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 * PG, RW, PW_MAP_PRIVATE | PW_MAP_POPULATE, &a), 0);
	old = pfn_of(e.mm, a + 2 * PG);
	race_addr = a + 2 * PG;
	pw_devx_test_between = replace_between;
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, a, a + 4 * PG, NULL, fr), 4);
	pw_devx_test_between = NULL;
	CHECK(fr[0] && fr[1] && fr[3]);
	CHECK_EQ(fr[2], 0); /* that page failed, clearly */
	CHECK(pw_is_device_exclusive(raw(e.mm, a)));
	CHECK(pw_is_device_exclusive(raw(e.mm, a + 3 * PG)));
	/* the new page is mapped as it was put there: never made exclusive */
	CHECK(!pw_is_device_exclusive(raw(e.mm, a + 2 * PG)));
	CHECK_EQ(pfn_of(e.mm, a + 2 * PG), race_new);
	CHECK(meta(e.mm, old)->flags & PW_FRAME_FREE); /* its GUP reference was dropped */
	pw_put_user_pages(e.mm, fr, 4, 0);
	env_fini(&e);
}

/* ---- the walkers, the dirty helpers ----------------------------------------- */

TEST(iterator_ptdump_and_dirty_helpers_see_the_entry)
{
	struct env e;
	struct pw_file *f;
	struct pw_walk_state st;
	uint64_t fa, fr[2], bitmap[1] = { 0 }, v, bs = ~0ULL, be = 0, nwp = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int holes = 0;

	env_init(&e, 4, 16 << 20);
	REQUIRE_EQ(pw_file_create(e.a, 2 * PG, &f), 0);
	REQUIRE_EQ(pw_mmap_file(e.mm, 0, 2 * PG, RW, PW_MAP_SHARED, f, 0, &fa), 0);
	CHECK_EQ(poke(e.mm, fa, 1), 0);
	CHECK_EQ(poke(e.mm, fa + PG, 2), 0);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, fa, fa + 2 * PG, NULL, fr), 2);
	CHECK_EQ(fr[0], pw_file_page(f, 0));
	pw_put_user_pages(e.mm, fr, 2, 0);
	pw_mmap_read_lock(e.mm);
	pw_for_each_entry(&st, e.mm, fa, fa + 2 * PG, PW_WALK_HOLES) {
		if (st.type == PW_STEP_HOLE && st.reason == PW_HOLE_DEVICE_EXCLUSIVE)
			holes++;
		CHECK(st.type != PW_STEP_LEAF);
	}
	pw_mmap_read_unlock(e.mm);
	CHECK_EQ(holes, 2);
	{
		/* still resident and counted: mincore and smaps see the pages */
		struct pw_smaps_stats ss;
		uint8_t vec[2] = { 0, 0 };

		CHECK_EQ(pw_mincore(e.mm, fa, 2 * PG, vec), 0);
		CHECK(vec[0] == 1 && vec[1] == 1);
		CHECK_EQ(pw_smaps_rollup(e.mm, &ss), 0);
		CHECK_EQ(ss.rss, 2 * PG);
		CHECK_EQ(ss.shared_dirty + ss.private_dirty, 2 * PG);
	}
	CHECK_EQ(strcmp(pw_ptdump_hole_name(PW_HOLE_DEVICE_EXCLUSIVE), "device-exclusive"), 0);
	out = open_memstream(&buf, &len);
	REQUIRE(out != NULL);
	CHECK_EQ(pw_ptdump(e.mm, out, NULL, NULL), 0);
	fclose(out);
	CHECK(strstr(buf, "[device-exclusive]") != NULL);
	free(buf);
	/* clean-record: the dirty state lives in the entry; it is counted and cleared */
	CHECK_EQ(pw_wp_clean_record_shared_mapping_range(f, 0, 2, 0, bitmap, &bs, &be, &nwp), 2);
	CHECK_EQ(bitmap[0], 3);
	CHECK_EQ(nwp, 2);
	v = raw(e.mm, fa);
	CHECK(pw_is_device_exclusive(v));
	CHECK(!(v & (PW_SWP_DIRTY | PW_SWP_WRITE)));
	/* restored clean and read-only: the next write is seen again */
	CHECK_EQ(peek(e.mm, fa), 1);
	CHECK(!(entry_of(e.mm, fa) & (PW_D | PW_RW)));
	CHECK_EQ(poke(e.mm, fa, 3), 0);
	CHECK(entry_of(e.mm, fa) & PW_D);
	CHECK_EQ(pw_munmap(e.mm, fa, 2 * PG), 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	env_fini(&e);
}

/* ---- the mirror's snapshot ------------------------------------------------- */

static bool set_seq(struct pw_interval_notifier *ni, const struct pw_mmu_notifier_range *r, uint64_t seq)
{
	pw_interval_set_seq(ni, seq);
	return true;
}

static const struct pw_interval_notifier_ops seq_ops = { .invalidate = set_seq };

TEST(range_fault_snapshot_and_requests)
{
	struct env e;
	struct pw_interval_notifier ni;
	struct pw_mm *c;
	uint64_t a, h, pfns[4], fr[1];
	struct pw_hmm_range r = { .notifier = &ni, .pfns = pfns };

	env_init(&e, 4, 32 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 * PG, RW, PW_MAP_PRIVATE, &a), 0);
	CHECK_EQ(poke(e.mm, a, 1), 0);		/* page 0 written */
	CHECK_EQ(peek(e.mm, a + PG), 0);	/* page 1 read: read-only */
	REQUIRE_EQ(pw_interval_notifier_insert(&ni, e.mm, a, 4 * PG, &seq_ops), 0);
	r.start = a;
	r.end = a + 4 * PG;
	r.notifier_seq = pw_interval_read_begin(&ni);
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_range_fault(&r), 0); /* nothing requested: a snapshot only */
	pw_mmap_read_unlock(e.mm);
	CHECK_EQ(pfns[0], PW_HMM_PFN_VALID | PW_HMM_PFN_WRITE | pfn_of(e.mm, a));
	CHECK_EQ(pfns[1], PW_HMM_PFN_VALID | pfn_of(e.mm, a + PG));
	CHECK_EQ(pfns[2], 0); /* not mapped, not asked for */
	CHECK(!pw_interval_read_retry(&ni, r.notifier_seq));
	/* per-page requests: fault page 2 for write, page 3 for read */
	pfns[2] = PW_HMM_REQ_FAULT | PW_HMM_REQ_WRITE;
	pfns[3] = PW_HMM_REQ_FAULT;
	r.pfn_flags_mask = PW_HMM_REQ_FAULT | PW_HMM_REQ_WRITE;
	pfns[0] = pfns[1] = 0;
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_range_fault(&r), 0);
	pw_mmap_read_unlock(e.mm);
	CHECK_EQ(pfns[2], PW_HMM_PFN_VALID | PW_HMM_PFN_WRITE | pfn_of(e.mm, a + 2 * PG));
	CHECK_EQ(pfns[3], PW_HMM_PFN_VALID | pfn_of(e.mm, a + 3 * PG));
	/* a copy-on-write page asked for write is copied; the invalidation is seen */
	REQUIRE_EQ(pw_mm_fork(e.mm, &c), 0);
	CHECK(pw_interval_read_retry(&ni, r.notifier_seq)); /* fork write-protected the range */
	r.notifier_seq = pw_interval_read_begin(&ni);
	r.default_flags = PW_HMM_REQ_FAULT | PW_HMM_REQ_WRITE;
	{
		int ret, tries = 0;

		do { /* each copy invalidates its page: the driver's loop starts again */
			r.notifier_seq = pw_interval_read_begin(&ni);
			pw_mmap_read_lock(e.mm);
			ret = pw_range_fault(&r);
			pw_mmap_read_unlock(e.mm);
			tries++;
		} while (ret == -EBUSY && tries < 16);
		CHECK_EQ(ret, 0);
		CHECK(tries > 1);
	}
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pfns[i], PW_HMM_PFN_VALID | PW_HMM_PFN_WRITE | pfn_of(e.mm, a + i * PG));
	CHECK(pfn_of(e.mm, a) != pfn_of(c, a));
	pw_mm_destroy(c);
	/* a device-exclusive page asked for is given back to the CPU */
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, a, a + PG, NULL, fr), 1);
	pw_put_user_pages(e.mm, fr, 1, 0);
	r.notifier_seq = pw_interval_read_begin(&ni);
	r.default_flags = 0;
	pfns[0] = PW_HMM_REQ_FAULT;
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_range_fault(&r), -EBUSY); /* conversion and restore both invalidate */
	pw_mmap_read_unlock(e.mm);
	CHECK(!pw_is_device_exclusive(raw(e.mm, a)));
	/* a 2 MiB leaf reports its order (made after the fork, which splits them) */
	CHECK_EQ(pw_interval_notifier_remove(&ni), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, PW_PMD_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_HUGE_2M | PW_MAP_POPULATE, &h), 0);
	CHECK(entry_of(e.mm, h) & PW_PS);
	REQUIRE_EQ(pw_interval_notifier_insert(&ni, e.mm, h, PW_PMD_SIZE, &seq_ops), 0);
	r.start = h + 8 * PG;
	r.end = h + 9 * PG;
	r.pfn_flags_mask = 0;
	r.notifier_seq = pw_interval_read_begin(&ni);
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_range_fault(&r), 0);
	pw_mmap_read_unlock(e.mm);
	CHECK_EQ((pfns[0] & PW_HMM_PFN_ORDER_MASK) >> PW_HMM_PFN_ORDER_SHIFT, 9);
	CHECK_EQ(pfns[0] & PW_HMM_PFN_FRAME_MASK, pfn_of(e.mm, h) + 8);
	CHECK_EQ(pw_interval_notifier_remove(&ni), 0);
	env_fini(&e);
}

/* ---- bad input ---------------------------------------------------------------- */

TEST(bad_input_changes_nothing)
{
	struct env e;
	struct pw_mm *foreign;
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_mm_stats s0, s1;
	uint64_t a, ro, none, fr[4], free0;
	uint64_t top = pw_low_half_end(4);

	env_init(&e, 4, 16 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 * PG, RW, PW_MAP_PRIVATE, &a), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, PG, PW_PROT_READ, PW_MAP_PRIVATE | PW_MAP_POPULATE, &ro), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, PG, PW_PROT_NONE, PW_MAP_PRIVATE, &none), 0);
	CHECK_EQ(pw_munmap(e.mm, a + 2 * PG, PG), 0);
	REQUIRE_EQ(pw_mm_create_foreign(pw_mm_phys(e.mm), &cfg, pw_mm_root(e.mm), &foreign), 0);
	pw_mm_get_stats(e.mm, &s0);
	free0 = pw_arena_free_frames(e.a);

	CHECK_EQ(pw_get_user_pages(e.mm, a + 1, 1, 0, fr), -EINVAL);
	CHECK_EQ(pw_get_user_pages(e.mm, a, 1, 1u << 7, fr), -EINVAL);
	CHECK_EQ(pw_get_user_pages(NULL, a, 1, 0, fr), -EINVAL);
	CHECK_EQ(pw_get_user_pages(e.mm, a, 1, 0, NULL), -EINVAL);
	CHECK_EQ(pw_get_user_pages(foreign, a, 1, 0, fr), -EINVAL);
	CHECK_EQ(pw_get_user_pages(e.mm, top - PG, 2, 0, fr), -EFAULT);
	CHECK_EQ(pw_get_user_pages(e.mm, ~0ULL & PW_PAGE_MASK, 2, 0, fr), -EOVERFLOW);
	CHECK_EQ(pw_get_user_pages(e.mm, a + 2 * PG, 1, 0, fr), -EFAULT); /* unmapped */
	CHECK_EQ(pw_get_user_pages(e.mm, none, 1, 0, fr), -EFAULT);	  /* PROT_NONE */
	CHECK_EQ(pw_get_user_pages(e.mm, ro, 1, PW_FOLL_WRITE, fr), -EFAULT);
	CHECK_EQ(pw_get_user_pages(e.mm, a, 0, 0, fr), 0);

	CHECK_EQ(pw_make_device_exclusive_range(e.mm, a + 1, a + PG, NULL, fr), -EINVAL);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, a, a + PG + 8, NULL, fr), -EINVAL);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, a, a, NULL, fr), -EINVAL);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, a + PG, a, NULL, fr), -EINVAL);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, a, a + PG, NULL, NULL), -EINVAL);
	CHECK_EQ(pw_make_device_exclusive_range(foreign, a, a + PG, NULL, fr), -EINVAL);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, top - PG, top + PG, NULL, fr), -EFAULT);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, a + 2 * PG, a + 3 * PG, NULL, fr), -EFAULT);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, none, none + PG, NULL, fr), -EFAULT);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, ro, ro + PG, NULL, fr), -EFAULT);

	pw_mm_get_stats(e.mm, &s1);
	CHECK_EQ(s1.rss, s0.rss);
	CHECK_EQ(s1.pgtables, s0.pgtables);
	CHECK_EQ(s1.nr_vmas, s0.nr_vmas);
	CHECK_EQ(pw_arena_free_frames(e.a), free0);
	CHECK(!pw_is_device_exclusive(raw(e.mm, ro)));
	/* a partial result says how many: two pages, then the hole */
	CHECK_EQ(pw_get_user_pages(e.mm, a, 4, 0, fr), 2);
	pw_put_user_pages(e.mm, fr, 2, 0);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, a, a + 4 * PG, NULL, fr), 2);
	pw_put_user_pages(e.mm, fr, 2, 0);
	pw_mm_destroy(foreign);
	env_fini(&e);
}

int main(void)
{
	tap_start();
	RUN(gup_faults_in_and_holds);
	RUN(gup_write_breaks_cow_and_splits_huge);
	RUN(pinned_anon_page_is_copied_at_fork);
	RUN(rmap_reaches_fork_chains_and_files);
	RUN(exclusive_across_fork_parent_destroyed_first);
	RUN(exclusive_across_fork_child_destroyed_first);
	RUN(fork_copies_private_exclusive_and_gives_back_shared);
	RUN(cached_translation_is_flushed_when_made_exclusive);
	RUN(page_replaced_between_gup_and_replace_fails_alone);
	RUN(iterator_ptdump_and_dirty_helpers_see_the_entry);
	RUN(range_fault_snapshot_and_requests);
	RUN(bad_input_changes_nothing);
	return tap_done();
}
