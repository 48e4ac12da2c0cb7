// SPDX-License-Identifier: MIT
/*
 * bench_locks.c - the mmap lock before and after issue 12: glibc's default
 * rwlock (readers preferred) against pw_rwsem (writers preferred, futex).
 *
 * Readers loop on a critical section that reads one PTE table (512
 * entries, as a walk of one table does). A writer, when present, takes the
 * lock every 200 us for a moment (munmap's share). Reported per lock, in
 * one run, interleaved rounds: reader sections per second (1 and 2
 * readers, no writer; 2 readers with the writer), and the writer's wait
 * for the lock (median and worst) and the writes it got done.
 */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "bench.h"
#include "core/core.h"

#define ROUNDS 5
#define SECONDS 0.4

static uint64_t table[512];

struct lock {
	bool ours;
	pthread_rwlock_t rw;
	struct pw_rwsem sem;
};

static void rd(struct lock *l)
{
	if (l->ours)
		pw_rwsem_read_lock(&l->sem);
	else
		pthread_rwlock_rdlock(&l->rw);
}

static void rd_unlock(struct lock *l)
{
	if (l->ours)
		pw_rwsem_read_unlock(&l->sem);
	else
		pthread_rwlock_unlock(&l->rw);
}

static void wr(struct lock *l)
{
	if (l->ours)
		pw_rwsem_write_lock(&l->sem);
	else
		pthread_rwlock_wrlock(&l->rw);
}

static void wr_unlock(struct lock *l)
{
	if (l->ours)
		pw_rwsem_write_unlock(&l->sem);
	else
		pthread_rwlock_unlock(&l->rw);
}

struct run {
	struct lock *l;
	int stop;
	uint64_t sections;
	uint64_t writes;
	double wait[100000];
	uint64_t sink;
};

static void *reader(void *arg)
{
	struct run *r = arg;
	uint64_t n = 0, sum = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		rd(r->l);
		for (int i = 0; i < 512; i++)
			sum += __atomic_load_n(&table[i], __ATOMIC_RELAXED);
		rd_unlock(r->l);
		n++;
	}
	__atomic_fetch_add(&r->sections, n, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->sink, sum, __ATOMIC_RELAXED);
	return NULL;
}

static void *writer(void *arg)
{
	struct run *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		double t0;

		usleep(200);
		t0 = now_ns();
		wr(r->l);
		if (r->writes < ARRAY_SIZE(r->wait))
			r->wait[r->writes] = now_ns() - t0;
		r->writes++;
		table[r->writes % 512]++;
		wr_unlock(r->l);
	}
	return NULL;
}

/* One timed run: sections per second; the writer's figures in @r. */
static double one(struct lock *l, int readers, bool with_writer, struct run *r)
{
	pthread_t t[3];
	double t0;

	memset(r, 0, sizeof(*r));
	r->l = l;
	for (int i = 0; i < readers; i++)
		pthread_create(&t[i], NULL, reader, r);
	if (with_writer)
		pthread_create(&t[readers], NULL, writer, r);
	t0 = now();
	usleep((useconds_t)(SECONDS * 1e6));
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < readers + with_writer; i++)
		pthread_join(t[i], NULL);
	return (double)r->sections / (now() - t0);
}

int main(void)
{
	static struct run r;
	struct lock locks[2] = { { .ours = false }, { .ours = true } };
	const char *names[2] = { "glibc rwlock (before)", "pw_rwsem (after)" };
	double rate[2][3][ROUNDS], wmed[2][ROUNDS], wmax[2][ROUNDS], writes[2][ROUNDS];
	char model[256] = "?";
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(model, sizeof(model), f))
		if (!strncmp(model, "model name", 10))
			break;
	if (f)
		fclose(f);
	pthread_rwlock_init(&locks[0].rw, NULL);
	pw_rwsem_init(&locks[1].sem);
	printf("bench_locks: %s", strchr(model, ':') ? strchr(model, ':') + 2 : model);
	for (int round = 0; round < ROUNDS; round++) {
		for (int k = 0; k < 2; k++) {
			int n;

			rate[k][0][round] = one(&locks[k], 1, false, &r);
			rate[k][1][round] = one(&locks[k], 2, false, &r);
			rate[k][2][round] = one(&locks[k], 2, true, &r);
			n = (int)(r.writes < ARRAY_SIZE(r.wait) ? r.writes : ARRAY_SIZE(r.wait));
			wmed[k][round] = n ? median(r.wait, n) : 0;
			wmax[k][round] = 0;
			for (int i = 0; i < n; i++)
				if (r.wait[i] > wmax[k][round])
					wmax[k][round] = r.wait[i];
			writes[k][round] = (double)r.writes / SECONDS;
		}
	}
	printf("%d interleaved rounds of %.1f s each; medians over rounds\n", ROUNDS, SECONDS);
	printf("%-24s %14s %14s %18s %12s %14s %12s\n", "lock", "1 reader /s", "2 readers /s",
	       "2 rd + writer /s", "writes /s", "write wait med", "worst");
	for (int k = 0; k < 2; k++)
		printf("%-24s %14.0f %14.0f %18.0f %12.0f %11.1f us %9.1f ms\n", names[k],
		       median(rate[k][0], ROUNDS), median(rate[k][1], ROUNDS),
		       median(rate[k][2], ROUNDS), median(writes[k], ROUNDS),
		       median(wmed[k], ROUNDS) / 1e3, median(wmax[k], ROUNDS) / 1e6);
	printf("after/before: 1 reader %.2fx, 2 readers %.2fx, 2 readers with writer %.2fx, writes %.2fx\n",
	       median(rate[1][0], ROUNDS) / median(rate[0][0], ROUNDS),
	       median(rate[1][1], ROUNDS) / median(rate[0][1], ROUNDS),
	       median(rate[1][2], ROUNDS) / median(rate[0][2], ROUNDS),
	       median(writes[1], ROUNDS) / median(writes[0], ROUNDS));
	return 0;
}
