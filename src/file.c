// SPDX-License-Identifier: MIT
/*
 * file.c - files: the page cache (one frame per page offset, installed with
 * a compare-and-swap so that racing faults agree on one frame) and the
 * reverse map i_mmap (a list of VMAs ordered by vm_pgoff, under the i_mmap
 * read/write lock). See pagewalk/file.h.
 */
#include <string.h>

#include "internal.h"

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
	pw_rwsem_init(&f->i_mmap_rwsem);
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

int pw_file_get_page(struct pw_file *f, uint64_t index, uint64_t *pfn)
{
	int ret;

	if (index >= f->nr_pages)
		return -EFAULT;
	ret = find_or_create(f, index, pfn);
	if (!ret)
		pw_frame_get(f->arena, *pfn);
	return ret;
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

/* Insert in vm_pgoff order (after VMAs with the same offset). O(n). */
void pw_file_vma_link_locked(struct pw_vma *vma)
{
	struct pw_file *f = vma->vm_file;
	struct pw_vma *prev = NULL, *cur = f->i_mmap;

	PW_BUG_ON(!pw_rwsem_write_held(&f->i_mmap_rwsem));
	while (cur && cur->vm_pgoff <= vma->vm_pgoff) {
		prev = cur;
		cur = cur->_shared_next;
	}
	vma->_shared_prev = prev;
	vma->_shared_next = cur;
	if (cur)
		cur->_shared_prev = vma;
	if (prev)
		prev->_shared_next = vma;
	else
		f->i_mmap = vma;
	f->nr_vmas++;
}

void pw_file_vma_unlink_locked(struct pw_vma *vma)
{
	struct pw_file *f = vma->vm_file;

	PW_BUG_ON(!pw_rwsem_write_held(&f->i_mmap_rwsem));
	if (vma->_shared_prev)
		vma->_shared_prev->_shared_next = vma->_shared_next;
	else
		f->i_mmap = vma->_shared_next;
	if (vma->_shared_next)
		vma->_shared_next->_shared_prev = vma->_shared_prev;
	vma->_shared_next = vma->_shared_prev = NULL;
	f->nr_vmas--;
}

void pw_vma_unlink_file(struct pw_vma *vma)
{
	if (vma->vm_file) {
		pw_rwsem_write_lock(&vma->vm_file->i_mmap_rwsem);
		pw_file_vma_unlink_locked(vma);
		pw_rwsem_write_unlock(&vma->vm_file->i_mmap_rwsem);
	}
}
