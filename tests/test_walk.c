// SPDX-License-Identifier: MIT
/*
 * Description: the callback walker against the kernel bug list
 * (linux-pagewalk.md 8.1) that applies without concurrency: termination at
 * the top of the address space, ACTION semantics, pre/post_vma pairing,
 * test_walk, PFNMAP, huge leaves never reaching pte_entry, 5-level walks,
 * hole depths, malformed and NX|!RW upper entries.
 */
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>

#include "../tests/tap.h"
#include "fixture.h"
#include <errno.h>
#include <unistd.h>

/* Counters a walk fills in. */
struct cnt {
	int pgd, p4d, pud, pmd, pte, hole, test, pre, post;
	unsigned depths;	/* bit depth+1 for each hole depth seen */
	uint64_t first, last, last_next;
	int again_left;		/* pmd_entry: return AGAIN this many times */
	int fail_pte_at;	/* pte_entry returns -EIO on this call (1-based) */
	int ret_pte_at;		/* pte_entry returns 7 on this call */
	int test_ret, pre_ret;
	int pgd_action, pud_action, pmd_action; /* action to set, -1 none */
	bool action_not_reset;
	uint64_t pmd_seen_value;
};

#define C(w) ((struct cnt *)(w)->private)

static int c_pgd(pw_pgd_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	C(w)->pgd++;
	if (C(w)->pgd_action >= 0)
		w->action = (enum pw_walk_action)C(w)->pgd_action;
	return 0;
}
static int c_p4d(pw_p4d_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	C(w)->p4d++;
	return 0;
}
static int c_pud(pw_pud_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	if (w->action != PW_ACTION_SUBTREE)
		C(w)->action_not_reset = true;
	C(w)->pud++;
	if (C(w)->pud_action >= 0)
		w->action = (enum pw_walk_action)C(w)->pud_action;
	return 0;
}
static int c_pmd(pw_pmd_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	struct cnt *c = C(w);

	if (w->action != PW_ACTION_SUBTREE)
		c->action_not_reset = true;
	c->pmd++;
	c->pmd_seen_value = pw_pmdp_get(e).val;
	if (c->again_left > 0) {
		c->again_left--;
		w->action = PW_ACTION_AGAIN;
	} else if (c->pmd_action >= 0) {
		w->action = (enum pw_walk_action)c->pmd_action;
	}
	return 0;
}
static int c_pte(pw_pte_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	struct cnt *c = C(w);

	if (!c->pte++)
		c->first = a;
	c->last = a;
	c->last_next = n;
	if (c->pte == c->fail_pte_at)
		return -EIO;
	if (c->pte == c->ret_pte_at)
		return 7;
	return 0;
}
static int c_hole(uint64_t a, uint64_t n, int depth, struct pw_mm_walk *w)
{
	C(w)->hole++;
	C(w)->depths |= 1u << (depth + 1);
	C(w)->last_next = n;
	return 0;
}
static int c_test(uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	struct cnt *c = C(w);

	/* Skip (or fail) the first VMA only. */
	return c->test++ == 0 ? c->test_ret : 0;
}
static int c_pre(uint64_t s, uint64_t e, struct pw_mm_walk *w)
{
	C(w)->pre++;
	return C(w)->pre_ret;
}
static void c_post(struct pw_mm_walk *w)
{
	C(w)->post++;
}

/*
 * Every test of sections 1-4 runs twice: with pte_entry = c_pte through
 * the library's PTE loop, and (inlined) with the same c_pte compiled into a
 * PW_DEFINE_PTE_RUN() loop. The walker calls below go through via(), which
 * swaps the one for the other.
 */
static bool inlined;
static long swaps; /* walks given the inlined form (the second pass must make some) */
PW_DEFINE_PTE_RUN(c_pte_run, c_pte)

static const struct pw_walk_ops *via(const struct pw_walk_ops *o, struct pw_walk_ops *tmp)
{
	if (!inlined || o->pte_entry != c_pte)
		return o;
	swaps++;
	*tmp = *o;
	tmp->pte_entry = NULL;
	tmp->pte_run = c_pte_run;
	return tmp;
}
#define pw_walk_page_range(mm, s, e, o, p) \
	(pw_walk_page_range)(mm, s, e, via(o, &(struct pw_walk_ops){ 0 }), p)
#define pw_walk_page_range_novma(mm, s, e, o, r, p) \
	(pw_walk_page_range_novma)(mm, s, e, via(o, &(struct pw_walk_ops){ 0 }), r, p)
#define pw_walk_page_vma(v, o, p) (pw_walk_page_vma)(v, via(o, &(struct pw_walk_ops){ 0 }), p)
#define pw_walk_page_range_vma(v, s, e, o, p) \
	(pw_walk_page_range_vma)(v, s, e, via(o, &(struct pw_walk_ops){ 0 }), p)

static const struct pw_walk_ops all_ops = {
	.pgd_entry = c_pgd, .p4d_entry = c_p4d, .pud_entry = c_pud, .pmd_entry = c_pmd,
	.pte_entry = c_pte, .pte_hole = c_hole,
};

static struct cnt fresh(void)
{
	return (struct cnt){ .pgd_action = -1, .pud_action = -1, .pmd_action = -1 };
}


/* Map @npages 4 KiB pages at @addr and fault them all in. */
static void map_pages(struct pw_mm *mm, uint64_t addr, uint64_t npages)
{
	CHECK_EQ(pw_mmap(mm, addr, npages * 4096, PW_PROT_READ | PW_PROT_WRITE,
			 PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
}

static int walk(struct pw_mm *mm, uint64_t s, uint64_t e, const struct pw_walk_ops *ops, struct cnt *c)
{
	int ret;

	pw_mmap_read_lock(mm);
	ret = pw_walk_page_range(mm, s, e, ops, c);
	pw_mmap_read_unlock(mm);
	return ret;
}

/* ---- 1. termination at the top of the address space -------------------- */

/* Hand-built tables: the last PTE of the last table of every level of the high half. */
static void top_of_space(int levels)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_arena *a;
	struct pw_mm *mm;
	uint64_t pfn[PW_MAX_LEVELS], data, free0;
	struct cnt c = fresh();
	struct pw_walk_ops ops = all_ops;
	struct pw_walk_state st;
	int n = 0;

	cfg.levels = (uint8_t)levels;
	REQUIRE_EQ(pw_arena_create(16 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	for (int l = 0; l < levels; l++)
		REQUIRE_EQ(pw_frame_alloc(a, 0, &pfn[l]), 0);
	REQUIRE_EQ(pw_frame_alloc(a, 0, &data), 0);
	for (int l = levels - 1; l > 0; l--)
		((uint64_t *)pw_frame_ptr(a, pfn[l]))[511] = pw_mk_table(pfn[l - 1], PW_RW);
	/* The last 16 PTEs map pages; the last one is the top page of the space. */
	for (int i = 496; i < 512; i++)
		((uint64_t *)pw_frame_ptr(a, pfn[0]))[i] = pw_mk_leaf(0, data, PW_P | PW_RW);
	REQUIRE_EQ(pw_mm_create_foreign(pw_arena_phys(a), &cfg, pfn[levels - 1], &mm), 0);
	/* A foreign mm has no locks: taking a PTE table lock is a no-op, not a crash. */
	pw_pte_lock(mm, pfn[0]);
	pw_pte_unlock(mm, pfn[0]);

	ops.walk_lock = PW_WALK_LOCKLESS;
	CHECK_EQ(pw_walk_page_range_novma(mm, 0ULL - 32 * 4096, 0, &ops, PW_ROOT_DEFAULT, &c), 0);
	CHECK_EQ(c.pte, 32); /* each PTE of the range exactly once: 16 none, 16 mapped */
	CHECK_EQ(c.first, 0ULL - 32 * 4096);
	CHECK_EQ(c.last, 0ULL - 4096);
	CHECK_EQ(c.last_next, 0);
	CHECK_EQ(c.pgd, 1); /* the root entry, once per walk (also with the P4D folded) */
	CHECK_EQ(c.p4d, 1);
	CHECK_EQ(c.hole, 0);
	/* The whole upper half: holes for every other entry, then the same PTEs. */
	c = fresh();
	CHECK_EQ(pw_walk_page_range_novma(mm, pw_high_half_start(levels), 0, &ops, PW_ROOT_DEFAULT, &c), 0);
	CHECK_EQ(c.pte, 512);
	CHECK_EQ(c.last_next, 0);
	CHECK_EQ(c.hole, 255 + 511 * (levels - 2));
	/* The whole space: the lower half is empty, the gap is one -1 hole. */
	c = fresh();
	CHECK_EQ(pw_walk_page_range_novma(mm, 0, 0, &ops, PW_ROOT_DEFAULT, &c), 0);
	CHECK_EQ(c.pte, 512);
	CHECK(c.depths & 1u); /* depth -1: the non-canonical gap */
	/* The iterator ends too. */
	pw_for_each_entry(&st, mm, 0ULL - 32 * 4096, 0, 0) {
		CHECK_EQ(st.start, 0ULL - 16 * 4096 + n * 4096ULL);
		n++;
	}
	CHECK_EQ(n, 16);
	CHECK_EQ(st.end, 0);
	n = 0;
	pw_for_each_entry(&st, mm, 0, 0, PW_WALK_HOLES)
		n++;
	CHECK(n > 16);
	/* Only one PTE, the very last one. */
	c = fresh();
	CHECK_EQ(pw_walk_page_range_novma(mm, 0ULL - 4096, 0, &ops, PW_ROOT_DEFAULT, &c), 0);
	CHECK_EQ(c.pte, 1);
	pw_mm_destroy(mm);
	for (int l = 0; l < levels; l++)
		pw_frame_free(a, pfn[l], 0);
	pw_frame_free(a, data, 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(terminates_at_top_4level)
{
	top_of_space(4);
}

TEST(terminates_at_top_5level)
{
	top_of_space(5);
}

/* An arena mm: a VMA walk to end 0 over an empty upper half is one -1 hole per half. */
TEST(vma_walk_to_top)
{
	struct env e;
	struct cnt c = fresh();
	uint64_t base = 0x7fffffe00000ULL; /* the last 2 MiB of the lower half */

	env_init(&e, 4, 16 << 20);
	map_pages(e.mm, 0x7ffffffff000ULL, 1);
	CHECK_EQ(walk(e.mm, base, 0, &all_ops, &c), 0);
	CHECK_EQ(c.pte, 1);
	CHECK_EQ(c.last, 0x7ffffffff000ULL);
	CHECK_EQ(c.hole, 2); /* [base, vma) and [vma end, 0) */
	CHECK_EQ(c.depths, 1u);
	CHECK_EQ(c.last_next, 0);
	/* Ending in the upper half: the rest, gap included, is one -1 hole. */
	c = fresh();
	CHECK_EQ(walk(e.mm, 0x7ffffffff000ULL, pw_high_half_start(4) + 8192, &all_ops, &c), 0);
	CHECK_EQ(c.pte, 1);
	CHECK_EQ(c.hole, 1);
	CHECK_EQ(c.last_next, pw_high_half_start(4) + 8192);
	env_fini(&e);
}

/* ---- 2. ACTION semantics ------------------------------------------------- */

TEST(action_continue_from_pgd_is_ignored)
{
	struct env e;
	struct cnt c = fresh();
	uint64_t a = 0x10000000;

	env_init(&e, 5, 16 << 20);
	map_pages(e.mm, a, 4);
	c.pgd_action = PW_ACTION_CONTINUE;
	CHECK_EQ(walk(e.mm, a, a + 4 * 4096, &all_ops, &c), 0);
	CHECK_EQ(c.pgd, 1);
	CHECK_EQ(c.pte, 4);
	env_fini(&e);
}

TEST(action_continue_from_pmd_and_pud_skips_below)
{
	struct env e;
	struct cnt c = fresh();
	uint64_t a = 0x10000000;

	env_init(&e, 4, 16 << 20);
	map_pages(e.mm, a, 4);
	map_pages(e.mm, a + PW_PMD_SIZE, 4);
	c.pmd_action = PW_ACTION_CONTINUE;
	CHECK_EQ(walk(e.mm, a, a + 2 * PW_PMD_SIZE, &all_ops, &c), 0);
	CHECK_EQ(c.pmd, 2);
	CHECK_EQ(c.pte, 0);
	CHECK(!c.action_not_reset);
	c = fresh();
	c.pud_action = PW_ACTION_CONTINUE;
	CHECK_EQ(walk(e.mm, a, a + 2 * PW_PMD_SIZE, &all_ops, &c), 0);
	CHECK_EQ(c.pud, 2); /* once per VMA */
	CHECK_EQ(c.pmd, 0);
	CHECK_EQ(c.pte, 0);
	/* The action is reset to SUBTREE before each pud/pmd_entry. */
	c = fresh();
	c.pud_action = PW_ACTION_SUBTREE;
	c.again_left = 0;
	CHECK_EQ(walk(e.mm, a, a + 2 * PW_PMD_SIZE, &all_ops, &c), 0);
	CHECK(!c.action_not_reset);
	CHECK_EQ(c.pte, 8); /* the two VMAs' PTEs */
	env_fini(&e);
}

TEST(action_again_recalls_until_state_changes)
{
	struct env e;
	struct cnt c = fresh();
	uint64_t a = 0x10000000;

	env_init(&e, 4, 16 << 20);
	map_pages(e.mm, a, 4);
	c.again_left = 3;
	CHECK_EQ(walk(e.mm, a, a + 4 * 4096, &all_ops, &c), 0);
	CHECK_EQ(c.pmd, 4);  /* three AGAINs, then the descent */
	CHECK_EQ(c.pte, 4);  /* PTEs once */
	CHECK(!c.action_not_reset);
	env_fini(&e);
}

/* ---- 3. pre_vma / post_vma / test_walk ---------------------------------- */

TEST(post_vma_after_failed_walk_not_after_failed_pre)
{
	struct env e;
	struct pw_walk_ops ops = all_ops;
	struct cnt c = fresh();
	uint64_t a = 0x10000000;

	env_init(&e, 4, 16 << 20);
	map_pages(e.mm, a, 4);
	map_pages(e.mm, a + 16 * 4096, 4);
	CHECK_EQ(pw_mprotect(e.mm, a + 16 * 4096, 4 * 4096, PW_PROT_READ), 0); /* two VMAs */
	ops.pre_vma = c_pre;
	ops.post_vma = c_post;
	/* A callback error inside the first VMA: post_vma still runs for it. */
	c.fail_pte_at = 2;
	CHECK_EQ(walk(e.mm, a, a + 32 * 4096, &ops, &c), -EIO);
	CHECK_EQ(c.pre, 1);
	CHECK_EQ(c.post, 1);
	CHECK_EQ(c.pte, 2);
	/* A positive value stops the walk and is returned; post_vma pairs too. */
	c = fresh();
	c.ret_pte_at = 6;
	CHECK_EQ(walk(e.mm, a, a + 32 * 4096, &ops, &c), 7);
	CHECK_EQ(c.pre, 2);
	CHECK_EQ(c.post, 2);
	/* pre_vma fails: no tables, no post_vma. */
	c = fresh();
	c.pre_ret = -EPERM;
	CHECK_EQ(walk(e.mm, a, a + 32 * 4096, &ops, &c), -EPERM);
	CHECK_EQ(c.pre, 1);
	CHECK_EQ(c.post, 0);
	CHECK_EQ(c.pte, 0);
	/* Both VMAs walked: two pairs, 8 pages + 12 none PTEs in between / after. */
	c = fresh();
	CHECK_EQ(walk(e.mm, a, a + 32 * 4096, &ops, &c), 0);
	CHECK_EQ(c.pre, 2);
	CHECK_EQ(c.post, 2);
	CHECK_EQ(c.pte, 8);
	CHECK_EQ(c.hole, 2); /* the gap between the VMAs and the one after */
	CHECK_EQ(c.depths, 1u);
	env_fini(&e);
}

TEST(test_walk_skip_and_abort)
{
	struct env e;
	struct pw_walk_ops ops = all_ops;
	struct cnt c = fresh();
	uint64_t a = 0x10000000;

	env_init(&e, 4, 16 << 20);
	map_pages(e.mm, a, 4);
	map_pages(e.mm, a + 16 * 4096, 4);
	CHECK_EQ(pw_mprotect(e.mm, a + 16 * 4096, 4 * 4096, PW_PROT_READ), 0);
	ops.test_walk = c_test;
	ops.pre_vma = c_pre;
	ops.post_vma = c_post;
	c.test_ret = 1; /* skip the first VMA */
	CHECK_EQ(walk(e.mm, a, a + 20 * 4096, &ops, &c), 0);
	CHECK_EQ(c.test, 2);
	CHECK_EQ(c.pte, 4);
	CHECK_EQ(c.first, a + 16 * 4096);
	CHECK_EQ(c.pre, 1);
	CHECK_EQ(c.post, 1);
	c = fresh();
	c.test_ret = -EINTR; /* abort at the first VMA */
	CHECK_EQ(walk(e.mm, a, a + 20 * 4096, &ops, &c), -EINTR);
	CHECK_EQ(c.test, 1);
	CHECK_EQ(c.pte, 0);
	CHECK_EQ(c.pre, 0);
	/* pw_walk_page_vma() does not call test_walk. */
	c = fresh();
	c.test_ret = 1;
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_walk_page_vma(pw_vma_lookup(e.mm, a), &ops, &c), 0);
	CHECK_EQ(pw_walk_page_range_vma(pw_vma_lookup(e.mm, a), a, a + 8 * 4096, &ops, &c), -EINVAL);
	pw_mmap_read_unlock(e.mm);
	CHECK_EQ(c.test, 0);
	CHECK_EQ(c.pte, 4);
	env_fini(&e);
}

TEST(pfnmap_skipped_by_range_walk_not_by_vma_walk)
{
	struct env e;
	struct cnt c = fresh();
	struct pw_vma *vma;
	uint64_t a = 0x10000000;

	env_init(&e, 4, 16 << 20);
	map_pages(e.mm, a, 4);
	/* No public call makes a PFNMAP VMA yet: flag this one by hand. */
	pw_mmap_write_lock(e.mm);
	vma = pw_vma_lookup(e.mm, a);
	vma->vm_flags |= PW_VM_PFNMAP;
	pw_mmap_write_unlock(e.mm);
	CHECK_EQ(walk(e.mm, a, a + 4 * 4096, &all_ops, &c), 0);
	CHECK_EQ(c.pte, 0);
	CHECK_EQ(c.hole, 1);
	CHECK_EQ(c.depths, 1u);
	c = fresh();
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_walk_page_vma(vma, &all_ops, &c), 0);
	pw_mmap_read_unlock(e.mm);
	CHECK_EQ(c.pte, 4);
	pw_mmap_write_lock(e.mm);
	vma->vm_flags &= ~PW_VM_PFNMAP;
	pw_mmap_write_unlock(e.mm);
	env_fini(&e);
}

/* ---- 4. huge leaves, 5 levels, depths, odd upper entries --------------- */

TEST(huge_leaf_never_reaches_pte_entry_nor_split)
{
	struct env e;
	struct cnt c = fresh();
	struct pw_mm_stats s0, s1;
	struct pw_translation t;
	uint64_t a = 0x40000000;

	env_init(&e, 4, 64 << 20);
	CHECK_EQ(pw_mmap(e.mm, a, 2 * PW_PMD_SIZE, PW_PROT_READ | PW_PROT_WRITE,
			 PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL), 0);
	pw_mm_get_stats(e.mm, &s0);
	CHECK_EQ(walk(e.mm, a, a + 2 * PW_PMD_SIZE, &all_ops, &c), 0);
	CHECK_EQ(c.pmd, 2);
	CHECK(pw_entry_leaf(1, c.pmd_seen_value));
	CHECK_EQ(c.pte, 0);
	/* Also with a range that starts and ends inside the leaves. */
	c = fresh();
	CHECK_EQ(walk(e.mm, a + 4096, a + PW_PMD_SIZE + 4096, &all_ops, &c), 0);
	CHECK_EQ(c.pmd, 2);
	CHECK_EQ(c.pte, 0);
	pw_mm_get_stats(e.mm, &s1);
	CHECK_EQ(s1.pgtables, s0.pgtables);
	CHECK_EQ(s1.rss, s0.rss);
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_translate(e.mm, a + 4096, &t), 0);
	CHECK_EQ(t.level, 1);
	pw_mmap_read_unlock(e.mm);
	env_fini(&e);
}

TEST(five_level_walk_and_hole_depths)
{
	for (int levels = 4; levels <= 5; levels++) {
		struct env e;
		struct cnt c = fresh();
		uint64_t a = levels == 5 ? 0x0012345600000000ULL : 0x0000123400000000ULL;
		unsigned want = levels == 5 ? 0x1e : 0x1a; /* depths 0..3 / 0, 2, 3 (folded P4D) */

		env_init(&e, levels, 16 << 20);
		map_pages(e.mm, a, 1);
		pw_mmap_read_lock(e.mm);
		CHECK_EQ(pw_walk_page_range_novma(e.mm, 0, pw_low_half_end(levels), &all_ops,
						  PW_ROOT_DEFAULT, &c), 0);
		pw_mmap_read_unlock(e.mm);
		CHECK_EQ(c.pgd, 1);
		CHECK_EQ(c.p4d, 1);
		CHECK_EQ(c.pud, 1);
		CHECK_EQ(c.pmd, 1);
		CHECK_EQ(c.pte, 512);
		CHECK_EQ(c.depths, want);
		/* Holes: 255 root entries, 511 at each level below down to the PMD. */
		CHECK_EQ(c.hole, 255 + 511 * (levels - 2));
		env_fini(&e);
	}
}

TEST(odd_upper_entries)
{
	struct env e;
	struct cnt c = fresh();
	struct pw_walk_state st;
	uint64_t a = 0x10000000, *pmd, old, pfn;
	int n = 0;

	env_init(&e, 4, 16 << 20);
	map_pages(e.mm, a, 4);
	pw_mmap_read_lock(e.mm);
	pfn = pw_mm_root(e.mm);
	for (int l = 3; l > 1; l--)
		pfn = pw_entry_pfn(l, ((uint64_t *)pw_frame_ptr(e.a, pfn))[pw_index(l, a)], 46);
	pmd = (uint64_t *)pw_frame_ptr(e.a, pfn) + pw_index(1, a);
	old = *pmd;
	/* espfix-like: NX set, RW clear, pointing at a valid table: still walked. */
	*pmd = (old | PW_NX) & ~PW_RW;
	CHECK_EQ(pw_walk_page_range_novma(e.mm, a, a + 4 * 4096, &all_ops, PW_ROOT_DEFAULT, &c), 0);
	CHECK_EQ(c.pte, 4);
	c = fresh();
	CHECK_EQ(pw_walk_page_range(e.mm, a, a + 4 * 4096, &all_ops, &c), 0);
	CHECK_EQ(c.pte, 4);
	/* Malformed (reserved bit): reported to pmd_entry, not descended, not cleared. */
	*pmd = old | (1ULL << 48);
	c = fresh();
	CHECK_EQ(pw_walk_page_range_novma(e.mm, a, a + 4 * 4096, &all_ops, PW_ROOT_DEFAULT, &c), 0);
	CHECK_EQ(c.pmd, 1);
	CHECK_EQ(c.pte, 0);
	CHECK_EQ(*pmd, old | (1ULL << 48));
	pw_for_each_entry(&st, e.mm, a, a + 4 * 4096, PW_WALK_HOLES) {
		CHECK_EQ(st.reason, PW_HOLE_RESERVED);
		n++;
	}
	CHECK_EQ(n, 1);
	*pmd = old;
	pw_mmap_read_unlock(e.mm);
	env_fini(&e);
}

/* A no-VMA walk of another root: the tables of a second mm in the same arena. */
TEST(novma_walk_of_another_root)
{
	struct env e;
	struct pw_mm *mm2;
	struct cnt c = fresh();
	uint64_t a = 0x10000000;

	env_init(&e, 4, 16 << 20);
	REQUIRE_EQ(pw_mm_create(e.a, NULL, &mm2), 0);
	map_pages(mm2, a, 3);
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_walk_page_range_novma(e.mm, a, a + 4 * 4096, &all_ops, PW_ROOT_DEFAULT, &c), 0);
	CHECK_EQ(c.pte, 0); /* e.mm has nothing there */
	CHECK_EQ(c.hole, 1);
	c = fresh();
	CHECK_EQ(pw_walk_page_range_novma(e.mm, a, a + 4 * 4096, &all_ops, pw_mm_root(mm2), &c), 0);
	CHECK_EQ(c.pte, 4);
	CHECK_EQ(c.hole, 0);
	pw_mmap_read_unlock(e.mm);
	pw_mm_destroy(mm2);
	env_fini(&e);
}

/*
 * Kernel bug 2: a gap between VMAs is one pte_hole(-1), and its tables are
 * not read, even where a table (shared with a neighbouring VMA) has an
 * entry there. The no-VMA walk does read it.
 */
TEST(vma_gap_tables_not_read)
{
	struct env e;
	struct cnt c = fresh();
	uint64_t a = 0x10000000, *stray;

	env_init(&e, 4, 16 << 20);
	map_pages(e.mm, a, 2);
	map_pages(e.mm, a + 8 * 4096, 2);
	pw_mmap_read_lock(e.mm);
	stray = (uint64_t *)pw_frame_ptr(e.a, pw_mm_root(e.mm)); /* find the PTE of a + 4 pages */
	for (int l = 3; l > 0; l--)
		stray = (uint64_t *)pw_frame_ptr(e.a, pw_entry_pfn(l, stray[pw_index(l, a)], 46));
	stray += pw_index(0, a + 4 * 4096);
	*stray = pw_mk_leaf(0, 1, PW_P | PW_US); /* frame 1: harmless, never released */
	CHECK_EQ(pw_walk_page_range(e.mm, a, a + 10 * 4096, &all_ops, &c), 0);
	CHECK_EQ(c.pte, 4);
	CHECK_EQ(c.hole, 1);
	CHECK_EQ(c.depths, 1u);
	c = fresh();
	CHECK_EQ(pw_walk_page_range_novma(e.mm, a, a + 10 * 4096, &all_ops, PW_ROOT_DEFAULT, &c), 0);
	CHECK_EQ(c.pte, 10);
	*stray = 0;
	pw_mmap_read_unlock(e.mm);
	env_fini(&e);
}

#undef pw_walk_page_range
#undef pw_walk_page_range_novma
#undef pw_walk_page_vma
#undef pw_walk_page_range_vma

/* ---- 5. pte_run: one call per PTE table, the same PTEs as pte_entry ---- */

struct runs {
	uint64_t sum_pte, sum_run; /* sum of (address ^ entry) over PTEs seen */
	long n_pte, n_run_ptes, n_runs;
	bool bad_run, unlocked;
	int stop_at_run; /* return 9 from this run (1-based), 0 never */
	struct pw_mm *mm;
};

static int r_pte(pw_pte_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	struct runs *r = w->private;

	r->n_pte++;
	r->sum_pte += a ^ pw_ptep_get(e).val;
	return 0;
}

static int r_run(pw_pte_t *e, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	struct runs *r = w->private;
	uint64_t pfn = 0;

	r->n_runs++;
	/* inside one PTE table, page aligned, non-empty */
	if ((a & 4095) || (n & 4095) || n <= a || ((a ^ (n - 1)) >> 21))
		r->bad_run = true;
	/* the PTE table is locked by this thread while a VMA is walked */
	if (w->vma) {
		const uint64_t *tbl = (const uint64_t *)((uintptr_t)e & ~(uintptr_t)4095);

		pfn = (uint64_t)((const char *)tbl - (const char *)pw_arena_base(pw_mm_arena(r->mm))) >> 12;
		if (pw_frame_meta(pw_mm_arena(r->mm), pfn)->ptl == 0)
			r->unlocked = true;
	}
	for (uint64_t x = a; x != n; x += 4096, e++) {
		r->n_run_ptes++;
		r->sum_run += x ^ pw_ptep_get(e).val;
	}
	return r->n_runs == r->stop_at_run ? 9 : 0;
}

TEST(pte_run_sees_what_pte_entry_sees)
{
	struct env e;
	struct pw_walk_ops by_pte = { .pte_entry = r_pte }, by_run = { .pte_run = r_run };
	struct pw_walk_ops both = { .pte_entry = r_pte, .pte_run = r_run };
	struct runs r = { 0 };
	uint64_t a = 0x40000000 - 8 * 4096; /* crosses a 1 GiB and a 2 MiB boundary */

	env_init(&e, 4, 64 << 20);
	r.mm = e.mm;
	map_pages(e.mm, a, 8 + 600);
	CHECK_EQ(pw_munmap(e.mm, a + 20 * 4096, 4096), 0); /* a gap between VMAs */
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_walk_page_range(e.mm, a, a + 608 * 4096, &by_pte, &r), 0);
	CHECK_EQ(pw_walk_page_range(e.mm, a, a + 608 * 4096, &by_run, &r), 0);
	CHECK_EQ(r.n_pte, 607);
	CHECK_EQ(r.n_run_ptes, r.n_pte);
	CHECK_EQ(r.sum_run, r.sum_pte);
	/*
	 * Runs break at PTE tables (the 608 pages span three: 8 + 512 + 88
	 * pages) and at VMA edges (page 20 is unmapped): [a, a+8p), [a+8p,
	 * a+20p), [a+21p, a+520p), [a+520p, a+608p).
	 */
	CHECK_EQ(r.n_runs, 4);
	CHECK(!r.bad_run);
	CHECK(!r.unlocked);
	/* the novma walk and the VMA walk give the same runs */
	r.n_runs = 0;
	r.n_run_ptes = 0;
	CHECK_EQ(pw_walk_page_range_novma(e.mm, a, a + 608 * 4096, &by_run, PW_ROOT_DEFAULT, &r), 0);
	CHECK_EQ(r.n_run_ptes, 608); /* no VMAs: the unmapped page's PTE (none) too */
	CHECK_EQ(r.n_runs, 3);	     /* one per PTE table */
	r.n_runs = 0;
	CHECK_EQ(pw_walk_page_vma(pw_vma_lookup(e.mm, a), &by_run, &r), 0);
	CHECK_EQ(r.n_runs, 2); /* [a, a+8p), [a+8p, a+20p) */
	/* a positive return stops the walk and is returned */
	r.n_runs = 0;
	r.stop_at_run = 2;
	CHECK_EQ(pw_walk_page_range(e.mm, a, a + 608 * 4096, &by_run, &r), 9);
	CHECK_EQ(r.n_runs, 2);
	/* both callbacks at once is an error, for every walker, and calls nothing */
	r.n_runs = 0;
	r.n_pte = 0;
	CHECK_EQ(pw_walk_page_range(e.mm, a, a + 4096, &both, &r), -EINVAL);
	CHECK_EQ(pw_walk_page_vma(pw_vma_lookup(e.mm, a), &both, &r), -EINVAL);
	CHECK_EQ(pw_walk_page_range_novma(e.mm, a, a + 4096, &both, PW_ROOT_DEFAULT, &r), -EINVAL);
	CHECK_EQ(r.n_runs + r.n_pte, 0);
	pw_mmap_read_unlock(e.mm);
	env_fini(&e);
}

int main(void)
{
	alarm(60);
	tap_start();
	for (int pass = 0; pass < 2; pass++) {
		inlined = pass == 1;
		tap_diag("pte_entry %s", inlined ? "inlined (PW_DEFINE_PTE_RUN)" : "called per PTE");
		RUN(terminates_at_top_4level);
		RUN(terminates_at_top_5level);
		RUN(vma_walk_to_top);
		RUN(action_continue_from_pgd_is_ignored);
		RUN(action_continue_from_pmd_and_pud_skips_below);
		RUN(action_again_recalls_until_state_changes);
		RUN(post_vma_after_failed_walk_not_after_failed_pre);
		RUN(test_walk_skip_and_abort);
		RUN(pfnmap_skipped_by_range_walk_not_by_vma_walk);
		RUN(huge_leaf_never_reaches_pte_entry_nor_split);
		RUN(five_level_walk_and_hole_depths);
		RUN(odd_upper_entries);
		RUN(novma_walk_of_another_root);
		RUN(vma_gap_tables_not_read);
		tap_result(inlined ? swaps > 20 : swaps == 0, inlined ? "the inlined pass walked through PW_DEFINE_PTE_RUN" : "the first pass called pte_entry");
	}
	RUN(pte_run_sees_what_pte_entry_sees);
	return tap_done();
}
