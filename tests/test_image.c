// SPDX-License-Identifier: MIT
/*
 * test_image.c - memory images: the real Linux guests in $PW_DATASETS
 * (default ../shared/datasets, from the repository root) against QEMU's and
 * the guest kernel's own walkers, and hand-made hostile images that must end
 * in a typed error or hole, quickly. A missing dataset is a skip with the
 * reason; PW_REQUIRE_DATASETS=1 (set by .ci/run where the directory exists)
 * turns it into a failure.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "tap.h"

#include <pagewalk/image.h>
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/ptdump.h>
#include <pagewalk/qemu.h>

/* Where the datasets are: $PW_DATASETS, else ../shared/datasets. */
static const char *datasets(void)
{
	const char *s = getenv("PW_DATASETS");

	return s && *s ? s : "../shared/datasets";
}

static bool require_datasets(void)
{
	const char *s = getenv("PW_REQUIRE_DATASETS");

	return s && strcmp(s, "1") == 0;
}

/* ---- helpers ------------------------------------------------------------ */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[n] = 0;
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static char *vpath(const char *v, const char *file)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s/%s", datasets(), v, file);
	return buf;
}

/* Run a QEMU-format printer into memory. */
static char *capture(int (*fn)(struct pw_mm *, FILE *, uint64_t, uint64_t *), struct pw_mm *mm,
		     uint64_t max, size_t *len, int *err)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	*err = fn(mm, f, max, NULL);
	fclose(f);
	return buf;
}

static char *capture_ptdump(struct pw_mm *mm, const struct pw_ptdump_opts *o, size_t *len, int *err)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	*err = pw_ptdump(mm, f, o, NULL);
	fclose(f);
	return buf;
}

/* Where two buffers first differ, for the diagnostic. */
static void first_diff(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0, line = 1;

	while (i < alen && i < blen && a[i] == b[i])
		line += a[i++] == '\n';
	tap_diag("first difference at byte %zu, line %zu (lengths %zu, %zu)", i, line, alen, blen);
}

static uint64_t reg_from(const char *text, const char *name)
{
	const char *p = strstr(text, name);

	return p ? strtoull(p + strlen(name), NULL, 16) : 0;
}

/* The opened dataset, shared by the tests of one variant. */
struct ds {
	const char *name;
	struct pw_image *img;
	struct pw_mm *mm;
	struct pw_paging cfg;
	uint64_t root;
};

static int ds_open(struct ds *d, const char *v)
{
	int err;

	*d = (struct ds){ .name = v };
	err = pw_image_open(vpath(v, "image.elf.zst"), 0, &d->img);
	if (err)
		return err;
	err = pw_image_paging(d->img, 0, &d->cfg, &d->root);
	if (!err)
		err = pw_mm_create_foreign(pw_image_phys(d->img), &d->cfg, d->root, &d->mm);
	if (err) {
		pw_image_close(d->img);
		d->img = NULL;
	}
	return err;
}

static void ds_close(struct ds *d)
{
	pw_mm_destroy(d->mm);
	pw_image_close(d->img);
}

/* ---- dataset checks ----------------------------------------------------- */

static void check_registers(struct ds *d)
{
	struct pw_image_cpu cpu;
	size_t len;
	char *regs = slurp(vpath(d->name, "info-registers.txt"), &len);

	REQUIRE(regs != NULL);
	CHECK_EQ(pw_image_cpu(d->img, 0, &cpu), 0);
	CHECK_EQ(cpu.cr3, reg_from(regs, "CR3="));
	CHECK_EQ(cpu.cr4, reg_from(regs, "CR4="));
	CHECK_EQ(cpu.cr0, reg_from(regs, "CR0="));
	CHECK_EQ(d->root, reg_from(regs, "CR3=") >> 12);
	CHECK_EQ(d->cfg.levels, (reg_from(regs, "CR4=") & (1u << 12)) ? 5 : 4);
	free(regs);
}

static void check_qemu(struct ds *d, struct pw_mm *mm, const char *ref_file,
		       int (*fn)(struct pw_mm *, FILE *, uint64_t, uint64_t *))
{
	size_t rlen, olen;
	int err;
	char *ref = slurp(vpath(d->name, ref_file), &rlen);
	char *ours;

	if (!ref) {
		tap_diag("%s: no %s", d->name, ref_file);
		CHECK(ref != NULL);
		return;
	}
	ours = capture(fn, mm, 1ULL << 31, &olen, &err);
	CHECK_EQ(err, 0);
	CHECK_EQ(olen, rlen);
	if (olen != rlen || memcmp(ours, ref, rlen)) {
		first_diff(ours, olen, ref, rlen);
		CHECK(!"byte-identical to QEMU");
	}
	free(ours);
	free(ref);
}

/* Every line of info tlb: our translation of its VA gives its PA. */
static void check_tlb_translations(struct ds *d)
{
	size_t len;
	char *ref = slurp(vpath(d->name, "info-tlb.txt"), &len), *p;
	uint64_t n = 0, bad = 0, large = 0;

	REQUIRE(ref != NULL);
	for (p = ref; *p; p = strchr(p, '\n') + 1) {
		uint64_t va = strtoull(p, NULL, 16), pa = strtoull(p + 18, NULL, 16);
		bool big = p[37] == 'P';
		struct pw_translation t;

		if (pw_translate(d->mm, va, &t) || t.phys != pa || (t.level > 0) != big)
			bad++;
		large += big;
		n++;
		if (!strchr(p, '\n'))
			break;
	}
	tap_diag("%s: %" PRIu64 " info tlb lines (%" PRIu64 " large) translated, %" PRIu64
		 " wrong", d->name, n, large, bad);
	CHECK(n > 60000);
	CHECK_EQ(bad, 0);
	free(ref);
}

/* gva2gpa.txt: "name VA -> gpa: 0xPA" or "-> Unmapped". */
static void check_gva2gpa(struct ds *d)
{
	size_t len;
	char *ref = slurp(vpath(d->name, "gva2gpa.txt"), &len), *line;
	unsigned n = 0, bad = 0;

	REQUIRE(ref != NULL);
	for (line = strtok(ref, "\n"); line; line = strtok(NULL, "\n")) {
		char *va_s = strstr(line, " 0x"), *arrow = strstr(line, "-> ");
		struct pw_translation t;
		uint64_t va;
		int err;

		if (!va_s || !arrow)
			continue;
		va = strtoull(va_s + 1, NULL, 16);
		err = pw_translate(d->mm, va, &t);
		if (!strncmp(arrow + 3, "gpa: ", 5))
			bad += err || t.phys != strtoull(arrow + 8, NULL, 16);
		else
			bad += err == 0;
		n++;
	}
	tap_diag("%s: %u gva2gpa lines, %u differ", d->name, n, bad);
	CHECK(n > 10);
	CHECK_EQ(bad, 0);
	free(ref);
}

/*
 * The signature check: every page ptwork wrote starts with its own VA and
 * "PTWSIG01"; every page of its tmpfs file with its offset and "PTWFILE1".
 * Walk each ptwork region (guest/ptwork-out.txt), translate each present
 * page, read 16 bytes at the PA.
 */
static void check_signatures(struct ds *d)
{
	size_t len;
	char *out = slurp(vpath(d->name, "guest/ptwork-out.txt"), &len), *line;
	uint64_t sig = 0, file = 0, wrong = 0, zero = 0;

	REQUIRE(out != NULL);
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char name[64];
		uint64_t s, e;

		if (sscanf(line, "PTWORK %63s 0x%" SCNx64 "-0x%" SCNx64, name, &s, &e) != 3)
			continue;
		for (uint64_t va = s; va < e; va += PW_PAGE_SIZE) {
			struct pw_translation t;
			uint64_t w[2];

			if (pw_translate(d->mm, va, &t))
				continue; /* not touched, PROT_NONE */
			if (pw_image_read(d->img, t.phys, w, sizeof(w))) {
				wrong++;
				continue;
			}
			if (w[1] == 0x3130474953575450ULL && w[0] == va)
				sig++;
			else if (w[1] == 0x31454c4946575450ULL && w[0] == va - s)
				file++;
			else if (!strcmp(name, "anon-read-zeropage") && !w[0] && !w[1])
				zero++;
			else
				wrong++;
		}
	}
	tap_diag("%s: %" PRIu64 " signed anon pages, %" PRIu64 " file pages, %" PRIu64
		 " zero-page pages match; %" PRIu64 " wrong", d->name, sig, file, zero, wrong);
	CHECK(sig >= 4736);
	CHECK(file >= 256);
	CHECK_EQ(zero, 64);
	CHECK_EQ(wrong, 0);
	free(out);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The user half against the guest kernel's own walk of the same process:
 * /proc/PID/pagemap of ptwork (guest/pagemap-PID.txt, present pages only).
 * Every page pagemap calls present has the same frame in our walk, except
 * PROT_NONE pages (pagemap reports them present; P is clear, so the MMU and
 * we do not); and every page our walk finds present in the lower half is
 * in pagemap.
 */
static void check_pagemap(struct ds *d)
{
	size_t len, n = 0, cap = 16384;
	char *pids = slurp(vpath(d->name, "guest/pids.txt"), &len), *pm, *line, file[64];
	uint64_t *vas = malloc(cap * sizeof(*vas)), same = 0, protnone = 0, wrong = 0, extra = 0;
	unsigned pid = 0;
	struct pw_walk_state st;

	REQUIRE(pids != NULL);
	if (strstr(pids, "ptwork="))
		pid = (unsigned)strtoul(strstr(pids, "ptwork=") + 7, NULL, 10);
	free(pids);
	snprintf(file, sizeof(file), "guest/pagemap-%u.txt", pid);
	pm = slurp(vpath(d->name, file), &len);
	REQUIRE(pm != NULL);
	for (line = strtok(pm, "\n"); line; line = strtok(NULL, "\n")) {
		uint64_t va, ent;
		struct pw_translation t;
		int err;

		if (sscanf(line, "PM %" SCNx64 " %" SCNx64, &va, &ent) != 2 || !(ent >> 63))
			continue;
		if (n == cap)
			vas = realloc(vas, (cap *= 2) * sizeof(*vas));
		vas[n++] = va;
		err = pw_translate(d->mm, va, &t);
		if (!err && t.pfn == (ent & ((1ULL << 55) - 1)))
			same++;
		else if (err == -ENOENT && t.level == 0 && (t.entry & PW_G) && !(t.entry & PW_P))
			protnone++; /* Linux's _PAGE_PROTNONE is the G bit of a P=0 PTE */
		else
			wrong++;
	}
	qsort(vas, n, sizeof(*vas), cmp_u64);
	pw_for_each_entry(&st, d->mm, 0, pw_low_half_end(d->cfg.levels), 0) {
		if (!bsearch(&st.start, vas, n, sizeof(*vas), cmp_u64))
			extra++;
	}
	tap_diag("%s: pagemap of ptwork (pid %u): %zu present pages: %" PRIu64 " same frame, %" PRIu64
		 " PROT_NONE (not present to the MMU), %" PRIu64 " wrong; %" PRIu64
		 " of our present user pages not in pagemap", d->name, pid, n, same, protnone, wrong,
		 extra);
	CHECK(same > 5000);
	CHECK_EQ(protnone, 16);
	CHECK_EQ(wrong, 0);
	CHECK_EQ(extra, 0);
	free(vas);
	free(pm);
}

/* Split text into lines (in place); returns the count. */
static size_t split_lines(char *s, char ***out)
{
	size_t n = 0, cap = 1024;
	char **v = malloc(cap * sizeof(*v));

	for (char *l = strtok(s, "\n"); l; l = strtok(NULL, "\n")) {
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = l;
	}
	*out = v;
	return n;
}

static size_t find_line(char **v, size_t n, const char *prefix)
{
	for (size_t i = 0; i < n; i++)
		if (!strncmp(v[i], prefix, strlen(prefix)))
			return i;
	return n;
}

/* 4 KiB pages of "present" lines (attributes not blank) in a ptdump section. */
static bool line_present(const char *l)
{
	/* "0x...-0x...   size UNIT " then 30 columns of attributes, blank if not present. */
	const char *attr = strchr(l, ' ');

	while (attr && *attr == ' ')
		attr++;
	attr = attr ? strchr(attr, ' ') : NULL; /* past the size */
	return attr && strspn(attr, " ") < 30;
}

/*
 * Our Linux-format dump vs the guest kernel's own ptdump of the same
 * tables: the kernel half is shared by every process (kernel = init_mm,
 * current_kernel = the `cat` that read debugfs). The user half of
 * current_kernel/current_user is that cat's, not ptwork's, so it cannot be
 * compared here; check_pagemap() compares ptwork's user half with the
 * guest kernel's own walk of it instead.
 * Every section but vmalloc must be line-for-line equal; in vmalloc the
 * pages mapped in only one of the two must be the short-lived 16 KiB
 * stacks check.txt lists (a few pages).
 */
static void check_guest_ptdump(struct ds *d, const char *file)
{
	struct pw_ptdump_opts o = { .follow_aliases = true, .max_entries = 1ULL << 31 };
	size_t glen, olen, ng, no, gk, ok_, gv, ov, ge, oe;
	char *guest = slurp(vpath(d->name, file), &glen), *ours;
	char **gl, **ol;
	int err;
	uint64_t only_ours = 0, only_guest = 0, same = 0, differ = 0;

	REQUIRE(guest != NULL);
	o.markers = pw_ptdump_x86_markers(d->cfg.levels);
	ours = capture_ptdump(d->mm, &o, &olen, &err);
	CHECK_EQ(err, 0);
	ng = split_lines(guest, &gl);
	no = split_lines(ours, &ol);
	gk = find_line(gl, ng, "---[ Kernel Space ]---");
	ok_ = find_line(ol, no, "---[ Kernel Space ]---");
	gv = find_line(gl, ng, "---[ vmalloc() Area ]---");
	ov = find_line(ol, no, "---[ vmalloc() Area ]---");
	ge = find_line(gl, ng, "---[ Vmemmap ]---");
	oe = find_line(ol, no, "---[ Vmemmap ]---");
	REQUIRE(gk < ng && ok_ < no && gv < ng && ov < no && ge < ng && oe < no);
	/* Kernel Space .. vmalloc, and Vmemmap .. the end: identical. */
	CHECK_EQ(gv - gk, ov - ok_);
	for (size_t i = 0; i < gv - gk && i < ov - ok_; i++)
		if (strcmp(gl[gk + i], ol[ok_ + i])) {
			tap_diag("differs: guest '%s' ours '%s'", gl[gk + i], ol[ok_ + i]);
			CHECK(!"kernel half before vmalloc equal");
			break;
		}
	CHECK_EQ(ng - ge, no - oe);
	for (size_t i = 0; i < ng - ge && i < no - oe; i++)
		if (strcmp(gl[ge + i], ol[oe + i])) {
			tap_diag("differs: guest '%s' ours '%s'", gl[ge + i], ol[oe + i]);
			CHECK(!"kernel half from vmemmap equal");
			break;
		}
	/* vmalloc: compare present 4 KiB pages; same attributes where both map. */
	{
		size_t i = gv + 1, j = ov + 1;
		uint64_t gs = 0, ge_ = 0, os = 0, oe_ = 0;
		const char *ga = NULL, *oa = NULL;
		uint64_t a = strtoull(gl[gv + 1], NULL, 16);

		for (;;) {
			bool gp, op;

			while (i < ge && a >= ge_) {
				sscanf(gl[i], "0x%" SCNx64 "-0x%" SCNx64, &gs, &ge_);
				ga = line_present(gl[i]) ? gl[i] + 51 : NULL; /* past "start-end   size " */
				i++;
			}
			while (j < oe && a >= oe_) {
				sscanf(ol[j], "0x%" SCNx64 "-0x%" SCNx64, &os, &oe_);
				oa = line_present(ol[j]) ? ol[j] + 51 : NULL;
				j++;
			}
			if (a >= ge_ || a >= oe_)
				break;
			gp = ga != NULL;
			op = oa != NULL;
			if (gp && op) {
				same += !strcmp(ga, oa);
				differ += !!strcmp(ga, oa);
			}
			only_ours += op && !gp;
			only_guest += gp && !op;
			a += PW_PAGE_SIZE;
			/* Skip long equal non-present stretches quickly. */
			if (!gp && !op) {
				uint64_t m = ge_ < oe_ ? ge_ : oe_;

				a = m;
			}
		}
	}
	tap_diag("%s: %s: kernel half compared line for line outside vmalloc; vmalloc area: %" PRIu64
		 " pages same, %" PRIu64 " with other attributes, %" PRIu64 " only in ours, %" PRIu64
		 " only in the guest's ptdump (short-lived stacks)", d->name, file, same, differ,
		 only_ours, only_guest);
	CHECK(same > 100);
	CHECK_EQ(differ, 0);
	CHECK(only_ours <= 16);
	CHECK(only_guest <= 8);
	free(gl);
	free(ol);
	free(ours);
	free(guest);
}

static void test_dataset(const char *v)
{
	struct ds d;

	REQUIRE(ds_open(&d, v) == 0);
	check_registers(&d);
	check_qemu(&d, d.mm, "info-tlb.txt", pw_qemu_info_tlb);
	check_qemu(&d, d.mm, "info-mem.txt", pw_qemu_info_mem);
	check_tlb_translations(&d);
	check_gva2gpa(&d);
	check_signatures(&d);
	check_pagemap(&d);
	if (!strncmp(v, "ptd-", 4)) {
		/* init_mm's tables and the reading process's: the same kernel half. */
		check_guest_ptdump(&d, "guest/ptdump-kernel.txt");
		check_guest_ptdump(&d, "guest/ptdump-current_kernel.txt");
	}
	if (!strcmp(v, "deb-4l-pti-thp")) {
		/* The kernel PGD, from cpl0-info-registers.txt (taken after the dump). */
		size_t len;
		char *regs = slurp(vpath(v, "cpl0-info-registers.txt"), &len);
		struct pw_mm *kmm;

		REQUIRE(regs != NULL);
		REQUIRE(pw_mm_create_foreign(pw_image_phys(d.img), &d.cfg, reg_from(regs, "CR3=") >> 12,
					     &kmm) == 0);
		check_qemu(&d, kmm, "cpl0-info-tlb.txt", pw_qemu_info_tlb);
		check_qemu(&d, kmm, "cpl0-info-mem.txt", pw_qemu_info_mem);
		pw_mm_destroy(kmm);
		free(regs);
	}
	ds_close(&d);
}

static bool have(const char *v)
{
	FILE *f = fopen(vpath(v, "image.elf.zst"), "r");

	if (f)
		fclose(f);
	return f != NULL;
}

/* A dataset is missing: a skip, or a failure under PW_REQUIRE_DATASETS=1. */
static void dataset_missing(const char *v)
{
	static char why[768];
	struct stat st;
	const char *dir = datasets();

	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		snprintf(why, sizeof(why), "dataset %s: no directory %s (%s)", v, dir,
			 getenv("PW_DATASETS") && *getenv("PW_DATASETS") ? "from PW_DATASETS" :
			 "the default: run from the repository root or set PW_DATASETS");
	else
		snprintf(why, sizeof(why), "dataset %s: no %s", v, vpath(v, "image.elf.zst"));
	if (require_datasets()) {
		tap_cur_failed = true;
		printf("# %s (PW_REQUIRE_DATASETS=1)\n", why);
	} else {
		SKIP(why);
	}
}

#define DATASET_TEST(fn, name)                                                                 \
	TEST(fn)                                                                               \
	{                                                                                      \
		if (!have(name))                                                               \
			dataset_missing(name);                                                 \
		else                                                                           \
			test_dataset(name);                                                    \
	}

/*
 * The environment: with PW_DATASETS naming a missing directory, a dataset
 * test is a skip that names it; with PW_REQUIRE_DATASETS=1 as well, a
 * failure. (The datasets run below with the environment as it was.)
 */
TEST(datasets_env)
{
	char *dir = getenv("PW_DATASETS") ? strdup(getenv("PW_DATASETS")) : NULL;
	char *req = getenv("PW_REQUIRE_DATASETS") ? strdup(getenv("PW_REQUIRE_DATASETS")) : NULL;
	const char *skip;
	bool failed;

	setenv("PW_DATASETS", "/nonexistent/pw-datasets", 1);
	unsetenv("PW_REQUIRE_DATASETS");
	CHECK(strcmp(datasets(), "/nonexistent/pw-datasets") == 0);
	CHECK(!have("ptd-4l-nopti"));
	dataset_missing("ptd-4l-nopti");
	skip = tap_cur_skip;
	tap_cur_skip = NULL;
	CHECK(skip && strstr(skip, "no directory /nonexistent/pw-datasets (from PW_DATASETS)"));
	CHECK(!tap_cur_failed);
	setenv("PW_REQUIRE_DATASETS", "1", 1);
	tap_diag("expected, PW_REQUIRE_DATASETS=1 under test:");
	dataset_missing("ptd-4l-nopti");
	failed = tap_cur_failed;
	tap_cur_failed = false;
	CHECK(failed);
	CHECK(tap_cur_skip == NULL);
	unsetenv("PW_DATASETS");
	CHECK(strcmp(datasets(), "../shared/datasets") == 0);
	if (dir)
		setenv("PW_DATASETS", dir, 1);
	if (req)
		setenv("PW_REQUIRE_DATASETS", req, 1);
	else
		unsetenv("PW_REQUIRE_DATASETS");
	free(dir);
	free(req);
}

DATASET_TEST(dataset_ptd_4l_nopti, "ptd-4l-nopti")
DATASET_TEST(dataset_ptd_5l_thp, "ptd-5l-thp")
DATASET_TEST(dataset_deb_4l_pti_thp, "deb-4l-pti-thp")
DATASET_TEST(dataset_deb_4l_dimm1g, "deb-4l-dimm1g")

/* ---- hand-made images --------------------------------------------------- */

#define F(n) ((uint64_t)(n) << PW_PAGE_SHIFT)
#define TBL (PW_P | PW_RW | PW_US)

/* Physical memory under construction: @nr frames of zeroes. */
static uint64_t *mem_new(unsigned nr)
{
	return calloc(nr, PW_PAGE_SIZE);
}

static uint64_t *frame(uint64_t *mem, unsigned pfn)
{
	return mem + (size_t)pfn * 512;
}

/* One PT_LOAD: guest-physical @paddr, @size bytes taken from @data. */
struct load {
	uint64_t paddr, size;
	const void *data;
};

/* Knobs for building a broken core. */
struct core_opts {
	bool no_note;
	uint64_t cr0, cr3, cr4;
	unsigned misalign;	/* extra bytes before the first segment's data */
	uint64_t cut;		/* if non-zero, keep only this many bytes of the file */
	uint32_t note_descsz;	/* 0: 440 */
};

/* Build an ELF core like QEMU's dump-guest-memory writes. */
static uint8_t *build_core(const struct load *l, unsigned n, const struct core_opts *o, size_t *len)
{
	size_t phoff = sizeof(Elf64_Ehdr), noteoff = phoff + (n + 1) * sizeof(Elf64_Phdr);
	uint32_t descsz = o->note_descsz ? o->note_descsz : 440;
	size_t notesz = o->no_note ? 0 : 12 + 8 + ((descsz + 3) & ~3u);
	size_t off = noteoff + notesz + o->misalign, total = off;
	uint8_t *b;
	Elf64_Ehdr eh = { 0 };

	for (unsigned i = 0; i < n; i++)
		total += l[i].size;
	b = calloc(1, total);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_CORE;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = phoff;
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (uint16_t)(n + 1);
	memcpy(b, &eh, sizeof(eh));
	{
		Elf64_Phdr ph = { .p_type = PT_NOTE, .p_offset = noteoff, .p_filesz = notesz,
				  .p_memsz = notesz };

		memcpy(b + phoff, &ph, sizeof(ph));
	}
	if (!o->no_note) {
		uint32_t hdr[3] = { 5, descsz, 0 };
		uint8_t *d = b + noteoff + 20;
		uint32_t ver = 1, sz = 440;
		uint64_t cr[5] = { o->cr0 ? o->cr0 : 0x80050033, 0, 0, o->cr3,
				   o->cr4 ? o->cr4 : 0x750ef0 };

		memcpy(b + noteoff, hdr, sizeof(hdr));
		memcpy(b + noteoff + 12, "QEMU", 5);
		if (descsz >= 432) {
			memcpy(d, &ver, 4);
			memcpy(d + 4, &sz, 4);
			memcpy(d + 392, cr, sizeof(cr));
		}
	}
	for (unsigned i = 0; i < n; i++) {
		Elf64_Phdr ph = { .p_type = PT_LOAD, .p_offset = off, .p_paddr = l[i].paddr,
				  .p_vaddr = l[i].paddr, .p_filesz = l[i].size, .p_memsz = l[i].size };

		memcpy(b + phoff + (i + 1) * sizeof(ph), &ph, sizeof(ph));
		memcpy(b + off, l[i].data, l[i].size);
		off += l[i].size;
	}
	*len = o->cut && o->cut < total ? o->cut : total;
	return b;
}

struct walk_count {
	uint64_t steps, leaves, holes[8];
	int err;
	double secs;
};

static void count_walk(struct pw_mm *mm, unsigned flags, uint64_t max, struct walk_count *c)
{
	struct pw_walk_state st;
	struct timespec t0, t1;

	memset(c, 0, sizeof(*c));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pw_for_each_entry_max(&st, mm, 0, 0, flags, max) {
		c->steps++;
		if (st.type == PW_STEP_LEAF)
			c->leaves++;
		else if (st.type == PW_STEP_HOLE)
			c->holes[st.reason]++;
	}
	c->err = pw_walk_error(&st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	c->secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/* The callback walker over the same tables: PTEs and holes seen. */
struct cb_count {
	uint64_t pte, hole;
};

static int cb_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	((struct cb_count *)walk->private)->pte++;
	return 0;
}

static int cb_hole(uint64_t addr, uint64_t next, int depth, struct pw_mm_walk *walk)
{
	((struct cb_count *)walk->private)->hole++;
	return 0;
}

static int cb_walk(struct pw_mm *mm, struct cb_count *c)
{
	static const struct pw_walk_ops ops = { .pte_entry = cb_pte, .pte_hole = cb_hole,
						.walk_lock = PW_WALK_LOCKLESS };

	memset(c, 0, sizeof(*c));
	return pw_walk_page_range_novma(mm, 0, 0, &ops, PW_ROOT_DEFAULT, c);
}

static FILE *devnull(void)
{
	return fopen("/dev/null", "w");
}

/* Every entry of the top table points at the top table itself. */
TEST(hostile_self_referencing_top)
{
	uint64_t *mem = mem_new(2);
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_ptdump_opts po = { 0 };
	struct pw_image *img;
	struct pw_mm *mm;
	struct walk_count c;
	FILE *nul = devnull();

	for (int i = 0; i < 512; i++)
		frame(mem, 1)[i] = F(1) | TBL;
	REQUIRE(pw_image_open_mem(mem, 2 * PW_PAGE_SIZE, PW_IMAGE_RAW, &img) == 0);
	REQUIRE(pw_mm_create_foreign(pw_image_phys(img), &cfg, 1, &mm) == 0);
	/* Default: each (frame, level) once; the rest are aliases. */
	count_walk(mm, PW_WALK_HOLES, 0, &c);
	CHECK_EQ(c.err, 0);
	CHECK_EQ(c.leaves, 512);		/* the one PTE table's entries */
	CHECK_EQ(c.holes[PW_HOLE_ALIAS], 3 * 511); /* PML4, PDPT, PD: all but the first */
	CHECK(c.secs < 1.0);
	{
		/* The callback walker: the same bound, aliases as holes. */
		struct cb_count cc;

		CHECK_EQ(cb_walk(mm, &cc), 0);
		CHECK_EQ(cc.pte, 512);
		CHECK_EQ(cc.hole, 3 * 511 + 1); /* + the non-canonical gap */
	}
	/* Following every path is 512^4 leaves: the limit stops it. */
	count_walk(mm, PW_WALK_ALIASES, 100000, &c);
	CHECK_EQ(c.err, -E2BIG);
	CHECK(c.secs < 1.0);
	CHECK_EQ(pw_qemu_info_tlb(mm, nul, 100000, NULL), -E2BIG);
	CHECK_EQ(pw_qemu_info_mem(mm, nul, 100000, NULL), -E2BIG);
	po.follow_aliases = true;
	po.max_entries = 100000;
	CHECK_EQ(pw_ptdump(mm, nul, &po, NULL), -E2BIG);
	po.follow_aliases = false;
	CHECK_EQ(pw_ptdump(mm, nul, &po, NULL), 0);
	{
		struct pw_translation t;

		CHECK_EQ(pw_translate(mm, 0x7fffffffe000ULL, &t), 0);
		CHECK_EQ(t.phys, F(1));
	}
	pw_mm_destroy(mm);
	pw_image_close(img);
	free(mem);
	fclose(nul);
}

/* Every entry of every level points at one table (frame 2), 5-level paging. */
TEST(hostile_all_entries_one_table)
{
	uint64_t *mem = mem_new(3);
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_image *img;
	struct pw_mm *mm;
	struct walk_count c;

	cfg.levels = 5;
	for (int i = 0; i < 512; i++) {
		frame(mem, 1)[i] = F(2) | TBL;
		frame(mem, 2)[i] = F(2) | TBL;
	}
	REQUIRE(pw_image_open_mem(mem, 3 * PW_PAGE_SIZE, PW_IMAGE_RAW, &img) == 0);
	REQUIRE(pw_mm_create_foreign(pw_image_phys(img), &cfg, 1, &mm) == 0);
	count_walk(mm, PW_WALK_HOLES | PW_WALK_TABLES, 0, &c);
	CHECK_EQ(c.err, 0);
	CHECK_EQ(c.leaves, 512);
	CHECK_EQ(c.holes[PW_HOLE_ALIAS], 4 * 511);
	CHECK(c.secs < 1.0);
	{
		struct cb_count cc;

		CHECK_EQ(cb_walk(mm, &cc), 0);
		CHECK_EQ(cc.pte, 512);
		CHECK_EQ(cc.hole, 4 * 511 + 1);
	}
	count_walk(mm, PW_WALK_ALIASES | PW_WALK_ALL_SIZES, 1000000, &c);
	CHECK_EQ(c.err, -E2BIG);
	CHECK(c.secs < 2.0);
	pw_mm_destroy(mm);
	pw_image_close(img);
	free(mem);
}

/* Table and leaf frames past the end of the image; a root past the end. */
TEST(hostile_frames_past_end)
{
	uint64_t *mem = mem_new(3);
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_image *img;
	struct pw_mm *mm;
	struct walk_count c;
	struct pw_translation t;
	uint8_t buf[16];

	cfg.maxphyaddr = 52;
	frame(mem, 1)[0] = F(0x100000) | TBL;	       /* PDPT far past the end */
	frame(mem, 1)[1] = F(2) | TBL;		       /* a PDPT inside */
	frame(mem, 2)[0] = 0xffffffffff000ULL | TBL;    /* PD at the top of the 52-bit space */
	frame(mem, 2)[1] = F(0x40000) | TBL | PW_PS;   /* 1 GiB leaf past the end */
	REQUIRE(pw_image_open_mem(mem, 3 * PW_PAGE_SIZE, PW_IMAGE_RAW, &img) == 0);
	REQUIRE(pw_mm_create_foreign(pw_image_phys(img), &cfg, 1, &mm) == 0);
	count_walk(mm, PW_WALK_HOLES, 0, &c);
	CHECK_EQ(c.err, 0);
	CHECK_EQ(c.holes[PW_HOLE_NO_FRAME], 2);
	CHECK_EQ(c.leaves, 262144); /* the 1 GiB leaf, in 4 KiB pieces */
	CHECK_EQ(pw_translate(mm, 0, &t), -EIO);
	CHECK_EQ(pw_translate(mm, (1ULL << 39) + (1ULL << 30), &t), 0);
	CHECK_EQ(pw_image_read(img, t.phys, buf, sizeof(buf)), -EFAULT);
	pw_mm_destroy(mm);
	/* The root itself outside the image. */
	REQUIRE(pw_mm_create_foreign(pw_image_phys(img), &cfg, 7, &mm) == 0);
	count_walk(mm, PW_WALK_HOLES, 0, &c);
	CHECK_EQ(c.steps, 1);
	CHECK_EQ(c.holes[PW_HOLE_NO_FRAME], 1);
	pw_mm_destroy(mm);
	pw_image_close(img);
	free(mem);
}

/* Segments with gaps between them, a segment not page aligned, data at an odd offset. */
TEST(hostile_gaps_between_segments)
{
	uint64_t *lo = mem_new(3), *hi = mem_new(2), *odd = mem_new(2), *un = mem_new(3);
	struct load l[4] = { { 0, 3 * PW_PAGE_SIZE, lo },
			     { 0x10000, 2 * PW_PAGE_SIZE, hi },
			     { 0x20800, PW_PAGE_SIZE, odd },
			     { 0x30004, 3 * PW_PAGE_SIZE - 4, (uint8_t *)un + 4 } };
	struct core_opts o = { .cr3 = F(1), .misalign = 4 };
	struct pw_image_info info;
	struct pw_paging cfg;
	struct pw_image *img;
	struct pw_mm *mm;
	struct walk_count c;
	uint64_t root, w;
	size_t len;
	uint8_t *core;

	frame(lo, 1)[0] = F(5) | TBL;		/* PDPT in the gap */
	frame(lo, 1)[1] = 0x10000 | TBL;	/* PDPT in the second segment */
	frame(lo, 1)[2] = F(0x20) | TBL;	/* frame only half inside the odd segment */
	frame(lo, 1)[3] = F(0x21) | TBL;
	frame(lo, 1)[4] = F(0x31) | TBL;	/* a whole frame of a segment at an odd address */
	frame(un, 1)[7] = F(0x40000) | TBL | PW_PS; /* a 1 GiB leaf */
	frame(hi, 0)[0] = F(0x40000) | TBL | PW_PS | PW_NX; /* a 1 GiB leaf */
	core = build_core(l, 4, &o, &len);
	REQUIRE(pw_image_open_mem(core, len, 0, &img) == 0);
	pw_image_info(img, &info);
	CHECK_EQ(info.kind, PW_IMAGE_KIND_ELF);
	CHECK_EQ(info.nr_segments, 4);
	CHECK_EQ(info.nr_cpus, 1);
	CHECK_EQ(info.bytes, 9 * PW_PAGE_SIZE - 4);
	CHECK(!info.truncated);
	REQUIRE(pw_image_paging(img, 0, &cfg, &root) == 0);
	CHECK_EQ(root, 1);
	CHECK_EQ(cfg.levels, 4);
	REQUIRE(pw_mm_create_foreign(pw_image_phys(img), &cfg, root, &mm) == 0);
	count_walk(mm, PW_WALK_HOLES | PW_WALK_ALL_SIZES, 0, &c);
	CHECK_EQ(c.err, 0);
	CHECK_EQ(c.holes[PW_HOLE_NO_FRAME], 3);
	CHECK_EQ(c.leaves, 2);
	CHECK_EQ(pw_image_read(img, F(1), &w, 8), 0);
	CHECK_EQ(w, F(5) | TBL);
	CHECK_EQ(pw_image_read(img, F(3) - 8, &w, 8), 0);
	CHECK_EQ(pw_image_read(img, F(3) - 4, &w, 8), -EFAULT); /* runs into the gap */
	CHECK_EQ(pw_image_read(img, 0x8000, &w, 8), -EFAULT);
	CHECK_EQ(pw_image_read(img, 0x20800, &w, 8), 0);
	CHECK_EQ(pw_image_read(img, ~0ULL - 3, &w, 8), -EFAULT);
	pw_mm_destroy(mm);
	pw_image_close(img);
	free(core);
	free(lo);
	free(hi);
	free(odd);
	free(un);
}

/* Reserved bits for the MAXPHYADDR in force, PS where it is reserved, NX without NXE. */
TEST(hostile_reserved_bits)
{
	uint64_t *mem = mem_new(3);
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_image *img;
	struct pw_mm *mm;
	struct walk_count c;
	struct pw_translation t;

	cfg.maxphyaddr = 40;
	cfg.nxe = false;
	frame(mem, 1)[0] = (1ULL << 45) | F(2) | TBL; /* address bit above MAXPHYADDR */
	frame(mem, 1)[1] = F(2) | TBL | PW_PS;	       /* PS in a PML4E */
	frame(mem, 1)[2] = F(2) | TBL | PW_NX;	       /* NX without EFER.NXE */
	frame(mem, 1)[3] = F(2) | TBL;
	frame(mem, 2)[0] = F(0x40001) | TBL | PW_PS;   /* 1 GiB leaf with bit 12.. set: PAT ok */
	frame(mem, 2)[1] = F(0x40002) | TBL | PW_PS;   /* bit 13 set in a 1 GiB leaf: reserved */
	REQUIRE(pw_image_open_mem(mem, 3 * PW_PAGE_SIZE, PW_IMAGE_RAW, &img) == 0);
	REQUIRE(pw_mm_create_foreign(pw_image_phys(img), &cfg, 1, &mm) == 0);
	count_walk(mm, PW_WALK_HOLES | PW_WALK_ALL_SIZES, 0, &c);
	CHECK_EQ(c.err, 0);
	CHECK_EQ(c.holes[PW_HOLE_RESERVED], 4);
	CHECK_EQ(c.leaves, 1);
	CHECK_EQ(pw_translate(mm, 0, &t), -EIO);
	pw_mm_destroy(mm);
	pw_image_close(img);
	free(mem);
}

/* A file cut short: segments past the end are cut (or refused with STRICT). */
/* pw_image_open_diag(): why a file was refused, with the byte. */
TEST(image_open_diag_offsets)
{
	uint64_t *mem = mem_new(4);
	struct load l = { 0, 4 * PW_PAGE_SIZE, mem };
	struct core_opts o = { .cr3 = F(1) };
	struct pw_image_error d;
	struct pw_image *img;
	char path[] = "/tmp/pw-diag-XXXXXX";
	size_t full, zlen, cap;
	uint8_t *core, *z;
	int fd = mkstemp(path);

	REQUIRE(fd >= 0);
	core = build_core(&l, 1, &o, &full);
#define DIAG(buf, n, flags, trunc, off, what_sub)                                         \
	do {                                                                              \
		CHECK(ftruncate(fd, 0) == 0);                                             \
		CHECK(pwrite(fd, (buf), (n), 0) == (ssize_t)(n));                         \
		d = (struct pw_image_error){ 0 };                                         \
		CHECK_EQ(pw_image_open_diag(path, (flags), &img, &d), -EBADMSG);          \
		CHECK_EQ(d.truncated, (trunc));                                           \
		CHECK_EQ(d.offset, (off));                                                \
		CHECK(d.what && strstr(d.what, (what_sub)));                              \
	} while (0)
	DIAG(core, 40, 0, true, 40, "ELF header truncated");
	DIAG(core, 100, 0, true, 100, "program headers");
	DIAG(core, full - 100, PW_IMAGE_STRICT, true, full - 100, "PT_LOAD segment past the end");
	((Elf64_Ehdr *)core)->e_machine = EM_AARCH64;
	DIAG(core, full, 0, false, 0, "x86-64");
	((Elf64_Ehdr *)core)->e_machine = EM_X86_64;
	cap = ZSTD_compressBound(full);
	z = malloc(cap);
	zlen = ZSTD_compress(z, cap, core, full, 3);
	REQUIRE(!ZSTD_isError(zlen));
	DIAG(z, zlen / 2, 0, true, zlen / 2, "zstd stream truncated");
	DIAG(z, 10, 0, true, 10, "truncated");
	DIAG(z, 5, 0, true, 5, "truncated");
#undef DIAG
	/* A good file leaves @d untouched and opens. */
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, core, full, 0) == (ssize_t)full);
	d = (struct pw_image_error){ .what = "untouched" };
	CHECK_EQ(pw_image_open_diag(path, 0, &img, &d), 0);
	CHECK(!strcmp(d.what, "untouched"));
	pw_image_close(img);
	close(fd);
	unlink(path);
	free(z);
	free(core);
	free(mem);
}

TEST(hostile_truncated_file)
{
	uint64_t *mem = mem_new(4);
	struct load l = { 0, 4 * PW_PAGE_SIZE, mem };
	struct core_opts o = { .cr3 = F(1) };
	struct pw_image_info info;
	struct pw_paging cfg;
	struct pw_image *img;
	struct pw_mm *mm;
	struct walk_count c;
	uint64_t root;
	size_t len, full;
	uint8_t *core;

	frame(mem, 1)[0] = F(3) | TBL; /* in the part that is cut off */
	frame(mem, 1)[1] = F(2) | TBL;
	core = build_core(&l, 1, &o, &full);
	o.cut = full - 100;
	free(core);
	core = build_core(&l, 1, &o, &len);
	REQUIRE(pw_image_open_mem(core, len, 0, &img) == 0);
	pw_image_info(img, &info);
	CHECK(info.truncated);
	CHECK_EQ(info.bytes, 4 * PW_PAGE_SIZE - 100);
	REQUIRE(pw_image_paging(img, 0, &cfg, &root) == 0);
	REQUIRE(pw_mm_create_foreign(pw_image_phys(img), &cfg, root, &mm) == 0);
	count_walk(mm, PW_WALK_HOLES, 0, &c);
	CHECK_EQ(c.err, 0);
	CHECK_EQ(c.holes[PW_HOLE_NO_FRAME], 1); /* frame 3 is cut, frame 2 is whole */
	pw_mm_destroy(mm);
	pw_image_close(img);
	CHECK_EQ(pw_image_open_mem(core, len, PW_IMAGE_STRICT, &img), -EBADMSG);
	/* Cut inside the headers. */
	CHECK_EQ(pw_image_open_mem(core, 40, 0, &img), -EBADMSG);
	CHECK_EQ(pw_image_open_mem(core, 100, 0, &img), -EBADMSG);
	/* The same core compressed, whole and cut. */
	{
		size_t cap = ZSTD_compressBound(full), zlen;
		uint8_t *z = malloc(cap);

		free(core);
		o.cut = 0;
		core = build_core(&l, 1, &o, &full);
		zlen = ZSTD_compress(z, cap, core, full, 3);
		REQUIRE(!ZSTD_isError(zlen));
		REQUIRE(pw_image_open_mem(z, zlen, 0, &img) == 0);
		pw_image_info(img, &info);
		CHECK(info.compressed);
		CHECK_EQ(info.file_bytes, full);
		CHECK_EQ(pw_image_paging(img, 0, &cfg, &root), 0);
		CHECK_EQ(root, 1);
		pw_image_close(img);
		CHECK_EQ(pw_image_open_mem(z, zlen / 2, 0, &img), -EBADMSG);
		CHECK_EQ(pw_image_open_mem(z, 6, 0, &img), -EBADMSG);
		free(z);
	}
	free(core);
	free(mem);
}

/* Malformed ELF headers, program headers and notes. */
TEST(hostile_wrong_elf_header)
{
	uint64_t *mem = mem_new(2);
	struct load l[2] = { { 0, 2 * PW_PAGE_SIZE, mem }, { PW_PAGE_SIZE, PW_PAGE_SIZE, mem } };
	struct core_opts o = { .cr3 = F(1) };
	struct pw_image *img;
	Elf64_Ehdr *eh;
	size_t len;
	uint8_t *core = build_core(l, 1, &o, &len);

	eh = (Elf64_Ehdr *)core;
	REQUIRE(pw_image_open_mem(core, len, 0, &img) == 0);
	pw_image_close(img);
#define BAD(stmt)                                                                  \
	do {                                                                       \
		uint8_t *b = malloc(len);                                          \
		memcpy(b, core, len);                                              \
		eh = (Elf64_Ehdr *)b;                                              \
		stmt;                                                              \
		CHECK_EQ(pw_image_open_mem(b, len, 0, &img), -EBADMSG);            \
		free(b);                                                           \
	} while (0)
	BAD(eh->e_ident[EI_CLASS] = ELFCLASS32);
	BAD(eh->e_ident[EI_DATA] = ELFDATA2MSB);
	BAD(eh->e_machine = EM_AARCH64);
	BAD(eh->e_type = ET_EXEC);
	BAD(eh->e_phentsize = 32);
	BAD(eh->e_phoff = len - 10);
	BAD(eh->e_phoff = ~0ULL - 8);
	BAD(eh->e_phnum = 0xfff0);
	BAD(eh->e_phnum = PN_XNUM);	/* no section header to hold the count */
	BAD(((Elf64_Phdr *)(b + eh->e_phoff))[1].p_offset = len + 1);
	BAD(((Elf64_Phdr *)(b + eh->e_phoff))[1].p_paddr = ~0ULL - 10);
	BAD(((Elf64_Phdr *)(b + eh->e_phoff))[0].p_filesz = len);	/* note past the end */
	BAD(((uint32_t *)(b + ((Elf64_Phdr *)(b + eh->e_phoff))[0].p_offset))[0] = 0xfffffff0);
	BAD(((uint32_t *)(b + ((Elf64_Phdr *)(b + eh->e_phoff))[0].p_offset))[1] = 0x7ffffff0);
#undef BAD
	free(core);
	/* Overlapping segments. */
	core = build_core(l, 2, &o, &len);
	CHECK_EQ(pw_image_open_mem(core, len, 0, &img), -EBADMSG);
	free(core);
	/* A QEMU note too short to hold the control registers. */
	o.note_descsz = 100;
	core = build_core(l, 1, &o, &len);
	CHECK_EQ(pw_image_open_mem(core, len, 0, &img), -EBADMSG);
	free(core);
	/* No PT_LOAD at all (a fuzzer find): opens, holds nothing, walks to a hole. */
	core = build_core(l, 0, &(struct core_opts){ .cr3 = F(1) }, &len);
	img = NULL;
	CHECK_EQ(pw_image_open_mem(core, len, 0, &img), 0);
	if (img) {
		struct pw_paging cfg;
		struct pw_mm *mm;
		struct walk_count c;
		uint64_t root;

		CHECK_EQ(pw_image_paging(img, 0, &cfg, &root), 0);
		CHECK_EQ(pw_mm_create_foreign(pw_image_phys(img), &cfg, root, &mm), 0);
		count_walk(mm, PW_WALK_HOLES, 0, &c);
		CHECK_EQ(c.steps, 1);
		CHECK_EQ(c.holes[PW_HOLE_NO_FRAME], 1);
		pw_mm_destroy(mm);
		pw_image_close(img);
	}
	free(core);
	/* Raw mode ignores the ELF header. */
	core = build_core(l, 1, &(struct core_opts){ .cr3 = F(1) }, &len);
	eh = (Elf64_Ehdr *)core;
	eh->e_machine = EM_AARCH64;
	img = NULL;
	CHECK_EQ(pw_image_open_mem(core, len, PW_IMAGE_RAW, &img), 0);
	if (img) {
		struct pw_image_info info;
		struct pw_paging cfg;
		uint64_t root;

		pw_image_info(img, &info);
		CHECK_EQ(info.kind, PW_IMAGE_KIND_RAW);
		CHECK_EQ(pw_image_paging(img, 0, &cfg, &root), -ENOENT);
		pw_image_close(img);
	}
	free(core);
	free(mem);
}

/* The CPU note: CR3 PCID bits and the no-flush bit masked, LA57, paging off. */
TEST(cpu_state_from_note)
{
	uint64_t *mem = mem_new(2);
	struct load l = { 0, 2 * PW_PAGE_SIZE, mem };
	struct core_opts o = { .cr3 = (1ULL << 63) | F(1) | 0x801, .cr4 = 0x751ef0 | (1u << 22) };
	struct pw_image_cpu cpu;
	struct pw_paging cfg;
	struct pw_image *img;
	uint64_t root;
	size_t len;
	uint8_t *core = build_core(&l, 1, &o, &len);

	REQUIRE(pw_image_open_mem(core, len, 0, &img) == 0);
	CHECK_EQ(pw_image_cpu(img, 0, &cpu), 0);
	CHECK_EQ(cpu.cr3, o.cr3);
	CHECK_EQ(pw_image_cpu(img, 1, &cpu), -ENOENT);
	CHECK_EQ(pw_image_paging(img, 0, &cfg, &root), 0);
	CHECK_EQ(root, 1);
	CHECK_EQ(cfg.levels, 5);
	CHECK(cfg.pke);
	CHECK(cfg.nxe);
	pw_image_close(img);
	free(core);
	o.cr0 = 0x11; /* PG clear */
	core = build_core(&l, 1, &o, &len);
	REQUIRE(pw_image_open_mem(core, len, 0, &img) == 0);
	CHECK_EQ(pw_image_paging(img, 0, &cfg, &root), -ENOTSUP);
	pw_image_close(img);
	free(core);
	o.no_note = true;
	core = build_core(&l, 1, &o, &len);
	REQUIRE(pw_image_open_mem(core, len, 0, &img) == 0);
	CHECK_EQ(pw_image_paging(img, 0, &cfg, &root), -ENOENT);
	pw_image_close(img);
	free(core);
	free(mem);
}

/* Files: missing, empty, a directory, bad flags; a real file round trip. */
TEST(open_files)
{
	char path[] = "/tmp/pw-test-image-XXXXXX";
	int fd = mkstemp(path);
	struct pw_image *img = NULL;
	uint64_t *mem = mem_new(2), w;

	REQUIRE(fd >= 0);
	CHECK_EQ(pw_image_open("/nonexistent/pw-image", 0, &img), -ENOENT);
	CHECK_EQ(pw_image_open(path, 0, &img), -EINVAL); /* empty */
	CHECK_EQ(pw_image_open("/tmp", 0, &img), -EINVAL);
	CHECK_EQ(pw_image_open(path, 0x100, &img), -EINVAL);
	frame(mem, 1)[3] = 0x1234;
	CHECK_EQ(write(fd, mem, 2 * PW_PAGE_SIZE), (ssize_t)(2 * PW_PAGE_SIZE));
	close(fd);
	REQUIRE(pw_image_open(path, 0, &img) == 0);
	CHECK_EQ(pw_image_read(img, F(1) + 24, &w, 8), 0);
	CHECK_EQ(w, 0x1234);
	CHECK_EQ(pw_image_phys(img)->nr_direct, 2);
	CHECK(pw_image_phys(img)->readonly);
	pw_image_close(img);
	unlink(path);
	free(mem);
}

int main(void)
{
	tap_start();
	RUN(hostile_self_referencing_top);
	RUN(hostile_all_entries_one_table);
	RUN(hostile_frames_past_end);
	RUN(hostile_gaps_between_segments);
	RUN(hostile_reserved_bits);
	RUN(hostile_truncated_file);
	RUN(hostile_wrong_elf_header);
	RUN(cpu_state_from_note);
	RUN(open_files);
	RUN(image_open_diag_offsets);
	RUN(datasets_env);
	RUN(dataset_ptd_4l_nopti);
	RUN(dataset_ptd_5l_thp);
	RUN(dataset_deb_4l_pti_thp);
	RUN(dataset_deb_4l_dimm1g);
	return tap_done();
}
