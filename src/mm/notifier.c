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
}

void pw_mmu_notifier_mm_destroy(struct pw_mm *mm)
{
	pthread_rwlock_destroy(&mm->notifier_lock);
}

PW_API int pw_mmu_notifier_register(struct pw_mmu_notifier *mn, struct pw_mm *mm)
{
	int ret = 0;

	if (!mn || !mn->ops || !mm || !mm->pt.arena)
		return -EINVAL;
	pthread_rwlock_wrlock(&mm->notifier_lock);
	for (struct pw_mmu_notifier *n = mm->notifiers; n; n = n->_next)
		if (n == mn)
			ret = -EEXIST;
	if (!ret) {
		mn->_next = mm->notifiers;
		mm->notifiers = mn;
	}
	pthread_rwlock_unlock(&mm->notifier_lock);
	return ret;
}

PW_API int pw_mmu_notifier_unregister(struct pw_mmu_notifier *mn, struct pw_mm *mm)
{
	int ret = -ENOENT;

	if (!mn || !mm)
		return -EINVAL;
	pthread_rwlock_wrlock(&mm->notifier_lock);
	for (struct pw_mmu_notifier **pp = &mm->notifiers; *pp; pp = &(*pp)->_next) {
		if (*pp == mn) {
			*pp = mn->_next;
			mn->_next = NULL;
			ret = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&mm->notifier_lock);
	return ret;
}

/* The mm goes away: call release on each notifier and forget them all. */
void pw_mmu_notifier_release(struct pw_mm *mm)
{
	struct pw_mmu_notifier *list;

	pthread_rwlock_wrlock(&mm->notifier_lock);
	list = mm->notifiers;
	mm->notifiers = NULL;
	pthread_rwlock_unlock(&mm->notifier_lock);
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

void pw_mmu_notifier_invalidate_range_start(const struct pw_mmu_notifier_range *r)
{
	pthread_rwlock_rdlock(&r->mm->notifier_lock);
	for (struct pw_mmu_notifier *n = r->mm->notifiers; n; n = n->_next)
		if (n->ops->invalidate_range_start)
			(void)n->ops->invalidate_range_start(n, r); /* our ranges are blockable */
	pthread_rwlock_unlock(&r->mm->notifier_lock);
}

void pw_mmu_notifier_invalidate_range_end(const struct pw_mmu_notifier_range *r)
{
	pthread_rwlock_rdlock(&r->mm->notifier_lock);
	for (struct pw_mmu_notifier *n = r->mm->notifiers; n; n = n->_next)
		if (n->ops->invalidate_range_end)
			n->ops->invalidate_range_end(n, r);
	pthread_rwlock_unlock(&r->mm->notifier_lock);
}

void pw_mmu_notifier_arch_invalidate(struct pw_mm *mm, uint64_t start, uint64_t end)
{
	pthread_rwlock_rdlock(&mm->notifier_lock);
	for (struct pw_mmu_notifier *n = mm->notifiers; n; n = n->_next)
		if (n->ops->arch_invalidate_secondary_tlbs)
			n->ops->arch_invalidate_secondary_tlbs(n, mm, start, end);
	pthread_rwlock_unlock(&mm->notifier_lock);
}
