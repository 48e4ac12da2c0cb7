/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/ptdump.h - dump page tables as Linux's x86 dump_pagetables does.
 *
 * Built only on the public iterator. Neighbouring entries with the same
 * flags, the same effective permissions and the same level are coalesced
 * into one line. Effective permissions combine all levels above a leaf:
 * RW and US are ANDed, NX is ORed (arch/x86/mm/dump_pagetables.c).
 */
#ifndef PAGEWALK_PTDUMP_H
#define PAGEWALK_PTDUMP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/** enum pw_ptdump_format - output format. */
enum pw_ptdump_format {
	/* Linux: "0x%016lx-0x%016lx   %9lu%c " flags level, with "---[ name ]---" markers. */
	PW_PTDUMP_LINUX = 0,
	/* One JSON object per line: {"start":..,"end":..,"size":..,"level":..,"present":..,...}. */
	PW_PTDUMP_JSON = 1,
};

/** struct pw_ptdump_range - a range to dump, [start, end); a list ends with {0, 0}. */
struct pw_ptdump_range {
	uint64_t start;
	uint64_t end;
};

/**
 * struct pw_ptdump_marker - a named address (Linux's address_markers); a
 * list ends with an entry whose @name is NULL (its @start should be ~0).
 * @max_lines: print at most this many lines after this marker (0 = all);
 *             the rest are counted in a "... N entries skipped ..." line.
 */
struct pw_ptdump_marker {
	uint64_t start;
	const char *name;
	unsigned long max_lines;
};

/**
 * struct pw_ptdump_opts - options; a zeroed struct gives Linux's defaults.
 * @format: PW_PTDUMP_*.
 * @ranges: ranges to walk; NULL: the lower half [0, 1 << 47) and the upper
 *          half from Linux's guard-hole end (0xffff880000000000, or
 *          0xff10000000000000 with 5 levels) to ~0, as Linux x86-64 walks.
 * @markers: NULL: "User Space" at 0 and "Kernel Space" at the upper half.
 * @check_wx: count pages that are writable and executable (effective).
 * @follow_aliases: foreign mms: walk tables reached more than once every
 *          time, as Linux and the MMU do (PW_WALK_ALIASES). Without it, a
 *          table already entered at that level is not entered again and its
 *          range is dumped as an empty entry of the level pointing at it.
 * @max_entries: stop after reading this many entries (0 = no limit) and
 *          return -E2BIG: bounds the dump of hostile tables.
 */
struct pw_ptdump_opts {
	enum pw_ptdump_format format;
	const struct pw_ptdump_range *ranges;
	const struct pw_ptdump_marker *markers;
	bool check_wx;
	bool follow_aliases;
	uint64_t max_entries;
};

/**
 * struct pw_ptdump_summary - what a dump saw.
 * @lines: range lines printed.
 * @wx_pages: 4 KiB pages both writable and executable (with @check_wx).
 * @present_pages: 4 KiB pages mapped by present leaves.
 */
struct pw_ptdump_summary {
	uint64_t lines;
	uint64_t wx_pages;
	uint64_t present_pages;
};

/**
 * pw_ptdump() - dump @mm's page tables to @out.
 * @mm: address space (an arena mm or a foreign one).
 * @out: stream written to.
 * @opts: options, NULL for the defaults.
 * @sum: filled with counts (may be NULL).
 *
 * Context: takes @mm's mmap lock for read (none for a foreign mm).
 * Return: 0, -EINVAL (NULL @mm or @out, bad ranges), -EIO (a write to @out failed),
 * -E2BIG (@opts->max_entries reached), -ENOMEM.
 */
int pw_ptdump(struct pw_mm *mm, FILE *out, const struct pw_ptdump_opts *opts,
	      struct pw_ptdump_summary *sum);

/**
 * pw_ptdump_x86_markers() - Linux 6.1's x86-64 address markers (User Space,
 * Kernel Space, LDT remap, Low Kernel Mapping, vmalloc() Area, Vmemmap, CPU
 * entry Area, ESPfix Area (16 lines, then "... N entries skipped ..."), EFI
 * Runtime Services, High Kernel Mapping, Modules, End Modules, Fixmap Area)
 * at their no-KASLR addresses for @levels (4 or 5) paging, for
 * pw_ptdump_opts.markers. With KASLR the direct map, vmalloc and vmemmap
 * bases move, and the Fixmap start depends on the kernel's configuration:
 * the ranges printed stay right, the marker lines may sit elsewhere.
 * Context: any. Return: a static list ending with a NULL name.
 */
const struct pw_ptdump_marker *pw_ptdump_x86_markers(int levels);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_PTDUMP_H */
