// SPDX-License-Identifier: MIT
/*
 * cmd_smaps.c - `pagewalk smaps`: /proc/PID/smaps (or smaps_rollup) of the
 * demo address space, in the kernel's text format (fs/proc/task_mmu.c:
 * show_smap(), show_smaps_rollup(); Documentation/filesystems/proc.rst).
 *
 * Each VMA: its maps line (start-end perms offset dev inode [name]), then
 * the fields in the kernel's order and widths, figures from pw_smaps().
 * Shared anonymous memory is named "/dev/zero (deleted)" as the kernel
 * names shmem mappings of /dev/zero; other VMAs have no name (the demo has
 * no brk heap or main-thread stack for [heap] / [stack]).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <pagewalk/mm.h>
#include <pagewalk/smaps.h>

#include "commands.h"

/* The kernel's SEQ_PUT_DEC: a 16-column name, the value in kB in 8 columns. */
static void field(FILE *f, const char *name, uint64_t bytes)
{
	fprintf(f, "%-16s%8" PRIu64 " kB\n", name, bytes >> 10);
}

/* The maps line: start-end perms offset dev inode, then the name at column 74. */
static void header(FILE *f, uint64_t start, uint64_t end, const char perms[5], uint64_t off,
		   const char *name)
{
	int n = fprintf(f, "%08" PRIx64 "-%08" PRIx64 " %s %08" PRIx64 " 00:00 0 ", start, end, perms, off);

	if (name) {
		/* seq_pad(): fill to 25 + 6 * sizeof(void *) - 1 columns, then a space */
		for (; n < 25 + 6 * 8 - 1; n++)
			fputc(' ', f);
		fprintf(f, " %s", name);
	}
	fputc('\n', f);
}

/* The fields both smaps and smaps_rollup print (the kernel's __show_smap()). */
static void show_stats(FILE *f, const struct pw_smaps_stats *st, bool rollup)
{
	field(f, "Rss:", st->rss);
	field(f, "Pss:", st->pss);
	field(f, "Pss_Dirty:", st->pss_dirty);
	if (rollup) {
		field(f, "Pss_Anon:", st->pss_anon);
		field(f, "Pss_File:", st->pss_file);
		field(f, "Pss_Shmem:", st->pss_shmem);
	}
	field(f, "Shared_Clean:", st->shared_clean);
	field(f, "Shared_Dirty:", st->shared_dirty);
	field(f, "Private_Clean:", st->private_clean);
	field(f, "Private_Dirty:", st->private_dirty);
	field(f, "Referenced:", st->referenced);
	field(f, "Anonymous:", st->anonymous);
	field(f, "KSM:", 0);
	field(f, "LazyFree:", 0);
	field(f, "AnonHugePages:", st->anon_huge);
	field(f, "ShmemPmdMapped:", 0);
	field(f, "FilePmdMapped:", st->file_pmd_mapped);
	field(f, "Shared_Hugetlb:", st->shared_hugetlb);
	fprintf(f, "Private_Hugetlb: %7llu kB\n", (unsigned long long)(st->private_hugetlb >> 10));
	field(f, "Swap:", st->swap);
	field(f, "SwapPss:", st->swap_pss);
	field(f, "Locked:", 0);
}

/* VmFlags mnemonics, in the kernel's bit order (those this model has). */
static void show_flags(FILE *f, uint32_t fl)
{
	static const struct {
		uint32_t bit;
		char name[3];
	} m[] = {
		{ PW_VM_READ, "rd" },	  { PW_VM_WRITE, "wr" },    { PW_VM_EXEC, "ex" },
		{ PW_VM_SHARED, "sh" },	  { PW_VM_MAYREAD, "mr" },  { PW_VM_MAYWRITE, "mw" },
		{ PW_VM_MAYEXEC, "me" },  { PW_VM_MAYSHARE, "ms" }, { PW_VM_PFNMAP, "pf" },
		{ PW_VM_SOFTDIRTY, "sd" }, { PW_VM_HUGE_2M | PW_VM_HUGE_1G, "hg" },
	};

	fputs("VmFlags: ", f);
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (fl & m[i].bit)
			fprintf(f, "%s ", m[i].name);
	fputc('\n', f);
}

static int show_vma(FILE *f, struct pw_vma *vma)
{
	struct pw_smaps_stats st;
	uint32_t fl = vma->vm_flags;
	char perms[5] = { fl & PW_VM_READ ? 'r' : '-', fl & PW_VM_WRITE ? 'w' : '-',
			  fl & PW_VM_EXEC ? 'x' : '-', fl & PW_VM_MAYSHARE ? 's' : 'p', 0 };
	int ret = pw_smaps(vma, &st);

	if (ret)
		return ret;
	header(f, vma->vm_start, vma->vm_end, perms, vma->vm_file ? vma->vm_pgoff << 12 : 0,
	       !vma->vm_file && (fl & PW_VM_SHARED) ? "/dev/zero (deleted)" : NULL);
	field(f, "Size:", vma->vm_end - vma->vm_start);
	field(f, "KernelPageSize:", 4096);
	field(f, "MMUPageSize:", 4096);
	show_stats(f, &st, false);
	/* THP: VMAs asked to fault in huge leaves (MADV_HUGEPAGE here) */
	fprintf(f, "THPeligible:    %8u\n", fl & (PW_VM_HUGE_2M | PW_VM_HUGE_1G) ? 1u : 0u);
	show_flags(f, fl);
	return 0;
}

static void smaps_usage(FILE *f)
{
	fprintf(f, "usage: pagewalk smaps [--rollup]\n"
		   "  Builds the demo address space (pagewalk demo) and prints its\n"
		   "  /proc/PID/smaps in the kernel's text format, one entry per VMA,\n"
		   "  or with --rollup its /proc/PID/smaps_rollup.\n");
}

int cmd_smaps(int argc, char **argv)
{
	struct pw_arena *arena = NULL;
	struct pw_mm *mm = NULL;
	struct demo_space d;
	bool rollup = false;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rollup")) {
			rollup = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			smaps_usage(stdout);
			return EXIT_OK;
		} else {
			return usage_error("smaps", smaps_usage, "unknown argument '%s'", argv[i]);
		}
	}
	ret = pw_arena_create(256ULL << 20, &arena);
	if (!ret)
		ret = pw_mm_create(arena, NULL, &mm);
	if (!ret)
		ret = demo_space_build(mm, &d);
	if (!ret && rollup) {
		struct pw_smaps_stats st;
		struct pw_vma *vma;
		uint64_t lo = 0, hi = 0;

		ret = pw_smaps_rollup(mm, &st);
		pw_mmap_read_lock(mm);
		pw_for_each_vma(mm, vma) {
			if (!hi)
				lo = vma->vm_start;
			hi = vma->vm_end;
		}
		pw_mmap_read_unlock(mm);
		if (!ret) {
			header(stdout, lo, hi, "---p", 0, "[rollup]");
			show_stats(stdout, &st, true);
		}
	} else if (!ret) {
		struct pw_vma *vma;

		pw_mmap_read_lock(mm);
		pw_for_each_vma(mm, vma) {
			ret = show_vma(stdout, vma);
			if (ret)
				break;
		}
		pw_mmap_read_unlock(mm);
	}
	if (mm)
		pw_mm_destroy(mm);
	if (arena)
		pw_arena_destroy(arena);
	if (ret) {
		fprintf(stderr, "pagewalk smaps: the demo address space: %s\n", strerror(-ret));
		return EXIT_NOT_FOUND;
	}
	return fflush(stdout) ? EXIT_NOT_FOUND : EXIT_OK;
}
