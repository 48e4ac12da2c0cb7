/* SPDX-License-Identifier: MIT */
/*
 * core/lockorder.h - the lock classes and their order: the one source of
 * the lock order. docs/locking.md shows the same table between its
 * "lock-order" markers, and tests/test_lockdep.c fails when the two
 * disagree.
 *
 * PW_LOCK_CLASS(id, name, flags): classes in the order they may be
 * taken; a lock may be taken while holding only classes listed above it
 * (PW_LC_NEST: or another lock of its own class, as fork holds two mms'
 * mmap locks and two files' i_mmap locks can be held for a rename).
 */
PW_LOCK_CLASS(MMAP, "mmap lock", PW_LC_NEST)
PW_LOCK_CLASS(HUGETLB_VMA, "hugetlb VMA lock", 0)
PW_LOCK_CLASS(I_MMAP, "i_mmap lock", PW_LC_NEST)
PW_LOCK_CLASS(ANON_VMA, "anon_vma lock", 0)
PW_LOCK_CLASS(PAGE_TABLE, "page_table_lock", 0)
PW_LOCK_CLASS(PTE, "PTE table lock", 0)
PW_LOCK_CLASS(TLB_LIST, "TLB list lock", 0)
PW_LOCK_CLASS(TLB, "TLB lock", 0)
PW_LOCK_CLASS(NOTIFIER, "notifier lock", 0)
PW_LOCK_CLASS(INTERVAL, "interval lock", 0)
PW_LOCK_CLASS(AV_LIFE, "anon_vma lifetime lock", 0)
PW_LOCK_CLASS(ALLOC, "allocator lock", 0)
