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
#include <stdlib.h>

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
	/* The current run: its hole reason (-1: none or an empty/not-present
	 * entry), first physical address and raw entry, the physical address
	 * its next page must have (JSON splits runs there), alias source. */
	int cur_reason;
	uint64_t cur_phys, cur_entry, next_phys, cur_alias;
	bool show_aliases;
	/* (table frame, level) -> first address it was entered at. */
	struct seen_tbl { uint64_t key, va; } *tbl;
	size_t tbl_cap, tbl_len;
	int maxphy;
	uint64_t steps; /* for opts->progress */
};

static const char *const reason_name[] = {
	[PW_HOLE_EMPTY] = "empty",	   [PW_HOLE_NOT_PRESENT] = "not-present",
	[PW_HOLE_RESERVED] = "reserved",   [PW_HOLE_NO_FRAME] = "no-frame",
	[PW_HOLE_NONCANONICAL] = "non-canonical", [PW_HOLE_ALIAS] = "alias",
	[PW_HOLE_DEVICE_EXCLUSIVE] = "device-exclusive",
};

PW_API const char *pw_ptdump_hole_name(int reason)
{
	if (reason < 0 || reason > PW_HOLE_DEVICE_EXCLUSIVE)
		return NULL;
	return reason_name[reason];
}

static uint64_t tbl_hash(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

/* Remember where table (@pfn, @level) was first entered; -ENOMEM. */
static int tbl_add(struct dump *d, uint64_t pfn, int level, uint64_t va)
{
	uint64_t key = (pfn << 3 | (uint64_t)level) + 1;
	size_t i;

	if (d->tbl_len * 2 >= d->tbl_cap) {
		size_t ncap = d->tbl_cap ? d->tbl_cap * 2 : 1024;
		struct seen_tbl *n = calloc(ncap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (size_t j = 0; j < d->tbl_cap; j++) {
			if (!d->tbl[j].key)
				continue;
			for (i = tbl_hash(d->tbl[j].key) & (ncap - 1); n[i].key; i = (i + 1) & (ncap - 1))
				;
			n[i] = d->tbl[j];
		}
		free(d->tbl);
		d->tbl = n;
		d->tbl_cap = ncap;
	}
	for (i = tbl_hash(key) & (d->tbl_cap - 1); d->tbl[i].key; i = (i + 1) & (d->tbl_cap - 1))
		if (d->tbl[i].key == key)
			return 0;
	d->tbl[i] = (struct seen_tbl){ key, va };
	d->tbl_len++;
	return 0;
}

/* The first address table (@pfn, @level) was entered at, or ~0. */
static uint64_t tbl_find(const struct dump *d, uint64_t pfn, int level)
{
	uint64_t key = (pfn << 3 | (uint64_t)level) + 1;

	if (!d->tbl_cap)
		return ~0ULL;
	for (size_t i = tbl_hash(key) & (d->tbl_cap - 1); d->tbl[i].key; i = (i + 1) & (d->tbl_cap - 1))
		if (d->tbl[i].key == key)
			return d->tbl[i].va;
	return ~0ULL;
}

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
	if (d->cur_reason == PW_HOLE_ALIAS) {
		out(d, "%30s%s  [same as the subtree at 0x%016" PRIx64 "]\n", "", depth_name[depth],
		    d->cur_alias);
		return;
	}
	if (d->cur_reason >= 0) {
		out(d, "%30s%s  [%s]\n", "", depth_name[depth], reason_name[d->cur_reason]);
		return;
	}
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

static void print_json_line(struct dump *d, uint64_t end)
{
	uint64_t pr = d->cur_prot;
	int lv = d->depth;
	bool present = (pr & PW_P) && d->cur_reason < 0;

#define B(x) ((x) ? "true" : "false")
	out(d, "{\"start\":\"0x%016" PRIx64 "\",\"end\":\"0x%016" PRIx64 "\",\"size\":%" PRIu64
	       ",\"level\":\"%s\",\"present\":%s,\"user\":%s,\"rw\":%s,\"pwt\":%s,\"pcd\":%s,"
	       "\"pse\":%s,\"pat\":%s,\"global\":%s,\"nx\":%s,\"eff_user\":%s,\"eff_rw\":%s,"
	       "\"eff_nx\":%s,\"entry\":\"0x%016" PRIx64 "\"",
	    d->start, end, end - d->start, depth_name[lv], B(present), B(present && (pr & PW_US)),
	    B(present && (pr & PW_RW)), B(present && (pr & PW_PWT)), B(present && (pr & PW_PCD)),
	    B(present && lv <= 3 && (pr & PW_PS)),
	    B(present && ((lv == 4 && (pr & PW_PAT)) || ((lv == 3 || lv == 2) && (pr & PW_PAT_LARGE)))),
	    B(present && (pr & PW_G)), B(present && (pr & PW_NX)), B(present && (d->cur_eff & PW_US)),
	    B(present && (d->cur_eff & PW_RW)), B(present && (d->cur_eff & PW_NX)), d->cur_entry);
#undef B
	if (present)
		out(d, ",\"phys\":\"0x%" PRIx64 "\"", d->cur_phys);
	else
		out(d, ",\"phys\":null");
	if (d->cur_reason >= 0)
		out(d, ",\"hole\":\"%s\"", reason_name[d->cur_reason]);
	else
		out(d, ",\"hole\":%s", pr & PW_P ? "null" : d->cur_entry ? "\"not-present\"" : "\"empty\"");
	if (d->cur_reason == PW_HOLE_ALIAS)
		out(d, ",\"same_as\":\"0x%016" PRIx64 "\"", d->cur_alias);
	out(d, "}\n");
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
/*
 * struct note - what note_page() is told about one step besides its address:
 * @val: the entry for the protection (0 for holes that map nothing);
 * @entry: the raw entry; @reason: -1, or the hole reason of a broken entry
 * (reserved, no-frame) or of an alias line; @phys: a leaf's physical
 * address (~0 otherwise); @size: the step's size; @alias: for an alias, the
 * address the table was first entered at.
 */
struct note {
	uint64_t val, entry, phys, size, alias;
	int reason;
};

static void note_page(struct dump *d, uint64_t addr, int depth, const struct note *n)
{
	static const char units[] = "BKMGTPE";
	uint64_t new_prot = n->val & FLAGS_MASK;
	uint64_t new_eff = n->val ? d->prot_levels[depth < 0 ? 0 : depth] : 0;
	bool phys_break = d->format == PW_PTDUMP_JSON && n->phys != ~0ULL && n->phys != d->next_phys;

	if (d->depth == -1) {
		d->cur_prot = new_prot;
		d->cur_eff = new_eff;
		d->depth = depth;
		d->lines = 0;
		d->start = addr;
		d->cur_reason = n->reason;
		d->cur_entry = n->entry;
		d->cur_phys = n->phys;
		d->cur_alias = n->alias;
		print_marker(d);
	} else if (new_prot != d->cur_prot || new_eff != d->cur_eff || depth != d->depth ||
		   addr >= d->marker[1].start || n->reason != d->cur_reason ||
		   n->reason == PW_HOLE_ALIAS || phys_break) {
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
				print_json_line(d, addr);
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
		d->cur_reason = n->reason;
		d->cur_entry = n->entry;
		d->cur_phys = n->phys;
		d->cur_alias = n->alias;
	}
	d->next_phys = n->phys == ~0ULL ? ~0ULL : n->phys + n->size;
}

static int dump_range(struct dump *d, struct pw_mm *mm, uint64_t start, uint64_t end,
		      const struct pw_ptdump_opts *opts)
{
	unsigned flags = PW_WALK_HOLES | PW_WALK_TABLES | PW_WALK_ALL_SIZES;
	uint64_t max = opts->max_entries;
	struct pw_walk_state st;
	struct note n;

	if (opts->follow_aliases)
		flags |= PW_WALK_ALIASES;
	if (max) {
		if (d->sum.entries >= max)
			return -E2BIG;
		max -= d->sum.entries;
	}
	pw_for_each_entry_max(&st, mm, start, end, flags, max) {
		int depth = pw_depth(d->levels, st.level);

		if (opts->progress && !(++d->steps & 0xffff))
			opts->progress(opts->progress_arg, d->sum.entries + st._private.visits,
				       d->sum.lines);
		if (st.type == PW_STEP_HOLE && st.reason == PW_HOLE_NONCANONICAL)
			continue;
		effective_prot(d, depth, st.entry);
		if (depth == 0 && st.level != PW_LEVEL_PGD)
			effective_prot(d, 1, st.entry); /* the folded root is pgd and p4d both */
		if (st.type == PW_STEP_TABLE) {
			if (!opts->follow_aliases && d->show_aliases &&
			    tbl_add(d, pw_entry_pfn(st.level, st.entry, d->maxphy), st.level - 1, st.start))
				return -ENOMEM;
			continue;
		}
		n = (struct note){ .val = st.entry, .entry = st.entry, .phys = ~0ULL,
				   .size = st.end - st.start, .alias = ~0ULL, .reason = -1 };
		if (st.type == PW_STEP_LEAF) {
			d->sum.present_pages += (st.end - st.start) >> PW_PAGE_SHIFT;
			n.phys = pw_entry_pfn(st.level, st.entry, d->maxphy) << PW_PAGE_SHIFT;
		} else if (st.reason == PW_HOLE_EMPTY) {
			n.val = 0;
		} else if (st.reason == PW_HOLE_DEVICE_EXCLUSIVE) {
			n.val = 0; /* one run per stretch of exclusive entries, marked */
			n.reason = PW_HOLE_DEVICE_EXCLUSIVE;
		} else if (st.reason == PW_HOLE_RESERVED || st.reason == PW_HOLE_NO_FRAME) {
			n.val = 0;
			n.reason = (int)st.reason;
			if (st.reason == PW_HOLE_RESERVED)
				d->sum.holes_reserved++;
			else
				d->sum.holes_no_frame++;
		} else if (st.reason == PW_HOLE_ALIAS) {
			n.val = 0;
			d->sum.aliases++;
			if (d->show_aliases) {
				n.reason = PW_HOLE_ALIAS;
				n.alias = tbl_find(d, pw_entry_pfn(st.level, st.entry, d->maxphy),
						   st.level - 1);
			}
		}
		note_page(d, st.start, depth, &n);
	}
	d->sum.entries += st._private.visits;
	return pw_walk_error(&st);
}

PW_API int pw_ptdump(struct pw_mm *mm, FILE *f, const struct pw_ptdump_opts *opts,
		     struct pw_ptdump_summary *sum)
{
	static const struct pw_ptdump_opts dflt;
	struct pw_ptdump_range def_ranges[3];
	struct pw_ptdump_marker def_markers[3];
	struct dump d = { .out = f, .depth = -1, .cur_reason = -1 };
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
	d.maxphy = pw_mm_paging(mm)->maxphyaddr;
	d.show_aliases = opts->show_aliases;
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
	if (sum)
		*sum = d.sum;
	if (ret) {
		free(d.tbl);
		fflush(f);
		return ret;
	}
	if (d.depth != -1) {
		/*
		 * Flush the last run at the end of the last range. Linux notes
		 * address 0 at depth -1: the same when the range ends at the top.
		 */
		static const struct note flush = { .phys = ~0ULL, .alias = ~0ULL, .reason = -1 };

		note_page(&d, last_end, -1, &flush);
	}
	free(d.tbl);
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

/* ---- KASLR: the direct map, vmalloc and vmemmap bases from the tables ---- */

#define GiB (1ULL << 30)
#define TiB (1ULL << 40)

static uint64_t round_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

PW_API int pw_ptdump_find_kernel_bases(struct pw_mm *mm, struct pw_kernel_bases *b)
{
	const struct pw_ptdump_marker *m;
	int levels, maxphy;
	uint64_t lo, hi, vmalloc_size;
	uint64_t run_va = 0, run_pa = 0, run_len = 0, best_len = 0, dm = ~0ULL, dm_end = 0;
	uint64_t first_after = ~0ULL, vmemmap_first = ~0ULL, vmemmap_bytes = 0, dm_bytes = 0;
	struct pw_walk_state st;
	int err;

	if (!mm || !b)
		return -EINVAL;
	levels = pw_mm_paging(mm)->levels;
	maxphy = pw_mm_paging(mm)->maxphyaddr;
	m = pw_ptdump_x86_markers(levels);
	*b = (struct pw_kernel_bases){ .page_offset = m[3].start, .vmalloc = m[4].start,
				       .vmemmap = m[5].start };
	/* The randomised regions lie between the guard hole and the CPU entry area. */
	lo = pw_high_half_start(levels) + 16 * pw_level_size(pw_root_level(levels));
	hi = 0xfffffe0000000000ULL;
	vmalloc_size = levels == 5 ? 12800 * TiB : 32 * TiB;

	if (pw_mm_arena(mm))
		pw_mmap_read_lock(mm);
	/* Pass 1: the longest physically linear run of leaves that starts at
	 * physical 0 at a 1 GiB-aligned address (KASLR aligns the bases to
	 * 1 GiB): the direct map. */
	pw_for_each_entry(&st, mm, lo, hi, PW_WALK_ALL_SIZES) {
		uint64_t pa = pw_entry_pfn(st.level, st.entry, maxphy) << PW_PAGE_SHIFT;
		uint64_t sz = st.end - st.start;

		if (st.type != PW_STEP_LEAF)
			continue;
		if (run_len && st.start == run_va + run_len && pa == run_pa + run_len) {
			run_len += sz;
		} else {
			run_va = st.start;
			run_pa = pa;
			run_len = sz;
		}
		if (run_pa == 0 && !(run_va & (GiB - 1)) && run_len > best_len) {
			best_len = run_len;
			dm = run_va;
		}
	}
	err = pw_walk_error(&st);
	if (!err && dm != ~0ULL) {
		/* Pass 2: the direct map's extent (every leaf at dm + its physical
		 * address), the first mapping past it (vmalloc), and the first one
		 * at least the vmalloc area's size further (vmemmap). */
		pw_for_each_entry(&st, mm, dm, hi, PW_WALK_ALL_SIZES) {
			uint64_t pa = pw_entry_pfn(st.level, st.entry, maxphy) << PW_PAGE_SHIFT;
			uint64_t sz = st.end - st.start;

			if (st.type != PW_STEP_LEAF)
				continue;
			if (first_after == ~0ULL && st.start - dm == pa) {
				dm_end = st.end;
				dm_bytes += sz;
				continue;
			}
			if (first_after == ~0ULL) {
				first_after = st.start;
				continue;
			}
			if (vmemmap_first == ~0ULL) {
				if (st.start >= round_down(first_after, GiB) + vmalloc_size)
					vmemmap_first = st.start;
				else
					continue;
			}
			vmemmap_bytes += sz;
		}
		err = pw_walk_error(&st);
	}
	if (pw_mm_arena(mm))
		pw_mmap_read_unlock(mm);
	if (err)
		return err;
	if (dm != ~0ULL) {
		b->page_offset = dm;
		b->found |= PW_KBASE_PAGE_OFFSET;
		b->direct_map_bytes = dm_bytes;
		b->direct_map_end = dm_end;
	}
	if (first_after != ~0ULL) {
		b->vmalloc = round_down(first_after, GiB);
		b->found |= PW_KBASE_VMALLOC;
	}
	if (vmemmap_first != ~0ULL) {
		b->vmemmap = round_down(vmemmap_first, GiB);
		b->found |= PW_KBASE_VMEMMAP;
		b->vmemmap_bytes = vmemmap_bytes;
	}
	return 0;
}

PW_API const struct pw_ptdump_marker *pw_ptdump_x86_markers_at(int levels,
							      const struct pw_kernel_bases *b,
							      struct pw_ptdump_marker *buf)
{
	const struct pw_ptdump_marker *m = pw_ptdump_x86_markers(levels);
	size_t n = 0;

	do
		buf[n] = m[n];
	while (m[n++].name);
	if (b) {
		buf[3].start = b->page_offset;
		buf[4].start = b->vmalloc;
		buf[5].start = b->vmemmap;
	}
	/* Keep the list sorted whatever the bases are: a marker never precedes
	 * the one before it. */
	for (size_t i = 1; i + 1 < n; i++)
		if (buf[i].start < buf[i - 1].start)
			buf[i].start = buf[i - 1].start;
	return buf;
}
