// SPDX-License-Identifier: MIT
/*
 * cmd_hugetlb.c - `pagewalk hugetlb-demo`: PMD table sharing, step by step.
 *
 * Three address spaces map one 2 GiB hugetlb file (2 MiB pages) shared,
 * each at another 1 GiB-aligned address, and touch one page in each GiB:
 * the first one's faults allocate PMD tables, the others' find them through
 * the file's i_mmap and point their PDPT entries at the same table frames.
 * For each address space and each GiB the demo prints the PDPT entry, the
 * PMD table frame behind it and its sharer count, then a ptdump. Then the
 * first address space munmaps half of the first GiB: it unshares there
 * (its PDPT entry is cleared, its share dropped), refaults the other half
 * into a table of its own, and the other two still share theirs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <pagewalk/hugetlb.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/ptdump.h>

#include "commands.h"

#define GIB (1ULL << 30)
#define NMM 3

static uint64_t base_of(int i)
{
	return (uint64_t)(i + 1) * 64 * GIB;
}

static int pud_cb(pw_pud_t *pud, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	*(uint64_t *)walk->private = pw_entry_read((uint64_t *)pud);
	walk->action = PW_ACTION_CONTINUE;
	(void)addr, (void)next;
	return 0;
}

/* One line per GiB of mm @i's mapping: PDPT entry, PMD table frame, sharers. */
static int show(struct pw_mm *mm, int i)
{
	static const struct pw_walk_ops ops = { .pud_entry = pud_cb };

	for (int g = 0; g < 2; g++) {
		uint64_t a = base_of(i) + (uint64_t)g * GIB, pud = 0;
		int n, ret;

		pw_mmap_read_lock(mm);
		ret = pw_walk_page_range_novma(mm, a, a + GIB, &ops, pw_mm_root(mm), &pud);
		n = pw_hugetlb_pmd_sharers(mm, a);
		pw_mmap_read_unlock(mm);
		if (ret)
			return ret;
		if (n > 0)
			printf("  mm%d 0x%012" PRIx64 ": PDPT entry 0x%016" PRIx64 " -> PMD table frame 0x%" PRIx64
			       ", shared by %d\n",
			       i, a, pud, (uint64_t)((pud & 0x000ffffffffff000ULL) >> 12), n);
		else
			printf("  mm%d 0x%012" PRIx64 ": PDPT entry 0x%016" PRIx64 " (no PMD table)\n", i, a, pud);
	}
	return 0;
}

static int touch(struct pw_mm *mm, uint64_t addr)
{
	int ret;

	pw_mmap_read_lock(mm);
	ret = pw_handle_mm_fault(mm, addr, PW_FAULT_USER);
	pw_mmap_read_unlock(mm);
	return ret;
}

static void hugetlb_usage(FILE *f)
{
	fprintf(f, "usage: pagewalk hugetlb-demo\n\n"
		   "Three address spaces map one 2 GiB hugetlb file (2 MiB pages) shared and share\n"
		   "its PMD tables; the PDPT entries, table frames and sharer counts are printed,\n"
		   "with ptdumps; then one unmaps half of its first GiB and unshares it there.\n");
}

int cmd_hugetlb(int argc, char **argv)
{
	struct pw_arena *arena = NULL;
	struct pw_file *file = NULL;
	struct pw_mm *mm[NMM] = { 0 };
	struct pw_ptdump_opts opts;
	uint64_t free0 = 0;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			hugetlb_usage(stdout);
			return EXIT_OK;
		}
		return usage_error("hugetlb-demo", hugetlb_usage, "unknown argument '%s'", argv[i]);
	}
	ret = pw_arena_create(3 * GIB, &arena);
	if (ret)
		goto out;
	free0 = pw_arena_free_frames(arena);
	ret = pw_hugetlb_file_create(arena, 2 * GIB, PW_PMD_SIZE, &file);
	for (int i = 0; !ret && i < NMM; i++) {
		ret = pw_mm_create(arena, NULL, &mm[i]);
		if (!ret)
			ret = pw_mmap_file(mm[i], base_of(i), 2 * GIB, PW_PROT_READ | PW_PROT_WRITE,
					   PW_MAP_SHARED | PW_MAP_FIXED | PW_MAP_HUGETLB, file, 0, NULL);
		for (int g = 0; !ret && g < 2; g++)
			ret = touch(mm[i], base_of(i) + (uint64_t)g * GIB + 4 * PW_PMD_SIZE);
	}
	if (ret)
		goto out;
	printf("three address spaces map one 2 GiB hugetlb file (2 MiB pages), shared:\n");
	for (int i = 0; !ret && i < NMM; i++)
		ret = show(mm[i], i);
	memset(&opts, 0, sizeof(opts));
	for (int i = 0; !ret && i < NMM; i++) {
		printf("ptdump of mm%d (shared faults: %" PRIu64 "):\n", i, pw_hugetlb_nr_shared_faults(mm[i]));
		fflush(stdout);
		ret = pw_ptdump(mm[i], stdout, &opts, NULL);
	}
	if (ret)
		goto out;
	printf("mm0 munmaps the first 512 MiB and touches the rest of its first GiB again:\n");
	ret = pw_munmap(mm[0], base_of(0), GIB / 2);
	if (!ret)
		ret = touch(mm[0], base_of(0) + GIB / 2);
	for (int i = 0; !ret && i < NMM; i++)
		ret = show(mm[i], i);
	if (!ret) {
		printf("ptdump of mm0:\n");
		fflush(stdout);
		ret = pw_ptdump(mm[0], stdout, &opts, NULL);
	}
out:
	for (int i = 0; i < NMM; i++)
		pw_mm_destroy(mm[i]);
	if (file)
		pw_file_destroy(file);
	if (arena) {
		if (!ret)
			printf("frames free at the end: %" PRIu64 " of %" PRIu64 " at the start\n",
			       pw_arena_free_frames(arena), free0);
		pw_arena_destroy(arena);
	}
	if (ret) {
		fprintf(stderr, "hugetlb-demo: %s\n", strerror(-ret));
		return EXIT_NOT_FOUND;
	}
	return EXIT_OK;
}
