// SPDX-License-Identifier: MIT
/*
 * cmd_demo.c - `pagewalk demo`: the main job `make run` runs.
 *
 * Builds an address space like a small process's (a heap, two thread
 * stacks with guard pages, a shared region, a 2 MiB-leaf region), touches
 * pages through the simulated MMU, walks it with the callback walker and
 * the iterator, and prints the ptdump and a summary.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/ptdump.h>

#include "commands.h"

#define MiB (1ULL << 20)

struct counts {
	uint64_t present, dirty, accessed, huge;
};

static int demo_pmd(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct counts *c = walk->private;
	pw_pmd_t v = pw_pmdp_get(pmd);

	if (pw_pmd_leaf(v)) {
		c->huge++;
		c->present += (next - addr) >> 12;
		if (v.val & PW_D)
			c->dirty += (next - addr) >> 12;
		walk->action = PW_ACTION_CONTINUE;
	}
	return 0;
}

static int demo_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct counts *c = walk->private;
	pw_pte_t v = pw_ptep_get(pte);

	if (pw_pte_present(v)) {
		c->present++;
		c->dirty += !!(v.val & PW_D);
		c->accessed += !!(v.val & PW_A);
	}
	return 0;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "pagewalk demo: %s: %s\n", what, strerror(-err));
	return 1;
}

static void demo_usage(FILE *f)
{
	fprintf(f, "usage: pagewalk demo [--json]\n"
		   "  Builds a demo address space and prints its ptdump (Linux format, with\n"
		   "  '#' comment lines and a text summary), or with --json only JSON lines: the\n"
		   "  ptdump's objects, then one {\"summary\":{...}} object.\n");
}

int cmd_demo(int argc, char **argv)
{
	struct pw_arena *arena;
	struct pw_mm *mm;
	uint64_t heap, stack1, stack2, shared, huge;
	struct counts cb = { 0 };
	uint64_t it_present = 0, it_leaves = 0;
	struct pw_walk_state st;
	struct pw_mm_stats s;
	int ret, json = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			demo_usage(stdout);
			return 0;
		} else {
			return usage_error("demo", demo_usage, "unknown argument '%s'", argv[i]);
		}
	}
	ret = pw_arena_create(256 * MiB, &arena);
	if (ret)
		return fail("arena", ret);
	ret = pw_mm_create(arena, NULL, &mm);
	if (ret)
		return fail("mm", ret);

	/* A heap, two stacks under guard pages, a shared buffer, a huge-page region. */
	if ((ret = pw_mmap(mm, 0x555555554000ULL, 1 * MiB, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED, &heap)) ||
	    (ret = pw_mmap(mm, 0x7ffff0000000ULL, 256 << 10, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED, &stack1)) ||
	    (ret = pw_mprotect(mm, stack1, 4096, PW_PROT_NONE)) ||
	    (ret = pw_mmap(mm, 0x7fffe0000000ULL, 256 << 10, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED, &stack2)) ||
	    (ret = pw_mprotect(mm, stack2, 4096, PW_PROT_NONE)) ||
	    (ret = pw_mmap(mm, 0, 512 << 10, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, &shared)) ||
	    (ret = pw_mmap(mm, 0, 8 * MiB, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_HUGE_2M, &huge)))
		return fail("mmap", ret);

	/* Touch: the heap's first half written, stacks' tops written, the shared
	 * buffer read, one huge page written and one read. */
	for (uint64_t a = heap; a < heap + 512 * 1024; a += 4096)
		if ((ret = pw_access(mm, NULL, a, PW_FAULT_WRITE | PW_FAULT_USER, NULL)))
			return fail("access heap", ret);
	for (uint64_t a = stack1 + (192 << 10); a < stack1 + (256 << 10); a += 4096)
		pw_access(mm, NULL, a, PW_FAULT_WRITE | PW_FAULT_USER, NULL);
	for (uint64_t a = stack2 + (240 << 10); a < stack2 + (256 << 10); a += 4096)
		pw_access(mm, NULL, a, PW_FAULT_WRITE | PW_FAULT_USER, NULL);
	for (uint64_t a = shared; a < shared + (512 << 10); a += 4096)
		pw_access(mm, NULL, a, PW_FAULT_USER, NULL);
	pw_access(mm, NULL, huge, PW_FAULT_WRITE | PW_FAULT_USER, NULL);
	pw_access(mm, NULL, huge + 2 * MiB, PW_FAULT_USER, NULL);
	/* A guard page: the access must fail with a protection fault. */
	struct pw_access_result r;
	int guard = pw_access(mm, NULL, stack1, PW_FAULT_USER, &r);

	/* The callback walker and the iterator over the same tables. */
	struct pw_walk_ops ops = { .pmd_entry = demo_pmd, .pte_entry = demo_pte };

	pw_mmap_read_lock(mm);
	ret = pw_walk_page_range(mm, 0, pw_low_half_end(4), &ops, &cb);
	pw_for_each_entry(&st, mm, 0, 0, PW_WALK_ALL_SIZES) {
		it_leaves++;
		it_present += (st.end - st.start) >> 12;
	}
	pw_mmap_read_unlock(mm);
	if (ret || pw_walk_error(&st))
		return fail("walk", ret ? ret : pw_walk_error(&st));

	if (!json) {
		printf("# pagewalk demo: a 4-level address space in a 256 MiB frame arena\n");
		printf("#   heap   0x%012" PRIx64 "  1 MiB, first half written\n", heap);
		printf("#   stack  0x%012" PRIx64 "  256 KiB, guard page, top 64 KiB written\n", stack1);
		printf("#   stack  0x%012" PRIx64 "  256 KiB, guard page, top 16 KiB written\n", stack2);
		printf("#   shared 0x%012" PRIx64 "  512 KiB MAP_SHARED, read\n", shared);
		printf("#   huge   0x%012" PRIx64 "  8 MiB with 2 MiB leaves, one written, one read\n\n", huge);
	}
	struct pw_ptdump_opts po = { .format = json ? PW_PTDUMP_JSON : PW_PTDUMP_LINUX };
	struct pw_ptdump_summary ps;

	ret = pw_ptdump(mm, stdout, &po, &ps);
	if (ret)
		return fail("ptdump", ret);
	pw_mm_get_stats(mm, &s);
	if (json) {
		printf("{\"summary\":{\"mapped_kib\":%" PRIu64 ",\"vmas\":%" PRIu64
		       ",\"present_pages_walker\":%" PRIu64 ",\"present_pages_iterator\":%" PRIu64
		       ",\"leaves_iterator\":%" PRIu64 ",\"present_pages_ptdump\":%" PRIu64
		       ",\"dirty_pages\":%" PRIu64 ",\"huge_leaves_2m\":%" PRIu64
		       ",\"pgtable_frames\":%" PRIu64 ",\"guard_page_faulted\":%s,\"pf_error\":%u}}\n",
		       s.mapped >> 10, s.nr_vmas, cb.present, it_present, it_leaves, ps.present_pages,
		       cb.dirty, cb.huge, s.pgtables, guard == -EFAULT ? "true" : "false", r.pf_error);
	} else {
		printf("\n# summary\n");
		printf("mapped:          %" PRIu64 " KiB in %" PRIu64 " VMAs\n", s.mapped >> 10, s.nr_vmas);
		printf("present:         %" PRIu64 " pages (callback walker), %" PRIu64
		       " pages in %" PRIu64 " leaves (iterator), %" PRIu64 " (ptdump)\n",
		       cb.present, it_present, it_leaves, ps.present_pages);
		printf("dirty:           %" PRIu64 " pages\n", cb.dirty);
		printf("huge leaves:     %" PRIu64 " (2 MiB)\n", cb.huge);
		printf("page tables:     %" PRIu64 " frames\n", s.pgtables);
		printf("guard page read: %s (error code 0x%x)\n", guard == -EFAULT ? "faulted" : "NOT FAULTED",
		       r.pf_error);
	}
	if (cb.present != it_present || cb.present != ps.present_pages || guard != -EFAULT) {
		fprintf(stderr, "pagewalk demo: the walkers disagree\n");
		return 1;
	}
	pw_mm_destroy(mm);
	pw_arena_destroy(arena);
	return 0;
}
