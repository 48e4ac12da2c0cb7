// SPDX-License-Identifier: MIT
/*
 * Description: ptdump's Linux text output for a fixed address space,
 * compared byte for byte with tests/golden/ptdump_{4,5}level.txt, and the
 * effective-permission rules (RW and US ANDed over all levels, NX ORed)
 * checked by editing upper entries in the arena.
 *
 * PW_UPDATE_GOLDEN=1 rewrites the golden files (review the diff!).
 */
#include <pagewalk/image.h>
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/ptdump.h>

#include "../tests/tap.h"
#include <errno.h>

#define RW (PW_PROT_READ | PW_PROT_WRITE)
#define FIX (PW_MAP_PRIVATE | PW_MAP_FIXED)

struct env {
	struct pw_arena *a;
	struct pw_mm *mm;
};

/*
 * The fixed address space:
 *   0x400000  RW page (written)         0x401000  RO page (read)
 *   0x402000  R+X page (fetched)        0x403000  PROT_NONE (was written)
 *   0x404000  RWX page (written)        0x405000  RW, never touched
 *   0x800000  2 MiB RW leaf (populated)
 *   0x10000000  supervisor RW page (kernel write)
 *   5-level only: 0x0080000000000000 RO page, above the 4-level half
 */
static void build(struct env *e, int levels)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;

	cfg.levels = (uint8_t)levels;
	if (pw_arena_create(32 << 20, &e->a) || pw_mm_create(e->a, &cfg, &e->mm))
		abort();
	CHECK_EQ(pw_mmap(e->mm, 0x400000, 4096, RW, FIX, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, 0x401000, 4096, PW_PROT_READ, FIX, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, 0x402000, 4096, PW_PROT_READ | PW_PROT_EXEC, FIX, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, 0x403000, 4096, RW, FIX, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, 0x404000, 4096, RW | PW_PROT_EXEC, FIX, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, 0x405000, 4096, RW, FIX, NULL), 0);
	CHECK_EQ(pw_access(e->mm, NULL, 0x400000, PW_FAULT_WRITE | PW_FAULT_USER, NULL), 0);
	CHECK_EQ(pw_access(e->mm, NULL, 0x401000, PW_FAULT_USER, NULL), 0);
	CHECK_EQ(pw_access(e->mm, NULL, 0x402000, PW_FAULT_EXEC | PW_FAULT_USER, NULL), 0);
	CHECK_EQ(pw_access(e->mm, NULL, 0x403000, PW_FAULT_WRITE | PW_FAULT_USER, NULL), 0);
	CHECK_EQ(pw_mprotect(e->mm, 0x403000, 4096, PW_PROT_NONE), 0);
	CHECK_EQ(pw_access(e->mm, NULL, 0x404000, PW_FAULT_WRITE | PW_FAULT_USER, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, 0x800000, PW_PMD_SIZE, RW, FIX | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL), 0);
	CHECK_EQ(pw_mmap(e->mm, 0x10000000, 4096, RW, FIX | PW_MAP_SUPERVISOR, NULL), 0);
	CHECK_EQ(pw_access(e->mm, NULL, 0x10000000, PW_FAULT_WRITE, NULL), 0);
	if (levels == 5) {
		CHECK_EQ(pw_mmap(e->mm, 0x0080000000000000ULL, 4096, PW_PROT_READ, FIX | PW_MAP_POPULATE,
				 NULL), 0);
	}
}

static void teardown(struct env *e)
{
	pw_mm_destroy(e->mm);
	pw_arena_destroy(e->a);
}

static char *dump(struct pw_mm *mm, const struct pw_ptdump_opts *opts, struct pw_ptdump_summary *sum)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return NULL;
	CHECK_EQ(pw_ptdump(mm, f, opts, sum), 0);
	fclose(f);
	return buf;
}

static char *golden_path(const char *name)
{
	const char *dir = getenv("PW_GOLDEN_DIR");
	static char path[512];

	if (dir)
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	else /* next to this source file: tests/golden/ */
		snprintf(path, sizeof(path), "%.*sgolden/%s",
			 (int)(strrchr(__FILE__, '/') ? strrchr(__FILE__, '/') - __FILE__ + 1 : 0), __FILE__,
			 name);
	return path;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void golden(int levels, const char *name)
{
	struct env e;
	struct pw_ptdump_summary sum;
	char *out, *want;
	const char *path = golden_path(name);

	build(&e, levels);
	out = dump(e.mm, NULL, &sum);
	REQUIRE(out);
	if (getenv("PW_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");

		CHECK(f && fputs(out, f) >= 0);
		if (f)
			fclose(f);
	}
	want = slurp(path);
	if (!want) {
		tap_diag("cannot read %s (set PW_GOLDEN_DIR)", path);
		CHECK(want);
	} else if (strcmp(out, want)) {
		tap_diag("%s differs; got:", path);
		fputs(out, stdout);
		CHECK(!"golden output differs");
	}
	/* 4 user pages, the 2 MiB leaf, the supervisor page (+1 above the 4-level half). */
	CHECK_EQ(sum.present_pages, 4 + 512 + 1 + (levels == 5));
	free(out);
	free(want);
	teardown(&e);
}

TEST(golden_4level)
{
	golden(4, "ptdump_4level.txt");
}

TEST(golden_5level)
{
	golden(5, "ptdump_5level.txt");
}

/* The entry for @addr at @level, by reading the tables. */
static uint64_t *entry_at(struct pw_mm *mm, uint64_t addr, int level)
{
	uint64_t pfn = pw_mm_root(mm), *e = NULL;

	for (int l = pw_mm_paging(mm)->levels - 1; l >= level; l--) {
		e = (uint64_t *)pw_frame_ptr(pw_mm_arena(mm), pfn) + pw_index(l, addr);
		pfn = pw_entry_pfn(l, *e, 46);
	}
	return e;
}

/* Effective flags of the JSON line covering @addr (rw, user, nx as bits 1, 2, 4). */
static int json_eff(const char *buf, uint64_t addr)
{
	const char *p = buf;

	while ((p = strstr(p, "{\"start\":\"")) != NULL) {
		uint64_t s = strtoull(p + 10, NULL, 16), e;
		const char *q = strstr(p, "\"end\":\"");

		e = strtoull(q + 7, NULL, 16);
		if (addr >= s && (addr < e || e == 0)) {
			int r = 0;

			r |= !strncmp(strstr(p, "\"eff_rw\":") + 9, "true", 4) ? 1 : 0;
			r |= !strncmp(strstr(p, "\"eff_user\":") + 11, "true", 4) ? 2 : 0;
			r |= !strncmp(strstr(p, "\"eff_nx\":") + 9, "true", 4) ? 4 : 0;
			return r;
		}
		p++;
	}
	return -1;
}

TEST(effective_permissions)
{
	struct env e;
	struct pw_ptdump_range lo[] = { { 0x400000, 0x406000 }, { 0, 0 } };
	struct pw_ptdump_opts opts = { .format = PW_PTDUMP_JSON, .ranges = lo, .check_wx = true };
	struct pw_ptdump_summary sum;
	struct pw_translation t;
	uint64_t *pmd, *pud, old_pmd, old_pud;
	char *out;

	build(&e, 4);
	out = dump(e.mm, &opts, &sum);
	REQUIRE(out);
	CHECK_EQ(json_eff(out, 0x400000), 1 | 2 | 4);	/* RW, user, NX */
	CHECK_EQ(json_eff(out, 0x401000), 2 | 4);	/* RO */
	CHECK_EQ(json_eff(out, 0x402000), 2);		/* RO, executable */
	CHECK_EQ(json_eff(out, 0x404000), 1 | 2);	/* RWX */
	CHECK_EQ(sum.wx_pages, 1);
	free(out);

	pw_mmap_read_lock(e.mm);
	pmd = entry_at(e.mm, 0x400000, 1);
	pud = entry_at(e.mm, 0x400000, 2);
	pw_mmap_read_unlock(e.mm);
	old_pmd = *pmd;
	old_pud = *pud;

	/* RW cleared above: nothing below is writable, W+X is gone. */
	*pmd &= ~PW_RW;
	out = dump(e.mm, &opts, &sum);
	CHECK_EQ(json_eff(out, 0x400000), 2 | 4);
	CHECK_EQ(json_eff(out, 0x404000), 2);
	CHECK_EQ(sum.wx_pages, 0);
	free(out);
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_translate(e.mm, 0x400000, &t), 0);
	CHECK(!t.writable && t.user && !t.exec);
	pw_mmap_read_unlock(e.mm);
	CHECK_EQ(pw_access(e.mm, NULL, 0x400000, PW_FAULT_WRITE | PW_FAULT_USER | PW_ACCESS_NOFAULT,
			   NULL), -EFAULT);
	*pmd = old_pmd;

	/* NX set on a table entry: nothing below executes, even the R+X page. */
	*pud |= PW_NX;
	out = dump(e.mm, &opts, &sum);
	CHECK_EQ(json_eff(out, 0x402000), 2 | 4);
	CHECK_EQ(json_eff(out, 0x404000), 1 | 2 | 4);
	CHECK_EQ(sum.wx_pages, 0);
	free(out);
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_translate(e.mm, 0x402000, &t), 0);
	CHECK(!t.exec && t.user && !t.writable);
	pw_mmap_read_unlock(e.mm);

	/* US cleared above too: supervisor-only, still NX. */
	*pud &= ~PW_US;
	out = dump(e.mm, &opts, &sum);
	CHECK_EQ(json_eff(out, 0x400000), 1 | 4);
	CHECK_EQ(json_eff(out, 0x402000), 4);
	free(out);
	CHECK_EQ(pw_access(e.mm, NULL, 0x401000, PW_FAULT_USER | PW_ACCESS_NOFAULT, NULL), -EFAULT);
	CHECK_EQ(pw_access(e.mm, NULL, 0x401000, PW_ACCESS_NOFAULT, NULL), 0);
	*pud = old_pud;

	/* Restored: as before. */
	out = dump(e.mm, &opts, &sum);
	CHECK_EQ(json_eff(out, 0x404000), 1 | 2);
	CHECK_EQ(sum.wx_pages, 1);
	free(out);
	teardown(&e);
}

/* The supervisor mapping has no US in its leaf; ptdump prints it without USR. */
TEST(supervisor_and_markers)
{
	struct env e;
	struct pw_ptdump_range r[] = { { 0x10000000, 0x10001000 }, { 0, 0 } };
	struct pw_ptdump_marker m[] = { { 0, "Mine", 0 }, { ~0ULL, NULL, 0 } };
	struct pw_ptdump_opts opts = { .ranges = r, .markers = m };
	struct pw_ptdump_summary sum;
	char *out;

	build(&e, 4);
	out = dump(e.mm, &opts, &sum);
	REQUIRE(out);
	CHECK(strstr(out, "---[ Mine ]---\n") == out);
	CHECK(strstr(out, "0x0000000010000000-0x0000000010001000           4K     RW                     NX pte\n"));
	CHECK_EQ(sum.lines, 1);
	CHECK_EQ(sum.present_pages, 1);
	free(out);
	teardown(&e);
}

/* Markers with a line limit, and a stream that cannot be written. */
TEST(max_lines_and_io_error)
{
	struct env e;
	struct pw_ptdump_range r[] = { { 0x400000, 0x10001000 }, { 0, 0 } };
	struct pw_ptdump_marker m[] = { { 0, "A", 2 }, { 0x10000000, "B", 0 }, { ~0ULL, NULL, 0 } };
	struct pw_ptdump_opts opts = { .ranges = r, .markers = m };
	struct pw_ptdump_summary sum;
	FILE *ro;
	char *out;
	const char *want =
		"---[ A ]---\n"
		"0x0000000000400000-0x0000000000401000           4K USR RW                     NX pte\n"
		"0x0000000000401000-0x0000000000402000           4K USR ro                     NX pte\n"
		"... 7 entries skipped ... \n"
		"---[ B ]---\n"
		"0x0000000010000000-0x0000000010001000           4K     RW                     NX pte\n";

	build(&e, 4);
	out = dump(e.mm, &opts, &sum);
	REQUIRE(out);
	if (strcmp(out, want)) {
		tap_diag("got:\n%s", out);
		CHECK(!"max_lines output differs");
	}
	CHECK_EQ(sum.lines, 3);
	free(out);
	ro = fopen("/dev/null", "r");
	REQUIRE(ro);
	CHECK_EQ(pw_ptdump(e.mm, ro, NULL, NULL), -EIO);
	fclose(ro);
	teardown(&e);
}

/* A raw image: root at frame 1; entries set by the caller. */
static struct pw_mm *raw_mm(uint64_t *mem, size_t bytes, struct pw_image **img, uint8_t maxphy)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_mm *mm = NULL;

	cfg.maxphyaddr = maxphy;
	if (pw_image_open_mem(mem, bytes, PW_IMAGE_RAW, img) ||
	    pw_mm_create_foreign(pw_image_phys(*img), &cfg, 1, &mm))
		return NULL;
	return mm;
}

/* Broken entries are holes with reasons; aliases print "same as"; JSON carries it all. */
TEST(broken_entries_aliases_json)
{
	static const struct pw_ptdump_range lo[] = { { 0, 1ULL << 47 }, { 0, 0 } };
	uint64_t *mem = calloc(8, 4096);
	struct pw_ptdump_opts o = { .ranges = lo };
	struct pw_ptdump_summary sum;
	struct pw_image *img;
	struct pw_mm *mm;
	char *out;

	REQUIRE(mem);
	/* PML4[0] -> PDPT frame 2; PML4[1] -> the same PDPT (alias); PML4[2] past the
	 * end; PML4[3] with bit 45 set (reserved with MAXPHYADDR 40). PDPT[0] -> PD 3,
	 * PD[0] -> PT 4, PT[0] maps frame 5, PT[1] maps frame 7 (not contiguous). */
	mem[512 + 0] = 0x2000 | 7;
	mem[512 + 1] = 0x2000 | 7;
	mem[512 + 2] = 0x7000000000ULL | 7;
	mem[512 + 3] = (1ULL << 45) | 0x2000 | 7;
	mem[1024 + 0] = 0x3000 | 7;
	mem[1536 + 0] = 0x4000 | 7;
	mem[2048 + 0] = 0x5000 | 3;
	mem[2048 + 1] = 0x7000 | 3;
	mm = raw_mm(mem, 8 * 4096, &img, 40);
	REQUIRE(mm);
	out = dump(mm, &o, &sum);
	REQUIRE(out);
	CHECK(strstr(out, "0x0000010000000000-0x0000018000000000         512G"
			  "                               pgd  [no-frame]\n"));
	CHECK(strstr(out, "0x0000018000000000-0x0000020000000000         512G"
			  "                               pgd  [reserved]\n"));
	CHECK_EQ(sum.holes_no_frame, 1);
	CHECK_EQ(sum.holes_reserved, 1);
	CHECK_EQ(sum.aliases, 1); /* not followed; merged into the empty range */
	CHECK(!strstr(out, "same as"));
	free(out);
	o.show_aliases = true;
	out = dump(mm, &o, &sum);
	REQUIRE(out);
	CHECK(strstr(out, "0x0000008000000000-0x0000010000000000         512G"
			  "                               pgd  [same as the subtree at 0x0000000000000000]\n"));
	CHECK_EQ(sum.aliases, 1);
	free(out);
	o.format = PW_PTDUMP_JSON;
	out = dump(mm, &o, &sum);
	REQUIRE(out);
	CHECK(strstr(out, "\"hole\":\"no-frame\""));
	CHECK(strstr(out, "\"hole\":\"reserved\""));
	CHECK(strstr(out, "\"hole\":\"alias\",\"same_as\":\"0x0000000000000000\""));
	/* Two 4 KiB pages with the same flags but not contiguous: two lines. */
	CHECK(strstr(out, "{\"start\":\"0x0000000000000000\",\"end\":\"0x0000000000001000\""));
	CHECK(strstr(out, "\"phys\":\"0x5000\""));
	CHECK(strstr(out, "{\"start\":\"0x0000000000001000\",\"end\":\"0x0000000000002000\""));
	CHECK(strstr(out, "\"phys\":\"0x7000\""));
	CHECK(strstr(out, "\"entry\":\"0x0000000000005003\""));
	CHECK(!strstr(out, "\"present\":true,\"user\":false,\"rw\":false,\"pwt\":false,\"pcd\":false,"
			   "\"pse\":false,\"pat\":false,\"global\":false,\"nx\":false,\"eff_user\":false,"
			   "\"eff_rw\":false,\"eff_nx\":false,\"entry\":\"0x0000007")); /* no-frame is no mapping */
	free(out);
	/* Following aliases, a limit stops the dump with -E2BIG and says how far it got. */
	o.follow_aliases = true;
	o.show_aliases = false;
	o.max_entries = 600;
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		CHECK_EQ(pw_ptdump(mm, f, &o, &sum), -E2BIG);
		fclose(f);
		CHECK(sum.entries >= 600 && sum.entries <= 601);
		free(buf);
	}
	pw_mm_destroy(mm);
	pw_image_close(img);
	free(mem);
	CHECK(!strcmp(pw_ptdump_hole_name(PW_HOLE_NO_FRAME), "no-frame"));
	CHECK(!strcmp(pw_ptdump_hole_name(PW_HOLE_ALIAS), "alias"));
	CHECK(pw_ptdump_hole_name(99) == NULL);
	CHECK(pw_ptdump_hole_name(-1) == NULL);
}

/* The kernel-base finder on tables without a kernel; markers at given bases stay sorted. */
TEST(kernel_bases_and_markers_at)
{
	struct pw_ptdump_marker buf[PW_PTDUMP_X86_MARKERS];
	const struct pw_ptdump_marker *m, *d = pw_ptdump_x86_markers(4);
	struct pw_kernel_bases b = { .page_offset = 0xffff900000000000ULL,
				     .vmalloc = 0xffffd00000000000ULL,
				     .vmemmap = 0xffffe00000000000ULL };
	struct env e;
	size_t n = 0;

	m = pw_ptdump_x86_markers_at(4, &b, buf);
	CHECK(m == buf);
	while (m[n].name)
		n++;
	CHECK(n < PW_PTDUMP_X86_MARKERS);
	CHECK(!strcmp(m[3].name, "Low Kernel Mapping") && m[3].start == b.page_offset);
	CHECK(!strcmp(m[4].name, "vmalloc() Area") && m[4].start == b.vmalloc);
	CHECK(!strcmp(m[5].name, "Vmemmap") && m[5].start == b.vmemmap);
	for (size_t i = 1; i < n; i++)
		CHECK(m[i].start >= m[i - 1].start);
	/* Out of order bases are raised, never unsorted. */
	b.vmemmap = 0xffff800000000000ULL;
	m = pw_ptdump_x86_markers_at(4, &b, buf);
	for (size_t i = 1; i < n; i++)
		CHECK(m[i].start >= m[i - 1].start);
	m = pw_ptdump_x86_markers_at(5, NULL, buf);
	CHECK(m[3].start == pw_ptdump_x86_markers(5)[3].start);
	/* A user address space holds no direct map: nothing found, the defaults. */
	build(&e, 4);
	CHECK_EQ(pw_ptdump_find_kernel_bases(e.mm, &b), 0);
	CHECK_EQ(b.found, 0);
	CHECK(b.page_offset == d[3].start && b.vmalloc == d[4].start && b.vmemmap == d[5].start);
	CHECK_EQ(pw_ptdump_find_kernel_bases(NULL, &b), -EINVAL);
	CHECK_EQ(pw_ptdump_find_kernel_bases(e.mm, NULL), -EINVAL);
	teardown(&e);
}

int main(void)
{
	tap_start();
	RUN(golden_4level);
	RUN(golden_5level);
	RUN(effective_permissions);
	RUN(supervisor_and_markers);
	RUN(max_lines_and_io_error);
	RUN(broken_entries_aliases_json);
	RUN(kernel_bases_and_markers_at);
	return tap_done();
}
