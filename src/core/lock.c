// SPDX-License-Identifier: MIT
/*
 * lock.c - owner-aware spinlocks and read/write locks.
 *
 * The kernel asserts its locking rules with lockdep; we do the same with
 * locks that remember who holds them. A spinlock word holds its owner's
 * thread id. A rwsem records its writer; each thread keeps a short list of
 * the rwsems it holds for read, so "held by me" is exact for readers too.
 */
#include <sched.h>
#include <string.h>

#include "core/core.h"

static uint32_t next_tid = 1;
static _Thread_local uint32_t my_tid;

uint32_t pw_tid(void)
{
	if (unlikely(!my_tid))
		my_tid = __atomic_fetch_add(&next_tid, 1, __ATOMIC_RELAXED);
	return my_tid;
}

void pw_spin_lock(uint32_t *lock)
{
	uint32_t me = pw_tid();
	unsigned spins = 0;

	PW_BUG_ON(__atomic_load_n(lock, __ATOMIC_RELAXED) == me); /* recursion */
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

void pw_spin_unlock(uint32_t *lock)
{
	PW_BUG_ON(__atomic_load_n(lock, __ATOMIC_RELAXED) != pw_tid());
	__atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

/* Read locks held by this thread (debug bookkeeping; nesting is shallow). */
#define MAX_HELD_READ 16
static _Thread_local const struct pw_rwsem *held_read[MAX_HELD_READ];
static _Thread_local unsigned nr_held_read;

void pw_rwsem_init(struct pw_rwsem *sem)
{
	pthread_rwlock_init(&sem->lock, NULL);
	sem->writer = 0;
}

void pw_rwsem_destroy(struct pw_rwsem *sem)
{
	pthread_rwlock_destroy(&sem->lock);
}

void pw_rwsem_read_lock(struct pw_rwsem *sem)
{
	PW_BUG_ON(pw_rwsem_held(sem)); /* recursive read locking can deadlock */
	pthread_rwlock_rdlock(&sem->lock);
	if (nr_held_read < MAX_HELD_READ)
		held_read[nr_held_read] = sem;
	nr_held_read++;
}

void pw_rwsem_read_unlock(struct pw_rwsem *sem)
{
	unsigned n = nr_held_read < MAX_HELD_READ ? nr_held_read : MAX_HELD_READ;

	for (unsigned i = 0; i < n; i++) {
		if (held_read[i] == sem) {
			held_read[i] = held_read[n - 1];
			break;
		}
	}
	PW_BUG_ON(nr_held_read == 0);
	nr_held_read--;
	pthread_rwlock_unlock(&sem->lock);
}

void pw_rwsem_write_lock(struct pw_rwsem *sem)
{
	PW_BUG_ON(pw_rwsem_held(sem));
	pthread_rwlock_wrlock(&sem->lock);
	__atomic_store_n(&sem->writer, pw_tid(), __ATOMIC_RELAXED);
}

void pw_rwsem_write_unlock(struct pw_rwsem *sem)
{
	PW_BUG_ON(!pw_rwsem_write_held(sem));
	__atomic_store_n(&sem->writer, 0, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&sem->lock);
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
