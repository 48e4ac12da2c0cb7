// SPDX-License-Identifier: MIT
/*
 * rmap.c - the reverse map (pagewalk/rmap.h): anon_vma trees for anonymous
 * pages, i_mmap for file pages, and the walk over the mappings of a frame.
 *
 * Our anon_vma trees are the kernel's before its anon_vma_chain (2.6.34):
 * each VMA is linked on one node, a forked VMA on a new child of its
 * parent's node, and a walk visits the subtree under the page's node. That
 * is the same set of VMAs the kernel's chains list, so the cost is the same:
 * the number of VMAs a page may be mapped in.
 *
 * Locks:
 *   the root's rwsem   write: linking and unlinking VMAs and nodes, changing
 *                      the range of a linked VMA; read: a walk. It sits at
 *                      the i_mmap lock's place in the order (after the mmap
 *                      lock, before page_table_lock and the PTE locks).
 *   av_life (global)   a leaf mutex around reference counts, so that a walk
 *                      starting from a frame can take a reference on the
 *                      frame's node only while the frame is still mapped.
 * Every VMA on a node holds a reference on it, every child node one on its
 * parent. A VMA leaves its node's list before its pages are zapped (no walk
 * reaches tables a zap may free) and drops its reference after the zap (a
 * frame still mapped always has a live node).
 */
#include "mm/mm.h"
#include "mm/rmap.h"

static pthread_mutex_t av_life = PTHREAD_MUTEX_INITIALIZER;

static struct pw_anon_vma *av_new(struct pw_anon_vma *parent)
{
	struct pw_anon_vma *av = calloc(1, sizeof(*av));

	if (!av)
		return NULL;
	av->parent = parent;
	av->root = parent ? parent->root : av;
	av->refcount = 1;
	if (!parent)
		pw_rwsem_init_class(&av->rwsem, PW_LC_ANON_VMA);
	return av;
}

static void av_get(struct pw_anon_vma *av)
{
	pw_mutex_lock(&av_life, PW_LC_AV_LIFE);
	av->refcount++;
	pw_mutex_unlock(&av_life, PW_LC_AV_LIFE);
}

static void av_put(struct pw_anon_vma *av)
{
	while (av) {
		struct pw_anon_vma *parent = av->parent;
		bool last;

		pw_mutex_lock(&av_life, PW_LC_AV_LIFE);
		last = --av->refcount == 0;
		pw_mutex_unlock(&av_life, PW_LC_AV_LIFE);
		if (!last)
			return;
		if (parent) {
			pw_rwsem_write_lock(&av->root->rwsem);
			if (av->sib_prev)
				av->sib_prev->sib_next = av->sib_next;
			else
				parent->children = av->sib_next;
			if (av->sib_next)
				av->sib_next->sib_prev = av->sib_prev;
			pw_rwsem_write_unlock(&av->root->rwsem);
		} else {
			pw_rwsem_destroy(&av->rwsem);
		}
		free(av);
		av = parent; /* the child's reference on its parent */
	}
}

static void link_vma(struct pw_anon_vma *av, struct pw_vma *vma)
{
	vma->_av_prev = NULL;
	vma->_av_next = av->vmas;
	if (av->vmas)
		av->vmas->_av_prev = vma;
	av->vmas = vma;
}

int pw_anon_vma_prepare(struct pw_vma *vma)
{
	struct pw_anon_vma *av, *none = NULL;

	if (__atomic_load_n(&vma->_anon_vma, __ATOMIC_ACQUIRE))
		return 0;
	av = av_new(NULL);
	if (!av)
		return -ENOMEM;
	av->vmas = vma; /* the VMA's own links are NULL: it is alone on the list */
	if (!__atomic_compare_exchange_n(&vma->_anon_vma, &none, av, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		pw_rwsem_destroy(&av->rwsem); /* another fault gave it one first */
		free(av);
	}
	return 0;
}

int pw_anon_vma_fork(struct pw_vma *cvma, const struct pw_vma *pvma)
{
	struct pw_anon_vma *pav = pvma->_anon_vma, *c;

	cvma->_anon_vma = NULL;
	cvma->_av_next = cvma->_av_prev = NULL;
	if (!pav)
		return 0;
	c = av_new(pav);
	if (!c)
		return -ENOMEM;
	c->vmas = cvma;
	av_get(pav);
	pw_rwsem_write_lock(&pav->root->rwsem);
	c->sib_next = pav->children;
	if (pav->children)
		pav->children->sib_prev = c;
	pav->children = c;
	pw_rwsem_write_unlock(&pav->root->rwsem);
	cvma->_anon_vma = c;
	return 0;
}

void pw_anon_vma_unlink(struct pw_vma *vma)
{
	struct pw_anon_vma *av = vma->_anon_vma;

	if (!av)
		return;
	pw_rwsem_write_lock(&av->root->rwsem);
	if (vma->_av_prev)
		vma->_av_prev->_av_next = vma->_av_next;
	else if (av->vmas == vma)
		av->vmas = vma->_av_next;
	if (vma->_av_next)
		vma->_av_next->_av_prev = vma->_av_prev;
	vma->_av_next = vma->_av_prev = NULL;
	pw_rwsem_write_unlock(&av->root->rwsem);
}

void pw_anon_vma_release(struct pw_vma *vma)
{
	struct pw_anon_vma *av = vma->_anon_vma;

	vma->_anon_vma = NULL;
	if (av)
		av_put(av);
}

void pw_anon_vma_lock_write(const struct pw_vma *vma)
{
	if (vma->_anon_vma)
		pw_rwsem_write_lock(&vma->_anon_vma->root->rwsem);
}

void pw_anon_vma_unlock_write(const struct pw_vma *vma)
{
	if (vma->_anon_vma)
		pw_rwsem_write_unlock(&vma->_anon_vma->root->rwsem);
}

bool pw_anon_vma_compatible(const struct pw_vma *a, const struct pw_vma *b)
{
	return !a->_anon_vma || !b->_anon_vma || a->_anon_vma == b->_anon_vma;
}

void pw_anon_vma_split(struct pw_vma *old, struct pw_vma *new, uint64_t addr)
{
	struct pw_anon_vma *av = old->_anon_vma;

	new->_av_next = new->_av_prev = NULL;
	if (!av) {
		old->vm_end = addr;
		return;
	}
	av_get(av);
	pw_rwsem_write_lock(&av->root->rwsem);
	old->vm_end = addr; /* a walk sees the old range or both halves, never a page twice */
	link_vma(av, new);
	pw_rwsem_write_unlock(&av->root->rwsem);
}

void pw_anon_vma_merge(struct pw_vma *keep, struct pw_vma *gone, uint64_t start, uint64_t end)
{
	struct pw_anon_vma *av = keep->_anon_vma ? keep->_anon_vma : gone->_anon_vma;

	if (!av) {
		keep->vm_start = start;
		keep->vm_end = end;
		return;
	}
	if (!keep->_anon_vma)
		av_get(av);
	pw_rwsem_write_lock(&av->root->rwsem);
	if (!keep->_anon_vma) {
		link_vma(av, keep);
		keep->_anon_vma = av;
	}
	keep->vm_start = start;
	keep->vm_end = end;
	pw_rwsem_write_unlock(&av->root->rwsem);
	pw_anon_vma_unlink(gone);
	pw_anon_vma_release(gone);
}

void pw_anon_frame_init(struct pw_arena *arena, uint64_t pfn, const struct pw_vma *vma, uint64_t addr)
{
	struct pw_frame *f = pw_frame_meta(arena, pfn);

	f->anon_vma = __atomic_load_n(&vma->_anon_vma, __ATOMIC_ACQUIRE); /* faults race to set it */
	f->index = vma->vm_pgoff + ((addr - vma->vm_start) >> PW_PAGE_SHIFT);
}

/* ---- the walk ------------------------------------------------------------ */

struct walk {
	struct pw_arena *arena;
	uint64_t pfn, index;
	const struct pw_rmap_ops *ops;
	void *arg;
};

/* Does @e (read under its lock) map frame @pfn? */
static bool entry_maps(const struct pw_pt *pt, const struct pw_pt_entry *e, uint64_t pfn)
{
	enum pw_pt_kind k = pw_pt_entry_kind(pt, e);

	if (k == PW_PT_LEAF || (k == PW_PT_NONPRESENT && (e->val & PW_SW_PROTNONE)))
		return pw_pt_leaf_pfn(pt, e->level, e->val) == pfn;
	return e->level == PW_LEVEL_PTE && pw_is_device_exclusive(e->val) &&
	       pw_swp_offset(e->val) == pfn;
}

/* Find the entry for @addr in @vma's mm, lock it, and call ops->one if it maps the frame. */
static int visit_at(struct walk *w, struct pw_vma *vma, uint64_t addr)
{
	struct pw_mm *mm = vma->vm_mm;
	struct pw_pt *pt = &mm->pt;

	for (;;) {
		struct pw_pt_entry path[PW_MAX_LEVELS], e;
		int kind = pw_pt_descend(pt, addr, PW_LEVEL_PTE, &e, path);
		int ret = 0;

		if (kind < 0 || kind == PW_PT_NONE || kind == PW_PT_MALFORMED || kind == PW_PT_TABLE)
			return 0;
		if (e.level == PW_LEVEL_PTE) {
			if (!pw_pt_lock_ptes(pt, &path[PW_LEVEL_PMD]))
				continue; /* the table went away meanwhile: look again */
			pw_pt_reread(&e);
		} else {
			pw_pt_entry_lock(pt, &e);
			if (pw_pt_reread(&e)) {
				pw_pt_entry_unlock(pt, &e);
				continue;
			}
		}
		if (entry_maps(pt, &e, w->pfn)) {
			struct pw_rmap_hit h = { .mm = mm, .vma = vma, .addr = addr, .e = e };

			ret = w->ops->one(&h, w->arg);
		}
		pw_pt_entry_unlock(pt, &e);
		return ret;
	}
}

static int visit_vma(struct pw_vma *vma, void *arg)
{
	struct walk *w = arg;
	uint64_t off, addr;
	int ret;

	if (w->index < vma->vm_pgoff)
		return 0;
	off = w->index - vma->vm_pgoff;
	if (off >= (vma->vm_end - vma->vm_start) >> PW_PAGE_SHIFT)
		return 0;
	addr = vma->vm_start + (off << PW_PAGE_SHIFT);
	if (w->ops->prep)
		w->ops->prep(vma->vm_mm, addr, w->arg);
	ret = visit_at(w, vma, addr);
	if (w->ops->done)
		w->ops->done(vma->vm_mm, addr, w->arg);
	return ret;
}

static int walk_anon(struct walk *w, struct pw_frame *f)
{
	struct pw_anon_vma *av, *n;
	int ret = 0;

	pw_mutex_lock(&av_life, PW_LC_AV_LIFE);
	av = __atomic_load_n(&f->mapcount, __ATOMIC_ACQUIRE) > 0 ? f->anon_vma : NULL;
	if (av)
		av->refcount++;
	w->index = f->index;
	pw_mutex_unlock(&av_life, PW_LC_AV_LIFE);
	if (!av)
		return 0; /* not mapped (or made by code that keeps no reverse map) */
	pw_rwsem_read_lock(&av->root->rwsem);
	for (n = av;;) {
		for (struct pw_vma *v = n->vmas; v && !ret; v = v->_av_next)
			ret = visit_vma(v, w);
		if (ret)
			break;
		if (n->children) {
			n = n->children;
			continue;
		}
		while (n != av && !n->sib_next)
			n = n->parent;
		if (n == av)
			break;
		n = n->sib_next;
	}
	pw_rwsem_read_unlock(&av->root->rwsem);
	av_put(av);
	return ret;
}

static int walk_file(struct walk *w, struct pw_frame *f)
{
	struct pw_file *file = f->mapping;
	int ret;

	w->index = f->index;
	pw_i_mmap_lock_read(file);
	ret = pw_file_for_each_vma(file, w->index, w->index, visit_vma, w);
	pw_i_mmap_unlock_read(file);
	return ret;
}

int pw_rmap_walk_locked(struct pw_arena *arena, uint64_t pfn, const struct pw_rmap_ops *ops, void *arg)
{
	struct walk w = { .arena = arena, .pfn = pfn, .ops = ops, .arg = arg };
	struct pw_frame *f;
	uint32_t flags;

	if (!arena || !ops || !ops->one || pfn == 0)
		return -EINVAL;
	f = pw_frame_meta(arena, pfn);
	if (!f)
		return -EINVAL;
	flags = __atomic_load_n(&f->flags, __ATOMIC_RELAXED);
	if (flags & (PW_FRAME_FREE | PW_FRAME_RESERVED | PW_FRAME_PGTABLE | PW_FRAME_TAIL) ||
	    __atomic_load_n(&f->refcount, __ATOMIC_RELAXED) <= 0)
		return -EINVAL;
	if (flags & PW_FRAME_ANON)
		return walk_anon(&w, f);
	if (f->mapping)
		return walk_file(&w, f);
	return -EINVAL;
}

struct public_walk {
	int (*fn)(const struct pw_rmap_visit *v, void *arg);
	void *arg;
};

static int public_one(struct pw_rmap_hit *h, void *arg)
{
	struct public_walk *p = arg;
	struct pw_rmap_visit v = { .mm = h->mm, .vma = h->vma, .addr = h->addr, .level = h->e.level,
				   .entry = h->e.val };

	return p->fn(&v, p->arg);
}

PW_API int pw_rmap_walk(struct pw_arena *arena, uint64_t pfn,
			int (*fn)(const struct pw_rmap_visit *v, void *arg), void *arg)
{
	static const struct pw_rmap_ops ops = { .one = public_one };
	struct public_walk p = { .fn = fn, .arg = arg };

	if (!fn)
		return -EINVAL;
	return pw_rmap_walk_locked(arena, pfn, &ops, &p);
}
