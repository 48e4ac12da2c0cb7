// SPDX-License-Identifier: MIT
/*
 * demo_space.c - the demo address space (`pagewalk demo`, `pagewalk
 * smaps`): a heap, two thread stacks with guard pages, a shared region and
 * a region of 2 MiB leaves, touched through the simulated MMU.
 */
#include <pagewalk/mm.h>

#include "commands.h"

static const uint64_t mib = 1ULL << 20;

int demo_space_build(struct pw_mm *mm, struct demo_space *d)
{
	int ret;

	if ((ret = pw_mmap(mm, 0x555555554000ULL, 1 * mib, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED, &d->heap)) ||
	    (ret = pw_mmap(mm, 0x7ffff0000000ULL, 256 << 10, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED, &d->stack1)) ||
	    (ret = pw_mprotect(mm, d->stack1, 4096, PW_PROT_NONE)) ||
	    (ret = pw_mmap(mm, 0x7fffe0000000ULL, 256 << 10, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED, &d->stack2)) ||
	    (ret = pw_mprotect(mm, d->stack2, 4096, PW_PROT_NONE)) ||
	    (ret = pw_mmap(mm, 0, 512 << 10, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED, &d->shared)) ||
	    (ret = pw_mmap(mm, 0, 8 * mib, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_HUGE_2M, &d->huge)))
		return ret;
	/* the heap's first half written, the stacks' tops written, the shared
	 * region read, one huge page written and one read */
	for (uint64_t a = d->heap; a < d->heap + 512 * 1024; a += 4096)
		if ((ret = pw_access(mm, NULL, a, PW_FAULT_WRITE | PW_FAULT_USER, NULL)))
			return ret;
	for (uint64_t a = d->stack1 + (192 << 10); a < d->stack1 + (256 << 10); a += 4096)
		if ((ret = pw_access(mm, NULL, a, PW_FAULT_WRITE | PW_FAULT_USER, NULL)))
			return ret;
	for (uint64_t a = d->stack2 + (240 << 10); a < d->stack2 + (256 << 10); a += 4096)
		if ((ret = pw_access(mm, NULL, a, PW_FAULT_WRITE | PW_FAULT_USER, NULL)))
			return ret;
	for (uint64_t a = d->shared; a < d->shared + (512 << 10); a += 4096)
		if ((ret = pw_access(mm, NULL, a, PW_FAULT_USER, NULL)))
			return ret;
	if ((ret = pw_access(mm, NULL, d->huge, PW_FAULT_WRITE | PW_FAULT_USER, NULL)))
		return ret;
	return pw_access(mm, NULL, d->huge + 2 * mib, PW_FAULT_USER, NULL);
}
