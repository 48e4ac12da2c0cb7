// SPDX-License-Identifier: MIT
/*
 * cmd_devx.c - `pagewalk devx-demo`: device-exclusive access, step by step.
 *
 * A parent maps a shared anonymous region and writes it; a forked child
 * shares the pages. A simulated device (an MMU notifier on each address
 * space) takes exclusive access to the range: the reverse map reaches both
 * address spaces, ptdump shows the exclusive entries in both; a CPU write
 * in the child restores its entry, the device's notifier fires (EXCLUSIVE,
 * owner NULL), and the final ptdumps and frame counts show the result.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <pagewalk/devx.h>
#include <pagewalk/gup.h>
#include <pagewalk/mm.h>
#include <pagewalk/notifier.h>
#include <pagewalk/ptdump.h>
#include <pagewalk/rmap.h>

#include "commands.h"

#define NPAGES 4
#define PG 4096ULL

struct device {
	struct pw_mmu_notifier mn;
	const char *side; /* "parent" or "child": which address space this notifier watches */
	void *owner;	  /* the device, as it names itself */
};

static int device_start(struct pw_mmu_notifier *mn, const struct pw_mmu_notifier_range *r)
{
	struct device *d = (struct device *)mn;

	if (r->event != PW_MMU_NOTIFY_EXCLUSIVE)
		return 0;
	if (r->owner == d->owner)
		printf("  device (%s): converting 0x%" PRIx64 " for itself\n", d->side, r->start);
	else
		printf("  device (%s): notifier EXCLUSIVE, owner NULL, 0x%" PRIx64 "-0x%" PRIx64
		       ": the CPU took the page back, the device drops its access\n",
		       d->side, r->start, r->end);
	return 0;
}

static const struct pw_mmu_notifier_ops device_ops = { .invalidate_range_start = device_start };

static int visit(const struct pw_rmap_visit *v, void *arg)
{
	printf("    mapped at 0x%" PRIx64 " in %s: %s\n", v->addr,
	       v->mm == ((struct pw_mm **)arg)[0] ? "parent" : "child",
	       pw_is_device_exclusive(v->entry) ? "device-exclusive entry" : "present PTE");
	return 0;
}

static int dump(const char *title, struct pw_mm *mm, uint64_t start)
{
	struct pw_ptdump_range ranges[] = { { start, start + NPAGES * PG }, { 0, 0 } };
	struct pw_ptdump_opts opts = { .ranges = ranges };

	printf("  ptdump of %s:\n", title);
	fflush(stdout);
	return pw_ptdump(mm, stdout, &opts, NULL);
}

static void devx_usage(FILE *f)
{
	fprintf(f, "usage: pagewalk devx-demo\n"
		   "  A parent and a forked child share pages; a simulated device takes\n"
		   "  exclusive access to them; a CPU write in the child restores its entry.\n"
		   "  Prints each step, the ptdumps of both address spaces and the counts.\n");
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "pagewalk devx-demo: %s: %s\n", what, strerror(-err));
	return 1;
}

int cmd_devx(int argc, char **argv)
{
	struct pw_arena *arena;
	struct pw_mm *mm[2] = { NULL, NULL };
	struct device dev[2] = { { .mn.ops = &device_ops, .side = "parent" },
				 { .mn.ops = &device_ops, .side = "child" } };
	static int the_device;
	struct pw_access_result r;
	uint64_t s, frames[NPAGES], free0;
	uint8_t *mem;
	long n;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			devx_usage(stdout);
			return 0;
		}
		return usage_error("devx-demo", devx_usage, "unknown argument '%s'", argv[i]);
	}
	ret = pw_arena_create(16 << 20, &arena);
	if (ret)
		return fail("arena", ret);
	free0 = pw_arena_free_frames(arena);
	mem = pw_arena_base(arena);
	ret = pw_mm_create(arena, NULL, &mm[0]);
	if (!ret)
		ret = pw_mmap(mm[0], 0, NPAGES * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, &s);
	if (ret)
		return fail("mmap", ret);
	printf("1. parent maps %d shared pages at 0x%" PRIx64 " and writes them\n", NPAGES, s);
	for (int i = 0; i < NPAGES; i++) {
		ret = pw_access(mm[0], NULL, s + i * PG, PW_FAULT_WRITE | PW_FAULT_USER, &r);
		if (ret)
			return fail("write", ret);
		mem[r.phys] = (uint8_t)('A' + i);
	}
	ret = pw_mm_fork(mm[0], &mm[1]);
	if (ret)
		return fail("fork", ret);
	printf("2. fork: the child shares the pages\n");
	for (int i = 0; i < 2; i++) {
		dev[i].owner = &the_device;
		ret = pw_mmu_notifier_register(&dev[i].mn, mm[i]);
		if (ret)
			return fail("notifier", ret);
	}
	printf("3. the device takes exclusive access to the range (GUP, then a reverse-map walk per page)\n");
	n = pw_make_device_exclusive_range(mm[0], s, s + NPAGES * PG, &the_device, frames);
	if (n < 0)
		return fail("make exclusive", (int)n);
	for (long i = 0; i < n; i++)
		printf("  page %ld: %s frame 0x%" PRIx64 "\n", i, frames[i] ? "exclusive," : "lost (changed),",
		       frames[i]);
	printf("  the reverse map of frame 0x%" PRIx64 ":\n", frames[0]);
	pw_rmap_walk(arena, frames[0], visit, mm);
	pw_put_user_pages(mm[0], frames, (unsigned long)n, 0);
	if (dump("the parent", mm[0], s) || dump("the child", mm[1], s))
		return fail("ptdump", -EIO);
	printf("4. the child writes page 0 (a CPU access to an exclusive entry faults)\n");
	ret = pw_access(mm[1], NULL, s, PW_FAULT_WRITE | PW_FAULT_USER, &r);
	if (ret)
		return fail("child write", ret);
	printf("  restored: the child's page 0 is frame 0x%" PRIx64 " again, %d fault(s); it reads '%c'\n",
	       r.phys >> 12, r.nr_faults, mem[r.phys]);
	mem[r.phys] = 'z';
	if (dump("the parent", mm[0], s) || dump("the child", mm[1], s))
		return fail("ptdump", -EIO);
	printf("5. the parent reads page 0\n");
	ret = pw_access(mm[0], NULL, s, PW_FAULT_USER, &r);
	if (ret)
		return fail("parent read", ret);
	printf("  restored too: it sees the child's write '%c'\n", mem[r.phys]);
	for (int i = 0; i < 2; i++)
		pw_mmu_notifier_unregister(&dev[i].mn, mm[i]);
	pw_mm_destroy(mm[1]);
	pw_mm_destroy(mm[0]);
	printf("6. both address spaces destroyed: %s\n",
	       pw_arena_free_frames(arena) == free0 ? "every frame is back" : "FRAMES LEAKED");
	ret = pw_arena_free_frames(arena) == free0 ? 0 : 1;
	pw_arena_destroy(arena);
	return ret;
}
