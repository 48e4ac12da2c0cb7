// SPDX-License-Identifier: MIT
/*
 * image_args.c - the memory-image options `ptdump`, `translate` and
 * `kernel-bases` share, opening the image with clear errors, the survey of
 * its tables (one pass entering each table once: table count, broken
 * entries, aliased frames) and the progress line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pagewalk/image.h>
#include <pagewalk/iter.h>
#include <pagewalk/ptdump.h>

#include "commands.h"
#include "image_args.h"

const char image_usage[] =
	"  --image FILE        raw image or ELF core (QEMU dump-guest-memory), plain or zstd\n"
	"  --cr3 ADDR          root table (default: CR3 from the QEMU note; bits 11:0 and 63\n"
	"                      ignored, bits 62:52 must be clear)\n"
	"  --levels 4|5        paging levels (default: CR4.LA57 from the note, else 4)\n"
	"  --maxphyaddr N      physical address width for the reserved-bit checks, 36..52\n"
	"                      (default 52)\n"
	"  --nxe 0|1           EFER.NXE (not in QEMU's note; default 1)\n"
	"  --cpu N             which vCPU's registers to use (default 0)\n"
	"  --max-entries N     stop a walk after reading N entries; 0 = no limit (default:\n"
	"                      4 x 512 x the tables in the image, + min(2^21, 256 x its\n"
	"                      frames) for aliases such as ESPfix's; exit 5 when reached)\n"
	"  --strict            exit 4 if the tables hold broken entries; refuse a truncated ELF\n"
	"  --progress          a progress line on stderr even when it is not a terminal\n"
	"ADDR is hex, with or without 0x (at most 64 bits); decimal is written d:DIGITS.\n"
	"N is decimal.\n";

static int bad_value(const char *cmd, const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "pagewalk %s: %s '%s': %s\n", cmd, opt, val, why);
	return -1;
}

int image_opt(const char *cmd, struct image_args *a, int argc, char **argv, int *i)
{
	static const char *const with_value[] = { "--image", "--cr3", "--levels", "--maxphyaddr",
						  "--nxe", "--cpu", "--max-entries" };
	const char *o = argv[*i], *val, *why = NULL;
	uint64_t v;
	bool known = false;

	if (!strcmp(o, "--strict")) {
		a->strict = true;
		return 1;
	}
	if (!strcmp(o, "--progress")) {
		a->progress = true;
		return 1;
	}
	for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
		known |= !strcmp(o, with_value[k]);
	if (!known)
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "pagewalk %s: %s needs a value\n", cmd, o);
		return -1;
	}
	val = argv[++*i];
	if (!strcmp(o, "--image")) {
		if (!*val)
			return bad_value(cmd, o, val, "empty file name");
		a->path = val;
		return 1;
	}
	if (!strcmp(o, "--cr3")) {
		if (parse_addr(val, &v, &why))
			return bad_value(cmd, o, val, why);
		if (v & 0x7ff0000000000000ULL)
			return bad_value(cmd, o, val, "bits 62:52 of CR3 are reserved");
		a->cr3 = v;
		a->have_cr3 = true;
		return 1;
	}
	if (parse_count(val, &v, &why))
		return bad_value(cmd, o, val, why);
	if (!strcmp(o, "--levels")) {
		if (v != 4 && v != 5)
			return bad_value(cmd, o, val, "must be 4 or 5");
		a->levels = (int)v;
	} else if (!strcmp(o, "--maxphyaddr")) {
		if (v < 36 || v > 52)
			return bad_value(cmd, o, val, "must be 36..52");
		a->maxphyaddr = (int)v;
	} else if (!strcmp(o, "--nxe")) {
		if (v > 1)
			return bad_value(cmd, o, val, "must be 0 or 1");
		a->nxe = (int)v;
	} else if (!strcmp(o, "--cpu")) {
		if (v >= 4096)
			return bad_value(cmd, o, val, "must be below 4096");
		a->cpu = (unsigned)v;
		a->have_cpu = true;
	} else {
		a->max_entries = v;
		a->have_max = true;
	}
	return 1;
}

/* ---- progress: counting the table frames the walk looks up ---- */

static struct progress {
	const struct pw_phys *inner;
	struct pw_phys outer;
	bool on, shown, force;
	uint64_t tables, lines;
	uint64_t entries; /* the ptdump's count, when it reports one (else 0) */
	struct timespec t0, last;
	const char *cmd;
} prog;

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void progress_print(const char *end)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	fprintf(stderr, "\rpagewalk %s: %" PRIu64 " tables visited, %s%" PRIu64
			" entries read, %" PRIu64 " lines out, %.1f s%s",
		prog.cmd, prog.tables, prog.entries ? "" : "~",
		prog.entries ? prog.entries : prog.tables * 512, prog.lines, since(&prog.t0, &now), end);
	prog.last = now;
	prog.shown = true;
}

static void progress_tick(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (since(&prog.t0, &now) > 1.0 && since(&prog.last, &now) > 0.25)
		progress_print("");
}

static void *progress_map(const struct pw_phys *phys, uint64_t pfn)
{
	if (!(++prog.tables & 255))
		progress_tick();
	return pw_phys_frame(prog.inner, pfn);
}

void progress_entries(void *arg, uint64_t entries, uint64_t lines)
{
	prog.entries = entries;
	if (prog.on)
		progress_tick();
}

void progress_final_entries(uint64_t entries)
{
	prog.entries = entries;
}

void progress_line(uint64_t lines)
{
	prog.lines = lines;
	if (prog.on && !(lines & 4095))
		progress_tick();
}

bool progress_on(void)
{
	return prog.on;
}

void progress_done(void)
{
	if (prog.on && (prog.shown || prog.force))
		progress_print(", done\n");
}

/* ---- opening ---- */

int image_mm_open(const char *cmd, struct image_args *a, struct pw_image **img, struct pw_mm **mm)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_image_error diag = { 0 };
	const struct pw_phys *phys;
	struct pw_image_info info;
	uint64_t root = 0;
	int err;

	if (!a->path)
		return usage_error(cmd, NULL, "--image FILE is required (see pagewalk %s --help)", cmd);
	err = pw_image_open_diag(a->path, a->strict ? PW_IMAGE_STRICT : 0, img, &diag);
	if (err == -EBADMSG) {
		if (diag.truncated)
			fprintf(stderr, "pagewalk %s: %s: truncated at byte %" PRIu64 " (%s)\n", cmd,
				a->path, diag.offset, diag.what);
		else
			fprintf(stderr, "pagewalk %s: %s: %s at byte %" PRIu64 "\n", cmd, a->path,
				diag.what ? diag.what : "not a valid image", diag.offset);
		return EXIT_IMAGE;
	}
	if (err) {
		fprintf(stderr, "pagewalk %s: %s: %s\n", cmd, a->path,
			err == -EINVAL ? "empty or not a regular file" : strerror(-err));
		return EXIT_IMAGE;
	}
	pw_image_info(*img, &info);
	if (info.truncated) {
		a->truncated = true;
		fprintf(stderr, "pagewalk %s: %s: warning: truncated at byte %" PRIu64
				": segments cut at the end of the file (their missing frames are holes)\n",
			cmd, a->path, info.file_bytes);
	}
	if (a->have_cpu && a->cpu >= info.nr_cpus) {
		if (info.nr_cpus)
			err = usage_error(cmd, NULL, "--cpu %u: the image holds %u CPU state%s (0..%u)",
					  a->cpu, info.nr_cpus, info.nr_cpus == 1 ? "" : "s",
					  info.nr_cpus - 1);
		else
			err = usage_error(cmd, NULL, "--cpu %u: the image holds no CPU state (QEMU note)",
					  a->cpu);
		pw_image_close(*img);
		return err;
	}
	cfg.maxphyaddr = 52;
	err = pw_image_paging(*img, a->cpu, &cfg, &root);
	if (err && !a->have_cr3) {
		fprintf(stderr, "pagewalk %s: %s: %s; give --cr3\n", cmd, a->path,
			err == -ENOENT ? "no CPU state (QEMU note) in the image" :
					 "the CPU is not in 64-bit paging mode");
		pw_image_close(*img);
		return EXIT_USAGE;
	}
	if (a->have_cr3)
		root = (a->cr3 & 0x000ffffffffff000ULL) >> 12;
	if (a->levels)
		cfg.levels = (uint8_t)a->levels;
	if (a->maxphyaddr)
		cfg.maxphyaddr = (uint8_t)a->maxphyaddr;
	if (a->nxe >= 0)
		cfg.nxe = a->nxe;
	phys = pw_image_phys(*img);
	if (!pw_phys_frame(phys, root)) {
		fprintf(stderr, "pagewalk %s: %s: the root table (CR3 frame 0x%" PRIx64
				") is outside the image\n", cmd, a->path, root);
		pw_image_close(*img);
		return a->have_cr3 ? EXIT_USAGE : EXIT_IMAGE;
	}
	prog = (struct progress){ .inner = phys, .cmd = cmd, .force = a->progress,
				  .on = a->progress || isatty(STDERR_FILENO) };
	if (prog.on) {
		prog.outer = (struct pw_phys){ .map = progress_map, .readonly = true };
		phys = &prog.outer;
		clock_gettime(CLOCK_MONOTONIC, &prog.t0);
	}
	err = pw_mm_create_foreign(phys, &cfg, root, mm);
	if (err) {
		fprintf(stderr, "pagewalk %s: cannot create the address space: %s\n", cmd,
			strerror(-err));
		pw_image_close(*img);
		return EXIT_IMAGE;
	}
	return 0;
}

/* ---- survey ---- */

int survey(struct pw_mm *mm, struct survey *sv)
{
	unsigned flags = PW_WALK_HOLES | PW_WALK_TABLES | PW_WALK_ALL_SIZES;
	const struct pw_paging *pg = pw_mm_paging(mm);
	struct pw_walk_state st;

	*sv = (struct survey){ .tables = 1 };
	pw_for_each_entry(&st, mm, 0, 0, flags) {
		if (st.type == PW_STEP_TABLE) {
			sv->tables++;
			continue;
		}
		if (st.type != PW_STEP_HOLE)
			continue;
		if (st.reason == PW_HOLE_RESERVED)
			sv->reserved++;
		else if (st.reason == PW_HOLE_NO_FRAME)
			sv->no_frame++;
		else if (st.reason == PW_HOLE_ALIAS) {
			uint64_t pfn = pw_entry_pfn(st.level, st.entry, pg->maxphyaddr);
			int lv = st.level - 1;
			unsigned k;

			sv->aliases++;
			for (k = 0; k < sv->nr_alias; k++)
				if (sv->alias[k].pfn == pfn && sv->alias[k].level == lv)
					break;
			if (k < sv->nr_alias)
				sv->alias[k].refs++;
			else if (k < SURVEY_ALIASES)
				sv->alias[sv->nr_alias++] = (struct alias_frame){ pfn, lv, 1 };
			else
				sv->more_alias_frames = true;
		}
	}
	return pw_walk_error(&st);
}

uint64_t default_limit(const struct survey *sv, uint64_t image_bytes)
{
	uint64_t espfix = (image_bytes >> 12) * 256;

	if (espfix > DEFAULT_ALIAS_ALLOWANCE)
		espfix = DEFAULT_ALIAS_ALLOWANCE;
	return 4 * 512 * sv->tables + espfix;
}

void print_limit_hit(const char *cmd, const struct image_args *a, const struct survey *sv,
		     int levels)
{
	fprintf(stderr, "pagewalk %s: stopped after %" PRIu64 " entries (%s%" PRIu64 "%s): the output"
			" is incomplete\n", cmd, a->max_entries,
		a->have_max ? "--max-entries " : "the default limit: 4 x 512 x tables, ",
		a->have_max ? a->max_entries : sv->tables,
		a->have_max ? "" : " tables, + an allowance for aliasing such as ESPfix's");
	if (!sv->aliases)
		return;
	fprintf(stderr, "pagewalk %s: the tables alias: %" PRIu64 " entries point at tables"
			" already entered:", cmd, sv->aliases);
	for (unsigned k = 0; k < sv->nr_alias; k++)
		fprintf(stderr, "%s frame 0x%" PRIx64 " (%s table, %" PRIu64 " references)",
			k ? "," : "", sv->alias[k].pfn << 12,
			pw_level_name(levels, (enum pw_level)sv->alias[k].level), sv->alias[k].refs);
	fprintf(stderr, "%s; --aliases once prints each subtree once\n",
		sv->more_alias_frames ? ", ..." : "");
}

void print_broken(const char *cmd, const struct survey *sv)
{
	if (!sv->reserved && !sv->no_frame)
		return;
	fprintf(stderr, "pagewalk %s: warning: %" PRIu64 " broken entries, shown as holes: %" PRIu64
			" reserved (reserved bits set), %" PRIu64 " no-frame (table outside the image)\n",
		cmd, sv->reserved + sv->no_frame, sv->reserved, sv->no_frame);
}
