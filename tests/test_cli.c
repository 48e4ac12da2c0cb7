// SPDX-License-Identifier: MIT
/*
 * test_cli.c - Description: the `pagewalk` command line as scripts use it.
 *
 * Runs the CLI built with ASan+UBSan (build/pagewalk-san; $PW_CLI names
 * another) on hostile images this test writes (self-referencing tables,
 * every entry at one table, a cycle through two tables, frames past the
 * end, reserved bits at each level, PS in a PML4E/PML5E, bad CR3s), on
 * tables with randomised KASLR bases, and on the shared datasets. Checks
 * exit statuses, stderr messages, and bounds by counting: output bytes
 * (also capped for the child with RLIMIT_FSIZE) and the entries the walk
 * reports reading (--verbose), never by the clock.
 *
 * `pagewalk smaps` runs in this process: tools/cmd_smaps.c, demo_space.c
 * and cli.c are compiled into the test, so that its output is checked
 * line by line (the kernel's field order and widths, the maps line's name
 * column) and its figures against pw_smaps() of the same demo space.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zstd.h>

#include <pagewalk/mm.h>
#include <pagewalk/smaps.h>

#include "tap.h"

/* The commands run in-process (see the header comment). */
#include "../tools/cli.c"
#include "../tools/cmd_smaps.c"
#include "../tools/demo_space.c"

#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)
#define TiB ((uint64_t)1 << 40)
#define P 0x1ULL
#define RW 0x2ULL
#define US 0x4ULL
#define PS 0x80ULL
#define NX (1ULL << 63)

/* What the child may write at most (RLIMIT_FSIZE): far above any bound below. */
#define FSIZE_CAP (512 * MiB)

static const char *cli(void)
{
	const char *s = getenv("PW_CLI");

	return s && *s ? s : "build/pagewalk-san";
}

static char tmpdir[256];

struct run {
	int rc;	      /* exit status, or 128 + signal */
	char *out, *err;
	size_t out_len, err_len;
};

static char *slurp_fd(int fd, size_t *len)
{
	struct stat st;
	char *b;

	fstat(fd, &st);
	*len = (size_t)st.st_size;
	b = malloc(*len + 1);
	if (!b)
		abort();
	if (pread(fd, b, *len, 0) != (ssize_t)*len)
		*len = 0;
	b[*len] = 0;
	return b;
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* Run the CLI with the NULL-terminated arguments; stdout and stderr to files. */
static struct run run_argv(const char *const *args)
{
	char op[300], ep[300];
	struct run r = { 0 };
	int ofd, efd, st;
	pid_t pid;
	char *argv[64];
	int n = 0;

	argv[n++] = (char *)(uintptr_t)cli();
	for (; args[n - 1] && n < 63; n++)
		argv[n] = (char *)(uintptr_t)args[n - 1]; /* execv does not write them */
	argv[n] = NULL;
	snprintf(op, sizeof(op), "%s/out", tmpdir);
	snprintf(ep, sizeof(ep), "%s/err", tmpdir);
	ofd = open(op, O_RDWR | O_CREAT | O_TRUNC, 0600);
	efd = open(ep, O_RDWR | O_CREAT | O_TRUNC, 0600);
	pid = fork();
	if (pid == 0) {
		struct rlimit fl = { FSIZE_CAP, FSIZE_CAP }, cpu = { 120, 120 };

		setrlimit(RLIMIT_FSIZE, &fl);
		setrlimit(RLIMIT_CPU, &cpu); /* a safety net, not a measurement */
		dup2(ofd, 1);
		dup2(efd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.out = slurp_fd(ofd, &r.out_len);
	r.err = slurp_fd(efd, &r.err_len);
	close(ofd);
	close(efd);
	return r;
}

#define RUN_CLI(...) run_argv((const char *const[]){ __VA_ARGS__, NULL })

static bool has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* Lines of @s. */
static size_t nlines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* ---- images the test builds ---- */

struct img {
	uint8_t *b;
	size_t len;
	uint64_t next; /* next free frame's address */
	char path[300];
};

static void img_new(struct img *im, size_t len, const char *name)
{
	im->b = calloc(1, len);
	if (!im->b)
		abort();
	im->len = len;
	im->next = 0x2000; /* the root is frame 1 */
	snprintf(im->path, sizeof(im->path), "%s/%s", tmpdir, name);
}

static uint64_t *ent(struct img *im, uint64_t table, unsigned idx)
{
	return (uint64_t *)(im->b + table) + idx;
}

static uint64_t img_frame(struct img *im)
{
	uint64_t f = im->next;

	im->next += 0x1000;
	return f;
}

/* Map @va to @pa with a leaf at @leaf_level (0 pte, 1 pmd, 2 pud) under root @root (4 levels). */
static void img_map(struct img *im, uint64_t root, uint64_t va, uint64_t pa, int leaf_level,
		    uint64_t flags)
{
	uint64_t t = root;

	for (int lv = 3; lv > leaf_level; lv--) {
		uint64_t *e = ent(im, t, (va >> (12 + 9 * lv)) & 511);

		if (!*e)
			*e = img_frame(im) | P | RW | US;
		t = *e & 0x000ffffffffff000ULL;
	}
	*ent(im, t, (va >> (12 + 9 * leaf_level)) & 511) = pa | flags | P | (leaf_level ? PS : 0);
}

static void img_write(struct img *im)
{
	FILE *f = fopen(im->path, "wb");

	if (!f || fwrite(im->b, 1, im->len, f) != im->len)
		abort();
	fclose(f);
}

static void img_free(struct img *im)
{
	unlink(im->path);
	free(im->b);
}

/* The entries read, from --verbose: "..., N entries read, ..." (~0 if absent). */
static uint64_t entries_read(const char *err)
{
	const char *p = strstr(err, " entries read");

	while (p && p > err && p[-1] >= '0' && p[-1] <= '9')
		p--;
	return p ? strtoull(p, NULL, 10) : ~0ULL;
}

static uint64_t limit_of(const char *err)
{
	const char *p = strstr(err, "limit ");

	return p ? strtoull(p + 6, NULL, 10) : ~0ULL;
}

static const char *const formats[] = { "linux", "json", "qemu-info-tlb", "qemu-info-mem" };

/*
 * Every format on an aliasing image: bounded output (a multiple of the
 * image size), the documented status (5 when the limit is hit), the message
 * naming an aliased frame; --aliases once then prints each subtree once.
 */
static void check_aliasing(struct img *im, const char *cr3, const char *frame)
{
	for (size_t k = 0; k < 4; k++) {
		struct run r = RUN_CLI("ptdump", "--image", im->path, "--cr3", cr3, "--format",
				       formats[k], "--verbose");

		CHECK_EQ(r.rc, 5);
		CHECK(has(r.err, "stopped after"));
		CHECK(has(r.err, "the output is incomplete"));
		CHECK(has(r.err, "the tables alias"));
		CHECK(has(r.err, frame));
		CHECK(r.out_len <= 64 * im->len);
		if (k < 2) {
			/* Linux and JSON stop at the limit (the iterator counts the
			 * entry it stops at as read). */
			CHECK(entries_read(r.err) <= limit_of(r.err) + 1);
		}
		CHECK(limit_of(r.err) <= 4 * 512 * 8 + 256 * (im->len >> 12));
		if (r.rc != 5 || !has(r.err, frame))
			printf("# %s: rc %d, %zu bytes out, stderr: %s\n", formats[k], r.rc, r.out_len,
			       r.err);
		run_free(&r);
	}
	for (size_t k = 0; k < 2; k++) {
		struct run r = RUN_CLI("ptdump", "--image", im->path, "--cr3", cr3, "--format",
				       formats[k], "--aliases", "once", "--verbose");

		CHECK_EQ(r.rc, 0);
		CHECK(has(r.out, k ? "\"hole\":\"alias\"" : "[same as the subtree at 0x"));
		if (k)
			CHECK(has(r.out, "\"same_as\":\"0x"));
		CHECK(r.out_len <= 4 * im->len);
		CHECK(entries_read(r.err) <= 512 * 8);
		run_free(&r);
	}
	/* translate of such tables ends too. */
	struct run t = RUN_CLI("translate", "--image", im->path, "--cr3", cr3, "0", "7fffffffe000");

	CHECK(t.rc == 0 || t.rc == 1);
	CHECK(t.out_len < 4096);
	run_free(&t);
}

TEST(hostile_self_reference_every_level)
{
	struct img im;

	img_new(&im, 2 * MiB, "selfref.raw");
	for (unsigned i = 0; i < 512; i++)
		*ent(&im, 0x1000, i) = 0x1000 | P | RW | US;
	img_write(&im);
	check_aliasing(&im, "0x1000", "frame 0x1000");
	/* The same with 5 levels. */
	struct run r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "1000", "--levels", "5",
			       "--format", "qemu-info-tlb");

	CHECK_EQ(r.rc, 5);
	CHECK(r.out_len <= 64 * im.len);
	run_free(&r);
	img_free(&im);
}

TEST(hostile_every_entry_at_one_table)
{
	struct img im;

	img_new(&im, 2 * MiB, "onetable.raw");
	for (unsigned i = 0; i < 512; i++) {
		*ent(&im, 0x1000, i) = 0x2000 | P | RW | US;
		*ent(&im, 0x2000, i) = 0x3000 | P | RW | US;
		*ent(&im, 0x3000, i) = 0x4000 | P | RW | US;
		*ent(&im, 0x4000, i) = 0x5000 | P | RW | US;
	}
	img_write(&im);
	check_aliasing(&im, "1000", "frame 0x4000");
	img_free(&im);
}

TEST(hostile_cycle_through_two_tables)
{
	struct img im;

	img_new(&im, 2 * MiB, "cycle.raw");
	for (unsigned i = 0; i < 512; i++) {
		*ent(&im, 0x1000, i) = 0x2000 | P | RW | US;
		*ent(&im, 0x2000, i) = 0x1000 | P | RW | US;
	}
	img_write(&im);
	check_aliasing(&im, "0x1000", "frame 0x");
	img_free(&im);
}

TEST(hostile_frames_past_the_end)
{
	struct img im;
	struct run r;

	img_new(&im, 2 * MiB, "pastend.raw");
	for (unsigned i = 0; i < 512; i++)
		*ent(&im, 0x1000, i) = (0x7ff000000ULL + i * 0x1000) | P | RW | US;
	img_write(&im);
	for (size_t k = 0; k < 4; k++) {
		r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "0x1000", "--format",
			    formats[k]);
		CHECK_EQ(r.rc, 0);
		CHECK(has(r.err, "warning: 512 broken entries"));
		CHECK(has(r.err, "512 no-frame"));
		CHECK(r.out_len <= 64 * 1024);
		if (k == 0) {
			CHECK(has(r.out, "pgd  [no-frame]"));
			CHECK(!has(r.out, " RW "));
		}
		if (k == 1) {
			CHECK(has(r.out, "\"hole\":\"no-frame\""));
			CHECK(!has(r.out, "\"present\":true"));
		}
		if (k == 2)
			CHECK_EQ(r.out_len, 0);
		run_free(&r);
		r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "0x1000", "--format",
			    formats[k], "--strict");
		CHECK_EQ(r.rc, 4);
		run_free(&r);
	}
	r = RUN_CLI("translate", "--image", im.path, "--cr3", "0x1000", "0");
	CHECK_EQ(r.rc, 1);
	CHECK(has(r.out, "broken entry"));
	run_free(&r);
	img_free(&im);
}

/* A chain 0 -> one 4 KiB page, with bit 45 (reserved under --maxphyaddr 40) set at @lv. */
TEST(hostile_reserved_bits_at_each_level)
{
	static const char *const name[] = { "pte  [reserved]", "pmd  [reserved]", "pud  [reserved]",
					    "pgd  [reserved]" };

	for (int lv = 0; lv < 4; lv++) {
		struct img im;
		uint64_t t = 0x1000;
		struct run r;

		img_new(&im, 1 * MiB, "rsvd.raw");
		im.next = 0x2000;
		img_map(&im, 0x1000, 0x400000, 0x80000, 0, RW | US);
		for (int l = 3; l > lv; l--)
			t = *ent(&im, t, (0x400000ULL >> (12 + 9 * l)) & 511) & 0xffffffffff000ULL;
		*ent(&im, t, (0x400000ULL >> (12 + 9 * lv)) & 511) |= 1ULL << 45;
		img_write(&im);
		r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "0x1000", "--maxphyaddr", "40");
		CHECK_EQ(r.rc, 0);
		CHECK(has(r.out, name[lv]));
		CHECK(has(r.err, "warning: 1 broken entries"));
		CHECK(has(r.err, "1 reserved"));
		run_free(&r);
		r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "0x1000", "--maxphyaddr", "40",
			    "--format", "json", "--strict");
		CHECK_EQ(r.rc, 4);
		CHECK(has(r.out, "\"hole\":\"reserved\""));
		run_free(&r);
		/* Without the reserved bit's meaning (MAXPHYADDR 52) it is a mapping of its own. */
		r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "0x1000", "--strict");
		CHECK(r.rc == 0 || r.rc == 4);
		run_free(&r);
		img_free(&im);
	}
}

TEST(hostile_ps_in_pml4_and_pml5)
{
	struct img im;
	struct run r;

	img_new(&im, 1 * MiB, "ps.raw");
	*ent(&im, 0x1000, 0) = 0 | P | RW | US | PS;
	img_write(&im);
	for (int levels = 4; levels <= 5; levels++) {
		r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "0x1000", "--levels",
			    levels == 4 ? "4" : "5", "--strict");
		CHECK_EQ(r.rc, 4);
		CHECK(has(r.out, "pgd  [reserved]"));
		CHECK(has(r.err, "1 reserved"));
		run_free(&r);
		r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "0x1000", "--levels",
			    levels == 4 ? "4" : "5", "--format", "qemu-info-tlb");
		CHECK_EQ(r.rc, 0);
		CHECK(r.out_len < 4096);
		run_free(&r);
	}
	img_free(&im);
}

TEST(hostile_cr3)
{
	struct img im;
	struct run r;

	img_new(&im, 1 * MiB, "cr3.raw");
	img_write(&im);
	r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "0xffff800000001000");
	CHECK_EQ(r.rc, 2);
	CHECK(has(r.err, "bits 62:52"));
	run_free(&r);
	r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "0x800fffff00000000");
	CHECK_EQ(r.rc, 2);
	CHECK(has(r.err, "outside the image"));
	run_free(&r);
	r = RUN_CLI("translate", "--image", im.path, "--cr3", "0x7ffff000", "0");
	CHECK_EQ(r.rc, 2);
	CHECK(has(r.err, "outside the image"));
	run_free(&r);
	/* No CR3 at all in a raw image. */
	r = RUN_CLI("ptdump", "--image", im.path);
	CHECK_EQ(r.rc, 2);
	CHECK(has(r.err, "give --cr3"));
	run_free(&r);
	img_free(&im);
}

/* ---- KASLR ---- */

TEST(kaslr_bases_found_in_built_tables)
{
	tap_seed("kaslr");
	for (int round = 0; round < 4; round++) {
		uint64_t po = 0xffff888000000000ULL + (tap_rand() % 1024) * GiB;
		uint64_t vm = po + 64 * TiB + (tap_rand() % 64) * GiB;
		uint64_t vmemmap = vm + 32 * TiB + (1 + tap_rand() % 64) * GiB;
		char cr3[] = "0x1000", want[3][80], bases[200];
		struct img im;
		struct run r;

		if (vmemmap + 1 * TiB > 0xfffffe0000000000ULL)
			vmemmap = 0xfffffe0000000000ULL - 2 * TiB;
		img_new(&im, 8 * MiB, "kaslr.raw");
		/* Direct map of all 8 MiB with 2 MiB leaves, page tables from frame 1 up. */
		for (uint64_t pa = 0; pa < 8 * MiB; pa += 2 * MiB)
			img_map(&im, 0x1000, po + pa, pa, 1, RW | NX);
		img_map(&im, 0x1000, vm + 0x1000, 0x300000, 0, RW | NX);
		img_map(&im, 0x1000, vm + 0x5000, 0x301000, 0, RW | NX);
		img_map(&im, 0x1000, vmemmap, 0x600000, 1, RW | NX);
		/* A kernel text mapping of physical 0, as the high mapping is: not the direct map. */
		img_map(&im, 0x1000, 0xffffffff80000000ULL, 0, 1, 0);
		img_write(&im);
		r = RUN_CLI("kernel-bases", "--image", im.path, "--cr3", cr3, "--json");
		CHECK_EQ(r.rc, 0);
		snprintf(want[0], 80, "\"page_offset_base\":\"0x%016" PRIx64 "\",\"page_offset_found\":true", po);
		snprintf(want[1], 80, "\"vmalloc_base\":\"0x%016" PRIx64 "\",\"vmalloc_found\":true", vm);
		snprintf(want[2], 80, "\"vmemmap_base\":\"0x%016" PRIx64 "\",\"vmemmap_found\":true", vmemmap);
		for (int k = 0; k < 3; k++) {
			CHECK(has(r.out, want[k]));
			if (!has(r.out, want[k]))
				printf("# want %s in %s", want[k], r.out);
		}
		run_free(&r);
		/* The Linux markers sit at the bases. */
		r = RUN_CLI("ptdump", "--image", im.path, "--cr3", cr3, "--verbose");
		CHECK_EQ(r.rc, 0);
		snprintf(want[0], 80, "---[ Low Kernel Mapping ]---\n0x%016" PRIx64 "-", po);
		snprintf(want[1], 80, "---[ vmalloc() Area ]---\n0x%016" PRIx64 "-", vm);
		snprintf(want[2], 80, "---[ Vmemmap ]---\n0x%016" PRIx64 "-", vmemmap);
		for (int k = 0; k < 3; k++)
			CHECK(has(r.out, want[k]));
		CHECK(has(r.err, "page_offset_base 0x"));
		CHECK(has(r.err, "(found: a linear map of 8 MiB from physical 0)"));
		run_free(&r);
		/* Given bases win. */
		snprintf(bases, sizeof(bases), "%" PRIx64 ",0x%" PRIx64 ",%" PRIx64, po + GiB, vm + GiB,
			 vmemmap + GiB);
		r = RUN_CLI("ptdump", "--image", im.path, "--cr3", cr3, "--kernel-bases", bases);
		CHECK_EQ(r.rc, 0);
		snprintf(want[0], 80, "---[ Low Kernel Mapping ]---\n0x%016" PRIx64 "-", po + GiB);
		CHECK(has(r.out, want[0]));
		run_free(&r);
		img_free(&im);
	}
	struct run r = RUN_CLI("ptdump", "--image", "/dev/null", "--kernel-bases", "1,2");

	CHECK_EQ(r.rc, 2);
	CHECK(has(r.err, "three addresses"));
	run_free(&r);
	r = RUN_CLI("ptdump", "--image", "/dev/null", "--kernel-bases", "3,2,1");
	CHECK_EQ(r.rc, 2);
	CHECK(has(r.err, "must increase"));
	run_free(&r);
}

static const char *datasets(void)
{
	const char *s = getenv("PW_DATASETS");

	return s && *s ? s : "../shared/datasets";
}

static const char *const variants[] = { "ptd-4l-nopti", "ptd-5l-thp", "deb-4l-pti-thp", "deb-4l-dimm1g" };

static bool dataset(const char *v, char *path, size_t n)
{
	struct stat st;

	snprintf(path, n, "%s/%s/image.elf.zst", datasets(), v);
	if (!stat(path, &st))
		return true;
	if (getenv("PW_REQUIRE_DATASETS") && !strcmp(getenv("PW_REQUIRE_DATASETS"), "1")) {
		tap_cur_failed = true;
		printf("# no %s (PW_REQUIRE_DATASETS=1)\n", path);
	} else {
		SKIP("datasets not found (set PW_DATASETS)");
	}
	return false;
}

/* Non-KASLR guests: the defaults are found (PTI user tables: no direct map, exit 1). */
TEST(kaslr_finder_on_datasets)
{
	for (size_t i = 0; i < 4; i++) {
		char path[600];
		bool five = strstr(variants[i], "5l") != NULL, pti = strstr(variants[i], "pti-") != NULL;
		struct run r;

		if (!dataset(variants[i], path, sizeof(path)))
			return;
		r = RUN_CLI("kernel-bases", "--image", path, "--json");
		if (pti) {
			/* The user PGD of a PTI guest holds no direct map. */
			CHECK_EQ(r.rc, 1);
			CHECK(has(r.out, "\"page_offset_found\":false"));
		} else {
			CHECK_EQ(r.rc, 0);
			CHECK(has(r.out, five ? "\"page_offset_base\":\"0xff11000000000000\",\"page_offset_found\":true"
					      : "\"page_offset_base\":\"0xffff888000000000\",\"page_offset_found\":true"));
			CHECK(has(r.out, five ? "\"vmalloc_base\":\"0xffa0000000000000\",\"vmalloc_found\":true"
					      : "\"vmalloc_base\":\"0xffffc90000000000\",\"vmalloc_found\":true"));
			CHECK(has(r.out, five ? "\"vmemmap_base\":\"0xffd4000000000000\",\"vmemmap_found\":true"
					      : "\"vmemmap_base\":\"0xffffea0000000000\",\"vmemmap_found\":true"));
		}
		run_free(&r);
	}
}

/* Every dataset is dumped whole under the default limit, in every format. */
TEST(datasets_dumped_whole_by_default)
{
	for (size_t i = 0; i < 4; i++) {
		char path[600];

		if (!dataset(variants[i], path, sizeof(path)))
			return;
		for (size_t k = 0; k < 4; k++) {
			struct run r = RUN_CLI("ptdump", "--image", path, "--format", formats[k]);

			CHECK_EQ(r.rc, 0);
			CHECK(!has(r.err, "stopped"));
			if (r.rc)
				printf("# %s %s: %s", variants[i], formats[k], r.err);
			run_free(&r);
		}
	}
}

/* ---- scripts: exit statuses, messages, address parsing ---- */

TEST(translate_address_parsing)
{
	static const char *const bad[] = { "zzz", "0x", "", "10000000000000000", "-1", "+5",
					   "0x1g", "d:", "d:18446744073709551616", "d:12a" };
	struct img im;
	struct run r;

	img_new(&im, 8 * MiB, "xlate.raw");
	img_map(&im, 0x1000, 0x4201000, 0x300000, 0, RW | US);
	img_map(&im, 0x1000, 0x400000, 0x301000, 0, US);
	img_write(&im);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = RUN_CLI("translate", "--image", im.path, "--cr3", "1000", bad[i]);
		CHECK_EQ(r.rc, 2);
		CHECK(has(r.err, "bad address"));
		CHECK_EQ(r.out_len, 0);
		run_free(&r);
	}
	/* Hex without a prefix, hex with one, decimal with d:. */
	r = RUN_CLI("translate", "--image", im.path, "--cr3", "1000", "4201202", "0x4201202", "d:4194304");
	CHECK_EQ(r.rc, 0);
	CHECK(has(r.out, "0x0000000004201202 -> gpa: 0x300202 (4K u") );
	CHECK(has(r.out, "0x0000000000400000 -> gpa: 0x301000 (4K ur-x)"));
	CHECK_EQ(nlines(r.out), 3);
	run_free(&r);
	/* Unmapped: exit 1, levels by their Linux names. */
	r = RUN_CLI("translate", "--image", im.path, "--cr3", "1000", "0x4201202", "0x402000",
		    "0x600000", "0x8000000000");
	CHECK_EQ(r.rc, 1);
	CHECK(has(r.out, "0x0000000000402000 -> Unmapped (not present at pte"));
	CHECK(has(r.out, "0x0000000000600000 -> Unmapped (not present at pmd"));
	CHECK(has(r.out, "0x0000008000000000 -> Unmapped (not present at pgd"));
	run_free(&r);
	r = RUN_CLI("translate", "--image", im.path, "--cr3", "1000", "0x800000000000");
	CHECK_EQ(r.rc, 1);
	CHECK(has(r.out, "non-canonical"));
	run_free(&r);
	/* JSON. */
	r = RUN_CLI("translate", "--image", im.path, "--cr3", "1000", "--json", "4201202", "402000");
	CHECK_EQ(r.rc, 1);
	CHECK(has(r.out, "{\"va\":\"0x0000000004201202\",\"mapped\":true,\"phys\":\"0x300202\","
			 "\"size\":\"4K\",\"level\":\"pte\""));
	CHECK(has(r.out, "{\"va\":\"0x0000000000402000\",\"mapped\":false,\"reason\":\"empty\","
			 "\"level\":\"pte\""));
	run_free(&r);
	/* No address at all. */
	r = RUN_CLI("translate", "--image", im.path, "--cr3", "1000");
	CHECK_EQ(r.rc, 2);
	CHECK(has(r.err, "no address given"));
	run_free(&r);
	/* --max-entries 10 on tables without aliases: the limit, not aliasing. */
	r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "1000", "--max-entries", "10");
	CHECK_EQ(r.rc, 5);
	CHECK(has(r.err, "stopped after 10 entries (--max-entries 10)"));
	CHECK(!has(r.err, "alias"));
	run_free(&r);
	/* --max-entries 0: no limit. */
	r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "1000", "--max-entries", "0");
	CHECK_EQ(r.rc, 0);
	run_free(&r);
	r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "1000", "--max-entries", "-1");
	CHECK_EQ(r.rc, 2);
	CHECK(has(r.err, "--max-entries '-1': signed numbers are not counts"));
	run_free(&r);
	/* --cpu on an image without CPU notes. */
	r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "1000", "--cpu", "5");
	CHECK_EQ(r.rc, 2);
	CHECK(has(r.err, "--cpu 5: the image holds no CPU state"));
	run_free(&r);
	/* --progress: on a pipe (a file here) only when asked. */
	r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "1000");
	CHECK(!has(r.err, "tables visited"));
	run_free(&r);
	r = RUN_CLI("ptdump", "--image", im.path, "--cr3", "1000", "--progress");
	CHECK_EQ(r.rc, 0);
	CHECK(has(r.err, "tables visited"));
	CHECK(has(r.err, "lines out"));
	CHECK(has(r.err, "done\n"));
	run_free(&r);
	img_free(&im);
}

TEST(usage_errors_say_what_was_wrong)
{
	static const struct { const char *args[6]; const char *msg; } cases[] = {
		{ { "demo", "--bogus" }, "pagewalk demo: unknown argument '--bogus'" },
		{ { "dirty-demo", "--threads", "0" }, "pagewalk dirty-demo: --threads '0': must be 1..64" },
		{ { "dirty-demo", "--threads" }, "--threads needs a value" },
		{ { "dirty-demo", "--pages", "x" }, "--pages 'x': not a decimal number" },
		{ { "kvm-demo", "--cpl", "2" }, "--cpl '2': must be 0 or 3" },
		{ { "ptdump", "--format", "xml", "--image", "x" }, "unknown format 'xml'" },
		{ { "ptdump", "--image" }, "--image needs a value" },
		{ { "ptdump", "--levels", "6" }, "--levels '6': must be 4 or 5" },
		{ { "ptdump", "--nosuch" }, "pagewalk ptdump: unknown argument '--nosuch'" },
		{ { "ptdump", "--aliases", "once", "--format", "qemu-info-tlb" }, "the QEMU formats follow" },
		{ { "ptdump" }, "--image FILE is required" },
		{ { "translate", "--image" }, "--image needs a value" },
		{ { "nosuch" }, "unknown command 'nosuch'" },
		{ { NULL }, "no command given" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r = run_argv(cases[i].args);

		CHECK_EQ(r.rc, 2);
		CHECK(has(r.err, cases[i].msg));
		if (r.rc != 2 || !has(r.err, cases[i].msg))
			printf("# case %zu: rc %d: %s", i, r.rc, r.err);
		run_free(&r);
	}
}

TEST(image_errors_exit_3_with_the_byte)
{
	char path[300];
	uint8_t raw[65536], z[70000];
	size_t zlen;
	FILE *f;
	struct run r;

	r = RUN_CLI("ptdump", "--image", "/nonexistent/image");
	CHECK_EQ(r.rc, 3);
	CHECK(has(r.err, "No such file"));
	run_free(&r);
	/* A truncated zstd stream. */
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 7 + (i >> 9));
	zlen = ZSTD_compress(z, sizeof(z), raw, sizeof(raw), 3);
	REQUIRE(!ZSTD_isError(zlen) && zlen > 100);
	snprintf(path, sizeof(path), "%s/cut.zst", tmpdir);
	f = fopen(path, "wb");
	fwrite(z, 1, zlen / 2, f);
	fclose(f);
	r = RUN_CLI("ptdump", "--image", path, "--cr3", "0");
	CHECK_EQ(r.rc, 3);
	{
		char want[80];

		snprintf(want, sizeof(want), "truncated at byte %zu", zlen / 2);
		CHECK(has(r.err, want));
		if (!has(r.err, want))
			printf("# %s", r.err);
	}
	run_free(&r);
	/* A truncated ELF header. */
	memset(raw, 0, 64);
	memcpy(raw, "\177ELF\2\1\1", 7);
	f = fopen(path, "wb");
	fwrite(raw, 1, 30, f);
	fclose(f);
	r = RUN_CLI("translate", "--image", path, "0");
	CHECK_EQ(r.rc, 3);
	CHECK(has(r.err, "truncated at byte 30 (ELF header truncated)"));
	run_free(&r);
	/* An empty file. */
	f = fopen(path, "wb");
	fclose(f);
	r = RUN_CLI("ptdump", "--image", path, "--cr3", "0");
	CHECK_EQ(r.rc, 3);
	CHECK(has(r.err, "empty"));
	run_free(&r);
	unlink(path);
}

TEST(cpu_out_of_range_on_a_dataset)
{
	char path[600];
	struct run r;

	if (!dataset("ptd-4l-nopti", path, sizeof(path)))
		return;
	r = RUN_CLI("translate", "--image", path, "--cpu", "5", "0");
	CHECK_EQ(r.rc, 2);
	CHECK(has(r.err, "--cpu 5: the image holds 1 CPU state (0..0)"));
	run_free(&r);
}

/* A dataset's ELF core cut in half: dumped as far as it goes with a warning, exit 3. */
TEST(truncated_elf_core)
{
	char path[600], cut[300], want[120];
	size_t zlen, cap, n;
	uint8_t *z, *elf;
	FILE *f;
	struct run r;

	if (!dataset("ptd-4l-nopti", path, sizeof(path)))
		return;
	f = fopen(path, "rb");
	REQUIRE(f);
	fseek(f, 0, SEEK_END);
	zlen = (size_t)ftell(f);
	rewind(f);
	z = malloc(zlen);
	REQUIRE(z && fread(z, 1, zlen, f) == zlen);
	fclose(f);
	cap = (size_t)ZSTD_getFrameContentSize(z, zlen);
	REQUIRE(cap != ZSTD_CONTENTSIZE_ERROR && cap != ZSTD_CONTENTSIZE_UNKNOWN);
	elf = malloc(cap);
	REQUIRE(elf);
	n = ZSTD_decompress(elf, cap, z, zlen);
	free(z);
	REQUIRE(!ZSTD_isError(n));
	snprintf(cut, sizeof(cut), "%s/cut.elf", tmpdir);
	/* Cut in the middle: later segments start past the end, refused. */
	f = fopen(cut, "wb");
	REQUIRE(f && fwrite(elf, 1, n / 2, f) == n / 2);
	fclose(f);
	snprintf(want, sizeof(want), "truncated at byte %zu (PT_LOAD segment", n / 2);
	r = RUN_CLI("ptdump", "--image", cut, "--format", "qemu-info-mem");
	CHECK_EQ(r.rc, 3);
	CHECK(has(r.err, want));
	CHECK_EQ(r.out_len, 0);
	run_free(&r);
	/* Cut inside the last segment: opened, dumped, warned, exit 3; --strict refuses. */
	f = fopen(cut, "wb");
	REQUIRE(f && fwrite(elf, 1, n - 8192, f) == n - 8192);
	fclose(f);
	free(elf);
	snprintf(want, sizeof(want), "warning: truncated at byte %zu", n - 8192);
	r = RUN_CLI("ptdump", "--image", cut, "--format", "qemu-info-mem");
	CHECK_EQ(r.rc, 3);
	CHECK(has(r.err, want));
	CHECK(r.out_len > 1000);
	run_free(&r);
	snprintf(want, sizeof(want), "truncated at byte %zu (PT_LOAD segment past the end", n - 8192);
	r = RUN_CLI("ptdump", "--image", cut, "--strict");
	CHECK_EQ(r.rc, 3);
	CHECK(has(r.err, want));
	CHECK_EQ(r.out_len, 0);
	run_free(&r);
	r = RUN_CLI("translate", "--image", cut, "ffffffff81000000");
	CHECK_EQ(r.rc, 3);
	run_free(&r);
	unlink(cut);
}

TEST(version_json_and_man_page)
{
	struct run r = RUN_CLI("--version");
	FILE *man;
	char *page;
	size_t len = 0;

	CHECK_EQ(r.rc, 0);
	CHECK(!strncmp(r.out, "pagewalk ", 9));
	run_free(&r);
	r = RUN_CLI("--help");
	CHECK_EQ(r.rc, 0);
	for (int s = 0; s <= 5; s++) {
		char want[24];

		snprintf(want, sizeof(want), "  %d  ", s);
		CHECK(has(r.out, want));
	}
	run_free(&r);
	/* demo --json is JSON lines only. */
	r = RUN_CLI("demo", "--json");
	CHECK_EQ(r.rc, 0);
	for (char *l = r.out; *l; l = strchr(l, '\n') + 1) {
		CHECK(l[0] == '{');
		if (l[0] != '{')
			break;
	}
	CHECK(has(r.out, "{\"summary\":{"));
	run_free(&r);
	/* The man page names every option each command's --help names. */
	man = fopen("docs/pagewalk.1", "r");
	REQUIRE(man != NULL);
	page = malloc(1 << 20);
	len = fread(page, 1, (1 << 20) - 1, man);
	page[len] = 0;
	fclose(man);
	static const char *const cmds[] = { "ptdump", "translate", "kernel-bases", "demo",
					    "dirty-demo", "kvm-demo", "devx-demo", "smaps" };
	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
		r = RUN_CLI(cmds[c], "--help");
		CHECK_EQ(r.rc, 0);
		for (char *p = strstr(r.out, "--"); p; p = strstr(p + 2, "--")) {
			char opt[40], roff[48];
			size_t n = 2;

			while (n < 39 && ((p[n] >= 'a' && p[n] <= 'z') || p[n] == '-'))
				n++;
			if (n <= 3)
				continue;
			memcpy(opt, p, n);
			opt[n] = 0;
			/* roff writes a dash as \- */
			snprintf(roff, sizeof(roff), "\\-\\-%s", opt + 2);
			for (char *q = roff + 4; *q; q++)
				if (*q == '-') {
					memmove(q + 1, q, strlen(q) + 1);
					*q++ = '\\';
				}
			CHECK(has(page, roff));
			if (!has(page, roff))
				printf("# %s: %s not in docs/pagewalk.1\n", cmds[c], opt);
		}
		run_free(&r);
	}
	CHECK(has(page, ".SH EXIT STATUS"));
	free(page);
}

/* ---- pagewalk smaps (in-process) ------------------------------------------- */

/* Run cmd_smaps() with stdout and stderr in files; like run_argv(). */
static struct run run_smaps(const char *const *args)
{
	char op[300], ep[300], *argv[8];
	struct run r = { 0 };
	int ofd, efd, so, se, n = 0;

	argv[n++] = (char *)(uintptr_t)"smaps";
	for (; args[n - 1] && n < 7; n++)
		argv[n] = (char *)(uintptr_t)args[n - 1];
	argv[n] = NULL;
	snprintf(op, sizeof(op), "%s/out", tmpdir);
	snprintf(ep, sizeof(ep), "%s/err", tmpdir);
	ofd = open(op, O_RDWR | O_CREAT | O_TRUNC, 0600);
	efd = open(ep, O_RDWR | O_CREAT | O_TRUNC, 0600);
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	dup2(ofd, 1);
	dup2(efd, 2);
	r.rc = cmd_smaps(n, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	r.out = slurp_fd(ofd, &r.out_len);
	r.err = slurp_fd(efd, &r.err_len);
	close(ofd);
	close(efd);
	return r;
}

#define RUN_SMAPS(...) run_smaps((const char *const[]){ __VA_ARGS__, NULL })

/* The kernel's field order (show_smap() without the rollup's Pss_* split). */
static const char *const smaps_fields[] = {
	"Size:", "KernelPageSize:", "MMUPageSize:", "Rss:", "Pss:", "Pss_Dirty:", "Shared_Clean:",
	"Shared_Dirty:", "Private_Clean:", "Private_Dirty:", "Referenced:", "Anonymous:", "KSM:",
	"LazyFree:", "AnonHugePages:", "ShmemPmdMapped:", "FilePmdMapped:", "Shared_Hugetlb:",
	"Private_Hugetlb:", "Swap:", "SwapPss:", "Locked:",
};
#define NF (sizeof(smaps_fields) / sizeof(smaps_fields[0]))

/* One "Name:   value kB" line: the value, or -1 if the line is not that field in the kernel's layout. */
static long long smaps_line(const char *l, const char *name)
{
	size_t n = strlen(name);
	unsigned long long v;
	char tail[8];

	if (strncmp(l, name, n))
		return -1;
	/* 16 columns of name (Private_Hugetlb: 17, with a 7-wide value), 8 of value */
	if (!strcmp(name, "Private_Hugetlb:") ? l[16] != ' ' || l[24] != ' ' : l[24] != ' ')
		return -1;
	if (sscanf(l + n, "%llu %7s", &v, tail) != 2 || strcmp(tail, "kB"))
		return -1;
	return (long long)v;
}

TEST(smaps_of_the_demo_space)
{
	struct pw_arena *arena;
	struct pw_mm *mm;
	struct demo_space d;
	struct pw_smaps_stats want[16], roll;
	struct pw_vma *vma;
	struct run r;
	char *l;
	int nv = 0, v = 0;
	long long sum_rss = 0;

	REQUIRE_EQ(pw_arena_create(256ULL << 20, &arena), 0);
	REQUIRE_EQ(pw_mm_create(arena, NULL, &mm), 0);
	REQUIRE_EQ(demo_space_build(mm, &d), 0);
	pw_mmap_read_lock(mm);
	pw_for_each_vma(mm, vma)
		if (nv < 16)
			CHECK_EQ(pw_smaps(vma, &want[nv++]), 0);
	pw_mmap_read_unlock(mm);
	CHECK_EQ(pw_smaps_rollup(mm, &roll), 0);
	pw_mm_destroy(mm);
	pw_arena_destroy(arena);
	CHECK_EQ(nv, 7); /* heap, 2 x (guard, stack), shared, huge */

	r = RUN_SMAPS("--bogus");
	CHECK_EQ(r.rc, 2);
	CHECK(has(r.err, "pagewalk smaps: unknown argument '--bogus'"));
	run_free(&r);
	r = RUN_SMAPS("--help");
	CHECK_EQ(r.rc, 0);
	CHECK(has(r.out, "--rollup"));
	run_free(&r);
	{
		FILE *man = fopen("docs/pagewalk.1", "r");
		char *page = malloc(1 << 20);
		size_t len;

		REQUIRE(man != NULL && page != NULL);
		len = fread(page, 1, (1 << 20) - 1, man);
		page[len] = 0;
		fclose(man);
		CHECK(has(page, "\\-\\-rollup"));
		CHECK(has(page, ".B pagewalk smaps"));
		free(page);
	}

	{
		const char *const none[] = { NULL };

		r = run_smaps(none);
	}
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.err_len, 0);
	l = r.out;
	for (v = 0; v < nv && *l; v++) {
		unsigned long long s, e;
		char perms[8];
		long long got[NF];
		const struct pw_smaps_stats *w = &want[v];

		/* the maps line */
		CHECK_EQ(sscanf(l, "%llx-%llx %7s 00000000 00:00 0", &s, &e, perms), 3);
		if (strchr(l, '/'))
			CHECK_EQ(strchr(l, '/') - l, 73); /* the name's column */
		CHECK_EQ((e - s) >> 10, w->size >> 10);
		l = strchr(l, '\n') + 1;
		for (size_t f = 0; f < NF; f++) {
			got[f] = smaps_line(l, smaps_fields[f]);
			if (got[f] < 0)
				printf("# VMA %d: expected %s, got: %.40s\n", v, smaps_fields[f], l);
			CHECK(got[f] >= 0);
			l = strchr(l, '\n') + 1;
		}
		CHECK_EQ(got[0], (long long)(w->size >> 10));
		CHECK_EQ(got[1], 4);
		CHECK_EQ(got[3], (long long)(w->rss >> 10));
		CHECK_EQ(got[4], (long long)(w->pss >> 10));
		CHECK_EQ(got[5], (long long)(w->pss_dirty >> 10));
		CHECK_EQ(got[6], (long long)(w->shared_clean >> 10));
		CHECK_EQ(got[7], (long long)(w->shared_dirty >> 10));
		CHECK_EQ(got[8], (long long)(w->private_clean >> 10));
		CHECK_EQ(got[9], (long long)(w->private_dirty >> 10));
		CHECK_EQ(got[10], (long long)(w->referenced >> 10));
		CHECK_EQ(got[11], (long long)(w->anonymous >> 10));
		CHECK_EQ(got[14], (long long)(w->anon_huge >> 10));
		CHECK_EQ(got[16], (long long)(w->file_pmd_mapped >> 10));
		sum_rss += got[3];
		/* the demo's known figures */
		if (s == d.heap) {
			CHECK_EQ(got[3], 512);
			CHECK_EQ(got[9], 512);
			CHECK_EQ(strncmp(perms, "rw-p", 4), 0);
		} else if (s == d.huge) {
			CHECK_EQ(got[14], 4096);
		} else if (s == d.shared) {
			CHECK_EQ(strncmp(perms, "rw-s", 4), 0);
			CHECK(has(r.out, "/dev/zero (deleted)\n"));
			CHECK_EQ(got[3], 512);
			CHECK_EQ(got[11], 0); /* shmem, not anonymous */
		} else if (s == d.stack1 || s == d.stack2) {
			CHECK_EQ(strncmp(perms, "---p", 4), 0); /* the guard page */
			CHECK_EQ(got[3], 0);
		}
		CHECK(!strncmp(l, "THPeligible:    ", 16));
		l = strchr(l, '\n') + 1;
		CHECK(!strncmp(l, "VmFlags: ", 9));
		l = strchr(l, '\n') + 1;
	}
	CHECK_EQ(v, nv);
	CHECK_EQ(*l, 0);
	CHECK_EQ(sum_rss, (long long)(roll.rss >> 10));
	run_free(&r);

	r = RUN_SMAPS("--rollup");
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(strstr(r.out, "[rollup]\n") - r.out, 73);
	CHECK(has(r.out, " ---p 00000000 00:00 0 "));
	l = strchr(r.out, '\n') + 1;
	CHECK_EQ(smaps_line(l, "Rss:"), (long long)(roll.rss >> 10));
	l = strchr(l, '\n') + 1;
	CHECK_EQ(smaps_line(l, "Pss:"), (long long)(roll.pss >> 10));
	CHECK(has(r.out, "\nPss_Anon:       "));
	CHECK(has(r.out, "\nPss_Shmem:      "));
	run_free(&r);
}

int main(void)
{
	struct stat st;

	tap_start();
	if (stat(cli(), &st)) {
		tap_result(false, "the CLI under test exists (make builds build/pagewalk-san)");
		return tap_done();
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pw-cli-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(hostile_self_reference_every_level);
	RUN(hostile_every_entry_at_one_table);
	RUN(hostile_cycle_through_two_tables);
	RUN(hostile_frames_past_the_end);
	RUN(hostile_reserved_bits_at_each_level);
	RUN(hostile_ps_in_pml4_and_pml5);
	RUN(hostile_cr3);
	RUN(kaslr_bases_found_in_built_tables);
	RUN(kaslr_finder_on_datasets);
	RUN(datasets_dumped_whole_by_default);
	RUN(translate_address_parsing);
	RUN(usage_errors_say_what_was_wrong);
	RUN(image_errors_exit_3_with_the_byte);
	RUN(cpu_out_of_range_on_a_dataset);
	RUN(truncated_elf_core);
	RUN(version_json_and_man_page);
	RUN(smaps_of_the_demo_space);
	{
		char p[300];

		snprintf(p, sizeof(p), "%s/out", tmpdir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/err", tmpdir);
		unlink(p);
		rmdir(tmpdir);
	}
	return tap_done();
}
