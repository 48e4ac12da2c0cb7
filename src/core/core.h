/* SPDX-License-Identifier: MIT */
/*
 * core/core.h - what every source of the library shares: the export marker,
 * debug assertions, thread identity and the owner-aware locks (lock.c), and
 * the alias set of foreign walks (seen.c).
 */
#ifndef PAGEWALK_CORE_H
#define PAGEWALK_CORE_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <pagewalk/pgtable.h>
#include <pagewalk/phys.h>

#define PW_API __attribute__((visibility("default")))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * PW_BUG_ON() checks invariants and lock rules in debug builds (PW_DEBUG=1,
 * which the test build sets); it compiles to nothing otherwise.
 */
#ifdef PW_DEBUG
#define PW_BUG_ON(cond)                                                           \
	do {                                                                      \
		if (unlikely(cond)) {                                             \
			fprintf(stderr, "pagewalk: BUG at %s:%d %s(): %s\n", __FILE__, \
				__LINE__, __func__, #cond);                       \
			abort();                                                  \
		}                                                                 \
	} while (0)
#else
#define PW_BUG_ON(cond) ((void)0)
#endif

/* ---- thread identity and locks (lock.c, lockdep.c) ---------------------- */

/** pw_tid() - a small non-zero id of the calling thread. */
uint32_t pw_tid(void);

/*
 * Lock classes (core/lockorder.h has them in their order). Debug builds
 * check every acquisition of a classed lock against that order and against
 * the order edges seen so far (lockdep.c); PW_LC_NONE locks are not checked.
 */
enum pw_lock_class {
	PW_LC_NONE = 0,
#define PW_LOCK_CLASS(id, name, flags) PW_LC_##id,
#include "core/lockorder.h"
#undef PW_LOCK_CLASS
	PW_LC_NR
};
#define PW_LC_NEST 1u /* a second lock of the class may be taken (another instance) */

/* Where a lock is taken: the caller's source position, for lockdep reports. */
struct pw_lock_site {
	const char *file;
	const char *func;
	int line;
};
#define PW_SITE ((struct pw_lock_site){ __FILE__, __func__, __LINE__ })

#ifdef PW_DEBUG
void pw_lockdep_acquire(enum pw_lock_class cls, const void *lock, bool read,
			struct pw_lock_site site);
void pw_lockdep_release(enum pw_lock_class cls, const void *lock);
#else
static inline void pw_lockdep_acquire(enum pw_lock_class cls, const void *lock, bool read,
				      struct pw_lock_site site)
{
}
static inline void pw_lockdep_release(enum pw_lock_class cls, const void *lock) {}
#endif
const char *pw_lock_class_name(enum pw_lock_class cls);
unsigned pw_lock_class_flags(enum pw_lock_class cls);

/*
 * Spinlocks that know their owner, so that debug builds can assert "held by
 * me": the lock word is 0 or the owner's pw_tid(). @cls is the lock's class
 * for lockdep (PW_LC_NONE: not checked).
 */
void pw_spin_lock_at(uint32_t *lock, enum pw_lock_class cls, struct pw_lock_site site);
void pw_spin_unlock_cls(uint32_t *lock, enum pw_lock_class cls);
#define pw_spin_lock(lock) pw_spin_lock_at((lock), PW_LC_NONE, PW_SITE)
#define pw_spin_unlock(lock) pw_spin_unlock_cls((lock), PW_LC_NONE)
static inline bool pw_spin_held(const uint32_t *lock)
{
	return __atomic_load_n(lock, __ATOMIC_RELAXED) == pw_tid();
}

/*
 * struct pw_rwsem - a read/write lock that prefers writers and knows its
 * holders. state: readers in bits 0-15, waiting writers in bits 16-30,
 * bit 31 a writer holds it. A reader does not enter while a writer waits
 * (so a stream of readers cannot starve munmap); sleepers wait on the
 * state word (futex). writer: the holder's pw_tid(); readers are known
 * through a per-thread list (see pw_rwsem_held()).
 */
struct pw_rwsem {
	uint32_t state;
	uint32_t sleepers;
	uint32_t writer;
	uint8_t cls; /* enum pw_lock_class */
};

void pw_rwsem_init_class(struct pw_rwsem *sem, enum pw_lock_class cls);
#define pw_rwsem_init(sem) pw_rwsem_init_class((sem), PW_LC_NONE)
void pw_rwsem_destroy(struct pw_rwsem *sem);
void pw_rwsem_read_lock_at(struct pw_rwsem *sem, struct pw_lock_site site);
void pw_rwsem_write_lock_at(struct pw_rwsem *sem, struct pw_lock_site site);
#define pw_rwsem_read_lock(sem) pw_rwsem_read_lock_at((sem), PW_SITE)
#define pw_rwsem_write_lock(sem) pw_rwsem_write_lock_at((sem), PW_SITE)
void pw_rwsem_read_unlock(struct pw_rwsem *sem);
void pw_rwsem_write_unlock(struct pw_rwsem *sem);
bool pw_rwsem_write_held(const struct pw_rwsem *sem);
bool pw_rwsem_held(const struct pw_rwsem *sem); /* read or write, by this thread */
/* Writers waiting for @sem now (a snapshot: tests count reader entries against it). */
unsigned pw_rwsem_writers_waiting(const struct pw_rwsem *sem);

/*
 * pthread locks that lockdep checks: the TLB, notifier and allocator locks
 * are plain pthread locks (leaves of the order); these take them with
 * their class.
 */
#define pw_mutex_lock(m, cls) (pw_lockdep_acquire((cls), (m), false, PW_SITE), pthread_mutex_lock(m))
#define pw_mutex_unlock(m, cls) (pw_lockdep_release((cls), (m)), pthread_mutex_unlock(m))
#define pw_rwlock_rdlock(l, cls) (pw_lockdep_acquire((cls), (l), true, PW_SITE), pthread_rwlock_rdlock(l))
#define pw_rwlock_wrlock(l, cls) (pw_lockdep_acquire((cls), (l), false, PW_SITE), pthread_rwlock_wrlock(l))
#define pw_rwlock_unlock(l, cls) (pw_lockdep_release((cls), (l)), pthread_rwlock_unlock(l))

/*
 * rcu.c: read-side sections for lockless readers of page tables (liburcu,
 * memb flavour; threads register themselves on first use). Sections nest.
 * pw_rcu_synchronize() waits until every section that began before it has
 * ended; it must not be called inside one.
 */
void pw_rcu_read_lock(void);
void pw_rcu_read_unlock(void);
bool pw_rcu_read_held(void);
void pw_rcu_synchronize(void);

/* AddressSanitizer: mark memory that must not be touched (freed table frames). */
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#define pw_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define pw_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define pw_poison(p, n) ((void)(p), (void)(n))
#define pw_unpoison(p, n) ((void)(p), (void)(n))
#endif

/* seen.c: (table frame, level) pairs a foreign walk entered (alias check). */
struct pw_walk_seen;
struct pw_walk_seen *pw_seen_new(void);			/* NULL: no memory */
bool pw_seen_has(const struct pw_walk_seen *s, uint64_t pfn, enum pw_level level);
int pw_seen_add(struct pw_walk_seen **s, uint64_t pfn, enum pw_level level); /* 0, -ENOMEM */
void pw_seen_free(struct pw_walk_seen *s);

#endif /* PAGEWALK_CORE_H */
