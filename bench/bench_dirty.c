// SPDX-License-Identifier: MIT
/*
 * bench_dirty.c - dirty tracking of a shared 8 GiB file mapping (issue 3):
 * pagewalk's write-protect + clean-record round side by side with the host
 * kernel doing the same round on a real mapping of the same size.
 *
 * Between rounds 1 % of the pages are written (every 100th page, the same
 * pages each round, so the real mapping's RSS stays at 1 % of 8 GiB). A
 * round, the only thing timed:
 *
 *   pagewalk  pw_wp_shared_mapping_range() + pw_clean_record_shared_mapping_range()
 *             over the file's reverse map (one shared VMA of the whole file;
 *             the writes go through the simulated MMU, pw_access())
 *   uffd-scan the kernel: ioctl(PAGEMAP_SCAN) with PM_SCAN_WP_MATCHING over a
 *             shared memfd mapping registered with userfaultfd in async
 *             write-protect mode with WP_UNPOPULATED: written pages are
 *             returned and write-protected again, in one call. (The warm-up
 *             round puts write-protect markers in the never-written entries,
 *             which would otherwise all count as written.)
 *   pw-fused  pagewalk's one-pass pw_wp_clean_record_shared_mapping_range()
 *   pw-log    pagewalk's per-file dirty log: the writes fault and log their
 *             pages, pw_dirty_log_harvest() reads only those (its own
 *             arena, file and mm, the same writes)
 *             (the same writes before it)
 *   softdirty the kernel: one pread of /proc/self/pagemap over the mapping
 *             (bit 55) and "4" written to /proc/self/clear_refs; run only
 *             when the host kernel has soft-dirty tracking.
 *
 * The variants run interleaved, round by round, in one process: pairs of
 * rounds see the same machine state. Every round is checked to report
 * exactly the pages written. Reported: median round time, per page of the
 * mapping and per written page, and the median of the per-round ratios
 * pagewalk / kernel. A variant the host refuses is reported as such.
 *
 * The arena is memory this program maps and asks transparent huge pages
 * for (the kernel reads its tables through its 1 GiB direct map; 4 KiB host
 * pages would add a host TLB miss per table page); --no-thp leaves that out.
 *
 * Usage: bench_dirty [SIZE[M|G]] [--rounds N] [--no-thp]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <pagewalk/dirty.h>
#include <pagewalk/file.h>
#include <pagewalk/mm.h>

#include "bench.h"

#define PG 4096ULL
#define STRIDE 100 /* one page in 100 is written between rounds */
#define MAX_ROUNDS 101

/* PAGEMAP_SCAN ABI (linux/fs.h, 6.7+); the build host's headers predate it. */
#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start, end, categories;
};
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1ULL << 0)
#define PM_SCAN_CHECK_WPASYNC (1ULL << 1)
#define PAGE_IS_WRITTEN (1ULL << 1)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1ULL << 15)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#endif

static uint64_t size = 8ULL << 30, npages, want;
static bool use_thp = true;

static void fail(const char *who, int round, uint64_t found)
{
	fprintf(stderr, "bench_dirty: %s: round %d found %llu written pages, wanted %llu\n", who, round,
		(unsigned long long)found, (unsigned long long)want);
	exit(1);
}

/* ---- the kernel: userfaultfd async write-protect + PAGEMAP_SCAN ---------- */

struct uffd_scan {
	int fd, uffd, pm;
	uint8_t *p;
	struct page_region *vec;
	size_t vec_len;
	int calls;
};

static const char *uffd_setup(struct uffd_scan *k)
{
	k->fd = k->uffd = k->pm = -1;
	k->calls = 0;
	k->p = MAP_FAILED;
	k->vec_len = want + 16;
	k->vec = calloc(k->vec_len, sizeof(*k->vec));
	k->fd = memfd_create("bench_dirty", MFD_CLOEXEC);
	if (!k->vec || k->fd < 0 || ftruncate(k->fd, (off_t)size))
		return "memfd";
	k->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, k->fd, 0);
	if (k->p == MAP_FAILED)
		return "mmap of the memfd";
	k->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (k->uffd < 0)
		k->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (k->uffd < 0)
		return "userfaultfd()";
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
					      UFFD_FEATURE_WP_UNPOPULATED };
	if (ioctl(k->uffd, UFFDIO_API, &api))
		return "UFFDIO_API with WP_ASYNC, shmem write-protect, WP_UNPOPULATED";
	struct uffdio_register reg = { .range = { .start = (uintptr_t)k->p, .len = size },
				       .mode = UFFDIO_REGISTER_MODE_WP };
	if (ioctl(k->uffd, UFFDIO_REGISTER, &reg))
		return "UFFDIO_REGISTER in write-protect mode";
	k->pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	return k->pm < 0 ? "/proc/self/pagemap" : NULL;
}

/* One round: write, then (timed) scan + write-protect. -1 if the ioctl fails. */
static double uffd_round(struct uffd_scan *k, int round)
{
	uint64_t from = (uintptr_t)k->p, to = from + size, found = 0;
	double t0, t1;

	for (uint64_t i = 0; i < npages; i += STRIDE)
		k->p[i * PG] = (uint8_t)round;
	t0 = now_ns();
	while (from < to) { /* one call normally; again from walk_end if it stops early */
		struct pm_scan_arg arg = {
			.size = sizeof(arg), .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
			.start = from, .end = to, .vec = (uintptr_t)k->vec, .vec_len = k->vec_len,
			.category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN,
		};
		long n = ioctl(k->pm, PAGEMAP_SCAN, &arg);

		if (n < 0)
			return -1;
		for (long i = 0; i < n; i++)
			found += (k->vec[i].end - k->vec[i].start) / PG;
		from = arg.walk_end;
		k->calls++;
	}
	t1 = now_ns();
	if (round >= 0 && found != want)
		fail("uffd-scan", round, found);
	return t1 - t0;
}

static void uffd_teardown(struct uffd_scan *k)
{
	if (k->pm >= 0)
		close(k->pm);
	if (k->uffd >= 0)
		close(k->uffd);
	if (k->p != MAP_FAILED)
		munmap(k->p, size);
	if (k->fd >= 0)
		close(k->fd);
	free(k->vec);
}

/* ---- the kernel: soft-dirty ---------------------------------------------- */

struct softdirty {
	int fd, cr, pm;
	uint8_t *p;
	uint64_t *pmv;
};

static const char *sd_setup(struct softdirty *k)
{
	k->cr = k->pm = -1;
	k->p = MAP_FAILED;
	k->pmv = malloc(npages * sizeof(*k->pmv));
	k->fd = memfd_create("bench_dirty_sd", MFD_CLOEXEC);
	if (!k->pmv || k->fd < 0 || ftruncate(k->fd, (off_t)size))
		return "memfd";
	k->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, k->fd, 0);
	k->cr = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	k->pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (k->p == MAP_FAILED || k->cr < 0 || k->pm < 0)
		return "clear_refs or pagemap";
	/* clear_refs accepts "4" even without CONFIG_MEM_SOFT_DIRTY: probe a write */
	k->p[0] = 1;
	if (pread(k->pm, k->pmv, sizeof(*k->pmv), (off_t)((uintptr_t)k->p / PG * 8)) != 8 ||
	    !(k->pmv[0] >> 55 & 1))
		return "no soft-dirty bit after a write (kernel without CONFIG_MEM_SOFT_DIRTY)";
	return NULL;
}

/* Also resets the soft-dirty bits of every other mapping of this process. */
static double sd_round(struct softdirty *k, int round)
{
	uint64_t found = 0;
	ssize_t got;
	double t0, t1;

	for (uint64_t i = 0; i < npages; i += STRIDE)
		k->p[i * PG] = (uint8_t)round;
	t0 = now_ns();
	got = pread(k->pm, k->pmv, npages * 8, (off_t)((uintptr_t)k->p / PG * 8));
	if (write(k->cr, "4", 1) != 1 || got != (ssize_t)(npages * 8))
		return -1;
	t1 = now_ns();
	for (uint64_t i = 0; i < npages; i++)
		found += k->pmv[i] >> 55 & 1;
	if (round >= 0 && found != want)
		fail("softdirty", round, found);
	return t1 - t0;
}

static void sd_teardown(struct softdirty *k)
{
	if (k->pm >= 0)
		close(k->pm);
	if (k->cr >= 0)
		close(k->cr);
	if (k->p != MAP_FAILED)
		munmap(k->p, size);
	if (k->fd >= 0)
		close(k->fd);
	free(k->pmv);
}

/* ---- pagewalk ------------------------------------------------------------ */

struct pwalk {
	void *mem;
	uint64_t abytes, x, *bm;
	struct pw_arena *a;
	struct pw_file *f;
	struct pw_mm *mm;
};

static const char *pw_setup(struct pwalk *w)
{
	/* data frames for the written pages and the tables, with room to spare */
	w->abytes = (want * PG * 2 + (npages / 512 + 64) * PG * 2 + (64ULL << 20) + (2ULL << 20) - 1) &
		    ~((2ULL << 20) - 1);
	w->mem = mmap(NULL, w->abytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		      -1, 0);
	w->bm = calloc((npages + 63) / 64, sizeof(*w->bm));
	if (w->mem == MAP_FAILED || !w->bm)
		return "host memory";
	if (use_thp)
		madvise(w->mem, w->abytes, MADV_HUGEPAGE);
	if (pw_arena_create_from(w->mem, w->abytes, PW_ARENA_ZEROED, &w->a) ||
	    pw_file_create(w->a, size, &w->f) || pw_mm_create(w->a, NULL, &w->mm) ||
	    pw_mmap_file(w->mm, 0, size, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, w->f, 0, &w->x))
		return "pagewalk setup";
	return NULL;
}

static double pw_round(struct pwalk *w, int round, bool fused)
{
	uint64_t start = 0, end = 0, nwp, ncl, found = 0, words = (npages + 63) / 64;
	double t0, t1;

	for (uint64_t i = 0; i < npages; i += STRIDE)
		if (pw_access(w->mm, NULL, w->x + i * PG, PW_FAULT_WRITE | PW_FAULT_USER, NULL))
			return -1;
	memset(w->bm, 0, words * sizeof(*w->bm));
	t0 = now_ns();
	if (fused) {
		ncl = pw_wp_clean_record_shared_mapping_range(w->f, 0, npages, 0, w->bm, &start, &end, &nwp);
	} else {
		nwp = pw_wp_shared_mapping_range(w->f, 0, npages);
		ncl = pw_clean_record_shared_mapping_range(w->f, 0, npages, 0, w->bm, &start, &end);
	}
	t1 = now_ns();
	for (uint64_t i = 0; i < words; i++)
		found += (uint64_t)__builtin_popcountll(w->bm[i]);
	if (nwp != want || ncl != want || found != want)
		fail("pagewalk", round, nwp != want ? nwp : ncl != want ? ncl : found);
	return t1 - t0;
}

/* The dirty-log round: the same writes, then one harvest of what they logged. */
static double pw_log_round(struct pwalk *w, int round)
{
	uint64_t start = npages, end = 0, found = 0, words = (npages + 63) / 64;
	int64_t n;
	double t0, t1;

	for (uint64_t i = 0; i < npages; i += STRIDE)
		if (pw_access(w->mm, NULL, w->x + i * PG, PW_FAULT_WRITE | PW_FAULT_USER, NULL))
			return -1;
	memset(w->bm, 0, words * sizeof(*w->bm));
	t0 = now_ns();
	n = pw_dirty_log_harvest(w->f, 0, w->bm, &start, &end);
	t1 = now_ns();
	for (uint64_t i = 0; i < words; i++)
		found += (uint64_t)__builtin_popcountll(w->bm[i]);
	if (n < 0 || (uint64_t)n != want || found != want)
		fail("pw-log", round, n < 0 ? 0 : (uint64_t)n != want ? (uint64_t)n : found);
	return t1 - t0;
}

static void pw_teardown(struct pwalk *w)
{
	pw_mm_destroy(w->mm);
	pw_file_destroy(w->f);
	pw_arena_destroy(w->a);
	if (w->mem != MAP_FAILED)
		munmap(w->mem, w->abytes);
	free(w->bm);
}

/* ---- main ---------------------------------------------------------------- */

struct series {
	const char *name, *refused;
	double t[MAX_ROUNDS];
	int n;
};

static void report(const struct series *s)
{
	double m;

	if (s->refused) {
		printf("%-10s refused by the host: %s\n", s->name, s->refused);
		return;
	}
	m = median(s->t, s->n);
	printf("%-10s round median %9.0f ns  %6.3f ns/page  %6.1f ns/written page\n", s->name, m,
	       m / (double)npages, m / (double)want);
}

int main(int argc, char **argv)
{
	int rounds = 21;
	struct series ser[5] = { { .name = "pagewalk" }, { .name = "uffd-scan" }, { .name = "softdirty" },
				 { .name = "pw-fused" }, { .name = "pw-log" } };
	struct uffd_scan k;
	struct softdirty sd;
	struct pwalk w, wl;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--no-thp")) {
			use_thp = false;
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
			if (rounds < 1 || rounds > MAX_ROUNDS)
				rounds = 21;
		} else {
			size = strtoull(argv[i], &end, 0);
			size <<= *end == 'G' ? 30 : *end == 'M' ? 20 : 0;
			size &= ~((2ULL << 20) - 1);
			if (!size) {
				fprintf(stderr, "usage: bench_dirty [SIZE[M|G]] [--rounds N] [--no-thp]\n");
				return 2;
			}
		}
	}
	npages = size / PG;
	want = (npages + STRIDE - 1) / STRIDE;
	printf("bench_dirty: shared mapping of %llu MiB (%llu pages); %llu pages (1 in %d) written "
	       "between rounds; %d rounds interleaved; arena %s\n",
	       (unsigned long long)(size >> 20), (unsigned long long)npages, (unsigned long long)want,
	       STRIDE, rounds, use_thp ? "MADV_HUGEPAGE" : "4 KiB host pages");
	ser[0].refused = pw_setup(&w);
	ser[4].refused = pw_setup(&wl);
	if (!ser[4].refused && pw_dirty_log_enable(wl.f))
		ser[4].refused = "pw_dirty_log_enable";
	ser[1].refused = uffd_setup(&k);
	ser[2].refused = sd_setup(&sd);
	if (ser[0].refused) {
		fprintf(stderr, "bench_dirty: %s failed\n", ser[0].refused);
		return 1;
	}
	for (int round = -1; round < rounds; round++) {
		double t[5];

		t[0] = pw_round(&w, round, false);
		if (t[0] < 0) {
			fprintf(stderr, "bench_dirty: pw_access failed\n");
			return 1;
		}
		t[1] = ser[1].refused ? 0 : uffd_round(&k, round);
		if (t[1] < 0)
			ser[1].refused = "ioctl(PAGEMAP_SCAN)";
		t[2] = ser[2].refused ? 0 : sd_round(&sd, round);
		if (t[2] < 0)
			ser[2].refused = "pagemap read or clear_refs write";
		t[3] = pw_round(&w, round, true);
		if (t[3] < 0) {
			fprintf(stderr, "bench_dirty: pw_access failed\n");
			return 1;
		}
		t[4] = ser[4].refused ? 0 : pw_log_round(&wl, round);
		if (t[4] < 0) {
			fprintf(stderr, "bench_dirty: pw_access failed\n");
			return 1;
		}
		for (int i = 0; round >= 0 && i < 5; i++)
			if (!ser[i].refused)
				ser[i].t[ser[i].n++] = t[i];
	}
	printf("RSS of the process with all three set up: %ld MiB\n", rss_kib("VmRSS:") / 1024);
	for (int i = 0; i < 5; i++)
		report(&ser[i]);
	for (int i = 1; i < 3; i++) {
		double ratio[MAX_ROUNDS];

		if (ser[i].refused)
			continue;
		for (int r = 0; r < rounds; r++)
			ratio[r] = ser[0].t[r] / ser[i].t[r];
		printf("pagewalk / %s: median of per-round ratios %.2f (ratio of medians %.2f)\n", ser[i].name,
		       median(ratio, rounds), median(ser[0].t, rounds) / median(ser[i].t, rounds));
	}
	for (int i = 1; i < 3; i++) {
		double ratio[MAX_ROUNDS];

		if (ser[i].refused)
			continue;
		for (int r = 0; r < rounds; r++)
			ratio[r] = ser[3].t[r] / ser[i].t[r];
		printf("pw-fused (one pass) / %s: median of per-round ratios %.2f (ratio of medians %.2f)\n",
		       ser[i].name, median(ratio, rounds), median(ser[3].t, rounds) / median(ser[i].t, rounds));
	}
	for (int i = 1; i < 3; i++) {
		double ratio[MAX_ROUNDS];

		if (ser[i].refused || ser[4].refused)
			continue;
		for (int r = 0; r < rounds; r++)
			ratio[r] = ser[4].t[r] / ser[i].t[r];
		printf("pw-log (dirty log) / %s: median of per-round ratios %.3f (ratio of medians %.3f)\n",
		       ser[i].name, median(ratio, rounds), median(ser[4].t, rounds) / median(ser[i].t, rounds));
	}
	if (!ser[1].refused)
		printf("uffd-scan: %.1f PAGEMAP_SCAN calls per round\n", (double)k.calls / (rounds + 1));
	sd_teardown(&sd);
	uffd_teardown(&k);
	pw_teardown(&w);
	if (!ser[4].refused)
		pw_dirty_log_disable(wl.f);
	pw_teardown(&wl);
	return 0;
}
