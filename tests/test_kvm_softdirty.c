// SPDX-License-Identifier: MIT
/*
 * Description: soft-dirty through a real vCPU (KVM) on pagewalk's tables.
 * Guest writes set the soft-dirty bit (pagemap bit 55) through the fault
 * they take; pw_clear_refs(PW_CLEAR_REFS_SOFT_DIRTY) clears it (and
 * VM_SOFTDIRTY) and write-protects, so that the guest's next write to a
 * page faults exactly once (a present, write #PF that the host resolves)
 * and sets the bit again, its later writes do not fault, and guest reads
 * neither fault nor set it: for 4 KiB private pages, shared anonymous
 * pages and a 2 MiB leaf, mixed with writes through pw_access(). The
 * guest's TLB is flushed by clear_refs through the MMU notifier: a stale
 * writable translation would let a write through without its fault.
 *
 * Without /dev/kvm (or when a VM cannot be created) every test prints SKIP
 * with the reason; PW_REQUIRE_KVM=1 turns those skips into failures.
 */
#include <errno.h>
#include <string.h>

#include <pagewalk/kvm.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagemap.h>

#include "tap.h"

#define RW (PW_PROT_READ | PW_PROT_WRITE)
#define SMALL 0x10000000ULL
#define SHARED 0x20000000ULL
#define HUGE 0x40000000ULL
#define NP 64

static char skip_buf[256];

static bool require_kvm(void)
{
	const char *s = getenv("PW_REQUIRE_KVM");

	return s && !strcmp(s, "1");
}

static void kvm_unavailable(const char *what, int err)
{
	snprintf(skip_buf, sizeof(skip_buf), "KVM unavailable: %s: %s", what, strerror(-err));
	if (require_kvm()) {
		tap_cur_failed = true;
		printf("# %s (PW_REQUIRE_KVM=1)\n", skip_buf);
	} else {
		SKIP(skip_buf);
	}
}

static uint64_t pme(struct pw_mm *mm, uint64_t a)
{
	uint64_t v = 0;

	CHECK_EQ(pw_pagemap_read(mm, a, 1, &v), 1);
	return v;
}

/* Run @n guest accesses (all DONE); return the faults, each checked: #PF resolved. */
static size_t guest(struct pw_kvm *kvm, struct pw_kvm_access *acc, size_t n, bool want_write_pf)
{
	struct pw_kvm_fault f[2 * NP];
	size_t nf = 0;

	CHECK_EQ(pw_kvm_run(kvm, 0, 3, acc, n, f, 2 * NP, &nf), 0);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(acc[i].status, PW_KVM_DONE);
	for (size_t i = 0; i < nf && i < 2 * NP; i++) {
		CHECK_EQ(f[i].vector, 14);
		CHECK_EQ(f[i].result, 0);
		if (want_write_pf) /* a write to a present, write-protected page */
			CHECK_EQ(f[i].error_code & (PW_PF_P | PW_PF_W), PW_PF_P | PW_PF_W);
	}
	return nf;
}

static int clear_soft_dirty(struct pw_mm *mm)
{
	return pw_clear_refs(mm, PW_CLEAR_REFS_SOFT_DIRTY);
}

static void set(struct pw_kvm_access *a, uint32_t op, uint64_t addr, uint64_t v)
{
	*a = (struct pw_kvm_access){ .op = op, .addr = addr, .value = v };
}

TEST(guest_writes_set_soft_dirty_and_clear_refs_rearms)
{
	struct pw_kvm_caps caps;
	struct pw_paging cfg;
	struct pw_arena *arena;
	struct pw_mm *mm;
	struct pw_kvm *kvm;
	struct pw_kvm_access acc[2 * NP];
	uint64_t free0;
	bool written[NP];
	size_t n;
	int r;

	r = pw_kvm_probe(&caps);
	if (r) {
		kvm_unavailable("/dev/kvm", r);
		return;
	}
	cfg = (struct pw_paging){ .levels = 4, .maxphyaddr = (uint8_t)caps.maxphyaddr, .nxe = caps.nx };
	REQUIRE_EQ(pw_arena_create(64 << 20, &arena), 0);
	free0 = pw_arena_free_frames(arena);
	REQUIRE_EQ(pw_mm_create(arena, &cfg, &mm), 0);
	r = pw_kvm_create(mm, 1, &kvm);
	if (r) {
		kvm_unavailable("creating the VM", r);
		pw_mm_destroy(mm);
		pw_arena_destroy(arena);
		return;
	}
	REQUIRE_EQ(pw_mmap(mm, SMALL, NP << 12, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	REQUIRE_EQ(pw_mmap(mm, SHARED, 8 << 12, RW, PW_MAP_SHARED | PW_MAP_FIXED, NULL), 0);
	REQUIRE_EQ(pw_mmap(mm, HUGE, 2 << 20, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_2M, NULL), 0);

	/* 1. First touch by the guest: writes to every other page, reads of the rest. */
	for (int i = 0; i < NP; i++)
		set(&acc[i], i % 2 ? PW_KVM_READ : PW_KVM_WRITE, SMALL + ((uint64_t)i << 12), (uint64_t)i);
	set(&acc[NP], PW_KVM_READ, SHARED, 0);
	set(&acc[NP + 1], PW_KVM_WRITE, HUGE + 8, 1);
	n = guest(kvm, acc, NP + 2, false);
	CHECK_EQ(n, NP + 2); /* one fault per page */
	for (int i = 0; i < NP; i += 2)
		CHECK(pme(mm, SMALL + ((uint64_t)i << 12)) & PW_PM_SOFT_DIRTY);
	CHECK(pme(mm, HUGE + (100 << 12)) & PW_PM_SOFT_DIRTY);

	/* 2. clear_refs: nothing soft-dirty, not even unpopulated pages (VM_SOFTDIRTY gone). */
	CHECK_EQ(clear_soft_dirty(mm), 0);
	for (int i = 0; i < NP; i++)
		CHECK_EQ(pme(mm, SMALL + ((uint64_t)i << 12)) & PW_PM_SOFT_DIRTY, 0);
	CHECK_EQ(pme(mm, SHARED) & PW_PM_SOFT_DIRTY, 0);
	CHECK_EQ(pme(mm, SHARED + 4096) & PW_PM_SOFT_DIRTY, 0);
	CHECK_EQ(pme(mm, HUGE) & PW_PM_SOFT_DIRTY, 0);

	/* 3. Random guest writes: each page's first write faults once, later ones not. */
	for (int round = 0; round < 4; round++) {
		size_t nacc = 0, distinct = 0;

		memset(written, 0, sizeof(written));
		for (int k = 0; k < NP / 2; k++) {
			int i = (int)(tap_rand() % NP);

			set(&acc[nacc++], PW_KVM_WRITE, SMALL + ((uint64_t)i << 12) + 8 * (tap_rand() % 512),
			    tap_rand());
			distinct += !written[i];
			written[i] = true;
		}
		/* reads of pages not written this round: no fault, no soft-dirty */
		for (int i = 0; i < NP; i++)
			if (!written[i])
				set(&acc[nacc++], PW_KVM_READ, SMALL + ((uint64_t)i << 12), 0);
		n = guest(kvm, acc, nacc, true);
		CHECK_EQ(n, distinct);
		for (int i = 0; i < NP; i++) {
			bool sd = pme(mm, SMALL + ((uint64_t)i << 12)) & PW_PM_SOFT_DIRTY;

			CHECK_EQ(sd, written[i]);
		}
		/* the same writes again: no fault at all */
		for (size_t k = 0; k < nacc; k++)
			acc[k].status = PW_KVM_PENDING;
		CHECK_EQ(guest(kvm, acc, nacc, true), 0);
		CHECK_EQ(clear_soft_dirty(mm), 0);
	}

	/* 4. Shared memory, a huge leaf, and pw_access() writes mixed with the guest's. */
	set(&acc[0], PW_KVM_WRITE, SHARED, 5);      /* read-faulted in step 1: write-protected */
	set(&acc[1], PW_KVM_WRITE, HUGE + (7 << 12), 6);
	set(&acc[2], PW_KVM_WRITE, HUGE + (300 << 12), 7); /* the same leaf: no second fault */
	CHECK_EQ(guest(kvm, acc, 3, true), 2);
	CHECK(pme(mm, SHARED) & PW_PM_SOFT_DIRTY);
	CHECK_EQ(pme(mm, SHARED + 4096) & PW_PM_SOFT_DIRTY, 0);
	CHECK(pme(mm, HUGE) & PW_PM_SOFT_DIRTY); /* all 512 pages of the leaf */
	CHECK(pme(mm, HUGE + (511 << 12)) & PW_PM_SOFT_DIRTY);
	CHECK(pme(mm, HUGE) & PW_PM_PRESENT);
	{
		struct pw_access_result ar;

		CHECK_EQ(pw_access(mm, NULL, SMALL + (3 << 12), PW_FAULT_WRITE | PW_FAULT_USER, &ar), 0);
		CHECK_EQ(ar.nr_faults, 1);
		/* the page pw_access() made writable: the guest writes it without a fault */
		set(&acc[0], PW_KVM_WRITE, SMALL + (3 << 12) + 16, 8);
		set(&acc[1], PW_KVM_WRITE, SMALL + (4 << 12), 9);
		CHECK_EQ(guest(kvm, acc, 2, true), 1);
		CHECK(pme(mm, SMALL + (3 << 12)) & PW_PM_SOFT_DIRTY);
		CHECK(pme(mm, SMALL + (4 << 12)) & PW_PM_SOFT_DIRTY);
		CHECK_EQ(pme(mm, SMALL + (5 << 12)) & PW_PM_SOFT_DIRTY, 0);
	}
	/* the guest's data is where the tables say */
	set(&acc[0], PW_KVM_READ, SMALL + (3 << 12) + 16, 0);
	set(&acc[1], PW_KVM_READ, HUGE + (300 << 12), 0);
	CHECK_EQ(guest(kvm, acc, 2, false), 0);
	CHECK_EQ(acc[0].value, 8);
	CHECK_EQ(acc[1].value, 7);

	pw_kvm_destroy(kvm);
	pw_mm_destroy(mm);
	CHECK_EQ(pw_arena_free_frames(arena), free0);
	pw_arena_destroy(arena);
}

int main(void)
{
	tap_start();
	tap_seed("test_kvm_softdirty");
	RUN(guest_writes_set_soft_dirty_and_clear_refs_rearms);
	return tap_done();
}
