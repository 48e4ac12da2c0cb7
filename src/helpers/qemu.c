// SPDX-License-Identifier: MIT
/*
 * qemu.c - QEMU 7.2's `info tlb` and `info mem` text over the iterator.
 *
 * The rules (what is printed, which bits, QEMU's lossy choices) are in
 * include/pagewalk/qemu.h. Both walk the whole address space with every
 * alias followed, as QEMU does, table steps included so that `info mem`
 * can AND the U/W bits of every level above a leaf.
 */
#include <inttypes.h>

#include "core/core.h"

#include <pagewalk/iter.h>
#include <pagewalk/qemu.h>

/* QEMU masks physical addresses to 46 bits at each leaf size. */
#define QEMU_PA_4K 0x3fffffffff000ULL
#define QEMU_PA_2M 0x3ffffffe00000ULL
#define QEMU_PA_1G 0x3ffffc0000000ULL
#define PROT_BITS (PW_US | PW_RW | PW_P)

static uint64_t sign_extend(int levels, uint64_t a)
{
	unsigned top = pw_va_bits(levels) - 1;

	if (a & (1ULL << top))
		a |= ~0ULL << top;
	return a;
}

static int finish_io(FILE *out, int err, bool io_error)
{
	if (err)
		return err;
	if (io_error || fflush(out))
		return -EIO;
	return 0;
}

PW_API int pw_qemu_info_tlb(struct pw_mm *mm, FILE *out, uint64_t max_entries, uint64_t *lines)
{
	struct pw_walk_state st;
	uint64_t n = 0;
	bool io_error = false;
	int err;

	if (!mm || !out)
		return -EINVAL;
	if (pw_mm_arena(mm))
		pw_mmap_read_lock(mm);
	pw_for_each_entry_max(&st, mm, 0, 0, PW_WALK_ALL_SIZES | PW_WALK_ALIASES, max_entries) {
		uint64_t v = st.entry, pa;

		if (st.level == PW_LEVEL_PTE) {
			v &= ~PW_PAT;
			pa = v & QEMU_PA_4K;
		} else {
			pa = v & (st.level == PW_LEVEL_PMD ? QEMU_PA_2M : QEMU_PA_1G);
		}
		if (fprintf(out, "%016" PRIx64 ": %016" PRIx64 " %c%c%c%c%c%c%c%c%c\r\n", st.start, pa,
			    v & PW_NX ? 'X' : '-', v & PW_G ? 'G' : '-', v & PW_PS ? 'P' : '-',
			    v & PW_D ? 'D' : '-', v & PW_A ? 'A' : '-', v & PW_PCD ? 'C' : '-',
			    v & PW_PWT ? 'T' : '-', v & PW_US ? 'U' : '-', v & PW_RW ? 'W' : '-') < 0)
			io_error = true;
		n++;
	}
	err = pw_walk_error(&st);
	if (pw_mm_arena(mm))
		pw_mmap_read_unlock(mm);
	if (lines)
		*lines = n;
	return finish_io(out, err, io_error);
}

/* QEMU's mem_print(): a run of equal protection, in linear addresses. */
struct mem_run {
	FILE *out;
	int levels;
	uint64_t start; /* ~0: no run open */
	uint64_t prot;
	uint64_t lines;
	bool io_error;
};

static void mem_note(struct mem_run *r, uint64_t end, uint64_t prot)
{
	if (prot == r->prot)
		return;
	if (r->start != ~0ULL) {
		if (fprintf(r->out, "%016" PRIx64 "-%016" PRIx64 " %016" PRIx64 " %c%c%c\r\n",
			    sign_extend(r->levels, r->start), sign_extend(r->levels, end),
			    sign_extend(r->levels, end - r->start), r->prot & PW_US ? 'u' : '-', 'r',
			    r->prot & PW_RW ? 'w' : '-') < 0)
			r->io_error = true;
		r->lines++;
	}
	r->start = prot ? end : ~0ULL;
	r->prot = prot;
}

/* 4-level: the faithful walk, over the iterator. */
static int info_mem_la48(struct pw_mm *mm, struct mem_run *r, uint64_t max_entries)
{
	uint64_t lin_mask = (1ULL << pw_va_bits(pw_mm_paging(mm)->levels)) - 1;
	uint64_t anc[PW_MAX_LEVELS + 1];
	uint64_t next = 0; /* linear end of the last leaf */
	struct pw_walk_state st;
	int root = pw_root_level(pw_mm_paging(mm)->levels);

	anc[root + 1] = ~0ULL;
	pw_for_each_entry_max(&st, mm, 0, 0, PW_WALK_ALL_SIZES | PW_WALK_ALIASES | PW_WALK_TABLES,
			      max_entries) {
		uint64_t lin = st.start & lin_mask;

		if (st.type == PW_STEP_TABLE) {
			anc[st.level] = anc[st.level + 1] & st.entry;
			continue;
		}
		if (lin != next)
			mem_note(r, next, 0); /* the gap before this leaf */
		mem_note(r, lin, st.entry & anc[st.level + 1] & PROT_BITS);
		next = lin + (st.end - st.start);
	}
	if (!pw_walk_error(&st)) {
		mem_note(r, next, 0); /* the gap after the last leaf */
		mem_note(r, 1ULL << pw_va_bits(pw_mm_paging(mm)->levels), 0); /* QEMU's final flush */
	}
	return pw_walk_error(&st);
}

/*
 * 5-level: QEMU 7.2's mem_info_la57(), whose PDPTE and PDE present tests
 * are inverted. Present PDPTEs and PDEs yield protection 0; a non-present
 * one is read as a leaf when PS is set, else as a table at its address
 * bits. Physical memory the image does not hold reads as zeroes. A
 * subtree whose AND of U/W/P over the levels above is already 0 can only
 * yield 0, and a series of 0s prints nothing after the first: it is noted
 * once and not read.
 */
static uint64_t phys_q(struct pw_mm *mm, uint64_t table, unsigned idx, uint64_t *budget, int *err)
{
	const uint64_t *t = pw_phys_frame(pw_mm_phys(mm), (table & QEMU_PA_4K) >> PW_PAGE_SHIFT);

	if (*budget && !--*budget)
		*err = -E2BIG;
	return t ? pw_entry_read(&t[idx]) : 0;
}

static int info_mem_la57(struct pw_mm *mm, struct mem_run *r, uint64_t max_entries)
{
	uint64_t budget = max_entries ? max_entries + 1 : 0;
	uint64_t root = pw_mm_root(mm) << PW_PAGE_SHIFT;
	int err = 0;

	for (uint64_t l0 = 0; l0 < 512 && !err; l0++) {
		uint64_t e5 = phys_q(mm, root, (unsigned)l0, &budget, &err);

		if (!(e5 & PW_P)) {
			mem_note(r, l0 << 48, 0);
			continue;
		}
		for (uint64_t l1 = 0; l1 < 512 && !err; l1++) {
			uint64_t e4 = phys_q(mm, e5, (unsigned)l1, &budget, &err);
			uint64_t va4 = (l0 << 48) + (l1 << 39);

			if (!(e4 & PW_P)) {
				mem_note(r, va4, 0);
				continue;
			}
			for (uint64_t l2 = 0; l2 < 512 && !err; l2++) {
				uint64_t e3 = phys_q(mm, e4, (unsigned)l2, &budget, &err);
				uint64_t va3 = va4 + (l2 << 30), a3;

				if ((e3 & PW_P) || !(e3 & PW_PS)) {
					a3 = e5 & e4 & e3 & PROT_BITS;
					if ((e3 & PW_P) || !a3) {
						mem_note(r, va3, 0);
						continue;
					}
				} else {
					mem_note(r, va3, e3 & PROT_BITS & e5 & e4);
					continue;
				}
				for (uint64_t l3 = 0; l3 < 512 && !err; l3++) {
					uint64_t e2 = phys_q(mm, e3, (unsigned)l3, &budget, &err);
					uint64_t va2 = va3 + (l3 << 21), a2;

					if (e2 & PW_P) {
						mem_note(r, va2, 0);
						continue;
					}
					if (e2 & PW_PS) {
						mem_note(r, va2, e2 & PROT_BITS & a3);
						continue;
					}
					a2 = a3 & e2;
					if (!a2) {
						mem_note(r, va2, 0);
						continue;
					}
					for (uint64_t l4 = 0; l4 < 512 && !err; l4++) {
						uint64_t e1 = phys_q(mm, e2, (unsigned)l4, &budget, &err);

						mem_note(r, va2 + (l4 << 12),
							 (e1 & PW_P) ? e1 & PROT_BITS & a2 : 0);
					}
				}
			}
		}
	}
	if (!err)
		mem_note(r, 1ULL << 57, 0);
	return err;
}

PW_API int pw_qemu_info_mem(struct pw_mm *mm, FILE *out, uint64_t max_entries, uint64_t *lines)
{
	struct mem_run r = { .out = out, .start = ~0ULL };
	int err;

	if (!mm || !out)
		return -EINVAL;
	r.levels = pw_mm_paging(mm)->levels;
	if (pw_mm_arena(mm))
		pw_mmap_read_lock(mm);
	if (pw_mm_paging(mm)->levels == 5)
		err = info_mem_la57(mm, &r, max_entries);
	else
		err = info_mem_la48(mm, &r, max_entries);
	if (pw_mm_arena(mm))
		pw_mmap_read_unlock(mm);
	if (lines)
		*lines = r.lines;
	return finish_io(out, err, r.io_error);
}
