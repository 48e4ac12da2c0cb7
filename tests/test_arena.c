// SPDX-License-Identifier: MIT
/*
 * Description: the frame arena's buddy allocator: natural alignment, -ENOMEM
 * when full, merging back to the initial state, caller-owned memory.
 */
#include <pagewalk/phys.h>

#include "../tests/tap.h"
#include <errno.h>
#include <sys/mman.h>

TEST(natural_alignment)
{
	static const unsigned orders[] = { 0, PW_ORDER_2M, PW_ORDER_1G };
	struct pw_arena *a;
	uint64_t free0, pfn[3];

	/* 1 GiB needs an arena of at least 2 GiB (frame 0 is reserved). */
	REQUIRE_EQ(pw_arena_create(2ULL << 30, &a), 0);
	CHECK_EQ(pw_arena_nr_frames(a), (2ULL << 30) >> 12);
	free0 = pw_arena_free_frames(a);
	CHECK_EQ(free0, pw_arena_nr_frames(a) - 1);
	for (int i = 0; i < 3; i++) {
		REQUIRE_EQ(pw_frame_alloc(a, orders[i], &pfn[i]), 0);
		CHECK_EQ(pfn[i] & ((1ULL << orders[i]) - 1), 0);
		CHECK(pfn[i] != 0);
		CHECK(pfn[i] + (1ULL << orders[i]) <= pw_arena_nr_frames(a));
		CHECK_EQ(pw_frame_meta(a, pfn[i])->refcount, 1);
		CHECK_EQ(pw_frame_meta(a, pfn[i])->order, orders[i]);
		CHECK(pw_frame_ptr(a, pfn[i]) == (uint8_t *)pw_arena_base(a) + (pfn[i] << 12));
		CHECK(pw_phys_frame(pw_arena_phys(a), pfn[i]) == pw_frame_ptr(a, pfn[i]));
	}
	CHECK_EQ(pw_arena_free_frames(a), free0 - 1 - 512 - (1ULL << 18));
	/* Blocks do not overlap. */
	CHECK(pfn[0] < pfn[1] || pfn[0] >= pfn[1] + 512);
	CHECK(pfn[0] < pfn[2] || pfn[0] >= pfn[2] + (1ULL << 18));
	CHECK(pfn[1] < pfn[2] || pfn[1] >= pfn[2] + (1ULL << 18));
	/* Out of range: no metadata, no pointer. */
	CHECK(pw_frame_meta(a, pw_arena_nr_frames(a)) == NULL);
	CHECK(pw_frame_ptr(a, pw_arena_nr_frames(a)) == NULL);
	CHECK(pw_phys_frame(pw_arena_phys(a), pw_arena_nr_frames(a)) == NULL);
	CHECK_EQ(pw_frame_alloc(a, PW_MAX_ORDER + 1, &pfn[0]), -EINVAL);
	for (int i = 0; i < 3; i++)
		pw_frame_free(a, pfn[i], orders[i]);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(enomem_when_full_and_merge)
{
	struct pw_arena *a;
	uint64_t free0, n = 0, pfn, *got;

	REQUIRE_EQ(pw_arena_create(4 << 20, &a), 0); /* 1024 frames */
	free0 = pw_arena_free_frames(a);
	got = calloc(free0, sizeof(*got));
	REQUIRE(got);
	/* A 2 MiB block, then order-0 frames until nothing is left. */
	REQUIRE_EQ(pw_frame_alloc(a, PW_ORDER_2M, &pfn), 0);
	CHECK_EQ(pfn & 511, 0);
	CHECK_EQ(pw_frame_alloc(a, PW_ORDER_2M, &got[0]), -ENOMEM);
	while (n < free0 && pw_frame_alloc(a, 0, &got[n]) == 0)
		n++;
	CHECK_EQ(n, free0 - 512);
	CHECK_EQ(pw_arena_free_frames(a), 0);
	/* Failing allocations change nothing. */
	CHECK_EQ(pw_frame_alloc(a, 0, &got[n]), -ENOMEM);
	CHECK_EQ(pw_frame_alloc(a, 3, &got[n]), -ENOMEM);
	CHECK_EQ(pw_arena_free_frames(a), 0);
	/* Every frame is zero-filled when handed out. */
	CHECK(((uint64_t *)pw_frame_ptr(a, got[0]))[0] == 0);
	/* Free in an interleaved order; buddies must merge back to the 2 MiB block. */
	for (uint64_t i = 0; i < n; i += 2)
		pw_frame_free(a, got[i], 0);
	for (uint64_t i = 1; i < n; i += 2)
		pw_frame_free(a, got[i], 0);
	CHECK_EQ(pw_arena_free_frames(a), free0 - 512);
	/* Frames 256..511 merged into one order-8 block. */
	CHECK_EQ(pw_frame_alloc(a, 8, &got[0]), 0);
	CHECK_EQ(got[0], 256);
	pw_frame_free(a, got[0], 8);
	pw_frame_free(a, pfn, PW_ORDER_2M);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	/* Everything merged: the 2 MiB block and 256 + 128 + ... + 1 frames. */
	CHECK_EQ(pw_frame_alloc(a, PW_ORDER_2M, &got[0]), 0);
	CHECK_EQ(pw_frame_alloc(a, 8, &pfn), 0);
	CHECK_EQ(pw_frame_alloc(a, 7, &got[1]), 0);
	CHECK_EQ(pw_frame_alloc(a, 8, &got[2]), -ENOMEM);
	pw_frame_free(a, pfn, 8);
	pw_frame_free(a, got[1], 7);
	pw_frame_free(a, got[0], PW_ORDER_2M);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	free(got);
	pw_arena_destroy(a);
}

TEST(refcount_get_put_split)
{
	struct pw_arena *a;
	uint64_t free0, pfn;

	REQUIRE_EQ(pw_arena_create(8 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_frame_alloc(a, PW_ORDER_2M, &pfn), 0);
	CHECK(pw_frame_meta(a, pfn)->flags & PW_FRAME_HEAD);
	CHECK(pw_frame_meta(a, pfn + 1)->flags & PW_FRAME_TAIL);
	pw_frame_get(a, pfn);
	CHECK(!pw_frame_put(a, pfn));
	CHECK_EQ(pw_arena_free_frames(a), free0 - 512);
	/* Split into 4 KiB frames; each carries the head's refcount. */
	pw_frame_split(a, pfn, PW_ORDER_2M, 0);
	for (int i = 0; i < 512; i++)
		CHECK_EQ(pw_frame_meta(a, pfn + i)->refcount, 1);
	for (int i = 0; i < 512; i++)
		CHECK(pw_frame_put(a, pfn + i));
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(create_from_caller_memory)
{
	const uint64_t bytes = 1 << 20;
	struct pw_arena *a = NULL;
	uint64_t pfn;
	uint8_t *mem = mmap(NULL, bytes + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	REQUIRE(mem != MAP_FAILED);
	CHECK_EQ(pw_arena_create_from(mem + 8, bytes, 0, &a), -EINVAL);
	CHECK(a == NULL);
	CHECK_EQ(pw_arena_create_from(NULL, bytes, 0, &a), -EINVAL);
	CHECK_EQ(pw_arena_create_from(mem, 4096, 0, &a), -EINVAL); /* one frame is too small */
	CHECK_EQ(pw_arena_create_from(mem, bytes, 0x80, &a), -EINVAL);
	CHECK_EQ(pw_arena_create(4096, &a), -EINVAL);
	CHECK(a == NULL);
	/* Not zeroed: the allocator must clear what it hands out. */
	memset(mem, 0xa5, bytes + 4096);
	REQUIRE_EQ(pw_arena_create_from(mem, bytes + 100, 0, &a), 0);
	CHECK(pw_arena_base(a) == mem);
	CHECK_EQ(pw_arena_nr_frames(a), bytes >> 12);
	CHECK_EQ(pw_arena_free_frames(a), (bytes >> 12) - 1);
	REQUIRE_EQ(pw_frame_alloc(a, 2, &pfn), 0);
	for (uint64_t i = 0; i < 4 * 4096; i++)
		if (mem[(pfn << 12) + i]) {
			CHECK(!"allocated frame not zeroed");
			break;
		}
	pw_frame_free(a, pfn, 2);
	pw_arena_destroy(a);
	/* The caller's memory is still ours after destroy. */
	mem[0] = 1;
	CHECK_EQ(mem[0], 1);
	munmap(mem, bytes + 4096);
}

int main(void)
{
	tap_start();
	RUN(natural_alignment);
	RUN(enomem_when_full_and_merge);
	RUN(refcount_get_put_split);
	RUN(create_from_caller_memory);
	return tap_done();
}
