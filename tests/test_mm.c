// SPDX-License-Identifier: MIT
/*
 * Description: the address space under memory pressure and the simulated
 * MMU. A full arena (failing faults and POPULATE leave no trace), munmap
 * freeing empty tables, splitting huge leaves on partial munmap, destroy
 * returning every frame; pw_access() against the SDM's rules (U/S, R/W with
 * CR0.WP, NX, SMEP, SMAP/AC, reserved bits, not present, A and D).
 */
#include <pagewalk/mm.h>
#include <pagewalk/ptdump.h>

#include "../tests/tap.h"
#include "fixture.h"
#include <errno.h>

#define RW (PW_PROT_READ | PW_PROT_WRITE)
#define PF (PW_MAP_PRIVATE | PW_MAP_FIXED)


/* Everything observable: tables (JSON ptdump), VMAs, counters, free frames. */
static char *snap(struct env *e)
{
	struct pw_ptdump_opts o = { .format = PW_PTDUMP_JSON };
	struct pw_mm_stats st;
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		abort();
	pw_ptdump(e->mm, f, &o, NULL);
	pw_mm_get_stats(e->mm, &st);
	fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", st.pgtables, st.rss,
		st.nr_vmas, st.mapped, pw_arena_free_frames(e->a));
	fclose(f);
	return buf;
}

static struct pw_mm_stats stats(struct pw_mm *mm)
{
	struct pw_mm_stats st;

	pw_mm_get_stats(mm, &st);
	return st;
}

static int translate(struct pw_mm *mm, uint64_t addr, struct pw_translation *t)
{
	int r;

	pw_mmap_read_lock(mm);
	r = pw_translate(mm, addr, t);
	pw_mmap_read_unlock(mm);
	return r;
}

/* ---- a full arena --------------------------------------------------------- */

TEST(full_arena_failed_fault_leaves_no_trace)
{
	for (int levels = 4; levels <= 5; levels++) {
		struct env e;
		uint64_t base = 0x40000000, i;
		int r = 0, failures = 0;

		env_init(&e, levels, 1 << 20); /* 255 usable frames */
		CHECK_EQ(pw_mmap(e.mm, base, 1ULL << 30, RW, PF, NULL), 0);
		/* One page per 2 MiB: every fault needs a PTE table and a page. */
		for (i = 0; i < 512; i++) {
			char *before = snap(&e);

			r = pw_access(e.mm, NULL, base + i * PW_PMD_SIZE, PW_FAULT_WRITE | PW_FAULT_USER, NULL);
			if (r) {
				char *after = snap(&e);

				CHECK_EQ(r, -ENOMEM);
				CHECK(strcmp(before, after) == 0);
				failures++;
				free(after);
				free(before);
				break;
			}
			free(before);
		}
		CHECK_EQ(failures, 1);
		CHECK(i > 100);
		CHECK(pw_arena_free_frames(e.a) < 2);
		/* The fault handler directly: same. */
		{
			char *before = snap(&e);

			pw_mmap_read_lock(e.mm);
			CHECK_EQ(pw_handle_mm_fault(e.mm, base + (i + 1) * PW_PMD_SIZE, PW_FAULT_WRITE), -ENOMEM);
			pw_mmap_read_unlock(e.mm);
			char *after = snap(&e);

			CHECK(strcmp(before, after) == 0);
			free(before);
			free(after);
		}
		/* A page in an existing PTE table needs one frame: it may still fit. */
		if (pw_arena_free_frames(e.a) == 1)
			CHECK_EQ(pw_access(e.mm, NULL, base + 4096, PW_FAULT_WRITE, NULL), 0);
		CHECK_EQ(pw_munmap(e.mm, base, 1ULL << 30), 0);
		CHECK_EQ(stats(e.mm).pgtables, 1);
		CHECK_EQ(stats(e.mm).rss, 0);
		env_fini(&e);
	}
}

TEST(populate_failure_leaves_no_mapping)
{
	struct env e;
	struct pw_vma *vma;
	char *before, *after;

	env_init(&e, 4, 1 << 20);
	CHECK_EQ(pw_mmap(e.mm, 0x10000000, 4 * 4096, RW, PF | PW_MAP_POPULATE, NULL), 0);
	before = snap(&e);
	/* 300 pages do not fit in 255 frames. */
	CHECK_EQ(pw_mmap(e.mm, 0x20000000, 300 * 4096, RW, PF | PW_MAP_POPULATE, NULL), -ENOMEM);
	after = snap(&e);
	CHECK(strcmp(before, after) == 0);
	pw_mmap_read_lock(e.mm);
	vma = pw_find_vma(e.mm, 0x20000000);
	CHECK(vma == NULL);
	pw_mmap_read_unlock(e.mm);
	free(after);
	/* FIXED over a mapping: the new one goes again, the old one stays replaced. */
	CHECK_EQ(pw_mmap(e.mm, 0x10000000, 300 * 4096, RW, PF | PW_MAP_POPULATE, NULL), -ENOMEM);
	CHECK_EQ(stats(e.mm).nr_vmas, 0);
	CHECK_EQ(stats(e.mm).rss, 0);
	CHECK_EQ(stats(e.mm).pgtables, 1);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0 - 1);
	CHECK_EQ(pw_mmap(e.mm, 0x10000000, 4 * 4096, RW, PF | PW_MAP_POPULATE, NULL), 0);
	/* Not FIXED, a 2 MiB leaf that cannot be had, and not 512 pages either. */
	CHECK_EQ(pw_mmap(e.mm, 0, PW_PMD_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_HUGE_2M | PW_MAP_POPULATE,
			 NULL), -ENOMEM);
	after = snap(&e);
	CHECK(strcmp(before, after) == 0);
	free(after);
	free(before);
	env_fini(&e);
}

/*
 * POPULATE next to a huge mapping of the same kind: a populated 2 MiB leaf
 * must not reach into the neighbour, or removing the failed mapping would
 * leave pages (and tables) there.
 */
TEST(populate_failure_next_to_huge_neighbour)
{
	struct env e;
	uint64_t nb = 0x40000000, p, n = 0;
	char *before, *after;

	env_init(&e, 4, 16 << 20);
	CHECK_EQ(pw_mmap(e.mm, nb, 1 << 20, RW, PF | PW_MAP_HUGE_2M, NULL), 0);
	/* Take every frame, then give back one 2 MiB block and four frames. */
	while (pw_frame_alloc(e.a, 0, &p) == 0)
		n++;
	for (p = 1024; p < 1024 + 512; p++)
		pw_frame_free(e.a, p, 0);
	for (p = 2048; p < 2052; p++)
		pw_frame_free(e.a, p, 0);
	before = snap(&e);
	CHECK_EQ(pw_mmap(e.mm, nb + (1 << 20), 3 << 20, RW, PF | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL),
		 -ENOMEM);
	after = snap(&e);
	CHECK(strcmp(before, after) == 0);
	free(before);
	free(after);
	/* With room, the populated mapping merges with its neighbour as usual. */
	pw_mm_destroy(e.mm);
	for (p = 1; p < pw_arena_nr_frames(e.a); p++)
		if (!(pw_frame_meta(e.a, p)->flags & PW_FRAME_FREE) && pw_frame_meta(e.a, p)->refcount == 1)
			pw_frame_free(e.a, p, 0);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
	CHECK_EQ(pw_mm_create(e.a, NULL, &e.mm), 0);
	CHECK_EQ(pw_mmap(e.mm, nb, 1 << 20, RW, PF | PW_MAP_HUGE_2M, NULL), 0);
	CHECK_EQ(pw_mmap(e.mm, nb + (1 << 20), 3 << 20, RW, PF | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(stats(e.mm).nr_vmas, 1);
	env_fini(&e);
}

/* ---- munmap and tables ------------------------------------------------------ */

TEST(munmap_frees_empty_tables)
{
	for (int levels = 4; levels <= 5; levels++) {
		struct env e;
		uint64_t a = 0x0000100000000000ULL, b = a + PW_PMD_SIZE, f1;

		env_init(&e, levels, 16 << 20);
		CHECK_EQ(stats(e.mm).pgtables, 1);
		CHECK_EQ(pw_mmap(e.mm, a, 2 * PW_PMD_SIZE, RW, PF, NULL), 0);
		CHECK_EQ(pw_access(e.mm, NULL, a, PW_FAULT_WRITE, NULL), 0);
		CHECK_EQ(stats(e.mm).pgtables, (uint64_t)levels); /* root + one table per level below */
		CHECK_EQ(pw_arena_free_frames(e.a), e.free0 - levels - 1);
		/* A second PTE table under the same PMD table. */
		CHECK_EQ(pw_access(e.mm, NULL, b, PW_FAULT_WRITE, NULL), 0);
		CHECK_EQ(stats(e.mm).pgtables, (uint64_t)levels + 1);
		f1 = pw_arena_free_frames(e.a);
		/* Unmapping b's page frees the page and its (now empty) PTE table only. */
		CHECK_EQ(pw_munmap(e.mm, b, 4096), 0);
		CHECK_EQ(stats(e.mm).pgtables, (uint64_t)levels);
		CHECK_EQ(pw_arena_free_frames(e.a), f1 + 2);
		/* A PTE table that still has an entry stays. */
		CHECK_EQ(pw_access(e.mm, NULL, a + 4096, 0, NULL), 0);
		CHECK_EQ(pw_munmap(e.mm, a, 4096), 0);
		CHECK_EQ(stats(e.mm).pgtables, (uint64_t)levels);
		CHECK_EQ(stats(e.mm).rss, 1);
		/* The last page: everything down to the root goes. */
		CHECK_EQ(pw_munmap(e.mm, a, 2 * PW_PMD_SIZE), 0);
		CHECK_EQ(stats(e.mm).pgtables, 1);
		CHECK_EQ(stats(e.mm).rss, 0);
		CHECK_EQ(stats(e.mm).nr_vmas, 0);
		CHECK_EQ(pw_arena_free_frames(e.a), e.free0 - 1);
		env_fini(&e);
	}
}

TEST(partial_munmap_splits_2m_leaf)
{
	struct env e;
	struct pw_translation t, t2;
	uint64_t a = 0x40000000, f0, pg0, phys10;

	env_init(&e, 4, 16 << 20);
	CHECK_EQ(pw_mmap(e.mm, a, PW_PMD_SIZE, RW, PF | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL), 0);
	REQUIRE_EQ(translate(e.mm, a, &t), 0);
	REQUIRE_EQ(t.level, 1);
	phys10 = t.phys + 10 * 4096;
	CHECK_EQ(stats(e.mm).rss, 512);
	f0 = pw_arena_free_frames(e.a);
	pg0 = stats(e.mm).pgtables;
	/* Three pages out of the middle: a PTE table appears, 3 frames go back. */
	CHECK_EQ(pw_munmap(e.mm, a + 100 * 4096, 3 * 4096), 0);
	CHECK_EQ(stats(e.mm).pgtables, pg0 + 1);
	CHECK_EQ(pw_arena_free_frames(e.a), f0 + 3 - 1);
	CHECK_EQ(stats(e.mm).rss, 509);
	CHECK_EQ(stats(e.mm).nr_vmas, 2);
	/* The rest keeps its frames, now through 4 KiB entries. */
	CHECK_EQ(translate(e.mm, a + 10 * 4096, &t2), 0);
	CHECK_EQ(t2.level, 0);
	CHECK_EQ(t2.phys, phys10);
	CHECK(t2.writable && t2.user && !t2.exec);
	CHECK_EQ(translate(e.mm, a + 101 * 4096, &t2), -ENOENT);
	CHECK_EQ(translate(e.mm, a + 103 * 4096, &t2), 0);
	CHECK_EQ(t2.phys, t.phys + 103 * 4096);
	/* Unmapping the rest returns all frames and the tables. */
	CHECK_EQ(pw_munmap(e.mm, a, PW_PMD_SIZE), 0);
	CHECK_EQ(stats(e.mm).rss, 0);
	CHECK_EQ(stats(e.mm).pgtables, 1);
	CHECK_EQ(pw_arena_free_frames(e.a), e.free0 - 1);
	env_fini(&e);
}

TEST(partial_munmap_splits_1g_leaf)
{
	struct env e;
	struct pw_translation t;
	uint64_t a = 0x40000000, f0, pg0;

	env_init(&e, 5, 3ULL << 30);
	CHECK_EQ(pw_mmap(e.mm, a, PW_PUD_SIZE, RW, PF | PW_MAP_HUGE_1G, NULL), 0);
	CHECK_EQ(pw_access(e.mm, NULL, a, PW_FAULT_WRITE, NULL), 0);
	REQUIRE_EQ(translate(e.mm, a + 5 * PW_PMD_SIZE, &t), 0);
	REQUIRE_EQ(t.level, 2);
	f0 = pw_arena_free_frames(e.a);
	pg0 = stats(e.mm).pgtables;
	/* One page: 1 GiB -> 512 x 2 MiB (a PMD table) -> one of them to PTEs. */
	CHECK_EQ(pw_munmap(e.mm, a + 5 * PW_PMD_SIZE + 4096, 4096), 0);
	CHECK_EQ(stats(e.mm).pgtables, pg0 + 2);
	CHECK_EQ(pw_arena_free_frames(e.a), f0 + 1 - 2);
	CHECK_EQ(stats(e.mm).rss, (1u << 18) - 1);
	CHECK_EQ(translate(e.mm, a + 6 * PW_PMD_SIZE, &t), 0);
	CHECK_EQ(t.level, 1);
	CHECK_EQ(translate(e.mm, a + 5 * PW_PMD_SIZE, &t), 0);
	CHECK_EQ(t.level, 0);
	/* mprotect of one 2 MiB piece keeps it a 2 MiB leaf, read-only. */
	CHECK_EQ(pw_mprotect(e.mm, a + 8 * PW_PMD_SIZE, PW_PMD_SIZE, PW_PROT_READ), 0);
	CHECK_EQ(translate(e.mm, a + 8 * PW_PMD_SIZE, &t), 0);
	CHECK_EQ(t.level, 1);
	CHECK(!t.writable);
	env_fini(&e);
}

/* ---- pw_access() against SDM 4.6 ------------------------------------------ */

#define U_RW 0x10000000ULL   /* user RW, NX */
#define U_RO 0x10001000ULL   /* user read-only */
#define U_RX 0x10002000ULL   /* user read + exec */
#define S_RW 0x20000000ULL   /* supervisor RW */
#define S_RO 0x20001000ULL   /* supervisor read-only */
#define S_RX 0x20002000ULL   /* supervisor read + exec */
#define LAZY 0x30000000ULL   /* mapped, never touched */

static void access_env(struct env *e)
{
	env_init(e, 4, 16 << 20);
	CHECK_EQ(pw_mmap(e->mm, U_RW, 4096, RW, PF | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, U_RO, 4096, PW_PROT_READ, PF | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, U_RX, 4096, PW_PROT_READ | PW_PROT_EXEC, PF | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, S_RW, 4096, RW, PF | PW_MAP_SUPERVISOR | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, S_RO, 4096, PW_PROT_READ, PF | PW_MAP_SUPERVISOR | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, S_RX, 4096, PW_PROT_READ | PW_PROT_EXEC,
			 PF | PW_MAP_SUPERVISOR | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, LAZY, 4096, RW, PF, NULL), 0);
}

/* Raw access: 0 when it succeeds, F(error code) when it faults. */
#define F(err) ((err) | 0x80000000u)
static uint32_t raw(struct pw_mm *mm, const struct pw_cpu *cpu, uint64_t addr, unsigned kind)
{
	struct pw_access_result r;
	int ret = pw_access(mm, cpu, addr, kind | PW_ACCESS_NOFAULT, &r);

	if (ret == 0)
		return r.nr_faults ? 0xbad : 0;
	if (ret != -EFAULT || r.nr_faults != 1)
		return 0xdead;
	return F(r.pf_error);
}

#define W PW_FAULT_WRITE
#define X PW_FAULT_EXEC
#define US PW_FAULT_USER

TEST(access_user_supervisor_rw_nx)
{
	struct env e;
	struct pw_cpu cpu = PW_CPU_DEFAULT;

	access_env(&e);
	/* User mode. */
	CHECK_EQ(raw(e.mm, &cpu, U_RW, US), 0);
	CHECK_EQ(raw(e.mm, &cpu, U_RW, US | W), 0);
	CHECK_EQ(raw(e.mm, &cpu, U_RW, US | X), F(PW_PF_P | PW_PF_U | PW_PF_I));	/* NX */
	CHECK_EQ(raw(e.mm, &cpu, U_RO, US | W), F(PW_PF_P | PW_PF_U | PW_PF_W));	/* read-only */
	CHECK_EQ(raw(e.mm, &cpu, U_RX, US | X), 0);
	CHECK_EQ(raw(e.mm, &cpu, S_RW, US), F(PW_PF_P | PW_PF_U));			/* supervisor page */
	CHECK_EQ(raw(e.mm, &cpu, S_RW, US | W), F(PW_PF_P | PW_PF_U | PW_PF_W));
	CHECK_EQ(raw(e.mm, &cpu, S_RX, US | X), F(PW_PF_P | PW_PF_U | PW_PF_I));
	/* Supervisor mode, CR0.WP on: read-only is read-only for everyone. */
	CHECK_EQ(raw(e.mm, &cpu, S_RW, W), 0);
	CHECK_EQ(raw(e.mm, &cpu, S_RO, W), F(PW_PF_P | PW_PF_W));
	CHECK_EQ(raw(e.mm, &cpu, U_RO, W), F(PW_PF_P | PW_PF_W));
	CHECK_EQ(raw(e.mm, &cpu, S_RW, X), F(PW_PF_P | PW_PF_I));			/* NX */
	CHECK_EQ(raw(e.mm, &cpu, S_RX, X), 0);
	CHECK_EQ(raw(e.mm, &cpu, U_RW, 0), 0);					/* no SMAP */
	CHECK_EQ(raw(e.mm, &cpu, U_RX, X), 0);					/* no SMEP */
	/* CR0.WP off: supervisor writes ignore R/W; user writes do not. */
	cpu.wp = false;
	CHECK_EQ(raw(e.mm, &cpu, S_RO, W), 0);
	CHECK_EQ(raw(e.mm, &cpu, U_RO, W), 0);
	CHECK_EQ(raw(e.mm, &cpu, U_RO, US | W), F(PW_PF_P | PW_PF_U | PW_PF_W));
	env_fini(&e);
}

TEST(access_smep_smap)
{
	struct env e;
	struct pw_cpu cpu = PW_CPU_DEFAULT;

	access_env(&e);
	cpu.smep = true;
	CHECK_EQ(raw(e.mm, &cpu, U_RX, X), F(PW_PF_P | PW_PF_I));	/* supervisor fetch from a user page */
	CHECK_EQ(raw(e.mm, &cpu, S_RX, X), 0);
	CHECK_EQ(raw(e.mm, &cpu, U_RX, US | X), 0);		/* user fetches are not affected */
	CHECK_EQ(raw(e.mm, &cpu, U_RW, 0), 0);			/* SMEP is about fetches only */
	cpu.smep = false;
	cpu.smap = true;
	CHECK_EQ(raw(e.mm, &cpu, U_RW, 0), F(PW_PF_P));		/* supervisor read of a user page */
	CHECK_EQ(raw(e.mm, &cpu, U_RW, W), F(PW_PF_P | PW_PF_W));
	CHECK_EQ(raw(e.mm, &cpu, S_RW, W), 0);			/* supervisor pages are fine */
	CHECK_EQ(raw(e.mm, &cpu, U_RW, US | W), 0);		/* user accesses are not affected */
	CHECK_EQ(raw(e.mm, &cpu, U_RX, X), 0);			/* fetches: SMEP's business */
	cpu.ac = true;						/* EFLAGS.AC: SMAP off for data */
	CHECK_EQ(raw(e.mm, &cpu, U_RW, 0), 0);
	CHECK_EQ(raw(e.mm, &cpu, U_RW, W), 0);
	CHECK_EQ(raw(e.mm, &cpu, U_RO, W), F(PW_PF_P | PW_PF_W));	/* but WP still applies */
	env_fini(&e);
}

/* Entry of @addr at @level, read from the arena. */
static uint64_t *entry_at(struct pw_mm *mm, uint64_t addr, int level)
{
	uint64_t pfn = pw_mm_root(mm), *e = NULL;

	for (int l = pw_mm_paging(mm)->levels - 1; l >= level; l--) {
		e = (uint64_t *)pw_frame_ptr(pw_mm_arena(mm), pfn) + pw_index(l, addr);
		pfn = pw_entry_pfn(l, *e, 46);
	}
	return e;
}

TEST(access_reserved_and_not_present)
{
	struct env e;
	struct pw_access_result r;
	struct pw_translation t;
	uint64_t *pte, *pmd, old;

	access_env(&e);
	/* Not present: P clear in the error code; NOFAULT leaves it unmapped. */
	CHECK_EQ(raw(e.mm, NULL, LAZY, US), F(PW_PF_U));
	CHECK_EQ(raw(e.mm, NULL, LAZY, US | W), F(PW_PF_U | PW_PF_W));
	CHECK_EQ(raw(e.mm, NULL, 0x50000000, 0), F(0));	/* no VMA, still just "not present" */
	CHECK_EQ(translate(e.mm, LAZY, &t), -ENOENT);
	/* Without NOFAULT the handler resolves it: one fault, then success. */
	CHECK_EQ(pw_access(e.mm, NULL, LAZY, US | W, &r), 0);
	CHECK_EQ(r.nr_faults, 1);
	CHECK_EQ(r.pf_error, PW_PF_U | PW_PF_W);
	CHECK_EQ(translate(e.mm, LAZY, &t), 0);
	CHECK_EQ(r.phys, t.phys);
	/* A reserved bit in the PTE: RSVD | P, and no handler can fix it. */
	pw_mmap_read_lock(e.mm);
	pte = entry_at(e.mm, U_RW, 0);
	pmd = entry_at(e.mm, U_RW, 1);
	pw_mmap_read_unlock(e.mm);
	old = *pte;
	*pte |= 1ULL << 51;
	CHECK_EQ(raw(e.mm, NULL, U_RW, US), F(PW_PF_P | PW_PF_RSVD | PW_PF_U));
	CHECK_EQ(pw_access(e.mm, NULL, U_RW, US | W, &r), -EFAULT);
	CHECK_EQ(r.pf_error, PW_PF_P | PW_PF_RSVD | PW_PF_U | PW_PF_W);
	CHECK_EQ(r.nr_faults, 1);
	CHECK_EQ(translate(e.mm, U_RW, &t), -EIO);
	*pte = old;
	/* In an upper entry: the same, even though the leaf is fine. */
	old = *pmd;
	*pmd |= 1ULL << 47;
	CHECK_EQ(raw(e.mm, NULL, U_RO, 0), F(PW_PF_P | PW_PF_RSVD));
	*pmd = old | PW_PS | (1ULL << 13); /* a 2 MiB leaf with bit 13 set: reserved */
	CHECK_EQ(raw(e.mm, NULL, U_RO, 0), F(PW_PF_P | PW_PF_RSVD));
	*pmd = old;
	CHECK_EQ(raw(e.mm, NULL, U_RO, US), 0);
	/* NX with EFER.NXE: covered above; non-canonical is a #GP, not a #PF. */
	CHECK_EQ(pw_access(e.mm, NULL, 0x0000800000000000ULL, 0, &r), -ERANGE);
	env_fini(&e);
}

TEST(access_sets_accessed_and_dirty)
{
	struct env e;
	uint64_t *ent[4];

	access_env(&e);
	pw_mmap_read_lock(e.mm);
	for (int l = 0; l < 4; l++)
		ent[l] = entry_at(e.mm, U_RW, l);
	pw_mmap_read_unlock(e.mm);
	for (int l = 0; l < 4; l++)
		*ent[l] &= ~(PW_A | PW_D);
	/* A read: A on every level used, no D anywhere. */
	CHECK_EQ(raw(e.mm, NULL, U_RW, US), 0);
	for (int l = 0; l < 4; l++) {
		CHECK(*ent[l] & PW_A);
		CHECK(!(*ent[l] & PW_D));
	}
	/* A write: D on the leaf only. */
	CHECK_EQ(raw(e.mm, NULL, U_RW, US | W), 0);
	CHECK(*ent[0] & PW_D);
	for (int l = 1; l < 4; l++)
		CHECK(!(*ent[l] & PW_D));
	/* A faulting access sets nothing. */
	for (int l = 0; l < 4; l++)
		*ent[l] &= ~(PW_A | PW_D);
	CHECK_EQ(raw(e.mm, NULL, U_RW, US | X), F(PW_PF_P | PW_PF_U | PW_PF_I));
	for (int l = 0; l < 4; l++)
		CHECK(!(*ent[l] & (PW_A | PW_D)));
	/* A 2 MiB leaf: A and D land on the PMD leaf. */
	CHECK_EQ(pw_mmap(e.mm, 0x40000000, PW_PMD_SIZE, RW, PF | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL), 0);
	pw_mmap_read_lock(e.mm);
	ent[1] = entry_at(e.mm, 0x40000000, 1);
	pw_mmap_read_unlock(e.mm);
	REQUIRE(pw_entry_leaf(1, *ent[1]));
	*ent[1] &= ~(PW_A | PW_D);
	CHECK_EQ(raw(e.mm, NULL, 0x40000000 + 77 * 4096, US), 0);
	CHECK((*ent[1] & (PW_A | PW_D)) == PW_A);
	CHECK_EQ(raw(e.mm, NULL, 0x40000000 + 78 * 4096, US | W), 0);
	CHECK(*ent[1] & PW_D);
	env_fini(&e);
}

TEST(access_protection_keys)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_arena *a;
	struct pw_mm *mm;
	struct pw_cpu cpu = PW_CPU_DEFAULT;
	uint64_t *pte;

	cfg.pke = true;
	REQUIRE_EQ(pw_arena_create(16 << 20, &a), 0);
	REQUIRE_EQ(pw_mm_create(a, &cfg, &mm), 0);
	CHECK_EQ(pw_mmap(mm, U_RW, 4096, RW | PW_PROT_EXEC, PF | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_mmap(mm, S_RW, 4096, RW, PF | PW_MAP_SUPERVISOR | PW_MAP_POPULATE, NULL), 0);
	pw_mmap_read_lock(mm);
	pte = entry_at(mm, U_RW, 0);
	*pte |= 5ULL << PW_PKEY_SHIFT; /* key 5 */
	*entry_at(mm, S_RW, 0) |= 5ULL << PW_PKEY_SHIFT;
	pw_mmap_read_unlock(mm);
	CHECK_EQ(raw(mm, &cpu, U_RW, US | W), 0);			/* PKRU 0: all allowed */
	cpu.pkru = 1u << 10;						/* AD for key 5 */
	CHECK_EQ(raw(mm, &cpu, U_RW, US), F(PW_PF_P | PW_PF_PK | PW_PF_U));
	CHECK_EQ(raw(mm, &cpu, U_RW, 0), F(PW_PF_P | PW_PF_PK));	/* supervisor data access too */
	CHECK_EQ(raw(mm, &cpu, U_RW, US | X), 0);			/* not fetches */
	CHECK_EQ(raw(mm, &cpu, S_RW, W), 0);				/* not supervisor pages */
	cpu.pkru = 2u << 10;						/* WD for key 5 */
	CHECK_EQ(raw(mm, &cpu, U_RW, US), 0);
	CHECK_EQ(raw(mm, &cpu, U_RW, US | W), F(PW_PF_P | PW_PF_PK | PW_PF_U | PW_PF_W));
	CHECK_EQ(raw(mm, &cpu, U_RW, W), F(PW_PF_P | PW_PF_PK | PW_PF_W)); /* CR0.WP on */
	cpu.wp = false;
	CHECK_EQ(raw(mm, &cpu, U_RW, W), 0);				/* WD binds supervisors only with WP */
	cpu.pkru = 3u << 8;						/* another key's bits */
	CHECK_EQ(raw(mm, &cpu, U_RW, US | W), 0);
	pw_mm_destroy(mm);
	pw_arena_destroy(a);
}

TEST(vma_split_merge_and_placement)
{
	struct env e;
	struct pw_translation t;
	uint64_t addr = 0, b = 0x10000000;

	env_init(&e, 4, 64 << 20);
	/* Adjacent mappings of one kind merge. */
	CHECK_EQ(pw_mmap(e.mm, b, 4 * 4096, RW, PF, NULL), 0);
	CHECK_EQ(pw_mmap(e.mm, b + 4 * 4096, 4 * 4096, RW, PF, NULL), 0);
	CHECK_EQ(stats(e.mm).nr_vmas, 1);
	CHECK_EQ(pw_mmap(e.mm, b + 8 * 4096, 4 * 4096, PW_PROT_READ, PF, NULL), 0);
	CHECK_EQ(stats(e.mm).nr_vmas, 2);
	/* mprotect splits, and merges back when the flags match again. */
	CHECK_EQ(pw_mprotect(e.mm, b + 4096, 4096, PW_PROT_READ), 0);
	CHECK_EQ(stats(e.mm).nr_vmas, 4);
	CHECK_EQ(pw_mprotect(e.mm, b + 4096, 4096, RW), 0);
	CHECK_EQ(stats(e.mm).nr_vmas, 2);
	CHECK_EQ(pw_mprotect(e.mm, b, 12 * 4096, PW_PROT_READ), 0);
	CHECK_EQ(stats(e.mm).nr_vmas, 1);
	CHECK_EQ(stats(e.mm).mapped, 12 * 4096);
	/* munmap rounds the length up to whole pages and splits. */
	CHECK_EQ(pw_munmap(e.mm, b + 4 * 4096, 1), 0);
	CHECK_EQ(stats(e.mm).nr_vmas, 2);
	CHECK_EQ(stats(e.mm).mapped, 11 * 4096);
	/* Without FIXED: a huge mapping gets an aligned address and huge leaves. */
	CHECK_EQ(pw_mmap(e.mm, 0, 2 * PW_PMD_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_HUGE_2M | PW_MAP_POPULATE,
			 &addr), 0);
	CHECK_EQ(addr & (PW_PMD_SIZE - 1), 0);
	CHECK_EQ(translate(e.mm, addr + PW_PMD_SIZE + 4096, &t), 0);
	CHECK_EQ(t.level, 1);
	/* A hint that is free is taken; one that is not is searched upward from. */
	CHECK_EQ(pw_mmap(e.mm, 0x20000000, 4096, RW, PW_MAP_PRIVATE, &addr), 0);
	CHECK_EQ(addr, 0x20000000);
	CHECK_EQ(pw_mmap(e.mm, 0x20000000, 4096, RW, PW_MAP_PRIVATE, &addr), 0);
	CHECK(addr != 0x20000000);
	CHECK_EQ(pw_mmap(e.mm, b + 4 * 4096, 4096, PW_PROT_READ, PW_MAP_PRIVATE, &addr), 0);
	CHECK_EQ(addr, b + 4 * 4096); /* the hole left by munmap */
	/* The refilled hole merges both neighbours; the two hinted pages merged too. */
	CHECK_EQ(stats(e.mm).nr_vmas, 3);
	env_fini(&e);
}

/* mprotect takes write permission away at once and gives it back lazily, on a write fault. */
TEST(write_permission_comes_back_on_fault)
{
	struct env e;
	struct pw_translation t, t2;
	struct pw_access_result r;
	uint64_t small = 0x10000000, huge = 0x40000000;

	env_init(&e, 4, 16 << 20);
	CHECK_EQ(pw_mmap(e.mm, small, 4 * 4096, RW, PF | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_mmap(e.mm, huge, PW_PMD_SIZE, RW, PF | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL), 0);
	for (int i = 0; i < 2; i++) {
		uint64_t a = i ? huge + 5 * 4096 : small + 4096, len = i ? PW_PMD_SIZE : 4 * 4096;
		uint64_t start = i ? huge : small;

		REQUIRE_EQ(translate(e.mm, a, &t), 0);
		CHECK(t.writable);
		CHECK_EQ(pw_mprotect(e.mm, start, len, PW_PROT_READ), 0);
		CHECK_EQ(translate(e.mm, a, &t2), 0);
		CHECK(!t2.writable);
		CHECK_EQ(t2.phys, t.phys);
		CHECK_EQ(raw(e.mm, NULL, a, US | W), F(PW_PF_P | PW_PF_U | PW_PF_W));
		CHECK_EQ(pw_mprotect(e.mm, start, len, RW), 0);
		CHECK_EQ(translate(e.mm, a, &t2), 0);
		CHECK(!t2.writable); /* not granted by mprotect */
		/* A read does not need it; a write faults once and gets it back in place. */
		CHECK_EQ(raw(e.mm, NULL, a, US), 0);
		CHECK_EQ(pw_access(e.mm, NULL, a, US | W, &r), 0);
		CHECK_EQ(r.nr_faults, 1);
		CHECK_EQ(r.phys, t.phys);
		CHECK_EQ(translate(e.mm, a, &t2), 0);
		CHECK(t2.writable && (t2.entry & PW_D));
		CHECK_EQ(t2.level, i);
	}
	/* PROT_NONE and back: the frame is kept, the page is not present meanwhile. */
	CHECK_EQ(translate(e.mm, small, &t), 0);
	CHECK_EQ(pw_mprotect(e.mm, small, 4096, PW_PROT_NONE), 0);
	CHECK_EQ(translate(e.mm, small, &t2), -ENOENT);
	CHECK(t2.entry & PW_SW_PROTNONE);
	CHECK_EQ(pw_access(e.mm, NULL, small, US, &r), -EFAULT);
	CHECK_EQ(stats(e.mm).rss, 4 + 512);
	CHECK_EQ(pw_mprotect(e.mm, small, 4096, PW_PROT_READ), 0);
	CHECK_EQ(translate(e.mm, small, &t2), 0);
	CHECK_EQ(t2.phys, t.phys);
	env_fini(&e);
}

/*
 * munmap and mprotect that need more table frames than the arena has fail
 * with -ENOMEM and change nothing, not even the split of the first edge;
 * with exactly enough frames they succeed.
 */
TEST(failed_split_leaves_no_trace)
{
	static const struct { int levels; uint64_t off, len; int need; } cases[] = {
		{ 4, 4096, PW_PMD_SIZE, 2 },			/* two 2 MiB leaves, one edge each */
		{ 5, PW_PMD_SIZE - 4096, 2 * 4096, 2 },
		{ 4, 4096, 4096, 1 },				/* both edges in one leaf: one split */
		{ 5, 8192, PW_PMD_SIZE + 4096, 2 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (int op = 0; op < 2; op++) {
			struct env e;
			uint64_t base = 0x40000000, hold[4], start = base + cases[c].off, len = cases[c].len;
			int nhold = 0;
			char *before, *after;

			env_init(&e, cases[c].levels, 16 << 20);
			CHECK_EQ(pw_mmap(e.mm, base, 2 * PW_PMD_SIZE, RW,
					 PF | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL), 0);
			/* Leave one frame too few. */
			while (pw_arena_free_frames(e.a) > (uint64_t)cases[c].need - 1) {
				uint64_t p;

				REQUIRE_EQ(pw_frame_alloc(e.a, 0, &p), 0);
				if (nhold < 4)
					hold[nhold++] = p;
			}
			before = snap(&e);
			if (op)
				CHECK_EQ(pw_mprotect(e.mm, start, len, PW_PROT_READ), -ENOMEM);
			else
				CHECK_EQ(pw_munmap(e.mm, start, len), -ENOMEM);
			after = snap(&e);
			if (strcmp(before, after)) {
				tap_diag("case %zu op %d: the failed call changed the address space", c, op);
				CHECK(!"changed");
			}
			free(before);
			free(after);
			/* One more frame: now it works. */
			REQUIRE(nhold > 0);
			pw_frame_free(e.a, hold[--nhold], 0);
			if (op)
				CHECK_EQ(pw_mprotect(e.mm, start, len, PW_PROT_READ), 0);
			else
				CHECK_EQ(pw_munmap(e.mm, start, len), 0);
			CHECK_EQ(stats(e.mm).pgtables, 3 + (cases[c].levels == 5) + (uint64_t)cases[c].need);
			/* The frames taken by hand go back before the leak check. */
			pw_mm_destroy(e.mm);
			for (uint64_t p = 1; p < pw_arena_nr_frames(e.a); p++) {
				struct pw_frame *f = pw_frame_meta(e.a, p);

				if (!(f->flags & (PW_FRAME_FREE | PW_FRAME_TAIL)) && f->refcount == 1 &&
				    !(f->flags & PW_FRAME_HEAD))
					pw_frame_free(e.a, p, 0);
			}
			CHECK_EQ(pw_arena_free_frames(e.a), e.free0);
			pw_arena_destroy(e.a);
		}
	}
}

/*
 * Random munmap/mprotect edges over 1 GiB and 2 MiB leaves with only 0..3
 * frames to spare: each call either succeeds, with every frame accounted
 * for, or fails with -ENOMEM and changes nothing. Seeded (PW_SEED).
 */
TEST(random_edges_all_or_nothing)
{
	struct env e;
	const uint64_t base = 0x40000000, span = PW_PUD_SIZE + 4 * PW_PMD_SIZE;
	uint64_t *held, nheld = 0, cap = (2ULL << 30) >> 12;
	int fails = 0, oks = 0;

	env_init(&e, 4, 2ULL << 30);
	held = malloc(cap * sizeof(*held));
	REQUIRE(held);
	CHECK_EQ(pw_mmap(e.mm, base, PW_PUD_SIZE, RW, PF | PW_MAP_HUGE_1G | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_mmap(e.mm, base + PW_PUD_SIZE, 4 * PW_PMD_SIZE, RW, PF | PW_MAP_HUGE_2M | PW_MAP_POPULATE,
			 NULL), 0);
	REQUIRE_EQ(stats(e.mm).rss, span >> 12);
	for (int it = 0; it < 150; it++) {
		uint64_t want = tap_rand() % 4, r = tap_rand();
		uint64_t start = base + ((r % (span >> 12)) << 12);
		uint64_t len = ((1 + (r >> 40) % ((r & 1) ? 4 : 1200)) << 12);
		char *before, *after;
		struct pw_mm_stats st;
		int ret;

		if (start + len > base + span)
			len = base + span - start;
		while (pw_arena_free_frames(e.a) > want && nheld < cap)
			REQUIRE_EQ(pw_frame_alloc(e.a, 0, &held[nheld++]), 0);
		while (pw_arena_free_frames(e.a) < want && nheld)
			pw_frame_free(e.a, held[--nheld], 0);
		before = snap(&e);
		if (r & 2)
			ret = pw_munmap(e.mm, start, len);
		else
			ret = pw_mprotect(e.mm, start, len, (r & 4) ? PW_PROT_READ : PW_PROT_NONE);
		after = snap(&e);
		if (ret) {
			CHECK_EQ(ret, -ENOMEM); /* out of frames, or mprotect over a hole */
			if (strcmp(before, after)) {
				tap_diag("it %d: failed %s [0x%" PRIx64 ", +0x%" PRIx64 ") changed the address space",
					 it, (r & 2) ? "munmap" : "mprotect", start, len);
				CHECK(!"changed");
			}
			fails++;
		} else {
			oks++;
		}
		free(before);
		free(after);
		/* Every frame: free, held here, a table, or mapped once. */
		pw_mm_get_stats(e.mm, &st);
		CHECK_EQ(pw_arena_free_frames(e.a) + nheld + st.pgtables + st.rss, pw_arena_nr_frames(e.a) - 1);
		if (tap_cur_failed)
			break;
	}
	tap_diag("%d calls succeeded, %d failed with -ENOMEM", oks, fails);
	CHECK(oks > 10 && fails > 10);
	while (nheld)
		pw_frame_free(e.a, held[--nheld], 0);
	free(held);
	env_fini(&e);
}

/*
 * Random faults under pressure (0..3 or 512..515 spare frames, now and
 * then none) into 1 GiB, 2 MiB and 4 KiB mappings: each fault succeeds
 * (with a smaller leaf than asked for when no block is free) or fails with
 * -ENOMEM and changes nothing.
 */
TEST(random_faults_all_or_nothing)
{
	struct env e;
	const uint64_t g = 0x40000000, m = 0x80000000, k = 0x90000000;
	uint64_t *held, nheld = 0, cap = (64ULL << 20) >> 12;
	int fails = 0, oks = 0, sizes[3] = { 0 };

	/* 64 MiB: no 1 GiB block, so faults in the 1 GiB mapping fall back to 2 MiB / 4 KiB. */
	env_init(&e, 5, 64ULL << 20);
	held = malloc(cap * sizeof(*held));
	REQUIRE(held);
	CHECK_EQ(pw_mmap(e.mm, g, PW_PUD_SIZE, RW, PF | PW_MAP_HUGE_1G, NULL), 0);
	CHECK_EQ(pw_mmap(e.mm, m, 32 * PW_PMD_SIZE, RW, PF | PW_MAP_HUGE_2M, NULL), 0);
	CHECK_EQ(pw_mmap(e.mm, k, 64 * PW_PMD_SIZE, RW, PF, NULL), 0);
	for (int it = 0; it < 200; it++) {
		uint64_t r = tap_rand(), want = (r & 3) + ((r & 4) ? 512 : 0), addr;

		if ((r & 0x30) == 0)
			want = UINT64_MAX; /* no pressure now and then: huge leaves fit */
		struct pw_access_result res;
		struct pw_translation t;
		struct pw_mm_stats st;
		char *before, *after;
		int ret;

		switch ((r >> 8) % 3) {
		case 0: addr = g + (((r >> 16) % (PW_PUD_SIZE >> 12)) << 12); break;
		case 1: addr = m + (((r >> 16) % (32 * PW_PMD_SIZE >> 12)) << 12); break;
		default: addr = k + (((r >> 16) % (64 * PW_PMD_SIZE >> 12)) << 12); break;
		}
		while (pw_arena_free_frames(e.a) > want && nheld < cap)
			REQUIRE_EQ(pw_frame_alloc(e.a, 0, &held[nheld++]), 0);
		while (pw_arena_free_frames(e.a) < want && nheld)
			pw_frame_free(e.a, held[--nheld], 0);
		before = snap(&e);
		ret = pw_access(e.mm, NULL, addr, (r & 8) ? PW_FAULT_WRITE : 0, &res);
		after = snap(&e);
		if (ret) {
			CHECK_EQ(ret, -ENOMEM);
			CHECK(strcmp(before, after) == 0);
			fails++;
		} else {
			CHECK_EQ(translate(e.mm, addr, &t), 0);
			CHECK_EQ(res.phys, t.phys);
			sizes[t.level]++;
			oks++;
		}
		free(before);
		free(after);
		pw_mm_get_stats(e.mm, &st);
		CHECK_EQ(pw_arena_free_frames(e.a) + nheld + st.pgtables + st.rss, pw_arena_nr_frames(e.a) - 1);
		if (tap_cur_failed)
			break;
	}
	tap_diag("%d faults succeeded (4K/2M/1G leaves %d/%d/%d), %d failed", oks, sizes[0], sizes[1],
		 sizes[2], fails);
	CHECK(oks > 10 && fails > 10);
	CHECK(sizes[1] > 0);
	CHECK_EQ(sizes[2], 0);
	while (nheld)
		pw_frame_free(e.a, held[--nheld], 0);
	free(held);
	env_fini(&e);
}

int main(void)
{
	tap_start();
	tap_seed("test_mm");
	RUN(full_arena_failed_fault_leaves_no_trace);
	RUN(populate_failure_leaves_no_mapping);
	RUN(populate_failure_next_to_huge_neighbour);
	RUN(munmap_frees_empty_tables);
	RUN(partial_munmap_splits_2m_leaf);
	RUN(partial_munmap_splits_1g_leaf);
	RUN(access_user_supervisor_rw_nx);
	RUN(access_smep_smap);
	RUN(access_reserved_and_not_present);
	RUN(access_sets_accessed_and_dirty);
	RUN(access_protection_keys);
	RUN(vma_split_merge_and_placement);
	RUN(write_permission_comes_back_on_fault);
	RUN(failed_split_leaves_no_trace);
	RUN(random_edges_all_or_nothing);
	RUN(random_faults_all_or_nothing);
	return tap_done();
}
