// SPDX-License-Identifier: MIT
/*
 * rcu.c - read-side sections and grace periods for lockless page-table
 * readers, over liburcu's memb flavour.
 *
 * Why memb: it needs no signal (the signal flavour takes one for itself),
 * no quiescent-state calls from every thread (qsbr would put a duty on all
 * of the caller's threads), and its read side is two thread-local updates
 * with the barrier paid by the updater (membarrier(2)). Its one duty, that
 * a thread registers before its first read-side section, is ours: a thread
 * registers on its first pw_rcu_read_lock() and unregisters at exit (a
 * pthread key destructor), so callers' threads have nothing to do.
 *
 * ThreadSanitizer does not see liburcu's synchronisation (it is not
 * instrumented): under TSan every read-side unlock releases, and every
 * grace period acquires, one sync object, which orders a reader's loads
 * before the updater's reuse of what it read.
 */
#include <urcu/urcu-memb.h>

#include "core/core.h"

#ifdef __SANITIZE_THREAD__
#include <sanitizer/tsan_interface.h>
static char tsan_sync;
#define tsan_release() __tsan_release(&tsan_sync)
#define tsan_acquire() __tsan_acquire(&tsan_sync)
#else
#define tsan_release() ((void)0)
#define tsan_acquire() ((void)0)
#endif

static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Thread_local bool registered;
static _Thread_local unsigned depth;

static void unregister_at_exit(void *unused)
{
	urcu_memb_unregister_thread();
}

static void make_key(void)
{
	if (pthread_key_create(&exit_key, unregister_at_exit))
		abort(); /* no key left: the process is out of a fixed resource */
}

void pw_rcu_read_lock(void)
{
	if (unlikely(!registered)) {
		pthread_once(&key_once, make_key);
		urcu_memb_register_thread();
		pthread_setspecific(exit_key, &registered);
		registered = true;
	}
	if (depth++ == 0)
		urcu_memb_read_lock();
}

void pw_rcu_read_unlock(void)
{
	PW_BUG_ON(depth == 0);
	if (--depth == 0) {
		tsan_release();
		urcu_memb_read_unlock();
	}
}

bool pw_rcu_read_held(void)
{
	return depth != 0;
}

void pw_rcu_synchronize(void)
{
	PW_BUG_ON(depth != 0); /* waiting for ourselves */
	urcu_memb_synchronize_rcu();
	tsan_acquire();
}
