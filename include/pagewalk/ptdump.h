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
	/* One JSON object per line: {"start":..,"end":..,"size":..,"level":..,"present":..,...}
	 * (the fields: pw_ptdump()). */
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
 * @max_entries: stop after reading this many entries (0 = no limit), over
 *          all @ranges together, and return -E2BIG: bounds the dump of
 *          hostile tables. The output up to there is written.
 * @show_aliases: without @follow_aliases, print each entry pointing at a
 *          table already entered as a line of its own saying where that
 *          subtree was first printed (see pw_ptdump()) instead of merging
 *          it into the empty range around it.
 * @progress: if set, called every 65536 steps of the walk with @progress_arg,
 *          the entries read so far and the lines printed so far (for a
 *          progress line; it must not use the mm).
 */
struct pw_ptdump_opts {
	enum pw_ptdump_format format;
	const struct pw_ptdump_range *ranges;
	const struct pw_ptdump_marker *markers;
	bool check_wx;
	bool follow_aliases;
	uint64_t max_entries;
	bool show_aliases;
	void (*progress)(void *progress_arg, uint64_t entries, uint64_t lines);
	void *progress_arg;
};

/**
 * struct pw_ptdump_summary - what a dump saw.
 * @lines: range lines printed.
 * @wx_pages: 4 KiB pages both writable and executable (with @check_wx).
 * @present_pages: 4 KiB pages mapped by present leaves.
 * @entries: entries the walk read (what @max_entries bounds).
 * @holes_reserved: entries with reserved bits set (PW_HOLE_RESERVED), each
 *          counted every time the walk reads it.
 * @holes_no_frame: entries pointing at a table outside physical memory
 *          (PW_HOLE_NO_FRAME), likewise.
 * @aliases: entries not followed because their table was already entered
 *          (PW_HOLE_ALIAS; 0 with @follow_aliases).
 */
struct pw_ptdump_summary {
	uint64_t lines;
	uint64_t wx_pages;
	uint64_t present_pages;
	uint64_t entries;
	uint64_t holes_reserved;
	uint64_t holes_no_frame;
	uint64_t aliases;
};

/**
 * pw_ptdump() - dump @mm's page tables to @out.
 * @mm: address space (an arena mm or a foreign one).
 * @out: stream written to.
 * @opts: options, NULL for the defaults.
 * @sum: filled with counts (may be NULL).
 *
 * Broken entries are holes, never mappings. An entry with reserved bits
 * set, or pointing at a table outside physical memory, is printed as a range
 * of its own at its level, with blank attribute columns (as an entry that
 * is not present) and the reason after the level name:
 *
 *	0x0000000000000000-0x0000008000000000         512G                               pgd  [no-frame]
 *	0x0000008000000000-0x0000010000000000         512G                               pgd  [reserved]
 *
 * With @opts->show_aliases (and not @follow_aliases), an entry whose table
 * was entered before prints as
 *
 *	0x...-0x...   SIZE                               pmd  [same as the subtree at 0xADDR]
 *
 * ADDR being where that table's range was first printed (~0 if the table
 * was first entered outside the ranges dumped).
 *
 * JSON lines carry "start", "end" (strings, hex), "size" (bytes), "level"
 * (pgd, p4d, pud, pmd, pte), "present", the entry's own bits ("user", "rw",
 * "pwt", "pcd", "pse", "pat", "global", "nx"), the effective permissions
 * ANDed (RW, US) and ORed (NX) down the levels ("eff_user", "eff_rw",
 * "eff_nx"), "entry" (the raw entry of the run's first step), "phys" (the
 * physical address of the run's first byte, or null when nothing is
 * mapped; a JSON run is also split where the physical addresses stop being
 * contiguous), "hole" (null for a mapping, else "empty", "not-present",
 * "reserved", "no-frame" or "alias") and, for aliases, "same_as". Marker
 * lines are {"marker":NAME}. Bits of a hole's entry are all false.
 *
 * Context: takes @mm's mmap lock for read (none for a foreign mm).
 * Return: 0, -EINVAL (NULL @mm or @out, bad ranges), -EIO (a write to @out failed),
 * -E2BIG (@opts->max_entries reached; @sum is filled as far as the dump
 * got), -ENOMEM.
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

/**
 * pw_ptdump_hole_name() - the name ptdump and the CLI give a hole reason.
 * @reason: an enum pw_hole_reason.
 * Context: any. Return: "empty", "not-present", "reserved", "no-frame",
 * "non-canonical", "alias"; NULL for anything else.
 */
const char *pw_ptdump_hole_name(int reason);

/* Which bases pw_ptdump_find_kernel_bases() found (struct pw_kernel_bases.found). */
enum {
	PW_KBASE_PAGE_OFFSET = 1u << 0,
	PW_KBASE_VMALLOC = 1u << 1,
	PW_KBASE_VMEMMAP = 1u << 2,
};

/**
 * struct pw_kernel_bases - where a Linux kernel put its randomised regions.
 * @page_offset: page_offset_base, the direct map of physical memory.
 * @vmalloc: vmalloc_base.
 * @vmemmap: vmemmap_base (the struct page array).
 * @found: PW_KBASE_* bits of the bases found in the tables; the others
 *         hold the no-KASLR defaults.
 * @direct_map_end: end of the last leaf of the direct map (0 if not found).
 * @direct_map_bytes: bytes the direct map's leaves map.
 * @vmemmap_bytes: bytes mapped from the vmemmap base to the CPU entry area
 *         (about 64 bytes of struct page per 4 KiB of the direct map).
 */
struct pw_kernel_bases {
	uint64_t page_offset, vmalloc, vmemmap;
	unsigned found;
	uint64_t direct_map_end, direct_map_bytes, vmemmap_bytes;
};

/**
 * pw_ptdump_find_kernel_bases() - find a Linux x86-64 kernel's KASLR bases
 * from its page tables alone.
 * @mm: the address space (usually a foreign mm over a memory image).
 * @b: receives the bases.
 *
 * Between the guard hole and the CPU entry area: the direct map is the
 * longest run of leaves that map physical memory linearly from address 0
 * and starts at a 1 GiB-aligned address (KASLR aligns every base to
 * 1 GiB); vmalloc_base is the first mapped address past the direct map's
 * leaves, rounded down to 1 GiB; vmemmap_base the first mapped address at
 * least the vmalloc area's size (32 TiB, 12800 TiB with 5 levels) above
 * vmalloc_base, rounded down to 1 GiB. A base not found keeps its no-KASLR
 * value (pw_ptdump_x86_markers()); the vmalloc and vmemmap bases are only
 * looked for once the direct map is found. Walks each table once (aliases
 * are not followed on a foreign mm).
 *
 * Context: takes @mm's mmap lock for read (none for a foreign mm).
 * Return: 0 (also when nothing was found: see @b->found), -EINVAL (NULL
 * argument), -ENOMEM.
 */
int pw_ptdump_find_kernel_bases(struct pw_mm *mm, struct pw_kernel_bases *b);

/* Room for pw_ptdump_x86_markers_at()'s list. */
#define PW_PTDUMP_X86_MARKERS 14

/**
 * pw_ptdump_x86_markers_at() - pw_ptdump_x86_markers() with the Low Kernel
 * Mapping, vmalloc() Area and Vmemmap markers at the bases in @b.
 * @levels: 4 or 5.
 * @b: the bases (NULL: the no-KASLR list).
 * @buf: room for PW_PTDUMP_X86_MARKERS markers; filled and returned.
 *
 * A base below the marker before it is raised to it, so the list stays
 * sorted whatever @b holds.
 * Context: any. Return: @buf.
 */
const struct pw_ptdump_marker *pw_ptdump_x86_markers_at(int levels,
							const struct pw_kernel_bases *b,
							struct pw_ptdump_marker *buf);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_PTDUMP_H */
