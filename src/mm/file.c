// SPDX-License-Identifier: MIT
/*
 * file.c - files: the page cache (one frame per page offset, installed with
 * a compare-and-swap so that racing faults agree on one frame) and the
 * reverse map i_mmap (an interval tree of VMAs by page offset, under the
 * i_mmap read/write lock). See pagewalk/file.h.
 */
#include <string.h>

#include <pagewalk/dirty.h>

#include "mm/mm.h"

PW_API int pw_file_create(struct pw_arena *arena, uint64_t size, struct pw_file **out)
{
	struct pw_file *f;

	if (!arena || !out || !size || size > (1ULL << 56))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->arena = arena;
	f->size = size;
	f->nr_pages = (size + PW_PAGE_SIZE - 1) >> PW_PAGE_SHIFT;
	f->pages = calloc(f->nr_pages, sizeof(*f->pages));
	if (!f->pages) {
		free(f);
		return -ENOMEM;
	}
	pw_rwsem_init_class(&f->i_mmap_rwsem, PW_LC_I_MMAP);
	*out = f;
	return 0;
}

PW_API int pw_file_destroy(struct pw_file *f)
{
	if (!f)
		return 0;
	pw_rwsem_read_lock(&f->i_mmap_rwsem);
	bool busy = f->i_mmap != NULL;
	pw_rwsem_read_unlock(&f->i_mmap_rwsem);
	if (busy)
		return -EBUSY;
	for (uint64_t i = 0; i < f->nr_pages; i++) {
		if (f->pages[i]) {
			struct pw_frame *fr = pw_frame_meta(f->arena, f->pages[i]);

			if (fr->flags & PW_FRAME_TAIL)
				continue; /* a 2 MiB folio's: its head holds the cache's reference */
			fr->mapping = NULL;
			pw_frame_put(f->arena, f->pages[i]);
		}
	}
	pw_rwsem_destroy(&f->i_mmap_rwsem);
	free(f->pages);
	free(f);
	return 0;
}

PW_API uint64_t pw_file_size(const struct pw_file *f)
{
	return f->size;
}

PW_API uint64_t pw_file_nr_pages(const struct pw_file *f)
{
	return f->nr_pages;
}

PW_API uint64_t pw_file_page(const struct pw_file *f, uint64_t index)
{
	return index < f->nr_pages ? __atomic_load_n(&f->pages[index], __ATOMIC_ACQUIRE) : 0;
}

PW_API uint64_t pw_file_nr_cached(const struct pw_file *f)
{
	return __atomic_load_n(&f->nr_cached, __ATOMIC_RELAXED);
}

/* The cached frame of @index, allocating it on first use; no reference taken. */
static int find_or_create(struct pw_file *f, uint64_t index, uint64_t *out)
{
	uint64_t pfn = __atomic_load_n(&f->pages[index], __ATOMIC_ACQUIRE), expected = 0;
	struct pw_frame *fr;
	int ret;

	if (pfn) {
		*out = pfn;
		return 0;
	}
	if (f->hpage_order) { /* hugetlb: the whole huge folio at once */
		uint64_t n = 1ULL << f->hpage_order;

		ret = pw_hugetlb_folio(f, index, &pfn);
		if (!ret)
			*out = pfn + (index & (n - 1));
		return ret;
	}
	ret = pw_frame_alloc(f->arena, 0, &pfn);
	if (ret)
		return ret;
	fr = pw_frame_meta(f->arena, pfn);
	fr->mapping = f;
	fr->index = index;
	if (!__atomic_compare_exchange_n(&f->pages[index], &expected, pfn, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		pw_frame_free(f->arena, pfn, 0); /* someone else cached it first */
		*out = expected;
		return 0;
	}
	__atomic_fetch_add(&f->nr_cached, 1, __ATOMIC_RELAXED);
	*out = pfn;
	return 0;
}

/* Is the frame part of a 2 MiB folio (pw_madvise_collapse())? */
static bool in_folio(const struct pw_frame *fr)
{
	return __atomic_load_n(&fr->flags, __ATOMIC_ACQUIRE) & (PW_FRAME_HEAD | PW_FRAME_TAIL);
}

/*
 * A 4 KiB reference to a page of a 2 MiB folio: the fault maps it with a
 * PTE, and a PTE's zap drops a reference of its own frame (pt/modify.c),
 * so the folio is split into 4 KiB pages first, which it can be only
 * while no PMD maps it: -EBUSY then. The i_mmap write lock serialises this
 * with collapses and other splits.
 */
static int split_cached_folio(struct pw_file *f, uint64_t index)
{
	uint64_t first = index & ~(uint64_t)(PW_PTRS_PER_TABLE - 1), head;
	struct pw_frame *hf;
	int ret = 0;

	pw_rwsem_write_lock(&f->i_mmap_rwsem);
	head = __atomic_load_n(&f->pages[first], __ATOMIC_ACQUIRE);
	hf = pw_frame_meta(f->arena, head);
	if (hf && (hf->flags & PW_FRAME_HEAD) && hf->order == 9) {
		if (__atomic_load_n(&hf->mapcount, __ATOMIC_ACQUIRE))
			ret = -EBUSY; /* PMD-mapped: the folio stays whole */
		else
			pw_frame_split(f->arena, head, 9, 0); /* 512 pages, each with the cache's reference */
	}
	pw_rwsem_write_unlock(&f->i_mmap_rwsem);
	return ret;
}

int pw_file_get_page(struct pw_file *f, uint64_t index, uint64_t *pfn)
{
	int ret;

	if (index >= f->nr_pages)
		return -EFAULT;
	ret = find_or_create(f, index, pfn);
	if (!ret && in_folio(pw_frame_meta(f->arena, *pfn))) {
		ret = split_cached_folio(f, index);
		if (!ret)
			*pfn = pw_file_page(f, index);
	}
	if (!ret)
		pw_frame_get(f->arena, *pfn);
	return ret;
}

void pw_file_replace_folio(struct pw_file *f, uint64_t index, uint64_t head, bool dirty)
{
	struct pw_frame *hf = pw_frame_meta(f->arena, head);

	for (uint64_t i = 0; i < PW_PTRS_PER_TABLE; i++) {
		struct pw_frame *nf = pw_frame_meta(f->arena, head + i);
		uint64_t old = __atomic_load_n(&f->pages[index + i], __ATOMIC_ACQUIRE);

		nf->mapping = f;
		nf->index = index + i;
		__atomic_store_n(&f->pages[index + i], head + i, __ATOMIC_RELEASE);
		if (old) {
			pw_frame_meta(f->arena, old)->mapping = NULL;
			pw_frame_put(f->arena, old); /* the cache's reference */
		} else {
			__atomic_fetch_add(&f->nr_cached, 1, __ATOMIC_RELAXED);
		}
	}
	if (dirty)
		__atomic_fetch_or(&hf->flags, PW_FRAME_DIRTY, __ATOMIC_RELAXED);
}

static int check_io(const struct pw_file *f, uint64_t off, const void *buf, uint64_t len)
{
	if (!f || (len && !buf) || off > f->size || len > f->size - off)
		return -EINVAL;
	return 0;
}

PW_API int pw_file_read(struct pw_file *f, uint64_t off, void *buf, uint64_t len)
{
	int ret = check_io(f, off, buf, len);
	uint8_t *p = buf;

	if (ret)
		return ret;
	while (len) {
		uint64_t idx = off >> PW_PAGE_SHIFT, in = off & (PW_PAGE_SIZE - 1);
		uint64_t n = PW_PAGE_SIZE - in < len ? PW_PAGE_SIZE - in : len;
		uint64_t pfn = pw_file_page(f, idx);

		if (pfn)
			memcpy(p, (uint8_t *)pw_frame_ptr(f->arena, pfn) + in, n);
		else
			memset(p, 0, n);
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

PW_API int pw_file_write(struct pw_file *f, uint64_t off, const void *buf, uint64_t len)
{
	int ret = check_io(f, off, buf, len);
	const uint8_t *p = buf;
	uint64_t pfn;

	if (ret)
		return ret;
	/* Allocate every page first so that a failure writes nothing. */
	for (uint64_t i = off >> PW_PAGE_SHIFT; len && i <= (off + len - 1) >> PW_PAGE_SHIFT; i++) {
		ret = find_or_create(f, i, &pfn);
		if (ret)
			return ret;
	}
	while (len) {
		uint64_t idx = off >> PW_PAGE_SHIFT, in = off & (PW_PAGE_SIZE - 1);
		uint64_t n = PW_PAGE_SIZE - in < len ? PW_PAGE_SIZE - in : len;

		pfn = pw_file_page(f, idx);
		memcpy((uint8_t *)pw_frame_ptr(f->arena, pfn) + in, p, n);
		__atomic_fetch_or(&pw_frame_meta(f->arena, pfn)->flags, PW_FRAME_DIRTY, __ATOMIC_RELAXED);
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

PW_API uint64_t pw_file_nr_vmas(struct pw_file *f)
{
	uint64_t n;

	pw_rwsem_read_lock(&f->i_mmap_rwsem);
	n = f->nr_vmas;
	pw_rwsem_read_unlock(&f->i_mmap_rwsem);
	return n;
}

PW_API void pw_i_mmap_lock_read(struct pw_file *f) { pw_rwsem_read_lock(&f->i_mmap_rwsem); }
PW_API void pw_i_mmap_unlock_read(struct pw_file *f) { pw_rwsem_read_unlock(&f->i_mmap_rwsem); }
PW_API void pw_i_mmap_lock_write(struct pw_file *f) { pw_rwsem_write_lock(&f->i_mmap_rwsem); }
PW_API void pw_i_mmap_unlock_write(struct pw_file *f) { pw_rwsem_write_unlock(&f->i_mmap_rwsem); }

/*
 * The reverse map is an interval tree: a treap of VMAs keyed by (vm_pgoff,
 * address), each node holding the largest last page offset of its subtree.
 * Priorities are a hash of the node's address, so the shape is random and
 * the depth O(log n) expected, with no state to keep. A lookup of the VMAs
 * that meet [first, last] costs O(log n + k) for k results.
 */
static uint64_t vma_last(const struct pw_vma *v)
{
	return v->vm_pgoff + ((v->vm_end - v->vm_start) >> PW_PAGE_SHIFT) - 1;
}

static uint64_t prio(const struct pw_vma *v)
{
	uint64_t x = (uint64_t)(uintptr_t)v + 0x9e3779b97f4a7c15ULL;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static bool key_less(const struct pw_vma *a, const struct pw_vma *b)
{
	return a->vm_pgoff < b->vm_pgoff || (a->vm_pgoff == b->vm_pgoff && (uintptr_t)a < (uintptr_t)b);
}

static void update(struct pw_vma *n)
{
	uint64_t m = vma_last(n);

	if (n->_it_left && n->_it_left->_it_max > m)
		m = n->_it_left->_it_max;
	if (n->_it_right && n->_it_right->_it_max > m)
		m = n->_it_right->_it_max;
	n->_it_max = m;
}

/* Split @t into keys below @key (*l) and the rest (*r). */
static void split(struct pw_vma *t, const struct pw_vma *key, struct pw_vma **l, struct pw_vma **r)
{
	if (!t) {
		*l = *r = NULL;
		return;
	}
	if (key_less(t, key)) {
		split(t->_it_right, key, &t->_it_right, r);
		*l = t;
	} else {
		split(t->_it_left, key, l, &t->_it_left);
		*r = t;
	}
	update(t);
}

/* Join two treaps, every key of @l below every key of @r. */
static struct pw_vma *merge(struct pw_vma *l, struct pw_vma *r)
{
	if (!l || !r)
		return l ? l : r;
	if (prio(l) > prio(r)) {
		l->_it_right = merge(l->_it_right, r);
		update(l);
		return l;
	}
	r->_it_left = merge(l, r->_it_left);
	update(r);
	return r;
}

static struct pw_vma *erase(struct pw_vma *t, struct pw_vma *v)
{
	PW_BUG_ON(!t); /* @v must be in the tree */
	if (t == v)
		return merge(t->_it_left, t->_it_right);
	if (key_less(v, t))
		t->_it_left = erase(t->_it_left, v);
	else
		t->_it_right = erase(t->_it_right, v);
	update(t);
	return t;
}

void pw_file_vma_link_locked(struct pw_vma *vma)
{
	struct pw_file *f = vma->vm_file;
	struct pw_vma *l, *r;

	PW_BUG_ON(!pw_rwsem_write_held(&f->i_mmap_rwsem));
	split(f->i_mmap, vma, &l, &r);
	vma->_it_left = vma->_it_right = NULL;
	update(vma);
	f->i_mmap = merge(merge(l, vma), r);
	f->nr_vmas++;
}

void pw_file_vma_unlink_locked(struct pw_vma *vma)
{
	struct pw_file *f = vma->vm_file;

	PW_BUG_ON(!pw_rwsem_write_held(&f->i_mmap_rwsem));
	f->i_mmap = erase(f->i_mmap, vma);
	vma->_it_left = vma->_it_right = NULL;
	f->nr_vmas--;
}

static int query(struct pw_vma *t, uint64_t first, uint64_t last, int (*fn)(struct pw_vma *, void *),
		 void *arg)
{
	int ret;

	if (!t || t->_it_max < first)
		return 0; /* nothing here ends at or after @first */
	ret = query(t->_it_left, first, last, fn, arg);
	if (ret)
		return ret;
	if (t->vm_pgoff > last)
		return 0; /* this node and its right subtree start after @last */
	if (vma_last(t) >= first) {
		ret = fn(t, arg);
		if (ret)
			return ret;
	}
	return query(t->_it_right, first, last, fn, arg);
}

int pw_file_for_each_vma(struct pw_file *f, uint64_t first, uint64_t last,
			 int (*fn)(struct pw_vma *vma, void *arg), void *arg)
{
	PW_BUG_ON(!pw_rwsem_held(&f->i_mmap_rwsem));
	return query(f->i_mmap, first, last, fn, arg);
}

void pw_vma_unlink_file(struct pw_vma *vma)
{
	if (vma->vm_file) {
		pw_rwsem_write_lock(&vma->vm_file->i_mmap_rwsem);
		pw_file_vma_unlink_locked(vma);
		pw_rwsem_write_unlock(&vma->vm_file->i_mmap_rwsem);
	}
}

void pw_file_count_huge_skipped(struct pw_file *file)
{
	__atomic_fetch_add(&file->huge_skipped, 1, __ATOMIC_RELAXED);
}

PW_API uint64_t pw_dirty_huge_skipped(const struct pw_file *file)
{
	return __atomic_load_n(&file->huge_skipped, __ATOMIC_RELAXED);
}

/* ---- hugetlb files (pagewalk/hugetlb.h) ---- */

PW_API int pw_hugetlb_file_create(struct pw_arena *arena, uint64_t size, uint64_t page_size,
				  struct pw_file **out)
{
	int ret;

	if (!arena || !out || (page_size != PW_PMD_SIZE && page_size != PW_PUD_SIZE) || !size ||
	    (size & (page_size - 1)))
		return -EINVAL;
	ret = pw_file_create(arena, size, out);
	if (!ret)
		(*out)->hpage_order = page_size == PW_PUD_SIZE ? 18 : 9;
	return ret;
}

PW_API uint64_t pw_file_huge_page_size(const struct pw_file *file)
{
	return file && file->hpage_order ? PW_PAGE_SIZE << file->hpage_order : 0;
}

int pw_hugetlb_folio(struct pw_file *f, uint64_t index, uint64_t *head)
{
	uint64_t n = 1ULL << f->hpage_order, first = index & ~(n - 1), pfn, expected = 0;
	int ret;

	pfn = __atomic_load_n(&f->pages[first], __ATOMIC_ACQUIRE);
	if (pfn) {
		*head = pfn;
		return 0;
	}
	ret = pw_frame_alloc(f->arena, f->hpage_order, &pfn);
	if (ret)
		return ret;
	pw_frame_meta(f->arena, pfn)->mapping = f;
	pw_frame_meta(f->arena, pfn)->index = first;
	if (!__atomic_compare_exchange_n(&f->pages[first], &expected, pfn, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		pw_frame_free(f->arena, pfn, f->hpage_order); /* another fault cached it first */
		*head = expected;
		return 0;
	}
	for (uint64_t i = 1; i < n; i++) {
		struct pw_frame *tf = pw_frame_meta(f->arena, pfn + i);

		tf->mapping = f;
		tf->index = first + i;
		__atomic_store_n(&f->pages[first + i], pfn + i, __ATOMIC_RELEASE);
	}
	__atomic_fetch_add(&f->nr_cached, n, __ATOMIC_RELAXED);
	*head = pfn;
	return 0;
}

