/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/phys.h - physical memory: the backend walkers read tables through,
 * and the frame arena that address spaces allocate from.
 *
 * Page tables hold frame numbers, never host pointers. A walker turns a
 * frame number into a host pointer through a struct pw_phys. The frame
 * arena is one such backend (read-write, with an allocator); a memory image
 * is another (read-only). The walkers do not know which one they read.
 */
#ifndef PAGEWALK_PHYS_H
#define PAGEWALK_PHYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pagewalk/pgtable.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pw_phys;

/**
 * struct pw_phys - how a walker reaches physical frames.
 * @direct: host address of frame 0 when frames [0, @nr_direct) are one
 *          linear mapping (the fast path), else NULL.
 * @nr_direct: number of frames reachable through @direct.
 * @map: slow path for frames outside [0, @nr_direct): returns the host
 *       address of the 4 KiB frame @pfn, or NULL when that frame is not
 *       backed (a gap or past the end). May be NULL (nothing else is backed).
 * @readonly: the frames must not be written (a memory image). Walkers never
 *            write; callers must not write through entry pointers they get.
 * @priv: the backend's own data.
 */
struct pw_phys {
	uint8_t *direct;
	uint64_t nr_direct;
	void *(*map)(const struct pw_phys *phys, uint64_t pfn);
	bool readonly;
	void *priv;
};

/**
 * pw_phys_frame() - host address of frame @pfn, or NULL when it is not backed.
 * Context: any; never blocks.
 */
static inline void *pw_phys_frame(const struct pw_phys *phys, uint64_t pfn)
{
	if (pfn < phys->nr_direct)
		return phys->direct + (pfn << PW_PAGE_SHIFT);
	return phys->map ? phys->map(phys, pfn) : NULL;
}

/* ---- the frame arena -------------------------------------------------- */

struct pw_arena;

/** Largest block the allocator hands out: order 18 = 1 GiB. */
#define PW_MAX_ORDER 18
#define PW_ORDER_2M 9
#define PW_ORDER_1G 18

/* Per-frame flags (struct pw_frame.flags). */
enum {
	PW_FRAME_FREE = 1u << 0,    /* in the allocator (head of a free block) */
	PW_FRAME_PGTABLE = 1u << 1, /* holds a page table */
	PW_FRAME_DIRTY = 1u << 2,   /* contents differ from backing store */
	PW_FRAME_LOCKED = 1u << 3,  /* locked for I/O or exclusive use */
	PW_FRAME_HEAD = 1u << 4,    /* first frame of an allocated block of order > 0 */
	PW_FRAME_TAIL = 1u << 5,    /* other frames of such a block */
	PW_FRAME_ZERO = 1u << 6,    /* known to hold only zeroes */
	PW_FRAME_RESERVED = 1u << 7,/* never handed out (frame 0) */
	PW_FRAME_ANON = 1u << 8,    /* anonymous memory */
};

/**
 * struct pw_frame - metadata of one 4 KiB frame (the kernel's struct page).
 * @refcount: references; the frame returns to the allocator at 0. For a
 *            block of order > 0 only the head's count is used.
 * @mapcount: page-table entries that map this frame (head for huge leaves).
 * @flags: PW_FRAME_* bits, updated atomically.
 * @ptl: for page-table frames, the split page-table lock (0 = unlocked,
 *       otherwise the owning thread's id). See docs/locking.md.
 * @order: block order, valid on a head or a free block.
 * @pincount: pins taken by pw_get_user_pages(PW_FOLL_PIN) (the kernel's
 *       page_maybe_dma_pinned() is pincount > 0); each pin also holds a
 *       reference. Atomic. Pinned frames are 4 KiB frames (GUP splits huge
 *       leaves before it pins).
 * @mapping, @index: owner and offset, for pages that belong to a file
 *       (the file-mapping code uses them). For anonymous pages @index is
 *       the linear page index the page was faulted at (the VMA's vm_pgoff
 *       plus the page's offset in it), as the kernel's page->index.
 * @anon_vma: for anonymous pages, the reverse map of the VMA the page was
 *       created in (pagewalk/rmap.h): every VMA that may map the page is
 *       linked under it through fork chains. Valid while @mapcount > 0.
 */
struct pw_anon_vma;
struct pw_frame {
	int32_t refcount;
	int32_t mapcount;
	uint32_t flags;
	uint32_t ptl;
	uint32_t order;
	int32_t pincount;
	uint64_t next, prev; /* allocator links while free */
	void *mapping;
	uint64_t index;
	struct pw_anon_vma *anon_vma;
};

/* Arena creation flags. */
enum {
	/* The caller's memory is known to be zero-filled (skip zeroing on first use). */
	PW_ARENA_ZEROED = 1u << 0,
};

/**
 * pw_arena_create() - create an arena of @bytes bytes of anonymous memory.
 * @bytes: size; rounded down to whole 4 KiB frames; at least 2 frames.
 * @out: receives the arena.
 *
 * The memory is reserved lazily (MAP_NORESERVE): untouched frames cost no RAM.
 * Frame 0 is reserved and never handed out.
 *
 * Context: any thread; may block.
 * Return: 0, -EINVAL for a too small size, -ENOMEM.
 */
int pw_arena_create(uint64_t bytes, struct pw_arena **out);

/**
 * pw_arena_create_from() - create an arena over memory the caller owns.
 * @mem: 4 KiB-aligned memory; the arena never frees it. Guest RAM of a VM
 *       can be handed in here.
 * @bytes: its size (whole frames are used).
 * @flags: PW_ARENA_ZEROED if @mem is already zero-filled.
 *
 * Context: any thread; may block.
 * Return: 0, -EINVAL (unaligned @mem, too small), -ENOMEM.
 */
int pw_arena_create_from(void *mem, uint64_t bytes, unsigned flags, struct pw_arena **out);

/**
 * pw_arena_destroy() - free the arena (NULL is a no-op).
 * Context: no other thread uses it; every address space and file on it is gone.
 */
void pw_arena_destroy(struct pw_arena *arena);

/** pw_arena_phys() - the arena as a walk backend. Context: any. Return: the backend. */
const struct pw_phys *pw_arena_phys(const struct pw_arena *arena);

/** pw_arena_nr_frames() - size of the arena. Context: any. Return: frames, frame 0 included. */
uint64_t pw_arena_nr_frames(const struct pw_arena *arena);

/** pw_arena_free_frames() - count free frames. Context: takes the allocator lock. Return: the count. */
uint64_t pw_arena_free_frames(struct pw_arena *arena);

/** pw_arena_base() - where the frames are. Context: any. Return: the host address of frame 0. */
void *pw_arena_base(const struct pw_arena *arena);

/**
 * pw_frame_alloc() - allocate a naturally aligned block of 2^@order frames.
 * @order: 0 .. PW_MAX_ORDER (PW_ORDER_2M, PW_ORDER_1G for huge blocks).
 * @pfn: receives the first frame.
 *
 * The block is zero-filled; its head has refcount 1.
 * Context: takes the allocator lock; never sleeps for long.
 * Return: 0, -EINVAL for a bad order, -ENOMEM when no block is free.
 */
int pw_frame_alloc(struct pw_arena *arena, unsigned order, uint64_t *pfn);

/**
 * pw_frame_free() - return a block to the allocator, regardless of its refcount.
 * Context: takes the allocator lock.
 */
void pw_frame_free(struct pw_arena *arena, uint64_t pfn, unsigned order);

/**
 * pw_frame_split() - turn an allocated block of order @order into blocks of
 * order @new_order, each with the head's refcount, mapcount and flags.
 * Context: the caller owns the block (e.g. holds the lock of the entry mapping it).
 */
void pw_frame_split(struct pw_arena *arena, uint64_t pfn, unsigned order, unsigned new_order);

/** pw_frame_get() - take a reference on the block whose head is @pfn. Context: any; atomic. */
void pw_frame_get(struct pw_arena *arena, uint64_t pfn);

/**
 * pw_frame_put() - drop a reference; free the block when it reaches 0.
 * Context: any; atomic; takes the allocator lock when it frees.
 * Return: true if the block was freed.
 */
bool pw_frame_put(struct pw_arena *arena, uint64_t pfn);

/** pw_frame_meta() - metadata of frame @pfn. Context: any. Return: it, or NULL outside the arena. */
struct pw_frame *pw_frame_meta(const struct pw_arena *arena, uint64_t pfn);

/** pw_frame_ptr() - host address of frame @pfn. Context: any. Return: it, or NULL outside the arena. */
void *pw_frame_ptr(const struct pw_arena *arena, uint64_t pfn);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_PHYS_H */
