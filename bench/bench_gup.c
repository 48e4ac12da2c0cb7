// SPDX-License-Identifier: MIT
/*
 * bench_gup.c - GUP-fast against the locked GUP and the host kernel's own
 * GUP, and lockless translation scaling with threads.
 *
 * GUP: 1 GiB of mapped 4 KiB pages (populated), all taken by one call and
 * released untimed: pw_get_user_pages_fast(), pw_get_user_pages() (mmap
 * lock, PTE locks), and the host kernel's GUP as process_vm_readv() reads
 * one byte of every page of its own 1 GiB populated mapping (MADV_NOHUGEPAGE;
 * each call pins up to 1024 pages and copies a byte from each). With 1
 * thread and with 2 threads (each its half), and with 1 thread while another
 * thread maps and unmaps an unrelated 64 KiB range in a loop (it takes the
 * mmap lock for write, which the locked GUP then waits behind; the
 * lockless one does not take it). Interleaved rounds, the order rotating;
 * medians.
 *
 * Lockless translate: random 4 KiB addresses in an 8 GiB populated mapping,
 * pw_translate_lockless() (no mmap lock) from 1 and 2 threads, ns per
 * lookup; the 2-thread figure is the aggregate rate's ratio to 1 thread.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <pagewalk/gup.h>
#include <pagewalk/mm.h>

#include "bench.h"

#define GUP_BYTES (1ULL << 30)
#define NPAGES (GUP_BYTES >> 12)
#define ROUNDS 7
#define TR_BYTES (8ULL << 30)
#define LOOKUPS 4000000

static void die(const char *what, long err)
{
	fprintf(stderr, "bench_gup: %s: %ld\n", what, err);
	exit(1);
}

enum kind { FAST, LOCKED, KERNEL };

struct job {
	enum kind kind;
	struct pw_mm *mm;
	uint64_t start;
	unsigned long nr;
	uint64_t *frames;
	char *host;
	double ns;
};

static void kernel_gup(char *host, unsigned long first, unsigned long nr)
{
	static __thread char sink[1024];
	struct iovec local = { sink, 0 }, remote[1024];

	for (unsigned long i = 0; i < nr; i += 1024) {
		unsigned long n = nr - i < 1024 ? nr - i : 1024;

		for (unsigned long k = 0; k < n; k++)
			remote[k] = (struct iovec){ host + ((first + i + k) << 12), 1 };
		local.iov_len = n;
		if (process_vm_readv(getpid(), &local, 1, remote, n, 0) != (ssize_t)n)
			die("process_vm_readv", -1);
	}
}

static void *run_job(void *arg)
{
	struct job *j = arg;
	double t0 = now_ns();
	long got = (long)j->nr;

	if (j->kind == FAST)
		got = pw_get_user_pages_fast(j->mm, j->start, j->nr, 0, j->frames);
	else if (j->kind == LOCKED)
		got = pw_get_user_pages(j->mm, j->start, j->nr, 0, j->frames);
	else
		kernel_gup(j->host, (j->start >> 12), j->nr);
	j->ns = now_ns() - t0;
	if (got != (long)j->nr)
		die("gup", got);
	if (j->kind != KERNEL)
		pw_put_user_pages(j->mm, j->frames, j->nr, 0);
	return NULL;
}

struct churn {
	struct pw_mm *mm;
	int stop;
	uint64_t ops;
};

static void *churner(void *arg)
{
	struct churn *c = arg;
	uint64_t a;

	while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
		if (pw_mmap(c->mm, 0, 16 << 12, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_POPULATE,
			    &a) == 0)
			pw_munmap(c->mm, a, 16 << 12);
		__atomic_fetch_add(&c->ops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static double churn_rate; /* of the last churned round: mmap+munmap pairs per ms */

/* ns per page of one round with @threads threads (0: one thread and a churner). */
static double gup_round(enum kind k, struct pw_mm *mm, uint64_t base, char *host, uint64_t *frames,
			int threads)
{
	struct job j[2];
	pthread_t t[2], ct;
	struct churn c = { .mm = mm };
	bool churn = threads == 0;
	double t0;

	if (churn) {
		threads = 1;
		pthread_create(&ct, NULL, churner, &c);
		usleep(1000);
	}
	t0 = now_ns();
	for (int i = 0; i < threads; i++) {
		unsigned long per = NPAGES / (unsigned long)threads;

		j[i] = (struct job){ .kind = k, .mm = mm, .nr = per, .frames = frames + i * per,
				     .host = host };
		j[i].start = (k == KERNEL ? 0 : base) + ((uint64_t)i * per << 12);
		pthread_create(&t[i], NULL, run_job, &j[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	{
		double ns = now_ns() - t0;

		t0 = ns / (double)NPAGES;
		if (churn) {
			churn_rate = (double)__atomic_load_n(&c.ops, __ATOMIC_RELAXED) / (ns / 1e6);
			__atomic_store_n(&c.stop, 1, __ATOMIC_RELAXED);
			pthread_join(ct, NULL);
		}
	}
	return t0;
}

struct tr_job {
	struct pw_mm *mm;
	uint64_t base;
	uint64_t seed;
	uint64_t sum;
	double ns;
};

static void *tr_run(void *arg)
{
	struct tr_job *j = arg;
	uint64_t x = j->seed, sum = 0;
	double t0 = now_ns();

	for (int i = 0; i < LOOKUPS; i++) {
		struct pw_translation tr;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (pw_translate_lockless(j->mm, j->base + (x % (TR_BYTES >> 12) << 12), &tr))
			die("pw_translate_lockless", -1);
		sum += tr.pfn;
	}
	j->ns = now_ns() - t0;
	j->sum = sum;
	return NULL;
}

static double tr_round(struct pw_mm *mm, uint64_t base, int threads)
{
	struct tr_job j[2];
	pthread_t t[2];
	double t0 = now_ns();

	for (int i = 0; i < threads; i++) {
		j[i] = (struct tr_job){ .mm = mm, .base = base, .seed = 0x9e3779b97f4a7c15ULL * (i + 1) };
		pthread_create(&t[i], NULL, tr_run, &j[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return (now_ns() - t0) / ((double)LOOKUPS * threads); /* ns per lookup, aggregate */
}

int main(int argc, char **argv)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_arena *a;
	struct pw_mm *mm;
	uint64_t base, *frames = malloc(NPAGES * sizeof(*frames));
	double r[3][3][ROUNDS], tr[2][ROUNDS], cr[3][ROUNDS];
	char model[256] = "?";
	char *host;
	long ret;
	FILE *f = fopen("/proc/cpuinfo", "r");
	bool skip_translate = argc > 1 && !strcmp(argv[1], "--gup-only");

	while (f && fgets(model, sizeof(model), f))
		if (!strncmp(model, "model name", 10))
			break;
	if (f)
		fclose(f);
	printf("bench_gup: %s", strchr(model, ':') ? strchr(model, ':') + 2 : model);
	if (!frames)
		die("malloc", -12);
	if ((ret = pw_arena_create(GUP_BYTES + (64ULL << 20), &a)) || (ret = pw_mm_create(a, &cfg, &mm)))
		die("arena/mm", ret);
	if ((ret = pw_mmap(mm, 0, GUP_BYTES, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_POPULATE, &base)))
		die("pw_mmap", ret);
	host = mmap(NULL, GUP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (host == MAP_FAILED)
		die("mmap", -1);
	madvise(host, GUP_BYTES, MADV_NOHUGEPAGE);
	for (uint64_t i = 0; i < GUP_BYTES; i += 4096)
		host[i] = 1;
	/* the order rotates each round: the run after the kernel's finds cold caches */
	for (int round = 0; round < ROUNDS; round++)
		for (int th = 0; th <= 2; th++)
			for (int i = 0; i < 3; i++) {
				int k = (round + i) % 3;

				if (th == 0 && k == KERNEL) {
					r[k][2][round] = 0; /* the churn is of our mm */
					continue;
				}
				r[k][th ? th - 1 : 2][round] =
					gup_round((enum kind)k, mm, base, host, frames, th);
				if (th == 0)
					cr[k][round] = churn_rate;
			}
	printf("GUP of 1 GiB of populated 4 KiB pages (%llu pages), median of %d interleaved rounds, ns per page\n",
	       (unsigned long long)NPAGES, ROUNDS);
	printf("%-34s %10s %10s %18s\n", "", "1 thread", "2 threads", "1 thread + munmap");
	printf("%-34s %10.2f %10.2f %18.2f\n", "pw_get_user_pages_fast", median(r[FAST][0], ROUNDS),
	       median(r[FAST][1], ROUNDS), median(r[FAST][2], ROUNDS));
	printf("%-34s %10.2f %10.2f %18.2f\n", "pw_get_user_pages (locked)", median(r[LOCKED][0], ROUNDS),
	       median(r[LOCKED][1], ROUNDS), median(r[LOCKED][2], ROUNDS));
	printf("%-34s %10.2f %10.2f\n", "host kernel, process_vm_readv", median(r[KERNEL][0], ROUNDS),
	       median(r[KERNEL][1], ROUNDS));
	printf("fast/locked: %.2fx faster (1 thread), %.2fx (2 threads), %.2fx (with munmap); fast vs kernel: %.2fx, %.2fx\n",
	       median(r[LOCKED][0], ROUNDS) / median(r[FAST][0], ROUNDS),
	       median(r[LOCKED][1], ROUNDS) / median(r[FAST][1], ROUNDS),
	       median(r[LOCKED][2], ROUNDS) / median(r[FAST][2], ROUNDS),
	       median(r[KERNEL][0], ROUNDS) / median(r[FAST][0], ROUNDS),
	       median(r[KERNEL][1], ROUNDS) / median(r[FAST][1], ROUNDS));
	printf("the other thread's mmap+munmap pairs per ms meanwhile: %.1f beside GUP-fast, %.1f beside the locked GUP\n",
	       median(cr[FAST], ROUNDS), median(cr[LOCKED], ROUNDS));
	munmap(host, GUP_BYTES);
	pw_mm_destroy(mm);
	pw_arena_destroy(a);
	if (skip_translate)
		return 0;

	if ((ret = pw_arena_create(TR_BYTES + TR_BYTES / 256 + (64ULL << 20), &a)) ||
	    (ret = pw_mm_create(a, &cfg, &mm)))
		die("arena/mm", ret);
	if ((ret = pw_mmap(mm, 0, TR_BYTES, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_POPULATE, &base)))
		die("pw_mmap 8 GiB", ret);
	for (int round = 0; round < ROUNDS; round++)
		for (int th = 1; th <= 2; th++)
			tr[th - 1][round] = tr_round(mm, base, th);
	printf("lockless translate, random addresses in 8 GiB of 4 KiB pages, %d lookups per thread, median of %d rounds\n",
	       LOOKUPS, ROUNDS);
	printf("1 thread: %.1f ns per lookup; 2 threads: %.1f ns per lookup (aggregate); scaling %.2fx\n",
	       median(tr[0], ROUNDS), median(tr[1], ROUNDS), median(tr[0], ROUNDS) / median(tr[1], ROUNDS));
	pw_mm_destroy(mm);
	pw_arena_destroy(a);
	free(frames);
	return 0;
}
