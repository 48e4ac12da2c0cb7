/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/pgtable.h - the x86-64 page-table entry format.
 *
 * Entries are laid out exactly as the Intel SDM Vol. 3A, section 4.5
 * ("4-Level Paging and 5-Level Paging"), tables 4-15 .. 4-20, defines them.
 *
 * Levels are numbered bottom-up, as generic_pt does:
 *
 *   level  hardware name   Linux name   one entry maps
 *   0      PT   (PTE)      pte          4 KiB
 *   1      PD   (PDE)      pmd          2 MiB   (leaf when PS=1)
 *   2      PDPT (PDPTE)    pud          1 GiB   (leaf when PS=1)
 *   3      PML4 (PML4E)    p4d          512 GiB
 *   4      PML5 (PML5E)    pgd          256 TiB (5-level paging only)
 *
 * With 4-level paging the root is the PML4 (level 3). Linux then folds the
 * P4D into the PGD and calls the root "pgd"; pw_level_name() follows that.
 *
 * Every helper here takes the level as a parameter: there is one body for
 * all five levels. Typed per-level names (pw_pmd_t, pw_pmd_none(), ...) are
 * generated from one list, PW_FOR_EACH_LEVEL(), on top of the generic ones.
 */
#ifndef PAGEWALK_PGTABLE_H
#define PAGEWALK_PGTABLE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PW_PAGE_SHIFT 12
#define PW_PAGE_SIZE (1ULL << PW_PAGE_SHIFT)
#define PW_PAGE_MASK (~(PW_PAGE_SIZE - 1))
#define PW_TABLE_SHIFT 9
#define PW_PTRS_PER_TABLE 512
#define PW_MAX_LEVELS 5

#define PW_PMD_SIZE (1ULL << 21)
#define PW_PUD_SIZE (1ULL << 30)

/** enum pw_level - page-table level, bottom-up (shift = 12 + 9 * level). */
enum pw_level {
	PW_LEVEL_PTE = 0,
	PW_LEVEL_PMD = 1,
	PW_LEVEL_PUD = 2,
	PW_LEVEL_P4D = 3,
	PW_LEVEL_PGD = 4,
};

/* Entry bits (SDM Vol. 3A, tables 4-15 .. 4-20). */
enum {
	PW_P = 1ULL << 0,	  /* present */
	PW_RW = 1ULL << 1,	  /* writable */
	PW_US = 1ULL << 2,	  /* user accessible */
	PW_PWT = 1ULL << 3,	  /* page-level write-through */
	PW_PCD = 1ULL << 4,	  /* page-level cache disable */
	PW_A = 1ULL << 5,	  /* accessed */
	PW_D = 1ULL << 6,	  /* dirty (leaves only) */
	PW_PS = 1ULL << 7,	  /* page size, levels 1 and 2 only */
	PW_PAT = 1ULL << 7,	  /* PAT bit of a 4 KiB PTE (same bit as PS) */
	PW_G = 1ULL << 8,	  /* global (leaves only) */
	PW_SW1 = 1ULL << 9,	  /* ignored by hardware: software use */
	PW_SW2 = 1ULL << 10,
	PW_SW3 = 1ULL << 11,
	PW_PAT_LARGE = 1ULL << 12, /* PAT bit of a 2 MiB / 1 GiB leaf */
};
#define PW_NX (1ULL << 63)		/* execute disable (needs EFER.NXE) */
#define PW_PKEY_SHIFT 59		/* protection key, bits 62:59 (leaves, CR4.PKE) */
#define PW_PKEY_MASK (0xfULL << PW_PKEY_SHIFT)
#define PW_SW_HIGH_MASK (0x7fULL << 52) /* bits 58:52, ignored by hardware */

/*
 * Software bits this library gives a meaning to. Hardware ignores them.
 * PW_SW_PROTNONE marks a PROT_NONE entry: P is clear but the entry still
 * holds its frame (Linux uses the G bit for this; we use an ignored bit so
 * a non-present entry is never mistaken for a global one).
 */
#define PW_SW_PROTNONE PW_SW1
/* Soft-dirty (x86 Linux's _PAGE_SOFT_DIRTY, bit 11): set with D by every
 * write fault, cleared by pw_clear_refs() (pagewalk/pagemap.h). */
#define PW_SW_SOFTDIRTY PW_SW3

/** Protection-relevant bits of an entry, as Linux's PTE_FLAGS_MASK sees them
 *  for a given MAXPHYADDR: everything outside the frame-number field. */
static inline uint64_t pw_frame_field_mask(unsigned maxphyaddr)
{
	return ((1ULL << maxphyaddr) - 1) & PW_PAGE_MASK;
}

/**
 * struct pw_paging - the paging mode an entry is interpreted in.
 * @levels: 4 (48-bit virtual addresses) or 5 (57-bit, CR4.LA57).
 * @maxphyaddr: physical address width M (SDM 4.1.4): bits 51:M of every
 *              entry's address field are reserved. 36..52.
 * @nxe: EFER.NXE. When clear, bit 63 is reserved.
 * @pdpe1gb: 1 GiB pages supported; when clear, PS=1 at level 2 is reserved.
 * @pke: CR4.PKE; protection keys in bits 62:59 of user leaves.
 */
struct pw_paging {
	uint8_t levels;
	uint8_t maxphyaddr;
	bool nxe;
	bool pdpe1gb;
	bool pke;
};

/** PW_PAGING_DEFAULT - 4-level, MAXPHYADDR 46, NX and 1 GiB pages on. */
#define PW_PAGING_DEFAULT \
	((struct pw_paging){ .levels = 4, .maxphyaddr = 46, .nxe = true, .pdpe1gb = true, .pke = false })

/* ---- addresses ------------------------------------------------------- */

static inline unsigned pw_level_shift(enum pw_level level)
{
	return PW_PAGE_SHIFT + PW_TABLE_SHIFT * (unsigned)level;
}

static inline uint64_t pw_level_size(enum pw_level level)
{
	return 1ULL << pw_level_shift(level);
}

static inline uint64_t pw_level_mask(enum pw_level level)
{
	return ~(pw_level_size(level) - 1);
}

/** pw_index() - index of @addr's entry in a level-@level table. */
static inline unsigned pw_index(enum pw_level level, uint64_t addr)
{
	return (unsigned)(addr >> pw_level_shift(level)) & (PW_PTRS_PER_TABLE - 1);
}

/**
 * pw_addr_end() - end of the level-@level entry that holds @addr, clipped to @end.
 *
 * Wrap-safe: @end == 0 means the top of the 64-bit space, and the boundary
 * after the last entry (which wraps to 0) compares as the top too.
 */
static inline uint64_t pw_addr_end(enum pw_level level, uint64_t addr, uint64_t end)
{
	uint64_t boundary = (addr + pw_level_size(level)) & pw_level_mask(level);

	return (boundary - 1 < end - 1) ? boundary : end;
}

/** pw_va_bits() - virtual address width: 48 or 57. */
static inline unsigned pw_va_bits(int levels)
{
	return PW_PAGE_SHIFT + PW_TABLE_SHIFT * (unsigned)levels;
}

/** pw_canonical() - true if bits 63:va_bits-1 of @addr are all equal. */
static inline bool pw_canonical(int levels, uint64_t addr)
{
	unsigned shift = pw_va_bits(levels) - 1;
	uint64_t top = addr >> shift;

	return top == 0 || top == (~0ULL >> shift);
}

/** pw_low_half_end() - first address past the lower canonical half (1 << 47 or 1 << 56). */
static inline uint64_t pw_low_half_end(int levels)
{
	return 1ULL << (pw_va_bits(levels) - 1);
}

/** pw_high_half_start() - first address of the upper canonical half. */
static inline uint64_t pw_high_half_start(int levels)
{
	return ~0ULL << (pw_va_bits(levels) - 1);
}

/** pw_root_level() - level of the root table: levels - 1. */
static inline int pw_root_level(int levels)
{
	return levels - 1;
}

/**
 * pw_depth() - Linux's top-down depth of a level: 0 = PGD, 1 = P4D, 2 = PUD,
 * 3 = PMD, 4 = PTE. This is the one rule for the folded root: with 4-level
 * paging the root is the PML4, PW_LEVEL_P4D in our numbering, and Linux
 * folds the P4D into the PGD, so the root reports as depth 0 ("pgd"), as
 * the kernel's real_depth() makes pte_hole() report it. Levels are always
 * the hardware's; names (pw_level_name()), pte_hole depths and ptdump's
 * columns all come from this depth.
 * Return: the depth; -1 for a level above the root of 5-level paging.
 */
static inline int pw_depth(int levels, enum pw_level level)
{
	int depth = PW_LEVEL_PGD - (int)level;

	if (levels == 4 && depth == 1)
		depth = 0;
	return depth;
}

/**
 * pw_level_name() - Linux's name for a level: "pte", "pmd", "pud", "p4d",
 * "pgd", by its pw_depth() (so the root of 4-level paging is "pgd").
 * Context: any. Return: a static string; "?" for a level outside 0..4.
 */
const char *pw_level_name(int levels, enum pw_level level);

/* ---- entries (level-parameterised) ------------------------------------ */

static inline bool pw_entry_none(uint64_t v)
{
	return v == 0;
}

static inline bool pw_entry_present(uint64_t v)
{
	return v & PW_P;
}

/** pw_entry_huge_capable() - can a level hold a leaf (PS=1)? Levels 1 and 2. */
static inline bool pw_level_can_leaf(enum pw_level level)
{
	return level == PW_LEVEL_PMD || level == PW_LEVEL_PUD;
}

/**
 * pw_entry_leaf() - does a present entry at @level map memory (rather than a table)?
 * Always at level 0; at levels 1 and 2 when PS is set. PS at levels 3 and 4 is
 * reserved (see pw_entry_rsvd()), never a leaf.
 */
static inline bool pw_entry_leaf(enum pw_level level, uint64_t v)
{
	if (!(v & PW_P))
		return false;
	return level == PW_LEVEL_PTE || (pw_level_can_leaf(level) && (v & PW_PS));
}

/** pw_entry_table() - a present entry that points to a lower-level table. */
static inline bool pw_entry_table(enum pw_level level, uint64_t v)
{
	return (v & PW_P) && level > PW_LEVEL_PTE && !pw_entry_leaf(level, v);
}

/** pw_entry_addr_mask() - the address field of a @level entry (leaf or table). */
static inline uint64_t pw_entry_addr_mask(enum pw_level level, uint64_t v, unsigned maxphyaddr)
{
	uint64_t mask = pw_frame_field_mask(maxphyaddr);

	if (level > PW_LEVEL_PTE && pw_entry_leaf(level, v))
		mask &= pw_level_mask(level);
	return mask;
}

/** pw_entry_pfn() - the first 4 KiB frame an entry points at (table or leaf). */
static inline uint64_t pw_entry_pfn(enum pw_level level, uint64_t v, unsigned maxphyaddr)
{
	return (v & pw_entry_addr_mask(level, v, maxphyaddr)) >> PW_PAGE_SHIFT;
}

/** pw_entry_flags() - every bit of @v outside its address field. */
static inline uint64_t pw_entry_flags(enum pw_level level, uint64_t v, unsigned maxphyaddr)
{
	return v & ~pw_entry_addr_mask(level, v, maxphyaddr);
}

/** pw_entry_pat() - the PAT bit of a leaf: bit 7 at level 0, bit 12 above. */
static inline bool pw_entry_pat(enum pw_level level, uint64_t v)
{
	return level == PW_LEVEL_PTE ? (v & PW_PAT) : (v & PW_PAT_LARGE);
}

/**
 * pw_entry_rsvd() - reserved bits set in a present entry (SDM 4.5.4, table 4-20).
 * @cfg: paging mode.
 * @level: the entry's level.
 * @v: the entry.
 *
 * Context: any (a pure function).
 * Return: the mask of reserved bits that are set; 0 for a well-formed or
 * non-present entry. Checked: address bits 51:M; bit 63 without NXE; PS at
 * levels 3 and 4; PS at level 2 without 1 GiB page support; bits 20:13 of a
 * 2 MiB leaf and 29:13 of a 1 GiB leaf.
 */
uint64_t pw_entry_rsvd(const struct pw_paging *cfg, enum pw_level level, uint64_t v);

/**
 * pw_mk_leaf() - make a leaf entry for @pfn at @level with @flags.
 * At levels 1 and 2 PS is set and a 4 KiB-style PAT bit (bit 7) in @flags is
 * moved to bit 12. @pfn must be aligned to the leaf size.
 */
static inline uint64_t pw_mk_leaf(enum pw_level level, uint64_t pfn, uint64_t flags)
{
	uint64_t v = (pfn << PW_PAGE_SHIFT) | flags;

	if (level > PW_LEVEL_PTE) {
		if (flags & PW_PAT)
			v |= PW_PAT_LARGE;
		v |= PW_PS;
	}
	return v;
}

/** pw_mk_table() - make a table entry for the table in frame @pfn. */
static inline uint64_t pw_mk_table(uint64_t pfn, uint64_t flags)
{
	return (pfn << PW_PAGE_SHIFT) | flags | PW_P;
}

/**
 * pw_leaf_to_pte() - the 4 KiB PTE that describes page @addr inside a huge
 * leaf @v at @level: frame advanced by the page's offset, PS dropped, PAT
 * moved from bit 12 to bit 7.
 */
static inline uint64_t pw_leaf_to_pte(enum pw_level level, uint64_t v, uint64_t addr, unsigned maxphyaddr)
{
	uint64_t pfn, flags;

	if (level == PW_LEVEL_PTE)
		return v;
	pfn = pw_entry_pfn(level, v, maxphyaddr) + ((addr & ~pw_level_mask(level)) >> PW_PAGE_SHIFT);
	flags = pw_entry_flags(level, v, maxphyaddr) & ~(PW_PS | PW_PAT_LARGE);
	if (v & PW_PAT_LARGE)
		flags |= PW_PAT;
	return (pfn << PW_PAGE_SHIFT) | flags;
}

/**
 * pw_entry_read() - read an entry once, atomically (READ_ONCE). It is an
 * acquire load (a plain load on x86-64): a table published by
 * pw_entry_write() is seen initialised by whoever follows the entry to it,
 * also walkers that hold no lock excluding the fault that published it.
 */
static inline uint64_t pw_entry_read(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/** pw_entry_write() - write an entry once, atomically, publishing prior writes. */
static inline void pw_entry_write(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* ---- swap-format entries: device-exclusive ------------------------------ */

/*
 * A swap-format entry is a non-present PTE (P clear) that holds data for
 * software, laid out as x86-64 Linux lays out its swap entries
 * (arch/x86/include/asm/pgtable_64.h), adapted to this library's software
 * bits:
 *
 *   bit   63..59   58 ............ 12  11 10  9  8  7  6  5   4   3   2   1   0
 *         TYPE     ~OFFSET (inverted)   0  0  0  0  0  0  0   A   D   W  SD   P=0
 *
 *   P (0)        clear: the MMU faults on the entry.
 *   SD (1)       the page was soft-dirty (PW_SW_SOFTDIRTY of the replaced PTE).
 *   W (2)        the page was mapped writable (PW_RW).
 *   D (3)        the page was dirty (PW_D).
 *   A (4)        the page was accessed (PW_A).
 *   5, 6         always 0: A and D of a non-present entry can be set by
 *                hardware (an erratum), so they carry nothing.
 *   9            always 0: bit 9 set with P clear is a PROT_NONE leaf
 *                (PW_SW_PROTNONE), which keeps its frame in the usual place.
 *   12 .. 58     OFFSET, stored inverted (the kernel's L1TF mitigation): the
 *                bits a speculating CPU would take as a frame point above
 *                physical memory, and code that reads the frame field of a
 *                non-present entry without knowing this format finds no
 *                frame at all.
 *   59 .. 63     TYPE; never 0, so an entry is never none.
 *
 * For a device-exclusive entry (PW_SWP_DEVICE_EXCLUSIVE, the kernel's
 * SWP_DEVICE_EXCLUSIVE) OFFSET is the frame the entry stands for: the page
 * stays mapped (its map count and the mapping's reference are kept), but
 * only the device may touch it; a CPU access faults and restores the PTE
 * (pagewalk/devx.h).
 */
#define PW_SWP_TYPE_SHIFT 59
#define PW_SWP_OFFSET_SHIFT 12
#define PW_SWP_OFFSET_BITS 47
#define PW_SWP_SOFTDIRTY (1ULL << 1)
#define PW_SWP_WRITE (1ULL << 2)
#define PW_SWP_DIRTY (1ULL << 3)
#define PW_SWP_YOUNG (1ULL << 4)
#define PW_SWP_FLAGS (PW_SWP_SOFTDIRTY | PW_SWP_WRITE | PW_SWP_DIRTY | PW_SWP_YOUNG)

/** Swap-entry types (bits 63:59). Only device-exclusive entries exist in arena tables. */
enum {
	PW_SWP_DEVICE_EXCLUSIVE = 1,
};

/** pw_swp_type() - the TYPE of a swap-format entry; 0 if @v is not one (present, none, PROT_NONE). */
static inline unsigned pw_swp_type(uint64_t v)
{
	if (!v || (v & (PW_P | PW_SW_PROTNONE)))
		return 0;
	return (unsigned)(v >> PW_SWP_TYPE_SHIFT);
}

/** pw_swp_offset() - the OFFSET of a swap-format entry (for device-exclusive: the frame). */
static inline uint64_t pw_swp_offset(uint64_t v)
{
	return (~v >> PW_SWP_OFFSET_SHIFT) & ((1ULL << PW_SWP_OFFSET_BITS) - 1);
}

/** pw_mk_swp() - a swap-format entry of @type (1..31) for @offset with PW_SWP_* @flags. */
static inline uint64_t pw_mk_swp(unsigned type, uint64_t offset, uint64_t flags)
{
	uint64_t inv = (~offset & ((1ULL << PW_SWP_OFFSET_BITS) - 1)) << PW_SWP_OFFSET_SHIFT;

	return ((uint64_t)type << PW_SWP_TYPE_SHIFT) | inv | (flags & PW_SWP_FLAGS);
}

/** pw_is_device_exclusive() - is @v a device-exclusive entry? */
static inline bool pw_is_device_exclusive(uint64_t v)
{
	return pw_swp_type(v) == PW_SWP_DEVICE_EXCLUSIVE;
}

/**
 * pw_mk_device_exclusive() - the device-exclusive entry replacing the present
 * PTE @pte that maps frame @pfn: W, D, A and soft-dirty are kept.
 */
static inline uint64_t pw_mk_device_exclusive(uint64_t pfn, uint64_t pte)
{
	uint64_t f = 0;

	if (pte & PW_RW)
		f |= PW_SWP_WRITE;
	if (pte & PW_D)
		f |= PW_SWP_DIRTY;
	if (pte & PW_A)
		f |= PW_SWP_YOUNG;
	if (pte & PW_SW_SOFTDIRTY)
		f |= PW_SWP_SOFTDIRTY;
	return pw_mk_swp(PW_SWP_DEVICE_EXCLUSIVE, pfn, f);
}

/* ---- typed per-level names -------------------------------------------- */

/*
 * PW_FOR_EACH_LEVEL(X) expands X(name, LEVEL) once per level. It generates:
 *   pw_pgd_t pw_p4d_t pw_pud_t pw_pmd_t pw_pte_t          (entry types)
 *   pw_<name>_val()  pw_<name>_none()  pw_<name>_present()  pw_<name>_leaf()
 *   pw_<name>_index()  pw_<name>_addr_end()  pw_<name>p_get()
 * The types differ, so mixing levels is a compile error.
 */
#define PW_FOR_EACH_LEVEL(X) \
	X(pgd, PW_LEVEL_PGD) \
	X(p4d, PW_LEVEL_P4D) \
	X(pud, PW_LEVEL_PUD) \
	X(pmd, PW_LEVEL_PMD) \
	X(pte, PW_LEVEL_PTE)

#define PW_DEFINE_LEVEL(name, LEVEL) \
	typedef struct { uint64_t val; } pw_##name##_t; \
	static inline uint64_t pw_##name##_val(pw_##name##_t e) { return e.val; } \
	static inline bool pw_##name##_none(pw_##name##_t e) { return pw_entry_none(e.val); } \
	static inline bool pw_##name##_present(pw_##name##_t e) { return pw_entry_present(e.val); } \
	static inline bool pw_##name##_leaf(pw_##name##_t e) { return pw_entry_leaf(LEVEL, e.val); } \
	static inline unsigned pw_##name##_index(uint64_t addr) { return pw_index(LEVEL, addr); } \
	static inline uint64_t pw_##name##_addr_end(uint64_t addr, uint64_t end) \
	{ return pw_addr_end(LEVEL, addr, end); } \
	static inline pw_##name##_t pw_##name##p_get(const pw_##name##_t *p) \
	{ return (pw_##name##_t){ pw_entry_read(&p->val) }; }

PW_FOR_EACH_LEVEL(PW_DEFINE_LEVEL)
#undef PW_DEFINE_LEVEL

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_PGTABLE_H */
