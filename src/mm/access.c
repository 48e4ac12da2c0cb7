// SPDX-License-Identifier: MIT
/*
 * access.c - single-address translation and the simulated MMU.
 *
 * pw_translate() is a software lookup (no side effects). pw_access() is
 * what the processor does on a memory access (SDM Vol. 3A 4.5-4.7): walk
 * from CR3, check every entry's P and reserved bits, combine R/W, U/S and
 * XD across levels, apply CR0.WP, SMEP, SMAP and protection keys, set the
 * Accessed flag in each entry used and Dirty in the leaf on a write, or
 * raise #PF with the error code the SDM gives.
 */
#include "mm/mm.h"

/* What a hardware walk found: the entries read and their combined permissions. */
struct hw_walk {
	enum pw_level level;		      /* level of the last entry read */
	struct pw_pt_entry at[PW_MAX_LEVELS]; /* entries read, root .. level */
	bool rw, us, nx;		      /* combined permissions */
	uint32_t err;			      /* PW_PF_* bits of a fault (P, RSVD) */
	bool bad_frame;			      /* a table frame outside physical memory */
};

/* Walk to the leaf for @addr. Return 0 with w->level at the leaf, or -ENOENT/-EIO. */
static int hw_walk(struct pw_mm *mm, uint64_t addr, struct hw_walk *w)
{
	struct pw_pt_entry last;
	int kind = pw_pt_descend(&mm->pt, addr, PW_LEVEL_PTE, &last, w->at);

	w->level = last.level;
	w->err = 0;
	w->bad_frame = kind == -EIO;
	switch (kind) {
	case PW_PT_LEAF:
		break;
	case PW_PT_MALFORMED:
		w->err = PW_PF_P | PW_PF_RSVD;
		return -EIO;
	case PW_PT_NONE:
	case PW_PT_NONPRESENT:
		return -ENOENT;
	default:
		return -EIO; /* a table outside physical memory */
	}
	w->rw = w->us = true;
	w->nx = false;
	for (int l = pw_root_level(mm->pt.cfg.levels); l >= (int)w->level; l--) {
		uint64_t v = w->at[l].val;

		w->rw &= !!(v & PW_RW);
		w->us &= !!(v & PW_US);
		w->nx |= mm->pt.cfg.nxe && (v & PW_NX);
	}
	return 0;
}

static int translate(struct pw_mm *mm, uint64_t addr, struct pw_translation *out)
{
	struct hw_walk w;
	int ret = hw_walk(mm, addr, &w);

	out->level = w.level;
	out->entry = w.bad_frame ? 0 : w.at[w.level].val;
	if (ret)
		return ret;
	out->phys = (out->entry & pw_entry_addr_mask(w.level, out->entry, mm->pt.cfg.maxphyaddr)) |
		    (addr & ~pw_level_mask(w.level));
	out->pfn = out->phys >> PW_PAGE_SHIFT;
	out->writable = w.rw;
	out->user = w.us;
	out->exec = !w.nx;
	return 0;
}

PW_API int pw_translate(struct pw_mm *mm, uint64_t addr, struct pw_translation *out)
{
	if (!mm || !out)
		return -EINVAL;
	if (!pw_canonical(mm->pt.cfg.levels, addr))
		return -ERANGE;
	pw_assert_mmap_locked(mm);
	if (mm->pt.arena) {
		struct pw_vma *vma = pw_vma_lookup(mm, addr);
		int ret;

		pw_vma_pgtable_walk_begin(vma); /* NULL: a no-op */
		ret = translate(mm, addr, out);
		pw_vma_pgtable_walk_end(vma);
		return ret;
	}
	return translate(mm, addr, out);
}

PW_API int pw_translate_lockless(struct pw_mm *mm, uint64_t addr, struct pw_translation *out)
{
	int ret;

	if (!mm || !out)
		return -EINVAL;
	if (!pw_canonical(mm->pt.cfg.levels, addr))
		return -ERANGE;
	pw_rcu_read_lock(); /* tables stay allocated (pt/pt.c frees them after a grace period) */
	ret = translate(mm, addr, out);
	pw_rcu_read_unlock();
	return ret;
}

/* Permission check of SDM 4.6 for a translation that reached a leaf. */
static uint32_t check_perm(const struct pw_mm *mm, const struct pw_cpu *cpu, const struct hw_walk *w,
			   unsigned flags)
{
	bool user = flags & PW_FAULT_USER, write = flags & PW_FAULT_WRITE, exec = flags & PW_FAULT_EXEC;
	uint64_t leaf = w->at[w->level].val;

	if (user) {
		if (!w->us)
			return PW_PF_P;
		if (write && !w->rw)
			return PW_PF_P;
		if (exec && w->nx)
			return PW_PF_P;
	} else {
		if (exec) {
			if (w->nx || (cpu->smep && w->us))
				return PW_PF_P;
		} else {
			if (w->us && cpu->smap && !cpu->ac)
				return PW_PF_P;
			if (write && !w->rw && cpu->wp)
				return PW_PF_P;
		}
	}
	/* Protection keys apply to data accesses to user pages. */
	if (mm->pt.cfg.pke && w->us && !exec) {
		unsigned key = (unsigned)((leaf & PW_PKEY_MASK) >> PW_PKEY_SHIFT);
		bool ad = cpu->pkru & (1u << (2 * key)), wd = cpu->pkru & (1u << (2 * key + 1));

		if (ad || (write && wd && (user || cpu->wp)))
			return PW_PF_P | PW_PF_PK;
	}
	return 0;
}

/*
 * A TLB hit: the cached translation is used when its permissions allow the
 * access and, for a write, it is cached writable and dirty (otherwise the
 * CPU walks to set Dirty). Anything else drops the entry and walks.
 */
static bool tlb_hit(struct pw_mm *mm, const struct pw_cpu *cpu, uint64_t addr, unsigned kind,
		    struct pw_access_result *r)
{
	struct pw_tlb_fill f;
	struct hw_walk w;
	uint64_t leaf;

	if (!pw_tlb_lookup(cpu->tlb, addr, &f))
		return false;
	w.level = (enum pw_level)f.level;
	w.at[f.level].val = leaf = f.leaf;
	w.rw = f.rw;
	w.us = f.us;
	w.nx = f.nx;
	if (check_perm(mm, cpu, &w, kind) || ((kind & PW_FAULT_WRITE) && !(leaf & PW_D))) {
		pw_tlb_invalidate_page(cpu->tlb, addr);
		return false;
	}
	r->phys = (leaf & pw_entry_addr_mask(f.level, leaf, mm->pt.cfg.maxphyaddr)) |
		  (addr & ~pw_level_mask(f.level));
	r->level = f.level;
	return true;
}

static uint32_t pf_access_bits(unsigned flags, const struct pw_mm *mm)
{
	uint32_t e = 0;

	if (flags & PW_FAULT_WRITE)
		e |= PW_PF_W;
	if (flags & PW_FAULT_USER)
		e |= PW_PF_U;
	if ((flags & PW_FAULT_EXEC) && mm->pt.cfg.nxe)
		e |= PW_PF_I;
	return e;
}

PW_API int pw_access(struct pw_mm *mm, const struct pw_cpu *cpu, uint64_t addr, unsigned flags,
		     struct pw_access_result *res)
{
	static const struct pw_cpu dflt = PW_CPU_DEFAULT;
	struct pw_access_result r = { 0 };
	unsigned kind = flags & (PW_FAULT_WRITE | PW_FAULT_EXEC | PW_FAULT_USER);
	int ret = 0;

	if (!mm || (flags & ~(kind | PW_ACCESS_NOFAULT)) ||
	    ((flags & PW_FAULT_WRITE) && (flags & PW_FAULT_EXEC)))
		return -EINVAL;
	if (!cpu)
		cpu = &dflt;
	if (!pw_canonical(mm->pt.cfg.levels, addr))
		return -ERANGE;
	if (cpu->tlb && (!mm->pt.arena || !pw_tlb_for(cpu->tlb, mm)))
		return -EINVAL; /* a TLB caches one arena mm */
	if (mm->pt.arena)
		pw_mmap_read_lock(mm);
	for (;;) {
		struct hw_walk w;
		uint32_t err;
		bool fault;

		uint64_t gen = 0;

		if (cpu->tlb) {
			if (tlb_hit(mm, cpu, addr, kind, &r)) {
				ret = 0;
				break;
			}
			gen = pw_tlb_gen(cpu->tlb);
		}
		ret = hw_walk(mm, addr, &w);
		if (ret == 0) {
			err = check_perm(mm, cpu, &w, kind);
			fault = err != 0;
		} else if (w.bad_frame) {
			ret = -EFAULT; /* would be a machine check, not a #PF */
			break;
		} else {
			err = w.err; /* 0 (not present) or P|RSVD */
			fault = true;
		}
		if (!fault) {
			uint64_t leaf = w.at[w.level].val;

			/* Accessed on every entry used, Dirty on the leaf of a write. */
			for (int l = pw_root_level(mm->pt.cfg.levels); l >= (int)w.level; l--)
				if (!(w.at[l].val & PW_A))
					__atomic_fetch_or(w.at[l].ptep, PW_A, __ATOMIC_RELAXED);
			if ((kind & PW_FAULT_WRITE) && !(leaf & PW_D))
				__atomic_fetch_or(w.at[w.level].ptep, PW_D, __ATOMIC_RELAXED);
			r.phys = (leaf & pw_entry_addr_mask(w.level, leaf, mm->pt.cfg.maxphyaddr)) |
				 (addr & ~pw_level_mask(w.level));
			r.level = w.level;
			if (cpu->tlb) {
				struct pw_tlb_fill f = { .leaf = leaf | PW_A, .level = w.level,
							 .rw = w.rw, .us = w.us, .nx = w.nx };

				if (kind & PW_FAULT_WRITE)
					f.leaf |= PW_D;
				pw_tlb_insert(cpu->tlb, addr, &f, gen);
			}
			ret = 0;
			break;
		}
		if (cpu->tlb)
			pw_tlb_invalidate_page(cpu->tlb, addr);
		r.pf_error = err | pf_access_bits(kind, mm);
		r.nr_faults++;
		if ((flags & PW_ACCESS_NOFAULT) || !mm->pt.arena || (err & PW_PF_RSVD) || r.nr_faults > 8) {
			ret = -EFAULT;
			break;
		}
		ret = pw_handle_mm_fault(mm, addr, kind);
		if (ret == -ENOMEM)
			break;
		if (ret) {
			ret = -EFAULT;
			break;
		}
	}
	if (mm->pt.arena)
		pw_mmap_read_unlock(mm);
	if (res)
		*res = r;
	return ret;
}
