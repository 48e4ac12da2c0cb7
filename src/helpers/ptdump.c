// SPDX-License-Identifier: MIT
/*
 * ptdump.c - Linux x86 dump_pagetables output over the iterator.
 *
 * Levels are Linux's top-down depths here (0 pgd .. 4 pte, pw_depth()),
 * because the output names them and effective protections are kept per
 * depth. With 4-level paging the root is depth 0, pgd, and its protection
 * also stands for the folded p4d (docs/glossary.md, "Folded root").
 */
#include <inttypes.h>
#include <stdarg.h>

#include "core/core.h"

#include <pagewalk/iter.h>
#include <pagewalk/ptdump.h>

/* Linux's PTE_FLAGS_MASK: every bit outside the 52-bit physical address field. */
#define FLAGS_MASK (~(((1ULL << 52) - 1) & PW_PAGE_MASK))

struct dump {
	FILE *out;
	enum pw_ptdump_format format;
	bool check_wx;
	int levels;
	int depth; /* -1 before the first note */
	uint64_t cur_prot, cur_eff, start;
	uint64_t prot_levels[PW_MAX_LEVELS];
	const struct pw_ptdump_marker *marker;
	unsigned long lines;
	struct pw_ptdump_summary sum;
	bool io_error;
};

static const char *const depth_name[] = { "pgd", "p4d", "pud", "pmd", "pte" };

static void out(struct dump *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct dump *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vfprintf(d->out, fmt, ap) < 0)
		d->io_error = true;
	va_end(ap);
}

static void print_prot(struct dump *d, uint64_t pr, int depth)
{
	if (!(pr & PW_P)) {
		out(d, "%30s%s\n", "", depth_name[depth]);
		return;
	}
	out(d, "%s%s%s%s%s%s%s%s%s\n", pr & PW_US ? "USR " : "    ", pr & PW_RW ? "RW " : "ro ",
	    pr & PW_PWT ? "PWT " : "    ", pr & PW_PCD ? "PCD " : "    ",
	    depth <= 3 && (pr & PW_PS) ? "PSE " : "    ",
	    (depth == 4 && (pr & PW_PAT)) || ((depth == 3 || depth == 2) && (pr & PW_PAT_LARGE)) ?
		    "PAT " : "    ",
	    pr & PW_G ? "GLB " : "    ", pr & PW_NX ? "NX " : "x  ", depth_name[depth]);
}

static void print_json(struct dump *d, uint64_t end)
{
	uint64_t pr = d->cur_prot;
	int lv = d->depth;

#define B(x) ((x) ? "true" : "false")
	out(d, "{\"start\":\"0x%016" PRIx64 "\",\"end\":\"0x%016" PRIx64 "\",\"size\":%" PRIu64
	       ",\"level\":\"%s\",\"present\":%s,\"user\":%s,\"rw\":%s,\"pwt\":%s,\"pcd\":%s,"
	       "\"pse\":%s,\"pat\":%s,\"global\":%s,\"nx\":%s,\"eff_user\":%s,\"eff_rw\":%s,"
	       "\"eff_nx\":%s}\n",
	    d->start, end, end - d->start, depth_name[lv], B(pr & PW_P), B(pr & PW_US), B(pr & PW_RW),
	    B(pr & PW_PWT), B(pr & PW_PCD), B(lv <= 3 && (pr & PW_PS)),
	    B((lv == 4 && (pr & PW_PAT)) || ((lv == 3 || lv == 2) && (pr & PW_PAT_LARGE))),
	    B(pr & PW_G), B(pr & PW_NX), B(d->cur_eff & PW_US), B(d->cur_eff & PW_RW),
	    B(d->cur_eff & PW_NX));
#undef B
}

static void print_marker(struct dump *d)
{
	if (d->format == PW_PTDUMP_LINUX)
		out(d, "---[ %s ]---\n", d->marker->name);
	else
		out(d, "{\"marker\":\"%s\"}\n", d->marker->name);
}

static void effective_prot(struct dump *d, int depth, uint64_t val)
{
	uint64_t prot = val & FLAGS_MASK;

	if (depth == 0)
		d->prot_levels[0] = prot;
	else
		d->prot_levels[depth] = (d->prot_levels[depth - 1] & prot & (PW_US | PW_RW)) |
					((d->prot_levels[depth - 1] | prot) & PW_NX);
}

/* Linux's note_page(): extend the current run or print it and start anew. */
static void note_page(struct dump *d, uint64_t addr, int depth, uint64_t val)
{
	static const char units[] = "BKMGTPE";
	uint64_t new_prot = val & FLAGS_MASK;
	uint64_t new_eff = val ? d->prot_levels[depth < 0 ? 0 : depth] : 0;

	if (d->depth == -1) {
		d->cur_prot = new_prot;
		d->cur_eff = new_eff;
		d->depth = depth;
		d->lines = 0;
		d->start = addr;
		print_marker(d);
	} else if (new_prot != d->cur_prot || new_eff != d->cur_eff || depth != d->depth ||
		   addr >= d->marker[1].start) {
		const char *unit = units;
		uint64_t delta = addr - d->start;

		if ((d->cur_eff & PW_RW) && !(d->cur_eff & PW_NX) && (d->cur_prot & PW_P) && d->check_wx)
			d->sum.wx_pages += (addr - d->start) >> PW_PAGE_SHIFT;
		if (!d->marker->max_lines || d->lines < d->marker->max_lines) {
			if (d->format == PW_PTDUMP_LINUX) {
				out(d, "0x%016" PRIx64 "-0x%016" PRIx64 "   ", d->start, addr);
				while (!(delta & 1023) && unit[1]) {
					delta >>= 10;
					unit++;
				}
				out(d, "%9" PRIu64 "%c ", delta, *unit);
				print_prot(d, d->cur_prot, d->depth);
			} else {
				print_json(d, addr);
			}
			d->sum.lines++;
		}
		d->lines++;
		if (depth >= 0 && addr >= d->marker[1].start) { /* not on the final flush */
			if (d->marker->max_lines && d->lines > d->marker->max_lines) {
				unsigned long nskip = d->lines - d->marker->max_lines;

				if (d->format == PW_PTDUMP_LINUX)
					out(d, "... %lu entr%s skipped ... \n", nskip, nskip == 1 ? "y" : "ies");
			}
			d->marker++;
			d->lines = 0;
			print_marker(d);
		}
		d->start = addr;
		d->cur_prot = new_prot;
		d->cur_eff = new_eff;
		d->depth = depth;
	}
}

static int dump_range(struct dump *d, struct pw_mm *mm, uint64_t start, uint64_t end,
		      const struct pw_ptdump_opts *opts)
{
	unsigned flags = PW_WALK_HOLES | PW_WALK_TABLES | PW_WALK_ALL_SIZES;
	struct pw_walk_state st;

	if (opts->follow_aliases)
		flags |= PW_WALK_ALIASES;
	pw_for_each_entry_max(&st, mm, start, end, flags, opts->max_entries) {
		int depth = pw_depth(d->levels, st.level);

		if (st.type == PW_STEP_HOLE && st.reason == PW_HOLE_NONCANONICAL)
			continue;
		effective_prot(d, depth, st.entry);
		if (depth == 0 && st.level != PW_LEVEL_PGD)
			effective_prot(d, 1, st.entry); /* the folded root is pgd and p4d both */
		if (st.type == PW_STEP_TABLE)
			continue;
		if (st.type == PW_STEP_LEAF)
			d->sum.present_pages += (st.end - st.start) >> PW_PAGE_SHIFT;
		note_page(d, st.start, depth,
			  st.type == PW_STEP_HOLE && (st.reason == PW_HOLE_EMPTY || st.reason == PW_HOLE_ALIAS) ?
				  0 : st.entry);
	}
	return pw_walk_error(&st);
}

PW_API int pw_ptdump(struct pw_mm *mm, FILE *f, const struct pw_ptdump_opts *opts,
		     struct pw_ptdump_summary *sum)
{
	static const struct pw_ptdump_opts dflt;
	struct pw_ptdump_range def_ranges[3];
	struct pw_ptdump_marker def_markers[3];
	struct dump d = { .out = f, .depth = -1 };
	const struct pw_ptdump_range *r;
	uint64_t last_end = 0;
	int ret = 0;

	if (!mm || !f)
		return -EINVAL;
	if (!opts)
		opts = &dflt;
	d.format = opts->format;
	d.check_wx = opts->check_wx;
	d.levels = pw_mm_paging(mm)->levels;
	r = opts->ranges;
	if (!r) {
		/* Linux x86-64: the lower half, then the upper half past the guard hole. */
		uint64_t guard_end = pw_high_half_start(d.levels) +
				     16 * pw_level_size(pw_root_level(d.levels));

		def_ranges[0] = (struct pw_ptdump_range){ 0, pw_low_half_end(d.levels) };
		def_ranges[1] = (struct pw_ptdump_range){ guard_end, ~0ULL };
		def_ranges[2] = (struct pw_ptdump_range){ 0, 0 };
		r = def_ranges;
	}
	d.marker = opts->markers;
	if (!d.marker) {
		def_markers[0] = (struct pw_ptdump_marker){ 0, "User Space", 0 };
		def_markers[1] = (struct pw_ptdump_marker){ 1ULL << 63, "Kernel Space", 0 };
		def_markers[2] = (struct pw_ptdump_marker){ ~0ULL, NULL, 0 };
		d.marker = def_markers;
	}
	if (!d.marker->name)
		return -EINVAL;
	if (pw_mm_arena(mm))
		pw_mmap_read_lock(mm);
	for (; r->start != r->end; r++) {
		/* Linux passes ~0 as an end; our walks take page-aligned ends (0 = top). */
		uint64_t end = r->end == ~0ULL ? 0 : r->end;

		last_end = end;
		ret = dump_range(&d, mm, r->start, end, opts);
		if (ret)
			break;
	}
	if (pw_mm_arena(mm))
		pw_mmap_read_unlock(mm);
	if (ret)
		return ret;
	if (d.depth != -1) {
		/*
		 * Flush the last run at the end of the last range. Linux notes
		 * address 0 at depth -1: the same when the range ends at the top.
		 */
		note_page(&d, last_end, -1, 0);
	}
	if (sum)
		*sum = d.sum;
	if (fflush(f) || d.io_error)
		return -EIO;
	return 0;
}

/*
 * Linux 6.1's x86-64 address_markers as its ptdump prints them without
 * KASLR. Like Linux's, a marker advances by at most one per range break, so
 * "LDT remap" prints at the break after "Kernel Space". With 5 levels
 * Linux's LDT base (0xff90000000000000) lies above the direct map; the
 * marker is kept at the guard-hole end so the list stays sorted, which
 * prints where Linux prints it. The Fixmap start depends on the config.
 */
static const struct pw_ptdump_marker markers_l4[] = {
	{ 0, "User Space", 0 },
	{ 0x8000000000000000ULL, "Kernel Space", 0 },
	{ 0xffff880000000000ULL, "LDT remap", 0 },
	{ 0xffff888000000000ULL, "Low Kernel Mapping", 0 },
	{ 0xffffc90000000000ULL, "vmalloc() Area", 0 },
	{ 0xffffea0000000000ULL, "Vmemmap", 0 },
	{ 0xfffffe0000000000ULL, "CPU entry Area", 0 },
	{ 0xffffff0000000000ULL, "ESPfix Area", 16 },
	{ 0xffffffef00000000ULL, "EFI Runtime Services", 0 },
	{ 0xffffffff80000000ULL, "High Kernel Mapping", 0 },
	{ 0xffffffffc0000000ULL, "Modules", 0 },
	{ 0xffffffffff000000ULL, "End Modules", 0 },
	{ 0xffffffffff57b000ULL, "Fixmap Area", 0 },
	{ ~0ULL, NULL, 0 },
};

static const struct pw_ptdump_marker markers_l5[] = {
	{ 0, "User Space", 0 },
	{ 0x8000000000000000ULL, "Kernel Space", 0 },
	{ 0xff10000000000000ULL, "LDT remap", 0 },
	{ 0xff11000000000000ULL, "Low Kernel Mapping", 0 },
	{ 0xffa0000000000000ULL, "vmalloc() Area", 0 },
	{ 0xffd4000000000000ULL, "Vmemmap", 0 },
	{ 0xfffffe0000000000ULL, "CPU entry Area", 0 },
	{ 0xffffff0000000000ULL, "ESPfix Area", 16 },
	{ 0xffffffef00000000ULL, "EFI Runtime Services", 0 },
	{ 0xffffffff80000000ULL, "High Kernel Mapping", 0 },
	{ 0xffffffffc0000000ULL, "Modules", 0 },
	{ 0xffffffffff000000ULL, "End Modules", 0 },
	{ 0xffffffffff57b000ULL, "Fixmap Area", 0 },
	{ ~0ULL, NULL, 0 },
};

PW_API const struct pw_ptdump_marker *pw_ptdump_x86_markers(int levels)
{
	return levels == 5 ? markers_l5 : markers_l4;
}
