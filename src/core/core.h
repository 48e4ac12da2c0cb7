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

/* ---- thread identity and locks (lock.c) -------------------------------- */

/** pw_tid() - a small non-zero id of the calling thread. */
uint32_t pw_tid(void);

/*
 * struct pw_spinlock - a spinlock that knows its owner, so that debug builds
 * can assert "held by me". Its value is 0 or the owner's pw_tid().
 */
struct pw_spinlock {
	uint32_t owner;
};

void pw_spin_lock(uint32_t *lock);
void pw_spin_unlock(uint32_t *lock);
static inline bool pw_spin_held(const uint32_t *lock)
{
	return __atomic_load_n(lock, __ATOMIC_RELAXED) == pw_tid();
}

/*
 * struct pw_rwsem - a read/write lock whose holders are known: the writer's
 * id, and for readers a per-thread list of held read locks (debug builds).
 */
struct pw_rwsem {
	pthread_rwlock_t lock;
	uint32_t writer;
};

void pw_rwsem_init(struct pw_rwsem *sem);
void pw_rwsem_destroy(struct pw_rwsem *sem);
void pw_rwsem_read_lock(struct pw_rwsem *sem);
void pw_rwsem_read_unlock(struct pw_rwsem *sem);
void pw_rwsem_write_lock(struct pw_rwsem *sem);
void pw_rwsem_write_unlock(struct pw_rwsem *sem);
bool pw_rwsem_write_held(const struct pw_rwsem *sem);
bool pw_rwsem_held(const struct pw_rwsem *sem); /* read or write, by this thread */


/* seen.c: (table frame, level) pairs a foreign walk entered (alias check). */
struct pw_walk_seen;
struct pw_walk_seen *pw_seen_new(void);			/* NULL: no memory */
bool pw_seen_has(const struct pw_walk_seen *s, uint64_t pfn, enum pw_level level);
int pw_seen_add(struct pw_walk_seen **s, uint64_t pfn, enum pw_level level); /* 0, -ENOMEM */
void pw_seen_free(struct pw_walk_seen *s);

#endif /* PAGEWALK_CORE_H */
