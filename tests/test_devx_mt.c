// SPDX-License-Identifier: MIT
/*
 * Description: device access under concurrency (also run under TSan):
 * (1) threads fault, write, munmap/remap and fork while a device takes and
 * releases exclusive access to the same pages, many rounds: nothing leaks,
 * contents survive every exclusive -> restore, counts are right at the end;
 * (2) a mirror thread takes pw_range_fault() snapshots with retries while
 * another thread replaces pages: every accepted snapshot matches the tables
 * at the moment it is accepted (under the driver lock, page by page: the
 * frame the modifier mapped, or once an invalidation of that page has
 * started, a new frame but never the old one, which the modifier keeps
 * held so that it cannot come back by reuse), and after each change the
 * device holds no frame the CPU no longer maps; the same mirror without
 * the pw_interval_read_retry() check (a run-time switch of this test) must
 * be caught accepting a stale snapshot.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <pagewalk/devx.h>
#include <pagewalk/gup.h>
#include <pagewalk/hmm.h>
#include <pagewalk/mm.h>

#include "../tests/tap.h"

#define PG 4096ULL
#define NP 32

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- (1) exclusive access against faults, munmap and fork ---------------- */

struct race {
	struct pw_mm *mm;
	uint64_t shared, priv;
	int stop;
	int errors;
	unsigned long exclusive, lost, restores;
};

static void *device(void *arg)
{
	struct race *r = arg;
	uint64_t fr[NP];

	for (int round = 0; round < 150; round++) {
		uint64_t base = (round & 1) ? r->shared : r->priv;
		long n = pw_make_device_exclusive_range(r->mm, base, base + NP * PG, r, fr);

		if (n < 0 && n != -EFAULT) {
			__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		for (long i = 0; i < n; i++)
			if (fr[i])
				r->exclusive++;
			else
				r->lost++;
		if (n > 0)
			pw_put_user_pages(r->mm, fr, (unsigned long)n, 0);
	}
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Each page holds its own index in byte 8 (0 right after a remap). */
static void *cpu(void *arg)
{
	struct race *r = arg;
	uint8_t *mem = pw_arena_base(pw_mm_arena(r->mm));
	uint64_t seed = 12345;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		struct pw_access_result res;
		unsigned i;
		uint64_t base;
		bool w;
		int ret;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		i = (unsigned)(seed >> 33) % NP;
		base = (seed >> 40) & 1 ? r->shared : r->priv;
		w = (seed >> 41) & 1;
		ret = pw_access(r->mm, NULL, base + i * PG + 8, PW_FAULT_USER | (w ? PW_FAULT_WRITE : 0), &res);
		if (ret == -EFAULT)
			continue; /* the page is between munmap and remap */
		if (ret) {
			__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (w) {
			__atomic_store_n(&mem[res.phys], (uint8_t)(i + 1), __ATOMIC_RELAXED);
		} else {
			uint8_t v = __atomic_load_n(&mem[res.phys], __ATOMIC_RELAXED);

			if (v != 0 && v != (uint8_t)(i + 1))
				__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
		}
		r->restores++;
	}
	return NULL;
}

static void *unmapper(void *arg)
{
	struct race *r = arg;
	unsigned i = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		bool sh = i & 1;
		uint64_t a = (sh ? r->shared : r->priv) + (uint64_t)((i * 7) % NP) * PG;

		if (pw_munmap(r->mm, a, PG) ||
		    pw_mmap(r->mm, a, PG, PW_PROT_READ | PW_PROT_WRITE,
			    PW_MAP_FIXED | (sh ? PW_MAP_SHARED : PW_MAP_PRIVATE), NULL))
			__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
		i++;
		sched_yield();
	}
	return NULL;
}

static void *forker(void *arg)
{
	struct race *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		struct pw_mm *c;

		if (pw_mm_fork(r->mm, &c)) {
			__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		for (unsigned i = 0; i < NP; i += 5)
			(void)pw_access(c, NULL, r->priv + i * PG, PW_FAULT_USER | PW_FAULT_WRITE, NULL);
		pw_mm_destroy(c);
	}
	return NULL;
}

TEST(exclusive_against_faults_munmap_fork)
{
	struct pw_arena *a;
	struct race r = { 0 };
	pthread_t t[4];
	uint64_t free0;

	REQUIRE_EQ(pw_arena_create(64 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_mm_create(a, NULL, &r.mm), 0);
	REQUIRE_EQ(pw_mmap(r.mm, 0, NP * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_POPULATE,
			   &r.shared), 0);
	REQUIRE_EQ(pw_mmap(r.mm, 0, NP * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_POPULATE,
			   &r.priv), 0);
	pthread_create(&t[0], NULL, device, &r);
	pthread_create(&t[1], NULL, cpu, &r);
	pthread_create(&t[2], NULL, unmapper, &r);
	pthread_create(&t[3], NULL, forker, &r);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	tap_diag("exclusive %lu, lost to a change %lu, CPU accesses %lu", r.exclusive, r.lost, r.restores);
	CHECK_EQ(r.errors, 0);
	CHECK(r.exclusive > 0);
	/* everything restorable, each page mapped once, with one reference */
	for (unsigned i = 0; i < NP; i++) {
		for (int side = 0; side < 2; side++) {
			uint64_t addr = (side ? r.shared : r.priv) + i * PG;
			struct pw_access_result res;
			struct pw_frame *f;

			REQUIRE_EQ(pw_access(r.mm, NULL, addr, PW_FAULT_USER, &res), 0);
			f = pw_frame_meta(a, res.phys >> 12);
			CHECK_EQ(f->mapcount, 1);
			CHECK_EQ(f->refcount, 1);
		}
	}
	pw_mm_destroy(r.mm);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

/* ---- (2) a mirror with and without the retry check ------------------------ */

struct mirror {
	struct pw_interval_notifier ni;
	pthread_mutex_t lock; /* the driver lock */
	uint64_t dev[NP];     /* the device's view: frame per page, 0 = invalid */
	/* the tables, as the modifier knows them, under the driver lock: each
	 * page's frame, and whether an invalidation of it has started since */
	uint64_t cur[NP];
	bool inval[NP];
	uint64_t base;
	struct pw_mm *mm;
	bool check_retry;
	int stop;
	unsigned long accepted, retried, stale, changes;
	int errors;
};

static bool mirror_invalidate(struct pw_interval_notifier *ni, const struct pw_mmu_notifier_range *r,
			      uint64_t cur_seq)
{
	struct mirror *m = (struct mirror *)ni;

	pthread_mutex_lock(&m->lock);
	pw_interval_set_seq(ni, cur_seq);
	for (unsigned i = 0; i < NP; i++) {
		uint64_t a = m->base + i * PG;

		if (a >= r->start && a < r->end) {
			m->dev[i] = 0; /* the device drops its translation */
			m->inval[i] = true;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct pw_interval_notifier_ops mirror_ops = { .invalidate = mirror_invalidate };

static void *mirror_thread(void *arg)
{
	struct mirror *m = arg;
	uint64_t pfns[NP];
	struct pw_hmm_range range = { .notifier = &m->ni, .start = m->base, .end = m->base + NP * PG,
				      .pfns = pfns, .default_flags = PW_HMM_REQ_FAULT };

	while (!__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE)) {
		int ret;

		range.notifier_seq = pw_interval_read_begin(&m->ni);
		pw_mmap_read_lock(m->mm);
		ret = pw_range_fault(&range);
		pw_mmap_read_unlock(m->mm);
		if (ret == -EBUSY || ret == -EFAULT) {
			m->retried++; /* an invalidation, or a page between munmap and remap */
			continue;
		}
		if (ret) {
			__atomic_fetch_add(&m->errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		/* widen the window an invalidation may fall into (the same in both modes) */
		nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
		pthread_mutex_lock(&m->lock);
		if (m->check_retry && pw_interval_read_retry(&m->ni, range.notifier_seq)) {
			pthread_mutex_unlock(&m->lock);
			m->retried++;
			continue;
		}
		for (unsigned i = 0; i < NP; i++) {
			uint64_t pfn = pfns[i] & PW_HMM_PFN_FRAME_MASK;

			/* the tables now: the modifier's frame, or (its change under
			 * way, past the invalidation) a new frame, never the old one */
			if (!(pfns[i] & PW_HMM_PFN_VALID) || (m->inval[i] ? pfn == m->cur[i] : pfn != m->cur[i]))
				__atomic_fetch_add(&m->stale, 1, __ATOMIC_RELAXED);
			m->dev[i] = pfn;
		}
		m->accepted++;
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

/* Replace page after page; after each, the device must not hold the old frame. */
static void *modifier(void *arg)
{
	struct mirror *m = arg;
	uint64_t t0 = now_ns();
	unsigned i = 0;

	while (now_ns() - t0 < 1500000000ULL &&
	       (m->check_retry || !__atomic_load_n(&m->stale, __ATOMIC_RELAXED))) {
		uint64_t a = m->base + (uint64_t)(i % NP) * PG, old, cur;
		struct pw_translation tr;

		/* hold the old frame so that the new page cannot reuse it */
		if (pw_get_user_pages(m->mm, a, 1, 0, &old) != 1 || pw_munmap(m->mm, a, PG) ||
		    pw_mmap(m->mm, a, PG, PW_PROT_READ | PW_PROT_WRITE,
			    PW_MAP_FIXED | PW_MAP_PRIVATE | PW_MAP_POPULATE, NULL)) {
			__atomic_fetch_add(&m->errors, 1, __ATOMIC_RELAXED);
			break;
		}
		pw_mmap_read_lock(m->mm);
		if (pw_translate(m->mm, a, &tr))
			__atomic_fetch_add(&m->errors, 1, __ATOMIC_RELAXED);
		pw_mmap_read_unlock(m->mm);
		cur = tr.pfn; /* only this thread changes the page: it stays */
		pthread_mutex_lock(&m->lock);
		/* the device must not use a frame the CPU no longer maps there */
		if (m->dev[i % NP] && m->dev[i % NP] != cur)
			__atomic_fetch_add(&m->stale, 1, __ATOMIC_RELAXED);
		m->cur[i % NP] = cur;
		m->inval[i % NP] = false;
		pthread_mutex_unlock(&m->lock);
		pw_put_user_pages(m->mm, &old, 1, 0);
		m->changes++;
		i++;
		nanosleep(&(struct timespec){ .tv_nsec = 30000 }, NULL); /* let snapshots through too */
	}
	__atomic_store_n(&m->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void run_mirror(bool check_retry, struct mirror *m)
{
	struct pw_arena *a;
	pthread_t t[2];
	uint64_t free0;

	REQUIRE_EQ(pw_arena_create(32 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_mm_create(a, NULL, &m->mm), 0);
	REQUIRE_EQ(pw_mmap(m->mm, 0, NP * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE | PW_MAP_POPULATE,
			   &m->base), 0);
	pthread_mutex_init(&m->lock, NULL);
	m->check_retry = check_retry;
	pw_mmap_read_lock(m->mm);
	for (unsigned i = 0; i < NP; i++) {
		struct pw_translation tr;

		REQUIRE_EQ(pw_translate(m->mm, m->base + i * PG, &tr), 0);
		m->cur[i] = tr.pfn;
	}
	pw_mmap_read_unlock(m->mm);
	REQUIRE_EQ(pw_interval_notifier_insert(&m->ni, m->mm, m->base, NP * PG, &mirror_ops), 0);
	pthread_create(&t[0], NULL, mirror_thread, m);
	pthread_create(&t[1], NULL, modifier, m);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	CHECK_EQ(pw_interval_notifier_remove(&m->ni), 0);
	CHECK_EQ(pw_interval_notifier_remove(&m->ni), -ENOENT);
	tap_diag("retry check %s: %lu snapshots accepted, %lu retried, %lu changes, %lu stale",
		 check_retry ? "on" : "off", m->accepted, m->retried, m->changes, m->stale);
	pw_mm_destroy(m->mm);
	pthread_mutex_destroy(&m->lock);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(mirror_snapshots_are_never_stale)
{
	struct mirror m = { 0 };

	run_mirror(true, &m);
	CHECK_EQ(m.errors, 0);
	CHECK(m.accepted > 0);
	CHECK(m.changes > 0);
	CHECK_EQ(m.stale, 0);
}

TEST(mirror_without_retry_check_is_caught)
{
	struct mirror m = { 0 };

	run_mirror(false, &m);
	CHECK_EQ(m.errors, 0);
	CHECK(m.stale > 0); /* the test can fail: without the check it does */
}

static bool plain_invalidate(struct pw_interval_notifier *ni, const struct pw_mmu_notifier_range *r,
			     uint64_t cur_seq)
{
	pw_interval_set_seq(ni, cur_seq);
	return true;
}

static const struct pw_interval_notifier_ops plain_ops = { .invalidate = plain_invalidate };

TEST(interval_notifier_bad_input)
{
	struct pw_arena *a;
	struct pw_mm *mm;
	struct pw_interval_notifier ni = { 0 };
	uint64_t pfns[1];
	struct pw_hmm_range r = { .notifier = &ni, .pfns = pfns };

	REQUIRE_EQ(pw_arena_create(8 << 20, &a), 0);
	REQUIRE_EQ(pw_mm_create(a, NULL, &mm), 0);
	CHECK_EQ(pw_interval_notifier_insert(NULL, mm, 0, PG, &plain_ops), -EINVAL);
	CHECK_EQ(pw_interval_notifier_insert(&ni, mm, 1, PG, &plain_ops), -EINVAL);
	CHECK_EQ(pw_interval_notifier_insert(&ni, mm, 0, 0, &plain_ops), -EINVAL);
	CHECK_EQ(pw_interval_notifier_insert(&ni, mm, ~0ULL << 12, 2 * PG, &plain_ops), -EINVAL);
	CHECK_EQ(pw_interval_notifier_insert(&ni, mm, 0, PG, NULL), -EINVAL);
	CHECK_EQ(pw_interval_notifier_remove(&ni), -ENOENT);
	CHECK_EQ(pw_interval_notifier_insert(&ni, mm, 0x400000, 4 * PG, &plain_ops), 0);
	CHECK_EQ(pw_interval_notifier_insert(&ni, mm, 0x400000, 4 * PG, &plain_ops), -EEXIST);
	r.notifier_seq = pw_interval_read_begin(&ni);
	r.start = 0x400000;
	r.end = 0x400000 + 8 * PG; /* beyond the interval */
	pw_mmap_read_lock(mm);
	CHECK_EQ(pw_range_fault(&r), -EINVAL);
	r.end = 0x400000 + PG;
	CHECK_EQ(pw_range_fault(&r), 0); /* nothing mapped, nothing asked: an error slot */
	CHECK_EQ(pfns[0], PW_HMM_PFN_ERROR);
	r.default_flags = PW_HMM_REQ_FAULT;
	CHECK_EQ(pw_range_fault(&r), -EFAULT); /* no VMA to fault in */
	pw_mmap_read_unlock(mm);
	CHECK_EQ(pw_interval_read_retry(&ni, r.notifier_seq), false);
	/* pw_mm_destroy() forgets what is still inserted */
	pw_mm_destroy(mm);
	CHECK_EQ(pw_interval_notifier_remove(&ni), -ENOENT);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(exclusive_against_faults_munmap_fork);
	RUN(mirror_snapshots_are_never_stale);
	RUN(mirror_without_retry_check_is_caught);
	RUN(interval_notifier_bad_input);
	return tap_done();
}
