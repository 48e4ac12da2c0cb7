// SPDX-License-Identifier: MIT
/*
 * test_hugetlb_kvm.c - hugetlb pages under a real vCPU (pagewalk/kvm.h):
 * 2 MiB hugetlb pages written and read by the vCPUs of two address spaces
 * whose PDPT entries point at one shared PMD table, and 1 GiB hugetlb pages
 * where the vCPU offers them (skipped with the reason where not). Without
 * /dev/kvm every test prints SKIP with the reason.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pagewalk/hugetlb.h>
#include <pagewalk/kvm.h>

#include "mm/mm.h"
#include "tap.h"

#define G (1ULL << 30)
#define M2 (1ULL << 21)

static char why[256];

static uint64_t pmd_table_of(struct pw_mm *mm, uint64_t addr)
{
	struct pw_pt_entry e;
	uint64_t pfn = 0;

	pw_mmap_read_lock(mm);
	if (pw_pt_descend(&mm->pt, addr, PW_LEVEL_PUD, &e, NULL) == PW_PT_TABLE && e.level == PW_LEVEL_PUD)
		pfn = pw_pt_next_pfn(&mm->pt, e.val);
	pw_mmap_read_unlock(mm);
	return pfn;
}

static int run1(struct pw_kvm *kvm, int op, uint64_t addr, uint64_t *value)
{
	struct pw_kvm_access acc = { .op = op, .addr = addr, .value = value ? *value : 0 };
	int ret = pw_kvm_run(kvm, 0, 3, &acc, 1, NULL, 0, NULL);

	if (ret)
		return ret;
	if (acc.status != PW_KVM_DONE)
		return -EFAULT;
	if (value)
		*value = acc.value;
	return 0;
}

TEST(shared_pmd_2m_under_vcpus)
{
	struct pw_kvm_caps caps;
	struct pw_paging cfg;
	struct pw_arena *a;
	struct pw_mm *mm[2];
	struct pw_kvm *kvm[2] = { 0 };
	struct pw_file *f;
	uint64_t free0, v;
	int r = pw_kvm_probe(&caps);

	if (r) {
		snprintf(why, sizeof(why), "KVM unavailable: /dev/kvm: %s", strerror(-r));
		SKIP(why);
		return;
	}
	cfg = (struct pw_paging){ .levels = 4, .maxphyaddr = (uint8_t)caps.maxphyaddr, .nxe = true,
				  .pdpe1gb = false };
	if (pw_arena_create(2 * G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, G, M2, &f))
		abort();
	for (int i = 0; i < 2; i++) {
		if (pw_mm_create(a, &cfg, &mm[i]))
			abort();
		CHECK_EQ(pw_mmap_file(mm[i], (uint64_t)(i + 1) * 4 * G, G, PW_PROT_READ | PW_PROT_WRITE,
				      PW_MAP_SHARED | PW_MAP_FIXED | PW_MAP_HUGETLB, f, 0, NULL), 0);
		r = pw_kvm_create(mm[i], 1, &kvm[i]);
		if (r) {
			snprintf(why, sizeof(why), "KVM unavailable: pw_kvm_create: %s", strerror(-r));
			SKIP(why);
			goto out;
		}
	}
	/* the vCPU of mm0 faults the first page in; mm1's vCPU then shares mm0's table */
	v = 0x1122334455667788ULL;
	CHECK_EQ(run1(kvm[0], PW_KVM_WRITE, 4 * G + M2 + 64, &v), 0);
	v = 0;
	CHECK_EQ(run1(kvm[1], PW_KVM_READ, 8 * G + M2 + 64, &v), 0);
	CHECK_EQ(v, 0x1122334455667788ULL);
	CHECK(pmd_table_of(mm[0], 4 * G) != 0);
	CHECK_EQ(pmd_table_of(mm[1], 8 * G), pmd_table_of(mm[0], 4 * G));
	pw_mmap_read_lock(mm[1]);
	CHECK_EQ(pw_hugetlb_pmd_sharers(mm[1], 8 * G), 2);
	pw_mmap_read_unlock(mm[1]);
	/* a write by mm1's vCPU into a new page lands in the shared table */
	v = 0xfeedULL;
	CHECK_EQ(run1(kvm[1], PW_KVM_WRITE, 8 * G + 7 * M2, &v), 0);
	v = 0;
	CHECK_EQ(run1(kvm[0], PW_KVM_READ, 4 * G + 7 * M2, &v), 0);
	CHECK_EQ(v, 0xfeedULL);
	/* mm1 unshares (munmap of half); its vCPU refaults the rest into its own table */
	CHECK_EQ(pw_munmap(mm[1], 8 * G + G / 2, G / 2), 0);
	v = 0;
	CHECK_EQ(run1(kvm[1], PW_KVM_READ, 8 * G + 7 * M2, &v), 0);
	CHECK_EQ(v, 0xfeedULL);
	CHECK(pmd_table_of(mm[1], 8 * G) != pmd_table_of(mm[0], 4 * G));
out:
	for (int i = 0; i < 2; i++) {
		pw_kvm_destroy(kvm[i]);
		pw_mm_destroy(mm[i]);
	}
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

TEST(hugetlb_1g_under_vcpu)
{
	struct pw_kvm_caps caps;
	struct pw_paging cfg;
	struct pw_arena *a;
	struct pw_mm *mm;
	struct pw_kvm *kvm = NULL;
	struct pw_file *f;
	uint64_t free0, v;
	int r = pw_kvm_probe(&caps);

	if (r) {
		snprintf(why, sizeof(why), "KVM unavailable: /dev/kvm: %s", strerror(-r));
		SKIP(why);
		return;
	}
	if (!caps.pdpe1gb) {
		SKIP("the vCPU does not offer 1 GiB pages (CPUID 0x80000001 EDX bit 26 clear)");
		return;
	}
	cfg = (struct pw_paging){ .levels = 4, .maxphyaddr = (uint8_t)caps.maxphyaddr, .nxe = true,
				  .pdpe1gb = true };
	if (pw_arena_create(3 * G, &a))
		abort();
	free0 = pw_arena_free_frames(a);
	if (pw_hugetlb_file_create(a, G, G, &f) || pw_mm_create(a, &cfg, &mm))
		abort();
	CHECK_EQ(pw_mmap_file(mm, 4 * G, G, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_SHARED | PW_MAP_FIXED, f,
			      0, NULL), 0);
	r = pw_kvm_create(mm, 1, &kvm);
	if (r) {
		snprintf(why, sizeof(why), "the vCPU refuses 1 GiB pages here: pw_kvm_create: %s",
			 strerror(-r));
		SKIP(why);
		goto out;
	}
	v = 0xabcdefULL;
	r = run1(kvm, PW_KVM_WRITE, 4 * G + G / 2 + 8, &v);
	if (r == -EIO || r == -ELOOP) {
		snprintf(why, sizeof(why), "the vCPU cannot run on a 1 GiB leaf here: pw_kvm_run: %s",
			 strerror(-r));
		SKIP(why);
		goto out;
	}
	CHECK_EQ(r, 0);
	CHECK_EQ(pw_file_read(f, G / 2 + 8, &v, 8), 0);
	CHECK_EQ(v, 0xabcdefULL);
out:
	pw_kvm_destroy(kvm);
	pw_mm_destroy(mm);
	CHECK_EQ(pw_file_destroy(f), 0);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(shared_pmd_2m_under_vcpus);
	RUN(hugetlb_1g_under_vcpu);
	return tap_done();
}
