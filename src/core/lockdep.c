// SPDX-License-Identifier: MIT
/*
 * lockdep.c - a small lock-order validator for debug builds.
 *
 * Every acquisition of a classed lock (enum pw_lock_class) is checked,
 * before the thread blocks on the lock, against two things:
 *   - the documented order (core/lockorder.h, shown in docs/locking.md): a
 *     class may be taken only while every held lock is of a class listed
 *     above it, or of its own class where that class nests;
 *   - the order edges seen so far in this process ("B was taken while A was
 *     held"): an edge that would close a cycle is reported even where the
 *     documented order has nothing to say (a class nested with itself).
 * The first violation prints both sides (the locks this thread holds now,
 * with where each was taken, and the stack of held locks recorded when the
 * opposite edge was first seen) and aborts.
 *
 * Per thread: a stack of held locks. Per process: the edges seen, each with
 * the held-lock stack of its first sighting; taking an edge already known
 * costs one relaxed load.
 */
#include <execinfo.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

static const struct {
	const char *name;
	unsigned flags;
} classes[PW_LC_NR] = {
	[PW_LC_NONE] = { "(unclassed)", 0 },
#define PW_LOCK_CLASS(id, n, f) [PW_LC_##id] = { n, f },
#include "core/lockorder.h"
#undef PW_LOCK_CLASS
};

const char *pw_lock_class_name(enum pw_lock_class cls)
{
	return (unsigned)cls < PW_LC_NR ? classes[cls].name : "(bad class)";
}

unsigned pw_lock_class_flags(enum pw_lock_class cls)
{
	return (unsigned)cls < PW_LC_NR ? classes[cls].flags : 0;
}

#ifdef PW_DEBUG

#define MAX_HELD 32

struct held {
	enum pw_lock_class cls;
	const void *lock;
	bool read;
	struct pw_lock_site site;
};

struct stack {
	unsigned nr;
	struct held h[MAX_HELD];
};

static _Thread_local struct stack held;

/* Edges A -> B seen: B taken with A held. */
static uint8_t seen[PW_LC_NR][PW_LC_NR];
static struct stack first[PW_LC_NR][PW_LC_NR]; /* held locks at the first sighting, B on top */
static pthread_mutex_t edge_lock = PTHREAD_MUTEX_INITIALIZER;

static void print_stack(const char *title, const struct stack *s)
{
	fprintf(stderr, "%s\n", title);
	for (unsigned i = 0; i < s->nr && i < MAX_HELD; i++)
		fprintf(stderr, "  #%u %s%s (%p) taken at %s:%d %s()\n", i,
			pw_lock_class_name(s->h[i].cls), s->h[i].read ? " (read)" : "",
			s->h[i].lock, s->h[i].site.file, s->h[i].site.line, s->h[i].site.func);
}

static _Noreturn void report(const char *what, enum pw_lock_class taking, const void *lock,
			     struct pw_lock_site site, enum pw_lock_class holding,
			     const struct stack *other)
{
	void *bt[16];
	int n;

	fprintf(stderr,
		"pagewalk lockdep: %s: taking %s (%p) at %s:%d %s() while holding %s\n", what,
		pw_lock_class_name(taking), lock, site.file, site.line, site.func,
		pw_lock_class_name(holding));
	print_stack("this thread holds:", &held);
	if (other && other->nr)
		print_stack("the opposite order was first seen with these locks held (last taken on top):",
			    other);
	fprintf(stderr, "the documented order (core/lockorder.h, docs/locking.md):");
	for (int c = 1; c < PW_LC_NR; c++)
		fprintf(stderr, "%s %s", c > 1 ? " ->" : "", pw_lock_class_name((enum pw_lock_class)c));
	fprintf(stderr, "\ncall stack of this acquisition:\n");
	n = backtrace(bt, (int)ARRAY_SIZE(bt));
	backtrace_symbols_fd(bt, n, STDERR_FILENO);
	abort();
}

/* Is @to reachable from @from over the edges seen? (classes are few) */
static bool reaches(enum pw_lock_class from, enum pw_lock_class to, unsigned depth)
{
	if (from == to)
		return true;
	if (depth > PW_LC_NR)
		return false;
	for (int c = 1; c < PW_LC_NR; c++)
		if (c != (int)from && __atomic_load_n(&seen[from][c], __ATOMIC_ACQUIRE) &&
		    reaches((enum pw_lock_class)c, to, depth + 1))
			return true;
	return false;
}

static void add_edge(enum pw_lock_class a, enum pw_lock_class b, const void *lock, bool read,
		     struct pw_lock_site site)
{
	pthread_mutex_lock(&edge_lock);
	if (!seen[a][b]) {
		struct stack *s = &first[a][b];

		*s = held;
		if (s->nr < MAX_HELD)
			s->h[s->nr++] = (struct held){ b, lock, read, site };
		__atomic_store_n(&seen[a][b], 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&edge_lock);
}

void pw_lockdep_acquire(enum pw_lock_class cls, const void *lock, bool read,
			struct pw_lock_site site)
{
	if (cls == PW_LC_NONE)
		return;
	for (unsigned i = 0; i < held.nr && i < MAX_HELD; i++) {
		enum pw_lock_class h = held.h[i].cls;

		if (held.h[i].lock == lock)
			report("recursive locking", cls, lock, site, h, NULL);
		if (h == cls) {
			if (!(classes[cls].flags & PW_LC_NEST))
				report("two locks of a class that does not nest", cls, lock, site, h,
				       NULL);
			continue;
		}
		if (!__atomic_load_n(&seen[h][cls], __ATOMIC_ACQUIRE)) {
			/* A new edge h -> cls: does cls already lead back to h? */
			if (reaches(cls, h, 0)) {
				const struct stack *other = NULL;

				for (int c = 1; c < PW_LC_NR && !other; c++)
					if (seen[cls][c] && reaches((enum pw_lock_class)c, h, 0))
						other = &first[cls][c];
				report("possible deadlock: this order closes a cycle", cls, lock, site,
				       h, other);
			}
			if (h > cls)
				report("lock order violation", cls, lock, site, h, &first[cls][h]);
			add_edge(h, cls, lock, read, site);
		}
	}
	if (held.nr < MAX_HELD)
		held.h[held.nr] = (struct held){ cls, lock, read, site };
	held.nr++;
}

void pw_lockdep_release(enum pw_lock_class cls, const void *lock)
{
	unsigned n = held.nr < MAX_HELD ? held.nr : MAX_HELD;

	if (cls == PW_LC_NONE)
		return;
	for (unsigned i = n; i-- > 0;) {
		if (held.h[i].lock == lock && held.h[i].cls == cls) {
			memmove(&held.h[i], &held.h[i + 1], (n - i - 1) * sizeof(held.h[0]));
			held.nr--;
			return;
		}
	}
	fprintf(stderr, "pagewalk lockdep: releasing %s (%p), which this thread does not hold\n",
		pw_lock_class_name(cls), lock);
	print_stack("this thread holds:", &held);
	abort();
}

#endif /* PW_DEBUG */
