// SPDX-License-Identifier: MIT
/*
 * notifier.c - MMU notifiers (pagewalk/notifier.h): a list per mm, read-
 * locked while callbacks run so that registration waits for calls in
 * progress. A pthread rwlock is used because calls nest (a start, then a
 * flush's arch_invalidate_secondary_tlbs, then an end) on one thread.
 */
#include "mm/mm.h"

void pw_mmu_notifier_mm_init(struct pw_mm *mm)
{
	pthread_rwlock_init(&mm->notifier_lock, NULL);
	mm->notifiers = NULL;
	pthread_mutex_init(&mm->itv_lock, NULL);
	pthread_cond_init(&mm->itv_cond, NULL);
	mm->itv = NULL;
	mm->itv_seq = 2;
	mm->itv_active = 0;
}

void pw_mmu_notifier_mm_destroy(struct pw_mm *mm)
{
	/* interval notifiers still inserted are forgotten (after the final unmap) */
	for (struct pw_interval_notifier *ni = mm->itv, *next; ni; ni = next) {
		next = ni->_next;
		ni->_next = NULL;
		ni->mm = NULL;
	}
	pthread_cond_destroy(&mm->itv_cond);
	pthread_mutex_destroy(&mm->itv_lock);
	pthread_rwlock_destroy(&mm->notifier_lock);
}

PW_API int pw_mmu_notifier_register(struct pw_mmu_notifier *mn, struct pw_mm *mm)
{
	int ret = 0;

	if (!mn || !mn->ops || !mm || !mm->pt.arena)
		return -EINVAL;
	pw_rwlock_wrlock(&mm->notifier_lock, PW_LC_NOTIFIER);
	for (struct pw_mmu_notifier *n = mm->notifiers; n; n = n->_next)
		if (n == mn)
			ret = -EEXIST;
	if (!ret) {
		mn->_next = mm->notifiers;
		mm->notifiers = mn;
	}
	pw_rwlock_unlock(&mm->notifier_lock, PW_LC_NOTIFIER);
	return ret;
}

PW_API int pw_mmu_notifier_unregister(struct pw_mmu_notifier *mn, struct pw_mm *mm)
{
	int ret = -ENOENT;

	if (!mn || !mm)
		return -EINVAL;
	pw_rwlock_wrlock(&mm->notifier_lock, PW_LC_NOTIFIER);
	for (struct pw_mmu_notifier **pp = &mm->notifiers; *pp; pp = &(*pp)->_next) {
		if (*pp == mn) {
			*pp = mn->_next;
			mn->_next = NULL;
			ret = 0;
			break;
		}
	}
	pw_rwlock_unlock(&mm->notifier_lock, PW_LC_NOTIFIER);
	return ret;
}

/* The mm goes away: call release on each notifier and forget them all. */
void pw_mmu_notifier_release(struct pw_mm *mm)
{
	struct pw_mmu_notifier *list;

	pw_rwlock_wrlock(&mm->notifier_lock, PW_LC_NOTIFIER);
	list = mm->notifiers;
	mm->notifiers = NULL;
	pw_rwlock_unlock(&mm->notifier_lock, PW_LC_NOTIFIER);
	while (list) {
		struct pw_mmu_notifier *n = list;

		list = n->_next;
		n->_next = NULL;
		if (n->ops->release)
			n->ops->release(n, mm);
	}
}

void pw_mmu_notifier_range_init(struct pw_mmu_notifier_range *r, enum pw_mmu_notify_event ev,
				struct pw_mm *mm, uint64_t start, uint64_t end)
{
	r->mm = mm;
	r->start = start;
	r->end = end;
	r->event = ev;
	r->owner = NULL;
}

/* ---- interval notifiers (pagewalk/hmm.h), after mm/mmu_notifier.c's itree ---- */

/*
 * The list only changes while no invalidation is between its start and its
 * end (insert and remove wait for itv_active to drop to 0), so the
 * callbacks are called without itv_lock, from a stable list.
 */
static bool itv_meets(const struct pw_interval_notifier *ni, const struct pw_mmu_notifier_range *r)
{
	return ni->start < r->end && r->start < ni->end;
}

static void itv_start(const struct pw_mmu_notifier_range *r)
{
	struct pw_mm *mm = r->mm;
	bool any = false;
	uint64_t seq;

	pw_mutex_lock(&mm->itv_lock, PW_LC_INTERVAL);
	mm->itv_active++;
	for (struct pw_interval_notifier *ni = mm->itv; ni; ni = ni->_next)
		any |= itv_meets(ni, r);
	if (any)
		mm->itv_seq |= 1; /* odd: an invalidation is in progress */
	seq = mm->itv_seq;
	pw_mutex_unlock(&mm->itv_lock, PW_LC_INTERVAL);
	if (!any)
		return;
	for (struct pw_interval_notifier *ni = mm->itv; ni; ni = ni->_next)
		if (itv_meets(ni, r))
			(void)ni->ops->invalidate(ni, r, seq); /* our ranges are blockable */
}

static void itv_end(const struct pw_mmu_notifier_range *r)
{
	struct pw_mm *mm = r->mm;

	pw_mutex_lock(&mm->itv_lock, PW_LC_INTERVAL);
	if (--mm->itv_active == 0) {
		if (mm->itv_seq & 1)
			mm->itv_seq++; /* even again: readers waiting in read_begin go on */
		pthread_cond_broadcast(&mm->itv_cond);
	}
	pw_mutex_unlock(&mm->itv_lock, PW_LC_INTERVAL);
}

PW_API int pw_interval_notifier_insert(struct pw_interval_notifier *ni, struct pw_mm *mm, uint64_t start,
				       uint64_t length, const struct pw_interval_notifier_ops *ops)
{
	int ret = 0;

	if (!ni || !mm || !mm->pt.arena || !ops || !ops->invalidate || !length ||
	    ((start | length) & ~PW_PAGE_MASK) || start + length < start)
		return -EINVAL;
	pw_mutex_lock(&mm->itv_lock, PW_LC_INTERVAL);
	while (mm->itv_active)
		pthread_cond_wait(&mm->itv_cond, &mm->itv_lock);
	for (struct pw_interval_notifier *n = mm->itv; n; n = n->_next)
		if (n == ni)
			ret = -EEXIST;
	if (!ret) {
		ni->ops = ops;
		ni->mm = mm;
		ni->start = start;
		ni->end = start + length;
		__atomic_store_n(&ni->_seq, mm->itv_seq - 1, __ATOMIC_RELAXED); /* never the mm's */
		ni->_next = mm->itv;
		mm->itv = ni;
	}
	pw_mutex_unlock(&mm->itv_lock, PW_LC_INTERVAL);
	return ret;
}

PW_API int pw_interval_notifier_remove(struct pw_interval_notifier *ni)
{
	struct pw_mm *mm;
	int ret = -ENOENT;

	if (!ni)
		return -EINVAL;
	mm = ni->mm;
	if (!mm)
		return -ENOENT;
	pw_mutex_lock(&mm->itv_lock, PW_LC_INTERVAL);
	while (mm->itv_active)
		pthread_cond_wait(&mm->itv_cond, &mm->itv_lock);
	for (struct pw_interval_notifier **pp = &mm->itv; *pp; pp = &(*pp)->_next) {
		if (*pp == ni) {
			*pp = ni->_next;
			ni->_next = NULL;
			ni->mm = NULL;
			ret = 0;
			break;
		}
	}
	pw_mutex_unlock(&mm->itv_lock, PW_LC_INTERVAL);
	return ret;
}

PW_API uint64_t pw_interval_read_begin(struct pw_interval_notifier *ni)
{
	struct pw_mm *mm = ni->mm;
	uint64_t seq;

	pw_mutex_lock(&mm->itv_lock, PW_LC_INTERVAL);
	seq = __atomic_load_n(&ni->_seq, __ATOMIC_ACQUIRE);
	while (seq == mm->itv_seq) /* its invalidation is still running */
		pthread_cond_wait(&mm->itv_cond, &mm->itv_lock);
	pw_mutex_unlock(&mm->itv_lock, PW_LC_INTERVAL);
	return seq;
}

PW_API bool pw_interval_read_retry(struct pw_interval_notifier *ni, uint64_t seq)
{
	return __atomic_load_n(&ni->_seq, __ATOMIC_ACQUIRE) != seq;
}

PW_API void pw_interval_set_seq(struct pw_interval_notifier *ni, uint64_t cur_seq)
{
	__atomic_store_n(&ni->_seq, cur_seq, __ATOMIC_RELEASE);
}

void pw_mmu_notifier_invalidate_range_start(const struct pw_mmu_notifier_range *r)
{
	itv_start(r);
	pw_rwlock_rdlock(&r->mm->notifier_lock, PW_LC_NOTIFIER);
	for (struct pw_mmu_notifier *n = r->mm->notifiers; n; n = n->_next)
		if (n->ops->invalidate_range_start)
			(void)n->ops->invalidate_range_start(n, r); /* our ranges are blockable */
	pw_rwlock_unlock(&r->mm->notifier_lock, PW_LC_NOTIFIER);
}

void pw_mmu_notifier_invalidate_range_end(const struct pw_mmu_notifier_range *r)
{
	pw_rwlock_rdlock(&r->mm->notifier_lock, PW_LC_NOTIFIER);
	for (struct pw_mmu_notifier *n = r->mm->notifiers; n; n = n->_next)
		if (n->ops->invalidate_range_end)
			n->ops->invalidate_range_end(n, r);
	pw_rwlock_unlock(&r->mm->notifier_lock, PW_LC_NOTIFIER);
	itv_end(r);
}

void pw_mmu_notifier_arch_invalidate(struct pw_mm *mm, uint64_t start, uint64_t end)
{
	pw_rwlock_rdlock(&mm->notifier_lock, PW_LC_NOTIFIER);
	for (struct pw_mmu_notifier *n = mm->notifiers; n; n = n->_next)
		if (n->ops->arch_invalidate_secondary_tlbs)
			n->ops->arch_invalidate_secondary_tlbs(n, mm, start, end);
	pw_rwlock_unlock(&mm->notifier_lock, PW_LC_NOTIFIER);
}
