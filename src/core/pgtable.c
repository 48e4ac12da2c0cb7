// SPDX-License-Identifier: MIT
/*
 * pgtable.c - the x86-64 entry format: the parts too large to inline.
 */
#include "core/core.h"

PW_API const char *pw_level_name(int levels, enum pw_level level)
{
	static const char *const names[] = { "pgd", "p4d", "pud", "pmd", "pte" };

	if ((int)level < 0 || (int)level >= PW_MAX_LEVELS)
		return "?";
	return names[pw_depth(levels, level)];
}

PW_API uint64_t pw_entry_rsvd(const struct pw_paging *cfg, enum pw_level level, uint64_t v)
{
	uint64_t rsvd = 0;

	if (!(v & PW_P))
		return 0;
	/* Address bits 51:M. */
	if (cfg->maxphyaddr < 52)
		rsvd |= v & (((1ULL << 52) - 1) & ~((1ULL << cfg->maxphyaddr) - 1));
	if (!cfg->nxe)
		rsvd |= v & PW_NX;
	if (level >= PW_LEVEL_P4D)
		rsvd |= v & PW_PS;
	if (level == PW_LEVEL_PUD && !cfg->pdpe1gb)
		rsvd |= v & PW_PS;
	if (pw_level_can_leaf(level) && (v & PW_PS) && (level != PW_LEVEL_PUD || cfg->pdpe1gb)) {
		/* Bits between the PAT bit (12) and the frame of the large page. */
		uint64_t low = ((1ULL << pw_level_shift(level)) - 1) & ~((1ULL << 13) - 1);

		rsvd |= v & low;
	}
	return rsvd;
}
