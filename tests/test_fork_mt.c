// SPDX-License-Identifier: MIT
/*
 * Description: copy-on-write under concurrency: after a fork, threads in
 * the parent and the child write the same shared pages at once; each side
 * must see only its own writes, and freeing both frees every frame.
 */
#include <pthread.h>

#include <pagewalk/mm.h>

#include "../tests/tap.h"

#define PG 4096ULL
#define NPAGES 64

struct side {
	pthread_t t;
	struct pw_mm *mm;
	uint64_t x;
	uint8_t val;
	int errors;
};

static void *writer(void *arg)
{
	struct side *s = arg;
	uint8_t *base = pw_arena_base(pw_mm_arena(s->mm));

	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < NPAGES; i++) {
			struct pw_access_result r;

			if (pw_access(s->mm, NULL, s->x + (uint64_t)i * PG + (uint64_t)round,
				      PW_FAULT_WRITE | PW_FAULT_USER, &r))
				s->errors++;
			else
				base[r.phys] = s->val;
		}
	}
	return NULL;
}

static int check_side(struct side *s)
{
	uint8_t *base = pw_arena_base(pw_mm_arena(s->mm));
	int bad = 0;

	for (int i = 0; i < NPAGES; i++) {
		for (int round = 0; round < 4; round++) {
			struct pw_access_result r;

			if (pw_access(s->mm, NULL, s->x + (uint64_t)i * PG + (uint64_t)round, PW_FAULT_USER, &r) ||
			    base[r.phys] != s->val)
				bad++;
		}
		/* a byte nobody wrote after the fork keeps the parent's old value */
		struct pw_access_result r;
		if (pw_access(s->mm, NULL, s->x + (uint64_t)i * PG + 100, PW_FAULT_USER, &r) ||
		    base[r.phys] != (uint8_t)i)
			bad++;
	}
	return bad;
}

TEST(parent_and_child_write_at_once)
{
	struct pw_arena *a;
	struct side p = { .val = 0xaa }, c = { .val = 0x55 };
	uint64_t free0;
	uint8_t *base;

	REQUIRE_EQ(pw_arena_create(16 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	base = pw_arena_base(a);
	REQUIRE_EQ(pw_mm_create(a, NULL, &p.mm), 0);
	REQUIRE_EQ(pw_mmap(p.mm, 0, NPAGES * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &p.x), 0);
	for (int i = 0; i < NPAGES; i++) {
		struct pw_access_result r;

		REQUIRE_EQ(pw_access(p.mm, NULL, p.x + (uint64_t)i * PG + 100, PW_FAULT_WRITE, &r), 0);
		base[r.phys] = (uint8_t)i;
	}
	for (int iter = 0; iter < 3; iter++) {
		REQUIRE_EQ(pw_mm_fork(p.mm, &c.mm), 0);
		c.x = p.x;
		REQUIRE_EQ(pthread_create(&p.t, NULL, writer, &p), 0);
		REQUIRE_EQ(pthread_create(&c.t, NULL, writer, &c), 0);
		pthread_join(p.t, NULL);
		pthread_join(c.t, NULL);
		CHECK_EQ(p.errors + c.errors, 0);
		CHECK_EQ(check_side(&p), 0);
		CHECK_EQ(check_side(&c), 0);
		pw_mm_destroy(c.mm);
		p.val++;
		c.val++;
	}
	pw_mm_destroy(p.mm);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(parent_and_child_write_at_once);
	return tap_done();
}
