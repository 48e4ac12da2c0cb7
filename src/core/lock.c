// SPDX-License-Identifier: MIT
/*
 * lock.c - owner-aware spinlocks and a writer-preferring read/write lock.
 *
 * The kernel asserts its locking rules with lockdep; we do the same with
 * locks that remember who holds them (and lockdep.c checks their order in
 * debug builds). A spinlock word holds its owner's thread id. A rwsem
 * records its writer; each thread keeps a short list of the rwsems it holds
 * for read, so "held by me" is exact for readers too.
 *
 * The rwsem is ours rather than glibc's rwlock because glibc's default
 * prefers readers: two threads walking in a loop keep the lock read-held
 * forever and munmap never gets in. Here a reader that finds a writer
 * waiting waits behind it. All state changes are atomics on one word
 * (acquire on lock, release on unlock); a thread that cannot enter sleeps
 * on that word with futex(2), and unlockers wake sleepers only when some
 * are counted.
 */
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/core.h"

static uint32_t next_tid = 1;
static _Thread_local uint32_t my_tid;

uint32_t pw_tid(void)
{
	if (unlikely(!my_tid))
		my_tid = __atomic_fetch_add(&next_tid, 1, __ATOMIC_RELAXED);
	return my_tid;
}

void pw_spin_lock_at(uint32_t *lock, enum pw_lock_class cls, struct pw_lock_site site)
{
	uint32_t me = pw_tid();
	unsigned spins = 0;

	PW_BUG_ON(__atomic_load_n(lock, __ATOMIC_RELAXED) == me); /* recursion */
	pw_lockdep_acquire(cls, lock, false, site);
	for (;;) {
		uint32_t expected = 0;

		if (__atomic_compare_exchange_n(lock, &expected, me, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return;
		if (++spins > 64) {
			sched_yield();
			spins = 0;
		} else {
			__builtin_ia32_pause();
		}
	}
}

void pw_spin_unlock_cls(uint32_t *lock, enum pw_lock_class cls)
{
	PW_BUG_ON(__atomic_load_n(lock, __ATOMIC_RELAXED) != pw_tid());
	pw_lockdep_release(cls, lock);
	__atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

/* ---- the rwsem ----------------------------------------------------------- */

#define RW_READERS 0xffffu
#define RW_WAITER (1u << 16)
#define RW_WAITERS (0x7fffu << 16)
#define RW_WRITER (1u << 31)

/* Read locks held by this thread (debug bookkeeping; nesting is shallow). */
#define MAX_HELD_READ 16
static _Thread_local const struct pw_rwsem *held_read[MAX_HELD_READ];
static _Thread_local unsigned nr_held_read;

void pw_rwsem_init_class(struct pw_rwsem *sem, enum pw_lock_class cls)
{
	*sem = (struct pw_rwsem){ .cls = (uint8_t)cls };
}

void pw_rwsem_destroy(struct pw_rwsem *sem)
{
	PW_BUG_ON(__atomic_load_n(&sem->state, __ATOMIC_RELAXED) != 0);
}

/* Sleep until @sem->state may no longer be @seen. */
static void rw_wait(struct pw_rwsem *sem, uint32_t seen)
{
	__atomic_fetch_add(&sem->sleepers, 1, __ATOMIC_SEQ_CST);
	/* futex compares state with @seen in the kernel: a change made before
	 * this call (and after the load that gave @seen) returns at once. */
	syscall(SYS_futex, &sem->state, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
	__atomic_fetch_sub(&sem->sleepers, 1, __ATOMIC_SEQ_CST);
}

/* After a change of @sem->state that may let sleepers in. */
static void rw_wake(struct pw_rwsem *sem)
{
	/* The state change was a seq_cst RMW: a sleeper that counted itself
	 * after it is seen here, one that counted before sees the new state. */
	if (__atomic_load_n(&sem->sleepers, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &sem->state, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void note_read_held(const struct pw_rwsem *sem)
{
	if (nr_held_read < MAX_HELD_READ)
		held_read[nr_held_read] = sem;
	nr_held_read++;
}

void pw_rwsem_read_lock_at(struct pw_rwsem *sem, struct pw_lock_site site)
{
	PW_BUG_ON(pw_rwsem_held(sem)); /* recursive read locking deadlocks behind a writer */
	pw_lockdep_acquire((enum pw_lock_class)sem->cls, sem, true, site);
	for (;;) {
		/* Optimistic: one atomic add (no compare-and-swap loop between readers). */
		uint32_t s = __atomic_fetch_add(&sem->state, 1, __ATOMIC_ACQUIRE);

		PW_BUG_ON((s & RW_READERS) == RW_READERS);
		if (likely(!(s & (RW_WRITER | RW_WAITERS))))
			break;
		/* A writer holds it or waits: take the count back (letting a waiting
		 * writer in if ours was the last), and wait while one is there. */
		s = __atomic_sub_fetch(&sem->state, 1, __ATOMIC_SEQ_CST);
		if (!(s & RW_READERS) && (s & RW_WAITERS))
			rw_wake(sem);
		while (s & (RW_WRITER | RW_WAITERS)) {
			rw_wait(sem, s);
			s = __atomic_load_n(&sem->state, __ATOMIC_RELAXED);
		}
	}
	note_read_held(sem);
}

void pw_rwsem_read_unlock(struct pw_rwsem *sem)
{
	unsigned n = nr_held_read < MAX_HELD_READ ? nr_held_read : MAX_HELD_READ;
	uint32_t s;

	for (unsigned i = 0; i < n; i++) {
		if (held_read[i] == sem) {
			held_read[i] = held_read[n - 1];
			break;
		}
	}
	PW_BUG_ON(nr_held_read == 0);
	nr_held_read--;
	pw_lockdep_release((enum pw_lock_class)sem->cls, sem);
	s = __atomic_sub_fetch(&sem->state, 1, __ATOMIC_SEQ_CST);
	/* The last reader out lets a waiting writer in. */
	if (!(s & RW_READERS) && (s & RW_WAITERS))
		rw_wake(sem);
}

void pw_rwsem_write_lock_at(struct pw_rwsem *sem, struct pw_lock_site site)
{
	uint32_t s;

	PW_BUG_ON(pw_rwsem_held(sem));
	pw_lockdep_acquire((enum pw_lock_class)sem->cls, sem, false, site);
	/* Count ourselves as waiting first: from here on no new reader enters. */
	s = __atomic_add_fetch(&sem->state, RW_WAITER, __ATOMIC_RELAXED);
	for (;;) {
		if (s & (RW_WRITER | RW_READERS)) {
			rw_wait(sem, s);
			s = __atomic_load_n(&sem->state, __ATOMIC_RELAXED);
			continue;
		}
		if (__atomic_compare_exchange_n(&sem->state, &s, (s - RW_WAITER) | RW_WRITER, true,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			break;
	}
	__atomic_store_n(&sem->writer, pw_tid(), __ATOMIC_RELAXED);
}

void pw_rwsem_write_unlock(struct pw_rwsem *sem)
{
	PW_BUG_ON(!pw_rwsem_write_held(sem));
	__atomic_store_n(&sem->writer, 0, __ATOMIC_RELAXED);
	pw_lockdep_release((enum pw_lock_class)sem->cls, sem);
	__atomic_fetch_and(&sem->state, ~RW_WRITER, __ATOMIC_SEQ_CST);
	rw_wake(sem);
}

bool pw_rwsem_write_held(const struct pw_rwsem *sem)
{
	return __atomic_load_n(&sem->writer, __ATOMIC_RELAXED) == pw_tid();
}

bool pw_rwsem_held(const struct pw_rwsem *sem)
{
	unsigned n = nr_held_read < MAX_HELD_READ ? nr_held_read : MAX_HELD_READ;

	if (pw_rwsem_write_held(sem))
		return true;
	for (unsigned i = 0; i < n; i++)
		if (held_read[i] == sem)
			return true;
	return false;
}

unsigned pw_rwsem_writers_waiting(const struct pw_rwsem *sem)
{
	return (__atomic_load_n(&sem->state, __ATOMIC_RELAXED) & RW_WAITERS) >> 16;
}
