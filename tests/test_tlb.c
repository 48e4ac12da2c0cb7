// SPDX-License-Identifier: MIT
/* Description: software TLB: hits, and flushes after unmap, mprotect and copy-on-write. */
#include <pagewalk/mm.h>
#include <pagewalk/tlb.h>

#include "../tests/tap.h"
#include "mm/mm.h"
#include <errno.h>

#define PG 4096ULL

struct env {
	struct pw_arena *a;
	struct pw_mm *mm;
	struct pw_tlb *tlb;
	struct pw_cpu cpu;
	uint64_t x;
};

static int env_init(struct env *e)
{
	int ret;

	e->cpu = PW_CPU_DEFAULT;
	if ((ret = pw_arena_create(16 << 20, &e->a)) || (ret = pw_mm_create(e->a, NULL, &e->mm)) ||
	    (ret = pw_tlb_create(e->mm, 256, &e->tlb)))
		return ret;
	e->cpu.tlb = e->tlb;
	return pw_mmap(e->mm, 0, 16 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &e->x);
}

static void env_fini(struct env *e)
{
	pw_tlb_destroy(e->tlb);
	pw_mm_destroy(e->mm);
	pw_arena_destroy(e->a);
}

static int wr(struct env *e, uint64_t addr)
{
	return pw_access(e->mm, &e->cpu, addr, PW_FAULT_WRITE | PW_FAULT_USER, NULL);
}

TEST(hits_and_bad_args)
{
	struct env e;
	struct pw_tlb_stats st;
	struct pw_tlb *t;

	REQUIRE_EQ(env_init(&e), 0);
	CHECK_EQ(pw_tlb_create(e.mm, 3, &t), -EINVAL);
	CHECK_EQ(pw_tlb_create(NULL, 4, &t), -EINVAL);
	/* a TLB caches one mm: using it with another is refused */
	struct pw_mm *other;
	REQUIRE_EQ(pw_mm_create(e.a, NULL, &other), 0);
	CHECK_EQ(pw_access(other, &e.cpu, e.x, PW_FAULT_USER, NULL), -EINVAL);
	pw_mm_destroy(other);
	CHECK_EQ(wr(&e, e.x), 0);
	CHECK_EQ(wr(&e, e.x + 8), 0);
	CHECK_EQ(pw_access(e.mm, &e.cpu, e.x + 16, PW_FAULT_USER, NULL), 0);
	pw_tlb_get_stats(e.tlb, &st);
	CHECK_EQ(st.hits, 2);
	CHECK(st.misses >= 1);
	pw_mmap_read_lock(e.mm);
	struct pw_translation tr;
	CHECK_EQ(pw_translate(e.mm, e.x, &tr), 0);
	pw_mmap_read_unlock(e.mm);
	CHECK(tr.entry & PW_D);
	pw_tlb_flush_all(e.tlb);
	CHECK_EQ(wr(&e, e.x), 0);
	pw_tlb_get_stats(e.tlb, &st);
	CHECK_EQ(st.hits, 2); /* flushed: a miss */
	env_fini(&e);
}

TEST(munmap_and_mprotect_flush)
{
	struct env e;
	struct pw_access_result r;
	uint64_t n0;

	REQUIRE_EQ(env_init(&e), 0);
	CHECK_EQ(wr(&e, e.x + PG), 0);
	CHECK_EQ(wr(&e, e.x + 2 * PG), 0);
	n0 = pw_mm_nr_tlb_flushes(e.mm);
	CHECK_EQ(pw_mprotect(e.mm, e.x, 16 * PG, PW_PROT_READ), 0);
	CHECK_EQ(pw_mm_nr_tlb_flushes(e.mm), n0 + 1); /* one batched flush */
	CHECK_EQ(pw_access(e.mm, &e.cpu, e.x + PG, PW_FAULT_WRITE | PW_FAULT_USER | PW_ACCESS_NOFAULT, &r),
		 -EFAULT);
	CHECK_EQ(r.pf_error, PW_PF_P | PW_PF_W | PW_PF_U);
	CHECK_EQ(pw_access(e.mm, &e.cpu, e.x + 2 * PG, PW_FAULT_USER, NULL), 0);
	CHECK_EQ(pw_munmap(e.mm, e.x + 2 * PG, PG), 0);
	CHECK_EQ(pw_access(e.mm, &e.cpu, e.x + 2 * PG, PW_FAULT_USER, NULL), -EFAULT);

	/* the same with the flush skipped: the stale entry lets the access through */
	CHECK_EQ(pw_mprotect(e.mm, e.x + 3 * PG, 13 * PG, PW_PROT_READ | PW_PROT_WRITE), 0);
	CHECK_EQ(wr(&e, e.x + 3 * PG), 0);
	pw_debug_skip_tlb_flush = true;
	CHECK_EQ(pw_munmap(e.mm, e.x + 3 * PG, PG), 0);
	CHECK_EQ(pw_access(e.mm, &e.cpu, e.x + 3 * PG, PW_FAULT_WRITE | PW_FAULT_USER, NULL), 0);
	pw_debug_skip_tlb_flush = false;
	env_fini(&e);
}

TEST(cow_flushes_old_translation)
{
	struct env e;
	struct pw_access_result r1, r2;
	struct pw_mm *child;

	REQUIRE_EQ(env_init(&e), 0);
	CHECK_EQ(pw_access(e.mm, &e.cpu, e.x, PW_FAULT_WRITE | PW_FAULT_USER, &r1), 0);
	REQUIRE_EQ(pw_mm_fork(e.mm, &child), 0);
	/* fork write-protected the parent and flushed: the write faults and copies */
	CHECK_EQ(pw_access(e.mm, &e.cpu, e.x, PW_FAULT_WRITE | PW_FAULT_USER, &r2), 0);
	CHECK(r1.phys != r2.phys);
	CHECK_EQ(pw_access(e.mm, &e.cpu, e.x, PW_FAULT_USER, &r1), 0);
	CHECK_EQ(r1.phys, r2.phys);
	pw_mm_destroy(child);
	env_fini(&e);
}

int main(void)
{
	tap_start();
	RUN(hits_and_bad_args);
	RUN(munmap_and_mprotect_flush);
	RUN(cow_flushes_old_translation);
	return tap_done();
}
