// SPDX-License-Identifier: MIT
/*
 * Description: the x86-64 entry format helpers of pagewalk/pgtable.h, each
 * check written once and run at every level of 4- and 5-level paging.
 */
#include <pagewalk/pgtable.h>

#include "../tests/tap.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Run @fn(levels, level) for every level of both paging modes. */
static void for_all_levels(void (*fn)(int levels, int level))
{
	for (int levels = 4; levels <= 5; levels++)
		for (int level = 0; level < levels; level++)
			fn(levels, level);
}

#define ALL_LEVELS_TEST(name)                                   \
	static void lvl_##name(int levels, int level);          \
	TEST(name) { for_all_levels(lvl_##name); }              \
	static void lvl_##name(int levels, int level)

ALL_LEVELS_TEST(shift_size_index)
{
	uint64_t size = pw_level_size(level);

	(void)levels;
	CHECK_EQ(pw_level_shift(level), 12 + 9 * level);
	CHECK_EQ(size, 1ULL << (12 + 9 * level));
	CHECK_EQ(pw_level_mask(level), ~(size - 1));
	for (unsigned i = 0; i < 512; i += 73) {
		uint64_t addr = (uint64_t)i << pw_level_shift(level);

		CHECK_EQ(pw_index(level, addr), i);
		CHECK_EQ(pw_index(level, addr + size - 1), i);
		/* Bits above this level's 9 do not leak into the index. */
		if (level < 4)
			CHECK_EQ(pw_index(level, addr | (1ULL << pw_level_shift(level + 1))), i);
	}
	CHECK_EQ(pw_index(level, ~0ULL), 511);
}

ALL_LEVELS_TEST(addr_end)
{
	uint64_t size = pw_level_size(level);
	uint64_t base = 5 * size, last = ~0ULL & pw_level_mask(level);

	(void)levels;
	/* Inside an entry: the entry's end, or the walk's end if that comes first. */
	CHECK_EQ(pw_addr_end(level, base, base + 3 * size), base + size);
	CHECK_EQ(pw_addr_end(level, base + size / 2, base + 3 * size), base + size);
	CHECK_EQ(pw_addr_end(level, base, base + 4096), base + 4096);
	/* end == 0 is the top of the address space. */
	CHECK_EQ(pw_addr_end(level, base, 0), base + size);
	/* The last entry: its boundary wraps to 0, which compares as the top. */
	CHECK_EQ(pw_addr_end(level, last, 0), 0);
	CHECK_EQ(pw_addr_end(level, last + 4096 * (level > 0), 0), 0);
	CHECK_EQ(pw_addr_end(level, last, last + 4096), last + 4096);
	/* The second-to-last entry with end == 0 still stops at the last one. */
	CHECK_EQ(pw_addr_end(level, last - size, 0), last);
}

ALL_LEVELS_TEST(canonical_halves)
{
	uint64_t lo = pw_low_half_end(levels), hi = pw_high_half_start(levels);
	unsigned bits = levels == 4 ? 48 : 57;

	if (level != 0)
		return; /* per paging mode, not per level */
	CHECK_EQ(pw_va_bits(levels), bits);
	CHECK_EQ(lo, 1ULL << (bits - 1));
	CHECK_EQ(hi, ~0ULL << (bits - 1));
	CHECK(pw_canonical(levels, 0));
	CHECK(pw_canonical(levels, lo - 1));
	CHECK(!pw_canonical(levels, lo));
	CHECK(!pw_canonical(levels, hi - 1));
	CHECK(pw_canonical(levels, hi));
	CHECK(pw_canonical(levels, ~0ULL));
	CHECK(!pw_canonical(levels, 1ULL << 63));
	CHECK(!pw_canonical(levels, 1ULL << bits));
	CHECK_EQ(pw_root_level(levels), levels - 1);
	/* Both halves are exactly half of the root table each. */
	CHECK_EQ(pw_index(pw_root_level(levels), lo - 1), 255);
	CHECK_EQ(pw_index(pw_root_level(levels), hi), 256);
}

ALL_LEVELS_TEST(entry_classes)
{
	bool can_leaf = level == 1 || level == 2;
	uint64_t tbl = pw_mk_table(0x1234, PW_RW | PW_US);
	uint64_t ps = PW_P | PW_PS | (0x40000ULL << 12);

	(void)levels;
	CHECK(pw_entry_none(0));
	CHECK(!pw_entry_present(0) && !pw_entry_leaf(level, 0) && !pw_entry_table(level, 0));
	/* A present entry without PS: a PTE is a leaf, anything above a table. */
	CHECK(!pw_entry_none(tbl) && pw_entry_present(tbl));
	CHECK_EQ(pw_entry_leaf(level, tbl), level == 0);
	CHECK_EQ(pw_entry_table(level, tbl), level > 0);
	/* PS: a leaf at levels 1 and 2 (and PAT at level 0); never a leaf at 3, 4. */
	CHECK_EQ(pw_entry_leaf(level, ps), level == 0 || can_leaf);
	CHECK_EQ(pw_entry_table(level, ps), level >= 3);
	CHECK_EQ(pw_level_can_leaf(level), can_leaf);
	/* Not present: neither leaf nor table, but not none either. */
	CHECK(!pw_entry_none(ps & ~PW_P));
	CHECK(!pw_entry_present(ps & ~PW_P));
	CHECK(!pw_entry_leaf(level, ps & ~PW_P) && !pw_entry_table(level, ps & ~PW_P));
}

ALL_LEVELS_TEST(entry_pfn_maxphyaddr)
{
	static const unsigned widths[] = { 36, 39, 46, 52 };
	bool leaf = level == 0 || level == 1 || level == 2;

	(void)levels;
	for (unsigned i = 0; i < ARRAY_LEN(widths); i++) {
		unsigned m = widths[i];
		uint64_t frames = 1ULL << (m - 12);
		uint64_t pfn = (frames - 1) & ~((pw_level_size(level) >> 12) - 1);
		uint64_t junk = PW_NX | PW_PKEY_MASK | PW_SW_HIGH_MASK | (m < 52 ? 1ULL << 51 : 0);
		uint64_t v = (pfn << 12) | junk | PW_P | PW_RW | PW_A | PW_D;
		uint64_t leafv = v | (level > 0 ? PW_PS : 0);

		CHECK_EQ(pw_frame_field_mask(m), ((1ULL << m) - 1) & ~0xfffULL);
		/* Table entries: the whole field below M. */
		if (level > 0) {
			uint64_t odd = (frames - 1) << 12 | junk | PW_P;

			CHECK_EQ(pw_entry_pfn(level, odd, m), frames - 1);
			CHECK_EQ(pw_entry_flags(level, odd, m), junk | PW_P);
		}
		/* Leaves: the field below M, aligned to the leaf size. */
		if (leaf) {
			CHECK_EQ(pw_entry_pfn(level, leafv, m), pfn);
			if (level > 0) {
				uint64_t pat = leafv | PW_PAT_LARGE;

				CHECK_EQ(pw_entry_pfn(level, pat, m), pfn);
				CHECK(pw_entry_pat(level, pat));
				CHECK(!pw_entry_pat(level, leafv));
			} else {
				CHECK(pw_entry_pat(level, leafv | PW_PAT));
				CHECK_EQ(pw_entry_pfn(level, leafv | PW_PAT, m), pfn);
			}
		}
	}
}

ALL_LEVELS_TEST(entry_rsvd)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	uint64_t good, v;

	cfg.levels = (uint8_t)levels;
	good = level == 0 || level > 2 ? pw_mk_table(0x1000, PW_RW | PW_US | PW_NX)
				       : pw_mk_leaf(level, 1ULL << (9 * level), PW_P | PW_RW | PW_NX);
	CHECK_EQ(pw_entry_rsvd(&cfg, level, good), 0);
	/* Non-present entries have no reserved bits. */
	CHECK_EQ(pw_entry_rsvd(&cfg, level, ~0ULL & ~PW_P), 0);
	/* Address bits 51:M. */
	for (unsigned m = 36; m <= 52; m += 8) {
		cfg.maxphyaddr = (uint8_t)m;
		v = good | (1ULL << 51);
		CHECK_EQ(pw_entry_rsvd(&cfg, level, v), m < 52 ? 1ULL << 51 : 0);
		v = good | (1ULL << (m < 52 ? m : 51));
		CHECK_EQ(pw_entry_rsvd(&cfg, level, v), m < 52 ? 1ULL << m : 0);
	}
	cfg.maxphyaddr = 46;
	CHECK_EQ(pw_entry_rsvd(&cfg, level, good | (1ULL << 45)), 0);
	/* NX without EFER.NXE. */
	cfg.nxe = false;
	CHECK_EQ(pw_entry_rsvd(&cfg, level, good), PW_NX);
	cfg.nxe = true;
	/* PS at levels 3 and 4 is reserved; at 0 it is PAT, at 1 and 2 a leaf. */
	v = pw_mk_table(0x40000, PW_RW) | PW_PS;
	CHECK_EQ(pw_entry_rsvd(&cfg, level, v), level >= 3 ? PW_PS : 0);
	/* 1 GiB leaves without pdpe1gb. */
	cfg.pdpe1gb = false;
	v = pw_mk_leaf(level < 3 ? level : 2, 1ULL << 18, PW_P | PW_RW);
	CHECK_EQ(pw_entry_rsvd(&cfg, level, v), level == 2 || level >= 3 ? PW_PS : 0);
	cfg.pdpe1gb = true;
	/* Bits between the large-page PAT bit and the frame: 20:13 and 29:13. */
	if (level == 1 || level == 2) {
		uint64_t low = ((1ULL << pw_level_shift(level)) - 1) & ~((1ULL << 13) - 1);

		CHECK_EQ(pw_entry_rsvd(&cfg, level, good | (1ULL << 13)), 1ULL << 13);
		CHECK_EQ(pw_entry_rsvd(&cfg, level, good | low), low);
		CHECK_EQ(pw_entry_rsvd(&cfg, level, good | PW_PAT_LARGE), 0);
		/* The same bits in a table entry at that level are address bits. */
		CHECK_EQ(pw_entry_rsvd(&cfg, level, (good & ~PW_PS) | low), 0);
	} else {
		CHECK_EQ(pw_entry_rsvd(&cfg, level, good | (1ULL << 13) | (1ULL << 20)), 0);
	}
}

ALL_LEVELS_TEST(mk_leaf_and_to_pte)
{
	uint64_t npages = pw_level_size(level) >> 12;
	uint64_t pfn = 7 * npages, flags = PW_P | PW_RW | PW_US | PW_A | PW_G | PW_NX | PW_PCD;

	(void)levels;
	if (level > 2)
		return; /* no leaves above the PDPT */
	uint64_t v = pw_mk_leaf(level, pfn, flags);

	CHECK(pw_entry_leaf(level, v));
	CHECK_EQ(pw_entry_pfn(level, v, 46), pfn);
	CHECK_EQ(v & PW_PS, level > 0 ? PW_PS : 0);
	CHECK_EQ(pw_entry_flags(level, v, 46) & ~PW_PS, flags);
	/* A PAT request (bit 7) moves to bit 12 above level 0. */
	uint64_t pv = pw_mk_leaf(level, pfn, flags | PW_PAT);

	CHECK(pw_entry_pat(level, pv));
	if (level > 0)
		CHECK_EQ(pv & PW_PAT_LARGE, PW_PAT_LARGE);
	CHECK_EQ(pw_entry_pfn(level, pv, 46), pfn);
	/* Every 4 KiB piece: frame advanced, PS dropped, PAT back at bit 7. */
	for (uint64_t i = 0; i < npages; i += (npages > 1 ? npages / 4 + 1 : 1)) {
		uint64_t addr = 0x7f0000000000ULL + 9 * pw_level_size(level) + (i << 12) + 123;
		uint64_t pte = pw_leaf_to_pte(level, pv, addr, 46);

		CHECK_EQ(pw_entry_pfn(0, pte, 46), pfn + i);
		CHECK(pw_entry_pat(0, pte));
		CHECK_EQ(pte & ~pw_frame_field_mask(46), flags | PW_PAT);
		/* Without PAT, bit 7 stays clear (PS must not survive as PAT). */
		pte = pw_leaf_to_pte(level, v, addr, 46);
		CHECK_EQ(pte, ((pfn + i) << 12) | flags);
	}
}

ALL_LEVELS_TEST(names_and_depth)
{
	static const char *const names[] = { "pte", "pmd", "pud", "p4d", "pgd" };
	const char *want = names[level];

	if (levels == 4 && level == 3)
		want = "pgd"; /* the P4D is folded into the PGD */
	CHECK(strcmp(pw_level_name(levels, level), want) == 0);
	if (levels == 5)
		CHECK_EQ(pw_depth(levels, level), 4 - level);
	else
		CHECK_EQ(pw_depth(levels, level), level == 3 ? 0 : 4 - level);
	/* The root is always depth 0 and named pgd. */
	CHECK_EQ(pw_depth(levels, pw_root_level(levels)), 0);
	CHECK(strcmp(pw_level_name(levels, pw_root_level(levels)), "pgd") == 0);
	CHECK(strcmp(pw_level_name(levels, -1), "?") == 0);
	CHECK(strcmp(pw_level_name(levels, 5), "?") == 0);
}

/* The typed per-level wrappers agree with the generic helpers. */
TEST(typed_wrappers)
{
	uint64_t a = 0x00007abcdef12000ULL, end = a + (1ULL << 40);
	pw_pmd_t pmd = { pw_mk_leaf(1, 512, PW_P) };
	pw_pte_t pte = { 0 };
	pw_pud_t pud = { pw_mk_table(3, 0) };

	CHECK_EQ(pw_pgd_index(a), pw_index(4, a));
	CHECK_EQ(pw_p4d_index(a), pw_index(3, a));
	CHECK_EQ(pw_pud_index(a), pw_index(2, a));
	CHECK_EQ(pw_pmd_index(a), pw_index(1, a));
	CHECK_EQ(pw_pte_index(a), pw_index(0, a));
	CHECK_EQ(pw_pmd_addr_end(a, end), pw_addr_end(1, a, end));
	CHECK_EQ(pw_pud_addr_end(a, 0), pw_addr_end(2, a, 0));
	CHECK(pw_pmd_leaf(pmd) && pw_pmd_present(pmd) && !pw_pmd_none(pmd));
	CHECK(pw_pte_none(pte) && !pw_pte_present(pte));
	CHECK(!pw_pud_leaf(pud) && pw_pud_val(pud) == pw_mk_table(3, 0));
	CHECK_EQ(pw_pmdp_get(&pmd).val, pmd.val);
}

int main(void)
{
	tap_start();
	RUN(shift_size_index);
	RUN(addr_end);
	RUN(canonical_halves);
	RUN(entry_classes);
	RUN(entry_pfn_maxphyaddr);
	RUN(entry_rsvd);
	RUN(mk_leaf_and_to_pte);
	RUN(names_and_depth);
	RUN(typed_wrappers);
	return tap_done();
}
