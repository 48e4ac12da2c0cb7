// SPDX-License-Identifier: MIT
/*
 * Description: the walker features of recent kernels. pw_folio_walk_start()
 * / _end() (the kernel's folio_walk): the leaf, frame and level found at
 * one address for 4 KiB, 2 MiB, PROT_NONE, unpopulated and non-present
 * entries, checked against pw_translate(); the leaf's lock is held until
 * pw_folio_walk_end() (a write fault on a page of the same PTE table waits
 * for it); bad input. install_pte in struct pw_walk_ops (6.14): missing
 * tables are built, none PTEs get what the callback returns (a mapping leaf
 * accounted as a fault's, a non-present marker), pte_entry sees the other
 * PTEs only, a non-zero return stops the walk with nothing installed,
 * refused values and walks; under the mmap read lock concurrently with
 * faults on the same range; every frame back at the end.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <pagewalk/file.h>
#include <pagewalk/folio.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>

#include "fixture.h"

#define MARKER (1ULL << 58) /* non-present data: P and PROT_NONE clear */

/* pw_folio_walk_start() of @a, checked against pw_translate(); the level, or -errno. */
static int folio_at(struct pw_mm *mm, uint64_t a)
{
	struct pw_folio_walk fw;
	struct pw_translation t;
	int ret;

	pw_mmap_read_lock(mm);
	ret = pw_folio_walk_start(&fw, pw_vma_lookup(mm, a), a, 0);
	if (!ret && (fw.entry & PW_SW_PROTNONE)) {
		/* PROT_NONE: no translation, the frame is still there */
		CHECK_EQ(pw_translate(mm, a, &t), -ENOENT);
		CHECK_EQ(fw.pfn, (fw.entry & 0xffffffffff000ULL) >> 12);
		pw_folio_walk_end(&fw);
		ret = (int)fw.level;
	} else if (!ret) {
		CHECK_EQ(pw_translate(mm, a, &t), 0);
		CHECK_EQ(fw.pfn, t.pfn);
		CHECK_EQ(fw.entry, t.entry);
		CHECK_EQ(*fw.entryp, t.entry);
		CHECK_EQ(fw.level, t.level);
		CHECK_EQ(fw.head_pfn, t.pfn & ~((1ULL << (9 * t.level)) - 1));
		CHECK(fw.frame == pw_frame_meta(pw_mm_arena(mm), fw.head_pfn));
		pw_folio_walk_end(&fw);
		ret = (int)fw.level;
	}
	pw_mmap_read_unlock(mm);
	return ret;
}

TEST(folio_walk_levels)
{
	struct env e;
	uint64_t a, h, n;

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 8 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &a), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 << 20, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_HUGE_2M, &h), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &n), 0);
	h = (h + (2 << 20) - 1) & ~((2ULL << 20) - 1);
	CHECK_EQ(poke(e.mm, a + 4096, 1), 0);
	CHECK_EQ(poke(e.mm, h, 1), 0);
	CHECK_EQ(poke(e.mm, n, 1), 0);
	CHECK_EQ(folio_at(e.mm, a + 4096 + 17), PW_LEVEL_PTE);
	CHECK_EQ(folio_at(e.mm, h + 5 * 4096 + 3), PW_LEVEL_PMD);
	CHECK_EQ(folio_at(e.mm, a), -ENOENT);		/* unpopulated PTE */
	CHECK_EQ(folio_at(e.mm, h + (2 << 20)), -ENOENT); /* unpopulated PMD */
	/* PROT_NONE keeps its frame: found, as the kernel's pte_present() says */
	CHECK_EQ(pw_mprotect(e.mm, n, 4 << 12, PW_PROT_NONE), 0);
	CHECK_EQ(folio_at(e.mm, n), PW_LEVEL_PTE);
	env_fini(&e);
}

struct writer {
	struct pw_mm *mm;
	uint64_t addr;
	int done;
};

static void *write_fault(void *arg)
{
	struct writer *w = arg;

	CHECK_EQ(poke(w->mm, w->addr, 7), 0);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* While a folio walk holds a PTE table's lock, a write fault in that table waits. */
TEST(folio_walk_holds_the_lock)
{
	struct env e;
	struct pw_folio_walk fw;
	struct writer w;
	pthread_t t;
	uint64_t a;

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 8 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &a), 0);
	CHECK_EQ(poke(e.mm, a, 1), 0);
	CHECK_EQ(peek(e.mm, a + 4096), 0); /* read-only: its first write faults */
	w = (struct writer){ .mm = e.mm, .addr = a + 4096 };
	pw_mmap_read_lock(e.mm);
	REQUIRE_EQ(pw_folio_walk_start(&fw, pw_vma_lookup(e.mm, a), a, 0), 0);
	REQUIRE_EQ(pthread_create(&t, NULL, write_fault, &w), 0);
	usleep(100 * 1000);
	CHECK_EQ(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE), 0); /* waiting for our lock */
	CHECK_EQ(*fw.entryp, fw.entry);
	pw_folio_walk_end(&fw);
	pw_mmap_read_unlock(e.mm);
	pthread_join(t, NULL);
	CHECK_EQ(w.done, 1);
	CHECK_EQ(peek(e.mm, a + 4096), 7);
	env_fini(&e);
}

TEST(folio_walk_bad_input)
{
	struct env e;
	struct pw_folio_walk fw;
	struct pw_vma *vma;
	uint64_t a;

	env_init(&e, 4, 64 << 20);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 2 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &a), 0);
	CHECK_EQ(poke(e.mm, a, 1), 0);
	pw_mmap_read_lock(e.mm);
	vma = pw_vma_lookup(e.mm, a);
	CHECK_EQ(pw_folio_walk_start(NULL, vma, a, 0), -EINVAL);
	CHECK_EQ(pw_folio_walk_start(&fw, NULL, a, 0), -EINVAL);
	CHECK_EQ(pw_folio_walk_start(&fw, vma, a + (2 << 12), 0), -EINVAL);
	CHECK_EQ(pw_folio_walk_start(&fw, vma, a - 1, 0), -EINVAL);
	CHECK_EQ(pw_folio_walk_start(&fw, vma, a, 1), -EINVAL);
	pw_mmap_read_unlock(e.mm);
	env_fini(&e);
}

/* ---- install_pte ---------------------------------------------------------- */

struct inst {
	struct pw_arena *arena;
	uint64_t stop_at;      /* install_pte returns 5 here */
	uint64_t bad_at;       /* installs a frame outside the arena here */
	bool frames;	       /* install mapping leaves of new frames, else markers */
	uint64_t installs, entries, present_seen, holes, huge;
};

static int inst_pte(uint64_t addr, uint64_t next, pw_pte_t *ptep, struct pw_mm_walk *walk)
{
	struct inst *in = walk->private;
	uint64_t pfn;

	if (addr == in->stop_at)
		return 5;
	if (addr == in->bad_at) {
		ptep->val = (pw_arena_nr_frames(in->arena) << 12) | PW_P | PW_US;
		return 0;
	}
	in->installs++;
	if (!in->frames) {
		ptep->val = MARKER;
		return 0;
	}
	if (pw_frame_alloc(in->arena, 0, &pfn))
		return -ENOMEM;
	/* the mapping takes over the allocation's reference */
	ptep->val = (pfn << 12) | PW_P | PW_RW | PW_US | PW_A | PW_D;
	return 0;
}

static int inst_entry(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct inst *in = walk->private;

	in->entries++;
	if (pw_ptep_get(pte).val & PW_P)
		in->present_seen++;
	return 0;
}

static int inst_hole(uint64_t addr, uint64_t next, int depth, struct pw_mm_walk *walk)
{
	struct inst *in = walk->private;

	if (walk->vma)
		in->holes++; /* none upper entries inside a VMA: there must be none */
	return 0;
}

static int inst_pmd(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct inst *in = walk->private;

	in->huge += pw_pmd_leaf(pw_pmdp_get(pmd));
	return 0;
}

static const struct pw_walk_ops inst_ops = {
	.install_pte = inst_pte,
	.pte_entry = inst_entry,
	.pte_hole = inst_hole,
	.pmd_entry = inst_pmd,
	.walk_lock = PW_WALK_WRLOCK,
};

static const struct pw_walk_ops inst_rd_ops = {
	.install_pte = inst_pte,
	.walk_lock = PW_WALK_RDLOCK,
};

TEST(install_pte_markers_and_frames)
{
	struct env e;
	struct pw_mm_stats st0, st1;
	struct inst in = { 0 };
	uint64_t a, b, free1;
	int n = 0;

	env_init(&e, 4, 64 << 20);
	in.arena = e.a;
	in.stop_at = in.bad_at = UINT64_MAX;
	REQUIRE_EQ(pw_mmap(e.mm, 0, 1024 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &a), 0);
	CHECK_EQ(poke(e.mm, a + 3 * 4096, 1), 0);
	pw_mm_get_stats(e.mm, &st0);
	/* markers over the whole VMA: tables built, pte_entry for the one populated PTE */
	pw_mmap_write_lock(e.mm);
	CHECK_EQ(pw_walk_page_range(e.mm, a, a + (1024 << 12), &inst_ops, &in), 0);
	pw_mmap_write_unlock(e.mm);
	CHECK_EQ(in.installs, 1023);
	CHECK_EQ(in.entries, 1);
	CHECK_EQ(in.present_seen, 1);
	CHECK_EQ(in.holes, 0); /* every missing table was built instead */
	pw_mm_get_stats(e.mm, &st1);
	CHECK(st1.pgtables > st0.pgtables);
	CHECK_EQ(st1.rss, st0.rss); /* markers map nothing */
	CHECK_EQ(entry_of(e.mm, a), 0);
	CHECK(peek(e.mm, a) < 0); /* a guard: no fault fills it */
	CHECK_EQ(entry_of(e.mm, a), 0);
	CHECK_EQ(peek(e.mm, a + 3 * 4096), 1);
	/* a second walk installs nothing: every PTE is there */
	in.installs = in.entries = 0;
	pw_mmap_write_lock(e.mm);
	CHECK_EQ(pw_walk_page_range(e.mm, a, a + (1024 << 12), &inst_ops, &in), 0);
	pw_mmap_write_unlock(e.mm);
	CHECK_EQ(in.installs, 0);
	CHECK_EQ(in.entries, 1024);
	CHECK_EQ(pw_munmap(e.mm, a, 1024 << 12), 0);

	/* mapping leaves of new frames: counted as a fault's, released by munmap */
	free1 = pw_arena_free_frames(e.a);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 16 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &b), 0);
	in = (struct inst){ .arena = e.a, .frames = true, .stop_at = b + 10 * 4096, .bad_at = UINT64_MAX };
	pw_mmap_write_lock(e.mm);
	CHECK_EQ(pw_walk_page_range(e.mm, b, b + (16 << 12), &inst_ops, &in), 5); /* stopped */
	pw_mmap_write_unlock(e.mm);
	CHECK_EQ(in.installs, 10);
	CHECK_EQ(entry_of(e.mm, b + 10 * 4096), 0); /* nothing installed where it stopped */
	CHECK(entry_of(e.mm, b + 9 * 4096) & PW_P);
	CHECK_EQ(poke(e.mm, b + 4096, 9), 0); /* writable at once: no fault */
	CHECK_EQ(peek(e.mm, b + 4096), 9);
	pw_mm_get_stats(e.mm, &st1);
	CHECK_EQ(st1.rss, 10);
	pw_mmap_read_lock(e.mm);
	{
		struct pw_folio_walk fw;

		REQUIRE_EQ(pw_folio_walk_start(&fw, pw_vma_lookup(e.mm, b), b, 0), 0);
		CHECK_EQ(fw.frame->mapcount, 1);
		CHECK_EQ(fw.frame->refcount, 1);
		pw_folio_walk_end(&fw);
	}
	pw_mmap_read_unlock(e.mm);
	/* a value it may not install: -EINVAL, that PTE left none */
	in.stop_at = UINT64_MAX;
	in.bad_at = b + 12 * 4096;
	pw_mmap_write_lock(e.mm);
	CHECK_EQ(pw_walk_page_range(e.mm, b, b + (16 << 12), &inst_ops, &in), -EINVAL);
	pw_mmap_write_unlock(e.mm);
	CHECK_EQ(entry_of(e.mm, b + 12 * 4096), 0);
	CHECK(entry_of(e.mm, b + 11 * 4096) & PW_P);
	CHECK_EQ(pw_munmap(e.mm, b, 16 << 12), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), free1 + 0);
	/* a huge leaf in the range: left whole, nothing installed under it */
	{
		uint64_t h;

		REQUIRE_EQ(pw_mmap(e.mm, 0, 4 << 20, PW_PROT_READ | PW_PROT_WRITE,
				   PW_MAP_PRIVATE | PW_MAP_HUGE_2M, &h), 0);
		h = (h + (2 << 20) - 1) & ~((2ULL << 20) - 1);
		CHECK_EQ(poke(e.mm, h, 1), 0);
		in = (struct inst){ .arena = e.a, .stop_at = UINT64_MAX, .bad_at = UINT64_MAX };
		pw_mmap_write_lock(e.mm);
		CHECK_EQ(pw_walk_page_range(e.mm, h, h + (2 << 20), &inst_ops, &in), 0);
		pw_mmap_write_unlock(e.mm);
		CHECK_EQ(in.huge, 1);
		CHECK_EQ(in.installs, 0);
		CHECK(entry_of(e.mm, h + 4096) & PW_PS);
		CHECK_EQ(peek(e.mm, h), 1);
	}
	(void)n;
	env_fini(&e);
}

static int run_noop(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return 0;
}

TEST(install_pte_refused)
{
	struct env e;
	struct pw_file *f;
	struct inst in = { .stop_at = UINT64_MAX, .bad_at = UINT64_MAX };
	struct pw_walk_ops with_run = { .install_pte = inst_pte, .pte_run = run_noop };
	struct pw_walk_ops lockless = { .install_pte = inst_pte, .walk_lock = PW_WALK_LOCKLESS };
	uint64_t a;

	env_init(&e, 4, 64 << 20);
	in.arena = e.a;
	REQUIRE_EQ(pw_file_create(e.a, 4 << 12, &f), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &a), 0);
	pw_mmap_write_lock(e.mm);
	CHECK_EQ(pw_walk_page_range(e.mm, a, a + (4 << 12), &with_run, &in), -EINVAL);
	CHECK_EQ(pw_walk_page_range(e.mm, a, a + (4 << 12), &lockless, &in), -EINVAL);
	CHECK_EQ(pw_walk_page_range_novma(e.mm, a, a + (4 << 12), &inst_ops, PW_ROOT_DEFAULT, &in),
		 -EINVAL);
	pw_mmap_write_unlock(e.mm);
	pw_i_mmap_lock_read(f);
	CHECK_EQ(pw_walk_page_mapping(f, 0, 4, &inst_ops, &in), -EINVAL);
	pw_i_mmap_unlock_read(f);
	CHECK_EQ(in.installs, 0);
	CHECK_EQ(entry_of(e.mm, a), 0);
	pw_mm_destroy(e.mm);
	e.mm = NULL;
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	pw_arena_destroy(e.a);
}

struct racer {
	struct pw_mm *mm;
	uint64_t base, pages;
};

static void *fault_all(void *arg)
{
	struct racer *r = arg;

	for (uint64_t i = 0; i < r->pages; i++)
		CHECK_EQ(poke(r->mm, r->base + ((r->pages - 1 - i) << 12), 3), 0);
	return NULL;
}

/* Under the read lock, installs race with faults: each PTE is filled once. */
TEST(install_pte_read_lock_vs_faults)
{
	enum { PAGES = 4096 };
	struct env e;
	struct inst in = { .frames = true, .stop_at = UINT64_MAX, .bad_at = UINT64_MAX };
	struct racer r;
	struct pw_mm_stats st;
	pthread_t t;
	uint64_t a, free1;

	env_init(&e, 4, 128 << 20);
	in.arena = e.a;
	free1 = pw_arena_free_frames(e.a);
	REQUIRE_EQ(pw_mmap(e.mm, 0, PAGES << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &a), 0);
	r = (struct racer){ .mm = e.mm, .base = a, .pages = PAGES };
	REQUIRE_EQ(pthread_create(&t, NULL, fault_all, &r), 0);
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_walk_page_range(e.mm, a, a + (PAGES << 12), &inst_rd_ops, &in), 0);
	pw_mmap_read_unlock(e.mm);
	pthread_join(t, NULL);
	pw_mm_get_stats(e.mm, &st);
	CHECK_EQ(st.rss, PAGES); /* each page mapped once, by one of the two */
	CHECK(in.installs <= PAGES);
	for (uint64_t i = 0; i < PAGES; i += 97)
		CHECK_EQ(peek(e.mm, a + (i << 12)), 3);
	CHECK_EQ(pw_munmap(e.mm, a, PAGES << 12), 0);
	CHECK_EQ(pw_arena_free_frames(e.a), free1);
	env_fini(&e);
}

int main(void)
{
	tap_start();
	RUN(folio_walk_levels);
	RUN(folio_walk_holds_the_lock);
	RUN(folio_walk_bad_input);
	RUN(install_pte_markers_and_frames);
	RUN(install_pte_refused);
	RUN(install_pte_read_lock_vs_faults);
	return tap_done();
}
