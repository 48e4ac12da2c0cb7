// SPDX-License-Identifier: MIT
/*
 * fuzz_image.c - libFuzzer target over the bytes of a memory image.
 *
 * The input is opened as an image (ELF core, zstd, raw) and, if that
 * works, walked every way the library offers: the alias-checked iterator
 * (bounded by the image), the alias-following one and the QEMU and Linux
 * dumps (bounded by an entry limit), translations and reads. Any crash,
 * sanitizer report, leak or unbounded walk is a bug.
 *
 *	make fuzz                  # long run (FUZZ_TIME seconds)
 *	make test                  # includes a few seconds (tests/fuzz/smoke.sh)
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pagewalk/image.h>
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/ptdump.h>
#include <pagewalk/qemu.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES (1u << 16)

static FILE *nul;

/* Callbacks of the no-VMA walk: count, and stop (then trap) past the bound. */
struct cb_count {
	uint64_t n, bound;
};

static int count_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	struct cb_count *c = walk->private;

	(void)pw_ptep_get(pte);
	return ++c->n > c->bound;
}

static int count_hole(uint64_t addr, uint64_t next, int depth, struct pw_mm_walk *walk)
{
	struct cb_count *c = walk->private;

	return ++c->n > c->bound;
}

static void walk_all(struct pw_image *img, struct pw_mm *mm, const uint8_t *data, size_t size)
{
	struct pw_ptdump_opts po = { .max_entries = MAX_ENTRIES };
	struct pw_walk_state st;
	uint64_t n = 0, bound;
	struct pw_image_info info;

	pw_image_info(img, &info);
	/* Alias-checked: at most 512 entries per (frame, level), plus holes. */
	bound = (info.bytes / 4096 + 1) * 512 * 5 + 16;
	pw_for_each_entry(&st, mm, 0, 0, PW_WALK_HOLES | PW_WALK_TABLES | PW_WALK_ALL_SIZES) {
		if (++n > bound)
			__builtin_trap(); /* the alias check did not bound the walk */
		if (st.type == PW_STEP_HOLE && st.reason > PW_HOLE_ALIAS)
			__builtin_trap();
	}
	pw_for_each_entry_max(&st, mm, 0, 0, PW_WALK_ALIASES | PW_WALK_ALL_SIZES, MAX_ENTRIES)
		n++;
	{
		/* The callback walker: alias-checked on a foreign mm, so bounded too. */
		static const struct pw_walk_ops ops = { .pte_entry = count_pte, .pte_hole = count_hole,
							.walk_lock = PW_WALK_LOCKLESS };
		struct cb_count c = { 0, bound };

		if (pw_walk_page_range_novma(mm, 0, 0, &ops, PW_ROOT_DEFAULT, &c) > 0)
			__builtin_trap();
	}
	pw_qemu_info_tlb(mm, nul, MAX_ENTRIES, NULL);
	pw_qemu_info_mem(mm, nul, MAX_ENTRIES, NULL);
	pw_ptdump(mm, nul, &po, NULL);
	for (size_t i = 0; i + 8 <= size && i < 64; i += 8) {
		struct pw_translation t;
		uint64_t va, buf[2];

		memcpy(&va, data + i, 8);
		if (!pw_translate(mm, va & ~0xfffULL, &t))
			pw_image_read(img, t.phys, buf, sizeof(buf));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned modes[] = { 0, PW_IMAGE_RAW };

	if (!nul)
		nul = fopen("/dev/null", "w");
	for (unsigned m = 0; m < 2; m++) {
		struct pw_paging cfg = PW_PAGING_DEFAULT;
		struct pw_image *img;
		struct pw_mm *mm;
		uint64_t root = 1;

		if (pw_image_open_mem(data, size, modes[m], &img))
			continue;
		if (pw_image_paging(img, 0, &cfg, &root)) {
			/* No CPU note: let the first bytes choose the mode and root. */
			cfg.maxphyaddr = 52;
			cfg.levels = size && (data[0] & 1) ? 5 : 4;
			root = size > 1 ? data[1] & 7 : 1;
		}
		if (!pw_mm_create_foreign(pw_image_phys(img), &cfg, root, &mm)) {
			walk_all(img, mm, data, size);
			pw_mm_destroy(mm);
		}
		pw_image_close(img);
	}
	return 0;
}
