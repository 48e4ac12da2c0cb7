// SPDX-License-Identifier: MIT
/* Description: files: page cache, shared and private file mappings, faults, reverse map. */
#include <pagewalk/file.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>

#include "../tests/tap.h"
#include "fixture.h"
#include <errno.h>

#define PG 4096ULL


TEST(shared_mapping_sees_file_and_other_mm)
{
	struct pw_arena *a;
	struct pw_mm *m1, *m2;
	struct pw_file *f;
	uint64_t x, y, free0;
	uint8_t buf[3] = { 7, 8, 9 }, out[3];

	REQUIRE_EQ(pw_arena_create(64 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_file_create(a, 16 * PG, &f), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &m1), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &m2), 0);
	CHECK_EQ(pw_file_write(f, 5 * PG + 10, buf, 3), 0);
	REQUIRE_EQ(pw_mmap_file(m1, 0, 8 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, f, 4, &x), 0);
	REQUIRE_EQ(pw_mmap_file(m2, 0, 16 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, f, 0, &y), 0);
	CHECK_EQ(pw_file_nr_vmas(f), 2);
	/* file page 5 is page 1 of m1's mapping */
	CHECK_EQ(peek(m1, x + PG + 11), 8);
	/* read fault of a shared writable mapping: mapped read-only (write-notify) */
	CHECK(!(entry_of(m1, x + PG) & PW_RW));
	CHECK_EQ(poke(m1, x + PG + 12, 42), 0);
	CHECK((entry_of(m1, x + PG) & (PW_RW | PW_D)) == (PW_RW | PW_D));
	CHECK(pw_frame_meta(a, pw_file_page(f, 5))->flags & PW_FRAME_DIRTY);
	CHECK_EQ(peek(m2, y + 5 * PG + 12), 42);
	CHECK_EQ(pw_file_read(f, 5 * PG + 10, out, 3), 0);
	CHECK_EQ(out[2], 42);
	/* same frame, two mappings, one cache reference */
	struct pw_frame *fr = pw_frame_meta(a, pw_file_page(f, 5));
	CHECK_EQ(fr->mapcount, 2);
	CHECK_EQ(fr->refcount, 3);
	CHECK_EQ(fr->index, 5);
	/* past the end of the file: SIGBUS */
	CHECK_EQ(pw_munmap(m1, x, 8 * PG), 0);
	REQUIRE_EQ(pw_mmap_file(m1, 0, 4 * PG, PW_PROT_READ, PW_MAP_SHARED, f, 14, &x), 0);
	CHECK_EQ(peek(m1, x + PG), 0);
	CHECK_EQ(peek(m1, x + 2 * PG), -EFAULT);
	CHECK_EQ(pw_file_destroy(f), -EBUSY);
	pw_mm_destroy(m1);
	pw_mm_destroy(m2);
	CHECK_EQ(pw_file_nr_vmas(f), 0);
	CHECK_EQ(fr->mapcount, 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(private_mapping_copies_on_write)
{
	struct pw_arena *a;
	struct pw_mm *mm;
	struct pw_file *f;
	uint64_t x, free0;
	uint8_t b = 5, out;

	REQUIRE_EQ(pw_arena_create(64 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_file_create(a, 4 * PG, &f), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &mm), 0);
	CHECK_EQ(pw_file_write(f, 0, &b, 1), 0);
	REQUIRE_EQ(pw_mmap_file(mm, 0, 4 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, f, 0, &x), 0);
	CHECK_EQ(peek(mm, x), 5);
	uint64_t cache = pw_file_page(f, 0);
	CHECK_EQ(pw_entry_pfn(0, entry_of(mm, x), 46), cache);
	CHECK(!(entry_of(mm, x) & PW_RW));
	/* write after read: copy-on-write of the cached page */
	CHECK_EQ(poke(mm, x + 1, 6), 0);
	CHECK(pw_entry_pfn(0, entry_of(mm, x), 46) != cache);
	CHECK_EQ(peek(mm, x), 5);
	CHECK_EQ(peek(mm, x + 1), 6);
	CHECK_EQ(pw_file_read(f, 1, &out, 1), 0);
	CHECK_EQ(out, 0); /* the file did not change */
	CHECK_EQ(pw_frame_meta(a, cache)->mapcount, 0);
	CHECK_EQ(pw_frame_meta(a, cache)->refcount, 1);
	/* write fault on a missing page: a copy straight away */
	CHECK_EQ(poke(mm, x + 2 * PG, 9), 0);
	CHECK(pw_entry_pfn(0, entry_of(mm, x + 2 * PG), 46) != pw_file_page(f, 2));
	CHECK(pw_file_page(f, 2) != 0);
	CHECK_EQ(pw_file_read(f, 2 * PG, &out, 1), 0);
	CHECK_EQ(out, 0);
	/* a second write reuses the private copy */
	uint64_t copy = pw_entry_pfn(0, entry_of(mm, x + 2 * PG), 46);
	CHECK_EQ(poke(mm, x + 2 * PG + 1, 1), 0);
	CHECK_EQ(pw_entry_pfn(0, entry_of(mm, x + 2 * PG), 46), copy);
	pw_mm_destroy(mm);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(bad_arguments)
{
	struct pw_arena *a;
	struct pw_mm *mm;
	struct pw_file *f;
	uint64_t x;
	uint8_t b = 0;

	REQUIRE_EQ(pw_arena_create(16 << 20, &a), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &mm), 0);
	CHECK_EQ(pw_file_create(a, 0, &f), -EINVAL);
	REQUIRE_EQ(pw_file_create(a, 3 * PG + 1, &f), 0);
	CHECK_EQ(pw_file_nr_pages(f), 4);
	CHECK_EQ(pw_file_write(f, 3 * PG + 1, &b, 1), -EINVAL);
	CHECK_EQ(pw_file_read(f, 3 * PG, &b, 2), -EINVAL);
	CHECK_EQ(pw_mmap_file(mm, 0, PG, PW_PROT_READ, PW_MAP_SHARED, NULL, 0, &x), -EINVAL);
	CHECK_EQ(pw_mmap_file(mm, 0, 1 << 21, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_HUGE_2M, f, 0, &x), -EINVAL);
	CHECK_EQ(pw_mmap_file(mm, 0, PG, PW_PROT_READ, PW_MAP_SHARED, f, UINT64_MAX, &x), -EINVAL);
	CHECK_EQ(pw_file_nr_vmas(f), 0);
	/* splitting a file VMA keeps both halves in the reverse map */
	REQUIRE_EQ(pw_mmap_file(mm, 0, 4 * PG, PW_PROT_READ, PW_MAP_SHARED, f, 0, &x), 0);
	CHECK_EQ(pw_munmap(mm, x + PG, PG), 0);
	CHECK_EQ(pw_file_nr_vmas(f), 2);
	CHECK_EQ(pw_munmap(mm, x, 4 * PG), 0);
	CHECK_EQ(pw_file_nr_vmas(f), 0);
	pw_mm_destroy(mm);
	CHECK_EQ(pw_file_destroy(f), 0);
	pw_arena_destroy(a);
}

/*
 * A PTE table shared by an anonymous VMA and a file VMA stays when munmap
 * of the anonymous one empties it: a mapping walk holding only the i_mmap
 * lock may be reading it. Without the file VMA it is freed as before.
 */
TEST(munmap_keeps_tables_under_file_vmas)
{
	struct pw_arena *a;
	struct pw_mm *mm;
	struct pw_file *f;
	struct pw_mm_stats s0, s1;
	uint64_t base = 1ULL << 30;

	REQUIRE_EQ(pw_arena_create(16 << 20, &a), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &mm), 0);
	REQUIRE_EQ(pw_file_create(a, 8 * PG, &f), 0);
	REQUIRE_EQ(pw_mmap(mm, base, 8 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	REQUIRE_EQ(pw_mmap_file(mm, base + 8 * PG, 8 * PG, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(poke(mm, base, 1), 0);
	pw_mm_get_stats(mm, &s0);
	CHECK_EQ(pw_munmap(mm, base, 8 * PG), 0);
	pw_mm_get_stats(mm, &s1);
	CHECK_EQ(s1.pgtables, s0.pgtables);	/* kept for the file VMA */
	CHECK_EQ(peek(mm, base + 9 * PG), 0);	/* and used again */
	CHECK_EQ(pw_munmap(mm, base + 8 * PG, 8 * PG), 0);
	pw_mm_get_stats(mm, &s1);
	CHECK_EQ(s1.pgtables, 1);		/* the last VMA: everything goes */
	/* the same without a file VMA next to it: freed at once */
	REQUIRE_EQ(pw_mmap(mm, base, 8 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	REQUIRE_EQ(pw_mmap(mm, base + 8 * PG, 8 * PG, PW_PROT_READ, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	CHECK_EQ(poke(mm, base, 1), 0);
	CHECK_EQ(pw_munmap(mm, base, 8 * PG), 0);
	pw_mm_get_stats(mm, &s1);
	CHECK_EQ(s1.pgtables, 1);
	pw_mm_destroy(mm);
	CHECK_EQ(pw_file_destroy(f), 0);
	pw_arena_destroy(a);
}

/* ---- the reverse map against a brute-force model ---------------------- */

#define NMAP 96

struct model {
	struct pw_mm *mm;
	uint64_t addr, pgoff, npages;
	bool live;
};

struct seen {
	int n;
	uint64_t addr[NMAP], pgoff[NMAP];
	struct pw_mm *mm[NMAP];
};

static int seen_pre(uint64_t start, uint64_t end, struct pw_mm_walk *walk)
{
	struct seen *s = walk->private;

	if (s->n < NMAP) {
		s->addr[s->n] = walk->vma->vm_start;
		s->pgoff[s->n] = walk->vma->vm_pgoff;
		s->mm[s->n] = walk->mm;
	}
	s->n++;
	return 0;
}

TEST(reverse_map_matches_model)
{
	struct pw_arena *a;
	struct pw_file *f;
	struct pw_mm *mms[3];
	struct model m[NMAP];
	const struct pw_walk_ops ops = { .pre_vma = seen_pre };
	int bad = 0;

	REQUIRE_EQ(pw_arena_create(16 << 20, &a), 0);
	REQUIRE_EQ(pw_file_create(a, 4096 * PG, &f), 0);
	for (int i = 0; i < 3; i++)
		REQUIRE_EQ(pw_mm_create(a, NULL, &mms[i]), 0);
	for (int i = 0; i < NMAP; i++) {
		m[i].mm = mms[i % 3];
		m[i].pgoff = tap_rand() % 4000;
		m[i].npages = 1 + tap_rand() % 64;
		m[i].live = true;
		REQUIRE_EQ(pw_mmap_file(m[i].mm, 0, m[i].npages * PG, PW_PROT_READ, PW_MAP_SHARED, f, m[i].pgoff,
					&m[i].addr), 0);
	}
	for (int step = 0; step < 200; step++) {
		if (step % 4 == 3) { /* unmap one, or map it again */
			int i = (int)(tap_rand() % NMAP);

			if (m[i].live)
				CHECK_EQ(pw_munmap(m[i].mm, m[i].addr, m[i].npages * PG), 0);
			else
				CHECK_EQ(pw_mmap_file(m[i].mm, 0, m[i].npages * PG, PW_PROT_READ, PW_MAP_SHARED, f,
						      m[i].pgoff, &m[i].addr), 0);
			m[i].live = !m[i].live;
		}
		uint64_t first = tap_rand() % 4100, nr = 1 + tap_rand() % (step % 2 ? 8 : 600);
		struct seen s = { 0 };
		int want = 0;

		pw_i_mmap_lock_read(f);
		CHECK_EQ(pw_walk_page_mapping(f, first, nr, &ops, &s), 0);
		pw_i_mmap_unlock_read(f);
		for (int i = 0; i < NMAP; i++) {
			if (!m[i].live || m[i].pgoff >= first + nr || m[i].pgoff + m[i].npages <= first)
				continue;
			want++;
			int found = 0;
			for (int j = 0; j < s.n && j < NMAP; j++)
				found += s.mm[j] == m[i].mm && s.addr[j] == m[i].addr;
			bad += found != 1;
		}
		bad += s.n != want;
		for (int j = 1; j < s.n && j < NMAP; j++)
			bad += s.pgoff[j] < s.pgoff[j - 1]; /* in page-offset order */
		if (bad)
			break;
	}
	CHECK_EQ(bad, 0);
	/* a split VMA: both halves, nothing for the hole between them */
	uint64_t x;
	REQUIRE_EQ(pw_mmap_file(mms[0], 0, 10 * PG, PW_PROT_READ, PW_MAP_SHARED, f, 4090, &x), 0);
	CHECK_EQ(pw_munmap(mms[0], x + 5 * PG, PG), 0);
	static const uint64_t q[][3] = { { 4095, 1, 0 }, { 4094, 3, 2 }, { 4099, 1, 1 }, { 4090, 10, 2 } };
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		struct seen sn = { 0 };
		int in_range = 0;

		pw_i_mmap_lock_read(f);
		CHECK_EQ(pw_walk_page_mapping(f, q[i][0], q[i][1], &ops, &sn), 0);
		pw_i_mmap_unlock_read(f);
		for (int j = 0; j < sn.n && j < NMAP; j++)
			in_range += sn.mm[j] == mms[0] && sn.addr[j] >= x && sn.addr[j] < x + 10 * PG;
		CHECK_EQ(in_range, q[i][2]);
	}
	for (int i = 0; i < 3; i++)
		pw_mm_destroy(mms[i]);
	CHECK_EQ(pw_file_nr_vmas(f), 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	tap_seed("test_file");
	RUN(shared_mapping_sees_file_and_other_mm);
	RUN(private_mapping_copies_on_write);
	RUN(bad_arguments);
	RUN(munmap_keeps_tables_under_file_vmas);
	RUN(reverse_map_matches_model);
	return tap_done();
}
