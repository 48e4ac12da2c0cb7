// SPDX-License-Identifier: MIT
/*
 * cmd_ptdump.c - `pagewalk ptdump --image FILE`: dump the page tables held
 * in a memory image, in Linux's ptdump format, JSON, or QEMU's `info mem`
 * / `info tlb` text. Also the image options shared with `pagewalk translate`.
 */
#define _GNU_SOURCE /* fopencookie */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pagewalk/image.h>
#include <pagewalk/ptdump.h>
#include <pagewalk/qemu.h>

#include "commands.h"

/* A walk reading more entries than this is taken for a hostile image. */
#define DEFAULT_MAX_ENTRIES (1ULL << 31)

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno || !*s || *end) ? -EINVAL : 0;
}

int image_opt(struct image_args *a, int argc, char **argv, int *i)
{
	const char *o = argv[*i];
	uint64_t v;

	if (*i + 1 >= argc)
		return 0;
	if (!strcmp(o, "--image"))
		a->path = argv[++*i];
	else if (!strcmp(o, "--cr3") && !parse_u64(argv[*i + 1], &a->cr3))
		a->have_cr3 = true, ++*i;
	else if (!strcmp(o, "--levels") && !parse_u64(argv[*i + 1], &v) && (v == 4 || v == 5))
		a->levels = (int)v, ++*i;
	else if (!strcmp(o, "--maxphyaddr") && !parse_u64(argv[*i + 1], &v) && v >= 36 && v <= 52)
		a->maxphyaddr = (int)v, ++*i;
	else if (!strcmp(o, "--nxe") && !parse_u64(argv[*i + 1], &v) && v <= 1)
		a->nxe = (int)v, ++*i;
	else if (!strcmp(o, "--cpu") && !parse_u64(argv[*i + 1], &v) && v < 4096)
		a->cpu = (unsigned)v, ++*i;
	else if (!strcmp(o, "--max-entries") && !parse_u64(argv[*i + 1], &v))
		a->max_entries = v, a->have_max = true, ++*i;
	else
		return 0;
	return 1;
}

const char image_usage[] =
	"  --image FILE        raw image or ELF core (QEMU dump-guest-memory), plain or zstd\n"
	"  --cr3 ADDR          root table (default: CR3 from the QEMU note; low 12 bits ignored)\n"
	"  --levels 4|5        paging levels (default: CR4.LA57 from the note, else 4)\n"
	"  --maxphyaddr N      physical address width for the reserved-bit checks (default 52)\n"
	"  --nxe 0|1           EFER.NXE (not in QEMU's note; default 1)\n"
	"  --cpu N             which vCPU's registers to use (default 0)\n"
	"  --max-entries N     stop a walk after reading N entries (default 2^31)\n";

int image_mm_open(struct image_args *a, struct pw_image **img, struct pw_mm **mm)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_image_info info;
	uint64_t root = 0;
	int err;

	if (!a->path) {
		fprintf(stderr, "pagewalk: --image FILE is required\n");
		return -EINVAL;
	}
	err = pw_image_open(a->path, 0, img);
	if (err) {
		fprintf(stderr, "pagewalk: %s: %s\n", a->path,
			err == -EBADMSG ? "not a valid ELF core or zstd stream" : strerror(-err));
		return err;
	}
	pw_image_info(*img, &info);
	if (info.truncated)
		fprintf(stderr, "pagewalk: %s: warning: truncated, segments cut at the end of the file\n",
			a->path);
	cfg.maxphyaddr = 52;
	err = pw_image_paging(*img, a->cpu, &cfg, &root);
	if (err && !a->have_cr3) {
		fprintf(stderr, "pagewalk: %s: %s; give --cr3\n", a->path,
			err == -ENOENT ? "no CPU state (QEMU note) in the image" :
					 "the CPU is not in 64-bit paging mode");
		pw_image_close(*img);
		return err;
	}
	if (a->have_cr3)
		root = (a->cr3 & 0x000ffffffffff000ULL) >> 12;
	if (a->levels)
		cfg.levels = (uint8_t)a->levels;
	if (a->maxphyaddr)
		cfg.maxphyaddr = (uint8_t)a->maxphyaddr;
	if (a->nxe >= 0)
		cfg.nxe = a->nxe;
	if (!a->have_max)
		a->max_entries = DEFAULT_MAX_ENTRIES;
	err = pw_mm_create_foreign(pw_image_phys(*img), &cfg, root, mm);
	if (err) {
		fprintf(stderr, "pagewalk: cannot create the address space: %s\n", strerror(-err));
		pw_image_close(*img);
	}
	return err;
}

/* ---- progress: a stdout wrapper that reports on a terminal stderr ---- */

struct progress {
	FILE *out;
	uint64_t lines, bytes;
	struct timespec t0, last;
	bool shown;
};

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static ssize_t progress_write(void *c, const char *buf, size_t n)
{
	struct progress *p = c;
	size_t w = fwrite(buf, 1, n, p->out);

	for (size_t i = 0; i < n; i++)
		p->lines += buf[i] == '\n';
	p->bytes += n;
	if ((p->bytes & ~0xffffULL) != ((p->bytes - n) & ~0xffffULL)) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (since(&p->t0, &now) > 1.0 && since(&p->last, &now) > 0.25) {
			fprintf(stderr, "\rpagewalk: %" PRIu64 " lines, %.1f s", p->lines,
				since(&p->t0, &now));
			p->last = now;
			p->shown = true;
		}
	}
	return w == n ? (ssize_t)n : -1;
}

static int progress_close(void *c)
{
	struct progress *p = c;

	if (p->shown)
		fprintf(stderr, "\rpagewalk: %" PRIu64 " lines, done\n", p->lines);
	return fflush(p->out);
}

/* stdout, wrapped for progress when stderr is a terminal. */
static FILE *progress_open(struct progress *p)
{
	cookie_io_functions_t io = { .write = progress_write, .close = progress_close };
	FILE *f;

	if (!isatty(STDERR_FILENO))
		return stdout;
	*p = (struct progress){ .out = stdout };
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	f = fopencookie(p, "w", io);
	return f ? f : stdout;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pagewalk ptdump --image FILE [--format FMT] [OPTIONS]\n\n"
		   "Dump the page tables of a memory image from its root table (CR3).\n\n"
		   "  --format linux      Linux's x86 ptdump (default), with Linux 6.1's x86-64\n"
		   "                      address markers (no-KASLR layout; --plain-markers: only\n"
		   "                      User Space / Kernel Space)\n"
		   "  --format json       one JSON object per range\n"
		   "  --format qemu-info-mem, --format qemu-info-tlb\n"
		   "                      QEMU 7.2's `info mem` / `info tlb`, byte for byte\n"
		   "                      (its lossy choices included: see include/pagewalk/qemu.h)\n"
		   "%s", image_usage);
}

int cmd_ptdump(int argc, char **argv)
{
	struct image_args a = { .nxe = -1 };
	const char *fmt = "linux";
	bool plain = false;
	struct pw_image *img;
	struct pw_mm *mm;
	struct progress prog;
	FILE *out;
	int err;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (image_opt(&a, argc, argv, &i))
			continue;
		if (!strcmp(argv[i], "--format") && i + 1 < argc) {
			fmt = argv[++i];
		} else if (!strcmp(argv[i], "--plain-markers")) {
			plain = true;
		} else {
			fprintf(stderr, "pagewalk ptdump: bad argument '%s'\n\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (strcmp(fmt, "linux") && strcmp(fmt, "json") && strcmp(fmt, "qemu-info-mem") &&
	    strcmp(fmt, "qemu-info-tlb")) {
		fprintf(stderr, "pagewalk ptdump: unknown format '%s'\n", fmt);
		return 2;
	}
	if (image_mm_open(&a, &img, &mm))
		return 1;
	out = progress_open(&prog);
	if (!strcmp(fmt, "qemu-info-tlb")) {
		err = pw_qemu_info_tlb(mm, out, a.max_entries, NULL);
	} else if (!strcmp(fmt, "qemu-info-mem")) {
		err = pw_qemu_info_mem(mm, out, a.max_entries, NULL);
	} else {
		struct pw_ptdump_opts o = {
			.format = strcmp(fmt, "json") ? PW_PTDUMP_LINUX : PW_PTDUMP_JSON,
			.follow_aliases = true,
			.max_entries = a.max_entries,
		};

		if (!plain)
			o.markers = pw_ptdump_x86_markers(pw_mm_paging(mm)->levels);
		err = pw_ptdump(mm, out, &o, NULL);
	}
	if (out != stdout && fclose(out) && !err)
		err = -EIO;
	if (err == -E2BIG)
		fprintf(stderr, "pagewalk ptdump: stopped after %" PRIu64
				" entries (--max-entries): tables alias each other too much\n",
			a.max_entries);
	else if (err)
		fprintf(stderr, "pagewalk ptdump: %s\n", strerror(-err));
	pw_mm_destroy(mm);
	pw_image_close(img);
	return err ? 1 : 0;
}
