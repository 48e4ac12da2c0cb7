// SPDX-License-Identifier: MIT
/*
 * arena.c - the frame arena: memory addressed by frame number, a buddy
 * allocator over it, and per-frame metadata.
 *
 * Free blocks of each order sit on a doubly linked list threaded through
 * their head frames' metadata (links are frame numbers, not pointers). A
 * block of order k starts at a frame number that is a multiple of 2^k, so
 * 2 MiB and 1 GiB blocks are naturally aligned in physical address too.
 */
#include <string.h>
#include <sys/mman.h>

#include "core/core.h"

#define NIL UINT64_MAX

struct pw_arena {
	struct pw_phys phys;
	uint8_t *mem;
	uint64_t nr_frames;
	bool owns_mem;
	struct pw_frame *meta;
	/* order + 1 of the free block a frame heads, else 0. Only touched under
	 * @lock, so that merging buddies never reads the metadata of frames
	 * their owners are writing. */
	uint8_t *free_order;
	pthread_mutex_t lock;
	uint64_t free_head[PW_MAX_ORDER + 1];
	uint64_t nr_free;
};

static void list_add(struct pw_arena *a, unsigned order, uint64_t pfn)
{
	struct pw_frame *f = &a->meta[pfn];
	uint64_t head = a->free_head[order];

	f->prev = NIL;
	f->next = head;
	if (head != NIL)
		a->meta[head].prev = pfn;
	a->free_head[order] = pfn;
	f->order = order;
	__atomic_fetch_or(&f->flags, PW_FRAME_FREE, __ATOMIC_RELAXED); /* lockless GUP reads flags */
	a->free_order[pfn] = (uint8_t)(order + 1);
}

static void list_del(struct pw_arena *a, unsigned order, uint64_t pfn)
{
	struct pw_frame *f = &a->meta[pfn];

	if (f->prev != NIL)
		a->meta[f->prev].next = f->next;
	else
		a->free_head[order] = f->next;
	if (f->next != NIL)
		a->meta[f->next].prev = f->prev;
	__atomic_fetch_and(&f->flags, ~(uint32_t)PW_FRAME_FREE, __ATOMIC_RELAXED);
	a->free_order[pfn] = 0;
}

/* Put [pfn, pfn + 2^order) on the free lists, merging with free buddies. */
static void free_block(struct pw_arena *a, uint64_t pfn, unsigned order)
{
	a->nr_free += 1ULL << order;
	while (order < PW_MAX_ORDER) {
		uint64_t buddy = pfn ^ (1ULL << order);

		if (buddy + (1ULL << order) > a->nr_frames)
			break;
		if (a->free_order[buddy] != order + 1)
			break;
		list_del(a, order, buddy);
		pfn &= ~(1ULL << order);
		order++;
	}
	list_add(a, order, pfn);
}

static int arena_init(struct pw_arena *a, uint8_t *mem, uint64_t bytes, bool zeroed)
{
	uint64_t n = bytes >> PW_PAGE_SHIFT;

	if (n < 2)
		return -EINVAL;
	a->meta = mmap(NULL, n * sizeof(*a->meta), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a->meta == MAP_FAILED)
		return -ENOMEM;
	a->free_order = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			     -1, 0);
	if (a->free_order == MAP_FAILED) {
		munmap(a->meta, n * sizeof(*a->meta));
		return -ENOMEM;
	}
	a->mem = mem;
	a->nr_frames = n;
	a->phys = (struct pw_phys){ .direct = mem, .nr_direct = n, .map = NULL, .priv = a };
	pthread_mutex_init(&a->lock, NULL);
	for (unsigned o = 0; o <= PW_MAX_ORDER; o++)
		a->free_head[o] = NIL;
	a->meta[0].flags = PW_FRAME_RESERVED;
	a->meta[0].refcount = 1;
	/* Carve [1, n) into maximal aligned blocks. */
	for (uint64_t pfn = 1; pfn < n;) {
		unsigned order = (unsigned)__builtin_ctzll(pfn);

		if (order > PW_MAX_ORDER)
			order = PW_MAX_ORDER;
		while (pfn + (1ULL << order) > n)
			order--;
		if (zeroed)
			for (uint64_t i = 0; i < (1ULL << order); i++)
				a->meta[pfn + i].flags = PW_FRAME_ZERO;
		list_add(a, order, pfn);
		a->nr_free += 1ULL << order;
		pfn += 1ULL << order;
	}
	return 0;
}

PW_API int pw_arena_create(uint64_t bytes, struct pw_arena **out)
{
	struct pw_arena *a;
	void *mem;
	int ret;

	if (!out || (bytes >> PW_PAGE_SHIFT) < 2)
		return -EINVAL;
	bytes &= PW_PAGE_MASK;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (mem == MAP_FAILED) {
		free(a);
		return -ENOMEM;
	}
	ret = arena_init(a, mem, bytes, true);
	if (ret) {
		munmap(mem, bytes);
		free(a);
		return ret;
	}
	a->owns_mem = true;
	*out = a;
	return 0;
}

PW_API int pw_arena_create_from(void *mem, uint64_t bytes, unsigned flags, struct pw_arena **out)
{
	struct pw_arena *a;
	int ret;

	if (!out || !mem || ((uintptr_t)mem & (PW_PAGE_SIZE - 1)) || (flags & ~PW_ARENA_ZEROED))
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	ret = arena_init(a, mem, bytes & PW_PAGE_MASK, flags & PW_ARENA_ZEROED);
	if (ret) {
		free(a);
		return ret;
	}
	*out = a;
	return 0;
}

PW_API void pw_arena_destroy(struct pw_arena *a)
{
	if (!a)
		return;
	pw_unpoison(a->mem, a->nr_frames << PW_PAGE_SHIFT); /* freed tables (pt.c) */
	munmap(a->meta, a->nr_frames * sizeof(*a->meta));
	munmap(a->free_order, a->nr_frames);
	if (a->owns_mem)
		munmap(a->mem, a->nr_frames << PW_PAGE_SHIFT);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

PW_API const struct pw_phys *pw_arena_phys(const struct pw_arena *a)
{
	return &a->phys;
}

PW_API uint64_t pw_arena_nr_frames(const struct pw_arena *a)
{
	return a->nr_frames;
}

PW_API void *pw_arena_base(const struct pw_arena *a)
{
	return a->mem;
}

PW_API uint64_t pw_arena_free_frames(struct pw_arena *a)
{
	uint64_t n;

	pw_mutex_lock(&a->lock, PW_LC_ALLOC);
	n = a->nr_free;
	pw_mutex_unlock(&a->lock, PW_LC_ALLOC);
	return n;
}

PW_API int pw_frame_alloc(struct pw_arena *a, unsigned order, uint64_t *out)
{
	unsigned o;
	uint64_t pfn, n;

	if (order > PW_MAX_ORDER || !out)
		return -EINVAL;
	pw_mutex_lock(&a->lock, PW_LC_ALLOC);
	for (o = order; o <= PW_MAX_ORDER && a->free_head[o] == NIL; o++)
		;
	if (o > PW_MAX_ORDER) {
		pw_mutex_unlock(&a->lock, PW_LC_ALLOC);
		return -ENOMEM;
	}
	pfn = a->free_head[o];
	list_del(a, o, pfn);
	while (o > order) { /* give back the upper halves */
		o--;
		list_add(a, o, pfn + (1ULL << o));
	}
	n = 1ULL << order;
	a->nr_free -= n;
	pw_mutex_unlock(&a->lock, PW_LC_ALLOC);

	for (uint64_t i = 0; i < n; i++) {
		struct pw_frame *f = &a->meta[pfn + i];

		pw_unpoison(a->mem + ((pfn + i) << PW_PAGE_SHIFT), PW_PAGE_SIZE); /* a freed table (pt.c) */
		if (!(f->flags & PW_FRAME_ZERO))
			memset(a->mem + ((pfn + i) << PW_PAGE_SHIFT), 0, PW_PAGE_SIZE);
		__atomic_store_n(&f->flags, i ? PW_FRAME_TAIL : (order ? PW_FRAME_HEAD : 0), __ATOMIC_RELAXED);
		__atomic_store_n(&f->refcount, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&f->mapcount, 0, __ATOMIC_RELAXED);
		f->ptl = 0;
		f->mapping = NULL;
		f->index = 0;
		__atomic_store_n(&f->pincount, 0, __ATOMIC_RELAXED);
		f->anon_vma = NULL;
	}
	a->meta[pfn].order = order;
	__atomic_store_n(&a->meta[pfn].refcount, 1, __ATOMIC_RELAXED);
	*out = pfn;
	return 0;
}

PW_API void pw_frame_free(struct pw_arena *a, uint64_t pfn, unsigned order)
{
	uint64_t n = 1ULL << order;

	PW_BUG_ON(pfn == 0 || pfn + n > a->nr_frames || (pfn & (n - 1)));
	for (uint64_t i = 0; i < n; i++) {
		struct pw_frame *f = &a->meta[pfn + i];

		PW_BUG_ON(f->flags & PW_FRAME_FREE);
		/* atomic: a walker that read a stale entry may look at the counts
		 * before it re-checks the entry under its lock */
		__atomic_store_n(&f->flags, 0, __ATOMIC_RELAXED); /* contents no longer known zero */
		__atomic_store_n(&f->refcount, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&f->mapcount, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&f->pincount, 0, __ATOMIC_RELAXED);
	}
	pw_mutex_lock(&a->lock, PW_LC_ALLOC);
	free_block(a, pfn, order);
	pw_mutex_unlock(&a->lock, PW_LC_ALLOC);
}

PW_API void pw_frame_split(struct pw_arena *a, uint64_t pfn, unsigned order, unsigned new_order)
{
	struct pw_frame *head = &a->meta[pfn];
	int32_t ref = head->refcount, map = head->mapcount;
	uint32_t keep = head->flags & (PW_FRAME_ANON | PW_FRAME_DIRTY);
	void *mapping = head->mapping;
	struct pw_anon_vma *av = head->anon_vma;
	uint64_t index = head->index, step = 1ULL << new_order;

	PW_BUG_ON(new_order > order);
	for (uint64_t i = 0; i < (1ULL << order); i++) {
		struct pw_frame *f = &a->meta[pfn + i];
		bool sub_head = (i & (step - 1)) == 0;

		f->flags = keep | (new_order ? (sub_head ? PW_FRAME_HEAD : PW_FRAME_TAIL) : 0);
		f->order = sub_head ? new_order : 0;
		f->refcount = sub_head ? ref : 0;
		f->mapcount = sub_head ? map : 0;
		f->mapping = mapping;
		f->anon_vma = av;
		f->pincount = 0; /* a split block is never pinned (GUP splits THPs first; pinned hugetlb folios are never split) */
		f->index = index + i;
	}
}

PW_API void pw_frame_get(struct pw_arena *a, uint64_t pfn)
{
	__atomic_fetch_add(&a->meta[pfn].refcount, 1, __ATOMIC_RELAXED);
}

PW_API bool pw_frame_put(struct pw_arena *a, uint64_t pfn)
{
	struct pw_frame *f = &a->meta[pfn];

	if (__atomic_sub_fetch(&f->refcount, 1, __ATOMIC_ACQ_REL) != 0)
		return false;
	pw_frame_free(a, pfn, (f->flags & PW_FRAME_HEAD) ? f->order : 0);
	return true;
}

PW_API struct pw_frame *pw_frame_meta(const struct pw_arena *a, uint64_t pfn)
{
	return pfn < a->nr_frames ? &a->meta[pfn] : NULL;
}

PW_API void *pw_frame_ptr(const struct pw_arena *a, uint64_t pfn)
{
	return pfn < a->nr_frames ? a->mem + (pfn << PW_PAGE_SHIFT) : NULL;
}
