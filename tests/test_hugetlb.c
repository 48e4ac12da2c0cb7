// SPDX-License-Identifier: MIT
/*
 * test_hugetlb.c - hugetlb files and mappings, PMD table sharing and
 * unsharing, the hugetlb_entry walk, walk_page_mapping over sharers, bad
 * input (ptdumps compared before and after), 1 GiB pages.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagewalk/dirty.h>
#include <pagewalk/hugetlb.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/ptdump.h>

#include "mm/mm.h"
#include "fixture.h"

#define G (1ULL << 30)
#define M2 (1ULL << 21)

/* The PMD table frame the PUD entry of @addr points at (checked in the tables), or 0. */
static uint64_t pmd_table_of(struct pw_mm *mm, uint64_t addr)
{
	struct pw_pt_entry e;
	uint64_t pfn = 0;

	pw_mmap_read_lock(mm);
	if (pw_pt_descend(&mm->pt, addr, PW_LEVEL_PUD, &e, NULL) == PW_PT_TABLE &&
	    e.level == PW_LEVEL_PUD)
		pfn = pw_pt_next_pfn(&mm->pt, e.val);
	pw_mmap_read_unlock(mm);
	return pfn;
}

static int sharers(struct pw_mm *mm, uint64_t addr)
{
	int n;

	pw_mmap_read_lock(mm);
	n = pw_hugetlb_pmd_sharers(mm, addr);
	pw_mmap_read_unlock(mm);
	return n;
}

static char *dump(struct pw_mm *mm)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f || pw_ptdump(mm, f, NULL, NULL))
		abort();
	fclose(f);
	return buf;
}

static uint64_t phys_of(struct pw_mm *mm, uint64_t addr)
{
	struct pw_translation t;
	int ret;

	pw_mmap_read_lock(mm);
	ret = pw_translate(mm, addr, &t);
	pw_mmap_read_unlock(mm);
	return ret ? ~0ULL : t.phys;
}

TEST(file_create)
{
	struct pw_arena *a;
	struct pw_file *f;

	if (pw_arena_create(8 * M2, &a))
		abort();
	CHECK_EQ(pw_hugetlb_file_create(a, M2, 4096, &f), -EINVAL);
	CHECK_EQ(pw_hugetlb_file_create(a, M2 + 4096, M2, &f), -EINVAL);
	CHECK_EQ(pw_hugetlb_file_create(a, 0, M2, &f), -EINVAL);
	CHECK_EQ(pw_hugetlb_file_create(NULL, M2, M2, &f), -EINVAL);
	CHECK_EQ(pw_hugetlb_file_create(a, 2 * M2, M2, &f), 0);
	CHECK_EQ(pw_file_huge_page_size(f), M2);
	/* a write allocates a whole folio: one naturally aligned 2 MiB run */
	CHECK_EQ(pw_file_write(f, M2 + 5, "x", 1), 0);
	CHECK_EQ(pw_file_nr_cached(f), 512);
	CHECK_EQ(pw_file_page(f, 512) & 511, 0);
	CHECK_EQ(pw_file_page(f, 513), pw_file_page(f, 512) + 1);
	CHECK_EQ(pw_file_destroy(f), 0);
	pw_arena_destroy(a);
}

/* N address spaces share one PMD table; writes are seen; nothing leaks in any destroy order. */
static void sharing(int order)
{
	enum { N = 3 };
	struct pw_arena *a;
	struct pw_mm *mm[N];
	struct pw_file *f;
	uint64_t free0, base[N], table;

	if (pw_arena_create(3 * G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, G, M2, &f))
		abort();
	for (int i = 0; i < N; i++) {
		if (pw_mm_create(a, NULL, &mm[i]))
			abort();
		base[i] = (uint64_t)(i + 1) * 4 * G;
		CHECK_EQ(pw_mmap_file(mm[i], base[i], G, PW_PROT_READ | PW_PROT_WRITE,
				      PW_MAP_SHARED | PW_MAP_FIXED | PW_MAP_HUGETLB, f, 0, NULL), 0);
	}
	CHECK_EQ(poke(mm[0], base[0] + 3 * M2 + 7, 0x5a), 0);
	table = pmd_table_of(mm[0], base[0]);
	CHECK(table != 0);
	CHECK_EQ(pw_hugetlb_nr_shared_faults(mm[0]), 0);
	for (int i = 1; i < N; i++) {
		CHECK_EQ(peek(mm[i], base[i] + 3 * M2 + 7), 0x5a); /* the first sharer's write */
		CHECK_EQ(pmd_table_of(mm[i], base[i]), table);	/* the same table frame */
		CHECK_EQ(pw_hugetlb_nr_shared_faults(mm[i]), 1);
	}
	CHECK_EQ(sharers(mm[0], base[0]), N);
	/* a leaf is a PD entry with PS */
	CHECK(entry_of(mm[1], base[1]) == 0 || (entry_of(mm[1], base[1] + 3 * M2) & PW_PS));
	CHECK_EQ(poke(mm[2], base[2] + 9 * M2, 0x77), 0);
	CHECK_EQ(peek(mm[0], base[0] + 9 * M2), 0x77);
	CHECK_EQ(phys_of(mm[0], base[0] + 9 * M2), phys_of(mm[1], base[1] + 9 * M2));
	/* a fault after sharing fills the shared table for all */
	CHECK(entry_of(mm[1], base[1] + 9 * M2) & PW_PS);
	for (int k = 0; k < N; k++) {
		int i = order ? N - 1 - k : (k + 1) % N;

		pw_mm_destroy(mm[i]);
		for (int j = 0; j < N; j++)
			if (mm[j] && j != i && k < N - 1)
				CHECK_EQ(peek(mm[j], base[j] + 3 * M2 + 7), 0x5a);
		mm[i] = NULL;
		if (k < N - 1) {
			for (int j = 0; j < N; j++)
				if (mm[j])
					CHECK_EQ(sharers(mm[j], base[j]), N - 1 - k);
		}
	}
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

/* munmap of half of one sharer unshares it there; the others still share. */
TEST(unshare)
{
	struct pw_arena *a;
	struct pw_mm *m0, *m1, *m2;
	struct pw_file *f;
	uint64_t free0, t;

	if (pw_arena_create(3 * G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, G, M2, &f) || pw_mm_create(a, NULL, &m0) ||
	    pw_mm_create(a, NULL, &m1) || pw_mm_create(a, NULL, &m2))
		abort();
	CHECK_EQ(pw_mmap_file(m0, 4 * G, G, PW_PROT_READ | PW_PROT_WRITE,
			      PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(pw_mmap_file(m1, 8 * G, G, PW_PROT_READ | PW_PROT_WRITE,
			      PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(pw_mmap_file(m2, 12 * G, G, PW_PROT_READ | PW_PROT_WRITE,
			      PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(poke(m0, 4 * G + 600 * 0x100000ULL, 1), 0);
	CHECK_EQ(poke(m1, 8 * G, 2), 0);
	CHECK_EQ(poke(m2, 12 * G, 3), 0);
	t = pmd_table_of(m0, 4 * G);
	CHECK_EQ(sharers(m1, 8 * G), 3);
	CHECK_EQ(pw_munmap(m1, 8 * G + G / 2, G / 2), 0);
	CHECK_EQ(pmd_table_of(m1, 8 * G), 0); /* unshared: the PUD entry is gone */
	CHECK_EQ(sharers(m0, 4 * G), 2);
	CHECK_EQ(pmd_table_of(m2, 12 * G), t);
	CHECK_EQ(peek(m1, 8 * G), 3); /* refaults from the page cache, into a table of its own */
	CHECK(pmd_table_of(m1, 8 * G) != 0 && pmd_table_of(m1, 8 * G) != t);
	CHECK_EQ(sharers(m1, 8 * G), 1);
	CHECK_EQ(peek(m1, 8 * G + G / 2), -EFAULT);
	CHECK_EQ(peek(m2, 12 * G + 600 * 0x100000ULL), 1);
	/* mprotect of part of a shared range unshares it first */
	CHECK_EQ(pw_mprotect(m2, 12 * G, 2 * M2, PW_PROT_READ), 0);
	CHECK_EQ(sharers(m0, 4 * G), 1);
	CHECK_EQ(peek(m2, 12 * G), 3);
	CHECK(poke(m2, 12 * G, 4) < 0); /* read-only now */
	CHECK_EQ(poke(m2, 12 * G + 2 * M2, 4), 0);
	CHECK_EQ(peek(m0, 4 * G + 2 * M2), 4);
	pw_mm_destroy(m0);
	pw_mm_destroy(m2);
	pw_mm_destroy(m1);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(private_cow)
{
	struct env e;
	struct pw_file *f;
	uint64_t addr, p0;
	uint8_t b = 0;

	env_init(&e, 4, 64 * M2);
	if (pw_hugetlb_file_create(e.a, 4 * M2, M2, &f))
		abort();
	CHECK_EQ(pw_file_write(f, M2 + 10, "A", 1), 0);
	CHECK_EQ(pw_mmap_file(e.mm, 0, 4 * M2, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, f, 0,
			      &addr), 0);
	CHECK_EQ(addr & (M2 - 1), 0);
	CHECK_EQ(peek(e.mm, addr + M2 + 10), 'A');
	p0 = phys_of(e.mm, addr + M2);
	CHECK_EQ(p0 >> 12, pw_file_page(f, 512)); /* the cache's folio, read-only */
	CHECK_EQ(entry_of(e.mm, addr + M2) & PW_RW, 0);
	CHECK_EQ(poke(e.mm, addr + M2 + 11, 'B'), 0);
	CHECK(phys_of(e.mm, addr + M2) != p0);		      /* a copy of the whole page */
	CHECK_EQ(phys_of(e.mm, addr + M2) & (M2 - 1), 0);
	CHECK_EQ(peek(e.mm, addr + M2 + 10), 'A');
	CHECK_EQ(pw_file_read(f, M2 + 11, &b, 1), 0);
	CHECK_EQ(b, 0); /* the file is unchanged */
	CHECK_EQ(pw_hugetlb_pmd_sharers(NULL, 0), -EINVAL);
	CHECK_EQ(pw_munmap(e.mm, addr, 4 * M2), 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	env_fini(&e);
}

TEST(bad_input)
{
	struct env e;
	struct pw_file *f, *small, *plain;
	uint64_t addr;
	char *before, *after;

	env_init(&e, 4, 64 * M2);
	if (pw_hugetlb_file_create(e.a, 8 * M2, M2, &f) || pw_hugetlb_file_create(e.a, 2 * M2, M2, &small) ||
	    pw_file_create(e.a, 8 * M2, &plain))
		abort();
	CHECK_EQ(pw_mmap_file(e.mm, 64 * M2, 4 * M2, PW_PROT_READ | PW_PROT_WRITE,
			      PW_MAP_SHARED | PW_MAP_FIXED, f, 0, &addr), 0);
	CHECK_EQ(poke(e.mm, addr + M2, 9), 0);
	before = dump(e.mm);
	/* unaligned mmap: address, length, offset */
	CHECK_EQ(pw_mmap_file(e.mm, 80 * M2 + 4096, M2, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), -EINVAL);
	CHECK_EQ(pw_mmap_file(e.mm, 80 * M2, M2 + 4096, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), -EINVAL);
	CHECK_EQ(pw_mmap_file(e.mm, 80 * M2, M2, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_FIXED, f, 1, NULL), -EINVAL);
	/* mixing page sizes; hugetlb on a plain file */
	CHECK_EQ(pw_mmap_file(e.mm, 80 * M2, M2, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_HUGE_1G, f, 0, NULL), -EINVAL);
	CHECK_EQ(pw_mmap_file(e.mm, 80 * M2, M2, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_HUGETLB, plain, 0, NULL), -EINVAL);
	/* a file too small */
	CHECK_EQ(pw_mmap_file(e.mm, 80 * M2, 4 * M2, PW_PROT_READ, PW_MAP_SHARED, small, 0, NULL), -EINVAL);
	CHECK_EQ(pw_mmap_file(e.mm, 80 * M2, M2, PW_PROT_READ, PW_MAP_SHARED, small, 512 * 2, NULL), -EINVAL);
	/* a MAP_FIXED over part of the hugetlb VMA at an unaligned address */
	CHECK_EQ(pw_mmap(e.mm, addr + 4096, 4096, PW_PROT_READ, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), -EINVAL);
	/* unaligned munmap / mprotect */
	CHECK_EQ(pw_munmap(e.mm, addr + 4096, M2), -EINVAL);
	CHECK_EQ(pw_munmap(e.mm, addr, M2 + 4096), -EINVAL);
	CHECK_EQ(pw_mprotect(e.mm, addr + M2 / 2, M2, PW_PROT_READ), -EINVAL);
	CHECK_EQ(pw_mprotect(e.mm, addr, 4096, PW_PROT_READ), -EINVAL);
	after = dump(e.mm);
	CHECK(strcmp(after, before) == 0);
	free(after);
	CHECK_EQ(peek(e.mm, addr + M2), 9);
	/* aligned ones work */
	CHECK_EQ(pw_mprotect(e.mm, addr + M2, M2, PW_PROT_READ), 0);
	CHECK(poke(e.mm, addr + M2, 1) < 0);
	CHECK_EQ(pw_munmap(e.mm, addr + 3 * M2, M2), 0);
	CHECK_EQ(peek(e.mm, addr + 3 * M2), -EFAULT);
	free(before);
	CHECK_EQ(pw_munmap(e.mm, addr, 4 * M2), 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_file_destroy(small), 0);
	CHECK_EQ(pw_file_destroy(plain), 0);
	env_fini(&e);
}

struct hw {
	unsigned huge, holes, pmd, pte;
	uint64_t hmask, present;
};

static int h_entry(pw_pte_t *pte, uint64_t hmask, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct hw *h = walk->private;

	h->huge++;
	h->hmask = hmask;
	if (pw_entry_read((uint64_t *)pte) & PW_P)
		h->present++;
	(void)addr, (void)next;
	return 0;
}

static int h_hole(uint64_t addr, uint64_t next, int depth, struct pw_mm_walk *walk)
{
	struct hw *h = walk->private;

	if (depth == -1 && walk->vma)
		h->holes++;
	(void)addr, (void)next;
	return 0;
}

static int h_pmd(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	((struct hw *)walk->private)->pmd++;
	(void)pmd, (void)addr, (void)next;
	return 0;
}

TEST(walks)
{
	struct pw_arena *a;
	struct pw_mm *m0, *m1;
	struct pw_file *f;
	struct pw_walk_ops ops = { .hugetlb_entry = h_entry, .pte_hole = h_hole, .pmd_entry = h_pmd };
	struct pw_walk_ops plain = { .pmd_entry = h_pmd };
	struct hw h = { 0 };
	uint64_t free0;

	if (pw_arena_create(3 * G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, G, M2, &f) || pw_mm_create(a, NULL, &m0) || pw_mm_create(a, NULL, &m1))
		abort();
	CHECK_EQ(pw_mmap_file(m0, 4 * G, G, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_FIXED,
			      f, 0, NULL), 0);
	CHECK_EQ(pw_mmap_file(m1, 8 * G, G, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_FIXED,
			      f, 0, NULL), 0);
	/* nothing mapped yet: one -1 hole per huge page (no tables down there) */
	pw_mmap_read_lock(m0);
	CHECK_EQ(pw_walk_page_range(m0, 4 * G, 5 * G, &ops, &h), 0);
	pw_mmap_read_unlock(m0);
	CHECK_EQ(h.holes, 512);
	CHECK_EQ(h.huge, 0);
	CHECK_EQ(poke(m0, 4 * G, 1), 0);
	CHECK_EQ(poke(m1, 8 * G + 5 * M2, 1), 0);
	memset(&h, 0, sizeof(h));
	pw_mmap_read_lock(m0);
	CHECK_EQ(pw_walk_page_range(m0, 4 * G, 5 * G, &ops, &h), 0);
	CHECK_EQ(h.huge, 512);
	CHECK_EQ(h.present, 2); /* the other sharer's fault shows here too */
	CHECK_EQ(h.hmask, ~(M2 - 1));
	CHECK_EQ(h.pmd, 0);
	memset(&h, 0, sizeof(h));
	CHECK_EQ(pw_walk_page_range(m0, 4 * G, 5 * G, &plain, &h), 0);
	CHECK_EQ(h.pmd, 0); /* no hugetlb_entry: the VMA is passed over */
	pw_mmap_read_unlock(m0);
	/* walk_page_mapping visits every sharer */
	memset(&h, 0, sizeof(h));
	pw_i_mmap_lock_read(f);
	CHECK_EQ(pw_walk_page_mapping(f, 0, 1024, &ops, &h), 0);
	pw_i_mmap_unlock_read(f);
	CHECK_EQ(h.huge, 4);
	CHECK_EQ(h.present, 2);
	pw_mm_destroy(m0);
	pw_mm_destroy(m1);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(1g)
{
	struct pw_arena *a;
	struct pw_mm *mm;
	struct pw_file *f;
	struct pw_paging nog = PW_PAGING_DEFAULT;
	uint64_t free0, addr;

	if (pw_arena_create(3 * G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, G, G, &f) || pw_mm_create(a, NULL, &mm))
		abort();
	CHECK_EQ(pw_mmap_file(mm, 0, G, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_HUGE_1G, f,
			      0, &addr), 0);
	CHECK_EQ(addr & (G - 1), 0);
	CHECK_EQ(poke(mm, addr + 12345, 42), 0);
	CHECK_EQ(entry_of(mm, addr) & PW_PS, PW_PS);
	{
		struct pw_translation t;

		pw_mmap_read_lock(mm);
		CHECK_EQ(pw_translate(mm, addr + 7, &t), 0);
		pw_mmap_read_unlock(mm);
		CHECK_EQ(t.level, 2);
	}
	CHECK_EQ(pw_munmap(mm, addr, M2), -EINVAL);
	CHECK_EQ(pw_munmap(mm, addr, G), 0);
	pw_mm_destroy(mm);
	nog.pdpe1gb = false;
	if (pw_mm_create(a, &nog, &mm))
		abort();
	CHECK_EQ(pw_mmap_file(mm, 0, G, PW_PROT_READ, PW_MAP_SHARED, f, 0, NULL), -EINVAL);
	pw_mm_destroy(mm);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(sharing_destroy_first_to_last) { sharing(0); }
TEST(sharing_destroy_last_to_first) { sharing(1); }

/* Dirty tracking on a shared hugetlb file: one bit per 4 KiB page of a dirty huge page. */
TEST(dirty_tracking)
{
	struct pw_arena *a;
	struct pw_mm *m0, *m1;
	struct pw_file *f;
	uint64_t free0, bitmap[2048 / 64], start = 0, end = 0;

	if (pw_arena_create(3 * G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, G, M2, &f) || pw_mm_create(a, NULL, &m0) || pw_mm_create(a, NULL, &m1))
		abort();
	CHECK_EQ(pw_mmap_file(m0, 4 * G, G, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(pw_mmap_file(m1, 8 * G, G, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(poke(m0, 4 * G + M2 + 5, 1), 0); /* huge page 1 dirty */
	CHECK_EQ(peek(m1, 8 * G + 3 * M2), 0);	  /* huge page 3 clean */
	memset(bitmap, 0, sizeof(bitmap));
	/* pages 0 .. 2047 (huge pages 0-3): 512 bits of huge page 1 */
	CHECK_EQ(pw_clean_record_shared_mapping_range(f, 0, 2048, 0, bitmap, &start, &end), 512);
	CHECK_EQ(start, 512);
	CHECK_EQ(end, 1024);
	CHECK_EQ(bitmap[8], ~0ULL);
	CHECK_EQ(bitmap[7], 0);
	CHECK_EQ(bitmap[16], 0);
	CHECK_EQ(entry_of(m1, 8 * G + M2) & PW_D, 0); /* cleaned for both sharers */
	CHECK_EQ(pw_clean_record_shared_mapping_range(f, 0, 2048, 0, bitmap, &start, &end), 0);
	/* write-protect: the writable huge entry becomes read-only, a write faults it back */
	CHECK_EQ(pw_wp_shared_mapping_range(f, 0, 2048), 1);
	CHECK_EQ(entry_of(m0, 4 * G + M2) & PW_RW, 0);
	CHECK_EQ(poke(m1, 8 * G + M2, 2), 0);
	CHECK_EQ(entry_of(m0, 4 * G + M2) & (PW_RW | PW_D), PW_RW | PW_D);
	/* a range that cuts the huge page records its part and leaves it dirty */
	memset(bitmap, 0, sizeof(bitmap));
	start = end = 0;
	/* both sharers find it dirty (D stays): 256 pages each */
	CHECK_EQ(pw_clean_record_shared_mapping_range(f, 512, 256, 0, bitmap, &start, &end), 512);
	CHECK_EQ(end, 768);
	CHECK_EQ(bitmap[8] & bitmap[11], ~0ULL);
	CHECK_EQ(bitmap[12], 0);
	CHECK_EQ(entry_of(m0, 4 * G + M2) & PW_D, PW_D);
	pw_mm_destroy(m0);
	pw_mm_destroy(m1);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

/* hugetlb_entry was added last: every other field keeps its offset. */
TEST(ops_layout)
{
	CHECK_EQ(offsetof(struct pw_walk_ops, hugetlb_entry),
		 offsetof(struct pw_walk_ops, install_pte) + sizeof(void *));
	CHECK_EQ(sizeof(struct pw_walk_ops), offsetof(struct pw_walk_ops, hugetlb_entry) + sizeof(void *));
}

/* fork: a shared hugetlb mapping is refaulted (and shared) by the child; a private one is refused. */
TEST(fork)
{
	struct pw_arena *a;
	struct pw_mm *p, *c = NULL;
	struct pw_file *f;
	uint64_t free0;

	if (pw_arena_create(3 * G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, G, M2, &f) || pw_mm_create(a, NULL, &p))
		abort();
	CHECK_EQ(pw_mmap_file(p, 4 * G, G, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(poke(p, 4 * G + 8, 5), 0);
	CHECK_EQ(pw_mm_fork(p, &c), 0);
	CHECK_EQ(peek(c, 4 * G + 8), 5);
	CHECK_EQ(pmd_table_of(c, 4 * G), pmd_table_of(p, 4 * G));
	CHECK_EQ(sharers(p, 4 * G), 2);
	pw_mm_destroy(c);
	c = NULL;
	CHECK_EQ(pw_mmap_file(p, 12 * G, 2 * M2, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(poke(p, 12 * G + 8, 6), 0);
	CHECK_EQ(pw_mm_fork(p, &c), 0); /* private hugetlb: shared copy-on-write (test_hugetlb_fork.c) */
	CHECK_EQ(peek(c, 12 * G + 8), 6);
	pw_mm_destroy(c);
	/* mixing page sizes the other way: a 2 MiB file asked for as 1 GiB pages */
	CHECK_EQ(pw_mmap_file(p, 16 * G, G, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_HUGE_1G | PW_MAP_FIXED, f, 0, NULL), -EINVAL);
	pw_mm_destroy(p);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(file_create);
	RUN(sharing_destroy_first_to_last);
	RUN(sharing_destroy_last_to_first);
	RUN(unshare);
	RUN(private_cow);
	RUN(bad_input);
	RUN(walks);
	RUN(1g);
	RUN(dirty_tracking);
	RUN(ops_layout);
	RUN(fork);
	return tap_done();
}
