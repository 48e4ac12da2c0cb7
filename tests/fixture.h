/* SPDX-License-Identifier: MIT */
/*
 * fixture.h - what several test programs share: an arena with one address
 * space that must give every frame back, and byte access through the
 * simulated MMU.
 */
#ifndef PAGEWALK_TESTS_FIXTURE_H
#define PAGEWALK_TESTS_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>

#include <pagewalk/mm.h>

#include "tap.h"

struct env {
	struct pw_arena *a;
	struct pw_mm *mm;
	uint64_t free0;
};

/* An arena of @bytes and an empty mm with @levels-level paging (aborts on failure). */
static inline void env_init(struct env *e, int levels, uint64_t bytes)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;

	cfg.levels = (uint8_t)levels;
	if (pw_arena_create(bytes, &e->a))
		abort();
	e->free0 = pw_arena_free_frames(e->a);
	if (pw_mm_create(e->a, &cfg, &e->mm))
		abort();
}

/* Destroy the mm and check that it gave back every frame. */
static inline void env_fini(struct env *e)
{
	pw_mm_destroy(e->mm);
	CHECK_EQ(pw_arena_free_frames(e->a), e->free0);
	pw_arena_destroy(e->a);
}

/* Write one byte at @addr as a user-mode store through pw_access(). */
static inline int poke(struct pw_mm *mm, uint64_t addr, uint8_t val)
{
	struct pw_access_result r;
	int ret = pw_access(mm, NULL, addr, PW_FAULT_WRITE | PW_FAULT_USER, &r);

	if (!ret)
		((uint8_t *)pw_arena_base(pw_mm_arena(mm)))[r.phys] = val;
	return ret;
}

/* Read one byte at @addr as a user-mode load: the byte, or a negative errno. */
static inline int peek(struct pw_mm *mm, uint64_t addr)
{
	struct pw_access_result r;
	int ret = pw_access(mm, NULL, addr, PW_FAULT_USER, &r);

	return ret ? ret : ((uint8_t *)pw_arena_base(pw_mm_arena(mm)))[r.phys];
}

/* The leaf entry mapping @addr, or 0. */
static inline uint64_t entry_of(struct pw_mm *mm, uint64_t addr)
{
	struct pw_translation t;
	int ret;

	pw_mmap_read_lock(mm);
	ret = pw_translate(mm, addr, &t);
	pw_mmap_read_unlock(mm);
	return ret ? 0 : t.entry;
}

#endif /* PAGEWALK_TESTS_FIXTURE_H */
