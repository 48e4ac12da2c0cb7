// SPDX-License-Identifier: MIT
/*
 * Description: the premise of skipping unwritten PTE tables by the
 * accessed bit of their PMD entry (issue 9, item 4c), checked on a real
 * vCPU: the MMU sets A in every paging-structure entry it walks through,
 * and only in those. Four 2 MiB regions, each its own PTE table, all
 * populated; A is cleared in their PMD entries and in the PUD entry above
 * them, the guest's TLB and paging-structure caches flushed; the guest
 * then reads one page of regions 0 and 2 and writes one page of region 3:
 * A must be set again in the PMD entries of 0, 2 and 3 (and in the PUD
 * entry), and still clear in region 1's. D is never set in a table entry.
 *
 * Without /dev/kvm every test prints SKIP with the reason; PW_REQUIRE_KVM=1
 * turns that into a failure.
 */
#include <errno.h>
#include <string.h>

#include <pagewalk/kvm.h>
#include <pagewalk/mm.h>

#include "mm/mm.h"
#include "pt/pt.h"
#include "tap.h"

#define RW (PW_PROT_READ | PW_PROT_WRITE)
#define BASE 0x40000000ULL /* 1 GiB aligned: the four PMD entries share one PUD entry */
#define REG (2ULL << 20)

static char skip_buf[256];

static void kvm_unavailable(const char *what, int err)
{
	const char *s = getenv("PW_REQUIRE_KVM");

	snprintf(skip_buf, sizeof(skip_buf), "KVM unavailable: %s: %s", what, strerror(-err));
	if (s && !strcmp(s, "1")) {
		tap_cur_failed = true;
		printf("# %s (PW_REQUIRE_KVM=1)\n", skip_buf);
	} else {
		SKIP(skip_buf);
	}
}

static uint64_t *entry(struct pw_mm *mm, uint64_t addr, enum pw_level level)
{
	struct pw_pt_entry e;

	pw_mmap_read_lock(mm);
	if (pw_pt_descend(&mm->pt, addr, level, &e, NULL) != PW_PT_TABLE)
		e.ptep = NULL;
	pw_mmap_read_unlock(mm);
	return e.ptep;
}

TEST(mmu_sets_accessed_in_each_table_entry_it_walks)
{
	struct pw_kvm_caps caps;
	struct pw_paging cfg;
	struct pw_arena *arena;
	struct pw_mm *mm;
	struct pw_kvm *kvm;
	struct pw_kvm_access acc[3];
	struct pw_kvm_fault f[4];
	uint64_t *pmd[4], *pud;
	size_t nf = 0;
	int r;

	r = pw_kvm_probe(&caps);
	if (r) {
		kvm_unavailable("/dev/kvm", r);
		return;
	}
	cfg = (struct pw_paging){ .levels = 4, .maxphyaddr = (uint8_t)caps.maxphyaddr, .nxe = caps.nx };
	REQUIRE_EQ(pw_arena_create(64 << 20, &arena), 0);
	REQUIRE_EQ(pw_mm_create(arena, &cfg, &mm), 0);
	r = pw_kvm_create(mm, 1, &kvm);
	if (r) {
		kvm_unavailable("creating the VM", r);
		pw_mm_destroy(mm);
		pw_arena_destroy(arena);
		return;
	}
	REQUIRE_EQ(pw_mmap(mm, BASE, 4 * REG, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL),
		   0);
	for (int i = 0; i < 4; i++) {
		pmd[i] = entry(mm, BASE + i * REG, PW_LEVEL_PMD);
		REQUIRE(pmd[i] != NULL);
	}
	pud = entry(mm, BASE, PW_LEVEL_PUD);
	REQUIRE(pud != NULL);
	/* clear A in the table entries, then flush the guest's TLB and paging-structure caches */
	for (int i = 0; i < 4; i++)
		__atomic_fetch_and(pmd[i], ~(uint64_t)PW_A, __ATOMIC_SEQ_CST);
	__atomic_fetch_and(pud, ~(uint64_t)PW_A, __ATOMIC_SEQ_CST);
	CHECK_EQ(pw_kvm_flush(kvm, 0, 0), 0);
	acc[0] = (struct pw_kvm_access){ .op = PW_KVM_READ, .addr = BASE + 5 * 4096 };
	acc[1] = (struct pw_kvm_access){ .op = PW_KVM_READ, .addr = BASE + 2 * REG + 17 * 4096 };
	acc[2] = (struct pw_kvm_access){ .op = PW_KVM_WRITE, .addr = BASE + 3 * REG + 8, .value = 7 };
	CHECK_EQ(pw_kvm_run(kvm, 0, 3, acc, 3, f, 4, &nf), 0);
	CHECK_EQ(nf, 0); /* every page was present and writable: no fault, a pure hardware walk */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(acc[i].status, PW_KVM_DONE);
	CHECK(__atomic_load_n(pmd[0], __ATOMIC_RELAXED) & PW_A);
	CHECK(!(__atomic_load_n(pmd[1], __ATOMIC_RELAXED) & PW_A)); /* not walked */
	CHECK(__atomic_load_n(pmd[2], __ATOMIC_RELAXED) & PW_A);
	CHECK(__atomic_load_n(pmd[3], __ATOMIC_RELAXED) & PW_A);
	CHECK(__atomic_load_n(pud, __ATOMIC_RELAXED) & PW_A);
	for (int i = 0; i < 4; i++)
		CHECK(!(__atomic_load_n(pmd[i], __ATOMIC_RELAXED) & PW_D)); /* D only in leaves */
	tap_diag("PMD entries after the guest's accesses: %#llx %#llx %#llx %#llx",
		 (unsigned long long)*pmd[0], (unsigned long long)*pmd[1],
		 (unsigned long long)*pmd[2], (unsigned long long)*pmd[3]);
	pw_kvm_destroy(kvm);
	pw_mm_destroy(mm);
	pw_arena_destroy(arena);
}

int main(void)
{
	tap_start();
	RUN(mmu_sets_accessed_in_each_table_entry_it_walks);
	return tap_done();
}
