// SPDX-License-Identifier: MIT
/*
 * test_hugetlb_gup.c - GUP on hugetlb VMAs: references and pins taken on
 * the huge folio's head frame, 4 KiB frames returned, released by
 * pw_put_user_pages(); shared and private mappings, 2 MiB and 1 GiB pages,
 * a pinned page outliving its munmap, GUP-fast's fallback, device-exclusive
 * refused, bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagewalk/devx.h>
#include <pagewalk/gup.h>
#include <pagewalk/hugetlb.h>

#include "mm/mm.h"
#include "fixture.h"

#define G (1ULL << 30)
#define M2 (1ULL << 21)
#define RW (PW_PROT_READ | PW_PROT_WRITE)

static int32_t ref(struct pw_arena *a, uint64_t pfn)
{
	return __atomic_load_n(&pw_frame_meta(a, pfn)->refcount, __ATOMIC_RELAXED);
}

static int32_t pins(struct pw_arena *a, uint64_t pfn)
{
	return __atomic_load_n(&pw_frame_meta(a, pfn)->pincount, __ATOMIC_RELAXED);
}

static uint64_t leaf_pfn(struct pw_mm *mm, uint64_t addr)
{
	struct pw_translation t;
	int ret;

	pw_mmap_read_lock(mm);
	ret = pw_translate(mm, addr, &t);
	pw_mmap_read_unlock(mm);
	return ret ? 0 : t.phys >> 12;
}

/* Shared 2 MiB: pages across a huge-page boundary, references then pins. */
TEST(shared_2m)
{
	struct env e;
	struct pw_file *f;
	uint64_t addr, fr[4] = { 0 }, h0, h1;
	int32_t r0, r1;

	env_init(&e, 4, 64 * M2);
	if (pw_hugetlb_file_create(e.a, 4 * M2, M2, &f))
		abort();
	CHECK_EQ(pw_mmap_file(e.mm, 0, 4 * M2, RW, PW_MAP_SHARED, f, 0, &addr), 0);
	/* two pages at the end of huge page 0, two at the start of huge page 1 */
	CHECK_EQ(pw_get_user_pages(e.mm, addr + M2 - 2 * 4096, 4, PW_FOLL_WRITE, fr), 4);
	h0 = pw_file_page(f, 0);
	h1 = pw_file_page(f, 512);
	CHECK_EQ(h0 & 511, 0);
	CHECK_EQ(fr[0], h0 + 510);
	CHECK_EQ(fr[1], h0 + 511);
	CHECK_EQ(fr[2], h1);
	CHECK_EQ(fr[3], h1 + 1);
	CHECK_EQ(entry_of(e.mm, addr) & PW_PS, PW_PS); /* not split */
	CHECK_EQ(entry_of(e.mm, addr + M2) & PW_PS, PW_PS);
	r0 = ref(e.a, h0);
	r1 = ref(e.a, h1);
	CHECK_EQ(ref(e.a, h0 + 510), 0); /* tails carry no counts */
	/* the frames are the mapping's: a write through one is seen by the mm */
	((uint8_t *)pw_frame_ptr(e.a, fr[2]))[5] = 'Z';
	CHECK_EQ(peek(e.mm, addr + M2 + 5), 'Z');
	pw_put_user_pages(e.mm, fr, 4, 0);
	CHECK_EQ(ref(e.a, h0), r0 - 2);
	CHECK_EQ(ref(e.a, h1), r1 - 2);
	/* pins, through GUP-fast (its fallback takes hugetlb pages) */
	r0 = ref(e.a, h0);
	CHECK_EQ(pw_get_user_pages_fast(e.mm, addr + 7 * 4096, 3, PW_FOLL_PIN, fr), 3);
	CHECK_EQ(fr[0], h0 + 7);
	CHECK_EQ(fr[2], h0 + 9);
	CHECK_EQ(ref(e.a, h0), r0 + 3);
	CHECK_EQ(pins(e.a, h0), 3);
	pw_put_user_pages(e.mm, fr, 3, PW_FOLL_PIN);
	CHECK_EQ(ref(e.a, h0), r0);
	CHECK_EQ(pins(e.a, h0), 0);
	/* a pinned shared page survives munmap (the file holds it anyway) */
	CHECK_EQ(pw_get_user_pages(e.mm, addr + 3 * M2, 1, PW_FOLL_PIN | PW_FOLL_WRITE, fr), 1);
	CHECK_EQ(fr[0], pw_file_page(f, 3 * 512));
	CHECK_EQ(pw_munmap(e.mm, addr, 4 * M2), 0);
	CHECK_EQ(pins(e.a, pw_file_page(f, 3 * 512)), 1);
	pw_put_user_pages(e.mm, fr, 1, PW_FOLL_PIN);
	CHECK_EQ(pins(e.a, pw_file_page(f, 3 * 512)), 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	env_fini(&e);
}

/* Private 2 MiB: a read takes the cache's folio, a write its copy; a pin keeps the copy past munmap. */
TEST(private_2m)
{
	struct env e;
	struct pw_file *f;
	uint64_t addr, fr[2] = { 0 }, cache, copy, free_unmapped;
	int32_t rc;

	env_init(&e, 4, 64 * M2);
	if (pw_hugetlb_file_create(e.a, 2 * M2, M2, &f))
		abort();
	CHECK_EQ(pw_file_write(f, 100, "A", 1), 0);
	cache = pw_file_page(f, 0);
	rc = ref(e.a, cache);
	CHECK_EQ(pw_mmap_file(e.mm, 0, 2 * M2, RW, PW_MAP_PRIVATE, f, 0, &addr), 0);
	CHECK_EQ(pw_get_user_pages(e.mm, addr, 1, 0, fr), 1);
	CHECK_EQ(fr[0], cache);
	CHECK_EQ(ref(e.a, cache), rc + 2); /* the mapping and our reference */
	pw_put_user_pages(e.mm, fr, 1, 0);
	CHECK_EQ(ref(e.a, cache), rc + 1);
	/* a write pin breaks copy-on-write: the whole huge page is copied */
	CHECK_EQ(pw_get_user_pages(e.mm, addr + 4096, 2, PW_FOLL_WRITE | PW_FOLL_PIN, fr), 2);
	copy = leaf_pfn(e.mm, addr);
	CHECK(copy != cache);
	CHECK_EQ(copy & 511, 0);
	CHECK_EQ(fr[0], copy + 1);
	CHECK_EQ(fr[1], copy + 2);
	CHECK_EQ(ref(e.a, cache), rc); /* the mapping moved to the copy */
	CHECK_EQ(ref(e.a, copy), 1 + 2);
	CHECK_EQ(pins(e.a, copy), 2);
	CHECK_EQ(((uint8_t *)pw_frame_ptr(e.a, copy))[100], 'A');
	CHECK_EQ(entry_of(e.mm, addr) & (PW_PS | PW_RW), PW_PS | PW_RW);
	CHECK_EQ(pw_munmap(e.mm, addr, 2 * M2), 0);
	/* the copy is still allocated: only the pins hold it */
	CHECK_EQ(ref(e.a, copy), 2);
	CHECK(!(pw_frame_meta(e.a, copy)->flags & PW_FRAME_FREE));
	free_unmapped = pw_arena_free_frames(e.a);
	pw_put_user_pages(e.mm, fr, 1, PW_FOLL_PIN);
	CHECK_EQ(pw_arena_free_frames(e.a), free_unmapped);
	pw_put_user_pages(e.mm, fr + 1, 1, PW_FOLL_PIN);
	CHECK_EQ(pw_arena_free_frames(e.a), free_unmapped + 512); /* freed as one block at the last put */
	CHECK_EQ(pw_file_destroy(f), 0);
	env_fini(&e);
}

/* 1 GiB pages: the head is 2^18-aligned, frames inside it at 2 MiB alignment are tails. */
TEST(shared_1g)
{
	struct pw_arena *a;
	struct pw_mm *mm;
	struct pw_file *f;
	uint64_t free0, addr, fr[3], head;
	int32_t r;

	if (pw_arena_create(3 * G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, G, G, &f) || pw_mm_create(a, NULL, &mm))
		abort();
	CHECK_EQ(pw_mmap_file(mm, 0, G, RW, PW_MAP_SHARED | PW_MAP_HUGE_1G, f, 0, &addr), 0);
	CHECK_EQ(pw_get_user_pages(mm, addr + 5 * M2 - 4096, 3, PW_FOLL_PIN | PW_FOLL_WRITE, fr), 3);
	head = leaf_pfn(mm, addr);
	CHECK_EQ(head & ((1ULL << 18) - 1), 0);
	CHECK_EQ(fr[0], head + 5 * 512 - 1);
	CHECK_EQ(fr[1], head + 5 * 512); /* a 2 MiB-aligned tail */
	CHECK_EQ(entry_of(mm, addr) & PW_PS, PW_PS);
	r = ref(a, head);
	CHECK_EQ(pins(a, head), 3);
	pw_put_user_pages(mm, fr, 3, PW_FOLL_PIN);
	CHECK_EQ(ref(a, head), r - 3);
	CHECK_EQ(pins(a, head), 0);
	CHECK_EQ(pw_munmap(mm, addr, G), 0);
	pw_mm_destroy(mm);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

/* A range over an anonymous VMA then a hugetlb one; device-exclusive refused; bad input. */
TEST(mixed_and_bad)
{
	struct env e;
	struct pw_file *f;
	uint64_t addr = 8 * M2, fr[4] = { 0 }, head;
	int32_t r;

	env_init(&e, 4, 64 * M2);
	if (pw_hugetlb_file_create(e.a, 2 * M2, M2, &f))
		abort();
	CHECK_EQ(pw_mmap(e.mm, addr - 2 * 4096, 2 * 4096, RW, PW_MAP_PRIVATE | PW_MAP_FIXED,
			 NULL), 0);
	CHECK_EQ(pw_mmap_file(e.mm, addr, M2, RW, PW_MAP_SHARED | PW_MAP_FIXED, f, 0, NULL), 0);
	CHECK_EQ(pw_get_user_pages(e.mm, addr - 2 * 4096, 4, PW_FOLL_WRITE, fr), 4);
	head = pw_file_page(f, 0);
	CHECK_EQ(fr[2], head);
	CHECK_EQ(fr[3], head + 1);
	r = ref(e.a, head);
	pw_put_user_pages(e.mm, fr, 4, 0);
	CHECK_EQ(ref(e.a, head), r - 2);
	/* device-exclusive: the kernel refuses hugetlb folios */
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, addr, addr + 4096, NULL, fr), -EOPNOTSUPP);
	CHECK_EQ(pw_make_device_exclusive_range(e.mm, addr - 2 * 4096, addr + 4096, NULL, fr), 2);
	pw_put_user_pages(e.mm, fr, 2, 0);
	CHECK_EQ(peek(e.mm, addr - 4096), 0); /* restored from device-exclusive by the CPU access */
	/* a write to a read-only hugetlb VMA, PROT_NONE, unaligned start, no frames */
	CHECK_EQ(pw_mprotect(e.mm, addr, M2, PW_PROT_READ), 0);
	CHECK_EQ(pw_get_user_pages(e.mm, addr, 1, PW_FOLL_WRITE, fr), -EFAULT);
	CHECK_EQ(pw_get_user_pages(e.mm, addr, 1, 0, fr), 1);
	pw_put_user_pages(e.mm, fr, 1, 0);
	CHECK_EQ(pw_mprotect(e.mm, addr, M2, PW_PROT_NONE), 0);
	CHECK_EQ(pw_get_user_pages(e.mm, addr, 1, 0, fr), -EFAULT);
	CHECK_EQ(pw_get_user_pages(e.mm, addr + 1, 1, 0, fr), -EINVAL);
	CHECK_EQ(pw_get_user_pages(e.mm, addr, 1, 0, NULL), -EINVAL);
	CHECK_EQ(pw_get_user_pages(e.mm, addr, 1, 1u << 7, fr), -EINVAL);
	CHECK_EQ(ref(e.a, head), r - 2);
	CHECK_EQ(pins(e.a, head), 0);
	CHECK_EQ(pw_munmap(e.mm, addr - 2 * 4096, M2 + 2 * 4096), 0);
	CHECK_EQ(pw_file_destroy(f), 0);
	env_fini(&e);
}

int main(void)
{
	tap_start();
	RUN(shared_2m);
	RUN(private_2m);
	RUN(shared_1g);
	RUN(mixed_and_bad);
	return tap_done();
}
